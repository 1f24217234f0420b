//! Panic isolation for one request: a panic while a reply is built is caught, logged to the
//! error log with the request line, counted, and costs only its own connection (the caller
//! closes it after the answers queued before). Worker-wide supervision (a panic escaping any callback) belongs to netstack's
//! runtime; this keeps one bad request from reaching it.
//!
//! Debug builds (tests) have a fault-injection hook: a request whose target equals the value
//! of `FS_HTTPD_PANIC_TARGET` panics inside the handler.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicU64, Ordering};

use crate::log;

/// Request panics caught in this process (all workers).
static PANICS: AtomicU64 = AtomicU64::new(0);

/// How many requests panicked (and were isolated) since the process started.
pub fn request_panics() -> u64 {
    PANICS.load(Ordering::Relaxed)
}

/// Runs `build` for the request whose line is `line`; `None` if it panicked.
pub fn isolate<T>(line: &[u8], build: impl FnOnce() -> T) -> Option<T> {
    match catch_unwind(AssertUnwindSafe(build)) {
        Ok(v) => Some(v),
        Err(payload) => {
            PANICS.fetch_add(1, Ordering::Relaxed);
            let what = payload
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| payload.downcast_ref::<String>().cloned())
                .unwrap_or_default();
            log::error(&format!(
                "request panicked, connection closed: \"{}\": {what}",
                String::from_utf8_lossy(line).escape_debug()
            ));
            None
        }
    }
}

/// The fault-injection hook (debug builds only): panics when `target` is the configured one.
#[cfg(debug_assertions)]
pub fn inject_fault(target: &[u8]) {
    use std::sync::OnceLock;
    static TARGET: OnceLock<Option<Vec<u8>>> = OnceLock::new();
    let wanted = TARGET
        .get_or_init(|| std::env::var_os("FS_HTTPD_PANIC_TARGET").map(|v| v.into_encoded_bytes()));
    if wanted.as_deref() == Some(target) {
        panic!("fault injected for {}", String::from_utf8_lossy(target));
    }
}

#[cfg(not(debug_assertions))]
#[inline(always)]
pub fn inject_fault(_target: &[u8]) {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_panic_is_caught_counted_and_reported_as_none() {
        let before = request_panics();
        assert_eq!(isolate(b"GET / HTTP/1.1", || 7), Some(7));
        let caught: Option<()> = isolate(b"GET /boom HTTP/1.1", || panic!("boom"));
        assert_eq!(caught, None);
        assert_eq!(request_panics(), before + 1);
    }
}
