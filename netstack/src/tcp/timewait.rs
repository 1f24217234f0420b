//! TIME-WAIT as a compact, bounded table (RFC 9293 §3.10.7.4, RFC 6191): when a connection
//! enters TIME-WAIT its TCB is freed and only what is needed to re-ACK a retransmitted FIN and
//! to judge a new SYN for the same 4-tuple is kept (about 40 bytes). Entries expire in FIFO
//! order (every entry lives the same `time_wait`), so expiry is O(1) per entry with no timer;
//! when the table is full the oldest entry is dropped early (Linux drops the new one instead;
//! either keeps memory bounded).

use std::collections::VecDeque;

use hashbrown::HashMap;

use super::Tuple;
use crate::time::Instant;

#[derive(Debug, Clone, Copy)]
pub struct TwEntry {
    pub snd_nxt: u32,
    pub rcv_nxt: u32,
    /// Last TSval from the peer, when timestamps were in use.
    pub ts_recent: Option<u32>,
    pub ts_offset: u32,
    pub expires: Instant,
}

#[derive(Debug, Default)]
pub struct TimeWait {
    map: HashMap<Tuple, TwEntry>,
    fifo: VecDeque<(Instant, Tuple)>,
}

impl TimeWait {
    pub fn insert(&mut self, t: Tuple, e: TwEntry, max: usize) {
        if max == 0 {
            return;
        }
        while self.map.len() >= max {
            let Some((exp, old)) = self.fifo.pop_front() else {
                break;
            };
            self.remove_if(old, exp);
        }
        self.map.insert(t, e);
        self.fifo.push_back((e.expires, t));
    }

    fn remove_if(&mut self, t: Tuple, expires: Instant) {
        if self.map.get(&t).is_some_and(|e| e.expires == expires) {
            self.map.remove(&t);
        }
    }

    pub fn get(&self, t: &Tuple) -> Option<&TwEntry> {
        self.map.get(t)
    }

    pub fn remove(&mut self, t: &Tuple) -> Option<TwEntry> {
        self.map.remove(t)
    }

    /// Drops expired entries; O(expired).
    pub fn expire(&mut self, now: Instant) {
        while let Some(&(exp, t)) = self.fifo.front() {
            if exp > now {
                break;
            }
            self.fifo.pop_front();
            self.remove_if(t, exp);
        }
        // Entries removed by reuse leave stale FIFO records; keep the FIFO bounded too.
        if self.fifo.len() > 2 * self.map.len() + 64 {
            let map = &self.map;
            self.fifo
                .retain(|(exp, t)| map.get(t).is_some_and(|e| e.expires == *exp));
        }
    }

    pub fn next_expiry(&self) -> Option<Instant> {
        self.fifo.front().map(|f| f.0)
    }

    pub fn len(&self) -> usize {
        self.map.len()
    }
}
