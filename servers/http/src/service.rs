//! The fs-httpd [`Service`]: one per worker. Each connection moves through
//! idle -> head -> (body) -> respond, pipelined requests are answered in order, large files are
//! streamed with bounded memory, and every phase has its nginx timeout.

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
use crate::request::{self, Body, Chunked, Limits, Reject};
use crate::response::{Part, Reply};

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
    body_after_stream: Option<BodyLeft>,
}

enum Phase {
    Idle,
    Head,
    Body(BodyLeft),
    Streaming,
    Closed,
}

enum BodyLeft {
    Length(u64),
    Chunked(Chunked),
}

impl Httpd {
    pub fn new(cfg: Arc<Config>) -> Self {
        Httpd {
            cfg,
            conns: Vec::new(),
            handler: Handler::default(),
            logs: AccessLogs::default(),
        }
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
            match &mut c.phase {
                Phase::Closed => return,
                Phase::Streaming => {
                    c.input.extend_from_slice(&buf);
                    let limit = default_settings(&c.cfg, c.listener).large_header_buffers;
                    if c.input.len() > limit.0 * limit.1 {
                        cx.pause_reading(conn, true);
                    }
                    return;
                }
                Phase::Body(left) => {
                    let limit = default_settings(&c.cfg, c.listener).client_max_body_size;
                    match discard_body(left, &buf, limit) {
                        Ok(Some(used)) => {
                            buf = buf.slice(used..);
                            c.phase = Phase::Idle;
                        }
                        Ok(None) => {
                            let timeout = default_settings(&c.cfg, c.listener).client_body_timeout;
                            self.set_deadline(cx, conn, cx.now() + timeout);
                            return;
                        }
                        Err(()) => return self.close(cx, conn),
                    }
                }
                Phase::Idle | Phase::Head => {
                    if buf.is_empty() {
                        return self.await_request(cx, conn);
                    }
                    let s = default_settings(&c.cfg, c.listener);
                    let limits = Limits {
                        line: s.large_header_buffers.1,
                        total: s.large_header_buffers.0 * s.large_header_buffers.1,
                    };
                    match request::parse(&buf, limits) {
                        Err(Reject::Incomplete) => {
                            c.input.extend_from_slice(&buf);
                            if matches!(c.phase, Phase::Idle) {
                                c.phase = Phase::Head;
                                let timeout = s.client_header_timeout;
                                self.set_deadline(cx, conn, cx.now() + timeout);
                            }
                            return;
                        }
                        Err(Reject::Status(code)) => return self.reject(cx, conn, code),
                        Ok((head, len)) => {
                            buf = buf.slice(len..);
                            if !self.answer(cx, conn, head) {
                                // Input pipelined behind a streamed response waits for it.
                                if let Some(c) = self
                                    .conn(conn)
                                    .filter(|c| matches!(c.phase, Phase::Streaming))
                                {
                                    c.input.extend_from_slice(&buf);
                                }
                                return;
                            }
                        }
                    }
                }
            }
        }
    }

    /// Answers one request. Returns false when no further input is to be processed now.
    fn answer<C: Cx<Msg = Msg>>(&mut self, cx: &mut C, conn: Conn, head: request::Head) -> bool {
        let Some(c) = self.conn(conn) else {
            return false;
        };
        c.requests += 1;
        let cfg = c.cfg.clone();
        let (host, absolute_path) = handler::request_host(&head);
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
        req.keep_alive = keep_alive;
        let too_large = match head.body {
            Body::Length(n) => n > s.client_max_body_size && s.client_max_body_size > 0,
            _ => false,
        };
        let reply = if too_large {
            self.handler.error(&mut req, &server.settings.clone(), 413)
        } else {
            if head.expect_continue && head.body != Body::None {
                cx.send(conn, Bytes::from_static(b"HTTP/1.1 100 Continue\r\n\r\n"));
            }
            let target = absolute_path.unwrap_or_else(|| head.target());
            self.handler.handle(&mut req, &target)
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
        let close = reply.close || too_large;
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
            Body::None | Body::Length(0) => Phase::Idle,
            Body::Length(n) => Phase::Body(BodyLeft::Length(n)),
            Body::Chunked => Phase::Body(BodyLeft::Chunked(Chunked::default())),
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
            let deadline = cx.now() + send_timeout;
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
        self.set_deadline(cx, conn, cx.now() + timeout);
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

impl Service for Httpd {
    type Msg = Msg;

    fn on_accept<C: Cx<Msg = Msg>>(&mut self, cx: &mut C, conn: Conn, info: &Accepted) {
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
        self.conns[conn.index()] = Some(Connection {
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
        // The first request must arrive within client_header_timeout.
        let timeout = default_settings(&self.cfg, listener).client_header_timeout;
        self.set_deadline(cx, conn, cx.now() + timeout);
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

/// Consumes body bytes to discard. `Ok(Some(n))`: the body ended after `n` bytes of `buf`;
/// `Ok(None)`: all of `buf` was body; `Err`: malformed or over the size limit.
fn discard_body(left: &mut BodyLeft, buf: &[u8], limit: u64) -> Result<Option<usize>, ()> {
    match left {
        BodyLeft::Length(n) => {
            if (buf.len() as u64) < *n {
                *n -= buf.len() as u64;
                Ok(None)
            } else {
                Ok(Some(*n as usize))
            }
        }
        BodyLeft::Chunked(decoder) => {
            let (used, done) = decoder.feed(buf).map_err(|_| ())?;
            if limit > 0 && decoder.total > limit {
                return Err(());
            }
            Ok(done.then_some(used))
        }
    }
}
