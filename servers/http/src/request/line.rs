//! The request line, accepted and refused exactly as nginx 1.22 does (its
//! `ngx_http_parse_request_line`): a resumable byte-at-a-time state machine, so a line that
//! arrives in pieces is never scanned twice and a malformed one is refused at its first bad
//! byte. No recursion, no indexing that can fail, and version numbers are bounded while they
//! are read.
//!
//! What nginx accepts and this parser does too: leading empty lines; several spaces between
//! method, target and version and after the version; `HTTP/1.x` for any minor up to three
//! digits (`HTTP/1.01` is 1.1); bytes 0x80-0xff in the target; absolute-form targets with any
//! scheme, a registered name, an IP literal and a port. What it refuses: a method outside
//! `[A-Z_-]`, a tab or control byte anywhere, a space inside the target, `HTTP/01.1`, a missing
//! minor. A major version above 1 is 505, like nginx. HTTP/0.9 (no version) is refused: that is
//! fs-httpd's deliberate deviation (nginx still answers it).

use super::{Reject, Span};

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
enum State {
    #[default]
    Start,
    Method,
    SpacesBeforeUri,
    Schema,
    SchemaSlash,
    SchemaSlashSlash,
    HostStart,
    Host,
    /// Just after an IP literal's `]`.
    HostEnd,
    HostIpLiteral,
    Port,
    Uri,
    /// Spaces after the target: the version (or, for HTTP/0.9, the line end) follows.
    AfterUri,
    H,
    Ht,
    Htt,
    Http,
    FirstMajor,
    Major,
    FirstMinor,
    Minor,
    SpacesAfterVersion,
    AlmostDone,
}

/// The parts of a request line, as offsets into the head's buffer.
#[derive(Debug, Clone, Copy, Default)]
pub struct Line {
    /// The line from the method to the last byte before CR/LF (nginx's `$request`).
    pub line: Span,
    pub method: Span,
    /// Origin-form path and query (for an absolute-form target, the part after the authority).
    pub target: Span,
    /// An absolute-form target's host (without the port).
    pub host: Option<Span>,
    /// An absolute-form target without a path (`http://h` or `http://h?q`): the path is "/".
    pub empty_path: bool,
    pub major: u16,
    pub minor: u16,
    /// Offset just past the line's LF.
    pub next: usize,
}

/// Parsing progress of one request line.
#[derive(Debug, Clone, Copy, Default)]
pub struct LineParser {
    state: State,
    /// Next byte to examine.
    pos: usize,
    start: usize,
    host_start: usize,
    uri_start: usize,
    /// Where the line ends (its CR), once known.
    end: Option<usize>,
    line: Line,
}

/// The URI bytes nginx refuses: controls and DEL; a space ends the target.
const fn uri_stop() -> [bool; 256] {
    let mut t = [false; 256];
    let mut i = 0;
    while i <= 0x20 {
        t[i] = true;
        i += 1;
    }
    t[0x7f] = true;
    t
}
static URI_STOP: [bool; 256] = uri_stop();

fn bad<T>() -> Result<T, Reject> {
    Err(Reject::Status(400))
}

fn span(start: usize, end: usize) -> Span {
    Span::new(start, end)
}

