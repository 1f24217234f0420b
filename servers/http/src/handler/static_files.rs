//! Static content: `try_files`, index files, autoindex and files with conditionals, ranges and
//! gzip_static, following the order and method rules of nginx's content handlers (index, then
//! autoindex for GET/HEAD, then static for GET/HEAD/POST; anything else is 405).

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::path::PathBuf;
use std::rc::Rc;
use std::sync::Arc;

use bytes::Bytes;
use smallvec::smallvec;

use super::{
    edit_head, insert_before_end, with_charset, write_add_headers, write_expires, Handler, Request,
    Uri,
};
use crate::autoindex;
use crate::config::{Gzip, Settings};
use crate::files::{FileInfo, Lookup};
use crate::request::{Head, Method};
use crate::response::{self, HeadWriter, Part, Parts, Precondition, Ranges, Reply};
use crate::uri;

impl Handler {
    pub(super) fn try_files(
        &mut self,
        req: &mut Request<'_>,
        settings: &Arc<Settings>,
        uri: Uri,
    ) -> Reply {
        // The configuration requires two or more entries; serve the file itself otherwise.
        let Some((fallback, candidates)) = settings.try_files.split_last() else {
            return self.static_file(req, settings, &uri);
        };
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

    pub(super) fn static_file(
        &mut self,
        req: &mut Request<'_>,
        settings: &Arc<Settings>,
        uri: &Uri,
    ) -> Reply {
        if req.method == Method::Other {
            return self.error(req, settings, 405);
        }
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
            Lookup::Dir if settings.autoindex && req.method != Method::Post => {
                self.autoindex(req, settings, &path, &uri.path)
            }
            Lookup::Dir => self.error(req, settings, 403),
            Lookup::File(_) if is_dir_uri => self.error(req, settings, 404),
            Lookup::File(_) if req.method == Method::Post => self.error(req, settings, 405),
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
        let filters = req.filters_apply();
        let precondition = match filters {
            true => response::preconditions(req.head, etag, Some(info.mtime), s.if_modified_since),
            false => Precondition::Proceed,
        };
        match precondition {
            Precondition::Failed => return self.precondition_failed(req, s, vary),
            Precondition::NotModified => {
                let lm = Some((info.last_modified.as_str(), info.mtime));
                return self.not_modified(req, s, lm, etag, vary);
            }
            Precondition::Proceed => {}
        }
        // nginx's range filter also answers HEAD with 206 headers.
        let ranges_allowed = !gzip && s.max_ranges != Some(0) && filters;
        let mut ranges = match req.head.range() {
            Some(r) if ranges_allowed => response::parse_ranges(r, info.size, s.max_ranges),
            _ => Ranges::Full,
        };
        if let (Some(ir), Ranges::Partial(_) | Ranges::Unsatisfiable) =
            (req.head.if_range(), &ranges)
        {
            if !response::if_range_holds(ir, etag, Some(info.mtime)) {
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
        if let Some(reply) = self.conditional_without_validators(req, s) {
            return reply;
        }
        let body = Bytes::from(html);
        self.simple(req, s, 200, "text/html", body, &[])
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

/// nginx's `ngx_http_gzip_ok` with its defaults (`gzip_http_version 1.1`, `gzip_proxied off`):
/// an HTTP/1.1 request without `Via` whose Accept-Encoding names gzip with a nonzero quality.
fn accepts_gzip(head: &Head) -> bool {
    let Some(ae) = head.accept_encoding() else {
        return false;
    };
    if ae.len() < 4 || !(ae.starts_with(b"gzip,") || gzip_in_accept_encoding(ae)) {
        return false;
    }
    head.minor >= 1 && head.via().is_none()
}

/// nginx's `ngx_http_gzip_accept_encoding`: a "gzip" token (any case) after the start, a comma
/// or a space, then optionally `;q=` with a nonzero quality.
fn gzip_in_accept_encoding(ae: &[u8]) -> bool {
    let mut start = 0;
    let at = loop {
        let Some(i) = find_ci(&ae[start..], b"gzip") else {
            return false;
        };
        let at = start + i;
        if at == 0 || matches!(ae[at - 1], b',' | b' ') {
            break at;
        }
        start = at + 4;
    };
    let mut rest = ae[at + 4..].iter();
    loop {
        match rest.next() {
            None | Some(b',') => return true,
            Some(b';') => break,
            Some(b' ') => {}
            Some(_) => return false,
        }
    }
    loop {
        match rest.next() {
            None => return true,
            Some(b'q' | b'Q') => break,
            Some(b' ') => {}
            Some(_) => return false,
        }
    }
    let rest = rest.as_slice();
    match rest.split_first() {
        Some((b'=', q)) if !q.is_empty() => gzip_quantity(q) != 0,
        _ => false,
    }
}

/// nginx's `ngx_http_gzip_quantity`, quirks included ("0.5" is 5, "1.000" is 100).
fn gzip_quantity(q: &[u8]) -> u32 {
    let mut it = q.iter();
    let mut value = match it.next() {
        Some(c @ (b'0' | b'1')) => u32::from(c - b'0') * 100,
        _ => return 0,
    };
    match it.next() {
        None | Some(b',' | b' ') => return value,
        Some(b'.') => {}
        Some(_) => return 0,
    }
    let mut digits = 0;
    for &c in it {
        match c {
            b',' | b' ' => break,
            b'0'..=b'9' => {
                value += u32::from(c - b'0');
                digits += 1;
            }
            _ => return 0,
        }
    }
    if value > 100 || digits > 3 {
        0
    } else {
        value
    }
}

fn find_ci(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len())
        .position(|w| w.eq_ignore_ascii_case(needle))
}
