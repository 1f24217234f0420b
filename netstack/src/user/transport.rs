//! The user-space stack as a [`Transport`] below the worker core: the core's connections are
//! the TCP engine's handles, its output goes into TCP's send queues (referenced, not copied),
//! and a turn's frames leave in one transmit at its end.
//!
//! A device with a file descriptor (TAP) is waited on with epoll, together with the mailbox
//! eventfd and the steering eventfd; a device without one (DPDK's poll-mode drivers) is
//! polled, sleeping `idle_sleep` after a turn that received nothing.

use std::any::Any;
use std::collections::VecDeque;
use std::io;
use std::net::{SocketAddr, SocketAddrV4};
use std::os::fd::{BorrowedFd, OwnedFd};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use rustix::event::epoll::{self, EventData, EventFlags};

use super::{BoxDevice, Stack, Steering};
use crate::app::{Accepted, Conn, Listen};
use crate::buf::Pool;
use crate::tcp::{Handle, ListenerId, TcpError};
use crate::time::MonotonicClock;
use crate::worker::{Event, Transport, WorkerStats};

/// A worker's share of a multi-queue device: the steering between the workers, and the count
/// of workers that have not finished a graceful stop (each keeps steering frames for the
/// others until all have).
#[derive(Clone)]
pub struct Shared {
    pub steering: Arc<Steering>,
    pub draining: Arc<AtomicUsize>,
}

/// What a worker keeps across a restart: its device (queue) and buffer pool.
pub struct Parts {
    pub device: BoxDevice,
    pub pool: Pool,
    drained: bool,
}

/// One worker's user-space stack.
pub struct UserTransport {
    pub stack: Stack<BoxDevice>,
    clock: MonotonicClock,
    pool: Pool,
    index: usize,
    listeners: Vec<ListenerId>,
    epoll: Option<OwnedFd>,
    idle_sleep: Duration,
    /// Received frames counted at the last wait (a polled device idles after a turn without).
    rx_seen: u64,
    /// The current turn's time on the stack's clock.
    now: crate::time::Instant,
    shared: Option<Shared>,
    drained: bool,
}

fn conn_of(h: Handle) -> Conn {
    Conn::new(h.index, h.generation)
}

fn handle_of(c: Conn) -> Handle {
    Handle {
        index: c.index() as u32,
        generation: c.generation(),
    }
}

const TOKEN_DEVICE: u64 = 1;
const TOKEN_WAKE: u64 = 2;
const TOKEN_STEER: u64 = 3;

impl UserTransport {
    /// Worker `index`'s transport over `stack`, woken by the mailbox eventfd `wake`.
    pub fn new(
        stack: Stack<BoxDevice>,
        clock: MonotonicClock,
        pool: Pool,
        index: usize,
        wake: BorrowedFd<'_>,
        shared: Option<Shared>,
        idle_sleep: Duration,
    ) -> io::Result<Self> {
        let epoll = match stack.device.as_fd() {
            None => None,
            Some(fd) => {
                let ep = epoll::create(epoll::CreateFlags::CLOEXEC)?;
                epoll::add(&ep, fd, EventData::new_u64(TOKEN_DEVICE), EventFlags::IN)?;
                let et = EventFlags::IN | EventFlags::ET;
                epoll::add(&ep, wake, EventData::new_u64(TOKEN_WAKE), et)?;
                if let Some(s) = &shared {
                    // Frames steered here are drained by the device's receive; this only wakes.
                    let fd = s.steering.wake_fd(index);
                    epoll::add(&ep, fd, EventData::new_u64(TOKEN_STEER), et)?;
                }
                Some(ep)
            }
        };
        Ok(UserTransport {
            stack,
            clock,
            pool,
            index,
            listeners: Vec::new(),
            epoll,
            idle_sleep,
            rx_seen: 0,
            now: crate::time::Instant::ZERO,
            shared,
            drained: false,
        })
    }

    /// A transport rebuilt over what survived a restart, with a fresh stack.
    pub fn from_parts(
        parts: Parts,
        make_stack: impl FnOnce(BoxDevice, Pool) -> Stack<BoxDevice>,
        clock: MonotonicClock,
        index: usize,
        wake: BorrowedFd<'_>,
        shared: Option<Shared>,
        idle_sleep: Duration,
    ) -> io::Result<Self> {
        let stack = make_stack(parts.device, parts.pool.clone());
        let mut t = UserTransport::new(stack, clock, parts.pool, index, wake, shared, idle_sleep)?;
        t.drained = parts.drained;
        Ok(t)
    }

    /// Listens on `l` (an unspecified address means the interface's address; port 0 is not
    /// supported); returns the address.
    pub fn listen(&mut self, l: &Listen) -> io::Result<SocketAddrV4> {
        let SocketAddr::V4(addr) = l.addr else {
            return Err(io::Error::new(
                io::ErrorKind::Unsupported,
                "the user stack is IPv4 only",
            ));
        };
        if addr.port() == 0 {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "listen: port 0 is not supported on the user stack",
            ));
        }
        let id = self
            .stack
            .tcp
            .listen(addr, l.backlog.max(1) as usize)
            .map_err(|e| io::Error::new(io::ErrorKind::AddrInUse, format!("listen {addr}: {e}")))?;
        self.listeners.push(id);
        let ip = if addr.ip().is_unspecified() {
            self.stack.iface.config().addr
        } else {
            *addr.ip()
        };
        Ok(SocketAddrV4::new(ip, addr.port()))
    }

    /// Counts this worker as drained (once); the last one wakes every worker.
    fn leave_drain(&mut self) {
        let Some(s) = &self.shared else {
            return;
        };
        if !self.drained {
            self.drained = true;
            if s.draining.fetch_sub(1, Ordering::AcqRel) == 1 {
                (0..s.steering.workers()).for_each(|w| s.steering.notify(w));
            }
        }
    }
}

