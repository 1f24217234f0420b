//! Out-of-order receive queue: `Bytes` slices of the received frames keyed by sequence
//! number, kept out of line (boxed in the TCB only while a hole exists). Bounded by the
//! receive window (segments beyond it are trimmed before they get here) and by a count.

use bytes::Bytes;

use super::seq::{gt, le, lt};

const MAX_SEGMENTS: usize = 256;

#[derive(Debug, Default)]
pub struct Reassembly {
    /// Sorted, disjoint (seq, data).
    segs: Vec<(u32, Bytes)>,
    bytes: u32,
    /// The most recently received range, reported first in SACK (RFC 2018 §4).
    last: (u32, u32),
}

impl Reassembly {
    /// Stores the parts of `data` at `seq` not already held. Returns false when it was all
    /// duplicate or did not fit.
    pub fn insert(&mut self, seq: u32, data: Bytes) -> bool {
        let end = seq.wrapping_add(data.len() as u32);
        self.last = (seq, end);
        let mut cur = seq;
        let mut i = self.segs.partition_point(|s| le(s_end(s), seq));
        let mut added = false;
        while lt(cur, end) {
            let next = self.segs.get(i).map(|s| (s.0, s_end(s)));
            match next {
                Some((a, b)) if le(a, cur) => {
                    cur = if gt(b, cur) { b } else { cur };
                    i += 1;
                }
                _ => {
                    let stop = match next {
                        Some((a, _)) if lt(a, end) => a,
                        _ => end,
                    };
                    if self.segs.len() >= MAX_SEGMENTS {
                        return added;
                    }
                    let from = cur.wrapping_sub(seq) as usize;
                    let to = stop.wrapping_sub(seq) as usize;
                    self.segs.insert(i, (cur, data.slice(from..to)));
                    self.bytes += (to - from) as u32;
                    added = true;
                    cur = stop;
                    i += 1;
                }
            }
        }
        added
    }

    /// The next in-order data at `rcv_nxt`, trimmed; drops anything entirely below it.
    pub fn pop(&mut self, rcv_nxt: u32) -> Option<Bytes> {
        while let Some(first) = self.segs.first() {
            if gt(first.0, rcv_nxt) {
                return None;
            }
            let (seq, data) = self.segs.remove(0);
            self.bytes -= data.len() as u32;
            let skip = rcv_nxt.wrapping_sub(seq) as usize;
            if skip < data.len() {
                return Some(data.slice(skip..));
            }
        }
        None
    }

    /// Bytes held.
    pub fn len(&self) -> u32 {
        self.bytes
    }

    /// Nothing held.
    pub fn is_empty(&self) -> bool {
        self.segs.is_empty()
    }

    /// SACK blocks: the one holding the latest segment first, then the others in order.
    pub fn sack_blocks(&self, out: &mut [Option<(u32, u32)>]) {
        let mut blocks: [(u32, u32); 4] = [(0, 0); 4];
        let mut n = 0;
        let mut first = None;
        let mut iter = self.segs.iter().peekable();
        while let Some(s) = iter.next() {
            let (l, mut r) = (s.0, s_end(s));
            while let Some(nx) = iter.peek() {
                if nx.0 != r {
                    break;
                }
                r = s_end(nx);
                iter.next();
            }
            if le(l, self.last.0) && lt(self.last.0, r) && first.is_none() {
                first = Some((l, r));
            } else if n < blocks.len() {
                blocks[n] = (l, r);
                n += 1;
            }
        }
        let ordered = first.into_iter().chain(blocks[..n].iter().copied());
        for (slot, b) in out.iter_mut().zip(ordered) {
            *slot = Some(b);
        }
    }

    /// Heap bytes.
    pub fn heap_size(&self) -> usize {
        self.segs.capacity() * core::mem::size_of::<(u32, Bytes)>()
    }
}

fn s_end(s: &(u32, Bytes)) -> u32 {
    s.0.wrapping_add(s.1.len() as u32)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn overlaps_are_trimmed_and_popped_in_order() {
        let mut r = Reassembly::default();
        let data = Bytes::from_static(b"abcdefghijklmnopqrstuvwxyz");
        assert!(r.insert(110, data.slice(10..15)));
        assert!(r.insert(120, data.slice(20..26)));
        assert!(!r.insert(111, data.slice(11..13)));
        assert!(r.insert(108, data.slice(8..22))); // fills 108..110 and 115..120
        assert_eq!(r.len(), 18);
        let mut sack = [None; 4];
        r.sack_blocks(&mut sack);
        assert_eq!(sack, [Some((108, 126)), None, None, None]);
        assert_eq!(r.pop(100), None);
        let mut out = Vec::new();
        let mut nxt = 109;
        while let Some(b) = r.pop(nxt) {
            nxt += b.len() as u32;
            out.extend_from_slice(&b);
        }
        assert_eq!(&out[..], b"jklmnopqrstuvwxyz");
        assert!(r.is_empty());
    }
}
