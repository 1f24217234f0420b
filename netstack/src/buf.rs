//! Packet buffers: fixed-size buffers from a per-core [`Pool`], with headroom for prepending
//! headers, that turn into `bytes::Bytes` without a copy.
//!
//! - A received frame is read into a [`PacketBuf`] and frozen into `Bytes`
//!   ([`PacketBuf::freeze`], built on `Bytes::from_owner`): every slice of it (the TCP payload
//!   handed to the application) keeps the buffer alive, and dropping the last one returns the
//!   buffer to its pool. No payload byte is copied on the way in.
//! - A frame to send is a [`TxFrame`]: a header segment (Ethernet + IPv4 + transport headers,
//!   written into a small buffer) followed by referenced payload parts (the application's
//!   `Bytes`). Devices that can gather (writev, NIC scatter-gather) send it as is; the others
//!   flatten it once with [`TxFrame::flatten`], and that copy is counted ([`CopyCounter`]).
//!
//! The pool is "per core" in the sense that one worker allocates from it; buffers may be
//! dropped on any thread (a `Bytes` posted to another worker), so the free list is a lock-free
//! bounded queue, uncontended in the common case.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;

use bytes::Bytes;
use crossbeam_queue::ArrayQueue;

/// Default headroom: room for Ethernet (14) + IPv4 with options (60) + TCP with options (60),
/// rounded up.
pub const HEADROOM: usize = 128;
/// Default buffer size: a full 1514-byte Ethernet frame (plus VLAN tags) after the headroom.
pub const BUF_SIZE: usize = 2048 + HEADROOM;

struct Shared {
    free: ArrayQueue<Box<[u8]>>,
    size: usize,
    headroom: usize,
    /// Buffers allocated and not yet freed to the allocator (in the free list or in use).
    live: AtomicUsize,
    limit: usize,
    allocations: AtomicU64,
    reuses: AtomicU64,
}

/// A pool of fixed-size buffers. Cloning gives another handle to the same pool.
#[derive(Clone)]
pub struct Pool {
    shared: Arc<Shared>,
}

/// Pool counters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct PoolStats {
    /// Buffers that exist (free or in use).
    pub live: usize,
    /// Buffers waiting in the free list.
    pub free: usize,
    /// Fresh allocations from the system allocator.
    pub allocations: u64,
    /// Allocations served from the free list.
    pub reuses: u64,
}

impl Pool {
    /// A pool of at most `limit` buffers of `size` bytes, `headroom` of which are reserved in
    /// front of the data. Buffers are allocated lazily and recycled.
    pub fn new(limit: usize, size: usize, headroom: usize) -> Pool {
        assert!(headroom < size, "headroom must leave room for data");
        Pool {
            shared: Arc::new(Shared {
                free: ArrayQueue::new(limit.max(1)),
                size,
                headroom,
                live: AtomicUsize::new(0),
                limit: limit.max(1),
                allocations: AtomicU64::new(0),
                reuses: AtomicU64::new(0),
            }),
        }
    }

    /// A pool with the default sizes (enough for MTU 1500 frames).
    pub fn with_capacity(limit: usize) -> Pool {
        Pool::new(limit, BUF_SIZE, HEADROOM)
    }

    /// An empty buffer (data length 0, positioned after the headroom), or `None` when the pool
    /// is exhausted: every buffer is in use (held by the application or queued).
    pub fn alloc(&self) -> Option<PacketBuf> {
        let s = &self.shared;
        let data = match s.free.pop() {
            Some(b) => {
                s.reuses.fetch_add(1, Ordering::Relaxed);
                b
            }
            None => {
                if s.live.fetch_add(1, Ordering::AcqRel) >= s.limit {
                    s.live.fetch_sub(1, Ordering::AcqRel);
                    return None;
                }
                s.allocations.fetch_add(1, Ordering::Relaxed);
                vec![0u8; s.size].into_boxed_slice()
            }
        };
        Some(PacketBuf {
            data: Some(data),
            head: s.headroom,
            tail: s.headroom,
            pool: self.shared.clone(),
        })
    }

    /// Size of each buffer.
    pub fn buffer_size(&self) -> usize {
        self.shared.size
    }

    /// Headroom of a fresh buffer.
    pub fn headroom(&self) -> usize {
        self.shared.headroom
    }

    pub fn stats(&self) -> PoolStats {
        let s = &self.shared;
        PoolStats {
            live: s.live.load(Ordering::Acquire),
            free: s.free.len(),
            allocations: s.allocations.load(Ordering::Relaxed),
            reuses: s.reuses.load(Ordering::Relaxed),
        }
    }
}

