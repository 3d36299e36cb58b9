"""The data-port wire codec of protocol.md, versions 1 to 3: frames, encoding, and an incremental parser.

Pure: no I/O, no asyncio. :class:`FrameParser` takes whatever bytes a read returned and gives back
every complete frame in them, parsing in one pass with :mod:`struct` over a memoryview (a
MESSAGE costs one header unpack, one body unpack and one payload copy). Bytes of an incomplete
frame stay buffered for the next :meth:`FrameParser.feed`.

Violations raise :class:`~tern_client.exceptions.ProtocolError` with the protocol's error code
(1 MALFORMED_FRAME, 2 FRAME_TOO_LARGE, 3 UNKNOWN_FRAME_TYPE, 5 UNEXPECTED_FRAME) and the frame's
name; a frame too large is refused from its header alone. As protocol.md §5.1 asks of a client,
a frame of a server-to-client type this codec does not know is skipped by its length, and flag
bits it does not know in a server frame are ignored.
"""

from __future__ import annotations

import json
import struct
from dataclasses import dataclass
from enum import IntEnum
from typing import Any, ClassVar, Dict, FrozenSet, List, Optional, Tuple, Union

from .exceptions import ProtocolError

__all__ = [
    "CLIENT_TO_SERVER",
    "DEFAULT_MAX_FRAME_BODY",
    "HEADER_SIZE",
    "MAX_CLIENT_NAME_BYTES",
    "MAX_ERROR_MESSAGE_BYTES",
    "MAX_STREAM_NAME_BYTES",
    "MAX_STREAM_NAME_CHARACTERS",
    "MAX_TOKEN_BYTES",
    "MIN_PROTOCOL_VERSION",
    "PROTOCOL_VERSION",
    "SERVER_TO_CLIENT",
    "DropReason",
    "Dropped",
    "EndReason",
    "ErrorCode",
    "ErrorFrame",
    "Frame",
    "FrameParser",
    "FrameType",
    "Hello",
    "Lane",
    "Message",
    "Ping",
    "Pong",
    "Publish",
    "Published",
    "RefreshToken",
    "Resume",
    "ResumeOutcome",
    "Resumed",
    "RingLoss",
    "RingMapped",
    "StreamEndedFrame",
    "Subscribe",
    "SubscribeShared",
    "Subscribed",
    "TokenExpiring",
    "TokenRefreshed",
    "Unsubscribe",
    "Unsubscribed",
    "Welcome",
    "decode_body",
    "encode_publish",
    "error_name",
    "message_sid",
    "reason_name",
]

#: The highest protocol version this codec speaks (2: RESUME; 3: shared-memory subscriptions),
#: and the lowest.
PROTOCOL_VERSION = 3
MIN_PROTOCOL_VERSION = 1
HEADER_SIZE = 8
#: Longest stream sid or unique name in SUBSCRIBE, in characters, and in UTF-8 bytes.
MAX_STREAM_NAME_CHARACTERS = 320
MAX_STREAM_NAME_BYTES = 4 * MAX_STREAM_NAME_CHARACTERS
MAX_CLIENT_NAME_BYTES = 64
#: Longest HELLO / REFRESH_TOKEN token: an Access Token with stream grants runs to a few KiB.
MAX_TOKEN_BYTES = 8192
MAX_ERROR_MESSAGE_BYTES = 1024
#: The frame body limit used before WELCOME announces the server's (protocol default).
DEFAULT_MAX_FRAME_BODY = 8192


class FrameType(IntEnum):
    HELLO = 0x01
    SUBSCRIBE = 0x02
    UNSUBSCRIBE = 0x03
    PUBLISH = 0x04
    PING = 0x05
    PONG = 0x06
    RESUME = 0x07
    REFRESH_TOKEN = 0x08
    SUBSCRIBE_SHARED = 0x0A
    RING_LOSS = 0x0B
    WELCOME = 0x81
    SUBSCRIBED = 0x82
    UNSUBSCRIBED = 0x83
    PUBLISHED = 0x84
    MESSAGE = 0x85
    DROPPED = 0x86
    STREAM_ENDED = 0x87
    ERROR = 0x88
    TOKEN_EXPIRING = 0x89
    TOKEN_REFRESHED = 0x8A
    RESUMED = 0x8B
    RING_MAPPED = 0x8E
    LANE = 0x8C


