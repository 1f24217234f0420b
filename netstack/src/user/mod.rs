//! The user-space stack behind the application API.
//!
//! - [`Stack`] (`stack.rs`): a device plus IPv4, TCP and UDP, driven turn by turn;
//! - [`UserTransport`] (`transport.rs`): the stack as a [`crate::worker::Transport`], so any
//!   [`crate::Service`] runs on it through the shared worker core;
//! - [`launch`]: opening devices (TAP, with fault injection and capture) and starting
//!   supervised workers: one over a single-queue TAP device ([`start`]), one per queue of a
//!   multi-queue TAP device ([`start_workers`]), or over devices the caller opened
//!   ([`start_on`], e.g. DPDK queues);
//! - [`steer`]: software steering between the workers of a multi-queue device (flows by a
//!   symmetric Toeplitz hash of the 4-tuple, ARP replicated to every worker);
//! - [`config`]: the `[netstack]` configuration section.

pub mod config;
pub mod launch;
mod stack;
pub mod steer;
#[cfg(test)]
mod tests;
mod transport;

pub use launch::{
    open_device, open_worker_device, start, start_on, start_workers, worker_pool, wrap_device,
};
pub use stack::{emit_tcp, with_slices, Stack, StackStats};
pub use steer::{Steered, Steering};
pub use transport::{Parts, Shared, UserTransport};

use std::hash::{BuildHasher, Hasher};
use std::time::Duration;

use crate::dev::{Device, FaultConfig};
use crate::ip::IfaceConfig;
use crate::tcp::TcpConfig;
use crate::worker::WorkerConfig;

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
    /// The workers' connection limit and panic policy.
    pub worker: WorkerConfig,
}

/// The device type the loop runs on.
pub type BoxDevice = Box<dyn Device + Send>;

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
