"""The state every layer of :class:`~tern_client.Connection` shares, and the small operations on it:
states and their callbacks, request ids, waiting for an answer or for CONNECTED, PING.

The connection is one class built in layers, one module each: this core, frame routing
(``_routing``), requests (``_requests``), the socket's lifecycle (``_lifecycle``) and the public
API (``connection``)."""

from __future__ import annotations

import asyncio
import logging
import random
from typing import Callable, Dict, List, Optional, Set

from ._session import Session
from .codec import Frame, Ping, TokenExpiring, Welcome
from .exceptions import ConnectionClosedError, RequestTimeoutError, TernError
from .models import Address, ConnectionState
from .subscription import Subscription, SubscriptionLane

log = logging.getLogger("tern_client")

StateCallback = Callable[[ConnectionState, Optional[BaseException]], None]
ErrorCallback = Callable[[TernError], None]


class ConnectionCore:
    """Fields and shared operations of a connection (see :class:`~tern_client.Connection`)."""

    # Set by Connection.__init__ (see its arguments).
    max_version: int
    address: str
    _address: Address
    _token: str
    _client_name: str
    connect_timeout: float
    request_timeout: float
    reconnect: bool
    max_reconnect_attempts: Optional[int]
    reconnect_wait: float
    reconnect_wait_max: float
    _on_state_change: Optional[StateCallback]
    _on_error: Optional[ErrorCallback]
    max_pending: int
    keepalive: bool
    _on_token_expiring: Optional[Callable[[TokenExpiring], None]]
    shared_memory: bool
    shared_memory_spin: bool

    state: ConnectionState
    welcome: Optional[Welcome]
    #: Times the connection was re-established after a break.
    reconnects: int
    _session: Optional[Session]
    _connected: Optional[asyncio.Event]
    _subscriptions: List[Subscription]
    #: Receiving (else attached) subscriptions of the current session by stream id.
    _routes: Dict[int, Subscription]
    #: Cluster lanes (protocol.md §4.20) of the current session by lane id.
    _lanes: Dict[int, SubscriptionLane]
    _publishers: Dict[str, Subscription]
    _request_id: int
    _holding: Set[Subscription]
    _supervisor: Optional[asyncio.Task[None]]
    _keepalive: Optional[asyncio.Task[None]]
    _terminal: Optional[BaseException]
    _closing: bool

    def _release(self, sub: Subscription) -> None:
        """``sub`` is down to half its pending limit (or gone): read again if nobody else holds."""
        sub._holding = False
        self._holding.discard(sub)
        session = self._session
        if not self._holding and session is not None:
            session.pause_reading(False)

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
