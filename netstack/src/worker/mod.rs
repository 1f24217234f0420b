//! The worker core: the one per-core loop every transport shares.
//!
//! - [`Worker`]: the turn loop (below), graceful stop and drain, the connection limit, and
//!   panic isolation: a panic in a callback for one connection closes that connection only.
//! - [`core`]: connection slots with their output queues, the application timers (one timer
//!   wheel), posted messages, and the [`Cx`] implementation services act through.
//! - [`Transport`]: the small trait below the core, implemented by Linux sockets
//!   ([`crate::kernel`]) and by the user-space stack over TAP, the memory wire or DPDK
//!   ([`crate::user`]).
//! - [`mailbox`]: each worker's inbox.
//! - [`supervise`]: runs a worker on its thread; a panic that escapes the loop restarts the
//!   worker with a fresh transport on the same listeners or device queue (its connections
//!   reset), or exits the process, as [`OnPanic`] says. A worker is never left half alive.
//!
//! One turn reads top to bottom: wait for the transport (or a message, or a deadline) ->
//! mailbox -> transport poll (receive, protocol input and timers) -> connection events to the
//! service -> messages -> application timers -> `on_tick` -> queued output to the transport,
//! FIN for closed connections, `on_writable` -> `on_closed` for aborted connections ->
//! transport flush (transmit).

pub mod core;
pub mod mailbox;

use std::any::Any;
use std::collections::VecDeque;
use std::io;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;

pub use self::core::Core;
use self::mailbox::{Envelope, Mailboxes};
use crate::app::{Accepted, Conn, Service};

/// What a transport reports about its connections.
#[derive(Debug)]
pub enum Event {
    Accepted {
        conn: Conn,
        info: Accepted,
    },
    /// In-order data, never empty.
    Data {
        conn: Conn,
        data: Bytes,
    },
    /// The peer finished sending (FIN).
    PeerClosed(Conn),
    /// The transport can take output again after refusing some.
    Writable(Conn),
    /// The connection is gone (closed, reset or failed); its index may be reused.
    Closed(Conn),
}

/// What differs between Linux sockets and the user-space stack. Everything else (slots,
/// timers, output queues, messages, stop, limits, supervision) is the core's.
pub trait Transport {
    /// What survives a restart after a panic: listening sockets, a device queue.
    type Durable: Send + 'static;
    /// Write a connection's output right after its input was processed, rather than at the
    /// end of the turn. With system calls per write (kernel sockets), answering as soon as
    /// possible lets a closed-loop client send its next request while the turn goes on; batched
    /// to the end of the turn, all clients were answered together and the worker slept and
    /// woke once per batch. The user stack transmits once per turn anyway.
    const FLUSH_AFTER_INPUT: bool;

    /// Blocks until there may be work (the transport's descriptors, the mailbox `wake` fd) or
    /// until `timeout` (`None`: no limit). A polled transport decides how long to idle.
    fn wait(&mut self, timeout: Option<Duration>);
    /// Receives and processes input, reporting connection events in order.
    fn poll(&mut self, now: Instant, events: &mut VecDeque<Event>);
    /// Takes queued output for `conn` from the front of `out` as far as the network takes it;
    /// returns the bytes taken. An error means the connection failed (its `Closed` follows).
    fn write(&mut self, conn: Conn, out: &mut VecDeque<Bytes>) -> io::Result<usize>;
    /// Everything was written: FIN. The transport reports `Closed` once the connection is gone.
    fn finish(&mut self, conn: Conn);
    /// Reset now. The transport reports nothing more for `conn`.
    fn abort(&mut self, conn: Conn);
    fn pause_reading(&mut self, conn: Conn, paused: bool);
    /// A graceful stop began: accept no more connections.
    fn stop_listening(&mut self);
    /// A control message from the runtime (e.g. a new listener set); may report events.
    fn control(&mut self, msg: Box<dyn Any + Send>, events: &mut VecDeque<Event>);
    /// End of a turn: hand what was produced to the network.
    fn flush(&mut self, now: Instant);
    /// Whether a poll now would find work without waiting.
    fn busy(&self) -> bool;
    /// When the transport needs a poll even if nothing arrives (protocol timers).
    fn poll_at(&self) -> Option<Instant>;
    /// This worker finished a graceful stop: may it exit now? (A worker that steers frames for
    /// others keeps running until every worker has drained.)
    fn drained(&mut self) -> bool {
        true
    }
    /// A line for the log when the worker ends, if the transport has something to say.
    fn farewell(&self, _index: usize, _stats: &WorkerStats) -> Option<String> {
        None
    }
    /// Keeps what a restarted worker needs; the rest (connections) is dropped.
    fn into_durable(self) -> Self::Durable;
}

