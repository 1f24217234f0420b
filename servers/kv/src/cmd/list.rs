//! List commands, including the blocking ones; `block` turns a blocking command that found
//! nothing into a wait (also used by BZPOPMIN/BZPOPMAX).

use std::collections::VecDeque;

use super::args::*;
use super::string;
use super::table::*;
use crate::resp::Out;
use crate::server::BlockReq;
use crate::store::{Keys, Value, Waiter};

pub fn commands() -> Vec<Cmd> {
    let w = WRITE | DENYOOM;
    vec![
        cmd("lpush", -3, w | FAST, (1, 1, 1), "list", lpush),
        cmd("rpush", -3, w | FAST, (1, 1, 1), "list", rpush),
        cmd("lpushx", -3, w | FAST, (1, 1, 1), "list", lpushx),
        cmd("rpushx", -3, w | FAST, (1, 1, 1), "list", rpushx),
        cmd("lpop", -2, WRITE | FAST, (1, 1, 1), "list", lpop),
        cmd("rpop", -2, WRITE | FAST, (1, 1, 1), "list", rpop),
        cmd("llen", 2, READONLY | FAST, (1, 1, 1), "list", llen),
        cmd("lrange", 4, READONLY, (1, 1, 1), "list", lrange),
        cmd("lindex", 3, READONLY, (1, 1, 1), "list", lindex),
        cmd("lset", 4, w, (1, 1, 1), "list", lset),
        cmd("lrem", 4, WRITE, (1, 1, 1), "list", lrem),
        cmd("ltrim", 4, WRITE, (1, 1, 1), "list", ltrim),
        cmd("linsert", 5, w, (1, 1, 1), "list", linsert),
        cmd("lpos", -3, READONLY, (1, 1, 1), "list", lpos),
        cmd("lmove", 5, w, (1, 2, 1), "list", lmove),
        cmd("rpoplpush", 3, w, (1, 2, 1), "list", rpoplpush),
        cmd("lmpop", -4, WRITE | ALL, (0, 0, 0), "list", lmpop),
        cmd("blpop", -3, WRITE | BLOCKING, (1, -2, 1), "list", blpop),
        cmd("brpop", -3, WRITE | BLOCKING, (1, -2, 1), "list", brpop),
        cmd("blmove", 6, w | BLOCKING, (1, 2, 1), "list", blmove),
        cmd("brpoplpush", 4, w | BLOCKING, (1, 2, 1), "list", brpoplpush),
    ]
}

type List = VecDeque<bytes::Bytes>;

/// The list at `key`: Ok(None) if missing, Err after replying WRONGTYPE.
fn list<'k>(k: &'k mut Keys, out: &mut Out, key: &[u8]) -> Result<Option<&'k mut List>, ()> {
    match k.get(key).map(|e| &mut e.val) {
        None => Ok(None),
        Some(Value::List(l)) => Ok(Some(l)),
        Some(_) => {
            out.err(E_WRONGTYPE);
            Err(())
        }
    }
}

fn push(k: &mut Keys, out: &mut Out, a: &[&[u8]], left: bool, only_existing: bool) {
    let l = match list(k, out, a[1]) {
        Err(()) => return,
        Ok(Some(l)) => l,
        Ok(None) if only_existing => return out.int(0),
        Ok(None) => {
            k.set(a[1], Value::List(Box::default()), None, false);
            list(k, out, a[1]).ok().flatten().expect("just created")
        }
    };
    for v in &a[2..] {
        if left {
            l.push_front(bytes(v));
        } else {
            l.push_back(bytes(v));
        }
    }
    let n = l.len();
    k.modified(a[1]);
    k.ready(a[1]);
    out.int(n as i64)
}

fn lpush(_c: &mut Ctx, k: &mut Keys, out: &mut Out, a: &[&[u8]]) {
    push(k, out, a, true, false)
}
fn rpush(_c: &mut Ctx, k: &mut Keys, out: &mut Out, a: &[&[u8]]) {
    push(k, out, a, false, false)
}
fn lpushx(_c: &mut Ctx, k: &mut Keys, out: &mut Out, a: &[&[u8]]) {
    push(k, out, a, true, true)
}
fn rpushx(_c: &mut Ctx, k: &mut Keys, out: &mut Out, a: &[&[u8]]) {
    push(k, out, a, false, true)
}

