//! A fault-injecting wrapper for any device: seeded loss, duplication, reordering,
//! corruption, delay with jitter and a rate limit, in both directions (or one).
//!
//! Deterministic: every decision comes from one splitmix64 stream seeded by
//! [`FaultConfig::seed`], and delays run on the `now` the loop passes in, so a simulation on a
//! virtual clock replays exactly. Held frames are released by later `rx_burst`/`tx_burst`
//! calls; [`Device::poll_at`] says when the next one is due.
//!
//! Reordering holds a frame back by `reorder_delay` so that the frames after it overtake it.
//! The rate limit is a link model: each frame occupies the link for `len / rate` and waits for
//! the link to be free; a frame that would wait longer than `queue_limit` is tail-dropped.
//! Corruption flips one byte after the Ethernet header (so the frame still reaches the IP
//! layer and its checksums must catch it); corrupting a chained frame flattens a copy of it,
//! which the test tool does not count as a device copy.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, VecDeque};
use std::os::fd::BorrowedFd;
use std::time::Duration;

use bytes::Bytes;

use super::{Caps, DevStats, Device, TxFrame};
use crate::time::Instant;

/// What to inject. Probabilities are in 0.0..=1.0.
#[derive(Debug, Clone, PartialEq)]
pub struct FaultConfig {
    pub seed: u64,
    pub loss: f64,
    pub duplicate: f64,
    pub reorder: f64,
    pub reorder_delay: Duration,
    pub corrupt: f64,
    pub delay: Duration,
    pub jitter: Duration,
    /// Link rate in bytes per second; `None` = unlimited.
    pub rate: Option<u64>,
    /// Longest queueing delay the rate limit may impose before dropping.
    pub queue_limit: Duration,
    /// Apply to received frames.
    pub rx: bool,
    /// Apply to sent frames.
    pub tx: bool,
}

impl Default for FaultConfig {
    fn default() -> Self {
        FaultConfig {
            seed: 1,
            loss: 0.0,
            duplicate: 0.0,
            reorder: 0.0,
            reorder_delay: Duration::from_millis(2),
            corrupt: 0.0,
            delay: Duration::ZERO,
            jitter: Duration::ZERO,
            rate: None,
            queue_limit: Duration::from_millis(50),
            rx: true,
            tx: true,
        }
    }
}

/// What was injected.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FaultStats {
    pub dropped: u64,
    pub duplicated: u64,
    pub reordered: u64,
    pub corrupted: u64,
    pub rate_dropped: u64,
}

/// splitmix64: tiny, seeded, good statistical quality for this purpose.
#[derive(Debug, Clone)]
pub struct SplitMix(u64);

impl SplitMix {
    pub fn new(seed: u64) -> SplitMix {
        SplitMix(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// True with probability `p`.
    pub fn chance(&mut self, p: f64) -> bool {
        p > 0.0 && ((self.next_u64() >> 11) as f64 / (1u64 << 53) as f64) < p
    }

    pub fn below(&mut self, n: u64) -> u64 {
        if n == 0 {
            0
        } else {
            self.next_u64() % n
        }
    }
}

struct Held<T> {
    at: Instant,
    seq: u64,
    frame: T,
}

impl<T> PartialEq for Held<T> {
    fn eq(&self, o: &Self) -> bool {
        (self.at, self.seq) == (o.at, o.seq)
    }
}
impl<T> Eq for Held<T> {}
impl<T> PartialOrd for Held<T> {
    fn partial_cmp(&self, o: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(o))
    }
}
impl<T> Ord for Held<T> {
    fn cmp(&self, o: &Self) -> std::cmp::Ordering {
        (self.at, self.seq).cmp(&(o.at, o.seq))
    }
}

/// One direction: frames waiting for their release time, and the rate limiter's link clock.
struct Lane<T> {
    held: BinaryHeap<Reverse<Held<T>>>,
    link_free: Instant,
}

impl<T> Lane<T> {
    fn new() -> Self {
        Lane {
            held: BinaryHeap::new(),
            link_free: Instant::ZERO,
        }
    }

    fn next(&self) -> Option<Instant> {
        self.held.peek().map(|Reverse(h)| h.at)
    }

