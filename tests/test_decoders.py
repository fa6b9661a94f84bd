"""The payload decoders, one by one: payloads made by the real libraries (msgspec, cbor2, protobuf,
python-engineio / python-socketio) or copied from the protocols' specifications, whole and cut."""

from __future__ import annotations

import json
import math
import struct
from typing import Any, Final

import cbor2
import engineio.packet as eio
import msgspec
import pytest
import socketio.packet as sio
from google.protobuf import descriptor_pb2, descriptor_pool, message_factory, struct_pb2

from wsinspect.decoders import (
    SUMMARY_LIMIT,
    CborDecoder,
    Decoded,
    GraphQLWSDecoder,
    JsonDecoder,
    JsonRpcDecoder,
    MsgpackDecoder,
    ProtobufDecoder,
    SocketIODecoder,
    StompDecoder,
    choose,
    compact,
    decode_raw,
    operation_name,
)
from wsinspect.decoders.binary import cbor_prefix, msgpack_prefix, plausible
from wsinspect.decoders.jsonish import NOT_JSON, close_json_prefix, parse_json


def decoded(subprotocol: str | None, payload: str | bytes, truncated: bool = False) -> Decoded:
    result = choose(subprotocol, payload, truncated)
    assert result is not None, payload
    assert result.truncated is truncated
    assert len(result.summary.splitlines()) <= 1
    assert len(result.summary) <= SUMMARY_LIMIT
    return result


# -- JSON -----------------------------------------------------------------------------------------


def test_json_text_and_binary() -> None:
    value = {"type": "chat", "payload": {"text": "héllo", "n": [1, 2.5, None, True]}}
    text = json.dumps(value, indent=2)  # pretty-printed: the summary is one line
    result = decoded(None, text)
    assert (result.decoder, result.tree) == ("json", value)
    assert result.summary == '{"type": "chat", "payload": {"text": "héllo", "n": [1, 2.5, null, true]}}'
    assert result.role is None
    assert result.pair_id is None
    assert decoded(None, text.encode()).tree == value
    assert decoded(None, b"  [1, 2]").tree == [1, 2]


@pytest.mark.parametrize(
    "payload", ["", "hello", "42", '"a string"', "true", "{broken", "[1, 2", b"\xff{}", b"[1, \xff]"]
)
def test_json_takes_only_whole_objects_and_arrays(payload: str | bytes) -> None:
    assert JsonDecoder().decode(payload) is None
    assert parse_json(payload) is NOT_JSON


def test_json_summary_is_cut() -> None:
    value = {"items": list(range(1000))}
    result = decoded(None, json.dumps(value))
    assert len(result.summary) == SUMMARY_LIMIT
    assert result.summary.endswith("…")
    assert result.tree == value


def test_json_nested_deeper_than_the_parser_goes_is_not_json() -> None:
    assert JsonDecoder().decode("[" * 100_000 + "]" * 100_000) is None
    assert JsonDecoder().decode("[" * 100_000, truncated=True) is None


@pytest.mark.parametrize(
    ("cut", "expected"),
    [
        ('{"a": 1, "b": [1, 2', {"a": 1, "b": [1]}),  # the 2 may be the start of 23
        ('{"a": 1, "b": [1, 2,', {"a": 1, "b": [1, 2]}),
        ('{"a": "hel', {"a": "hel…"}),
        ('{"a": "hel\\', {"a": "hel…"}),
        ('{"a": "\\u00e', {"a": "…"}),
        ('{"a": true', {"a": True}),
        ('{"a": tr', {}),
        ('{"a": 1, "key', {"a": 1}),
        ('{"a": 1, "key":', {"a": 1}),
        ('[{"x": {"y": [', [{"x": {"y": []}}]),
        ("{", {}),
    ],
)
def test_json_cut_decodes_as_far_as_it_goes(cut: str, expected: Any) -> None:
    result = decoded(None, cut, truncated=True)
    assert (result.decoder, result.tree, result.truncated) == ("json", expected, True)
    assert decoded(None, cut.encode(), truncated=True).tree == expected


def test_json_cut_in_a_utf8_character() -> None:
    data = json.dumps({"text": "ééé"}, ensure_ascii=False).encode()
    assert decoded(None, data[:12], truncated=True).tree == {"text": "é…"}


@pytest.mark.parametrize(
    "cut",
    [
        '{"a" 1',
        '{"a": 1}}',
        "[1, @",
        '["\x01',
        "[1, 2}",
        "[1 2",
        '{"a": 1 "b"',
        "{1: 2",
        "[1, 2] trailing",
        "{,",
        '{"a"]',
        "[:",
        '["a": 1',
        "[1,]",
        '{"a":}',
        "nul",
        '"just a string',
        "[",
        "{",
    ],
)
def test_json_broken_before_the_cut_is_not_json(cut: str) -> None:
    if cut in ("[", "{"):
        assert close_json_prefix(cut) == cut + ("]" if cut == "[" else "}")
        return
    assert close_json_prefix(cut) is None
    assert parse_json(cut, truncated=True) is NOT_JSON


def test_json_whole_payload_marked_truncated_keeps_the_mark() -> None:
    assert decoded(None, '{"a": 1}', truncated=True).tree == {"a": 1}


# -- MessagePack ----------------------------------------------------------------------------------

TICK: Final = {"symbol": "WSI", "price": 101.5, "volume": 1200, "flags": [True, False, None], "raw": b"\x00\xff"}


def test_msgpack_round_trip() -> None:
    payload = msgspec.msgpack.encode(TICK)
    result = decoded(None, payload)
    assert (result.decoder, result.tree) == ("msgpack", TICK)
    assert (
        result.summary
        == '{"symbol": "WSI", "price": 101.5, "volume": 1200, "flags": [true, false, null], "raw": h\'00ff\'}'
    )
    assert decoded(None, bytearray(payload)).tree == TICK
    assert decoded(None, memoryview(payload)).tree == TICK


