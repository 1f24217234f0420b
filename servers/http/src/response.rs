//! Building responses: status lines, headers in nginx's order, error pages, conditional
//! requests (RFC 9110 §13) and byte ranges (RFC 9110 §14).

use std::sync::Arc;
use std::time::SystemTime;

use bytes::{Bytes, BytesMut};

use crate::config::Settings;
use crate::files::{unix_secs, FileInfo};
use crate::request::Head;

/// A body part: memory (referenced, never copied) or a slice of a file too large to cache.
#[derive(Debug, Clone)]
pub enum Part {
    Bytes(Bytes),
    File {
        info: std::rc::Rc<FileInfo>,
        offset: u64,
        len: u64,
    },
}

impl Part {
    pub fn byte_len(&self) -> u64 {
        match self {
            Part::Bytes(b) => b.len() as u64,
            Part::File { len, .. } => *len,
        }
    }
}

/// A response ready to send: its head and body parts.
#[derive(Debug, Default, Clone)]
pub struct Reply {
    pub status: u16,
    /// Status line and headers, a slice of the handler's head arena.
    pub head: Bytes,
    pub body: Parts,
    /// Close the connection after this response.
    pub close: bool,
    /// Body bytes, for the access log (0 for HEAD).
    pub body_len: u64,
}

/// A response body's parts: almost always one, kept inline (no allocation per response).
pub type Parts = smallvec::SmallVec<[Part; 1]>;

pub fn reason(code: u16) -> &'static str {
    match code {
        100 => "Continue",
        200 => "OK",
        201 => "Created",
        204 => "No Content",
        206 => "Partial Content",
        301 => "Moved Permanently",
        302 => "Moved Temporarily",
        303 => "See Other",
        304 => "Not Modified",
        307 => "Temporary Redirect",
        308 => "Permanent Redirect",
        400 => "Bad Request",
        401 => "Unauthorized",
        402 => "Payment Required",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Not Allowed",
        406 => "Not Acceptable",
        408 => "Request Time-out",
        409 => "Conflict",
        410 => "Gone",
        411 => "Length Required",
        412 => "Precondition Failed",
        413 => "Request Entity Too Large",
        414 => "Request-URI Too Large",
        415 => "Unsupported Media Type",
        416 => "Requested Range Not Satisfiable",
        421 => "Misdirected Request",
        429 => "Too Many Requests",
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        501 => "Not Implemented",
        502 => "Bad Gateway",
        503 => "Service Temporarily Unavailable",
        504 => "Gateway Time-out",
        505 => "HTTP Version Not Supported",
        507 => "Insufficient Storage",
        _ => "",
    }
}

/// The `Date` header value, rendered once per second and shared by every response of that second.
#[derive(Default)]
pub struct DateCache {
    secs: i64,
    text: Option<std::rc::Rc<str>>,
}

impl DateCache {
    pub fn get(&mut self, now: SystemTime) -> std::rc::Rc<str> {
        let secs = unix_secs(now);
        match &self.text {
            Some(t) if secs == self.secs => t.clone(),
            _ => {
                self.secs = secs;
                let text: std::rc::Rc<str> = httpdate::fmt_http_date(now).into();
                self.text = Some(text.clone());
                text
            }
        }
    }
}

/// Bytes the head arena gets at a time: heads are written into one shared buffer and split
/// off as `Bytes`, so a response costs a reference count instead of an allocation.
const HEAD_ARENA: usize = 16 * 1024;
/// Room a head may need without the arena growing mid-head.
const HEAD_ROOM: usize = 2048;

/// What a fixed response depends on besides its location's settings and the second (the
/// `Date`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RenderKey<'a> {
    pub content_type: &'a str,
    pub keep_alive: bool,
    pub head_only: bool,
}

struct Rendered {
    /// Held so that the address compared on lookup cannot be reused while the entry lives.
    settings: Arc<Settings>,
    content_type: String,
    keep_alive: bool,
    head_only: bool,
    reply: Reply,
}

/// Responses with fixed bodies (`return CODE text`) built once per second: a further request
/// for one costs reference counts instead of formatting a head (one per worker, no lock).
#[derive(Default)]
pub struct RenderCache {
    secs: i64,
    entries: Vec<Rendered>,
}

/// Entries per second at most (a few per `return` location in practice).
const RENDER_CACHE_MAX: usize = 64;

