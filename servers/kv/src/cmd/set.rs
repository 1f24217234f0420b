//! Set commands.

use bytes::Bytes;

use super::args::*;
use super::table::*;
use super::{hash, keys};
use crate::resp::Out;
use crate::store::{fast_rand, glob, new_set, Keys, Set, Value};

pub fn commands() -> Vec<Cmd> {
    let w = WRITE | DENYOOM;
    vec![
        cmd("sadd", -3, w | FAST, (1, 1, 1), "set", sadd),
        cmd("srem", -3, WRITE | FAST, (1, 1, 1), "set", srem),
        cmd("smembers", 2, READONLY, (1, 1, 1), "set", smembers),
        cmd("sismember", 3, READONLY | FAST, (1, 1, 1), "set", sismember),
        cmd(
            "smismember",
            -3,
            READONLY | FAST,
            (1, 1, 1),
            "set",
            smismember,
        ),
        cmd("scard", 2, READONLY | FAST, (1, 1, 1), "set", scard),
        cmd("spop", -2, WRITE | FAST, (1, 1, 1), "set", spop),
        cmd("srandmember", -2, READONLY, (1, 1, 1), "set", srandmember),
        cmd("sinter", -2, READONLY, (1, -1, 1), "set", sinter),
        cmd("sunion", -2, READONLY, (1, -1, 1), "set", sunion),
        cmd("sdiff", -2, READONLY, (1, -1, 1), "set", sdiff),
        cmd("sinterstore", -3, w, (1, -1, 1), "set", sinterstore),
        cmd("sunionstore", -3, w, (1, -1, 1), "set", sunionstore),
        cmd("sdiffstore", -3, w, (1, -1, 1), "set", sdiffstore),
        cmd(
            "sintercard",
            -3,
            READONLY | ALL,
            (0, 0, 0),
            "set",
            sintercard,
        ),
        cmd("smove", 4, WRITE | FAST, (1, 2, 1), "set", smove),
        cmd("sscan", -3, READONLY, (1, 1, 1), "set", sscan),
    ]
}

type S = Set<Bytes>;

fn set<'k>(k: &'k mut Keys, out: &mut Out, key: &[u8]) -> Result<Option<&'k mut S>, ()> {
    match k.get(key).map(|e| &mut e.val) {
        None => Ok(None),
        Some(Value::Set(s)) => Ok(Some(s)),
        Some(_) => {
            out.err(E_WRONGTYPE);
            Err(())
        }
    }
}

fn sadd(_c: &mut Ctx, k: &mut Keys, out: &mut Out, a: &[&[u8]]) {
    match set(k, out, a[1]) {
        Err(()) => return,
        Ok(None) => k.set(a[1], Value::Set(Box::new(new_set())), None, false),
        Ok(Some(_)) => {}
    }
    let s = set(k, out, a[1]).ok().flatten().expect("exists");
    let n = a[2..].iter().filter(|m| s.insert(bytes(m))).count();
    k.modified(a[1]);
    out.int(n as i64)
}

fn srem(_c: &mut Ctx, k: &mut Keys, out: &mut Out, a: &[&[u8]]) {
    let Ok(s) = set(k, out, a[1]) else { return };
    let Some(s) = s else { return out.int(0) };
    let n = a[2..].iter().filter(|m| s.swap_remove(**m)).count();
    if s.is_empty() {
        k.remove(a[1]);
    } else if n > 0 {
        k.modified(a[1]);
    }
    out.int(n as i64)
}

fn reply_set(out: &mut Out, items: &[Bytes]) {
    out.set(items.len());
    items.iter().for_each(|m| out.bulk(m));
}

fn smembers(_c: &mut Ctx, k: &mut Keys, out: &mut Out, a: &[&[u8]]) {
    let Ok(s) = set(k, out, a[1]) else { return };
    let items: Vec<Bytes> = s.map(|s| s.iter().cloned().collect()).unwrap_or_default();
    reply_set(out, &items)
}

fn sismember(_c: &mut Ctx, k: &mut Keys, out: &mut Out, a: &[&[u8]]) {
    if let Ok(s) = set(k, out, a[1]) {
        out.int(s.is_some_and(|s| s.contains(a[2])) as i64)
    }
}