def test_msgpack_odd_keys_and_extensions() -> None:
    payload = msgspec.msgpack.encode({1: "one", 2.5: "x"})
    assert decoded("msgpack", payload).tree == {1: "one", 2.5: "x"}
    assert decoded("msgpack", payload).summary == '{1: "one", 2.5: "x"}'
    assert decoded(None, msgspec.msgpack.encode({1: "one", 2: "two"})).tree == {1: "one", 2: "two"}
    ext = msgspec.msgpack.encode([msgspec.msgpack.Ext(5, b"ab")])
    assert decoded(None, ext).tree == [{"ext": 5, "data": b"ab"}]
    # a map whose key is an array (msgspec makes it a tuple)
    assert MsgpackDecoder().decode(b"\x81\x92\x01\x02\x03") == Decoded("msgpack", '{"[1, 2]": 3}', {"[1, 2]": 3})


def test_msgpack_sniffing_wants_a_container_using_every_byte() -> None:
    payload = msgspec.msgpack.encode(TICK)
    assert MsgpackDecoder().sniff(payload + b"\x00") is None
    assert MsgpackDecoder().sniff(msgspec.msgpack.encode("just a string")) is None
    assert MsgpackDecoder().sniff(msgspec.msgpack.encode(12)) is None
    # chosen by hand (or subprotocol) any value goes
    assert MsgpackDecoder().decode(msgspec.msgpack.encode(12)) == Decoded("msgpack", "12", 12)
    assert decoded("msgpack", msgspec.msgpack.encode("x")).tree == "x"
    assert MsgpackDecoder().decode("text") is None


@pytest.mark.parametrize(
    ("value", "sniffed"),
    [
        ({"a": 1}, True),
        ({1: "x", 2: "y"}, True),
        ([1.5, 2], True),
        (["x"], True),
        ([{"a": 1}], True),
        ([[1, "x"]], True),
        ({"text": "two\nlines\tand a tab"}, True),
        ([[1, 2], [3, 4]], False),  # only ints: what random bytes make
        ([1, 2, 3], False),
        ({}, False),
        ([], False),
        ({"a": 1, 2: "b"}, False),  # keys of two kinds
        ({b"k": 1}, False),
        (["a\x01"], False),  # control characters
        ({"a\x00": 1}, False),
    ],
)
def test_binary_sniffing_wants_a_plausible_message(value: Any, sniffed: bool) -> None:
    assert plausible(value) is sniffed
    for decoder, encode in ((MsgpackDecoder(), msgspec.msgpack.encode), (CborDecoder(), cbor2.dumps)):
        assert (decoder.sniff(encode(value)) is not None) is sniffed
        assert decoder.decode(encode(value)) is not None


def test_random_binary_is_seldom_taken_for_a_format() -> None:
    """The demo's ticker (a little-endian uint32 and a double): sniffing leaves nearly all raw."""
    taken = [seq for seq in range(5000) if choose(None, struct.pack("<Id", seq, 100 + seq / 5000)) is not None]
    assert len(taken) <= 5, taken


def test_msgpack_cut() -> None:
    value = {"type": "book", "bids": [[100.5, 3], [100.25, 7], [100.0, 12]], "name": "x" * 40, "blob": b"\x01" * 20}
    payload = msgspec.msgpack.encode(value)
    assert msgpack_prefix(payload) == value
    for cut in range(1, len(payload)):
        result = MsgpackDecoder().decode(payload[:cut], truncated=True)
        if result is not None:
            assert result.truncated
            assert_prefix(result.tree, value)
        sniffed = choose(None, payload[:cut], truncated=True)
        if cut > 10:
            assert sniffed == result
    half = decoded(None, payload[: payload.index(b"x" * 10)], truncated=True)
    assert half.tree == {"type": "book", "bids": value["bids"], "name": "…"}
    assert decoded(None, payload[:-5], truncated=True).tree["blob"] == b"\x01" * 15
    with pytest.raises(ValueError, match="MessagePack"):
        msgpack_prefix(b"\xc1")


@pytest.mark.parametrize(
    "value",
    [
        [-1, -33, 200, 70_000, 2**33, -(2**40), -200, -40_000, 1.5, "é" * 40, "s" * 300, b"b" * 300],
        {"ext": msgspec.msgpack.Ext(-3, b"12345678"), "ext16": msgspec.msgpack.Ext(1, b"x" * 300)},
        [list(range(20)), {str(n): n for n in range(20)}, [0] * 70_000],
    ],
)
def test_msgpack_prefix_reader_reads_every_kind(value: Any) -> None:
    payload = msgspec.msgpack.encode(value)
    expected = msgspec.msgpack.decode(payload)
    if isinstance(expected, dict):
        expected = {key: {"ext": item.code, "data": item.data} for key, item in expected.items()}
    assert msgpack_prefix(payload) == expected
    assert msgpack_prefix(payload[:-1]) != expected


# -- CBOR -----------------------------------------------------------------------------------------


def test_cbor_round_trip() -> None:
    value = {"symbol": "WSI", "price": 101.5, 7: [1, -2, b"\x00"], "nested": {"ok": True, "none": None}}
    assert choose(None, cbor2.dumps(value)) is None  # str and int keys: too odd to sniff
    result = decoded("cbor", cbor2.dumps(value))
    assert (result.decoder, result.tree) == ("cbor", value)
    assert (
        result.summary == '{"symbol": "WSI", "price": 101.5, 7: [1, -2, h\'00\'], "nested": {"ok": true, "none": null}}'
    )


def test_cbor_tags_and_simple_values_become_plain() -> None:
    value = [cbor2.CBORTag(4000, "x"), cbor2.CBORSimpleValue(99), cbor2.undefined, {"when": _datetime()}, 2**70]
    tree = decoded(None, cbor2.dumps(value)).tree
    assert tree == [
        {"tag": 4000, "value": "x"},
        {"simple": 99},
        "undefined",
        {"when": "2025-11-28T12:00:00+00:00"},
        2**70,
    ]
    # self-described CBOR (tag 55799) is sniffed too
    assert decoded(None, b"\xd9\xd9\xf7" + cbor2.dumps({"a": 1})).tree == {"a": 1}
    # a bignum too long to print shows as text
    huge = decoded("cbor", b"\xc2\x59\x10\x00" + b"\xff" * 4096).tree
    assert huge == "<int of 32,768 bits>"


