"""The producer → inspector wire: encode + Decoder round trips, refusals, and fuzzing."""

from __future__ import annotations

import random
import struct
from typing import Any

import msgspec
import pytest
from helpers.factories import batch, frame, record, wire_frame
from helpers.strategies import connections, counts, hellos, keys, mutate_bytes, split_at, wire_frames
from hypothesis import given, settings
from hypothesis import strategies as st

from wsinspect.model import Connection, Frame
from wsinspect.wire import (
    BINARY,
    CLOSE,
    DIRECTIONS,
    MAX_MESSAGE_BYTES,
    MESSAGE_TYPES,
    PING,
    PONG,
    PROTOCOL_VERSION,
    SENT,
    TEXT,
    ConnectionUpdate,
    Decoder,
    FrameBatch,
    FramesDropped,
    Hello,
    ProtocolError,
    WireFrame,
    WireMessage,
    encode,
    frame_code,
    frames_message,
    record_to_frame,
)

WIRE_TYPES = (Hello, ConnectionUpdate, FrameBatch, FramesDropped)
HELLO = Hello(version=PROTOCOL_VERSION, pid=4242, app="chat-app")
FUZZ = settings(max_examples=250, deadline=None)


def framed(body: bytes) -> bytes:
    """One raw message on the wire: a 4-byte big-endian length then ``body``."""
    return struct.pack(">I", len(body)) + body


def sample_messages() -> list[WireMessage]:
    connection = Connection(
        connection_id="0b6f8e2a-1111-4222-8333-444455556666",
        path="/ws/chat",
        query_string="room=1",
        subprotocol="chat.v1",
        state="closed",
        connected_at=1764349990.001,
        accepted_at=1764349990.002,
        disconnected_at=1764349995.5,
        close_code=4001,
        close_reason="bye",
        closed_by="server",
        messages_sent=3,
        messages_received=2,
        bytes_sent=12,
        bytes_received=7,
        client="127.0.0.1:5555",
        headers=[("host", "localhost"), ("x-token", "[redacted]")],
        requested_subprotocols=["chat.v1", "chat.v0"],
        pid=4242,
        app="chat-app",
    )
    return [
        HELLO,
        ConnectionUpdate(key=7, connection=connection),
        batch(7, [frame("text", "héllo wörld ✓ 🎉", direction="received"), frame("binary", b"\x00\x01\xff\xfe")]),
        batch(
            7,
            [
                frame("text", ""),
                frame("binary", b""),
                frame("binary", None, size=99),
                frame("ping", b"p"),
                frame("pong", b"p", direction="received"),
                frame("text", "cut", size=5000, truncated=True),
                frame("close", "bye", close_code=4001),
            ],
            start=2,
        ),
        FramesDropped(count=17),
    ]


def frames_in(messages: list[WireMessage]) -> list[Frame]:
    return [wire.to_frame() for m in messages if isinstance(m, FrameBatch) for wire in m.frames]


def decode_all(data: bytes, chunks: list[bytes] | None = None) -> list[WireMessage]:
    decoder = Decoder()
    out: list[WireMessage] = []
    for chunk in chunks if chunks is not None else [data]:
        out.extend(decoder.feed(chunk))
    decoder.close()
    return out


# -- round trips -----------------------------------------------------------------------------


def test_every_message_type_round_trips() -> None:
    messages = sample_messages()
    decoded = decode_all(encode(messages))
    assert decoded == messages
    assert {type(m) for m in decoded} == set(WIRE_TYPES)


def test_binary_stays_bytes_and_text_stays_str() -> None:
    decoded = decode_all(encode(sample_messages()))
    frames = frames_in(decoded)
    by_type = [(f.message_type, f.content) for f in frames]
    assert by_type[0] == ("text", "héllo wörld ✓ 🎉")
    assert isinstance(frames[1].content, bytes)
    assert frames[1].content == b"\x00\x01\xff\xfe"
    assert frames[2].content == ""
    assert isinstance(frames[2].content, str)
    assert frames[3].content == b""
    assert isinstance(frames[3].content, bytes)
    assert frames[4].content is None
    assert frames[4].size_bytes == 99
    assert isinstance(frames[5].content, bytes)
    assert frames[7].truncated is True
    assert frames[7].size_bytes == 5000
    assert frames[8].close_code == 4001


