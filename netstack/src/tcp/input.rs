//! Segment arrival (RFC 9293 §3.10.7): demultiplexing, LISTEN with SYN queue and cookies,
//! TIME-WAIT, closed ports, and the per-connection state machine.

use core::net::{Ipv4Addr, SocketAddrV4};

use bytes::Bytes;

use super::seq::{diff, ge, gt, le, lt, max_seq};
use super::tcb::*;
use super::{isn, syncookie, CtlSeg, Event, Tcp, Tuple, NO_LISTENER};
use crate::time::Instant;
use crate::wire::{ChecksumCaps, TcpFlags as F, TcpPacket, TcpRepr, TcpTimestamp};

/// RFC 7323 §5.5: a TS.Recent older than 24 days is invalid.
const PAWS_IDLE_MS: u64 = 24 * 24 * 3600 * 1000;

impl Tcp {
    pub(super) fn input_segment(
        &mut self,
        now: Instant,
        src: Ipv4Addr,
        dst: Ipv4Addr,
        segment: Bytes,
        checksum_ok: bool,
    ) {
        self.now = now;
        self.stats.segs_in += 1;
        let packet = match TcpPacket::new_checked(&segment[..]) {
            Ok(p) => p,
            Err(_) => {
                self.stats.drop_malformed += 1;
                return;
            }
        };
        let caps = ChecksumCaps {
            verify: !checksum_ok,
            compute: false,
        };
        let repr = match TcpRepr::parse(&packet, src, dst, caps) {
            Ok(r) => r,
            Err(crate::wire::Error::Checksum) => {
                self.stats.drop_checksum += 1;
                return;
            }
            Err(_) => {
                self.stats.drop_malformed += 1;
                return;
            }
        };
        let payload = segment.slice(packet.header_len()..);
        let tuple = Tuple {
            local: SocketAddrV4::new(dst, repr.dst_port),
            remote: SocketAddrV4::new(src, repr.src_port),
        };
        if let Some(&idx) = self.demux.get(&tuple) {
            let out = self.with_tcb(idx, now, |t, env| t.input(env, &repr, payload));
            if let Some(out) = out {
                self.apply(idx, out, now);
            }
            return;
        }
        if self.timewait.get(&tuple).is_some() && !self.time_wait_input(tuple, &repr, now) {
            return;
        }
        let lid = self
            .listen_map
            .get(&tuple.local)
            .or_else(|| {
                let any = SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, tuple.local.port());
                self.listen_map.get(&any)
            })
            .copied();
        match lid {
            Some(lid) => self.listen_input(lid, tuple, &repr, payload, now),
            None => {
                self.stats.drop_no_listener += 1;
                self.reset_for(tuple, &repr, payload.len());
            }
        }
    }

    /// RFC 9293 §3.10.7.1: a segment for no connection gets a RST (unless it is one).
    pub(super) fn reset_for(&mut self, t: Tuple, seg: &TcpRepr<'_>, payload_len: usize) {
        if seg.flags.contains(F::RST) {
            return;
        }
        let repr = if seg.flags.contains(F::ACK) {
            TcpRepr::new(t.local.port(), t.remote.port(), F::RST, seg.ack_number, 0)
        } else {
            let len = payload_len as u32
                + seg.flags.contains(F::SYN) as u32
                + seg.flags.contains(F::FIN) as u32;
            let ack = seg.seq_number.wrapping_add(len);
            TcpRepr::new(t.local.port(), t.remote.port(), F::RST | F::ACK, 0, ack)
        };
        self.stats.resets_sent += 1;
        self.ctl.push_back(CtlSeg {
            src: t.local,
            dst: t.remote,
            repr,
        });
    }

    /// A segment for a TIME-WAIT 4-tuple. Returns true when it is a new SYN that may reopen
    /// the connection (RFC 6191: higher timestamp, or RFC 1122 §4.2.2.13: higher sequence).
    fn time_wait_input(&mut self, t: Tuple, seg: &TcpRepr<'_>, now: Instant) -> bool {
        let e = *self.timewait.get(&t).unwrap();
        if seg.flags.contains(F::RST) {
            return false; // RFC 1337: no TIME-WAIT assassination.
        }
        if seg.flags.contains(F::SYN) && !seg.flags.contains(F::ACK) {
            let newer = match (e.ts_recent, seg.timestamp) {
                (Some(recent), Some(ts)) => gt(ts.tsval, recent),
                _ => gt(seg.seq_number, e.rcv_nxt),
            };
            if newer {
                self.timewait.remove(&t);
                self.stats.time_wait_reused += 1;
                self.tw_isn = Some(e.snd_nxt.wrapping_add(65537));
                return true;
            }
        }
        // Re-ACK (a retransmitted FIN, or anything else).
        let mut repr = TcpRepr::new(
            t.local.port(),
            t.remote.port(),
            F::ACK,
            e.snd_nxt,
            e.rcv_nxt,
        );
        if let (Some(recent), Some(_)) = (e.ts_recent, seg.timestamp) {
            repr.timestamp = Some(TcpTimestamp {
                tsval: (now.total_millis() as u32).wrapping_add(e.ts_offset),
                tsecr: recent,
            });
        }
        self.ctl.push_back(CtlSeg {
            src: t.local,
            dst: t.remote,
            repr,
        });
        false
    }

    fn listen_input(
        &mut self,
        lid: u32,
        t: Tuple,
        seg: &TcpRepr<'_>,
        payload: Bytes,
        now: Instant,
    ) {
        let tw_isn = self.tw_isn.take();
        let fl = seg.flags;
        if fl.contains(F::RST) {
            return;
        }
        if fl.contains(F::ACK) {
            if !fl.contains(F::SYN) && self.cookie_ack(lid, t, seg, payload.clone(), now) {
                return;
            }
            self.reset_for(t, seg, payload.len());
            return;
        }
        if !fl.contains(F::SYN) {
            return;
        }
        let l = self.listeners[lid as usize].as_ref().unwrap();
        if l.accept_pending >= l.backlog {
            // Accept queue full: drop the SYN, the peer retries (Linux behaviour).
            self.stats.drop_listen_overflow += 1;
            return;
        }
        if l.syn_queue >= self.cfg.syn_backlog {
            self.cookie_syn_ack(t, seg, now);
            return;
        }
        let iss = tw_isn.unwrap_or_else(|| isn::isn(&self.hasher, t.local, t.remote, now));
        let ts_off = isn::ts_offset(&self.hasher, t.local, t.remote);
        let tcb = Tcb::new_passive(&self.cfg, t.local, t.remote, iss, ts_off, lid, seg, now);
        self.listeners[lid as usize].as_mut().unwrap().syn_queue += 1;
        let h = self.insert(tcb);
        self.schedule(h.index);
        // SYN-ACK retransmission (RFC 6298 §5 with the initial RTO).
        let rto = self.tcb_mut(h.index).rto();
        self.timers
            .arm(h.index * super::TIMER_KINDS + T_RTX, now + rto);
    }

    /// SYN queue full: answer with a stateless cookie SYN-ACK (RFC 4987 §3.6).
    fn cookie_syn_ack(&mut self, t: Tuple, seg: &TcpRepr<'_>, now: Instant) {
        let (idx, mss) = syncookie::mss_index(seg.max_seg_size.unwrap_or(DEFAULT_MSS));
        let cookie = syncookie::make(&self.hasher, t.local, t.remote, seg.seq_number, idx, now);
        let mut r = TcpRepr::new(
            t.local.port(),
            t.remote.port(),
            F::SYN | F::ACK,
            cookie,
            seg.seq_number.wrapping_add(1),
        );
        r.window_len = self.cfg.rx_buffer.min(65535) as u16;
        r.max_seg_size = Some(mss.min(self.cfg.mss));
        // Without timestamps there is nowhere to keep WS and SACK: offer neither.
        if let (Some(ts), true) = (seg.timestamp, self.cfg.timestamps) {
            let ws = seg.window_scale.map(|_| self.cfg.window_scale);
            let sack = seg.sack_permitted && self.cfg.sack;
            let off = isn::ts_offset(&self.hasher, t.local, t.remote);
            let tsval = (now.total_millis() as u32).wrapping_add(off);
            r.timestamp = Some(TcpTimestamp {
                tsval: syncookie::encode_ts_options(tsval, ws, sack),
                tsecr: ts.tsval,
            });
            r.window_scale = ws;
            r.sack_permitted = sack;
        }
        self.stats.syncookies_sent += 1;
        self.ctl.push_back(CtlSeg {
            src: t.local,
            dst: t.remote,
            repr: r,
        });
    }

    /// The final ACK of a cookie handshake: rebuild the connection. Returns false when the
    /// ACK carries no valid cookie.
    fn cookie_ack(
        &mut self,
        lid: u32,
        t: Tuple,
        seg: &TcpRepr<'_>,
        payload: Bytes,
        now: Instant,
    ) -> bool {
        let cookie = seg.ack_number.wrapping_sub(1);
        let peer_isn = seg.seq_number.wrapping_sub(1);
        let Some(mss_idx) =
            syncookie::check(&self.hasher, t.local, t.remote, peer_isn, cookie, now)
        else {
            self.stats.syncookies_failed += 1;
            return false;
        };
        let l = self.listeners[lid as usize].as_ref().unwrap();
        if l.accept_pending >= l.backlog {
            self.stats.drop_listen_overflow += 1;
            return true;
        }
        self.stats.syncookies_ok += 1;
        // Rebuild the SYN as it must have been.
        let mut syn = TcpRepr::new(t.remote.port(), t.local.port(), F::SYN, peer_isn, 0);
        syn.max_seg_size = Some(syncookie::MSS_TABLE[mss_idx as usize]);
        syn.window_len = seg.window_len;
        if let (Some(ts), true) = (seg.timestamp, self.cfg.timestamps) {
            if ts.tsecr != 0 {
                let (ws, sack) = syncookie::decode_ts_options(ts.tsecr);
                syn.window_scale = ws;
                syn.sack_permitted = sack;
                syn.timestamp = Some(TcpTimestamp {
                    tsval: ts.tsval,
                    tsecr: 0,
                });
            }
        }
        let ts_off = isn::ts_offset(&self.hasher, t.local, t.remote);
        let mut tcb =
            Tcb::new_passive(&self.cfg, t.local, t.remote, cookie, ts_off, lid, &syn, now);
        tcb.state = State::Established;
        tcb.f &= !SYN_PENDING;
        tcb.snd_una = cookie.wrapping_add(1);
        tcb.snd_nxt = tcb.snd_una;
        tcb.snd_max = tcb.snd_una;
        tcb.snd_wnd = (seg.window_len as u32) << tcb.snd_wscale;
        tcb.max_snd_wnd = tcb.snd_wnd;
        tcb.snd_wl1 = seg.seq_number;
        tcb.snd_wl2 = seg.ack_number;
        self.listeners[lid as usize].as_mut().unwrap().syn_queue += 1;
        let h = self.insert(tcb);
        self.announce_accept(h.index, true);
        let out = self.with_tcb(h.index, now, |t, env| t.input(env, seg, payload));
        if let Some(out) = out {
            self.apply(h.index, out, now);
        }
        true
    }
}

