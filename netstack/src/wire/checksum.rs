//! The Internet checksum (RFC 1071) and its incremental update (RFC 1624).
//!
//! Sums are 16-bit ones' complement values in host order, i.e. the big-endian reading of the
//! wire bytes. A "sum" is not complemented; a "checksum" is (`!sum`), ready for the header.
//!
//! Speed: the data is added as native-endian `u64` words with end-around carry (two
//! instructions per 8 bytes), and folded once at the end. Byte-order independence of the ones'
//! complement sum (RFC 1071 §2(B)) makes the native-endian result a byte swap away from the
//! big-endian one.

use core::net::Ipv4Addr;

/// Ones' complement sum of `data`, folded to 16 bits (not complemented).
#[inline]
pub fn sum(data: &[u8]) -> u16 {
    fold(raw_sum(data))
}

/// The checksum of `data`: the complement of its sum.
#[inline]
pub fn checksum(data: &[u8]) -> u16 {
    !sum(data)
}

/// Ones' complement addition of two sums.
#[inline]
pub fn combine(a: u16, b: u16) -> u16 {
    let (s, carry) = a.overflowing_add(b);
    s + carry as u16
}

/// Sum over a list of slices as if they were one contiguous buffer (a header and a payload
/// in different buffers). Slices of odd length shift the following bytes by one, which the
/// byte swap of RFC 1071 §2(B) accounts for.
pub fn sum_slices(parts: &[&[u8]]) -> u16 {
    let mut acc = 0u16;
    let mut odd = false;
    for part in parts {
        let s = sum(part);
        acc = combine(acc, if odd { s.swap_bytes() } else { s });
        odd ^= part.len() % 2 == 1;
    }
    acc
}

/// Sum of the IPv4 pseudo-header of a TCP or UDP segment (RFC 793 §3.1, RFC 768).
#[inline]
pub fn pseudo_header_v4(src: Ipv4Addr, dst: Ipv4Addr, protocol: u8, len: u16) -> u16 {
    let s = u32::from_be_bytes(src.octets());
    let d = u32::from_be_bytes(dst.octets());
    let total = (s >> 16) + (s & 0xffff) + (d >> 16) + (d & 0xffff) + protocol as u32 + len as u32;
    fold_be(total)
}

/// Incremental update (RFC 1624 eqn. 3) of a header checksum when one 16-bit field changes
/// from `old` to `new`: `HC' = ~(~HC + ~m + m')`.
#[inline]
pub fn update16(checksum: u16, old: u16, new: u16) -> u16 {
    !combine(combine(!checksum, !old), new)
}

/// Incremental update for a 32-bit field (an IPv4 address, a sequence number).
#[inline]
pub fn update32(checksum: u16, old: u32, new: u32) -> u16 {
    let c = update16(checksum, (old >> 16) as u16, (new >> 16) as u16);
    update16(c, old as u16, new as u16)
}

/// 64-bit ones' complement sum of `data` read as native-endian words.
#[inline]
fn raw_sum(data: &[u8]) -> u64 {
    let mut acc = 0u64;
    let mut carries = 0u64;
    // Four words per iteration: independent loads, one carry chain.
    let mut chunks = data.chunks_exact(32);
    for c in &mut chunks {
        for w in c.chunks_exact(8) {
            let (s, o) = acc.overflowing_add(word(w));
            acc = s;
            carries += o as u64;
        }
    }
    let mut words = chunks.remainder().chunks_exact(8);
    for w in &mut words {
        let (s, o) = acc.overflowing_add(word(w));
        acc = s;
        carries += o as u64;
    }
    // The tail padded with zeros is exactly the RFC's trailing-byte rule.
    let tail = words.remainder();
    let mut last = [0u8; 8];
    last[..tail.len()].copy_from_slice(tail);
    let (s, o) = acc.overflowing_add(u64::from_ne_bytes(last));
    carries += o as u64;
    let (s, o) = s.overflowing_add(carries);
    s + o as u64
}

#[inline(always)]
fn word(w: &[u8]) -> u64 {
    let mut b = [0u8; 8];
    b.copy_from_slice(w);
    u64::from_ne_bytes(b)
}

/// Folds a native-endian 64-bit sum to the big-endian 16-bit sum.
#[inline]
fn fold(s: u64) -> u16 {
    let s = (s >> 32) + (s & 0xffff_ffff);
    let s = (s >> 32) + (s & 0xffff_ffff);
    let s = (s >> 16) + (s & 0xffff);
    let s = (s >> 16) + (s & 0xffff);
    u16::from_be_bytes((s as u16).to_ne_bytes())
}

