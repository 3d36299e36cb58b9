"""A connection's sockets over time: opening one (connect, HELLO/WELCOME), watching it, reconnecting
with jittered backoff and resubscribing (RESUME on version 2+), giving up, and the keepalive."""

from __future__ import annotations

import asyncio
import functools
import random
import socket
from typing import Optional

from ._requests import Requests
from ._session import Session
from .codec import MIN_PROTOCOL_VERSION, Hello, Ping, Subscribed
from .exceptions import (
    AuthFailedError,
    ConnectError,
    ConnectionLostError,
    RequestError,
    RequestTimeoutError,
    ResumeAheadError,
    ServerError,
    TernError,
    UnsupportedVersionError,
)
from .models import ConnectionState, Resubscribed, StreamInfo
from .subscription import Subscription


class Lifecycle(Requests):
    """Opens sessions and keeps one open (see :class:`~tern_client.Connection`'s states)."""

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
            # Resume (a later protocol version) would continue after the position; version 1 cannot.
            since = sub.position[1]
            missed = max(0, subscribed.next_sequence - since - 1)
            sub._lost_through = max(since, subscribed.next_sequence - 1)  # counted now: not again
        sub.info = info
        event = Resubscribed(info, sub.last_sequence, subscribed.next_sequence, restarted, missed)
        sub.next_sequence = subscribed.next_sequence
        if restarted:
            sub.last_sequence = 0
            sub._lost_through = 0
        self._routes[info.stream_id] = sub
        if not sub.attach_only:
            sub._push(event)

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
