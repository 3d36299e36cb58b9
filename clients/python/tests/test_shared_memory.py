"""Shared-memory subscriptions (protocol version 3) against a real ternd over its Unix socket:
every message through the mapped ring, lapping with exact loss counts, a reader that never reads
or is killed mid-read, a stream deleted while mapped, and auth before any mapping."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import urllib.request
from typing import Iterator, List, Tuple

import pytest

from conftest import Ternd, _start
from tern_client import Connection, Dropped, EndReason, Message, ServerError, StreamEnded, Subscription
from tern_client.codec import DropReason
from test_tokens import create_key, mint


@pytest.fixture
def lapping_ternd() -> Iterator[Ternd]:
    """A 4 KiB ring: about 140 small messages fit."""
    yield from _start(["--ring-bytes", "4K", "--max-payload", "1K"])


def mapped_rings() -> List[str]:
    with open("/proc/self/maps") as maps:
        return [line for line in maps if "memfd:tern-ring-" in line]


def ring_lapped_total(ternd: Ternd) -> float:
    """``tern_messages_dropped_total{reason="ring_lapped"}`` from ``/metrics``."""
    with urllib.request.urlopen(ternd.control + "/metrics", timeout=10) as response:
        text = response.read().decode()
    for line in text.splitlines():
        if line.startswith("tern_messages_dropped_total{") and 'reason="ring_lapped"' in line:
            return float(line.rsplit(" ", 1)[1])
    return 0.0


async def publish(conn: Connection, name: str, count: int, first: int = 1) -> None:
    for index in range(first, first + count):
        await conn.publish(name, {"n": index}, ack=index == first + count - 1)


async def drain(sub: Subscription, until: int, first: int = 1, timeout: float = 10.0) -> Tuple[List[int], int]:
    """Sequences received and messages reported lost from ``first`` up to ``until``."""
    sequences: List[int] = []
    lost = 0
    expected = first
    while expected <= until:
        event = await sub.next(timeout)
        if isinstance(event, Dropped):
            assert event.reason == DropReason.RING_LAPPED
            lost += event.count
            expected += event.count
        else:
            assert isinstance(event, Message)
            assert event.sequence == expected, "losses must add up to the gap"
            assert event.json() == {"n": event.sequence}
            sequences.append(event.sequence)
            expected = event.sequence + 1
    return sequences, lost


async def test_every_message_arrives_through_the_mapped_ring(ternd: Ternd) -> None:
    name = ternd.create_stream()
    async with Connection.open(ternd.unix_socket) as reader, Connection.open(ternd.data) as publisher:
        assert reader.welcome is not None and reader.welcome.version == 3
        sub = await reader.subscribe(name)
        assert sub._mapped is not None
        assert any(f"memfd:tern-ring-{sub.stream_id} " in line for line in mapped_rings())
        await publish(publisher, name, 5000)
        sequences, lost = await drain(sub, 5000)
        assert sequences == list(range(1, 5001)) and lost == 0
        await sub.unsubscribe()
        assert sub._mapped is None


async def test_a_lapped_reader_counts_its_loss_exactly(lapping_ternd: Ternd) -> None:
    name = lapping_ternd.create_stream()
    # At most 10 messages held: the ring's thread stops reading and the writer laps it.
    async with Connection.open(lapping_ternd.unix_socket, max_pending=10) as reader:
        sub = await reader.subscribe(name)
        assert sub._mapped is not None
        async with Connection.open(lapping_ternd.data) as publisher:
            await publish(publisher, name, 3000)
        sequences, lost = await drain(sub, 3000)
        assert len(sequences) + lost == 3000
        assert lost > 0 and sequences[-1] == 3000
        # The reader told the server (RING_LOSS): its count includes the loss.
        for _ in range(100):
            if ring_lapped_total(lapping_ternd) == lost:
                break
            await asyncio.sleep(0.05)
        assert ring_lapped_total(lapping_ternd) == lost


async def test_deleting_a_mapped_stream_ends_it_after_its_messages(ternd: Ternd) -> None:
    name = ternd.create_stream()
    async with Connection.open(ternd.unix_socket) as reader:
        sub = await reader.subscribe(name)
        assert sub._mapped is not None
        async with Connection.open(ternd.data) as publisher:
            await publish(publisher, name, 10)
        ternd.delete_stream(name)
        sequences, lost = await drain(sub, 10)
        assert sequences == list(range(1, 11)) and lost == 0
        with pytest.raises(StreamEnded) as ended:
            await sub.next(10)
        assert ended.value.reason == EndReason.DELETED


async def test_grants_are_checked_before_a_mapping_is_handed_out(auth_ternd: Ternd) -> None:
    allowed = auth_ternd.create_stream("prices." + os.urandom(3).hex())
    refused = auth_ternd.create_stream("orders." + os.urandom(3).hex())
    key = create_key(auth_ternd)
    token = mint(auth_ternd, key, streams={"subscribe": ["prices.*"], "publish": []})
    before = len(mapped_rings())
    async with Connection.open(auth_ternd.unix_socket, token=token) as conn:
        with pytest.raises(ServerError) as raised:
            await conn.subscribe(refused)
        assert raised.value.code == 113
        assert len(mapped_rings()) == before
        sub = await conn.subscribe(allowed)
        assert sub._mapped is not None
        await asyncio.sleep(0.1)
        assert len(mapped_rings()) == before + 1


async def test_a_reader_that_never_reads_costs_the_publisher_nothing(ternd: Ternd) -> None:
    name = ternd.create_stream()
    async with Connection.open(ternd.unix_socket, max_pending=1) as idle, Connection.open(ternd.unix_socket) as live:
        never = await idle.subscribe(name)
        assert never._mapped is not None
        sub = await live.subscribe(name)
        async with Connection.open(ternd.data) as publisher:
            for block in range(10):
                await publish(publisher, name, 2000, first=block * 2000 + 1)
                sequences, lost = await drain(sub, (block + 1) * 2000, block * 2000 + 1)
                assert lost == 0 and len(sequences) == 2000
        assert await idle.ping(5) < 5  # the idle reader's connection is served as before


READER = """
import asyncio, sys
from tern_client import Connection

