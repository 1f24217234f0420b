//! fs-kv's real service (`fs_kv::service::Kv`) on FerroStack's user-space TCP/IP stack over
//! TAP, driven with redis-cli from the Linux kernel side. Needs root, /dev/net/tun and
//! redis-cli; skips with a message otherwise. The TAP device is deleted by name on drop, even
//! on failure.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::process::Command;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use fs_kv::config::{Config, Policy};
use fs_kv::server::Server;
use netstack::ip::IfaceConfig;
use netstack::runtime::Listen;
use netstack::tcp::TcpConfig;
use netstack::testing::{ip, tap_available, DeviceGuard};
use netstack::user::UserConfig;
use netstack::wire::EthernetAddress;

/// One redis-cli command against `host:6379`; returns trimmed stdout (redis-cli's raw output
/// when not on a tty: one line per reply element).
fn cli(host: Ipv4Addr, args: &[&str]) -> String {
    let out = Command::new("timeout")
        .args(["10", "redis-cli", "-h", &host.to_string(), "-p", "6379"])
        .args(args)
        .output()
        .expect("run redis-cli");
    assert!(
        out.status.success(),
        "redis-cli {args:?}: status {:?}, stderr {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim_end().to_string()
}

#[test]
fn redis_cli_talks_to_kv_on_the_user_stack() {
    if !tap_available() || Command::new("redis-cli").arg("--version").output().is_err() {
        eprintln!(
            "SKIP redis_cli_talks_to_kv_on_the_user_stack: needs root, /dev/net/tun and redis-cli"
        );
        return;
    }
    // A /24 of 198.18.0.0/15 of its own (198.18.x; fs-httpd's test uses 198.19.x).
    let pid = std::process::id();
    let net = (pid % 200 + 20) as u8;
    let (kernel, stack) = (
        Ipv4Addr::new(198, 18, net, 1),
        Ipv4Addr::new(198, 18, net, 2),
    );
    let name = format!("fsk{}", pid % 1_000_000);
    let _guard = DeviceGuard(name.clone());

    let cfg = Config::new(6379, &stack.to_string(), 16);
    cfg.maxmemory.store(0, Ordering::Relaxed);
    *cfg.policy.write().unwrap() = Policy::parse("noeviction").unwrap();
    let srv = Arc::new(Server::new(cfg, 16, 1, fs_kv::cmd::TABLE.len()));
    let user = UserConfig {
        interface: name.clone(),
        iface: IfaceConfig {
            mac: EthernetAddress([2, 0, 0x5e, 0, 0, 3]),
            addr: stack,
            prefix: 24,
            gateway: None,
            mtu: 1500,
        },
        tcp: TcpConfig::default(),
        buffers: 8192,
        pcap: None,
        fault: None,
        idle_sleep: Duration::ZERO,
        worker: Default::default(),
    };
    let listen = [Listen::new(SocketAddr::new(IpAddr::V4(stack), 6379))];
    let make = {
        let srv = srv.clone();
        move |w| fs_kv::service::Kv::new(srv.clone(), w)
    };
    let rt = netstack::user::start(user, &listen, make).expect("start");
    ip(&["link", "set", &name, "up"]);
    ip(&["addr", "add", &format!("{kernel}/24"), "dev", &name]);

    assert_eq!(cli(stack, &["PING"]), "PONG");
    assert_eq!(cli(stack, &["SET", "greeting", "hello user stack"]), "OK");
    assert_eq!(cli(stack, &["GET", "greeting"]), "hello user stack");
    assert_eq!(cli(stack, &["GET", "missing"]), "");
    assert_eq!(cli(stack, &["INCR", "n"]), "1");
    assert_eq!(cli(stack, &["INCRBY", "n", "41"]), "42");
    assert_eq!(
        cli(stack, &["INCR", "greeting"]),
        "ERR value is not an integer or out of range"
    );
    assert_eq!(cli(stack, &["LPUSH", "l", "a", "b", "c"]), "3");
    assert_eq!(cli(stack, &["LRANGE", "l", "0", "-1"]), "c\nb\na");
    // A value larger than one segment, sent and read back through the stack.
    let big: String = (0..20_000u32)
        .map(|i| (b'a' + (i % 26) as u8) as char)
        .collect();
    assert_eq!(cli(stack, &["SET", "big", &big]), "OK");
    assert_eq!(cli(stack, &["GET", "big"]), big);
    assert_eq!(cli(stack, &["STRLEN", "big"]), "20000");
    assert_eq!(cli(stack, &["DBSIZE"]), "4");

    rt.stop();
    rt.join();
}
