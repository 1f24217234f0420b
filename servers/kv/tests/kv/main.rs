//! Integration tests against the real fs-kv binary, with the `redis` client crate, raw RESP
//! sockets and redis-cli, by subject: `data`, `clients`, `limits`, `server`.

#[path = "../common/mod.rs"]
mod common;

mod clients;
mod data;
mod limits;
mod server;

use common::V;

pub fn err(s: &str) -> V {
    V::Err(s.into())
}

pub fn info_field(r: &mut common::Raw, field: &str) -> u64 {
    let V::Bulk(b) = r.cmd("INFO") else { panic!() };
    let text = String::from_utf8(b).unwrap();
    let line = text
        .lines()
        .find(|l| l.starts_with(&format!("{field}:")))
        .unwrap_or_else(|| panic!("{field} in INFO"));
    line.split(':').nth(1).unwrap().trim().parse().unwrap()
}
