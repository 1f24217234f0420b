//! The user-space stack behind the application API: [`Stack`] (device + IPv4 + TCP + UDP)
//! and the glue that runs any [`Service`] on it with the kernel transport's semantics.
//!
//! Semantics kept from the kernel transport (`kernel.rs`):
//! - `send` never refuses: data the TCP engine does not take yet (its send queue is at
//!   `tx_buffer`) waits in a per-connection overflow queue, in order; `queued` is that
//!   overflow (bytes not yet handed to the network, i.e. to TCP), and `on_writable` runs once
//!   the overflow is empty after the service sent something, as the kernel transport does when
//!   the socket took everything.
//! - `close`: FIN after all queued data (overflow first, then TCP's queue); no callback but
//!   `on_closed` follows. `abort`: RST now, `on_closed` follows.
//! - `pause_reading` maps to the engine's (received data is held and the window closes).
//! - One timer per connection; `post` between workers through the runtime's mailboxes; a
//!   graceful stop stops listening and exits when the last connection is gone.
//!
//! The loop blocks in `epoll_wait` on the device fd, the mailbox eventfd (and the steering
//! eventfd) until the next timer, so an idle server uses no CPU. [`start`] runs one worker over
//! a single-queue TAP device; [`start_workers`] runs one pinned worker per queue of a
//! multi-queue TAP device, each with its own stack, buffer pool and service, and steers
//! frames between them in software ([`steer`]: flows by a symmetric Toeplitz hash of the
//! 4-tuple, ARP replicated to every worker).

pub mod config;
mod stack;
pub mod steer;
#[cfg(test)]
mod tests;

pub use stack::{emit_tcp, with_slices, Stack, StackStats};
pub use steer::{Steered, Steering};

use std::cmp::Reverse;
use std::collections::{BinaryHeap, VecDeque};
use std::hash::{BuildHasher, Hasher};
use std::io;
use std::net::{SocketAddr, SocketAddrV4};
use std::os::fd::AsFd;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use rustix::event::epoll::{self, EventData, EventFlags};

use crate::app::{Accepted, Conn, Cx, Service};
use crate::buf::Pool;
use crate::dev::{Device, Fault, FaultConfig, Pcap, Tap};
use crate::ip::IfaceConfig;
use crate::runtime::{allowed_cpus, pin_to, Envelope, Listen, Mailbox, Runtime};
use crate::tcp::{Event, Handle, ListenerId, TcpConfig, TcpError};
use crate::time::{Clock, Instant, MonotonicClock};

/// Everything needed to bring the user-space stack up on a TAP device.
#[derive(Debug, Clone)]
pub struct UserConfig {
    /// TAP interface name (created if missing; needs CAP_NET_ADMIN then).
    pub interface: String,
    pub iface: IfaceConfig,
    pub tcp: TcpConfig,
    /// Receive + header buffers in the pool.
    pub buffers: usize,
    /// Capture every frame to this pcap file.
    pub pcap: Option<std::path::PathBuf>,
    /// Inject faults on the device (tests).
    pub fault: Option<FaultConfig>,
    /// For polled devices (no file descriptor, e.g. DPDK): how long a worker sleeps after a
    /// turn that found nothing to do. Zero busy-polls (lowest latency, a full core per worker).
    pub idle_sleep: Duration,
}

/// The device type the loop runs on.
pub type BoxDevice = Box<dyn Device + Send>;

/// Opens the configured device: TAP, optionally wrapped in fault injection and capture.
pub fn open_device(cfg: &UserConfig, pool: &Pool) -> io::Result<BoxDevice> {
    let mut tap = Tap::open(&cfg.interface, pool.clone())?;
    tap.set_mtu(cfg.iface.mtu);
    wrap_device(cfg, Box::new(tap), None)
}

/// Wraps a device in the configured fault injection and capture. Worker `Some(index)` of
/// several captures to `PATH.index`.
pub fn wrap_device(
    cfg: &UserConfig,
    mut dev: BoxDevice,
    worker: Option<usize>,
) -> io::Result<BoxDevice> {
    if let Some(f) = &cfg.fault {
        dev = Box::new(Fault::new(dev, f.clone()));
    }
    if let Some(path) = &cfg.pcap {
        let path = match worker {
            Some(index) => {
                let mut p = path.clone().into_os_string();
                p.push(format!(".{index}"));
                p.into()
            }
            None => path.clone(),
        };
        dev = Box::new(Pcap::create(dev, &path)?);
    }
    Ok(dev)
}

