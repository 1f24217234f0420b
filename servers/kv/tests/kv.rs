//! Integration tests against the real fs-kv binary, with the `redis` client crate, raw RESP
//! sockets and redis-cli.

mod common;

use std::io::Write;
use std::time::{Duration, Instant};

use common::{start_kv, V};
use redis::Commands;

fn err(s: &str) -> V {
    V::Err(s.into())
}

#[test]
fn strings_and_keys_with_redis_crate() {
    let kv = start_kv(&[]);
    let mut c = kv.client();
    let _: () = c.set("k", "v").unwrap();
    assert_eq!(c.get::<_, String>("k").unwrap(), "v");
    assert_eq!(c.incr::<_, _, i64>("n", 5).unwrap(), 5);
    assert_eq!(c.append::<_, _, i64>("k", "xyz").unwrap(), 4);
    let _: () = redis::cmd("MSET")
        .arg("a")
        .arg("1")
        .arg("b")
        .arg("2")
        .query(&mut c)
        .unwrap();
    let got: Vec<Option<String>> = c.mget(&["a", "b", "nope"]).unwrap();
    assert_eq!(got, vec![Some("1".into()), Some("2".into()), None]);
    assert_eq!(c.exists::<_, i64>(&["a", "b", "nope"]).unwrap(), 2);
    assert!(c.expire::<_, bool>("a", 100).unwrap());
    assert_eq!(c.ttl::<_, i64>("a").unwrap(), 100);
    assert_eq!(c.ttl::<_, i64>("b").unwrap(), -1);
    assert_eq!(c.ttl::<_, i64>("nope").unwrap(), -2);
    let _: () = redis::cmd("RENAME")
        .arg("a")
        .arg("c")
        .query(&mut c)
        .unwrap();
    assert!(c.ttl::<_, i64>("c").unwrap() > 0, "RENAME carries the TTL");
    assert_eq!(
        redis::cmd("TYPE").arg("c").query::<String>(&mut c).unwrap(),
        "string"
    );
    assert_eq!(c.del::<_, i64>(&["c", "b"]).unwrap(), 2);
    let big = "x".repeat(100_000);
    let _: () = c.set("big", &big).unwrap();
    assert_eq!(
        c.get::<_, String>("big").unwrap(),
        big,
        "large values are sent by reference"
    );
    let keys: Vec<String> = c.keys("*").unwrap();
    assert_eq!(keys.len(), 3);
}

#[test]
fn error_strings_match_redis() {
    let kv = start_kv(&[]);
    let mut r = kv.raw();
    r.cmd("LPUSH l a");
    assert_eq!(
        r.cmd("GET l"),
        err("WRONGTYPE Operation against a key holding the wrong kind of value")
    );
    assert_eq!(
        r.cmd("GET"),
        err("ERR wrong number of arguments for 'get' command")
    );
    assert_eq!(
        r.cmd("NOPE a b"),
        err("ERR unknown command 'NOPE', with args beginning with: 'a' 'b' ")
    );
    r.cmd("SET s x");
    assert_eq!(
        r.cmd("INCR s"),
        err("ERR value is not an integer or out of range")
    );
    assert_eq!(
        r.cmd("INCRBYFLOAT s 1"),
        err("ERR value is not a valid float")
    );
    r.cmd("SET m 9223372036854775807");
    assert_eq!(
        r.cmd("INCR m"),
        err("ERR increment or decrement would overflow")
    );
    assert_eq!(r.cmd("SET s x NX XX"), err("ERR syntax error"));
    assert_eq!(
        r.cmd("SET s x EX 0"),
        err("ERR invalid expire time in 'set' command")
    );
    assert_eq!(r.cmd("RENAME nokey x"), err("ERR no such key"));
    assert_eq!(r.cmd("LSET l 5 x"), err("ERR index out of range"));
    assert_eq!(r.cmd("SELECT 16"), err("ERR DB index is out of range"));
    assert_eq!(
        r.cmd("CLIENT FOO"),
        err("ERR unknown subcommand 'FOO'. Try CLIENT HELP.")
    );
    assert_eq!(
        r.cmd("CLIENT SETNAME"),
        err("ERR wrong number of arguments for 'client|setname' command")
    );
    assert_eq!(
        r.cmd("HELLO 4"),
        err("NOPROTO unsupported protocol version")
    );
    assert_eq!(r.cmd("EXEC"), err("ERR EXEC without MULTI"));
    assert_eq!(r.cmd("DISCARD"), err("ERR DISCARD without MULTI"));
    r.cmd("HSET h f x");
    assert_eq!(
        r.cmd("HINCRBY h f 1"),
        err("ERR hash value is not an integer")
    );
}

