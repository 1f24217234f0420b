//! The exception path (F-Stack's KNI): traffic the stack does not serve, such as SSH to the
//! host over the NIC the stack owns, goes to the kernel through a TAP interface, and what the
//! kernel sends there goes out the device.
//!
//! [`Exception`] wraps the stack's device (`D`) and the kernel's side (`K`, a [`super::Tap`]
//! queue in production). Received frames are sorted by [`ExceptionRules::verdict`]:
//! - TCP or UDP to a listed local port, and any frame that is neither IPv4 nor ARP (IPv6, LLDP,
//!   ...): to the kernel only;
//! - ARP: to both (each side answers for itself and learns its neighbours; the kernel
//!   interface carries the port's MAC and the stack's address, so both answers are the same);
//! - everything else: to the stack.
//!
//! Frames to the kernel are written to the TAP (one copy into the kernel, as KNI made); frames
//! from the kernel are sent as they are. The kernel side is read at most every
//! [`KERNEL_POLL`], so a polling loop does not make a system call per turn.

use std::collections::VecDeque;
use std::time::Duration;

use bytes::Bytes;

use super::{Caps, DevStats, Device, TxFrame};
use crate::time::Instant;

/// How often the kernel side is read for frames to send.
pub const KERNEL_POLL: Duration = Duration::from_micros(50);

/// Which local ports belong to the kernel.
#[derive(Debug, Clone)]
pub struct ExceptionRules {
    tcp: PortSet,
    udp: PortSet,
}

/// Where a received frame goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Stack,
    Kernel,
    Both,
}

/// A set of ports as a bitmap: one lookup per frame.
#[derive(Debug, Clone)]
struct PortSet(Box<[u64; 1024]>);

impl PortSet {
    fn new(ports: &[u16]) -> PortSet {
        let mut bits = Box::new([0u64; 1024]);
        for &p in ports {
            bits[usize::from(p) / 64] |= 1 << (p % 64);
        }
        PortSet(bits)
    }

    fn contains(&self, port: u16) -> bool {
        self.0[usize::from(port) / 64] & (1 << (port % 64)) != 0
    }
}

const ETHERTYPE_IPV4: [u8; 2] = [0x08, 0x00];
const ETHERTYPE_ARP: [u8; 2] = [0x08, 0x06];

impl ExceptionRules {
    pub fn new(tcp_ports: &[u16], udp_ports: &[u16]) -> ExceptionRules {
        ExceptionRules {
            tcp: PortSet::new(tcp_ports),
            udp: PortSet::new(udp_ports),
        }
    }

    /// Where the Ethernet frame `f` goes. Only the destination port of an unfragmented (or
    /// first-fragment) IPv4 TCP/UDP packet is looked at; later fragments carry no port and go
    /// to the stack.
    pub fn verdict(&self, f: &[u8]) -> Verdict {
        if f.len() < 14 {
            return Verdict::Stack;
        }
        match [f[12], f[13]] {
            ETHERTYPE_ARP => return Verdict::Both,
            ETHERTYPE_IPV4 => {}
            _ => return Verdict::Kernel,
        }
        let ip = &f[14..];
        if ip.len() < 20 {
            return Verdict::Stack;
        }
        let ihl = usize::from(ip[0] & 0x0f) * 4;
        let fragment_offset = u16::from_be_bytes([ip[6], ip[7]]) & 0x1fff;
        if fragment_offset != 0 || ip.len() < ihl + 4 {
            return Verdict::Stack;
        }
        let port = u16::from_be_bytes([ip[ihl + 2], ip[ihl + 3]]);
        let kernel = match ip[9] {
            6 => self.tcp.contains(port),
            17 => self.udp.contains(port),
            _ => false,
        };
        if kernel {
            Verdict::Kernel
        } else {
            Verdict::Stack
        }
    }
}

