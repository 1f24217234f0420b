//! IPv4 (RFC 791). Options are skipped on input and never emitted; fragment fields are
//! exposed so the IP layer can reassemble or drop.

use super::{checksum, get_ipv4, get_u16, set_u16, ChecksumCaps, Error, Ipv4Addr, Result};

/// The protocol (next header) field.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Protocol {
    /// 1
    Icmp,
    /// 6
    Tcp,
    /// 17
    Udp,
    /// Anything else (the raw value).
    Unknown(u8),
}

impl From<u8> for Protocol {
    fn from(v: u8) -> Self {
        match v {
            1 => Protocol::Icmp,
            6 => Protocol::Tcp,
            17 => Protocol::Udp,
            other => Protocol::Unknown(other),
        }
    }
}

impl From<Protocol> for u8 {
    fn from(v: Protocol) -> u8 {
        match v {
            Protocol::Icmp => 1,
            Protocol::Tcp => 6,
            Protocol::Udp => 17,
            Protocol::Unknown(other) => other,
        }
    }
}

/// Length of a header without options.
pub const HEADER_LEN: usize = 20;

mod field {
    pub const VER_IHL: usize = 0;
    pub const DSCP_ECN: usize = 1;
    pub const LENGTH: usize = 2;
    pub const IDENT: usize = 4;
    pub const FLG_OFF: usize = 6;
    pub const TTL: usize = 8;
    pub const PROTOCOL: usize = 9;
    pub const CHECKSUM: usize = 10;
    pub const SRC: usize = 12;
    pub const DST: usize = 16;
}

const FLAG_DF: u16 = 0x4000;
const FLAG_MF: u16 = 0x2000;
const OFFSET_MASK: u16 = 0x1fff;

/// A view of an IPv4 packet.
#[derive(Debug, Clone)]
pub struct Packet<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Packet<T> {
    /// Wraps a buffer without checks.
    pub const fn new_unchecked(buffer: T) -> Packet<T> {
        Packet { buffer }
    }

    /// Wraps a buffer after `check_len`. The buffer may be longer than the total length
    /// (Ethernet padding); `payload` stops at the total length.
    pub fn new_checked(buffer: T) -> Result<Packet<T>> {
        let p = Packet::new_unchecked(buffer);
        p.check_len()?;
        Ok(p)
    }

    /// Checks version 4, IHL >= 5 and header length <= total length <= buffer length.
    pub fn check_len(&self) -> Result<()> {
        let len = self.buffer.as_ref().len();
        if len < HEADER_LEN {
            return Err(Error::Truncated);
        }
        if self.version() != 4 || self.header_len() < HEADER_LEN {
            return Err(Error::Malformed);
        }
        let total = self.total_len() as usize;
        if total < self.header_len() {
            return Err(Error::Malformed);
        }
        if total > len {
            return Err(Error::Truncated);
        }
        Ok(())
    }

    /// The underlying buffer.
    pub fn into_inner(self) -> T {
        self.buffer
    }

    /// Version field.
    pub fn version(&self) -> u8 {
        self.buffer.as_ref()[field::VER_IHL] >> 4
    }

    /// Header length in bytes (IHL * 4).
    pub fn header_len(&self) -> usize {
        (self.buffer.as_ref()[field::VER_IHL] & 0x0f) as usize * 4
    }

    /// DSCP (upper six bits of the former TOS byte).
    pub fn dscp(&self) -> u8 {
        self.buffer.as_ref()[field::DSCP_ECN] >> 2
    }

    /// ECN codepoint (RFC 3168).
    pub fn ecn(&self) -> u8 {
        self.buffer.as_ref()[field::DSCP_ECN] & 0x03
    }

    /// Total length field.
    pub fn total_len(&self) -> u16 {
        get_u16(self.buffer.as_ref(), field::LENGTH)
    }

    /// Identification.
    pub fn ident(&self) -> u16 {
        get_u16(self.buffer.as_ref(), field::IDENT)
    }

    /// Don't Fragment.
    pub fn dont_frag(&self) -> bool {
        get_u16(self.buffer.as_ref(), field::FLG_OFF) & FLAG_DF != 0
    }

    /// More Fragments.
    pub fn more_frags(&self) -> bool {
        get_u16(self.buffer.as_ref(), field::FLG_OFF) & FLAG_MF != 0
    }

    /// Fragment offset in bytes.
    pub fn frag_offset(&self) -> u16 {
        (get_u16(self.buffer.as_ref(), field::FLG_OFF) & OFFSET_MASK) << 3
    }

