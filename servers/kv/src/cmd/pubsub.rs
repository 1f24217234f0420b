//! Pub/Sub: SUBSCRIBE, UNSUBSCRIBE, PSUBSCRIBE, PUNSUBSCRIBE, PUBLISH, PUBSUB. The registry
//! (`Server::pubsub`) is shared by the workers; deliveries go to the subscriber's worker as
//! messages, so a PUBLISH on one core reaches subscribers on every core (`publish_to`; the
//! subscriber's worker writes them with `encode_message`). `drop_all` forgets a client's
//! subscriptions.

use bytes::Bytes;

use super::args::*;
use super::table::*;
use crate::resp::Out;
use crate::server::{lock, Client, Msg, Server};
use crate::store::{glob, HMap, Keys};

pub fn commands() -> Vec<Cmd> {
    let p = PUBSUB | LOADING | STALE | NOQUEUE;
    vec![
        cmd("subscribe", -2, p, (0, 0, 0), "pubsub", subscribe),
        cmd("unsubscribe", -1, p, (0, 0, 0), "pubsub", unsubscribe),
        cmd("psubscribe", -2, p, (0, 0, 0), "pubsub", psubscribe),
        cmd("punsubscribe", -1, p, (0, 0, 0), "pubsub", punsubscribe),
        cmd(
            "publish",
            3,
            PUBSUB | LOADING | STALE | FAST,
            (0, 0, 0),
            "pubsub",
            publish,
        ),
        cmd(
            "pubsub",
            -2,
            PUBSUB | LOADING | STALE,
            (0, 0, 0),
            "pubsub",
            pubsub,
        ),
    ]
}

fn confirm(out: &mut Out, kind: &str, name: Option<&[u8]>, count: usize) {
    out.push(3);
    out.bulk_str(kind);
    match name {
        Some(n) => out.bulk(n),
        None => out.null(),
    }
    out.int(count as i64)
}

fn subscribe(c: &mut Ctx, _k: &mut Keys, out: &mut Out, a: &[&[u8]]) {
    let mut ps = lock(&c.srv.pubsub);
    for ch in &a[1..] {
        if c.cl.pubsub_mut().channels.insert(bytes(ch)) {
            ps.channels
                .entry(bytes(ch))
                .or_default()
                .push((c.worker, c.cl.conn));
        }
        confirm(out, "subscribe", Some(ch), c.cl.subscriptions());
    }
}

fn psubscribe(c: &mut Ctx, _k: &mut Keys, out: &mut Out, a: &[&[u8]]) {
    let mut ps = lock(&c.srv.pubsub);
    for p in &a[1..] {
        if c.cl.pubsub_mut().patterns.insert(bytes(p)) {
            ps.patterns.push((bytes(p), c.worker, c.cl.conn));
        }
        confirm(out, "psubscribe", Some(p), c.cl.subscriptions());
    }
}

/// Removes one channel subscription of this client from the registry.
fn drop_channel(ps: &mut crate::server::PubSub, ch: &[u8], worker: usize, cl: &Client) {
    if let Some(v) = ps.channels.get_mut(ch) {
        v.retain(|&(w, c)| !(w == worker && c == cl.conn));
        if v.is_empty() {
            ps.channels.remove(ch);
        }
    }
}

fn unsubscribe(c: &mut Ctx, _k: &mut Keys, out: &mut Out, a: &[&[u8]]) {
    let mut ps = lock(&c.srv.pubsub);
    let names: Vec<Bytes> = if a.len() > 1 {
        a[1..].iter().map(|x| bytes(x)).collect()
    } else {
        c.cl.pubsub
            .as_ref()
            .map_or_else(Vec::new, |s| s.channels.iter().cloned().collect())
    };
    if names.is_empty() {
        return confirm(out, "unsubscribe", None, c.cl.subscriptions());
    }
    for ch in names {
        if c.cl.pubsub_mut().channels.shift_remove(&ch) {
            drop_channel(&mut ps, &ch, c.worker, c.cl);
        }
        confirm(out, "unsubscribe", Some(&ch), c.cl.subscriptions());
    }
}

