//! INFO: the sections Redis 7.0 prints, filled from `Server`, the shards and the command
//! statistics.

use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering};

use super::table::*;
use crate::evict::used_memory;
use crate::resp::Out;
use crate::server::{lock, CmdStat, VERSION};
use crate::store::Keys;

pub fn commands() -> Vec<Cmd> {
    vec![cmd(
        "info",
        -1,
        LOADING | STALE | ALL,
        (0, 0, 0),
        "server",
        info,
    )]
}

fn human(n: u64) -> String {
    let units = [("G", 1u64 << 30), ("M", 1 << 20), ("K", 1 << 10)];
    for (u, s) in units {
        if n >= s {
            return format!("{:.2}{u}", n as f64 / s as f64);
        }
    }
    format!("{n}B")
}

fn rss_bytes() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap_or_default();
    statm
        .split_whitespace()
        .nth(1)
        .and_then(|p| p.parse::<u64>().ok())
        .unwrap_or(0)
        * 4096
}

fn cpu_times() -> (f64, f64) {
    // SAFETY: rusage is plain integers and timevals, for which all-zero bytes are valid.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: getrusage writes one rusage into the valid, exclusively borrowed struct.
    unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut ru) };
    let t = |tv: libc::timeval| tv.tv_sec as f64 + tv.tv_usec as f64 / 1e6;
    (t(ru.ru_stime), t(ru.ru_utime))
}

