//! Sorted sets member by member: ZADD, ZINCRBY, ZREM, ZSCORE, ZMSCORE, ZCARD, ZRANK,
//! ZREVRANK, ZPOPMIN/MAX, BZPOPMIN/MAX, ZSCAN; and what the other zset files share: `zset`
//! (typed lookup), `after_removal`, `reply_items`, `store_items`.

use bytes::Bytes;

use crate::cmd::args::*;
use crate::cmd::table::*;
use crate::cmd::{hash, keys, list};
use crate::resp::{fmt_double, Out};
use crate::store::{glob, Keys, Value, ZSet};

pub fn commands() -> Vec<Cmd> {
    let w = WRITE | DENYOOM;
    let r = READONLY;
    vec![
        cmd("zadd", -4, w | FAST, (1, 1, 1), "sorted-set", zadd),
        cmd("zincrby", 4, w | FAST, (1, 1, 1), "sorted-set", zincrby),
        cmd("zrem", -3, WRITE | FAST, (1, 1, 1), "sorted-set", zrem),
        cmd("zscore", 3, r | FAST, (1, 1, 1), "sorted-set", zscore),
        cmd("zmscore", -3, r | FAST, (1, 1, 1), "sorted-set", zmscore),
        cmd("zcard", 2, r | FAST, (1, 1, 1), "sorted-set", zcard),
        cmd("zrank", 3, r | FAST, (1, 1, 1), "sorted-set", zrank),
        cmd("zrevrank", 3, r | FAST, (1, 1, 1), "sorted-set", zrevrank),
        cmd(
            "zpopmin",
            -2,
            WRITE | FAST,
            (1, 1, 1),
            "sorted-set",
            zpopmin,
        ),
        cmd(
            "zpopmax",
            -2,
            WRITE | FAST,
            (1, 1, 1),
            "sorted-set",
            zpopmax,
        ),
        cmd(
            "bzpopmin",
            -3,
            WRITE | FAST | BLOCKING,
            (1, -2, 1),
            "sorted-set",
            bzpopmin,
        ),
        cmd(
            "bzpopmax",
            -3,
            WRITE | FAST | BLOCKING,
            (1, -2, 1),
            "sorted-set",
            bzpopmax,
        ),
        cmd("zscan", -3, r, (1, 1, 1), "sorted-set", zscan),
    ]
}

pub(super) fn zset<'k>(
    k: &'k mut Keys,
    out: &mut Out,
    key: &[u8],
) -> Result<Option<&'k mut ZSet>, ()> {
    match k.get(key).map(|e| &mut e.val) {
        None => Ok(None),
        Some(Value::ZSet(z)) => Ok(Some(z)),
        Some(_) => {
            out.err(E_WRONGTYPE);
            Err(())
        }
    }
}

fn zset_or_create<'k>(k: &'k mut Keys, out: &mut Out, key: &[u8]) -> Option<&'k mut ZSet> {
    match zset(k, out, key) {
        Err(()) => return None,
        Ok(Some(_)) => {}
        Ok(None) => k.set(key, Value::ZSet(Box::default()), None, false),
    }
    zset(k, out, key).ok().flatten()
}

/// Deletes the key if the zset emptied, else marks it modified.
pub(super) fn after_removal(k: &mut Keys, key: &[u8]) {
    let empty = matches!(k.get(key).map(|e| &e.val), Some(Value::ZSet(z)) if z.is_empty());
    if empty {
        k.remove(key);
    } else {
        k.modified(key);
    }
}

pub(super) fn reply_items(out: &mut Out, items: &[(Bytes, f64)], scores: bool) {
    if scores && out.resp3 {
        out.array(items.len());
        for (m, s) in items {
            out.array(2);
            out.bulk(m);
            out.double(*s);
        }
        return;
    }
    out.array(items.len() * if scores { 2 } else { 1 });
    for (m, s) in items {
        out.bulk(m);
        if scores {
            out.double(*s);
        }
    }
}

pub(super) fn store_items(k: &mut Keys, dst: &[u8], items: Vec<(Bytes, f64)>, out: &mut Out) {
    let n = items.len();
    if n == 0 {
        k.remove(dst);
    } else {
        let mut z = ZSet::default();
        items.into_iter().for_each(|(m, s)| {
            z.insert(m, s);
        });
        k.set(dst, Value::ZSet(Box::new(z)), None, false);
        k.ready(dst);
    }
    out.int(n as i64)
}

