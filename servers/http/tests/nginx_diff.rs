//! Differential test: the same raw requests to nginx (Debian's, the behavioural oracle) and to
//! fs-httpd serving the same document root with equivalent configurations. Compares status,
//! the headers clients depend on, and a hash of the body (`common::nginx::summary`).
//! Three sets: hand-written cases for every feature, the edge cases of issue 11, and a
//! generated matrix (methods x versions x targets x headers x bodies). Skips (saying so)
//! without nginx.

mod common;

#[path = "nginx_diff/matrix.rs"]
mod matrix;

use std::net::SocketAddr;

use common::nginx::{start_nginx, summary, FS_CONFIG};
use common::{exchange_pipeline, have, Server, Site};

/// Requests where fs-httpd deliberately differs from nginx (RFC or issue 11 over the oracle),
/// found by a needle in the request, with the reason.
const DEVIATIONS: &[(&str, &str)] = &[
    ("GET /\r\n", "HTTP/0.9 is refused (400); nginx answers it"),
    (
        "3\nabc",
        "a bare LF in a chunk line is a framing error (RFC 9112 §7.1); nginx accepts it",
    ),
    (
        "X-Case: truncated-chunked",
        "a chunked body is read whole before the answer (issue 11: never a 200 before the \
         framing is known good); nginx answers first and reads the rest later",
    ),
    (
        "Transfer-Encoding: chunked, gzip",
        "chunked not last is 400 and close (RFC 9112 §6.3 MUST); nginx answers 501 and closes",
    ),
    (
        "X-Case: oversized-chunked",
        "a chunked body past client_max_body_size is 413 and close (bounded work per request); \
         nginx discards any amount for a static file",
    ),
];

