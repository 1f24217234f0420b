//! The kernel transport driven by real TCP clients over loopback.

use std::io::{Read, Write};
use std::net::{Shutdown, TcpStream};
use std::time::{Duration, Instant};

use netstack::runtime::{self, Listen};
use netstack::{Accepted, Bytes, Conn, Cx, Service};

/// Echoes everything; "ping-all" asks every worker to answer through a message;
/// "timer" closes the connection 50 ms later from its timer.
struct Echo {
    pending: Vec<Option<Conn>>,
}

#[derive(Clone)]
enum Msg {
    Ping { from_worker: usize, conn: Conn },
    Pong { worker: usize, conn: Conn },
}

impl Service for Echo {
    type Msg = Msg;

    fn on_accept<C: Cx<Msg = Msg>>(&mut self, _cx: &mut C, _conn: Conn, _info: &Accepted) {}

    fn on_data<C: Cx<Msg = Msg>>(&mut self, cx: &mut C, conn: Conn, data: Bytes) {
        match &data[..] {
            b"ping-all" => {
                for w in 0..cx.workers() {
                    let from_worker = cx.worker();
                    cx.post(w, Msg::Ping { from_worker, conn });
                }
            }
            b"timer" => cx.set_timer(conn, Some(cx.now() + Duration::from_millis(50))),
            b"pause" => {
                cx.pause_reading(conn, true);
                self.pending.push(Some(conn));
                cx.set_timer(conn, Some(cx.now() + Duration::from_millis(100)));
            }
            _ => cx.send(conn, data),
        }
    }

    fn on_timer<C: Cx<Msg = Msg>>(&mut self, cx: &mut C, conn: Conn) {
        if let Some(slot) = self.pending.iter_mut().find(|c| **c == Some(conn)) {
            *slot = None;
            cx.send(conn, Bytes::from_static(b"resumed:"));
            cx.pause_reading(conn, false);
        } else {
            cx.send(conn, Bytes::from_static(b"bye"));
            cx.close(conn);
        }
    }

    fn on_closed<C: Cx<Msg = Msg>>(&mut self, _cx: &mut C, _conn: Conn) {}

    fn on_message<C: Cx<Msg = Msg>>(&mut self, cx: &mut C, msg: Msg) {
        match msg {
            Msg::Ping { from_worker, conn } => cx.post(
                from_worker,
                Msg::Pong {
                    worker: cx.worker(),
                    conn,
                },
            ),
            Msg::Pong { worker, conn } => cx.send(conn, Bytes::from(format!("pong{worker};"))),
        }
    }
}

fn start(workers: usize) -> runtime::Runtime<Msg> {
    let listen = [Listen::new("127.0.0.1:0".parse().unwrap())];
    runtime::start(workers, &listen, |_| Echo {
        pending: Vec::new(),
    })
    .expect("start runtime")
}

fn connect(rt: &runtime::Runtime<Msg>) -> TcpStream {
    let s = TcpStream::connect(rt.local_addrs()[0]).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s
}

fn read_exact_len(s: &mut TcpStream, n: usize) -> Vec<u8> {
    let mut buf = vec![0; n];
    s.read_exact(&mut buf).unwrap();
    buf
}

#[test]
fn echoes_many_connections_on_two_workers() {
    let rt = start(2);
    let mut clients: Vec<TcpStream> = (0..32).map(|_| connect(&rt)).collect();
    for (i, c) in clients.iter_mut().enumerate() {
        c.write_all(format!("hello {i:03}").as_bytes()).unwrap();
    }
    for (i, c) in clients.iter_mut().enumerate() {
        assert_eq!(read_exact_len(c, 9), format!("hello {i:03}").as_bytes());
    }
    rt.stop();
    rt.join();
}

#[test]
fn large_transfer_survives_backpressure_in_both_directions() {
    let rt = start(1);
    let mut c = connect(&rt);
    let data: Vec<u8> = (0..8 << 20)
        .map(|i: u32| (i * 7 + i / 4096) as u8)
        .collect();
    let mut writer = c.try_clone().unwrap();
    let expected = data.clone();
    // Write everything before reading anything: the server's send queue must absorb the
    // pushback without losing or reordering bytes.
    let t = std::thread::spawn(move || writer.write_all(&data).unwrap());
    let got = read_exact_len(&mut c, expected.len());
    t.join().unwrap();
    assert!(got == expected, "echoed bytes differ");
    rt.stop();
    rt.join();
}

#[test]
fn messages_reach_every_worker_and_come_back() {
    let rt = start(2);
    let mut c = connect(&rt);
    c.write_all(b"ping-all").unwrap();
    let mut got = String::from_utf8(read_exact_len(&mut c, 12)).unwrap();
    let mut parts: Vec<&str> = got.split_terminator(';').collect();
    parts.sort();
    assert_eq!(parts, ["pong0", "pong1"]);
    got.clear();
    rt.stop();
    rt.join();
}

#[test]
fn timers_fire_and_close_gracefully_with_fin() {
    let rt = start(1);
    let mut c = connect(&rt);
    let started = Instant::now();
    c.write_all(b"timer").unwrap();
    let mut all = Vec::new();
    c.read_to_end(&mut all).unwrap(); // returns at the server's FIN
    assert_eq!(all, b"bye");
    assert!(started.elapsed() >= Duration::from_millis(45));
    rt.stop();
    rt.join();
}

