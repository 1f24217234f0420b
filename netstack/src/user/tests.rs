//! Tests of the user-space stack: over the memory wire (always) and with the Linux kernel as
//! the peer over TAP (root and /dev/net/tun; skipped with a message otherwise).

use crate::testing::ip;
use std::collections::VecDeque;
use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4, TcpStream, UdpSocket};
use std::os::fd::BorrowedFd;
use std::process::Command;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use sha2::{Digest, Sha256};

use super::*;
use crate::app::{Accepted, Conn, Cx, Service};
use crate::buf::Pool;
use crate::dev::{Caps, DevStats, Device, MemoryWire, TxFrame};
use crate::runtime::Listen;
use crate::tcp::{Event, TcpConfig};
use crate::time::{Clock, Instant, MonotonicClock};
use crate::wire::EthernetAddress;

// ---------------------------------------------------------------------------------------
// TAP harness

/// A TAP interface for one test: the kernel side gets `198.19.N.1/24`, netstack `.2`.
/// Deleted (by name) on drop, even when the test fails.
pub struct TapNet {
    pub name: String,
    pub kernel: Ipv4Addr,
    pub stack: Ipv4Addr,
}

static NEXT_NET: AtomicU32 = AtomicU32::new(0);

impl TapNet {
    /// None (after printing why) when the machine cannot run TAP tests.
    pub fn new(test: &str) -> Option<TapNet> {
        if !crate::testing::tap_available() {
            eprintln!("SKIP {test}: needs root and /dev/net/tun");
            return None;
        }
        let k = NEXT_NET.fetch_add(1, Ordering::Relaxed);
        let net = ((std::process::id() * 7 + k) % 200 + 20) as u8;
        let name = format!("fst{}n{k}", std::process::id() % 100_000);
        Some(TapNet {
            name,
            kernel: Ipv4Addr::new(198, 19, net, 1),
            stack: Ipv4Addr::new(198, 19, net, 2),
        })
    }

    /// Configures the kernel side once the stack opened the device.
    pub fn up(&self) {
        ip(&["link", "set", &self.name, "up"]);
        ip(&[
            "addr",
            "add",
            &format!("{}/24", self.kernel),
            "dev",
            &self.name,
        ]);
    }

    pub fn config(&self) -> UserConfig {
        UserConfig {
            interface: self.name.clone(),
            iface: IfaceConfig {
                mac: EthernetAddress([0x02, 0x00, 0x5e, 0x00, 0x00, 0x02]),
                addr: self.stack,
                prefix: 24,
                gateway: None,
                mtu: 1500,
            },
            tcp: TcpConfig::default(),
            buffers: 8192,
            pcap: None,
            fault: None,
            idle_sleep: Duration::ZERO,
            worker: Default::default(),
        }
    }
}

impl Drop for TapNet {
    fn drop(&mut self) {
        let _ = Command::new("ip")
            .args(["link", "del", &self.name])
            .output();
    }
}

/// Runs a bare `Stack` (no service) in a thread: UDP echo on port 7.
struct BareStack {
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<Stack<BoxDevice>>>,
}

impl BareStack {
    fn start(cfg: &UserConfig) -> BareStack {
        let pool = Pool::with_capacity(cfg.buffers);
        let dev = open_device(cfg, &pool).expect("open tap");
        let clock = MonotonicClock::new();
        let mut stack = Stack::new(
            dev,
            cfg.iface.clone(),
            cfg.tcp.clone(),
            pool,
            clock.now(),
            random_secret(),
        );
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let thread = std::thread::spawn(move || {
            let echo = stack.udp.bind(7).unwrap();
            while !flag.load(Ordering::Relaxed) {
                let now = clock.now();
                stack.poll(now);
                while let Some((from, data)) = stack.udp.recv(echo) {
                    let _ = stack.udp.send_to(now, &mut stack.iface, echo, from, data);
                }
                stack.flush(now);
                wait_readable(stack.device.as_fd(), 5);
            }
            stack
        });
        BareStack {
            stop,
            thread: Some(thread),
        }
    }

