//! The IPv4 interface: addresses, ARP, IPv4 input/output, ICMP.
//!
//! Sans-IO like the TCP engine: [`Interface::input`] takes one received Ethernet frame and
//! returns what the transport layers must see ([`Input`]); everything the interface itself
//! sends (ARP replies and requests, ICMP replies and errors, frames released by ARP) and
//! every datagram built by [`Interface::send`] lands in [`Interface::tx`], which the stack
//! hands to the device at the end of the loop turn.
//!
//! Output builds the headers in one small pool buffer (transport header appended, IPv4 and
//! Ethernet headers prepended into its headroom) and references the payload parts, so TCP and
//! UDP payload is never copied here.

pub mod arp;
pub mod frag;

use std::collections::VecDeque;
use std::net::SocketAddrV4;

use bytes::{Buf, Bytes, BytesMut};

use crate::buf::{PacketBuf, Pool, TxFrame};
use crate::time::Instant;
use crate::wire::icmpv4::{self, DstUnreachable};
use crate::wire::{
    ethernet, ipv4, ArpOperation, ArpPacket, ArpRepr, ChecksumCaps, EtherType, EthernetAddress,
    EthernetFrame, Icmpv4Packet, Icmpv4Repr, IpProtocol, Ipv4Addr, Ipv4Packet, Ipv4Repr,
};
use arp::{ArpCache, Lookup, Waiting};
use frag::Reassembly;

/// Interface configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IfaceConfig {
    pub mac: EthernetAddress,
    pub addr: Ipv4Addr,
    pub prefix: u8,
    pub gateway: Option<Ipv4Addr>,
    /// IP MTU.
    pub mtu: usize,
}

impl IfaceConfig {
    /// True if `ip` is on our subnet (reached directly, not through the gateway).
    pub fn on_link(&self, ip: Ipv4Addr) -> bool {
        let mask = self.mask();
        u32::from(ip) & mask == u32::from(self.addr) & mask
    }

    fn mask(&self) -> u32 {
        match self.prefix {
            0 => 0,
            p => u32::MAX << (32 - p.min(32) as u32),
        }
    }

    /// The subnet's directed broadcast address.
    pub fn broadcast(&self) -> Ipv4Addr {
        Ipv4Addr::from(u32::from(self.addr) | !self.mask())
    }

    /// Largest TCP MSS for this MTU.
    pub fn mss(&self) -> u16 {
        (self.mtu.saturating_sub(40)).min(u16::MAX as usize) as u16
    }
}

/// What a received frame means for the layers above.
#[derive(Debug)]
pub enum Input {
    /// Nothing for them (ARP, ICMP echo, a drop, a fragment kept for reassembly).
    None,
    /// A TCP segment: header and payload, a slice of the frame.
    Tcp {
        src: Ipv4Addr,
        dst: Ipv4Addr,
        segment: Bytes,
    },
    /// A UDP datagram (header and payload); `packet` is the whole IPv4 datagram, quoted if a
    /// port-unreachable error has to be sent.
    Udp {
        src: Ipv4Addr,
        dst: Ipv4Addr,
        datagram: Bytes,
        packet: Bytes,
    },
    /// An ICMP error about a datagram we sent (PMTUD, soft errors).
    IcmpError {
        protocol: IpProtocol,
        local: SocketAddrV4,
        remote: SocketAddrV4,
        reason: DstUnreachable,
        next_hop_mtu: Option<u16>,
    },
}

/// Why [`Interface::send`] dropped a datagram.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SendError {
    /// Larger than the MTU (the stack does not fragment; DF is set).
    TooBig,
    /// No buffer for the headers now: try again later.
    NoBuffer,
    /// Off-link destination and no gateway.
    NoRoute,
}

