//! Hash commands; also `scan_indexed` (the cursor walk of HSCAN, SSCAN, ZSCAN) and `shuffle`
//! (random picks for HRANDFIELD and SRANDMEMBER).

use bytes::Bytes;

use super::args::*;
use super::keys;
use super::table::*;
use crate::resp::{fmt_incr_float, parse_f64, parse_i64, Out};
use crate::store::{fast_rand, glob, new_map, Keys, Map, Value};

pub fn commands() -> Vec<Cmd> {
    let w = WRITE | DENYOOM;
    let r = READONLY | FAST;
    vec![
        cmd("hset", -4, w | FAST, (1, 1, 1), "hash", hset),
        cmd("hmset", -4, w | FAST, (1, 1, 1), "hash", hmset),
        cmd("hsetnx", 4, w | FAST, (1, 1, 1), "hash", hsetnx),
        cmd("hget", 3, r, (1, 1, 1), "hash", hget),
        cmd("hmget", -3, r, (1, 1, 1), "hash", hmget),
        cmd("hgetall", 2, READONLY, (1, 1, 1), "hash", hgetall),
        cmd("hdel", -3, WRITE | FAST, (1, 1, 1), "hash", hdel),
        cmd("hexists", 3, r, (1, 1, 1), "hash", hexists),
        cmd("hlen", 2, r, (1, 1, 1), "hash", hlen),
        cmd("hkeys", 2, READONLY, (1, 1, 1), "hash", hkeys),
        cmd("hvals", 2, READONLY, (1, 1, 1), "hash", hvals),
        cmd("hstrlen", 3, r, (1, 1, 1), "hash", hstrlen),
        cmd("hincrby", 4, w | FAST, (1, 1, 1), "hash", hincrby),
        cmd("hincrbyfloat", 4, w | FAST, (1, 1, 1), "hash", hincrbyfloat),
        cmd("hscan", -3, READONLY, (1, 1, 1), "hash", hscan),
        cmd("hrandfield", -2, READONLY, (1, 1, 1), "hash", hrandfield),
    ]
}

type Hash = Map<Bytes, Bytes>;

fn hash<'k>(k: &'k mut Keys, out: &mut Out, key: &[u8]) -> Result<Option<&'k mut Hash>, ()> {
    match k.get(key).map(|e| &mut e.val) {
        None => Ok(None),
        Some(Value::Hash(h)) => Ok(Some(h)),
        Some(_) => {
            out.err(E_WRONGTYPE);
            Err(())
        }
    }
}

fn hash_or_create<'k>(k: &'k mut Keys, out: &mut Out, key: &[u8]) -> Option<&'k mut Hash> {
    match hash(k, out, key) {
        Err(()) => return None,
        Ok(Some(_)) => {}
        Ok(None) => k.set(key, Value::Hash(Box::new(new_map())), None, false),
    }
    hash(k, out, key).ok().flatten()
}

/// Removes a field keeping insertion order while small (as Redis's listpack does).
pub fn hremove(h: &mut Hash, f: &[u8]) -> bool {
    if h.len() <= 128 {
        h.shift_remove(f).is_some()
    } else {
        h.swap_remove(f).is_some()
    }
}

fn hset_common(k: &mut Keys, out: &mut Out, a: &[&[u8]], name: &str) -> Option<i64> {
    if !a.len().is_multiple_of(2) {
        arity_err(out, name);
        return None;
    }
    let h = hash_or_create(k, out, a[1])?;
    let mut added = 0;
    for p in a[2..].chunks(2) {
        if h.insert(bytes(p[0]), bytes(p[1])).is_none() {
            added += 1;
        }
    }
    k.modified(a[1]);
    Some(added)
}

fn hset(_c: &mut Ctx, k: &mut Keys, out: &mut Out, a: &[&[u8]]) {
    if let Some(n) = hset_common(k, out, a, "hset") {
        out.int(n)
    }
}

fn hmset(_c: &mut Ctx, k: &mut Keys, out: &mut Out, a: &[&[u8]]) {
    if hset_common(k, out, a, "hmset").is_some() {
        out.ok()
    }
}

