//! String commands; the bitmap ones are in `bitmap`, on the same values. Shared helpers:
//! `get_str`, `store_in_place`, `norm_range` (Redis's start/end index rules, also for lists
//! and sorted sets), `expire_at`, `MAX_STRING`.

use bytes::Bytes;

use super::args::*;
use super::table::*;
use crate::resp::{fmt_incr_float, parse_f64, parse_i64, Out};
use crate::store::{Keys, Str, Value};

pub fn commands() -> Vec<Cmd> {
    let w = WRITE | DENYOOM;
    let r = READONLY | FAST;
    vec![
        cmd("get", 2, r, (1, 1, 1), "string", get),
        cmd("set", -3, w, (1, 1, 1), "string", set),
        cmd("setnx", 3, w | FAST, (1, 1, 1), "string", setnx),
        cmd("setex", 4, w, (1, 1, 1), "string", setex),
        cmd("psetex", 4, w, (1, 1, 1), "string", psetex),
        cmd("mget", -2, r, (1, -1, 1), "string", mget),
        cmd("mset", -3, w, (1, -1, 2), "string", mset),
        cmd("msetnx", -3, w, (1, -1, 2), "string", msetnx),
        cmd("getset", 3, w | FAST, (1, 1, 1), "string", getset),
        cmd("getdel", 2, WRITE | FAST, (1, 1, 1), "string", getdel),
        cmd("getex", -2, WRITE | FAST, (1, 1, 1), "string", getex),
        cmd("incr", 2, w | FAST, (1, 1, 1), "string", incr),
        cmd("decr", 2, w | FAST, (1, 1, 1), "string", decr),
        cmd("incrby", 3, w | FAST, (1, 1, 1), "string", incrby),
        cmd("decrby", 3, w | FAST, (1, 1, 1), "string", decrby),
        cmd("incrbyfloat", 3, w | FAST, (1, 1, 1), "string", incrbyfloat),
        cmd("append", 3, w | FAST, (1, 1, 1), "string", append),
        cmd("strlen", 2, r, (1, 1, 1), "string", strlen),
        cmd("getrange", 4, READONLY, (1, 1, 1), "string", getrange),
        cmd("substr", 4, READONLY, (1, 1, 1), "string", getrange),
        cmd("setrange", 4, w, (1, 1, 1), "string", setrange),
    ]
}

/// A string value: Ok(None) if missing, Err after replying WRONGTYPE.
#[allow(clippy::result_unit_err)]
pub fn get_str(k: &mut Keys, out: &mut Out, key: &[u8]) -> Result<Option<Bytes>, ()> {
    match k.read(key).map(|e| &e.val) {
        None => Ok(None),
        Some(Value::Str(b)) => Ok(Some(b.to_bytes())),
        Some(_) => {
            out.err(E_WRONGTYPE);
            Err(())
        }
    }
}

/// A stored string value: large ones are referenced, small ones copied.
#[inline]
fn reply_str(out: &mut Out, s: &Str) {
    match s {
        Str::Small(b) => out.bulk(b),
        Str::Shared(b) => out.bulk_bytes(b),
    }
}

fn get(_c: &mut Ctx, k: &mut Keys, out: &mut Out, a: &[&[u8]]) {
    match k.read(a[1]).map(|e| &e.val) {
        None => out.null(),
        Some(Value::Str(b)) => reply_str(out, b),
        Some(_) => out.err(E_WRONGTYPE),
    }
}

/// Parsed SET options.
#[derive(Default)]
struct SetOpts {
    nx: bool,
    xx: bool,
    get: bool,
    keep_ttl: bool,
    exp: Option<u64>,
}

/// Absolute expiry (unix ms) from a relative or absolute time in s/ms, or None if invalid.
pub fn expire_at(now: u64, v: i64, unit_ms: bool, absolute: bool) -> Option<u64> {
    if v <= 0 {
        return None;
    }
    let ms = if unit_ms { v } else { v.checked_mul(1000)? };
    let at = if absolute {
        ms
    } else {
        ms.checked_add(now as i64)?
    };
    Some(at as u64)
}