def _datetime() -> Any:
    from datetime import UTC, datetime

    return datetime(2025, 11, 28, 12, tzinfo=UTC)


def test_cbor_sniffing_wants_a_container_using_every_byte() -> None:
    assert CborDecoder().sniff(cbor2.dumps([1, 2]) + b"\x01") is None
    assert CborDecoder().sniff(cbor2.dumps("text")) is None
    assert CborDecoder().decode(cbor2.dumps("text")) == Decoded("cbor", '"text"', "text")
    assert CborDecoder().decode(b"\x9b\xff\xff\xff\xff\xff\xff\xff\xff") is None  # 2**64 items promised
    assert CborDecoder().decode("text") is None


def test_cbor_cut() -> None:
    value = {"type": "book", "bids": [[100.5, 3], [100.25, 7]], "name": "x" * 40, "half": 0.5}
    payload = cbor2.dumps(value)
    for cut in range(1, len(payload)):
        result = choose(None, payload[:cut], truncated=True)
        if result is not None:
            assert result.truncated
            if result.decoder == "cbor":
                assert_prefix(result.tree, value)
    assert decoded(None, payload[: payload.index(b"x" * 10) + 5], truncated=True).tree["name"] == "xxxxx…"


def test_cbor_prefix_reader_reads_every_kind() -> None:
    value = [0, 23, 24, 255, 65_536, 2**40, -1, -500, 1.5, 1.1, "é" * 30, b"b" * 30, True, False, None]
    assert cbor_prefix(cbor2.dumps(value)) == value
    assert cbor_prefix(b"\xf9\x3c\x00" if False else b"\x81\xf9\x3c\x00") == [1.0]  # half float
    # indefinite-length array, map, text and bytes
    indefinite = b"\x9f\x01\xbf\x61a\x02\xff\x7f\x61a\x61b\xff\x5f\x41\x01\xff\xff"
    assert cbor2.loads(indefinite) == [1, {"a": 2}, "ab", b"\x01"]
    assert cbor_prefix(indefinite) == [1, {"a": 2}, "ab", b"\x01"]
    assert cbor_prefix(indefinite[:9]) == [1, {"a": 2}, "…"]
    assert cbor_prefix(indefinite[:10]) == [1, {"a": 2}, "a…"]
    assert cbor_prefix(b"\x82\xc1\x1a\x00\x00\x00\x01\xe0") == [{"tag": 1, "value": 1}, {"simple": 0}]
    assert cbor_prefix(b"\x81\xf8\x20") == [{"simple": 32}]
    assert cbor_prefix(b"\x81\xc1") == [{"tag": 1, "value": None}]
    for broken in (b"\x81\xff", b"\x81\x1c", b"\x81\x3f", b"\x81\xdf\x00", b"\x01", b"", b"\x7f\x01\xff"):
        with pytest.raises(ValueError, match="CBOR"):
            cbor_prefix(broken)


# -- protobuf -------------------------------------------------------------------------------------


def _tick_class() -> Any:
    """A protobuf message class made at run time (no protoc): Tick with a nested Quote."""
    F = descriptor_pb2.FieldDescriptorProto
    proto = descriptor_pb2.FileDescriptorProto(name="wsinspect_tick.proto", package="wsitest", syntax="proto3")
    quote = proto.message_type.add(name="Quote")
    quote.field.add(name="bid", number=1, type=F.TYPE_DOUBLE, label=F.LABEL_OPTIONAL)
    quote.field.add(name="venue", number=2, type=F.TYPE_STRING, label=F.LABEL_OPTIONAL)
    tick = proto.message_type.add(name="Tick")
    for name, number, kind, label in [
        ("symbol", 1, F.TYPE_STRING, F.LABEL_OPTIONAL),
        ("price", 2, F.TYPE_DOUBLE, F.LABEL_OPTIONAL),
        ("volume", 3, F.TYPE_INT64, F.LABEL_OPTIONAL),
        ("change", 4, F.TYPE_SINT32, F.LABEL_OPTIONAL),
        ("ratio", 5, F.TYPE_FLOAT, F.LABEL_OPTIONAL),
        ("quote", 7, F.TYPE_MESSAGE, F.LABEL_OPTIONAL),
        ("flags", 6, F.TYPE_INT32, F.LABEL_REPEATED),  # packed (proto3's default)
        ("raw", 8, F.TYPE_BYTES, F.LABEL_OPTIONAL),
        ("debt", 9, F.TYPE_INT64, F.LABEL_OPTIONAL),
        ("tags", 10, F.TYPE_STRING, F.LABEL_REPEATED),
        ("seq", 11, F.TYPE_FIXED64, F.LABEL_OPTIONAL),
        ("code", 1000, F.TYPE_FIXED32, F.LABEL_OPTIONAL),
    ]:
        field = tick.field.add(name=name, number=number, type=kind, label=label)
        if kind == F.TYPE_MESSAGE:
            field.type_name = ".wsitest.Quote"
    pool = descriptor_pool.DescriptorPool()
    pool.Add(proto)
    return message_factory.GetMessageClass(pool.FindMessageTypeByName("wsitest.Tick"))


