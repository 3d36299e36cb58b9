"""The blocking wrapper and ``python -m tern_client sub/pub`` (as subprocesses) against ternd."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from typing import Dict, List, Optional

import pytest

from conftest import Ternd
from tern_client import Message, StreamEnded, TernError
from tern_client.sync import Connection


def test_sync_publish_and_subscribe(ternd: Ternd) -> None:
    name = ternd.create_stream()
    with Connection.open(ternd.data) as conn:
        sub = conn.subscribe(name)
        result = conn.publish(name, {"sync": 1})
        assert result is not None and result.sequence == 1
        conn.publish(name, {"sync": 2}, ack=False)
        events = [sub.next(5), sub.next(5)]
        assert [e.json() for e in events if isinstance(e, Message)] == [{"sync": 1}, {"sync": 2}]
        assert sub.last_sequence == 2
        assert conn.ping(5) >= 0
        ternd.delete_stream(name)
        with pytest.raises(StreamEnded):
            for _ in sub:
                pass


def test_sync_errors_propagate_and_close_is_idempotent(ternd: Ternd) -> None:
    conn = Connection(ternd.unix_socket)
    with pytest.raises(TernError):
        conn.subscribe("does-not-exist")
    attached = conn.attach(ternd.create_stream())
    assert attached.publish("{}") is not None
    conn.close()
    conn.close()


def run_cli(args: List[str], env: Optional[Dict[str, str]] = None, timeout: float = 20) -> subprocess.Popen[str]:
    full_env = dict(os.environ)
    full_env.update(env or {})
    return subprocess.Popen(
        [sys.executable, "-m", "tern_client", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=full_env,
    )


def wait_for_stderr_line(process: subprocess.Popen[str], prefix: str, timeout: float = 15) -> str:
    assert process.stderr is not None
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = process.stderr.readline()
        if line.startswith(prefix):
            return line
        if not line and process.poll() is not None:
            break
    raise AssertionError(f"no {prefix!r} line on stderr")


def test_cli_sub_and_pub(ternd: Ternd) -> None:
    name = ternd.create_stream()
    sub = run_cli(["sub", name, "--count", "3", "--timeout", "20"], env={"TERN_DATA": ternd.data})
    try:
        line = wait_for_stderr_line(sub, "subscribed ")
        assert f"({name})" in line and "next_seq=1" in line
        pub = subprocess.run(
            [sys.executable, "-m", "tern_client", "pub", name, '{"px": 1,\n "n": "x"}', "--count", "3"],
            capture_output=True,
            text=True,
            timeout=20,
            env={**os.environ, "TERN_DATA": ternd.unix_socket},
        )
        assert pub.returncode == 0, pub.stderr
        sids = pub.stdout.split()
        assert len(sids) == 3 and all(s.startswith("TZ") and len(s) == 34 for s in sids)
        out, err = sub.communicate(timeout=20)
    finally:
        if sub.poll() is None:
            sub.kill()
            sub.wait()
    assert sub.returncode == 0, err
    lines = out.splitlines()
    assert len(lines) == 3
    messages = [json.loads(line) for line in lines]
    assert [m["seq"] for m in messages] == [1, 2, 3]
    assert [m["sid"] for m in messages] == sids
    assert all(m["data"] == {"px": 1, "n": "x"} for m in messages)
    assert all(m["stream"].startswith("TO") for m in messages)
    assert list(messages[0]) == ["stream", "sid", "seq", "data"]


def test_cli_sub_reports_the_end_of_the_stream(ternd: Ternd) -> None:
    name = ternd.create_stream()
    sub = run_cli(["sub", name, "--data", ternd.data, "--timeout", "20"])
    try:
        wait_for_stderr_line(sub, "subscribed ")
        ternd.delete_stream(name)
        _, err = sub.communicate(timeout=20)
    finally:
        if sub.poll() is None:
            sub.kill()
            sub.wait()
    assert sub.returncode == 0
    assert "reason=deleted" in err


def test_cli_sub_times_out_without_its_count(ternd: Ternd) -> None:
    name = ternd.create_stream()
    result = subprocess.run(
        [sys.executable, "-m", "tern_client", "sub", name, "--data", ternd.data, "--count", "1", "--timeout", "0.5"],
        capture_output=True,
        text=True,
        timeout=20,
    )
    assert result.returncode == 1
    assert "timed out with 0 of 1 messages" in result.stderr


def test_cli_auth_token_from_environment(auth_ternd: Ternd) -> None:
    name = auth_ternd.create_stream()
    args = [sys.executable, "-m", "tern_client", "pub", name, "{}", "--data", auth_ternd.data]
    env = {k: v for k, v in os.environ.items() if k not in ("TERN_AUTH_TOKEN", "TWILIO_AUTH_TOKEN")}
    refused = subprocess.run(args, capture_output=True, text=True, timeout=20, env=env)
    assert refused.returncode == 1 and "AUTH_FAILED (10)" in refused.stderr
    accepted = subprocess.run(
        args, capture_output=True, text=True, timeout=20, env={**env, "TERN_AUTH_TOKEN": auth_ternd.token}
    )
    assert accepted.returncode == 0, accepted.stderr
    assert accepted.stdout.startswith("TZ")


def test_cli_sub_reconnects_by_itself(fresh_ternd: Ternd) -> None:
    name = fresh_ternd.create_stream()
    sub = run_cli(["sub", name, "--data", fresh_ternd.data, "--count", "1", "--timeout", "30"])
    try:
        wait_for_stderr_line(sub, "subscribed ")
        fresh_ternd.kill9()
        fresh_ternd.restart()
        line = wait_for_stderr_line(sub, "resumed ", timeout=20)
        assert "restarted=yes" in line
        fresh_ternd.publish_rest(name, '{"back":true}')
        out, err = sub.communicate(timeout=20)
    finally:
        if sub.poll() is None:
            sub.kill()
            sub.wait()
    assert sub.returncode == 0, err
    assert json.loads(out)["data"] == {"back": True}
