//! fs-httpd's HTTP behaviour, end to end: the real binary on an ephemeral port, raw requests
//! over TCP, curl and a Rust HTTP client.

mod common;

use std::io::{BufReader, Read, Write};
use std::time::{Duration, Instant};

use common::{exchange, have, read_response, Server, Site};
use sha2::{Digest, Sha256};

const CONFIG: &str = r#"
[runtime]
workers = 2

[http]
access_log = "{dir}/access.log"
error_log = "{dir}/error.log"
client_header_timeout = "1s"
keepalive_timeout = "3s"
client_max_body_size = "1k"
large_client_header_buffers = "4 2k"
server_tokens = false

[[server]]
listen = ["127.0.0.1:0 default_server"]
server_name = ["localhost"]
root = "{root}"
index = ["index.html"]
add_header = ["X-Test yes"]
error_page = ["404 /404.html"]

[[server.location]]
match = "= /600"
return = "200 six hundred"

[[server.location]]
match = "/exact-vs-prefix"
return = "200 prefix"

[[server.location]]
match = "= /exact-vs-prefix"
return = "200 exact"

[[server.location]]
match = "^~ /static/"
expires = "1h"

[[server.location]]
match = "~ \\.js$"
return = "200 regex-js"

[[server.location]]
match = "~* \\.CSS$"
add_header = ["X-Css matched"]

[[server.location]]
match = "/list/"
alias = "{root}/noindex/"
autoindex = true

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
match = "/named/"
try_files = ["$uri", "@fallback"]

[[server.location]]
match = "@fallback"
return = "200 named"

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
match = "/drop"
return = "444"

[[server.location]]
match = "/nested/"
return = "200 outer"

[[server.location.location]]
match = "/nested/inner/"
return = "200 inner"

[[server.location]]
match = "/errpage/"
error_page = ["404 =200 /hello.txt"]

[[server.location]]
match = "= /quiet"
access_log = "off"
return = "200 quiet"

[[server.location]]
match = "/ranges1/"
alias = "{root}/"
max_ranges = 1

[[server]]
listen = ["127.0.0.1:0"]
server_name = ["exact.test"]
return = "200 exact-host"

[[server]]
listen = ["127.0.0.1:0"]
server_name = ["*.wild.test"]
return = "200 leading-wildcard"

[[server]]
listen = ["127.0.0.1:0"]
server_name = ["pre.*"]
return = "200 trailing-wildcard"

[[server]]
listen = ["127.0.0.1:0"]
server_name = ["~^re[0-9]+\\.test$"]
return = "200 regex-host"
"#;

fn start() -> (Site, Server) {
    let site = Site::new(&format!("b{}", rand_suffix()));
    let server = Server::start(&site, CONFIG);
    (site, server)
}

fn rand_suffix() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    N.fetch_add(1, Ordering::Relaxed)
}

fn get(s: &Server, path: &str) -> common::Response {
    s.get(&format!("GET {path} HTTP/1.1\r\nHost: localhost\r\n\r\n"))
}

fn with_headers(s: &Server, path: &str, headers: &str) -> common::Response {
    s.get(&format!(
        "GET {path} HTTP/1.1\r\nHost: localhost\r\n{headers}\r\n"
    ))
}

#[test]
fn static_file_get_and_head() {
    let (_site, s) = start();
    let r = get(&s, "/hello.txt");
    assert_eq!(r.status, 200);
    assert_eq!(r.body, b"hello, world\n");
    assert_eq!(r.header("Content-Type"), Some("text/plain"));
    assert_eq!(r.header("Content-Length"), Some("13"));
    assert_eq!(r.header("ETag"), Some("\"6553f100-d\""));
    assert_eq!(
        r.header("Last-Modified"),
        Some("Tue, 14 Nov 2023 22:13:20 GMT")
    );
    assert_eq!(r.header("Accept-Ranges"), Some("bytes"));
    assert_eq!(r.header("X-Test"), Some("yes"));
    assert_eq!(r.header("Server"), Some("fs-httpd"));
    assert!(r.header("Date").is_some());
    let h = s.get("HEAD /hello.txt HTTP/1.1\r\nHost: localhost\r\n\r\n");
    assert_eq!((h.status, h.header("Content-Length")), (200, Some("13")));
    assert!(h.body.is_empty());
    assert_eq!(get(&s, "/").body, b"<h1>home</h1>\n");
}

