//! Configuration shared by every FerroStack binary: the `[runtime]` section, TOML loading, and
//! errors that name the file, line, key and problem.

use std::fmt;
use std::ops::Range;
use std::path::{Path, PathBuf};

use serde::de::{self, DeserializeOwned, Deserializer};
use serde::Deserialize;

use crate::runtime::Workers;
use crate::worker::{OnPanic, WorkerConfig};

/// A configuration problem, located in its file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    pub file: PathBuf,
    /// 1-based line, 0 when the problem has no single place (a file that cannot be read).
    pub line: usize,
    pub key: String,
    pub message: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.line, self.key.is_empty()) {
            (0, _) => write!(f, "{}: {}", self.file.display(), self.message),
            (line, true) => write!(f, "{}:{}: {}", self.file.display(), line, self.message),
            (line, false) => write!(
                f,
                "{}:{}: `{}`: {}",
                self.file.display(),
                line,
                self.key,
                self.message
            ),
        }
    }
}

impl std::error::Error for ConfigError {}

/// A configuration file's text, kept to turn byte spans into lines and keys.
pub struct Source {
    pub path: PathBuf,
    pub text: String,
}

impl Source {
    pub fn read(path: &Path) -> Result<Source, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|e| ConfigError {
            file: path.to_path_buf(),
            line: 0,
            key: String::new(),
            message: format!("cannot read: {e}"),
        })?;
        Ok(Source {
            path: path.to_path_buf(),
            text,
        })
    }

    /// Deserializes the whole file; a syntax or type error names the offending line and key.
    pub fn parse<T: DeserializeOwned>(&self) -> Result<T, ConfigError> {
        toml::from_str(&self.text).map_err(|e| {
            let span = e.span().unwrap_or(0..0);
            let message = e.message().trim().to_string();
            self.error(span, "", message)
        })
    }

    /// An error at `span`; with an empty `key`, the key written on that line is named.
    pub fn error(&self, span: Range<usize>, key: &str, message: impl Into<String>) -> ConfigError {
        let at = span.start.min(self.text.len());
        let line = self.text[..at].matches('\n').count() + 1;
        let key = if key.is_empty() {
            self.key_on_line(line)
        } else {
            key.to_string()
        };
        ConfigError {
            file: self.path.clone(),
            line,
            key,
            message: message.into(),
        }
    }

    /// An error about `key` of table `[table]` (for checks made after parsing): located at
    /// the line that sets it, else at the table's header, else at the top of the file.
    pub fn key_error(&self, table: &str, key: &str, message: impl Into<String>) -> ConfigError {
        let mut current = String::new();
        let (mut header, mut found) = (None, None);
        let mut offset = 0;
        for line in self.text.split_inclusive('\n') {
            let t = line.trim();
            if t.starts_with('[') {
                current = t.trim_matches(|c| c == '[' || c == ']').trim().to_string();
                if current == table && header.is_none() {
                    header = Some(offset);
                }
            } else if current == table
                && t.split_once('=').map(|(k, _)| k.trim().trim_matches('"')) == Some(key)
            {
                found = Some(offset);
            }
            offset += line.len();
        }
        let at = found.or(header).unwrap_or(0);
        let mut e = self.error(at..at, key, message);
        if found.is_none() {
            e.key = format!("{table}.{key}");
        }
        e
    }

    fn key_on_line(&self, line: usize) -> String {
        let text = self.text.lines().nth(line - 1).unwrap_or("");
        match text.split_once('=') {
            Some((key, _)) => key.trim().trim_matches('"').to_string(),
            None => text.trim().to_string(),
        }
    }
}

/// The `[runtime]` section shared by the servers.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuntimeConfig {
    #[serde(default = "default_workers", deserialize_with = "workers")]
    pub workers: Workers,
    #[serde(default)]
    pub stack: Stack,
    /// What a panic that escapes a worker's loop does: `"restart"` the worker (its
    /// connections are reset) or `"exit"` the process (status 70) for a supervisor.
    #[serde(default, deserialize_with = "on_panic")]
    pub on_worker_panic: OnPanic,
}

