"""The wire's vocabulary (protocol.md §2 and §5): versions, limits, frame types, codes and
reasons, which flags each type allows, and the layout helpers every frame shares. Pure."""

from __future__ import annotations

import struct
from enum import IntEnum
from typing import Dict, FrozenSet, List

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
MASK_BY_TYPE: List[int] = [-1] * 256
for _type, _mask in _FLAG_MASKS.items():
    MASK_BY_TYPE[_type] = _mask

HEADER = struct.Struct(">IBBH")
U16 = struct.Struct(">H")
U32 = struct.Struct(">I")
U64 = struct.Struct(">Q")
MESSAGE_HEAD = struct.Struct(">IQ")


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
    return "TZ" + sid_prefix.hex() + U64.pack(sequence).hex()


def frame_name(frame_type: int) -> str:
    try:
        return FrameType(frame_type).name
    except ValueError:
        return f"type 0x{frame_type:02x}"


def encode_str(text: str, limit: int, what: str) -> bytes:
    raw = text.encode("utf-8")
    if len(raw) > limit:
        raise ValueError(f"{what} is {len(raw)} bytes, above the limit of {limit}")
    return U16.pack(len(raw)) + raw


def frame_bytes(frame_type: int, flags: int, body: bytes) -> bytes:
    return HEADER.pack(len(body), frame_type, flags, 0) + body