#[test]
fn keep_alive_pipelining_and_versions() {
    let (_site, s) = start();
    let three = "GET /600 HTTP/1.1\r\nHost: a\r\n\r\nGET /hello.txt HTTP/1.1\r\nHost: a\r\n\r\nGET /gone HTTP/1.1\r\nHost: a\r\n\r\n";
    let (rs, closed) = exchange(s.addr, three.as_bytes(), false);
    assert_eq!(
        rs.iter().map(|r| r.status).collect::<Vec<_>>(),
        [200, 200, 410]
    );
    assert_eq!(rs[0].body, b"six hundred");
    assert!(!closed, "HTTP/1.1 stays open");
    // HTTP/1.0 closes by default, keeps alive on request.
    let (rs, closed) = exchange(s.addr, b"GET /600 HTTP/1.0\r\n\r\n", false);
    assert_eq!((rs.len(), closed), (1, true));
    assert_eq!(rs[0].header("Connection"), Some("close"));
    let (rs, closed) = exchange(
        s.addr,
        b"GET /600 HTTP/1.0\r\nConnection: keep-alive\r\n\r\n",
        false,
    );
    assert_eq!((rs.len(), closed), (1, false));
    assert_eq!(rs[0].header("Connection"), Some("keep-alive"));
    let (rs, closed) = exchange(s.addr, b"GET /600 HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\nGET /600 HTTP/1.1\r\nHost: a\r\n\r\n", false);
    assert_eq!((rs.len(), closed), (1, true));
    // HTTP/1.x beyond 1.1 is served as 1.1; another major version is 505.
    let (rs, _) = exchange(s.addr, b"GET /600 HTTP/1.7\r\nHost: a\r\n\r\n", false);
    assert_eq!(rs[0].status, 200);
    let (rs, closed) = exchange(s.addr, b"GET /600 HTTP/2.0\r\nHost: a\r\n\r\n", false);
    assert_eq!((rs[0].status, closed), (505, true));
}

#[test]
fn expect_100_continue_then_final_answer() {
    let (_site, s) = start();
    let mut c = s.connect();
    c.write_all(
        b"POST /600 HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n",
    )
    .unwrap();
    let mut buf = [0u8; 25];
    c.read_exact(&mut buf).unwrap();
    assert_eq!(&buf, b"HTTP/1.1 100 Continue\r\n\r\n");
    let mut r = BufReader::new(c);
    let final_ = read_response(&mut r, false).unwrap();
    assert_eq!(
        (final_.status, final_.text().as_str()),
        (200, "six hundred")
    );
    // The body that follows is discarded and the connection goes on.
    r.get_mut()
        .write_all(b"abcdeGET /hello.txt HTTP/1.1\r\nHost: a\r\n\r\n")
        .unwrap();
    assert_eq!(read_response(&mut r, false).unwrap().status, 200);
}

#[test]
fn virtual_hosts_in_nginx_order() {
    let (_site, s) = start();
    let host = |h: &str| {
        s.get(&format!("GET / HTTP/1.1\r\nHost: {h}\r\n\r\n"))
            .text()
    };
    assert_eq!(host("exact.test"), "exact-host");
    assert_eq!(host("EXACT.test:80"), "exact-host");
    assert_eq!(host("a.b.wild.test"), "leading-wildcard");
    assert_eq!(host("pre.example"), "trailing-wildcard");
    assert_eq!(host("re42.test"), "regex-host");
    assert_eq!(host("unknown.test"), "<h1>home</h1>\n"); // default_server
                                                         // An absolute-form target's authority overrides Host.
    let r = s.get("GET http://exact.test/ HTTP/1.1\r\nHost: localhost\r\n\r\n");
    assert_eq!(r.text(), "exact-host");
    let r = s.get("GET http://localhost/hello.txt HTTP/1.1\r\nHost: exact.test\r\n\r\n");
    assert_eq!(r.text(), "hello, world\n");
}

