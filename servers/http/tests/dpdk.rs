//! fs-httpd with `[netstack] device = "dpdk"` and two workers, each on its own queue pair of a
//! DPDK virtual device, with the Linux kernel as the client side: `net_tap` (a TAP interface
//! in this namespace) and `net_af_packet` (a veth pair into a network namespace). curl and wrk
//! get their answers, a 6 MiB file keeps its SHA-256, both workers serve connections, and the
//! run-time statistics file counts each queue's traffic. With `[dpdk.exception]`, a listed port
//! on the stack's address is served by the kernel (a TCP server in a namespace behind the
//! exception TAP) while the stack serves HTTP on the same address. Needs the `dpdk` feature and root;
//! skips with a message otherwise. Devices and namespaces are removed by name, even on failure.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::fd::AsRawFd;
use std::process::Stdio;
use std::time::{Duration, Instant};

use dpdk::testing::{cleanup, e2e_available, eal_args, Topology, Wire};
use netstack::testing::{accepted_per_worker, ip, wait_for_device, ChildGuard, NetnsGuard, Signal};
use sha2::{Digest, Sha256};

#[test]
fn httpd_on_dpdk_net_tap_two_queues() {
    if e2e_available("httpd_on_dpdk_net_tap_two_queues") {
        serve_and_check(Topology::new(Wire::Tap, "ht", 226, 2));
    }
}

#[test]
fn httpd_on_dpdk_af_packet_veth_into_a_namespace() {
    if e2e_available("httpd_on_dpdk_af_packet_veth_into_a_namespace") {
        serve_and_check(Topology::new(Wire::AfPacket, "ha", 227, 2));
    }
}

/// The exception path: TCP to port 2222 of the stack's address reaches a kernel server in a
/// namespace behind the exception TAP (which carries the same address), while HTTP on port
/// 8080 of that address is the stack's, and an unlisted, unserved port is refused by the stack.
#[test]
fn httpd_on_dpdk_with_the_exception_path_to_the_kernel() {
    if !e2e_available("httpd_on_dpdk_with_the_exception_path_to_the_kernel") {
        return;
    }
    let net = Topology::new(Wire::Tap, "hx", 225, 2);
    let id = std::process::id() % 100_000;
    let (kni, ns) = (format!("fsxk{id}"), format!("fsxns{id}"));
    let prefix = format!("fs-httpd-exception-{id}");
    let eal = eal_args(&prefix, &[&net.vdev]);
    let dir = std::env::temp_dir().join(format!("fs-httpd-dpdk-exception-{id}"));
    std::fs::create_dir_all(&dir).unwrap();
    let conf = dir.join("httpd.toml");
    std::fs::write(
        &conf,
        format!(
            "[runtime]\nworkers = 2\nstack = \"user\"\n\
             [netstack]\ndevice = \"dpdk\"\naddress = \"{}/24\"\n\
             [dpdk]\neal_args = {eal:?}\nidle_sleep = \"50us\"\n\
             [dpdk.exception]\ninterface = \"{kni}\"\ntcp_ports = [2222]\n\
             [http]\naccess_log = \"off\"\n\
             [[server]]\nlisten = [\"{}:8080\"]\nreturn = \"200 stack\"\n",
            net.server, net.server
        ),
    )
    .unwrap();
    let mut server = ChildGuard::start_server(env!("CARGO_BIN_EXE_fs-httpd"), &conf);
    net.attach();

    // The kernel's side: the exception TAP moves into a namespace with the stack's address.
    wait_for_device(&kni, Duration::from_secs(20));
    let _ns = NetnsGuard(ns.clone());
    ip(&["netns", "add", &ns]);
    ip(&["link", "set", &kni, "netns", &ns]);
    ip(&[
        "-n",
        &ns,
        "addr",
        "add",
        &format!("{}/24", net.server),
        "dev",
        &kni,
    ]);
    ip(&["-n", &ns, "link", "set", &kni, "up"]);
    let kernel_server = SocketAddr::from((net.server, 2222));
    let listener = in_namespace(&ns, move || TcpListener::bind(kernel_server).expect("bind"));
    let echo = std::thread::spawn(move || {
        let (mut s, _) = listener.accept().expect("accept");
        let mut buf = [0u8; 4];
        s.read_exact(&mut buf).unwrap();
        s.write_all(b"kernel:").unwrap();
        s.write_all(&buf).unwrap();
    });

    let url = format!("http://{}:8080/", net.server);
    let deadline = Instant::now() + Duration::from_secs(20);
    while !curl(&net, &[&url]).status.success() {
        assert!(Instant::now() < deadline, "no HTTP answer from the stack");
        std::thread::sleep(Duration::from_millis(200));
    }
    assert_eq!(curl(&net, &[&url]).stdout, b"stack");

    let mut s = TcpStream::connect_timeout(&kernel_server, Duration::from_secs(10))
        .expect("connect to the kernel's server through the exception path");
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s.write_all(b"ping").unwrap();
    let mut reply = String::new();
    s.read_to_string(&mut reply).unwrap();
    assert_eq!(reply, "kernel:ping");
    echo.join().unwrap();

    let refused = TcpStream::connect_timeout(
        &SocketAddr::from((net.server, 9999)),
        Duration::from_secs(5),
    );
    assert_eq!(
        refused.map_err(|e| e.kind()).err(),
        Some(std::io::ErrorKind::ConnectionRefused)
    );
    server.stop(Signal::QUIT);
    cleanup(&prefix);
    let _ = std::fs::remove_dir_all(&dir);
}