/// Counters of the exception path.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ExceptionStats {
    pub to_kernel: u64,
    pub from_kernel: u64,
    /// Frames the kernel side did not take, or the device did not take from it.
    pub dropped: u64,
}

/// The stack's device `D` with the exception path to the kernel side `K`.
pub struct Exception<D: Device, K: Device> {
    inner: D,
    kernel: K,
    rules: ExceptionRules,
    rx: Vec<Bytes>,
    to_kernel: VecDeque<TxFrame>,
    from_kernel: VecDeque<TxFrame>,
    kernel_rx: Vec<Bytes>,
    next_kernel_poll: Option<Instant>,
    stats: ExceptionStats,
}

impl<D: Device, K: Device> Exception<D, K> {
    pub fn new(inner: D, kernel: K, rules: ExceptionRules) -> Self {
        Exception {
            inner,
            kernel,
            rules,
            rx: Vec::with_capacity(64),
            to_kernel: VecDeque::new(),
            from_kernel: VecDeque::new(),
            kernel_rx: Vec::with_capacity(64),
            next_kernel_poll: None,
            stats: ExceptionStats::default(),
        }
    }

    pub fn inner(&self) -> &D {
        &self.inner
    }

    pub fn exception_stats(&self) -> ExceptionStats {
        self.stats
    }

    /// Moves what the kernel sent onto the wire (bounded: one burst per poll).
    fn pump_kernel(&mut self, now: Instant) {
        if self.next_kernel_poll.is_some_and(|at| now < at) {
            return;
        }
        self.next_kernel_poll = Some(now + KERNEL_POLL);
        let burst = self.kernel.caps().max_burst.max(1);
        self.kernel.rx_burst(now, &mut self.kernel_rx, burst);
        self.stats.from_kernel += self.kernel_rx.len() as u64;
        self.from_kernel
            .extend(self.kernel_rx.drain(..).map(TxFrame::single));
        self.inner.tx_burst(now, &mut self.from_kernel);
        // A device that stays full loses the kernel's oldest frames, not the stack's.
        while self.from_kernel.len() > 4 * burst {
            self.from_kernel.pop_front();
            self.stats.dropped += 1;
        }
    }
}

impl<D: Device, K: Device> Device for Exception<D, K> {
    fn rx_burst(&mut self, now: Instant, out: &mut Vec<Bytes>, max: usize) -> usize {
        self.pump_kernel(now);
        self.inner.rx_burst(now, &mut self.rx, max);
        let start = out.len();
        for frame in self.rx.drain(..) {
            match self.rules.verdict(&frame) {
                Verdict::Stack => out.push(frame),
                Verdict::Kernel => self.to_kernel.push_back(TxFrame::single(frame)),
                Verdict::Both => {
                    self.to_kernel.push_back(TxFrame::single(frame.clone()));
                    out.push(frame);
                }
            }
        }
        if !self.to_kernel.is_empty() {
            let queued = self.to_kernel.len();
            let taken = self.kernel.tx_burst(now, &mut self.to_kernel);
            self.stats.to_kernel += taken as u64;
            self.stats.dropped += (queued - taken) as u64;
            self.to_kernel.clear();
        }
        out.len() - start
    }

    fn tx_burst(&mut self, now: Instant, frames: &mut VecDeque<TxFrame>) -> usize {
        self.inner.tx_burst(now, frames)
    }

    fn caps(&self) -> Caps {
        self.inner.caps()
    }

    fn stats(&self) -> DevStats {
        self.inner.stats()
    }

    fn poll_at(&self) -> Option<Instant> {
        self.inner.poll_at()
    }

    fn as_fd(&self) -> Option<std::os::fd::BorrowedFd<'_>> {
        self.inner.as_fd()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dev::MemoryWire;

    fn frame(ethertype: [u8; 2], proto: u8, dport: u16, frag: u16) -> Bytes {
        let mut f = vec![0u8; 14 + 20 + 8];
        f[12..14].copy_from_slice(&ethertype);
        f[14] = 0x45;
        f[14 + 6..14 + 8].copy_from_slice(&frag.to_be_bytes());
        f[14 + 9] = proto;
        f[34 + 2..34 + 4].copy_from_slice(&dport.to_be_bytes());
        Bytes::from(f)
    }

