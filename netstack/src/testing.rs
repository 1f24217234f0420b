//! Support for tests that put the Linux kernel on the other side of a TAP device (here and in
//! the server crates): root detection, `ip` commands, and guards that remove what a test made
//! even when it fails.

use std::process::{Child, Command};

pub use rustix::process::Signal;
use std::time::{Duration, Instant};

/// Whether TAP tests can run: root (CAP_NET_ADMIN) and /dev/net/tun.
pub fn tap_available() -> bool {
    rustix::process::geteuid().is_root() && std::path::Path::new("/dev/net/tun").exists()
}

/// Runs `ip ARGS`, panicking with its error output on failure.
pub fn ip(args: &[&str]) {
    let out = Command::new("ip").args(args).output().expect("run ip");
    assert!(
        out.status.success(),
        "ip {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Deletes the network device of this name when dropped.
pub struct DeviceGuard(pub String);

impl Drop for DeviceGuard {
    fn drop(&mut self) {
        let _ = Command::new("ip").args(["link", "del", &self.0]).output();
    }
}

/// Deletes the network namespace of this name when dropped (with the devices inside it).
pub struct NetnsGuard(pub String);

impl Drop for NetnsGuard {
    fn drop(&mut self) {
        let _ = Command::new("ip").args(["netns", "del", &self.0]).output();
    }
}

/// Kills and reaps a child process when dropped, unless the test took it back.
pub struct ChildGuard(pub Option<Child>);

impl Drop for ChildGuard {
    fn drop(&mut self) {
        if let Some(c) = self.0.as_mut() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

impl ChildGuard {
    /// Starts the server binary `bin` with `-c config`, stdout discarded and stderr kept for
    /// [`ChildGuard::stop`].
    pub fn start_server(bin: &str, config: &std::path::Path) -> ChildGuard {
        let child = Command::new(bin)
            .arg("-c")
            .arg(config)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("start {bin}: {e}"));
        ChildGuard(Some(child))
    }

    /// Sends `signal` to the child, waits (up to 15 s, then kills it and panics) for it to
    /// exit, and returns its exit status and what it wrote to its (piped) stderr, echoed to
    /// the test's own stderr.
    pub fn stop(&mut self, signal: rustix::process::Signal) -> (std::process::ExitStatus, String) {
        use std::io::Read;
        let mut child = self.0.take().expect("the child is running");
        let pid = rustix::process::Pid::from_child(&child);
        rustix::process::kill_process(pid, signal).expect("signal the child");
        let deadline = Instant::now() + Duration::from_secs(15);
        let status = loop {
            if let Some(status) = child.try_wait().expect("wait for the child") {
                break status;
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                panic!("the child did not exit after {signal:?}");
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        let mut stderr = String::new();
        if let Some(mut e) = child.stderr.take() {
            e.read_to_string(&mut stderr)
                .expect("read the child's stderr");
        }
        eprintln!("{stderr}");
        (status, stderr)
    }
}

/// Waits until the network device `name` exists, or panics after `limit`.
pub fn wait_for_device(name: &str, limit: Duration) {
    let deadline = Instant::now() + limit;
    while !std::path::Path::new(&format!("/sys/class/net/{name}")).exists() {
        assert!(Instant::now() < deadline, "{name} did not appear");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Connections accepted per worker, from the `user worker N: accepted K connections` lines a
/// multi-worker user stack prints when it exits.
pub fn accepted_per_worker(stderr: &str, workers: usize) -> Vec<u64> {
    let mut out = vec![0; workers];
    for line in stderr.lines() {
        let Some(rest) = line.strip_prefix("user worker ") else {
            continue;
        };
        let (w, rest) = rest.split_once(": accepted ").expect("stats line");
        let k = rest.split_whitespace().next().expect("count");
        out[w.parse::<usize>().expect("worker")] = k.parse().expect("count");
    }
    out
}

/// Asserts that a multi-worker server accepted each of `connections` exactly once and that every
/// worker got some (the flows were spread by steering), from its exit lines on stderr.
pub fn assert_connections_spread(stderr: &str, workers: usize, connections: u64) {
    let per_worker = accepted_per_worker(stderr, workers);
    assert_eq!(
        per_worker.iter().sum::<u64>(),
        connections,
        "every connection accepted once: {stderr}"
    );
    assert!(
        per_worker.iter().all(|&n| n > 0),
        "all workers served connections: {per_worker:?}"
    );
}
