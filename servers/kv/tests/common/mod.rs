//! Test helpers: start the real fs-kv binary (and redis-server for differential tests) on free
//! ports, and a minimal RESP client over a raw socket for byte-exact checks.
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A server process killed (by its PID) when dropped.
pub struct Proc {
    pub child: Child,
    pub addr: SocketAddr,
}

impl Proc {
    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    pub fn url(&self) -> String {
        format!("redis://{}/", self.addr)
    }

    pub fn client(&self) -> redis::Connection {
        let c = redis::Client::open(self.url()).unwrap();
        c.get_connection_with_timeout(Duration::from_secs(5))
            .unwrap()
    }

    pub fn raw(&self) -> Raw {
        Raw::connect(self.addr)
    }

    /// SIGTERM, then wait up to `limit` for the process to exit; true if it did.
    pub fn terminate(&mut self, limit: Duration) -> bool {
        // SAFETY: kill(2) takes two integers and touches no memory of ours; the pid is our own
        // child's, not yet reaped (we wait for it below or in Drop), so it cannot be reused.
        unsafe { libc::kill(self.child.id() as i32, libc::SIGTERM) };
        let end = Instant::now() + limit;
        while Instant::now() < end {
            if let Ok(Some(_)) = self.child.try_wait() {
                return true;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        false
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts fs-kv on a free port with extra flags; waits for its "listening on" line.
pub fn start_kv(extra: &[&str]) -> Proc {
    let mut child = Command::new(env!("CARGO_BIN_EXE_fs-kv"))
        .args(["--port", "0"])
        .args(extra)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn fs-kv");
    let mut err = BufReader::new(child.stderr.take().unwrap());
    let mut line = String::new();
    err.read_line(&mut line).unwrap();
    let addr = line
        .split("listening on ")
        .nth(1)
        .and_then(|r| r.split_whitespace().next())
        .unwrap_or_else(|| panic!("unexpected startup line: {line:?}"))
        .parse()
        .unwrap();
    // Keep draining stderr so the server never blocks on a full pipe.
    std::thread::spawn(move || {
        let mut sink = Vec::new();
        let _ = err.read_to_end(&mut sink);
    });
    Proc { child, addr }
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Starts redis-server if installed (None otherwise).
pub fn start_redis() -> Option<Proc> {
    if !std::path::Path::new("/usr/bin/redis-server").exists() {
        return None;
    }
    let port = free_port();
    let child = Command::new("/usr/bin/redis-server")
        .args([
            "--port",
            &port.to_string(),
            "--save",
            "",
            "--appendonly",
            "no",
            "--bind",
            "127.0.0.1",
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .ok()?;
    let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let end = Instant::now() + Duration::from_secs(5);
    while TcpStream::connect(addr).is_err() {
        assert!(Instant::now() < end, "redis-server did not start");
        std::thread::sleep(Duration::from_millis(20));
    }
    Some(Proc { child, addr })
}

/// A RESP value as read off the wire (RESP2 and RESP3).
#[derive(Debug, Clone, PartialEq)]
pub enum V {
    Simple(String),
    Err(String),
    Int(i64),
    Bulk(Vec<u8>),
    Nil,
    Array(Vec<V>),
    Map(Vec<(V, V)>),
    Set(Vec<V>),
    Push(Vec<V>),
    Double(String),
    Bool(bool),
    Verbatim(String),
}

impl V {
    pub fn bulk(s: &str) -> V {
        V::Bulk(s.as_bytes().to_vec())
    }

    /// Order-insensitive form for replies whose order Redis does not define.
    pub fn sorted(&self) -> V {
        match self {
            V::Array(v) | V::Set(v) => {
                let mut v: Vec<V> = v.clone();
                v.sort_by_key(|x| format!("{x:?}"));
                V::Array(v)
            }
            V::Map(m) => {
                let mut m = m.clone();
                m.sort_by_key(|x| format!("{x:?}"));
                V::Map(m)
            }
            x => x.clone(),
        }
    }
}

pub struct Raw {
    pub r: BufReader<TcpStream>,
    pub w: TcpStream,
}

impl Raw {
    pub fn connect(addr: SocketAddr) -> Raw {
        let s = TcpStream::connect(addr).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        s.set_nodelay(true).unwrap();
        Raw {
            r: BufReader::new(s.try_clone().unwrap()),
            w: s,
        }
    }

    pub fn send_raw(&mut self, b: &[u8]) {
        self.w.write_all(b).unwrap();
    }

    pub fn send(&mut self, args: &[&[u8]]) {
        let mut b = format!("*{}\r\n", args.len()).into_bytes();
        for a in args {
            b.extend_from_slice(format!("${}\r\n", a.len()).as_bytes());
            b.extend_from_slice(a);
            b.extend_from_slice(b"\r\n");
        }
        self.send_raw(&b);
    }

    pub fn cmd(&mut self, line: &str) -> V {
        let args: Vec<&[u8]> = line.split_whitespace().map(|s| s.as_bytes()).collect();
        self.send(&args);
        self.read()
    }

    pub fn read(&mut self) -> V {
        self.try_read().expect("reply")
    }

    pub fn try_read(&mut self) -> std::io::Result<V> {
        let mut line = String::new();
        if self.r.read_line(&mut line)? == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        let line = line.trim_end_matches("\r\n").to_string();
        let (t, rest) = line.split_at(1);
        let n = || rest.parse::<i64>().unwrap_or(-1);
        Ok(match t {
            "+" => V::Simple(rest.into()),
            "-" => V::Err(rest.into()),
            ":" => V::Int(n()),
            "_" => V::Nil,
            "," => V::Double(rest.into()),
            "#" => V::Bool(rest == "t"),
            "$" | "=" if n() < 0 => V::Nil,
            "$" | "=" => {
                let mut b = vec![0; n() as usize + 2];
                self.r.read_exact(&mut b)?;
                b.truncate(n() as usize);
                if t == "=" {
                    V::Verbatim(String::from_utf8_lossy(&b).into_owned())
                } else {
                    V::Bulk(b)
                }
            }
            "*" if n() < 0 => V::Nil,
            "*" | "~" | ">" => {
                let items = (0..n())
                    .map(|_| self.try_read())
                    .collect::<std::io::Result<Vec<_>>>()?;
                match t {
                    "*" => V::Array(items),
                    "~" => V::Set(items),
                    _ => V::Push(items),
                }
            }
            "%" => {
                let mut m = Vec::new();
                for _ in 0..n() {
                    m.push((self.try_read()?, self.try_read()?));
                }
                V::Map(m)
            }
            other => panic!("bad reply type {other:?} in {line:?}"),
        })
    }

    /// True once the server has closed the connection (EOF within the timeout).
    pub fn closed(&mut self) -> bool {
        let mut b = [0u8; 4096];
        loop {
            match self.r.read(&mut b) {
                Ok(0) => return true,
                Ok(_) => continue,
                Err(_) => return false,
            }
        }
    }
}