/// Pops up to `n` elements; deletes the key when it empties.
fn pop_n(k: &mut Keys, key: &[u8], left: bool, n: usize) -> Vec<bytes::Bytes> {
    let Some(Value::List(l)) = k.get(key).map(|e| &mut e.val) else {
        return vec![];
    };
    let mut res = Vec::with_capacity(n.min(l.len()));
    while res.len() < n {
        match if left { l.pop_front() } else { l.pop_back() } {
            Some(v) => res.push(v),
            None => break,
        }
    }
    if l.is_empty() {
        k.remove(key);
    } else {
        k.modified(key);
    }
    res
}

fn pop(k: &mut Keys, out: &mut Out, a: &[&[u8]], left: bool) {
    let count = match a.len() {
        2 => None,
        3 => match range(out, a[2], 0, i64::MAX, E_POSITIVE) {
            Some(n) => Some(n as usize),
            None => return,
        },
        _ => return arity_err(out, if left { "lpop" } else { "rpop" }),
    };
    match list(k, out, a[1]) {
        Err(()) => return,
        Ok(None) => {
            return if count.is_some() {
                out.null_array()
            } else {
                out.null()
            }
        }
        Ok(Some(_)) => {}
    }
    match count {
        None => {
            let v = pop_n(k, a[1], left, 1);
            out.bulk_bytes(&v[0])
        }
        Some(n) => {
            let v = pop_n(k, a[1], left, n);
            out.array(v.len());
            v.iter().for_each(|x| out.bulk_bytes(x));
        }
    }
}

fn lpop(_c: &mut Ctx, k: &mut Keys, out: &mut Out, a: &[&[u8]]) {
    pop(k, out, a, true)
}
fn rpop(_c: &mut Ctx, k: &mut Keys, out: &mut Out, a: &[&[u8]]) {
    pop(k, out, a, false)
}

fn llen(_c: &mut Ctx, k: &mut Keys, out: &mut Out, a: &[&[u8]]) {
    if let Ok(l) = list(k, out, a[1]) {
        out.int(l.map_or(0, |l| l.len() as i64))
    }
}

fn lrange(_c: &mut Ctx, k: &mut Keys, out: &mut Out, a: &[&[u8]]) {
    let (Some(s), Some(e)) = (int(out, a[2]), int(out, a[3])) else {
        return;
    };
    let Ok(l) = list(k, out, a[1]) else { return };
    let Some(l) = l else { return out.array(0) };
    match string::norm_range(s, e, l.len() as i64) {
        None => out.array(0),
        Some((s, e)) => {
            out.array(e - s + 1);
            l.range(s..=e).for_each(|v| out.bulk_bytes(v));
        }
    }
}

fn index_of(len: usize, i: i64) -> Option<usize> {
    let i = if i < 0 { len as i64 + i } else { i };
    (0..len as i64).contains(&i).then_some(i as usize)
}

fn lindex(_c: &mut Ctx, k: &mut Keys, out: &mut Out, a: &[&[u8]]) {
    let Some(i) = int(out, a[2]) else { return };
    let Ok(l) = list(k, out, a[1]) else { return };
    match l.and_then(|l| index_of(l.len(), i).map(|i| l[i].clone())) {
        Some(v) => out.bulk_bytes(&v),
        None => out.null(),
    }
}

fn lset(_c: &mut Ctx, k: &mut Keys, out: &mut Out, a: &[&[u8]]) {
    let Some(i) = int(out, a[2]) else { return };
    let Ok(l) = list(k, out, a[1]) else { return };
    let Some(l) = l else { return out.err(E_NOKEY) };
    let Some(i) = index_of(l.len(), i) else {
        return out.err("ERR index out of range");
    };
    l[i] = bytes(a[3]);
    k.modified(a[1]);
    out.ok()
}

fn lrem(_c: &mut Ctx, k: &mut Keys, out: &mut Out, a: &[&[u8]]) {
    let Some(count) = int(out, a[2]) else { return };
    let l = match list(k, out, a[1]) {
        Err(()) => return,
        Ok(None) => return out.int(0),
        Ok(Some(l)) => l,
    };
    let limit = if count == 0 {
        usize::MAX
    } else {
        count.unsigned_abs() as usize
    };
    let mut removed = 0;
    if count >= 0 {
        let mut i = 0;
        while i < l.len() && removed < limit {
            if l[i] == a[3] {
                l.remove(i);
                removed += 1;
            } else {
                i += 1;
            }
        }
    } else {
        let mut i = l.len();
        while i > 0 && removed < limit {
            i -= 1;
            if l[i] == a[3] {
                l.remove(i);
                removed += 1;
            }
        }
    }
    let empty = l.is_empty();
    if empty {
        k.remove(a[1]);
    } else if removed > 0 {
        k.modified(a[1]);
    }
    out.int(removed as i64)
}