/// A random key for ISNs, SYN cookies and timestamp offsets.
pub fn random_secret() -> [u8; 16] {
    let mut out = [0u8; 16];
    for half in out.chunks_mut(8) {
        let mut h = std::collections::hash_map::RandomState::new().build_hasher();
        h.write_u64(std::process::id() as u64);
        half.copy_from_slice(&h.finish().to_ne_bytes());
    }
    out
}

/// Starts one worker thread running `make(0)` on the user-space stack over the configured
/// device, listening on `listen` (address 0.0.0.0 means the interface's address). The device
/// is opened here, so its errors surface before the thread starts. The returned handle stops
/// the worker, posts to it and joins it like the kernel runtime's.
pub fn start<S, F>(cfg: UserConfig, listen: &[Listen], make: F) -> io::Result<Runtime<S::Msg>>
where
    S: Service,
    F: FnOnce(usize) -> S + Send + 'static,
{
    let pool = worker_pool(&cfg);
    let device = open_device(&cfg, &pool)?;
    let clock = MonotonicClock::new();
    let stack = Stack::new(
        device,
        cfg.iface.clone(),
        cfg.tcp.clone(),
        pool,
        clock.now(),
        random_secret(),
    );
    let mut glue = Glue::new(stack, clock)?;
    let mailboxes = glue.mailboxes.clone();
    let mut bound = Vec::new();
    for l in listen {
        let addr = glue.listen(l)?;
        bound.push(SocketAddr::V4(addr));
    }
    let thread = std::thread::Builder::new()
        .name("user-worker-0".into())
        .spawn(move || {
            let service = make(0);
            if let Err(e) = run(&mut glue, service) {
                eprintln!("user worker: {e}");
            }
        })?;
    Ok(Runtime::from_parts(
        mailboxes,
        vec![thread],
        listen.to_vec(),
        bound,
    ))
}

/// Opens worker `index`'s device: its own queue of the multi-queue TAP interface behind the
/// shared `steering`, optionally wrapped in fault injection and capture (one pcap file per
/// worker: `PATH.N` when there are several).
pub fn open_worker_device(
    cfg: &UserConfig,
    pool: &Pool,
    steering: &Arc<Steering>,
    index: usize,
) -> io::Result<BoxDevice> {
    let mut tap = Tap::open_queue(&cfg.interface, pool.clone())?;
    tap.set_mtu(cfg.iface.mtu);
    let steered = Box::new(Steered::new(tap, steering.clone(), index));
    wrap_device(cfg, steered, (steering.workers() > 1).then_some(index))
}

/// Starts `workers` threads, each pinned to an allowed CPU and running `make(index)` on its
/// own user-space stack over its own queue of the multi-queue TAP interface (created with
/// `IFF_MULTI_QUEUE` if missing), listening on `listen` (0.0.0.0 means the interface's
/// address) in every worker. Frames are steered to the worker owning their flow (see
/// [`steer`]). Devices are opened and listeners set up here, so errors surface before any
/// thread starts. A graceful stop ([`Runtime::quit`]) ends every worker once all of them have
/// no connection left (a worker keeps steering frames for the others until then).
pub fn start_workers<S, F>(
    cfg: UserConfig,
    workers: usize,
    listen: &[Listen],
    make: F,
) -> io::Result<Runtime<S::Msg>>
where
    S: Service,
    F: Fn(usize) -> S + Send + Sync + 'static,
{
    let n = workers.max(1);
    let steering = Arc::new(Steering::new(n)?);
    let pools: Vec<Pool> = (0..n).map(|_| worker_pool(&cfg)).collect();
    let devices = pools
        .iter()
        .enumerate()
        .map(|(index, pool)| open_worker_device(&cfg, pool, &steering, index))
        .collect::<io::Result<Vec<_>>>()?;
    let workers = pools.into_iter().zip(devices).collect();
    start_on(&cfg, workers, Some(steering), listen, make)
}

