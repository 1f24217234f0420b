//! UDP (RFC 768) over IPv4.

use super::{checksum, get_u16, set_u16, ChecksumCaps, Error, Ipv4Addr, Result};

/// Length of the UDP header.
pub const HEADER_LEN: usize = 8;
const PROTOCOL: u8 = 17;

mod field {
    pub const SRC_PORT: usize = 0;
    pub const DST_PORT: usize = 2;
    pub const LENGTH: usize = 4;
    pub const CHECKSUM: usize = 6;
}

/// A view of a UDP datagram.
#[derive(Debug, Clone)]
pub struct Packet<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Packet<T> {
    /// Wraps a buffer without checks.
    pub const fn new_unchecked(buffer: T) -> Packet<T> {
        Packet { buffer }
    }

    /// Wraps a buffer after `check_len`.
    pub fn new_checked(buffer: T) -> Result<Packet<T>> {
        let p = Packet::new_unchecked(buffer);
        p.check_len()?;
        Ok(p)
    }

    /// Checks 8 <= length field <= buffer length.
    pub fn check_len(&self) -> Result<()> {
        let len = self.buffer.as_ref().len();
        if len < HEADER_LEN {
            return Err(Error::Truncated);
        }
        let field_len = self.len() as usize;
        if field_len < HEADER_LEN {
            return Err(Error::Malformed);
        }
        if field_len > len {
            return Err(Error::Truncated);
        }
        Ok(())
    }

    /// The underlying buffer.
    pub fn into_inner(self) -> T {
        self.buffer
    }

    /// Source port.
    pub fn src_port(&self) -> u16 {
        get_u16(self.buffer.as_ref(), field::SRC_PORT)
    }

    /// Destination port.
    pub fn dst_port(&self) -> u16 {
        get_u16(self.buffer.as_ref(), field::DST_PORT)
    }

    /// Length field (header plus payload).
    pub fn len(&self) -> u16 {
        get_u16(self.buffer.as_ref(), field::LENGTH)
    }

    /// True when the length field says there is no payload.
    pub fn is_empty(&self) -> bool {
        self.len() as usize <= HEADER_LEN
    }

    /// Checksum field (zero: none sent).
    pub fn checksum(&self) -> u16 {
        get_u16(self.buffer.as_ref(), field::CHECKSUM)
    }

    /// Payload up to the length field.
    pub fn payload(&self) -> &[u8] {
        &self.buffer.as_ref()[HEADER_LEN..self.len() as usize]
    }

