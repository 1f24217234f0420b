//! The command table and dispatcher: lookup, arity, auth, MULTI queueing, key locking.

pub mod hash;
pub mod keys;
pub mod list;
pub mod pubsub;
pub mod server;
pub mod set;
pub mod string;
pub mod tx;
pub mod zset;

use std::sync::atomic::Ordering;
use std::sync::LazyLock;

use bytes::Bytes;

use crate::resp::{parse_f64, parse_i64, Out};
use crate::server::{bump, BlockReq, Client, Msg, Server};
use crate::store::{Guards, HMap, Keys};

pub type Handler = fn(&mut Ctx, &mut Keys, &mut Out, &[&[u8]]);

pub const WRITE: u32 = 1;
pub const READONLY: u32 = 1 << 1;
pub const DENYOOM: u32 = 1 << 2;
pub const ADMIN: u32 = 1 << 3;
pub const PUBSUB: u32 = 1 << 4;
pub const NOAUTH: u32 = 1 << 5;
pub const FAST: u32 = 1 << 6;
/// Locks every shard (whole-keyspace commands; keys not at fixed positions).
pub const ALL: u32 = 1 << 7;
pub const BLOCKING: u32 = 1 << 8;
/// Runs at once inside MULTI instead of being queued.
pub const NOQUEUE: u32 = 1 << 9;
pub const LOADING: u32 = 1 << 10;
pub const STALE: u32 = 1 << 11;

pub struct Cmd {
    pub name: &'static str,
    pub arity: i32,
    pub flags: u32,
    pub first: i32,
    pub last: i32,
    pub step: i32,
    pub group: &'static str,
    pub run: Handler,
}

pub const fn cmd(
    name: &'static str,
    arity: i32,
    flags: u32,
    keys: (i32, i32, i32),
    group: &'static str,
    run: Handler,
) -> Cmd {
    Cmd {
        name,
        arity,
        flags,
        first: keys.0,
        last: keys.1,
        step: keys.2,
        group,
        run,
    }
}

pub static TABLE: LazyLock<Vec<Cmd>> = LazyLock::new(|| {
    let mut t = Vec::new();
    t.extend(string::commands());
    t.extend(keys::commands());
    t.extend(list::commands());
    t.extend(hash::commands());
    t.extend(set::commands());
    t.extend(zset::commands());
    t.extend(pubsub::commands());
    t.extend(tx::commands());
    t.extend(server::commands());
    t
});

static LOOKUP: LazyLock<HMap<&'static [u8], usize>> = LazyLock::new(|| {
    TABLE
        .iter()
        .enumerate()
        .map(|(i, c)| (c.name.as_bytes(), i))
        .collect()
});

/// Finds a command by name, case-insensitively, without allocating.
pub fn lookup(name: &[u8]) -> Option<usize> {
    let mut buf = [0u8; 32];
    if name.len() > buf.len() {
        return None;
    }
    for (d, s) in buf.iter_mut().zip(name) {
        *d = s.to_ascii_lowercase();
    }
    LOOKUP.get(&buf[..name.len()]).copied()
}

/// What a command does beyond its reply, applied by the service after the locks are released.
#[derive(Default)]
pub struct Effects {
    pub posts: Vec<(usize, Msg)>,
    pub block: Option<BlockReq>,
    /// Set while re-running a woken blocked command: it keeps its original deadline.
    pub resume_deadline: Option<u64>,
    pub close: bool,
    /// Client ids to kill (CLIENT KILL), resolved by the service.
    pub shutdown: bool,
}

pub struct Ctx<'a> {
    pub srv: &'a Server,
    pub cl: &'a mut Client,
    pub worker: usize,
    /// Unix milliseconds, cached per loop turn.
    pub now: u64,
    pub fx: &'a mut Effects,
    /// Running inside EXEC: blocking commands do not block.
    pub in_exec: bool,
}

pub const E_WRONGTYPE: &str = "WRONGTYPE Operation against a key holding the wrong kind of value";
pub const E_NOTINT: &str = "ERR value is not an integer or out of range";
pub const E_NOTFLOAT: &str = "ERR value is not a valid float";
pub const E_SYNTAX: &str = "ERR syntax error";
pub const E_NOKEY: &str = "ERR no such key";
pub const E_OOM: &str = "OOM command not allowed when used memory > 'maxmemory'.";

pub fn arity_err(out: &mut Out, name: &str) {
    out.err(&format!(
        "ERR wrong number of arguments for '{name}' command"
    ));
}

pub fn subcmd_err(out: &mut Out, cmd: &str, sub: &[u8]) {
    out.err(&format!(
        "ERR unknown subcommand '{}'. Try {} HELP.",
        String::from_utf8_lossy(sub),
        cmd.to_ascii_uppercase()
    ));
}

pub fn eq(a: &[u8], b: &str) -> bool {
    a.eq_ignore_ascii_case(b.as_bytes())
}

/// An integer argument, or the standard error.
pub fn int(out: &mut Out, a: &[u8]) -> Option<i64> {
    let v = parse_i64(a);
    if v.is_none() {
        out.err(E_NOTINT);
    }
    v
}

pub fn float(out: &mut Out, a: &[u8]) -> Option<f64> {
    let v = parse_f64(a);
    if v.is_none() {
        out.err(E_NOTFLOAT);
    }
    v
}

/// A timeout in seconds (may be fractional) for blocking commands, as milliseconds.
pub fn timeout_ms(out: &mut Out, a: &[u8]) -> Option<u64> {
    let Some(v) = parse_f64(a).filter(|v| v.is_finite()) else {
        out.err("ERR timeout is not a float or out of range");
        return None;
    };
    if v < 0.0 {
        out.err("ERR timeout is negative");
        return None;
    }
    Some((v * 1000.0).ceil() as u64)
}

pub fn bytes(a: &[u8]) -> Bytes {
    Bytes::copy_from_slice(a)
}

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
    let Some(idx) = lookup(argv[0]) else {
        c.cl.multi_dirty |= c.cl.multi.is_some();
        return unknown_command(out, argv);
    };
    let cmd = &TABLE[idx];
    if !arity_ok(cmd, argv.len()) {
        c.cl.multi_dirty |= c.cl.multi.is_some();
        reject(c, idx);
        return arity_err(out, cmd.name);
    }
    if !c.cl.authed && cmd.flags & NOAUTH == 0 {
        c.cl.multi_dirty |= c.cl.multi.is_some();
        reject(c, idx);
        return out.err("NOAUTH Authentication required.");
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
    if cmd.flags & DENYOOM != 0 && !crate::evict::make_room(c.srv) {
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
        let i = crate::store::shard_of(argv[cmd.first as usize]);
        return Guards::One(i, srv.store.lock(i));
    }
    let mut it = (cmd.first..=last)
        .step_by(cmd.step.max(1) as usize)
        .map(|i| argv[i as usize]);
    Guards::for_keys(&srv.store, &mut it)
}

/// Runs a command under the given locks, recording its statistics.
pub fn run(c: &mut Ctx, out: &mut Out, idx: usize, argv: &[&[u8]], guards: &mut Guards) {
    let cmd = &TABLE[idx];
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
        server::slowlog_add(c, argv, usec);
    }
    if c.srv.has_monitors.load(Ordering::Relaxed) {
        server::feed_monitors(c, argv);
    }
}
