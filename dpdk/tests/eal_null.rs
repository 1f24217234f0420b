//! EAL init without hugepages or PCI, a `net_null` port, a receive/transmit burst loop, and
//! the port/queue/mempool counters.

mod common;

fn main() {
    #[cfg(feature = "dpdk")]
    tests::all();
    #[cfg(not(feature = "dpdk"))]
    common::skip_without_dpdk("eal_null");
}

#[cfg(feature = "dpdk")]
mod tests {
    use dpdk::{Eal, Mempool, Port, PortSetup};

    use super::common::{cleanup, eal_args, run};

    pub fn all() {
        let (args, prefix) = eal_args("eal_null", &["net_null0,copy=1,size=64"]);
        let eal = Eal::init(&args).expect("EAL init");
        run("eal_null::eal_init_once", || {
            assert!(Eal::init(&args).is_ok(), "same arguments: same EAL");
            assert!(
                Eal::init(&["--no-huge"]).is_err(),
                "EAL cannot be re-initialised"
            );
            assert!(eal.port_count() >= 1);
        });
        run("eal_null::burst_loop", || burst_loop(eal));
        cleanup(&prefix);
    }

    fn burst_loop(eal: &'static Eal) {
        let port = Port::by_name(eal, "net_null0").expect("net_null0 port");
        let info = port.info().unwrap();
        println!("  net_null0: {info:?}");
        let pool = Mempool::create(eal, "null_pool", 4095, 256, 2176, -1).unwrap();
        let setup = PortSetup {
            queues: 1,
            rx_descriptors: 512,
            tx_descriptors: 512,
            rss: true,
            promiscuous: true,
            mtu: None,
            offloads: Default::default(),
        };
        let (mut queues, offloads) = port.configure(&setup, &[pool]).unwrap();
        println!(
            "  offloads in effect: {offloads:?}, link: {:?}",
            port.link().unwrap()
        );
        let (rx, tx) = &mut queues[0];
        let base = pool.in_use();
        let mut pkts = Vec::new();
        let (mut received, mut sent) = (0usize, 0usize);
        for _ in 0..1000 {
            received += rx.rx_burst(&mut pkts, 32);
            assert!(pkts.iter().all(|m| m.data_len() == 64 && m.nb_segs() == 1));
            sent += tx.tx_burst(&mut pkts);
            pkts.clear(); // frees what the PMD did not take
        }
        assert_eq!(received, 32_000, "net_null delivers full bursts");
        assert_eq!(sent, received, "net_null takes every frame");
        assert_eq!(pool.in_use(), base, "every mbuf went back to the pool");
        let q = rx.stats().snapshot();
        assert_eq!((q.rx_packets, q.rx_bytes), (32_000, 32_000 * 64));
        assert_eq!((q.tx_packets, q.tx_bytes), (32_000, 32_000 * 64));
        let s = port.stats().unwrap();
        println!(
            "  port stats: ipackets {} opackets {} queues[0] {:?}; pool {} of {} in use",
            s.ipackets,
            s.opackets,
            s.queues.first(),
            pool.in_use(),
            pool.size()
        );
        assert_eq!(s.ipackets, 32_000);
        assert_eq!(s.opackets, 32_000);
        port.stop().unwrap();
    }
}
