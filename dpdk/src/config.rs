//! The `[dpdk]` configuration section (TOML, serde), shared by the binaries that can run on
//! DPDK. It is plain data and builds without DPDK.
//!
//! ```toml
//! [dpdk]
//! eal_args = ["-l", "0-1", "--no-huge", "-m", "512", "--no-pci",
//!             "--file-prefix=fs-httpd", "--vdev=net_tap0,iface=dtap0"]
//! port = 0
//! queues = 2            # default: one RX/TX queue pair per worker
//! rx_descriptors = 1024
//! tx_descriptors = 1024
//! idle_sleep = "100us"  # after an idle poll; 0 (default) busy-polls
//! stats_file = "/run/fs-httpd.dpdk"  # rewritten every stats_interval (default 1s)
//! [dpdk.exception]      # optional: these ports go to the kernel through a TAP interface
//! interface = "fsk0"
//! tcp_ports = [22]
//! [dpdk.offloads]
//! rx_checksum = true
//! tx_checksum = true
//! tso = true
//! ```

use std::path::PathBuf;
use std::time::Duration;

use netstack::config::duration;
use serde::Deserialize;

/// `[dpdk]`: EAL arguments, port, queues, descriptors, offloads.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DpdkConfig {
    /// EAL arguments, without the program name (core list, memory, `--no-huge`, `--vdev`,
    /// `--file-prefix`, ...).
    pub eal_args: Vec<String>,
    /// Ethernet port id (ports are numbered in probe order: PCI devices, then `--vdev`s).
    pub port: u16,
    /// RX/TX queue pairs; `None`: one per worker.
    pub queues: Option<u16>,
    /// Descriptors per RX queue (adjusted to the device's limits).
    pub rx_descriptors: u16,
    /// Descriptors per TX queue (adjusted to the device's limits).
    pub tx_descriptors: u16,
    /// Mbufs in each queue's pool. Must cover the RX ring, the TX ring, the per-lcore cache and
    /// what the stack holds (received data not yet consumed, frames in flight).
    pub mbufs_per_queue: u32,
    /// Per-lcore mempool cache size.
    pub mbuf_cache: u32,
    /// Spread flows over the queues with RSS (symmetric Toeplitz key) when the port offers it.
    pub rss: bool,
    /// Receive every frame, not only those for the port's MAC.
    pub promiscuous: bool,
    /// IP MTU to set on the port; `None` keeps the device's.
    pub mtu: Option<u16>,
    /// How long a worker sleeps after a poll that found nothing to do; zero busy-polls, as
    /// DPDK applications usually do (F-Stack's `idle_sleep`).
    #[serde(deserialize_with = "duration")]
    pub idle_sleep: Duration,
    /// A file rewritten every `stats_interval` with the port's and each queue's counters.
    pub stats_file: Option<PathBuf>,
    #[serde(deserialize_with = "duration")]
    pub stats_interval: Duration,
    pub offloads: OffloadConfig,
    /// The exception path to the kernel (F-Stack's KNI), off when absent.
    pub exception: Option<ExceptionConfig>,
}

/// `[dpdk.exception]`: traffic for the kernel, sent to a TAP interface that gets the port's
/// MAC (give it the stack's address and bring it up with `ip`). TCP and UDP to the listed
/// local ports go there, ARP to both, and frames that are neither IPv4 nor ARP; the rest to
/// the stack.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExceptionConfig {
    /// The kernel's TAP interface (created if missing, one queue per worker).
    pub interface: String,
    #[serde(default)]
    pub tcp_ports: Vec<u16>,
    #[serde(default)]
    pub udp_ports: Vec<u16>,
}

impl Default for DpdkConfig {
    fn default() -> Self {
        DpdkConfig {
            eal_args: Vec::new(),
            port: 0,
            queues: None,
            rx_descriptors: 1024,
            tx_descriptors: 1024,
            mbufs_per_queue: 8191,
            mbuf_cache: 256,
            rss: true,
            promiscuous: false,
            mtu: None,
            idle_sleep: Duration::ZERO,
            stats_file: None,
            stats_interval: Duration::from_secs(1),
            offloads: OffloadConfig::default(),
            exception: None,
        }
    }
}

