//! Devices: where frames enter and leave the stack.
//!
//! # The `Device` trait
//!
//! Burst-oriented and run-to-completion, driven once per loop turn by the stack:
//! - [`Device::rx_burst`] appends up to `max` received Ethernet frames to `out`, each a `Bytes`
//!   that is (a slice of) a receive buffer from the device's [`Pool`](crate::buf::Pool): the
//!   stack slices it further and hands the TCP payload to the application without a copy.
//! - [`Device::tx_burst`] takes frames from the front of `frames` and sends them; a frame is a
//!   header segment plus referenced payload parts ([`TxFrame`]). Frames the device cannot take
//!   now stay in the queue (back-pressure), and the number taken is returned.
//! - [`Device::caps`]: checksum offload in each direction, MTU, scatter-gather, burst size.
//! - [`Device::stats`]: frame/byte counters and the copy counter: payload bytes the device
//!   (or the stack on its behalf) copied because it cannot gather or hand over its memory.
//!   Zero for TAP (writev gathers; reads land in pool buffers) and for the memory wire with
//!   scatter-gather.
//! - [`Device::poll_at`]: when a device holds frames for later (delay, rate limit), the time
//!   it wants to be polled again even if nothing else happens.
//! - [`Device::as_fd`]: a file descriptor that becomes readable when frames arrive, for loops
//!   that block in `epoll_wait` when idle (TAP); `None` for in-memory devices.
//!
//! `now` is passed in (not read from a clock) so that wrappers that delay frames run on the
//! loop's virtual clock in simulations.

pub mod exception;
pub mod fault;
pub mod memwire;
pub mod pcap;
pub mod tap;

use std::collections::VecDeque;
use std::os::fd::BorrowedFd;

use bytes::Bytes;

pub use crate::buf::TxFrame;
use crate::time::Instant;

pub use exception::{Exception, ExceptionRules};
pub use fault::{Fault, FaultConfig};
pub use memwire::MemoryWire;
pub use pcap::Pcap;
pub use tap::Tap;

/// What a device can do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Caps {
    /// Received frames have verified IPv4/TCP/UDP checksums (the stack may skip them).
    pub rx_checksum: bool,
    /// The device fills IPv4/TCP/UDP checksums of sent frames (the stack leaves the
    /// pseudo-header sum, see [`crate::wire::ChecksumCaps`]).
    pub tx_checksum: bool,
    /// IP MTU: the largest IPv4 datagram (the Ethernet frame is 14 bytes longer).
    pub mtu: usize,
    /// Sends chained frames (header + payload parts) without flattening them.
    pub scatter_gather: bool,
    /// Frames per burst the device handles well.
    pub max_burst: usize,
}

impl Default for Caps {
    fn default() -> Self {
        Caps {
            rx_checksum: false,
            tx_checksum: false,
            mtu: 1500,
            scatter_gather: true,
            max_burst: 32,
        }
    }
}

/// Device counters.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DevStats {
    pub rx_frames: u64,
    pub rx_bytes: u64,
    pub tx_frames: u64,
    pub tx_bytes: u64,
    /// Frames dropped by the device (no buffer, queue full, write error).
    pub drops: u64,
    /// Payload bytes copied at the device boundary (see the module documentation).
    pub copied: u64,
}

/// A network device. See the module documentation.
pub trait Device {
    fn rx_burst(&mut self, now: Instant, out: &mut Vec<Bytes>, max: usize) -> usize;
    fn tx_burst(&mut self, now: Instant, frames: &mut VecDeque<TxFrame>) -> usize;
    fn caps(&self) -> Caps;
    fn stats(&self) -> DevStats;
    fn poll_at(&self) -> Option<Instant> {
        None
    }
    fn as_fd(&self) -> Option<BorrowedFd<'_>> {
        None
    }
}

impl<D: Device + ?Sized> Device for Box<D> {
    fn rx_burst(&mut self, now: Instant, out: &mut Vec<Bytes>, max: usize) -> usize {
        (**self).rx_burst(now, out, max)
    }
    fn tx_burst(&mut self, now: Instant, frames: &mut VecDeque<TxFrame>) -> usize {
        (**self).tx_burst(now, frames)
    }
    fn caps(&self) -> Caps {
        (**self).caps()
    }
    fn stats(&self) -> DevStats {
        (**self).stats()
    }
    fn poll_at(&self) -> Option<Instant> {
        (**self).poll_at()
    }
    fn as_fd(&self) -> Option<BorrowedFd<'_>> {
        (**self).as_fd()
    }
}
