#!/usr/bin/env bash
# Benchmarks the verifiable index (issue 16) end to end through the real binary and prints
# what it measured, one "bench-vindex: ..." line per figure.
#
# 1. fills a `bintrail serve` log with PyPI-shaped entries (scripts/bench-vindex-fill.py:
#    ENTRIES over PROJECTS, Zipf-Mandelbrot sizes) through POST /admin/bulk/append;
# 2. starts `bintrail vindex serve` on it and times the build from scratch (process start
#    to the first map root published for the whole log), with its peak RSS and disk;
# 3. answer and map-proof sizes for an absent, a one-file, the typical (median) and the
#    largest project;
# 4. lookups with proofs per second over HTTP: `bintrail loadgen --scenario vindex-lookup-v2`
#    (and v1 over HTTP/1.1, `--scenario vindex-lookup`)
#    (names drawn uniformly from every project), HTTP/2 and HTTP/1.1, and the index's own
#    /healthz as the HTTP ceiling;
# 5. following under steady adds: `bintrail loadgen --scenario add` against the log (open
#    loop at FOLLOW_RATE, then a closed loop at the log's maximum) while the index follows;
#    the index's input size is sampled each second, and how far it trails the log at the end
#    and how long it takes to catch up are reported.
#
# Usage: scripts/bench-vindex.sh
# Environment (all optional):
#   ENTRIES      input entries                   (default 10000000)
#   PROJECTS     project names drawn from        (default 500000)
#   SECS         length of each loadgen run      (default 10)
#   FOLLOW_RATE  open-loop adds/s while following (default 1000)
#   KEEP         1 keeps the temporary directory
#   BINTRAIL     a bintrail binary to use instead of building target/release/bintrail
#   FOLLOW       0 skips the following phase (5.)
#   REUSE        a directory an earlier run kept (KEEP=1): its filled log is served again
#                and the fill is skipped (the index is still built from scratch)
# Needs: cargo, jq, curl, python3. Every process it starts is stopped on exit (trap).
set -euo pipefail

cd "$(dirname "$0")/.."
ENTRIES="${ENTRIES:-10000000}"
PROJECTS="${PROJECTS:-500000}"
SECS="${SECS:-10}"
FOLLOW_RATE="${FOLLOW_RATE:-1000}"
for tool in jq curl python3; do
  command -v "$tool" >/dev/null || { echo "bench-vindex.sh: $tool is missing" >&2; exit 1; }
done
if [ -n "${BINTRAIL:-}" ]; then
  BIN="$BINTRAIL"
else
  cargo build --release -q -p bintrail
  BIN="$PWD/target/release/bintrail"
fi
if [ -n "${REUSE:-}" ]; then
  WORK="$REUSE"
  [ -f "$WORK/stats.json" ] && [ -d "$WORK/log" ] || {
    echo "bench-vindex.sh: $WORK holds no filled log (stats.json, log/)" >&2
    exit 1
  }
  rm -rf "$WORK/vindex" "$WORK/vindex.key" "$WORK/vindex.vkey"
  KEEP=1
else
  WORK="$(mktemp -d -t bintrail-bench-vindex.XXXXXX)"
fi
PIDS=()
cleanup() {
  for pid in "${PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
  if [ "${KEEP:-0}" = 1 ]; then echo "bench-vindex.sh: kept $WORK" >&2; else rm -rf "$WORK"; fi
}
trap cleanup EXIT
ulimit -n "$(ulimit -Hn)"
say() { echo "bench-vindex: $*"; }
load() { say "load average $(cut -d' ' -f1-3 /proc/loadavg)"; }

# start NAME CMD...: runs CMD in the background and waits for its "listening on" line.
start() {
  local name="$1"
  shift
  "$@" >"$WORK/$name.out" 2>"$WORK/$name.err" &
  PID=$!
  PIDS+=("$PID")
  for _ in $(seq 600); do
    URL="$(sed -n 's/^bintrail: listening on \(http:[^ ]*\).*/\1/p' "$WORK/$name.out" 2>/dev/null || true)"
    if [ -n "$URL" ]; then return 0; fi
    if ! kill -0 "$PID" 2>/dev/null; then break; fi
    sleep 0.1
  done
  echo "bench-vindex.sh: $name did not start:" >&2
  cat "$WORK/$name.out" "$WORK/$name.err" >&2
  exit 1
}
kib_to_mb() { awk '{printf "%.0f", $1 / 1024}'; }
status_kb() { awk -v k="$2:" '$1 == k {print $2}' "/proc/$1/status"; }

