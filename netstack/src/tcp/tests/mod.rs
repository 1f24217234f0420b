//! Packet-level tests with a virtual clock (smoltcp's style): feed a segment, assert the
//! exact segments that come out. The peer is 198.18.0.1:40000, we are 198.18.0.2:80.

mod behaviour;
mod sim;

use core::net::{Ipv4Addr, SocketAddrV4};
use core::time::Duration;

use bytes::Bytes;

use super::*;
use crate::wire::{ChecksumCaps, TcpFlags as F, TcpPacket, TcpTimestamp};

pub const PEER_IP: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 1);
pub const OUR_IP: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 2);
pub const PEER: SocketAddrV4 = SocketAddrV4::new(PEER_IP, 40000);
pub const LOCAL: SocketAddrV4 = SocketAddrV4::new(OUR_IP, 80);
pub const PEER_ISS: u32 = 1000;

/// An emitted segment, owned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Out {
    pub src: SocketAddrV4,
    pub dst: SocketAddrV4,
    pub repr: TcpRepr<'static>,
    pub payload: Vec<u8>,
}

impl Out {
    pub fn flags(&self) -> F {
        self.repr.flags
    }
    pub fn seq(&self) -> u32 {
        self.repr.seq_number
    }
    pub fn ack(&self) -> u32 {
        self.repr.ack_number
    }
}

/// Serializes a segment for real (checksum and all), as a peer would send it.
pub fn to_bytes(repr: &TcpRepr<'_>, payload: &[u8], src: Ipv4Addr, dst: Ipv4Addr) -> Bytes {
    let mut r = *repr;
    r.payload = payload;
    let mut buf = vec![0u8; r.buffer_len()];
    r.emit(
        &mut TcpPacket::new_unchecked(&mut buf[..]),
        src,
        dst,
        ChecksumCaps::SOFTWARE,
    );
    Bytes::from(buf)
}

/// A segment from the peer with no options.
pub fn seg(flags: F, seq: u32, ack: u32) -> TcpRepr<'static> {
    let mut r = TcpRepr::new(PEER.port(), LOCAL.port(), flags, seq, ack);
    r.window_len = 64240;
    r
}

/// A config with options off, so that exact segments stay short; tests turn them on.
pub fn plain_cfg() -> TcpConfig {
    TcpConfig {
        sack: false,
        timestamps: false,
        window_scale: 0,
        ..TcpConfig::default()
    }
}

pub struct H {
    pub tcp: Tcp,
    pub now: Instant,
    pub events: Vec<Event>,
}

impl H {
    pub fn new(cfg: TcpConfig) -> H {
        let now = Instant::from_millis(1_000_000);
        H {
            tcp: Tcp::new(cfg, now, [42; 16]),
            now,
            events: Vec::new(),
        }
    }

    pub fn at(&mut self, ms: u64) {
        self.now += Duration::from_millis(ms);
    }

    pub fn send(&mut self, repr: TcpRepr<'_>, payload: &[u8]) {
        let b = to_bytes(&repr, payload, PEER_IP, OUR_IP);
        self.tcp.input(self.now, PEER_IP, OUR_IP, b, false);
    }

    /// Advances timers, dispatches, and collects segments and events.
    pub fn recv(&mut self) -> Vec<Out> {
        self.tcp.advance(self.now);
        let mut out = Vec::new();
        self.tcp.dispatch(self.now, |s| {
            let mut payload = Vec::new();
            for p in s.payload {
                payload.extend_from_slice(p);
            }
            out.push(Out {
                src: s.src,
                dst: s.dst,
                repr: TcpRepr {
                    payload: &[],
                    ..s.repr
                },
                payload,
            });
            true
        });
        while let Some(e) = self.tcp.poll_event() {
            self.events.push(e);
        }
        out
    }

    pub fn recv_one(&mut self) -> Out {
        let v = self.recv();
        assert_eq!(v.len(), 1, "expected one segment, got {v:#?}");
        v.into_iter().next().unwrap()
    }

    pub fn recv_none(&mut self) {
        let v = self.recv();
        assert!(v.is_empty(), "expected no segment, got {v:#?}");
    }

    pub fn tcb(&self, h: Handle) -> &tcb::Tcb {
        self.tcp.slots[h.index as usize].tcb.as_ref().unwrap()
    }

    /// A passive connection from a plain SYN; returns (handle, our ISS).
    pub fn accept(&mut self, syn: TcpRepr<'_>) -> (Handle, u32) {
        self.tcp.listen(LOCAL, 128).ok();
        self.send(syn, &[]);
        let sa = self.recv_one();
        assert_eq!(sa.flags(), F::SYN | F::ACK);
        let iss = sa.seq();
        let mut ack = seg(F::ACK, syn.seq_number.wrapping_add(1), iss.wrapping_add(1));
        ack.window_len = syn.window_len;
        if let (Some(ts), Some(our)) = (syn.timestamp, sa.repr.timestamp) {
            ack.timestamp = Some(TcpTimestamp {
                tsval: ts.tsval + 1,
                tsecr: our.tsval,
            });
        }
        self.send(ack, &[]);
        self.recv_none();
        let ev = core::mem::take(&mut self.events);
        let h = match ev.as_slice() {
            [Event::Accepted { handle, .. }] => *handle,
            other => panic!("expected Accepted, got {other:?}"),
        };
        (h, iss)
    }

    pub fn data_of(&self, h: Handle) -> Vec<u8> {
        let mut v = Vec::new();
        for e in &self.events {
            if let Event::Data { handle, data } = e {
                if *handle == h {
                    v.extend_from_slice(data);
                }
            }
        }
        v
    }
}

pub fn payload(n: usize) -> Bytes {
    Bytes::from((0..n).map(|i| (i % 251) as u8).collect::<Vec<u8>>())
}
