//! Limits: maxmemory eviction and OOM, hostile input, memory held by idle clients.

use std::io::Write;
use std::time::{Duration, Instant};

use crate::common::{start_kv, Raw, V};
use crate::info_field;

#[test]
fn maxmemory_eviction_and_oom() {
    let kv = start_kv(&[]);
    let mut r = kv.raw();
    let used = info_field(&mut r, "used_memory");
    let limit = used + 2_000_000;
    r.cmd(&format!("CONFIG SET maxmemory {limit}"));
    assert_eq!(
        r.cmd("CONFIG GET maxmemory"),
        V::Array(vec![V::bulk("maxmemory"), V::bulk(&limit.to_string())])
    );
    let value = vec![b'x'; 1000];
    // noeviction: writes fail once full.
    let mut oom = false;
    for i in 0..5000 {
        r.send(&[b"SET", format!("k{i}").as_bytes(), &value]);
        if let V::Err(e) = r.read() {
            assert_eq!(e, "OOM command not allowed when used memory > 'maxmemory'.");
            oom = true;
            break;
        }
    }
    assert!(oom);
    assert_eq!(
        r.cmd("GET k0"),
        V::bulk(&"x".repeat(1000)),
        "reads still work"
    );
    for policy in ["allkeys-lru", "allkeys-lfu", "allkeys-random"] {
        r.cmd(&format!("CONFIG SET maxmemory-policy {policy}"));
        for i in 0..5000 {
            r.send(&[b"SET", format!("{policy}{i}").as_bytes(), &value]);
            assert_eq!(r.read(), V::Simple("OK".into()));
        }
        assert!(info_field(&mut r, "used_memory") <= limit + 100_000);
    }
    assert!(info_field(&mut r, "evicted_keys") > 1000);
    // volatile-ttl evicts only keys with a TTL: none here, so writes are refused.
    r.cmd("FLUSHALL");
    r.cmd("CONFIG SET maxmemory-policy volatile-ttl");
    let mut refused = false;
    for i in 0..5000 {
        r.send(&[b"SET", format!("v{i}").as_bytes(), &value]);
        if matches!(r.read(), V::Err(_)) {
            refused = true;
            break;
        }
    }
    assert!(refused);
}

#[test]
fn hostile_input_is_contained() {
    let kv = start_kv(&[]);
    let mut good = kv.raw();
    good.cmd("SET k v");
    // Garbage and bad lengths: an error, then the connection is closed.
    for bad in [
        &b"*1\r\n:12\r\n"[..],
        b"*2\r\n$-7\r\n",
        b"*1\r\n$99999999999\r\n",
        b"*abc\r\n",
        b"set \"unbalanced\r\n",
    ] {
        let mut h = kv.raw();
        h.send_raw(bad);
        assert!(
            matches!(h.read(), V::Err(e) if e.starts_with("ERR Protocol error")),
            "{bad:?}"
        );
        assert!(h.closed());
    }
    // Huge declared sizes are not pre-allocated: the server stays responsive.
    let used = info_field(&mut good, "used_memory");
    let mut huge = kv.raw();
    huge.send_raw(b"*2000000000\r\n$536870912\r\nabc");
    let mut huge2 = kv.raw();
    huge2.send_raw(b"*1\r\n$536870912\r\n");
    std::thread::sleep(Duration::from_millis(100));
    assert_eq!(good.cmd("GET k"), V::bulk("v"));
    assert!(info_field(&mut good, "used_memory") < used + 10_000_000);
    // Truncated frame then hang-up.
    let mut t = kv.raw();
    t.send_raw(b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$5\r\nab");
    drop(t);
    // A frame split into single bytes still parses.
    let mut s = kv.raw();
    for b in b"*2\r\n$3\r\nGET\r\n$1\r\nk\r\n" {
        s.send_raw(&[*b]);
        std::thread::sleep(Duration::from_millis(1));
    }
    assert_eq!(s.read(), V::bulk("v"));
    // Inline commands (telnet).
    s.send_raw(b"SET inline \"a b\"\r\nGET inline\r\n");
    assert_eq!(s.read(), V::Simple("OK".into()));
    assert_eq!(s.read(), V::bulk("a b"));
    // A client that never reads its replies: the others keep being served.
    let mut big = kv.raw();
    big.cmd(&format!("SET big {}", "y".repeat(100_000)));
    let mut flood = std::net::TcpStream::connect(kv.addr).unwrap();
    flood
        .set_write_timeout(Some(Duration::from_millis(500)))
        .unwrap();
    let req = b"*2\r\n$3\r\nGET\r\n$3\r\nbig\r\n".repeat(1000);
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(2) {
        if flood.write_all(&req).is_err() {
            break; // the server stopped reading: flow control pushes back
        }
    }
    let t = Instant::now();
    assert_eq!(good.cmd("PING"), V::Simple("PONG".into()));
    assert!(t.elapsed() < Duration::from_millis(500));
    assert!(
        info_field(&mut good, "used_memory") < used + 200_000_000,
        "output to a non-reader is bounded"
    );
}

/// A client that has been served and gone idle holds no reply buffer: 300 clients that each
/// sent a few commands add far less than the 16 KiB reply buffer each used to keep.
#[test]
fn idle_clients_after_use_hold_little_memory() {
    let kv = start_kv(&[]);
    let mut r = kv.raw();
    let before = info_field(&mut r, "used_memory");
    let mut clients: Vec<Raw> = (0..300).map(|_| kv.raw()).collect();
    for (i, c) in clients.iter_mut().enumerate() {
        assert_eq!(c.cmd("PING"), V::Simple("PONG".into()));
        assert_eq!(c.cmd(&format!("SET k{i} v")), V::Simple("OK".into()));
        assert_eq!(c.cmd(&format!("GET k{i}")), V::bulk("v"));
    }
    let per_client = info_field(&mut r, "used_memory").saturating_sub(before) / 300;
    assert!(
        per_client < 4096,
        "{per_client} B of server memory per idle client"
    );
    drop(clients);
}
