//! Connections and what spans them: AUTH, RESP3, blocking commands, pub/sub across workers,
//! MULTI/WATCH.

use std::time::{Duration, Instant};

use crate::common::{start_kv, V};
use crate::err;

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
