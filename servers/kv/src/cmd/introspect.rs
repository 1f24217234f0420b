//! Introspection: COMMAND (the table as clients see it) and MONITOR (`feed_monitors` sends
//! every command to the MONITOR clients; `stop_monitor`, `remove_monitor`).

use std::fmt::Write;
use std::sync::atomic::Ordering;

use bytes::Bytes;

use super::args::*;
use super::table::*;
use crate::resp::Out;
use crate::server::{lock, Msg, Server};
use crate::store::{HMap, Keys};

pub fn commands() -> Vec<Cmd> {
    let c = LOADING | STALE;
    vec![
        cmd("command", -1, c, (0, 0, 0), "server", command),
        cmd("monitor", 1, ADMIN | c, (0, 0, 0), "server", monitor),
    ]
}

fn flag_names(f: u32) -> Vec<&'static str> {
    let names = [
        (WRITE, "write"),
        (READONLY, "readonly"),
        (DENYOOM, "denyoom"),
        (ADMIN, "admin"),
        (PUBSUB, "pubsub"),
        (NOAUTH, "no_auth"),
        (FAST, "fast"),
        (BLOCKING, "blocking"),
        (LOADING, "loading"),
        (STALE, "stale"),
    ];
    names
        .iter()
        .filter(|(b, _)| f & b != 0)
        .map(|(_, n)| *n)
        .collect()
}

fn command_info(out: &mut Out, c: &Cmd) {
    out.array(10);
    out.bulk_str(c.name);
    out.int(c.arity as i64);
    let flags = flag_names(c.flags);
    out.set(flags.len());
    flags.iter().for_each(|f| out.simple(f));
    out.int(c.first as i64);
    out.int(c.last as i64);
    out.int(c.step as i64);
    out.set(0);
    out.set(0);
    out.array(0);
    out.array(0);
}

fn command(c: &mut Ctx, _k: &mut Keys, out: &mut Out, a: &[&[u8]]) {
    let table = c.table;
    let Some(sub) = a.get(1).map(|s| s.to_ascii_lowercase()) else {
        out.array(table.len());
        return table.iter().for_each(|c| command_info(out, c));
    };
    match &sub[..] {
        b"count" => out.int(table.len() as i64),
        b"list" => {
            out.array(table.len());
            table.iter().for_each(|c| out.bulk_str(c.name));
        }
        b"info" => {
            let names: Vec<&[u8]> = if a.len() > 2 {
                a[2..].to_vec()
            } else {
                table.iter().map(|c| c.name.as_bytes()).collect()
            };
            out.array(names.len());
            for n in names {
                match table.lookup(n) {
                    Some(i) => command_info(out, &table[i]),
                    None => out.null_array(),
                }
            }
        }
        b"docs" => {
            let idx: Vec<usize> = if a.len() > 2 {
                a[2..].iter().filter_map(|n| table.lookup(n)).collect()
            } else {
                (0..table.len()).collect()
            };
            out.map(idx.len());
            for i in idx {
                let c = &table[i];
                out.bulk_str(c.name);
                out.map(3);
                out.bulk(b"summary");
                out.bulk_str(c.name);
                out.bulk(b"since");
                out.bulk(b"1.0.0");
                out.bulk(b"group");
                out.bulk_str(c.group);
            }
        }
        b"getkeys" if a.len() >= 3 => {
            let Some(i) = table.lookup(a[2]) else {
                return out.err("ERR Invalid command specified");
            };
            let c = &table[i];
            let args = &a[2..];
            if c.first == 0 || args.len() <= c.first as usize {
                return out.err("ERR The command has no key arguments");
            }
            let last = if c.last < 0 {
                args.len() as i32 + c.last
            } else {
                c.last.min(args.len() as i32 - 1)
            };
            let keys: Vec<&[u8]> = (c.first..=last)
                .step_by(c.step.max(1) as usize)
                .map(|i| args[i as usize])
                .collect();
            out.array(keys.len());
            keys.iter().for_each(|k| out.bulk(k));
        }
        b"help" => {
            out.array(1);
            out.simple("COMMAND <subcommand> [<arg> [value] [opt] ...]. Subcommands are: COUNT, DOCS, GETKEYS, INFO, LIST, HELP")
        }
        _ => subcmd_err(out, "command", a[1]),
    }
}

fn monitor(c: &mut Ctx, _k: &mut Keys, out: &mut Out, _a: &[&[u8]]) {
    if c.cl.monitor {
        return out.ok();
    }
    c.cl.monitor = true;
    lock(&c.srv.monitors).push((c.worker, c.cl.conn));
    c.srv.has_monitors.store(true, Ordering::Relaxed);
    out.ok()
}

pub fn stop_monitor(c: &mut Ctx) {
    remove_monitor(c.srv, c.worker, c.cl.conn);
    c.cl.monitor = false;
}

pub fn remove_monitor(srv: &Server, worker: usize, conn: netstack::Conn) {
    let mut m = lock(&srv.monitors);
    m.retain(|&(w, c)| !(w == worker && c == conn));
    srv.has_monitors.store(!m.is_empty(), Ordering::Relaxed);
}

/// `+1339518083.107412 [0 127.0.0.1:60866] "keys" "*"` to every MONITOR client.
pub fn feed_monitors(c: &mut Ctx, argv: &[&[u8]]) {
    let t = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    let mut line = format!(
        "+{}.{:06} [{} {}]",
        t.as_secs(),
        t.subsec_micros(),
        c.cl.db,
        c.cl.addr
    );
    for a in argv {
        line.push_str(" \"");
        for &b in *a {
            match b {
                b'"' => line.push_str("\\\""),
                b'\\' => line.push_str("\\\\"),
                b'\n' => line.push_str("\\n"),
                b'\r' => line.push_str("\\r"),
                0x20..=0x7e => line.push(b as char),
                _ => {
                    let _ = write!(line, "\\x{b:02x}");
                }
            }
        }
        line.push('"');
    }
    line.push_str("\r\n");
    let line = Bytes::from(line);
    let mons = lock(&c.srv.monitors).clone();
    let mut per: HMap<usize, Vec<netstack::Conn>> = Default::default();
    for (w, conn) in mons {
        if !(w == c.worker && conn == c.cl.conn) {
            per.entry(w).or_default().push(conn);
        }
    }
    for (w, to) in per {
        c.fx.posts.push((
            w,
            Msg::Monitor {
                to,
                line: line.clone(),
            },
        ));
    }
}
