#!/usr/bin/env bash
# fs-kv vs redis-server, side by side, with redis-benchmark.
#
#   loadtest/kv.sh [N_P1] [N_P16] [WORKERS]
#
# Starts fs-kv (release build, WORKERS workers, default 1) and redis-server on free loopback
# ports, both confined to CPU 0 (redis-benchmark runs on CPU 1), then for each test of
# set,get,incr,lpush,lpop,sadd,hset,zadd,lrange_100 at -P 1 and -P 16 (50 clients, bounded -n)
# alternates the two servers and reads each server's CPU time (utime+stime of
# /proc/PID/stat) around the run. Prints ops/s, server CPU µs/op and the fs-kv/redis ratio,
# then memory per key for 1M small keys (DEBUG POPULATE) from RSS and used_memory.
set -euo pipefail
cd "$(dirname "$0")/.."

N1=${1:-100000}
N16=${2:-500000}
WORKERS=${3:-1}
# KV_TESTS="get set" limits the tests (loadtest/report.sh uses it).
read -r -a TESTS <<<"${KV_TESTS:-set get incr lpush lpop sadd hset zadd lrange_100}"
KV=target/release/fs-kv
HZ=$(getconf CLK_TCK)

command -v redis-server >/dev/null || { echo "redis-server is not installed" >&2; exit 1; }
command -v redis-benchmark >/dev/null || { echo "redis-benchmark is not installed" >&2; exit 1; }
[ -x "$KV" ] || cargo build --release -p fs-kv

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
rss_kb() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status"; }
used_memory() { redis-cli -p "$1" INFO memory | tr -d '\r' | awk -F: '$1 == "used_memory" {print $2}'; }

CPUS=$(nproc)
SERVER_CPU=0
CLIENT_CPU=$(( CPUS > 1 ? 1 : 0 ))
[ "$WORKERS" -gt 1 ] && SERVER_CPU="0-$(( WORKERS - 1 ))"

KP=$(free_port)
RP=$(free_port)
taskset -c "$SERVER_CPU" "$KV" --port "$KP" --workers "$WORKERS" 2>/dev/null &
KPID=$!
taskset -c 0 redis-server --port "$RP" --bind 127.0.0.1 --save '' --appendonly no \
    --enable-debug-command yes --loglevel warning >/dev/null &
RPID=$!
trap 'kill "$KPID" "$RPID" 2>/dev/null; wait 2>/dev/null' EXIT

for p in "$KP" "$RP"; do
    for _ in $(seq 100); do redis-cli -p "$p" PING >/dev/null 2>&1 && break; sleep 0.05; done
done

# run PID PORT TEST P N -> "ops_per_s cpu_us_per_op"
run() {
    local pid=$1 port=$2 test=$3 p=$4 n=$5 c0 c1 out lines rps
    redis-cli -p "$port" FLUSHALL >/dev/null
    c0=$(cpu_ticks "$pid")
    out=$(taskset -c "$CLIENT_CPU" redis-benchmark -p "$port" -c 50 -n "$n" -P "$p" -t "$test" -q 2>/dev/null \
        | tr '\r' '\n' | grep 'requests per second' || true)
    c1=$(cpu_ticks "$pid")
    # lrange_100 runs an LPUSH pass first: every reported pass counts as N operations.
    lines=$(printf '%s\n' "$out" | grep -c 'requests per second' || true)
    rps=$(printf '%s\n' "$out" | tail -1 | awk '{for (i = 1; i <= NF; i++) if ($i == "requests") print $(i-1)}')
    awk -v rps="$rps" -v t=$((c1 - c0)) -v hz="$HZ" -v ops=$((lines * n)) \
        'BEGIN {printf "%.0f %.3f\n", rps, (ops > 0 ? t * 1e6 / hz / ops : 0)}'
}

echo "fs-kv ($WORKERS worker(s)) on :$KP, redis-server $(redis-server --version | awk '{print $3}') on :$RP"
echo "server CPU $SERVER_CPU, redis-benchmark CPU $CLIENT_CPU, 50 clients"
printf '\n%-11s %3s %12s %10s %12s %10s %7s\n' test P "fs-kv op/s" "fs-kv us" "redis op/s" "redis us" ratio
for p in 1 16; do
    n=$N1
    [ "$p" = 16 ] && n=$N16
    sum_k=0
    sum_r=0
    for t in "${TESTS[@]}"; do
        read -r k_rps k_us < <(run "$KPID" "$KP" "$t" "$p" "$n")
        read -r r_rps r_us < <(run "$RPID" "$RP" "$t" "$p" "$n")
        ratio=$(awk -v a="$k_us" -v b="$r_us" 'BEGIN {printf "%.2f", (b > 0 ? a / b : 0)}')
        printf '%-11s %3s %12s %10s %12s %10s %7s\n' "$t" "$p" "$k_rps" "$k_us" "$r_rps" "$r_us" "$ratio"
        sum_k=$(awk -v a="$sum_k" -v b="$k_us" 'BEGIN {print a + b}')
        sum_r=$(awk -v a="$sum_r" -v b="$r_us" 'BEGIN {print a + b}')
    done
    awk -v a="$sum_k" -v b="$sum_r" -v p="$p" \
        'BEGIN {printf "%-11s %3s %12s %10.3f %12s %10.3f %7.2f\n", "all (sum)", p, "", a, "", b, a / b}'
done

echo
echo "memory per key, 1M keys (DEBUG POPULATE 1000000: key:N -> value:N)"
for s in "fs-kv $KPID $KP" "redis $RPID $RP"; do
    read -r name pid port <<<"$s"
    redis-cli -p "$port" FLUSHALL >/dev/null
    sleep 0.5
    rss0=$(rss_kb "$pid")
    used0=$(used_memory "$port")
    redis-cli -p "$port" DEBUG POPULATE 1000000 >/dev/null
    sleep 0.5
    rss1=$(rss_kb "$pid")
    used1=$(used_memory "$port")
    keys=$(redis-cli -p "$port" DBSIZE)
    awk -v n="$name" -v k="$keys" -v r=$(( (rss1 - rss0) * 1024 )) -v u=$(( used1 - used0 )) \
        'BEGIN {printf "%-6s keys=%d  RSS %.1f B/key  used_memory %.1f B/key\n", n, k, r / k, u / k}'
done