KINDS = [
    frame("text", "héllo ✓"),
    frame("text", None, size=12),
    frame("binary", b"\x00\xff"),
    frame("binary", None, size=300, truncated=True),
    frame("ping", b"p"),
    frame("pong", b""),
    frame("close", "bye", close_code=4001),
    frame("close", "", close_code=None),
]


@pytest.mark.parametrize("direction", ["sent", "received"])
@pytest.mark.parametrize("original", KINDS, ids=lambda f: f"{f.message_type}-{f.content!r}")
def test_a_frame_round_trips_through_the_wire_for_every_type_and_direction(direction: str, original: Frame) -> None:
    f = msgspec.structs.replace(original, direction=direction, timestamp=1764349990.123456)
    wire = wire_frame(3, 41, f)
    assert (wire.key, wire.index) == (3, 41)
    assert wire.to_frame() == f
    assert record_to_frame(record(3, 41, f)) == f
    decoded = decode_all(encode([HELLO, batch(3, [f], start=41)]))
    assert decoded == [HELLO, FrameBatch([wire])]
    assert frames_in(decoded) == [f]
    assert type(frames_in(decoded)[0].content) is type(f.content)


def test_frame_codes_number_each_type_and_direction() -> None:
    codes = {(d, t): frame_code(d, t) for d in DIRECTIONS for t in MESSAGE_TYPES}
    assert sorted(codes.values()) == list(range(10))
    assert (TEXT, BINARY, PING, PONG, CLOSE, SENT) == (0, 2, 4, 6, 8, 1)
    assert codes["received", "text"] == TEXT
    assert codes["sent", "text"] == TEXT + SENT
    assert codes["sent", "ping"] == PING + SENT
    assert codes["received", "pong"] == PONG
    assert codes["sent", "close"] == CLOSE + SENT
    for (direction, kind), code in codes.items():
        back = WireFrame(1, 0, 1.0, code, None, 0, False, None).to_frame()
        assert (back.direction, back.message_type) == (direction, kind)


def test_records_encode_as_wire_frames() -> None:
    """The app encodes its tuples as they are (frames_message): the inspector decodes WireFrames."""
    frames = [frame("text", f"m{i}", direction="received" if i % 2 else "sent", at=100.0 + i) for i in range(5)]
    records = [record(2, i, f) for i, f in enumerate(frames)]
    data = encode([HELLO, frames_message(records)])
    assert data == encode([HELLO, batch(2, frames)])
    assert frames_in(decode_all(data)) == frames


def test_a_batch_of_many_frames_travels_as_one_message() -> None:
    frames = [
        frame("binary" if i % 3 else "text", b"\x01" * (i % 7) if i % 3 else f"n{i}", at=i) for i in range(10_000)
    ]
    data = encode([HELLO, batch(5, frames)])
    hello_length = len(encode([HELLO]))
    (length,) = struct.unpack(">I", data[hello_length : hello_length + 4])
    assert hello_length + 4 + length == len(data)  # one length prefix for all 10,000 frames
    decoder = Decoder()
    decoded = decoder.feed(data)
    assert len(decoded) == 2
    assert isinstance(decoded[1], FrameBatch)
    assert [w.index for w in decoded[1].frames] == list(range(10_000))
    assert frames_in(decoded) == frames


def test_headers_come_back_as_pairs() -> None:
    decoded = decode_all(encode(sample_messages()))
    update = decoded[1]
    assert isinstance(update, ConnectionUpdate)
    assert update.connection.headers == [("host", "localhost"), ("x-token", "[redacted]")]
    assert update.connection.state == "closed"
    assert update.connection.pid == 4242


def test_encode_of_nothing_is_empty() -> None:
    assert encode([]) == b""
    decoder = Decoder()
    assert decoder.feed(b"") == []
    decoder.close()  # nothing left over


def test_feeding_one_byte_at_a_time() -> None:
    messages = sample_messages()
    data = encode(messages)
    decoder = Decoder()
    out: list[WireMessage] = []
    for i in range(len(data)):
        got = decoder.feed(data[i : i + 1])
        # A message comes out exactly when its last byte arrives, never earlier.
        assert len(got) <= 1
        out.extend(got)
    decoder.close()
    assert out == messages
    assert decoder.hello == HELLO


def test_feeding_in_random_splits() -> None:
    messages = sample_messages()
    data = encode(messages)
    rng = random.Random(1234)
    for _ in range(50):
        points = [rng.randrange(len(data) + 1) for _ in range(rng.randrange(1, 12))]
        assert decode_all(data, split_at(data, points)) == messages


