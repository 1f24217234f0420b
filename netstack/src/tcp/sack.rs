//! The sender's SACK scoreboard (RFC 2018, RFC 6675 §3), kept out of line (boxed in the TCB
//! only while the peer has SACKed something).

use super::seq::{ge, gt, le, lt, max_seq};

/// Most blocks remembered; older information beyond it is dropped (RFC 2018 allows reneging).
const MAX_BLOCKS: usize = 32;

/// SACKed ranges above SND.UNA, sorted, disjoint and non-adjacent.
#[derive(Debug, Default, Clone)]
pub struct Scoreboard {
    blocks: Vec<(u32, u32)>,
    /// Highest SACKed sequence number (right edge), RFC 6675's HighACK-side marker.
    pub highest: u32,
}

impl Scoreboard {
    /// Merges the blocks of one ACK; ranges outside (SND.UNA, SND.MAX] are D-SACKs or bogus
    /// and ignored (RFC 2883 §4). Returns whether anything new was SACKed.
    pub fn update(&mut self, una: u32, max: u32, ranges: &[Option<(u32, u32)>]) -> bool {
        let mut new = false;
        for &(l, r) in ranges.iter().flatten() {
            if !lt(l, r) || le(r, una) || gt(r, max) || lt(l, una) {
                continue;
            }
            new |= self.insert(l, r);
        }
        new
    }

    fn insert(&mut self, mut l: u32, mut r: u32) -> bool {
        let base = self.blocks.first().map_or(l, |b| b.0);
        let key = |s: u32| s.wrapping_sub(base) as i32;
        // Blocks overlapping or touching [l, r) merge into one.
        let start = self.blocks.partition_point(|b| key(b.1) < key(l));
        let mut end = start;
        let mut covered = false;
        while end < self.blocks.len() && key(self.blocks[end].0) <= key(r) {
            let (bl, br) = self.blocks[end];
            covered |= le(bl, l) && ge(br, r);
            l = if lt(bl, l) { bl } else { l };
            r = max_seq(r, br);
            end += 1;
        }
        if covered {
            return false;
        }
        self.blocks.splice(start..end, [(l, r)]);
        if self.blocks.len() > MAX_BLOCKS {
            self.blocks.pop();
        }
        self.highest = self.blocks.last().map_or(r, |b| b.1);
        true
    }

    /// Forgets everything below the new SND.UNA.
    pub fn ack(&mut self, una: u32) {
        self.blocks.retain(|b| gt(b.1, una));
        if let Some(first) = self.blocks.first_mut() {
            if lt(first.0, una) {
                first.0 = una;
            }
        }
    }

    /// No SACK information.
    pub fn is_empty(&self) -> bool {
        self.blocks.is_empty()
    }

    /// Total SACKed bytes.
    pub fn sacked_bytes(&self) -> u32 {
        self.blocks.iter().map(|b| b.1.wrapping_sub(b.0)).sum()
    }

    /// SACKed bytes in [from, to).
    pub fn sacked_in(&self, from: u32, to: u32) -> u32 {
        let mut n = 0;
        for &(l, r) in &self.blocks {
            let a = max_seq(l, from);
            let b = if lt(r, to) { r } else { to };
            if lt(a, b) {
                n += b.wrapping_sub(a);
            }
        }
        n
    }

    /// If `seq` is SACKed, the end of its block.
    pub fn sacked_end(&self, seq: u32) -> Option<u32> {
        self.blocks
            .iter()
            .find(|b| le(b.0, seq) && lt(seq, b.1))
            .map(|b| b.1)
    }

    /// The first un-SACKed range at or after `from` and below the highest SACKed byte: the
    /// next hole to retransmit (RFC 6675 NextSeg rule 1, every hole below HighSACK counted
    /// lost).
    pub fn next_hole(&self, from: u32) -> Option<(u32, u32)> {
        let mut at = from;
        for &(l, r) in &self.blocks {
            if le(r, at) {
                continue;
            }
            if lt(at, l) {
                return Some((at, l));
            }
            at = r;
        }
        None
    }

    /// Heap bytes.
    pub fn heap_size(&self) -> usize {
        self.blocks.capacity() * core::mem::size_of::<(u32, u32)>()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn merge_holes_and_ack() {
        let mut s = Scoreboard::default();
        assert!(s.update(1000, 9000, &[Some((3000, 4000)), Some((5000, 6000))]));
        assert!(!s.update(1000, 9000, &[Some((3000, 4000))]));
        assert!(s.update(1000, 9000, &[Some((4000, 5000)), Some((500, 900))]));
        assert_eq!(s.sacked_bytes(), 3000);
        assert_eq!(s.highest, 6000);
        assert_eq!(s.next_hole(1000), Some((1000, 3000)));
        assert_eq!(s.next_hole(3500), None);
        assert_eq!(s.sacked_end(3500), Some(6000));
        assert_eq!(s.sacked_in(2000, 3500), 500);
        s.ack(3500);
        assert_eq!(s.sacked_bytes(), 2500);
        // Sequence wrap.
        let mut w = Scoreboard::default();
        w.update(
            u32::MAX - 100,
            500,
            &[Some((u32::MAX - 10, 20)), Some((100, 200))],
        );
        assert_eq!(
            w.next_hole(u32::MAX - 100),
            Some((u32::MAX - 100, u32::MAX - 10))
        );
        assert_eq!(w.next_hole(20), Some((20, 100)));
    }
}