impl Tcb {
    /// One segment for this connection (RFC 9293 §3.10.7.3 and §3.10.7.4).
    pub fn input(&mut self, env: &mut Env<'_>, seg: &TcpRepr<'_>, payload: Bytes) -> Outcome {
        if self.state == State::SynSent {
            return self.input_syn_sent(env, seg);
        }
        self.last_rx_ms = env.now_ms();
        self.probes = 0;
        let mut seq = seg.seq_number;
        let mut payload = payload;
        let mut fl = seg.flags;
        if self.state == State::SynReceived && fl.contains(F::SYN) && seq == self.irs {
            if !fl.contains(F::ACK) {
                // Retransmitted SYN: our SYN-ACK was lost.
                self.f |= SYN_PENDING;
                self.schedule(env);
                return Outcome::Keep;
            }
            // Simultaneous open: the peer's SYN-ACK; its SYN is already counted.
            seq = seq.wrapping_add(1);
            fl = F::from_bits_truncate(fl.bits() & !F::SYN.bits());
        }
        // PAWS (RFC 7323 §5.3), before the sequence check; RSTs are exempt.
        if let (true, Some(ts)) = (self.has(TS_OK), seg.timestamp) {
            let fresh = env.now_ms().saturating_sub(self.ts_recent_ms) < PAWS_IDLE_MS;
            if lt(ts.tsval, self.ts_recent) && fresh && !fl.contains(F::RST) {
                env.stats.drop_paws += 1;
                self.ack_now(env);
                return Outcome::Keep;
            }
        }
        // 1. Sequence check (§3.10.7.4 first).
        if !self.acceptable(env, seq, &payload, fl) {
            env.stats.drop_out_of_window += 1;
            if !fl.contains(F::RST) {
                let end = seq.wrapping_add(payload.len() as u32);
                if !payload.is_empty() && le(end, self.rcv_nxt) && self.has(SACK_OK) {
                    self.dsack = Some((seq, end)); // RFC 2883 §4.1
                }
                self.ack_now(env);
            }
            return Outcome::Keep;
        }
        // 2. RST (RFC 5961 §3.2): exact match resets, in-window gets a challenge ACK.
        if fl.contains(F::RST) {
            if seq != self.rcv_nxt {
                self.challenge_ack(env);
                return Outcome::Keep;
            }
            env.stats.resets_received += 1;
            return Outcome::Free;
        }
        // 4. SYN in a synchronized state (RFC 5961 §4.2): challenge ACK.
        if fl.contains(F::SYN) {
            self.challenge_ack(env);
            return Outcome::Keep;
        }
        // 5. ACK.
        if !fl.contains(F::ACK) {
            return Outcome::Keep;
        }
        let mut outcome = Outcome::Keep;
        if self.state == State::SynReceived {
            match self.syn_received_ack(env, seg) {
                Some(o) => outcome = o,
                None => return Outcome::Keep,
            }
        }
        if let Some(o) = self.process_ack(env, seg, payload.is_empty(), fl) {
            return o;
        }
        // Update TS.Recent (RFC 7323 §4.3): the segment covers Last.ACK.sent.
        if let (true, Some(ts)) = (self.has(TS_OK), seg.timestamp) {
            if le(seq, self.last_ack_sent) && ge(ts.tsval, self.ts_recent) {
                self.ts_recent = ts.tsval;
                self.ts_recent_ms = env.now_ms();
            }
        }
        // 7. Data; trim to what is new and within the window.
        let mut fin = fl.contains(F::FIN);
        if lt(seq, self.rcv_nxt) {
            let skip = diff(self.rcv_nxt, seq) as usize;
            payload = payload.slice(skip.min(payload.len())..);
            seq = self.rcv_nxt;
        }
        let wnd = self.rcv_window(env.cfg);
        let room = diff(self.rcv_nxt.wrapping_add(wnd), seq) as usize;
        if payload.len() > room {
            // Beyond the window (a zero-window probe, or an overrun): ACK what we have.
            payload = payload.slice(..room);
            fin = false;
            self.ack_now(env);
        }
        if !payload.is_empty() {
            if self.state.can_receive() {
                self.receive_data(env, seq, payload.clone());
            } else {
                self.ack_now(env);
            }
        }
        // 8. FIN, only in order.
        if fin && seq.wrapping_add(payload.len() as u32) == self.rcv_nxt {
            let o = self.receive_fin(env);
            if o != Outcome::Keep {
                return o;
            }
        }
        if outcome == Outcome::Keep && self.state != State::SynReceived {
            self.schedule_if_sendable(env);
        }
        outcome
    }