/// One buffer from a [`Pool`]: `data()` is the window `head..tail`; bytes before `head` are
/// headroom for headers. Dropping it returns the buffer to the pool.
pub struct PacketBuf {
    data: Option<Box<[u8]>>,
    head: usize,
    tail: usize,
    pool: Arc<Shared>,
}

impl PacketBuf {
    fn raw(&self) -> &[u8] {
        self.data.as_deref().expect("buffer present until drop")
    }

    fn raw_mut(&mut self) -> &mut [u8] {
        self.data.as_deref_mut().expect("buffer present until drop")
    }

    /// The data window.
    pub fn data(&self) -> &[u8] {
        &self.raw()[self.head..self.tail]
    }

    pub fn data_mut(&mut self) -> &mut [u8] {
        let (h, t) = (self.head, self.tail);
        &mut self.raw_mut()[h..t]
    }

    pub fn len(&self) -> usize {
        self.tail - self.head
    }

    pub fn is_empty(&self) -> bool {
        self.tail == self.head
    }

    pub fn headroom(&self) -> usize {
        self.head
    }

    /// Room after the data.
    pub fn tailroom(&self) -> usize {
        self.raw().len() - self.tail
    }

    /// Everything after `head` up to the end of the buffer: a device reads a frame into this,
    /// then calls [`PacketBuf::set_len`].
    pub fn spare_mut(&mut self) -> &mut [u8] {
        let h = self.head;
        &mut self.raw_mut()[h..]
    }

    /// Sets the data length (after a device filled [`PacketBuf::spare_mut`]).
    pub fn set_len(&mut self, len: usize) {
        assert!(self.head + len <= self.raw().len(), "beyond the buffer");
        self.tail = self.head + len;
    }

    /// Extends the data at the front by `n` bytes of headroom and returns them (for a header).
    /// Panics without enough headroom: header sizes are fixed by the stack, so that is a bug.
    pub fn prepend(&mut self, n: usize) -> &mut [u8] {
        assert!(n <= self.head, "not enough headroom");
        self.head -= n;
        let h = self.head;
        &mut self.raw_mut()[h..h + n]
    }

    /// Extends the data at the back by `n` bytes and returns them.
    pub fn append(&mut self, n: usize) -> &mut [u8] {
        assert!(n <= self.tailroom(), "not enough tailroom");
        let t = self.tail;
        self.tail += n;
        &mut self.raw_mut()[t..t + n]
    }

    /// Appends a copy of `bytes`.
    pub fn extend_from_slice(&mut self, bytes: &[u8]) {
        self.append(bytes.len()).copy_from_slice(bytes);
    }

    /// Drops `n` bytes from the front (e.g. a consumed header).
    pub fn pull(&mut self, n: usize) {
        assert!(n <= self.len());
        self.head += n;
    }

    /// The data window as `Bytes`, without a copy; the buffer returns to the pool when the last
    /// slice of it is dropped.
    pub fn freeze(self) -> Bytes {
        Bytes::from_owner(self)
    }

    /// Address range of the whole underlying buffer (for pointer checks in tests).
    pub fn buffer_range(&self) -> std::ops::Range<usize> {
        let raw = self.raw();
        let start = raw.as_ptr() as usize;
        start..start + raw.len()
    }
}

impl AsRef<[u8]> for PacketBuf {
    fn as_ref(&self) -> &[u8] {
        self.data()
    }
}

impl Drop for PacketBuf {
    fn drop(&mut self) {
        if let Some(b) = self.data.take() {
            // A full free list (cannot happen unless buffers were over-allocated) frees to the
            // system allocator instead.
            if self.pool.free.push(b).is_err() {
                self.pool.live.fetch_sub(1, Ordering::AcqRel);
            }
        }
    }
}

/// Counts payload bytes copied at a device boundary (flattening a chained frame for a device
/// without scatter-gather, or reading out of a device that cannot hand over its memory).
/// Shared between a device and whoever wants to read it.
#[derive(Clone, Default, Debug)]
pub struct CopyCounter(Arc<AtomicU64>);

impl CopyCounter {
    pub fn add(&self, n: usize) {
        self.0.fetch_add(n as u64, Ordering::Relaxed);
    }