/// Runs `f` on a thread that entered network namespace `ns` (sockets it makes stay there).
fn in_namespace<T: Send + 'static>(ns: &str, f: impl FnOnce() -> T + Send + 'static) -> T {
    let file = std::fs::File::open(format!("/var/run/netns/{ns}")).expect("open the namespace");
    std::thread::spawn(move || {
        // SAFETY: setns(2) with an open namespace file; it only changes this thread's network
        // namespace.
        let rc = unsafe { libc::setns(file.as_raw_fd(), libc::CLONE_NEWNET) };
        assert_eq!(rc, 0, "setns: {}", std::io::Error::last_os_error());
        f()
    })
    .join()
    .unwrap()
}

fn serve_and_check(net: Topology) {
    let pid = std::process::id();
    let tag = format!("{:?}-{pid}", net.wire).to_lowercase();
    let dir = std::env::temp_dir().join(format!("fs-httpd-dpdk-{tag}"));
    std::fs::create_dir_all(dir.join("html")).unwrap();
    std::fs::write(dir.join("html/index.html"), b"<h1>dpdk</h1>\n").unwrap();
    let big: Vec<u8> = (0..6u32 << 20)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    std::fs::write(dir.join("html/big.bin"), &big).unwrap();
    let prefix = format!("fs-httpd-{tag}");
    let eal = eal_args(&prefix, &[&net.vdev]);
    let stats = dir.join("dpdk.stats");
    let conf = dir.join("httpd.toml");
    std::fs::write(
        &conf,
        format!(
            "[runtime]\nworkers = 2\nstack = \"user\"\n\
             [netstack]\ndevice = \"dpdk\"\naddress = \"{}/24\"\n\
             [dpdk]\neal_args = {eal:?}\nidle_sleep = \"50us\"\nstats_file = \"{}\"\n\
             stats_interval = \"200ms\"\n\
             [http]\naccess_log = \"off\"\n\
             [[server]]\nlisten = [\"{}:8080\"]\nroot = \"{}\"\nindex = [\"index.html\"]\n",
            net.server,
            stats.display(),
            net.server,
            dir.join("html").display()
        ),
    )
    .unwrap();
    let mut server = ChildGuard::start_server(env!("CARGO_BIN_EXE_fs-httpd"), &conf);
    net.attach();
    let url = format!("http://{}:8080/", net.server);

    // The first answer (ARP, then the page), retried while the port comes up.
    let deadline = Instant::now() + Duration::from_secs(20);
    let first = loop {
        let out = curl(&net, &[&url]);
        if out.status.success() || Instant::now() > deadline {
            break out;
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    assert_eq!(
        first.stdout,
        b"<h1>dpdk</h1>\n",
        "{}",
        String::from_utf8_lossy(&first.stderr)
    );

    // A large transfer keeps its SHA-256.
    let out = curl(&net, &[&format!("{url}big.bin")]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(out.stdout.len(), big.len());
    assert_eq!(Sha256::digest(&out.stdout), Sha256::digest(&big));

    // Parallel clients over fresh connections land on both queues.
    let curls: Vec<_> = (0..12)
        .map(|_| {
            net.client("curl")
                .args([
                    "-sS",
                    "--max-time",
                    "20",
                    "--fail",
                    "-H",
                    "Connection: close",
                ])
                .args([&url, &url, &url])
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .expect("run curl")
        })
        .collect();
    for c in curls {
        let out = c.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(out.stdout, b"<h1>dpdk</h1>\n".repeat(3));
    }

    // wrk: keep-alive load for two seconds, every answer a 200.
    let out = net
        .client("wrk")
        .args(["-t2", "-c16", "-d2s", &url])
        .output()
        .expect("run wrk");
    let report = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{report}");
    assert!(!report.contains("Non-2xx"), "{report}");
    assert!(!report.contains("Socket errors"), "{report}");
    let requests: u64 = report
        .lines()
        .find_map(|l| {
            l.trim()
                .split_once(" requests in ")
                .map(|(n, _)| n.parse().ok())
        })
        .flatten()
        .expect("wrk request count");
    assert!(requests > 100, "{report}");
    eprintln!("wrk over {:?}: {requests} requests in 2 s", net.wire);

    // The statistics file counts traffic on both queues; net_tap sends chains, no copies.
    std::thread::sleep(Duration::from_millis(400));
    let text = std::fs::read_to_string(&stats).expect("stats file");
    for q in 0..2 {
        let line = text
            .lines()
            .find(|l| l.starts_with(&format!("queue {q} ")))
            .unwrap_or_else(|| panic!("queue {q} in {text}"));
        assert!(
            field(line, "rx_packets") > 0 && field(line, "tx_packets") > 0,
            "{text}"
        );
        if net.wire == Wire::Tap {
            assert_eq!(field(line, "copied"), 0, "{text}");
        }
    }

    let (_, stderr) = server.stop(Signal::QUIT);
    let per_worker = accepted_per_worker(&stderr, 2);
    assert!(
        per_worker.iter().all(|&n| n > 0),
        "{per_worker:?}\n{stderr}"
    );
    cleanup(&prefix);
    let _ = std::fs::remove_dir_all(&dir);
}

fn curl(net: &Topology, args: &[&str]) -> std::process::Output {
    net.client("curl")
        .args(["-sS", "--max-time", "20", "--fail"])
        .args(args)
        .output()
        .expect("run curl")
}

/// The value after `name` in a `key value key value ...` statistics line.
fn field(line: &str, name: &str) -> u64 {
    let mut words = line.split_whitespace();
    while let Some(w) = words.next() {
        if w == name {
            return words.next().and_then(|v| v.parse().ok()).unwrap_or(0);
        }
    }
    panic!("{name} not in {line}");
}
