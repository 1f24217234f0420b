//! CONFIG: GET and SET over `crate::config::Config` (`config_set` applies one parameter),
//! RESETSTAT, REWRITE (refused: no config file), HELP.

use std::sync::atomic::Ordering;

use super::args::*;
use super::table::*;
use crate::config::{parse_memory, Policy};
use crate::resp::Out;
use crate::server::lock;
use crate::store::{glob, Keys};

pub fn commands() -> Vec<Cmd> {
    vec![cmd(
        "config",
        -2,
        ADMIN | LOADING | STALE,
        (0, 0, 0),
        "server",
        config,
    )]
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
                        .any(|p| glob(&p.to_ascii_lowercase(), k.as_bytes()))
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
