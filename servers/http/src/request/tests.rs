use super::*;

const LIMITS: Limits = Limits {
    line: 1024,
    total: 4096,
};

fn head(raw: &str) -> Result<Head, Reject> {
    parse(&Bytes::copy_from_slice(raw.as_bytes()), LIMITS).map(|(h, _)| h)
}

use crate::fuzzing::outcome;

fn status(raw: &str) -> u16 {
    match head(raw) {
        Ok(_) => 200,
        Err(Reject::Status(s)) => s,
        Err(Reject::Incomplete) => 0,
    }
}

#[test]
fn parses_values_and_framing() {
    let h = head("GET /a?b HTTP/1.1\r\nhost: Example.com:80\r\nRange: bytes=0-1\r\nContent-Length: 007\r\n\r\n").unwrap();
    assert_eq!(
        (h.method, h.minor, h.keep_alive, h.body),
        (Method::Get, 1, true, Body::Length(7))
    );
    assert_eq!(h.host(), Some(&b"Example.com:80"[..]));
    assert_eq!(h.range(), Some(&b"bytes=0-1"[..]));
    assert_eq!(&h.target()[..], b"/a?b");
    assert_eq!(h.line(), b"GET /a?b HTTP/1.1");
    assert_eq!(h.method_name(), b"GET");
    assert_eq!(host_name(h.host().unwrap()), "example.com");
    let h = head(
        "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n",
    )
    .unwrap();
    assert_eq!(
        (h.method, h.body, h.keep_alive),
        (Method::Post, Body::Chunked, false)
    );
    assert_eq!(
        head("GET / HTTP/1.1\r\nHost: a").unwrap_err(),
        Reject::Incomplete
    );
    // Values lose surrounding spaces, not tabs; the first of a repeated header counts.
    let h = head("GET / HTTP/1.1\r\nHost:a\r\nRange:  bytes=1-2  \r\nRange: bytes=3-4\r\nReferer:\tx\r\n\r\n").unwrap();
    assert_eq!(h.range(), Some(&b"bytes=1-2"[..]));
    assert_eq!(h.referer(), Some(&b"\tx"[..]));
    // Absolute form: the authority is the request's host, the path what follows it.
    let h = head("GET HTTP://Example.com:8080/p?q HTTP/1.1\r\nHost: other\r\n\r\n").unwrap();
    assert_eq!(h.authority(), Some(&b"Example.com"[..]));
    assert_eq!(&h.target()[..], b"/p?q");
    let h = head("GET http://h?q HTTP/1.1\r\nHost: other\r\n\r\n").unwrap();
    assert_eq!(&h.target()[..], b"/?q");
    let h = head("GET http://[::1] HTTP/1.1\r\nHost: other\r\n\r\n").unwrap();
    assert_eq!(
        (h.authority(), &h.target()[..]),
        (Some(&b"[::1]"[..]), &b"/"[..])
    );
}

#[test]
fn keep_alive_follows_version_and_connection_words() {
    let ka = |raw: &str| head(raw).unwrap().keep_alive;
    assert!(ka("GET / HTTP/1.1\r\nHost: a\r\n\r\n"));
    assert!(!ka("GET / HTTP/1.0\r\n\r\n"));
    assert!(ka("GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n"));
    // nginx finds the words anywhere in the value, "close" first.
    assert!(!ka(
        "GET / HTTP/1.1\r\nHost: a\r\nConnection: xclosex\r\n\r\n"
    ));
    assert!(!ka(
        "GET / HTTP/1.0\r\nConnection: close, keep-alive\r\n\r\n"
    ));
    assert!(ka(
        "GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\nConnection: keep-alive\r\n\r\n"
    ));
    assert!(ka(
        "GET / HTTP/1.1\r\nHost: a\r\nConnection: upgrade\r\n\r\n"
    ));
}

#[test]
fn refuses_ambiguous_framing() {
    for raw in [
        "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\nContent-Length: 1\r\n\r\n",
        "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1, 1\r\n\r\n",
        "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: -1\r\n\r\n",
        "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: +1\r\n\r\n",
        "POST / HTTP/1.1\r\nHost: a\r\nContent-Length:\r\n\r\n",
        "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 9223372036854775808\r\n\r\n",
        "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 99999999999999999999\r\n\r\n",
        "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n",
        "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked, chunked\r\n\r\n",
        "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked, gzip\r\n\r\n",
        "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n",
        "POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n",
    ] {
        assert_eq!(head(raw).unwrap_err(), Reject::Status(400), "{raw:?}");
    }
    assert_eq!(
        head("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 9223372036854775807\r\n\r\n")
            .unwrap()
            .body,
        Body::Length(i64::MAX as u64)
    );
    for raw in [
        "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip, chunked\r\n\r\n",
        "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip\r\n\r\n",
        "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip\r\nContent-Length: 1\r\n\r\n",
    ] {
        assert_eq!(head(raw).unwrap_err(), Reject::Status(501), "{raw:?}");
    }
}

