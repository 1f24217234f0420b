#!/usr/bin/env bash
# fs-httpd on the user-space stack over three devices, same workload: netstack's own TAP
# device, DPDK's net_tap PMD, and DPDK's net_af_packet PMD on a veth pair whose other end is in
# a network namespace. One worker pinned to CPU 0, wrk (-t1) pinned to CPU 1 on the kernel
# side, HTTP keep-alive GETs of a 600-byte `return`. Each round starts each server in turn,
# drives it for DURATION seconds and reads its CPU time (utime+stime, /proc) around the run.
# Prints requests/s and server CPU µs per request per round, then medians and ratios to TAP.
#
#   loadtest/dpdk.sh [ROUNDS=3] [DURATION=5] [CONNECTIONS=32] [IDLE_SLEEP=20us]
#
# Needs root, wrk, curl, ethtool, libdpdk-dev (the fs-httpd release build gets `--features
# dpdk`). Uses 198.18.90-92.0/24; removes its devices and namespace when it ends.
set -euo pipefail
ROUNDS=${1:-3}
DURATION=${2:-5}
CONNS=${3:-32}
IDLE_SLEEP=${4:-20us}
cd "$(dirname "$0")/.."
[ "$(id -u)" = 0 ] || { echo "dpdk.sh: needs root (TAP, net_tap, af_packet)" >&2; exit 1; }
for tool in wrk curl ethtool; do
  command -v "$tool" >/dev/null || { echo "dpdk.sh: $tool is not installed" >&2; exit 1; }
done
cargo build --release -q -p fs-httpd --features dpdk
BIN=$PWD/target/release/fs-httpd

TAG=$$
NS=fsbns$TAG
WORK=$(mktemp -d /tmp/fs-loadtest-dpdk.XXXXXX)
SERVER=
cleanup() {
  [ -n "$SERVER" ] && kill "$SERVER" 2>/dev/null && wait "$SERVER" 2>/dev/null || true
  ip netns del "$NS" 2>/dev/null || true
  ip link del fsbv$TAG 2>/dev/null || true
  rm -rf "$WORK" "/var/run/dpdk/fs-bench-$TAG"
}
trap cleanup EXIT

BODY=$(printf 'x%.0s' $(seq 600))
# The veth pair for af_packet: the host end for DPDK (no address), the other in the namespace.
ip netns add "$NS"
ip link add fsbv$TAG type veth peer name fsbp$TAG netns "$NS"
ip link set fsbv$TAG up
ip -n "$NS" addr add 198.18.92.1/24 dev fsbp$TAG
ip -n "$NS" link set fsbp$TAG up
ip netns exec "$NS" ethtool -K fsbp$TAG tx off >/dev/null

config() { # variant address device-lines
  cat <<EOF
[runtime]
workers = 1
stack = "user"
[netstack]
address = "$2/24"
$3
[http]
access_log = "off"
keepalive_requests = 1000000
[[server]]
listen = ["$2:8080"]
server_tokens = false
return = "200 $BODY"
EOF
}
eal() { # vdev
  echo "eal_args = [\"-l\", \"0\", \"--no-huge\", \"-m\", \"512\", \"--no-pci\", \"--no-telemetry\", \
\"--log-level=warning\", \"--file-prefix=fs-bench-$TAG\", \"--vdev=$1\"]
idle_sleep = \"$IDLE_SLEEP\""
}
config tap 198.18.90.2 "device = \"tap\"
interface = \"fsbt$TAG\"" >"$WORK/tap.toml"
config net_tap 198.18.91.2 "device = \"dpdk\"
[dpdk]
$(eal "net_tap0,iface=fsbd$TAG")" >"$WORK/net_tap.toml"
config af_packet 198.18.92.2 "device = \"dpdk\"
[dpdk]
$(eal "net_af_packet0,iface=fsbv$TAG,qpairs=1")" >"$WORK/af_packet.toml"

cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
TICK=$(getconf CLK_TCK)
RESULTS=$WORK/results.txt
: >"$RESULTS"

run() { # variant address kernel-interface (empty: the namespace is the client side)
  local name=$1 addr=$2 kif=$3 client=() c0 c1 out reqs rps
  taskset -c 0 "$BIN" -c "$WORK/$name.toml" 2>"$WORK/$name.err" &
  SERVER=$!
  if [ -n "$kif" ]; then
    for _ in $(seq 100); do [ -e "/sys/class/net/$kif" ] && break; sleep 0.1; done
    ip addr add "${addr%.2}.1/24" dev "$kif"
    ip link set "$kif" up
  else
    client=(ip netns exec "$NS")
  fi
  for _ in $(seq 100); do
    "${client[@]}" curl -sf -m1 "http://$addr:8080/" >/dev/null 2>&1 && break
    sleep 0.1
  done
  "${client[@]}" taskset -c 1 wrk -t1 -c"$CONNS" -d1s "http://$addr:8080/" >/dev/null # warm-up
  c0=$(cpu_ticks "$SERVER")
  out=$("${client[@]}" taskset -c 1 wrk -t1 -c"$CONNS" -d"${DURATION}s" "http://$addr:8080/")
  c1=$(cpu_ticks "$SERVER")
  kill "$SERVER"; wait "$SERVER" 2>/dev/null || true; SERVER=
  reqs=$(awk '/requests in/ {print $1}' <<<"$out")
  rps=$(awk '/Requests\/sec/ {print $2}' <<<"$out")
  if grep -q "Non-2xx\|Socket errors" <<<"$out"; then echo "dpdk.sh: $name: $out" >&2; exit 1; fi
  awk -v n="$name" -v r="$rps" -v q="$reqs" -v c=$((c1 - c0)) -v t="$TICK" \
    'BEGIN { printf "%-10s %10.0f req/s %8.2f us/req\n", n, r, c * 1e6 / t / q }' | tee -a "$RESULTS"
}

echo "# fs-httpd on TAP vs DPDK net_tap vs DPDK net_af_packet: $ROUNDS rounds x ${DURATION}s,"
echo "# wrk -t1 -c$CONNS on CPU 1, one server worker on CPU 0, DPDK idle_sleep $IDLE_SLEEP"
for round in $(seq "$ROUNDS"); do
  echo "## round $round"
  run tap 198.18.90.2 fsbt$TAG
  run net_tap 198.18.91.2 fsbd$TAG
  run af_packet 198.18.92.2 ""
done

echo "## medians"
python3 - "$RESULTS" <<'EOF'
import statistics, sys
data = {}
for r in (l.split() for l in open(sys.argv[1])):
    data.setdefault(r[0], []).append((float(r[1]), float(r[3])))
med = lambda name, i: statistics.median(x[i] for x in data[name])
for name in ["tap", "net_tap", "af_packet"]:
    print(f"{name:10} {med(name,0):9.0f} req/s {med(name,1):6.2f} us/req | vs TAP: "
          f"{med(name,0)/med('tap',0):.2f}x req/s, {med(name,1)/med('tap',1):.2f}x CPU/req")
EOF
