//! The generated cases: methods x versions x targets x headers (ranges, conditionals,
//! encodings, framing) x bodies, sampled deterministically (a fixed xorshift seed) so that every
//! run sends the same few hundred requests, and every header of the pool appears.

use crate::common::Rng;

/// Targets of the paired configurations, with the ETag of the file each serves (nginx's
/// `"<hex mtime>-<hex size>"`; every file's mtime is 1700000000 = 0x6553f100).
const TARGETS: &[(&str, &str)] = &[
    ("/hello.txt", "\"6553f100-d\""),
    ("/digits.txt", "\"6553f100-14\""),
    ("/empty.txt", "\"6553f100-0\""),
    ("/one.txt", "\"6553f100-1\""),
    ("/dir", "\"6553f100-a\""),
    ("/dir/", "\"6553f100-a\""),
    ("/noindex/", "\"6553f100-a\""),
    ("/missing", "\"6553f100-11\""),
    ("/600", "\"x\""),
    ("/gz/page.html", "\"6553f100-12\""),
    ("/list/", "\"x\""),
    ("/static/app.js", "\"6553f100-10\""),
    ("/r1/digits.txt", "\"6553f100-14\""),
    ("/errpage/missing", "\"6553f100-d\""),
    ("/try/nope", "\"6553f100-d\""),
    ("/alias/x.txt", "\"6553f100-b\""),
    ("/vars?x=1", "\"x\""),
    ("/redirect", "\"x\""),
    ("/dir/../digits.txt", "\"6553f100-14\""),
];

const METHODS: &[&str] = &[
    "GET", "GET", "GET", "HEAD", "HEAD", "POST", "PUT", "DELETE", "OPTIONS", "PATCH", "FOO_BAR",
    "TRACE",
];

const VERSIONS: &[&str] = &["HTTP/1.1", "HTTP/1.1", "HTTP/1.0", "HTTP/1.2", "HTTP/1.01"];

const LM: &str = "Tue, 14 Nov 2023 22:13:20 GMT";

/// The header pool; `{etag}` is the target's ETag, `{lm}` its Last-Modified.
const HEADERS: &[&str] = &[
    "Range: bytes=0-3",
    "Range: bytes=-5",
    "Range: bytes=15-",
    "Range: bytes=0-1,5-6",
    "Range: bytes=5-2,0-1",
    "Range: bytes=0-100,0-100",
    "Range: bytes=0-0,0-0,0-0",
    "Range: bytes=x",
    "Range: items=1-2",
    "Range: BYTES=1-2",
    "Range: bytes= 1 - 2",
    "Range: bytes=0-1,,3-4",
    "Range: bytes=30-40",
    "Range: bytes=-0",
    "If-Range: {etag}",
    "If-Range: \"stale\"",
    "If-Range: {lm}",
    "If-Range: W/{etag}",
    "If-None-Match: *",
    "If-None-Match: {etag}",
    "If-None-Match: W/{etag}",
    "If-None-Match: \"x\"",
    "If-None-Match: \"x\", {etag}",
    "If-Match: *",
    "If-Match: \"x\"",
    "If-Match: {etag}",
    "If-Modified-Since: {lm}",
    "If-Modified-Since: Wed, 15 Nov 2023 22:13:20 GMT",
    "If-Modified-Since: Mon, 13 Nov 2023 22:13:20 GMT",
    "If-Modified-Since: garbage",
    "If-Modified-Since: Tue Nov 14 22:13:20 2023",
    "If-Modified-Since: Tuesday, 14-Nov-23 22:13:20 GMT",
    "If-Unmodified-Since: {lm}",
    "If-Unmodified-Since: Mon, 13 Nov 2023 22:13:20 GMT",
    "If-Unmodified-Since: garbage",
    "Accept-Encoding: gzip",
    "Accept-Encoding: gzip;q=0",
    "Accept-Encoding: GZIP",
    "Accept-Encoding: deflate, gzip",
    "Accept-Encoding: *, x-gzip",
    "Accept-Encoding: gzip;q=0.5",
    "Accept-Encoding: gzip; q=1.0, br",
    "Via: 1.1 proxy",
    "User-Agent: Mozilla/5.0",
    "X_Under: score",
    "X@Bad: name",
    "garbage line",
    "Expect: 100-continue",
];

/// Bodies for methods that may carry one (with their framing headers).
const BODIES: &[&str] = &[
    "",
    "Content-Length: 3\r\n\r\nabc",
    "Content-Length: 0\r\n\r\n",
    "Transfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n",
    "Transfer-Encoding: chunked\r\n\r\n3;ext\r\nabc\r\n0\r\nTrailer: x\r\n\r\n",
    "Content-Length: 5000\r\n\r\n",
    "Transfer-Encoding: gzip\r\n\r\n",
    "Content-Length: 1\r\nContent-Length: 1\r\n\r\nx",
];

fn request(method: &str, version: &str, target: &str, headers: &[&str], body: &str) -> String {
    let etag = TARGETS
        .iter()
        .find(|(t, _)| *t == target)
        .map_or("\"x\"", |(_, e)| e);
    let mut r = format!("{method} {target} {version}\r\nHost: localhost\r\nConnection: close\r\n");
    for h in headers {
        r.push_str(&h.replace("{etag}", etag).replace("{lm}", LM));
        r.push_str("\r\n");
    }
    if body.is_empty() {
        r.push_str("\r\n");
    } else {
        r.push_str(body);
    }
    r
}

pub fn cases() -> Vec<String> {
    let mut out = Vec::new();
    // Every header once on a file with ranges and validators, and once on a generated answer.
    for h in HEADERS {
        out.push(request("GET", "HTTP/1.1", "/digits.txt", &[h], ""));
        out.push(request("HEAD", "HTTP/1.1", "/600", &[h], ""));
    }
    // Every method, version and target once with a plain request.
    for m in METHODS {
        for (t, _) in TARGETS {
            if METHODS.iter().position(|x| x == m) == METHODS.iter().rposition(|x| x == m) {
                out.push(request(m, "HTTP/1.1", t, &[], ""));
            }
        }
    }
    for v in VERSIONS {
        out.push(request("GET", v, "/hello.txt", &["Range: bytes=1-3"], ""));
    }
    // Then a deterministic sample of the whole product.
    let mut rng = Rng(0x2545_f491_4f6c_dd1d);
    let targets: Vec<&str> = TARGETS.iter().map(|(t, _)| *t).collect();
    for _ in 0..320 {
        let method = rng.pick(METHODS);
        let version = rng.pick(VERSIONS);
        let target = rng.pick(&targets);
        let n = rng.below(4);
        let headers: Vec<&str> = (0..n).map(|_| rng.pick(HEADERS)).collect();
        let body = match method {
            "POST" | "PUT" | "PATCH" | "GET" => rng.pick(BODIES),
            _ => "",
        };
        out.push(request(method, version, target, &headers, body));
    }
    out
}
