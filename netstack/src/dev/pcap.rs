//! A capture wrapper: every frame received or sent through the inner device is appended to a
//! classic pcap file (nanosecond timestamps, LINKTYPE_ETHERNET), readable by tcpdump,
//! tshark and Wireshark. Timestamps are the loop's `now` shifted to wall-clock time at the
//! first frame, so captures of virtual-clock simulations are still ordered and spaced right.

use std::collections::VecDeque;
use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::os::fd::BorrowedFd;
use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;

use super::{Caps, DevStats, Device, TxFrame};
use crate::time::Instant;

/// Magic number of a pcap file with nanosecond timestamps.
pub const MAGIC_NANOS: u32 = 0xa1b2_3c4d;
/// LINKTYPE_ETHERNET.
pub const LINKTYPE_ETHERNET: u32 = 1;
/// Longest frame recorded whole.
pub const SNAPLEN: u32 = 65535;

/// The capture wrapper.
pub struct Pcap<D> {
    pub inner: D,
    out: Box<dyn Write + Send>,
    /// Wall-clock nanoseconds at `Instant::ZERO`, fixed at the first frame.
    base: Option<u64>,
    scratch: Vec<Bytes>,
    error: Option<io::Error>,
}

impl<D: Device> Pcap<D> {
    /// Captures into a new file at `path`.
    pub fn create(inner: D, path: &Path) -> io::Result<Pcap<D>> {
        let file = BufWriter::new(File::create(path)?);
        Pcap::new(inner, Box::new(file))
    }

    /// Captures into any writer (the global header is written now).
    pub fn new(inner: D, mut out: Box<dyn Write + Send>) -> io::Result<Pcap<D>> {
        let mut h = Vec::with_capacity(24);
        h.extend_from_slice(&MAGIC_NANOS.to_le_bytes());
        h.extend_from_slice(&2u16.to_le_bytes());
        h.extend_from_slice(&4u16.to_le_bytes());
        h.extend_from_slice(&0i32.to_le_bytes()); // thiszone
        h.extend_from_slice(&0u32.to_le_bytes()); // sigfigs
        h.extend_from_slice(&SNAPLEN.to_le_bytes());
        h.extend_from_slice(&LINKTYPE_ETHERNET.to_le_bytes());
        out.write_all(&h)?;
        Ok(Pcap {
            inner,
            out,
            base: None,
            scratch: Vec::new(),
            error: None,
        })
    }

    /// Flushes the file. A write error stops the capture (the traffic goes on); it is
    /// reported here.
    pub fn flush(&mut self) -> io::Result<()> {
        if let Some(e) = self.error.take() {
            return Err(e);
        }
        self.out.flush()
    }

    fn record(&mut self, now: Instant, parts: &[&[u8]]) {
        if self.error.is_some() {
            return;
        }
        let base = *self.base.get_or_insert_with(|| {
            let wall = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .unwrap_or(Duration::ZERO);
            (wall.as_nanos() as u64).saturating_sub(now.total_nanos())
        });
        let ts = base + now.total_nanos();
        let len: usize = parts.iter().map(|p| p.len()).sum();
        let incl = len.min(SNAPLEN as usize);
        let mut h = [0u8; 16];
        h[0..4].copy_from_slice(&((ts / 1_000_000_000) as u32).to_le_bytes());
        h[4..8].copy_from_slice(&((ts % 1_000_000_000) as u32).to_le_bytes());
        h[8..12].copy_from_slice(&(incl as u32).to_le_bytes());
        h[12..16].copy_from_slice(&(len as u32).to_le_bytes());
        let mut write = || -> io::Result<()> {
            self.out.write_all(&h)?;
            let mut left = incl;
            for p in parts {
                let n = p.len().min(left);
                self.out.write_all(&p[..n])?;
                left -= n;
            }
            Ok(())
        };
        if let Err(e) = write() {
            self.error = Some(e);
        }
    }
}

impl<D: Device> Device for Pcap<D> {
    fn rx_burst(&mut self, now: Instant, out: &mut Vec<Bytes>, max: usize) -> usize {
        let mut scratch = std::mem::take(&mut self.scratch);
        let n = self.inner.rx_burst(now, &mut scratch, max);
        for frame in scratch.drain(..) {
            self.record(now, &[&frame]);
            out.push(frame);
        }
        self.scratch = scratch;
        n
    }

