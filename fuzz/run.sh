#!/usr/bin/env bash
# Builds every fuzz target once (cargo-fuzz, libFuzzer, no sanitizer: works on stable) and runs
# each for a bounded time from its seed corpus. Fails if any target crashes, panics, takes
# longer than 1 s on one input (-timeout=1) or grows past the RSS limit.
#
#   fuzz/run.sh [seconds per target, default 45]
#   FUZZ_TARGETS="http_head uri" fuzz/run.sh 10    # a subset
#   FUZZ_NO_BUILD=1 fuzz/run.sh                    # reuse the last build
#
# Targets are discovered (`cargo fuzz list`). The checked-in corpus (corpus/<target>/) is only
# read: new inputs go to a temporary directory. A crashing input is kept in
# $FUZZ_OUT (default /tmp/fuzz-out.*); add it to regressions/<target>/ with a comment in
# servers/http/tests/fuzz_regressions.rs (or the owning crate's regression test).
set -euo pipefail
cd "$(dirname "$0")"
SECONDS_PER_TARGET=${1:-45}
RSS_MB=${FUZZ_RSS_MB:-1024}

if ! cargo fuzz --version >/dev/null 2>&1; then
  echo "fuzz/run.sh: cargo-fuzz is not installed (cargo install cargo-fuzz)" >&2
  exit 1
fi
if [ -z "${FUZZ_NO_BUILD:-}" ]; then
  cargo fuzz build -s none
fi
TRIPLE=$(rustc -vV | sed -n 's/^host: //p')
BIN=target/$TRIPLE/release
TARGETS=${FUZZ_TARGETS:-$(cargo fuzz list)}
OUT=${FUZZ_OUT:-$(mktemp -d /tmp/fuzz-out.XXXXXX)}
failed=()
for t in $TARGETS; do
  work="$OUT/$t"
  mkdir -p "$work/corpus" corpus/"$t"
  start=$(date +%s)
  if "$BIN/$t" "$work/corpus" "corpus/$t" -max_total_time="$SECONDS_PER_TARGET" -timeout=1 \
      -rss_limit_mb="$RSS_MB" -artifact_prefix="$work/" -print_final_stats=1 \
      >"$work/log" 2>&1; then
    runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$work/log" | tail -1)
    echo "fuzz $t: ok, ${runs:-?} inputs in $(( $(date +%s) - start )) s"
  else
    echo "fuzz $t: FAILED (log: $work/log)"
    grep -E "panicked|ERROR|SUMMARY|Test unit written" "$work/log" | head -8 | sed 's/^/  /'
    failed+=("$t")
  fi
done
if [ ${#failed[@]} -gt 0 ]; then
  echo "fuzz: ${#failed[@]} target(s) failed: ${failed[*]}; inputs in $OUT" >&2
  exit 1
fi
rm -rf "$OUT"
echo "fuzz: all targets ok"
