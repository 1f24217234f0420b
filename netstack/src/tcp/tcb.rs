//! The transmission control block: one connection's state (RFC 9293 §3.3.1), kept small.
//! Buffers are `VecDeque<Bytes>` that allocate only while they hold data; the SACK
//! scoreboard and the reassembly queue are boxed and exist only while needed.

use core::net::SocketAddrV4;
use core::time::Duration;
use std::collections::VecDeque;

use bytes::{Buf, Bytes};

use super::congestion::Cc;
use super::reassembly::Reassembly;
use super::sack::Scoreboard;
use super::seq::diff;
use super::timewait::TwEntry;
use super::{
    ChallengeLimit, CtlSeg, Event, Handle, TcpConfig, TcpError, TcpStats, NO_LISTENER, TIMER_KINDS,
};
use crate::time::{Instant, TimerWheel};

// Flag bits of `Tcb::f`.
pub const NODELAY: u32 = 1 << 0;
pub const PAUSED: u32 = 1 << 1;
pub const SACK_OK: u32 = 1 << 2;
pub const TS_OK: u32 = 1 << 3;
pub const ACK_NOW: u32 = 1 << 4;
pub const IN_READY: u32 = 1 << 5;
/// The application asked for a FIN (close or shutdown_write).
pub const FIN_QUEUED: u32 = 1 << 6;
/// The application closed: received data is discarded.
pub const APP_CLOSED: u32 = 1 << 7;
/// FIN received while reading was paused: PeerClosed is owed.
pub const FIN_HELD: u32 = 1 << 8;
pub const WANT_WRITABLE: u32 = 1 << 9;
/// The application knows the handle (Closed is owed at the end).
pub const ANNOUNCED: u32 = 1 << 10;
/// NewReno: retransmit the first unacknowledged segment.
pub const REXMIT_UNA: u32 = 1 << 11;
/// Send the SYN (SYN-SENT) or SYN-ACK (SYN-RECEIVED).
pub const SYN_PENDING: u32 = 1 << 12;
/// Send a window probe / keepalive (an ACK with SEQ = SND.UNA - 1).
pub const PROBE: u32 = 1 << 13;
/// Timing a segment for RTT (no timestamps; Karn's algorithm clears it on retransmit).
pub const TIMING: u32 = 1 << 14;
/// PeerClosed was delivered.
pub const FIN_RCVD: u32 = 1 << 15;
/// Window scaling in use (both sides sent the option).
pub const WS_OK: u32 = 1 << 16;
/// Data arrived whose ACK may be delayed: the delayed-ACK timer is armed after this turn's
/// output only if no segment carried the ACK meanwhile (most requests are answered in the
/// same turn, so the timer is then neither armed nor cancelled).
pub const DELACK_WANTED: u32 = 1 << 17;

/// Timer kinds (key = index * 3 + kind).
pub const T_RTX: u32 = 0;
pub const T_DELACK: u32 = 1;
pub const T_KEEP: u32 = 2;

/// Quick ACKs at connection start (Linux's quickack mode): ACK every segment so the
/// peer's slow start is not slowed by delayed ACKs.
const QUICKACKS: u8 = 8;
/// Initial RTO (RFC 6298 §2.1).
const INITIAL_RTO_US: u32 = 1_000_000;
const MAX_RTO_US: u32 = 60_000_000;
/// Default MSS when the peer sends none (RFC 9293 §3.7.1).
pub const DEFAULT_MSS: u16 = 536;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    SynSent,
    SynReceived,
    Established,
    FinWait1,
    FinWait2,
    CloseWait,
    Closing,
    LastAck,
}

impl State {
    pub fn name(self) -> &'static str {
        match self {
            State::SynSent => "SYN-SENT",
            State::SynReceived => "SYN-RECEIVED",
            State::Established => "ESTABLISHED",
            State::FinWait1 => "FIN-WAIT-1",
            State::FinWait2 => "FIN-WAIT-2",
            State::CloseWait => "CLOSE-WAIT",
            State::Closing => "CLOSING",
            State::LastAck => "LAST-ACK",
        }
    }

    /// States in which we may still receive data.
    pub fn can_receive(self) -> bool {
        matches!(
            self,
            State::Established | State::FinWait1 | State::FinWait2 | State::SynReceived
        )
    }
}

