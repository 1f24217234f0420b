//! SYN cookies (RFC 4987 §3.6), used when a listener's SYN queue is full: the SYN-ACK's ISN
//! encodes everything needed to rebuild the connection from the final ACK, so a SYN flood
//! costs no memory.
//!
//! Layout of the 32-bit cookie (as Linux and FreeBSD):
//! - bits 31..27: a 64-second counter (so a cookie is valid for 64..128 s);
//! - bits 26..24: an index into [`MSS_TABLE`];
//! - bits 23..0: a keyed hash of the 4-tuple, the counter and the peer's ISN.
//!
//! When the SYN carried timestamps, the window scale and SACK-permitted options are encoded in
//! the low 6 bits of our TSval (Linux's `cookie_init_timestamp`) and come back in TSecr.

use core::net::SocketAddrV4;

use super::isn::SipHasher;
use crate::time::Instant;

/// MSS values a cookie can encode (3 bits), ascending.
pub const MSS_TABLE: [u16; 8] = [536, 1200, 1300, 1380, 1400, 1440, 1452, 1460];
const PERIOD_SECS: u64 = 64;

fn counter(now: Instant) -> u32 {
    (now.total_millis() / 1000 / PERIOD_SECS) as u32
}

fn hash24(h: &SipHasher, l: SocketAddrV4, r: SocketAddrV4, count: u32, peer_isn: u32) -> u32 {
    (h.hash_tuple(l, r, (count as u64) << 32 | peer_isn as u64) & 0x00ff_ffff) as u32
}

/// The largest table MSS not above the peer's; returns (index, mss).
pub fn mss_index(peer_mss: u16) -> (u8, u16) {
    let i = MSS_TABLE.iter().rposition(|&m| m <= peer_mss).unwrap_or(0);
    (i as u8, MSS_TABLE[i])
}

/// The cookie to use as our ISN.
pub fn make(
    h: &SipHasher,
    local: SocketAddrV4,
    remote: SocketAddrV4,
    peer_isn: u32,
    mss_idx: u8,
    now: Instant,
) -> u32 {
    let c = counter(now);
    (c & 0x1f) << 27 | (mss_idx as u32 & 7) << 24 | hash24(h, local, remote, c, peer_isn)
}

/// Checks a cookie (the final ACK's ack number minus one); returns the MSS index.
pub fn check(
    h: &SipHasher,
    local: SocketAddrV4,
    remote: SocketAddrV4,
    peer_isn: u32,
    cookie: u32,
    now: Instant,
) -> Option<u8> {
    let c = counter(now);
    let age = c.wrapping_sub(cookie >> 27) & 0x1f;
    if age > 1 {
        return None;
    }
    let count = c.wrapping_sub(age);
    (cookie & 0x00ff_ffff == hash24(h, local, remote, count, peer_isn))
        .then_some(((cookie >> 24) & 7) as u8)
}

/// Options carried in the low 6 bits of TSval: window scale (0xf = none) and SACK.
pub fn encode_ts_options(tsval: u32, wscale: Option<u8>, sack: bool) -> u32 {
    (tsval & !0x3f) | wscale.map_or(0xf, |w| w as u32 & 0xf) | (sack as u32) << 4
}

/// Inverse of [`encode_ts_options`]: (window scale, SACK permitted).
pub fn decode_ts_options(tsecr: u32) -> (Option<u8>, bool) {
    let ws = (tsecr & 0xf) as u8;
    ((ws != 0xf).then_some(ws.min(14)), tsecr & 0x10 != 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cookie_round_trip_and_expiry() {
        let h = SipHasher::new([3; 16]);
        let l: SocketAddrV4 = "198.18.0.2:80".parse().unwrap();
        let r: SocketAddrV4 = "198.18.0.1:40000".parse().unwrap();
        let t0 = Instant::from_millis(1_000_000);
        let c = make(&h, l, r, 1234, 5, t0);
        assert_eq!(check(&h, l, r, 1234, c, t0), Some(5));
        assert_eq!(check(&h, l, r, 1235, c, t0), None);
        assert_eq!(check(&h, l, r, 1234, c ^ 1, t0), None);
        let later = Instant::from_millis(1_000_000 + 64_000);
        assert_eq!(check(&h, l, r, 1234, c, later), Some(5));
        let expired = Instant::from_millis(1_000_000 + 200_000);
        assert_eq!(check(&h, l, r, 1234, c, expired), None);
        assert_eq!(mss_index(1460), (7, 1460));
        assert_eq!(mss_index(1000), (0, 536));
        let ts = encode_ts_options(0x1234_5678, Some(7), true);
        assert_eq!(decode_ts_options(ts), (Some(7), true));
        assert_eq!(
            decode_ts_options(encode_ts_options(9, None, false)),
            (None, false)
        );
    }
}