/// The first hand-written cases: every feature once.
fn requests() -> Vec<String> {
    let mut r: Vec<String> = [
        "GET / HTTP/1.1",
        "HEAD / HTTP/1.1",
        "GET /hello.txt HTTP/1.1",
        "HEAD /hello.txt HTTP/1.1",
        "GET /index.html HTTP/1.1",
        "GET /dir HTTP/1.1",
        "GET /dir?a=b HTTP/1.1",
        "GET /dir/ HTTP/1.1",
        "GET /noindex/ HTTP/1.1",
        "GET /missing HTTP/1.1",
        "GET /600 HTTP/1.1",
        "HEAD /600 HTTP/1.1",
        "GET /redirect HTTP/1.1",
        "GET /external HTTP/1.1",
        "GET /gone HTTP/1.1",
        "GET /vars HTTP/1.1",
        "GET /vars/a%20b?x=1&y HTTP/1.1",
        "HEAD /vars? HTTP/1.1",
        "GET /https/p?q=1 HTTP/1.1",
        "GET /try/nope HTTP/1.1",
        "GET /try404/nope HTTP/1.1",
        "GET /static/app.js HTTP/1.1",
        "GET /x.js HTTP/1.1",
        "GET /dir/sub/a.css HTTP/1.1",
        "GET /dir/sub/A.CSS HTTP/1.1",
        "GET /alias/x.txt HTTP/1.1",
        "GET /errpage/missing HTTP/1.1",
        "GET /list/ HTTP/1.1",
        "HEAD /list/ HTTP/1.1",
        "GET /list/ HTTP/1.0",
        "GET //hello.txt HTTP/1.1",
        "GET /dir/../hello.txt HTTP/1.1",
        "GET /%68ello.txt HTTP/1.1",
        "GET /hello.txt?x=1 HTTP/1.1",
        "GET /hello.txt#frag HTTP/1.1",
        "GET /../etc/passwd HTTP/1.1",
        "GET /%2e%2e/etc/passwd HTTP/1.1",
        "GET /a%00b HTTP/1.1",
        "GET /hello.txt/ HTTP/1.1",
        "POST /hello.txt HTTP/1.1",
        "PUT /hello.txt HTTP/1.1",
        "DELETE /hello.txt HTTP/1.1",
        "OPTIONS /hello.txt HTTP/1.1",
        "FOO /hello.txt HTTP/1.1",
        "POST /600 HTTP/1.1",
        "GET /hello.txt HTTP/1.0",
        "GET /hello.txt HTTP/1.7",
        "GET /hello.txt HTTP/2.0",
        "GET http://localhost/hello.txt HTTP/1.1",
    ]
    .iter()
    .map(|line| format!("{line}\r\nHost: localhost\r\nConnection: close\r\n\r\n"))
    .collect();
    let with = |path: &str, header: &str| {
        format!("GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n{header}\r\n\r\n")
    };
    for h in [
        "Range: bytes=0-3",
        "Range: bytes=-5",
        "Range: bytes=15-",
        "Range: bytes=18-100",
        "Range: bytes=100-200",
        "Range: bytes=5-2",
        "Range: items=0-3",
        "Range: bytes=0-1,5-6",
        "Range: bytes=0-1,1-2,10-",
        "Range: bytes=abc",
        "Range: bytes=0-1\r\nIf-Range: \"6553f100-14\"",
        "Range: bytes=0-1\r\nIf-Range: \"stale\"",
        "Range: bytes=0-1\r\nIf-Range: Tue, 14 Nov 2023 22:13:20 GMT",
        "If-None-Match: \"6553f100-14\"",
        "If-None-Match: *",
        "If-None-Match: W/\"6553f100-14\"",
        "If-None-Match: \"x\"",
        "If-Modified-Since: Tue, 14 Nov 2023 22:13:20 GMT",
        "If-Modified-Since: Wed, 15 Nov 2023 22:13:20 GMT",
        "If-Modified-Since: garbage",
        "If-Match: \"x\"",
        "If-Match: \"6553f100-14\"",
        "If-Match: *",
        "If-Unmodified-Since: Mon, 13 Nov 2023 22:13:20 GMT",
        "If-Unmodified-Since: Tue, 14 Nov 2023 22:13:20 GMT",
        "If-None-Match: \"x\"\r\nIf-Modified-Since: Tue, 14 Nov 2023 22:13:20 GMT",
    ] {
        r.push(with("/digits.txt", h));
    }
    r.push(with("/gz/page.html", "Accept-Encoding: gzip"));
    r.push(with("/gz/page.html", "Accept-Encoding: gzip;q=0"));
    r.push(with("/gz/page.html", ""));
    r.push(with(
        "/gz/page.html",
        "Accept-Encoding: gzip\r\nRange: bytes=0-3",
    ));
    for raw in [
        "GET / HTTP/1.1\r\n\r\n",
        "GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n",
        "GET / HTTP/1.1\r\nHost: a/b\r\n\r\n",
        "POST /600 HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
        "POST /600 HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip\r\n\r\n",
        "POST /600 HTTP/1.1\r\nHost: a\r\nContent-Length: +3\r\n\r\nabc",
        "POST /600 HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabc",
        "POST /600 HTTP/1.1\r\nHost: a\r\nContent-Length: 5000\r\n\r\n",
        "POST /600 HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n",
        "POST /600 HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n3\nabc\r\n0\r\n\r\n",
        "get / HTTP/1.1\r\nHost: a\r\n\r\n",
        "GET /\r\n",
        "\r\n\r\nGET /hello.txt HTTP/1.1\r\nHost: a\r\n\r\n",
        "GET /hello.txt HTTP/1.1\nHost: a\n\n",
    ] {
        r.push(raw.to_string());
    }
    r.push(format!(
        "GET /{} HTTP/1.1\r\nHost: a\r\n\r\n",
        "a".repeat(10_000)
    ));
    r.push(format!(
        "GET / HTTP/1.1\r\nHost: a\r\nX-Big: {}\r\n\r\n",
        "a".repeat(10_000)
    ));
    r
}

