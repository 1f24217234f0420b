//! TCP segments (RFC 9293) with the options of RFC 6691 (MSS), RFC 7323 (window scale,
//! timestamps) and RFC 2018 (SACK). Sequence numbers are raw `u32`: wrapping comparison is
//! the TCP layer's business.

use super::{checksum, get_u16, get_u32, set_u16, set_u32, ChecksumCaps, Error, Ipv4Addr, Result};

/// Length of the header without options.
pub const HEADER_LEN: usize = 20;
/// Longest header (data offset 15).
pub const MAX_HEADER_LEN: usize = 60;
/// Most SACK blocks one option can carry (4 * 8 + 2 = 34 of the 40 option bytes).
pub const MAX_SACK_BLOCKS: usize = 4;
/// Largest window shift (RFC 7323 §2.3); larger received values are clamped to it.
pub const MAX_WINDOW_SHIFT: u8 = 14;
const PROTOCOL: u8 = 6;
const MAX_OPTIONS_LEN: usize = MAX_HEADER_LEN - HEADER_LEN;

mod field {
    pub const SRC_PORT: usize = 0;
    pub const DST_PORT: usize = 2;
    pub const SEQ: usize = 4;
    pub const ACK: usize = 8;
    pub const OFF_FLAGS: usize = 12;
    pub const WINDOW: usize = 14;
    pub const CHECKSUM: usize = 16;
    pub const URGENT: usize = 18;
}

/// The nine control bits (NS, now AE of AccECN, included).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Flags(u16);

impl Flags {
    /// No more data from sender.
    pub const FIN: Flags = Flags(0x001);
    /// Synchronize sequence numbers.
    pub const SYN: Flags = Flags(0x002);
    /// Reset.
    pub const RST: Flags = Flags(0x004);
    /// Push.
    pub const PSH: Flags = Flags(0x008);
    /// Acknowledgment field is significant.
    pub const ACK: Flags = Flags(0x010);
    /// Urgent pointer is significant.
    pub const URG: Flags = Flags(0x020);
    /// ECN echo (RFC 3168).
    pub const ECE: Flags = Flags(0x040);
    /// Congestion window reduced (RFC 3168).
    pub const CWR: Flags = Flags(0x080);
    /// Nonce sum (RFC 3540, historic) / AE (AccECN).
    pub const NS: Flags = Flags(0x100);

    /// No flags.
    pub const fn empty() -> Flags {
        Flags(0)
    }

    /// From raw bits; bits above the nine flags are dropped.
    pub const fn from_bits_truncate(bits: u16) -> Flags {
        Flags(bits & 0x1ff)
    }

    /// Raw bits.
    pub const fn bits(self) -> u16 {
        self.0
    }

    /// All of `other` set.
    pub const fn contains(self, other: Flags) -> bool {
        self.0 & other.0 == other.0
    }

    /// Any of `other` set.
    pub const fn intersects(self, other: Flags) -> bool {
        self.0 & other.0 != 0
    }

    /// No flag set.
    pub const fn is_empty(self) -> bool {
        self.0 == 0
    }
}

impl core::ops::BitOr for Flags {
    type Output = Flags;
    fn bitor(self, rhs: Flags) -> Flags {
        Flags(self.0 | rhs.0)
    }
}

impl core::ops::BitOrAssign for Flags {
    fn bitor_assign(&mut self, rhs: Flags) {
        self.0 |= rhs.0;
    }
}

impl core::ops::BitAnd for Flags {
    type Output = Flags;
    fn bitand(self, rhs: Flags) -> Flags {
        Flags(self.0 & rhs.0)
    }
}

/// RFC 7323 timestamps option.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Timestamp {
    /// TSval: the sender's clock.
    pub tsval: u32,
    /// TSecr: the echoed TSval (zero unless ACK is set).
    pub tsecr: u32,
}

/// One TCP option.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TcpOption<'a> {
    /// Kind 0: end of the option list.
    EndOfList,
    /// Kind 1: padding.
    NoOperation,
    /// Kind 2: maximum segment size.
    MaxSegmentSize(u16),
    /// Kind 3: window shift count (raw, not clamped).
    WindowScale(u8),
    /// Kind 4: SACK permitted.
    SackPermitted,
    /// Kind 5: SACK blocks (left edge, right edge), 1 to 4.
    SackRange([Option<(u32, u32)>; MAX_SACK_BLOCKS]),
    /// Kind 8: timestamps.
    Timestamp(Timestamp),
    /// Any other kind, with its data (after kind and length).
    Unknown {
        /// Option kind.
        kind: u8,
        /// Option data.
        data: &'a [u8],
    },
}

