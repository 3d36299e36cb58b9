"""The frames a server sends (protocol.md §4), each with ``encode`` (for tests and scripted peers).

:class:`Message` is the hot one: a plain class with ``__slots__``, built by the parser with its
wire fields; the connection attaches the subscription's stream to it.
"""

from __future__ import annotations

import json
import struct
from dataclasses import dataclass
from typing import Any, ClassVar, Optional

from ._wire import MAX_ERROR_MESSAGE_BYTES, FrameType, ResumeOutcome, encode_str, frame_bytes, message_sid


@dataclass
class Welcome:
    TYPE: ClassVar[int] = FrameType.WELCOME

    version: int
    max_payload: int
    max_frame_body: int
    max_subscriptions: int
    ping_interval_ms: int
    server_name: str

    def encode(self) -> bytes:
        head = struct.pack(
            ">HIIII",
            self.version,
            self.max_payload,
            self.max_frame_body,
            self.max_subscriptions,
            self.ping_interval_ms,
        )
        return frame_bytes(FrameType.WELCOME, 0, head + encode_str(self.server_name, 0xFFFF, "server_name"))


@dataclass
class Subscribed:
    TYPE: ClassVar[int] = FrameType.SUBSCRIBED

    request_id: int
    stream_id: int
    sid_prefix: bytes
    next_sequence: int
    stream_sid: str
    unique_name: str
    attach_only: bool = False

    def encode(self) -> bytes:
        head = struct.pack(">II8sQ", self.request_id, self.stream_id, self.sid_prefix, self.next_sequence)
        names = encode_str(self.stream_sid, 0xFFFF, "stream_sid") + encode_str(self.unique_name, 0xFFFF, "unique_name")
        body = head + names
        return frame_bytes(FrameType.SUBSCRIBED, 1 if self.attach_only else 0, body)


@dataclass
class Unsubscribed:
    TYPE: ClassVar[int] = FrameType.UNSUBSCRIBED

    request_id: int
    stream_id: int

    def encode(self) -> bytes:
        return frame_bytes(FrameType.UNSUBSCRIBED, 0, struct.pack(">II", self.request_id, self.stream_id))


@dataclass
class Published:
    TYPE: ClassVar[int] = FrameType.PUBLISHED

    request_id: int
    stream_id: int
    sid_prefix: bytes
    sequence: int

    @property
    def message_sid(self) -> str:
        return message_sid(self.sid_prefix, self.sequence)

    def encode(self) -> bytes:
        body = struct.pack(">II8sQ", self.request_id, self.stream_id, self.sid_prefix, self.sequence)
        return frame_bytes(FrameType.PUBLISHED, 0, body)


class Message:
    """A MESSAGE: one message of a stream, as received.

    The connection attaches the subscription's stream (its sid and sid prefix) before handing the
    message out, so ``stream_sid`` and ``sid`` (the Twilio message sid) are available; a message
    decoded on its own has ``stream`` None and only the wire fields. On a cluster node a message
    published on another node carries its lane's stream: ``stream_id`` is the lane id and the sid
    prefix the publishing node's (protocol.md §4.20), so ``sid`` is the one its publisher got.
    """

    __slots__ = ("payload", "sequence", "stream", "stream_id")
    TYPE: ClassVar[int] = FrameType.MESSAGE

    def __init__(self, stream_id: int, sequence: int, payload: bytes, stream: Optional[Any] = None) -> None:
        self.stream_id = stream_id
        self.sequence = sequence
        #: The JSON object's bytes, exactly as published.
        self.payload = payload
        #: The :class:`tern_client.StreamInfo` of the subscription that received it.
        self.stream = stream

    @property
    def stream_sid(self) -> str:
        """The stream's sid (``TO…``); empty for a message decoded without its subscription."""
        return self.stream.stream_sid if self.stream is not None else ""

    @property
    def sid(self) -> str:
        """The Twilio message sid, ``"TZ" + hex(sid_prefix ‖ sequence)``."""
        if self.stream is None:
            return ""
        return message_sid(self.stream.sid_prefix, self.sequence)

    def json(self) -> Any:
        """The payload parsed as JSON (a dict: the server only relays JSON objects)."""
        return json.loads(self.payload)

    def text(self) -> str:
        return self.payload.decode("utf-8")

    def encode(self) -> bytes:
        return _MESSAGE_FRAME_HEAD.pack(
            len(self.payload) + 12, FrameType.MESSAGE, 0, 0, self.stream_id, self.sequence
        ) + (self.payload)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Message):
            return NotImplemented
        return (self.stream_id, self.sequence, self.payload) == (other.stream_id, other.sequence, other.payload)

    def __hash__(self) -> int:
        return hash((self.stream_id, self.sequence, self.payload))

    def __repr__(self) -> str:
        return f"Message(stream_id={self.stream_id}, sequence={self.sequence}, payload={self.payload!r})"


