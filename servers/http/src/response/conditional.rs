//! Conditional requests as nginx 1.22's not-modified filter evaluates them for a 200 response
//! (RFC 9110 §13, with nginx's choices where they differ: `If-Unmodified-Since` is checked
//! even when `If-Match` is present and an invalid date fails it; a 304 needs every present
//! `If-Modified-Since`/`If-None-Match` to say "not modified"), `If-Range`, and nginx's date
//! parser. Dates are parsed with bounds-checked reads and wrapping arithmetic, exactly as
//! nginx computes them, so no input (a year 0000, day 00, garbage) can panic.

use crate::config::ImsMode as Ims;
use crate::request::Head;

/// The outcome of the preconditions for a response that would be 200.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Precondition {
    Proceed,
    NotModified,
    Failed,
}

/// nginx's `ngx_http_not_modified_header_filter`. `last_modified` is None for responses
/// without one (`return`), as is `etag`.
pub fn preconditions(
    head: &Head,
    etag: Option<&str>,
    last_modified: Option<i64>,
    ims: Ims,
) -> Precondition {
    if let Some(date) = head.if_unmodified_since() {
        let unmodified = last_modified.is_some_and(|lm| parse_http_time(date) >= lm);
        if !unmodified {
            return Precondition::Failed;
        }
    }
    if let Some(list) = head.if_match() {
        if !etag_matches(list, etag, false) {
            return Precondition::Failed;
        }
    }
    let (since, none_match) = (head.if_modified_since(), head.if_none_match());
    if since.is_none() && none_match.is_none() {
        return Precondition::Proceed;
    }
    if let Some(date) = since {
        if modified_since(date, last_modified, ims) {
            return Precondition::Proceed;
        }
    }
    if let Some(list) = none_match {
        if !etag_matches(list, etag, true) {
            return Precondition::Proceed;
        }
    }
    Precondition::NotModified
}

/// nginx's `ngx_http_test_if_modified`.
fn modified_since(date: &[u8], last_modified: Option<i64>, ims: Ims) -> bool {
    let Some(lm) = last_modified else { return true };
    if ims == Ims::Off {
        return true;
    }
    let since = parse_http_time(date);
    if since == lm {
        return false;
    }
    ims == Ims::Exact || since < lm
}

/// nginx's `ngx_http_test_if_match`: `*`, or a tag of the comma-separated list equal to the
/// current one; `weak` (If-None-Match) ignores `W/` on both sides.
fn etag_matches(list: &[u8], etag: Option<&str>, weak: bool) -> bool {
    if list == b"*" {
        return true;
    }
    let Some(etag) = etag else { return false };
    let mut etag = etag.as_bytes();
    if weak && etag.len() > 2 && etag.starts_with(b"W/") {
        etag = &etag[2..];
    }
    let mut rest = list;
    while !rest.is_empty() {
        if weak && rest.len() > 2 && rest.starts_with(b"W/") {
            rest = &rest[2..];
        }
        if etag.len() > rest.len() {
            return false;
        }
        if rest.starts_with(etag) {
            let after = rest[etag.len()..].trim_ascii_start();
            if after.is_empty() || after[0] == b',' {
                return true;
            }
        }
        let skip = rest.iter().position(|&b| b == b',').unwrap_or(rest.len());
        rest = &rest[skip..];
        let sep = rest
            .iter()
            .take_while(|&&b| b == b' ' || b == b'\t' || b == b',')
            .count();
        rest = &rest[sep..];
    }
    false
}

/// nginx's `If-Range` test: a value ending in `"` is an entity tag compared byte for byte,
/// anything else a date that must equal Last-Modified.
pub fn if_range_holds(value: &[u8], etag: Option<&str>, last_modified: Option<i64>) -> bool {
    if value.len() >= 2 && value.ends_with(b"\"") {
        return etag.is_some_and(|e| e.as_bytes() == value);
    }
    last_modified.is_some_and(|lm| parse_http_time(value) == lm)
}

/// nginx's `ngx_parse_http_time`: RFC 1123 (`Tue, 10 Nov 2002 23:50:13`), RFC 850
/// (`Tuesday, 10-Nov-02 23:50:13`) and asctime (`Tue Nov 10 23:50:13 2002`) dates; what follows
/// the time (` GMT`) and the weekday are not checked. -1 when the value is not a date.
pub fn parse_http_time(value: &[u8]) -> i64 {
    parse_time(value).unwrap_or(-1)
}