/// What to do when a panic escapes a worker's loop.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum OnPanic {
    /// Start the worker again with a fresh transport on the same listeners or queue.
    #[default]
    Restart,
    /// End the whole process with exit status 70, for a supervisor to restart.
    Exit,
}

/// Settings every worker shares.
#[derive(Debug, Clone, Copy)]
pub struct WorkerConfig {
    /// Open connections per worker; above it new connections are reset at once. 0: no limit.
    pub max_connections: usize,
    pub on_panic: OnPanic,
    /// How long a connection the service closed may take to send its queued output before it
    /// is reset (a peer that stops reading must not hold memory forever).
    pub close_timeout: Duration,
}

impl Default for WorkerConfig {
    fn default() -> Self {
        WorkerConfig {
            max_connections: 0,
            on_panic: OnPanic::Restart,
            close_timeout: Duration::from_secs(60),
        }
    }
}

/// Counters of one worker, readable from any thread.
#[derive(Debug, Default)]
pub struct WorkerStats {
    pub accepted: AtomicU64,
    /// Connections refused by `max_connections`.
    pub rejected: AtomicU64,
    /// Panics in a connection's callback: that connection was closed.
    pub panics: AtomicU64,
    /// Panics that escaped the loop: the worker was restarted.
    pub restarts: AtomicU64,
    /// Closed connections reset because their output did not drain in `close_timeout`.
    pub close_timeouts: AtomicU64,
}

impl WorkerStats {
    pub(crate) fn bump(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }

    pub fn get(counter: &AtomicU64) -> u64 {
        counter.load(Ordering::Relaxed)
    }
}

/// A service running on a transport: the loop.
pub struct Worker<S: Service, T: Transport> {
    pub core: Core<T, S::Msg>,
    pub service: S,
    cfg: WorkerConfig,
    tick_at: Option<Instant>,
    exit: bool,
}

impl<S: Service, T: Transport> Worker<S, T> {
    pub fn new(
        service: S,
        transport: T,
        index: usize,
        mailboxes: Mailboxes<S::Msg>,
        stats: Arc<WorkerStats>,
        cfg: WorkerConfig,
    ) -> Self {
        Worker {
            core: Core::new(transport, index, mailboxes, stats, cfg.close_timeout),
            service,
            cfg,
            tick_at: None,
            exit: false,
        }
    }

    /// Turns until told to stop, or until a graceful stop has finished.
    pub fn run(&mut self) {
        let mut timeout = Some(Duration::ZERO);
        while !self.exit {
            self.core.transport.wait(timeout);
            self.turn();
            timeout = self.timeout();
        }
    }

    /// One turn (also for tests and harnesses that drive the loop themselves).
    pub fn turn(&mut self) {
        let core = &mut self.core;
        core.begin_turn();
        if core.mailboxes[core.index].has_mail() {
            self.take_mail();
        }
        let core = &mut self.core;
        core.transport.poll(core.now, &mut core.events);
        self.deliver_events();
        self.deliver_messages();
        self.expire_timers();
        self.tick();
        self.flush_output();
        self.deliver_closed();
        let core = &mut self.core;
        core.transport.flush(core.now);
        if core.stopping && core.live == 0 && core.transport.drained() {
            self.exit = true;
        }
    }

    /// Whether the loop has finished (after [`Worker::turn`] in a driven loop).
    pub fn finished(&self) -> bool {
        self.exit
    }

    /// How long the next wait may block: not at all with work pending, else until the next
    /// timer, tick or transport deadline, rounded up to whole milliseconds (never waking just
    /// before a deadline to spin).
    pub fn timeout(&self) -> Option<Duration> {
        let core = &self.core;
        if !core.events.is_empty()
            || !core.local.is_empty()
            || !core.dirty.is_empty()
            || !core.closed.is_empty()
            || core.transport.busy()
        {
            return Some(Duration::ZERO);
        }
        let next = [core.next_timer(), self.tick_at, core.transport.poll_at()]
            .into_iter()
            .flatten()
            .min()?;
        let wait = next.saturating_duration_since(Instant::now());
        Some(Duration::from_millis(wait.as_micros().div_ceil(1000) as u64))
    }

