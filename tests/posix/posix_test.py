#!/usr/bin/python3
"""POSIX behaviour of a mounted file system, checked through system calls.

Run (Debian's python3, standard library only):
  CFS_POSIX_DIR=/mnt/cfs/posix /usr/bin/python3 tests/posix/posix_test.py -v
  ... posix_test.py -v RenameTest            one class
  ... posix_test.py -v -k exchange           tests whose names contain "exchange"

Environment:
  CFS_POSIX_DIR    directory on the file system under test (required). Each test
                   works in a fresh subdirectory of it and removes it afterwards.
  CFS_POSIX_DIR2   the same directory seen through a second mount of the same
                   volume; TwoMountTest is skipped without it.
  CFS_POSIX_SEED   seed of the randomized tests (default: random; a failure
                   message names the seed, so a failure can be replayed).

Tests that need root (chown, character devices, the checks run as nobody) are
skipped when not run as root. The checks run as nobody (uid/gid 65534) need
CFS_POSIX_DIR and its parents searchable by that user, and a FUSE mount made
with allow_other (and default_permissions, or the same checks in the server).

What is expected is POSIX.1-2017 as Linux implements it; where Linux chooses
among the errors POSIX allows, the test accepts each allowed one. A few Linux
behaviours beyond POSIX that programs rely on are tested and say so in their
docstring (renameat2 flags, directory link counts, user.* xattrs, set-user-ID
cleared by an unprivileged write).
"""
import ctypes
import errno
import fcntl
import hashlib
import json
import math
import mmap
import os
import queue
import random
import select
import shutil
import stat
import struct
import subprocess
import sys
import tempfile
import threading
import time
import traceback
import unittest

ROOT = os.environ.get("CFS_POSIX_DIR")
ROOT2 = os.environ.get("CFS_POSIX_DIR2")
SEED = int(os.environ.get("CFS_POSIX_SEED") or random.SystemRandom().randrange(1 << 32))
NOBODY = 65534
IS_ROOT = os.geteuid() == 0
KiB, MiB, GiB = 1 << 10, 1 << 20, 1 << 30

# --- libc entry points Python's os module lacks --------------------------------

_libc = ctypes.CDLL(None, use_errno=True)
AT_FDCWD = -100
RENAME_NOREPLACE, RENAME_EXCHANGE = 1, 2
UTIME_NOW, UTIME_OMIT = (1 << 30) - 1, (1 << 30) - 2

_libc.renameat2.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
_libc.renameat2.restype = ctypes.c_int
_libc.fallocate.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int64, ctypes.c_int64]
_libc.fallocate.restype = ctypes.c_int


class _Timespec(ctypes.Structure):
    _fields_ = [("tv_sec", ctypes.c_long), ("tv_nsec", ctypes.c_long)]


_libc.utimensat.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.POINTER(_Timespec), ctypes.c_int]
_libc.utimensat.restype = ctypes.c_int


def _check(ret, *names):
    if ret != 0:
        e = ctypes.get_errno()
        raise OSError(e, os.strerror(e), *names)


def renameat2(old, new, flags):
    """renameat2(AT_FDCWD, old, AT_FDCWD, new, flags); raises OSError."""
    _check(_libc.renameat2(AT_FDCWD, os.fsencode(old), AT_FDCWD, os.fsencode(new), flags), old, None, new)


def utimensat(path, atime, mtime):
    """utimensat(AT_FDCWD, path, times, 0). Each time is (sec, nsec), UTIME_NOW or UTIME_OMIT."""
    def ts(t):
        return _Timespec(0, t) if t in (UTIME_NOW, UTIME_OMIT) else _Timespec(*t)
    times = (_Timespec * 2)(ts(atime), ts(mtime))
    _check(_libc.utimensat(AT_FDCWD, os.fsencode(path), times, 0), path)


def fallocate(fd, mode, offset, length):
    _check(_libc.fallocate(fd, mode, offset, length))


SYS_getdents64 = 217  # x86-64
_libc.syscall.restype = ctypes.c_long


def getdents64(fd, size):
    """One getdents64(fd, buf, size): [(name, d_ino, d_off, d_type)]; raises OSError."""
    buf = ctypes.create_string_buffer(size)
    n = _libc.syscall(SYS_getdents64, ctypes.c_int(fd), buf, ctypes.c_uint(size))
    if n < 0:
        e = ctypes.get_errno()
        raise OSError(e, os.strerror(e))
    out, raw, i = [], buf.raw[:n], 0
    while i < n:
        ino, off, reclen, typ = struct.unpack_from("<QqHB", raw, i)
        name = raw[i + 19:i + reclen].split(b"\0", 1)[0].decode()
        out.append((name, ino, off, typ))
        i += reclen
    return out


# --- helpers -------------------------------------------------------------------


def rmtree(path):
    """Remove a test directory even if a test left it without permissions."""
    def fix(func, p, exc):
        parent = os.path.dirname(p)
        try:
            os.chmod(parent, 0o700)
            if os.path.isdir(p) and not os.path.islink(p):
                os.chmod(p, 0o700)
        except OSError:
            pass
        if func in (os.rmdir, os.unlink) or not os.path.exists(p):
            func(p)
        else:
            shutil.rmtree(p)
    shutil.rmtree(path, onerror=fix)


def write_file(path, data, mode=0o644):
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    try:
        write_all(fd, data)
    finally:
        os.close(fd)


def write_all(fd, data, offset=None):
    view = memoryview(data)
    done = 0
    while done < len(view):
        if offset is None:
            n = os.write(fd, view[done:])
        else:
            n = os.pwrite(fd, view[done:], offset + done)
        if n <= 0:
            raise OSError(errno.EIO, "short write")
        done += n


def read_file(path):
    with open(path, "rb") as f:
        return f.read()


def pread_all(fd, length, offset):
    out = bytearray()
    while len(out) < length:
        b = os.pread(fd, length - len(out), offset + len(out))
        if not b:
            break
        out += b
    return bytes(out)


def attempt(fn, *args, **kw):
    """0 if fn succeeds, else the errno it raised."""
    try:
        fn(*args, **kw)
        return 0
    except OSError as e:
        return e.errno


def errname(e):
    return errno.errorcode.get(e, str(e)) if e else "success"


def sha(data):
    return hashlib.sha256(data).hexdigest()


def first_difference(a, b):
    for i in range(min(len(a), len(b))):
        if a[i] != b[i]:
            return i
    return min(len(a), len(b)) if len(a) != len(b) else None


class FsTest(unittest.TestCase):
    """Base: a fresh directory self.dir under CFS_POSIX_DIR per test, umask 022."""

    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix=self._testMethodName[5:] + ".", dir=ROOT)
        self.addCleanup(rmtree, self.dir)
        os.chmod(self.dir, 0o755)
        old = os.umask(0o022)
        self.addCleanup(os.umask, old)

    def p(self, *names):
        return os.path.join(self.dir, *names)

    def assertErrno(self, allowed, fn, *args, **kw):
        allowed = (allowed,) if isinstance(allowed, int) else tuple(allowed)
        got = attempt(fn, *args, **kw)
        self.assertIn(got, allowed, "%s%r: got %s, expected %s" % (
            getattr(fn, "__name__", fn), args, errname(got), " or ".join(errname(e) for e in allowed)))

    def assertTimeAfter(self, ns, before_ns, t0, t1, what):
        """ns is newer than before_ns and lies in [t0, t1] (wall clock, seconds),
        allowing for a timestamp granularity of up to 1 s and a coarse kernel clock."""
        self.assertGreater(ns, before_ns, what + ": not updated")
        self.assertGreaterEqual(ns / 1e9, math.floor(t0) - 0.05, what + ": older than the operation")
        self.assertLessEqual(ns / 1e9, t1 + 1.0, what + ": in the future")

    def listing(self, path=None):
        return sorted(os.listdir(path or self.dir))


class Agent:
    """A helper process that runs file operations on request, for tests of locks
    and appends between two processes. Each request is one JSON line; each reply
    is the errno (0 on success) or, for getlk, the struct flock fields (as on
    Linux x86_64 and aarch64: short l_type, short l_whence, off_t l_start,
    off_t l_len, pid_t l_pid; 32 bytes with padding, "hhqqi4x")."""

    SCRIPT = r'''
import fcntl, json, os, struct, sys
fds = {}
for line in sys.stdin:
    c = json.loads(line)
    op = c["op"]
    try:
        if op == "open":
            fds[c["fd"]] = os.open(c["path"], os.O_RDWR | c.get("flags", 0))
        elif op == "close":
            os.close(fds.pop(c["fd"]))
        elif op == "flock":
            fcntl.flock(fds[c["fd"]], c["how"])
        elif op == "lockf":
            fcntl.lockf(fds[c["fd"]], c["how"], c["len"], c["start"])
        elif op == "getlk":
            b = struct.pack("hhqqi4x", c["type"], os.SEEK_SET, c["start"], c["len"], 0)
            r = struct.unpack("hhqqi4x", fcntl.fcntl(fds[c["fd"]], fcntl.F_GETLK, b))
            print(json.dumps(list(r)), flush=True)
            continue
        elif op == "append":
            for i in range(c["count"]):
                rec = ("%s:%06d:" % (c["tag"], i)).encode()
                rec += b"." * (c["size"] - len(rec) - 1) + b"\n"
                if os.write(fds[c["fd"]], rec) != len(rec):
                    raise OSError(5, "short write")
        res = 0
    except OSError as e:
        res = e.errno
    print(json.dumps(res), flush=True)
'''

    def __init__(self):
        self.p = subprocess.Popen([sys.executable, "-c", self.SCRIPT], stdin=subprocess.PIPE,
                                  stdout=subprocess.PIPE, text=True, bufsize=1)

    def send(self, **cmd):
        self.p.stdin.write(json.dumps(cmd) + "\n")
        self.p.stdin.flush()

    def reply(self, timeout):
        """The next reply, or None if none comes within timeout seconds."""
        r, _, _ = select.select([self.p.stdout], [], [], timeout)
        if not r:
            return None
        line = self.p.stdout.readline()
        if not line:
            raise AssertionError("agent exited (rc %s)" % self.p.poll())
        return json.loads(line)

    def call(self, timeout=20, **cmd):
        self.send(**cmd)
        res = self.reply(timeout)
        if res is None:
            raise AssertionError("agent: no reply to %r in %s s" % (cmd, timeout))
        return res

    def close(self):
        if self.p.poll() is None:
            self.p.stdin.close()
            try:
                self.p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.p.kill()
                self.p.wait()
        self.p.stdout.close()


# --- tests ---------------------------------------------------------------------