    fn tx_burst(&mut self, now: Instant, frames: &mut VecDeque<TxFrame>) -> usize {
        let before: Vec<TxFrame> = frames.iter().cloned().collect();
        let n = self.inner.tx_burst(now, frames);
        for f in &before[..n] {
            let mut parts: Vec<&[u8]> = vec![&f.head];
            parts.extend(f.parts.iter().map(|p| &p[..]));
            self.record(now, &parts);
        }
        n
    }

    fn caps(&self) -> Caps {
        self.inner.caps()
    }

    fn stats(&self) -> DevStats {
        self.inner.stats()
    }

    fn poll_at(&self) -> Option<Instant> {
        self.inner.poll_at()
    }

    fn as_fd(&self) -> Option<BorrowedFd<'_>> {
        self.inner.as_fd()
    }
}

impl<D> Drop for Pcap<D> {
    fn drop(&mut self) {
        let _ = self.out.flush();
    }
}

/// A parsed pcap record: (timestamp in ns since the epoch, captured bytes, original length).
pub type Record = (u64, Vec<u8>, u32);

/// Reads back a file written by [`Pcap`] (tests and tools): the link type and the records.
pub fn read(data: &[u8]) -> Result<(u32, Vec<Record>), &'static str> {
    let u32_at = |at: usize| -> Result<u32, &'static str> {
        data.get(at..at + 4)
            .map(|b| u32::from_le_bytes(b.try_into().unwrap()))
            .ok_or("truncated")
    };
    if u32_at(0)? != MAGIC_NANOS {
        return Err("not a little-endian nanosecond pcap file");
    }
    if data[4..8] != [2, 0, 4, 0] {
        return Err("not version 2.4");
    }
    let linktype = u32_at(20)?;
    let mut records = Vec::new();
    let mut at = 24;
    while at < data.len() {
        let ts = u32_at(at)? as u64 * 1_000_000_000 + u32_at(at + 4)? as u64;
        let incl = u32_at(at + 8)? as usize;
        let orig = u32_at(at + 12)?;
        let body = data
            .get(at + 16..at + 16 + incl)
            .ok_or("truncated record")?;
        records.push((ts, body.to_vec(), orig));
        at += 16 + incl;
    }
    Ok((linktype, records))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dev::MemoryWire;

    #[test]
    fn writes_a_pcap_file_that_reads_back() {
        let path = std::env::temp_dir().join(format!("netstack-pcap-{}.pcap", std::process::id()));
        let (a, mut b) = MemoryWire::pair(8, 16);
        let mut cap = Pcap::create(a, &path).unwrap();
        // A broadcast ARP-ish frame out, a chained frame out, one frame in.
        let mut q: VecDeque<TxFrame> = VecDeque::new();
        q.push_back(TxFrame::single(Bytes::from(vec![0xffu8; 42])));
        q.push_back(TxFrame {
            head: Bytes::from(vec![1u8; 34]),
            parts: vec![Bytes::from(vec![2u8; 100])],
        });
        cap.tx_burst(Instant::from_millis(5), &mut q);
        let mut back: VecDeque<TxFrame> = [TxFrame::single(Bytes::from(vec![3u8; 60]))].into();
        b.tx_burst(Instant::ZERO, &mut back);
        let mut out = Vec::new();
        cap.rx_burst(Instant::from_millis(7), &mut out, 8);
        cap.flush().unwrap();
        drop(cap);

        let data = std::fs::read(&path).unwrap();
        let (link, recs) = read(&data).unwrap();
        assert_eq!(link, LINKTYPE_ETHERNET);
        assert_eq!(recs.len(), 3);
        assert_eq!(recs[0].1, vec![0xff; 42]);
        assert_eq!(recs[1].1.len(), 134);
        assert_eq!(&recs[1].1[34..], &[2u8; 100][..]);
        assert_eq!(recs[2].2, 60);
        assert_eq!(recs[2].0 - recs[0].0, 2_000_000, "2 ms apart");

        match std::process::Command::new("tshark")
            .arg("-r")
            .arg(&path)
            .output()
        {
            Ok(o) => {
                assert!(o.status.success(), "tshark: {o:?}");
                let text = String::from_utf8_lossy(&o.stdout);
                assert_eq!(text.lines().count(), 3, "{text}");
            }
            Err(_) => eprintln!("tshark not installed: skipping the tshark half of the test"),
        }
        let _ = std::fs::remove_file(&path);
    }
}
