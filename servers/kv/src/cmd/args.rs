//! Argument helpers and the error replies commands share, as Redis keeps them in `object.c`
//! (`getRangeLongFromObjectOrReply`) and `server.c` (`shared.syntaxerr`, ...).
//!
//! - `E_*`: every error text more than one command replies with, copied from Redis 7.0 (the
//!   differential tests compare them with redis-server's);
//! - `int`, `float`, `range`, `bounded`, `positive`, `timeout_ms`: parse one argument or reply
//!   with the exact error and return `None`, before the command allocates anything;
//! - `arity_err`, `subcmd_err`, `expire_err`: errors that name the command;
//! - `eq` (case-insensitive option match) and `bytes` (copy an argument to keep it).

use bytes::Bytes;

use crate::resp::{parse_f64, parse_i64, Out};

pub const E_WRONGTYPE: &str = "WRONGTYPE Operation against a key holding the wrong kind of value";
pub const E_NOTINT: &str = "ERR value is not an integer or out of range";
pub const E_NOTFLOAT: &str = "ERR value is not a valid float";
pub const E_SYNTAX: &str = "ERR syntax error";
pub const E_NOKEY: &str = "ERR no such key";
pub const E_OOM: &str = "OOM command not allowed when used memory > 'maxmemory'.";
pub const E_NOAUTH: &str = "NOAUTH Authentication required.";
pub const E_WRONGPASS: &str = "WRONGPASS invalid username-password pair or user is disabled.";
pub const E_DB_RANGE: &str = "ERR DB index is out of range";
pub const E_POSITIVE: &str = "ERR value is out of range, must be positive";
pub const E_NUMKEYS: &str = "ERR numkeys should be greater than 0";
pub const E_SAME_OBJECT: &str = "ERR source and destination objects are the same";
pub const E_OVERFLOW: &str = "ERR increment or decrement would overflow";
pub const E_INCR_NAN: &str = "ERR increment would produce NaN or Infinity";
pub const E_SCORE_NAN: &str = "ERR resulting score is not a number (NaN)";
pub const E_MINMAX_FLOAT: &str = "ERR min or max is not a float";
pub const E_MINMAX_LEX: &str = "ERR min or max not valid string range item";
pub const E_CLIENT_NAME: &str =
    "ERR Client names cannot contain spaces, newlines or special characters.";

pub fn arity_err(out: &mut Out, name: &str) {
    out.err(&format!(
        "ERR wrong number of arguments for '{name}' command"
    ));
}

pub fn subcmd_err(out: &mut Out, cmd: &str, sub: &[u8]) {
    out.err(&format!(
        "ERR unknown subcommand '{}'. Try {} HELP.",
        String::from_utf8_lossy(sub),
        cmd.to_ascii_uppercase()
    ));
}

/// An expiry time that overflows or is out of range (EXPIRE family, SET EX/PX, GETEX, SETEX).
pub fn expire_err(out: &mut Out, name: &str) {
    out.err(&format!("ERR invalid expire time in '{name}' command"));
}

pub fn eq(a: &[u8], b: &str) -> bool {
    a.eq_ignore_ascii_case(b.as_bytes())
}

/// An integer argument, or the standard error.
pub fn int(out: &mut Out, a: &[u8]) -> Option<i64> {
    let v = parse_i64(a);
    if v.is_none() {
        out.err(E_NOTINT);
    }
    v
}

/// An integer in `min..=max`; anything else (not an integer, or outside) gets `msg`, as
/// Redis's `getRangeLongFromObjectOrReply` with a message.
pub fn range(out: &mut Out, a: &[u8], min: i64, max: i64, msg: &str) -> Option<i64> {
    let v = parse_i64(a).filter(|v| (min..=max).contains(v));
    if v.is_none() {
        out.err(msg);
    }
    v
}

/// An integer in `min..=max`: not an integer gets `E_NOTINT`, one outside gets `msg`.
pub fn bounded(out: &mut Out, a: &[u8], min: i64, max: i64, msg: &str) -> Option<i64> {
    let v = int(out, a)?;
    if !(min..=max).contains(&v) {
        out.err(msg);
        return None;
    }
    Some(v)
}

/// A count that may be 0 but not negative: not an integer gets `E_NOTINT`, a negative one
/// `E_POSITIVE`.
pub fn positive(out: &mut Out, a: &[u8]) -> Option<i64> {
    bounded(out, a, 0, i64::MAX, E_POSITIVE)
}

pub fn float(out: &mut Out, a: &[u8]) -> Option<f64> {
    let v = parse_f64(a);
    if v.is_none() {
        out.err(E_NOTFLOAT);
    }
    v
}

/// A timeout in seconds (may be fractional) for blocking commands, as milliseconds.
pub fn timeout_ms(out: &mut Out, a: &[u8]) -> Option<u64> {
    let Some(v) = parse_f64(a).filter(|v| v.is_finite()) else {
        out.err("ERR timeout is not a float or out of range");
        return None;
    };
    if v < 0.0 {
        out.err("ERR timeout is negative");
        return None;
    }
    Some((v * 1000.0).ceil() as u64)
}

/// Copies an argument out of the receive buffer, to keep it.
pub fn bytes(a: &[u8]) -> Bytes {
    Bytes::copy_from_slice(a)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reply(f: impl FnOnce(&mut Out) -> Option<i64>) -> (Option<i64>, String) {
        let mut out = Out::default();
        let v = f(&mut out);
        (v, String::from_utf8_lossy(&out.buf).into_owned())
    }

    #[test]
    fn integer_helpers_reply_once_with_the_right_error() {
        assert_eq!(reply(|o| positive(o, b"0")), (Some(0), String::new()));
        assert_eq!(
            reply(|o| positive(o, b"-1")),
            (None, format!("-{E_POSITIVE}\r\n"))
        );
        assert_eq!(
            reply(|o| positive(o, b"x")),
            (None, format!("-{E_NOTINT}\r\n"))
        );
        assert_eq!(
            reply(|o| range(o, b"x", 0, 9, E_DB_RANGE)),
            (None, format!("-{E_DB_RANGE}\r\n"))
        );
        assert_eq!(
            reply(|o| range(o, b"10", 0, 9, E_DB_RANGE)),
            (None, format!("-{E_DB_RANGE}\r\n"))
        );
        assert_eq!(
            reply(|o| range(o, b"9", 0, 9, E_DB_RANGE)),
            (Some(9), String::new())
        );
        assert_eq!(
            reply(|o| bounded(o, b"16", 0, 15, E_DB_RANGE)),
            (None, format!("-{E_DB_RANGE}\r\n"))
        );
        assert_eq!(
            reply(|o| bounded(o, b"1.5", 0, 15, E_DB_RANGE)),
            (None, format!("-{E_NOTINT}\r\n"))
        );
    }
}
