//! ICMPv4 (RFC 792): echo, destination unreachable (incl. "fragmentation needed" with the
//! next-hop MTU of RFC 1191) and time exceeded. Error messages carry the original IP header
//! and leading payload bytes, which `Repr` keeps as a slice and `embedded` decodes.

use super::ipv4::{self, Protocol};
use super::{checksum, get_ipv4, get_u16, set_u16, ChecksumCaps, Error, Ipv4Addr, Result};

/// Message types.
pub mod kind {
    /// Echo reply.
    pub const ECHO_REPLY: u8 = 0;
    /// Destination unreachable.
    pub const DST_UNREACHABLE: u8 = 3;
    /// Echo request.
    pub const ECHO_REQUEST: u8 = 8;
    /// Time exceeded.
    pub const TIME_EXCEEDED: u8 = 11;
}

/// Destination-unreachable codes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DstUnreachable {
    /// 0
    NetUnreachable,
    /// 1
    HostUnreachable,
    /// 2
    ProtoUnreachable,
    /// 3
    PortUnreachable,
    /// 4: fragmentation needed and DF set; carries the next-hop MTU.
    FragRequired,
    /// 13: communication administratively prohibited (RFC 1812).
    AdminProhibited,
    /// Any other code.
    Other(u8),
}

impl From<u8> for DstUnreachable {
    fn from(v: u8) -> Self {
        match v {
            0 => Self::NetUnreachable,
            1 => Self::HostUnreachable,
            2 => Self::ProtoUnreachable,
            3 => Self::PortUnreachable,
            4 => Self::FragRequired,
            13 => Self::AdminProhibited,
            other => Self::Other(other),
        }
    }
}

impl From<DstUnreachable> for u8 {
    fn from(v: DstUnreachable) -> u8 {
        match v {
            DstUnreachable::NetUnreachable => 0,
            DstUnreachable::HostUnreachable => 1,
            DstUnreachable::ProtoUnreachable => 2,
            DstUnreachable::PortUnreachable => 3,
            DstUnreachable::FragRequired => 4,
            DstUnreachable::AdminProhibited => 13,
            DstUnreachable::Other(other) => other,
        }
    }
}

/// Time-exceeded codes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TimeExceeded {
    /// 0: TTL reached zero in transit.
    TtlExpired,
    /// 1: fragment reassembly timed out.
    FragExpired,
    /// Any other code.
    Other(u8),
}

impl From<u8> for TimeExceeded {
    fn from(v: u8) -> Self {
        match v {
            0 => Self::TtlExpired,
            1 => Self::FragExpired,
            other => Self::Other(other),
        }
    }
}

impl From<TimeExceeded> for u8 {
    fn from(v: TimeExceeded) -> u8 {
        match v {
            TimeExceeded::TtlExpired => 0,
            TimeExceeded::FragExpired => 1,
            TimeExceeded::Other(other) => other,
        }
    }
}

/// Length of the fixed header (type, code, checksum and the 4-byte rest-of-header).
pub const HEADER_LEN: usize = 8;

mod field {
    pub const TYPE: usize = 0;
    pub const CODE: usize = 1;
    pub const CHECKSUM: usize = 2;
    pub const IDENT: usize = 4;
    pub const SEQ: usize = 6;
    pub const MTU: usize = 6;
}

/// A view of an ICMPv4 message.
#[derive(Debug, Clone)]
pub struct Packet<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Packet<T> {
    /// Wraps a buffer without checks.
    pub const fn new_unchecked(buffer: T) -> Packet<T> {
        Packet { buffer }
    }

    /// Wraps a buffer holding at least the 8-byte header. The message is the whole buffer.
    pub fn new_checked(buffer: T) -> Result<Packet<T>> {
        let p = Packet::new_unchecked(buffer);
        p.check_len()?;
        Ok(p)
    }

    /// Checks that the header fits.
    pub fn check_len(&self) -> Result<()> {
        if self.buffer.as_ref().len() < HEADER_LEN {
            return Err(Error::Truncated);
        }
        Ok(())
    }

    /// The underlying buffer.
    pub fn into_inner(self) -> T {
        self.buffer
    }

    /// Message type.
    pub fn msg_type(&self) -> u8 {
        self.buffer.as_ref()[field::TYPE]
    }

    /// Message code.
    pub fn msg_code(&self) -> u8 {
        self.buffer.as_ref()[field::CODE]
    }

    /// Checksum field.
    pub fn checksum(&self) -> u16 {
        get_u16(self.buffer.as_ref(), field::CHECKSUM)
    }

