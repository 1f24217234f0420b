//! Sorted set commands.

use std::ops::Bound;

use bytes::Bytes;

use super::*;
use crate::store::{glob, Score, Value, ZSet};

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
        cmd("zcount", 4, r | FAST, (1, 1, 1), "sorted-set", zcount),
        cmd("zlexcount", 4, r | FAST, (1, 1, 1), "sorted-set", zlexcount),
        cmd("zrank", 3, r | FAST, (1, 1, 1), "sorted-set", zrank),
        cmd("zrevrank", 3, r | FAST, (1, 1, 1), "sorted-set", zrevrank),
        cmd("zrange", -4, r, (1, 1, 1), "sorted-set", zrange),
        cmd("zrangestore", -5, w, (1, 2, 1), "sorted-set", zrangestore),
        cmd("zrevrange", -4, r, (1, 1, 1), "sorted-set", zrevrange),
        cmd(
            "zrangebyscore",
            -4,
            r,
            (1, 1, 1),
            "sorted-set",
            zrangebyscore,
        ),
        cmd(
            "zrevrangebyscore",
            -4,
            r,
            (1, 1, 1),
            "sorted-set",
            zrevrangebyscore,
        ),
        cmd("zrangebylex", -4, r, (1, 1, 1), "sorted-set", zrangebylex),
        cmd(
            "zrevrangebylex",
            -4,
            r,
            (1, 1, 1),
            "sorted-set",
            zrevrangebylex,
        ),
        cmd(
            "zremrangebyscore",
            4,
            WRITE,
            (1, 1, 1),
            "sorted-set",
            zremrangebyscore,
        ),
        cmd(
            "zremrangebyrank",
            4,
            WRITE,
            (1, 1, 1),
            "sorted-set",
            zremrangebyrank,
        ),
        cmd(
            "zremrangebylex",
            4,
            WRITE,
            (1, 1, 1),
            "sorted-set",
            zremrangebylex,
        ),
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
        cmd(
            "zunionstore",
            -4,
            w | ALL,
            (0, 0, 0),
            "sorted-set",
            zunionstore,
        ),
        cmd(
            "zinterstore",
            -4,
            w | ALL,
            (0, 0, 0),
            "sorted-set",
            zinterstore,
        ),
        cmd(
            "zdiffstore",
            -4,
            w | ALL,
            (0, 0, 0),
            "sorted-set",
            zdiffstore,
        ),
        cmd("zunion", -3, r | ALL, (0, 0, 0), "sorted-set", zunion),
        cmd("zinter", -3, r | ALL, (0, 0, 0), "sorted-set", zinter),
        cmd("zdiff", -3, r | ALL, (0, 0, 0), "sorted-set", zdiff),
        cmd("zscan", -3, r, (1, 1, 1), "sorted-set", zscan),
    ]
}

