"""The readers of untrusted input raise only their documented error, whatever they are given.

The wire decoder (bytes from any process that can reach the socket) raises ``ProtocolError``; the
session-file reader (any file a user opens: session JSON, HAR, gzip) raises ``SessionFileError``.
Besides random bytes and random JSON, the strategies start from valid input made by wsinspect's
own writers (``encode`` of real wire messages, ``write_session``/``dumps`` of real connections)
and break it a little: flipped and inserted bytes, cuts, length prefixes that lie, fields of the
wrong type, missing keys, numbers out of range, JSON nested too deeply, payloads that are not
base64. What a reader returns must be well formed too: a frame's content is text, bytes or None
as its type says, since the inspector's views rely on it.
"""

from __future__ import annotations

import base64
import gzip
import json
import struct
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import msgspec
import pytest
from helpers.factories import record
from helpers.strategies import (
    connections,
    counts,
    frames,
    hellos,
    keys,
    mutate_bytes,
    split_at,
    timestamps,
    wire_frames,
    wire_logs,
)
from hypothesis import example, given, settings
from hypothesis import strategies as st

from wsinspect.model import Connection, Frame
from wsinspect.sessions import Session, SessionFileError, dumps, read_session
from wsinspect.wire import (
    PROTOCOL_VERSION,
    ConnectionUpdate,
    Decoder,
    FrameBatch,
    FramesDropped,
    Held,
    Hello,
    LoopLag,
    ProtocolError,
    WireLog,
    WireMessage,
    encode,
    frames_message,
)

# The whole module runs in about 15 s on two cores; examples of random bytes are cheaper.
FUZZ = settings(max_examples=150, deadline=None)
FUZZ_BYTES = settings(max_examples=300, deadline=None)
WIRE_TYPES = (Hello, ConnectionUpdate, FrameBatch, FramesDropped, WireLog, LoopLag, Held)
BINARY_KINDS = ("binary", "ping", "pong")


# -- strategies: valid things (frames, log lines, connections: helpers/strategies.py) --------

sessions = st.lists(connections, max_size=3)

# -- strategies: broken things ---------------------------------------------------------------

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=10),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=12,
)

# Raw JSON texts that Python's json cannot write (or not within its own recursion limit). Values
# stand for them as placeholder strings, swapped for the text once the document is serialized.
RAW = {
    "@@BIG@@": b"1" + b"0" * 400,  # an integer no float holds
    "@@NEGBIG@@": b"-1" + b"0" * 400,
    "@@HUGEFLOAT@@": b"1e400",  # a float literal out of range
    "@@NAN@@": b"NaN",
    "@@DEEP@@": b"[" * 5000 + b"]" * 5000,  # deeper than any decoder's recursion limit
    "@@DEEPOBJ@@": b'{"a":' * 3000 + b"1" + b"}" * 3000,
    "@@NOTUTF8@@": b'"\xff"',  # a string that is not UTF-8
}
NOT_BASE64 = ["%%% not base64 %%%", "abc", "é", "=", "YQ", "YQ==="]
weird_values = st.one_of(
    st.sampled_from(list(RAW)),
    st.sampled_from(
        [
            None,
            True,
            False,
            -1,
            0,
            -(2**31),
            2**63,
            -(2**63) - 1,
            2**64,
            10**30,
            1e308,
            -1e308,
            0.5,
            "",
            "sent",
            "received",
            "send",
            "receive",
            "sideways",
            "1\n2",  # a line break, in what an error message may quote
            "text",
            "binary",
            "ping",
            "close",
            "nan",
            "inf",
            "1e999",
            "0001-01-01T00:00:00+01:00",
            "9999-12-31T23:59:59-01:00",
            "2024-02-30T00:00:00Z",
            "ws://host/path?q=1",
            [],
            {},
            [[]],
            [1, 2],
            {"name": 1, "value": None},
            *NOT_BASE64,
        ]
    ),
    json_values,
)


def to_bytes(document: Any, *, indent: int | None = None) -> bytes:
    """``document`` as JSON text, its RAW placeholders swapped for their text."""
    data = json.dumps(document, indent=indent).encode()
    for name, raw in RAW.items():
        data = data.replace(json.dumps(name).encode(), raw)
    return data


