//! The ARP cache (RFC 826): resolved neighbours with a lifetime, and per-destination queues of
//! frames waiting for a resolution.
//!
//! Bounded everywhere: at most `MAX_ENTRIES` neighbours (the oldest is evicted when full),
//! `MAX_PENDING_DESTS` destinations being resolved, `PENDING_PER_DEST` frames queued per
//! destination (the oldest is dropped, as Linux's `unres_qlen` does), and a destination that
//! does not answer `MAX_TRIES` requests one second apart has its frames dropped.

use std::collections::VecDeque;
use std::time::Duration;

use bytes::Bytes;
use hashbrown::HashMap;

use crate::buf::PacketBuf;
use crate::time::Instant;
use crate::wire::{EthernetAddress, Ipv4Addr};

pub const MAX_ENTRIES: usize = 1024;
pub const MAX_PENDING_DESTS: usize = 64;
pub const PENDING_PER_DEST: usize = 32;
pub const MAX_TRIES: u8 = 3;
pub const RETRY: Duration = Duration::from_secs(1);
/// How long a learned address is used (Linux: reachable time 30 s, then stale-but-usable).
pub const LIFETIME: Duration = Duration::from_secs(60);
/// Before expiry, a used entry is re-requested so traffic never waits on re-resolution.
pub const REFRESH_BEFORE: Duration = Duration::from_secs(10);

/// A frame waiting for its destination MAC: the header buffer (Ethernet header in front,
/// destination still blank) and the payload parts.
pub struct Waiting {
    pub head: PacketBuf,
    pub parts: Vec<Bytes>,
}

struct Entry {
    mac: EthernetAddress,
    expires: Instant,
    /// Last refresh request sent (rate limit).
    refreshed: Instant,
}

struct Pending {
    frames: VecDeque<Waiting>,
    tries: u8,
    next_request: Instant,
}

/// Counters.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ArpStats {
    pub requests_sent: u64,
    pub replies_sent: u64,
    pub learned: u64,
    pub pending_dropped: u64,
    pub evicted: u64,
}

/// What the cache asks its owner to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lookup {
    /// Send to this MAC.
    Hit(EthernetAddress),
    /// Send to this MAC, and send an ARP request for the address (refresh).
    HitRefresh(EthernetAddress),
    /// Queued; send an ARP request now.
    QueuedRequest,
    /// Queued; a request is already on its way.
    Queued,
    /// Not queued (too many destinations being resolved).
    Dropped,
}

#[derive(Default)]
pub struct ArpCache {
    entries: HashMap<Ipv4Addr, Entry>,
    pending: HashMap<Ipv4Addr, Pending>,
    pub stats: ArpStats,
}

impl ArpCache {
    pub fn new() -> ArpCache {
        ArpCache::default()
    }

    /// The MAC for `ip`, if known and fresh.
    pub fn get(&self, now: Instant, ip: Ipv4Addr) -> Option<EthernetAddress> {
        self.entries
            .get(&ip)
            .filter(|e| e.expires > now)
            .map(|e| e.mac)
    }

    /// The MAC to send to `ip` now, if known: `Hit`, or `HitRefresh` when an ARP request
    /// should go out as well because the entry is about to expire; `None` on a miss.
    pub fn hit(&mut self, now: Instant, ip: Ipv4Addr) -> Option<Lookup> {
        let e = self.entries.get_mut(&ip).filter(|e| e.expires > now)?;
        let refresh = e.expires - now < REFRESH_BEFORE && now - e.refreshed >= RETRY;
        if refresh {
            e.refreshed = now;
            self.stats.requests_sent += 1;
            return Some(Lookup::HitRefresh(e.mac));
        }
        Some(Lookup::Hit(e.mac))
    }

    /// Resolves `ip` for one frame: a hit, or the frame is queued until the reply.
    pub fn resolve(
        &mut self,
        now: Instant,
        ip: Ipv4Addr,
        frame: Waiting,
    ) -> (Lookup, Option<Waiting>) {
        if let Some(hit) = self.hit(now, ip) {
            return (hit, Some(frame));
        }
        if !self.pending.contains_key(&ip) && self.pending.len() >= MAX_PENDING_DESTS {
            self.stats.pending_dropped += 1;
            return (Lookup::Dropped, None);
        }
        let p = self.pending.entry(ip).or_insert_with(|| Pending {
            frames: VecDeque::new(),
            tries: 0,
            next_request: now,
        });
        if p.frames.len() >= PENDING_PER_DEST {
            p.frames.pop_front();
            self.stats.pending_dropped += 1;
        }
        p.frames.push_back(frame);
        if p.next_request <= now {
            p.tries += 1;
            p.next_request = now + RETRY;
            self.stats.requests_sent += 1;
            (Lookup::QueuedRequest, None)
        } else {
            (Lookup::Queued, None)
        }
    }

