"""The command line: ``python -m tern_client sub NAME…`` and ``python -m tern_client pub NAME JSON``.

Same defaults and output as ``tern sub`` / ``tern pub``: the data port from ``--data``, else
``TERN_DATA``, else ``127.0.0.1:7400`` (a path or ``unix:PATH`` is a Unix socket); the token from
``--auth-token``, else ``TERN_AUTH_TOKEN``, else ``TWILIO_AUTH_TOKEN``. ``sub`` writes one JSON line
per message on stdout, ``{"stream":"TO…","sid":"TZ…","seq":N,"data":{…}}``, and notices
(subscribed, dropped, ended, error, and the reconnect notices) on stderr; it reconnects by itself.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from typing import Any, List, Optional, Sequence, Set

from .codec import Dropped, Message
from .connection import DEFAULT_ADDRESS, Connection
from .exceptions import StreamEnded, TernError
from .models import ConnectionState, Resubscribed
from .subscription import Subscription

_DROP_REASONS = {1: "slowConsumer", 2: "lapped", 3: "notRetained"}
_END_REASONS = {1: "deleted", 2: "expired", 3: "shutdown"}


def notice(text: str) -> None:
    sys.stderr.write(text + "\n")
    sys.stderr.flush()


def message_line(message: Message) -> bytes:
    """``{"stream":…,"sid":…,"seq":N,"data":<payload>}`` with raw line breaks turned into spaces."""
    payload = message.payload.replace(b"\n", b" ").replace(b"\r", b" ")
    head = f'{{"stream":"{message.stream_sid}","sid":"{message.sid}","seq":{message.sequence},"data":'
    return head.encode() + payload + b"}\n"


def _connection_options(args: argparse.Namespace, client_name: str) -> Connection:
    address = args.data or os.environ.get("TERN_DATA") or DEFAULT_ADDRESS
    token = args.auth_token or os.environ.get("TERN_AUTH_TOKEN") or os.environ.get("TWILIO_AUTH_TOKEN") or ""

    def on_state(state: ConnectionState, error: Optional[BaseException]) -> None:
        if state is ConnectionState.RECONNECTING:
            notice(f"disconnected: {error}; reconnecting")
        elif state is ConnectionState.CONNECTED and connection.reconnects:
            notice("reconnected")

    def on_error(error: TernError) -> None:
        notice(f"error: {error}")

    connection = Connection(
        address,
        token=token,
        client_name=client_name,
        on_state_change=on_state,
        on_error=on_error,
        reconnect_wait_max=args.reconnect_wait_max,
    )
    return connection


async def _sub(args: argparse.Namespace) -> int:
    out = sys.stdout.buffer
    received = 0
    done = asyncio.Event()

    async def drain(sub: Subscription) -> None:
        nonlocal received
        try:
            async for event in sub:
                if isinstance(event, Message):
                    out.write(message_line(event))
                    received += 1
                    if args.count is not None and received >= args.count:
                        done.set()
                        break
                elif isinstance(event, Dropped):
                    out.flush()
                    reason = _DROP_REASONS.get(event.reason, str(event.reason))
                    notice(f"dropped {sub.stream_sid} count={event.count} reason={reason}")
                elif isinstance(event, Resubscribed):
                    out.flush()
                    missed = "unknown" if event.missed is None else str(event.missed)
                    notice(
                        f"{'resumed' if event.resumed else 'resubscribed'} {event.stream.stream_sid} "
                        f"stream_id={event.stream.stream_id} "
                        f"next_seq={event.next_sequence} last_seq={event.last_sequence} "
                        f"restarted={'yes' if event.server_restarted else 'no'} missed={missed}"
                    )
                if not sub.pending():
                    out.flush()
        except StreamEnded as ended:
            out.flush()
            notice(f"ended {ended.stream_sid} reason={_END_REASONS.get(ended.reason, str(ended.reason))}")
        except TernError as error:
            out.flush()
            notice(f"error {error}")
            raise

    async with _connection_options(args, "tern sub (python)") as connection:
        subs: List[Subscription] = []
        for name in args.streams:
            sub = await connection.subscribe(name)
            subs.append(sub)
            named = f" ({sub.info.unique_name})" if sub.info.unique_name else ""
            notice(f"subscribed {sub.stream_sid}{named} stream_id={sub.stream_id} next_seq={sub.next_sequence}")
        tasks = [asyncio.ensure_future(drain(sub)) for sub in subs]
        all_ended: asyncio.Future[List[None]] = asyncio.gather(*tasks)
        waiter: asyncio.Future[bool] = asyncio.ensure_future(done.wait())
        watched: Set[asyncio.Future[Any]] = {all_ended, waiter}
        try:
            await asyncio.wait(watched, timeout=args.timeout, return_when=asyncio.FIRST_COMPLETED)
            ended = all_ended.done() and not all_ended.cancelled()
            failed = ended and all_ended.exception() is not None
        finally:
            waiter.cancel()
            for task in tasks:
                task.cancel()
            out.flush()
        if failed:
            return 1
    if args.count is not None and received < args.count and not ended:
        notice(f"timed out with {received} of {args.count} messages")
        return 1
    return 0


async def _pub(args: argparse.Namespace) -> int:
    async with _connection_options(args, "tern pub (python)") as connection:
        publisher = await connection.attach(args.stream)
        for _ in range(args.count):
            result = await publisher.publish(args.json, ack=True)
            if result is not None:
                sys.stdout.write(result.sid + "\n")
        sys.stdout.flush()
    return 0


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m tern_client", description="Tern data-port client.")
    commands = parser.add_subparsers(dest="command", required=True)

    def common(sub: argparse.ArgumentParser) -> None:
        sub.add_argument("--data", help="HOST:PORT or a Unix socket path (env TERN_DATA; default 127.0.0.1:7400)")
        sub.add_argument("--auth-token", help="token for HELLO (env TERN_AUTH_TOKEN, else TWILIO_AUTH_TOKEN)")
        sub.add_argument("--reconnect-wait-max", type=float, default=5.0, help=argparse.SUPPRESS)

    sub = commands.add_parser("sub", help="subscribe; prints each message as one JSON line")
    common(sub)
    sub.add_argument("streams", nargs="+", help="stream sids (TO…) or unique names")
    sub.add_argument("--count", type=int, help="exit after this many messages (over all streams)")
    sub.add_argument("--timeout", type=float, help="exit after this many seconds")

    pub = commands.add_parser("pub", help="publish a JSON object; prints each message sid")
    common(pub)
    pub.add_argument("stream", help="stream sid (TO…) or unique name")
    pub.add_argument("json", help="the message, a JSON object, e.g. '{\"px\":1}'")
    pub.add_argument("--count", type=int, default=1, help="how many times to publish it")
    return parser


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if args.command == "sub":
        if args.count is not None and args.count < 1:
            parser.error("--count must be at least 1")
        if args.timeout is not None and args.timeout <= 0:
            parser.error("--timeout must be positive")
    elif args.count < 1:
        parser.error("--count must be at least 1")
    try:
        return asyncio.run(_sub(args) if args.command == "sub" else _pub(args))
    except TernError as error:
        notice(f"error: {error}")
        return 1
    except KeyboardInterrupt:
        return 130
