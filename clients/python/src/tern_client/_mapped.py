"""Shared-memory subscriptions for :class:`~tern_client.Connection` (protocol version 3 on the Unix
socket, protocol.md §4.16-4.19): SUBSCRIBE_SHARED, the ring's descriptor taken off the socket with
``recvmsg``, and a :class:`~tern_client.shared_ring.RingFollower` thread that hands the ring's
messages to the subscription on the event loop.

asyncio's transports read with ``recv``, which makes the kernel close passed descriptors; so while
a SUBSCRIBE_SHARED is answered the transport is paused and the socket read here with
``recvmsg`` instead, every byte still going through the session's parser in order.
"""

from __future__ import annotations

import asyncio
import os
import socket
from collections import deque
from typing import TYPE_CHECKING, Callable, Deque, List, Optional

from .codec import Dropped, DropReason, Frame, Message, RingLoss, RingMapped, Subscribed, SubscribeShared
from .exceptions import ConnectionLostError, StreamEnded
from .shared_ring import RingEvent, RingFollower, SharedRing

if TYPE_CHECKING:
    from ._requests import Requests
    from ._session import Session
    from .subscription import Subscription

__all__ = ["MappedStream", "send_subscribe_shared"]

#: SHARED_MEMORY_UNAVAILABLE: the server (or this transport) cannot map rings.
SHARED_MEMORY_UNAVAILABLE = 120


class MappedStream:
    """A subscription's mapped ring and the thread following it."""

    def __init__(self, conn: Requests, session: Session, sub: Subscription, ring: SharedRing, spin: bool) -> None:
        self._conn = conn
        self._session = session
        self._sub = sub
        self._loop = session.loop
        self.end_reason = 0
        self.follower = RingFollower(ring, self._from_thread, spin)
        self.follower.backlogged = lambda: len(sub._events) > conn.max_pending

    def start(self) -> None:
        self.follower.start()

    def _from_thread(self, events: Optional[List[RingEvent]]) -> None:
        try:
            self._loop.call_soon_threadsafe(self._deliver, events)
        except RuntimeError:  # the loop is closed: nobody is listening any more
            self.follower.stop()

    def _deliver(self, events: Optional[List[RingEvent]]) -> None:
        sub = self._sub
        if events is None:
            # STREAM_ENDED came over the socket and the ring is drained: end as a socket stream does.
            self._conn._forget(sub)
            sub._finish(StreamEnded(sub.info.stream_sid, self.end_reason))
            return
        if not sub.active:
            return
        info = sub.info
        for event in events:
            if isinstance(event, Message):
                event.stream = info
                sub.last_sequence = event.sequence
                sub._events.append(event)
            else:
                sub._count_lost(event)
                sub._events.append(Dropped(info.stream_id, event, DropReason.RING_LAPPED, info))
                if not self._session.closed.done():
                    self._session.write(RingLoss(0, info.stream_id, event).encode())
        sub._wake()

    def ended(self, reason: int) -> None:
        """STREAM_ENDED arrived: deliver what the ring still holds, then end."""
        self.end_reason = reason
        self.follower.finish()

    def stop(self) -> None:
        self.follower.stop()


async def send_subscribe_shared(
    conn: Requests,
    session: Session,
    stream: str,
    timeout: float,
    register: Callable[[Subscribed], None],
    spin: bool,
) -> Subscribed:
    """SUBSCRIBE_SHARED: SUBSCRIBED (``register`` runs as it is parsed), then RING_MAPPED with the
    descriptor; the subscription starts following the ring before any later frame is handled.
    Raises the server's error (``SHARED_MEMORY_UNAVAILABLE`` among them) like a SUBSCRIBE."""
    loop = session.loop
    transport = session.transport
    assert transport is not None
    request_id = conn._next_request_id()
    descriptors: Deque[int] = deque()
    mapped_future: Optional[asyncio.Future[Frame]] = None

    def on_mapped(mapped: RingMapped) -> None:
        sub = conn._routes.get(mapped.stream_id)
        if not descriptors:
            session.abort(ConnectionLostError("RING_MAPPED arrived without a descriptor"))
            return
        fd = descriptors.popleft()
        if sub is None:
            os.close(fd)
            return
        ring = SharedRing(
            fd, mapped.stream_id, mapped.header_bytes, mapped.ring_bytes, mapped.start_position, sub.next_sequence
        )
        mapping = MappedStream(conn, session, sub, ring, spin)
        sub._mapped = mapping
        mapping.start()

    def on_subscribed(subscribed: Subscribed) -> None:
        nonlocal mapped_future
        register(subscribed)
        mapped_future = session.expect(request_id, RingMapped, on_mapped)

    subscribed_future = session.expect(request_id, Subscribed, on_subscribed)
    raw = socket.socket(fileno=os.dup(transport.get_extra_info("socket").fileno()))
    raw.setblocking(False)
    was_paused = session.reading_paused
    session.pause_reading(True)

    def readable() -> None:
        try:
            data, fds, _flags, _address = socket.recv_fds(raw, 1 << 18, 4)
        except (BlockingIOError, InterruptedError):
            return
        except OSError as error:
            session.abort(ConnectionLostError(f"recvmsg: {error}"))
            return
        descriptors.extend(fds)
        if not data:
            session.abort(ConnectionLostError("the server closed the connection"))
            return
        session.data_received(data)

    loop.add_reader(raw.fileno(), readable)
    try:
        session.write(SubscribeShared(request_id, stream).encode())
        session.flush()
        subscribed = await conn._wait(session, request_id, subscribed_future, timeout, "SUBSCRIBE_SHARED")
        assert isinstance(subscribed, Subscribed)
        # on_subscribed ran as SUBSCRIBED was parsed, before the future above was resolved.
        assert mapped_future is not None
        await conn._wait(session, request_id, mapped_future, timeout, "SUBSCRIBE_SHARED")
        return subscribed
    finally:
        loop.remove_reader(raw.fileno())
        raw.close()
        for fd in descriptors:
            os.close(fd)
        if not was_paused and not conn._holding:
            session.pause_reading(False)
