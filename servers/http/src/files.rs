//! A per-worker cache of file metadata and small files' content (nginx's `open_file_cache`
//! plus a content cache), revalidated by mtime and size. Content is `Bytes`, so every response
//! references it without copying; larger files are read in chunks while they are sent.

use std::collections::HashMap;
use std::fs::{File, Metadata};
use std::io;
use std::os::unix::fs::{FileExt, MetadataExt};
use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bytes::Bytes;

/// What a file looks like to HTTP.
#[derive(Debug)]
pub struct FileInfo {
    pub path: PathBuf,
    pub size: u64,
    /// Modification time, whole seconds since the epoch.
    pub mtime: i64,
    /// nginx's format: `"<hex mtime>-<hex size>"`.
    pub etag: String,
    pub last_modified: String,
    /// The whole content, for files up to the cache's size limit.
    pub content: Option<Bytes>,
}

#[derive(Debug, Clone)]
pub enum Lookup {
    File(Rc<FileInfo>),
    Dir,
    NotFound,
    Forbidden,
}

struct Entry {
    found: Lookup,
    checked: Instant,
}

/// Entries above this count are dropped wholesale (simple, and rare for static sites).
const MAX_ENTRIES: usize = 16_384;

#[derive(Default)]
pub struct FileCache {
    entries: HashMap<PathBuf, Entry>,
}

impl FileCache {
    /// Looks `path` up, from the cache when it was checked less than `valid` ago (and `cached`
    /// is on). Files up to `max_content` bytes are kept in memory.
    pub fn lookup(
        &mut self,
        path: &Path,
        now: Instant,
        cached: bool,
        valid: Duration,
        max_content: u64,
    ) -> Lookup {
        if cached {
            if let Some(e) = self.entries.get(path) {
                if now.duration_since(e.checked) < valid {
                    return e.found.clone();
                }
            }
        }
        let previous = self.entries.get(path).and_then(|e| match &e.found {
            Lookup::File(f) => Some(f.clone()),
            _ => None,
        });
        let found = load(path, previous, max_content);
        if cached && matches!(found, Lookup::File(_) | Lookup::Dir) {
            if self.entries.len() >= MAX_ENTRIES {
                self.entries.clear();
            }
            self.entries.insert(
                path.to_path_buf(),
                Entry {
                    found: found.clone(),
                    checked: now,
                },
            );
        } else {
            self.entries.remove(path);
        }
        found
    }
}

fn load(path: &Path, previous: Option<Rc<FileInfo>>, max_content: u64) -> Lookup {
    let meta = match std::fs::metadata(path) {
        Ok(m) => m,
        Err(e) => return error_lookup(&e),
    };
    if meta.is_dir() {
        return Lookup::Dir;
    }
    if !meta.is_file() {
        return Lookup::NotFound;
    }
    let mtime = meta.mtime();
    if let Some(prev) = previous.filter(|p| p.mtime == mtime && p.size == meta.len()) {
        return Lookup::File(prev);
    }
    match read_info(path, &meta, max_content) {
        Ok(info) => Lookup::File(Rc::new(info)),
        Err(e) => error_lookup(&e),
    }
}

fn error_lookup(e: &io::Error) -> Lookup {
    match e.kind() {
        io::ErrorKind::PermissionDenied => Lookup::Forbidden,
        _ => Lookup::NotFound,
    }
}

fn read_info(path: &Path, meta: &Metadata, max_content: u64) -> io::Result<FileInfo> {
    let size = meta.len();
    let content = if size <= max_content {
        let data = std::fs::read(path)?;
        if data.len() as u64 != size {
            return Err(io::Error::other("file changed while read"));
        }
        Some(Bytes::from(data))
    } else {
        File::open(path)?; // readable? (403 now rather than a failure mid-response)
        None
    };
    let mtime = meta.mtime();
    Ok(FileInfo {
        path: path.to_path_buf(),
        size,
        mtime,
        etag: format!("\"{:x}-{:x}\"", mtime, size),
        last_modified: http_date(mtime),
        content,
    })
}

/// The last second httpdate can render (it panics on years past 9999).
const LAST_DATE: i64 = 253_402_300_799;

/// An HTTP-date for `secs` since the epoch, clamped to 1970..=9999 (file times and `expires`
/// offsets can lie outside).
pub fn http_date(secs: i64) -> String {
    httpdate::fmt_http_date(system_time(secs))
}

/// `secs` since the epoch as a `SystemTime`, clamped to what dates can show.
pub fn system_time(secs: i64) -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(secs.clamp(0, LAST_DATE) as u64)
}

pub fn unix_secs(t: SystemTime) -> i64 {
    t.duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

/// Reads `len` bytes at `offset` of a file that is too large to cache.
pub fn read_chunk(path: &Path, offset: u64, len: usize) -> io::Result<Bytes> {
    let file = File::open(path)?;
    let mut buf = vec![0; len];
    let mut filled = 0;
    while filled < len {
        match file.read_at(&mut buf[filled..], offset + filled as u64)? {
            0 => {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "file shrank while sent",
                ))
            }
            n => filled += n,
        }
    }
    Ok(Bytes::from(buf))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn caches_and_revalidates_by_mtime_and_size() {
        let dir = std::env::temp_dir().join(format!("fs-httpd-files-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("a.txt");
        std::fs::write(&path, b"hello").unwrap();
        let mut cache = FileCache::default();
        let t0 = Instant::now();
        let Lookup::File(a) = cache.lookup(&path, t0, true, Duration::from_secs(1), 1024) else {
            panic!()
        };
        assert_eq!(a.content.as_deref(), Some(&b"hello"[..]));
        assert_eq!(a.etag, format!("\"{:x}-5\"", a.mtime));
        std::fs::write(&path, b"hello, world").unwrap();
        // Within the validity window the cached answer stands; after it, the change shows.
        let Lookup::File(b) = cache.lookup(&path, t0, true, Duration::from_secs(1), 1024) else {
            panic!()
        };
        assert_eq!(b.size, 5);
        let later = t0 + Duration::from_secs(2);
        let Lookup::File(c) = cache.lookup(&path, later, true, Duration::from_secs(1), 1024) else {
            panic!()
        };
        assert_eq!(c.size, 12);
        // Files above the content limit are described but not kept in memory.
        let Lookup::File(big) =
            FileCache::default().lookup(&path, later, true, Duration::from_secs(1), 4)
        else {
            panic!()
        };
        assert_eq!((big.size, big.content.is_none()), (12, true));
        assert!(matches!(
            cache.lookup(&dir, later, true, Duration::from_secs(1), 4),
            Lookup::Dir
        ));
        assert!(matches!(
            cache.lookup(&dir.join("nope"), later, true, Duration::ZERO, 4),
            Lookup::NotFound
        ));
        assert_eq!(&read_chunk(&path, 7, 5).unwrap()[..], b"world");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
