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

This module is the codec's public face; the work is done in ``_wire`` (versions, limits, types,
codes), ``_client_frames`` and ``_server_frames`` (one class per frame, with ``encode``) and
``_frame_parser`` (:func:`decode_body`, :class:`FrameParser`).
"""

from __future__ import annotations

from ._client_frames import (
    Hello,
    Ping,
    Pong,
    Publish,
    RefreshToken,
    Resume,
    RingLoss,
    Subscribe,
    SubscribeShared,
    Unsubscribe,
    encode_publish,
)
from ._frame_parser import Frame, FrameParser, decode_body
from ._server_frames import (
    Dropped,
    ErrorFrame,
    Lane,
    Message,
    Published,
    Resumed,
    RingMapped,
    StreamEndedFrame,
    Subscribed,
    TokenExpiring,
    TokenRefreshed,
    Unsubscribed,
    Welcome,
)
from ._wire import (
    CLIENT_TO_SERVER,
    DEFAULT_MAX_FRAME_BODY,
    HEADER_SIZE,
    MAX_CLIENT_NAME_BYTES,
    MAX_ERROR_MESSAGE_BYTES,
    MAX_STREAM_NAME_BYTES,
    MAX_STREAM_NAME_CHARACTERS,
    MAX_TOKEN_BYTES,
    MIN_PROTOCOL_VERSION,
    PROTOCOL_VERSION,
    SERVER_TO_CLIENT,
    DropReason,
    EndReason,
    ErrorCode,
    FrameType,
    ResumeOutcome,
    error_name,
    frame_name,
    message_sid,
    reason_name,
)

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
    "frame_name",
    "message_sid",
    "reason_name",
]