fn hsetnx(_c: &mut Ctx, k: &mut Keys, out: &mut Out, a: &[&[u8]]) {
    let Some(h) = hash_or_create(k, out, a[1]) else {
        return;
    };
    if h.contains_key(a[2]) {
        return out.int(0);
    }
    h.insert(bytes(a[2]), bytes(a[3]));
    k.modified(a[1]);
    out.int(1)
}

fn hget(_c: &mut Ctx, k: &mut Keys, out: &mut Out, a: &[&[u8]]) {
    match hash(k, out, a[1]) {
        Ok(Some(h)) => match h.get(a[2]) {
            Some(v) => out.bulk_bytes(v),
            None => out.null(),
        },
        Ok(None) => out.null(),
        Err(()) => {}
    }
}

fn hmget(_c: &mut Ctx, k: &mut Keys, out: &mut Out, a: &[&[u8]]) {
    let Ok(h) = hash(k, out, a[1]) else { return };
    out.array(a.len() - 2);
    for f in &a[2..] {
        match h.as_ref().and_then(|h| h.get(*f)) {
            Some(v) => out.bulk_bytes(v),
            None => out.null(),
        }
    }
}

fn hgetall(_c: &mut Ctx, k: &mut Keys, out: &mut Out, a: &[&[u8]]) {
    let Ok(h) = hash(k, out, a[1]) else { return };
    let Some(h) = h else { return out.map(0) };
    out.map(h.len());
    for (f, v) in h.iter() {
        out.bulk(f);
        out.bulk_bytes(v);
    }
}

fn hdel(_c: &mut Ctx, k: &mut Keys, out: &mut Out, a: &[&[u8]]) {
    let Ok(h) = hash(k, out, a[1]) else { return };
    let Some(h) = h else { return out.int(0) };
    let n = a[2..].iter().filter(|f| hremove(h, f)).count();
    if h.is_empty() {
        k.remove(a[1]);
    } else if n > 0 {
        k.modified(a[1]);
    }
    out.int(n as i64)
}

fn hexists(_c: &mut Ctx, k: &mut Keys, out: &mut Out, a: &[&[u8]]) {
    if let Ok(h) = hash(k, out, a[1]) {
        out.int(h.is_some_and(|h| h.contains_key(a[2])) as i64)
    }
}

fn hlen(_c: &mut Ctx, k: &mut Keys, out: &mut Out, a: &[&[u8]]) {
    if let Ok(h) = hash(k, out, a[1]) {
        out.int(h.map_or(0, |h| h.len() as i64))
    }
}

fn hkeys(_c: &mut Ctx, k: &mut Keys, out: &mut Out, a: &[&[u8]]) {
    let Ok(h) = hash(k, out, a[1]) else { return };
    let Some(h) = h else { return out.array(0) };
    out.array(h.len());
    h.keys().for_each(|f| out.bulk(f));
}

fn hvals(_c: &mut Ctx, k: &mut Keys, out: &mut Out, a: &[&[u8]]) {
    let Ok(h) = hash(k, out, a[1]) else { return };
    let Some(h) = h else { return out.array(0) };
    out.array(h.len());
    h.values().for_each(|v| out.bulk_bytes(v));
}

fn hstrlen(_c: &mut Ctx, k: &mut Keys, out: &mut Out, a: &[&[u8]]) {
    if let Ok(h) = hash(k, out, a[1]) {
        out.int(h.and_then(|h| h.get(a[2])).map_or(0, |v| v.len() as i64))
    }
}

fn hincrby(_c: &mut Ctx, k: &mut Keys, out: &mut Out, a: &[&[u8]]) {
    let Some(by) = int(out, a[3]) else { return };
    let Some(h) = hash_or_create(k, out, a[1]) else {
        return;
    };
    let cur = match h.get(a[2]) {
        None => 0,
        Some(v) => match parse_i64(v) {
            Some(v) => v,
            None => return out.err("ERR hash value is not an integer"),
        },
    };
    let Some(n) = cur.checked_add(by) else {
        return out.err(E_OVERFLOW);
    };
    let mut b = itoa::Buffer::new();
    h.insert(bytes(a[2]), bytes(b.format(n).as_bytes()));
    k.modified(a[1]);
    out.int(n)
}

