//! Request-target path normalisation: percent-decoding, dot-segment removal (RFC 3986 §5.2.4)
//! and slash merging, as nginx does before location matching. A path that would climb above
//! the root, or that contains NUL, is refused.

use std::borrow::Cow;

/// The decoded, normalised path and the raw query string (without `?`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Normalized<'a> {
    /// Borrowed from the target when it needed no change (the usual case).
    pub path: Cow<'a, [u8]>,
    pub query: Option<Vec<u8>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BadPath;

pub fn normalize(target: &[u8], merge_slashes: bool) -> Result<Normalized<'_>, BadPath> {
    let target = match memchr::memchr(b'#', target) {
        Some(i) => &target[..i],
        None => target,
    };
    let (raw_path, query) = match memchr::memchr(b'?', target) {
        Some(i) => (&target[..i], Some(target[i + 1..].to_vec())),
        None => (target, None),
    };
    if raw_path.first() != Some(&b'/') {
        return Err(BadPath);
    }
    if is_plain(raw_path) {
        return Ok(Normalized {
            path: raw_path.into(),
            query,
        });
    }
    let decoded = percent_decode(raw_path)?;
    Ok(Normalized {
        path: remove_dots(&decoded, merge_slashes)?.into(),
        query,
    })
}

/// Most paths need no decoding and have no dot segments or repeated slashes: one pass over
/// the (short) path tells.
fn is_plain(path: &[u8]) -> bool {
    let mut prev = 0;
    for &b in path {
        if b == b'%' || b == 0 || (prev == b'/' && (b == b'.' || b == b'/')) {
            return false;
        }
        prev = b;
    }
    true
}

/// Decodes `%XX`; a NUL, raw or encoded, is refused.
fn percent_decode(raw: &[u8]) -> Result<Vec<u8>, BadPath> {
    let mut out = Vec::with_capacity(raw.len());
    let mut i = 0;
    while i < raw.len() {
        let b = raw[i];
        if b == b'%' {
            let hex = raw.get(i + 1..i + 3).ok_or(BadPath)?;
            let value = (hex_digit(hex[0])? << 4) | hex_digit(hex[1])?;
            out.push(value);
            i += 3;
        } else {
            out.push(b);
            i += 1;
        }
        if out.last() == Some(&0) {
            return Err(BadPath);
        }
    }
    Ok(out)
}

fn hex_digit(b: u8) -> Result<u8, BadPath> {
    match b {
        b'0'..=b'9' => Ok(b - b'0'),
        b'a'..=b'f' => Ok(b - b'a' + 10),
        b'A'..=b'F' => Ok(b - b'A' + 10),
        _ => Err(BadPath),
    }
}

/// Resolves `.` and `..` segments; `..` above the root is an error. A path whose last segment
/// is empty, `.` or `..` keeps a trailing slash.
fn remove_dots(path: &[u8], merge_slashes: bool) -> Result<Vec<u8>, BadPath> {
    let parts: Vec<&[u8]> = path[1..].split(|&b| b == b'/').collect();
    let last = parts.len() - 1;
    let mut segments: Vec<&[u8]> = Vec::with_capacity(parts.len());
    for (i, seg) in parts.iter().enumerate() {
        match *seg {
            b"." => {}
            b".." => {
                segments.pop().ok_or(BadPath)?;
            }
            b"" if merge_slashes || i == last => {}
            s => segments.push(s),
        }
    }
    let mut out = Vec::with_capacity(path.len());
    for s in &segments {
        out.push(b'/');
        out.extend_from_slice(s);
    }
    if segments.is_empty() || matches!(parts[last], b"" | b"." | b"..") {
        out.push(b'/');
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn n(t: &str) -> Result<String, BadPath> {
        normalize(t.as_bytes(), true).map(|n| String::from_utf8(n.path.into_owned()).unwrap())
    }

    #[test]
    fn resolves_dots_and_merges_slashes() {
        assert_eq!(n("/").unwrap(), "/");
        assert_eq!(n("/a/b").unwrap(), "/a/b");
        assert_eq!(n("/a/b/").unwrap(), "/a/b/");
        assert_eq!(n("//a///b").unwrap(), "/a/b");
        assert_eq!(n("/a/./b").unwrap(), "/a/b");
        assert_eq!(n("/a/../b").unwrap(), "/b");
        assert_eq!(n("/a/b/..").unwrap(), "/a/");
        assert_eq!(n("/a/b/.").unwrap(), "/a/b/");
        assert_eq!(n("/a/%2e%2e/b").unwrap(), "/b");
        assert_eq!(n("/a%2fb").unwrap(), "/a/b");
        assert_eq!(n("/%41?x=%2e#frag").unwrap(), "/A");
    }

    #[test]
    fn refuses_escapes_and_nul() {
        assert_eq!(n("/.."), Err(BadPath));
        assert_eq!(n("/a/../../etc/passwd"), Err(BadPath));
        assert_eq!(n("/%2e%2e/etc/passwd"), Err(BadPath));
        assert_eq!(n("/..%2fetc"), Err(BadPath));
        assert_eq!(n("/a%00b"), Err(BadPath));
        assert_eq!(n("/a%zz"), Err(BadPath));
        assert_eq!(n("/a%4"), Err(BadPath));
        assert_eq!(n("a/b"), Err(BadPath));
    }

    #[test]
    fn plain_paths_are_borrowed_and_others_are_not() {
        for plain in ["/", "/600", "/a.b/c.d", "/a-b_c/x.html"] {
            assert!(is_plain(plain.as_bytes()), "{plain}");
            assert!(matches!(
                normalize(plain.as_bytes(), true).unwrap().path,
                Cow::Borrowed(_)
            ));
        }
        for not in ["/a//b", "/./a", "/a/..", "/a%20b", "//"] {
            assert!(!is_plain(not.as_bytes()), "{not}");
        }
    }

    #[test]
    fn keeps_query_raw() {
        let r = normalize(b"/p?a=%20&b", true).unwrap();
        assert_eq!(r.query.as_deref(), Some(&b"a=%20&b"[..]));
    }
}
