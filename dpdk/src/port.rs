//! Ethernet ports: capabilities, configuration (one RX/TX queue pair per worker, RSS with a
//! symmetric Toeplitz key, offloads), link status and statistics.

use std::ffi::{CStr, CString};
use std::sync::Arc;

use dpdk_sys as sys;

use crate::config::{DpdkConfig, OffloadConfig};
use crate::eal::{check, Eal, Error};
use crate::mbuf::Mempool;
use crate::queue::{QueueStats, RxQueue, TxQueue};

/// An Ethernet port (`port_id`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Port {
    id: u16,
}

/// What the port can do (`rte_eth_dev_info`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PortInfo {
    pub driver: String,
    pub max_rx_queues: u16,
    pub max_tx_queues: u16,
    /// `RTE_ETH_RX_OFFLOAD_*` bits.
    pub rx_offload_capa: u64,
    /// `RTE_ETH_TX_OFFLOAD_*` bits.
    pub tx_offload_capa: u64,
    /// `RTE_ETH_RSS_*` hash types; zero without RSS.
    pub flow_type_rss_offloads: u64,
    pub reta_size: u16,
    pub hash_key_size: u8,
    pub min_mtu: u16,
    pub max_mtu: u16,
}

impl PortInfo {
    /// IPv4, TCP and UDP checksums verified on receive.
    pub fn rx_checksum(&self) -> bool {
        self.rx_offload_capa & RX_CSUM == RX_CSUM
    }
    /// IPv4, TCP and UDP checksums computed on transmit.
    pub fn tx_checksum(&self) -> bool {
        self.tx_offload_capa & TX_CSUM == TX_CSUM
    }
    pub fn tso(&self) -> bool {
        self.tx_offload_capa & sys::RTE_ETH_TX_OFFLOAD_TCP_TSO != 0
    }
    pub fn multi_seg(&self) -> bool {
        self.tx_offload_capa & sys::RTE_ETH_TX_OFFLOAD_MULTI_SEGS != 0
    }
    pub fn rss(&self) -> bool {
        self.flow_type_rss_offloads != 0
    }
}

const RX_CSUM: u64 = sys::RTE_ETH_RX_OFFLOAD_IPV4_CKSUM
    | sys::RTE_ETH_RX_OFFLOAD_TCP_CKSUM
    | sys::RTE_ETH_RX_OFFLOAD_UDP_CKSUM;
const TX_CSUM: u64 = sys::RTE_ETH_TX_OFFLOAD_IPV4_CKSUM
    | sys::RTE_ETH_TX_OFFLOAD_TCP_CKSUM
    | sys::RTE_ETH_TX_OFFLOAD_UDP_CKSUM;

/// Offloads in effect on a configured port (requested and offered).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Offloads {
    pub rx_checksum: bool,
    pub tx_checksum: bool,
    pub tso: bool,
    /// Chained mbufs are sent as is (scatter-gather).
    pub multi_seg: bool,
    /// RSS spreads flows over the queues, with [`netstack::rss::SYMMETRIC_KEY`].
    pub rss: bool,
}

/// How to set a port up; see [`PortSetup::from_config`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PortSetup {
    pub queues: u16,
    pub rx_descriptors: u16,
    pub tx_descriptors: u16,
    pub rss: bool,
    pub promiscuous: bool,
    pub mtu: Option<u16>,
    pub offloads: OffloadConfig,
}

impl PortSetup {
    /// From the `[dpdk]` section; `workers` is used when `queues` is not set.
    pub fn from_config(c: &DpdkConfig, workers: u16) -> PortSetup {
        PortSetup {
            queues: c.queues.unwrap_or(workers).max(1),
            rx_descriptors: c.rx_descriptors,
            tx_descriptors: c.tx_descriptors,
            rss: c.rss,
            promiscuous: c.promiscuous,
            mtu: c.mtu,
            offloads: c.offloads.clone(),
        }
    }
}