    /// Learns (or refreshes) `ip -> mac`; returns the frames that were waiting for it.
    pub fn learn(&mut self, now: Instant, ip: Ipv4Addr, mac: EthernetAddress) -> Vec<Waiting> {
        if !self.entries.contains_key(&ip) && self.entries.len() >= MAX_ENTRIES {
            self.evict_oldest();
        }
        self.entries.insert(
            ip,
            Entry {
                mac,
                expires: now + LIFETIME,
                refreshed: now,
            },
        );
        self.stats.learned += 1;
        self.pending
            .remove(&ip)
            .map(|p| p.frames.into())
            .unwrap_or_default()
    }

    /// True if `ip` is in the cache (fresh or not): an ARP packet from it updates the entry
    /// even when it is not addressed to us (RFC 826 "merge").
    pub fn knows(&self, ip: Ipv4Addr) -> bool {
        self.entries.contains_key(&ip)
    }

    fn evict_oldest(&mut self) {
        let oldest = self
            .entries
            .iter()
            .min_by_key(|(_, e)| e.expires)
            .map(|(ip, _)| *ip);
        if let Some(ip) = oldest {
            self.entries.remove(&ip);
            self.stats.evicted += 1;
        }
    }

    /// Retries due requests (their addresses are returned: send a request for each) and gives
    /// up on destinations that never answered. Bounded by `MAX_PENDING_DESTS`.
    pub fn poll(&mut self, now: Instant, mut request: impl FnMut(Ipv4Addr)) {
        let mut dead = Vec::new();
        for (ip, p) in self.pending.iter_mut() {
            if p.next_request > now {
                continue;
            }
            if p.tries >= MAX_TRIES {
                dead.push(*ip);
                continue;
            }
            p.tries += 1;
            p.next_request = now + RETRY;
            self.stats.requests_sent += 1;
            request(*ip);
        }
        for ip in dead {
            if let Some(p) = self.pending.remove(&ip) {
                self.stats.pending_dropped += p.frames.len() as u64;
            }
        }
    }

    /// The next retry deadline.
    pub fn poll_at(&self) -> Option<Instant> {
        self.pending.values().map(|p| p.next_request).min()
    }

    /// Frames waiting for `ip` (tests).
    pub fn pending_len(&self, ip: Ipv4Addr) -> usize {
        self.pending.get(&ip).map_or(0, |p| p.frames.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::buf::Pool;

    const IP: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 1);
    const MAC: EthernetAddress = EthernetAddress([2, 0, 0, 0, 0, 1]);

    fn waiting(pool: &Pool) -> Waiting {
        Waiting {
            head: pool.alloc().unwrap(),
            parts: Vec::new(),
        }
    }

    #[test]
    fn queues_until_reply_then_releases() {
        let pool = Pool::new(64, 256, 64);
        let mut arp = ArpCache::new();
        let t0 = Instant::from_millis(1000);
        assert_eq!(arp.resolve(t0, IP, waiting(&pool)).0, Lookup::QueuedRequest);
        assert_eq!(arp.resolve(t0, IP, waiting(&pool)).0, Lookup::Queued);
        assert_eq!(arp.pending_len(IP), 2);
        let released = arp.learn(t0, IP, MAC);
        assert_eq!(released.len(), 2);
        assert!(matches!(arp.resolve(t0, IP, waiting(&pool)).0, Lookup::Hit(m) if m == MAC));
    }

    #[test]
    fn pending_queue_is_bounded_per_destination() {
        let pool = Pool::new(64, 256, 64);
        let mut arp = ArpCache::new();
        for _ in 0..PENDING_PER_DEST + 5 {
            arp.resolve(Instant::ZERO, IP, waiting(&pool));
        }
        assert_eq!(arp.pending_len(IP), PENDING_PER_DEST);
        assert_eq!(arp.stats.pending_dropped, 5);
        assert!(
            pool.stats().live <= PENDING_PER_DEST + 1,
            "dropped frames returned their buffers for reuse"
        );
    }

    #[test]
    fn entries_expire_and_refresh_before_expiry() {
        let mut arp = ArpCache::new();
        let pool = Pool::new(8, 256, 64);
        arp.learn(Instant::ZERO, IP, MAC);
        assert_eq!(
            arp.get(Instant::ZERO + LIFETIME - Duration::from_millis(1), IP),
            Some(MAC)
        );
        let near = Instant::ZERO + LIFETIME - Duration::from_secs(5);
        assert_eq!(
            arp.resolve(near, IP, waiting(&pool)).0,
            Lookup::HitRefresh(MAC)
        );
        assert_eq!(
            arp.resolve(near, IP, waiting(&pool)).0,
            Lookup::Hit(MAC),
            "rate limited"
        );
        assert_eq!(arp.get(Instant::ZERO + LIFETIME, IP), None);
    }

    #[test]
    fn unanswered_requests_give_up() {
        let pool = Pool::new(8, 256, 64);
        let mut arp = ArpCache::new();
        arp.resolve(Instant::ZERO, IP, waiting(&pool));
        let mut asked = 0;
        for s in 1..10 {
            arp.poll(Instant::from_millis(s * 1000), |_| asked += 1);
        }
        assert_eq!(asked, (MAX_TRIES - 1) as usize);
        assert_eq!(arp.pending_len(IP), 0);
        assert_eq!(arp.poll_at(), None);
        assert_eq!(arp.stats.pending_dropped, 1);
    }
}
