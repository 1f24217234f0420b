//! The whole-connection harness: an in-process [`Cx`] (a recording transport with a
//! virtual clock) and the real [`Httpd`] service over a small site, fed a byte stream in
//! arbitrary pieces with timers firing in between. It checks that what the service sends is a
//! sequence of well-formed responses, that nothing is sent after a close, that the connection
//! is released, and that no request panicked (the service would hide such a panic).

use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant, SystemTime};

use bytes::Bytes;
use netstack::{Accepted, Conn, Cx, Service};

use crate::config::{self, Config};
use crate::service::{request_panics, Httpd, Msg};

/// A transport for one connection that records what the service does.
struct FuzzCx {
    now: Instant,
    wall: SystemTime,
    out: Vec<u8>,
    queued: usize,
    closed: bool,
    aborted: bool,
    paused: bool,
    timer: Option<Instant>,
    stopping: bool,
}

impl Cx for FuzzCx {
    type Msg = Msg;

    fn now(&self) -> Instant {
        self.now
    }
    fn wall_clock(&self) -> SystemTime {
        self.wall
    }
    fn worker(&self) -> usize {
        0
    }
    fn workers(&self) -> usize {
        1
    }
    fn send(&mut self, _conn: Conn, data: Bytes) {
        assert!(!self.closed, "send after close");
        self.queued += data.len();
        self.out.extend_from_slice(&data);
    }
    fn queued(&self, _conn: Conn) -> usize {
        self.queued
    }
    fn close(&mut self, _conn: Conn) {
        self.closed = true;
    }
    fn abort(&mut self, _conn: Conn) {
        self.closed = true;
        self.aborted = true;
    }
    fn pause_reading(&mut self, _conn: Conn, paused: bool) {
        self.paused = paused;
    }
    fn set_timer(&mut self, _conn: Conn, deadline: Option<Instant>) {
        self.timer = deadline;
    }
    fn post(&mut self, _worker: usize, _msg: Msg) {}
    fn stopping(&self) -> bool {
        self.stopping
    }
}

/// Byte 0: how many of the following bytes describe pieces (up to 15). A piece byte of 0
/// lets 6 s pass (every configured timeout is 5 s), 255 starts a graceful stop, anything else
/// is the size of the next piece of the stream. The rest of the input is the stream; what the
/// pieces leave is sent at once. Then the peer closes.
pub fn conn(data: &[u8]) {
    let Some((&n, rest)) = data.split_first() else {
        return;
    };
    let n = usize::from(n % 16).min(rest.len());
    let (pieces, mut stream) = rest.split_at(n);
    let panics = request_panics();
    let mut httpd = Httpd::new(site_config());
    let t0 = Instant::now();
    let mut cx = FuzzCx {
        now: t0,
        wall: SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000),
        out: Vec::new(),
        queued: 0,
        closed: false,
        aborted: false,
        paused: false,
        timer: None,
        stopping: false,
    };
    let conn = Conn::new(0, 1);
    let info = Accepted {
        listener: 0,
        peer: "127.0.0.1:40000".parse().unwrap_or_else(|_| unreachable!()),
        local: "127.0.0.1:80".parse().unwrap_or_else(|_| unreachable!()),
    };
    httpd.on_accept(&mut cx, conn, &info);
    let mut held = Vec::new();
    for &p in pieces.iter().chain(std::iter::once(&254)) {
        if cx.closed {
            break;
        }
        match p {
            0 => {
                cx.now += Duration::from_secs(6);
                if cx.timer.is_some_and(|t| t <= cx.now) {
                    cx.timer = None;
                    httpd.on_timer(&mut cx, conn);
                }
            }
            255 => {
                cx.stopping = true;
                httpd.on_stop(&mut cx);
            }
            _ => {
                // The last step (254) sends the rest.
                let size = if p == 254 {
                    stream.len()
                } else {
                    usize::from(p)
                };
                let (piece, after) = stream.split_at(size.min(stream.len()));
                stream = after;
                held.extend_from_slice(piece);
                if !cx.paused && !held.is_empty() {
                    let data = Bytes::from(std::mem::take(&mut held));
                    httpd.on_data(&mut cx, conn, data);
                }
            }
        }
        drain(&mut httpd, &mut cx, conn);
    }
    if !cx.closed {
        httpd.on_peer_closed(&mut cx, conn);
    }
    httpd.on_closed(&mut cx, conn);
    assert_eq!(httpd.connections(), 0, "the connection was not released");
    assert_eq!(
        request_panics(),
        panics,
        "a request panicked (see the error output)"
    );
    check_responses(&cx.out, cx.aborted);
}

/// The network takes everything queued, as often as a streamed body needs.
fn drain(httpd: &mut Httpd, cx: &mut FuzzCx, conn: Conn) {
    for _ in 0..64 {
        if cx.closed || cx.queued == 0 {
            return;
        }
        cx.queued = 0;
        httpd.on_writable(cx, conn);
    }
}

