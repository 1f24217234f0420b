//! Software flow steering between the workers of one multi-queue device.
//!
//! A multi-queue TAP device spreads the frames the Linux side sends over its queues by the
//! kernel's TX queue selection, which does not follow our hash: a connection's packets may
//! arrive on any queue. Every worker therefore classifies what its queue delivers:
//!
//! - IPv4 TCP/UDP: the owner is the RSS queue of the 4-tuple under
//!   [`SYMMETRIC_KEY`](crate::rss::SYMMETRIC_KEY) with a round-robin RETA of
//!   [`DEFAULT_RETA_SIZE`](crate::rss::DEFAULT_RETA_SIZE) entries. The key is symmetric, so
//!   both directions of a flow have the same owner, and active opens pick a source port
//!   ([`Steering::source_port`]) whose replies hash to the opening worker.
//! - ICMP errors (unreachable, time exceeded, parameter problem) go to the owner of the flow
//!   they quote (path-MTU updates reach the connection's worker).
//! - IPv4 fragments go to the owner of the 2-tuple hash, so all fragments of a datagram meet
//!   on one worker (the reassembled datagram is handled there).
//! - ARP is replicated: the receiving worker processes the frame as is (and answers a request
//!   for our address); every other worker gets a copy with a request's opcode rewritten to
//!   "reply", so each worker's ARP cache learns the sender while exactly one answer goes out.
//!   A worker that needs a neighbour's address sends its own request; the answer reaches
//!   every worker by the same replication.
//! - Everything else (ICMP echo, unknown ethertypes) is handled by the worker that received it:
//!   it holds no per-flow state.
//!
//! In practice the TAP driver learns from us: it records which queue transmitted a flow's
//! packets and sends the flow's later packets to that queue (`tun` automq), so after the
//! handshake most frames already arrive on their owner's queue; the steering makes the first
//! ones (and any the kernel sends elsewhere) correct.
//!
//! Limitation: a fragmented TCP segment is reassembled and handled on the 2-tuple owner, which
//! is not the connection's owner in general (Linux sends TCP with DF set, so this does not
//! arise with the kernel as peer).
//!
//! Frames for another worker go over a per-(from, to) SPSC ring ([`ArrayQueue`], fixed
//! capacity: a full ring drops, as a NIC ring would) and the target is woken through its
//! eventfd, at most once per batch (a `pending` flag the target clears before draining).

use std::collections::VecDeque;
use std::io;
use std::net::{Ipv4Addr, SocketAddrV4};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use bytes::Bytes;
use crossbeam_queue::ArrayQueue;
use rustix::event::{eventfd, EventfdFlags};

use crate::dev::{Caps, DevStats, Device, TxFrame};
use crate::rss::{hash_v4, Reta, Rss, DEFAULT_RETA_SIZE, EPHEMERAL_PORTS, SYMMETRIC_KEY};
use crate::time::Instant;

/// Frames one worker may have in flight to another before drops.
pub const RING_CAPACITY: usize = 4096;

/// Where a received frame belongs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Class {
    /// Stateless or not ours to steer: the receiving worker handles it.
    Local,
    /// Flow traffic owned by this worker.
    Worker(usize),
    /// Control traffic every worker needs (ARP).
    Replicate,
}

/// Counters of one worker's steering (readable from any thread).
#[derive(Debug, Default)]
pub struct SteerCounters {
    /// Frames this worker received on its queue and passed to their owner.
    pub forwarded: AtomicU64,
    /// Frames other workers passed to this one.
    pub received: AtomicU64,
    /// ARP copies this worker sent to the others.
    pub replicated: AtomicU64,
    /// Frames lost because the ring to their owner was full.
    pub ring_full: AtomicU64,
}

struct Wake {
    fd: OwnedFd,
    pending: AtomicBool,
}

/// The steering state shared by the workers of one device.
pub struct Steering {
    workers: usize,
    rss: Rss,
    /// `rings[from * workers + to]`.
    rings: Vec<ArrayQueue<Bytes>>,
    wakes: Vec<Wake>,
    counters: Vec<SteerCounters>,
}