fn smismember(_c: &mut Ctx, k: &mut Keys, out: &mut Out, a: &[&[u8]]) {
    let Ok(s) = set(k, out, a[1]) else { return };
    out.array(a.len() - 2);
    for m in &a[2..] {
        out.int(s.as_ref().is_some_and(|s| s.contains(*m)) as i64);
    }
}

fn scard(_c: &mut Ctx, k: &mut Keys, out: &mut Out, a: &[&[u8]]) {
    if let Ok(s) = set(k, out, a[1]) {
        out.int(s.map_or(0, |s| s.len() as i64))
    }
}

fn count_arg(out: &mut Out, a: &[&[u8]], idx: usize) -> Result<Option<i64>, ()> {
    match a.get(idx) {
        None => Ok(None),
        Some(_) if a.len() > idx + 1 => {
            out.err(E_SYNTAX);
            Err(())
        }
        Some(c) => int(out, c).map(Some).ok_or(()),
    }
}

fn spop(_c: &mut Ctx, k: &mut Keys, out: &mut Out, a: &[&[u8]]) {
    let Ok(count) = count_arg(out, a, 2) else {
        return;
    };
    if count.is_some_and(|c| c < 0) {
        return out.err(E_POSITIVE);
    }
    let Ok(s) = set(k, out, a[1]) else { return };
    let Some(s) = s else {
        return if count.is_some() {
            out.set(0)
        } else {
            out.null()
        };
    };
    let n = count.map_or(1, |c| c as usize).min(s.len());
    let mut popped = Vec::with_capacity(n);
    for _ in 0..n {
        let i = fast_rand() as usize % s.len();
        popped.push(s.swap_remove_index(i).expect("in range"));
    }
    if s.is_empty() {
        k.remove(a[1]);
    } else {
        k.modified(a[1]);
    }
    match count {
        None => out.bulk(&popped[0]),
        Some(_) => reply_set(out, &popped),
    }
}

fn srandmember(_c: &mut Ctx, k: &mut Keys, out: &mut Out, a: &[&[u8]]) {
    let Ok(count) = count_arg(out, a, 2) else {
        return;
    };
    let Ok(s) = set(k, out, a[1]) else { return };
    let Some(s) = s else {
        return if count.is_some() {
            out.array(0)
        } else {
            out.null()
        };
    };
    match count {
        None => out.bulk(
            s.get_index(fast_rand() as usize % s.len())
                .expect("non-empty"),
        ),
        Some(c) if c >= 0 => {
            let mut idx: Vec<usize> = (0..s.len()).collect();
            hash::shuffle(&mut idx);
            idx.truncate(c as usize);
            out.array(idx.len());
            idx.iter().for_each(|&i| out.bulk(&s[i]));
        }
        Some(c) => {
            out.array(c.unsigned_abs() as usize);
            for _ in 0..c.unsigned_abs() {
                out.bulk(&s[fast_rand() as usize % s.len()]);
            }
        }
    }
}

#[derive(Copy, Clone, PartialEq)]
enum Op {
    Inter,
    Union,
    Diff,
}

/// Computes the operation over `keys`; Err after a WRONGTYPE reply.
fn combine(k: &mut Keys, out: &mut Out, keys: &[&[u8]], op: Op) -> Result<S, ()> {
    let mut sets: Vec<Option<S>> = Vec::with_capacity(keys.len());
    for key in keys {
        sets.push(set(k, out, key)?.map(|s| s.clone()));
    }
    let mut res = new_set();
    match op {
        Op::Union => sets
            .iter()
            .flatten()
            .for_each(|s| res.extend(s.iter().cloned())),
        Op::Inter => {
            if sets.iter().any(|s| s.is_none()) {
                return Ok(res);
            }
            let mut all: Vec<&S> = sets.iter().flatten().collect();
            all.sort_by_key(|s| s.len());
            res = all[0]
                .iter()
                .filter(|m| all[1..].iter().all(|s| s.contains(*m)))
                .cloned()
                .collect();
        }
        Op::Diff => {
            if let Some(first) = &sets[0] {
                res = first
                    .iter()
                    .filter(|m| sets[1..].iter().flatten().all(|s| !s.contains(*m)))
                    .cloned()
                    .collect();
            }
        }
    }
    Ok(res)
}