def test_encode_batches_concatenate() -> None:
    messages = sample_messages()
    data = b"".join(encode([m]) for m in messages)
    assert data == encode(messages)
    # Each message is its MessagePack body behind a big-endian length.
    (length,) = struct.unpack(">I", data[:4])
    assert msgspec.msgpack.decode(data[4 : 4 + length]) == ["hello", PROTOCOL_VERSION, 4242, "chat-app", "", ""]


def test_message_of_exactly_the_limit_is_accepted() -> None:
    body = encode([FramesDropped(count=100_000)])[4:]
    decoder = Decoder(max_message_bytes=len(body))
    hello = encode([Hello(version=PROTOCOL_VERSION, pid=1, app="")])  # short enough for the limit
    assert len(hello) - 4 <= len(body)
    assert decoder.feed(hello + framed(body)) == [
        Hello(version=PROTOCOL_VERSION, pid=1, app=""),
        FramesDropped(100_000),
    ]


def test_default_limit() -> None:
    assert MAX_MESSAGE_BYTES >= 8 * 1024 * 1024  # frames carry up to 8 MiB of payload
    decoder = Decoder()
    decoder.feed(encode([HELLO]))
    with pytest.raises(ProtocolError, match="exceeds"):
        decoder.feed(struct.pack(">I", MAX_MESSAGE_BYTES + 1))


# -- refusals --------------------------------------------------------------------------------


def test_first_message_must_be_hello() -> None:
    decoder = Decoder()
    with pytest.raises(ProtocolError, match="first message was not a hello"):
        decoder.feed(encode([FramesDropped(count=1)]))
    assert decoder.hello is None


def test_hello_of_another_version_names_both() -> None:
    decoder = Decoder()
    with pytest.raises(ProtocolError) as info:
        decoder.feed(encode([Hello(version=PROTOCOL_VERSION + 98, pid=1, app="a")]))
    reason = str(info.value)
    assert str(PROTOCOL_VERSION + 98) in reason
    assert str(PROTOCOL_VERSION) in reason
    assert "version" in reason
    assert decoder.hello is None


def test_second_hello_is_refused() -> None:
    decoder = Decoder()
    assert decoder.feed(encode([HELLO])) == [HELLO]
    with pytest.raises(ProtocolError, match="second hello"):
        decoder.feed(encode([HELLO]))


def test_second_hello_in_the_same_chunk_is_refused() -> None:
    with pytest.raises(ProtocolError, match="second hello"):
        Decoder().feed(encode([HELLO, FramesDropped(count=1), HELLO]))


def test_length_over_the_limit_is_refused_from_the_header_alone() -> None:
    decoder = Decoder(max_message_bytes=64)
    decoder.feed(encode([HELLO]))
    # Refused as soon as the 4-byte length is read: no waiting for (or buffering) the body.
    with pytest.raises(ProtocolError) as info:
        decoder.feed(struct.pack(">I", 65))
    assert "65" in str(info.value)
    assert "64" in str(info.value)


def test_long_message_over_the_limit_is_refused() -> None:
    big = batch(1, [frame("binary", b"x" * 200)])
    decoder = Decoder(max_message_bytes=64)
    decoder.feed(encode([HELLO]))
    with pytest.raises(ProtocolError, match="exceeds the limit of 64"):
        decoder.feed(encode([big]))


def test_a_hello_over_the_limit_is_refused() -> None:
    with pytest.raises(ProtocolError, match="exceeds"):
        Decoder(max_message_bytes=8).feed(encode([Hello(version=PROTOCOL_VERSION, pid=1, app="a" * 40)]))


@pytest.mark.parametrize("body", [b"\xc1", b"\xc1\xc1\xc1\xc1", b"\x94\xa5hello\x01\x01\xa1a\x00", b"\xdb\xff\xff"])
def test_garbage_that_is_not_messagepack(body: bytes) -> None:
    decoder = Decoder()
    with pytest.raises(ProtocolError, match="MessagePack"):
        decoder.feed(framed(body))


def test_garbage_after_hello() -> None:
    decoder = Decoder()
    decoder.feed(encode([HELLO]))
    with pytest.raises(ProtocolError, match="not MessagePack"):
        decoder.feed(framed(b"\xc1"))