    fn pop_due(&mut self, now: Instant) -> Option<T> {
        if self.next()? > now {
            return None;
        }
        self.held.pop().map(|Reverse(h)| h.frame)
    }
}

/// The wrapper. `inner` stays reachable for tests.
pub struct Fault<D> {
    pub inner: D,
    cfg: FaultConfig,
    rng: SplitMix,
    seq: u64,
    rx_lane: Lane<Bytes>,
    tx_lane: Lane<TxFrame>,
    tx_ready: VecDeque<TxFrame>,
    scratch: Vec<Bytes>,
    stats: FaultStats,
}

trait Frame: Clone {
    fn len(&self) -> usize;
    fn corrupt(&self, at: usize, mask: u8) -> Self;
}

impl Frame for Bytes {
    fn len(&self) -> usize {
        Bytes::len(self)
    }
    fn corrupt(&self, at: usize, mask: u8) -> Self {
        let mut v = self.to_vec();
        v[at] ^= mask;
        Bytes::from(v)
    }
}

impl Frame for TxFrame {
    fn len(&self) -> usize {
        TxFrame::len(self)
    }
    fn corrupt(&self, at: usize, mask: u8) -> Self {
        let mut v = self.to_vec();
        v[at] ^= mask;
        TxFrame::single(Bytes::from(v))
    }
}

impl<D: Device> Fault<D> {
    pub fn new(inner: D, cfg: FaultConfig) -> Fault<D> {
        Fault {
            inner,
            rng: SplitMix::new(cfg.seed),
            cfg,
            seq: 0,
            rx_lane: Lane::new(),
            tx_lane: Lane::new(),
            tx_ready: VecDeque::new(),
            scratch: Vec::new(),
            stats: FaultStats::default(),
        }
    }

    pub fn fault_stats(&self) -> FaultStats {
        self.stats
    }

    pub fn config(&self) -> &FaultConfig {
        &self.cfg
    }

    /// Changes the faults from now on (frames already held keep their release times).
    pub fn set_config(&mut self, cfg: FaultConfig) {
        self.cfg = cfg;
    }
}

/// Runs one frame through the faults and holds the survivors (and duplicates) in `lane`.
fn inject<T: Frame>(
    f: (&FaultConfig, &mut SplitMix, &mut u64, &mut FaultStats),
    lane: &mut Lane<T>,
    now: Instant,
    frame: T,
) {
    let (cfg, rng, seq, stats) = f;
    if rng.chance(cfg.loss) {
        stats.dropped += 1;
        return;
    }
    let copies = if rng.chance(cfg.duplicate) {
        stats.duplicated += 1;
        2
    } else {
        1
    };
    for _ in 0..copies {
        let mut frame = frame.clone();
        if frame.len() > 14 && rng.chance(cfg.corrupt) {
            stats.corrupted += 1;
            let at = 14 + rng.below((frame.len() - 14) as u64) as usize;
            frame = frame.corrupt(at, 1 << rng.below(8));
        }
        let mut at = now + cfg.delay;
        if !cfg.jitter.is_zero() {
            at += Duration::from_nanos(rng.below(cfg.jitter.as_nanos() as u64 + 1));
        }
        if let Some(rate) = cfg.rate.filter(|&r| r > 0) {
            let start = at.max(lane.link_free);
            if start - at > cfg.queue_limit {
                stats.rate_dropped += 1;
                continue;
            }
            let busy = Duration::from_nanos(frame.len() as u64 * 1_000_000_000 / rate);
            lane.link_free = start + busy;
            at = start + busy;
        }
        if rng.chance(cfg.reorder) {
            stats.reordered += 1;
            at += cfg.reorder_delay;
        }
        *seq += 1;
        lane.held.push(Reverse(Held {
            at,
            seq: *seq,
            frame,
        }));
    }
}

impl<D: Device> Device for Fault<D> {
    fn rx_burst(&mut self, now: Instant, out: &mut Vec<Bytes>, max: usize) -> usize {
        let mut scratch = std::mem::take(&mut self.scratch);
        self.inner.rx_burst(now, &mut scratch, max);
        for frame in scratch.drain(..) {
            if self.cfg.rx {
                let f = (&self.cfg, &mut self.rng, &mut self.seq, &mut self.stats);
                inject(f, &mut self.rx_lane, now, frame);
            } else {
                out.push(frame);
            }
        }
        self.scratch = scratch;
        let before = out.len();
        while out.len() < before + max {
            match self.rx_lane.pop_due(now) {
                Some(frame) => out.push(frame),
                None => break,
            }
        }
        out.len() - before
    }