/// Link status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Link {
    pub up: bool,
    pub speed_mbps: u32,
    pub full_duplex: bool,
}

/// Port counters (`rte_eth_stats`), with the per-queue hardware counters (the first 16
/// queues, as DPDK keeps them).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PortStats {
    pub ipackets: u64,
    pub opackets: u64,
    pub ibytes: u64,
    pub obytes: u64,
    /// RX drops because the RX ring was full.
    pub imissed: u64,
    pub ierrors: u64,
    pub oerrors: u64,
    /// RX failures to get an mbuf from the pool.
    pub rx_nombuf: u64,
    pub queues: Vec<QueueHwStats>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct QueueHwStats {
    pub ipackets: u64,
    pub opackets: u64,
    pub ibytes: u64,
    pub obytes: u64,
    pub errors: u64,
}

impl Port {
    /// Port `id`, if it exists.
    pub fn new(_eal: &Eal, id: u16) -> Result<Port, Error> {
        // SAFETY: EAL is initialised; the call only checks the id.
        if unsafe { sys::rte_eth_dev_is_valid_port(id) } == 0 {
            return Err(Error {
                op: "rte_eth_dev_is_valid_port",
                errno: 19,
            });
        }
        Ok(Port { id })
    }

    /// The port of the device named `name` (e.g. `net_null0`).
    pub fn by_name(_eal: &Eal, name: &str) -> Result<Port, Error> {
        let cname = CString::new(name).map_err(|_| Error {
            op: "rte_eth_dev_get_port_by_name",
            errno: 22,
        })?;
        let mut id = 0u16;
        // SAFETY: valid C string and out pointer.
        check("rte_eth_dev_get_port_by_name", unsafe {
            sys::rte_eth_dev_get_port_by_name(cname.as_ptr(), &mut id)
        })?;
        Ok(Port { id })
    }

    pub fn id(&self) -> u16 {
        self.id
    }

    /// NUMA socket of the device (-1 when unknown, as for virtual devices).
    pub fn socket(&self) -> i32 {
        // SAFETY: the port id is valid.
        unsafe { sys::rte_eth_dev_socket_id(self.id) }
    }

    pub fn info(&self) -> Result<PortInfo, Error> {
        let mut info = sys::rte_eth_dev_info::default();
        // SAFETY: the port id is valid; `info` is a properly sized out struct.
        check("rte_eth_dev_info_get", unsafe {
            sys::rte_eth_dev_info_get(self.id, &mut info)
        })?;
        let driver = if info.driver_name.is_null() {
            String::new()
        } else {
            // SAFETY: the driver name is a static NUL-terminated string of the PMD.
            unsafe { CStr::from_ptr(info.driver_name) }
                .to_string_lossy()
                .into_owned()
        };
        Ok(PortInfo {
            driver,
            max_rx_queues: info.max_rx_queues,
            max_tx_queues: info.max_tx_queues,
            rx_offload_capa: info.rx_offload_capa,
            tx_offload_capa: info.tx_offload_capa,
            flow_type_rss_offloads: info.flow_type_rss_offloads,
            reta_size: info.reta_size,
            hash_key_size: info.hash_key_size,
            min_mtu: info.min_mtu,
            max_mtu: info.max_mtu,
        })
    }