class ErrorCode(IntEnum):
    MALFORMED_FRAME = 1
    FRAME_TOO_LARGE = 2
    UNKNOWN_FRAME_TYPE = 3
    HELLO_REQUIRED = 4
    UNEXPECTED_FRAME = 5
    UNSUPPORTED_VERSION = 6
    HANDSHAKE_TIMEOUT = 7
    IDLE_TIMEOUT = 8
    TOO_MANY_CONNECTIONS = 9
    AUTH_FAILED = 10
    TOKEN_INVALID = 11
    TOKEN_SIGNATURE_INVALID = 12
    TOKEN_EXPIRED = 13
    TOKEN_NOT_YET_VALID = 14
    KEY_REVOKED = 15
    STREAM_NOT_FOUND = 100
    NOT_SUBSCRIBED = 101
    ALREADY_SUBSCRIBED = 102
    TOO_MANY_SUBSCRIPTIONS = 103
    PAYLOAD_TOO_LARGE = 104
    INVALID_PAYLOAD = 105
    INVALID_STREAM_NAME = 106
    RATE_LIMITED = 107
    RESUME_AHEAD = 108
    SERVICE_NOT_GRANTED = 112
    SUBSCRIBE_NOT_GRANTED = 113
    PUBLISH_NOT_GRANTED = 114
    REFRESH_REFUSED = 115
    SHARED_MEMORY_UNAVAILABLE = 120
    NOT_MAPPED = 121


class DropReason(IntEnum):
    SLOW_CONSUMER = 1
    LAPPED = 2
    #: Version 2: a resume asked for messages the stream's ring no longer held.
    NOT_RETAINED = 3
    #: Version 3: a loss found in a mapped ring (never sent by the server; see protocol.md §4.19).
    RING_LAPPED = 5


class ResumeOutcome(IntEnum):
    """RESUMED ``outcome``: the same server run, or a restarted sequence space."""

    CONTINUED = 1
    RESTARTED = 2


class EndReason(IntEnum):
    DELETED = 1
    EXPIRED = 2
    SHUTDOWN = 3
    TOKEN_EXPIRED = 13
    KEY_REVOKED = 15


#: Frame types each side may send (PING and PONG go both ways).
SERVER_TO_CLIENT: FrozenSet[int] = frozenset(t for t in FrameType if t >= 0x81) | {FrameType.PING, FrameType.PONG}
CLIENT_TO_SERVER: FrozenSet[int] = frozenset(t for t in FrameType if t < 0x81)

#: Flag bits each type defines; any other bit set is MALFORMED_FRAME.
_FLAG_MASKS: Dict[int, int] = {t: 0 for t in FrameType}
_FLAG_MASKS.update({FrameType.SUBSCRIBE: 1, FrameType.SUBSCRIBED: 1, FrameType.PUBLISH: 1, FrameType.ERROR: 1})
_MASK_BY_TYPE: List[int] = [-1] * 256
for _type, _mask in _FLAG_MASKS.items():
    _MASK_BY_TYPE[_type] = _mask

_HEADER = struct.Struct(">IBBH")
_U16 = struct.Struct(">H")
_U32 = struct.Struct(">I")
_U64 = struct.Struct(">Q")
_MESSAGE_HEAD = struct.Struct(">IQ")


def error_name(code: int) -> str:
    """``STREAM_NOT_FOUND`` for 100; ``UNKNOWN`` for a code this version does not define."""
    try:
        return ErrorCode(code).name
    except ValueError:
        return "UNKNOWN"


def reason_name(reason: int, *, ended: bool = False) -> str:
    """The name of a DROPPED (or, with ``ended``, STREAM_ENDED) reason; the number if unknown."""
    try:
        return (EndReason(reason) if ended else DropReason(reason)).name
    except ValueError:
        return str(reason)


