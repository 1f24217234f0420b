#!/usr/bin/env bash
# fs-httpd vs nginx, side by side on loopback, one worker each, access log off.
# URLs: /600 (`return 200` with a 600-byte body) and /file4k.bin (a 4 KiB static file).
# Each round drives every server/URL pair with wrk for DURATION seconds, interleaved, and
# reads the server's CPU time (utime+stime from /proc) before and after. Prints requests/s and
# server CPU µs per request per round, then medians and the fs-httpd/nginx ratio.
#
#   loadtest/http.sh [ROUNDS=3] [DURATION=5] [CONNECTIONS=50]
#
# Needs: nginx, wrk, a release build (built here if missing). Stops by itself; cleans up.
set -euo pipefail
ROUNDS=${1:-3}
DURATION=${2:-5}
CONNS=${3:-50}
cd "$(dirname "$0")/.."
ROOT=$PWD
for tool in nginx wrk; do
  command -v "$tool" >/dev/null || { echo "http.sh: $tool is not installed (apt-get install nginx-light wrk)" >&2; exit 1; }
done
cargo build --release -q -p fs-httpd
FS_BIN=$ROOT/target/release/fs-httpd

WORK=$(mktemp -d /tmp/fs-loadtest-http.XXXXXX)
PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
FS_PORT=$(free_port)
NG_PORT=$(free_port)
mkdir -p "$WORK/root"
head -c 4096 /dev/urandom >"$WORK/root/file4k.bin"
BODY=$(python3 -c "print('x' * 600)")

cat >"$WORK/httpd.toml" <<EOF
[runtime]
workers = 1
[http]
access_log = "off"
keepalive_requests = 1000000
[[server]]
listen = ["127.0.0.1:$FS_PORT"]
root = "$WORK/root"
server_tokens = false
[[server.location]]
match = "= /600"
return = "200 $BODY"
EOF

# nginx's best configuration for small files on this machine (see nginx-static reference):
# sendfile off plus open_file_cache.
cat >"$WORK/nginx.conf" <<EOF
user root;
worker_processes 1;
daemon off;
error_log $WORK/nginx-error.log;
pid $WORK/nginx.pid;
events { worker_connections 4096; }
http {
  access_log off;
  sendfile off;
  open_file_cache max=1000;
  default_type text/plain;
  server_tokens off;
  keepalive_requests 1000000;
  server {
    listen 127.0.0.1:$NG_PORT;
    root $WORK/root;
    location = /600 { return 200 "$BODY"; }
  }
}
EOF

"$FS_BIN" -c "$WORK/httpd.toml" 2>"$WORK/fs.err" &
FS_PID=$!
PIDS+=("$FS_PID")
nginx -c "$WORK/nginx.conf" &
NG_MASTER=$!
PIDS+=("$NG_MASTER")
for _ in $(seq 50); do
  curl -sf "http://127.0.0.1:$FS_PORT/600" >/dev/null 2>&1 && curl -sf "http://127.0.0.1:$NG_PORT/600" >/dev/null 2>&1 && break
  sleep 0.1
done
NG_WORKER=$(pgrep -P "$NG_MASTER" | head -1)
[ -n "$NG_WORKER" ] || { echo "http.sh: nginx did not start" >&2; cat "$WORK/nginx-error.log" >&2; exit 1; }

cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
TICK=$(getconf CLK_TCK)
RESULTS=$WORK/results.txt
: >"$RESULTS"

run() { # server pid port url
  local name=$1 pid=$2 port=$3 url=$4 c0 c1 out reqs rps
  c0=$(cpu_ticks "$pid")
  out=$(wrk -t1 -c"$CONNS" -d"${DURATION}s" "http://127.0.0.1:$port$url")
  c1=$(cpu_ticks "$pid")
  reqs=$(awk '/requests in/ {print $1}' <<<"$out")
  rps=$(awk '/Requests\/sec/ {print $2}' <<<"$out")
  if grep -q "Non-2xx" <<<"$out"; then echo "http.sh: $name $url returned errors" >&2; exit 1; fi
  awk -v n="$name" -v u="$url" -v r="$rps" -v q="$reqs" -v c=$((c1 - c0)) -v t="$TICK" \
    'BEGIN { printf "%-8s %-12s %10.0f req/s %8.2f us/req\n", n, u, r, c * 1e6 / t / q }' | tee -a "$RESULTS"
}

echo "# fs-httpd vs nginx: $ROUNDS rounds x ${DURATION}s, wrk -t1 -c$CONNS, 1 worker each"
for round in $(seq "$ROUNDS"); do
  echo "## round $round"
  for url in /600 /file4k.bin; do
    run fs-httpd "$FS_PID" "$FS_PORT" "$url"
    run nginx "$NG_WORKER" "$NG_PORT" "$url"
  done
done

echo "## medians"
python3 - "$RESULTS" <<'EOF'
import statistics, sys
rows = [l.split() for l in open(sys.argv[1])]
data = {}
for r in rows:
    data.setdefault((r[0], r[1]), []).append((float(r[2]), float(r[4])))
for url in ["/600", "/file4k.bin"]:
    fs, ng = data[("fs-httpd", url)], data[("nginx", url)]
    med = lambda xs, i: statistics.median(x[i] for x in xs)
    print(f"{url:12} fs-httpd {med(fs,0):9.0f} req/s {med(fs,1):6.2f} us/req | nginx {med(ng,0):9.0f} req/s "
          f"{med(ng,1):6.2f} us/req | CPU/req ratio fs/nginx {med(fs,1)/med(ng,1):.2f}")
EOF