# --- The log, filled -------------------------------------------------------------------
start log "$BIN" serve --data "$WORK/log" --listen 127.0.0.1:0 --checkpoint-interval 1s
LOG="$URL"
LOG_PID="$PID"
printf 'log %s\nquorum none\n' "$(cat "$WORK/log/log.vkey")" >"$WORK/log.policy"
load
if [ -n "${REUSE:-}" ]; then
  say "fill: skipped, reusing $WORK; shape $(cat "$WORK/stats.json")"
else
  T0=$(date +%s.%N)
  python3 scripts/bench-vindex-fill.py "$LOG" "$WORK/log/publish-token" "$ENTRIES" "$PROJECTS" "$WORK" \
    2> >(grep -v ' logged$' >&2)
  T1=$(date +%s.%N)
  say "fill: $ENTRIES entries in $(echo "$T1 - $T0" | bc -l | xargs printf '%.0f') s; shape $(cat "$WORK/stats.json")"
fi
TYPICAL="$(jq -r .typical "$WORK/stats.json")"
LARGEST="$(jq -r .largest "$WORK/stats.json")"
# A project with one file: the last name of the list is among the rarest.
ONE="$(tail -n 1 "$WORK/projects")"
size() { curl -sf "$LOG/checkpoint" | sed -n 2p; }
LOG_SIZE="$(size)"
say "log size $LOG_SIZE, log disk $(du -sm "$WORK/log" | cut -f1) MiB"

# --- The index: build from scratch --------------------------------------------------------
"$BIN" keygen --origin bench.vindex.localhost --private-key "$WORK/vindex.key" \
  --public-key "$WORK/vindex.vkey" >/dev/null
load
T0=$(date +%s.%N)
start vindex "$BIN" vindex serve --log "$LOG" --policy "$WORK/log.policy" --data "$WORK/vindex" \
  --private-key "$WORK/vindex.key" --listen 127.0.0.1:0
VX="$URL"
VX_PID="$PID"
# input_size: the input size of the map the index serves (line 4 of the answer's leaf:
# version, map root, then the input checkpoint's origin and size); 0 before the first.
input_size() {
  curl -sf "$VX/vindex/v1/lookup/bench-absent-name" | jq -r .leaf | sed -n 4p || echo 0
}
while true; do
  S="$(input_size)"
  if [ "${S:-0}" = "$LOG_SIZE" ]; then break; fi
  kill -0 "$VX_PID" || { cat "$WORK/vindex.err" >&2; exit 1; }
  sleep 1
done
T1=$(date +%s.%N)
BUILD="$(echo "$T1 - $T0" | bc -l | xargs printf '%.1f')"
CPU="$(awk '{printf "%.1f", ($14 + $15) / 100}' "/proc/$VX_PID/stat")"
say "build from scratch: $LOG_SIZE entries in $BUILD s wall, $CPU s CPU (user+system) of the index"
say "index memory: peak RSS $(status_kb "$VX_PID" VmHWM | kib_to_mb) MB, RSS now $(status_kb "$VX_PID" VmRSS | kib_to_mb) MB; log RSS $(status_kb "$LOG_PID" VmRSS | kib_to_mb) MB"
say "index disk: $(du -sk "$WORK/vindex" | cut -f1) KiB (the output log and the input state; the map is in memory)"
load

# --- Answer and proof sizes -----------------------------------------------------------------
for p in bench-absent-name "$ONE" "$TYPICAL" "$LARGEST"; do
  for v in v1 v2; do
    curl -sf "$VX/vindex/$v/lookup/$p" -o "$WORK/answer.json"
    say "answer $v $p: $(jq '.entries | length' "$WORK/answer.json") files, answer $(stat -c %s "$WORK/answer.json") bytes, map proof $(jq -r '.map_proof | length' "$WORK/answer.json") bytes, entry proofs $(jq '([.entries[].proof // [] | length] | add // 0) + (.entries_proof // [] | length)' "$WORK/answer.json") hashes"
  done