fn zadd(_c: &mut Ctx, k: &mut Keys, out: &mut Out, a: &[&[u8]]) {
    let (mut nx, mut xx, mut gt, mut lt, mut ch, mut incr) =
        (false, false, false, false, false, false);
    let mut i = 2;
    while i < a.len() {
        match a[i].to_ascii_lowercase().as_slice() {
            b"nx" => nx = true,
            b"xx" => xx = true,
            b"gt" => gt = true,
            b"lt" => lt = true,
            b"ch" => ch = true,
            b"incr" => incr = true,
            _ => break,
        }
        i += 1;
    }
    let pairs = &a[i..];
    if pairs.is_empty() || !pairs.len().is_multiple_of(2) {
        return out.err(E_SYNTAX);
    }
    if nx && xx {
        return out.err("ERR XX and NX options at the same time are not compatible");
    }
    if (nx && (gt || lt)) || (gt && lt) {
        return out.err("ERR GT, LT, and/or NX options at the same time are not compatible");
    }
    if incr && pairs.len() > 2 {
        return out.err("ERR INCR option supports a single increment-element pair");
    }
    let mut scores = Vec::with_capacity(pairs.len() / 2);
    for p in pairs.chunks(2) {
        let Some(s) = float(out, p[0]) else { return };
        scores.push(s);
    }
    if zset(k, out, a[1]).is_err() {
        return;
    }
    if xx && zset(k, out, a[1]).ok().flatten().is_none() {
        return if incr { out.null() } else { out.int(0) };
    }
    let z = zset_or_create(k, out, a[1]).expect("created");
    let (mut added, mut changed) = (0, 0);
    let mut last: Option<f64> = None;
    for (p, &s) in pairs.chunks(2).zip(&scores) {
        let cur = z.scores.get(p[1]).copied();
        if (nx && cur.is_some()) || (xx && cur.is_none()) {
            continue;
        }
        let new = match (incr, cur) {
            (true, Some(c)) => c + s,
            _ => s,
        };
        if new.is_nan() {
            after_removal(k, a[1]);
            return out.err(E_SCORE_NAN);
        }
        if let Some(c) = cur {
            if (gt && new <= c) || (lt && new >= c) {
                continue;
            }
            if c != new {
                changed += 1;
            }
        } else {
            added += 1;
        }
        z.insert(bytes(p[1]), new);
        last = Some(new);
    }
    after_removal(k, a[1]);
    k.ready(a[1]);
    if incr {
        return match last {
            Some(s) => out.double(s),
            None => out.null(),
        };
    }
    out.int(if ch { added + changed } else { added })
}

fn zincrby(_c: &mut Ctx, k: &mut Keys, out: &mut Out, a: &[&[u8]]) {
    let Some(by) = float(out, a[2]) else { return };
    let Some(z) = zset_or_create(k, out, a[1]) else {
        return;
    };
    let new = z.scores.get(a[3]).copied().unwrap_or(0.0) + by;
    if new.is_nan() {
        after_removal(k, a[1]);
        return out.err(E_SCORE_NAN);
    }
    z.insert(bytes(a[3]), new);
    k.modified(a[1]);
    k.ready(a[1]);
    out.double(new)
}

fn zrem(_c: &mut Ctx, k: &mut Keys, out: &mut Out, a: &[&[u8]]) {
    let Ok(z) = zset(k, out, a[1]) else { return };
    let Some(z) = z else { return out.int(0) };
    let n = a[2..].iter().filter(|m| z.remove(m)).count();
    after_removal(k, a[1]);
    out.int(n as i64)
}

fn zscore(_c: &mut Ctx, k: &mut Keys, out: &mut Out, a: &[&[u8]]) {
    let Ok(z) = zset(k, out, a[1]) else { return };
    match z.and_then(|z| z.scores.get(a[2]).copied()) {
        Some(s) => out.double(s),
        None => out.null(),
    }
}

fn zmscore(_c: &mut Ctx, k: &mut Keys, out: &mut Out, a: &[&[u8]]) {
    let Ok(z) = zset(k, out, a[1]) else { return };
    out.array(a.len() - 2);
    for m in &a[2..] {
        match z.as_ref().and_then(|z| z.scores.get(*m).copied()) {
            Some(s) => out.double(s),
            None => out.null(),
        }
    }
}

fn zcard(_c: &mut Ctx, k: &mut Keys, out: &mut Out, a: &[&[u8]]) {
    if let Ok(z) = zset(k, out, a[1]) {
        out.int(z.map_or(0, |z| z.len() as i64))
    }
}

