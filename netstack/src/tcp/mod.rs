//! The TCP engine (RFC 9293 and friends), sans-IO: segments in through [`Tcp::input`],
//! segments out through [`Tcp::dispatch`], time through [`Tcp::advance`], application
//! interaction through [`Event`]s and handle methods. No device, socket or application type
//! is named here; payload travels as `Bytes` (received: slices of the frame; sent: the
//! application's buffers, referenced until acknowledged).
//!
//! # Contract changes (relative to /work/tmp-contract.md)
//! - `TcpConfig` gained `keepalive_interval`, `keepalive_probes`, `fin_timeout`,
//!   `challenge_ack_limit`, `syn_retries`, `synack_retries`, `max_retries`.
//! - `TcpError` is an enum (below); `send` fails with `BufferFull` once `queued >= tx_buffer`
//!   (then `Writable` follows when the queue drains below half).
//! - `connect` with local port 0 picks an ephemeral port.
//! - `connection_memory()` is the total over live connections; `connection_memory_of(h)` is
//!   one connection's (TCB + heap + timer nodes + demux entry).
//! - Added: `has_output()` (dispatch has work), `connections()`, `time_wait_len()`,
//!   `state_name(h)`, `config()`, `Segment::payload_len()`.
//! - `Accepted` is emitted before any `Data` of the same connection; a listener's accept
//!   queue counts `Accepted` events not yet taken by `poll_event` (full: the final ACK / new
//!   SYNs are dropped, as Linux does).
//! - `close(h)`: FIN after queued data; data the peer sends afterwards is acknowledged and
//!   discarded; `Closed` follows when the connection is gone (after LAST-ACK, or on entering
//!   TIME-WAIT, which lives on in the compact table without a handle).
//!
//! # Design
//! - Connections live in a slab of boxed TCBs (`Handle` = slot index + generation), found by
//!   a hashbrown map from the 4-tuple: O(1) demux.
//! - One [`TimerWheel`] for all connections with three keys per slot
//!   (`index * 3 + kind`: retransmit/persist/SYN, delayed ACK, keepalive/FIN-WAIT-2), so
//!   arm/rearm/cancel are O(1) and nothing scans connections. The keepalive timer is re-armed
//!   lazily (on expiry, from the last receive time), not on every segment.
//! - Connections with something to send are queued on a ready list (flag in the TCB against
//!   duplicates); `dispatch` drains it and a control queue (RSTs, cookie SYN-ACKs,
//!   TIME-WAIT ACKs) that owns no payload.
//! - TIME-WAIT lives in a compact FIFO-expired table ([`timewait`]).
//!
//! Files: `tcb.rs` state, `input.rs` segment arrival (RFC 9293 §3.10.7), `output.rs`
//! segment building and the send loop, `timers.rs`, `congestion/`, `sack.rs` (sender
//! scoreboard), `reassembly.rs` (out-of-order queue), `syncookie.rs`, `timewait.rs`,
//! `isn.rs`, `seq.rs`.

pub mod congestion;
mod input;
pub mod isn;
mod output;
pub mod reassembly;
pub mod sack;
mod seq;
pub mod syncookie;
mod tcb;
mod timers;
mod timewait;

#[cfg(test)]
mod tests;

use core::net::{Ipv4Addr, SocketAddrV4};
use core::time::Duration;
use std::collections::VecDeque;

use bytes::Bytes;
use hashbrown::HashMap;

pub use congestion::Congestion;

use crate::time::{Instant, TimerWheel};
use crate::wire::TcpRepr;
use isn::SipHasher;
use tcb::{Env, Outcome, Tcb};
use timewait::TimeWait;