def paths(document: Any, at: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    """The path of every value inside ``document`` (the document itself aside)."""
    if isinstance(document, dict | list):
        items = document.items() if isinstance(document, dict) else enumerate(document)
    else:
        items = ()
    for key, value in items:
        yield (*at, key)
        yield from paths(value, (*at, key))


actions = st.sampled_from(["replace", "replace", "replace", "delete", "add"])


def mutate_document(draw: st.DrawFn, document: Any, times: int = 3) -> Any:
    """``document`` with one to ``times`` values replaced, removed, or given a stray key."""
    for _ in range(draw(st.integers(1, times))):
        where = list(paths(document))
        if not where:
            return draw(weird_values)
        path = draw(st.sampled_from(where))
        parent = document
        for key in path[:-1]:
            parent = parent[key]
        action = draw(actions)
        if action == "replace":
            parent[path[-1]] = draw(weird_values)
        elif action == "delete":
            del parent[path[-1]]
        elif isinstance(parent, dict):
            parent[draw(st.text(max_size=6))] = draw(weird_values)
        else:
            parent.insert(path[-1], draw(weird_values))
    return document


# -- the wire --------------------------------------------------------------------------------

HELLO = Hello(version=PROTOCOL_VERSION, pid=4242, app="chat-app", host="box")
wire_messages: st.SearchStrategy[WireMessage] = st.one_of(
    st.builds(ConnectionUpdate, key=keys, connection=connections),
    st.builds(FrameBatch, frames=st.lists(wire_frames, max_size=5)),
    # Frames as the app side sends them: records (tuples), in a batch of their own.
    st.builds(lambda key, index, frame: frames_message([record(key, index, frame)]), keys, counts, frames()),
    st.builds(FramesDropped, count=counts),
    wire_logs,
    st.builds(LoopLag, worst=st.floats(0, 10), mean=st.floats(0, 10)),
    st.builds(Held, keys=st.lists(keys, max_size=4)),
)
streams = st.tuples(hellos, st.lists(wire_messages, max_size=6)).map(lambda t: [t[0], *t[1]])


def decode(chunks: list[bytes], limit: int | None = None) -> list[WireMessage]:
    """What a Decoder makes of ``chunks``, up to its ProtocolError if any; nothing else may escape."""
    decoder = Decoder() if limit is None else Decoder(max_message_bytes=limit)
    out: list[WireMessage] = []
    reason = None
    try:
        for chunk in chunks:
            out.extend(decoder.feed(chunk))
        decoder.close()
    except ProtocolError as exc:
        reason = str(exc)
    assert reason is None or (reason and "\n" not in reason)  # a refusal says why, in one line
    for message in out:
        assert isinstance(message, WIRE_TYPES)
        if isinstance(message, FrameBatch):
            for wire in message.frames:
                assert type(wire.content) in (str, bytes, type(None))
    if out:
        assert out[0] == decoder.hello
        assert not any(isinstance(m, Hello) for m in out[1:])
    return out


@FUZZ_BYTES
@given(data=st.binary(max_size=300), points=st.lists(st.integers(0, 300), max_size=8), behind_hello=st.booleans())
def test_wire_any_bytes_split_anywhere(data: bytes, points: list[int], behind_hello: bool) -> None:
    stream = (encode([HELLO]) if behind_hello else b"") + data
    decode(split_at(stream, [min(p, len(stream)) for p in points]))


# MessagePack values that get past the tag: ext types (the timestamp one, -1, of lengths it does
# not allow), integers and floats at the edges, nesting, bytes where text goes and the reverse.
msgpack_leaves = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**63), 2**64 - 1),
    st.floats(),
    st.text(max_size=8),
    st.binary(max_size=8),
    st.builds(msgspec.msgpack.Ext, st.integers(-128, 127), st.binary(max_size=16)),
    st.builds(msgspec.msgpack.Ext, st.just(-1), st.binary(max_size=16)),
)
msgpack_values = st.recursive(
    msgpack_leaves,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=4), children, max_size=3),
    max_leaves=12,
)
TAGS = ["hello", "conn", "frames", "dropped", "log", "lag", "held", "nope"]


@st.composite
def tagged_bodies(draw: st.DrawFn) -> bytes:
    """A message's MessagePack: a known tag with random fields, or a valid message's with one field swapped."""
    if draw(st.booleans()):
        return msgspec.msgpack.encode([draw(st.sampled_from(TAGS)), *draw(st.lists(msgpack_values, max_size=12))])
    fields = msgspec.msgpack.decode(msgspec.msgpack.encode(draw(wire_messages)))
    target = fields
    if fields[1:] and isinstance(fields[1], list) and draw(st.booleans()):  # into a frame or the connection
        target = fields[1]
        if target and isinstance(target[0], list):
            target = target[0]
    if target:
        index = draw(st.integers(0, len(target) - 1))
        if draw(st.booleans()):
            target[index] = draw(msgpack_values)
        else:
            del target[index:]
    return msgspec.msgpack.encode(fields)