#[test]
fn auth_and_noauth() {
    let kv = start_kv(&["--requirepass", "secret"]);
    let mut r = kv.raw();
    assert_eq!(r.cmd("GET x"), err("NOAUTH Authentication required."));
    assert_eq!(
        r.cmd("AUTH wrong"),
        err("WRONGPASS invalid username-password pair or user is disabled.")
    );
    assert_eq!(r.cmd("AUTH secret"), V::Simple("OK".into()));
    assert_eq!(r.cmd("GET x"), V::Nil);
    let mut r2 = kv.raw();
    match r2.cmd("HELLO 3 AUTH default secret SETNAME me") {
        V::Map(m) => assert!(m.contains(&(V::bulk("proto"), V::Int(3)))),
        other => panic!("{other:?}"),
    }
    assert_eq!(r2.cmd("CLIENT GETNAME"), V::bulk("me"));
    // An unauthenticated client may not send big frames.
    let mut r3 = kv.raw();
    r3.send_raw(b"*100\r\n");
    assert_eq!(
        r3.read(),
        err("ERR Protocol error: unauthenticated multibulk length")
    );
    assert!(r3.closed());
}

#[test]
fn resp3_replies() {
    let kv = start_kv(&[]);
    let mut r = kv.raw();
    match r.cmd("HELLO 3") {
        V::Map(m) => {
            assert!(m.contains(&(V::bulk("server"), V::bulk("redis"))));
            assert!(m.contains(&(V::bulk("version"), V::bulk("7.0.15"))));
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(r.cmd("GET missing"), V::Nil);
    r.cmd("HSET h a 1 b 2");
    assert_eq!(
        r.cmd("HGETALL h"),
        V::Map(vec![
            (V::bulk("a"), V::bulk("1")),
            (V::bulk("b"), V::bulk("2"))
        ])
    );
    r.cmd("ZADD z 1.5 m");
    assert_eq!(r.cmd("ZSCORE z m"), V::Double("1.5".into()));
    r.cmd("SADD s x");
    assert_eq!(r.cmd("SMEMBERS s"), V::Set(vec![V::bulk("x")]));
    assert!(matches!(r.cmd("INFO server"), V::Verbatim(t) if t.contains("redis_version:7.0.15")));
    // Pub/sub pushes in RESP3 while normal commands keep working.
    let mut sub = kv.raw();
    sub.cmd("HELLO 3");
    assert_eq!(
        sub.cmd("SUBSCRIBE ch"),
        V::Push(vec![V::bulk("subscribe"), V::bulk("ch"), V::Int(1)])
    );
    assert_eq!(sub.cmd("PING"), V::Simple("PONG".into()));
    assert_eq!(r.cmd("PUBLISH ch hi"), V::Int(1));
    assert_eq!(
        sub.read(),
        V::Push(vec![V::bulk("message"), V::bulk("ch"), V::bulk("hi")])
    );
}

#[test]
fn lists_hashes_sets_zsets() {
    let kv = start_kv(&[]);
    let mut c = kv.client();
    assert_eq!(c.rpush::<_, _, i64>("l", &["a", "b", "c", "d"]).unwrap(), 4);
    assert_eq!(
        c.lrange::<_, Vec<String>>("l", 1, -2).unwrap(),
        vec!["b", "c"]
    );
    assert_eq!(c.lpop::<_, String>("l", None).unwrap(), "a");
    let _: () = c.ltrim("l", 0, 0).unwrap();
    assert_eq!(c.llen::<_, i64>("l").unwrap(), 1);
    let _: String = c.rpop("l", None).unwrap();
    assert!(
        !c.exists::<_, bool>("l").unwrap(),
        "empty list deletes the key"
    );
    let _: () = c.hset_multiple("h", &[("f1", "1"), ("f2", "2")]).unwrap();
    assert_eq!(c.hincr::<_, _, _, i64>("h", "f1", 10).unwrap(), 11);
    assert_eq!(c.hkeys::<_, Vec<String>>("h").unwrap(), vec!["f1", "f2"]);
    let _: () = c.sadd("s1", &["a", "b", "c"]).unwrap();
    let _: () = c.sadd("s2", &["b", "c", "d"]).unwrap();
    let mut inter: Vec<String> = c.sinter(&["s1", "s2"]).unwrap();
    inter.sort();
    assert_eq!(inter, vec!["b", "c"]);
    let _: () = c
        .zadd_multiple("z", &[(1, "a"), (2, "b"), (3, "c")])
        .unwrap();
    assert_eq!(
        c.zrangebyscore::<_, _, _, Vec<String>>("z", "(1", "+inf")
            .unwrap(),
        vec!["b", "c"]
    );
    assert_eq!(c.zrank::<_, _, i64>("z", "c").unwrap(), 2);
    let popped: Vec<String> = redis::cmd("ZPOPMIN").arg("z").query(&mut c).unwrap();
    assert_eq!(popped, vec!["a", "1"]);
    let mut r = kv.raw();
    assert_eq!(
        r.cmd("ZRANGE z +inf -inf BYSCORE REV LIMIT 0 1 WITHSCORES"),
        V::Array(vec![V::bulk("c"), V::bulk("3")])
    );
}

#[test]
fn blocking_commands_time_out_and_wake() {
    let kv = start_kv(&["--workers", "2"]);
    let mut r = kv.raw();
    let t = Instant::now();
    assert_eq!(r.cmd("BLPOP q 0.2"), V::Nil);
    let took = t.elapsed();
    assert!(
        took >= Duration::from_millis(190) && took < Duration::from_secs(2),
        "{took:?}"
    );
    // Woken by a push from other connections (possibly on the other worker).
    let mut waiters: Vec<_> = (0..4).map(|_| kv.raw()).collect();
    for w in waiters.iter_mut() {
        w.send(&[b"BLPOP", b"q2", b"other", b"5"]);
    }
    std::thread::sleep(Duration::from_millis(100));
    let mut p = kv.raw();
    assert_eq!(p.cmd("RPUSH q2 1 2 3 4"), V::Int(4));
    let mut got: Vec<V> = waiters.iter_mut().map(|w| w.read()).collect();
    got.sort_by_key(|v| format!("{v:?}"));
    let want: Vec<V> = (1..=4)
        .map(|i| V::Array(vec![V::bulk("q2"), V::bulk(&i.to_string())]))
        .collect();
    assert_eq!(got, want);
    // BLMOVE and BZPOPMIN.
    r.send(&[b"BLMOVE", b"src", b"dst", b"LEFT", b"RIGHT", b"5"]);
    std::thread::sleep(Duration::from_millis(50));
    p.cmd("LPUSH src x");
    assert_eq!(r.read(), V::bulk("x"));
    assert_eq!(p.cmd("LRANGE dst 0 -1"), V::Array(vec![V::bulk("x")]));
    r.send(&[b"BZPOPMIN", b"zz", b"5"]);
    std::thread::sleep(Duration::from_millis(50));
    p.cmd("ZADD zz 7 m");
    assert_eq!(
        r.read(),
        V::Array(vec![V::bulk("zz"), V::bulk("m"), V::bulk("7")])
    );
    // Pipelined commands after a blocking one wait for it.
    r.send_raw(b"*3\r\n$5\r\nBRPOP\r\n$2\r\nq3\r\n$3\r\n0.1\r\n*1\r\n$4\r\nPING\r\n");
    assert_eq!(r.read(), V::Nil);
    assert_eq!(r.read(), V::Simple("PONG".into()));
    // Inside MULTI a blocking command does not block.
    r.cmd("MULTI");
    r.cmd("BLPOP nothing 0");
    assert_eq!(r.cmd("EXEC"), V::Array(vec![V::Nil]));
    assert_eq!(
        r.cmd("BLPOP q x"),
        err("ERR timeout is not a float or out of range")
    );
}

#[test]
fn pubsub_across_workers() {
    let kv = start_kv(&["--workers", "2"]);
    let mut subs: Vec<_> = (0..4).map(|_| kv.raw()).collect();
    for s in subs.iter_mut() {
        assert_eq!(
            s.cmd("SUBSCRIBE news"),
            V::Array(vec![V::bulk("subscribe"), V::bulk("news"), V::Int(1)])
        );
        assert_eq!(
            s.cmd("PSUBSCRIBE n*"),
            V::Array(vec![V::bulk("psubscribe"), V::bulk("n*"), V::Int(2)])
        );
    }
    let mut p = kv.raw();
    assert_eq!(
        p.cmd("PUBSUB NUMSUB news"),
        V::Array(vec![V::bulk("news"), V::Int(4)])
    );
    assert_eq!(p.cmd("PUBLISH news hello"), V::Int(8));
    for s in subs.iter_mut() {
        let mut got = [s.read(), s.read()];
        got.sort_by_key(|v| format!("{v:?}"));
        assert!(got.contains(&V::Array(vec![
            V::bulk("message"),
            V::bulk("news"),
            V::bulk("hello")
        ])));
        assert!(got.contains(&V::Array(vec![
            V::bulk("pmessage"),
            V::bulk("n*"),
            V::bulk("news"),
            V::bulk("hello")
        ])));
        assert_eq!(
            s.cmd("GET x"),
            err("ERR Can't execute 'get': only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE / PING / QUIT / RESET are allowed in this context")
        );
        assert_eq!(
            s.cmd("UNSUBSCRIBE news"),
            V::Array(vec![V::bulk("unsubscribe"), V::bulk("news"), V::Int(1)])
        );
    }
    assert_eq!(p.cmd("PUBLISH news again"), V::Int(4));
}

#[test]
fn transactions_and_watch() {
    let kv = start_kv(&["--workers", "2"]);
    let mut a = kv.raw();
    let mut b = kv.raw();
    assert_eq!(a.cmd("MULTI"), V::Simple("OK".into()));
    assert_eq!(a.cmd("SET k 1"), V::Simple("QUEUED".into()));
    assert_eq!(a.cmd("INCR k"), V::Simple("QUEUED".into()));
    assert_eq!(a.cmd("MULTI"), err("ERR MULTI calls can not be nested"));
    assert_eq!(
        a.cmd("EXEC"),
        V::Array(vec![V::Simple("OK".into()), V::Int(2)])
    );
    // A queuing error aborts the transaction.
    a.cmd("MULTI");
    a.cmd("SET k 5");
    assert_eq!(
        a.cmd("NOSUCH"),
        err("ERR unknown command 'NOSUCH', with args beginning with: ")
    );
    assert_eq!(
        a.cmd("EXEC"),
        err("EXECABORT Transaction discarded because of previous errors.")
    );
    assert_eq!(a.cmd("GET k"), V::bulk("2"));
    // WATCH: a write from another client aborts EXEC.
    assert_eq!(a.cmd("WATCH k"), V::Simple("OK".into()));
    b.cmd("SET k 100");
    a.cmd("MULTI");
    a.cmd("INCR k");
    assert_eq!(a.cmd("EXEC"), V::Nil);
    // Untouched watch succeeds; runtime errors do not abort the rest.
    a.cmd("WATCH k");
    a.cmd("MULTI");
    a.cmd("INCR k");
    a.cmd("LPUSH k x");
    a.cmd("INCR k");
    assert_eq!(
        a.cmd("EXEC"),
        V::Array(vec![
            V::Int(101),
            err("WRONGTYPE Operation against a key holding the wrong kind of value"),
            V::Int(102)
        ])
    );
    // An expired watched key counts as modified.
    a.cmd("SET t v PX 50");
    a.cmd("WATCH t");
    std::thread::sleep(Duration::from_millis(100));
    a.cmd("MULTI");
    a.cmd("GET t");
    assert_eq!(a.cmd("EXEC"), V::Nil);
    assert_eq!(a.cmd("MULTI"), V::Simple("OK".into()));
    assert_eq!(
        a.cmd("WATCH x"),
        err("ERR WATCH inside MULTI is not allowed")
    );
    assert_eq!(a.cmd("DISCARD"), V::Simple("OK".into()));
}

#[test]
fn expiry_lazy_and_active() {
    let kv = start_kv(&[]);
    let mut r = kv.raw();
    r.cmd("SET a 1 PX 50");
    r.cmd("SET b 1");
    assert_eq!(r.cmd("PEXPIRE b 100 NX"), V::Int(1));
    assert_eq!(r.cmd("PEXPIRE b 5000 NX"), V::Int(0));
    assert_eq!(r.cmd("EXPIRE b 5000 GT"), V::Int(1));
    std::thread::sleep(Duration::from_millis(80));
    assert_eq!(r.cmd("GET a"), V::Nil, "lazy expiry");
    for i in 0..500 {
        r.send(&[b"SET", format!("e{i}").as_bytes(), b"v", b"PX", b"30"]);
    }
    for _ in 0..500 {
        r.read();
    }
    assert_eq!(r.cmd("DBSIZE"), V::Int(501));
    // Without touching the keys, the active cycle removes them.
    let end = Instant::now() + Duration::from_secs(3);
    while r.cmd("DBSIZE") != V::Int(1) {
        assert!(
            Instant::now() < end,
            "active expiry did not reclaim the keys"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    match r.cmd("INFO stats") {
        V::Bulk(b) => assert!(String::from_utf8_lossy(&b).contains("expired_keys:50")),
        other => panic!("{other:?}"),
    }
    assert_eq!(r.cmd("PERSIST b"), V::Int(1));
    assert_eq!(r.cmd("TTL b"), V::Int(-1));
}

fn info_field(r: &mut common::Raw, field: &str) -> u64 {
    let V::Bulk(b) = r.cmd("INFO") else { panic!() };
    let text = String::from_utf8(b).unwrap();
    let line = text
        .lines()
        .find(|l| l.starts_with(&format!("{field}:")))
        .unwrap_or_else(|| panic!("{field} in INFO"));
    line.split(':').nth(1).unwrap().trim().parse().unwrap()
}

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

#[test]
fn scan_covers_every_key_across_shards() {
    let kv = start_kv(&[]);
    let mut r = kv.raw();
    r.cmd("DEBUG POPULATE 1000 key");
    r.cmd("HSET h a 1");
    let mut seen = std::collections::HashSet::new();
    let mut cursor = "0".to_string();
    loop {
        let V::Array(v) = r.cmd(&format!("SCAN {cursor} MATCH key:* COUNT 37")) else {
            panic!()
        };
        let V::Bulk(c) = &v[0] else { panic!() };
        cursor = String::from_utf8(c.clone()).unwrap();
        let V::Array(keys) = &v[1] else { panic!() };
        for k in keys {
            let V::Bulk(k) = k else { panic!() };
            seen.insert(k.clone());
        }
        if cursor == "0" {
            break;
        }
    }
    assert_eq!(seen.len(), 1000);
    let V::Array(v) = r.cmd("SCAN 0 TYPE hash COUNT 10000") else {
        panic!()
    };
    assert_eq!(v[1], V::Array(vec![V::bulk("h")]));
}

/// SCAN's guarantee while the table changes under it: every key present for the whole scan
/// is returned, although keys are deleted (slots move) and added (the table grows) between
/// calls; RANDOMKEY only ever returns live keys.
#[test]
fn scan_and_randomkey_while_keys_change() {
    let kv = start_kv(&[]);
    let mut r = kv.raw();
    r.cmd("DEBUG POPULATE 3000 key");
    // Long keys (heap-stored) next to short (inline) ones.
    for i in 0..300 {
        r.cmd(&format!("SET a-much-longer-key-name-than-inline:{i} v"));
    }
    let mut seen = std::collections::HashSet::new();
    let mut cursor = "0".to_string();
    let (mut step, mut deleted) = (0, std::collections::HashSet::new());
    loop {
        let V::Array(v) = r.cmd(&format!("SCAN {cursor} COUNT 25")) else {
            panic!()
        };
        let V::Bulk(c) = &v[0] else { panic!() };
        cursor = String::from_utf8(c.clone()).unwrap();
        let V::Array(keys) = &v[1] else { panic!() };
        for k in keys {
            let V::Bulk(k) = k else { panic!() };
            seen.insert(String::from_utf8(k.clone()).unwrap());
        }
        // Delete a few keys (every 7th, walking), add a few new ones.
        for j in 0..5 {
            let n = (step * 5 + j) * 7 % 3000;
            r.cmd(&format!("DEL key:{n}"));
            deleted.insert(format!("key:{n}"));
            r.cmd(&format!("SET new:{step}:{j} v"));
        }
        step += 1;
        if cursor == "0" {
            break;
        }
    }
    for i in 0..3000 {
        let k = format!("key:{i}");
        assert!(deleted.contains(&k) || seen.contains(&k), "{k} missed");
    }
    for i in 0..300 {
        let k = format!("a-much-longer-key-name-than-inline:{i}");
        assert!(seen.contains(&k), "{k} missed");
    }
    for _ in 0..200 {
        let V::Bulk(k) = r.cmd("RANDOMKEY") else {
            panic!()
        };
        let k = String::from_utf8(k).unwrap();
        assert!(!deleted.contains(&k), "RANDOMKEY returned deleted {k}");
        assert_eq!(r.cmd(&format!("EXISTS {k}")), V::Int(1));
    }
    r.cmd("FLUSHALL");
    assert_eq!(r.cmd("RANDOMKEY"), V::Nil);
}

#[test]
fn server_commands_for_tools() {
    let kv = start_kv(&[]);
    let mut r = kv.raw();
    assert_eq!(
        r.cmd("CONFIG GET save"),
        V::Array(vec![V::bulk("save"), V::bulk("")])
    );
    assert_eq!(
        r.cmd("CONFIG GET appendonly"),
        V::Array(vec![V::bulk("appendonly"), V::bulk("no")])
    );
    assert_eq!(r.cmd("CLIENT SETNAME app"), V::Simple("OK".into()));
    assert_eq!(
        r.cmd("CLIENT SETINFO LIB-NAME redis-py"),
        V::Simple("OK".into())
    );
    let V::Bulk(list) = r.cmd("CLIENT LIST") else {
        panic!()
    };
    assert!(String::from_utf8_lossy(&list).contains("name=app"));
    let V::Bulk(info) = r.cmd("INFO") else {
        panic!()
    };
    let info = String::from_utf8(info).unwrap();
    for f in [
        "loading:0",
        "redis_version:7.0.15",
        "connected_clients:1",
        "maxmemory_policy:noeviction",
        "# Keyspace",
    ] {
        assert!(info.contains(f), "{f}");
    }
    assert!(matches!(r.cmd("COMMAND COUNT"), V::Int(n) if n > 150));
    assert!(matches!(r.cmd("COMMAND DOCS get"), V::Array(v) if v.len() == 2));
    assert!(
        matches!(r.cmd("COMMAND INFO get"), V::Array(v) if matches!(&v[0], V::Array(x) if x[1] == V::Int(2)))
    );
    r.cmd("SET a 1");
    let V::Bulk(stats) = r.cmd("INFO commandstats") else {
        panic!()
    };
    assert!(String::from_utf8_lossy(&stats).contains("cmdstat_set:calls=1,"));
    assert_eq!(r.cmd("SELECT 3"), V::Simple("OK".into()));
    assert_eq!(r.cmd("GET a"), V::Nil, "databases are separate");
    assert_eq!(r.cmd("SWAPDB 0 3"), V::Simple("OK".into()));
    assert_eq!(r.cmd("GET a"), V::bulk("1"));
    assert!(matches!(r.cmd("TIME"), V::Array(v) if v.len() == 2));
    r.cmd("CONFIG SET slowlog-log-slower-than 0");
    r.cmd("PING");
    assert!(matches!(r.cmd("SLOWLOG LEN"), V::Int(n) if n > 0));
    assert_eq!(r.cmd("OBJECT ENCODING a"), V::bulk("int"));
    assert_eq!(r.cmd("QUIT"), V::Simple("OK".into()));
    assert!(r.closed());
}

#[test]
fn redis_cli_and_monitor() {
    let kv = start_kv(&["--workers", "2"]);
    let port = kv.port().to_string();
    let cli = |args: &[&str]| -> String {
        let out = std::process::Command::new("redis-cli")
            .args(["-p", &port])
            .args(args)
            .output();
        match out {
            Ok(o) => String::from_utf8_lossy(&o.stdout).trim().to_string(),
            Err(_) => "NO-CLI".into(),
        }
    };
    if cli(&["PING"]) == "NO-CLI" {
        eprintln!("SKIP: redis-cli not installed");
        return;
    }
    let mut mon = kv.raw();
    assert_eq!(mon.cmd("MONITOR"), V::Simple("OK".into()));
    assert_eq!(cli(&["SET", "greeting", "hello world"]), "OK");
    assert_eq!(cli(&["GET", "greeting"]), "hello world");
    assert_eq!(cli(&["-n", "2", "DBSIZE"]), "0");
    assert_eq!(cli(&["-3", "HGETALL", "none"]), "");
    assert_eq!(cli(&["LPUSH", "l", "a", "b"]), "2");
    assert_eq!(
        cli(&["--no-raw", "LRANGE", "l", "0", "-1"]),
        "1) \"b\"\n2) \"a\""
    );
    let V::Simple(line) = mon.read() else {
        panic!()
    };
    assert!(
        line.contains("\"SET\" \"greeting\" \"hello world\""),
        "{line}"
    );
    // Commands on stdin (pipe mode uses the same parser).
    let mut child = std::process::Command::new("redis-cli")
        .args(["-p", &port])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"INCR c\nINCR c\nGET c\n")
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "1\n2\n2");
}

#[test]
fn shutdown_and_sigterm_stop_the_server() {
    let mut kv = start_kv(&[]);
    let mut r = kv.raw();
    r.send(&[b"SHUTDOWN", b"NOSAVE"]);
    assert!(r.closed());
    assert!(kv.terminate(Duration::from_secs(5)) || kv.child.try_wait().unwrap().is_some());
    let mut kv = start_kv(&["--workers", "2"]);
    let _idle = kv.raw();
    assert!(
        kv.terminate(Duration::from_secs(5)),
        "SIGTERM stops the server with clients connected"
    );
}

#[test]
fn config_file_and_flags() {
    let dir = std::env::temp_dir().join(format!("fs-kv-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("kv.toml");
    std::fs::write(&path, "[runtime]\nworkers = 2\n\n[kv]\ndatabases = 4\nmaxmemory = \"100mb\"\nmaxmemory-policy = \"allkeys-lru\"\n").unwrap();
    let kv = start_kv(&["-c", path.to_str().unwrap()]);
    let mut r = kv.raw();
    assert_eq!(r.cmd("SELECT 4"), err("ERR DB index is out of range"));
    assert_eq!(
        r.cmd("CONFIG GET maxmemory-policy"),
        V::Array(vec![V::bulk("maxmemory-policy"), V::bulk("allkeys-lru")])
    );
    std::fs::write(&path, "[kv]\nmaxmemory-policy = \"sometimes\"\nbogus = 1\n").unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_fs-kv"))
        .args(["-c", path.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let msg = String::from_utf8_lossy(&out.stderr);
    assert!(msg.contains("kv.toml:3") && msg.contains("bogus"), "{msg}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// A client that has been served and gone idle holds no reply buffer: 300 clients that each
/// sent a few commands add far less than the 16 KiB reply buffer each used to keep.
#[test]
fn idle_clients_after_use_hold_little_memory() {
    let kv = start_kv(&[]);
    let mut r = kv.raw();
    let before = info_field(&mut r, "used_memory");
    let mut clients: Vec<common::Raw> = (0..300).map(|_| kv.raw()).collect();
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
