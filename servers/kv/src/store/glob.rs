//! Redis glob matching, for KEYS, SCAN MATCH, PSUBSCRIBE, CONFIG GET and friends.

/// Redis glob matching (`*`, `?`, `[a-z]`, `[^x]`, `\` escape), case-sensitive.
pub fn glob(p: &[u8], s: &[u8]) -> bool {
    let (mut pi, mut si) = (0, 0);
    let (mut star_p, mut star_s) = (usize::MAX, 0);
    while si < s.len() {
        if pi < p.len() {
            match p[pi] {
                b'*' => {
                    star_p = pi;
                    star_s = si;
                    pi += 1;
                    continue;
                }
                b'?' => {
                    pi += 1;
                    si += 1;
                    continue;
                }
                b'[' => {
                    if let Some((matched, next)) = class(p, pi, s[si]) {
                        if matched {
                            pi = next;
                            si += 1;
                            continue;
                        }
                    }
                }
                b'\\' if pi + 1 < p.len() && p[pi + 1] == s[si] => {
                    pi += 2;
                    si += 1;
                    continue;
                }
                c if c == s[si] => {
                    pi += 1;
                    si += 1;
                    continue;
                }
                _ => {}
            }
        }
        if star_p == usize::MAX {
            return false;
        }
        pi = star_p + 1;
        star_s += 1;
        si = star_s;
    }
    while pi < p.len() && p[pi] == b'*' {
        pi += 1;
    }
    pi == p.len()
}

/// Matches `c` against the class starting at `p[start] == '['`: (matched, index after `]`).
fn class(p: &[u8], start: usize, c: u8) -> Option<(bool, usize)> {
    let mut i = start + 1;
    let not = p.get(i) == Some(&b'^');
    if not {
        i += 1;
    }
    let mut matched = false;
    loop {
        let ch = *p.get(i)?;
        if ch == b']' {
            break;
        }
        if ch == b'\\' && i + 1 < p.len() {
            i += 1;
            matched |= p[i] == c;
        } else if p.get(i + 1) == Some(&b'-') && i + 2 < p.len() && p[i + 2] != b']' {
            let (mut lo, mut hi) = (ch, p[i + 2]);
            if lo > hi {
                std::mem::swap(&mut lo, &mut hi);
            }
            matched |= c >= lo && c <= hi;
            i += 2;
        } else {
            matched |= ch == c;
        }
        i += 1;
    }
    Some((matched != not, i + 1))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn glob_patterns() {
        assert!(glob(b"*", b"anything"));
        assert!(glob(b"h?llo", b"hello"));
        assert!(glob(b"h[ae]llo", b"hallo"));
        assert!(!glob(b"h[^e]llo", b"hello"));
        assert!(glob(b"h[a-b]llo", b"hbllo"));
        assert!(glob(b"k*:*", b"key:1"));
        assert!(!glob(b"k*:x", b"key:1"));
        assert!(glob(b"a\\*", b"a*"));
    }
}
