//! Request heads, parsed in one bounded pass that accepts and refuses what nginx 1.22 does,
//! plus the RFC 9112 framing rules that keep a connection's message boundaries certain.
//!
//! - [`line`]: the request line (a resumable state machine).
//! - this module: header lines (nginx's `ngx_http_parse_header_line` rules), the headers
//!   fs-httpd uses, duplicate and framing checks; [`Progress`] lets a head that arrives in
//!   pieces resume at its first incomplete line instead of being parsed again.
//! - [`fields`]: the line scan, the name byte table, and the values nginx checks (Host,
//!   Connection, Transfer-Encoding, Content-Length).
//! - [`chunked`]: the chunked body decoder.
//!
//! Header values stay spans of the one received buffer. Nothing here recurses, indexes past a
//! checked bound, or does unchecked arithmetic on a number from the wire.

mod chunked;
mod fields;
mod line;
#[cfg(test)]
mod tests;

use bytes::Bytes;

pub use chunked::{ChunkError, Chunked};
use fields::{connection, line_stop, parse_content_length, transfer_coding, Name, NAME};
pub use fields::{host_name, valid_host};

/// Methods this server distinguishes; everything else is a well-formed `Other`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Method {
    #[default]
    Get,
    Head,
    Post,
    Other,
}

/// How the request body is delimited.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Body {
    #[default]
    None,
    Length(u64),
    Chunked,
}

/// Where a value lies in the head's buffer (no reference count per header).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Span {
    start: u32,
    end: u32,
}

impl Span {
    /// Heads are at most [`MAX_HEAD`] bytes, so offsets fit in `u32`.
    fn new(start: usize, end: usize) -> Span {
        Span {
            start: start as u32,
            end: end as u32,
        }
    }
}

/// A parsed request head: one buffer and the places of the values in it.
#[derive(Debug, Clone, Default)]
pub struct Head {
    buf: Bytes,
    pub method: Method,
    /// 0 for HTTP/1.0, 1 for HTTP/1.1 (and later 1.x).
    pub minor: u8,
    pub keep_alive: bool,
    pub body: Body,
    pub expect_continue: bool,
    line: Span,
    method_name: Span,
    target: Span,
    /// An absolute-form target without a path: the path is "/".
    empty_path: bool,
    /// An absolute-form target's host.
    authority: Option<Span>,
    host: Option<Span>,
    range: Option<Span>,
    if_range: Option<Span>,
    if_match: Option<Span>,
    if_none_match: Option<Span>,
    if_modified_since: Option<Span>,
    if_unmodified_since: Option<Span>,
    accept_encoding: Option<Span>,
    user_agent: Option<Span>,
    referer: Option<Span>,
    via: Option<Span>,
}

macro_rules! header_getters {
    ($($name:ident),*) => {$(
        pub fn $name(&self) -> Option<&[u8]> {
            self.$name.map(|s| self.get(s))
        }
    )*};
}

impl Head {
    /// A head for answering input that did not parse: `GET /`, HTTP/1.1, closing.
    pub fn bare() -> Head {
        Head {
            buf: Bytes::from_static(b"/"),
            minor: 1,
            target: Span { start: 0, end: 1 },
            ..Head::default()
        }
    }

    fn get(&self, s: Span) -> &[u8] {
        self.buf
            .get(s.start as usize..s.end as usize)
            .unwrap_or_default()
    }

    /// The request line without its line ending (for the access log).
    pub fn line(&self) -> &[u8] {
        self.get(self.line)
    }

    /// The method as sent.
    pub fn method_name(&self) -> &[u8] {
        self.get(self.method_name)
    }

    /// The origin-form target (path and query; for an absolute-form target, the part after
    /// the authority), as sent: nginx's `$request_uri`.
    pub fn target(&self) -> Bytes {
        let (start, end) = (self.target.start as usize, self.target.end as usize);
        if self.empty_path {
            // `http://host` or `http://host?q`: rare, so a small copy.
            let mut t = b"/".to_vec();
            t.extend_from_slice(self.get(self.target));
            return Bytes::from(t);
        }
        match self.buf.get(start..end) {
            Some(_) => self.buf.slice(start..end),
            None => Bytes::from_static(b"/"),
        }
    }

    /// Everything parsed, without the buffer (for comparing outcomes in tests and fuzzing).
    pub fn summary(&self) -> String {
        let shown = Head {
            buf: Bytes::new(),
            ..self.clone()
        };
        format!("{shown:?}")
    }

    header_getters!(
        authority,
        host,
        range,
        if_range,
        if_match,
        if_none_match,
        if_modified_since,
        if_unmodified_since,
        accept_encoding,
        user_agent,
        referer,
        via
    );
}

/// Why a head cannot be served. The status is sent and the connection closed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reject {
    /// Not a complete head yet.
    Incomplete,
    Status(u16),
}