impl Steering {
    /// Steering over `workers` workers, each with its own wake eventfd.
    pub fn new(workers: usize) -> io::Result<Steering> {
        let workers = workers.max(1);
        let reta = Reta::round_robin(DEFAULT_RETA_SIZE, workers as u16)
            .expect("nonzero RETA size and queue count");
        Ok(Steering {
            workers,
            rss: Rss::new(SYMMETRIC_KEY, reta),
            rings: (0..workers * workers)
                .map(|_| ArrayQueue::new(RING_CAPACITY))
                .collect(),
            wakes: (0..workers)
                .map(|_| {
                    Ok(Wake {
                        fd: eventfd(0, EventfdFlags::NONBLOCK | EventfdFlags::CLOEXEC)?,
                        pending: AtomicBool::new(false),
                    })
                })
                .collect::<io::Result<_>>()?,
            counters: (0..workers).map(|_| SteerCounters::default()).collect(),
        })
    }

    pub fn workers(&self) -> usize {
        self.workers
    }

    /// The eventfd that becomes readable when frames were passed to `worker`.
    pub fn wake_fd(&self, worker: usize) -> BorrowedFd<'_> {
        self.wakes[worker].fd.as_fd()
    }

    pub fn counters(&self, worker: usize) -> &SteerCounters {
        &self.counters[worker]
    }

    /// The worker owning the flow `src:sport -> dst:dport` (either direction).
    pub fn owner_v4(&self, src: Ipv4Addr, dst: Ipv4Addr, sport: u16, dport: u16) -> usize {
        self.rss.queue_v4(src, dst, sport, dport) as usize
    }

    /// A local port for an active open `local -> remote` by `worker` whose packets (both
    /// directions) are steered to `worker`; `is_free` checks availability. The search starts
    /// at `start` (randomize it to spread ports).
    pub fn source_port(
        &self,
        worker: usize,
        local: Ipv4Addr,
        remote: SocketAddrV4,
        start: u16,
        is_free: impl FnMut(u16) -> bool,
    ) -> Option<u16> {
        self.rss.pick_source_port(
            local,
            remote,
            u16::try_from(worker).ok()?,
            EPHEMERAL_PORTS,
            start,
            is_free,
        )
    }

    /// Classifies one Ethernet frame (see the module documentation).
    pub fn classify(&self, frame: &[u8]) -> Class {
        if self.workers == 1 || frame.len() < 14 {
            return Class::Local;
        }
        match u16::from_be_bytes([frame[12], frame[13]]) {
            0x0806 => Class::Replicate,
            0x0800 => self.classify_ipv4(&frame[14..]),
            _ => Class::Local,
        }
    }

    fn classify_ipv4(&self, ip: &[u8]) -> Class {
        let Some((src, dst, proto, ihl)) = ipv4_header(ip) else {
            return Class::Local;
        };
        let frag = u16::from_be_bytes([ip[6], ip[7]]);
        if frag & 0x3fff != 0 {
            let h = hash_v4(self.rss.key(), src, dst);
            return Class::Worker(self.rss.reta().queue(h) as usize);
        }
        let l4 = &ip[ihl..];
        match proto {
            6 | 17 => match ports(l4) {
                Some((sp, dp)) => Class::Worker(self.owner_v4(src, dst, sp, dp)),
                None => Class::Local,
            },
            // Destination unreachable, time exceeded, parameter problem: quote the datagram
            // we sent; the symmetric key gives its flow the same owner.
            1 if l4.len() >= 8 && matches!(l4[0], 3 | 11 | 12) => match ipv4_header(&l4[8..]) {
                Some((qs, qd, 6 | 17, qihl)) => match ports(&l4[8 + qihl..]) {
                    Some((sp, dp)) => Class::Worker(self.owner_v4(qs, qd, sp, dp)),
                    None => Class::Local,
                },
                _ => Class::Local,
            },
            _ => Class::Local,
        }
    }

    fn wake(&self, worker: usize) {
        let w = &self.wakes[worker];
        if !w.pending.swap(true, Ordering::AcqRel) {
            let _ = rustix::io::write(&w.fd, &1u64.to_ne_bytes());
        }
    }

    /// Wakes `worker`'s loop (used to tell workers that the last one finished draining).
    pub fn notify(&self, worker: usize) {
        self.wake(worker);
    }
}

