//! Connection commands: PING, ECHO, QUIT, RESET, AUTH, HELLO, SELECT.

use bytes::Bytes;

use super::args::*;
use super::client::{set_name, sync_info, valid_name};
use super::introspect::stop_monitor;
use super::table::*;
use super::{pubsub, tx};
use crate::resp::{parse_i64, Out};
use crate::server::VERSION;
use crate::store::Keys;

pub fn commands() -> Vec<Cmd> {
    let c = LOADING | STALE;
    vec![
        cmd("ping", -1, FAST | c, (0, 0, 0), "connection", ping),
        cmd("echo", 2, FAST | c, (0, 0, 0), "connection", echo),
        cmd(
            "quit",
            -1,
            NOAUTH | NOQUEUE | FAST | c,
            (0, 0, 0),
            "connection",
            quit,
        ),
        cmd(
            "reset",
            1,
            NOAUTH | NOQUEUE | FAST | c,
            (0, 0, 0),
            "connection",
            reset,
        ),
        cmd("auth", -2, NOAUTH | FAST | c, (0, 0, 0), "connection", auth),
        cmd(
            "hello",
            -1,
            NOAUTH | FAST | c,
            (0, 0, 0),
            "connection",
            hello,
        ),
        cmd("select", 2, FAST | c, (0, 0, 0), "connection", select),
    ]
}

fn ping(c: &mut Ctx, _k: &mut Keys, out: &mut Out, a: &[&[u8]]) {
    if a.len() > 2 {
        return arity_err(out, "ping");
    }
    if c.cl.subscriptions() > 0 && !out.resp3 {
        out.array(2);
        out.bulk(b"pong");
        return out.bulk(a.get(1).copied().unwrap_or(b""));
    }
    match a.get(1) {
        Some(m) => out.bulk(m),
        None => out.raw(b"+PONG\r\n"),
    }
}

fn echo(_c: &mut Ctx, _k: &mut Keys, out: &mut Out, a: &[&[u8]]) {
    out.bulk(a[1])
}

fn quit(c: &mut Ctx, _k: &mut Keys, out: &mut Out, _a: &[&[u8]]) {
    c.fx.close = true;
    out.ok()
}

fn reset(c: &mut Ctx, _k: &mut Keys, out: &mut Out, _a: &[&[u8]]) {
    c.cl.multi = None;
    c.cl.multi_dirty = false;
    tx::unwatch_all(c.srv, c.cl);
    pubsub::drop_all(c.srv, c.worker, c.cl);
    c.cl.db = 0;
    set_name(c, Bytes::new());
    c.cl.authed = c.srv.cfg.password().is_none();
    if c.cl.monitor {
        stop_monitor(c);
    }
    out.resp3 = false;
    sync_info(c);
    out.raw(b"+RESET\r\n")
}

fn check_pass(c: &Ctx, user: &[u8], pass: &[u8]) -> bool {
    match c.srv.cfg.password() {
        None => user == b"default",
        Some(p) => user == b"default" && p.as_bytes() == pass,
    }
}

fn auth(c: &mut Ctx, _k: &mut Keys, out: &mut Out, a: &[&[u8]]) {
    let (user, pass) = match a.len() {
        2 => {
            if c.srv.cfg.password().is_none() {
                return out.err("ERR AUTH <password> called without any password configured for the default user. Are you sure your configuration is correct?");
            }
            (&b"default"[..], a[1])
        }
        3 => (a[1], a[2]),
        _ => return out.err(E_SYNTAX),
    };
    if check_pass(c, user, pass) {
        c.cl.authed = true;
        out.ok()
    } else {
        out.err(E_WRONGPASS)
    }
}

fn hello(c: &mut Ctx, _k: &mut Keys, out: &mut Out, a: &[&[u8]]) {
    let mut proto = if out.resp3 { 3 } else { 2 };
    if let Some(v) = a.get(1) {
        match parse_i64(v) {
            None => return out.err("ERR Protocol version is not an integer or out of range"),
            Some(v) if !(2..=3).contains(&v) => {
                return out.err("NOPROTO unsupported protocol version")
            }
            Some(v) => proto = v,
        }
    }
    let mut name = None;
    let mut i = 2;
    while i < a.len() {
        if eq(a[i], "auth") && i + 2 < a.len() {
            if !check_pass(c, a[i + 1], a[i + 2]) {
                return out.err(E_WRONGPASS);
            }
            c.cl.authed = true;
            i += 3;
        } else if eq(a[i], "setname") && i + 1 < a.len() {
            name = Some(a[i + 1]);
            i += 2;
        } else {
            return out.err(&format!(
                "ERR Syntax error in HELLO option '{}'",
                String::from_utf8_lossy(a[i])
            ));
        }
    }
    if !c.cl.authed {
        return out.err("NOAUTH HELLO must be called with the client already authenticated, otherwise the HELLO <proto> AUTH <user> <pass> option can be used to authenticate the client and select the RESP protocol version at the same time");
    }
    if let Some(n) = name {
        if !valid_name(n) {
            return out.err(E_CLIENT_NAME);
        }
        set_name(c, bytes(n));
    }
    out.resp3 = proto == 3;
    sync_info(c);
    out.map(7);
    out.bulk(b"server");
    out.bulk(b"redis");
    out.bulk(b"version");
    out.bulk_str(VERSION);
    out.bulk(b"proto");
    out.int(proto);
    out.bulk(b"id");
    out.int(c.cl.id as i64);
    out.bulk(b"mode");
    out.bulk(b"standalone");
    out.bulk(b"role");
    out.bulk(b"master");
    out.bulk(b"modules");
    out.array(0);
}

fn select(c: &mut Ctx, _k: &mut Keys, out: &mut Out, a: &[&[u8]]) {
    let last = c.srv.store.databases as i64 - 1;
    let Some(db) = bounded(out, a[1], 0, last, E_DB_RANGE) else {
        return;
    };
    c.cl.db = db as usize;
    out.ok()
}
