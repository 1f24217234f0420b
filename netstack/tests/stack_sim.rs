//! Deterministic simulation of two whole netstack instances (Ethernet, ARP, IPv4, TCP) over the
//! in-memory wire with the fault injector on both ends: full-duplex bulk transfers at 0, 1, 5
//! and 10% loss (plus duplication, reordering and corruption) must complete with identical
//! SHA-256 on both sides, within a bounded virtual time.

use std::net::{Ipv4Addr, SocketAddrV4};
use std::time::Duration;

use bytes::Bytes;
use netstack::buf::Pool;
use netstack::dev::{Fault, FaultConfig, MemoryWire};
use netstack::ip::IfaceConfig;
use netstack::tcp::{Event, Handle, TcpConfig};
use netstack::time::Instant;
use netstack::user::Stack;
use netstack::wire::EthernetAddress;
use sha2::{Digest, Sha256};

type Node = Stack<Fault<MemoryWire>>;

fn node(wire: MemoryWire, last: u8, faults: FaultConfig) -> Node {
    let iface = IfaceConfig {
        mac: EthernetAddress([2, 0, 0, 0, 0, last]),
        addr: Ipv4Addr::new(198, 18, 7, last),
        prefix: 24,
        gateway: None,
        mtu: 1500,
    };
    let tcp = TcpConfig {
        rx_buffer: 256 << 10,
        tx_buffer: 256 << 10,
        ..TcpConfig::default()
    };
    Stack::new(
        Fault::new(wire, faults),
        iface,
        tcp,
        Pool::with_capacity(4096),
        Instant::ZERO,
        [last; 16],
    )
}

/// Deterministic payload: `len` bytes from a seeded generator.
fn payload(len: usize, seed: u64) -> Bytes {
    let mut x = seed;
    Bytes::from(
        (0..len)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                x as u8
            })
            .collect::<Vec<u8>>(),
    )
}

/// One end of the transfer: what it still has to send, and what it received.
struct End {
    out: Bytes,
    sent: usize,
    received: Sha256,
    got: usize,
}

impl End {
    fn new(out: Bytes) -> End {
        End {
            out,
            sent: 0,
            received: Sha256::new(),
            got: 0,
        }
    }

    /// Hands the engine as much as it takes (referenced slices of one buffer).
    fn push(&mut self, stack: &mut Node, h: Handle) {
        while self.sent < self.out.len() {
            let n = (32 << 10).min(self.out.len() - self.sent);
            if stack
                .tcp
                .send(h, self.out.slice(self.sent..self.sent + n))
                .is_err()
            {
                return;
            }
            self.sent += n;
        }
    }

    fn take(&mut self, stack: &mut Node, handle: &mut Option<Handle>) {
        while let Some(ev) = stack.tcp.poll_event() {
            match ev {
                Event::Accepted { handle: h, .. } | Event::Connected(h) => *handle = Some(h),
                Event::Data { data, .. } => {
                    self.got += data.len();
                    self.received.update(&data);
                }
                Event::ConnectFailed(_) => panic!("connect failed"),
                _ => {}
            }
        }
    }
}

fn transfer(loss: f64, bytes: usize, seed: u64) {
    let faults = |s: u64| FaultConfig {
        seed: s,
        loss,
        duplicate: 0.005,
        reorder: 0.01,
        corrupt: 0.005,
        rx: false,
        tx: true,
        ..FaultConfig::default()
    };
    let (a, b) = MemoryWire::pair(8192, 4096);
    let mut client = node(a, 1, faults(seed));
    let mut server = node(b, 2, faults(seed ^ 0x9e37_79b9));
    let service = SocketAddrV4::new(Ipv4Addr::new(198, 18, 7, 2), 80);
    server.tcp.listen(service, 8).unwrap();
    let mut now = Instant::from_millis(1);
    let from = SocketAddrV4::new(Ipv4Addr::new(198, 18, 7, 1), 0);
    let mut c_handle = Some(client.tcp.connect(from, service, now).unwrap());
    let mut s_handle = None;
    let up = payload(bytes, seed);
    let down = payload(bytes, !seed);
    let (mut c, mut s) = (End::new(up.clone()), End::new(down.clone()));
    let deadline = Instant::from_millis(600_000);
    while c.got < bytes || s.got < bytes {
        assert!(
            now < deadline,
            "stalled at {loss}: up {} / down {} of {bytes} bytes",
            s.got,
            c.got
        );
        now += Duration::from_micros(200);
        client.poll(now);
        c.take(&mut client, &mut c_handle);
        if let Some(h) = c_handle {
            c.push(&mut client, h);
        }
        server.poll(now);
        s.take(&mut server, &mut s_handle);
        if let Some(h) = s_handle {
            s.push(&mut server, h);
        }
    }
    assert_eq!(
        s.received.finalize().as_slice(),
        Sha256::digest(&up).as_slice(),
        "client -> server at {loss}"
    );
    assert_eq!(
        c.received.finalize().as_slice(),
        Sha256::digest(&down).as_slice(),
        "server -> client at {loss}"
    );
    let (cf, sf) = (client.device.fault_stats(), server.device.fault_stats());
    eprintln!(
        "loss {loss}: {bytes} bytes each way in {:.1} s virtual; injected: {cf:?} / {sf:?}",
        now.total_millis() as f64 / 1000.0
    );
    // The faults really happened: at 1% and above, frames were lost on both ends.
    if loss > 0.0 {
        assert!(
            cf.dropped > 0 && sf.dropped > 0,
            "no loss injected: {cf:?} {sf:?}"
        );
    }
}

#[test]
fn full_duplex_bulk_without_faults_beyond_reordering() {
    transfer(0.0, 8 << 20, 1);
}

#[test]
fn full_duplex_bulk_at_1_percent_loss() {
    transfer(0.01, 4 << 20, 2);
}

#[test]
fn full_duplex_bulk_at_5_percent_loss() {
    transfer(0.05, 2 << 20, 3);
}

#[test]
fn full_duplex_bulk_at_10_percent_loss() {
    transfer(0.10, 1 << 20, 4);
}
