//! The fs-httpd [`Service`]: one per worker. Each connection moves through
//! idle -> head -> (chunked body) -> respond -> (body to discard), pipelined requests are
//! answered in order, large files are streamed with bounded memory, and every phase has its
//! nginx timeout. At most `worker_connections` connections are kept per worker.
//!
//! - [`body`]: request bodies (discarded) and the chunked body read before answering.
//! - [`guard`]: panic isolation per request and the debug fault-injection hook.

mod body;
mod guard;

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use bytes::{Bytes, BytesMut};
use netstack::{Accepted, Conn, Cx, Service};

use crate::config::{Config, Settings};
use crate::files;
use crate::handler::{self, Handler, Origin, Request};
use crate::log::{self, AccessLogs, Line};
use crate::request::{self, Body, Limits, Progress, Reject};
use crate::response::{Part, Reply};
use body::{BodyRead, PendingBody};
pub use guard::request_panics;

/// Queued output above which a streamed file waits for the socket to drain.
const STREAM_HIGH_WATER: usize = 256 * 1024;
const STREAM_CHUNK: u64 = 64 * 1024;

/// Messages from the controlling thread.
#[derive(Clone)]
pub enum Msg {
    /// SIGHUP: new connections use the new configuration; established ones finish on theirs.
    Reload(Arc<Config>),
    /// SIGUSR1: reopen log files.
    ReopenLogs,
}

pub struct Httpd {
    cfg: Arc<Config>,
    conns: Vec<Option<Connection>>,
    /// Connections in `conns`.
    open: usize,
    /// Connections refused because `worker_connections` were in use.
    refused: u64,
    handler: Handler,
    logs: AccessLogs,
}

struct Connection {
    conn: Conn,
    cfg: Arc<Config>,
    listener: usize,
    peer: SocketAddr,
    local: SocketAddr,
    /// Received bytes not yet consumed (a partial head, or input behind a streamed response).
    input: BytesMut,
    phase: Phase,
    requests: u64,
    /// When the current phase times out; `armed` is the earliest timer actually set.
    deadline: Option<Instant>,
    armed: Option<Instant>,
    /// Body parts still to send, for responses that do not fit the send queue at once.
    stream: VecDeque<Part>,
    close_after_stream: bool,
    /// A request body to discard once the stream in front of it is sent.
    body_after_stream: Option<u64>,
}

enum Phase {
    Idle,
    /// Part of a head arrived; parsing resumes where it stopped.
    Head(Box<Progress>),
    /// A chunked body is read (and checked) before its request is answered.
    ChunkedBody(Box<PendingBody>),
    /// Content-Length body bytes still to discard after the answer.
    Body(u64),
    Streaming,
    Closed,
}

impl Httpd {
    pub fn new(cfg: Arc<Config>) -> Self {
        Httpd {
            cfg,
            conns: Vec::new(),
            open: 0,
            refused: 0,
            handler: Handler::default(),
            logs: AccessLogs::default(),
        }
    }

    /// Open connections of this worker.
    pub fn connections(&self) -> usize {
        self.open
    }

    fn conn(&mut self, conn: Conn) -> Option<&mut Connection> {
        self.conns
            .get_mut(conn.index())?
            .as_mut()
            .filter(|c| c.conn == conn)
    }

