//! Connection and server commands: PING, AUTH, HELLO, SELECT, CLIENT, INFO, CONFIG, COMMAND, ...

use std::fmt::Write;
use std::sync::atomic::Ordering;

use bytes::Bytes;

use super::*;
use crate::server::{lock, unix_secs, ClientInfo, Policy, SlowEntry};

pub const VERSION: &str = "7.0.15";

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
        cmd("client", -2, c, (0, 0, 0), "connection", client),
        cmd("info", -1, c | ALL, (0, 0, 0), "server", info),
        cmd("command", -1, c, (0, 0, 0), "server", command),
        cmd("config", -2, ADMIN | c, (0, 0, 0), "server", config),
        cmd("time", 1, FAST | c, (0, 0, 0), "server", time),
        cmd("lastsave", 1, FAST | c, (0, 0, 0), "server", lastsave),
        cmd("save", 1, ADMIN, (0, 0, 0), "server", save),
        cmd("bgsave", -1, ADMIN, (0, 0, 0), "server", bgsave),
        cmd("monitor", 1, ADMIN | c, (0, 0, 0), "server", monitor),
        cmd("slowlog", -2, ADMIN | c, (0, 0, 0), "server", slowlog),
        cmd("debug", -2, ADMIN | ALL, (0, 0, 0), "server", debug),
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
        cmd("memory", -2, READONLY, (2, 2, 1), "server", memory),
        cmd("module", -2, ADMIN, (0, 0, 0), "server", module),
        cmd("acl", -2, ADMIN, (0, 0, 0), "server", acl),
        cmd("cluster", -2, 0, (0, 0, 0), "cluster", cluster),
        cmd("readonly", 1, FAST, (0, 0, 0), "cluster", cluster),
        cmd("readwrite", 1, FAST, (0, 0, 0), "cluster", cluster),
        cmd("lolwut", -1, READONLY | FAST, (0, 0, 0), "server", lolwut),
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
        out.err("WRONGPASS invalid username-password pair or user is disabled.")
    }
}