/// The edge cases issue 11 lists, each measured against nginx 1.22.
fn issue_cases() -> Vec<String> {
    let close = "Host: localhost\r\nConnection: close\r\n";
    let mut r = Vec::new();
    // Range on HEAD: nginx answers 206 with the range's headers (and no body), also in a
    // pipeline behind other requests.
    for range in [
        "bytes=0-3",
        "bytes=-5",
        "bytes=0-1,5-6",
        "bytes=100-",
        "bytes=5-2",
    ] {
        r.push(format!(
            "HEAD /digits.txt HTTP/1.1\r\n{close}Range: {range}\r\n\r\n"
        ));
    }
    r.push(
        "HEAD /digits.txt HTTP/1.1\r\nHost: a\r\nRange: bytes=0-3\r\n\r\n\
         GET /digits.txt HTTP/1.1\r\nHost: a\r\nRange: bytes=1-2\r\n\r\n\
         HEAD /digits.txt HTTP/1.1\r\nHost: a\r\nRange: bytes=0-1,4-5\r\n\r\n\
         HEAD /big.bin HTTP/1.1\r\nHost: a\r\nRange: bytes=-10\r\n\r\n\
         GET /hello.txt HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n"
            .to_string(),
    );
    // Range on an empty file (nginx sends it whole: its `start == 0` rule) and a 1-byte file.
    for range in [
        "bytes=0-0",
        "bytes=-1",
        "bytes=0-",
        "bytes=1-2",
        "bytes=0-0,0-0",
    ] {
        r.push(format!(
            "GET /empty.txt HTTP/1.1\r\n{close}Range: {range}\r\n\r\n"
        ));
        r.push(format!(
            "GET /one.txt HTTP/1.1\r\n{close}Range: {range}\r\n\r\n"
        ));
    }
    // gzip_static for HTTP/1.0 (gzip_http_version 1.1: the plain file) and through a proxy.
    for (version, extra) in [
        ("HTTP/1.0", ""),
        (
            "HTTP/1.0",
            "Connection: keep-alive\r\nConnection: close\r\n",
        ),
        ("HTTP/1.1", "Via: 1.1 proxy\r\n"),
        ("HTTP/1.1", "Accept-Encoding: deflate\r\n"),
    ] {
        r.push(format!(
            "GET /gz/page.html {version}\r\nHost: localhost\r\nConnection: close\r\nAccept-Encoding: gzip\r\n{extra}\r\n"
        ));
    }
    // Other HTTP/1.x minor versions and request-line spacing.
    for line in [
        "GET /hello.txt HTTP/1.2",
        "GET /hello.txt HTTP/1.32",
        "GET /hello.txt HTTP/1.01",
        "GET /hello.txt HTTP/1.100",
        "GET /hello.txt HTTP/1.1000",
        "GET /hello.txt HTTP/01.1",
        "GET /hello.txt HTTP/10.1",
        "GET  /hello.txt  HTTP/1.1",
        "GET /hello.txt HTTP/1.1 ",
        "GET /hello .txt HTTP/1.1",
        "GET /hello\t.txt HTTP/1.1",
        "HEAD http://localhost HTTP/1.1",
        "GET http://localhost?x=1 HTTP/1.1",
        "GET HTTP://LOCALHOST/hello.txt HTTP/1.1",
        "GET http://a..b/ HTTP/1.1",
    ] {
        r.push(format!("{line}\r\n{close}\r\n"));
    }
    // Malformed chunked bodies on several methods: 400 (or the request's own error) and close.
    for method in [
        "GET /600",
        "POST /600",
        "GET /hello.txt",
        "POST /hello.txt",
        "PUT /nope",
        "HEAD /hello.txt",
    ] {
        for body in [
            "zz\r\n",
            "3\r\nabcX\r\n0\r\n\r\n",
            "ffffffffffffffffff\r\n",
            "3\r\nabc\r\n0\r\nX\rY\r\n\r\n",
            "3\r\nabc\r\n0\r\n\r\r\n",
        ] {
            r.push(format!(
                "{method} HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\n\r\n{body}"
            ));
        }
        r.push(format!(
            "{method} HTTP/1.1\r\nHost: localhost\r\nX-Case: truncated-chunked\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nab"
        ));
    }
    r.push(format!(
        "POST /600 HTTP/1.1\r\nHost: localhost\r\nX-Case: oversized-chunked\r\nTransfer-Encoding: chunked\r\n\r\n800\r\n{}\r\n0\r\n\r\n",
        "x".repeat(2048)
    ));
    // Multi-range limits: max_ranges, ranges together larger than the file, a tiny file.
    let many = vec!["0-0"; 500].join(",");
    for (path, range) in [
        ("/r1/digits.txt", "bytes=0-1,3-4"),
        ("/r1/digits.txt", "bytes=0-1"),
        ("/digits.txt", "bytes=0-15,0-15"),
        ("/digits.txt", "bytes=0-9,10-19"),
        ("/digits.txt", "bytes=0-9,10-19,0-0"),
        ("/one.txt", many.as_str()),
        ("/digits.txt", "bytes=0-1,,3-4"),
        ("/digits.txt", "bytes=99999999999999999999-"),
    ] {
        let range = if range.starts_with("bytes") {
            range.to_string()
        } else {
            format!("bytes={range}")
        };
        r.push(format!(
            "GET {path} HTTP/1.1\r\n{close}Range: {range}\r\n\r\n"
        ));
    }
    r
}

