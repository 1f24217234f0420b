//! State shared by every worker: the keyspace, configuration, pub/sub registry, clients list and
//! statistics; and the per-connection client state.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Mutex, RwLock};

use bytes::Bytes;
use netstack::Conn;

use crate::resp::Parser;
use crate::store::{HMap, Set, Store};

/// Cross-worker messages.
pub enum Msg {
    /// A key a blocked client waits on got data: retry its command.
    Wake { conn: Conn, seq: u64 },
    /// Pub/sub delivery to local subscribers: (conn, matching pattern).
    Publish {
        to: Vec<(Conn, Option<Bytes>)>,
        channel: Bytes,
        message: Bytes,
    },
    /// A line for MONITOR clients.
    Monitor { to: Vec<Conn>, line: Bytes },
    /// CLIENT KILL.
    Kill { conn: Conn },
}

#[derive(Copy, Clone, PartialEq, Eq, Debug)]
pub enum Policy {
    NoEviction,
    AllkeysLru,
    VolatileLru,
    AllkeysLfu,
    VolatileLfu,
    AllkeysRandom,
    VolatileRandom,
    VolatileTtl,
}

impl Policy {
    /// In the order Redis lists them in its error message.
    pub const ALL: [(Policy, &'static str); 8] = [
        (Policy::VolatileLru, "volatile-lru"),
        (Policy::VolatileLfu, "volatile-lfu"),
        (Policy::VolatileRandom, "volatile-random"),
        (Policy::VolatileTtl, "volatile-ttl"),
        (Policy::AllkeysLru, "allkeys-lru"),
        (Policy::AllkeysLfu, "allkeys-lfu"),
        (Policy::AllkeysRandom, "allkeys-random"),
        (Policy::NoEviction, "noeviction"),
    ];

    pub fn parse(s: &str) -> Option<Policy> {
        Self::ALL
            .iter()
            .find(|(_, n)| n.eq_ignore_ascii_case(s))
            .map(|(p, _)| *p)
    }

    pub fn name(self) -> &'static str {
        Self::ALL
            .iter()
            .find(|(p, _)| *p == self)
            .map_or("noeviction", |(_, n)| n)
    }

    pub fn volatile(self) -> bool {
        matches!(
            self,
            Policy::VolatileLru
                | Policy::VolatileLfu
                | Policy::VolatileRandom
                | Policy::VolatileTtl
        )
    }

    pub fn lfu(self) -> bool {
        matches!(self, Policy::AllkeysLfu | Policy::VolatileLfu)
    }
}

/// Runtime-settable configuration. Parameters without behaviour are kept as text so that
/// CONFIG GET/SET round-trip for tools.
pub struct Config {
    pub maxmemory: AtomicU64,
    pub policy: RwLock<Policy>,
    pub requirepass: RwLock<Option<String>>,
    pub slowlog_slower: AtomicU64,
    pub slowlog_max: AtomicUsize,
    pub params: Mutex<Vec<(String, String)>>,
    pub port: u16,
    #[allow(dead_code)]
    pub bind: String,
}

impl Config {
    pub fn new(port: u16, bind: &str, databases: usize) -> Config {
        let defaults: &[(&str, &str)] = &[
            ("appendonly", "no"),
            ("save", ""),
            ("timeout", "0"),
            ("tcp-keepalive", "300"),
            ("notify-keyspace-events", ""),
            ("hz", "10"),
            ("maxclients", "10000"),
            ("appendfsync", "everysec"),
            ("dir", "/tmp"),
            ("dbfilename", "dump.rdb"),
            ("protected-mode", "yes"),
            ("loglevel", "notice"),
            ("maxmemory-samples", "5"),
            ("lfu-log-factor", "10"),
            ("lfu-decay-time", "1"),
            ("proto-max-bulk-len", "536870912"),
            ("client-query-buffer-limit", "1073741824"),
            ("list-max-listpack-size", "-2"),
            ("hash-max-listpack-entries", "128"),
            ("zset-max-listpack-entries", "128"),
            ("set-max-intset-entries", "512"),
            ("lazyfree-lazy-eviction", "no"),
            ("replica-read-only", "yes"),
            ("cluster-enabled", "no"),
            ("io-threads", "1"),
        ];
        let mut params: Vec<(String, String)> = defaults
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        params.push(("databases".into(), databases.to_string()));
        params.push(("port".into(), port.to_string()));
        params.push(("bind".into(), bind.to_string()));
        Config {
            maxmemory: AtomicU64::new(0),
            policy: RwLock::new(Policy::NoEviction),
            requirepass: RwLock::new(None),
            slowlog_slower: AtomicU64::new(10_000),
            slowlog_max: AtomicUsize::new(128),
            params: Mutex::new(params),
            port,
            bind: bind.to_string(),
        }
    }

    pub fn policy(&self) -> Policy {
        *self.policy.read().unwrap_or_else(|e| e.into_inner())
    }

    pub fn password(&self) -> Option<String> {
        self.requirepass
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }
}

/// Per-command counters. Each worker owns one array and is its only writer (plain relaxed
/// load + store, no locked instruction); INFO sums them.
#[derive(Default)]
pub struct CmdStat {
    pub calls: AtomicU64,
    pub usec: AtomicU64,
    pub failed: AtomicU64,
    pub rejected: AtomicU64,
}

pub fn bump(a: &AtomicU64, n: u64) {
    a.store(a.load(Ordering::Relaxed) + n, Ordering::Relaxed);
}

#[derive(Default)]
pub struct Stats {
    pub connections: AtomicU64,
    pub connected: AtomicUsize,
    pub blocked: AtomicUsize,
    pub errors: AtomicU64,
    pub net_in: AtomicU64,
    pub net_out: AtomicU64,
}

