//! RESP request parser (`Parser`, `Parsed`) and reply encoder (`Out`), and the number
//! formats of the protocol (`parse_i64`, `parse_f64`, `fmt_double`, `fmt_incr_float`).
//! It depends on nothing else in fs-kv.
//!
//! The parser works over the received bytes in place and records argument offsets, so the hot
//! path copies nothing: a command handler sees `&[u8]` slices of the receive buffer. A frame split
//! across reads is resumed where it stopped (no re-scan of the arguments already parsed).

use bytes::{BufMut, Bytes, BytesMut};

/// proto-max-bulk-len: the largest bulk string accepted (Redis's default).
pub const MAX_BULK: u64 = 512 * 1024 * 1024;
/// An inline request (or a multibulk header line) without a newline in this much is rejected.
const MAX_INLINE: usize = 64 * 1024;
/// Unauthenticated clients may not send more than this many arguments or bytes per argument.
const UNAUTH_MAX_ARGS: u64 = 10;
const UNAUTH_MAX_BULK: u64 = 16384;

#[derive(Debug, PartialEq, Eq)]
pub enum Parsed {
    /// A whole command of this many bytes; arguments in [`Parser::args`].
    Command(usize),
    /// A frame without arguments (an empty line or `*0`): skip this many bytes.
    Empty(usize),
    Incomplete,
    /// A protocol error: reply with it and close the connection.
    Error(&'static str),
}

/// Per-connection parser state, kept across reads while a frame is incomplete.
#[derive(Default)]
pub struct Parser {
    /// Argument offsets (start, end) relative to the frame start.
    pub args: Vec<(u32, u32)>,
    /// Unescaped inline arguments live here (their offsets point into it).
    pub inline: Vec<u8>,
    pub is_inline: bool,
    /// Arguments expected in the current multibulk frame (0 = between frames).
    expected: usize,
    /// Where parsing resumes, relative to the frame start.
    pos: usize,
}

impl Parser {
    /// Parses one command from `buf`, which starts at the current frame's first byte.
    pub fn parse(&mut self, buf: &[u8], authed: bool) -> Parsed {
        if self.expected == 0 {
            self.args.clear();
            self.pos = 0;
            self.is_inline = false;
            match buf.first() {
                None => return Parsed::Incomplete,
                Some(b'*') => match self.header(buf, authed) {
                    Ok(Some(0)) => return Parsed::Empty(self.pos),
                    Ok(Some(n)) => self.expected = n,
                    Ok(None) => return Parsed::Incomplete,
                    Err(e) => return Parsed::Error(e),
                },
                Some(_) => return self.inline(buf),
            }
        }
        while self.args.len() < self.expected {
            match self.bulk(buf, authed) {
                Ok(true) => {}
                Ok(false) => return Parsed::Incomplete,
                Err(e) => {
                    self.expected = 0;
                    return Parsed::Error(e);
                }
            }
        }
        self.expected = 0;
        Parsed::Command(self.pos)
    }

    /// The `*<n>\r\n` line: Some(n) once complete.
    fn header(&mut self, buf: &[u8], authed: bool) -> Result<Option<usize>, &'static str> {
        let Some(nl) = memchr::memchr(b'\r', buf) else {
            return if buf.len() > MAX_INLINE {
                Err("ERR Protocol error: too big mbulk count string")
            } else {
                Ok(None)
            };
        };
        if buf.len() < nl + 2 {
            return Ok(None);
        }
        let n = parse_len(&buf[1..nl])
            .filter(|&n| n <= i32::MAX as i64)
            .ok_or("ERR Protocol error: invalid multibulk length")?;
        if !authed && n > UNAUTH_MAX_ARGS as i64 {
            return Err("ERR Protocol error: unauthenticated multibulk length");
        }
        self.pos = nl + 2;
        Ok(Some(n.max(0) as usize))
    }

