//! Time for the per-core loop: an [`Instant`] in nanoseconds since a per-stack origin,
//! clocks (a real monotonic one and a [`VirtualClock`] for tests), and a hierarchical
//! [`TimerWheel`].
//!
//! # The timer wheel
//!
//! Timers are keyed by a caller-chosen dense `u32` (a connection's slab index times the
//! number of timer kinds, say): the wheel keeps one intrusive list node per key, so arming,
//! re-arming and cancelling unlink and link a node in O(1), with no allocation once the key
//! space has been seen and no map lookup. TCP re-arms its RTO and delayed-ACK timers on
//! nearly every segment, so this is the operation that matters.
//!
//! Layout: 6 levels of 64 slots (a `u64` occupancy bitmap per level). Level `L` slots span
//! `64^L` ticks, so the wheel covers `2^36` ticks (795 days at the default 1 ms tick); later
//! deadlines park at the top level and are re-placed until they are in range. A timer is
//! placed at the level of the highest 6-bit digit in which its deadline differs from the
//! current tick (as in Linux's and tokio's wheels).
//!
//! Complexity, with `n` armed timers:
//! - `arm`, `cancel`, `is_armed`, `deadline`: O(1).
//! - `poll` / `advance`: finding the next occupied slot is O(levels) bitmap scans, and each
//!   timer is moved down ("cascaded") at most `levels - 1` times in its life: amortized O(1)
//!   per expiry. Empty slots are skipped through the bitmaps, so a long idle gap costs
//!   nothing, and nothing ever scans all timers.
//! - Memory: one 24-byte node per key ever armed, plus 385 list heads.
//!
//! Precision: a deadline is rounded up to a whole tick, so a timer never fires early and fires
//! at most one tick late (given `poll` is called every tick).

use core::ops::{Add, AddAssign, Sub};
use core::time::Duration;
use std::cell::Cell;

/// A point in time: nanoseconds since the origin of the clock that produced it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Instant {
    nanos: u64,
}

impl Instant {
    /// The origin.
    pub const ZERO: Instant = Instant { nanos: 0 };

    /// From nanoseconds since the origin.
    pub const fn from_nanos(nanos: u64) -> Instant {
        Instant { nanos }
    }

    /// From microseconds since the origin.
    pub const fn from_micros(micros: u64) -> Instant {
        Instant {
            nanos: micros * 1_000,
        }
    }

    /// From milliseconds since the origin.
    pub const fn from_millis(millis: u64) -> Instant {
        Instant {
            nanos: millis * 1_000_000,
        }
    }

    /// Nanoseconds since the origin.
    pub const fn total_nanos(self) -> u64 {
        self.nanos
    }

    /// Microseconds since the origin (truncated).
    pub const fn total_micros(self) -> u64 {
        self.nanos / 1_000
    }

    /// Milliseconds since the origin (truncated).
    pub const fn total_millis(self) -> u64 {
        self.nanos / 1_000_000
    }

    /// Time since `earlier`, zero if `earlier` is later.
    pub fn saturating_duration_since(self, earlier: Instant) -> Duration {
        Duration::from_nanos(self.nanos.saturating_sub(earlier.nanos))
    }
}

