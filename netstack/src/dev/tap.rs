//! A TAP device (`/dev/net/tun`, `IFF_TAP | IFF_NO_PI`): Ethernet frames to and from the Linux
//! kernel, which is the peer on the other side of the interface.
//!
//! - Nonblocking fd; [`Device::as_fd`] exposes it so an idle loop blocks in `epoll_wait`.
//! - Receive: one `read` per frame straight into a pool buffer (frozen into `Bytes`).
//! - Transmit: one `writev` per frame, gathering the header segment and the referenced payload
//!   parts (scatter-gather: the stack never copies payload for TAP).
//! - Multi-queue ready: [`Tap::open_queues`] opens `n` queues of one interface with
//!   `IFF_MULTI_QUEUE` (one fd per worker; the kernel spreads flows by its flow hash).
//! - The kernel delivers complete checksums on TAP, but without `IFF_VNET_HDR` it does not say
//!   they were verified, so the stack verifies (`rx_checksum: false`) and computes them.
//!
//! Creating an interface needs CAP_NET_ADMIN, or a device made beforehand with
//! `ip tuntap add dev NAME mode tap user $USER [multi_queue]`.

use std::collections::VecDeque;
use std::io::{self, IoSlice};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};

use bytes::Bytes;
use rustix::fs::{Mode, OFlags};

use super::{Caps, DevStats, Device, TxFrame};
use crate::buf::Pool;
use crate::time::Instant;

const IFF_TAP: i16 = 0x0002;
const IFF_NO_PI: i16 = 0x1000;
const IFF_MULTI_QUEUE: i16 = 0x0100;
/// `_IOW('T', 202, int)`.
const TUNSETIFF: libc::c_ulong = 0x4004_54ca;

/// `struct ifreq` as TUNSETIFF reads it: the name, then the flags in the union.
#[repr(C)]
struct IfReq {
    name: [u8; libc::IFNAMSIZ],
    flags: i16,
    _pad: [u8; 22],
}

/// One queue of a TAP interface.
pub struct Tap {
    fd: OwnedFd,
    name: String,
    pool: Pool,
    mtu: usize,
    stats: DevStats,
}

impl Tap {
    /// Opens (creating it if needed) the single-queue TAP interface `name`, receiving into
    /// buffers from `pool`. The interface is not configured here (link, addresses: `ip`).
    pub fn open(name: &str, pool: Pool) -> io::Result<Tap> {
        Tap::open_one(name, IFF_TAP | IFF_NO_PI, pool)
    }

    /// Opens `queues` queues of the multi-queue TAP interface `name`, all receiving into
    /// buffers from clones of `pool` (give each worker its own pool in production).
    pub fn open_queues(name: &str, queues: usize, pool: Pool) -> io::Result<Vec<Tap>> {
        (0..queues.max(1))
            .map(|_| Tap::open_one(name, IFF_TAP | IFF_NO_PI | IFF_MULTI_QUEUE, pool.clone()))
            .collect()
    }

    /// Opens one more queue of the multi-queue TAP interface `name` (creating it if needed),
    /// receiving into buffers from `pool`: one call per worker, each with its own pool.
    pub fn open_queue(name: &str, pool: Pool) -> io::Result<Tap> {
        Tap::open_one(name, IFF_TAP | IFF_NO_PI | IFF_MULTI_QUEUE, pool)
    }

