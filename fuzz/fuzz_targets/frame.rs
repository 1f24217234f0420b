//! Arbitrary bytes as Ethernet frames into a `user::Stack` over a memory wire.
//!
//! Input: byte 0 = flags (bit 0: the device claims verified RX checksums, so bad checksums
//! reach TCP/UDP parsing and the TCP state machine; bit 1: an active connection is opened to
//! 198.18.0.1:80 first), then frames as `[len: u16 LE][frame bytes]` (a short tail is one
//! last frame), at most 16; after each frame the clock advances by `len % 256` ms and the
//! stack polls (input, timers, output). The stack listens on TCP 198.18.0.2:80; other
//! ports answer with RST / ICMP port unreachable.
#![no_main]

use std::net::{Ipv4Addr, SocketAddrV4};
use std::time::Duration;

use bytes::Bytes;
use libfuzzer_sys::fuzz_target;
use netstack::buf::Pool;
use netstack::dev::{Caps, Device, MemoryWire};
use netstack::ip::IfaceConfig;
use netstack::tcp::TcpConfig;
use netstack::time::Instant;
use netstack::user::Stack;
use netstack::wire::EthernetAddress;

fuzz_target!(|data: &[u8]| {
    let Some((&flags, mut rest)) = data.split_first() else {
        return;
    };
    let (mut a, _peer) = MemoryWire::pair(64, 64);
    a.set_caps(Caps {
        rx_checksum: flags & 1 != 0,
        ..a.caps()
    });
    let iface = IfaceConfig {
        mac: EthernetAddress([2, 0, 0, 0, 0, 2]),
        addr: Ipv4Addr::new(198, 18, 0, 2),
        prefix: 24,
        gateway: None,
        mtu: 1500,
    };
    let mut now = Instant::from_millis(1);
    let mut stack = Stack::new(
        a,
        iface,
        TcpConfig::default(),
        Pool::with_capacity(64),
        now,
        [7; 16],
    );
    let local = SocketAddrV4::new(Ipv4Addr::new(198, 18, 0, 2), 80);
    stack.tcp.listen(local, 16).unwrap();
    if flags & 2 != 0 {
        let remote = SocketAddrV4::new(Ipv4Addr::new(198, 18, 0, 1), 80);
        let _ = stack
            .tcp
            .connect(SocketAddrV4::new(*local.ip(), 0), remote, now);
    }
    for _ in 0..16 {
        if rest.is_empty() {
            break;
        }
        let frame = if rest.len() >= 2 {
            let len = u16::from_le_bytes([rest[0], rest[1]]) as usize;
            let body = &rest[2..];
            let n = len.min(body.len());
            rest = &body[n..];
            &body[..n]
        } else {
            let f = rest;
            rest = &[];
            f
        };
        stack.device.inject(Bytes::copy_from_slice(frame));
        now += Duration::from_millis((frame.len() % 256) as u64);
        stack.poll(now);
        while stack.tcp.poll_event().is_some() {}
        while stack.device.take_sent().is_some() {}
    }
});
