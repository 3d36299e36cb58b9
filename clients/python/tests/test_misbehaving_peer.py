"""What ternd never does, played by a scripted peer on 127.0.0.1: frames that break protocol.md,
vanishing mid-frame, silence. The peer speaks real bytes over a real socket (no mocks in the
client); each scenario is bounded by the client's own timeouts."""

from __future__ import annotations

import asyncio
from typing import Any, AsyncIterator, Awaitable, Callable, List, Set

import pytest

from tern_client import (
    ConnectError,
    Connection,
    ConnectionLostError,
    ConnectionState,
    ProtocolError,
    RequestTimeoutError,
    Resubscribed,
    TernError,
    connect,
)
from tern_client.codec import CLIENT_TO_SERVER, FrameParser, Message, Subscribe, Subscribed, Welcome

Script = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]
PREFIX = bytes(range(1, 9))


async def read_frame(reader: asyncio.StreamReader, parser: FrameParser) -> object:
    while True:
        data = await asyncio.wait_for(reader.read(4096), 5)
        if not data:
            raise EOFError
        frames = parser.feed(data)
        if frames:
            return frames[0]


async def handshake_and_subscribe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    parser = FrameParser(accept=CLIENT_TO_SERVER)
    await read_frame(reader, parser)  # HELLO
    writer.write(Welcome(1, 4096, 8192, 16, 0, "peer/0").encode())
    subscribe = await read_frame(reader, parser)
    assert isinstance(subscribe, Subscribe)
    writer.write(Subscribed(subscribe.request_id, 9, PREFIX, 1, "TO" + "0" * 32, "s").encode())
    await writer.drain()


class Peer:
    def __init__(self, script: Script, handlers: Set[asyncio.Task[Any]]) -> None:
        self.script = script
        self.handlers = handlers

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        if task is not None:
            self.handlers.add(task)
        try:
            await self.script(reader, writer)
        except (EOFError, ConnectionError, asyncio.TimeoutError, asyncio.CancelledError):
            pass
        finally:
            writer.close()


@pytest.fixture
async def peer_factory() -> AsyncIterator[Callable[[Script], Awaitable[str]]]:
    servers = []
    handlers: Set[asyncio.Task[Any]] = set()

    async def start(script: Script) -> str:
        peer = Peer(script, handlers)
        server = await asyncio.start_server(peer.handle, "127.0.0.1", 0)
        servers.append(server)
        port = server.sockets[0].getsockname()[1]
        return f"127.0.0.1:{port}"

    yield start
    for server in servers:
        server.close()
        await server.wait_closed()
    for task in handlers:
        task.cancel()
    await asyncio.gather(*handlers, return_exceptions=True)


async def test_a_client_to_server_frame_is_a_protocol_error(peer_factory: Callable[[Script], Awaitable[str]]) -> None:
    async def script(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await handshake_and_subscribe(reader, writer)
        writer.write(Subscribe(1, "backwards").encode())
        await writer.drain()
        await asyncio.sleep(2)

    address = await peer_factory(script)
    async with Connection.open(address, reconnect=False) as conn:
        sub = await conn.subscribe("s")
        with pytest.raises(ProtocolError) as raised:
            await sub.next(5)
        assert raised.value.frame == "SUBSCRIBE" and raised.value.code == 5
        assert conn.state is ConnectionState.CLOSED


async def test_reserved_bits_are_a_protocol_error(peer_factory: Callable[[Script], Awaitable[str]]) -> None:
    async def script(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await handshake_and_subscribe(reader, writer)
        frame = bytearray(Message(9, 1, b"{}").encode())
        frame[7] = 1
        writer.write(bytes(frame))
        await writer.drain()
        await asyncio.sleep(2)

    address = await peer_factory(script)
    async with Connection.open(address, reconnect=False) as conn:
        sub = await conn.subscribe("s")
        with pytest.raises(ProtocolError) as raised:
            await sub.next(5)
        assert raised.value.frame == "MESSAGE" and raised.value.code == 1


async def test_server_vanishing_mid_frame_is_a_connection_error(
    peer_factory: Callable[[Script], Awaitable[str]],
) -> None:
    async def script(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await handshake_and_subscribe(reader, writer)
        whole = Message(9, 1, b'{"a":1}').encode() + Message(9, 2, b'{"a":2}').encode()
        writer.write(whole[:-3])
        await writer.drain()

    address = await peer_factory(script)
    async with Connection.open(address, reconnect=False) as conn:
        sub = await conn.subscribe("s")
        first = await sub.next(5)
        assert isinstance(first, Message) and first.json() == {"a": 1}
        with pytest.raises(ConnectionLostError) as raised:
            await sub.next(5)
        assert "middle of a frame" in str(raised.value)


async def test_unanswered_request_times_out(peer_factory: Callable[[Script], Awaitable[str]]) -> None:
    async def script(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        parser = FrameParser(accept=CLIENT_TO_SERVER)
        await read_frame(reader, parser)
        writer.write(Welcome(1, 4096, 8192, 16, 0, "peer/0").encode())
        await writer.drain()
        await asyncio.sleep(3)

    address = await peer_factory(script)
    async with Connection.open(address, reconnect=False, request_timeout=0.3) as conn:
        with pytest.raises(RequestTimeoutError):
            await conn.subscribe("s")
        with pytest.raises(RequestTimeoutError):
            await conn.ping()


async def test_no_welcome_is_a_connect_error(peer_factory: Callable[[Script], Awaitable[str]]) -> None:
    async def script(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await asyncio.sleep(3)

    address = await peer_factory(script)
    with pytest.raises(ConnectError) as raised:
        await connect(address, connect_timeout=0.3)
    assert "WELCOME" in str(raised.value)


async def test_with_reconnect_a_protocol_error_is_reported_and_the_client_reconnects(
    peer_factory: Callable[[Script], Awaitable[str]],
) -> None:
    connections = 0

    async def script(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal connections
        connections += 1
        await handshake_and_subscribe(reader, writer)
        if connections == 1:
            writer.write(bytes.fromhex("00000000 7f 00 0000".replace(" ", "")))  # undefined type
            await writer.drain()
        await asyncio.sleep(3)

    address = await peer_factory(script)
    errors: List[TernError] = []
    states: List[ConnectionState] = []
    async with Connection.open(
        address, reconnect_wait=0.05, on_error=errors.append, on_state_change=lambda s, e: states.append(s)
    ) as conn:
        sub = await conn.subscribe("s")
        event = await sub.next(5)
        assert isinstance(event, Resubscribed) and not event.server_restarted
        assert isinstance(errors[0], ProtocolError) and errors[0].code == 3
        assert "type 0x7f" in str(errors[0])
        await conn.wait_connected(5)
        assert states[-2:] == [ConnectionState.RECONNECTING, ConnectionState.CONNECTED]
        assert connections == 2
