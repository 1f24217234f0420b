//! The zero-copy path: received bytes point into the mbuf's data room (and the mbuf returns to
//! its pool only when the last slice drops); a transmitted payload is the application's memory,
//! attached to an mbuf, not copied. Over `net_ring` pairs, which pass mbuf pointers, so the
//! receiver sees exactly the memory the sender attached.

mod common;

fn main() {
    #[cfg(feature = "dpdk")]
    tests::all();
    #[cfg(not(feature = "dpdk"))]
    common::skip_without_dpdk("zero_copy");
}

#[cfg(feature = "dpdk")]
mod tests {
    use std::collections::VecDeque;
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::Arc;

    use bytes::Bytes;
    use dpdk::{
        ring_pair, DpdkDevice, Eal, Mbuf, Mempool, OffloadConfig, Offloads, Port, PortSetup,
        RxQueue, TxQueue,
    };
    use netstack::buf::TxFrame;
    use netstack::dev::Device;
    use netstack::time::Instant;

    use super::common::{cleanup, eal_args, run};

    /// Application memory that reports when it is released.
    struct AppBuf {
        data: Vec<u8>,
        released: Arc<AtomicBool>,
    }
    impl AsRef<[u8]> for AppBuf {
        fn as_ref(&self) -> &[u8] {
            &self.data
        }
    }
    impl Drop for AppBuf {
        fn drop(&mut self) {
            self.released.store(true, Ordering::SeqCst);
        }
    }

    fn app_payload(len: usize) -> (Bytes, Arc<AtomicBool>) {
        let released = Arc::new(AtomicBool::new(false));
        let data = (0..len).map(|i| (i * 3) as u8).collect();
        let b = Bytes::from_owner(AppBuf {
            data,
            released: released.clone(),
        });
        (b, released)
    }

    fn configure(eal: &Eal, port: Port, name: &str) -> (RxQueue, TxQueue, Mempool) {
        let setup = PortSetup {
            queues: 1,
            rx_descriptors: 256,
            tx_descriptors: 256,
            rss: false,
            promiscuous: false,
            mtu: None,
            offloads: OffloadConfig {
                multi_seg: Some(true),
                ..OffloadConfig::default()
            },
        };
        let pool = Mempool::create(eal, name, 1023, 0, 2176, -1).unwrap();
        let (mut q, _) = port.configure(&setup, &[pool]).unwrap();
        let (rx, tx) = q.pop().unwrap();
        (rx, tx, pool)
    }

    fn recv_one(rx: &mut RxQueue) -> Mbuf {
        let mut got = Vec::new();
        for _ in 0..1000 {
            if rx.rx_burst(&mut got, 1) == 1 {
                return got.pop().unwrap();
            }
        }
        panic!("no frame arrived");
    }