    fn tx_burst(&mut self, now: Instant, frames: &mut VecDeque<TxFrame>) -> usize {
        let taken = frames.len();
        for frame in frames.drain(..) {
            if self.cfg.tx {
                let f = (&self.cfg, &mut self.rng, &mut self.seq, &mut self.stats);
                inject(f, &mut self.tx_lane, now, frame);
            } else {
                self.tx_ready.push_back(frame);
            }
        }
        while let Some(frame) = self.tx_lane.pop_due(now) {
            self.tx_ready.push_back(frame);
        }
        self.inner.tx_burst(now, &mut self.tx_ready);
        // Everything was taken into the injector's own queues: the caller never waits on us.
        taken
    }

    fn caps(&self) -> Caps {
        let mut caps = self.inner.caps();
        if self.cfg.corrupt > 0.0 {
            caps.rx_checksum = false;
        }
        caps
    }

    fn stats(&self) -> DevStats {
        self.inner.stats()
    }

    fn poll_at(&self) -> Option<Instant> {
        let soon = (!self.tx_ready.is_empty()).then_some(Instant::ZERO);
        [
            self.rx_lane.next(),
            self.tx_lane.next(),
            soon,
            self.inner.poll_at(),
        ]
        .into_iter()
        .flatten()
        .min()
    }

    fn as_fd(&self) -> Option<BorrowedFd<'_>> {
        self.inner.as_fd()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dev::MemoryWire;

    fn frame(i: u32) -> TxFrame {
        let mut v = vec![0u8; 60];
        v[14..18].copy_from_slice(&i.to_be_bytes());
        TxFrame::single(Bytes::from(v))
    }

    /// Sends 1000 numbered frames through a faulty end at 1 ms intervals and returns what the
    /// other end received (virtual time).
    fn run(cfg: FaultConfig) -> (Vec<Vec<u8>>, FaultStats) {
        let (a, mut b) = MemoryWire::pair(64, 100_000);
        let mut f = Fault::new(a, cfg);
        let mut got = Vec::new();
        let mut out = Vec::new();
        for t in 0..1200u32 {
            let now = Instant::from_millis(t as u64);
            let mut q: VecDeque<TxFrame> = VecDeque::new();
            if t < 1000 {
                q.push_back(frame(t));
            }
            f.tx_burst(now, &mut q);
            b.rx_burst(now, &mut out, 64);
            got.extend(out.drain(..).map(|b| b.to_vec()));
        }
        (got, f.fault_stats())
    }

    fn faulty(seed: u64) -> FaultConfig {
        FaultConfig {
            seed,
            loss: 0.05,
            duplicate: 0.05,
            reorder: 0.05,
            corrupt: 0.05,
            delay: Duration::from_millis(3),
            jitter: Duration::from_millis(2),
            ..FaultConfig::default()
        }
    }

    #[test]
    fn same_seed_same_faults() {
        let (a, sa) = run(faulty(7));
        let (b, sb) = run(faulty(7));
        assert_eq!(a, b);
        assert_eq!(sa, sb);
        let (c, _) = run(faulty(8));
        assert_ne!(a, c, "another seed gives another run");
    }

    #[test]
    fn rates_are_roughly_as_configured() {
        let (got, s) = run(faulty(42));
        assert!((25..=80).contains(&s.dropped), "{s:?}");
        assert!((25..=80).contains(&s.duplicated), "{s:?}");
        assert!((25..=80).contains(&s.corrupted), "{s:?}");
        assert!(s.reordered > 25, "{s:?}");
        assert_eq!(
            got.len() as u64,
            1000 - s.dropped + s.duplicated,
            "every survivor arrives once (twice if duplicated)"
        );
        let ids: Vec<u32> = got
            .iter()
            .map(|f| u32::from_be_bytes(f[14..18].try_into().unwrap()))
            .collect();
        assert!(ids.windows(2).any(|w| w[0] > w[1]), "some reordering");
    }

    #[test]
    fn nothing_configured_is_transparent() {
        let (got, s) = run(FaultConfig::default());
        assert_eq!(got.len(), 1000);
        assert_eq!(s, FaultStats::default());
    }

    #[test]
    fn rate_limit_spaces_and_drops() {
        // 60-byte frames at 1 per ms = 60 kB/s offered; 30 kB/s link with a 50 ms queue.
        let (got, s) = run(FaultConfig {
            rate: Some(30_000),
            ..FaultConfig::default()
        });
        assert!(s.rate_dropped > 400, "{s:?}");
        assert!((450..=560).contains(&got.len()), "{}", got.len());
    }
}