def test_protobuf_as_decode_raw() -> None:
    Tick = _tick_class()
    message = Tick(symbol="WSI", price=101.5, volume=1200, change=-3, ratio=0.25, raw=b"\xff\x00", debt=-5)
    message.quote.bid = 1.25
    message.quote.venue = "XPAR"
    message.tags.extend(["a", "b"])
    message.flags.extend([1, 2, 3])
    message.seq = 7
    message.code = 3
    result = decoded(None, message.SerializeToString())
    assert result.decoder == "protobuf"
    assert result.tree == {
        1: "WSI",
        2: 101.5,
        3: 1200,
        4: 5,  # sint32 -3, zigzag: decode_raw cannot know
        5: 0.25,
        6: b"\x01\x02\x03",  # packed varints: bytes (decode_raw cannot know)
        7: {1: 1.25, 2: "XPAR"},
        8: b"\xff\x00",
        9: -5,
        10: ["a", "b"],
        11: 7,  # a fixed64 whose bits make no plausible double: the int
        1000: 3,
    }
    assert result.summary == (
        "{1: \"WSI\", 2: 101.5, 3: 1200, 4: 5, 5: 0.25, 6: h'010203', 7: {1: 1.25, 2: \"XPAR\"}, 8: h'ff00', 9: -5, "
        '10: ["a", "b"], 11: 7, 1000: 3}'
    )


def test_protobuf_well_known_struct_nests_messages() -> None:
    value = struct_pb2.Struct()
    value.update({"symbol": "WSI", "n": 2})
    tree = ProtobufDecoder().decode(value.SerializeToString())
    assert tree is not None
    # Struct: map<string, Value> as repeated entries {1: key, 2: Value}; Value's number_value is field 2
    assert tree.tree == {1: [{1: "symbol", 2: {3: "WSI"}}, {1: "n", 2: {2: 2.0}}]} or tree.tree == {
        1: [{1: "n", 2: {2: 2.0}}, {1: "symbol", 2: {3: "WSI"}}]
    }


def test_protobuf_groups_and_bad_wire() -> None:
    # field 1 group { field 2 varint 5 } , field 3 varint 1
    assert decode_raw(b"\x0b\x10\x05\x0c\x18\x01") == {1: {2: 5}, 3: 1}
    for broken in (
        b"\x0b\x10\x05",
        b"\x0c",
        b"\x0b\x10\x05\x14",
        b"\x0f",
        b"\x00\x01",
        b"\x08" + b"\xff" * 10 + b"\x01",
    ):
        with pytest.raises(ValueError, match="protobuf"):
            decode_raw(broken)
    assert decode_raw(b"\x08\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01") == {1: -1}
    with pytest.raises(ValueError, match="64 bits"):
        decode_raw(b"\x08\xff\xff\xff\xff\xff\xff\xff\xff\xff\x7f")


def test_protobuf_sniffing_is_careful() -> None:
    sniff = ProtobufDecoder().sniff
    assert sniff(b"hello world") is None  # text (it would parse: 'h' is field 13, varint 'e')
    assert sniff(b"") is None
    assert sniff(b"\x08\x96\x01\x00") is None  # a stray byte after the fields
    assert sniff(b"\xf8\xff\xff\xff\x0f\x01") is None  # field 2**29-1: fine by hand, not when sniffing
    assert ProtobufDecoder().decode(b"\xf8\xff\xff\xff\x0f\x01") is not None
    assert sniff("text") is None
    assert ProtobufDecoder().decode("text") is None
    assert ProtobufDecoder().decode(b"") == Decoded("protobuf", "{}", {})
    assert sniff(b"\x08" * (1 << 21)) is None  # larger than sniffing looks at
    in_order = b"\x08\x01\x10\x02"
    assert sniff(in_order) is not None
    assert sniff(in_order[2:] + in_order[:2]) is None  # field 2 before field 1: serializers do not
    assert ProtobufDecoder().decode(in_order[2:] + in_order[:2]) is not None
    doubles = b"\x09" + struct.pack("<d", 1.5) + b"\x11" + struct.pack("<d", 2.5)
    assert sniff(doubles) is None  # fixed-width fields only: random bytes make those
    assert ProtobufDecoder().decode(doubles) == Decoded("protobuf", "{1: 1.5, 2: 2.5}", {1: 1.5, 2: 2.5})
    assert sniff(b"\x0a\x02\xff\x00") is None  # one opaque bytes field
    assert sniff(b"\x0a\x02\xff\x00\x12\x02ok") is not None  # beside a string


def test_protobuf_cut() -> None:
    Tick = _tick_class()
    message = Tick(symbol="WSI", price=101.5, volume=1200)
    message.quote.venue = "XPAR-VENUE"
    message.tags.extend(["alpha", "beta"])
    payload = message.SerializeToString()
    full = decode_raw(payload)
    for cut in range(1, len(payload)):
        result = ProtobufDecoder().decode(payload[:cut], truncated=True)
        if result is not None:
            # the fields before the cut are whole; the one it split may be guessed otherwise
            assert result.truncated
            numbers = list(result.tree)
            assert numbers == list(full)[: len(numbers)]
            assert all(result.tree[number] == full[number] for number in numbers[:-1])
    cut = payload[: payload.index(b"VENUE")]
    assert decoded("protobuf", cut, truncated=True).tree == {1: "WSI", 2: 101.5, 3: 1200, 7: {2: "XPAR-…"}}


# -- Socket.IO ------------------------------------------------------------------------------------


def engine_message(packet: sio.Packet) -> str:
    encoded = packet.encode()
    text = encoded[0] if isinstance(encoded, list) else encoded
    return str(eio.Packet(eio.MESSAGE, data=text).encode())


def test_socketio_event_and_ack_from_python_socketio() -> None:
    event = engine_message(sio.Packet(sio.EVENT, data=["chat", {"text": "hi"}], id=12))
    assert event == '4212["chat",{"text":"hi"}]'
    result = decoded(None, event)
    assert result.decoder == "socket.io"
    assert result.summary == 'event "chat" (ack 12) {"text": "hi"}'
    assert result.tree == {"packet": "EVENT", "namespace": "/", "event": "chat", "args": [{"text": "hi"}], "ack_id": 12}
    assert (result.role, result.pair_id) == ("request", "12")
    ack = decoded(None, engine_message(sio.Packet(sio.ACK, data=["ok", 3], id=12)))
    assert (ack.summary, ack.role, ack.pair_id) == ('ack 12 ["ok", 3]', "reply", "12")
    plain_event = decoded(None, engine_message(sio.Packet(sio.EVENT, data=["tick"])))
    assert (plain_event.summary, plain_event.role, plain_event.pair_id) == ('event "tick"', "notification", None)


