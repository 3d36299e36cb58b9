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
from typing import Any, Callable, List, Optional

from ._connection_core import ErrorCallback, StateCallback
from ._lifecycle import Lifecycle
from ._requests import parse_message_sid
from .codec import MIN_PROTOCOL_VERSION, PROTOCOL_VERSION, RefreshToken, TokenExpiring, TokenRefreshed
from .exceptions import ConnectError, ConnectionClosedError
from .models import ConnectionState, PublishResult, parse_address
from .shared_ring import shared_memory_supported
from .subscription import Payload, Subscription

__all__ = ["DEFAULT_ADDRESS", "Connection", "connect"]

DEFAULT_ADDRESS = "127.0.0.1:7400"
#: Received-but-untaken messages of one subscription above which the connection stops reading the
#: socket (the server then drops for this connection and reports DROPPED, instead of the client
#: growing): at most 64 MiB of 4 KiB payloads.
DEFAULT_MAX_PENDING = 16384


class Connection(Lifecycle):
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
        self.welcome = None
        #: Times the connection was re-established after a break.
        self.reconnects = 0
        self._session = None
        self._connected = asyncio.Event() if _has_loop() else None
        self._subscriptions = []
        self._routes = {}
        #: Cluster lanes (protocol.md §4.20) of the current session by lane id.
        self._lanes = {}
        self._publishers = {}
        self._request_id = 0
        self._holding = set()
        self._supervisor = None
        self._keepalive = None
        self._terminal = None
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
        position = parse_message_sid(after) if after is not None else None
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
