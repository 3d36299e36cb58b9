"""Every exception the client raises, in one small hierarchy.

::

    TernError
    ├── ConnectError             could not open the socket or finish the handshake
    ├── ConnectionLostError      the connection broke (also: server vanished mid-frame)
    ├── ConnectionClosedError    used after close()
    ├── RequestTimeoutError      a wait ran past its timeout (also a TimeoutError)
    ├── ProtocolError            the server sent a frame that breaks protocol.md
    ├── StreamEnded              the subscription's stream ended (reason: DELETED, EXPIRED, SHUTDOWN)
    └── ServerError              an ERROR frame (``code``, ``message``, ``request_id``)
        ├── FatalServerError     codes 1-99: the server closed the connection
        │   ├── AuthFailedError, UnsupportedVersionError, TooManyConnectionsError
        └── RequestError         codes 100 and up: one request failed, the connection stays
            ├── StreamNotFoundError, NotSubscribedError, AlreadySubscribedError,
            ├── TooManySubscriptionsError, PayloadTooLargeError, InvalidPayloadError,
            └── InvalidStreamNameError, RateLimitedError, ResumeAheadError

Limits announced in WELCOME are checked before sending: a payload over ``max_payload`` raises
:class:`PayloadTooLargeError` locally (``local`` is true, ``request_id`` 0), the same class the
server's refusal would give.
"""

from __future__ import annotations

from typing import Dict, Optional, Type

__all__ = [
    "AlreadySubscribedError",
    "AuthFailedError",
    "ConnectError",
    "ConnectionClosedError",
    "ConnectionLostError",
    "FatalServerError",
    "InvalidPayloadError",
    "InvalidStreamNameError",
    "NotSubscribedError",
    "PayloadTooLargeError",
    "ProtocolError",
    "RateLimitedError",
    "RequestError",
    "RequestTimeoutError",
    "ResumeAheadError",
    "ServerError",
    "StreamEnded",
    "StreamNotFoundError",
    "TernError",
    "TooManyConnectionsError",
    "TooManySubscriptionsError",
    "UnsupportedVersionError",
    "server_error",
]


class TernError(Exception):
    """Base of every error this package raises."""


class ConnectError(TernError):
    """The socket could not be opened, or the HELLO/WELCOME handshake did not complete."""


class ConnectionLostError(TernError):
    """The connection broke: EOF or a socket error, also in the middle of a frame."""


class ConnectionClosedError(TernError):
    """The connection (or subscription) was closed by this client."""


class RequestTimeoutError(TernError, TimeoutError):
    """A wait for the server ran past its timeout."""


class ProtocolError(TernError):
    """The server sent bytes that break protocol.md; the connection is closed.

    ``code`` is the protocol's error code for the violation (1 MALFORMED_FRAME, 2 FRAME_TOO_LARGE,
    3 UNKNOWN_FRAME_TYPE, 5 UNEXPECTED_FRAME) and ``frame`` names the offending frame type.
    """

    def __init__(self, message: str, *, code: int = 1, frame: str = "?") -> None:
        super().__init__(f"{frame}: {message}")
        self.code = code
        self.frame = frame


class StreamEnded(TernError):
    """The subscription's stream ended; raised when iteration reaches the end of the stream.

    ``reason`` is 1 DELETED, 2 EXPIRED or 3 SHUTDOWN (see :class:`tern_client.EndReason`).
    """

    def __init__(self, stream_sid: str, reason: int) -> None:
        from .codec import reason_name

        super().__init__(f"stream {stream_sid} ended: {reason_name(reason, ended=True)}")
        self.stream_sid = stream_sid
        self.reason = reason


class ServerError(TernError):
    """An ERROR frame from the server."""

    #: The protocol error code this class stands for (0 for the generic classes).
    CODE = 0

    def __init__(
        self, code: int, message: str, *, request_id: int = 0, fatal: bool = False, local: bool = False
    ) -> None:
        from .codec import error_name

        super().__init__(f"{error_name(code)} ({code}): {message}")
        self.code = code
        self.message = message
        self.request_id = request_id
        self.fatal = fatal
        #: True when the client refused the request itself (a limit from WELCOME), without sending it.
        self.local = local


class FatalServerError(ServerError):
    """A connection-level error (codes 1-99, or FATAL set): the server closed the connection."""


class AuthFailedError(FatalServerError):
    CODE = 10


class UnsupportedVersionError(FatalServerError):
    CODE = 6


class TooManyConnectionsError(FatalServerError):
    CODE = 9


class RequestError(ServerError):
    """A request-level error (codes 100 and up): the request failed, the connection stays open."""


class StreamNotFoundError(RequestError):
    CODE = 100


class NotSubscribedError(RequestError):
    CODE = 101


class AlreadySubscribedError(RequestError):
    CODE = 102


class TooManySubscriptionsError(RequestError):
    CODE = 103


class PayloadTooLargeError(RequestError):
    CODE = 104


class InvalidPayloadError(RequestError):
    CODE = 105


class InvalidStreamNameError(RequestError):
    CODE = 106


class RateLimitedError(RequestError):
    CODE = 107


class ResumeAheadError(RequestError):
    """RESUME named a sequence the stream has not reached (protocol version 2)."""

    CODE = 108


_BY_CODE: Dict[int, Type[ServerError]] = {
    cls.CODE: cls
    for cls in (
        AuthFailedError,
        UnsupportedVersionError,
        TooManyConnectionsError,
        StreamNotFoundError,
        NotSubscribedError,
        AlreadySubscribedError,
        TooManySubscriptionsError,
        PayloadTooLargeError,
        InvalidPayloadError,
        InvalidStreamNameError,
        RateLimitedError,
        ResumeAheadError,
    )
}


def server_error(code: int, message: str, *, request_id: int = 0, fatal: bool = False) -> ServerError:
    """The exception for an ERROR frame: its precise class when the code is known.

    An unknown code is request-level unless ``fatal`` is set (protocol.md section 5).
    """
    cls: Optional[Type[ServerError]] = _BY_CODE.get(code)
    if 11 <= code <= 15 and not fatal:
        # The token codes answer a REFRESH_TOKEN without FATAL: the connection stays (§4.15).
        return RequestError(code, message, request_id=request_id, fatal=False)
    if cls is None or (fatal and not issubclass(cls, FatalServerError)):
        cls = FatalServerError if fatal or 1 <= code <= 99 else RequestError
    return cls(code, message, request_id=request_id, fatal=fatal or issubclass(cls, FatalServerError))
