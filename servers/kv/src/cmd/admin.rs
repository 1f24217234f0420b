//! Server administration: TIME, LASTSAVE, SAVE, BGSAVE, SHUTDOWN; and the fixed answers for
//! what fs-kv does not have: persistence (SAVE and BGSAVE only record the time), replication
//! (ROLE, WAIT), modules, ACL users, cluster mode (CLUSTER, READONLY, READWRITE), LOLWUT.

use std::sync::atomic::Ordering;

use super::args::*;
use super::table::*;
use crate::resp::Out;
use crate::server::{unix_secs, VERSION};
use crate::store::Keys;

pub fn commands() -> Vec<Cmd> {
    let c = LOADING | STALE;
    vec![
        cmd("time", 1, FAST | c, (0, 0, 0), "server", time),
        cmd("lastsave", 1, FAST | c, (0, 0, 0), "server", lastsave),
        cmd("save", 1, ADMIN, (0, 0, 0), "server", save),
        cmd("bgsave", -1, ADMIN, (0, 0, 0), "server", bgsave),
        cmd(
            "shutdown",
            -1,
            ADMIN | NOQUEUE | c,
            (0, 0, 0),
            "server",
            shutdown,
        ),
        cmd("role", 1, FAST | c, (0, 0, 0), "server", role),
        cmd("wait", 3, 0, (0, 0, 0), "generic", wait),
        cmd("module", -2, ADMIN, (0, 0, 0), "server", module),
        cmd("acl", -2, ADMIN, (0, 0, 0), "server", acl),
        cmd("cluster", -2, 0, (0, 0, 0), "cluster", cluster),
        cmd("readonly", 1, FAST, (0, 0, 0), "cluster", cluster),
        cmd("readwrite", 1, FAST, (0, 0, 0), "cluster", cluster),
        cmd("lolwut", -1, READONLY | FAST, (0, 0, 0), "server", lolwut),
    ]
}

fn time(c: &mut Ctx, _k: &mut Keys, out: &mut Out, _a: &[&[u8]]) {
    let _ = c;
    let t = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    out.array(2);
    out.bulk_int(t.as_secs() as i64);
    out.bulk_int(t.subsec_micros() as i64);
}

fn lastsave(c: &mut Ctx, _k: &mut Keys, out: &mut Out, _a: &[&[u8]]) {
    out.int(c.srv.last_save.load(Ordering::Relaxed) as i64)
}

fn save(c: &mut Ctx, _k: &mut Keys, out: &mut Out, _a: &[&[u8]]) {
    // No persistence yet: a save is a no-op that succeeds, as with `save ""` and no data dir.
    c.srv.last_save.store(unix_secs(), Ordering::Relaxed);
    out.ok()
}

fn bgsave(c: &mut Ctx, _k: &mut Keys, out: &mut Out, _a: &[&[u8]]) {
    c.srv.last_save.store(unix_secs(), Ordering::Relaxed);
    out.simple("Background saving started")
}

fn shutdown(c: &mut Ctx, _k: &mut Keys, out: &mut Out, a: &[&[u8]]) {
    for o in &a[1..] {
        if !["nosave", "save", "now", "force", "abort"]
            .iter()
            .any(|x| eq(o, x))
        {
            return out.err(E_SYNTAX);
        }
    }
    if a[1..].iter().any(|o| eq(o, "abort")) {
        return out.err("ERR No shutdown in progress.");
    }
    c.fx.shutdown = true;
    c.fx.close = true;
}

fn role(_c: &mut Ctx, _k: &mut Keys, out: &mut Out, _a: &[&[u8]]) {
    out.array(3);
    out.bulk(b"master");
    out.int(0);
    out.array(0);
}

fn wait(_c: &mut Ctx, _k: &mut Keys, out: &mut Out, a: &[&[u8]]) {
    if int(out, a[1]).is_some() && int(out, a[2]).is_some() {
        out.int(0)
    }
}

fn module(_c: &mut Ctx, _k: &mut Keys, out: &mut Out, a: &[&[u8]]) {
    if eq(a[1], "list") {
        out.array(0)
    } else {
        subcmd_err(out, "module", a[1])
    }
}

fn acl(_c: &mut Ctx, _k: &mut Keys, out: &mut Out, a: &[&[u8]]) {
    if eq(a[1], "whoami") {
        out.bulk(b"default")
    } else if eq(a[1], "users") {
        out.array(1);
        out.bulk(b"default")
    } else {
        subcmd_err(out, "acl", a[1])
    }
}

fn cluster(_c: &mut Ctx, _k: &mut Keys, out: &mut Out, _a: &[&[u8]]) {
    out.err("ERR This instance has cluster support disabled")
}

fn lolwut(_c: &mut Ctx, _k: &mut Keys, out: &mut Out, _a: &[&[u8]]) {
    out.verbatim(&format!("FerroStack fs-kv. Redis ver. {VERSION}\n"))
}
