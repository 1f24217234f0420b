//! RX/TX through a back-to-back `net_ring` pair (rte_eth_from_rings): frames sent on one
//! port arrive on the other intact, per queue, through the raw queues and through the
//! netstack `Device`.

mod common;

fn main() {
    #[cfg(feature = "dpdk")]
    tests::all();
    #[cfg(not(feature = "dpdk"))]
    common::skip_without_dpdk("ring_pair");
}

#[cfg(feature = "dpdk")]
mod tests {
    use std::collections::VecDeque;

    use bytes::Bytes;
    use dpdk::{ring_pair, DpdkDevice, Eal, Mempool, OffloadConfig, Port, PortSetup};
    use netstack::buf::TxFrame;
    use netstack::dev::Device;
    use netstack::time::Instant;

    use super::common::{cleanup, eal_args, run};

    pub fn all() {
        let (args, prefix) = eal_args("ring_pair", &[]);
        let eal = Eal::init(&args).expect("EAL init");
        run("ring_pair::frames_arrive_intact_per_queue", || raw(eal));
        run("ring_pair::device_roundtrip", || device(eal));
        cleanup(&prefix);
    }

    fn setup(queues: u16, multi_seg: bool) -> PortSetup {
        PortSetup {
            queues,
            rx_descriptors: 256,
            tx_descriptors: 256,
            rss: true,
            promiscuous: false,
            mtu: None,
            offloads: OffloadConfig {
                multi_seg: Some(multi_seg),
                ..OffloadConfig::default()
            },
        }
    }

    fn frame(seed: u32, len: usize) -> Vec<u8> {
        (0..len)
            .map(|i| (seed as usize * 31 + i * 7) as u8)
            .collect()
    }

    fn configure(
        eal: &Eal,
        port: Port,
        queues: u16,
        multi_seg: bool,
    ) -> Vec<(dpdk::RxQueue, dpdk::TxQueue)> {
        let pools: Vec<Mempool> = (0..queues)
            .map(|q| {
                Mempool::create(eal, &format!("p{}q{q}", port.id()), 2047, 64, 2176, -1).unwrap()
            })
            .collect();
        let (pairs, on) = port.configure(&setup(queues, multi_seg), &pools).unwrap();
        println!(
            "  port {} ({}): {on:?}",
            port.id(),
            port.info().unwrap().driver
        );
        pairs
    }

    fn raw(eal: &'static Eal) {
        let (a, b) = ring_pair(eal, "rawpair", 2, 1024).unwrap();
        let mut qa = configure(eal, a, 2, true);
        let mut qb = configure(eal, b, 2, true);
        assert!(a.link().unwrap().up && b.link().unwrap().up);
        for q in 0..2usize {
            let pool = qa[q].0.pool();
            let mut out = Vec::new();
            let mut sent_frames = Vec::new();
            for i in 0..100u32 {
                let data = frame(i + q as u32 * 1000, 60 + (i as usize * 13) % 1454);
                let mut m = pool.alloc().unwrap();
                assert!(m.extend_from_slice(&data));
                out.push(m);
                sent_frames.push(data);
            }
            assert_eq!(qa[q].1.tx_burst(&mut out), 100);
            let mut got = Vec::new();
            while got.len() < 100 {
                assert!(
                    qb[q].0.rx_burst(&mut got, 32) > 0,
                    "frames arrive on queue {q}"
                );
            }
            for (m, want) in got.iter().zip(&sent_frames) {
                assert_eq!(m.data(), &want[..], "frame intact");
            }
            // Nothing crossed to the other queue.
            let mut other = Vec::new();
            assert_eq!(qb[1 - q].0.rx_burst(&mut other, 32), 0);
            // And back, B to A.
            let mut back = std::mem::take(&mut got);
            assert_eq!(qb[q].1.tx_burst(&mut back), 100);
            let mut again = Vec::new();
            while again.len() < 100 {
                qa[q].0.rx_burst(&mut again, 64);
            }
            for (m, want) in again.iter().zip(&sent_frames) {
                assert_eq!(m.data(), &want[..]);
            }
        }
        let s = a.stats().unwrap();
        assert_eq!(s.opackets, 200);
        assert_eq!(s.ipackets, 200);
        println!("  port a stats: {s:?}");
    }

