#!/usr/bin/env bash
# Measures what `bintrail proxy` adds (issue 14): per-file download latency (p50, p99) and the
# wall time of `pip install requests==2.32.3` (5 wheels), directly against pypiserver and
# through the proxy, with a cold and a warm proxy cache. Everything on loopback.
# Usage: scripts/bench-proxy.sh [BINTRAIL] (default: target/release/bintrail, else target/debug/bintrail)
set -euo pipefail
BIN=${1:-target/release/bintrail}
[ -x "$BIN" ] || BIN=target/debug/bintrail
PIP=/opt/bintrail-test-venv/bin/pip
FIX=${BINTRAIL_PYPI_FIXTURES:-/var/cache/bintrail-tests/pypi}
ROUNDS=${ROUNDS:-20}
RUNS=${RUNS:-5}
W=$(mktemp -d)
PIDS=()
trap 'kill "${PIDS[@]}" 2>/dev/null; rm -rf "$W"' EXIT
port() { python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])'; }
wait_line() { for _ in $(seq 600); do grep -q "$2" "$1" 2>/dev/null && return; sleep 0.1; done; echo "timeout: $1" >&2; exit 1; }

mkdir -p "$W/pk"; cp "$FIX"/*.whl "$W/pk/"
PP=$(port); pypi-server run -p "$PP" -i 127.0.0.1 --disable-fallback -a . -P . "$W/pk" >/dev/null 2>&1 & PIDS+=($!)
"$BIN" serve --listen 127.0.0.1:0 --data "$W/log" >"$W/log.out" 2>/dev/null & PIDS+=($!)
wait_line "$W/log.out" "listening on"
LOG=$(grep -o 'http://[0-9.:]*' "$W/log.out" | tail -1)
printf 'log %s %s\nquorum none\n' "$(grep 'log vkey' "$W/log.out" | awk '{print $4}')" "$LOG" >"$W/policy"
"$BIN" add --log "$LOG" --token-file "$W/log/publish-token" --policy "$W/policy" --state "$W/add" --out "$W/proofs" "$W"/pk/*.whl >/dev/null
for _ in $(seq 100); do curl -sf "http://127.0.0.1:$PP/simple/" >/dev/null && break; sleep 0.1; done
DIRECT="http://127.0.0.1:$PP/simple/"
"$BIN" proxy --index "$DIRECT" --policy "$W/policy" --listen 127.0.0.1:0 --cache "$W/cache" --state "$W/state" >"$W/proxy.out" 2>"$W/proxy.err" & PIDS+=($!)
wait_line "$W/proxy.out" "listening on"
PROXY=$(grep 'listening on' "$W/proxy.out" | awk '{print $4}')
ROOT=${PROXY%simple/}
curl -sf "${PROXY}requests/" >/dev/null

pct() { sort -n | awk -v p="$1" '{a[NR]=$1} END {i=int((NR*p/100)+0.999); if(i<1)i=1; printf "%.1f", a[i]*1000}'; }
files() { for f in "$W"/pk/*.whl; do n=$(basename "$f"); proj=$(echo "${n%%-*}" | tr '_A-Z' '-a-z'); echo "$proj/$n"; done; }
fetch() { curl -s -o /dev/null -w '%{time_total}\n' "$1"; }
: >"$W/direct.t"; : >"$W/cold.t"; : >"$W/warm.t"
for _ in $(seq "$ROUNDS"); do
  for pf in $(files); do
    fetch "http://127.0.0.1:$PP/packages/${pf#*/}" >>"$W/direct.t"
    rm -rf "$W/cache/files" "$W/cache/proofs"; mkdir -p "$W/cache/files" "$W/cache/proofs"
    fetch "${ROOT}files/$pf" >>"$W/cold.t"
    fetch "${ROOT}files/$pf" >>"$W/warm.t"
  done
done
echo "per-file download latency over $(wc -l <"$W/direct.t") requests (ms): p50 / p99"
echo "  direct pypiserver:   $(pct 50 <"$W/direct.t") / $(pct 99 <"$W/direct.t")"
echo "  proxy, cold cache:   $(pct 50 <"$W/cold.t") / $(pct 99 <"$W/cold.t")"
echo "  proxy, warm cache:   $(pct 50 <"$W/warm.t") / $(pct 99 <"$W/warm.t")"

install() { local t; t=$(mktemp -d -p "$W"); /usr/bin/time -f %e "$PIP" install -q --no-cache-dir --disable-pip-version-check --target "$t" --index-url "$1" requests==2.32.3 2>&1 >/dev/null | tail -1; rm -rf "$t"; }
: >"$W/i-direct"; : >"$W/i-cold"; : >"$W/i-warm"
for _ in $(seq "$RUNS"); do
  install "$DIRECT" >>"$W/i-direct"
  rm -rf "$W/cache/files" "$W/cache/proofs"; mkdir -p "$W/cache/files" "$W/cache/proofs"
  install "$PROXY" >>"$W/i-cold"
  install "$PROXY" >>"$W/i-warm"
done
echo "pip install requests==2.32.3 (5 wheels), median of $RUNS runs (s):"
echo "  direct pypiserver:   $(pct 50 <"$W/i-direct" | awk '{printf "%.2f", $1/1000}')"
echo "  proxy, cold cache:   $(pct 50 <"$W/i-cold" | awk '{printf "%.2f", $1/1000}')"
echo "  proxy, warm cache:   $(pct 50 <"$W/i-warm" | awk '{printf "%.2f", $1/1000}')"
echo "binary: $BIN; proof fetches: $(curl -s "${ROOT}metrics" | awk '/proof_fetches_total [0-9]/ {print $2}')"
