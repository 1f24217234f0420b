#!/usr/bin/env bash
# End-to-end check with real clients: fs-httpd and fs-kv on the user-space stack with 2
# workers over a multi-queue TAP device, driven from the kernel side by wrk and
# redis-benchmark. A report, not a target: the kernel's TAP work and the clients share the
# machine's 2 cores with the servers. Prints requests/s and server CPU µs per request.
#
#   loadtest/tap.sh [DURATION=5] [CONNECTIONS=64] [REQUESTS=200000]
#
# Needs root, wrk, curl, redis-benchmark, redis-cli. Uses 198.18.94-95.0/24; the TAP devices go
# away with the servers.
set -euo pipefail
DURATION=${1:-5}
CONNS=${2:-64}
REQUESTS=${3:-200000}
cd "$(dirname "$0")/.."
[ "$(id -u)" = 0 ] || { echo "tap.sh: needs root (TAP devices)" >&2; exit 1; }
for tool in wrk curl redis-benchmark redis-cli; do
  command -v "$tool" >/dev/null || { echo "tap.sh: $tool is not installed" >&2; exit 1; }
done
cargo build --release -q -p fs-httpd -p fs-kv
WORK=$(mktemp -d /tmp/fs-loadtest-tap.XXXXXX)
SERVER=
cleanup() {
  [ -n "$SERVER" ] && kill "$SERVER" 2>/dev/null && wait "$SERVER" 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT
TAG=$$
BODY=$(printf 'x%.0s' $(seq 600))

cat >"$WORK/httpd.toml" <<EOF
[runtime]
workers = 2
stack = "user"
[netstack]
interface = "fsth$TAG"
address = "198.18.94.2/24"
[http]
access_log = "off"
keepalive_requests = 1000000
[[server]]
listen = ["198.18.94.2:8080"]
return = "200 $BODY"
EOF
cat >"$WORK/kv.toml" <<EOF
[runtime]
workers = 2
stack = "user"
[netstack]
interface = "fstk$TAG"
address = "198.18.95.2/24"
[kv]
port = 6379
EOF

cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
TICK=$(getconf CLK_TCK)
start() { # binary config interface address
  "$1" -c "$2" >/dev/null 2>"$WORK/err" &
  SERVER=$!
  for _ in $(seq 100); do [ -e "/sys/class/net/$3" ] && break; sleep 0.1; done
  ip addr add "${4%.2}.1/24" dev "$3"
  ip link set "$3" up
}
stop() { kill "$SERVER"; wait "$SERVER" 2>/dev/null || true; SERVER=; }
report() { # name requests ticks rate
  awk -v n="$1" -v q="$2" -v c="$3" -v t="$TICK" -v r="$4" \
    'BEGIN { printf "%-28s %10.0f req/s %8.2f us/req server CPU\n", n, r, c * 1e6 / t / q }'
}

echo "# user stack, 2 workers, over multi-queue TAP; clients on the kernel side"
start target/release/fs-httpd "$WORK/httpd.toml" "fsth$TAG" 198.18.94.2
for _ in $(seq 100); do curl -sf -m1 http://198.18.94.2:8080/ >/dev/null && break; sleep 0.1; done
c0=$(cpu_ticks "$SERVER")
out=$(wrk -t2 -c"$CONNS" -d"${DURATION}s" http://198.18.94.2:8080/)
c1=$(cpu_ticks "$SERVER")
stop
if grep -q "Non-2xx\|Socket errors" <<<"$out"; then echo "tap.sh: wrk: $out" >&2; exit 1; fi
report "fs-httpd wrk -c$CONNS /600" "$(awk '/requests in/ {print $1}' <<<"$out")" $((c1 - c0)) \
  "$(awk '/Requests\/sec/ {print $2}' <<<"$out")"

start target/release/fs-kv "$WORK/kv.toml" "fstk$TAG" 198.18.95.2
for _ in $(seq 100); do [ "$(redis-cli -h 198.18.95.2 PING 2>/dev/null)" = PONG ] && break; sleep 0.1; done
for p in 1 16; do
  for t in get set; do
    c0=$(cpu_ticks "$SERVER")
    out=$(redis-benchmark -h 198.18.95.2 -n "$REQUESTS" -c "$CONNS" -P "$p" -t "$t" -q | tr '\r' '\n' | grep "requests per second")
    c1=$(cpu_ticks "$SERVER")
    report "fs-kv ${t^^} -P $p -c $CONNS" "$REQUESTS" $((c1 - c0)) "$(awk '{print $2}' <<<"$out")"
  done
done
stop
