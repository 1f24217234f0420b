//! Support for DPDK tests (this crate's and the servers' end-to-end tests): EAL arguments for
//! virtual devices without hugepages, cleanup of EAL's runtime directory, and the skip check.
//! Plain data: builds without DPDK.

/// EAL arguments for a test process: no hugepages, no PCI, one lcore, the unique file
/// `prefix`, the given virtual devices. Runs that cannot write /var/run/dpdk (not root) get a
/// private runtime directory through `XDG_RUNTIME_DIR`, which only affects this process.
pub fn eal_args(prefix: &str, vdevs: &[&str]) -> Vec<String> {
    if std::fs::create_dir_all("/var/run/dpdk").is_err() {
        let dir = std::env::temp_dir().join(format!("{prefix}-xdg"));
        std::fs::create_dir_all(&dir).expect("private EAL runtime directory");
        std::env::set_var("XDG_RUNTIME_DIR", &dir);
    }
    let mut args: Vec<String> = [
        "-l",
        "0",
        "--no-huge",
        "-m",
        "512",
        "--no-pci",
        "--no-telemetry",
        "--log-level=warning",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    args.push(format!("--file-prefix={prefix}"));
    args.extend(vdevs.iter().map(|v| format!("--vdev={v}")));
    args
}

/// Removes EAL's runtime directory for `prefix` (EAL leaves it behind).
pub fn cleanup(prefix: &str) {
    let base = std::env::var("XDG_RUNTIME_DIR")
        .map(|d| format!("{d}/dpdk"))
        .unwrap_or_else(|_| "/var/run/dpdk".into());
    let _ = std::fs::remove_dir_all(format!("{base}/{prefix}"));
}

/// Whether a server end-to-end test over DPDK virtual devices can run: DPDK built in and root
/// (net_tap needs CAP_NET_ADMIN, net_af_packet CAP_NET_RAW). Prints why `test` skips if not.
pub fn e2e_available(test: &str) -> bool {
    let why = if !crate::ENABLED {
        "built without the `dpdk` feature (needs libdpdk-dev; run with `--features dpdk`)"
    } else if !netstack::testing::tap_available() {
        "needs root and /dev/net/tun"
    } else {
        return true;
    };
    eprintln!("SKIP {test}: {why}");
    false
}

/// Which virtual device carries a server end-to-end test.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Wire {
    /// `net_tap`: DPDK creates a multi-queue TAP interface; the kernel's stack on it is the
    /// client side, in this namespace.
    Tap,
    /// `net_af_packet` on the host end of a veth pair whose other end is in a network namespace
    /// of its own, where the clients run (with TX checksum offload off on that end: the PMD
    /// does not finish the kernel's partial checksums).
    AfPacket,
}

/// A test topology in 198.18.0.0/15: the server's address, the client side's, the `--vdev`
/// for EAL, and how to run a client. Removes its devices and namespace when dropped.
pub struct Topology {
    pub wire: Wire,
    pub server: std::net::Ipv4Addr,
    pub client: std::net::Ipv4Addr,
    /// The `--vdev` argument, for `queues` queue pairs.
    pub vdev: String,
    /// The kernel interface (TAP) or host veth end.
    iface: String,
    netns: Option<String>,
    _guards: (
        Option<netstack::testing::NetnsGuard>,
        Option<netstack::testing::DeviceGuard>,
    ),
}

impl Topology {
    /// Builds the kernel side of `wire` for a test named by `tag` (a few letters) in the /24
    /// 198.19.`net`.0 (each test its own), for a port with `queues` queue pairs.
    pub fn new(wire: Wire, tag: &str, net: u8, queues: u16) -> Topology {
        use netstack::testing::{ip, DeviceGuard, NetnsGuard};
        let id = std::process::id() % 100_000;
        let server = std::net::Ipv4Addr::new(198, 19, net, 2);
        let client = std::net::Ipv4Addr::new(198, 19, net, 1);
        let iface = format!("fs{tag}{id}");
        match wire {
            Wire::Tap => Topology {
                wire,
                server,
                client,
                vdev: format!("net_tap0,iface={iface},mac=fixed"),
                _guards: (None, Some(DeviceGuard(iface.clone()))),
                iface,
                netns: None,
            },
            Wire::AfPacket => {
                let ns = format!("fs{tag}ns{id}");
                let peer = format!("fs{tag}p{id}");
                let netns = NetnsGuard(ns.clone());
                let host = DeviceGuard(iface.clone());
                ip(&["netns", "add", &ns]);
                ip(&[
                    "link", "add", &iface, "type", "veth", "peer", "name", &peer, "netns", &ns,
                ]);
                ip(&["link", "set", &iface, "up"]);
                let in_ns = |args: &[&str]| {
                    let mut all = vec!["-n", ns.as_str()];
                    all.extend_from_slice(args);
                    ip(&all);
                };
                in_ns(&["addr", "add", &format!("{client}/24"), "dev", &peer]);
                in_ns(&["link", "set", &peer, "up"]);
                in_ns(&["link", "set", "lo", "up"]);
                let off = std::process::Command::new("ip")
                    .args(["netns", "exec", &ns, "ethtool", "-K", &peer, "tx", "off"])
                    .output()
                    .expect("run ethtool (apt-get install ethtool)");
                assert!(
                    off.status.success(),
                    "ethtool -K {peer} tx off: {}",
                    String::from_utf8_lossy(&off.stderr)
                );
                Topology {
                    wire,
                    server,
                    client,
                    vdev: format!("net_af_packet0,iface={iface},qpairs={queues}"),
                    _guards: (Some(netns), Some(host)),
                    iface,
                    netns: Some(ns),
                }
            }
        }
    }

    /// Finishes the kernel side once the server runs (DPDK creates the TAP interface).
    pub fn attach(&self) {
        if self.wire == Wire::Tap {
            use netstack::testing::{ip, wait_for_device};
            wait_for_device(&self.iface, std::time::Duration::from_secs(20));
            ip(&[
                "addr",
                "add",
                &format!("{}/24", self.client),
                "dev",
                &self.iface,
            ]);
            ip(&["link", "set", &self.iface, "up"]);
        }
    }

    /// A command for a client program, run on the client side.
    pub fn client(&self, program: &str) -> std::process::Command {
        match &self.netns {
            Some(ns) => {
                let mut c = std::process::Command::new("ip");
                c.args(["netns", "exec", ns, program]);
                c
            }
            None => std::process::Command::new(program),
        }
    }
}
