//! Receive-side scaling: the Toeplitz hash NICs use to spread flows over queues, the
//! redirection table (RETA) that maps a hash to a queue, and source-port selection so that an
//! active open's replies land on the worker that opened it.
//!
//! Hash input for IPv4 is, in network byte order, `src addr, dst addr` (2-tuple) followed by
//! `src port, dst port` (4-tuple), where source and destination are those of the *received*
//! packet. NICs index the RETA with the low bits of the hash.

use core::net::{Ipv4Addr, SocketAddrV4};
use core::ops::RangeInclusive;

/// The Microsoft RSS verification key, also the default key of most NIC drivers.
pub const MICROSOFT_KEY: [u8; 40] = [
    0x6d, 0x5a, 0x56, 0xda, 0x25, 0x5b, 0x0e, 0xc2, 0x41, 0x67, 0x25, 0x3d, 0x43, 0xa3, 0x8f, 0xb0,
    0xd0, 0xca, 0x2b, 0xcb, 0xae, 0x7b, 0x30, 0xb4, 0x77, 0xcb, 0x2d, 0xa3, 0x80, 0x30, 0xf2, 0x0c,
    0x6a, 0x42, 0xb7, 0x3b, 0xbe, 0xac, 0x01, 0xfa,
];

/// `0x6d5a` repeated: a key with a 16-bit period, so swapping source and destination (address
/// with address, port with port) gives the same hash and both directions share a queue.
pub const SYMMETRIC_KEY: [u8; 40] = {
    let mut k = [0u8; 40];
    let mut i = 0;
    while i < 40 {
        k[i] = if i % 2 == 0 { 0x6d } else { 0x5a };
        i += 1;
    }
    k
};

/// RETA size used by [`pick_source_port`] (a common NIC size; F-Stack's default too).
pub const DEFAULT_RETA_SIZE: usize = 128;
/// IANA dynamic port range, used by [`pick_source_port`].
pub const EPHEMERAL_PORTS: RangeInclusive<u16> = 49152..=65535;

/// The Toeplitz hash of `input` under `key`: for every set input bit `i` (most significant
/// first), XOR in the 32 key bits starting at bit `i`. Key bits past the key's end are zero;
/// the key needs `input.len() + 4` bytes to be used in full (40 covers IPv6 4-tuples).
pub fn toeplitz(key: &[u8], input: &[u8]) -> u32 {
    let key_byte = |i: usize| key.get(i).copied().unwrap_or(0) as u32;
    // `window` holds the 32 key bits aligned with the current input bit.
    let mut window = (key_byte(0) << 24) | (key_byte(1) << 16) | (key_byte(2) << 8) | key_byte(3);
    let mut hash = 0u32;
    for (i, &byte) in input.iter().enumerate() {
        let next = key_byte(i + 4);
        for bit in 0..8 {
            if byte & (0x80 >> bit) != 0 {
                hash ^= window;
            }
            window = (window << 1) | ((next >> (7 - bit)) & 1);
        }
    }
    hash
}

/// Hash of the IPv4 2-tuple.
pub fn hash_v4(key: &[u8], src: Ipv4Addr, dst: Ipv4Addr) -> u32 {
    let mut input = [0u8; 8];
    input[..4].copy_from_slice(&src.octets());
    input[4..].copy_from_slice(&dst.octets());
    toeplitz(key, &input)
}

/// Hash of the IPv4 4-tuple (TCP or UDP).
pub fn hash_v4_ports(
    key: &[u8],
    src: Ipv4Addr,
    dst: Ipv4Addr,
    src_port: u16,
    dst_port: u16,
) -> u32 {
    let mut input = [0u8; 12];
    input[..4].copy_from_slice(&src.octets());
    input[4..8].copy_from_slice(&dst.octets());
    input[8..10].copy_from_slice(&src_port.to_be_bytes());
    input[10..].copy_from_slice(&dst_port.to_be_bytes());
    toeplitz(key, &input)
}

/// A redirection table: entry `hash % len` names the queue (for the power-of-two sizes NICs
/// use, that is the low bits of the hash).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reta {
    table: Vec<u16>,
}

impl Reta {
    /// `size` entries filled round-robin over `queues` queues (what drivers do by default).
    /// `None` if either is zero.
    pub fn round_robin(size: usize, queues: u16) -> Option<Reta> {
        if size == 0 || queues == 0 {
            return None;
        }
        Some(Reta {
            table: (0..size).map(|i| (i % queues as usize) as u16).collect(),
        })
    }

