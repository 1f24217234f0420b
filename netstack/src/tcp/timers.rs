//! Timer expiry: retransmission (RFC 6298 §5, with exponential backoff), SYN and SYN-ACK
//! retries, the persist timer (RFC 9293 §3.8.6.1), delayed ACK, keepalive (RFC 9293
//! §3.8.4) and the FIN-WAIT-2 timeout.

use super::tcb::*;
use super::Event;

impl Tcb {
    pub fn on_timer(&mut self, env: &mut Env<'_>, kind: u32) -> Outcome {
        match kind {
            T_RTX => self.on_rtx(env),
            T_DELACK => {
                self.ack_now(env);
                Outcome::Keep
            }
            _ => self.on_keep(env),
        }
    }

    fn on_rtx(&mut self, env: &mut Env<'_>) -> Outcome {
        match self.state {
            State::SynSent | State::SynReceived => return self.syn_timeout(env),
            _ => {}
        }
        if self.snd_una == self.snd_max {
            if self.txq_len > 0 || self.has(FIN_QUEUED) {
                // Persist: probe the zero window with backoff, never give up while the peer
                // answers (RFC 9293 §3.8.6.1).
                self.f |= PROBE;
                self.backoff = (self.backoff + 1).min(16);
                env.arm(T_RTX, self.rto());
                self.schedule(env);
            }
            return Outcome::Keep;
        }
        self.retries += 1;
        if self.retries > env.cfg.max_retries {
            env.stats.retransmit_timeouts_fatal += 1;
            return Outcome::Free;
        }
        env.stats.rto_expiries += 1;
        let mss = self.mss as u32;
        if self.backoff == 0 {
            let flight = super::seq::diff(self.snd_max, self.snd_una);
            self.cc.on_rto(flight, mss);
        } else {
            self.cc.cwnd = mss;
        }
        self.recovery = Recovery::None;
        self.dupacks = 0;
        self.recover = self.snd_max;
        self.f &= !(TIMING | REXMIT_UNA);
        // Go back N: resend from SND.UNA; SACKed data is skipped by the send loop.
        self.snd_nxt = self.snd_una;
        self.backoff = (self.backoff + 1).min(16);
        env.arm(T_RTX, self.rto());
        self.schedule(env);
        Outcome::Keep
    }

    fn syn_timeout(&mut self, env: &mut Env<'_>) -> Outcome {
        self.retries += 1;
        let max = if self.state == State::SynSent {
            env.cfg.syn_retries
        } else {
            env.cfg.synack_retries
        };
        if self.retries > max {
            if self.state == State::SynSent {
                self.f &= !ANNOUNCED;
                env.event(Event::ConnectFailed(env.handle));
            }
            return Outcome::Free;
        }
        self.backoff = (self.backoff + 1).min(16);
        self.f |= SYN_PENDING;
        env.arm(T_RTX, self.rto());
        self.schedule(env);
        Outcome::Keep
    }

    fn on_keep(&mut self, env: &mut Env<'_>) -> Outcome {
        if self.state == State::FinWait2 && self.has(APP_CLOSED) {
            return Outcome::Free;
        }
        let Some(idle) = env.cfg.keepalive else {
            return Outcome::Keep;
        };
        if !matches!(self.state, State::Established | State::CloseWait) {
            return Outcome::Keep;
        }
        let idle_ms = idle.as_millis() as u64;
        let quiet = env.now_ms().saturating_sub(self.last_rx_ms);
        if self.probes == 0 && quiet < idle_ms {
            // Lazily re-armed from the last receive time.
            env.arm(T_KEEP, core::time::Duration::from_millis(idle_ms - quiet));
            return Outcome::Keep;
        }
        if self.probes >= env.cfg.keepalive_probes {
            env.stats.keepalive_timeouts += 1;
            self.send_rst(env);
            return Outcome::Free;
        }
        if self.snd_una == self.snd_max {
            self.probes += 1;
            self.f |= PROBE;
            self.schedule(env);
        }
        env.arm(T_KEEP, env.cfg.keepalive_interval);
        Outcome::Keep
    }
}
