//! CUBIC (RFC 9438): after a reduction by beta = 0.7 the window follows
//! W(t) = C (t - K)^3 + W_max, concave up to the previous maximum and convex beyond, with the
//! Reno-friendly estimate W_est as a floor (§4.3). Units here: segments and seconds.

const C: f64 = 0.4;
const BETA: f64 = 0.7;

#[derive(Debug, Clone, Default)]
pub struct Cubic {
    /// Window before the last reduction, segments.
    w_max: f32,
    /// Seconds from the epoch start to reach W_max.
    k: f32,
    /// Reno-friendly estimate, segments.
    w_est: f32,
    /// Start of the current congestion-avoidance epoch, ms (None until the first ACK in CA).
    epoch_ms: Option<u64>,
}

impl Cubic {
    pub fn on_ack(&mut self, cwnd: u32, acked: u32, mss: u32, now_ms: u64, srtt_ms: u32) -> u32 {
        let seg = mss as f64;
        let cw = cwnd as f64 / seg;
        let epoch = *self.epoch_ms.get_or_insert_with(|| {
            // §4.2: a new epoch; W_max below cwnd (e.g. after slow start) means K = 0.
            let w_max = (self.w_max as f64).max(cw);
            self.w_max = w_max as f32;
            self.k = ((w_max - cw) / C).cbrt() as f32;
            self.w_est = cw as f32;
            now_ms
        });
        let t = (now_ms.saturating_sub(epoch) + srtt_ms as u64) as f64 / 1000.0;
        let target = C * (t - self.k as f64).powi(3) + self.w_max as f64;
        let target = target.clamp(cw, 1.5 * cw);
        // §4.3: alpha = 3 (1 - beta) / (1 + beta) per window.
        let alpha = 3.0 * (1.0 - BETA) / (1.0 + BETA);
        self.w_est += (alpha * acked as f64 / seg / cw) as f32;
        let next = if (self.w_est as f64) > target {
            self.w_est as f64
        } else {
            // §4.4/4.5: (target - cwnd) / cwnd per SMSS acknowledged.
            cw + (target - cw) / cw * (acked as f64 / seg)
        };
        ((next * seg) as u32).max(cwnd)
    }

    /// §4.6 with fast convergence (§4.7); returns ssthresh in bytes.
    pub fn on_congestion(&mut self, cwnd: u32, mss: u32) -> u32 {
        let cw = cwnd as f32 / mss as f32;
        self.w_max = if cw < self.w_max {
            cw * (1.0 + BETA as f32) / 2.0
        } else {
            cw
        };
        self.epoch_ms = None;
        ((cwnd as f64 * BETA) as u32).max(2 * mss)
    }
}