impl<'a> TcpOption<'a> {
    /// Parses the option at the start of `buf`; returns it and the bytes after it.
    /// A length below 2, past the buffer, or wrong for a known kind is `Malformed`.
    #[inline]
    pub fn parse(buf: &'a [u8]) -> Result<(&'a [u8], TcpOption<'a>)> {
        let (&kind, rest) = buf.split_first().ok_or(Error::Truncated)?;
        match kind {
            0 => return Ok((rest, TcpOption::EndOfList)),
            1 => return Ok((rest, TcpOption::NoOperation)),
            _ => {}
        }
        let len = *rest.first().ok_or(Error::Malformed)? as usize;
        if len < 2 || len > buf.len() {
            return Err(Error::Malformed);
        }
        let (data, rest) = (&buf[2..len], &buf[len..]);
        let opt = match (kind, len) {
            (2, 4) => TcpOption::MaxSegmentSize(get_u16(data, 0)),
            (3, 3) => TcpOption::WindowScale(data[0]),
            (4, 2) => TcpOption::SackPermitted,
            // 1 to 4 blocks of 8 bytes.
            (5, 10 | 18 | 26 | 34) => {
                let mut blocks = [None; MAX_SACK_BLOCKS];
                for (slot, b) in blocks.iter_mut().zip(data.chunks_exact(8)) {
                    *slot = Some((get_u32(b, 0), get_u32(b, 4)));
                }
                TcpOption::SackRange(blocks)
            }
            (8, 10) => TcpOption::Timestamp(Timestamp {
                tsval: get_u32(data, 0),
                tsecr: get_u32(data, 4),
            }),
            (2..=5 | 8, _) => return Err(Error::Malformed),
            _ => TcpOption::Unknown { kind, data },
        };
        Ok((rest, opt))
    }

    /// Bytes `emit` writes.
    pub fn buffer_len(&self) -> usize {
        match self {
            TcpOption::EndOfList | TcpOption::NoOperation => 1,
            TcpOption::MaxSegmentSize(_) => 4,
            TcpOption::WindowScale(_) => 3,
            TcpOption::SackPermitted => 2,
            TcpOption::SackRange(b) => 2 + 8 * b.iter().flatten().count(),
            TcpOption::Timestamp(_) => 10,
            TcpOption::Unknown { data, .. } => 2 + data.len(),
        }
    }

    /// Writes the option at the start of `buf` and returns the bytes after it.
    pub fn emit<'b>(&self, buf: &'b mut [u8]) -> &'b mut [u8] {
        let len = self.buffer_len();
        let (out, rest) = buf.split_at_mut(len);
        match *self {
            TcpOption::EndOfList => out[0] = 0,
            TcpOption::NoOperation => out[0] = 1,
            TcpOption::MaxSegmentSize(mss) => {
                out[..2].copy_from_slice(&[2, 4]);
                set_u16(out, 2, mss);
            }
            TcpOption::WindowScale(s) => out.copy_from_slice(&[3, 3, s]),
            TcpOption::SackPermitted => out.copy_from_slice(&[4, 2]),
            TcpOption::SackRange(blocks) => {
                out[..2].copy_from_slice(&[5, len as u8]);
                for (i, (l, r)) in blocks.iter().flatten().enumerate() {
                    set_u32(out, 2 + 8 * i, *l);
                    set_u32(out, 6 + 8 * i, *r);
                }
            }
            TcpOption::Timestamp(ts) => {
                out[..2].copy_from_slice(&[8, 10]);
                set_u32(out, 2, ts.tsval);
                set_u32(out, 6, ts.tsecr);
            }
            TcpOption::Unknown { kind, data } => {
                out[..2].copy_from_slice(&[kind, len as u8]);
                out[2..].copy_from_slice(data);
            }
        }
        rest
    }
}

/// Iterates the options of a header; stops after EOL, the end, or the first error.
#[derive(Debug, Clone)]
pub struct Options<'a> {
    rest: &'a [u8],
}

impl<'a> Options<'a> {
    /// Iterates `buf` (the option bytes of a header).
    pub fn new(buf: &'a [u8]) -> Options<'a> {
        Options { rest: buf }
    }
}

impl<'a> Iterator for Options<'a> {
    type Item = Result<TcpOption<'a>>;

    #[inline]
    fn next(&mut self) -> Option<Self::Item> {
        if self.rest.is_empty() {
            return None;
        }
        match TcpOption::parse(self.rest) {
            Ok((_, TcpOption::EndOfList)) => {
                self.rest = &[];
                Some(Ok(TcpOption::EndOfList))
            }
            Ok((rest, opt)) => {
                self.rest = rest;
                Some(Ok(opt))
            }
            Err(e) => {
                self.rest = &[];
                Some(Err(e))
            }
        }
    }
}

/// A view of a TCP segment. The buffer is the whole segment (the IP payload).
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

