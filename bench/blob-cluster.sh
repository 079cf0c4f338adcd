#!/usr/bin/env bash
# Starts a local cluster (one master, DATANODES datanodes on 127.0.0.x, one
# rack), runs `cfs bench blob` against it with the given arguments, and stops
# the cluster by PID.
# Usage: bench/blob-cluster.sh [cfs bench blob args...]
#   e.g. bench/blob-cluster.sh -n 100000 -c 16 --size 1024 --replication 001
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cfs=${CFS_BIN:-$root/build/release/src/cfs}
nodes=${DATANODES:-2}
dir=$(mktemp -d /tmp/cfs-bench-XXXXXX)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  rm -rf "$dir"
}
trap cleanup EXIT
"$cfs" master --dir "$dir/m" --addr 127.0.0.1:19333 --http off --log-level warn --threads "${SERVER_THREADS:-1}" >"$dir/m.log" 2>&1 &
pids+=($!)
for i in $(seq 1 "$nodes"); do
  "$cfs" datanode --dir "$dir/d$i" --addr "127.0.0.$i:18080" --master 127.0.0.1:19333 --max-block-groups 20 \
    --http off --heartbeat-interval-ms 500 --log-level warn --threads "${SERVER_THREADS:-1}" >"$dir/d$i.log" 2>&1 &
  pids+=($!)
done
for _ in $(seq 1 100); do
  alive=$("$cfs" cluster status --json --master 127.0.0.1:19333 2>/dev/null | grep -o '"alive":true' | wc -l || true)
  [ "$alive" -ge "$nodes" ] && break
  sleep 0.1
done
"$cfs" bench blob --master 127.0.0.1:19333 "$@"
