//! Running netstack workers on a DPDK port: EAL, one mempool and one RX/TX queue pair per
//! worker, a [`DpdkDevice`] per queue, and netstack's per-core loop over them.
//!
//! - The NIC steers flows by RSS when the port offers it (symmetric Toeplitz key, round-robin
//!   RETA: the model netstack's active opens use to pick source ports). With several queues,
//!   netstack's software steering sits on top, as on the multi-queue TAP device: it replicates
//!   ARP and moves frames that arrive on another worker's queue (ports without real RSS:
//!   `net_tap` spreads flows by the kernel's own hash, `net_af_packet` by fanout).
//! - The stack uses the port's MAC address (`[netstack] mac` is for TAP; a `net_tap` vdev takes
//!   `mac=...`).
//! - Workers are netstack's pinned threads, registered with EAL (`rte_thread_register`) so
//!   mempool caches work. EAL pins the thread that initialises it to the first `-l` core; the
//!   controlling thread gets its CPU set back, so workers still spread over every allowed CPU.
//! - `[dpdk.exception]` puts the exception path ([`netstack::dev::exception`]) under each
//!   queue: listed ports go to a kernel TAP interface, one TAP queue per worker.
//! - Poll-mode drivers have no file descriptor: workers poll, sleeping `idle_sleep` after an
//!   idle turn.

use std::io;
use std::sync::Arc;

use netstack::buf::Pool;
use netstack::dev::{Exception, ExceptionRules, Tap};
use netstack::runtime::{allowed_cpus, set_allowed_cpus, Listen, Runtime};
use netstack::user::{self, BoxDevice, Steered, Steering, UserConfig};
use netstack::wire::EthernetAddress;
use netstack::Service;

use crate::config::{DpdkConfig, ExceptionConfig};
use crate::device::DpdkDevice;
use crate::eal::{Eal, Error};
use crate::mbuf::Mempool;
use crate::port::{Port, PortSetup};
use crate::stats::StatsReporter;

/// Starts `workers` netstack workers on the DPDK port of `cfg`, each on its own queue pair,
/// running `make(index)` and listening on `listen`. EAL, the port and its queues are set up
/// here, so their errors surface before any worker starts.
pub fn start_workers<S, F>(
    mut user: UserConfig,
    cfg: &DpdkConfig,
    workers: usize,
    listen: &[Listen],
    make: F,
) -> io::Result<Runtime<S::Msg>>
where
    S: Service,
    F: Fn(usize) -> S + Send + Sync + 'static,
{
    let n = workers.max(1);
    let queues = cfg.queues.map_or(n, usize::from);
    if queues != n {
        return Err(invalid(format!(
            "[dpdk] queues = {queues} but {n} workers: one queue pair per worker"
        )));
    }
    let cpus = allowed_cpus();
    let eal = Eal::init(&cfg.eal_args).map_err(dpdk_err)?;
    set_allowed_cpus(&cpus);
    let port = Port::new(eal, cfg.port).map_err(dpdk_err)?;
    let pools = (0..n)
        .map(|q| {
            let name = format!("fs-p{}-q{q}", cfg.port);
            Mempool::create(
                eal,
                &name,
                cfg.mbufs_per_queue,
                cfg.mbuf_cache,
                Mempool::DEFAULT_DATA_ROOM,
                port.socket(),
            )
        })
        .collect::<Result<Vec<_>, _>>()
        .map_err(dpdk_err)?;
    let setup = PortSetup::from_config(cfg, n as u16);
    let (pairs, offloads) = port.configure(&setup, &pools).map_err(dpdk_err)?;
    let mtu = usize::from(port.mtu().map_err(dpdk_err)?);
    user.iface.mac = EthernetAddress(port.mac());
    user.iface.mtu = user.iface.mtu.min(mtu);
    user.tcp.mss = user.tcp.mss.min((user.iface.mtu - 40) as u16);
    user.idle_sleep = cfg.idle_sleep;

    // With several queues, netstack's software steering checks every received frame: with
    // RSS it forwards none (same symmetric Toeplitz key and RETA) but still copies ARP to every
    // worker; without real RSS (net_tap's kernel hash and net_af_packet's fanout, or a PMD that
    // advertises RSS it does not do) it moves frames to the worker that owns their flow.
    let steering = (n > 1)
        .then(|| Steering::new(n).map(Arc::new))
        .transpose()?;
    let mut devices = Vec::with_capacity(n);
    let mut queue_stats = Vec::with_capacity(n);
    for (index, (rx, tx)) in pairs.into_iter().enumerate() {
        let dev = DpdkDevice::new(rx, tx, offloads, user.iface.mtu);
        queue_stats.push((dev.queue_stats(), dev.pool()));
        let dev: BoxDevice = match &cfg.exception {
            Some(x) => Box::new(exception_path(dev, x, port.mac(), index)?),
            None => Box::new(dev),
        };
        let dev: BoxDevice = match &steering {
            Some(s) => Box::new(Steered::new(dev, s.clone(), index)),
            None => Box::new(dev),
        };
        let dev = user::wrap_device(&user, dev, (n > 1).then_some(index))?;
        devices.push((user::worker_pool(&user), dev));
    }
    if let Some(path) = &cfg.stats_file {
        StatsReporter::start(path.clone(), port, queue_stats, cfg.stats_interval)?;
    }
    eprintln!(
        "dpdk: port {} ({}), {n} queue{}, mac {}, mtu {}, offloads: rx checksum {}, tx checksum \
         {}, multi-segment {}, rss {}",
        cfg.port,
        port.info().map(|i| i.driver).unwrap_or_default(),
        if n == 1 { "" } else { "s" },
        user.iface.mac,
        user.iface.mtu,
        offloads.rx_checksum,
        offloads.tx_checksum,
        offloads.multi_seg,
        offloads.rss,
    );
    let register = move |index| {
        // Without an lcore id, mempool caches are bypassed (slower, still correct).
        if let Err(e) = eal.register_thread() {
            eprintln!("dpdk: worker {index}: {e}");
        }
        make(index)
    };
    user::start_on(&user, devices, steering, listen, register)
}

/// Worker `index`'s side of the exception path: its queue of the kernel's TAP interface (the
/// first worker gives the interface the port's MAC).
fn exception_path(
    dev: DpdkDevice,
    x: &ExceptionConfig,
    mac: [u8; 6],
    index: usize,
) -> io::Result<Exception<DpdkDevice, Tap>> {
    let context = |e: io::Error| {
        io::Error::new(
            e.kind(),
            format!("[dpdk.exception] interface {}: {e}", x.interface),
        )
    };
    let kernel =
        Tap::open_queue(&x.interface, Pool::with_capacity(EXCEPTION_BUFFERS)).map_err(context)?;
    if index == 0 {
        kernel.set_mac(mac).map_err(context)?;
    }
    let rules = ExceptionRules::new(&x.tcp_ports, &x.udp_ports);
    Ok(Exception::new(dev, kernel, rules))
}

/// Receive buffers per worker for frames from the kernel (SSH and the like: little traffic).
const EXCEPTION_BUFFERS: usize = 256;

fn dpdk_err(e: Error) -> io::Error {
    io::Error::other(format!("dpdk: {e}"))
}

fn invalid(msg: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidInput, msg)
}
