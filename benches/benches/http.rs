//! fs-httpd's request path without the network: head parsing, and whole request -> response
//! for the benchmark URLs (`return 200` with 600 bytes, a cached 4 KiB file).

use std::time::{Duration, Instant, SystemTime};

use bytes::Bytes;
use criterion::{black_box, criterion_group, criterion_main, Criterion, Throughput};
use fs_httpd::config;
use fs_httpd::handler::{self, Handler, Origin, Request};
use fs_httpd::request::{self, Limits};

const LIMITS: Limits = Limits {
    line: 8192,
    total: 32768,
};
const WRK: &[u8] = b"GET /600 HTTP/1.1\r\nHost: 127.0.0.1:8080\r\n\r\n";
const BROWSER: &[u8] = b"GET /static/app.js?v=3 HTTP/1.1\r\nHost: www.example.com\r\nUser-Agent: Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Safari/537.36\r\nAccept: */*\r\nAccept-Language: en-US,en;q=0.9\r\nAccept-Encoding: gzip, deflate, br\r\nReferer: https://www.example.com/\r\nConnection: keep-alive\r\nIf-None-Match: \"65937d25-c\"\r\nIf-Modified-Since: Tue, 14 Nov 2023 22:13:20 GMT\r\nCookie: session=abcdef0123456789; theme=dark\r\n\r\n";

fn parse(c: &mut Criterion) {
    let mut g = c.benchmark_group("parse");
    for (name, raw) in [("wrk", WRK), ("browser", BROWSER)] {
        let buf = Bytes::from_static(raw);
        g.throughput(Throughput::Bytes(raw.len() as u64));
        g.bench_function(name, |b| {
            b.iter(|| request::parse(black_box(&buf), LIMITS).unwrap())
        });
    }
    g.finish();
}

fn respond(c: &mut Criterion) {
    let dir = std::env::temp_dir().join(format!("fs-bench-http-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("file4k.bin"), vec![7u8; 4096]).unwrap();
    let toml = format!(
        "[[server]]\nlisten = [\"127.0.0.1:0\"]\nroot = \"{}\"\n[[server.location]]\nmatch = \"= /600\"\nreturn = \"200 {}\"\n",
        dir.display(),
        "x".repeat(600)
    );
    std::fs::write(dir.join("bench.toml"), toml).unwrap();
    let cfg = config::load(&dir.join("bench.toml")).unwrap();
    let mut handler = Handler::default();
    let origin = Origin {
        local: "127.0.0.1:8080".parse().unwrap(),
        peer: "127.0.0.1:40000".parse().unwrap(),
    };
    let mut g = c.benchmark_group("respond");
    for (name, raw) in [
        (
            "return_600",
            &b"GET /600 HTTP/1.1\r\nHost: localhost\r\n\r\n"[..],
        ),
        (
            "file_4k",
            &b"GET /file4k.bin HTTP/1.1\r\nHost: localhost\r\n\r\n"[..],
        ),
    ] {
        let buf = Bytes::copy_from_slice(raw);
        g.bench_function(name, |b| {
            b.iter(|| {
                // What the service does per request once bytes have arrived.
                let (head, _) = request::parse(&buf, LIMITS).unwrap();
                let host = handler::request_host(&head);
                let server = handler::select_server(&cfg, 0, &host);
                let mut req = Request::new(
                    &cfg,
                    server,
                    &head,
                    host,
                    origin,
                    Instant::now(),
                    SystemTime::now(),
                );
                let target = head.target();
                black_box(handler.handle(&mut req, &target))
            })
        });
    }
    g.finish();
    let _ = std::fs::remove_dir_all(&dir);
}

criterion_group! {
    name = benches;
    config = Criterion::default().measurement_time(Duration::from_secs(3)).warm_up_time(Duration::from_secs(1));
    targets = parse, respond
}
criterion_main!(benches);
