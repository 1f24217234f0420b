//! Wire-format micro-benchmarks: checksum throughput, TCP header parse, and emit of an
//! Ethernet + IPv4 + TCP header (the per-segment transmit cost without payload copy).
//!
//! Run: `cargo bench -p netstack --bench wire`.

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use netstack::wire::{
    checksum, ethernet, ipv4, tcp, ChecksumCaps, EtherType, EthernetAddress, EthernetFrame,
    EthernetRepr, IpProtocol, Ipv4Addr, Ipv4Packet, Ipv4Repr, TcpFlags, TcpPacket, TcpRepr,
    TcpTimestamp,
};

const SRC: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 1);
const DST: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 2);

fn bench_checksum(c: &mut Criterion) {
    let mut g = c.benchmark_group("checksum");
    let data: Vec<u8> = (0..9000u32).map(|i| (i * 31 + 7) as u8).collect();
    for len in [64usize, 1500, 9000] {
        g.throughput(Throughput::Bytes(len as u64));
        g.bench_function(format!("{len}B"), |b| {
            b.iter(|| checksum::checksum(black_box(&data[..len])))
        });
    }
    g.finish();
}

/// A data segment as Linux sends it: ACK|PSH with timestamps, 100 bytes of payload.
fn segment() -> Vec<u8> {
    let payload = [0x61u8; 100];
    let r = TcpRepr {
        window_len: 502,
        timestamp: Some(TcpTimestamp {
            tsval: 123_456,
            tsecr: 654_321,
        }),
        payload: &payload,
        ..TcpRepr::new(
            40000,
            80,
            TcpFlags::ACK | TcpFlags::PSH,
            1_000_000,
            2_000_000,
        )
    };
    let mut buf = vec![0u8; r.buffer_len()];
    r.emit(
        &mut TcpPacket::new_unchecked(&mut buf[..]),
        SRC,
        DST,
        ChecksumCaps::SOFTWARE,
    );
    buf
}

fn bench_tcp_parse(c: &mut Criterion) {
    let seg = segment();
    let mut g = c.benchmark_group("tcp_parse");
    g.bench_function("verify_checksum", |b| {
        b.iter(|| {
            let p = TcpPacket::new_checked(black_box(&seg[..])).unwrap();
            TcpRepr::parse(&p, SRC, DST, ChecksumCaps::SOFTWARE)
                .unwrap()
                .seq_number
        })
    });
    g.bench_function("offloaded_checksum", |b| {
        b.iter(|| {
            let p = TcpPacket::new_checked(black_box(&seg[..])).unwrap();
            TcpRepr::parse(&p, SRC, DST, ChecksumCaps::OFFLOAD)
                .unwrap()
                .seq_number
        })
    });
    g.finish();
}

fn bench_emit(c: &mut Criterion) {
    let payload = vec![0x62u8; 1448];
    let eth = EthernetRepr {
        src_addr: EthernetAddress([2, 0, 0, 0, 0, 1]),
        dst_addr: EthernetAddress([2, 0, 0, 0, 0, 2]),
        ethertype: EtherType::Ipv4,
    };
    let tcp = TcpRepr {
        window_len: 502,
        timestamp: Some(TcpTimestamp { tsval: 1, tsecr: 2 }),
        ..TcpRepr::new(80, 40000, TcpFlags::ACK, 7, 9)
    };
    let tcp_len = tcp.header_len() + payload.len();
    let ip = Ipv4Repr::new(DST, SRC, IpProtocol::Tcp, tcp_len);
    let mut hdr = [0u8; 14 + 20 + 60];
    let mut g = c.benchmark_group("emit_eth_ipv4_tcp");
    // Header into headroom, payload referenced: the zero-copy transmit path.
    g.bench_function("headers_checksum_1448B_payload", |b| {
        b.iter(|| {
            emit_headers(
                &mut hdr,
                &eth,
                &ip,
                &tcp,
                &[&payload],
                ChecksumCaps::SOFTWARE,
            )
        })
    });
    g.bench_function("headers_checksum_offloaded", |b| {
        b.iter(|| {
            emit_headers(
                &mut hdr,
                &eth,
                &ip,
                &tcp,
                &[&payload],
                ChecksumCaps::OFFLOAD,
            )
        })
    });
    g.finish();
}

fn emit_headers(
    hdr: &mut [u8],
    eth: &EthernetRepr,
    ip: &Ipv4Repr,
    tcp: &TcpRepr,
    payload: &[&[u8]],
    caps: ChecksumCaps,
) -> usize {
    let (e, rest) = hdr.split_at_mut(ethernet::HEADER_LEN);
    eth.emit(&mut EthernetFrame::new_unchecked(e));
    let (i, t) = rest.split_at_mut(ipv4::HEADER_LEN);
    ip.emit(&mut Ipv4Packet::new_unchecked(i), caps);
    let n = tcp.emit_header(t, ip.src_addr, ip.dst_addr, black_box(payload), caps);
    black_box(ethernet::HEADER_LEN + ipv4::HEADER_LEN + n.min(tcp::MAX_HEADER_LEN))
}

criterion_group!(benches, bench_checksum, bench_tcp_parse, bench_emit);
criterion_main!(benches);
