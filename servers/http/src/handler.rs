//! From a parsed request to a [`Reply`]: server selection by Host, location matching in
//! nginx's order, `return`, `try_files`, index files, autoindex, static files with conditionals,
//! ranges and gzip_static, and `error_page` internal redirects.

use std::borrow::Cow;
use std::ffi::OsStr;
use std::net::SocketAddr;
use std::os::unix::ffi::OsStrExt;
use std::path::PathBuf;
use std::rc::Rc;
use std::sync::Arc;
use std::time::{Instant, SystemTime};

use bytes::{Bytes, BytesMut};
use smallvec::smallvec;

use crate::autoindex;
use crate::config::{
    is_redirect, AccessLog, Config, ErrorPageCode, Expires, Gzip, ImsMode, Location, Matcher,
    Return, Server, ServerName, Settings,
};
use crate::files::{http_date, unix_secs, FileCache, FileInfo, Lookup};
use crate::request::{self, Head, Method};
use crate::response::{
    self, error_body, has_error_page, HeadWriter, Ims, Part, Parts, Precondition, Ranges,
    RenderCache, RenderKey, Reply,
};
use crate::uri;

/// Internal redirects (index, try_files, error_page) allowed per request, like nginx's 10.
const MAX_REDIRECTS: u32 = 10;
/// Generated bodies (`return`, error pages, redirects) up to this size are written behind the
/// head in the head arena: one buffer and one send per response instead of two.
const INLINE_BODY: usize = 1024;

/// Per-worker state the handler uses across requests.
#[derive(Default)]
pub struct Handler {
    pub files: FileCache,
    pub date: response::DateCache,
    rendered: RenderCache,
    /// Where response heads are written (see [`HeadWriter`]).
    heads: BytesMut,
    boundary: u64,
}

/// One request being answered.
pub struct Request<'a> {
    pub cfg: &'a Config,
    pub server: &'a Server,
    pub head: &'a Head,
    /// Host name for redirects (Host header or absolute-form authority, without port).
    pub host: Cow<'a, str>,
    pub local: SocketAddr,
    pub peer: SocketAddr,
    pub now: Instant,
    pub wall: SystemTime,
    pub keep_alive: bool,
    /// The access log of the server or location that answered.
    pub access_log: Option<Arc<AccessLog>>,
    /// The method the request is answered as (error_page turns everything but HEAD into GET).
    method: Method,
    redirects: u32,
}

/// The connection's two ends.
#[derive(Debug, Clone, Copy)]
pub struct Origin {
    pub local: SocketAddr,
    pub peer: SocketAddr,
}

impl Handler {
    /// Answers a request whose head parsed; `path` is the origin-form target.
    pub fn handle(&mut self, req: &mut Request<'_>, target: &[u8]) -> Reply {
        let settings = req.server.settings.clone();
        let Ok(norm) = uri::normalize(target, settings.merge_slashes) else {
            return self.error(req, &settings, 400);
        };
        req.method = req.head.method;
        if let Some(ret) = &settings.ret {
            return self.ret(req, &settings, ret, &norm.path, norm.query.as_deref(), true);
        }
        self.serve(req, norm.path, norm.query, false)
    }

    /// Serves a (possibly internally redirected) URI.
    fn serve(
        &mut self,
        req: &mut Request<'_>,
        path: Cow<'_, [u8]>,
        query: Option<Vec<u8>>,
        internal: bool,
    ) -> Reply {
        req.redirects += 1;
        if req.redirects > MAX_REDIRECTS {
            let s = req.server.settings.clone();
            return self.error(req, &s, 500);
        }
        let location = find_location(&req.server.locations, &path);
        let settings = location
            .map_or(&req.server.settings, |l| &l.settings)
            .clone();
        req.access_log = settings.access_log.clone();
        if settings.internal && !internal {
            return self.error(req, &settings, 404);
        }
        if let Some(ret) = &settings.ret {
            return self.ret(req, &settings, ret, &path, query.as_deref(), !internal);
        }
        if req.method == Method::Other {
            return self.error(req, &settings, 405);
        }
        let uri = Uri {
            path: path.into_owned(),
            query,
            prefix: location.and_then(prefix_of),
        };
        if !settings.try_files.is_empty() {
            return self.try_files(req, &settings, uri);
        }
        self.static_file(req, &settings, &uri)
    }