    #[test]
    fn verdicts() {
        let r = ExceptionRules::new(&[22, 65535], &[53]);
        assert_eq!(r.verdict(&frame(ETHERTYPE_IPV4, 6, 22, 0)), Verdict::Kernel);
        assert_eq!(
            r.verdict(&frame(ETHERTYPE_IPV4, 6, 65535, 0)),
            Verdict::Kernel
        );
        assert_eq!(r.verdict(&frame(ETHERTYPE_IPV4, 6, 80, 0)), Verdict::Stack);
        assert_eq!(
            r.verdict(&frame(ETHERTYPE_IPV4, 17, 53, 0)),
            Verdict::Kernel
        );
        assert_eq!(r.verdict(&frame(ETHERTYPE_IPV4, 17, 22, 0)), Verdict::Stack);
        // A later fragment has no port: the stack reassembles it.
        assert_eq!(r.verdict(&frame(ETHERTYPE_IPV4, 6, 22, 5)), Verdict::Stack);
        assert_eq!(r.verdict(&frame(ETHERTYPE_ARP, 0, 0, 0)), Verdict::Both);
        assert_eq!(r.verdict(&frame([0x86, 0xdd], 6, 80, 0)), Verdict::Kernel);
        assert_eq!(r.verdict(&[0u8; 10]), Verdict::Stack);
    }

    /// Over memory wires: the NIC side delivers SSH, HTTP and ARP; SSH reaches only the
    /// kernel side, HTTP only the stack, ARP both; the kernel's reply goes out the NIC.
    #[test]
    fn frames_are_sorted_and_the_kernel_reply_goes_out() {
        let (nic, mut wire) = MemoryWire::pair(64, 64);
        let (kernel_side, mut kernel) = MemoryWire::pair(64, 64);
        let mut dev = Exception::new(nic, kernel_side, ExceptionRules::new(&[22], &[]));
        let now = Instant::from_micros(0);
        let mut sent: VecDeque<TxFrame> = [
            frame(ETHERTYPE_IPV4, 6, 22, 0),
            frame(ETHERTYPE_IPV4, 6, 80, 0),
            frame(ETHERTYPE_ARP, 0, 0, 0),
        ]
        .into_iter()
        .map(TxFrame::single)
        .collect();
        wire.tx_burst(now, &mut sent);
        let mut stack_rx = Vec::new();
        assert_eq!(dev.rx_burst(now, &mut stack_rx, 32), 2);
        assert_eq!(stack_rx[0], frame(ETHERTYPE_IPV4, 6, 80, 0));
        assert_eq!(stack_rx[1], frame(ETHERTYPE_ARP, 0, 0, 0));
        let mut kernel_rx = Vec::new();
        kernel.rx_burst(now, &mut kernel_rx, 32);
        assert_eq!(
            kernel_rx,
            vec![
                frame(ETHERTYPE_IPV4, 6, 22, 0),
                frame(ETHERTYPE_ARP, 0, 0, 0)
            ]
        );

        let reply = frame(ETHERTYPE_IPV4, 6, 40000, 0);
        kernel.tx_burst(now, &mut VecDeque::from([TxFrame::single(reply.clone())]));
        // The kernel side is read at most every KERNEL_POLL.
        let later = now + KERNEL_POLL;
        dev.rx_burst(later, &mut stack_rx, 32);
        let mut wire_rx = Vec::new();
        wire.rx_burst(later, &mut wire_rx, 32);
        assert_eq!(wire_rx, vec![reply]);
        assert_eq!(
            dev.exception_stats(),
            ExceptionStats {
                to_kernel: 2,
                from_kernel: 1,
                dropped: 0
            }
        );
    }
}
