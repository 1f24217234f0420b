//! Segment output: SYN/SYN-ACK, the send loop (new data, go-back-N after RTO skipping SACKed
//! data, NewReno's single retransmission, RFC 6675 hole retransmission), Nagle, window
//! probes and keepalives, and pure ACKs with timestamps and SACK blocks.

use core::time::Duration;

use bytes::Bytes;

use super::seq::{diff, gt, lt, max_seq};
use super::tcb::*;
use super::{CtlSeg, Segment, TcpConfig};
use crate::time::Instant;
use crate::wire::{TcpFlags as F, TcpRepr, TcpTimestamp};

impl Tcb {
    /// Sends what is due, then arms the delayed-ACK timer if received data is still
    /// unacknowledged. Returns false when `emit` refused a segment (device full); the state
    /// then reflects exactly what went out.
    pub fn output<E>(&mut self, env: &mut Env<'_>, scratch: &mut Vec<Bytes>, emit: &mut E) -> bool
    where
        E: FnMut(&Segment<'_>) -> bool,
    {
        // The delay runs from the data's arrival (this turn, unless dispatched later).
        let waited = Duration::from_millis(env.now_ms().saturating_sub(self.last_rx_ms));
        if self.has(DELACK_WANTED) && waited >= env.cfg.delayed_ack {
            self.f |= ACK_NOW;
        }
        if !self.send_due(env, scratch, emit) {
            return false;
        }
        if self.has(DELACK_WANTED) {
            self.f &= !DELACK_WANTED;
            env.arm_if_idle(T_DELACK, env.cfg.delayed_ack.saturating_sub(waited));
        }
        true
    }

    fn send_due<E>(&mut self, env: &mut Env<'_>, scratch: &mut Vec<Bytes>, emit: &mut E) -> bool
    where
        E: FnMut(&Segment<'_>) -> bool,
    {
        if self.has(SYN_PENDING) {
            return self.send_syn(env, emit);
        }
        if matches!(self.state, State::SynSent | State::SynReceived) {
            return true;
        }
        if self.has(REXMIT_UNA) {
            let len = self.txq_len.min(self.mss as u32);
            let fin = self.fin_in_range(self.snd_una, len);
            if (len > 0 || fin)
                && !self.send_segment(env, scratch, emit, self.snd_una, len, fin, true)
            {
                return false;
            }
            self.f &= !REXMIT_UNA;
        }
        let ok = if self.recovery == Recovery::Sack {
            self.send_sack_recovery(env, scratch, emit)
        } else {
            self.send_loop(env, scratch, emit)
        };
        if !ok {
            return false;
        }
        if self.has(PROBE) {
            let seq = self.snd_una.wrapping_sub(1);
            if !self.send_segment(env, scratch, emit, seq, 0, false, false) {
                return false;
            }
            self.f &= !PROBE;
        }
        if self.has(ACK_NOW) {
            // SND.MAX, not SND.NXT: during go-back-N the latter may be below the peer's
            // RCV.NXT, and a pure ACK with an old sequence number would be unacceptable.
            return self.send_segment(env, scratch, emit, self.snd_max, 0, false, false);
        }
        true
    }

    /// The FIN may go in a segment [seq, seq + len) (it follows the last data byte).
    fn fin_in_range(&self, seq: u32, len: u32) -> bool {
        self.has(FIN_QUEUED)
            && matches!(
                self.state,
                State::FinWait1 | State::Closing | State::LastAck
            )
            && seq.wrapping_add(len) == self.fin_seq()
    }

    /// New data and go-back-N retransmission, limited by cwnd, the peer's window, Nagle.
    fn send_loop<E>(&mut self, env: &mut Env<'_>, scratch: &mut Vec<Bytes>, emit: &mut E) -> bool
    where
        E: FnMut(&Segment<'_>) -> bool,
    {
        let mss = self.mss as u32;
        loop {
            let data_end = self.fin_seq();
            if lt(self.snd_nxt, self.snd_max) {
                if let Some(end) = self.sack.as_ref().and_then(|s| s.sacked_end(self.snd_nxt)) {
                    self.snd_nxt = end; // already SACKed: skip (RFC 6675 §5.1)
                    continue;
                }
            }
            let avail = if lt(self.snd_nxt, data_end) {
                diff(data_end, self.snd_nxt)
            } else {
                0
            };
            // RFC 3042 limited transmit: up to two segments beyond cwnd on the first dupacks.
            let limited = if self.recovery == Recovery::None && self.dupacks <= 2 {
                self.dupacks as u32 * mss
            } else {
                0
            };
            let cwnd_room = (self.cc.cwnd + limited).saturating_sub(self.flight());
            let wnd_end = self.snd_una.wrapping_add(self.snd_wnd);
            let wnd_room = if gt(wnd_end, self.snd_nxt) {
                diff(wnd_end, self.snd_nxt)
            } else {
                0
            };
            let mut len = avail.min(mss).min(cwnd_room).min(wnd_room);
            if lt(self.snd_nxt, self.snd_max) {
                if let Some((_, hole_end)) =
                    self.sack.as_ref().and_then(|s| s.next_hole(self.snd_nxt))
                {
                    len = len.min(diff(hole_end, self.snd_nxt));
                }
            }
            let fin = self.fin_in_range(self.snd_nxt, len) && cwnd_room > 0;
            if len == 0 && !fin {
                if avail > 0 && self.snd_wnd == 0 && self.snd_una == self.snd_max {
                    env.arm_if_idle(T_RTX, self.rto()); // persist timer (RFC 9293 §3.8.6.1)
                }
                return true;
            }
            let is_rtx = lt(self.snd_nxt, self.snd_max);
            if !is_rtx && len < mss && len < avail.min(mss) && self.snd_nxt != self.snd_una {
                return true; // sender SWS avoidance: wait for the window to open further
            }
            if !is_rtx && len < mss && !fin && !self.has(NODELAY) && self.snd_nxt != self.snd_una {
                return true; // Nagle (RFC 9293 §3.7.4)
            }
            if !self.send_segment(env, scratch, emit, self.snd_nxt, len, fin, is_rtx) {
                return false;
            }
            self.snd_nxt = self.snd_nxt.wrapping_add(len + fin as u32);
            self.snd_max = max_seq(self.snd_max, self.snd_nxt);
            if fin {
                return true;
            }
        }
    }

    /// RFC 6675 pipe: un-SACKed bytes above HighSACK plus retransmitted hole bytes.
    fn pipe(&self) -> u32 {
        let una = self.snd_una;
        let rtx = max_seq(self.rtx_next, una);
        match &self.sack {
            Some(s) => {
                let hi = max_seq(s.highest, una);
                let hi = if gt(hi, self.snd_max) {
                    self.snd_max
                } else {
                    hi
                };
                diff(self.snd_max, hi) + diff(rtx, una) - s.sacked_in(una, rtx).min(diff(rtx, una))
            }
            None => diff(self.snd_max, una),
        }
    }

    /// RFC 6675 §5 step (C): while cwnd - pipe >= 1 SMSS, retransmit the next hole, else
    /// send new data.
    fn send_sack_recovery<E>(
        &mut self,
        env: &mut Env<'_>,
        scratch: &mut Vec<Bytes>,
        emit: &mut E,
    ) -> bool
    where
        E: FnMut(&Segment<'_>) -> bool,
    {
        let mss = self.mss as u32;
        loop {
            if self.cc.cwnd < self.pipe() + mss.min(self.cc.cwnd) {
                return true;
            }
            let from = max_seq(self.rtx_next, self.snd_una);
            let hole = self.sack.as_ref().and_then(|s| s.next_hole(from));
            if let Some((start, end)) = hole {
                let data_end = self.fin_seq();
                let len = diff(end, start).min(mss).min(diff(data_end, start));
                if len == 0 {
                    self.rtx_next = end;
                    continue;
                }
                if !self.send_segment(env, scratch, emit, start, len, false, true) {
                    return false;
                }
                self.rtx_next = start.wrapping_add(len);
                continue;
            }
            // No hole left: new data (rule 2), within the peer's window.
            self.snd_nxt = max_seq(self.snd_nxt, self.snd_max);
            let data_end = self.fin_seq();
            let avail = if lt(self.snd_nxt, data_end) {
                diff(data_end, self.snd_nxt)
            } else {
                0
            };
            let wnd_end = self.snd_una.wrapping_add(self.snd_wnd);
            let room = if gt(wnd_end, self.snd_nxt) {
                diff(wnd_end, self.snd_nxt)
            } else {
                0
            };
            let len = avail.min(mss).min(room);
            let fin = self.fin_in_range(self.snd_nxt, len);
            if len == 0 && !fin {
                return true;
            }
            if !self.send_segment(env, scratch, emit, self.snd_nxt, len, fin, false) {
                return false;
            }
            self.snd_nxt = self.snd_nxt.wrapping_add(len + fin as u32);
            self.snd_max = max_seq(self.snd_max, self.snd_nxt);
        }
    }

    /// The header of a segment from this connection: ACK of RCV.NXT, window, timestamps,
    /// SACK blocks (D-SACK first, then the block of the latest arrival).
    pub fn header(&self, cfg: &TcpConfig, now: Instant, seq: u32, flags: F) -> TcpRepr<'static> {
        let mut r = TcpRepr::new(
            self.local.port(),
            self.remote.port(),
            flags,
            seq,
            self.rcv_nxt,
        );
        let w = self.rcv_window(cfg);
        r.window_len = (w >> self.rcv_wscale).min(65535) as u16;
        if self.has(TS_OK) {
            r.timestamp = Some(TcpTimestamp {
                tsval: self.ts_now(now),
                tsecr: self.ts_recent,
            });
        }
        if self.has(SACK_OK) {
            let mut i = 0;
            if let Some(d) = self.dsack {
                r.sack_ranges[0] = Some(d);
                i = 1;
            }
            if let Some(o) = &self.ooo {
                o.sack_blocks(&mut r.sack_ranges[i..]);
            }
        }
        r
    }

    /// `mss` already leaves room for the timestamp option every segment carries; SACK blocks
    /// come on top, so a full data segment carries only the blocks that still fit the MTU
    /// (the pure ACKs that follow report the rest).
    fn fit_sack_blocks(&self, repr: &mut TcpRepr<'_>, len: u32) {
        let timestamps = if repr.timestamp.is_some() { 12 } else { 0 };
        let budget = 20 + timestamps + self.mss as usize;
        let mut kept = repr.sack_ranges.iter().filter(|r| r.is_some()).count();
        while kept > 0 && repr.header_len() + len as usize > budget {
            kept -= 1;
            repr.sack_ranges[kept] = None;
        }
    }

    /// Builds and emits one segment [seq, seq + len) (+FIN); commits the ACK state.
    #[allow(clippy::too_many_arguments)]
    fn send_segment<E>(
        &mut self,
        env: &mut Env<'_>,
        scratch: &mut Vec<Bytes>,
        emit: &mut E,
        seq: u32,
        len: u32,
        fin: bool,
        rtx: bool,
    ) -> bool
    where
        E: FnMut(&Segment<'_>) -> bool,
    {
        let mut flags = F::ACK;
        if fin {
            flags |= F::FIN;
        }
        if len > 0 && seq.wrapping_add(len) == self.fin_seq() {
            flags |= F::PSH;
        }
        let mut repr = self.header(env.cfg, env.now, seq, flags);
        self.fit_sack_blocks(&mut repr, len);
        scratch.clear();
        if len > 0 {
            self.collect(diff(seq, self.snd_una) as usize, len as usize, scratch);
        }
        let seg = Segment {
            src: self.local,
            dst: self.remote,
            repr,
            payload: scratch,
        };
        if !emit(&seg) {
            return false;
        }
        env.stats.segs_out += 1;
        env.stats.bytes_out += len as u64;
        self.ack_sent(env, &repr);
        if len > 0 || fin {
            env.arm_if_idle(T_RTX, self.rto());
            if rtx {
                env.stats.retransmits += 1;
                self.f &= !TIMING; // Karn
            } else if !self.has(TS_OK) && !self.has(TIMING) && len > 0 {
                self.f |= TIMING;
                self.rtt_seq = seq;
                self.rtt_start_ms = env.now_ms();
            }
        }
        true
    }

    /// Bookkeeping after any segment carrying our ACK.
    fn ack_sent(&mut self, env: &mut Env<'_>, repr: &TcpRepr<'_>) {
        self.f &= !(ACK_NOW | DELACK_WANTED);
        self.dsack = None;
        self.unacked_rx = 0;
        self.last_ack_sent = self.rcv_nxt;
        let w = (repr.window_len as u32) << self.rcv_wscale;
        self.rcv_adv = max_seq(self.rcv_adv, self.rcv_nxt.wrapping_add(w));
        env.cancel(T_DELACK);
    }

    /// Payload parts for `len` bytes at offset `off` of the send queue (references).
    fn collect(&self, mut off: usize, mut len: usize, out: &mut Vec<Bytes>) {
        for b in &self.txq {
            if off >= b.len() {
                off -= b.len();
                continue;
            }
            let take = (b.len() - off).min(len);
            out.push(b.slice(off..off + take));
            len -= take;
            off = 0;
            if len == 0 {
                break;
            }
        }
    }

    /// SYN (SYN-SENT) or SYN-ACK (SYN-RECEIVED) with our options.
    fn send_syn<E>(&mut self, env: &mut Env<'_>, emit: &mut E) -> bool
    where
        E: FnMut(&Segment<'_>) -> bool,
    {
        let cfg = env.cfg;
        let synack = self.state == State::SynReceived;
        let flags = if synack { F::SYN | F::ACK } else { F::SYN };
        let ack = if synack { self.rcv_nxt } else { 0 };
        let mut r = TcpRepr::new(self.local.port(), self.remote.port(), flags, self.iss, ack);
        r.window_len = cfg.rx_buffer.min(65535) as u16;
        r.max_seg_size = Some(cfg.mss);
        if synack {
            r.window_scale = self.has(WS_OK).then_some(self.rcv_wscale);
            r.sack_permitted = self.has(SACK_OK);
            if self.has(TS_OK) {
                r.timestamp = Some(TcpTimestamp {
                    tsval: self.ts_now(env.now),
                    tsecr: self.ts_recent,
                });
            }
        } else {
            r.window_scale = Some(cfg.window_scale.min(14));
            r.sack_permitted = cfg.sack;
            if cfg.timestamps {
                r.timestamp = Some(TcpTimestamp {
                    tsval: self.ts_now(env.now),
                    tsecr: 0,
                });
            }
        }
        let seg = Segment {
            src: self.local,
            dst: self.remote,
            repr: r,
            payload: &[],
        };
        if !emit(&seg) {
            return false;
        }
        env.stats.segs_out += 1;
        if self.retries > 0 {
            env.stats.retransmits += 1;
        } else {
            self.rtt_start_ms = env.now_ms();
        }
        self.f &= !(SYN_PENDING | ACK_NOW);
        self.snd_nxt = self.iss.wrapping_add(1);
        self.snd_max = max_seq(self.snd_max, self.snd_nxt);
        self.last_ack_sent = self.rcv_nxt;
        self.rcv_adv = self.rcv_nxt.wrapping_add(r.window_len as u32);
        env.arm_if_idle(T_RTX, self.rto());
        true
    }

    /// A pure ACK as a control segment (the TCB is about to go, e.g. into TIME-WAIT).
    pub fn ack_ctl(&self, cfg: &TcpConfig, now: Instant) -> CtlSeg {
        CtlSeg {
            src: self.local,
            dst: self.remote,
            repr: self.header(cfg, now, self.snd_max, F::ACK),
        }
    }
}
