//! The state a service acts on: connection slots with their output queues, the application
//! timers (one wheel), the messages posted to this worker, and the [`Cx`] implementation over
//! any [`Transport`].
//!
//! The slots are indexed by the transport's connection index (dense: a slab key or a TCP
//! handle index) and checked by generation, so a stale [`Conn`] never reaches the connection
//! that reuses its index.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use bytes::Bytes;

use super::mailbox::{Envelope, Mailboxes};
use super::{Event, Transport, WorkerStats};
use crate::app::{Conn, Cx};
use crate::time::TimerWheel;

/// One connection as the core sees it.
pub(super) struct Slot {
    generation: u32,
    /// Output the transport has not taken yet (the kernel's socket buffer or TCP's send queue
    /// was full), in order.
    pub(super) out: VecDeque<Bytes>,
    pub(super) queued: usize,
    /// The service closed: FIN once `out` is empty; no callback but `on_closed` follows.
    pub(super) closing: bool,
    pub(super) fin_sent: bool,
    /// Aborted (by the service or after a panic): `on_closed` is owed by the core, and the
    /// transport's events for it are ignored.
    pub(super) dead: bool,
    pub(super) dirty: bool,
    /// The service sent since its last `on_writable`.
    pub(super) had_output: bool,
}

/// A worker's connections, timers and messages, over transport `T`.
pub struct Core<T, M: Send + 'static> {
    pub(super) transport: T,
    pub(super) index: usize,
    pub(super) mailboxes: Mailboxes<M>,
    pub(super) slots: Vec<Option<Slot>>,
    pub(super) live: usize,
    /// Application timers, keyed by connection index, in ticks since `origin`.
    timers: TimerWheel,
    origin: Instant,
    pub(super) dirty: Vec<Conn>,
    /// Aborted connections whose `on_closed` is owed.
    pub(super) closed: Vec<Conn>,
    pub(super) events: VecDeque<Event>,
    pub(super) local: VecDeque<M>,
    pub(super) now: Instant,
    /// `now` on the timer wheel's clock.
    wheel_now: crate::time::Instant,
    wall: SystemTime,
    pub(super) stopping: bool,
    pub(super) stats: Arc<WorkerStats>,
    /// How long a closed connection may take to send what it still has queued.
    close_timeout: Duration,
}

