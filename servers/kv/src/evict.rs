//! maxmemory: memory accounting (`Counting`, the global allocator, and `used_memory`) and
//! eviction by sampling, like Redis (approximate LRU/LFU over the access clock that
//! `store::access` keeps per key; random; shortest TTL): `make_room`.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicIsize, Ordering};

use bytes::Bytes;

use crate::config::Policy;
use crate::server::{now_ms, Server};
use crate::store::{fast_rand, idle_seconds, lfu_decayed, lru_clock, SHARDS};

/// Counts live heap bytes, Redis's `used_memory` (zmalloc does the same).
pub struct Counting;

static USED: AtomicIsize = AtomicIsize::new(0);

// SAFETY: every method hands its arguments unchanged to the system allocator and returns its
// result, so `Counting` keeps `System`'s guarantees; the counter is plain arithmetic and never
// allocates.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        USED.fetch_add(l.size() as isize, Ordering::Relaxed);
        // SAFETY: the caller's obligations for `alloc` (non-zero size) are System's.
        System.alloc(l)
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        USED.fetch_sub(l.size() as isize, Ordering::Relaxed);
        // SAFETY: `p` came from this allocator, i.e. from System, with layout `l`.
        System.dealloc(p, l)
    }
    unsafe fn alloc_zeroed(&self, l: Layout) -> *mut u8 {
        USED.fetch_add(l.size() as isize, Ordering::Relaxed);
        // SAFETY: as for `alloc`.
        System.alloc_zeroed(l)
    }
    unsafe fn realloc(&self, p: *mut u8, l: Layout, new: usize) -> *mut u8 {
        USED.fetch_add(new as isize - l.size() as isize, Ordering::Relaxed);
        // SAFETY: `p` came from System with layout `l`; the caller guarantees `new` is valid.
        System.realloc(p, l, new)
    }
}

pub fn used_memory() -> u64 {
    USED.load(Ordering::Relaxed).max(0) as u64
}

const SAMPLES: usize = 5;

/// Evicts keys until memory is under `maxmemory`; false if that is impossible (OOM).
pub fn make_room(srv: &Server) -> bool {
    let max = srv.cfg.maxmemory.load(Ordering::Relaxed);
    if max == 0 || used_memory() <= max {
        return true;
    }
    let policy = srv.cfg.policy();
    if policy == Policy::NoEviction {
        return false;
    }
    // Bounded work per command, like Redis's eviction time limit.
    for _ in 0..64 {
        if used_memory() <= max {
            return true;
        }
        if !evict_one(srv, policy) {
            return false;
        }
    }
    used_memory() <= max
}

/// Samples keys across shards and databases and deletes the best candidate.
fn evict_one(srv: &Server, policy: Policy) -> bool {
    let now = now_ms();
    let clock = lru_clock(now);
    let mut best: Option<(u64, usize, usize, Bytes)> = None;
    let mut attempts = 0;
    let mut found = 0;
    while found < SAMPLES && attempts < SHARDS * 4 {
        attempts += 1;
        let si = fast_rand() as usize % SHARDS;
        let shard = srv.store.lock(si);
        for (db, d) in shard.dbs.iter().enumerate() {
            let len = d.map.len();
            if len == 0 || (policy.volatile() && d.expires == 0) {
                continue;
            }
            // A few probes per db: volatile policies skip keys without TTL.
            for _ in 0..SAMPLES {
                let (k, e) = d
                    .map
                    .get_index(fast_rand() as usize % len)
                    .expect("in range");
                if policy.volatile() && e.exp == 0 {
                    continue;
                }
                let score = match policy {
                    Policy::AllkeysLru | Policy::VolatileLru => idle_seconds(e.lru, clock),
                    Policy::AllkeysLfu | Policy::VolatileLfu => {
                        255 - lfu_decayed(e.lru, clock) as u64
                    }
                    Policy::VolatileTtl => u64::MAX - e.exp,
                    _ => fast_rand(),
                };
                found += 1;
                if best.as_ref().is_none_or(|b| score > b.0) {
                    best = Some((score, si, db, Bytes::copy_from_slice(k)));
                }
                break;
            }
        }
    }
    let Some((_, si, db, key)) = best else {
        return false;
    };
    let mut shard = srv.store.lock(si);
    if shard.remove(db, &key).is_some() {
        shard.modified(db, &key);
        srv.store.stats.evicted.fetch_add(1, Ordering::Relaxed);
    }
    true
}