@pytest.mark.parametrize(
    "value",
    [
        ["bogus", 1],  # unknown tag
        ["frames", 1],
        [],
        7,
        "hello",
        {"tag": "hello", "version": 1},
        ["hello", "one", 1, "a"],  # known tag, wrong field type
        ["hello", 1],  # known tag, missing fields
        ["dropped", -1.5],
    ],
)
def test_valid_messagepack_that_is_not_a_message(value: Any) -> None:
    decoder = Decoder()
    decoder.feed(encode([HELLO]))
    with pytest.raises(ProtocolError, match="unknown or malformed message"):
        decoder.feed(framed(msgspec.msgpack.encode(value)))


def test_unknown_tag_as_first_message() -> None:
    with pytest.raises(ProtocolError, match="unknown or malformed"):
        Decoder().feed(framed(msgspec.msgpack.encode(["goodbye", 1, 2, "x"])))


@pytest.mark.parametrize("code", [-1, 10, 11, 255, 2**40], ids=lambda c: f"code-{c}")
def test_a_frame_code_out_of_range_is_refused(code: int) -> None:
    good = wire_frame(1, 0, frame("text", "fine"))
    bad = msgspec.structs.replace(good, index=1, code=code)
    body = msgspec.msgpack.encode(FrameBatch([good, bad]))
    decoder = Decoder()
    decoder.feed(encode([HELLO]))
    with pytest.raises(ProtocolError, match="unknown or malformed message"):
        decoder.feed(framed(body))


@pytest.mark.parametrize(
    "wire",
    [
        [1, 0, 1.0, "0", "x", 1, False, None],  # a code that is not a number
        [1, 0, 1.0, 0.5, "x", 1, False, None],
        [1, 0, 1.0, 0, "x", 1, False],  # a field missing
        ["k", 0, 1.0, 0, "x", 1, False, None],  # a key that is not a number
        [1, 0, 1.0, 0, "x", 1, "no", None],
        {"key": 1},
    ],
    ids=["code-str", "code-float", "short", "key-str", "truncated-str", "map"],
)
def test_a_malformed_wire_frame_is_refused(wire: Any) -> None:
    decoder = Decoder()
    decoder.feed(encode([HELLO]))
    with pytest.raises(ProtocolError, match="unknown or malformed message"):
        decoder.feed(framed(msgspec.msgpack.encode(["frames", [wire]])))


def test_a_frame_batch_before_the_hello_is_refused() -> None:
    with pytest.raises(ProtocolError, match="first message was not a hello"):
        Decoder().feed(encode([batch(1, [frame("text", "early")])]))


def test_connection_update_with_unknown_state_is_refused() -> None:
    body = msgspec.msgpack.encode(ConnectionUpdate(1, Connection(connection_id="c", path="/", connected_at=1.0)))
    body = body.replace(b"\xaaconnecting", b"\xaaconnectinG")
    decoder = Decoder()
    decoder.feed(encode([HELLO]))
    with pytest.raises(ProtocolError):
        decoder.feed(framed(body))


@pytest.mark.parametrize("cut", [1, 3, 4, 5, 10])
def test_close_with_a_truncated_message(cut: int) -> None:
    data = encode([HELLO, FramesDropped(count=3)])
    hello_length = len(encode([HELLO]))
    decoder = Decoder()
    assert decoder.feed(data[: hello_length + cut]) == [HELLO]
    with pytest.raises(ProtocolError, match="stream ended inside a message"):
        decoder.close()


def test_close_after_complete_messages_is_quiet() -> None:
    decoder = Decoder()
    decoder.feed(encode([HELLO, FramesDropped(count=3)]))
    decoder.close()
    assert decoder.hello == HELLO


@pytest.mark.parametrize(
    ("first", "body"),
    [
        (False, b"\x94\xa5hello\x01\x01\xa1\xff"),  # the hello's app name is not UTF-8
        (True, b"\x92\xa1\xff\x00"),  # the tag is not UTF-8
        (True, b"\x92\xa7dropp\xc3\x28\x00"),  # a broken 2-byte sequence inside the tag
    ],
    ids=["hello-app", "tag", "tag-broken-sequence"],
)
def test_invalid_utf8_in_a_string_is_a_protocol_error(first: bool, body: bytes) -> None:
    """msgspec raises UnicodeDecodeError (a ValueError, not a msgspec.DecodeError) for these."""
    decoder = Decoder()
    if first:
        decoder.feed(encode([HELLO]))
    with pytest.raises(ProtocolError):
        decoder.feed(framed(body))


