//! Bulk goodput between two netstack user-space stacks over the memory wire, on one core
//! (both stacks driven by the same thread, virtual clock advanced 50 us per loop turn).
//! Reports wall-clock MB/s of application payload and ns per data segment (full path on both
//! sides: TCP send/dispatch, IPv4/Ethernet emit, wire, Ethernet/IPv4 input, TCP input, ACKs).
//!
//! Run: `cargo run --release -p netstack --example user_bulk [MiB]` (default 512 MiB).

use std::net::{Ipv4Addr, SocketAddrV4};
use std::time::Duration;

use bytes::Bytes;
use netstack::buf::Pool;
use netstack::dev::{Device, MemoryWire};
use netstack::ip::IfaceConfig;
use netstack::tcp::{Event, TcpConfig};
use netstack::time::Instant;
use netstack::user::Stack;
use netstack::wire::EthernetAddress;

fn stack(dev: MemoryWire, last: u8, tcp: TcpConfig) -> Stack<MemoryWire> {
    let iface = IfaceConfig {
        mac: EthernetAddress([2, 0, 0, 0, 0, last]),
        addr: Ipv4Addr::new(198, 18, 0, last),
        prefix: 24,
        gateway: None,
        mtu: 1500,
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

fn main() {
    let mib: usize = std::env::args()
        .nth(1)
        .map(|a| a.parse().expect("MiB"))
        .unwrap_or(512);
    let total = mib << 20;
    let tcp = TcpConfig {
        rx_buffer: 1 << 20,
        tx_buffer: 1 << 20,
        ..TcpConfig::default()
    };
    let (a, b) = MemoryWire::pair(8192, 4096);
    let mut client = stack(a, 1, tcp.clone());
    let mut server = stack(b, 2, tcp);
    let local = SocketAddrV4::new(Ipv4Addr::new(198, 18, 0, 2), 80);
    server.tcp.listen(local, 16).unwrap();
    let mut now = Instant::from_millis(1);
    let h = client
        .tcp
        .connect(
            SocketAddrV4::new(Ipv4Addr::new(198, 18, 0, 1), 0),
            local,
            now,
        )
        .unwrap();

    // 1 MiB of payload, sent as 64 KiB slices over and over (referenced, never copied).
    let chunk = Bytes::from(
        (0..1u32 << 20)
            .map(|i| (i % 251) as u8)
            .collect::<Vec<u8>>(),
    );
    let (mut sent, mut received) = (0usize, 0usize);
    let mut off = 0usize;
    let mut started = None;
    let mut turns = 0u64;
    while received < total {
        turns += 1;
        assert!(turns < 50_000_000, "stalled at {received} of {total} bytes");
        now += Duration::from_micros(50);
        client.poll(now);
        while let Some(ev) = client.tcp.poll_event() {
            match ev {
                Event::Connected(_) => started = Some(std::time::Instant::now()),
                Event::ConnectFailed(_) | Event::Closed(_) => panic!("{ev:?}"),
                _ => {}
            }
        }
        if started.is_some() {
            while sent < total && client.tcp.queued(h) < 512 << 10 {
                let n = (64 << 10).min(total - sent).min(chunk.len() - off);
                if client.tcp.send(h, chunk.slice(off..off + n)).is_err() {
                    break;
                }
                sent += n;
                off = (off + n) % chunk.len();
            }
        }
        server.poll(now);
        while let Some(ev) = server.tcp.poll_event() {
            if let Event::Data { data, .. } = ev {
                received += data.len();
            }
        }
    }
    let wall = started.unwrap().elapsed();
    let cs = client.device.stats();
    let ss = server.device.stats();
    let segs = cs.tx_frames.max(1);
    println!(
        "user_bulk: {mib} MiB in {:.3} s wall = {:.0} MB/s ({:.2} Gbit/s) goodput, one core",
        wall.as_secs_f64(),
        total as f64 / wall.as_secs_f64() / 1e6,
        total as f64 * 8.0 / wall.as_secs_f64() / 1e9
    );
    println!(
        "user_bulk: {} data frames ({:.0} B payload avg), {} ACK frames; {:.0} ns per data segment \
         (both stacks, incl. ACKs); {turns} loop turns, {:.1} ms virtual",
        cs.tx_frames,
        total as f64 / segs as f64,
        ss.tx_frames,
        wall.as_nanos() as f64 / segs as f64,
        now.total_micros() as f64 / 1000.0
    );
}