    fn finish(mut self) -> Stack<BoxDevice> {
        self.stop.store(true, Ordering::Relaxed);
        self.thread.take().unwrap().join().unwrap()
    }
}

fn wait_readable(fd: Option<BorrowedFd<'_>>, ms: i32) {
    if let Some(fd) = fd {
        let mut p = [rustix::event::PollFd::new(
            &fd,
            rustix::event::PollFlags::IN,
        )];
        let t = rustix::time::Timespec {
            tv_sec: 0,
            tv_nsec: ms as i64 * 1_000_000,
        };
        let _ = rustix::event::poll(&mut p, Some(&t));
    }
}

/// One ICMP echo round trip over a raw socket (what `ping` does). Returns the RTT.
fn ping(dst: Ipv4Addr, seq: u16) -> Option<Duration> {
    use socket2::{Domain, Protocol, Socket, Type};
    let s = Socket::new(Domain::IPV4, Type::RAW, Some(Protocol::ICMPV4)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(2))).ok()?;
    let ident = (std::process::id() as u16) ^ 0x5a5a;
    let mut msg = vec![8u8, 0, 0, 0];
    msg.extend_from_slice(&ident.to_be_bytes());
    msg.extend_from_slice(&seq.to_be_bytes());
    msg.extend_from_slice(b"ferrostack ping payload 0123456789");
    let c = crate::wire::checksum::checksum(&msg);
    msg[2..4].copy_from_slice(&c.to_be_bytes());
    let start = std::time::Instant::now();
    s.send_to(&msg, &SocketAddr::from((dst, 0)).into()).ok()?;
    let mut buf = [std::mem::MaybeUninit::new(0u8); 1500];
    while start.elapsed() < Duration::from_secs(2) {
        let (n, from) = s.recv_from(&mut buf).ok()?;
        let b: Vec<u8> = buf[..n]
            .iter()
            .map(|x| unsafe { x.assume_init() })
            .collect();
        let hl = (b[0] & 0xf) as usize * 4;
        let icmp = &b[hl..];
        let from_ok = from.as_socket_ipv4().is_some_and(|a| *a.ip() == dst);
        if from_ok
            && icmp[0] == 0
            && icmp[4..6] == ident.to_be_bytes()
            && icmp[6..8] == seq.to_be_bytes()
        {
            assert_eq!(&icmp[8..], &msg[8..], "echo data comes back unchanged");
            assert_eq!(crate::wire::checksum::checksum(icmp), 0, "reply checksum");
            return Some(start.elapsed());
        }
    }
    None
}

#[test]
fn tap_icmp_echo_udp_echo_and_port_unreachable() {
    let Some(net) = TapNet::new("tap_icmp_echo_udp_echo_and_port_unreachable") else {
        return;
    };
    let bare = BareStack::start(&net.config());
    net.up();
    for seq in 1..=3 {
        let rtt = ping(net.stack, seq).expect("echo reply");
        eprintln!("ping {} seq {seq}: {:?}", net.stack, rtt);
    }
    let sock = UdpSocket::bind((net.kernel, 0)).unwrap();
    sock.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
    sock.connect((net.stack, 7)).unwrap();
    for size in [1usize, 100, 1472] {
        let msg: Vec<u8> = (0..size).map(|i| (i * 7) as u8).collect();
        sock.send(&msg).unwrap();
        let mut buf = [0u8; 2000];
        let n = sock.recv(&mut buf).expect("udp echo");
        assert_eq!(&buf[..n], &msg[..]);
    }
    // A closed port answers with ICMP port unreachable: the connected socket sees ECONNREFUSED.
    let closed = UdpSocket::bind((net.kernel, 0)).unwrap();
    closed
        .set_read_timeout(Some(Duration::from_secs(2)))
        .unwrap();
    closed.connect((net.stack, 9)).unwrap();
    closed.send(b"anyone?").unwrap();
    let err = closed.recv(&mut [0u8; 16]).unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::ConnectionRefused, "{err}");
    let stack = bare.finish();
    let s = &stack.iface.stats;
    eprintln!(
        "ip {s:?}\narp {:?}\nudp {:?}\ndev {:?}",
        stack.iface.arp.stats,
        stack.udp.stats,
        stack.device.stats()
    );
    assert_eq!(s.echo_replies, 3);
    assert!(s.icmp_errors_sent >= 1);
    assert_eq!(stack.device.stats().copied, 0);
}

