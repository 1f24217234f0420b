//! The keyspace: lock-striped shards shared by every worker.
//!
//! A key lives in shard `(hash_key(key) >> 40) % SHARDS`; each shard holds that slice of every
//! database. A command locks the shards of its keys in ascending order (no deadlock), EXEC and
//! whole-keyspace commands lock them all. With one worker the locks are never contended.
//!
//! - here: `Store` (the shards), `Shard` and `Db`, `Guards` (the locks one command holds) and
//!   `Keys` (what a command handler sees: lookups with lazy expiry, writes, WATCH versions,
//!   wake-ups of blocked clients); `Waiter`, `KeyStats`, `shard_of`, `SHARDS`;
//! - `value`: `Value`, `Str`, `Small`, `ZSet`, `Score`, `Entry`;
//! - `keymap`: `KeyMap`, a database's compact table;
//! - `hash`: the hasher and `Map`, `Set`, `HMap`, `hash_key`;
//! - `access`: the LRU/LFU access clock and `fast_rand`;
//! - `glob`: Redis glob matching.

pub mod access;
pub mod glob;
pub mod hash;
pub mod keymap;
pub mod value;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard};

use bytes::Bytes;
use netstack::Conn;

pub use access::{fast_rand, fast_rand_f64, idle_seconds, lfu_decayed, lru_clock};
pub use glob::glob;
pub use hash::{hash_key, new_map, new_set, HMap, Hasher, Map, Set};
pub use keymap::KeyMap;
pub use value::{Entry, Score, Small, Str, Value, ZSet, INLINE};

use access::{lfu_init, touch};

pub const SHARDS: usize = 64;

/// A client waiting in a blocking command for a key of this shard.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct Waiter {
    pub worker: usize,
    pub conn: Conn,
    pub seq: u64,
}

#[derive(Default)]
pub struct Db {
    pub map: KeyMap,
    /// Keys with a TTL, for INFO's `expires=` count.
    pub expires: usize,
}

pub struct Shard {
    pub dbs: Vec<Db>,
    /// Blocked clients per (db, key).
    pub waiters: HMap<(usize, Bytes), Vec<Waiter>>,
    /// Versions of WATCHed keys: bumped on every modification while watched.
    pub watched: HMap<(usize, Bytes), (u64, usize)>,
    /// Blocked clients to wake, collected under the lock and posted by the command's worker.
    pub wakes: Vec<Waiter>,
    /// Incremental position of the active-expiry scan, per db.
    pub expire_cursor: Vec<usize>,
    /// Counters kept under the shard lock (no shared atomics on the hot path).
    pub hits: u64,
    pub misses: u64,
    pub expired: u64,
}

/// Server-wide counters updated under shard locks or from any worker.
#[derive(Default)]
pub struct KeyStats {
    pub evicted: AtomicU64,
    pub dirty: AtomicU64,
}

pub struct Store {
    pub shards: Vec<Mutex<Shard>>,
    pub databases: usize,
    pub stats: KeyStats,
    pub lfu: std::sync::atomic::AtomicBool,
}

pub fn shard_of(key: &[u8]) -> usize {
    shard_index(hash_key(key))
}

#[inline]
fn shard_index(h: u64) -> usize {
    (h >> 40) as usize % SHARDS
}

impl Store {
    pub fn new(databases: usize) -> Store {
        let shards = (0..SHARDS)
            .map(|_| {
                Mutex::new(Shard {
                    dbs: (0..databases).map(|_| Db::default()).collect(),
                    waiters: HMap::default(),
                    watched: HMap::default(),
                    wakes: Vec::new(),
                    expire_cursor: vec![0; databases],
                    hits: 0,
                    misses: 0,
                    expired: 0,
                })
            })
            .collect();
        Store {
            shards,
            databases,
            stats: KeyStats::default(),
            lfu: Default::default(),
        }
    }

