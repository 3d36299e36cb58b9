"""Reconnect with backoff and resubscription: after kill -9 and restart of ternd on the same ports
and socket (a new sid prefix tells the restart), after SIGTERM, and after a broken socket."""

from __future__ import annotations

import asyncio
from typing import List, Optional, Tuple

import pytest

from conftest import Ternd
from tern_client import (
    Connection,
    ConnectionLostError,
    ConnectionState,
    Message,
    Resubscribed,
)

FAST = {"reconnect_wait": 0.05, "reconnect_wait_max": 0.5}


async def test_reconnects_after_kill9_and_reports_the_restart(fresh_ternd: Ternd) -> None:
    name = fresh_ternd.create_stream()
    states: List[Tuple[ConnectionState, Optional[BaseException]]] = []
    async with (
        Connection.open(fresh_ternd.data, on_state_change=lambda s, e: states.append((s, e)), **FAST) as conn,
        Connection.open(fresh_ternd.unix_socket, **FAST) as pub,
    ):
        sub = await conn.subscribe(name)
        for index in range(3):
            await pub.publish(name, {"i": index})
        for _ in range(3):
            assert isinstance(await sub.next(5), Message)
        old = sub.info

        fresh_ternd.kill9()
        fresh_ternd.restart()

        event = await sub.next(20)
        assert isinstance(event, Resubscribed)
        assert event.server_restarted and event.possible_gap
        assert event.missed is None
        assert event.last_sequence == 3
        assert event.stream.stream_sid == old.stream_sid
        assert event.stream.sid_prefix != old.sid_prefix
        assert sub.info == event.stream
        # Resubscribed is queued as its SUBSCRIBED arrives; CONNECTED follows once all are back.
        await conn.wait_connected(10)
        assert conn.state is ConnectionState.CONNECTED and conn.reconnects == 1
        kinds = [s for s, _ in states]
        assert kinds[-2:] == [ConnectionState.RECONNECTING, ConnectionState.CONNECTED]
        assert isinstance(states[-2][1], ConnectionLostError)

        # The publisher came back by itself (over the Unix socket) and the stream works again.
        result = await pub.publish(name, {"after": "restart"}, timeout=20)
        assert result is not None
        message = await sub.next(5)
        assert isinstance(message, Message)
        assert message.json() == {"after": "restart"}
        assert message.sid == result.sid
        assert message.sid.startswith("TZ" + event.stream.sid_prefix.hex())


async def test_sigterm_shutdown_keeps_the_subscription(fresh_ternd: Ternd) -> None:
    """STREAM_ENDED reason SHUTDOWN means the server is stopping, not the stream: a reconnecting
    client keeps the subscription and resubscribes."""
    name = fresh_ternd.create_stream()
    async with Connection.open(fresh_ternd.data, **FAST) as conn:
        sub = await conn.subscribe(name)
        fresh_ternd.stop()
        fresh_ternd.restart()
        event = await sub.next(20)
        assert isinstance(event, Resubscribed) and event.server_restarted
        assert sub.active
        await conn.publish(name, {"x": 1}, timeout=10)
        assert isinstance(await sub.next(5), Message)


async def test_broken_socket_reconnects_and_counts_the_gap_in_version_1(ternd: Ternd) -> None:
    """Protocol version 1 cannot resume: the gap is counted from the sequences, not replayed."""
    name = ternd.create_stream()
    async with Connection.open(ternd.data, reconnect_wait=1.0, reconnect_wait_max=1.0, max_version=1) as conn:
        sub = await conn.subscribe(name)
        await conn.publish(name, {"i": 1})
        assert isinstance(await sub.next(5), Message)
        session = conn._session
        assert session is not None and session.transport is not None
        session.transport.abort()  # the network breaks; the server lives on
        await asyncio.sleep(0.05)
        assert conn.state is ConnectionState.RECONNECTING
        ternd.publish_rest(name, '{"i":2}')  # published while we are away (backoff is >= 0.5 s)
        ternd.publish_rest(name, '{"i":3}')
        event = await sub.next(10)
        assert isinstance(event, Resubscribed)
        assert not event.server_restarted
        assert event.last_sequence == 1 and event.next_sequence == 4
        assert event.missed == 2 and event.possible_gap and not event.resumed
        assert conn.welcome is not None and conn.welcome.version == 1
        await conn.publish(name, {"i": 4}, timeout=10)
        message = await sub.next(5)
        assert isinstance(message, Message) and message.sequence == 4


async def test_without_reconnect_a_lost_connection_ends_iteration(fresh_ternd: Ternd) -> None:
    name = fresh_ternd.create_stream()
    async with Connection.open(fresh_ternd.data, reconnect=False) as conn:
        sub = await conn.subscribe(name)
        fresh_ternd.kill9()
        with pytest.raises(ConnectionLostError):
            await sub.next(10)
        assert conn.state is ConnectionState.CLOSED
        with pytest.raises(ConnectionLostError):
            await conn.publish(name, {"x": 1})


async def test_gives_up_after_max_reconnect_attempts(fresh_ternd: Ternd) -> None:
    name = fresh_ternd.create_stream()
    async with Connection.open(
        fresh_ternd.data, max_reconnect_attempts=3, reconnect_wait=0.02, reconnect_wait_max=0.05
    ) as conn:
        sub = await conn.subscribe(name)
        fresh_ternd.kill9()
        with pytest.raises(Exception) as raised:
            await sub.next(10)
        assert conn.state is ConnectionState.CLOSED
        assert "connect" in str(raised.value).lower()