impl Default for RuntimeConfig {
    fn default() -> Self {
        RuntimeConfig {
            workers: default_workers(),
            stack: Stack::Kernel,
            on_worker_panic: OnPanic::Restart,
        }
    }
}

impl RuntimeConfig {
    /// The workers' settings, with a per-worker connection limit (0: none).
    pub fn worker_config(&self, max_connections: usize) -> WorkerConfig {
        WorkerConfig {
            max_connections,
            on_panic: self.on_worker_panic,
            ..WorkerConfig::default()
        }
    }
}

fn on_panic<'de, D: Deserializer<'de>>(d: D) -> Result<OnPanic, D::Error> {
    match String::deserialize(d)?.as_str() {
        "restart" => Ok(OnPanic::Restart),
        "exit" => Ok(OnPanic::Exit),
        other => Err(de::Error::custom(format!(
            "must be \"restart\" or \"exit\", got \"{other}\""
        ))),
    }
}

fn default_workers() -> Workers {
    Workers::Count(1)
}

/// Which transport carries the connections.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Stack {
    /// Linux sockets: runs anywhere, needs no privileges.
    #[default]
    Kernel,
    /// FerroStack's own TCP/IP stack over a TAP or DPDK device.
    User,
}

/// `workers = "auto"` or a positive number.
pub fn workers<'de, D: Deserializer<'de>>(d: D) -> Result<Workers, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Raw {
        Count(i64),
        Word(String),
    }
    match Raw::deserialize(d)? {
        Raw::Word(w) if w == "auto" => Ok(Workers::Auto),
        Raw::Count(n) if (1..=1024).contains(&n) => Ok(Workers::Count(n as usize)),
        Raw::Count(n) => Err(de::Error::custom(format!(
            "must be between 1 and 1024, got {n}"
        ))),
        Raw::Word(w) => Err(de::Error::custom(format!(
            "must be \"auto\" or a number, got \"{w}\""
        ))),
    }
}

/// Sizes like nginx's: `1024`, `"8k"`, `"1m"`, `"1g"` (bytes).
pub fn parse_size(text: &str) -> Option<u64> {
    let text = text.trim();
    let (digits, unit) = match text.char_indices().last()? {
        (i, c) if c.is_ascii_alphabetic() => (&text[..i], c.to_ascii_lowercase()),
        _ => (text, ' '),
    };
    let n: u64 = digits.parse().ok()?;
    let scale = match unit {
        ' ' => 1,
        'k' => 1 << 10,
        'm' => 1 << 20,
        'g' => 1 << 30,
        _ => return None,
    };
    n.checked_mul(scale)
}

/// Durations like nginx's: `75` or `"75s"`, `"500ms"`, `"1m"`, `"1h"`, `"1d"`, and combinations
/// such as `"1m30s"`; also `"100us"` for the short sleeps of polling loops.
pub fn parse_duration(text: &str) -> Option<std::time::Duration> {
    let text = text.trim();
    if text.is_empty() {
        return None;
    }
    let mut total_us: u64 = 0;
    let mut rest = text;
    while !rest.is_empty() {
        let digits = rest
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(rest.len());
        if digits == 0 {
            return None;
        }
        let n: u64 = rest[..digits].parse().ok()?;
        rest = &rest[digits..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit())
            .unwrap_or(rest.len());
        let us = match &rest[..unit_len] {
            "" | "s" => 1_000_000,
            "ms" => 1000,
            "us" => 1,
            "m" => 60_000_000,
            "h" => 3_600_000_000,
            "d" => 86_400_000_000,
            "w" => 604_800_000_000,
            _ => return None,
        };
        rest = &rest[unit_len..];
        total_us = total_us.checked_add(n.checked_mul(us)?)?;
    }
    Some(std::time::Duration::from_micros(total_us))
}

/// A value written either as a number or as a string with a unit (`1024` or `"1k"`).
#[derive(Deserialize)]
#[serde(untagged)]
pub enum NumberOrText {
    Number(u64),
    Text(String),
}