    fn serve_named(&mut self, req: &mut Request<'_>, name: &str) -> Reply {
        let found = req
            .server
            .locations
            .iter()
            .find(|l| matches!(&l.matcher, Matcher::Named(n) if n == name));
        match found {
            Some(loc) => {
                let settings = loc.settings.clone();
                if let Some(ret) = &settings.ret {
                    return self.ret(req, &settings, ret, b"", None, false);
                }
                let s = req.server.settings.clone();
                self.error(req, &s, 404)
            }
            None => {
                let s = req.server.settings.clone();
                self.error(req, &s, 500)
            }
        }
    }

    fn try_files(&mut self, req: &mut Request<'_>, settings: &Arc<Settings>, uri: Uri) -> Reply {
        let (fallback, candidates) = settings
            .try_files
            .split_last()
            .expect("validated: two or more");
        for c in candidates {
            let want_dir = c.ends_with('/');
            let candidate = substitute(c, &uri.path);
            let path = map_path(settings, &candidate, uri.prefix.as_deref());
            let found = self.lookup(req, settings, &path);
            match found {
                Lookup::File(_) if !want_dir => {
                    let uri = Uri {
                        path: candidate,
                        ..uri
                    };
                    return self.static_file(req, settings, &uri);
                }
                Lookup::Dir if want_dir => {
                    let uri = Uri {
                        path: candidate,
                        ..uri
                    };
                    return self.static_file(req, settings, &uri);
                }
                _ => {}
            }
        }
        if let Some(code) = fallback.strip_prefix('=') {
            let code = code.parse().unwrap_or(404);
            return self.error(req, settings, code);
        }
        if fallback.starts_with('@') {
            return self.serve_named(req, fallback);
        }
        let target = substitute(fallback, &uri.path);
        match uri::normalize(&target, true) {
            Ok(n) => self.serve(req, n.path, n.query.or(uri.query), true),
            Err(_) => self.error(req, settings, 500),
        }
    }

    fn lookup(&mut self, req: &Request<'_>, s: &Settings, path: &std::path::Path) -> Lookup {
        self.files.lookup(
            path,
            req.now,
            s.open_file_cache,
            s.open_file_cache_valid,
            s.open_file_cache_max_size,
        )
    }

    fn static_file(&mut self, req: &mut Request<'_>, settings: &Arc<Settings>, uri: &Uri) -> Reply {
        let path = map_path(settings, &uri.path, uri.prefix.as_deref());
        let is_dir_uri = uri.path.ends_with(b"/");
        if is_dir_uri {
            for index in &settings.index {
                let candidate = path.join(index);
                if let Lookup::File(_) = self.lookup(req, settings, &candidate) {
                    let mut next = uri.path.clone();
                    next.extend_from_slice(index.as_bytes());
                    return self.serve(req, next.into(), uri.query.clone(), true);
                }
            }
        }
        match self.lookup(req, settings, &path) {
            Lookup::Dir if !is_dir_uri => {
                let mut location = uri.path.clone();
                location.push(b'/');
                if let Some(q) = &uri.query {
                    location.push(b'?');
                    location.extend_from_slice(q);
                }
                let location = String::from_utf8_lossy(&location).into_owned();
                self.redirect(req, settings, 301, &location)
            }
            Lookup::Dir if settings.autoindex => self.autoindex(req, settings, &path, &uri.path),
            Lookup::Dir => self.error(req, settings, 403),
            Lookup::File(_) if is_dir_uri => self.error(req, settings, 404),
            Lookup::File(info) => self.file(req, settings, &uri.path, &path, info),
            Lookup::Forbidden => self.error(req, settings, 403),
            Lookup::NotFound => self.error(req, settings, 404),
        }
    }