/// (src, dst, protocol, header length) of a plausible IPv4 header at the start of `ip`.
fn ipv4_header(ip: &[u8]) -> Option<(Ipv4Addr, Ipv4Addr, u8, usize)> {
    if ip.len() < 20 || ip[0] >> 4 != 4 {
        return None;
    }
    let ihl = (ip[0] & 0x0f) as usize * 4;
    if ihl < 20 || ip.len() < ihl {
        return None;
    }
    let src = Ipv4Addr::new(ip[12], ip[13], ip[14], ip[15]);
    let dst = Ipv4Addr::new(ip[16], ip[17], ip[18], ip[19]);
    Some((src, dst, ip[9], ihl))
}

fn ports(l4: &[u8]) -> Option<(u16, u16)> {
    (l4.len() >= 4).then(|| {
        (
            u16::from_be_bytes([l4[0], l4[1]]),
            u16::from_be_bytes([l4[2], l4[3]]),
        )
    })
}

/// The copy of an ARP frame given to the other workers: a request becomes a reply so that only
/// the receiving worker answers it (the others learn the sender, see `Interface::arp_input`).
fn arp_copy(frame: &[u8]) -> Bytes {
    let mut copy = frame.to_vec();
    // Ethernet (14) + htype (2) + ptype (2) + hlen (1) + plen (1): the opcode at 20..22.
    if copy.len() >= 22 && copy[20..22] == [0, 1] {
        copy[21] = 2;
    }
    Bytes::from(copy)
}

/// One worker's view of a multi-queue device: its own queue `inner`, plus the frames other
/// workers steer to it. Transmit goes straight to `inner`.
pub struct Steered<D: Device> {
    inner: D,
    steering: std::sync::Arc<Steering>,
    me: usize,
    scratch: Vec<Bytes>,
}

impl<D: Device> Steered<D> {
    pub fn new(inner: D, steering: std::sync::Arc<Steering>, me: usize) -> Self {
        assert!(me < steering.workers, "worker index out of range");
        Steered {
            inner,
            steering,
            me,
            scratch: Vec::with_capacity(64),
        }
    }

    pub fn inner(&self) -> &D {
        &self.inner
    }

    fn forward(&self, to: usize, frame: Bytes, woken: &mut u64) -> bool {
        let s = &self.steering;
        if s.rings[self.me * s.workers + to].push(frame).is_err() {
            s.counters[self.me]
                .ring_full
                .fetch_add(1, Ordering::Relaxed);
            return false;
        }
        *woken |= 1 << (to % 64);
        true
    }
}

