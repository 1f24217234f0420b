//! fs-httpd against hostile and broken clients, as a process: a request that panics costs only
//! its own connection; slow clients (slowloris) and connection floods do not stop a normal
//! client from being served.

mod common;

use std::io::{BufReader, Read, Write};
use std::net::TcpStream;
use std::time::Duration;

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