def message_sid(sid_prefix: bytes, sequence: int) -> str:
    """The Twilio message sid: ``"TZ" + lowercase_hex(sid_prefix ‖ sequence as 8 bytes)``."""
    return "TZ" + sid_prefix.hex() + _U64.pack(sequence).hex()


# ---- frames ------------------------------------------------------------------------------------


def _str(text: str, limit: int, what: str) -> bytes:
    raw = text.encode("utf-8")
    if len(raw) > limit:
        raise ValueError(f"{what} is {len(raw)} bytes, above the limit of {limit}")
    return _U16.pack(len(raw)) + raw


def _frame(frame_type: int, flags: int, body: bytes) -> bytes:
    return _HEADER.pack(len(body), frame_type, flags, 0) + body


@dataclass
class Hello:
    TYPE: ClassVar[int] = FrameType.HELLO

    min_version: int
    max_version: int
    client_name: str
    token: str

    def encode(self) -> bytes:
        body = (
            struct.pack(">HH", self.min_version, self.max_version)
            + _str(self.client_name, MAX_CLIENT_NAME_BYTES, "client_name")
            + _str(self.token, MAX_TOKEN_BYTES, "token")
        )
        return _frame(FrameType.HELLO, 0, body)


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
        return _frame(FrameType.WELCOME, 0, head + _str(self.server_name, 0xFFFF, "server_name"))


@dataclass
class Subscribe:
    TYPE: ClassVar[int] = FrameType.SUBSCRIBE

    request_id: int
    stream: str
    attach_only: bool = False

    def encode(self) -> bytes:
        body = _U32.pack(self.request_id) + _str(self.stream, MAX_STREAM_NAME_BYTES, "stream")
        return _frame(FrameType.SUBSCRIBE, 1 if self.attach_only else 0, body)


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
        body = head + _str(self.stream_sid, 0xFFFF, "stream_sid") + _str(self.unique_name, 0xFFFF, "unique_name")
        return _frame(FrameType.SUBSCRIBED, 1 if self.attach_only else 0, body)


@dataclass
class Unsubscribe:
    TYPE: ClassVar[int] = FrameType.UNSUBSCRIBE

    request_id: int
    stream_id: int

    def encode(self) -> bytes:
        return _frame(FrameType.UNSUBSCRIBE, 0, struct.pack(">II", self.request_id, self.stream_id))


@dataclass
class Unsubscribed:
    TYPE: ClassVar[int] = FrameType.UNSUBSCRIBED

    request_id: int
    stream_id: int

    def encode(self) -> bytes:
        return _frame(FrameType.UNSUBSCRIBED, 0, struct.pack(">II", self.request_id, self.stream_id))


@dataclass
class Publish:
    TYPE: ClassVar[int] = FrameType.PUBLISH

    request_id: int
    stream_id: int
    payload: bytes
    ack: bool = False

    def encode(self) -> bytes:
        return encode_publish(self.request_id, self.stream_id, self.payload, self.ack)


def encode_publish(request_id: int, stream_id: int, payload: bytes, ack: bool) -> bytes:
    """A PUBLISH frame, built with one pack and one concatenation (the publisher's hot path)."""
    return _PUBLISH_HEAD.pack(len(payload) + 8, FrameType.PUBLISH, 1 if ack else 0, 0, request_id, stream_id) + payload


_PUBLISH_HEAD = struct.Struct(">IBBHII")


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
        return _frame(FrameType.PUBLISHED, 0, body)


