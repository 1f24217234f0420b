//! An in-memory wire: two device ends joined back to back, for tests, simulations and
//! benchmarks (two stacks in one process, no kernel, deterministic).
//!
//! Frames move as `Bytes`. A contiguous frame moves as is (no copy at all). A chained frame
//! (headers + referenced payload) crosses the "cable" the way a NIC pair would move it: the
//! link gathers it into a receive buffer from the receiving end's pool, which models the two
//! DMA transfers of a real link and is reported by [`MemoryWire::link_gathered`], not as a
//! device copy. With `scatter_gather` off, the end behaves like a NIC that cannot gather: the
//! frame is flattened first and that copy is counted in [`DevStats::copied`].

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use bytes::Bytes;

use super::{Caps, DevStats, Device, TxFrame};
use crate::buf::{CopyCounter, Pool};
use crate::time::Instant;

type Queue = Arc<Mutex<VecDeque<Bytes>>>;

/// One end of a memory wire.
pub struct MemoryWire {
    rx: Queue,
    tx: Queue,
    /// This end's receive buffers.
    pool: Pool,
    /// The other end's receive buffers (the link delivers into them).
    peer_pool: Pool,
    caps: Caps,
    limit: usize,
    stats: DevStats,
    copies: CopyCounter,
    link_gathered: u64,
}

impl MemoryWire {
    /// Two connected ends with their own pools of `buffers` buffers each; each direction holds
    /// at most `limit` frames in flight (a full wire pushes back on the sender).
    pub fn pair(buffers: usize, limit: usize) -> (MemoryWire, MemoryWire) {
        let (a, b) = (Queue::default(), Queue::default());
        let (pa, pb) = (Pool::with_capacity(buffers), Pool::with_capacity(buffers));
        let end = |rx: &Queue, tx: &Queue, pool: &Pool, peer: &Pool| MemoryWire {
            rx: rx.clone(),
            tx: tx.clone(),
            pool: pool.clone(),
            peer_pool: peer.clone(),
            caps: Caps {
                max_burst: 64,
                ..Caps::default()
            },
            limit,
            stats: DevStats::default(),
            copies: CopyCounter::default(),
            link_gathered: 0,
        };
        (end(&a, &b, &pa, &pb), end(&b, &a, &pb, &pa))
    }

    /// Changes what this end reports and does (scatter-gather, checksum offload, MTU).
    pub fn set_caps(&mut self, caps: Caps) {
        self.caps = caps;
    }

    /// This end's receive pool (for pointer checks in tests).
    pub fn pool(&self) -> &Pool {
        &self.pool
    }

    /// Bytes the link gathered from chained frames into the peer's receive buffers.
    pub fn link_gathered(&self) -> u64 {
        self.link_gathered
    }

    /// Puts a frame on this end's receive queue as if the peer had sent it (tests).
    pub fn inject(&self, frame: Bytes) {
        self.rx.lock().unwrap().push_back(frame);
    }

    /// Takes a frame the peer sent without a peer device (tests).
    pub fn take_sent(&self) -> Option<Bytes> {
        self.tx.lock().unwrap().pop_front()
    }

    fn carry(&mut self, frame: TxFrame) -> Bytes {
        if frame.is_contiguous() {
            return frame.head;
        }
        if !self.caps.scatter_gather {
            return frame.flatten(&self.peer_pool, &self.copies);
        }
        self.link_gathered += (frame.len() - frame.head.len()) as u64;
        frame.flatten(&self.peer_pool, &CopyCounter::default())
    }
}

impl Device for MemoryWire {
    fn rx_burst(&mut self, _now: Instant, out: &mut Vec<Bytes>, max: usize) -> usize {
        let mut q = self.rx.lock().unwrap();
        let n = max.min(q.len());
        for frame in q.drain(..n) {
            self.stats.rx_frames += 1;
            self.stats.rx_bytes += frame.len() as u64;
            out.push(frame);
        }
        n
    }

    fn tx_burst(&mut self, _now: Instant, frames: &mut VecDeque<TxFrame>) -> usize {
        let mut sent = 0;
        while let Some(frame) = frames.pop_front() {
            if self.tx.lock().unwrap().len() >= self.limit {
                frames.push_front(frame);
                break;
            }
            self.stats.tx_frames += 1;
            self.stats.tx_bytes += frame.len() as u64;
            let bytes = self.carry(frame);
            self.tx.lock().unwrap().push_back(bytes);
            sent += 1;
        }
        sent
    }

    fn caps(&self) -> Caps {
        self.caps
    }

    fn stats(&self) -> DevStats {
        DevStats {
            copied: self.copies.get(),
            ..self.stats
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chained() -> TxFrame {
        TxFrame {
            head: Bytes::from_static(b"HEAD"),
            parts: vec![Bytes::from_static(b"payload")],
        }
    }

    #[test]
    fn frames_cross_in_order_and_contiguous_ones_are_not_copied() {
        let (mut a, mut b) = MemoryWire::pair(8, 16);
        let one = Bytes::from_static(b"one");
        let mut q: VecDeque<TxFrame> = [TxFrame::single(one.clone()), chained()].into();
        assert_eq!(a.tx_burst(Instant::ZERO, &mut q), 2);
        let mut out = Vec::new();
        assert_eq!(b.rx_burst(Instant::ZERO, &mut out, 8), 2);
        assert_eq!(out[0].as_ptr(), one.as_ptr(), "moved, not copied");
        assert_eq!(&out[1][..], b"HEADpayload");
        assert_eq!(a.stats().copied, 0);
        assert_eq!(a.link_gathered(), 7);
        assert_eq!(
            b.pool().stats().live,
            1,
            "gathered into the receiver's pool"
        );
    }

    #[test]
    fn without_scatter_gather_the_copy_is_counted() {
        let (mut a, _b) = MemoryWire::pair(8, 16);
        a.set_caps(Caps {
            scatter_gather: false,
            ..a.caps()
        });
        let mut q: VecDeque<TxFrame> = [chained()].into();
        a.tx_burst(Instant::ZERO, &mut q);
        assert_eq!(a.stats().copied, 7);
    }

    #[test]
    fn full_wire_pushes_back() {
        let (mut a, _b) = MemoryWire::pair(8, 2);
        let mut q: VecDeque<TxFrame> = (0..3)
            .map(|_| TxFrame::single(Bytes::from_static(b"x")))
            .collect();
        assert_eq!(a.tx_burst(Instant::ZERO, &mut q), 2);
        assert_eq!(q.len(), 1);
    }
}
