//! The kernel transport: the application API over Linux sockets.
//!
//! One edge-triggered epoll loop per worker with its own SO_REUSEPORT listeners. Received data is
//! read into a shared per-worker arena and handed out as `Bytes` slices of it (no copy after the
//! kernel's); queued sends go out in one `sendmsg` (gather) per connection per loop turn. An idle
//! worker blocks in `epoll_wait`.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, VecDeque};
use std::io::{self, IoSlice};
use std::net::{SocketAddr, TcpListener};
use std::os::fd::{AsFd, OwnedFd};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use bytes::{Buf, Bytes, BytesMut};
use rustix::event::epoll::{self, EventData, EventFlags};
use rustix::net::{SendAncillaryBuffer, SendFlags, Shutdown, SocketFlags};
use slab::Slab;

use crate::app::{Accepted, Conn, Cx, Service};
use crate::runtime::{Envelope, Mailbox, WorkerSetup};

/// Receive arena chunk: one read fills at most this much.
const ARENA: usize = 64 * 1024;
/// A new arena chunk is started when less than this is left.
const ARENA_MIN: usize = 4 * 1024;
/// Reads per connection per turn before yielding to others (fairness under load).
const READS_PER_TURN: usize = 4;
/// Accepts per listener per turn.
const ACCEPTS_PER_TURN: usize = 64;
/// Buffers gathered into one `sendmsg`.
const IOV_MAX: usize = 64;
/// After our FIN, how long unread input is drained before the socket is closed. Closing with
/// unread input makes the kernel send RST, which can destroy a response still in flight.
const LINGER: Duration = Duration::from_secs(5);

const WAKE: u64 = u64::MAX;
const LISTENER: u64 = 1 << 63;

#[derive(Copy, Clone, PartialEq, Eq, Debug)]
enum State {
    Open,
    /// The service closed: flush, then FIN.
    Closing,
    /// FIN sent: discard input until the peer's FIN or the linger deadline.
    Lingering,
}

struct Slot {
    fd: OwnedFd,
    generation: u32,
    state: State,
    out: VecDeque<Bytes>,
    queued: usize,
    paused: bool,
    /// Readable data may be waiting (edge-triggered: we owe ourselves a read).
    readable: bool,
    dirty: bool,
    timer_seq: u64,
}

/// The state a service acts on through [`Cx`].
struct Io<M: Send + 'static> {
    index: usize,
    mailboxes: Arc<Vec<Mailbox<M>>>,
    local: VecDeque<M>,
    epoll: OwnedFd,
    slots: Slab<Slot>,
    /// Generation per slab key, bumped when a slot is freed.
    generations: Vec<u32>,
    listeners: Vec<(SocketAddr, TcpListener)>,
    timers: BinaryHeap<Reverse<(Instant, u32, u32, u64)>>,
    timer_seq: u64,
    /// Connections with queued output or a pending state change, flushed at the end of a turn.
    dirty: Vec<u32>,
    /// Connections with input left over from an earlier turn.
    ready: Vec<u32>,
    /// Listeners that may have more connections waiting.
    ready_listeners: Vec<usize>,
    /// Connections torn down whose `on_closed` is still owed.
    closed: Vec<Conn>,
    arena: BytesMut,
    now: Instant,
    wall: SystemTime,
    stopping: bool,
}