    /// One `$<len>\r\n<data>\r\n` argument: true once parsed.
    fn bulk(&mut self, buf: &[u8], authed: bool) -> Result<bool, &'static str> {
        let rest = &buf[self.pos..];
        let Some(&first) = rest.first() else {
            return Ok(false);
        };
        if first != b'$' {
            return Err(expected_dollar(first));
        }
        let Some(cr) = memchr::memchr(b'\r', rest) else {
            return if rest.len() > MAX_INLINE {
                Err("ERR Protocol error: too big bulk count string")
            } else {
                Ok(false)
            };
        };
        let len = parse_len(&rest[1..cr])
            .filter(|&n| n >= 0 && n as u64 <= MAX_BULK)
            .ok_or("ERR Protocol error: invalid bulk length")? as usize;
        if !authed && len as u64 > UNAUTH_MAX_BULK {
            return Err("ERR Protocol error: unauthenticated bulk length");
        }
        let start = cr + 2;
        if rest.len() < start + len + 2 {
            return Ok(false);
        }
        let abs = self.pos + start;
        self.args.push((abs as u32, (abs + len) as u32));
        self.pos = abs + len + 2;
        Ok(true)
    }

    /// A telnet-style line, split like sdssplitargs (quotes and escapes).
    fn inline(&mut self, buf: &[u8]) -> Parsed {
        let Some(nl) = memchr::memchr(b'\n', buf) else {
            return if buf.len() > MAX_INLINE {
                Parsed::Error("ERR Protocol error: too big inline request")
            } else {
                Parsed::Incomplete
            };
        };
        let line = &buf[..nl];
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        self.inline.clear();
        self.is_inline = true;
        if split_args(line, &mut self.inline, &mut self.args).is_err() {
            return Parsed::Error("ERR Protocol error: unbalanced quotes in request");
        }
        if self.args.is_empty() {
            Parsed::Empty(nl + 1)
        } else {
            Parsed::Command(nl + 1)
        }
    }
}

fn expected_dollar(got: u8) -> &'static str {
    // The message names the byte; a static table keeps the error path allocation-free.
    static MSGS: std::sync::OnceLock<Vec<String>> = std::sync::OnceLock::new();
    let msgs = MSGS.get_or_init(|| {
        (0..=255u8)
            .map(|b| format!("ERR Protocol error: expected '$', got '{}'", b as char))
            .collect()
    });
    msgs[got as usize].as_str()
}

/// A decimal length as Redis's string2ll accepts it (optional '-', no '+', no spaces).
pub fn parse_len(s: &[u8]) -> Option<i64> {
    parse_i64(s)
}

/// Strict signed 64-bit integer parse (Redis string2ll semantics).
pub fn parse_i64(s: &[u8]) -> Option<i64> {
    let (neg, digits) = match s.first()? {
        b'-' => (true, &s[1..]),
        _ => (false, s),
    };
    if digits.is_empty() || digits.len() > 19 || (digits[0] == b'0' && digits.len() > 1) {
        return None;
    }
    let mut v: u64 = 0;
    for &d in digits {
        if !d.is_ascii_digit() {
            return None;
        }
        v = v * 10 + (d - b'0') as u64;
    }
    if neg {
        if v > i64::MAX as u64 + 1 {
            return None;
        }
        Some((v as i64).wrapping_neg())
    } else {
        i64::try_from(v).ok()
    }
}

