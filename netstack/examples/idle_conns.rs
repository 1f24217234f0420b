//! Memory of 100k idle established TCP connections: two user-space stacks over the memory
//! wire (one thread), client 198.18.0.1 ports 10000..60000 to server 198.18.0.2 ports 80 and
//! 81. Reports `Tcp::connection_memory()` per connection (each engine) and the process RSS
//! delta per connection pair (both endpoints live in this process) and per endpoint.
//!
//! Run: `cargo run --release -p netstack --example idle_conns [connections]` (default 100000).

use std::net::{Ipv4Addr, SocketAddrV4};
use std::time::Duration;

use netstack::buf::Pool;
use netstack::dev::MemoryWire;
use netstack::ip::IfaceConfig;
use netstack::tcp::{Event, TcpConfig};
use netstack::time::Instant;
use netstack::user::Stack;
use netstack::wire::EthernetAddress;

fn stack(dev: MemoryWire, last: u8) -> Stack<MemoryWire> {
    let iface = IfaceConfig {
        mac: EthernetAddress([2, 0, 0, 0, 0, last]),
        addr: Ipv4Addr::new(198, 18, 0, last),
        prefix: 24,
        gateway: None,
        mtu: 1500,
    };
    let tcp = TcpConfig {
        syn_backlog: 1 << 20,
        accept_backlog: 1 << 20,
        ..TcpConfig::default()
    };
    Stack::new(
        dev,
        iface,
        tcp,
        Pool::with_capacity(8192),
        Instant::ZERO,
        [last; 16],
    )
}

fn rss_bytes() -> usize {
    let s = std::fs::read_to_string("/proc/self/statm").unwrap();
    let pages: usize = s.split_whitespace().nth(1).unwrap().parse().unwrap();
    pages * 4096
}

fn main() {
    let n: usize = std::env::args()
        .nth(1)
        .map(|a| a.parse().expect("connections"))
        .unwrap_or(100_000);
    assert!(
        n <= 100_000,
        "at most 100000 (50000 ports x 2 server ports)"
    );
    let t0 = std::time::Instant::now();
    let (a, b) = MemoryWire::pair(8192, 4096);
    let mut client = stack(a, 1);
    let mut server = stack(b, 2);
    let cip = Ipv4Addr::new(198, 18, 0, 1);
    let sip = Ipv4Addr::new(198, 18, 0, 2);
    server
        .tcp
        .listen(SocketAddrV4::new(sip, 80), 1 << 20)
        .unwrap();
    server
        .tcp
        .listen(SocketAddrV4::new(sip, 81), 1 << 20)
        .unwrap();
    let mut now = Instant::from_millis(1);
    // Resolve ARP and warm the pools before the baseline.
    client.poll(now);
    server.poll(now);
    let rss0 = rss_bytes();

    let (mut opened, mut connected, mut accepted) = (0usize, 0usize, 0usize);
    let mut turns = 0u64;
    while connected < n || accepted < n {
        turns += 1;
        assert!(
            turns < 10_000_000,
            "stalled: {connected} connected, {accepted} accepted"
        );
        // Keep at most 512 handshakes in flight (the wire holds 4096 frames).
        while opened < n && opened - connected < 512 {
            let local = SocketAddrV4::new(cip, 10_000 + (opened / 2) as u16);
            let remote = SocketAddrV4::new(sip, 80 + (opened % 2) as u16);
            client.tcp.connect(local, remote, now).unwrap();
            opened += 1;
        }
        now += Duration::from_micros(100);
        client.poll(now);
        while let Some(ev) = client.tcp.poll_event() {
            match ev {
                Event::Connected(_) => connected += 1,
                e => panic!("client: {e:?}"),
            }
        }
        server.poll(now);
        while let Some(ev) = server.tcp.poll_event() {
            match ev {
                Event::Accepted { .. } => accepted += 1,
                e => panic!("server: {e:?}"),
            }
        }
    }
    // Let delayed ACKs and the like settle; the connections are idle from here on.
    for _ in 0..20 {
        now += Duration::from_millis(50);
        client.poll(now);
        server.poll(now);
    }
    let rss1 = rss_bytes();
    let (cm, sm) = (
        client.tcp.connection_memory(),
        server.tcp.connection_memory(),
    );
    assert_eq!(client.tcp.connections(), n);
    assert_eq!(server.tcp.connections(), n);
    println!(
        "idle_conns: {n} established connections (x2 endpoints) in {:.2} s wall",
        t0.elapsed().as_secs_f64()
    );
    println!(
        "idle_conns: Tcp::connection_memory() / conn: client {} B, server {} B",
        cm / n,
        sm / n
    );
    println!(
        "idle_conns: RSS delta {:.1} MiB = {} B per connection pair, {} B per endpoint",
        (rss1 - rss0) as f64 / (1 << 20) as f64,
        (rss1 - rss0) / n,
        (rss1 - rss0) / (2 * n)
    );
}
