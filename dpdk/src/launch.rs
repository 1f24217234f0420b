//! What the server binaries call to start their workers on the configured transport: Linux
//! sockets (`[runtime] stack = "kernel"`), or the user-space stack over TAP (netstack) or over a
//! DPDK port (this crate), as `[netstack] device` says. Lives here because this is the one
//! crate that knows every device; without the `dpdk` feature `device = "dpdk"` is a
//! configuration error that says how to get it.

use std::io;

use netstack::config::{ConfigError, RuntimeConfig, Source, Stack};
use netstack::runtime::{self, Listen, Runtime};
use netstack::user::config::{DeviceKind, NetstackSection};
use netstack::worker::WorkerConfig;
use netstack::Service;

use crate::config::DpdkConfig;

/// Checks the device choice and the `[dpdk]` section after parsing `src`.
pub fn check_config(
    src: &Source,
    net: &NetstackSection,
    dpdk: &DpdkConfig,
) -> Result<(), ConfigError> {
    if net.device == DeviceKind::Dpdk && !crate::ENABLED {
        return Err(src.key_error(
            "netstack",
            "device",
            "\"dpdk\" is not available in this build (rebuild with `--features dpdk`, which \
             needs libdpdk-dev); use \"tap\"",
        ));
    }
    dpdk.validate()
        .map_err(|(key, message)| src.key_error("dpdk", key, message))
}

/// Starts the workers on the transport `rt` names, each running `make(index)` and listening
/// on `listen`, with the connection limit and panic policy of `worker`.
pub fn launch<S, F>(
    rt: &RuntimeConfig,
    worker: WorkerConfig,
    net: &NetstackSection,
    dpdk: &DpdkConfig,
    listen: &[Listen],
    make: F,
) -> io::Result<Runtime<S::Msg>>
where
    S: Service,
    F: Fn(usize) -> S + Send + Sync + 'static,
{
    let workers = rt.workers.resolve();
    if rt.stack == Stack::Kernel {
        return runtime::start_with(workers, worker, listen, make);
    }
    let mut user = net.user_config();
    user.worker = worker;
    match net.device {
        DeviceKind::Tap => {
            let name = &net.interface;
            netstack::user::start_workers(user, workers, listen, make).map_err(|e| {
                io::Error::new(
                    e.kind(),
                    format!(
                        "user stack on TAP {name}: {e} (needs CAP_NET_ADMIN, or a device made \
                         with `ip tuntap add dev {name} mode tap multi_queue user $USER`)"
                    ),
                )
            })
        }
        #[cfg(feature = "dpdk")]
        DeviceKind::Dpdk => crate::stack::start_workers(user, dpdk, workers, listen, make),
        #[cfg(not(feature = "dpdk"))]
        DeviceKind::Dpdk => {
            let _ = (dpdk, make, user);
            Err(io::Error::new(
                io::ErrorKind::Unsupported,
                "[netstack] device = \"dpdk\": built without the `dpdk` feature",
            ))
        }
    }
}
