//! fs-httpd configuration: the TOML file ([`file`]) resolved into servers, locations and the
//! effective settings of each (nginx inheritance: http -> server -> location -> nested location).

mod file;
pub mod mime;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use netstack::config::{parse_duration, parse_size, ConfigError, RuntimeConfig, Source};
use netstack::runtime::Listen;
use regex::{Regex, RegexBuilder};
use toml::Spanned;

pub use file::ImsMode;
use file::{Block, GzipStatic, GzipWord};
use mime::MimeTypes;

use crate::vars::Template;

/// The whole validated configuration.
#[derive(Debug)]
pub struct Config {
    pub path: PathBuf,
    pub runtime: RuntimeConfig,
    /// `[netstack]`: the user-space stack's settings (`stack = "user"`).
    pub netstack: netstack::user::config::NetstackSection,
    /// `[dpdk]`: the port, with `[netstack] device = "dpdk"`.
    pub dpdk: dpdk::DpdkConfig,
    /// Unique listen addresses, in first-seen order.
    pub listen: Vec<Listen>,
    /// Per listen address: the servers on it, the default server first.
    pub by_listener: Vec<Vec<usize>>,
    pub servers: Vec<Server>,
    pub error_log: Option<LogTarget>,
    /// Connections one worker keeps at most; more are closed at once.
    pub worker_connections: usize,
}

#[derive(Debug)]
pub struct Server {
    pub names: Vec<ServerName>,
    /// Effective server-level settings (also used before a location is chosen).
    pub settings: Arc<Settings>,
    pub locations: Vec<Location>,
}

#[derive(Debug)]
pub enum ServerName {
    Exact(String),
    /// `*.example.com`, stored as `.example.com`.
    LeadingWild(String),
    /// `mail.*`, stored as `mail.`.
    TrailingWild(String),
    Regex(Regex),
}

#[derive(Debug)]
pub struct Location {
    pub matcher: Matcher,
    pub settings: Arc<Settings>,
    pub children: Vec<Location>,
}

#[derive(Debug)]
pub enum Matcher {
    Exact(String),
    Prefix { path: String, stop_regex: bool },
    Regex(Regex),
    Named(String),
}

/// What a `return` directive answers.
#[derive(Debug, Clone)]
pub struct Return {
    pub code: u16,
    /// Body text, or the redirect target for 301/302/303/307/308; may hold variables.
    pub text: Option<Template>,
    /// A text without variables as a body, built once: every response references it.
    pub body: bytes::Bytes,
}