/// Size limits of a head, from `large_client_header_buffers NUMBER SIZE`.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Longest request line (longer: 414) or header line (longer: 400).
    pub line: usize,
    /// Largest whole head (larger: 400).
    pub total: usize,
}

/// A head is never larger than this, whatever the configuration says.
pub const MAX_HEAD: usize = 64 << 20;

/// Headers nginx refuses to see twice (400): `ngx_http_process_unique_header_line` and Host.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u16)]
enum Unique {
    Host = 1,
    ContentLength = 1 << 1,
    TransferEncoding = 1 << 2,
    IfModifiedSince = 1 << 3,
    IfUnmodifiedSince = 1 << 4,
    IfMatch = 1 << 5,
    IfNoneMatch = 1 << 6,
    IfRange = 1 << 7,
    Expect = 1 << 8,
    ContentRange = 1 << 9,
    Authorization = 1 << 10,
}

/// Where a head that arrived in pieces stands: the request line's parser, then the offset of
/// the first header line not yet read and what the lines before it said.
#[derive(Debug, Clone, Default)]
pub struct Progress {
    line: line::LineParser,
    in_headers: bool,
    /// Start of the next header line.
    pos: usize,
    head: Head,
    seen: u16,
    content_length: Option<Span>,
    transfer_encoding: Option<Span>,
    /// The last `Connection` value that named close (Some(false)) or keep-alive (Some(true)).
    connection: Option<bool>,
    major: u16,
    minor: u16,
}

/// Parses one request head from the start of `buf`. Returns the head and its length in bytes.
pub fn parse(buf: &Bytes, limits: Limits) -> Result<(Head, usize), Reject> {
    Progress::default().parse(buf, limits)
}

impl Progress {
    /// Goes on parsing the head at the start of `buf`, which holds at least the bytes given
    /// before. On `Reject::Incomplete` the progress is kept for the next call.
    pub fn parse(&mut self, buf: &Bytes, limits: Limits) -> Result<(Head, usize), Reject> {
        let total = limits.total.min(MAX_HEAD);
        if !self.in_headers {
            let Some(line) = self.line.advance(buf, limits.line)? else {
                return if buf.len() > total {
                    Err(Reject::Status(400))
                } else {
                    Err(Reject::Incomplete)
                };
            };
            self.request_line(buf, &line)?;
        }
        loop {
            let rest = buf.get(self.pos..).unwrap_or_default();
            // One pass finds the line end and the bytes nginx refuses in any line.
            let Some(k) = line_stop(rest) else {
                return Err(self.incomplete(rest.len(), buf.len(), limits.line, total));
            };
            let (text, next) = match rest[k] {
                b'\n' => (&rest[..k], k + 1),
                b'\r' => {
                    // CR may repeat before the LF (nginx), but must not stand alone.
                    let crs = rest[k..].iter().take_while(|&&b| b == b'\r').count();
                    match rest.get(k + crs) {
                        // The CRs end the line: they do not count toward its length.
                        None => return Err(self.incomplete(k, buf.len(), limits.line, total)),
                        Some(b'\n') if k > 0 || crs == 1 => (&rest[..k], k + crs + 1),
                        Some(_) => return Err(Reject::Status(400)),
                    }
                }
                _ => return Err(Reject::Status(400)), // NUL
            };
            let line_start = self.pos;
            let next = line_start + next;
            if text.len() > limits.line || next > total {
                return Err(Reject::Status(400));
            }
            if text.is_empty() {
                return self.finish(buf, next);
            }
            self.header(buf, line_start, text)?;
            self.pos = next;
        }
    }

    fn incomplete(&self, partial: usize, len: usize, line: usize, total: usize) -> Reject {
        if partial > line || len > total {
            Reject::Status(400)
        } else {
            Reject::Incomplete
        }
    }

    fn request_line(&mut self, buf: &[u8], line: &line::Line) -> Result<(), Reject> {
        self.in_headers = true;
        self.pos = line.next;
        self.major = line.major;
        self.minor = line.minor;
        let h = &mut self.head;
        h.line = line.line;
        h.method_name = line.method;
        h.target = line.target;
        h.empty_path = line.empty_path;
        h.minor = u8::from(line.minor >= 1);
        h.method = match slice(buf, line.method) {
            b"GET" => Method::Get,
            b"HEAD" => Method::Head,
            b"POST" => Method::Post,
            _ => Method::Other,
        };
        if let Some(host) = line.host {
            if !valid_host(slice(buf, host)) {
                return Err(Reject::Status(400));
            }
            h.authority = Some(host);
        }
        Ok(())
    }

