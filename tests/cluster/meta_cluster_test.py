"""Cluster tests of metanodes: a master and 3 or 4 metanode processes on
127.0.0.x, volumes, metadata through the RPC path (cfs meta, cfs bench meta).

Run: CFS_BIN=build/release/src/cfs /usr/bin/python3 tests/cluster/meta_cluster_test.py
"""
import os
import subprocess
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(__file__))
from cluster import CFS, Cluster  # noqa: E402

# Quick housekeeping and short transactions, so recovery happens within a test.
METANODE_ARGS = ["--housekeeping-interval-ms", "200", "--expire-interval-ms", "500",
                 "--raft-snapshot-entries", "2000", "--deletion-grace-ms", "500"]


class MetaClusterTest(unittest.TestCase):
    cluster = None

    def tearDown(self):
        if self.cluster:
            result = self._outcome.result
            if any(t is self for t, _ in result.failures + result.errors):
                print(self.cluster.logs())
            self.cluster.close()

    def start(self, metanodes=3, master_args=()):
        self.cluster = Cluster([], metanodes=metanodes, heartbeat_ms=300, master_args=master_args,
                               metanode_args=METANODE_ARGS).start()
        # Every metanode registered (its first heartbeat) before volumes are made.
        time.sleep(1.0)
        return self.cluster

    def meta(self, *args, check=True, timeout=120):
        return self.cluster.cfs("meta", *args, "--master", self.cluster.master_addr, "--volume", "v",
                                check=check, timeout=timeout)

    def names(self, path):
        out = self.meta("ls", path).stdout.decode()
        return [line.split("\t")[0] for line in out.splitlines() if line]

    def count(self, path):
        return int(self.meta("ls", path, "--count").stdout.decode().strip())

    def info(self):
        return self.cluster.volume("info", "v")

    def bench(self, *args, timeout=600):
        return subprocess.run([CFS, "bench", "meta", "--master", self.cluster.master_addr, "--volume", "v", *args],
                              capture_output=True, timeout=timeout)

    def proc_at(self, address):
        return next(m for m in self.cluster.metanodes if m.addr == address)

    def wait_leader(self, partition, timeout=20):
        deadline = time.time() + timeout
        while time.time() < deadline:
            for p in self.info()["partitions"]:
                if p["id"] == partition and p["leader"]:
                    return p["leader"]
            time.sleep(0.2)
        raise AssertionError(f"no leader of meta partition {partition}")

    def partition_of(self, inode):
        for p in self.info()["partitions"]:
            if p["start"] <= inode and (p["end"] is None or inode <= p["end"]):
                return p["id"]
        raise AssertionError(f"no partition holds inode {inode}")

    def inodes_on(self, proc, partition):
        st = self.cluster.http_status(proc)
        if not st:
            return None
        for p in st["meta_partitions"]:
            if p["id"] == partition:
                return p["inodes"]
        return None

    def test_volume_commands(self):
        c = self.start()
        v = c.volume("create", "v")
        self.assertEqual(v["replicas"], 3)
        self.assertEqual(len(v["partitions"]), 3)
        self.assertEqual(v["partitions"][0]["start"], 1)
        self.assertIsNone(v["partitions"][-1]["end"])  # open
        for p in v["partitions"]:
            self.assertEqual(len(set(p["replicas"])), 3)
        r = c.cfs("volume", "create", "v", "--master", c.master_addr, check=False)
        self.assertEqual(r.returncode, 1)
        self.assertIn(b"exists", r.stderr)
        r = c.cfs("volume", "create", "bad/name", "--master", c.master_addr, check=False)
        self.assertEqual(r.returncode, 1)
        self.assertIn(b"volume name", r.stderr)
        r = c.cfs("volume", "create", "w", "--replicas", "4", "--master", c.master_addr, check=False)
        self.assertEqual(r.returncode, 1)
        self.assertIn(b"live", r.stderr)
        c.volume("create", "w", "--replicas", "1", "--capacity", "10G")
        listed = c.volume("list")
        self.assertEqual(sorted(x["name"] for x in listed), ["v", "w"])
        self.assertEqual(next(x for x in listed if x["name"] == "w")["capacity_bytes"], 10 << 30)
        text = c.cfs("volume", "info", "v", "--master", c.master_addr).stdout.decode()
        self.assertIn("open", text)
        self.assertEqual(c.cfs("volume", "info", "nosuch", "--master", c.master_addr, check=False).returncode, 1)
        # The namespace works: the root, a directory, a file, a rename, removal.
        self.meta("mkdir", "/a")
        self.meta("touch", "/a/f")
        self.meta("mv", "/a/f", "/g")
        self.assertEqual(sorted(self.names("/")), ["a", "g"])
        self.assertEqual(self.names("/a"), [])
        r = self.meta("rm", "/nosuch", check=False)
        self.assertEqual(r.returncode, 1)
        self.assertIn(b"not found", r.stderr)
        self.meta("rm", "/g", "/a")
        self.assertEqual(self.names("/"), [])

    def test_metadata_survives_sigkill_of_the_partition_leader(self):
        c = self.start()
        c.volume("create", "v")
        self.meta("mkdir", "/d")
        part = self.partition_of(int(self.meta("stat", "/d").stdout.decode().split("\t")[1].split()[1]))
        leader = self.proc_at(self.wait_leader(part))
        n = 6000
        bench = subprocess.Popen([CFS, "bench", "meta", "--master", c.master_addr, "--volume", "v", "-n", str(n),
                                  "-c", "16", "--keep", "--dir", "d"], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        # Mid-stream: once some creates are in, the leader of the root's partition dies.
        deadline = time.time() + 60
        while time.time() < deadline and (self.inodes_on(leader, part) or 0) < 1500:
            time.sleep(0.05)
        self.assertGreaterEqual(self.inodes_on(leader, part) or 0, 1500)
        leader.kill()
        out, err = bench.communicate(timeout=300)
        text = out.decode()
        self.assertEqual(bench.returncode, 0, text + err.decode()[-2000:])
        self.assertIn(f"create: {n} requests", text)
        self.assertIn(", 0 errors", text)
        # Every acknowledged create is there, once (a retried create applied
        # twice would have answered Exists and counted as an error).
        self.assertEqual(self.count("/d"), n)
        # The killed node comes back and catches up.
        leader.start()
        c.wait_http(leader)
        deadline = time.time() + 60
        want = n + (2 if part == 1 else 1)  # d and the files (and the root in partition 1)
        while time.time() < deadline and self.inodes_on(leader, part) != want:
            time.sleep(0.2)
        self.assertEqual(self.inodes_on(leader, part), want)

    def test_cross_partition_rename_crash_cases(self):
        c = self.start(master_args=["--meta-partitions", "2"])
        v = c.volume("create", "v")
        first_end = v["partitions"][0]["end"]
        # Directories spread over the partitions: find one in partition 2.
        dirs = [f"/d{i}" for i in range(16)]
        self.meta("mkdir", *dirs)
        remote = None
        for line in self.meta("stat", *dirs).stdout.decode().splitlines():
            path, inode = line.split("\t")[0], int(line.split("\t")[1].split()[1])
            if inode > first_end:
                remote = path
                break
        self.assertIsNotNone(remote, "no directory landed in partition 2")
        # A full rename across partitions.
        self.meta("touch", "/whole")
        self.meta("mv", "/whole", f"{remote}/whole")
        self.assertNotIn("whole", self.names("/"))
        self.assertIn("whole", self.names(remote))
        # A client that dies after step k of the two-phase commit:
        #   1 source prepared, 2 both prepared -> the old state;
        #   3 destination committed, 4 source committed -> the new state.
        for k, moved in ((1, False), (2, False), (3, True), (4, True)):
            name = f"f{k}"
            self.meta("touch", f"/{name}")
            r = self.meta("mv", f"/{name}", f"{remote}/{name}", "--crash-after", str(k), "--txn-timeout-ms", "1500",
                          check=False)
            self.assertEqual(r.returncode, 1)
            self.assertIn(b"stopped on purpose", r.stderr)
            # Resolved by the metanodes once the txn expires (1.5 s): then the
            # name is in exactly one place and no longer locked (a second
            # rename works). Before that, after step 3, a reader may see it in
            # both directories.
            time.sleep(1.5)
            deadline = time.time() + 30
            while True:
                at_src = name in self.names("/")
                at_dst = name in self.names(remote)
                if at_src != at_dst:
                    back = self.meta("mv", f"{remote}/{name}" if at_dst else f"/{name}", f"/{name}.2", check=False)
                    if back.returncode == 0:
                        break
                self.assertLess(time.time(), deadline, f"crash after {k}: src {at_src} dst {at_dst}")
                time.sleep(0.3)
            self.assertEqual(at_dst, moved, f"crash after {k}")
            self.assertIn(f"{name}.2", self.names("/"))

    def test_orphans_of_a_client_that_died_are_reclaimed_or_confirmed(self):
        c = Cluster([], metanodes=3, heartbeat_ms=300, master_args=["--meta-partitions", "2"],
                    metanode_args=METANODE_ARGS + ["--orphan-grace-s", "1"])
        self.cluster = c.start()
        time.sleep(1.0)
        v = c.volume("create", "v")
        second = v["partitions"][1]["id"]

        def inodes(partition):
            leader = self.proc_at(self.wait_leader(partition))
            return self.inodes_on(leader, partition)

        # Directories land in either partition; those in the second are made
        # in three steps, and the client "dies" after the first or second.
        dead, linked = [], []
        for i in range(12):
            for k, out in ((1, dead), (2, linked)):
                name = f"/o{k}-{i}"
                r = self.meta("mkdir", name, "--crash-after", str(k), check=False)
                if r.returncode != 0:
                    self.assertIn(b"stopped on purpose", r.stderr)
                    out.append(name)
        self.assertTrue(dead and linked, "no directory went to the second partition")
        # Past the grace period the leader looks for each orphan's dentry:
        # none for the dead ones (reclaimed), one for the linked ones (kept).
        # Every directory made in the second partition was interrupted.
        want = len(linked)
        deadline = time.time() + 30
        while time.time() < deadline and inodes(second) != want:
            time.sleep(0.2)
        self.assertEqual(inodes(second), want)
        names = self.names("/")
        for name in dead:
            self.assertNotIn(name[1:], names)
        for name in linked:
            self.assertIn(name[1:], names)
            self.meta("touch", f"{name}/f")  # a confirmed directory works
            self.assertEqual(self.names(name), ["f"])

    def test_needles_of_removed_data_are_deleted_on_the_datanodes(self):
        # Not before the deletion grace (readers may still hold the extents).
        args = METANODE_ARGS[:-1] + ["5000"]
        c = Cluster([("dc1", "r1", 10)], metanodes=3, heartbeat_ms=300, metanode_args=args)
        self.cluster = c.start()
        time.sleep(1.0)
        c.volume("create", "v")
        path = os.path.join(c.dir, "blob")
        with open(path, "wb") as f:
            f.write(os.urandom(10000))
        old, new, kept = c.put(path), c.put(path), c.put(path)
        self.meta("touch", "/f", "/g")
        self.meta("attach", "/f", old)
        self.meta("attach", "/g", kept)
        self.assertIn("size 10000", self.meta("stat", "/f").stdout.decode())
        # An overwrite hides the old needle; removing the file frees the new one.
        self.meta("attach", "/f", new)
        self.meta("rm", "/f")
        self.assertEqual(len(c.get(old)), 10000, "deleted within the grace")
        self.assertEqual(len(c.get(new)), 10000, "deleted within the grace")
        deadline = time.time() + 30
        gone = []
        while time.time() < deadline:
            gone = []
            for fid in (old, new):
                try:
                    c.get(fid)
                except RuntimeError:
                    gone.append(fid)
            if len(gone) == 2:
                break
            time.sleep(0.2)
        self.assertEqual(gone, [old, new])
        # Nothing referenced is deleted.
        self.assertEqual(len(c.get(kept)), 10000)

    def test_split_under_load(self):
        # Partition 1 splits once the master sees 1,500 inodes there (a
        # heartbeat later, X creates in), its range ending 2,500 past X; the
        # creates then overflow into partition 2, which splits at 1,500 too.
        # That needs X < 4,000: 8 creates in flight, not 32, so that the
        # creates do not outrun the heartbeats (at 32 the first split came
        # 6,500 creates in on a quiet machine).
        c = self.start(master_args=["--meta-partitions", "1", "--split-inodes", "1500",
                                    "--meta-partition-ids", "2500"])
        c.volume("create", "v")
        n = 8000
        r = self.bench("-n", str(n), "-c", "8", "--keep", "--dir", "s")
        text = r.stdout.decode()
        self.assertEqual(r.returncode, 0, text + r.stderr.decode()[-2000:])
        for phase in ("create", "lookup", "getattr"):
            self.assertIn(f"{phase}: {n} requests", text)
        self.assertNotIn("first error", text)
        parts = self.info()["partitions"]
        self.assertGreaterEqual(len(parts), 3, parts)  # split while the creates ran
        for a, b in zip(parts, parts[1:]):
            self.assertEqual(b["start"], a["end"] + 1)
        self.assertIsNone(parts[-1]["end"])
        self.assertEqual(self.count("/s"), n)

    def test_replicas_move_off_a_dead_metanode(self):
        c = self.start(metanodes=4)
        c.volume("create", "v", "--replicas", "3")
        self.meta("mkdir", "/m")
        self.meta("touch", *[f"/m/f{i}" for i in range(50)])
        p = next(p for p in self.info()["partitions"] if p["id"] == 1)
        victim = self.proc_at(p["replicas"][0])
        spare = next(m for m in c.metanodes if m.addr not in p["replicas"])
        victim.kill()
        deadline = time.time() + 60
        while time.time() < deadline:
            p = next(p for p in self.info()["partitions"] if p["id"] == 1)
            if victim.addr not in p["replicas"]:
                break
            time.sleep(0.3)
        self.assertNotIn(victim.addr, p["replicas"])
        self.assertIn(spare.addr, p["replicas"])
        # The new replica holds the partition's data.
        want = self.inodes_on(self.proc_at(p["replicas"][0] if p["replicas"][0] != spare.addr else p["replicas"][1]), 1)
        deadline = time.time() + 30
        while time.time() < deadline and self.inodes_on(spare, 1) != want:
            time.sleep(0.2)
        self.assertEqual(self.inodes_on(spare, 1), want)
        self.assertEqual(self.count("/m"), 50)

    def test_restarted_metanodes_serve_their_partitions(self):
        c = self.start()
        c.volume("create", "v")
        self.meta("mkdir", "/r")
        self.meta("touch", *[f"/r/f{i}" for i in range(100)])
        for m in c.metanodes:
            m.kill()
        for m in c.metanodes:
            m.start()
        self.assertEqual(self.count("/r"), 100)
        self.meta("touch", "/r/after")
        self.assertEqual(self.count("/r"), 101)


if __name__ == "__main__":
    unittest.main()
