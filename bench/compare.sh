#!/usr/bin/env bash
# compare.sh MOUNT [OUT.json] — ContainerFS beside MooseFS 3.0 and the local disk.
#
# Runs ../shared/bench/peer-bench.sh (relative to the repository) on
#   cfs      MOUNT, a directory on a ContainerFS mount
#   moosefs  a local MooseFS cluster (1 master, 3 chunkservers, goal 2), brought
#            up with moosefs-up.sh beside peer-bench.sh and, if this script
#            brought it up, taken down with moosefs-down.sh on any exit
#   local    a temporary directory under $COMPARE_LOCAL_DIR (default /var/tmp)
# then prints one row per metric with the three systems and cfs/moosefs, and
# writes everything (every pass's full peer-bench JSON and the medians) to
# OUT.json (default ./compare.json).
#
# Environment:
#   COMPARE_PASSES=N        passes (default 1). With N > 1 the systems run
#                           interleaved (pass i starts at system i mod 3) and the
#                           table shows medians; the JSON keeps min and max.
#   COMPARE_SKIP_MOOSEFS=1  leave MooseFS out      COMPARE_SKIP_LOCAL=1  leave the local disk out
#   COMPARE_LOCAL_DIR=DIR   where the local-disk leg runs (default /var/tmp)
#   COMPARE_PEER_DIR=DIR    where peer-bench.sh lives (default REPO/../shared/bench)
#   PEERBENCH_*             passed through to peer-bench.sh (sizes, run time),
#                           e.g. PEERBENCH_SEQ_SIZE=64m PEERBENCH_RUNTIME=3
#   MFSBENCH_*              passed through to moosefs-up.sh / moosefs-down.sh
# Needs root for MooseFS (network namespace, FUSE) and for dropping the page
# cache between write and read phases; Debian's fio and /usr/bin/python3.
# The machine is shared: check the load averages printed under the table.
set -euo pipefail

