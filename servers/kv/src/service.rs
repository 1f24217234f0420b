//! The per-worker service: connections, request parsing, reply flushing, blocked clients,
//! pub/sub deliveries and active expiry.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use netstack::{Accepted, Conn, Cx, Service};

use crate::cmd::dispatch::execute;
use crate::cmd::table::{Ctx, Effects, Table};
use crate::cmd::{introspect, pubsub, tx, TABLE};
use crate::resp::{Out, Parsed};
use crate::server::{lock, unix_secs, Blocked, Client, ClientInfo, Msg, Server};
use crate::store::{shard_of, SHARDS};

/// Above this much unsent output a client's input is no longer read (a client that never
/// reads its replies cannot make the server buffer without bound).
const OUT_HIGH: usize = 1 << 20;
/// client-query-buffer-limit: a client whose unparsed input exceeds this is closed.
const QUERY_MAX: usize = 1 << 30;
/// Active expiry period (Redis's hz 10).
const EXPIRE_PERIOD: Duration = Duration::from_millis(100);
const EXPIRE_BUDGET: Duration = Duration::from_millis(5);

struct Slot {
    cl: Client,
    out: Out,
}

pub struct Kv {
    srv: Arc<Server>,
    worker: usize,
    table: &'static Table,
    conns: Vec<Option<Box<Slot>>>,
    /// The reply buffer, lent to the client being served and taken back when its replies are
    /// flushed: replies of all clients are slices of one buffer, and a client keeps no reply
    /// memory between requests.
    replies: BytesMut,
    fx: Effects,
    next_expire: Option<Instant>,
}

