"""One socket to ternd: frames in and out, the handshake, and answers matched to requests.

A session lives as long as its socket. :class:`~tern_client.Connection` makes a new one on every
(re)connect and hands the frames that are not answers (MESSAGE, DROPPED, STREAM_ENDED, stray
ERRORs) to its ``on_frames`` callback.
"""

from __future__ import annotations

import asyncio
from typing import Any, Callable, Dict, List, Optional, Set, Tuple, Type

from .codec import (
    ErrorFrame,
    Frame,
    FrameParser,
    Message,
    Ping,
    Pong,
    Published,
    RingMapped,
    Subscribed,
    TokenRefreshed,
    Unsubscribe,
    Unsubscribed,
    Welcome,
    frame_name,
)
from .exceptions import (
    ConnectionLostError,
    FatalServerError,
    ProtocolError,
    TernError,
    server_error,
)

_ANSWER_TYPES = (Subscribed, Unsubscribed, Published, TokenRefreshed, RingMapped)
#: Queued output that is sent at once instead of at the end of the event loop's turn.
_CORK_BYTES = 64 << 10

#: Called with an answer frame as soon as it is parsed.
AnswerHook = Callable[[Any], None]


class Session(asyncio.Protocol):
    def __init__(self, on_frames: Callable[[Session, List[Frame]], None]) -> None:
        self._on_frames = on_frames
        self.parser = FrameParser()
        self.transport: Optional[asyncio.Transport] = None
        loop = asyncio.get_running_loop()
        self.loop = loop
        self.welcome: asyncio.Future[Welcome] = loop.create_future()
        #: Resolved with the error that ended the session (never with an exception set).
        self.closed: asyncio.Future[BaseException] = loop.create_future()
        #: Resolved when the transport is gone (connection_lost ran).
        self.lost: asyncio.Future[None] = loop.create_future()
        self.pending: Dict[int, Tuple[asyncio.Future[Frame], Type[Frame], Optional[AnswerHook]]] = {}
        #: Requests whose caller gave up waiting; their late answers are tolerated.
        self.abandoned: Set[int] = set()
        self.pings: Dict[int, asyncio.Future[None]] = {}
        self._write_paused = False
        self._drain_waiters: List[asyncio.Future[None]] = []
        self.reading_paused = False
        self.last_write = loop.time()
        self._out: List[bytes] = []
        self._out_bytes = 0
        self._flush_scheduled = False
        #: Called with errors that answer no waiting request (an unacknowledged publish's ERROR).
        self.on_stray_error: Callable[[TernError], None] = lambda error: None

    # ---- asyncio.Protocol ----------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        if self.closed.done():
            return
        try:
            frames = self.parser.feed(data)
        except ProtocolError as error:
            self.abort(error)
            return
        if self.welcome.done():
            self._dispatch(frames)
        else:
            self._handshake(frames)
        if self.parser.error is not None:
            self.abort(self.parser.error)

    def eof_received(self) -> Optional[bool]:
        return False

    def connection_lost(self, exc: Optional[Exception]) -> None:
        buffered = self.parser.buffered
        if buffered:
            error = ConnectionLostError(f"the server closed the connection in the middle of a frame ({buffered} bytes)")
        elif exc is not None:
            error = ConnectionLostError(f"connection lost: {exc}")
        else:
            error = ConnectionLostError("the server closed the connection")
        self._finish(error)
        if not self.lost.done():
            self.lost.set_result(None)
        for waiter in self._drain_waiters:
            if not waiter.done():
                waiter.set_result(None)

    def pause_writing(self) -> None:
        self._write_paused = True

    def resume_writing(self) -> None:
        self._write_paused = False
        waiters, self._drain_waiters = self._drain_waiters, []
        for waiter in waiters:
            if not waiter.done():
                waiter.set_result(None)

    # ---- sending -------------------------------------------------------------------------------

    def write(self, data: bytes) -> None:
        """Queues ``data``; queued frames leave in one ``send`` at the end of this turn of the event
        loop, or at once when :data:`_CORK_BYTES` are waiting (a burst of publishes costs one
        system call per 64 KiB, not one per frame)."""
        if self.closed.done() or self.transport is None:
            raise self.closed.result() if self.closed.done() else ConnectionLostError("not connected")
        self._out.append(data)
        self._out_bytes += len(data)
        if self._out_bytes >= _CORK_BYTES:
            self.flush()
        elif not self._flush_scheduled:
            self._flush_scheduled = True
            self.loop.call_soon(self.flush)

    def flush(self) -> None:
        """Hands the queued frames to the transport now."""
        self._flush_scheduled = False
        if not self._out:
            return
        data = self._out[0] if len(self._out) == 1 else b"".join(self._out)
        self._out.clear()
        self._out_bytes = 0
        if self.transport is not None and not self.closed.done():
            self.transport.write(data)
            self.last_write = self.loop.time()

    @property
    def write_paused(self) -> bool:
        return self._write_paused

    async def drain(self) -> None:
        """Waits until the socket's send buffer is below its high-water mark."""
        if not self._write_paused or self.closed.done():
            return
        waiter = self.loop.create_future()
        self._drain_waiters.append(waiter)
        await waiter
        if self.closed.done():
            raise self.closed.result()

    def expect(
        self, request_id: int, answer: Type[Frame], on_answer: Optional[AnswerHook] = None
    ) -> asyncio.Future[Frame]:
        """A future for the answer to ``request_id``; ``on_answer`` runs as soon as the answer is
        parsed, before any frame behind it is dispatched."""
        future: asyncio.Future[Frame] = self.loop.create_future()
        if self.closed.done():
            future.set_exception(self.closed.result())
        else:
            self.pending[request_id] = (future, answer, on_answer)
        return future

    def give_up(self, request_id: int) -> None:
        if self.pending.pop(request_id, None) is not None:
            self.abandoned.add(request_id)

    def pause_reading(self, paused: bool) -> None:
        if self.transport is None or self.closed.done() or paused == self.reading_paused:
            return
        self.reading_paused = paused
        if paused:
            self.transport.pause_reading()
        else:
            self.transport.resume_reading()

    def abort(self, error: BaseException) -> None:
        """Ends the session now with ``error`` (what every waiter and the owner will see)."""
        self._finish(error)
        if self.transport is not None:
            self.transport.abort()

    async def wait_lost(self, timeout: float) -> None:
        """Waits (at most ``timeout`` seconds, then aborts) until the transport is gone."""
        if self.transport is None:
            return
        try:
            await asyncio.wait_for(asyncio.shield(self.lost), timeout)
        except asyncio.TimeoutError:
            self.transport.abort()

    def close(self) -> None:
        """Closes after the buffered output is sent."""
        self.flush()
        self._finish(ConnectionLostError("closed by the client"))
        if self.transport is not None:
            self.transport.close()

    # ---- receiving -----------------------------------------------------------------------------

    def _handshake(self, frames: List[Frame]) -> None:
        first = frames[0] if frames else None
        if first is None:
            return
        if isinstance(first, Welcome):
            self.parser.max_frame_body = max(first.max_frame_body, first.max_payload + 64)
            self.welcome.set_result(first)
            if len(frames) > 1:
                self._dispatch(frames[1:])
            return
        error: TernError
        if isinstance(first, ErrorFrame):
            error = server_error(first.code, first.message, request_id=first.request_id, fatal=True)
        else:
            error = ProtocolError("arrived before WELCOME", code=5, frame=frame_name(_type_of(first)))
        self.abort(error)

    def _dispatch(self, frames: List[Frame]) -> None:
        events: List[Frame] = []
        append = events.append
        for frame in frames:
            kind = type(frame)
            if kind is Message:
                append(frame)
                continue
            if kind in _ANSWER_TYPES:
                self._answer(frame.request_id, frame)  # type: ignore[union-attr]
            elif kind is Ping:
                self.write(Pong(frame.opaque).encode())  # type: ignore[union-attr]
            elif kind is Pong:
                waiter = self.pings.pop(frame.opaque, None)  # type: ignore[union-attr]
                if waiter is not None and not waiter.done():
                    waiter.set_result(None)
            elif kind is ErrorFrame:
                assert isinstance(frame, ErrorFrame)
                error = server_error(frame.code, frame.message, request_id=frame.request_id, fatal=frame.fatal)
                if isinstance(error, FatalServerError):
                    self._deliver(events)
                    events = []
                    self.abort(error)
                    return
                if not self._answer(frame.request_id, error):
                    self.on_stray_error(error)
            elif kind is Welcome:
                self._deliver(events)
                self.abort(ProtocolError("a second WELCOME", code=5, frame="WELCOME"))
                return
            else:
                events.append(frame)
            if self.closed.done():
                return
        self._deliver(events)

    def _deliver(self, events: List[Frame]) -> None:
        if events:
            self._on_frames(self, events)

    def _answer(self, request_id: int, answer: object) -> bool:
        """Resolves the request ``request_id``; False if no request waits for it."""
        entry = self.pending.pop(request_id, None)
        if entry is None:
            if request_id in self.abandoned:
                self.abandoned.discard(request_id)
                if isinstance(answer, Subscribed):
                    # The caller gave up; leave the stream rather than receive it unasked.
                    self.write(Unsubscribe(0, answer.stream_id).encode())
                return True
            if isinstance(answer, BaseException):
                return False
            name = frame_name(_type_of(answer))
            self.abort(ProtocolError(f"request_id {request_id} answers no pending request", code=5, frame=name))
            return True
        future, expected, on_answer = entry
        if isinstance(answer, BaseException):
            if not future.done():
                future.set_exception(answer)
        elif isinstance(answer, expected):
            if on_answer is not None:
                on_answer(answer)
            if not future.done():
                future.set_result(answer)
        else:
            error = ProtocolError(
                f"request_id {request_id} expected {expected.__name__}", code=5, frame=frame_name(_type_of(answer))
            )
            self.abort(error)
        return True

    def _finish(self, error: BaseException) -> None:
        if self.closed.done():
            return
        self.closed.set_result(error)
        if not self.welcome.done():
            self.welcome.set_exception(error)
            self.welcome.exception()  # mark retrieved: the opener may have timed out already
        for future, _, _ in self.pending.values():
            if not future.done():
                future.set_exception(error)
        self.pending.clear()
        for waiter in self.pings.values():
            if not waiter.done():
                waiter.set_exception(error)
        self.pings.clear()


def _type_of(frame: object) -> int:
    return int(getattr(frame, "TYPE", 0))