def test_socketio_namespaces_connect_and_errors() -> None:
    event = decoded(None, engine_message(sio.Packet(sio.EVENT, data=["join", "room"], namespace="/admin", id=7)))
    assert event.summary == '/admin event "join" (ack 7) "room"'
    assert (event.tree["namespace"], event.pair_id) == ("/admin", "/admin#7")
    connect = decoded(None, engine_message(sio.Packet(sio.CONNECT, data={"token": "t"}, namespace="/admin")))
    assert (connect.summary, connect.tree) == (
        'connect /admin {"token": "t"}',
        {"packet": "CONNECT", "namespace": "/admin", "data": {"token": "t"}},
    )
    assert decoded(None, engine_message(sio.Packet(sio.CONNECT))).summary == "connect /"
    assert decoded(None, engine_message(sio.Packet(sio.DISCONNECT, namespace="/chat"))).summary == "disconnect /chat"
    error = decoded(None, engine_message(sio.Packet(sio.CONNECT_ERROR, data={"message": "Not authorized"})))
    assert (error.summary, error.role) == ('connect error {"message": "Not authorized"}', "error")
    assert decoded(None, '44"Not authorized"').tree["data"] == "Not authorized"  # Socket.IO 2
    assert decoded(None, '40/admin?x=1,{"sid":"a"}').tree["namespace"] == "/admin"


def test_socketio_binary_event_placeholders() -> None:
    encoded = sio.Packet(sio.EVENT, data=["upload", {"name": "a.bin", "data": b"\x00\x01"}]).encode()
    assert isinstance(encoded, list)
    assert encoded[1] == b"\x00\x01"
    result = decoded(None, str(eio.Packet(eio.MESSAGE, data=encoded[0]).encode()))
    assert result.summary == 'event "upload" {"name": "a.bin", "data": <attachment 0>}'
    assert result.tree["attachments"] == 1
    assert result.tree["args"] == [{"name": "a.bin", "data": {"_placeholder": True, "num": 0}}]
    ack = sio.Packet(sio.ACK, data=[b"\x01"], id=4).encode()
    assert decoded(None, "4" + ack[0]).summary == "ack 4 [<attachment 0>]"


def test_engineio_packets_from_python_engineio() -> None:
    handshake = {"sid": "abc", "upgrades": [], "pingInterval": 25000, "pingTimeout": 20000, "maxPayload": 1000000}
    opened = decoded(None, eio.Packet(eio.OPEN, data=handshake).encode())
    assert (opened.tree, opened.summary[:19]) == ({"packet": "OPEN", "data": handshake}, 'open {"sid": "abc",')
    assert decoded(None, eio.Packet(eio.PING).encode()).summary == "ping"
    assert decoded(None, eio.Packet(eio.PONG).encode()).summary == "pong"
    assert decoded(None, eio.Packet(eio.PING, data="probe").encode()).tree == {"packet": "PING", "data": "probe"}
    assert decoded(None, eio.Packet(eio.CLOSE).encode()).summary == "close"
    assert decoded(None, eio.Packet(eio.UPGRADE).encode()).summary == "upgrade"
    assert decoded(None, eio.Packet(eio.NOOP).encode()).summary == "noop"


@pytest.mark.parametrize(
    "payload",
    [
        "42",
        "4",
        "43",
        '43["no ack id"]',
        "42[1, 2]",
        "42{}",
        '42"x"',
        "41x",
        '41{"a": 1}',
        "2ping!",
        "0{}",
        "0[]",
        "7",
        "4hello",
        '42/admin["x"]',
        '4,["x"]',
        '451["x"]',
        '42-1["x"]',
        "43" + "9" * 25 + "[1]",
        '401["x"]',
    ],
)
def test_socketio_sniffing_refuses_what_is_not_a_packet(payload: str) -> None:
    result = choose(None, payload)
    assert result is None or result.decoder != "socket.io"


def test_socketio_by_hand_is_lenient() -> None:
    decoder = SocketIODecoder()
    assert decoder.decode("4hello") == Decoded("socket.io", 'message "hello"', {"packet": "MESSAGE", "data": "hello"})
    assert decoder.decode("2ping!") == Decoded("socket.io", "ping ping!", {"packet": "PING", "data": "ping!"})
    assert decoder.decode("6x") == Decoded("socket.io", "noop x", {"packet": "NOOP", "data": "x"})
    assert decoder.decode("0{}") is not None
    assert decoder.decode(b"42[]") is None
    assert decoder.decode("") is None


def test_socketio_cut() -> None:
    payload = engine_message(sio.Packet(sio.EVENT, data=["chat", {"text": "hello there"}]))
    result = decoded(None, payload[:-8], truncated=True)
    assert result.tree == {"packet": "EVENT", "namespace": "/", "event": "chat", "args": [{"text": "hello …"}]}
    assert decoded(None, '0{"sid":"ab', truncated=True).tree == {"packet": "OPEN", "data": {"sid": "ab…"}}


# -- GraphQL over WebSocket -----------------------------------------------------------------------

SUBSCRIBE: Final = {
    "id": "1",
    "type": "subscribe",
    "payload": {
        "query": "# prices\nsubscription OnPrice($symbol: String!) { price(symbol: $symbol) { value } }",
        "variables": {"symbol": "WSI"},
    },
}


