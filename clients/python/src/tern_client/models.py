"""What the API hands out besides frames: stream identity, events, publish results, states."""

from __future__ import annotations

import os
from dataclasses import dataclass
from enum import Enum
from typing import Optional, Tuple, Union

from .codec import Dropped, Message, message_sid

__all__ = [
    "Address",
    "ConnectionState",
    "Event",
    "PublishResult",
    "Resubscribed",
    "StreamInfo",
    "parse_address",
]


@dataclass(frozen=True)
class StreamInfo:
    """A subscription's stream as the server described it in SUBSCRIBED.

    ``stream_id`` and ``sid_prefix`` belong to one server run: after a reconnect they may change
    (a new ``sid_prefix`` means the daemon restarted).
    """

    stream_sid: str
    unique_name: str
    stream_id: int
    sid_prefix: bytes

    def message_sid(self, sequence: int) -> str:
        return message_sid(self.sid_prefix, sequence)


@dataclass(frozen=True)
class Resubscribed:
    """Yielded by a subscription after the client reconnected and subscribed again (or first, for
    ``subscribe(name, after=sid)``).

    With protocol version 2 (``resumed`` true) the server replays what it still holds after
    ``last_sequence``: ``missed`` is 0 and what it no longer held follows as a
    :class:`~tern_client.Dropped` with reason NOT_RETAINED (3), exactly counted. With version 1
    messages published while the client was away are not delivered: ``missed`` is how many
    (``next_sequence - last_sequence - 1``, where messages a ``Dropped`` already counted are not
    counted again). Either way ``missed`` is None when the daemon
    restarted (``server_restarted``: the stream's sid prefix changed, sequences started over,
    and what the old run published after ``last_sequence`` cannot be counted); after a resume,
    this run's messages are then replayed from sequence 1.
    """

    stream: StreamInfo
    #: The last sequence received before the connection broke (0: none yet).
    last_sequence: int
    #: The sequence of the first message the new subscription can receive.
    next_sequence: int
    server_restarted: bool
    #: Messages lost that no Dropped event counts: None when unknown (a restart).
    missed: Optional[int]
    #: True when the server resumed the subscription (RESUME, protocol version 2).
    resumed: bool = False

    @property
    def possible_gap(self) -> bool:
        return self.server_restarted or bool(self.missed)


#: What iterating a subscription yields.
Event = Union[Message, Dropped, Resubscribed]


@dataclass(frozen=True)
class PublishResult:
    """An acknowledged publish: the message's sequence and Twilio message sid."""

    stream: StreamInfo
    sequence: int

    @property
    def sid(self) -> str:
        return self.stream.message_sid(self.sequence)


class ConnectionState(Enum):
    CONNECTING = "connecting"
    CONNECTED = "connected"
    RECONNECTING = "reconnecting"
    CLOSED = "closed"


#: ``("tcp", (host, port))`` or ``("unix", path)``.
Address = Tuple[str, Union[Tuple[str, int], str]]


def parse_address(text: str) -> Address:
    """``host:port``, ``[v6]:port``, ``unix:PATH``, or a path (anything with a ``/``), as ``tern``."""
    if text.startswith("unix:"):
        return ("unix", text[5:])
    if "/" in text or os.sep in text:
        return ("unix", text)
    host, colon, port = text.rpartition(":")
    if not colon or not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(f"expected HOST:PORT or a socket path, got {text!r}")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    if not host:
        raise ValueError(f"missing host in {text!r}")
    return ("tcp", (host, int(port)))
