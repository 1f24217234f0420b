//! The kernel transport: connections over Linux sockets, below the worker core.
//!
//! Each worker has its own edge-triggered epoll and its own SO_REUSEPORT listeners ([`bind`]),
//! so the kernel spreads connections over the workers. Received data is read into a shared
//! per-worker arena and handed out as `Bytes` slices of it (no copy after the kernel's); queued
//! output goes out in one gathering `sendmsg` per connection per turn. After our FIN, input is
//! drained until the peer's FIN (see [`LINGER`]). An idle worker blocks in `epoll_wait`.

use std::any::Any;
use std::cmp::Reverse;
use std::collections::{BinaryHeap, VecDeque};
use std::io::{self, IoSlice};
use std::net::{SocketAddr, TcpListener};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::time::{Duration, Instant};

use bytes::{Buf, Bytes, BytesMut};
use rustix::event::epoll::{self, EventData, EventFlags};
use rustix::net::{SendAncillaryBuffer, SendFlags, Shutdown, SocketFlags};
use slab::Slab;

use crate::app::{Accepted, Conn, Listen};
use crate::worker::{Event, Transport};

/// Receive arena chunk: one read fills at most this much.
const ARENA: usize = 64 * 1024;
/// A new arena chunk is started when less than this is left.
const ARENA_MIN: usize = 4 * 1024;
/// Accepts per listener per turn.
const ACCEPTS_PER_TURN: usize = 64;
/// Buffers gathered into one `sendmsg`.
const IOV_MAX: usize = 64;
/// After our FIN, how long unread input is drained before the socket is closed. Closing with
/// unread input makes the kernel send RST, which can destroy a response still in flight.
const LINGER: Duration = Duration::from_secs(5);

/// Readiness events taken per `epoll_wait`.
const EVENTS: usize = 256;

const WAKE: u64 = u64::MAX;
const LISTENER: u64 = 1 << 63;

/// A listener set change (SIGHUP): `addrs[i]` becomes listener `i`; sockets for addresses the
/// worker does not have yet come with the message. Sent as [`crate::worker::mailbox::Envelope::Control`].
pub struct Relisten {
    pub addrs: Vec<SocketAddr>,
    pub fresh: Vec<(SocketAddr, TcpListener)>,
}

struct Sock {
    fd: OwnedFd,
    generation: u32,
    /// FIN sent: input is discarded until the peer's FIN or the linger deadline.
    lingering: bool,
    /// Readable data may be waiting (edge-triggered: we owe ourselves a read).
    readable: bool,
    paused: bool,
    /// A write stopped at a full socket buffer: the next EPOLLOUT is worth reporting.
    blocked: bool,
    /// The peer hung up: read until end of file even after a short read.
    hangup: bool,
}

/// One worker's sockets.
pub struct KernelTransport {
    epoll: OwnedFd,
    /// (token, flags) of what the last `epoll_wait` reported.
    ready_events: Vec<(u64, EventFlags)>,
    socks: Slab<Sock>,
    /// Generation per slab key, bumped when a socket is freed.
    generations: Vec<u32>,
    listeners: Vec<(SocketAddr, TcpListener)>,
    /// Connections that may have more input, listeners more connections: polled next turn.
    ready: Vec<u32>,
    ready_listeners: Vec<usize>,
    lingering: BinaryHeap<Reverse<(Instant, u32, u32)>>,
    /// Events raised outside `poll` (a failed write or FIN), reported by the next `poll`.
    pending: Vec<Event>,
    arena: BytesMut,
}

impl KernelTransport {
    /// A transport serving `listeners`, woken by the mailbox eventfd `wake`.
    pub fn new(
        listeners: Vec<(SocketAddr, TcpListener)>,
        wake: BorrowedFd<'_>,
    ) -> io::Result<Self> {
        let epoll = epoll::create(epoll::CreateFlags::CLOEXEC)?;
        let flags = EventFlags::IN | EventFlags::ET;
        epoll::add(&epoll, wake, EventData::new_u64(WAKE), flags)?;
        let mut t = KernelTransport {
            epoll,
            ready_events: Vec::with_capacity(EVENTS),
            socks: Slab::new(),
            generations: Vec::new(),
            listeners: Vec::new(),
            ready: Vec::new(),
            ready_listeners: Vec::new(),
            lingering: BinaryHeap::new(),
            pending: Vec::new(),
            arena: BytesMut::new(),
        };
        t.install_listeners(listeners)?;
        Ok(t)
    }

    fn sock(&mut self, conn: Conn) -> Option<&mut Sock> {
        self.socks
            .get_mut(conn.index())
            .filter(|s| s.generation == conn.generation())
    }

    fn conn_of(&self, index: usize) -> Conn {
        Conn::new(index as u32, self.socks[index].generation)
    }

