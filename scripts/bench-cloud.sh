#!/usr/bin/env bash
# Benchmarks the log on object storage and PostgreSQL (issue 15) next to the embedded default, in one run,
# and prints a markdown table for BENCHMARKS.md.
#
# Starts a throwaway PostgreSQL 15 cluster and a single-node Garage 2.5.0 (both from scripts/setup.sh) on
# ephemeral loopback ports, then for each of: the embedded default (--data), one frontend on S3 + PostgreSQL,
# and two frontends on S3 + PostgreSQL with the load split between them (the one without the lease forwards
# its adds to the sequencer), then the second alone after the first handed the lease over: closed-loop adds
# (bintrail loadgen --scenario add) and tile reads (--scenario tiles).
#
# Usage: scripts/bench-cloud.sh
# Environment (all optional):
#   BENCH_SECONDS      length of each measured run        (default 10)
#   BENCH_CONCURRENCY  adds in flight                     (default 30000)
#   BENCH_CONNECTIONS  HTTP/2 connections they share      (default 512; the log allows 64 streams on each)
#   BENCH_HTTP1=1      HTTP/1.1 instead, one connection per add in flight
#   BENCH_BIN          the bintrail binary                (default: a release build made here)
#   BENCH_KEEP_LOGS    a directory to copy the servers' stderr, loadgen's JSON reports and the first
#                      frontend's /metrics after its add run (store and database latencies) into
# A closed loop measures capacity only with enough adds in flight: each add waits for the next checkpoint (1 s
# here), so N in flight cannot give more than about N adds/s. 30,000 over 512 HTTP/2 connections is what
# scripts/bench.sh and bench-ab.sh use for the embedded default's maximum.
# Needs: jq, curl, runuser (when run as root). Every process it starts is stopped on exit (trap).
set -euo pipefail

cd "$(dirname "$0")/.."
SECS="${BENCH_SECONDS:-10}"
CONC="${BENCH_CONCURRENCY:-30000}"
CONNS="${BENCH_CONNECTIONS:-512}"
if [ "${BENCH_HTTP1:-0}" = 1 ]; then
  PROTO=HTTP/1.1; WIRE=(); WIRE_HALF=()
else
  PROTO="HTTP/2 over $CONNS connections"; WIRE=(--http2 --connections "$CONNS"); WIRE_HALF=(--http2 --connections $(( CONNS / 2 )))
fi
PG_BIN=/usr/lib/postgresql/15/bin
GARAGE=/opt/garage/bin/garage
for need in "$PG_BIN/initdb" "$GARAGE"; do
  [ -x "$need" ] || { echo "bench-cloud.sh: $need is missing: run scripts/setup.sh" >&2; exit 1; }
done
if [ -z "${BENCH_BIN:-}" ]; then
  echo "bench-cloud.sh: building release" >&2
  cargo build --release -q -p bintrail
  BIN="$PWD/target/release/bintrail"
else
  BIN="$BENCH_BIN"
fi