/// `out` must be a sequence of whole responses: a status line, header lines with token names,
/// and as many body bytes as Content-Length says (none after HEAD: the next response starts
/// where the body would). An aborted connection may end inside a body.
fn check_responses(out: &[u8], aborted: bool) {
    let mut rest = out;
    while !rest.is_empty() {
        let Some(end) = rest.windows(4).position(|w| w == b"\r\n\r\n") else {
            panic!(
                "a response head is cut: {:?}",
                String::from_utf8_lossy(rest)
            );
        };
        let head = std::str::from_utf8(&rest[..end]).unwrap_or_else(|_| panic!("non-UTF-8 head"));
        let mut lines = head.split("\r\n");
        let status_line = lines.next().unwrap_or_default();
        let status: u16 = status_line
            .strip_prefix("HTTP/1.1 ")
            .and_then(|s| s.get(..3))
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| panic!("bad status line {status_line:?}"));
        let mut length = None;
        for line in lines {
            let (name, value) = line
                .split_once(": ")
                .unwrap_or_else(|| panic!("bad header line {line:?}"));
            assert!(
                !name.is_empty() && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-'),
                "bad header name {name:?}"
            );
            assert!(!value.contains(['\r', '\n']));
            if name.eq_ignore_ascii_case("content-length") {
                length = Some(value.parse::<usize>().expect("a numeric Content-Length"));
            }
        }
        rest = &rest[end + 4..];
        if status < 200 {
            continue;
        }
        let body = match status {
            204 | 304 => 0,
            _ => length.unwrap_or_else(|| panic!("no Content-Length in {head:?}")),
        };
        if rest.starts_with(b"HTTP/1.1 ") || (rest.is_empty() && !aborted) {
            continue; // HEAD: no body
        }
        assert!(rest.len() >= body || aborted, "a body is cut");
        rest = &rest[body.min(rest.len())..];
    }
}

/// The site every connection input is served from (created once per process).
fn site_config() -> Arc<Config> {
    static CFG: OnceLock<Arc<Config>> = OnceLock::new();
    CFG.get_or_init(|| {
        let _ = crate::log::set_error_log(None);
        let root = site();
        Arc::new(load(&SITE.replace("{root}", &root.display().to_string())))
    })
    .clone()
}

pub(super) fn load(text: &str) -> Config {
    config::parse(Path::new("/nonexistent/fuzz/httpd.toml"), text.to_string())
        .unwrap_or_else(|e| panic!("the fuzz configuration: {e}"))
}

/// One directory for every process (fuzzers and tests alike): files are written whole under a
/// temporary name and renamed, so concurrent processes never see a partial file.
fn site() -> PathBuf {
    let root = std::env::temp_dir().join("fs-httpd-fuzz-site");
    let big: Vec<u8> = (0..200_000u32).map(|i| b'a' + (i % 26) as u8).collect();
    let files: &[(&str, &[u8])] = &[
        ("index.html", b"<h1>home</h1>\n"),
        ("hello.txt", b"hello, world\n"),
        ("digits.txt", b"0123456789abcdefghij"),
        ("empty.txt", b""),
        ("404.html", b"custom not found\n"),
        ("dir/index.html", b"dir index\n"),
        ("noindex/file.txt", b"0123456789"),
        ("page.html", b"<p>plain page</p>\n"),
        (
            "page.html.gz",
            b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\x03not really gzip",
        ),
        // Larger than the content cache below: streamed in pieces.
        ("big.bin", &big),
    ];
    for (name, data) in files {
        let path = root.join(name);
        if std::fs::read(&path).is_ok_and(|d| d == *data) {
            continue;
        }
        if let Some(dir) = path.parent() {
            let _ = std::fs::create_dir_all(dir);
        }
        let tmp = root.join(format!(
            ".{}.{}",
            name.replace('/', "_"),
            std::process::id()
        ));
        if std::fs::write(&tmp, data).is_ok() {
            let _ = std::fs::rename(&tmp, &path);
        }
    }
    root
}

const SITE: &str = r#"
[http]
access_log = "off"
client_max_body_size = "1k"
large_client_header_buffers = "4 1k"
client_header_timeout = "5s"
client_body_timeout = "5s"
send_timeout = "5s"
keepalive_timeout = "5s"
keepalive_requests = 50
open_file_cache_max_size = "4k"

[[server]]
listen = ["127.0.0.1:80"]
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
match = "/alias/"
alias = "{root}/dir/"
[[server.location]]
match = "/try/"
try_files = ["$uri", "/hello.txt"]
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
match = "/list/"
alias = "{root}/"
autoindex = true
[[server.location]]
match = "/redirect"
return = "301 /hello.txt"
[[server.location]]
match = "/vars"
return = "200 $request_method $uri|$args|$request_uri|$host"
[[server.location]]
match = "/errpage/"
error_page = ["404 =200 /hello.txt"]
[[server.location]]
match = "/r1/"
alias = "{root}/"
max_ranges = 1
[[server.location]]
match = "/drop"
return = "444"

[[server]]
listen = ["127.0.0.1:80"]
server_name = ["*.wild.test"]
return = "200 wild"
"#;
