//! DPDK for FerroStack: a small safe API over the system DPDK and a netstack device.
//!
//! Without the `dpdk` feature this crate only offers the `[dpdk]` configuration section
//! ([`DpdkConfig`]) and the servers' launcher ([`launch`]: kernel sockets or TAP only, then),
//! and [`ENABLED`] is false; nothing else is compiled and nothing needs to be installed. With
//! it (`cargo build -p dpdk --features dpdk`, libdpdk-dev 22.11+):
//!
//! - [`Eal`]: EAL initialisation, once per process;
//! - [`Mempool`]: mbuf pools with use counters;
//! - [`Mbuf`]: an owning mbuf pointer freed on drop; received mbufs turn into `Bytes` without a
//!   copy ([`Mbuf::into_bytes`]) and `Bytes` turn into mbufs without a copy
//!   ([`Mbuf::from_bytes`], an attached external buffer);
//! - [`Port`]: configuration with one RX/TX queue pair per worker, RSS with a symmetric
//!   Toeplitz key, offload capabilities, link status, statistics; [`ring_pair`] builds a
//!   back-to-back pair of ports over `rte_ring`s;
//! - [`RxQueue`]/[`TxQueue`]: burst I/O with per-queue counters ([`QueueStats`]);
//! - [`DpdkDevice`]: netstack's `Device` over one queue pair;
//! - [`softrss_v4`]: DPDK's software Toeplitz (`rte_softrss`), for cross-checks;
//! - [`start_workers`]: netstack workers on a port, one queue pair each (what
//!   `[netstack] device = "dpdk"` runs), with run-time statistics in a file.
//!
//! All `unsafe` is in this crate, each block with its SAFETY argument.

pub mod config;
pub mod launch;
pub mod testing;
pub use config::{DpdkConfig, ExceptionConfig, OffloadConfig};
pub use launch::{check_config, launch};

/// Whether this build has DPDK (feature `dpdk`).
pub const ENABLED: bool = cfg!(feature = "dpdk");

#[cfg(feature = "dpdk")]
mod device;
#[cfg(feature = "dpdk")]
mod eal;
#[cfg(feature = "dpdk")]
mod mbuf;
#[cfg(feature = "dpdk")]
mod port;
#[cfg(feature = "dpdk")]
mod queue;
#[cfg(feature = "dpdk")]
mod stack;
#[cfg(feature = "dpdk")]
mod stats;

#[cfg(feature = "dpdk")]
pub use device::DpdkDevice;
#[cfg(feature = "dpdk")]
pub use eal::{softrss_v4, Eal, Error};
#[cfg(feature = "dpdk")]
pub use mbuf::{Mbuf, Mempool};
#[cfg(feature = "dpdk")]
pub use port::{ring_pair, Link, Offloads, Port, PortInfo, PortSetup, PortStats, QueueHwStats};
#[cfg(feature = "dpdk")]
pub use queue::{QueueStats, QueueStatsSnapshot, RxQueue, TxQueue};
#[cfg(feature = "dpdk")]
pub use stack::start_workers;

/// Raw bindings, for what the safe API does not cover yet.
#[cfg(feature = "dpdk")]
pub use dpdk_sys as sys;