@FUZZ
@given(bodies=st.lists(tagged_bodies(), min_size=1, max_size=4), data=st.data())
def test_wire_messages_of_the_wrong_shape(bodies: list[bytes], data: st.DataObject) -> None:
    stream = encode([HELLO]) + b"".join(struct.pack(">I", len(body)) + body for body in bodies)
    points = data.draw(st.lists(st.integers(0, len(stream)), max_size=4))
    decode(split_at(stream, points))


@st.composite
def corrupted_streams(draw: st.DrawFn) -> bytes:
    messages = draw(streams)
    if draw(st.booleans()):  # a length prefix that lies: too big, beyond any limit, or short
        parts = [bytearray(encode([m])) for m in messages]
        part = draw(st.sampled_from(parts))
        (length,) = struct.unpack_from(">I", part)
        lie = draw(st.sampled_from([length + 1, length - 1, length * 2, 2**24, 2**24 + 1, 2**32 - 1, 0]))
        struct.pack_into(">I", part, 0, max(lie, 0))
        stream = b"".join(parts)
        if draw(st.booleans()):
            return stream
    else:
        stream = encode(messages)
    junk = st.binary(min_size=1, max_size=8) | st.sampled_from([b"\xff\xff\xff\xff", b"\x00\x00\x00\x00", b"\xc1"])
    return mutate_bytes(draw, stream, junk)


@FUZZ
@given(stream=corrupted_streams(), data=st.data(), limit=st.sampled_from([None, 64, 4096]))
def test_wire_corrupted_streams(stream: bytes, data: st.DataObject, limit: int | None) -> None:
    points = data.draw(st.lists(st.integers(0, len(stream)), max_size=6))
    decode(split_at(stream, points), limit)


@FUZZ
@given(messages=streams, data=st.data())
def test_wire_valid_stream_split_anywhere_decodes_as_whole(messages: list[WireMessage], data: st.DataObject) -> None:
    stream = encode(messages)
    points = data.draw(st.lists(st.integers(0, len(stream)), max_size=10))
    whole = decode([stream])
    assert decode(split_at(stream, points)) == whole
    # Records travel as tuples and come back as WireFrames: what they encode to is the same.
    assert encode(whole) == stream


# -- session files ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def directory(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One directory for the whole module: hypothesis runs many examples per test function."""
    return tmp_path_factory.mktemp("readers")


def read(directory: Path, data: bytes, *, name: str = "session.json", compress: bool = False) -> Session | None:
    """``read_session`` of a file holding ``data``: the session, or None after a SessionFileError."""
    path = directory / name
    path.write_bytes(gzip.compress(data, mtime=0) if compress else data)
    try:
        session = read_session(path)
    except SessionFileError as exc:
        message = str(exc)
        assert message.startswith(f"{path}: ")
        assert "\n" not in message
        return None
    assert isinstance(session, Session)
    assert type(session.exported_at) is float
    for connection in session.connections:
        assert isinstance(connection, Connection)
        for frame in connection.messages:
            assert isinstance(frame, Frame)
            allowed = bytes if frame.message_type in BINARY_KINDS else str
            assert frame.content is None or type(frame.content) is allowed, (frame.message_type, frame.content)
        for header, value in connection.headers:
            assert type(header) is str
            assert type(value) is str
    return session


@FUZZ
@given(
    value=weird_values,
    wrap=st.sampled_from(["none", "session", "har", "entries", "entry"]),
    compress=st.booleans(),
)
def test_any_json_is_a_session_or_a_session_file_error(directory: Path, value: Any, wrap: str, compress: bool) -> None:
    document = {
        "none": value,
        "session": {"format": "wsinspect.session", "version": 1, "exported_at": 1.0, "connections": value},
        "har": {"log": value},
        "entries": {"log": {"entries": value}},
        "entry": {"log": {"entries": [value, {"_webSocketMessages": value}]}},
    }[wrap]
    read(directory, to_bytes(document), compress=compress)


@FUZZ_BYTES
@given(data=st.binary(max_size=200), compress=st.booleans())
@example(data=b"\xff\xfe{}", compress=False)
@example(data=b'{"format": "\xff"}', compress=True)
def test_any_bytes_are_a_session_or_a_session_file_error(directory: Path, data: bytes, compress: bool) -> None:
    read(directory, data, compress=compress)


