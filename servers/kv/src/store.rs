//! The keyspace: lock-striped shards shared by every worker.
//!
//! A key lives in shard `hash(key) % SHARDS`; each shard holds that slice of every database.
//! A command locks the shards of its keys in ascending order (no deadlock), EXEC and
//! whole-keyspace commands lock them all. With one worker the locks are never contended.

use std::collections::{BTreeSet, VecDeque};
use std::hash::BuildHasher;
use std::ops::Deref;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard};

use bytes::Bytes;
use netstack::Conn;

pub type Hasher = foldhash::fast::FixedState;
pub type Map<K, V> = indexmap::IndexMap<K, V, Hasher>;
pub type Set<K> = indexmap::IndexSet<K, Hasher>;
pub type HMap<K, V> = hashbrown::HashMap<K, V, Hasher>;

pub const SHARDS: usize = 64;

pub fn new_map<K, V>() -> Map<K, V> {
    Map::with_hasher(Hasher::default())
}

pub fn new_set<K>() -> Set<K> {
    Set::with_hasher(Hasher::default())
}

/// A float that orders totally (scores are never NaN).
#[derive(Copy, Clone, Debug, PartialEq, PartialOrd)]
pub struct Score(pub f64);
impl Eq for Score {}
#[allow(clippy::derive_ord_xor_partial_ord)]
impl Ord for Score {
    fn cmp(&self, o: &Self) -> std::cmp::Ordering {
        self.0
            .partial_cmp(&o.0)
            .unwrap_or(std::cmp::Ordering::Equal)
    }
}

#[derive(Default, Clone)]
pub struct ZSet {
    pub scores: HMap<Bytes, f64>,
    pub tree: BTreeSet<(Score, Bytes)>,
}

impl ZSet {
    pub fn len(&self) -> usize {
        self.scores.len()
    }

    pub fn is_empty(&self) -> bool {
        self.scores.is_empty()
    }

    /// Sets a member's score; returns true when the member is new.
    pub fn insert(&mut self, m: Bytes, s: f64) -> bool {
        match self.scores.insert(m.clone(), s) {
            Some(old) => {
                self.tree.remove(&(Score(old), m.clone()));
                self.tree.insert((Score(s), m));
                false
            }
            None => {
                self.tree.insert((Score(s), m));
                true
            }
        }
    }

    pub fn remove(&mut self, m: &[u8]) -> bool {
        match self.scores.remove_entry(m) {
            Some((k, s)) => {
                self.tree.remove(&(Score(s), k));
                true
            }
            None => false,
        }
    }

    /// 0-based rank in ascending order.
    pub fn rank(&self, m: &[u8]) -> Option<usize> {
        let s = *self.scores.get(m)?;
        Some(
            self.tree
                .range(..(Score(s), Bytes::copy_from_slice(m)))
                .count(),
        )
    }
}

/// Bytes up to this length are stored inside the entry (keys and string values).
pub const INLINE: usize = 22;

/// A byte string stored inline up to [`INLINE`] bytes (no heap block, like Redis's embstr),
/// otherwise as one exact-size heap block. 24 bytes; no `unsafe`.
#[derive(Clone)]
pub enum Small {
    Inline { len: u8, buf: [u8; INLINE] },
    Heap(Box<[u8]>),
}

impl Small {
    #[inline]
    pub fn new(s: &[u8]) -> Small {
        if s.len() <= INLINE {
            let mut buf = [0u8; INLINE];
            buf[..s.len()].copy_from_slice(s);
            Small::Inline {
                len: s.len() as u8,
                buf,
            }
        } else {
            Small::Heap(s.into())
        }
    }

    pub fn from_vec(v: Vec<u8>) -> Small {
        if v.len() <= INLINE {
            Small::new(&v)
        } else {
            Small::Heap(v.into_boxed_slice())
        }
    }

    #[inline]
    pub fn as_slice(&self) -> &[u8] {
        match self {
            Small::Inline { len, buf } => &buf[..*len as usize],
            Small::Heap(b) => b,
        }
    }
}

