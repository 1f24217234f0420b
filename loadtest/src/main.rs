//! fs-load: FerroStack's in-process load generator. A server thread runs the real user-space
//! stack with the real service (fs-httpd's `Httpd` or fs-kv's `Kv`) on one core; the compact
//! generator ([`gen`]) runs on the other core; between them is a zero-copy cross-thread memory
//! wire ([`ring`]). Reports requests/s (or connections/s), the server thread's CPU per request
//! (its own CPU clock) and server memory per connection. Every run ends by itself.

mod gen;
mod ring;
mod server;

use std::net::SocketAddr;
use std::os::unix::thread::JoinHandleExt;
use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use clap::{Parser, ValueEnum};

use gen::{Mode, Spec};
use ring::{RingWire, WireEnds};
use server::{Shared, SERVER_IP};

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum Workload {
    /// HTTP keep-alive GETs of the 600-byte `return` (fs-httpd).
    Http600,
    /// HTTP keep-alive GETs of a 4 KiB static file (fs-httpd).
    Http4k,
    /// HTTP GET with `Connection: close`: one request per connection (connections/s).
    HttpClose,
    /// Redis GET (fs-kv), `-P` pipelined per connection (the key is absent, as in kv.sh).
    RedisGet,
    /// Redis SET (fs-kv), `-P` pipelined per connection.
    RedisSet,
    /// Hold `--requests` connections open, then `--probes` requests on some of them.
    Idle,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum Svc {
    Http,
    Kv,
}

#[derive(Parser, Debug)]
#[command(
    name = "fs-load",
    about = "In-process load generator over a cross-thread memory wire"
)]
struct Args {
    workload: Workload,
    /// Requests to complete (keep-alive), connections (close) or connections to hold (idle).
    #[arg(long, short = 'n', default_value_t = 1_000_000)]
    requests: u64,
    /// Upper bound on the measured time, seconds.
    #[arg(long, short = 'd', default_value_t = 10.0)]
    duration: f64,
    /// Concurrent connections (keep-alive, close).
    #[arg(long, short = 'c', default_value_t = 64)]
    connections: usize,
    /// Redis requests per batch (pipelining).
    #[arg(long, short = 'P', default_value_t = 1)]
    pipeline: u64,
    /// Service behind the idle connections.
    #[arg(long, value_enum, default_value_t = Svc::Kv)]
    service: Svc,
    /// Requests sent on held connections after they are all open (idle).
    #[arg(long, default_value_t = 1000)]
    probes: usize,
    /// Most handshakes in flight.
    #[arg(long, default_value_t = 256)]
    syn_window: u64,
    /// Stop opening idle connections when the process RSS passes this (GiB).
    #[arg(long, default_value_t = 18.0)]
    rss_limit_gib: f64,
    #[arg(long, default_value_t = 0)]
    server_cpu: usize,
    #[arg(long, default_value_t = 1)]
    client_cpu: usize,
    /// Microseconds an idle side polls before it parks (0: park at once, for callgrind).
    #[arg(long, default_value_t = 200)]
    spin_us: u64,
    /// Frames per wire direction.
    #[arg(long, default_value_t = 8192)]
    wire_slots: usize,
}

const BODY_600: usize = 600;

fn http_setup() -> (Arc<fs_httpd::config::Config>, PathBuf) {
    let dir = std::env::temp_dir().join(format!("fs-load-{}", std::process::id()));
    std::fs::create_dir_all(dir.join("root")).expect("temp dir");
    let file: Vec<u8> = (0..4096u32).map(|i| b'a' + (i % 26) as u8).collect();
    std::fs::write(dir.join("root/file4k.bin"), file).expect("write file");
    let conf = dir.join("httpd.toml");
    std::fs::write(
        &conf,
        format!(
            "[runtime]\nworkers = 1\n[http]\naccess_log = \"off\"\nkeepalive_requests = 1000000000\n\
             keepalive_timeout = \"3600s\"\nclient_header_timeout = \"3600s\"\n\
             [[server]]\nlisten = [\"{SERVER_IP}:80\"]\nroot = \"{}\"\nserver_tokens = false\n\
             [[server.location]]\nmatch = \"= /600\"\nreturn = \"200 {}\"\n",
            dir.join("root").display(),
            "x".repeat(BODY_600)
        ),
    )
    .expect("write config");
    let cfg = fs_httpd::config::load(&conf).unwrap_or_else(|e| panic!("config: {e:?}"));
    (Arc::new(cfg), dir)
}

