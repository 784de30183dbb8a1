"""A real Redis Cluster and a real Sentinel set, built from `redis-server` processes on free
loopback ports (the binary of `redis_server.redis_server_binary()`, Redis 6 or 7).

`ClusterSet`: masters with one replica each, slots split evenly, joined with CLUSTER MEET (no
`redis-cli` needed). `failover(i)` runs CLUSTER FAILOVER on master i's replica: a manual
fail-over, so clients of that master's slots get MOVED and must follow.

`SentinelSet`: a master, its replicas and three Sentinels (quorum 2) watching it, with a
short down-after; with a password, the servers and the Sentinels all require it.
`kill_master()` crashes the master and waits for the Sentinels to promote a replica.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable
from typing import Self

import redis

from support.redis_server import RedisServer, free_port, redis_server_binary

SLOTS = 16384


def _wait(predicate: Callable[[], bool], what: str, timeout_s: float = 30.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            if predicate():
                return
        except redis.RedisError:
            pass
        time.sleep(0.05)
    raise RuntimeError(f"redis: {what} not reached in {timeout_s} s")


class _Topology:
    """Started on entering, every process killed and every directory removed on leaving (and
    when the start fails half-way)."""

    def start(self) -> Self:
        raise NotImplementedError

    def cleanup(self) -> None:
        raise NotImplementedError

    def __enter__(self) -> Self:
        try:
            return self.start()
        except BaseException:
            self.cleanup()
            raise

    def __exit__(self, *exc: object) -> None:
        self.cleanup()


class ClusterSet(_Topology):
    def __init__(self, *, masters: int = 3, node_timeout_ms: int = 1000) -> None:
        args = ["--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf",
                "--cluster-node-timeout", str(node_timeout_ms)]
        self.masters = [RedisServer(port=_cluster_port(), args=args) for _ in range(masters)]
        self.replicas = [RedisServer(port=_cluster_port(), args=args) for _ in range(masters)]

    @property
    def nodes(self) -> list[RedisServer]:
        return self.masters + self.replicas

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.masters[0].port}"

    def start(self) -> ClusterSet:
        for node in self.nodes:
            node.start()
        share = SLOTS // len(self.masters)
        for i, master in enumerate(self.masters):
            end = SLOTS if i == len(self.masters) - 1 else (i + 1) * share
            master.client().execute_command("CLUSTER", "ADDSLOTS", *range(i * share, end))
        first = self.masters[0].client()
        for node in self.nodes[1:]:
            first.execute_command("CLUSTER", "MEET", "127.0.0.1", node.port)
        _wait(lambda: all(len(_nodes(n)) == len(self.nodes) for n in self.nodes), "all met")
        for master, replica in zip(self.masters, self.replicas, strict=True):
            master_id = _id(master)
            # The replica must know the master as a master before it can follow it.
            _wait(lambda m=master_id, r=replica: "master" in _nodes(r)[m], "master known")  # type: ignore[misc]
            replica.client().execute_command("CLUSTER", "REPLICATE", master_id)
        self.wait_healthy()
        return self

    def wait_healthy(self) -> None:
        def healthy() -> bool:
            for node in self.nodes:
                info = node.client().execute_command("CLUSTER", "INFO")
                text = info.decode() if isinstance(info, bytes) else str(info)
                if "cluster_state:ok" not in text:
                    return False
            return all(node.client().info("replication").get("master_link_status") == "up"
                       for node in self.nodes if _role(node) == "slave")
        _wait(healthy, "cluster ok, replicas in sync")

    def failover(self, index: int) -> None:
        """Master `index`'s replica takes over its slots (CLUSTER FAILOVER: the replica
        catches up first, so no acknowledged write is lost)."""
        old, new = self.masters[index], self.replicas[index]
        new.client().execute_command("CLUSTER", "FAILOVER")
        _wait(lambda: _role(new) == "master" and _role(old) == "slave", "fail-over")
        self.masters[index], self.replicas[index] = new, old
        self.wait_healthy()

    def master_of(self, key: str) -> int:
        """Which of `masters` holds `key`'s slot now."""
        slot = int(self.masters[0].client().execute_command("CLUSTER", "KEYSLOT", key))
        share = SLOTS // len(self.masters)
        return min(slot // share, len(self.masters) - 1)

    def cleanup(self) -> None:
        for node in self.nodes:
            node.cleanup()


def _cluster_port() -> int:
    """A free port whose cluster bus port (+10000) is free too (so at most 55535)."""
    while True:
        port = free_port()
        if port <= 55535:
            try:
                with socket.socket() as s:
                    s.bind(("127.0.0.1", port + 10000))
                return port
            except OSError:
                pass


def _nodes(node: RedisServer) -> dict[str, str]:
    """CLUSTER NODES as node id -> flags, as `node` sees them."""
    raw = node.client().execute_command("CLUSTER", "NODES")
    text = raw.decode() if isinstance(raw, bytes) else str(raw)
    if isinstance(raw, dict):  # redis-py may parse the reply
        return {v["node_id"]: v["flags"] for v in raw.values()}
    return {line.split()[0]: line.split()[2] for line in text.splitlines() if line.strip()}


def _id(node: RedisServer) -> str:
    raw = node.client().execute_command("CLUSTER", "MYID")
    return raw.decode() if isinstance(raw, bytes) else str(raw)


def _role(node: RedisServer) -> str:
    return str(node.client().info("replication")["role"])


class SentinelSet(_Topology):
    MASTER = "mymaster"

    def __init__(self, *, password: str | None = None, replicas: int = 1,
                 sentinels: int = 3) -> None:
        self.password = password
        self.master = RedisServer(password=password)
        follow = ["--replicaof", "127.0.0.1", str(self.master.port)]
        self.replicas = [RedisServer(password=password, args=follow) for _ in range(replicas)]
        self.down: list[RedisServer] = []  # killed, not restarted
        self.ports = [free_port() for _ in range(sentinels)]
        self.dir = tempfile.mkdtemp(prefix="bayesgate-sentinel-")
        self.procs: list[subprocess.Popen[bytes]] = []

    @property
    def sentinels(self) -> list[str]:
        return [f"127.0.0.1:{p}" for p in self.ports]

    def sentinel(self, i: int = 0) -> redis.Redis:
        return redis.Redis(port=self.ports[i], password=self.password, socket_timeout=5)

    def start(self) -> SentinelSet:
        self.master.start()
        for replica in self.replicas:
            replica.start()
        self.wait_replicas()
        for port in self.ports:
            conf = os.path.join(self.dir, f"sentinel-{port}.conf")
            lines = [f"port {port}", "bind 127.0.0.1", f"dir {self.dir}",
                     f"sentinel monitor {self.MASTER} 127.0.0.1 {self.master.port} 2",
                     f"sentinel down-after-milliseconds {self.MASTER} 500",
                     f"sentinel failover-timeout {self.MASTER} 3000",
                     f"sentinel parallel-syncs {self.MASTER} 1"]
            if self.password:  # the Sentinels ask for it too
                lines += [f"sentinel auth-pass {self.MASTER} {self.password}",
                          f"requirepass {self.password}",
                          f"sentinel sentinel-pass {self.password}"]
            with open(conf, "w") as f:
                f.write("\n".join(lines) + "\n")
            log = open(os.path.join(self.dir, f"sentinel-{port}.log"), "wb")  # noqa: SIM115
            self.procs.append(subprocess.Popen([redis_server_binary(), conf, "--sentinel"],
                                               stdout=log, stderr=subprocess.STDOUT))
        others = len(self.ports) - 1
        _wait(lambda: all(
            len(self.sentinel(i).execute_command("SENTINEL", "SENTINELS", self.MASTER)) == others
            and len(self.sentinel(i).execute_command("SENTINEL", "REPLICAS", self.MASTER))
            == len(self.replicas)
            for i in range(len(self.ports))), "sentinels see each other and the replicas",
            # Sentinels find replicas by INFO every 10 s; on a loaded machine (CI, 09fb5a9)
            # 30 s once fell short.
            timeout_s=60.0)
        return self

    def master_port(self) -> int:
        host, port = self.sentinel().execute_command(
            "SENTINEL", "GET-MASTER-ADDR-BY-NAME", self.MASTER)
        return int(port)

    def wait_replicas(self) -> None:
        _wait(lambda: all(r.client().info("replication").get("master_link_status") == "up"
                          for r in self.replicas), "replicas in sync")

    def kill_master(self) -> float:
        """SIGKILL the master; wait until the Sentinels promote a replica (and the others
        follow it). Returns the seconds the fail-over took."""
        began = time.monotonic()
        self.master.kill()
        old = self.master.port
        _wait(lambda: self.master_port() != old, "sentinel fail-over")
        new = next(r for r in self.replicas if r.port == self.master_port())
        _wait(lambda: _role(new) == "master", "promoted replica is master")
        self.down.append(self.master)
        self.master = new
        self.replicas.remove(new)
        took = time.monotonic() - began
        self.wait_replicas()
        return took

    def cleanup(self) -> None:
        for proc in self.procs:
            proc.kill()
            proc.wait(10)
        for server in [self.master, *self.replicas, *self.down]:
            server.cleanup()
        shutil.rmtree(self.dir, ignore_errors=True)
