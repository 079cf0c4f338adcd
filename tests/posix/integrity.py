#!/usr/bin/python3
"""Write files whose contents follow from a seed, then verify them later: for
checks across a remount or a crash (SIGKILL every server, restart, verify).

  integrity.py write  DIR SEED N   write N files into DIR (created if missing),
                                   fsync each and DIR, then the manifest
                                   DIR/.manifest.json (relative path -> size,
                                   sha256, kind), itself fsynced and renamed
                                   into place; exit 0
  integrity.py verify DIR          re-read every file in the manifest; exit 0 if
                                   all match, 1 with one line per mismatch
                                   (missing, wrong size, wrong sha256 with the
                                   first differing offset and how many bytes
                                   differ), 2 on usage or manifest errors

Every file's bytes come from random.Random("SEED:INDEX"), so verify rebuilds the
expected contents of a file that does not match and says where it differs.
Sizes run from 0 to 8 MiB (a tenth under 4 KiB, a third under 256 KiB). Kinds:
  plain        one sequential write, 1 MiB at a time
  overwritten  a sequential write, then 1-8 writes at random offsets (some
               reaching past the end)
  sparse       1-4 extents at random offsets, the rest holes; the size set by
               ftruncate, so the file may end in a hole
The manifest is computed from this in-memory model, not by reading the files
back, so a write path that loses data shows up even if reads agree with it.
Debian's python3, standard library only.
"""
import hashlib
import json
import os
import random
import sys
import time

MANIFEST = ".manifest.json"
MiB = 1 << 20
MAX_SIZE = 8 * MiB


def plan(seed, index):
    """The operations that build file `index`: a list of ("write", offset, bytes)
    and ("truncate", size), and the file's kind. Deterministic in (seed, index)."""
    rng = random.Random("%d:%d" % (seed, index))
    r = rng.random()
    if r < 0.02:
        size = 0
    elif r < 0.10:
        size = rng.randint(1, 4096)
    elif r < 0.33:
        size = rng.randint(4097, 256 * 1024)
    else:
        size = rng.randint(256 * 1024 + 1, MAX_SIZE)
    k = rng.random()
    kind = "plain" if k < 0.5 or size == 0 else "overwritten" if k < 0.8 else "sparse"
    ops = []
    if kind in ("plain", "overwritten"):
        for off in range(0, size, MiB):
            ops.append(("write", off, rng.randbytes(min(MiB, size - off))))
    if kind == "overwritten":
        for _ in range(rng.randint(1, 8)):
            off = rng.randint(0, size)
            n = rng.randint(1, min(256 * 1024, MAX_SIZE - off)) if off < MAX_SIZE else 0
            if n:
                ops.append(("write", off, rng.randbytes(n)))
    if kind == "sparse":
        for _ in range(rng.randint(1, 4)):
            off = rng.randint(0, size - 1)
            n = rng.randint(1, min(128 * 1024, size - off))
            ops.append(("write", off, rng.randbytes(n)))
        ops.append(("truncate", size))
    return kind, ops


def model(ops):
    """The bytes a file holds after ops, per POSIX (gaps and growth read as zeros)."""
    buf = bytearray()
    for op in ops:
        if op[0] == "write":
            _, off, data = op
            if off > len(buf):
                buf += bytes(off - len(buf))
            buf[off:off + len(data)] = data
        else:
            n = op[1]
            del buf[n:]
            buf += bytes(n - len(buf))
    return bytes(buf)


def name(index):
    return "f%05d" % index


def pwrite_all(fd, data, offset):
    view, done = memoryview(data), 0
    while done < len(view):
        n = os.pwrite(fd, view[done:], offset + done)
        if n <= 0:
            raise OSError("short write at offset %d" % (offset + done))
        done += n


