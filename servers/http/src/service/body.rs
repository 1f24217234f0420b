//! Request bodies. fs-httpd serves static content, so bodies are read and dropped:
//! - a Content-Length body after the answer (its framing is certain), as nginx discards;
//! - a chunked body whole and before the answer, so that a malformed one is answered 400 (or
//!   the error the request gets anyway) and closed, never with a 200 first (the rule;
//!   nginx answers first when the body is still arriving).

use crate::request::{Chunked, Head};

/// What the answer knows about the request's body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// No body, or a Content-Length body that follows the head and is discarded after.
    Follows,
    /// A chunked body read whole; its framing was sound.
    Read,
    /// A chunked body whose framing broke: the connection's message boundaries are lost.
    Malformed,
    /// A chunked body beyond `client_max_body_size`: 413.
    TooLarge,
}

impl Outcome {
    pub fn keeps_connection(self) -> bool {
        matches!(self, Outcome::Follows | Outcome::Read)
    }
}

/// A head waiting for its chunked body.
pub struct PendingBody {
    pub head: Head,
    decoder: Chunked,
    pub outcome: Outcome,
}

pub enum BodyRead {
    /// All of the input was body; more is needed.
    More,
    /// The body ended after this many bytes of the input.
    Done(usize),
    Malformed,
    TooLarge,
}

impl PendingBody {
    pub fn new(head: Head) -> Self {
        PendingBody {
            head,
            decoder: Chunked::default(),
            outcome: Outcome::Read,
        }
    }

    /// Feeds body bytes; on a final answer, `outcome` says what the body was.
    pub fn read(&mut self, buf: &[u8], limit: u64) -> BodyRead {
        let fed = self.decoder.feed(buf);
        if limit > 0 && self.decoder.total > limit {
            self.outcome = Outcome::TooLarge;
            return BodyRead::TooLarge;
        }
        match fed {
            Ok((used, true)) => BodyRead::Done(used),
            Ok((_, false)) => BodyRead::More,
            Err(_) => {
                self.outcome = Outcome::Malformed;
                BodyRead::Malformed
            }
        }
    }
}

/// Consumes Content-Length body bytes to discard, `left` of them still due. `Some(n)`: the body
/// ended after `n` bytes of `buf`; `None`: all of `buf` was body.
pub fn discard(left: &mut u64, buf: &[u8]) -> Option<usize> {
    match usize::try_from(*left) {
        Ok(n) if n <= buf.len() => Some(n),
        _ => {
            *left -= buf.len() as u64;
            None
        }
    }
}