    fn install_listeners(&mut self, listeners: Vec<(SocketAddr, TcpListener)>) -> io::Result<()> {
        for (i, (_, l)) in listeners.iter().enumerate() {
            let token = EventData::new_u64(LISTENER | i as u64);
            let flags = EventFlags::IN | EventFlags::ET;
            // Re-installing after a listener change: modify if it is already watched.
            if epoll::add(&self.epoll, l.as_fd(), token, flags).is_err() {
                epoll::modify(&self.epoll, l.as_fd(), token, flags)?;
            }
        }
        self.listeners = listeners;
        // Connections may have queued while the listener was unwatched.
        self.ready_listeners = (0..self.listeners.len()).collect();
        Ok(())
    }

    /// Frees the socket; with `reset`, the kernel sends RST instead of FIN.
    fn teardown(&mut self, index: usize, reset: bool) {
        let sock = self.socks.remove(index);
        if reset {
            let _ = rustix::net::sockopt::set_socket_linger(&sock.fd, Some(Duration::ZERO));
        }
        let _ = epoll::delete(&self.epoll, &sock.fd);
        self.generations[index] = self.generations[index].wrapping_add(1);
    }

    /// Tears down a connection the core still knows: it learns through `Closed`, reported
    /// in order before anything that may reuse the index (an accept later in the same poll).
    fn fail(&mut self, index: usize, reset: bool, events: &mut VecDeque<Event>) {
        let conn = self.conn_of(index);
        self.teardown(index, reset);
        events.push_back(Event::Closed(conn));
    }

    /// [`KernelTransport::fail`] outside `poll` (a failed write or FIN): reported by the next
    /// `poll` before its accepts.
    fn fail_later(&mut self, index: usize) {
        let conn = self.conn_of(index);
        self.teardown(index, false);
        self.pending.push(Event::Closed(conn));
    }

    fn accept(&mut self, listener: usize) -> Option<(Conn, Accepted)> {
        let (_, socket) = &self.listeners[listener];
        let flags = SocketFlags::NONBLOCK | SocketFlags::CLOEXEC;
        let (fd, peer) = rustix::net::acceptfrom_with(socket, flags).ok()?;
        let peer: SocketAddr = peer.and_then(|p| p.try_into().ok())?;
        let local: SocketAddr = rustix::net::getsockname(&fd).ok()?.try_into().ok()?;
        // Responses are written whole per turn: Nagle would only add latency (nginx: tcp_nodelay on).
        let _ = rustix::net::sockopt::set_tcp_nodelay(&fd, true);
        let entry = self.socks.vacant_entry();
        let index = entry.key();
        if self.generations.len() <= index {
            self.generations.resize(index + 1, 0);
        }
        let generation = self.generations[index];
        let token = (generation as u64) << 32 | index as u64;
        let flags = EventFlags::IN | EventFlags::OUT | EventFlags::RDHUP | EventFlags::ET;
        epoll::add(&self.epoll, &fd, EventData::new_u64(token), flags).ok()?;
        entry.insert(Sock {
            fd,
            generation,
            lingering: false,
            readable: true,
            paused: false,
            blocked: false,
            hangup: false,
        });
        let info = Accepted {
            listener,
            peer,
            local,
        };
        Some((Conn::new(index as u32, generation), info))
    }

    fn accept_some(&mut self, listener: usize, events: &mut VecDeque<Event>) {
        if listener >= self.listeners.len() {
            return;
        }
        for _ in 0..ACCEPTS_PER_TURN {
            let Some((conn, info)) = self.accept(listener) else {
                return;
            };
            events.push_back(Event::Accepted { conn, info });
            self.ready.push(conn.index() as u32);
        }
        // More may be waiting: edge-triggered, so come back next turn.
        self.ready_listeners.push(listener);
    }

    /// One read (a service that pauses reading is never handed more than one chunk beyond
    /// its pause); a connection with more to read is polled again next turn.
    fn read(&mut self, index: usize, events: &mut VecDeque<Event>) {
        let Some(sock) = self.socks.get_mut(index) else {
            return;
        };
        if !sock.readable || (sock.paused && !sock.lingering) {
            return;
        }
        if self.arena.len() < ARENA_MIN {
            self.arena = BytesMut::zeroed(ARENA);
        }
        let room = self.arena.len();
        match rustix::io::read(&sock.fd, &mut self.arena[..]) {
            Ok(0) => {
                sock.readable = false;
                if sock.lingering {
                    self.fail(index, false, events);
                } else {
                    let conn = self.conn_of(index);
                    events.push_back(Event::PeerClosed(conn));
                }
            }
            Ok(n) => {
                let data = self.arena.split_to(n).freeze();
                if !sock.lingering {
                    let conn = Conn::new(index as u32, sock.generation);
                    events.push_back(Event::Data { conn, data });
                }
                // A short read emptied the socket: the next arrival raises a new edge.
                if n < room && !sock.hangup {
                    sock.readable = false;
                } else {
                    self.ready.push(index as u32);
                }
            }
            Err(rustix::io::Errno::AGAIN) => sock.readable = false,
            Err(rustix::io::Errno::INTR) => self.ready.push(index as u32),
            Err(_) => self.fail(index, false, events),
        }
    }

