//! Differential test: the same raw requests to nginx (Debian's, the behavioural oracle) and to
//! fs-httpd serving the same document root with equivalent configurations. Compares status,
//! the headers clients depend on, and a hash of the body. Skips (saying so) without nginx.

mod common;

use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{exchange, have, Response, Server, Site};
use sha2::{Digest, Sha256};

const COMPARED: &[&str] = &[
    "Content-Length",
    "Content-Type",
    "ETag",
    "Last-Modified",
    "Content-Range",
    "Location",
    "Accept-Ranges",
    "Content-Encoding",
    "Vary",
    "Transfer-Encoding",
    "Expires",
    "Cache-Control",
];

/// Requests where fs-httpd deliberately differs from nginx (RFC over oracle), with the reason.
const DEVIATIONS: &[(&str, &str)] = &[
    ("GET /\r\n", "HTTP/0.9 is refused (400); nginx answers it"),
    (
        "3\nabc",
        "a bare LF in a chunk line is a framing error (RFC 9112 §7.1); nginx accepts it",
    ),
];

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

const FS_CONFIG: &str = r#"
[runtime]
workers = 1
[http]
access_log = "off"
error_log = "{dir}/fs-error.log"
mime_types = "/etc/nginx/mime.types"
server_tokens = false
client_max_body_size = "1k"

[[server]]
listen = ["127.0.0.1:0"]
server_name = ["localhost"]
root = "{root}"
error_page = ["404 /404.html"]

[[server.location]]
match = "= /600"
return = "200 six hundred"
[[server.location]]
match = "^~ /static/"
expires = "1h"
[[server.location]]
match = "~ \\.js$"
return = "200 regex-js"
[[server.location]]
match = "~* \\.CSS$"
[[server.location]]
match = "/alias/"
alias = "{dir}/alias-target/"
[[server.location]]
match = "/try/"
try_files = ["$uri", "/hello.txt"]
[[server.location]]
match = "/try404/"
try_files = ["$uri", "=404"]
[[server.location]]
match = "/gz/"
alias = "{root}/"
gzip_static = true
gzip_vary = true
[[server.location]]
match = "/redirect"
return = "301 /hello.txt"
[[server.location]]
match = "/external"
return = "https://example.org/x"
[[server.location]]
match = "/gone"
return = "410"
[[server.location]]
match = "/vars"
return = "200 $request_method $uri|$args|$is_args|$request_uri|$host|$scheme"
[[server.location]]
match = "/https"
return = "301 https://$host$request_uri"
[[server.location]]
match = "/list/"
alias = "{root}/dir/"
autoindex = true
[[server.location]]
match = "/errpage/"
error_page = ["404 =200 /hello.txt"]
"#;

const NGINX_CONFIG: &str = r#"
user root;
daemon off;
master_process off;
worker_processes 1;
error_log {dir}/nginx-error.log;
pid {dir}/nginx.pid;
events { worker_connections 256; }
http {
    include /etc/nginx/mime.types;
    default_type text/plain;
    access_log off;
    server_tokens off;
    client_max_body_size 1k;
    server {
        listen 127.0.0.1:{port};
        server_name localhost;
        root {root};
        error_page 404 /404.html;
        location = /600 { return 200 "six hundred"; }
        location ^~ /static/ { expires 1h; }
        location ~ \.js$ { return 200 "regex-js"; }
        location ~* \.CSS$ { }
        location /alias/ { alias {dir}/alias-target/; }
        location /try/ { try_files $uri /hello.txt; }
        location /try404/ { try_files $uri =404; }
        location /gz/ { alias {root}/; gzip_static on; gzip_vary on; }
        location /redirect { return 301 /hello.txt; }
        location /external { return https://example.org/x; }
        location /gone { return 410; }
        location /vars { return 200 "$request_method $uri|$args|$is_args|$request_uri|$host|$scheme"; }
        location /https { return 301 https://$host$request_uri; }
        location /list/ { alias {root}/dir/; autoindex on; }
        location /errpage/ { error_page 404 =200 /hello.txt; }
    }
}
"#;

struct Nginx(Child);

impl Drop for Nginx {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn start_nginx(site: &Site) -> (Nginx, std::net::SocketAddr) {
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let conf = NGINX_CONFIG
        .replace("{root}", &site.path("root").display().to_string())
        .replace("{dir}", &site.dir.display().to_string())
        .replace("{port}", &port.to_string());
    let path = site.path("nginx.conf");
    std::fs::write(&path, conf).unwrap();
    let child = Command::new("nginx")
        .arg("-c")
        .arg(&path)
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let addr: std::net::SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while std::net::TcpStream::connect(addr).is_err() {
        assert!(
            Instant::now() < deadline,
            "nginx did not start: {}",
            std::fs::read_to_string(site.path("nginx-error.log")).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    (Nginx(child), addr)
}

/// What is compared of a response, with volatile parts normalised.
fn summary(r: &Response, port: u16) -> String {
    let mut out = format!("{}", r.status);
    let boundary = r
        .header("Content-Type")
        .and_then(|t| t.split("boundary=").nth(1))
        .map(str::to_string);
    for name in COMPARED {
        let Some(mut v) = r.header(name).map(str::to_string) else {
            continue;
        };
        if *name == "Location" {
            v = v.replace(&format!(":{port}"), ":PORT");
        }
        if let Some(b) = &boundary {
            v = v.replace(b, "BOUNDARY");
        }
        if *name == "Expires" {
            v = "present".into();
        }
        // Error bodies name the server; only their status is compared.
        if *name == "Content-Length" && r.status >= 300 {
            continue;
        }
        out.push_str(&format!("\n{name}: {v}"));
    }
    if r.status < 300 {
        let mut body = r.body.clone();
        if let Some(b) = &boundary {
            body = String::from_utf8_lossy(&body)
                .replace(b, "BOUNDARY")
                .into_bytes();
        }
        out.push_str(&format!("\nbody sha256 {:x}", Sha256::digest(&body)));
    }
    out
}

#[test]
fn same_answers_as_nginx() {
    if !have("nginx") {
        eprintln!("skipped: nginx is not installed (CI installs nginx-light); 0 passed, 0 failed");
        return;
    }
    let site = Site::new("diff");
    let fs = Server::start(&site, FS_CONFIG);
    let (_nginx, ng_addr) = start_nginx(&site);
    let (mut passed, mut failed, mut deviations) = (0, 0, 0);
    for raw in requests() {
        let head = raw.starts_with("HEAD");
        let (ours, _) = exchange(fs.addr, raw.as_bytes(), head);
        let (theirs, _) = exchange(ng_addr, raw.as_bytes(), head);
        let a: Vec<String> = ours.iter().map(|r| summary(r, fs.addr.port())).collect();
        let b: Vec<String> = theirs.iter().map(|r| summary(r, ng_addr.port())).collect();
        let shown = raw.chars().take(120).collect::<String>();
        if a == b {
            passed += 1;
        } else if let Some((_, why)) = DEVIATIONS.iter().find(|(needle, _)| raw.contains(needle)) {
            deviations += 1;
            eprintln!("deliberate deviation for {shown:?}: {why}");
        } else {
            failed += 1;
            eprintln!(
                "MISMATCH for {shown:?}\n--- fs-httpd\n{}\n--- nginx\n{}\n",
                a.join("\n~~\n"),
                b.join("\n~~\n")
            );
        }
    }
    println!(
        "nginx differential: {passed} passed, {failed} failed, {deviations} deliberate deviations"
    );
    assert_eq!(failed, 0, "responses differ from nginx");
}