    fn device(eal: &'static Eal) {
        let (a, b) = ring_pair(eal, "devpair", 1, 1024).unwrap();
        let (rxa, txa) = configure(eal, a, 1, true).pop().unwrap();
        let (rxb, txb) = configure(eal, b, 1, true).pop().unwrap();
        let offl = dpdk::Offloads {
            multi_seg: true,
            ..Default::default()
        };
        let mut da = DpdkDevice::new(rxa, txa, offl, 1500);
        let mut db = DpdkDevice::new(rxb, txb, offl, 1500);
        let caps = da.caps();
        assert!(caps.scatter_gather && !caps.tx_checksum && !caps.rx_checksum);

        // Contiguous small, contiguous large (attached), header + payload parts (chained).
        let mut frames = VecDeque::new();
        let mut expect = Vec::new();
        for i in 0..300u32 {
            let f = match i % 3 {
                0 => TxFrame::single(Bytes::from(frame(i, 64))),
                1 => TxFrame::single(Bytes::from(frame(i, 1514))),
                _ => TxFrame {
                    head: Bytes::from(frame(i, 54)),
                    parts: vec![
                        Bytes::from(frame(i + 7, 700)),
                        Bytes::from(frame(i + 9, 760)),
                    ],
                },
            };
            expect.push(f.to_vec());
            frames.push_back(f);
        }
        let mut sent = 0;
        let mut got: Vec<Bytes> = Vec::new();
        while sent < 300 || got.len() < 300 {
            sent += da.tx_burst(Instant::ZERO, &mut frames);
            db.rx_burst(Instant::ZERO, &mut got, 64);
        }
        assert!(frames.is_empty());
        for (g, want) in got.iter().zip(&expect) {
            assert_eq!(&g[..], &want[..], "frame intact through the device pair");
        }
        let (sa, sb) = (da.stats(), db.stats());
        assert_eq!(sa.tx_frames, 300);
        assert_eq!(sb.rx_frames, 300);
        assert_eq!(sa.copied, 0, "sender copied no payload");
        // Chained frames (1 in 3) were flattened by the receiving device: counted.
        assert_eq!(sb.copied, 100 * (54 + 700 + 760));
        drop(got);
        assert_eq!(
            da.pool().in_use() + db.pool().in_use(),
            0,
            "all mbufs returned"
        );

        // Without multi-segment TX the device copies payload once, and counts it.
        let (c, d) = ring_pair(eal, "cpypair", 1, 1024).unwrap();
        let (rxc, txc) = configure(eal, c, 1, false).pop().unwrap();
        let (rxd, txd) = configure(eal, d, 1, false).pop().unwrap();
        let mut dc = DpdkDevice::new(rxc, txc, dpdk::Offloads::default(), 1500);
        let mut dd = DpdkDevice::new(rxd, txd, dpdk::Offloads::default(), 1500);
        assert!(!dc.caps().scatter_gather);
        let f = TxFrame {
            head: Bytes::from(frame(1, 54)),
            parts: vec![Bytes::from(frame(2, 1000))],
        };
        let want = f.to_vec();
        let mut q = VecDeque::from([f]);
        assert_eq!(dc.tx_burst(Instant::ZERO, &mut q), 1);
        let mut got = Vec::new();
        assert_eq!(dd.rx_burst(Instant::ZERO, &mut got, 32), 1);
        assert_eq!(&got[0][..], &want[..]);
        assert_eq!(dc.stats().copied, 1000);
        assert_eq!(
            dd.stats().copied,
            0,
            "a single-segment frame is received without a copy"
        );
    }
}