    pub fn lock(&self, i: usize) -> MutexGuard<'_, Shard> {
        self.shards[i].lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// Locked shards for one command: the single-key case holds one guard without allocating.
pub enum Guards<'a> {
    None,
    One(usize, MutexGuard<'a, Shard>),
    Many(Vec<(usize, MutexGuard<'a, Shard>)>),
}

impl<'a> Guards<'a> {
    /// Locks the shards of `keys` in ascending shard order.
    pub fn for_keys(store: &'a Store, keys: &mut dyn Iterator<Item = &[u8]>) -> Guards<'a> {
        let mut idx: Vec<usize> = keys.map(shard_of).collect();
        match idx.len() {
            0 => Guards::None,
            1 => Guards::One(idx[0], store.lock(idx[0])),
            _ => {
                idx.sort_unstable();
                idx.dedup();
                if idx.len() == 1 {
                    return Guards::One(idx[0], store.lock(idx[0]));
                }
                Guards::Many(idx.into_iter().map(|i| (i, store.lock(i))).collect())
            }
        }
    }

    pub fn all(store: &'a Store) -> Guards<'a> {
        Guards::Many((0..SHARDS).map(|i| (i, store.lock(i))).collect())
    }
}

/// What a command handler sees of the keyspace: the shards it locked, its db, the time.
pub struct Keys<'g> {
    shards: KeyShards<'g>,
    pub db: usize,
    pub now: u64,
    pub lru_clock: u32,
    pub lfu: bool,
}

enum KeyShards<'g> {
    None,
    One(usize, &'g mut Shard),
    Many(Vec<(usize, &'g mut Shard)>),
}

impl<'g> Keys<'g> {
    pub fn new(guards: &'g mut Guards<'_>, db: usize, now: u64, store: &'g Store) -> Keys<'g> {
        let shards = match guards {
            Guards::None => KeyShards::None,
            Guards::One(i, g) => KeyShards::One(*i, g),
            Guards::Many(v) => KeyShards::Many(v.iter_mut().map(|(i, g)| (*i, &mut **g)).collect()),
        };
        let lfu = store.lfu.load(Ordering::Relaxed);
        Keys {
            shards,
            db,
            now,
            lru_clock: lru_clock(now),
            lfu,
        }
    }

    /// The locked shard holding `key`. A key outside the locked set is a command-table bug.
    pub fn shard(&mut self, key: &[u8]) -> &mut Shard {
        self.shard_hashed(hash_key(key))
    }

    /// The locked shard for a key of hash `h` (`hash_key`), hashed once for shard and table.
    #[inline]
    fn shard_hashed(&mut self, h: u64) -> &mut Shard {
        let want = shard_index(h);
        match &mut self.shards {
            KeyShards::One(i, s) if *i == want => s,
            KeyShards::Many(v) => match v.binary_search_by_key(&want, |(i, _)| *i) {
                Ok(p) => v[p].1,
                Err(_) => panic!("shard {want} not locked"),
            },
            _ => panic!("shard {want} not locked"),
        }
    }

    pub fn each_shard(&mut self) -> impl Iterator<Item = &mut Shard> {
        let v: Vec<&mut Shard> = match &mut self.shards {
            KeyShards::None => vec![],
            KeyShards::One(_, s) => vec![&mut **s],
            KeyShards::Many(v) => v.iter_mut().map(|(_, s)| &mut **s).collect(),
        };
        v.into_iter()
    }

    /// Looks a key up for reading or writing: expired keys are deleted first (lazy expiry), the
    /// access clock is updated.
    pub fn get(&mut self, key: &[u8]) -> Option<&mut Entry> {
        self.lookup(key, false)
    }

    /// A read lookup: also counts keyspace hits and misses.
    pub fn read(&mut self, key: &[u8]) -> Option<&mut Entry> {
        self.lookup(key, true)
    }

    /// One hash lookup on the hot path: index, then expiry check, then the entry.
    fn lookup(&mut self, key: &[u8], count: bool) -> Option<&mut Entry> {
        let (db, now, clock, lfu) = (self.db, self.now, self.lru_clock, self.lfu);
        let h = hash_key(key);
        let shard = self.shard_hashed(h);
        let Some(i) = shard.dbs[db].map.find(h, key) else {
            shard.misses += count as u64;
            return None;
        };
        let exp = shard.dbs[db].map.get_index(i).expect("index").1.exp;
        if exp != 0 && exp <= now {
            shard.remove(db, key);
            shard.modified(db, key);
            shard.expired += 1;
            shard.misses += count as u64;
            return None;
        }
        shard.hits += count as u64;
        let e = shard.dbs[db].map.get_index_mut(i).expect("index").1;
        touch(e, clock, lfu);
        Some(e)
    }

    /// A lookup that leaves the access clock alone (OBJECT IDLETIME, TTL).
    pub fn peek(&mut self, key: &[u8]) -> Option<&mut Entry> {
        let (db, now) = (self.db, self.now);
        let shard = self.shard(key);
        shard.expire_if_needed(db, key, now);
        shard.dbs[db].map.get_mut(key)
    }

    pub fn exists(&mut self, key: &[u8]) -> bool {
        self.get(key).is_some()
    }

    /// Stores a new value, replacing any existing one (and its TTL unless `keep_ttl`).
    pub fn set(&mut self, key: &[u8], val: Value, exp: Option<u64>, keep_ttl: bool) {
        let (db, clock, lfu) = (self.db, self.lru_clock, self.lfu);
        let h = hash_key(key);
        let shard = self.shard_hashed(h);
        let d = &mut shard.dbs[db];
        match d.map.find(h, key) {
            Some(i) => {
                let e = d.map.get_index_mut(i).expect("index").1;
                e.val = val;
                if !keep_ttl || exp.is_some() {
                    let new = exp.unwrap_or(0);
                    d.expires = d.expires + (new != 0) as usize - (e.exp != 0) as usize;
                    e.exp = new;
                }
            }
            None => {
                let exp = exp.unwrap_or(0);
                d.expires += (exp != 0) as usize;
                let lru = if lfu { lfu_init(clock) } else { clock };
                d.map.insert_new(h, key, Entry { val, exp, lru });
            }
        }
        shard.modified(db, key);
    }

    pub fn remove(&mut self, key: &[u8]) -> Option<Entry> {
        let db = self.db;
        let shard = self.shard(key);
        let e = shard.remove(db, key)?;
        shard.modified(db, key);
        Some(e)
    }

    /// Marks a key as changed (WATCH) after an in-place modification.
    pub fn modified(&mut self, key: &[u8]) {
        let db = self.db;
        self.shard(key).modified(db, key);
    }

    /// Wakes clients blocked on `key` (a list or zset just got elements).
    pub fn ready(&mut self, key: &[u8]) {
        let db = self.db;
        let shard = self.shard(key);
        if !shard.waiters.is_empty() {
            if let Some(ws) = shard.waiters.get(&(db, Bytes::copy_from_slice(key))) {
                let ws = ws.clone();
                shard.wakes.extend(ws);
            }
        }
    }

    pub fn set_expire(&mut self, key: &[u8], exp: u64) {
        let db = self.db;
        let shard = self.shard(key);
        let d = &mut shard.dbs[db];
        if let Some(e) = d.map.get_mut(key) {
            d.expires = d.expires + (exp != 0) as usize - (e.exp != 0) as usize;
            e.exp = exp;
        }
        shard.modified(db, key);
    }

    pub fn take_wakes(&mut self) -> Vec<Waiter> {
        let mut all = Vec::new();
        for s in self.each_shard() {
            all.append(&mut s.wakes);
        }
        all
    }
}

impl Shard {
    /// Deletes `key` if its TTL passed; true if it did.
    pub fn expire_if_needed(&mut self, db: usize, key: &[u8], now: u64) -> bool {
        let d = &mut self.dbs[db];
        match d.map.get(key) {
            Some(e) if e.exp != 0 && e.exp <= now => {
                self.remove(db, key);
                self.modified(db, key);
                self.expired += 1;
                true
            }
            _ => false,
        }
    }

    pub fn remove(&mut self, db: usize, key: &[u8]) -> Option<Entry> {
        let d = &mut self.dbs[db];
        let e = d.map.swap_remove(key)?;
        d.expires -= (e.exp != 0) as usize;
        Some(e)
    }

    pub fn modified(&mut self, db: usize, key: &[u8]) {
        if self.watched.is_empty() {
            return;
        }
        if let Some(v) = self.watched.get_mut(&(db, Bytes::copy_from_slice(key))) {
            v.0 += 1;
        }
    }

    /// Every watched key of `db` (or all dbs) changes: FLUSHDB, FLUSHALL, SWAPDB.
    pub fn modified_all(&mut self, db: Option<usize>) {
        for ((d, _), v) in self.watched.iter_mut() {
            if db.is_none_or(|db| db == *d) {
                v.0 += 1;
            }
        }
    }

    /// One round of active expiry over `db`: checks up to `budget` keys from a rolling cursor.
    pub fn active_expire(&mut self, db: usize, now: u64, budget: usize) -> u64 {
        let mut expired = 0;
        if self.dbs[db].expires == 0 {
            return 0;
        }
        for _ in 0..budget {
            let len = self.dbs[db].map.len();
            if len == 0 {
                break;
            }
            let pos = self.expire_cursor[db] % len;
            self.expire_cursor[db] = pos + 1;
            let (k, e) = self.dbs[db].map.get_index(pos).expect("in range");
            if e.exp != 0 && e.exp <= now {
                let k = k.clone();
                self.remove(db, &k);
                self.modified(db, &k);
                // The last key moved into `pos`: look at it next.
                self.expire_cursor[db] = pos;
                self.expired += 1;
                expired += 1;
            }
        }
        expired
    }
}