#[test]
fn locations_in_nginx_order() {
    let (_site, s) = start();
    assert_eq!(get(&s, "/exact-vs-prefix").text(), "exact");
    assert_eq!(get(&s, "/exact-vs-prefix/more").text(), "prefix");
    // ^~ stops the regex search: the file is served, not the .js regex.
    let r = get(&s, "/static/app.js");
    assert_eq!((r.status, r.text().as_str()), (200, "console.log(1);\n"));
    assert!(r.header("Expires").is_some());
    assert_eq!(r.header("Cache-Control"), Some("max-age=3600"));
    assert_eq!(get(&s, "/elsewhere.js").text(), "regex-js");
    let r = get(&s, "/dir/sub/a.css");
    assert_eq!((r.status, r.header("X-Css")), (200, Some("matched")));
    assert_eq!(r.header("Content-Type"), Some("text/css"));
    assert_eq!(get(&s, "/nested/x").text(), "outer");
    assert_eq!(get(&s, "/nested/inner/x").text(), "inner");
    assert_eq!(get(&s, "/alias/x.txt").text(), "from alias\n");
    // Named locations are reachable only internally.
    assert_eq!(get(&s, "/named/nope").text(), "named");
    assert_eq!(get(&s, "@fallback").status, 400);
}

#[test]
fn return_directive() {
    let (_site, s) = start();
    let r = get(&s, "/redirect");
    assert_eq!(r.status, 301);
    assert_eq!(
        r.header("Location"),
        Some(format!("http://localhost:{}/hello.txt", s.addr.port()).as_str())
    );
    let r = get(&s, "/external");
    assert_eq!(
        (r.status, r.header("Location")),
        (302, Some("https://example.org/x"))
    );
    let r = get(&s, "/gone");
    assert_eq!(r.status, 410);
    assert!(r.text().contains("410 Gone"));
    let (rs, closed) = exchange(s.addr, b"GET /drop HTTP/1.1\r\nHost: a\r\n\r\n", false);
    assert!(rs.is_empty() && closed, "444 closes without a response");
    // `return` answers every method.
    let r = s.get("DELETE /600 HTTP/1.1\r\nHost: a\r\n\r\n");
    assert_eq!(r.status, 200);
}

#[test]
fn directories_index_and_autoindex() {
    let (_site, s) = start();
    let r = get(&s, "/dir");
    assert_eq!(r.status, 301);
    assert_eq!(
        r.header("Location"),
        Some(format!("http://localhost:{}/dir/", s.addr.port()).as_str())
    );
    let r = get(&s, "/dir?x=1");
    assert_eq!(
        r.header("Location"),
        Some(format!("http://localhost:{}/dir/?x=1", s.addr.port()).as_str())
    );
    assert_eq!(get(&s, "/dir/").text(), "dir index\n");
    assert_eq!(get(&s, "/noindex/").status, 403);
    let r = get(&s, "/list/");
    assert_eq!(r.status, 200);
    let html = r.text();
    assert!(html.contains("<title>Index of /list/</title>"), "{html}");
    assert!(html.contains("<a href=\"file.txt\">file.txt</a>"), "{html}");
    assert!(html.contains(" 10\r\n"), "exact size column: {html}");
}

#[test]
fn conditional_requests() {
    let (_site, s) = start();
    let etag = "\"6553f100-d\"";
    let lm = "Tue, 14 Nov 2023 22:13:20 GMT";
    let r = with_headers(&s, "/hello.txt", &format!("If-None-Match: {etag}\r\n"));
    assert_eq!(r.status, 304);
    assert_eq!(r.header("ETag"), Some(etag));
    assert!(r.body.is_empty());
    assert_eq!(
        with_headers(&s, "/hello.txt", "If-None-Match: *\r\n").status,
        304
    );
    assert_eq!(
        with_headers(
            &s,
            "/hello.txt",
            "If-None-Match: \"x\", W/\"6553f100-d\"\r\n"
        )
        .status,
        304
    );
    assert_eq!(
        with_headers(&s, "/hello.txt", "If-None-Match: \"other\"\r\n").status,
        200
    );
    assert_eq!(
        with_headers(&s, "/hello.txt", &format!("If-Modified-Since: {lm}\r\n")).status,
        304
    );
    // nginx's default `if_modified_since exact`: a later date is not a match.
    assert_eq!(
        with_headers(
            &s,
            "/hello.txt",
            "If-Modified-Since: Wed, 15 Nov 2023 00:00:00 GMT\r\n"
        )
        .status,
        200
    );
    // If-None-Match wins over If-Modified-Since.
    let both = format!("If-None-Match: \"other\"\r\nIf-Modified-Since: {lm}\r\n");
    assert_eq!(with_headers(&s, "/hello.txt", &both).status, 200);
    assert_eq!(
        with_headers(&s, "/hello.txt", "If-Match: \"other\"\r\n").status,
        412
    );
    assert_eq!(
        with_headers(&s, "/hello.txt", &format!("If-Match: {etag}\r\n")).status,
        200
    );
    assert_eq!(
        with_headers(
            &s,
            "/hello.txt",
            "If-Unmodified-Since: Mon, 13 Nov 2023 00:00:00 GMT\r\n"
        )
        .status,
        412
    );
    assert_eq!(
        with_headers(&s, "/hello.txt", &format!("If-Unmodified-Since: {lm}\r\n")).status,
        200
    );
}

