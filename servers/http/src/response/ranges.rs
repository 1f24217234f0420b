//! Byte ranges (RFC 9110 §14) as nginx 1.22's range filter parses them
//! (`ngx_http_range_parse`), and the `multipart/byteranges` body for several ranges.
//!
//! nginx's rules, kept exactly: numbers are checked against overflow before every digit
//! (larger: 416); a range whose start is past its end is skipped, not fatal; more satisfiable
//! ranges than `max_ranges`, or ranges that together are larger than the file, give the whole
//! file (200), which also bounds a multipart body by the file's size plus the part headers.

use bytes::Bytes;

use super::{Part, Parts};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ranges {
    /// No usable Range header: send the whole representation.
    Full,
    /// Inclusive byte ranges, in request order.
    Partial(Vec<(u64, u64)>),
    Unsatisfiable,
}

const MAX_OFF: u64 = i64::MAX as u64;

/// Parses a `Range` value for a representation of `len` bytes. A value that does not start
/// with `bytes=` (in any case) or is shorter than 7 bytes is not a range request.
pub fn parse_ranges(value: &[u8], len: u64, max_ranges: Option<u32>) -> Ranges {
    if value.len() < 7 || !value[..6].eq_ignore_ascii_case(b"bytes=") {
        return Ranges::Full;
    }
    let v = &value[6..];
    let at = |i: usize| v.get(i).copied().unwrap_or(0);
    let spaces = |mut i: usize| {
        while at(i) == b' ' {
            i += 1;
        }
        i
    };
    // A number of at least one digit that fits nginx's off_t.
    let number = |mut i: usize| -> Option<(u64, usize)> {
        if !at(i).is_ascii_digit() {
            return None;
        }
        let mut n = 0u64;
        while at(i).is_ascii_digit() {
            let d = u64::from(at(i) - b'0');
            if n >= MAX_OFF / 10 && (n > MAX_OFF / 10 || d > MAX_OFF % 10) {
                return None;
            }
            n = n * 10 + d;
            i += 1;
        }
        Some((n, i))
    };
    let mut budget = max_ranges.map_or(u64::from(i32::MAX as u32), u64::from);
    let mut out = Vec::new();
    let mut size = 0u64;
    let mut p = 0;
    loop {
        p = spaces(p);
        let (start, end) = if at(p) != b'-' {
            let Some((start, q)) = number(p) else {
                return Ranges::Unsatisfiable;
            };
            p = spaces(q);
            if at(p) != b'-' {
                return Ranges::Unsatisfiable;
            }
            p = spaces(p + 1);
            if at(p) == b',' || p >= v.len() {
                (start, len)
            } else {
                let Some((end, q)) = number(p) else {
                    return Ranges::Unsatisfiable;
                };
                p = spaces(q);
                if at(p) != b',' && p < v.len() {
                    return Ranges::Unsatisfiable;
                }
                (start, if end >= len { len } else { end + 1 })
            }
        } else {
            let Some((suffix, q)) = number(p + 1) else {
                return Ranges::Unsatisfiable;
            };
            p = spaces(q);
            if at(p) != b',' && p < v.len() {
                return Ranges::Unsatisfiable;
            }
            (len.saturating_sub(suffix), len)
        };
        if start < end {
            match size.checked_add(end - start) {
                Some(total) if total <= MAX_OFF => size = total,
                _ => return Ranges::Unsatisfiable,
            }
            out.push((start, end - 1));
            if budget == 0 {
                return Ranges::Full;
            }
            budget -= 1;
        } else if start == 0 {
            return Ranges::Full;
        }
        if at(p) != b',' || p >= v.len() {
            break;
        }
        p += 1;
    }
    if out.is_empty() {
        Ranges::Unsatisfiable
    } else if size > len {
        Ranges::Full
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

    /// Each answer measured against Debian's nginx 1.22 for a 20-byte file.
    #[test]
    fn ranges_follow_nginx() {
        let p = |v: &str| parse_ranges(v.as_bytes(), 20, None);
        assert_eq!(p("bytes=0-3"), Ranges::Partial(vec![(0, 3)]));
        assert_eq!(p("BYTES=0-3"), Ranges::Partial(vec![(0, 3)]));
        assert_eq!(p("bytes= 0 - 3 "), Ranges::Partial(vec![(0, 3)]));
        assert_eq!(p("bytes=-5"), Ranges::Partial(vec![(15, 19)]));
        assert_eq!(p("bytes=-50"), Ranges::Partial(vec![(0, 19)]));
        assert_eq!(p("bytes=15-"), Ranges::Partial(vec![(15, 19)]));
        assert_eq!(p("bytes=18-100"), Ranges::Partial(vec![(18, 19)]));
        assert_eq!(p("bytes=0-1, 4-5"), Ranges::Partial(vec![(0, 1), (4, 5)]));
        assert_eq!(p("bytes=5-2,0-1"), Ranges::Partial(vec![(0, 1)]));
        assert_eq!(p("bytes=20-30"), Ranges::Unsatisfiable);
        assert_eq!(p("bytes=5-2"), Ranges::Unsatisfiable);
        assert_eq!(p("bytes=x-1"), Ranges::Unsatisfiable);
        assert_eq!(p("bytes=0-1,,2-3"), Ranges::Unsatisfiable);
        assert_eq!(p("bytes=0-1x"), Ranges::Unsatisfiable);
        assert_eq!(p("bytes=-0"), Ranges::Unsatisfiable);
        assert_eq!(p("bytes=99999999999999999999-"), Ranges::Unsatisfiable);
        assert_eq!(p("bytes=9223372036854775807-"), Ranges::Unsatisfiable);
        assert_eq!(p("items=0-1"), Ranges::Full);
        assert_eq!(p("bytes="), Ranges::Full);
        // Ranges larger than the file together, or more than max_ranges: the whole file.
        assert_eq!(p("bytes=0-15,0-15"), Ranges::Full);
        assert_eq!(
            parse_ranges(b"bytes=0-1,2-3,4-5", 20, Some(2)),
            Ranges::Full
        );
        assert_eq!(parse_ranges(b"bytes=0-1", 20, Some(0)), Ranges::Full);
        // An empty file: nginx sends it whole (its `start == 0` rule).
        assert_eq!(parse_ranges(b"bytes=0-0", 0, None), Ranges::Full);
        assert_eq!(parse_ranges(b"bytes=-1", 0, None), Ranges::Full);
        assert_eq!(parse_ranges(b"bytes=0-0,0-0", 1, None), Ranges::Full);
        // A thousand one-byte ranges of a tiny file cannot make a large multipart body.
        let many = format!("bytes={}", vec!["0-0"; 1000].join(","));
        assert_eq!(parse_ranges(many.as_bytes(), 5, None), Ranges::Full);
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
}