class Message:
    """A MESSAGE: one message of a stream, as received.

    The connection attaches the subscription's stream (its sid and sid prefix) before handing the
    message out, so ``stream_sid`` and ``sid`` (the Twilio message sid) are available; a message
    decoded on its own has ``stream`` None and only the wire fields.
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
        return _frame(FrameType.DROPPED, 0, struct.pack(">IQB", self.stream_id, self.count, self.reason))


@dataclass
class StreamEndedFrame:
    TYPE: ClassVar[int] = FrameType.STREAM_ENDED

    stream_id: int
    reason: int

    def encode(self) -> bytes:
        return _frame(FrameType.STREAM_ENDED, 0, struct.pack(">IB", self.stream_id, self.reason))


@dataclass
class ErrorFrame:
    TYPE: ClassVar[int] = FrameType.ERROR

    request_id: int
    code: int
    message: str
    fatal: bool = False

    def encode(self) -> bytes:
        body = struct.pack(">IH", self.request_id, self.code) + _str(self.message, MAX_ERROR_MESSAGE_BYTES, "message")
        return _frame(FrameType.ERROR, 1 if self.fatal else 0, body)


@dataclass
class Resume:
    """RESUME (version 2): subscribe and continue after ``after_sequence`` seen under ``sid_prefix``."""

    TYPE: ClassVar[int] = FrameType.RESUME

    request_id: int
    sid_prefix: bytes
    after_sequence: int
    stream: str

    def encode(self) -> bytes:
        head = struct.pack(">I8sQ", self.request_id, self.sid_prefix, self.after_sequence)
        return _frame(FrameType.RESUME, 0, head + _str(self.stream, MAX_STREAM_NAME_BYTES, "stream"))


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
        return _frame(FrameType.RESUMED, 0, struct.pack(">IIB", self.request_id, self.stream_id, self.outcome))


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
        return _frame(FrameType.LANE, 0, body)


@dataclass
class Ping:
    TYPE: ClassVar[int] = FrameType.PING

    opaque: int

    def encode(self) -> bytes:
        return _frame(FrameType.PING, 0, _U64.pack(self.opaque))


@dataclass
class Pong:
    TYPE: ClassVar[int] = FrameType.PONG

    opaque: int

    def encode(self) -> bytes:
        return _frame(FrameType.PONG, 0, _U64.pack(self.opaque))


@dataclass
class RefreshToken:
    """Version 2: a new Access Token for a live connection (protocol.md §4.15)."""

    TYPE: ClassVar[int] = FrameType.REFRESH_TOKEN

    request_id: int
    token: str

    def encode(self) -> bytes:
        return _frame(
            FrameType.REFRESH_TOKEN, 0, _U32.pack(self.request_id) + _str(self.token, MAX_TOKEN_BYTES, "token")
        )


@dataclass
class TokenExpiring:
    """Version 2: the connection's Access Token expires at ``expires_at`` (Unix seconds)."""

    TYPE: ClassVar[int] = FrameType.TOKEN_EXPIRING

    expires_at: int
    remaining_ms: int

    def encode(self) -> bytes:
        return _frame(FrameType.TOKEN_EXPIRING, 0, struct.pack(">QI", self.expires_at, self.remaining_ms))


@dataclass
class TokenRefreshed:
    """Version 2: the answer to REFRESH_TOKEN, with the new token's ``exp``."""

    TYPE: ClassVar[int] = FrameType.TOKEN_REFRESHED

    request_id: int
    expires_at: int

    def encode(self) -> bytes:
        return _frame(FrameType.TOKEN_REFRESHED, 0, struct.pack(">IQ", self.request_id, self.expires_at))


@dataclass
class SubscribeShared:
    """SUBSCRIBE_SHARED (version 3): subscribe by mapping the stream's ring (Unix socket only)."""

    TYPE: ClassVar[int] = FrameType.SUBSCRIBE_SHARED

    request_id: int
    stream: str

    def encode(self) -> bytes:
        body = _U32.pack(self.request_id) + _str(self.stream, MAX_STREAM_NAME_BYTES, "stream")
        return _frame(FrameType.SUBSCRIBE_SHARED, 0, body)


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
        return _frame(FrameType.RING_MAPPED, 0, body)


@dataclass
class RingLoss:
    """RING_LOSS (version 3): messages a shared-memory reader lost to lapping."""

    TYPE: ClassVar[int] = FrameType.RING_LOSS

    request_id: int
    stream_id: int
    count: int

    def encode(self) -> bytes:
        return _frame(FrameType.RING_LOSS, 0, _IIQ.pack(self.request_id, self.stream_id, self.count))


_RING_MAPPED = struct.Struct(">IIIQQ")
_IIQ = struct.Struct(">IIQ")

