"""A subscription (or attachment) to one stream: an async iterator of events, and a publisher."""

from __future__ import annotations

import asyncio
from collections import deque
from typing import TYPE_CHECKING, Any, Deque, Dict, List, Optional, Tuple, Union

from .codec import Dropped
from .exceptions import ConnectionClosedError, RequestTimeoutError
from .models import Event, PublishResult, Resubscribed, StreamInfo

if TYPE_CHECKING:
    from ._mapped import MappedStream
    from ._requests import Requests

__all__ = ["Subscription", "SubscriptionLane"]

#: What ``publish`` accepts: the JSON object's bytes or text, or a dict to serialise.
Payload = Union[bytes, bytearray, memoryview, str, "dict[str, Any]"]


class Subscription:
    """One stream on one connection, made by :meth:`Connection.subscribe` or :meth:`Connection.attach`.

    Iterate it (``async for event in sub``) to receive, in order: :class:`~tern_client.Message`,
    :class:`~tern_client.Dropped` (``count`` messages lost, never silent) and, after a reconnect,
    :class:`~tern_client.Resubscribed` (with the possible gap). When the stream ends the iteration
    raises :class:`~tern_client.StreamEnded` with the reason, after every message delivered before
    it; it stops quietly after :meth:`unsubscribe` or :meth:`Connection.close`, and raises the
    connection's error if the connection is lost for good.

    ``last_sequence`` is the sequence of the newest message received; on reconnect the
    subscription resumes right after it (protocol version 2), and :attr:`last_sid` (the Twilio
    message sid of that message) can be stored to resume a later subscription with
    ``subscribe(name, after=sid)``.

    On a cluster node (protocol version 3, protocol.md §4.20) the messages published on other
    nodes arrive too, each node's in a lane of its own (:attr:`lanes`): their ``sid`` is the one
    their publisher got, their ``stream`` carries the lane's id and the publishing node's sid
    prefix, and their ``Dropped`` events carry the lane id. ``last_sequence``, ``last_sid`` and
    resume follow this node's own messages only (a resume restarts the other lanes where they are).
    """

    def __init__(self, connection: Requests, name: str, attach_only: bool, info: StreamInfo, next_sequence: int):
        self._connection = connection
        #: The stream as named to :meth:`Connection.subscribe` (resubscribed under this name).
        self.name = name
        self.attach_only = attach_only
        self.info = info
        #: The sequence of the first message this subscription could receive (from SUBSCRIBED).
        self.next_sequence = next_sequence
        self.last_sequence = 0
        # The newest sequence counted as lost (by a Dropped, or as a version-1 Resubscribed's
        # missed): a resume or resubscribe continues after it, so no loss is counted twice.
        self._lost_through = 0
        #: Set between a RESUME's SUBSCRIBED and its RESUMED: (sid prefix, sequence) resumed after.
        self._resume_from: Optional[Tuple[bytes, int]] = None
        self._events: Deque[Event] = deque()
        self._waiter: Optional[asyncio.Future[None]] = None
        self._end: Optional[BaseException] = None
        self._finished = False
        #: Set while this subscription's backlog keeps the connection from reading its socket.
        self._holding = False
        self._resume_level = 0
        #: The mapped ring this subscription reads (a shared-memory subscription), if any.
        self._mapped: Optional[MappedStream] = None
        #: Cluster lanes by lane id (from LANE frames of the current connection; empty on a single
        #: server). Forgotten when the subscription ends and on reconnect.
        self.lanes: Dict[int, SubscriptionLane] = {}

    @property
    def stream_sid(self) -> str:
        return self.info.stream_sid

    @property
    def stream_id(self) -> int:
        return self.info.stream_id

    @property
    def last_sid(self) -> str:
        """The Twilio message sid of the newest message received, empty before the first."""
        return self.info.message_sid(self.last_sequence) if self.last_sequence else ""

    @property
    def position(self) -> Tuple[bytes, int]:
        """The sid prefix and sequence a resume continues after (0: nothing seen yet)."""
        since = max(self.last_sequence, self._lost_through) or max(0, self.next_sequence - 1)
        return (self.info.sid_prefix, since)

    def _count_lost(self, count: int) -> None:
        """A Dropped of this stream's own (not a lane's): `count` messages after the position."""
        self._lost_through = self.position[1] + count

    @property
    def active(self) -> bool:
        return not self._finished

    def __repr__(self) -> str:
        mode = "attached" if self.attach_only else "subscribed"
        return f"<Subscription {self.name!r} {self.info.stream_sid} {mode} last_sequence={self.last_sequence}>"

    # ---- receiving -----------------------------------------------------------------------------

    def __aiter__(self) -> Subscription:
        return self

    async def __anext__(self) -> Event:
        events = self._events
        while not events:
            if self._finished:
                if self._end is not None:
                    raise self._end
                raise StopAsyncIteration
            waiter = self._waiter = asyncio.get_running_loop().create_future()
            try:
                await waiter
            finally:
                self._waiter = None
        event = events.popleft()
        if self._holding and len(events) <= self._resume_level:
            self._connection._release(self)
        return event

    async def next_batch(self, max_events: int = 1024, timeout: Optional[float] = None) -> List[Event]:
        """Every event already received (at most ``max_events``), waiting for the first one at most
        ``timeout`` seconds: the fast way to drain a busy stream. Raises like :meth:`next` at the end.
        """
        first = await self.next(timeout)
        events = self._events
        batch = [first]
        take = min(len(events), max_events - 1)
        if take > 0:
            popleft = events.popleft
            batch.extend([popleft() for _ in range(take)])
            if self._holding and len(events) <= self._resume_level:
                self._connection._release(self)
        return batch

    async def next(self, timeout: Optional[float] = None) -> Event:
        """The next event, waiting at most ``timeout`` seconds (RequestTimeoutError after that).

        Raises StopAsyncIteration at a clean end, like ``__anext__``.
        """
        if self._events or timeout is None or self._finished:
            return await self.__anext__()
        # One future and one timer, not a task per call (wait_for): this runs once per wake-up.
        loop = asyncio.get_running_loop()
        waiter = self._waiter = loop.create_future()
        timer = loop.call_later(timeout, _expire, waiter)
        try:
            await waiter
        finally:
            timer.cancel()
            self._waiter = None
        if not self._events and not self._finished:
            raise RequestTimeoutError(f"no event on {self.info.stream_sid} within {timeout} s")
        return await self.__anext__()

    def pending(self) -> int:
        """Events received and not yet taken."""
        return len(self._events)

    # ---- sending -------------------------------------------------------------------------------

    async def publish(
        self, data: Payload, *, ack: bool = True, timeout: Optional[float] = None
    ) -> Optional[PublishResult]:
        """Publishes ``data`` to this stream; with ``ack``, waits for PUBLISHED and returns it.

        Without ``ack`` it returns None once the frame is written (a later server ERROR goes to the
        connection's ``on_error``). Raises PayloadTooLargeError before sending when the payload is
        above the server's ``max_payload``.
        """
        if self._finished:
            raise self._end if self._end is not None else ConnectionClosedError("the subscription is closed")
        return await self._connection._publish(self, data, ack, timeout)

    async def unsubscribe(self, timeout: Optional[float] = None) -> None:
        """Leaves the stream; iteration then ends after the events already received."""
        if not self._finished:
            await self._connection._unsubscribe(self, timeout)

    # ---- fed by the connection ------------------------------------------------------------------

    def _push(self, event: Union[Dropped, Resubscribed]) -> None:
        self._events.append(event)
        self._wake()

    def _wake(self) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def _finish(self, error: Optional[BaseException]) -> None:
        if self._finished:
            return
        self._finished = True
        self._end = error
        self._wake()


