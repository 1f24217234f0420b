//! Wire formats: checked zero-copy views over byte slices and high-level representations.
//!
//! For each protocol there is a `Packet<T: AsRef<[u8]>>` (Ethernet: `Frame`) view whose
//! `new_checked` validates every length the getters rely on, field getters, setters when
//! `T: AsMut<[u8]>`, and a `Repr` that `parse`s from a view and `emit`s into one, with
//! `buffer_len()` giving the bytes `emit` needs.
//!
//! Parsing never allocates and never panics on arbitrary input once `new_checked` succeeded.
//! Getters on a view made with `new_unchecked` over a short buffer may panic, and `emit` panics
//! when the buffer is shorter than `buffer_len()`: both are caller bugs, not input errors.
//!
//! This module uses nothing else of the stack.

pub mod arp;
pub mod checksum;
pub mod ethernet;
pub mod icmpv4;
pub mod ipv4;
pub mod tcp;
pub mod udp;

pub use arp::{Operation as ArpOperation, Packet as ArpPacket, Repr as ArpRepr};
pub use ethernet::{
    Address as EthernetAddress, EtherType, Frame as EthernetFrame, Repr as EthernetRepr,
};
pub use icmpv4::{Packet as Icmpv4Packet, Repr as Icmpv4Repr};
pub use ipv4::{Packet as Ipv4Packet, Protocol as IpProtocol, Repr as Ipv4Repr};
pub use tcp::{
    Flags as TcpFlags, Packet as TcpPacket, Repr as TcpRepr, TcpOption, Timestamp as TcpTimestamp,
};
pub use udp::{Packet as UdpPacket, Repr as UdpRepr};

pub use core::net::Ipv4Addr;

/// Why a buffer was not accepted as a packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Error {
    /// The buffer is shorter than a length field or a fixed header requires.
    Truncated,
    /// A field has a value that no valid packet has.
    Malformed,
    /// The checksum does not verify.
    Checksum,
    /// Valid, but a variant this stack does not handle (e.g. ARP for another hardware type).
    Unsupported,
}

impl core::fmt::Display for Error {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        let s = match self {
            Error::Truncated => "truncated packet",
            Error::Malformed => "malformed packet",
            Error::Checksum => "checksum mismatch",
            Error::Unsupported => "unsupported packet",
        };
        f.write_str(s)
    }
}

impl std::error::Error for Error {}

/// Result of parsing.
pub type Result<T> = core::result::Result<T, Error>;

/// Which checksum work is done in software. The rest is the device's (offload) or skipped.
///
/// With `compute == false`, TCP and UDP `emit` leave the folded pseudo-header sum in the
/// checksum field, which is what NICs (DPDK `RTE_MBUF_F_TX_TCP_CKSUM`) and virtio expect for
/// transmit offload; IPv4 and ICMP leave zero.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChecksumCaps {
    /// Verify checksums of received packets.
    pub verify: bool,
    /// Compute checksums of emitted packets.
    pub compute: bool,
}

impl ChecksumCaps {
    /// Everything in software.
    pub const SOFTWARE: ChecksumCaps = ChecksumCaps {
        verify: true,
        compute: true,
    };
    /// Everything offloaded (or ignored).
    pub const OFFLOAD: ChecksumCaps = ChecksumCaps {
        verify: false,
        compute: false,
    };
}

impl Default for ChecksumCaps {
    fn default() -> Self {
        ChecksumCaps::SOFTWARE
    }
}

/// Big-endian field access. Callers guarantee the range is in bounds (checked views).
#[inline(always)]
pub(crate) fn get_u16(b: &[u8], at: usize) -> u16 {
    u16::from_be_bytes([b[at], b[at + 1]])
}

#[inline(always)]
pub(crate) fn get_u32(b: &[u8], at: usize) -> u32 {
    u32::from_be_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

#[inline]
pub(crate) fn set_u16(b: &mut [u8], at: usize, v: u16) {
    b[at..at + 2].copy_from_slice(&v.to_be_bytes());
}

#[inline]
pub(crate) fn set_u32(b: &mut [u8], at: usize, v: u32) {
    b[at..at + 4].copy_from_slice(&v.to_be_bytes());
}

#[inline]
pub(crate) fn get_ipv4(b: &[u8], at: usize) -> Ipv4Addr {
    Ipv4Addr::new(b[at], b[at + 1], b[at + 2], b[at + 3])
}

/// Deterministic pseudo-random bytes for the fuzz-style tests of every parser.
#[cfg(test)]
pub(crate) mod testutil {
    /// xorshift64*: small, seeded, good enough to shake parsers.
    pub struct Rng(pub u64);

    impl Rng {
        pub fn next_u64(&mut self) -> u64 {
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
        }

        pub fn below(&mut self, n: usize) -> usize {
            (self.next_u64() % n as u64) as usize
        }

        pub fn fill(&mut self, buf: &mut [u8]) {
            for b in buf {
                *b = self.next_u64() as u8;
            }
        }
    }

    /// Yields random buffers (0..max bytes); each is also mutated from a valid `seed` packet
    /// half the time, so the checks behind the first length field get exercised too.
    pub fn garbage(seed: &[u8], max: usize, rounds: usize, mut f: impl FnMut(&[u8])) {
        let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
        let mut buf = vec![0u8; max];
        for round in 0..rounds {
            let len = rng.below(max + 1);
            let buf = &mut buf[..len];
            rng.fill(buf);
            if round % 2 == 0 {
                let n = len.min(seed.len());
                buf[..n].copy_from_slice(&seed[..n]);
                for _ in 0..1 + rng.below(3) {
                    if len > 0 {
                        let at = rng.below(len);
                        buf[at] = rng.next_u64() as u8;
                    }
                }
            }
            f(buf);
        }
    }
}