/// The buffer pool of one worker: its stack's transmit headers, and receive buffers for
/// devices that read into netstack buffers (TAP).
pub fn worker_pool(cfg: &UserConfig) -> Pool {
    Pool::with_capacity(cfg.buffers.max(64))
}

/// Starts one pinned worker per `(pool, device)` pair, each running `make(index)` on its own
/// stack over its device, listening on `listen` in every worker; the device layer behind them
/// is the caller's (a TAP queue, a DPDK queue). `steering` is the software steering the devices
/// share, if they are [`Steered`]. A device without a file descriptor is polled: the worker
/// loops without blocking, sleeping `cfg.idle_sleep` after a turn that found nothing to do.
pub fn start_on<S, F>(
    cfg: &UserConfig,
    workers: Vec<(Pool, BoxDevice)>,
    steering: Option<Arc<Steering>>,
    listen: &[Listen],
    make: F,
) -> io::Result<Runtime<S::Msg>>
where
    S: Service,
    F: Fn(usize) -> S + Send + Sync + 'static,
{
    let n = workers.len();
    let mailboxes: Arc<Vec<Mailbox<S::Msg>>> =
        Arc::new((0..n).map(|_| Mailbox::new()).collect::<io::Result<_>>()?);
    let draining = Arc::new(AtomicUsize::new(n));
    let secret = random_secret();
    let clock = MonotonicClock::new();
    let mut glues = Vec::with_capacity(n);
    let mut bound = Vec::new();
    for (index, (pool, device)) in workers.into_iter().enumerate() {
        let stack = Stack::new(
            device,
            cfg.iface.clone(),
            cfg.tcp.clone(),
            pool,
            clock.now(),
            secret,
        );
        let mut glue = Glue::with_mailboxes(stack, mailboxes.clone(), clock);
        glue.index = index;
        glue.steering = steering.clone();
        glue.draining = Some(draining.clone());
        glue.idle_sleep = cfg.idle_sleep;
        for l in listen {
            let addr = glue.listen(l)?;
            if index == 0 {
                bound.push(SocketAddr::V4(addr));
            }
        }
        glues.push(glue);
    }
    let cpus = allowed_cpus();
    let make = Arc::new(make);
    let mut threads = Vec::with_capacity(n);
    for (index, mut glue) in glues.into_iter().enumerate() {
        let cpu = (!cpus.is_empty()).then(|| cpus[index % cpus.len()]);
        let make = make.clone();
        let thread = std::thread::Builder::new()
            .name(format!("user-worker-{index}"))
            .spawn(move || {
                pin_to(cpu);
                let service = make(index);
                if let Err(e) = run(&mut glue, service) {
                    eprintln!("user worker {index}: {e}");
                }
                // A worker that ends for any reason no longer holds a graceful stop back.
                leave_drain(&mut glue);
                if n > 1 {
                    report_steering(&glue);
                }
            })?;
        threads.push(thread);
    }
    Ok(Runtime::from_parts(
        mailboxes,
        threads,
        listen.to_vec(),
        bound,
    ))
}

fn report_steering<M: Send + 'static>(glue: &Glue<M>) {
    let index = glue.index;
    let c = glue.steering.as_ref().map(|s| s.counters(index));
    let get = |f: fn(&steer::SteerCounters) -> &std::sync::atomic::AtomicU64| {
        c.map_or(0, |c| f(c).load(Ordering::Relaxed))
    };
    eprintln!(
        "user worker {index}: accepted {} connections; steered {} frames out, {} in, \
         {} ARP copies, {} ring drops",
        glue.stack.tcp.stats().accepted,
        get(|c| &c.forwarded),
        get(|c| &c.received),
        get(|c| &c.replicated),
        get(|c| &c.ring_full),
    );
}

/// Per-connection glue state (the engine owns the TCB).
struct Slot {
    generation: u32,
    overflow: VecDeque<Bytes>,
    overflow_len: usize,
    /// The service closed: FIN once the overflow drained; no more callbacks but `on_closed`.
    closing: bool,
    fin_sent: bool,
    /// Aborted: `on_closed` already owed by us; the engine's `Closed` is ignored.
    dead: bool,
    dirty: bool,
    had_output: bool,
    timer_seq: u64,
}

