"""Cluster tests of the blob store: real master and datanode processes.

Run: CFS_BIN=build/release/src/cfs /usr/bin/python3 tests/cluster/blob_cluster_test.py
"""
import glob
import hashlib
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import threading
import time
import unittest
import urllib.request

sys.path.insert(0, os.path.dirname(__file__))
from cluster import CFS, Cluster  # noqa: E402


def write_file(dirname, name, size, seed):
    rnd = random.Random(seed)
    data = bytes(rnd.getrandbits(8) for _ in range(size))
    path = os.path.join(dirname, name)
    with open(path, "wb") as f:
        f.write(data)
    return path, data


def groups_of(status, collection):
    return [g for g in status["block_groups"] if g["collection"] == collection]


def needles_on_disk(data_dir, collection, group_id):
    """Live needles of a block group as `cfs blockgroup inspect` reads them from the node's disk."""
    dat = os.path.join(data_dir, f"{collection}_{group_id}.dat" if collection else f"{group_id}.dat")
    if not os.path.exists(dat):
        return None
    r = subprocess.run([CFS, "blockgroup", "inspect", "--quiet", dat], capture_output=True)
    out = r.stdout.decode()
    for line in out.splitlines():
        if "index" in line and "live" in line:
            return int(line.rsplit(" ", 2)[-2])
    raise AssertionError(out)