/// sdssplitargs: whitespace separated, "double quotes" with \x escapes, 'single quotes'.
fn split_args(line: &[u8], store: &mut Vec<u8>, args: &mut Vec<(u32, u32)>) -> Result<(), ()> {
    let mut i = 0;
    loop {
        while i < line.len() && line[i].is_ascii_whitespace() {
            i += 1;
        }
        if i >= line.len() {
            return Ok(());
        }
        let start = store.len();
        let (mut dq, mut sq) = (false, false);
        loop {
            let c = line.get(i).copied();
            if dq {
                match c {
                    None => return Err(()),
                    Some(b'\\')
                        if line.get(i + 1) == Some(&b'x')
                            && i + 3 < line.len()
                            && hex2(&line[i + 2..i + 4]).is_some() =>
                    {
                        store.push(hex2(&line[i + 2..i + 4]).unwrap_or(0));
                        i += 3;
                    }
                    Some(b'\\') if i + 1 < line.len() => {
                        i += 1;
                        store.push(match line[i] {
                            b'n' => b'\n',
                            b'r' => b'\r',
                            b't' => b'\t',
                            b'b' => 8,
                            b'a' => 7,
                            c => c,
                        });
                    }
                    Some(b'"') => {
                        if line.get(i + 1).is_some_and(|c| !c.is_ascii_whitespace()) {
                            return Err(());
                        }
                        dq = false;
                        i += 1;
                        break;
                    }
                    Some(c) => store.push(c),
                }
            } else if sq {
                match c {
                    None => return Err(()),
                    Some(b'\\') if line.get(i + 1) == Some(&b'\'') => {
                        i += 1;
                        store.push(b'\'');
                    }
                    Some(b'\'') => {
                        if line.get(i + 1).is_some_and(|c| !c.is_ascii_whitespace()) {
                            return Err(());
                        }
                        sq = false;
                        i += 1;
                        break;
                    }
                    Some(c) => store.push(c),
                }
            } else {
                match c {
                    None => break,
                    Some(c) if c.is_ascii_whitespace() => break,
                    Some(b'"') => dq = true,
                    Some(b'\'') => sq = true,
                    Some(c) => store.push(c),
                }
            }
            i += 1;
        }
        let _ = (dq, sq);
        args.push((start as u32, store.len() as u32));
    }
}

fn hex2(h: &[u8]) -> Option<u8> {
    let d = |c: u8| (c as char).to_digit(16);
    Some((d(h[0])? * 16 + d(h[1])?) as u8)
}

/// Values at least this long are sent by reference instead of being copied into the reply.
pub const ZERO_COPY_MIN: usize = 4096;

/// Reply encoder for one connection's protocol version. Replies accumulate in one buffer and
/// leave as one `Bytes` per read batch; large stored values are referenced, not copied.
pub struct Out {
    pub buf: BytesMut,
    /// Finished chunks, in order, when a large value was referenced.
    pub chunks: Vec<Bytes>,
    pub resp3: bool,
    /// Error replies so far (for failed_calls) and their prefixes (for errorstats).
    pub errors: u64,
    pub error_kinds: Vec<String>,
}

impl Default for Out {
    fn default() -> Self {
        Out {
            buf: BytesMut::new(),
            chunks: Vec::new(),
            resp3: false,
            errors: 0,
            error_kinds: Vec::new(),
        }
    }
}

impl Out {
    pub fn is_empty(&self) -> bool {
        self.buf.is_empty() && self.chunks.is_empty()
    }

    pub fn len(&self) -> usize {
        self.buf.len() + self.chunks.iter().map(|c| c.len()).sum::<usize>()
    }