/// `[dpdk.offloads]`: each is used only when the port offers it; otherwise the stack does the
/// work in software.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct OffloadConfig {
    /// Let the NIC verify IPv4/TCP/UDP checksums of received frames.
    pub rx_checksum: bool,
    /// Let the NIC compute IPv4/TCP/UDP checksums of sent frames.
    pub tx_checksum: bool,
    /// TCP segmentation offload.
    pub tso: bool,
    /// Send chained mbufs (header + referenced payload). `None`: when the port advertises
    /// `MULTI_SEGS`. `Some(true)` forces it for software PMDs that pass mbufs through without
    /// advertising it (net_ring, net_null, net_memif); without it payload is copied once.
    pub multi_seg: Option<bool>,
}

impl Default for OffloadConfig {
    fn default() -> Self {
        OffloadConfig {
            rx_checksum: true,
            tx_checksum: true,
            tso: true,
            multi_seg: None,
        }
    }
}

impl DpdkConfig {
    /// Checks values serde cannot: returns the key and the problem.
    pub fn validate(&self) -> Result<(), (&'static str, String)> {
        if self.queues == Some(0) {
            return Err(("queues", "must be at least 1".into()));
        }
        if self.rx_descriptors == 0 || self.tx_descriptors == 0 {
            return Err((
                "rx_descriptors",
                "descriptor counts must be at least 1".into(),
            ));
        }
        let needed = u32::from(self.rx_descriptors) + u32::from(self.tx_descriptors);
        if self.mbufs_per_queue < needed + self.mbuf_cache {
            return Err((
                "mbufs_per_queue",
                format!(
                    "{} is too small: the RX and TX rings and the cache alone take {}",
                    self.mbufs_per_queue,
                    needed + self.mbuf_cache
                ),
            ));
        }
        if self.mbuf_cache > 512 {
            return Err((
                "mbuf_cache",
                "at most 512 (RTE_MEMPOOL_CACHE_MAX_SIZE)".into(),
            ));
        }
        if self.stats_interval.is_zero() {
            return Err(("stats_interval", "must be longer than zero".into()));
        }
        if let Some(x) = &self.exception {
            if x.interface.is_empty() || x.interface.len() > 15 {
                return Err(("interface", "an interface name of 1 to 15 bytes".into()));
            }
        }
        if let Some(mtu) = self.mtu {
            if mtu < 576 {
                return Err(("mtu", "at least 576".into()));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Deserialize)]
    struct File {
        dpdk: DpdkConfig,
    }

    #[test]
    fn parses_a_full_section() {
        let f: File = toml::from_str(
            r#"
            [dpdk]
            eal_args = ["-l", "0", "--no-huge", "-m", "256", "--vdev=net_null0"]
            port = 1
            queues = 2
            rx_descriptors = 512
            [dpdk.offloads]
            tso = false
            multi_seg = true
            [dpdk.exception]
            interface = "fsk0"
            tcp_ports = [22, 2222]
            "#,
        )
        .unwrap();
        assert_eq!(f.dpdk.port, 1);
        assert_eq!(f.dpdk.queues, Some(2));
        assert_eq!(f.dpdk.rx_descriptors, 512);
        assert_eq!(f.dpdk.tx_descriptors, 1024);
        assert!(!f.dpdk.offloads.tso);
        assert!(f.dpdk.offloads.rx_checksum);
        assert_eq!(f.dpdk.offloads.multi_seg, Some(true));
        assert_eq!(f.dpdk.eal_args[5], "--vdev=net_null0");
        let x = f.dpdk.exception.as_ref().unwrap();
        assert_eq!(
            (x.interface.as_str(), &x.tcp_ports[..]),
            ("fsk0", &[22, 2222][..])
        );
        assert!(x.udp_ports.is_empty());
        f.dpdk.validate().unwrap();
    }

    #[test]
    fn rejects_unknown_keys_and_bad_values() {
        assert!(toml::from_str::<File>("[dpdk]\nports = 1\n").is_err());
        let c = DpdkConfig {
            mbufs_per_queue: 100,
            ..DpdkConfig::default()
        };
        assert_eq!(c.validate().unwrap_err().0, "mbufs_per_queue");
    }
}
