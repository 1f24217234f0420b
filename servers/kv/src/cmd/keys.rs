//! Keyspace commands (Redis's `db.c` and `expire.c`): DEL, UNLINK, EXISTS, TOUCH, TYPE, the
//! EXPIRE and TTL families, PERSIST, KEYS, SCAN, RANDOMKEY, RENAME(NX), COPY, MOVE, OBJECT,
//! DBSIZE, FLUSHDB, FLUSHALL, SWAPDB. Shared with the type files: `scan_opts` and
//! `parse_cursor` (the *SCAN arguments), `encoding` (OBJECT ENCODING, DEBUG OBJECT).

use super::args::*;
use super::table::*;
use crate::resp::{parse_i64, Out};
use crate::store::{fast_rand, glob, idle_seconds, lfu_decayed, Entry, Keys, Value, SHARDS};

pub fn commands() -> Vec<Cmd> {
    let w = WRITE;
    vec![
        cmd("del", -2, w, (1, -1, 1), "generic", del),
        cmd("unlink", -2, w | FAST, (1, -1, 1), "generic", del),
        cmd("exists", -2, READONLY | FAST, (1, -1, 1), "generic", exists),
        cmd("touch", -2, READONLY | FAST, (1, -1, 1), "generic", exists),
        cmd("type", 2, READONLY | FAST, (1, 1, 1), "generic", type_),
        cmd("expire", -3, w | FAST, (1, 1, 1), "generic", expire),
        cmd("pexpire", -3, w | FAST, (1, 1, 1), "generic", pexpire),
        cmd("expireat", -3, w | FAST, (1, 1, 1), "generic", expireat),
        cmd("pexpireat", -3, w | FAST, (1, 1, 1), "generic", pexpireat),
        cmd("ttl", 2, READONLY | FAST, (1, 1, 1), "generic", ttl),
        cmd("pttl", 2, READONLY | FAST, (1, 1, 1), "generic", pttl),
        cmd(
            "expiretime",
            2,
            READONLY | FAST,
            (1, 1, 1),
            "generic",
            expiretime,
        ),
        cmd(
            "pexpiretime",
            2,
            READONLY | FAST,
            (1, 1, 1),
            "generic",
            pexpiretime,
        ),
        cmd("persist", 2, w | FAST, (1, 1, 1), "generic", persist),
        cmd("keys", 2, READONLY | ALL, (0, 0, 0), "generic", keys),
        cmd("scan", -2, READONLY | ALL, (0, 0, 0), "generic", scan),
        cmd(
            "randomkey",
            1,
            READONLY | ALL,
            (0, 0, 0),
            "generic",
            randomkey,
        ),
        cmd("rename", 3, w, (1, 2, 1), "generic", rename),
        cmd("renamenx", 3, w | FAST, (1, 2, 1), "generic", renamenx),
        cmd("copy", -3, w | DENYOOM, (1, 2, 1), "generic", copy),
        cmd("move", 3, w | FAST, (1, 1, 1), "generic", move_),
        cmd("object", -2, READONLY, (2, 2, 1), "generic", object),
        cmd(
            "dbsize",
            1,
            READONLY | FAST | ALL,
            (0, 0, 0),
            "server",
            dbsize,
        ),
        cmd("flushdb", -1, w | ALL, (0, 0, 0), "server", flushdb),
        cmd("flushall", -1, w | ALL, (0, 0, 0), "server", flushall),
        cmd("swapdb", 3, w | FAST | ALL, (0, 0, 0), "server", swapdb),
    ]
}

fn del(_c: &mut Ctx, k: &mut Keys, out: &mut Out, a: &[&[u8]]) {
    let mut n = 0;
    for key in &a[1..] {
        if k.get(key).is_some() {
            k.remove(key);
            n += 1;
        }
    }
    out.int(n)
}

fn exists(_c: &mut Ctx, k: &mut Keys, out: &mut Out, a: &[&[u8]]) {
    let n = a[1..].iter().filter(|key| k.read(key).is_some()).count();
    out.int(n as i64)
}

fn type_(_c: &mut Ctx, k: &mut Keys, out: &mut Out, a: &[&[u8]]) {
    let t = k.peek(a[1]).map_or("none", |e| e.val.type_name());
    out.simple(t)
}