Frame = Union[
    Hello,
    Welcome,
    Subscribe,
    Subscribed,
    Unsubscribe,
    Unsubscribed,
    Publish,
    Published,
    Message,
    Dropped,
    StreamEndedFrame,
    ErrorFrame,
    Ping,
    Pong,
    RefreshToken,
    TokenExpiring,
    TokenRefreshed,
    Resume,
    Resumed,
    SubscribeShared,
    RingMapped,
    RingLoss,
    Lane,
]


# ---- decoding ----------------------------------------------------------------------------------


class _Body:
    """Reads the fields of one body in order; any shortfall or leftover is MALFORMED_FRAME."""

    __slots__ = ("name", "offset", "view")

    def __init__(self, view: memoryview, name: str) -> None:
        self.view = view
        self.offset = 0
        self.name = name

    def unpack(self, layout: struct.Struct) -> Tuple[Any, ...]:
        if self.offset + layout.size > len(self.view):
            raise ProtocolError("body ends before its fields", code=1, frame=self.name)
        values = layout.unpack_from(self.view, self.offset)
        self.offset += layout.size
        return values

    def string(self, limit: int, field: str) -> str:
        (count,) = self.unpack(_U16)
        if count > limit:
            raise ProtocolError(f"{field} is {count} bytes, above {limit}", code=1, frame=self.name)
        end = self.offset + count
        if end > len(self.view):
            raise ProtocolError(f"{field} runs past the body", code=1, frame=self.name)
        raw = bytes(self.view[self.offset : end])
        self.offset = end
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError:
            raise ProtocolError(f"{field} is not UTF-8", code=1, frame=self.name) from None

    def rest(self) -> bytes:
        raw = bytes(self.view[self.offset :])
        self.offset = len(self.view)
        return raw

    def end(self) -> None:
        if self.offset != len(self.view):
            raise ProtocolError(f"{len(self.view) - self.offset} bytes after the last field", code=1, frame=self.name)


_HH = struct.Struct(">HH")
_WELCOME_HEAD = struct.Struct(">HIIII")
_SUBSCRIBED_HEAD = struct.Struct(">II8sQ")
_II = struct.Struct(">II")
_IQB = struct.Struct(">IQB")
_IB = struct.Struct(">IB")
_IH = struct.Struct(">IH")
_QI = struct.Struct(">QI")
_IQ = struct.Struct(">IQ")
_RESUME_HEAD = struct.Struct(">I8sQ")
_IIB = struct.Struct(">IIB")
_LANE = struct.Struct(">II8sQ")


def frame_name(frame_type: int) -> str:
    try:
        return FrameType(frame_type).name
    except ValueError:
        return f"type 0x{frame_type:02x}"


