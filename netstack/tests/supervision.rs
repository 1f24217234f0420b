//! Worker supervision on the kernel transport: a panic in a connection's callback resets that
//! connection only; a panic outside any connection restarts the worker on its listeners (or,
//! with `OnPanic::Exit`, ends the process with status 70). The user stack's counterpart is in
//! `netstack/src/user/tests.rs` (TAP).

use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use netstack::runtime::{self, Listen, Runtime};
use netstack::worker::{OnPanic, WorkerConfig, WorkerStats};
use netstack::{Accepted, Bytes, Conn, Cx, Service};

/// Echoes; "panic" panics in `on_data`; "flood" sends 16 MiB and closes; the message `Boom`
/// panics in `on_message`.
struct Fragile;

#[derive(Clone)]
struct Boom;

impl Service for Fragile {
    type Msg = Boom;
    fn on_accept<C: Cx<Msg = Boom>>(&mut self, _cx: &mut C, _conn: Conn, _info: &Accepted) {}
    fn on_data<C: Cx<Msg = Boom>>(&mut self, cx: &mut C, conn: Conn, data: Bytes) {
        assert!(&data[..] != b"panic", "injected panic in on_data");
        if &data[..] == b"flood" {
            let chunk = Bytes::from(vec![7u8; 1 << 20]);
            (0..16).for_each(|_| cx.send(conn, chunk.clone()));
            return cx.close(conn);
        }
        cx.send(conn, data);
    }
    fn on_closed<C: Cx<Msg = Boom>>(&mut self, _cx: &mut C, _conn: Conn) {}
    fn on_message<C: Cx<Msg = Boom>>(&mut self, _cx: &mut C, _msg: Boom) {
        panic!("injected panic in on_message");
    }
    fn describe(&self, conn: Conn) -> Option<String> {
        Some(format!("(fragile echo {})", conn.index()))
    }
}

fn start(workers: usize, on_panic: OnPanic) -> Runtime<Boom> {
    let listen = [Listen::new("127.0.0.1:0".parse().unwrap())];
    let cfg = WorkerConfig {
        on_panic,
        ..WorkerConfig::default()
    };
    runtime::start_with(workers, cfg, &listen, |_| Fragile).expect("start runtime")
}

fn connect(rt: &Runtime<Boom>) -> TcpStream {
    let s = TcpStream::connect(rt.local_addrs()[0]).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s
}

fn echo(s: &mut TcpStream, text: &[u8]) -> std::io::Result<Vec<u8>> {
    s.write_all(text)?;
    let mut buf = vec![0; text.len()];
    s.read_exact(&mut buf)?;
    Ok(buf)
}

fn total(rt: &Runtime<Boom>, f: fn(&WorkerStats) -> &std::sync::atomic::AtomicU64) -> u64 {
    rt.stats().iter().map(|s| WorkerStats::get(f(s))).sum()
}

/// Waits until `cond` holds (bounded).
fn eventually(what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(5));
    }
}

#[test]
fn a_panic_in_a_connection_callback_resets_only_that_connection() {
    let rt = start(2, OnPanic::Restart);
    let mut others: Vec<TcpStream> = (0..16).map(|_| connect(&rt)).collect();
    for c in &mut others {
        assert_eq!(echo(c, b"before").unwrap(), b"before");
    }
    let mut victim = connect(&rt);
    victim.write_all(b"panic").unwrap();
    let mut buf = [0u8; 16];
    match victim.read(&mut buf) {
        Ok(0) => {}
        Err(e) => assert_eq!(e.kind(), ErrorKind::ConnectionReset, "{e}"),
        Ok(n) => panic!("the panicking connection got {n} bytes"),
    }
    for c in &mut others {
        assert_eq!(
            echo(c, b"after").unwrap(),
            b"after",
            "others keep being served"
        );
    }
    let mut fresh = connect(&rt);
    assert_eq!(echo(&mut fresh, b"new").unwrap(), b"new");
    assert_eq!(total(&rt, |s| &s.panics), 1);
    assert_eq!(total(&rt, |s| &s.restarts), 0);
    rt.stop();
    rt.join();
}

#[test]
fn a_panic_outside_a_connection_restarts_the_worker_on_its_listeners() {
    let workers = 2;
    let rt = start(workers, OnPanic::Restart);
    let mut before = connect(&rt);
    assert_eq!(echo(&mut before, b"x").unwrap(), b"x");
    rt.broadcast(Boom);
    eventually("every worker restarted", || {
        total(&rt, |s| &s.restarts) == workers as u64
    });
    // The connection of the old worker is gone (reset); the listeners serve on.
    assert!(
        echo(&mut before, b"y").is_err(),
        "old connections are reset"
    );
    for i in 0..32 {
        let mut c = connect(&rt);
        let text = format!("after restart {i}");
        assert_eq!(echo(&mut c, text.as_bytes()).unwrap(), text.as_bytes());
    }
    assert!(
        rt.stats()
            .iter()
            .all(|s| WorkerStats::get(&s.restarts) == 1),
        "each worker restarted once and serves"
    );
    rt.stop();
    rt.join();
}

/// With `OnPanic::Exit` the process ends with status 70: run in a child copy of this test
/// binary.
#[test]
fn on_panic_exit_ends_the_process_with_status_70() {
    if std::env::var_os("FS_SUPERVISION_CHILD").is_some() {
        let rt = start(1, OnPanic::Exit);
        rt.broadcast(Boom);
        std::thread::sleep(Duration::from_secs(10));
        return; // not reached: the worker exits the process
    }
    let out = std::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "on_panic_exit_ends_the_process_with_status_70",
            "--nocapture",
        ])
        .env("FS_SUPERVISION_CHILD", "1")
        .output()
        .expect("run the child");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(70), "{stderr}");
    assert!(stderr.contains("exiting the process"), "{stderr}");
}

#[test]
fn connections_above_the_limit_are_refused_at_once() {
    let listen = [Listen::new("127.0.0.1:0".parse().unwrap())];
    let cfg = WorkerConfig {
        max_connections: 4,
        ..WorkerConfig::default()
    };
    let rt = runtime::start_with(1, cfg, &listen, |_| Fragile).expect("start");
    let mut held: Vec<TcpStream> = (0..4).map(|_| connect(&rt)).collect();
    for c in &mut held {
        assert_eq!(echo(c, b"in").unwrap(), b"in");
    }
    let mut over = connect(&rt);
    assert!(echo(&mut over, b"over").is_err(), "the fifth is refused");
    assert_eq!(total(&rt, |s| &s.rejected), 1);
    drop(held.pop());
    eventually("a slot frees up", || {
        let mut c = connect(&rt);
        echo(&mut c, b"ok").is_ok()
    });
    rt.stop();
    rt.join();
}

#[test]
fn a_closed_connection_whose_peer_never_reads_is_reset_after_close_timeout() {
    let listen = [Listen::new("127.0.0.1:0".parse().unwrap())];
    let cfg = WorkerConfig {
        close_timeout: Duration::from_millis(300),
        ..WorkerConfig::default()
    };
    let rt = runtime::start_with(1, cfg, &listen, |_| Fragile).expect("start");
    let mut lazy = connect(&rt);
    lazy.write_all(b"flood").unwrap(); // and never read
    eventually("the unread close to time out", || {
        total(&rt, |s| &s.close_timeouts) == 1
    });
    let mut other = connect(&rt);
    assert_eq!(echo(&mut other, b"still here").unwrap(), b"still here");
    rt.stop();
    rt.join();
}