impl LineParser {
    /// Examines the bytes of `buf` not seen yet. `Ok(Some(line))` once the line is complete,
    /// `Ok(None)` when more input is needed; a line longer than `max` is 414.
    pub fn advance(&mut self, buf: &[u8], max: usize) -> Result<Option<Line>, Reject> {
        let mut p = self.pos;
        while p < buf.len() {
            // Too long once a byte past `max` is reached inside the line, whatever that byte
            // is: the same answer however the line arrives.
            if p > self.start.saturating_add(max)
                && !matches!(self.state, State::Start | State::AlmostDone)
            {
                return Err(Reject::Status(414));
            }
            let ch = buf[p];
            match self.state {
                State::Start => match ch {
                    // Empty lines before the request line are skipped (RFC 9112 §2.2).
                    b'\r' | b'\n' => {}
                    // Fast path for the common method (the general states give the same).
                    b'G' if buf[p..].starts_with(b"GET /") => {
                        self.start = p;
                        self.line.method = span(p, p + 3);
                        self.uri_start = p + 4;
                        self.state = State::Uri;
                        p += 5;
                        continue;
                    }
                    b'A'..=b'Z' | b'_' | b'-' => {
                        self.start = p;
                        self.state = State::Method;
                    }
                    _ => return bad(),
                },
                State::Method => match ch {
                    b' ' => {
                        self.line.method = span(self.start, p);
                        self.state = State::SpacesBeforeUri;
                    }
                    b'A'..=b'Z' | b'_' | b'-' => {}
                    _ => return bad(),
                },
                State::SpacesBeforeUri => match ch {
                    b' ' => {}
                    b'/' => {
                        self.uri_start = p;
                        self.state = State::Uri;
                    }
                    b'a'..=b'z' | b'A'..=b'Z' => self.state = State::Schema,
                    _ => return bad(),
                },
                State::Schema => match ch {
                    b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'+' | b'-' | b'.' => {}
                    b':' => self.state = State::SchemaSlash,
                    _ => return bad(),
                },
                State::SchemaSlash | State::SchemaSlashSlash if ch != b'/' => return bad(),
                State::SchemaSlash => self.state = State::SchemaSlashSlash,
                State::SchemaSlashSlash => self.state = State::HostStart,
                State::HostStart => {
                    self.host_start = p;
                    if ch == b'[' {
                        self.state = State::HostIpLiteral;
                    } else {
                        self.state = State::Host;
                        continue; // this byte is the host's first
                    }
                }
                State::Host => match ch {
                    b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'.' | b'-' => {}
                    _ => self.host_end(ch, p)?,
                },
                State::HostEnd => self.host_end(ch, p)?,
                State::HostIpLiteral => match ch {
                    b']' => self.state = State::HostEnd,
                    b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b':' => {}
                    b'-' | b'.' | b'_' | b'~' => {} // unreserved
                    b'!' | b'$' | b'&' | b'\'' | b'(' | b')' | b'*' | b'+' | b',' | b';' | b'=' => {
                    } // sub-delims
                    _ => return bad(),
                },
                State::Port => match ch {
                    b'0'..=b'9' => {}
                    _ => self.after_authority(ch, p)?,
                },
                State::Uri => {
                    // Fast path: every byte but controls, space and DEL belongs to the target.
                    let stop = buf
                        .len()
                        .min(self.start.saturating_add(max).saturating_add(1));
                    let rest = buf.get(p..stop).unwrap_or_default();
                    let skip = rest.iter().position(|&b| URI_STOP[b as usize]);
                    let Some(skip) = skip else {
                        p = stop.max(p);
                        continue;
                    };
                    p += skip;
                    match buf[p] {
                        b' ' => {
                            self.line.target = span(self.uri_start, p);
                            self.state = State::AfterUri;
                        }
                        // No version: HTTP/0.9, refused (deliberate deviation).
                        _ => return bad(),
                    }
                }
                State::AfterUri => match ch {
                    b' ' => {}
                    // Fast path for the common versions (the general states give the same).
                    b'H' if buf.len() - p >= 10
                        && buf[p..p + 7] == *b"HTTP/1."
                        && matches!(buf[p + 7], b'0' | b'1')
                        && buf[p + 8..p + 10] == *b"\r\n" =>
                    {
                        self.line.major = 1;
                        self.line.minor = u16::from(buf[p + 7] - b'0');
                        self.end = Some(p + 8);
                        return self.done(p + 9, max);
                    }
                    b'H' => self.state = State::H,
                    _ => return bad(),
                },
                State::H if ch == b'T' => self.state = State::Ht,
                State::Ht if ch == b'T' => self.state = State::Htt,
                State::Htt if ch == b'P' => self.state = State::Http,
                State::Http if ch == b'/' => self.state = State::FirstMajor,
                State::H | State::Ht | State::Htt | State::Http => return bad(),
                State::FirstMajor => match ch {
                    b'1'..=b'9' => {
                        self.line.major = u16::from(ch - b'0');
                        if self.line.major > 1 {
                            return Err(Reject::Status(505));
                        }
                        self.state = State::Major;
                    }
                    _ => return bad(),
                },
                State::Major => match ch {
                    b'.' => self.state = State::FirstMinor,
                    // Only "1" gets here, so any further digit makes the major version > 1.
                    b'0'..=b'9' => return Err(Reject::Status(505)),
                    _ => return bad(),
                },
                State::FirstMinor => match ch {
                    b'0'..=b'9' => {
                        self.line.minor = u16::from(ch - b'0');
                        self.state = State::Minor;
                    }
                    _ => return bad(),
                },
                State::Minor => match ch {
                    b'\r' => self.almost_done(p),
                    b'\n' => return self.done(p, max),
                    b' ' => self.state = State::SpacesAfterVersion,
                    // nginx allows up to three minor digits.
                    b'0'..=b'9' if self.line.minor <= 99 => {
                        self.line.minor = self.line.minor * 10 + u16::from(ch - b'0');
                    }
                    _ => return bad(),
                },
                State::SpacesAfterVersion => match ch {
                    b' ' => {}
                    b'\r' => self.almost_done(p),
                    b'\n' => return self.done(p, max),
                    _ => return bad(),
                },
                State::AlmostDone => {
                    return match ch {
                        b'\n' => self.done(p, max),
                        _ => bad(),
                    }
                }
            }
            p += 1;
        }
        self.pos = p;
        let started = if self.state == State::Start {
            p
        } else {
            self.start
        };
        if p - started > max {
            return Err(Reject::Status(414));
        }
        Ok(None)
    }

    /// nginx's sw_host_end: the host ends at `p`; a port, the path, the query or the
    /// version may follow.
    fn host_end(&mut self, ch: u8, p: usize) -> Result<(), Reject> {
        self.line.host = Some(span(self.host_start, p));
        match ch {
            b':' => {
                self.state = State::Port;
                Ok(())
            }
            _ => self.after_authority(ch, p),
        }
    }

    /// What may follow an absolute-form target's authority.
    fn after_authority(&mut self, ch: u8, p: usize) -> Result<(), Reject> {
        match ch {
            b'/' => {
                self.uri_start = p;
                self.state = State::Uri;
            }
            b'?' => {
                self.uri_start = p;
                self.line.empty_path = true;
                self.state = State::Uri;
            }
            b' ' => {
                // `GET http://host HTTP/1.1`: the path is "/".
                self.line.target = span(p, p);
                self.line.empty_path = true;
                self.state = State::AfterUri;
            }
            _ => return bad(),
        }
        Ok(())
    }

    fn almost_done(&mut self, p: usize) {
        self.end = Some(p);
        self.state = State::AlmostDone;
    }

    fn done(&mut self, lf: usize, max: usize) -> Result<Option<Line>, Reject> {
        let end = self.end.unwrap_or(lf);
        if end - self.start > max {
            return Err(Reject::Status(414));
        }
        self.line.line = span(self.start, end);
        self.line.next = lf + 1;
        Ok(Some(self.line))
    }
}
