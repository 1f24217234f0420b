//! Cross-check: DPDK's `rte_softrss` against netstack's software Toeplitz.

mod common;

fn main() {
    #[cfg(feature = "dpdk")]
    tests::all();
    #[cfg(not(feature = "dpdk"))]
    common::skip_without_dpdk("toeplitz");
}

#[cfg(feature = "dpdk")]
mod tests {
    use std::net::Ipv4Addr;

    use netstack::rss::{hash_v4_ports, MICROSOFT_KEY, SYMMETRIC_KEY};

    use super::common::run;

    pub fn all() {
        run("toeplitz::microsoft_vectors", microsoft_vectors);
        run(
            "toeplitz::softrss_matches_netstack",
            softrss_matches_netstack,
        );
        run(
            "toeplitz::symmetric_key_is_symmetric",
            symmetric_key_is_symmetric,
        );
    }

    /// The Microsoft RSS verification suite (IPv4 with TCP ports).
    fn microsoft_vectors() {
        let cases: [(&str, u16, &str, u16, u32); 5] = [
            ("66.9.149.187", 2794, "161.142.100.80", 1766, 0x51cc_c178),
            ("199.92.111.2", 14230, "65.69.140.83", 4739, 0xc626_b0ea),
            ("24.19.198.95", 12898, "12.22.207.184", 38024, 0x5c2b_394a),
            ("38.27.205.30", 48228, "209.142.163.6", 2217, 0xafc7_327f),
            ("153.39.163.191", 44251, "202.188.127.2", 1303, 0x10e8_28a2),
        ];
        for (src, sport, dst, dport, want) in cases {
            let (s, d): (Ipv4Addr, Ipv4Addr) = (src.parse().unwrap(), dst.parse().unwrap());
            let dpdk = dpdk::softrss_v4(&MICROSOFT_KEY, s, d, sport, dport);
            assert_eq!(dpdk, want, "rte_softrss {src}:{sport} -> {dst}:{dport}");
            assert_eq!(hash_v4_ports(&MICROSOFT_KEY, s, d, sport, dport), want);
        }
    }

    fn softrss_matches_netstack() {
        // xorshift: deterministic pseudo-random tuples.
        let mut x = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        for key in [&MICROSOFT_KEY, &SYMMETRIC_KEY] {
            for _ in 0..100_000 {
                let r = next();
                let s = Ipv4Addr::from(r as u32);
                let d = Ipv4Addr::from((r >> 32) as u32);
                let ports = next();
                let (sp, dp) = (ports as u16, (ports >> 16) as u16);
                assert_eq!(
                    dpdk::softrss_v4(key, s, d, sp, dp),
                    hash_v4_ports(key, s, d, sp, dp),
                    "{s}:{sp} -> {d}:{dp}"
                );
            }
        }
    }

    fn symmetric_key_is_symmetric() {
        let (a, b) = (Ipv4Addr::new(10, 0, 0, 1), Ipv4Addr::new(192, 168, 7, 9));
        for (p, q) in [(80u16, 51000u16), (6379, 40000), (1, 65535)] {
            assert_eq!(
                dpdk::softrss_v4(&SYMMETRIC_KEY, a, b, p, q),
                dpdk::softrss_v4(&SYMMETRIC_KEY, b, a, q, p)
            );
        }
    }
}