impl Deref for Small {
    type Target = [u8];
    #[inline]
    fn deref(&self) -> &[u8] {
        self.as_slice()
    }
}

/// A string value. Small and medium values are a [`Small`] (replies copy them, which is
/// cheaper than referencing below `ZERO_COPY_MIN`); large ones stay a `Bytes` that a reply
/// references without copying. 24 bytes.
#[derive(Clone)]
pub enum Str {
    Small(Small),
    Shared(Box<Bytes>),
}

impl Str {
    #[inline]
    pub fn new(s: &[u8]) -> Str {
        if s.len() >= crate::resp::ZERO_COPY_MIN {
            Str::Shared(Box::new(Bytes::copy_from_slice(s)))
        } else {
            Str::Small(Small::new(s))
        }
    }

    pub fn from_vec(v: Vec<u8>) -> Str {
        if v.len() >= crate::resp::ZERO_COPY_MIN {
            Str::Shared(Box::new(Bytes::from(v)))
        } else {
            Str::Small(Small::from_vec(v))
        }
    }

    #[inline]
    pub fn as_slice(&self) -> &[u8] {
        match self {
            Str::Small(s) => s,
            Str::Shared(b) => b,
        }
    }

    /// The value as `Bytes`: shares a large value, copies a small one.
    pub fn to_bytes(&self) -> Bytes {
        match self {
            Str::Small(s) => Bytes::copy_from_slice(s),
            Str::Shared(b) => Bytes::clone(b),
        }
    }
}

impl Deref for Str {
    type Target = [u8];
    #[inline]
    fn deref(&self) -> &[u8] {
        self.as_slice()
    }
}

/// Aggregates are boxed so that a string entry (the common case) stays small.
#[allow(clippy::box_collection)]
#[derive(Clone)]
pub enum Value {
    Str(Str),
    List(Box<VecDeque<Bytes>>),
    Hash(Box<Map<Bytes, Bytes>>),
    Set(Box<Set<Bytes>>),
    ZSet(Box<ZSet>),
}

impl Value {
    pub fn type_name(&self) -> &'static str {
        match self {
            Value::Str(_) => "string",
            Value::List(_) => "list",
            Value::Hash(_) => "hash",
            Value::Set(_) => "set",
            Value::ZSet(_) => "zset",
        }
    }
}

pub struct Entry {
    pub val: Value,
    /// Absolute expiry in unix milliseconds; 0 = none.
    pub exp: u64,
    /// LRU clock (seconds, 24 bits) or LFU (16-bit minutes << 8 | 8-bit log counter).
    pub lru: u32,
}

/// A client waiting in a blocking command for a key of this shard.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct Waiter {
    pub worker: usize,
    pub conn: Conn,
    pub seq: u64,
}

const _: () = assert!(std::mem::size_of::<Small>() == 24);
const _: () = assert!(std::mem::size_of::<Value>() == 24);
const _: () = assert!(std::mem::size_of::<Slot>() == 64);

/// One key of a database: key and entry side by side in one 64-byte cache line.
#[repr(align(64))]
pub struct Slot {
    pub key: Small,
    pub e: Entry,
}

/// Slots per chunk of a [`KeyMap`] (64 KiB chunks).
const CHUNK_SHIFT: u32 = 10;
const CHUNK: usize = 1 << CHUNK_SHIFT;

/// A database's table: a compact `IndexMap`. Slots live densely at positions `0..len` (removal
/// swaps the last slot in, so SCAN, RANDOMKEY, eviction sampling and the active-expiry cursor
/// work on positions) and are found through a hashbrown table of `u32` positions (4 bytes + 1
/// control byte per bucket; hashes are recomputed on resize instead of stored). The slots are
/// stored in chunks of [`CHUNK`]: the first grows by 1/4 up to a chunk, further chunks are
/// allocated whole, so a big table never reallocates (no copy under the shard lock, no heap
/// holes) and its slack is under one chunk. Empty chunks are freed; a lone first chunk shrinks
/// below half use, the index below a quarter.
#[derive(Default)]
pub struct KeyMap {
    chunks: Vec<Vec<Slot>>,
    len: usize,
    index: hashbrown::HashTable<u32>,
}

