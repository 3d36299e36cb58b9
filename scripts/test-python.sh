#!/usr/bin/env bash
# The Python client's checks: ruff, mypy --strict, then pytest against real ternd processes.
# Creates (or reuses) the virtualenv .venv-python at the repository root with pinned tools and the
# client installed editable; a second run with the venv in place installs nothing.
#
# ternd: $TERND_BIN, else `swift build --show-bin-path`/ternd (build it first; this script never
# builds Swift). Extra arguments go to pytest, e.g. scripts/test-python.sh -k reconnect.
# The cluster tests need nats-server 2.15.1 in .venv-nats (TERN_NATS_SERVER overrides): installed
# here by scripts/install-deps.sh nats if missing; if that fails they are skipped and say why.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
client="$root/clients/python"
venv="$root/.venv-python"
python="${PYTHON:-python3}"

# Bump together with the stamp below; the stamp makes a current venv skip pip entirely.
tools=(pytest==9.2.0 pytest-asyncio==1.5.0 mypy==2.4.1 ruff==0.17.6)
stamp="$venv/.tern-tools-$(printf '%s\n' "${tools[@]}" | cksum | cut -d' ' -f1)"

if [ ! -x "$venv/bin/python" ]; then
  echo "creating $venv" >&2
  "$python" -m venv "$venv"
fi
if [ ! -e "$stamp" ] || [ "$client/pyproject.toml" -nt "$stamp" ]; then
  echo "installing ${tools[*]} and tern-client (editable) into $venv" >&2
  "$venv/bin/pip" install -q --disable-pip-version-check "${tools[@]}"
  "$venv/bin/pip" install -q --disable-pip-version-check --no-deps -e "$client"
  rm -f "$venv"/.tern-tools-*
  touch "$stamp"
fi

if [ -z "${TERND_BIN:-}" ]; then
  if command -v swift >/dev/null; then
    TERND_BIN="$(cd "$root" && swift build --show-bin-path)/ternd"
  fi
fi
if [ -z "${TERND_BIN:-}" ] || [ ! -x "$TERND_BIN" ]; then
  echo "no ternd binary: build it (swift build --product ternd) or set TERND_BIN" >&2
  exit 1
fi
export TERND_BIN

if [ -z "${TERN_NATS_SERVER:-}" ] && ! "$root/scripts/install-deps.sh" nats; then
  echo "could not install nats-server into $root/.venv-nats: tests/test_cluster.py will be skipped" >&2
fi

cd "$client"
status=0
echo "== ruff" >&2
"$venv/bin/ruff" check . ../../Benchmarks/python || status=1
"$venv/bin/ruff" format --check . ../../Benchmarks/python || status=1
echo "== mypy --strict" >&2
"$venv/bin/mypy" || status=1
echo "== pytest" >&2
nice "$venv/bin/pytest" "$@" || status=1
exit $status
