//! netstack's [`Device`] over one DPDK queue pair: what a worker drives.
//!
//! - **Receive, zero copy:** each received mbuf becomes a `Bytes` pointing into the mbuf's data
//!   room (`Bytes::from_owner`); the stack slices it and hands payload slices to the
//!   application, and the mbuf returns to its pool when the last slice drops (on any thread).
//!   Only a multi-segment frame (RX scatter, not enabled by this crate) is copied, and counted.
//! - **Transmit, zero copy:** a [`TxFrame`]'s header segment is copied into the head mbuf's
//!   data room when small (headers, <= [`INLINE_HEAD`] bytes) and attached otherwise; its
//!   payload parts (the application's `Bytes`) are attached as external buffers in chained
//!   mbufs (`rte_pktmbuf_attach_extbuf`), kept alive until the PMD frees them. A port without
//!   multi-segment TX gets the parts copied once into the head mbuf, and that copy is counted
//!   in [`DevStats::copied`].
//! - **Checksums:** with RX checksum offload, frames the NIC marks bad are dropped, and TCP/UDP
//!   frames it could not classify are verified in software, so `Caps::rx_checksum` holds for
//!   every frame delivered. With TX offload, IPv4/TCP/UDP frames get `RTE_MBUF_F_TX_*` flags
//!   (the stack leaves the pseudo-header sum, as DPDK expects); ICMP, which NICs do not
//!   offload, is completed in software here.

use std::collections::VecDeque;
use std::net::Ipv4Addr;
use std::sync::Arc;

use bytes::Bytes;
use dpdk_sys as sys;
use netstack::buf::TxFrame;
use netstack::dev::{Caps, DevStats, Device};
use netstack::time::Instant;
use netstack::wire::checksum;

use crate::mbuf::{Mbuf, Mempool};
use crate::port::Offloads;
use crate::queue::{QueueStats, RxQueue, TxQueue, MAX_BURST};

/// Header segments up to this size are copied into the head mbuf (cheaper than attaching).
pub const INLINE_HEAD: usize = 256;

const ETH_LEN: usize = 14;
const ETHERTYPE_IPV4: u16 = 0x0800;

/// A netstack device over one RX/TX queue pair of a configured port.
pub struct DpdkDevice {
    rx: RxQueue,
    tx: TxQueue,
    pool: Mempool,
    offloads: Offloads,
    mtu: usize,
    rx_scratch: Vec<Mbuf>,
    tx_scratch: Vec<Mbuf>,
    /// Per frame of the batch being sent: whether it produced an mbuf (false: dropped).
    tx_built: Vec<bool>,
}

enum Build {
    Ok(Mbuf),
    /// Pool exhausted: stop, leave the frame queued.
    Exhausted,
    /// The frame cannot be sent (too large without scatter-gather): drop it.
    Drop,
}

impl DpdkDevice {
    /// A device over `rx`/`tx` (one pair from [`crate::Port::configure`]), with the offloads
    /// the port has on and its IP MTU. Transmit mbufs come from the RX queue's pool.
    pub fn new(rx: RxQueue, tx: TxQueue, offloads: Offloads, mtu: usize) -> DpdkDevice {
        let pool = rx.pool();
        DpdkDevice {
            rx,
            tx,
            pool,
            offloads,
            mtu,
            rx_scratch: Vec::with_capacity(MAX_BURST),
            tx_scratch: Vec::with_capacity(MAX_BURST),
            tx_built: Vec::with_capacity(MAX_BURST),
        }
    }

    /// Counters, shareable with a statistics reader on another thread.
    pub fn queue_stats(&self) -> Arc<QueueStats> {
        self.rx.stats().clone()
    }

    /// The pool receive and transmit mbufs come from (its `in_use` is the queue's mbuf use).
    pub fn pool(&self) -> Mempool {
        self.pool
    }

    pub fn offloads(&self) -> Offloads {
        self.offloads
    }

    fn rx_checksum_ok(&self, m: &Mbuf) -> bool {
        let f = m.ol_flags();
        if f & sys::RTE_MBUF_F_RX_IP_CKSUM_MASK == sys::RTE_MBUF_F_RX_IP_CKSUM_BAD
            || f & sys::RTE_MBUF_F_RX_L4_CKSUM_MASK == sys::RTE_MBUF_F_RX_L4_CKSUM_BAD
        {
            return false;
        }
        if f & sys::RTE_MBUF_F_RX_L4_CKSUM_MASK == sys::RTE_MBUF_F_RX_L4_CKSUM_GOOD {
            return true;
        }
        verify_ipv4_l4(m.data())
    }

