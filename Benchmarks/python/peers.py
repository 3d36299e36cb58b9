"""The Python clients of Tern, NATS and Redis, side by side, in one run on one machine.

For each broker, with its usual Python client (tern_client, nats-py, redis-py asyncio), the same
JSON payloads of 64 B and 1 KiB:

- receive: one subscriber (this process, the broker's Python client) takes what a raw publisher
  process sends (pre-encoded frames or commands, 256 KiB per send, the same for every broker) as
  fast as its client can; messages per second from the first arrival to the last;
- publish without ack: one publisher, fire and forget, then one barrier (Tern PING, NATS flush,
  Redis pipeline reply) so every message counted was accepted;
- publish with ack: each publish awaited (Tern PUBLISH with ACK, NATS JetStream publish, Redis
  PUBLISH's reply);
- Tern only: resume of 10,000 messages (RESUME to the 10,000th replayed message received).

Run it through run-peers.sh (it makes the virtualenv). Every measurement lasts --duration seconds.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections.abc import Callable
from typing import Any

import nats
import redis.asyncio as aioredis

from tern_client import Connection, Message
from tern_client.codec import FrameParser, Hello, Resume, Subscribe, Subscribed, encode_publish

SIZES = (64, 1024)


def payload_of(size: int) -> bytes:
    base = b'{"pad":""}'
    return base[:-2] + b"x" * (size - len(base)) + base[-2:]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_port(port: int, timeout: float = 20) -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        try:
            socket.create_connection(("127.0.0.1", port), 0.2).close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"nothing listens on {port}")


class Servers:
    def __init__(self, state: str) -> None:
        self.state = state
        self.processes: list[subprocess.Popen[bytes]] = []
        self.tern_data = free_port()
        self.tern_control = free_port()
        self.nats = free_port()
        self.redis = free_port()

    def start(self) -> None:
        ternd = os.environ["TERND_BIN"]
        self._spawn([ternd, "--data-listen", f"127.0.0.1:{self.tern_data}", "--control-listen",
                     f"127.0.0.1:{self.tern_control}", "--unix-socket", "none", "--state-dir", self.state,
                     "--log-level", "warning"])  # fmt: skip
        self._spawn(["nats-server", "-a", "127.0.0.1", "-p", str(self.nats), "-js", "-sd", self.state + "/js"])
        redis_server = shutil.which("redis-server") or shutil.which("valkey-server") or "redis-server"
        self._spawn([redis_server, "--port", str(self.redis), "--bind", "127.0.0.1", "--save", "", "--appendonly",
                     "no", "--client-output-buffer-limit", "pubsub 0 0 0"])  # fmt: skip
        for port in (self.tern_data, self.tern_control, self.nats, self.redis):
            wait_port(port)

    def _spawn(self, args: list[str]) -> None:
        self.processes.append(subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))

    def stop(self) -> None:
        for process in self.processes:
            process.terminate()
        for process in self.processes:
            process.wait(timeout=20)

    def tern_stream(self, name: str) -> None:
        control = f"http://127.0.0.1:{self.tern_control}"
        with urllib.request.urlopen(control + "/v1/Services", timeout=10) as response:
            service = json.loads(response.read())["services"][0]["sid"]
        data = f"UniqueName={name}".encode()
        urllib.request.urlopen(
            urllib.request.Request(control + f"/v1/Services/{service}/Streams", data=data), timeout=10
        )


# ---- publishers run in their own process (the receiver measures) ---------------------------------


def publish_process(broker: str, address: str, subject: str, size: int, duration: float) -> None:
    """A fast raw publisher (pre-encoded frames / commands, 256 KiB per send), so that the receiving
    client, not the publisher, sets the pace; the same for every broker."""
    payload = payload_of(size)
    host, port = address.rsplit("/", 1)[-1].rsplit(":", 1)
    sock = socket.create_connection((host, int(port)))
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    if broker == "tern":
        parser = FrameParser()
        sock.sendall(Hello(1, 2, "raw-publisher", "").encode() + Subscribe(1, subject, attach_only=True).encode())
        frames: list[Any] = []
        while not any(isinstance(f, Subscribed) for f in frames):
            frames += parser.feed(sock.recv(65536))
        stream_id = next(f for f in frames if isinstance(f, Subscribed)).stream_id
        one = encode_publish(0, stream_id, payload, False)
    elif broker == "nats":
        sock.recv(65536)  # INFO
        sock.sendall(b'CONNECT {"verbose":false,"pedantic":false}\r\n')
        one = f"PUB {subject} {len(payload)}\r\n".encode() + payload + b"\r\n"
    else:
        one = f"*3\r\n$7\r\nPUBLISH\r\n${len(subject)}\r\n{subject}\r\n${len(payload)}\r\n".encode() + payload + b"\r\n"
    batch = one * max(1, (256 << 10) // len(one))
    end = time.monotonic() + duration
    drain = threading.Thread(target=lambda: _discard(sock), daemon=True)  # Redis answers every PUBLISH
    drain.start()
    while time.monotonic() < end:
        sock.sendall(batch)
    sock.shutdown(socket.SHUT_WR)
    drain.join(timeout=30)
    sock.close()


def _discard(sock: socket.socket) -> None:
    try:
        while sock.recv(1 << 20):
            pass
    except OSError:
        pass


async def flood(broker: str, address: str, subject: str, size: int, duration: float) -> int:
    """Publishes without waiting for acks for ``duration`` seconds; returns how many (all accepted)."""
    payload = payload_of(size)
    end = time.monotonic() + duration
    sent = 0
    if broker == "tern":
        async with Connection.open(address, request_timeout=60) as conn:
            pub = await conn.attach(subject)
            while time.monotonic() < end:
                for _ in range(256):
                    await pub.publish(payload, ack=False)
                sent += 256
            await conn.ping(60)
    elif broker == "nats":
        nc = await nats.connect(address, pending_size=64 << 20)
        while time.monotonic() < end:
            for _ in range(256):
                await nc.publish(subject, payload)
            sent += 256
        await nc.flush(60)
        await nc.close()
    else:
        client = aioredis.from_url(address)
        while time.monotonic() < end:
            pipe = client.pipeline(transaction=False)
            for _ in range(256):
                pipe.publish(subject, payload)
            await pipe.execute()
            sent += 256
        await client.aclose()
    return sent


async def publish_acked(broker: str, address: str, subject: str, size: int, duration: float) -> int:
    payload = payload_of(size)
    end = time.monotonic() + duration
    sent = 0
    if broker == "tern":
        async with Connection.open(address) as conn:
            pub = await conn.attach(subject)
            while time.monotonic() < end:
                await pub.publish(payload, ack=True)
                sent += 1
    elif broker == "nats":
        nc = await nats.connect(address)
        js = nc.jetstream()
        await js.add_stream(name=subject.replace(".", "_"), subjects=[subject], storage="memory", max_msgs=100_000)
        while time.monotonic() < end:
            await js.publish(subject, payload)
            sent += 1
        await nc.close()
    else:
        client = aioredis.from_url(address)
        while time.monotonic() < end:
            await client.publish(subject, payload)
            sent += 1
        await client.aclose()
    return sent


# ---- receivers ------------------------------------------------------------------------------------


async def receive(broker: str, address: str, subject: str, size: int, duration: float) -> dict[str, float]:
    counted = 0
    first: float | None = None
    last = 0.0
    lost = 0

    def arrived(count: int) -> None:
        nonlocal counted, first, last
        now = time.perf_counter()
        if first is None:
            first = now
        else:
            counted += count
            last = now

    publisher = multiprocessing.Process(target=publish_process, args=(broker, address, subject, size, duration))
    if broker == "tern":
        async with Connection.open(address, max_pending=1 << 20) as conn:
            sub = await conn.subscribe(subject)
            publisher.start()
            while True:
                try:
                    events = await sub.next_batch(4096, 2.0 if first else 15.0)
                except TimeoutError:
                    break
                messages = 0
                for event in events:
                    if type(event) is Message:
                        messages += 1
                    else:
                        lost += getattr(event, "count", 0)
                arrived(messages)
    elif broker == "nats":
        nc = await nats.connect(address, pending_size=256 << 20)
        done = asyncio.Event()
        last_seen = [time.monotonic()]

        async def handler(msg: Any) -> None:
            arrived(1)
            last_seen[0] = time.monotonic()

        await nc.subscribe(subject, cb=handler, pending_msgs_limit=10_000_000, pending_bytes_limit=1 << 30)
        await nc.flush()
        publisher.start()
        while not done.is_set():
            await asyncio.sleep(0.25)
            if first is not None and time.monotonic() - last_seen[0] > 2.0:
                done.set()
            if first is None and time.monotonic() - last_seen[0] > 15.0:
                done.set()
        await nc.close()
    else:
        client = aioredis.from_url(address)
        pubsub = client.pubsub(ignore_subscribe_messages=True)
        await pubsub.subscribe(subject)
        publisher.start()
        quiet_since = time.monotonic()
        while time.monotonic() - quiet_since < (2.0 if first else 15.0):
            message = await pubsub.get_message(timeout=0.5)
            if message is None:
                continue  # a subscribe confirmation (ignored) or nothing yet
            arrived(1)
            quiet_since = time.monotonic()
        await pubsub.aclose()
        await client.aclose()
    publisher.join(timeout=60)
    elapsed = last - first if first is not None else 0.0
    return {"rate": counted / elapsed if elapsed > 0 else 0.0, "lost": lost}


def resume_10k_raw(address: str, subject: str, prefix: bytes) -> float:
    """The server's side of the same resume: milliseconds from RESUME to the last replayed byte,
    read by a raw socket (no client library)."""
    host, port = address.rsplit(":", 1)
    with socket.create_connection((host, int(port))) as sock:
        parser = FrameParser()
        sock.sendall(Hello(1, 2, "raw-resumer", "").encode())
        while not parser.feed(sock.recv(65536)):
            pass
        started = time.perf_counter()
        sock.sendall(Resume(1, prefix, 1, subject).encode())
        expected = 10_000 * (20 + 64)
        got = 0
        frames_seen = 0
        while got < expected:
            chunk = sock.recv(1 << 20)
            if not chunk:
                break
            frames_seen += 1
            got += len(chunk)
        return (time.perf_counter() - started) * 1000


async def resume_10k(address: str, subject: str) -> float:
    """Milliseconds from RESUME to the 10,000th replayed message in hand (64 B payloads)."""
    payload = payload_of(64)
    async with Connection.open(address) as holder:
        sub = await holder.subscribe(subject)  # keeps the stream's ring
        first = await holder.publish(subject, payload)
        assert first is not None
        pub = await holder.attach(subject)
        for _ in range(10_000):
            await pub.publish(payload, ack=False)
        await holder.ping()
        async with Connection.open(address) as worker:
            if worker.welcome is None or worker.welcome.version < 2:
                return float("nan")  # a version-1 ternd cannot resume
            started = time.perf_counter()
            resumed = await worker.subscribe(subject, after=first.sid)
            got = 0
            while got < 10_000:
                for event in await resumed.next_batch(16384, 10):
                    if type(event) is Message:
                        got += 1
            elapsed = time.perf_counter() - started
        raw = await asyncio.get_running_loop().run_in_executor(
            None, resume_10k_raw, address, subject, bytes.fromhex(first.sid[2:18])
        )
        RAW_RESUME.append(raw)
        del sub
    return elapsed * 1000


RAW_RESUME: list[float] = []


def swift_receive(tern: str, address: str, subject: str, size: int, duration: float) -> float:
    """Messages per second printed by `tern sub` (the async Swift client, JSON lines to a pipe)."""
    sub = subprocess.Popen([tern, "sub", subject, "--data", address, "--timeout", str(duration + 20)],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE)  # fmt: skip
    assert sub.stderr is not None and sub.stdout is not None
    sub.stderr.readline()  # "subscribed …"
    publisher = multiprocessing.Process(target=publish_process, args=("tern", address, subject, size, duration))
    publisher.start()
    counted = 0
    first: float | None = None
    last = 0.0
    stop = time.monotonic() + duration + 5
    os.set_blocking(sub.stdout.fileno(), False)
    quiet = time.monotonic()
    while time.monotonic() < stop and time.monotonic() - quiet < 2.0:
        try:
            chunk = os.read(sub.stdout.fileno(), 1 << 20)
        except BlockingIOError:
            time.sleep(0.001)
            continue
        if not chunk:
            break
        lines = chunk.count(b"\n")
        now = time.perf_counter()
        quiet = time.monotonic()
        if first is None:
            first = now
        else:
            counted += lines
            last = now
    sub.kill()
    sub.wait()
    publisher.join(timeout=60)
    return counted / (last - first) if first is not None and last > first else 0.0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--duration", type=float, default=3.0)
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--brokers", default="tern,nats,redis", help="comma-separated subset")
    parser.add_argument("--tern", default=os.environ.get("TERN_BIN"), help="tern CLI: also measure `tern sub`")
    args = parser.parse_args()
    state = tempfile.mkdtemp(prefix="tern-peers-")
    servers = Servers(state)
    servers.start()
    addresses = {
        "tern": f"127.0.0.1:{servers.tern_data}",
        "nats": f"nats://127.0.0.1:{servers.nats}",
        "redis": f"redis://127.0.0.1:{servers.redis}",
    }
    addresses = {name: address for name, address in addresses.items() if name in args.brokers.split(",")}
    results: dict[str, Any] = {"load_before": os.getloadavg()}
    run: Callable[..., Any] = asyncio.run
    try:
        for size in SIZES:
            for broker, address in addresses.items():
                subject = f"bench{size}{broker}r"
                if broker == "tern":
                    servers.tern_stream(subject)
                results[f"receive {broker} {size}"] = run(receive(broker, address, subject, size, args.duration))
                subject = f"bench{size}{broker}p"
                if broker == "tern":
                    servers.tern_stream(subject)
                started = time.perf_counter()
                sent = run(flood(broker, address, subject, size, args.duration))
                results[f"publish {broker} {size}"] = sent / (time.perf_counter() - started)
                subject = f"bench{size}{broker}a"
                if broker == "tern":
                    servers.tern_stream(subject)
                started = time.perf_counter()
                sent = run(publish_acked(broker, address, subject, size, args.duration))
                results[f"publish-ack {broker} {size}"] = sent / (time.perf_counter() - started)
        if "tern" in addresses:
            servers.tern_stream("resume10k")
            results["resume 10000 ms"] = run(resume_10k(addresses["tern"], "resume10k"))
            results["resume 10000 raw ms"] = RAW_RESUME[0] if RAW_RESUME else float("nan")
            if args.tern:
                for size in SIZES:
                    servers.tern_stream(f"swift{size}")
                    results[f"swift receive {size}"] = swift_receive(
                        args.tern, addresses["tern"], f"swift{size}", size, args.duration
                    )
    finally:
        servers.stop()
        shutil.rmtree(state, ignore_errors=True)
    results["load_after"] = os.getloadavg()
    if args.json:
        print(json.dumps(results, indent=2))
        return 0
    print(f"load average before {results['load_before']}, after {results['load_after']}")
    for size in SIZES:
        for kind in ("receive", "publish", "publish-ack"):
            row = []
            for broker in addresses:
                value = results[f"{kind} {broker} {size}"]
                rate = value["rate"] if isinstance(value, dict) else value
                row.append(f"{broker} {rate:>11,.0f}/s")
            print(f"{kind:<12} {size:>5} B  " + "  ".join(row))
    if "resume 10000 ms" in results:
        print(f"resume of 10,000 messages (64 B): {results['resume 10000 ms']:.1f} ms through tern_client, "
              f"{results['resume 10000 raw ms']:.1f} ms read raw")  # fmt: skip
    for size in SIZES:
        if f"swift receive {size}" in results:
            print(f"tern sub (async Swift client) receive {size:>5} B: {results[f'swift receive {size}']:,.0f}/s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