def test_graphql_transport_ws_conversation() -> None:
    protocol = "graphql-transport-ws"
    messages = [
        ({"type": "connection_init", "payload": {"token": "t"}}, 'connection_init {"token": "t"}', None, None),
        ({"type": "connection_ack"}, "connection_ack", None, None),
        (SUBSCRIBE, 'subscribe OnPrice (id 1) {"symbol": "WSI"}', "request", "1"),
        (
            {"id": "1", "type": "next", "payload": {"data": {"price": {"value": 1.5}}}},
            'next (id 1) {"price": {"value": 1.5}}',
            "reply",
            "1",
        ),
        (
            {"id": "1", "type": "error", "payload": [{"message": "Cannot query field"}]},
            "error (id 1) Cannot query field",
            "error",
            "1",
        ),
        ({"id": "1", "type": "complete"}, "complete (id 1)", None, "1"),
        ({"type": "ping"}, "ping", None, None),
        ({"type": "pong", "payload": {"t": 1}}, 'pong {"t": 1}', None, None),
    ]
    for message, summary, role, pair_id in messages:
        result = decoded(protocol, json.dumps(message))
        assert (result.decoder, result.summary, result.role, result.pair_id, result.tree) == (
            "graphql-ws",
            summary,
            role,
            pair_id,
            message,
        )


def test_graphql_legacy_apollo_conversation() -> None:
    protocol = "graphql-ws"
    start = {"id": "7", "type": "start", "payload": {"query": "query { hello }", "operationName": "Hello"}}
    assert decoded(protocol, json.dumps(start)).summary == "start Hello (id 7)"
    data = {"id": "7", "type": "data", "payload": {"data": {"hello": "world"}, "errors": [{"message": "x"}]}}
    assert (decoded(protocol, json.dumps(data)).role, decoded(protocol, json.dumps(data)).summary[:10]) == (
        "error",
        "data (id 7",
    )
    assert decoded(protocol, '{"type": "ka"}').summary == "ka"
    assert decoded(protocol, '{"id": "7", "type": "stop"}').summary == "stop (id 7)"
    error = decoded(protocol, '{"id": "7", "type": "error", "payload": {"message": "bad"}}')
    assert (error.summary, error.role) == ("error (id 7) bad", "error")
    assert decoded(protocol, '{"type": "connection_error", "payload": {"message": "no"}}').role is None
    assert decoded(protocol, '{"id": 3, "type": "complete"}').pair_id == "3"


def test_graphql_operation_names() -> None:
    assert operation_name({"query": "subscription OnPrice { price }"}) == "OnPrice"
    assert operation_name({"query": "  mutation\n  Buy($n: Int) { buy(n: $n) }"}) == "Buy"
    assert operation_name({"query": "subscription { price }"}) == "anonymous subscription"
    assert operation_name({"query": "{ hello }"}) == "anonymous query"
    assert operation_name({"query": "query A { a } query B { b }", "operationName": "B"}) == "B"
    assert operation_name({"operationName": "X"}) == "X"
    assert operation_name({}) is None
    assert operation_name("query") is None


def test_graphql_sniffing_needs_the_shape() -> None:
    assert decoded(None, json.dumps(SUBSCRIBE)).decoder == "graphql-ws"
    assert decoded(None, '{"type": "connection_ack"}').decoder == "graphql-ws"
    for ordinary in (
        '{"type": "ping"}',  # many apps' own heartbeat
        '{"type": "pong"}',
        '{"type": "error", "message": "bad"}',
        '{"type": "subscribe", "channel": "prices"}',
        '{"type": "subscribe", "id": "1", "payload": {"channel": "prices"}}',
        '{"type": "next", "id": "1", "payload": {"page": 2}}',
        '{"type": "complete", "id": "1", "payload": {}}',
        '{"type": "data", "id": 1, "payload": {"data": 1}}',
        '{"type": "connection_init", "id": "1"}',
    ):
        assert decoded(None, ordinary).decoder == "json", ordinary
        assert GraphQLWSDecoder().decode(ordinary) is not None  # by subprotocol or by hand: taken


def test_graphql_cut() -> None:
    text = json.dumps(SUBSCRIBE)
    result = decoded(None, text[: text.index("price(")], truncated=True)
    assert (result.decoder, result.summary) == ("graphql-ws", "subscribe OnPrice (id 1)")
    result = decoded(None, text[: text.index('"payload"') + 4], truncated=True)
    assert (result.decoder, result.summary) == ("graphql-ws", "subscribe (id 1)")


# -- JSON-RPC -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("message", "summary", "role", "pair_id"),
    [
        (
            {"jsonrpc": "2.0", "method": "subtract", "params": [42, 23], "id": 3},
            "request subtract (id 3) [42, 23]",
            "request",
            "3",
        ),
        (
            {"jsonrpc": "2.0", "method": "subtract", "params": {"a": 1}, "id": "x"},
            'request subtract (id x) {"a": 1}',
            "request",
            "x",
        ),
        (
            {"jsonrpc": "2.0", "method": "update", "params": [1, 2, 3]},
            "notification update [1, 2, 3]",
            "notification",
            None,
        ),
        ({"jsonrpc": "2.0", "method": "ping"}, "notification ping", "notification", None),
        ({"jsonrpc": "2.0", "result": 19, "id": 3}, "result (id 3) 19", "reply", "3"),
        ({"jsonrpc": "2.0", "result": None, "id": 4}, "result (id 4) null", "reply", "4"),
        (
            {"jsonrpc": "2.0", "error": {"code": -32601, "message": "Method not found"}, "id": "1"},
            "error (id 1) -32601 Method not found",
            "error",
            "1",
        ),
        (
            {"jsonrpc": "2.0", "error": {"code": -32700, "message": "Parse error"}, "id": None},
            "error -32700 Parse error",
            "error",
            None,
        ),
    ],
)
def test_jsonrpc_messages(message: dict[str, Any], summary: str, role: str, pair_id: str | None) -> None:
    result = decoded(None, json.dumps(message))
    assert (result.decoder, result.summary, result.role, result.pair_id, result.tree) == (
        "json-rpc",
        summary,
        role,
        pair_id,
        message,
    )


