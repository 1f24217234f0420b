//! fs-httpd against hostile and broken clients, as a process: a request that panics costs only
//! its own connection; slow clients (slowloris) and connection floods do not stop a normal
//! client from being served.

mod common;

use std::io::{BufReader, Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use common::{read_response, Server, Site};

const CONFIG: &str = r#"
[runtime]
workers = 1

[http]
access_log = "off"
error_log = "{dir}/error.log"

[[server]]
listen = ["127.0.0.1:0"]
root = "{root}"

[[server.location]]
match = "= /600"
return = "200 six hundred"
"#;

fn get_on(stream: &mut BufReader<TcpStream>, path: &str) -> Option<u16> {
    let req = format!("GET {path} HTTP/1.1\r\nHost: a\r\n\r\n");
    stream.get_mut().write_all(req.as_bytes()).ok()?;
    read_response(stream, false).map(|r| r.status)
}

/// Reads until the server closes or resets the connection; true if it did within `limit`.
fn closed_within(stream: &mut TcpStream, limit: Duration) -> bool {
    stream.set_read_timeout(Some(limit)).unwrap();
    let mut sink = [0u8; 4096];
    loop {
        match stream.read(&mut sink) {
            Ok(0) => return true,
            Ok(_) => {}
            Err(e) => {
                return e.kind() != std::io::ErrorKind::WouldBlock
                    && e.kind() != std::io::ErrorKind::TimedOut
            }
        }
    }
}

#[test]
fn a_panicking_request_closes_only_its_connection() {
    if !cfg!(debug_assertions) {
        eprintln!("skipped: the fault-injection hook exists only in debug builds");
        return;
    }
    let site = Site::new("panic");
    let mut s = Server::start_env(&site, CONFIG, &[("FS_HTTPD_PANIC_TARGET", "/boom")]);
    // Keep-alive connections on the same (single) worker, served before and after.
    let mut clients: Vec<BufReader<TcpStream>> =
        (0..4).map(|_| BufReader::new(s.connect())).collect();
    for c in &mut clients {
        assert_eq!(get_on(c, "/600"), Some(200));
    }
    for round in 0..3 {
        // Alone on its connection, and behind a good request in a pipeline.
        let mut bad = s.connect();
        bad.write_all(b"GET /boom HTTP/1.1\r\nHost: a\r\n\r\n")
            .unwrap();
        assert!(
            closed_within(&mut bad, Duration::from_secs(5)),
            "round {round}"
        );
        let mut piped = BufReader::new(s.connect());
        piped
            .get_mut()
            .write_all(b"GET /600 HTTP/1.1\r\nHost: a\r\n\r\nGET /boom HTTP/1.1\r\nHost: a\r\n\r\nGET /600 HTTP/1.1\r\nHost: a\r\n\r\n")
            .unwrap();
        assert_eq!(
            read_response(&mut piped, false).map(|r| r.status),
            Some(200)
        );
        assert!(closed_within(piped.get_mut(), Duration::from_secs(5)));
        for c in &mut clients {
            assert_eq!(get_on(c, "/600"), Some(200), "round {round}");
        }
    }
    let log = std::fs::read_to_string(site.path("error.log")).unwrap_or_default();
    assert_eq!(
        log.matches("request panicked, connection closed: \"GET /boom HTTP/1.1\"")
            .count(),
        6,
        "{log}"
    );
    s.signal(libc::SIGTERM);
    s.wait_exit(Duration::from_secs(10))
        .expect("exits on SIGTERM");
    let stderr = s.stderr_rest();
    assert!(
        stderr.contains("fs-httpd: 6 request(s) panicked; each closed only its connection"),
        "{stderr}"
    );
}

/// The soft limit on open files: each connection costs one here and one in the server.
fn open_file_limit() -> usize {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes the limits into the struct we pass.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) } != 0 {
        return 1024;
    }
    lim.rlim_cur as usize
}