    fn build(&self, f: &TxFrame) -> Build {
        let Some(mut m) = self.pool.alloc() else {
            return Build::Exhausted;
        };
        let icmp_fixup = self.offloads.tx_checksum && ipv4_proto(&f.head) == Some(1);
        let contiguous = f.is_contiguous();
        let len = f.len();
        if len > self.mtu + ETH_LEN + 4 {
            return Build::Drop;
        }
        if (self.offloads.multi_seg || contiguous) && !icmp_fixup {
            // Zero copy: headers inline (or the whole contiguous frame attached), payload
            // parts attached and chained.
            if f.head.len() <= INLINE_HEAD {
                if !m.extend_from_slice(&f.head) {
                    return Build::Drop;
                }
            } else {
                drop(m);
                match Mbuf::from_bytes(&self.pool, f.head.clone()) {
                    Some(h) => m = h,
                    None => return Build::Exhausted,
                }
            }
            for p in f.parts.iter().filter(|p| !p.is_empty()) {
                let Some(seg) = Mbuf::from_bytes(&self.pool, p.clone()) else {
                    return Build::Exhausted;
                };
                if m.chain(seg).is_err() {
                    return Build::Drop;
                }
            }
        } else {
            // One copy into the head mbuf: no multi-segment TX, or ICMP to complete.
            let Some(dst) = m.append(len) else {
                return Build::Drop;
            };
            f.copy_into(dst);
            self.tx.stats().add_copied((len - f.head.len()) as u64);
            if icmp_fixup {
                if let Some(d) = m.data_mut() {
                    fill_icmp_checksum(d);
                }
            }
        }
        if self.offloads.tx_checksum {
            if let Some((l3, proto)) = ipv4_l3(&f.head) {
                let l4 = match proto {
                    6 => sys::RTE_MBUF_F_TX_TCP_CKSUM,
                    17 => sys::RTE_MBUF_F_TX_UDP_CKSUM,
                    _ => 0,
                };
                m.set_tx_offload(
                    ETH_LEN as u8,
                    l3 as u16,
                    0,
                    0,
                    sys::RTE_MBUF_F_TX_IPV4 | sys::RTE_MBUF_F_TX_IP_CKSUM | l4,
                );
            }
        }
        Build::Ok(m)
    }
}

impl Device for DpdkDevice {
    fn rx_burst(&mut self, _now: Instant, out: &mut Vec<Bytes>, max: usize) -> usize {
        let n = self.rx.rx_burst(&mut self.rx_scratch, max);
        if n == 0 {
            return 0;
        }
        let mut delivered = 0;
        let mut dropped = 0u64;
        let mut scratch = std::mem::take(&mut self.rx_scratch);
        for m in scratch.drain(..) {
            if self.offloads.rx_checksum && !self.rx_checksum_ok(&m) {
                dropped += 1;
                continue;
            }
            match m.into_bytes() {
                Ok(b) => out.push(b),
                Err(copy) => {
                    self.rx.stats().add_copied(copy.len() as u64);
                    out.push(copy);
                }
            }
            delivered += 1;
        }
        self.rx_scratch = scratch;
        if dropped > 0 {
            self.rx.stats().add_drops(dropped);
        }
        delivered
    }

    fn tx_burst(&mut self, _now: Instant, frames: &mut VecDeque<TxFrame>) -> usize {
        let mut taken = 0;
        while !frames.is_empty() {
            self.tx_scratch.clear();
            self.tx_built.clear();
            let mut exhausted = false;
            for f in frames.iter().take(MAX_BURST) {
                match self.build(f) {
                    Build::Ok(m) => {
                        self.tx_scratch.push(m);
                        self.tx_built.push(true);
                    }
                    Build::Drop => self.tx_built.push(false),
                    Build::Exhausted => {
                        exhausted = true;
                        break;
                    }
                }
            }
            let built = self.tx_scratch.len();
            if self.offloads.tx_checksum && built > 0 {
                // A frame the PMD rejects stops the batch at it (malformed offload request).
                let ok = self.tx.tx_prepare(&mut self.tx_scratch);
                self.tx_scratch.truncate(ok);
            }
            let sent = self.tx.tx_burst(&mut self.tx_scratch);
            // Unsent mbufs go back to the pool (payload references released); their frames
            // stay queued.
            self.tx_scratch.clear();
            // Pop the sent frames and the dropped frames before the first unsent one.
            let (mut left, mut dropped) = (sent, 0);
            for &has_mbuf in &self.tx_built {
                if has_mbuf {
                    if left == 0 {
                        break;
                    }
                    left -= 1;
                } else {
                    dropped += 1;
                }
                frames.pop_front();
            }
            taken += sent;
            if dropped > 0 {
                self.tx.stats().add_drops(dropped);
            }
            if exhausted || sent < built {
                break; // back-pressure or no mbufs: try again next turn
            }
        }
        taken
    }