// ---------------------------------------------------------------------------------------
// TCP with the kernel as the peer, through a Service on the glue

/// Echo: every byte back (the received `Bytes` are sent as they are: zero-copy echo).
/// A connection whose data starts with "RST!" is aborted.
struct Echo;

impl Service for Echo {
    type Msg = ();
    fn on_accept<C: Cx<Msg = ()>>(&mut self, _cx: &mut C, _conn: Conn, _info: &Accepted) {}
    fn on_data<C: Cx<Msg = ()>>(&mut self, cx: &mut C, conn: Conn, data: Bytes) {
        if data.starts_with(b"RST!") {
            return cx.abort(conn);
        }
        cx.send(conn, data);
    }
    fn on_closed<C: Cx<Msg = ()>>(&mut self, _cx: &mut C, _conn: Conn) {}
}

const PORT: u16 = 7777;

fn start_echo(net: &TapNet, cfg: UserConfig) -> crate::runtime::Runtime<()> {
    let listen = [Listen::new(SocketAddr::from((Ipv4Addr::UNSPECIFIED, PORT)))];
    let rt = super::start(cfg, &listen, |_| Echo).expect("start user stack");
    net.up();
    rt
}

fn pattern(len: usize, seed: u8) -> Vec<u8> {
    (0..len)
        .map(|i| (i as u32 * 31 + seed as u32 * 7 + (i >> 10) as u32) as u8)
        .collect()
}

/// Sends `data` on one thread while reading the echo on this one; returns the echo.
fn echo_round(stream: TcpStream, data: Vec<u8>) -> Vec<u8> {
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    let mut writer = stream.try_clone().unwrap();
    let len = data.len();
    let w = std::thread::spawn(move || {
        writer.write_all(&data).unwrap();
        writer.shutdown(std::net::Shutdown::Write).unwrap();
    });
    let mut back = Vec::with_capacity(len);
    let mut s = stream;
    s.read_to_end(&mut back)
        .expect("read echo until the stack's FIN");
    w.join().unwrap();
    back
}

fn connect(net: &TapNet) -> TcpStream {
    let addr = SocketAddr::from((net.stack, PORT));
    TcpStream::connect_timeout(&addr, Duration::from_secs(5)).expect("connect to the user stack")
}

fn sha(b: &[u8]) -> [u8; 32] {
    Sha256::digest(b).into()
}

#[test]
fn tap_tcp_with_the_kernel_as_peer() {
    let Some(net) = TapNet::new("tap_tcp_with_the_kernel_as_peer") else {
        return;
    };
    let mut cfg = net.config();
    cfg.tcp.rx_buffer = 4 << 20; // window scaling: a 4 MiB window needs shift >= 7
    cfg.tcp.tx_buffer = 4 << 20;
    let rt = start_echo(&net, cfg);

    // Handshake + small echo.
    let back = echo_round(connect(&net), b"hello, user-space stack".to_vec());
    assert_eq!(back, b"hello, user-space stack");

    // Large data both ways, half-close: the client's FIN after 8 MiB, the echo then our FIN.
    let data = pattern(8 << 20, 1);
    let t = std::time::Instant::now();
    let back = echo_round(connect(&net), data.clone());
    let secs = t.elapsed().as_secs_f64();
    assert_eq!(back.len(), data.len());
    assert_eq!(sha(&back), sha(&data));
    eprintln!(
        "8 MiB echo (16 MiB through the stack): {secs:.2}s, {:.1} MB/s each way",
        8.0 * 1.048576 / secs
    );

    // RST: the service aborts; the client sees a reset.
    let mut s = connect(&net);
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    s.write_all(b"RST! please").unwrap();
    let err = s.read(&mut [0u8; 16]);
    assert!(
        matches!(&err, Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset),
        "{err:?}"
    );

    // 50 parallel connections, 256 KiB each.
    let threads: Vec<_> = (0..50u8)
        .map(|i| {
            let addr = SocketAddr::from((net.stack, PORT));
            std::thread::spawn(move || {
                let s = TcpStream::connect_timeout(&addr, Duration::from_secs(10)).unwrap();
                let data = pattern(256 << 10, i);
                let back = echo_round(s, data.clone());
                assert_eq!(sha(&back), sha(&data), "connection {i}");
            })
        })
        .collect();
    for t in threads {
        t.join().expect("parallel connection");
    }
    rt.stop();
    rt.join();
}

