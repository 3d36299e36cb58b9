"""Decoding: :func:`decode_body` for one frame body and :class:`FrameParser`, which splits a byte
stream into frames (protocol.md §2: header checks in the protocol's order, §5.1's leniency towards
newer servers). Pure: no I/O."""

from __future__ import annotations

import struct
from typing import Any, FrozenSet, List, Optional, Tuple, Union

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
)
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
    DEFAULT_MAX_FRAME_BODY,
    HEADER,
    MASK_BY_TYPE,
    MAX_CLIENT_NAME_BYTES,
    MAX_ERROR_MESSAGE_BYTES,
    MAX_STREAM_NAME_BYTES,
    MAX_TOKEN_BYTES,
    MESSAGE_HEAD,
    SERVER_TO_CLIENT,
    U16,
    U32,
    U64,
    FrameType,
    frame_name,
)
from .exceptions import ProtocolError

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
        (count,) = self.unpack(U16)
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
_RING_MAPPED = struct.Struct(">IIIQQ")
_IIQ = struct.Struct(">IIQ")
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


def decode_body(frame_type: int, flags: int, body: Union[bytes, memoryview]) -> Frame:
    """Decodes one frame body whose header was already checked (type known, flags allowed)."""
    reader = _Body(memoryview(body), frame_name(frame_type))
    frame: Frame
    if frame_type == FrameType.MESSAGE:
        stream_id, sequence = reader.unpack(MESSAGE_HEAD)
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
        frame = Ping(reader.unpack(U64)[0])
    elif frame_type == FrameType.PONG:
        frame = Pong(reader.unpack(U64)[0])
    elif frame_type == FrameType.WELCOME:
        version, max_payload, max_frame_body, max_subscriptions, ping_ms = reader.unpack(_WELCOME_HEAD)
        server_name = reader.string(0xFFFF, "server_name")
        frame = Welcome(version, max_payload, max_frame_body, max_subscriptions, ping_ms, server_name)
    elif frame_type == FrameType.HELLO:
        low, high = reader.unpack(_HH)
        name = reader.string(MAX_CLIENT_NAME_BYTES, "client_name")
        frame = Hello(low, high, name, reader.string(MAX_TOKEN_BYTES, "token"))
    elif frame_type == FrameType.SUBSCRIBE:
        (request_id,) = reader.unpack(U32)
        frame = Subscribe(request_id, reader.string(MAX_STREAM_NAME_BYTES, "stream"), bool(flags & 1))
    elif frame_type == FrameType.UNSUBSCRIBE:
        frame = Unsubscribe(*reader.unpack(_II))
    elif frame_type == FrameType.PUBLISH:
        request_id, stream_id = reader.unpack(_II)
        frame = Publish(request_id, stream_id, reader.rest(), bool(flags & 1))
    elif frame_type == FrameType.REFRESH_TOKEN:
        (request_id,) = reader.unpack(U32)
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
        (request_id,) = reader.unpack(U32)
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
            self._need = 8 + U32.unpack_from(rest)[0] if len(rest) >= 8 else 8
        return frames

    def _parse(self, source: bytes, frames: List[Frame]) -> int:
        """Parses whole frames from ``source``; returns how many bytes they took.

        MESSAGE, the frame that matters for throughput, is parsed inline: one header unpack, one
        body unpack, one slice for the payload.
        """
        total = len(source)
        offset = 0
        limit = self.max_frame_body
        unpack_header = HEADER.unpack_from
        unpack_message = MESSAGE_HEAD.unpack_from
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
                if MASK_BY_TYPE[frame_type] < 0:
                    # An unknown server frame type (a newer version's): skip it by its length.
                    if end > total:
                        break
                    self.skipped += 1
                    offset = end
                    continue
                flags &= MASK_BY_TYPE[frame_type]
            self._check_header(length, frame_type, flags, reserved, MASK_BY_TYPE, self._accept, limit)
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