fn hincrbyfloat(_c: &mut Ctx, k: &mut Keys, out: &mut Out, a: &[&[u8]]) {
    let Some(by) = float(out, a[3]) else { return };
    let Some(h) = hash_or_create(k, out, a[1]) else {
        return;
    };
    let cur = match h.get(a[2]) {
        None => 0.0,
        Some(v) => match parse_f64(v) {
            Some(v) => v,
            None => return out.err("ERR hash value is not a float"),
        },
    };
    let n = cur + by;
    if !n.is_finite() {
        return out.err(E_INCR_NAN);
    }
    let s = fmt_incr_float(n);
    h.insert(bytes(a[2]), bytes(s.as_bytes()));
    k.modified(a[1]);
    out.bulk(s.as_bytes())
}

/// Cursor scan over an indexed collection, walked from the end (see SCAN).
pub fn scan_indexed<T>(
    len: usize,
    cursor: u64,
    count: usize,
    mut visit: impl FnMut(usize) -> T,
) -> (u64, Vec<T>) {
    let mut rem = if cursor == 0 {
        len
    } else {
        (cursor as usize).min(len)
    };
    let mut res = Vec::new();
    let mut n = 0;
    while rem > 0 && n < count {
        rem -= 1;
        n += 1;
        res.push(visit(rem));
    }
    (rem as u64, res)
}

fn hscan(_c: &mut Ctx, k: &mut Keys, out: &mut Out, a: &[&[u8]]) {
    let Some(cursor) = keys::parse_cursor(out, a[2]) else {
        return;
    };
    let Some(o) = keys::scan_opts(out, &a[3..], false) else {
        return;
    };
    let Ok(h) = hash(k, out, a[1]) else { return };
    let Some(h) = h else {
        out.array(2);
        out.bulk(b"0");
        return out.array(0);
    };
    let (next, items) = scan_indexed(h.len(), cursor, o.count, |i| {
        h.get_index(i)
            .map(|(f, v)| (f.clone(), v.clone()))
            .expect("in range")
    });
    let items: Vec<_> = items
        .into_iter()
        .filter(|(f, _)| o.pattern.is_none_or(|p| glob(p, f)))
        .collect();
    out.array(2);
    out.bulk_int(next as i64);
    out.array(items.len() * 2);
    for (f, v) in items {
        out.bulk(&f);
        out.bulk(&v);
    }
}

fn hrandfield(_c: &mut Ctx, k: &mut Keys, out: &mut Out, a: &[&[u8]]) {
    let count = match a.get(2) {
        None => None,
        Some(c) => match int(out, c) {
            Some(c) => Some(c),
            None => return,
        },
    };
    let with = match a.get(3) {
        None => false,
        Some(w) if eq(w, "withvalues") && a.len() == 4 => true,
        Some(_) => return out.err(E_SYNTAX),
    };
    let Ok(h) = hash(k, out, a[1]) else { return };
    let Some(h) = h else {
        return if count.is_some() {
            out.array(0)
        } else {
            out.null()
        };
    };
    let Some(c) = count else {
        let (f, _) = h
            .get_index(fast_rand() as usize % h.len())
            .expect("non-empty");
        return out.bulk(f);
    };
    let picks: Vec<usize> = if c >= 0 {
        let mut idx: Vec<usize> = (0..h.len()).collect();
        shuffle(&mut idx);
        idx.truncate(c as usize);
        idx
    } else {
        (0..c.unsigned_abs())
            .map(|_| fast_rand() as usize % h.len())
            .collect()
    };
    out.array(picks.len() * if with { 2 } else { 1 });
    for i in picks {
        let (f, v) = h.get_index(i).expect("in range");
        out.bulk(f);
        if with {
            out.bulk(v);
        }
    }
}

pub fn shuffle<T>(v: &mut [T]) {
    for i in (1..v.len()).rev() {
        v.swap(i, fast_rand() as usize % (i + 1));
    }
}