#[test]
fn tap_tcp_with_faults_on_the_stack_device() {
    let Some(net) = TapNet::new("tap_tcp_with_faults_on_the_stack_device") else {
        return;
    };
    let mut cfg = net.config();
    cfg.fault = Some(crate::dev::FaultConfig {
        seed: 0xfe770,
        loss: 0.02,
        duplicate: 0.01,
        reorder: 0.02,
        corrupt: 0.01,
        ..Default::default()
    });
    let rt = start_echo(&net, cfg);
    for round in 0..3u8 {
        let data = pattern(1 << 20, round);
        let t = std::time::Instant::now();
        let back = echo_round(connect(&net), data.clone());
        assert_eq!(sha(&back), sha(&data), "round {round}");
        eprintln!(
            "1 MiB echo with 2% loss, dup, reorder, corruption: {:?}",
            t.elapsed()
        );
    }
    rt.stop();
    rt.join();
}

// ---------------------------------------------------------------------------------------
// The zero-copy contract, measured over the memory wire

/// Records the address range of every received frame.
struct Recording {
    inner: MemoryWire,
    frames: Arc<Mutex<Vec<std::ops::Range<usize>>>>,
}

impl Device for Recording {
    fn rx_burst(&mut self, now: Instant, out: &mut Vec<Bytes>, max: usize) -> usize {
        let start = out.len();
        let n = self.inner.rx_burst(now, out, max);
        let mut f = self.frames.lock().unwrap();
        for b in &out[start..] {
            f.push(b.as_ptr() as usize..b.as_ptr() as usize + b.len());
        }
        n
    }
    fn tx_burst(&mut self, now: Instant, frames: &mut VecDeque<TxFrame>) -> usize {
        self.inner.tx_burst(now, frames)
    }
    fn caps(&self) -> Caps {
        self.inner.caps()
    }
    fn stats(&self) -> DevStats {
        self.inner.stats()
    }
}

fn mem_stack(dev: BoxDevice, last: u8) -> Stack<BoxDevice> {
    let iface = IfaceConfig {
        mac: EthernetAddress([2, 0, 0, 0, 0, last]),
        addr: Ipv4Addr::new(198, 18, 0, last),
        prefix: 24,
        gateway: None,
        mtu: 1500,
    };
    Stack::new(
        dev,
        iface,
        TcpConfig::default(),
        Pool::with_capacity(4096),
        Instant::ZERO,
        [last; 16],
    )
}