/// EXPIRE family: `unit_ms` and `absolute` select the variant.
fn expire_generic(
    c: &mut Ctx,
    k: &mut Keys,
    out: &mut Out,
    a: &[&[u8]],
    unit_ms: bool,
    absolute: bool,
    name: &str,
) {
    let Some(v) = int(out, a[2]) else { return };
    let (mut nx, mut xx, mut gt, mut lt) = (false, false, false, false);
    for opt in &a[3..] {
        match opt.to_ascii_lowercase().as_slice() {
            b"nx" => nx = true,
            b"xx" => xx = true,
            b"gt" => gt = true,
            b"lt" => lt = true,
            _ => {
                return out.err(&format!(
                    "ERR Unsupported option {}",
                    String::from_utf8_lossy(opt)
                ))
            }
        }
    }
    if nx && (xx || gt || lt) {
        return out.err("ERR NX and XX, GT or LT options at the same time are not compatible");
    }
    if gt && lt {
        return out.err("ERR GT and LT options at the same time are not compatible");
    }
    let ms = if unit_ms {
        Some(v)
    } else {
        v.checked_mul(1000)
    };
    let at = ms.and_then(|ms| {
        if absolute {
            Some(ms)
        } else {
            ms.checked_add(c.now as i64)
        }
    });
    let Some(at) = at else {
        return expire_err(out, name);
    };
    let Some(e) = k.get(a[1]) else {
        return out.int(0);
    };
    let cur = e.exp;
    let ok = if nx {
        cur == 0
    } else if xx {
        cur != 0 && (!gt || at > cur as i64) && (!lt || at < cur as i64)
    } else if gt {
        cur != 0 && at > cur as i64
    } else if lt {
        cur == 0 || at < cur as i64
    } else {
        true
    };
    if !ok {
        return out.int(0);
    }
    if at <= c.now as i64 {
        k.remove(a[1]);
    } else {
        k.set_expire(a[1], at as u64);
    }
    out.int(1)
}

fn expire(c: &mut Ctx, k: &mut Keys, out: &mut Out, a: &[&[u8]]) {
    expire_generic(c, k, out, a, false, false, "expire")
}
fn pexpire(c: &mut Ctx, k: &mut Keys, out: &mut Out, a: &[&[u8]]) {
    expire_generic(c, k, out, a, true, false, "pexpire")
}
fn expireat(c: &mut Ctx, k: &mut Keys, out: &mut Out, a: &[&[u8]]) {
    expire_generic(c, k, out, a, false, true, "expireat")
}
fn pexpireat(c: &mut Ctx, k: &mut Keys, out: &mut Out, a: &[&[u8]]) {
    expire_generic(c, k, out, a, true, true, "pexpireat")
}

/// Remaining TTL: -2 missing, -1 no TTL.
fn ttl_ms(c: &Ctx, k: &mut Keys, key: &[u8]) -> i64 {
    match k.peek(key) {
        None => -2,
        Some(e) if e.exp == 0 => -1,
        Some(e) => e.exp.saturating_sub(c.now) as i64,
    }
}

fn ttl(c: &mut Ctx, k: &mut Keys, out: &mut Out, a: &[&[u8]]) {
    let t = ttl_ms(c, k, a[1]);
    out.int(if t < 0 { t } else { (t + 500) / 1000 })
}

fn pttl(c: &mut Ctx, k: &mut Keys, out: &mut Out, a: &[&[u8]]) {
    let t = ttl_ms(c, k, a[1]);
    out.int(t)
}

fn expiretime(_c: &mut Ctx, k: &mut Keys, out: &mut Out, a: &[&[u8]]) {
    match k.peek(a[1]) {
        None => out.int(-2),
        Some(e) if e.exp == 0 => out.int(-1),
        Some(e) => out.int((e.exp / 1000) as i64),
    }
}

fn pexpiretime(_c: &mut Ctx, k: &mut Keys, out: &mut Out, a: &[&[u8]]) {
    match k.peek(a[1]) {
        None => out.int(-2),
        Some(e) if e.exp == 0 => out.int(-1),
        Some(e) => out.int(e.exp as i64),
    }
}

