//! The fs-httpd binary with `stack = "user"` and `workers = 2` over a multi-queue TAP device:
//! many parallel clients from the Linux kernel side (curl processes and plain TCP streams) all
//! get their answer, and the connections were served by both workers (each worker prints its
//! accepted count when it exits). Needs root, /dev/net/tun and curl; skips with a message
//! otherwise. The TAP device is deleted by name on drop, even on failure.

use netstack::testing::{
    assert_connections_spread, ip, tap_available, wait_for_device, ChildGuard, DeviceGuard, Signal,
};
use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::process::{Command, Stdio};
use std::time::Duration;

fn get(addr: SocketAddr, path: &str) -> Vec<u8> {
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(5)).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut body = Vec::new();
    s.read_to_end(&mut body).expect("read response");
    body
}

#[test]
fn httpd_binary_serves_parallel_clients_on_two_user_stack_workers() {
    if !tap_available() || Command::new("curl").arg("--version").output().is_err() {
        eprintln!(
            "SKIP httpd_binary_serves_parallel_clients_on_two_user_stack_workers: needs root, \
             /dev/net/tun and curl"
        );
        return;
    }
    // A /24 of 198.18.0.0/15 of its own: 198.19.230-249 (other TAP tests use .20-.219).
    let pid = std::process::id();
    let net = (230 + pid % 20) as u8;
    let (kernel, stack) = (
        Ipv4Addr::new(198, 19, net, 1),
        Ipv4Addr::new(198, 19, net, 2),
    );
    let name = format!("fshw{}", pid % 100_000);
    let _tap = DeviceGuard(name.clone());

    let dir = std::env::temp_dir().join(format!("fs-httpd-workers-{pid}"));
    std::fs::create_dir_all(dir.join("html")).unwrap();
    std::fs::write(dir.join("html/index.html"), b"<h1>two workers</h1>\n").unwrap();
    let big: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
    std::fs::write(dir.join("html/big.bin"), &big).unwrap();
    let conf = dir.join("httpd.toml");
    std::fs::write(
        &conf,
        format!(
            "[runtime]\nworkers = 2\nstack = \"user\"\n\
             [netstack]\ninterface = \"{name}\"\naddress = \"{stack}/24\"\n\
             [http]\naccess_log = \"off\"\n\
             [[server]]\nlisten = [\"{stack}:8080\"]\nroot = \"{}\"\nindex = [\"index.html\"]\n",
            dir.join("html").display()
        ),
    )
    .unwrap();
    let mut server = ChildGuard::start_server(env!("CARGO_BIN_EXE_fs-httpd"), &conf);
    wait_for_device(&name, Duration::from_secs(10));
    ip(&["addr", "add", &format!("{kernel}/24"), "dev", &name]);
    ip(&["link", "set", &name, "up"]);
    let addr = SocketAddr::from((stack, 8080));

    // 16 curl processes at once, each fetching 4 URLs over fresh connections.
    let url = format!("http://{stack}:8080/");
    let curls: Vec<_> = (0..16)
        .map(|_| {
            Command::new("curl")
                .args(["-sS", "--max-time", "20", "--fail"])
                .args([&url, &url, &url, &format!("{url}big.bin")])
                .args(["-H", "Connection: close"])
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .expect("run curl")
        })
        .collect();
    // 48 TCP clients at once from threads of this process.
    let threads: Vec<_> = (0..48)
        .map(|i| std::thread::spawn(move || (i, get(addr, "/"))))
        .collect();
    let mut connections = 0;
    for c in curls {
        let out = c.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "curl: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let mut want = b"<h1>two workers</h1>\n".repeat(3);
        want.extend_from_slice(&big);
        assert!(out.stdout == want, "curl got {} bytes", out.stdout.len());
        connections += 4;
    }
    for t in threads {
        let (i, resp) = t.join().unwrap();
        let text = String::from_utf8_lossy(&resp);
        assert!(
            text.starts_with("HTTP/1.1 200 OK\r\n"),
            "client {i}: {text}"
        );
        assert!(
            text.ends_with("<h1>two workers</h1>\n"),
            "client {i}: {text}"
        );
        connections += 1;
    }

    // Graceful stop: every worker exits once all are idle; each prints its counts.
    let (_, stderr) = server.stop(Signal::QUIT);
    assert!(
        stderr.contains(&format!("fs-httpd: listening on {stack}:8080 (2 workers)")),
        "{stderr}"
    );
    assert_connections_spread(&stderr, 2, connections);
    let _ = std::fs::remove_dir_all(&dir);
}