/// Engine configuration. `Default` gives the documented defaults.
#[derive(Debug, Clone)]
pub struct TcpConfig {
    /// Our MSS for the interface MTU (1460 for MTU 1500).
    pub mss: u16,
    /// Receive buffer (window) per connection, bytes.
    pub rx_buffer: u32,
    /// Send-queue limit per connection, bytes.
    pub tx_buffer: u32,
    /// Lower bound of the RTO (RFC 6298 §2.4 says 1 s; Linux uses 200 ms).
    pub min_rto: Duration,
    /// Delayed-ACK timeout (RFC 1122: at most 500 ms).
    pub delayed_ack: Duration,
    /// Congestion control for new connections.
    pub congestion: Congestion,
    /// Most embryonic (SYN-RECEIVED) connections per listener before SYN cookies.
    pub syn_backlog: usize,
    /// Most accepted connections not yet taken by the application, per listener.
    pub accept_backlog: usize,
    /// Most TIME-WAIT entries.
    pub time_wait_max: usize,
    /// TIME-WAIT duration (2 * MSL).
    pub time_wait: Duration,
    /// Idle time before keepalive probes; `None` = off.
    pub keepalive: Option<Duration>,
    /// Time between keepalive probes.
    pub keepalive_interval: Duration,
    /// Unanswered keepalive probes before the connection is reset.
    pub keepalive_probes: u8,
    /// FIN-WAIT-2 timeout after the application closed (Linux tcp_fin_timeout).
    pub fin_timeout: Duration,
    /// Nagle off for new connections (servers write whole replies).
    pub nodelay: bool,
    /// Our window shift (RFC 7323), offered when the peer offers one.
    pub window_scale: u8,
    /// Offer/accept SACK (RFC 2018).
    pub sack: bool,
    /// Offer/accept timestamps (RFC 7323).
    pub timestamps: bool,
    /// Challenge ACKs per second, all connections together (RFC 5961 §7).
    pub challenge_ack_limit: u32,
    /// SYN retransmissions before a connect fails.
    pub syn_retries: u8,
    /// SYN-ACK retransmissions before an embryonic connection is dropped.
    pub synack_retries: u8,
    /// Data retransmissions (RTO expiries in a row) before the connection is dropped.
    pub max_retries: u8,
}

impl Default for TcpConfig {
    fn default() -> Self {
        TcpConfig {
            mss: 1460,
            rx_buffer: 256 * 1024,
            tx_buffer: 256 * 1024,
            min_rto: Duration::from_millis(200),
            delayed_ack: Duration::from_millis(40),
            congestion: Congestion::Cubic,
            syn_backlog: 1024,
            accept_backlog: 4096,
            time_wait_max: 65536,
            time_wait: Duration::from_secs(60),
            keepalive: None,
            keepalive_interval: Duration::from_secs(75),
            keepalive_probes: 9,
            fin_timeout: Duration::from_secs(60),
            nodelay: true,
            window_scale: 7,
            sack: true,
            timestamps: true,
            challenge_ack_limit: 1000,
            syn_retries: 6,
            synack_retries: 5,
            max_retries: 15,
        }
    }
}

/// A connection: dense slot index plus generation (maps 1:1 to `app::Conn`).
#[derive(Copy, Clone, PartialEq, Eq, Hash, Debug)]
pub struct Handle {
    pub index: u32,
    pub generation: u32,
}

/// A listening address.
#[derive(Copy, Clone, PartialEq, Eq, Hash, Debug)]
pub struct ListenerId(pub u32);

/// What the application learns.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Event {
    Accepted {
        listener: ListenerId,
        handle: Handle,
        local: SocketAddrV4,
        peer: SocketAddrV4,
    },
    Connected(Handle),
    ConnectFailed(Handle),
    /// In-order data, never empty.
    Data {
        handle: Handle,
        data: Bytes,
    },
    /// FIN received (half-close).
    PeerClosed(Handle),
    /// Send queue drained below half of `tx_buffer` after being full.
    Writable(Handle),
    /// Fully gone; the handle is dead.
    Closed(Handle),
}

/// One segment to transmit; the glue adds IPv4 and Ethernet headers.
#[derive(Debug)]
pub struct Segment<'a> {
    pub src: SocketAddrV4,
    pub dst: SocketAddrV4,
    /// Header fields and options; `repr.payload` is empty.
    pub repr: TcpRepr<'a>,
    /// Payload parts, referenced (scatter-gather).
    pub payload: &'a [Bytes],
}