#[test]
fn paused_reading_holds_data_until_resumed() {
    let rt = start(1);
    let mut c = connect(&rt);
    c.write_all(b"pause").unwrap();
    std::thread::sleep(Duration::from_millis(20));
    c.write_all(b"later").unwrap();
    assert_eq!(read_exact_len(&mut c, 13), b"resumed:later");
    rt.stop();
    rt.join();
}

#[test]
fn graceful_quit_waits_for_open_connections() {
    let rt = start(1);
    let mut c = connect(&rt);
    c.write_all(b"abc").unwrap();
    assert_eq!(read_exact_len(&mut c, 3), b"abc");
    rt.quit();
    std::thread::sleep(Duration::from_millis(100));
    // Still served: the default service closes only when the peer does.
    c.write_all(b"def").unwrap();
    assert_eq!(read_exact_len(&mut c, 3), b"def");
    assert!(!rt.finished());
    c.shutdown(Shutdown::Write).unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while !rt.finished() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
    }
    assert!(
        rt.finished(),
        "worker did not exit after its last connection closed"
    );
    // New connections are refused once the listeners are closed.
    assert!(TcpStream::connect(rt.local_addrs()[0]).is_err());
    rt.join();
}

#[test]
fn listeners_change_without_dropping_connections() {
    let mut rt = start(2);
    let first = rt.local_addrs()[0];
    let mut c = connect(&rt);
    let free = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    rt.set_listeners(&[Listen::new(free)]).unwrap();
    let second = rt.local_addrs()[0];
    assert_ne!(first, second);
    std::thread::sleep(Duration::from_millis(50));
    c.write_all(b"still").unwrap();
    assert_eq!(read_exact_len(&mut c, 5), b"still");
    let mut d = TcpStream::connect(second).unwrap();
    d.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    d.write_all(b"new").unwrap();
    assert_eq!(read_exact_len(&mut d, 3), b"new");
    assert!(
        TcpStream::connect(first).is_err(),
        "old listener still open"
    );
    // Binding an address in use fails and keeps the current set.
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let err = rt.set_listeners(&[Listen::new(taken.local_addr().unwrap())]);
    assert!(err.is_err());
    assert_eq!(rt.local_addrs()[0], second);
    rt.stop();
    rt.join();
}

#[test]
fn a_port_in_use_is_refused_even_by_a_reuseport_peer() {
    let first = start(1);
    let taken = first.local_addrs()[0];
    let err = runtime::start(1, &[Listen::new(taken)], |_| Echo {
        pending: Vec::new(),
    })
    .err()
    .expect("must not share the port");
    assert_eq!(err.kind(), std::io::ErrorKind::AddrInUse, "{err}");
    first.stop();
    first.join();
}

/// Records, per connection index, the connection the service believes open there; a new
/// connection on an index whose previous one got no `on_closed` is a violation.
struct Ledger {
    open: Vec<Option<Conn>>,
    violations: std::sync::Arc<std::sync::atomic::AtomicUsize>,
}

impl Service for Ledger {
    type Msg = ();
    fn on_accept<C: Cx<Msg = ()>>(&mut self, _cx: &mut C, conn: Conn, _info: &Accepted) {
        if self.open.len() <= conn.index() {
            self.open.resize(conn.index() + 1, None);
        }
        if self.open[conn.index()].replace(conn).is_some() {
            self.violations
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        }
    }
    fn on_data<C: Cx<Msg = ()>>(&mut self, cx: &mut C, conn: Conn, data: Bytes) {
        cx.send(conn, data);
    }
    fn on_closed<C: Cx<Msg = ()>>(&mut self, _cx: &mut C, conn: Conn) {
        if let Some(slot) = self.open.get_mut(conn.index()) {
            if *slot == Some(conn) {
                *slot = None;
            }
        }
    }
}

/// A connection reset by its peer frees its index; one accepted in the same turn may take the
/// index. The service must still get `on_closed` for the old one first (fs-kv kept ghost
/// subscribers and clients when it did not).
#[test]
fn a_reused_index_is_never_handed_out_before_on_closed() {
    let violations = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let listen = [Listen::new("127.0.0.1:0".parse().unwrap())];
    let v = violations.clone();
    let rt = runtime::start(1, &listen, move |_| Ledger {
        open: Vec::new(),
        violations: v.clone(),
    })
    .expect("start");
    let addr = rt.local_addrs()[0];
    for _ in 0..500 {
        let a = socket2::Socket::from(TcpStream::connect(addr).unwrap());
        a.set_linger(Some(Duration::ZERO)).unwrap();
        let mut a: TcpStream = a.into();
        a.write_all(b"x").unwrap();
        let mut one = [0u8; 1];
        a.read_exact(&mut one).unwrap();
        drop(a); // RST
        let mut b = TcpStream::connect(addr).unwrap();
        b.write_all(b"y").unwrap();
        b.read_exact(&mut one).unwrap();
    }
    rt.stop();
    rt.join();
    assert_eq!(
        violations.load(std::sync::atomic::Ordering::Relaxed),
        0,
        "an index was reused before on_closed of its previous connection"
    );
}