fn info(c: &mut Ctx, k: &mut Keys, out: &mut Out, a: &[&[u8]]) {
    let args: Vec<String> = a[1..]
        .iter()
        .map(|s| String::from_utf8_lossy(s).to_ascii_lowercase())
        .collect();
    let all = args.iter().any(|s| s == "all" || s == "everything");
    let default = args.is_empty() || args.iter().any(|s| s == "default");
    let want = |s: &str| {
        all || (default && s != "commandstats" && s != "latencystats")
            || args.iter().any(|x| x == s)
    };
    let srv = c.srv;
    let mut t = String::new();
    let mut section = |name: &str, body: String| {
        if want(&name.to_ascii_lowercase()) {
            if !t.is_empty() {
                t.push_str("\r\n");
            }
            let _ = write!(t, "# {name}\r\n{body}");
        }
    };
    let up = srv.started.elapsed().as_secs();
    section(
        "Server",
        format!(
            "redis_version:{VERSION}\r\nredis_git_sha1:00000000\r\nredis_git_dirty:0\r\nredis_build_id:0\r\nredis_mode:standalone\r\nos:{} {}\r\narch_bits:64\r\nmultiplexing_api:epoll\r\natomicvar_api:c11-builtin\r\ngcc_version:0.0.0\r\nprocess_id:{}\r\nprocess_supervised:no\r\nrun_id:{}\r\ntcp_port:{}\r\nserver_time_usec:{}\r\nuptime_in_seconds:{up}\r\nuptime_in_days:{}\r\nhz:10\r\nconfigured_hz:10\r\nlru_clock:{}\r\nexecutable:fs-kv\r\nconfig_file:\r\nio_threads_active:0\r\nserver_name:fs-kv\r\nworkers:{}\r\n",
            std::env::consts::OS,
            std::env::consts::ARCH,
            std::process::id(),
            srv.run_id,
            srv.cfg.port,
            c.now * 1000,
            up / 86400,
            k.lru_clock,
            srv.workers,
        ),
    );
    section(
        "Clients",
        format!(
            "connected_clients:{}\r\ncluster_connections:0\r\nmaxclients:10000\r\nclient_recent_max_input_buffer:0\r\nclient_recent_max_output_buffer:0\r\nblocked_clients:{}\r\ntracking_clients:0\r\nclients_in_timeout_table:0\r\n",
            srv.stats.connected.load(Ordering::Relaxed),
            srv.stats.blocked.load(Ordering::Relaxed)
        ),
    );
    let used = used_memory();
    let rss = rss_bytes();
    let max = srv.cfg.maxmemory.load(Ordering::Relaxed);
    section(
        "Memory",
        format!(
            "used_memory:{used}\r\nused_memory_human:{}\r\nused_memory_rss:{rss}\r\nused_memory_rss_human:{}\r\nused_memory_peak:{used}\r\nused_memory_peak_human:{}\r\nused_memory_overhead:0\r\nused_memory_dataset:{used}\r\nused_memory_lua:31744\r\nmaxmemory:{max}\r\nmaxmemory_human:{}\r\nmaxmemory_policy:{}\r\nmem_fragmentation_ratio:{:.2}\r\nmem_allocator:libc\r\nlazyfree_pending_objects:0\r\nlazyfreed_objects:0\r\n",
            human(used),
            human(rss),
            human(used),
            human(max),
            srv.cfg.policy().name(),
            if used > 0 { rss as f64 / used as f64 } else { 1.0 },
        ),
    );
    section(
        "Persistence",
        format!(
            "loading:0\r\nasync_loading:0\r\ncurrent_cow_peak:0\r\nrdb_changes_since_last_save:{}\r\nrdb_bgsave_in_progress:0\r\nrdb_last_save_time:{}\r\nrdb_last_bgsave_status:ok\r\naof_enabled:0\r\naof_rewrite_in_progress:0\r\n",
            srv.store.stats.dirty.load(Ordering::Relaxed),
            srv.last_save.load(Ordering::Relaxed)
        ),
    );
    let (mut hits, mut misses, mut expired) = (0, 0, 0);
    let mut keyspace = String::new();
    let shards: Vec<_> = k.each_shard().collect();
    for s in &shards {
        hits += s.hits;
        misses += s.misses;
        expired += s.expired;
    }
    for db in 0..srv.store.databases {
        let keys: usize = shards.iter().map(|s| s.dbs[db].map.len()).sum();
        let exp: usize = shards.iter().map(|s| s.dbs[db].expires).sum();
        if keys > 0 {
            let _ = write!(keyspace, "db{db}:keys={keys},expires={exp},avg_ttl=0\r\n");
        }
    }
    drop(shards);
    let (channels, patterns) = {
        let ps = lock(&srv.pubsub);
        (ps.channels.len(), ps.patterns.len())
    };
    let calls: u64 = srv
        .cmdstats
        .iter()
        .flatten()
        .map(|s| s.calls.load(Ordering::Relaxed))
        .sum();
    section(
        "Stats",
        format!(
            "total_connections_received:{}\r\ntotal_commands_processed:{calls}\r\ninstantaneous_ops_per_sec:0\r\ntotal_net_input_bytes:{}\r\ntotal_net_output_bytes:{}\r\nrejected_connections:0\r\nexpired_keys:{expired}\r\nexpired_stale_perc:0.00\r\nevicted_keys:{}\r\nkeyspace_hits:{hits}\r\nkeyspace_misses:{misses}\r\npubsub_channels:{}\r\npubsub_patterns:{}\r\ntotal_error_replies:{}\r\ntracking_total_keys:0\r\nlazyfreed_objects:0\r\n",
            srv.stats.connections.load(Ordering::Relaxed),
            srv.stats.net_in.load(Ordering::Relaxed),
            srv.stats.net_out.load(Ordering::Relaxed),
            srv.store.stats.evicted.load(Ordering::Relaxed),
            channels,
            patterns,
            srv.stats.errors.load(Ordering::Relaxed),
        ),
    );
    section(
        "Replication",
        format!("role:master\r\nconnected_slaves:0\r\nmaster_failover_state:no-failover\r\nmaster_replid:{}\r\nmaster_replid2:0000000000000000000000000000000000000000\r\nmaster_repl_offset:0\r\nsecond_repl_offset:-1\r\nrepl_backlog_active:0\r\n", srv.run_id),
    );
    let (sys, user) = cpu_times();
    section("CPU", format!("used_cpu_sys:{sys:.6}\r\nused_cpu_user:{user:.6}\r\nused_cpu_sys_children:0.000000\r\nused_cpu_user_children:0.000000\r\n"));
    section("Modules", String::new());
    let mut cs = String::new();
    for (i, cmd) in c.table.iter().enumerate() {
        let sum = |f: fn(&CmdStat) -> &AtomicU64| -> u64 {
            srv.cmdstats
                .iter()
                .map(|w| f(&w[i]).load(Ordering::Relaxed))
                .sum()
        };
        let (calls, usec, failed, rejected) = (
            sum(|s| &s.calls),
            sum(|s| &s.usec),
            sum(|s| &s.failed),
            sum(|s| &s.rejected),
        );
        if calls + rejected > 0 {
            let per = if calls > 0 {
                usec as f64 / calls as f64
            } else {
                0.0
            };
            let _ = write!(cs, "cmdstat_{}:calls={calls},usec={usec},usec_per_call={per:.2},rejected_calls={rejected},failed_calls={failed}\r\n", cmd.name);
        }
    }
    section("Commandstats", cs);
    let es: String = lock(&srv.errorstats)
        .iter()
        .map(|(k, v)| format!("errorstat_{k}:count={v}\r\n"))
        .collect();
    section("Errorstats", es);
    section("Cluster", "cluster_enabled:0\r\n".into());
    section("Keyspace", keyspace);
    out.verbatim(&t)
}
