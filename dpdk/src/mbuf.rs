//! Mbuf pools and owning mbuf pointers.
//!
//! Ownership model: an [`Mbuf`] owns one reference to an `rte_mbuf` chain and frees it on
//! drop. Mbufs are `Send`: pools use DPDK's default `ring_mp_mc` ops, so a buffer may be
//! freed on any thread (a non-lcore thread bypasses the per-lcore cache and goes to the ring).

use std::ffi::{c_void, CString};
use std::mem::ManuallyDrop;
use std::ptr::NonNull;

use bytes::Bytes;
use dpdk_sys as sys;

use crate::eal::{Eal, Error};

/// A pool of packet mbufs (`rte_pktmbuf_pool_create`).
///
/// Pools live for the rest of the process: an `Mbuf` does not borrow its pool (that would cost
/// a reference count per packet), so freeing a pool while mbufs are out would be unsound;
/// a `Mempool` is therefore a copyable handle to a pool that is never freed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Mempool {
    ptr: NonNull<sys::rte_mempool>,
}

// SAFETY: an rte_mempool is designed for concurrent use from every thread (multi-producer,
// multi-consumer ring ops by default; per-lcore caches are indexed by the calling lcore).
unsafe impl Send for Mempool {}
// SAFETY: as above; every method goes through DPDK's thread-safe mempool API.
unsafe impl Sync for Mempool {}

impl Mempool {
    /// `RTE_MBUF_DEFAULT_BUF_SIZE`: a 2048-byte data room plus the 128-byte headroom, enough for
    /// a standard Ethernet frame.
    pub const DEFAULT_DATA_ROOM: u16 = 2048 + 128;

    /// A pool of `n` mbufs with `data_room` bytes each (headroom included; use
    /// `RTE_MBUF_DEFAULT_BUF_SIZE` = 2176 for standard frames) and a per-lcore `cache`, on NUMA
    /// `socket` (`-1`: any). `n` is best `2^k - 1`.
    pub fn create(
        _eal: &Eal,
        name: &str,
        n: u32,
        cache: u32,
        data_room: u16,
        socket: i32,
    ) -> Result<Mempool, Error> {
        let cname = CString::new(name).map_err(|_| Error {
            op: "rte_pktmbuf_pool_create (name contains NUL)",
            errno: 22,
        })?;
        // SAFETY: EAL is initialised (`_eal`); the name is a valid C string that DPDK copies.
        let ptr =
            unsafe { sys::rte_pktmbuf_pool_create(cname.as_ptr(), n, cache, 0, data_room, socket) };
        NonNull::new(ptr)
            .map(|ptr| Mempool { ptr })
            .ok_or_else(|| Error::last("rte_pktmbuf_pool_create"))
    }

    pub fn as_ptr(&self) -> *mut sys::rte_mempool {
        self.ptr.as_ptr()
    }

    /// One mbuf, reset (empty, default headroom), or `None` when the pool is exhausted.
    pub fn alloc(&self) -> Option<Mbuf> {
        // SAFETY: the pool is a valid packet mbuf pool for the whole process.
        let m = unsafe { sys::fs_rte_pktmbuf_alloc(self.ptr.as_ptr()) };
        NonNull::new(m).map(Mbuf)
    }

    /// `count` mbufs appended to `out`, all or none (returns false when the pool cannot
    /// supply them).
    pub fn alloc_bulk(&self, out: &mut Vec<Mbuf>, count: usize) -> bool {
        out.reserve(count);
        let spare = out.spare_capacity_mut();
        // SAFETY: `spare` has room for `count` pointers; `Mbuf` is `repr(transparent)` over a
        // non-null pointer, and on success DPDK writes `count` valid mbuf pointers.
        let ret = unsafe {
            sys::fs_rte_pktmbuf_alloc_bulk(
                self.ptr.as_ptr(),
                spare.as_mut_ptr() as *mut *mut sys::rte_mbuf,
                count as u32,
            )
        };
        if ret != 0 {
            return false;
        }
        // SAFETY: the first `count` spare slots were initialised by DPDK.
        unsafe { out.set_len(out.len() + count) };
        true
    }

    /// Mbufs in the pool (free), including those in per-lcore caches.
    pub fn available(&self) -> u32 {
        // SAFETY: the pool is valid.
        unsafe { sys::rte_mempool_avail_count(self.ptr.as_ptr()) }
    }