    /// Echo identifier.
    pub fn echo_ident(&self) -> u16 {
        get_u16(self.buffer.as_ref(), field::IDENT)
    }

    /// Echo sequence number.
    pub fn echo_seq_no(&self) -> u16 {
        get_u16(self.buffer.as_ref(), field::SEQ)
    }

    /// Next-hop MTU of "fragmentation needed" (RFC 1191); zero from pre-1191 routers.
    pub fn next_hop_mtu(&self) -> u16 {
        get_u16(self.buffer.as_ref(), field::MTU)
    }

    /// Bytes after the 8-byte header: echo data, or the original datagram of an error.
    pub fn data(&self) -> &[u8] {
        &self.buffer.as_ref()[HEADER_LEN..]
    }

    /// Whether the checksum over the whole message verifies.
    pub fn verify_checksum(&self) -> bool {
        checksum::sum(self.buffer.as_ref()) == 0xffff
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Packet<T> {
    /// Sets the type.
    pub fn set_msg_type(&mut self, v: u8) {
        self.buffer.as_mut()[field::TYPE] = v;
    }

    /// Sets the code.
    pub fn set_msg_code(&mut self, v: u8) {
        self.buffer.as_mut()[field::CODE] = v;
    }

    /// Sets the checksum field.
    pub fn set_checksum(&mut self, v: u16) {
        set_u16(self.buffer.as_mut(), field::CHECKSUM, v);
    }

    /// Sets the 4-byte rest-of-header from two halves (ident/seq, or unused/MTU).
    pub fn set_rest(&mut self, hi: u16, lo: u16) {
        set_u16(self.buffer.as_mut(), field::IDENT, hi);
        set_u16(self.buffer.as_mut(), field::SEQ, lo);
    }

    /// Mutable data after the header.
    pub fn data_mut(&mut self) -> &mut [u8] {
        &mut self.buffer.as_mut()[HEADER_LEN..]
    }

    /// Computes and writes the checksum over the whole buffer.
    pub fn fill_checksum(&mut self) {
        self.set_checksum(0);
        let c = checksum::checksum(self.buffer.as_ref());
        self.set_checksum(c);
    }
}

/// An ICMPv4 message in high-level form. `data` borrows from the parsed buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Repr<'a> {
    /// Echo request ("ping").
    EchoRequest {
        /// Identifier.
        ident: u16,
        /// Sequence number.
        seq_no: u16,
        /// Data to echo back.
        data: &'a [u8],
    },
    /// Echo reply.
    EchoReply {
        /// Identifier.
        ident: u16,
        /// Sequence number.
        seq_no: u16,
        /// Echoed data.
        data: &'a [u8],
    },
    /// Destination unreachable.
    DstUnreachable {
        /// Why.
        reason: DstUnreachable,
        /// Next-hop MTU for `FragRequired`, zero otherwise.
        next_hop_mtu: u16,
        /// The original IP header and leading payload bytes (see `embedded`).
        data: &'a [u8],
    },
    /// Time exceeded.
    TimeExceeded {
        /// Why.
        reason: TimeExceeded,
        /// The original IP header and leading payload bytes (see `embedded`).
        data: &'a [u8],
    },
}

impl<'a> Repr<'a> {
    /// Parses a checked message; other types are `Unsupported`.
    pub fn parse<T>(p: &Packet<&'a T>, caps: ChecksumCaps) -> Result<Repr<'a>>
    where
        T: AsRef<[u8]> + ?Sized,
    {
        let buf: &'a T = p.buffer;
        let buf: &'a [u8] = buf.as_ref();
        if buf.len() < HEADER_LEN {
            return Err(Error::Truncated);
        }
        if caps.verify && !p.verify_checksum() {
            return Err(Error::Checksum);
        }
        let data = &buf[HEADER_LEN..];
        let (ident, seq_no) = (p.echo_ident(), p.echo_seq_no());
        match (p.msg_type(), p.msg_code()) {
            (kind::ECHO_REQUEST, 0) => Ok(Repr::EchoRequest {
                ident,
                seq_no,
                data,
            }),
            (kind::ECHO_REPLY, 0) => Ok(Repr::EchoReply {
                ident,
                seq_no,
                data,
            }),
            (kind::DST_UNREACHABLE, code) => {
                let reason = DstUnreachable::from(code);
                let next_hop_mtu = match reason {
                    DstUnreachable::FragRequired => p.next_hop_mtu(),
                    _ => 0,
                };
                Ok(Repr::DstUnreachable {
                    reason,
                    next_hop_mtu,
                    data,
                })
            }
            (kind::TIME_EXCEEDED, code) => Ok(Repr::TimeExceeded {
                reason: code.into(),
                data,
            }),
            _ => Err(Error::Unsupported),
        }
    }

    /// The data after the header.
    pub fn data(&self) -> &'a [u8] {
        match *self {
            Repr::EchoRequest { data, .. }
            | Repr::EchoReply { data, .. }
            | Repr::DstUnreachable { data, .. }
            | Repr::TimeExceeded { data, .. } => data,
        }
    }

