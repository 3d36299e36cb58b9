"""The frames a client sends (protocol.md §4; PING and PONG go both ways), each with ``encode``."""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import ClassVar

from ._wire import (
    MAX_CLIENT_NAME_BYTES,
    MAX_STREAM_NAME_BYTES,
    MAX_TOKEN_BYTES,
    U32,
    U64,
    FrameType,
    encode_str,
    frame_bytes,
)


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
            + encode_str(self.client_name, MAX_CLIENT_NAME_BYTES, "client_name")
            + encode_str(self.token, MAX_TOKEN_BYTES, "token")
        )
        return frame_bytes(FrameType.HELLO, 0, body)


@dataclass
class Subscribe:
    TYPE: ClassVar[int] = FrameType.SUBSCRIBE

    request_id: int
    stream: str
    attach_only: bool = False

    def encode(self) -> bytes:
        body = U32.pack(self.request_id) + encode_str(self.stream, MAX_STREAM_NAME_BYTES, "stream")
        return frame_bytes(FrameType.SUBSCRIBE, 1 if self.attach_only else 0, body)


@dataclass
class Unsubscribe:
    TYPE: ClassVar[int] = FrameType.UNSUBSCRIBE

    request_id: int
    stream_id: int

    def encode(self) -> bytes:
        return frame_bytes(FrameType.UNSUBSCRIBE, 0, struct.pack(">II", self.request_id, self.stream_id))


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
class Resume:
    """RESUME (version 2): subscribe and continue after ``after_sequence`` seen under ``sid_prefix``."""

    TYPE: ClassVar[int] = FrameType.RESUME

    request_id: int
    sid_prefix: bytes
    after_sequence: int
    stream: str

    def encode(self) -> bytes:
        head = struct.pack(">I8sQ", self.request_id, self.sid_prefix, self.after_sequence)
        return frame_bytes(FrameType.RESUME, 0, head + encode_str(self.stream, MAX_STREAM_NAME_BYTES, "stream"))


@dataclass
class Ping:
    TYPE: ClassVar[int] = FrameType.PING

    opaque: int

    def encode(self) -> bytes:
        return frame_bytes(FrameType.PING, 0, U64.pack(self.opaque))


@dataclass
class Pong:
    TYPE: ClassVar[int] = FrameType.PONG

    opaque: int

    def encode(self) -> bytes:
        return frame_bytes(FrameType.PONG, 0, U64.pack(self.opaque))


@dataclass
class RefreshToken:
    """Version 2: a new Access Token for a live connection (protocol.md §4.15)."""

    TYPE: ClassVar[int] = FrameType.REFRESH_TOKEN

    request_id: int
    token: str

    def encode(self) -> bytes:
        return frame_bytes(
            FrameType.REFRESH_TOKEN, 0, U32.pack(self.request_id) + encode_str(self.token, MAX_TOKEN_BYTES, "token")
        )


@dataclass
class SubscribeShared:
    """SUBSCRIBE_SHARED (version 3): subscribe by mapping the stream's ring (Unix socket only)."""

    TYPE: ClassVar[int] = FrameType.SUBSCRIBE_SHARED

    request_id: int
    stream: str

    def encode(self) -> bytes:
        body = U32.pack(self.request_id) + encode_str(self.stream, MAX_STREAM_NAME_BYTES, "stream")
        return frame_bytes(FrameType.SUBSCRIBE_SHARED, 0, body)


@dataclass
class RingLoss:
    """RING_LOSS (version 3): messages a shared-memory reader lost to lapping."""

    TYPE: ClassVar[int] = FrameType.RING_LOSS

    request_id: int
    stream_id: int
    count: int

    def encode(self) -> bytes:
        return frame_bytes(FrameType.RING_LOSS, 0, _IIQ.pack(self.request_id, self.stream_id, self.count))


_IIQ = struct.Struct(">IIQ")
