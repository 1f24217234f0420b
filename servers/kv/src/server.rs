//! State shared by every worker, and a connection's own state.
//!
//! - `Server`: the keyspace (`store`), the configuration (`cfg`, see `crate::config`), the
//!   clients of every worker (`ClientInfo`), the pub/sub registry (`PubSub`), MONITOR clients,
//!   the slow log (`SlowEntry`), statistics (`Stats`, per-command `CmdStat`, `bump`);
//! - `Client`: one connection's protocol state, MULTI queue, WATCHed keys, subscriptions
//!   (`Subscriptions`) and blocking state (`Blocked`, `BlockReq`);
//! - `Msg`: what workers post to each other;
//! - `VERSION`, `lock`, `unix_secs`, `now_ms`.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::Mutex;

use bytes::Bytes;
use netstack::Conn;

use crate::config::Config;
use crate::resp::Parser;
use crate::store::{HMap, Set, Store};

/// The Redis version fs-kv reports (HELLO, INFO, LOLWUT): the one whose behaviour it follows.
pub const VERSION: &str = "7.0.15";

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

/// A client as CLIENT LIST/INFO/KILL see it, in its worker's table.
#[derive(Clone)]
pub struct ClientInfo {
    pub id: u64,
    pub worker: usize,
    pub conn: Conn,
    pub addr: SocketAddr,
    pub laddr: SocketAddr,
    pub db: usize,
    pub created: u64,
    pub resp: u8,
    /// Set by CLIENT SETNAME/SETINFO only: boxed, so an idle client does not pay for it.
    pub meta: Option<Box<ClientMeta>>,
}

#[derive(Clone, Default)]
pub struct ClientMeta {
    pub name: Bytes,
    pub lib_name: Bytes,
    pub lib_ver: Bytes,
}

impl ClientInfo {
    pub fn meta(&self) -> ClientMeta {
        self.meta.as_deref().cloned().unwrap_or_default()
    }

    pub fn meta_mut(&mut self) -> &mut ClientMeta {
        self.meta.get_or_insert_with(Box::default)
    }
}

/// One worker's clients, indexed by connection index (dense, like the worker's own table).
pub type ClientTable = Vec<Option<ClientInfo>>;

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
    /// Per worker: its clients. Locked by that worker on accept, close and CLIENT SETNAME, and
    /// by CLIENT LIST/KILL (rare), so workers do not contend on connection setup.
    pub clients: Vec<Mutex<ClientTable>>,
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
    /// `commands` is the size of the command table (`cmd::TABLE.len()`), for the per-command
    /// statistics.
    pub fn new(cfg: Config, databases: usize, workers: usize, commands: usize) -> Server {
        let seed = crate::store::fast_rand();
        let run_id: String = (0..40)
            .map(|i| b"0123456789abcdef"[((seed >> (i % 16 * 4)) as usize ^ i) & 15] as char)
            .collect();
        Server {
            store: Store::new(databases),
            cfg,
            stats: Stats::default(),
            cmdstats: (0..workers)
                .map(|_| (0..commands).map(|_| CmdStat::default()).collect())
                .collect(),
            errorstats: Mutex::new(HMap::default()),
            pubsub: Mutex::new(PubSub::default()),
            clients: (0..workers).map(|_| Mutex::new(Vec::new())).collect(),
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

    /// Adds a client to its worker's table.
    pub fn register_client(&self, info: ClientInfo) {
        let mut table = lock(&self.clients[info.worker]);
        let i = info.conn.index();
        if table.len() <= i {
            table.resize_with(i + 1, || None);
        }
        table[i] = Some(info);
    }

    pub fn unregister_client(&self, worker: usize, conn: Conn) {
        if let Some(slot) = lock(&self.clients[worker]).get_mut(conn.index()) {
            *slot = None;
        }
    }

    pub fn update_client(&self, worker: usize, conn: Conn, f: impl FnOnce(&mut ClientInfo)) {
        let mut table = lock(&self.clients[worker]);
        if let Some(c) = table.get_mut(conn.index()).and_then(Option::as_mut) {
            f(c);
        }
    }

    pub fn client_info(&self, worker: usize, conn: Conn) -> Option<ClientInfo> {
        lock(&self.clients[worker])
            .get(conn.index())?
            .as_ref()
            .filter(|c| c.conn == conn)
            .cloned()
    }

    /// Every client of every worker, by id.
    pub fn all_clients(&self) -> Vec<ClientInfo> {
        let mut all: Vec<ClientInfo> = self
            .clients
            .iter()
            .flat_map(|t| lock(t).iter().flatten().cloned().collect::<Vec<_>>())
            .collect();
        all.sort_by_key(|c| c.id);
        all
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

/// Unix time in milliseconds.
pub fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
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
    /// The command's arguments (filled in by the dispatcher), to re-run it when woken.
    pub argv: Vec<Bytes>,
    pub keys: Vec<Bytes>,
    pub timeout_ms: u64,
    pub null_array: bool,
}

pub struct Client {
    pub id: u64,
    pub conn: Conn,
    pub addr: SocketAddr,
    pub db: usize,
    pub authed: bool,
    pub parser: Parser,
    /// Unparsed input carried over from earlier reads (a partial frame).
    pub pending: Vec<u8>,
    /// MULTI queue (argv copies); None outside MULTI.
    pub multi: Option<Vec<Vec<Bytes>>>,
    pub multi_dirty: bool,
    pub watched: Vec<(usize, Bytes, u64)>,
    /// Channels and patterns, once the client subscribed to something.
    pub pubsub: Option<Box<Subscriptions>>,
    pub blocked: Option<Box<Blocked>>,
    pub block_seq: u64,
    pub close_after: bool,
    pub paused: bool,
    pub monitor: bool,
    pub last_cmd: &'static str,
}

impl Client {
    pub fn new(id: u64, conn: Conn, addr: SocketAddr, authed: bool) -> Client {
        Client {
            id,
            conn,
            addr,
            db: 0,
            authed,
            parser: Parser::default(),
            pending: Vec::new(),
            multi: None,
            multi_dirty: false,
            watched: Vec::new(),
            pubsub: None,
            blocked: None,
            block_seq: 0,
            close_after: false,
            paused: false,
            monitor: false,
            last_cmd: "NULL",
        }
    }

    pub fn subscriptions(&self) -> usize {
        self.pubsub
            .as_ref()
            .map_or(0, |s| s.channels.len() + s.patterns.len())
    }

    pub fn pubsub_mut(&mut self) -> &mut Subscriptions {
        self.pubsub.get_or_insert_with(|| {
            Box::new(Subscriptions {
                channels: crate::store::new_set(),
                patterns: crate::store::new_set(),
            })
        })
    }
}

/// A subscribed client's channels and patterns, in subscription order.
pub struct Subscriptions {
    pub channels: Set<Bytes>,
    pub patterns: Set<Bytes>,
}
