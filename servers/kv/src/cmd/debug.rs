//! DEBUG and MEMORY, with `value_size`, the approximate size of a value they report.

use std::sync::atomic::Ordering;

use super::args::*;
use super::keys;
use super::table::*;
use crate::resp::{parse_f64, parse_i64, Out};
use crate::store::{idle_seconds, Keys, Str, Value};

pub fn commands() -> Vec<Cmd> {
    vec![
        cmd("debug", -2, ADMIN | ALL, (0, 0, 0), "server", debug),
        cmd("memory", -2, READONLY, (2, 2, 1), "server", memory),
    ]
}

fn debug(c: &mut Ctx, k: &mut Keys, out: &mut Out, a: &[&[u8]]) {
    let sub = a[1].to_ascii_lowercase();
    match &sub[..] {
        b"sleep" if a.len() == 3 => {
            let secs = parse_f64(a[2]).unwrap_or(0.0).max(0.0);
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
                        idle_seconds(e.lru, clock)
                    );
                    out.simple(&line)
                }
                None => out.err(E_NOKEY),
            }
        }
        b"set-active-expire" if a.len() == 3 => {
            c.srv
                .cfg
                .active_expire
                .store(a[2] != b"0", Ordering::Relaxed);
            out.ok()
        }
        b"populate" if a.len() >= 3 => {
            let Some(n) = int(out, a[2]) else { return };
            let prefix = a.get(3).copied().unwrap_or(b"key");
            let size = a.get(4).and_then(|s| parse_i64(s)).unwrap_or(0).max(0) as usize;
            for i in 0..n.max(0) {
                let key = format!("{}:{}", String::from_utf8_lossy(prefix), i);
                if k.exists(key.as_bytes()) {
                    continue;
                }
                let mut val = format!("value:{i}").into_bytes();
                if size > 0 {
                    val.resize(size, 0);
                }
                k.set(key.as_bytes(), Value::Str(Str::from_vec(val)), None, false);
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

/// Approximate heap bytes of a value (MEMORY USAGE).
pub fn value_size(v: &Value) -> usize {
    match v {
        Value::Str(b) => b.len(),
        Value::List(l) => l.iter().map(|e| e.len() + 32).sum(),
        Value::Hash(h) => h.iter().map(|(f, v)| f.len() + v.len() + 80).sum(),
        Value::Set(s) => s.iter().map(|m| m.len() + 48).sum(),
        Value::ZSet(z) => z.scores.keys().map(|m| m.len() + 120).sum(),
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