fn parse_set(c: &Ctx, out: &mut Out, a: &[&[u8]], name: &str) -> Option<SetOpts> {
    let mut o = SetOpts::default();
    let mut i = 3;
    let mut has_exp = false;
    while i < a.len() {
        let opt = a[i];
        let next = a.get(i + 1);
        if eq(opt, "nx") && !o.xx {
            o.nx = true;
        } else if eq(opt, "xx") && !o.nx {
            o.xx = true;
        } else if eq(opt, "get") {
            o.get = true;
        } else if eq(opt, "keepttl") && !has_exp {
            o.keep_ttl = true;
        } else if ["ex", "px", "exat", "pxat"].iter().any(|u| eq(opt, u))
            && !o.keep_ttl
            && !has_exp
            && next.is_some()
        {
            let v = int(out, next.copied().unwrap_or_default())?;
            let unit_ms = eq(opt, "px") || eq(opt, "pxat");
            let abs = eq(opt, "exat") || eq(opt, "pxat");
            let Some(at) = expire_at(c.now, v, unit_ms, abs) else {
                expire_err(out, name);
                return None;
            };
            o.exp = Some(at);
            has_exp = true;
            i += 1;
        } else {
            out.err(E_SYNTAX);
            return None;
        }
        i += 1;
    }
    Some(o)
}

fn set(c: &mut Ctx, k: &mut Keys, out: &mut Out, a: &[&[u8]]) {
    let Some(o) = parse_set(c, out, a, "set") else {
        return;
    };
    let old = if o.get {
        match get_str(k, out, a[1]) {
            Ok(v) => v,
            Err(()) => return,
        }
    } else {
        None
    };
    let exists = if o.get {
        old.is_some()
    } else if o.nx || o.xx {
        k.exists(a[1])
    } else {
        false
    };
    if (o.nx && exists) || (o.xx && !exists) {
        return if o.get {
            bulk_or_null(out, old)
        } else {
            out.null()
        };
    }
    k.set(a[1], Value::Str(Str::new(a[2])), o.exp, o.keep_ttl);
    if o.get {
        bulk_or_null(out, old)
    } else {
        out.ok()
    }
}

fn bulk_or_null(out: &mut Out, v: Option<Bytes>) {
    match v {
        Some(b) => out.bulk_bytes(&b),
        None => out.null(),
    }
}

fn setnx(_c: &mut Ctx, k: &mut Keys, out: &mut Out, a: &[&[u8]]) {
    if k.exists(a[1]) {
        return out.int(0);
    }
    k.set(a[1], Value::Str(Str::new(a[2])), None, false);
    out.int(1)
}

fn setex_common(c: &mut Ctx, k: &mut Keys, out: &mut Out, a: &[&[u8]], ms: bool, name: &str) {
    let Some(v) = int(out, a[2]) else { return };
    let Some(at) = expire_at(c.now, v, ms, false) else {
        return expire_err(out, name);
    };
    k.set(a[1], Value::Str(Str::new(a[3])), Some(at), false);
    out.ok()
}

fn setex(c: &mut Ctx, k: &mut Keys, out: &mut Out, a: &[&[u8]]) {
    setex_common(c, k, out, a, false, "setex")
}

fn psetex(c: &mut Ctx, k: &mut Keys, out: &mut Out, a: &[&[u8]]) {
    setex_common(c, k, out, a, true, "psetex")
}

fn mget(_c: &mut Ctx, k: &mut Keys, out: &mut Out, a: &[&[u8]]) {
    out.array(a.len() - 1);
    for key in &a[1..] {
        match k.read(key).map(|e| &e.val) {
            Some(Value::Str(b)) => reply_str(out, b),
            _ => out.null(),
        }
    }
}