/// The [`Cx`] of the user-space stack: the stack plus the per-connection glue.
pub struct Glue<M: Send + 'static> {
    pub stack: Stack<BoxDevice>,
    clock: MonotonicClock,
    slots: Vec<Option<Slot>>,
    live: usize,
    listeners: Vec<ListenerId>,
    timers: BinaryHeap<Reverse<(std::time::Instant, u32, u32, u64)>>,
    timer_seq: u64,
    dirty: Vec<Handle>,
    closed: Vec<Conn>,
    local: VecDeque<M>,
    mailboxes: Arc<Vec<Mailbox<M>>>,
    now: std::time::Instant,
    now_t: Instant,
    wall: SystemTime,
    stopping: bool,
    exit: bool,
    /// This worker's number.
    index: usize,
    /// Software steering shared with the other workers of a multi-queue device.
    steering: Option<Arc<Steering>>,
    /// Workers that have not finished a graceful stop yet (shared); `drained`: this one has.
    draining: Option<Arc<AtomicUsize>>,
    drained: bool,
    /// Polled devices: sleep after an idle turn (see [`UserConfig::idle_sleep`]).
    idle_sleep: Duration,
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

impl<M: Send + 'static> Glue<M> {
    /// A glue with its own (single-worker) mailbox.
    pub fn new(stack: Stack<BoxDevice>, clock: MonotonicClock) -> io::Result<Self> {
        Ok(Glue::with_mailboxes(
            stack,
            Arc::new(vec![Mailbox::new()?]),
            clock,
        ))
    }

    fn with_mailboxes(
        stack: Stack<BoxDevice>,
        mailboxes: Arc<Vec<Mailbox<M>>>,
        clock: MonotonicClock,
    ) -> Self {
        Glue {
            stack,
            now_t: clock.now(),
            clock,
            slots: Vec::new(),
            live: 0,
            listeners: Vec::new(),
            timers: BinaryHeap::new(),
            timer_seq: 0,
            dirty: Vec::new(),
            closed: Vec::new(),
            local: VecDeque::new(),
            mailboxes,
            now: std::time::Instant::now(),
            wall: SystemTime::now(),
            stopping: false,
            exit: false,
            index: 0,
            steering: None,
            draining: None,
            drained: false,
            idle_sleep: Duration::ZERO,
        }
    }

    /// Listens on `l` (an unspecified address means the interface's address; port 0 is not
    /// supported).
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

    fn slot(&self, c: Conn) -> Option<&Slot> {
        self.slots
            .get(c.index())?
            .as_ref()
            .filter(|s| s.generation == c.generation() && !s.dead)
    }

    fn slot_mut(&mut self, c: Conn) -> Option<&mut Slot> {
        self.slots
            .get_mut(c.index())?
            .as_mut()
            .filter(|s| s.generation == c.generation() && !s.dead)
    }

    fn mark_dirty(&mut self, h: Handle) {
        if let Some(s) = self.slots[h.index as usize].as_mut() {
            if !s.dirty {
                s.dirty = true;
                self.dirty.push(h);
            }
        }
    }

    fn insert(&mut self, h: Handle) {
        let i = h.index as usize;
        if self.slots.len() <= i {
            self.slots.resize_with(i + 1, || None);
        }
        self.slots[i] = Some(Slot {
            generation: h.generation,
            overflow: VecDeque::new(),
            overflow_len: 0,
            closing: false,
            fin_sent: false,
            dead: false,
            dirty: false,
            had_output: false,
            timer_seq: 0,
        });
        self.live += 1;
    }

    fn remove(&mut self, h: Handle) -> Option<Slot> {
        let slot = self.slots.get_mut(h.index as usize)?;
        if slot.as_ref()?.generation != h.generation {
            return None;
        }
        self.live -= 1;
        slot.take()
    }

    /// Moves overflow into the engine while it takes it; sends the FIN of a closing
    /// connection once everything is in. Returns true when the overflow is empty.
    fn push_overflow(&mut self, h: Handle) -> bool {
        let Some(Some(s)) = self.slots.get_mut(h.index as usize) else {
            return true;
        };
        while let Some(data) = s.overflow.pop_front() {
            let len = data.len();
            match self.stack.tcp.send(h, data.clone()) {
                Ok(()) => s.overflow_len -= len,
                Err(TcpError::BufferFull) => {
                    s.overflow.push_front(data);
                    return false;
                }
                Err(_) => {
                    s.overflow.clear();
                    s.overflow_len = 0;
                }
            }
        }
        if s.closing && !s.fin_sent {
            s.fin_sent = true;
            self.stack.tcp.close(h);
        }
        true
    }
}

