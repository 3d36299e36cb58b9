#!/usr/bin/env bash
# Checks the unit files in this folder the way CI needs them checked:
#  1. `systemd-analyze verify` on all units. It exits 0 even on parse errors ("Failed to parse
#     ..., ignoring"), so ANY output on stderr is a failure.
#  2. `systemd-analyze security --offline=true ternd.service`: the exposure score must be at
#     most MAX_EXPOSURE (default 2.0).
#  3. With a ternd binary: every TERND_* in ternd.env names a ternd flag, and every flag has a
#     TERND_* line, so the example environment file cannot drift from the daemon. Not settings:
#     --help, --version, --check-config, --config (the file itself) and --twilio-limits (a flag
#     without a value, which TERND_* cannot set; ternd.env spells out its two settings). And all
#     example values, uncommented, pass `ternd --config FILE --check-config`.
# Usage: systemd/check-units.sh [path/to/ternd]
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
ternd="${1:-}"
max_exposure="${MAX_EXPOSURE:-2.0}"
units=(ternd.service ternd-data.socket ternd-data-unix.socket ternd-control.socket)

command -v systemd-analyze >/dev/null || { echo "check-units: systemd-analyze not found (apt-get install systemd)" >&2; exit 1; }
work="$(mktemp -d /tmp/ternd-units-XXXXXX)"
trap 'rm -rf "$work"' EXIT

# verify checks that ExecStart= is executable: point it at a binary that exists on this machine.
exec_start="/usr/bin/true"
if [ -n "$ternd" ]; then exec_start="$(cd "$(dirname "$ternd")" && pwd)/$(basename "$ternd")"; fi
for unit in "${units[@]}"; do cp "$here/$unit" "$work/$unit"; done
sed -i "s|^ExecStart=[^ ]*|ExecStart=$exec_start|" "$work/ternd.service"

echo "== systemd-analyze verify (ExecStart=$exec_start)"
(cd "$work" && systemd-analyze verify "${units[@]}") >"$work/verify.out" 2>"$work/verify.err" || {
    cat "$work/verify.out" "$work/verify.err" >&2; echo "check-units: verify failed" >&2; exit 1; }
if [ -s "$work/verify.err" ]; then
    cat "$work/verify.err" >&2
    echo "check-units: systemd-analyze verify wrote to stderr (it exits 0 on parse errors): failing" >&2
    exit 1
fi
echo "ok: ${units[*]}"

echo "== systemd-analyze security --offline=true ternd.service"
(cd "$work" && systemd-analyze security --offline=true --no-pager ternd.service) >"$work/security.out" 2>"$work/security.err" || true
grep -E '^✗' "$work/security.out" || true
score="$(sed -n 's/.*Overall exposure level for ternd.service: \([0-9.]*\).*/\1/p' "$work/security.out")"
if [ -z "$score" ]; then
    cat "$work/security.out" "$work/security.err" >&2
    echo "check-units: no exposure score in the output" >&2
    exit 1
fi
echo "exposure score: $score (must be <= $max_exposure)"
awk -v s="$score" -v m="$max_exposure" 'BEGIN { exit !(s + 0 <= m + 0) }' || {
    echo "check-units: ternd.service exposure $score is above $max_exposure" >&2; exit 1; }

if [ -n "$ternd" ]; then
    echo "== ternd.env against \`$ternd --help\`"
    flags="$("$ternd" --help | grep -oE '^  --[a-z][a-z0-9-]*' | sed 's/^  --//' | grep -vxE 'help|version|check-config|config|twilio-limits' | sort -u)"
    variables="$(grep -oE '^#?TERND_[A-Z0-9_]+=' "$here/ternd.env" | sed -E 's/^#?TERND_//; s/=$//' | tr 'A-Z_' 'a-z-' | sort -u)"
    missing="$(comm -23 <(echo "$flags") <(echo "$variables"))"
    unknown="$(comm -13 <(echo "$flags") <(echo "$variables"))"
    [ -z "$missing" ] || echo "check-units: ternd.env lacks TERND_ lines for: $missing" >&2
    [ -z "$unknown" ] || echo "check-units: ternd.env sets TERND_ variables ternd has no flag for: $unknown" >&2
    [ -z "$missing$unknown" ] || exit 1
    echo "ok: every flag has a TERND_* line"
    # The example values themselves must be valid: uncomment them all and ask ternd.
    sed 's/^#TERND_/TERND_/' "$here/ternd.env" > "$work/all-examples.env"
    "$ternd" --config "$work/all-examples.env" --check-config || {
        echo "check-units: the example values in ternd.env do not pass ternd --check-config" >&2; exit 1; }
fi