fn mset(_c: &mut Ctx, k: &mut Keys, out: &mut Out, a: &[&[u8]]) {
    if a.len().is_multiple_of(2) {
        return arity_err(out, "mset");
    }
    for p in a[1..].chunks(2) {
        k.set(p[0], Value::Str(Str::new(p[1])), None, false);
    }
    out.ok()
}

fn msetnx(_c: &mut Ctx, k: &mut Keys, out: &mut Out, a: &[&[u8]]) {
    if a.len().is_multiple_of(2) {
        return arity_err(out, "msetnx");
    }
    if a[1..].chunks(2).any(|p| k.exists(p[0])) {
        return out.int(0);
    }
    for p in a[1..].chunks(2) {
        k.set(p[0], Value::Str(Str::new(p[1])), None, false);
    }
    out.int(1)
}

fn getset(_c: &mut Ctx, k: &mut Keys, out: &mut Out, a: &[&[u8]]) {
    let Ok(old) = get_str(k, out, a[1]) else {
        return;
    };
    k.set(a[1], Value::Str(Str::new(a[2])), None, false);
    bulk_or_null(out, old)
}

fn getdel(_c: &mut Ctx, k: &mut Keys, out: &mut Out, a: &[&[u8]]) {
    let Ok(old) = get_str(k, out, a[1]) else {
        return;
    };
    if old.is_some() {
        k.remove(a[1]);
    }
    bulk_or_null(out, old)
}

fn getex(c: &mut Ctx, k: &mut Keys, out: &mut Out, a: &[&[u8]]) {
    let mut exp: Option<u64> = None;
    let mut persist = false;
    let mut i = 2;
    while i < a.len() {
        if eq(a[i], "persist") && exp.is_none() && !persist {
            persist = true;
        } else if ["ex", "px", "exat", "pxat"].iter().any(|u| eq(a[i], u))
            && exp.is_none()
            && !persist
            && i + 1 < a.len()
        {
            let Some(v) = int(out, a[i + 1]) else { return };
            let (ms, abs) = (
                eq(a[i], "px") || eq(a[i], "pxat"),
                eq(a[i], "exat") || eq(a[i], "pxat"),
            );
            let Some(at) = expire_at(c.now, v, ms, abs) else {
                return expire_err(out, "getex");
            };
            exp = Some(at);
            i += 1;
        } else {
            return out.err(E_SYNTAX);
        }
        i += 1;
    }
    let Ok(v) = get_str(k, out, a[1]) else { return };
    if v.is_some() {
        if let Some(at) = exp {
            if at <= c.now {
                k.remove(a[1]);
            } else {
                k.set_expire(a[1], at);
            }
        } else if persist {
            k.set_expire(a[1], 0);
        }
    }
    bulk_or_null(out, v)
}

/// Adds `by` to the integer at `key`.
fn incr_common(k: &mut Keys, out: &mut Out, key: &[u8], by: i64) {
    let cur = match k.read(key).map(|e| &e.val) {
        None => 0,
        Some(Value::Str(b)) => match parse_i64(b) {
            Some(v) => v,
            None => return out.err(E_NOTINT),
        },
        Some(_) => return out.err(E_WRONGTYPE),
    };
    let Some(n) = cur.checked_add(by) else {
        return out.err(E_OVERFLOW);
    };
    let mut buf = itoa::Buffer::new();
    store_in_place(k, key, Str::new(buf.format(n).as_bytes()));
    out.int(n)
}

/// Replaces a string's bytes keeping its TTL.
pub fn store_in_place(k: &mut Keys, key: &[u8], v: Str) {
    k.set(key, Value::Str(v), None, true);
}

fn incr(_c: &mut Ctx, k: &mut Keys, out: &mut Out, a: &[&[u8]]) {
    incr_common(k, out, a[1], 1)
}

fn decr(_c: &mut Ctx, k: &mut Keys, out: &mut Out, a: &[&[u8]]) {
    incr_common(k, out, a[1], -1)
}

fn incrby(_c: &mut Ctx, k: &mut Keys, out: &mut Out, a: &[&[u8]]) {
    if let Some(by) = int(out, a[2]) {
        incr_common(k, out, a[1], by)
    }
}