impl Transport for UserTransport {
    type Durable = Parts;
    const FLUSH_AFTER_INPUT: bool = false;

    fn wait(&mut self, timeout: Option<Duration>) {
        let received = self.stack.stats.rx_frames != self.rx_seen;
        self.rx_seen = self.stack.stats.rx_frames;
        let Some(ep) = &self.epoll else {
            // Polled: spin while frames come, idle briefly when none did.
            if self.idle_sleep.is_zero() || received || timeout == Some(Duration::ZERO) {
                return;
            }
            let nap = timeout.map_or(self.idle_sleep, |t| t.min(self.idle_sleep));
            std::thread::sleep(nap);
            return;
        };
        let ts = timeout.map(|d| rustix::time::Timespec {
            tv_sec: d.as_secs() as i64,
            tv_nsec: d.subsec_nanos() as i64,
        });
        // Only waking matters: the turn that follows polls everything.
        let mut ready = [std::mem::MaybeUninit::<epoll::Event>::uninit(); 8];
        if let Err(e) = epoll::wait(ep, &mut ready, ts.as_ref()) {
            if e != rustix::io::Errno::INTR {
                eprintln!("user worker {}: epoll_wait: {e}", self.index);
            }
        }
    }

    fn poll(&mut self, now: Instant, events: &mut VecDeque<Event>) {
        let now = self.clock.at(now);
        self.now = now;
        self.stack.receive(now);
        self.stack.timers(now);
        while let Some(ev) = self.stack.tcp.poll_event() {
            events.push_back(match ev {
                crate::tcp::Event::Accepted {
                    listener,
                    handle,
                    local,
                    peer,
                } => {
                    let listener = self.listeners.iter().position(|l| *l == listener);
                    Event::Accepted {
                        conn: conn_of(handle),
                        info: Accepted {
                            listener: listener.unwrap_or(0),
                            peer: SocketAddr::V4(peer),
                            local: SocketAddr::V4(local),
                        },
                    }
                }
                crate::tcp::Event::Data { handle, data } => Event::Data {
                    conn: conn_of(handle),
                    data,
                },
                crate::tcp::Event::PeerClosed(h) => Event::PeerClosed(conn_of(h)),
                crate::tcp::Event::Writable(h) => Event::Writable(conn_of(h)),
                crate::tcp::Event::Closed(h) => Event::Closed(conn_of(h)),
                crate::tcp::Event::Connected(_) | crate::tcp::Event::ConnectFailed(_) => continue,
            });
        }
    }

    fn write(&mut self, conn: Conn, out: &mut VecDeque<Bytes>) -> io::Result<usize> {
        match self.stack.tcp.send_from(handle_of(conn), out) {
            Ok(n) => Ok(n),
            Err(TcpError::BufferFull) => Ok(0),
            // Reset or closed under us: the engine reports `Closed`.
            Err(e) => Err(io::Error::new(io::ErrorKind::NotConnected, format!("{e}"))),
        }
    }

    fn finish(&mut self, conn: Conn) {
        self.stack.tcp.close(handle_of(conn));
    }

    fn abort(&mut self, conn: Conn) {
        self.stack.tcp.abort(handle_of(conn));
    }

    fn pause_reading(&mut self, conn: Conn, paused: bool) {
        self.stack.tcp.pause_reading(handle_of(conn), paused);
    }

    fn stop_listening(&mut self) {
        for id in std::mem::take(&mut self.listeners) {
            self.stack.tcp.unlisten(id);
        }
    }

    fn control(&mut self, _msg: Box<dyn Any + Send>, _events: &mut VecDeque<Event>) {}

    fn flush(&mut self, _now: Instant) {
        self.stack.transmit(self.now);
    }

    fn busy(&self) -> bool {
        self.stack.busy()
    }

    fn poll_at(&self) -> Option<Instant> {
        self.stack.poll_at().map(|t| self.clock.to_std(t))
    }

    fn drained(&mut self) -> bool {
        self.leave_drain();
        self.shared
            .as_ref()
            .is_none_or(|s| s.draining.load(Ordering::Acquire) == 0)
    }

    fn farewell(&self, index: usize, stats: &WorkerStats) -> Option<String> {
        let s = self.shared.as_ref()?;
        if s.steering.workers() < 2 {
            return None;
        }
        let c = s.steering.counters(index);
        let get = |a: &std::sync::atomic::AtomicU64| a.load(Ordering::Relaxed);
        Some(format!(
            "user worker {index}: accepted {} connections; steered {} frames out, {} in, \
             {} ARP copies, {} ring drops",
            WorkerStats::get(&stats.accepted),
            get(&c.forwarded),
            get(&c.received),
            get(&c.replicated),
            get(&c.ring_full),
        ))
    }

    fn into_durable(self) -> Parts {
        // The old stack's connections go with it; its device carries on, and so does this
        // worker's place in a graceful stop.
        let UserTransport {
            stack,
            pool,
            drained,
            ..
        } = self;
        let Stack { device, .. } = stack;
        Parts {
            device,
            pool,
            drained,
        }
    }
}
