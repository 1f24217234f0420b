//! Server commands and the process: INFO, COMMAND and CONFIG for tools, redis-cli and MONITOR,
//! SHUTDOWN and SIGTERM, the configuration file and flags.

use std::io::Write;
use std::time::Duration;

use crate::common::{start_kv, V};
use crate::err;

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
