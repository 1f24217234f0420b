//! The commands, one file per data type or server concern as Redis lays them out, and the
//! table that gathers them.
//!
//! - `table`: what a command is (`Cmd`, flags, `Handler`, `Ctx`, `Effects`, `Table`);
//! - `args`: argument helpers and shared error replies (`E_*`);
//! - `dispatch`: checks, MULTI queueing, locking and running one command (`execute`);
//! - data types: `string`, `bitmap` (on strings), `list`, `hash`, `set`, `zset`;
//! - `keys`: the keyspace (DEL, EXPIRE, SCAN, RENAME, FLUSHALL, ...);
//! - `tx`: MULTI, EXEC, WATCH; `pubsub`: SUBSCRIBE, PUBLISH, ...;
//! - `connection`: PING, ECHO, QUIT, RESET, AUTH, HELLO, SELECT; `client`: CLIENT;
//! - `config`: CONFIG; `info`: INFO; `slowlog`: SLOWLOG; `debug`: DEBUG, MEMORY;
//! - `introspect`: COMMAND, MONITOR;
//! - `admin`: TIME, LASTSAVE, SAVE, BGSAVE, SHUTDOWN, and the fixed answers for what fs-kv
//!   does not have (ROLE, WAIT, MODULE, ACL, CLUSTER, READONLY, READWRITE, LOLWUT).
//!
//! `TABLE` is built from each file's `commands()`, in this order; a command's position is the
//! index of its statistics.

pub mod admin;
pub mod args;
pub mod bitmap;
pub mod client;
pub mod config;
pub mod connection;
pub mod debug;
pub mod dispatch;
pub mod hash;
pub mod info;
pub mod introspect;
pub mod keys;
pub mod list;
pub mod pubsub;
pub mod set;
pub mod slowlog;
pub mod string;
pub mod table;
pub mod tx;
pub mod zset;

use std::sync::LazyLock;

use table::Table;

pub static TABLE: LazyLock<Table> = LazyLock::new(|| {
    let mut t = Vec::new();
    t.extend(string::commands());
    t.extend(bitmap::commands());
    t.extend(keys::commands());
    t.extend(list::commands());
    t.extend(hash::commands());
    t.extend(set::commands());
    t.extend(zset::commands());
    t.extend(pubsub::commands());
    t.extend(tx::commands());
    t.extend(connection::commands());
    t.extend(client::commands());
    t.extend(info::commands());
    t.extend(introspect::commands());
    t.extend(config::commands());
    t.extend(admin::commands());
    t.extend(slowlog::commands());
    t.extend(debug::commands());
    Table::new(t)
});