    fn open_one(name: &str, flags: i16, pool: Pool) -> io::Result<Tap> {
        if name.len() >= libc::IFNAMSIZ || name.is_empty() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("bad interface name {name:?}"),
            ));
        }
        let fd = rustix::fs::open(
            "/dev/net/tun",
            OFlags::RDWR | OFlags::NONBLOCK | OFlags::CLOEXEC,
            Mode::empty(),
        )?;
        let mut req = IfReq {
            name: [0; libc::IFNAMSIZ],
            flags,
            _pad: [0; 22],
        };
        req.name[..name.len()].copy_from_slice(name.as_bytes());
        // SAFETY: TUNSETIFF reads and writes a `struct ifreq` (40 bytes, the layout of
        // `IfReq`) through the pointer, which is valid and exclusive for the call; `fd` is an
        // open /dev/net/tun descriptor.
        let rc = unsafe { libc::ioctl(fd.as_raw_fd(), TUNSETIFF as _, &mut req as *mut IfReq) };
        if rc < 0 {
            let e = io::Error::last_os_error();
            return Err(io::Error::new(e.kind(), format!("TUNSETIFF {name}: {e}")));
        }
        let end = req
            .name
            .iter()
            .position(|&b| b == 0)
            .unwrap_or(req.name.len());
        Ok(Tap {
            fd,
            name: String::from_utf8_lossy(&req.name[..end]).into_owned(),
            pool,
            mtu: 1500,
            stats: DevStats::default(),
        })
    }

    /// The interface name the kernel gave (the one asked for).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The IP MTU the stack should assume (set it equal to the interface's).
    pub fn set_mtu(&mut self, mtu: usize) {
        self.mtu = mtu;
    }

    pub fn pool(&self) -> &Pool {
        &self.pool
    }

    /// Sets the interface's hardware address (the kernel's side of it, `SIOCSIFHWADDR`).
    pub fn set_mac(&self, mac: [u8; 6]) -> io::Result<()> {
        let sock = rustix::net::socket(
            rustix::net::AddressFamily::INET,
            rustix::net::SocketType::DGRAM,
            None,
        )?;
        // SAFETY: an all-zero `ifreq` is valid; the name (shorter than IFNAMSIZ, checked at
        // open) and the hardware address are written into their fields below.
        let mut req: libc::ifreq = unsafe { std::mem::zeroed() };
        for (d, s) in req.ifr_name.iter_mut().zip(self.name.bytes()) {
            *d = s as libc::c_char;
        }
        // SAFETY: writing the `ifru_hwaddr` member of the request's union, as SIOCSIFHWADDR
        // reads it.
        let addr = unsafe { &mut req.ifr_ifru.ifru_hwaddr };
        addr.sa_family = libc::ARPHRD_ETHER;
        for (d, s) in addr.sa_data.iter_mut().zip(mac) {
            *d = s as libc::c_char;
        }
        // SAFETY: SIOCSIFHWADDR reads a `struct ifreq` through the valid pointer; `sock` is an
        // open socket.
        let rc = unsafe { libc::ioctl(sock.as_raw_fd(), libc::SIOCSIFHWADDR, &req) };
        if rc < 0 {
            let e = io::Error::last_os_error();
            return Err(io::Error::new(
                e.kind(),
                format!("set MAC of {}: {e}", self.name),
            ));
        }
        Ok(())
    }
}

impl Device for Tap {
    fn rx_burst(&mut self, _now: Instant, out: &mut Vec<Bytes>, max: usize) -> usize {
        let mut n = 0;
        while n < max {
            let Some(mut buf) = self.pool.alloc() else {
                // Every buffer is held (by the application or queues): leave frames in the
                // kernel's queue, which drops when full, as a NIC ring would.
                break;
            };
            match rustix::io::read(&self.fd, buf.spare_mut()) {
                Ok(len) if len > 0 => {
                    buf.set_len(len);
                    self.stats.rx_frames += 1;
                    self.stats.rx_bytes += len as u64;
                    out.push(buf.freeze());
                    n += 1;
                }
                Ok(_) | Err(rustix::io::Errno::AGAIN) => break,
                Err(rustix::io::Errno::INTR) => {}
                Err(_) => {
                    self.stats.drops += 1;
                    break;
                }
            }
        }
        n
    }

    fn tx_burst(&mut self, _now: Instant, frames: &mut VecDeque<TxFrame>) -> usize {
        let mut sent = 0;
        while let Some(frame) = frames.front() {
            let written = {
                let mut iov: Vec<IoSlice<'_>> = Vec::with_capacity(1 + frame.parts.len());
                iov.push(IoSlice::new(&frame.head));
                iov.extend(frame.parts.iter().map(|p| IoSlice::new(p)));
                rustix::io::writev(&self.fd, &iov)
            };
            match written {
                Ok(_) => {
                    self.stats.tx_frames += 1;
                    self.stats.tx_bytes += frame.len() as u64;
                }
                Err(rustix::io::Errno::AGAIN) => break,
                Err(rustix::io::Errno::INTR) => continue,
                // Link down, frame too long: the frame is lost, as on a wire.
                Err(_) => self.stats.drops += 1,
            }
            frames.pop_front();
            sent += 1;
        }
        sent
    }

    fn caps(&self) -> Caps {
        Caps {
            rx_checksum: false,
            tx_checksum: false,
            mtu: self.mtu,
            scatter_gather: true,
            max_burst: 32,
        }
    }

    fn stats(&self) -> DevStats {
        self.stats
    }

    fn as_fd(&self) -> Option<BorrowedFd<'_>> {
        Some(self.fd.as_fd())
    }
}