class BlobClusterTest(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="cfs-blob-")
        self.cluster = None

    def tearDown(self):
        if self.cluster:
            result = self._outcome.result
            if any(t is self for t, _ in result.failures + result.errors):
                print(self.cluster.logs())
            self.cluster.close()
        subprocess.run(["rm", "-rf", self.tmp])

    def start(self, nodes, **kw):
        self.cluster = Cluster(nodes, **kw).start()
        return self.cluster

    def test_put_get_rm_round_trip(self):
        c = self.start([("dc1", "rack1", 8), ("dc1", "rack1", 8), ("dc1", "rack2", 8)])
        fids = {}
        for i, size in enumerate([1, 100, 4096, 65537, 1 << 20, 3 * (1 << 20) + 7]):
            path, data = write_file(self.tmp, f"f{i}", size, i)
            fid = c.put(path, "--replication", "001")
            fids[fid] = data
        for fid, data in fids.items():
            self.assertEqual(c.get(fid), data, fid)
        victim = next(iter(fids))
        c.cfs("blob", "rm", victim, "--master", c.master_addr)
        with self.assertRaises(RuntimeError) as e:
            c.get(victim)
        self.assertIn("NotFound", str(e.exception))
        # A wrong cookie reads as not found, never as another blob.
        other = list(fids)[1]
        bad = other[:-1] + ("0" if other[-1] != "0" else "1")
        with self.assertRaises(RuntimeError) as e:
            c.get(bad)
        self.assertIn("NotFound", str(e.exception))
        # Every process serves /metrics and /status over HTTP (RPC port + 10000).
        host, port = c.master_addr.rsplit(":", 1)
        metrics = urllib.request.urlopen(f"http://{host}:{int(port) + 10000}/metrics", timeout=5).read().decode()
        self.assertIn("cfs_rpc_requests_total", metrics)
        status = json.loads(urllib.request.urlopen(f"http://{host}:{int(port) + 10000}/status", timeout=5).read())
        self.assertEqual(status["role"], "master")
        self.assertEqual(status["live_datanodes"], 3)
        dhost, dport = c.datanodes[0].addr.rsplit(":", 1)
        dstatus = json.loads(urllib.request.urlopen(f"http://{dhost}:{int(dport) + 10000}/status", timeout=5).read())
        self.assertEqual(dstatus["role"], "datanode")
        # Bad input gets a clear error.
        r = c.cfs("blob", "get", "not-a-fid", "--master", c.master_addr, check=False)
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("is not GROUP,NEEDLECOOKIE", r.stderr.decode())

    def check_placement(self, replication, check):
        st = self.cluster.status()
        by_addr = {n["address"]: n for n in st["nodes"]}
        path, data = write_file(self.tmp, f"p{replication}", 5000, 7)
        fid = self.cluster.put(path, "--replication", replication, "--collection", f"c{replication}")
        group = int(fid.split(",")[0])
        st = self.cluster.status()
        g = [x for x in st["block_groups"] if x["id"] == group][0]
        self.assertEqual(g["placement"], replication)
        copies = 1 + sum(int(ch) for ch in replication)
        self.assertEqual(len(g["replicas"]), copies)
        self.assertEqual(len(set(g["replicas"])), copies, "two copies on one node")
        check([by_addr[a] for a in g["replicas"]])
        # Where the files really are: the needle is on the disk of exactly the replicas.
        holders = []
        for d in self.cluster.datanodes:
            n = needles_on_disk(d.data_dir, f"c{replication}", group)
            if n:
                holders.append(d.addr)
        self.assertEqual(sorted(holders), sorted(g["replicas"]))
        for addr in g["replicas"]:
            self.assertEqual(self.cluster.get(fid, replica=addr), data)

    def test_placement_000_001_010(self):
        self.start([("dc1", "rack1", 20), ("dc1", "rack1", 20), ("dc1", "rack2", 20)])
        self.check_placement("000", lambda nodes: None)
        self.check_placement("001", lambda nodes: (
            self.assertEqual(nodes[0]["rack"], nodes[1]["rack"]),
            self.assertEqual(nodes[0]["data_center"], nodes[1]["data_center"])))
        self.check_placement("010", lambda nodes: (
            self.assertNotEqual(nodes[0]["rack"], nodes[1]["rack"]),
            self.assertEqual(nodes[0]["data_center"], nodes[1]["data_center"])))

    def test_growth_on_first_assign_stops_at_the_slot_limit(self):
        c = self.start([("dc1", "rack1", 3), ("dc1", "rack1", 3), ("dc1", "rack1", 3)])
        st = c.status()
        self.assertEqual(len(st["block_groups"]), 0)
        self.assertEqual(st["free_slots"], 9)
        path, _ = write_file(self.tmp, "g", 100, 1)
        c.put(path, "--replication", "000", "--collection", "a")
        st = c.status()
        # findVolumeCount(1 copy) = 7 block groups grown at once.
        self.assertEqual(len(groups_of(st, "a")), 7)
        self.assertEqual(st["free_slots"], 2)
        # Another layout grows what still fits (2 of 7), then the slots run out.
        c.put(path, "--replication", "000", "--collection", "b")
        st = c.status()
        self.assertEqual(len(groups_of(st, "b")), 2)
        self.assertEqual(st["free_slots"], 0)
        r = c.cfs("blob", "put", path, "--collection", "c", "--master", c.master_addr, check=False)
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("no free block group slots", r.stderr.decode())
        # Existing layouts still take writes.
        c.put(path, "--replication", "000", "--collection", "a")

    def test_sigkill_of_a_datanode_never_acks_an_unreadable_blob(self):
        c = self.start([("dc1", "rack1", 10), ("dc1", "rack1", 10), ("dc1", "rack1", 10)])
        fids_file = os.path.join(self.tmp, "acked")
        bench = subprocess.Popen([CFS, "bench", "blob", "-n", "20000", "-c", "8", "--size", "2000",
                                  "--replication", "001", "--write-only", "--fids-out", fids_file,
                                  "--master", c.master_addr], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        time.sleep(1.5)
        victim = c.datanodes[1]
        victim.kill()
        out, _ = bench.communicate(timeout=300)
        report = out.decode()
        with open(fids_file) as f:
            acked = [line.strip() for line in f if line.strip()]
        self.assertGreater(len(acked), 100, report)
        # Bring the victim back, then every acked blob must read from every replica.
        victim.start()
        st = c.wait_alive(3)
        replicas = {g["id"]: g["replicas"] for g in st["block_groups"]}
        by_replica = {}
        for fid in acked:
            for addr in replicas[int(fid.split(",")[0])]:
                by_replica.setdefault(addr, []).append(fid)
        for addr, fids in by_replica.items():
            for i in range(0, len(fids), 2000):
                r = c.cfs("blob", "get", *fids[i:i + 2000], "--replica", addr,
                          "--master", c.master_addr, check=False)
                self.assertEqual(r.returncode, 0, f"replica {addr}: {r.stderr.decode()[:2000]}")

    def test_master_vacuums_block_groups_full_of_garbage(self):
        c = self.start([("dc1", "rack1", 2), ("dc1", "rack1", 2)],
                       master_args=["--vacuum-interval-ms", "500", "--garbage-threshold", "0.3"])
        keep, drop = {}, []
        for i in range(30):
            path, data = write_file(self.tmp, f"v{i}", 20000, 300 + i)
            fid = c.put(path, "--replication", "001", "--collection", "vac")
            if i % 5 == 0:
                keep[fid] = data
            else:
                drop.append(fid)
        # Sizes reach the master with heartbeats: wait until they show the
        # writes (before them, "before" was the superblocks alone).
        written = 30 * 20000
        deadline = time.time() + 20
        before = 0
        while time.time() < deadline:
            before = sum(g["size_bytes"] for g in groups_of(c.status(), "vac"))
            if before >= written:
                break
            time.sleep(0.3)
        self.assertGreaterEqual(before, written, c.logs())
        for fid in drop:
            c.cfs("blob", "rm", fid, "--master", c.master_addr)
        deadline = time.time() + 20
        after = before
        while time.time() < deadline:
            after = sum(g["size_bytes"] for g in groups_of(c.status(), "vac"))
            if after < before // 2:
                break
            time.sleep(0.3)
        self.assertLess(after, before // 2, c.logs())
        for fid, data in keep.items():
            self.assertEqual(c.get(fid), data)
        for fid in drop[:5]:
            with self.assertRaises(RuntimeError):
                c.get(fid)

    def test_every_acked_blob_survives_restarts_of_every_process(self):
        c = self.start([("dc1", "rack1", 10), ("dc1", "rack2", 10), ("dc1", "rack1", 10)])
        blobs = {}
        for i in range(40):
            path, data = write_file(self.tmp, f"r{i}", random.Random(i).randint(1, 200000), 100 + i)
            blobs[c.put(path, "--replication", "010" if i % 2 else "000")] = data
        # Crash everything (SIGKILL), then start it all again.
        for p in c.datanodes + [c.master]:
            p.kill()
        c.master.start()
        for d in c.datanodes:
            d.start()
        c.wait_alive(3)
        for fid, data in blobs.items():
            self.assertEqual(hashlib.sha256(c.get(fid)).hexdigest(), hashlib.sha256(data).hexdigest(), fid)
        # Ids are never reused after the master restarted.
        path, _ = write_file(self.tmp, "after", 10, 1)
        new = c.put(path)
        self.assertNotIn(new, blobs)


if __name__ == "__main__":
    unittest.main()
