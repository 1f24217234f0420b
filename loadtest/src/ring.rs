//! A cross-thread memory wire: two single-producer single-consumer rings of frames between
//! two threads, with park/unpark for an idle side. Zero-copy: a contiguous frame crosses as
//! the sender's `Bytes` (no copy); a chained frame (header + referenced payload) is gathered
//! by the *receiving* end into its own pool buffer, which models the NIC's DMA of a real link
//! (counted in [`RingWire::link_gathered`], not as a device copy, exactly like
//! `netstack::dev::MemoryWire`). `MemoryWire` itself is `Mutex<VecDeque>` based: fine across
//! threads but it takes a lock per frame, and it gathers on the sending side, which would
//! charge the link's copy to the sending core.

use std::cell::UnsafeCell;
use std::collections::VecDeque;
use std::mem::MaybeUninit;
use std::sync::atomic::{fence, AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use std::thread::Thread;
use std::time::Duration;

use bytes::Bytes;
use netstack::buf::{CopyCounter, Pool, TxFrame};
use netstack::dev::{Caps, DevStats, Device};
use netstack::time::Instant;

#[repr(align(64))]
struct Pad(AtomicUsize);

struct Ring<T> {
    buf: Box<[UnsafeCell<MaybeUninit<T>>]>,
    mask: usize,
    /// Next slot to read (consumer-owned).
    head: Pad,
    /// Next slot to write (producer-owned).
    tail: Pad,
}

// SAFETY: a slot is written only by the producer before it publishes `tail`, and read only by
// the consumer after it observed that `tail` (Acquire) and before it publishes `head`.
unsafe impl<T: Send> Sync for Ring<T> {}
unsafe impl<T: Send> Send for Ring<T> {}

impl<T> Drop for Ring<T> {
    fn drop(&mut self) {
        let (h, t) = (*self.head.0.get_mut(), *self.tail.0.get_mut());
        for i in h..t {
            // SAFETY: slots between head and tail hold initialized values.
            unsafe { (*self.buf[i & self.mask].get()).assume_init_drop() };
        }
    }
}

/// The sending half of a ring.
pub struct Producer<T> {
    ring: Arc<Ring<T>>,
    tail: usize,
    head_cache: usize,
}

/// The receiving half of a ring.
pub struct Consumer<T> {
    ring: Arc<Ring<T>>,
    head: usize,
    tail_cache: usize,
}

/// A bounded SPSC ring of at least `cap` slots (rounded up to a power of two).
pub fn ring<T>(cap: usize) -> (Producer<T>, Consumer<T>) {
    let cap = cap.next_power_of_two();
    let ring = Arc::new(Ring {
        buf: (0..cap)
            .map(|_| UnsafeCell::new(MaybeUninit::uninit()))
            .collect(),
        mask: cap - 1,
        head: Pad(AtomicUsize::new(0)),
        tail: Pad(AtomicUsize::new(0)),
    });
    (
        Producer {
            ring: ring.clone(),
            tail: 0,
            head_cache: 0,
        },
        Consumer {
            ring,
            head: 0,
            tail_cache: 0,
        },
    )
}

impl<T> Producer<T> {
    /// Writes `v` unless the ring is full (then gives it back). Call [`Producer::publish`]
    /// after a batch.
    pub fn push(&mut self, v: T) -> Result<(), T> {
        let cap = self.ring.mask + 1;
        if self.tail - self.head_cache >= cap {
            self.head_cache = self.ring.head.0.load(Ordering::Acquire);
            if self.tail - self.head_cache >= cap {
                return Err(v);
            }
        }
        // SAFETY: the slot is free (the consumer is past it) and only we write it.
        unsafe { (*self.ring.buf[self.tail & self.ring.mask].get()).write(v) };
        self.tail += 1;
        Ok(())
    }

    /// Makes everything pushed so far visible to the consumer.
    pub fn publish(&mut self) {
        self.ring.tail.0.store(self.tail, Ordering::Release);
    }
}

impl<T> Consumer<T> {
    /// The next value, if any.
    pub fn pop(&mut self) -> Option<T> {
        if self.head == self.tail_cache {
            self.tail_cache = self.ring.tail.0.load(Ordering::Acquire);
            if self.head == self.tail_cache {
                return None;
            }
        }
        // SAFETY: the slot was published by the producer and is read once.
        let v = unsafe { (*self.ring.buf[self.head & self.ring.mask].get()).assume_init_read() };
        self.head += 1;
        // Release slots in batches of 32 (and always when caught up) to limit cache traffic.
        if self.head & 31 == 0 || self.head == self.tail_cache {
            self.ring.head.0.store(self.head, Ordering::Release);
        }
        Some(v)
    }

    /// True when nothing is waiting (reads the producer's index).
    pub fn is_empty(&self) -> bool {
        self.head == self.ring.tail.0.load(Ordering::Acquire)
    }
}

/// Tells whether a ring has frames waiting (the consumer publishes its position when it
/// catches up, so this is exact for an idle consumer).
pub struct Probe {
    ring: Arc<Ring<TxFrame>>,
}

impl Probe {
    pub fn ready(&self) -> bool {
        self.ring.head.0.load(Ordering::Acquire) != self.ring.tail.0.load(Ordering::Acquire)
    }
}

/// Sleep/wake for one thread: it parks only after announcing it and re-checking its rings,
/// and wakers unpark it only when it announced (no syscall while it is busy).
#[derive(Default)]
pub struct Parker {
    sleeping: AtomicBool,
    thread: OnceLock<Thread>,
}

impl Parker {
    /// Registers the calling thread as the one to wake.
    pub fn register(&self) {
        let _ = self.thread.set(std::thread::current());
    }

    /// Parks for at most `max` unless `ready()` says there is work after the announcement.
    pub fn sleep(&self, max: Duration, ready: impl Fn() -> bool) {
        self.sleeping.store(true, Ordering::SeqCst);
        fence(Ordering::SeqCst);
        if !ready() {
            std::thread::park_timeout(max);
        }
        self.sleeping.store(false, Ordering::Relaxed);
    }

    /// Wakes the thread if it announced sleep.
    pub fn wake(&self) {
        fence(Ordering::SeqCst);
        if self.sleeping.load(Ordering::SeqCst) {
            if let Some(t) = self.thread.get() {
                t.unpark();
            }
        }
    }
}

/// One end of the cross-thread wire, as a netstack device.
pub struct RingWire {
    rx: Consumer<TxFrame>,
    tx: Producer<TxFrame>,
    /// This end's receive buffers (chained frames are gathered into them).
    pool: Pool,
    /// The thread at the other end.
    peer: Arc<Parker>,
    caps: Caps,
    stats: DevStats,
    link_gathered: u64,
}

/// Ends of a wire: what each side holds.
pub struct WireEnds {
    pub a: RingWire,
    pub b: RingWire,
    pub a_parker: Arc<Parker>,
    pub b_parker: Arc<Parker>,
}

impl RingWire {
    /// Two connected ends, `slots` frames per direction, `buffers` receive buffers per end.
    /// Checksums are offloaded (as a NIC would, and as loopback skips them) when `offload`.
    pub fn pair(slots: usize, buffers: usize, offload: bool) -> WireEnds {
        let (ptx, prx) = ring(slots);
        let (qtx, qrx) = ring(slots);
        let (pa, pb) = (Arc::new(Parker::default()), Arc::new(Parker::default()));
        let caps = Caps {
            rx_checksum: offload,
            tx_checksum: offload,
            mtu: 1500,
            scatter_gather: true,
            max_burst: 64,
        };
        let end = |rx, tx, peer| RingWire {
            rx,
            tx,
            pool: Pool::with_capacity(buffers),
            peer,
            caps,
            stats: DevStats::default(),
            link_gathered: 0,
        };
        WireEnds {
            a: end(qrx, ptx, pb.clone()),
            b: end(prx, qtx, pa.clone()),
            a_parker: pa,
            b_parker: pb,
        }
    }

    /// Bytes the link gathered from chained frames into this end's receive buffers.
    #[cfg(test)]
    pub fn link_gathered(&self) -> u64 {
        self.link_gathered
    }

    /// A handle that tells whether a frame is waiting, usable after the wire moved into a
    /// stack.
    pub fn probe(&self) -> Probe {
        Probe {
            ring: self.rx.ring.clone(),
        }
    }

    /// True when a frame is waiting.
    pub fn rx_ready(&self) -> bool {
        !self.rx.is_empty()
    }

    /// Raw access for the compact generator: the next received frame, unflattened.
    pub fn recv_raw(&mut self) -> Option<TxFrame> {
        self.rx.pop()
    }

    /// Raw send for the compact generator; gives the frame back when the wire is full.
    /// Call [`RingWire::kick`] after a batch.
    pub fn send_raw(&mut self, f: TxFrame) -> Result<(), TxFrame> {
        self.tx.push(f)
    }

    /// Publishes sent frames and wakes the peer if it sleeps.
    pub fn kick(&mut self) {
        self.tx.publish();
        self.peer.wake();
    }
}

impl Device for RingWire {
    fn rx_burst(&mut self, _now: Instant, out: &mut Vec<Bytes>, max: usize) -> usize {
        let mut n = 0;
        while n < max {
            let Some(f) = self.rx.pop() else { break };
            let frame = if f.is_contiguous() {
                f.head
            } else {
                self.link_gathered += (f.len() - f.head.len()) as u64;
                f.flatten(&self.pool, &CopyCounter::default())
            };
            self.stats.rx_frames += 1;
            self.stats.rx_bytes += frame.len() as u64;
            out.push(frame);
            n += 1;
        }
        n
    }

    fn tx_burst(&mut self, _now: Instant, frames: &mut VecDeque<TxFrame>) -> usize {
        let mut sent = 0;
        while let Some(f) = frames.pop_front() {
            let len = f.len() as u64;
            if let Err(f) = self.tx.push(f) {
                frames.push_front(f);
                break;
            }
            self.stats.tx_frames += 1;
            self.stats.tx_bytes += len;
            sent += 1;
        }
        if sent > 0 {
            self.kick();
        }
        sent
    }

    fn caps(&self) -> Caps {
        self.caps
    }

    fn stats(&self) -> DevStats {
        self.stats
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_cross_threads_in_order_without_copy() {
        let WireEnds { mut a, mut b, .. } = RingWire::pair(8, 64, true);
        let frames: Vec<Bytes> = (0..1000u32)
            .map(|i| Bytes::from(i.to_le_bytes().to_vec()))
            .collect();
        let ptrs: Vec<usize> = frames.iter().map(|f| f.as_ptr() as usize).collect();
        let t = std::thread::spawn(move || {
            let mut q: VecDeque<TxFrame> = frames.into_iter().map(TxFrame::single).collect();
            while !q.is_empty() {
                a.tx_burst(Instant::ZERO, &mut q);
            }
        });
        let mut got = Vec::new();
        while got.len() < 1000 {
            b.rx_burst(Instant::ZERO, &mut got, 64);
        }
        t.join().unwrap();
        for (i, f) in got.iter().enumerate() {
            assert_eq!(&f[..], &(i as u32).to_le_bytes());
            assert_eq!(f.as_ptr() as usize, ptrs[i], "moved, not copied");
        }
    }

    #[test]
    fn chained_frames_are_gathered_by_the_receiver() {
        let WireEnds { mut a, mut b, .. } = RingWire::pair(8, 64, true);
        let mut q: VecDeque<TxFrame> = [TxFrame {
            head: Bytes::from_static(b"HEAD"),
            parts: vec![Bytes::from_static(b"payload")],
        }]
        .into();
        assert_eq!(a.tx_burst(Instant::ZERO, &mut q), 1);
        let mut out = Vec::new();
        assert_eq!(b.rx_burst(Instant::ZERO, &mut out, 8), 1);
        assert_eq!(&out[0][..], b"HEADpayload");
        assert_eq!(b.link_gathered(), 7);
        assert_eq!(b.stats().copied, 0);
    }
}
