//! Fuzz harnesses: each function takes arbitrary bytes, drives one parser or the whole
//! service, and panics only when an invariant breaks. The cargo-fuzz targets in the
//! repository's `fuzz/` call them, and `tests/fuzz_regressions.rs` replays the seed corpora
//! and every crash found (`fuzz/regressions/<target>/`) through the same functions.
//!
//! - [`head`]: request heads and body framing, whole and resumed at a split.
//! - [`chunked`]: the chunked body decoder, whole and in pieces.
//! - [`range`]: Range, If-Range and conditional evaluation, and nginx's date parser.
//! - [`uri`]: target normalisation, server selection and location matching.
//! - [`config`]: the configuration as `fs-httpd -t` checks it.
//! - [`conn`]: byte streams in arbitrary splits, with timers, through [`crate::service::Httpd`].

mod conn;

use std::path::Path;
use std::sync::{Arc, OnceLock};

use bytes::Bytes;

use crate::config::{self, Config, ImsMode};
use crate::handler;
use crate::request::{self, Body, Chunked, Limits, Progress, Reject};
use crate::response::{self, Part, Ranges};
pub use conn::conn;

/// The outcome of a parse, comparable between a whole and a resumed parse.
pub fn outcome(r: Result<(request::Head, usize), Reject>) -> Result<(String, usize), Reject> {
    r.map(|(h, n)| (h.summary(), n))
}

/// Byte 0 picks the limits and a split; the rest is a request head (and what follows it).
pub fn head(data: &[u8]) {
    let Some((&sel, input)) = data.split_first() else {
        return;
    };
    let limits = Limits {
        line: 64 + usize::from(sel % 4) * 512,
        total: 4096,
    };
    let buf = Bytes::copy_from_slice(input);
    let whole = request::parse(&buf, limits);
    let split = usize::from(sel) * 7919 % (input.len() + 1);
    let mut progress = Progress::default();
    let resumed = match progress.parse(&buf.slice(..split), limits) {
        Err(Reject::Incomplete) => progress.parse(&buf, limits),
        other => other,
    };
    let (whole, resumed) = (outcome(whole), outcome(resumed));
    assert_eq!(whole, resumed, "a split changed the outcome");
    let Ok((head, len)) = request::parse(&buf, limits) else {
        return;
    };
    assert!(len <= input.len());
    assert!(!head.line().contains(&b'\n') && head.line().len() <= limits.line);
    let _ = (
        head.target(),
        head.method_name(),
        handler::request_host(&head),
    );
    // The head alone parses to the same head.
    assert_eq!(outcome(request::parse(&buf.slice(..len), limits)), whole);
    if head.body == Body::Chunked {
        let _ = Chunked::default().feed(&input[len..]);
    }
}

/// The input is a chunked body; byte 0 seeds the piece sizes of a second, piecewise decode.
pub fn chunked(data: &[u8]) {
    let Some((&seed, body)) = data.split_first() else {
        return;
    };
    let mut whole = Chunked::default();
    let expect = whole
        .feed(body)
        .map(|(used, done)| (used, done, whole.total));
    let mut pieces = Chunked::default();
    let (mut at, mut step) = (0, usize::from(seed % 7) + 1);
    let got = loop {
        let end = (at + step).min(body.len());
        match pieces.feed(&body[at..end]) {
            Err(e) => break Err(e),
            Ok((used, true)) => break Ok((at + used, true, pieces.total)),
            Ok((used, false)) => {
                assert_eq!(used, end - at, "an unfinished body consumes all input");
                at = end;
                if at == body.len() {
                    break Ok((at, false, pieces.total));
                }
            }
        }
        step = step * 5 % 13 + 1;
    };
    assert_eq!(expect, got, "pieces changed the outcome");
    if let Ok((used, _, _)) = expect {
        assert!(used <= body.len());
    }
}

