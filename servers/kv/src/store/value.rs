//! Values and entries: `Value` (string, list, hash, set, sorted set), the string forms `Str`
//! and `Small`, the sorted set `ZSet` with its `Score`, and `Entry` (value, expiry, access
//! clock) as stored per key.

use std::collections::{BTreeSet, VecDeque};
use std::ops::Deref;

use bytes::Bytes;

use super::hash::{HMap, Map, Set};
use crate::resp::ZERO_COPY_MIN;

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
        if s.len() >= ZERO_COPY_MIN {
            Str::Shared(Box::new(Bytes::copy_from_slice(s)))
        } else {
            Str::Small(Small::new(s))
        }
    }

    pub fn from_vec(v: Vec<u8>) -> Str {
        if v.len() >= ZERO_COPY_MIN {
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

const _: () = assert!(std::mem::size_of::<Small>() == 24);
const _: () = assert!(std::mem::size_of::<Value>() == 24);

#[cfg(test)]
mod tests {
    use super::*;

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
}
