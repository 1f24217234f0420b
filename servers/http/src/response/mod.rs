//! Building responses: status lines, headers in nginx's order, error pages, and the per-worker
//! caches of rendered dates and fixed responses.
//!
//! - [`conditional`]: conditional requests, evaluated as nginx's not-modified filter does.
//! - [`ranges`]: byte ranges and multipart bodies, as nginx's range filter does.

use std::sync::Arc;
use std::time::SystemTime;

use bytes::{Bytes, BytesMut};

use crate::config::Settings;
use crate::files::{unix_secs, FileInfo};

mod conditional;
mod ranges;

pub use conditional::{if_range_holds, parse_http_time, preconditions, Precondition};
pub use ranges::{multipart, parse_ranges, Ranges};

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
