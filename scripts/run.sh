#!/usr/bin/env bash
# `make run`: the main job, as far as ContainerFS has come. Today that is the
# datanode's storage engine and its operator tools: list the commands, then
# check the real SeaweedFS volumes in ../shared/fixtures with
# `cfs blockgroup inspect`, as an operator would after a crash.
set -euo pipefail
cd "$(dirname "$0")/.."
cfs=build/release/src/cfs
"$cfs" help
fixtures=../shared/fixtures/seaweedfs
if [ ! -d "$fixtures" ]; then
  echo
  echo "(../shared/fixtures is absent: nothing to inspect)"
  exit 0
fi
for f in healthy_volume.dat 43.dat bitrot_volume.dat; do
  echo
  echo "\$ cfs blockgroup inspect --quiet $fixtures/$f"
  "$cfs" blockgroup inspect --quiet "$fixtures/$f" || true
done