impl RenderCache {
    /// The response for `settings` and `key` built this second, if any.
    pub fn get(
        &mut self,
        now: SystemTime,
        settings: &Arc<Settings>,
        key: RenderKey,
    ) -> Option<Reply> {
        let secs = unix_secs(now);
        if secs != self.secs {
            self.secs = secs;
            self.entries.clear();
            return None;
        }
        self.entries
            .iter()
            .find(|e| {
                Arc::ptr_eq(&e.settings, settings)
                    && e.keep_alive == key.keep_alive
                    && e.head_only == key.head_only
                    && e.content_type == key.content_type
            })
            .map(|e| e.reply.clone())
    }

    /// Keeps `reply` for the rest of the second and returns it.
    pub fn insert(&mut self, settings: &Arc<Settings>, key: RenderKey, reply: Reply) -> Reply {
        if self.entries.len() < RENDER_CACHE_MAX {
            self.entries.push(Rendered {
                settings: settings.clone(),
                content_type: key.content_type.to_string(),
                keep_alive: key.keep_alive,
                head_only: key.head_only,
                reply: reply.clone(),
            });
        }
        reply
    }
}

/// Writes a status line and the headers every response carries into the head arena;
/// [`HeadWriter::end`] splits the finished head off.
pub struct HeadWriter<'a> {
    pub out: &'a mut BytesMut,
    /// The blank line that ends the headers is written.
    ended: bool,
}

impl HeadWriter<'_> {
    pub fn start<'o>(
        out: &'o mut BytesMut,
        code: u16,
        server_tokens: bool,
        date: &str,
    ) -> HeadWriter<'o> {
        debug_assert!(out.is_empty(), "a head left unfinished in the arena");
        if out.capacity() < HEAD_ROOM {
            out.reserve(HEAD_ARENA);
        }
        match code {
            200 => out.extend_from_slice(b"HTTP/1.1 200 OK\r\n"),
            _ => {
                out.extend_from_slice(b"HTTP/1.1 ");
                push_decimal(out, u64::from(code));
                out.extend_from_slice(b" ");
                out.extend_from_slice(reason(code).as_bytes());
                out.extend_from_slice(b"\r\n");
            }
        }
        out.extend_from_slice(if server_tokens {
            concat!("Server: fs-httpd/", env!("CARGO_PKG_VERSION"), "\r\n").as_bytes()
        } else {
            b"Server: fs-httpd\r\n"
        });
        let mut w = HeadWriter { out, ended: false };
        w.header("Date", date);
        w
    }

    pub fn header(&mut self, name: &str, value: &str) {
        self.out.extend_from_slice(name.as_bytes());
        self.out.extend_from_slice(b": ");
        self.out.extend_from_slice(value.as_bytes());
        self.out.extend_from_slice(b"\r\n");
    }

    pub fn number(&mut self, name: &str, value: u64) {
        self.out.extend_from_slice(name.as_bytes());
        self.out.extend_from_slice(b": ");
        push_decimal(self.out, value);
        self.out.extend_from_slice(b"\r\n");
    }

    pub fn connection(&mut self, keep_alive: bool, minor: u8) {
        match (keep_alive, minor) {
            (true, 0) => self.header("Connection", "keep-alive"),
            (true, _) => self.header("Connection", "keep-alive"),
            (false, _) => self.header("Connection", "close"),
        }
    }

    /// Ends the head and takes it (with a body appended by [`HeadWriter::body`]) out of the
    /// arena.
    pub fn end(mut self) -> Bytes {
        self.end_headers();
        self.out.split().freeze()
    }

    /// Ends the headers and appends a small body in the same buffer.
    pub fn body(&mut self, body: &[u8]) {
        self.end_headers();
        self.out.extend_from_slice(body);
    }

    fn end_headers(&mut self) {
        if !self.ended {
            self.out.extend_from_slice(b"\r\n");
            self.ended = true;
        }
    }
}

fn push_decimal(out: &mut BytesMut, mut n: u64) {
    let mut digits = [0u8; 20];
    let mut i = digits.len();
    loop {
        i -= 1;
        digits[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    out.extend_from_slice(&digits[i..]);
}

/// nginx's built-in error page body (its tail names the server only with server_tokens on).
pub fn error_body(code: u16, server_tokens: bool) -> Bytes {
    let title = format!("{} {}", code, reason(code));
    let tail = if server_tokens {
        concat!("fs-httpd/", env!("CARGO_PKG_VERSION"))
    } else {
        "fs-httpd"
    };
    Bytes::from(format!(
        "<html>\r\n<head><title>{title}</title></head>\r\n<body>\r\n<center><h1>{title}</h1></center>\r\n<hr><center>{tail}</center>\r\n</body>\r\n</html>\r\n"
    ))
}

/// Statuses whose built-in page nginx sends (others get an empty body).
pub fn has_error_page(code: u16) -> bool {
    (301..=308).contains(&code) && code != 304 || (400..=599).contains(&code)
}

/// The outcome of the preconditions of RFC 9110 §13.2.2.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Precondition {
    Proceed,
    NotModified,
    Failed,
}

/// `If-Modified-Since` semantics (nginx's `if_modified_since`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ims {
    Off,
    Exact,
    Before,
}