fn duration_nanos(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

impl Add<Duration> for Instant {
    type Output = Instant;
    /// Saturates at the far future instead of overflowing.
    fn add(self, d: Duration) -> Instant {
        Instant {
            nanos: self.nanos.saturating_add(duration_nanos(d)),
        }
    }
}

impl AddAssign<Duration> for Instant {
    fn add_assign(&mut self, d: Duration) {
        *self = *self + d;
    }
}

impl Sub<Duration> for Instant {
    type Output = Instant;
    /// Saturates at the origin.
    fn sub(self, d: Duration) -> Instant {
        Instant {
            nanos: self.nanos.saturating_sub(duration_nanos(d)),
        }
    }
}

impl Sub<Instant> for Instant {
    type Output = Duration;
    /// Saturates at zero.
    fn sub(self, earlier: Instant) -> Duration {
        self.saturating_duration_since(earlier)
    }
}

/// A source of the current time.
pub trait Clock {
    /// The current time.
    fn now(&self) -> Instant;
}

/// The OS monotonic clock, with its origin at creation.
#[derive(Debug, Clone, Copy)]
pub struct MonotonicClock {
    origin: std::time::Instant,
}

impl MonotonicClock {
    /// A clock whose `now()` starts at [`Instant::ZERO`].
    pub fn new() -> MonotonicClock {
        MonotonicClock {
            origin: std::time::Instant::now(),
        }
    }
}

impl MonotonicClock {
    /// The clock's reading at the OS instant `t` (zero before the origin).
    pub fn at(&self, t: std::time::Instant) -> Instant {
        Instant::from_nanos(duration_nanos(t.saturating_duration_since(self.origin)))
    }

    /// The OS instant of reading `t`.
    pub fn to_std(&self, t: Instant) -> std::time::Instant {
        self.origin + Duration::from_nanos(t.total_nanos())
    }
}

impl Default for MonotonicClock {
    fn default() -> Self {
        Self::new()
    }
}

impl Clock for MonotonicClock {
    fn now(&self) -> Instant {
        Instant::from_nanos(duration_nanos(self.origin.elapsed()))
    }
}

/// A clock that moves only when told: deterministic tests and simulations.
#[derive(Debug, Default)]
pub struct VirtualClock {
    now: Cell<Instant>,
}

impl VirtualClock {
    /// A clock reading `start`.
    pub fn new(start: Instant) -> VirtualClock {
        VirtualClock {
            now: Cell::new(start),
        }
    }

    /// Moves the clock forward by `d`.
    pub fn advance(&self, d: Duration) {
        self.now.set(self.now.get() + d);
    }

    /// Sets the clock (it may go backwards: tests own it).
    pub fn set(&self, t: Instant) {
        self.now.set(t);
    }
}

impl Clock for VirtualClock {
    fn now(&self) -> Instant {
        self.now.get()
    }
}

/// The default wheel tick.
pub const DEFAULT_TICK: Duration = Duration::from_millis(1);

const LEVELS: usize = 6;
const SLOT_BITS: usize = 6;
const SLOTS: usize = 1 << SLOT_BITS;
/// Farthest deadline, in ticks from now, that the levels represent exactly.
const MAX_SPAN: u64 = (1 << (SLOT_BITS * LEVELS)) - 1;
/// List of timers already due but not yet returned by `poll`.
const PENDING: u32 = (LEVELS * SLOTS) as u32;
const NIL: u32 = u32::MAX;

#[derive(Debug, Clone, Copy)]
struct Node {
    prev: u32,
    next: u32,
    /// The list holding the node, `NIL` when not armed.
    list: u32,
    /// Deadline in ticks.
    deadline: u64,
}

const UNARMED: Node = Node {
    prev: NIL,
    next: NIL,
    list: NIL,
    deadline: 0,
};

#[derive(Debug, Clone, Copy)]
struct List {
    head: u32,
    tail: u32,
}

const EMPTY: List = List {
    head: NIL,
    tail: NIL,
};

/// A hierarchical timer wheel keyed by dense `u32` keys; see the [module docs](self).
#[derive(Debug, Clone)]
pub struct TimerWheel {
    nodes: Vec<Node>,
    lists: Box<[List; LEVELS * SLOTS + 1]>,
    occupied: [u64; LEVELS],
    /// The current tick: every timer due at or before it has been moved to `PENDING`.
    elapsed: u64,
    tick_nanos: u64,
    origin: Instant,
    armed: usize,
}

impl Default for TimerWheel {
    fn default() -> Self {
        TimerWheel::new(DEFAULT_TICK, Instant::ZERO)
    }
}

impl TimerWheel {
    /// A wheel with the given tick (at least 1 ns) whose current time is `now`.
    pub fn new(tick: Duration, now: Instant) -> TimerWheel {
        TimerWheel {
            nodes: Vec::new(),
            lists: Box::new([EMPTY; LEVELS * SLOTS + 1]),
            occupied: [0; LEVELS],
            elapsed: 0,
            tick_nanos: duration_nanos(tick).max(1),
            origin: now,
            armed: 0,
        }
    }

    /// Pre-sizes the node table for keys `0..keys`.
    pub fn reserve_keys(&mut self, keys: u32) {
        if self.nodes.len() < keys as usize {
            self.nodes.resize(keys as usize, UNARMED);
        }
    }

    /// The tick length.
    pub fn tick(&self) -> Duration {
        Duration::from_nanos(self.tick_nanos)
    }

    /// The wheel's current time (the last `poll`ed instant, rounded down to a tick).
    pub fn now(&self) -> Instant {
        self.instant_of(self.elapsed)
    }

    /// Number of armed timers (including due ones not yet returned).
    pub fn len(&self) -> usize {
        self.armed
    }

    /// No timer armed.
    pub fn is_empty(&self) -> bool {
        self.armed == 0
    }

    /// Arms timer `key` to fire at `deadline`, replacing any earlier arming. O(1).
    /// A deadline not after the wheel's current time fires on the next `poll`.
    /// Keys should be dense (slab indices): the node table grows to the largest key.
    pub fn arm(&mut self, key: u32, deadline: Instant) {
        assert!(key != NIL, "key u32::MAX is reserved");
        if key as usize >= self.nodes.len() {
            self.nodes.resize(key as usize + 1, UNARMED);
        }
        let tick = self.tick_ceil(deadline);
        let node = &self.nodes[key as usize];
        if node.list == NIL {
            self.armed += 1;
        } else if node.deadline == tick {
            return; // re-armed within the same tick (every segment re-arms): already in place
        } else {
            self.unlink(key);
        }
        self.nodes[key as usize].deadline = tick;
        self.place(key);
    }

    /// Disarms timer `key`; returns whether it was armed. O(1).
    pub fn cancel(&mut self, key: u32) -> bool {
        if !self.is_armed(key) {
            return false;
        }
        self.unlink(key);
        self.armed -= 1;
        true
    }

    /// Whether timer `key` is armed (due-but-unreturned timers count as armed).
    pub fn is_armed(&self, key: u32) -> bool {
        self.nodes.get(key as usize).is_some_and(|n| n.list != NIL)
    }

    /// The deadline of timer `key`, rounded up to its tick.
    pub fn deadline(&self, key: u32) -> Option<Instant> {
        let n = self.nodes.get(key as usize).filter(|n| n.list != NIL)?;
        Some(self.instant_of(n.deadline))
    }

    /// The earliest instant at which `poll` may return a timer: exact for due timers and those
    /// in the lowest level, a lower bound otherwise (waking then only cascades). `None` when
    /// nothing is armed. Use it to bound how long an idle loop blocks.
    pub fn next_deadline(&self) -> Option<Instant> {
        if self.lists[PENDING as usize].head != NIL {
            return Some(self.instant_of(self.elapsed));
        }
        self.next_expiration().map(|(_, _, t)| self.instant_of(t))
    }

    /// Returns one timer due at `now` and disarms it, or `None` when none is due. Returning
    /// one key at a time lets the caller re-arm timers while draining. An earlier `now` than
    /// a previous call's is treated as the wheel's current time.
    pub fn poll(&mut self, now: Instant) -> Option<u32> {
        let now_tick = self.tick_floor(now).max(self.elapsed);
        loop {
            let head = self.lists[PENDING as usize].head;
            if head != NIL {
                self.unlink(head);
                self.armed -= 1;
                return Some(head);
            }
            match self.next_expiration() {
                Some((level, slot, t)) if t <= now_tick => self.expire_slot(level, slot, t),
                _ => {
                    self.elapsed = now_tick;
                    return None;
                }
            }
        }
    }

    /// Iterates the timers due at `now`, disarming each as it is returned. Dropping the
    /// iterator early leaves the rest due for the next call.
    pub fn advance(&mut self, now: Instant) -> Expired<'_> {
        Expired { wheel: self, now }
    }

    fn tick_ceil(&self, t: Instant) -> u64 {
        let n = t.total_nanos().saturating_sub(self.origin.total_nanos());
        n.div_ceil(self.tick_nanos)
    }

    fn tick_floor(&self, t: Instant) -> u64 {
        t.total_nanos().saturating_sub(self.origin.total_nanos()) / self.tick_nanos
    }

    fn instant_of(&self, tick: u64) -> Instant {
        Instant::from_nanos(
            self.origin
                .total_nanos()
                .saturating_add(tick.saturating_mul(self.tick_nanos)),
        )
    }

    /// Puts an unlinked node in the list its deadline belongs to.
    fn place(&mut self, key: u32) {
        let deadline = self.nodes[key as usize].deadline;
        let list = if deadline <= self.elapsed {
            PENDING
        } else {
            let when = deadline.min(self.elapsed.saturating_add(MAX_SPAN));
            let level = level_for(self.elapsed, when);
            let slot = (when >> (level * SLOT_BITS)) as usize % SLOTS;
            self.occupied[level] |= 1 << slot;
            (level * SLOTS + slot) as u32
        };
        self.push_back(list, key);
    }

    /// The earliest occupied slot: (level, slot, tick at which it starts).
    fn next_expiration(&self) -> Option<(usize, usize, u64)> {
        (0..LEVELS).find_map(|level| {
            let occupied = self.occupied[level];
            if occupied == 0 {
                return None;
            }
            let shift = level * SLOT_BITS;
            let now_slot = (self.elapsed >> shift) as usize % SLOTS;
            let zeros = occupied.rotate_right(now_slot as u32).trailing_zeros() as usize;
            let slot = (now_slot + zeros) % SLOTS;
            let slot_range = 1u64 << shift;
            let level_range = slot_range << SLOT_BITS;
            let mut start = (self.elapsed & !(level_range - 1)) + slot as u64 * slot_range;
            if start < self.elapsed || (start == self.elapsed && level > 0) {
                start += level_range; // wrapped: the slot is in the next turn of this level
            }
            Some((level, slot, start))
        })
    }

    /// Advances to tick `t` and re-places the timers of the slot starting there: those due
    /// go to `PENDING`, the rest to lower levels.
    fn expire_slot(&mut self, level: usize, slot: usize, t: u64) {
        self.elapsed = self.elapsed.max(t);
        self.occupied[level] &= !(1u64 << slot);
        let index = level * SLOTS + slot;
        let mut key = self.lists[index].head;
        self.lists[index] = EMPTY;
        while key != NIL {
            let next = self.nodes[key as usize].next;
            self.place(key);
            key = next;
        }
    }

    fn push_back(&mut self, list: u32, key: u32) {
        let tail = self.lists[list as usize].tail;
        self.nodes[key as usize] = Node {
            prev: tail,
            next: NIL,
            list,
            ..self.nodes[key as usize]
        };
        if tail == NIL {
            self.lists[list as usize].head = key;
        } else {
            self.nodes[tail as usize].next = key;
        }
        self.lists[list as usize].tail = key;
    }

    fn unlink(&mut self, key: u32) {
        let Node {
            prev, next, list, ..
        } = self.nodes[key as usize];
        if prev == NIL {
            self.lists[list as usize].head = next;
        } else {
            self.nodes[prev as usize].next = next;
        }
        if next == NIL {
            self.lists[list as usize].tail = prev;
        } else {
            self.nodes[next as usize].prev = prev;
        }
        if self.lists[list as usize].head == NIL && list != PENDING {
            self.occupied[list as usize / SLOTS] &= !(1u64 << (list as usize % SLOTS));
        }
        self.nodes[key as usize] = Node {
            deadline: self.nodes[key as usize].deadline,
            ..UNARMED
        };
    }
}