    /// Configures and starts the port with `setup.queues` RX/TX queue pairs, queue `i`
    /// receiving into `pools[i]` (one pool per worker), and returns the queue handles, one
    /// pair per worker, with the offloads in effect.
    pub fn configure(
        &self,
        setup: &PortSetup,
        pools: &[Mempool],
    ) -> Result<(Vec<(RxQueue, TxQueue)>, Offloads), Error> {
        let info = self.info()?;
        let n = setup.queues;
        if n == 0 || n > info.max_rx_queues || n > info.max_tx_queues || pools.len() != n as usize {
            return Err(Error {
                op: "port configure (queue count exceeds the device's or the pools given)",
                errno: 22,
            });
        }
        let want = &setup.offloads;
        let mut on = Offloads {
            rx_checksum: want.rx_checksum && info.rx_checksum(),
            tx_checksum: want.tx_checksum && info.tx_checksum() && !broken_tx_checksum(&info),
            multi_seg: want.multi_seg.unwrap_or_else(|| info.multi_seg()),
            ..Offloads::default()
        };
        on.tso = want.tso && info.tso() && on.tx_checksum && on.multi_seg;

        let mut conf = sys::rte_eth_conf::default();
        if on.rx_checksum {
            conf.rxmode.offloads |= RX_CSUM;
        }
        if on.tx_checksum {
            conf.txmode.offloads |= TX_CSUM;
        }
        if on.tso {
            conf.txmode.offloads |= sys::RTE_ETH_TX_OFFLOAD_TCP_TSO;
        }
        if on.multi_seg && info.multi_seg() {
            conf.txmode.offloads |= sys::RTE_ETH_TX_OFFLOAD_MULTI_SEGS;
        }
        // The key must outlive rte_eth_dev_configure (DPDK copies it into the device).
        let key = symmetric_key(info.hash_key_size.max(40) as usize);
        let rss_hf = info.flow_type_rss_offloads
            & (sys::RTE_ETH_RSS_IP | sys::RTE_ETH_RSS_TCP | sys::RTE_ETH_RSS_UDP);
        if setup.rss && n > 1 && rss_hf != 0 {
            on.rss = true;
            conf.rxmode.mq_mode = sys::RTE_ETH_MQ_RX_RSS;
            conf.rx_adv_conf.rss_conf.rss_key = key.as_ptr() as *mut u8;
            conf.rx_adv_conf.rss_conf.rss_key_len = key.len() as u8;
            conf.rx_adv_conf.rss_conf.rss_hf = rss_hf;
            // Deliver the NIC's hash in the mbuf when it can (`Mbuf::rss_hash`).
            conf.rxmode.offloads |= info.rx_offload_capa & sys::RTE_ETH_RX_OFFLOAD_RSS_HASH;
        }
        // SAFETY: valid port, `conf` fully initialised (defaults + fields above), key alive.
        check("rte_eth_dev_configure", unsafe {
            sys::rte_eth_dev_configure(self.id, n, n, &conf)
        })?;
        if let Some(mtu) = setup.mtu {
            // SAFETY: valid, configured port.
            check("rte_eth_dev_set_mtu", unsafe {
                sys::rte_eth_dev_set_mtu(self.id, mtu)
            })?;
        }
        let (mut nb_rxd, mut nb_txd) = (setup.rx_descriptors, setup.tx_descriptors);
        // SAFETY: valid port, out pointers to locals.
        check("rte_eth_dev_adjust_nb_rx_tx_desc", unsafe {
            sys::rte_eth_dev_adjust_nb_rx_tx_desc(self.id, &mut nb_rxd, &mut nb_txd)
        })?;
        let mut dev_info = sys::rte_eth_dev_info::default();
        // SAFETY: as in `info`.
        check("rte_eth_dev_info_get", unsafe {
            sys::rte_eth_dev_info_get(self.id, &mut dev_info)
        })?;
        let socket = self.socket().max(0) as u32;
        for q in 0..n {
            let mut rxconf = dev_info.default_rxconf;
            rxconf.offloads = conf.rxmode.offloads;
            let mut txconf = dev_info.default_txconf;
            txconf.offloads = conf.txmode.offloads;
            // SAFETY: configured port, queue index below the configured count, valid pool that
            // lives for the process, conf structs valid for the call.
            check("rte_eth_rx_queue_setup", unsafe {
                sys::rte_eth_rx_queue_setup(
                    self.id,
                    q,
                    nb_rxd,
                    socket,
                    &rxconf,
                    pools[q as usize].as_ptr(),
                )
            })?;
            // SAFETY: as above.
            check("rte_eth_tx_queue_setup", unsafe {
                sys::rte_eth_tx_queue_setup(self.id, q, nb_txd, socket, &txconf)
            })?;
        }
        // SAFETY: configured port with all queues set up.
        check("rte_eth_dev_start", unsafe {
            sys::rte_eth_dev_start(self.id)
        })?;
        if setup.promiscuous {
            // SAFETY: started port. Not every PMD supports it; ignore ENOTSUP.
            unsafe { sys::rte_eth_promiscuous_enable(self.id) };
        }
        if on.rss && info.reta_size > 0 {
            // Round-robin RETA, the table netstack::rss::Reta::round_robin models. A PMD that
            // rejects the update keeps its own (also round-robin by default).
            let _ = self.set_reta_round_robin(info.reta_size, n);
        }
        let pairs = (0..n)
            .map(|q| {
                let stats = Arc::new(QueueStats::default());
                (
                    RxQueue::new(self.id, q, pools[q as usize], stats.clone()),
                    TxQueue::new(self.id, q, stats),
                )
            })
            .collect();
        Ok((pairs, on))
    }

