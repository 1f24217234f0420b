//! The per-core runtime: one pinned worker thread per core, each running its own transport loop
//! and its own service instance; a [`Runtime`] handle for the controlling thread to stop,
//! reload (message) and re-listen.

use std::io;
use std::net::{SocketAddr, TcpListener};
use std::os::fd::OwnedFd;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;

use crossbeam_queue::SegQueue;
use rustix::event::{eventfd, EventfdFlags};

use crate::app::Service;
use crate::kernel;

/// How many workers to run: `"auto"` (one per core this process may use) or a number.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Workers {
    Auto,
    Count(usize),
}

impl Workers {
    pub fn resolve(self) -> usize {
        match self {
            Workers::Count(n) => n.max(1),
            Workers::Auto => allowed_cpus().len().max(1),
        }
    }
}

/// A listening address and its accept backlog.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct Listen {
    pub addr: SocketAddr,
    pub backlog: i32,
}

impl Listen {
    pub fn new(addr: SocketAddr) -> Self {
        Listen { addr, backlog: 511 }
    }
}

/// What the controlling thread tells a worker, besides the service's own messages.
pub(crate) enum Envelope<M> {
    App(M),
    /// Stop at once, dropping connections.
    Stop,
    /// Stop accepting; finish in-flight work; exit when no connection is left.
    Quit,
    /// Replace the listener set: `addrs[i]` becomes listener `i`; sockets for addresses the
    /// worker does not have yet come with the message.
    Listeners(Vec<SocketAddr>, Vec<(SocketAddr, TcpListener)>),
}

/// A worker's inbox: lock-free queue plus an eventfd that wakes the worker's loop.
pub(crate) struct Mailbox<M> {
    queue: SegQueue<Envelope<M>>,
    notified: AtomicBool,
    pub(crate) wake: OwnedFd,
}

impl<M> Mailbox<M> {
    pub(crate) fn new() -> io::Result<Self> {
        let wake = eventfd(0, EventfdFlags::NONBLOCK | EventfdFlags::CLOEXEC)?;
        Ok(Mailbox {
            queue: SegQueue::new(),
            notified: AtomicBool::new(false),
            wake,
        })
    }

    pub(crate) fn push(&self, msg: Envelope<M>) {
        self.queue.push(msg);
        // One eventfd write per batch: the receiver clears `notified` before draining.
        if !self.notified.swap(true, Ordering::AcqRel) {
            let _ = rustix::io::write(&self.wake, &1u64.to_ne_bytes());
        }
    }

    /// Whether something was posted since the last drain (for loops that poll).
    pub(crate) fn has_mail(&self) -> bool {
        self.notified.load(Ordering::Acquire)
    }

    /// Takes everything posted so far; call after the eventfd fired (or at any time).
    pub(crate) fn drain(&self, mut each: impl FnMut(Envelope<M>)) {
        self.notified.store(false, Ordering::Release);
        let mut counter = [0u8; 8];
        let _ = rustix::io::read(&self.wake, &mut counter);
        while let Some(msg) = self.queue.pop() {
            each(msg);
        }
    }
}

/// Everything one worker thread needs to start.
pub(crate) struct WorkerSetup<M> {
    pub index: usize,
    pub mailboxes: Arc<Vec<Mailbox<M>>>,
    pub listeners: Vec<(SocketAddr, TcpListener)>,
    pub cpu: Option<usize>,
}

/// The controlling thread's handle on the running workers.
pub struct Runtime<M: Send + 'static> {
    mailboxes: Arc<Vec<Mailbox<M>>>,
    threads: Vec<JoinHandle<()>>,
    listen: Vec<Listen>,
    bound: Vec<SocketAddr>,
}

/// Binds the listeners (so address errors surface here, before any thread starts), then starts
/// `workers` threads, each pinned to one allowed CPU and running `make(worker_index)`.
pub fn start<S, F>(workers: usize, listen: &[Listen], make: F) -> io::Result<Runtime<S::Msg>>
where
    S: Service,
    F: Fn(usize) -> S + Send + Sync + 'static,
{
    let workers = workers.max(1);
    let mut per_worker: Vec<Vec<(SocketAddr, TcpListener)>> =
        (0..workers).map(|_| Vec::new()).collect();
    let mut bound = Vec::with_capacity(listen.len());
    for l in listen {
        let sockets = bind_reuseport(l, workers)?;
        bound.push(sockets[0].local_addr()?);
        for (w, socket) in sockets.into_iter().enumerate() {
            per_worker[w].push((l.addr, socket));
        }
    }
    let mailboxes: Arc<Vec<Mailbox<S::Msg>>> = Arc::new(
        (0..workers)
            .map(|_| Mailbox::new())
            .collect::<io::Result<_>>()?,
    );
    let cpus = allowed_cpus();
    let make = Arc::new(make);
    let mut threads = Vec::with_capacity(workers);
    for (index, listeners) in per_worker.into_iter().enumerate() {
        let setup = WorkerSetup {
            index,
            mailboxes: mailboxes.clone(),
            listeners,
            cpu: (!cpus.is_empty()).then(|| cpus[index % cpus.len()]),
        };
        let make = make.clone();
        let thread = std::thread::Builder::new()
            .name(format!("worker-{index}"))
            .spawn(move || {
                pin_to(setup.cpu);
                let service = make(setup.index);
                kernel::run(service, setup);
            })?;
        threads.push(thread);
    }
    Ok(Runtime {
        mailboxes,
        threads,
        listen: listen.to_vec(),
        bound,
    })
}

