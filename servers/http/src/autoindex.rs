//! nginx's HTML directory listing (`autoindex on`): directories first, then files, by name;
//! hidden entries skipped; names past 50 columns cut to `...>`.

use std::fmt::Write;
use std::os::unix::fs::MetadataExt;
use std::path::Path;

const NAME_COLUMNS: usize = 50;

struct Entry {
    name: String,
    dir: bool,
    size: u64,
    mtime: i64,
}

pub fn render(
    dir: &Path,
    uri: &[u8],
    exact_size: bool,
    _localtime: bool,
) -> std::io::Result<String> {
    let mut entries = Vec::new();
    for e in std::fs::read_dir(dir)? {
        let e = e?;
        let name = e.file_name().to_string_lossy().into_owned();
        if name.starts_with('.') {
            continue;
        }
        // Follow symlinks like nginx (stat, not lstat); skip entries that vanished.
        let Ok(meta) = std::fs::metadata(e.path()) else {
            continue;
        };
        entries.push(Entry {
            name,
            dir: meta.is_dir(),
            size: meta.len(),
            mtime: meta.mtime(),
        });
    }
    entries.sort_by(|a, b| b.dir.cmp(&a.dir).then_with(|| a.name.cmp(&b.name)));
    let uri = html_escape(&String::from_utf8_lossy(uri));
    let mut out = String::with_capacity(256 + entries.len() * 120);
    let _ = write!(out, "<html>\r\n<head><title>Index of {uri}</title></head>\r\n<body>\r\n<h1>Index of {uri}</h1><hr><pre><a href=\"../\">../</a>\r\n");
    for e in &entries {
        let slash = if e.dir { "/" } else { "" };
        let shown = format!("{}{slash}", e.name);
        let chars = shown.chars().count();
        let (label, width) = if chars > NAME_COLUMNS {
            let cut: String = shown.chars().take(NAME_COLUMNS - 3).collect();
            (format!("{}..&gt;", html_escape(&cut)), NAME_COLUMNS)
        } else {
            (html_escape(&shown), chars)
        };
        let _ = write!(
            out,
            "<a href=\"{}{slash}\">{label}</a>{:pad$} {} ",
            href_escape(&e.name),
            "",
            date(e.mtime),
            pad = NAME_COLUMNS - width
        );
        if e.dir {
            let _ = write!(out, "{:>19}\r\n", "-");
        } else if exact_size {
            let _ = write!(out, "{:>19}\r\n", e.size);
        } else {
            let _ = write!(out, "{:>6}\r\n", human_size(e.size));
        }
    }
    out.push_str("</pre><hr></body>\r\n</html>\r\n");
    Ok(out)
}

/// `25-Nov-2026 01:40`, UTC.
fn date(secs: i64) -> String {
    // httpdate renders "Wed, 25 Nov 2026 01:40:19 GMT": reuse its calendar arithmetic.
    let h = crate::files::http_date(secs);
    let p: Vec<&str> = h.split(' ').collect();
    match p.as_slice() {
        [_, day, month, year, time, ..] => {
            format!("{day}-{month}-{year} {}", time.get(..5).unwrap_or(time))
        }
        _ => h,
    }
}

fn human_size(n: u64) -> String {
    const UNITS: [(u64, &str); 3] = [(1 << 30, "G"), (1 << 20, "M"), (1 << 10, "K")];
    for (scale, unit) in UNITS {
        if n >= scale {
            return format!("{}{unit}", n / scale);
        }
    }
    n.to_string()
}

fn html_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// Escapes a file name for use in an href (nginx escapes spaces, quotes, '%', '?', '#' and
/// non-ASCII bytes).
fn href_escape(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    for b in name.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~!$&'()*+,;=:@/".contains(&b) && b != b'&' {
            out.push(b as char);
        } else if b == b'&' {
            out.push_str("&amp;");
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
    out
}