    /// Checks 20 <= data offset * 4 <= buffer length.
    pub fn check_len(&self) -> Result<()> {
        let len = self.buffer.as_ref().len();
        if len < HEADER_LEN {
            return Err(Error::Truncated);
        }
        if self.header_len() < HEADER_LEN {
            return Err(Error::Malformed);
        }
        if self.header_len() > len {
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

    /// Sequence number.
    pub fn seq_number(&self) -> u32 {
        get_u32(self.buffer.as_ref(), field::SEQ)
    }

    /// Acknowledgment number (meaningful with ACK).
    pub fn ack_number(&self) -> u32 {
        get_u32(self.buffer.as_ref(), field::ACK)
    }

    /// Header length in bytes (data offset * 4).
    pub fn header_len(&self) -> usize {
        (self.buffer.as_ref()[field::OFF_FLAGS] >> 4) as usize * 4
    }

    /// The control bits.
    pub fn flags(&self) -> Flags {
        Flags::from_bits_truncate(get_u16(self.buffer.as_ref(), field::OFF_FLAGS))
    }

    /// FIN set.
    pub fn fin(&self) -> bool {
        self.flags().contains(Flags::FIN)
    }

    /// SYN set.
    pub fn syn(&self) -> bool {
        self.flags().contains(Flags::SYN)
    }

    /// RST set.
    pub fn rst(&self) -> bool {
        self.flags().contains(Flags::RST)
    }

    /// PSH set.
    pub fn psh(&self) -> bool {
        self.flags().contains(Flags::PSH)
    }

    /// ACK set.
    pub fn ack(&self) -> bool {
        self.flags().contains(Flags::ACK)
    }

    /// URG set.
    pub fn urg(&self) -> bool {
        self.flags().contains(Flags::URG)
    }

    /// ECE set.
    pub fn ece(&self) -> bool {
        self.flags().contains(Flags::ECE)
    }

    /// CWR set.
    pub fn cwr(&self) -> bool {
        self.flags().contains(Flags::CWR)
    }

    /// Window field (unscaled).
    pub fn window_len(&self) -> u16 {
        get_u16(self.buffer.as_ref(), field::WINDOW)
    }

    /// Checksum field.
    pub fn checksum(&self) -> u16 {
        get_u16(self.buffer.as_ref(), field::CHECKSUM)
    }

    /// Urgent pointer.
    pub fn urgent_at(&self) -> u16 {
        get_u16(self.buffer.as_ref(), field::URGENT)
    }

    /// Option bytes.
    pub fn options(&self) -> &[u8] {
        &self.buffer.as_ref()[HEADER_LEN..self.header_len()]
    }

    /// Payload (after the options).
    pub fn payload(&self) -> &[u8] {
        &self.buffer.as_ref()[self.header_len()..]
    }

    /// Segment length as counted in sequence space: payload plus one each for SYN and FIN.
    pub fn segment_len(&self) -> usize {
        self.payload().len() + self.syn() as usize + self.fin() as usize
    }

    /// Whether the checksum over pseudo-header and segment verifies.
    pub fn verify_checksum(&self, src: Ipv4Addr, dst: Ipv4Addr) -> bool {
        let data = self.buffer.as_ref();
        let Ok(len) = u16::try_from(data.len()) else {
            return false;
        };
        let ph = checksum::pseudo_header_v4(src, dst, PROTOCOL, len);
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

    /// Sets the sequence number.
    pub fn set_seq_number(&mut self, v: u32) {
        set_u32(self.buffer.as_mut(), field::SEQ, v);
    }

    /// Sets the acknowledgment number.
    pub fn set_ack_number(&mut self, v: u32) {
        set_u32(self.buffer.as_mut(), field::ACK, v);
    }

    /// Sets the header length in bytes (a multiple of 4, 20..=60); keeps the flags.
    pub fn set_header_len(&mut self, len: usize) {
        let b = self.buffer.as_mut();
        let v = (get_u16(b, field::OFF_FLAGS) & 0x0fff) | (((len / 4) as u16) << 12);
        set_u16(b, field::OFF_FLAGS, v);
    }

    /// Sets the control bits; keeps the header length and reserved bits.
    pub fn set_flags(&mut self, f: Flags) {
        let b = self.buffer.as_mut();
        let v = (get_u16(b, field::OFF_FLAGS) & 0xfe00) | f.bits();
        set_u16(b, field::OFF_FLAGS, v);
    }

    /// Sets the window field.
    pub fn set_window_len(&mut self, v: u16) {
        set_u16(self.buffer.as_mut(), field::WINDOW, v);
    }

    /// Sets the checksum field.
    pub fn set_checksum(&mut self, v: u16) {
        set_u16(self.buffer.as_mut(), field::CHECKSUM, v);
    }

    /// Sets the urgent pointer.
    pub fn set_urgent_at(&mut self, v: u16) {
        set_u16(self.buffer.as_mut(), field::URGENT, v);
    }

    /// Mutable option bytes.
    pub fn options_mut(&mut self) -> &mut [u8] {
        let end = self.header_len();
        &mut self.buffer.as_mut()[HEADER_LEN..end]
    }

    /// Mutable payload.
    pub fn payload_mut(&mut self) -> &mut [u8] {
        let start = self.header_len();
        &mut self.buffer.as_mut()[start..]
    }

    /// Computes and writes the checksum over pseudo-header and the whole buffer.
    pub fn fill_checksum(&mut self, src: Ipv4Addr, dst: Ipv4Addr) {
        self.set_checksum(0);
        let data = self.buffer.as_ref();
        let ph = checksum::pseudo_header_v4(src, dst, PROTOCOL, data.len() as u16);
        let c = !checksum::combine(ph, checksum::sum(data));
        self.set_checksum(c);
    }
}

/// A TCP segment in high-level form. `payload` borrows from the parsed buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Repr<'a> {
    /// Source port.
    pub src_port: u16,
    /// Destination port.
    pub dst_port: u16,
    /// Control bits.
    pub flags: Flags,
    /// Sequence number.
    pub seq_number: u32,
    /// Acknowledgment number (meaningful with `Flags::ACK`).
    pub ack_number: u32,
    /// Window field, unscaled.
    pub window_len: u16,
    /// Urgent pointer (meaningful with `Flags::URG`).
    pub urgent_at: u16,
    /// MSS option.
    pub max_seg_size: Option<u16>,
    /// Window scale option, clamped to 14 on parse.
    pub window_scale: Option<u8>,
    /// SACK-permitted option.
    pub sack_permitted: bool,
    /// SACK blocks; `emit` writes as many as fit in the option space, in order.
    pub sack_ranges: [Option<(u32, u32)>; MAX_SACK_BLOCKS],
    /// Timestamps option.
    pub timestamp: Option<Timestamp>,
    /// Payload.
    pub payload: &'a [u8],
}

impl<'a> Repr<'a> {
    /// A segment with no options and no payload.
    pub fn new(
        src_port: u16,
        dst_port: u16,
        flags: Flags,
        seq_number: u32,
        ack_number: u32,
    ) -> Repr<'a> {
        Repr {
            src_port,
            dst_port,
            flags,
            seq_number,
            ack_number,
            window_len: 0,
            urgent_at: 0,
            max_seg_size: None,
            window_scale: None,
            sack_permitted: false,
            sack_ranges: [None; MAX_SACK_BLOCKS],
            timestamp: None,
            payload: &[],
        }
    }

    /// Parses a checked segment: ports must be non-zero, the checksum must verify (if
    /// `caps.verify`) and every option must be well formed; unknown options are skipped.
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
        if p.src_port() == 0 || p.dst_port() == 0 {
            return Err(Error::Malformed);
        }
        if caps.verify && !p.verify_checksum(src, dst) {
            return Err(Error::Checksum);
        }
        let buf: &'a T = p.buffer;
        let buf: &'a [u8] = buf.as_ref();
        let mut repr = Repr {
            window_len: p.window_len(),
            urgent_at: p.urgent_at(),
            payload: &buf[p.header_len()..],
            ..Repr::new(
                p.src_port(),
                p.dst_port(),
                p.flags(),
                p.seq_number(),
                p.ack_number(),
            )
        };
        for opt in Options::new(&buf[HEADER_LEN..p.header_len()]) {
            match opt? {
                TcpOption::MaxSegmentSize(m) => repr.max_seg_size = Some(m),
                TcpOption::WindowScale(s) => repr.window_scale = Some(s.min(MAX_WINDOW_SHIFT)),
                TcpOption::SackPermitted => repr.sack_permitted = true,
                TcpOption::SackRange(r) => repr.sack_ranges = r,
                TcpOption::Timestamp(t) => repr.timestamp = Some(t),
                TcpOption::EndOfList | TcpOption::NoOperation | TcpOption::Unknown { .. } => {}
            }
        }
        Ok(repr)
    }

