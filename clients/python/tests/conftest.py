"""Fixtures: real ``ternd`` processes on loopback ports and Unix sockets, stopped by PID.

The binary is ``$TERND_BIN``, else ``ternd`` in ``swift build --show-bin-path`` at the repository
root (build it first; these tests never build Swift).
"""

from __future__ import annotations

import base64
import json
import os
import re
import selectors
import shutil
import signal
import subprocess
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from pathlib import Path
from typing import Any, Dict, Iterator, List, Optional

import pytest

REPO_ROOT = Path(__file__).resolve().parents[3]
PROTOCOL_MD = REPO_ROOT / "protocol.md"


def ternd_binary() -> str:
    explicit = os.environ.get("TERND_BIN")
    if explicit:
        return explicit
    swift = shutil.which("swift")
    if swift is None:
        raise RuntimeError("set TERND_BIN to a built ternd (swift is not on PATH)")
    bin_path = subprocess.run(
        [swift, "build", "--show-bin-path"], cwd=REPO_ROOT, capture_output=True, text=True, timeout=120, check=True
    ).stdout.strip()
    binary = os.path.join(bin_path, "ternd")
    if not os.access(binary, os.X_OK):
        raise RuntimeError(f"{binary} is not built; run `swift build` or set TERND_BIN")
    return binary


class Ternd:
    """One ``ternd`` with its own state folder; ``restart`` reuses its ports, socket and state."""

    def __init__(self, binary: str, state_dir: str, extra_args: List[str]) -> None:
        self.binary = binary
        self.state_dir = state_dir
        self.extra_args = extra_args
        self.unix_socket = os.path.join(state_dir, "t.sock")
        self.log_path = os.path.join(state_dir, "ternd.log")
        self.data_listen = "127.0.0.1:0"
        self.control_listen = "127.0.0.1:0"
        self.process: Optional[subprocess.Popen[bytes]] = None
        self.ready: Dict[str, str] = {}

    # ---- lifecycle ------------------------------------------------------------------------------

    def start(self, timeout: float = 20.0) -> None:
        args = [
            self.binary,
            "--state-dir",
            self.state_dir,
            "--data-listen",
            self.data_listen,
            "--control-listen",
            self.control_listen,
            "--unix-socket",
            self.unix_socket,
            "--threads",
            "2",
            *self.extra_args,
        ]
        env = {k: v for k, v in os.environ.items() if not k.startswith("TERND_") and k != "NOTIFY_SOCKET"}
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=log, env=env)
        assert self.process.stdout is not None
        deadline = time.monotonic() + timeout
        text = b""
        with selectors.DefaultSelector() as selector:
            selector.register(self.process.stdout, selectors.EVENT_READ)
            while b"\n" not in text and time.monotonic() < deadline:
                if not selector.select(timeout=0.1):
                    if self.process.poll() is not None:
                        break
                    continue
                chunk = os.read(self.process.stdout.fileno(), 4096)
                if not chunk:
                    break
                text += chunk
        line = text.decode(errors="replace").split("\n")[0]
        if not line.startswith("ternd ready "):
            self.kill9()
            raise RuntimeError(f"ternd did not become ready: {text!r}\nlog:\n{self.log}")
        self.ready = dict(part.split("=", 1) for part in line.split()[2:] if "=" in part)
        # A restart binds the same ports.
        self.data_listen = self.ready["data"]
        self.control_listen = self.ready["control"]

    def kill9(self) -> None:
        if self.process is not None and self.process.poll() is None:
            os.kill(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=10)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            os.kill(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.kill9()
        if self.process is not None and self.process.stdout is not None:
            self.process.stdout.close()

    def restart(self) -> None:
        if self.process is not None and self.process.stdout is not None:
            self.process.stdout.close()
        self.start()

    # ---- facts ----------------------------------------------------------------------------------

    @property
    def data(self) -> str:
        return self.ready["data"]

    @property
    def control(self) -> str:
        return "http://" + self.ready["control"]

    @property
    def service(self) -> str:
        return self.ready["service"]

    @property
    def account(self) -> str:
        return self.ready["account"]

    @property
    def log(self) -> str:
        return Path(self.log_path).read_text(errors="replace")

    @property
    def token(self) -> str:
        match = re.search(r"auth token (\S+); shown once", self.log)
        assert match, "no generated-credentials line in the log"
        return match.group(1)

    # ---- REST -----------------------------------------------------------------------------------

    def rest(self, method: str, path: str, form: Optional[Dict[str, str]] = None) -> Any:
        data = urllib.parse.urlencode(form).encode() if form is not None else None
        request = urllib.request.Request(self.control + path, data=data, method=method)
        if "--auth" in self.extra_args:
            basic = base64.b64encode(f"{self.account}:{self.token}".encode()).decode()
            request.add_header("Authorization", "Basic " + basic)
        with urllib.request.urlopen(request, timeout=10) as response:
            body = response.read()
        return json.loads(body) if body else None

    def create_stream(self, unique_name: Optional[str] = None, ttl: Optional[int] = None) -> str:
        name = unique_name or "s-" + uuid.uuid4().hex[:12]
        form = {"UniqueName": name}
        if ttl is not None:
            form["Ttl"] = str(ttl)
        created = self.rest("POST", f"/v1/Services/{self.service}/Streams", form)
        assert created["unique_name"] == name
        return name

    def delete_stream(self, name: str) -> None:
        self.rest("DELETE", f"/v1/Services/{self.service}/Streams/{name}")

    def publish_rest(self, name: str, data: str) -> Any:
        return self.rest("POST", f"/v1/Services/{self.service}/Streams/{name}/Messages", {"Data": data})


def _start(extra_args: List[str]) -> Iterator[Ternd]:
    state_dir = tempfile.mkdtemp(prefix="tern-py-")
    daemon = Ternd(ternd_binary(), state_dir, extra_args)
    try:
        daemon.start()
        yield daemon
    finally:
        daemon.stop()
        shutil.rmtree(state_dir, ignore_errors=True)


@pytest.fixture(scope="session")
def ternd() -> Iterator[Ternd]:
    """A shared daemon with default settings (tests use their own stream names)."""
    yield from _start([])


@pytest.fixture(scope="session")
def tight_ternd() -> Iterator[Ternd]:
    """A shared daemon with small limits: 1 KiB payloads, 2 subscriptions, 1 s ping interval,
    64 KiB out-buffers (so a paused subscriber is dropped quickly)."""
    yield from _start(
        ["--max-payload", "1K", "--max-frame", "2K", "--max-subscriptions", "2", "--ping-interval", "1",
         "--out-buffer", "64K"]
    )  # fmt: skip


@pytest.fixture
def fresh_ternd() -> Iterator[Ternd]:
    """A daemon of the test's own (killed and restarted by reconnect tests)."""
    yield from _start([])


@pytest.fixture(scope="session")
def rate_ternd() -> Iterator[Ternd]:
    """Two publishes per stream, then one per 10 s."""
    yield from _start(["--publish-rate", "0.1", "--publish-burst", "2"])


@pytest.fixture(scope="session")
def auth_ternd() -> Iterator[Ternd]:
    yield from _start(["--auth", "required"])


@pytest.fixture
def token_ternd() -> Iterator[Ternd]:
    """Auth required, no clock skew, TOKEN_EXPIRING 2 s before a token expires."""
    yield from _start(["--auth", "required", "--token-clock-skew", "0", "--token-expiry-warning", "2"])
