//! Request heads: parsing (httparse, SIMD) plus the RFC 9112 framing rules that keep a
//! connection's message boundaries certain. Header values stay `Bytes` slices of the received
//! data.

use bytes::Bytes;

/// Methods this server distinguishes; everything else is a well-formed `Other`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Method {
    #[default]
    Get,
    Head,
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
    target: Span,
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
        &self.buf[s.start as usize..s.end as usize]
    }

    /// The request line without its line ending (for the access log).
    pub fn line(&self) -> &[u8] {
        self.get(self.line)
    }

    pub fn target(&self) -> Bytes {
        self.buf
            .slice(self.target.start as usize..self.target.end as usize)
    }

    header_getters!(
        host,
        range,
        if_range,
        if_match,
        if_none_match,
        if_modified_since,
        if_unmodified_since,
        accept_encoding,
        user_agent,
        referer
    );
}

fn span(buf: &[u8], part: &[u8]) -> Span {
    let start = part.as_ptr() as usize - buf.as_ptr() as usize;
    Span {
        start: start as u32,
        end: (start + part.len()) as u32,
    }
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
    /// Longest request line or header line.
    pub line: usize,
    /// Largest whole head.
    pub total: usize,
}

const MAX_HEADERS: usize = 128;

/// Parses one request head from the start of `buf`. Returns the head and its length in bytes.
pub fn parse(buf: &Bytes, limits: Limits) -> Result<(Head, usize), Reject> {
    match parse_once(buf, limits)? {
        Parsed::Head(head, len) => Ok((head, len)),
        Parsed::OtherVersion => reparse_version(buf, limits),
    }
}

enum Parsed {
    Head(Head, usize),
    /// httparse refused the version: it may be an HTTP/1.x that httparse does not know.
    OtherVersion,
}