#[derive(Debug, Clone)]
pub struct ErrorPage {
    pub codes: Vec<u16>,
    /// `=CODE` answers with that code; `=` alone takes the code of the target.
    pub answer: ErrorPageCode,
    pub target: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorPageCode {
    Same,
    FromTarget,
    Code(u16),
}

#[derive(Debug, Clone)]
pub struct AddHeader {
    pub name: String,
    pub value: String,
    /// Also on error responses (nginx's `always`).
    pub always: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expires {
    /// Relative to the time of the response; negative means "do not cache".
    Access(i64),
    /// Relative to the file's modification time.
    Modified(i64),
    Epoch,
    Max,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Gzip {
    Off,
    On,
    Always,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LogTarget {
    Stderr,
    Stdout,
    File(PathBuf),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccessLog {
    pub target: LogTarget,
    /// Bytes kept in memory before a write (`buffer=`); 0 writes every line.
    pub buffer: usize,
    pub flush: Duration,
}

/// The effective settings of one server or location.
#[derive(Debug, Clone)]
pub struct Settings {
    pub root: PathBuf,
    pub alias: Option<PathBuf>,
    pub index: Vec<String>,
    pub try_files: Vec<String>,
    pub autoindex: bool,
    pub autoindex_exact_size: bool,
    pub autoindex_localtime: bool,
    pub gzip_static: Gzip,
    pub gzip_vary: bool,
    pub ret: Option<Return>,
    pub error_pages: Vec<ErrorPage>,
    pub default_type: String,
    pub types: Arc<MimeTypes>,
    pub charset: Option<String>,
    pub add_headers: Vec<AddHeader>,
    pub expires: Option<Expires>,
    pub etag: bool,
    pub if_modified_since: ImsMode,
    pub max_ranges: Option<u32>,
    pub server_tokens: bool,
    pub absolute_redirect: bool,
    pub port_in_redirect: bool,
    pub merge_slashes: bool,
    pub internal: bool,
    pub keepalive_timeout: Duration,
    pub keepalive_requests: u64,
    pub client_header_timeout: Duration,
    pub client_body_timeout: Duration,
    pub send_timeout: Duration,
    pub client_header_buffer_size: usize,
    pub large_header_buffers: (usize, usize),
    pub client_max_body_size: u64,
    pub open_file_cache: bool,
    pub open_file_cache_valid: Duration,
    pub open_file_cache_max_size: u64,
    pub access_log: Option<Arc<AccessLog>>,
}

impl Settings {
    /// nginx's compiled-in defaults (see the nginx reference), with the content cache on.
    fn defaults(base: &Path) -> Settings {
        Settings {
            root: base.join("html"),
            alias: None,
            index: vec!["index.html".into()],
            try_files: Vec::new(),
            autoindex: false,
            autoindex_exact_size: true,
            autoindex_localtime: false,
            gzip_static: Gzip::Off,
            gzip_vary: false,
            ret: None,
            error_pages: Vec::new(),
            default_type: "text/plain".into(),
            types: Arc::new(MimeTypes::builtin()),
            charset: None,
            add_headers: Vec::new(),
            expires: None,
            etag: true,
            if_modified_since: ImsMode::Exact,
            max_ranges: None,
            server_tokens: true,
            absolute_redirect: true,
            port_in_redirect: true,
            merge_slashes: true,
            internal: false,
            keepalive_timeout: Duration::from_secs(75),
            keepalive_requests: 1000,
            client_header_timeout: Duration::from_secs(60),
            client_body_timeout: Duration::from_secs(60),
            send_timeout: Duration::from_secs(60),
            client_header_buffer_size: 1024,
            large_header_buffers: (4, 8192),
            client_max_body_size: 1 << 20,
            open_file_cache: true,
            open_file_cache_valid: Duration::from_secs(1),
            open_file_cache_max_size: 1 << 20,
            access_log: None,
        }
    }
}

/// Reads and validates a configuration file.
pub fn load(path: &Path) -> Result<Config, ConfigError> {
    resolve(Source::read(path)?)
}

/// Validates configuration text as if read from `path` (relative paths in it are relative to
/// `path`'s directory).
pub fn parse(path: &Path, text: String) -> Result<Config, ConfigError> {
    resolve(Source {
        path: path.to_path_buf(),
        text,
    })
}

fn resolve(source: Source) -> Result<Config, ConfigError> {
    let path = source.path.clone();
    let file: file::File = source.parse()?;
    let base = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."))
        .to_path_buf();
    let r = Resolver {
        source: &source,
        base,
    };
    r.config(file)
}

struct Resolver<'a> {
    source: &'a Source,
    base: PathBuf,
}

impl Resolver<'_> {
    fn err<T>(
        &self,
        span: std::ops::Range<usize>,
        key: &str,
        msg: impl Into<String>,
    ) -> Result<T, ConfigError> {
        Err(self.source.error(span, key, msg))
    }

    fn config(&self, file: file::File) -> Result<Config, ConfigError> {
        dpdk::check_config(self.source, &file.netstack, &file.dpdk)?;
        let mut http = Settings::defaults(&self.base);
        self.reject_misplaced(
            &file.http,
            "[http]",
            &["listen", "server_name", "match", "location", "internal"],
        )?;
        let worker_connections = match file.http.worker_connections {
            Some(0) => {
                return Err(self.source.error(
                    self.source
                        .text
                        .find("worker_connections")
                        .map_or(0..0, |a| a..a),
                    "worker_connections",
                    "must be at least 1",
                ))
            }
            Some(n) => n,
            None => 512,
        };
        self.apply(&mut http, &file.http)?;
        let error_log = match &file.http.error_log {
            Some(v) => self.log_target(v, true)?,
            None => Some(LogTarget::Stderr),
        };
        if file.server.is_empty() {
            return Err(ConfigError {
                file: self.source.path.clone(),
                line: 0,
                key: "server".into(),
                message: "no [[server]] section: nothing to serve".into(),
            });
        }
        let mut listen: Vec<Listen> = Vec::new();
        let mut by_listener: Vec<Vec<usize>> = Vec::new();
        let mut has_default: Vec<bool> = Vec::new();
        let mut servers = Vec::new();
        for (index, block) in file.server.iter().enumerate() {
            self.reject_misplaced(
                block,
                "[[server]]",
                &["match", "internal", "worker_connections"],
            )?;
            let mut settings = http.clone();
            settings.ret = None;
            self.apply(&mut settings, block)?;
            let settings = Arc::new(settings);
            let names = self.server_names(block)?;
            let locations = self.locations(block.location.as_deref().unwrap_or(&[]), &settings)?;
            for spec in self.listens(block)? {
                let slot = match listen.iter().position(|l| l.addr == spec.addr) {
                    Some(i) => i,
                    None => {
                        listen.push(Listen {
                            addr: spec.addr,
                            backlog: spec.backlog,
                        });
                        by_listener.push(Vec::new());
                        has_default.push(false);
                        listen.len() - 1
                    }
                };
                if spec.default_server {
                    if has_default[slot] {
                        return self.err(
                            spec.span,
                            "listen",
                            format!("a duplicate default server for {}", spec.addr),
                        );
                    }
                    has_default[slot] = true;
                    by_listener[slot].insert(0, index);
                } else {
                    by_listener[slot].push(index);
                }
            }
            servers.push(Server {
                names,
                settings,
                locations,
            });
        }
        Ok(Config {
            path: self.source.path.clone(),
            runtime: file.runtime,
            netstack: file.netstack.clone(),
            dpdk: file.dpdk.clone(),
            listen,
            by_listener,
            servers,
            error_log,
            worker_connections,
        })
    }

    fn reject_misplaced(&self, b: &Block, section: &str, keys: &[&str]) -> Result<(), ConfigError> {
        let present = |k: &str| match k {
            "listen" => b.listen.is_some(),
            "server_name" => b.server_name.is_some(),
            "match" => b.match_.is_some(),
            "location" => b.location.is_some(),
            "internal" => b.internal.is_some(),
            "worker_connections" => b.worker_connections.is_some(),
            _ => false,
        };
        match keys.iter().find(|k| present(k)) {
            Some(k) => {
                let at = self
                    .source
                    .text
                    .find(&format!("{k} "))
                    .or_else(|| self.source.text.find(&format!("{k}=")));
                self.err(
                    at.map_or(0..0, |a| a..a),
                    k,
                    format!("is not allowed in {section}"),
                )
            }
            None => Ok(()),
        }
    }

    fn locations(
        &self,
        blocks: &[Block],
        parent: &Arc<Settings>,
    ) -> Result<Vec<Location>, ConfigError> {
        let mut out = Vec::with_capacity(blocks.len());
        for b in blocks {
            self.reject_misplaced(
                b,
                "a location",
                &["listen", "server_name", "worker_connections"],
            )?;
            let Some(m) = &b.match_ else {
                let at = b.root.as_ref().map(|r| r.span()).unwrap_or(0..0);
                return self.err(at, "match", "a location needs `match` (\"= /x\", \"^~ /x\", \"/x\", \"~ re\", \"~* re\" or \"@name\")");
            };
            let matcher = self.matcher(m)?;
            let mut settings = Settings::clone(parent);
            settings.ret = None;
            settings.try_files.clear();
            settings.alias = None;
            settings.internal = matches!(matcher, Matcher::Named(_));
            self.apply(&mut settings, b)?;
            if let Some(internal) = b.internal {
                settings.internal = internal;
            }
            if settings.alias.is_some() && b.root.is_some() {
                return self.err(
                    b.alias.as_ref().unwrap().span(),
                    "alias",
                    "`root` and `alias` cannot both be set",
                );
            }
            let settings = Arc::new(settings);
            let children = self.locations(b.location.as_deref().unwrap_or(&[]), &settings)?;
            out.push(Location {
                matcher,
                settings,
                children,
            });
        }
        Ok(out)
    }

    fn matcher(&self, m: &Spanned<String>) -> Result<Matcher, ConfigError> {
        let text = m.get_ref().trim();
        let (modifier, arg) = match text.split_once(char::is_whitespace) {
            Some((m, a)) if ["=", "^~", "~", "~*"].contains(&m) => (m, a.trim()),
            _ => ("", text),
        };
        if arg.is_empty() {
            return self.err(m.span(), "match", "empty location");
        }
        Ok(match modifier {
            "=" => Matcher::Exact(arg.to_string()),
            "^~" => Matcher::Prefix { path: arg.to_string(), stop_regex: true },
            "~" | "~*" => {
                let re = RegexBuilder::new(arg).case_insensitive(modifier == "~*").build();
                Matcher::Regex(re.or_else(|e| self.err(m.span(), "match", format!("bad regex: {e}")))?)
            }
            _ if arg.starts_with('@') => Matcher::Named(arg.to_string()),
            _ if arg.starts_with('/') => Matcher::Prefix { path: arg.to_string(), stop_regex: false },
            _ => return self.err(m.span(), "match", format!("\"{text}\": expected \"= /x\", \"^~ /x\", \"/x\", \"~ re\", \"~* re\" or \"@name\"")),
        })
    }

    fn server_names(&self, b: &Block) -> Result<Vec<ServerName>, ConfigError> {
        let mut names = Vec::new();
        for n in b.server_name.iter().flatten() {
            let text = n.get_ref().trim().to_ascii_lowercase();
            if let Some(re) = text.strip_prefix('~') {
                let re = RegexBuilder::new(re).case_insensitive(true).build();
                names.push(ServerName::Regex(re.or_else(|e| {
                    self.err(n.span(), "server_name", format!("bad regex: {e}"))
                })?));
            } else if let Some(rest) = text.strip_prefix("*.") {
                names.push(ServerName::LeadingWild(format!(".{rest}")));
            } else if let Some(rest) = text.strip_prefix('.') {
                names.push(ServerName::Exact(rest.to_string()));
                names.push(ServerName::LeadingWild(format!(".{rest}")));
            } else if let Some(rest) = text.strip_suffix(".*") {
                names.push(ServerName::TrailingWild(format!("{rest}.")));
            } else if text.contains('*') {
                return self.err(
                    n.span(),
                    "server_name",
                    format!("\"{text}\": a wildcard must be a whole leading or trailing label"),
                );
            } else {
                names.push(ServerName::Exact(text));
            }
        }
        Ok(names)
    }

    fn listens(&self, b: &Block) -> Result<Vec<ListenSpec>, ConfigError> {
        let Some(list) = &b.listen else {
            return Ok(vec![ListenSpec {
                addr: "0.0.0.0:80".parse().unwrap(),
                backlog: 511,
                default_server: false,
                span: 0..0,
            }]);
        };
        let mut out = Vec::new();
        for l in list {
            let mut words = l.get_ref().split_whitespace();
            let Some(addr) = words.next() else {
                return self.err(l.span(), "listen", "empty address");
            };
            let addr = parse_listen_addr(addr).ok_or(()).or_else(|_| {
                self.err(
                    l.span(),
                    "listen",
                    format!("\"{addr}\": expected ADDRESS:PORT, [IPv6]:PORT or PORT"),
                )
            })?;
            let mut spec = ListenSpec {
                addr,
                backlog: 511,
                default_server: false,
                span: l.span(),
            };
            for w in words {
                match w {
                    "default_server" | "default" => spec.default_server = true,
                    "reuseport" => {} // always on: one listener per worker
                    _ if w.starts_with("backlog=") => {
                        spec.backlog = w[8..]
                            .parse()
                            .ok()
                            .filter(|&n: &i32| n > 0)
                            .ok_or(())
                            .or_else(|_| {
                                self.err(
                                    l.span(),
                                    "listen",
                                    format!("\"{w}\": backlog must be a positive number"),
                                )
                            })?;
                    }
                    _ => return self.err(l.span(), "listen", format!("unknown parameter \"{w}\"")),
                }
            }
            out.push(spec);
        }
        Ok(out)
    }

    /// Applies the directives present in `b` over the inherited `s`.
    fn apply(&self, s: &mut Settings, b: &Block) -> Result<(), ConfigError> {
        if let Some(root) = &b.root {
            s.root = self.path(root.get_ref());
        }
        if let Some(alias) = &b.alias {
            s.alias = Some(self.path(alias.get_ref()));
        }
        set(&mut s.index, &b.index);
        if let Some(t) = &b.try_files {
            if t.len() < 2 {
                return self.err(
                    t.first().map_or(0..0, |x| x.span()),
                    "try_files",
                    "needs at least one file and a fallback",
                );
            }
            s.try_files = t.iter().map(|x| x.get_ref().clone()).collect();
        }
        set(&mut s.autoindex, &b.autoindex);
        set(&mut s.autoindex_exact_size, &b.autoindex_exact_size);
        set(&mut s.autoindex_localtime, &b.autoindex_localtime);
        if let Some(g) = &b.gzip_static {
            s.gzip_static = match g.get_ref() {
                GzipStatic::Flag(false) | GzipStatic::Word(GzipWord::Off) => Gzip::Off,
                GzipStatic::Flag(true) | GzipStatic::Word(GzipWord::On) => Gzip::On,
                GzipStatic::Word(GzipWord::Always) => Gzip::Always,
            };
        }
        set(&mut s.gzip_vary, &b.gzip_vary);
        if let Some(r) = &b.return_ {
            s.ret = Some(self.ret(r)?);
        }
        if let Some(pages) = &b.error_page {
            s.error_pages = pages
                .iter()
                .map(|p| self.error_page(p))
                .collect::<Result<_, _>>()?;
        }
        set(&mut s.default_type, &b.default_type);
        if let Some(file) = &b.mime_types {
            let path = self.path(file.get_ref());
            let types = MimeTypes::from_nginx_file(&path)
                .or_else(|e| self.err(file.span(), "mime_types", e))?;
            s.types = Arc::new(types);
        }
        if let Some(extra) = &b.types {
            let mut types = MimeTypes::clone(&s.types);
            for (mime, exts) in extra {
                exts.iter().for_each(|e| types.insert(e, mime));
            }
            s.types = Arc::new(types);
        }
        if let Some(c) = &b.charset {
            s.charset = (c != "off").then(|| c.clone());
        }
        if let Some(h) = &b.add_header {
            s.add_headers = h
                .iter()
                .map(|x| self.add_header(x))
                .collect::<Result<_, _>>()?;
        }
        if let Some(e) = &b.expires {
            s.expires = self.expires(e)?;
        }
        set(&mut s.etag, &b.etag);
        if let Some(m) = &b.if_modified_since {
            s.if_modified_since = *m.get_ref();
        }
        if let Some(n) = b.max_ranges {
            s.max_ranges = Some(n);
        }
        set(&mut s.server_tokens, &b.server_tokens);
        set(&mut s.absolute_redirect, &b.absolute_redirect);
        set(&mut s.port_in_redirect, &b.port_in_redirect);
        set(&mut s.merge_slashes, &b.merge_slashes);
        set(&mut s.keepalive_timeout, &b.keepalive_timeout);
        set(&mut s.keepalive_requests, &b.keepalive_requests);
        set(&mut s.client_header_timeout, &b.client_header_timeout);
        set(&mut s.client_body_timeout, &b.client_body_timeout);
        set(&mut s.send_timeout, &b.send_timeout);
        if let Some(n) = b.client_header_buffer_size {
            s.client_header_buffer_size = n.clamp(64, 1 << 20) as usize;
        }
        if let Some(l) = &b.large_client_header_buffers {
            s.large_header_buffers = self.header_buffers(l)?;
        }
        set(&mut s.client_max_body_size, &b.client_max_body_size);
        set(&mut s.open_file_cache, &b.open_file_cache);
        set(&mut s.open_file_cache_valid, &b.open_file_cache_valid);
        set(&mut s.open_file_cache_max_size, &b.open_file_cache_max_size);
        if let Some(a) = &b.access_log {
            s.access_log = self.access_log(a)?;
        }
        Ok(())
    }

    fn path(&self, p: &str) -> PathBuf {
        let p = Path::new(p);
        if p.is_absolute() {
            p.to_path_buf()
        } else {
            self.base.join(p)
        }
    }

    fn ret(&self, r: &Spanned<String>) -> Result<Return, ConfigError> {
        let text = r.get_ref().trim();
        let template = |t: &str| Template::parse(t).or_else(|e| self.err(r.span(), "return", e));
        if is_url(text) {
            return Ok(Return {
                code: 302,
                text: Some(template(text)?),
                body: bytes::Bytes::new(),
            });
        }
        let (code, rest) = text
            .split_once(char::is_whitespace)
            .map_or((text, None), |(c, t)| (c, Some(t.trim())));
        let code: u16 = code
            .parse()
            .ok()
            .filter(|c| (100..=999).contains(c))
            .ok_or(())
            .or_else(|_| {
                self.err(
                    r.span(),
                    "return",
                    format!("\"{text}\": expected \"CODE [text]\", \"CODE URL\" or \"URL\""),
                )
            })?;
        if is_redirect(code) && rest.is_none() {
            return self.err(r.span(), "return", format!("{code} needs a URL"));
        }
        let text = rest.map(|t| template(unquote(t))).transpose()?;
        let body = text
            .as_ref()
            .and_then(Template::as_static)
            .map(|t| bytes::Bytes::from(t.to_string()))
            .unwrap_or_default();
        Ok(Return { code, text, body })
    }

    fn error_page(&self, p: &Spanned<String>) -> Result<ErrorPage, ConfigError> {
        let words: Vec<&str> = p.get_ref().split_whitespace().collect();
        let bad = |msg: &str| {
            self.err(
                p.span(),
                "error_page",
                format!("\"{}\": {msg}", p.get_ref()),
            )
        };
        let Some((target, rest)) = words.split_last() else {
            return bad("expected \"CODE... [=[CODE]] URI\"");
        };
        let mut codes = Vec::new();
        let mut answer = ErrorPageCode::Same;
        for w in rest {
            if let Some(c) = w.strip_prefix('=') {
                answer = if c.is_empty() {
                    ErrorPageCode::FromTarget
                } else {
                    match c.parse() {
                        Ok(c) => ErrorPageCode::Code(c),
                        Err(_) => return bad("bad =CODE"),
                    }
                };
            } else {
                match w.parse::<u16>() {
                    Ok(c) if (300..=599).contains(&c) => codes.push(c),
                    _ => return bad("codes must be between 300 and 599"),
                }
            }
        }
        if codes.is_empty() {
            return bad("no status code");
        }
        Ok(ErrorPage {
            codes,
            answer,
            target: target.to_string(),
        })
    }

    fn add_header(&self, h: &Spanned<String>) -> Result<AddHeader, ConfigError> {
        let text = h.get_ref().trim();
        let (text, always) = match text.strip_suffix(" always") {
            Some(t) => (t.trim_end(), true),
            None => (text, false),
        };
        let Some((name, value)) = text.split_once(char::is_whitespace) else {
            return self.err(
                h.span(),
                "add_header",
                format!("\"{text}\": expected \"NAME VALUE [always]\""),
            );
        };
        let valid_name = name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b));
        let value = unquote(value.trim());
        if !valid_name || value.bytes().any(|b| b == b'\r' || b == b'\n' || b == 0) {
            return self.err(
                h.span(),
                "add_header",
                format!("\"{text}\": invalid header name or value"),
            );
        }
        Ok(AddHeader {
            name: name.to_string(),
            value: value.to_string(),
            always,
        })
    }