    fn relisten(&mut self, r: Relisten, events: &mut VecDeque<Event>) {
        // Closing a listener resets the connections in its accept queue: take them first.
        for i in 0..self.listeners.len() {
            if !r.addrs.contains(&self.listeners[i].0) {
                while let Some((conn, info)) = self.accept(i) {
                    events.push_back(Event::Accepted { conn, info });
                }
            }
        }
        let old = std::mem::take(&mut self.listeners);
        let mut pool: Vec<(SocketAddr, TcpListener)> = old.into_iter().chain(r.fresh).collect();
        let next: Vec<_> = r
            .addrs
            .iter()
            .filter_map(|a| {
                pool.iter()
                    .position(|(b, _)| b == a)
                    .map(|i| pool.swap_remove(i))
            })
            .collect();
        for (_, dropped) in &pool {
            let _ = epoll::delete(&self.epoll, dropped);
        }
        if let Err(e) = self.install_listeners(next) {
            eprintln!("kernel transport: cannot watch listeners: {e}");
        }
    }
}

impl Transport for KernelTransport {
    type Durable = Vec<(SocketAddr, TcpListener)>;
    const FLUSH_AFTER_INPUT: bool = true;

    fn wait(&mut self, timeout: Option<Duration>) {
        let ts = timeout.map(|d| rustix::time::Timespec {
            tv_sec: d.as_secs() as i64,
            tv_nsec: d.subsec_nanos() as i64,
        });
        let mut buf = [std::mem::MaybeUninit::<epoll::Event>::uninit(); EVENTS];
        match epoll::wait(&self.epoll, &mut buf, ts.as_ref()) {
            // Copied out: the epoll event type holds a pointer, which would make the transport
            // !Send.
            Ok((ready, _)) => self
                .ready_events
                .extend(ready.iter().map(|e| (e.data.u64(), e.flags))),
            Err(rustix::io::Errno::INTR) => {}
            Err(e) => eprintln!("kernel transport: epoll_wait: {e}"),
        }
    }

    fn poll(&mut self, now: Instant, events: &mut VecDeque<Event>) {
        events.extend(self.pending.drain(..));
        for listener in std::mem::take(&mut self.ready_listeners) {
            self.accept_some(listener, events);
        }
        for index in std::mem::take(&mut self.ready) {
            self.read(index as usize, events);
        }
        for i in 0..self.ready_events.len() {
            let (token, flags) = self.ready_events[i];
            if token == WAKE {
                continue; // the core checks its mailbox every turn
            }
            if token & LISTENER != 0 {
                self.accept_some((token & !LISTENER) as usize, events);
                continue;
            }
            let (index, generation) = ((token & 0xffff_ffff) as usize, (token >> 32) as u32);
            let Some(sock) = self.socks.get_mut(index) else {
                continue;
            };
            if sock.generation != generation {
                continue;
            }
            if flags.intersects(EventFlags::OUT) && std::mem::take(&mut sock.blocked) {
                events.push_back(Event::Writable(Conn::new(index as u32, generation)));
            }
            let input = EventFlags::IN | EventFlags::RDHUP | EventFlags::HUP | EventFlags::ERR;
            if flags.intersects(input) {
                sock.readable = true;
                sock.hangup |= flags.intersects(input - EventFlags::IN);
                self.read(index, events);
            }
        }
        self.ready_events.clear();
        while let Some(&Reverse((at, index, generation))) = self.lingering.peek() {
            if at > now {
                break;
            }
            self.lingering.pop();
            let index = index as usize;
            // The peer never finished: give up on a graceful end.
            if self
                .socks
                .get(index)
                .is_some_and(|s| s.generation == generation)
            {
                self.fail(index, true, events);
            }
        }
    }