/// Bytes 0-7: the file length; byte 8: max_ranges (0: unlimited); then newline-separated
/// values of Range, If-Range, If-Match, If-None-Match, If-Modified-Since, If-Unmodified-Since.
pub fn range(data: &[u8]) {
    if data.len() < 9 {
        return;
    }
    let len = u64::from_le_bytes(data[..8].try_into().unwrap_or_default()) >> (data[8] % 64);
    let max_ranges = data[8].checked_sub(1).map(u32::from);
    let values: Vec<Vec<u8>> = data[9..]
        .split(|&b| b == b'\n')
        .map(|v| v.iter().map(|&b| if b < 0x20 { b' ' } else { b }).collect())
        .collect();
    let value = |i: usize| values.get(i).map(Vec::as_slice).unwrap_or_default();
    match response::parse_ranges(value(0), len, max_ranges) {
        Ranges::Partial(list) => {
            assert!(!list.is_empty());
            assert!(
                list.iter().all(|&(f, l)| f <= l && l < len),
                "{list:?} of {len}"
            );
            let sum: u64 = list.iter().map(|&(f, l)| l - f + 1).sum();
            assert!(sum <= len, "ranges larger than the file are sent whole");
            assert!(max_ranges.is_none_or(|m| list.len() <= m as usize));
            let (parts, body_len) =
                response::multipart("00000000000000000001", "text/plain", len, &list, |_, n| {
                    Part::Bytes(Bytes::from(vec![0; n.min(64) as usize]))
                });
            let headers: u64 = parts.iter().step_by(2).map(Part::byte_len).sum::<u64>();
            assert_eq!(body_len, headers + sum);
        }
        Ranges::Full | Ranges::Unsatisfiable => {}
    }
    let mut raw = b"GET / HTTP/1.1\r\nHost: a\r\n".to_vec();
    for (i, name) in [
        "Range",
        "If-Range",
        "If-Match",
        "If-None-Match",
        "If-Modified-Since",
        "If-Unmodified-Since",
    ]
    .iter()
    .enumerate()
    {
        if let Some(v) = values.get(i) {
            raw.extend_from_slice(format!("{name}: ").as_bytes());
            raw.extend_from_slice(v);
            raw.extend_from_slice(b"\r\n");
        }
    }
    raw.extend_from_slice(b"\r\n");
    let limits = Limits {
        line: 1 << 16,
        total: 1 << 18,
    };
    let mtime = len as i64;
    for v in &values {
        let _ = response::parse_http_time(v);
    }
    if let Ok((head, _)) = request::parse(&Bytes::from(raw), limits) {
        let etag = format!("\"{mtime:x}-{len:x}\"");
        for ims in [ImsMode::Off, ImsMode::Exact, ImsMode::Before] {
            let _ = response::preconditions(&head, Some(&etag), Some(mtime), ims);
            let _ = response::preconditions(&head, None, None, ims);
        }
        if let Some(v) = head.if_range() {
            let _ = response::if_range_holds(v, Some(&etag), Some(mtime));
        }
    }
}

/// A request target: normalised, then used to choose a server and a location.
pub fn uri(data: &[u8]) {
    let cfg = routing_config();
    for merge in [true, false] {
        let Ok(n) = crate::uri::normalize(data, merge) else {
            continue;
        };
        let path = &n.path[..];
        assert!(path.starts_with(b"/") && !path.contains(&0), "{path:?}");
        let segments: Vec<&[u8]> = path[1..].split(|&b| b == b'/').collect();
        assert!(
            !segments.iter().any(|s| *s == b"." || *s == b".."),
            "dot segments left in {path:?}"
        );
        if merge {
            assert!(!path.windows(2).any(|w| w == b"//"), "{path:?}");
        }
        let server = handler::select_server(cfg, 0, &request::host_name(data));
        let _ = handler::find_location(&server.locations, path);
    }
}

/// Configuration text, checked as `fs-httpd -t` does.
pub fn config(data: &[u8]) {
    let text = String::from_utf8_lossy(data).into_owned();
    let _ = config::parse(Path::new("/nonexistent/fuzz/httpd.toml"), text);
}

/// A configuration with every kind of server name and location.
fn routing_config() -> &'static Config {
    static CFG: OnceLock<Arc<Config>> = OnceLock::new();
    CFG.get_or_init(|| Arc::new(conn::load(ROUTING)))
}

const ROUTING: &str = r#"
[[server]]
listen = ["127.0.0.1:80"]
server_name = ["localhost", "*.wild.test", "pre.*", "~^re[0-9]+\\.test$"]
[[server.location]]
match = "= /exact"
[[server.location]]
match = "/prefix/"
[[server.location.location]]
match = "/prefix/inner/"
[[server.location]]
match = "^~ /stop/"
[[server.location]]
match = "~ \\.(js|css)$"
[[server.location]]
match = "~* /CASE/"
[[server.location]]
match = "@named"
[[server]]
listen = ["127.0.0.1:80"]
server_name = ["other.test"]
"#;
