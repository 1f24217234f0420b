//! Pieces of header parsing: the scan for a line's end, how nginx treats each byte of a header
//! name, and the values nginx checks (Host, Connection, Transfer-Encoding, Content-Length).

use super::{Body, Reject};

/// The first LF, CR or NUL of a header line.
pub(super) fn line_stop(rest: &[u8]) -> Option<usize> {
    // Eight bytes at a time: a word has a byte below 14 (LF, CR, NUL and some rare controls)
    // when this is nonzero (bytes of 0x80 and above are masked out by `!w`).
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    let stop = |b: u8| b == b'\n' || b == b'\r' || b == 0;
    let mut at = 0;
    while let Some(word) = rest.get(at..at + 8) {
        let w = u64::from_le_bytes(word.try_into().unwrap_or_default());
        if w.wrapping_sub(ONES * 14) & !w & HIGH != 0 {
            if let Some(i) = word.iter().position(|&b| stop(b)) {
                return Some(at + i);
            }
        }
        at += 8;
    }
    rest[at..].iter().position(|&b| stop(b)).map(|i| at + i)
}

/// How nginx treats a byte of a header name.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum Name {
    /// `[A-Za-z0-9-]`.
    Token,
    Colon,
    /// Any other printable byte (`_`, `@`, `.`, UTF-8...): the line is ignored.
    Ignored,
    /// Controls, space and DEL: 400.
    Fatal,
}

pub(super) static NAME: [Name; 256] = {
    let mut t = [Name::Ignored; 256];
    let mut i = 0;
    while i < 256 {
        let b = i as u8;
        t[i] = match b {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'-' => Name::Token,
            b':' => Name::Colon,
            0..=0x20 | 0x7f => Name::Fatal,
            _ => Name::Ignored,
        };
        i += 1;
    }
    t
};

/// nginx looks for the words anywhere in the value: "close" wins over "keep-alive".
pub(super) fn connection(value: &[u8]) -> Option<bool> {
    // The usual values first.
    if value.eq_ignore_ascii_case(b"keep-alive") {
        return Some(true);
    }
    if value.eq_ignore_ascii_case(b"close") {
        return Some(false);
    }
    let has = |word: &[u8]| {
        value
            .windows(word.len())
            .any(|w| w.eq_ignore_ascii_case(word))
    };
    if has(b"close") {
        Some(false)
    } else if has(b"keep-alive") {
        Some(true)
    } else {
        None
    }
}

/// RFC 9112 §6 with nginx's statuses: Transfer-Encoding in HTTP/1.0, or `chunked` with
/// Content-Length, is 400; exactly `chunked` is a chunked body; anything else is 501 (nginx),
/// except a list where `chunked` is not the only coding, which is 400 and close as RFC 9112
/// §6.3 requires when chunked is not last (nginx: 501).
pub(super) fn transfer_coding(te: &[u8], http11: bool, has_length: bool) -> Result<Body, Reject> {
    if !http11 {
        return Err(Reject::Status(400));
    }
    if te.eq_ignore_ascii_case(b"chunked") {
        if has_length {
            return Err(Reject::Status(400));
        }
        return Ok(Body::Chunked);
    }
    let is_chunked = |c: &[u8]| c.trim_ascii().eq_ignore_ascii_case(b"chunked");
    let count = te.split(|&b| b == b',').filter(|c| is_chunked(c)).count();
    let last = te.rsplit(|&b| b == b',').next().is_some_and(is_chunked);
    if count > 1 || (count == 1 && !last) {
        return Err(Reject::Status(400));
    }
    Err(Reject::Status(501))
}

/// nginx's `ngx_atoof`: plain digits, at most `i64::MAX`. Leading zeros are digits.
pub(super) fn parse_content_length(v: &[u8]) -> Option<u64> {
    if v.is_empty() {
        return None;
    }
    v.iter().try_fold(0u64, |n, &d| {
        if !d.is_ascii_digit() {
            return None;
        }
        let n = n.checked_mul(10)?.checked_add(u64::from(d - b'0'))?;
        (n <= i64::MAX as u64).then_some(n)
    })
}

/// nginx's `ngx_http_validate_host`: no `..`, no `/`, no control byte, space or DEL, and a
/// non-empty name once a port and a trailing dot are removed.
pub fn valid_host(host: &[u8]) -> bool {
    #[derive(PartialEq)]
    enum S {
        Usual,
        Literal,
        Rest,
    }
    // Fast path: a lower-case name without repeated dots, the usual Host.
    let mut prev = 0;
    let plain = host.iter().all(|&b| {
        let ok = matches!(b, b'a'..=b'z' | b'0'..=b'9' | b'-') || (b == b'.' && prev != b'.');
        prev = b;
        ok
    });
    if plain && !host.is_empty() && host != b"." {
        return true;
    }
    let mut state = S::Usual;
    let mut dot_pos = host.len();
    let mut host_len = host.len();
    for (i, &ch) in host.iter().enumerate() {
        match ch {
            b'.' => {
                if dot_pos.checked_add(1) == Some(i) {
                    return false;
                }
                dot_pos = i;
            }
            b':' if state == S::Usual => {
                host_len = i;
                state = S::Rest;
            }
            b'[' if i == 0 => state = S::Literal,
            b']' if state == S::Literal => {
                host_len = i + 1;
                state = S::Rest;
            }
            b'/' | 0..=0x20 | 0x7f => return false,
            _ => {}
        }
    }
    if host_len > 0 && dot_pos == host_len - 1 {
        host_len -= 1;
    }
    host_len > 0
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
    // Usually lower-case ASCII already: borrowed, no allocation and no UTF-8 validation.
    if name
        .iter()
        .all(|&b| b.is_ascii() && !b.is_ascii_uppercase())
    {
        // SAFETY: every byte was just checked to be ASCII, and ASCII is valid UTF-8.
        return unsafe { std::str::from_utf8_unchecked(name) }.into();
    }
    String::from_utf8_lossy(name).to_ascii_lowercase().into()
}
