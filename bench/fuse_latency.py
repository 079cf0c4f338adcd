#!/usr/bin/env python3
"""Per-operation latency of metadata calls through a mount, one at a time.

  fuse_latency.py DIR [N]

Makes DIR, then N (default 500) times each: open(O_CREAT|O_EXCL) of a new
file, its close, mkdir of a new directory, and unlink of the files; prints
the median of each in milliseconds. Python's own overhead (a few
microseconds a call) is included.
"""
import os
import statistics
import sys
import time


def main():
    if len(sys.argv) not in (2, 3):
        raise SystemExit(__doc__)
    d = sys.argv[1]
    n = int(sys.argv[2]) if len(sys.argv) == 3 else 500
    os.makedirs(d, exist_ok=True)
    times = {"open-creat": [], "close": [], "mkdir": [], "unlink": []}
    for i in range(n):
        p = os.path.join(d, "c%d" % i)
        t0 = time.perf_counter()
        fd = os.open(p, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        t1 = time.perf_counter()
        os.close(fd)
        times["open-creat"].append(t1 - t0)
        times["close"].append(time.perf_counter() - t1)
    for i in range(n):
        t0 = time.perf_counter()
        os.mkdir(os.path.join(d, "d%d" % i))
        times["mkdir"].append(time.perf_counter() - t0)
    for i in range(n):
        t0 = time.perf_counter()
        os.unlink(os.path.join(d, "c%d" % i))
        times["unlink"].append(time.perf_counter() - t0)
    for name, v in times.items():
        print("%-10s p50 %.3f ms" % (name, statistics.median(v) * 1e3))


if __name__ == "__main__":
    main()
