#!/usr/bin/env bash
# A/B of verifiable-index lookups (issue 16): one filled log kept by scripts/bench-vindex.sh
# (KEEP=1), one `vindex serve` per bintrail binary following it, then alternating runs of
# `loadgen --scenario vindex-lookup` (names uniform over every project) against each index.
# Prints, per run: lookups/s, latency and the index's CPU per lookup (from /proc/PID/stat).
#
# Usage: scripts/bench-vindex-ab.sh KEPT_DIR ROUNDS BINTRAIL...
# Environment: PROTOS     loadgen transport options, runs separated by ';'
#                         (default "--http2 --connections 2;--connections 64")
#              SCENARIOS  loadgen scenarios run against each index, in turn (default
#                         "vindex-lookup"; "vindex-lookup vindex-lookup-v2" compares the
#                         two answer formats of one build)
#              SECS       length of each run (default 10)
# The first binary also serves the log and runs the load generator.
set -euo pipefail
[ $# -ge 3 ] || { sed -n 2,13p "$0" >&2; exit 2; }
DIR="$1"; ROUNDS="$2"; shift 2
FIRST="$1"
W="$(mktemp -d -t bintrail-vindex-ab.XXXXXX)"
PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$W"
}
trap cleanup EXIT
start() { # NAME CMD...: start CMD, wait for its "listening on" line; sets URL and PID
  local name=$1; shift
  "$@" >"$W/$name.out" 2>"$W/$name.err" &
  PID=$!; PIDS+=("$PID")
  for _ in $(seq 600); do
    URL="$(sed -n 's/^bintrail: listening on \(http:[^ ]*\).*/\1/p' "$W/$name.out" 2>/dev/null || true)"
    [ -n "$URL" ] && return 0
    kill -0 "$PID" 2>/dev/null || break
    sleep 0.1
  done
  echo "bench-vindex-ab.sh: $name did not start" >&2; cat "$W/$name.err" >&2; exit 1
}
start log "$FIRST" serve --data "$DIR/log" --listen 127.0.0.1:0 --checkpoint-interval 1s
LOG=$URL
SIZE=$(curl -sf "$LOG/checkpoint" | sed -n 2p)
printf 'log %s\nquorum none\n' "$(cat "$DIR/log/log.vkey")" >"$W/log.policy"
URLS=(); VPIDS=(); i=0
for b in "$@"; do
  "$b" keygen --origin "ab$i.vindex.localhost" --private-key "$W/v$i.key" --public-key "$W/v$i.vkey" >/dev/null
  T0=$(date +%s.%N)
  start "v$i" "$b" vindex serve --log "$LOG" --policy "$W/log.policy" --data "$W/v$i" \
    --private-key "$W/v$i.key" --listen 127.0.0.1:0
  URLS+=("$URL"); VPIDS+=("$PID")
  until [ "$(curl -sf "$URL/vindex/v1/lookup/bench-absent-name" | jq -r .leaf | sed -n 4p)" = "$SIZE" ]; do
    kill -0 "$PID" || { cat "$W/v$i.err" >&2; exit 1; }
    sleep 1
  done
  echo "index $i ($b): built $SIZE entries in $(echo "$(date +%s.%N) - $T0" | bc -l | xargs printf %.1f) s, RSS $(awk '$1=="VmRSS:"{print int($2/1024)}' "/proc/$PID/status") MB"
  i=$((i + 1))
done
cpu() { awk '{print $14 + $15}' "/proc/$1/stat"; }
IFS=';' read -ra RUNS <<<"${PROTOS:---http2 --connections 2;--connections 64}"
for r in $(seq "$ROUNDS"); do
  for proto in "${RUNS[@]}"; do
    for j in "${!URLS[@]}"; do
      for scenario in ${SCENARIOS:-vindex-lookup}; do
        c0=$(cpu "${VPIDS[$j]}")
        # shellcheck disable=SC2086 # proto is a list of options
        "$FIRST" loadgen --json --url "${URLS[$j]}" --scenario "$scenario" --projects "$DIR/projects" \
          --concurrency 64 $proto --duration "${SECS:-10}s" >"$W/run.json"
        c1=$(cpu "${VPIDS[$j]}")
        n=$(jq .successes "$W/run.json")
        echo "round $r [$proto] index $j $scenario: $(jq -r '"\(.successes_per_sec | round) req/s, p50 \(.latency_ms.p50) ms, p99 \(.latency_ms.p99) ms, errors \(.errors)"' "$W/run.json"); index CPU $(echo "($c1 - $c0) * 10000 / $n" | bc -l | xargs printf %.1f) us a lookup; load $(cut -d' ' -f1 /proc/loadavg)"
      done
    done
  done
done
