//! Test harness: a temporary site, the real fs-httpd binary on an ephemeral port, raw HTTP
//! exchanges and a small response parser (Content-Length, chunked, or close-delimited).
#![allow(dead_code)]

pub mod nginx;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub struct Site {
    pub dir: PathBuf,
}

impl Site {
    /// A fresh document root with a few files (mtimes fixed so ETags are stable).
    pub fn new(name: &str) -> Site {
        let dir = std::env::temp_dir().join(format!("fs-httpd-test-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("root/dir/sub")).unwrap();
        std::fs::create_dir_all(dir.join("root/noindex")).unwrap();
        std::fs::create_dir_all(dir.join("root/static")).unwrap();
        std::fs::create_dir_all(dir.join("alias-target")).unwrap();
        let site = Site { dir };
        site.write("root/index.html", b"<h1>home</h1>\n");
        site.write("root/hello.txt", b"hello, world\n");
        site.write("root/dir/index.html", b"dir index\n");
        site.write("root/dir/sub/a.css", b"body{}\n");
        site.write("root/noindex/file.txt", b"0123456789");
        site.write("root/digits.txt", b"0123456789abcdefghij");
        site.write("root/404.html", b"custom not found\n");
        site.write("root/static/app.js", b"console.log(1);\n");
        site.write("alias-target/x.txt", b"from alias\n");
        let big: Vec<u8> = (0..3_000_000u32).map(|i| (i % 251) as u8).collect();
        site.write("root/big.bin", &big);
        site.write("root/page.html", b"<p>plain page</p>\n");
        site.write("root/empty.txt", b"");
        site.write("root/one.txt", b"x");
        site.write("root/page.html.gz", &gzip_of(b"<p>plain page</p>\n"));
        site
    }

    pub fn write(&self, rel: &str, data: &[u8]) {
        let p = self.dir.join(rel);
        std::fs::write(&p, data).unwrap();
        set_mtime(&p, 1_700_000_000);
    }

    pub fn path(&self, rel: &str) -> PathBuf {
        self.dir.join(rel)
    }
}

impl Drop for Site {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

pub fn set_mtime(p: &Path, secs: i64) {
    let f = std::fs::File::options().write(true).open(p).unwrap();
    let t = std::time::UNIX_EPOCH + Duration::from_secs(secs as u64);
    f.set_times(std::fs::FileTimes::new().set_modified(t).set_accessed(t))
        .unwrap();
}

/// A gzip member of `data` with stored (uncompressed) deflate blocks: valid gzip without a
/// compression library.
pub fn gzip_of(data: &[u8]) -> Vec<u8> {
    let mut out = vec![0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3];
    out.push(1); // final stored block
    out.extend_from_slice(&(data.len() as u16).to_le_bytes());
    out.extend_from_slice(&(!(data.len() as u16)).to_le_bytes());
    out.extend_from_slice(data);
    out.extend_from_slice(&crc32(data).to_le_bytes());
    out.extend_from_slice(&(data.len() as u32).to_le_bytes());
    out
}

fn crc32(data: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &b in data {
        crc ^= b as u32;
        for _ in 0..8 {
            crc = if crc & 1 != 0 {
                (crc >> 1) ^ 0xedb8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

/// A running fs-httpd, killed on drop.
pub struct Server {
    pub child: Child,
    pub addr: SocketAddr,
    pub config: PathBuf,
    stderr: Option<BufReader<std::process::ChildStderr>>,
}

impl Server {
    /// Writes `config` (with `{root}` and `{dir}` substituted) and starts the binary on it.
    pub fn start(site: &Site, config: &str) -> Server {
        let text = config
            .replace("{root}", &site.path("root").display().to_string())
            .replace("{dir}", &site.dir.display().to_string());
        let path = site.dir.join("httpd.toml");
        std::fs::write(&path, text).unwrap();
        Server::start_file(&path)
    }

    pub fn start_file(path: &Path) -> Server {
        Server::start_file_env(path, &[])
    }

    /// Like [`Server::start`], with extra environment variables for the process.
    pub fn start_env(site: &Site, config: &str, env: &[(&str, &str)]) -> Server {
        let text = config
            .replace("{root}", &site.path("root").display().to_string())
            .replace("{dir}", &site.dir.display().to_string());
        let path = site.dir.join("httpd.toml");
        std::fs::write(&path, text).unwrap();
        Server::start_file_env(&path, env)
    }

    pub fn start_file_env(path: &Path, env: &[(&str, &str)]) -> Server {
        let mut child = Command::new(env!("CARGO_BIN_EXE_fs-httpd"))
            .arg("-c")
            .arg(path)
            .envs(env.iter().copied())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn fs-httpd");
        let mut stderr = BufReader::new(child.stderr.take().unwrap());
        let mut line = String::new();
        let addr = loop {
            line.clear();
            if stderr.read_line(&mut line).unwrap() == 0 {
                panic!("fs-httpd exited before listening: {:?}", child.wait());
            }
            if let Some(rest) = line.strip_prefix("fs-httpd: listening on ") {
                break rest.split_whitespace().next().unwrap().parse().unwrap();
            }
        };
        Server {
            child,
            addr,
            config: path.to_path_buf(),
            stderr: Some(stderr),
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    pub fn connect(&self) -> TcpStream {
        let s = TcpStream::connect(self.addr).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        s
    }

    pub fn signal(&self, sig: i32) {
        // SAFETY: sending a signal to our own child process.
        unsafe { libc::kill(self.child.id() as i32, sig) };
    }

    /// Waits for exit; returns what the process wrote to stderr after its start line.
    pub fn wait_exit(&mut self, limit: Duration) -> Option<std::process::ExitStatus> {
        let deadline = Instant::now() + limit;
        while Instant::now() < deadline {
            if let Some(status) = self.child.try_wait().unwrap() {
                return Some(status);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        None
    }

    pub fn stderr_rest(&mut self) -> String {
        let mut s = String::new();
        if let Some(mut r) = self.stderr.take() {
            let _ = r.read_to_string(&mut s);
        }
        s
    }

    /// One request on a fresh connection.
    pub fn get(&self, raw: &str) -> Response {
        let mut s = self.connect();
        s.write_all(raw.as_bytes()).unwrap();
        read_response(&mut BufReader::new(s), raw.starts_with("HEAD")).expect("a response")
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[derive(Debug, Clone)]
pub struct Response {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Response {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// Reads one response; `None` if the connection closed before a status line.
pub fn read_response<R: Read>(r: &mut BufReader<R>, head_request: bool) -> Option<Response> {
    let mut line = String::new();
    loop {
        line.clear();
        if r.read_line(&mut line).ok()? == 0 {
            return None;
        }
        if !line.trim().is_empty() {
            break;
        }
    }
    let status: u16 = line.split_whitespace().nth(1)?.parse().ok()?;
    let mut headers = Vec::new();
    loop {
        line.clear();
        r.read_line(&mut line).ok()?;
        let l = line.trim_end();
        if l.is_empty() {
            break;
        }
        let (n, v) = l.split_once(':')?;
        headers.push((n.trim().to_string(), v.trim().to_string()));
    }
    let mut resp = Response {
        status,
        headers,
        body: Vec::new(),
    };
    if status == 100 {
        return read_response(r, head_request);
    }
    if head_request || status == 304 || status == 204 {
        return Some(resp);
    }
    if resp
        .header("Transfer-Encoding")
        .is_some_and(|t| t.eq_ignore_ascii_case("chunked"))
    {
        loop {
            line.clear();
            r.read_line(&mut line).ok()?;
            let size = usize::from_str_radix(line.trim().split(';').next()?, 16).ok()?;
            if size == 0 {
                line.clear();
                r.read_line(&mut line).ok()?;
                break;
            }
            let mut chunk = vec![0; size + 2];
            r.read_exact(&mut chunk).ok()?;
            resp.body.extend_from_slice(&chunk[..size]);
        }
    } else if let Some(len) = resp.header("Content-Length") {
        let mut body = vec![0; len.parse().ok()?];
        r.read_exact(&mut body).ok()?;
        resp.body = body;
    } else {
        r.read_to_end(&mut resp.body).ok()?;
    }
    Some(resp)
}

/// Sends raw bytes and collects every response until the server closes or goes quiet.
pub fn exchange(addr: SocketAddr, raw: &[u8], head_requests: bool) -> (Vec<Response>, bool) {
    exchange_pipeline(addr, raw, &[head_requests], head_requests)
}

/// Like [`exchange`] for a pipeline: `heads[i]` says whether response `i` answers a HEAD
/// (`rest` for the responses after the list).
pub fn exchange_pipeline(
    addr: SocketAddr,
    raw: &[u8],
    heads: &[bool],
    rest: bool,
) -> (Vec<Response>, bool) {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_millis(1500)))
        .unwrap();
    s.write_all(raw).unwrap();
    let mut r = BufReader::new(s);
    let mut out = Vec::new();
    while let Some(resp) = read_response(&mut r, heads.get(out.len()).copied().unwrap_or(rest)) {
        out.push(resp);
    }
    // The loop ends at EOF (closed) or at the read timeout (still open).
    r.get_mut()
        .set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    let mut probe = [0u8; 1];
    let closed = matches!(r.get_mut().read(&mut probe), Ok(0));
    (out, closed)
}

/// A small deterministic generator (xorshift64) for generated and mutated requests.
pub struct Rng(pub u64);

impl Rng {
    pub fn next(&mut self) -> usize {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 >> 11) as usize
    }

    pub fn below(&mut self, n: usize) -> usize {
        self.next() % n.max(1)
    }

    pub fn pick<'a, T: ?Sized>(&mut self, from: &[&'a T]) -> &'a T {
        from[self.below(from.len())]
    }
}

pub fn have(tool: &str) -> bool {
    Command::new("sh")
        .arg("-c")
        .arg(format!("command -v {tool}"))
        .output()
        .is_ok_and(|o| o.status.success())
}
