"""ContainerFS through a real FUSE mount: `cfs server --mount` (master,
metanode and datanode in one process) and a second client, `cfs mount`, of
the same volume. Runs the POSIX suite (tests/posix/posix_test.py) on the
mounts, checks data across a SIGKILL of the server, that a killed client
leaves no dead mount, and how `cfs mount` refuses bad mount points.

Processes are stopped by PID; mounts are unmounted by path at the end.
Needs root (FUSE mounts with allow_other) and /dev/fuse.
"""
import hashlib
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
CFS = os.environ.get("CFS_BIN", os.path.join(REPO, "build/release/src/cfs"))
PY = "/usr/bin/python3"
POSIX = os.path.join(REPO, "tests/posix/posix_test.py")
INTEGRITY = os.path.join(REPO, "tests/posix/integrity.py")


def is_mount(path):
    with open("/proc/self/mountinfo") as f:
        return any(line.split()[4] == path for line in f)


def wait_for(pred, timeout, what):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if pred():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out after {timeout} s: {what}")


class Proc:
    def __init__(self, args, log):
        self.args, self.log_path = args, log
        self.p = None

    def start(self):
        self.log = open(self.log_path, "ab")
        self.p = subprocess.Popen(self.args, stdout=self.log, stderr=subprocess.STDOUT)

    def kill(self):
        if self.p and self.p.poll() is None:
            self.p.send_signal(signal.SIGKILL)
            self.p.wait()
        self.log.close()

    def stop(self):
        if self.p and self.p.poll() is None:
            self.p.send_signal(signal.SIGTERM)
            try:
                self.p.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.kill()
        if self.p:
            self.log.close()

    def tail(self):
        with open(self.log_path, "rb") as f:
            return f.read()[-3000:].decode(errors="replace")


class FuseTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="cfs-fuse-")
        os.chmod(cls.tmp, 0o755)  # the POSIX suite's unprivileged checks need to reach the mounts
        base = random.randrange(12000, 19000, 10)
        host = "127.0.0.7"
        cls.master = f"{host}:{base}"
        cls.mnt = os.path.join(cls.tmp, "mnt")
        cls.mnt2 = os.path.join(cls.tmp, "mnt2")
        os.makedirs(cls.mnt)
        os.makedirs(cls.mnt2)
        cls.server = Proc([CFS, "server", "--dir", os.path.join(cls.tmp, "data"), "--mount", cls.mnt,
                           "--master-addr", cls.master, "--metanode-addr", f"{host}:{base + 1}",
                           "--datanode-addr", f"{host}:{base + 2}", "--deletion-grace-ms", "500"],
                          os.path.join(cls.tmp, "server.log"))
        cls.client = Proc([CFS, "mount", "--master", cls.master, "--volume", "default", cls.mnt2],
                          os.path.join(cls.tmp, "mount2.log"))
        cls.start_server()
        cls.start_client()

    @staticmethod
    def start_mounting(proc, where, what):
        proc.start()
        wait_for(lambda: is_mount(where) or proc.p.poll() is not None, 60, what)
        if not is_mount(where):
            raise AssertionError(f"{what} did not mount:\n" + proc.tail())

    @classmethod
    def start_server(cls):
        cls.start_mounting(cls.server, cls.mnt, "cfs server")

    @classmethod
    def start_client(cls):
        cls.start_mounting(cls.client, cls.mnt2, "cfs mount")

    @classmethod
    def tearDownClass(cls):
        cls.client.stop()
        cls.server.stop()
        for m in (cls.mnt2, cls.mnt):
            if is_mount(m):
                subprocess.run(["fusermount3", "-u", "-z", m])
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def logs(self):
        return "\n--- server ---\n" + self.server.tail() + "\n--- mount2 ---\n" + self.client.tail()

    def test_posix_suite_on_two_mounts(self):
        env = dict(os.environ, CFS_POSIX_DIR=self.mnt, CFS_POSIX_DIR2=self.mnt2)
        r = subprocess.run([PY, POSIX, "-v"], env=env, capture_output=True, timeout=900)
        out = r.stdout.decode(errors="replace") + r.stderr.decode(errors="replace")
        sys.stderr.write(out[-6000:])
        self.assertEqual(r.returncode, 0, out[-6000:] + self.logs())

    @unittest.skipUnless(os.geteuid() == 0, "the mount sets its readahead only as root")
    def test_mounts_read_ahead_a_mebibyte(self):
        # The kernel starts a FUSE mount at 128 KiB: a sequential reader's
        # requests would be 128 KiB each.
        for m in (self.mnt, self.mnt2):
            dev = os.stat(m).st_dev
            with open(f"/sys/class/bdi/{os.major(dev)}:{os.minor(dev)}/read_ahead_kb") as f:
                self.assertEqual(f.read().strip(), "1024", m)

    def test_large_file_round_trip_and_overwrite(self):
        data = os.urandom(9 << 20) + b"tail"
        path = os.path.join(self.mnt, "large.bin")
        with open(path, "wb") as f:
            f.write(data)
        with open(path, "r+b") as f:  # overwrite across a chunk boundary
            f.seek((4 << 20) - 100)
            f.write(b"Z" * 200)
        want = data[:(4 << 20) - 100] + b"Z" * 200 + data[(4 << 20) + 100:]
        with open(path, "rb") as f:
            self.assertEqual(f.read(), want)
        with open(os.path.join(self.mnt2, "large.bin"), "rb") as f:  # the other client, after our close
            self.assertEqual(f.read(), want)

    def extents_of(self, path):
        r = subprocess.run([CFS, "meta", "stat", "--master", self.master, "--volume", "default", path],
                           capture_output=True, timeout=60)
        self.assertEqual(r.returncode, 0, r.stderr.decode())
        return int(r.stdout.decode().split("extents ")[1].split()[0])

    def test_fragmented_file_is_merged_after_its_close(self):
        """Small writes all over a file leave one extent each; at the writer's
        last close the client merges them into a few needles, same bytes."""
        rng = random.Random(7)
        size = 32 << 20
        model = bytearray(os.urandom(size))
        path = os.path.join(self.mnt, "frag.bin")
        with open(path, "wb") as f:
            f.write(model)
        fd = os.open(path, os.O_RDWR)
        for _ in range(6000):
            off = rng.randrange(0, size - 4096)
            buf = rng.randbytes(rng.choice([512, 4096]))
            os.pwrite(fd, buf, off)
            model[off:off + len(buf)] = buf
        os.fsync(fd)
        fragmented = self.extents_of("/frag.bin")
        self.assertGreater(fragmented, 4096, "the writes did not fragment the file")
        mtime = os.fstat(fd).st_mtime_ns
        os.close(fd)
        wait_for(lambda: self.extents_of("/frag.bin") < 64, 60, "the merge of frag.bin")
        want = hashlib.sha256(model).hexdigest()
        for mnt in (self.mnt, self.mnt2):
            with open(os.path.join(mnt, "frag.bin"), "rb") as f:
                self.assertEqual(hashlib.sha256(f.read()).hexdigest(), want, mnt)
        self.assertEqual(os.stat(path).st_mtime_ns, mtime, "a merge is not a change of the data")

    def test_data_survives_sigkill_of_the_server(self):
        d = os.path.join(self.mnt, "integrity")
        os.makedirs(d, exist_ok=True)
        r = subprocess.run([PY, INTEGRITY, "write", d, "7", "30"], capture_output=True, timeout=600)
        self.assertEqual(r.returncode, 0, r.stdout.decode() + r.stderr.decode() + self.logs())
        self.server.kill()
        # auto_unmount: the dead server's mount goes away by itself.
        wait_for(lambda: not is_mount(self.mnt), 20, "the killed server's mount to go")
        self.start_server()
        r = subprocess.run([PY, INTEGRITY, "verify", d], capture_output=True, timeout=600)
        self.assertEqual(r.returncode, 0, r.stdout.decode() + r.stderr.decode() + self.logs())
        # The second client, which lived through the restart, reads it too.
        wait_for(lambda: os.path.exists(os.path.join(self.mnt2, "integrity", ".manifest.json")), 30,
                 "the second mount to see the files again")
        r = subprocess.run([PY, INTEGRITY, "verify", os.path.join(self.mnt2, "integrity")], capture_output=True,
                           timeout=600)
        self.assertEqual(r.returncode, 0, r.stdout.decode() + r.stderr.decode() + self.logs())

    def test_directory_held_by_a_killed_client_is_free_after_its_delegation_expires(self):
        """A client that creates fast in a directory holds it (a delegation) and
        sends its creates behind; killed, it leaves the directory to the others
        once the delegation expires (10 s), with the creates it had sent."""
        d2 = os.path.join(self.mnt2, "held")
        os.mkdir(d2)
        names = ["f%03d" % i for i in range(100)]
        for n in names:
            os.close(os.open(os.path.join(d2, n), os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644))
        fd = os.open(os.path.join(d2, "f000"), os.O_RDONLY)  # waits for the batch holding f000's create
        os.close(fd)
        self.client.kill()
        wait_for(lambda: not is_mount(self.mnt2), 20, "the killed client's mount to go")
        t0 = time.monotonic()
        seen = sorted(os.listdir(os.path.join(self.mnt, "held")))
        self.assertLess(time.monotonic() - t0, 25, "the listing waited past the delegation's expiry")
        self.assertIn("f000", seen)
        self.assertTrue(set(seen) <= set(names), seen)
        with open(os.path.join(self.mnt, "held", "after"), "wb") as f:
            f.write(b"x")
        self.start_client()
        self.assertEqual(sorted(os.listdir(d2)), sorted(seen + ["after"]))

    def test_file_open_for_reading_stays_readable_when_unlinked(self):
        """Reading opens take their lease behind (lease_delay, 1 s): an unlink by
        the same mount sends it first; another mount's unlink after the lease
        went out leaves it too. The server deletes freed needles 0.5 s after.
        2 MiB: not fetched at the open (a small file's first needle is), so
        the reads below fetch what the datanode still has."""
        data = {n: os.urandom(2 << 20) for n in ("same", "other")}
        for n, b in data.items():
            with open(os.path.join(self.mnt, n), "wb") as f:
                f.write(b)
        time.sleep(0.5)  # the writer's lease is released (100 ms after the close)
        same = os.open(os.path.join(self.mnt, "same"), os.O_RDONLY)
        os.unlink(os.path.join(self.mnt, "same"))
        wait_for(lambda: os.path.exists(os.path.join(self.mnt2, "other")), 10, "the second mount to see the file")
        other = os.open(os.path.join(self.mnt2, "other"), os.O_RDONLY)
        time.sleep(1.5)  # its lease goes out
        os.unlink(os.path.join(self.mnt, "other"))
        time.sleep(2.5)  # past the deletion grace and a housekeeping round
        try:
            self.assertEqual(os.pread(same, 3 << 20, 0), data["same"], self.logs())
            self.assertEqual(os.pread(other, 3 << 20, 0), data["other"], self.logs())
        finally:
            os.close(same)
            os.close(other)

    def test_killed_client_leaves_no_dead_mount(self):
        self.client.kill()
        wait_for(lambda: not is_mount(self.mnt2), 20, "the killed client's mount to go")
        self.start_client()
        self.assertTrue(os.path.isdir(os.path.join(self.mnt2, ".")))

    def test_a_mount_started_as_the_last_one_ends_stays(self):
        # The ending mount's unmount watchdog (a shell it started) must not
        # detach its successor at the same path. The watchdog is held
        # stopped until the successor is up, so it sees it there.
        old = self.client.p
        with open(f"/proc/{old.pid}/task/{old.pid}/children") as f:
            children = [int(c) for c in f.read().split()]
        watchdogs = [c for c in children if open(f"/proc/{c}/cmdline", "rb").read().startswith(b"/bin/sh")]
        self.assertEqual(len(watchdogs), 1, children)
        os.kill(watchdogs[0], signal.SIGSTOP)
        try:
            old.send_signal(signal.SIGTERM)
            old.wait(timeout=20)
            self.client.log.close()
            self.start_client()
        finally:
            os.kill(watchdogs[0], signal.SIGCONT)
        wait_for(lambda: not os.path.exists(f"/proc/{watchdogs[0]}"), 20, "the old watchdog to end")
        time.sleep(0.5)
        self.assertTrue(is_mount(self.mnt2), self.client.tail())
        self.assertTrue(os.path.isdir(os.path.join(self.mnt2, ".")))

    def test_mount_refuses_missing_busy_or_non_empty_mount_points(self):
        def mount(where):
            return subprocess.run([CFS, "mount", "--master", self.master, "--volume", "default", where],
                                  capture_output=True, timeout=60)
        r = mount(os.path.join(self.tmp, "missing"))
        self.assertEqual(r.returncode, 2)
        self.assertIn(b"does not exist", r.stderr)
        r = mount(self.mnt)
        self.assertEqual(r.returncode, 2)
        self.assertIn(b"already a mount point", r.stderr)
        full = os.path.join(self.tmp, "full")
        os.makedirs(full)
        open(os.path.join(full, "x"), "w").close()
        r = mount(full)
        self.assertEqual(r.returncode, 2)
        self.assertIn(b"not empty", r.stderr)
        r = subprocess.run([CFS, "mount", "--master", self.master, "--volume", "nosuch",
                            os.path.join(self.tmp, "mnt3")], capture_output=True, timeout=60)
        self.assertEqual(r.returncode, 2)


if __name__ == "__main__":
    unittest.main()