/// Counters.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct IpStats {
    pub rx_frames: u64,
    pub rx_not_for_us: u64,
    pub rx_bad_ethernet: u64,
    pub rx_bad_arp: u64,
    pub rx_bad_ip: u64,
    pub rx_bad_checksum: u64,
    pub rx_bad_ttl: u64,
    pub rx_bad_icmp: u64,
    pub echo_replies: u64,
    pub icmp_errors_sent: u64,
    pub icmp_errors_limited: u64,
    pub icmp_errors_received: u64,
    pub tx_datagrams: u64,
    pub tx_too_big: u64,
    pub tx_no_buffer: u64,
    pub tx_no_route: u64,
}

/// Token bucket for ICMP errors (RFC 1812 §4.3.2.8; Linux: 1000/s, burst 50).
struct RateLimit {
    tokens: f64,
    last: Instant,
}

const ICMP_RATE: f64 = 1000.0;
const ICMP_BURST: f64 = 50.0;

impl RateLimit {
    fn allow(&mut self, now: Instant) -> bool {
        let dt = (now - self.last).as_secs_f64();
        self.last = now;
        self.tokens = (self.tokens + dt * ICMP_RATE).min(ICMP_BURST);
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

/// Header bytes in front of the transport header: Ethernet + IPv4 (no options).
pub const LINK_AND_IP: usize = ethernet::HEADER_LEN + ipv4::HEADER_LEN;

/// The IPv4 interface.
pub struct Interface {
    cfg: IfaceConfig,
    pool: Pool,
    caps: ChecksumCaps,
    rx_verified: bool,
    pub arp: ArpCache,
    pub frag: Reassembly,
    ident: u16,
    icmp_limit: RateLimit,
    pub stats: IpStats,
    /// Frames ready for the device.
    pub tx: VecDeque<TxFrame>,
    /// Where the headers of frames to resolved next hops are written: each frame's header
    /// segment is split off as `Bytes` (a reference count, not an allocation per frame).
    heads: BytesMut,
}

/// Bytes the header arena gets at a time.
const HEAD_ARENA: usize = 64 * 1024;

impl Interface {
    /// A new interface; queues a gratuitous ARP announcing our address. `tx_checksum`: the
    /// device fills checksums; `rx_checksum`: the device verified them.
    pub fn new(
        cfg: IfaceConfig,
        pool: Pool,
        tx_checksum: bool,
        rx_checksum: bool,
        now: Instant,
    ) -> Interface {
        let mut iface = Interface {
            cfg,
            pool,
            caps: ChecksumCaps {
                verify: !rx_checksum,
                compute: !tx_checksum,
            },
            rx_verified: rx_checksum,
            arp: ArpCache::new(),
            frag: Reassembly::new(),
            ident: (now.total_nanos() as u16) | 1,
            icmp_limit: RateLimit {
                tokens: ICMP_BURST,
                last: now,
            },
            stats: IpStats::default(),
            tx: VecDeque::new(),
            heads: BytesMut::new(),
        };
        iface.gratuitous_arp();
        iface
    }

    pub fn config(&self) -> &IfaceConfig {
        &self.cfg
    }

    /// Checksum work the stack does in software.
    pub fn checksum_caps(&self) -> ChecksumCaps {
        self.caps
    }

    /// True when received checksums were verified by the device.
    pub fn rx_checksum_verified(&self) -> bool {
        self.rx_verified
    }

    /// Announces our address (RFC 5227 style: sender and target both our address).
    pub fn gratuitous_arp(&mut self) {
        self.send_arp(
            ArpOperation::Request,
            EthernetAddress::BROADCAST,
            self.cfg.addr,
        );
    }

    fn send_arp(&mut self, op: ArpOperation, to: EthernetAddress, target: Ipv4Addr) {
        let repr = ArpRepr {
            operation: op,
            source_hardware_addr: self.cfg.mac,
            source_protocol_addr: self.cfg.addr,
            target_hardware_addr: if op == ArpOperation::Request {
                EthernetAddress([0; 6])
            } else {
                to
            },
            target_protocol_addr: target,
        };
        let Some(mut buf) = self.pool.alloc() else {
            self.stats.tx_no_buffer += 1;
            return;
        };
        repr.emit(&mut ArpPacket::new_unchecked(buf.append(repr.buffer_len())));
        // Pad to the 60-byte Ethernet minimum, as NICs do.
        buf.append(60 - ethernet::HEADER_LEN - repr.buffer_len())
            .fill(0);
        self.push_ethernet(buf, to, EtherType::Arp, Vec::new());
    }

    fn push_ethernet(
        &mut self,
        mut buf: PacketBuf,
        dst: EthernetAddress,
        ty: EtherType,
        parts: Vec<Bytes>,
    ) {
        let repr = ethernet::Repr {
            src_addr: self.cfg.mac,
            dst_addr: dst,
            ethertype: ty,
        };
        repr.emit(&mut EthernetFrame::new_unchecked(
            buf.prepend(ethernet::HEADER_LEN),
        ));
        self.tx.push_back(TxFrame {
            head: buf.freeze(),
            parts,
        });
    }

    /// Handles one received frame.
    pub fn input(&mut self, now: Instant, frame: Bytes) -> Input {
        self.stats.rx_frames += 1;
        let Ok(eth) = EthernetFrame::new_checked(&frame[..]) else {
            self.stats.rx_bad_ethernet += 1;
            return Input::None;
        };
        let dst = eth.dst_addr();
        if dst != self.cfg.mac && !dst.is_broadcast() {
            self.stats.rx_not_for_us += 1;
            return Input::None;
        }
        match eth.ethertype() {
            EtherType::Arp => {
                self.arp_input(now, eth.payload());
                Input::None
            }
            EtherType::Ipv4 => {
                let mut packet = frame; // owned: trimming it costs no reference count
                packet.advance(ethernet::HEADER_LEN);
                self.ip_input(now, packet)
            }
            _ => Input::None,
        }
    }

    fn arp_input(&mut self, now: Instant, data: &[u8]) {
        let repr = ArpPacket::new_checked(data).and_then(|p| ArpRepr::parse(&p));
        let Ok(repr) = repr else {
            self.stats.rx_bad_arp += 1;
            return;
        };
        let (sip, smac) = (repr.source_protocol_addr, repr.source_hardware_addr);
        let for_us = repr.target_protocol_addr == self.cfg.addr;
        if sip == self.cfg.addr || !smac.is_unicast() {
            return; // our own announcement echoed, or a conflict we do not arbitrate
        }
        if for_us || self.arp.knows(sip) {
            for w in self.arp.learn(now, sip, smac) {
                self.push_ethernet(w.head, smac, EtherType::Ipv4, w.parts);
            }
        }
        if for_us && repr.operation == ArpOperation::Request {
            self.arp.stats.replies_sent += 1;
            self.send_arp(ArpOperation::Reply, smac, sip);
        }
    }

    fn ip_input(&mut self, now: Instant, packet: Bytes) -> Input {
        let Ok(p) = Ipv4Packet::new_checked(&packet[..]) else {
            self.stats.rx_bad_ip += 1;
            return Input::None;
        };
        if self.caps.verify && !p.verify_checksum() {
            self.stats.rx_bad_checksum += 1;
            return Input::None;
        }
        let (src, dst) = (p.src_addr(), p.dst_addr());
        let broadcast = dst == Ipv4Addr::BROADCAST || dst == self.cfg.broadcast();
        if dst != self.cfg.addr && !broadcast {
            self.stats.rx_not_for_us += 1;
            return Input::None;
        }
        if p.ttl() == 0 || src.is_broadcast() || src.is_multicast() {
            self.stats.rx_bad_ttl += (p.ttl() == 0) as u64;
            self.stats.rx_bad_ip += (p.ttl() != 0) as u64;
            return Input::None;
        }
        let hl = p.header_len();
        let total = p.total_len() as usize;
        let protocol = p.next_header();
        let fragment = p.more_frags() || p.frag_offset() != 0;
        if protocol == IpProtocol::Tcp && !broadcast && !fragment {
            // The common case: the segment is the packet itself, trimmed.
            let mut segment = packet;
            segment.truncate(total);
            segment.advance(hl);
            return Input::Tcp { src, dst, segment };
        }
        // Options are skipped: the payload starts after the header length the view checked.
        let mut payload = packet.slice(hl..total);
        if fragment {
            let key = frag::key(src, dst, protocol, p.ident());
            let offset = p.frag_offset() as usize;
            match self.frag.add(now, key, offset, p.more_frags(), &payload) {
                Some(whole) => payload = whole,
                None => return Input::None,
            }
        }
        let packet = packet.slice(..total);
        match protocol {
            IpProtocol::Tcp if !broadcast => Input::Tcp {
                src,
                dst,
                segment: payload,
            },
            IpProtocol::Udp => Input::Udp {
                src,
                dst,
                datagram: payload,
                packet,
            },
            IpProtocol::Icmp => self.icmp_input(now, src, broadcast, &payload),
            _ => {
                if !broadcast {
                    self.icmp_unreachable(now, &packet, DstUnreachable::ProtoUnreachable);
                }
                Input::None
            }
        }
    }

    fn icmp_input(&mut self, now: Instant, src: Ipv4Addr, broadcast: bool, data: &[u8]) -> Input {
        let repr = Icmpv4Packet::new_checked(data).and_then(|p| Icmpv4Repr::parse(&p, self.caps));
        let Ok(repr) = repr else {
            self.stats.rx_bad_icmp += 1;
            return Input::None;
        };
        match repr {
            Icmpv4Repr::EchoRequest {
                ident,
                seq_no,
                data,
            } if !broadcast => {
                let reply = Icmpv4Repr::EchoReply {
                    ident,
                    seq_no,
                    data,
                };
                if self.send_icmp(now, src, &reply) {
                    self.stats.echo_replies += 1;
                }
                Input::None
            }
            Icmpv4Repr::DstUnreachable {
                reason,
                next_hop_mtu,
                data,
            } => {
                self.stats.icmp_errors_received += 1;
                let Ok(quoted) = icmpv4::embedded(data) else {
                    return Input::None;
                };
                let (Some((sport, dport)), true) =
                    (quoted.ports(), quoted.src_addr == self.cfg.addr)
                else {
                    return Input::None;
                };
                Input::IcmpError {
                    protocol: quoted.protocol,
                    local: SocketAddrV4::new(quoted.src_addr, sport),
                    remote: SocketAddrV4::new(quoted.dst_addr, dport),
                    reason,
                    next_hop_mtu: (reason == DstUnreachable::FragRequired).then_some(next_hop_mtu),
                }
            }
            _ => Input::None,
        }
    }

    /// Sends an ICMP destination-unreachable about `packet` (a received IPv4 datagram),
    /// quoting its header and first 8 payload bytes; rate limited.
    pub fn icmp_unreachable(&mut self, now: Instant, packet: &[u8], reason: DstUnreachable) {
        let Ok(p) = Ipv4Packet::new_checked(packet) else {
            return;
        };
        // Never about fragments after the first or about ICMP errors (RFC 1122 3.2.2).
        if p.frag_offset() != 0 || p.src_addr().is_unspecified() {
            return;
        }
        if p.next_header() == IpProtocol::Icmp
            && p.payload().first().is_some_and(|&t| t != 8 && t != 0)
        {
            return;
        }
        if !self.icmp_limit.allow(now) {
            self.stats.icmp_errors_limited += 1;
            return;
        }
        let quote = &packet[..(p.header_len() + 8).min(p.total_len() as usize)];
        let repr = Icmpv4Repr::DstUnreachable {
            reason,
            next_hop_mtu: 0,
            data: quote,
        };
        if self.send_icmp(now, p.src_addr(), &repr) {
            self.stats.icmp_errors_sent += 1;
        }
    }

    fn send_icmp(&mut self, now: Instant, dst: Ipv4Addr, repr: &Icmpv4Repr<'_>) -> bool {
        let len = repr.buffer_len();
        // ICMP bodies are small copies (echo data, quotes): they are not application payload.
        self.send(now, dst, IpProtocol::Icmp, len, &[], |buf, _, _, caps| {
            repr.emit(&mut Icmpv4Packet::new_unchecked(buf), caps);
        })
        .is_ok()
    }

    /// Sends one datagram to `dst`: `l4_len` bytes written by `write` (transport header, or a
    /// whole small message) into the header buffer, followed by the referenced `parts`.
    /// `write` gets (buffer, src, dst, checksum caps). Frames waiting for ARP count as sent.
    pub fn send(
        &mut self,
        now: Instant,
        dst: Ipv4Addr,
        protocol: IpProtocol,
        l4_len: usize,
        parts: &[Bytes],
        write: impl FnOnce(&mut [u8], Ipv4Addr, Ipv4Addr, ChecksumCaps),
    ) -> Result<(), SendError> {
        let payload_len = l4_len + parts.iter().map(Bytes::len).sum::<usize>();
        if ipv4::HEADER_LEN + payload_len > self.cfg.mtu {
            self.stats.tx_too_big += 1;
            return Err(SendError::TooBig);
        }
        let Some(next_hop) = self.next_hop(dst) else {
            self.stats.tx_no_route += 1;
            return Err(SendError::NoRoute);
        };
        let unicast = !next_hop.is_broadcast() && next_hop != self.cfg.broadcast();
        if let Some(hit) = unicast.then(|| self.arp.hit(now, next_hop)).flatten() {
            let (Lookup::Hit(mac) | Lookup::HitRefresh(mac)) = hit else {
                unreachable!("hit() returns hits only")
            };
            let ip = self.ipv4_repr(dst, protocol, payload_len);
            let head = self.write_head(mac, &ip, l4_len, write);
            self.stats.tx_datagrams += 1;
            self.tx.push_back(TxFrame {
                head,
                parts: parts.to_vec(),
            });
            if matches!(hit, Lookup::HitRefresh(_)) {
                self.send_arp(ArpOperation::Request, EthernetAddress::BROADCAST, next_hop);
            }
            return Ok(());
        }
        // Unresolved or broadcast: a pool buffer that can wait in the ARP queue.
        let Some(mut buf) = self.pool.alloc().filter(|b| b.tailroom() >= l4_len) else {
            self.stats.tx_no_buffer += 1;
            return Err(SendError::NoBuffer);
        };
        write(buf.append(l4_len), self.cfg.addr, dst, self.caps);
        let ip = self.ipv4_repr(dst, protocol, payload_len);
        ip.emit(
            &mut Ipv4Packet::new_unchecked(buf.prepend(ipv4::HEADER_LEN)),
            self.caps,
        );
        self.stats.tx_datagrams += 1;
        self.route(now, next_hop, buf, parts.to_vec());
        Ok(())
    }

    fn ipv4_repr(&mut self, dst: Ipv4Addr, protocol: IpProtocol, payload_len: usize) -> Ipv4Repr {
        let mut ip = Ipv4Repr::new(self.cfg.addr, dst, protocol, payload_len);
        self.ident = self.ident.wrapping_add(1);
        ip.ident = self.ident;
        ip
    }

    /// Ethernet, IPv4 and `l4_len` bytes of L4 header (written by `write`) in the header arena,
    /// in wire order, split off as one `Bytes`.
    fn write_head(
        &mut self,
        mac: EthernetAddress,
        ip: &Ipv4Repr,
        l4_len: usize,
        write: impl FnOnce(&mut [u8], Ipv4Addr, Ipv4Addr, ChecksumCaps),
    ) -> Bytes {
        let len = ethernet::HEADER_LEN + ipv4::HEADER_LEN + l4_len;
        if self.heads.capacity() < len {
            self.heads.reserve(HEAD_ARENA.max(len));
        }
        self.heads.resize(len, 0);
        let (eth, rest) = self.heads.split_at_mut(ethernet::HEADER_LEN);
        let (ip_header, l4) = rest.split_at_mut(ipv4::HEADER_LEN);
        write(l4, self.cfg.addr, ip.dst_addr, self.caps);
        ip.emit(&mut Ipv4Packet::new_unchecked(ip_header), self.caps);
        let repr = ethernet::Repr {
            src_addr: self.cfg.mac,
            dst_addr: mac,
            ethertype: EtherType::Ipv4,
        };
        repr.emit(&mut EthernetFrame::new_unchecked(eth));
        self.heads.split().freeze()
    }

    fn next_hop(&self, dst: Ipv4Addr) -> Option<Ipv4Addr> {
        if dst.is_broadcast() || self.cfg.on_link(dst) {
            Some(dst)
        } else {
            self.cfg.gateway
        }
    }

    /// Resolves the next hop's MAC and queues the frame (now, or when ARP answers).
    fn route(&mut self, now: Instant, next_hop: Ipv4Addr, head: PacketBuf, parts: Vec<Bytes>) {
        if next_hop.is_broadcast() || next_hop == self.cfg.broadcast() {
            return self.push_ethernet(head, EthernetAddress::BROADCAST, EtherType::Ipv4, parts);
        }
        let waiting = Waiting { head, parts };
        match self.arp.resolve(now, next_hop, waiting) {
            (Lookup::Hit(mac), Some(w)) => {
                self.push_ethernet(w.head, mac, EtherType::Ipv4, w.parts)
            }
            (Lookup::HitRefresh(mac), Some(w)) => {
                self.push_ethernet(w.head, mac, EtherType::Ipv4, w.parts);
                self.send_arp(ArpOperation::Request, EthernetAddress::BROADCAST, next_hop);
            }
            (Lookup::QueuedRequest, _) => {
                self.send_arp(ArpOperation::Request, EthernetAddress::BROADCAST, next_hop)
            }
            _ => {}
        }
    }

    /// Timers: ARP retries and give-ups, reassembly timeouts.
    pub fn poll(&mut self, now: Instant) {
        let mut ask = Vec::new();
        self.arp.poll(now, |ip| ask.push(ip));
        for ip in ask {
            self.send_arp(ArpOperation::Request, EthernetAddress::BROADCAST, ip);
        }
        self.frag.expire(now);
    }

    /// The next time [`Interface::poll`] has work.
    pub fn poll_at(&self) -> Option<Instant> {
        [self.arp.poll_at(), self.frag.poll_at()]
            .into_iter()
            .flatten()
            .min()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const US: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 2);
    const PEER: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 1);
    const MAC: EthernetAddress = EthernetAddress([2, 0, 0, 0, 0, 2]);
    const PEER_MAC: EthernetAddress = EthernetAddress([2, 0, 0, 0, 0, 1]);

    fn iface() -> Interface {
        let cfg = IfaceConfig {
            mac: MAC,
            addr: US,
            prefix: 24,
            gateway: None,
            mtu: 1500,
        };
        let mut i = Interface::new(cfg, Pool::with_capacity(64), false, false, Instant::ZERO);
        assert_eq!(i.tx.len(), 1, "gratuitous ARP at start");
        i.tx.clear();
        i.arp.learn(Instant::ZERO, PEER, PEER_MAC);
        i
    }

    fn frame(proto: IpProtocol, l4: &[u8], tweak: impl FnOnce(&mut [u8])) -> Bytes {
        let mut f = vec![0u8; 34 + l4.len()];
        let eth = ethernet::Repr {
            src_addr: PEER_MAC,
            dst_addr: MAC,
            ethertype: EtherType::Ipv4,
        };
        eth.emit(&mut EthernetFrame::new_unchecked(&mut f[..]));
        let ip = Ipv4Repr::new(PEER, US, proto, l4.len());
        ip.emit(
            &mut Ipv4Packet::new_unchecked(&mut f[14..]),
            ChecksumCaps::SOFTWARE,
        );
        f[34..].copy_from_slice(l4);
        tweak(&mut f);
        Bytes::from(f)
    }

    fn echo_request() -> Vec<u8> {
        let r = Icmpv4Repr::EchoRequest {
            ident: 7,
            seq_no: 1,
            data: b"ping",
        };
        let mut b = vec![0u8; r.buffer_len()];
        r.emit(
            &mut Icmpv4Packet::new_unchecked(&mut b[..]),
            ChecksumCaps::SOFTWARE,
        );
        b
    }

    #[test]
    fn echo_request_gets_a_reply() {
        let mut i = iface();
        i.input(
            Instant::ZERO,
            frame(IpProtocol::Icmp, &echo_request(), |_| {}),
        );
        assert_eq!(i.stats.echo_replies, 1);
        let out = i.tx.pop_front().unwrap().to_vec();
        let eth = EthernetFrame::new_checked(&out[..]).unwrap();
        assert_eq!(eth.dst_addr(), PEER_MAC);
        let ip = Ipv4Packet::new_checked(eth.payload()).unwrap();
        assert!(ip.verify_checksum() && ip.dont_frag());
        let icmp = Icmpv4Packet::new_checked(ip.payload()).unwrap();
        assert_eq!(
            Icmpv4Repr::parse(&icmp, ChecksumCaps::SOFTWARE).unwrap(),
            Icmpv4Repr::EchoReply {
                ident: 7,
                seq_no: 1,
                data: b"ping"
            }
        );
    }

    #[test]
    fn invalid_headers_are_dropped_and_counted() {
        let mut i = iface();
        let e = echo_request();
        i.input(Instant::ZERO, frame(IpProtocol::Icmp, &e, |f| f[24] ^= 1));
        i.input(Instant::ZERO, frame(IpProtocol::Icmp, &e, |f| f[14] = 0x35));
        i.input(Instant::ZERO, frame(IpProtocol::Icmp, &e, |f| f[16] = 0xff));
        i.input(Instant::ZERO, Bytes::from_static(&[0u8; 10]));
        assert_eq!(i.stats.rx_bad_checksum, 1);
        assert_eq!(i.stats.rx_bad_ip, 2);
        assert_eq!(i.stats.rx_bad_ethernet, 1);
        assert!(i.tx.is_empty());
    }

    #[test]
    fn options_are_skipped_and_unknown_protocols_answered() {
        let mut i = iface();
        // IHL 6: a 4-byte option (NOP x4) before a TCP-looking payload.
        let mut f = frame(IpProtocol::Tcp, &[0u8; 24], |_| {}).to_vec();
        f[14] = 0x46;
        f[34..38].copy_from_slice(&[1, 1, 1, 1]);
        let mut p = Ipv4Packet::new_unchecked(&mut f[14..]);
        p.fill_checksum();
        match i.input(Instant::ZERO, Bytes::from(f)) {
            Input::Tcp { segment, .. } => assert_eq!(segment.len(), 20),
            other => panic!("{other:?}"),
        }
        i.input(
            Instant::ZERO,
            frame(IpProtocol::Unknown(99), &[0u8; 8], |_| {}),
        );
        assert_eq!(i.stats.icmp_errors_sent, 1, "protocol unreachable");
    }

    #[test]
    fn arp_request_for_us_is_answered_and_learned() {
        let mut i = iface();
        let other = Ipv4Addr::new(198, 18, 0, 9);
        let req = ArpRepr {
            operation: ArpOperation::Request,
            source_hardware_addr: EthernetAddress([2, 0, 0, 0, 0, 9]),
            source_protocol_addr: other,
            target_hardware_addr: EthernetAddress([0; 6]),
            target_protocol_addr: US,
        };
        let mut f = vec![0u8; 42];
        ethernet::Repr {
            src_addr: req.source_hardware_addr,
            dst_addr: EthernetAddress::BROADCAST,
            ethertype: EtherType::Arp,
        }
        .emit(&mut EthernetFrame::new_unchecked(&mut f[..]));
        req.emit(&mut ArpPacket::new_unchecked(&mut f[14..]));
        i.input(Instant::ZERO, Bytes::from(f));
        assert_eq!(
            i.arp.get(Instant::ZERO, other),
            Some(req.source_hardware_addr)
        );
        let out = i.tx.pop_front().unwrap().to_vec();
        let reply = ArpRepr::parse(&ArpPacket::new_checked(&out[14..]).unwrap()).unwrap();
        assert_eq!(reply.operation, ArpOperation::Reply);
        assert_eq!(reply.source_hardware_addr, MAC);
    }
}
