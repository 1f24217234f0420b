//! The one hasher of the keyspace (foldhash with a fixed seed, so every worker hashes a key
//! alike) and the collection types built on it: `Map`/`Set` (insertion-ordered, for hash and
//! set values), `HMap` (plain hash map), and `hash_key`, which picks a key's shard and its
//! bucket in the shard's `KeyMap` from one hash.

use std::hash::BuildHasher;

pub type Hasher = foldhash::fast::FixedState;
pub type Map<K, V> = indexmap::IndexMap<K, V, Hasher>;
pub type Set<K> = indexmap::IndexSet<K, Hasher>;
pub type HMap<K, V> = hashbrown::HashMap<K, V, Hasher>;

pub fn new_map<K, V>() -> Map<K, V> {
    Map::with_hasher(Hasher::default())
}

pub fn new_set<K>() -> Set<K> {
    Set::with_hasher(Hasher::default())
}

#[inline]
pub fn hash_key(key: &[u8]) -> u64 {
    Hasher::default().hash_one(key)
}
