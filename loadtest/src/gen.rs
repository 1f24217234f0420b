//! The compact generator: a client that speaks just enough TCP to drive the server, crafting
//! frames directly and keeping 4 bytes per connection (the server's initial sequence number),
//! so that it costs far less than the server it measures and can hold millions of
//! connections. Clients are 198.18.0.0/15 addresses (64,000 ports each) behind a "router"
//! 10.0.0.2 that answers ARP for the server.
//!
//! Every response must be `resp_len` bytes (fixed for a workload; learned from the first HTTP
//! response): a response is complete when the server's sequence reaches a multiple of it, and
//! our own next sequence number follows from that count. The wire never loses or reorders
//! frames, so no retransmission is needed (a reset or an unexpected segment is counted).

use std::collections::VecDeque;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use netstack::buf::{Pool, TxFrame};

use crate::ring::{Parker, RingWire};
use crate::server::{Shared, CLIENT_MAC, GATEWAY_IP, SERVER_IP, SERVER_MAC};

const PORTS: u32 = 64_000;
const PORT_BASE: u32 = 1024;
const CLIENT_NET: u32 = 0xC612_0000; // 198.18.0.0
const CLIENT_HOSTS: u64 = 1 << 17; // /15
const FIN: u8 = 0x01;
const SYN: u8 = 0x02;
const RST: u8 = 0x04;
const PSH: u8 = 0x08;
const ACK: u8 = 0x10;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// `conns` keep-alive connections, each sending the next request batch on a response.
    KeepAlive,
    /// One request per connection, the server closes (connections per second).
    Close,
    /// Open `total` connections and hold them; then `probes` requests on some of them.
    Idle,
}

pub struct Spec {
    pub mode: Mode,
    pub port: u16,
    pub conns: usize,
    /// One request batch (P requests).
    pub req: Bytes,
    pub per_batch: u64,
    /// Bytes of one batch's response; `None`: learn it from the first HTTP response.
    pub resp_len: Option<u32>,
    /// Requests (keep-alive), connections (close) or held connections (idle).
    pub total: u64,
    pub duration: Duration,
    pub probes: usize,
    /// Most handshakes in flight.
    pub syn_window: u64,
    /// Stop opening idle connections when the process RSS passes this many bytes.
    pub rss_limit: u64,
}

/// What a run measured.
#[derive(Debug, Default)]
pub struct Outcome {
    pub window: Duration,
    pub done: u64,
    pub server_cpu: Duration,
    /// Time in server loop turns that did work.
    pub server_busy: Duration,
    pub client_cpu: Duration,
    pub established: u64,
    pub resets: u64,
    pub unexpected: u64,
    pub first_response: String,
    /// Idle mode.
    pub rss_before: u64,
    pub rss_after: u64,
    pub conn_mem: u64,
    pub server_conns: u64,
    pub time_wait: u64,
    pub open_time: Duration,
    pub open_server_cpu: Duration,
    pub probes_ok: u64,
    pub probe_time: Duration,
    pub stopped_by_rss: bool,
}

pub fn thread_cpu(clock: libc::clockid_t) -> Duration {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: valid pointer; a bad clock id only returns an error.
    unsafe { libc::clock_gettime(clock, &mut ts) };
    Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
}

pub fn rss() -> u64 {
    let s = std::fs::read_to_string("/proc/self/statm").unwrap_or_default();
    let pages: u64 = s
        .split_whitespace()
        .nth(1)
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    pages * 4096
}

fn addr_of(i: u64) -> (u32, u16) {
    let host = (i / PORTS as u64) % CLIENT_HOSTS;
    (
        CLIENT_NET + host as u32,
        (PORT_BASE + (i % PORTS as u64) as u32) as u16,
    )
}

fn index_of(ip: u32, port: u16) -> u64 {
    (ip.wrapping_sub(CLIENT_NET) as u64) * PORTS as u64 + (port as u32 - PORT_BASE) as u64
}

fn iss(i: u64) -> u32 {
    (i as u32).wrapping_mul(2_654_435_761) ^ 0x5bd1_e995
}

fn be16(b: &[u8], at: usize) -> u16 {
    u16::from_be_bytes([b[at], b[at + 1]])
}

