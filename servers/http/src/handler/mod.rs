//! From a parsed request to a [`Reply`]: `return`, internal redirects (`error_page`, named
//! locations), error pages and the header writing they share.
//!
//! - [`select`]: server selection by Host and location matching, in nginx's order.
//! - [`static_files`]: `try_files`, index files, autoindex, files with conditionals, ranges
//!   and gzip_static.

use std::borrow::Cow;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Instant, SystemTime};

use bytes::{Bytes, BytesMut};
use smallvec::smallvec;

use crate::config::{
    is_redirect, AccessLog, Config, ErrorPageCode, Expires, Matcher, Return, Server, Settings,
};
use crate::files::{http_date, unix_secs, FileCache};
use crate::request::{self, Head, Method};
use crate::response::{
    self, error_body, has_error_page, HeadWriter, Part, Parts, Precondition, RenderCache,
    RenderKey, Reply,
};
use crate::uri;

mod select;
mod static_files;

use select::prefix_of;
pub use select::{find_location, select_server};

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
    /// While an `error_page` is served: the status it will be sent with (None: the page's own).
    error_status: Option<u16>,
}

/// The connection's two ends.
#[derive(Debug, Clone, Copy)]
pub struct Origin {
    pub local: SocketAddr,
    pub peer: SocketAddr,
}

impl Handler {
    /// After a request panicked: drops a head left half written in the arena.
    pub fn recover(&mut self) {
        self.heads.clear();
    }

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
            None => {
                let target = req.head.target();
                Some(text.expand(&req.vars(uri, query, &target)))
            }
        };
        if is_redirect(ret.code) {
            let url = expanded.as_deref().or(text.as_static()).unwrap_or("");
            return self.redirect(req, s, ret.code, url);
        }
        if ret.code == 200 {
            if let Some(reply) = self.conditional_without_validators(req, s) {
                return reply;
            }
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
                req.error_status = match page.answer {
                    ErrorPageCode::Same => Some(code),
                    ErrorPageCode::FromTarget => None,
                    ErrorPageCode::Code(c) => Some(c),
                };
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
                // A page sent as 200 went through the range and not-modified filters: their
                // statuses stand, as in nginx.
                let filtered = status == 200 && matches!(reply.status, 206 | 304 | 412 | 416);
                if status != reply.status && !filtered {
                    set_status(&mut reply, status);
                }
                return reply;
            }
        }
        self.builtin_error(req, s, code)
    }

    /// A 200 without Last-Modified and ETag (`return`, autoindex) still passes nginx's
    /// not-modified filter: `If-None-Match: *` gives 304, `If-Match` or `If-Unmodified-Since`
    /// give 412.
    fn conditional_without_validators(
        &mut self,
        req: &mut Request<'_>,
        s: &Arc<Settings>,
    ) -> Option<Reply> {
        let h = req.head;
        if !req.filters_apply() {
            return None;
        }
        let any = h.if_match().is_some()
            || h.if_none_match().is_some()
            || h.if_unmodified_since().is_some()
            || h.if_modified_since().is_some();
        if !any {
            return None;
        }
        match response::preconditions(h, None, None, s.if_modified_since) {
            Precondition::Proceed => None,
            Precondition::Failed => Some(self.precondition_failed(req, s, false)),
            Precondition::NotModified => Some(self.not_modified(req, s, None, None, false)),
        }
    }

    /// 412 from the not-modified filter: nginx finishes the response and then closes the
    /// connection (its header still says keep-alive).
    /// `vary`: the request's Vary (gzip_static) stays on the error page.
    fn precondition_failed(
        &mut self,
        req: &mut Request<'_>,
        s: &Arc<Settings>,
        vary: bool,
    ) -> Reply {
        let mut reply = self.error(req, s, 412);
        reply.close = true;
        if vary {
            edit_head(&mut reply.head, |h| {
                insert_before_end(h, "Vary: Accept-Encoding\r\n")
            });
        }
        reply
    }

    /// A 304: the 200's headers without Content-Type, Content-Length and Accept-Ranges.
    fn not_modified(
        &mut self,
        req: &Request<'_>,
        s: &Settings,
        last_modified: Option<(&str, i64)>,
        etag: Option<&str>,
        vary: bool,
    ) -> Reply {
        let date = self.date.get(req.wall);
        let mut w = HeadWriter::start(&mut self.heads, 304, s.server_tokens, &date);
        if let Some((text, _)) = last_modified {
            w.header("Last-Modified", text);
        }
        w.connection(req.keep_alive, req.head.minor);
        if let Some(e) = etag {
            w.header("ETag", e);
        }
        if let Some((_, mtime)) = last_modified {
            write_expires(&mut w, s, req.wall, mtime);
        }
        if vary {
            w.header("Vary", "Accept-Encoding");
        }
        write_add_headers(&mut w, s, 304);
        Reply {
            status: 304,
            head: w.end(),
            body: Parts::new(),
            close: !req.keep_alive,
            body_len: 0,
        }
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
            error_status: None,
        }
    }

    /// nginx's not-modified and range filters act only on responses sent as 200: not on an
    /// error page sent with its error status.
    fn filters_apply(&self) -> bool {
        self.error_status.is_none_or(|s| s == 200)
    }

    fn vars<'r>(
        &'r self,
        uri: &'r [u8],
        query: Option<&'r [u8]>,
        request_uri: &'r [u8],
    ) -> crate::vars::Context<'r> {
        crate::vars::Context {
            uri,
            query,
            request_uri,
            host: &self.host,
            http_host: self.head.host(),
            method: self.head.method_name(),
            local: self.local,
            peer: self.peer,
        }
    }
}