fn ltrim(_c: &mut Ctx, k: &mut Keys, out: &mut Out, a: &[&[u8]]) {
    let (Some(s), Some(e)) = (int(out, a[2]), int(out, a[3])) else {
        return;
    };
    let Ok(l) = list(k, out, a[1]) else { return };
    let Some(l) = l else { return out.ok() };
    match string::norm_range(s, e, l.len() as i64) {
        None => l.clear(),
        Some((s, e)) => {
            l.truncate(e + 1);
            l.drain(..s);
        }
    }
    if l.is_empty() {
        k.remove(a[1]);
    } else {
        k.modified(a[1]);
    }
    out.ok()
}

fn linsert(_c: &mut Ctx, k: &mut Keys, out: &mut Out, a: &[&[u8]]) {
    let before = if eq(a[2], "before") {
        true
    } else if eq(a[2], "after") {
        false
    } else {
        return out.err(E_SYNTAX);
    };
    let Ok(l) = list(k, out, a[1]) else { return };
    let Some(l) = l else { return out.int(0) };
    let Some(p) = l.iter().position(|v| v == a[3]) else {
        return out.int(-1);
    };
    l.insert(if before { p } else { p + 1 }, bytes(a[4]));
    let n = l.len();
    k.modified(a[1]);
    out.int(n as i64)
}

fn lpos(_c: &mut Ctx, k: &mut Keys, out: &mut Out, a: &[&[u8]]) {
    let (mut rank, mut count, mut maxlen) = (1i64, None, 0usize);
    let mut i = 3;
    while i < a.len() {
        let Some(v) = a.get(i + 1) else {
            return out.err(E_SYNTAX);
        };
        let Some(n) = int(out, v) else { return };
        if eq(a[i], "rank") {
            if n == 0 || n == i64::MIN {
                return out.err("ERR RANK can't be zero: use 1 to start from the first match, 2 from the second ... or use negative to start from the end of the list");
            }
            rank = n;
        } else if eq(a[i], "count") {
            if n < 0 {
                return out.err("ERR COUNT can't be negative");
            }
            count = Some(n as usize);
        } else if eq(a[i], "maxlen") {
            if n < 0 {
                return out.err("ERR MAXLEN can't be negative");
            }
            maxlen = n as usize;
        } else {
            return out.err(E_SYNTAX);
        }
        i += 2;
    }
    let Ok(l) = list(k, out, a[1]) else { return };
    let mut hits = Vec::new();
    if let Some(l) = l {
        let want = count.map_or(1, |c| if c == 0 { usize::MAX } else { c });
        let mut skip = rank.unsigned_abs() as usize - 1;
        let idx: Box<dyn Iterator<Item = usize>> = if rank > 0 {
            Box::new(0..l.len())
        } else {
            Box::new((0..l.len()).rev())
        };
        for (scanned, i) in idx.enumerate() {
            if maxlen != 0 && scanned >= maxlen {
                break;
            }
            if l[i] == a[2] {
                if skip > 0 {
                    skip -= 1;
                } else {
                    hits.push(i as i64);
                    if hits.len() >= want {
                        break;
                    }
                }
            }
        }
    }
    match count {
        Some(_) => {
            out.array(hits.len());
            hits.iter().for_each(|&h| out.int(h));
        }
        None => match hits.first() {
            Some(&h) => out.int(h),
            None => out.null(),
        },
    }
}

fn side(out: &mut Out, a: &[u8]) -> Option<bool> {
    if eq(a, "left") {
        Some(true)
    } else if eq(a, "right") {
        Some(false)
    } else {
        out.err(E_SYNTAX);
        None
    }
}

/// Moves one element; None if the source is empty (after replying an error on WRONGTYPE).
fn move_one(
    k: &mut Keys,
    out: &mut Out,
    src: &[u8],
    dst: &[u8],
    from_left: bool,
    to_left: bool,
) -> Result<Option<bytes::Bytes>, ()> {
    if list(k, out, src)?.is_none() {
        return Ok(None);
    }
    list(k, out, dst)?;
    let v = pop_n(k, src, from_left, 1).pop().expect("non-empty");
    let l = match list(k, out, dst)? {
        Some(l) => l,
        None => {
            k.set(dst, Value::List(Box::default()), None, false);
            list(k, out, dst)?.expect("created")
        }
    };
    if to_left {
        l.push_front(v.clone());
    } else {
        l.push_back(v.clone());
    }
    k.modified(dst);
    k.ready(dst);
    Ok(Some(v))
}

