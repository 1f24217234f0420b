//! Sorted set ranges by rank, score or lex (`Range`, `select`, `parse_range`): ZRANGE and its
//! older forms, ZRANGESTORE, ZCOUNT, ZLEXCOUNT, ZREMRANGEBYSCORE/RANK/LEX.

use std::ops::Bound;

use bytes::Bytes;

use super::members::{after_removal, reply_items, store_items, zset};
use crate::cmd::args::*;
use crate::cmd::string;
use crate::cmd::table::*;
use crate::resp::{parse_f64, Out};
use crate::store::{Keys, Score, ZSet};

pub fn commands() -> Vec<Cmd> {
    let w = WRITE | DENYOOM;
    let r = READONLY;
    vec![
        cmd("zcount", 4, r | FAST, (1, 1, 1), "sorted-set", zcount),
        cmd("zlexcount", 4, r | FAST, (1, 1, 1), "sorted-set", zlexcount),
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
    ]
}

/// A score bound: `1.5`, `(1.5`, `-inf`, `+inf`.
fn score_bound(s: &[u8]) -> Option<(f64, bool)> {
    match s.strip_prefix(b"(") {
        Some(rest) => parse_f64(rest).map(|v| (v, true)),
        None => parse_f64(s).map(|v| (v, false)),
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
                out.err(E_MINMAX_FLOAT);
                return None;
            }
        },
        Kind::Lex => match (lex_bound(lo), lex_bound(hi)) {
            (Some(x), Some(y)) => Range::Lex(x, y),
            _ => {
                out.err(E_MINMAX_LEX);
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

fn zcount(_c: &mut Ctx, k: &mut Keys, out: &mut Out, a: &[&[u8]]) {
    let (Some(min), Some(max)) = (score_bound(a[2]), score_bound(a[3])) else {
        return out.err(E_MINMAX_FLOAT);
    };
    let Ok(z) = zset(k, out, a[1]) else { return };
    out.int(z.map_or(0, |z| {
        select(z, &Range::Score(min, max), false, 0, -1).len() as i64
    }))
}

fn zlexcount(_c: &mut Ctx, k: &mut Keys, out: &mut Out, a: &[&[u8]]) {
    let (Some(min), Some(max)) = (lex_bound(a[2]), lex_bound(a[3])) else {
        return out.err(E_MINMAX_LEX);
    };
    let Ok(z) = zset(k, out, a[1]) else { return };
    out.int(z.map_or(0, |z| {
        select(z, &Range::Lex(min, max), false, 0, -1).len() as i64
    }))
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
        _ => out.err(E_MINMAX_FLOAT),
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
        _ => out.err(E_MINMAX_LEX),
    }
}