_MESSAGE_FRAME_HEAD = struct.Struct(">IBBHIQ")


@dataclass
class Dropped:
    """DROPPED: ``count`` messages of the stream were lost since the last DROPPED for it."""

    TYPE: ClassVar[int] = FrameType.DROPPED

    stream_id: int
    count: int
    reason: int
    #: The subscription's stream (:class:`tern_client.StreamInfo`), attached by the connection.
    stream: Optional[Any] = None

    @property
    def stream_sid(self) -> str:
        return self.stream.stream_sid if self.stream is not None else ""

    def encode(self) -> bytes:
        return frame_bytes(FrameType.DROPPED, 0, struct.pack(">IQB", self.stream_id, self.count, self.reason))


@dataclass
class StreamEndedFrame:
    TYPE: ClassVar[int] = FrameType.STREAM_ENDED

    stream_id: int
    reason: int

    def encode(self) -> bytes:
        return frame_bytes(FrameType.STREAM_ENDED, 0, struct.pack(">IB", self.stream_id, self.reason))


@dataclass
class ErrorFrame:
    TYPE: ClassVar[int] = FrameType.ERROR

    request_id: int
    code: int
    message: str
    fatal: bool = False

    def encode(self) -> bytes:
        text = encode_str(self.message, MAX_ERROR_MESSAGE_BYTES, "message")
        body = struct.pack(">IH", self.request_id, self.code) + text
        return frame_bytes(FrameType.ERROR, 1 if self.fatal else 0, body)


@dataclass
class Resumed:
    """RESUMED (version 2): follows the SUBSCRIBED answering a RESUME; ``outcome`` is a
    :class:`ResumeOutcome` value (an unknown one means the sequence space restarted)."""

    TYPE: ClassVar[int] = FrameType.RESUMED

    request_id: int
    stream_id: int
    outcome: int

    @property
    def continued(self) -> bool:
        return self.outcome == ResumeOutcome.CONTINUED

    def encode(self) -> bytes:
        return frame_bytes(FrameType.RESUMED, 0, struct.pack(">IIB", self.request_id, self.stream_id, self.outcome))


@dataclass
class Lane:
    """LANE (version 3, cluster): messages of ``stream_id`` published on another node arrive as
    MESSAGE and DROPPED frames with ``lane_id``; their sids use ``sid_prefix`` (protocol.md §4.20).
    The connection routes them to the stream's subscription (:class:`tern_client.Subscription`'s
    ``lanes``)."""

    TYPE: ClassVar[int] = FrameType.LANE

    stream_id: int
    lane_id: int
    sid_prefix: bytes
    next_sequence: int

    def encode(self) -> bytes:
        body = struct.pack(">II8sQ", self.stream_id, self.lane_id, self.sid_prefix, self.next_sequence)
        return frame_bytes(FrameType.LANE, 0, body)


@dataclass
class TokenExpiring:
    """Version 2: the connection's Access Token expires at ``expires_at`` (Unix seconds)."""

    TYPE: ClassVar[int] = FrameType.TOKEN_EXPIRING

    expires_at: int
    remaining_ms: int

    def encode(self) -> bytes:
        return frame_bytes(FrameType.TOKEN_EXPIRING, 0, struct.pack(">QI", self.expires_at, self.remaining_ms))


@dataclass
class TokenRefreshed:
    """Version 2: the answer to REFRESH_TOKEN, with the new token's ``exp``."""

    TYPE: ClassVar[int] = FrameType.TOKEN_REFRESHED

    request_id: int
    expires_at: int

    def encode(self) -> bytes:
        return frame_bytes(FrameType.TOKEN_REFRESHED, 0, struct.pack(">IQ", self.request_id, self.expires_at))


@dataclass
class RingMapped:
    """RING_MAPPED (version 3): follows the SUBSCRIBED answering SUBSCRIBE_SHARED; its bytes
    carry the ring's memfd (SCM_RIGHTS)."""

    TYPE: ClassVar[int] = FrameType.RING_MAPPED

    request_id: int
    stream_id: int
    header_bytes: int
    ring_bytes: int
    start_position: int

    def encode(self) -> bytes:
        body = _RING_MAPPED.pack(
            self.request_id, self.stream_id, self.header_bytes, self.ring_bytes, self.start_position
        )
        return frame_bytes(FrameType.RING_MAPPED, 0, body)


_RING_MAPPED = struct.Struct(">IIIQQ")
