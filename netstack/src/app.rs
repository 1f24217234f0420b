//! The application API: the one door between a server and a transport.
//!
//! A server is a per-worker [`Service`]: run-to-completion callbacks for accepted connections,
//! received data, writability, timers and cross-worker messages. It acts through a [`Cx`]
//! handle. The kernel transport and the user-space stack both implement `Cx`, so a service runs
//! unchanged on either. Received data arrives as [`Bytes`] slices of the receive buffers and data
//! to send is handed over as `Bytes`: the transport never copies payload on the way to or from
//! the application.

use std::net::SocketAddr;
use std::time::{Instant, SystemTime};

use bytes::Bytes;

/// A connection handle: a dense slot index plus a generation, so a stale handle of a closed
/// connection never reaches the connection that reuses its slot.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
pub struct Conn {
    index: u32,
    generation: u32,
}

impl Conn {
    pub fn new(index: u32, generation: u32) -> Self {
        Conn { index, generation }
    }

    /// Dense index, unique among this worker's open connections: services use it to index
    /// their own per-connection state (a `Vec` or `slab`).
    pub fn index(self) -> usize {
        self.index as usize
    }

    pub fn generation(self) -> u32 {
        self.generation
    }
}

/// A listening address and its accept backlog.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct Listen {
    pub addr: SocketAddr,
    pub backlog: i32,
}

impl Listen {
    pub fn new(addr: SocketAddr) -> Self {
        Listen { addr, backlog: 511 }
    }
}

/// What a service learns about a new connection.
#[derive(Copy, Clone, Debug)]
pub struct Accepted {
    /// Position of the listening address in the runtime's listen list.
    pub listener: usize,
    pub peer: SocketAddr,
    pub local: SocketAddr,
}

/// The per-worker handle through which a service acts on its connections.
///
/// Every call takes effect at the end of the current loop turn at the latest: sends are queued
/// and flushed in one batch per connection, so pipelined replies leave in one write.
pub trait Cx {
    /// Message type carried between workers (see [`Service::on_message`]).
    type Msg: Send + 'static;

    /// Monotonic time, cached once per loop turn.
    fn now(&self) -> Instant;
    /// Wall-clock time, cached once per loop turn (for `Date` headers and logs).
    fn wall_clock(&self) -> SystemTime;
    /// This worker's number, `0..workers()`.
    fn worker(&self) -> usize;
    fn workers(&self) -> usize;

    /// Queues `data` to be sent; the transport keeps the reference until the data is written
    /// (kernel) or acknowledged (user stack).
    fn send(&mut self, conn: Conn, data: Bytes);
    /// Bytes queued and not yet handed to the network: a service producing large responses
    /// stops above its own high-water mark and resumes in [`Service::on_writable`].
    fn queued(&self, conn: Conn) -> usize;
    /// Closes gracefully: queued data is sent first, then FIN. No callbacks for `conn` follow
    /// except [`Service::on_closed`].
    fn close(&mut self, conn: Conn);
    /// Closes at once with a reset, discarding queued data.
    fn abort(&mut self, conn: Conn);
    /// Stops (or resumes) delivering received data, leaving it in the transport's buffers so
    /// that flow control pushes back on the peer.
    fn pause_reading(&mut self, conn: Conn, paused: bool);
    /// Arms the connection's single timer (replacing any earlier deadline), or cancels it.
    fn set_timer(&mut self, conn: Conn, deadline: Option<Instant>);

    /// Sends a message to a worker (possibly this one); it is delivered in that worker's next
    /// loop turn through [`Service::on_message`].
    fn post(&mut self, worker: usize, msg: Self::Msg);
    /// True once a graceful stop has begun: finish in-flight work, close idle connections.
    fn stopping(&self) -> bool;
}

/// A per-worker server. Callbacks run on the worker's own thread, one at a time.
pub trait Service: 'static {
    type Msg: Send + 'static;

    /// A new connection was accepted.
    fn on_accept<C: Cx<Msg = Self::Msg>>(&mut self, cx: &mut C, conn: Conn, info: &Accepted);
    /// Data arrived, in order; `data` is never empty.
    fn on_data<C: Cx<Msg = Self::Msg>>(&mut self, cx: &mut C, conn: Conn, data: Bytes);
    /// The peer finished sending (FIN). The default closes our side too.
    fn on_peer_closed<C: Cx<Msg = Self::Msg>>(&mut self, cx: &mut C, conn: Conn) {
        cx.close(conn);
    }
    /// Everything queued for `conn` has been handed to the network.
    fn on_writable<C: Cx<Msg = Self::Msg>>(&mut self, _cx: &mut C, _conn: Conn) {}
    /// The deadline set with [`Cx::set_timer`] passed.
    fn on_timer<C: Cx<Msg = Self::Msg>>(&mut self, _cx: &mut C, _conn: Conn) {}
    /// The connection is gone (closed by us, reset, or failed); its handle is dead from now on.
    fn on_closed<C: Cx<Msg = Self::Msg>>(&mut self, cx: &mut C, conn: Conn);
    /// A message from a worker (or from the controlling thread through the runtime handle).
    fn on_message<C: Cx<Msg = Self::Msg>>(&mut self, _cx: &mut C, _msg: Self::Msg) {}
    /// Called once per loop turn; returns when it next wants to be called even if nothing
    /// happens (e.g. active expiry), or `None` to sleep until an event.
    fn on_tick<C: Cx<Msg = Self::Msg>>(&mut self, _cx: &mut C) -> Option<Instant> {
        None
    }
    /// A graceful stop began: close idle connections now; busy ones close when done
    /// (check [`Cx::stopping`]). The worker exits when its last connection is gone.
    fn on_stop<C: Cx<Msg = Self::Msg>>(&mut self, _cx: &mut C) {}
    /// A callback for `conn` panicked (the worker resets that connection and goes on): what
    /// the connection was doing, for the log (e.g. the peer and the request).
    fn describe(&self, _conn: Conn) -> Option<String> {
        None
    }
}
