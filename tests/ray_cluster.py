"""A real two-node Ray cluster on this machine, for tests/test_farm.py and bench/batch.py.

A head and a second node, each started by ``ray start --block`` as a process of its own (in its
own session, so stopping it ends exactly the processes it started: its raylet, object store and
workers; ``ray stop`` would end every Ray process on the machine, other people's too). Each node
has one CPU and a resource naming it (``head_node``, ``second_node``), and a small object store.
On this 2-core machine the two nodes are up in 7-8 s and stopped in about 2 s.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

#: bytes of object store per node: the tests' pictures and chunks are a few MB
OBJECT_STORE = 200_000_000
NODES = ("head_node", "second_node")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class TwoNodeCluster:
    """``with TwoNodeCluster(env) as address:`` a head and a second node, stopped after."""

    def __init__(self, env: dict | None = None, cpus: int = 1) -> None:
        # token authentication off: a ~/.ray/auth_token left by another Ray on this machine turns it on for
        # the head while `ray status` and the driver, not told, send none
        self.env = {**(env or os.environ), "RAY_USAGE_STATS_ENABLED": "0", "RAY_AUTH_MODE": "disabled"}
        self.cpus = cpus
        self.procs: list[subprocess.Popen] = []
        self.temp = tempfile.mkdtemp(prefix="ray-", dir="/tmp")  # Ray's socket paths must stay short
        self.address = f"127.0.0.1:{_free_port()}"
        self.ray = str(Path(sys.executable).with_name("ray"))
        self.started_s = self.stopped_s = 0.0

    def _node(self, name: str, *flags: str) -> None:
        log = open(Path(self.temp) / f"{name}.log", "w")
        self.procs.append(subprocess.Popen(
            [self.ray, "start", "--block", f"--num-cpus={self.cpus}", "--num-gpus=0", "--node-ip-address=127.0.0.1",
             f"--object-store-memory={OBJECT_STORE}", f'--resources={{"{name}": 1}}', *flags],
            env=self.env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True))

    def _wait_for(self, name: str, timeout: float = 120) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if any(p.poll() is not None for p in self.procs):
                raise RuntimeError(f"a Ray node exited while starting; see {self.temp}/*.log")
            done = subprocess.run([self.ray, "status", f"--address={self.address}"], env=self.env,
                                  capture_output=True, text=True)
            if done.returncode == 0 and name in done.stdout:
                return
            time.sleep(0.5)
        raise RuntimeError(f"Ray's {name} did not come up in {timeout:.0f} s; see {self.temp}/*.log")

    def start(self) -> str:
        t = time.perf_counter()
        port = self.address.rpartition(":")[2]
        self._node(NODES[0], "--head", f"--port={port}", "--disable-usage-stats", "--include-dashboard=false",
                   f"--temp-dir={self.temp}")
        self._wait_for(NODES[0])
        self._node(NODES[1], f"--address={self.address}")
        self._wait_for(NODES[1])
        self.started_s = time.perf_counter() - t
        return self.address

    def worker_pids(self, actor_class: str) -> list[int]:
        """The processes of this cluster running an actor of ``actor_class`` (Ray titles them
        ``ray::CLASS``), found among its own sessions only."""
        sessions = {p.pid for p in self.procs}
        pids = []
        for d in Path("/proc").iterdir():
            if not d.name.isdigit():
                continue
            try:
                cmd = (d / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
                sid = int((d / "stat").read_text().rpartition(")")[2].split()[3])
            except (OSError, ValueError, IndexError):
                continue
            if sid in sessions and cmd.startswith(f"ray::{actor_class}"):
                pids.append(int(d.name))
        return pids

    def stop(self) -> None:
        t = time.perf_counter()
        for p in reversed(self.procs):  # ray start --block ends its node's processes on SIGTERM
            p.send_signal(signal.SIGTERM)
        for p in reversed(self.procs):
            try:
                p.wait(20)
            except subprocess.TimeoutExpired:
                pass
            try:
                os.killpg(p.pid, signal.SIGKILL)  # whatever of its own session is left
            except ProcessLookupError:
                pass
            p.wait()
        self.stopped_s = time.perf_counter() - t
        shutil.rmtree(self.temp, ignore_errors=True)

    def __enter__(self) -> str:
        try:
            return self.start()
        except BaseException:
            self.procs, procs = [], self.procs  # its logs stay in self.temp, named in the error
            for p in procs:
                try:
                    os.killpg(p.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                p.wait()
            raise

    def __exit__(self, *exc) -> None:
        self.stop()
