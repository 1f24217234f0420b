//! fs-kv as a library: the modules behind the `fs-kv` binary, exposed so that tests can run
//! the real service (`service::Kv`) on any netstack transport (e.g. the user-space stack).
//!
//! From the wire inwards:
//! - `service`: the per-worker `netstack::Service`: connections, request parsing, reply
//!   flushing, blocked clients, pub/sub and MONITOR deliveries, active expiry;
//! - `resp`: the RESP parser and reply encoder;
//! - `cmd`: the command table, the dispatcher and the commands, one file per concern;
//! - `server`: state shared by the workers (`Server`) and per connection (`Client`);
//! - `config`: the configuration values (`Config`, `Policy`);
//! - `evict`: maxmemory: memory accounting and eviction;
//! - `store`: the keyspace: shards, values, key tables.
//!
//! Dependencies point down this list (from `cmd` to the ones below it, and so on), except that
//! `store` reads `resp::ZERO_COPY_MIN`: there are no import cycles.

pub mod cmd;
pub mod config;
pub mod evict;
pub mod resp;
pub mod server;
pub mod service;
pub mod store;
