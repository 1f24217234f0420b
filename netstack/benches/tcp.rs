//! TCP engine fast paths, ns per segment:
//! - `rx_data_segment`: an in-order 1448-byte data segment (timestamps on) through
//!   `Tcp::input` -> `Data` event -> ACK scheduling, with `dispatch` of the ACK every second
//!   segment. Includes making the frame's `Bytes` (a 1.5 KB copy, measured alone as
//!   `rx_frame_copy_baseline`).
//! - `tx_data_segment`: `Tcp::send` of 1448 bytes plus `dispatch` of the MSS segment
//!   (headers built, payload referenced), with one ACK input per two segments.
//!
//! Run: `cargo bench -p netstack --bench tcp`.

use std::hint::black_box;
use std::net::SocketAddrV4;

use bytes::Bytes;
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use netstack::tcp::{Event, Handle, Tcp, TcpConfig};
use netstack::time::Instant;
use netstack::wire::{ChecksumCaps, Ipv4Addr, TcpFlags, TcpPacket, TcpRepr, TcpTimestamp};

const PEER_IP: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 1);
const OUR_IP: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 2);
const MSS: usize = 1448;

fn frame(repr: &TcpRepr<'_>, payload: &[u8]) -> Vec<u8> {
    let mut r = *repr;
    r.payload = payload;
    let mut buf = vec![0u8; r.buffer_len()];
    r.emit(
        &mut TcpPacket::new_unchecked(&mut buf[..]),
        PEER_IP,
        OUR_IP,
        ChecksumCaps::SOFTWARE,
    );
    buf
}

fn seg(flags: TcpFlags, seq: u32, ack: u32, tsval: u32, tsecr: u32) -> TcpRepr<'static> {
    let mut r = TcpRepr::new(40000, 80, flags, seq, ack);
    r.window_len = 65535;
    r.timestamp = Some(TcpTimestamp { tsval, tsecr });
    r
}

/// An established connection, peer side scripted: (engine, handle, our next seq, peer next
/// seq, our TSval echo).
fn established(now: Instant) -> (Tcp, Handle, u32, u32, u32) {
    let cfg = TcpConfig {
        rx_buffer: 4 << 20,
        tx_buffer: 4 << 20,
        ..TcpConfig::default()
    };
    let mut tcp = Tcp::new(cfg, now, [9; 16]);
    tcp.listen(SocketAddrV4::new(OUR_IP, 80), 128).unwrap();
    let mut syn = seg(TcpFlags::SYN, 1000, 0, 1, 0);
    syn.max_seg_size = Some(1460);
    syn.window_scale = Some(7);
    syn.sack_permitted = true;
    tcp.input(now, PEER_IP, OUR_IP, Bytes::from(frame(&syn, &[])), false);
    let mut synack = None;
    tcp.dispatch(now, |s| {
        synack = Some((s.repr.seq_number, s.repr.timestamp.unwrap().tsval));
        true
    });
    let (iss, tsval) = synack.unwrap();
    let ack = seg(TcpFlags::ACK, 1001, iss + 1, 2, tsval);
    tcp.input(now, PEER_IP, OUR_IP, Bytes::from(frame(&ack, &[])), false);
    let h = match tcp.poll_event() {
        Some(Event::Accepted { handle, .. }) => handle,
        e => panic!("{e:?}"),
    };
    (tcp, h, iss + 1, 1001, tsval)
}

fn bench_rx(c: &mut Criterion) {
    let mut g = c.benchmark_group("tcp");
    g.throughput(Throughput::Elements(1));
    let payload = vec![0x5au8; MSS];
    let template = frame(&seg(TcpFlags::ACK, 0, 0, 0, 0), &payload);
    g.bench_function("rx_frame_copy_baseline", |b| {
        b.iter(|| black_box(Bytes::copy_from_slice(black_box(&template))))
    });
    g.bench_function("rx_data_segment", |b| {
        let now = Instant::from_millis(1000);
        let (mut tcp, _h, s, mut p, tsecr) = established(now);
        let mut buf = frame(&seg(TcpFlags::ACK, p, s, 3, tsecr), &payload);
        let mut acks = 0u64;
        b.iter(|| {
            buf[4..8].copy_from_slice(&p.to_be_bytes());
            let bytes = Bytes::copy_from_slice(&buf);
            tcp.input(now, PEER_IP, OUR_IP, bytes, true);
            while let Some(e) = tcp.poll_event() {
                black_box(e);
            }
            tcp.dispatch(now, |s| {
                acks += black_box(s.repr.ack_number) as u64 & 1;
                true
            });
            p = p.wrapping_add(MSS as u32);
        });
        black_box(acks);
    });
    g.bench_function("tx_data_segment", |b| {
        let now = Instant::from_millis(1000);
        let (mut tcp, h, s, p, tsecr) = established(now);
        let data = Bytes::from(vec![0xa5u8; MSS]);
        let mut sent = 0u32;
        let mut n = 0u64;
        let mut ack_buf = frame(&seg(TcpFlags::ACK, p, s, 4, tsecr), &[]);
        b.iter(|| {
            tcp.send(h, data.clone()).unwrap();
            tcp.dispatch(now, |seg| {
                black_box(seg.repr.header_len() + seg.payload_len());
                true
            });
            sent = sent.wrapping_add(MSS as u32);
            n += 1;
            if n.is_multiple_of(2) {
                ack_buf[8..12].copy_from_slice(&s.wrapping_add(sent).to_be_bytes());
                tcp.input(now, PEER_IP, OUR_IP, Bytes::copy_from_slice(&ack_buf), true);
            }
        });
    });
    g.finish();
}

criterion_group!(benches, bench_rx);
criterion_main!(benches);
