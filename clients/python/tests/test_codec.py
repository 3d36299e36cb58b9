"""The codec against protocol.md's own test vectors (read from the document, as the Swift tests do),
plus the parser's incremental behaviour. No server needed."""

from __future__ import annotations

import random
import re
from typing import Dict, List, Tuple

import pytest

from conftest import PROTOCOL_MD
from tern_client.codec import (
    CLIENT_TO_SERVER,
    SERVER_TO_CLIENT,
    Dropped,
    ErrorFrame,
    Frame,
    FrameParser,
    FrameType,
    Hello,
    Lane,
    Message,
    Ping,
    Pong,
    Publish,
    Published,
    RefreshToken,
    Resume,
    Resumed,
    RingLoss,
    RingMapped,
    StreamEndedFrame,
    Subscribe,
    Subscribed,
    SubscribeShared,
    TokenExpiring,
    TokenRefreshed,
    Unsubscribe,
    Unsubscribed,
    Welcome,
    message_sid,
)
from tern_client.exceptions import ProtocolError

ANY_DIRECTION = CLIENT_TO_SERVER | SERVER_TO_CLIENT
PREFIX = bytes.fromhex("0102030405060708")

#: Field values written under each ```vector block of protocol.md section 8.
EXPECTED: Dict[str, Frame] = {
    "hello": Hello(1, 1, "worker-7", "s3cr"),
    "welcome": Welcome(1, 4096, 8192, 1024, 30000, "ternd/0.1"),
    "subscribe": Subscribe(1, "prices"),
    "subscribe-attach-only": Subscribe(2, "prices", attach_only=True),
    "subscribed": Subscribed(1, 3, PREFIX, 41, "TO0123456789abcdef0123456789abcdef", "prices"),
    "unsubscribe": Unsubscribe(5, 3),
    "unsubscribed": Unsubscribed(5, 3),
    "publish-ack": Publish(2, 3, b'{"px":1}', ack=True),
    "publish": Publish(0, 3, b"{}"),
    "published": Published(2, 3, PREFIX, 41),
    "message": Message(3, 41, b'{"px":1}'),
    "dropped": Dropped(3, 1000, 1),
    "stream-ended": StreamEndedFrame(3, 2),
    "error": ErrorFrame(7, 100, "stream 'nope' not found"),
    "error-fatal": ErrorFrame(0, 4, "hello required", fatal=True),
    "ping": Ping(42),
    "pong": Pong(42),
    "hello-version-2": Hello(1, 2, "worker-7", "eyJ9.eyJ9.s"),
    "refresh-token": RefreshToken(9, "eyJ9.eyJ9.s"),
    "token-expiring": TokenExpiring(1700000000, 60000),
    "token-refreshed": TokenRefreshed(9, 1700003600),
    "stream-ended-token-expired": StreamEndedFrame(3, 13),
    "error-refresh-expired": ErrorFrame(9, 13, "the Access Token expired"),
    "hello-v2": Hello(1, 2, "worker-7", ""),
    "welcome-v2": Welcome(2, 4096, 8192, 1024, 30000, "ternd/0.1"),
    "resume": Resume(8, PREFIX, 41, "prices"),
    "resumed": Resumed(8, 3, 1),
    "resumed-restarted": Resumed(8, 3, 2),
    "dropped-not-retained": Dropped(3, 17, 3),
    "subscribe-shared": SubscribeShared(1, "prices"),
    "ring-mapped": RingMapped(1, 3, 4096, 1 << 20, 48),
    "ring-loss": RingLoss(0, 3, 2),
    "dropped-ring-lapped": Dropped(3, 2, 5),
    "lane": Lane(3, 9, PREFIX, 41),
}

#: The error code each ```invalid block must produce.
EXPECTED_ERRORS = {
    "unknown-type": 3,
    "reserved-set": 1,
    "undefined-flag": 1,
    "short-body": 1,
    "trailing-bytes": 1,
    "string-overrun": 1,
    "too-large": 2,
    "unknown-server-type": 3,
    "length-before-type": 2,
    "type-before-reserved": 3,
    "not-utf8": 1,
    "utf8-surrogate": 1,
    "hello-too-large": 2,
    "token-over-limit": 1,
}