/// Loss recovery in progress.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Recovery {
    None,
    /// RFC 6582.
    NewReno,
    /// RFC 6675.
    Sack,
}

/// What the engine must do with the connection after an input or a timer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Keep,
    /// A passive open completed: announce it (`Accepted`).
    Established,
    /// Remove the connection (`Closed` if the application knew it).
    Free,
    /// Move to the TIME-WAIT table and remove the TCB.
    TimeWait,
}

/// The engine context a TCB works in.
pub struct Env<'a> {
    pub cfg: &'a TcpConfig,
    pub now: Instant,
    pub timers: &'a mut TimerWheel,
    pub events: &'a mut VecDeque<Event>,
    pub stats: &'a mut TcpStats,
    pub ready: &'a mut VecDeque<(u32, u32)>,
    pub ctl: &'a mut VecDeque<CtlSeg>,
    pub challenge: &'a mut ChallengeLimit,
    pub handle: Handle,
    /// The listener's accept queue is full (SYN-RECEIVED connections stay embryonic).
    pub accept_full: bool,
}

impl Env<'_> {
    pub fn event(&mut self, e: Event) {
        self.events.push_back(e);
    }

    pub fn arm(&mut self, kind: u32, after: Duration) {
        let key = self.handle.index * TIMER_KINDS + kind;
        self.timers.arm(key, self.now + after);
    }

    pub fn arm_if_idle(&mut self, kind: u32, after: Duration) {
        if !self.is_armed(kind) {
            self.arm(kind, after);
        }
    }

    pub fn cancel(&mut self, kind: u32) {
        self.timers.cancel(self.handle.index * TIMER_KINDS + kind);
    }

    pub fn is_armed(&self, kind: u32) -> bool {
        self.timers.is_armed(self.handle.index * TIMER_KINDS + kind)
    }

    pub fn now_ms(&self) -> u64 {
        self.now.total_millis()
    }
}

#[derive(Debug)]
pub struct Tcb {
    pub state: State,
    pub f: u32,
    pub local: SocketAddrV4,
    pub remote: SocketAddrV4,
    pub listener: u32,

    // Send sequence space (RFC 9293 §3.3.1) plus SND.MAX, the highest sent.
    pub iss: u32,
    pub snd_una: u32,
    pub snd_nxt: u32,
    pub snd_max: u32,
    pub snd_wl1: u32,
    pub snd_wl2: u32,
    pub snd_wnd: u32,
    pub max_snd_wnd: u32,
    pub snd_wscale: u8,
    pub rcv_wscale: u8,
    /// Send MSS (peer's MSS option, our MTU, PMTUD).
    pub mss: u16,
    /// Largest segment seen from the peer: "full-sized" for the ACK-every-2 rule.
    pub rcv_mss: u16,
    /// Unacknowledged and unsent data, from SND.UNA on.
    pub txq: VecDeque<Bytes>,
    pub txq_len: u32,

    // Receive sequence space.
    pub irs: u32,
    pub rcv_nxt: u32,
    /// Right edge of the window last advertised (never moved left, RFC 9293 §3.8.6.2.1).
    pub rcv_adv: u32,
    pub last_ack_sent: u32,
    /// Data held while reading is paused.
    pub rx_held: VecDeque<Bytes>,
    pub rx_held_len: u32,
    /// In-order bytes received since the last ACK we sent.
    pub unacked_rx: u32,
    pub quickacks: u8,
    pub ooo: Option<Box<Reassembly>>,
    pub sack: Option<Box<Scoreboard>>,
    /// A duplicate range to report first in the next SACK option (RFC 2883).
    pub dsack: Option<(u32, u32)>,

    // Timestamps (RFC 7323).
    pub ts_recent: u32,
    pub ts_recent_ms: u64,
    pub ts_offset: u32,

