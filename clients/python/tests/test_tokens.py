"""Access Tokens from the Python client: HELLO with a token, TOKEN_EXPIRING, refresh_token."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import time
from typing import Any, Dict, List, Optional, Tuple

import pytest

from conftest import Ternd
from tern_client import Connection, ConnectionState, Message, ServerError, StreamEnded, connect
from tern_client.codec import TokenExpiring
from tern_client.sync import Connection as SyncConnection


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def mint(
    ternd: Ternd,
    key: Tuple[str, str],
    identity: str = "py-worker",
    ttl: int = 60,
    streams: Optional[Dict[str, List[str]]] = None,
) -> str:
    """An Access Token as Twilio's helper library mints one (AccessToken + SyncGrant), with Tern's
    ``tern_streams`` grant when ``streams`` is given."""
    now = int(time.time())
    header = {"alg": "HS256", "typ": "JWT", "cty": "twilio-fpa;v=1"}
    payload: Dict[str, Any] = {
        "jti": f"{key[0]}-{now}",
        "grants": {"identity": identity, "data_sync": {"service_sid": ternd.service}},
        "iss": key[0],
        "sub": ternd.account,
        "nbf": now,
        "exp": now + ttl,
    }
    if streams is not None:
        payload["grants"]["tern_streams"] = streams
    signing_input = _b64(json.dumps(header).encode()) + "." + _b64(json.dumps(payload).encode())
    signature = hmac.new(key[1].encode(), signing_input.encode(), hashlib.sha256).digest()
    return signing_input + "." + _b64(signature)


def create_key(ternd: Ternd) -> Tuple[str, str]:
    created = ternd.rest("POST", f"/2010-04-01/Accounts/{ternd.account}/Keys.json", {"FriendlyName": "py"})
    return created["sid"], created["secret"]


async def test_refresh_keeps_the_subscription_past_the_old_expiry(token_ternd: Ternd) -> None:
    key = create_key(token_ternd)
    name = token_ternd.create_stream()
    warnings: List[TokenExpiring] = []
    warned = asyncio.Event()

    def on_token_expiring(frame: TokenExpiring) -> None:
        warnings.append(frame)
        warned.set()

    async with Connection.open(token_ternd.data, token=mint(token_ternd, key, ttl=3), reconnect=False,
                               on_token_expiring=on_token_expiring) as conn:  # fmt: skip
        assert conn.welcome is not None and conn.welcome.version == 3
        sub = await conn.subscribe(name)
        await asyncio.wait_for(warned.wait(), 5)
        assert len(warnings) == 1 and warnings[0].remaining_ms <= 2000
        with pytest.raises(ServerError) as refused:
            await conn.refresh_token(mint(token_ternd, (key[0], "wrong secret")))
        assert refused.value.code == 12 and not refused.value.fatal
        expires_at = await conn.refresh_token(mint(token_ternd, key, ttl=60))
        assert expires_at >= int(time.time()) + 55
        await asyncio.sleep(2.5)
        token_ternd.publish_rest(name, '{"after": "refresh"}')
        event = await asyncio.wait_for(sub.__anext__(), 5)
        assert isinstance(event, Message) and event.json() == {"after": "refresh"}


async def test_without_refresh_the_connection_ends_with_token_expired(token_ternd: Ternd) -> None:
    key = create_key(token_ternd)
    closed = asyncio.Event()

    def on_state_change(state: ConnectionState, error: Optional[BaseException]) -> None:
        if state is ConnectionState.CLOSED:
            closed.set()

    conn = await connect(token_ternd.data, token=mint(token_ternd, key, ttl=2), reconnect=False,
                         on_state_change=on_state_change)  # fmt: skip
    try:
        sub = await conn.subscribe(token_ternd.create_stream())
        with pytest.raises(StreamEnded) as ended:
            await asyncio.wait_for(sub.__anext__(), 6)
        assert ended.value.reason == 13  # TOKEN_EXPIRED
        await asyncio.wait_for(closed.wait(), 3)
    finally:
        await conn.close()


def test_blocking_connection_refreshes_its_token(token_ternd: Ternd) -> None:
    key = create_key(token_ternd)
    name = token_ternd.create_stream()
    with SyncConnection(token_ternd.data, token=mint(token_ternd, key, ttl=60), reconnect=False) as conn:
        sub = conn.subscribe(name)
        expires_at = conn.refresh_token(mint(token_ternd, key, ttl=120))
        assert expires_at >= int(time.time()) + 115
        token_ternd.publish_rest(name, '{"n": 1}')
        event = sub.next(timeout=5)
        assert isinstance(event, Message) and event.json() == {"n": 1}
