#!/usr/bin/env bash
# Measures `bintrail migrate` (issue 15, item 4): a log made by the first README command (`bintrail serve`
# on a local data directory) with BENCH_ENTRIES entries, moved onto S3 (Garage) + PostgreSQL and, in the same
# run, into a local data directory; prints a markdown table for BENCHMARKS.md.
#
# Starts a throwaway PostgreSQL 15 cluster and a single-node Garage 2.5.0 (both from scripts/setup.sh) on
# ephemeral loopback ports.
#
# Usage: scripts/bench-migrate.sh
# Environment (all optional):
#   BENCH_ENTRIES  entries in the source log            (default 100000)
#   BENCH_BIN      the bintrail binary                  (default: a release build made here)
# Needs: curl, python3, runuser (when run as root). Every process it starts is stopped on exit (trap).
set -euo pipefail

cd "$(dirname "$0")/.."
N="${BENCH_ENTRIES:-100000}"
PG_BIN=/usr/lib/postgresql/15/bin
GARAGE=/opt/garage/bin/garage
for need in "$PG_BIN/initdb" "$GARAGE"; do
  [ -x "$need" ] || { echo "bench-migrate.sh: $need is missing: run scripts/setup.sh" >&2; exit 1; }
done
if [ -z "${BENCH_BIN:-}" ]; then
  echo "bench-migrate.sh: building release" >&2
  cargo build --release -q -p bintrail
  BIN="$PWD/target/release/bintrail"
else
  BIN="$BENCH_BIN"
fi

WORK="$(mktemp -d -t bintrail-bench-migrate.XXXXXX)"
PIDS=()
AS_PG=()
if [ "$(id -u)" -eq 0 ]; then AS_PG=(runuser -u postgres --); chown postgres:postgres "$WORK"; fi
cleanup() {
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

# The source: the first README command's log, filled through POST /admin/bulk/append.
"$BIN" serve --listen 127.0.0.1:0 --data "$WORK/src" >"$WORK/src.out" 2>"$WORK/src.err" &
SRC_PID=$!; PIDS+=("$SRC_PID")
for _ in $(seq 600); do
  URL="$(sed -n 's/^bintrail: listening on \(http:[^ ]*\).*/\1/p' "$WORK/src.out")"
  [ -n "$URL" ] && break
  sleep 0.1
done
[ -n "$URL" ] || { echo "bench-migrate.sh: serve did not start" >&2; cat "$WORK/src.err" >&2; exit 1; }
python3 - "$N" "$WORK/lines" <<'PY'
import hashlib, json, sys
n, out = int(sys.argv[1]), sys.argv[2]
with open(out, "w") as f:
    for i in range(n):
        name = f"bench{i}-1.0-py3-none-any.whl"
        f.write(json.dumps({"filename": name, "checksum": "sha256:" + hashlib.sha256(name.encode()).hexdigest()}) + "\n")
PY
split -l 50000 "$WORK/lines" "$WORK/part."
T0=$(date +%s.%N)
for part in "$WORK"/part.*; do
  curl -sSf "$URL/admin/bulk/append" -H "Authorization: Bearer $(cat "$WORK/src/publish-token")" \
    -H 'Content-Type: application/x-ndjson' --data-binary @"$part" | tail -1 >/dev/null
done
FILL=$(awk -v a="$(date +%s.%N)" -v b="$T0" 'BEGIN { printf "%.1f", a - b }')
kill -TERM "$SRC_PID"; wait "$SRC_PID" 2>/dev/null || true

# run NAME ARGS...: times one migration.
run() {
  local name="$1"; shift
  echo "bench-migrate.sh: $name: bintrail migrate --from $WORK/src $*" >&2
  local t0; t0=$(date +%s.%N)
  "$BIN" migrate --from "$WORK/src" "$@" >"$WORK/$name.out" 2>"$WORK/$name.err" \
    || { cat "$WORK/$name.out" "$WORK/$name.err" >&2; exit 1; }
  awk -v a="$(date +%s.%N)" -v b="$t0" 'BEGIN { printf "%.1f", a - b }' >"$WORK/$name.secs"
}
run cloud --to s3://bench/log --s3-endpoint "http://127.0.0.1:$S3PORT" --database "$DB"
run local --to "$WORK/dst"
per_sec() { awk -v n="$N" -v s="$(cat "$WORK/$1.secs")" 'BEGIN { printf "%.0f", n / s }'; }

echo
echo "| $N entries ($(du -sh "$WORK/src/tile" | cut -f1) of tiles and bundles) | seconds | entries/s |"
echo "|---|---|---|"
echo "| filling the source through POST /admin/bulk/append (reference) | $FILL | $(awk -v n="$N" -v s="$FILL" 'BEGIN { printf "%.0f", n / s }') |"
echo "| migrate to a local data directory (files + SQLite) | $(cat "$WORK/local.secs") | $(per_sec local) |"
echo "| migrate to S3 (Garage) + PostgreSQL | $(cat "$WORK/cloud.secs") | $(per_sec cloud) |"