impl<M: Send + 'static> Io<M> {
    fn slot(&self, conn: Conn) -> Option<&Slot> {
        self.slots
            .get(conn.index())
            .filter(|s| s.generation == conn.generation())
    }

    fn slot_mut(&mut self, conn: Conn) -> Option<&mut Slot> {
        self.slots
            .get_mut(conn.index())
            .filter(|s| s.generation == conn.generation())
    }

    fn conn_of(&self, index: usize) -> Conn {
        Conn::new(index as u32, self.slots[index].generation)
    }

    fn mark_dirty(&mut self, index: usize) {
        let slot = &mut self.slots[index];
        if !slot.dirty {
            slot.dirty = true;
            self.dirty.push(index as u32);
        }
    }

    fn arm(&mut self, index: usize, deadline: Instant) -> u64 {
        self.timer_seq += 1;
        let slot = &mut self.slots[index];
        slot.timer_seq = self.timer_seq;
        self.timers.push(Reverse((
            deadline,
            index as u32,
            slot.generation,
            self.timer_seq,
        )));
        self.timer_seq
    }

    /// Frees the slot now; `on_closed` is delivered by the loop, outside any callback.
    fn teardown(&mut self, index: usize, reset: bool) {
        let conn = self.conn_of(index);
        let slot = self.slots.remove(index);
        if reset {
            let _ = rustix::net::sockopt::set_socket_linger(&slot.fd, Some(Duration::ZERO));
        }
        let _ = epoll::delete(&self.epoll, &slot.fd);
        self.generations[index] = self.generations[index].wrapping_add(1);
        self.closed.push(conn);
    }

    fn accept(&mut self, listener: usize) -> Option<(Conn, Accepted)> {
        let (_, socket) = &self.listeners[listener];
        let flags = SocketFlags::NONBLOCK | SocketFlags::CLOEXEC;
        let (fd, peer) = rustix::net::acceptfrom_with(socket, flags).ok()?;
        let peer: SocketAddr = peer.and_then(|p| p.try_into().ok())?;
        let local: SocketAddr = rustix::net::getsockname(&fd).ok()?.try_into().ok()?;
        // Responses are written whole per turn: Nagle would only add latency (nginx: tcp_nodelay on).
        let _ = rustix::net::sockopt::set_tcp_nodelay(&fd, true);
        let entry = self.slots.vacant_entry();
        let index = entry.key();
        if self.generations.len() <= index {
            self.generations.resize(index + 1, 0);
        }
        let generation = self.generations[index];
        let token = (generation as u64) << 32 | index as u64;
        let flags = EventFlags::IN | EventFlags::OUT | EventFlags::RDHUP | EventFlags::ET;
        epoll::add(&self.epoll, &fd, EventData::new_u64(token), flags).ok()?;
        entry.insert(Slot {
            fd,
            generation,
            state: State::Open,
            out: VecDeque::new(),
            queued: 0,
            paused: false,
            readable: true,
            dirty: false,
            timer_seq: 0,
        });
        Some((
            Conn::new(index as u32, generation),
            Accepted {
                listener,
                peer,
                local,
            },
        ))
    }

    /// Writes as much queued output as the socket takes. Returns false on a fatal error.
    fn flush(&mut self, index: usize) -> bool {
        let slot = &mut self.slots[index];
        while !slot.out.is_empty() {
            let iov: Vec<IoSlice<'_>> = slot
                .out
                .iter()
                .take(IOV_MAX)
                .map(|b| IoSlice::new(b))
                .collect();
            let sent = rustix::net::sendmsg(
                &slot.fd,
                &iov,
                &mut SendAncillaryBuffer::default(),
                SendFlags::NOSIGNAL | SendFlags::DONTWAIT,
            );
            match sent {
                Ok(mut n) => {
                    slot.queued -= n;
                    while n > 0 {
                        let front = slot.out.front_mut().expect("sent more than queued");
                        if n >= front.len() {
                            n -= front.len();
                            slot.out.pop_front();
                        } else {
                            front.advance(n);
                            n = 0;
                        }
                    }
                }
                Err(rustix::io::Errno::AGAIN) => return true,
                Err(rustix::io::Errno::INTR) => {}
                Err(_) => return false,
            }
        }
        true
    }
}

impl<M: Send + 'static> Cx for Io<M> {
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
        let Some(slot) = self.slot_mut(conn) else {
            return;
        };
        if slot.state != State::Open {
            return;
        }
        slot.queued += data.len();
        slot.out.push_back(data);
        self.mark_dirty(conn.index());
    }

    fn queued(&self, conn: Conn) -> usize {
        self.slot(conn).map_or(0, |s| s.queued)
    }

    fn close(&mut self, conn: Conn) {
        let Some(slot) = self.slot_mut(conn) else {
            return;
        };
        if slot.state == State::Open {
            slot.state = State::Closing;
            slot.timer_seq = 0;
            self.mark_dirty(conn.index());
        }
    }

    fn abort(&mut self, conn: Conn) {
        if self.slot(conn).is_some() {
            self.teardown(conn.index(), true);
        }
    }

    fn pause_reading(&mut self, conn: Conn, paused: bool) {
        let Some(slot) = self.slot_mut(conn) else {
            return;
        };
        let resume = slot.paused && !paused && slot.readable;
        slot.paused = paused;
        if resume {
            self.ready.push(conn.index() as u32);
        }
    }

    fn set_timer(&mut self, conn: Conn, deadline: Option<Instant>) {
        let Some(slot) = self.slot_mut(conn) else {
            return;
        };
        if slot.state != State::Open {
            return;
        }
        match deadline {
            Some(at) => {
                self.arm(conn.index(), at);
            }
            None => slot.timer_seq = 0,
        }
    }

    fn post(&mut self, worker: usize, msg: M) {
        if worker == self.index {
            self.local.push_back(msg);
        } else {
            self.mailboxes[worker].push(Envelope::App(msg));
        }
    }

    fn stopping(&self) -> bool {
        self.stopping
    }
}