fn parse_time(v: &[u8]) -> Option<i64> {
    #[derive(PartialEq)]
    enum Fmt {
        None,
        Rfc822,
        Rfc850,
        Isoc,
    }
    const MDAY: [u64; 12] = [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];
    let at = |i: usize| v.get(i).copied().unwrap_or(0);
    let digit = |i: usize| at(i).is_ascii_digit().then(|| u64::from(at(i) - b'0'));
    let two = |i: usize| Some(digit(i)? * 10 + digit(i + 1)?);
    let end = v.len();
    let mut fmt = Fmt::None;
    let mut p = 0;
    while p < end {
        if v[p] == b',' {
            break;
        }
        if v[p] == b' ' {
            fmt = Fmt::Isoc;
            break;
        }
        p += 1;
    }
    p += 1;
    while p < end && v[p] == b' ' {
        p += 1;
    }
    if end.saturating_sub(p) < 18 {
        return None;
    }
    let mut day = 0;
    if fmt != Fmt::Isoc {
        day = two(p)?;
        p += 2;
        match at(p) {
            b' ' if end.saturating_sub(p) >= 18 => fmt = Fmt::Rfc822,
            b'-' => fmt = Fmt::Rfc850,
            _ => return None,
        }
        p += 1;
    }
    let month: i64 = match at(p) {
        b'J' if at(p + 1) == b'a' => 0,
        b'J' if at(p + 2) == b'n' => 5,
        b'J' => 6,
        b'F' => 1,
        b'M' if at(p + 2) == b'r' => 2,
        b'M' => 4,
        b'A' if at(p + 1) == b'p' => 3,
        b'A' => 7,
        b'S' => 8,
        b'O' => 9,
        b'N' => 10,
        b'D' => 11,
        _ => return None,
    };
    p += 3;
    if (fmt == Fmt::Rfc822 && at(p) != b' ') || (fmt == Fmt::Rfc850 && at(p) != b'-') {
        return None;
    }
    p += 1;
    let mut year = 0u64;
    if fmt == Fmt::Rfc822 {
        year = two(p)? * 100 + two(p + 2)?;
        p += 4;
    } else if fmt == Fmt::Rfc850 {
        year = two(p)?;
        year += if year < 70 { 2000 } else { 1900 };
        p += 2;
    }
    if fmt == Fmt::Isoc {
        if at(p) == b' ' {
            p += 1;
        }
        day = digit(p)?;
        p += 1;
        if at(p) != b' ' {
            day = day * 10 + digit(p)?;
            p += 1;
        }
        if end.saturating_sub(p) < 14 {
            return None;
        }
    }
    if at(p) != b' ' {
        return None;
    }
    p += 1;
    let hour = two(p)?;
    p += 2;
    if at(p) != b':' {
        return None;
    }
    let min = two(p + 1)?;
    p += 3;
    if at(p) != b':' {
        return None;
    }
    let sec = two(p + 1)?;
    p += 3;
    if fmt == Fmt::Isoc {
        if at(p) != b' ' {
            return None;
        }
        year = two(p + 1)? * 100 + two(p + 3)?;
    }
    if hour > 23 || min > 59 || sec > 59 {
        return None;
    }
    let leap = year.is_multiple_of(4) && (!year.is_multiple_of(100) || year.is_multiple_of(400));
    if day == 29 && month == 1 {
        if !leap {
            return None;
        }
    } else if day > MDAY[month as usize] {
        return None;
    }
    // Gauss' formula from March 1, 1 BC, with nginx's unsigned wrap-around for year 0 and
    // day 0 (such dates give nonsense times there too, never a crash here).
    let mut month = month - 1;
    if month <= 0 {
        month += 12;
        year = year.wrapping_sub(1);
    }
    let days = 365u64
        .wrapping_mul(year)
        .wrapping_add(year / 4)
        .wrapping_sub(year / 100)
        .wrapping_add(year / 400)
        .wrapping_add((367 * month / 12) as u64)
        .wrapping_sub(30)
        .wrapping_add(day)
        .wrapping_sub(1)
        .wrapping_sub(719_527)
        .wrapping_add(31 + 28);
    let time = days
        .wrapping_mul(86_400)
        .wrapping_add(hour * 3600 + min * 60 + sec);
    Some(time as i64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_parse_like_nginx() {
        let t = |s: &str| parse_http_time(s.as_bytes());
        assert_eq!(t("Tue, 14 Nov 2023 22:13:20 GMT"), 1_700_000_000);
        assert_eq!(t("Tuesday, 14-Nov-23 22:13:20 GMT"), 1_700_000_000);
        assert_eq!(t("Tue Nov 14 22:13:20 2023"), 1_700_000_000);
        assert_eq!(t("Tue Nov  4 22:13:20 2023"), 1_699_135_999 + 1);
        assert_eq!(
            t("xxx, 14 Nov 2023 22:13:20"),
            1_700_000_000,
            "weekday unchecked"
        );
        assert_eq!(t("Thu, 01 Jan 1970 00:00:00 GMT"), 0);
        assert_eq!(t("Thu, 29 Feb 2024 00:00:00 GMT"), 1_709_164_800);
        for bad in [
            "",
            "garbage",
            "Tue, 14 Nov 2023 24:00:00 GMT",
            "Tue, 31 Nov 2023 22:13:20 GMT",
            "Tue, 29 Feb 2023 22:13:20 GMT",
            "Tue, 14 Xyz 2023 22:13:20 GMT",
            "Tue, 14 Nov 20231 22:13:20 GMT",
            "Tue, 14 Nov 2023 22:13",
        ] {
            assert_eq!(t(bad), -1, "{bad}");
        }
        // Year 0000, day 00 and the like compute something (as in nginx) and never panic.
        for odd in [
            "Sat, 00 Jan 0000 00:00:00 GMT",
            "Fri, 31 Dec 9999 23:59:59 GMT",
            "Mon, 01 Mar 0000 00:00:00 GMT",
        ] {
            let _ = t(odd);
        }
    }

    #[test]
    fn etag_lists_compare_like_nginx() {
        assert!(etag_matches(b"W/\"a\"", Some("\"a\""), true));
        assert!(!etag_matches(b"W/\"a\"", Some("\"a\""), false));
        assert!(etag_matches(b"\"x\", \"a\"", Some("\"a\""), false));
        assert!(etag_matches(b"\"x\",\t\"a\" ", Some("\"a\""), false));
        assert!(!etag_matches(b"\"a\" \"b\"", Some("\"a\""), false));
        assert!(etag_matches(b"*", None, false));
        assert!(!etag_matches(b"\"a\"", None, true));
        assert!(if_range_holds(b"\"a\"", Some("\"a\""), None));
        assert!(!if_range_holds(b"W/\"a\"", Some("\"a\""), None));
        assert!(if_range_holds(
            b"Thu, 01 Jan 1970 00:00:10 GMT",
            None,
            Some(10)
        ));
        assert!(!if_range_holds(
            b"Thu, 01 Jan 1970 00:00:11 GMT",
            None,
            Some(10)
        ));
    }
}