impl<T: Transport, M: Send + 'static> Core<T, M> {
    pub(super) fn new(
        transport: T,
        index: usize,
        mailboxes: Mailboxes<M>,
        stats: Arc<WorkerStats>,
        close_timeout: Duration,
    ) -> Self {
        let origin = Instant::now();
        Core {
            transport,
            index,
            mailboxes,
            slots: Vec::new(),
            live: 0,
            timers: TimerWheel::new(crate::time::DEFAULT_TICK, crate::time::Instant::ZERO),
            origin,
            dirty: Vec::new(),
            closed: Vec::new(),
            events: VecDeque::new(),
            local: VecDeque::new(),
            now: origin,
            wheel_now: crate::time::Instant::ZERO,
            wall: SystemTime::now(),
            stopping: false,
            stats,
            close_timeout,
        }
    }

    /// The transport, for its owner (listening, statistics, tests).
    pub fn transport(&mut self) -> &mut T {
        &mut self.transport
    }

    /// Open connections.
    pub fn connections(&self) -> usize {
        self.live
    }

    pub(super) fn begin_turn(&mut self) {
        self.now = Instant::now();
        self.wall = SystemTime::now();
        if !self.timers.is_empty() {
            self.wheel_now = self.wheel_time(self.now);
        }
    }

    fn wheel_time(&self, at: Instant) -> crate::time::Instant {
        let nanos = at.saturating_duration_since(self.origin).as_nanos();
        crate::time::Instant::from_nanos(u64::try_from(nanos).unwrap_or(u64::MAX))
    }

    pub(super) fn slot(&self, conn: Conn) -> Option<&Slot> {
        self.slots
            .get(conn.index())?
            .as_ref()
            .filter(|s| s.generation == conn.generation() && !s.dead)
    }

    pub(super) fn slot_mut(&mut self, conn: Conn) -> Option<&mut Slot> {
        Self::live_slot(&mut self.slots, conn)
    }

    /// `conn`'s slot if it is still this connection's and not aborted (a function of the slot
    /// table alone, so the transport can be borrowed beside it).
    pub(super) fn live_slot(slots: &mut [Option<Slot>], conn: Conn) -> Option<&mut Slot> {
        slots
            .get_mut(conn.index())?
            .as_mut()
            .filter(|s| s.generation == conn.generation() && !s.dead)
    }

    /// A connection the service may still get data and timer callbacks for.
    pub(super) fn is_open(&self, conn: Conn) -> bool {
        self.slot(conn).is_some_and(|s| !s.closing)
    }

    /// Another connection still holding `conn`'s index, if any.
    pub(super) fn occupant(&self, conn: Conn) -> Option<Conn> {
        let s = self.slots.get(conn.index())?.as_ref()?;
        (s.generation != conn.generation()).then(|| Conn::new(conn.index() as u32, s.generation))
    }

    pub(super) fn insert(&mut self, conn: Conn) {
        let i = conn.index();
        if self.slots.len() <= i {
            self.slots.resize_with(i + 1, || None);
        }
        if self.slots[i].is_none() {
            self.live += 1;
        }
        self.slots[i] = Some(Slot {
            generation: conn.generation(),
            out: VecDeque::new(),
            queued: 0,
            closing: false,
            fin_sent: false,
            dead: false,
            dirty: false,
            had_output: false,
        });
    }

    /// Frees `conn`'s slot (dead or not); returns whether the service still needs `on_closed`.
    pub(super) fn remove(&mut self, conn: Conn) -> Option<bool> {
        let slot = self.slots.get_mut(conn.index())?;
        if slot.as_ref()?.generation != conn.generation() {
            return None;
        }
        let dead = slot.take()?.dead;
        self.live -= 1;
        self.timers.cancel(conn.index() as u32);
        Some(!dead)
    }

    pub(super) fn mark_dirty(&mut self, conn: Conn) {
        if let Some(s) = self.slot_mut(conn) {
            if !s.dirty {
                s.dirty = true;
                self.dirty.push(conn);
            }
        }
    }

    /// The next application timer due at the current turn's time, if any.
    pub(super) fn expired_timer(&mut self) -> Option<Conn> {
        if self.timers.is_empty() {
            return None;
        }
        while let Some(key) = self.timers.poll(self.wheel_now) {
            let Some(Some(s)) = self.slots.get(key as usize) else {
                continue;
            };
            let conn = Conn::new(key, s.generation);
            match self.slot(conn) {
                Some(s) if !s.closing => return Some(conn),
                // Closed by the service but its output never drained (a peer that does not
                // read): give up, so that it cannot hold the slot and its buffers forever.
                Some(_) => {
                    WorkerStats::bump(&self.stats.close_timeouts);
                    self.kill(conn);
                }
                None => {}
            }
        }
        None
    }

    pub(super) fn next_timer(&self) -> Option<Instant> {
        let at = self.timers.next_deadline()?;
        Some(self.origin + Duration::from_nanos(at.total_nanos()))
    }

    /// Aborts `conn` at once; `on_closed` follows at the end of the turn.
    pub(super) fn kill(&mut self, conn: Conn) {
        let Some(s) = self.slot_mut(conn) else {
            return;
        };
        s.dead = true;
        s.out.clear();
        s.queued = 0;
        self.timers.cancel(conn.index() as u32);
        self.transport.abort(conn);
        self.closed.push(conn);
    }
}

impl<T: Transport, M: Send + 'static> Cx for Core<T, M> {
    type Msg = M;

    fn now(&self) -> Instant {
        self.now
    }

    fn wall_clock(&self) -> SystemTime {
        self.wall
    }

    fn worker(&self) -> usize {
        self.index
    }

    fn workers(&self) -> usize {
        self.mailboxes.len()
    }

    fn send(&mut self, conn: Conn, data: Bytes) {
        if data.is_empty() {
            return;
        }
        let Some(s) = self.slot_mut(conn).filter(|s| !s.closing) else {
            return;
        };
        s.had_output = true;
        s.queued += data.len();
        s.out.push_back(data);
        self.mark_dirty(conn);
    }

    fn queued(&self, conn: Conn) -> usize {
        self.slot(conn).map_or(0, |s| s.queued)
    }

    fn close(&mut self, conn: Conn) {
        let Some(s) = self.slot_mut(conn).filter(|s| !s.closing) else {
            return;
        };
        s.closing = true;
        let deadline = self.now + self.close_timeout;
        self.timers
            .arm(conn.index() as u32, self.wheel_time(deadline));
        self.mark_dirty(conn);
    }

    fn abort(&mut self, conn: Conn) {
        self.kill(conn);
    }

    fn pause_reading(&mut self, conn: Conn, paused: bool) {
        if self.slot(conn).is_some() {
            self.transport.pause_reading(conn, paused);
        }
    }

    fn set_timer(&mut self, conn: Conn, deadline: Option<Instant>) {
        if !self.is_open(conn) {
            return;
        }
        let key = conn.index() as u32;
        match deadline {
            Some(at) => {
                let at = self.wheel_time(at);
                self.timers.arm(key, at);
            }
            None => {
                self.timers.cancel(key);
            }
        }
    }

    fn post(&mut self, worker: usize, msg: M) {
        if worker == self.index {
            self.local.push_back(msg);
        } else if let Some(m) = self.mailboxes.get(worker) {
            m.push(Envelope::App(msg));
        }
    }

    fn stopping(&self) -> bool {
        self.stopping
    }
}
