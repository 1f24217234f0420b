//! A mutation fuzzer against the running process: a few thousand requests derived from valid
//! ones (bytes flipped, tokens inserted, fragments repeated, spans deleted) sent in random
//! pieces to fs-httpd. fs-httpd must stay alive, answer a normal client throughout, close every
//! connection once the client has finished, and log no panic. When nginx is installed, the same
//! requests go to it too, and where both answer, the statuses are compared: a difference
//! outside the deliberate deviations fails the test; the classes are reported.

mod common;

use std::collections::BTreeMap;
use std::io::{BufReader, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use common::nginx::{start_nginx, FS_CONFIG};
use common::{have, read_response, Rng, Server, Site};

const CASES: usize = 3000;

const BASES: &[&str] = &[
    "GET /hello.txt HTTP/1.1\r\nHost: localhost\r\n\r\n",
    "HEAD /digits.txt HTTP/1.1\r\nHost: localhost\r\nRange: bytes=0-3,5-\r\n\r\n",
    "GET /digits.txt HTTP/1.1\r\nHost: localhost\r\nIf-None-Match: \"6553f100-14\"\r\nIf-Modified-Since: Tue, 14 Nov 2023 22:13:20 GMT\r\n\r\n",
    "GET /gz/page.html HTTP/1.0\r\nAccept-Encoding: gzip\r\nConnection: keep-alive\r\n\r\n",
    "GET http://localhost/dir?a=b HTTP/1.1\r\nHost: x\r\n\r\n",
    "POST /600 HTTP/1.1\r\nHost: localhost\r\nContent-Length: 3\r\n\r\nabc",
    "POST /600 HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n",
    "GET /vars/a%20b/../c?x=1 HTTP/1.1\r\nHost: localhost\r\n\r\nGET /list/ HTTP/1.1\r\nHost: localhost\r\n\r\n",
    "GET /r1/digits.txt HTTP/1.1\r\nHost: localhost\r\nRange: bytes=0-1,3-4\r\nIf-Range: \"6553f100-14\"\r\n\r\n",
    "GET /errpage/x HTTP/1.1\r\nHost: localhost\r\nIf-Match: *\r\nIf-Unmodified-Since: Tue, 14 Nov 2023 22:13:20 GMT\r\n\r\n",
];

const TOKENS: &[&[u8]] = &[
    b" ",
    b"  ",
    b"\r\n",
    b"\n",
    b"\r",
    b"\t",
    b":",
    b"/",
    b"..",
    b"%",
    b"%00",
    b"%2e",
    b"?",
    b"#",
    b"\0",
    b"\xff",
    b"\x7f",
    b"HTTP/1.1",
    b"HTTP/2.0",
    b"HTTP/1.12",
    b"Host: x\r\n",
    b"Transfer-Encoding: chunked\r\n",
    b"Content-Length: 5\r\n",
    b"Content-Length: -1\r\n",
    b"Range: bytes=0-1,0-1\r\n",
    b"0\r\n\r\n",
    b"ffffffffffffffffff",
    b"GET / HTTP/1.1\r\n",
    b"Connection: close\r\n",
    b"Expect: 100-continue\r\n",
    b"If-None-Match: *\r\n",
    b"_",
    b"@",
];

fn mutate(rng: &mut Rng, base: &[u8]) -> Vec<u8> {
    let mut v = base.to_vec();
    for _ in 0..1 + rng.below(4) {
        let at = rng.below(v.len() + 1);
        match rng.below(6) {
            0 if at < v.len() => v[at] ^= 1 << rng.below(8),
            1 if at < v.len() => v[at] = rng.next() as u8,
            2 => {
                let token = TOKENS[rng.below(TOKENS.len())];
                v.splice(at..at, token.iter().copied());
            }
            3 if at < v.len() => {
                let end = (at + 1 + rng.below(16)).min(v.len());
                v.drain(at..end);
            }
            4 if at < v.len() => {
                let end = (at + 1 + rng.below(24)).min(v.len());
                let fragment = v[at..end].to_vec();
                for _ in 0..1 + rng.below(8) {
                    v.splice(at..at, fragment.iter().copied());
                }
            }
            _ => {
                let token = TOKENS[rng.below(TOKENS.len())];
                v.extend_from_slice(token);
            }
        }
    }
    v
}

/// What a server did with one request: the status of its first final response (None: no
/// response), whether it closed within the time allowed after the client finished, and when.
struct Outcome {
    status: Option<u16>,
    closed: bool,
    after: Duration,
}

/// Sends `data` in pieces, half-closes, and reads until the server closes (or `limit`).
fn send(addr: SocketAddr, data: &[u8], cuts: &[usize], limit: Duration) -> Outcome {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_nodelay(true).unwrap();
    let mut at = 0;
    for &cut in cuts {
        let cut = cut.clamp(at, data.len());
        if s.write_all(&data[at..cut]).is_err() {
            break;
        }
        at = cut;
    }
    let _ = s.write_all(&data[at..]);
    let _ = s.shutdown(Shutdown::Write);
    s.set_read_timeout(Some(limit)).unwrap();
    let finished = Instant::now();
    let mut out = Vec::new();
    let closed = loop {
        let mut buf = [0u8; 16384];
        match s.read(&mut buf) {
            Ok(0) => break true,
            Ok(n) => out.extend_from_slice(&buf[..n]),
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                break false
            }
            Err(_) => break true, // reset
        }
    };
    let mut rest = &out[..];
    let status = loop {
        let Some(code) = rest
            .strip_prefix(b"HTTP/1.1 ")
            .and_then(|r| std::str::from_utf8(r.get(..3)?).ok()?.parse::<u16>().ok())
        else {
            break None;
        };
        if code != 100 {
            break Some(code);
        }
        rest = &rest[rest.len().min(25)..];
    };
    Outcome {
        status,
        closed,
        after: finished.elapsed(),
    }
}