    pub fn get(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
}

/// A frame to transmit: headers in `head`, then payload parts referenced in `parts`.
#[derive(Clone, Debug, Default)]
pub struct TxFrame {
    pub head: Bytes,
    pub parts: Vec<Bytes>,
}

impl TxFrame {
    /// A frame that is one contiguous buffer.
    pub fn single(frame: Bytes) -> TxFrame {
        TxFrame {
            head: frame,
            parts: Vec::new(),
        }
    }

    /// Frame length on the wire.
    pub fn len(&self) -> usize {
        self.head.len() + self.parts.iter().map(Bytes::len).sum::<usize>()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// True when the frame is one contiguous buffer.
    pub fn is_contiguous(&self) -> bool {
        self.parts.iter().all(Bytes::is_empty)
    }

    /// The frame as one contiguous `Bytes`: free when it already is one; otherwise the parts
    /// are copied into a buffer from `pool` (or the heap if it is exhausted) and the copied
    /// payload bytes are added to `copies`.
    pub fn flatten(self, pool: &Pool, copies: &CopyCounter) -> Bytes {
        if self.is_contiguous() {
            return self.head;
        }
        let len = self.len();
        let payload = len - self.head.len();
        copies.add(payload);
        match pool.alloc().filter(|b| b.tailroom() >= len) {
            Some(mut buf) => {
                self.copy_into(buf.append(len));
                buf.freeze()
            }
            None => {
                let mut v = vec![0u8; len];
                self.copy_into(&mut v);
                Bytes::from(v)
            }
        }
    }

    /// Copies the whole frame into `out` (exactly `len()` bytes).
    pub fn copy_into(&self, out: &mut [u8]) {
        let mut at = 0;
        for part in std::iter::once(&self.head).chain(self.parts.iter()) {
            out[at..at + part.len()].copy_from_slice(part);
            at += part.len();
        }
    }

    /// The whole frame as a `Vec` (tests, capture).
    pub fn to_vec(&self) -> Vec<u8> {
        let mut v = vec![0u8; self.len()];
        self.copy_into(&mut v);
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pool_recycles_buffers_when_last_slice_drops() {
        let pool = Pool::new(2, 256, 32);
        let mut a = pool.alloc().unwrap();
        a.extend_from_slice(b"hello world");
        let frame = a.freeze();
        let slice = frame.slice(6..);
        drop(frame);
        assert_eq!(&slice[..], b"world");
        assert_eq!(pool.stats().free, 0, "a live slice keeps the buffer");
        drop(slice);
        assert_eq!(pool.stats().free, 1);
        let _b = pool.alloc().unwrap();
        let st = pool.stats();
        assert_eq!((st.allocations, st.reuses, st.live), (1, 1, 1));
    }

    #[test]
    fn pool_is_bounded() {
        let pool = Pool::new(2, 256, 32);
        let a = pool.alloc().unwrap();
        let _b = pool.alloc().unwrap();
        assert!(pool.alloc().is_none());
        drop(a);
        assert!(pool.alloc().is_some());
    }

    #[test]
    fn headroom_prepend_and_pull() {
        let pool = Pool::new(1, 256, 32);
        let mut b = pool.alloc().unwrap();
        b.extend_from_slice(b"payload");
        b.prepend(4).copy_from_slice(b"hdr:");
        assert_eq!(b.data(), b"hdr:payload");
        assert_eq!(b.headroom(), 28);
        b.pull(4);
        assert_eq!(b.data(), b"payload");
    }

    #[test]
    fn flatten_counts_payload_copies_only_for_chains() {
        let pool = Pool::new(4, 256, 32);
        let copies = CopyCounter::default();
        let single = TxFrame::single(Bytes::from_static(b"abc"));
        assert_eq!(&single.flatten(&pool, &copies)[..], b"abc");
        assert_eq!(copies.get(), 0);
        let chained = TxFrame {
            head: Bytes::from_static(b"HDR"),
            parts: vec![Bytes::from_static(b"pay"), Bytes::from_static(b"load")],
        };
        assert_eq!(chained.len(), 10);
        assert_eq!(&chained.flatten(&pool, &copies)[..], b"HDRpayload");
        assert_eq!(copies.get(), 7);
    }

    #[test]
    fn buffers_dropped_on_another_thread_come_back() {
        let pool = Pool::new(4, 256, 32);
        let mut b = pool.alloc().unwrap();
        b.extend_from_slice(b"x");
        let bytes = b.freeze();
        std::thread::spawn(move || drop(bytes)).join().unwrap();
        assert_eq!(pool.stats().free, 1);
    }
}
