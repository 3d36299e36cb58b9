"""A blocking wrapper for scripts: the async core runs on a private event-loop thread.

::

    from tern_client.sync import Connection

    with Connection.open("127.0.0.1:7400") as conn:
        print(conn.publish("prices", {"px": 1}).sid)
        sub = conn.subscribe("prices")
        for event in sub:          # Message, Dropped or Resubscribed; StreamEnded at the end
            print(event)

Every call hands a coroutine of :class:`tern_client.Connection` to the loop thread and waits for
it; nothing is implemented twice. Callbacks (``on_state_change``, ``on_error``) run on the loop
thread, so they must not call back into this wrapper synchronously.
"""

from __future__ import annotations

import asyncio
import threading
from typing import Any, Awaitable, Dict, Iterator, Optional, TypeVar

from . import connection as _async
from . import subscription as _async_sub
from .exceptions import ConnectionClosedError
from .models import ConnectionState, Event, PublishResult, StreamInfo
from .subscription import Payload, SubscriptionLane

__all__ = ["Connection", "Subscription", "connect"]

T = TypeVar("T")
_END = object()


class _LoopThread:
    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._run, name="tern-client-loop", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        self.loop.run_forever()

    def run(self, coroutine: Awaitable[T], timeout: Optional[float] = None) -> T:
        if not self.loop.is_running() and self.loop.is_closed():
            raise ConnectionClosedError("the connection's event loop is stopped")

        async def wrapped() -> T:
            return await coroutine

        future = asyncio.run_coroutine_threadsafe(wrapped(), self.loop)
        try:
            return future.result(timeout)
        except BaseException:
            future.cancel()
            raise

    def stop(self) -> None:
        if self.loop.is_closed():
            return
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(timeout=5)
        if not self._thread.is_alive():
            self.loop.close()


class Subscription:
    """Blocking view of :class:`tern_client.Subscription`; iterate it for events."""

    def __init__(self, runner: _LoopThread, inner: _async_sub.Subscription) -> None:
        self._runner = runner
        self._inner = inner

    @property
    def info(self) -> StreamInfo:
        return self._inner.info

    @property
    def stream_sid(self) -> str:
        return self._inner.stream_sid

    @property
    def last_sequence(self) -> int:
        return self._inner.last_sequence

    @property
    def next_sequence(self) -> int:
        return self._inner.next_sequence

    @property
    def lanes(self) -> Dict[int, SubscriptionLane]:
        """Cluster lanes by lane id (see :attr:`tern_client.Subscription.lanes`): a copy taken on
        the connection's thread, which changes them."""

        async def copy() -> Dict[int, SubscriptionLane]:
            return dict(self._inner.lanes)

        return self._runner.run(copy())

    def __iter__(self) -> Iterator[Event]:
        return self

    def __next__(self) -> Event:
        event = self.next()
        if event is None:
            raise StopIteration
        return event

    def next(self, timeout: Optional[float] = None) -> Optional[Event]:
        """The next event; None at a clean end; RequestTimeoutError after ``timeout`` seconds."""

        async def take() -> Any:
            try:
                return await self._inner.next(timeout)
            except StopAsyncIteration:
                return _END

        event = self._runner.run(take())
        return None if event is _END else event

    def publish(self, data: Payload, *, ack: bool = True, timeout: Optional[float] = None) -> Optional[PublishResult]:
        return self._runner.run(self._inner.publish(data, ack=ack, timeout=timeout))

    def unsubscribe(self, timeout: Optional[float] = None) -> None:
        self._runner.run(self._inner.unsubscribe(timeout))


class Connection:
    """Blocking view of :class:`tern_client.Connection` (same arguments); connects on creation."""

    def __init__(self, address: str = _async.DEFAULT_ADDRESS, **options: Any) -> None:
        self._runner = _LoopThread()
        try:
            self._inner: _async.Connection = self._runner.run(_async.connect(address, **options))
        except BaseException:
            self._runner.stop()
            raise

    @classmethod
    def open(cls, address: str = _async.DEFAULT_ADDRESS, **options: Any) -> Connection:
        return cls(address, **options)

    def __enter__(self) -> Connection:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    @property
    def state(self) -> ConnectionState:
        return self._inner.state

    @property
    def inner(self) -> _async.Connection:
        """The async connection underneath (use it only from its loop thread)."""
        return self._inner

    def subscribe(self, stream: str, *, after: Optional[str] = None, timeout: Optional[float] = None) -> Subscription:
        return Subscription(self._runner, self._runner.run(self._inner.subscribe(stream, after=after, timeout=timeout)))

    def attach(self, stream: str, *, timeout: Optional[float] = None) -> Subscription:
        return Subscription(self._runner, self._runner.run(self._inner.attach(stream, timeout=timeout)))

    def publish(
        self, stream: str, data: Payload, *, ack: bool = True, timeout: Optional[float] = None
    ) -> Optional[PublishResult]:
        return self._runner.run(self._inner.publish(stream, data, ack=ack, timeout=timeout))

    def ping(self, timeout: Optional[float] = None) -> float:
        return self._runner.run(self._inner.ping(timeout))

    def refresh_token(self, token: str, *, timeout: Optional[float] = None) -> int:
        """Replaces the Access Token (REFRESH_TOKEN); returns its ``exp``. ``on_token_expiring``
        runs on the connection's own thread: call this from another one."""
        return self._runner.run(self._inner.refresh_token(token, timeout=timeout))

    def wait_connected(self, timeout: Optional[float] = None) -> None:
        self._runner.run(self._inner.wait_connected(timeout))

    def close(self) -> None:
        if self._runner.loop.is_closed():
            return
        try:
            self._runner.run(self._inner.close(), timeout=10)
        finally:
            self._runner.stop()


def connect(address: str = _async.DEFAULT_ADDRESS, **options: Any) -> Connection:
    return Connection(address, **options)