    fn set_reta_round_robin(&self, reta_size: u16, queues: u16) -> Result<(), Error> {
        let groups = (reta_size as usize).div_ceil(64);
        let mut reta = vec![sys::rte_eth_rss_reta_entry64::default(); groups];
        for i in 0..reta_size as usize {
            let e = &mut reta[i / 64];
            e.mask |= 1u64 << (i % 64);
            e.reta[i % 64] = (i % queues as usize) as u16;
        }
        // SAFETY: `reta` holds ceil(reta_size / 64) entries, as DPDK reads.
        check("rte_eth_dev_rss_reta_update", unsafe {
            sys::rte_eth_dev_rss_reta_update(self.id, reta.as_mut_ptr(), reta_size)
        })?;
        Ok(())
    }

    /// The RSS key in use, when the port reports it.
    pub fn rss_key(&self) -> Option<Vec<u8>> {
        let mut key = [0u8; 64];
        let mut conf = sys::rte_eth_rss_conf {
            rss_key: key.as_mut_ptr(),
            rss_key_len: key.len() as u8,
            rss_hf: 0,
        };
        // SAFETY: `conf.rss_key` points to 64 writable bytes (DPDK writes hash_key_size ≤ 64).
        let ret = unsafe { sys::rte_eth_dev_rss_hash_conf_get(self.id, &mut conf) };
        (ret == 0).then(|| key[..conf.rss_key_len.min(64) as usize].to_vec())
    }

    pub fn stop(&self) -> Result<(), Error> {
        // SAFETY: valid port.
        check("rte_eth_dev_stop", unsafe {
            sys::rte_eth_dev_stop(self.id)
        })
        .map(drop)
    }

    pub fn mac(&self) -> [u8; 6] {
        let mut a = sys::rte_ether_addr::default();
        // SAFETY: valid port, out pointer to a local.
        unsafe { sys::rte_eth_macaddr_get(self.id, &mut a) };
        a.addr_bytes
    }

    /// Current link status, without waiting.
    pub fn link(&self) -> Result<Link, Error> {
        let mut l = sys::rte_eth_link::default();
        // SAFETY: valid port, out pointer to a local.
        check("rte_eth_link_get_nowait", unsafe {
            sys::rte_eth_link_get_nowait(self.id, &mut l)
        })?;
        Ok(Link {
            up: l.link_status() as u32 == sys::RTE_ETH_LINK_UP,
            speed_mbps: l.link_speed,
            full_duplex: l.link_duplex() as u32 == sys::RTE_ETH_LINK_FULL_DUPLEX,
        })
    }

    /// MTU (IP) of the port.
    pub fn mtu(&self) -> Result<u16, Error> {
        let mut mtu = 0u16;
        // SAFETY: valid port, out pointer to a local.
        check("rte_eth_dev_get_mtu", unsafe {
            sys::rte_eth_dev_get_mtu(self.id, &mut mtu)
        })?;
        Ok(mtu)
    }

