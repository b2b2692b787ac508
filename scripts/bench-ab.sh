#!/usr/bin/env bash
# Compares two builds of bintrail under the same load, run after run (A, B, A, B, ...), so
# that a refactor can be shown to keep the add and read rates (issue 12). Each run starts a
# fresh witnessed log, as scripts/bench.sh does (one local witness, quorum 1, a 1 s
# checkpoint interval, a temporary directory, 127.0.0.1 ephemeral ports), with that build's
# binary for the log and the witness, and puts the same load on it with ONE load generator
# (the B build's `bintrail loadgen`), so only the server differs between A and B:
#   adds   loadgen --scenario add   --concurrency 30000 --http2 --connections 512
#          (the log allows 64 streams per HTTP/2 connection: 32 connections would cap
#          the adds in flight at 2,048, about 2,000 adds/s with a 1 s checkpoint interval)
#   tiles  loadgen --scenario tiles --concurrency 256 --http2 --connections 4
#   lookup loadgen --scenario lookup --concurrency 64 --http2 --connections 2
# and prints one markdown row per run, with the log's CPU time per add during the adds load.
#
# Usage: scripts/bench-ab.sh BIN_A BIN_B
#   BIN_A, BIN_B   two release `bintrail` binaries (build each in its own worktree)
# Environment (optional):
#   BENCH_SECONDS  length of each measured load     (default 10)
#   BENCH_ROUNDS   how many A/B pairs               (default 3)
# Needs: jq. Every process it starts is stopped on exit (trap).
set -euo pipefail

[ $# -eq 2 ] || { echo "usage: scripts/bench-ab.sh BIN_A BIN_B" >&2; exit 2; }
A="$(realpath "$1")"
B="$(realpath "$2")"
SECONDS_PER_RUN="${BENCH_SECONDS:-10}"
ROUNDS="${BENCH_ROUNDS:-3}"
command -v jq >/dev/null || { echo "bench-ab.sh: jq is missing (apt-get install jq)" >&2; exit 1; }

WORK="$(mktemp -d -t bintrail-bench-ab.XXXXXX)"
PIDS=()
cleanup() {
  for pid in "${PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
  rm -rf "$WORK"
}
trap cleanup EXIT
ulimit -n "$(ulimit -Hn)"

# start DIR NAME CMD...: runs CMD in the background, waits for its "listening on" line and
# sets URL and PID.
start() {
  local dir="$1" name="$2"
  shift 2
  "$@" >"$dir/$name.out" 2>"$dir/$name.err" &
  PID=$!
  PIDS+=("$PID")
  for _ in $(seq 300); do
    # The background process may not have created its output file yet on a loaded machine.
    URL="$(sed -n 's/^bintrail: listening on \(http:[^ ]*\).*/\1/p' "$dir/$name.out" 2>/dev/null || true)"
    if [ -n "$URL" ]; then return 0; fi
    kill -0 "$PID" 2>/dev/null || break
    sleep 0.1
  done
  echo "bench-ab.sh: $name did not start:" >&2
  cat "$dir/$name.out" "$dir/$name.err" >&2
  exit 1
}
stop() { kill -TERM "$1"; wait "$1" 2>/dev/null || true; }

# run LABEL BIN: one witnessed log from BIN, the three loads, one table row.
run() {
  local label="$1" bin="$2" dir
  dir="$(mktemp -d "$WORK/$label.XXXX")"
  local serve=(serve --data "$dir/log" --listen 127.0.0.1:0 --checkpoint-interval 1s)
  start "$dir" log0 "$bin" "${serve[@]}"
  local vkey
  vkey="$(sed -n 's/^bintrail: log vkey //p' "$dir/log0.out")"
  stop "$PID"
  "$bin" keygen --witness --origin bench.witness.localhost \
    --private-key "$dir/witness.key" --public-key "$dir/witness.pub" >/dev/null
  "$bin" witness add-log --db "$dir/witness.db" --public-key "$vkey" >/dev/null
  start "$dir" witness "$bin" witness serve --db "$dir/witness.db" \
    --private-key "$dir/witness.key" --listen 127.0.0.1:0
  local witness_pid="$PID"
  printf 'log %s\nwitness w1 %s %s\nquorum w1\n' "$vkey" "$(cat "$dir/witness.pub")" "$URL" \
    >"$dir/policy"
  start "$dir" log "$bin" "${serve[@]}" --policy "$dir/policy"
  local log_pid="$PID" log_url="$URL"
  load() {
    "$B" loadgen --url "$log_url" --token-file "$dir/log/publish-token" --json \
      --duration "${SECONDS_PER_RUN}s" "$@"
  }
  local adds tiles lookup
  # The log's CPU time (user + system, clock ticks) over the adds load: CPU per add is far
  # less sensitive to the shared machine's load than adds/s, which the 1 s checkpoint
  # interval and the load generator's own share of the 2 cores also set.
  local ticks0 ticks1
  ticks0="$(awk '{print $14 + $15}' "/proc/$log_pid/stat")"
  adds="$(load --scenario add --concurrency 30000 --http2 --connections 512)"
  ticks1="$(awk '{print $14 + $15}' "/proc/$log_pid/stat")"
  local cpu_per_add
  cpu_per_add="$(jq -r --argjson ticks "$((ticks1 - ticks0))" --argjson hz "$(getconf CLK_TCK)" \
    'if .successes > 0 then ($ticks / $hz * 1e6 / .successes | round) else "n/a" end' <<<"$adds")"
  tiles="$(load --scenario tiles --concurrency 256 --http2 --connections 4)"
  lookup="$(load --scenario lookup --concurrency 64 --http2 --connections 2)"
  stop "$log_pid"
  stop "$witness_pid"
  local rate='.successes_per_sec | round'
  local errs='[.errors | to_entries[] | "\(.value) × \(.key)"] | join(", ") | if . == "" then "none" else . end'
  echo "| $label | $(jq -r "$rate" <<<"$adds") | $cpu_per_add µs | $(jq -r "$rate" <<<"$tiles") | $(jq -r "$rate" <<<"$lookup") | $(jq -r '.latency_ms.p50 | round' <<<"$adds") ms | $(jq -r "$errs" <<<"$adds"); $(jq -r "$errs" <<<"$tiles"); $(jq -r "$errs" <<<"$lookup") |"
}

echo "Measured $(date -u '+%Y-%m-%d %H:%M UTC') on $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg) at the start; ${SECONDS_PER_RUN} s loads."
echo
echo "| run | adds/s (h2, 30,000 in flight over 512 connections) | log CPU per add | tile and checkpoint reads/s (h2, 256) | lookups with proof/s (h2, 64) | add p50 | errors (adds; tiles; lookups) |"
echo "|---|---|---|---|---|---|---|"
for round in $(seq "$ROUNDS"); do
  run "A$round" "$A"
  run "B$round" "$B"
done
echo
echo "Load average $(cut -d' ' -f1-3 /proc/loadavg) at the end."
