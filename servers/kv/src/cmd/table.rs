//! The command table's types, usable by every command file: `Cmd` (one row: name, arity,
//! flags, key positions, group, handler) built with `cmd`, the flag bits, `Handler` and what a
//! handler is given (`Ctx`, and `Effects` for what it asks of the service), and `Table`, the
//! rows with their lookup by name.
//!
//! Each command file opens with its own rows (`commands()`); `cmd::TABLE` gathers them, and a
//! handler that needs the whole table (EXEC, COMMAND, INFO) finds it in `Ctx::table`.

use std::ops::Index;

use crate::resp::Out;
use crate::server::{BlockReq, Client, Msg, Server};
use crate::store::{HMap, Keys};

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

/// One command: what COMMAND INFO reports, and what the dispatcher checks and runs.
pub struct Cmd {
    pub name: &'static str,
    /// Argument count including the name; negative: at least that many.
    pub arity: i32,
    pub flags: u32,
    /// Key positions: first, last (negative: from the end), step; 0 = no keys.
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

/// Every command, indexed by position (the index of its statistics in `Server::cmdstats`).
pub struct Table {
    cmds: Vec<Cmd>,
    by_name: HMap<&'static [u8], usize>,
}

impl Table {
    pub fn new(cmds: Vec<Cmd>) -> Table {
        let by_name = cmds
            .iter()
            .enumerate()
            .map(|(i, c)| (c.name.as_bytes(), i))
            .collect();
        Table { cmds, by_name }
    }

    /// Finds a command by name, case-insensitively, without allocating.
    pub fn lookup(&self, name: &[u8]) -> Option<usize> {
        let mut buf = [0u8; 32];
        if name.len() > buf.len() {
            return None;
        }
        for (d, s) in buf.iter_mut().zip(name) {
            *d = s.to_ascii_lowercase();
        }
        self.by_name.get(&buf[..name.len()]).copied()
    }

    pub fn len(&self) -> usize {
        self.cmds.len()
    }

    pub fn is_empty(&self) -> bool {
        self.cmds.is_empty()
    }

    pub fn iter(&self) -> std::slice::Iter<'_, Cmd> {
        self.cmds.iter()
    }
}

impl Index<usize> for Table {
    type Output = Cmd;

    fn index(&self, i: usize) -> &Cmd {
        &self.cmds[i]
    }
}

/// What a command does beyond its reply, applied by the service after the locks are released.
#[derive(Default)]
pub struct Effects {
    pub posts: Vec<(usize, Msg)>,
    pub block: Option<BlockReq>,
    /// Set while re-running a woken blocked command: it keeps its original deadline.
    pub resume_deadline: Option<u64>,
    pub close: bool,
    /// SHUTDOWN: the service signals the main thread to stop the server.
    pub shutdown: bool,
}

/// What a handler is given besides the keys and the reply: the shared state, its client, its
/// worker, the time, the effects to apply, and the command table.
pub struct Ctx<'a> {
    pub srv: &'a Server,
    pub cl: &'a mut Client,
    pub worker: usize,
    /// Unix milliseconds, cached per loop turn.
    pub now: u64,
    pub fx: &'a mut Effects,
    /// Running inside EXEC: blocking commands do not block.
    pub in_exec: bool,
    pub table: &'static Table,
}