    /// The RFC 9293 acceptability test, with the zero-window allowance for ACKs/RSTs.
    fn acceptable(&self, env: &Env<'_>, seq: u32, payload: &Bytes, fl: F) -> bool {
        let len = payload.len() as u32 + fl.contains(F::FIN) as u32 + fl.contains(F::SYN) as u32;
        let wnd = self.rcv_window(env.cfg);
        let nxt = self.rcv_nxt;
        let in_wnd = |s: u32| le(nxt, s) && lt(s, nxt.wrapping_add(wnd));
        match (len, wnd) {
            (0, 0) => seq == nxt,
            (0, _) => in_wnd(seq),
            (_, 0) => seq == nxt, // only its ACK is used; the data is trimmed
            _ => in_wnd(seq) || in_wnd(seq.wrapping_add(len - 1)),
        }
    }

    /// SYN-RECEIVED and an ACK: ESTABLISHED if it acknowledges our SYN (§3.10.7.4 fifth).
    /// `None` = drop.
    fn syn_received_ack(&mut self, env: &mut Env<'_>, seg: &TcpRepr<'_>) -> Option<Outcome> {
        let ack = seg.ack_number;
        if !(lt(self.snd_una, ack) && le(ack, self.snd_max)) {
            let t = super::Tuple {
                local: self.local,
                remote: self.remote,
            };
            let repr = TcpRepr::new(t.local.port(), t.remote.port(), F::RST, ack, 0);
            env.stats.resets_sent += 1;
            env.ctl.push_back(CtlSeg {
                src: t.local,
                dst: t.remote,
                repr,
            });
            return None;
        }
        if self.listener != NO_LISTENER && env.accept_full {
            env.stats.drop_listen_overflow += 1;
            return None;
        }
        self.state = if self.has(FIN_QUEUED) {
            State::FinWait1
        } else {
            State::Established
        };
        self.snd_wnd = (seg.window_len as u32) << self.snd_wscale;
        self.max_snd_wnd = self.snd_wnd;
        self.snd_wl1 = seg.seq_number;
        self.snd_wl2 = ack;
        self.retries = 0;
        self.backoff = 0;
        self.start_keepalive(env);
        if self.listener == NO_LISTENER {
            env.stats.connected += 1;
            env.event(Event::Connected(env.handle));
            Some(Outcome::Keep)
        } else {
            // Announced here so that `Accepted` precedes any data this ACK carries; the
            // engine does the listener's queue accounting on `Outcome::Established`.
            self.f |= ANNOUNCED;
            env.event(Event::Accepted {
                listener: super::ListenerId(self.listener),
                handle: env.handle,
                local: self.local,
                peer: self.remote,
            });
            Some(Outcome::Established)
        }
    }