#[test]
fn zero_copy_over_the_memory_wire() {
    let (a, b) = MemoryWire::pair(4096, 4096);
    let frames = Arc::new(Mutex::new(Vec::new()));
    let server_dev: BoxDevice = Box::new(Recording {
        inner: b,
        frames: frames.clone(),
    });
    let mut client = mem_stack(Box::new(a), 1);
    let mut server = mem_stack(server_dev, 2);
    let local = SocketAddrV4::new(Ipv4Addr::new(198, 18, 0, 2), 80);
    server.tcp.listen(local, 16).unwrap();
    let mut now = Instant::from_millis(1);
    let h = client
        .tcp
        .connect(
            SocketAddrV4::new(Ipv4Addr::new(198, 18, 0, 1), 0),
            local,
            now,
        )
        .unwrap();

    // 4 MiB from the client's buffers, sent as 64 KiB Bytes (referenced by the engine).
    let data = Bytes::from(pattern(4 << 20, 9));
    let mut offset = 0;
    let mut received = 0usize;
    let mut digest = Sha256::new();
    let mut outside = 0;
    for _ in 0..200_000 {
        now += Duration::from_micros(50);
        client.poll(now);
        while let Some(ev) = client.tcp.poll_event() {
            assert!(
                !matches!(ev, Event::ConnectFailed(_) | Event::Closed(_)),
                "{ev:?}"
            );
        }
        while offset < data.len() && client.tcp.queued(h) < 128 << 10 {
            let end = (offset + (64 << 10)).min(data.len());
            if client.tcp.send(h, data.slice(offset..end)).is_err() {
                break;
            }
            offset = end;
        }
        server.poll(now);
        while let Some(ev) = server.tcp.poll_event() {
            if let Event::Data { data: d, .. } = ev {
                let p = d.as_ptr() as usize;
                let inside = frames
                    .lock()
                    .unwrap()
                    .iter()
                    .any(|r| r.contains(&p) && p + d.len() <= r.end);
                outside += !inside as usize;
                received += d.len();
                digest.update(&d);
            }
        }
        if received == data.len() {
            break;
        }
    }
    assert_eq!(received, data.len(), "transfer completed");
    assert_eq!(<[u8; 32]>::from(digest.finalize()), sha(&data));
    assert_eq!(
        outside, 0,
        "every received Bytes is a slice of a received frame"
    );
    assert_eq!(
        client.device.stats().copied,
        0,
        "no copy at the sender's device boundary"
    );
    assert_eq!(server.device.stats().copied, 0);
    let cs = client.device.stats();
    eprintln!(
        "zero-copy: 4 MiB in {} frames ({} bytes), device copies 0, {:.1} ms virtual",
        cs.tx_frames,
        cs.tx_bytes,
        now.total_micros() as f64 / 1000.0
    );
}

// ---------------------------------------------------------------------------------------
// Multi-queue TAP with software steering

