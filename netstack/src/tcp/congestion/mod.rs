//! Congestion control: the window (RFC 5681) and the growth rule after slow start, either
//! NewReno's additive increase (RFC 5681 §3.1) or CUBIC (RFC 9438, the default). Loss
//! recovery itself (fast retransmit, NewReno partial ACKs, SACK recovery) lives in the input
//! path; this module only answers "how big may the window be".

mod cubic;
mod newreno;

pub use cubic::Cubic;

/// Which algorithm grows the window in congestion avoidance.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Congestion {
    /// RFC 9438.
    #[default]
    Cubic,
    /// RFC 5681 / 6582.
    NewReno,
}

/// Per-connection congestion state (about 40 bytes, inline in the TCB).
#[derive(Debug, Clone)]
pub struct Cc {
    /// Congestion window, bytes.
    pub cwnd: u32,
    /// Slow-start threshold, bytes.
    pub ssthresh: u32,
    /// Bytes acknowledged toward the next additive increase (RFC 5681 §3.1 byte counting).
    acc: u32,
    cubic: Option<Cubic>,
}

impl Cc {
    /// RFC 6928 IW10: min(10*MSS, max(2*MSS, 14600)).
    pub fn new(kind: Congestion, mss: u32) -> Cc {
        Cc {
            cwnd: initial_window(mss),
            ssthresh: u32::MAX,
            acc: 0,
            cubic: (kind == Congestion::Cubic).then(Cubic::default),
        }
    }

    /// In slow start.
    pub fn slow_start(&self) -> bool {
        self.cwnd < self.ssthresh
    }

    /// New data acknowledged outside recovery. `now_ms` and `srtt_ms` drive CUBIC's clock.
    pub fn on_ack(&mut self, acked: u32, mss: u32, now_ms: u64, srtt_ms: u32) {
        if self.slow_start() {
            // RFC 3465 ABC with L = 2.
            self.cwnd = self.cwnd.saturating_add(acked.min(2 * mss));
            return;
        }
        match &mut self.cubic {
            Some(c) => self.cwnd = c.on_ack(self.cwnd, acked, mss, now_ms, srtt_ms),
            None => newreno::on_ack(&mut self.cwnd, &mut self.acc, acked, mss),
        }
    }

    /// A congestion event (fast retransmit or RTO): sets ssthresh and returns it; the caller
    /// sets cwnd as its recovery rule says.
    pub fn on_congestion(&mut self, flight: u32, mss: u32) -> u32 {
        self.acc = 0;
        self.ssthresh = match &mut self.cubic {
            Some(c) => c.on_congestion(self.cwnd, mss),
            // RFC 5681 eq. (4).
            None => (flight / 2).max(2 * mss),
        };
        self.ssthresh
    }

    /// Retransmission timeout (RFC 5681 §3.1): one segment, slow start again.
    pub fn on_rto(&mut self, flight: u32, mss: u32) {
        self.on_congestion(flight, mss);
        self.cwnd = mss;
    }

    /// The algorithm's name.
    pub fn name(&self) -> &'static str {
        if self.cubic.is_some() {
            "cubic"
        } else {
            "newreno"
        }
    }
}

/// RFC 6928 §2.
pub fn initial_window(mss: u32) -> u32 {
    (10 * mss).min((2 * mss).max(14600))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn iw10_and_slow_start() {
        let mut cc = Cc::new(Congestion::NewReno, 1460);
        assert_eq!(cc.cwnd, 14600);
        cc.on_ack(1460, 1460, 0, 10);
        assert_eq!(cc.cwnd, 16060);
        cc.on_ack(10 * 1460, 1460, 0, 10); // ABC caps one ACK at 2 MSS
        assert_eq!(cc.cwnd, 16060 + 2920);
        assert_eq!(cc.on_congestion(20000, 1460), 10000);
        cc.cwnd = 10000;
        for _ in 0..7 {
            cc.on_ack(1460, 1460, 0, 10);
        }
        assert_eq!(cc.cwnd, 11460, "one MSS per window acked");
        assert_eq!(initial_window(536), 5360);
    }

    #[test]
    fn cubic_reduces_by_beta_and_regrows_to_wmax() {
        let mss = 1000;
        let mut cc = Cc::new(Congestion::Cubic, mss);
        cc.cwnd = 100_000;
        let ss = cc.on_congestion(100_000, mss);
        assert_eq!(ss, 70_000);
        cc.cwnd = ss;
        // Acks of a full window each 100 ms RTT: after K seconds back near W_max.
        let mut now = 0u64;
        while now < 10_000 {
            for _ in 0..cc.cwnd / mss {
                cc.on_ack(mss, mss, now, 100);
            }
            now += 100;
            if now == 3_000 {
                assert!(cc.cwnd > 95_000 && cc.cwnd < 105_000, "{}", cc.cwnd);
            }
        }
        assert!(cc.cwnd > 150_000, "convex growth beyond W_max: {}", cc.cwnd);
    }
}
