//! File extension -> media type, like nginx's `types {}` and `mime.types`.

use std::collections::HashMap;
use std::path::Path;

#[derive(Debug, Clone, Default)]
pub struct MimeTypes {
    by_ext: HashMap<String, String>,
}

/// The common part of nginx's stock `mime.types`.
const BUILTIN: &[(&str, &[&str])] = &[
    ("text/html", &["html", "htm", "shtml"]),
    ("text/css", &["css"]),
    ("text/xml", &["xml"]),
    ("image/gif", &["gif"]),
    ("image/jpeg", &["jpeg", "jpg"]),
    ("application/javascript", &["js"]),
    ("application/atom+xml", &["atom"]),
    ("application/rss+xml", &["rss"]),
    ("text/mathml", &["mml"]),
    ("text/plain", &["txt"]),
    ("image/avif", &["avif"]),
    ("image/png", &["png"]),
    ("image/svg+xml", &["svg", "svgz"]),
    ("image/tiff", &["tif", "tiff"]),
    ("image/webp", &["webp"]),
    ("image/x-icon", &["ico"]),
    ("image/bmp", &["bmp"]),
    ("font/woff", &["woff"]),
    ("font/woff2", &["woff2"]),
    ("application/java-archive", &["jar", "war", "ear"]),
    ("application/json", &["json"]),
    ("application/msword", &["doc"]),
    ("application/pdf", &["pdf"]),
    ("application/postscript", &["ps", "eps", "ai"]),
    ("application/rtf", &["rtf"]),
    ("application/wasm", &["wasm"]),
    ("application/x-7z-compressed", &["7z"]),
    ("application/x-x509-ca-cert", &["der", "pem", "crt"]),
    ("application/xhtml+xml", &["xhtml"]),
    ("application/zip", &["zip"]),
    (
        "application/octet-stream",
        &[
            "bin", "exe", "dll", "deb", "dmg", "iso", "img", "msi", "msp", "msm",
        ],
    ),
    ("audio/midi", &["mid", "midi", "kar"]),
    ("audio/mpeg", &["mp3"]),
    ("audio/ogg", &["ogg"]),
    ("audio/x-m4a", &["m4a"]),
    ("video/mp4", &["mp4"]),
    ("video/mpeg", &["mpeg", "mpg"]),
    ("video/webm", &["webm"]),
    ("video/x-flv", &["flv"]),
    ("video/x-msvideo", &["avi"]),
];

impl MimeTypes {
    pub fn builtin() -> Self {
        let mut t = MimeTypes::default();
        for (mime, exts) in BUILTIN {
            exts.iter().for_each(|e| t.insert(e, mime));
        }
        t
    }

    pub fn insert(&mut self, ext: &str, mime: &str) {
        self.by_ext
            .insert(ext.to_ascii_lowercase(), mime.to_string());
    }

    /// The type for a file name (or URI path), by its extension (case-insensitive, like
    /// nginx).
    pub fn lookup(&self, file_name: impl AsRef<[u8]>) -> Option<&str> {
        let name = file_name.as_ref();
        let dot = memchr::memrchr(b'.', name)?;
        let ext = std::str::from_utf8(&name[dot + 1..]).ok()?;
        if ext.contains('/') {
            return None;
        }
        if ext.bytes().any(|b| b.is_ascii_uppercase()) {
            return self
                .by_ext
                .get(&ext.to_ascii_lowercase())
                .map(String::as_str);
        }
        self.by_ext.get(ext).map(String::as_str)
    }

    /// Parses nginx's `types { text/html html htm; ... }` format.
    pub fn from_nginx_file(path: &Path) -> Result<Self, String> {
        // A regular file of sane size: never a device (/dev/zero) or a pipe that never ends.
        const MAX: u64 = 4 << 20;
        let fail = |e: &dyn std::fmt::Display| format!("{}: {e}", path.display());
        let meta = std::fs::metadata(path).map_err(|e| fail(&e))?;
        if !meta.is_file() || meta.len() > MAX {
            return Err(fail(&"not a regular file of at most 4 MiB"));
        }
        let text = std::fs::read_to_string(path).map_err(|e| fail(&e))?;
        Self::parse_nginx(&text).map_err(|e| format!("{}: {e}", path.display()))
    }

    pub fn parse_nginx(text: &str) -> Result<Self, String> {
        let body: String = text
            .lines()
            .map(|l| l.split('#').next().unwrap_or(""))
            .collect::<Vec<_>>()
            .join("\n");
        let inner = body
            .trim()
            .strip_prefix("types")
            .map(str::trim_start)
            .and_then(|b| b.strip_prefix('{'))
            .and_then(|b| b.trim_end().strip_suffix('}'))
            .ok_or("expected `types { ... }`")?;
        let mut t = MimeTypes::default();
        for entry in inner.split(';').map(str::trim).filter(|e| !e.is_empty()) {
            let mut words = entry.split_whitespace();
            let mime = words.next().ok_or("empty entry")?;
            let mut any = false;
            for ext in words {
                t.insert(ext, mime);
                any = true;
            }
            if !any {
                return Err(format!("`{mime}` has no extensions"));
            }
        }
        Ok(t)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn looks_up_by_extension_case_insensitively() {
        let t = MimeTypes::builtin();
        assert_eq!(t.lookup("index.html"), Some("text/html"));
        assert_eq!(t.lookup("A.JPG"), Some("image/jpeg"));
        assert_eq!(t.lookup("noext"), None);
        assert_eq!(t.lookup("dir.d/file"), None);
    }

    #[test]
    fn parses_nginx_format() {
        let t =
            MimeTypes::parse_nginx("types {\n  text/html html htm; # web\n image/png png;\n}\n")
                .unwrap();
        assert_eq!(t.lookup("x.htm"), Some("text/html"));
        assert_eq!(t.lookup("x.png"), Some("image/png"));
        assert!(MimeTypes::parse_nginx("text/html html;").is_err());
        assert!(MimeTypes::parse_nginx("types { text/html; }").is_err());
    }

    #[test]
    fn reads_debian_mime_types_when_present() {
        let p = Path::new("/etc/nginx/mime.types");
        if !p.exists() {
            eprintln!("skipped: {} not installed", p.display());
            return;
        }
        let t = MimeTypes::from_nginx_file(p).unwrap();
        assert_eq!(t.lookup("a.css"), Some("text/css"));
    }
}