/// The level whose digit is the highest in which `when` differs from `elapsed`.
fn level_for(elapsed: u64, when: u64) -> usize {
    let masked = ((elapsed ^ when) | (SLOTS as u64 - 1)).min(MAX_SPAN);
    let significant = 63 - masked.leading_zeros() as usize;
    significant / SLOT_BITS
}

/// Timers due at one instant; see [`TimerWheel::advance`].
#[derive(Debug)]
pub struct Expired<'a> {
    wheel: &'a mut TimerWheel,
    now: Instant,
}

impl Iterator for Expired<'_> {
    type Item = u32;

    fn next(&mut self) -> Option<u32> {
        self.wheel.poll(self.now)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    fn ms(v: u64) -> Instant {
        Instant::from_millis(v)
    }

    fn drain(w: &mut TimerWheel, now: Instant) -> Vec<u32> {
        let mut v: Vec<u32> = w.advance(now).collect();
        v.sort_unstable();
        v
    }

    #[test]
    fn instant_arithmetic() {
        let t = Instant::from_millis(5);
        assert_eq!((t + Duration::from_micros(1500)).total_micros(), 6500);
        assert_eq!(t - Instant::from_millis(7), Duration::ZERO);
        assert_eq!((t - Duration::from_secs(1)), Instant::ZERO);
        assert_eq!(Instant::from_micros(2).total_nanos(), 2000);
    }

    #[test]
    fn clocks() {
        let c = VirtualClock::new(ms(10));
        c.advance(Duration::from_millis(5));
        assert_eq!(c.now(), ms(15));
        c.set(ms(1));
        assert_eq!(c.now(), ms(1));
        let m = MonotonicClock::new();
        let a = m.now();
        assert!(m.now() >= a);
    }

    #[test]
    fn fires_on_time_never_early() {
        let mut w = TimerWheel::default();
        w.arm(3, Instant::from_micros(5500)); // rounds up to tick 6
        assert!(drain(&mut w, ms(5)).is_empty());
        assert_eq!(w.deadline(3), Some(ms(6)));
        assert_eq!(drain(&mut w, ms(6)), [3]);
        assert!(!w.is_armed(3) && w.is_empty());
    }

    #[test]
    fn rearm_and_cancel() {
        let mut w = TimerWheel::new(DEFAULT_TICK, ms(1000));
        w.arm(0, ms(1010));
        w.arm(1, ms(1020));
        w.arm(0, ms(1030)); // rearm moves it
        assert_eq!(w.len(), 2);
        assert!(w.cancel(1));
        assert!(!w.cancel(1));
        assert!(!w.cancel(77));
        assert!(drain(&mut w, ms(1025)).is_empty());
        assert_eq!(drain(&mut w, ms(1030)), [0]);
    }

    #[test]
    fn past_deadline_fires_next_poll() {
        let mut w = TimerWheel::default();
        assert!(drain(&mut w, ms(100)).is_empty());
        w.arm(9, ms(50));
        assert_eq!(w.next_deadline(), Some(ms(100)));
        assert_eq!(drain(&mut w, ms(100)), [9]);
        assert_eq!(w.next_deadline(), None);
    }

    #[test]
    fn far_timers_cascade() {
        let mut w = TimerWheel::default();
        let deadlines = [
            1u64,
            63,
            64,
            65,
            4095,
            4096,
            4097,
            300_000,
            86_400_000,
            1 << 35,
        ];
        for (k, d) in deadlines.iter().enumerate() {
            w.arm(k as u32, ms(*d));
        }
        for (k, d) in deadlines.iter().enumerate() {
            assert!(drain(&mut w, ms(d - 1)).is_empty(), "early at {d}");
            assert_eq!(w.next_deadline().map(|t| t <= ms(*d)), Some(true));
            assert_eq!(drain(&mut w, ms(*d)), [k as u32], "at {d}");
        }
        assert!(w.is_empty());
    }

    #[test]
    fn beyond_span_is_reparked() {
        // 1 ns ticks: the span is 2^36 ns (~69 s); a 300 s deadline must still fire exactly.
        let mut w = TimerWheel::new(Duration::from_nanos(1), Instant::ZERO);
        let d = Instant::from_millis(300_000);
        w.arm(1, d);
        let mut now = Instant::ZERO;
        while now < d - Duration::from_nanos(1) {
            now = (now + Duration::from_secs(7)).min(d - Duration::from_nanos(1));
            assert!(drain(&mut w, now).is_empty());
        }
        assert_eq!(drain(&mut w, d), [1]);
    }

    #[test]
    fn rearm_while_draining() {
        let mut w = TimerWheel::default();
        for k in 0..10 {
            w.arm(k, ms(5));
        }
        let mut fired = 0;
        while let Some(k) = w.poll(ms(5)) {
            fired += 1;
            if k % 2 == 0 {
                w.arm(k, ms(8));
            }
        }
        assert_eq!(fired, 10);
        assert_eq!(drain(&mut w, ms(8)), [0, 2, 4, 6, 8]);
    }

    #[test]
    fn dropped_iterator_keeps_rest() {
        let mut w = TimerWheel::default();
        for k in 0..4 {
            w.arm(k, ms(2));
        }
        assert_eq!(w.advance(ms(3)).take(1).count(), 1);
        assert_eq!(drain(&mut w, ms(3)).len(), 3);
    }

    /// Random arm/rearm/cancel/advance against a brute-force model.
    #[test]
    fn matches_model() {
        let mut rng = crate::wire::testutil::Rng(1234);
        let mut w = TimerWheel::new(DEFAULT_TICK, ms(7));
        let mut model: Vec<Option<u64>> = vec![None; 300];
        let mut now = 7u64;
        for _ in 0..20_000 {
            let key = rng.below(model.len());
            match rng.below(10) {
                0..=4 => {
                    let span = [10u64, 100, 5_000, 400_000, 30_000_000][rng.below(5)];
                    let d = now + rng.below(span as usize) as u64;
                    w.arm(key as u32, ms(d));
                    model[key] = Some(d.max(now)); // past deadlines fire at the next poll
                }
                5 => {
                    assert_eq!(w.cancel(key as u32), model[key].is_some());
                    model[key] = None;
                }
                _ => {
                    now += [0u64, 1, 3, 70, 5_000, 300_000][rng.below(6)];
                    let got: BTreeSet<u32> = w.advance(ms(now)).collect();
                    let want: BTreeSet<u32> = (0..model.len())
                        .filter(|&k| model[k].is_some_and(|d| d <= now))
                        .map(|k| k as u32)
                        .collect();
                    assert_eq!(got, want, "at {now}");
                    for k in &want {
                        model[*k as usize] = None;
                    }
                }
            }
            assert_eq!(w.len(), model.iter().flatten().count());
        }
    }
}
