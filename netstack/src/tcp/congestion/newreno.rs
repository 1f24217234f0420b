//! NewReno congestion avoidance (RFC 5681 §3.1): one SMSS per window's worth of ACKed bytes.

pub fn on_ack(cwnd: &mut u32, acc: &mut u32, acked: u32, mss: u32) {
    *acc += acked;
    if *acc >= *cwnd {
        *acc -= *cwnd;
        *cwnd = cwnd.saturating_add(mss);
    }
}