impl<M: Send + 'static> Cx for Glue<M> {
    type Msg = M;

    fn now(&self) -> std::time::Instant {
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
        let h = handle_of(conn);
        let Some(s) = self.slot_mut(conn).filter(|s| !s.closing) else {
            return;
        };
        s.had_output = true;
        if s.overflow.is_empty() {
            // The engine refuses whole buffers only: on BufferFull, `data` comes back to
            // the overflow through a clone (a reference count, not a copy).
            match self.stack.tcp.send(h, data.clone()) {
                Err(TcpError::BufferFull) => {}
                _ => return self.mark_dirty(h),
            }
        }
        let s = self.slot_mut(conn).expect("checked above");
        s.overflow_len += data.len();
        s.overflow.push_back(data);
        self.mark_dirty(h);
    }

    fn queued(&self, conn: Conn) -> usize {
        self.slot(conn).map_or(0, |s| s.overflow_len)
    }

    fn close(&mut self, conn: Conn) {
        let h = handle_of(conn);
        let Some(s) = self.slot_mut(conn).filter(|s| !s.closing) else {
            return;
        };
        s.closing = true;
        s.timer_seq = 0;
        self.mark_dirty(h);
    }

    fn abort(&mut self, conn: Conn) {
        let Some(s) = self.slot_mut(conn) else {
            return;
        };
        s.dead = true;
        self.stack.tcp.abort(handle_of(conn));
        self.closed.push(conn);
    }

    fn pause_reading(&mut self, conn: Conn, paused: bool) {
        if self.slot(conn).is_some() {
            self.stack.tcp.pause_reading(handle_of(conn), paused);
        }
    }

    fn set_timer(&mut self, conn: Conn, deadline: Option<std::time::Instant>) {
        self.timer_seq += 1;
        let seq = self.timer_seq;
        let Some(s) = self.slot_mut(conn).filter(|s| !s.closing) else {
            return;
        };
        match deadline {
            Some(at) => {
                s.timer_seq = seq;
                self.timers
                    .push(Reverse((at, conn.index() as u32, conn.generation(), seq)));
            }
            None => s.timer_seq = 0,
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

const TOKEN_DEVICE: u64 = 1;
const TOKEN_WAKE: u64 = 2;
const TOKEN_STEER: u64 = 3;

/// Runs the loop until told to stop (or a graceful stop finished): blocking in `epoll_wait`
/// when the device has a file descriptor, polling otherwise.
pub fn run<S: Service>(glue: &mut Glue<S::Msg>, mut service: S) -> io::Result<()> {
    let Some(fd) = glue.stack.device.as_fd() else {
        run_polled(glue, service);
        return Ok(());
    };
    let ep = epoll::create(epoll::CreateFlags::CLOEXEC)?;
    epoll::add(&ep, fd, EventData::new_u64(TOKEN_DEVICE), EventFlags::IN)?;
    let mailboxes = glue.mailboxes.clone();
    let me = glue.index;
    epoll::add(
        &ep,
        mailboxes[me].wake.as_fd(),
        EventData::new_u64(TOKEN_WAKE),
        EventFlags::IN | EventFlags::ET,
    )?;
    if let Some(s) = glue.steering.clone() {
        // Frames steered here are drained by the device's receive; the event only wakes us.
        epoll::add(
            &ep,
            s.wake_fd(me),
            EventData::new_u64(TOKEN_STEER),
            EventFlags::IN | EventFlags::ET,
        )?;
    }
    let mut events: Vec<epoll::Event> = Vec::with_capacity(8);
    let mut tick_at: Option<std::time::Instant> = None;
    let mut timeout = Some(Duration::ZERO);
    while !glue.exit {
        events.clear();
        let ts = timeout.map(|d| rustix::time::Timespec {
            tv_sec: d.as_secs() as i64,
            tv_nsec: d.subsec_nanos() as i64,
        });
        match epoll::wait(
            &ep,
            rustix::buffer::spare_capacity(&mut events),
            ts.as_ref(),
        ) {
            Ok(_) | Err(rustix::io::Errno::INTR) => {}
            Err(e) => return Err(e.into()),
        }
        if events.iter().any(|e| e.data.u64() == TOKEN_WAKE) {
            take_mail(glue, &mut service);
        }
        tick_at = turn(glue, &mut service, tick_at);
        timeout = next_timeout(glue, tick_at);
    }
    Ok(())
}

/// The loop for a device without a file descriptor (DPDK's poll-mode drivers): turns without
/// blocking, checking the mailbox by its flag rather than by a system call; after a turn that
/// received nothing and left nothing to do, sleeps `idle_sleep` (or until the next deadline).
fn run_polled<S: Service>(glue: &mut Glue<S::Msg>, mut service: S) {
    let mut tick_at: Option<std::time::Instant> = None;
    while !glue.exit {
        if glue.mailboxes[glue.index].has_mail() {
            take_mail(glue, &mut service);
        }
        let received = glue.stack.stats.rx_frames;
        tick_at = turn(glue, &mut service, tick_at);
        if glue.idle_sleep.is_zero() || glue.stack.stats.rx_frames != received {
            continue;
        }
        match next_timeout(glue, tick_at) {
            Some(Duration::ZERO) => {}
            next => std::thread::sleep(next.map_or(glue.idle_sleep, |t| t.min(glue.idle_sleep))),
        }
    }
}

/// Takes what other threads posted to this worker.
fn take_mail<S: Service>(glue: &mut Glue<S::Msg>, service: &mut S) {
    let mailboxes = glue.mailboxes.clone();
    mailboxes[glue.index].drain(|m| match m {
        Envelope::App(m) => glue.local.push_back(m),
        Envelope::Stop => glue.exit = true,
        Envelope::Quit => begin_quit(glue, service),
        Envelope::Listeners(..) => {} // kernel sockets: not for this transport
    });
}

/// One loop turn, shared by the TAP loop and tests that drive a glue by hand.
pub fn turn<S: Service>(
    glue: &mut Glue<S::Msg>,
    service: &mut S,
    _tick: Option<std::time::Instant>,
) -> Option<std::time::Instant> {
    glue.now = std::time::Instant::now();
    glue.wall = SystemTime::now();
    glue.now_t = glue.clock.now();
    let now = glue.now_t;
    glue.stack.receive(now);
    glue.stack.timers(now);
    deliver_events(glue, service);
    deliver_messages(glue, service);
    expire_timers(glue, service);
    let tick = service.on_tick(glue);
    flush_dirty(glue, service);
    deliver_events(glue, service);
    deliver_closed(glue, service);
    glue.stack.transmit(now);
    if glue.stopping && glue.live == 0 {
        finish_drain(glue);
    }
    tick
}

fn next_timeout<M: Send + 'static>(
    glue: &Glue<M>,
    tick_at: Option<std::time::Instant>,
) -> Option<Duration> {
    if !glue.local.is_empty() || !glue.dirty.is_empty() || !glue.closed.is_empty() {
        return Some(Duration::ZERO);
    }
    let now = glue.clock.now();
    let stack = glue.stack.timeout(now);
    let app = glue
        .timers
        .peek()
        .map(|Reverse((at, ..))| *at)
        .into_iter()
        .chain(tick_at)
        .min()
        .map(|at| at.saturating_duration_since(std::time::Instant::now()));
    let next = [stack, app].into_iter().flatten().min()?;
    // Whole milliseconds, rounded up: never wake just before a deadline and spin.
    Some(Duration::from_millis(next.as_micros().div_ceil(1000) as u64))
}

/// A graceful stop ends a worker once it has no connection left; with steering, once no
/// worker has any (until then it keeps receiving and steering frames for the others). The
/// last worker to drain wakes the rest.
fn finish_drain<M: Send + 'static>(glue: &mut Glue<M>) {
    let Some(draining) = glue.draining.clone() else {
        glue.exit = true;
        return;
    };
    leave_drain(glue);
    if draining.load(Ordering::Acquire) == 0 {
        glue.exit = true;
    }
}