/// One httparse pass; never recurses.
fn parse_once(buf: &Bytes, limits: Limits) -> Result<Parsed, Reject> {
    // Uninitialised slots: clearing 128 headers (4 KiB) would cost more than the parse.
    let mut headers =
        [const { std::mem::MaybeUninit::<httparse::Header<'_>>::uninit() }; MAX_HEADERS];
    let mut req = httparse::Request::new(&mut []);
    match req.parse_with_uninit_headers(buf, &mut headers) {
        Ok(httparse::Status::Complete(len)) => {
            if len > limits.total {
                return Err(Reject::Status(400));
            }
            let head = interpret(buf, &req)?;
            // Whole heads can still hold lines longer than one buffer (nginx: 414 / 400).
            if head.line().len() > limits.line {
                return Err(Reject::Status(414));
            }
            if req
                .headers
                .iter()
                .any(|h| h.name.len() + 2 + h.value.len() > limits.line)
            {
                return Err(Reject::Status(400));
            }
            Ok(Parsed::Head(head, len))
        }
        Ok(httparse::Status::Partial) => Err(too_long(buf, limits).unwrap_or(Reject::Incomplete)),
        Err(httparse::Error::Version) => Ok(Parsed::OtherVersion),
        Err(_) => Err(Reject::Status(400)),
    }
}

/// An incomplete head that already exceeds a limit: 414 for the request line, else 400.
fn too_long(buf: &[u8], limits: Limits) -> Option<Reject> {
    let start = buf
        .iter()
        .position(|&b| b != b'\r' && b != b'\n')
        .unwrap_or(buf.len());
    let first_line_end = memchr::memchr(b'\n', &buf[start..]);
    match first_line_end {
        None if buf.len() - start > limits.line => Some(Reject::Status(414)),
        Some(end) if end > limits.line => Some(Reject::Status(414)),
        _ if buf.len() > limits.total => Some(Reject::Status(400)),
        _ => {
            // A single header line longer than a buffer cannot fit either.
            let last_nl = memchr::memrchr(b'\n', buf).unwrap_or(0);
            (buf.len() - last_nl > limits.line).then_some(Reject::Status(400))
        }
    }
}

/// httparse knows only HTTP/1.0 and 1.1. A request line with another well-formed version gets
/// 505 (major != 1) or is served as 1.1 (1.x, RFC 9110 §2.5); anything else is malformed.
fn reparse_version(buf: &Bytes, limits: Limits) -> Result<(Head, usize), Reject> {
    let start = buf
        .iter()
        .position(|&b| b != b'\r' && b != b'\n')
        .unwrap_or(buf.len());
    let Some(eol) = memchr::memchr(b'\n', &buf[start..]).map(|e| start + e) else {
        return Err(too_long(buf, limits).unwrap_or(Reject::Incomplete));
    };
    let line = &buf[start..eol];
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    let Some(sp) = memchr::memrchr(b' ', line) else {
        return Err(Reject::Status(400));
    };
    let version = &line[sp + 1..];
    match version {
        // The version httparse refused is not this one: the line has more than two spaces
        // (a space inside the target), which nginx refuses too.
        b"HTTP/1.0" | b"HTTP/1.1" => Err(Reject::Status(400)),
        [b'H', b'T', b'T', b'P', b'/', major @ b'0'..=b'9', b'.', b'0'..=b'9'] => {
            if *major != b'1' {
                return Err(Reject::Status(505));
            }
            let mut patched = buf.to_vec();
            let at = start + sp + 1;
            patched[at..at + 8].copy_from_slice(b"HTTP/1.1");
            // Rare path: the head's slices point into the patched copy. A second refusal of
            // the (now standard) version means the line is malformed elsewhere.
            match parse_once(&Bytes::from(patched), limits)? {
                Parsed::Head(head, len) => Ok((head, len)),
                Parsed::OtherVersion => Err(Reject::Status(400)),
            }
        }
        _ => Err(Reject::Status(400)),
    }
}

fn interpret(buf: &Bytes, req: &httparse::Request<'_, '_>) -> Result<Head, Reject> {
    let method_text = req.method.unwrap_or("");
    // nginx accepts only upper-case letters, '_' and '-' in methods.
    if !method_text
        .bytes()
        .all(|b| b.is_ascii_uppercase() || b == b'_' || b == b'-')
    {
        return Err(Reject::Status(400));
    }
    let method = match method_text {
        "GET" => Method::Get,
        "HEAD" => Method::Head,
        _ => Method::Other,
    };
    let path = req.path.unwrap_or("");
    let minor = req.version.unwrap_or(1);
    let line_start = method_text.as_ptr() as usize - buf.as_ptr() as usize;
    let line_end = memchr::memchr(b'\n', &buf[line_start..]).map_or(buf.len(), |e| line_start + e);
    let line = &buf[line_start..line_end];
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    let mut head = Head {
        buf: buf.clone(),
        method,
        minor,
        keep_alive: minor >= 1,
        line: span(buf, line),
        target: span(buf, path.as_bytes()),
        ..Head::default()
    };
    let mut content_length: Option<u64> = None;
    let mut transfer_encoding: Option<&[u8]> = None;
    for h in req.headers.iter() {
        let value = h.value;
        if value.contains(&0) {
            return Err(Reject::Status(400));
        }
        let name = h.name;
        if name.eq_ignore_ascii_case("host") {
            if head.host.replace(span(buf, value)).is_some() {
                return Err(Reject::Status(400));
            }
        } else if name.eq_ignore_ascii_case("content-length") {
            // Duplicates, even identical ones, and anything but plain digits are framing errors.
            if content_length.is_some() {
                return Err(Reject::Status(400));
            }
            content_length = Some(parse_content_length(value).ok_or(Reject::Status(400))?);
        } else if name.eq_ignore_ascii_case("transfer-encoding") {
            if transfer_encoding.is_some() {
                return Err(Reject::Status(400));
            }
            transfer_encoding = Some(value);
        } else if name.eq_ignore_ascii_case("connection") {
            apply_connection(&mut head, value);
        } else if name.eq_ignore_ascii_case("expect") {
            if value.eq_ignore_ascii_case(b"100-continue") && minor >= 1 {
                head.expect_continue = true;
            }
        } else {
            let slot = match name.len() {
                5 if name.eq_ignore_ascii_case("range") => &mut head.range,
                7 if name.eq_ignore_ascii_case("referer") => &mut head.referer,
                8 if name.eq_ignore_ascii_case("if-range") => &mut head.if_range,
                8 if name.eq_ignore_ascii_case("if-match") => &mut head.if_match,
                10 if name.eq_ignore_ascii_case("user-agent") => &mut head.user_agent,
                13 if name.eq_ignore_ascii_case("if-none-match") => &mut head.if_none_match,
                15 if name.eq_ignore_ascii_case("accept-encoding") => &mut head.accept_encoding,
                17 if name.eq_ignore_ascii_case("if-modified-since") => &mut head.if_modified_since,
                19 if name.eq_ignore_ascii_case("if-unmodified-since") => {
                    &mut head.if_unmodified_since
                }
                _ => continue,
            };
            *slot = Some(span(buf, value));
        }
    }
    head.body = framing(minor, content_length, transfer_encoding)?;
    if minor >= 1 && head.host.is_none() && !is_absolute(path.as_bytes()) {
        return Err(Reject::Status(400));
    }
    if let Some(host) = head.host() {
        if !valid_host(host) {
            return Err(Reject::Status(400));
        }
    }
    Ok(head)
}

/// RFC 9112 §6: a message with both Content-Length and Transfer-Encoding, with
/// Transfer-Encoding in HTTP/1.0, or with chunked not last (or twice) is refused; an unknown
/// coding is 501.
fn framing(minor: u8, length: Option<u64>, te: Option<&[u8]>) -> Result<Body, Reject> {
    let Some(te) = te else {
        return Ok(length.map_or(Body::None, Body::Length));
    };
    if length.is_some() || minor == 0 {
        return Err(Reject::Status(400));
    }
    let codings: Vec<&[u8]> = te
        .split(|&b| b == b',')
        .map(trim)
        .filter(|c| !c.is_empty())
        .collect();
    let chunked = |c: &&[u8]| c.eq_ignore_ascii_case(b"chunked");
    match codings.last() {
        Some(last) if chunked(last) && codings.iter().filter(|c| chunked(c)).count() == 1 => {
            if codings.len() > 1 {
                return Err(Reject::Status(501)); // gzip, chunked: we decode no content codings
            }
            Ok(Body::Chunked)
        }
        Some(_) if codings.iter().any(chunked) => Err(Reject::Status(400)),
        Some(_) => Err(Reject::Status(501)),
        None => Err(Reject::Status(400)),
    }
}

fn parse_content_length(v: &[u8]) -> Option<u64> {
    if v.is_empty() || v.len() > 19 || !v.iter().all(u8::is_ascii_digit) {
        return None;
    }
    v.iter().try_fold(0u64, |n, &d| {
        n.checked_mul(10)?.checked_add(u64::from(d - b'0'))
    })
}

fn apply_connection(head: &mut Head, value: &[u8]) {
    for token in value.split(|&b| b == b',').map(trim) {
        if token.eq_ignore_ascii_case(b"close") {
            head.keep_alive = false;
            return;
        }
        if token.eq_ignore_ascii_case(b"keep-alive") {
            head.keep_alive = true;
        }
    }
}

fn trim(s: &[u8]) -> &[u8] {
    let start = s
        .iter()
        .position(|b| !b.is_ascii_whitespace())
        .unwrap_or(s.len());
    let end = s
        .iter()
        .rposition(|b| !b.is_ascii_whitespace())
        .map_or(start, |e| e + 1);
    &s[start..end]
}

pub fn is_absolute(target: &[u8]) -> bool {
    target.len() > 7
        && (target[..7].eq_ignore_ascii_case(b"http://")
            || target.len() > 8 && target[..8].eq_ignore_ascii_case(b"https://"))
}

/// A Host value: a registered name or IP literal with an optional port, never a path.
fn valid_host(host: &[u8]) -> bool {
    if host.is_empty() {
        return false;
    }
    let mut dots = 0;
    for &b in host {
        match b {
            b'/' | b'\\' | b' ' | b'\t' | 0..=31 | 127 => return false,
            b'.' => {
                dots += 1;
                if dots == 2 {
                    return false; // "..", like nginx
                }
            }
            _ => dots = 0,
        }
    }
    true
}

/// Splits an absolute-form target into its authority and its path (origin-form).
pub fn split_absolute(target: &Bytes) -> (Bytes, Bytes) {
    let skip = if target[..5].eq_ignore_ascii_case(b"https") {
        8
    } else {
        7
    };
    let rest = target.slice(skip..);
    match rest.iter().position(|&b| b == b'/' || b == b'?') {
        Some(i) if rest[i] == b'/' => (rest.slice(..i), rest.slice(i..)),
        Some(i) => (
            rest.slice(..i),
            Bytes::from([b"/" as &[u8], &rest[i..]].concat()),
        ),
        None => (rest.clone(), Bytes::from_static(b"/")),
    }
}

/// The host part of a Host value, lower-cased, without a port or trailing dot.
pub fn host_name(host: &[u8]) -> std::borrow::Cow<'_, str> {
    let end = if host.first() == Some(&b'[') {
        host.iter()
            .position(|&b| b == b']')
            .map_or(host.len(), |i| i + 1)
    } else {
        host.iter().position(|&b| b == b':').unwrap_or(host.len())
    };
    let name = &host[..end];
    let name = name.strip_suffix(b".").unwrap_or(name);
    // Usually already lower case: borrowed, no allocation.
    match std::str::from_utf8(name) {
        Ok(s) if !s.bytes().any(|b| b.is_ascii_uppercase()) => s.into(),
        _ => String::from_utf8_lossy(name).to_ascii_lowercase().into(),
    }
}

/// Incremental decoder of a chunked body (RFC 9112 §7.1), strict about CRLF.
#[derive(Debug, Clone, Default)]
pub struct Chunked {
    state: ChunkState,
    line: Vec<u8>,
    /// Data bytes seen so far.
    pub total: u64,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
enum ChunkState {
    #[default]
    Size,
    Data(u64),
    DataEnd,
    Trailer,
    Done,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChunkError {
    Malformed,
}

impl Chunked {
    /// Consumes body bytes from `input`; returns how many were used and whether the body ended.
    pub fn feed(&mut self, input: &[u8]) -> Result<(usize, bool), ChunkError> {
        let mut i = 0;
        while i < input.len() {
            match self.state {
                ChunkState::Size | ChunkState::Trailer | ChunkState::DataEnd => {
                    let Some(nl) = memchr::memchr(b'\n', &input[i..]) else {
                        self.push_line(&input[i..])?;
                        return Ok((input.len(), false));
                    };
                    self.push_line(&input[i..i + nl + 1])?;
                    i += nl + 1;
                    let line = std::mem::take(&mut self.line);
                    self.end_line(&line)?;
                    if self.state == ChunkState::Done {
                        return Ok((i, true));
                    }
                }
                ChunkState::Data(left) => {
                    let take = left.min((input.len() - i) as u64);
                    i += take as usize;
                    self.state = if take == left {
                        ChunkState::DataEnd
                    } else {
                        ChunkState::Data(left - take)
                    };
                }
                ChunkState::Done => return Ok((i, true)),
            }
        }
        Ok((i, self.state == ChunkState::Done))
    }

    fn push_line(&mut self, part: &[u8]) -> Result<(), ChunkError> {
        if self.line.len() + part.len() > 4096 {
            return Err(ChunkError::Malformed);
        }
        self.line.extend_from_slice(part);
        Ok(())
    }

    fn end_line(&mut self, line: &[u8]) -> Result<(), ChunkError> {
        // Every line must end in CRLF; a bare LF or a CR elsewhere is a framing error.
        let body = line.strip_suffix(b"\r\n").ok_or(ChunkError::Malformed)?;
        if body.contains(&b'\r') {
            return Err(ChunkError::Malformed);
        }
        match self.state {
            ChunkState::Size => {
                let size_text = body.split(|&b| b == b';').next().unwrap_or(b"");
                let size_text = size_text.strip_suffix(b" ").unwrap_or(size_text);
                if size_text.is_empty()
                    || size_text.len() > 15
                    || !size_text.iter().all(u8::is_ascii_hexdigit)
                {
                    return Err(ChunkError::Malformed);
                }
                let size = u64::from_str_radix(std::str::from_utf8(size_text).unwrap(), 16)
                    .map_err(|_| ChunkError::Malformed)?;
                self.total = self.total.checked_add(size).ok_or(ChunkError::Malformed)?;
                self.state = if size == 0 {
                    ChunkState::Trailer
                } else {
                    ChunkState::Data(size)
                };
            }
            ChunkState::DataEnd => {
                if !body.is_empty() {
                    return Err(ChunkError::Malformed);
                }
                self.state = ChunkState::Size;
            }
            ChunkState::Trailer => {
                if body.is_empty() {
                    self.state = ChunkState::Done;
                }
            }
            ChunkState::Data(_) | ChunkState::Done => unreachable!("lines end only outside data"),
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIMITS: Limits = Limits {
        line: 1024,
        total: 4096,
    };

    fn head(raw: &str) -> Result<Head, Reject> {
        parse(&Bytes::copy_from_slice(raw.as_bytes()), LIMITS).map(|(h, _)| h)
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
        assert_eq!(host_name(h.host().unwrap()), "example.com");
        let h = head(
            "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n",
        )
        .unwrap();
        assert_eq!((h.body, h.keep_alive), (Body::Chunked, false));
        assert_eq!(
            head("GET / HTTP/1.1\r\nHost: a").unwrap_err(),
            Reject::Incomplete
        );
    }

    #[test]
    fn refuses_ambiguous_framing() {
        for raw in [
            "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\nContent-Length: 1\r\n\r\n",
            "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1, 1\r\n\r\n",
            "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: -1\r\n\r\n",
            "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 99999999999999999999\r\n\r\n",
            "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n",
            "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked, chunked\r\n\r\n",
            "POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n",
        ] {
            assert_eq!(head(raw).unwrap_err(), Reject::Status(400), "{raw:?}");
        }
        assert_eq!(
            head("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip, chunked\r\n\r\n")
                .unwrap_err(),
            Reject::Status(501)
        );
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
        assert_eq!(
            head("GET / HTTP/3.0\r\nHost: a\r\n\r\n").unwrap_err(),
            Reject::Status(505)
        );
        assert_eq!(head("GET / HTTP/1.9\r\nHost: a\r\n\r\n").unwrap().minor, 1);
        assert_eq!(
            head("GET / HTTX/1.1\r\nHost: a\r\n\r\n").unwrap_err(),
            Reject::Status(400)
        );
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

    fn feed_all(input: &[u8]) -> Result<(usize, bool, u64), ChunkError> {
        let mut c = Chunked::default();
        let (used, done) = c.feed(input)?;
        Ok((used, done, c.total))
    }

    #[test]
    fn chunked_bodies_decode_incrementally_and_strictly() {
        let body = b"4\r\nWiki\r\n5;ext=1\r\npedia\r\n0\r\nTrailer: x\r\n\r\nNEXT";
        assert_eq!(feed_all(body), Ok((body.len() - 4, true, 9)));
        // One byte at a time gives the same result.
        let mut c = Chunked::default();
        let mut used = 0;
        for (i, b) in body.iter().enumerate() {
            let (n, done) = c.feed(std::slice::from_ref(b)).unwrap();
            used += n;
            if done {
                assert_eq!(i + 1, body.len() - 4);
                break;
            }
        }
        assert_eq!((used, c.total), (body.len() - 4, 9));
        for bad in [
            &b"zz\r\n"[..],
            b"4\nWiki\r\n",
            b"4\r\nWikiX\r\n",
            b"ffffffffffffffffff\r\n",
            b"4\r\nWiki\r\n0\r\n\rx\r\n",
        ] {
            assert_eq!(
                feed_all(bad),
                Err(ChunkError::Malformed),
                "{:?}",
                String::from_utf8_lossy(bad)
            );
        }
    }
}