#[test]
fn slowloris_does_not_stop_a_normal_client() {
    let slow = 1500.min(open_file_limit().saturating_sub(200) / 2);
    let site = Site::new("slowloris");
    let s = Server::start(
        &site,
        &CONFIG.replace(
            "[http]\n",
            "[http]\nclient_header_timeout = \"3s\"\nworker_connections = 4000\n",
        ),
    );
    // Connections that send a head one byte at a time and never finish it.
    let started = Instant::now();
    let mut dribblers: Vec<TcpStream> = (0..slow)
        .map(|_| {
            let mut c = TcpStream::connect(s.addr).unwrap();
            c.write_all(b"GET / HTTP/1.1\r\nHost: a\r\nX-Slow: ")
                .unwrap();
            c.set_nonblocking(true).unwrap();
            c
        })
        .collect();
    let opened = started.elapsed();
    let mut worst = Duration::ZERO;
    let mut served = 0;
    while started.elapsed() < Duration::from_secs(5) {
        for c in &mut dribblers {
            let _ = c.write(b"x");
        }
        // A normal client, on a fresh connection each time, is answered quickly.
        let asked = Instant::now();
        let r = s.get("GET /600 HTTP/1.1\r\nHost: a\r\n\r\n");
        assert_eq!(r.status, 200);
        worst = worst.max(asked.elapsed());
        served += 1;
        std::thread::sleep(Duration::from_millis(200));
    }
    assert!(
        worst < Duration::from_secs(1),
        "a normal request took {worst:?}"
    );
    // client_header_timeout counts from the accept, not from the last byte: every one of them
    // is closed by now although each sent a byte less than 200 ms ago.
    let mut closed = 0;
    for c in &mut dribblers {
        let mut sink = [0u8; 256];
        let gone = loop {
            match c.read(&mut sink) {
                Ok(0) => break true,
                Ok(_) => continue,
                Err(e) => break e.kind() != std::io::ErrorKind::WouldBlock,
            }
        };
        closed += usize::from(gone);
    }
    println!(
        "slowloris: {slow} dribbling connections (opened in {opened:.1?}), {served} normal \
         requests answered, slowest {worst:.1?}, {closed} closed by client_header_timeout"
    );
    assert_eq!(closed, slow, "connections outlived client_header_timeout");
}

#[test]
fn worker_connections_bounds_the_connections_kept() {
    let site = Site::new("wconn");
    let s = Server::start(
        &site,
        &CONFIG.replace("[http]\n", "[http]\nworker_connections = 20\n"),
    );
    let mut kept: Vec<BufReader<TcpStream>> =
        (0..20).map(|_| BufReader::new(s.connect())).collect();
    for c in &mut kept {
        assert_eq!(get_on(c, "/600"), Some(200));
    }
    // One more is closed at once, without an answer.
    let mut extra = s.connect();
    let _ = extra.write_all(b"GET /600 HTTP/1.1\r\nHost: a\r\n\r\n");
    let mut buf = [0u8; 64];
    extra
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    assert!(
        matches!(extra.read(&mut buf), Ok(0) | Err(_)),
        "over the limit: closed"
    );
    // The kept ones are still served; when one leaves, a new one is taken.
    for c in &mut kept {
        assert_eq!(get_on(c, "/600"), Some(200));
    }
    drop(kept.pop());
    std::thread::sleep(Duration::from_millis(300));
    let mut again = BufReader::new(s.connect());
    assert_eq!(get_on(&mut again, "/600"), Some(200));
    let log = std::fs::read_to_string(site.path("error.log")).unwrap_or_default();
    assert!(
        log.contains("20 worker_connections are not enough"),
        "{log}"
    );
}

#[test]
fn client_body_timeout_closes_stalled_bodies() {
    let site = Site::new("bodytimeout");
    let s = Server::start(
        &site,
        &CONFIG.replace("[http]\n", "[http]\nclient_body_timeout = \"1s\"\n"),
    );
    // A Content-Length body is discarded after the answer; a chunked one is read first. Either
    // way a body that stops arriving ends the connection after client_body_timeout.
    for (raw, answered) in [
        (
            &b"POST /600 HTTP/1.1\r\nHost: a\r\nContent-Length: 100\r\n\r\n0123456789"[..],
            true,
        ),
        (
            b"POST /600 HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n64\r\n0123",
            false,
        ),
    ] {
        let mut c = BufReader::new(s.connect());
        c.get_mut().write_all(raw).unwrap();
        let started = Instant::now();
        let status = read_response(&mut c, false).map(|r| r.status);
        assert_eq!(status, answered.then_some(200));
        assert!(closed_within(c.get_mut(), Duration::from_secs(5)));
        let waited = started.elapsed();
        assert!(
            waited >= Duration::from_millis(800) && waited < Duration::from_secs(4),
            "{waited:?}"
        );
    }
}