    fn start_keepalive(&mut self, env: &mut Env<'_>) {
        if let Some(idle) = env.cfg.keepalive {
            env.arm(T_KEEP, idle);
        }
    }

    /// SYN-SENT (§3.10.7.3).
    fn input_syn_sent(&mut self, env: &mut Env<'_>, seg: &TcpRepr<'_>) -> Outcome {
        let fl = seg.flags;
        let ack_ok =
            fl.contains(F::ACK) && lt(self.iss, seg.ack_number) && le(seg.ack_number, self.snd_max);
        if fl.contains(F::ACK) && !ack_ok {
            if !fl.contains(F::RST) {
                let repr = TcpRepr::new(
                    self.local.port(),
                    self.remote.port(),
                    F::RST,
                    seg.ack_number,
                    0,
                );
                env.stats.resets_sent += 1;
                env.ctl.push_back(CtlSeg {
                    src: self.local,
                    dst: self.remote,
                    repr,
                });
            }
            return Outcome::Keep;
        }
        if fl.contains(F::RST) {
            if ack_ok {
                env.stats.resets_received += 1;
                self.f &= !ANNOUNCED;
                env.event(Event::ConnectFailed(env.handle));
                return Outcome::Free;
            }
            return Outcome::Keep;
        }
        if !fl.contains(F::SYN) {
            return Outcome::Keep;
        }
        self.negotiate_reply(env, seg);
        self.irs = seg.seq_number;
        self.rcv_nxt = seg.seq_number.wrapping_add(1);
        self.rcv_adv = self.rcv_nxt;
        self.last_rx_ms = env.now_ms();
        if !ack_ok {
            // Simultaneous open (§3.10.7.3 fourth, Figure 8): SYN-RECEIVED, send SYN-ACK.
            self.state = State::SynReceived;
            self.snd_nxt = self.iss;
            self.snd_wnd = seg.window_len as u32;
            self.snd_wl1 = seg.seq_number;
            self.f |= SYN_PENDING;
            self.schedule(env);
            return Outcome::Keep;
        }
        // Our SYN is acknowledged: ESTABLISHED.
        if self.has(TS_OK) {
            if let Some(ts) = seg.timestamp.filter(|t| t.tsecr != 0) {
                let rtt = self.ts_now(env.now).wrapping_sub(ts.tsecr);
                self.rtt_sample(env, rtt.saturating_mul(1000));
            }
        } else if self.retries == 0 {
            let rtt = env.now_ms().saturating_sub(self.rtt_start_ms);
            self.rtt_sample(env, (rtt * 1000) as u32);
        }
        self.snd_una = seg.ack_number;
        if lt(self.snd_nxt, self.snd_una) {
            self.snd_nxt = self.snd_una;
        }
        self.snd_wnd = seg.window_len as u32; // never scaled in a SYN (RFC 7323 §2.2)
        self.max_snd_wnd = self.snd_wnd;
        self.snd_wl1 = seg.seq_number;
        self.snd_wl2 = seg.ack_number;
        self.state = State::Established;
        self.retries = 0;
        self.backoff = 0;
        env.cancel(T_RTX);
        self.start_keepalive(env);
        env.stats.connected += 1;
        env.event(Event::Connected(env.handle));
        self.ack_now(env);
        Outcome::Keep
    }