usage() { sed -n '2,27p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2; }
[[ $# -ge 1 && $# -le 2 ]] || usage
[[ $1 == -h || $1 == --help ]] && usage
MOUNT=$1
OUT=${2:-./compare.json}
[[ -d $MOUNT ]] || { echo "compare: not a directory: $MOUNT" >&2; exit 2; }
MOUNT=$(cd "$MOUNT" && pwd -P)

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
PEER_DIR=${COMPARE_PEER_DIR:-$REPO/../shared/bench}
PEER_DIR=$(cd "$PEER_DIR" && pwd)
PEER=$PEER_DIR/peer-bench.sh
PASSES=${COMPARE_PASSES:-1}
SKIP_MOOSEFS=${COMPARE_SKIP_MOOSEFS:-0}
SKIP_LOCAL=${COMPARE_SKIP_LOCAL:-0}
LOCAL_BASE=${COMPARE_LOCAL_DIR:-/var/tmp}
PY=/usr/bin/python3
# peer-bench.sh runs "python3": make it Debian's
export PATH=/usr/bin:/usr/sbin:/bin:/sbin:$PATH

log() { echo "[compare] $*" >&2; }
die() { log "ERROR: $*"; exit 1; }

[[ $PASSES =~ ^[1-9][0-9]*$ ]] || die "COMPARE_PASSES must be a positive integer, not '$PASSES'"
[[ -x $PEER ]] || die "missing $PEER"
[[ -x $PY ]] || die "missing $PY"
command -v fio >/dev/null || die "missing fio (apt-get install fio)"
if [[ $SKIP_MOOSEFS != 1 ]]; then
  [[ $(id -u) == 0 ]] || die "MooseFS needs root (or set COMPARE_SKIP_MOOSEFS=1)"
  [[ -x $PEER_DIR/moosefs-up.sh && -x $PEER_DIR/moosefs-down.sh ]] || die "missing moosefs-up.sh/moosefs-down.sh in $PEER_DIR"
fi
MFS_BASE=${MFSBENCH_BASE:-/tmp/mfsbench}

WORK=$(mktemp -d "${TMPDIR:-/tmp}/cfs-compare.XXXXXX")   # per-run JSON
LOCAL_DIR=
MFS_STARTED=0
cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  if ((MFS_STARTED)); then
    log "stopping MooseFS"
    "$PEER_DIR/moosefs-down.sh" >&2 || log "moosefs-down.sh failed (rc $?): check $MFS_BASE/run"
  fi
  [[ -n $LOCAL_DIR ]] && rm -rf -- "$LOCAL_DIR"
  rm -rf -- "$WORK"
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# --- the systems -------------------------------------------------------------
declare -A DIR
SYSTEMS=(cfs)
DIR[cfs]=$MOUNT
if [[ $SKIP_MOOSEFS != 1 ]]; then
  if awk -v m="$MFS_BASE/mnt" '$2==m && $3 ~ /^fuse/ {f=1} END{exit !f}' /proc/mounts; then
    log "MooseFS is already mounted at $MFS_BASE/mnt: using it, and leaving it up afterwards"
  else
    MFS_STARTED=1   # set first, so a half-started cluster is taken down too
  fi
  log "bringing up MooseFS (moosefs-up.sh)"
  # setsid: the daemons get a session of their own, so a Ctrl-C meant for this
  # script does not reach them; the EXIT trap stops them in order (unmount,
  # chunkservers, master) with moosefs-down.sh
  DIR[moosefs]=$(setsid -w "$PEER_DIR/moosefs-up.sh" | tail -n 1)
  [[ -d ${DIR[moosefs]} ]] || die "moosefs-up.sh printed no benchmark directory"
  SYSTEMS+=(moosefs)
fi
if [[ $SKIP_LOCAL != 1 ]]; then
  LOCAL_DIR=$(mktemp -d "$LOCAL_BASE/cfs-compare-local.XXXXXX")
  DIR[local]=$LOCAL_DIR
  SYSTEMS+=(local)
fi
fstype() { findmnt -n -o FSTYPE -T "$1" 2>/dev/null | awk 'NR==1' || true; }
case $(fstype "$MOUNT") in
  fuse*) ;;
  *) log "note: $MOUNT is on $(fstype "$MOUNT"), not a FUSE mount; the 'cfs' column measures that" ;;
esac

# --- the passes --------------------------------------------------------------
N=${#SYSTEMS[@]}
for ((p = 1; p <= PASSES; p++)); do
  for ((k = 0; k < N; k++)); do
    sys=${SYSTEMS[(p - 1 + k) % N]}
    log "pass $p/$PASSES: $sys at ${DIR[$sys]} (load $(cut -d' ' -f1 /proc/loadavg))"
    "$PEER" "${DIR[$sys]}" "$WORK/$sys.$p.json" >&2 || die "peer-bench.sh failed on $sys (${DIR[$sys]})"
  done
done

# --- table and JSON ----------------------------------------------------------
"$PY" - "$WORK" "$OUT" "$PASSES" "${SYSTEMS[*]}" <<'EOF'
import glob, json, os, statistics, sys, time

work, out, passes, systems = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4].split()
COLUMNS = ["cfs", "moosefs", "local"]
LABELS = [("seq_write", "seq write 1M (end_fsync)"), ("seq_read", "seq read 1M"),
          ("rand_write", "4K rand write (end_fsync)"), ("rand_read", "4K rand read"),
          ("md_create", "create (empty files)"), ("md_stat", "stat"), ("md_list", "list (entries/s)"),
          ("md_unlink", "unlink"), ("small_write", "small write 4K (+syncfs)"), ("small_read", "small read 4K")]

runs = {s: [] for s in systems}
for s in systems:
    for p in range(1, passes + 1):
        with open(os.path.join(work, "%s.%d.json" % (s, p))) as f:
            runs[s].append(json.load(f))

keys = [k for k, _ in LABELS]
for s in systems:
    for k in runs[s][0]["tests"]:
        if k not in keys:
            keys.append(k)
label = dict(LABELS)

summary = {}
for k in keys:
    row = {"label": label.get(k, k)}
    for s in systems:
        vals = [r["tests"][k]["value"] for r in runs[s] if k in r["tests"]]
        if not vals:
            continue
        row["unit"] = runs[s][0]["tests"][k]["unit"]
        row[s] = {"median": statistics.median(vals), "min": min(vals), "max": max(vals), "n": len(vals),
                  "loadavg_before": [r["tests"][k]["loadavg_before"] for r in runs[s] if k in r["tests"]]}
    if "cfs" in row and "moosefs" in row and row["moosefs"]["median"]:
        row["ratio_cfs_moosefs"] = round(row["cfs"]["median"] / row["moosefs"]["median"], 3)
    summary[k] = row

doc = {"tool": "bench/compare.sh", "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
       "passes": passes, "order": [[systems[(p + k) % len(systems)] for k in range(len(systems))]
                                   for p in range(passes)],
       "peerbench_env": {k: v for k, v in os.environ.items() if k.startswith("PEERBENCH_")},
       "systems": {s: {"target": runs[s][0]["target"], "fstype": runs[s][0]["fstype"],
                       "source": runs[s][0]["source"], "runs": runs[s]} for s in systems},
       "summary": summary}
with open(out, "w") as f:
    json.dump(doc, f, indent=1)
    f.write("\n")

cols = [c for c in COLUMNS if c in systems]
head = "%-27s %-7s" % ("metric", "unit") + "".join("%12s" % c for c in cols)
if "cfs" in cols and "moosefs" in cols:
    head += "%13s" % "cfs/moosefs"
print(("medians of %d passes" % passes) if passes > 1 else "one pass")
print(head)
for k in keys:
    row = summary[k]
    line = "%-27s %-7s" % (row["label"], row.get("unit", ""))
    for c in cols:
        line += "%12s" % ("%.1f" % row[c]["median"] if c in row else "-")
    if "ratio_cfs_moosefs" in row:
        line += "%12.2fx" % row["ratio_cfs_moosefs"]
    print(line)
for c in cols:
    d = doc["systems"][c]
    loads = [r["tests"][k]["loadavg_before"] for r in d["runs"] for k in r["tests"]]
    print("  %-8s %s [%s] load %.1f-%.1f" % (c, d["target"], d["fstype"], min(loads), max(loads)))
print("json: " + out)
EOF