/// Which responses of a pipeline answer HEAD requests (request lines after a blank line).
fn head_flags(raw: &str) -> Vec<bool> {
    let mut flags = vec![raw.trim_start().starts_with("HEAD ")];
    flags.extend(raw.match_indices("\r\n\r\n").filter_map(|(i, _)| {
        let next = &raw[i + 4..];
        let method = next.split(' ').next()?;
        (!method.is_empty() && method.bytes().all(|b| b.is_ascii_uppercase()))
            .then(|| method == "HEAD")
    }));
    flags
}

/// Sends every case to both servers (several at a time) and tallies the comparison.
fn compare(cases: &[String], fs: SocketAddr, ng: SocketAddr) -> (usize, usize, usize) {
    let results: Vec<(bool, Option<&str>, String)> = std::thread::scope(|scope| {
        let chunks: Vec<_> = cases
            .chunks(cases.len().div_ceil(8).max(1))
            .map(|chunk| {
                scope.spawn(move || {
                    chunk
                        .iter()
                        .map(|raw| {
                            let heads = head_flags(raw);
                            let (ours, _) = exchange_pipeline(fs, raw.as_bytes(), &heads, false);
                            let (theirs, _) = exchange_pipeline(ng, raw.as_bytes(), &heads, false);
                            let a: Vec<String> =
                                ours.iter().map(|r| summary(r, fs.port())).collect();
                            let b: Vec<String> =
                                theirs.iter().map(|r| summary(r, ng.port())).collect();
                            let why = DEVIATIONS
                                .iter()
                                .find(|(needle, _)| raw.contains(needle))
                                .map(|(_, why)| *why);
                            let shown = raw.chars().take(160).collect::<String>();
                            let report = format!(
                                "{shown:?}\n--- fs-httpd\n{}\n--- nginx\n{}\n",
                                a.join("\n~~\n"),
                                b.join("\n~~\n")
                            );
                            (a == b, why, report)
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        chunks.into_iter().flat_map(|h| h.join().unwrap()).collect()
    });
    let (mut passed, mut failed, mut deviations) = (0, 0, 0);
    for (same, why, report) in results {
        match (same, why) {
            (true, _) => passed += 1,
            (false, Some(why)) => {
                deviations += 1;
                eprintln!("deliberate deviation ({why}) for {report}");
            }
            (false, None) => {
                failed += 1;
                eprintln!("MISMATCH for {report}");
            }
        }
    }
    (passed, failed, deviations)
}

fn with_servers(name: &str, run: impl FnOnce(SocketAddr, SocketAddr)) {
    if !have("nginx") {
        eprintln!("skipped: nginx is not installed (CI installs nginx-light); 0 passed, 0 failed");
        return;
    }
    let site = Site::new(name);
    let fs = Server::start(&site, FS_CONFIG);
    let (_nginx, ng_addr) = start_nginx(&site);
    run(fs.addr, ng_addr);
}

#[test]
fn same_answers_as_nginx() {
    with_servers("diff", |fs, ng| {
        let mut cases = requests();
        cases.extend(issue_cases());
        let (passed, failed, deviations) = compare(&cases, fs, ng);
        println!(
            "nginx differential: {passed} passed, {failed} failed, {deviations} deliberate deviations"
        );
        assert_eq!(failed, 0, "responses differ from nginx");
    });
}

#[test]
fn generated_cases_match_nginx() {
    with_servers("matrix", |fs, ng| {
        let cases = matrix::cases();
        assert!(cases.len() >= 300, "{} cases", cases.len());
        let (passed, failed, deviations) = compare(&cases, fs, ng);
        println!(
            "nginx differential, generated: {passed} passed, {failed} failed, {deviations} deliberate deviations"
        );
        assert_eq!(failed, 0, "responses differ from nginx");
    });
}
