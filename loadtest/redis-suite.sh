#!/usr/bin/env bash
# Redis's own test suite (external mode) against fs-kv or redis-server, one fresh server per unit.
#
#   loadtest/redis-suite.sh [--server fs-kv|redis] [--suite DIR] [--results DIR]
#                           [--workers N|auto] [--unit-limit SECONDS] [--mem-limit MB] [UNIT...]
#
# DIR is an extracted Redis test suite (runtest, tests/, src/commands, utils of a Redis release;
# default $REDIS_SUITE, else /work/redis-7.0.15). It runs unmodified. UNITs are names under
# tests/unit without .tcl (type/string, keyspace, ...); default: the core units below. For each
# unit the script starts a fresh server on a free loopback port, runs
#
#   ./runtest --host 127.0.0.1 --port P --tags "$TAGS" --ignore-encoding --ignore-digest \
#             --timeout 120 --single unit/UNIT
#
# from DIR, saves the log as RESULTS/UNIT.log (with RESULTS/UNIT.timed: each line prefixed by
# the seconds since the unit started) and the server's output as RESULTS/UNIT.server.log, stops
# the server by PID and prints one line per unit: tests passed, failed, seconds, and how the unit
# ended: "done", "ABORTED" (the suite stops a unit at the first runtime error outside an
# assertion, e.g. an unknown command; the error follows), "TIMEOUT" (120 s without progress;
# the test in progress follows) or "KILLED" (the unit exceeded --unit-limit, default 1200 s);
# "server died" or "server no longer answers PING" is added when the server did not survive.
# Tests after an abort or timeout are neither passed nor failed: compare with --server redis.
#
# --server fs-kv (default) builds fs-kv (release) and runs it with --workers auto (one worker
# per CPU; fs-kv's own default is one). --server redis runs the installed redis-server with the
# flags Redis's own external-server CI uses (no persistence, DEBUG/MODULE/protected configs
# enabled), which shows what "passes against redis-server under these flags" means. Some tests
# call src/redis-cli and src/redis-benchmark of DIR: if missing, they are linked to the
# installed binaries. A random --baseport (the suite's own control port) lets runs coexist.
# The server's address space is capped (--mem-limit, default 4096 MB, 0 = none) so that a reply
# the server cannot bound (SRANDMEMBER key -9223372036854775808) ends in a failed allocation,
# not in the kernel's OOM killer choosing among every process on the machine.
# RUNTEST_ARGS="--durable" (or "--only NAME", "--skipfile FILE") is appended to the runtest line,
# for analysis: --durable turns aborts into failures and runs on; the published table uses none.
# Relative DIR and RESULTS are taken from the current directory.
set -euo pipefail
HERE=$PWD
cd "$(dirname "$0")/.."
ROOT=$PWD

CORE=(type/string type/incr keyspace expire protocol quit info-command type/list type/hash
    type/set type/zset scan multi pubsub sort bitops)
TAGS="-needs:debug -needs:repl -needs:save -needs:config-maxmemory -needs:config-resetstat -needs:pfdebug -needs:reset"

SERVER=fs-kv
SUITE=${REDIS_SUITE:-/work/redis-7.0.15}
RESULTS=
WORKERS=auto
UNIT_LIMIT=1200
MEM_LIMIT=4096
UNITS=()
usage() { sed -n '2,35p' "$0" | sed 's/^# \{0,1\}//'; exit "${1:-0}"; }
while [ $# -gt 0 ]; do
    case $1 in
        --server) SERVER=$2; shift 2 ;;
        --suite) SUITE=$2; shift 2 ;;
        --results) RESULTS=$2; shift 2 ;;
        --workers) WORKERS=$2; shift 2 ;;
        --unit-limit) UNIT_LIMIT=$2; shift 2 ;;
        --mem-limit) MEM_LIMIT=$2; shift 2 ;;
        -h | --help) usage ;;
        -*) echo "unknown option $1" >&2; usage 2 >&2 ;;
        *) UNITS+=("${1#unit/}"); shift ;;
    esac
