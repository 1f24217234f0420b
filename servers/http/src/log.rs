//! Access log (nginx's `combined` format, optionally buffered) and error log. Each worker owns
//! its access-log writers: no lock on the request path. Lines reach the file whole, with
//! O_APPEND, so workers' buffers interleave only between lines.

use std::collections::HashMap;
use std::fs::OpenOptions;
use std::io::Write;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Instant, SystemTime};

use crate::config::{AccessLog, LogTarget};

fn open(target: &LogTarget) -> std::io::Result<Box<dyn Write + Send>> {
    Ok(match target {
        LogTarget::Stderr => Box::new(std::io::stderr()),
        LogTarget::Stdout => Box::new(std::io::stdout()),
        LogTarget::File(p) => Box::new(OpenOptions::new().create(true).append(true).open(p)?),
    })
}

struct Writer {
    out: Box<dyn Write + Send>,
    buf: Vec<u8>,
    last_flush: Instant,
}

/// A worker's access logs, one writer per configured log.
#[derive(Default)]
pub struct AccessLogs {
    writers: HashMap<*const AccessLog, Writer>,
}

/// The fields of one combined-format line.
pub struct Line<'a> {
    pub peer: SocketAddr,
    pub request: &'a [u8],
    pub status: u16,
    pub body_bytes: u64,
    pub referer: Option<&'a [u8]>,
    pub user_agent: Option<&'a [u8]>,
}

impl AccessLogs {
    pub fn write(&mut self, log: &Arc<AccessLog>, now: Instant, wall: SystemTime, line: &Line<'_>) {
        let writer = match self.writers.entry(Arc::as_ptr(log)) {
            std::collections::hash_map::Entry::Occupied(e) => e.into_mut(),
            std::collections::hash_map::Entry::Vacant(v) => match open(&log.target) {
                Ok(out) => v.insert(Writer {
                    out,
                    buf: Vec::with_capacity(log.buffer.max(512)),
                    last_flush: now,
                }),
                Err(e) => {
                    error(&format!("cannot open access log {:?}: {e}", log.target));
                    return;
                }
            },
        };
        format_combined(&mut writer.buf, wall, line);
        if writer.buf.len() >= log.buffer || now.duration_since(writer.last_flush) >= log.flush {
            flush(writer, now);
        }
    }

    /// Writes out buffers older than their `flush=` interval (called from the worker's tick).
    pub fn tick(&mut self, now: Instant) {
        for w in self.writers.values_mut() {
            if !w.buf.is_empty() && now.duration_since(w.last_flush).as_secs() >= 1 {
                flush(w, now);
            }
        }
    }

    pub fn has_pending(&self) -> bool {
        self.writers.values().any(|w| !w.buf.is_empty())
    }

    /// SIGUSR1: flush and reopen every file (after log rotation moved them).
    pub fn reopen(&mut self, now: Instant) {
        for w in self.writers.values_mut() {
            flush(w, now);
        }
        self.writers.clear();
    }
}

impl Drop for AccessLogs {
    fn drop(&mut self) {
        let now = Instant::now();
        self.writers.values_mut().for_each(|w| flush(w, now));
    }
}

fn flush(w: &mut Writer, now: Instant) {
    let _ = w.out.write_all(&w.buf);
    let _ = w.out.flush();
    w.buf.clear();
    w.last_flush = now;
}

/// `$remote_addr - - [$time_local] "$request" $status $body_bytes_sent "$http_referer" "$http_user_agent"`
fn format_combined(out: &mut Vec<u8>, wall: SystemTime, l: &Line<'_>) {
    let _ = write!(out, "{} - - [{}] \"", l.peer.ip(), time_local(wall));
    escape(out, l.request);
    let _ = write!(out, "\" {} {} \"", l.status, l.body_bytes);
    escape(out, l.referer.unwrap_or(b"-"));
    out.extend_from_slice(b"\" \"");
    escape(out, l.user_agent.unwrap_or(b"-"));
    out.extend_from_slice(b"\"\n");
}

/// nginx escapes `"`, `\` and bytes outside printable ASCII as `\xHH`.
fn escape(out: &mut Vec<u8>, v: &[u8]) {
    for &b in v {
        if b == b'"' || b == b'\\' || !(0x20..0x7f).contains(&b) {
            let _ = write!(out, "\\x{b:02X}");
        } else {
            out.push(b);
        }
    }
}

/// `25/Nov/2026:01:40:19 +0000` (UTC).
fn time_local(wall: SystemTime) -> String {
    let h = httpdate::fmt_http_date(wall);
    let p: Vec<&str> = h.split(' ').collect();
    format!("{}/{}/{}:{} +0000", p[1], p[2], p[3], p[4])
}

/// The process-wide error log. Errors are rare, so one lock is fine here.
type ErrorLog = Option<(LogTarget, Box<dyn Write + Send>)>;

static ERROR_LOG: OnceLock<Mutex<ErrorLog>> = OnceLock::new();

pub fn set_error_log(target: Option<LogTarget>) -> std::io::Result<()> {
    let slot = ERROR_LOG.get_or_init(|| Mutex::new(None));
    let next = match target {
        Some(t) => {
            let w = open(&t)?;
            Some((t, w))
        }
        None => None,
    };
    *slot.lock().unwrap_or_else(|e| e.into_inner()) = next;
    Ok(())
}

/// Reopens the error log file (SIGUSR1).
pub fn reopen_error_log() {
    let target = ERROR_LOG.get().and_then(|m| {
        m.lock()
            .ok()
            .and_then(|g| g.as_ref().map(|(t, _)| t.clone()))
    });
    if let Some(t) = target {
        let _ = set_error_log(Some(t));
    }
}

pub fn error(message: &str) {
    let wall = SystemTime::now();
    let line = format!(
        "{} [error] {}: {message}\n",
        time_local(wall),
        std::process::id()
    );
    match ERROR_LOG.get() {
        Some(m) => {
            if let Some((_, w)) = m.lock().unwrap_or_else(|e| e.into_inner()).as_mut() {
                let _ = w.write_all(line.as_bytes());
                let _ = w.flush();
            }
        }
        None => eprint!("{line}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn combined_format_escapes_like_nginx() {
        let mut out = Vec::new();
        let wall = std::time::UNIX_EPOCH + std::time::Duration::from_secs(1_700_000_000);
        let line = Line {
            peer: "127.0.0.1:5555".parse().unwrap(),
            request: b"GET /a\"b HTTP/1.1",
            status: 200,
            body_bytes: 12,
            referer: None,
            user_agent: Some(b"curl/7.88\x01"),
        };
        format_combined(&mut out, wall, &line);
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "127.0.0.1 - - [14/Nov/2023:22:13:20 +0000] \"GET /a\\x22b HTTP/1.1\" 200 12 \"-\" \"curl/7.88\\x01\"\n"
        );
    }
}
