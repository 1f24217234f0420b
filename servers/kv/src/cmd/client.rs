//! CLIENT and the client table helpers other commands share (`set_name`, `client_name`,
//! `valid_name`, `sync_info`, `client_line`).

use bytes::Bytes;

use super::args::*;
use super::table::*;
use crate::resp::{parse_i64, Out};
use crate::server::{unix_secs, ClientInfo, Msg};
use crate::store::Keys;

pub fn commands() -> Vec<Cmd> {
    vec![cmd(
        "client",
        -2,
        LOADING | STALE,
        (0, 0, 0),
        "connection",
        client,
    )]
}

pub fn valid_name(n: &[u8]) -> bool {
    n.iter().all(|&b| (b'!'..=b'~').contains(&b))
}

/// Publishes this client's db to its worker's client table.
pub fn sync_info(c: &mut Ctx) {
    let db = c.cl.db;
    c.srv.update_client(c.worker, c.cl.conn, |i| i.db = db);
}

/// The client's name lives in its worker's client table only (it is rarely set or read).
pub fn set_name(c: &mut Ctx, name: Bytes) {
    c.srv.update_client(c.worker, c.cl.conn, |i| {
        if !name.is_empty() || i.meta.is_some() {
            i.meta_mut().name = name;
        }
    });
}

pub fn client_name(c: &Ctx) -> Bytes {
    c.srv
        .client_info(c.worker, c.cl.conn)
        .map(|i| i.meta().name)
        .unwrap_or_default()
}

pub fn client_line(i: &ClientInfo, now: u64) -> String {
    let (id, meta) = (i.id, i.meta());
    format!(
        "id={id} addr={} laddr={} fd=8 name={} age={} idle=0 flags=N db={} sub=0 psub=0 ssub=0 multi=-1 qbuf=0 qbuf-free=0 argv-mem=0 multi-mem=0 rbs=16384 rbp=0 obl=0 oll=0 omem=0 tot-mem=0 events=r cmd=client|list user=default redir=-1 resp={} lib-name={} lib-ver={}\n",
        i.addr,
        i.laddr,
        String::from_utf8_lossy(&meta.name),
        now.saturating_sub(i.created),
        i.db,
        i.resp,
        String::from_utf8_lossy(&meta.lib_name),
        String::from_utf8_lossy(&meta.lib_ver),
    )
}

fn client(c: &mut Ctx, _k: &mut Keys, out: &mut Out, a: &[&[u8]]) {
    let sub = a[1].to_ascii_lowercase();
    let n = a.len();
    let arity =
        |out: &mut Out| arity_err(out, &format!("client|{}", String::from_utf8_lossy(&sub)));
    let resp = if out.resp3 { 3 } else { 2 };
    c.srv.update_client(c.worker, c.cl.conn, |i| i.resp = resp);
    match &sub[..] {
        b"setname" if n == 3 => {
            if !valid_name(a[2]) {
                return out.err(E_CLIENT_NAME);
            }
            set_name(c, bytes(a[2]));
            out.ok()
        }
        b"getname" if n == 2 => {
            let name = client_name(c);
            if name.is_empty() {
                out.null()
            } else {
                out.bulk(&name)
            }
        }
        b"setinfo" if n == 4 => {
            let v = bytes(a[3]);
            if eq(a[2], "lib-name") {
                c.srv
                    .update_client(c.worker, c.cl.conn, |i| i.meta_mut().lib_name = v);
            } else if eq(a[2], "lib-ver") {
                c.srv
                    .update_client(c.worker, c.cl.conn, |i| i.meta_mut().lib_ver = v);
            } else {
                return out.err(&format!(
                    "ERR Unrecognized option '{}'",
                    String::from_utf8_lossy(a[2])
                ));
            }
            out.ok()
        }
        b"id" if n == 2 => out.int(c.cl.id as i64),
        b"info" if n == 2 => {
            let line = c
                .srv
                .client_info(c.worker, c.cl.conn)
                .map(|i| client_line(&i, unix_secs()))
                .unwrap_or_default();
            out.verbatim(&line)
        }
        b"list" => {
            let now = unix_secs();
            let text: String = c
                .srv
                .all_clients()
                .iter()
                .map(|i| client_line(i, now))
                .collect();
            out.verbatim(&text)
        }
        b"kill" if n >= 3 => client_kill(c, out, &a[2..]),
        b"reply" | b"pause" | b"unpause" | b"no-evict" | b"no-touch" if n >= 2 => out.ok(),
        b"tracking" | b"caching" | b"getredir" | b"trackinginfo" => {
            out.err("ERR CLIENT TRACKING is not supported by this server")
        }
        b"help" => {
            let lines = [
                "CLIENT <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
                "ID",
                "INFO",
                "KILL",
                "LIST",
                "GETNAME",
                "SETNAME <name>",
                "SETINFO <option> <value>",
                "HELP",
            ];
            out.array(lines.len());
            lines.iter().for_each(|l| out.simple(l));
        }
        b"setname" | b"getname" | b"setinfo" | b"id" | b"info" | b"kill" => arity(out),
        _ => subcmd_err(out, "client", a[1]),
    }
}

fn client_kill(c: &mut Ctx, out: &mut Out, a: &[&[u8]]) {
    let clients = c.srv.all_clients();
    let matches = |i: &ClientInfo, k: &[u8], v: &[u8]| -> bool {
        if eq(k, "id") {
            parse_i64(v) == Some(i.id as i64)
        } else if eq(k, "addr") {
            i.addr.to_string().as_bytes() == v
        } else if eq(k, "laddr") {
            i.laddr.to_string().as_bytes() == v
        } else {
            false
        }
    };
    if a.len() == 1 {
        // Old form: CLIENT KILL addr:port.
        let target = clients
            .iter()
            .find(|i| i.addr.to_string().as_bytes() == a[0])
            .map(|i| (i.id, i.worker, i.conn));
        return match target {
            Some(t) => {
                kill(c, t);
                out.ok()
            }
            None => out.err("ERR No such client"),
        };
    }
    if !a.len().is_multiple_of(2) {
        return out.err(E_SYNTAX);
    }
    for p in a.chunks(2) {
        if !["id", "addr", "laddr", "skipme", "type", "user", "maxage"]
            .iter()
            .any(|k| eq(p[0], k))
        {
            return out.err(E_SYNTAX);
        }
    }
    let skipme = !a.chunks(2).any(|p| eq(p[0], "skipme") && eq(p[1], "no"));
    let filters: Vec<&[&[u8]]> = a
        .chunks(2)
        .filter(|p| eq(p[0], "id") || eq(p[0], "addr") || eq(p[0], "laddr"))
        .collect();
    let targets: Vec<(u64, usize, netstack::Conn)> = clients
        .iter()
        .filter(|i| filters.iter().all(|p| matches(i, p[0], p[1])) && !(skipme && i.id == c.cl.id))
        .map(|i| (i.id, i.worker, i.conn))
        .collect();
    for t in &targets {
        kill(c, *t);
    }
    out.int(targets.len() as i64)
}

fn kill(c: &mut Ctx, (id, worker, conn): (u64, usize, netstack::Conn)) {
    if id == c.cl.id {
        c.fx.close = true;
    } else {
        c.fx.posts.push((worker, Msg::Kill { conn }));
    }
}