    /// A table read back from a device. `None` if empty.
    pub fn from_table(table: Vec<u16>) -> Option<Reta> {
        (!table.is_empty()).then_some(Reta { table })
    }

    /// Number of entries.
    pub fn len(&self) -> usize {
        self.table.len()
    }

    /// Always false: a RETA has at least one entry.
    pub fn is_empty(&self) -> bool {
        self.table.is_empty()
    }

    /// The entries.
    pub fn entries(&self) -> &[u16] {
        &self.table
    }

    /// The queue for `hash`.
    pub fn queue(&self, hash: u32) -> u16 {
        self.table[hash as usize % self.table.len()]
    }
}

/// A key and a RETA: what a multi-queue device does to incoming packets, in software.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rss {
    key: [u8; 40],
    reta: Reta,
}

impl Rss {
    /// Steering with `key` and `reta`.
    pub fn new(key: [u8; 40], reta: Reta) -> Rss {
        Rss { key, reta }
    }

    /// The key.
    pub fn key(&self) -> &[u8; 40] {
        &self.key
    }

    /// The RETA.
    pub fn reta(&self) -> &Reta {
        &self.reta
    }

    /// The queue an incoming IPv4 TCP/UDP packet lands on.
    pub fn queue_v4(&self, src: Ipv4Addr, dst: Ipv4Addr, src_port: u16, dst_port: u16) -> u16 {
        self.reta
            .queue(hash_v4_ports(&self.key, src, dst, src_port, dst_port))
    }

    /// A local port in `ports` for a connection from `local` to `remote` whose replies
    /// (`remote -> local:port`) land on queue `worker`, and that `is_free` accepts. The search
    /// starts at `start` (clamped into the range; randomize it to spread ports) and wraps once.
    /// Expect about `queues` tries.
    pub fn pick_source_port(
        &self,
        local: Ipv4Addr,
        remote: SocketAddrV4,
        worker: u16,
        ports: RangeInclusive<u16>,
        start: u16,
        mut is_free: impl FnMut(u16) -> bool,
    ) -> Option<u16> {
        let (lo, hi) = (*ports.start() as u32, *ports.end() as u32);
        if lo > hi {
            return None;
        }
        let span = hi - lo + 1;
        let first = (start as u32).clamp(lo, hi) - lo;
        (0..span)
            .map(|i| (lo + (first + i) % span) as u16)
            .find(|&port| {
                self.queue_v4(*remote.ip(), local, remote.port(), port) == worker && is_free(port)
            })
    }
}

