#!/usr/bin/env bash
# Fails when a file includes a folder its layer may not depend on (STYLE.md):
#   common <- proto <- rpc <- raft <- {master, metanode, datanode} <- client <- fuse <- cmd
# testing/ may include anything below cmd; main.cc and cmd/ may include all.
set -euo pipefail
src=${1:-src}
allowed() {  # allowed <layer>: the folders its files may include
  case "$1" in
    common) echo "common" ;;
    proto) echo "common proto" ;;
    rpc) echo "common proto rpc" ;;
    raft) echo "common proto rpc raft" ;;
    master|metanode|datanode) echo "common proto rpc raft $1" ;;
    client) echo "common proto rpc raft client" ;;
    fuse) echo "common proto rpc raft client fuse" ;;
    testing) echo "common proto rpc raft master metanode datanode client testing" ;;
    *) echo "*" ;;
  esac
}
bad=0
while IFS= read -r f; do
  rel=${f#"$src"/}
  layer=${rel%%/*}
  ok=$(allowed "$layer")
  [ "$ok" = "*" ] && continue
  while IFS= read -r inc; do
    dep=${inc%%/*}
    [ -d "$src/$dep" ] || continue
    case " $ok " in *" $dep "*) ;; *)
      # Tests (and their shared fixtures, *_test_util.h) may use the testing fakes.
      if [ "$dep" = testing ] && [[ "$f" == *_test.cc || "$f" == *_test_util.h || "$f" == *_fuzz.cc ]]; then continue; fi
      echo "layering: $rel includes \"$inc\" but $layer may not depend on $dep" >&2; bad=1 ;;
    esac
  done < <(sed -n 's/^#include "\([^"]*\)".*/\1/p' "$f")
done < <(find "$src" -name '*.h' -o -name '*.cc')
exit $bad
