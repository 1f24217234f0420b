//! nginx, the behavioural oracle, next to fs-httpd: two equivalent configurations over the
//! same document root, the nginx process, and the summary of a response that is compared
//! (status, the headers clients depend on, a hash of 2xx bodies; volatile parts normalised).

use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};

use super::{Response, Site};

pub const COMPARED: &[&str] = &[
    "Content-Length",
    "Content-Type",
    "ETag",
    "Last-Modified",
    "Content-Range",
    "Location",
    "Accept-Ranges",
    "Content-Encoding",
    "Vary",
    "Transfer-Encoding",
    "Expires",
    "Cache-Control",
];

pub const FS_CONFIG: &str = r#"
[runtime]
workers = 1
[http]
access_log = "off"
error_log = "{dir}/fs-error.log"
mime_types = "/etc/nginx/mime.types"
server_tokens = false
client_max_body_size = "1k"

[[server]]
listen = ["127.0.0.1:0"]
server_name = ["localhost"]
root = "{root}"
error_page = ["404 /404.html"]

[[server.location]]
match = "= /600"
return = "200 six hundred"
[[server.location]]
match = "^~ /static/"
expires = "1h"
[[server.location]]
match = "~ \\.js$"
return = "200 regex-js"
[[server.location]]
match = "~* \\.CSS$"
[[server.location]]
match = "/alias/"
alias = "{dir}/alias-target/"
[[server.location]]
match = "/try/"
try_files = ["$uri", "/hello.txt"]
[[server.location]]
match = "/try404/"
try_files = ["$uri", "=404"]
[[server.location]]
match = "/gz/"
alias = "{root}/"
gzip_static = true
gzip_vary = true
[[server.location]]
match = "/redirect"
return = "301 /hello.txt"
[[server.location]]
match = "/external"
return = "https://example.org/x"
[[server.location]]
match = "/gone"
return = "410"
[[server.location]]
match = "/vars"
return = "200 $request_method $uri|$args|$is_args|$request_uri|$host|$scheme"
[[server.location]]
match = "/https"
return = "301 https://$host$request_uri"
[[server.location]]
match = "/list/"
alias = "{root}/dir/"
autoindex = true
[[server.location]]
match = "/errpage/"
error_page = ["404 =200 /hello.txt"]
[[server.location]]
match = "/r1/"
alias = "{root}/"
max_ranges = 1
"#;

pub const NGINX_CONFIG: &str = r#"
user root;
daemon off;
master_process off;
worker_processes 1;
error_log {dir}/nginx-error.log;
pid {dir}/nginx.pid;
events { worker_connections 256; }
http {
    include /etc/nginx/mime.types;
    default_type text/plain;
    access_log off;
    server_tokens off;
    client_max_body_size 1k;
    server {
        listen 127.0.0.1:{port};
        server_name localhost;
        root {root};
        error_page 404 /404.html;
        location = /600 { return 200 "six hundred"; }
        location ^~ /static/ { expires 1h; }
        location ~ \.js$ { return 200 "regex-js"; }
        location ~* \.CSS$ { }
        location /alias/ { alias {dir}/alias-target/; }
        location /try/ { try_files $uri /hello.txt; }
        location /try404/ { try_files $uri =404; }
        location /gz/ { alias {root}/; gzip_static on; gzip_vary on; }
        location /redirect { return 301 /hello.txt; }
        location /external { return https://example.org/x; }
        location /gone { return 410; }
        location /vars { return 200 "$request_method $uri|$args|$is_args|$request_uri|$host|$scheme"; }
        location /https { return 301 https://$host$request_uri; }
        location /list/ { alias {root}/dir/; autoindex on; }
        location /errpage/ { error_page 404 =200 /hello.txt; }
        location /r1/ { alias {root}/; max_ranges 1; }
    }
}
"#;

pub struct Nginx(Child);

impl Drop for Nginx {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

pub fn start_nginx(site: &Site) -> (Nginx, std::net::SocketAddr) {
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let conf = NGINX_CONFIG
        .replace("{root}", &site.path("root").display().to_string())
        .replace("{dir}", &site.dir.display().to_string())
        .replace("{port}", &port.to_string());
    let path = site.path("nginx.conf");
    std::fs::write(&path, conf).unwrap();
    let child = Command::new("nginx")
        .arg("-c")
        .arg(&path)
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let addr: std::net::SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while std::net::TcpStream::connect(addr).is_err() {
        assert!(
            Instant::now() < deadline,
            "nginx did not start: {}",
            std::fs::read_to_string(site.path("nginx-error.log")).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    (Nginx(child), addr)
}

/// What is compared of a response, with volatile parts normalised.
pub fn summary(r: &Response, port: u16) -> String {
    let mut out = format!("{}", r.status);
    let boundary = r
        .header("Content-Type")
        .and_then(|t| t.split("boundary=").nth(1))
        .map(str::to_string);
    for name in COMPARED {
        let Some(mut v) = r.header(name).map(str::to_string) else {
            continue;
        };
        if *name == "Location" {
            v = v.replace(&format!(":{port}"), ":PORT");
        }
        if let Some(b) = &boundary {
            v = v.replace(b, "BOUNDARY");
        }
        if *name == "Expires" {
            v = "present".into();
        }
        // Error bodies name the server; only their status is compared.
        if *name == "Content-Length" && r.status >= 300 {
            continue;
        }
        out.push_str(&format!("\n{name}: {v}"));
    }
    if r.status < 300 {
        let mut body = r.body.clone();
        if let Some(b) = &boundary {
            body = String::from_utf8_lossy(&body)
                .replace(b, "BOUNDARY")
                .into_bytes();
        }
        out.push_str(&format!("\nbody sha256 {:x}", Sha256::digest(&body)));
    }
    out
}
