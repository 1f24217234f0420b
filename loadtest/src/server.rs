//! The server side: the real user-space stack and worker core (`netstack::worker::Worker` over
//! `netstack::user::UserTransport`) and a real service on one pinned thread, driven turn by turn over the cross-thread wire. When no
//! frame arrives for a while the thread parks (the generator wakes it), so its CPU time is
//! work, not polling, whenever the generator cannot keep it busy.

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use netstack::buf::Pool;
use netstack::ip::IfaceConfig;
use netstack::runtime::Listen;
use netstack::tcp::TcpConfig;
use netstack::time::{Clock, MonotonicClock};
use netstack::user::{BoxDevice, Stack, UserTransport};
use netstack::wire::EthernetAddress;
use netstack::worker::{mailbox, Worker, WorkerConfig};
use netstack::Service;

use crate::ring::{Parker, Probe, RingWire};

pub const SERVER_IP: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 1);
pub const GATEWAY_IP: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 2);
pub const SERVER_MAC: [u8; 6] = [2, 0, 0, 0, 0, 1];
pub const CLIENT_MAC: [u8; 6] = [2, 0, 0, 0, 0, 2];

/// What the server thread shares with the controller.
#[derive(Default)]
pub struct Shared {
    pub stop: AtomicBool,
    pub listening: AtomicBool,
    /// A request for a memory sample (a counter); `mem_done` echoes it when filled in.
    pub mem_req: AtomicU64,
    pub mem_done: AtomicU64,
    pub conn_mem: AtomicU64,
    pub conns: AtomicU64,
    pub time_wait: AtomicU64,
    /// Nanoseconds spent in loop turns that did work (received frames or had output).
    pub busy_ns: AtomicU64,
    /// How long an idle loop polls before it parks (ns); 0 parks at once (for callgrind).
    pub spin_ns: AtomicU64,
}

/// Figures the server thread reports when it ends.
#[derive(Debug, Default)]
pub struct ServerEnd {
    pub turns: u64,
    pub parks: u64,
    pub tcp: String,
}

/// Pins the calling thread to `cpu`.
pub fn pin(cpu: usize) {
    // SAFETY: a zeroed cpu_set_t is valid; CPU_SET and sched_setaffinity get valid pointers.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        libc::CPU_SET(cpu, &mut set);
        if libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set) != 0 {
            eprintln!("fs-load: could not pin to CPU {cpu}");
        }
    }
}

/// Runs `make()` on a user-space stack over `wire` until `shared.stop`.
pub fn serve<S: Service>(
    wire: RingWire,
    parker: Arc<Parker>,
    shared: Arc<Shared>,
    listen: Vec<SocketAddr>,
    cpu: usize,
    make: impl FnOnce() -> S,
) -> ServerEnd {
    pin(cpu);
    parker.register();
    let probe: Probe = wire.probe();
    let clock = MonotonicClock::new();
    let iface = IfaceConfig {
        mac: EthernetAddress(SERVER_MAC),
        addr: SERVER_IP,
        // Clients (198.18.0.0/15) are behind the generator's "router" 10.0.0.2: one ARP entry.
        prefix: 24,
        gateway: Some(GATEWAY_IP),
        mtu: 1500,
    };
    let device: BoxDevice = Box::new(wire);
    let pool = Pool::with_capacity(65536);
    let stack = Stack::new(
        device,
        iface,
        TcpConfig::default(),
        pool.clone(),
        clock.now(),
        netstack::user::random_secret(),
    );
    let mailboxes = mailbox::mailboxes(1).expect("mailbox");
    let wake = mailboxes[0].wake_fd();
    let mut transport =
        UserTransport::new(stack, clock, pool, 0, wake, None, Duration::ZERO).expect("transport");
    for addr in listen {
        transport
            .listen(&Listen {
                addr,
                backlog: 65535,
            })
            .expect("listen");
    }
    let stats = Default::default();
    let cfg = WorkerConfig::default();
    let mut worker = Worker::new(make(), transport, 0, mailboxes.clone(), stats, cfg);
    shared.listening.store(true, Ordering::Release);
    let mut end = ServerEnd::default();
    let mut idle_since: Option<std::time::Instant> = None;
    let mut idle = 0u32;
    let mut mem_seen = 0;
    let mut busy_ns = 0u64;
    while !shared.stop.load(Ordering::Relaxed) {
        let rx0 = worker.core.transport().stack.stats.rx_frames;
        let t0 = std::time::Instant::now();
        worker.turn();
        let stack = &worker.core.transport().stack;
        end.turns += 1;
        let req = shared.mem_req.load(Ordering::Acquire);
        if req != mem_seen {
            mem_seen = req;
            let tcp = &stack.tcp;
            shared
                .conn_mem
                .store(tcp.connection_memory() as u64, Ordering::Relaxed);
            shared
                .conns
                .store(tcp.connections() as u64, Ordering::Relaxed);
            shared
                .time_wait
                .store(tcp.time_wait_len() as u64, Ordering::Relaxed);
            shared.mem_done.store(req, Ordering::Release);
        }
        if stack.stats.rx_frames != rx0 || stack.busy() {
            busy_ns += t0.elapsed().as_nanos() as u64;
            shared.busy_ns.store(busy_ns, Ordering::Relaxed);
            idle = 0;
            idle_since = None;
            continue;
        }
        // Poll like a dedicated core for a while (SPIN), then park until the generator sends.
        idle += 1;
        if idle & 63 != 0 && shared.spin_ns.load(Ordering::Relaxed) > 0 {
            std::hint::spin_loop();
            continue;
        }
        let since = *idle_since.get_or_insert(t0);
        if since.elapsed() < Duration::from_nanos(shared.spin_ns.load(Ordering::Relaxed)) {
            continue;
        }
        end.parks += 1;
        parker.sleep(Duration::from_millis(1), || {
            probe.ready() || shared.stop.load(Ordering::Relaxed)
        });
    }
    let s = worker.core.transport().stack.tcp.stats();
    end.tcp = format!(
        "segs_in={} segs_out={} retransmits={} resets_sent={} resets_received={} syncookies_sent={} \
         drop_listen_overflow={} drop_no_listener={} drop_out_of_window={} accepted={}",
        s.segs_in,
        s.segs_out,
        s.retransmits,
        s.resets_sent,
        s.resets_received,
        s.syncookies_sent,
        s.drop_listen_overflow,
        s.drop_no_listener,
        s.drop_out_of_window,
        s.accepted
    );
    end
}
