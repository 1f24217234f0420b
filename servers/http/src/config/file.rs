//! The TOML file as written: one `Block` shape for `[http]`, `[[server]]` and
//! `[[server.location]]` (nginx directives mostly work at every level and inherit downward).
//! Unknown keys and type errors are reported by the TOML layer with their line; values that need
//! further checks keep their span (`Spanned`) so those errors can name the line too.

use std::collections::BTreeMap;
use std::time::Duration;

use netstack::config::{duration, size, RuntimeConfig};
use serde::Deserialize;
use toml::Spanned;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct File {
    #[serde(default)]
    pub runtime: RuntimeConfig,
    /// The user-space stack's device and addressing (used with `stack = "user"`).
    #[serde(default)]
    pub netstack: netstack::user::config::NetstackSection,
    /// The DPDK port (used with `[netstack] device = "dpdk"`).
    #[serde(default)]
    pub dpdk: dpdk::DpdkConfig,
    #[serde(default)]
    pub http: Block,
    #[serde(default)]
    pub server: Vec<Block>,
}

type S = Spanned<String>;

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Block {
    // [[server]] only
    pub listen: Option<Vec<S>>,
    pub server_name: Option<Vec<S>>,
    // [[...location]] only
    #[serde(rename = "match")]
    pub match_: Option<S>,
    pub location: Option<Vec<Block>>,
    pub internal: Option<bool>,

    // Where files come from.
    pub root: Option<S>,
    pub alias: Option<S>,
    pub index: Option<Vec<String>>,
    pub try_files: Option<Vec<S>>,
    pub autoindex: Option<bool>,
    pub autoindex_exact_size: Option<bool>,
    pub autoindex_localtime: Option<bool>,
    pub gzip_static: Option<Spanned<GzipStatic>>,
    pub gzip_vary: Option<bool>,

    // What to answer.
    #[serde(rename = "return")]
    pub return_: Option<S>,
    pub error_page: Option<Vec<S>>,
    pub default_type: Option<String>,
    /// Path of an nginx-format `mime.types` file, relative to the config file.
    pub mime_types: Option<S>,
    /// Extra or overriding types: `{ "text/html" = ["html", "htm"] }`.
    pub types: Option<BTreeMap<String, Vec<String>>>,
    pub charset: Option<String>,
    pub add_header: Option<Vec<S>>,
    pub expires: Option<S>,
    pub etag: Option<bool>,
    pub if_modified_since: Option<Spanned<ImsMode>>,
    pub max_ranges: Option<u32>,
    pub server_tokens: Option<bool>,
    pub absolute_redirect: Option<bool>,
    pub port_in_redirect: Option<bool>,
    pub merge_slashes: Option<bool>,

    // Connections and limits.
    /// Connections one worker keeps at most (nginx's `events { worker_connections }`);
    /// `[http]` only.
    pub worker_connections: Option<usize>,
    #[serde(default, deserialize_with = "opt_duration")]
    pub keepalive_timeout: Option<Duration>,
    pub keepalive_requests: Option<u64>,
    #[serde(default, deserialize_with = "opt_duration")]
    pub client_header_timeout: Option<Duration>,
    #[serde(default, deserialize_with = "opt_duration")]
    pub client_body_timeout: Option<Duration>,
    #[serde(default, deserialize_with = "opt_duration")]
    pub send_timeout: Option<Duration>,
    #[serde(default, deserialize_with = "opt_size")]
    pub client_header_buffer_size: Option<u64>,
    /// nginx's `large_client_header_buffers NUMBER SIZE`, as `"4 8k"`.
    pub large_client_header_buffers: Option<S>,
    #[serde(default, deserialize_with = "opt_size")]
    pub client_max_body_size: Option<u64>,

    // Files and logs.
    pub open_file_cache: Option<bool>,
    #[serde(default, deserialize_with = "opt_duration")]
    pub open_file_cache_valid: Option<Duration>,
    #[serde(default, deserialize_with = "opt_size")]
    pub open_file_cache_max_size: Option<u64>,
    pub access_log: Option<S>,
    pub error_log: Option<S>,
    /// Accepted for nginx parity: small files are always served from memory, responses
    /// always leave whole per loop turn, and TCP_NODELAY is always on.
    #[allow(dead_code)]
    pub sendfile: Option<bool>,
    #[allow(dead_code)]
    pub tcp_nopush: Option<bool>,
    #[allow(dead_code)]
    pub tcp_nodelay: Option<bool>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ImsMode {
    Off,
    Exact,
    Before,
}

/// `gzip_static = true | false | "always"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(untagged)]
pub enum GzipStatic {
    Flag(bool),
    Word(GzipWord),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum GzipWord {
    On,
    Off,
    Always,
}

fn opt_duration<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Duration>, D::Error> {
    duration(d).map(Some)
}

fn opt_size<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
    size(d).map(Some)
}
