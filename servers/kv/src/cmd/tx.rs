//! MULTI/EXEC/DISCARD/WATCH/UNWATCH.
//!
//! EXEC locks every shard for the whole transaction, so it is atomic against every worker. WATCH
//! records a per-key version kept in the key's shard while the key is watched; any modification
//! bumps it and EXEC compares.

use super::args::*;
use super::table::*;
use crate::resp::Out;
use crate::server::{bump, Client, Server};
use crate::store::{Keys, Shard, SHARDS};

pub fn commands() -> Vec<Cmd> {
    vec![
        cmd(
            "multi",
            1,
            NOQUEUE | FAST | LOADING | STALE,
            (0, 0, 0),
            "transactions",
            multi,
        ),
        cmd(
            "exec",
            1,
            NOQUEUE | ALL | LOADING | STALE,
            (0, 0, 0),
            "transactions",
            exec,
        ),
        cmd(
            "discard",
            1,
            NOQUEUE | ALL | FAST | LOADING | STALE,
            (0, 0, 0),
            "transactions",
            discard,
        ),
        cmd(
            "watch",
            -2,
            NOQUEUE | FAST | LOADING | STALE,
            (1, -1, 1),
            "transactions",
            watch,
        ),
        cmd(
            "unwatch",
            1,
            ALL | FAST | LOADING | STALE,
            (0, 0, 0),
            "transactions",
            unwatch,
        ),
    ]
}

fn multi(c: &mut Ctx, _k: &mut Keys, out: &mut Out, _a: &[&[u8]]) {
    if c.cl.multi.is_some() {
        return out.err("ERR MULTI calls can not be nested");
    }
    c.cl.multi = Some(Vec::new());
    c.cl.multi_dirty = false;
    out.ok()
}

fn discard(c: &mut Ctx, k: &mut Keys, out: &mut Out, _a: &[&[u8]]) {
    if c.cl.multi.take().is_none() {
        return out.err("ERR DISCARD without MULTI");
    }
    unwatch_locked(c.cl, k);
    out.ok()
}

fn watch(c: &mut Ctx, k: &mut Keys, out: &mut Out, a: &[&[u8]]) {
    if c.cl.multi.is_some() {
        return out.err("ERR WATCH inside MULTI is not allowed");
    }
    let db = k.db;
    for key in &a[1..] {
        if c.cl.watched.iter().any(|(d, w, _)| *d == db && w == key) {
            continue;
        }
        k.get(key);
        let v = k
            .shard(key)
            .watched
            .entry((db, bytes(key)))
            .or_insert((0, 0));
        v.1 += 1;
        let version = v.0;
        c.cl.watched.push((db, bytes(key), version));
    }
    out.ok()
}

fn unwatch(c: &mut Ctx, k: &mut Keys, out: &mut Out, _a: &[&[u8]]) {
    unwatch_locked(c.cl, k);
    out.ok()
}

fn release(shard: &mut Shard, db: usize, key: &bytes::Bytes) {
    let id = (db, key.clone());
    if let Some(v) = shard.watched.get_mut(&id) {
        v.1 -= 1;
        if v.1 == 0 {
            shard.watched.remove(&id);
        }
    }
}

/// Forgets the client's watched keys (their shards are locked in `k`).
fn unwatch_locked(cl: &mut Client, k: &mut Keys) {
    for (db, key, _) in std::mem::take(&mut cl.watched) {
        release(k.shard(&key), db, &key);
    }
}

/// Forgets watched keys on disconnect, locking each shard on its own.
pub fn unwatch_all(srv: &Server, cl: &mut Client) {
    for (db, key, _) in std::mem::take(&mut cl.watched) {
        let i = crate::store::shard_of(&key);
        release(&mut srv.store.lock(i), db, &key);
    }
}

fn exec(c: &mut Ctx, k: &mut Keys, out: &mut Out, _a: &[&[u8]]) {
    let Some(queue) = c.cl.multi.take() else {
        return out.err("ERR EXEC without MULTI");
    };
    if std::mem::take(&mut c.cl.multi_dirty) {
        unwatch_locked(c.cl, k);
        return out.err("EXECABORT Transaction discarded because of previous errors.");
    }
    let now = c.now;
    let touched = c.cl.watched.iter().any(|(db, key, ver)| {
        let shard = k.shard(key);
        shard.expire_if_needed(*db, key, now);
        shard
            .watched
            .get(&(*db, key.clone()))
            .is_none_or(|v| v.0 != *ver)
    });
    unwatch_locked(c.cl, k);
    if touched {
        return out.null_array();
    }
    debug_assert!(k.each_shard().count() == SHARDS);
    c.in_exec = true;
    out.array(queue.len());
    for argv in &queue {
        let args: Vec<&[u8]> = argv.iter().map(|b| &b[..]).collect();
        let table = c.table;
        let Some(idx) = table.lookup(args[0]) else {
            continue;
        };
        let cmd = &table[idx];
        k.db = c.cl.db;
        (cmd.run)(c, k, out, &args);
        bump(&c.srv.cmdstats[c.worker][idx].calls, 1);
    }
    c.in_exec = false;
}
