//! fs-kv with `[netstack] device = "dpdk"` and two workers, each on its own queue pair of a
//! DPDK virtual device, with redis-cli and redis-benchmark on the Linux kernel side: `net_tap`
//! (a TAP interface in this namespace) and `net_af_packet` (a veth pair into a network
//! namespace). A 1 MiB value keeps its SHA-256, increments from many connections add up (one
//! keyspace across workers), redis-benchmark completes, and both workers served connections.
//! Needs the `dpdk` feature and root; skips with a message otherwise. Devices and namespaces
//! are removed by name, even on failure.

use std::io::Write;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use dpdk::testing::{cleanup, e2e_available, eal_args, Topology, Wire};
use netstack::testing::{accepted_per_worker, ChildGuard, Signal};

#[test]
fn kv_on_dpdk_net_tap_two_queues() {
    if e2e_available("kv_on_dpdk_net_tap_two_queues") {
        serve_and_check(Topology::new(Wire::Tap, "kt", 228, 2));
    }
}

#[test]
fn kv_on_dpdk_af_packet_veth_into_a_namespace() {
    if e2e_available("kv_on_dpdk_af_packet_veth_into_a_namespace") {
        serve_and_check(Topology::new(Wire::AfPacket, "ka", 229, 2));
    }
}

fn serve_and_check(net: Topology) {
    let tag = format!("{:?}-{}", net.wire, std::process::id()).to_lowercase();
    let prefix = format!("fs-kv-{tag}");
    let eal = eal_args(&prefix, &[&net.vdev]);
    let conf = std::env::temp_dir().join(format!("fs-kv-dpdk-{tag}.toml"));
    std::fs::write(
        &conf,
        format!(
            "[runtime]\nworkers = 2\nstack = \"user\"\n\
             [netstack]\ndevice = \"dpdk\"\naddress = \"{}/24\"\n\
             [dpdk]\neal_args = {eal:?}\nidle_sleep = \"50us\"\n\
             [kv]\nport = 6379\n",
            net.server
        ),
    )
    .unwrap();
    let mut server = ChildGuard::start_server(env!("CARGO_BIN_EXE_fs-kv"), &conf);
    net.attach();
    let host = net.server.to_string();
    let cli = |args: &[&str]| -> String {
        let out = net
            .client("redis-cli")
            .args(["-h", &host, "-p", "6379"])
            .args(args)
            .output()
            .expect("run redis-cli");
        String::from_utf8_lossy(&out.stdout).trim_end().to_string()
    };

    let deadline = Instant::now() + Duration::from_secs(20);
    while cli(&["PING"]) != "PONG" {
        assert!(
            Instant::now() < deadline,
            "no PONG from fs-kv over {:?}",
            net.wire
        );
        std::thread::sleep(Duration::from_millis(200));
    }

    // A 1 MiB value in and out (redis-cli -x sends stdin as the last argument).
    let value: String = (0..1u32 << 20)
        .map(|i| char::from(b"0123456789abcdef"[(i.wrapping_mul(2_654_435_761) >> 28) as usize]))
        .collect();
    let mut set = net
        .client("redis-cli")
        .args(["-h", &host, "-x", "SET", "big"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("run redis-cli -x");
    set.stdin
        .take()
        .unwrap()
        .write_all(value.as_bytes())
        .unwrap();
    let out = set.wait_with_output().unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "OK");
    assert_eq!(cli(&["STRLEN", "big"]), (1 << 20).to_string());
    assert!(
        cli(&["GET", "big"]) == value,
        "1 MiB value came back changed"
    );

    // 16 clients (16 connections) increment one counter: one keyspace across both workers.
    let incrs: Vec<_> = (0..16)
        .map(|_| {
            net.client("redis-cli")
                .args(["-h", &host, "-r", "5", "INCR", "counter"])
                .stdout(Stdio::null())
                .spawn()
                .expect("run redis-cli")
        })
        .collect();
    for mut c in incrs {
        assert!(c.wait().unwrap().success());
    }
    assert_eq!(cli(&["GET", "counter"]), "80");

    // redis-benchmark completes SET and GET with pipelining off and on.
    for pipeline in ["1", "16"] {
        let out = net
            .client("redis-benchmark")
            .args([
                "-h", &host, "-n", "20000", "-c", "16", "-t", "set,get", "-q",
            ])
            .args(["-P", pipeline])
            .output()
            .expect("run redis-benchmark");
        let report = String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success(), "{report}");
        for cmd in ["SET: ", "GET: "] {
            assert!(
                report
                    .lines()
                    .any(|l| l.contains(cmd) && l.contains("requests per second")),
                "{report}"
            );
        }
        // -q rewrites a progress line with \r; the last piece of each line is the result.
        let results: Vec<&str> = report
            .lines()
            .filter_map(|l| l.rsplit('\r').next())
            .collect();
        eprintln!(
            "redis-benchmark -P {pipeline} over {:?}: {results:?}",
            net.wire
        );
    }
    assert_eq!(cli(&["EXISTS", "key:__rand_int__"]), "1");

    let (_, stderr) = server.stop(Signal::TERM);
    let per_worker = accepted_per_worker(&stderr, 2);
    assert!(
        per_worker.iter().all(|&n| n > 0),
        "{per_worker:?}\n{stderr}"
    );
    cleanup(&prefix);
    let _ = std::fs::remove_file(&conf);
}

/// Configuration errors about DPDK name the file, line and key (no root or DPDK needed).
#[test]
fn kv_dpdk_config_errors_name_the_line_and_key() {
    let path = std::env::temp_dir().join(format!("fs-kv-dpdk-bad-{}.toml", std::process::id()));
    let run = |text: &str| {
        std::fs::write(&path, text).unwrap();
        let out = Command::new(env!("CARGO_BIN_EXE_fs-kv"))
            .arg("-c")
            .arg(&path)
            .output()
            .expect("run fs-kv");
        assert_eq!(out.status.code(), Some(2), "accepted: {text}");
        String::from_utf8_lossy(&out.stderr).replace(&path.display().to_string(), "FILE")
    };
    let text = run("[kv]\nport = 1\n[dpdk]\nport = 0\nmbuf_cache = 4096\n");
    assert!(text.contains("FILE:5: `mbuf_cache`: at most 512"), "{text}");
    let shipped = format!("{}/../../conf/kv-dpdk.toml", env!("CARGO_MANIFEST_DIR"));
    let text = run(&std::fs::read_to_string(shipped)
        .unwrap()
        .replace("port = 0", "port = 0\nqueues = 0"));
    assert!(
        text.contains("`queues`: must be at least 1") || !dpdk::ENABLED,
        "{text}"
    );
    if !dpdk::ENABLED {
        assert!(
            text.contains("`device`: \"dpdk\" is not available in this build"),
            "{text}"
        );
    }
    let _ = std::fs::remove_file(&path);
}
