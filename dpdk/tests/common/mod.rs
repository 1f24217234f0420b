//! Shared by the DPDK integration tests. Each test is its own process (`harness = false`)
//! because EAL initialises once per process.
#![allow(dead_code)]

/// Prints why the test is skipped when DPDK is not built in; returns true in that case.
pub fn skip_without_dpdk(test: &str) -> bool {
    if !dpdk::ENABLED {
        println!(
            "test {test} ... skipped: built without the `dpdk` feature \
             (needs libdpdk-dev; run `cargo test -p dpdk --features dpdk`)"
        );
        return true;
    }
    false
}

#[cfg(feature = "dpdk")]
pub use with_dpdk::*;

#[cfg(feature = "dpdk")]
mod with_dpdk {
    /// EAL arguments for `test` (a unique file prefix) with the given virtual devices, and
    /// the prefix for [`cleanup`].
    pub fn eal_args(test: &str, vdevs: &[&str]) -> (Vec<String>, String) {
        let prefix = format!("fs-{test}-{}", std::process::id());
        (dpdk::testing::eal_args(&prefix, vdevs), prefix)
    }

    #[allow(unused_imports)] // not every test cleans up a runtime directory
    pub use dpdk::testing::cleanup;

    /// Runs `f`, printing a libtest-like line; panics (non-zero exit) on failure.
    pub fn run(name: &str, f: impl FnOnce()) {
        let t = std::time::Instant::now();
        f();
        println!("test {name} ... ok ({:.1?})", t.elapsed());
    }
}