#[test]
fn limits_give_414_and_400() {
    let long_line = format!("GET /{} HTTP/1.1\r\nHost: a\r\n\r\n", "x".repeat(2000));
    assert_eq!(head(&long_line).unwrap_err(), Reject::Status(414));
    let partial_long_line = format!("GET /{}", "x".repeat(2000));
    assert_eq!(head(&partial_long_line).unwrap_err(), Reject::Status(414));
    let long_header = format!(
        "GET / HTTP/1.1\r\nHost: a\r\nX: {}\r\n\r\n",
        "x".repeat(2000)
    );
    assert_eq!(head(&long_header).unwrap_err(), Reject::Status(400));
    let partial_header = format!("GET / HTTP/1.1\r\nHost: a\r\nX: {}", "x".repeat(2000));
    assert_eq!(head(&partial_header).unwrap_err(), Reject::Status(400));
    let many = format!(
        "GET / HTTP/1.1\r\nHost: a\r\n{}\r\n",
        "X-Pad: 0123456789\r\n".repeat(300)
    );
    assert_eq!(head(&many).unwrap_err(), Reject::Status(400));
}

/// What nginx 1.22 answers to each request line (measured against Debian's nginx).
#[test]
fn request_lines_like_nginx() {
    let ok = 200;
    for (line, want) in [
        ("GET / HTTP/1.1", ok),
        ("GET  /  HTTP/1.1", ok),
        ("GET / HTTP/1.1 ", ok),
        ("GET / HTTP/1.1  ", ok),
        ("GET / HTTP/1.2", ok),
        ("GET / HTTP/1.32", ok),
        ("GET / HTTP/1.01", ok),
        ("GET / HTTP/1.100", ok),
        ("GET /\u{80} HTTP/1.1", ok),
        ("GET /a#b?c HTTP/1.1", ok),
        ("F_O-O / HTTP/1.1", ok),
        ("GET ftp://h/x HTTP/1.1", ok),
        ("GET http://h:80 HTTP/1.1", ok),
        ("GET http://[::1]:8/x HTTP/1.1", ok),
        ("GET / HTTP/1.1000", 400),
        ("GET / HTTP/01.1", 400),
        ("GET / HTTP/1", 400),
        ("GET / HTTP/1.", 400),
        ("GET / http/1.1", 400),
        ("GET / HTTP/1.1x", 400),
        ("GET /a b HTTP/1.1", 400),
        ("GET /a\tb HTTP/1.1", 400),
        ("GET\t/ HTTP/1.1", 400),
        ("GET /\u{7f} HTTP/1.1", 400),
        (" GET / HTTP/1.1", 400),
        ("get / HTTP/1.1", 400),
        ("GET * HTTP/1.1", 400),
        ("GET h/ HTTP/1.1", 400),
        ("GET http://a..b/ HTTP/1.1", 400),
        ("GET http://a_b/ HTTP/1.1", 400),
        ("GET http:///x HTTP/1.1", 400),
        ("GET http://h:x/ HTTP/1.1", 400),
        ("GET http://[::1]x/ HTTP/1.1", 400),
        ("GET / HTTP/2.0", 505),
        ("GET / HTTP/10.1", 505),
        ("GET / HTTP/9", 505),
        // HTTP/0.9 is refused (deliberate deviation: nginx answers it).
        ("GET /", 400),
        ("GET / ", 400),
    ] {
        let raw = format!("{line}\r\nHost: a\r\n\r\n");
        assert_eq!(status(&raw), want, "{line:?}");
    }
    // Empty lines before the request line are skipped; CR CR LF ends no request line.
    assert_eq!(status("\r\n\n\rGET / HTTP/1.1\r\nHost: a\r\n\r\n"), ok);
    assert_eq!(status("GET / HTTP/1.1\r\r\nHost: a\r\n\r\n"), 400);
    assert_eq!(status("GET / HTTP/1.1\nHost: a\n\n"), ok);
}