fn redis_cmd(args: &[&str]) -> String {
    let mut s = format!("*{}\r\n", args.len());
    for a in args {
        s += &format!("${}\r\n{}\r\n", a.len(), a);
    }
    s
}

fn main() {
    let a = Args::parse();
    let svc = match a.workload {
        Workload::Http600 | Workload::Http4k | Workload::HttpClose => Svc::Http,
        Workload::RedisGet | Workload::RedisSet => Svc::Kv,
        Workload::Idle => a.service,
    };
    let port: u16 = if svc == Svc::Http { 80 } else { 6379 };
    let (req, per_batch, resp_len, mode) = match a.workload {
        Workload::Http600 => (
            "GET /600 HTTP/1.1\r\nHost: bench\r\n\r\n".to_string(),
            1,
            None,
            Mode::KeepAlive,
        ),
        Workload::Http4k => (
            "GET /file4k.bin HTTP/1.1\r\nHost: bench\r\n\r\n".to_string(),
            1,
            None,
            Mode::KeepAlive,
        ),
        Workload::HttpClose => (
            "GET /600 HTTP/1.1\r\nHost: bench\r\nConnection: close\r\n\r\n".to_string(),
            1,
            None,
            Mode::Close,
        ),
        Workload::RedisGet | Workload::RedisSet => {
            let one = if a.workload == Workload::RedisGet {
                redis_cmd(&["GET", "key:000000000042"])
            } else {
                redis_cmd(&["SET", "key:000000000042", "xxx"])
            };
            let p = a.pipeline.max(1);
            // "$-1\r\n" (absent key) and "+OK\r\n" are both 5 bytes.
            (
                one.repeat(p as usize),
                p,
                Some(5 * p as u32),
                Mode::KeepAlive,
            )
        }
        Workload::Idle => match svc {
            Svc::Kv => (redis_cmd(&["PING"]), 1, Some(7), Mode::Idle),
            Svc::Http => (
                "GET /600 HTTP/1.1\r\nHost: bench\r\n\r\n".to_string(),
                1,
                None,
                Mode::Idle,
            ),
        },
    };
    let spec = Spec {
        mode,
        port,
        conns: a.connections.max(1),
        req: Bytes::from(req),
        per_batch,
        resp_len,
        total: a.requests,
        duration: Duration::from_secs_f64(a.duration),
        probes: a.probes,
        syn_window: a.syn_window.max(1),
        rss_limit: (a.rss_limit_gib * (1u64 << 30) as f64) as u64,
    };

    let rss_start = gen::rss();
    let WireEnds {
        a: server_wire,
        b: client_wire,
        a_parker: server_parker,
        b_parker: client_parker,
    } = RingWire::pair(a.wire_slots, 65536, true);
    let shared = Arc::new(Shared::default());
    shared.spin_ns.store(a.spin_us * 1000, Ordering::Relaxed);
    let listen = vec![SocketAddr::from((SERVER_IP, port))];
    let mut temp = None;
    let handle = {
        let (shared, sp) = (shared.clone(), server_parker.clone());
        let cpu = a.server_cpu;
        let b = std::thread::Builder::new().name("fs-load-server".into());
        match svc {
            Svc::Http => {
                let (cfg, dir) = http_setup();
                temp = Some(dir);
                b.spawn(move || {
                    server::serve(server_wire, sp, shared, listen, cpu, move || {
                        fs_httpd::service::Httpd::new(cfg)
                    })
                })
            }
            Svc::Kv => b.spawn(move || {
                server::serve(server_wire, sp, shared, listen, cpu, move || {
                    let cfg = fs_kv::config::Config::new(6379, "0.0.0.0", 16);
                    let srv = Arc::new(fs_kv::server::Server::new(
                        cfg,
                        16,
                        1,
                        fs_kv::cmd::TABLE.len(),
                    ));
                    fs_kv::service::Kv::new(srv, 0)
                })
            }),
        }
        .expect("spawn server")
    };
    let mut clock: libc::clockid_t = 0;
    // SAFETY: the thread is alive (joined below); `clock` is a valid out pointer.
    let rc = unsafe { libc::pthread_getcpuclockid(handle.as_pthread_t(), &mut clock) };
    assert_eq!(rc, 0, "pthread_getcpuclockid");
    while !shared.listening.load(Ordering::Acquire) {
        std::thread::sleep(Duration::from_millis(1));
    }
    server::pin(a.client_cpu);
    let o = gen::run(
        &spec,
        client_wire,
        client_parker,
        server_parker.clone(),
        clock,
        &shared,
    );
    shared.stop.store(true, Ordering::Relaxed);
    server_parker.wake();
    let end = handle.join().expect("server thread");
    if let Some(dir) = temp {
        let _ = std::fs::remove_dir_all(dir);
    }

    let name = format!("{:?}", a.workload).to_lowercase();
    let first = o.first_response.lines().next().unwrap_or("").to_string();
    let secs = o.window.as_secs_f64();
    let us = |d: Duration, n: u64| d.as_secs_f64() * 1e6 / n.max(1) as f64;
    match mode {
        Mode::KeepAlive | Mode::Close => {
            let unit = if mode == Mode::Close { "conn" } else { "req" };
            println!(
                "fs-load {name}: c={} P={} {} {unit}s in {secs:.3}s = {:.0} {unit}/s | server CPU {:.3}s = {:.3} us/{unit}, in working turns {:.3} us/{unit} (core busy {:.0}%) | client CPU {:.3} us/{unit} | first reply: {first:?}",
                spec.conns,
                per_batch,
                o.done,
                o.done as f64 / secs.max(1e-9),
                o.server_cpu.as_secs_f64(),
                us(o.server_cpu, o.done),
                us(o.server_busy, o.done),
                100.0 * o.server_cpu.as_secs_f64() / secs.max(1e-9),
                us(o.client_cpu, o.done),
            );
            println!(
                "  server: conns={} time_wait={} conn_memory={} B ({:.0} B/conn) turns={} parks={} | generator: established={} resets={} unexpected={}",
                o.server_conns,
                o.time_wait,
                o.conn_mem,
                o.conn_mem as f64 / o.server_conns.max(1) as f64,
                end.turns,
                end.parks,
                o.established,
                o.resets,
                o.unexpected
            );
        }
        Mode::Idle => {
            let n = o.server_conns.max(1);
            let delta = o.rss_after.saturating_sub(o.rss_before);
            println!(
                "fs-load idle ({:?}): held {} connections (server counts {}) opened in {:.2}s = {:.0} conn/s, server CPU {:.3} us/conn | TCP connection_memory {:.0} B/conn | process RSS delta {:.0} B/conn (RSS {} MiB, at start {} MiB){}",
                svc,
                o.established,
                o.server_conns,
                o.open_time.as_secs_f64(),
                o.established as f64 / o.open_time.as_secs_f64().max(1e-9),
                us(o.open_server_cpu, o.established),
                o.conn_mem as f64 / n as f64,
                delta as f64 / n as f64,
                o.rss_after >> 20,
                rss_start >> 20,
                if o.stopped_by_rss { " [stopped at the RSS limit]" } else { "" },
            );
            println!(
                "  probes: {}/{} requests answered on held connections in {:.1} ms, server CPU {:.2} us/req | first reply: {first:?} | resets={} unexpected={}",
                o.probes_ok,
                spec.probes.min(o.established as usize),
                o.probe_time.as_secs_f64() * 1e3,
                us(o.server_cpu, o.probes_ok),
                o.resets,
                o.unexpected
            );
        }
    }
    println!("  server tcp: {}", end.tcp);
}