    // RTO (RFC 6298), microseconds.
    pub srtt_us: u32,
    pub rttvar_us: u32,
    pub rto_us: u32,
    pub backoff: u8,
    pub retries: u8,
    pub rtt_seq: u32,
    pub rtt_start_ms: u64,

    // Congestion control and loss recovery.
    pub cc: Cc,
    pub recovery: Recovery,
    pub dupacks: u8,
    /// RFC 6582 "recover": SND.MAX when recovery started.
    pub recover: u32,
    /// RFC 6675 HighRxt + 1: next hole byte to retransmit in SACK recovery.
    pub rtx_next: u32,

    // Keepalive.
    pub last_rx_ms: u64,
    pub probes: u8,
}

impl Tcb {
    fn blank(cfg: &TcpConfig, local: SocketAddrV4, remote: SocketAddrV4, iss: u32) -> Tcb {
        Tcb {
            state: State::SynSent,
            f: if cfg.nodelay { NODELAY } else { 0 },
            local,
            remote,
            listener: NO_LISTENER,
            iss,
            snd_una: iss,
            snd_nxt: iss,
            snd_max: iss,
            snd_wl1: 0,
            snd_wl2: 0,
            snd_wnd: 0,
            max_snd_wnd: 0,
            snd_wscale: 0,
            rcv_wscale: 0,
            mss: DEFAULT_MSS.min(cfg.mss),
            rcv_mss: DEFAULT_MSS,
            txq: VecDeque::new(),
            txq_len: 0,
            irs: 0,
            rcv_nxt: 0,
            rcv_adv: 0,
            last_ack_sent: 0,
            rx_held: VecDeque::new(),
            rx_held_len: 0,
            unacked_rx: 0,
            quickacks: QUICKACKS,
            ooo: None,
            sack: None,
            dsack: None,
            ts_recent: 0,
            ts_recent_ms: 0,
            ts_offset: 0,
            srtt_us: 0,
            rttvar_us: 0,
            rto_us: INITIAL_RTO_US,
            backoff: 0,
            retries: 0,
            rtt_seq: 0,
            rtt_start_ms: 0,
            cc: Cc::new(cfg.congestion, DEFAULT_MSS as u32),
            recovery: Recovery::None,
            dupacks: 0,
            recover: iss,
            rtx_next: iss,
            last_rx_ms: 0,
            probes: 0,
        }
    }

    /// Active open: SYN-SENT with the SYN to send.
    pub fn new_active(
        cfg: &TcpConfig,
        local: SocketAddrV4,
        remote: SocketAddrV4,
        iss: u32,
        ts_offset: u32,
        now: Instant,
    ) -> Tcb {
        let mut t = Tcb::blank(cfg, local, remote, iss);
        t.f |= SYN_PENDING | ANNOUNCED;
        t.ts_offset = ts_offset;
        t.last_rx_ms = now.total_millis();
        t
    }

    /// Passive open from a SYN: SYN-RECEIVED with the SYN-ACK to send. Options are
    /// negotiated here (RFC 7323 §2.2/§3.2, RFC 2018 §2: only when both sides offer).
    #[allow(clippy::too_many_arguments)]
    pub fn new_passive(
        cfg: &TcpConfig,
        local: SocketAddrV4,
        remote: SocketAddrV4,
        iss: u32,
        ts_offset: u32,
        listener: u32,
        syn: &crate::wire::TcpRepr<'_>,
        now: Instant,
    ) -> Tcb {
        let mut t = Tcb::blank(cfg, local, remote, iss);
        t.state = State::SynReceived;
        t.listener = listener;
        t.f |= SYN_PENDING;
        t.ts_offset = ts_offset;
        t.last_rx_ms = now.total_millis();
        t.negotiate(cfg, syn, now);
        t.irs = syn.seq_number;
        t.rcv_nxt = syn.seq_number.wrapping_add(1);
        t.rcv_adv = t.rcv_nxt;
        // The SYN's window is never scaled (RFC 7323 §2.2).
        t.snd_wnd = syn.window_len as u32;
        t.max_snd_wnd = t.snd_wnd;
        t.snd_wl1 = syn.seq_number;
        t.snd_wl2 = iss;
        t
    }

