//! EAL initialisation (once per process), errors, lcore helpers and the software Toeplitz.

use std::ffi::{c_char, CStr, CString};
use std::fmt;
use std::sync::{Mutex, OnceLock};

use dpdk_sys as sys;

/// A failed DPDK call: the operation and the (positive) errno DPDK reported.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Error {
    pub op: &'static str,
    pub errno: i32,
}

impl Error {
    /// From a DPDK return value `ret < 0` that is `-errno`.
    pub(crate) fn from_ret(op: &'static str, ret: i32) -> Error {
        Error {
            op,
            errno: ret.abs(),
        }
    }

    /// From `rte_errno` (calls that return NULL or -1 and set `rte_errno`).
    pub(crate) fn last(op: &'static str) -> Error {
        // SAFETY: reads the calling thread's `rte_errno` (a thread-local int).
        let errno = unsafe { sys::fs_rte_errno() };
        Error { op, errno }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // SAFETY: rte_strerror returns a pointer to a static or thread-local NUL-terminated
        // string, valid until the next call on this thread; it is copied right away.
        let msg = unsafe { CStr::from_ptr(sys::rte_strerror(self.errno)) };
        write!(
            f,
            "{}: {} (errno {})",
            self.op,
            msg.to_string_lossy(),
            self.errno
        )
    }
}

impl std::error::Error for Error {}

pub(crate) fn check(op: &'static str, ret: i32) -> Result<i32, Error> {
    if ret < 0 {
        Err(Error::from_ret(op, ret))
    } else {
        Ok(ret)
    }
}

/// The initialised Environment Abstraction Layer. EAL initialises once per process and
/// cannot be re-initialised; every DPDK object in this crate takes `&Eal` as proof of it.
#[derive(Debug)]
pub struct Eal {
    args: Vec<String>,
}

static EAL: OnceLock<Eal> = OnceLock::new();
static INIT: Mutex<()> = Mutex::new(());

impl Eal {
    /// Initialises EAL with `args` (without the program name), e.g.
    /// `["-l", "0", "--no-huge", "-m", "256", "--no-pci", "--file-prefix=x", "--vdev=net_null0"]`.
    /// A second call with the same arguments returns the same `Eal`; with different ones it
    /// fails with `EALREADY`.
    pub fn init<S: AsRef<str>>(args: &[S]) -> Result<&'static Eal, Error> {
        let _guard = INIT.lock().unwrap_or_else(|e| e.into_inner());
        let args: Vec<String> = args.iter().map(|a| a.as_ref().to_owned()).collect();
        if let Some(eal) = EAL.get() {
            return if eal.args == args {
                Ok(eal)
            } else {
                Err(Error {
                    op: "rte_eal_init (already initialised with other arguments)",
                    errno: libc_ealready(),
                })
            };
        }
        let mut owned = Vec::with_capacity(args.len() + 1);
        owned.push(CString::new("ferrostack").unwrap());
        for a in &args {
            owned.push(CString::new(a.as_str()).map_err(|_| Error {
                op: "rte_eal_init (argument contains NUL)",
                errno: 22,
            })?);
        }
        // EAL may keep pointers into argv (it permutes it with getopt and some drivers keep
        // argument strings), so the strings live for the rest of the process.
        let owned: &'static [CString] = Vec::leak(owned);
        let mut argv: Vec<*mut c_char> = owned.iter().map(|c| c.as_ptr() as *mut c_char).collect();
        argv.push(std::ptr::null_mut());
        let argv: &'static mut [*mut c_char] = Vec::leak(argv);
        // SAFETY: argc/argv describe NUL-terminated strings that outlive the process's use of
        // them (leaked above); EAL is initialised at most once (guarded by INIT and EAL).
        let ret = unsafe { sys::rte_eal_init(owned.len() as i32, argv.as_mut_ptr()) };
        if ret < 0 {
            return Err(Error::last("rte_eal_init"));
        }
        Ok(EAL.get_or_init(|| Eal { args }))
    }

    /// The EAL of this process, if initialised.
    pub fn get() -> Option<&'static Eal> {
        EAL.get()
    }

    /// The arguments EAL was initialised with.
    pub fn args(&self) -> &[String] {
        &self.args
    }

    /// True when IOVA addresses are virtual addresses (virtual devices, vfio): external
    /// buffers can then be attached with their virtual address as IOVA.
    pub fn iova_is_va(&self) -> bool {
        // SAFETY: EAL is initialised (self exists); the call reads a global.
        unsafe { sys::rte_eal_iova_mode() == sys::RTE_IOVA_VA }
    }

    /// Registers the calling (non-EAL) thread as an lcore so that it gets a lcore id and
    /// mempool caches. Threads started by EAL (`-l` cores) are lcores already.
    pub fn register_thread(&self) -> Result<u32, Error> {
        if let Some(id) = self.lcore_id() {
            return Ok(id);
        }
        // SAFETY: EAL is initialised; registering the current thread has no other precondition.
        let ret = unsafe { sys::rte_thread_register() };
        if ret < 0 {
            return Err(Error::last("rte_thread_register"));
        }
        self.lcore_id().ok_or(Error {
            op: "rte_thread_register",
            errno: 22,
        })
    }

    /// The calling thread's lcore id, `None` for a thread that is not an lcore.
    pub fn lcore_id(&self) -> Option<u32> {
        // SAFETY: reads the thread-local lcore id.
        let id = unsafe { sys::fs_rte_lcore_id() };
        (id != sys::LCORE_ID_ANY).then_some(id)
    }

    /// Number of Ethernet ports probed.
    pub fn port_count(&self) -> u16 {
        // SAFETY: EAL is initialised.
        unsafe { sys::rte_eth_dev_count_avail() }
    }
}

fn libc_ealready() -> i32 {
    114 // EALREADY on Linux
}

/// DPDK's software Toeplitz hash (`rte_softrss` over an IPv4 4-tuple, `rte_thash.h`): the
/// hash a NIC computes for a received packet with source `src:sport` and destination
/// `dst:dport`. `key` must be at least 16 bytes (12 of input + 4). Needs no EAL.
pub fn softrss_v4(
    key: &[u8],
    src: std::net::Ipv4Addr,
    dst: std::net::Ipv4Addr,
    sport: u16,
    dport: u16,
) -> u32 {
    assert!(key.len() >= 16, "RSS key too short for an IPv4 4-tuple");
    // SAFETY: rte_softrss reads 4 * (3 + 1) = 16 key bytes (checked above); the tuple is
    // built by the shim on its stack. Addresses and ports are passed in host order, as
    // rte_thash_tuple expects.
    unsafe { sys::fs_rte_softrss_v4(u32::from(src), u32::from(dst), sport, dport, key.as_ptr()) }
}