    /// Mbufs taken out of the pool (in rings, in the application, in flight).
    pub fn in_use(&self) -> u32 {
        // SAFETY: the pool is valid.
        unsafe { sys::rte_mempool_in_use_count(self.ptr.as_ptr()) }
    }

    /// Total mbufs in the pool.
    pub fn size(&self) -> u32 {
        // SAFETY: the pool is valid; `size` is set at creation and never changes.
        unsafe { (*self.ptr.as_ptr()).size }
    }

    /// Data room size of each mbuf (headroom included).
    pub fn data_room(&self) -> u16 {
        // SAFETY: the pool is a packet mbuf pool (created by rte_pktmbuf_pool_create).
        unsafe { sys::fs_rte_pktmbuf_data_room_size(self.ptr.as_ptr()) }
    }
}

/// An owned `rte_mbuf` (chain), freed back to its pool on drop.
#[repr(transparent)]
#[derive(Debug)]
pub struct Mbuf(NonNull<sys::rte_mbuf>);

// SAFETY: an mbuf is a plain buffer owned by this handle; freeing it from another thread is
// supported by the pool (see the module documentation). External buffers attached by
// `from_bytes` hold `Bytes`, which are `Send`.
unsafe impl Send for Mbuf {}
// SAFETY: `&Mbuf` only allows reading the data and metadata.
unsafe impl Sync for Mbuf {}

/// Owner of an attached external buffer: the shared info DPDK reference-counts and the
/// `Bytes` that keeps the memory alive. Freed by `ext_free` when the last mbuf drops it.
#[repr(C)]
struct ExtBuf {
    shinfo: sys::rte_mbuf_ext_shared_info,
    bytes: Bytes,
}

unsafe extern "C" fn ext_free(_addr: *mut c_void, opaque: *mut c_void) {
    // SAFETY: `opaque` is the `Box<ExtBuf>` leaked in `Mbuf::attach`; DPDK calls this once,
    // when the shared info's reference count reaches zero.
    drop(unsafe { Box::from_raw(opaque as *mut ExtBuf) });
}

impl Mbuf {
    /// Takes ownership of a raw mbuf.
    ///
    /// # Safety
    /// `m` must be a valid mbuf that the caller owns (one reference) and gives away.
    pub unsafe fn from_raw(m: NonNull<sys::rte_mbuf>) -> Mbuf {
        Mbuf(m)
    }

    /// Gives up ownership without freeing.
    pub fn into_raw(self) -> NonNull<sys::rte_mbuf> {
        ManuallyDrop::new(self).0
    }

    pub fn as_ptr(&self) -> *mut sys::rte_mbuf {
        self.0.as_ptr()
    }

    fn raw(&self) -> &sys::rte_mbuf {
        // SAFETY: the mbuf is valid while owned.
        unsafe { self.0.as_ref() }
    }

    /// The first segment's data (`rte_pktmbuf_mtod`, `data_len` bytes).
    pub fn data(&self) -> &[u8] {
        let m = self.raw();
        // SAFETY: buf_addr + data_off .. + data_len lies within the segment's buffer, which
        // is valid and not written by anyone else while we own the mbuf.
        unsafe {
            std::slice::from_raw_parts(
                (m.buf_addr as *const u8).add(m.data_off as usize),
                m.data_len as usize,
            )
        }
    }

    /// The first segment's data, writable; `None` when the buffer is shared (reference count
    /// above one) or external (memory of an attached `Bytes`, which is immutable).
    pub fn data_mut(&mut self) -> Option<&mut [u8]> {
        if !self.is_writable() {
            return None;
        }
        let m = self.raw();
        let (addr, off, len) = (m.buf_addr as *mut u8, m.data_off, m.data_len);
        // SAFETY: as in `data`, and the buffer is exclusively ours (checked above).
        Some(unsafe { std::slice::from_raw_parts_mut(addr.add(off as usize), len as usize) })
    }

    fn is_writable(&self) -> bool {
        // SAFETY: reads the mbuf's reference count.
        let refcnt = unsafe { sys::fs_rte_mbuf_refcnt_read(self.0.as_ptr()) };
        refcnt == 1
            && self.raw().ol_flags & (sys::RTE_MBUF_F_EXTERNAL | sys::RTE_MBUF_F_INDIRECT) == 0
    }