    fn file(
        &mut self,
        req: &mut Request<'_>,
        s: &Arc<Settings>,
        uri: &[u8],
        path: &std::path::Path,
        info: Rc<FileInfo>,
    ) -> Reply {
        let mime = s.types.lookup(uri).unwrap_or(&s.default_type).to_string();
        let mut info = info;
        let (mut gzip, mut vary) = (false, false);
        if s.gzip_static != Gzip::Off {
            let mut gz = path.as_os_str().to_owned();
            gz.push(".gz");
            if let Lookup::File(g) = self.lookup(req, s, std::path::Path::new(&gz)) {
                // nginx varies on Accept-Encoding whenever a .gz sibling exists.
                vary = s.gzip_vary;
                if s.gzip_static == Gzip::Always || accepts_gzip(req.head) {
                    info = g;
                    gzip = true;
                }
            }
        }
        let etag = s.etag.then_some(info.etag.as_str());
        let ims = match s.if_modified_since {
            ImsMode::Off => Ims::Off,
            ImsMode::Exact => Ims::Exact,
            ImsMode::Before => Ims::Before,
        };
        let get_or_head = matches!(req.method, Method::Get | Method::Head);
        match response::preconditions(req.head, etag, info.mtime, ims, get_or_head) {
            Precondition::Failed => return self.error(req, s, 412),
            Precondition::NotModified => {
                let date = self.date.get(req.wall);
                let mut w = HeadWriter::start(&mut self.heads, 304, s.server_tokens, &date);
                w.header("Last-Modified", &info.last_modified);
                w.connection(req.keep_alive, req.head.minor);
                if let Some(e) = etag {
                    w.header("ETag", e);
                }
                write_expires(&mut w, s, req.wall, info.mtime);
                write_add_headers(&mut w, s, 304);
                return Reply {
                    status: 304,
                    head: w.end(),
                    body: Parts::new(),
                    close: !req.keep_alive,
                    body_len: 0,
                };
            }
            Precondition::Proceed => {}
        }
        let ranges_allowed = !gzip && s.max_ranges != Some(0) && req.method == Method::Get;
        let mut ranges = match req.head.range() {
            Some(r) if ranges_allowed => response::parse_ranges(r, info.size, s.max_ranges),
            _ => Ranges::Full,
        };
        if let (Some(ir), Ranges::Partial(_) | Ranges::Unsatisfiable) =
            (req.head.if_range(), &ranges)
        {
            if !response::if_range_holds(ir, etag, info.mtime) {
                ranges = Ranges::Full;
            }
        }
        let content_type = with_charset(&mime, s);
        let whole = |offset: u64, len: u64| match &info.content {
            Some(c) => Part::Bytes(c.slice(offset as usize..(offset + len) as usize)),
            None => Part::File {
                info: info.clone(),
                offset,
                len,
            },
        };
        let (status, body, body_len, extra): (u16, Parts, u64, Vec<(String, String)>) =
            match &ranges {
                Ranges::Full => (200, smallvec![whole(0, info.size)], info.size, Vec::new()),
                Ranges::Unsatisfiable => {
                    let mut r = self.error(req, s, 416);
                    // nginx's 416 names the representation's length.
                    let line = format!("Content-Range: bytes */{}\r\n", info.size);
                    edit_head(&mut r.head, |h| insert_before_end(h, &line));
                    return r;
                }
                Ranges::Partial(list) if list.len() == 1 => {
                    let (first, last) = list[0];
                    let range = format!("bytes {first}-{last}/{}", info.size);
                    (
                        206,
                        smallvec![whole(first, last - first + 1)],
                        last - first + 1,
                        vec![("Content-Range".into(), range)],
                    )
                }
                Ranges::Partial(list) => {
                    self.boundary += 1;
                    let boundary = format!("{:020}", self.boundary);
                    let (body, len) =
                        response::multipart(&boundary, &content_type, info.size, list, whole);
                    let ct = format!("multipart/byteranges; boundary={boundary}");
                    (206, body, len, vec![("Content-Type".into(), ct)])
                }
            };
        let date = self.date.get(req.wall);
        let mut w = HeadWriter::start(&mut self.heads, status, s.server_tokens, &date);
        match extra.iter().find(|(n, _)| n == "Content-Type") {
            Some((_, ct)) => w.header("Content-Type", ct),
            None => w.header("Content-Type", &content_type),
        }
        w.number("Content-Length", body_len);
        w.header("Last-Modified", &info.last_modified);
        w.connection(req.keep_alive, req.head.minor);
        if let Some(e) = etag {
            w.header("ETag", e);
        }
        write_expires(&mut w, s, req.wall, info.mtime);
        if let Some((_, cr)) = extra.iter().find(|(n, _)| n == "Content-Range") {
            w.header("Content-Range", cr);
        }
        if gzip {
            w.header("Content-Encoding", "gzip");
        } else if status == 200 && s.max_ranges != Some(0) {
            w.header("Accept-Ranges", "bytes");
        }
        if vary {
            w.header("Vary", "Accept-Encoding");
        }
        write_add_headers(&mut w, s, status);
        let head = w.end();
        let head_only = req.method == Method::Head;
        Reply {
            status,
            head,
            body: if head_only { Parts::new() } else { body },
            close: !req.keep_alive,
            body_len: if head_only { 0 } else { body_len },
        }
    }