    /// Consumes as much of `buf` as the connection's phase allows.
    fn process<C: Cx<Msg = Msg>>(&mut self, cx: &mut C, conn: Conn, mut buf: Bytes) {
        loop {
            let Some(c) = self.conn(conn) else { return };
            let s = default_settings(&c.cfg, c.listener);
            match &mut c.phase {
                Phase::Closed => return,
                Phase::Streaming => {
                    c.input.extend_from_slice(&buf);
                    let (n, size) = s.large_header_buffers;
                    if c.input.len() > n.saturating_mul(size) {
                        cx.pause_reading(conn, true);
                    }
                    return;
                }
                Phase::Body(left) => match body::discard(left, &buf) {
                    Some(used) => {
                        buf = buf.slice(used..);
                        c.phase = Phase::Idle;
                    }
                    None => {
                        let timeout = s.client_body_timeout;
                        self.set_deadline(cx, conn, later(cx.now(), timeout));
                        return;
                    }
                },
                Phase::ChunkedBody(pending) => {
                    let limit = s.client_max_body_size;
                    match pending.read(&buf, limit) {
                        BodyRead::More => {
                            let timeout = s.client_body_timeout;
                            self.set_deadline(cx, conn, later(cx.now(), timeout));
                            return;
                        }
                        BodyRead::Done(used) => buf = buf.slice(used..),
                        BodyRead::Malformed | BodyRead::TooLarge => buf = Bytes::new(),
                    }
                    let Phase::ChunkedBody(pending) = std::mem::replace(&mut c.phase, Phase::Idle)
                    else {
                        return;
                    };
                    let PendingBody { head, outcome, .. } = *pending;
                    if !self.answer(cx, conn, head, outcome) {
                        return self.stash(conn, &buf);
                    }
                }
                Phase::Idle | Phase::Head(_) => {
                    if buf.is_empty() {
                        return self.await_request(cx, conn);
                    }
                    let (n, size) = s.large_header_buffers;
                    let limits = Limits {
                        line: size,
                        total: n.saturating_mul(size),
                    };
                    let header_timeout = s.client_header_timeout;
                    let parsed = match &mut c.phase {
                        Phase::Head(progress) => progress.parse(&buf, limits),
                        _ => {
                            let mut progress = Progress::default();
                            let parsed = progress.parse(&buf, limits);
                            if matches!(parsed, Err(Reject::Incomplete)) {
                                c.phase = Phase::Head(Box::new(progress));
                                // The first request's header timer runs from the accept.
                                if c.requests > 0 {
                                    self.set_deadline(cx, conn, later(cx.now(), header_timeout));
                                }
                            }
                            parsed
                        }
                    };
                    match parsed {
                        Err(Reject::Incomplete) => {
                            if let Some(c) = self.conn(conn) {
                                c.input.extend_from_slice(&buf);
                            }
                            return;
                        }
                        Err(Reject::Status(code)) => return self.reject(cx, conn, code),
                        Ok((head, len)) => {
                            buf = buf.slice(len..);
                            if head.body == Body::Chunked {
                                if head.expect_continue {
                                    cx.send(conn, Bytes::from_static(CONTINUE));
                                }
                                if let Some(c) = self.conn(conn) {
                                    c.phase = Phase::ChunkedBody(Box::new(PendingBody::new(head)));
                                }
                                continue;
                            }
                            if !self.answer(cx, conn, head, body::Outcome::Follows) {
                                return self.stash(conn, &buf);
                            }
                        }
                    }
                }
            }
        }
    }

    /// Input pipelined behind a streamed response waits for it.
    fn stash(&mut self, conn: Conn, buf: &[u8]) {
        if let Some(c) = self
            .conn(conn)
            .filter(|c| matches!(c.phase, Phase::Streaming))
        {
            c.input.extend_from_slice(buf);
        }
    }

