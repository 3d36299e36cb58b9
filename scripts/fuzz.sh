#!/usr/bin/env bash
# Builds the libFuzzer targets of Fuzz/ and runs each for a bounded time (Fuzz/README.md).
# Usage: scripts/fuzz.sh [seconds per target, default 60] [target…]   targets: frames json forms session
#
# For each target: replays every file of Fuzz/Regressions/<target>/ (any failure fails the
# script), then fuzzes for the given seconds from a scratch corpus in .build-fuzz/corpus/<target>
# seeded from Fuzz/Corpus/<target> (which is only read), and prints executions and coverage.
# A crash fails the script; its input is kept in .build-fuzz/crashes/<target>/ and copied to
# Fuzz/Regressions/<target>/, so it is replayed from then on (minimise it, fix, commit both).
# Environment: SWIFT (swift), FUZZ_SCRATCH (.build-fuzz), FUZZ_FLAGS (extra libFuzzer flags),
# FUZZ_UNIT_TIMEOUT (seconds one input may take, wall clock, default 30: on a machine loaded far
# past its cores a 50 ms input once took 15 s, and 10 s reported false hangs).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
swift="${SWIFT:-swift}"
scratch="${FUZZ_SCRATCH:-$root/.build-fuzz}"
seconds="${1:-60}"
shift || true
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(frames json forms session)

declare -A product=([frames]=FuzzFrames [json]=FuzzJSON [forms]=FuzzForms [session]=FuzzSession)
# Longest input per target: a maximal default frame (8 + 8192 bytes) and its settings byte;
# JSON payloads up to max_payload (4096); form fields, where longer inputs add no new paths;
# session scripts of up to 256 steps.
declare -A max_len=([frames]=8201 [json]=4096 [forms]=1024 [session]=2048)
for target in "${targets[@]}"; do
  [ -n "${product[$target]:-}" ] || { echo "unknown fuzz target '$target' (frames, json, forms, session)" >&2; exit 2; }
done

build=("$swift" build -c release --package-path "$root/Fuzz" --scratch-path "$scratch/build"
  -Xswiftc -sanitize=fuzzer,address -Xswiftc -g)
"${build[@]}"
bin="$("${build[@]}" --show-bin-path)"

# Swift's own crash backtracer would take the signal first and spend seconds symbolicating;
# libFuzzer's handler must see it to save the input.
export SWIFT_BACKTRACE=enable=no
# No allocation stack traces: recording one per malloc cost the session target a third of its
# executions. A crash's input is kept either way; replay it with full traces to debug it.
export ASAN_OPTIONS="${ASAN_OPTIONS:-malloc_context_size=0}"
summary=()
failed=0
for target in "${targets[@]}"; do
  exe="$bin/${product[$target]}"
  regressions="$root/Fuzz/Regressions/$target"
  crashes="$scratch/crashes/$target"
  corpus="$scratch/corpus/$target"
  log="$scratch/logs/$target.log"
  mkdir -p "$regressions" "$crashes" "$corpus" "$(dirname "$log")"

  mapfile -t replay < <(find "$regressions" -type f ! -name '.*' ! -name '*.md' | sort)
  if [ ${#replay[@]} -gt 0 ]; then
    echo "== $target: replaying ${#replay[@]} regression input(s)"
    if ! "$exe" -runs=1 "${replay[@]}" >"$scratch/logs/$target-regressions.log" 2>&1; then
      tail -n 40 "$scratch/logs/$target-regressions.log" >&2
      input="$(grep -a '^Running: ' "$scratch/logs/$target-regressions.log" | tail -n 1 | cut -c10-)"
      echo "== $target: regression input ${input:-?} fails (log: $scratch/logs/$target-regressions.log)" >&2
      failed=1
      summary+=("$target: REGRESSION FAILS")
      continue
    fi
  fi

  echo "== $target: fuzzing for ${seconds}s (log: $log)"
  set +e
  nice "$exe" "$corpus" "$root/Fuzz/Corpus/$target" \
    -dict="$root/Fuzz/Dictionaries/$target.dict" -max_len="${max_len[$target]}" \
    -max_total_time="$seconds" -timeout="${FUZZ_UNIT_TIMEOUT:-30}" -print_final_stats=1 -artifact_prefix="$crashes/" \
    ${FUZZ_FLAGS:-} >"$log" 2>&1
  status=$?
  set -e
  grep -a -E '^#[0-9]+[[:space:]]+(INITED|DONE)|^Done|^stat::' "$log" || true
  last="$(grep -a -E '^#[0-9]+' "$log" | tail -n 1)"
  runs="$(grep -a '^stat::number_of_executed_units' "$log" | awk '{print $2}')"
  rate="$(grep -a '^stat::average_exec_per_sec' "$log" | awk '{print $2}')"
  cov="$(sed -n 's/.* cov: \([0-9]*\).*/\1/p' <<<"$last")"
  ft="$(sed -n 's/.* ft: \([0-9]*\).*/\1/p' <<<"$last")"
  corp="$(sed -n 's/.* corp: \([0-9]*\/[0-9A-Za-z]*\).*/\1/p' <<<"$last")"
  if [ "$status" -ne 0 ]; then
    failed=1
    grep -a -E 'ERROR|Fatal error|invariant broken|SUMMARY' "$log" | head -n 5 >&2 || true
    for input in "$crashes"/*; do
      [ -f "$input" ] || continue
      cp -n "$input" "$regressions/"
      echo "== $target: kept $input, copied to Fuzz/Regressions/$target/ (minimise: $exe -minimize_crash=1 -runs=100000 $input)" >&2
    done
    summary+=("$target: FAILED (exit $status) after ${runs:-?} runs; see $log")
  else
    summary+=("$target: ${seconds}s, ${runs:-?} runs, ${rate:-?} exec/s, cov: ${cov:-?} ft: ${ft:-?} corp: ${corp:-?}")
  fi
done

echo "== summary"
printf '%s\n' "${summary[@]}"
exit "$failed"