    /// SACK blocks `emit` writes: as many as fit after the other options.
    fn sack_count(&self) -> usize {
        let given = self.sack_ranges.iter().flatten().count();
        let room = MAX_OPTIONS_LEN - self.fixed_options_len();
        given.min(room.saturating_sub(4) / 8)
    }

    /// Option bytes other than SACK blocks, in Linux's layout (each padded to 4 bytes).
    fn fixed_options_len(&self) -> usize {
        let mut n = 0;
        if self.max_seg_size.is_some() {
            n += 4;
        }
        n += match (self.sack_permitted, self.timestamp.is_some()) {
            (_, true) => 12,
            (true, false) => 4,
            (false, false) => 0,
        };
        if self.window_scale.is_some() {
            n += 4;
        }
        n
    }

    /// Header length `emit` writes (options padded to 4 bytes).
    pub fn header_len(&self) -> usize {
        let sack = self.sack_count();
        let sack_len = if sack > 0 { 4 + 8 * sack } else { 0 };
        HEADER_LEN + self.fixed_options_len() + sack_len
    }

    /// Header plus payload.
    pub fn buffer_len(&self) -> usize {
        self.header_len() + self.payload.len()
    }

    /// Payload plus one each for SYN and FIN.
    pub fn segment_len(&self) -> usize {
        self.payload.len()
            + self.flags.contains(Flags::SYN) as usize
            + self.flags.contains(Flags::FIN) as usize
    }