def decode_body(frame_type: int, flags: int, body: Union[bytes, memoryview]) -> Frame:
    """Decodes one frame body whose header was already checked (type known, flags allowed)."""
    reader = _Body(memoryview(body), frame_name(frame_type))
    frame: Frame
    if frame_type == FrameType.MESSAGE:
        stream_id, sequence = reader.unpack(_MESSAGE_HEAD)
        frame = Message(stream_id, sequence, reader.rest())
    elif frame_type == FrameType.DROPPED:
        frame = Dropped(*reader.unpack(_IQB))
    elif frame_type == FrameType.PUBLISHED:
        frame = Published(*reader.unpack(_SUBSCRIBED_HEAD))
    elif frame_type == FrameType.SUBSCRIBED:
        request_id, stream_id, prefix, next_sequence = reader.unpack(_SUBSCRIBED_HEAD)
        stream_sid = reader.string(0xFFFF, "stream_sid")
        unique_name = reader.string(0xFFFF, "unique_name")
        frame = Subscribed(request_id, stream_id, prefix, next_sequence, stream_sid, unique_name, bool(flags & 1))
    elif frame_type == FrameType.UNSUBSCRIBED:
        frame = Unsubscribed(*reader.unpack(_II))
    elif frame_type == FrameType.STREAM_ENDED:
        frame = StreamEndedFrame(*reader.unpack(_IB))
    elif frame_type == FrameType.ERROR:
        request_id, code = reader.unpack(_IH)
        frame = ErrorFrame(request_id, code, reader.string(MAX_ERROR_MESSAGE_BYTES, "message"), bool(flags & 1))
    elif frame_type == FrameType.PING:
        frame = Ping(reader.unpack(_U64)[0])
    elif frame_type == FrameType.PONG:
        frame = Pong(reader.unpack(_U64)[0])
    elif frame_type == FrameType.WELCOME:
        version, max_payload, max_frame_body, max_subscriptions, ping_ms = reader.unpack(_WELCOME_HEAD)
        server_name = reader.string(0xFFFF, "server_name")
        frame = Welcome(version, max_payload, max_frame_body, max_subscriptions, ping_ms, server_name)
    elif frame_type == FrameType.HELLO:
        low, high = reader.unpack(_HH)
        name = reader.string(MAX_CLIENT_NAME_BYTES, "client_name")
        frame = Hello(low, high, name, reader.string(MAX_TOKEN_BYTES, "token"))
    elif frame_type == FrameType.SUBSCRIBE:
        (request_id,) = reader.unpack(_U32)
        frame = Subscribe(request_id, reader.string(MAX_STREAM_NAME_BYTES, "stream"), bool(flags & 1))
    elif frame_type == FrameType.UNSUBSCRIBE:
        frame = Unsubscribe(*reader.unpack(_II))
    elif frame_type == FrameType.PUBLISH:
        request_id, stream_id = reader.unpack(_II)
        frame = Publish(request_id, stream_id, reader.rest(), bool(flags & 1))
    elif frame_type == FrameType.REFRESH_TOKEN:
        (request_id,) = reader.unpack(_U32)
        frame = RefreshToken(request_id, reader.string(MAX_TOKEN_BYTES, "token"))
    elif frame_type == FrameType.TOKEN_EXPIRING:
        frame = TokenExpiring(*reader.unpack(_QI))
    elif frame_type == FrameType.TOKEN_REFRESHED:
        frame = TokenRefreshed(*reader.unpack(_IQ))
    elif frame_type == FrameType.RESUMED:
        frame = Resumed(*reader.unpack(_IIB))
    elif frame_type == FrameType.LANE:
        frame = Lane(*reader.unpack(_LANE))
    elif frame_type == FrameType.RESUME:
        request_id, prefix, after = reader.unpack(_RESUME_HEAD)
        frame = Resume(request_id, prefix, after, reader.string(MAX_STREAM_NAME_BYTES, "stream"))
    elif frame_type == FrameType.RING_MAPPED:
        frame = RingMapped(*reader.unpack(_RING_MAPPED))
    elif frame_type == FrameType.SUBSCRIBE_SHARED:
        (request_id,) = reader.unpack(_U32)
        frame = SubscribeShared(request_id, reader.string(MAX_STREAM_NAME_BYTES, "stream"))
    elif frame_type == FrameType.RING_LOSS:
        frame = RingLoss(*reader.unpack(_IIQ))
    else:
        raise ProtocolError("not defined in versions 1 to 3", code=3, frame=reader.name)
    reader.end()
    return frame


