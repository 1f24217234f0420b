//! `fs-httpd -c FILE`: serve; `fs-httpd -t -c FILE`: check the configuration and exit.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use clap::Parser;
use fs_httpd::config::{self, Config};
use fs_httpd::log;
use fs_httpd::service::{Httpd, Msg};
use netstack::runtime::Runtime;
use signal_hook::consts::{SIGHUP, SIGINT, SIGQUIT, SIGTERM, SIGUSR1};

#[derive(Parser)]
#[command(
    name = "fs-httpd",
    version,
    about = "FerroStack's nginx-compatible static HTTP server"
)]
struct Args {
    /// Configuration file (TOML).
    #[arg(short = 'c', long = "config", default_value = "conf/httpd.toml")]
    config: PathBuf,
    /// Check the configuration, then exit (like `nginx -t`).
    #[arg(short = 't', long = "test")]
    test: bool,
}

fn main() -> ExitCode {
    let args = Args::parse();
    let cfg = match config::load(&args.config) {
        Ok(cfg) => cfg,
        Err(e) => {
            eprintln!("fs-httpd: [emerg] {e}");
            if args.test {
                eprintln!(
                    "fs-httpd: configuration file {} test failed",
                    args.config.display()
                );
            }
            return ExitCode::FAILURE;
        }
    };
    if args.test {
        eprintln!(
            "fs-httpd: the configuration file {} syntax is ok",
            args.config.display()
        );
        eprintln!(
            "fs-httpd: configuration file {} test is successful",
            args.config.display()
        );
        return ExitCode::SUCCESS;
    }
    if let Err(e) = log::set_error_log(cfg.error_log.clone()) {
        eprintln!("fs-httpd: [emerg] cannot open the error log: {e}");
        return ExitCode::FAILURE;
    }
    match serve(Arc::new(cfg), &args.config) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("fs-httpd: [emerg] {e}");
            ExitCode::FAILURE
        }
    }
}

fn serve(cfg: Arc<Config>, path: &std::path::Path) -> std::io::Result<()> {
    let mut signals =
        signal_hook::iterator::Signals::new([SIGTERM, SIGINT, SIGQUIT, SIGHUP, SIGUSR1])?;
    let workers = cfg.runtime.workers.resolve();
    let initial = cfg.clone();
    let make = move |_| Httpd::new(initial.clone());
    let worker = cfg.runtime.worker_config(0);
    let mut rt: Runtime<Msg> = dpdk::launch(
        &cfg.runtime,
        worker,
        &cfg.netstack,
        &cfg.dpdk,
        &cfg.listen,
        make,
    )?;
    for addr in rt.local_addrs() {
        eprintln!(
            "fs-httpd: listening on {addr} ({workers} worker{})",
            if workers == 1 { "" } else { "s" }
        );
    }
    for signal in signals.forever() {
        match signal {
            SIGTERM | SIGINT => {
                rt.stop();
                break;
            }
            SIGQUIT => {
                rt.quit();
                break;
            }
            SIGHUP => reload(&mut rt, path, workers),
            SIGUSR1 => {
                log::reopen_error_log();
                rt.broadcast(Msg::ReopenLogs);
            }
            _ => {}
        }
    }
    rt.join();
    let panics = fs_httpd::service::request_panics();
    if panics > 0 {
        eprintln!("fs-httpd: {panics} request(s) panicked; each closed only its connection");
    }
    Ok(())
}

/// SIGHUP: a valid new configuration replaces the old one for new requests; an invalid one is
/// logged and the old one keeps serving. Established connections are never dropped.
fn reload(rt: &mut Runtime<Msg>, path: &std::path::Path, workers: usize) {
    let cfg = match config::load(path) {
        Ok(cfg) => cfg,
        Err(e) => return log::error(&format!("reload rejected, old configuration kept: {e}")),
    };
    if cfg.runtime.workers.resolve() != workers {
        log::error("reload: a change of `workers` takes effect at the next restart");
    }
    if let Err(e) = rt.set_listeners(&cfg.listen) {
        if e.kind() == std::io::ErrorKind::Unsupported {
            log::error(&format!("reload: {e}"));
        } else {
            return log::error(&format!("reload rejected, old configuration kept: {e}"));
        }
    }
    if let Err(e) = log::set_error_log(cfg.error_log.clone()) {
        log::error(&format!("reload: cannot open the new error log: {e}"));
    }
    rt.broadcast(Msg::Reload(Arc::new(cfg)));
    log::error("reloaded the configuration");
}
