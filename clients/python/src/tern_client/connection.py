"""The asyncio client: one :class:`Connection` owns the socket, its subscriptions and reconnects.

::

    async with Connection.open("127.0.0.1:7400") as conn:
        sub = await conn.subscribe("prices")
        await conn.publish("prices", {"px": 1})
        async for event in sub:
            if isinstance(event, Message):
                print(event.sid, event.json())

States: CONNECTING → CONNECTED ⇄ RECONNECTING → CLOSED. When the socket breaks (or the server
closes it with a fatal ERROR other than AUTH_FAILED / UNSUPPORTED_VERSION) the connection waits a
jittered, exponentially growing delay, connects again, subscribes every live subscription again
(attachments first) and only then reports CONNECTED; each subscription then yields a
:class:`Resubscribed` event with the possible gap. When the server speaks protocol version 2 a
receiving subscription is resumed (RESUME) right after the last sequence it received: the server
replays what its ring still holds and reports what it no longer holds as a DROPPED with reason
NOT_RETAINED; a version-1 server gets SUBSCRIBE and the gap is counted from the sequences.
Requests made meanwhile wait for CONNECTED up to their timeout.

On a cluster node (version 3) the messages published on other nodes arrive in lanes (LANE,
protocol.md §4.20): their MESSAGE and DROPPED frames carry the lane id, are routed to the stream's
subscription with the lane's sid prefix, and never move the stream's own position (resume).
"""

from __future__ import annotations

import asyncio
import functools
import json
import logging
import random
import socket
from typing import Any, Callable, Dict, List, Optional, Set, Tuple

from ._mapped import SHARED_MEMORY_UNAVAILABLE, send_subscribe_shared
from ._session import Session
from .codec import (
    MAX_STREAM_NAME_BYTES,
    MAX_STREAM_NAME_CHARACTERS,
    MIN_PROTOCOL_VERSION,
    PROTOCOL_VERSION,
    Dropped,
    EndReason,
    Frame,
    Hello,
    Lane,
    Message,
    Ping,
    Published,
    RefreshToken,
    Resume,
    Resumed,
    StreamEndedFrame,
    Subscribe,
    Subscribed,
    TokenExpiring,
    TokenRefreshed,
    Unsubscribe,
    Unsubscribed,
    Welcome,
    encode_publish,
)
from .exceptions import (
    AuthFailedError,
    ConnectError,
    ConnectionClosedError,
    ConnectionLostError,
    InvalidStreamNameError,
    PayloadTooLargeError,
    RequestError,
    RequestTimeoutError,
    ResumeAheadError,
    ServerError,
    StreamEnded,
    TernError,
    TooManySubscriptionsError,
    UnsupportedVersionError,
)
from .models import ConnectionState, PublishResult, Resubscribed, StreamInfo, parse_address
from .shared_ring import shared_memory_supported
from .subscription import Payload, Subscription, SubscriptionLane

__all__ = ["DEFAULT_ADDRESS", "Connection", "connect"]

log = logging.getLogger("tern_client")

DEFAULT_ADDRESS = "127.0.0.1:7400"
#: Received-but-untaken messages of one subscription above which the connection stops reading the
#: socket (the server then drops for this connection and reports DROPPED, instead of the client
#: growing): at most 64 MiB of 4 KiB payloads.
DEFAULT_MAX_PENDING = 16384

StateCallback = Callable[[ConnectionState, Optional[BaseException]], None]
ErrorCallback = Callable[[TernError], None]