impl<D: Device> Device for Steered<D> {
    fn rx_burst(&mut self, now: Instant, out: &mut Vec<Bytes>, max: usize) -> usize {
        let s = self.steering.clone();
        let (me, n) = (self.me, s.workers);
        let start = out.len();
        // Clear the flag before draining: a sender that sees it clear after this writes the
        // eventfd again, so nothing pushed after the drain is left without a wake-up.
        if s.wakes[me].pending.swap(false, Ordering::AcqRel) {
            let mut counter = [0u8; 8];
            let _ = rustix::io::read(&s.wakes[me].fd, &mut counter);
        }
        let mut received = 0;
        for from in (0..n).filter(|&f| f != me) {
            let ring = &s.rings[from * n + me];
            while out.len() - start < max {
                let Some(frame) = ring.pop() else { break };
                out.push(frame);
                received += 1;
            }
        }
        if received > 0 {
            s.counters[me]
                .received
                .fetch_add(received, Ordering::Relaxed);
        }
        let room = max.saturating_sub(out.len() - start);
        if room > 0 {
            let mut batch = std::mem::take(&mut self.scratch);
            self.inner.rx_burst(now, &mut batch, room);
            let (mut woken, mut forwarded, mut replicated) = (0u64, 0, 0);
            for frame in batch.drain(..) {
                match s.classify(&frame) {
                    Class::Local => out.push(frame),
                    Class::Worker(w) if w == me => out.push(frame),
                    Class::Worker(w) => forwarded += self.forward(w, frame, &mut woken) as u64,
                    Class::Replicate => {
                        for w in (0..n).filter(|&w| w != me) {
                            replicated += self.forward(w, arp_copy(&frame), &mut woken) as u64;
                        }
                        out.push(frame);
                    }
                }
            }
            self.scratch = batch;
            let c = &s.counters[me];
            if forwarded > 0 {
                c.forwarded.fetch_add(forwarded, Ordering::Relaxed);
            }
            if replicated > 0 {
                c.replicated.fetch_add(replicated, Ordering::Relaxed);
            }
            for w in (0..n).filter(|&w| woken & (1 << (w % 64)) != 0) {
                s.wake(w);
            }
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

    fn as_fd(&self) -> Option<BorrowedFd<'_>> {
        self.inner.as_fd()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    fn eth(ethertype: u16, payload: &[u8]) -> Vec<u8> {
        let mut f = vec![2, 0, 0x5e, 0, 0, 2, 2, 0, 0, 0, 0, 1];
        f.extend_from_slice(&ethertype.to_be_bytes());
        f.extend_from_slice(payload);
        f
    }

    fn ipv4(src: Ipv4Addr, dst: Ipv4Addr, proto: u8, frag: u16, l4: &[u8]) -> Vec<u8> {
        let mut ip = vec![0x45, 0, 0, 0, 0, 0];
        ip.extend_from_slice(&frag.to_be_bytes());
        ip.extend_from_slice(&[64, proto, 0, 0]);
        ip.extend_from_slice(&src.octets());
        ip.extend_from_slice(&dst.octets());
        let total = (ip.len() + l4.len()) as u16;
        ip[2..4].copy_from_slice(&total.to_be_bytes());
        ip.extend_from_slice(l4);
        ip
    }

    fn tcp_ports(sp: u16, dp: u16) -> Vec<u8> {
        let mut t = vec![0u8; 20];
        t[..2].copy_from_slice(&sp.to_be_bytes());
        t[2..4].copy_from_slice(&dp.to_be_bytes());
        t
    }

    const US: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 2);
    const PEER: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 1);

    #[test]
    fn flows_spread_and_both_directions_share_an_owner() {
        let s = Steering::new(2).unwrap();
        let mut seen = [0usize; 2];
        for port in 40000..40200u16 {
            let f = eth(0x0800, &ipv4(PEER, US, 6, 0, &tcp_ports(port, 8080)));
            let Class::Worker(w) = s.classify(&f) else {
                panic!("tcp must be steered")
            };
            seen[w] += 1;
            assert_eq!(w, s.owner_v4(US, PEER, 8080, port), "symmetric");
        }
        assert!(seen[0] > 50 && seen[1] > 50, "spread {seen:?}");
        // UDP too; ICMP echo and short frames stay local; ARP is replicated.
        let udp = eth(0x0800, &ipv4(PEER, US, 17, 0, &tcp_ports(5353, 53)));
        assert!(matches!(s.classify(&udp), Class::Worker(_)));
        let echo = eth(0x0800, &ipv4(PEER, US, 1, 0, &[8, 0, 0, 0, 0, 0, 0, 0]));
        assert_eq!(s.classify(&echo), Class::Local);
        assert_eq!(s.classify(&eth(0x0806, &[0; 28])), Class::Replicate);
        assert_eq!(s.classify(&[0u8; 10]), Class::Local);
        assert_eq!(
            Steering::new(1).unwrap().classify(&eth(0x0806, &[0; 28])),
            Class::Local
        );
    }

    #[test]
    fn icmp_errors_follow_the_quoted_flow_and_fragments_meet() {
        let s = Steering::new(4).unwrap();
        for port in 50000..50050u16 {
            // We sent US:port -> PEER:80; the error quotes that datagram.
            let quoted = ipv4(US, PEER, 6, 0, &tcp_ports(port, 80)[..8]);
            let mut icmp = vec![3, 4, 0, 0, 0, 0, 0x05, 0xdc];
            icmp.extend_from_slice(&quoted);
            let f = eth(0x0800, &ipv4(PEER, US, 1, 0, &icmp));
            let reply = eth(0x0800, &ipv4(PEER, US, 6, 0, &tcp_ports(80, port)));
            assert_eq!(s.classify(&f), s.classify(&reply));
        }
        let first = eth(0x0800, &ipv4(PEER, US, 17, 0x2000, &tcp_ports(1, 2)));
        let later = eth(0x0800, &ipv4(PEER, US, 17, 185, &[9; 16]));
        assert_eq!(s.classify(&first), s.classify(&later));
    }

