//! fs-kv as a library: the modules behind the `fs-kv` binary, exposed so that tests can run
//! the real service (`service::Kv`) on any netstack transport (e.g. the user-space stack).
//!
//! The modules, each using only those listed below it (no import cycles; `tests/layout.rs`
//! checks this):
//! - `service`: the per-worker `netstack::Service`: connections, request parsing, reply
//!   flushing, blocked clients, pub/sub and MONITOR deliveries, active expiry;
//! - `cmd`: the command table, the dispatcher and the commands, one file per concern;
//! - `evict`: maxmemory: memory accounting and eviction;
//! - `server`: state shared by the workers (`Server`) and per connection (`Client`);
//! - `config`: the configuration values (`Config`, `Policy`);
//! - `store`: the keyspace: shards, values, key tables;
//! - `resp`: the RESP parser and reply encoder.

pub mod cmd;
pub mod config;
pub mod evict;
pub mod resp;
pub mod server;
pub mod service;
pub mod store;