    fn expires(&self, e: &Spanned<String>) -> Result<Option<Expires>, ConfigError> {
        let text = e.get_ref().trim();
        let signed = |t: &str| -> Option<i64> {
            let (neg, t) = t.strip_prefix('-').map_or((false, t), |r| (true, r));
            let secs = parse_duration(t)?.as_secs() as i64;
            Some(if neg { -secs } else { secs })
        };
        Ok(match text {
            "off" => None,
            "epoch" => Some(Expires::Epoch),
            "max" => Some(Expires::Max),
            _ => {
                let (modified, t) = text
                    .strip_prefix("modified")
                    .map_or((false, text), |r| (true, r.trim()));
                let Some(secs) = signed(t) else {
                    return self.err(
                        e.span(),
                        "expires",
                        format!("\"{text}\": expected off, epoch, max or [modified] TIME"),
                    );
                };
                Some(if modified {
                    Expires::Modified(secs)
                } else {
                    Expires::Access(secs)
                })
            }
        })
    }

    fn header_buffers(&self, l: &Spanned<String>) -> Result<(usize, usize), ConfigError> {
        let mut w = l.get_ref().split_whitespace();
        let parsed = (|| {
            let n: usize = w.next()?.parse().ok()?;
            let size = parse_size(w.next()?)? as usize;
            let n_ok = (1..=1024).contains(&n);
            (n_ok && (128..=1 << 20).contains(&size) && w.next().is_none()).then_some((n, size))
        })();
        parsed.ok_or(()).or_else(|_| {
            self.err(
                l.span(),
                "large_client_header_buffers",
                "expected \"NUMBER SIZE\" (1-1024 buffers of 128 bytes to 1m), e.g. \"4 8k\"",
            )
        })
    }