    fn autoindex(
        &mut self,
        req: &mut Request<'_>,
        s: &Arc<Settings>,
        dir: &std::path::Path,
        uri: &[u8],
    ) -> Reply {
        let Ok(html) = autoindex::render(dir, uri, s.autoindex_exact_size, s.autoindex_localtime)
        else {
            return self.error(req, s, 403);
        };
        let body = Bytes::from(html);
        self.simple(req, s, 200, "text/html", body, &[])
    }

    /// nginx `return CODE [text|URL]`; a text's type follows the URI's extension, like nginx.
    /// `cacheable`: the reply goes out as built (an error_page's reply may be edited after).
    fn ret(
        &mut self,
        req: &mut Request<'_>,
        s: &Arc<Settings>,
        ret: &Return,
        uri: &[u8],
        query: Option<&[u8]>,
        cacheable: bool,
    ) -> Reply {
        if ret.code == 444 {
            return Reply {
                status: 444,
                close: true,
                ..Reply::default()
            };
        }
        let Some(text) = &ret.text else {
            return self.error(req, s, ret.code);
        };
        let expanded = match text.as_static() {
            Some(_) => None,
            None => Some(text.expand(&req.vars(uri, query))),
        };
        if is_redirect(ret.code) {
            let url = expanded.as_deref().or(text.as_static()).unwrap_or("");
            return self.redirect(req, s, ret.code, url);
        }
        let ct = s.types.lookup(uri).unwrap_or(&s.default_type);
        match expanded {
            Some(text) => self.simple(req, s, ret.code, ct, Bytes::from(text), &[]),
            None if cacheable => {
                let key = RenderKey {
                    content_type: ct,
                    keep_alive: req.keep_alive,
                    head_only: req.method == Method::Head,
                };
                if let Some(reply) = self.rendered.get(req.wall, s, key) {
                    return reply;
                }
                let reply = self.simple(req, s, ret.code, ct, ret.body.clone(), &[]);
                self.rendered.insert(s, key, reply)
            }
            None => self.simple(req, s, ret.code, ct, ret.body.clone(), &[]),
        }
    }

    fn redirect(
        &mut self,
        req: &mut Request<'_>,
        s: &Arc<Settings>,
        code: u16,
        target: &str,
    ) -> Reply {
        let location = if target.starts_with('/') && s.absolute_redirect {
            let port = req.local.port();
            if s.port_in_redirect && port != 80 {
                format!("http://{}:{}{}", req.host, port, target)
            } else {
                format!("http://{}{}", req.host, target)
            }
        } else {
            target.to_string()
        };
        let body = error_body(code, s.server_tokens);
        self.simple(req, s, code, "text/html", body, &[("Location", &location)])
    }

