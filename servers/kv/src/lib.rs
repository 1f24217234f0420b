//! fs-kv as a library: the modules behind the `fs-kv` binary, exposed so that tests can run
//! the real service (`service::Kv`) on any netstack transport (e.g. the user-space stack).

pub mod cmd;
pub mod evict;
pub mod resp;
pub mod server;
pub mod service;
pub mod store;

/// Unix time in milliseconds.
pub fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}
