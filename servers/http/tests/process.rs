//! fs-httpd as a process: `-t`, configuration errors, and nginx's signals.

mod common;

use std::io::{BufReader, Write};
use std::process::Command;
use std::time::Duration;

use common::{read_response, Server, Site};

const BASE: &str = r#"
[runtime]
workers = 2

[http]
access_log = "off"
error_log = "{dir}/error.log"

[[server]]
listen = ["127.0.0.1:0"]
root = "{root}"

[[server.location]]
match = "= /v"
return = "200 one"
"#;

fn check(config: &str) -> (bool, String) {
    let site = Site::new("check");
    let path = site.path("t.toml");
    std::fs::write(
        &path,
        config.replace("{root}", &site.path("root").display().to_string()),
    )
    .unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_fs-httpd"))
        .arg("-t")
        .arg("-c")
        .arg(&path)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stderr).replace(&path.display().to_string(), "FILE");
    (out.status.success(), text)
}

#[test]
fn test_flag_accepts_a_good_config() {
    let (ok, text) = check(BASE);
    assert!(ok, "{text}");
    assert!(
        text.contains("syntax is ok") && text.contains("test is successful"),
        "{text}"
    );
    for name in ["httpd.toml", "httpd-user.toml", "httpd-dpdk.toml"] {
        let shipped = format!("{}/../../conf/{name}", env!("CARGO_MANIFEST_DIR"));
        let out = Command::new(env!("CARGO_BIN_EXE_fs-httpd"))
            .args(["-t", "-c", &shipped])
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stderr);
        if name.contains("dpdk") && !dpdk::ENABLED {
            // Without DPDK built in, the device is refused at its line, saying how to get it.
            assert!(!out.status.success(), "{name}: {text}");
            assert!(text.contains("`device`: \"dpdk\" is not available in this build (rebuild with `--features dpdk`"), "{text}");
        } else {
            assert!(out.status.success(), "the shipped {name}: {text}");
        }
    }
}

#[test]
fn config_errors_name_file_line_and_key() {
    let cases: &[(&str, &str)] = &[
        (
            "[[server]]\nlisten = [\"127.0.0.1:0\"]\nkeepalive_timeout = \"soon\"\n",
            "FILE:3: `keepalive_timeout`: expected a duration",
        ),
        (
            "[[server]]\nlisten = [\"127.0.0.1:0\"]\nlisten_on = 1\n",
            "FILE:3: `listen_on`: unknown field",
        ),
        (
            "[[server]]\nlisten = [\"nowhere\"]\n",
            "FILE:2: `listen`: \"nowhere\": expected ADDRESS:PORT",
        ),
        (
            "[dpdk]\nport = 0\nmbufs_per_queue = 100\n[[server]]\nlisten = [\"127.0.0.1:0\"]\n",
            "FILE:3: `mbufs_per_queue`: 100 is too small",
        ),
        (
            "[[server]]\nlisten = [\"127.0.0.1:0\"]\n\n[[server.location]]\nmatch = \"~ (\"\n",
            "FILE:5: `match`: bad regex",
        ),
        (
            "[[server]]\nlisten = [\"127.0.0.1:0\"]\nreturn = \"abc\"\n",
            "FILE:3: `return`: \"abc\": expected",
        ),
        (
            "[[server]]\nlisten = [\"127.0.0.1:0\"]\nerror_page = [\"404\"]\n",
            "FILE:3: `error_page`",
        ),
        (
            "[runtime]\nworkers = 0\n[[server]]\n",
            "FILE:2: `workers`: must be between 1 and 1024",
        ),
        (
            "[[server]]\nlisten = [\"127.0.0.1:0\"]\nreturn = \"301 https://$hots$request_uri\"\n",
            "FILE:3: `return`: unknown variable \"$hots\"",
        ),
        ("[http]\n", "no [[server]] section"),
        ("[[server]\n", "FILE:1:"),
    ];
    for (config, want) in cases {
        let (ok, text) = check(config);
        assert!(!ok, "accepted: {config}");
        assert!(
            text.contains(want),
            "for {config:?}\nwant {want:?}\ngot {text}"
        );
        assert!(text.contains("test failed"), "{text}");
    }
}

fn get_v(s: &Server) -> String {
    s.get("GET /v HTTP/1.1\r\nHost: a\r\n\r\n").text()
}

#[test]
fn sighup_reloads_without_dropping_connections() {
    let site = Site::new("reload");
    let mut s = Server::start(&site, BASE);
    assert_eq!(get_v(&s), "one");
    let mut held = s.connect();
    held.write_all(b"GET /v HTTP/1.1\r\nHost: a\r\n\r\n")
        .unwrap();
    let mut held = BufReader::new(held);
    assert_eq!(read_response(&mut held, false).unwrap().text(), "one");

    // A broken config is rejected and logged; the old one keeps serving.
    let good = std::fs::read_to_string(&s.config).unwrap();
    std::fs::write(
        &s.config,
        good.replace("return = \"200 one\"", "return = \"two hundred\""),
    )
    .unwrap();
    s.signal(libc::SIGHUP);
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(get_v(&s), "one");
    let log = std::fs::read_to_string(site.path("error.log")).unwrap();
    assert!(
        log.contains("reload rejected") && log.contains("`return`"),
        "{log}"
    );

    // A valid one applies to new connections; the established one is still served.
    std::fs::write(&s.config, good.replace("200 one", "200 two")).unwrap();
    s.signal(libc::SIGHUP);
    let mut seen = String::new();
    for _ in 0..50 {
        seen = get_v(&s);
        if seen == "two" {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(seen, "two");
    held.get_mut()
        .write_all(b"GET /v HTTP/1.1\r\nHost: a\r\n\r\n")
        .unwrap();
    assert_eq!(read_response(&mut held, false).unwrap().status, 200);
    s.signal(libc::SIGTERM);
    assert!(s.wait_exit(Duration::from_secs(5)).is_some());
}

#[test]
fn sigquit_finishes_in_flight_work_then_exits() {
    let site = Site::new("quit");
    let mut s = Server::start(&site, BASE);
    let idle = s.connect();
    let mut busy = s.connect();
    // Half a request in flight when the stop begins.
    busy.write_all(b"GET /v HTTP/1.1\r\nHo").unwrap();
    std::thread::sleep(Duration::from_millis(100));
    s.signal(libc::SIGQUIT);
    std::thread::sleep(Duration::from_millis(200));
    busy.write_all(b"st: a\r\n\r\n").unwrap();
    let mut r = BufReader::new(busy);
    let resp = read_response(&mut r, false).expect("the in-flight request is answered");
    assert_eq!(
        (resp.status, resp.header("Connection")),
        (200, Some("close"))
    );
    drop(idle);
    let status = s
        .wait_exit(Duration::from_secs(10))
        .expect("exits once idle");
    assert!(status.success());
}

#[test]
fn sigterm_stops_at_once() {
    let site = Site::new("term");
    let mut s = Server::start(&site, BASE);
    let _held = s.connect();
    s.signal(libc::SIGTERM);
    let status = s.wait_exit(Duration::from_secs(5)).expect("exits");
    assert!(status.success());
}