class Connection:
    """A client connection to a ternd data port (TCP ``host:port`` or a Unix socket path).

    Args:
        address: ``host:port``, ``[v6]:port``, ``unix:PATH`` or a path containing ``/``.
        token: the account's auth token, or an Access Token (a JWT minted with an API key, e.g. by
            Twilio's ``AccessToken`` with a ``SyncGrant``), sent in HELLO.
        on_token_expiring: called with the TOKEN_EXPIRING frame some seconds before the Access
            Token expires; answer it with :meth:`refresh_token` (protocol version 2).
        client_name: shown in the server's logs and ``/connz``; at most 64 bytes.
        connect_timeout: seconds for the socket and the HELLO/WELCOME handshake.
        request_timeout: default seconds to wait for an answer (or for CONNECTED while reconnecting).
        reconnect: reconnect and resubscribe after the connection breaks.
        max_reconnect_attempts: attempts per outage before giving up (None: never give up).
        reconnect_wait, reconnect_wait_max: the first backoff delay and its cap, in seconds; each
            attempt doubles it, and the actual wait is uniformly jittered between half and all of it.
        on_state_change: called with the new state and the error that caused it (if any).
        on_error: called with errors no caller is waiting for (an unacknowledged publish refused,
            a connection lost before a reconnect); by default they are logged.
        max_pending: messages one subscription may hold received but not yet taken; above it
            the connection stops reading its socket until the subscription is down to half, so
            the server drops for this connection and says so with DROPPED (protocol.md's slow
            consumer) instead of this process growing. While paused, answers on this connection
            wait too: publish with ACK from another connection than a slow consumer's.
        keepalive: PING the server after half its ``ping_interval_ms`` of quiet and drop the
            connection if no PONG comes within the interval (server PINGs are answered either way).
        max_version: the highest protocol version to ask for in HELLO (3; 1 turns resume off and
            makes the client speak exactly version 1).
        shared_memory: on a Unix socket with protocol version 3, :meth:`subscribe` maps the
            stream's ring read-only and a thread reads messages from shared memory (protocol.md
            §4.16-4.19) instead of the socket; a server that refuses (``--shared-memory off``) gets
            plain SUBSCRIBEs. False keeps every message on the socket. A loss in the ring comes as
            ``Dropped`` with reason ``RING_LAPPED`` (5). After a reconnect mapped subscriptions
            resume over the socket (RESUME replays what the ring still holds).
        shared_memory_spin: the ring's thread spins while idle instead of sleeping on the ring's
            futex (lowest latency, one busy core per mapped subscription).
    """

    def __init__(
        self,
        address: str = DEFAULT_ADDRESS,
        *,
        token: str = "",
        client_name: str = "tern-client-python",
        connect_timeout: float = 10.0,
        request_timeout: float = 10.0,
        reconnect: bool = True,
        max_reconnect_attempts: Optional[int] = None,
        reconnect_wait: float = 0.1,
        reconnect_wait_max: float = 5.0,
        on_state_change: Optional[StateCallback] = None,
        on_error: Optional[ErrorCallback] = None,
        max_pending: int = DEFAULT_MAX_PENDING,
        keepalive: bool = True,
        on_token_expiring: Optional[Callable[[TokenExpiring], None]] = None,
        max_version: int = PROTOCOL_VERSION,
        shared_memory: bool = True,
        shared_memory_spin: bool = False,
    ) -> None:
        if not MIN_PROTOCOL_VERSION <= max_version <= PROTOCOL_VERSION:
            raise ValueError(f"max_version must be {MIN_PROTOCOL_VERSION}..{PROTOCOL_VERSION}, got {max_version}")
        self.max_version = max_version
        self.address = address
        self._address = parse_address(address)
        self._token = token
        self._client_name = client_name
        self.connect_timeout = connect_timeout
        self.request_timeout = request_timeout
        self.reconnect = reconnect
        self.max_reconnect_attempts = max_reconnect_attempts
        self.reconnect_wait = reconnect_wait
        self.reconnect_wait_max = reconnect_wait_max
        self._on_state_change = on_state_change
        self._on_error = on_error
        self.max_pending = max_pending
        self.keepalive = keepalive
        self._on_token_expiring = on_token_expiring
        self.shared_memory = shared_memory and shared_memory_supported()
        self.shared_memory_spin = shared_memory_spin

        self.state = ConnectionState.CLOSED
        self.welcome: Optional[Welcome] = None
        #: Times the connection was re-established after a break.
        self.reconnects = 0
        self._session: Optional[Session] = None
        self._connected = asyncio.Event() if _has_loop() else None
        self._subscriptions: List[Subscription] = []
        self._routes: Dict[int, Subscription] = {}
        #: Cluster lanes (protocol.md §4.20) of the current session by lane id.
        self._lanes: Dict[int, SubscriptionLane] = {}
        self._publishers: Dict[str, Subscription] = {}
        self._request_id = 0
        self._holding: Set[Subscription] = set()
        self._supervisor: Optional[asyncio.Task[None]] = None
        self._keepalive: Optional[asyncio.Task[None]] = None
        self._terminal: Optional[BaseException] = None
        self._closing = False

    # ---- opening and closing --------------------------------------------------------------------

    @classmethod
    def open(cls, address: str = DEFAULT_ADDRESS, **options: Any) -> Connection:
        """A connection to use as ``async with Connection.open(...) as conn`` (connects on entry)."""
        return cls(address, **options)

    async def __aenter__(self) -> Connection:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    async def start(self) -> None:
        """Connects and completes the handshake (ConnectError, AuthFailedError, ... on failure)."""
        if self.state is not ConnectionState.CLOSED or self._closing:
            raise ConnectionClosedError("a connection starts once")
        self._connected = asyncio.Event()
        self._set_state(ConnectionState.CONNECTING, None)
        try:
            session = await self._open_session()
        except BaseException as error:
            self._set_state(ConnectionState.CLOSED, error if isinstance(error, Exception) else None)
            self._closing = True
            raise
        self._session = session
        self._set_state(ConnectionState.CONNECTED, None)
        self._supervisor = asyncio.ensure_future(self._supervise())
        if self.keepalive:
            self._keepalive = asyncio.ensure_future(self._keep_alive())

    async def close(self) -> None:
        """Sends what is buffered, closes the socket, and ends every subscription's iteration."""
        self._closing = True
        tasks = [t for t in (self._supervisor, self._keepalive) if t is not None and t is not asyncio.current_task()]
        self._supervisor = self._keepalive = None
        for task in tasks:
            task.cancel()
        session, self._session = self._session, None
        self._end_all(None)
        self._set_state(ConnectionState.CLOSED, None)
        if session is not None:
            session.close()
            await session.wait_lost(1.0)
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)

    async def wait_connected(self, timeout: Optional[float] = None) -> None:
        """Waits for CONNECTED (RequestTimeoutError after ``timeout``, the final error if CLOSED)."""
        await self._ready_session(self.request_timeout if timeout is None else timeout)

    # ---- public requests ------------------------------------------------------------------------

    async def subscribe(
        self, stream: str, *, after: Optional[str] = None, timeout: Optional[float] = None
    ) -> Subscription:
        """Subscribes to ``stream`` (a sid ``TO…``, a unique name, or ``<ServiceSid>/<name>``).

        ``after`` is the Twilio message sid (``TZ…``, e.g. a stored :attr:`Subscription.last_sid`)
        of the last message already processed: the subscription resumes after it (protocol
        version 2; the first event is then :class:`Resubscribed` with ``resumed`` true, and a
        ``Dropped`` with reason NOT_RETAINED counts what the server no longer holds). A
        version-1 server subscribes from now on and the first event reports the gap from the
        sequences.

        Raises StreamNotFoundError, InvalidStreamNameError, AlreadySubscribedError,
        TooManySubscriptionsError (the last two also locally from WELCOME's limit),
        ResumeAheadError (``after`` names a message the stream has not reached), ValueError for
        an ``after`` that is not a message sid.
        """
        position = _parse_message_sid(after) if after is not None else None
        return await self._subscribe(stream, False, timeout, position)

    async def attach(self, stream: str, *, timeout: Optional[float] = None) -> Subscription:
        """Attaches ``stream`` for publishing only (SUBSCRIBE with ATTACH_ONLY): no messages arrive,
        but STREAM_ENDED does, and the subscription's :meth:`~Subscription.publish` works.

        The server keeps one mode per stream and connection, and attaching a subscribed stream
        would stop its messages; so when this connection already subscribes ``stream`` (by the same
        name or sid) that subscription is returned instead. Naming one stream two other ways (sid
        and ``<ServiceSid>/<name>``) on one connection is not detected.
        """
        receiving = self._find(stream, receiving_only=True)
        if receiving is not None:
            return receiving
        return await self._subscribe(stream, True, timeout)

    def _find(self, stream: str, *, receiving_only: bool) -> Optional[Subscription]:
        """A live subscription of ``stream`` (same name or sid), receiving ones first."""
        found: Optional[Subscription] = None
        for sub in self._subscriptions:
            if sub.active and stream in (sub.name, sub.info.stream_sid):
                if not sub.attach_only:
                    return sub
                found = found or sub
        return None if receiving_only else found

    async def publish(
        self, stream: str, data: Payload, *, ack: bool = True, timeout: Optional[float] = None
    ) -> Optional[PublishResult]:
        """Publishes to ``stream`` by name, attaching it on first use (kept for later publishes)."""
        target = self._publishers.get(stream)
        if target is None or not target.active:
            target = self._find(stream, receiving_only=False) or await self.attach(stream, timeout=timeout)
            self._publishers[stream] = target
        return await target.publish(data, ack=ack, timeout=timeout)

    async def refresh_token(self, token: str, *, timeout: Optional[float] = None) -> int:
        """Replaces the connection's Access Token without reconnecting (REFRESH_TOKEN); returns the
        new token's ``exp``. Later reconnects present the new token. A refusal raises the server's
        error (``TOKEN_EXPIRED``, ``TOKEN_SIGNATURE_INVALID``, ``REFRESH_REFUSED``, ...) and the
        current token stays in force. Needs protocol version 2."""
        timeout = self.request_timeout if timeout is None else timeout
        session = await self._ready_session(timeout)
        if self.welcome is None or self.welcome.version < 2:
            raise ConnectError("token refresh needs protocol version 2; the server chose version 1")
        request_id = self._next_request_id()
        future = session.expect(request_id, TokenRefreshed)
        session.write(RefreshToken(request_id, token).encode())
        answer = await self._wait(session, request_id, future, timeout, "REFRESH_TOKEN")
        assert isinstance(answer, TokenRefreshed)
        self._token = token
        return answer.expires_at

    async def ping(self, timeout: Optional[float] = None) -> float:
        """Sends PING and waits for PONG; returns the round trip in seconds."""
        timeout = self.request_timeout if timeout is None else timeout
        session = await self._ready_session(timeout)
        return await self._ping(session, timeout)

    @property
    def subscriptions(self) -> List[Subscription]:
        return [s for s in self._subscriptions if s.active]

    # ---- internals used by Subscription ---------------------------------------------------------

    async def _publish(
        self, sub: Subscription, data: Payload, ack: bool, timeout: Optional[float]
    ) -> Optional[PublishResult]:
        timeout = self.request_timeout if timeout is None else timeout
        payload = _payload_bytes(data)
        session = await self._ready_session(timeout)
        welcome = self.welcome
        assert welcome is not None
        if len(payload) > welcome.max_payload:
            raise PayloadTooLargeError(
                104,
                f"payload is {len(payload)} bytes, above the server's max_payload of {welcome.max_payload}",
                local=True,
            )
        request_id = self._next_request_id()
        if not ack:
            session.write(encode_publish(request_id, sub.info.stream_id, payload, False))
            if session.write_paused:
                try:
                    await asyncio.wait_for(session.drain(), timeout)
                except asyncio.TimeoutError:
                    raise RequestTimeoutError(f"the server read nothing for {timeout} s (send buffer full)") from None
            return None
        future = session.expect(request_id, Published)
        session.write(encode_publish(request_id, sub.info.stream_id, payload, True))
        published = await self._wait(session, request_id, future, timeout, "PUBLISH")
        assert isinstance(published, Published)
        info = sub.info
        if published.sid_prefix != info.sid_prefix:
            info = StreamInfo(info.stream_sid, info.unique_name, published.stream_id, published.sid_prefix)
        return PublishResult(info, published.sequence)

    async def _unsubscribe(self, sub: Subscription, timeout: Optional[float]) -> None:
        timeout = self.request_timeout if timeout is None else timeout
        session = self._session
        if session is None or self.state is not ConnectionState.CONNECTED:
            self._forget(sub)
            sub._finish(None)
            return
        request_id = self._next_request_id()
        future = session.expect(request_id, Unsubscribed)
        session.write(Unsubscribe(request_id, sub.info.stream_id).encode())
        try:
            await self._wait(session, request_id, future, timeout, "UNSUBSCRIBE")
        finally:
            self._forget(sub)
            sub._finish(None)

    def _release(self, sub: Subscription) -> None:
        """``sub`` is down to half its pending limit (or gone): read again if nobody else holds."""
        sub._holding = False
        self._holding.discard(sub)
        session = self._session
        if not self._holding and session is not None:
            session.pause_reading(False)

    # ---- requests -------------------------------------------------------------------------------

    def _next_request_id(self) -> int:
        self._request_id = self._request_id % 0xFFFFFFFF + 1
        return self._request_id

    async def _wait(
        self, session: Session, request_id: int, future: asyncio.Future[Frame], timeout: float, what: str
    ) -> Frame:
        try:
            return await asyncio.wait_for(future, timeout)
        except asyncio.TimeoutError:
            session.give_up(request_id)
            raise RequestTimeoutError(f"no answer to {what} within {timeout} s") from None

    async def _ready_session(self, timeout: float) -> Session:
        session = self._session
        if self.state is ConnectionState.CONNECTED and session is not None:
            return session
        if self.state is ConnectionState.CLOSED or self._connected is None:
            raise self._terminal or ConnectionClosedError("the connection is closed")
        try:
            await asyncio.wait_for(self._connected.wait(), timeout)
        except asyncio.TimeoutError:
            raise RequestTimeoutError(f"not connected within {timeout} s (state {self.state.value})") from None
        session = self._session
        if self.state is not ConnectionState.CONNECTED or session is None:
            raise self._terminal or ConnectionClosedError("the connection is closed")
        return session

    async def _subscribe(
        self, stream: str, attach_only: bool, timeout: Optional[float], after: Optional[Tuple[bytes, int]] = None
    ) -> Subscription:
        timeout = self.request_timeout if timeout is None else timeout
        _check_stream_name(stream)
        session = await self._ready_session(timeout)
        welcome = self.welcome
        assert welcome is not None
        streams = {s.info.stream_id for s in self._subscriptions if s.active}
        if len(streams) >= welcome.max_subscriptions:
            raise TooManySubscriptionsError(
                103, f"already {len(streams)} streams, the server's max_subscriptions", local=True
            )
        created: List[Subscription] = []

        def register(subscribed: Subscribed) -> None:
            # Runs as SUBSCRIBED is parsed, so MESSAGEs right behind it in the same read find it.
            info = StreamInfo(
                subscribed.stream_sid, subscribed.unique_name, subscribed.stream_id, subscribed.sid_prefix
            )
            sub = Subscription(self, stream, attach_only, info, subscribed.next_sequence)
            if after is not None:
                if resuming:
                    sub._resume_from = after  # the RESUMED right behind says how it resumed
                else:
                    restarted = subscribed.sid_prefix != after[0]
                    missed = None if restarted else max(0, subscribed.next_sequence - after[1] - 1)
                    sub._events.append(Resubscribed(info, after[1], subscribed.next_sequence, restarted, missed))
            created.append(sub)
            if self._closing:
                return
            self._subscriptions.append(sub)
            if not attach_only or subscribed.stream_id not in self._routes:
                self._routes[subscribed.stream_id] = sub

        resuming = after is not None and self._version(session) >= 2
        if resuming:
            assert after is not None
            await self._send_resume(session, stream, after, timeout, register)
        elif not attach_only and after is None and self._maps(session):
            try:
                await send_subscribe_shared(self, session, stream, timeout, register, self.shared_memory_spin)
            except ServerError as refused:
                if refused.code != SHARED_MEMORY_UNAVAILABLE:
                    raise
                self.shared_memory = False  # this server (or socket) maps no ring: ask no more
                await self._send_subscribe(session, stream, attach_only, timeout, register)
        else:
            await self._send_subscribe(session, stream, attach_only, timeout, register)
        sub = created[0]
        if self._closing:  # the connection ended for good between the answer and now
            sub._finish(self._terminal)
        return sub

    async def _send_subscribe(
        self,
        session: Session,
        stream: str,
        attach_only: bool,
        timeout: float,
        register: Callable[[Subscribed], None],
    ) -> Subscribed:
        request_id = self._next_request_id()
        future = session.expect(request_id, Subscribed, register)
        session.write(Subscribe(request_id, stream, attach_only).encode())
        subscribed = await self._wait(session, request_id, future, timeout, "SUBSCRIBE")
        assert isinstance(subscribed, Subscribed)
        return subscribed

    async def _send_resume(
        self,
        session: Session,
        stream: str,
        after: Tuple[bytes, int],
        timeout: float,
        register: Callable[[Subscribed], None],
    ) -> Subscribed:
        request_id = self._next_request_id()
        future = session.expect(request_id, Subscribed, register)
        session.write(Resume(request_id, after[0], after[1], stream).encode())
        subscribed = await self._wait(session, request_id, future, timeout, "RESUME")
        assert isinstance(subscribed, Subscribed)
        return subscribed

    def _maps(self, session: Session) -> bool:
        """Whether a subscription on ``session`` should map the stream's ring."""
        return self.shared_memory and self._address[0] == "unix" and self._version(session) >= 3

    @staticmethod
    def _version(session: Session) -> int:
        return session.welcome.result().version if session.welcome.done() else 1

    async def _ping(self, session: Session, timeout: float) -> float:
        opaque = random.getrandbits(64)
        waiter: asyncio.Future[None] = session.loop.create_future()
        session.pings[opaque] = waiter
        started = session.loop.time()
        session.write(Ping(opaque).encode())
        try:
            await asyncio.wait_for(waiter, timeout)
        except asyncio.TimeoutError:
            session.pings.pop(opaque, None)
            raise RequestTimeoutError(f"no PONG within {timeout} s") from None
        return session.loop.time() - started

    # ---- the socket -----------------------------------------------------------------------------

    async def _open_session(self) -> Session:
        loop = asyncio.get_running_loop()
        session = Session(self._on_frames)
        session.on_stray_error = self._report
        kind, where = self._address
        try:
            if kind == "unix":
                assert isinstance(where, str)
                connecting = loop.create_unix_connection(lambda: session, where)
            else:
                assert isinstance(where, tuple)
                connecting = loop.create_connection(lambda: session, where[0], where[1])
            await asyncio.wait_for(connecting, self.connect_timeout)
        except asyncio.TimeoutError:
            raise ConnectError(f"cannot connect to {self.address}: timed out after {self.connect_timeout} s") from None
        except OSError as error:
            raise ConnectError(f"cannot connect to {self.address}: {error}") from error
        transport = session.transport
        assert transport is not None
        sock = transport.get_extra_info("socket")
        if sock is not None and sock.family in (socket.AF_INET, socket.AF_INET6):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        try:
            session.write(Hello(MIN_PROTOCOL_VERSION, self.max_version, self._client_name, self._token).encode())
            welcome = await asyncio.wait_for(asyncio.shield(session.welcome), self.connect_timeout)
        except asyncio.TimeoutError:
            session.abort(ConnectError("handshake timed out"))
            raise ConnectError(f"no WELCOME from {self.address} within {self.connect_timeout} s") from None
        except ServerError:
            session.abort(ConnectionLostError("handshake refused"))
            raise
        except TernError as error:
            session.abort(error)
            raise ConnectError(f"handshake with {self.address} failed: {error}") from error
        if not MIN_PROTOCOL_VERSION <= welcome.version <= self.max_version:
            session.abort(ConnectError("version"))
            raise ConnectError(
                f"the server chose protocol version {welcome.version}; this client asked for "
                f"{MIN_PROTOCOL_VERSION}..{self.max_version}"
            )
        self.welcome = welcome
        for held in self._holding:  # a new socket starts reading; the next batch pauses it again
            held._holding = False
        self._holding.clear()
        return session

    def _on_frames(self, session: Session, frames: List[Frame]) -> None:
        """MESSAGE, DROPPED and STREAM_ENDED frames of the current session, in arrival order."""
        if session is not self._session:
            return
        routes = self._routes
        lanes = self._lanes
        woken: Set[Subscription] = set()
        last: Optional[Subscription] = None
        for frame in frames:
            if type(frame) is Message:
                sub = routes.get(frame.stream_id)
                if sub is not None:
                    if sub.attach_only:
                        continue
                    frame.stream = sub.info
                    sub.last_sequence = frame.sequence
                else:
                    # Another cluster node's message: its lane's sid prefix and sequence, which
                    # never move the stream's own position (resume continues after that).
                    lane = lanes.get(frame.stream_id)
                    if lane is None:
                        continue
                    sub = lane.subscription
                    frame.stream = lane.stream
                    lane.last_sequence = frame.sequence
                sub._events.append(frame)
                if sub is not last:
                    woken.add(sub)
                    last = sub
            elif isinstance(frame, Dropped):
                sub = routes.get(frame.stream_id)
                if sub is not None:
                    frame.stream = sub.info
                else:
                    lane = lanes.get(frame.stream_id)
                    if lane is None:
                        continue
                    sub = lane.subscription
                    frame.stream = lane.stream
                sub._events.append(frame)
                woken.add(sub)
            elif type(frame) is Lane:
                self._lane_opened(frame)
            elif isinstance(frame, StreamEndedFrame):
                self._stream_ended(frame)
            elif isinstance(frame, TokenExpiring) and self._on_token_expiring is not None:
                self._on_token_expiring(frame)
            elif type(frame) is Resumed:
                sub = routes.get(frame.stream_id)
                if sub is not None and sub._resume_from is not None:
                    sub._events.append(self._resumed_event(sub, frame))
                    woken.add(sub)
        limit = self.max_pending
        for sub in woken:
            sub._wake()
            if len(sub._events) > limit and not sub._holding:
                sub._holding = True
                sub._resume_level = limit // 2
                self._holding.add(sub)
                session.pause_reading(True)

    def _lane_opened(self, frame: Lane) -> None:
        """LANE: route ``lane_id`` to the receiving subscription of ``stream_id``."""
        sub = self._routes.get(frame.stream_id)
        if sub is None or sub.attach_only:
            return
        old = sub.info
        stream = StreamInfo(old.stream_sid, old.unique_name, frame.lane_id, frame.sid_prefix)
        lane = SubscriptionLane(sub, stream, frame.next_sequence)
        sub.lanes[frame.lane_id] = lane
        self._lanes[frame.lane_id] = lane

    def _forget_lanes(self, sub: Subscription) -> None:
        for lane_id, lane in sub.lanes.items():
            if self._lanes.get(lane_id) is lane:
                del self._lanes[lane_id]
        sub.lanes.clear()

    def _stream_ended(self, frame: StreamEndedFrame) -> None:
        if frame.reason == EndReason.SHUTDOWN and self.reconnect and not self._closing:
            return  # the server is stopping, not the stream: resubscribe after the reconnect
        for sub in [s for s in self._subscriptions if s.info.stream_id == frame.stream_id and s.active]:
            if sub._mapped is not None:
                sub._mapped.ended(frame.reason)  # after the ring's last messages
                continue
            self._forget(sub)
            sub._finish(StreamEnded(sub.info.stream_sid, frame.reason))

    def _forget(self, sub: Subscription) -> None:
        if sub._mapped is not None:
            sub._mapped.stop()
            sub._mapped = None
        if sub._holding:
            self._release(sub)
        if sub in self._subscriptions:
            self._subscriptions.remove(sub)
        self._forget_lanes(sub)  # a stream's lanes end with it (protocol.md §4.20)
        if self._routes.get(sub.info.stream_id) is sub:
            del self._routes[sub.info.stream_id]
            other = next((s for s in self._subscriptions if s.info.stream_id == sub.info.stream_id), None)
            if other is not None:
                self._routes[sub.info.stream_id] = other

    def _end_all(self, error: Optional[BaseException]) -> None:
        subs, self._subscriptions = self._subscriptions, []
        for sub in subs:
            if sub._mapped is not None:
                sub._mapped.stop()
                sub._mapped = None
        self._holding.clear()
        self._routes.clear()
        self._lanes.clear()
        self._publishers.clear()
        for sub in subs:
            sub._finish(error)

    # ---- state, reconnect, keepalive ------------------------------------------------------------

    def _set_state(self, state: ConnectionState, error: Optional[BaseException]) -> None:
        if state is self.state:
            return
        self.state = state
        if self._connected is not None:
            if state is ConnectionState.CONNECTED:
                self._connected.set()
            else:
                self._connected.clear()
            if state is ConnectionState.CLOSED:
                self._connected.set()  # wake waiters so they see CLOSED
        log.debug("tern connection %s: %s%s", self.address, state.value, f" ({error})" if error else "")
        if self._on_state_change is not None:
            try:
                self._on_state_change(state, error)
            except Exception:  # a callback's bug must not break the connection
                log.exception("on_state_change callback failed")

    def _report(self, error: TernError) -> None:
        if self._on_error is not None:
            try:
                self._on_error(error)
            except Exception:
                log.exception("on_error callback failed")
        else:
            log.warning("tern %s: %s", self.address, error)

    async def _supervise(self) -> None:
        while True:
            session = self._session
            if session is None:
                return
            error = await session.closed
            if self._closing:
                return
            self._session = None
            if isinstance(error, TernError):
                self._report(error)
            if not self.reconnect or isinstance(error, (AuthFailedError, UnsupportedVersionError)):
                self._give_up(error)
                return
            self._set_state(ConnectionState.RECONNECTING, error)
            session = await self._reconnect(error)
            if session is None:
                return

    async def _reconnect(self, error: BaseException) -> Optional[Session]:
        attempt = 0
        while True:
            attempt += 1
            if self.max_reconnect_attempts is not None and attempt > self.max_reconnect_attempts:
                self._give_up(error)
                return None
            delay = min(self.reconnect_wait_max, self.reconnect_wait * 2 ** min(attempt - 1, 30))
            await asyncio.sleep(delay * random.uniform(0.5, 1.0))
            try:
                session = await self._open_session()
            except (AuthFailedError, UnsupportedVersionError) as refused:
                self._give_up(refused)
                return None
            except TernError as failed:
                error = failed
                continue
            self._session = session
            try:
                await self._resubscribe(session)
            except TernError as failed:  # the socket broke again, or an answer timed out
                session.abort(failed)
                error = failed
                self._session = None
                continue
            self.reconnects += 1
            self._set_state(ConnectionState.CONNECTED, None)
            return session

    async def _resubscribe(self, session: Session) -> None:
        """Subscribes every live subscription again (attachments first, so they cannot demote a
        receiving subscription of the same stream) and yields Resubscribed to each."""
        self._routes.clear()
        self._lanes.clear()  # lane ids are the old socket's; new LANEs follow each resubscribe
        for sub in self._subscriptions:
            sub.lanes.clear()
            if sub._mapped is not None:  # that session's ring is gone with it; RESUME goes on
                sub._mapped.stop()
                sub._mapped = None
        ordered = sorted(self._subscriptions, key=lambda s: not s.attach_only)
        resume = self._version(session) >= 2
        for sub in ordered:
            try:
                if resume and not sub.attach_only:
                    try:
                        await self._send_resume(
                            session,
                            sub.name,
                            sub.position,
                            self.request_timeout,
                            functools.partial(self._resubscribed, sub, True),
                        )
                        continue
                    except ResumeAheadError as ahead:
                        # Our position is not this stream's (a client bug): subscribe from now on.
                        self._report(ahead)
                await self._send_subscribe(
                    session,
                    sub.name,
                    sub.attach_only,
                    self.request_timeout,
                    functools.partial(self._resubscribed, sub, False),
                )
            except RequestError as refused:
                self._forget(sub)
                sub._finish(refused)

    def _resubscribed(self, sub: Subscription, resuming: bool, subscribed: Subscribed) -> None:
        """Runs as the new SUBSCRIBED is parsed: route the stream again and tell the subscriber
        (after a RESUME, once its RESUMED arrives: `_resumed_event`)."""
        old = sub.info
        info = StreamInfo(subscribed.stream_sid, subscribed.unique_name, subscribed.stream_id, subscribed.sid_prefix)
        if resuming:
            sub._resume_from = sub.position
            sub.info = info
            sub.next_sequence = subscribed.next_sequence
            self._routes[info.stream_id] = sub
            return
        restarted = subscribed.sid_prefix != old.sid_prefix
        missed: Optional[int] = None
        if not restarted:
            # Resume (a later protocol version) would ask for last_sequence + 1; version 1 cannot.
            since = sub.last_sequence if sub.last_sequence else sub.next_sequence - 1
            missed = max(0, subscribed.next_sequence - since - 1)
        sub.info = info
        event = Resubscribed(info, sub.last_sequence, subscribed.next_sequence, restarted, missed)
        sub.next_sequence = subscribed.next_sequence
        if restarted:
            sub.last_sequence = 0
        self._routes[info.stream_id] = sub
        if not sub.attach_only:
            sub._push(event)

    @staticmethod
    def _resumed_event(sub: Subscription, resumed: Resumed) -> Resubscribed:
        """The Resubscribed event for a RESUMED: on CONTINUED nothing is lost but what DROPPED
        frames (reason NOT_RETAINED) count next; on RESTARTED the old run's loss is unknown."""
        assert sub._resume_from is not None
        _, since = sub._resume_from
        sub._resume_from = None
        restarted = not resumed.continued
        if restarted:
            sub.last_sequence = 0
        return Resubscribed(sub.info, since, sub.next_sequence, restarted, None if restarted else 0, resumed=True)

    def _give_up(self, error: BaseException) -> None:
        self._terminal = error
        self._closing = True
        if self._keepalive is not None:
            self._keepalive.cancel()
        self._end_all(error)
        self._set_state(ConnectionState.CLOSED, error)

    async def _keep_alive(self) -> None:
        """PINGs a quiet server so a dead one is noticed (and so the server sees traffic while this
        client has paused reading); a PING unanswered within the interval drops the session."""
        while True:
            welcome = self.welcome
            interval = (welcome.ping_interval_ms / 1000.0 / 2) if welcome and welcome.ping_interval_ms else 15.0
            await asyncio.sleep(interval)
            session = self._session
            if session is None or self.state is not ConnectionState.CONNECTED:
                continue
            if session.reading_paused:
                session.write(Ping(0).encode())
                continue
            if session.loop.time() - session.last_write < interval:
                continue
            try:
                await self._ping(session, interval * 2)
            except RequestTimeoutError:
                session.abort(ConnectionLostError(f"no PONG within {interval * 2} s"))
            except TernError:
                continue


