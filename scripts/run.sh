#!/usr/bin/env bash
# `make run`: the main job. Starts `cfs server` (a master, a metanode and a
# datanode in one process, state in ./run/server) with the volume "default"
# mounted at ./mnt, shows a few file operations on it, and leaves it
# running: it prints how to use and stop it. RUN_ONCE=1 stops it at the end
# (by PID) instead.
set -euo pipefail
cd "$(dirname "$0")/.."
cfs=$PWD/build/release/src/cfs
run=$PWD/run
mnt=$PWD/mnt
mkdir -p "$run" "$mnt"

if mountpoint -q "$mnt"; then
  echo "$mnt is already mounted (a cfs server from an earlier make run?): stop it with"
  echo "  kill \$(cat $run/server.pid)    or    fusermount3 -u $mnt"
  exit 1
fi

"$cfs" server --dir "$run/server" --mount "$mnt" >"$run/server.log" 2>&1 &
pid=$!
echo "$pid" >"$run/server.pid"
stop() {
  kill "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
}
for _ in $(seq 1 200); do
  mountpoint -q "$mnt" && break
  if ! kill -0 "$pid" 2>/dev/null; then
    echo "cfs server did not start; its log ($run/server.log):" >&2
    tail -20 "$run/server.log" >&2
    exit 1
  fi
  sleep 0.1
done
mountpoint -q "$mnt" || { echo "no mount at $mnt after 20 s; see $run/server.log" >&2; stop; exit 1; }
if [ "${RUN_ONCE:-0}" = 1 ]; then trap stop EXIT; fi

show() { echo "\$ $*"; "$@"; }
cd "$mnt"
show df -h "$mnt"
show mkdir -p demo
show cp "$OLDPWD/README.md" demo/README.md
show sha256sum "$OLDPWD/README.md" demo/README.md
show ln -sf README.md demo/link
show ls -l demo
cd "$OLDPWD"
echo
echo "ContainerFS is mounted at $mnt (volume \"default\"; state and log in $run/)."
echo "  use it:      ls $mnt; cp -r somewhere $mnt/"
echo "  metrics:     curl http://127.0.0.1:19333/metrics"
echo "  volume:      $cfs volume info default"
if [ "${RUN_ONCE:-0}" = 1 ]; then
  echo "stopping it (RUN_ONCE=1)"
else
  echo "  stop it:     kill $pid    (unmounts $mnt; make run starts it again with the same data)"
fi