/// Runs one worker until it is told to stop (or quits gracefully with no connection left).
pub(crate) fn run<S: Service>(service: S, setup: WorkerSetup<S::Msg>) {
    let mut worker = match Worker::new(service, setup) {
        Ok(w) => w,
        Err(e) => {
            eprintln!("worker: cannot start its event loop: {e}");
            return;
        }
    };
    worker.run();
}

struct Worker<S: Service> {
    service: S,
    io: Io<S::Msg>,
    events: Vec<epoll::Event>,
    exit: bool,
}

impl<S: Service> Worker<S> {
    fn new(service: S, setup: WorkerSetup<S::Msg>) -> io::Result<Self> {
        let epoll = epoll::create(epoll::CreateFlags::CLOEXEC)?;
        let wake = &setup.mailboxes[setup.index].wake;
        epoll::add(
            &epoll,
            wake,
            EventData::new_u64(WAKE),
            EventFlags::IN | EventFlags::ET,
        )?;
        let mut io = Io {
            index: setup.index,
            mailboxes: setup.mailboxes.clone(),
            local: VecDeque::new(),
            epoll,
            slots: Slab::new(),
            generations: Vec::new(),
            listeners: Vec::new(),
            timers: BinaryHeap::new(),
            timer_seq: 0,
            dirty: Vec::new(),
            ready: Vec::new(),
            ready_listeners: Vec::new(),
            closed: Vec::new(),
            arena: BytesMut::new(),
            now: Instant::now(),
            wall: SystemTime::now(),
            stopping: false,
        };
        install_listeners(&mut io, setup.listeners)?;
        Ok(Worker {
            service,
            io,
            events: Vec::with_capacity(256),
            exit: false,
        })
    }

    fn run(&mut self) {
        let mut tick_at: Option<Instant> = None;
        while !self.exit {
            let timeout = self.timeout(tick_at);
            self.events.clear();
            let ts = timeout.map(|d| rustix::time::Timespec {
                tv_sec: d.as_secs() as i64,
                tv_nsec: d.subsec_nanos() as i64,
            });
            match epoll::wait(
                &self.io.epoll,
                rustix::buffer::spare_capacity(&mut self.events),
                ts.as_ref(),
            ) {
                Ok(_) | Err(rustix::io::Errno::INTR) => {}
                Err(e) => {
                    eprintln!("worker {}: epoll_wait: {e}", self.io.index);
                    return;
                }
            }
            self.io.now = Instant::now();
            self.io.wall = SystemTime::now();
            for i in 0..self.events.len() {
                let ev = self.events[i];
                self.dispatch(ev.data.u64(), ev.flags);
            }
            self.deliver_messages();
            self.read_ready();
            self.expire_timers();
            tick_at = self.service.on_tick(&mut self.io);
            self.flush_dirty();
            self.deliver_closed();
            if self.io.stopping && self.io.slots.is_empty() {
                self.exit = true;
            }
        }
    }

