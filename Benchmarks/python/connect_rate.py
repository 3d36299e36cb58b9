"""Data-port connection setup rate: HELLO with an Access Token against HELLO with the auth token.

    # against a running ternd --auth required (an API key is created over REST):
    python Benchmarks/python/connect_rate.py --data 127.0.0.1:7400 --control http://127.0.0.1:7480 \\
        --account AC… --auth-token … --connections 10000

Each connection: connect, HELLO, wait for WELCOME, close (with RST, so no TIME_WAIT piles up).
``--processes`` clients run at once, each doing its share in a loop. Prints connections per second
for each kind of token. Bounded by ``--connections`` and ``--seconds``. Not run by the tests.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import hmac
import json
import multiprocessing
import socket
import struct
import time
import urllib.parse
import urllib.request
from typing import Any, Dict, List, Tuple


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def mint(account: str, key_sid: str, secret: str, service: str, ttl: int = 3600) -> str:
    """An Access Token as Twilio's helper library mints one (AccessToken + SyncGrant)."""
    now = int(time.time())
    header = {"alg": "HS256", "typ": "JWT", "cty": "twilio-fpa;v=1"}
    payload = {
        "jti": f"{key_sid}-{now}",
        "grants": {"identity": "bench", "data_sync": {"service_sid": service}},
        "iss": key_sid,
        "sub": account,
        "nbf": now,
        "exp": now + ttl,
    }
    signing_input = _b64(json.dumps(header).encode()) + "." + _b64(json.dumps(payload).encode())
    return signing_input + "." + _b64(hmac.new(secret.encode(), signing_input.encode(), hashlib.sha256).digest())


def hello(token: str) -> bytes:
    raw = token.encode()
    body = struct.pack(">HHH", 1, 2, 5) + b"bench" + struct.pack(">H", len(raw)) + raw
    return struct.pack(">IBBH", len(body), 0x01, 0, 0) + body


def worker(args: Tuple[str, int, bytes, int, float]) -> int:
    host, port, frame, count, deadline = args
    done = 0
    linger = struct.pack("ii", 1, 0)
    while done < count and time.time() < deadline:
        sock = socket.create_connection((host, port))
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, linger)
        sock.sendall(frame)
        answer = sock.recv(64)
        if len(answer) < 5 or answer[4] != 0x81:
            raise RuntimeError(f"no WELCOME: {answer!r}")
        sock.close()
        done += 1
    return done


def measure(host: str, port: int, token: str, connections: int, processes: int, seconds: float) -> float:
    frame = hello(token)
    deadline = time.time() + seconds
    share = connections // processes
    started = time.perf_counter()
    with multiprocessing.Pool(processes) as pool:
        done = sum(pool.map(worker, [(host, port, frame, share, deadline)] * processes))
    return done / (time.perf_counter() - started)


def rest(control: str, account: str, auth_token: str, method: str, path: str, form: Dict[str, str]) -> Any:
    request = urllib.request.Request(control + path, data=urllib.parse.urlencode(form).encode(), method=method)
    basic = base64.b64encode(f"{account}:{auth_token}".encode()).decode()
    request.add_header("Authorization", "Basic " + basic)
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", default="127.0.0.1:7400")
    parser.add_argument("--control", default="http://127.0.0.1:7480")
    parser.add_argument("--account", required=True)
    parser.add_argument("--auth-token", required=True)
    parser.add_argument("--connections", type=int, default=10000)
    parser.add_argument("--processes", type=int, default=2)
    parser.add_argument("--seconds", type=float, default=30.0, help="upper bound per kind of token")
    args = parser.parse_args()
    host, port = args.data.rsplit(":", 1)
    services: List[Dict[str, Any]] = rest(args.control, args.account, args.auth_token, "GET", "/v1/Services", {})[
        "services"
    ]
    key = rest(args.control, args.account, args.auth_token, "POST", f"/2010-04-01/Accounts/{args.account}/Keys.json", {
        "FriendlyName": "connect_rate"
    })  # fmt: skip
    access_token = mint(args.account, key["sid"], key["secret"], services[0]["sid"])
    for name, token in (("auth token", args.auth_token), ("access token", access_token)):
        rate = measure(host, int(port), token, args.connections, args.processes, args.seconds)
        print(f"{name:>12}: {rate:,.0f} connections/s ({args.connections} connections, {args.processes} processes)")


if __name__ == "__main__":
    main()
