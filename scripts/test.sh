#!/usr/bin/env bash
# Runs every test: unit, property, end-to-end (real bintrail processes on 127.0.0.1)
# and interop tests against reference implementations. scripts/setup.sh installs what they need.
set -euo pipefail
cd "$(dirname "$0")/.."

missing=()
[ -x /usr/lib/go-1.23/bin/go ] || missing+=("Go 1.23 (/usr/lib/go-1.23/bin/go)")
[ -d /usr/share/gocode/src/golang.org/x/mod/sumdb ] || missing+=("Go x/mod sources (/usr/share/gocode/src/golang.org/x/mod)")
command -v sigsum-witness >/dev/null || missing+=("sigsum-witness (Debian package sigsum-go)")
command -v pypi-server >/dev/null || missing+=("pypiserver (pypi-server, for the monitor's registry test)")
command -v curl >/dev/null || missing+=("curl (the README's add recipe)")
command -v jq >/dev/null || missing+=("jq (the README's add recipe)")
command -v systemd-analyze >/dev/null || missing+=("systemd-analyze (Debian package systemd, checks deploy/bintrail.service)")
command -v python3 >/dev/null || missing+=("python3 (builds test wheels)")
[ -x /opt/bintrail-test-venv/bin/uv ] || missing+=("pip 26 and uv in /opt/bintrail-test-venv (installers for the proxy tests)")
[ -f "${BINTRAIL_PYPI_FIXTURES:-/var/cache/bintrail-tests/pypi}/.complete-v1" ] || missing+=("pinned PyPI distributions in ${BINTRAIL_PYPI_FIXTURES:-/var/cache/bintrail-tests/pypi}")
[ -f "${BINTRAIL_PYPI_FIXTURES:-/var/cache/bintrail-tests/pypi}/attestations/.complete-v1" ] || missing+=("pypi-attestations 0.0.31 test assets in ${BINTRAIL_PYPI_FIXTURES:-/var/cache/bintrail-tests/pypi}/attestations")
[ -x /usr/lib/postgresql/15/bin/initdb ] && [ -x /usr/lib/postgresql/15/bin/pg_ctl ] || missing+=("PostgreSQL 15 server (Debian package postgresql: initdb, pg_ctl)")
[ -x /opt/garage/bin/garage ] || missing+=("Garage 2.5.0 (/opt/garage/bin/garage, the S3-compatible test server)")
if [ ${#missing[@]} -gt 0 ]; then
  echo "scripts/test.sh: missing test prerequisites: ${missing[*]}" >&2
  echo "scripts/test.sh: run scripts/setup.sh first (it installs them on Debian bookworm)." >&2
  exit 2
fi

cargo test --workspace --locked "$@"