pub struct SlowEntry {
    pub id: u64,
    pub time: u64,
    pub usec: u64,
    pub args: Vec<Bytes>,
    pub peer: String,
    pub name: String,
}

#[derive(Clone)]
pub struct ClientInfo {
    pub worker: usize,
    pub conn: Conn,
    pub addr: SocketAddr,
    pub laddr: SocketAddr,
    pub name: Bytes,
    pub db: usize,
    pub created: u64,
    pub lib_name: Bytes,
    pub lib_ver: Bytes,
    pub resp: u8,
}

#[derive(Default)]
pub struct PubSub {
    pub channels: HMap<Bytes, Vec<(usize, Conn)>>,
    pub patterns: Vec<(Bytes, usize, Conn)>,
}

pub struct Server {
    pub store: Store,
    pub cfg: Config,
    pub stats: Stats,
    /// cmdstats[worker][command index]
    pub cmdstats: Vec<Vec<CmdStat>>,
    pub errorstats: Mutex<HMap<String, u64>>,
    pub pubsub: Mutex<PubSub>,
    pub clients: Mutex<HMap<u64, ClientInfo>>,
    pub next_id: AtomicU64,
    pub monitors: Mutex<Vec<(usize, Conn)>>,
    pub has_monitors: AtomicBool,
    pub slowlog: Mutex<std::collections::VecDeque<SlowEntry>>,
    pub slowlog_id: AtomicU64,
    pub started: std::time::Instant,
    pub run_id: String,
    pub workers: usize,
    pub last_save: AtomicU64,
}

impl Server {
    pub fn new(cfg: Config, databases: usize, workers: usize) -> Server {
        let ncmd = crate::cmd::TABLE.len();
        let seed = crate::store::fast_rand();
        let run_id: String = (0..40)
            .map(|i| b"0123456789abcdef"[((seed >> (i % 16 * 4)) as usize ^ i) & 15] as char)
            .collect();
        Server {
            store: Store::new(databases),
            cfg,
            stats: Stats::default(),
            cmdstats: (0..workers)
                .map(|_| (0..ncmd).map(|_| CmdStat::default()).collect())
                .collect(),
            errorstats: Mutex::new(HMap::default()),
            pubsub: Mutex::new(PubSub::default()),
            clients: Mutex::new(HMap::default()),
            next_id: AtomicU64::new(1),
            monitors: Mutex::new(Vec::new()),
            has_monitors: AtomicBool::new(false),
            slowlog: Mutex::new(Default::default()),
            slowlog_id: AtomicU64::new(0),
            started: std::time::Instant::now(),
            run_id,
            workers,
            last_save: AtomicU64::new(unix_secs()),
        }
    }

    pub fn update_client(&self, id: u64, f: impl FnOnce(&mut ClientInfo)) {
        if let Some(c) = lock(&self.clients).get_mut(&id) {
            f(c);
        }
    }
}

pub fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

pub fn unix_secs() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// A blocked client's command, re-run when a key it waits on gets data.
pub struct Blocked {
    pub argv: Vec<Bytes>,
    pub keys: Vec<Bytes>,
    pub db: usize,
    /// Unix ms; 0 = wait forever.
    pub deadline: u64,
    pub seq: u64,
    /// Reply on timeout: a null array (BLPOP, BZPOPMIN) or a null bulk (BLMOVE).
    pub null_array: bool,
}

/// What a blocking command asks of the dispatcher when nothing is available.
pub struct BlockReq {
    pub keys: Vec<Bytes>,
    pub timeout_ms: u64,
    pub null_array: bool,
}

pub struct Client {
    pub id: u64,
    pub conn: Conn,
    pub addr: SocketAddr,
    #[allow(dead_code)]
    pub laddr: SocketAddr,
    pub db: usize,
    pub authed: bool,
    pub name: Bytes,
    pub parser: Parser,
    /// Unparsed input carried over from earlier reads (a partial frame).
    pub pending: Vec<u8>,
    /// MULTI queue (argv copies); None outside MULTI.
    pub multi: Option<Vec<Vec<Bytes>>>,
    pub multi_dirty: bool,
    pub watched: Vec<(usize, Bytes, u64)>,
    pub subs: Set<Bytes>,
    pub psubs: Set<Bytes>,
    pub blocked: Option<Blocked>,
    pub block_seq: u64,
    /// Set while re-running a woken blocked command: keeps the original deadline.
    pub resume_deadline: Option<u64>,
    pub close_after: bool,
    pub paused: bool,
    pub monitor: bool,
    pub created: u64,
    pub last_cmd: &'static str,
    /// The arguments of a command that just blocked (kept to re-run it when woken).
    pub last_argv: Vec<Bytes>,
}

impl Client {
    pub fn new(id: u64, conn: Conn, addr: SocketAddr, laddr: SocketAddr, authed: bool) -> Client {
        Client {
            id,
            conn,
            addr,
            laddr,
            db: 0,
            authed,
            name: Bytes::new(),
            parser: Parser::default(),
            pending: Vec::new(),
            multi: None,
            multi_dirty: false,
            watched: Vec::new(),
            subs: crate::store::new_set(),
            psubs: crate::store::new_set(),
            blocked: None,
            block_seq: 0,
            resume_deadline: None,
            close_after: false,
            paused: false,
            monitor: false,
            created: unix_secs(),
            last_cmd: "NULL",
            last_argv: Vec::new(),
        }
    }

    pub fn subscriptions(&self) -> usize {
        self.subs.len() + self.psubs.len()
    }
}