    fn take_mail(&mut self) {
        let mailboxes = self.core.mailboxes.clone();
        mailboxes[self.core.index].drain(|m| match m {
            Envelope::App(m) => self.core.local.push_back(m),
            Envelope::Stop => self.exit = true,
            Envelope::Quit => self.begin_quit(),
            Envelope::Control(c) => {
                let core = &mut self.core;
                core.transport.control(c, &mut core.events);
            }
        });
    }

    fn begin_quit(&mut self) {
        if self.core.stopping {
            return;
        }
        self.core.stopping = true;
        self.core.transport.stop_listening();
        self.service.on_stop(&mut self.core);
    }

    fn deliver_events(&mut self) {
        while let Some(ev) = self.core.events.pop_front() {
            match ev {
                Event::Accepted { conn, info } => self.accept(conn, &info),
                Event::Data { conn, data } => {
                    if self.core.is_open(conn) {
                        self.isolated(conn, |s, cx| s.on_data(cx, conn, data));
                        if T::FLUSH_AFTER_INPUT && self.flush_conn(conn) {
                            self.isolated(conn, |s, cx| s.on_writable(cx, conn));
                        }
                    }
                }
                Event::PeerClosed(conn) => {
                    if self.core.is_open(conn) {
                        self.isolated(conn, |s, cx| s.on_peer_closed(cx, conn));
                    }
                }
                Event::Writable(conn) => self.core.mark_dirty(conn),
                Event::Closed(conn) => {
                    if self.core.remove(conn) == Some(true) {
                        self.service.on_closed(&mut self.core, conn);
                    }
                }
            }
        }
    }

    fn accept(&mut self, conn: Conn, info: &Accepted) {
        let limit = self.cfg.max_connections;
        if self.core.stopping || (limit > 0 && self.core.live >= limit) {
            if !self.core.stopping {
                WorkerStats::bump(&self.core.stats.rejected);
            }
            self.core.transport.abort(conn);
            return;
        }
        WorkerStats::bump(&self.core.stats.accepted);
        // A transport reports `Closed` before it reuses an index; should one not, the service
        // still learns that the old connection is gone before it sees the new one.
        if let Some(old) = self.core.occupant(conn) {
            self.core.remove(old);
            self.core.closed.retain(|c| *c != old);
            self.service.on_closed(&mut self.core, old);
        }
        self.core.insert(conn);
        self.isolated(conn, |s, cx| s.on_accept(cx, conn, info));
    }

    fn deliver_messages(&mut self) {
        // Bounded: messages posted while delivering wait for the next turn.
        for _ in 0..self.core.local.len() {
            let Some(msg) = self.core.local.pop_front() else {
                break;
            };
            self.service.on_message(&mut self.core, msg);
        }
    }

    fn expire_timers(&mut self) {
        while let Some(conn) = self.core.expired_timer() {
            self.isolated(conn, |s, cx| s.on_timer(cx, conn));
        }
    }

    fn tick(&mut self) {
        self.tick_at = self.service.on_tick(&mut self.core);
    }

    /// Hands queued output to the transport; sends FIN for closed connections whose output
    /// is all out; calls `on_writable` where a service's output was all taken. Bounded
    /// passes, since `on_writable` may send more.
    fn flush_output(&mut self) {
        for _ in 0..4 {
            let dirty = std::mem::take(&mut self.core.dirty);
            if dirty.is_empty() {
                return;
            }
            for conn in dirty {
                if self.flush_conn(conn) {
                    self.isolated(conn, |s, cx| s.on_writable(cx, conn));
                }
            }
        }
    }

    /// Returns whether `on_writable` is due.
    fn flush_conn(&mut self, conn: Conn) -> bool {
        let core = &mut self.core;
        let Some(slot) = core::Core::<T, S::Msg>::live_slot(&mut core.slots, conn) else {
            return false;
        };
        slot.dirty = false;
        if !slot.out.is_empty() {
            match core.transport.write(conn, &mut slot.out) {
                Ok(n) => slot.queued -= n,
                Err(_) => {
                    slot.out.clear();
                    slot.queued = 0;
                    return false; // the transport reports Closed
                }
            }
            if !slot.out.is_empty() {
                return false; // full: `Writable` brings us back
            }
        }
        if slot.closing {
            if !slot.fin_sent {
                slot.fin_sent = true;
                core.transport.finish(conn);
            }
            return false;
        }
        std::mem::take(&mut slot.had_output)
    }

