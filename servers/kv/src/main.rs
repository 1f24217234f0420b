//! fs-kv: a Redis 7.0-compatible key-value server on FerroStack's per-core runtime.

use fs_kv::{cmd, evict, service};

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::Parser as _;
use dpdk::DpdkConfig;
use netstack::config::{NumberOrText, RuntimeConfig, Source, Stack};
use netstack::runtime::{Listen, Workers};
use netstack::user::config::NetstackSection;
use serde::Deserialize;

use fs_kv::config::{parse_memory, Config, Policy};
use fs_kv::server::Server;

#[global_allocator]
static ALLOC: evict::Counting = evict::Counting;

#[derive(clap::Parser, Debug)]
#[command(
    name = "fs-kv",
    about = "FerroStack's Redis-compatible key-value server"
)]
struct Args {
    /// TOML configuration file ([runtime], [netstack], [kv]).
    #[arg(short = 'c', long = "config")]
    config: Option<PathBuf>,
    #[arg(long)]
    port: Option<u16>,
    /// Address(es) to listen on (default 127.0.0.1).
    #[arg(long, num_args = 1..)]
    bind: Option<Vec<IpAddr>>,
    #[arg(long)]
    requirepass: Option<String>,
    #[arg(long)]
    databases: Option<usize>,
    /// Bytes, or with a unit: 100mb, 1gb.
    #[arg(long)]
    maxmemory: Option<String>,
    #[arg(long = "maxmemory-policy")]
    maxmemory_policy: Option<String>,
    /// "auto" or a number.
    #[arg(long)]
    workers: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct File {
    #[serde(default)]
    runtime: RuntimeConfig,
    /// The user-space stack's device and addressing (used with `stack = "user"`).
    #[serde(default)]
    netstack: NetstackSection,
    #[serde(default)]
    dpdk: DpdkConfig,
    #[serde(default)]
    kv: KvSection,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct KvSection {
    port: Option<u16>,
    bind: Option<Vec<IpAddr>>,
    requirepass: Option<String>,
    databases: Option<usize>,
    maxmemory: Option<NumberOrText>,
    maxmemory_policy: Option<String>,
}

/// Everything resolved from the file and the flags (flags win).
struct Settings {
    port: u16,
    bind: Vec<IpAddr>,
    requirepass: Option<String>,
    databases: usize,
    maxmemory: u64,
    policy: Policy,
    workers: usize,
    runtime: RuntimeConfig,
    netstack: NetstackSection,
    dpdk: DpdkConfig,
}

fn settings(args: Args) -> Result<Settings, String> {
    let file: File = match &args.config {
        Some(path) => {
            let src = Source::read(path).map_err(|e| e.to_string())?;
            let file: File = src.parse().map_err(|e| e.to_string())?;
            dpdk::check_config(&src, &file.netstack, &file.dpdk).map_err(|e| e.to_string())?;
            file
        }
        None => File::default(),
    };
    let stack = file.runtime.stack;
    // On the user stack the default address is the interface's own.
    let default_bind = match stack {
        Stack::User => IpAddr::V4(file.netstack.address.0),
        Stack::Kernel => IpAddr::from([127, 0, 0, 1]),
    };
    let kv = file.kv;
    let maxmemory = match (&args.maxmemory, &kv.maxmemory) {
        (Some(m), _) => parse_memory(m).ok_or(format!("--maxmemory: invalid size '{m}'"))?,
        (None, Some(NumberOrText::Number(n))) => *n,
        (None, Some(NumberOrText::Text(t))) => {
            parse_memory(t).ok_or(format!("[kv] maxmemory: invalid size '{t}'"))?
        }
        (None, None) => 0,
    };
    let policy_name = args
        .maxmemory_policy
        .or(kv.maxmemory_policy)
        .unwrap_or_else(|| "noeviction".into());
    let policy = Policy::parse(&policy_name)
        .ok_or(format!("maxmemory-policy: unknown policy '{policy_name}'"))?;
    let workers = match args.workers.as_deref() {
        None => file.runtime.workers,
        Some("auto") => Workers::Auto,
        Some(n) => Workers::Count(
            n.parse()
                .map_err(|_| format!("--workers: expected \"auto\" or a number, got '{n}'"))?,
        ),
    };
    let databases = args.databases.or(kv.databases).unwrap_or(16);
    if !(1..=1_000_000).contains(&databases) {
        return Err("databases: must be at least 1".into());
    }
    Ok(Settings {
        port: args.port.or(kv.port).unwrap_or(6379),
        bind: args.bind.or(kv.bind).unwrap_or_else(|| vec![default_bind]),
        requirepass: args
            .requirepass
            .or(kv.requirepass)
            .filter(|p| !p.is_empty()),
        databases,
        maxmemory,
        policy,
        workers: workers.resolve(),
        runtime: RuntimeConfig {
            workers,
            ..file.runtime
        },
        netstack: file.netstack,
        dpdk: file.dpdk,
    })
}

fn main() {
    let s = match settings(Args::parse()) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("fs-kv: {e}");
            std::process::exit(2);
        }
    };
    let listen: Vec<Listen> = s
        .bind
        .iter()
        .map(|ip| Listen::new(SocketAddr::new(*ip, s.port)))
        .collect();
    // Register the signals before any thread starts so that every thread inherits the mask.
    let mut signals = match signal_hook::iterator::Signals::new([
        signal_hook::consts::SIGTERM,
        signal_hook::consts::SIGINT,
    ]) {
        Ok(sig) => sig,
        Err(e) => {
            eprintln!("fs-kv: cannot install signal handlers: {e}");
            std::process::exit(1);
        }
    };
    let cfg = Config::new(
        s.port,
        &s.bind
            .iter()
            .map(|b| b.to_string())
            .collect::<Vec<_>>()
            .join(" "),
        s.databases,
    );
    cfg.maxmemory.store(s.maxmemory, Ordering::Relaxed);
    *cfg.policy.write().unwrap_or_else(|e| e.into_inner()) = s.policy;
    *cfg.requirepass.write().unwrap_or_else(|e| e.into_inner()) = s.requirepass.clone();
    let srv = Arc::new(Server::new(cfg, s.databases, s.workers, cmd::TABLE.len()));
    srv.store.lfu.store(s.policy.lfu(), Ordering::Relaxed);
    let make = {
        let srv = srv.clone();
        move |w| service::Kv::new(srv.clone(), w)
    };
    let started = dpdk::launch(
        &s.runtime,
        s.runtime.worker_config(0),
        &s.netstack,
        &s.dpdk,
        &listen,
        make,
    );
    let rt = match started {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("fs-kv: {e}");
            std::process::exit(1);
        }
    };
    for addr in rt.local_addrs() {
        eprintln!(
            "fs-kv: listening on {addr} ({} worker{})",
            s.workers,
            if s.workers == 1 { "" } else { "s" }
        );
    }
    if let Some(sig) = signals.forever().next() {
        eprintln!("fs-kv: signal {sig}, shutting down");
    }
    rt.quit();
    // Connections are closed by the workers' on_stop; give stragglers a bounded time.
    let deadline = Instant::now() + Duration::from_secs(3);
    while !rt.finished() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
    }
    if !rt.finished() {
        rt.stop();
        let deadline = Instant::now() + Duration::from_secs(2);
        while !rt.finished() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(10));
        }
        if !rt.finished() {
            eprintln!("fs-kv: workers did not stop, exiting");
            std::process::exit(1);
        }
    }
    rt.join();
    eprintln!("fs-kv: bye");
}
