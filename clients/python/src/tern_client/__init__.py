"""tern_client: the Python client for Tern's binary data port (protocol.md, versions 1 to 3).

Async core (:class:`Connection`), a blocking wrapper (:mod:`tern_client.sync`), the pure wire
codec (:mod:`tern_client.codec`) and the exceptions (:mod:`tern_client.exceptions`).
"""

from __future__ import annotations

from .codec import Dropped, DropReason, EndReason, ErrorCode, Message, ResumeOutcome
from .connection import DEFAULT_ADDRESS, Connection, connect
from .exceptions import (
    AlreadySubscribedError,
    AuthFailedError,
    ConnectError,
    ConnectionClosedError,
    ConnectionLostError,
    FatalServerError,
    InvalidPayloadError,
    InvalidStreamNameError,
    NotSubscribedError,
    PayloadTooLargeError,
    ProtocolError,
    RateLimitedError,
    RequestError,
    RequestTimeoutError,
    ResumeAheadError,
    ServerError,
    StreamEnded,
    StreamNotFoundError,
    TernError,
    TooManyConnectionsError,
    TooManySubscriptionsError,
    UnsupportedVersionError,
)
from .models import ConnectionState, Event, PublishResult, Resubscribed, StreamInfo
from .subscription import Subscription

__version__ = "0.1.0"

__all__ = [
    "DEFAULT_ADDRESS",
    "AlreadySubscribedError",
    "AuthFailedError",
    "ConnectError",
    "Connection",
    "ConnectionClosedError",
    "ConnectionLostError",
    "ConnectionState",
    "DropReason",
    "Dropped",
    "EndReason",
    "ErrorCode",
    "Event",
    "FatalServerError",
    "InvalidPayloadError",
    "InvalidStreamNameError",
    "Message",
    "NotSubscribedError",
    "PayloadTooLargeError",
    "ProtocolError",
    "PublishResult",
    "RateLimitedError",
    "RequestError",
    "RequestTimeoutError",
    "Resubscribed",
    "ResumeAheadError",
    "ResumeOutcome",
    "ServerError",
    "StreamEnded",
    "StreamInfo",
    "StreamNotFoundError",
    "Subscription",
    "TernError",
    "TooManyConnectionsError",
    "TooManySubscriptionsError",
    "UnsupportedVersionError",
    "connect",
]
