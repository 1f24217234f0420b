//! Per-worker queue handles with burst I/O and counters readable from other threads.

use std::marker::PhantomData;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use dpdk_sys as sys;

use crate::mbuf::{Mbuf, Mempool};

/// Largest burst passed to the PMD in one call.
pub const MAX_BURST: usize = 64;

/// Per-queue counters. Written by the queue's worker only (plain load + store, no locked
/// instruction on the fast path); read at run time from any thread through the `Arc`.
#[derive(Debug, Default)]
pub struct QueueStats {
    rx_packets: AtomicU64,
    rx_bytes: AtomicU64,
    tx_packets: AtomicU64,
    tx_bytes: AtomicU64,
    drops: AtomicU64,
    copied: AtomicU64,
}

/// A copy of [`QueueStats`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct QueueStatsSnapshot {
    pub rx_packets: u64,
    pub rx_bytes: u64,
    pub tx_packets: u64,
    pub tx_bytes: u64,
    /// Frames dropped at the device boundary (no mbuf, checksum bad, too large).
    pub drops: u64,
    /// Payload bytes copied at the device boundary.
    pub copied: u64,
}

fn bump(c: &AtomicU64, n: u64) {
    // Single writer: a relaxed load + store is enough and avoids a locked add.
    c.store(c.load(Ordering::Relaxed).wrapping_add(n), Ordering::Relaxed);
}

impl QueueStats {
    pub fn snapshot(&self) -> QueueStatsSnapshot {
        let l = |c: &AtomicU64| c.load(Ordering::Relaxed);
        QueueStatsSnapshot {
            rx_packets: l(&self.rx_packets),
            rx_bytes: l(&self.rx_bytes),
            tx_packets: l(&self.tx_packets),
            tx_bytes: l(&self.tx_bytes),
            drops: l(&self.drops),
            copied: l(&self.copied),
        }
    }
    pub(crate) fn add_rx(&self, packets: u64, bytes: u64) {
        bump(&self.rx_packets, packets);
        bump(&self.rx_bytes, bytes);
    }
    pub(crate) fn add_tx(&self, packets: u64, bytes: u64) {
        bump(&self.tx_packets, packets);
        bump(&self.tx_bytes, bytes);
    }
    pub(crate) fn add_drops(&self, n: u64) {
        bump(&self.drops, n);
    }
    pub(crate) fn add_copied(&self, n: u64) {
        bump(&self.copied, n);
    }
}

/// The receive side of one queue. `Send` (hand it to its worker) but not `Sync`, and bursts
/// take `&mut self`: DPDK queues are single-consumer.
#[derive(Debug)]
pub struct RxQueue {
    port: u16,
    queue: u16,
    pool: Mempool,
    stats: Arc<QueueStats>,
    _not_sync: PhantomData<std::cell::Cell<()>>,
}

/// The transmit side of one queue; single-producer like [`RxQueue`].
#[derive(Debug)]
pub struct TxQueue {
    port: u16,
    queue: u16,
    stats: Arc<QueueStats>,
    _not_sync: PhantomData<std::cell::Cell<()>>,
}

impl RxQueue {
    pub(crate) fn new(port: u16, queue: u16, pool: Mempool, stats: Arc<QueueStats>) -> RxQueue {
        RxQueue {
            port,
            queue,
            pool,
            stats,
            _not_sync: PhantomData,
        }
    }

    pub fn port(&self) -> u16 {
        self.port
    }
    pub fn queue(&self) -> u16 {
        self.queue
    }
    /// The pool this queue receives into.
    pub fn pool(&self) -> Mempool {
        self.pool
    }
    /// Counters shared with the matching [`TxQueue`].
    pub fn stats(&self) -> &Arc<QueueStats> {
        &self.stats
    }

    /// Receives up to `max` (at most [`MAX_BURST`]) frames, appended to `out`; returns how many.
    pub fn rx_burst(&mut self, out: &mut Vec<Mbuf>, max: usize) -> usize {
        let max = max.min(MAX_BURST);
        out.reserve(max);
        let spare = out.spare_capacity_mut();
        // SAFETY: `spare` has room for `max` pointers; `Mbuf` is `repr(transparent)` over a
        // non-null pointer and the PMD writes `n` valid, owned mbuf pointers. The queue is
        // set up and only this handle (`&mut`, not `Sync`) polls it.
        let n = unsafe {
            sys::fs_rte_eth_rx_burst(
                self.port,
                self.queue,
                spare.as_mut_ptr() as *mut *mut sys::rte_mbuf,
                max as u16,
            )
        } as usize;
        let start = out.len();
        // SAFETY: the PMD initialised the first `n` spare slots.
        unsafe { out.set_len(start + n) };
        let bytes: usize = out[start..].iter().map(Mbuf::pkt_len).sum();
        self.stats.add_rx(n as u64, bytes as u64);
        n
    }
}

impl TxQueue {
    pub(crate) fn new(port: u16, queue: u16, stats: Arc<QueueStats>) -> TxQueue {
        TxQueue {
            port,
            queue,
            stats,
            _not_sync: PhantomData,
        }
    }

    pub fn port(&self) -> u16 {
        self.port
    }
    pub fn queue(&self) -> u16 {
        self.queue
    }
    pub fn stats(&self) -> &Arc<QueueStats> {
        &self.stats
    }

    /// Sends frames from the front of `pkts` (up to [`MAX_BURST`] per PMD call, until the PMD
    /// takes no more); sent mbufs are removed, the rest stay (back-pressure). Returns how many
    /// were sent.
    pub fn tx_burst(&mut self, pkts: &mut Vec<Mbuf>) -> usize {
        let mut sent = 0;
        while sent < pkts.len() {
            let chunk = (pkts.len() - sent).min(MAX_BURST);
            // SAFETY: `pkts[sent..sent+chunk]` are valid owned mbufs (`repr(transparent)`
            // pointers). The PMD takes ownership of the first `n`; they are forgotten below.
            let n = unsafe {
                sys::fs_rte_eth_tx_burst(
                    self.port,
                    self.queue,
                    pkts.as_mut_ptr().add(sent) as *mut *mut sys::rte_mbuf,
                    chunk as u16,
                )
            } as usize;
            sent += n;
            if n < chunk {
                break;
            }
        }
        let bytes: usize = pkts[..sent].iter().map(Mbuf::pkt_len).sum();
        // The PMD owns the sent mbufs now: drop the handles without freeing.
        for m in pkts.drain(..sent) {
            let _ = m.into_raw();
        }
        self.stats.add_tx(sent as u64, bytes as u64);
        sent
    }

    /// `rte_eth_tx_prepare` on `pkts` (offload fix-ups some NICs need, e.g. for TSO); returns
    /// how many are valid (the first invalid one stops it).
    pub fn tx_prepare(&mut self, pkts: &mut [Mbuf]) -> usize {
        // SAFETY: valid owned mbufs; prepare only edits their headers/metadata.
        unsafe {
            sys::fs_rte_eth_tx_prepare(
                self.port,
                self.queue,
                pkts.as_mut_ptr() as *mut *mut sys::rte_mbuf,
                pkts.len().min(u16::MAX as usize) as u16,
            ) as usize
        }
    }
}
