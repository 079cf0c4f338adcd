#!/usr/bin/env bash
# `make run`: the main job, as far as ContainerFS has come. Today that is the
# replicated blob store: start a master and three datanodes on 127.0.0.1-3
# (data in ./run/), store a file with 2 copies, read it back, show the
# cluster, check the block group files on disk, and stop everything by PID.
# Leave it running with KEEP=1 (it prints how to stop it).
set -euo pipefail
cd "$(dirname "$0")/.."
cfs=$PWD/build/release/src/cfs
run=$PWD/run
mkdir -p "$run"
pids=()
stop() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
}
if [ "${KEEP:-0}" != 1 ]; then trap stop EXIT; fi

master=127.0.0.1:9333
"$cfs" master --dir "$run/master" --addr $master >"$run/master.log" 2>&1 &
pids+=($!)
for i in 1 2 3; do
  "$cfs" datanode --dir "$run/datanode$i" --addr "127.0.0.$i:8080" --master $master \
    --rack "rack$(( (i + 1) / 2 ))" --max-block-groups 8 --heartbeat-interval-ms 1000 >"$run/datanode$i.log" 2>&1 &
  pids+=($!)
done
echo "started master $master and datanodes 127.0.0.1-3:8080 (pids ${pids[*]}; logs in run/)"
for _ in $(seq 1 100); do
  [ "$("$cfs" cluster status --json 2>/dev/null | grep -o '"alive":true' | wc -l)" -ge 3 ] && break
  sleep 0.1
done

echo; echo "\$ cfs blob put README.md --replication 001"
fid=$("$cfs" blob put README.md --replication 001 | cut -f1)
echo "$fid	README.md"
echo; echo "\$ cfs blob get $fid | sha256sum   (and the original)"
"$cfs" blob get "$fid" | sha256sum
sha256sum README.md
echo; echo "\$ cfs cluster status"
"$cfs" cluster status
group=${fid%%,*}
echo; echo "\$ cfs blockgroup inspect --quiet run/datanode*/$group.dat   (the copies on disk)"
for d in "$run"/datanode*; do
  [ -f "$d/$group.dat" ] && "$cfs" blockgroup inspect --quiet "$d/$group.dat" | tail -2
done
echo
echo "metrics: curl http://127.0.0.1:19333/metrics   status: curl http://127.0.0.1:19333/status"
if [ "${KEEP:-0}" = 1 ]; then
  echo "left running; stop it with: kill ${pids[*]}"
else
  echo "stopping the cluster (KEEP=1 make run leaves it running)"
fi