#[test]
fn byte_ranges() {
    let (_site, s) = start();
    let range = |spec: &str| with_headers(&s, "/digits.txt", &format!("Range: {spec}\r\n"));
    let r = range("bytes=0-3");
    assert_eq!(
        (r.status, r.text().as_str(), r.header("Content-Range")),
        (206, "0123", Some("bytes 0-3/20"))
    );
    let r = range("bytes=-5");
    assert_eq!((r.status, r.text().as_str()), (206, "fghij"));
    let r = range("bytes=15-");
    assert_eq!(
        (r.status, r.text().as_str(), r.header("Content-Range")),
        (206, "fghij", Some("bytes 15-19/20"))
    );
    let r = range("bytes=18-100");
    assert_eq!((r.status, r.text().as_str()), (206, "ij"));
    let r = range("bytes=100-200");
    assert_eq!(
        (r.status, r.header("Content-Range")),
        (416, Some("bytes */20"))
    );
    assert_eq!(range("bytes=5-2").status, 416);
    assert_eq!(range("items=0-3").status, 200);
    let r = range("bytes=0-1,5-6");
    assert_eq!(r.status, 206);
    let ct = r.header("Content-Type").unwrap().to_string();
    let boundary = ct
        .strip_prefix("multipart/byteranges; boundary=")
        .expect("multipart type");
    let body = r.text();
    assert_eq!(body.matches(&format!("--{boundary}\r\n")).count(), 2);
    assert!(
        body.contains("Content-Range: bytes 0-1/20\r\n\r\n01\r\n"),
        "{body}"
    );
    assert!(
        body.contains("Content-Range: bytes 5-6/20\r\n\r\n56\r\n"),
        "{body}"
    );
    assert!(body.ends_with(&format!("--{boundary}--\r\n")));
    assert_eq!(
        r.header("Content-Length")
            .unwrap()
            .parse::<usize>()
            .unwrap(),
        r.body.len()
    );
    // If-Range: a matching validator keeps the range, a stale one gets the full body.
    let r = with_headers(
        &s,
        "/digits.txt",
        "Range: bytes=0-1\r\nIf-Range: \"6553f100-14\"\r\n",
    );
    assert_eq!(r.status, 206);
    let r = with_headers(
        &s,
        "/digits.txt",
        "Range: bytes=0-1\r\nIf-Range: \"stale\"\r\n",
    );
    assert_eq!(r.status, 200);
    let r = with_headers(
        &s,
        "/digits.txt",
        "Range: bytes=0-1\r\nIf-Range: Tue, 14 Nov 2023 22:13:20 GMT\r\n",
    );
    assert_eq!(r.status, 206);
    // max_ranges: more ranges than allowed are ignored.
    let r = with_headers(&s, "/ranges1/digits.txt", "Range: bytes=0-1,3-4\r\n");
    assert_eq!(r.status, 200);
}

#[test]
fn gzip_static_serves_the_gz_sibling() {
    let (site, s) = start();
    let r = with_headers(&s, "/gz/page.html", "Accept-Encoding: br, gzip\r\n");
    assert_eq!(r.status, 200);
    assert_eq!(r.header("Content-Encoding"), Some("gzip"));
    assert_eq!(r.header("Content-Type"), Some("text/html"));
    assert_eq!(r.header("Vary"), Some("Accept-Encoding"));
    assert_eq!(
        r.body,
        std::fs::read(site.path("root/page.html.gz")).unwrap()
    );
    let r = with_headers(&s, "/gz/page.html", "Accept-Encoding: gzip;q=0\r\n");
    assert_eq!(
        (r.header("Content-Encoding"), r.text().as_str()),
        (None, "<p>plain page</p>\n")
    );
    let r = get(&s, "/gz/page.html");
    assert_eq!(r.header("Content-Encoding"), None);
}