    /// Whether the checksum verifies; a zero checksum (none sent) passes, as IPv4 allows.
    pub fn verify_checksum(&self, src: Ipv4Addr, dst: Ipv4Addr) -> bool {
        if self.checksum() == 0 {
            return true;
        }
        let data = &self.buffer.as_ref()[..self.len() as usize];
        let ph = checksum::pseudo_header_v4(src, dst, PROTOCOL, self.len());
        checksum::combine(ph, checksum::sum(data)) == 0xffff
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Packet<T> {
    /// Sets the source port.
    pub fn set_src_port(&mut self, v: u16) {
        set_u16(self.buffer.as_mut(), field::SRC_PORT, v);
    }

    /// Sets the destination port.
    pub fn set_dst_port(&mut self, v: u16) {
        set_u16(self.buffer.as_mut(), field::DST_PORT, v);
    }

    /// Sets the length field.
    pub fn set_len(&mut self, v: u16) {
        set_u16(self.buffer.as_mut(), field::LENGTH, v);
    }

    /// Sets the checksum field.
    pub fn set_checksum(&mut self, v: u16) {
        set_u16(self.buffer.as_mut(), field::CHECKSUM, v);
    }

    /// Mutable payload up to the length field.
    pub fn payload_mut(&mut self) -> &mut [u8] {
        let end = self.len() as usize;
        &mut self.buffer.as_mut()[HEADER_LEN..end]
    }

    /// Computes and writes the checksum over the datagram (0 is sent as 0xffff).
    pub fn fill_checksum(&mut self, src: Ipv4Addr, dst: Ipv4Addr) {
        self.set_checksum(0);
        let data = &self.buffer.as_ref()[..self.len() as usize];
        let ph = checksum::pseudo_header_v4(src, dst, PROTOCOL, self.len());
        let c = !checksum::combine(ph, checksum::sum(data));
        self.set_checksum(if c == 0 { 0xffff } else { c });
    }
}

/// A UDP datagram in high-level form.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Repr<'a> {
    /// Source port.
    pub src_port: u16,
    /// Destination port.
    pub dst_port: u16,
    /// Payload.
    pub payload: &'a [u8],
}

impl<'a> Repr<'a> {
    /// Parses a checked datagram. Port 0 as destination is `Malformed`.
    pub fn parse<T>(
        p: &Packet<&'a T>,
        src: Ipv4Addr,
        dst: Ipv4Addr,
        caps: ChecksumCaps,
    ) -> Result<Repr<'a>>
    where
        T: AsRef<[u8]> + ?Sized,
    {
        p.check_len()?;
        if p.dst_port() == 0 {
            return Err(Error::Malformed);
        }
        if caps.verify && !p.verify_checksum(src, dst) {
            return Err(Error::Checksum);
        }
        let buf: &'a T = p.buffer;
        let buf: &'a [u8] = buf.as_ref();
        Ok(Repr {
            src_port: p.src_port(),
            dst_port: p.dst_port(),
            payload: &buf[HEADER_LEN..p.len() as usize],
        })
    }

    /// Header plus payload.
    pub fn buffer_len(&self) -> usize {
        HEADER_LEN + self.payload.len()
    }

    /// Writes header and payload into `p` (at least `buffer_len()` bytes).
    pub fn emit<T>(&self, p: &mut Packet<T>, src: Ipv4Addr, dst: Ipv4Addr, caps: ChecksumCaps)
    where
        T: AsRef<[u8]> + AsMut<[u8]>,
    {
        p.buffer.as_mut()[HEADER_LEN..self.buffer_len()].copy_from_slice(self.payload);
        let header = &mut p.buffer.as_mut()[..HEADER_LEN];
        self.emit_header(header, src, dst, &[self.payload], caps);
    }

    /// Writes only the 8-byte header into `header`, for a payload that lives elsewhere
    /// (in `payload` parts, gathered by the device). `self.payload` is not used.
    pub fn emit_header(
        &self,
        header: &mut [u8],
        src: Ipv4Addr,
        dst: Ipv4Addr,
        payload: &[&[u8]],
        caps: ChecksumCaps,
    ) {
        let payload_len: usize = payload.iter().map(|s| s.len()).sum();
        let len = (HEADER_LEN + payload_len) as u16;
        set_u16(header, field::SRC_PORT, self.src_port);
        set_u16(header, field::DST_PORT, self.dst_port);
        set_u16(header, field::LENGTH, len);
        set_u16(header, field::CHECKSUM, 0);
        let ph = checksum::pseudo_header_v4(src, dst, PROTOCOL, len);
        let c = if caps.compute {
            let sum = checksum::combine(
                checksum::sum(&header[..HEADER_LEN]),
                checksum::sum_slices(payload),
            );
            match !checksum::combine(ph, sum) {
                0 => 0xffff,
                c => c,
            }
        } else {
            ph
        };
        set_u16(header, field::CHECKSUM, c);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::testutil::garbage;

    const SRC: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 1);
    const DST: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 2);