impl Segment<'_> {
    /// Payload bytes.
    pub fn payload_len(&self) -> usize {
        self.payload.iter().map(|b| b.len()).sum()
    }
}

/// Errors of the API calls.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TcpError {
    /// The handle is dead (closed, reset) or never existed.
    InvalidHandle,
    /// The address (listener or 4-tuple) is taken.
    AddrInUse,
    /// No ephemeral port free.
    NoPorts,
    /// The send queue is at `tx_buffer`; wait for `Writable`.
    BufferFull,
    /// Sending after close/shutdown_write, or before/after the connection's life.
    NotConnected,
}

impl core::fmt::Display for TcpError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        core::fmt::Debug::fmt(self, f)
    }
}

impl std::error::Error for TcpError {}

/// Counters.
#[derive(Debug, Clone, Default)]
pub struct TcpStats {
    pub segs_in: u64,
    pub segs_out: u64,
    pub bytes_in: u64,
    pub bytes_out: u64,
    pub retransmits: u64,
    pub fast_retransmits: u64,
    pub rto_expiries: u64,
    pub resets_sent: u64,
    pub resets_received: u64,
    pub syncookies_sent: u64,
    pub syncookies_ok: u64,
    pub syncookies_failed: u64,
    pub challenge_acks: u64,
    pub challenge_acks_suppressed: u64,
    pub accepted: u64,
    pub connected: u64,
    pub time_wait_reused: u64,
    pub drop_malformed: u64,
    pub drop_checksum: u64,
    pub drop_paws: u64,
    pub drop_out_of_window: u64,
    pub drop_listen_overflow: u64,
    pub drop_no_listener: u64,
    pub ooo_segments: u64,
    pub keepalive_timeouts: u64,
    pub retransmit_timeouts_fatal: u64,
}

/// The 4-tuple, local side first.
#[derive(Copy, Clone, PartialEq, Eq, Hash, Debug)]
pub(crate) struct Tuple {
    pub local: SocketAddrV4,
    pub remote: SocketAddrV4,
}

/// A control segment owning no payload (RSTs, cookie SYN-ACKs, TIME-WAIT ACKs).
#[derive(Debug, Clone)]
pub(crate) struct CtlSeg {
    pub src: SocketAddrV4,
    pub dst: SocketAddrV4,
    pub repr: TcpRepr<'static>,
}

#[derive(Debug)]
struct Listener {
    local: SocketAddrV4,
    backlog: usize,
    syn_queue: usize,
    accept_pending: usize,
}

/// Global challenge-ACK budget (RFC 5961 §7).
#[derive(Debug, Default)]
pub(crate) struct ChallengeLimit {
    second: u64,
    count: u32,
}

impl ChallengeLimit {
    pub fn allow(&mut self, now: Instant, limit: u32) -> bool {
        let s = now.total_millis() / 1000;
        if s != self.second {
            self.second = s;
            self.count = 0;
        }
        self.count += 1;
        self.count <= limit
    }
}

#[derive(Debug, Default)]
struct Slot {
    generation: u32,
    tcb: Option<Box<Tcb>>,
}

const NO_LISTENER: u32 = u32::MAX;
const TIMER_KINDS: u32 = 3;

/// The per-core TCP engine.
pub struct Tcp {
    cfg: TcpConfig,
    hasher: SipHasher,
    slots: Vec<Slot>,
    free: Vec<u32>,
    demux: HashMap<Tuple, u32>,
    listeners: Vec<Option<Listener>>,
    listen_map: HashMap<SocketAddrV4, u32>,
    timewait: TimeWait,
    timers: TimerWheel,
    ready: VecDeque<(u32, u32)>,
    ctl: VecDeque<CtlSeg>,
    events: VecDeque<Event>,
    stats: TcpStats,
    challenge: ChallengeLimit,
    scratch: Vec<Bytes>,
    next_port: u16,
    /// Time of the last engine call that carried one.
    now: Instant,
    /// ISN for a SYN that reopens a TIME-WAIT 4-tuple.
    tw_isn: Option<u32>,
}