fn decrby(_c: &mut Ctx, k: &mut Keys, out: &mut Out, a: &[&[u8]]) {
    let Some(by) = int(out, a[2]) else { return };
    match by.checked_neg() {
        Some(n) => incr_common(k, out, a[1], n),
        None => out.err("ERR decrement would overflow"),
    }
}

fn incrbyfloat(_c: &mut Ctx, k: &mut Keys, out: &mut Out, a: &[&[u8]]) {
    let Some(by) = float(out, a[2]) else { return };
    let Ok(cur) = get_str(k, out, a[1]) else {
        return;
    };
    let cur = match cur {
        None => 0.0,
        Some(b) => match parse_f64(&b) {
            Some(v) => v,
            None => return out.err(E_NOTFLOAT),
        },
    };
    let n = cur + by;
    if !n.is_finite() {
        return out.err(E_INCR_NAN);
    }
    let s = fmt_incr_float(n);
    store_in_place(k, a[1], Str::new(s.as_bytes()));
    out.bulk(s.as_bytes())
}

fn append(_c: &mut Ctx, k: &mut Keys, out: &mut Out, a: &[&[u8]]) {
    let Ok(cur) = get_str(k, out, a[1]) else {
        return;
    };
    let mut v = cur.map(|b| b.to_vec()).unwrap_or_default();
    v.extend_from_slice(a[2]);
    let n = v.len();
    store_in_place(k, a[1], Str::from_vec(v));
    out.int(n as i64)
}

fn strlen(_c: &mut Ctx, k: &mut Keys, out: &mut Out, a: &[&[u8]]) {
    if let Ok(v) = get_str(k, out, a[1]) {
        out.int(v.map_or(0, |b| b.len() as i64))
    }
}

/// Redis's range normalisation for GETRANGE/LRANGE-like indexes: None if empty.
pub fn norm_range(start: i64, end: i64, len: i64) -> Option<(usize, usize)> {
    let s = if start < 0 {
        (len + start).max(0)
    } else {
        start
    };
    let e = if end < 0 { len + end } else { end.min(len - 1) };
    (s <= e && s < len && len > 0).then_some((s as usize, e as usize))
}

fn getrange(_c: &mut Ctx, k: &mut Keys, out: &mut Out, a: &[&[u8]]) {
    let (Some(s), Some(e)) = (int(out, a[2]), int(out, a[3])) else {
        return;
    };
    let Ok(v) = get_str(k, out, a[1]) else { return };
    let v = v.unwrap_or_default();
    if s < 0 && e < 0 && s > e {
        return out.bulk(b"");
    }
    match norm_range(s, e, v.len() as i64) {
        Some((s, e)) => out.bulk(&v[s..=e]),
        None => out.bulk(b""),
    }
}

/// proto-max-bulk-len: the longest string SETRANGE and SETBIT may grow a value to.
pub const MAX_STRING: i64 = 512 * 1024 * 1024;

fn setrange(_c: &mut Ctx, k: &mut Keys, out: &mut Out, a: &[&[u8]]) {
    let Some(off) = int(out, a[2]) else { return };
    if off < 0 {
        return out.err("ERR offset is out of range");
    }
    let Ok(cur) = get_str(k, out, a[1]) else {
        return;
    };
    if a[3].is_empty() {
        return out.int(cur.map_or(0, |b| b.len() as i64));
    }
    if off + a[3].len() as i64 > MAX_STRING {
        return out.err("ERR string exceeds maximum allowed size (proto-max-bulk-len)");
    }
    let mut v = cur.map(|b| b.to_vec()).unwrap_or_default();
    let end = off as usize + a[3].len();
    if v.len() < end {
        v.resize(end, 0);
    }
    v[off as usize..end].copy_from_slice(a[3]);
    let n = v.len();
    store_in_place(k, a[1], Str::from_vec(v));
    out.int(n as i64)
}