/// Two worker stacks on two queues of one multi-queue TAP device, driven by hand: active opens
/// from each worker to a kernel listener use [`Steering::source_port`], so the kernel's
/// answers (whichever queue they arrive on) are steered back to the opening worker and every
/// connection completes there, and the other worker never sees an event for it.
#[test]
fn tap_active_opens_are_steered_back_to_the_opening_worker() {
    let Some(net) = TapNet::new("tap_active_opens_are_steered_back_to_the_opening_worker") else {
        return;
    };
    let cfg = net.config();
    let steering = Arc::new(Steering::new(2).unwrap());
    let clock = MonotonicClock::new();
    let mut stacks: Vec<Stack<BoxDevice>> = (0..2)
        .map(|i| {
            let pool = Pool::with_capacity(cfg.buffers);
            let dev = open_worker_device(&cfg, &pool, &steering, i).expect("open tap queue");
            Stack::new(
                dev,
                cfg.iface.clone(),
                cfg.tcp.clone(),
                pool,
                clock.now(),
                random_secret(),
            )
        })
        .collect();
    net.up();
    let listener = std::net::TcpListener::bind((net.kernel, 0)).expect("kernel listener");
    let remote = match listener.local_addr().unwrap() {
        SocketAddr::V4(a) => a,
        SocketAddr::V6(_) => unreachable!(),
    };
    let per_worker = 6;
    let accepter = std::thread::spawn(move || {
        let mut ports = Vec::new();
        for _ in 0..2 * per_worker {
            let (mut s, peer) = listener.accept().expect("accept");
            s.write_all(b"hello from the kernel").unwrap();
            ports.push(peer.port());
        }
        ports
    });

    // (worker, handle, connected, got data)
    let mut conns = Vec::new();
    let mut used = Vec::new();
    for k in 0..per_worker {
        for (w, stack) in stacks.iter_mut().enumerate() {
            let start = 49152 + (k as u16) * 1237 + w as u16 * 4099;
            let port = steering
                .source_port(w, net.stack, remote, start, |p| !used.contains(&p))
                .expect("a steered port");
            used.push(port);
            let h = stack
                .tcp
                .connect(SocketAddrV4::new(net.stack, port), remote, clock.now())
                .expect("connect");
            conns.push((w, h, false, Vec::new()));
        }
    }
    let deadline = std::time::Instant::now() + Duration::from_secs(15);
    while conns
        .iter()
        .any(|(_, _, up, data)| !up || data.len() < b"hello from the kernel".len())
    {
        assert!(
            std::time::Instant::now() < deadline,
            "active opens did not complete: {:?}",
            conns
                .iter()
                .map(|(w, _, up, d)| (*w, *up, d.len()))
                .collect::<Vec<_>>()
        );
        for (w, stack) in stacks.iter_mut().enumerate() {
            let now = clock.now();
            stack.poll(now);
            while let Some(ev) = stack.tcp.poll_event() {
                let h = match &ev {
                    Event::Connected(h) | Event::ConnectFailed(h) => *h,
                    Event::Data { handle, .. } => *handle,
                    _ => continue,
                };
                let c = conns
                    .iter_mut()
                    .find(|(cw, ch, ..)| *cw == w && *ch == h)
                    .unwrap_or_else(|| panic!("worker {w} got an event for a foreign handle"));
                match ev {
                    Event::Connected(_) => c.2 = true,
                    Event::ConnectFailed(_) => panic!("worker {w}: connect failed"),
                    Event::Data { data, .. } => c.3.extend_from_slice(&data),
                    _ => {}
                }
            }
            stack.transmit(now);
        }
        wait_readable(stacks[0].device.as_fd(), 1);
    }
    for (_, _, _, data) in &conns {
        assert_eq!(data, b"hello from the kernel");
    }
    let mut seen = accepter.join().unwrap();
    seen.sort_unstable();
    used.sort_unstable();
    assert_eq!(seen, used, "the kernel saw the steered source ports");
    for (w, stack) in stacks.iter().enumerate() {
        let c = steering.counters(w);
        eprintln!(
            "worker {w}: connected {}, steered {} frames out, {} in",
            stack.tcp.stats().connected,
            c.forwarded.load(Ordering::Relaxed),
            c.received.load(Ordering::Relaxed)
        );
        assert_eq!(stack.tcp.stats().connected, per_worker as u64);
    }
}

