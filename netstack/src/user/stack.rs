//! The stack proper: a device, the IPv4 interface, TCP and UDP, driven by `poll(now)`.

use std::time::Duration;

use bytes::Bytes;

use crate::dev::Device;
use crate::ip::{IfaceConfig, Input, Interface, SendError};
use crate::tcp::{Segment, Tcp, TcpConfig};
use crate::time::Instant;
use crate::udp::Udp;
use crate::wire::{IpProtocol, TcpRepr};

/// Frames queued for the device before the TCP engine is told to hold the rest.
const TX_LIMIT: usize = 1024;
/// Receive bursts per poll before the loop turns over (timers, TX) again.
const RX_BURSTS: usize = 8;

/// Counters of the glue itself.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StackStats {
    pub polls: u64,
    pub rx_frames: u64,
    pub tx_frames: u64,
    /// Segments the engine emitted that were dropped here (too big for the MTU).
    pub tcp_dropped: u64,
}

/// A device plus the protocol layers above it. Fields are public so tests and the loop can
/// reach each layer (bind UDP, inspect counters).
pub struct Stack<D: Device> {
    pub device: D,
    pub iface: Interface,
    pub tcp: Tcp,
    pub udp: Udp,
    rx: Vec<Bytes>,
    /// True when the last receive stopped at the burst limit (more may be waiting).
    rx_more: bool,
    pub stats: StackStats,
}

impl<D: Device> Stack<D> {
    /// A stack over `device`; header buffers come from `pool`. The TCP MSS is capped by the
    /// interface MTU.
    pub fn new(
        device: D,
        iface: IfaceConfig,
        tcp: TcpConfig,
        pool: crate::buf::Pool,
        now: Instant,
        secret: [u8; 16],
    ) -> Self {
        let caps = device.caps();
        let mtu = iface.mtu.min(caps.mtu);
        let iface = IfaceConfig { mtu, ..iface };
        Stack {
            iface: Interface::new(iface, pool, caps.tx_checksum, caps.rx_checksum, now),
            device,
            tcp: Tcp::new(tcp, now, secret),
            udp: Udp::new(),
            rx: Vec::with_capacity(64),
            rx_more: false,
            stats: StackStats::default(),
        }
    }

    /// One turn without an application: receive, timers, transmit.
    pub fn poll(&mut self, now: Instant) {
        self.receive(now);
        self.timers(now);
        self.transmit(now);
    }

    /// Receives up to a few bursts and runs them through IP, TCP and UDP.
    pub fn receive(&mut self, now: Instant) -> usize {
        self.stats.polls += 1;
        let burst = self.device.caps().max_burst.max(1);
        let mut total = 0;
        self.rx_more = false;
        for _ in 0..RX_BURSTS {
            let mut rx = std::mem::take(&mut self.rx);
            let n = self.device.rx_burst(now, &mut rx, burst);
            for frame in rx.drain(..) {
                self.input(now, frame);
            }
            self.rx = rx;
            total += n;
            if n < burst {
                self.stats.rx_frames += total as u64;
                return total;
            }
        }
        self.rx_more = true;
        self.stats.rx_frames += total as u64;
        total
    }

    fn input(&mut self, now: Instant, frame: Bytes) {
        match self.iface.input(now, frame) {
            Input::None => {}
            Input::Tcp { src, dst, segment } => {
                let ok = self.iface.rx_checksum_verified();
                self.tcp.input(now, src, dst, segment, ok);
            }
            Input::Udp {
                src,
                dst,
                datagram,
                packet,
            } => self
                .udp
                .input(now, &mut self.iface, src, dst, datagram, &packet),
            Input::IcmpError {
                protocol: IpProtocol::Tcp,
                local,
                remote,
                next_hop_mtu,
                ..
            } => self.tcp.icmp_error(now, local, remote, next_hop_mtu),
            Input::IcmpError { .. } => {}
        }
    }

    /// Fires TCP, ARP and reassembly timers.
    pub fn timers(&mut self, now: Instant) {
        self.tcp.advance(now);
        self.iface.poll(now);
    }

    /// Everything TCP has to send becomes frames (headers in a buffer, payload referenced),
    /// and the frames go to the device.
    pub fn transmit(&mut self, now: Instant) {
        let (iface, dev, stats) = (&mut self.iface, &mut self.device, &mut self.stats);
        let burst = dev.caps().max_burst.max(1);
        self.tcp.dispatch(now, |seg| {
            if iface.tx.len() >= burst {
                stats.tx_frames += dev.tx_burst(now, &mut iface.tx) as u64;
                if iface.tx.len() >= TX_LIMIT {
                    return false;
                }
            }
            match emit_tcp(iface, now, seg) {
                Err(SendError::NoBuffer) => false,
                Err(_) => {
                    stats.tcp_dropped += 1;
                    true
                }
                Ok(()) => true,
            }
        });
        self.flush(now);
    }

    /// Hands queued frames to the device.
    pub fn flush(&mut self, now: Instant) {
        if !self.iface.tx.is_empty() {
            self.stats.tx_frames += self.device.tx_burst(now, &mut self.iface.tx) as u64;
        }
    }

    /// Whether a poll now would find work without waiting (frames left in the device or
    /// queued for it, or TCP output pending).
    pub fn busy(&self) -> bool {
        self.rx_more || !self.iface.tx.is_empty() || self.tcp.has_output()
    }

    /// The next time the stack needs a poll if nothing arrives.
    pub fn poll_at(&self) -> Option<Instant> {
        [
            self.tcp.poll_at(),
            self.iface.poll_at(),
            self.device.poll_at(),
        ]
        .into_iter()
        .flatten()
        .min()
    }

    /// How long the loop may sleep from `now`.
    pub fn timeout(&self, now: Instant) -> Option<Duration> {
        if self.busy() {
            return Some(Duration::ZERO);
        }
        self.poll_at().map(|at| at - now)
    }
}

/// Builds one TCP segment's frame: header written into the header buffer, payload parts
/// referenced.
pub fn emit_tcp(iface: &mut Interface, now: Instant, seg: &Segment<'_>) -> Result<(), SendError> {
    let repr: &TcpRepr<'_> = &seg.repr;
    let hl = repr.header_len();
    iface.send(
        now,
        *seg.dst.ip(),
        IpProtocol::Tcp,
        hl,
        seg.payload,
        |buf, src, dst, caps| {
            with_slices(seg.payload, |slices| {
                repr.emit_header(buf, src, dst, slices, caps)
            });
        },
    )
}

/// Calls `f` with the parts as byte slices, without allocating for the common few parts.
pub fn with_slices<R>(parts: &[Bytes], f: impl FnOnce(&[&[u8]]) -> R) -> R {
    const N: usize = 8;
    if parts.len() <= N {
        let mut arr: [&[u8]; N] = [&[]; N];
        for (a, p) in arr.iter_mut().zip(parts) {
            *a = p;
        }
        f(&arr[..parts.len()])
    } else {
        let v: Vec<&[u8]> = parts.iter().map(|p| &p[..]).collect();
        f(&v)
    }
}