impl NumberOrText {
    pub fn size(&self) -> Option<u64> {
        match self {
            NumberOrText::Number(n) => Some(*n),
            NumberOrText::Text(t) => parse_size(t),
        }
    }

    pub fn duration(&self) -> Option<std::time::Duration> {
        match self {
            NumberOrText::Number(n) => Some(std::time::Duration::from_secs(*n)),
            NumberOrText::Text(t) => parse_duration(t),
        }
    }
}

/// Deserializes a size (`"8k"`); for use with `#[serde(deserialize_with)]`.
pub fn size<'de, D: Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
    let raw = NumberOrText::deserialize(d)?;
    raw.size()
        .ok_or_else(|| de::Error::custom("expected a size such as 1024, \"8k\" or \"1m\""))
}

/// Deserializes a duration (`"75s"`); for use with `#[serde(deserialize_with)]`.
pub fn duration<'de, D: Deserializer<'de>>(d: D) -> Result<std::time::Duration, D::Error> {
    let raw = NumberOrText::deserialize(d)?;
    raw.duration()
        .ok_or_else(|| de::Error::custom("expected a duration such as 60, \"75s\" or \"500ms\""))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    struct File {
        #[serde(default)]
        runtime: RuntimeConfig,
    }

    fn source(text: &str) -> Source {
        Source {
            path: PathBuf::from("test.toml"),
            text: text.to_string(),
        }
    }

    #[test]
    fn workers_accepts_auto_and_numbers() {
        let f: File = source("[runtime]\nworkers = \"auto\"\n").parse().unwrap();
        assert_eq!(f.runtime.workers, Workers::Auto);
        let f: File = source("[runtime]\nworkers = 3\nstack = \"kernel\"\n")
            .parse()
            .unwrap();
        assert_eq!(f.runtime.workers, Workers::Count(3));
    }

    #[test]
    fn key_errors_find_the_line_that_sets_the_key() {
        let src = source("[a]\nx = 1\n[dpdk]\nqueues = 0\nport = 1\n");
        let e = src.key_error("dpdk", "queues", "must be at least 1");
        assert_eq!((e.line, e.key.as_str()), (4, "queues"));
        let e = src.key_error("dpdk", "mtu", "too small");
        assert_eq!((e.line, e.key.as_str()), (3, "dpdk.mtu"));
        let e = src.key_error("netstack", "device", "no");
        assert_eq!((e.line, e.key.as_str()), (1, "netstack.device"));
    }

    #[test]
    fn errors_name_file_line_and_key() {
        let e = source("[runtime]\n\nworkers = \"many\"\n")
            .parse::<File>()
            .unwrap_err();
        assert_eq!((e.line, e.key.as_str()), (3, "workers"));
        assert!(
            e.to_string()
                .starts_with("test.toml:3: `workers`: must be \"auto\""),
            "{e}"
        );
        let e = source("[runtime]\nstack = \"kernel\"\nthreads = 2\n")
            .parse::<File>()
            .unwrap_err();
        assert_eq!((e.line, e.key.as_str()), (3, "threads"));
        assert!(e.message.contains("unknown field"), "{e}");
        let e = source("[runtime]\nstack = \"fast\"\n")
            .parse::<File>()
            .unwrap_err();
        assert_eq!(e.line, 2);
    }

    #[test]
    fn sizes_and_durations_use_nginx_units() {
        assert_eq!(parse_size("8k"), Some(8192));
        assert_eq!(parse_size("1M"), Some(1 << 20));
        assert_eq!(parse_size("12"), Some(12));
        assert_eq!(parse_size("1x"), None);
        assert_eq!(parse_size("k"), None);
        assert_eq!(parse_duration("75s").unwrap().as_secs(), 75);
        assert_eq!(parse_duration("1m30s").unwrap().as_secs(), 90);
        assert_eq!(parse_duration("500ms").unwrap().as_millis(), 500);
        assert_eq!(parse_duration("100us").unwrap().as_micros(), 100);
        assert_eq!(parse_duration("60").unwrap().as_secs(), 60);
        assert_eq!(parse_duration("s"), None);
        assert_eq!(parse_duration("5q"), None);
    }
}