    /// Answers one request. Returns false when no further input is to be processed now.
    fn answer<C: Cx<Msg = Msg>>(
        &mut self,
        cx: &mut C,
        conn: Conn,
        head: request::Head,
        outcome: body::Outcome,
    ) -> bool {
        let Some(c) = self.conn(conn) else {
            return false;
        };
        c.requests += 1;
        let cfg = c.cfg.clone();
        let host = handler::request_host(&head);
        let server = handler::select_server(&cfg, c.listener, &host);
        let s = &server.settings;
        let keep_alive = head.keep_alive
            && !cx.stopping()
            && c.requests < s.keepalive_requests
            && !s.keepalive_timeout.is_zero();
        let (local, peer) = (c.local, c.peer);
        let host = if host.is_empty() {
            local.ip().to_string().into()
        } else {
            host
        };
        let mut req = Request::new(
            &cfg,
            server,
            &head,
            host,
            Origin { local, peer },
            cx.now(),
            cx.wall_clock(),
        );
        req.keep_alive = keep_alive && outcome.keeps_connection();
        let too_large = match (head.body, outcome) {
            (Body::Length(n), _) => n > s.client_max_body_size && s.client_max_body_size > 0,
            (_, body::Outcome::TooLarge) => true,
            _ => false,
        };
        if !too_large && head.expect_continue && matches!(head.body, Body::Length(n) if n > 0) {
            cx.send(conn, Bytes::from_static(CONTINUE));
        }
        let target = head.target();
        let handler = &mut self.handler;
        let built = guard::isolate(head.line(), || {
            if too_large {
                return handler.error(&mut req, &s.clone(), 413);
            }
            guard::inject_fault(&target);
            let reply = handler.handle(&mut req, &target);
            match outcome {
                // The body's framing is broken: what would have succeeded is a 400.
                body::Outcome::Malformed if reply.status < 300 => {
                    handler.error(&mut req, &s.clone(), 400)
                }
                _ => reply,
            }
        });
        let Some(mut reply) = built else {
            // Nothing of the failed reply was queued: answers pipelined before it still go
            // out, then the connection closes.
            self.handler.recover();
            self.close(cx, conn);
            return false;
        };
        if let Some(log) = &req.access_log {
            let line = Line {
                peer,
                request: head.line(),
                status: reply.status,
                body_bytes: reply.body_len,
                referer: head.referer(),
                user_agent: head.user_agent(),
            };
            self.logs.write(log, cx.now(), cx.wall_clock(), &line);
        }
        let close = reply.close || too_large || !outcome.keeps_connection();
        reply.close = close;
        let streaming = self.send_reply(cx, conn, reply, close);
        let Some(c) = self.conn(conn) else {
            return false;
        };
        if close {
            if !streaming {
                c.phase = Phase::Closed;
                cx.close(conn);
            }
            return false;
        }
        let next = match head.body {
            Body::Length(n) if n > 0 => Phase::Body(n),
            _ => Phase::Idle, // none, empty, or a chunked body already read
        };
        if streaming {
            // The request's body is discarded after the stream, from the stashed input.
            if let Phase::Body(left) = next {
                c.body_after_stream = Some(left);
            }
            return false;
        }
        c.phase = next;
        true
    }

    /// Queues a reply; returns true if part of it waits in the connection's stream.
    fn send_reply<C: Cx<Msg = Msg>>(
        &mut self,
        cx: &mut C,
        conn: Conn,
        reply: Reply,
        close: bool,
    ) -> bool {
        cx.send(conn, reply.head);
        let Some(c) = self.conn(conn) else {
            return false;
        };
        if reply.body.iter().all(|p| matches!(p, Part::Bytes(_))) && c.stream.is_empty() {
            for part in reply.body {
                if let Part::Bytes(b) = part {
                    cx.send(conn, b);
                }
            }
            return false;
        }
        c.stream.extend(reply.body);
        c.close_after_stream = close;
        c.phase = Phase::Streaming;
        self.pump(cx, conn);
        true
    }

    /// Moves streamed parts into the send queue up to the high-water mark.
    fn pump<C: Cx<Msg = Msg>>(&mut self, cx: &mut C, conn: Conn) {
        let Some(c) = self.conn(conn) else { return };
        let send_timeout = default_settings(&c.cfg, c.listener).send_timeout;
        while cx.queued(conn) < STREAM_HIGH_WATER {
            let Some(part) = c.stream.pop_front() else {
                break;
            };
            match part {
                Part::Bytes(b) => cx.send(conn, b),
                Part::File { info, offset, len } => {
                    let n = len.min(STREAM_CHUNK);
                    match files::read_chunk(&info.path, offset, n as usize) {
                        Ok(chunk) => cx.send(conn, chunk),
                        Err(e) => {
                            log::error(&format!("{}: {e}", info.path.display()));
                            c.phase = Phase::Closed;
                            cx.abort(conn);
                            return;
                        }
                    }
                    if n < len {
                        c.stream.push_front(Part::File {
                            info,
                            offset: offset + n,
                            len: len - n,
                        });
                    }
                }
            }
        }
        if !c.stream.is_empty() {
            let deadline = later(cx.now(), send_timeout);
            self.set_deadline(cx, conn, deadline);
            return;
        }
        // Stream done: close, or go on with what the client pipelined meanwhile.
        if c.close_after_stream {
            c.phase = Phase::Closed;
            cx.close(conn);
            return;
        }
        c.phase = c.body_after_stream.take().map_or(Phase::Idle, Phase::Body);
        let input = c.input.split().freeze();
        cx.pause_reading(conn, false);
        self.process(cx, conn, input);
    }