    /// A fragment of a larger datagram (MF set or a non-zero offset).
    pub fn is_fragment(&self) -> bool {
        get_u16(self.buffer.as_ref(), field::FLG_OFF) & (FLAG_MF | OFFSET_MASK) != 0
    }

    /// Time to live.
    pub fn ttl(&self) -> u8 {
        self.buffer.as_ref()[field::TTL]
    }

    /// Protocol of the payload.
    pub fn next_header(&self) -> Protocol {
        self.buffer.as_ref()[field::PROTOCOL].into()
    }

    /// Header checksum field.
    pub fn checksum(&self) -> u16 {
        get_u16(self.buffer.as_ref(), field::CHECKSUM)
    }

    /// Source address.
    pub fn src_addr(&self) -> Ipv4Addr {
        get_ipv4(self.buffer.as_ref(), field::SRC)
    }

    /// Destination address.
    pub fn dst_addr(&self) -> Ipv4Addr {
        get_ipv4(self.buffer.as_ref(), field::DST)
    }

    /// Option bytes (skipped by `Repr::parse`).
    pub fn options(&self) -> &[u8] {
        &self.buffer.as_ref()[HEADER_LEN..self.header_len()]
    }

    /// Whether the header checksum verifies.
    pub fn verify_checksum(&self) -> bool {
        checksum::sum(&self.buffer.as_ref()[..self.header_len()]) == 0xffff
    }

    /// Payload: from the end of the header to the total length.
    pub fn payload(&self) -> &[u8] {
        &self.buffer.as_ref()[self.header_len()..self.total_len() as usize]
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Packet<T> {
    /// Sets version 4 and the header length in bytes (a multiple of 4, 20..=60).
    pub fn set_version_and_header_len(&mut self, header_len: usize) {
        self.buffer.as_mut()[field::VER_IHL] = 0x40 | ((header_len / 4) as u8 & 0x0f);
    }

    /// Sets DSCP and ECN.
    pub fn set_dscp_ecn(&mut self, dscp: u8, ecn: u8) {
        self.buffer.as_mut()[field::DSCP_ECN] = (dscp << 2) | (ecn & 0x03);
    }

    /// Sets the total length.
    pub fn set_total_len(&mut self, v: u16) {
        set_u16(self.buffer.as_mut(), field::LENGTH, v);
    }

    /// Sets the identification.
    pub fn set_ident(&mut self, v: u16) {
        set_u16(self.buffer.as_mut(), field::IDENT, v);
    }

    /// Sets DF, MF and the fragment offset (in bytes, a multiple of 8).
    pub fn set_frag(&mut self, dont_frag: bool, more_frags: bool, offset: u16) {
        let mut v = (offset >> 3) & OFFSET_MASK;
        if dont_frag {
            v |= FLAG_DF;
        }
        if more_frags {
            v |= FLAG_MF;
        }
        set_u16(self.buffer.as_mut(), field::FLG_OFF, v);
    }

    /// Sets the TTL.
    pub fn set_ttl(&mut self, v: u8) {
        self.buffer.as_mut()[field::TTL] = v;
    }

    /// Sets the protocol.
    pub fn set_next_header(&mut self, p: Protocol) {
        self.buffer.as_mut()[field::PROTOCOL] = p.into();
    }

    /// Sets the checksum field.
    pub fn set_checksum(&mut self, v: u16) {
        set_u16(self.buffer.as_mut(), field::CHECKSUM, v);
    }

    /// Sets the source address.
    pub fn set_src_addr(&mut self, a: Ipv4Addr) {
        self.buffer.as_mut()[field::SRC..field::SRC + 4].copy_from_slice(&a.octets());
    }

    /// Sets the destination address.
    pub fn set_dst_addr(&mut self, a: Ipv4Addr) {
        self.buffer.as_mut()[field::DST..field::DST + 4].copy_from_slice(&a.octets());
    }

    /// Computes and writes the header checksum.
    pub fn fill_checksum(&mut self) {
        self.set_checksum(0);
        let c = checksum::checksum(&self.buffer.as_ref()[..self.header_len()]);
        self.set_checksum(c);
    }

    /// Decrements the TTL and patches the checksum incrementally (RFC 1624), for forwarding.
    pub fn decrement_ttl(&mut self) {
        let b = self.buffer.as_ref();
        let old = get_u16(b, field::TTL);
        let c = self.checksum();
        let ttl = self.ttl().wrapping_sub(1);
        self.set_ttl(ttl);
        let new = get_u16(self.buffer.as_ref(), field::TTL);
        self.set_checksum(checksum::update16(c, old, new));
    }

    /// Mutable payload (up to the total length).
    pub fn payload_mut(&mut self) -> &mut [u8] {
        let (start, end) = (self.header_len(), self.total_len() as usize);
        &mut self.buffer.as_mut()[start..end]
    }
}

/// An IPv4 header in high-level form. Options are not represented.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Repr {
    /// Source address.
    pub src_addr: Ipv4Addr,
    /// Destination address.
    pub dst_addr: Ipv4Addr,
    /// Payload protocol.
    pub next_header: Protocol,
    /// Payload length (total length minus header length).
    pub payload_len: usize,
    /// Time to live.
    pub ttl: u8,
    /// DSCP (6 bits).
    pub dscp: u8,
    /// ECN codepoint (2 bits).
    pub ecn: u8,
    /// Identification.
    pub ident: u16,
    /// Don't Fragment.
    pub dont_frag: bool,
    /// More Fragments.
    pub more_frags: bool,
    /// Fragment offset in bytes.
    pub frag_offset: u16,
}

impl Repr {
    /// A plain unfragmented datagram header with DF set (PMTUD, RFC 1191) and TTL 64.
    pub fn new(src: Ipv4Addr, dst: Ipv4Addr, next_header: Protocol, payload_len: usize) -> Repr {
        Repr {
            src_addr: src,
            dst_addr: dst,
            next_header,
            payload_len,
            ttl: 64,
            dscp: 0,
            ecn: 0,
            ident: 0,
            dont_frag: true,
            more_frags: false,
            frag_offset: 0,
        }
    }