@FUZZ
@given(connections=sessions, data=st.data())
def test_valid_sessions_read_back_streamed_and_whole(
    directory: Path, connections: list[Connection], data: st.DataObject
) -> None:
    ours = dumps(connections, 1764350000.123)
    assert read(directory, ours, compress=data.draw(st.booleans())) == Session(
        exported_at=1764350000.123, connections=connections
    )
    # Laid out otherwise (not one frame a line): decoded whole, to the same session.
    assert read(directory, json.dumps(json.loads(ours)).encode()) == read(directory, ours)


connections_with_a_frame = st.builds(
    lambda connection, frame: msgspec.structs.replace(connection, messages=[*connection.messages, frame]),
    connections,
    frames(),
)


FRAME_FIELDS = [f for f in Frame.__struct_fields__ if f != "handler_time"] + ["handler_time"]
CONNECTION_FIELDS = [f for f in Connection.__struct_fields__ if f != "messages"]


@st.composite
def near_valid_sessions(draw: st.DrawFn) -> bytes:
    """A file as ``write_session`` lays it out (one frame a line), of connections and frames with
    a few fields of the wrong type or left out: read a block at a time as far as it goes."""
    connections = draw(st.lists(connections_with_a_frame, min_size=1, max_size=2))
    swaps: dict[bytes, bytes] = {}
    for number in range(draw(st.integers(1, 3))):
        connection = draw(st.sampled_from(connections))
        if draw(st.booleans()):
            target: Any = draw(st.sampled_from(connection.messages))
            field_name = draw(st.sampled_from(FRAME_FIELDS))
        else:
            target, field_name = connection, draw(st.sampled_from(CONNECTION_FIELDS))
        value = draw(weird_values | st.just(msgspec.UNSET))  # UNSET: the key is left out
        if value is msgspec.UNSET and field_name != "size_bytes":
            setattr(target, field_name, value)
            continue
        # The writer encodes what it is given (and sums sizes): a placeholder goes in, the text after.
        placeholder: Any = 9_876_543_210 + number if field_name == "size_bytes" else f"@@VALUE{number}@@"
        setattr(target, field_name, placeholder)
        if value is msgspec.UNSET:
            swaps[f', "size_bytes": {placeholder}'.encode()] = b""
        else:
            swaps[json.dumps(placeholder).encode()] = to_bytes(value)
    data = dumps(connections, 1764350000.123)
    for placeholder, raw in swaps.items():
        data = data.replace(placeholder, raw)
    return data


@FUZZ
@given(data=near_valid_sessions(), compress=st.booleans())
@example(data=dumps([], 1.0).replace(b"1.0", b"1" + b"0" * 400), compress=False).via("exported_at out of range")
@example(data=dumps([], 1.0).replace(b'"wsinspect.session"', b"[" * 5000 + b"]" * 5000), compress=False).via(
    "nested too deeply"
)
@example(data=dumps([], 1.0).replace(b'"version": 1', b'"version": "1\\n2"'), compress=False).via(
    "a version quoted in the error, with a line break"
)
def test_near_valid_sessions_streamed(directory: Path, data: bytes, compress: bool) -> None:
    read(directory, data, compress=compress)


@st.composite
def near_valid_documents(draw: st.DrawFn) -> bytes:
    """A session decoded into plain JSON, a few of its values broken, then written back, laid out
    as ``write_session`` does not: decoded whole."""
    document = json.loads(dumps(draw(st.lists(connections_with_a_frame, min_size=1, max_size=2)), 1.0))
    return to_bytes(mutate_document(draw, document), indent=draw(st.sampled_from([None, 1])))


def frame_content(kind: str, content: str) -> bytes:
    connection = Connection(
        connection_id="c",
        path="/",
        connected_at=1.0,
        messages=[Frame(direction="sent", message_type="text", content="@@C@@", timestamp=1.0, size_bytes=1)],
    )
    return dumps([connection], 1.0).replace(b'"text"', json.dumps(kind).encode()).replace(b'"@@C@@"', content.encode())


@FUZZ
@given(data=near_valid_documents(), compress=st.booleans())
@example(data=frame_content("text", "5"), compress=False).via("text content that is not text")
@example(data=frame_content("binary", "[1, 2]"), compress=False).via("binary content that is not base64 text")
@example(data=frame_content("close", "{}"), compress=False).via("a close reason that is not text")
@example(data=json.dumps(json.loads(frame_content("ping", "5"))).encode(), compress=False).via("decoded whole")
@example(data=b"[" * 100_000 + b"]" * 100_000, compress=False).via("nested too deeply, decoded whole")
def test_near_valid_sessions_whole(directory: Path, data: bytes, compress: bool) -> None:
    read(directory, data, compress=compress)