impl Tcp {
    /// An engine; `isn_secret` keys ISNs, SYN cookies and timestamp offsets.
    pub fn new(config: TcpConfig, now: Instant, isn_secret: [u8; 16]) -> Tcp {
        let hasher = SipHasher::new(isn_secret);
        let next_port = 32768 + (hasher.hash_words(&[now.total_nanos()]) % 28000) as u16;
        Tcp {
            cfg: config,
            hasher,
            slots: Vec::new(),
            free: Vec::new(),
            demux: HashMap::new(),
            listeners: Vec::new(),
            listen_map: HashMap::new(),
            timewait: TimeWait::default(),
            timers: TimerWheel::new(crate::time::DEFAULT_TICK, now),
            ready: VecDeque::new(),
            ctl: VecDeque::new(),
            events: VecDeque::new(),
            stats: TcpStats::default(),
            challenge: ChallengeLimit::default(),
            scratch: Vec::with_capacity(8),
            next_port,
            now,
            tw_isn: None,
        }
    }

    /// The configuration.
    pub fn config(&self) -> &TcpConfig {
        &self.cfg
    }

    /// Listens on `local` (address 0.0.0.0 = any local address).
    pub fn listen(&mut self, local: SocketAddrV4, backlog: usize) -> Result<ListenerId, TcpError> {
        if self.listen_map.contains_key(&local) {
            return Err(TcpError::AddrInUse);
        }
        let id = self.listeners.len() as u32;
        self.listeners.push(Some(Listener {
            local,
            backlog: backlog.clamp(1, self.cfg.accept_backlog.max(1)),
            syn_queue: 0,
            accept_pending: 0,
        }));
        self.listen_map.insert(local, id);
        Ok(ListenerId(id))
    }

    /// Stops listening; embryonic connections of it die with their timers.
    pub fn unlisten(&mut self, id: ListenerId) {
        if let Some(Some(l)) = self.listeners.get_mut(id.0 as usize).map(Option::take) {
            self.listen_map.remove(&l.local);
        }
    }

    /// Active open: sends a SYN; `Connected` or `ConnectFailed` follows.
    pub fn connect(
        &mut self,
        local: SocketAddrV4,
        remote: SocketAddrV4,
        now: Instant,
    ) -> Result<Handle, TcpError> {
        self.now = now;
        let local = if local.port() == 0 {
            self.ephemeral(*local.ip(), remote)?
        } else {
            local
        };
        let tuple = Tuple { local, remote };
        if self.demux.contains_key(&tuple) {
            return Err(TcpError::AddrInUse);
        }
        let mut iss = isn::isn(&self.hasher, local, remote, now);
        if let Some(tw) = self.timewait.remove(&tuple) {
            // RFC 6191-style reuse: start well above the old incarnation.
            iss = tw.snd_nxt.wrapping_add(65537);
            self.stats.time_wait_reused += 1;
        }
        let ts_off = isn::ts_offset(&self.hasher, local, remote);
        let tcb = Tcb::new_active(&self.cfg, local, remote, iss, ts_off, now);
        let h = self.insert(tcb);
        self.schedule(h.index);
        Ok(h)
    }

    fn ephemeral(&mut self, ip: Ipv4Addr, remote: SocketAddrV4) -> Result<SocketAddrV4, TcpError> {
        for _ in 0..28232 {
            self.next_port = if self.next_port >= 60999 {
                32768
            } else {
                self.next_port + 1
            };
            let local = SocketAddrV4::new(ip, self.next_port);
            let t = Tuple { local, remote };
            if !self.demux.contains_key(&t) && self.timewait.get(&t).is_none() {
                return Ok(local);
            }
        }
        Err(TcpError::NoPorts)
    }

    /// One received segment (TCP header + payload) whose IPv4 header was validated;
    /// `segment` is a slice of the received frame. The checksum is verified here unless
    /// `checksum_ok`.
    pub fn input(
        &mut self,
        now: Instant,
        src: Ipv4Addr,
        dst: Ipv4Addr,
        segment: Bytes,
        checksum_ok: bool,
    ) {
        self.input_segment(now, src, dst, segment, checksum_ok);
    }