fn be32(b: &[u8], at: usize) -> u32 {
    u32::from_be_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

fn ip_checksum(h: &[u8]) -> u16 {
    let mut sum: u32 = h
        .chunks(2)
        .map(|c| u16::from_be_bytes([c[0], c[1]]) as u32)
        .sum();
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

struct Gen<'a> {
    spec: &'a Spec,
    wire: RingWire,
    pool: Pool,
    out: VecDeque<TxFrame>,
    /// Server ISN + 1 per connection (keep-alive and idle).
    base: Vec<u32>,
    resp_len: Option<u32>,
    req_len: u32,
    syn_inflight: u64,
    opened: u64,
    established: u64,
    batches_sent: u64,
    done: u64,
    stopping: bool,
    resets: u64,
    unexpected: u64,
    first_response: Option<String>,
    probes_ok: u64,
    ip_id: u16,
}

impl Gen<'_> {
    fn frame(&mut self, i: u64, seq: u32, ack: u32, flags: u8, payload: &[u8]) {
        let (ip, port) = addr_of(i);
        let opt = if flags & SYN != 0 { 4 } else { 0 };
        let tcp_len = 20 + opt;
        let total = 20 + tcp_len + payload.len();
        let Some(mut buf) = self.pool.alloc() else {
            self.unexpected += 1;
            return;
        };
        let b = buf.append(14 + total);
        b[0..6].copy_from_slice(&SERVER_MAC);
        b[6..12].copy_from_slice(&CLIENT_MAC);
        b[12..14].copy_from_slice(&0x0800u16.to_be_bytes());
        let h = &mut b[14..];
        h[0] = 0x45;
        h[1] = 0;
        h[2..4].copy_from_slice(&(total as u16).to_be_bytes());
        self.ip_id = self.ip_id.wrapping_add(1);
        h[4..6].copy_from_slice(&self.ip_id.to_be_bytes());
        h[6..8].copy_from_slice(&0x4000u16.to_be_bytes());
        h[8] = 64;
        h[9] = 6;
        h[10..12].copy_from_slice(&[0, 0]);
        h[12..16].copy_from_slice(&ip.to_be_bytes());
        h[16..20].copy_from_slice(&SERVER_IP.octets());
        let c = ip_checksum(&h[..20]);
        h[10..12].copy_from_slice(&c.to_be_bytes());
        let t = &mut h[20..];
        t[0..2].copy_from_slice(&port.to_be_bytes());
        t[2..4].copy_from_slice(&self.spec.port.to_be_bytes());
        t[4..8].copy_from_slice(&seq.to_be_bytes());
        t[8..12].copy_from_slice(&ack.to_be_bytes());
        t[12] = ((tcp_len / 4) as u8) << 4;
        t[13] = flags;
        t[14..16].copy_from_slice(&65535u16.to_be_bytes());
        t[16..20].copy_from_slice(&[0, 0, 0, 0]);
        if opt > 0 {
            t[20..24].copy_from_slice(&[2, 4, 0x05, 0xb4]); // MSS 1460
        }
        t[tcp_len..].copy_from_slice(payload);
        self.out.push_back(TxFrame::single(buf.freeze()));
    }

    fn arp(&mut self, op: u16, target_mac: [u8; 6], target_ip: [u8; 4]) {
        let Some(mut buf) = self.pool.alloc() else {
            return;
        };
        let b = buf.append(60);
        b.fill(0);
        let dst = if op == 1 { [0xff; 6] } else { target_mac };
        b[0..6].copy_from_slice(&dst);
        b[6..12].copy_from_slice(&CLIENT_MAC);
        b[12..14].copy_from_slice(&0x0806u16.to_be_bytes());
        b[14..22].copy_from_slice(&[0, 1, 8, 0, 6, 4, 0, op as u8]);
        b[22..28].copy_from_slice(&CLIENT_MAC);
        b[28..32].copy_from_slice(&GATEWAY_IP.octets());
        b[32..38].copy_from_slice(&target_mac);
        b[38..42].copy_from_slice(&target_ip);
        self.out.push_back(TxFrame::single(buf.freeze()));
    }

    fn syn(&mut self) {
        let i = self.opened;
        self.opened += 1;
        self.syn_inflight += 1;
        self.frame(i, iss(i), 0, SYN, &[]);
    }

    fn send_req(&mut self, i: u64, seq: u32, ack: u32) {
        let req = self.spec.req.clone();
        self.batches_sent += 1;
        self.frame(i, seq, ack, ACK | PSH, &req);
    }

    fn want_more(&self) -> bool {
        !self.stopping && self.batches_sent * self.spec.per_batch < self.spec.total
    }

    /// Handles one frame from the server; returns whether it was ARP.
    fn input(&mut self, f: TxFrame) {
        let h = &f.head;
        if h.len() < 14 {
            self.unexpected += 1;
            return;
        }
        match be16(h, 12) {
            0x0806 => {
                if h.len() >= 42 && be16(h, 20) == 1 && h[38..42] == GATEWAY_IP.octets() {
                    let mut mac = [0; 6];
                    mac.copy_from_slice(&h[22..28]);
                    let mut ip = [0; 4];
                    ip.copy_from_slice(&h[28..32]);
                    self.arp(2, mac, ip);
                }
                return;
            }
            0x0800 => {}
            _ => return,
        }
        let ihl = ((h[14] & 0xf) as usize) * 4;
        let total = be16(h, 16) as usize;
        if h[23] != 6 {
            self.unexpected += 1;
            return;
        }
        let dst_ip = be32(h, 30);
        let t = 14 + ihl;
        let dport = be16(h, t + 2);
        let seq = be32(h, t + 4);
        let ack = be32(h, t + 8);
        let doff = ((h[t + 12] >> 4) as usize) * 4;
        let flags = h[t + 13];
        let plen = (total - ihl - doff) as u32;
        let i = index_of(dst_ip, dport);
        if flags & RST != 0 {
            self.resets += 1;
            return;
        }
        if flags & SYN != 0 {
            self.syn_inflight = self.syn_inflight.saturating_sub(1);
            self.established += 1;
            let s1 = seq.wrapping_add(1);
            let c1 = iss(i).wrapping_add(1);
            match self.spec.mode {
                Mode::KeepAlive => {
                    self.base[i as usize] = s1;
                    if self.want_more() {
                        self.send_req(i, c1, s1);
                    } else {
                        self.frame(i, c1, s1, ACK, &[]);
                    }
                }
                Mode::Close => self.send_req(i, c1, s1),
                Mode::Idle => {
                    self.base[i as usize] = s1;
                    self.frame(i, c1, s1, ACK, &[]);
                }
            }
            return;
        }
        if plen == 0 && flags & FIN == 0 {
            return; // a pure ACK
        }
        if self.first_response.is_none() && plen > 0 {
            let mut v = h[t + doff..].to_vec();
            for p in &f.parts {
                v.extend_from_slice(p);
            }
            let text = String::from_utf8_lossy(&v).into_owned();
            if self.resp_len.is_none() {
                self.resp_len = http_len(&text);
            }
            self.first_response = Some(text);
        }
        let end = seq.wrapping_add(plen);
        match self.spec.mode {
            Mode::KeepAlive => {
                if flags & FIN != 0 {
                    self.unexpected += 1;
                }
                let Some(r) = self.resp_len else { return };
                let off = end.wrapping_sub(self.base[i as usize]);
                if !off.is_multiple_of(r) {
                    return; // more of this response follows
                }
                self.done += self.spec.per_batch;
                let k = off / r;
                let my = iss(i)
                    .wrapping_add(1)
                    .wrapping_add(k.wrapping_mul(self.req_len));
                if self.want_more() {
                    self.send_req(i, my, end);
                } else {
                    self.frame(i, my, end, ACK, &[]);
                }
            }
            Mode::Close => {
                if flags & FIN == 0 {
                    return;
                }
                self.done += 1;
                let my = iss(i).wrapping_add(1).wrapping_add(self.req_len);
                self.frame(i, my, end.wrapping_add(1), ACK | FIN, &[]);
                if !self.stopping && self.opened < self.spec.total {
                    self.syn();
                }
            }
            Mode::Idle => {
                self.probes_ok += 1;
                let my = iss(i).wrapping_add(1).wrapping_add(self.req_len);
                let _ = ack;
                self.frame(i, my, end, ACK, &[]);
            }
        }
    }

    /// Receives what waits, sends what is queued; returns frames received.
    fn pump(&mut self) -> usize {
        let mut n = 0;
        while n < 256 {
            let Some(f) = self.wire.recv_raw() else { break };
            self.input(f);
            n += 1;
        }
        self.flush();
        n
    }

    fn flush(&mut self) {
        let mut sent = false;
        while let Some(f) = self.out.pop_front() {
            if let Err(f) = self.wire.send_raw(f) {
                self.out.push_front(f);
                break;
            }
            sent = true;
        }
        if sent {
            self.wire.kick();
        }
    }
}