fn unix_ms<C: Cx>(cx: &C) -> u64 {
    cx.wall_clock()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

impl Kv {
    pub fn new(srv: Arc<Server>, worker: usize) -> Kv {
        Kv {
            srv,
            worker,
            table: &TABLE,
            conns: Vec::new(),
            replies: BytesMut::new(),
            fx: Effects::default(),
            next_expire: None,
        }
    }

    fn slot(&mut self, conn: Conn) -> Option<&mut Slot> {
        self.conns
            .get_mut(conn.index())?
            .as_deref_mut()
            .filter(|s| s.cl.conn == conn)
    }

    /// Parses and runs what the client sent (plus what it had pending), then flushes replies.
    fn process<C: Cx<Msg = Msg>>(&mut self, cx: &mut C, conn: Conn, data: &[u8]) {
        let now = unix_ms(cx);
        let Kv {
            srv,
            worker,
            table,
            conns,
            replies,
            fx,
            ..
        } = self;
        let Some(slot) = conns.get_mut(conn.index()).and_then(|s| s.as_deref_mut()) else {
            return;
        };
        lend(replies, slot);
        let mut pending = std::mem::take(&mut slot.cl.pending);
        let from_pending = !pending.is_empty();
        if from_pending {
            pending.extend_from_slice(data);
        }
        let buf: &[u8] = if from_pending { &pending } else { data };
        let mut off = 0;
        while slot.cl.blocked.is_none() && !slot.cl.close_after && !slot.cl.paused {
            match slot.cl.parser.parse(&buf[off..], slot.cl.authed) {
                Parsed::Incomplete => break,
                Parsed::Empty(n) => off += n,
                Parsed::Error(e) => {
                    slot.out.err(e);
                    slot.cl.close_after = true;
                    off = buf.len();
                }
                Parsed::Command(n) => {
                    let frame = &buf[off..off + n];
                    run_frame(srv, *worker, table, fx, slot, frame, now);
                    off += n;
                    slot.cl.close_after |= std::mem::take(&mut fx.close);
                    apply_block(srv, cx, slot, fx, now);
                    if slot.out.len() > OUT_HIGH {
                        flush(srv, cx, slot, replies);
                        lend(replies, slot);
                        if cx.queued(conn) > OUT_HIGH {
                            slot.cl.paused = true;
                            cx.pause_reading(conn, true);
                        }
                    }
                }
            }
        }
        if from_pending {
            pending.drain(..off);
            slot.cl.pending = pending;
        } else if off < buf.len() {
            slot.cl.pending = buf[off..].to_vec();
        }
        if slot.cl.pending.len() > QUERY_MAX {
            slot.cl.pending = Vec::new();
            slot.cl.close_after = true;
        }
        self.finish(cx, conn);
    }

    /// Flushes replies and applies the effects gathered while running commands.
    fn finish<C: Cx<Msg = Msg>>(&mut self, cx: &mut C, conn: Conn) {
        for (w, m) in self.fx.posts.drain(..) {
            cx.post(w, m);
        }
        if std::mem::take(&mut self.fx.shutdown) {
            // The main thread owns the graceful stop: signal it as SIGTERM would.
            // SAFETY: kill(2) takes our own pid and a valid signal number and touches no memory
            // of ours. (fs-kv's main thread waits for SIGTERM; see main.rs.)
            unsafe { libc::kill(libc::getpid(), libc::SIGTERM) };
        }
        let Kv {
            srv,
            conns,
            replies,
            ..
        } = self;
        let Some(slot) = conns
            .get_mut(conn.index())
            .and_then(|s| s.as_deref_mut())
            .filter(|s| s.cl.conn == conn)
        else {
            return;
        };
        flush(srv, cx, slot, replies);
        if slot.cl.close_after {
            cx.close(conn);
        }
    }

    fn unblock(&mut self, conn: Conn) -> Option<Box<Blocked>> {
        let srv = self.srv.clone();
        let slot = self.slot(conn)?;
        let b = slot.cl.blocked.take()?;
        unregister(&srv, &b, conn);
        srv.stats.blocked.fetch_sub(1, Ordering::Relaxed);
        Some(b)
    }

    /// A key a blocked client waits on got data: run its command again.
    fn wake<C: Cx<Msg = Msg>>(&mut self, cx: &mut C, conn: Conn, seq: u64) {
        if self
            .slot(conn)
            .and_then(|s| s.cl.blocked.as_ref())
            .is_none_or(|b| b.seq != seq)
        {
            return;
        }
        let b = self.unblock(conn).expect("blocked");
        cx.set_timer(conn, None);
        let now = unix_ms(cx);
        let Kv {
            srv,
            worker,
            table,
            conns,
            replies,
            fx,
            ..
        } = self;
        let Some(slot) = conns.get_mut(conn.index()).and_then(|s| s.as_deref_mut()) else {
            return;
        };
        lend(replies, slot);
        fx.resume_deadline = Some(b.deadline);
        let saved_db = std::mem::replace(&mut slot.cl.db, b.db);
        let argv: Vec<&[u8]> = b.argv.iter().map(|x| &x[..]).collect();
        let mut ctx = Ctx {
            srv,
            cl: &mut slot.cl,
            worker: *worker,
            now,
            fx,
            in_exec: false,
            table,
        };
        execute(&mut ctx, &mut slot.out, &argv);
        slot.cl.db = saved_db;
        slot.cl.close_after |= std::mem::take(&mut fx.close);
        apply_block(srv, cx, slot, fx, now);
        fx.resume_deadline = None;
        self.process(cx, conn, &[]);
    }

    fn timeout<C: Cx<Msg = Msg>>(&mut self, cx: &mut C, conn: Conn) {
        let now = unix_ms(cx);
        let deadline = self
            .slot(conn)
            .and_then(|s| s.cl.blocked.as_ref())
            .map(|b| b.deadline);
        match deadline {
            Some(d) if d != 0 && d <= now + 1 => {}
            Some(d) if d != 0 => {
                return cx.set_timer(conn, Some(cx.now() + Duration::from_millis(d - now)))
            }
            _ => return,
        }
        let b = self.unblock(conn).expect("blocked");
        let replies = &mut self.replies;
        if let Some(slot) = self
            .conns
            .get_mut(conn.index())
            .and_then(|s| s.as_deref_mut())
            .filter(|s| s.cl.conn == conn)
        {
            lend(replies, slot);
            if b.null_array {
                slot.out.null_array()
            } else {
                slot.out.null()
            }
        }
        self.process(cx, conn, &[]);
    }

    fn active_expire<C: Cx<Msg = Msg>>(&mut self, cx: &mut C) {
        if !self.srv.cfg.active_expire.load(Ordering::Relaxed) {
            return;
        }
        let now = unix_ms(cx);
        let start = Instant::now();
        let workers = cx.workers();
        for i in (self.worker..SHARDS).step_by(workers) {
            let mut shard = self.srv.store.lock(i);
            for db in 0..shard.dbs.len() {
                // Like Redis: keep going while a large share of the sample was expired.
                while shard.active_expire(db, now, 32) > 8 && start.elapsed() < EXPIRE_BUDGET {}
            }
        }
    }
}

/// Builds the argument slices of one parsed frame (no allocation for up to 16 arguments) and
/// executes the command.
fn run_frame(
    srv: &Server,
    worker: usize,
    table: &'static Table,
    fx: &mut Effects,
    slot: &mut Slot,
    frame: &[u8],
    now: u64,
) {
    let offs = std::mem::take(&mut slot.cl.parser.args);
    let inline = std::mem::take(&mut slot.cl.parser.inline);
    let base: &[u8] = if slot.cl.parser.is_inline {
        &inline
    } else {
        frame
    };
    let mut stack: [&[u8]; 16] = [&[]; 16];
    let heap: Vec<&[u8]>;
    let argv: &[&[u8]] = if offs.len() <= stack.len() {
        for (d, &(s, e)) in stack.iter_mut().zip(&offs) {
            *d = &base[s as usize..e as usize];
        }
        &stack[..offs.len()]
    } else {
        heap = offs
            .iter()
            .map(|&(s, e)| &base[s as usize..e as usize])
            .collect();
        &heap
    };
    let mut ctx = Ctx {
        srv,
        cl: &mut slot.cl,
        worker,
        now,
        fx,
        in_exec: false,
        table,
    };
    execute(&mut ctx, &mut slot.out, argv);
    slot.cl.parser.args = offs;
    slot.cl.parser.inline = inline;
}

/// Turns a blocking command's request into a blocked client with its timer.
fn apply_block<C: Cx<Msg = Msg>>(
    srv: &Server,
    cx: &mut C,
    slot: &mut Slot,
    fx: &mut Effects,
    now: u64,
) {
    let Some(req) = fx.block.take() else { return };
    let deadline = match fx.resume_deadline.take() {
        Some(d) => d,
        None if req.timeout_ms == 0 => 0,
        None => now + req.timeout_ms,
    };
    if deadline != 0 {
        cx.set_timer(
            slot.cl.conn,
            Some(cx.now() + Duration::from_millis(deadline.saturating_sub(now))),
        );
    }
    slot.cl.blocked = Some(Box::new(Blocked {
        argv: req.argv,
        keys: req.keys,
        db: slot.cl.db,
        deadline,
        seq: slot.cl.block_seq,
        null_array: req.null_array,
    }));
    srv.stats.blocked.fetch_add(1, Ordering::Relaxed);
}

fn unregister(srv: &Server, b: &Blocked, conn: Conn) {
    for key in &b.keys {
        let mut shard = srv.store.lock(shard_of(key));
        let id = (b.db, key.clone());
        if let Some(ws) = shard.waiters.get_mut(&id) {
            ws.retain(|w| !(w.conn == conn && w.seq == b.seq));
            if ws.is_empty() {
                shard.waiters.remove(&id);
            }
        }
    }
}

/// Lends the worker's reply buffer to the client about to be served (a client that still has
/// unflushed replies keeps its own buffer).
fn lend(replies: &mut BytesMut, slot: &mut Slot) {
    if slot.out.buf.capacity() == 0 {
        slot.out.buf = std::mem::take(replies);
    }
}

/// Sends the client's replies and takes the reply buffer back, so that an idle client holds
/// no reply memory.
fn flush<C: Cx<Msg = Msg>>(srv: &Server, cx: &mut C, slot: &mut Slot, replies: &mut BytesMut) {
    if slot.out.errors > 0 {
        srv.stats
            .errors
            .fetch_add(slot.out.errors, Ordering::Relaxed);
        slot.out.errors = 0;
        let mut es = lock(&srv.errorstats);
        for k in slot.out.error_kinds.drain(..) {
            *es.entry(k).or_default() += 1;
        }
    }
    let conn = slot.cl.conn;
    if !slot.out.is_empty() {
        for b in slot.out.take() {
            cx.send(conn, b);
        }
    }
    let rest = std::mem::take(&mut slot.out.buf);
    if rest.capacity() > replies.capacity() {
        *replies = rest;
    }
}

impl Service for Kv {
    type Msg = Msg;

    fn on_accept<C: Cx<Msg = Msg>>(&mut self, _cx: &mut C, conn: Conn, info: &Accepted) {
        let srv = &self.srv;
        let id = srv.next_id.fetch_add(1, Ordering::Relaxed);
        let authed = srv.cfg.password().is_none();
        let cl = Client::new(id, conn, info.peer, authed);
        srv.register_client(ClientInfo {
            id,
            worker: self.worker,
            conn,
            addr: info.peer,
            laddr: info.local,
            db: 0,
            created: unix_secs(),
            resp: 2,
            meta: None,
        });
        srv.stats.connections.fetch_add(1, Ordering::Relaxed);
        srv.stats.connected.fetch_add(1, Ordering::Relaxed);
        let i = conn.index();
        if self.conns.len() <= i {
            self.conns.resize_with(i + 1, || None);
        }
        self.conns[i] = Some(Box::new(Slot {
            cl,
            out: Out::default(),
        }));
    }

    fn on_data<C: Cx<Msg = Msg>>(&mut self, cx: &mut C, conn: Conn, data: Bytes) {
        self.process(cx, conn, &data);
    }

    fn on_writable<C: Cx<Msg = Msg>>(&mut self, cx: &mut C, conn: Conn) {
        let Some(slot) = self.slot(conn) else { return };
        if slot.cl.paused {
            slot.cl.paused = false;
            cx.pause_reading(conn, false);
            self.process(cx, conn, &[]);
        }
    }

    fn on_timer<C: Cx<Msg = Msg>>(&mut self, cx: &mut C, conn: Conn) {
        self.timeout(cx, conn);
    }

    fn on_closed<C: Cx<Msg = Msg>>(&mut self, _cx: &mut C, conn: Conn) {
        self.unblock(conn);
        let Some(mut slot) = self
            .conns
            .get_mut(conn.index())
            .and_then(|s| s.take_if(|s| s.cl.conn == conn))
        else {
            return;
        };
        let srv = &self.srv;
        tx::unwatch_all(srv, &mut slot.cl);
        pubsub::drop_all(srv, self.worker, &mut slot.cl);
        if slot.cl.monitor {
            introspect::remove_monitor(srv, self.worker, conn);
        }
        srv.unregister_client(self.worker, conn);
        srv.stats.connected.fetch_sub(1, Ordering::Relaxed);
    }

    fn on_message<C: Cx<Msg = Msg>>(&mut self, cx: &mut C, msg: Msg) {
        match msg {
            Msg::Wake { conn, seq } => self.wake(cx, conn, seq),
            Msg::Publish {
                to,
                channel,
                message,
            } => {
                for (conn, pattern) in to {
                    let replies = &mut self.replies;
                    if let Some(slot) = self
                        .conns
                        .get_mut(conn.index())
                        .and_then(|s| s.as_deref_mut())
                        .filter(|s| s.cl.conn == conn)
                    {
                        lend(replies, slot);
                        pubsub::encode_message(&mut slot.out, pattern.as_ref(), &channel, &message);
                        self.finish(cx, conn);
                    }
                }
            }
            Msg::Monitor { to, line } => {
                for conn in to {
                    if self.slot(conn).is_some() {
                        cx.send(conn, line.clone());
                    }
                }
            }
            Msg::Kill { conn } => {
                if self.slot(conn).is_some() {
                    cx.close(conn);
                }
            }
        }
    }

    fn on_tick<C: Cx<Msg = Msg>>(&mut self, cx: &mut C) -> Option<Instant> {
        let now = cx.now();
        if self.next_expire.is_none_or(|t| t <= now) {
            self.active_expire(cx);
            self.next_expire = Some(now + EXPIRE_PERIOD);
        }
        self.next_expire
    }

    fn on_stop<C: Cx<Msg = Msg>>(&mut self, cx: &mut C) {
        let conns: Vec<Conn> = self.conns.iter().flatten().map(|s| s.cl.conn).collect();
        for conn in conns {
            self.finish(cx, conn);
            cx.close(conn);
        }
    }
}
