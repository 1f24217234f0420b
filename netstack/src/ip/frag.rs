//! IPv4 fragment reassembly (RFC 791, RFC 815 hole bookkeeping), bounded: at most
//! `MAX_DATAGRAMS` datagrams in progress and `MAX_BYTES` of buffers altogether; an incomplete
//! datagram is dropped after `TIMEOUT`. Overlapping fragments are accepted (the later copy
//! wins) only if they agree on the total length. Reassembly copies the fragments into one
//! buffer: fragments are rare (the stack sets DF and does PMTUD), so this path is not
//! zero-copy.

use std::time::Duration;

use bytes::Bytes;
use hashbrown::HashMap;

use crate::time::Instant;
use crate::wire::{IpProtocol, Ipv4Addr};

pub const MAX_DATAGRAMS: usize = 16;
pub const MAX_BYTES: usize = 256 * 1024;
pub const TIMEOUT: Duration = Duration::from_secs(30);
const MAX_PAYLOAD: usize = 65535 - 20;

#[derive(Copy, Clone, PartialEq, Eq, Hash, Debug)]
pub struct Key {
    pub src: Ipv4Addr,
    pub dst: Ipv4Addr,
    pub protocol: u8,
    pub ident: u16,
}

struct Datagram {
    data: Vec<u8>,
    /// Received byte ranges, sorted and merged.
    have: Vec<(usize, usize)>,
    /// Total payload length, known once the last fragment arrived.
    total: Option<usize>,
    expires: Instant,
}

/// Counters.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FragStats {
    pub fragments: u64,
    pub reassembled: u64,
    pub dropped_limit: u64,
    pub dropped_timeout: u64,
    pub dropped_malformed: u64,
}

#[derive(Default)]
pub struct Reassembly {
    table: HashMap<Key, Datagram>,
    bytes: usize,
    pub stats: FragStats,
}

impl Reassembly {
    pub fn new() -> Reassembly {
        Reassembly::default()
    }

    /// Adds one fragment (`offset` in bytes, `more` = MF flag); returns the whole payload once
    /// complete.
    pub fn add(
        &mut self,
        now: Instant,
        key: Key,
        offset: usize,
        more: bool,
        data: &[u8],
    ) -> Option<Bytes> {
        self.stats.fragments += 1;
        let end = offset + data.len();
        if end > MAX_PAYLOAD || (more && !data.len().is_multiple_of(8)) || data.is_empty() {
            self.stats.dropped_malformed += 1;
            return None;
        }
        if !self.table.contains_key(&key) && self.table.len() >= MAX_DATAGRAMS {
            self.stats.dropped_limit += 1;
            return None;
        }
        let d = self.table.entry(key).or_insert_with(|| Datagram {
            data: Vec::new(),
            have: Vec::new(),
            total: None,
            expires: now + TIMEOUT,
        });
        let bad_total = match (more, d.total) {
            (false, Some(t)) => t != end,
            (true, Some(t)) => end > t,
            _ => false,
        };
        if bad_total {
            self.stats.dropped_malformed += 1;
            self.remove(key);
            return None;
        }
        if end > d.data.len() {
            let grow = end - d.data.len();
            if self.bytes + grow > MAX_BYTES {
                self.stats.dropped_limit += 1;
                self.remove(key);
                return None;
            }
            self.bytes += grow;
            d.data.resize(end, 0);
        }
        d.data[offset..end].copy_from_slice(data);
        if !more {
            d.total = Some(end);
        }
        insert_range(&mut d.have, offset, end);
        let complete = d.total.is_some_and(|t| d.have == [(0, t)]);
        if !complete {
            return None;
        }
        self.stats.reassembled += 1;
        let d = self.remove(key)?;
        Some(Bytes::from(d.data))
    }

    fn remove(&mut self, key: Key) -> Option<Datagram> {
        let d = self.table.remove(&key)?;
        self.bytes -= d.data.len();
        Some(d)
    }