fn persist(_c: &mut Ctx, k: &mut Keys, out: &mut Out, a: &[&[u8]]) {
    match k.get(a[1]) {
        Some(e) if e.exp != 0 => {
            k.set_expire(a[1], 0);
            out.int(1)
        }
        _ => out.int(0),
    }
}

fn live(e: &Entry, now: u64) -> bool {
    e.exp == 0 || e.exp > now
}

fn keys(c: &mut Ctx, k: &mut Keys, out: &mut Out, a: &[&[u8]]) {
    let (db, now, all) = (k.db, c.now, a[1] == b"*");
    let mut found = Vec::new();
    for s in k.each_shard() {
        for (key, e) in s.dbs[db].map.iter() {
            if live(e, now) && (all || glob(a[1], key)) {
                found.push(key.clone());
            }
        }
    }
    out.array(found.len());
    for key in found {
        out.bulk(&key);
    }
}

/// Options shared by SCAN, HSCAN, SSCAN, ZSCAN.
pub struct ScanOpts<'a> {
    pub pattern: Option<&'a [u8]>,
    pub count: usize,
    pub kind: Option<Vec<u8>>,
}

pub fn scan_opts<'a>(out: &mut Out, a: &[&'a [u8]], allow_type: bool) -> Option<ScanOpts<'a>> {
    let mut o = ScanOpts {
        pattern: None,
        count: 10,
        kind: None,
    };
    let mut i = 0;
    while i < a.len() {
        let Some(v) = a.get(i + 1) else {
            out.err(E_SYNTAX);
            return None;
        };
        if eq(a[i], "match") {
            o.pattern = Some(*v).filter(|p| *p != b"*");
        } else if eq(a[i], "count") {
            let n = int(out, v)?;
            if n < 1 {
                out.err(E_SYNTAX);
                return None;
            }
            o.count = n as usize;
        } else if eq(a[i], "type") && allow_type {
            o.kind = Some(v.to_ascii_lowercase());
        } else {
            out.err(E_SYNTAX);
            return None;
        }
        i += 2;
    }
    Some(o)
}

pub fn parse_cursor(out: &mut Out, a: &[u8]) -> Option<u64> {
    let v = std::str::from_utf8(a)
        .ok()
        .and_then(|s| s.parse::<u64>().ok());
    if v.is_none() {
        out.err("ERR invalid cursor");
    }
    v
}

/// SCAN over the shards: cursor = shard << 40 | positions left to visit in that shard. Each
/// shard is walked from its end down, so keys moved by deletions are never skipped.
fn scan(c: &mut Ctx, k: &mut Keys, out: &mut Out, a: &[&[u8]]) {
    let Some(cursor) = parse_cursor(out, a[1]) else {
        return;
    };
    let Some(o) = scan_opts(out, &a[2..], true) else {
        return;
    };
    let (db, now) = (k.db, c.now);
    let mut shard = (cursor >> 40) as usize;
    let mut rem = (cursor & ((1 << 40) - 1)) as usize;
    let mut shards: Vec<_> = k.each_shard().collect();
    let mut found = Vec::new();
    let mut visited = 0;
    while shard < SHARDS && visited < o.count {
        let map = &shards[shard].dbs[db].map;
        if rem == 0 {
            rem = map.len();
        }
        rem = rem.min(map.len());
        while rem > 0 && visited < o.count {
            rem -= 1;
            visited += 1;
            let (key, e) = map.get_index(rem).expect("in range");
            let type_ok = o
                .kind
                .as_deref()
                .is_none_or(|t| t == e.val.type_name().as_bytes());
            if live(e, now) && type_ok && o.pattern.is_none_or(|p| glob(p, key)) {
                found.push(key.clone());
            }
        }
        if rem == 0 {
            shard += 1;
        }
    }
    shards.clear();
    let next = if shard >= SHARDS {
        0
    } else {
        ((shard as u64) << 40) | rem as u64
    };
    out.array(2);
    out.bulk_int(next as i64);
    out.array(found.len());
    for key in found {
        out.bulk(&key);
    }
}

