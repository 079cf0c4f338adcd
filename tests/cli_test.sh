#!/usr/bin/env bash
# Runs the real `cfs` binary: the command table, help, and `cfs blockgroup
# inspect|fix` on the SeaweedFS fixtures in ../shared (skipped if absent).
# Usage: cli_test.sh PATH/TO/cfs SHARED_DIR
set -uo pipefail
cfs=$1
shared=$2
fail=0
check() {  # check "what" expected_exit cmd...
  local what=$1 want=$2
  shift 2
  out=$("$@" 2>&1)
  got=$?
  if [ "$got" != "$want" ]; then
    echo "FAIL: $what: exit $got, want $want"; echo "$out" | head -20; fail=1
  else
    echo "ok: $what"
  fi
}
contains() {  # contains "what" "needle"   (on $out)
  if ! grep -qF -- "$2" <<<"$out"; then echo "FAIL: $1: output lacks '$2'"; echo "$out" | head -20; fail=1; fi
}

check "cfs help" 0 "$cfs" help
contains "help lists inspect" "blockgroup inspect"
contains "help lists fix" "blockgroup fix"
check "cfs with no command prints the table" 0 "$cfs"
contains "bare cfs" "commands:"
check "cfs help blockgroup inspect" 0 "$cfs" help blockgroup inspect
contains "inspect usage" "--offset-bytes"
check "cfs blockgroup inspect --help" 0 "$cfs" blockgroup inspect --help
contains "inspect --help" "--idx"
check "cfs help nosuch" 2 "$cfs" help nosuch
check "--log-level after the subcommand" 0 "$cfs" blockgroup inspect --help --log-level warn
check "missing file is a usage error" 2 "$cfs" blockgroup inspect /nonexistent.dat
contains "missing file" "File does not exist"
check "unknown option is a usage error" 2 "$cfs" blockgroup inspect --bogus x

fx=$shared/fixtures/seaweedfs
if [ ! -d "$fx" ]; then
  echo "SKIP: $fx absent (../shared not beside the checkout): fixture checks not run"
  exit $fail
fi
check "healthy volume is clean" 0 "$cfs" blockgroup inspect "$fx/healthy_volume.dat"
contains "healthy summary" "17 needle(s), 10 tombstone(s)"
contains "healthy index" "27 entries, 10 deletions, 7 live"
check "43.dat is clean" 0 "$cfs" blockgroup inspect "$fx/43.dat"
contains "43.dat name" 'name="Stickies.app.zip"'
check "empty volume is clean" 0 "$cfs" blockgroup inspect "$fx/empty_volume.dat"
check "simple_index.idx is clean" 0 "$cfs" blockgroup inspect "$fx/simple_index.idx"
contains "simple_index entries" "161 entries"
check "deleted_files.idx is clean" 0 "$cfs" blockgroup inspect "$fx/deleted_files.idx"
contains "deleted_files entries" "230 entries (4-byte offsets), 76 deletions"
check "187.idx with 5-byte offsets is clean" 0 "$cfs" blockgroup inspect --offset-bytes 5 "$fx/187.idx"
contains "187 entries" "60527 entries"
check "bitrot volume has problems" 1 "$cfs" blockgroup inspect --quiet "$fx/bitrot_volume.dat"
contains "bitrot needle 3" "stored 4af853fb"
contains "bitrot needle 30" "stored 5077fea1"
contains "bitrot trailing byte" "1 trailing byte(s)"
contains "bitrot count" "3 problem(s)"
n=$(grep -c '^PROBLEM' <<<"$out")
[ "$n" = 3 ] || { echo "FAIL: bitrot: $n problems, want exactly 3"; fail=1; }

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cp "$fx/healthy_volume.dat" "$tmp/1.dat"
check "fix rebuilds a missing index" 0 "$cfs" blockgroup fix "$tmp/1.dat"
contains "fix count" "with 27 entries"
check "rebuilt index checks clean" 0 "$cfs" blockgroup inspect "$tmp/1.dat"
cmp -s "$tmp/1.idx" "$fx/healthy_volume.idx" || { echo "FAIL: rebuilt index differs from SeaweedFS's"; fail=1; }
exit $fail