    /// An error status: an `error_page` redirect when configured, else the built-in page.
    pub fn error(&mut self, req: &mut Request<'_>, s: &Arc<Settings>, code: u16) -> Reply {
        if let Some(page) = s.error_pages.iter().find(|p| p.codes.contains(&code)) {
            if req.redirects < MAX_REDIRECTS {
                let page = page.clone();
                let mut reply = if page.target.starts_with('@') {
                    self.serve_named(req, &page.target)
                } else if page.target.starts_with('/') {
                    if req.method != Method::Head {
                        req.method = Method::Get;
                    }
                    match uri::normalize(page.target.as_bytes(), true) {
                        Ok(n) => self.serve(req, n.path, n.query, true),
                        Err(_) => self.builtin_error(req, s, 500),
                    }
                } else {
                    return self.redirect(req, s, 302, &page.target);
                };
                let status = match page.answer {
                    ErrorPageCode::Same => code,
                    ErrorPageCode::FromTarget => reply.status,
                    ErrorPageCode::Code(c) => c,
                };
                if status != reply.status {
                    set_status(&mut reply, status);
                }
                return reply;
            }
        }
        self.builtin_error(req, s, code)
    }

    fn builtin_error(&mut self, req: &mut Request<'_>, s: &Arc<Settings>, code: u16) -> Reply {
        let body = if has_error_page(code) {
            error_body(code, s.server_tokens)
        } else {
            Bytes::new()
        };
        let mut reply = self.simple(req, s, code, "text/html", body, &[]);
        // Statuses after which the connection's framing or purpose is in doubt close it.
        if matches!(code, 400 | 408 | 413 | 414 | 431 | 500 | 501 | 505) {
            reply.close = true;
            edit_head(&mut reply.head, close_in_head);
        }
        reply
    }

    /// A response with an in-memory body.
    fn simple(
        &mut self,
        req: &Request<'_>,
        s: &Settings,
        code: u16,
        content_type: &str,
        body: Bytes,
        extra: &[(&str, &str)],
    ) -> Reply {
        let date = self.date.get(req.wall);
        let mut w = HeadWriter::start(&mut self.heads, code, s.server_tokens, &date);
        if !body.is_empty() || code == 200 {
            w.header("Content-Type", &with_charset(content_type, s));
        }
        w.number("Content-Length", body.len() as u64);
        for (name, value) in extra {
            w.header(name, value);
        }
        w.connection(req.keep_alive, req.head.minor);
        write_add_headers(&mut w, s, code);
        let head_only = req.method == Method::Head;
        let inline = !head_only && body.len() <= INLINE_BODY;
        if inline {
            w.body(&body);
        }
        Reply {
            status: code,
            head: w.end(),
            body_len: if head_only { 0 } else { body.len() as u64 },
            body: if head_only || inline {
                Parts::new()
            } else {
                smallvec![Part::Bytes(body)]
            },
            close: !req.keep_alive,
        }
    }
}

impl<'a> Request<'a> {
    pub fn new(
        cfg: &'a Config,
        server: &'a Server,
        head: &'a Head,
        host: Cow<'a, str>,
        origin: Origin,
        now: Instant,
        wall: SystemTime,
    ) -> Self {
        let (local, peer) = (origin.local, origin.peer);
        Request {
            cfg,
            server,
            head,
            host,
            local,
            peer,
            now,
            wall,
            keep_alive: false,
            access_log: server.settings.access_log.clone(),
            method: head.method,
            redirects: 0,
        }
    }

    fn vars<'r>(&'r self, uri: &'r [u8], query: Option<&'r [u8]>) -> crate::vars::Context<'r> {
        let line = self.head.line();
        crate::vars::Context {
            uri,
            query,
            request_uri: line.split(|&b| b == b' ').nth(1).unwrap_or(b"/"),
            host: &self.host,
            http_host: self.head.host(),
            method: line.split(|&b| b == b' ').next().unwrap_or(b""),
            local: self.local,
            peer: self.peer,
        }
    }
}

struct Uri {
    path: Vec<u8>,
    query: Option<Vec<u8>>,
    /// The matched prefix, for `alias`.
    prefix: Option<Vec<u8>>,
}