    /// Bytes in the first segment.
    pub fn data_len(&self) -> usize {
        self.raw().data_len as usize
    }

    /// Bytes in the whole chain.
    pub fn pkt_len(&self) -> usize {
        self.raw().pkt_len as usize
    }

    pub fn nb_segs(&self) -> u16 {
        self.raw().nb_segs
    }

    pub fn ol_flags(&self) -> u64 {
        self.raw().ol_flags
    }

    /// The RSS hash the NIC computed, when it did.
    pub fn rss_hash(&self) -> Option<u32> {
        let m = self.raw();
        // SAFETY: reading a u32 member of a plain-data union (any bit pattern is valid).
        let rss = unsafe { m.__bindgen_anon_2.hash.rss };
        (m.ol_flags & sys::RTE_MBUF_F_RX_RSS_HASH != 0).then_some(rss)
    }

    /// The segment's whole buffer (data room), as (start address, length): received bytes
    /// point inside it.
    pub fn buffer(&self) -> (*const u8, usize) {
        let m = self.raw();
        (m.buf_addr as *const u8, m.buf_len as usize)
    }

    pub fn headroom(&self) -> usize {
        self.raw().data_off as usize
    }

    pub fn tailroom(&self) -> usize {
        let m = self.raw();
        m.buf_len as usize - m.data_off as usize - m.data_len as usize
    }

    /// Extends the data at the end by `len` bytes and returns them (uninitialised contents of
    /// the buffer, so zero them or overwrite them); `None` without tailroom or when the mbuf
    /// is not writable. Single-segment mbufs only.
    pub fn append(&mut self, len: usize) -> Option<&mut [u8]> {
        if !self.is_writable() || self.nb_segs() != 1 || len > self.tailroom() {
            return None;
        }
        // SAFETY: single writable segment with enough tailroom (checked).
        let p = unsafe { sys::fs_rte_pktmbuf_append(self.0.as_ptr(), len as u16) };
        // SAFETY: DPDK returned a pointer to `len` bytes inside our buffer.
        NonNull::new(p)
            .map(|p| unsafe { std::slice::from_raw_parts_mut(p.as_ptr() as *mut u8, len) })
    }

    /// Appends a copy of `bytes` (single-segment, writable mbufs).
    pub fn extend_from_slice(&mut self, bytes: &[u8]) -> bool {
        match self.append(bytes.len()) {
            Some(dst) => {
                dst.copy_from_slice(bytes);
                true
            }
            None => false,
        }
    }

    /// Links `tail` after the last segment of this chain (`rte_pktmbuf_chain`); gives `tail`
    /// back if the chain would exceed the segment limit.
    pub fn chain(&mut self, tail: Mbuf) -> Result<(), Mbuf> {
        // SAFETY: both are valid owned chains; on success DPDK takes `tail` into ours.
        let ret = unsafe { sys::fs_rte_pktmbuf_chain(self.0.as_ptr(), tail.as_ptr()) };
        if ret == 0 {
            std::mem::forget(tail);
            Ok(())
        } else {
            Err(tail)
        }
    }