    /// Applies the options of the peer's SYN or SYN-ACK.
    pub fn negotiate(&mut self, cfg: &TcpConfig, syn: &crate::wire::TcpRepr<'_>, now: Instant) {
        let peer_mss = syn.max_seg_size.unwrap_or(DEFAULT_MSS).max(64);
        let negotiated = peer_mss.min(cfg.mss);
        self.rcv_mss = negotiated;
        if let Some(ws) = syn.window_scale {
            self.f |= WS_OK;
            self.snd_wscale = ws;
            self.rcv_wscale = cfg.window_scale.min(14);
        }
        if syn.sack_permitted && cfg.sack {
            self.f |= SACK_OK;
        }
        if let (Some(ts), true) = (syn.timestamp, cfg.timestamps) {
            self.f |= TS_OK;
            self.ts_recent = ts.tsval;
            self.ts_recent_ms = now.total_millis();
        }
        // The MSS option counts payload without options; every segment of a connection with
        // timestamps carries 12 option bytes, so they come off the payload (Linux: mss_cache).
        let timestamps = if self.has(TS_OK) { 12 } else { 0 };
        self.mss = negotiated.saturating_sub(timestamps).max(64);
        self.cc = Cc::new(cfg.congestion, self.mss as u32);
    }

    /// Our TSval clock: milliseconds plus the per-connection offset.
    pub fn ts_now(&self, now: Instant) -> u32 {
        (now.total_millis() as u32).wrapping_add(self.ts_offset)
    }

    pub fn has(&self, flag: u32) -> bool {
        self.f & flag != 0
    }

    /// Queues output for the next dispatch.
    pub fn schedule(&mut self, env: &mut Env<'_>) {
        if self.f & IN_READY == 0 {
            self.f |= IN_READY;
            env.ready
                .push_back((env.handle.index, env.handle.generation));
        }
    }

    pub fn ack_now(&mut self, env: &mut Env<'_>) {
        self.f |= ACK_NOW;
        self.schedule(env);
    }

    /// RFC 5961 §7: challenge ACKs share one global per-second budget.
    pub fn challenge_ack(&mut self, env: &mut Env<'_>) {
        if env.challenge.allow(env.now, env.cfg.challenge_ack_limit) {
            env.stats.challenge_acks += 1;
            self.ack_now(env);
        } else {
            env.stats.challenge_acks_suppressed += 1;
        }
    }

    /// Receive buffer space left (what the window may offer).
    pub fn rcv_space(&self, cfg: &TcpConfig) -> u32 {
        cfg.rx_buffer.saturating_sub(self.rx_held_len)
    }

    /// The window to put in the next segment, in bytes, never shrinking the advertised
    /// right edge; rounded down to the window-scale granularity.
    pub fn rcv_window(&self, cfg: &TcpConfig) -> u32 {
        let space = self.rcv_space(cfg);
        let promised = diff(self.rcv_adv, self.rcv_nxt);
        let promised = if (promised as i32) < 0 { 0 } else { promised };
        let max = 65535u32 << self.rcv_wscale;
        let w = space.min(max);
        let w = (w >> self.rcv_wscale) << self.rcv_wscale;
        w.max(promised)
    }

    /// RFC 6298 §2: one RTT sample.
    pub fn rtt_sample(&mut self, env: &Env<'_>, rtt_us: u32) {
        let r = rtt_us.max(1);
        if self.srtt_us == 0 {
            self.srtt_us = r;
            self.rttvar_us = r / 2;
        } else {
            let delta = self.srtt_us.abs_diff(r);
            self.rttvar_us = (3 * (self.rttvar_us as u64) / 4 + delta as u64 / 4) as u32;
            self.srtt_us = (7 * (self.srtt_us as u64) / 8 + r as u64 / 8) as u32;
        }
        // G = 1 ms clock granularity.
        let rto = self.srtt_us as u64 + (4 * self.rttvar_us as u64).max(1000);
        let min = env.cfg.min_rto.as_micros() as u64;
        self.rto_us = rto.clamp(min, MAX_RTO_US as u64) as u32;
    }

