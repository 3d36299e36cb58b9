#!/usr/bin/env bash
# Installs the Debian packages Tern needs, only those that are missing. Safe to run repeatedly.
# Usage: scripts/install-deps.sh [build|test|bench]
set -euo pipefail
need=(pkg-config libsqlite3-dev libsystemd-dev)
case "${1:-build}" in
  test) need+=(python3 python3-venv) ;;
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