    /// Bytes `emit` writes.
    pub fn buffer_len(&self) -> usize {
        HEADER_LEN + self.data().len()
    }

    /// Writes the message, data included; `p` must span exactly `buffer_len()` bytes for
    /// the checksum to cover the right range.
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]>>(&self, p: &mut Packet<T>, caps: ChecksumCaps) {
        let (ty, code, hi, lo) = match *self {
            Repr::EchoRequest { ident, seq_no, .. } => (kind::ECHO_REQUEST, 0, ident, seq_no),
            Repr::EchoReply { ident, seq_no, .. } => (kind::ECHO_REPLY, 0, ident, seq_no),
            Repr::DstUnreachable {
                reason,
                next_hop_mtu,
                ..
            } => (kind::DST_UNREACHABLE, reason.into(), 0, next_hop_mtu),
            Repr::TimeExceeded { reason, .. } => (kind::TIME_EXCEEDED, reason.into(), 0, 0),
        };
        p.set_msg_type(ty);
        p.set_msg_code(code);
        p.set_rest(hi, lo);
        let data = self.data();
        p.data_mut()[..data.len()].copy_from_slice(data);
        if caps.compute {
            p.fill_checksum();
        } else {
            p.set_checksum(0);
        }
    }
}

/// The original datagram quoted in an ICMP error: enough to find the connection it is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Embedded<'a> {
    /// Source of the original datagram (normally our address).
    pub src_addr: Ipv4Addr,
    /// Destination of the original datagram.
    pub dst_addr: Ipv4Addr,
    /// Its protocol.
    pub protocol: Protocol,
    /// Leading transport bytes (at least 8 by RFC 792; TCP/UDP ports are the first 4).
    pub transport: &'a [u8],
}

impl Embedded<'_> {
    /// Source and destination ports, when the quoted transport header has them.
    pub fn ports(&self) -> Option<(u16, u16)> {
        if self.transport.len() < 4 {
            return None;
        }
        Some((get_u16(self.transport, 0), get_u16(self.transport, 2)))
    }
}