def test_deeply_nested_content_is_a_protocol_error() -> None:
    """A frame whose content nests arrays ~1000 deep: msgspec raises RecursionError."""
    body = msgspec.msgpack.encode(batch(1, [frame("text", "PLACEHOLDER", size=1)]))
    at = body.index(b"\xabPLACEHOLDER")
    body = body[:at] + b"\x91" * 5000 + b"\xc0" + body[at + 12 :]
    decoder = Decoder()
    decoder.feed(encode([HELLO]))
    with pytest.raises(ProtocolError):
        decoder.feed(framed(body))


@pytest.mark.parametrize(
    "content",
    [msgspec.msgpack.Ext(5, b"x"), {"a": 1}, 12, [1, 2]],
    ids=["ext", "map", "int", "array"],
)
def test_frame_content_of_a_type_the_model_does_not_allow_is_refused(content: Any) -> None:
    """Frame.content is str (text, close), bytes (binary, ping, pong) or None; anything else is malformed.

    Accepting e.g. an Ext lets one bad producer crash the inspector later: session.dumps (the
    `record` output) raises TypeError on it.
    """
    body = msgspec.msgpack.encode(batch(1, [frame("text", "fine"), frame("text", content, size=1)]))
    decoder = Decoder()
    decoder.feed(encode([HELLO]))
    with pytest.raises(ProtocolError, match="content of type"):
        decoder.feed(framed(body))


# -- fuzzing ---------------------------------------------------------------------------------

wire_messages: st.SearchStrategy[WireMessage] = st.one_of(
    st.builds(ConnectionUpdate, key=keys, connection=connections),
    st.builds(FrameBatch, frames=st.lists(wire_frames, max_size=6)),
    st.builds(FramesDropped, count=counts),
)
streams = st.tuples(hellos, st.lists(wire_messages, max_size=8)).map(lambda t: [t[0], *t[1]])


def feed_expecting_only_protocol_errors(decoder: Decoder, chunks: list[bytes]) -> list[WireMessage]:
    out: list[WireMessage] = []
    reason = None
    try:
        for chunk in chunks:
            out.extend(decoder.feed(chunk))
        decoder.close()
    except ProtocolError as exc:
        reason = str(exc)
    assert reason is None or reason  # a refusal always says why
    return out


@FUZZ
@given(chunks=st.lists(st.binary(max_size=64), max_size=16), limit=st.sampled_from([16, 1024, MAX_MESSAGE_BYTES]))
def test_fuzz_random_bytes_only_raise_protocol_error(chunks: list[bytes], limit: int) -> None:
    out = feed_expecting_only_protocol_errors(Decoder(max_message_bytes=limit), chunks)
    assert all(isinstance(m, WIRE_TYPES) for m in out)


@FUZZ
@given(bodies=st.lists(st.binary(max_size=48), min_size=1, max_size=6), data=st.data())
def test_fuzz_random_bodies_behind_a_valid_hello(bodies: list[bytes], data: st.DataObject) -> None:
    # Well-framed garbage: the MessagePack decoder itself sees random bytes.
    stream = encode([HELLO]) + b"".join(framed(b) for b in bodies)
    points = data.draw(st.lists(st.integers(0, len(stream)), max_size=6))
    decoder = Decoder()
    out = feed_expecting_only_protocol_errors(decoder, split_at(stream, points))
    assert decoder.hello == HELLO
    assert all(isinstance(m, WIRE_TYPES) for m in out)


@st.composite
def mutated(draw: st.DrawFn) -> bytes:
    return mutate_bytes(draw, encode(draw(streams)))


@FUZZ
@given(stream=mutated(), data=st.data())
def test_fuzz_mutated_stream_only_raises_protocol_error(stream: bytes, data: st.DataObject) -> None:
    points = data.draw(st.lists(st.integers(0, len(stream)), max_size=6))
    decoder = Decoder()
    out = feed_expecting_only_protocol_errors(decoder, split_at(stream, points))
    assert all(isinstance(m, WIRE_TYPES) for m in out)
    if out:
        assert isinstance(out[0], Hello)
        assert out[0].version == PROTOCOL_VERSION
        assert not any(isinstance(m, Hello) for m in out[1:])


@FUZZ
@given(messages=streams, data=st.data())
def test_fuzz_valid_stream_split_anywhere_decodes_exactly(messages: list[WireMessage], data: st.DataObject) -> None:
    stream = encode(messages)
    points = data.draw(st.lists(st.integers(0, len(stream)), max_size=10))
    assert decode_all(stream, split_at(stream, points)) == messages