    // DNS-like query 198.18.0.1:53000 -> 198.18.0.2:53, payload "hello".
    fn golden() -> Vec<u8> {
        let mut b = vec![0xcf, 0x08, 0x00, 0x35, 0x00, 0x0d, 0x00, 0x00];
        b.extend_from_slice(b"hello");
        let mut ph = Vec::new();
        ph.extend_from_slice(&SRC.octets());
        ph.extend_from_slice(&DST.octets());
        ph.extend_from_slice(&[0, 17, 0, 13]);
        ph.extend_from_slice(&b);
        let c = internet_checksum::checksum(&ph);
        b[6..8].copy_from_slice(&c);
        b
    }

    #[test]
    fn parse_and_emit_golden() {
        let b = golden();
        let p = Packet::new_checked(&b[..]).unwrap();
        let r = Repr::parse(&p, SRC, DST, ChecksumCaps::SOFTWARE).unwrap();
        assert_eq!(
            r,
            Repr {
                src_port: 53000,
                dst_port: 53,
                payload: b"hello"
            }
        );
        let mut out = vec![0u8; r.buffer_len()];
        r.emit(
            &mut Packet::new_unchecked(&mut out[..]),
            SRC,
            DST,
            ChecksumCaps::SOFTWARE,
        );
        assert_eq!(out, b);
    }

    #[test]
    fn round_trip_and_split_header() {
        let payload: Vec<u8> = (0..1001u32).map(|i| i as u8).collect();
        let r = Repr {
            src_port: 1,
            dst_port: 9,
            payload: &payload,
        };
        let mut out = vec![0u8; r.buffer_len()];
        r.emit(
            &mut Packet::new_unchecked(&mut out[..]),
            SRC,
            DST,
            ChecksumCaps::SOFTWARE,
        );
        let p = Packet::new_checked(&out[..]).unwrap();
        assert_eq!(
            Repr::parse(&p, SRC, DST, ChecksumCaps::SOFTWARE).unwrap(),
            r
        );
        let mut hdr = [0u8; HEADER_LEN];
        let parts = [&payload[..333], &payload[333..]];
        r.emit_header(&mut hdr, SRC, DST, &parts, ChecksumCaps::SOFTWARE);
        assert_eq!(hdr, out[..HEADER_LEN]);
    }

    #[test]
    fn offload_leaves_pseudo_header_sum() {
        let r = Repr {
            src_port: 1,
            dst_port: 9,
            payload: b"x",
        };
        let mut out = vec![0u8; r.buffer_len()];
        r.emit(
            &mut Packet::new_unchecked(&mut out[..]),
            SRC,
            DST,
            ChecksumCaps::OFFLOAD,
        );
        let p = Packet::new_checked(&out[..]).unwrap();
        assert_eq!(p.checksum(), checksum::pseudo_header_v4(SRC, DST, 17, 9));
    }

    #[test]
    fn rejects() {
        let mut b = golden();
        b[9] ^= 0x40;
        let p = Packet::new_checked(&b[..]).unwrap();
        assert_eq!(
            Repr::parse(&p, SRC, DST, ChecksumCaps::SOFTWARE),
            Err(Error::Checksum)
        );
        b[6..8].copy_from_slice(&[0, 0]); // no checksum: accepted
        let p = Packet::new_checked(&b[..]).unwrap();
        assert!(Repr::parse(&p, SRC, DST, ChecksumCaps::SOFTWARE).is_ok());
        let b = golden();
        assert_eq!(Packet::new_checked(&b[..12]).unwrap_err(), Error::Truncated);
        let mut b = golden();
        b[5] = 7;
        assert_eq!(Packet::new_checked(&b[..]).unwrap_err(), Error::Malformed);
    }

    #[test]
    fn garbage_never_panics() {
        garbage(&golden(), 40, 4000, |b| {
            if let Ok(p) = Packet::new_checked(b) {
                let _ = Repr::parse(&p, SRC, DST, ChecksumCaps::SOFTWARE);
                let _ = Repr::parse(&p, SRC, DST, ChecksumCaps::OFFLOAD);
                let _ = p.payload();
            }
        });
    }
}