    pub fn all() {
        let (args, prefix) = eal_args("zero_copy", &[]);
        let eal = Eal::init(&args).expect("EAL init");
        let (a, b) = ring_pair(eal, "zc", 1, 1024).unwrap();
        let (_rxa, mut txa, pa) = configure(eal, a, "zc_a");
        let (mut rxb, _txb, _pb) = configure(eal, b, "zc_b");

        run("zero_copy::rx_bytes_point_into_the_mbuf_data_room", || {
            let frame: Vec<u8> = (0..1000u32).map(|i| i as u8).collect();
            let mut m = pa.alloc().unwrap();
            assert!(m.extend_from_slice(&frame));
            assert_eq!(txa.tx_burst(&mut vec![m]), 1);

            let m = recv_one(&mut rxb);
            let (room, room_len) = m.buffer();
            let data_ptr = m.data().as_ptr();
            let held = pa.in_use();
            let bytes = m.into_bytes().expect("single segment");
            assert_eq!(
                bytes.as_ptr(),
                data_ptr,
                "Bytes is the mbuf's data, not a copy"
            );
            let at = bytes.as_ptr() as usize - room as usize;
            assert!(at + bytes.len() <= room_len, "inside the data room");
            assert_eq!(&bytes[..], &frame[..]);
            // The stack slices the payload out and drops the frame: the slice keeps the mbuf.
            let payload = bytes.slice(54..);
            assert_eq!(payload.as_ptr(), offset_ptr(data_ptr, 54));
            drop(bytes);
            assert_eq!(pa.in_use(), held, "the slice still holds the mbuf");
            drop(payload);
            assert_eq!(
                pa.in_use(),
                held - 1,
                "last slice dropped: mbuf back in its pool"
            );
        });

        run("zero_copy::tx_payload_is_attached_not_copied", || {
            let (payload, released) = app_payload(1400);
            let app_ptr = payload.as_ptr();
            let mut head = pa.alloc().unwrap();
            assert!(head.extend_from_slice(&[0xaa; 54]));
            let seg = Mbuf::from_bytes(&pa, payload.clone()).unwrap();
            assert_eq!(
                seg.data().as_ptr(),
                app_ptr,
                "the mbuf points at the app's memory"
            );
            head.chain(seg).unwrap();
            assert_eq!((head.nb_segs(), head.pkt_len()), (2, 1454));
            drop(payload); // the application lets go; the mbuf keeps the memory alive
            assert!(!released.load(Ordering::SeqCst));
            assert_eq!(txa.tx_burst(&mut vec![head]), 1);

            let got = recv_one(&mut rxb);
            let segs: Vec<&[u8]> = got.segments().collect();
            assert_eq!(segs.len(), 2);
            assert_eq!(
                segs[1].as_ptr(),
                app_ptr,
                "the receiver reads the app's memory"
            );
            assert!(segs[1].iter().enumerate().all(|(i, &b)| b == (i * 3) as u8));
            assert!(!released.load(Ordering::SeqCst));
            drop(got);
            assert!(released.load(Ordering::SeqCst), "freed with the mbuf");
        });

        let (c, d) = ring_pair(eal, "zcd", 1, 1024).unwrap();
        let (rxc, txc, _pc) = configure(eal, c, "zcd_c");
        let (mut rxd, mut txd, pd) = configure(eal, d, "zcd_d");
        let mut dev = DpdkDevice::new(
            rxc,
            txc,
            Offloads {
                multi_seg: true,
                ..Offloads::default()
            },
            1500,
        );

        run("zero_copy::device_tx_attaches_the_payload", || {
            let (payload, released) = app_payload(1200);
            let app_ptr = payload.as_ptr();
            let mut q = VecDeque::from([TxFrame {
                head: Bytes::from(vec![0x55u8; 54]),
                parts: vec![payload],
            }]);
            assert_eq!(dev.tx_burst(Instant::ZERO, &mut q), 1);
            let got = recv_one(&mut rxd);
            let segs: Vec<&[u8]> = got.segments().collect();
            assert_eq!(segs[0], &[0x55u8; 54][..]);
            assert_eq!(
                segs[1].as_ptr(),
                app_ptr,
                "payload sent from the app's memory"
            );
            assert_eq!(dev.stats().copied, 0);
            drop(got);
            assert!(released.load(Ordering::SeqCst));
        });

        run("zero_copy::device_rx_hands_over_the_mbuf", || {
            let mut m = pd.alloc().unwrap();
            assert!(m.extend_from_slice(&[7u8; 300]));
            let mbuf_data = m.data().as_ptr();
            assert_eq!(txd.tx_burst(&mut vec![m]), 1);
            let mut out = Vec::new();
            assert_eq!(dev.rx_burst(Instant::ZERO, &mut out, 32), 1);
            assert_eq!(
                out[0].as_ptr(),
                mbuf_data,
                "the stack gets the mbuf's bytes"
            );
            assert_eq!(dev.stats().copied, 0);
            let held = pd.in_use();
            drop(out);
            assert_eq!(pd.in_use(), held - 1);
        });
        cleanup(&prefix);
    }

    fn offset_ptr(p: *const u8, n: usize) -> *const u8 {
        p.wrapping_add(n)
    }
}