/// Header lines as nginx 1.22 treats them (measured against Debian's nginx).
#[test]
fn header_lines_like_nginx() {
    let ok = 200;
    for (lines, want) in [
        ("X@Y: z", ok),      // invalid name: ignored
        ("X_Y: z", ok),      // underscore: ignored (underscores_in_headers off)
        ("garbage", ok),     // no colon: a header with an empty value
        ("X: \u{1}", ok),    // control bytes other than NUL are kept in values
        ("X: a\r\r", ok),    // CRs may repeat before the LF
        ("Host : a", 400),   // whitespace before the colon
        ("X: a\r\n b", 400), // obs-fold
        (": a", 400),        // no name
        ("X\tY: a", 400),    // control byte in the name
        ("X: a\rb", 400),    // bare CR
        ("X: a\0", 400),     // NUL
        ("Host", 400),       // a Host without value is an invalid host
        ("Host:", 400),
        ("Host: a\r\nHost: b", 400),
        ("If-Match: \"a\"\r\nIf-Match: \"b\"", 400),
        ("If-Range: \"a\"\r\nIf-Range: \"b\"", 400),
        ("If-None-Match: *\r\nIf-None-Match: *", 400),
        ("Expect: x\r\nExpect: x", 400),
        ("Authorization: a\r\nAuthorization: b", 400),
        ("Range: bytes=0-1\r\nRange: bytes=0-2", ok),
    ] {
        let host = if lines.starts_with("Host") {
            ""
        } else {
            "Host: a\r\n"
        };
        let raw = format!("GET / HTTP/1.1\r\n{host}{lines}\r\n\r\n");
        assert_eq!(status(&raw), want, "{lines:?}");
    }
    assert_eq!(status("GET / HTTP/1.1\r\nHost: a\r\n\r\r\n"), 400);
    for host in ["a\\b", "a:", "[::1]:80", "a.", "xn--d.example"] {
        assert!(valid_host(host.as_bytes()), "{host}");
    }
    for host in ["", ":80", ".", "a..b", "a/b", "a b", "\ta", "a\u{7f}"] {
        assert!(!valid_host(host.as_bytes()), "{host}");
    }
    // An HTTP/1.1 request needs Host even with an absolute-form target; 1.0 does not.
    assert_eq!(status("GET http://h/ HTTP/1.1\r\n\r\n"), 400);
    assert_eq!(status("GET / HTTP/1.0\r\n\r\n"), ok);
    assert_eq!(status("TRACE / HTTP/1.1\r\nHost: a\r\n\r\n"), 405);
    assert_eq!(status("CONNECT / HTTP/1.1\r\nHost: a\r\n\r\n"), 405);
}

/// A space inside the target made parse() and reparse_version() call each other until the
/// stack overflowed and the process aborted (fuzzing found it).
#[test]
fn spaces_in_the_request_line_are_refused_not_recursed() {
    for raw in [
        "GET /index .html HTTP/1.1\r\nHost: a\r\n\r\n",
        "GET / X HTTP/1.1\r\nHost: a\r\n\r\n",
        "GET /a b HTTP/1.5\r\nHost: a\r\n\r\n",
        "GET /a b HTTP/1.0\r\n\r\n",
        "GET / X HTTP/1.1\r\nHost: a\r\n",
    ] {
        assert_eq!(head(raw).unwrap_err(), Reject::Status(400), "{raw:?}");
    }
}

/// A head fed in pieces gives the same outcome as the whole head, at every split.
#[test]
fn heads_resume_where_they_stopped() {
    for raw in [
        "\r\nGET /a?b HTTP/1.1\r\nHost: x\r\nRange: bytes=1-2\r\nIf-Match: *\r\n\r\nREST",
        "GET http://[::1]:80/p HTTP/1.0\nConnection: keep-alive\n\n",
        "GET / HTTP/1.1\r\nHost: a\r\nX@: y\r\nZ: w\r\r\n\r\n",
        "GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n",
        "GET /a b HTTP/1.1\r\n",
    ] {
        let whole = outcome(parse(&Bytes::from(raw), LIMITS));
        for split in 1..raw.len() {
            let mut p = Progress::default();
            let first = p.parse(&Bytes::from(&raw[..split]), LIMITS);
            let got = match first {
                Err(Reject::Incomplete) => p.parse(&Bytes::from(raw), LIMITS),
                other => other,
            };
            assert_eq!(outcome(got), whole, "{raw:?} split at {split}");
        }
    }
}

/// Random bytes, mutated valid heads and random splits: the parser returns, and a split never
/// changes the outcome.
#[test]
fn garbage_never_panics() {
    let mut seed = 0x9e37_79b9_7f4a_7c15u64;
    let mut next = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    let valid: &[&[u8]] = &[
        b"GET /a?b HTTP/1.1\r\nHost: x\r\nRange: bytes=0-1\r\nContent-Length: 3\r\n\r\n",
        b"POST http://h:1/ HTTP/1.0\r\nTransfer-Encoding: chunked\r\nConnection: keep-alive\r\n\r\n",
    ];
    let alphabet = b" \r\n\t:/?.%HTP10-_[]\x00\x7f\xff";
    for round in 0..20_000 {
        let mut input = valid[round % valid.len()].to_vec();
        for _ in 0..1 + next() % 4 {
            let at = (next() as usize) % input.len();
            match next() % 4 {
                0 => input[at] = alphabet[(next() as usize) % alphabet.len()],
                1 => input[at] = next() as u8,
                2 => input.insert(at, alphabet[(next() as usize) % alphabet.len()]),
                _ => {
                    input.remove(at);
                }
            }
            if input.is_empty() {
                input.push(b'G');
            }
        }
        if round % 10 == 0 {
            input = (0..next() % 200).map(|_| next() as u8).collect();
        }
        let buf = Bytes::from(input.clone());
        let whole = outcome(parse(&buf, LIMITS));
        let split = (next() as usize) % (input.len() + 1);
        let mut p = Progress::default();
        let got = outcome(match p.parse(&buf.slice(..split), LIMITS) {
            Err(Reject::Incomplete) => p.parse(&buf, LIMITS),
            other => other,
        });
        assert_eq!(
            got,
            whole,
            "{:?} split at {split}",
            String::from_utf8_lossy(&input)
        );
    }
}