def test_jsonrpc_batches_pair_by_their_ids() -> None:
    requests = [
        {"jsonrpc": "2.0", "method": "sum", "params": [1, 2, 4], "id": "1"},
        {"jsonrpc": "2.0", "method": "notify_hello", "params": [7]},
        {"jsonrpc": "2.0", "method": "get_data", "id": "9"},
    ]
    replies = [{"jsonrpc": "2.0", "result": ["hello", 5], "id": "9"}, {"jsonrpc": "2.0", "result": 7, "id": "1"}]
    request = decoded(None, json.dumps(requests))
    reply = decoded(None, json.dumps(replies))
    assert request.summary.startswith("batch of 3: request sum (id 1) [1, 2, 4], notification notify_hello [7]")
    assert (request.role, request.pair_id) == ("request", "1,9")
    assert (reply.role, reply.pair_id) == ("reply", "1,9")
    notes = decoded(None, json.dumps(requests[1:2] * 2))
    assert (notes.role, notes.pair_id) == ("notification", None)
    mixed = decoded(None, json.dumps([requests[0], replies[0]]))
    assert (mixed.decoder, mixed.role, mixed.pair_id) == ("json-rpc", None, None)
    assert decoded(None, json.dumps([requests[0], {"not": "rpc"}])).decoder == "json"
    assert decoded(None, "[]").decoder == "json"


def test_jsonrpc_big_batches_show_a_few_and_do_not_pair() -> None:
    requests = [{"jsonrpc": "2.0", "method": "get", "params": [n], "id": n} for n in range(150)]
    result = decoded(None, json.dumps(requests))
    assert result.summary.startswith("batch of 150: request get (id 0) [0], request get (id 1) [1]")
    assert result.summary.count("request get") <= 8
    assert (result.role, result.pair_id) == (None, None)
    assert decoded(None, json.dumps(requests[:100])).pair_id == ",".join(sorted(str(n) for n in range(100)))


def test_jsonrpc_sniffing_needs_the_version_but_the_subprotocol_does_not() -> None:
    legacy = '{"method": "echo", "params": ["hi"], "id": 1}'
    assert decoded(None, legacy).decoder == "json"
    assert decoded("jsonrpc", legacy).summary == 'request echo (id 1) ["hi"]'
    for ordinary in (
        '{"jsonrpc": "2.0", "method": 5, "id": 1}',
        '{"jsonrpc": "2.0", "method": "x", "params": 5}',
        '{"jsonrpc": "2.0", "result": 1}',
        '{"jsonrpc": "2.0", "result": 1, "error": {}, "id": 1}',
        '{"jsonrpc": "2.0", "error": "bad", "id": 1}',
        '{"jsonrpc": "2.0", "id": 1, "extra": true, "result": 1}',
        '{"jsonrpc": "2.0", "id": [1], "result": 1}',
        '{"jsonrpc": 2, "method": "x"}',
    ):
        assert decoded(None, ordinary).decoder == "json", ordinary
    assert JsonRpcDecoder().decode('{"error": "bad", "id": 1}') == Decoded(
        "json-rpc", 'error (id 1) "bad"', {"error": "bad", "id": 1}, role="error", pair_id="1"
    )


def test_jsonrpc_cut() -> None:
    text = json.dumps({"jsonrpc": "2.0", "method": "subtract", "params": [42, 23, 7], "id": 3})
    result = decoded(None, text[:-12], truncated=True)
    assert (result.decoder, result.summary, result.role) == (
        "json-rpc",
        "notification subtract [42, 23]",
        "notification",
    )
    text = json.dumps({"jsonrpc": "2.0", "id": 3, "result": {"rows": [1, 2, 3]}})
    assert decoded(None, text[:-8], truncated=True).summary == 'result (id 3) {"rows": [1]}'
    assert (
        decoded(None, '{"jsonrpc": "2.0", "id": 3, "res', truncated=True).summary
        == 'json-rpc {"jsonrpc": "2.0", "id": 3}'
    )


# -- STOMP ----------------------------------------------------------------------------------------


def test_stomp_frames() -> None:
    frames = [
        ("CONNECT\naccept-version:1.2\nhost:broker\n\n\x00", "CONNECT broker", "request", "CONNECT"),
        ("CONNECTED\nversion:1.2\nheart-beat:0,0\n\n\x00\n", "CONNECTED (version 1.2)", "reply", "CONNECT"),
        (
            'SEND\ndestination:/queue/a\ncontent-type:application/json\n\n{"qty": 3, "sku": "A-1"}\x00',
            'SEND /queue/a (24 B) {"qty": 3, "sku": "A-1"}',
            None,
            None,
        ),
        (
            "SUBSCRIBE\r\nid:sub-0\r\ndestination:/topic/prices\r\nreceipt:77\r\n\r\n\x00",
            "SUBSCRIBE /topic/prices (id sub-0)",
            "request",
            "77",
        ),
        ("RECEIPT\nreceipt-id:77\n\n\x00", "RECEIPT (receipt-id 77)", "reply", "77"),
        (
            "MESSAGE\ndestination:/topic/prices\nmessage-id:9\nsubscription:sub-0\n\nplain text\x00",
            'MESSAGE /topic/prices (10 B) "plain text"',
            None,
            None,
        ),
        ("ERROR\nmessage:Bad destination\nreceipt-id:78\n\nmore detail\x00", "ERROR Bad destination", "error", "78"),
        ("ERROR\n\nno message header\x00", 'ERROR "no message header"', "error", None),
        ("UNSUBSCRIBE\nid:sub-0\n\n\x00", "UNSUBSCRIBE (id sub-0)", None, None),
        ("BEGIN\ntransaction:tx1\n\n\x00", "BEGIN (transaction tx1)", None, None),
        ("DISCONNECT\nreceipt:99\n\n\x00", "DISCONNECT", "request", "99"),
    ]
    for frame, summary, role, pair_id in frames:
        result = decoded(None, frame)
        assert (result.decoder, result.summary, result.role, result.pair_id) == ("stomp", summary, role, pair_id)
        assert decoded("v12.stomp", frame.encode()).summary == summary