/// `HTTP/1.1 ...\r\n...Content-Length: N\r\n...\r\n\r\n` -> header length + N.
fn http_len(text: &str) -> Option<u32> {
    let head_end = text.find("\r\n\r\n")? + 4;
    let cl = text[..head_end].lines().find_map(|l| {
        let (k, v) = l.split_once(':')?;
        k.eq_ignore_ascii_case("content-length")
            .then(|| v.trim().parse::<u32>().ok())?
    })?;
    Some(head_end as u32 + cl)
}

/// Runs the generator on this thread (pinned by the caller) until the workload ends.
pub fn run(
    spec: &Spec,
    wire: RingWire,
    parker: Arc<Parker>,
    server_parker: Arc<Parker>,
    server_clock: libc::clockid_t,
    shared: &Shared,
) -> Outcome {
    parker.register();
    let base_len = match spec.mode {
        Mode::KeepAlive => spec.conns,
        Mode::Close => 0,
        Mode::Idle => spec.total as usize,
    };
    let mut g = Gen {
        spec,
        wire,
        pool: Pool::with_capacity(1 << 16),
        out: VecDeque::new(),
        base: vec![0; base_len],
        resp_len: spec.resp_len,
        req_len: spec.req.len() as u32,
        syn_inflight: 0,
        opened: 0,
        established: 0,
        batches_sent: 0,
        done: 0,
        stopping: false,
        resets: 0,
        unexpected: 0,
        first_response: None,
        probes_ok: 0,
        ip_id: 1,
    };
    let mut o = Outcome::default();
    let start = Instant::now();
    let hard_stop = start + spec.duration + Duration::from_secs(30);
    // Tell the server where the router is (it learns our MAC from the request).
    g.arp(1, [0; 6], SERVER_IP.octets());
    g.flush();
    let my_clock = libc::CLOCK_THREAD_CPUTIME_ID;
    let mem_sample = |shared: &Shared| {
        let req = shared.mem_req.fetch_add(1, Ordering::AcqRel) + 1;
        let t = Instant::now();
        while shared.mem_done.load(Ordering::Acquire) != req
            && t.elapsed() < Duration::from_secs(60)
        {
            server_parker.wake();
            std::thread::sleep(Duration::from_micros(100));
        }
    };
    let (mut t0, mut s0, mut c0, mut d0) = (start, Duration::ZERO, Duration::ZERO, 0);
    let mut b0 = 0;
    let mut measuring = false;
    let mut idle = 0u32;
    let mut idle_since: Option<Instant> = None;
    let spin = Duration::from_nanos(shared.spin_ns.load(Ordering::Relaxed));
    match spec.mode {
        Mode::KeepAlive | Mode::Close => {
            let conns = if spec.mode == Mode::Close {
                (spec.conns as u64).min(spec.total)
            } else {
                spec.conns as u64
            };
            let deadline = start + spec.duration;
            loop {
                while g.opened < conns && g.syn_inflight < spec.syn_window {
                    g.syn();
                }
                let n = g.pump();
                if !measuring
                    && (g.established >= conns || spec.mode == Mode::Close)
                    && (g.done > 0 || spec.mode == Mode::Close)
                {
                    measuring = true;
                    t0 = Instant::now();
                    s0 = thread_cpu(server_clock);
                    b0 = shared.busy_ns.load(Ordering::Relaxed);
                    c0 = thread_cpu(my_clock);
                    d0 = g.done;
                }
                let target = match spec.mode {
                    Mode::KeepAlive => spec.total,
                    _ => spec.total,
                };
                let now_check = n == 0 || g.done & 1023 == 0;
                if measuring
                    && !g.stopping
                    && (g.done >= target || (now_check && Instant::now() >= deadline))
                {
                    o.window = t0.elapsed();
                    o.server_cpu = thread_cpu(server_clock) - s0;
                    o.server_busy =
                        Duration::from_nanos(shared.busy_ns.load(Ordering::Relaxed) - b0);
                    o.client_cpu = thread_cpu(my_clock) - c0;
                    o.done = g.done - d0;
                    g.stopping = true;
                    // Let in-flight requests drain for a moment.
                    let t = Instant::now();
                    while t.elapsed() < Duration::from_millis(50) {
                        g.pump();
                    }
                    break;
                }
                if Instant::now() > hard_stop {
                    eprintln!("fs-load: hard stop (the workload did not finish)");
                    break;
                }
                if n == 0 && g.out.is_empty() {
                    idle += 1;
                    if idle & 63 == 0 || spin.is_zero() {
                        let since = *idle_since.get_or_insert_with(Instant::now);
                        if since.elapsed() >= spin {
                            parker.sleep(Duration::from_millis(1), || g.wire.rx_ready());
                        }
                    }
                } else {
                    idle = 0;
                    idle_since = None;
                }
            }
        }
        Mode::Idle => {
            mem_sample(shared);
            o.rss_before = rss();
            let deadline = start + spec.duration;
            let s_open = thread_cpu(server_clock);
            let mut last_rss_check = 0;
            while g.established < g.opened || g.opened < spec.total {
                while g.opened < spec.total && g.syn_inflight < spec.syn_window && !o.stopped_by_rss
                {
                    g.syn();
                }
                let n = g.pump();
                if g.opened - last_rss_check >= 100_000 {
                    last_rss_check = g.opened;
                    if rss() > spec.rss_limit {
                        eprintln!("fs-load: RSS passed the limit at {} connections", g.opened);
                        o.stopped_by_rss = true;
                    }
                    if g.opened % 1_000_000 < 100_000 {
                        eprintln!(
                            "fs-load: {} established, RSS {} MiB, {:.1}s",
                            g.established,
                            rss() >> 20,
                            start.elapsed().as_secs_f64()
                        );
                    }
                }
                if o.stopped_by_rss && g.syn_inflight == 0 {
                    break;
                }
                if Instant::now() > deadline {
                    eprintln!("fs-load: duration passed while opening connections");
                    break;
                }
                if n == 0 {
                    std::hint::spin_loop();
                }
            }
            o.open_time = start.elapsed();
            o.open_server_cpu = thread_cpu(server_clock) - s_open;
            // Settle, then sample memory.
            let t = Instant::now();
            while t.elapsed() < Duration::from_millis(200) {
                g.pump();
            }
            mem_sample(shared);
            o.rss_after = rss();
            o.conn_mem = shared.conn_mem.load(Ordering::Relaxed);
            o.server_conns = shared.conns.load(Ordering::Relaxed);
            // Requests still flow on held connections: spread over the whole range.
            let held = g.established.max(1);
            let probes = (spec.probes as u64).min(held);
            let tp = Instant::now();
            let s1 = thread_cpu(server_clock);
            for j in 0..probes {
                let i = j * held / probes;
                let c1 = iss(i).wrapping_add(1);
                let s = g.base[i as usize];
                g.send_req(i, c1, s);
                if g.out.len() > 512 {
                    g.pump();
                }
            }
            while g.probes_ok < probes && tp.elapsed() < Duration::from_secs(10) {
                g.pump();
            }
            o.probe_time = tp.elapsed();
            o.server_cpu = thread_cpu(server_clock) - s1;
            o.done = g.probes_ok;
            o.probes_ok = g.probes_ok;
        }
    }
    o.established = g.established;
    o.resets = g.resets;
    o.unexpected = g.unexpected;
    o.first_response = g.first_response.unwrap_or_default();
    mem_sample(shared);
    o.time_wait = shared.time_wait.load(Ordering::Relaxed);
    if spec.mode != Mode::Idle {
        o.server_conns = shared.conns.load(Ordering::Relaxed);
        o.conn_mem = shared.conn_mem.load(Ordering::Relaxed);
    }
    o
}
