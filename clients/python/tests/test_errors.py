"""Server ERROR codes mapped to exceptions, limits enforced locally, auth, and timeouts."""

from __future__ import annotations

import asyncio
from typing import List

import pytest

from conftest import Ternd
from tern_client import (
    AlreadySubscribedError,
    AuthFailedError,
    ConnectError,
    Connection,
    ConnectionState,
    FatalServerError,
    InvalidPayloadError,
    InvalidStreamNameError,
    Message,
    NotSubscribedError,
    PayloadTooLargeError,
    RateLimitedError,
    RequestError,
    ServerError,
    StreamNotFoundError,
    TernError,
    TooManySubscriptionsError,
    connect,
)
from tern_client.exceptions import server_error


async def test_unknown_stream_is_stream_not_found(ternd: Ternd) -> None:
    async with Connection.open(ternd.data) as conn:
        with pytest.raises(StreamNotFoundError) as raised:
            await conn.subscribe("no-such-stream")
        assert raised.value.code == 100
        assert raised.value.request_id != 0
        assert not raised.value.fatal and not raised.value.local
        assert "STREAM_NOT_FOUND (100)" in str(raised.value)
        # A request-level error leaves the connection usable.
        await conn.ping(timeout=5)


async def test_bad_json_is_invalid_payload(ternd: Ternd) -> None:
    name = ternd.create_stream()
    async with Connection.open(ternd.data) as conn:
        with pytest.raises(InvalidPayloadError) as raised:
            await conn.publish(name, '{"unterminated":')
        assert raised.value.code == 105
        with pytest.raises(InvalidPayloadError):
            await conn.publish(name, "[1, 2]")
        assert (await conn.publish(name, "{}")) is not None


async def test_unacknowledged_publish_error_goes_to_on_error(ternd: Ternd) -> None:
    name = ternd.create_stream()
    errors: List[TernError] = []
    async with Connection.open(ternd.data, on_error=errors.append) as conn:
        await conn.publish(name, "not json", ack=False)
        await conn.ping(timeout=5)  # answers come in order: the ERROR arrived before the PONG
        assert len(errors) == 1
        assert isinstance(errors[0], InvalidPayloadError)


async def test_already_subscribed(ternd: Ternd) -> None:
    name = ternd.create_stream()
    async with Connection.open(ternd.data) as conn:
        await conn.subscribe(name)
        with pytest.raises(AlreadySubscribedError) as raised:
            await conn.subscribe(name)
        assert raised.value.code == 102


async def test_invalid_stream_names_are_refused_locally(ternd: Ternd) -> None:
    async with Connection.open(ternd.data) as conn:
        for bad in ("", "x" * 321):
            with pytest.raises(InvalidStreamNameError) as raised:
                await conn.subscribe(bad)
            assert raised.value.local and raised.value.code == 106


async def test_oversize_payload_is_refused_before_sending(tight_ternd: Ternd) -> None:
    name = tight_ternd.create_stream()
    async with Connection.open(tight_ternd.data) as conn:
        sub = await conn.subscribe(name)
        big = '{"pad":"' + "x" * 1100 + '"}'
        with pytest.raises(PayloadTooLargeError) as raised:
            await conn.publish(name, big)
        assert raised.value.local
        assert raised.value.code == 104
        assert "1024" in str(raised.value)
        with pytest.raises(PayloadTooLargeError):
            await conn.publish(name, big, ack=False)
        # Nothing was sent: the next message is sequence 1.
        result = await conn.publish(name, {"ok": True})
        assert result is not None and result.sequence == 1
        event = await sub.next(5)
        assert isinstance(event, Message) and event.sequence == 1


async def test_too_many_subscriptions_is_refused_locally(tight_ternd: Ternd) -> None:
    names = [tight_ternd.create_stream() for _ in range(3)]
    async with Connection.open(tight_ternd.data) as conn:
        await conn.subscribe(names[0])
        await conn.attach(names[1])
        with pytest.raises(TooManySubscriptionsError) as raised:
            await conn.subscribe(names[2])
        assert raised.value.local and "2" in str(raised.value)


async def test_auth_token_in_hello(auth_ternd: Ternd) -> None:
    name = auth_ternd.create_stream()
    async with Connection.open(auth_ternd.data, token=auth_ternd.token) as conn:
        sub = await conn.subscribe(name)
        await conn.publish(name, {"authed": True})
        event = await sub.next(5)
        assert isinstance(event, Message) and event.json() == {"authed": True}


@pytest.mark.parametrize("token", ["", "wrong-token"])
async def test_wrong_or_missing_token_is_auth_failed(auth_ternd: Ternd, token: str) -> None:
    states: List[ConnectionState] = []
    with pytest.raises(AuthFailedError) as raised:
        await connect(auth_ternd.data, token=token, on_state_change=lambda s, e: states.append(s))
    assert raised.value.code == 10
    assert raised.value.fatal
    assert isinstance(raised.value, FatalServerError)
    assert states == [ConnectionState.CONNECTING, ConnectionState.CLOSED]


async def test_nothing_listening_is_connect_error(tmp_path: object) -> None:
    with pytest.raises(ConnectError):
        await connect("127.0.0.1:1", connect_timeout=2)
    with pytest.raises(ConnectError):
        await connect(f"{tmp_path}/absent.sock", connect_timeout=2)


def test_error_codes_map_to_precise_classes() -> None:
    assert type(server_error(100, "x")) is StreamNotFoundError
    assert type(server_error(10, "x", fatal=True)) is AuthFailedError
    unknown = server_error(150, "new")
    assert type(unknown) is RequestError and unknown.code == 150 and "150" in str(unknown)
    fatal_unknown = server_error(150, "new", fatal=True)
    assert isinstance(fatal_unknown, FatalServerError)
    assert type(server_error(8, "idle", fatal=True)) is FatalServerError
    assert isinstance(server_error(107, "slow down"), ServerError)


async def test_request_timeout_is_a_timeout_error(ternd: Ternd) -> None:
    async with Connection.open(ternd.data) as conn:
        sub = await conn.subscribe(ternd.create_stream())
        with pytest.raises(TimeoutError):
            await sub.next(0.2)
        assert await asyncio.wait_for(conn.ping(), 5) >= 0


async def test_not_subscribed_after_unsubscribe(ternd: Ternd) -> None:
    name = ternd.create_stream()
    async with Connection.open(ternd.data) as conn:
        sub = await conn.subscribe(name)
        await sub.unsubscribe()
        # Bypass the local check (the subscription is closed) to see the server's answer.
        with pytest.raises(NotSubscribedError) as raised:
            await conn._publish(sub, b"{}", True, 5)
        assert raised.value.code == 101


async def test_rate_limited(rate_ternd: Ternd) -> None:
    name = rate_ternd.create_stream()
    async with Connection.open(rate_ternd.data) as conn:
        await conn.publish(name, {"n": 1})
        await conn.publish(name, {"n": 2})
        with pytest.raises(RateLimitedError) as raised:
            for index in range(3, 10):
                await conn.publish(name, {"n": index})
        assert raised.value.code == 107