    fn deliver_closed(&mut self) {
        while let Some(conn) = self.core.closed.pop() {
            self.core.remove(conn);
            self.service.on_closed(&mut self.core, conn);
        }
    }

    /// Runs a callback for `conn`; a panic in it closes that connection (reset), is logged
    /// and counted, and the worker goes on with the others.
    fn isolated(&mut self, conn: Conn, f: impl FnOnce(&mut S, &mut Core<T, S::Msg>)) {
        let (service, core) = (&mut self.service, &mut self.core);
        if let Err(panic) = catch_unwind(AssertUnwindSafe(|| f(service, core))) {
            WorkerStats::bump(&self.core.stats.panics);
            let what = self.service.describe(conn).unwrap_or_default();
            eprintln!(
                "worker {}: panic while serving connection {}{}{what}: {}; connection reset, \
                 the worker goes on ({} so far)",
                self.core.index,
                conn.index(),
                if what.is_empty() { "" } else { " " },
                panic_message(&*panic),
                WorkerStats::get(&self.core.stats.panics),
            );
            self.core.kill(conn);
        }
    }
}

/// The text of a panic payload.
pub fn panic_message(payload: &(dyn Any + Send)) -> &str {
    payload
        .downcast_ref::<&str>()
        .copied()
        .or_else(|| payload.downcast_ref::<String>().map(String::as_str))
        .unwrap_or("(non-text panic payload)")
}

/// How a worker thread is built and rebuilt.
pub struct Supervised<S: Service, T: Transport> {
    pub index: usize,
    pub mailboxes: Mailboxes<S::Msg>,
    pub stats: Arc<WorkerStats>,
    pub cfg: WorkerConfig,
    /// The service of a (re)started worker.
    pub make: Arc<dyn Fn(usize) -> S + Send + Sync>,
    /// A fresh transport over what survived a panic.
    pub rebuild: Box<dyn Fn(T::Durable) -> io::Result<T> + Send>,
}

/// Restarts within this window count towards [`MAX_RESTARTS`].
const RESTART_WINDOW: Duration = Duration::from_secs(60);
/// More restarts than this within the window: the panic repeats, so the process exits.
const MAX_RESTARTS: usize = 10;

/// Runs a worker until it stops, restarting it after a panic that escapes its loop (see
/// [`OnPanic`]); returns once the worker has stopped for good.
pub fn supervise<S: Service, T: Transport>(first: T, s: Supervised<S, T>) {
    let mut transport = Some(first);
    let mut restarts: VecDeque<Instant> = VecDeque::new();
    while let Some(t) = transport.take() {
        let service = (s.make)(s.index);
        let mut worker = Worker::new(
            service,
            t,
            s.index,
            s.mailboxes.clone(),
            s.stats.clone(),
            s.cfg,
        );
        let Err(panic) = catch_unwind(AssertUnwindSafe(|| worker.run())) else {
            if let Some(line) = worker.core.transport.farewell(s.index, &s.stats) {
                eprintln!("{line}");
            }
            return;
        };
        let now = Instant::now();
        restarts.retain(|&t| now.duration_since(t) < RESTART_WINDOW);
        restarts.push_back(now);
        let message = panic_message(&*panic).to_string();
        if s.cfg.on_panic == OnPanic::Exit || restarts.len() > MAX_RESTARTS {
            eprintln!(
                "worker {}: panic: {message}; exiting the process (on_worker_panic = {})",
                s.index,
                if s.cfg.on_panic == OnPanic::Exit {
                    "\"exit\""
                } else {
                    "\"restart\", but it panicked more than 10 times in a minute"
                }
            );
            std::process::exit(70);
        }
        WorkerStats::bump(&s.stats.restarts);
        eprintln!(
            "worker {}: panic: {message}; restarting it, its {} connections are reset",
            s.index, worker.core.live
        );
        // Dropping the old service or connections may panic again: contain that too.
        let durable = catch_unwind(AssertUnwindSafe(move || {
            let Worker { core, service, .. } = worker;
            drop(service);
            core.transport.into_durable()
        }));
        match durable.map(|d| (s.rebuild)(d)) {
            Ok(Ok(t)) => transport = Some(t),
            Ok(Err(e)) => {
                eprintln!("worker {}: cannot restart: {e}; exiting", s.index);
                std::process::exit(70);
            }
            Err(_) => {
                eprintln!("worker {}: cannot restart after a panic; exiting", s.index);
                std::process::exit(70);
            }
        }
    }
}