/// A source port (from [`EPHEMERAL_PORTS`]) for `local -> remote` whose replies hash to
/// `worker` of `workers`, assuming the device uses [`MICROSOFT_KEY`] and a round-robin RETA
/// of [`DEFAULT_RETA_SIZE`] entries (F-Stack's `ff_rss_check`). The start of the search is
/// derived from the remote, so different peers get different first ports. `None` if
/// `worker >= workers`. Port availability is the caller's to check; see [`Rss`] for that.
pub fn pick_source_port(
    local: Ipv4Addr,
    remote: SocketAddrV4,
    worker: u16,
    workers: u16,
) -> Option<u16> {
    if worker >= workers {
        return None;
    }
    let queue_of = |port: u16| {
        let h = hash_v4_ports(&MICROSOFT_KEY, *remote.ip(), local, remote.port(), port);
        ((h as usize % DEFAULT_RETA_SIZE) % workers as usize) as u16
    };
    let (lo, hi) = (
        *EPHEMERAL_PORTS.start() as u32,
        *EPHEMERAL_PORTS.end() as u32,
    );
    let span = hi - lo + 1;
    let first = hash_v4_ports(&MICROSOFT_KEY, local, *remote.ip(), remote.port(), 0) % span;
    (0..span)
        .map(|i| (lo + (first + i) % span) as u16)
        .find(|&p| queue_of(p) == worker)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Microsoft's "Verifying the RSS Hash Calculation" IPv4 table:
    /// (destination, dst port, source, src port, IPv4-only hash, IPv4-with-TCP hash).
    type Vector = ([u8; 4], u16, [u8; 4], u16, u32, u32);
    const VECTORS: [Vector; 5] = [
        (
            [161, 142, 100, 80],
            1766,
            [66, 9, 149, 187],
            2794,
            0x323e8fc2,
            0x51ccc178,
        ),
        (
            [65, 69, 140, 83],
            4739,
            [199, 92, 111, 2],
            14230,
            0xd718262a,
            0xc626b0ea,
        ),
        (
            [12, 22, 207, 184],
            38024,
            [24, 19, 198, 95],
            12898,
            0xd2d0a5de,
            0x5c2b394a,
        ),
        (
            [209, 142, 163, 6],
            2217,
            [38, 27, 205, 30],
            48228,
            0x82989176,
            0xafc7327f,
        ),
        (
            [202, 188, 127, 2],
            1303,
            [153, 39, 163, 191],
            44251,
            0x5d1809c5,
            0x10e828a2,
        ),
    ];

    #[test]
    fn microsoft_vectors() {
        for (dst, dport, src, sport, ip_only, with_tcp) in VECTORS {
            let (src, dst) = (Ipv4Addr::from(src), Ipv4Addr::from(dst));
            assert_eq!(hash_v4(&MICROSOFT_KEY, src, dst), ip_only, "{src} -> {dst}");
            assert_eq!(
                hash_v4_ports(&MICROSOFT_KEY, src, dst, sport, dport),
                with_tcp,
                "{src} -> {dst}"
            );
        }
    }

    #[test]
    fn symmetric_key_is_symmetric() {
        let mut rng = crate::wire::testutil::Rng(5);
        for _ in 0..1000 {
            let (a, b) = (
                Ipv4Addr::from(rng.next_u64() as u32),
                Ipv4Addr::from(rng.next_u64() as u32),
            );
            let (pa, pb) = (rng.next_u64() as u16, rng.next_u64() as u16);
            assert_eq!(
                hash_v4_ports(&SYMMETRIC_KEY, a, b, pa, pb),
                hash_v4_ports(&SYMMETRIC_KEY, b, a, pb, pa)
            );
            assert_eq!(hash_v4(&SYMMETRIC_KEY, a, b), hash_v4(&SYMMETRIC_KEY, b, a));
        }
        assert_eq!(&SYMMETRIC_KEY[..4], &[0x6d, 0x5a, 0x6d, 0x5a]);
    }

    #[test]
    fn reta() {
        assert_eq!(Reta::round_robin(0, 2), None);
        assert_eq!(Reta::round_robin(8, 0), None);
        let r = Reta::round_robin(8, 3).unwrap();
        assert_eq!(r.entries(), &[0, 1, 2, 0, 1, 2, 0, 1]);
        assert_eq!(r.queue(0xffff_fff9), 1); // low 3 bits = 1
        let custom = Reta::from_table(vec![3, 3, 1]).unwrap();
        assert_eq!(custom.queue(5), 1);
        assert_eq!(Reta::from_table(vec![]), None);
    }

    #[test]
    fn picked_port_maps_back_to_worker() {
        let local = Ipv4Addr::new(198, 18, 0, 2);
        for workers in [1u16, 2, 3, 4, 8] {
            for w in 0..workers {
                let remote = SocketAddrV4::new(Ipv4Addr::new(198, 18, 0, 1), 80 + w);
                let port = pick_source_port(local, remote, w, workers).unwrap();
                assert!(EPHEMERAL_PORTS.contains(&port));
                let rss = Rss::new(
                    MICROSOFT_KEY,
                    Reta::round_robin(DEFAULT_RETA_SIZE, workers).unwrap(),
                );
                assert_eq!(rss.queue_v4(*remote.ip(), local, remote.port(), port), w);
            }
        }
        assert_eq!(
            pick_source_port(local, SocketAddrV4::new(local, 1), 2, 2),
            None
        );
    }

    #[test]
    fn rss_pick_respects_range_and_is_free() {
        let rss = Rss::new(SYMMETRIC_KEY, Reta::round_robin(512, 4).unwrap());
        let local = Ipv4Addr::new(10, 0, 0, 2);
        let remote = SocketAddrV4::new(Ipv4Addr::new(10, 0, 0, 1), 6379);
        let first = rss
            .pick_source_port(local, remote, 2, 1024..=2047, 0, |_| true)
            .unwrap();
        let second = rss
            .pick_source_port(local, remote, 2, 1024..=2047, 0, |p| p != first)
            .unwrap();
        assert_ne!(first, second);
        for p in [first, second] {
            assert!((1024..=2047).contains(&p));
            assert_eq!(rss.queue_v4(*remote.ip(), local, remote.port(), p), 2);
        }
        assert_eq!(
            rss.pick_source_port(local, remote, 2, 1024..=2047, 0, |_| false),
            None
        );
        assert_eq!(
            rss.pick_source_port(local, remote, 9, 1024..=2047, 0, |_| true),
            None
        );
    }
}
