"""Receive throughput of one Python subscriber (tern_client), at 64 B and 1 KiB payloads.

    # against a running ternd (a stream is created over REST), publisher = `tern bench fanout`:
    python Benchmarks/python/receive.py --data 127.0.0.1:7400 --control http://127.0.0.1:7480
    # a Python publisher instead (slower; it may be the bottleneck):
    python Benchmarks/python/receive.py --publisher python
    # the codec alone, no server: FrameParser over pre-encoded MESSAGE frames
    python Benchmarks/python/receive.py --parse-only

Needs tern_client importable (``pip install -e clients/python``). Prints one line per payload size:
messages received per second by the Python subscriber (through the public ``async for``
iteration, including Message objects and sids), MB/s, and how many the server dropped for it.
Not run by the tests; do not run it while the machine is busy building.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import os
import shutil
import subprocess
import sys
import time
import urllib.parse
import urllib.request
import uuid
from typing import Any, Dict, Optional

from tern_client import Connection, Dropped, Message
from tern_client.codec import FrameParser

SIZES = (64, 1024)


def payload_of(size: int) -> bytes:
    """A JSON object of exactly ``size`` bytes."""
    base = b'{"pad":""}'
    return base[:-2] + b"x" * (size - len(base)) + base[-2:]


def rest(control: str, method: str, path: str, form: Optional[Dict[str, str]] = None) -> Any:
    data = urllib.parse.urlencode(form).encode() if form is not None else None
    request = urllib.request.Request(control + path, data=data, method=method)
    with urllib.request.urlopen(request, timeout=10) as response:
        body = response.read()
    return json.loads(body) if body else None


def first_service(control: str) -> str:
    return str(rest(control, "GET", "/v1/Services")["services"][0]["sid"])


def parse_only(count: int) -> None:
    for size in SIZES:
        frame = Message(1, 1, payload_of(size)).encode()
        chunk = frame * max(1, (256 << 10) // len(frame))  # 256 KiB reads, as a socket might give
        per_chunk = len(chunk) // len(frame)
        parser = FrameParser()
        reads = max(1, count // per_chunk)
        started = time.perf_counter()
        for _ in range(reads):
            parser.feed(chunk)
        elapsed = time.perf_counter() - started
        total = reads * per_chunk
        megabytes = total * len(frame) / elapsed / 1e6
        print(f"parse-only payload={size}B: {total / elapsed:,.0f} msgs/s ({megabytes:.0f} MB/s)")


def python_publisher(data: str, stream: str, size: int, duration: float) -> None:
    async def run() -> None:
        payload = payload_of(size)
        async with Connection.open(data) as conn:
            pub = await conn.attach(stream)
            end = time.monotonic() + duration
            while time.monotonic() < end:
                for _ in range(255):
                    await pub.publish(payload, ack=False)
                await pub.publish(payload, ack=True)

    asyncio.run(run())


async def receive(args: argparse.Namespace, size: int, service: str) -> None:
    stream = "bench-py-" + uuid.uuid4().hex[:8]
    rest(args.control, "POST", f"/v1/Services/{service}/Streams", {"UniqueName": stream})
    received = 0
    counted = 0
    dropped = 0
    async with Connection.open(args.data, max_pending=1 << 20) as conn:
        sub = await conn.subscribe(stream)
        publisher: Any
        if args.publisher == "tern":
            command = [
                args.tern, "bench", "fanout", "--data", args.data, "--control", args.control, "--service", service,
                "--subscribers", "1", "--latency-subscribers", "1", "--payload", str(size),
                "--duration", str(args.duration), "--stream", stream,
            ]  # fmt: skip
            # Started before measuring; the blocking spawn is fine here.
            publisher = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # noqa: ASYNC220
        else:
            publisher = multiprocessing.Process(
                target=python_publisher, args=(args.data, stream, size, args.duration), daemon=True
            )
            publisher.start()
        first: Optional[float] = None
        last = time.perf_counter()
        deadline = time.monotonic() + args.duration + 10
        while time.monotonic() < deadline:
            wait = 2.0 if first is not None else 10.0
            try:
                events = await sub.next_batch(4096, wait) if args.batch else [await sub.next(wait)]
            except TimeoutError:
                break
            messages = 0
            for event in events:
                if type(event) is Message:
                    messages += 1
                    _ = event.sid if messages & 1023 == 0 else None
                elif isinstance(event, Dropped):
                    dropped += event.count
            received += messages
            if first is None:
                first = time.perf_counter()  # the clock starts after the first arrival
            else:
                counted += messages
                last = time.perf_counter()
        if isinstance(publisher, subprocess.Popen):
            publisher.wait(timeout=30)
        else:
            publisher.join(timeout=30)
    elapsed = (last - first) if first is not None else 0.0
    rate = counted / elapsed if elapsed > 0 else 0.0
    print(
        f"receive payload={size}B publisher={args.publisher}{' batch' if args.batch else ''}: {rate:,.0f} msgs/s "
        f"({rate * size / 1e6:.1f} MB/s payload), received={received} dropped={dropped}"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", default=os.environ.get("TERN_DATA", "127.0.0.1:7400"))
    parser.add_argument("--control", default=os.environ.get("TERN_CONTROL", "http://127.0.0.1:7480"))
    parser.add_argument("--service", default=os.environ.get("TERN_SERVICE_SID"))
    parser.add_argument("--publisher", choices=["tern", "python"], default="tern")
    parser.add_argument("--tern", default=os.environ.get("TERN_BIN") or shutil.which("tern") or "tern")
    parser.add_argument("--duration", type=float, default=5.0)
    parser.add_argument("--batch", action="store_true", help="take events with next_batch() instead of next()")
    parser.add_argument("--parse-only", action="store_true")
    parser.add_argument("--count", type=int, default=2_000_000, help="messages for --parse-only")
    args = parser.parse_args()
    if args.parse_only:
        parse_only(args.count)
        return 0
    service = args.service or first_service(args.control)
    for size in SIZES:
        asyncio.run(receive(args, size, service))
    return 0


if __name__ == "__main__":
    sys.exit(main())