pub(super) struct Uri {
    path: Vec<u8>,
    query: Option<Vec<u8>>,
    /// The matched prefix, for `alias`.
    prefix: Option<Vec<u8>>,
}

pub(super) fn with_charset<'a>(mime: &'a str, s: &Settings) -> std::borrow::Cow<'a, str> {
    match &s.charset {
        Some(c)
            if mime.starts_with("text/") || mime.contains("javascript") || mime.contains("xml") =>
        {
            format!("{mime}; charset={c}").into()
        }
        _ => mime.into(),
    }
}

pub(super) fn write_expires(w: &mut HeadWriter<'_>, s: &Settings, now: SystemTime, mtime: i64) {
    let Some(exp) = s.expires else { return };
    let now_secs = unix_secs(now);
    // Saturating: `expires` durations and file times can be anything.
    let (at, max_age) = match exp {
        Expires::Epoch => (1, None),
        Expires::Max => (2_147_483_647, Some(315_360_000)),
        Expires::Access(d) => (now_secs.saturating_add(d), Some(d)),
        Expires::Modified(d) => {
            let at = mtime.saturating_add(d);
            (at, Some(at.saturating_sub(now_secs)))
        }
    };
    w.header("Expires", &http_date(at));
    match max_age {
        Some(age) if age > 0 => w.header("Cache-Control", &format!("max-age={age}")),
        _ => w.header("Cache-Control", "no-cache"),
    }
}

/// `add_header` applies to 200, 201, 204, 206, 301, 302, 303, 304, 307, 308, or with `always`.
pub(super) fn write_add_headers(w: &mut HeadWriter<'_>, s: &Settings, code: u16) {
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
pub(super) fn edit_head(head: &mut Bytes, f: impl FnOnce(&mut Vec<u8>)) {
    let end = memchr::memmem::find(head, b"\r\n\r\n").map_or(head.len(), |i| i + 4);
    let mut v = head[..end].to_vec();
    f(&mut v);
    v.extend_from_slice(&head[end..]);
    *head = Bytes::from(v);
}

pub(super) fn insert_before_end(head: &mut Vec<u8>, line: &str) {
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
pub fn request_host(head: &Head) -> Cow<'_, str> {
    match head.authority() {
        Some(authority) => request::host_name(authority),
        None => head.host().map(request::host_name).unwrap_or_default(),
    }
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
