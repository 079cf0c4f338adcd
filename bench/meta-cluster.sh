#!/usr/bin/env bash
# Starts a local cluster (one master, METANODES metanodes on 127.0.0.x, a
# volume with REPLICAS replicas), runs `cfs bench meta` against it with the
# given arguments (files are kept), then SIGKILLs every metanode, starts them
# again and reports how long until a file of the benchmark's directory is
# served again; stops everything by PID.
# Usage: bench/meta-cluster.sh [cfs bench meta args...]
#   e.g. bench/meta-cluster.sh -n 1000000 -c 64
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cfs=${CFS_BIN:-$root/build/release/src/cfs}
nodes=${METANODES:-3}
replicas=${REPLICAS:-3}
dir=$(mktemp -d /tmp/cfs-bench-XXXXXX)
pids=()
mpids=()
cleanup() {
  for p in "${mpids[@]}" "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${mpids[@]}" "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  rm -rf "$dir"
}
trap cleanup EXIT
master=127.0.0.1:19333
"$cfs" master --dir "$dir/m" --addr $master --http off --log-level warn >"$dir/m.log" 2>&1 &
pids+=($!)
start_metanodes() {
  mpids=()
  for i in $(seq 1 "$nodes"); do
    "$cfs" metanode --dir "$dir/mn$i" --addr "127.0.0.$i:19400" --master $master --http off \
      --heartbeat-interval-ms 500 --log-level warn >>"$dir/mn$i.log" 2>&1 &
    mpids+=($!)
  done
}
start_metanodes
# The master elects itself and the metanodes register: retry for up to 30 s.
for _ in $(seq 1 150); do
  "$cfs" volume create bench --replicas "$replicas" --master $master >/dev/null 2>&1 && break
  sleep 0.2
done
"$cfs" volume info bench --master $master >/dev/null
"$cfs" bench meta --master $master --volume bench --keep --dir b "$@"
for p in "${mpids[@]}"; do kill -9 "$p"; wait "$p" 2>/dev/null || true; done
t0=$(date +%s.%N)
start_metanodes
until "$cfs" meta stat --master $master --volume bench /b/f00000000 >/dev/null 2>&1; do sleep 0.02; done
t1=$(date +%s.%N)
echo "restart: all $nodes metanodes SIGKILLed and started again; /b/f00000000 served $(awk "BEGIN { printf \"%.2f\", $t1 - $t0 }") s after the start"
