#!/usr/bin/env bash
# Installs what the test suite needs on a fresh Debian bookworm machine (run as root, or with sudo).
# Idempotent: safe to run again. scripts/test.sh checks for these and names this script when one is missing.
set -euo pipefail

export DEBIAN_FRONTEND=noninteractive
SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi

# Reference implementations for the interop tests come from bookworm-backports:
# golang-1.23-go and golang-golang-x-mod-dev (Go's sumdb note and tlog packages);
# sigsum-go (sigsum-witness, a C2SP tlog-witness in Go, and sigsum-key).
if ! grep -rqs "bookworm-backports" /etc/apt/sources.list /etc/apt/sources.list.d/; then
  echo "deb http://deb.debian.org/debian bookworm-backports main" | $SUDO tee /etc/apt/sources.list.d/bookworm-backports.list >/dev/null
fi
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq -t bookworm-backports \
  golang-1.23-go golang-golang-x-mod-dev sigsum-go >/dev/null

# curl and jq run the README's add recipe literally (crates/cli/tests/first_hour.rs); systemd-analyze checks the
# shipped systemd unit (crates/cli/tests/deploy.rs).
$SUDO apt-get install -y -qq curl jq systemd >/dev/null

# A real PyPI-compatible index for the monitor's registry comparison test (crates/cli/tests/monitor.rs).
# Pinned so the HTML it serves (PEP 503 anchors with #sha256= fragments) stays what the test expects.
python3 -m pip install --quiet --disable-pip-version-check 'pypiserver==2.4.2'

# Installers and real distributions for the index, proxy and lockfile tests (crates/cli/tests/pypi_*.rs):
# a venv with a current pip (>= 25.1 has `pip lock`) and uv, both pinned, kept apart from the system Python.
TEST_VENV=/opt/bintrail-test-venv
if [ ! -x "$TEST_VENV/bin/uv" ] || ! "$TEST_VENV/bin/pip" --version 2>/dev/null | grep -q '^pip 26.0.1 '; then
  python3 -m venv "$TEST_VENV"
  "$TEST_VENV/bin/python" -m pip install --quiet --disable-pip-version-check 'pip==26.0.1' 'uv==0.13.9'
fi

# A small, pinned set of real distributions from PyPI with a dependency chain (requests and what it needs,
# wheels for this machine's CPython 3.11) plus two sdists. Downloaded once per machine; tests read them from here
# (BINTRAIL_PYPI_FIXTURES overrides the path) and never from the network.
FIXTURES=${BINTRAIL_PYPI_FIXTURES:-/var/cache/bintrail-tests/pypi}
if [ ! -f "$FIXTURES/.complete-v1" ]; then
  mkdir -p "$FIXTURES"
  "$TEST_VENV/bin/pip" download --quiet --disable-pip-version-check --no-deps --only-binary=:all: -d "$FIXTURES" \
    'requests==2.32.3' 'certifi==2024.8.30' 'charset-normalizer==3.4.0' 'idna==3.10' 'urllib3==2.2.3' \
    'six==1.16.0' 'packaging==24.2'
  "$TEST_VENV/bin/pip" download --quiet --disable-pip-version-check --no-deps --no-binary=:all: -d "$FIXTURES" \
    'six==1.16.0' 'idna==3.10'
  touch "$FIXTURES/.complete-v1"
fi

# Real PEP 740 attestations and provenance files with the distributions they attest, from the test suite of
# pypi-attestations (trailofbits; test/assets/ of its sdist), for crates/attest and the publisher tests. The
# sigstore sdist ships no test assets, so this is the one source. Unpacked once into attestations/.
ATTESTATIONS="$FIXTURES/attestations"
if [ ! -f "$ATTESTATIONS/.complete-v1" ]; then
  mkdir -p "$ATTESTATIONS"
  "$TEST_VENV/bin/pip" download --quiet --disable-pip-version-check --no-deps --no-binary=:all: -d "$ATTESTATIONS" \
    'pypi-attestations==0.0.31'
  tar -xzf "$ATTESTATIONS/pypi_attestations-0.0.31.tar.gz" -C "$ATTESTATIONS" --strip-components=3 \
    pypi_attestations-0.0.31/test/assets
  touch "$ATTESTATIONS/.complete-v1"
fi

# PostgreSQL from Debian, for the object-storage + PostgreSQL backend (crates/cli/tests/cloud*.rs). The tests start
# their own throwaway clusters (initdb/pg_ctl from /usr/lib/postgresql/15/bin, on ephemeral ports, as the postgres
# user when run as root) so they can stop and restart them; the cluster the package creates is not used.
$SUDO apt-get install -y -qq postgresql >/dev/null

# Garage, an S3-compatible object store operators run in production, as the test server for the object-storage
# backend. It is AGPL and only ever run as a separate test process, never linked into bintrail. Built once per
# machine from crates.io into /opt/garage (about 11 minutes on 2 idle cores; 80 minutes measured while five other
# builds shared them), and the build directory is deleted after.
GARAGE_VERSION=2.5.0
if ! /opt/garage/bin/garage --version 2>/dev/null | grep -q "cargo:$GARAGE_VERSION "; then
  GARAGE_TARGET=$(mktemp -d /tmp/garage-build.XXXXXX)
  CARGO_TARGET_DIR="$GARAGE_TARGET" CARGO_INCREMENTAL=0 \
    cargo install --quiet --locked garage --version "$GARAGE_VERSION" --root /opt/garage
  rm -rf "$GARAGE_TARGET"
fi