    /// Drops datagrams whose time ran out.
    pub fn expire(&mut self, now: Instant) {
        let dead: Vec<Key> = self
            .table
            .iter()
            .filter(|(_, d)| d.expires <= now)
            .map(|(k, _)| *k)
            .collect();
        for k in dead {
            self.stats.dropped_timeout += 1;
            self.remove(k);
        }
    }

    pub fn poll_at(&self) -> Option<Instant> {
        self.table.values().map(|d| d.expires).min()
    }

    /// Bytes held.
    pub fn memory(&self) -> usize {
        self.bytes
    }

    pub fn in_progress(&self) -> usize {
        self.table.len()
    }
}

/// Inserts `start..end` into sorted, merged ranges.
fn insert_range(have: &mut Vec<(usize, usize)>, start: usize, end: usize) {
    have.push((start, end));
    have.sort_unstable();
    let mut merged: Vec<(usize, usize)> = Vec::with_capacity(have.len());
    for &(s, e) in have.iter() {
        match merged.last_mut() {
            Some(last) if s <= last.1 => last.1 = last.1.max(e),
            _ => merged.push((s, e)),
        }
    }
    *have = merged;
}

/// The key of a fragment.
pub fn key(src: Ipv4Addr, dst: Ipv4Addr, protocol: IpProtocol, ident: u16) -> Key {
    Key {
        src,
        dst,
        protocol: protocol.into(),
        ident,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn k(ident: u16) -> Key {
        Key {
            src: Ipv4Addr::new(198, 18, 0, 1),
            dst: Ipv4Addr::new(198, 18, 0, 2),
            protocol: 17,
            ident,
        }
    }

    #[test]
    fn reassembles_out_of_order_fragments() {
        let mut r = Reassembly::new();
        let data: Vec<u8> = (0..3000u32).map(|i| i as u8).collect();
        let t = Instant::ZERO;
        assert!(r.add(t, k(1), 2400, false, &data[2400..]).is_none());
        assert!(r.add(t, k(1), 0, true, &data[..1200]).is_none());
        let whole = r.add(t, k(1), 1200, true, &data[1200..2400]).unwrap();
        assert_eq!(&whole[..], &data[..]);
        assert_eq!((r.memory(), r.in_progress()), (0, 0));
    }

    #[test]
    fn limits_datagrams_and_memory() {
        let mut r = Reassembly::new();
        for i in 0..MAX_DATAGRAMS as u16 + 3 {
            r.add(Instant::ZERO, k(i), 0, true, &[0u8; 8]);
        }
        assert_eq!(r.in_progress(), MAX_DATAGRAMS);
        assert_eq!(r.stats.dropped_limit, 3);
        // A fragment claiming the far end of a 64 KiB datagram in every slot: bounded bytes.
        let mut r = Reassembly::new();
        for i in 0..MAX_DATAGRAMS as u16 {
            r.add(Instant::ZERO, k(i), 65000, true, &[0u8; 8]);
        }
        assert!(r.memory() <= MAX_BYTES);
        assert!(r.stats.dropped_limit > 0);
    }

    #[test]
    fn incomplete_datagrams_time_out() {
        let mut r = Reassembly::new();
        r.add(Instant::ZERO, k(1), 0, true, &[0u8; 8]);
        assert_eq!(r.poll_at(), Some(Instant::ZERO + TIMEOUT));
        r.expire(Instant::ZERO + TIMEOUT);
        assert_eq!(
            (r.in_progress(), r.memory(), r.stats.dropped_timeout),
            (0, 0, 1)
        );
    }

    #[test]
    fn inconsistent_lengths_are_dropped() {
        let mut r = Reassembly::new();
        r.add(Instant::ZERO, k(1), 0, false, &[0u8; 16]);
        r.add(Instant::ZERO, k(2), 8, false, &[0u8; 8]);
        assert!(r.add(Instant::ZERO, k(2), 0, false, &[0u8; 8]).is_none());
        assert_eq!(r.stats.dropped_malformed, 1);
    }
}