async def connect(address: str = DEFAULT_ADDRESS, **options: Any) -> Connection:
    """Opens a :class:`Connection` (see its arguments); close it with ``await conn.close()``."""
    connection = Connection(address, **options)
    await connection.start()
    return connection


def _has_loop() -> bool:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    return True


def _parse_message_sid(sid: str) -> Tuple[bytes, int]:
    """``TZ`` + 32 hex digits → (sid prefix, sequence)."""
    try:
        if len(sid) != 34 or not sid.startswith("TZ"):
            raise ValueError
        raw = bytes.fromhex(sid[2:])
    except ValueError:
        raise ValueError(f"expected a message sid (TZ + 32 hex digits), got {sid!r}") from None
    return raw[:8], int.from_bytes(raw[8:], "big")


def _check_stream_name(stream: str) -> None:
    size = len(stream.encode("utf-8"))
    if not stream or len(stream) > MAX_STREAM_NAME_CHARACTERS or size > MAX_STREAM_NAME_BYTES:
        raise InvalidStreamNameError(
            106, f"stream name must be 1-{MAX_STREAM_NAME_CHARACTERS} characters, got {len(stream)}", local=True
        )


def _payload_bytes(data: Payload) -> bytes:
    if isinstance(data, bytes):
        return data
    if isinstance(data, (bytearray, memoryview)):
        return bytes(data)
    if isinstance(data, str):
        return data.encode("utf-8")
    if isinstance(data, dict):
        return json.dumps(data, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    raise TypeError(f"payload must be bytes, str or dict, not {type(data).__name__}")
