//! `KeyMap`: one database's table of keys, compact and chunked (see the type's doc).

use super::hash::hash_key;
use super::value::{Entry, Small};

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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::value::{Str, Value};

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
}