#[test]
fn mutated_requests_never_crash_or_freeze() {
    let site = Site::new("mutation");
    // Short timeouts: every connection must end within them even when a FIN goes unnoticed.
    let config = FS_CONFIG.replace(
        "[http]\n",
        "[http]\nclient_header_timeout = \"1s\"\nclient_body_timeout = \"1s\"\nkeepalive_timeout = \"1s\"\n",
    );
    let mut fs = Server::start(&site, &config);
    let nginx = have("nginx").then(|| start_nginx(&site));
    if nginx.is_none() {
        eprintln!("nginx is not installed: fs-httpd alone, no status comparison");
    }
    let ng_addr = nginx.as_ref().map(|(_, a)| *a);
    let fs_addr = fs.addr;
    let started = Instant::now();
    let results: Vec<(Vec<u8>, Outcome, Option<Outcome>)> = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..8u64)
            .map(|w| {
                scope.spawn(move || {
                    let mut rng = Rng(0x9e37_79b9_7f4a_7c15 ^ ((w + 1) * 0x1000_0001));
                    let mut out = Vec::new();
                    for i in 0..CASES / 8 {
                        let base = BASES[rng.below(BASES.len())].as_bytes();
                        let data = mutate(&mut rng, base);
                        let cuts: Vec<usize> = (0..rng.below(4))
                            .map(|_| rng.below(data.len() + 1))
                            .collect();
                        let mut cuts = cuts;
                        cuts.sort_unstable();
                        let ours = send(fs_addr, &data, &cuts, Duration::from_secs(3));
                        let theirs = ng_addr.map(|a| send(a, &data, &cuts, Duration::from_secs(3)));
                        out.push((data, ours, theirs));
                        // A normal client is served throughout (two requests on one connection).
                        if i % 25 == 0 {
                            let mut probe = BufReader::new(TcpStream::connect(fs_addr).unwrap());
                            let s = probe.get_mut();
                            s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
                            for _ in 0..2 {
                                let get = b"GET /600 HTTP/1.1\r\nHost: a\r\n\r\n";
                                probe.get_mut().write_all(get).unwrap();
                                let r = read_response(&mut probe, false).expect("an answer");
                                assert_eq!(r.status, 200);
                            }
                        }
                    }
                    out
                })
            })
            .collect();
        workers
            .into_iter()
            .flat_map(|w| w.join().unwrap())
            .collect()
    });
    let elapsed = started.elapsed();
    assert!(fs.child.try_wait().unwrap().is_none(), "fs-httpd exited");
    assert_eq!(fs.get("GET /600 HTTP/1.1\r\nHost: a\r\n\r\n").status, 200);
    let hung: Vec<String> = results
        .iter()
        .filter(|(_, o, _)| !o.closed)
        .map(|(d, o, _)| format!("{:?} {:?}", o.status, String::from_utf8_lossy(d)))
        .collect();
    assert!(
        hung.is_empty(),
        "fs-httpd kept {} connections open after the client finished:\n{}",
        hung.len(),
        hung[..hung.len().min(12)].join("\n")
    );
    let log = std::fs::read_to_string(site.path("fs-error.log")).unwrap_or_default();
    assert!(!log.contains("panicked"), "a request panicked:\n{log}");
    let answered = results
        .iter()
        .filter(|(_, o, _)| o.status.is_some())
        .count();
    // Closed only by fs-httpd's own 1 s timer: the client's FIN was not noticed (the kernel
    // transport once missed a FIN that came with the last data; docs/DESIGN.md, fs-httpd).
    let by_timer = results
        .iter()
        .filter(|(_, o, _)| o.after >= Duration::from_millis(900))
        .count();
    println!(
        "mutation: {} requests in {elapsed:.1?}, {answered} answered by fs-httpd, all \
         connections closed ({by_timer} only by a timeout after the client's FIN), no panic",
        results.len()
    );
    if nginx.is_none() {
        return;
    }
    // Where both answered: statuses by class.
    let mut classes: BTreeMap<(u16, u16), (usize, String, bool)> = BTreeMap::new();
    let (mut both, mut same) = (0, 0);
    for (data, ours, theirs) in &results {
        let (Some(a), Some(b)) = (ours.status, theirs.as_ref().and_then(|t| t.status)) else {
            continue;
        };
        both += 1;
        if a == b {
            same += 1;
            continue;
        }
        let deliberate = deliberate(data, a, b);
        let e = classes
            .entry((a, b))
            .or_insert_with(|| (0, String::from_utf8_lossy(data).into_owned(), deliberate));
        e.0 += 1;
        if e.2 && !deliberate {
            // Show an unexplained case rather than an explained one.
            e.1 = String::from_utf8_lossy(data).into_owned();
        }
        e.2 &= deliberate;
    }
    let only = |ours: bool| {
        results
            .iter()
            .filter(|(_, o, t)| {
                let t = t.as_ref().and_then(|t| t.status).is_some();
                o.status.is_some() == ours && t != ours
            })
            .count()
    };
    println!(
        "mutation vs nginx: {both} answered by both, {same} with the same status; answered only \
         by fs-httpd {} (HTTP/0.9: nginx answers without a status line), only by nginx {} (a \
         chunked body read whole first)",
        only(true),
        only(false)
    );
    let mut unexplained = 0;
    for ((a, b), (n, example, deliberate)) in &classes {
        let tag = if *deliberate {
            "deliberate"
        } else {
            "MISMATCH"
        };
        println!("  {tag}: fs-httpd {a} / nginx {b}: {n}x, e.g. {example:?}");
        if !deliberate {
            unexplained += n;
        }
    }
    assert_eq!(unexplained, 0, "statuses differ from nginx");
}

/// The deliberate deviations a mutated request can run into (see nginx_diff.rs DEVIATIONS).
fn deliberate(data: &[u8], ours: u16, theirs: u16) -> bool {
    let text = String::from_utf8_lossy(data);
    let chunked = text.contains("Transfer-Encoding: chunked");
    // A chunked body whose framing breaks (a bare LF, which nginx accepts, or anything that
    // reaches nginx after it has answered): 400 here, nginx answers before reading it whole.
    let bad_framing = chunked && ours == 400 && theirs < 300;
    // `chunked` listed with another coding: 400 (RFC 9112 §6.3) here, 501 in nginx.
    let te_list = ours == 400 && theirs == 501 && text.contains("chunked");
    bad_framing || te_list
}