class FileIoTest(FsTest):
    def test_create_write_close_then_read(self):
        data = os.urandom(100 * KiB + 7)
        fd = os.open(self.p("f"), os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        write_all(fd, data)
        self.assertEqual(os.lseek(fd, 0, os.SEEK_CUR), len(data))
        os.close(fd)
        self.assertEqual(read_file(self.p("f")), data)
        fd = os.open(self.p("f"), os.O_RDONLY)
        self.assertEqual(os.read(fd, 10), data[:10])
        self.assertEqual(pread_all(fd, 1000, 50000), data[50000:51000])
        self.assertEqual(os.pread(fd, 100, len(data)), b"", "read at EOF")
        self.assertEqual(os.pread(fd, 100, len(data) + 5000), b"", "read past EOF")
        self.assertEqual(os.lseek(fd, 0, os.SEEK_END), len(data))
        os.close(fd)

    def test_open_errors(self):
        write_file(self.p("f"), b"x")
        os.mkdir(self.p("d"))
        self.assertErrno(errno.EEXIST, os.open, self.p("f"), os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        self.assertErrno(errno.EEXIST, os.open, self.p("d"), os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        self.assertErrno(errno.ENOENT, os.open, self.p("missing"), os.O_RDONLY)
        self.assertErrno(errno.ENOENT, os.open, self.p("nodir", "f"), os.O_WRONLY | os.O_CREAT, 0o644)
        self.assertErrno(errno.ENOTDIR, os.open, self.p("f", "x"), os.O_RDONLY)
        self.assertErrno(errno.ENOTDIR, os.open, self.p("f"), os.O_RDONLY | os.O_DIRECTORY)
        self.assertErrno(errno.EISDIR, os.open, self.p("d"), os.O_WRONLY)
        self.assertErrno(errno.EISDIR, os.open, self.p("d"), os.O_RDWR)
        fd = os.open(self.p("f"), os.O_RDONLY)
        self.assertErrno(errno.EBADF, os.write, fd, b"y")
        os.close(fd)
        fd = os.open(self.p("f"), os.O_WRONLY)
        self.assertErrno(errno.EBADF, os.read, fd, 1)
        os.close(fd)
        self.assertEqual(read_file(self.p("f")), b"x")

    def test_o_trunc_empties_file(self):
        write_file(self.p("f"), b"a" * 5000)
        os.close(os.open(self.p("f"), os.O_WRONLY | os.O_TRUNC))
        self.assertEqual(os.stat(self.p("f")).st_size, 0)
        self.assertEqual(read_file(self.p("f")), b"")

    def test_unaligned_writes_across_block_boundaries(self):
        """Pieces of odd sizes (1 B .. 1 MiB+3) written out of order at their own
        offsets make one 5 MiB file; every byte and random ranges read back."""
        rng = random.Random(SEED)
        data = rng.randbytes(5 * MiB)
        sizes = [1, 4095, 4097, 65537, MiB + 3, 3, 131071]
        pieces, off = [], 0
        while off < len(data):
            n = min(sizes[len(pieces) % len(sizes)], len(data) - off)
            pieces.append((off, n))
            off += n
        rng.shuffle(pieces)
        fd = os.open(self.p("f"), os.O_RDWR | os.O_CREAT, 0o644)
        for off, n in pieces:
            write_all(fd, data[off:off + n], off)
        self.assertEqual(os.fstat(fd).st_size, len(data))
        for _ in range(50):
            off = rng.randrange(len(data))
            n = rng.randrange(1, 300 * KiB)
            self.assertEqual(pread_all(fd, n, off), data[off:off + n], "seed %d: range %d+%d" % (SEED, off, n))
        os.close(fd)
        got = read_file(self.p("f"))
        self.assertEqual(sha(got), sha(data), "seed %d: first difference at %s" % (SEED, first_difference(got, data)))

    def test_write_past_eof_leaves_zero_gap(self):
        fd = os.open(self.p("f"), os.O_RDWR | os.O_CREAT, 0o644)
        os.write(fd, b"head")
        os.pwrite(fd, b"tail", 300 * KiB)
        self.assertEqual(os.fstat(fd).st_size, 300 * KiB + 4)
        os.close(fd)
        self.assertEqual(read_file(self.p("f")), b"head" + bytes(300 * KiB - 4) + b"tail")

    def test_two_fds_see_each_others_writes(self):
        fd1 = os.open(self.p("f"), os.O_RDWR | os.O_CREAT, 0o644)
        fd2 = os.open(self.p("f"), os.O_RDWR)
        os.pwrite(fd1, b"hello", 0)
        self.assertEqual(os.pread(fd2, 10, 0), b"hello")
        os.pwrite(fd2, b"J", 0)
        self.assertEqual(os.pread(fd1, 10, 0), b"Jello")
        self.assertEqual(os.fstat(fd1).st_size, 5)
        os.close(fd1)
        os.close(fd2)


class LookupTest(FsTest):
    def test_lookup_existing_missing_and_through_a_file(self):
        write_file(self.p("f"), b"1")
        os.mkdir(self.p("d"))
        self.assertTrue(stat.S_ISREG(os.stat(self.p("f")).st_mode))
        self.assertTrue(stat.S_ISDIR(os.stat(self.p("d")).st_mode))
        self.assertErrno(errno.ENOENT, os.stat, self.p("missing"))
        self.assertErrno(errno.ENOENT, os.stat, self.p("d", "missing"))
        self.assertErrno(errno.ENOTDIR, os.stat, self.p("f", "x"))
        self.assertEqual(os.stat(self.p("d", ".")).st_ino, os.stat(self.p("d")).st_ino)
        self.assertEqual(os.stat(self.p("d", "..")).st_ino, os.stat(self.dir).st_ino)

    def test_names_are_case_sensitive_bytes(self):
        write_file(self.p("a"), b"lower")
        write_file(self.p("A"), b"upper")
        write_file(self.p("caf\u00e9"), b"nfc")
        write_file(self.p("cafe\u0301"), b"nfd")
        raw = os.path.join(os.fsencode(self.dir), b"bin\xff\x01name")
        write_file(raw, b"raw")
        self.assertEqual(read_file(self.p("a")), b"lower")
        self.assertEqual(read_file(self.p("A")), b"upper")
        self.assertEqual(read_file(self.p("caf\u00e9")), b"nfc")
        self.assertEqual(read_file(self.p("cafe\u0301")), b"nfd")
        self.assertEqual(read_file(raw), b"raw")
        self.assertEqual(sorted(os.listdir(os.fsencode(self.dir))),
                         sorted([b"a", b"A", "caf\u00e9".encode(), "cafe\u0301".encode(), b"bin\xff\x01name"]))

    def test_name_of_255_bytes_works_256_is_enametoolong(self):
        ok, bad = "n" * 255, "n" * 256
        mb_ok, mb_bad = "\u00e9" * 127 + "x", "\u00e9" * 128   # 255 and 256 bytes in UTF-8
        write_file(self.p(ok), b"ok")
        self.assertEqual(read_file(self.p(ok)), b"ok")
        os.mkdir(self.p(mb_ok))
        os.symlink("target", self.p("l" * 255))
        self.assertIn(ok, os.listdir(self.dir))
        self.assertIn(mb_ok, os.listdir(self.dir))
        self.assertIn("l" * 255, os.listdir(self.dir))
        self.assertErrno(errno.ENAMETOOLONG, os.open, self.p(bad), os.O_WRONLY | os.O_CREAT, 0o644)
        self.assertErrno(errno.ENAMETOOLONG, os.mkdir, self.p(mb_bad))
        self.assertErrno(errno.ENAMETOOLONG, os.stat, self.p(bad))
        self.assertErrno(errno.ENAMETOOLONG, os.symlink, "target", self.p(bad))
        self.assertErrno(errno.ENAMETOOLONG, os.rename, self.p(ok), self.p(bad))
        self.assertErrno(errno.ENAMETOOLONG, os.link, self.p(ok), self.p(bad))
        os.rename(self.p(ok), self.p("m" * 255))
        self.assertEqual(read_file(self.p("m" * 255)), b"ok")


class AttrTest(FsTest):
    def test_stat_fields_of_a_new_file(self):
        t0 = time.time()
        fd = os.open(self.p("f"), os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o666)
        t1 = time.time()
        st = os.fstat(fd)
        self.assertEqual(st.st_mode, stat.S_IFREG | 0o644, "0666 & ~umask 022")
        self.assertEqual(st.st_nlink, 1)
        self.assertEqual(st.st_size, 0)
        self.assertEqual((st.st_uid, st.st_gid), (os.geteuid(), os.getegid()))
        self.assertGreater(st.st_blksize, 0)
        self.assertEqual(st.st_dev, os.stat(self.dir).st_dev)
        self.assertNotEqual(st.st_ino, os.stat(self.dir).st_ino)
        for name in ("st_atime_ns", "st_mtime_ns", "st_ctime_ns"):
            self.assertTimeAfter(getattr(st, name), 0, t0, t1, name)
        write_all(fd, os.urandom(64 * KiB + 1))
        os.fsync(fd)
        st2 = os.fstat(fd)
        self.assertEqual(st2.st_size, 64 * KiB + 1)
        self.assertEqual(st2.st_ino, st.st_ino)
        self.assertGreaterEqual(st2.st_blocks * 512, 64 * KiB, "st_blocks counts the data written")
        os.close(fd)
        st3 = os.stat(self.p("f"))
        self.assertEqual((st3.st_ino, st3.st_size, st3.st_mode), (st.st_ino, 64 * KiB + 1, st.st_mode))
        write_file(self.p("g"), b"")
        self.assertNotEqual(os.stat(self.p("g")).st_ino, st.st_ino)

    def test_stat_fields_of_a_new_directory(self):
        os.mkdir(self.p("d"), 0o777)
        st = os.stat(self.p("d"))
        self.assertEqual(st.st_mode, stat.S_IFDIR | 0o755)
        self.assertEqual(st.st_nlink, 2)
        self.assertEqual((st.st_uid, st.st_gid), (os.geteuid(), os.getegid()))

    def test_directory_nlink_counts_subdirectories(self):
        """Linux (not POSIX): a directory's st_nlink is 2 + its subdirectories."""
        d = self.p("d")
        os.mkdir(d)
        for name in ("a", "b", "c"):
            os.mkdir(os.path.join(d, name))
        write_file(os.path.join(d, "file"), b"")
        self.assertEqual(os.stat(d).st_nlink, 5)
        os.rmdir(os.path.join(d, "c"))
        self.assertEqual(os.stat(d).st_nlink, 4)
        os.rename(os.path.join(d, "b"), self.p("b"))
        self.assertEqual(os.stat(d).st_nlink, 3)
        self.assertEqual(os.stat(self.dir).st_nlink, 4)

    def test_chmod_sets_every_mode_bit(self):
        write_file(self.p("f"), b"x")
        os.mkdir(self.p("d"))
        for mode in (0o000, 0o644, 0o755, 0o600, 0o4755, 0o2755, 0o1777, 0o7777, 0o640):
            os.chmod(self.p("f"), mode)
            self.assertEqual(os.stat(self.p("f")).st_mode, stat.S_IFREG | mode, oct(mode))
            os.chmod(self.p("d"), mode)
            self.assertEqual(os.stat(self.p("d")).st_mode, stat.S_IFDIR | mode, oct(mode))
        fd = os.open(self.p("f"), os.O_RDONLY)
        os.fchmod(fd, 0o604)
        self.assertEqual(os.fstat(fd).st_mode, stat.S_IFREG | 0o604)
        os.close(fd)

    @unittest.skipUnless(IS_ROOT, "needs root")
    def test_chown_as_root(self):
        write_file(self.p("f"), b"x")
        os.chown(self.p("f"), 1234, 5678)
        st = os.stat(self.p("f"))
        self.assertEqual((st.st_uid, st.st_gid), (1234, 5678))
        os.chown(self.p("f"), -1, 4321)
        st = os.stat(self.p("f"))
        self.assertEqual((st.st_uid, st.st_gid), (1234, 4321))
        os.chown(self.p("f"), 999, -1)
        st = os.stat(self.p("f"))
        self.assertEqual((st.st_uid, st.st_gid), (999, 4321))
        fd = os.open(self.p("f"), os.O_RDONLY)
        os.fchown(fd, 0, 0)
        self.assertEqual((os.fstat(fd).st_uid, os.fstat(fd).st_gid), (0, 0))
        os.close(fd)
        os.symlink("f", self.p("l"))
        os.lchown(self.p("l"), 77, 88)
        self.assertEqual((os.lstat(self.p("l")).st_uid, os.lstat(self.p("l")).st_gid), (77, 88))
        self.assertEqual((os.stat(self.p("f")).st_uid, os.stat(self.p("f")).st_gid), (0, 0), "lchown moved the target")
        os.mkdir(self.p("d"))
        os.chown(self.p("d"), 4242, 4343)
        self.assertEqual((os.stat(self.p("d")).st_uid, os.stat(self.p("d")).st_gid), (4242, 4343))

    def test_times_follow_posix(self):
        """write: mtime+ctime; truncate: mtime+ctime; chmod: ctime only; read and
        stat: neither; create and unlink in a directory: its mtime+ctime.
        One sleep of 1.1 s makes this hold on a file system with 1 s timestamps."""
        for name in ("w", "c", "t", "r", "l"):
            write_file(self.p(name), b"0123456789")
        os.mkdir(self.p("d"))
        write_file(self.p("d", "gone"), b"")
        os.mkdir(self.p("e"))
        paths = ["w", "c", "t", "r", "l", "d", "e"]
        before = {n: os.stat(self.p(n)) for n in paths}
        time.sleep(1.1)
        t0 = time.time()
        fd = os.open(self.p("w"), os.O_WRONLY)
        os.write(fd, b"new")
        os.close(fd)
        os.chmod(self.p("c"), 0o600)
        os.truncate(self.p("t"), 3)
        self.assertEqual(read_file(self.p("r")), b"0123456789")
        os.link(self.p("l"), self.p("l2"))
        write_file(self.p("d", "new"), b"")
        os.unlink(self.p("d", "gone"))
        os.mkdir(self.p("e", "sub"))
        t1 = time.time()
        after = {n: os.stat(self.p(n)) for n in paths}
        problems = []

        def newer(n, field):
            try:
                self.assertTimeAfter(getattr(after[n], field), getattr(before[n], field), t0, t1, "%s %s" % (n, field))
            except AssertionError as e:
                problems.append(str(e))

        def same(n, field):
            if getattr(after[n], field) != getattr(before[n], field):
                problems.append("%s %s changed" % (n, field))

        newer("w", "st_mtime_ns"), newer("w", "st_ctime_ns")   # write
        newer("t", "st_mtime_ns"), newer("t", "st_ctime_ns")   # truncate
        newer("c", "st_ctime_ns"), same("c", "st_mtime_ns")    # chmod
        same("r", "st_mtime_ns"), same("r", "st_ctime_ns")     # read
        newer("l", "st_ctime_ns"), same("l", "st_mtime_ns")    # link: its link count changed
        newer("d", "st_mtime_ns"), newer("d", "st_ctime_ns")   # create and unlink in d
        newer("e", "st_mtime_ns"), newer("e", "st_ctime_ns")   # mkdir in e
        self.assertFalse(problems, "\n  " + "\n  ".join(problems))

    def test_utimens_explicit_times_keep_nanoseconds(self):
        """ContainerFS keeps timestamps to the nanosecond. (POSIX lets a file
        system truncate them to its own resolution.)"""
        write_file(self.p("f"), b"x")
        cases = [(1_000_000_000_123_456_789, 1_100_000_000_987_654_321),
                 (1_500_000_000_000_000_000, 1_600_000_000_000_000_001),
                 ((1 << 31) * 1_000_000_000 + 999_999_999, (1 << 33) * 1_000_000_000 + 5)]  # past 2038
        for atime, mtime in cases:
            os.utime(self.p("f"), ns=(atime, mtime))
            st = os.stat(self.p("f"))
            self.assertEqual((st.st_atime_ns, st.st_mtime_ns), (atime, mtime))
        fd = os.open(self.p("f"), os.O_RDONLY)
        os.utime(fd, ns=(12_000_000_345, 67_000_000_890))
        self.assertEqual((os.fstat(fd).st_atime_ns, os.fstat(fd).st_mtime_ns), (12_000_000_345, 67_000_000_890))
        os.close(fd)
        os.mkdir(self.p("d"))
        os.utime(self.p("d"), ns=(3_000_000_007, 4_000_000_009))
        self.assertEqual((os.stat(self.p("d")).st_atime_ns, os.stat(self.p("d")).st_mtime_ns),
                         (3_000_000_007, 4_000_000_009))

    def test_utimens_explicit_whole_seconds(self):
        write_file(self.p("f"), b"x")
        for atime, mtime in ((1_000_000_000, 1_100_000_000), (0, 1), ((1 << 31) + 7, (1 << 33) + 5)):
            os.utime(self.p("f"), (atime, mtime))
            st = os.stat(self.p("f"))
            self.assertEqual((st.st_atime_ns, st.st_mtime_ns), (atime * 10**9, mtime * 10**9))

    def test_utimens_now_and_omit(self):
        """UTIME_NOW sets one time to now, UTIME_OMIT leaves one alone; times NULL
        sets both to now. (Whole seconds, so a coarser resolution is no failure.)"""
        write_file(self.p("f"), b"x")
        a0, m0 = (1_000_000_000, 0), (1_100_000_000, 0)
        utimensat(self.p("f"), a0, m0)
        st = os.stat(self.p("f"))
        self.assertEqual((st.st_atime_ns, st.st_mtime_ns), (1_000_000_000 * 10**9, 1_100_000_000 * 10**9))
        t0 = time.time()
        utimensat(self.p("f"), UTIME_NOW, UTIME_OMIT)
        t1 = time.time()
        st1 = os.stat(self.p("f"))
        self.assertTimeAfter(st1.st_atime_ns, st.st_atime_ns, t0, t1, "atime (UTIME_NOW)")
        self.assertEqual(st1.st_mtime_ns, st.st_mtime_ns, "mtime (UTIME_OMIT) changed")
        self.assertGreaterEqual(st1.st_ctime_ns / 1e9, math.floor(t0) - 0.05, "ctime not updated")
        t0 = time.time()
        utimensat(self.p("f"), UTIME_OMIT, UTIME_NOW)
        t1 = time.time()
        st2 = os.stat(self.p("f"))
        self.assertTimeAfter(st2.st_mtime_ns, st1.st_mtime_ns, t0, t1, "mtime (UTIME_NOW)")
        self.assertEqual(st2.st_atime_ns, st1.st_atime_ns, "atime (UTIME_OMIT) changed")
        utimensat(self.p("f"), a0, m0)
        t0 = time.time()
        os.utime(self.p("f"))   # times NULL: both now
        t1 = time.time()
        st3 = os.stat(self.p("f"))
        self.assertTimeAfter(st3.st_atime_ns, 1_000_000_000 * 10**9, t0, t1, "atime (NULL)")
        self.assertTimeAfter(st3.st_mtime_ns, 1_100_000_000 * 10**9, t0, t1, "mtime (NULL)")

    def test_access(self):
        write_file(self.p("f"), b"x", 0o644)
        write_file(self.p("x"), b"x", 0o755)
        self.assertTrue(os.access(self.p("f"), os.F_OK))
        self.assertTrue(os.access(self.p("f"), os.R_OK | os.W_OK))
        self.assertFalse(os.access(self.p("f"), os.X_OK), "X_OK without any x bit")
        self.assertTrue(os.access(self.p("x"), os.R_OK | os.W_OK | os.X_OK))
        self.assertTrue(os.access(self.dir, os.X_OK | os.W_OK))
        self.assertFalse(os.access(self.p("missing"), os.F_OK))
        os.chmod(self.p("f"), 0o444)
        self.assertEqual(os.access(self.p("f"), os.W_OK), IS_ROOT, "W_OK on 0444 (only root may)")


class TruncateTest(FsTest):
    def _check_down_and_up(self, truncate):
        data = os.urandom(100 * KiB)
        write_file(self.p("f"), data)
        truncate(1000)
        self.assertEqual(os.stat(self.p("f")).st_size, 1000)
        self.assertEqual(read_file(self.p("f")), data[:1000])
        truncate(50000)
        self.assertEqual(os.stat(self.p("f")).st_size, 50000)
        self.assertEqual(read_file(self.p("f")), data[:1000] + bytes(49000), "bytes past the cut came back")
        truncate(0)
        self.assertEqual(read_file(self.p("f")), b"")
        truncate(3 * KiB)
        self.assertEqual(read_file(self.p("f")), bytes(3 * KiB))

    def test_ftruncate_down_then_up_reads_zeros(self):
        fd = os.open(self.p("f"), os.O_RDWR | os.O_CREAT, 0o644)
        self.addCleanup(os.close, fd)
        self._check_down_and_up(lambda n: os.ftruncate(fd, n))

    def test_truncate_by_path_down_then_up_reads_zeros(self):
        self._check_down_and_up(lambda n: os.truncate(self.p("f"), n))

    def test_truncate_while_open_for_reading(self):
        data = os.urandom(200 * KiB)
        write_file(self.p("f"), data)
        fd = os.open(self.p("f"), os.O_RDONLY)
        self.assertEqual(pread_all(fd, 200 * KiB, 0), data)
        os.truncate(self.p("f"), 10)
        self.assertEqual(pread_all(fd, 200 * KiB, 0), data[:10])
        os.truncate(self.p("f"), 100 * KiB)
        self.assertEqual(pread_all(fd, 200 * KiB, 0), data[:10] + bytes(100 * KiB - 10))
        os.close(fd)

    def test_truncate_across_large_block_boundaries(self):
        """Cut inside the second of several MiB-sized blocks, then grow: the cut
        block's tail and every later block read as zeros."""
        data = random.Random(SEED).randbytes(9 * MiB)
        write_file(self.p("f"), data)
        cut = 4 * MiB + 17
        os.truncate(self.p("f"), cut)
        os.truncate(self.p("f"), 9 * MiB)
        got = read_file(self.p("f"))
        want = data[:cut] + bytes(9 * MiB - cut)
        self.assertEqual(len(got), len(want))
        self.assertTrue(got == want, "first difference at %s" % first_difference(got, want))
        fd = os.open(self.p("f"), os.O_RDWR)
        os.pwrite(fd, b"Z", 6 * MiB)
        os.close(fd)
        got = read_file(self.p("f"))
        want = want[:6 * MiB] + b"Z" + want[6 * MiB + 1:]
        self.assertTrue(got == want, "first difference at %s" % first_difference(got, want))


class NodeTest(FsTest):
    def test_mkfifo_is_a_working_pipe(self):
        os.mkfifo(self.p("fifo"), 0o640)
        st = os.lstat(self.p("fifo"))
        self.assertTrue(stat.S_ISFIFO(st.st_mode))
        self.assertEqual(stat.S_IMODE(st.st_mode), 0o640)
        self.assertIn("fifo", os.listdir(self.dir))
        fd = os.open(self.p("fifo"), os.O_RDWR | os.O_NONBLOCK)
        os.write(fd, b"through the pipe")
        self.assertEqual(os.read(fd, 100), b"through the pipe")
        os.close(fd)
        self.assertEqual(os.stat(self.p("fifo")).st_size, 0)

    @unittest.skipUnless(IS_ROOT, "needs root")
    def test_mknod_char_device(self):
        dev = os.makedev(1, 3)
        os.mknod(self.p("null"), stat.S_IFCHR | 0o600, dev)
        st = os.lstat(self.p("null"))
        self.assertTrue(stat.S_ISCHR(st.st_mode))
        self.assertEqual(stat.S_IMODE(st.st_mode), 0o600)
        self.assertEqual((os.major(st.st_rdev), os.minor(st.st_rdev)), (1, 3))
        os.mknod(self.p("blk"), stat.S_IFBLK | 0o600, os.makedev(259, 70000))
        st = os.lstat(self.p("blk"))
        self.assertTrue(stat.S_ISBLK(st.st_mode))
        self.assertEqual((os.major(st.st_rdev), os.minor(st.st_rdev)), (259, 70000))

    def test_mknod_regular_file(self):
        os.mknod(self.p("r"), stat.S_IFREG | 0o600)
        st = os.lstat(self.p("r"))
        self.assertEqual(st.st_mode, stat.S_IFREG | 0o600)
        self.assertEqual(st.st_size, 0)

    def test_mkdir_and_rmdir(self):
        d = self.p("d")
        os.mkdir(d)
        self.assertErrno(errno.EEXIST, os.mkdir, d)
        write_file(os.path.join(d, "f"), b"")
        self.assertErrno((errno.ENOTEMPTY, errno.EEXIST), os.rmdir, d)
        os.unlink(os.path.join(d, "f"))
        os.mkdir(os.path.join(d, "sub"))
        self.assertErrno((errno.ENOTEMPTY, errno.EEXIST), os.rmdir, d)
        os.rmdir(os.path.join(d, "sub"))
        write_file(self.p("file"), b"")
        self.assertErrno(errno.ENOTDIR, os.rmdir, self.p("file"))
        self.assertErrno(errno.EINVAL, os.rmdir, os.path.join(d, "."))
        os.rmdir(d)
        self.assertErrno(errno.ENOENT, os.stat, d)
        self.assertErrno(errno.ENOENT, os.rmdir, d)
        self.assertEqual(self.listing(), ["file"])

    def test_unlink(self):
        write_file(self.p("f"), b"data")
        os.mkdir(self.p("d"))
        os.unlink(self.p("f"))
        self.assertErrno(errno.ENOENT, os.stat, self.p("f"))
        self.assertErrno(errno.ENOENT, os.unlink, self.p("f"))
        self.assertErrno((errno.EISDIR, errno.EPERM), os.unlink, self.p("d"))
        self.assertEqual(self.listing(), ["d"])
        write_file(self.p("f"), b"again")
        self.assertEqual(read_file(self.p("f")), b"again")

    def test_symlink_and_readlink(self):
        write_file(self.p("target"), b"pointed at")
        os.mkdir(self.p("dir"))
        long_target = "/".join(["x" * 200] * 5)
        for name, target in (("rel", "target"), ("up", "../" + os.path.basename(self.dir) + "/target"),
                             ("abs", self.p("target")), ("dangling", "no/such/file"), ("long", long_target),
                             ("todir", "dir")):
            os.symlink(target, self.p(name))
            self.assertEqual(os.readlink(self.p(name)), target)
            st = os.lstat(self.p(name))
            self.assertTrue(stat.S_ISLNK(st.st_mode), name)
            self.assertEqual(st.st_size, len(target.encode()), name + ": st_size is the target's length")
        for name in ("rel", "up", "abs"):
            self.assertEqual(read_file(self.p(name)), b"pointed at")
            self.assertEqual(os.stat(self.p(name)).st_ino, os.stat(self.p("target")).st_ino)
        self.assertErrno(errno.ENOENT, os.stat, self.p("dangling"))
        self.assertErrno(errno.ELOOP, os.open, self.p("rel"), os.O_RDONLY | os.O_NOFOLLOW)
        write_file(self.p("todir", "inside"), b"via link")
        self.assertEqual(read_file(self.p("dir", "inside")), b"via link")
        self.assertErrno(errno.EEXIST, os.symlink, "x", self.p("rel"))
        self.assertErrno(errno.EINVAL, os.readlink, self.p("target"))
        os.symlink("loop2", self.p("loop1"))
        os.symlink("loop1", self.p("loop2"))
        self.assertErrno(errno.ELOOP, os.stat, self.p("loop1"))
        os.unlink(self.p("rel"))
        self.assertEqual(read_file(self.p("target")), b"pointed at", "unlinking a symlink removed its target")


class RenameTest(FsTest):
    def test_rename_file_within_and_across_directories(self):
        write_file(self.p("a"), b"A")
        ino = os.stat(self.p("a")).st_ino
        os.rename(self.p("a"), self.p("b"))
        self.assertErrno(errno.ENOENT, os.stat, self.p("a"))
        self.assertEqual(os.stat(self.p("b")).st_ino, ino)
        self.assertEqual(read_file(self.p("b")), b"A")
        os.mkdir(self.p("d"))
        os.rename(self.p("b"), self.p("d", "c"))
        self.assertEqual(self.listing(), ["d"])
        self.assertEqual(self.listing(self.p("d")), ["c"])
        self.assertEqual(os.stat(self.p("d", "c")).st_ino, ino)
        self.assertErrno(errno.ENOENT, os.rename, self.p("missing"), self.p("x"))

    def test_rename_over_existing_file_replaces_it(self):
        write_file(self.p("src"), b"new contents")
        write_file(self.p("dst"), b"old contents")
        ino = os.stat(self.p("src")).st_ino
        fd = os.open(self.p("dst"), os.O_RDONLY)
        os.rename(self.p("src"), self.p("dst"))
        self.assertEqual(self.listing(), ["dst"])
        self.assertEqual(os.stat(self.p("dst")).st_ino, ino)
        self.assertEqual(read_file(self.p("dst")), b"new contents")
        self.assertEqual(os.read(fd, 100), b"old contents", "an open fd of the replaced file keeps its data")
        self.assertEqual(os.fstat(fd).st_nlink, 0)
        os.close(fd)

    def test_rename_directory_over_empty_directory(self):
        os.makedirs(self.p("src", "child"))
        os.mkdir(self.p("dst"))
        ino = os.stat(self.p("src")).st_ino
        os.rename(self.p("src"), self.p("dst"))
        self.assertEqual(self.listing(), ["dst"])
        self.assertEqual(os.stat(self.p("dst")).st_ino, ino)
        self.assertEqual(self.listing(self.p("dst")), ["child"])
        self.assertEqual(os.stat(self.dir).st_nlink, 3)

    def test_rename_directory_onto_non_empty_directory_fails(self):
        os.mkdir(self.p("src"))
        os.makedirs(self.p("dst", "keep"))
        self.assertErrno((errno.ENOTEMPTY, errno.EEXIST), os.rename, self.p("src"), self.p("dst"))
        self.assertEqual(self.listing(), ["dst", "src"])
        self.assertEqual(self.listing(self.p("dst")), ["keep"])

    def test_rename_file_and_directory_over_each_other_fail(self):
        write_file(self.p("f"), b"")
        os.mkdir(self.p("d"))
        self.assertErrno(errno.EISDIR, os.rename, self.p("f"), self.p("d"))
        self.assertErrno(errno.ENOTDIR, os.rename, self.p("d"), self.p("f"))
        self.assertEqual(self.listing(), ["d", "f"])

    def test_rename_directory_into_its_own_subtree_is_einval(self):
        os.makedirs(self.p("a", "b", "c"))
        self.assertErrno(errno.EINVAL, os.rename, self.p("a"), self.p("a", "b", "c", "a"))
        self.assertErrno(errno.EINVAL, os.rename, self.p("a"), self.p("a", "x"))
        self.assertErrno(errno.EINVAL, renameat2, self.p("a"), self.p("a", "b", "c", "d"), RENAME_NOREPLACE)
        self.assertEqual(self.listing(), ["a"])
        self.assertEqual(self.listing(self.p("a", "b", "c")), [])

    def test_rename_directory_across_parents_updates_dotdot(self):
        os.makedirs(self.p("d1", "sub", "deep"))
        os.mkdir(self.p("d2"))
        os.rename(self.p("d1", "sub"), self.p("d2", "sub"))
        self.assertEqual(os.stat(self.p("d2", "sub", "..")).st_ino, os.stat(self.p("d2")).st_ino)
        self.assertEqual(os.stat(self.p("d2", "sub", "deep", "..", "..")).st_ino, os.stat(self.p("d2")).st_ino)
        self.assertEqual(os.stat(self.p("d1")).st_nlink, 2)
        self.assertEqual(os.stat(self.p("d2")).st_nlink, 3)
        self.assertEqual(self.listing(self.p("d1")), [])

    def test_rename_onto_a_hard_link_of_itself_does_nothing(self):
        write_file(self.p("a"), b"same")
        os.link(self.p("a"), self.p("b"))
        os.rename(self.p("a"), self.p("b"))
        self.assertEqual(self.listing(), ["a", "b"])
        self.assertEqual(os.stat(self.p("a")).st_nlink, 2)
        os.rename(self.p("a"), self.p("a"))
        self.assertEqual(self.listing(), ["a", "b"])

    def test_rename_symlink_moves_the_link(self):
        write_file(self.p("t"), b"target")
        os.symlink("t", self.p("l"))
        os.rename(self.p("l"), self.p("m"))
        self.assertEqual(os.readlink(self.p("m")), "t")
        self.assertEqual(self.listing(), ["m", "t"])

    def test_renameat2_noreplace(self):
        """Linux renameat2(RENAME_NOREPLACE): EEXIST if the target exists. (The
        kernel answers EEXIST itself when it knows the target; the file system
        sees the flag on the renames that succeed, and must not refuse it.)"""
        write_file(self.p("a"), b"A")
        write_file(self.p("b"), b"B")
        self.assertErrno(errno.EEXIST, renameat2, self.p("a"), self.p("b"), RENAME_NOREPLACE)
        self.assertEqual((read_file(self.p("a")), read_file(self.p("b"))), (b"A", b"B"))
        os.mkdir(self.p("d"))
        self.assertErrno(errno.EEXIST, renameat2, self.p("a"), self.p("d"), RENAME_NOREPLACE)
        renameat2(self.p("a"), self.p("c"), RENAME_NOREPLACE)
        self.assertEqual(self.listing(), ["b", "c", "d"])
        self.assertEqual(read_file(self.p("c")), b"A")
        renameat2(self.p("d"), self.p("e"), RENAME_NOREPLACE)
        self.assertEqual(self.listing(), ["b", "c", "e"])

    def test_renameat2_exchange_files(self):
        """Linux renameat2(RENAME_EXCHANGE): both names stay, their inodes swap."""
        write_file(self.p("a"), b"A contents")
        write_file(self.p("b"), b"B")
        ia, ib = os.stat(self.p("a")).st_ino, os.stat(self.p("b")).st_ino
        renameat2(self.p("a"), self.p("b"), RENAME_EXCHANGE)
        self.assertEqual((os.stat(self.p("a")).st_ino, os.stat(self.p("b")).st_ino), (ib, ia))
        self.assertEqual((read_file(self.p("a")), read_file(self.p("b"))), (b"B", b"A contents"))
        self.assertEqual(os.stat(self.p("a")).st_size, 1)
        self.assertEqual(self.listing(), ["a", "b"])
        self.assertErrno(errno.ENOENT, renameat2, self.p("a"), self.p("missing"), RENAME_EXCHANGE)
        self.assertErrno(errno.EINVAL, renameat2, self.p("a"), self.p("b"), RENAME_EXCHANGE | RENAME_NOREPLACE)

    def test_renameat2_exchange_file_and_directory_across_parents(self):
        os.makedirs(self.p("d1"))
        write_file(self.p("d1", "f"), b"file")
        os.makedirs(self.p("d2", "sub"))
        write_file(self.p("d2", "sub", "inner"), b"inner")
        renameat2(self.p("d1", "f"), self.p("d2", "sub"), RENAME_EXCHANGE)
        self.assertTrue(stat.S_ISDIR(os.stat(self.p("d1", "f")).st_mode))
        self.assertEqual(read_file(self.p("d1", "f", "inner")), b"inner")
        self.assertEqual(read_file(self.p("d2", "sub")), b"file")
        self.assertEqual(os.stat(self.p("d1", "f", "..")).st_ino, os.stat(self.p("d1")).st_ino)
        self.assertEqual(os.stat(self.p("d1")).st_nlink, 3)
        self.assertEqual(os.stat(self.p("d2")).st_nlink, 2)


class HardLinkTest(FsTest):
    def test_hard_links_share_data_and_count(self):
        write_file(self.p("a"), b"shared")
        os.link(self.p("a"), self.p("b"))
        os.mkdir(self.p("d"))
        os.link(self.p("b"), self.p("d", "c"))
        sa, sb, sc = (os.stat(self.p(*n)) for n in (("a",), ("b",), ("d", "c")))
        self.assertEqual(sa.st_ino, sb.st_ino)
        self.assertEqual(sa.st_ino, sc.st_ino)
        self.assertEqual((sa.st_nlink, sb.st_nlink, sc.st_nlink), (3, 3, 3))
        fd = os.open(self.p("b"), os.O_WRONLY | os.O_APPEND)
        os.write(fd, b" data")
        os.close(fd)
        self.assertEqual(read_file(self.p("a")), b"shared data")
        self.assertEqual(os.stat(self.p("d", "c")).st_size, 11)
        os.chmod(self.p("a"), 0o600)
        self.assertEqual(stat.S_IMODE(os.stat(self.p("d", "c")).st_mode), 0o600)
        os.unlink(self.p("a"))
        self.assertEqual(os.stat(self.p("b")).st_nlink, 2)
        self.assertEqual(read_file(self.p("b")), b"shared data")
        os.unlink(self.p("b"))
        self.assertEqual(os.stat(self.p("d", "c")).st_nlink, 1)
        self.assertEqual(read_file(self.p("d", "c")), b"shared data")
        self.assertEqual(self.listing(), ["d"])

    def test_link_errors(self):
        write_file(self.p("a"), b"")
        write_file(self.p("b"), b"")
        os.mkdir(self.p("d"))
        self.assertErrno(errno.EEXIST, os.link, self.p("a"), self.p("b"))
        self.assertErrno(errno.EPERM, os.link, self.p("d"), self.p("dlink"))
        self.assertErrno(errno.ENOENT, os.link, self.p("missing"), self.p("c"))
        self.assertEqual(os.stat(self.p("a")).st_nlink, 1)


class ReaddirTest(FsTest):
    def test_listing_of_a_thousand_entries_is_exact(self):
        names = {"f%04d" % i for i in range(990)}
        names |= {"with space", ".hidden", "...", "-dash", "\u00fcnic\u00f8de", "x" * 255, "a.b.c", "#", "~", "=e"}
        for n in names:
            os.close(os.open(self.p(n), os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644))
        self.assertEqual(len(names), 1000)
        self.assertEqual(self.listing(), sorted(names))
        with os.scandir(self.dir) as it:
            seen = [e.name for e in it]
        self.assertEqual(len(seen), len(set(seen)), "duplicate entries")
        self.assertEqual(sorted(seen), sorted(names))
        self.assertNotIn(".", seen)
        self.assertNotIn("..", seen)

    def test_small_getdents_buffers_and_seeks_return_every_entry_once(self):
        """getdents64 with buffers of one or a few entries (the kernel asks
        the mount for at least a page and keeps what fits), and a seek back
        to an entry's d_off, go on from exactly where they stopped."""
        names = ["s%04d-%s" % (i, "q" * (i % 23)) for i in range(3000)]
        for n in names:
            os.close(os.open(self.p(n), os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644))
        for size in (64, 200, 4096):
            fd = os.open(self.dir, os.O_RDONLY | os.O_DIRECTORY)
            try:
                seen = []
                while True:
                    got = getdents64(fd, size)
                    if not got:
                        break
                    seen += got
            finally:
                os.close(fd)
            listed = [e[0] for e in seen if e[0] not in (".", "..")]
            self.assertEqual(len(listed), len(set(listed)), "size %d: duplicates" % size)
            self.assertEqual(sorted(listed), sorted(names), "size %d" % size)
            self.assertEqual(len({e[2] for e in seen}), len(seen), "size %d: d_off repeats" % size)
        # Seek to the d_off of the 1,234th entry: the rest follow, once.
        fd = os.open(self.dir, os.O_RDONLY | os.O_DIRECTORY)
        try:
            first = []
            while len(first) < 1234:
                first += getdents64(fd, 4096)
            first = first[:1234]
            os.lseek(fd, first[-1][2], os.SEEK_SET)
            rest = []
            while True:
                got = getdents64(fd, 1 << 20)
                if not got:
                    break
                rest += got
        finally:
            os.close(fd)
        listed = [e[0] for e in first + rest if e[0] not in (".", "..")]
        self.assertEqual(sorted(listed), sorted(names))
        self.assertEqual(len(listed), len(names))

    def test_entry_types(self):
        write_file(self.p("file"), b"")
        os.mkdir(self.p("dir"))
        os.symlink("file", self.p("link"))
        os.mkfifo(self.p("fifo"))
        with os.scandir(self.dir) as it:
            kinds = {e.name: (e.is_file(follow_symlinks=False), e.is_dir(follow_symlinks=False), e.is_symlink(),
                              e.inode()) for e in it}
        self.assertEqual({k: v[:3] for k, v in kinds.items()},
                         {"file": (True, False, False), "dir": (False, True, False),
                          "link": (False, False, True), "fifo": (False, False, False)})
        for name, v in kinds.items():
            self.assertEqual(v[3], os.lstat(self.p(name)).st_ino, name + ": d_ino is st_ino")
        self.assertEqual(os.listdir(self.p("dir")), [])

    def test_unlinking_while_listing_returns_every_entry_once(self):
        """Entries not removed before the listing reached them must each be
        returned exactly once, even as returned ones are unlinked (rm -r)."""
        names = ["entry-%04d-%s" % (i, "y" * (i % 50)) for i in range(1000)]
        for n in names:
            os.close(os.open(self.p(n), os.O_WRONLY | os.O_CREAT, 0o644))
        seen = []
        with os.scandir(self.dir) as it:
            for e in it:
                seen.append(e.name)
                os.unlink(e.path)
        self.assertEqual(len(seen), len(set(seen)), "duplicates: %s" % sorted({n for n in seen if seen.count(n) > 1})[:5])
        self.assertEqual(sorted(seen), sorted(names), "missed %s" % sorted(set(names) - set(seen))[:5])
        self.assertEqual(os.listdir(self.dir), [])

    def test_listing_follows_renames_and_unlinks(self):
        for i in range(50):
            write_file(self.p("n%02d" % i), b"")
        for i in range(0, 50, 2):
            os.unlink(self.p("n%02d" % i))
        for i in range(1, 50, 4):
            os.rename(self.p("n%02d" % i), self.p("r%02d" % i))
        want = sorted(["n%02d" % i for i in range(1, 50, 2) if (i - 1) % 4] + ["r%02d" % i for i in range(1, 50, 4)])
        self.assertEqual(self.listing(), want)


class XattrTest(FsTest):
    def user_xattrs(self, path):
        return sorted(n for n in os.listxattr(path) if n.startswith("user."))

    def test_set_get_list_remove(self):
        write_file(self.p("f"), b"")
        os.setxattr(self.p("f"), "user.a", b"1")
        os.setxattr(self.p("f"), "user.bin", b"\x00\xff\x00 nul")
        os.setxattr(self.p("f"), "user.empty", b"")
        big = os.urandom(1024)
        os.setxattr(self.p("f"), "user.big", big)
        self.assertEqual(os.getxattr(self.p("f"), "user.a"), b"1")
        self.assertEqual(os.getxattr(self.p("f"), "user.bin"), b"\x00\xff\x00 nul")
        self.assertEqual(os.getxattr(self.p("f"), "user.empty"), b"")
        self.assertEqual(os.getxattr(self.p("f"), "user.big"), big)
        self.assertEqual(self.user_xattrs(self.p("f")), ["user.a", "user.big", "user.bin", "user.empty"])
        os.setxattr(self.p("f"), "user.a", b"replaced value")
        self.assertEqual(os.getxattr(self.p("f"), "user.a"), b"replaced value")
        os.removexattr(self.p("f"), "user.a")
        self.assertErrno(errno.ENODATA, os.getxattr, self.p("f"), "user.a")
        self.assertEqual(self.user_xattrs(self.p("f")), ["user.big", "user.bin", "user.empty"])
        fd = os.open(self.p("f"), os.O_RDONLY)
        os.setxattr(fd, "user.byfd", b"fd")
        self.assertEqual(os.getxattr(fd, "user.byfd"), b"fd")
        os.close(fd)
        self.assertEqual(os.getxattr(self.p("f"), "user.byfd"), b"fd")

    def test_missing_and_flags(self):
        write_file(self.p("f"), b"")
        self.assertErrno(errno.ENODATA, os.getxattr, self.p("f"), "user.missing")
        self.assertErrno(errno.ENODATA, os.removexattr, self.p("f"), "user.missing")
        self.assertErrno(errno.ENODATA, os.setxattr, self.p("f"), "user.x", b"v", os.XATTR_REPLACE)
        os.setxattr(self.p("f"), "user.x", b"v", os.XATTR_CREATE)
        self.assertErrno(errno.EEXIST, os.setxattr, self.p("f"), "user.x", b"w", os.XATTR_CREATE)
        os.setxattr(self.p("f"), "user.x", b"w", os.XATTR_REPLACE)
        self.assertEqual(os.getxattr(self.p("f"), "user.x"), b"w")
        self.assertErrno(errno.ENOENT, os.getxattr, self.p("missing"), "user.x")

    def test_many_xattrs_on_a_directory(self):
        os.mkdir(self.p("d"))
        want = {"user.k%02d" % i: ("value %d" % i).encode() for i in range(20)}
        for k, v in want.items():
            os.setxattr(self.p("d"), k, v)
        self.assertEqual(self.user_xattrs(self.p("d")), sorted(want))
        for k, v in want.items():
            self.assertEqual(os.getxattr(self.p("d"), k), v)

    def test_xattrs_follow_the_inode(self):
        write_file(self.p("a"), b"")
        os.setxattr(self.p("a"), "user.tag", b"kept")
        os.link(self.p("a"), self.p("hard"))
        os.rename(self.p("a"), self.p("b"))
        self.assertEqual(os.getxattr(self.p("b"), "user.tag"), b"kept")
        self.assertEqual(os.getxattr(self.p("hard"), "user.tag"), b"kept")
        write_file(self.p("a"), b"")
        self.assertEqual(self.user_xattrs(self.p("a")), [], "a new file at an old name has no xattrs")


class LockTest(FsTest):
    def agent(self):
        a = Agent()
        self.addCleanup(a.close)
        return a

    def test_flock_between_processes(self):
        write_file(self.p("f"), b"")
        fd = os.open(self.p("f"), os.O_RDWR)
        self.addCleanup(os.close, fd)
        a = self.agent()
        self.assertEqual(a.call(op="open", fd=1, path=self.p("f")), 0)
        fcntl.flock(fd, fcntl.LOCK_EX)
        self.assertEqual(a.call(op="flock", fd=1, how=fcntl.LOCK_EX | fcntl.LOCK_NB), errno.EWOULDBLOCK)
        self.assertEqual(a.call(op="flock", fd=1, how=fcntl.LOCK_SH | fcntl.LOCK_NB), errno.EWOULDBLOCK)
        # another open file description of our own is not the lock's owner
        fd2 = os.open(self.p("f"), os.O_RDWR)
        self.assertErrno(errno.EWOULDBLOCK, fcntl.flock, fd2, fcntl.LOCK_EX | fcntl.LOCK_NB)
        os.close(fd2)   # and closing it does not drop the lock
        self.assertEqual(a.call(op="flock", fd=1, how=fcntl.LOCK_EX | fcntl.LOCK_NB), errno.EWOULDBLOCK)
        a.send(op="flock", fd=1, how=fcntl.LOCK_EX)
        self.assertIsNone(a.reply(0.5), "LOCK_EX did not wait for the holder")
        fcntl.flock(fd, fcntl.LOCK_UN)
        self.assertEqual(a.reply(10), 0, "LOCK_EX not granted after LOCK_UN")
        self.assertErrno(errno.EWOULDBLOCK, fcntl.flock, fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        self.assertEqual(a.call(op="flock", fd=1, how=fcntl.LOCK_SH), 0)   # downgrade
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)   # shared locks coexist
        self.assertEqual(a.call(op="close", fd=1), 0)
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)   # close released the agent's lock

    def test_flock_released_when_holder_exits(self):
        write_file(self.p("f"), b"")
        a = self.agent()
        self.assertEqual(a.call(op="open", fd=1, path=self.p("f")), 0)
        self.assertEqual(a.call(op="flock", fd=1, how=fcntl.LOCK_EX), 0)
        fd = os.open(self.p("f"), os.O_RDWR)
        self.addCleanup(os.close, fd)
        self.assertErrno(errno.EWOULDBLOCK, fcntl.flock, fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        a.close()
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)

    def test_posix_record_locks_between_processes(self):
        write_file(self.p("f"), bytes(1000))
        fd = os.open(self.p("f"), os.O_RDWR)
        self.addCleanup(os.close, fd)
        a = self.agent()
        self.assertEqual(a.call(op="open", fd=1, path=self.p("f")), 0)
        fcntl.lockf(fd, fcntl.LOCK_EX, 100, 0)          # bytes [0, 100)
        ex_nb = fcntl.LOCK_EX | fcntl.LOCK_NB
        self.assertEqual(a.call(op="lockf", fd=1, how=ex_nb, len=100, start=100), 0, "[100, 200) is free")
        self.assertIn(a.call(op="lockf", fd=1, how=ex_nb, len=20, start=90), (errno.EAGAIN, errno.EACCES),
                      "[90, 110) overlaps ours")
        self.assertIn(a.call(op="lockf", fd=1, how=fcntl.LOCK_SH | fcntl.LOCK_NB, len=1, start=99),
                      (errno.EAGAIN, errno.EACCES))
        self.assertErrno((errno.EAGAIN, errno.EACCES), fcntl.lockf, fd, ex_nb, 50, 150)
        # F_GETLK names the holder
        l_type, _, l_start, l_len, l_pid = a.call(op="getlk", fd=1, type=fcntl.F_WRLCK, start=0, len=10)
        self.assertEqual((l_type, l_start, l_len, l_pid), (fcntl.F_WRLCK, 0, 100, os.getpid()))
        l_type, *_ = a.call(op="getlk", fd=1, type=fcntl.F_WRLCK, start=500, len=10)
        self.assertEqual(l_type, fcntl.F_UNLCK)
        # a waiting lock is granted when the range is unlocked
        a.send(op="lockf", fd=1, how=fcntl.LOCK_EX, len=10, start=50)
        self.assertIsNone(a.reply(0.5), "F_SETLKW did not wait")
        fcntl.lockf(fd, fcntl.LOCK_UN, 100, 0)
        self.assertEqual(a.reply(10), 0, "waiting lock not granted after unlock")
        # shared read locks coexist
        fcntl.lockf(fd, fcntl.LOCK_SH | fcntl.LOCK_NB, 10, 500)
        self.assertEqual(a.call(op="lockf", fd=1, how=fcntl.LOCK_SH | fcntl.LOCK_NB, len=10, start=500), 0)

    def test_a_killed_waiter_gives_up_its_wait(self):
        """A process killed while F_SETLKW waits leaves no lock behind."""
        write_file(self.p("f"), bytes(10))
        fd = os.open(self.p("f"), os.O_RDWR)
        self.addCleanup(os.close, fd)
        fcntl.lockf(fd, fcntl.LOCK_EX, 0, 0)
        a = self.agent()
        self.assertEqual(a.call(op="open", fd=1, path=self.p("f")), 0)
        a.send(op="lockf", fd=1, how=fcntl.LOCK_EX, len=0, start=0)
        self.assertIsNone(a.reply(0.5), "F_SETLKW did not wait")
        a.p.kill()
        a.p.wait(timeout=10)
        fcntl.lockf(fd, fcntl.LOCK_UN, 0, 0)
        b = self.agent()
        self.assertEqual(b.call(op="open", fd=1, path=self.p("f")), 0)
        self.assertEqual(b.call(op="lockf", fd=1, how=fcntl.LOCK_EX | fcntl.LOCK_NB, len=0, start=0), 0,
                         "the killed waiter holds the lock")

    def test_posix_locks_dropped_when_any_fd_of_the_file_closes(self):
        """POSIX: closing any descriptor of a file releases all the process's
        record locks on it (unlike flock)."""
        write_file(self.p("f"), bytes(100))
        fd = os.open(self.p("f"), os.O_RDWR)
        self.addCleanup(os.close, fd)
        a = self.agent()
        self.assertEqual(a.call(op="open", fd=1, path=self.p("f")), 0)
        self.assertEqual(a.call(op="open", fd=2, path=self.p("f")), 0)
        self.assertEqual(a.call(op="lockf", fd=1, how=fcntl.LOCK_EX, len=0, start=0), 0)
        self.assertErrno((errno.EAGAIN, errno.EACCES), fcntl.lockf, fd, fcntl.LOCK_EX | fcntl.LOCK_NB, 1, 10)
        self.assertEqual(a.call(op="close", fd=2), 0)
        fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB, 1, 10)


class SparseTest(FsTest):
    def test_write_at_10_gib_leaves_a_hole_of_zeros(self):
        fd = os.open(self.p("sparse"), os.O_RDWR | os.O_CREAT, 0o644)
        self.addCleanup(os.close, fd)
        payload = b"end of a very sparse file" * 100
        os.lseek(fd, 10 * GiB, os.SEEK_SET)
        write_all(fd, payload)
        os.fsync(fd)
        st = os.fstat(fd)
        self.assertEqual(st.st_size, 10 * GiB + len(payload))
        self.assertLessEqual(st.st_blocks * 512, 4 * MiB, "the hole takes space (st_blocks %d)" % st.st_blocks)
        self.assertEqual(pread_all(fd, len(payload), 10 * GiB), payload)
        for off in (0, 4096, 5 * GiB + 12345, 10 * GiB - 64 * KiB):
            self.assertEqual(pread_all(fd, 64 * KiB, off), bytes(64 * KiB), "hole at %d" % off)
        self.assertEqual(pread_all(fd, 100, 10 * GiB - 50), bytes(50) + payload[:50])
        self.assertEqual(os.pread(fd, 10, st.st_size), b"")
        os.pwrite(fd, b"middle", 5 * GiB)
        self.assertEqual(pread_all(fd, 10, 5 * GiB - 2), b"\0\0middle\0\0")
        self.assertEqual(os.stat(self.p("sparse")).st_size, 10 * GiB + len(payload))


class AppendTest(FsTest):
    def test_o_append_from_two_fds_writes_at_the_end(self):
        write_file(self.p("f"), b"start|")
        fd1 = os.open(self.p("f"), os.O_WRONLY | os.O_APPEND)
        fd2 = os.open(self.p("f"), os.O_WRONLY | os.O_APPEND)
        want = bytearray(b"start|")
        for i in range(20):
            a, b = b"A%d|" % i * (i + 1), b"bb%d|" % i
            os.write(fd1, a)
            os.write(fd2, b)
            want += a + b
            self.assertEqual(os.lseek(fd2, 0, os.SEEK_CUR), len(want), "offset after an append is the end")
        os.lseek(fd1, 0, os.SEEK_SET)
        os.write(fd1, b"tail")   # O_APPEND ignores the offset
        want += b"tail"
        os.close(fd1)
        os.close(fd2)
        self.assertEqual(read_file(self.p("f")), bytes(want))

    def test_concurrent_appends_from_two_processes_never_overlap(self):
        write_file(self.p("log"), b"")
        agents = [Agent(), Agent()]
        for a in agents:
            self.addCleanup(a.close)
        count, size = 500, 64
        for i, a in enumerate(agents):
            self.assertEqual(a.call(op="open", fd=1, path=self.p("log"), flags=os.O_APPEND), 0)
        for i, a in enumerate(agents):
            a.send(op="append", fd=1, tag="p%d" % i, count=count, size=size)
        for a in agents:
            self.assertEqual(a.reply(60), 0)
        data = read_file(self.p("log"))
        self.assertEqual(len(data), 2 * count * size)
        records = [data[i:i + size] for i in range(0, len(data), size)]
        for t in ("p0", "p1"):
            mine = [r for r in records if r.startswith(t.encode() + b":")]
            self.assertEqual([int(r.split(b":")[1]) for r in mine], list(range(count)), t + " records lost or torn")
            self.assertTrue(all(r.endswith(b".\n") for r in mine))


class MmapTest(FsTest):
    def test_mmap_read_of_written_data(self):
        data = os.urandom(3 * 4096 + 100)
        write_file(self.p("f"), data)
        with open(self.p("f"), "rb") as f, mmap.mmap(f.fileno(), 0, prot=mmap.PROT_READ) as m:
            self.assertEqual(m[:], data)
            self.assertEqual(m[4000:4200], data[4000:4200])

    def test_mmap_write_msync_read_back(self):
        data = bytearray(os.urandom(5 * 4096 + 123))
        write_file(self.p("f"), bytes(data))
        fd = os.open(self.p("f"), os.O_RDWR)
        m = mmap.mmap(fd, len(data), mmap.MAP_SHARED, mmap.PROT_READ | mmap.PROT_WRITE)
        m[10:20] = b"0123456789"
        m[4090:4110] = b"X" * 20           # across a page boundary
        m[len(data) - 3:] = b"end"
        data[10:20] = b"0123456789"
        data[4090:4110] = b"X" * 20
        data[len(data) - 3:] = b"end"
        m.flush()                           # msync(MS_SYNC)
        reader = os.open(self.p("f"), os.O_RDONLY)
        self.assertEqual(pread_all(reader, len(data), 0), bytes(data))
        os.pwrite(fd, b"via write()", 8192)  # and write() shows in the mapping
        data[8192:8203] = b"via write()"
        self.assertEqual(m[8192:8203], b"via write()")
        m.close()
        os.close(fd)
        os.close(reader)
        self.assertEqual(read_file(self.p("f")), bytes(data))
        self.assertEqual(os.stat(self.p("f")).st_size, len(data))


class OpenUnlinkedTest(FsTest):
    def test_unlinked_open_file_stays_usable_and_unlisted(self):
        fd = os.open(self.p("f"), os.O_RDWR | os.O_CREAT, 0o644)
        os.write(fd, b"before unlink")
        os.unlink(self.p("f"))
        self.assertEqual(os.listdir(self.dir), [], "unlinked file (or a hidden copy) still listed")
        self.assertErrno(errno.ENOENT, os.stat, self.p("f"))
        st = os.fstat(fd)
        self.assertEqual((st.st_nlink, st.st_size), (0, 13))
        self.assertEqual(os.pread(fd, 100, 0), b"before unlink")
        big = os.urandom(300 * KiB)
        write_all(fd, big, 13)
        os.fsync(fd)
        self.assertEqual(os.fstat(fd).st_size, 13 + len(big))
        self.assertEqual(pread_all(fd, len(big), 13), big)
        os.ftruncate(fd, 6)
        self.assertEqual(os.pread(fd, 100, 0), b"before")
        write_file(self.p("f"), b"a new file")    # the name is free for a new inode
        self.assertEqual(os.pread(fd, 100, 0), b"before")
        self.assertNotEqual(os.stat(self.p("f")).st_ino, st.st_ino)
        os.close(fd)
        self.assertEqual(read_file(self.p("f")), b"a new file")
        self.assertEqual(os.listdir(self.dir), ["f"])

    def test_rmdir_of_open_directory(self):
        os.mkdir(self.p("d"))
        fd = os.open(self.p("d"), os.O_RDONLY | os.O_DIRECTORY)
        os.rmdir(self.p("d"))
        self.assertEqual(os.listdir(fd), [])
        self.assertErrno(errno.ENOENT, os.open, "x", os.O_WRONLY | os.O_CREAT, 0o644, dir_fd=fd)
        os.close(fd)
        self.assertEqual(os.listdir(self.dir), [])


class SyncTest(FsTest):
    def test_fsync_fdatasync_and_directory_fsync(self):
        fd = os.open(self.p("f"), os.O_RDWR | os.O_CREAT, 0o644)
        write_all(fd, os.urandom(MiB))
        os.fsync(fd)
        os.pwrite(fd, b"x", 10)
        os.fdatasync(fd)
        os.close(fd)
        dfd = os.open(self.dir, os.O_RDONLY | os.O_DIRECTORY)
        os.fsync(dfd)
        os.close(dfd)
        os.sync()
        fd = os.open(self.p("f"), os.O_RDONLY)
        os.fsync(fd)   # on a read-only descriptor too
        os.close(fd)
        self.assertEqual(os.stat(self.p("f")).st_size, MiB)

    def test_statvfs_is_sane(self):
        fd = os.open(self.dir, os.O_RDONLY)
        self.addCleanup(os.close, fd)
        for sv in (os.statvfs(self.dir), os.fstatvfs(fd)):
            self.assertGreater(sv.f_bsize, 0)
            self.assertGreater(sv.f_frsize, 0)
            self.assertGreater(sv.f_blocks, 0)
            self.assertGreaterEqual(sv.f_blocks, sv.f_bfree)
            self.assertGreaterEqual(sv.f_bfree, sv.f_bavail)
            self.assertGreaterEqual(sv.f_files, sv.f_ffree)
            self.assertGreaterEqual(sv.f_namemax, 255)
            self.assertGreater(sv.f_bavail * sv.f_frsize, 64 * MiB, "room to write")


class FallocateTest(FsTest):
    def test_posix_fallocate_grows_the_file(self):
        fd = os.open(self.p("f"), os.O_RDWR | os.O_CREAT, 0o644)
        self.addCleanup(os.close, fd)
        os.write(fd, b"keep")
        try:
            os.posix_fallocate(fd, 0, 3 * MiB + 5)
        except OSError as e:
            if e.errno == errno.EOPNOTSUPP:
                self.skipTest("posix_fallocate: EOPNOTSUPP")
            raise
        self.assertEqual(os.fstat(fd).st_size, 3 * MiB + 5)
        self.assertEqual(pread_all(fd, 3 * MiB + 5, 0), b"keep" + bytes(3 * MiB + 1))
        os.posix_fallocate(fd, 0, 100)   # never shrinks
        self.assertEqual(os.fstat(fd).st_size, 3 * MiB + 5)

    def test_fallocate_mode_0_and_keep_size(self):
        fd = os.open(self.p("f"), os.O_RDWR | os.O_CREAT, 0o644)
        self.addCleanup(os.close, fd)
        try:
            fallocate(fd, 0, 0, MiB)
        except OSError as e:
            if e.errno == errno.EOPNOTSUPP:
                self.skipTest("fallocate: EOPNOTSUPP")
            raise
        os.fsync(fd)
        st = os.fstat(fd)
        self.assertEqual(st.st_size, MiB)
        self.assertEqual(pread_all(fd, MiB, 0), bytes(MiB))
        FALLOC_FL_KEEP_SIZE = 1
        try:
            fallocate(fd, FALLOC_FL_KEEP_SIZE, MiB, MiB)
        except OSError as e:
            if e.errno == errno.EOPNOTSUPP:
                return
            raise
        self.assertEqual(os.fstat(fd).st_size, MiB, "FALLOC_FL_KEEP_SIZE changed the size")


@unittest.skipUnless(IS_ROOT, "needs root (to become nobody and to chown)")
class PermissionTest(FsTest):
    def run_as_nobody(self, fn):
        """Run fn() in a forked child that has become uid/gid 65534 with no
        supplementary groups; return what it returns (JSON-able)."""
        r, w = os.pipe()
        pid = os.fork()
        if pid == 0:
            try:
                os.close(r)
                os.setgroups([])
                os.setgid(NOBODY)
                os.setuid(NOBODY)
                os.umask(0o022)
                out = json.dumps({"ok": fn()})
            except BaseException:
                out = json.dumps({"error": traceback.format_exc()})
            os.write(w, out.encode())
            os._exit(0)
        os.close(w)
        chunks = []
        while True:
            b = os.read(r, 65536)
            if not b:
                break
            chunks.append(b)
        os.close(r)
        os.waitpid(pid, 0)
        res = json.loads(b"".join(chunks) or b'{"error": "child died"}')
        if "error" in res:
            self.fail("child running as nobody failed:\n" + res["error"])
        return res["ok"]

    def expect(self, got, want):
        bad = ["%s: got %s, want %s" % (k, errname(got[k]), " or ".join(errname(e) for e in
               (want[k] if isinstance(want[k], tuple) else (want[k],))))
               for k in want if got[k] not in (want[k] if isinstance(want[k], tuple) else (want[k],))]
        self.assertFalse(bad, "as nobody:\n  " + "\n  ".join(bad))

    def test_unprivileged_user_is_held_to_the_mode_bits(self):
        p = self.p
        os.mkdir(p("rootdir"), 0o755)
        write_file(p("rootdir", "rootfile"), b"root's", 0o644)
        os.mkdir(p("open"))
        os.chmod(p("open"), 0o777)
        os.mkdir(p("sticky"))
        os.chmod(p("sticky"), 0o1777)
        write_file(p("sticky", "rootsfile"), b"world-writable", 0o666)
        os.chmod(p("sticky", "rootsfile"), 0o666)
        os.mkdir(p("private"), 0o700)
        write_file(p("private", "f"), b"")
        write_file(p("secret"), b"s", 0o600)
        write_file(p("suid"), b"#!/bin/sh\n", 0o755)
        os.chmod(p("suid"), 0o4777)

        def checks():
            st = attempt(os.stat, p("rootdir"))
            if st:
                raise RuntimeError("nobody cannot reach the test directory (%s): make CFS_POSIX_DIR and its parents "
                                   "searchable by others; a FUSE mount needs allow_other" % errname(st))
            g = {}
            g["read 0644 root file"] = attempt(lambda: os.close(os.open(p("rootdir", "rootfile"), os.O_RDONLY)))
            g["write 0644 root file"] = attempt(os.open, p("rootdir", "rootfile"), os.O_WRONLY)
            g["truncate 0644 root file"] = attempt(os.truncate, p("rootdir", "rootfile"), 0)
            g["create in 0755 root dir"] = attempt(os.open, p("rootdir", "new"), os.O_WRONLY | os.O_CREAT, 0o644)
            g["mkdir in 0755 root dir"] = attempt(os.mkdir, p("rootdir", "newdir"))
            g["unlink in 0755 root dir"] = attempt(os.unlink, p("rootdir", "rootfile"))
            g["rename in 0755 root dir"] = attempt(os.rename, p("rootdir", "rootfile"), p("rootdir", "moved"))
            g["chmod root file"] = attempt(os.chmod, p("rootdir", "rootfile"), 0o666)
            g["chown root file"] = attempt(os.chown, p("rootdir", "rootfile"), NOBODY, NOBODY)
            g["setxattr on 0644 root file"] = attempt(os.setxattr, p("rootdir", "rootfile"), "user.x", b"1")
            g["access W_OK 0644 root file"] = 0 if os.access(p("rootdir", "rootfile"), os.W_OK) else errno.EACCES
            g["create in 0777 dir"] = attempt(write_file, p("open", "mine"), b"mine")
            st = os.stat(p("open", "mine"))
            g["new file owned by nobody"] = 0 if (st.st_uid, st.st_gid) == (NOBODY, NOBODY) else errno.EPERM
            g["mkdir in 0777 dir"] = attempt(os.mkdir, p("open", "mydir"))
            g["chmod own file"] = attempt(os.chmod, p("open", "mine"), 0o600)
            g["read 0600 root file"] = attempt(os.open, p("secret"), os.O_RDONLY)
            g["stat in 0700 root dir"] = attempt(os.stat, p("private", "f"))
            g["list 0700 root dir"] = attempt(os.listdir, p("private"))
            g["write 0666 file in sticky dir"] = attempt(write_file, p("sticky", "rootsfile"), b"scribble")
            g["utime now on 0666 root file"] = attempt(os.utime, p("sticky", "rootsfile"))
            g["utime explicit on 0666 root file"] = attempt(os.utime, p("sticky", "rootsfile"), (1, 1))
            g["unlink root's file in sticky dir"] = attempt(os.unlink, p("sticky", "rootsfile"))
            g["rename root's file in sticky dir"] = attempt(os.rename, p("sticky", "rootsfile"), p("sticky", "x"))
            g["create own file in sticky dir"] = attempt(write_file, p("sticky", "own"), b"")
            g["unlink own file in sticky dir"] = attempt(os.unlink, p("sticky", "own"))
            g["write 04777 root file"] = attempt(write_file, p("suid"), b"#!/bin/true\n")
            return g

        eacces, eperm = errno.EACCES, errno.EPERM
        self.expect(self.run_as_nobody(checks), {
            "read 0644 root file": 0, "write 0644 root file": eacces, "truncate 0644 root file": eacces,
            "create in 0755 root dir": eacces, "mkdir in 0755 root dir": eacces,
            "unlink in 0755 root dir": eacces, "rename in 0755 root dir": eacces,
            "chmod root file": eperm, "chown root file": eperm, "setxattr on 0644 root file": (eacces, eperm),
            "access W_OK 0644 root file": eacces,
            "create in 0777 dir": 0, "new file owned by nobody": 0, "mkdir in 0777 dir": 0, "chmod own file": 0,
            "read 0600 root file": eacces, "stat in 0700 root dir": eacces, "list 0700 root dir": eacces,
            "write 0666 file in sticky dir": 0, "utime now on 0666 root file": 0,
            "utime explicit on 0666 root file": eperm,
            "unlink root's file in sticky dir": eperm, "rename root's file in sticky dir": eperm,
            "create own file in sticky dir": 0, "unlink own file in sticky dir": 0,
            "write 04777 root file": 0})
        self.assertEqual(read_file(p("rootdir", "rootfile")), b"root's")
        self.assertEqual(sorted(os.listdir(p("rootdir"))), ["rootfile"])
        self.assertEqual(sorted(os.listdir(p("sticky"))), ["rootsfile"])
        self.assertEqual(read_file(p("sticky", "rootsfile")), b"scribble")
        self.assertEqual(stat.S_IMODE(os.stat(p("open", "mine")).st_mode), 0o600)

    def test_unprivileged_write_clears_set_user_id(self):
        """Linux: a write by someone other than root clears S_ISUID (else any
        user could plant code in a set-user-ID program)."""
        write_file(self.p("suid"), b"#!/bin/sh\n", 0o755)
        os.chmod(self.p("suid"), 0o4777)

        def write():
            return attempt(write_file, self.p("suid"), b"#!/bin/true\n")
        self.assertEqual(self.run_as_nobody(write), 0)
        self.assertEqual(read_file(self.p("suid")), b"#!/bin/true\n")
        self.assertEqual(stat.S_IMODE(os.stat(self.p("suid")).st_mode) & stat.S_ISUID, 0, "S_ISUID kept")

    def test_setgid_directory_passes_its_group_on(self):
        os.mkdir(self.p("g"))
        os.chown(self.p("g"), 0, 4321)
        os.chmod(self.p("g"), 0o2775)
        write_file(self.p("g", "f"), b"")
        os.mkdir(self.p("g", "sub"))
        self.assertEqual(os.stat(self.p("g", "f")).st_gid, 4321)
        st = os.stat(self.p("g", "sub"))
        self.assertEqual(st.st_gid, 4321)
        self.assertTrue(st.st_mode & stat.S_ISGID, "a subdirectory inherits S_ISGID")


class IntegrityTest(FsTest):
    def test_random_writes_match_an_in_memory_model(self):
        """Files of random sizes built by random writes (some past EOF), truncates
        and reads; every read and the final sha256 checked against a model."""
        rng = random.Random(SEED)
        models = {}
        for i in range(12):
            path = self.p("r%02d" % i)
            model = bytearray()
            fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
            for step in range(rng.randint(5, 40)):
                op = rng.random()
                if op < 0.6:
                    off = rng.randint(0, len(model) + 256 * KiB)
                    n = rng.choice([1, 17, 4096, rng.randint(1, 64 * KiB), rng.randint(1, MiB)])
                    buf = rng.randbytes(n)
                    write_all(fd, buf, off)
                    if off > len(model):
                        model += bytes(off - len(model))
                    model[off:off + n] = buf
                elif op < 0.7:
                    n = rng.randint(0, len(model) + 128 * KiB)
                    os.ftruncate(fd, n)
                    model = model[:n] + bytes(max(0, n - len(model)))
                else:
                    off = rng.randint(0, len(model) + 10)
                    n = rng.randint(0, 200 * KiB)
                    got = pread_all(fd, n, off)
                    self.assertEqual(got, bytes(model[off:off + n]),
                                     "seed %d file %d step %d: read %d+%d" % (SEED, i, step, off, n))
                self.assertEqual(os.fstat(fd).st_size, len(model), "seed %d file %d step %d" % (SEED, i, step))
            os.close(fd)
            models[path] = bytes(model)
        for path, model in models.items():
            got = read_file(path)
            self.assertEqual(len(got), len(model), "seed %d: %s size" % (SEED, path))
            self.assertEqual(sha(got), sha(model), "seed %d: %s first difference at %s" % (
                SEED, path, first_difference(got, model)))


    def test_concurrent_reads_right_after_a_write_see_it(self):
        """Several reads at once (O_DIRECT: each one a FUSE read) just after a
        write: each must see it, not the extents from before the write's
        commit (two reads flushed at once; a fetch raced the commit)."""
        rng = random.Random(SEED)
        path = self.p("f")
        model = bytearray(MiB)
        write_file(path, bytes(model))
        fd = os.open(path, os.O_RDWR)
        self.addCleanup(os.close, fd)
        rfd = os.open(path, os.O_RDONLY | os.O_DIRECT)
        self.addCleanup(os.close, rfd)
        for step in range(60):
            off = rng.randrange(0, MiB - 5000)
            buf = rng.randbytes(rng.randrange(1, 5000))
            write_all(fd, buf, off)
            model[off:off + len(buf)] = buf
            got = [None] * 4
            # O_DIRECT wants aligned offsets, lengths and buffers (ext4 does).
            start, end = off // 4096 * 4096, (off + len(buf) + 4095) // 4096 * 4096

            def read(i):
                try:
                    page = mmap.mmap(-1, end - start)
                    n = os.preadv(rfd, [page], start)
                    got[i] = bytes(page[off - start:min(n, off - start + len(buf))])
                except OSError as e:
                    got[i] = e
            threads = [threading.Thread(target=read, args=(i,)) for i in range(len(got))]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            for i, g in enumerate(got):
                self.assertEqual(g, bytes(buf), "seed %d step %d reader %d: read %d+%d" % (SEED, step, i, off, len(buf)))
        self.assertEqual(sha(read_file(path)), sha(model))

    def test_scattered_writes_while_two_threads_fsync_all_land(self):
        """A writer's scattered 4 KiB writes (on cfs committed behind the
        writer as their needles are uploaded) while two other threads fsync
        the same descriptor: every write is in the file after the close."""
        rng = random.Random(SEED)
        path = self.p("f")
        size = 8 * MiB
        model = bytearray(size)
        write_file(path, bytes(model))
        fd = os.open(path, os.O_RDWR)
        done = threading.Event()
        errors = []

        def syncer():
            try:
                while not done.is_set():
                    os.fsync(fd)
            except OSError as e:
                errors.append(e)
        syncers = [threading.Thread(target=syncer) for _ in range(2)]
        for t in syncers:
            t.start()
        try:
            for _ in range(3000):
                off = rng.randrange(0, size // 4096) * 4096
                buf = rng.randbytes(4096)
                write_all(fd, buf, off)
                model[off:off + 4096] = buf
        finally:
            done.set()
            for t in syncers:
                t.join()
        os.close(fd)
        self.assertEqual(errors, [])
        got = read_file(path)
        self.assertEqual(sha(got), sha(bytes(model)), "seed %d: first difference at %s" % (
            SEED, first_difference(got, bytes(model))))

class BusyDirectoryTest(FsTest):
    """Many creates, writes and unlinks in a row in one directory (on cfs, the
    client then holds the directory and sends its changes behind)."""

    def test_thousands_of_files_made_written_and_removed_in_a_row(self):
        # 4,000 closes in a few seconds: their lease releases go out in
        # several batches while creates are still being sent (a crash once).
        names = ["f%04d" % i for i in range(4000)]
        for i, n in enumerate(names):
            fd = os.open(self.p(n), os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
            if i % 4 == 0:
                os.write(fd, n.encode())
            os.close(fd)
        self.assertEqual(self.listing(), names)
        for i, n in enumerate(names):
            st = os.stat(self.p(n))
            self.assertEqual(st.st_size, len(n) if i % 4 == 0 else 0, n)
        for n in names[::97]:
            self.assertEqual(read_file(self.p(n)), n.encode() if names.index(n) % 4 == 0 else b"")
        self.assertErrno(errno.EEXIST, os.open, self.p(names[5]), os.O_CREAT | os.O_EXCL | os.O_WRONLY)
        self.assertErrno(errno.ENOENT, os.stat, self.p("missing"))
        for n in names[:3000]:
            os.unlink(self.p(n))
        self.assertEqual(self.listing(), names[3000:])
        self.assertErrno(errno.ENOENT, os.unlink, self.p(names[0]))
        # fsync of the directory: what was made in it is durable.
        fd = os.open(self.dir, os.O_RDONLY | os.O_DIRECTORY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


    def test_listing_pages_through_a_directory_being_changed(self):
        """A directory of more entries than one page (4,096), listed right
        after its creates and unlinks (on cfs from the client's own copy of
        the directory it holds): every entry once, in any order, with the
        sizes written; and again after more unlinks."""
        names = ["n%05d-%s" % (i, "x" * (i % 40)) for i in range(9000)]  # short and long names
        for i, n in enumerate(names):
            fd = os.open(self.p(n), os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
            if i % 5 == 0:
                os.write(fd, b"%d" % i)
            os.close(fd)
        for n in names[::7]:
            os.unlink(self.p(n))
        left = sorted(set(names) - set(names[::7]))
        with os.scandir(self.dir) as it:
            seen = {e.name: e.stat().st_size for e in it}
        self.assertEqual(sorted(seen), left)
        for n in left[::50]:
            i = names.index(n)
            self.assertEqual(seen[n], len(b"%d" % i) if i % 5 == 0 else 0, n)
        for n in left[:4000]:
            os.unlink(self.p(n))
        self.assertEqual(self.listing(), left[4000:])

    def test_small_files_made_fast_read_back_as_last_changed(self):
        """Files created, written and read back at once in one directory (on
        cfs: one the mount holds, whose files it opens for reading from what
        it knows), then overwritten, appended to, truncated, written in
        several pieces, unlinked and made again: each read gives the last
        bytes written."""
        rng = random.Random(5)
        data = {"m%03d" % i: rng.randbytes(rng.randrange(0, 9000)) for i in range(300)}
        for n, b in data.items():
            write_file(self.p(n), b)
        for n, b in data.items():
            self.assertEqual(read_file(self.p(n)), b, n)
        for i, n in enumerate(data):
            kind = i % 6
            if kind == 0:  # overwritten in place, same size or not
                data[n] = rng.randbytes(rng.randrange(1, 9000))
                write_file(self.p(n), data[n])
            elif kind == 1:  # appended to
                more = rng.randbytes(rng.randrange(1, 5000))
                with open(self.p(n), "ab") as f:
                    f.write(more)
                data[n] += more
            elif kind == 2:  # truncated
                os.truncate(self.p(n), len(data[n]) // 2)
                data[n] = data[n][:len(data[n]) // 2]
            elif kind == 3:  # a piece in the middle, in its own open
                piece = rng.randbytes(100)
                at = rng.randrange(0, len(data[n]) + 1)
                fd = os.open(self.p(n), os.O_WRONLY)
                try:
                    os.pwrite(fd, piece, at)
                finally:
                    os.close(fd)
                b = bytearray(data[n]) + bytearray(max(0, at + 100 - len(data[n])))
                b[at:at + 100] = piece
                data[n] = bytes(b)
            elif kind == 4:  # unlinked and made again
                os.unlink(self.p(n))
                data[n] = rng.randbytes(rng.randrange(0, 9000))
                write_file(self.p(n), data[n])
            self.assertEqual(read_file(self.p(n)), data[n], n)
        for n, b in data.items():
            self.assertEqual(read_file(self.p(n)), b, n)
            self.assertEqual(os.stat(self.p(n)).st_size, len(b), n)


@unittest.skipUnless(ROOT2, "CFS_POSIX_DIR2 (a second mount of the same volume) not set")
class TwoMountTest(FsTest):
    def setUp(self):
        super().setUp()
        self.dir2 = os.path.join(ROOT2, os.path.basename(self.dir))

    def q(self, *names):
        return os.path.join(self.dir2, *names)

    def test_mounts_are_distinct_but_show_one_volume(self):
        self.assertNotEqual(os.path.realpath(ROOT), os.path.realpath(ROOT2))
        self.assertTrue(os.path.isdir(self.dir2), "the test directory made on mount 1 is not on mount 2")

    def test_file_closed_on_one_mount_is_read_whole_on_the_other(self):
        data = os.urandom(3 * MiB + 11)
        write_file(self.p("f"), data)
        self.assertEqual(os.stat(self.q("f")).st_size, len(data))
        self.assertEqual(sha(read_file(self.q("f"))), sha(data))

    def test_overwrite_on_the_second_mount_is_seen_by_the_first(self):
        write_file(self.p("f"), b"first version")
        self.assertEqual(read_file(self.p("f")), b"first version")   # mount 1 has it cached
        self.assertEqual(read_file(self.q("f")), b"first version")
        data = os.urandom(200 * KiB)
        write_file(self.q("f"), data)
        self.assertEqual(os.stat(self.p("f")).st_size, len(data))
        self.assertEqual(sha(read_file(self.p("f"))), sha(data))

    def test_shrinking_on_one_mount_is_seen_by_the_other(self):
        write_file(self.p("f"), os.urandom(MiB))
        self.assertEqual(len(read_file(self.q("f"))), MiB)
        write_file(self.p("f"), b"short")
        self.assertEqual(read_file(self.q("f")), b"short")

    def test_new_names_appear_on_the_other_mount(self):
        for i in range(20):
            write_file(self.p("n%02d" % i), b"%d" % i)
        os.mkdir(self.p("d"))
        self.assertEqual(sorted(os.listdir(self.dir2)), sorted(["n%02d" % i for i in range(20)] + ["d"]))
        for i in range(20):
            self.assertEqual(read_file(self.q("n%02d" % i)), b"%d" % i)

    def test_names_made_fast_on_one_mount_are_all_seen_by_the_other(self):
        """Creates in a busy directory are answered by mount 1 (a delegation)
        and sent behind; mount 2's first look recalls them."""
        names = ["f%03d" % i for i in range(300)]
        for n in names:
            os.close(os.open(self.p(n), os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o640))
        self.assertEqual(sorted(os.listdir(self.dir2)), names)
        self.assertEqual(stat.S_IMODE(os.stat(self.q("f123")).st_mode), 0o640)
        self.assertErrno(errno.EEXIST, os.open, self.q("f007"), os.O_CREAT | os.O_EXCL | os.O_WRONLY)
        for n in names[:150]:
            os.unlink(self.p(n))
        # (A name mount 2 looked up may stay in its kernel's cache for the
        # entry timeout; a listing asks the file system.)
        self.assertEqual(sorted(os.listdir(self.dir2)), names[150:])

    def test_data_closed_fast_on_one_mount_is_read_on_the_other_at_once(self):
        """Files made in a busy directory are closed before their data is
        committed (mount 1 holds the directory); mount 2's first look recalls
        it, and the directory comes back only with every such close committed
        (close-to-open)."""
        rng = random.Random(7)
        data = {"w%03d" % i: rng.randbytes(rng.randrange(1, 9000)) for i in range(300)}
        closed = queue.Queue()

        def writer():
            try:
                for n, b in data.items():
                    write_file(self.p(n), b)
                    closed.put(n)
            finally:
                closed.put(None)

        t = threading.Thread(target=writer)
        t.start()
        try:
            # Each file read on mount 2 as soon as mount 1 closed it, while
            # mount 1 goes on (and takes the directory again).
            while (n := closed.get(timeout=60)) is not None:
                self.assertEqual(read_file(self.q(n)), data[n], n)
        finally:
            t.join()
        self.assertEqual(sorted(os.listdir(self.dir2)), sorted(data))

    def test_files_made_fast_on_one_mount_and_changed_on_the_other_read_anew(self):
        """Small files made fast in one directory (mount 1 holds it, and
        opens them for reading from what it knows); mount 2 then changes
        some of them, and mount 1 reads the changes."""
        rng = random.Random(11)
        data = {"k%03d" % i: rng.randbytes(rng.randrange(1, 6000)) for i in range(200)}
        for n, b in data.items():
            write_file(self.p(n), b)
        for n, b in data.items():
            self.assertEqual(read_file(self.p(n)), b, n)
        for n in list(data)[::10]:
            data[n] = rng.randbytes(rng.randrange(1, 6000))
            write_file(self.q(n), data[n])
        for n, b in data.items():
            self.assertEqual(read_file(self.p(n)), b, n)

    def test_mounts_taking_turns_in_one_directory_lose_no_name(self):
        expect = []
        for turn in range(4):
            where = self.p if turn % 2 == 0 else self.q
            for i in range(60):
                n = "t%d-%02d" % (turn, i)
                write_file(where(n), n.encode()) if i % 3 == 0 else os.close(
                    os.open(where(n), os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644))
                expect.append(n)
            # The other mount's names are there and exclusive here.
            other = "t%d-00" % (turn - 1) if turn else None
            if other:
                self.assertErrno(errno.EEXIST, os.open, where(other), os.O_CREAT | os.O_EXCL | os.O_WRONLY)
        self.assertEqual(sorted(os.listdir(self.dir)), sorted(expect))
        self.assertEqual(sorted(os.listdir(self.dir2)), sorted(expect))
        for turn in range(4):
            n = "t%d-03" % turn
            self.assertEqual(read_file(self.p(n)), n.encode())
            self.assertEqual(read_file(self.q(n)), n.encode())
        # Unlinks on both mounts in turn.
        for i, n in enumerate(sorted(expect)):
            os.unlink((self.p if (i // 40) % 2 == 0 else self.q)(n))
        self.assertEqual(os.listdir(self.dir2), [])
        self.assertEqual(os.listdir(self.dir), [])

    def agent(self):
        a = Agent()
        self.addCleanup(a.close)
        return a

    def test_flock_holds_across_mounts(self):
        """Locks are the cluster's: a holder on one mount blocks the other."""
        write_file(self.p("f"), b"")
        fd = os.open(self.p("f"), os.O_RDWR)
        self.addCleanup(os.close, fd)
        a = self.agent()
        self.assertEqual(a.call(op="open", fd=1, path=self.q("f")), 0)
        fcntl.flock(fd, fcntl.LOCK_EX)
        self.assertEqual(a.call(op="flock", fd=1, how=fcntl.LOCK_SH | fcntl.LOCK_NB), errno.EWOULDBLOCK)
        a.send(op="flock", fd=1, how=fcntl.LOCK_EX)
        self.assertIsNone(a.reply(0.5), "LOCK_EX on mount 2 did not wait for mount 1's holder")
        fcntl.flock(fd, fcntl.LOCK_UN)
        self.assertEqual(a.reply(10), 0, "LOCK_EX on mount 2 not granted after LOCK_UN on mount 1")
        self.assertErrno(errno.EWOULDBLOCK, fcntl.flock, fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        self.assertEqual(a.call(op="close", fd=1), 0)
        # The release drops mount 2's lock; FUSE sends it after close returns.
        deadline = time.monotonic() + 10
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                self.assertLess(time.monotonic(), deadline, "mount 2's lock not dropped at its release")
                time.sleep(0.01)

    def test_posix_locks_hold_across_mounts(self):
        write_file(self.p("f"), bytes(1000))
        fd = os.open(self.p("f"), os.O_RDWR)
        self.addCleanup(os.close, fd)
        a = self.agent()
        self.assertEqual(a.call(op="open", fd=1, path=self.q("f")), 0)
        fcntl.lockf(fd, fcntl.LOCK_EX, 100, 0)
        ex_nb = fcntl.LOCK_EX | fcntl.LOCK_NB
        self.assertIn(a.call(op="lockf", fd=1, how=ex_nb, len=20, start=90), (errno.EAGAIN, errno.EACCES))
        self.assertEqual(a.call(op="lockf", fd=1, how=ex_nb, len=100, start=100), 0)
        l_type, _, l_start, l_len, _ = a.call(op="getlk", fd=1, type=fcntl.F_RDLCK, start=0, len=0)
        self.assertEqual((l_type, l_start, l_len), (fcntl.F_WRLCK, 0, 100), "mount 2 sees mount 1's lock")
        a.send(op="lockf", fd=1, how=fcntl.LOCK_EX, len=10, start=50)
        self.assertIsNone(a.reply(0.5), "F_SETLKW on mount 2 did not wait")
        os.close(os.open(self.p("f"), os.O_RDONLY))   # any close of the file drops our locks
        self.assertEqual(a.reply(10), 0, "waiting lock not granted after the holder's close")
        self.assertErrno((errno.EAGAIN, errno.EACCES), fcntl.lockf, fd, ex_nb, 1, 55)


def setUpModule():
    if not ROOT:
        raise RuntimeError("set CFS_POSIX_DIR to a directory on the file system under test")
    if not os.path.isdir(ROOT):
        raise RuntimeError("CFS_POSIX_DIR=%s is not a directory" % ROOT)
    if ROOT2 and not os.path.isdir(ROOT2):
        raise RuntimeError("CFS_POSIX_DIR2=%s is not a directory" % ROOT2)
    print("posix_test: CFS_POSIX_DIR=%s%s seed %d" % (ROOT, " CFS_POSIX_DIR2=%s" % ROOT2 if ROOT2 else "", SEED),
          file=sys.stderr)


if __name__ == "__main__":
    unittest.main()
