//! The per-key access clock Redis keeps in `lru` (LRU: seconds, 24 bits; LFU: minutes and a
//! logarithmic counter), updated on every lookup and read by OBJECT, DEBUG OBJECT and the
//! eviction policies in `crate::evict`; and `fast_rand`, the sampling RNG.

use super::value::Entry;

/// Redis's LRU clock: seconds, 24 bits.
#[inline]
pub fn lru_clock(now_ms: u64) -> u32 {
    ((now_ms / 1000) & 0xFF_FFFF) as u32
}

pub(super) fn lfu_init(clock: u32) -> u32 {
    (((clock / 60) & 0xFFFF) << 8) | 5
}

/// Updates the access clock (LRU) or the logarithmic counter (LFU), like Redis.
#[inline]
pub(super) fn touch(e: &mut Entry, clock: u32, lfu: bool) {
    if !lfu {
        e.lru = clock;
        return;
    }
    let minutes = (clock / 60) & 0xFFFF;
    let mut counter = lfu_decayed(e.lru, clock);
    if counter < 255 {
        let base = counter.saturating_sub(5) as f64;
        let p = 1.0 / (base * 10.0 + 1.0);
        if fast_rand_f64() < p {
            counter += 1;
        }
    }
    e.lru = (minutes << 8) | counter;
}

/// The LFU counter after decay (one step per minute idle, lfu-decay-time 1).
pub fn lfu_decayed(lru: u32, clock: u32) -> u32 {
    let minutes = (clock / 60) & 0xFFFF;
    let last = lru >> 8;
    let idle = minutes.wrapping_sub(last) & 0xFFFF;
    (lru & 0xFF).saturating_sub(idle)
}

pub fn idle_seconds(lru: u32, clock: u32) -> u64 {
    (clock.wrapping_sub(lru) & 0xFF_FFFF) as u64
}

thread_local! {
    static RNG: std::cell::Cell<u64> = std::cell::Cell::new(seed());
}

fn seed() -> u64 {
    let t = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(1, |d| d.as_nanos() as u64);
    let id = &t as *const u64 as u64;
    (t ^ id.rotate_left(32)) | 1
}

/// xorshift64*: sampling for eviction, SPOP, RANDOMKEY; no cryptographic need.
pub fn fast_rand() -> u64 {
    RNG.with(|r| {
        let mut x = r.get();
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        r.set(x);
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    })
}

pub fn fast_rand_f64() -> f64 {
    (fast_rand() >> 11) as f64 / (1u64 << 53) as f64
}
