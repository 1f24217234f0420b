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
    /// EAL arguments for a test: no hugepages, no PCI, one lcore, a unique file prefix, the
    /// given virtual devices. Non-root runs get a private runtime dir.
    pub fn eal_args(test: &str, vdevs: &[&str]) -> (Vec<String>, String) {
        let prefix = format!("fs-{test}-{}", std::process::id());
        // SAFETY-free: libc geteuid via /proc is overkill; check the runtime dir is writable.
        if std::fs::create_dir_all("/var/run/dpdk").is_err() {
            let dir = std::env::temp_dir().join(format!("{prefix}-xdg"));
            std::fs::create_dir_all(&dir).unwrap();
            std::env::set_var("XDG_RUNTIME_DIR", &dir);
        }
        let mut args: Vec<String> = [
            "-l",
            "0",
            "--no-huge",
            "-m",
            "256",
            "--no-pci",
            "--no-telemetry",
            "--log-level=warning",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        args.push(format!("--file-prefix={prefix}"));
        for v in vdevs {
            args.push(format!("--vdev={v}"));
        }
        (args, prefix)
    }

    /// Removes the EAL runtime directory of `prefix`.
    pub fn cleanup(prefix: &str) {
        let base = std::env::var("XDG_RUNTIME_DIR")
            .map(|d| format!("{d}/dpdk"))
            .unwrap_or_else(|_| "/var/run/dpdk".into());
        let _ = std::fs::remove_dir_all(format!("{base}/{prefix}"));
    }

    /// Runs `f`, printing a libtest-like line; panics (non-zero exit) on failure.
    pub fn run(name: &str, f: impl FnOnce()) {
        let t = std::time::Instant::now();
        f();
        println!("test {name} ... ok ({:.1?})", t.elapsed());
    }
}