    /// Writes header, options and payload into `p` (exactly `buffer_len()` bytes long: the
    /// checksum covers the whole buffer).
    pub fn emit<T>(&self, p: &mut Packet<T>, src: Ipv4Addr, dst: Ipv4Addr, caps: ChecksumCaps)
    where
        T: AsRef<[u8]> + AsMut<[u8]>,
    {
        let hl = self.header_len();
        let buf = p.buffer.as_mut();
        buf[hl..hl + self.payload.len()].copy_from_slice(self.payload);
        self.emit_header(&mut buf[..hl], src, dst, &[self.payload], caps);
    }

    /// Writes only the header (`header_len()` bytes at the start of `header`), with the
    /// checksum over `payload` parts that live elsewhere (zero-copy transmit). `self.payload`
    /// is not used. Returns the header length.
    pub fn emit_header(
        &self,
        header: &mut [u8],
        src: Ipv4Addr,
        dst: Ipv4Addr,
        payload: &[&[u8]],
        caps: ChecksumCaps,
    ) -> usize {
        let hl = self.header_len();
        let h = &mut header[..hl];
        set_u16(h, field::SRC_PORT, self.src_port);
        set_u16(h, field::DST_PORT, self.dst_port);
        set_u32(h, field::SEQ, self.seq_number);
        set_u32(h, field::ACK, self.ack_number);
        set_u16(
            h,
            field::OFF_FLAGS,
            (((hl / 4) as u16) << 12) | self.flags.bits(),
        );
        set_u16(h, field::WINDOW, self.window_len);
        set_u16(h, field::CHECKSUM, 0);
        set_u16(h, field::URGENT, self.urgent_at);
        self.emit_options(&mut h[HEADER_LEN..]);
        let payload_len: usize = payload.iter().map(|s| s.len()).sum();
        let ph = checksum::pseudo_header_v4(src, dst, PROTOCOL, (hl + payload_len) as u16);
        let c = if caps.compute {
            let sum = checksum::combine(checksum::sum(h), checksum::sum_slices(payload));
            !checksum::combine(ph, sum)
        } else {
            ph
        };
        set_u16(h, field::CHECKSUM, c);
        hl
    }

    /// Linux's option layout: MSS, SACK-permitted folded into the timestamp's padding,
    /// window scale, SACK blocks; NOPs keep every option 4-byte aligned.
    fn emit_options(&self, mut o: &mut [u8]) {
        if let Some(mss) = self.max_seg_size {
            o = TcpOption::MaxSegmentSize(mss).emit(o);
        }
        match (self.sack_permitted, self.timestamp) {
            (true, Some(ts)) => o = TcpOption::Timestamp(ts).emit(TcpOption::SackPermitted.emit(o)),
            (false, Some(ts)) => o = TcpOption::Timestamp(ts).emit(nops(o, 2)),
            (true, None) => o = TcpOption::SackPermitted.emit(nops(o, 2)),
            (false, None) => {}
        }
        if let Some(ws) = self.window_scale {
            o = TcpOption::WindowScale(ws).emit(nops(o, 1));
        }
        let n = self.sack_count();
        if n > 0 {
            let mut blocks = [None; MAX_SACK_BLOCKS];
            for (dst, src) in blocks
                .iter_mut()
                .zip(self.sack_ranges.iter().flatten())
                .take(n)
            {
                *dst = Some(*src);
            }
            TcpOption::SackRange(blocks).emit(nops(o, 2));
        }
    }
}