/// Counts this worker as drained (once); the last one wakes every worker.
fn leave_drain<M: Send + 'static>(glue: &mut Glue<M>) {
    let Some(draining) = &glue.draining else {
        return;
    };
    if !glue.drained {
        glue.drained = true;
        if draining.fetch_sub(1, Ordering::AcqRel) == 1 {
            if let Some(s) = &glue.steering {
                (0..s.workers()).for_each(|w| s.notify(w));
            }
        }
    }
}

fn begin_quit<S: Service>(glue: &mut Glue<S::Msg>, service: &mut S) {
    if glue.stopping {
        return;
    }
    glue.stopping = true;
    for id in std::mem::take(&mut glue.listeners) {
        glue.stack.tcp.unlisten(id);
    }
    service.on_stop(glue);
}

fn deliver_events<S: Service>(glue: &mut Glue<S::Msg>, service: &mut S) {
    while let Some(ev) = glue.stack.tcp.poll_event() {
        match ev {
            Event::Accepted {
                listener,
                handle,
                local,
                peer,
            } => {
                if glue.stopping {
                    glue.stack.tcp.abort(handle);
                    continue;
                }
                glue.insert(handle);
                let info = Accepted {
                    listener: glue
                        .listeners
                        .iter()
                        .position(|l| *l == listener)
                        .unwrap_or(0),
                    peer: SocketAddr::V4(peer),
                    local: SocketAddr::V4(local),
                };
                service.on_accept(glue, conn_of(handle), &info);
            }
            Event::Data { handle, data } => {
                let conn = conn_of(handle);
                if glue.slot(conn).is_some_and(|s| !s.closing) {
                    service.on_data(glue, conn, data);
                }
            }
            Event::PeerClosed(handle) => {
                let conn = conn_of(handle);
                if glue.slot(conn).is_some_and(|s| !s.closing) {
                    service.on_peer_closed(glue, conn);
                }
            }
            Event::Writable(handle) => {
                if glue.slot(conn_of(handle)).is_some() {
                    glue.mark_dirty(handle);
                }
            }
            Event::Closed(handle) => {
                if let Some(slot) = glue.remove(handle) {
                    if !slot.dead {
                        service.on_closed(glue, conn_of(handle));
                    }
                }
            }
            Event::Connected(_) | Event::ConnectFailed(_) => {}
        }
    }
}

