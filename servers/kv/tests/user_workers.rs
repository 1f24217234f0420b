//! The fs-kv binary with `stack = "user"` and `workers = 2` over a multi-queue TAP device,
//! driven from the Linux kernel side with the redis crate (and redis-cli when installed): keys
//! written through one connection are read through many others, increments from many
//! connections add up, and the connections landed on both workers (each worker prints its
//! accepted count when it exits) while the keyspace stayed one. Needs root and /dev/net/tun;
//! skips with a message otherwise. The TAP device is deleted by name on drop, even on failure.

use std::net::Ipv4Addr;
use std::process::Command;
use std::time::{Duration, Instant};

use netstack::testing::{
    assert_connections_spread, ip, tap_available, ChildGuard, DeviceGuard, Signal,
};
use redis::Commands;

#[test]
fn kv_binary_keeps_one_keyspace_across_two_user_stack_workers() {
    if !tap_available() {
        eprintln!(
            "SKIP kv_binary_keeps_one_keyspace_across_two_user_stack_workers: needs root and \
             /dev/net/tun"
        );
        return;
    }
    // A /24 of 198.18.0.0/15 of its own: 198.18.230-249 (other TAP tests use .20-.219).
    let pid = std::process::id();
    let net = (230 + pid % 20) as u8;
    let (kernel, stack) = (
        Ipv4Addr::new(198, 18, net, 1),
        Ipv4Addr::new(198, 18, net, 2),
    );
    let name = format!("fskw{}", pid % 100_000);
    let _tap = DeviceGuard(name.clone());
    let conf = std::env::temp_dir().join(format!("fs-kv-workers-{pid}.toml"));
    std::fs::write(
        &conf,
        format!(
            "[runtime]\nworkers = 2\nstack = \"user\"\n\
             [netstack]\ninterface = \"{name}\"\naddress = \"{stack}/24\"\n\
             [kv]\nbind = [\"{stack}\"]\nport = 6379\n"
        ),
    )
    .unwrap();
    let mut server = ChildGuard::start_server(env!("CARGO_BIN_EXE_fs-kv"), &conf);
    let deadline = Instant::now() + Duration::from_secs(10);
    while !std::path::Path::new(&format!("/sys/class/net/{name}")).exists() {
        assert!(Instant::now() < deadline, "fs-kv did not create {name}");
        std::thread::sleep(Duration::from_millis(20));
    }
    ip(&["addr", "add", &format!("{kernel}/24"), "dev", &name]);
    ip(&["link", "set", &name, "up"]);

    let url = format!("redis://{stack}:6379/");
    let client = redis::Client::open(url.as_str()).unwrap();
    let connect = |client: &redis::Client| {
        client
            .get_connection_with_timeout(Duration::from_secs(5))
            .expect("connect to fs-kv")
    };
    let mut connections = 0u64;

    // One connection writes...
    let mut writer = connect(&client);
    connections += 1;
    for k in 0..50 {
        let _: () = writer.set(format!("k{k}"), format!("v{k}")).unwrap();
    }
    let _: () = writer.hset("h", "f", "hv").unwrap();
    // ...many others, in parallel, read it all back and write their own.
    let readers = 40;
    let threads: Vec<_> = (0..readers)
        .map(|i| {
            let client = client.clone();
            std::thread::spawn(move || {
                let mut c = client
                    .get_connection_with_timeout(Duration::from_secs(5))
                    .expect("connect to fs-kv");
                for k in 0..50 {
                    let v: String = c.get(format!("k{k}")).unwrap();
                    assert_eq!(v, format!("v{k}"), "reader {i}");
                }
                let hv: String = c.hget("h", "f").unwrap();
                assert_eq!(hv, "hv");
                let _: i64 = c.incr("counter", 1).unwrap();
                let _: () = c.set(format!("r{i}"), i).unwrap();
                let _: i64 = c.rpush("list", i).unwrap();
            })
        })
        .collect();
    for t in threads {
        t.join().expect("reader");
        connections += 1;
    }
    // A fresh connection sees every reader's writes.
    let mut check = connect(&client);
    connections += 1;
    let counter: i64 = check.get("counter").unwrap();
    assert_eq!(counter, readers as i64);
    for i in 0..readers {
        let v: i64 = check.get(format!("r{i}")).unwrap();
        assert_eq!(v, i as i64);
    }
    let len: i64 = check.llen("list").unwrap();
    assert_eq!(len, readers as i64);
    let size: i64 = redis::cmd("DBSIZE").query(&mut check).unwrap();
    assert_eq!(size, 50 + 1 + 1 + readers as i64 + 1);
    // Cross-connection wake-ups (the connections may sit on different workers): BLPOP woken
    // by an RPUSH, a subscriber receiving what several other connections publish.
    let blocked = {
        let client = client.clone();
        std::thread::spawn(move || {
            let mut c = client
                .get_connection_with_timeout(Duration::from_secs(5))
                .unwrap();
            let got: (String, String) = c.blpop("queue", 10.0).unwrap();
            got
        })
    };
    let mut sub_conn = connect(&client);
    connections += 2;
    let mut sub = sub_conn.as_pubsub();
    sub.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    sub.subscribe("news").unwrap();
    std::thread::sleep(Duration::from_millis(200));
    let publishers = 8;
    for i in 0..publishers {
        let mut p = connect(&client);
        connections += 1;
        let receivers: i64 = p.publish("news", format!("m{i}")).unwrap();
        assert_eq!(receivers, 1, "publisher {i}");
        if i == 0 {
            let _: i64 = p.rpush("queue", "job").unwrap();
        }
    }
    let mut got: Vec<String> = (0..publishers)
        .map(|_| sub.get_message().unwrap().get_payload().unwrap())
        .collect();
    got.sort();
    assert_eq!(
        got,
        (0..publishers).map(|i| format!("m{i}")).collect::<Vec<_>>()
    );
    drop(sub);
    drop(sub_conn);
    assert_eq!(
        blocked.join().unwrap(),
        ("queue".to_string(), "job".to_string())
    );
    // And so does redis-cli, when installed.
    if let Ok(out) = Command::new("timeout")
        .args(["10", "redis-cli", "-h", &stack.to_string(), "get", "k7"])
        .output()
    {
        if out.status.success() {
            assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "v7");
            connections += 1;
        }
    }
    drop((writer, check));

    let (status, stderr) = server.stop(Signal::TERM);
    assert!(status.success(), "{status:?}: {stderr}");
    assert!(
        stderr.contains(&format!("fs-kv: listening on {stack}:6379 (2 workers)")),
        "{stderr}"
    );
    assert_connections_spread(&stderr, 2, connections);
    let _ = std::fs::remove_file(&conf);
}
