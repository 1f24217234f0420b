//! UDP sockets (RFC 768) for the user-space stack: bind a port, receive datagrams as `Bytes`
//! slices of the receive buffers (queued per socket, bounded), send with the payload
//! referenced. Datagrams to a closed port get an ICMP port unreachable (rate limited by the
//! interface).

use std::collections::VecDeque;
use std::net::SocketAddrV4;

use bytes::Bytes;
use hashbrown::HashMap;

use crate::ip::Interface;
use crate::time::Instant;
use crate::wire::icmpv4::DstUnreachable;
use crate::wire::{udp, IpProtocol, Ipv4Addr, UdpPacket, UdpRepr};

/// A bound socket.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
pub struct UdpSocket(pub u16);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UdpError {
    AddrInUse,
    NotBound,
    /// Larger than the MTU (no fragmentation on output), or no buffer/route now.
    NotSent,
}

/// Counters.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct UdpStats {
    pub rx_datagrams: u64,
    pub rx_bad: u64,
    pub rx_no_port: u64,
    pub rx_queue_full: u64,
    pub tx_datagrams: u64,
}

struct Socket {
    rx: VecDeque<(SocketAddrV4, Bytes)>,
}

/// Most datagrams queued per socket before new ones are dropped.
pub const RX_QUEUE: usize = 256;

#[derive(Default)]
pub struct Udp {
    sockets: HashMap<u16, Socket>,
    pub stats: UdpStats,
}

impl Udp {
    pub fn new() -> Udp {
        Udp::default()
    }

    pub fn bind(&mut self, port: u16) -> Result<UdpSocket, UdpError> {
        if port == 0 || self.sockets.contains_key(&port) {
            return Err(UdpError::AddrInUse);
        }
        self.sockets.insert(
            port,
            Socket {
                rx: VecDeque::new(),
            },
        );
        Ok(UdpSocket(port))
    }

    pub fn close(&mut self, s: UdpSocket) {
        self.sockets.remove(&s.0);
    }

    /// One received datagram (from [`crate::ip::Input::Udp`]).
    pub fn input(
        &mut self,
        now: Instant,
        iface: &mut Interface,
        src: Ipv4Addr,
        dst: Ipv4Addr,
        datagram: Bytes,
        packet: &[u8],
    ) {
        let caps = iface.checksum_caps();
        let parsed = UdpPacket::new_checked(&datagram[..]).and_then(|p| {
            UdpRepr::parse(&p, src, dst, caps).map(|r| (r.src_port, r.dst_port, r.payload.len()))
        });
        let Ok((sport, dport, len)) = parsed else {
            self.stats.rx_bad += 1;
            return;
        };
        let Some(sock) = self.sockets.get_mut(&dport) else {
            self.stats.rx_no_port += 1;
            if dst == iface.config().addr {
                iface.icmp_unreachable(now, packet, DstUnreachable::PortUnreachable);
            }
            return;
        };
        if sock.rx.len() >= RX_QUEUE {
            self.stats.rx_queue_full += 1;
            return;
        }
        self.stats.rx_datagrams += 1;
        let payload = datagram.slice(udp::HEADER_LEN..udp::HEADER_LEN + len);
        sock.rx.push_back((SocketAddrV4::new(src, sport), payload));
    }

    /// The next datagram received on `s`: sender and payload (a slice of the receive buffer).
    pub fn recv(&mut self, s: UdpSocket) -> Option<(SocketAddrV4, Bytes)> {
        self.sockets.get_mut(&s.0)?.rx.pop_front()
    }

    /// Sends `payload` (referenced, not copied) from `s` to `to`.
    pub fn send_to(
        &mut self,
        now: Instant,
        iface: &mut Interface,
        s: UdpSocket,
        to: SocketAddrV4,
        payload: Bytes,
    ) -> Result<(), UdpError> {
        if !self.sockets.contains_key(&s.0) {
            return Err(UdpError::NotBound);
        }
        let repr = UdpRepr {
            src_port: s.0,
            dst_port: to.port(),
            payload: &[],
        };
        let parts = [payload];
        iface
            .send(
                now,
                *to.ip(),
                IpProtocol::Udp,
                udp::HEADER_LEN,
                &parts,
                |buf, src, dst, caps| {
                    repr.emit_header(buf, src, dst, &[&parts[0][..]], caps);
                },
            )
            .map_err(|_| UdpError::NotSent)?;
        self.stats.tx_datagrams += 1;
        Ok(())
    }
}