    fn log_target(
        &self,
        v: &Spanned<String>,
        error_log: bool,
    ) -> Result<Option<LogTarget>, ConfigError> {
        let key = if error_log { "error_log" } else { "access_log" };
        let first = v.get_ref().split_whitespace().next().unwrap_or("");
        Ok(match first {
            "" => return self.err(v.span(), key, "empty value"),
            "off" => None,
            "stderr" | "/dev/stderr" => Some(LogTarget::Stderr),
            "stdout" | "/dev/stdout" => Some(LogTarget::Stdout),
            p => Some(LogTarget::File(self.path(p))),
        })
    }

    fn access_log(&self, v: &Spanned<String>) -> Result<Option<Arc<AccessLog>>, ConfigError> {
        let Some(target) = self.log_target(v, false)? else {
            return Ok(None);
        };
        let mut log = AccessLog {
            target,
            buffer: 0,
            flush: Duration::from_secs(1),
        };
        for w in v.get_ref().split_whitespace().skip(1) {
            let parsed = if let Some(b) = w.strip_prefix("buffer=") {
                parse_size(b).map(|n| log.buffer = n as usize)
            } else if let Some(f) = w.strip_prefix("flush=") {
                parse_duration(f).map(|d| log.flush = d)
            } else {
                (w == "combined").then_some(())
            };
            if parsed.is_none() {
                return self.err(
                    v.span(),
                    "access_log",
                    format!("unknown parameter \"{w}\" (only the combined format is built in)"),
                );
            }
        }
        Ok(Some(Arc::new(log)))
    }
}

struct ListenSpec {
    addr: SocketAddr,
    backlog: i32,
    default_server: bool,
    span: std::ops::Range<usize>,
}

fn set<T: Clone>(dst: &mut T, src: &Option<T>) {
    if let Some(v) = src {
        *dst = v.clone();
    }
}

fn parse_listen_addr(text: &str) -> Option<SocketAddr> {
    if let Ok(port) = text.parse::<u16>() {
        return Some(SocketAddr::from(([0, 0, 0, 0], port)));
    }
    if let Some(host) = text.strip_prefix("localhost:") {
        return Some(SocketAddr::from(([127, 0, 0, 1], host.parse().ok()?)));
    }
    if let Some(host) = text.strip_prefix("*:") {
        return Some(SocketAddr::from(([0, 0, 0, 0], host.parse().ok()?)));
    }
    text.parse().ok()
}

fn is_url(text: &str) -> bool {
    ["http://", "https://", "$scheme://"]
        .iter()
        .any(|p| text.starts_with(p))
}

pub fn is_redirect(code: u16) -> bool {
    matches!(code, 301 | 302 | 303 | 307 | 308)
}

fn unquote(t: &str) -> &str {
    t.strip_prefix('"')
        .and_then(|t| t.strip_suffix('"'))
        .unwrap_or(t)
}
