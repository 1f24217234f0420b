//! The process's configuration values, shared by every worker through `Server::cfg`: `Config`
//! (the knobs CONFIG GET/SET and DEBUG change at run time, and the fixed ones from the command
//! line), the eviction `Policy`, and `parse_memory` for sizes like `100mb`.

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize};
use std::sync::{Mutex, RwLock};

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
    /// Whether workers delete expired keys in the background (DEBUG SET-ACTIVE-EXPIRE).
    pub active_expire: AtomicBool,
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
            active_expire: AtomicBool::new(true),
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

/// Redis memory units: `100`, `1k`, `1kb`, `5mb`, `1gb` (k = 1000, kb = 1024).
pub fn parse_memory(s: &str) -> Option<u64> {
    let s = s.trim().to_ascii_lowercase();
    let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let (n, unit) = s.split_at(split);
    let n: u64 = n.parse().ok()?;
    let mul = match unit {
        "" | "b" => 1,
        "k" => 1000,
        "kb" => 1024,
        "m" => 1_000_000,
        "mb" => 1 << 20,
        "g" => 1_000_000_000,
        "gb" => 1 << 30,
        _ => return None,
    };
    n.checked_mul(mul)
}
