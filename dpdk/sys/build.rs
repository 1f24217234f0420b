//! Build script of `dpdk-sys`.
//!
//! Without the `dpdk` feature it does nothing: the crate is empty and needs nothing installed,
//! so `cargo build --workspace` works on any machine.
//!
//! With the feature (see `../shared/reference/dpdk.md` §3):
//! 1. probe the system `libdpdk` (>= 22.11) with pkg-config; a missing DPDK fails the build
//!    with a message that says what to install;
//! 2. run bindgen over `wrapper.h` with the verbatim `pkg-config --cflags` and an allowlist;
//! 3. compile the C shim (`shim/shim.c`) with the same flags at -O3;
//! 4. emit the link lines ourselves: the shared libraries by default (EAL then `dlopen`s every
//!    PMD from its built-in plugin directory), or a curated whole-archive static set with the
//!    `static` feature.

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    #[cfg(feature = "dpdk")]
    with_dpdk::build();
}

#[cfg(feature = "dpdk")]
mod with_dpdk {
    use std::env;
    use std::path::PathBuf;
    use std::process::Command;

    const MIN_VERSION: &str = "22.11";

    /// DPDK libraries whose API the bindings use, in link order (dependents first).
    /// `rte_net_ring` is the ring PMD, linked for its API (`rte_eth_from_rings`); on Debian its
    /// `.so` is a symlink to the plugin-directory copy, so it is loaded once.
    const SHARED_LIBS: &[&str] = &[
        "rte_net_ring",
        "rte_ethdev",
        "rte_mbuf",
        "rte_mempool",
        "rte_ring",
        "rte_eal",
        "rte_kvargs",
    ];

    /// `static` feature: archives linked whole (their `RTE_INIT` constructors register the
    /// buses, mempool drivers and PMDs; without `+whole-archive` they are dropped and every
    /// `--vdev` fails with "No such device" at run time).
    const STATIC_LIBS: &[&str] = &[
        "rte_net_ring",
        "rte_net_null",
        "rte_net_tap",
        "rte_net_af_packet",
        "rte_bus_vdev",
        "rte_bus_pci",
        "rte_mempool_ring",
        "rte_ethdev",
        "rte_hash",
        "rte_gso",
        "rte_ip_frag",
        "rte_net",
        "rte_meter",
        "rte_mbuf",
        "rte_mempool",
        "rte_rcu",
        "rte_ring",
        "rte_pci",
        "rte_eal",
        "rte_telemetry",
        "rte_kvargs",
    ];
    const STATIC_SYSTEM_LIBS: &[&str] = &["numa", "bsd", "m", "dl", "pthread"];

    pub fn build() {
        println!("cargo:rerun-if-changed=wrapper.h");
        println!("cargo:rerun-if-changed=shim/shim.c");
        println!("cargo:rerun-if-changed=shim/shim.h");
        println!("cargo:rerun-if-env-changed=PKG_CONFIG_PATH");
        println!("cargo:rerun-if-env-changed=PKG_CONFIG");
        println!("cargo:rerun-if-env-changed=PKG_CONFIG_LIBDIR");

        let lib = match pkg_config::Config::new()
            .atleast_version(MIN_VERSION)
            .cargo_metadata(false)
            .env_metadata(false)
            .probe("libdpdk")
        {
            Ok(lib) => lib,
            Err(e) => {
                eprintln!(
                    "\nerror: dpdk-sys: the `dpdk` feature is on, but pkg-config cannot find \
                     libdpdk >= {MIN_VERSION}:\n  {e}\n\n\
                     Install the system DPDK (Debian 12: DPDK 22.11 LTS):\n  \
                     apt-get install -y dpdk libdpdk-dev libclang-dev clang pkg-config\n\
                     or point PKG_CONFIG_PATH at the libdpdk.pc of a DPDK built from source.\n\
                     Build without `--features dpdk` to leave DPDK out.\n"
                );
                std::process::exit(1);
            }
        };
        println!("cargo:version={}", lib.version);

        let cflags = raw_cflags();
        let manifest = PathBuf::from(env::var("CARGO_MANIFEST_DIR").unwrap());
        let out = PathBuf::from(env::var("OUT_DIR").unwrap());

        bindings(&cflags, &manifest, &out);
        shim(&cflags, &manifest);
        link(&lib);
    }

