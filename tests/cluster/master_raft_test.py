"""Cluster tests of three masters on Raft: real processes on 127.0.0.1-3.

Run: CFS_BIN=build/release/src/cfs /usr/bin/python3 tests/cluster/master_raft_test.py
"""
import os
import subprocess
import sys
import tempfile
import time
import unittest

sys.path.insert(0, os.path.dirname(__file__))
from cluster import Cluster  # noqa: E402

# Small Raft snapshots, so that a master that was down must catch up through one.
RAFT_ARGS = ["--raft-snapshot-entries", "20", "--raft-keep-entries", "5"]


def needle_of(fid):
    """The needle id of a fid "group,needlecookie" (cookie: the last 8 hex digits)."""
    return int(fid.split(",")[1][:-8], 16)


class MasterRaftTest(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="cfs-masters-")
        self.cluster = None

    def tearDown(self):
        if self.cluster:
            result = self._outcome.result
            if any(t is self for t, _ in result.failures + result.errors):
                print(self.cluster.logs())
            self.cluster.close()
        subprocess.run(["rm", "-rf", self.tmp])

    def start(self):
        nodes = [("dc1", "r1", 20), ("dc1", "r1", 20), ("dc1", "r1", 20)]
        self.cluster = Cluster(nodes, masters=3, heartbeat_ms=300, master_args=RAFT_ARGS).start()
        return self.cluster

    def put(self, name, data):
        path = os.path.join(self.tmp, name)
        with open(path, "wb") as f:
            f.write(data)
        return self.cluster.put(path)

    def assign(self, count=1, check=True):
        r = self.cluster.cfs("blob", "assign", "-n", str(count), "--master", self.cluster.master_addr, check=check)
        if r.returncode != 0:
            return None
        return r.stdout.decode().split("\t")[0]

    def wait_caught_up(self, m, leader, timeout=20):
        """Waits until master m has applied what the leader has, and returns m's /status."""
        deadline = time.time() + timeout
        while time.time() < deadline:
            want = self.cluster.master_status(leader)
            got = self.cluster.master_status(m)
            if want and got and got["raft"]["applied"] >= want["raft"]["commit"] and \
                    got["cluster_map"] == want["cluster_map"]:
                return got
            time.sleep(0.1)
        raise AssertionError(f"{m.name} did not catch up: {self.cluster.master_status(m)} vs "
                             f"{self.cluster.master_status(leader)}")

    def test_one_leader_and_followers_redirect(self):
        c = self.start()
        leader = c.leader()
        followers = [m for m in c.masters if m is not leader]
        for m in followers:
            st = c.master_status(m)
            self.assertFalse(st["leader"], st)
            self.assertEqual(st["leader_address"], leader.addr, st)
        # A client given only a follower is redirected to the leader.
        r = c.cfs("cluster", "status", "--json", "--master", followers[0].addr)
        self.assertIn(f'"address":"{leader.addr}","leader":true', r.stdout.decode())
        fid = self.assign()
        self.assertIsNotNone(fid)

    def test_leader_sigkill_assign_works_again_within_3s_and_nothing_is_lost(self):
        c = self.start()
        blobs = {}
        for i in range(5):
            data = os.urandom(1000 + i)
            blobs[self.put(f"b{i}", data)] = data
        # Many id reservations: log entries well past the snapshot threshold.
        acked = [self.assign(count=10000) for _ in range(25)]
        self.assertNotIn(None, acked)
        high = max(needle_of(f) for f in list(blobs) + acked)

        leader = c.leader()
        leader.kill()
        t0 = time.time()
        fid = None
        while fid is None and time.time() - t0 < 30:
            fid = self.assign(check=False)
            if fid is None:
                time.sleep(0.05)
        elapsed = time.time() - t0
        print(f"\nassign works again {elapsed:.2f} s after SIGKILL of the leader", file=sys.stderr)
        self.assertIsNotNone(fid, "no Assign within 30 s of the leader's SIGKILL")
        self.assertLess(elapsed, 3.0, "Assign took too long to work again after the leader's SIGKILL")
        new_leader = c.leader(exclude=[leader])
        self.assertIsNot(new_leader, leader)
        # No acknowledged change is lost: ids stay unique, blobs readable.
        self.assertGreater(needle_of(fid), high)
        for f, data in blobs.items():
            self.assertEqual(c.get(f), data)
        # Writes work through the new leader.
        data = os.urandom(777)
        f = self.put("after", data)
        self.assertEqual(c.get(f), data)

        # The killed master restarts and catches up; the log it missed was
        # compacted, so it gets a snapshot.
        more = [self.assign(count=10000) for _ in range(25)]
        self.assertNotIn(None, more)
        leader.start()
        st = self.wait_caught_up(leader, new_leader)
        self.assertGreaterEqual(st["raft"]["snapshots_installed"], 1, st)
        self.assertFalse(st["leader"])

        # With the caught-up master in the majority, the leader's death keeps
        # every id unique.
        high = max(needle_of(f) for f in more)
        new_leader.kill()
        deadline = time.time() + 30
        fid = None
        while fid is None and time.time() < deadline:
            fid = self.assign(check=False)
        self.assertIsNotNone(fid)
        self.assertGreater(needle_of(fid), high)
        for f, data in blobs.items():
            self.assertEqual(c.get(f), data)

    def test_restarted_group_keeps_the_cluster_map(self):
        c = self.start()
        fids = [self.assign(count=10000) for _ in range(3)]
        leader = c.leader()
        before = c.master_status(leader)["cluster_map"]
        for m in c.masters:
            m.kill()
        for m in c.masters:
            m.start()
        leader = c.leader()
        after = c.master_status(leader)["cluster_map"]
        self.assertEqual(after["nodes"], before["nodes"])
        self.assertEqual(after["block_groups"], before["block_groups"])
        self.assertGreaterEqual(after["needle_mark"], before["needle_mark"])
        fid = self.assign()
        self.assertGreater(needle_of(fid), max(needle_of(f) for f in fids))


if __name__ == "__main__":
    unittest.main()
