//! Keyed hashing for initial sequence numbers (RFC 6528), SYN cookies (RFC 4987) and
//! per-connection timestamp offsets: SipHash-2-4 over the 4-tuple, no crypto crate.

use core::net::SocketAddrV4;

use crate::time::Instant;

/// SipHash-2-4 with a 128-bit key.
#[derive(Clone, Debug)]
pub struct SipHasher {
    k0: u64,
    k1: u64,
}

impl SipHasher {
    /// A hasher keyed with `key`.
    pub fn new(key: [u8; 16]) -> SipHasher {
        let (a, b) = key.split_at(8);
        SipHasher {
            k0: u64::from_le_bytes(a.try_into().unwrap()),
            k1: u64::from_le_bytes(b.try_into().unwrap()),
        }
    }

    /// The 64-bit SipHash-2-4 of the message given as whole little-endian words.
    pub fn hash_words(&self, words: &[u64]) -> u64 {
        let mut v = [
            self.k0 ^ 0x736f_6d65_7073_6575,
            self.k1 ^ 0x646f_7261_6e64_6f6d,
            self.k0 ^ 0x6c79_6765_6e65_7261,
            self.k1 ^ 0x7465_6462_7974_6573,
        ];
        for &m in words {
            v[3] ^= m;
            round(&mut v);
            round(&mut v);
            v[0] ^= m;
        }
        // Final block: message length in bytes in the top byte.
        let b = ((words.len() as u64 * 8) & 0xff) << 56;
        v[3] ^= b;
        round(&mut v);
        round(&mut v);
        v[0] ^= b;
        v[2] ^= 0xff;
        for _ in 0..4 {
            round(&mut v);
        }
        v[0] ^ v[1] ^ v[2] ^ v[3]
    }

    /// Hash of a 4-tuple plus one extra word.
    pub fn hash_tuple(&self, local: SocketAddrV4, remote: SocketAddrV4, extra: u64) -> u64 {
        let a = (u32::from(*local.ip()) as u64) << 32 | u32::from(*remote.ip()) as u64;
        let b = (local.port() as u64) << 16 | remote.port() as u64;
        self.hash_words(&[a, b, extra])
    }
}

#[inline(always)]
fn round(v: &mut [u64; 4]) {
    v[0] = v[0].wrapping_add(v[1]);
    v[1] = v[1].rotate_left(13) ^ v[0];
    v[0] = v[0].rotate_left(32);
    v[2] = v[2].wrapping_add(v[3]);
    v[3] = v[3].rotate_left(16) ^ v[2];
    v[0] = v[0].wrapping_add(v[3]);
    v[3] = v[3].rotate_left(21) ^ v[0];
    v[2] = v[2].wrapping_add(v[1]);
    v[1] = v[1].rotate_left(17) ^ v[2];
    v[2] = v[2].rotate_left(32);
}

/// RFC 6528 §3: ISN = M + F(localip, localport, remoteip, remoteport, secretkey), where M is
/// a 4 µs timer. The hash keeps ISNs of different 4-tuples unpredictable; M keeps successive
/// incarnations of one 4-tuple moving forward (RFC 9293 §3.4.1).
pub fn isn(h: &SipHasher, local: SocketAddrV4, remote: SocketAddrV4, now: Instant) -> u32 {
    let m = (now.total_micros() / 4) as u32;
    m.wrapping_add(h.hash_tuple(local, remote, 0x6528) as u32)
}

/// Per-connection random offset added to our timestamp clock (RFC 7323 §5.4 recommends one,
/// so TSval does not leak the host's uptime).
pub fn ts_offset(h: &SipHasher, local: SocketAddrV4, remote: SocketAddrV4) -> u32 {
    h.hash_tuple(local, remote, 0x7323) as u32
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Reference vector of the SipHash paper (key 00..0f, 8-byte message 00..07).
    #[test]
    fn siphash_reference_vector() {
        let key: [u8; 16] = core::array::from_fn(|i| i as u8);
        let h = SipHasher::new(key);
        let m = u64::from_le_bytes([0, 1, 2, 3, 4, 5, 6, 7]);
        assert_eq!(h.hash_words(&[m]), 0x93f5_f579_9a93_2462);
    }

    #[test]
    fn isn_depends_on_tuple_and_clock() {
        let h = SipHasher::new([7; 16]);
        let a: SocketAddrV4 = "10.0.0.1:80".parse().unwrap();
        let b: SocketAddrV4 = "10.0.0.2:4000".parse().unwrap();
        let c: SocketAddrV4 = "10.0.0.2:4001".parse().unwrap();
        let t = Instant::from_millis(1);
        assert_ne!(isn(&h, a, b, t), isn(&h, a, c, t));
        let later = isn(&h, a, b, Instant::from_millis(2));
        assert_eq!(later.wrapping_sub(isn(&h, a, b, t)), 250);
    }
}