@st.composite
def broken_session_files(draw: st.DrawFn) -> tuple[bytes, bool]:
    """The bytes of a valid file (gzip-compressed or not) with a few flipped, inserted or cut."""
    data = dumps(draw(st.lists(connections_with_a_frame, max_size=2)), 1.0, har=draw(st.booleans()))
    compress = draw(st.booleans())
    if compress:
        data = gzip.compress(data, mtime=0)
    junk = st.binary(min_size=1, max_size=8) | st.sampled_from([b"\xff", b"\n]", b"},", b'"', b"\\", b"\x1f\x8b"])
    return mutate_bytes(draw, data, junk), compress


@FUZZ
@given(file=broken_session_files())
def test_broken_session_files(directory: Path, file: tuple[bytes, bool]) -> None:
    read(directory, file[0], name="session.json.gz" if file[1] else "session.json")


# -- HAR -------------------------------------------------------------------------------------


def har_message_shapes() -> st.SearchStrategy[Any]:
    """One of _webSocketMessages: right keys with random values, random keys, or not an object."""
    return st.one_of(
        st.fixed_dictionaries(
            {},
            optional={
                "type": st.sampled_from(["send", "receive"]) | weird_values,
                "time": timestamps | weird_values,
                "opcode": st.sampled_from([1, 2, 8, 9, 10]) | weird_values,
                "data": st.text(max_size=8)
                | st.binary(max_size=8).map(lambda b: base64.b64encode(b).decode())
                | weird_values,
            },
        ),
        weird_values,
    )


@st.composite
def near_valid_hars(draw: st.DrawFn) -> bytes:
    """A HAR file of connections with a few values broken, as wsinspect writes it or, without its
    ``_wsinspect`` keys, as a browser does; or with a list of messages of random shapes."""
    document = json.loads(dumps(draw(st.lists(connections_with_a_frame, min_size=1, max_size=2)), 1.0, har=True))
    log = document["log"]
    if draw(st.booleans()):  # as a browser writes it
        del log["_wsinspect"]
        for entry in log["entries"]:
            del entry["_wsinspect"]
    if draw(st.booleans()):
        entry = draw(st.sampled_from(log["entries"]))
        entry["_webSocketMessages"] = draw(st.lists(har_message_shapes(), max_size=4) | weird_values)
    else:
        document = mutate_document(draw, document)
    return to_bytes(document)


def har(messages: Any = (), exported_at: Any = None, **entry: Any) -> bytes:
    """A browser's HAR of one WebSocket entry."""
    values = {
        "startedDateTime": "2024-01-01T00:00:00.000Z",
        "time": 1.0,
        "request": {"url": "ws://host/ws?x=1", "headers": [{"name": "host", "value": "host"}]},
        "_webSocketMessages": list(messages),
        **entry,
    }
    log: dict[str, Any] = {"entries": [values]}
    if exported_at is not None:
        log["_wsinspect"] = {"exported_at": exported_at}
    return to_bytes({"log": log})


@FUZZ
@given(data=near_valid_hars())
@example(data=har([{"type": "send", "time": "@@BIG@@", "opcode": 1, "data": "x"}])).via("time out of range")
@example(data=har(time="@@BIG@@")).via("entry time out of range")
@example(data=har(exported_at="@@BIG@@")).via("exported_at out of range")
@example(data=har([{"type": "send", "time": 1, "opcode": 1, "data": [1, 2]}])).via("text data that is not text")
@example(data=har([{"type": "send", "time": 1, "opcode": 1, "data": {"a": 1}}])).via("text data an object")
@example(data=har(request={"url": "ws://h/", "headers": [{"name": 1, "value": None}]})).via("header not text")
@example(data=har(["@@DEEP@@"])).via("nested too deeply")
def test_near_valid_har(directory: Path, data: bytes) -> None:
    read(directory, data, name="session.har")


def test_the_placeholders_are_swapped() -> None:
    """The regression examples test what they say: no placeholder is left in a file."""
    data = har([{"type": "send", "time": "@@BIG@@", "opcode": 1, "data": "@@NOTUTF8@@"}], "@@DEEP@@")
    assert b"@@" not in data
    assert b'"time": 1' + b"0" * 400 in data
    assert b'"data": "\xff"' in data
