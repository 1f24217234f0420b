//! SLOWLOG, and `slowlog_add`, which the dispatcher calls for commands slower than
//! slowlog-log-slower-than.

use std::sync::atomic::Ordering;

use super::args::*;
use super::client::client_name;
use super::table::*;
use crate::resp::Out;
use crate::server::{lock, unix_secs, SlowEntry};
use crate::store::Keys;

pub fn commands() -> Vec<Cmd> {
    vec![cmd(
        "slowlog",
        -2,
        ADMIN | LOADING | STALE,
        (0, 0, 0),
        "server",
        slowlog,
    )]
}

pub fn slowlog_add(c: &mut Ctx, argv: &[&[u8]], usec: u64) {
    let max = c.srv.cfg.slowlog_max.load(Ordering::Relaxed);
    let name = String::from_utf8_lossy(&client_name(c)).into_owned();
    let mut log = lock(&c.srv.slowlog);
    log.push_front(SlowEntry {
        id: c.srv.slowlog_id.fetch_add(1, Ordering::Relaxed),
        time: unix_secs(),
        usec,
        args: argv
            .iter()
            .take(32)
            .map(|a| bytes(&a[..a.len().min(128)]))
            .collect(),
        peer: c.cl.addr.to_string(),
        name,
    });
    log.truncate(max);
}

fn slowlog(c: &mut Ctx, _k: &mut Keys, out: &mut Out, a: &[&[u8]]) {
    let sub = a[1].to_ascii_lowercase();
    let mut log = lock(&c.srv.slowlog);
    match &sub[..] {
        b"len" => out.int(log.len() as i64),
        b"reset" => {
            log.clear();
            out.ok()
        }
        b"get" => {
            let n = match a.get(2) {
                Some(v) => {
                    let msg = "ERR count should be greater than or equal to -1";
                    match range(out, v, -1, i64::MAX, msg) {
                        Some(-1) => usize::MAX,
                        Some(n) => n as usize,
                        None => return,
                    }
                }
                None => 10,
            };
            let n = n.min(log.len());
            out.array(n);
            for e in log.iter().take(n) {
                out.array(6);
                out.int(e.id as i64);
                out.int(e.time as i64);
                out.int(e.usec as i64);
                out.array(e.args.len());
                e.args.iter().for_each(|x| out.bulk(x));
                out.bulk_str(&e.peer);
                out.bulk_str(&e.name);
            }
        }
        b"help" => {
            out.array(1);
            out.simple("SLOWLOG <subcommand> [<arg> [value] [opt] ...]. Subcommands are: GET [<count>], LEN, RESET, HELP")
        }
        _ => subcmd_err(out, "slowlog", a[1]),
    }
}