fn zset<'k>(k: &'k mut Keys, out: &mut Out, key: &[u8]) -> Result<Option<&'k mut ZSet>, ()> {
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
fn after_removal(k: &mut Keys, key: &[u8]) {
    let empty = matches!(k.get(key).map(|e| &e.val), Some(Value::ZSet(z)) if z.is_empty());
    if empty {
        k.remove(key);
    } else {
        k.modified(key);
    }
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
            return out.err("ERR resulting score is not a number (NaN)");
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
        return out.err("ERR resulting score is not a number (NaN)");
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

/// A score bound: `1.5`, `(1.5`, `-inf`, `+inf`.
fn score_bound(s: &[u8]) -> Option<(f64, bool)> {
    match s.strip_prefix(b"(") {
        Some(rest) => crate::resp::parse_f64(rest).map(|v| (v, true)),
        None => crate::resp::parse_f64(s).map(|v| (v, false)),
    }
}

#[derive(Clone)]
enum Lex {
    Min,
    Max,
    Incl(Bytes),
    Excl(Bytes),
}

fn lex_bound(s: &[u8]) -> Option<Lex> {
    match s.first()? {
        b'-' if s.len() == 1 => Some(Lex::Min),
        b'+' if s.len() == 1 => Some(Lex::Max),
        b'[' => Some(Lex::Incl(bytes(&s[1..]))),
        b'(' => Some(Lex::Excl(bytes(&s[1..]))),
        _ => None,
    }
}

fn lex_ge_min(m: &[u8], min: &Lex) -> bool {
    match min {
        Lex::Min => true,
        Lex::Max => false,
        Lex::Incl(b) => m >= &b[..],
        Lex::Excl(b) => m > &b[..],
    }
}

fn lex_le_max(m: &[u8], max: &Lex) -> bool {
    match max {
        Lex::Min => false,
        Lex::Max => true,
        Lex::Incl(b) => m <= &b[..],
        Lex::Excl(b) => m < &b[..],
    }
}

enum Range {
    Rank(i64, i64),
    Score((f64, bool), (f64, bool)),
    Lex(Lex, Lex),
}

/// Selects members in order (reversed when `rev`), after `offset`, at most `limit` (-1: all).
fn select(z: &ZSet, r: &Range, rev: bool, offset: i64, limit: i64) -> Vec<(Bytes, f64)> {
    let in_range = |s: f64, m: &Bytes| match r {
        Range::Score((min, minx), (max, maxx)) => {
            (if *minx { s > *min } else { s >= *min }) && (if *maxx { s < *max } else { s <= *max })
        }
        Range::Lex(min, max) => lex_ge_min(m, min) && lex_le_max(m, max),
        Range::Rank(..) => true,
    };
    if let Range::Rank(s, e) = r {
        let Some((s, e)) = string::norm_range(*s, *e, z.len() as i64) else {
            return vec![];
        };
        let it: Box<dyn Iterator<Item = &(Score, Bytes)>> = if rev {
            Box::new(z.tree.iter().rev())
        } else {
            Box::new(z.tree.iter())
        };
        return it
            .skip(s)
            .take(e - s + 1)
            .map(|(sc, m)| (m.clone(), sc.0))
            .collect();
    }
    if offset < 0 {
        return vec![];
    }
    let it: Box<dyn Iterator<Item = &(Score, Bytes)>> = match (r, rev) {
        (Range::Score((min, _), _), false) => Box::new(z.tree.range((
            Bound::Included((Score(*min), Bytes::new())),
            Bound::Unbounded,
        ))),
        (Range::Score(_, (max, _)), true) => Box::new(
            z.tree
                .range((
                    Bound::Unbounded,
                    Bound::Included((Score(*max), Bytes::from(vec![0xff; 64]))),
                ))
                .rev(),
        ),
        (_, false) => Box::new(z.tree.iter()),
        (_, true) => Box::new(z.tree.iter().rev()),
    };
    let mut res = Vec::new();
    let mut skipped = 0;
    for (sc, m) in it {
        if !in_range(sc.0, m) {
            // Scores are ordered: once past the range, stop; lex ranges assume equal scores.
            let past = match r {
                Range::Score((min, _), (max, _)) => {
                    if rev {
                        sc.0 < *min
                    } else {
                        sc.0 > *max
                    }
                }
                Range::Lex(min, max) => {
                    if rev {
                        !lex_ge_min(m, min)
                    } else {
                        !lex_le_max(m, max)
                    }
                }
                Range::Rank(..) => false,
            };
            if past {
                break;
            }
            continue;
        }
        if skipped < offset {
            skipped += 1;
            continue;
        }
        if limit >= 0 && res.len() as i64 >= limit {
            break;
        }
        res.push((m.clone(), sc.0));
    }
    res
}

fn reply_items(out: &mut Out, items: &[(Bytes, f64)], scores: bool) {
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

struct RangeArgs {
    range: Range,
    rev: bool,
    offset: i64,
    limit: i64,
    scores: bool,
}

#[derive(Copy, Clone, PartialEq)]
enum Kind {
    Rank,
    Score,
    Lex,
}

/// Parses `min max [options]` for every ZRANGE form. `store` forbids WITHSCORES.
fn parse_range(
    out: &mut Out,
    a: &[&[u8]],
    mut kind: Kind,
    mut rev: bool,
    generic: bool,
    store: bool,
) -> Option<RangeArgs> {
    let (mut offset, mut limit, mut scores, mut has_limit) = (0, -1, false, false);
    let mut i = 2;
    while i < a.len() {
        let o = a[i];
        if eq(o, "withscores") && !store {
            scores = true;
        } else if eq(o, "limit") && i + 2 < a.len() {
            offset = int(out, a[i + 1])?;
            limit = int(out, a[i + 2])?;
            has_limit = true;
            i += 2;
        } else if generic && eq(o, "byscore") && kind == Kind::Rank {
            kind = Kind::Score;
        } else if generic && eq(o, "bylex") && kind == Kind::Rank {
            kind = Kind::Lex;
        } else if generic && eq(o, "rev") {
            rev = true;
        } else {
            out.err(E_SYNTAX);
            return None;
        }
        i += 1;
    }
    if has_limit && kind == Kind::Rank {
        out.err(
            "ERR syntax error, LIMIT is only supported in combination with either BYSCORE or BYLEX",
        );
        return None;
    }
    if scores && kind == Kind::Lex {
        out.err("ERR syntax error, WITHSCORES not supported in combination with BYLEX");
        return None;
    }
    let (lo, hi) = if rev && kind != Kind::Rank {
        (a[1], a[0])
    } else {
        (a[0], a[1])
    };
    let range = match kind {
        Kind::Rank => Range::Rank(int(out, lo)?, int(out, hi)?),
        Kind::Score => match (score_bound(lo), score_bound(hi)) {
            (Some(x), Some(y)) => Range::Score(x, y),
            _ => {
                out.err("ERR min or max is not a float");
                return None;
            }
        },
        Kind::Lex => match (lex_bound(lo), lex_bound(hi)) {
            (Some(x), Some(y)) => Range::Lex(x, y),
            _ => {
                out.err("ERR min or max not valid string range item");
                return None;
            }
        },
    };
    Some(RangeArgs {
        range,
        rev,
        offset,
        limit,
        scores,
    })
}

fn range_cmd(k: &mut Keys, out: &mut Out, a: &[&[u8]], kind: Kind, rev: bool, generic: bool) {
    let Some(r) = parse_range(out, &a[2..], kind, rev, generic, false) else {
        return;
    };
    let Ok(z) = zset(k, out, a[1]) else { return };
    let items = z
        .map(|z| select(z, &r.range, r.rev, r.offset, r.limit))
        .unwrap_or_default();
    reply_items(out, &items, r.scores)
}

fn zrange(_c: &mut Ctx, k: &mut Keys, out: &mut Out, a: &[&[u8]]) {
    range_cmd(k, out, a, Kind::Rank, false, true)
}
fn zrevrange(_c: &mut Ctx, k: &mut Keys, out: &mut Out, a: &[&[u8]]) {
    range_cmd(k, out, a, Kind::Rank, true, false)
}
fn zrangebyscore(_c: &mut Ctx, k: &mut Keys, out: &mut Out, a: &[&[u8]]) {
    range_cmd(k, out, a, Kind::Score, false, false)
}
fn zrevrangebyscore(_c: &mut Ctx, k: &mut Keys, out: &mut Out, a: &[&[u8]]) {
    range_cmd(k, out, a, Kind::Score, true, false)
}
fn zrangebylex(_c: &mut Ctx, k: &mut Keys, out: &mut Out, a: &[&[u8]]) {
    range_cmd(k, out, a, Kind::Lex, false, false)
}
fn zrevrangebylex(_c: &mut Ctx, k: &mut Keys, out: &mut Out, a: &[&[u8]]) {
    range_cmd(k, out, a, Kind::Lex, true, false)
}

fn zrangestore(_c: &mut Ctx, k: &mut Keys, out: &mut Out, a: &[&[u8]]) {
    let Some(r) = parse_range(out, &a[3..], Kind::Rank, false, true, true) else {
        return;
    };
    let Ok(z) = zset(k, out, a[2]) else { return };
    let items = z
        .map(|z| select(z, &r.range, r.rev, r.offset, r.limit))
        .unwrap_or_default();
    store_items(k, a[1], items, out)
}

fn store_items(k: &mut Keys, dst: &[u8], items: Vec<(Bytes, f64)>, out: &mut Out) {
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

fn zcount(_c: &mut Ctx, k: &mut Keys, out: &mut Out, a: &[&[u8]]) {
    let (Some(min), Some(max)) = (score_bound(a[2]), score_bound(a[3])) else {
        return out.err("ERR min or max is not a float");
    };
    let Ok(z) = zset(k, out, a[1]) else { return };
    out.int(z.map_or(0, |z| {
        select(z, &Range::Score(min, max), false, 0, -1).len() as i64
    }))
}

fn zlexcount(_c: &mut Ctx, k: &mut Keys, out: &mut Out, a: &[&[u8]]) {
    let (Some(min), Some(max)) = (lex_bound(a[2]), lex_bound(a[3])) else {
        return out.err("ERR min or max not valid string range item");
    };
    let Ok(z) = zset(k, out, a[1]) else { return };
    out.int(z.map_or(0, |z| {
        select(z, &Range::Lex(min, max), false, 0, -1).len() as i64
    }))
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

fn remove_range(k: &mut Keys, out: &mut Out, key: &[u8], r: Range) {
    let Ok(z) = zset(k, out, key) else { return };
    let Some(z) = z else { return out.int(0) };
    let items = select(z, &r, false, 0, -1);
    items.iter().for_each(|(m, _)| {
        z.remove(m);
    });
    after_removal(k, key);
    out.int(items.len() as i64)
}

fn zremrangebyscore(_c: &mut Ctx, k: &mut Keys, out: &mut Out, a: &[&[u8]]) {
    match (score_bound(a[2]), score_bound(a[3])) {
        (Some(x), Some(y)) => remove_range(k, out, a[1], Range::Score(x, y)),
        _ => out.err("ERR min or max is not a float"),
    }
}

fn zremrangebyrank(_c: &mut Ctx, k: &mut Keys, out: &mut Out, a: &[&[u8]]) {
    let (Some(s), Some(e)) = (int(out, a[2]), int(out, a[3])) else {
        return;
    };
    remove_range(k, out, a[1], Range::Rank(s, e))
}

fn zremrangebylex(_c: &mut Ctx, k: &mut Keys, out: &mut Out, a: &[&[u8]]) {
    match (lex_bound(a[2]), lex_bound(a[3])) {
        (Some(x), Some(y)) => remove_range(k, out, a[1], Range::Lex(x, y)),
        _ => out.err("ERR min or max not valid string range item"),
    }
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
        3 => match crate::resp::parse_i64(a[2]) {
            Some(n) if n >= 0 => Some(n as usize),
            Some(_) => return out.err("ERR value is out of range, must be positive"),
            None => return out.err(E_NOTINT),
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

#[derive(Copy, Clone, PartialEq)]
enum SetOp {
    Union,
    Inter,
    Diff,
}

/// ZUNION/ZINTER/ZDIFF core over `a` = numkeys key... [WEIGHTS ..] [AGGREGATE ..] [WITHSCORES].
fn set_op(
    k: &mut Keys,
    out: &mut Out,
    a: &[&[u8]],
    op: SetOp,
    allow_scores: bool,
) -> Option<(Vec<(Bytes, f64)>, bool)> {
    let Some(n) = crate::resp::parse_i64(a[0]) else {
        out.err(E_NOTINT);
        return None;
    };
    if n < 1 {
        out.err("ERR at least 1 input key is needed for this command");
        return None;
    }
    let n = n as usize;
    if a.len() < 1 + n {
        out.err(E_SYNTAX);
        return None;
    }
    let keys = &a[1..1 + n];
    let mut weights = vec![1.0; n];
    let (mut agg, mut scores) = (0u8, false);
    let mut i = 1 + n;
    while i < a.len() {
        if eq(a[i], "weights") && op != SetOp::Diff && i + n < a.len() {
            for (j, w) in weights.iter_mut().enumerate() {
                match crate::resp::parse_f64(a[i + 1 + j]) {
                    Some(v) => *w = v,
                    None => {
                        out.err("ERR weight value is not a float");
                        return None;
                    }
                }
            }
            i += n;
        } else if eq(a[i], "aggregate") && op != SetOp::Diff && i + 1 < a.len() {
            agg = match a[i + 1].to_ascii_lowercase().as_slice() {
                b"sum" => 0,
                b"min" => 1,
                b"max" => 2,
                _ => {
                    out.err(E_SYNTAX);
                    return None;
                }
            };
            i += 1;
        } else if eq(a[i], "withscores") && allow_scores {
            scores = true;
        } else {
            out.err(E_SYNTAX);
            return None;
        }
        i += 1;
    }
    let mut inputs: Vec<Option<Vec<(Bytes, f64)>>> = Vec::with_capacity(n);
    for key in keys {
        let v = match k.get(key).map(|e| &e.val) {
            None => None,
            Some(Value::ZSet(z)) => Some(z.tree.iter().map(|(s, m)| (m.clone(), s.0)).collect()),
            Some(Value::Set(s)) => Some(s.iter().map(|m| (m.clone(), 1.0)).collect()),
            Some(_) => {
                out.err(E_WRONGTYPE);
                return None;
            }
        };
        inputs.push(v);
    }
    let combine = |x: f64, y: f64| match agg {
        1 => x.min(y),
        2 => x.max(y),
        _ => {
            let s = x + y;
            if s.is_nan() {
                0.0
            } else {
                s
            }
        }
    };
    let weigh = |s: f64, w: f64| {
        let v = s * w;
        if v.is_nan() {
            0.0
        } else {
            v
        }
    };
    let mut acc: crate::store::Map<Bytes, f64> = crate::store::new_map();
    match op {
        SetOp::Union => {
            for (inp, w) in inputs.iter().zip(&weights) {
                for (m, s) in inp.iter().flatten() {
                    let v = weigh(*s, *w);
                    acc.entry(m.clone())
                        .and_modify(|x| *x = combine(*x, v))
                        .or_insert(v);
                }
            }
        }
        SetOp::Inter => {
            if inputs.iter().all(|i| i.is_some()) {
                let first = inputs[0].as_ref().expect("some");
                let maps: Vec<crate::store::HMap<Bytes, f64>> = inputs[1..]
                    .iter()
                    .map(|i| i.iter().flatten().cloned().collect())
                    .collect();
                for (m, s) in first {
                    let mut v = weigh(*s, weights[0]);
                    let mut all = true;
                    for (j, mp) in maps.iter().enumerate() {
                        match mp.get(m) {
                            Some(x) => v = combine(v, weigh(*x, weights[j + 1])),
                            None => {
                                all = false;
                                break;
                            }
                        }
                    }
                    if all {
                        acc.insert(m.clone(), v);
                    }
                }
            }
        }
        SetOp::Diff => {
            if let Some(first) = &inputs[0] {
                let others: crate::store::HMap<Bytes, ()> = inputs[1..]
                    .iter()
                    .flatten()
                    .flatten()
                    .map(|(m, _)| (m.clone(), ()))
                    .collect();
                for (m, s) in first {
                    if !others.contains_key(m) {
                        acc.insert(m.clone(), *s);
                    }
                }
            }
        }
    }
    let mut items: Vec<(Bytes, f64)> = acc.into_iter().collect();
    items.sort_by(|x, y| Score(x.1).cmp(&Score(y.1)).then_with(|| x.0.cmp(&y.0)));
    Some((items, scores))
}

fn store_op(k: &mut Keys, out: &mut Out, a: &[&[u8]], op: SetOp) {
    if let Some((items, _)) = set_op(k, out, &a[2..], op, false) {
        store_items(k, a[1], items, out)
    }
}

fn zunionstore(_c: &mut Ctx, k: &mut Keys, out: &mut Out, a: &[&[u8]]) {
    store_op(k, out, a, SetOp::Union)
}
fn zinterstore(_c: &mut Ctx, k: &mut Keys, out: &mut Out, a: &[&[u8]]) {
    store_op(k, out, a, SetOp::Inter)
}
fn zdiffstore(_c: &mut Ctx, k: &mut Keys, out: &mut Out, a: &[&[u8]]) {
    store_op(k, out, a, SetOp::Diff)
}

fn read_op(k: &mut Keys, out: &mut Out, a: &[&[u8]], op: SetOp) {
    if let Some((items, scores)) = set_op(k, out, &a[1..], op, true) {
        reply_items(out, &items, scores)
    }
}

fn zunion(_c: &mut Ctx, k: &mut Keys, out: &mut Out, a: &[&[u8]]) {
    read_op(k, out, a, SetOp::Union)
}
fn zinter(_c: &mut Ctx, k: &mut Keys, out: &mut Out, a: &[&[u8]]) {
    read_op(k, out, a, SetOp::Inter)
}
fn zdiff(_c: &mut Ctx, k: &mut Keys, out: &mut Out, a: &[&[u8]]) {
    read_op(k, out, a, SetOp::Diff)
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
        out.bulk(crate::resp::fmt_double(s).as_bytes());
    }
}