class FrameParser:
    """Splits a byte stream into frames: :meth:`feed` each read, get every complete frame back.

    ``accept`` is the set of frame types this side may receive (a client: :data:`SERVER_TO_CLIENT`);
    a defined type from the other direction is UNEXPECTED_FRAME. ``max_frame_body`` may be raised
    once WELCOME announces the server's limit. A client's parser (``accept`` is
    :data:`SERVER_TO_CLIENT`) skips frames of server-to-client types it does not know and ignores
    unknown flag bits in server frames (protocol.md §5.1); ``skipped`` counts the frames skipped.
    """

    __slots__ = ("_accept", "_lenient", "_need", "_parts", "_parts_size", "error", "max_frame_body", "skipped")

    def __init__(self, max_frame_body: int = DEFAULT_MAX_FRAME_BODY, accept: FrozenSet[int] = SERVER_TO_CLIENT) -> None:
        self._lenient = accept == SERVER_TO_CLIENT
        self.skipped = 0
        self._parts: List[bytes] = []
        self._parts_size = 0
        self._need = 0
        self.max_frame_body = max_frame_body
        self._accept = accept
        #: The violation that stopped parsing, when it followed good frames in the same feed: those
        #: frames are returned first, and every later ``feed`` raises this.
        self.error: Optional[ProtocolError] = None

    @property
    def buffered(self) -> int:
        """Bytes of an incomplete frame waiting for the rest."""
        return self._parts_size

    def feed(self, data: Union[bytes, bytearray, memoryview]) -> List[Frame]:
        """Every frame completed by ``data``, in order.

        Raises ProtocolError on a bad frame, unless good frames came before it in this ``data``:
        then those are returned and :attr:`error` is set (the caller must stop after them).
        """
        if self.error is not None:
            raise self.error
        if self._parts:
            # The tail of the last read is an incomplete frame: collect reads until it is whole,
            # then join once (a large frame over many reads is copied once, not once per read).
            self._parts.append(bytes(data))
            self._parts_size += len(data)
            if self._parts_size < self._need:
                return []
            source = b"".join(self._parts)
            self._parts = []
            self._parts_size = 0
        else:
            source = data if type(data) is bytes else bytes(data)
        frames: List[Frame] = []
        try:
            consumed = self._parse(source, frames)
        except ProtocolError as error:
            self.error = error
            if not frames:
                raise
            return frames
        if consumed < len(source):
            rest = source[consumed:]
            self._parts = [rest]
            self._parts_size = len(rest)
            self._need = 8 + _U32.unpack_from(rest)[0] if len(rest) >= 8 else 8
        return frames

    def _parse(self, source: bytes, frames: List[Frame]) -> int:
        """Parses whole frames from ``source``; returns how many bytes they took.

        MESSAGE, the frame that matters for throughput, is parsed inline: one header unpack, one
        body unpack, one slice for the payload.
        """
        total = len(source)
        offset = 0
        limit = self.max_frame_body
        unpack_header = _HEADER.unpack_from
        unpack_message = _MESSAGE_HEAD.unpack_from
        append = frames.append
        while total - offset >= 8:
            length, frame_type, flags, reserved = unpack_header(source, offset)
            end = offset + 8 + length
            if frame_type == 0x85 and not flags and not reserved and 12 <= length <= limit:
                if end > total:
                    break
                stream_id, sequence = unpack_message(source, offset + 8)
                append(Message(stream_id, sequence, source[offset + 20 : end]))
                offset = end
                continue
            if self._lenient and length <= limit and frame_type >= 0x80 and not reserved:
                if _MASK_BY_TYPE[frame_type] < 0:
                    # An unknown server frame type (a newer version's): skip it by its length.
                    if end > total:
                        break
                    self.skipped += 1
                    offset = end
                    continue
                flags &= _MASK_BY_TYPE[frame_type]
            self._check_header(length, frame_type, flags, reserved, _MASK_BY_TYPE, self._accept, limit)
            if end > total:
                break
            append(decode_body(frame_type, flags, source[offset + 8 : end]))
            offset = end
        return offset

    @staticmethod
    def _check_header(
        length: int, frame_type: int, flags: int, reserved: int, masks: List[int], accept: FrozenSet[int], limit: int
    ) -> None:
        # protocol.md §2.2's order: length, type, reserved, flags; then direction.
        name = frame_name(frame_type)
        if length > limit:
            raise ProtocolError(f"length {length} above max_frame_body {limit}", code=2, frame=name)
        mask = masks[frame_type]
        if mask < 0:
            raise ProtocolError("not a defined frame type", code=3, frame=name)
        if reserved:
            raise ProtocolError(f"reserved bytes set (0x{reserved:04x})", code=1, frame=name)
        if flags & ~mask:
            raise ProtocolError(f"undefined flags set (0x{flags:02x})", code=1, frame=name)
        if frame_type not in accept:
            raise ProtocolError("sent in the wrong direction", code=5, frame=name)