async def main() -> None:
    async with Connection.open(sys.argv[1]) as conn:
        sub = await conn.subscribe(sys.argv[2])
        assert sub._mapped is not None
        print("mapped", flush=True)
        while True:
            await sub.next(60)

asyncio.run(main())
"""


async def test_a_reader_killed_mid_read_leaves_the_daemon_and_other_readers_alone(ternd: Ternd) -> None:
    name = ternd.create_stream()
    doomed = await asyncio.create_subprocess_exec(
        sys.executable, "-c", READER, ternd.unix_socket, name, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL
    )
    try:
        assert doomed.stdout is not None
        line = await asyncio.wait_for(doomed.stdout.readline(), 20)
        assert line == b"mapped\n"
        async with Connection.open(ternd.unix_socket) as survivor, Connection.open(ternd.data) as publisher:
            sub = await survivor.subscribe(name)
            for block in range(6):
                if block == 3:
                    os.kill(doomed.pid, signal.SIGKILL)
                await publish(publisher, name, 1000, first=block * 1000 + 1)
                sequences, lost = await drain(sub, (block + 1) * 1000, block * 1000 + 1)
                assert lost == 0 and len(sequences) == 1000
            assert await asyncio.wait_for(doomed.wait(), 10) == -signal.SIGKILL
            late = await survivor.subscribe(ternd.create_stream())
            assert late._mapped is not None
    finally:
        if doomed.returncode is None:
            doomed.kill()
            await asyncio.wait_for(doomed.wait(), 10)


async def test_switched_off_or_over_tcp_messages_come_over_the_socket(ternd: Ternd) -> None:
    name = ternd.create_stream()
    async with Connection.open(ternd.unix_socket, shared_memory=False) as plain, Connection.open(ternd.data) as tcp:
        subs = [await plain.subscribe(name), await tcp.subscribe(name)]
        assert all(sub._mapped is None for sub in subs)
        await publish(tcp, name, 3)
        for sub in subs:
            sequences, lost = await drain(sub, 3)
            assert sequences == [1, 2, 3] and lost == 0
