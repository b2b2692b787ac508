#!/usr/bin/env bash
# Measures `bintrail index` and `bintrail backfill` against a local pypiserver:
# backfill files/s, project pages/s (pypiserver directly and through the index) and proof answers/s (the log's /lookup directly, the index cold and warm).
# Usage: scripts/bench-index.sh [PROJECTS] [FILES_PER_PROJECT]   (needs a release build)
# Everything runs on 127.0.0.1; requests go out with curl --parallel (8 at a time).
set -euo pipefail
projects=${1:-50}
per=${2:-4}
bin=${BINTRAIL:-target/release/bintrail}
work=$(mktemp -d)
pids=()
trap 'kill "${pids[@]}" 2>/dev/null || true; rm -rf "$work"' EXIT
mkdir -p "$work/packages"
for ((p = 0; p < projects; p++)); do
  for ((v = 0; v < per; v++)); do
    head -c 2048 /dev/urandom > "$work/packages/benchpkg$p-1.$v.tar.gz"
  done
done
files=$((projects * per))
port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_http() { for _ in $(seq 300); do curl -sf -o /dev/null "$1" && return 0; sleep 0.1; done; echo "no answer from $1" >&2; exit 1; }
pp=$(port); lp=$(port); ic=$(port)
pypi-server run -p "$pp" -i 127.0.0.1 --disable-fallback "$work/packages" >/dev/null 2>&1 & pids+=($!)
"$bin" serve --data "$work/log" --listen "127.0.0.1:$lp" >/dev/null 2>&1 & pids+=($!)
wait_http "http://127.0.0.1:$pp/simple/"; wait_http "http://127.0.0.1:$lp/checkpoint"

rate() { # rate NAME URLFILE: requests/s for every URL in URLFILE, 8 in flight
  local n start end
  n=$(grep -c "^url" "$2")
  start=$(date +%s.%N)
  curl -sS --no-progress-meter --parallel --parallel-max 8 -K "$2" -w '%{http_code}\n' > "$work/codes"
  end=$(date +%s.%N)
  local bad; bad=$(grep -cv '^200$' "$work/codes" || true)
  printf '%-44s %8.0f/s  (%d requests, %s not 200)\n' "$1" "$(echo "$n / ($end - $start)" | bc -l)" "$n" "$bad"
}
start=$(date +%s.%N)
"$bin" backfill --index "http://127.0.0.1:$pp/simple/" --log "http://127.0.0.1:$lp" \
  --token-file "$work/log/publish-token" --all --concurrency 8 2>/dev/null
end=$(date +%s.%N)
printf '%-44s %8.0f/s  (%d files)\n' "backfill, files" "$(echo "$files / ($end - $start)" | bc -l)" "$files"

"$bin" index --upstream "http://127.0.0.1:$pp/simple/" --log "http://127.0.0.1:$lp" --listen "127.0.0.1:$ic" --state "$work/s1" >/dev/null 2>&1 & pids+=($!)
wait_http "http://127.0.0.1:$ic/.well-known/bt/tlog-info"

pages() { for ((i = 0; i < ${PAGES:-300}; i++)); do printf 'url = "%s"\noutput = "/dev/null"\n' "$1/simple/benchpkg$((i % projects))/"; done > "$work/pages"; }
pages "http://127.0.0.1:$pp"; rate "project pages, pypiserver directly" "$work/pages"
# pypiserver 2.4.2 sends Cache-Control on files only (--cache-control), never on pages,
# so the index may not reuse a page: every page request goes upstream, warm or cold.
pages "http://127.0.0.1:$ic"; rate "project pages, index (first pass)" "$work/pages"
rate "project pages, index (second pass)" "$work/pages"

for ((p = 0; p < projects; p++)); do for ((v = 0; v < per; v++)); do
  printf 'url = "%s"\noutput = "/dev/null"\n' "http://127.0.0.1:$lp/lookup/pypi/benchpkg$p-1.$v.tar.gz"; done; done > "$work/lookups"
rate "proofs, log /lookup directly" "$work/lookups"
sed "s|127.0.0.1:$lp/lookup/pypi/benchpkg\([0-9]*\)-1\.\([0-9]*\)\.tar\.gz|127.0.0.1:$ic/transparency/benchpkg\1/1.\2/benchpkg\1-1.\2.tar.gz/proof|" "$work/lookups" > "$work/proofs"
rate "proof answers, index cold (lookup + verify)" "$work/proofs"
rate "proof answers, index warm (cached)" "$work/proofs"