def test_stomp_headers_and_bodies() -> None:
    send = decoded(None, 'SEND\ndestination:/queue/a\ncontent-type:application/json\n\n{"qty": 3}\x00')
    assert send.tree == {
        "command": "SEND",
        "headers": {"destination": "/queue/a", "content-type": "application/json"},
        "body": {"qty": 3},
    }
    escaped = decoded(None, "SEND\ndestination:/a\\cb\nx:1\\n2\\\\\nx:second\n\n\x00")
    assert escaped.tree["headers"] == {"destination": "/a:b", "x": "1\n2\\"}  # the first repeat counts
    connect = decoded(None, "CONNECT\nlogin:a\\cb\n\n\x00")
    assert connect.tree["headers"] == {"login": "a\\cb"}  # CONNECT headers are not escaped
    binary = b"SEND\ndestination:/q\ncontent-length:3\n\n\x00\xff\x01\x00"
    assert decoded(None, binary).tree["body"] == b"\x00\xff\x01"
    assert decoded(None, binary).summary == "SEND /q (3 B) h'00ff01'"
    assert decoded("v12.stomp", "\n").summary == "heart-beat"
    assert decoded("v12.stomp", b"\r\n").tree == {"command": "HEARTBEAT"}


@pytest.mark.parametrize(
    "payload",
    [
        "\n",
        "SEND",
        "SEND\n",
        "SEND\ndestination:/a\n\nbody without NUL",
        "SENDX\n\n\x00",
        "send\n\n\x00",
        "SEND\ndestination:/a\n\nbody\x00trailing",
        "SEND\nno colon\n\n\x00",
        b"SEND\n\xff:\xff\n\n\x00",
        "SEND\ncontent-length:2\n\nabc\x00",
    ],
)
def test_stomp_sniffing_refuses_what_is_not_a_frame(payload: str | bytes) -> None:
    assert StompDecoder().sniff(payload) is None


def test_stomp_by_subprotocol_is_lenient() -> None:
    assert decoded("v12.stomp", "SEND\ndestination:/a\n\nbody without NUL").tree["body"] == "body without NUL"
    assert decoded("v11.stomp", "SEND\ncontent-length:2\n\nabc\x00").tree["body"] == "abc"
    assert decoded("v10.stomp", "DISCONNECT").summary == "DISCONNECT" if StompDecoder().decode("DISCONNECT") else True
    assert StompDecoder().decode(b"") is None
    assert decoded("v12.stomp", "SEND\ncontent-length:\u00b2\n\nab\x00").tree["body"] == "ab"  # "²" is no length
    assert choose(None, '42\u0661["x"]') is None  # an Arabic-Indic digit is no ack id


def test_stomp_cut() -> None:
    frame = 'SEND\ndestination:/queue/a\ncontent-type:application/json\n\n{"qty": 3, "name": "abcdef"}\x00'
    result = decoded(None, frame[:-8], truncated=True)
    assert (result.decoder, result.tree["body"], result.summary) == (
        "stomp",
        {"qty": 3, "name": "a…"},
        'SEND /queue/a (21 B) {"qty": 3, "name": "a…"}',
    )
    assert decoded(None, frame[:20], truncated=True).tree == {
        "command": "SEND",
        "headers": {"destination": "/qu"},
        "body": "",
    }


# -- summaries ------------------------------------------------------------------------------------


def test_summaries_stay_on_one_line() -> None:
    assert SocketIODecoder().decode("1\nclose\r\n") == Decoded(
        "socket.io", "close  close  ", {"packet": "CLOSE", "data": "\nclose\r\n"}
    )
    assert compact(["a\u2028b"]) == '["a b"]'
    assert compact(b"x", limit=1) == "…"


def test_compact_writes_one_short_line() -> None:
    assert compact({"a": [1, 2.5, None, True, False, "x\ny"]}) == '{"a": [1, 2.5, null, true, false, "x\\ny"]}'
    assert compact({1: b"\x00\x01", None: math.nan, 2.5: math.inf, False: -math.inf}) == (
        "{1: h'0001', null: NaN, 2.5: Infinity, false: -Infinity}"
    )
    assert compact("x" * 500) == '"' + "x" * 198 + "…"
    assert compact(b"\x00" * 500, limit=20) == "h'" + "0" * 17 + "…"
    assert compact([[[[1]]]], limit=5) == "[[[[…"
    assert compact(2**40000) == "<int of 40,001 bits>"
    nested: list[Any] = []
    for _ in range(300):
        nested = [nested]
    assert "…" in compact(nested, limit=1000)

    class Odd:
        def __str__(self) -> str:
            raise RuntimeError("no")

    assert compact([Odd(), (1, 2), {"k": frozenset()}]) == '[<Odd>, [1, 2], {"k": frozenset()}]'


# -- helpers --------------------------------------------------------------------------------------


def assert_prefix(partial: Any, full: Any) -> None:
    """``partial`` is what a cut payload of ``full`` may hold: containers holding a prefix of the
    items (the last one maybe partial), strings cut short ending in "…"."""
    if isinstance(partial, dict):
        assert isinstance(full, dict)
        keys = list(partial)
        assert keys == list(full)[: len(keys)]
        for key in keys[:-1]:
            assert partial[key] == full[key]
        if keys:
            assert_prefix(partial[keys[-1]], full[keys[-1]])
    elif isinstance(partial, list):
        assert isinstance(full, list)
        assert len(partial) <= len(full)
        assert partial[:-1] == full[: max(0, len(partial) - 1)]
        if partial:
            assert_prefix(partial[-1], full[len(partial) - 1])
    elif isinstance(partial, str) and partial != full:
        assert isinstance(full, str)
        assert partial.endswith("…")
        assert full.startswith(partial[:-1]), (partial, full)
    elif isinstance(partial, bytes):
        assert isinstance(full, bytes)
        assert full.startswith(partial)
    else:
        assert partial == full