    fn caps(&self) -> Caps {
        Caps {
            rx_checksum: self.offloads.rx_checksum,
            tx_checksum: self.offloads.tx_checksum,
            mtu: self.mtu,
            scatter_gather: self.offloads.multi_seg,
            max_burst: 32,
        }
    }

    fn stats(&self) -> DevStats {
        let s = self.rx.stats().snapshot();
        DevStats {
            rx_frames: s.rx_packets,
            rx_bytes: s.rx_bytes,
            tx_frames: s.tx_packets,
            tx_bytes: s.tx_bytes,
            drops: s.drops,
            copied: s.copied,
        }
    }
}

/// IPv4 header length and protocol of an Ethernet frame, if it carries IPv4.
fn ipv4_l3(frame: &[u8]) -> Option<(usize, u8)> {
    if frame.len() < ETH_LEN + 20 || u16::from_be_bytes([frame[12], frame[13]]) != ETHERTYPE_IPV4 {
        return None;
    }
    let ihl = (frame[ETH_LEN] & 0x0f) as usize * 4;
    (ihl >= 20).then_some((ihl, frame[ETH_LEN + 9]))
}

fn ipv4_proto(frame: &[u8]) -> Option<u8> {
    ipv4_l3(frame).map(|(_, p)| p)
}

/// Software check of an IPv4 TCP/UDP frame's checksums (frames the NIC did not classify);
/// other frames pass (the stack checks what it parses).
fn verify_ipv4_l4(frame: &[u8]) -> bool {
    let Some((ihl, proto)) = ipv4_l3(frame) else {
        return true;
    };
    let ip = &frame[ETH_LEN..];
    if ip.len() < ihl || checksum::checksum(&ip[..ihl]) != 0 {
        return false;
    }
    let total = u16::from_be_bytes([ip[2], ip[3]]) as usize;
    if total < ihl || total > ip.len() || (proto != 6 && proto != 17) {
        return total >= ihl && total <= ip.len();
    }
    let l4 = &ip[ihl..total];
    if proto == 17 && l4.len() >= 8 && l4[6] == 0 && l4[7] == 0 {
        return true; // UDP without checksum
    }
    let src = Ipv4Addr::new(ip[12], ip[13], ip[14], ip[15]);
    let dst = Ipv4Addr::new(ip[16], ip[17], ip[18], ip[19]);
    let pseudo = checksum::pseudo_header_v4(src, dst, proto, l4.len() as u16);
    checksum::combine(pseudo, checksum::sum(l4)) == 0xffff
}

/// Completes the ICMP checksum of an IPv4 ICMP frame in place (NICs do not offload it).
fn fill_icmp_checksum(frame: &mut [u8]) {
    let Some((ihl, 1)) = ipv4_l3(frame) else {
        return;
    };
    let ip_total = u16::from_be_bytes([frame[ETH_LEN + 2], frame[ETH_LEN + 3]]) as usize;
    let start = ETH_LEN + ihl;
    let end = (ETH_LEN + ip_total).min(frame.len());
    if end < start + 4 {
        return;
    }
    let icmp = &mut frame[start..end];
    icmp[2] = 0;
    icmp[3] = 0;
    let c = checksum::checksum(icmp);
    icmp[2..4].copy_from_slice(&c.to_be_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn l3_parse() {
        let mut f = vec![0u8; 60];
        f[12] = 0x08;
        f[14] = 0x45;
        f[23] = 6;
        assert_eq!(ipv4_l3(&f), Some((20, 6)));
        f[12] = 0x86;
        assert_eq!(ipv4_l3(&f), None);
    }
}