    /// Everything encoded so far, in order.
    pub fn take(&mut self) -> impl Iterator<Item = Bytes> + '_ {
        if !self.buf.is_empty() {
            let b = self.buf.split().freeze();
            self.chunks.push(b);
        }
        if self.buf.capacity() < 1024 {
            self.buf.reserve(16 * 1024);
        }
        self.chunks.drain(..)
    }

    pub fn raw(&mut self, s: &[u8]) {
        self.buf.extend_from_slice(s);
    }

    pub fn ok(&mut self) {
        self.raw(b"+OK\r\n");
    }

    pub fn simple(&mut self, s: &str) {
        self.buf.put_u8(b'+');
        self.raw(s.as_bytes());
        self.raw(b"\r\n");
    }

    /// An error line; `msg` has its prefix (e.g. "ERR ...", "WRONGTYPE ...").
    pub fn err(&mut self, msg: &str) {
        self.errors += 1;
        self.error_kinds
            .push(msg.split(' ').next().unwrap_or("ERR").to_string());
        self.buf.put_u8(b'-');
        // Newlines would break the framing: Redis replaces them with spaces.
        for &b in msg.as_bytes() {
            self.buf
                .put_u8(if b == b'\r' || b == b'\n' { b' ' } else { b });
        }
        self.raw(b"\r\n");
    }

    fn line(&mut self, prefix: u8, n: i64) {
        self.buf.put_u8(prefix);
        let mut b = itoa::Buffer::new();
        self.buf.extend_from_slice(b.format(n).as_bytes());
        self.buf.extend_from_slice(b"\r\n");
    }

    pub fn int(&mut self, n: i64) {
        self.line(b':', n);
    }

    pub fn bulk(&mut self, s: &[u8]) {
        self.line(b'$', s.len() as i64);
        self.raw(s);
        self.raw(b"\r\n");
    }

    /// A stored value: referenced rather than copied when large.
    pub fn bulk_bytes(&mut self, s: &Bytes) {
        if s.len() < ZERO_COPY_MIN {
            return self.bulk(s);
        }
        self.line(b'$', s.len() as i64);
        let head = self.buf.split().freeze();
        self.chunks.push(head);
        self.chunks.push(s.clone());
        self.raw(b"\r\n");
    }

    pub fn bulk_str(&mut self, s: &str) {
        self.bulk(s.as_bytes());
    }

    pub fn bulk_int(&mut self, n: i64) {
        let mut b = itoa::Buffer::new();
        self.bulk(b.format(n).as_bytes());
    }

    /// Null bulk string (`$-1` / `_`).
    pub fn null(&mut self) {
        self.raw(if self.resp3 { b"_\r\n" } else { b"$-1\r\n" });
    }

    /// Null array (`*-1` / `_`).
    pub fn null_array(&mut self) {
        self.raw(if self.resp3 { b"_\r\n" } else { b"*-1\r\n" });
    }

    pub fn array(&mut self, n: usize) {
        self.line(b'*', n as i64);
    }

    /// A map of `n` pairs: `%n` in RESP3, a flat array of 2n in RESP2.
    pub fn map(&mut self, n: usize) {
        if self.resp3 {
            self.line(b'%', n as i64)
        } else {
            self.line(b'*', 2 * n as i64)
        }
    }

    pub fn set(&mut self, n: usize) {
        self.line(if self.resp3 { b'~' } else { b'*' }, n as i64);
    }

    pub fn push(&mut self, n: usize) {
        self.line(if self.resp3 { b'>' } else { b'*' }, n as i64);
    }

    /// A score or float result: `,` double in RESP3, a bulk string in RESP2.
    pub fn double(&mut self, d: f64) {
        let s = fmt_double(d);
        if self.resp3 {
            self.buf.put_u8(b',');
            self.raw(s.as_bytes());
            self.raw(b"\r\n");
        } else {
            self.bulk(s.as_bytes());
        }
    }

    #[allow(dead_code)]
    pub fn boolean(&mut self, b: bool) {
        if self.resp3 {
            self.raw(if b { b"#t\r\n" } else { b"#f\r\n" });
        } else {
            self.int(b as i64);
        }
    }

    /// Long text (INFO, CLIENT INFO): verbatim `txt` in RESP3, bulk in RESP2.
    pub fn verbatim(&mut self, s: &str) {
        if self.resp3 {
            self.line(b'=', s.len() as i64 + 4);
            self.raw(b"txt:");
            self.raw(s.as_bytes());
            self.raw(b"\r\n");
        } else {
            self.bulk_str(s);
        }
    }
}

/// Doubles in replies as Redis 7.0 prints them (`%.17g`, and inf/-inf/nan spelled out).
pub fn fmt_double(d: f64) -> String {
    if d.is_infinite() {
        return if d > 0.0 { "inf".into() } else { "-inf".into() };
    }
    if d.is_nan() {
        return "nan".into();
    }
    if d == d.trunc() && d.abs() < 1e17 {
        // Integral values print without exponent or fraction, as %.17g does.
        return format!("{}", d as i64);
    }
    let mut buf = [0u8; 64];
    // SAFETY: the buffer is large enough for any %.17g output and snprintf NUL-terminates.
    let n = unsafe { libc::snprintf(buf.as_mut_ptr().cast(), buf.len(), c"%.17g".as_ptr(), d) };
    String::from_utf8_lossy(&buf[..n.clamp(0, 63) as usize]).into_owned()
}