fn punsubscribe(c: &mut Ctx, _k: &mut Keys, out: &mut Out, a: &[&[u8]]) {
    let mut ps = lock(&c.srv.pubsub);
    let names: Vec<Bytes> = if a.len() > 1 {
        a[1..].iter().map(|x| bytes(x)).collect()
    } else {
        c.cl.pubsub
            .as_ref()
            .map_or_else(Vec::new, |s| s.patterns.iter().cloned().collect())
    };
    if names.is_empty() {
        return confirm(out, "punsubscribe", None, c.cl.subscriptions());
    }
    for p in names {
        if c.cl.pubsub_mut().patterns.shift_remove(&p) {
            let (w, conn) = (c.worker, c.cl.conn);
            ps.patterns
                .retain(|(q, pw, pc)| !(q == &p && *pw == w && *pc == conn));
        }
        confirm(out, "punsubscribe", Some(&p), c.cl.subscriptions());
    }
}

/// Drops every subscription of a client (disconnect, RESET).
pub fn drop_all(srv: &Server, worker: usize, cl: &mut Client) {
    if cl.subscriptions() == 0 {
        return;
    }
    let mut ps = lock(&srv.pubsub);
    let subs = cl.pubsub.take().expect("subscribed");
    for ch in &subs.channels {
        drop_channel(&mut ps, ch, worker, cl);
    }
    let conn = cl.conn;
    ps.patterns
        .retain(|(_, w, c)| !(*w == worker && *c == conn));
}

fn publish(c: &mut Ctx, _k: &mut Keys, out: &mut Out, a: &[&[u8]]) {
    let n = publish_to(c, bytes(a[1]), bytes(a[2]));
    out.int(n as i64)
}

/// Sends a message to every subscriber, grouped per worker; returns how many receive it.
pub fn publish_to(c: &mut Ctx, channel: Bytes, message: Bytes) -> usize {
    let ps = lock(&c.srv.pubsub);
    let mut per_worker: HMap<usize, Vec<(netstack::Conn, Option<Bytes>)>> = HMap::default();
    let mut n = 0;
    if let Some(v) = ps.channels.get(&channel) {
        for &(w, conn) in v {
            per_worker.entry(w).or_default().push((conn, None));
            n += 1;
        }
    }
    for (p, w, conn) in &ps.patterns {
        if glob(p, &channel) {
            per_worker
                .entry(*w)
                .or_default()
                .push((*conn, Some(p.clone())));
            n += 1;
        }
    }
    drop(ps);
    for (w, to) in per_worker {
        c.fx.posts.push((
            w,
            Msg::Publish {
                to,
                channel: channel.clone(),
                message: message.clone(),
            },
        ));
    }
    n
}

/// Encodes a delivery for one subscriber.
pub fn encode_message(out: &mut Out, pattern: Option<&Bytes>, channel: &[u8], message: &Bytes) {
    match pattern {
        Some(p) => {
            out.push(4);
            out.bulk(b"pmessage");
            out.bulk(p);
        }
        None => {
            out.push(3);
            out.bulk(b"message");
        }
    }
    out.bulk(channel);
    out.bulk_bytes(message);
}

fn pubsub(c: &mut Ctx, _k: &mut Keys, out: &mut Out, a: &[&[u8]]) {
    let sub = a[1].to_ascii_lowercase();
    let ps = lock(&c.srv.pubsub);
    match &sub[..] {
        b"channels" if a.len() <= 3 => {
            let names: Vec<&Bytes> = ps
                .channels
                .keys()
                .filter(|ch| a.get(2).is_none_or(|p| glob(p, ch)))
                .collect();
            out.array(names.len());
            names.iter().for_each(|n| out.bulk(n));
        }
        b"numsub" => {
            out.map(a.len() - 2);
            for ch in &a[2..] {
                out.bulk(ch);
                out.int(ps.channels.get(*ch).map_or(0, |v| v.len() as i64));
            }
        }
        b"numpat" if a.len() == 2 => {
            let mut uniq: Vec<&Bytes> = ps.patterns.iter().map(|(p, ..)| p).collect();
            uniq.sort();
            uniq.dedup();
            out.int(uniq.len() as i64)
        }
        b"help" => {
            out.array(1);
            out.simple("PUBSUB <subcommand> [<arg> [value] [opt] ...]. Subcommands are: CHANNELS, NUMSUB, NUMPAT, HELP")
        }
        b"channels" | b"numpat" => {
            arity_err(out, &format!("pubsub|{}", String::from_utf8_lossy(&sub)))
        }
        _ => subcmd_err(out, "pubsub", a[1]),
    }
}
