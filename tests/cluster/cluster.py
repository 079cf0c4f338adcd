"""A real ContainerFS cluster of processes on 127.0.0.x, for tests.

Every process is started by this harness and stopped by PID (SIGTERM, then
SIGKILL), never by name. Addresses: the master on 127.0.0.1, datanode i on
127.0.0.(i+1); ports come from a base chosen per run so parallel runs do not
collide.
"""
import json
import os
import random
import shutil
import signal
import subprocess
import tempfile
import time

CFS = os.environ.get("CFS_BIN", os.path.join(os.path.dirname(__file__), "../../build/release/src/cfs"))


class Proc:
    def __init__(self, name, args, log_path):
        self.name, self.args, self.log_path = name, args, log_path
        self.p = None

    def start(self):
        log = open(self.log_path, "ab")
        self.p = subprocess.Popen([CFS] + self.args, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        log.close()

    def alive(self):
        return self.p is not None and self.p.poll() is None

    def kill(self):  # SIGKILL: a crash
        if self.alive():
            os.kill(self.p.pid, signal.SIGKILL)
            self.p.wait()

    def stop(self):  # SIGTERM, then SIGKILL after 10 s
        if self.alive():
            os.kill(self.p.pid, signal.SIGTERM)
            try:
                self.p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.kill(self.p.pid, signal.SIGKILL)
                self.p.wait()

    def log(self):
        try:
            with open(self.log_path, "rb") as f:
                return f.read().decode(errors="replace")
        except OSError:
            return ""


class Cluster:
    """Masters (1, or a Raft group of 3: master i on 127.0.0.(i+1)) and
    datanodes described by (dc, rack, max_block_groups)."""

    def __init__(self, datanodes, heartbeat_ms=300, size_limit_mb=None, master_args=(), masters=1, metanodes=0,
                 metanode_args=()):
        self.dir = tempfile.mkdtemp(prefix="cfs-cluster-")
        # RPC ports 12000-19990 and HTTP ports (+10000) stay below the kernel's
        # ephemeral range (32768+), where a client socket could hold them.
        self.base = random.randint(1200, 1999) * 10
        self.master_addrs = [f"127.0.0.{i + 1}:{self.base}" for i in range(masters)]
        # Every client and datanode is given all masters: they find the leader.
        self.master_addr = ",".join(self.master_addrs)
        self.heartbeat_ms = heartbeat_ms
        self.masters = []
        for i, addr in enumerate(self.master_addrs):
            margs = ["master", "--dir", f"{self.dir}/master{i}", "--addr", addr,
                     "--heartbeat-interval-ms", str(heartbeat_ms)]
            if masters > 1:
                margs += ["--peers", self.master_addr]
            margs += list(master_args)
            if size_limit_mb is not None:
                margs += ["--block-group-size-limit-mb", str(size_limit_mb)]
            proc = Proc(f"master{i}", margs, f"{self.dir}/master{i}.log")
            proc.addr = addr
            proc.http = f"127.0.0.{i + 1}:{self.base + 10000}"
            self.masters.append(proc)
        self.master = self.masters[0]
        self.datanodes = []
        for i, (dc, rack, slots) in enumerate(datanodes):
            addr = f"127.0.0.{i + 1}:{self.base + 1}"
            args = ["datanode", "--dir", f"{self.dir}/dn{i}", "--addr", addr, "--master", self.master_addr,
                    "--dc", dc, "--rack", rack, "--max-block-groups", str(slots),
                    "--heartbeat-interval-ms", str(heartbeat_ms)]
            proc = Proc(f"dn{i}", args, f"{self.dir}/dn{i}.log")
            proc.addr, proc.data_dir, proc.dc, proc.rack = addr, f"{self.dir}/dn{i}", dc, rack
            self.datanodes.append(proc)
        # Metanode i on 127.0.0.(i+1), port base + 2.
        self.metanodes = []
        for i in range(metanodes):
            addr = f"127.0.0.{i + 1}:{self.base + 2}"
            args = ["metanode", "--dir", f"{self.dir}/mn{i}", "--addr", addr, "--master", self.master_addr,
                    "--heartbeat-interval-ms", str(heartbeat_ms)] + list(metanode_args)
            proc = Proc(f"mn{i}", args, f"{self.dir}/mn{i}.log")
            proc.addr, proc.http = addr, f"127.0.0.{i + 1}:{self.base + 10002}"
            self.metanodes.append(proc)

    def start(self):
        for m in self.masters:
            m.start()
        for d in self.datanodes:
            d.start()
        for m in self.metanodes:
            m.start()
        if self.datanodes:
            self.wait_alive(len(self.datanodes))
        for m in self.metanodes:
            self.wait_http(m)
        return self

    def http_status(self, proc):
        """A process's /status document, or None if it does not answer."""
        import urllib.request
        try:
            with urllib.request.urlopen(f"http://{proc.http}/status", timeout=2) as r:
                return json.loads(r.read())
        except (OSError, ValueError):
            return None

    def wait_http(self, proc, timeout=30):
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.http_status(proc) is not None:
                return
            if not proc.alive():
                break
            time.sleep(0.05)
        raise RuntimeError(f"{proc.name} does not serve /status\n{self.logs()}")

    def volume(self, *args, check=True):
        r = self.cfs("volume", *args, "--master", self.master_addr, "--json", check=check)
        return json.loads(r.stdout) if r.returncode == 0 else None

    def wait_alive(self, n, timeout=20):
        deadline = time.time() + timeout
        last = None
        while time.time() < deadline:
            try:
                st = self.status()
                last = st
                if sum(1 for x in st["nodes"] if x["alive"]) >= n:
                    return st
            except RuntimeError:
                pass
            time.sleep(0.1)
        raise RuntimeError(f"cluster not up with {n} datanodes: {last}\n{self.logs()}")

    def cfs(self, *args, check=True, input=None, timeout=120):
        r = subprocess.run([CFS] + list(args), capture_output=True, input=input, timeout=timeout)
        if check and r.returncode != 0:
            raise RuntimeError(f"cfs {' '.join(args)} exited {r.returncode}: {r.stderr.decode(errors='replace')}")
        return r

    def status(self):
        r = self.cfs("cluster", "status", "--json", "--master", self.master_addr, check=False)
        if r.returncode != 0:
            raise RuntimeError(r.stderr.decode(errors="replace"))
        return json.loads(r.stdout)

    def put(self, path, *extra):
        r = self.cfs("blob", "put", path, "--master", self.master_addr, *extra)
        return r.stdout.decode().split("\t")[0]

    def get(self, fid, replica=None):
        args = ["blob", "get", fid, "--master", self.master_addr]
        if replica:
            args += ["--replica", replica]
        r = self.cfs(*args, check=False)
        if r.returncode != 0:
            raise RuntimeError(r.stderr.decode(errors="replace"))
        return r.stdout

    def master_status(self, m):
        """A master's /status document, or None if it does not answer."""
        import urllib.request
        try:
            with urllib.request.urlopen(f"http://{m.http}/status", timeout=2) as r:
                return json.loads(r.read())
        except (OSError, ValueError):
            return None

    def leader(self, timeout=20, exclude=()):
        """The master that serves as leader (waits for one)."""
        deadline = time.time() + timeout
        while time.time() < deadline:
            for m in self.masters:
                if m in exclude or not m.alive():
                    continue
                st = self.master_status(m)
                if st and st.get("leader"):
                    return m
            time.sleep(0.05)
        raise RuntimeError(f"no master leader within {timeout} s\n{self.logs()}")

    def logs(self):
        out = []
        for p in self.masters + self.datanodes + self.metanodes:
            out.append(f"--- {p.name} ---\n" + p.log()[-3000:])
        return "\n".join(out)

    def close(self, keep=False):
        for p in self.metanodes + self.datanodes + self.masters:
            p.stop()
        if not keep:
            shutil.rmtree(self.dir, ignore_errors=True)