    /// Parses a checked packet, verifying the header checksum if `caps.verify`.
    pub fn parse<T: AsRef<[u8]>>(p: &Packet<T>, caps: ChecksumCaps) -> Result<Repr> {
        p.check_len()?;
        if caps.verify && !p.verify_checksum() {
            return Err(Error::Checksum);
        }
        Ok(Repr {
            src_addr: p.src_addr(),
            dst_addr: p.dst_addr(),
            next_header: p.next_header(),
            payload_len: p.total_len() as usize - p.header_len(),
            ttl: p.ttl(),
            dscp: p.dscp(),
            ecn: p.ecn(),
            ident: p.ident(),
            dont_frag: p.dont_frag(),
            more_frags: p.more_frags(),
            frag_offset: p.frag_offset(),
        })
    }

    /// Header length `emit` writes (no options).
    pub const fn header_len(&self) -> usize {
        HEADER_LEN
    }

    /// Header plus payload.
    pub const fn buffer_len(&self) -> usize {
        HEADER_LEN + self.payload_len
    }

    /// Writes the header (the payload is left alone). `payload_len` must fit in 65515.
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]>>(&self, p: &mut Packet<T>, caps: ChecksumCaps) {
        p.set_version_and_header_len(HEADER_LEN);
        p.set_dscp_ecn(self.dscp, self.ecn);
        p.set_total_len((HEADER_LEN + self.payload_len) as u16);
        p.set_ident(self.ident);
        p.set_frag(self.dont_frag, self.more_frags, self.frag_offset);
        p.set_ttl(self.ttl);
        p.set_next_header(self.next_header);
        p.set_src_addr(self.src_addr);
        p.set_dst_addr(self.dst_addr);
        if caps.compute {
            p.fill_checksum();
        } else {
            p.set_checksum(0);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::testutil::garbage;

    // A textbook UDP datagram header: 192.168.0.1 -> 192.168.0.199, total length 115, DF,
    // TTL 64, checksum 0xb861.
    const HEADER: [u8; 20] = [
        0x45, 0x00, 0x00, 0x73, 0x00, 0x00, 0x40, 0x00, 0x40, 0x11, 0xb8, 0x61, 0xc0, 0xa8, 0x00,
        0x01, 0xc0, 0xa8, 0x00, 0xc7,
    ];

    fn golden() -> Vec<u8> {
        let mut v = HEADER.to_vec();
        v.resize(0x73, 0xaa);
        v
    }

    #[test]
    fn parse_golden() {
        let buf = golden();
        let p = Packet::new_checked(&buf[..]).unwrap();
        assert!(p.verify_checksum());
        let r = Repr::parse(&p, ChecksumCaps::SOFTWARE).unwrap();
        assert_eq!(r.src_addr, Ipv4Addr::new(192, 168, 0, 1));
        assert_eq!(r.dst_addr, Ipv4Addr::new(192, 168, 0, 199));
        assert_eq!(r.next_header, Protocol::Udp);
        assert_eq!(r.payload_len, 95);
        assert!(r.dont_frag && !r.more_frags && r.frag_offset == 0 && r.ttl == 64);
        assert!(!p.is_fragment());
        assert_eq!(p.payload().len(), 95);
    }

    #[test]
    fn emit_golden() {
        let buf = golden();
        let r = Repr::parse(
            &Packet::new_checked(&buf[..]).unwrap(),
            ChecksumCaps::SOFTWARE,
        );
        let mut out = [0u8; 20];
        r.unwrap().emit(
            &mut Packet::new_unchecked(&mut out[..]),
            ChecksumCaps::SOFTWARE,
        );
        assert_eq!(out, HEADER);
    }

    #[test]
    fn round_trip_fragment_fields() {
        let r = Repr {
            ttl: 1,
            dscp: 46,
            ecn: 2,
            ident: 0xbeef,
            dont_frag: false,
            more_frags: true,
            frag_offset: 1480,
            ..Repr::new(
                Ipv4Addr::new(198, 18, 0, 1),
                Ipv4Addr::new(198, 18, 0, 2),
                Protocol::Tcp,
                8,
            )
        };
        let mut buf = vec![0u8; r.buffer_len() + 6]; // trailing Ethernet padding
        r.emit(
            &mut Packet::new_unchecked(&mut buf[..]),
            ChecksumCaps::SOFTWARE,
        );
        let p = Packet::new_checked(&buf[..]).unwrap();
        assert!(p.is_fragment());
        assert_eq!(p.payload().len(), 8);
        assert_eq!(Repr::parse(&p, ChecksumCaps::SOFTWARE).unwrap(), r);
    }

    #[test]
    fn options_are_skipped() {
        // IHL 6 with one NOP-padded option word; checksum recomputed.
        let mut b = [0u8; 28];
        b[..20].copy_from_slice(&HEADER);
        b[0] = 0x46;
        b[2..4].copy_from_slice(&28u16.to_be_bytes());
        b[20..24].copy_from_slice(&[1, 1, 1, 0]);
        let mut p = Packet::new_unchecked(&mut b[..]);
        p.fill_checksum();
        let p = Packet::new_checked(&b[..]).unwrap();
        assert_eq!(p.options(), &[1, 1, 1, 0]);
        assert_eq!(p.payload().len(), 4);
        assert_eq!(
            Repr::parse(&p, ChecksumCaps::SOFTWARE).unwrap().payload_len,
            4
        );
    }

    #[test]
    fn rejects_bad_headers() {
        let good = golden();
        let check = |f: &dyn Fn(&mut Vec<u8>), e: Error| {
            let mut b = good.clone();
            f(&mut b);
            let r =
                Packet::new_checked(&b[..]).and_then(|p| Repr::parse(&p, ChecksumCaps::SOFTWARE));
            assert_eq!(r, Err(e));
        };
        check(&|b| b[0] = 0x65, Error::Malformed); // version 6
        check(&|b| b[0] = 0x44, Error::Malformed); // IHL 4
        check(&|b| b[3] = 0x10, Error::Malformed); // total length 16 < header
        check(&|b| b.truncate(0x72), Error::Truncated); // total length > buffer
        check(&|b| b.truncate(19), Error::Truncated);
        check(&|b| b[8] = 0x3f, Error::Checksum);
        let mut b = good.clone();
        b[8] = 0x3f;
        let p = Packet::new_checked(&b[..]).unwrap();
        assert!(Repr::parse(&p, ChecksumCaps::OFFLOAD).is_ok());
    }

    #[test]
    fn decrement_ttl_keeps_checksum_valid() {
        let mut b = golden();
        let mut p = Packet::new_unchecked(&mut b[..]);
        for _ in 0..70 {
            p.decrement_ttl();
            assert!(p.verify_checksum());
        }
    }

    #[test]
    fn garbage_never_panics() {
        garbage(&golden(), 140, 4000, |b| {
            if let Ok(p) = Packet::new_checked(b) {
                let _ = Repr::parse(&p, ChecksumCaps::SOFTWARE);
                let _ = Repr::parse(&p, ChecksumCaps::OFFLOAD);
                let _ = (p.options(), p.payload(), p.is_fragment());
            }
        });
    }
}