#[test]
fn request_bodies() {
    let (_site, s) = start();
    // A body on a static file: 405, body discarded, connection kept.
    let req = b"POST /hello.txt HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\nabcGET /600 HTTP/1.1\r\nHost: a\r\n\r\n";
    let (rs, _) = exchange(s.addr, req, false);
    assert_eq!(rs.iter().map(|r| r.status).collect::<Vec<_>>(), [405, 200]);
    // A chunked body is decoded and discarded too.
    let req = b"POST /600 HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\nGET /600 HTTP/1.1\r\nHost: a\r\n\r\n";
    let (rs, _) = exchange(s.addr, req, false);
    assert_eq!(rs.iter().map(|r| r.status).collect::<Vec<_>>(), [200, 200]);
    // Over client_max_body_size (1k): 413 and close.
    let (rs, closed) = exchange(
        s.addr,
        b"POST /600 HTTP/1.1\r\nHost: a\r\nContent-Length: 5000\r\n\r\n",
        false,
    );
    assert_eq!((rs[0].status, closed), (413, true));
    let big = format!(
        "POST /600 HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n800\r\n{}\r\n0\r\n\r\n",
        "x".repeat(2048)
    );
    let (_, closed) = exchange(s.addr, big.as_bytes(), false);
    assert!(closed, "an oversized chunked body closes the connection");
}