fn hello(c: &mut Ctx, _k: &mut Keys, out: &mut Out, a: &[&[u8]]) {
    let mut proto = if out.resp3 { 3 } else { 2 };
    if let Some(v) = a.get(1) {
        match crate::resp::parse_i64(v) {
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
                return out.err("WRONGPASS invalid username-password pair or user is disabled.");
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
            return out
                .err("ERR Client names cannot contain spaces, newlines or special characters.");
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
    let Some(db) = int(out, a[1]) else { return };
    if db < 0 || db as usize >= c.srv.store.databases {
        return out.err("ERR DB index is out of range");
    }
    c.cl.db = db as usize;
    out.ok()
}

fn valid_name(n: &[u8]) -> bool {
    n.iter().all(|&b| (b'!'..=b'~').contains(&b))
}

/// Publishes this client's db to its worker's client table.
fn sync_info(c: &mut Ctx) {
    let db = c.cl.db;
    c.srv.update_client(c.worker, c.cl.conn, |i| i.db = db);
}

/// The client's name lives in its worker's client table only (it is rarely set or read).
fn set_name(c: &mut Ctx, name: Bytes) {
    c.srv.update_client(c.worker, c.cl.conn, |i| {
        if !name.is_empty() || i.meta.is_some() {
            i.meta_mut().name = name;
        }
    });
}

fn client_name(c: &Ctx) -> Bytes {
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
                return out.err(
                    "ERR Client names cannot contain spaces, newlines or special characters.",
                );
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
            crate::resp::parse_i64(v) == Some(i.id as i64)
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

/// Approximate heap bytes of a value (MEMORY USAGE).
pub fn value_size(v: &crate::store::Value) -> usize {
    use crate::store::Value::*;
    match v {
        Str(b) => b.len(),
        List(l) => l.iter().map(|e| e.len() + 32).sum(),
        Hash(h) => h.iter().map(|(f, v)| f.len() + v.len() + 80).sum(),
        Set(s) => s.iter().map(|m| m.len() + 48).sum(),
        ZSet(z) => z.scores.keys().map(|m| m.len() + 120).sum(),
    }
}

fn memory(_c: &mut Ctx, k: &mut Keys, out: &mut Out, a: &[&[u8]]) {
    let sub = a[1].to_ascii_lowercase();
    match &sub[..] {
        b"usage" if a.len() >= 3 => match k.peek(a[2]) {
            Some(e) => {
                let n = value_size(&e.val) + a[2].len() + 72;
                out.int(n as i64)
            }
            None => out.null(),
        },
        b"usage" => arity_err(out, "memory|usage"),
        b"doctor" => out.bulk(b"Hi Sam, I can't find any memory issue in your instance. I can only account for what occurs on this base."),
        _ => subcmd_err(out, "memory", a[1]),
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
    let mut per: crate::store::HMap<usize, Vec<netstack::Conn>> = Default::default();
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
                Some(v) => match crate::resp::parse_i64(v) {
                    Some(n) if n >= -1 => {
                        if n == -1 {
                            usize::MAX
                        } else {
                            n as usize
                        }
                    }
                    _ => return out.err("ERR count should be greater than or equal to -1"),
                },
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

fn debug(_c: &mut Ctx, k: &mut Keys, out: &mut Out, a: &[&[u8]]) {
    let sub = a[1].to_ascii_lowercase();
    match &sub[..] {
        b"sleep" if a.len() == 3 => {
            let secs = crate::resp::parse_f64(a[2]).unwrap_or(0.0).max(0.0);
            std::thread::sleep(std::time::Duration::from_secs_f64(secs.min(3600.0)));
            out.ok()
        }
        b"object" if a.len() == 3 => {
            let clock = k.lru_clock;
            match k.peek(a[2]) {
                Some(e) => {
                    let line = format!(
                        "Value at:0x0 refcount:1 encoding:{} serializedlength:{} lru:{} lru_seconds_idle:{}",
                        keys::encoding(&e.val),
                        value_size(&e.val),
                        e.lru & 0xFF_FFFF,
                        crate::store::idle_seconds(e.lru, clock)
                    );
                    out.simple(&line)
                }
                None => out.err(E_NOKEY),
            }
        }
        b"set-active-expire" if a.len() == 3 => {
            crate::service::ACTIVE_EXPIRE.store(a[2] != b"0", Ordering::Relaxed);
            out.ok()
        }
        b"populate" if a.len() >= 3 => {
            let Some(n) = int(out, a[2]) else { return };
            let prefix = a.get(3).copied().unwrap_or(b"key");
            let size = a
                .get(4)
                .and_then(|s| crate::resp::parse_i64(s))
                .unwrap_or(0)
                .max(0) as usize;
            for i in 0..n.max(0) {
                let key = format!("{}:{}", String::from_utf8_lossy(prefix), i);
                if k.exists(key.as_bytes()) {
                    continue;
                }
                let mut val = format!("value:{i}").into_bytes();
                if size > 0 {
                    val.resize(size, 0);
                }
                k.set(
                    key.as_bytes(),
                    crate::store::Value::Str(crate::store::Str::from_vec(val)),
                    None,
                    false,
                );
            }
            out.ok()
        }
        b"jmap" | b"quicklist-packed-threshold" | b"listpack" | b"stringmatch-len" => out.ok(),
        b"help" => {
            out.array(1);
            out.simple("DEBUG <subcommand>: SLEEP <seconds>, OBJECT <key>, SET-ACTIVE-EXPIRE <0|1>, POPULATE <count> [<prefix>] [<size>]")
        }
        _ => subcmd_err(out, "debug", a[1]),
    }
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

// ---- CONFIG ----

/// Redis memory units: `100`, `1k`, `1kb`, `5mb`, `1gb` (k = 1000, kb = 1024).
pub fn parse_memory(s: &str) -> Option<u64> {
    let s = s.trim().to_ascii_lowercase();
    let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let (n, unit) = s.split_at(split);
    let n: u64 = n.parse().ok()?;
    let mul = match unit {
        "" | "b" => 1,
        "k" => 1000,
        "kb" => 1024,
        "m" => 1_000_000,
        "mb" => 1 << 20,
        "g" => 1_000_000_000,
        "gb" => 1 << 30,
        _ => return None,
    };
    n.checked_mul(mul)
}

fn config_pairs(c: &Ctx) -> Vec<(String, String)> {
    let cfg = &c.srv.cfg;
    let mut v = lock(&cfg.params).clone();
    v.push((
        "maxmemory".into(),
        cfg.maxmemory.load(Ordering::Relaxed).to_string(),
    ));
    v.push(("maxmemory-policy".into(), cfg.policy().name().into()));
    v.push(("requirepass".into(), cfg.password().unwrap_or_default()));
    v.push((
        "slowlog-log-slower-than".into(),
        cfg.slowlog_slower.load(Ordering::Relaxed).to_string(),
    ));
    v.push((
        "slowlog-max-len".into(),
        cfg.slowlog_max.load(Ordering::Relaxed).to_string(),
    ));
    v
}

fn config(c: &mut Ctx, _k: &mut Keys, out: &mut Out, a: &[&[u8]]) {
    let sub = a[1].to_ascii_lowercase();
    match &sub[..] {
        b"get" if a.len() >= 3 => {
            let pairs = config_pairs(c);
            let found: Vec<&(String, String)> = pairs
                .iter()
                .filter(|(k, _)| {
                    a[2..]
                        .iter()
                        .any(|p| crate::store::glob(&p.to_ascii_lowercase(), k.as_bytes()))
                })
                .collect();
            out.map(found.len());
            for (k, v) in found {
                out.bulk_str(k);
                out.bulk_str(v);
            }
        }
        b"set" if a.len() >= 4 && a.len().is_multiple_of(2) => {
            for p in a[2..].chunks(2) {
                let key = String::from_utf8_lossy(p[0]).to_ascii_lowercase();
                let val = String::from_utf8_lossy(p[1]).into_owned();
                if let Err(e) = config_set(c, &key, &val) {
                    return out.err(&format!(
                        "ERR CONFIG SET failed (possibly related to argument '{key}') - {e}"
                    ));
                }
            }
            out.ok()
        }
        b"resetstat" if a.len() == 2 => {
            for w in &c.srv.cmdstats {
                for s in w {
                    s.calls.store(0, Ordering::Relaxed);
                    s.usec.store(0, Ordering::Relaxed);
                    s.failed.store(0, Ordering::Relaxed);
                    s.rejected.store(0, Ordering::Relaxed);
                }
            }
            lock(&c.srv.errorstats).clear();
            c.srv.stats.errors.store(0, Ordering::Relaxed);
            out.ok()
        }
        b"rewrite" => out.err("ERR The server is running without a config file"),
        b"help" => {
            out.array(1);
            out.simple("CONFIG <subcommand> [<arg> [value] [opt] ...]. Subcommands are: GET <pattern>, SET <directive> <value>, RESETSTAT, REWRITE, HELP")
        }
        b"get" | b"set" | b"resetstat" => {
            arity_err(out, &format!("config|{}", String::from_utf8_lossy(&sub)))
        }
        _ => subcmd_err(out, "config", a[1]),
    }
}

/// Applies one parameter; unknown tuning parameters are accepted and stored (no-ops).
pub fn config_set(c: &Ctx, key: &str, val: &str) -> Result<(), String> {
    let cfg = &c.srv.cfg;
    match key {
        "maxmemory" => cfg.maxmemory.store(
            parse_memory(val).ok_or("argument must be a memory value")?,
            Ordering::Relaxed,
        ),
        "maxmemory-policy" => {
            let p = Policy::parse(val).ok_or_else(|| {
                let names: Vec<&str> = Policy::ALL.iter().map(|(_, n)| *n).collect();
                format!(
                    "argument(s) must be one of the following: {}",
                    names.join(", ")
                )
            })?;
            *cfg.policy.write().unwrap_or_else(|e| e.into_inner()) = p;
            c.srv.store.lfu.store(p.lfu(), Ordering::Relaxed);
        }
        "requirepass" => {
            *cfg.requirepass.write().unwrap_or_else(|e| e.into_inner()) =
                Some(val.to_string()).filter(|v| !v.is_empty())
        }
        "slowlog-log-slower-than" => {
            let v: i64 = val
                .parse()
                .map_err(|_| "argument couldn't be parsed into an integer")?;
            cfg.slowlog_slower
                .store(if v < 0 { u64::MAX } else { v as u64 }, Ordering::Relaxed)
        }
        "slowlog-max-len" => cfg.slowlog_max.store(
            val.parse()
                .map_err(|_| "argument couldn't be parsed into an integer")?,
            Ordering::Relaxed,
        ),
        "databases" | "port" | "bind" => return Err("can't set immutable config".into()),
        _ => {
            let mut params = lock(&cfg.params);
            match params.iter_mut().find(|(k, _)| k == key) {
                Some(p) => p.1 = val.to_string(),
                None => params.push((key.to_string(), val.to_string())),
            }
        }
    }
    Ok(())
}

// ---- COMMAND ----

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

fn command(_c: &mut Ctx, _k: &mut Keys, out: &mut Out, a: &[&[u8]]) {
    let Some(sub) = a.get(1).map(|s| s.to_ascii_lowercase()) else {
        out.array(TABLE.len());
        return TABLE.iter().for_each(|c| command_info(out, c));
    };
    match &sub[..] {
        b"count" => out.int(TABLE.len() as i64),
        b"list" => {
            out.array(TABLE.len());
            TABLE.iter().for_each(|c| out.bulk_str(c.name));
        }
        b"info" => {
            let names: Vec<&[u8]> = if a.len() > 2 {
                a[2..].to_vec()
            } else {
                TABLE.iter().map(|c| c.name.as_bytes()).collect()
            };
            out.array(names.len());
            for n in names {
                match lookup(n) {
                    Some(i) => command_info(out, &TABLE[i]),
                    None => out.null_array(),
                }
            }
        }
        b"docs" => {
            let idx: Vec<usize> = if a.len() > 2 {
                a[2..].iter().filter_map(|n| lookup(n)).collect()
            } else {
                (0..TABLE.len()).collect()
            };
            out.map(idx.len());
            for i in idx {
                let c = &TABLE[i];
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
            let Some(i) = lookup(a[2]) else {
                return out.err("ERR Invalid command specified");
            };
            let c = &TABLE[i];
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

// ---- INFO ----

fn human(n: u64) -> String {
    let units = [("G", 1u64 << 30), ("M", 1 << 20), ("K", 1 << 10)];
    for (u, s) in units {
        if n >= s {
            return format!("{:.2}{u}", n as f64 / s as f64);
        }
    }
    format!("{n}B")
}

fn rss_bytes() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap_or_default();
    statm
        .split_whitespace()
        .nth(1)
        .and_then(|p| p.parse::<u64>().ok())
        .unwrap_or(0)
        * 4096
}

fn cpu_times() -> (f64, f64) {
    // SAFETY: getrusage writes into the zeroed struct we pass.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut ru) };
    let t = |tv: libc::timeval| tv.tv_sec as f64 + tv.tv_usec as f64 / 1e6;
    (t(ru.ru_stime), t(ru.ru_utime))
}

fn info(c: &mut Ctx, k: &mut Keys, out: &mut Out, a: &[&[u8]]) {
    let args: Vec<String> = a[1..]
        .iter()
        .map(|s| String::from_utf8_lossy(s).to_ascii_lowercase())
        .collect();
    let all = args.iter().any(|s| s == "all" || s == "everything");
    let default = args.is_empty() || args.iter().any(|s| s == "default");
    let want = |s: &str| {
        all || (default && s != "commandstats" && s != "latencystats")
            || args.iter().any(|x| x == s)
    };
    let srv = c.srv;
    let mut t = String::new();
    let mut section = |name: &str, body: String| {
        if want(&name.to_ascii_lowercase()) {
            if !t.is_empty() {
                t.push_str("\r\n");
            }
            let _ = write!(t, "# {name}\r\n{body}");
        }
    };
    let up = srv.started.elapsed().as_secs();
    section(
        "Server",
        format!(
            "redis_version:{VERSION}\r\nredis_git_sha1:00000000\r\nredis_git_dirty:0\r\nredis_build_id:0\r\nredis_mode:standalone\r\nos:{} {}\r\narch_bits:64\r\nmultiplexing_api:epoll\r\natomicvar_api:c11-builtin\r\ngcc_version:0.0.0\r\nprocess_id:{}\r\nprocess_supervised:no\r\nrun_id:{}\r\ntcp_port:{}\r\nserver_time_usec:{}\r\nuptime_in_seconds:{up}\r\nuptime_in_days:{}\r\nhz:10\r\nconfigured_hz:10\r\nlru_clock:{}\r\nexecutable:fs-kv\r\nconfig_file:\r\nio_threads_active:0\r\nserver_name:fs-kv\r\nworkers:{}\r\n",
            std::env::consts::OS,
            std::env::consts::ARCH,
            std::process::id(),
            srv.run_id,
            srv.cfg.port,
            c.now * 1000,
            up / 86400,
            k.lru_clock,
            srv.workers,
        ),
    );
    section(
        "Clients",
        format!(
            "connected_clients:{}\r\ncluster_connections:0\r\nmaxclients:10000\r\nclient_recent_max_input_buffer:0\r\nclient_recent_max_output_buffer:0\r\nblocked_clients:{}\r\ntracking_clients:0\r\nclients_in_timeout_table:0\r\n",
            srv.stats.connected.load(Ordering::Relaxed),
            srv.stats.blocked.load(Ordering::Relaxed)
        ),
    );
    let used = crate::evict::used_memory();
    let rss = rss_bytes();
    let max = srv.cfg.maxmemory.load(Ordering::Relaxed);
    section(
        "Memory",
        format!(
            "used_memory:{used}\r\nused_memory_human:{}\r\nused_memory_rss:{rss}\r\nused_memory_rss_human:{}\r\nused_memory_peak:{used}\r\nused_memory_peak_human:{}\r\nused_memory_overhead:0\r\nused_memory_dataset:{used}\r\nused_memory_lua:31744\r\nmaxmemory:{max}\r\nmaxmemory_human:{}\r\nmaxmemory_policy:{}\r\nmem_fragmentation_ratio:{:.2}\r\nmem_allocator:libc\r\nlazyfree_pending_objects:0\r\nlazyfreed_objects:0\r\n",
            human(used),
            human(rss),
            human(used),
            human(max),
            srv.cfg.policy().name(),
            if used > 0 { rss as f64 / used as f64 } else { 1.0 },
        ),
    );
    section(
        "Persistence",
        format!(
            "loading:0\r\nasync_loading:0\r\ncurrent_cow_peak:0\r\nrdb_changes_since_last_save:{}\r\nrdb_bgsave_in_progress:0\r\nrdb_last_save_time:{}\r\nrdb_last_bgsave_status:ok\r\naof_enabled:0\r\naof_rewrite_in_progress:0\r\n",
            srv.store.stats.dirty.load(Ordering::Relaxed),
            srv.last_save.load(Ordering::Relaxed)
        ),
    );
    let (mut hits, mut misses, mut expired) = (0, 0, 0);
    let mut keyspace = String::new();
    let shards: Vec<_> = k.each_shard().collect();
    for s in &shards {
        hits += s.hits;
        misses += s.misses;
        expired += s.expired;
    }
    for db in 0..srv.store.databases {
        let keys: usize = shards.iter().map(|s| s.dbs[db].map.len()).sum();
        let exp: usize = shards.iter().map(|s| s.dbs[db].expires).sum();
        if keys > 0 {
            let _ = write!(keyspace, "db{db}:keys={keys},expires={exp},avg_ttl=0\r\n");
        }
    }
    drop(shards);
    let (channels, patterns) = {
        let ps = lock(&srv.pubsub);
        (ps.channels.len(), ps.patterns.len())
    };
    let calls: u64 = srv
        .cmdstats
        .iter()
        .flatten()
        .map(|s| s.calls.load(Ordering::Relaxed))
        .sum();
    section(
        "Stats",
        format!(
            "total_connections_received:{}\r\ntotal_commands_processed:{calls}\r\ninstantaneous_ops_per_sec:0\r\ntotal_net_input_bytes:{}\r\ntotal_net_output_bytes:{}\r\nrejected_connections:0\r\nexpired_keys:{expired}\r\nexpired_stale_perc:0.00\r\nevicted_keys:{}\r\nkeyspace_hits:{hits}\r\nkeyspace_misses:{misses}\r\npubsub_channels:{}\r\npubsub_patterns:{}\r\ntotal_error_replies:{}\r\ntracking_total_keys:0\r\nlazyfreed_objects:0\r\n",
            srv.stats.connections.load(Ordering::Relaxed),
            srv.stats.net_in.load(Ordering::Relaxed),
            srv.stats.net_out.load(Ordering::Relaxed),
            srv.store.stats.evicted.load(Ordering::Relaxed),
            channels,
            patterns,
            srv.stats.errors.load(Ordering::Relaxed),
        ),
    );
    section(
        "Replication",
        format!("role:master\r\nconnected_slaves:0\r\nmaster_failover_state:no-failover\r\nmaster_replid:{}\r\nmaster_replid2:0000000000000000000000000000000000000000\r\nmaster_repl_offset:0\r\nsecond_repl_offset:-1\r\nrepl_backlog_active:0\r\n", srv.run_id),
    );
    let (sys, user) = cpu_times();
    section("CPU", format!("used_cpu_sys:{sys:.6}\r\nused_cpu_user:{user:.6}\r\nused_cpu_sys_children:0.000000\r\nused_cpu_user_children:0.000000\r\n"));
    section("Modules", String::new());
    let mut cs = String::new();
    for (i, cmd) in TABLE.iter().enumerate() {
        let sum = |f: fn(&crate::server::CmdStat) -> &std::sync::atomic::AtomicU64| -> u64 {
            srv.cmdstats
                .iter()
                .map(|w| f(&w[i]).load(Ordering::Relaxed))
                .sum()
        };
        let (calls, usec, failed, rejected) = (
            sum(|s| &s.calls),
            sum(|s| &s.usec),
            sum(|s| &s.failed),
            sum(|s| &s.rejected),
        );
        if calls + rejected > 0 {
            let per = if calls > 0 {
                usec as f64 / calls as f64
            } else {
                0.0
            };
            let _ = write!(cs, "cmdstat_{}:calls={calls},usec={usec},usec_per_call={per:.2},rejected_calls={rejected},failed_calls={failed}\r\n", cmd.name);
        }
    }
    section("Commandstats", cs);
    let es: String = lock(&srv.errorstats)
        .iter()
        .map(|(k, v)| format!("errorstat_{k}:count={v}\r\n"))
        .collect();
    section("Errorstats", es);
    section("Cluster", "cluster_enabled:0\r\n".into());
    section("Keyspace", keyspace);
    out.verbatim(&t)
}