#: ```invalid blocks whose code comes from the server's connection state (HELLO first, frame
#: direction, version choice), not from the bytes: a codec decodes them as well-formed frames.
SESSION_RULES = {
    "hello-required": 4,
    "hello-required-before-body": 4,
    "second-hello": 5,
    "client-sends-message": 5,
    "client-sends-token-expiring": 5,
    "hello-min-above-max": 6,
    "resume-in-version-1": 3,
    "subscribe-shared-in-version-1": 3,
    "client-sends-ring-mapped": 5,
}


def load_vectors() -> Tuple[Dict[str, bytes], Dict[str, Tuple[int, bytes]]]:
    """Every ```vector NAME and ```invalid NAME CODE block of protocol.md, as bytes."""
    text = PROTOCOL_MD.read_text(encoding="utf-8")
    vectors: Dict[str, bytes] = {}
    invalid: Dict[str, Tuple[int, bytes]] = {}
    for match in re.finditer(r"^```(vector|invalid) ([^\n]*)\n(.*?)^```", text, re.S | re.M):
        kind, header, body = match.groups()
        words = header.split()
        data = bytes.fromhex("".join(body.split()))
        if kind == "vector":
            assert len(words) == 1, f"expected ```vector NAME: {header}"
            assert words[0] not in vectors, f"duplicate vector {words[0]}"
            vectors[words[0]] = data
        else:
            # NAME CODE, then optionally the connection state the vector assumes (protocol.md §8.1).
            assert len(words) in (2, 3), f"expected ```invalid NAME CODE [STATE]: {header}"
            assert words[0] not in invalid, f"duplicate invalid vector {words[0]}"
            invalid[words[0]] = (int(words[1]), data)
    assert vectors, f"no vectors in {PROTOCOL_MD}"
    return vectors, invalid


VECTORS, INVALID = load_vectors()


def test_document_has_exactly_the_expected_vectors() -> None:
    assert set(VECTORS) == set(EXPECTED)
    assert set(INVALID) == set(EXPECTED_ERRORS) | set(SESSION_RULES)


@pytest.mark.parametrize("name", sorted(SESSION_RULES))
def test_session_rule_vectors_are_well_formed_frames(name: str) -> None:
    code, data = INVALID[name]
    assert code == SESSION_RULES[name]
    if name == "hello-required-before-body":
        # Its body is malformed on purpose: the server answers HELLO_REQUIRED before reading it.
        with pytest.raises(ProtocolError) as raised:
            FrameParser(accept=ANY_DIRECTION).feed(data)
        assert raised.value.code == 1
        return
    frames = FrameParser(accept=ANY_DIRECTION).feed(data)
    assert frames, f"{name} should decode to at least one frame"


def test_every_frame_type_has_a_vector() -> None:
    documented = {data[4] for data in VECTORS.values()}
    assert documented == {int(t) for t in FrameType}


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_decoding_a_vector_gives_its_documented_fields(name: str) -> None:
    frames = FrameParser(accept=ANY_DIRECTION).feed(VECTORS[name])
    assert frames == [EXPECTED[name]]


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_encoding_the_documented_fields_gives_the_vector(name: str) -> None:
    assert EXPECTED[name].encode() == VECTORS[name]


@pytest.mark.parametrize("name", sorted(EXPECTED_ERRORS))
def test_invalid_vector_is_refused_with_its_documented_code(name: str) -> None:
    code, data = INVALID[name]
    assert code == EXPECTED_ERRORS[name]
    with pytest.raises(ProtocolError) as raised:
        FrameParser(accept=ANY_DIRECTION).feed(data)
    assert raised.value.code == code


def test_published_vector_names_its_message_sid() -> None:
    published = FrameParser().feed(VECTORS["published"])[0]
    assert isinstance(published, Published)
    assert published.message_sid == "TZ01020304050607080000000000000029"
    assert message_sid(PREFIX, 41) == published.message_sid


