#!/usr/bin/env bash
# Issue 5 report: per-core user-space serving on the in-process memory wire (fs-load) next to
# the kernel transport (nginx / redis-server and fs-httpd / fs-kv over loopback, via http.sh
# and kv.sh), with the user-stack/kernel ratios of server CPU per request, the callgrind
# instruction count per HTTP keep-alive request, and the idle-connection memory.
#
#   loadtest/report.sh            # ROUNDS=3 DURATION=5 IDLE=1000000 by default
#   ROUNDS=5 IDLE=10000000 loadtest/report.sh
#
# Everything stops by itself (bounded counts and durations). Needs nginx, wrk, redis-server,
# redis-benchmark, valgrind (the callgrind step is skipped without it).
set -euo pipefail
cd "$(dirname "$0")/.."
ROUNDS=${ROUNDS:-3}
DURATION=${DURATION:-5}
IDLE=${IDLE:-1000000}
cargo build --release -q -p fs-loadtest -p fs-httpd -p fs-kv
L=$PWD/target/release/fs-load
OUT=$(mktemp /tmp/fs-report.XXXXXX)
trap 'rm -f "$OUT" "$OUT".*' EXIT

# user NAME ARGS...: ROUNDS runs; records "NAME rate us_per_op busy_us_per_op".
user() {
  local name=$1; shift
  for _ in $(seq "$ROUNDS"); do
    line=$("$L" "$@" -d "$DURATION")
    line=${line%%$'\n'*}
    echo "$line"
    awk -v n="$name" '{
      for (i = 1; i <= NF; i++) {
        if ($i == "=" && $(i+2) ~ /^(req|conn)\/s$/) rate = $(i+1);
        if ($i ~ /^(us\/req|us\/conn),?$/ && cpu == "") cpu = $(i-1);
        if ($i == "turns") busy = $(i+1);
      }
      print n, rate, cpu, busy }' <<<"$line" >>"$OUT.user"
  done
}

echo "# user stack on the memory wire: server core ${SERVER_CPU:-0}, generator core 1, $ROUNDS rounds"
user http600 http600 -n 5000000 -c 64
user http4k http4k -n 2000000 -c 64
user httpclose http-close -n 2000000 -c 256
user redisget1 redis-get -n 5000000 -c 256
user redisset1 redis-set -n 5000000 -c 256
user redisget16 redis-get -n 20000000 -c 256 -P 16
user redisset16 redis-set -n 20000000 -c 256 -P 16
echo
echo "# idle connections"
"$L" idle --service http -n "$IDLE" -d 600
"$L" idle --service kv -n "$((IDLE < 1000000 ? IDLE : 1000000))" -d 600

echo
echo "# kernel transport (loopback)"
loadtest/http.sh "$ROUNDS" "$DURATION" 50 | tee "$OUT.http"
KV_TESTS="get set" loadtest/kv.sh 200000 1000000 | tee "$OUT.kv"

if command -v valgrind >/dev/null; then
  echo
  echo "# callgrind: server-thread instructions per HTTP keep-alive request (600 B return)"
  CG=$(mktemp -d /tmp/fs-cg.XXXXXX)
  for n in 5000 25000; do
    (cd "$CG" && valgrind --tool=callgrind --separate-threads=yes --callgrind-out-file="cg.$n" \
      "$L" http600 -n "$n" -c 16 -d 120 --spin-us 0 >/dev/null 2>&1)
  done
  # Thread 2 is the server; the difference of two runs removes start-up costs.
  ir() { awk '/^summary:/ {print $2}' "$CG/cg.$1-02"; }
  ir_c() { awk '/^summary:/ {print $2}' "$CG/cg.$1-01"; }
  awk -v a="$(ir 5000)" -v b="$(ir 25000)" -v c="$(ir_c 5000)" -v d="$(ir_c 25000)" \
    'BEGIN { printf "server %.0f instructions/request, generator %.0f instructions/request\n", (b - a) / 20000, (d - c) / 20000 }' \
    | tee "$OUT.cg"
  rm -rf "$CG"
fi

echo
echo "# summary: medians; ratio = user-stack server CPU per request / kernel server CPU per request"
python3 - "$OUT.user" "$OUT.http" "$OUT.kv" <<'PY'
import re, statistics, sys
user = {}
for l in open(sys.argv[1]):
    n, rate, cpu, _ = (l.split() + ["0"] * 4)[:4]
    user.setdefault(n, []).append((float(rate), float(cpu)))
med = lambda n, i: statistics.median(x[i] for x in user[n])
http = {}
for l in open(sys.argv[2]):
    m = re.match(r"(/\S+)\s+fs-httpd\s+(\d+) req/s\s+([\d.]+) us/req \| nginx\s+(\d+) req/s\s+([\d.]+) us/req", l)
    if m:
        http[m[1]] = (float(m[2]), float(m[3]), float(m[4]), float(m[5]))
kv = {}
for l in open(sys.argv[3]):
    f = l.split()
    if len(f) == 7 and f[0] in ("get", "set") and f[1] in ("1", "16"):
        kv[(f[0], f[1])] = tuple(map(float, f[2:6]))
targets = {"http600": 1e6, "httpclose": 3e5, "redisget16": 2e6}
print(f"{'workload':12} {'user rate':>12} {'user us/op':>10} | {'kernel ref':>10} {'us/op':>8} | {'fs-kernel us/op':>15} | ratio user/ref  target")
def row(n, ref_name, ref_us, fsk_us):
    r, c = med(n, 0), med(n, 1)
    t = targets.get(n)
    tgt = f"{'met' if r >= t else 'missed'} (>= {t:.0f}/s)" if t else ""
    ratio = f"{c / ref_us:.3f}" if ref_us else "-"
    if ref_us and n.startswith("http"):
        tgt += f"; CPU {'met' if c / ref_us <= 0.1 else 'missed'} (<= 0.1x nginx)"
    print(f"{n:12} {r:12.0f} {c:10.3f} | {ref_name:>10} {ref_us or 0:8.2f} | {fsk_us or 0:15.2f} | {ratio:>14}  {tgt}")
h6, h4 = http.get("/600"), http.get("/file4k.bin")
row("http600", "nginx", h6 and h6[3], h6 and h6[1])
row("http4k", "nginx", h4 and h4[3], h4 and h4[1])
row("httpclose", "nginx*", h6 and h6[3], h6 and h6[1])
for op in ("get", "set"):
    for p in ("1", "16"):
        k = kv.get((op, p))
        row(f"redis{op}{p}", "redis", k and k[3], k and k[1])
print("* Connection: close has no kernel counterpart in http.sh; compared with nginx's keep-alive us/req.")
PY