/// Folds a big-endian (host-order) sum of 16-bit words. Used by `pseudo_header_v4`.
#[inline]
fn fold_be(s: u32) -> u16 {
    let s = (s >> 16) + (s & 0xffff);
    let s = (s >> 16) + (s & 0xffff);
    s as u16
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::testutil::Rng;

    fn oracle(data: &[u8]) -> u16 {
        u16::from_be_bytes(internet_checksum::checksum(data))
    }

    #[test]
    fn rfc1071_example() {
        // RFC 1071 §3: bytes 00 01 f2 03 f4 f5 f6 f7 sum to 0xddf2.
        let d = [0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7];
        assert_eq!(sum(&d), 0xddf2);
        assert_eq!(checksum(&d), !0xddf2);
    }

    #[test]
    fn empty_and_single_byte() {
        assert_eq!(sum(&[]), 0);
        assert_eq!(sum(&[0xab]), 0xab00);
        assert_eq!(checksum(&[0xab]), oracle(&[0xab]));
    }

    #[test]
    fn all_ones_and_carries() {
        let d = [0xffu8; 4096];
        assert_eq!(checksum(&d), oracle(&d));
        let d = [0xfeu8; 4097];
        assert_eq!(checksum(&d), oracle(&d));
    }

    #[test]
    fn matches_oracle_random_lengths_and_offsets() {
        let mut rng = Rng(42);
        let mut buf = vec![0u8; 9100];
        rng.fill(&mut buf);
        for _ in 0..3000 {
            let off = rng.below(16);
            let len = rng.below(buf.len() - off);
            let d = &buf[off..off + len];
            assert_eq!(checksum(d), oracle(d), "off {off} len {len}");
        }
        for len in 0..200 {
            assert_eq!(
                checksum(&buf[1..1 + len]),
                oracle(&buf[1..1 + len]),
                "len {len}"
            );
        }
    }

    #[test]
    fn slices_match_contiguous() {
        let mut rng = Rng(7);
        let mut buf = vec![0u8; 3000];
        rng.fill(&mut buf);
        for _ in 0..500 {
            let len = rng.below(buf.len());
            let d = &buf[..len];
            let a = rng.below(len + 1);
            let b = a + rng.below(len - a + 1);
            let parts = [&d[..a], &d[a..b], &d[b..]];
            assert_eq!(!sum_slices(&parts), oracle(d), "{a} {b} {len}");
        }
    }

    #[test]
    fn pseudo_header_matches_bytes() {
        let src = Ipv4Addr::new(198, 18, 0, 1);
        let dst = Ipv4Addr::new(198, 18, 0, 2);
        let mut ph = [0u8; 12];
        ph[..4].copy_from_slice(&src.octets());
        ph[4..8].copy_from_slice(&dst.octets());
        ph[9] = 6;
        ph[10..].copy_from_slice(&1480u16.to_be_bytes());
        assert_eq!(pseudo_header_v4(src, dst, 6, 1480), sum(&ph));
        let (s, d) = (
            Ipv4Addr::new(255, 255, 255, 255),
            Ipv4Addr::new(255, 255, 255, 254),
        );
        ph[..4].copy_from_slice(&s.octets());
        ph[4..8].copy_from_slice(&d.octets());
        ph[9] = 17;
        ph[10..].copy_from_slice(&65535u16.to_be_bytes());
        assert_eq!(pseudo_header_v4(s, d, 17, 65535), sum(&ph));
    }

    #[test]
    fn incremental_update_matches_recompute() {
        let mut rng = Rng(99);
        let mut buf = [0u8; 40];
        for _ in 0..2000 {
            rng.fill(&mut buf);
            let before = checksum(&buf);
            let at = 2 * rng.below(18);
            let old = u32::from_be_bytes(buf[at..at + 4].try_into().unwrap());
            let new = rng.next_u64() as u32;
            buf[at..at + 4].copy_from_slice(&new.to_be_bytes());
            let after = checksum(&buf);
            // RFC 1624 yields 0x0000 where a full recompute yields 0xffff only when the
            // whole data sums to zero; compare as ones' complement values.
            let inc = update32(before, old, new);
            assert!(inc == after || (inc | after) == 0xffff && (inc & after) == 0);
        }
        // Against the oracle's own incremental update, on one 16-bit field.
        let data = [0x45u8, 0, 0, 0x54, 0x12, 0x34, 0x40, 0];
        let c = checksum(&data);
        let oracle_c = internet_checksum::update(c.to_be_bytes(), &[0x12, 0x34], &[0xab, 0xcd]);
        assert_eq!(update16(c, 0x1234, 0xabcd), u16::from_be_bytes(oracle_c));
    }

    #[test]
    fn fold_be_folds() {
        assert_eq!(fold_be(0x0001_ffff), 0x0001);
        assert_eq!(fold_be(0x1234), 0x1234);
    }
}
