"""Publish and subscribe against a real ternd, over TCP and the Unix socket: every frame type."""

from __future__ import annotations

import asyncio
import json
import re
from typing import List

import pytest

from conftest import Ternd
from tern_client import (
    Connection,
    ConnectionState,
    Dropped,
    EndReason,
    Event,
    Message,
    StreamEnded,
)

SID = re.compile(r"^TZ[0-9a-f]{32}$")


async def take(sub: object, count: int, timeout: float = 5.0) -> List[Event]:
    """``count`` events from a subscription, failing after ``timeout`` seconds."""
    from tern_client import Subscription

    assert isinstance(sub, Subscription)
    events: List[Event] = []
    for _ in range(count):
        events.append(await sub.next(timeout))
    return events


@pytest.mark.parametrize("transport", ["tcp", "unix"])
async def test_publish_with_ack_is_received(ternd: Ternd, transport: str) -> None:
    name = ternd.create_stream()
    address = ternd.data if transport == "tcp" else ternd.unix_socket
    async with Connection.open(address) as conn:
        assert conn.state is ConnectionState.CONNECTED
        welcome = conn.welcome
        assert welcome is not None and welcome.version == 3
        assert welcome.max_payload == 4096 and welcome.server_name.startswith("ternd/")
        sub = await conn.subscribe(name)
        assert sub.info.unique_name == name
        assert sub.stream_sid.startswith("TO") and len(sub.stream_sid) == 34
        assert sub.next_sequence == 1
        result = await conn.publish(name, {"px": 1, "text": "héllo"})
        assert result is not None
        assert result.sequence == 1
        assert SID.match(result.sid)
        (event,) = await take(sub, 1)
        assert isinstance(event, Message)
        assert event.sequence == 1
        assert event.sid == result.sid
        assert event.stream_sid == sub.stream_sid
        assert event.stream_id == sub.stream_id
        assert event.json() == {"px": 1, "text": "héllo"}
        assert sub.last_sequence == 1


async def test_publish_without_ack_and_from_another_connection(ternd: Ternd) -> None:
    name = ternd.create_stream()
    async with Connection.open(ternd.data) as receiver, Connection.open(ternd.unix_socket) as sender:
        sub = await receiver.subscribe(name)
        publisher = await sender.attach(name)
        assert publisher.attach_only
        for index in range(50):
            assert await publisher.publish(json.dumps({"n": index}), ack=False) is None
        last = await publisher.publish(b'{"n":50}')
        assert last is not None and last.sequence == 51
        events = await take(sub, 51)
        assert [e.json()["n"] for e in events if isinstance(e, Message)] == list(range(51))
        assert [e.sequence for e in events if isinstance(e, Message)] == list(range(1, 52))
        # The attach-only subscription receives nothing.
        assert publisher.pending() == 0


async def test_rest_publish_reaches_the_subscriber_and_sids_match(ternd: Ternd) -> None:
    name = ternd.create_stream()
    async with Connection.open(ternd.data) as conn:
        sub = await conn.subscribe(name)
        created = ternd.publish_rest(name, '{"via":"rest"}')
        (event,) = await take(sub, 1)
        assert isinstance(event, Message)
        assert event.sid == created["sid"]
        assert event.json() == {"via": "rest"}


async def test_unsubscribe_ends_iteration_quietly(ternd: Ternd) -> None:
    name = ternd.create_stream()
    async with Connection.open(ternd.data) as conn:
        sub = await conn.subscribe(name)
        await conn.publish(name, {"a": 1})
        await take(sub, 1)
        await sub.unsubscribe()
        assert not sub.active
        events = [event async for event in sub]
        assert events == []
        # Publishing by name still works: the connection attaches the stream anew.
        assert await conn.publish(name, {"a": 2}) is not None


async def test_stream_deleted_over_rest_raises_stream_ended_after_its_messages(ternd: Ternd) -> None:
    name = ternd.create_stream()
    async with Connection.open(ternd.data) as conn:
        sub = await conn.subscribe(name)
        for index in range(3):
            await conn.publish(name, {"i": index})
        ternd.delete_stream(name)
        received: List[int] = []

        async def drain() -> None:
            async for event in sub:
                assert isinstance(event, Message)
                received.append(event.json()["i"])

        with pytest.raises(StreamEnded) as ended:
            await asyncio.wait_for(drain(), 5)
        assert received == [0, 1, 2]
        assert ended.value.reason == EndReason.DELETED
        assert ended.value.stream_sid == sub.stream_sid
        assert "DELETED" in str(ended.value)


async def test_ping_pong(ternd: Ternd) -> None:
    async with Connection.open(ternd.data) as conn:
        rtt = await conn.ping(timeout=5)
        assert 0 <= rtt < 5