/// Writes `n` NOPs and returns the rest.
fn nops(o: &mut [u8], n: usize) -> &mut [u8] {
    o[..n].fill(1);
    &mut o[n..]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::testutil::{garbage, Rng};

    const SRC: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 1);
    const DST: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 2);

    /// A Linux 6.x SYN as tcpdump shows it: 198.18.0.1.40000 > 198.18.0.2.80: Flags [S],
    /// seq 305419896, win 64240, options [mss 1460,sackOK,TS val 2882400001 ecr 0,nop,wscale 7].
    /// The checksum (bytes 16..18) is filled in by the oracle.
    const LINUX_SYN: [u8; 40] = [
        0x9c, 0x40, 0x00, 0x50, // ports
        0x12, 0x34, 0x56, 0x78, // seq
        0x00, 0x00, 0x00, 0x00, // ack
        0xa0, 0x02, 0xfa, 0xf0, // offset 10, SYN, window 64240
        0x00, 0x00, 0x00, 0x00, // checksum, urgent
        0x02, 0x04, 0x05, 0xb4, // mss 1460
        0x04, 0x02, 0x08, 0x0a, // sackOK, TS
        0xab, 0xcd, 0xef, 0x01, 0x00, 0x00, 0x00, 0x00, // TS val, ecr
        0x01, 0x03, 0x03, 0x07, // nop, wscale 7
    ];

    fn oracle_checksum(seg: &[u8]) -> [u8; 2] {
        let mut c = internet_checksum::Checksum::new();
        c.add_bytes(&SRC.octets());
        c.add_bytes(&DST.octets());
        c.add_bytes(&[0, 6]);
        c.add_bytes(&(seg.len() as u16).to_be_bytes());
        c.add_bytes(seg);
        c.checksum()
    }

    fn linux_syn() -> [u8; 40] {
        let mut b = LINUX_SYN;
        let c = oracle_checksum(&b);
        b[16..18].copy_from_slice(&c);
        b
    }

    fn syn_repr() -> Repr<'static> {
        Repr {
            window_len: 64240,
            max_seg_size: Some(1460),
            window_scale: Some(7),
            sack_permitted: true,
            timestamp: Some(Timestamp {
                tsval: 0xabcd_ef01,
                tsecr: 0,
            }),
            ..Repr::new(40000, 80, Flags::SYN, 0x1234_5678, 0)
        }
    }

    #[test]
    fn parse_linux_syn() {
        let b = linux_syn();
        let p = Packet::new_checked(&b[..]).unwrap();
        assert!(p.syn() && !p.ack() && p.header_len() == 40 && p.segment_len() == 1);
        assert_eq!(
            Repr::parse(&p, SRC, DST, ChecksumCaps::SOFTWARE).unwrap(),
            syn_repr()
        );
    }

    #[test]
    fn emit_matches_linux_syn_bytes() {
        let r = syn_repr();
        assert_eq!(r.header_len(), 40);
        let mut out = [0u8; 40];
        r.emit(
            &mut Packet::new_unchecked(&mut out[..]),
            SRC,
            DST,
            ChecksumCaps::SOFTWARE,
        );
        assert_eq!(out, linux_syn());
    }

    fn round_trip(r: Repr<'_>) {
        let mut buf = vec![0u8; r.buffer_len()];
        r.emit(
            &mut Packet::new_unchecked(&mut buf[..]),
            SRC,
            DST,
            ChecksumCaps::SOFTWARE,
        );
        assert_eq!(oracle_checksum(&buf), [0, 0], "oracle rejects our checksum");
        let p = Packet::new_checked(&buf[..]).unwrap();
        assert_eq!(p.header_len() % 4, 0);
        assert_eq!(
            Repr::parse(&p, SRC, DST, ChecksumCaps::SOFTWARE).unwrap(),
            r
        );
    }

    #[test]
    fn round_trips() {
        let data = b"GET / HTTP/1.1\r\nHost: x\r\n\r\n";
        let all = Flags::FIN | Flags::SYN | Flags::RST | Flags::PSH | Flags::ACK | Flags::URG;
        round_trip(Repr::new(
            1,
            2,
            all | Flags::ECE | Flags::CWR | Flags::NS,
            u32::MAX,
            7,
        ));
        round_trip(Repr {
            payload: data,
            window_len: 502,
            ..Repr::new(5, 6, Flags::ACK | Flags::PSH, 1, 2)
        });
        round_trip(Repr {
            urgent_at: 3,
            payload: b"odd",
            ..Repr::new(5, 6, Flags::URG | Flags::ACK, 1, 2)
        });
        round_trip(Repr {
            sack_permitted: true,
            ..Repr::new(5, 6, Flags::SYN, 1, 0)
        });
        round_trip(Repr {
            max_seg_size: Some(536),
            window_scale: Some(14),
            ..Repr::new(5, 6, Flags::SYN, 1, 0)
        });
        let ts = Some(Timestamp { tsval: 1, tsecr: 2 });
        let blocks = [
            Some((10, 20)),
            Some((30, 40)),
            Some((50, 60)),
            Some((70, 80)),
        ];
        let three = [blocks[0], blocks[1], blocks[2], None];
        round_trip(Repr {
            timestamp: ts,
            sack_ranges: three,
            ..Repr::new(5, 6, Flags::ACK, 1, 2)
        });
        round_trip(Repr {
            sack_ranges: blocks,
            payload: data,
            ..Repr::new(5, 6, Flags::ACK, 1, 2)
        });
        round_trip(Repr {
            timestamp: ts,
            ..syn_repr()
        });
    }

    #[test]
    fn sack_blocks_truncated_to_option_space() {
        let blocks = [
            Some((10, 20)),
            Some((30, 40)),
            Some((50, 60)),
            Some((70, 80)),
        ];
        let ts = Some(Timestamp { tsval: 1, tsecr: 2 });
        let r = Repr {
            timestamp: ts,
            sack_ranges: blocks,
            ..Repr::new(5, 6, Flags::ACK, 1, 2)
        };
        assert_eq!(r.header_len(), 60);
        let mut buf = vec![0u8; r.buffer_len()];
        r.emit(
            &mut Packet::new_unchecked(&mut buf[..]),
            SRC,
            DST,
            ChecksumCaps::SOFTWARE,
        );
        let p = Packet::new_checked(&buf[..]).unwrap();
        let back = Repr::parse(&p, SRC, DST, ChecksumCaps::SOFTWARE).unwrap();
        assert_eq!(back.sack_ranges, [blocks[0], blocks[1], blocks[2], None]);
    }

    #[test]
    fn emit_header_with_split_payload() {
        let payload: Vec<u8> = (0..1461u32).map(|i| (i * 7) as u8).collect();
        let r = Repr {
            payload: &payload,
            timestamp: Some(Timestamp { tsval: 9, tsecr: 8 }),
            ..Repr::new(80, 40000, Flags::ACK, 5, 6)
        };
        let mut full = vec![0u8; r.buffer_len()];
        r.emit(
            &mut Packet::new_unchecked(&mut full[..]),
            SRC,
            DST,
            ChecksumCaps::SOFTWARE,
        );
        let mut hdr = [0u8; MAX_HEADER_LEN];
        let parts = [&payload[..1], &payload[1..1000], &payload[1000..]];
        let hl = r.emit_header(&mut hdr, SRC, DST, &parts, ChecksumCaps::SOFTWARE);
        assert_eq!(&hdr[..hl], &full[..hl]);
    }

    #[test]
    fn offload_leaves_pseudo_header_sum() {
        let r = Repr {
            payload: b"abc",
            ..Repr::new(5, 6, Flags::ACK, 1, 2)
        };
        let mut buf = vec![0u8; r.buffer_len()];
        r.emit(
            &mut Packet::new_unchecked(&mut buf[..]),
            SRC,
            DST,
            ChecksumCaps::OFFLOAD,
        );
        let mut p = Packet::new_unchecked(&mut buf[..]);
        assert_eq!(p.checksum(), checksum::pseudo_header_v4(SRC, DST, 6, 23));
        p.fill_checksum(SRC, DST);
        assert!(p.verify_checksum(SRC, DST));
    }

    #[test]
    fn options_skip_unknown_and_stop_at_eol() {
        // unknown kind 30 len 4, NOP, MSS, EOL, then junk that must be ignored.
        let opts = [30, 4, 0xaa, 0xbb, 1, 2, 4, 0x05, 0xb4, 0, 0xff, 0xff];
        let got: Vec<_> = Options::new(&opts).collect::<Result<_>>().unwrap();
        assert_eq!(
            got,
            [
                TcpOption::Unknown {
                    kind: 30,
                    data: &[0xaa, 0xbb]
                },
                TcpOption::NoOperation,
                TcpOption::MaxSegmentSize(1460),
                TcpOption::EndOfList
            ]
        );
    }

    #[test]
    fn malformed_options_rejected() {
        let bad: [&[u8]; 9] = [
            &[2, 0, 0, 0],             // length 0
            &[2, 1, 0, 0],             // length 1
            &[30, 9, 0, 0],            // past the end
            &[2, 3, 5, 0],             // MSS of length 3
            &[3, 4, 7, 0],             // window scale of length 4
            &[4, 3, 0, 1],             // SACK-permitted of length 3
            &[8, 8, 0, 0, 0, 0, 0, 0], // timestamp of length 8
            &[5, 6, 0, 0, 0, 0],       // SACK of 4 bytes
            &[2],                      // kind without length
        ];
        for opts in bad {
            assert!(Options::new(opts).any(|o| o.is_err()), "{opts:?}");
            let mut seg = vec![0u8; HEADER_LEN + opts.len().next_multiple_of(4)];
            seg[..4].copy_from_slice(&[0, 1, 0, 2]);
            seg[12] = ((seg.len() / 4) as u8) << 4;
            seg[HEADER_LEN..HEADER_LEN + opts.len()].copy_from_slice(opts);
            let p = Packet::new_checked(&seg[..]).unwrap();
            assert_eq!(
                Repr::parse(&p, SRC, DST, ChecksumCaps::OFFLOAD),
                Err(Error::Malformed),
                "{opts:?}"
            );
        }
        // Window scale above 14 is clamped, not rejected.
        let (_, o) = TcpOption::parse(&[3, 3, 20]).unwrap();
        assert_eq!(o, TcpOption::WindowScale(20));
    }

    #[test]
    fn rejects_bad_headers() {
        let b = linux_syn();
        assert_eq!(Packet::new_checked(&b[..19]).unwrap_err(), Error::Truncated);
        assert_eq!(Packet::new_checked(&b[..39]).unwrap_err(), Error::Truncated);
        let mut c = b;
        c[12] = 0x40; // data offset 4
        assert_eq!(Packet::new_checked(&c[..]).unwrap_err(), Error::Malformed);
        let mut c = b;
        c[30] ^= 1;
        let p = Packet::new_checked(&c[..]).unwrap();
        assert_eq!(
            Repr::parse(&p, SRC, DST, ChecksumCaps::SOFTWARE),
            Err(Error::Checksum)
        );
        let mut c = b;
        c[2..4].copy_from_slice(&[0, 0]);
        let p = Packet::new_checked(&c[..]).unwrap();
        assert_eq!(
            Repr::parse(&p, SRC, DST, ChecksumCaps::OFFLOAD),
            Err(Error::Malformed)
        );
    }

    #[test]
    fn setters() {
        let mut b = linux_syn();
        let mut p = Packet::new_unchecked(&mut b[..]);
        p.set_flags(Flags::SYN | Flags::ACK);
        assert_eq!(p.header_len(), 40);
        p.set_header_len(20);
        assert!(p.syn() && p.ack());
        p.set_seq_number(1);
        p.set_ack_number(2);
        p.set_window_len(3);
        p.set_urgent_at(4);
        p.set_src_port(5);
        p.set_dst_port(6);
        p.fill_checksum(SRC, DST);
        assert!(p.verify_checksum(SRC, DST));
        assert_eq!(
            (
                p.seq_number(),
                p.ack_number(),
                p.window_len(),
                p.urgent_at()
            ),
            (1, 2, 3, 4)
        );
        assert_eq!(p.payload().len(), 20);
    }

    #[test]
    fn garbage_never_panics() {
        garbage(&linux_syn(), 80, 6000, |b| {
            if let Ok(p) = Packet::new_checked(b) {
                let _ = Repr::parse(&p, SRC, DST, ChecksumCaps::SOFTWARE);
                if let Ok(r) = Repr::parse(&p, SRC, DST, ChecksumCaps::OFFLOAD) {
                    // Whatever parsed must emit and parse back (window scale may clamp).
                    let mut out = vec![0u8; r.buffer_len()];
                    r.emit(
                        &mut Packet::new_unchecked(&mut out[..]),
                        SRC,
                        DST,
                        ChecksumCaps::SOFTWARE,
                    );
                    let q = Packet::new_checked(&out[..]).unwrap();
                    let back = Repr::parse(&q, SRC, DST, ChecksumCaps::SOFTWARE).unwrap();
                    assert_eq!(back.payload, r.payload);
                }
            }
        });
        // Random option bytes alone.
        let mut rng = Rng(3);
        let mut opts = [0u8; 40];
        for _ in 0..20000 {
            let n = rng.below(41);
            rng.fill(&mut opts[..n]);
            for o in Options::new(&opts[..n]) {
                let _ = o;
            }
        }
    }
}
