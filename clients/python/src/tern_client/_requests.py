"""Requests on the current session: SUBSCRIBE / RESUME / SUBSCRIBE_SHARED with their
registration, PUBLISH and UNSUBSCRIBE, and the local checks made before sending."""

from __future__ import annotations

import asyncio
import json
from typing import Callable, List, Optional, Tuple

from ._mapped import SHARED_MEMORY_UNAVAILABLE, send_subscribe_shared
from ._routing import FrameRouting
from ._session import Session
from .codec import (
    MAX_STREAM_NAME_BYTES,
    MAX_STREAM_NAME_CHARACTERS,
    Published,
    Resume,
    Subscribe,
    Subscribed,
    Unsubscribe,
    Unsubscribed,
    encode_publish,
)
from .exceptions import (
    InvalidStreamNameError,
    PayloadTooLargeError,
    RequestTimeoutError,
    ServerError,
    TooManySubscriptionsError,
)
from .models import ConnectionState, PublishResult, Resubscribed, StreamInfo
from .subscription import Payload, Subscription


class Requests(FrameRouting):
    """Subscribing, publishing and leaving streams (used by :class:`~tern_client.Subscription`)."""

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


def parse_message_sid(sid: str) -> Tuple[bytes, int]:
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