async def test_server_pings_are_answered(tight_ternd: Ternd) -> None:
    """With ping_interval 1 s and no client keepalive, the connection survives only if this
    client answers the server's PINGs (else IDLE_TIMEOUT closes it after 2 s)."""
    async with Connection.open(tight_ternd.data, keepalive=False, reconnect=False) as conn:
        assert conn.welcome is not None and conn.welcome.ping_interval_ms == 1000
        await asyncio.sleep(3.5)
        assert conn.state is ConnectionState.CONNECTED
        await conn.ping(timeout=5)


async def test_keepalive_keeps_an_idle_connection(tight_ternd: Ternd) -> None:
    async with Connection.open(tight_ternd.data, reconnect=False) as conn:
        await asyncio.sleep(2.5)
        assert conn.state is ConnectionState.CONNECTED


async def test_slow_consumer_gets_dropped_with_the_exact_count(tight_ternd: Ternd) -> None:
    """A subscriber that stops reading (its pending limit pauses the socket) loses messages and is
    told exactly how many: each DROPPED count equals the sequence gap it explains."""
    name = tight_ternd.create_stream()
    total = 8192
    payload = json.dumps({"pad": "x" * 900}).encode()
    async with (
        Connection.open(tight_ternd.unix_socket, max_pending=16, shared_memory=False) as slow,
        Connection.open(tight_ternd.data) as publisher_conn,
    ):
        sub = await slow.subscribe(name)
        publisher = await publisher_conn.attach(name)
        for _ in range(total // 64):
            for _ in range(63):
                await publisher.publish(payload, ack=False)
            await publisher.publish(payload, ack=True)  # paced, so the ring is never lapped

        received = 0
        dropped = 0
        last = 0
        gaps_explained = True
        pending_drop = 0
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 20
        while received + dropped < total and loop.time() < deadline:
            event = await sub.next(10)
            if isinstance(event, Dropped):
                assert event.reason == 1
                assert event.stream_sid == sub.stream_sid
                dropped += event.count
                pending_drop += event.count
            elif isinstance(event, Message):
                if event.sequence - last - 1 != pending_drop:
                    gaps_explained = False
                pending_drop = 0
                last = event.sequence
                received += 1
        assert received + dropped == total
        assert dropped > 0
        assert gaps_explained
        assert last == total or pending_drop == total - last


async def test_expired_stream_ends_with_reason_expired(ternd: Ternd) -> None:
    name = ternd.create_stream(ttl=1)
    async with Connection.open(ternd.data) as conn:
        sub = await conn.subscribe(name)
        with pytest.raises(StreamEnded) as ended:
            await sub.next(10)
        assert ended.value.reason == EndReason.EXPIRED


async def test_sigterm_without_reconnect_ends_with_reason_shutdown(fresh_ternd: Ternd) -> None:
    name = fresh_ternd.create_stream()
    async with Connection.open(fresh_ternd.data, reconnect=False) as conn:
        sub = await conn.subscribe(name)
        fresh_ternd.stop()
        with pytest.raises(StreamEnded) as ended:
            await sub.next(10)
        assert ended.value.reason == EndReason.SHUTDOWN


async def test_service_qualified_name_and_sid(ternd: Ternd) -> None:
    name = ternd.create_stream()
    async with Connection.open(ternd.data) as conn:
        by_name = await conn.attach(f"{ternd.service}/{name}")
        by_sid = await conn.subscribe(by_name.stream_sid)
        assert by_sid.stream_id == by_name.stream_id
        result = await by_name.publish({"q": 1})
        event = await by_sid.next(5)
        assert isinstance(event, Message) and result is not None and event.sid == result.sid


async def test_attaching_a_subscribed_stream_keeps_it_receiving(ternd: Ternd) -> None:
    name = ternd.create_stream()
    async with Connection.open(ternd.data) as conn:
        sub = await conn.subscribe(name)
        assert await conn.attach(sub.stream_sid) is sub
        await conn.publish(sub.stream_sid, {"still": "receiving"})
        event = await sub.next(5)
        assert isinstance(event, Message) and event.json() == {"still": "receiving"}


async def test_next_batch_takes_everything_received(ternd: Ternd) -> None:
    name = ternd.create_stream()
    async with Connection.open(ternd.data) as conn:
        sub = await conn.subscribe(name)
        for index in range(20):
            await conn.publish(name, {"i": index}, ack=index == 19)
        taken: List[Event] = []
        while len(taken) < 20:
            taken += await sub.next_batch(max_events=8, timeout=5)
        assert [e.sequence for e in taken if isinstance(e, Message)] == list(range(1, 21))


async def test_attached_stream_deleted_ends_the_attachment(ternd: Ternd) -> None:
    name = ternd.create_stream()
    async with Connection.open(ternd.data) as conn:
        publisher = await conn.attach(name)
        ternd.delete_stream(name)
        with pytest.raises(StreamEnded) as ended:
            await publisher.next(5)
        assert ended.value.reason == EndReason.DELETED
        with pytest.raises(StreamEnded):
            await publisher.publish({"late": True})