class SubscriptionLane:
    """One lane of a subscription on a cluster node (protocol.md §4.20): the stream's messages
    published on one other node, with that node's sid prefix and sequences.

    ``stream`` is the :class:`~tern_client.StreamInfo` its messages and ``Dropped`` events carry:
    the stream's sid and name, ``stream_id`` the lane id, ``sid_prefix`` the publishing node's.
    Gaps count per lane as per stream (protocol.md §7.4): every sequence from ``next_sequence`` on
    is either received or counted by a ``Dropped`` of this lane before the next message; a jump no
    ``Dropped`` covers was lost between the nodes.
    """

    __slots__ = ("last_sequence", "next_sequence", "stream", "subscription")

    def __init__(self, subscription: Subscription, stream: StreamInfo, next_sequence: int) -> None:
        self.subscription = subscription
        self.stream = stream
        #: The first sequence of the lane this subscription could receive (from LANE).
        self.next_sequence = next_sequence
        #: The sequence of the lane's newest message received (0: none yet).
        self.last_sequence = 0

    def __repr__(self) -> str:
        return (
            f"<SubscriptionLane {self.stream.stream_id} prefix={self.stream.sid_prefix.hex()} "
            f"next_sequence={self.next_sequence} last_sequence={self.last_sequence}>"
        )


def _expire(waiter: asyncio.Future[None]) -> None:
    if not waiter.done():
        waiter.set_result(None)
