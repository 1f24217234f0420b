//! Data types and the keyspace: strings, lists, hashes, sets, sorted sets, expiry, SCAN.

use std::time::{Duration, Instant};

use crate::common::{start_kv, V};
use crate::err;
use redis::Commands;

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