    /// Current RTO including backoff (RFC 6298 §5.5).
    pub fn rto(&self) -> Duration {
        let us = (self.rto_us as u64) << self.backoff.min(16);
        Duration::from_micros(us.min(MAX_RTO_US as u64))
    }

    pub fn srtt_ms(&self) -> u32 {
        self.srtt_us / 1000
    }

    /// Bytes in flight outside SACK recovery: sent, not acked, not SACKed.
    pub fn flight(&self) -> u32 {
        let sent = diff(self.snd_nxt, self.snd_una);
        match &self.sack {
            Some(s) => sent - s.sacked_in(self.snd_una, self.snd_nxt).min(sent),
            None => sent,
        }
    }

    /// Sequence number of our FIN (valid once FIN_QUEUED).
    pub fn fin_seq(&self) -> u32 {
        self.snd_una.wrapping_add(self.txq_len)
    }

    /// Delivers in-order data to the application (or holds it while paused).
    pub fn deliver(&mut self, env: &mut Env<'_>, data: Bytes) {
        if data.is_empty() || self.has(APP_CLOSED) {
            return;
        }
        env.stats.bytes_in += data.len() as u64;
        if self.has(PAUSED) {
            self.rx_held_len += data.len() as u32;
            self.rx_held.push_back(data);
        } else {
            env.event(Event::Data {
                handle: env.handle,
                data,
            });
        }
    }

    pub fn peer_closed(&mut self, env: &mut Env<'_>) {
        if self.has(APP_CLOSED) {
            return;
        }
        if self.has(PAUSED) {
            self.f |= FIN_HELD;
        } else {
            self.f |= FIN_RCVD;
            env.event(Event::PeerClosed(env.handle));
        }
    }

    /// Drops `n` acknowledged bytes from the front of the send queue.
    pub fn txq_consume(&mut self, mut n: u32) {
        self.txq_len -= n;
        while n > 0 {
            let front = self.txq.front_mut().expect("txq shorter than txq_len");
            let len = front.len() as u32;
            if len <= n {
                n -= len;
                self.txq.pop_front();
            } else {
                front.advance(n as usize);
                n = 0;
            }
        }
        if self.txq.is_empty() && self.txq.capacity() > 8 {
            self.txq = VecDeque::new();
        }
    }

    // ---- application calls ----

    pub fn send(&mut self, data: Bytes, tx_buffer: u32) -> Result<(), TcpError> {
        if self.has(FIN_QUEUED) {
            return Err(TcpError::NotConnected);
        }
        if self.txq_len >= tx_buffer {
            self.f |= WANT_WRITABLE;
            return Err(TcpError::BufferFull);
        }
        if data.is_empty() {
            return Ok(());
        }
        self.txq_len += data.len() as u32;
        self.txq.push_back(data);
        if self.txq_len >= tx_buffer {
            self.f |= WANT_WRITABLE;
        }
        Ok(())
    }

    /// Moves buffers from the front of `out` into the send queue while it is below
    /// `tx_buffer` (each buffer whole, as [`Tcb::send`]); returns the bytes taken.
    pub fn send_from(
        &mut self,
        out: &mut std::collections::VecDeque<Bytes>,
        tx_buffer: u32,
    ) -> Result<usize, TcpError> {
        if self.has(FIN_QUEUED) {
            return Err(TcpError::NotConnected);
        }
        let mut taken = 0;
        while self.txq_len < tx_buffer {
            let Some(data) = out.pop_front() else {
                return Ok(taken);
            };
            taken += data.len();
            self.txq_len += data.len() as u32;
            self.txq.push_back(data);
        }
        self.f |= WANT_WRITABLE;
        Ok(taken)
    }