#[inline]
fn slot_at(chunks: &[Vec<Slot>], i: usize) -> &Slot {
    &chunks[i >> CHUNK_SHIFT][i & (CHUNK - 1)]
}

impl KeyMap {
    #[inline]
    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Position of `key` given its `hash_key`.
    #[inline]
    pub fn find(&self, hash: u64, key: &[u8]) -> Option<usize> {
        let chunks = &self.chunks;
        self.index
            .find(hash, |&i| slot_at(chunks, i as usize).key.as_slice() == key)
            .map(|&i| i as usize)
    }

    pub fn get_index_of(&self, key: &[u8]) -> Option<usize> {
        self.find(hash_key(key), key)
    }

    pub fn get(&self, key: &[u8]) -> Option<&Entry> {
        self.get_index_of(key).map(|i| &slot_at(&self.chunks, i).e)
    }

    pub fn get_mut(&mut self, key: &[u8]) -> Option<&mut Entry> {
        let i = self.get_index_of(key)?;
        self.get_index_mut(i).map(|(_, e)| e)
    }

    #[inline]
    pub fn get_index(&self, i: usize) -> Option<(&Small, &Entry)> {
        (i < self.len).then(|| {
            let s = slot_at(&self.chunks, i);
            (&s.key, &s.e)
        })
    }

    #[inline]
    pub fn get_index_mut(&mut self, i: usize) -> Option<(&Small, &mut Entry)> {
        if i >= self.len {
            return None;
        }
        let s = &mut self.chunks[i >> CHUNK_SHIFT][i & (CHUNK - 1)];
        Some((&s.key, &mut s.e))
    }

    pub fn iter(&self) -> impl Iterator<Item = (&Small, &Entry)> {
        self.chunks.iter().flatten().map(|s| (&s.key, &s.e))
    }

    /// Adds a key known to be absent; `hash` is its `hash_key`.
    pub fn insert_new(&mut self, hash: u64, key: &[u8], e: Entry) {
        let i = u32::try_from(self.len).expect("4G keys per shard");
        if self.len & (CHUNK - 1) == 0 && self.len >> CHUNK_SHIFT == self.chunks.len() {
            // A new chunk: the first starts small, later ones are allocated whole.
            self.chunks.push(if self.chunks.is_empty() {
                Vec::new()
            } else {
                Vec::with_capacity(CHUNK)
            });
        }
        let last = self.chunks.last_mut().expect("a chunk");
        if last.len() == last.capacity() {
            // 1.25x growth of the first chunk: at most 25 % slack instead of Vec's 100 %.
            let cap = last.capacity();
            last.reserve_exact((cap / 4).max(4).min(CHUNK - cap));
        }
        last.push(Slot {
            key: Small::new(key),
            e,
        });
        self.len += 1;
        let chunks = &self.chunks;
        self.index
            .insert_unique(hash, i, |&j| hash_key(&slot_at(chunks, j as usize).key));
    }