pub fn preconditions(
    head: &Head,
    etag: Option<&str>,
    mtime: i64,
    ims: Ims,
    get_or_head: bool,
) -> Precondition {
    if let Some(im) = head.if_match() {
        if !etag_list_matches(im, etag, true) {
            return Precondition::Failed;
        }
    } else if let Some(date) = head.if_unmodified_since().and_then(parse_date) {
        if mtime > date {
            return Precondition::Failed;
        }
    }
    if let Some(inm) = head.if_none_match() {
        if etag_list_matches(inm, etag, false) {
            return if get_or_head {
                Precondition::NotModified
            } else {
                Precondition::Failed
            };
        }
    } else if get_or_head && ims != Ims::Off {
        if let Some(date) = head.if_modified_since().and_then(parse_date) {
            let unchanged = match ims {
                Ims::Exact => mtime == date,
                _ => mtime <= date,
            };
            if unchanged {
                return Precondition::NotModified;
            }
        }
    }
    Precondition::Proceed
}

fn parse_date(v: &[u8]) -> Option<i64> {
    let text = std::str::from_utf8(v).ok()?;
    httpdate::parse_http_date(text.trim()).ok().map(unix_secs)
}

/// Does an `If-Match`/`If-None-Match` list match the current tag? `strong` forbids weak tags.
fn etag_list_matches(list: &[u8], etag: Option<&str>, strong: bool) -> bool {
    let list = std::str::from_utf8(list).unwrap_or("").trim();
    if list == "*" {
        return true;
    }
    let Some(current) = etag else { return false };
    let opaque = |t: &str| t.strip_prefix("W/").unwrap_or(t).to_string();
    list.split(',').map(str::trim).any(|t| {
        if strong && (t.starts_with("W/") || current.starts_with("W/")) {
            return false;
        }
        opaque(t) == opaque(current)
    })
}

