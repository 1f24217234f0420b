//! Starting workers on the user-space stack: devices opened here (errors surface before any
//! thread starts), one stack and [`UserTransport`] per worker with its listeners, and the
//! supervised worker threads of [`crate::runtime`].

use std::io;
use std::net::SocketAddr;
use std::sync::atomic::AtomicUsize;
use std::sync::Arc;

use super::{BoxDevice, Shared, Stack, Steered, Steering, UserConfig, UserTransport};
use crate::app::{Listen, Service};
use crate::buf::Pool;
use crate::dev::{Fault, Pcap, Tap};
use crate::runtime::{self, Runtime};
use crate::time::{Clock, MonotonicClock};
use crate::worker::mailbox::{mailboxes, Mailboxes};

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

/// The buffer pool of one worker: its stack's transmit headers, and receive buffers for
/// devices that read into netstack buffers (TAP).
pub fn worker_pool(cfg: &UserConfig) -> Pool {
    Pool::with_capacity(cfg.buffers.max(64))
}

/// Starts one worker running `make(0)` on the user-space stack over the configured (single
/// queue) device, listening on `listen` (address 0.0.0.0 means the interface's address).
pub fn start<S, F>(cfg: UserConfig, listen: &[Listen], make: F) -> io::Result<Runtime<S::Msg>>
where
    S: Service,
    F: Fn(usize) -> S + Send + Sync + 'static,
{
    let pool = worker_pool(&cfg);
    let device = open_device(&cfg, &pool)?;
    start_on(&cfg, vec![(pool, device)], None, listen, make)
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

/// Starts `workers` workers, each pinned to an allowed CPU and running `make(index)` on its
/// own stack over its own queue of the multi-queue TAP interface (created with
/// `IFF_MULTI_QUEUE` if missing), listening on `listen` in every worker. Frames are steered to
/// the worker owning their flow (see [`super::steer`]).
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

/// Starts one pinned worker per `(pool, device)` pair, each running `make(index)` on its own
/// stack over its device, listening on `listen` in every worker; the device layer is the
/// caller's (a TAP queue, a DPDK queue). `steering` is the software steering the devices
/// share, if they are [`Steered`]; a graceful stop then ends every worker once all of them
/// have no connection left (each keeps steering frames for the others until then).
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
    let mailboxes: Mailboxes<S::Msg> = mailboxes(n)?;
    let shared = steering.map(|steering| Shared {
        steering,
        draining: Arc::new(AtomicUsize::new(n)),
    });
    let secret = super::random_secret();
    let clock = MonotonicClock::new();
    let make_stack = {
        let cfg = cfg.clone();
        move |device: BoxDevice, pool: Pool| {
            Stack::new(
                device,
                cfg.iface.clone(),
                cfg.tcp.clone(),
                pool,
                clock.now(),
                secret,
            )
        }
    };
    let mut transports = Vec::with_capacity(n);
    let mut bound = Vec::new();
    for (index, (pool, device)) in workers.into_iter().enumerate() {
        let stack = make_stack(device, pool.clone());
        let wake = mailboxes[index].wake_fd();
        let mut t = UserTransport::new(
            stack,
            clock,
            pool,
            index,
            wake,
            shared.clone(),
            cfg.idle_sleep,
        )?;
        for l in listen {
            let addr = t.listen(l)?;
            if index == 0 {
                bound.push(SocketAddr::V4(addr));
            }
        }
        transports.push(t);
    }
    let listen_again = listen.to_vec();
    let idle_sleep = cfg.idle_sleep;
    let rebuild = move |index: usize, mailboxes: Mailboxes<S::Msg>| {
        let (make_stack, shared, listen) =
            (make_stack.clone(), shared.clone(), listen_again.clone());
        move |parts| {
            let wake = mailboxes[index].wake_fd();
            let make_stack = make_stack.clone();
            let shared = shared.clone();
            let mut t = UserTransport::from_parts(
                parts, make_stack, clock, index, wake, shared, idle_sleep,
            )?;
            for l in &listen {
                t.listen(l)?;
            }
            Ok(t)
        }
    };
    let rt = runtime::spawn(
        "user-worker",
        transports,
        mailboxes,
        cfg.worker,
        make,
        rebuild,
    )?;
    Ok(rt.with_listen(listen, bound))
}