    /// Answers a head that could not be parsed with `code` and closes.
    fn reject<C: Cx<Msg = Msg>>(&mut self, cx: &mut C, conn: Conn, code: u16) {
        let Some(c) = self.conn(conn) else { return };
        let cfg = c.cfg.clone();
        let server = &cfg.servers[cfg
            .by_listener
            .get(c.listener)
            .and_then(|v| v.first())
            .copied()
            .unwrap_or(0)];
        let head = request::Head::bare();
        let host = c.local.ip().to_string().into();
        let mut req = Request::new(
            &cfg,
            server,
            &head,
            host,
            Origin {
                local: c.local,
                peer: c.peer,
            },
            cx.now(),
            cx.wall_clock(),
        );
        let reply = self.handler.error(&mut req, &server.settings.clone(), code);
        cx.send(conn, reply.head);
        for part in reply.body {
            if let Part::Bytes(b) = part {
                cx.send(conn, b);
            }
        }
        self.close(cx, conn);
    }

    fn close<C: Cx<Msg = Msg>>(&mut self, cx: &mut C, conn: Conn) {
        if let Some(c) = self.conn(conn) {
            c.phase = Phase::Closed;
        }
        cx.close(conn);
    }

    /// Between requests: wait `keepalive_timeout` for the next one (or close when stopping).
    fn await_request<C: Cx<Msg = Msg>>(&mut self, cx: &mut C, conn: Conn) {
        let Some(c) = self.conn(conn) else { return };
        c.phase = Phase::Idle;
        if cx.stopping() {
            return self.close(cx, conn);
        }
        let timeout = default_settings(&c.cfg, c.listener).keepalive_timeout;
        self.set_deadline(cx, conn, later(cx.now(), timeout));
    }

    /// Moves the connection's deadline; a transport timer is set only when it must fire earlier
    /// than the one already armed (keep-alive requests then cost no timer operation).
    fn set_deadline<C: Cx<Msg = Msg>>(&mut self, cx: &mut C, conn: Conn, deadline: Instant) {
        let Some(c) = self.conn(conn) else { return };
        c.deadline = Some(deadline);
        if c.armed.is_none_or(|a| a > deadline) {
            c.armed = Some(deadline);
            cx.set_timer(conn, Some(deadline));
        }
    }
}

const CONTINUE: &[u8] = b"HTTP/1.1 100 Continue\r\n\r\n";

impl Service for Httpd {
    type Msg = Msg;

    fn on_accept<C: Cx<Msg = Msg>>(&mut self, cx: &mut C, conn: Conn, info: &Accepted) {
        if self.open >= self.cfg.worker_connections {
            // nginx closes what it cannot take at once ("worker_connections are not enough").
            self.refused += 1;
            if self.refused.is_power_of_two() {
                log::error(&format!(
                    "{} worker_connections are not enough ({} refused)",
                    self.cfg.worker_connections, self.refused
                ));
            }
            cx.close(conn);
            return;
        }
        if self.conns.len() <= conn.index() {
            self.conns.resize_with(conn.index() + 1, || None);
        }
        // Find the listener by address: after a reload the runtime's numbering may be newer or
        // older than this worker's configuration.
        let listener = self
            .cfg
            .listen
            .iter()
            .position(|l| {
                l.addr == info.local
                    || l.addr.ip().is_unspecified() && l.addr.port() == info.local.port()
            })
            .unwrap_or(info.listener);
        let replaced = self.conns[conn.index()].replace(Connection {
            conn,
            cfg: self.cfg.clone(),
            listener,
            peer: info.peer,
            local: info.local,
            input: BytesMut::new(),
            phase: Phase::Idle,
            requests: 0,
            deadline: None,
            armed: None,
            stream: VecDeque::new(),
            close_after_stream: false,
            body_after_stream: None,
        });
        if replaced.is_none() {
            self.open += 1;
        }
        // The first request must arrive within client_header_timeout.
        let timeout = default_settings(&self.cfg, listener).client_header_timeout;
        self.set_deadline(cx, conn, later(cx.now(), timeout));
    }