    /// How long `epoll_wait` may block: not at all when work is pending, else until the next
    /// timer or service tick.
    fn timeout(&self, tick_at: Option<Instant>) -> Option<Duration> {
        if !self.io.ready.is_empty()
            || !self.io.ready_listeners.is_empty()
            || !self.io.local.is_empty()
            || !self.io.dirty.is_empty()
        {
            return Some(Duration::ZERO);
        }
        let next_timer = self.io.timers.peek().map(|Reverse((at, ..))| *at);
        let next = match (next_timer, tick_at) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }?;
        // Round up to whole milliseconds so we never wake just before the deadline and spin.
        let wait = next.saturating_duration_since(Instant::now());
        Some(Duration::from_millis(wait.as_micros().div_ceil(1000) as u64))
    }

    fn dispatch(&mut self, token: u64, flags: EventFlags) {
        if token == WAKE {
            return self.drain_mailbox();
        }
        if token & LISTENER != 0 {
            return self.accept_all((token & !LISTENER) as usize);
        }
        let (index, generation) = ((token & 0xffff_ffff) as usize, (token >> 32) as u32);
        let Some(slot) = self.io.slots.get_mut(index) else {
            return;
        };
        if slot.generation != generation {
            return;
        }
        if flags.intersects(EventFlags::IN | EventFlags::RDHUP | EventFlags::HUP | EventFlags::ERR)
        {
            slot.readable = true;
            self.read(index);
        }
        if flags.intersects(EventFlags::OUT)
            && self
                .io
                .slots
                .get(index)
                .is_some_and(|s| s.generation == generation)
        {
            self.io.mark_dirty(index);
        }
    }

    fn accept_all(&mut self, listener: usize) {
        if listener >= self.io.listeners.len() || self.io.stopping {
            return;
        }
        for _ in 0..ACCEPTS_PER_TURN {
            let Some((conn, info)) = self.io.accept(listener) else {
                return;
            };
            self.service.on_accept(&mut self.io, conn, &info);
            self.read(conn.index());
        }
        // More may be waiting: edge-triggered, so come back next turn.
        self.io.ready_listeners.push(listener);
    }

    /// Reads and delivers what the connection has, then writes the answers at once, so a
    /// client waiting for them can send its next request while this turn goes on with others.
    fn read(&mut self, index: usize) {
        self.read_input(index);
        self.flush_conn(index);
    }

    /// Reads what the connection has, a bounded number of times, delivering each chunk.
    fn read_input(&mut self, index: usize) {
        for _ in 0..READS_PER_TURN {
            let Some(slot) = self.io.slots.get_mut(index) else {
                return;
            };
            if !slot.readable
                || (slot.paused && slot.state == State::Open)
                || slot.state == State::Closing
            {
                return;
            }
            if self.io.arena.len() < ARENA_MIN {
                self.io.arena = BytesMut::zeroed(ARENA);
            }
            let room = self.io.arena.len();
            match rustix::io::read(&slot.fd, &mut self.io.arena[..]) {
                Ok(0) => {
                    slot.readable = false;
                    return self.peer_closed(index);
                }
                Ok(n) => {
                    let data = self.io.arena.split_to(n).freeze();
                    if n < room {
                        slot.readable = false;
                    }
                    if slot.state == State::Lingering {
                        continue;
                    }
                    let conn = self.io.conn_of(index);
                    self.service.on_data(&mut self.io, conn, data);
                }
                Err(rustix::io::Errno::AGAIN) => {
                    slot.readable = false;
                    return;
                }
                Err(rustix::io::Errno::INTR) => {}
                Err(_) => return self.io.teardown(index, false),
            }
        }
        if self.io.slots.get(index).is_some_and(|s| s.readable) {
            self.io.ready.push(index as u32);
        }
    }

    fn peer_closed(&mut self, index: usize) {
        match self.io.slots[index].state {
            State::Open => {
                let conn = self.io.conn_of(index);
                self.service.on_peer_closed(&mut self.io, conn);
            }
            State::Lingering => self.io.teardown(index, false),
            State::Closing => {}
        }
    }

    fn read_ready(&mut self) {
        for listener in std::mem::take(&mut self.io.ready_listeners) {
            self.accept_all(listener);
        }
        for index in std::mem::take(&mut self.io.ready) {
            self.read(index as usize);
        }
    }

    fn drain_mailbox(&mut self) {
        let mailboxes = self.io.mailboxes.clone();
        mailboxes[self.io.index].drain(|msg| match msg {
            Envelope::App(m) => self.io.local.push_back(m),
            Envelope::Stop => self.exit = true,
            Envelope::Quit => self.begin_quit(),
            Envelope::Listeners(addrs, fresh) => {
                // Closing a listener resets the connections in its accept queue: take them first.
                for i in 0..self.io.listeners.len() {
                    if !addrs.contains(&self.io.listeners[i].0) {
                        while let Some((conn, info)) = self.io.accept(i) {
                            self.service.on_accept(&mut self.io, conn, &info);
                        }
                    }
                }
                let old = std::mem::take(&mut self.io.listeners);
                let mut pool: Vec<(SocketAddr, TcpListener)> =
                    old.into_iter().chain(fresh).collect();
                let next: Vec<_> = addrs
                    .iter()
                    .filter_map(|a| {
                        pool.iter()
                            .position(|(b, _)| b == a)
                            .map(|i| pool.swap_remove(i))
                    })
                    .collect();
                for (_, dropped) in &pool {
                    let _ = epoll::delete(&self.io.epoll, dropped);
                }
                if let Err(e) = install_listeners(&mut self.io, next) {
                    eprintln!("worker {}: cannot watch listeners: {e}", self.io.index);
                }
            }
        });
    }

    fn begin_quit(&mut self) {
        if self.io.stopping {
            return;
        }
        self.io.stopping = true;
        for (_, l) in std::mem::take(&mut self.io.listeners) {
            let _ = epoll::delete(&self.io.epoll, &l);
        }
        self.service.on_stop(&mut self.io);
    }

    fn deliver_messages(&mut self) {
        // Bounded: messages posted while delivering wait for the next turn.
        for _ in 0..self.io.local.len() {
            let Some(msg) = self.io.local.pop_front() else {
                break;
            };
            self.service.on_message(&mut self.io, msg);
        }
    }

    fn expire_timers(&mut self) {
        while let Some(Reverse((at, index, generation, seq))) = self.io.timers.peek().copied() {
            if at > self.io.now {
                break;
            }
            self.io.timers.pop();
            let Some(slot) = self.io.slots.get_mut(index as usize) else {
                continue;
            };
            if slot.generation != generation || slot.timer_seq != seq {
                continue;
            }
            slot.timer_seq = 0;
            match slot.state {
                State::Open => {
                    let conn = self.io.conn_of(index as usize);
                    self.service.on_timer(&mut self.io, conn);
                }
                // The peer never finished: give up on a graceful end.
                State::Lingering | State::Closing => self.io.teardown(index as usize, true),
            }
        }
    }

    fn flush_dirty(&mut self) {
        // on_writable may queue more (streaming): bounded passes keep one turn short.
        for _ in 0..4 {
            let dirty = std::mem::take(&mut self.io.dirty);
            if dirty.is_empty() {
                return;
            }
            for index in dirty {
                self.flush_conn(index as usize);
            }
        }
    }

    /// Writes a connection's queued output, if any, and moves it on when the queue empties.
    fn flush_conn(&mut self, index: usize) {
        let Some(slot) = self.io.slots.get_mut(index).filter(|s| s.dirty) else {
            return;
        };
        slot.dirty = false;
        let had_output = !slot.out.is_empty();
        if !self.io.flush(index) {
            return self.io.teardown(index, false);
        }
        let slot = &mut self.io.slots[index];
        if !slot.out.is_empty() {
            return; // the socket is full; EPOLLOUT brings us back
        }
        match slot.state {
            State::Open if had_output => {
                let conn = self.io.conn_of(index);
                self.service.on_writable(&mut self.io, conn);
            }
            State::Closing => self.finish(index),
            _ => {}
        }
    }

    /// Output is flushed after a close: send FIN, then drain input until the peer's FIN.
    fn finish(&mut self, index: usize) {
        let slot = &mut self.io.slots[index];
        if rustix::net::shutdown(&slot.fd, Shutdown::Write).is_err() {
            return self.io.teardown(index, false);
        }
        slot.state = State::Lingering;
        slot.readable = true;
        let deadline = self.io.now + LINGER;
        self.io.arm(index, deadline);
        self.read(index);
    }

    fn deliver_closed(&mut self) {
        while let Some(conn) = self.io.closed.pop() {
            self.service.on_closed(&mut self.io, conn);
        }
    }
}

fn install_listeners<M: Send + 'static>(
    io: &mut Io<M>,
    listeners: Vec<(SocketAddr, TcpListener)>,
) -> io::Result<()> {
    for (i, (_, l)) in listeners.iter().enumerate() {
        let token = EventData::new_u64(LISTENER | i as u64);
        let flags = EventFlags::IN | EventFlags::ET;
        // Re-installing after a listener change: modify if it is already watched.
        if epoll::add(&io.epoll, l.as_fd(), token, flags).is_err() {
            epoll::modify(&io.epoll, l.as_fd(), token, flags)?;
        }
    }
    io.listeners = listeners;
    // Connections may have queued while the listener was unwatched.
    io.ready_listeners.extend(0..io.listeners.len());
    Ok(())
}