#[test]
fn hostile_requests_are_refused_and_closed() {
    let (_site, s) = start();
    let cases: &[(&str, &[u8], u16)] = &[
        ("traversal", b"GET /../../etc/passwd HTTP/1.1\r\nHost: a\r\n\r\n", 400),
        ("encoded traversal", b"GET /%2e%2e/%2e%2e/etc/passwd HTTP/1.1\r\nHost: a\r\n\r\n", 400),
        ("encoded slash traversal", b"GET /dir/..%2f..%2fetc/passwd HTTP/1.1\r\nHost: a\r\n\r\n", 400),
        ("nul", b"GET /hello%00.txt HTTP/1.1\r\nHost: a\r\n\r\n", 400),
        ("no host in 1.1", b"GET / HTTP/1.1\r\n\r\n", 400),
        ("two hosts", b"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400),
        ("bad host", b"GET / HTTP/1.1\r\nHost: a/b\r\n\r\n", 400),
        ("cl and te", b"POST /600 HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400),
        ("te in 1.0", b"POST /600 HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400),
        ("te not chunked last", b"POST /600 HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked, gzip\r\n\r\n", 400),
        ("te unknown", b"POST /600 HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip\r\n\r\n", 501),
        ("bad cl", b"POST /600 HTTP/1.1\r\nHost: a\r\nContent-Length: +3\r\n\r\nabc", 400),
        ("duplicate cl", b"POST /600 HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nContent-Length: 3\r\n\r\nabc", 400),
        ("obs-fold", b"GET / HTTP/1.1\r\nHost: a\r\nX-A: b\r\n c\r\n\r\n", 400),
        ("space before colon", b"GET / HTTP/1.1\r\nHost: a\r\nContent-Length : 3\r\n\r\n", 400),
        ("bare cr", b"GET / HTTP/1.1\r\nHost: a\rX: y\r\n\r\n", 400),
        ("http/0.9", b"GET /\r\n\r\n", 400),
        ("lower-case method", b"get / HTTP/1.1\r\nHost: a\r\n\r\n", 400),
        ("space in the target", b"GET /a b HTTP/1.1\r\nHost: a\r\n\r\n", 400),
        ("long uri", format!("GET /{} HTTP/1.1\r\nHost: a\r\n\r\n", "a".repeat(3000)).leak().as_bytes(), 414),
        ("long header", format!("GET / HTTP/1.1\r\nHost: a\r\nX: {}\r\n\r\n", "a".repeat(3000)).leak().as_bytes(), 400),
        ("huge head", format!("GET / HTTP/1.1\r\nHost: a\r\n{}\r\n", "X-Pad: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n".repeat(150)).leak().as_bytes(), 400),
        // A chunked body is read before the answer: broken framing is 400, never a 200 first.
        ("bad chunk size", b"POST /600 HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", 400),
        ("bare lf in chunk", b"POST /600 HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n3\nabc\r\n0\r\n\r\n", 400),
        ("chunk size overflow", b"GET /600 HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\nffffffffffffffffff\r\n", 400),
        ("trailer garbage", b"GET /hello.txt HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nX\rY\r\n\r\n", 400),
        ("missing crlf after data", b"GET /hello.txt HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabcX\r\n0\r\n\r\n", 400),
    ];
    for (name, raw, status) in cases {
        let (rs, closed) = exchange(s.addr, raw, false);
        assert_eq!(rs.first().map(|r| r.status), Some(*status), "{name}");
        assert!(closed, "{name}: connection must close");
    }
    // Still serving everyone.
    assert_eq!(get(&s, "/600").status, 200);
}

#[test]
fn garbage_on_one_connection_does_not_disturb_another() {
    let (_site, s) = start();
    let mut good = s.connect();
    let mut r = BufReader::new(good.try_clone().unwrap());
    let mut seed = 0x2545_f491_4f6c_dd1du64;
    for round in 0..50 {
        let mut junk = vec![0u8; 1 + (seed % 3000) as usize];
        for b in junk.iter_mut() {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            *b = seed as u8;
        }
        if round % 2 == 0 {
            junk[..4].copy_from_slice(b"GET ");
        }
        let mut bad = s.connect();
        let _ = bad.write_all(&junk);
        good.write_all(b"GET /600 HTTP/1.1\r\nHost: a\r\n\r\n")
            .unwrap();
        assert_eq!(
            read_response(&mut r, false).unwrap().status,
            200,
            "round {round}"
        );
    }
}

#[test]
fn slow_clients_time_out() {
    let (_site, s) = start();
    // client_header_timeout = 1s: a head that never completes is dropped.
    let mut c = s.connect();
    c.write_all(b"GET / HTTP/1.1\r\nHo").unwrap();
    let started = Instant::now();
    let mut buf = [0u8; 64];
    assert_eq!(c.read(&mut buf).unwrap_or(0), 0);
    let waited = started.elapsed();
    assert!(
        waited >= Duration::from_millis(800) && waited < Duration::from_secs(5),
        "{waited:?}"
    );
    // keepalive_timeout = 3s: an idle keep-alive connection is closed.
    let mut c = s.connect();
    c.write_all(b"GET /600 HTTP/1.1\r\nHost: a\r\n\r\n")
        .unwrap();
    let mut r = BufReader::new(c);
    assert_eq!(read_response(&mut r, false).unwrap().status, 200);
    let started = Instant::now();
    let mut rest = Vec::new();
    r.read_to_end(&mut rest).unwrap();
    assert!(
        started.elapsed() >= Duration::from_millis(2500),
        "{:?}",
        started.elapsed()
    );
}

#[test]
fn large_file_streams_intact_with_ranges_and_pipelining() {
    let (site, s) = start();
    let want = std::fs::read(site.path("root/big.bin")).unwrap();
    // Streamed (larger than the 1 MiB content cache), followed by a pipelined request.
    let (rs, _) = exchange(
        s.addr,
        b"GET /big.bin HTTP/1.1\r\nHost: a\r\n\r\nGET /600 HTTP/1.1\r\nHost: a\r\n\r\n",
        false,
    );
    assert_eq!(rs.len(), 2);
    assert_eq!(Sha256::digest(&rs[0].body), Sha256::digest(&want));
    assert_eq!(rs[1].text(), "six hundred");
    let r = with_headers(&s, "/big.bin", "Range: bytes=1000000-1000009,-3\r\n");
    assert_eq!(r.status, 206);
    let body = r.body;
    let first = &want[1_000_000..1_000_010];
    assert!(body.windows(10).any(|w| w == first));
    assert!(body.windows(3).any(|w| w == &want[want.len() - 3..]));
}

#[test]
fn error_page_and_try_files() {
    let (_site, s) = start();
    let r = get(&s, "/missing");
    assert_eq!((r.status, r.text().as_str()), (404, "custom not found\n"));
    let r = get(&s, "/errpage/missing");
    assert_eq!((r.status, r.text().as_str()), (200, "hello, world\n"));
    assert_eq!(get(&s, "/try/nope").text(), "hello, world\n");
    assert_eq!(get(&s, "/try404/nope").status, 404);
}

#[test]
fn access_log_in_combined_format_and_reopen() {
    let (site, s) = start();
    // A location's own `access_log off` wins over the server's log.
    s.get("GET /quiet HTTP/1.1\r\nHost: a\r\nUser-Agent: quiet-agent\r\n\r\n");
    s.get("GET /hello.txt?q=1 HTTP/1.1\r\nHost: a\r\nUser-Agent: test-agent\r\nReferer: http://r/\r\n\r\n");
    let log = site.path("access.log");
    let deadline = Instant::now() + Duration::from_secs(5);
    let mut text = String::new();
    while Instant::now() < deadline && !text.contains("test-agent") {
        std::thread::sleep(Duration::from_millis(50));
        text = std::fs::read_to_string(&log).unwrap_or_default();
    }
    let line = text
        .lines()
        .find(|l| l.contains("test-agent"))
        .expect("logged");
    assert!(line.starts_with("127.0.0.1 - - ["), "{line}");
    assert!(
        line.ends_with("] \"GET /hello.txt?q=1 HTTP/1.1\" 200 13 \"http://r/\" \"test-agent\""),
        "{line}"
    );
    // SIGUSR1 after a rotation: new lines go to a new file at the old path.
    std::fs::rename(&log, site.path("access.log.1")).unwrap();
    s.signal(libc::SIGUSR1);
    std::thread::sleep(Duration::from_millis(200));
    // Either worker may answer: send a few so each has written since reopening.
    for _ in 0..20 {
        s.get("GET /600 HTTP/1.1\r\nHost: a\r\nUser-Agent: after-rotate\r\n\r\n");
    }
    std::thread::sleep(Duration::from_millis(300));
    let fresh = std::fs::read_to_string(&log).expect("reopened log");
    assert!(fresh.contains("after-rotate"));
    let rotated = std::fs::read_to_string(site.path("access.log.1")).unwrap();
    assert!(!rotated.contains("quiet-agent") && !fresh.contains("quiet-agent"));
}

#[test]
fn real_clients_curl_and_ureq() {
    let (_site, s) = start();
    let body = ureq::get(&s.url("/hello.txt"))
        .call()
        .unwrap()
        .into_string()
        .unwrap();
    assert_eq!(body, "hello, world\n");
    let resp = ureq::get(&s.url("/digits.txt"))
        .set("Range", "bytes=2-4")
        .call()
        .unwrap();
    assert_eq!(
        (resp.status(), resp.into_string().unwrap().as_str()),
        (206, "234")
    );
    if !have("curl") {
        eprintln!("skipped the curl half: curl is not installed");
        return;
    }
    let out = std::process::Command::new("curl")
        .args(["-sS", "--compressed", "-D", "-", &s.url("/gz/page.html")])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("Content-Encoding: gzip\r\n"), "{text}");
    assert!(
        text.ends_with("\r\n\r\n<p>plain page</p>\n"),
        "curl decodes our gzip: {text}"
    );
    let out = std::process::Command::new("curl")
        .args(["-sS", "-L", &s.url("/dir")])
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout), "dir index\n");
    let out = std::process::Command::new("curl")
        .args([
            "-sS",
            "-d",
            "x=1",
            "-w",
            "%{http_code}",
            "-o",
            "/dev/null",
            &s.url("/hello.txt"),
        ])
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout), "405");
}

