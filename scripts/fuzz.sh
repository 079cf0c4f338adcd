#!/usr/bin/env bash
# Builds the libFuzzer targets (CMake preset "fuzz", clang) and runs each one
# for a while on a fresh copy of its committed seed corpus, so the tree stays
# clean. Exits nonzero if any target finds a crash, leak, timeout or OOM; the
# reproducer is left in build/fuzz/artifacts-<name>/.
#
# Usage: scripts/fuzz.sh [seconds-per-target]   (default: $FUZZ_SECONDS, else 60)
#
# Reproduce a finding:  build/fuzz/src/<dir>/<name>_fuzz <crash-file>
# Keep new coverage (edges only, so the committed corpus stays small):
#   build/fuzz/src/datanode/<name>_fuzz -merge=1 -use_counters=0 \
#     src/datanode/testdata/fuzz/<name> build/fuzz/corpus-<name>
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
seconds=${1:-${FUZZ_SECONDS:-60}}
if ! [[ "$seconds" =~ ^[0-9]+$ ]] || [ "$seconds" -eq 0 ]; then
  echo "fuzz.sh: seconds must be a positive integer, got '$seconds'" >&2
  exit 2
fi
# name -> folder of its target and seed corpus
declare -A dirs=([needle]=src/datanode [idx]=src/datanode [frame]=src/rpc [wal]=src/raft [meta]=src/metanode)
targets=(needle idx frame wal meta)

cd "$root"
cmake --preset fuzz >/dev/null
cmake --build build/fuzz --target "${targets[@]/%/_fuzz}"

failed=()
for name in "${targets[@]}"; do
  corpus=build/fuzz/corpus-$name
  artifacts=build/fuzz/artifacts-$name
  log=build/fuzz/fuzz-$name.log
  rm -rf "$corpus" "$artifacts"
  mkdir -p "$corpus" "$artifacts"
  cp "${dirs[$name]}"/testdata/fuzz/"$name"/* "$corpus"/

  echo "== ${name}_fuzz: ${seconds}s on $corpus (log: $log)"
  rc=0
  build/fuzz/"${dirs[$name]}"/"${name}"_fuzz \
    -max_total_time="$seconds" -max_len=65536 -timeout=10 -rss_limit_mb=2048 \
    -print_final_stats=1 -artifact_prefix="$artifacts/" "$corpus" >"$log" 2>&1 || rc=$?
  grep -E '^(Done|stat::number_of_executed_units|stat::average_exec_per_sec|stat::new_units_added|stat::peak_rss_mb)' "$log" || true
  if [ "$rc" -ne 0 ]; then
    echo "!! ${name}_fuzz failed (exit $rc); the end of its log:" >&2
    tail -n 40 "$log" >&2
    ls -l "$artifacts" >&2 || true
    failed+=("$name")
  fi
done

if [ "${#failed[@]}" -gt 0 ]; then
  echo "fuzz.sh: FAILED: ${failed[*]}" >&2
  exit 1
fi
echo "fuzz.sh: all targets ran ${seconds}s without a finding"