LOAD_START="$(cut -d" " -f1-3 /proc/loadavg)"
WORK="$(mktemp -d -t bintrail-bench-cloud.XXXXXX)"
PIDS=()
AS_PG=()
if [ "$(id -u)" -eq 0 ]; then AS_PG=(runuser -u postgres --); chown postgres:postgres "$WORK"; fi
cleanup() {
  if [ -n "${BENCH_KEEP_LOGS:-}" ]; then mkdir -p "$BENCH_KEEP_LOGS"; cp "$WORK"/*.err "$WORK"/*.json "$WORK"/*.txt "$BENCH_KEEP_LOGS"/ 2>/dev/null || true; fi
  for pid in "${PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
  "${AS_PG[@]}" "$PG_BIN/pg_ctl" -D "$WORK/pg" -m immediate stop >/dev/null 2>&1 || true
  rm -rf "$WORK"
}
trap cleanup EXIT
ulimit -n "$(ulimit -Hn)"
port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# PostgreSQL: default durability (fsync on), loopback only.
PGPORT="$(port)"
"${AS_PG[@]}" "$PG_BIN/initdb" -U bintrail --auth=trust -E UTF8 -D "$WORK/pg" >/dev/null
"${AS_PG[@]}" "$PG_BIN/pg_ctl" -w -D "$WORK/pg" -l "$WORK/pg.log" \
  -o "-p $PGPORT -k $WORK -c listen_addresses=127.0.0.1 -c max_connections=200" start >/dev/null
DB="postgres://bintrail@127.0.0.1:$PGPORT/postgres"

# Garage: one node, one bucket, one key.
S3PORT="$(port)"; RPCPORT="$(port)"
mkdir -p "$WORK/garage"
cat >"$WORK/garage/garage.toml" <<EOF
metadata_dir = "$WORK/garage/meta"
data_dir = "$WORK/garage/data"
db_engine = "sqlite"
replication_factor = 1
rpc_bind_addr = "127.0.0.1:$RPCPORT"
rpc_public_addr = "127.0.0.1:$RPCPORT"
rpc_secret = "$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')"
[s3_api]
s3_region = "garage"
api_bind_addr = "127.0.0.1:$S3PORT"
root_domain = ".s3.garage.localhost"
EOF
g() { "$GARAGE" -c "$WORK/garage/garage.toml" "$@"; }
RUST_LOG=warn "$GARAGE" -c "$WORK/garage/garage.toml" server >"$WORK/garage.log" 2>&1 &
PIDS+=($!)
for _ in $(seq 300); do g status >/dev/null 2>&1 && break; sleep 0.2; done
NODE="$(g node id -q | cut -d@ -f1)"
g layout assign -z dc1 -c 1G "$NODE" >/dev/null
g layout apply --version 1 >/dev/null
export AWS_ACCESS_KEY_ID="GK$(head -c 12 /dev/urandom | od -An -tx1 | tr -d ' \n')"
export AWS_SECRET_ACCESS_KEY="$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')"
export AWS_REGION=garage
g key import --yes -n bench "$AWS_ACCESS_KEY_ID" "$AWS_SECRET_ACCESS_KEY" >/dev/null
g bucket create bench >/dev/null
g bucket allow --read --write --owner --key "$AWS_ACCESS_KEY_ID" bench >/dev/null

# start NAME ARGS...: bintrail serve in the background; sets URL and PID.
start() {
  local name="$1"; shift
  "$BIN" serve --listen 127.0.0.1:0 --checkpoint-interval 1s "$@" >"$WORK/$name.out" 2>"$WORK/$name.err" &
  PID=$!; PIDS+=("$PID")
  for _ in $(seq 600); do
    URL="$(sed -n 's/^bintrail: listening on \(http:[^ ]*\).*/\1/p' "$WORK/$name.out")"
    [ -n "$URL" ] && return 0
    kill -0 "$PID" 2>/dev/null || break
    sleep 0.1
  done
  echo "bench-cloud.sh: $name did not start:" >&2; cat "$WORK/$name.out" "$WORK/$name.err" >&2; exit 1
}
load() { # NAME URL TOKENFILE ARGS...
  local name="$1" url="$2" token="$3"; shift 3
  echo "bench-cloud.sh: $name: loadgen $*" >&2
  "$BIN" loadgen --url "$url" --token-file "$token" --json "$@" >"$WORK/$name.json"
}
rate() { jq -r '.successes_per_sec | round' "$WORK/$1.json"; }
lat() { jq -r '.latency_ms | "p50 \((.p50 * 10 | round) / 10) ms, p99 \((.p99 * 10 | round) / 10) ms"' "$WORK/$1.json"; }
errors() { jq -r '[.errors | to_entries[] | "\(.value) × \(.key)"] | join(", ") | if . == "" then "none" else . end' "$WORK/$1.json"; }

# Embedded default.
start local --data "$WORK/local"
load local-add "$URL" "$WORK/local/publish-token" --scenario add --concurrency "$CONC" "${WIRE[@]}" --duration "${SECS}s"
load local-tiles "$URL" "$WORK/local/publish-token" --scenario tiles --concurrency 64 --duration "${SECS}s"