fn lmove(_c: &mut Ctx, k: &mut Keys, out: &mut Out, a: &[&[u8]]) {
    let (Some(f), Some(t)) = (side(out, a[3]), side(out, a[4])) else {
        return;
    };
    match move_one(k, out, a[1], a[2], f, t) {
        Ok(Some(v)) => out.bulk_bytes(&v),
        Ok(None) => out.null(),
        Err(()) => {}
    }
}

fn rpoplpush(_c: &mut Ctx, k: &mut Keys, out: &mut Out, a: &[&[u8]]) {
    match move_one(k, out, a[1], a[2], false, true) {
        Ok(Some(v)) => out.bulk_bytes(&v),
        Ok(None) => out.null(),
        Err(()) => {}
    }
}

fn lmpop(_c: &mut Ctx, k: &mut Keys, out: &mut Out, a: &[&[u8]]) {
    let Some(n) = range(out, a[1], 1, i64::MAX, E_NUMKEYS) else {
        return;
    };
    let n = n as usize;
    if a.len() < 2 + n + 1 {
        return out.err(E_SYNTAX);
    }
    let Some(left) = side(out, a[2 + n]) else {
        return;
    };
    let mut count = 1;
    match &a[3 + n..] {
        [] => {}
        [c, v] if eq(c, "count") => {
            match range(out, v, 1, i64::MAX, "ERR count should be greater than 0") {
                Some(x) => count = x as usize,
                None => return,
            }
        }
        _ => return out.err(E_SYNTAX),
    }
    for key in &a[2..2 + n] {
        match list(k, out, key) {
            Err(()) => return,
            Ok(None) => continue,
            Ok(Some(_)) => {
                let v = pop_n(k, key, left, count);
                out.array(2);
                out.bulk(key);
                out.array(v.len());
                return v.iter().for_each(|x| out.bulk_bytes(x));
            }
        }
    }
    out.null_array()
}

/// Registers the client as waiting on `keys` (under their shard locks, so no push is missed).
pub fn block(c: &mut Ctx, k: &mut Keys, keys: &[&[u8]], timeout_ms: u64, null_array: bool) {
    c.cl.block_seq += 1;
    let w = Waiter {
        worker: c.worker,
        conn: c.cl.conn,
        seq: c.cl.block_seq,
    };
    let db = k.db;
    for key in keys {
        k.shard(key)
            .waiters
            .entry((db, bytes(key)))
            .or_default()
            .push(w);
    }
    c.fx.block = Some(BlockReq {
        argv: Vec::new(),
        keys: keys.iter().map(|x| bytes(x)).collect(),
        timeout_ms,
        null_array,
    });
}

fn bpop(c: &mut Ctx, k: &mut Keys, out: &mut Out, a: &[&[u8]], left: bool) {
    let Some(t) = timeout_ms(out, a[a.len() - 1]) else {
        return;
    };
    let keys = &a[1..a.len() - 1];
    for key in keys {
        match list(k, out, key) {
            Err(()) => return,
            Ok(None) => {}
            Ok(Some(_)) => {
                let v = pop_n(k, key, left, 1);
                out.array(2);
                out.bulk(key);
                return out.bulk_bytes(&v[0]);
            }
        }
    }
    if c.in_exec {
        return out.null_array();
    }
    block(c, k, keys, t, true)
}

fn blpop(c: &mut Ctx, k: &mut Keys, out: &mut Out, a: &[&[u8]]) {
    bpop(c, k, out, a, true)
}
fn brpop(c: &mut Ctx, k: &mut Keys, out: &mut Out, a: &[&[u8]]) {
    bpop(c, k, out, a, false)
}

fn bmove(
    c: &mut Ctx,
    k: &mut Keys,
    out: &mut Out,
    a: &[&[u8]],
    from_left: bool,
    to_left: bool,
    t: &[u8],
) {
    let Some(t) = timeout_ms(out, t) else { return };
    match move_one(k, out, a[1], a[2], from_left, to_left) {
        Ok(Some(v)) => out.bulk_bytes(&v),
        Ok(None) if c.in_exec => out.null(),
        Ok(None) => block(c, k, &a[1..2], t, false),
        Err(()) => {}
    }
}

fn blmove(c: &mut Ctx, k: &mut Keys, out: &mut Out, a: &[&[u8]]) {
    let (Some(f), Some(t)) = (side(out, a[3]), side(out, a[4])) else {
        return;
    };
    bmove(c, k, out, a, f, t, a[5])
}

fn brpoplpush(c: &mut Ctx, k: &mut Keys, out: &mut Out, a: &[&[u8]]) {
    bmove(c, k, out, a, false, true, a[3])
}