/// Long-double-like formatting for INCRBYFLOAT/HINCRBYFLOAT: `%.17Lf` with trailing zeros cut.
pub fn fmt_incr_float(d: f64) -> String {
    if d == d.trunc() && d.abs() < 1e17 {
        return format!("{}", d as i64);
    }
    let mut s = format!("{:.17}", d);
    // Shortest round-trip form is closer to what long double printing yields for typical inputs.
    let short = format!("{}", d);
    if short.len() < s.len() && !short.contains('e') {
        s = short;
    }
    if s.contains('.') {
        while s.ends_with('0') {
            s.pop();
        }
        if s.ends_with('.') {
            s.pop();
        }
    }
    s
}

/// strtod-like float parse as Redis accepts it (no spaces, "inf" spellings allowed, no NaN).
pub fn parse_f64(s: &[u8]) -> Option<f64> {
    let t = std::str::from_utf8(s).ok()?;
    if t.is_empty() || t.starts_with(char::is_whitespace) || t.ends_with(char::is_whitespace) {
        return None;
    }
    let v = match t.to_ascii_lowercase().as_str() {
        "inf" | "+inf" | "infinity" | "+infinity" => f64::INFINITY,
        "-inf" | "-infinity" => f64::NEG_INFINITY,
        _ => t.parse::<f64>().ok()?,
    };
    (!v.is_nan()).then_some(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args<'a>(p: &Parser, buf: &'a [u8]) -> Vec<&'a [u8]> {
        p.args
            .iter()
            .map(|&(s, e)| &buf[s as usize..e as usize])
            .collect()
    }

    #[test]
    fn multibulk_whole_and_split() {
        let frame = b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$5\r\nvalue\r\n";
        let mut p = Parser::default();
        assert_eq!(p.parse(frame, true), Parsed::Command(frame.len()));
        assert_eq!(args(&p, frame), vec![&b"SET"[..], b"k", b"value"]);
        for cut in 1..frame.len() {
            let mut p = Parser::default();
            assert_eq!(
                p.parse(&frame[..cut], true),
                Parsed::Incomplete,
                "cut {cut}"
            );
            assert_eq!(p.parse(frame, true), Parsed::Command(frame.len()));
            assert_eq!(args(&p, frame).len(), 3);
        }
    }

    #[test]
    fn inline_and_errors() {
        let mut p = Parser::default();
        let line = b"set k \"a b\\x41\"\r\n";
        assert_eq!(p.parse(line, true), Parsed::Command(line.len()));
        assert_eq!(
            args(&p, &p.inline.clone()),
            vec![&b"set"[..], b"k", b"a bA"]
        );
        assert!(matches!(p.parse(b"set \"x\r\n", true), Parsed::Error(_)));
        assert_eq!(
            p.parse(b"*2\r\n$-5\r\n", true),
            Parsed::Error("ERR Protocol error: invalid bulk length")
        );
        assert_eq!(
            p.parse(b"*1\r\n$999999999999\r\n", true),
            Parsed::Error("ERR Protocol error: invalid bulk length")
        );
        assert_eq!(
            p.parse(b"*1\r\n:1\r\n", true),
            Parsed::Error("ERR Protocol error: expected '$', got ':'")
        );
        assert_eq!(
            p.parse(b"*x\r\n", true),
            Parsed::Error("ERR Protocol error: invalid multibulk length")
        );
        assert_eq!(
            p.parse(b"*100\r\n", false),
            Parsed::Error("ERR Protocol error: unauthenticated multibulk length")
        );
    }

    #[test]
    fn numbers() {
        assert_eq!(parse_i64(b"-9223372036854775808"), Some(i64::MIN));
        assert_eq!(parse_i64(b"9223372036854775808"), None);
        assert_eq!(parse_i64(b"01"), None);
        assert_eq!(parse_i64(b"+1"), None);
        assert_eq!(fmt_double(1.5), "1.5");
        assert_eq!(fmt_double(3.0), "3");
        assert_eq!(fmt_double(0.1), "0.10000000000000001");
    }
}