    /// `pkg-config --cflags libdpdk` verbatim: on Debian it carries `-include rte_config.h` and
    /// `-march=corei7`, which both bindgen and the shim need (the inline fast path uses SSE4.2).
    fn raw_cflags() -> Vec<String> {
        let pkg_config = env::var("PKG_CONFIG").unwrap_or_else(|_| "pkg-config".into());
        let output = Command::new(&pkg_config)
            .args(["--cflags", "libdpdk"])
            .output()
            .unwrap_or_else(|e| panic!("dpdk-sys: cannot run {pkg_config}: {e}"));
        assert!(
            output.status.success(),
            "dpdk-sys: `{pkg_config} --cflags libdpdk` failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8(output.stdout)
            .expect("pkg-config output is UTF-8")
            .split_whitespace()
            .map(str::to_owned)
            .collect()
    }

    #[derive(Debug)]
    struct Callbacks;

    impl bindgen::callbacks::ParseCallbacks for Callbacks {
        /// Flag macros built with `RTE_BIT64` are OR-ed into 64-bit fields: keep them `u64`
        /// even when the value fits in 32 bits.
        fn int_macro(&self, name: &str, _value: i64) -> Option<bindgen::callbacks::IntKind> {
            const U64_PREFIXES: &[&str] = &[
                "RTE_ETH_RSS_",
                "RTE_ETH_RX_OFFLOAD_",
                "RTE_ETH_TX_OFFLOAD_",
                "RTE_MBUF_F_",
                "RTE_ETH_DEV_CAPA_",
            ];
            U64_PREFIXES
                .iter()
                .any(|p| name.starts_with(p))
                .then_some(bindgen::callbacks::IntKind::U64)
        }
    }

    fn bindings(cflags: &[String], manifest: &std::path::Path, out: &std::path::Path) {
        let macro_dir = out.join("bindgen-macros");
        std::fs::create_dir_all(&macro_dir).unwrap();
        let mut builder = bindgen::Builder::default()
            .header(manifest.join("wrapper.h").to_string_lossy())
            .clang_args(cflags.iter().filter(|f| !f.starts_with("-Wl,")))
            .clang_arg(format!("-I{}", manifest.display()))
            .clang_macro_fallback()
            .clang_macro_fallback_build_dir(&macro_dir)
            .parse_callbacks(Box::new(Callbacks))
            .parse_callbacks(Box::new(bindgen::CargoCallbacks::new()))
            .use_core()
            .derive_default(true)
            .derive_debug(false)
            .layout_tests(true)
            .prepend_enum_name(false)
            .default_enum_style(bindgen::EnumVariation::Consts)
            // Packed structs with aligned members (rustc E0588); none is needed.
            .opaque_type("rte_arp_hdr")
            .opaque_type("rte_arp_ipv4")
            .opaque_type("rte_l2tpv2_combined_msg_hdr")
            .opaque_type("rte_gtp_psc_generic_hdr");
        for f in [
            "rte_eal_.*",
            "rte_eth_.*",
            "rte_pktmbuf_pool_create",
            "rte_pktmbuf_free_bulk",
            "rte_mempool_avail_count",
            "rte_mempool_in_use_count",
            "rte_mempool_free",
            "rte_mempool_lookup",
            "rte_ring_create",
            "rte_ring_free",
            "rte_lcore_.*",
            "rte_socket_id",
            "rte_strerror",
            "rte_thread_register",
            "rte_thread_unregister",
            "rte_mem_virt2iova",
            "rte_eth_from_rings",
            "fs_rte_.*",
        ] {
            builder = builder.allowlist_function(f);
        }
        for t in [
            "rte_mbuf",
            "rte_mbuf_ext_shared_info",
            "rte_mempool",
            "rte_ring",
            "rte_eth_conf",
            "rte_eth_dev_info",
            "rte_eth_rxconf",
            "rte_eth_txconf",
            "rte_eth_rss_conf",
            "rte_eth_rss_reta_entry64",
            "rte_ether_addr",
            "rte_eth_stats",
            "rte_eth_link",
            "rte_iova_mode",
            "rte_thash_tuple",
        ] {
            builder = builder.allowlist_type(t);
        }
        for v in [
            "RTE_ETH_.*",
            "RTE_MBUF_F_.*",
            "RTE_MBUF_DEFAULT_.*",
            "RTE_PKTMBUF_HEADROOM",
            "RTE_MAX_.*",
            "RTE_ETHER_.*",
            "RTE_THASH_.*",
            "RTE_MEMPOOL_CACHE_MAX_SIZE",
            "RING_F_.*",
            "SOCKET_ID_ANY",
            "LCORE_ID_ANY",
            "RTE_IOVA_.*",
            "RTE_BAD_IOVA",
        ] {
            builder = builder.allowlist_var(v);
        }
        let bindings = builder.generate().unwrap_or_else(|e| {
            panic!(
                "dpdk-sys: bindgen failed over wrapper.h: {e}\n\
                 (bindgen needs libclang: apt-get install -y libclang-dev clang)"
            )
        });
        bindings
            .write_to_file(out.join("bindings.rs"))
            .expect("dpdk-sys: cannot write bindings.rs");
    }

    fn shim(cflags: &[String], manifest: &std::path::Path) {
        let mut build = cc::Build::new();
        build
            .file(manifest.join("shim/shim.c"))
            .include(manifest)
            .opt_level(3)
            .warnings(true)
            // DPDK headers trip a few of these under -Wextra; they are not ours.
            .flag_if_supported("-Wno-unused-parameter")
            .flag_if_supported("-Wno-sign-compare");
        for f in cflags.iter().filter(|f| !f.starts_with("-Wl,")) {
            build.flag(f);
        }
        build.compile("fs_dpdk_shim");
    }

    fn link(lib: &pkg_config::Library) {
        for dir in &lib.link_paths {
            println!("cargo:rustc-link-search=native={}", dir.display());
        }
        if cfg!(feature = "static") {
            for l in STATIC_LIBS {
                println!("cargo:rustc-link-lib=static:+whole-archive,-bundle={l}");
            }
            for l in STATIC_SYSTEM_LIBS {
                println!("cargo:rustc-link-lib=dylib={l}");
            }
        } else {
            for l in SHARED_LIBS {
                println!("cargo:rustc-link-lib=dylib={l}");
            }
        }
    }
}