# One frontend on S3 + PostgreSQL (key and tokens from its own data directory).
CLOUD=(--storage s3://bench/log --s3-endpoint "http://127.0.0.1:$S3PORT" --database "$DB")
start fe1 --data "$WORK/fe1" "${CLOUD[@]}"
FE1="$URL"; FE1_PID="$PID"
load cloud1-add "$FE1" "$WORK/fe1/publish-token" --scenario add --concurrency "$CONC" "${WIRE[@]}" --duration "${SECS}s"
curl -sf "$FE1/metrics" >"$WORK/fe1-metrics.txt" || true
load cloud1-tiles "$FE1" "$WORK/fe1/publish-token" --scenario tiles --concurrency 64 --duration "${SECS}s"

# A second frontend on the same bucket and database: it serves at once and forwards its adds to the first
# (the sequencer). The same total load, half through each frontend at once.
start fe2 --data "$WORK/fe2" --private-key "$WORK/fe1/log.key" --tokens "$WORK/fe1/tokens" "${CLOUD[@]}"
FE2="$URL"; FE2_PID="$PID"
HALF=$(( CONC / 2 ))
load cloud2-seq "$FE1" "$WORK/fe1/publish-token" --scenario add --concurrency "$HALF" "${WIRE_HALF[@]}" --duration "${SECS}s" &
SEQ_LOAD=$!
load cloud2-fwd "$FE2" "$WORK/fe1/publish-token" --scenario add --concurrency "$HALF" "${WIRE_HALF[@]}" --duration "${SECS}s"
wait "$SEQ_LOAD"
load cloud2-tiles "$FE2" "$WORK/fe1/publish-token" --scenario tiles --concurrency 64 --duration "${SECS}s"

# The first frontend stops; the second takes the lease over and sequences itself.
kill -TERM "$FE1_PID"; wait "$FE1_PID" 2>/dev/null || true
T0=$(date +%s.%N)
for _ in $(seq 600); do
  curl -sf "$FE2/healthz/sequencer" >/dev/null && break
  sleep 0.05
done
TAKEOVER=$(awk -v a="$(date +%s.%N)" -v b="$T0" 'BEGIN { printf "%.1f", a - b }')
load cloud3-add "$FE2" "$WORK/fe1/publish-token" --scenario add --concurrency "$CONC" "${WIRE[@]}" --duration "${SECS}s"

echo
echo "| run ($SECS s each, closed loop, $CONC adds in flight, $PROTO) | adds/s | add latency | errors |"
echo "|---|---|---|---|"
echo "| embedded default (--data: files + SQLite) | $(rate local-add) | $(lat local-add) | $(errors local-add) |"
echo "| S3 (Garage) + PostgreSQL, one frontend | $(rate cloud1-add) | $(lat cloud1-add) | $(errors cloud1-add) |"
echo "| S3 + PostgreSQL, two frontends, $HALF in flight through each: total | $(( $(rate cloud2-seq) + $(rate cloud2-fwd) )) | | |"
echo "| ... through the sequencing frontend | $(rate cloud2-seq) | $(lat cloud2-seq) | $(errors cloud2-seq) |"
echo "| ... through the other frontend (forwarded) | $(rate cloud2-fwd) | $(lat cloud2-fwd) | $(errors cloud2-fwd) |"
echo "| S3 + PostgreSQL, the second frontend alone after a clean handover | $(rate cloud3-add) | $(lat cloud3-add) | $(errors cloud3-add) |"
echo
echo "| tile reads (64 in flight) | reads/s | latency |"
echo "|---|---|---|"
echo "| embedded default | $(rate local-tiles) | $(lat local-tiles) |"
echo "| S3 + PostgreSQL frontend (the sequencer) | $(rate cloud1-tiles) | $(lat cloud1-tiles) |"
echo "| S3 + PostgreSQL frontend that does not sequence | $(rate cloud2-tiles) | $(lat cloud2-tiles) |"
echo
echo "Handover: the second frontend sequenced ${TAKEOVER}s after the first frontend's SIGTERM."
echo "Load average (1, 5, 15 min) at the start: $LOAD_START; at the end: $(cut -d" " -f1-3 /proc/loadavg)."
