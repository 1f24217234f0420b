//! Bitmap commands over string values: SETBIT, GETBIT, BITCOUNT, BITPOS, BITOP.

use bytes::Bytes;

use super::args::*;
use super::string::{get_str, norm_range, store_in_place, MAX_STRING};
use super::table::*;
use crate::resp::{parse_i64, Out};
use crate::store::{Keys, Str, Value};

pub fn commands() -> Vec<Cmd> {
    let w = WRITE | DENYOOM;
    let r = READONLY | FAST;
    vec![
        cmd("setbit", 4, w, (1, 1, 1), "bitmap", setbit),
        cmd("getbit", 3, r, (1, 1, 1), "bitmap", getbit),
        cmd("bitcount", -2, READONLY, (1, 1, 1), "bitmap", bitcount),
        cmd("bitpos", -3, READONLY, (1, 1, 1), "bitmap", bitpos),
        cmd("bitop", -4, w, (2, -1, 1), "bitmap", bitop),
    ]
}

fn bit_offset(out: &mut Out, a: &[u8]) -> Option<usize> {
    match parse_i64(a) {
        Some(v) if (0..(MAX_STRING * 8)).contains(&v) => Some(v as usize),
        _ => {
            out.err("ERR bit offset is not an integer or out of range");
            None
        }
    }
}

fn setbit(_c: &mut Ctx, k: &mut Keys, out: &mut Out, a: &[&[u8]]) {
    let Some(off) = bit_offset(out, a[2]) else {
        return;
    };
    let on = match a[3] {
        b"1" => true,
        b"0" => false,
        _ => return out.err("ERR bit is not an integer or out of range"),
    };
    let Ok(cur) = get_str(k, out, a[1]) else {
        return;
    };
    let mut v = cur.map(|b| b.to_vec()).unwrap_or_default();
    let byte = off / 8;
    if v.len() <= byte {
        v.resize(byte + 1, 0);
    }
    let mask = 0x80u8 >> (off % 8);
    let old = v[byte] & mask != 0;
    if on {
        v[byte] |= mask;
    } else {
        v[byte] &= !mask;
    }
    store_in_place(k, a[1], Str::from_vec(v));
    out.int(old as i64)
}

fn getbit(_c: &mut Ctx, k: &mut Keys, out: &mut Out, a: &[&[u8]]) {
    let Some(off) = bit_offset(out, a[2]) else {
        return;
    };
    let Ok(cur) = get_str(k, out, a[1]) else {
        return;
    };
    let bit = cur
        .and_then(|b| b.get(off / 8).map(|x| x & (0x80 >> (off % 8)) != 0))
        .unwrap_or(false);
    out.int(bit as i64)
}

/// Optional [start end [BYTE|BIT]] of BITCOUNT/BITPOS: (start, end, bit unit, end given).
fn bit_range(out: &mut Out, a: &[&[u8]]) -> Option<(i64, i64, bool, bool)> {
    match a.len() {
        0 => Some((0, -1, false, false)),
        1 => {
            let s = int(out, a[0])?;
            Some((s, -1, false, false))
        }
        2 | 3 => {
            let (s, e) = (int(out, a[0])?, int(out, a[1])?);
            let bit = match a.get(2) {
                None => false,
                Some(u) if eq(u, "bit") => true,
                Some(u) if eq(u, "byte") => false,
                Some(_) => {
                    out.err(E_SYNTAX);
                    return None;
                }
            };
            Some((s, e, bit, true))
        }
        _ => {
            out.err(E_SYNTAX);
            None
        }
    }
}

fn bitcount(_c: &mut Ctx, k: &mut Keys, out: &mut Out, a: &[&[u8]]) {
    if a.len() == 3 {
        return out.err(E_SYNTAX);
    }
    let Some((s, e, bit, _)) = bit_range(out, &a[2..]) else {
        return;
    };
    let Ok(v) = get_str(k, out, a[1]) else { return };
    let v = v.unwrap_or_default();
    let len = if bit {
        v.len() as i64 * 8
    } else {
        v.len() as i64
    };
    let Some((s, e)) = norm_range(s, e, len) else {
        return out.int(0);
    };
    let n: u64 = if bit {
        (s..=e)
            .filter(|i| v[i / 8] & (0x80 >> (i % 8)) != 0)
            .count() as u64
    } else {
        v[s..=e].iter().map(|b| b.count_ones() as u64).sum()
    };
    out.int(n as i64)
}

fn bitpos(_c: &mut Ctx, k: &mut Keys, out: &mut Out, a: &[&[u8]]) {
    let want = match a[2] {
        b"1" => true,
        b"0" => false,
        _ => return out.err("ERR The bit argument must be 1 or 0."),
    };
    let Some((s, e, bit, end_given)) = bit_range(out, &a[3..]) else {
        return;
    };
    let Ok(v) = get_str(k, out, a[1]) else { return };
    let Some(v) = v else {
        return out.int(if want { -1 } else { 0 });
    };
    let len = if bit {
        v.len() as i64 * 8
    } else {
        v.len() as i64
    };
    let Some((s, e)) = norm_range(s, e, len) else {
        return out.int(-1);
    };
    let (first, last) = if bit { (s, e) } else { (s * 8, e * 8 + 7) };
    for i in first..=last {
        if (v[i / 8] & (0x80 >> (i % 8)) != 0) == want {
            return out.int(i as i64);
        }
    }
    // Looking for a clear bit past the end of the string: the string is zero-padded.
    if !want && !end_given {
        return out.int(last as i64 + 1);
    }
    out.int(-1)
}

fn bitop(_c: &mut Ctx, k: &mut Keys, out: &mut Out, a: &[&[u8]]) {
    let op = a[1].to_ascii_lowercase();
    if !matches!(&op[..], b"and" | b"or" | b"xor" | b"not") {
        return out.err(E_SYNTAX);
    }
    if &op[..] == b"not" && a.len() != 4 {
        return out.err("ERR BITOP NOT must be called with a single source key.");
    }
    let mut srcs = Vec::new();
    for key in &a[3..] {
        match get_str(k, out, key) {
            Ok(v) => srcs.push(v.unwrap_or_default()),
            Err(()) => return,
        }
    }
    let len = srcs.iter().map(|s| s.len()).max().unwrap_or(0);
    let mut res = vec![0u8; len];
    for (i, r) in res.iter_mut().enumerate() {
        let byte = |s: &Bytes| s.get(i).copied().unwrap_or(0);
        *r = match &op[..] {
            b"not" => !byte(&srcs[0]),
            b"and" => srcs.iter().map(byte).fold(0xff, |x, y| x & y),
            b"or" => srcs.iter().map(byte).fold(0, |x, y| x | y),
            _ => srcs.iter().map(byte).fold(0, |x, y| x ^ y),
        };
    }
    if len == 0 {
        k.remove(a[2]);
    } else {
        k.set(a[2], Value::Str(Str::from_vec(res)), None, false);
    }
    out.int(len as i64)
}