fn randomkey(c: &mut Ctx, k: &mut Keys, out: &mut Out, _a: &[&[u8]]) {
    let (db, now) = (k.db, c.now);
    let shards: Vec<_> = k.each_shard().collect();
    let total: usize = shards.iter().map(|s| s.dbs[db].map.len()).sum();
    if total == 0 {
        return out.null();
    }
    for _ in 0..100 {
        let mut pick = fast_rand() as usize % total;
        for s in shards.iter() {
            let len = s.dbs[db].map.len();
            if pick < len {
                let (key, e) = s.dbs[db].map.get_index(pick).expect("in range");
                if live(e, now) {
                    return out.bulk(key);
                }
                break;
            }
            pick -= len;
        }
    }
    out.null()
}

fn rename_common(k: &mut Keys, out: &mut Out, a: &[&[u8]], nx: bool) {
    let Some(e) = k.get(a[1]) else {
        return out.err(E_NOKEY);
    };
    let exp = e.exp;
    if a[1] == a[2] {
        return if nx { out.int(0) } else { out.ok() };
    }
    if nx && k.exists(a[2]) {
        return out.int(0);
    }
    let e = k.remove(a[1]).expect("exists");
    k.set(a[2], e.val, Some(exp).filter(|&x| x != 0), false);
    k.ready(a[2]);
    if nx {
        out.int(1)
    } else {
        out.ok()
    }
}

fn rename(_c: &mut Ctx, k: &mut Keys, out: &mut Out, a: &[&[u8]]) {
    rename_common(k, out, a, false)
}

fn renamenx(_c: &mut Ctx, k: &mut Keys, out: &mut Out, a: &[&[u8]]) {
    rename_common(k, out, a, true)
}

fn copy(c: &mut Ctx, k: &mut Keys, out: &mut Out, a: &[&[u8]]) {
    let (mut db, mut replace) = (k.db, false);
    let mut i = 3;
    while i < a.len() {
        if eq(a[i], "replace") {
            replace = true;
        } else if eq(a[i], "db") && i + 1 < a.len() {
            let last = c.srv.store.databases as i64 - 1;
            let Some(d) = bounded(out, a[i + 1], 0, last, E_DB_RANGE) else {
                return;
            };
            db = d as usize;
            i += 1;
        } else {
            return out.err(E_SYNTAX);
        }
        i += 1;
    }
    if a[1] == a[2] && db == k.db {
        return out.err(E_SAME_OBJECT);
    }
    let Some(src) = k.get(a[1]) else {
        return out.int(0);
    };
    let (val, exp) = (src.val.clone(), src.exp);
    let src_db = k.db;
    k.db = db;
    let dst_exists = k.exists(a[2]);
    if dst_exists && !replace {
        k.db = src_db;
        return out.int(0);
    }
    k.set(a[2], val, Some(exp).filter(|&x| x != 0), false);
    k.ready(a[2]);
    k.db = src_db;
    out.int(1)
}

fn move_(c: &mut Ctx, k: &mut Keys, out: &mut Out, a: &[&[u8]]) {
    let last = c.srv.store.databases as i64 - 1;
    let Some(d) = range(out, a[2], 0, last, E_DB_RANGE) else {
        return;
    };
    let (src, dst) = (k.db, d as usize);
    if src == dst {
        return out.err(E_SAME_OBJECT);
    }
    if k.get(a[1]).is_none() {
        return out.int(0);
    }
    k.db = dst;
    let exists = k.exists(a[1]);
    k.db = src;
    if exists {
        return out.int(0);
    }
    let e = k.remove(a[1]).expect("exists");
    k.db = dst;
    k.set(a[1], e.val, Some(e.exp).filter(|&x| x != 0), false);
    k.db = src;
    out.int(1)
}

/// OBJECT ENCODING as Redis 7.0 would report it for the same data.
pub fn encoding(v: &Value) -> &'static str {
    match v {
        Value::Str(b) if b.len() <= 20 && parse_i64(b).is_some() => "int",
        Value::Str(b) if b.len() <= 44 => "embstr",
        Value::Str(_) => "raw",
        Value::List(l) if l.len() <= 128 && l.iter().all(|e| e.len() <= 64) => "listpack",
        Value::List(_) => "quicklist",
        Value::Hash(h)
            if h.len() <= 128 && h.iter().all(|(f, v)| f.len() <= 64 && v.len() <= 64) =>
        {
            "listpack"
        }
        Value::Hash(_) => "hashtable",
        Value::Set(s) if s.len() <= 512 && s.iter().all(|m| parse_i64(m).is_some()) => "intset",
        Value::Set(_) => "hashtable",
        Value::ZSet(z) if z.len() <= 128 && z.scores.keys().all(|m| m.len() <= 64) => "listpack",
        Value::ZSet(_) => "skiplist",
    }
}