/// [`start_workers`] with two workers: parallel echo connections of 64 KiB each (data both
/// ways through the steering), then a graceful stop that waits for the last connection of
/// either worker, which is still served meanwhile; then every worker exits.
#[test]
fn tap_two_workers_echo_and_graceful_stop() {
    let Some(net) = TapNet::new("tap_two_workers_echo_and_graceful_stop") else {
        return;
    };
    let listen = [Listen::new(SocketAddr::from((Ipv4Addr::UNSPECIFIED, PORT)))];
    let rt = start_workers(net.config(), 2, &listen, |_| Echo).expect("start two workers");
    assert_eq!(rt.workers(), 2);
    assert_eq!(rt.local_addrs(), &[SocketAddr::from((net.stack, PORT))]);
    net.up();
    let threads: Vec<_> = (0..24u8)
        .map(|i| {
            let addr = SocketAddr::from((net.stack, PORT));
            std::thread::spawn(move || {
                let s = TcpStream::connect_timeout(&addr, Duration::from_secs(10)).unwrap();
                let data = pattern(64 << 10, i);
                assert_eq!(sha(&echo_round(s, data.clone())), sha(&data), "conn {i}");
            })
        })
        .collect();
    for t in threads {
        t.join().expect("parallel connection");
    }

    let mut held = connect(&net);
    held.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let round = |s: &mut TcpStream, msg: &[u8]| {
        s.write_all(msg).unwrap();
        let mut back = vec![0u8; msg.len()];
        s.read_exact(&mut back).unwrap();
        assert_eq!(back, msg);
    };
    round(&mut held, b"before quit");
    rt.quit();
    std::thread::sleep(Duration::from_millis(300));
    assert!(
        !rt.finished(),
        "a connection is open: no worker may exit yet"
    );
    round(&mut held, b"still served while stopping");
    // New connections are refused while stopping.
    let addr = SocketAddr::from((net.stack, PORT));
    assert!(TcpStream::connect_timeout(&addr, Duration::from_secs(5)).is_err());
    held.shutdown(std::net::Shutdown::Write).unwrap();
    let mut rest = Vec::new();
    held.read_to_end(&mut rest).unwrap();
    assert!(rest.is_empty());
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while !rt.finished() {
        assert!(
            std::time::Instant::now() < deadline,
            "workers did not exit after the last connection"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    rt.join();
}

// ---------------------------------------------------------------------------------------
// Supervision on the user stack

/// Echo that panics on "panic" (in a connection's callback) and on any message (outside).
struct Fragile;

impl Service for Fragile {
    type Msg = ();
    fn on_accept<C: Cx<Msg = ()>>(&mut self, _cx: &mut C, _conn: Conn, _info: &Accepted) {}
    fn on_data<C: Cx<Msg = ()>>(&mut self, cx: &mut C, conn: Conn, data: Bytes) {
        assert!(&data[..] != b"panic", "injected panic in on_data");
        cx.send(conn, data);
    }
    fn on_closed<C: Cx<Msg = ()>>(&mut self, _cx: &mut C, _conn: Conn) {}
    fn on_message<C: Cx<Msg = ()>>(&mut self, _cx: &mut C, _msg: ()) {
        panic!("injected panic in on_message");
    }
}

/// Two workers on a multi-queue TAP device: a panic in one connection's callback resets that
/// connection only; a panic outside any connection restarts each worker with a fresh stack on
/// its own queue, which then serves new connections (steering included).
#[test]
fn tap_worker_panics_are_contained_and_workers_restart() {
    let Some(net) = TapNet::new("tap_worker_panics_are_contained_and_workers_restart") else {
        return;
    };
    let listen = [Listen::new(SocketAddr::from((Ipv4Addr::UNSPECIFIED, PORT)))];
    let rt = start_workers(net.config(), 2, &listen, |_| Fragile).expect("start two workers");
    net.up();
    let round = |s: &mut TcpStream, msg: &[u8]| -> std::io::Result<()> {
        s.write_all(msg)?;
        let mut back = vec![0u8; msg.len()];
        s.read_exact(&mut back)?;
        assert_eq!(back, msg);
        Ok(())
    };
    let mut others: Vec<TcpStream> = (0..8).map(|_| connect(&net)).collect();
    for s in &mut others {
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        round(s, b"before").unwrap();
    }
    let mut victim = connect(&net);
    victim
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    victim.write_all(b"panic").unwrap();
    let mut buf = [0u8; 8];
    assert!(
        matches!(victim.read(&mut buf), Ok(0) | Err(_)),
        "the panicking connection is reset"
    );
    for s in &mut others {
        round(s, b"after").unwrap();
    }
    let get = |f: fn(&crate::worker::WorkerStats) -> &std::sync::atomic::AtomicU64| -> u64 {
        rt.stats()
            .iter()
            .map(|s| f(s).load(Ordering::Relaxed))
            .sum()
    };
    assert_eq!(get(|s| &s.panics), 1);

    rt.broadcast(());
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while get(|s| &s.restarts) < 2 {
        assert!(std::time::Instant::now() < deadline, "workers restarted");
        std::thread::sleep(Duration::from_millis(10));
    }
    for i in 0..12u8 {
        let mut s = connect(&net);
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        round(&mut s, &pattern(1000, i)).expect("served after the restart");
    }
    rt.stop();
    rt.join();
}
