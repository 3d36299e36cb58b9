"""Resume (protocol version 2) against real ternd processes: a reconnecting subscription
continues after the last sequence it received, the server replays what its ring holds, and the
client reports the gap exactly (a Dropped with reason NOT_RETAINED) or the restart."""

from __future__ import annotations

import asyncio
from typing import Iterator, List

import pytest

from conftest import Ternd, _start
from tern_client import Connection, ConnectionState, Dropped, DropReason, Message, Resubscribed, ResumeAheadError

FAST = {"reconnect_wait": 0.05, "reconnect_wait_max": 0.5}


@pytest.fixture(scope="module")
def small_ring_ternd() -> Iterator[Ternd]:
    """A 4 KiB ring per stream: about 35 frames of 100 bytes are all a resume can replay."""
    yield from _start(["--ring-bytes", "4K", "--max-payload", "1K", "--max-frame", "2K"])


def _break(conn: Connection) -> None:
    session = conn._session
    assert session is not None and session.transport is not None
    session.transport.abort()  # the network breaks; the server lives on


async def _until_resubscribed(sub: object, timeout: float = 10) -> Resubscribed:
    event = await sub.next(timeout)  # type: ignore[attr-defined]
    assert isinstance(event, Resubscribed), event
    return event


async def test_resume_with_no_gap_replays_what_was_missed(ternd: Ternd) -> None:
    name = ternd.create_stream()
    async with Connection.open(ternd.data, reconnect_wait=1.0, reconnect_wait_max=1.0) as conn:
        assert conn.welcome is not None and conn.welcome.version == 3
        sub = await conn.subscribe(name)
        await conn.publish(name, {"i": 1})
        assert isinstance(await sub.next(5), Message)
        _break(conn)
        await asyncio.sleep(0.05)
        assert conn.state is ConnectionState.RECONNECTING
        ternd.publish_rest(name, '{"i":2}')  # published while we are away (backoff is >= 0.5 s)
        ternd.publish_rest(name, '{"i":3}')
        event = await _until_resubscribed(sub)
        assert event.resumed and not event.server_restarted
        assert event.last_sequence == 1 and event.next_sequence == 2
        assert event.missed == 0 and not event.possible_gap
        replayed = [await sub.next(5), await sub.next(5)]
        assert all(isinstance(m, Message) for m in replayed)
        assert [m.json() for m in replayed] == [{"i": 2}, {"i": 3}]  # type: ignore[union-attr]
        assert [m.sequence for m in replayed] == [2, 3]  # type: ignore[union-attr]
        await conn.publish(name, {"i": 4}, timeout=10)
        live = await sub.next(5)
        assert isinstance(live, Message) and live.sequence == 4 and live.sid == sub.last_sid


async def test_resume_with_a_gap_counts_it_exactly(small_ring_ternd: Ternd) -> None:
    name = small_ring_ternd.create_stream()
    async with (
        Connection.open(small_ring_ternd.data, reconnect_wait=1.0, reconnect_wait_max=1.0) as conn,
        Connection.open(small_ring_ternd.data) as pub,
    ):
        sub = await conn.subscribe(name)
        await pub.publish(name, {"i": 0})
        assert isinstance(await sub.next(5), Message)
        _break(conn)
        pad = "x" * 80
        for index in range(1, 201):
            await pub.publish(name, {"i": index, "pad": pad}, ack=False)
        await pub.ping()  # every publish before it was accepted
        event = await _until_resubscribed(sub)
        assert event.resumed and event.missed == 0 and event.last_sequence == 1
        dropped = await sub.next(5)
        assert isinstance(dropped, Dropped) and dropped.reason == DropReason.NOT_RETAINED
        received: List[int] = []
        while not received or received[-1] < 201:
            message = await sub.next(5)
            assert isinstance(message, Message), message
            received.append(message.sequence)
        # Exactly what was published while away: counted or replayed, consecutive, nothing twice.
        assert dropped.count + len(received) == 200
        assert received == list(range(2 + dropped.count, 202))
        assert 0 < len(received) < 60


async def test_resume_after_kill9_reports_the_restart(fresh_ternd: Ternd) -> None:
    name = fresh_ternd.create_stream()
    async with Connection.open(fresh_ternd.data, reconnect_wait=2.0, reconnect_wait_max=2.0) as conn:
        sub = await conn.subscribe(name)
        for index in range(3):
            await conn.publish(name, {"i": index})
        for _ in range(3):
            assert isinstance(await sub.next(5), Message)
        old = sub.info
        fresh_ternd.kill9()
        fresh_ternd.restart()
        # Published in the new run before the client is back (its backoff is at least 1 s):
        # nobody subscribed, so no ring held them, and the resume counts them.
        fresh_ternd.publish_rest(name, '{"new":1}')
        fresh_ternd.publish_rest(name, '{"new":2}')
        event = await _until_resubscribed(sub, 20)
        assert event.resumed and event.server_restarted and event.missed is None and event.possible_gap
        assert event.last_sequence == 3 and event.next_sequence == 1
        assert event.stream.sid_prefix != old.sid_prefix and event.stream.stream_sid == old.stream_sid
        dropped = await sub.next(5)
        assert isinstance(dropped, Dropped)
        assert dropped.reason == DropReason.NOT_RETAINED and dropped.count == 2
        await conn.publish(name, {"new": 3}, timeout=10)
        message = await sub.next(5)
        assert isinstance(message, Message) and message.sequence == 3 and message.json() == {"new": 3}


async def test_subscribe_after_a_stored_message_sid(ternd: Ternd) -> None:
    """A worker that stored the sid of the last message it processed resumes after it."""
    name = ternd.create_stream()
    async with Connection.open(ternd.data) as conn:
        holder = await conn.subscribe(name)
        sids = [(await conn.publish(name, {"i": index})).sid for index in range(5)]  # type: ignore[union-attr]
        for _ in range(5):
            assert isinstance(await holder.next(5), Message)
    async with Connection.open(ternd.data) as worker:
        sub = await worker.subscribe(name, after=sids[1])
        event = await _until_resubscribed(sub)
        assert event.resumed and event.last_sequence == 2 and event.missed == 0
        messages = [await sub.next(5) for _ in range(3)]
        assert [m.sid for m in messages] == sids[2:]  # type: ignore[union-attr]
        with pytest.raises(ResumeAheadError):
            await worker.subscribe(name, after=sids[0][:-2] + "ff")
        with pytest.raises(ValueError):
            await worker.subscribe(name, after="TZnothex")


async def test_version_1_subscribe_after_reports_the_gap(ternd: Ternd) -> None:
    name = ternd.create_stream()
    async with Connection.open(ternd.data) as conn:
        first = await conn.publish(name, {"i": 1})
        await conn.publish(name, {"i": 2})
    assert first is not None
    async with Connection.open(ternd.data, max_version=1) as old:
        sub = await old.subscribe(name, after=first.sid)
        event = await _until_resubscribed(sub)
        assert not event.resumed and event.missed == 1 and event.next_sequence == 3
