//! fs-httpd's real service on FerroStack's user-space TCP/IP stack over TAP, fetched with curl
//! from the Linux kernel side. Needs root, /dev/net/tun and curl; skips with a message
//! otherwise. The TAP device is deleted by name on drop, even on failure.

use std::net::Ipv4Addr;
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use netstack::ip::IfaceConfig;
use netstack::tcp::TcpConfig;
use netstack::testing::{ip, tap_available, DeviceGuard};
use netstack::user::UserConfig;
use netstack::wire::EthernetAddress;

#[test]
fn curl_fetches_from_httpd_on_the_user_stack() {
    if !tap_available() || Command::new("curl").arg("--version").output().is_err() {
        eprintln!(
            "SKIP curl_fetches_from_httpd_on_the_user_stack: needs root, /dev/net/tun and curl"
        );
        return;
    }
    let pid = std::process::id();
    let net = (pid % 200 + 20) as u8;
    let (kernel, stack) = (
        Ipv4Addr::new(198, 19, net, 1),
        Ipv4Addr::new(198, 19, net, 2),
    );
    let name = format!("fsh{}", pid % 1_000_000);
    let _guard = DeviceGuard(name.clone());

    let dir = std::env::temp_dir().join(format!("fs-httpd-user-{pid}"));
    std::fs::create_dir_all(dir.join("html")).unwrap();
    let big: Vec<u8> = (0..3_000_000u32).map(|i| (i % 251) as u8).collect();
    std::fs::write(dir.join("html/index.html"), b"<h1>user stack</h1>\n").unwrap();
    std::fs::write(dir.join("html/big.bin"), &big).unwrap();
    let conf = dir.join("httpd.toml");
    std::fs::write(
        &conf,
        format!(
            "[runtime]\nworkers = 1\nstack = \"user\"\n[http]\naccess_log = \"off\"\n\
             [[server]]\nlisten = [\"{stack}:8080\"]\nroot = \"{}\"\nindex = [\"index.html\"]\n",
            dir.join("html").display()
        ),
    )
    .unwrap();
    let cfg = Arc::new(fs_httpd::config::load(&conf).expect("config"));
    let user = UserConfig {
        interface: name.clone(),
        iface: IfaceConfig {
            mac: EthernetAddress([2, 0, 0x5e, 0, 0, 2]),
            addr: stack,
            prefix: 24,
            gateway: None,
            mtu: 1500,
        },
        tcp: TcpConfig::default(),
        buffers: 8192,
        pcap: None,
        fault: None,
        idle_sleep: Duration::ZERO,
        worker: Default::default(),
    };
    let listen = cfg.listen.clone();
    let service_cfg = cfg.clone();
    let rt = netstack::user::start(user, &listen, move |_| {
        fs_httpd::service::Httpd::new(service_cfg.clone())
    })
    .expect("start");
    ip(&["link", "set", &name, "up"]);
    ip(&["addr", "add", &format!("{kernel}/24"), "dev", &name]);

    let out = Command::new("curl")
        .args(["-sS", "--max-time", "10", &format!("http://{stack}:8080/")])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "curl: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(out.stdout, b"<h1>user stack</h1>\n");

    let path = dir.join("got.bin");
    let out = Command::new("curl")
        .args(["-sS", "--max-time", "20", "-o"])
        .arg(&path)
        .args([
            "-w",
            "%{http_code} %{size_download} %{speed_download}",
            &format!("http://{stack}:8080/big.bin"),
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "curl: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    eprintln!("curl big.bin: {}", String::from_utf8_lossy(&out.stdout));
    assert_eq!(std::fs::read(&path).unwrap(), big);

    rt.stop();
    rt.join();
    let _ = std::fs::remove_dir_all(&dir);
}
