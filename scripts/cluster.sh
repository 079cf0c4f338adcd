#!/usr/bin/env bash
# A 3-node cluster on one machine: node i (1-3) on 127.0.0.i runs a master
# (the three form one Raft group), a metanode and a datanode; the volume
# "v3" has 3 replicas of its metadata and of its data (placement 002: three
# copies in one rack; CFS_DATA_REPLICATION=001 for two), and is mounted at
# ./mnt3. State and logs in
# ./run/cluster3/.
#
#   scripts/cluster.sh start     start it (builds nothing: run `make build` first)
#   scripts/cluster.sh stop      unmount and stop every process it started (by PID)
#   scripts/cluster.sh status    the volume and the cluster
#
# CFS_METANODE_ARGS: extra flags for the three metanodes (e.g. "--threads 1").
set -euo pipefail
cd "$(dirname "$0")/.."
cfs=$PWD/build/release/src/cfs
dir=$PWD/run/cluster3
mnt=$PWD/mnt3
peers=127.0.0.1:9333,127.0.0.2:9333,127.0.0.3:9333

start() {
  [ -x "$cfs" ] || { echo "no $cfs: run make build first" >&2; exit 1; }
  if [ -f "$dir/pids" ]; then echo "already started (scripts/cluster.sh stop first)" >&2; exit 1; fi
  mkdir -p "$dir" "$mnt"
  : >"$dir/pids"
  for i in 1 2 3; do
    "$cfs" master --dir "$dir/master$i" --addr "127.0.0.$i:9333" --peers $peers --heartbeat-interval-ms 1000 \
      >"$dir/master$i.log" 2>&1 &
    echo $! >>"$dir/pids"
  done
  for i in 1 2 3; do
    "$cfs" datanode --dir "$dir/datanode$i" --addr "127.0.0.$i:8080" --master $peers --max-block-groups 16 \
      --heartbeat-interval-ms 1000 >"$dir/datanode$i.log" 2>&1 &
    echo $! >>"$dir/pids"
    "$cfs" metanode --dir "$dir/metanode$i" --addr "127.0.0.$i:9400" --master $peers ${CFS_METANODE_ARGS:-} >"$dir/metanode$i.log" 2>&1 &
    echo $! >>"$dir/pids"
  done
  # The masters elect a leader and the metanodes register: retry for 60 s.
  for _ in $(seq 1 300); do
    "$cfs" volume info v3 --master $peers >/dev/null 2>&1 && break
    "$cfs" volume create v3 --replicas 3 --master $peers >/dev/null 2>&1 && break
    sleep 0.2
  done
  "$cfs" volume info v3 --master $peers
  "$cfs" mount --master $peers --volume v3 --replication "${CFS_DATA_REPLICATION:-002}" "$mnt" >"$dir/mount.log" 2>&1 &
  echo $! >"$dir/mount.pid"
  for _ in $(seq 1 100); do mountpoint -q "$mnt" && break; sleep 0.1; done
  mountpoint -q "$mnt" || { echo "mount failed; see $dir/mount.log" >&2; tail -5 "$dir/mount.log" >&2; exit 1; }
  echo "volume v3 (3 replicas) mounted at $mnt; stop with: scripts/cluster.sh stop"
}

stop() {
  if [ -f "$dir/mount.pid" ]; then
    kill "$(cat "$dir/mount.pid")" 2>/dev/null || true
    for _ in $(seq 1 100); do mountpoint -q "$mnt" || break; sleep 0.1; done
    rm -f "$dir/mount.pid"
  fi
  if [ -f "$dir/pids" ]; then
    while read -r p; do kill "$p" 2>/dev/null || true; done <"$dir/pids"
    # Wait for them to exit, so a start right after finds the ports free.
    while read -r p; do
      for _ in $(seq 1 100); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
    done <"$dir/pids"
    rm -f "$dir/pids"
  fi
  echo "stopped (state kept in $dir; remove it for a fresh cluster)"
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  status) "$cfs" volume info v3 --master $peers; "$cfs" cluster status --master $peers ;;
  *) echo "usage: $0 start|stop|status" >&2; exit 2 ;;
esac