fn object(c: &mut Ctx, k: &mut Keys, out: &mut Out, a: &[&[u8]]) {
    let sub = a[1].to_ascii_lowercase();
    if sub == b"help" {
        let lines = [
            "OBJECT <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
            "ENCODING <key>",
            "FREQ <key>",
            "IDLETIME <key>",
            "REFCOUNT <key>",
            "HELP",
        ];
        out.array(lines.len());
        return lines.iter().for_each(|l| out.simple(l));
    }
    if !matches!(&sub[..], b"encoding" | b"freq" | b"idletime" | b"refcount") {
        return subcmd_err(out, "object", a[1]);
    }
    if a.len() != 3 {
        return arity_err(out, &format!("object|{}", String::from_utf8_lossy(&sub)));
    }
    let lfu = c.srv.cfg.policy().lfu();
    let clock = k.lru_clock;
    let Some(e) = k.peek(a[2]) else {
        return out.null();
    };
    match &sub[..] {
        b"encoding" => out.bulk_str(encoding(&e.val)),
        b"refcount" => out.int(1),
        b"freq" if lfu => out.int(lfu_decayed(e.lru, clock) as i64),
        b"freq" => out.err("ERR An LFU maxmemory policy is not selected, access frequency not tracked. Please note that when switching between policies at runtime LRU and LFU data will take some time to adjust."),
        _ if lfu => out.err("ERR An LFU maxmemory policy is selected, idle time not tracked. Please note that when switching between policies at runtime LRU and LFU data will take some time to adjust."),
        _ => out.int(idle_seconds(e.lru, clock) as i64),
    }
}

fn dbsize(c: &mut Ctx, k: &mut Keys, out: &mut Out, _a: &[&[u8]]) {
    let db = c.cl.db;
    let n: usize = k.each_shard().map(|s| s.dbs[db].map.len()).sum();
    out.int(n as i64)
}

fn flush_opt(out: &mut Out, a: &[&[u8]]) -> bool {
    match a.get(1) {
        None => true,
        Some(o) if a.len() == 2 && (eq(o, "async") || eq(o, "sync")) => true,
        _ => {
            out.err(E_SYNTAX);
            false
        }
    }
}

fn flushdb(c: &mut Ctx, k: &mut Keys, out: &mut Out, a: &[&[u8]]) {
    if !flush_opt(out, a) {
        return;
    }
    let db = c.cl.db;
    for s in k.each_shard() {
        s.dbs[db] = Default::default();
        s.modified_all(Some(db));
    }
    out.ok()
}

fn flushall(_c: &mut Ctx, k: &mut Keys, out: &mut Out, a: &[&[u8]]) {
    if !flush_opt(out, a) {
        return;
    }
    for s in k.each_shard() {
        s.dbs.iter_mut().for_each(|d| *d = Default::default());
        s.modified_all(None);
    }
    out.ok()
}

fn swapdb(c: &mut Ctx, k: &mut Keys, out: &mut Out, a: &[&[u8]]) {
    let n = c.srv.store.databases as i64;
    let parse = |x: &[u8]| parse_i64(x);
    let (Some(x), Some(y)) = (parse(a[1]), parse(a[2])) else {
        return out.err("ERR invalid first DB index");
    };
    if !(0..n).contains(&x) || !(0..n).contains(&y) {
        return out.err(E_DB_RANGE);
    }
    for s in k.each_shard() {
        s.dbs.swap(x as usize, y as usize);
        s.modified_all(Some(x as usize));
        s.modified_all(Some(y as usize));
        // Clients blocked in either db may now find data.
        let ws: Vec<_> = s
            .waiters
            .iter()
            .filter(|((d, _), _)| *d == x as usize || *d == y as usize)
            .flat_map(|(_, w)| w.clone())
            .collect();
        s.wakes.extend(ws);
    }
    out.ok()
}