    /// Options of a SYN-ACK answering our SYN: each only if we offered it too.
    fn negotiate_reply(&mut self, env: &mut Env<'_>, seg: &TcpRepr<'_>) {
        let cfg = env.cfg;
        let mut s = *seg;
        s.sack_permitted &= cfg.sack;
        if !cfg.timestamps {
            s.timestamp = None;
        }
        self.negotiate(cfg, &s, env.now);
        if seg.window_scale.is_none() {
            self.f &= !WS_OK;
            self.snd_wscale = 0;
            self.rcv_wscale = 0;
        }
    }

    /// ACK processing (§3.10.7.4 fifth). `Some(outcome)` ends processing of the segment.
    fn process_ack(
        &mut self,
        env: &mut Env<'_>,
        seg: &TcpRepr<'_>,
        no_data: bool,
        fl: F,
    ) -> Option<Outcome> {
        let ack = seg.ack_number;
        if gt(ack, self.snd_max) {
            // Acknowledges something not yet sent: ACK and drop.
            self.ack_now(env);
            return Some(Outcome::Keep);
        }
        // RFC 5961 §5.2: too old an ACK is a blind injection attempt.
        if lt(ack, self.snd_una.wrapping_sub(self.max_snd_wnd.max(1))) {
            self.challenge_ack(env);
            return Some(Outcome::Keep);
        }
        let mut sack_new = false;
        if self.has(SACK_OK) && seg.sack_ranges[0].is_some() {
            let (una, max) = (self.snd_una, self.snd_max);
            let board = self.sack.get_or_insert_with(Default::default);
            sack_new = board.update(una, max, &seg.sack_ranges);
            if board.is_empty() {
                self.sack = None;
            }
        }
        let wnd = (seg.window_len as u32) << self.snd_wscale;
        let window_changed = wnd != self.snd_wnd;
        let mut fin_outcome = None;
        if gt(ack, self.snd_una) {
            fin_outcome = self.new_ack(env, seg, ack);
        } else if ack == self.snd_una
            && no_data
            && !fl.contains(F::FIN)
            && !window_changed
            && self.snd_una != self.snd_max
        {
            self.dup_ack(env, sack_new);
        }
        // Window update (§3.10.7.4: SND.WL1/WL2 guard against old segments).
        let seq = seg.seq_number;
        if lt(self.snd_wl1, seq) || (self.snd_wl1 == seq && le(self.snd_wl2, ack)) {
            let opened = wnd > self.snd_wnd;
            self.snd_wnd = wnd;
            self.snd_wl1 = seq;
            self.snd_wl2 = ack;
            self.max_snd_wnd = self.max_snd_wnd.max(wnd);
            if opened {
                if self.snd_una == self.snd_max {
                    self.backoff = 0; // persist probing ends
                    env.cancel(T_RTX);
                }
                self.schedule(env);
            }
        }
        fin_outcome
    }

