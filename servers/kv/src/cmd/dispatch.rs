//! The dispatcher: runs one client command through the checks Redis's `processCommand` makes
//! (lookup, arity, authentication, pub/sub context, maxmemory), queues it inside MULTI, locks
//! the shards its keys live in (`lock_for`) and runs it with its statistics, slow log and
//! MONITOR feed (`run`).

use std::sync::atomic::Ordering;

use super::args::{arity_err, bytes, E_NOAUTH, E_OOM};
use super::table::{Cmd, Ctx, ALL, DENYOOM, NOAUTH, NOQUEUE, WRITE};
use super::{introspect, slowlog};
use crate::evict::make_room;
use crate::resp::Out;
use crate::server::{bump, Msg, Server};
use crate::store::{shard_of, Guards, Keys};

fn unknown_command(out: &mut Out, argv: &[&[u8]]) {
    let mut args = String::new();
    for a in &argv[1..] {
        if args.len() >= 128 {
            break;
        }
        let room = 128 - args.len();
        let s = String::from_utf8_lossy(&a[..a.len().min(room)]).into_owned();
        args.push_str(&format!("'{s}' "));
    }
    let name = String::from_utf8_lossy(&argv[0][..argv[0].len().min(128)]).into_owned();
    out.err(&format!(
        "ERR unknown command '{name}', with args beginning with: {args}"
    ));
}

fn arity_ok(c: &Cmd, n: usize) -> bool {
    if c.arity >= 0 {
        n == c.arity as usize
    } else {
        n >= (-c.arity) as usize
    }
}

/// Executes one client command: checks, MULTI queueing, eviction, locking, stats.
pub fn execute(c: &mut Ctx, out: &mut Out, argv: &[&[u8]]) {
    let table = c.table;
    let Some(idx) = table.lookup(argv[0]) else {
        c.cl.multi_dirty |= c.cl.multi.is_some();
        return unknown_command(out, argv);
    };
    let cmd = &table[idx];
    if !arity_ok(cmd, argv.len()) {
        c.cl.multi_dirty |= c.cl.multi.is_some();
        reject(c, idx);
        return arity_err(out, cmd.name);
    }
    if !c.cl.authed && cmd.flags & NOAUTH == 0 {
        c.cl.multi_dirty |= c.cl.multi.is_some();
        reject(c, idx);
        return out.err(E_NOAUTH);
    }
    if !out.resp3
        && c.cl.subscriptions() > 0
        && !matches!(
            cmd.name,
            "subscribe"
                | "psubscribe"
                | "unsubscribe"
                | "punsubscribe"
                | "ping"
                | "quit"
                | "reset"
                | "ssubscribe"
                | "sunsubscribe"
        )
    {
        reject(c, idx);
        return out.err(&format!(
            "ERR Can't execute '{}': only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE / PING / QUIT / RESET are allowed in this context",
            cmd.name
        ));
    }
    if cmd.flags & DENYOOM != 0 && !make_room(c.srv) {
        c.cl.multi_dirty |= c.cl.multi.is_some();
        reject(c, idx);
        return out.err(E_OOM);
    }
    if let Some(queue) = c.cl.multi.as_mut().filter(|_| cmd.flags & NOQUEUE == 0) {
        queue.push(argv.iter().map(|a| bytes(a)).collect());
        return out.raw(b"+QUEUED\r\n");
    }
    c.cl.last_cmd = cmd.name;
    let mut guards = lock_for(c.srv, cmd, argv);
    run(c, out, idx, argv, &mut guards);
}

fn reject(c: &mut Ctx, idx: usize) {
    bump(&c.srv.cmdstats[c.worker][idx].rejected, 1);
}

/// Locks what the command's key specification names (or everything).
pub fn lock_for<'s>(srv: &'s Server, cmd: &Cmd, argv: &[&[u8]]) -> Guards<'s> {
    if cmd.flags & ALL != 0 {
        return Guards::all(&srv.store);
    }
    if cmd.first <= 0 || argv.len() <= cmd.first as usize {
        return Guards::None;
    }
    let last = if cmd.last < 0 {
        argv.len() as i32 + cmd.last
    } else {
        cmd.last.min(argv.len() as i32 - 1)
    };
    if last == cmd.first {
        let i = shard_of(argv[cmd.first as usize]);
        return Guards::One(i, srv.store.lock(i));
    }
    let mut it = (cmd.first..=last)
        .step_by(cmd.step.max(1) as usize)
        .map(|i| argv[i as usize]);
    Guards::for_keys(&srv.store, &mut it)
}

/// Runs a command under the given locks, recording its statistics.
pub fn run(c: &mut Ctx, out: &mut Out, idx: usize, argv: &[&[u8]], guards: &mut Guards) {
    let table = c.table;
    let cmd = &table[idx];
    let errors_before = out.errors;
    let start = std::time::Instant::now();
    let wakes = {
        let mut keys = Keys::new(guards, c.cl.db, c.now, &c.srv.store);
        (cmd.run)(c, &mut keys, out, argv);
        if let Some(block) = c.fx.block.as_mut() {
            block.argv = argv.iter().map(|a| bytes(a)).collect();
        }
        keys.take_wakes()
    };
    let usec = start.elapsed().as_micros() as u64;
    for w in wakes {
        c.fx.posts.push((
            w.worker,
            Msg::Wake {
                conn: w.conn,
                seq: w.seq,
            },
        ));
    }
    let st = &c.srv.cmdstats[c.worker][idx];
    bump(&st.calls, 1);
    bump(&st.usec, usec);
    if out.errors != errors_before {
        bump(&st.failed, 1);
    }
    if cmd.flags & WRITE != 0 {
        c.srv.store.stats.dirty.fetch_add(1, Ordering::Relaxed);
    }
    if usec >= c.srv.cfg.slowlog_slower.load(Ordering::Relaxed) {
        slowlog::slowlog_add(c, argv, usec);
    }
    if c.srv.has_monitors.load(Ordering::Relaxed) {
        introspect::feed_monitors(c, argv);
    }
}