    /// One header line (without its line ending), by nginx's rules: a name of `[A-Za-z0-9-]`
    /// is looked at; a name with other printable bytes (`_`, `@`, UTF-8...) makes the line
    /// ignored (`ignore_invalid_headers`); a control byte, space or DEL in the name, or a
    /// leading `:`, is 400. A line without a colon is a header with an empty value.
    fn header(&mut self, buf: &[u8], start: usize, text: &[u8]) -> Result<(), Reject> {
        let mut valid = true;
        let mut colon = None;
        let mut i = 0;
        while i < text.len() {
            match NAME[text[i] as usize] {
                Name::Token => {}
                Name::Colon if i > 0 => {
                    colon = Some(i);
                    break;
                }
                // obs-fold (a leading space) and whitespace before the colon land here.
                Name::Colon | Name::Fatal => return Err(Reject::Status(400)),
                Name::Ignored => valid = false,
            }
            i += 1;
        }
        if !valid {
            return Ok(());
        }
        let (name, value_start) = match colon {
            Some(c) => (&text[..c], c + 1),
            None => (text, text.len()),
        };
        // nginx trims spaces (not tabs) around the value.
        let (mut from, mut to) = (value_start, text.len());
        while from < to && text[from] == b' ' {
            from += 1;
        }
        while to > from && text[to - 1] == b' ' {
            to -= 1;
        }
        self.known_header(buf, name, Span::new(start + from, start + to))
    }

    fn known_header(&mut self, buf: &[u8], name: &[u8], value: Span) -> Result<(), Reject> {
        let lower = |n: &[u8], want: &[u8]| n.eq_ignore_ascii_case(want);
        let h = &mut self.head;
        let (unique, slot) = match name.len() {
            2 if lower(name, b"te") => return Ok(()),
            3 if lower(name, b"via") => (None, Some(&mut h.via)),
            4 if lower(name, b"host") => (Some(Unique::Host), Some(&mut h.host)),
            5 if lower(name, b"range") => (None, Some(&mut h.range)),
            6 if lower(name, b"expect") => {
                h.expect_continue = slice(buf, value).eq_ignore_ascii_case(b"100-continue");
                (Some(Unique::Expect), None)
            }
            7 if lower(name, b"referer") => (None, Some(&mut h.referer)),
            8 if lower(name, b"if-range") => (Some(Unique::IfRange), Some(&mut h.if_range)),
            8 if lower(name, b"if-match") => (Some(Unique::IfMatch), Some(&mut h.if_match)),
            10 if lower(name, b"connection") => {
                self.connection = connection(slice(buf, value)).or(self.connection);
                return Ok(());
            }
            10 if lower(name, b"user-agent") => (None, Some(&mut h.user_agent)),
            13 if lower(name, b"if-none-match") => {
                (Some(Unique::IfNoneMatch), Some(&mut h.if_none_match))
            }
            13 if lower(name, b"content-range") => (Some(Unique::ContentRange), None),
            13 if lower(name, b"authorization") => (Some(Unique::Authorization), None),
            14 if lower(name, b"content-length") => {
                self.content_length = Some(value);
                (Some(Unique::ContentLength), None)
            }
            15 if lower(name, b"accept-encoding") => (None, Some(&mut h.accept_encoding)),
            17 if lower(name, b"if-modified-since") => (
                Some(Unique::IfModifiedSince),
                Some(&mut h.if_modified_since),
            ),
            17 if lower(name, b"transfer-encoding") => {
                self.transfer_encoding = Some(value);
                (Some(Unique::TransferEncoding), None)
            }
            19 if lower(name, b"if-unmodified-since") => (
                Some(Unique::IfUnmodifiedSince),
                Some(&mut h.if_unmodified_since),
            ),
            _ => return Ok(()),
        };
        // The first of a repeated header counts (nginx 1.22).
        if let Some(slot) = slot {
            slot.get_or_insert(value);
        }
        if let Some(u) = unique {
            if self.seen & u as u16 != 0 {
                return Err(Reject::Status(400));
            }
            self.seen |= u as u16;
        }
        Ok(())
    }

    /// The head is complete: the checks nginx makes once all headers are in
    /// (`ngx_http_process_request_header`), in its order.
    fn finish(&mut self, buf: &Bytes, len: usize) -> Result<(Head, usize), Reject> {
        let mut head = std::mem::take(&mut self.head);
        head.buf = buf.clone();
        let http11 = self.major == 1 && self.minor >= 1;
        if let Some(host) = head.host() {
            if !valid_host(host) {
                return Err(Reject::Status(400));
            }
        } else if http11 {
            return Err(Reject::Status(400));
        }
        let length = match self.content_length {
            Some(v) => Some(parse_content_length(slice(buf, v)).ok_or(Reject::Status(400))?),
            None => None,
        };
        head.body = match self.transfer_encoding {
            Some(te) => transfer_coding(slice(buf, te), http11, length.is_some())?,
            None => length.map_or(Body::None, Body::Length),
        };
        if matches!(head.method_name(), b"CONNECT" | b"TRACE") {
            return Err(Reject::Status(405));
        }
        head.keep_alive = self.connection.unwrap_or(http11);
        head.expect_continue &= http11;
        Ok((head, len))
    }
}

fn slice(buf: &[u8], s: Span) -> &[u8] {
    buf.get(s.start as usize..s.end as usize)
        .unwrap_or_default()
}
