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

# A real PyPI-compatible index for the monitor's registry comparison test (crates/cli/tests/monitor.rs).
# Pinned so the HTML it serves (PEP 503 anchors with #sha256= fragments) stays what the test expects.
python3 -m pip install --quiet --disable-pip-version-check 'pypiserver==2.4.2'