/// `If-Range`: a strong ETag match or a date exactly equal to Last-Modified.
pub fn if_range_holds(value: &[u8], etag: Option<&str>, mtime: i64) -> bool {
    let text = std::str::from_utf8(value).unwrap_or("").trim();
    if text.starts_with('"') || text.starts_with("W/") {
        return etag.is_some_and(|e| !text.starts_with("W/") && e == text);
    }
    parse_date(value) == Some(mtime)
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ranges {
    /// No usable Range header: send the whole representation.
    Full,
    /// Inclusive byte ranges, in request order.
    Partial(Vec<(u64, u64)>),
    Unsatisfiable,
}

/// Parses `Range: bytes=...` for a representation of `len` bytes, like nginx: unknown units are
/// ignored, invalid specs make the set unsatisfiable, more specs than `max_ranges` are ignored.
pub fn parse_ranges(value: &[u8], len: u64, max_ranges: Option<u32>) -> Ranges {
    let text = std::str::from_utf8(value).unwrap_or("").trim();
    let Some(specs) = text.strip_prefix("bytes=") else {
        return Ranges::Full;
    };
    let mut out = Vec::new();
    for spec in specs.split(',').map(str::trim) {
        if spec.is_empty() {
            continue;
        }
        let Some((first, last)) = spec.split_once('-') else {
            return Ranges::Unsatisfiable;
        };
        let (first, last) = (first.trim(), last.trim());
        let digits =
            |s: &str| !s.is_empty() && s.len() <= 19 && s.bytes().all(|b| b.is_ascii_digit());
        let range = if first.is_empty() {
            if !digits(last) {
                return Ranges::Unsatisfiable;
            }
            let suffix: u64 = last.parse().unwrap_or(u64::MAX);
            if suffix == 0 || len == 0 {
                continue;
            }
            (len.saturating_sub(suffix), len - 1)
        } else {
            if !digits(first) || !(last.is_empty() || digits(last)) {
                return Ranges::Unsatisfiable;
            }
            let start: u64 = first.parse().unwrap_or(u64::MAX);
            let end: u64 = if last.is_empty() {
                u64::MAX
            } else {
                last.parse().unwrap_or(u64::MAX)
            };
            if end < start {
                return Ranges::Unsatisfiable;
            }
            if start >= len {
                continue;
            }
            (start, end.min(len - 1))
        };
        out.push(range);
        if max_ranges.is_some_and(|m| out.len() > m as usize) {
            return Ranges::Full;
        }
    }
    if out.is_empty() {
        Ranges::Unsatisfiable
    } else {
        Ranges::Partial(out)
    }
}

/// The body of a `multipart/byteranges` response (nginx's layout) around the given parts.
pub fn multipart(
    boundary: &str,
    content_type: &str,
    total: u64,
    ranges: &[(u64, u64)],
    part: impl Fn(u64, u64) -> Part,
) -> (Parts, u64) {
    let mut body = Parts::with_capacity(ranges.len() * 2 + 1);
    let mut len = 0;
    for &(first, last) in ranges {
        let header = format!(
            "\r\n--{boundary}\r\nContent-Type: {content_type}\r\nContent-Range: bytes {first}-{last}/{total}\r\n\r\n"
        );
        len += header.len() as u64 + (last - first + 1);
        body.push(Part::Bytes(Bytes::from(header)));
        body.push(part(first, last - first + 1));
    }
    let trailer = format!("\r\n--{boundary}--\r\n");
    len += trailer.len() as u64;
    body.push(Part::Bytes(Bytes::from(trailer)));
    (body, len)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_follow_rfc_9110_and_nginx() {
        let p = |v: &str| parse_ranges(v.as_bytes(), 20, None);
        assert_eq!(p("bytes=0-3"), Ranges::Partial(vec![(0, 3)]));
        assert_eq!(p("bytes=-5"), Ranges::Partial(vec![(15, 19)]));
        assert_eq!(p("bytes=-50"), Ranges::Partial(vec![(0, 19)]));
        assert_eq!(p("bytes=15-"), Ranges::Partial(vec![(15, 19)]));
        assert_eq!(p("bytes=18-100"), Ranges::Partial(vec![(18, 19)]));
        assert_eq!(p("bytes=0-1, 4-5"), Ranges::Partial(vec![(0, 1), (4, 5)]));
        assert_eq!(p("bytes=20-30"), Ranges::Unsatisfiable);
        assert_eq!(p("bytes=5-2"), Ranges::Unsatisfiable);
        assert_eq!(p("bytes=x-1"), Ranges::Unsatisfiable);
        assert_eq!(p("bytes=-0"), Ranges::Unsatisfiable);
        assert_eq!(p("items=0-1"), Ranges::Full);
        assert_eq!(
            parse_ranges(b"bytes=0-1,2-3,4-5", 20, Some(2)),
            Ranges::Full
        );
        assert_eq!(parse_ranges(b"bytes=0-", 0, None), Ranges::Unsatisfiable);
    }

    #[test]
    fn multipart_length_matches_its_parts() {
        let (parts, len) = multipart("0001", "text/plain", 20, &[(0, 1), (5, 9)], |o, l| {
            Part::Bytes(Bytes::from(vec![b'a'; (l as usize).min(20 - o as usize)]))
        });
        assert_eq!(parts.iter().map(Part::byte_len).sum::<u64>(), len);
        let Part::Bytes(last) = parts.last().unwrap() else {
            panic!()
        };
        assert_eq!(&last[..], b"\r\n--0001--\r\n");
    }

    #[test]
    fn etag_comparison_is_weak_for_none_match_and_strong_for_match() {
        assert!(etag_list_matches(b"W/\"a\"", Some("\"a\""), false));
        assert!(!etag_list_matches(b"W/\"a\"", Some("\"a\""), true));
        assert!(etag_list_matches(b"\"x\", \"a\"", Some("\"a\""), true));
        assert!(etag_list_matches(b"*", None, true));
        assert!(!etag_list_matches(b"\"a\"", None, false));
        assert!(if_range_holds(b"\"a\"", Some("\"a\""), 0));
        assert!(!if_range_holds(b"W/\"a\"", Some("\"a\""), 0));
        assert!(if_range_holds(b"Thu, 01 Jan 1970 00:00:10 GMT", None, 10));
        assert!(!if_range_holds(b"Thu, 01 Jan 1970 00:00:11 GMT", None, 10));
    }
}