/// Picks the server for a connection's listener and the request's host (nginx's order).
pub fn select_server<'c>(cfg: &'c Config, listener: usize, host: &str) -> &'c Server {
    let candidates = cfg
        .by_listener
        .get(listener)
        .map(Vec::as_slice)
        .unwrap_or(&[]);
    if let [only] = candidates {
        return &cfg.servers[*only]; // one server on this address: no name to compare
    }
    let server = |i: &usize| &cfg.servers[*i];
    let names = |i: &usize| server(i).names.iter();
    let exact = candidates
        .iter()
        .find(|i| names(i).any(|n| matches!(n, ServerName::Exact(e) if e == host)));
    // The candidate whose wildcard name matches the most characters of the host.
    let longest = |matched: fn(&ServerName, &str) -> Option<usize>| {
        candidates
            .iter()
            .filter_map(|i| {
                names(i)
                    .filter_map(|n| matched(n, host))
                    .max()
                    .map(|len| (len, i))
            })
            .max_by_key(|(len, _)| *len)
            .map(|(_, i)| i)
    };
    let leading = || {
        longest(|n, host| match n {
            ServerName::LeadingWild(w) if host.ends_with(w.as_str()) => Some(w.len()),
            _ => None,
        })
    };
    let trailing = || {
        longest(|n, host| match n {
            ServerName::TrailingWild(w) if host.starts_with(w.as_str()) => Some(w.len()),
            _ => None,
        })
    };
    let regex = || {
        candidates
            .iter()
            .find(|i| names(i).any(|n| matches!(n, ServerName::Regex(r) if r.is_match(host))))
    };
    let chosen = exact
        .or_else(leading)
        .or_else(trailing)
        .or_else(regex)
        .or(candidates.first());
    chosen.map(server).unwrap_or(&cfg.servers[0])
}

/// nginx's location order: exact match; else the longest prefix (final if `^~`); else the
/// first matching regex in file order; else that longest prefix. Nested locations repeat it.
pub fn find_location<'l>(locations: &'l [Location], path: &[u8]) -> Option<&'l Location> {
    let mut best: Option<&Location> = None;
    let mut best_len = 0;
    for loc in locations {
        match &loc.matcher {
            Matcher::Exact(p) if p.as_bytes() == path => return Some(loc),
            Matcher::Prefix { path: p, .. }
                if path.starts_with(p.as_bytes()) && (best.is_none() || p.len() > best_len) =>
            {
                best = Some(loc);
                best_len = p.len();
            }
            _ => {}
        }
    }
    if let Some(b) = best {
        if let Some(inner) = find_location(&b.children, path) {
            return Some(inner);
        }
        if matches!(
            b.matcher,
            Matcher::Prefix {
                stop_regex: true,
                ..
            }
        ) {
            return Some(b);
        }
    }
    let mut text = None;
    for loc in locations {
        if let Matcher::Regex(re) = &loc.matcher {
            let text = text.get_or_insert_with(|| String::from_utf8_lossy(path));
            if re.is_match(text) {
                return find_location(&loc.children, path).or(Some(loc));
            }
        }
    }
    best
}

fn prefix_of(loc: &Location) -> Option<Vec<u8>> {
    match &loc.matcher {
        Matcher::Prefix { path, .. } | Matcher::Exact(path) => Some(path.as_bytes().to_vec()),
        _ => None,
    }
}

/// The file system path for a URI: `root + uri`, or `alias` replacing the location's prefix.
fn map_path(s: &Settings, uri: &[u8], prefix: Option<&[u8]>) -> PathBuf {
    match (&s.alias, prefix) {
        (Some(alias), Some(prefix)) if uri.starts_with(prefix) => {
            let mut p = alias.as_os_str().as_bytes().to_vec();
            p.extend_from_slice(&uri[prefix.len()..]);
            PathBuf::from(OsStr::from_bytes(&p))
        }
        (Some(alias), _) => alias.clone(),
        _ => {
            let mut p = s.root.as_os_str().as_bytes().to_vec();
            p.extend_from_slice(uri);
            PathBuf::from(OsStr::from_bytes(&p))
        }
    }
}

/// Expands `$uri` in a try_files candidate.
fn substitute(pattern: &str, uri: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(pattern.len() + uri.len());
    let mut rest = pattern.as_bytes();
    while let Some(i) = memchr::memmem::find(rest, b"$uri") {
        out.extend_from_slice(&rest[..i]);
        out.extend_from_slice(uri);
        rest = &rest[i + 4..];
    }
    out.extend_from_slice(rest);
    out
}