    fn on_data<C: Cx<Msg = Msg>>(&mut self, cx: &mut C, conn: Conn, data: Bytes) {
        let Some(c) = self.conn(conn) else { return };
        let buf = if c.input.is_empty() {
            data
        } else {
            // Only a partial head is carried over: the common case parses in place.
            c.input.extend_from_slice(&data);
            c.input.split().freeze()
        };
        self.process(cx, conn, buf);
    }

    fn on_writable<C: Cx<Msg = Msg>>(&mut self, cx: &mut C, conn: Conn) {
        if matches!(self.conn(conn).map(|c| &c.phase), Some(Phase::Streaming)) {
            self.pump(cx, conn);
        }
    }

    fn on_timer<C: Cx<Msg = Msg>>(&mut self, cx: &mut C, conn: Conn) {
        let now = cx.now();
        let Some(c) = self.conn(conn) else { return };
        c.armed = None;
        match c.deadline {
            Some(d) if d <= now => {
                let streaming = matches!(c.phase, Phase::Streaming);
                c.phase = Phase::Closed;
                if streaming {
                    cx.abort(conn); // send_timeout: the client stopped reading
                } else {
                    cx.close(conn);
                }
            }
            Some(d) => {
                c.armed = Some(d);
                cx.set_timer(conn, Some(d));
            }
            None => {}
        }
    }

    fn on_closed<C: Cx<Msg = Msg>>(&mut self, _cx: &mut C, conn: Conn) {
        if let Some(slot) = self.conns.get_mut(conn.index()) {
            if slot.as_ref().is_some_and(|c| c.conn == conn) {
                *slot = None;
                self.open -= 1;
            }
        }
    }

    fn on_message<C: Cx<Msg = Msg>>(&mut self, cx: &mut C, msg: Msg) {
        match msg {
            Msg::Reload(cfg) => self.cfg = cfg,
            Msg::ReopenLogs => self.logs.reopen(cx.now()),
        }
    }

    fn on_tick<C: Cx<Msg = Msg>>(&mut self, cx: &mut C) -> Option<Instant> {
        self.logs.tick(cx.now());
        self.logs
            .has_pending()
            .then(|| cx.now() + std::time::Duration::from_secs(1))
    }

    fn on_stop<C: Cx<Msg = Msg>>(&mut self, cx: &mut C) {
        let idle: Vec<Conn> = self
            .conns
            .iter()
            .flatten()
            .filter(|c| matches!(c.phase, Phase::Idle) && c.input.is_empty())
            .map(|c| c.conn)
            .collect();
        for conn in idle {
            self.close(cx, conn);
        }
    }

    /// For the worker's log when a callback for `conn` panicked (a panic while a reply is
    /// built is caught earlier, in `guard`, and logged with its request line).
    fn describe(&self, conn: Conn) -> Option<String> {
        let c = self.conns.get(conn.index())?.as_ref()?;
        if c.conn != conn {
            return None;
        }
        let doing = match &c.phase {
            Phase::Idle => "between requests".to_string(),
            Phase::Head(_) => format!("reading a head ({} bytes so far)", c.input.len()),
            Phase::ChunkedBody(p) => format!(
                "reading the chunked body of \"{}\"",
                String::from_utf8_lossy(p.head.line()).escape_debug()
            ),
            Phase::Body(left) => format!("discarding a body ({left} bytes left)"),
            Phase::Streaming => "streaming a response".to_string(),
            Phase::Closed => "closing".to_string(),
        };
        Some(format!(
            "peer {}, {} request(s) answered, {doing}",
            c.peer, c.requests
        ))
    }
}

/// `now + timeout`; configured timeouts can be longer than an `Instant` can reach.
fn later(now: Instant, timeout: std::time::Duration) -> Instant {
    const CENTURY: std::time::Duration = std::time::Duration::from_secs(100 * 365 * 86_400);
    now.checked_add(timeout.min(CENTURY)).unwrap_or(now)
}

/// Settings that apply before the Host is known: the listener's default server.
fn default_settings(cfg: &Config, listener: usize) -> &Settings {
    let server = cfg
        .by_listener
        .get(listener)
        .and_then(|v| v.first())
        .copied()
        .unwrap_or(0);
    &cfg.servers[server].settings
}
