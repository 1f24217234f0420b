//! Per-packet cost of the DPDK device layer (netstack `Device` over a DPDK queue pair) on
//! virtual devices, without hugepages:
//! - `rx_null`: `rx_burst` of 32 frames from `net_null` into `Bytes` (zero copy) and drop;
//! - `tx_null_chained`: `tx_burst` of 32 frames, 54-byte header inline + 1400-byte payload
//!   attached as an external buffer, into `net_null` (which frees them);
//! - `ring_roundtrip`: 32 contiguous 64-byte frames sent by one device and received by the
//!   other over a `net_ring` pair.
//!
//! `cargo bench -p dpdk --features dpdk --bench device` (root, or set XDG_RUNTIME_DIR).

use std::collections::VecDeque;
use std::time::Duration;

use bytes::Bytes;
use criterion::{Criterion, Throughput};
use dpdk::{ring_pair, DpdkDevice, Eal, Mempool, OffloadConfig, Offloads, Port, PortSetup};
use netstack::buf::TxFrame;
use netstack::dev::Device;
use netstack::time::Instant;

const BURST: usize = 32;

fn device(eal: &Eal, port: Port, name: &str) -> DpdkDevice {
    let pool = Mempool::create(eal, name, 8191, 256, 2176, -1).unwrap();
    let setup = PortSetup {
        queues: 1,
        rx_descriptors: 1024,
        tx_descriptors: 1024,
        rss: false,
        promiscuous: false,
        mtu: None,
        offloads: OffloadConfig {
            multi_seg: Some(true),
            ..OffloadConfig::default()
        },
    };
    let (mut q, on) = port.configure(&setup, &[pool]).unwrap();
    let (rx, tx) = q.pop().unwrap();
    DpdkDevice::new(
        rx,
        tx,
        Offloads {
            multi_seg: true,
            ..on
        },
        1500,
    )
}

fn main() {
    let prefix = format!("fs-bench-{}", std::process::id());
    let args = dpdk::testing::eal_args(&prefix, &["net_null0", "net_null1,no-rx=1"]);
    let eal = Eal::init(&args).expect("EAL init");
    eal.register_thread().ok();

    let mut c = Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
        .configure_from_args();
    let mut g = c.benchmark_group("dpdk_device");
    g.throughput(Throughput::Elements(BURST as u64));

    let mut null_rx = device(eal, Port::by_name(eal, "net_null0").unwrap(), "b_null0");
    let mut out = Vec::with_capacity(BURST);
    g.bench_function("rx_null", |b| {
        b.iter(|| {
            let n = null_rx.rx_burst(Instant::ZERO, &mut out, BURST);
            assert_eq!(n, BURST);
            out.clear();
        })
    });

    let mut null_tx = device(eal, Port::by_name(eal, "net_null1").unwrap(), "b_null1");
    let head = Bytes::from(vec![0u8; 54]);
    let payload = Bytes::from(vec![1u8; 1400]);
    let mut frames = VecDeque::with_capacity(BURST);
    g.bench_function("tx_null_chained", |b| {
        b.iter(|| {
            for _ in 0..BURST {
                frames.push_back(TxFrame {
                    head: head.clone(),
                    parts: vec![payload.clone()],
                });
            }
            assert_eq!(null_tx.tx_burst(Instant::ZERO, &mut frames), BURST);
        })
    });

    let (pa, pb) = ring_pair(eal, "bench", 1, 4096).unwrap();
    let mut da = device(eal, pa, "b_ra");
    let mut db = device(eal, pb, "b_rb");
    let frame = Bytes::from(vec![2u8; 64]);
    g.bench_function("ring_roundtrip", |b| {
        b.iter(|| {
            for _ in 0..BURST {
                frames.push_back(TxFrame::single(frame.clone()));
            }
            assert_eq!(da.tx_burst(Instant::ZERO, &mut frames), BURST);
            assert_eq!(db.rx_burst(Instant::ZERO, &mut out, BURST), BURST);
            out.clear();
        })
    });
    g.finish();
    c.final_summary();
    dpdk::testing::cleanup(&prefix);
}