    /// New data (or our FIN) acknowledged.
    fn new_ack(&mut self, env: &mut Env<'_>, seg: &TcpRepr<'_>, ack: u32) -> Option<Outcome> {
        // The SYN occupies one sequence number but no queued byte.
        let syn = (self.snd_una == self.iss) as u32;
        let acked = diff(ack, self.snd_una) - syn;
        let data = acked.min(self.txq_len);
        let fin_acked = self.has(FIN_QUEUED) && acked > self.txq_len;
        self.txq_consume(data);
        self.snd_una = ack;
        if lt(self.snd_nxt, ack) {
            self.snd_nxt = ack;
        }
        self.rtt_on_ack(env, seg, ack);
        self.backoff = 0;
        self.retries = 0;
        if let Some(s) = &mut self.sack {
            s.ack(ack);
            if s.is_empty() {
                self.sack = None;
            }
        }
        self.congestion_on_ack(env, data, ack);
        if self.snd_una == self.snd_max {
            env.cancel(T_RTX);
        } else {
            env.arm(T_RTX, self.rto()); // RFC 6298 §5.3
        }
        if self.has(WANT_WRITABLE) && self.txq_len < env.cfg.tx_buffer / 2 && !self.has(FIN_QUEUED)
        {
            self.f &= !WANT_WRITABLE;
            env.event(Event::Writable(env.handle));
        }
        self.schedule_if_sendable(env);
        if fin_acked {
            return self.on_fin_acked(env);
        }
        None
    }

