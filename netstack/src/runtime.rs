//! The per-core runtime: one pinned, supervised worker thread per core (see [`crate::worker`]),
//! started here on the kernel transport or by [`crate::user`] on the user-space stack; and the
//! [`Runtime`] handle the controlling thread uses to stop, quit, message and re-listen.

use std::io;
use std::net::{SocketAddr, TcpListener};
use std::sync::Arc;
use std::thread::JoinHandle;

pub use crate::app::Listen;
use crate::app::Service;
use crate::kernel::{self, KernelTransport, Relisten};
use crate::worker::mailbox::{mailboxes, Envelope, Mailboxes};
use crate::worker::{supervise, Supervised, Transport, WorkerConfig, WorkerStats};

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

/// The controlling thread's handle on the running workers.
pub struct Runtime<M: Send + 'static> {
    mailboxes: Mailboxes<M>,
    threads: Vec<JoinHandle<()>>,
    stats: Vec<Arc<WorkerStats>>,
    listen: Vec<Listen>,
    bound: Vec<SocketAddr>,
    /// Kernel sockets can be re-bound while running; the user stack's listeners cannot.
    kernel: bool,
}

/// Binds the listeners (so address errors surface here, before any thread starts), then starts
/// `workers` threads on the kernel transport, each pinned to one allowed CPU and running
/// `make(worker_index)`.
pub fn start<S, F>(workers: usize, listen: &[Listen], make: F) -> io::Result<Runtime<S::Msg>>
where
    S: Service,
    F: Fn(usize) -> S + Send + Sync + 'static,
{
    start_with(workers, WorkerConfig::default(), listen, make)
}

/// [`start`] with the workers' limits and panic policy.
pub fn start_with<S, F>(
    workers: usize,
    cfg: WorkerConfig,
    listen: &[Listen],
    make: F,
) -> io::Result<Runtime<S::Msg>>
where
    S: Service,
    F: Fn(usize) -> S + Send + Sync + 'static,
{
    let n = workers.max(1);
    let mut per_worker: Vec<Vec<(SocketAddr, TcpListener)>> = (0..n).map(|_| Vec::new()).collect();
    let mut bound = Vec::with_capacity(listen.len());
    for l in listen {
        let sockets = kernel::bind(l, n)?;
        bound.push(sockets[0].local_addr()?);
        for (w, socket) in sockets.into_iter().enumerate() {
            per_worker[w].push((l.addr, socket));
        }
    }
    let mailboxes = mailboxes(n)?;
    let transports = per_worker
        .into_iter()
        .enumerate()
        .map(|(i, l)| KernelTransport::new(l, mailboxes[i].wake_fd()))
        .collect::<io::Result<Vec<_>>>()?;
    let rebuild = |index: usize, mailboxes: Mailboxes<S::Msg>| {
        move |listeners| KernelTransport::new(listeners, mailboxes[index].wake_fd())
    };
    let mut rt = spawn("worker", transports, mailboxes, cfg, make, rebuild)?;
    rt.listen = listen.to_vec();
    rt.bound = bound;
    rt.kernel = true;
    Ok(rt)
}

/// Starts one supervised thread per transport, pinned to the allowed CPUs in turn, each
/// running `make(index)` on its transport; `rebuild(index, mailboxes)` makes the function
/// that builds a worker's transport again after a panic.
pub(crate) fn spawn<S, T, F, R, B>(
    name: &str,
    transports: Vec<T>,
    mailboxes: Mailboxes<S::Msg>,
    cfg: WorkerConfig,
    make: F,
    rebuild: R,
) -> io::Result<Runtime<S::Msg>>
where
    S: Service,
    T: Transport + Send + 'static,
    F: Fn(usize) -> S + Send + Sync + 'static,
    R: Fn(usize, Mailboxes<S::Msg>) -> B,
    B: Fn(T::Durable) -> io::Result<T> + Send + 'static,
{
    let cpus = allowed_cpus();
    let make: Arc<dyn Fn(usize) -> S + Send + Sync> = Arc::new(make);
    let stats: Vec<Arc<WorkerStats>> = (0..transports.len()).map(|_| Arc::default()).collect();
    let mut threads = Vec::with_capacity(transports.len());
    for (index, transport) in transports.into_iter().enumerate() {
        let cpu = (!cpus.is_empty()).then(|| cpus[index % cpus.len()]);
        let s = Supervised {
            index,
            mailboxes: mailboxes.clone(),
            stats: stats[index].clone(),
            cfg,
            make: make.clone(),
            rebuild: Box::new(rebuild(index, mailboxes.clone())),
        };
        let thread = std::thread::Builder::new()
            .name(format!("{name}-{index}"))
            .spawn(move || {
                pin_to(cpu);
                supervise(transport, s);
            })?;
        threads.push(thread);
    }
    Ok(Runtime {
        mailboxes,
        threads,
        stats,
        listen: Vec::new(),
        bound: Vec::new(),
        kernel: false,
    })
}

impl<M: Send + 'static> Runtime<M> {
    /// Records what a user-stack launcher listened on.
    pub(crate) fn with_listen(mut self, listen: &[Listen], bound: Vec<SocketAddr>) -> Self {
        self.listen = listen.to_vec();
        self.bound = bound;
        self
    }

    pub fn workers(&self) -> usize {
        self.mailboxes.len()
    }

    /// The addresses actually bound, in listen order (resolves port 0).
    pub fn local_addrs(&self) -> &[SocketAddr] {
        &self.bound
    }

    /// Each worker's counters (accepted, rejected, panics, restarts).
    pub fn stats(&self) -> &[Arc<WorkerStats>] {
        &self.stats
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
        if let Some(m) = self.mailboxes.get(worker) {
            m.push(Envelope::App(msg));
        }
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
    /// bound here first: on error nothing changes. On the user stack the listeners live in
    /// the workers' stacks: an unchanged set is accepted, a changed one is refused.
    pub fn set_listeners(&mut self, listen: &[Listen]) -> io::Result<()> {
        if !self.kernel {
            let same = listen.len() == self.listen.len()
                && listen
                    .iter()
                    .all(|l| self.listen.iter().any(|o| o.addr == l.addr));
            return match same {
                true => Ok(()),
                false => Err(io::Error::new(
                    io::ErrorKind::Unsupported,
                    "on the user stack, a change of `listen` takes effect at the next restart",
                )),
            };
        }
        let workers = self.workers();
        let mut fresh: Vec<Vec<(SocketAddr, TcpListener)>> =
            (0..workers).map(|_| Vec::new()).collect();
        let mut bound = Vec::with_capacity(listen.len());
        for l in listen {
            match self.listen.iter().position(|old| old.addr == l.addr) {
                Some(i) => bound.push(self.bound[i]),
                None => {
                    let sockets = kernel::bind(l, workers)?;
                    bound.push(sockets[0].local_addr()?);
                    for (w, socket) in sockets.into_iter().enumerate() {
                        fresh[w].push((l.addr, socket));
                    }
                }
            }
        }
        let addrs: Vec<SocketAddr> = listen.iter().map(|l| l.addr).collect();
        for (mailbox, fresh) in self.mailboxes.iter().zip(fresh) {
            let addrs = addrs.clone();
            mailbox.push(Envelope::Control(Box::new(Relisten { addrs, fresh })));
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

fn pin_to(cpu: Option<usize>) {
    use rustix::thread::{sched_setaffinity, CpuSet};
    if let Some(cpu) = cpu {
        let mut set = CpuSet::new();
        set.set(cpu);
        // Pinning is an optimisation: a container that forbids it still runs correctly.
        let _ = sched_setaffinity(None, &set);
    }
}