    /// Removes `key`; the last slot moves into its position.
    pub fn swap_remove(&mut self, key: &[u8]) -> Option<Entry> {
        let chunks = &self.chunks;
        let found = self
            .index
            .find_entry(hash_key(key), |&i| {
                slot_at(chunks, i as usize).key.as_slice() == key
            })
            .ok()?;
        let i = found.remove().0 as usize;
        let last = self.len - 1;
        if i != last {
            let h = hash_key(&slot_at(&self.chunks, last).key);
            *self
                .index
                .find_mut(h, |&j| j as usize == last)
                .expect("last slot indexed") = i as u32;
        }
        let tail = self.chunks.last_mut().expect("a chunk");
        let moved = tail.pop().expect("last slot");
        if tail.is_empty() {
            self.chunks.pop();
        }
        self.len -= 1;
        let slot = if i == last {
            moved
        } else {
            std::mem::replace(&mut self.chunks[i >> CHUNK_SHIFT][i & (CHUNK - 1)], moved)
        };
        // Shrink with hysteresis: the slots below half use, the index below a quarter.
        let len = self.len;
        if let [only] = &mut self.chunks[..] {
            if only.capacity() > 64 && len < only.capacity() / 2 {
                only.shrink_to(len + len / 4);
            }
        }
        if len < self.index.capacity() / 4 && self.index.capacity() > 64 {
            let chunks = &self.chunks;
            self.index
                .shrink_to(len, |&j| hash_key(&slot_at(chunks, j as usize).key));
        }
        Some(slot.e)
    }
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

pub fn hash_key(key: &[u8]) -> u64 {
    Hasher::default().hash_one(key)
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

/// Redis's LRU clock: seconds, 24 bits.
pub fn lru_clock(now_ms: u64) -> u32 {
    ((now_ms / 1000) & 0xFF_FFFF) as u32
}

fn lfu_init(clock: u32) -> u32 {
    (((clock / 60) & 0xFFFF) << 8) | 5
}

/// Updates the access clock (LRU) or the logarithmic counter (LFU), like Redis.
fn touch(e: &mut Entry, clock: u32, lfu: bool) {
    if !lfu {
        e.lru = clock;
        return;
    }
    let minutes = (clock / 60) & 0xFFFF;
    let mut counter = lfu_decayed(e.lru, clock);
    if counter < 255 {
        let base = counter.saturating_sub(5) as f64;
        let p = 1.0 / (base * 10.0 + 1.0);
        if fast_rand_f64() < p {
            counter += 1;
        }
    }
    e.lru = (minutes << 8) | counter;
}

/// The LFU counter after decay (one step per minute idle, lfu-decay-time 1).
pub fn lfu_decayed(lru: u32, clock: u32) -> u32 {
    let minutes = (clock / 60) & 0xFFFF;
    let last = lru >> 8;
    let idle = minutes.wrapping_sub(last) & 0xFFFF;
    (lru & 0xFF).saturating_sub(idle)
}

pub fn idle_seconds(lru: u32, clock: u32) -> u64 {
    (clock.wrapping_sub(lru) & 0xFF_FFFF) as u64
}

thread_local! {
    static RNG: std::cell::Cell<u64> = std::cell::Cell::new(seed());
}

fn seed() -> u64 {
    let t = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(1, |d| d.as_nanos() as u64);
    let id = &t as *const u64 as u64;
    (t ^ id.rotate_left(32)) | 1
}

/// xorshift64*: sampling for eviction, SPOP, RANDOMKEY; no cryptographic need.
pub fn fast_rand() -> u64 {
    RNG.with(|r| {
        let mut x = r.get();
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        r.set(x);
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    })
}

pub fn fast_rand_f64() -> f64 {
    (fast_rand() >> 11) as f64 / (1u64 << 53) as f64
}

/// Redis glob matching (`*`, `?`, `[a-z]`, `[^x]`, `\` escape), case-sensitive.
pub fn glob(p: &[u8], s: &[u8]) -> bool {
    let (mut pi, mut si) = (0, 0);
    let (mut star_p, mut star_s) = (usize::MAX, 0);
    while si < s.len() {
        if pi < p.len() {
            match p[pi] {
                b'*' => {
                    star_p = pi;
                    star_s = si;
                    pi += 1;
                    continue;
                }
                b'?' => {
                    pi += 1;
                    si += 1;
                    continue;
                }
                b'[' => {
                    if let Some((matched, next)) = class(p, pi, s[si]) {
                        if matched {
                            pi = next;
                            si += 1;
                            continue;
                        }
                    }
                }
                b'\\' if pi + 1 < p.len() && p[pi + 1] == s[si] => {
                    pi += 2;
                    si += 1;
                    continue;
                }
                c if c == s[si] => {
                    pi += 1;
                    si += 1;
                    continue;
                }
                _ => {}
            }
        }
        if star_p == usize::MAX {
            return false;
        }
        pi = star_p + 1;
        star_s += 1;
        si = star_s;
    }
    while pi < p.len() && p[pi] == b'*' {
        pi += 1;
    }
    pi == p.len()
}

/// Matches `c` against the class starting at `p[start] == '['`: (matched, index after `]`).
fn class(p: &[u8], start: usize, c: u8) -> Option<(bool, usize)> {
    let mut i = start + 1;
    let not = p.get(i) == Some(&b'^');
    if not {
        i += 1;
    }
    let mut matched = false;
    loop {
        let ch = *p.get(i)?;
        if ch == b']' {
            break;
        }
        if ch == b'\\' && i + 1 < p.len() {
            i += 1;
            matched |= p[i] == c;
        } else if p.get(i + 1) == Some(&b'-') && i + 2 < p.len() && p[i + 2] != b']' {
            let (mut lo, mut hi) = (ch, p[i + 2]);
            if lo > hi {
                std::mem::swap(&mut lo, &mut hi);
            }
            matched |= c >= lo && c <= hi;
            i += 2;
        } else {
            matched |= ch == c;
        }
        i += 1;
    }
    Some((matched != not, i + 1))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(n: u64) -> Entry {
        Entry {
            val: Value::Str(Str::new(&n.to_le_bytes())),
            exp: n,
            lru: 0,
        }
    }

    /// The compact table against a std HashMap model: inserts, swap-removes (with shrinking),
    /// lookups by key and by position, short (inline) and long (heap) keys.
    #[test]
    fn key_map_matches_a_model() {
        let mut m = KeyMap::default();
        let mut model = std::collections::HashMap::new();
        let key = |i: u64| {
            let long = if i.is_multiple_of(3) {
                "-long-enough-to-go-to-the-heap"
            } else {
                ""
            };
            format!("k{i}{long}").into_bytes()
        };
        for round in 0..3u64 {
            for i in 0..5000u64 {
                let k = key(i);
                if m.get_index_of(&k).is_none() {
                    m.insert_new(hash_key(&k), &k, entry(i + round));
                    model.insert(k, i + round);
                }
            }
            for i in (0..5000u64).filter(|i| (i + round) % 5 != 0) {
                let k = key(i);
                assert_eq!(m.swap_remove(&k).map(|e| e.exp), model.remove(&k));
            }
            assert_eq!(m.len(), model.len());
            for (k, v) in &model {
                assert_eq!(m.get(k).map(|e| e.exp), Some(*v));
            }
            let mut by_pos = 0;
            for p in 0..m.len() {
                let (k, e) = m.get_index(p).expect("in range");
                assert_eq!(model.get(k.as_slice()), Some(&e.exp));
                by_pos += 1;
            }
            assert_eq!(by_pos, model.len());
            assert!(m.get(b"absent").is_none());
        }
    }

    #[test]
    fn strings_inline_heap_and_shared() {
        for n in [0, 1, INLINE, INLINE + 1, 4095, 4096, 5000] {
            let v: Vec<u8> = (0..n).map(|i| i as u8).collect();
            let s = Str::new(&v);
            assert_eq!(s.as_slice(), &v[..]);
            assert_eq!(Str::from_vec(v.clone()).as_slice(), &v[..]);
            assert_eq!(&s.to_bytes()[..], &v[..]);
            let want_inline = n <= INLINE;
            assert_eq!(matches!(s, Str::Small(Small::Inline { .. })), want_inline);
            assert_eq!(matches!(s, Str::Shared(_)), n >= 4096);
            assert_eq!(Small::new(&v).as_slice(), &v[..]);
        }
    }

    #[test]
    fn glob_patterns() {
        assert!(glob(b"*", b"anything"));
        assert!(glob(b"h?llo", b"hello"));
        assert!(glob(b"h[ae]llo", b"hallo"));
        assert!(!glob(b"h[^e]llo", b"hello"));
        assert!(glob(b"h[a-b]llo", b"hbllo"));
        assert!(glob(b"k*:*", b"key:1"));
        assert!(!glob(b"k*:x", b"key:1"));
        assert!(glob(b"a\\*", b"a*"));
    }
}
