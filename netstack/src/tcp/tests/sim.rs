//! Deterministic two-engine simulation: two `Tcp`s joined by a lossy in-test wire. Every
//! segment is serialized with `TcpRepr::emit_header` and fed back through `input`, so
//! checksums and parsing are real. A seeded PRNG drops, duplicates, delays (reorders) and
//! corrupts segments; a 100 Mbit/s bottleneck with a drop-tail queue adds congestion loss.
//! Bulk transfers in both directions must arrive with identical SHA-256, without stalling,
//! within a bounded simulated time.

use std::cmp::Reverse;
use std::collections::BinaryHeap;

use sha2::{Digest, Sha256};

use super::*;
use crate::wire::testutil::Rng;

const A_IP: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 1);
const B_IP: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 2);
const ONE_WAY: u64 = 5_000_000; // ns
const RATE_BPS: u64 = 100_000_000;
const QUEUE_NS: u64 = 20_000_000; // drop-tail beyond 20 ms of queue

#[derive(Clone, Copy)]
pub struct Faults {
    pub loss: u32, // per mille
    pub dup: u32,
    pub reorder: u32,
    pub corrupt: u32,
}

/// (arrival ns, order, to side, bytes)
type InFlight = Reverse<(u64, u64, usize, Vec<u8>)>;

struct Wire {
    rng: Rng,
    faults: Faults,
    queue: BinaryHeap<InFlight>,
    link_free: [u64; 2],
    order: u64,
    sent: u64,
    dropped: u64,
}

impl Wire {
    fn chance(&mut self, per_mille: u32) -> bool {
        (self.rng.below(1000) as u32) < per_mille
    }

    fn push(&mut self, to: usize, mut bytes: Vec<u8>, now: u64) {
        self.sent += 1;
        if self.chance(self.faults.loss) {
            self.dropped += 1;
            return;
        }
        // Bottleneck: serialization at RATE_BPS, drop-tail queue.
        let wire_bytes = bytes.len() as u64 + 40;
        let start = self.link_free[to].max(now);
        if start - now > QUEUE_NS {
            self.dropped += 1;
            return;
        }
        let done = start + wire_bytes * 8 * 1_000_000_000 / RATE_BPS;
        self.link_free[to] = done;
        let mut at = done + ONE_WAY;
        if self.chance(self.faults.reorder) {
            at += 1_000_000 + self.rng.below(3_000_000) as u64;
        }
        if self.chance(self.faults.corrupt) {
            let i = self.rng.below(bytes.len());
            bytes[i] ^= 1 + self.rng.below(254) as u8;
        }
        if self.chance(self.faults.dup) {
            self.order += 1;
            self.queue
                .push(Reverse((at + 100_000, self.order, to, bytes.clone())));
        }
        self.order += 1;
        self.queue.push(Reverse((at, self.order, to, bytes)));
    }
}

struct Side {
    tcp: Tcp,
    ip: Ipv4Addr,
    handle: Option<Handle>,
    data: Bytes,
    sent: usize,
    shut: bool,
    rx: Sha256,
    rx_len: usize,
    peer_closed: bool,
    close_called: bool,
    closed: bool,
}

impl Side {
    fn new(cfg: &TcpConfig, ip: Ipv4Addr, seed: u64, len: usize) -> Side {
        let mut rng = Rng(seed);
        let mut v = vec![0u8; len];
        rng.fill(&mut v);
        Side {
            tcp: Tcp::new(cfg.clone(), Instant::ZERO, [seed as u8; 16]),
            ip,
            handle: None,
            data: Bytes::from(v),
            sent: 0,
            shut: false,
            rx: Sha256::new(),
            rx_len: 0,
            peer_closed: false,
            close_called: false,
            closed: false,
        }
    }

    fn events(&mut self) {
        while let Some(e) = self.tcp.poll_event() {
            match e {
                Event::Accepted { handle, .. } | Event::Connected(handle) => {
                    self.handle = Some(handle)
                }
                Event::Data { data, .. } => {
                    assert!(!data.is_empty());
                    self.rx.update(&data);
                    self.rx_len += data.len();
                }
                Event::PeerClosed(_) => self.peer_closed = true,
                Event::Closed(_) => self.closed = true,
                Event::ConnectFailed(_) => panic!("connect failed"),
                Event::Writable(_) => {}
            }
        }
        let Some(h) = self.handle else { return };
        while self.sent < self.data.len() && !self.closed {
            let n = (self.data.len() - self.sent).min(16 * 1024 + 123);
            match self.tcp.send(h, self.data.slice(self.sent..self.sent + n)) {
                Ok(()) => self.sent += n,
                Err(TcpError::BufferFull) => break,
                Err(e) => panic!("send: {e:?}"),
            }
        }
        if self.sent == self.data.len() && !self.shut {
            self.shut = true;
            self.tcp.shutdown_write(h);
        }
        if self.shut && self.peer_closed && !self.close_called {
            self.close_called = true;
            self.tcp.close(h);
        }
    }
}

fn serialize(s: &Segment<'_>) -> Vec<u8> {
    let hl = s.repr.header_len();
    let mut buf = vec![0u8; hl + s.payload_len()];
    let mut at = hl;
    for p in s.payload {
        buf[at..at + p.len()].copy_from_slice(p);
        at += p.len();
    }
    let parts: Vec<&[u8]> = s.payload.iter().map(|b| &b[..]).collect();
    s.repr.emit_header(
        &mut buf[..hl],
        *s.src.ip(),
        *s.dst.ip(),
        &parts,
        ChecksumCaps::SOFTWARE,
    );
    buf
}