def fsync_dir(path):
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write(d, seed, n):
    os.makedirs(d, exist_ok=True)
    if os.path.exists(os.path.join(d, MANIFEST)):
        print("integrity: %s already has a manifest; write into a fresh directory" % d, file=sys.stderr)
        sys.exit(2)
    t0 = time.monotonic()
    files, total = {}, 0
    for i in range(n):
        kind, ops = plan(seed, i)
        data = model(ops)
        path = os.path.join(d, name(i))
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        try:
            for op in ops:
                if op[0] == "write":
                    pwrite_all(fd, op[2], op[1])
                else:
                    os.ftruncate(fd, op[1])
            os.fsync(fd)
        finally:
            os.close(fd)
        files[name(i)] = {"size": len(data), "sha256": hashlib.sha256(data).hexdigest(), "kind": kind}
        total += len(data)
    fsync_dir(d)
    doc = {"version": 1, "seed": seed, "count": n, "bytes": total,
           "written": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "files": files}
    tmp = os.path.join(d, MANIFEST + ".tmp")
    with open(tmp, "w") as f:
        json.dump(doc, f, indent=1, sort_keys=True)
        f.write("\n")
        f.flush()
        os.fsync(f.fileno())
    os.rename(tmp, os.path.join(d, MANIFEST))
    fsync_dir(d)
    secs = time.monotonic() - t0
    print("integrity: wrote %d files, %d bytes (%.1f MiB/s) into %s, seed %d" % (
        n, total, total / MiB / secs if secs > 0 else 0, d, seed))


def describe_difference(got, want):
    """'first difference at offset X (expected 0xAA, found 0xBB); N bytes differ in R ranges'."""
    n = min(len(got), len(want))
    first, differing, ranges, inside = None, 0, 0, False
    step = 65536
    for base in range(0, n, step):
        a, b = got[base:base + step], want[base:base + step]
        if a == b:
            inside = False
            continue
        for j in range(len(a)):
            if a[j] != b[j]:
                if first is None:
                    first = base + j
                differing += 1
                if not inside:
                    ranges += 1
                inside = True
            else:
                inside = False
    if first is None:
        return "contents equal over the common %d bytes" % n
    return "first difference at offset %d (expected 0x%02x, found 0x%02x); %d bytes differ in %d range(s)" % (
        first, want[first], got[first], differing, ranges)


def verify(d):
    try:
        with open(os.path.join(d, MANIFEST)) as f:
            doc = json.load(f)
    except (OSError, ValueError) as e:
        print("integrity: cannot read the manifest of %s: %s" % (d, e), file=sys.stderr)
        return 2
    seed = doc.get("seed")
    bad, total = [], 0
    t0 = time.monotonic()
    for rel, want in sorted(doc["files"].items()):
        path = os.path.join(d, rel)
        h, size = hashlib.sha256(), 0
        try:
            with open(path, "rb", buffering=0) as f:
                while True:
                    b = f.read(MiB)
                    if not b:
                        break
                    h.update(b)
                    size += len(b)
            st_size = os.stat(path).st_size
        except OSError as e:
            bad.append("%s: %s" % (rel, e.strerror or e))
            continue
        total += size
        problems = []
        if st_size != want["size"]:
            problems.append("st_size %d, expected %d" % (st_size, want["size"]))
        if size != want["size"]:
            problems.append("read %d bytes, expected %d" % (size, want["size"]))
        if h.hexdigest() != want["sha256"]:
            problems.append("sha256 %s, expected %s" % (h.hexdigest()[:16], want["sha256"][:16]))
            if seed is not None and rel.startswith("f") and rel[1:].isdigit():
                with open(path, "rb") as f:
                    got = f.read()
                problems.append(describe_difference(got, model(plan(seed, int(rel[1:]))[1])))
        if problems:
            bad.append("%s (%s): %s" % (rel, want.get("kind", "?"), "; ".join(problems)))
    secs = time.monotonic() - t0
    if bad:
        print("integrity: %d of %d files in %s do not match:" % (len(bad), len(doc["files"]), d))
        for line in bad:
            print("  " + line)
        return 1
    print("integrity: %d files, %d bytes in %s match the manifest (%.1f MiB/s)" % (
        len(doc["files"]), total, d, total / MiB / secs if secs > 0 else 0))
    return 0


def main(argv):
    if len(argv) == 4 and argv[0] == "write":
        try:
            seed, n = int(argv[2]), int(argv[3])
        except ValueError:
            seed = n = -1
        if seed < 0 or n < 0:
            print("integrity: SEED and N must be non-negative integers", file=sys.stderr)
            return 2
        write(argv[1], seed, n)
        return 0
    if len(argv) == 2 and argv[0] == "verify":
        return verify(argv[1])
    print(__doc__.split("\n\n")[1], file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