fn deliver_messages<S: Service>(glue: &mut Glue<S::Msg>, service: &mut S) {
    for _ in 0..glue.local.len() {
        let Some(m) = glue.local.pop_front() else {
            break;
        };
        service.on_message(glue, m);
    }
}

fn expire_timers<S: Service>(glue: &mut Glue<S::Msg>, service: &mut S) {
    while let Some(Reverse((at, index, generation, seq))) = glue.timers.peek().copied() {
        if at > glue.now {
            break;
        }
        glue.timers.pop();
        let conn = Conn::new(index, generation);
        let Some(s) = glue.slot_mut(conn) else {
            continue;
        };
        if s.timer_seq != seq || s.closing {
            continue;
        }
        s.timer_seq = 0;
        service.on_timer(glue, conn);
    }
}

/// Pushes overflow into TCP and calls `on_writable` where everything was taken; bounded
/// passes, as a service may send again from `on_writable`.
fn flush_dirty<S: Service>(glue: &mut Glue<S::Msg>, service: &mut S) {
    for _ in 0..4 {
        let dirty = std::mem::take(&mut glue.dirty);
        if dirty.is_empty() {
            return;
        }
        for h in dirty {
            let Some(Some(s)) = glue.slots.get_mut(h.index as usize) else {
                continue;
            };
            if s.generation != h.generation {
                continue;
            }
            s.dirty = false;
            if s.dead || !glue.push_overflow(h) {
                continue;
            }
            let s = glue.slots[h.index as usize].as_mut().unwrap();
            if s.had_output && !s.closing {
                s.had_output = false;
                service.on_writable(glue, conn_of(h));
            }
        }
    }
}

fn deliver_closed<S: Service>(glue: &mut Glue<S::Msg>, service: &mut S) {
    while let Some(conn) = glue.closed.pop() {
        service.on_closed(glue, conn);
    }
}