pub struct Report {
    pub sim_secs: f64,
    pub segments: u64,
    pub dropped: u64,
    pub retransmits: u64,
}

/// Transfers `len` bytes each way; returns simulated time and counters.
pub fn run(cfg: TcpConfig, faults: Faults, seed: u64, len: usize, limit_secs: u64) -> Report {
    let mut sides = [
        Side::new(&cfg, A_IP, seed, len),
        Side::new(&cfg, B_IP, seed ^ 0xabcdef, len + 777),
    ];
    let mut wire = Wire {
        rng: Rng(seed.wrapping_mul(31) | 1),
        faults,
        queue: BinaryHeap::new(),
        link_free: [0; 2],
        order: 0,
        sent: 0,
        dropped: 0,
    };
    sides[1]
        .tcp
        .listen(SocketAddrV4::new(B_IP, 80), 16)
        .unwrap();
    let h = sides[0]
        .tcp
        .connect(
            SocketAddrV4::new(A_IP, 40000),
            SocketAddrV4::new(B_IP, 80),
            Instant::ZERO,
        )
        .unwrap();
    sides[0].handle = Some(h);
    let mut now = 0u64;
    let limit = limit_secs * 1_000_000_000;
    loop {
        for (i, side) in sides.iter_mut().enumerate() {
            let t = Instant::from_nanos(now);
            side.tcp.advance(t);
            side.events();
            side.tcp.dispatch(t, |s| {
                wire.push(1 - i, serialize(s), now);
                true
            });
        }
        if sides.iter().all(|s| s.closed) {
            break;
        }
        if now >= limit {
            for s in &sides {
                eprintln!("{:?}", s.tcp.stats());
                if let Some(h) = s.handle {
                    if let Ok(i) = s.tcp.live(h) {
                        let t = s.tcp.slots[i as usize].tcb.as_ref().unwrap();
                        eprintln!("state {:?} una {} nxt {} max {} wnd {} cwnd {} ssthresh {} rto {} backoff {} rec {:?} txq {} rcv_nxt {} ooo {:?}", t.state, t.snd_una, t.snd_nxt, t.snd_max, t.snd_wnd, t.cc.cwnd, t.cc.ssthresh, t.rto_us, t.backoff, t.recovery, t.txq_len, t.rcv_nxt, t.ooo.as_ref().map(|o| o.len()));
                    }
                }
            }
        }
        assert!(
            now < limit,
            "stalled: {} / {} bytes at {} s",
            sides[1].rx_len,
            sides[0].rx_len,
            now / 1_000_000_000
        );
        let mut next = wire.queue.peek().map_or(u64::MAX, |r| r.0 .0);
        for s in &sides {
            if let Some(t) = s.tcp.poll_at() {
                next = next.min(t.total_nanos());
            }
            if s.tcp.has_output() {
                next = now;
            }
        }
        assert!(next != u64::MAX, "deadlock: nothing scheduled");
        now = now.max(next);
        while wire.queue.peek().is_some_and(|r| r.0 .0 <= now) {
            let Reverse((_, _, to, bytes)) = wire.queue.pop().unwrap();
            let src = sides[1 - to].ip;
            let t = Instant::from_nanos(now);
            sides[to]
                .tcp
                .input(t, src, sides[to].ip, Bytes::from(bytes), false);
        }
    }
    for i in 0..2 {
        let want = Sha256::digest(&sides[1 - i].data);
        let got = sides[i].rx.clone().finalize();
        assert_eq!(sides[i].rx_len, sides[1 - i].data.len(), "side {i} length");
        assert_eq!(got, want, "side {i} SHA-256");
        assert!(sides[i].peer_closed);
    }
    Report {
        sim_secs: now as f64 / 1e9,
        segments: wire.sent,
        dropped: wire.dropped,
        retransmits: sides[0].tcp.stats().retransmits + sides[1].tcp.stats().retransmits,
    }
}

fn faults(loss: u32) -> Faults {
    Faults {
        loss,
        dup: 5,
        reorder: 20,
        corrupt: 5,
    }
}

fn bulk(cfg: TcpConfig, loss_per_mille: u32, mb: usize, limit: u64) {
    for seed in [1u64, 2, 3] {
        let r = run(cfg.clone(), faults(loss_per_mille), seed, mb << 20, limit);
        println!(
            "loss {}‰ seed {seed}: {mb} MiB each way in {:.2} simulated s, {} segments, {} dropped, {} retransmitted",
            loss_per_mille, r.sim_secs, r.segments, r.dropped, r.retransmits
        );
    }
}

#[test]
fn sim_bulk_no_loss() {
    let mut f = faults(0);
    f.dup = 0;
    f.reorder = 0;
    f.corrupt = 0;
    let r = run(TcpConfig::default(), f, 7, 8 << 20, 10);
    println!(
        "clean: 8 MiB each way in {:.3} s, {} segments",
        r.sim_secs, r.segments
    );
    assert_eq!(
        r.retransmits, 0,
        "drop-tail never hit at this size? {}",
        r.dropped
    );
}

#[test]
fn sim_bulk_1_percent() {
    bulk(TcpConfig::default(), 10, 8, 60);
}

#[test]
fn sim_bulk_5_percent() {
    bulk(TcpConfig::default(), 50, 6, 120);
}

#[test]
fn sim_bulk_10_percent() {
    bulk(TcpConfig::default(), 100, 4, 300);
}

#[test]
fn sim_bulk_newreno_without_sack_or_timestamps() {
    let cfg = TcpConfig {
        congestion: Congestion::NewReno,
        sack: false,
        timestamps: false,
        window_scale: 0,
        ..TcpConfig::default()
    };
    bulk(cfg, 50, 4, 200);
}