    fn write(&mut self, conn: Conn, out: &mut VecDeque<Bytes>) -> io::Result<usize> {
        let index = conn.index();
        let Some(sock) = self.sock(conn) else {
            return Err(io::ErrorKind::NotConnected.into());
        };
        let mut total = 0;
        while !out.is_empty() {
            let mut iov = [IoSlice::new(&[]); IOV_MAX];
            let mut parts = 0;
            for (slot, b) in iov.iter_mut().zip(out.iter()) {
                *slot = IoSlice::new(b);
                parts += 1;
            }
            let iov = &iov[..parts];
            let flags = SendFlags::NOSIGNAL | SendFlags::DONTWAIT;
            match rustix::net::sendmsg(&sock.fd, iov, &mut SendAncillaryBuffer::default(), flags) {
                Ok(mut n) => {
                    total += n;
                    while n > 0 {
                        let front = out.front_mut().expect("sent no more than queued");
                        if n >= front.len() {
                            n -= front.len();
                            out.pop_front();
                        } else {
                            front.advance(n);
                            n = 0;
                        }
                    }
                }
                Err(rustix::io::Errno::AGAIN) => {
                    sock.blocked = true;
                    break;
                }
                Err(rustix::io::Errno::INTR) => {}
                Err(e) => {
                    self.fail_later(index);
                    return Err(e.into());
                }
            }
        }
        Ok(total)
    }

    fn finish(&mut self, conn: Conn) {
        let index = conn.index();
        let Some(sock) = self.sock(conn) else {
            return;
        };
        if rustix::net::shutdown(&sock.fd, Shutdown::Write).is_err() {
            return self.fail_later(index);
        }
        sock.lingering = true;
        sock.readable = true;
        let generation = sock.generation;
        self.ready.push(index as u32);
        let deadline = Instant::now() + LINGER;
        self.lingering
            .push(Reverse((deadline, index as u32, generation)));
    }

    fn abort(&mut self, conn: Conn) {
        if self.sock(conn).is_some() {
            self.teardown(conn.index(), true);
        }
    }

    fn pause_reading(&mut self, conn: Conn, paused: bool) {
        let Some(sock) = self.sock(conn) else {
            return;
        };
        let resume = sock.paused && !paused && sock.readable;
        sock.paused = paused;
        if resume {
            self.ready.push(conn.index() as u32);
        }
    }

    fn stop_listening(&mut self) {
        for (_, l) in std::mem::take(&mut self.listeners) {
            let _ = epoll::delete(&self.epoll, &l);
        }
        self.ready_listeners.clear();
    }

    fn control(&mut self, msg: Box<dyn Any + Send>, events: &mut VecDeque<Event>) {
        match msg.downcast::<Relisten>() {
            Ok(r) => self.relisten(*r, events),
            Err(_) => eprintln!("kernel transport: ignored an unknown control message"),
        }
    }

    fn flush(&mut self, _now: Instant) {}

    fn busy(&self) -> bool {
        !self.ready.is_empty() || !self.ready_listeners.is_empty() || !self.pending.is_empty()
    }

    fn poll_at(&self) -> Option<Instant> {
        self.lingering.peek().map(|Reverse((at, ..))| *at)
    }

    fn into_durable(self) -> Self::Durable {
        self.listeners
    }
}

/// One SO_REUSEPORT listener per worker: the kernel spreads incoming connections across them.
/// Port 0 means "any free port": every worker shares the one the first bind chose.
pub fn bind(l: &Listen, workers: usize) -> io::Result<Vec<TcpListener>> {
    refuse_if_taken(l.addr)?;
    let first = bind_one(l.addr, l.backlog)?;
    let resolved = first.local_addr()?;
    let mut all = vec![first];
    for _ in 1..workers {
        all.push(bind_one(resolved, l.backlog)?);
    }
    Ok(all)
}

/// SO_REUSEPORT would let a second server (same user) silently share a port with a running
/// one and take part of its traffic. A plain bind first tells whether anyone holds the address.
fn refuse_if_taken(addr: SocketAddr) -> io::Result<()> {
    use socket2::{Domain, Socket, Type};
    if addr.port() == 0 {
        return Ok(());
    }
    let probe = Socket::new(Domain::for_address(addr), Type::STREAM.cloexec(), None)?;
    probe.set_reuse_address(true)?; // ignore TIME-WAIT leftovers, like every server does
    if addr.is_ipv6() {
        probe.set_only_v6(true)?;
    }
    probe
        .bind(&addr.into())
        .map_err(|e| io::Error::new(e.kind(), format!("listen {addr}: {e}")))
}

fn bind_one(addr: SocketAddr, backlog: i32) -> io::Result<TcpListener> {
    use socket2::{Domain, Socket, Type};
    let bind = || -> io::Result<TcpListener> {
        let socket = Socket::new(Domain::for_address(addr), Type::STREAM.cloexec(), None)?;
        socket.set_reuse_address(true)?;
        socket.set_reuse_port(true)?;
        socket.set_nonblocking(true)?;
        if addr.is_ipv6() {
            socket.set_only_v6(true)?;
        }
        socket.bind(&addr.into())?;
        socket.listen(backlog)?;
        Ok(socket.into())
    };
    bind().map_err(|e| io::Error::new(e.kind(), format!("listen {addr}: {e}")))
}