    /// close / shutdown_write (RFC 9293 §3.10.4).
    pub fn close(&mut self, env: &mut Env<'_>, discard: bool) -> Outcome {
        if discard {
            self.f |= APP_CLOSED;
            self.rx_held.clear();
            self.rx_held_len = 0;
        }
        match self.state {
            // Nothing sent yet that matters: just go.
            State::SynSent => return Outcome::Free,
            // SYN-RECEIVED: the FIN follows once established (RFC 9293 §3.10.4).
            State::SynReceived => {}
            State::Established => self.state = State::FinWait1,
            State::CloseWait => self.state = State::LastAck,
            _ => {
                if discard && self.state == State::FinWait2 {
                    env.arm(T_KEEP, env.cfg.fin_timeout);
                }
                return Outcome::Keep;
            }
        }
        self.f |= FIN_QUEUED;
        self.schedule(env);
        Outcome::Keep
    }

    /// Abortive close: RST now (RFC 9293 §3.10.4 ABORT).
    pub fn abort(&mut self, env: &mut Env<'_>) -> Outcome {
        if self.state != State::SynSent {
            self.send_rst(env);
        }
        Outcome::Free
    }

    pub fn send_rst(&mut self, env: &mut Env<'_>) {
        let mut repr = crate::wire::TcpRepr::new(
            self.local.port(),
            self.remote.port(),
            crate::wire::TcpFlags::RST | crate::wire::TcpFlags::ACK,
            self.snd_max,
            self.rcv_nxt,
        );
        repr.window_len = 0;
        env.stats.resets_sent += 1;
        env.ctl.push_back(CtlSeg {
            src: self.local,
            dst: self.remote,
            repr,
        });
    }

    pub fn pause(&mut self, env: &mut Env<'_>, paused: bool) {
        if paused {
            self.f |= PAUSED;
            return;
        }
        if !self.has(PAUSED) {
            return;
        }
        self.f &= !PAUSED;
        let before = self.rcv_window(env.cfg);
        while let Some(d) = self.rx_held.pop_front() {
            env.event(Event::Data {
                handle: env.handle,
                data: d,
            });
        }
        self.rx_held_len = 0;
        self.rx_held = VecDeque::new();
        if self.has(FIN_HELD) {
            self.f &= !FIN_HELD;
            self.f |= FIN_RCVD;
            env.event(Event::PeerClosed(env.handle));
        }
        // Window update when the window opened by at least an MSS (receiver SWS avoidance).
        if self.rcv_window(env.cfg) >= before + self.rcv_mss as u32 || before == 0 {
            self.ack_now(env);
        }
    }

    /// RFC 1191: a smaller path MTU; resend what is outstanding at the new size.
    pub fn pmtu_update(&mut self, env: &mut Env<'_>, mtu: u16) {
        let mss = mtu.saturating_sub(40).max(DEFAULT_MSS.min(self.mss));
        if mss < self.mss {
            self.mss = mss;
            if self.snd_una != self.snd_max {
                self.snd_nxt = self.snd_una;
                env.stats.retransmits += 1;
            }
            self.schedule(env);
        }
    }

    pub fn time_wait_entry(&self, expires: Instant) -> TwEntry {
        TwEntry {
            snd_nxt: self.snd_max,
            rcv_nxt: self.rcv_nxt,
            ts_recent: self.has(TS_OK).then_some(self.ts_recent),
            ts_offset: self.ts_offset,
            expires,
        }
    }

    /// Bytes this TCB uses: the struct plus heap.
    pub fn memory(&self) -> usize {
        let bytes = core::mem::size_of::<Bytes>();
        core::mem::size_of::<Tcb>()
            + self.txq.capacity() * bytes
            + self.rx_held.capacity() * bytes
            + self
                .ooo
                .as_ref()
                .map_or(0, |o| core::mem::size_of::<Reassembly>() + o.heap_size())
            + self
                .sack
                .as_ref()
                .map_or(0, |s| core::mem::size_of::<Scoreboard>() + s.heap_size())
    }
}