done
[ ${#UNITS[@]} -gt 0 ] || UNITS=("${CORE[@]}")
abs() { case $1 in /*) echo "$1" ;; *) echo "$HERE/$1" ;; esac; }
SUITE=$(abs "$SUITE")
case $SERVER in
    fs-kv | redis) ;;
    *) echo "--server: fs-kv or redis, not '$SERVER'" >&2; exit 2 ;;
esac
[ -x "$SUITE/runtest" ] && [ -d "$SUITE/tests/unit" ] ||
    { echo "no Redis test suite at '$SUITE' (runtest, tests/unit); give --suite DIR" >&2; exit 2; }
SUITE=$(cd "$SUITE" && pwd)
for tool in tclsh redis-cli redis-benchmark python3; do
    command -v "$tool" >/dev/null || { echo "$tool is not installed" >&2; exit 1; }
done
RESULTS=$(abs "${RESULTS:-$ROOT/target/redis-suite/$SERVER-$(date +%Y%m%d-%H%M%S)}")
mkdir -p "$RESULTS"
RESULTS=$(cd "$RESULTS" && pwd)

if [ "$SERVER" = fs-kv ]; then
    # One cargo build at a time on shared machines (a no-op lock where nobody else uses it).
    if command -v flock >/dev/null; then
        flock /tmp/cargo.lock cargo build --release -p fs-kv
    else
        cargo build --release -p fs-kv
    fi
    BIN=$ROOT/target/release/fs-kv
    VERSION="fs-kv $(git describe --always --dirty 2>/dev/null || echo '?'), --workers $WORKERS"
else
    command -v redis-server >/dev/null || { echo "redis-server is not installed" >&2; exit 1; }
    BIN=$(command -v redis-server)
    VERSION="redis-server $("$BIN" --version | awk '{print $3}' | cut -d= -f2)"
fi

mkdir -p "$SUITE/src"
for tool in redis-cli redis-benchmark; do
    [ -e "$SUITE/src/$tool" ] || ln -s "$(command -v "$tool")" "$SUITE/src/$tool"
done

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

SPID=
RPID=
# alive PID: running (a crashed child stays a zombie until waited for).
alive() {
    local state
    state=$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null || true)
    [ -n "$state" ] && [ "$state" != Z ]
}
# stop PID (a child of this script): TERM, up to 5 s, then KILL.
stop() {
    local pid=$1
    [ -n "$pid" ] || return 0
    if alive "$pid"; then
        kill "$pid" 2>/dev/null || true
        for _ in $(seq 50); do alive "$pid" || break; sleep 0.1; done
        alive "$pid" && kill -9 "$pid" 2>/dev/null
    fi
    wait "$pid" 2>/dev/null || true
}
# The runtest process group (timeout leads one; the suite's test client is in it). Only
# signalled while it has members, so a reaped and reused PID is never hit.
stop_suite() {
    [ -n "$RPID" ] || return 0
    if pgrep -g "$RPID" >/dev/null; then
        kill -- "-$RPID" 2>/dev/null || true
        for _ in $(seq 20); do pgrep -g "$RPID" >/dev/null || break; sleep 0.1; done
        kill -9 -- "-$RPID" 2>/dev/null || true
    fi
    wait "$RPID" 2>/dev/null || true
    RPID=
}
cleanup() {
    stop_suite
    stop "$SPID"
    [ -n "${DATA:-}" ] && rm -rf "$DATA"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

start_server() {
    local port=$1 log=$2 cap=unlimited
    [ "$MEM_LIMIT" -gt 0 ] && cap=$((MEM_LIMIT * 1024))
    if [ "$SERVER" = fs-kv ]; then
        (ulimit -v "$cap" && exec "$BIN" --port "$port" --workers "$WORKERS") >"$log" 2>&1 &
    else
        DATA=$(mktemp -d)
        (ulimit -v "$cap" && exec "$BIN" --port "$port" --bind 127.0.0.1 --dir "$DATA" \
            --save '' --appendonly no --enable-protected-configs yes \
            --enable-debug-command yes --enable-module-command yes --daemonize no) >"$log" 2>&1 &
    fi
    SPID=$!
    for _ in $(seq 100); do
        redis-cli -p "$port" PING 2>/dev/null | grep -q PONG && return 0
        alive "$SPID" || break
        sleep 0.05
    done
    echo "server did not start on port $port, see $log" >&2
    return 1
}

# stamp LOG TIMED: copy stdin to LOG, and to TIMED with each line prefixed by the seconds since
# the unit started (the suite's [ok] lines carry each passing test's milliseconds; this also
# times failures and the gaps between tests).
stamp() {
    local t0=${EPOCHREALTIME/./} line d
    while IFS= read -r line || [ -n "$line" ]; do
        d=$((${EPOCHREALTIME/./} - t0))
        printf '%s\n' "$line" >&3
        printf '%4d.%03d %s\n' $((d / 1000000)) $((d / 1000 % 1000)) "$line" >&4
    done 3>"$1" 4>"$2"
}

echo "$VERSION on 127.0.0.1, suite $SUITE, results in $RESULTS"
printf '%-22s %7s %7s %7s  %s\n' unit passed failed seconds end
printf 'unit\tpassed\tfailed\tignored\tseconds\tend\n' >"$RESULTS/summary.tsv"
TP=0
TF=0
TS=0
ENDED=0
for unit in "${UNITS[@]}"; do
    name=${unit//\//-}
    log=$RESULTS/$name.log
    if [ ! -f "$SUITE/tests/unit/$unit.tcl" ]; then
        printf '%-22s %7s %7s %7s  %s\n' "$unit" - - - "not in this suite"
        continue
    fi
    port=$(free_port)
    start_server "$port" "$RESULTS/$name.server.log"
    t0=$(date +%s)
    fifo=$RESULTS/.out
    rm -f "$fifo" && mkfifo "$fifo"
    stamp "$log" "$RESULTS/$name.timed" <"$fifo" &
    LPID=$!
    # exec: $! is timeout itself, which leads its own process group (runtest and its client).
    # --baseport only moves the suite's own control port (baseport-32..-1, default 21079) so
    # that concurrent runs on one machine do not collide; in external mode nothing else uses it.
    (cd "$SUITE" && TERM=dumb exec timeout -k 10 "$UNIT_LIMIT" ./runtest --host 127.0.0.1 \
        --port "$port" --tags "$TAGS" --ignore-encoding --ignore-digest --timeout 120 \
        --single "unit/$unit" --baseport $((20032 + RANDOM % 9000)) ${RUNTEST_ARGS:-} \
        </dev/null >"$fifo" 2>&1) &
    RPID=$!
    rc=0
    wait "$RPID" || rc=$?
    stop_suite
    wait "$LPID" || true
    rm -f "$fifo"
    secs=$(($(date +%s) - t0))
    died=
    if ! alive "$SPID"; then
        died="; server died, see $name.server.log"
    elif ! timeout 2 redis-cli -p "$port" PING 2>/dev/null | grep -q PONG; then
        died="; server no longer answers PING, see $name.server.log"
    fi
    stop "$SPID"
    SPID=
    [ -n "${DATA:-}" ] && rm -rf "$DATA" && DATA=

    passed=$(grep -c '^\[ok\]: ' "$log" || true)
    failed=$(grep -c '^\[err\]: ' "$log" || true)
    ignored=$(grep -c '^\[ignore\]: ' "$log" || true)
    if grep -q '^\[exception\]: ' "$log"; then
        why="ABORTED: $(grep -m1 '^\[exception\]: ' "$log" |
            sed 's/^\[exception\]: Executing test client: //' | cut -c1-100)"
    elif grep -q '\[TIMEOUT\]' "$log"; then
        why="TIMEOUT in: $(grep -m1 '(IN PROGRESS)' "$log" |
            sed 's/.*(IN PROGRESS) //' | cut -c1-90)"
    elif grep -q '^\[[0-9]*/[0-9]* done\]: ' "$log"; then
        why=done
    elif [ "$rc" = 124 ] || [ "$rc" = 137 ]; then
        why="KILLED after ${UNIT_LIMIT}s (--unit-limit)"
    else
        why="ended without a result (exit $rc), see $log"
    fi
    [ "$why" = done ] && [ -z "$died" ] && ENDED=$((ENDED + 1))
    why=$why$died
    printf '%-22s %7d %7d %7d  %s\n' "$unit" "$passed" "$failed" "$secs" "$why"
    printf '%s\t%d\t%d\t%d\t%d\t%s\n' "$unit" "$passed" "$failed" "$ignored" "$secs" "$why" \
        >>"$RESULTS/summary.tsv"
    TP=$((TP + passed))
    TF=$((TF + failed))
    TS=$((TS + secs))
done
printf '%-22s %7d %7d %7d  %s\n' total "$TP" "$TF" "$TS" "$ENDED of ${#UNITS[@]} units ran to the end"