    /// The segments' data, in order.
    pub fn segments(&self) -> impl Iterator<Item = &[u8]> + '_ {
        let mut next = Some(self.0);
        std::iter::from_fn(move || {
            let seg = next?;
            // SAFETY: segments of an owned chain are valid while we own the head.
            let m = unsafe { seg.as_ref() };
            next = NonNull::new(m.next);
            // SAFETY: as in `data`, for this segment.
            Some(unsafe {
                std::slice::from_raw_parts(
                    (m.buf_addr as *const u8).add(m.data_off as usize),
                    m.data_len as usize,
                )
            })
        })
    }

    /// Sets the TX offload lengths (`l2_len`, `l3_len`, `l4_len`, `tso_segsz`) and OR-s
    /// `flags` (`RTE_MBUF_F_TX_*`) into `ol_flags`.
    pub fn set_tx_offload(&mut self, l2: u8, l3: u16, l4: u8, tso_segsz: u16, flags: u64) {
        let v = (l2 as u64 & 0x7f)
            | ((l3 as u64 & 0x1ff) << 7)
            | ((l4 as u64) << 16)
            | ((tso_segsz as u64) << 24);
        // SAFETY: the mbuf is ours; writing the `tx_offload` view of a plain-data union
        // (bit layout: l2_len:7, l3_len:9, l4_len:8, tso_segsz:16, as in rte_mbuf_core.h).
        unsafe {
            let m = self.0.as_mut();
            m.__bindgen_anon_3.tx_offload = v;
            m.ol_flags |= flags;
        }
    }

    /// The received frame as `Bytes`, without a copy: the `Bytes` points into the mbuf's data
    /// room and the mbuf goes back to its pool when the last slice of it is dropped.
    /// A multi-segment chain is copied into one buffer instead (`Err` carries that copy).
    pub fn into_bytes(self) -> Result<Bytes, Bytes> {
        if self.nb_segs() == 1 {
            Ok(Bytes::from_owner(self))
        } else {
            let mut v = Vec::with_capacity(self.pkt_len());
            for s in self.segments() {
                v.extend_from_slice(s);
            }
            Err(Bytes::from(v))
        }
    }

    /// An mbuf from `pool` whose data is `bytes`, without a copy: the memory is attached as an
    /// external buffer and `bytes` is kept alive until DPDK frees the mbuf (after
    /// transmission). `bytes` longer than 65535 bytes become a chain. `None` if the pool is
    /// exhausted.
    ///
    /// IOVA: with IOVA-as-VA (virtual devices; vfio) the virtual address is used. A real NIC in
    /// IOVA-as-PA mode can only DMA from memory DPDK knows: register the application's memory
    /// (`rte_extmem_register` + `rte_dev_dma_map`) first, or copy.
    pub fn from_bytes(pool: &Mempool, bytes: Bytes) -> Option<Mbuf> {
        const MAX_SEG: usize = u16::MAX as usize;
        let mut head: Option<Mbuf> = None;
        let mut at = 0;
        loop {
            let end = (at + MAX_SEG).min(bytes.len());
            let seg = Mbuf::attach(pool, bytes.slice(at..end))?;
            match head.as_mut() {
                None => head = Some(seg),
                Some(h) => h.chain(seg).ok()?,
            }
            at = end;
            if at >= bytes.len() {
                return head;
            }
        }
    }

    fn attach(pool: &Mempool, bytes: Bytes) -> Option<Mbuf> {
        debug_assert!(bytes.len() <= u16::MAX as usize);
        let mut m = pool.alloc()?;
        let addr = bytes.as_ptr() as *mut c_void;
        let len = bytes.len() as u16;
        let owner = Box::into_raw(Box::new(ExtBuf {
            shinfo: sys::rte_mbuf_ext_shared_info {
                free_cb: Some(ext_free),
                fcb_opaque: std::ptr::null_mut(),
                refcnt: 1,
            },
            bytes,
        }));
        // SAFETY: `owner` is a fresh, valid allocation; DPDK reads `shinfo` until `ext_free`
        // (which frees `owner`) runs, and `bytes` keeps `addr..addr+len` alive until then.
        // The mbuf is freshly allocated, direct, with refcnt 1, as attach_extbuf requires.
        // Nothing writes through `addr` (the mbuf is marked external, `data_mut` refuses it).
        unsafe {
            (*owner).shinfo.fcb_opaque = owner as *mut c_void;
            let iova = iova_of(addr);
            sys::fs_rte_pktmbuf_attach_extbuf(
                m.0.as_ptr(),
                addr,
                iova,
                len,
                std::ptr::addr_of_mut!((*owner).shinfo),
            );
            let raw = m.0.as_mut();
            raw.data_len = len;
            raw.pkt_len = len as u32;
        }
        Some(m)
    }
}

fn iova_of(addr: *mut c_void) -> u64 {
    match Eal::get() {
        Some(eal) if eal.iova_is_va() => addr as u64,
        // SAFETY: a pure address translation lookup (pagemap); returns RTE_BAD_IOVA (all ones)
        // when the address is unknown.
        _ => unsafe { sys::rte_mem_virt2iova(addr) },
    }
}

impl AsRef<[u8]> for Mbuf {
    fn as_ref(&self) -> &[u8] {
        self.data()
    }
}

impl Drop for Mbuf {
    fn drop(&mut self) {
        // SAFETY: we own one reference to a valid chain; rte_pktmbuf_free releases it (and
        // every segment, running the free callback of attached external buffers).
        unsafe { sys::fs_rte_pktmbuf_free(self.0.as_ptr()) }
    }
}