fn accepts_gzip(head: &Head) -> bool {
    let Some(ae) = head.accept_encoding() else {
        return false;
    };
    String::from_utf8_lossy(ae).split(',').any(|c| {
        let mut parts = c.split(';');
        let coding = parts.next().unwrap_or("").trim();
        let q_zero = parts.any(|p| matches!(p.trim().strip_prefix("q="), Some(q) if q.trim().parse::<f32>() == Ok(0.0)));
        (coding.eq_ignore_ascii_case("gzip") || coding == "*") && !q_zero
    })
}

fn with_charset<'a>(mime: &'a str, s: &Settings) -> std::borrow::Cow<'a, str> {
    match &s.charset {
        Some(c)
            if mime.starts_with("text/") || mime.contains("javascript") || mime.contains("xml") =>
        {
            format!("{mime}; charset={c}").into()
        }
        _ => mime.into(),
    }
}

fn write_expires(w: &mut HeadWriter<'_>, s: &Settings, now: SystemTime, mtime: i64) {
    let Some(exp) = s.expires else { return };
    let now_secs = unix_secs(now);
    let (at, max_age) = match exp {
        Expires::Epoch => (1, None),
        Expires::Max => (2_147_483_647, Some(315_360_000)),
        Expires::Access(d) => (now_secs + d, Some(d)),
        Expires::Modified(d) => (mtime + d, Some(mtime + d - now_secs)),
    };
    w.header("Expires", &http_date(at));
    match max_age {
        Some(age) if age > 0 => w.header("Cache-Control", &format!("max-age={age}")),
        _ => w.header("Cache-Control", "no-cache"),
    }
}

/// `add_header` applies to 200, 201, 204, 206, 301, 302, 303, 304, 307, 308, or with `always`.
fn write_add_headers(w: &mut HeadWriter<'_>, s: &Settings, code: u16) {
    let success = matches!(
        code,
        200 | 201 | 204 | 206 | 301 | 302 | 303 | 304 | 307 | 308
    );
    for h in s.add_headers.iter().filter(|h| success || h.always) {
        w.header(&h.name, &h.value);
    }
}

/// Edits the header section of a finished head, which may carry a small body behind it
/// (error paths only: copies a few hundred bytes).
fn edit_head(head: &mut Bytes, f: impl FnOnce(&mut Vec<u8>)) {
    let end = memchr::memmem::find(head, b"\r\n\r\n").map_or(head.len(), |i| i + 4);
    let mut v = head[..end].to_vec();
    f(&mut v);
    v.extend_from_slice(&head[end..]);
    *head = Bytes::from(v);
}

fn insert_before_end(head: &mut Vec<u8>, line: &str) {
    let at = head.len() - 2;
    head.splice(at..at, line.bytes());
}

fn close_in_head(head: &mut Vec<u8>) {
    if let Some(i) = memchr::memmem::find(head, b"Connection: keep-alive\r\n") {
        head.splice(i..i + 24, b"Connection: close\r\n".iter().copied());
    }
}

/// Rewrites the status of a built reply (`error_page`), dropping what nginx sends only with
/// 200, 206 and 304 (Last-Modified) or only with 200 (Accept-Ranges).
fn set_status(reply: &mut Reply, code: u16) {
    reply.status = code;
    edit_head(&mut reply.head, |head| {
        let end = memchr::memchr(b'\n', head).map_or(0, |i| i + 1);
        let line = format!("HTTP/1.1 {} {}\r\n", code, response::reason(code));
        head.splice(..end, line.bytes());
        if !matches!(code, 200 | 206 | 304) {
            remove_header(head, b"Last-Modified: ");
        }
        if code != 200 {
            remove_header(head, b"Accept-Ranges: ");
        }
    });
}

fn remove_header(head: &mut Vec<u8>, prefix: &[u8]) {
    let Some(start) = memchr::memmem::find(head, prefix) else {
        return;
    };
    let end = memchr::memmem::find(&head[start..], b"\r\n").map_or(head.len(), |e| start + e + 2);
    head.drain(start..end);
}