    /// Hardware counters.
    pub fn stats(&self) -> Result<PortStats, Error> {
        let mut s = sys::rte_eth_stats::default();
        // SAFETY: valid port, out pointer to a local.
        check("rte_eth_stats_get", unsafe {
            sys::rte_eth_stats_get(self.id, &mut s)
        })?;
        let n = self.info().map(|i| i.max_rx_queues).unwrap_or(0);
        let nq = (n as usize).min(s.q_ipackets.len());
        Ok(PortStats {
            ipackets: s.ipackets,
            opackets: s.opackets,
            ibytes: s.ibytes,
            obytes: s.obytes,
            imissed: s.imissed,
            ierrors: s.ierrors,
            oerrors: s.oerrors,
            rx_nombuf: s.rx_nombuf,
            queues: (0..nq)
                .map(|q| QueueHwStats {
                    ipackets: s.q_ipackets[q],
                    opackets: s.q_opackets[q],
                    ibytes: s.q_ibytes[q],
                    obytes: s.q_obytes[q],
                    errors: s.q_errors[q],
                })
                .collect(),
        })
    }
}

/// PMDs whose transmit checksum offload is wrong for frames the stack sends: DPDK 22.11's
/// `net_tap` computes the L4 checksum of a chained mbuf wrongly when a segment before the last
/// has an odd length (seen as `[TCP CHECKSUM INCORRECT]` on a response whose head is 237
/// bytes). The stack computes checksums itself on these; the chain stays zero-copy.
fn broken_tx_checksum(info: &PortInfo) -> bool {
    info.driver == "net_tap"
}

/// `0x6d5a` repeated to `len` bytes: the symmetric Toeplitz key of
/// [`netstack::rss::SYMMETRIC_KEY`], extended for NICs with 52-byte keys.
fn symmetric_key(len: usize) -> Vec<u8> {
    let k = &netstack::rss::SYMMETRIC_KEY;
    (0..len).map(|i| k[i % 2]).collect()
}

/// A back-to-back pair of ports over `rte_ring`s (`rte_eth_from_rings`): what one sends on
/// queue `i` the other receives on queue `i`. Names must be unique in the process. The ports
/// still need [`Port::configure`].
pub fn ring_pair(
    _eal: &Eal,
    name: &str,
    queues: u16,
    ring_size: u32,
) -> Result<(Port, Port), Error> {
    let mut a_to_b = Vec::new();
    let mut b_to_a = Vec::new();
    for q in 0..queues {
        for (dir, v) in [("ab", &mut a_to_b), ("ba", &mut b_to_a)] {
            let rname = CString::new(format!("{name}_{dir}{q}")).unwrap();
            // SAFETY: EAL initialised; valid name. Single producer/consumer: one TX queue
            // feeds it and one RX queue drains it.
            let r = unsafe {
                sys::rte_ring_create(
                    rname.as_ptr(),
                    ring_size,
                    sys::SOCKET_ID_ANY,
                    sys::RING_F_SP_ENQ | sys::RING_F_SC_DEQ,
                )
            };
            if r.is_null() {
                return Err(Error::last("rte_ring_create"));
            }
            v.push(r);
        }
    }
    let make = |suffix: &str, rx: &[*mut sys::rte_ring], tx: &[*mut sys::rte_ring]| {
        let pname = CString::new(format!("{name}{suffix}")).unwrap();
        // SAFETY: the rings are valid and live for the process (never freed); the arrays hold
        // `queues` entries each.
        let id = unsafe {
            sys::rte_eth_from_rings(
                pname.as_ptr(),
                rx.as_ptr(),
                queues as u32,
                tx.as_ptr(),
                queues as u32,
                0,
            )
        };
        if id < 0 {
            Err(Error::last("rte_eth_from_rings"))
        } else {
            Ok(Port { id: id as u16 })
        }
    };
    let a = make("_a", &b_to_a, &a_to_b)?;
    let b = make("_b", &a_to_b, &b_to_a)?;
    Ok((a, b))
}