done
printf 'log %s\nlog %s\nquorum none\n' "$(cat "$WORK/log/log.vkey")" "$(cat "$WORK/vindex.vkey")" >"$WORK/both.policy"
for p in "$TYPICAL" "$LARGEST"; do
  T0=$(date +%s.%N)
  "$BIN" lookup --vindex "$VX" --policy "$WORK/both.policy" "$p" | tail -n 1
  T1=$(date +%s.%N)
  say "bintrail lookup $p (fetch and verify): $(echo "$T1 - $T0" | bc -l | xargs printf '%.2f') s"
done

# --- Lookups per second over HTTP ----------------------------------------------------------
lg() {
  local name="$1"
  shift
  "$BIN" loadgen --json "$@" >"$WORK/$name.json"
  say "$name: $(jq -r '"\(.successes_per_sec | round) req/s, p50 \(.latency_ms.p50) ms, p99 \(.latency_ms.p99) ms, errors \(.errors)"' "$WORK/$name.json") [loadgen $*]"
}
echo "$TYPICAL" >"$WORK/typical"
load
lg ceiling --url "$VX" --scenario healthz --concurrency 64 --http2 --connections 2 --duration "${SECS}s"
lg lookups_h2 --url "$VX" --scenario vindex-lookup-v2 --projects "$WORK/projects" --concurrency 64 --http2 --connections 2 --duration "${SECS}s"
lg lookups_h1 --url "$VX" --scenario vindex-lookup-v2 --projects "$WORK/projects" --concurrency 64 --duration "${SECS}s"
lg lookups_h1_v1 --url "$VX" --scenario vindex-lookup --projects "$WORK/projects" --concurrency 64 --duration "${SECS}s"
lg lookups_typical --url "$VX" --scenario vindex-lookup-v2 --projects "$WORK/typical" --concurrency 64 --http2 --connections 2 --duration "${SECS}s"
load

# --- Following under steady adds -----------------------------------------------------------
# follow NAME LOADGEN-ARGS...: adds to the log while the index follows; samples the index's
# input size each second; then how far it trails and how long it takes to catch up.
follow() {
  local name="$1"
  shift
  local before vbefore t0 t1 after vafter lag caught
  before="$(size)"
  vbefore="$(input_size)"
  t0=$(date +%s.%N)
  (while true; do echo "$(date +%s.%N) $(size) $(input_size)"; sleep 1; done) >"$WORK/$name.samples" &
  local sampler=$!
  "$BIN" loadgen --json --url "$LOG" --token-file "$WORK/log/publish-token" "$@" >"$WORK/$name.json"
  t1=$(date +%s.%N)
  after="$(size)"
  vafter="$(input_size)"
  lag=$((after - vafter))
  while [ "$(input_size)" -lt "$after" ]; do sleep 0.2; done
  caught="$(echo "$(date +%s.%N) - $t1" | bc -l | xargs printf '%.1f')"
  kill "$sampler"; wait "$sampler" 2>/dev/null || true
  local worst
  worst="$(awk '{d = $2 - $3; if (d > m) m = d} END {print m + 0}' "$WORK/$name.samples")"
  say "$name: log +$((after - before)) entries at $(jq -r '.entries_per_sec | round' "$WORK/$name.json") adds/s ($(jq -r '"errors \(.errors)"' "$WORK/$name.json")); index +$((vafter - vbefore)) in $(echo "$t1 - $t0" | bc -l | xargs printf '%.1f') s; trailing by $lag entries at the end (at most $worst in the 1 s samples), caught up $caught s later [loadgen $*]"
}
if [ "${FOLLOW:-1}" = 0 ]; then
  say "following: skipped (FOLLOW=0)"
  exit 0
fi
follow follow_steady --scenario add --rate "$FOLLOW_RATE" --duration "$((SECS * 3))s"
load
follow follow_max --scenario add --concurrency 30000 --http2 --connections 32 --duration "$((SECS * 3))s"
load
say "index memory at the end: RSS $(status_kb "$VX_PID" VmRSS | kib_to_mb) MB, peak $(status_kb "$VX_PID" VmHWM | kib_to_mb) MB"