    /// ICMP "fragmentation needed" (RFC 1191) or another error for one of our connections.
    pub fn icmp_error(
        &mut self,
        now: Instant,
        local: SocketAddrV4,
        remote: SocketAddrV4,
        next_hop_mtu: Option<u16>,
    ) {
        let Some(&idx) = self.demux.get(&Tuple { local, remote }) else {
            return;
        };
        if let Some(mtu) = next_hop_mtu {
            self.with_tcb(idx, now, |t, env| t.pmtu_update(env, mtu));
        }
    }

    /// Emits everything due now; `emit` returns false when the device is full (the rest stays
    /// queued for the next call).
    pub fn dispatch(&mut self, now: Instant, mut emit: impl FnMut(&Segment<'_>) -> bool) {
        self.now = now;
        while let Some(c) = self.ctl.front() {
            let seg = Segment {
                src: c.src,
                dst: c.dst,
                repr: c.repr,
                payload: &[],
            };
            if !emit(&seg) {
                return;
            }
            self.ctl.pop_front();
            self.stats.segs_out += 1;
        }
        let mut scratch = core::mem::take(&mut self.scratch);
        while let Some((idx, generation)) = self.ready.pop_front() {
            let slot = &self.slots[idx as usize];
            if slot.generation != generation || slot.tcb.is_none() {
                continue;
            }
            let ok = self
                .with_tcb(idx, now, |t, env| {
                    t.f &= !tcb::IN_READY;
                    let ok = t.output(env, &mut scratch, &mut emit);
                    if !ok {
                        t.f |= tcb::IN_READY;
                    }
                    ok
                })
                .unwrap_or(true);
            if !ok {
                self.ready.push_front((idx, generation));
                break;
            }
        }
        scratch.clear();
        self.scratch = scratch;
    }

    /// Fires due timers and expires TIME-WAIT entries.
    pub fn advance(&mut self, now: Instant) {
        self.now = now;
        while let Some(key) = self.timers.poll(now) {
            let idx = key / TIMER_KINDS;
            let kind = key % TIMER_KINDS;
            if let Some(out) = self.with_tcb(idx, now, |t, env| t.on_timer(env, kind)) {
                self.apply(idx, out, now);
            }
        }
        self.timewait.expire(now);
    }

    /// The next timer deadline.
    pub fn poll_at(&self) -> Option<Instant> {
        match (self.timers.next_deadline(), self.timewait.next_expiry()) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Whether `dispatch` has anything to send.
    pub fn has_output(&self) -> bool {
        !self.ctl.is_empty() || !self.ready.is_empty()
    }

    /// The next event.
    pub fn poll_event(&mut self) -> Option<Event> {
        let ev = self.events.pop_front()?;
        if let Event::Accepted { listener, .. } = ev {
            if let Some(Some(l)) = self.listeners.get_mut(listener.0 as usize) {
                l.accept_pending = l.accept_pending.saturating_sub(1);
            }
        }
        Some(ev)
    }

    /// Queues `data` (referenced, not copied).
    pub fn send(&mut self, h: Handle, data: Bytes) -> Result<(), TcpError> {
        let tx_buffer = self.cfg.tx_buffer;
        let idx = self.live(h)?;
        let r = self.tcb_mut(idx).send(data, tx_buffer);
        if r.is_ok() {
            self.schedule(idx);
        }
        r
    }

    /// Moves buffers from the front of `out` into the send queue while it has room (each
    /// buffer referenced whole, not copied); returns the bytes taken. What is left waits for
    /// [`Event::Writable`].
    pub fn send_from(
        &mut self,
        h: Handle,
        out: &mut std::collections::VecDeque<Bytes>,
    ) -> Result<usize, TcpError> {
        let tx_buffer = self.cfg.tx_buffer;
        let idx = self.live(h)?;
        let r = self.tcb_mut(idx).send_from(out, tx_buffer);
        if matches!(r, Ok(n) if n > 0) {
            self.schedule(idx);
        }
        r
    }

    /// Bytes not yet acknowledged.
    pub fn queued(&self, h: Handle) -> usize {
        self.live(h).map_or(0, |i| {
            self.slots[i as usize].tcb.as_ref().unwrap().txq_len as usize
        })
    }

    /// FIN after queued data; received data is discarded from now on.
    pub fn close(&mut self, h: Handle) {
        self.close_inner(h, true);
    }

    /// FIN after queued data; receiving goes on (half-close).
    pub fn shutdown_write(&mut self, h: Handle) {
        self.close_inner(h, false);
    }

    fn close_inner(&mut self, h: Handle, discard: bool) {
        let Ok(idx) = self.live(h) else { return };
        let now = self.now;
        if let Some(out) = self.with_tcb(idx, now, |t, env| t.close(env, discard)) {
            self.apply(idx, out, now);
        }
    }

    /// Abortive close: RST now, `Closed` follows.
    pub fn abort(&mut self, h: Handle) {
        let Ok(idx) = self.live(h) else { return };
        let now = self.now;
        if let Some(out) = self.with_tcb(idx, now, |t, env| t.abort(env)) {
            self.apply(idx, out, now);
        }
    }

    /// Holds received data (the window closes) instead of delivering it.
    pub fn pause_reading(&mut self, h: Handle, paused: bool) {
        let Ok(idx) = self.live(h) else { return };
        let now = self.now;
        self.with_tcb(idx, now, |t, env| t.pause(env, paused));
    }

    /// Nagle off (`true`) or on.
    pub fn set_nodelay(&mut self, h: Handle, on: bool) {
        if let Ok(idx) = self.live(h) {
            let t = self.tcb_mut(idx);
            if on {
                t.f |= tcb::NODELAY;
            } else {
                t.f &= !tcb::NODELAY;
            }
            self.schedule(idx);
        }
    }

    /// Counters.
    pub fn stats(&self) -> &TcpStats {
        &self.stats
    }

    /// Live connections (TIME-WAIT entries excluded).
    pub fn connections(&self) -> usize {
        self.demux.len()
    }

    /// TIME-WAIT entries.
    pub fn time_wait_len(&self) -> usize {
        self.timewait.len()
    }

    /// Bytes of per-connection state, all live connections together.
    pub fn connection_memory(&self) -> usize {
        (0..self.slots.len() as u32)
            .filter(|&i| self.slots[i as usize].tcb.is_some())
            .map(|i| self.memory_of_index(i))
            .sum()
    }

    /// Bytes of one connection's state: TCB, its heap, timer nodes, demux entry, slot.
    pub fn connection_memory_of(&self, h: Handle) -> usize {
        self.live(h).map_or(0, |i| self.memory_of_index(i))
    }

    fn memory_of_index(&self, idx: u32) -> usize {
        let t = self.slots[idx as usize].tcb.as_ref().unwrap();
        let timer_node = 24;
        let demux_entry = core::mem::size_of::<(Tuple, u32)>() + 1;
        t.memory() + TIMER_KINDS as usize * timer_node + demux_entry + core::mem::size_of::<Slot>()
    }

    /// The state name of a connection (for tests and diagnostics).
    pub fn state_name(&self, h: Handle) -> Option<&'static str> {
        self.live(h)
            .ok()
            .map(|i| self.slots[i as usize].tcb.as_ref().unwrap().state.name())
    }

    // ---- internals ----

    fn live(&self, h: Handle) -> Result<u32, TcpError> {
        match self.slots.get(h.index as usize) {
            Some(s) if s.generation == h.generation && s.tcb.is_some() => Ok(h.index),
            _ => Err(TcpError::InvalidHandle),
        }
    }

    fn tcb_mut(&mut self, idx: u32) -> &mut Tcb {
        self.slots[idx as usize].tcb.as_mut().unwrap()
    }

    fn handle_of(&self, idx: u32) -> Handle {
        Handle {
            index: idx,
            generation: self.slots[idx as usize].generation,
        }
    }

    fn insert(&mut self, tcb: Tcb) -> Handle {
        let tuple = Tuple {
            local: tcb.local,
            remote: tcb.remote,
        };
        let idx = match self.free.pop() {
            Some(i) => i,
            None => {
                self.slots.push(Slot::default());
                (self.slots.len() - 1) as u32
            }
        };
        self.slots[idx as usize].tcb = Some(Box::new(tcb));
        self.demux.insert(tuple, idx);
        self.handle_of(idx)
    }

    fn schedule(&mut self, idx: u32) {
        let generation = self.slots[idx as usize].generation;
        let t = self.tcb_mut(idx);
        if t.f & tcb::IN_READY == 0 {
            t.f |= tcb::IN_READY;
            self.ready.push_back((idx, generation));
        }
    }

    /// Runs `f` on a TCB with the engine context split off.
    fn with_tcb<R>(
        &mut self,
        idx: u32,
        now: Instant,
        f: impl FnOnce(&mut Tcb, &mut Env<'_>) -> R,
    ) -> Option<R> {
        let generation = self.slots.get(idx as usize)?.generation;
        let tcb = self.slots[idx as usize].tcb.as_mut()?;
        let mut env = Env {
            cfg: &self.cfg,
            now,
            timers: &mut self.timers,
            events: &mut self.events,
            stats: &mut self.stats,
            ready: &mut self.ready,
            ctl: &mut self.ctl,
            challenge: &mut self.challenge,
            handle: Handle {
                index: idx,
                generation,
            },
            accept_full: false,
        };
        if let Some(Some(l)) = self.listeners.get(tcb.listener as usize) {
            env.accept_full = l.accept_pending >= l.backlog;
        }
        Some(f(tcb, &mut env))
    }

    /// Applies what a TCB asked of the table.
    fn apply(&mut self, idx: u32, out: Outcome, now: Instant) {
        match out {
            Outcome::Keep => {}
            Outcome::Established => self.announce_accept(idx, false),
            Outcome::Free => self.free_slot(idx),
            Outcome::TimeWait => {
                let t = self.slots[idx as usize].tcb.as_ref().unwrap();
                let tuple = Tuple {
                    local: t.local,
                    remote: t.remote,
                };
                let e = t.time_wait_entry(now + self.cfg.time_wait);
                if t.f & tcb::ACK_NOW != 0 {
                    let ack = t.ack_ctl(&self.cfg, now);
                    self.ctl.push_back(ack);
                }
                self.free_slot(idx);
                self.timewait.insert(tuple, e, self.cfg.time_wait_max);
            }
        }
    }

    /// A passive open completed: listener accounting, and the `Accepted` event unless the
    /// TCB already emitted it.
    fn announce_accept(&mut self, idx: u32, push_event: bool) {
        let h = self.handle_of(idx);
        let t = self.slots[idx as usize].tcb.as_mut().unwrap();
        t.f |= tcb::ANNOUNCED;
        let (lid, local, peer) = (t.listener, t.local, t.remote);
        if let Some(Some(l)) = self.listeners.get_mut(lid as usize) {
            l.syn_queue = l.syn_queue.saturating_sub(1);
            l.accept_pending += 1;
        }
        self.stats.accepted += 1;
        if push_event {
            self.events.push_back(Event::Accepted {
                listener: ListenerId(lid),
                handle: h,
                local,
                peer,
            });
        }
    }

    fn free_slot(&mut self, idx: u32) {
        let h = self.handle_of(idx);
        let slot = &mut self.slots[idx as usize];
        let Some(t) = slot.tcb.take() else { return };
        slot.generation = slot.generation.wrapping_add(1);
        if t.f & tcb::ANNOUNCED != 0 {
            self.events.push_back(Event::Closed(h));
        } else if let Some(Some(l)) = self.listeners.get_mut(t.listener as usize) {
            l.syn_queue = l.syn_queue.saturating_sub(1);
        }
        for k in 0..TIMER_KINDS {
            self.timers.cancel(idx * TIMER_KINDS + k);
        }
        self.demux.remove(&Tuple {
            local: t.local,
            remote: t.remote,
        });
        self.free.push(idx);
    }
}