    fn on_fin_acked(&mut self, env: &mut Env<'_>) -> Option<Outcome> {
        match self.state {
            State::FinWait1 => {
                self.state = State::FinWait2;
                if self.has(APP_CLOSED) {
                    env.arm(T_KEEP, env.cfg.fin_timeout);
                }
                None
            }
            State::Closing => Some(Outcome::TimeWait),
            State::LastAck => Some(Outcome::Free),
            _ => None,
        }
    }

    /// RTT from the timestamp echo (RFC 7323 §4.1), else from the timed segment (Karn).
    fn rtt_on_ack(&mut self, env: &mut Env<'_>, seg: &TcpRepr<'_>, ack: u32) {
        if self.has(TS_OK) {
            if let Some(ts) = seg.timestamp.filter(|t| t.tsecr != 0) {
                let rtt_ms = self.ts_now(env.now).wrapping_sub(ts.tsecr);
                if rtt_ms < 3_600_000 {
                    self.rtt_sample(env, rtt_ms.max(1) * 1000);
                }
            }
        } else if self.has(TIMING) && gt(ack, self.rtt_seq) {
            self.f &= !TIMING;
            let rtt_ms = env.now_ms().saturating_sub(self.rtt_start_ms);
            self.rtt_sample(env, (rtt_ms.max(1) * 1000) as u32);
        }
    }

    /// Window growth and the end of recovery (RFC 5681, 6582 §3.2 step 3, 6675 §5).
    fn congestion_on_ack(&mut self, env: &mut Env<'_>, acked: u32, ack: u32) {
        let mss = self.mss as u32;
        match self.recovery {
            Recovery::None => {
                self.dupacks = 0;
                self.cc.on_ack(acked, mss, env.now_ms(), self.srtt_ms());
            }
            Recovery::NewReno => {
                if ge(ack, self.recover) {
                    // Full ACK: deflate to ssthresh (RFC 6582 step 3, option 1).
                    let flight = diff(self.snd_max, self.snd_una);
                    self.cc.cwnd = self.cc.ssthresh.min(flight.max(mss) + mss);
                    self.recovery = Recovery::None;
                    self.dupacks = 0;
                } else {
                    // Partial ACK: retransmit the next hole, deflate by the amount acked.
                    self.f |= REXMIT_UNA;
                    self.cc.cwnd = self.cc.cwnd.saturating_sub(acked).max(mss) + mss;
                    env.arm(T_RTX, self.rto());
                    self.schedule(env);
                }
            }
            Recovery::Sack => {
                if ge(ack, self.recover) {
                    self.cc.cwnd = self.cc.ssthresh;
                    self.recovery = Recovery::None;
                    self.dupacks = 0;
                } else {
                    self.rtx_next = max_seq(self.rtx_next, ack);
                    if self.sack.is_none() {
                        // No SACK information left: retransmit the first hole as NewReno.
                        self.f |= REXMIT_UNA;
                    }
                    self.schedule(env);
                }
            }
        }
    }