/// Host for redirects and server selection: the absolute-form authority, else Host.
pub fn request_host(head: &Head) -> (Cow<'_, str>, Option<Bytes>) {
    let target = head.target();
    if request::is_absolute(&target) {
        let (authority, path) = request::split_absolute(&target);
        return (
            request::host_name(&authority).into_owned().into(),
            Some(path),
        );
    }
    (
        head.host().map(request::host_name).unwrap_or_default(),
        None,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn config() -> Config {
        let dir = std::env::temp_dir().join(format!("fs-httpd-handler-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("httpd.toml");
        std::fs::write(
            &path,
            "[[server]]\nlisten = [\"127.0.0.1:80\"]\nadd_header = [\"X-A b\"]\n\
             [[server.location]]\nmatch = \"/r\"\nreturn = \"200 fixed text\"\n",
        )
        .unwrap();
        let cfg = crate::config::load(&path).unwrap_or_else(|e| panic!("{e}"));
        let _ = std::fs::remove_dir_all(dir);
        cfg
    }

    /// The reply to `raw` at `wall`; with `cache` false the `return` is answered as inside an
    /// error_page (never from the cache).
    fn answer(h: &mut Handler, cfg: &Config, raw: &str, wall: SystemTime, cache: bool) -> Reply {
        let limits = request::Limits {
            line: 8192,
            total: 32768,
        };
        let (head, _) = request::parse(&Bytes::from(raw.to_string()), limits).unwrap();
        let addr: SocketAddr = "127.0.0.1:80".parse().unwrap();
        let origin = Origin {
            local: addr,
            peer: addr,
        };
        let server = &cfg.servers[0];
        let mut req = Request::new(cfg, server, &head, "a".into(), origin, Instant::now(), wall);
        req.keep_alive = head.keep_alive;
        if cache {
            return h.handle(&mut req, &head.target());
        }
        let loc = find_location(&server.locations, b"/r").unwrap();
        let ret = loc.settings.ret.as_ref().unwrap();
        h.ret(&mut req, &loc.settings, ret, &head.target(), None, false)
    }

    fn bytes_of(r: &Reply) -> Vec<u8> {
        let mut out = r.head.to_vec();
        for part in &r.body {
            let Part::Bytes(b) = part else {
                panic!("a file part")
            };
            out.extend_from_slice(b);
        }
        out
    }

    #[test]
    fn cached_returns_match_a_fresh_build_and_follow_the_date() {
        let cfg = config();
        let t0 = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        for raw in [
            "GET /r.txt HTTP/1.1\r\nHost: a\r\n\r\n",
            "HEAD /r HTTP/1.1\r\nHost: a\r\n\r\n",
            "GET /r HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n",
            "GET /r HTTP/1.0\r\n\r\n",
        ] {
            let mut h = Handler::default();
            let first = answer(&mut h, &cfg, raw, t0, true);
            let again = answer(&mut h, &cfg, raw, t0, true);
            assert_eq!(
                first.head.as_ptr(),
                again.head.as_ptr(),
                "from the cache: {raw:?}"
            );
            let fresh = answer(&mut h, &cfg, raw, t0, false);
            assert_ne!(fresh.head.as_ptr(), first.head.as_ptr());
            assert_eq!(bytes_of(&fresh), bytes_of(&first), "{raw:?}");
            assert_eq!((fresh.close, fresh.body_len), (first.close, first.body_len));
            let later = answer(&mut h, &cfg, raw, t0 + Duration::from_secs(1), true);
            let date = |r: &Reply| {
                let text = String::from_utf8_lossy(&bytes_of(r)).into_owned();
                text.lines()
                    .find(|l| l.starts_with("Date:"))
                    .unwrap()
                    .to_string()
            };
            assert_eq!(date(&first), "Date: Tue, 14 Nov 2023 22:13:20 GMT");
            assert_eq!(date(&later), "Date: Tue, 14 Nov 2023 22:13:21 GMT");
        }
    }
}