    #[test]
    fn source_port_maps_back_to_the_opening_worker() {
        let s = Steering::new(3).unwrap();
        let remote = SocketAddrV4::new(PEER, 6379);
        for w in 0..3 {
            let port = s.source_port(w, US, remote, 50000, |_| true).unwrap();
            assert!(EPHEMERAL_PORTS.contains(&port));
            let reply = eth(0x0800, &ipv4(PEER, US, 6, 0, &tcp_ports(6379, port)));
            assert_eq!(s.classify(&reply), Class::Worker(w));
        }
        assert_eq!(s.source_port(3, US, remote, 50000, |_| true), None);
    }

    /// A device that yields the frames it was given.
    struct Feed(VecDeque<Bytes>);

    impl Device for Feed {
        fn rx_burst(&mut self, _: Instant, out: &mut Vec<Bytes>, max: usize) -> usize {
            let mut n = 0;
            while n < max {
                let Some(f) = self.0.pop_front() else { break };
                out.push(f);
                n += 1;
            }
            n
        }
        fn tx_burst(&mut self, _: Instant, frames: &mut VecDeque<TxFrame>) -> usize {
            let n = frames.len();
            frames.clear();
            n
        }
        fn caps(&self) -> Caps {
            Caps::default()
        }
        fn stats(&self) -> DevStats {
            DevStats::default()
        }
    }

    #[test]
    fn frames_reach_their_owner_and_arp_reaches_everyone_once_as_request() {
        let s = Arc::new(Steering::new(2).unwrap());
        let mut frames = VecDeque::new();
        let mut owners = Vec::new();
        for port in 40000..40064u16 {
            let f = eth(0x0800, &ipv4(PEER, US, 6, 0, &tcp_ports(port, 80)));
            owners.push(s.classify(&f));
            frames.push_back(Bytes::from(f));
        }
        let mut arp = vec![0, 1, 8, 0, 6, 4, 0, 1];
        arp.extend_from_slice(&[2, 0, 0, 0, 0, 1]);
        arp.extend_from_slice(&PEER.octets());
        arp.extend_from_slice(&[0; 6]);
        arp.extend_from_slice(&US.octets());
        frames.push_back(Bytes::from(eth(0x0806, &arp)));
        // Everything arrives on worker 0's queue.
        let mut w0 = Steered::new(Feed(frames), s.clone(), 0);
        let mut w1 = Steered::new(Feed(VecDeque::new()), s.clone(), 1);
        let (mut got0, mut got1) = (Vec::new(), Vec::new());
        while w0.rx_burst(Instant::ZERO, &mut got0, 32) > 0 {}
        let mut counter = [0u8; 8];
        assert!(
            rustix::io::read(s.wake_fd(1), &mut counter).is_ok(),
            "woken"
        );
        while w1.rx_burst(Instant::ZERO, &mut got1, 32) > 0 {}
        let mine = |w| owners.iter().filter(|c| **c == Class::Worker(w)).count();
        assert_eq!(got0.len(), mine(0) + 1);
        assert_eq!(got1.len(), mine(1) + 1);
        let arp_of =
            |got: &[Bytes]| got.iter().find(|f| f[12..14] == [8, 6]).unwrap()[20..22].to_vec();
        assert_eq!(arp_of(&got0), [0, 1], "the receiver answers the request");
        assert_eq!(arp_of(&got1), [0, 2], "the others only learn");
        assert_eq!(
            s.counters(0).forwarded.load(Ordering::Relaxed),
            mine(1) as u64
        );
        assert_eq!(
            s.counters(1).received.load(Ordering::Relaxed),
            mine(1) as u64 + 1
        );
    }
}