def test_client_rejects_client_to_server_frames() -> None:
    with pytest.raises(ProtocolError) as raised:
        FrameParser().feed(VECTORS["subscribe"])
    assert raised.value.code == 5
    assert raised.value.frame == "SUBSCRIBE"
    assert "SUBSCRIBE" in str(raised.value)


def test_too_large_is_refused_from_the_header_alone() -> None:
    parser = FrameParser(max_frame_body=100)
    header = bytes.fromhex("00000065 85 00 0000".replace(" ", ""))
    with pytest.raises(ProtocolError) as raised:
        parser.feed(header)
    assert raised.value.code == 2


def test_message_body_shorter_than_its_fields_is_malformed() -> None:
    with pytest.raises(ProtocolError) as raised:
        FrameParser().feed(bytes.fromhex("00000004 85 00 0000 00000003".replace(" ", "")))
    assert raised.value.code == 1
    assert raised.value.frame == "MESSAGE"


def _server_stream() -> Tuple[bytes, List[Frame]]:
    names = [n for n in sorted(EXPECTED) if VECTORS[n][4] in SERVER_TO_CLIENT]
    rng = random.Random(7)
    picked = [rng.choice(names) for _ in range(300)]
    return b"".join(VECTORS[n] for n in picked), [EXPECTED[n] for n in picked]


def test_many_frames_in_one_read() -> None:
    data, expected = _server_stream()
    parser = FrameParser()
    assert parser.feed(data) == expected
    assert parser.buffered == 0


@pytest.mark.parametrize("seed", range(5))
def test_frames_split_at_arbitrary_points(seed: int) -> None:
    data, expected = _server_stream()
    rng = random.Random(seed)
    parser = FrameParser()
    got: List[Frame] = []
    offset = 0
    while offset < len(data):
        step = rng.choice([1, 2, 3, 7, 8, 9, 20, 100, 1000])
        got += parser.feed(data[offset : offset + step])
        offset += step
    assert got == expected
    assert parser.buffered == 0


def test_byte_at_a_time() -> None:
    data = VECTORS["subscribed"] + VECTORS["message"]
    parser = FrameParser()
    got: List[Frame] = []
    for index in range(len(data)):
        got += parser.feed(data[index : index + 1])
    assert got == [EXPECTED["subscribed"], EXPECTED["message"]]


def test_message_helpers() -> None:
    message = Message(3, 41, b'{"px": 1}')
    assert message.json() == {"px": 1}
    assert message.text() == '{"px": 1}'
    assert message.sid == ""


def test_encoder_refuses_oversize_strings() -> None:
    with pytest.raises(ValueError):
        Hello(1, 1, "x" * 65, "").encode()


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_frame_classes_know_their_type(name: str) -> None:
    assert VECTORS[name][4] == EXPECTED[name].TYPE


def test_unknown_server_frame_types_are_skipped() -> None:
    """protocol.md §5.1: a client skips a whole frame of a server type it does not know."""
    unknown = bytes.fromhex("00000003 9f 00 0000 aabbcc".replace(" ", ""))
    parser = FrameParser()
    assert parser.feed(unknown + VECTORS["message"] + unknown[:5]) == [EXPECTED["message"]]
    assert parser.feed(unknown[5:] + VECTORS["ping"]) == [EXPECTED["ping"]]
    assert parser.skipped == 2
    # The server's view (both directions) still refuses it.
    with pytest.raises(ProtocolError) as raised:
        FrameParser(accept=ANY_DIRECTION).feed(unknown)
    assert raised.value.code == 3


def test_unknown_flags_on_server_frames_are_ignored() -> None:
    flagged = bytearray(VECTORS["message"])
    flagged[5] = 0x80
    assert FrameParser().feed(bytes(flagged)) == [EXPECTED["message"]]


def test_unknown_reasons_and_outcomes_decode() -> None:
    dropped = FrameParser().feed(bytes.fromhex("0000000d 86 00 0000 00000003 0000000000000005 09".replace(" ", "")))
    assert dropped == [Dropped(3, 5, 9)]
    resumed = FrameParser().feed(bytes.fromhex("00000009 8b 00 0000 00000008 00000003 07".replace(" ", "")))
    assert isinstance(resumed[0], Resumed) and not resumed[0].continued
