//! Run-time statistics: a thread that rewrites a text file every interval with the port's
//! hardware counters and each queue's packets, bytes, drops, copies and mbuf pool use, so
//! `cat` (or a monitoring agent) reads them while the server runs.

use std::fmt::Write as _;
use std::io;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use crate::mbuf::Mempool;
use crate::port::Port;
use crate::queue::QueueStats;

/// The reporter thread's inputs (it runs for the rest of the process).
pub(crate) struct StatsReporter {
    path: PathBuf,
    port: Port,
    queues: Vec<(Arc<QueueStats>, Mempool)>,
}

impl StatsReporter {
    /// Writes the file once now (so a bad path fails here), then every `interval`.
    pub(crate) fn start(
        path: PathBuf,
        port: Port,
        queues: Vec<(Arc<QueueStats>, Mempool)>,
        interval: Duration,
    ) -> io::Result<()> {
        let reporter = StatsReporter { path, port, queues };
        reporter.write().map_err(|e| {
            io::Error::new(
                e.kind(),
                format!("[dpdk] stats_file {}: {e}", reporter.path.display()),
            )
        })?;
        std::thread::Builder::new()
            .name("dpdk-stats".into())
            .spawn(move || loop {
                std::thread::sleep(interval);
                let _ = reporter.write();
            })?;
        Ok(())
    }

    /// Replaces the file atomically (write a temporary file, rename it over).
    fn write(&self) -> io::Result<()> {
        let mut tmp = self.path.clone().into_os_string();
        tmp.push(".tmp");
        std::fs::write(&tmp, self.render())?;
        std::fs::rename(&tmp, &self.path)
    }

    fn render(&self) -> String {
        let mut out = String::new();
        if let Ok(p) = self.port.stats() {
            let _ = writeln!(
                out,
                "port {} ipackets {} opackets {} ibytes {} obytes {} imissed {} ierrors {} \
                 oerrors {} rx_nombuf {}",
                self.port.id(),
                p.ipackets,
                p.opackets,
                p.ibytes,
                p.obytes,
                p.imissed,
                p.ierrors,
                p.oerrors,
                p.rx_nombuf
            );
        }
        for (q, (stats, pool)) in self.queues.iter().enumerate() {
            let s = stats.snapshot();
            let _ = writeln!(
                out,
                "queue {q} rx_packets {} rx_bytes {} tx_packets {} tx_bytes {} drops {} copied {} \
                 mbufs_in_use {} mbufs {}",
                s.rx_packets,
                s.rx_bytes,
                s.tx_packets,
                s.tx_bytes,
                s.drops,
                s.copied,
                pool.in_use(),
                pool.size()
            );
        }
        out
    }
}