#[test]
fn a_client_that_never_reads_is_cut_off_and_others_are_served() {
    let site = Site::new(&format!("b{}", rand_suffix()));
    let s = Server::start(
        &site,
        &CONFIG.replace(
            "client_header_timeout = \"1s\"",
            "client_header_timeout = \"1s\"\nsend_timeout = \"1s\"",
        ),
    );
    let mut stuck = s.connect();
    // Ask for the 3 MB file many times and never read: the socket buffers fill up.
    for _ in 0..8 {
        stuck
            .write_all(b"GET /big.bin HTTP/1.1\r\nHost: a\r\n\r\n")
            .unwrap();
    }
    std::thread::sleep(Duration::from_millis(300));
    for _ in 0..20 {
        assert_eq!(get(&s, "/600").status, 200);
    }
    // After send_timeout without progress the connection is reset.
    std::thread::sleep(Duration::from_millis(2500));
    stuck
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    let mut sink = vec![0u8; 1 << 20];
    let mut total = 0usize;
    let ended = loop {
        match stuck.read(&mut sink) {
            Ok(0) => break true,
            Ok(n) => total += n,
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => break true,
            Err(_) => break false,
        }
    };
    assert!(ended, "connection still open after send_timeout");
    assert!(
        total < 8 * 3_000_000,
        "the server stopped sending ({total} bytes)"
    );
}