fn rank(k: &mut Keys, out: &mut Out, a: &[&[u8]], rev: bool) {
    let Ok(z) = zset(k, out, a[1]) else { return };
    match z.and_then(|z| z.rank(a[2]).map(|r| if rev { z.len() - 1 - r } else { r })) {
        Some(r) => out.int(r as i64),
        None => out.null(),
    }
}

fn zrank(_c: &mut Ctx, k: &mut Keys, out: &mut Out, a: &[&[u8]]) {
    rank(k, out, a, false)
}

fn zrevrank(_c: &mut Ctx, k: &mut Keys, out: &mut Out, a: &[&[u8]]) {
    rank(k, out, a, true)
}

fn pop_items(k: &mut Keys, key: &[u8], max: bool, n: usize) -> Vec<(Bytes, f64)> {
    let Some(Value::ZSet(z)) = k.get(key).map(|e| &mut e.val) else {
        return vec![];
    };
    let mut res = Vec::new();
    while res.len() < n {
        let first = if max {
            z.tree.last().cloned()
        } else {
            z.tree.first().cloned()
        };
        let Some((s, m)) = first else { break };
        z.remove(&m);
        res.push((m, s.0));
    }
    after_removal(k, key);
    res
}

fn zpop(k: &mut Keys, out: &mut Out, a: &[&[u8]], max: bool) {
    let count = match a.len() {
        2 => None,
        3 => match positive(out, a[2]) {
            Some(n) => Some(n as usize),
            None => return,
        },
        _ => return out.err(E_SYNTAX),
    };
    if zset(k, out, a[1]).is_err() {
        return;
    }
    let items = pop_items(k, a[1], max, count.unwrap_or(1));
    if count.is_none() {
        // Without COUNT the reply is a flat [member, score] in both protocols.
        out.array(items.len() * 2);
        for (m, s) in &items {
            out.bulk(m);
            out.double(*s);
        }
        return;
    }
    reply_items(out, &items, true)
}

fn zpopmin(_c: &mut Ctx, k: &mut Keys, out: &mut Out, a: &[&[u8]]) {
    zpop(k, out, a, false)
}

fn zpopmax(_c: &mut Ctx, k: &mut Keys, out: &mut Out, a: &[&[u8]]) {
    zpop(k, out, a, true)
}

fn bzpop(c: &mut Ctx, k: &mut Keys, out: &mut Out, a: &[&[u8]], max: bool) {
    let Some(t) = timeout_ms(out, a[a.len() - 1]) else {
        return;
    };
    let keys = &a[1..a.len() - 1];
    for key in keys {
        match zset(k, out, key) {
            Err(()) => return,
            Ok(None) => {}
            Ok(Some(_)) => {
                let items = pop_items(k, key, max, 1);
                out.array(3);
                out.bulk(key);
                out.bulk(&items[0].0);
                return out.double(items[0].1);
            }
        }
    }
    if c.in_exec {
        return out.null_array();
    }
    list::block(c, k, keys, t, true)
}

fn bzpopmin(c: &mut Ctx, k: &mut Keys, out: &mut Out, a: &[&[u8]]) {
    bzpop(c, k, out, a, false)
}

fn bzpopmax(c: &mut Ctx, k: &mut Keys, out: &mut Out, a: &[&[u8]]) {
    bzpop(c, k, out, a, true)
}

fn zscan(_c: &mut Ctx, k: &mut Keys, out: &mut Out, a: &[&[u8]]) {
    let Some(cursor) = keys::parse_cursor(out, a[2]) else {
        return;
    };
    let Some(o) = keys::scan_opts(out, &a[3..], false) else {
        return;
    };
    let Ok(z) = zset(k, out, a[1]) else { return };
    let all: Vec<(Bytes, f64)> = z
        .map(|z| z.tree.iter().map(|(s, m)| (m.clone(), s.0)).collect())
        .unwrap_or_default();
    let (next, items) = hash::scan_indexed(all.len(), cursor, o.count, |i| all[i].clone());
    let items: Vec<_> = items
        .into_iter()
        .filter(|(m, _)| o.pattern.is_none_or(|p| glob(p, m)))
        .collect();
    out.array(2);
    out.bulk_int(next as i64);
    out.array(items.len() * 2);
    for (m, s) in items {
        out.bulk(&m);
        out.bulk(fmt_double(s).as_bytes());
    }
}