/// Decodes the quoted header of an error message's data. The quote is usually shorter than
/// the original total length, so this does not use `ipv4::Packet::new_checked`.
pub fn embedded(data: &[u8]) -> Result<Embedded<'_>> {
    if data.len() < ipv4::HEADER_LEN {
        return Err(Error::Truncated);
    }
    let header_len = (data[0] & 0x0f) as usize * 4;
    if data[0] >> 4 != 4 || header_len < ipv4::HEADER_LEN {
        return Err(Error::Malformed);
    }
    let transport = data.get(header_len..).ok_or(Error::Truncated)?;
    Ok(Embedded {
        src_addr: get_ipv4(data, 12),
        dst_addr: get_ipv4(data, 16),
        protocol: data[9].into(),
        transport,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::testutil::garbage;

    // Linux `ping -c1` payload-less echo request: ident 0x1234, seq 1, data "abcd".
    const ECHO: [u8; 12] = [
        0x08, 0x00, 0x00, 0x00, 0x12, 0x34, 0x00, 0x01, b'a', b'b', b'c', b'd',
    ];

    fn echo_golden() -> [u8; 12] {
        let mut b = ECHO;
        let c = u16::from_be_bytes(internet_checksum::checksum(&b));
        b[2..4].copy_from_slice(&c.to_be_bytes());
        b
    }

    // The IP header of a TCP segment 198.18.0.2:80 -> 198.18.0.1:40000 plus 8 TCP bytes.
    fn quoted() -> Vec<u8> {
        let mut q = vec![
            0x45, 0, 0x05, 0xdc, 0, 0, 0x40, 0, 64, 6, 0, 0, 198, 18, 0, 2, 198, 18, 0, 1,
        ];
        q.extend_from_slice(&[0x00, 0x50, 0x9c, 0x40, 0, 0, 0, 1]);
        q
    }

    #[test]
    fn echo_golden_parse_and_emit() {
        let b = echo_golden();
        let p = Packet::new_checked(&b[..]).unwrap();
        let r = Repr::parse(&p, ChecksumCaps::SOFTWARE).unwrap();
        assert_eq!(
            r,
            Repr::EchoRequest {
                ident: 0x1234,
                seq_no: 1,
                data: b"abcd"
            }
        );
        let mut out = [0u8; 12];
        r.emit(
            &mut Packet::new_unchecked(&mut out[..]),
            ChecksumCaps::SOFTWARE,
        );
        assert_eq!(out, b);
    }

    fn round_trip(r: Repr<'_>) {
        let mut buf = vec![0u8; r.buffer_len()];
        r.emit(
            &mut Packet::new_unchecked(&mut buf[..]),
            ChecksumCaps::SOFTWARE,
        );
        let p = Packet::new_checked(&buf[..]).unwrap();
        assert!(p.verify_checksum());
        assert_eq!(Repr::parse(&p, ChecksumCaps::SOFTWARE).unwrap(), r);
    }

    #[test]
    fn round_trips() {
        let q = quoted();
        round_trip(Repr::EchoReply {
            ident: 7,
            seq_no: 9,
            data: b"odd",
        });
        round_trip(Repr::EchoRequest {
            ident: 0,
            seq_no: 0,
            data: &[],
        });
        for reason in [
            DstUnreachable::PortUnreachable,
            DstUnreachable::ProtoUnreachable,
        ] {
            round_trip(Repr::DstUnreachable {
                reason,
                next_hop_mtu: 0,
                data: &q,
            });
        }
        let frag = DstUnreachable::FragRequired;
        round_trip(Repr::DstUnreachable {
            reason: frag,
            next_hop_mtu: 1400,
            data: &q,
        });
        round_trip(Repr::TimeExceeded {
            reason: TimeExceeded::TtlExpired,
            data: &q,
        });
        round_trip(Repr::TimeExceeded {
            reason: TimeExceeded::FragExpired,
            data: &q,
        });
    }

    #[test]
    fn frag_needed_for_pmtud() {
        let q = quoted();
        let r = Repr::DstUnreachable {
            reason: DstUnreachable::FragRequired,
            next_hop_mtu: 1280,
            data: &q,
        };
        let mut buf = vec![0u8; r.buffer_len()];
        r.emit(
            &mut Packet::new_unchecked(&mut buf[..]),
            ChecksumCaps::SOFTWARE,
        );
        assert_eq!(&buf[..2], &[3, 4]);
        assert_eq!(&buf[4..8], &[0, 0, 0x05, 0x00]);
        let p = Packet::new_checked(&buf[..]).unwrap();
        let Ok(Repr::DstUnreachable {
            next_hop_mtu, data, ..
        }) = Repr::parse(&p, ChecksumCaps::SOFTWARE)
        else {
            panic!("not parsed");
        };
        assert_eq!(next_hop_mtu, 1280);
        let e = embedded(data).unwrap();
        assert_eq!(e.src_addr, Ipv4Addr::new(198, 18, 0, 2));
        assert_eq!(e.dst_addr, Ipv4Addr::new(198, 18, 0, 1));
        assert_eq!(e.protocol, Protocol::Tcp);
        assert_eq!(e.ports(), Some((80, 40000)));
    }

    #[test]
    fn rejects() {
        let mut b = echo_golden();
        b[9] ^= 1;
        let p = Packet::new_checked(&b[..]).unwrap();
        assert_eq!(
            Repr::parse(&p, ChecksumCaps::SOFTWARE),
            Err(Error::Checksum)
        );
        let mut b = echo_golden();
        b[0] = 5; // redirect
        Packet::new_unchecked(&mut b[..]).fill_checksum();
        let p = Packet::new_checked(&b[..]).unwrap();
        assert_eq!(
            Repr::parse(&p, ChecksumCaps::SOFTWARE),
            Err(Error::Unsupported)
        );
        assert_eq!(Packet::new_checked(&b[..7]).unwrap_err(), Error::Truncated);
        assert_eq!(embedded(&quoted()[..19]), Err(Error::Truncated));
        let mut q = quoted();
        q[0] = 0x4f; // IHL 15 > quote
        assert_eq!(embedded(&q), Err(Error::Truncated));
    }

    #[test]
    fn garbage_never_panics() {
        let mut seed = vec![3u8, 4, 0, 0, 0, 0, 5, 0];
        seed.extend_from_slice(&quoted());
        garbage(&seed, 80, 4000, |b| {
            if let Ok(p) = Packet::new_checked(b) {
                for caps in [ChecksumCaps::SOFTWARE, ChecksumCaps::OFFLOAD] {
                    if let Ok(r) = Repr::parse(&p, caps) {
                        if let Ok(e) = embedded(r.data()) {
                            let _ = e.ports();
                        }
                    }
                }
            }
        });
    }
}