impl<M: Send + 'static> Runtime<M> {
    /// A handle on workers started by another transport (the user-space stack).
    pub(crate) fn from_parts(
        mailboxes: Arc<Vec<Mailbox<M>>>,
        threads: Vec<JoinHandle<()>>,
        listen: Vec<Listen>,
        bound: Vec<SocketAddr>,
    ) -> Self {
        Runtime {
            mailboxes,
            threads,
            listen,
            bound,
        }
    }

    pub fn workers(&self) -> usize {
        self.mailboxes.len()
    }

    /// The addresses actually bound, in listen order (resolves port 0).
    pub fn local_addrs(&self) -> &[SocketAddr] {
        &self.bound
    }

    /// Delivers `msg` to every worker's [`Service::on_message`].
    pub fn broadcast(&self, msg: M)
    where
        M: Clone,
    {
        for mailbox in self.mailboxes.iter() {
            mailbox.push(Envelope::App(msg.clone()));
        }
    }

    pub fn post(&self, worker: usize, msg: M) {
        self.mailboxes[worker].push(Envelope::App(msg));
    }

    /// Fast stop: workers drop their connections and exit.
    pub fn stop(&self) {
        self.mailboxes.iter().for_each(|m| m.push(Envelope::Stop));
    }

    /// Graceful stop: workers stop accepting and exit once their connections are done.
    pub fn quit(&self) {
        self.mailboxes.iter().for_each(|m| m.push(Envelope::Quit));
    }

    /// Replaces the listen set without touching established connections. New addresses are
    /// bound here first: on error nothing changes.
    pub fn set_listeners(&mut self, listen: &[Listen]) -> io::Result<()> {
        let workers = self.workers();
        let mut fresh: Vec<Vec<(SocketAddr, TcpListener)>> =
            (0..workers).map(|_| Vec::new()).collect();
        let mut bound = Vec::with_capacity(listen.len());
        for l in listen {
            match self.listen.iter().position(|old| old.addr == l.addr) {
                Some(i) => bound.push(self.bound[i]),
                None => {
                    let sockets = bind_reuseport(l, workers)?;
                    bound.push(sockets[0].local_addr()?);
                    for (w, socket) in sockets.into_iter().enumerate() {
                        fresh[w].push((l.addr, socket));
                    }
                }
            }
        }
        let addrs: Vec<SocketAddr> = listen.iter().map(|l| l.addr).collect();
        for (mailbox, sockets) in self.mailboxes.iter().zip(fresh) {
            mailbox.push(Envelope::Listeners(addrs.clone(), sockets));
        }
        self.listen = listen.to_vec();
        self.bound = bound;
        Ok(())
    }

    /// True once every worker thread has exited.
    pub fn finished(&self) -> bool {
        self.threads.iter().all(|t| t.is_finished())
    }

    /// Waits for every worker to exit.
    pub fn join(self) {
        for t in self.threads {
            let _ = t.join();
        }
    }
}

/// One SO_REUSEPORT listener per worker: the kernel spreads incoming connections across them.
/// Port 0 means "any free port": every worker shares the one the first bind chose.
fn bind_reuseport(l: &Listen, workers: usize) -> io::Result<Vec<TcpListener>> {
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

/// The CPUs this process may run on (respects taskset and cgroup cpusets).
pub fn allowed_cpus() -> Vec<usize> {
    use rustix::thread::{sched_getaffinity, CpuSet};
    match sched_getaffinity(None) {
        Ok(set) => (0..CpuSet::MAX_CPU).filter(|&c| set.is_set(c)).collect(),
        Err(_) => (0..std::thread::available_parallelism().map_or(1, |n| n.get())).collect(),
    }
}

/// Lets the calling thread run on every CPU of `cpus` again (after a library such as DPDK's
/// EAL pinned it to one).
pub fn set_allowed_cpus(cpus: &[usize]) {
    use rustix::thread::{sched_setaffinity, CpuSet};
    let mut set = CpuSet::new();
    cpus.iter().for_each(|&c| set.set(c));
    if !cpus.is_empty() {
        let _ = sched_setaffinity(None, &set);
    }
}

pub(crate) fn pin_to(cpu: Option<usize>) {
    use rustix::thread::{sched_setaffinity, CpuSet};
    if let Some(cpu) = cpu {
        let mut set = CpuSet::new();
        set.set(cpu);
        // Pinning is an optimisation: a container that forbids it still runs correctly.
        let _ = sched_setaffinity(None, &set);
    }
}
