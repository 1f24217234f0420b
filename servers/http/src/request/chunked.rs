//! Incremental decoder of a chunked request body (RFC 9112 §7.1), following nginx 1.22's
//! `ngx_http_parse_chunked` state by state, with two differences: every line must end in CRLF
//! (a bare LF is a framing error, RFC 9112 §7.1; nginx accepts it), and the bytes outside chunk
//! data (extensions, trailer fields) are capped, so a client cannot stream framing forever.
//! The chunk size is checked before every digit, so it never overflows.

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
enum State {
    #[default]
    Start,
    Size,
    Extension,
    ExtensionAlmostDone,
    Data,
    AfterData,
    AfterDataAlmostDone,
    LastExtension,
    LastExtensionAlmostDone,
    Trailer,
    TrailerAlmostDone,
    TrailerField,
    TrailerFieldAlmostDone,
    Done,
}

/// Decoding progress of one chunked body.
#[derive(Debug, Clone, Default)]
pub struct Chunked {
    state: State,
    /// Data bytes left in the current chunk.
    size: u64,
    /// Framing bytes seen so far (sizes, extensions, trailers).
    framing: usize,
    /// Data bytes seen so far.
    pub total: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChunkError {
    Malformed,
}

/// nginx refuses chunk sizes above `NGX_MAX_OFF_T_VALUE / 16` before the next digit.
const MAX_SIZE_BEFORE_DIGIT: u64 = (i64::MAX as u64) / 16;
/// Framing bytes (chunk lines, extensions, trailer fields) allowed per body.
pub const MAX_FRAMING: usize = 64 * 1024;

impl Chunked {
    /// Consumes body bytes from `input`; returns how many were used and whether the body ended.
    pub fn feed(&mut self, input: &[u8]) -> Result<(usize, bool), ChunkError> {
        use State as S;
        let mut i = 0;
        while i < input.len() {
            if self.state == S::Data {
                let take = self.size.min((input.len() - i) as u64);
                i += take as usize;
                self.size -= take;
                if self.size == 0 {
                    self.state = S::AfterData;
                }
                continue;
            }
            let ch = input[i];
            i += 1;
            self.framing += 1;
            if self.framing > MAX_FRAMING {
                return Err(ChunkError::Malformed);
            }
            self.state = match (self.state, ch) {
                (S::Start, _) => {
                    self.size = u64::from(hex(ch).ok_or(ChunkError::Malformed)?);
                    S::Size
                }
                (S::Size, _) if self.size > MAX_SIZE_BEFORE_DIGIT => {
                    return Err(ChunkError::Malformed)
                }
                (S::Size, _) if hex(ch).is_some() => {
                    self.size = self.size * 16 + u64::from(hex(ch).unwrap_or(0));
                    S::Size
                }
                (S::Size, b'\r') if self.size == 0 => S::LastExtensionAlmostDone,
                (S::Size, b';' | b' ' | b'\t') if self.size == 0 => S::LastExtension,
                (S::Size, b'\r') => S::ExtensionAlmostDone,
                (S::Size, b';' | b' ' | b'\t') => S::Extension,
                (S::Extension, b'\r') => S::ExtensionAlmostDone,
                (S::Extension, b'\n') => return Err(ChunkError::Malformed),
                (S::Extension, _) => S::Extension,
                (S::ExtensionAlmostDone, b'\n') => {
                    self.total = self
                        .total
                        .checked_add(self.size)
                        .ok_or(ChunkError::Malformed)?;
                    S::Data
                }
                (S::AfterData, b'\r') => S::AfterDataAlmostDone,
                (S::AfterDataAlmostDone, b'\n') => S::Start,
                (S::LastExtension, b'\r') => S::LastExtensionAlmostDone,
                (S::LastExtension, b'\n') => return Err(ChunkError::Malformed),
                (S::LastExtension, _) => S::LastExtension,
                (S::LastExtensionAlmostDone, b'\n') => S::Trailer,
                (S::Trailer, b'\r') => S::TrailerAlmostDone,
                (S::Trailer, b'\n') => return Err(ChunkError::Malformed),
                (S::Trailer, _) => S::TrailerField,
                (S::TrailerAlmostDone, b'\n') => {
                    self.state = S::Done;
                    return Ok((i, true));
                }
                (S::TrailerField, b'\r') => S::TrailerFieldAlmostDone,
                (S::TrailerField, b'\n') => return Err(ChunkError::Malformed),
                (S::TrailerField, _) => S::TrailerField,
                (S::TrailerFieldAlmostDone, b'\n') => S::Trailer,
                (S::Done, _) => return Ok((i - 1, true)),
                _ => return Err(ChunkError::Malformed),
            };
        }
        Ok((i, self.state == S::Done))
    }
}

fn hex(ch: u8) -> Option<u8> {
    match ch {
        b'0'..=b'9' => Some(ch - b'0'),
        b'a'..=b'f' => Some(ch - b'a' + 10),
        b'A'..=b'F' => Some(ch - b'A' + 10),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn feed_all(input: &[u8]) -> Result<(usize, bool, u64), ChunkError> {
        let mut c = Chunked::default();
        let (used, done) = c.feed(input)?;
        Ok((used, done, c.total))
    }

    #[test]
    fn chunked_bodies_decode_incrementally_and_strictly() {
        let body = b"4\r\nWiki\r\n5;ext=1\r\npedia\r\nE \r\n in\r\n\r\nchunks.\r\n0\r\nTrailer: x\r\n\r\nNEXT";
        assert_eq!(feed_all(body), Ok((body.len() - 4, true, 23)));
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
        assert_eq!((used, c.total), (body.len() - 4, 23));
        for bad in [
            &b"zz\r\n"[..],
            b"4\nWiki\r\n",
            b"4\r\nWikiX\r\n",
            b"ffffffffffffffffff\r\n",
            b"4\r\nWiki\r\n0\r\n\rx\r\n",
            b" 4\r\nWiki\r\n",
            b"4\r\nWiki\r\n0\r\nX: y\n\r\n",
            b"4;a\nWiki\r\n",
        ] {
            assert_eq!(
                feed_all(bad),
                Err(ChunkError::Malformed),
                "{:?}",
                String::from_utf8_lossy(bad)
            );
        }
        // The largest size nginx takes (it checks the size before every byte, the CR too) is
        // accepted without overflow, one digit more is not.
        assert_eq!(feed_all(b"7ffffffffffffff\r\n").map(|r| r.1), Ok(false));
        assert_eq!(
            feed_all(b"7ffffffffffffff0\r\n"),
            Err(ChunkError::Malformed)
        );
        // Endless extensions are cut off.
        let mut c = Chunked::default();
        c.feed(b"1;").unwrap();
        let ext = vec![b'x'; 1024];
        let refused = (0..100).any(|_| c.feed(&ext).is_err());
        assert!(refused, "framing bytes are capped");
    }
}