    /// A duplicate ACK (RFC 5681 §3.2, RFC 6675 §5 with DupThresh = 3).
    fn dup_ack(&mut self, env: &mut Env<'_>, sack_new: bool) {
        self.dupacks = self.dupacks.saturating_add(1);
        let mss = self.mss as u32;
        match self.recovery {
            Recovery::None => {
                let sacked = self.sack.as_ref().map_or(0, |s| s.sacked_bytes());
                let enough = self.dupacks >= 3 || sacked > 3 * mss;
                // RFC 6582 §3.2 step 2: no new recovery until SND.UNA passes `recover`.
                if enough && gt(self.snd_una, self.recover) {
                    self.enter_recovery(env);
                } else if self.dupacks <= 2 {
                    self.schedule(env); // RFC 3042 limited transmit
                }
            }
            Recovery::NewReno => {
                self.cc.cwnd += mss; // window inflation
                self.schedule(env);
            }
            Recovery::Sack => {
                if sack_new {
                    self.schedule(env);
                }
            }
        }
    }

    fn enter_recovery(&mut self, env: &mut Env<'_>) {
        let mss = self.mss as u32;
        let flight = diff(self.snd_max, self.snd_una);
        let ssthresh = self.cc.on_congestion(flight, mss);
        self.recover = self.snd_max;
        self.f &= !TIMING; // Karn
        env.stats.fast_retransmits += 1;
        if self.sack.is_some() {
            self.recovery = Recovery::Sack;
            self.cc.cwnd = ssthresh;
            self.rtx_next = self.snd_una;
        } else {
            self.recovery = Recovery::NewReno;
            self.cc.cwnd = ssthresh + 3 * mss;
            self.f |= REXMIT_UNA;
        }
        env.arm(T_RTX, self.rto());
        self.schedule(env);
    }

    /// In-order or out-of-order data within the window (§3.10.7.4 seventh).
    fn receive_data(&mut self, env: &mut Env<'_>, seq: u32, payload: Bytes) {
        let len = payload.len() as u32;
        self.rcv_mss = self.rcv_mss.max(len.min(u16::MAX as u32) as u16);
        if seq != self.rcv_nxt {
            env.stats.ooo_segments += 1;
            let ooo = self.ooo.get_or_insert_with(Default::default);
            ooo.insert(seq, payload);
            self.ack_now(env); // RFC 5681 §4.2: out-of-order data is ACKed at once
            return;
        }
        self.rcv_nxt = self.rcv_nxt.wrapping_add(len);
        self.unacked_rx += len;
        self.deliver(env, payload);
        let mut filled = false;
        if let Some(mut ooo) = self.ooo.take() {
            while let Some(d) = ooo.pop(self.rcv_nxt) {
                self.rcv_nxt = self.rcv_nxt.wrapping_add(d.len() as u32);
                self.unacked_rx += d.len() as u32;
                filled = true;
                self.deliver(env, d);
            }
            if !ooo.is_empty() {
                self.ooo = Some(ooo);
            }
        }
        if filled || self.quickacks > 0 || self.unacked_rx >= 2 * self.rcv_mss as u32 {
            self.quickacks = self.quickacks.saturating_sub(1);
            self.ack_now(env);
        } else {
            self.f |= DELACK_WANTED;
            self.schedule(env);
        }
    }

    /// An in-order FIN (§3.10.7.4 eighth).
    fn receive_fin(&mut self, env: &mut Env<'_>) -> Outcome {
        self.rcv_nxt = self.rcv_nxt.wrapping_add(1);
        self.ack_now(env);
        self.peer_closed(env);
        match self.state {
            State::SynReceived | State::Established => self.state = State::CloseWait,
            State::FinWait1 => self.state = State::Closing, // simultaneous close
            State::FinWait2 => return Outcome::TimeWait,
            _ => {}
        }
        Outcome::Keep
    }

    /// Something may be sendable: queue for dispatch.
    fn schedule_if_sendable(&mut self, env: &mut Env<'_>) {
        if self.txq_len > diff(self.snd_nxt, self.snd_una) || self.has(FIN_QUEUED) {
            self.schedule(env);
        }
    }
}