fn read_op(k: &mut Keys, out: &mut Out, a: &[&[u8]], op: Op) {
    if let Ok(r) = combine(k, out, &a[1..], op) {
        let items: Vec<Bytes> = r.into_iter().collect();
        reply_set(out, &items)
    }
}

fn store_op(k: &mut Keys, out: &mut Out, a: &[&[u8]], op: Op) {
    let Ok(r) = combine(k, out, &a[2..], op) else {
        return;
    };
    let n = r.len();
    if n == 0 {
        k.remove(a[1]);
    } else {
        k.set(a[1], Value::Set(Box::new(r)), None, false);
    }
    out.int(n as i64)
}

fn sinter(_c: &mut Ctx, k: &mut Keys, out: &mut Out, a: &[&[u8]]) {
    read_op(k, out, a, Op::Inter)
}
fn sunion(_c: &mut Ctx, k: &mut Keys, out: &mut Out, a: &[&[u8]]) {
    read_op(k, out, a, Op::Union)
}
fn sdiff(_c: &mut Ctx, k: &mut Keys, out: &mut Out, a: &[&[u8]]) {
    read_op(k, out, a, Op::Diff)
}
fn sinterstore(_c: &mut Ctx, k: &mut Keys, out: &mut Out, a: &[&[u8]]) {
    store_op(k, out, a, Op::Inter)
}
fn sunionstore(_c: &mut Ctx, k: &mut Keys, out: &mut Out, a: &[&[u8]]) {
    store_op(k, out, a, Op::Union)
}
fn sdiffstore(_c: &mut Ctx, k: &mut Keys, out: &mut Out, a: &[&[u8]]) {
    store_op(k, out, a, Op::Diff)
}

fn sintercard(_c: &mut Ctx, k: &mut Keys, out: &mut Out, a: &[&[u8]]) {
    let Some(n) = range(out, a[1], 1, i64::MAX, E_NUMKEYS) else {
        return;
    };
    let n = n as usize;
    if a.len() < 2 + n {
        return out.err("ERR Number of keys can't be greater than number of args");
    }
    let mut limit = usize::MAX;
    match &a[2 + n..] {
        [] => {}
        [l, v] if eq(l, "limit") => match range(out, v, 0, i64::MAX, "ERR LIMIT can't be negative")
        {
            Some(0) => limit = usize::MAX,
            Some(x) => limit = x as usize,
            None => return,
        },
        _ => return out.err(E_SYNTAX),
    }
    if let Ok(r) = combine(k, out, &a[2..2 + n], Op::Inter) {
        out.int(r.len().min(limit) as i64)
    }
}

fn smove(_c: &mut Ctx, k: &mut Keys, out: &mut Out, a: &[&[u8]]) {
    let Ok(src) = set(k, out, a[1]) else { return };
    let has = src.is_some_and(|s| s.contains(a[3]));
    if set(k, out, a[2]).is_err() {
        return;
    }
    if !has {
        return out.int(0);
    }
    if a[1] == a[2] {
        return out.int(1);
    }
    let s = set(k, out, a[1]).ok().flatten().expect("exists");
    s.swap_remove(a[3]);
    if s.is_empty() {
        k.remove(a[1]);
    } else {
        k.modified(a[1]);
    }
    if set(k, out, a[2]).ok().flatten().is_none() {
        k.set(a[2], Value::Set(Box::new(new_set())), None, false);
    }
    set(k, out, a[2])
        .ok()
        .flatten()
        .expect("exists")
        .insert(bytes(a[3]));
    k.modified(a[2]);
    out.int(1)
}

fn sscan(_c: &mut Ctx, k: &mut Keys, out: &mut Out, a: &[&[u8]]) {
    let Some(cursor) = keys::parse_cursor(out, a[2]) else {
        return;
    };
    let Some(o) = keys::scan_opts(out, &a[3..], false) else {
        return;
    };
    let Ok(s) = set(k, out, a[1]) else { return };
    let (next, items) = match s {
        None => (0, vec![]),
        Some(s) => hash::scan_indexed(s.len(), cursor, o.count, |i| s[i].clone()),
    };
    let items: Vec<_> = items
        .into_iter()
        .filter(|m| o.pattern.is_none_or(|p| glob(p, m)))
        .collect();
    out.array(2);
    out.bulk_int(next as i64);
    out.array(items.len());
    items.iter().for_each(|m| out.bulk(m));
}
