"""Any payload into any decoder, and into choose(): a Decoded or None out, never an exception.

Besides random text and bytes, the strategies build payloads that get past each format's first
checks (JSON documents, Engine.IO / Socket.IO headers, GraphQL and JSON-RPC shapes, STOMP frames,
MessagePack, CBOR and protobuf encodings), whole and cut short.
"""

from __future__ import annotations

import json
import math
import os
from typing import Any

import cbor2
import msgspec
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from wsinspect.decoders import SUMMARY_LIMIT, ConnectionDecoding, Decoded, available, choose, compact
from wsinspect.decoders.binary import cbor_prefix, msgpack_prefix
from wsinspect.decoders.jsonish import NOT_JSON, parse_json

SUBPROTOCOLS = [None, "graphql-transport-ws", "graphql-ws", "v12.stomp", "jsonrpc", "msgpack", "cbor", "protobuf", "x"]

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: st.lists(children, max_size=5) | st.dictionaries(st.text(max_size=8), children, max_size=5),
    max_leaves=25,
)
json_documents = st.one_of(
    st.lists(json_values, max_size=5),
    st.dictionaries(st.text(max_size=8), json_values, max_size=5),
).map(json.dumps)

# Shapes of the JSON protocols with random parts.
graphql_messages = st.fixed_dictionaries(
    {"type": st.sampled_from(["connection_init", "subscribe", "next", "error", "complete", "start", "data", "ka"])},
    optional={
        "id": st.text(max_size=4) | st.integers(),
        "payload": json_values
        | st.fixed_dictionaries(
            {},
            optional={"query": st.text(max_size=40), "operationName": json_values, "variables": json_values},
        ),
    },
).map(json.dumps)
jsonrpc_messages = st.fixed_dictionaries(
    {"jsonrpc": st.sampled_from(["2.0", "1.0"]) | json_values},
    optional={
        "method": st.text(max_size=8) | json_values,
        "params": json_values,
        "id": st.integers() | st.text(max_size=4) | st.none() | json_values,
        "result": json_values,
        "error": json_values | st.fixed_dictionaries({"code": st.integers(), "message": st.text(max_size=10)}),
    },
)
jsonrpc_payloads = st.one_of(jsonrpc_messages, st.lists(jsonrpc_messages, max_size=3)).map(json.dumps)

socketio_payloads = st.builds(
    lambda head, tail: head + tail,
    st.sampled_from(
        [
            "0",
            "1",
            "2",
            "3",
            "4",
            "5",
            "6",
            "40",
            "41",
            "42",
            "43",
            "44",
            "45",
            "46",
            "451-",
            "461-",
            "42/admin,",
            "4312",
            "42/a?x=1,3",
            "40/",
            "2probe",
            "3probe",
        ]
    ),
    st.one_of(st.text(max_size=30), json_documents, st.just('["chat",{"_placeholder":true,"num":0}]'), st.just("")),
)

stomp_payloads = st.builds(
    lambda command, headers, body, end: f"{command}\n{headers}\n\n{body}{end}",
    st.sampled_from(["SEND", "MESSAGE", "CONNECT", "CONNECTED", "SUBSCRIBE", "ERROR", "RECEIPT", "ACK", "STOMP"]),
    st.lists(
        st.builds(
            lambda k, v: f"{k}:{v}",
            st.sampled_from(["destination", "id", "receipt", "content-length", "content-type", "message", "x\\c"]),
            st.text(max_size=10),
        ),
        max_size=4,
    ).map("\n".join),
    st.text(max_size=30) | json_documents,
    st.sampled_from(["\x00", "", "\x00\n", "\x00x"]),
)

packable = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**63), 2**64 - 1)
    | st.floats()
    | st.text(max_size=20)
    | st.binary(max_size=20),
    lambda children: (
        st.lists(children, max_size=5)
        | st.dictionaries(st.text(max_size=8) | st.integers(-(2**63), 2**63), children, max_size=5)
    ),
    max_leaves=25,
)
msgpack_payloads = packable.map(msgspec.msgpack.encode)
cbor_payloads = packable.map(cbor2.dumps)


def _field(number: int, wire: int, body: bytes) -> bytes:
    return _varint(number << 3 | wire) + body


def _varint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


protobuf_fields = st.one_of(
    st.builds(lambda n, v: _field(n, 0, _varint(v)), st.integers(1, 2000), st.integers(0, 2**64 - 1)),
    st.builds(lambda n, b: _field(n, 1, b), st.integers(1, 2000), st.binary(min_size=8, max_size=8)),
    st.builds(lambda n, b: _field(n, 5, b), st.integers(1, 2000), st.binary(min_size=4, max_size=4)),
    st.builds(lambda n, b: _field(n, 2, _varint(len(b)) + b), st.integers(1, 2000), st.binary(max_size=20)),
)
protobuf_messages = st.recursive(
    st.lists(protobuf_fields, max_size=6).map(b"".join),
    lambda inner: st.builds(
        lambda n, body, rest: _field(n, 2, _varint(len(body)) + body) + rest, st.integers(1, 50), inner, inner
    ),
    max_leaves=8,
)

any_text = st.one_of(st.text(), json_documents, graphql_messages, jsonrpc_payloads, socketio_payloads, stomp_payloads)
any_bytes = st.one_of(
    st.binary(),
    msgpack_payloads,
    cbor_payloads,
    protobuf_messages,
    json_documents.map(str.encode),
    stomp_payloads.map(str.encode),
)
any_payload = st.one_of(any_text, any_bytes)


@st.composite
def maybe_cut(draw: st.DrawFn, payloads: st.SearchStrategy[Any]) -> tuple[Any, bool]:
    payload = draw(payloads)
    if draw(st.booleans()) and len(payload) > 1:
        return payload[: draw(st.integers(1, len(payload) - 1))], True
    return payload, draw(st.booleans())


def check(result: Any, truncated: bool) -> None:
    assert result is None or isinstance(result, Decoded)
    if result is None:
        return
    assert isinstance(result.decoder, str)
    assert result.decoder
    assert isinstance(result.summary, str)
    assert len(result.summary.splitlines()) <= 1
    assert len(result.summary) <= SUMMARY_LIMIT
    assert result.truncated is truncated
    assert result.role in (None, "request", "reply", "notification", "error")
    assert result.pair_id is None or isinstance(result.pair_id, str)
    assert_plain(result.tree)


def assert_plain(value: Any, depth: int = 0) -> None:
    assert depth < 300
    if isinstance(value, dict):
        for key, item in value.items():
            assert type(key) in (str, int, float, bool, bytes, type(None)), key
            assert_plain(item, depth + 1)
    elif isinstance(value, list):
        for item in value:
            assert_plain(item, depth + 1)
    else:
        assert type(value) in (str, int, float, bool, bytes, type(None)), value
        if isinstance(value, int):
            str(value)  # printable


# WSINSPECT_FUZZ_EXAMPLES=20000 for a longer hunt than CI's.
FUZZ = settings(
    max_examples=int(os.environ.get("WSINSPECT_FUZZ_EXAMPLES", "300")),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)


@FUZZ
@given(maybe_cut(any_payload))
@example(("[" * 5000, True))
@example(("{" * 5000, False))
@example((b"\x91" * 5000, True))
@example((b"\x81" * 5000, True))
@example((b"\x0b" * 5000, False))
@example((b"\x9f" * 5000, True))
@example((b"\xc2\x59\x10\x00" + b"\xff" * 4096, False))
@example(("42" + "[" * 3000, True))
def test_every_decoder_takes_any_payload(case: tuple[Any, bool]) -> None:
    payload, truncated = case
    for decoder in available():
        check(decoder.decode(payload, truncated=truncated), truncated)
        sniff = getattr(decoder, "sniff", None)
        if sniff is not None:
            check(sniff(payload, truncated=truncated), truncated)


@FUZZ
@given(maybe_cut(any_payload), st.sampled_from(SUBPROTOCOLS))
def test_choose_takes_any_payload(case: tuple[Any, bool], subprotocol: str | None) -> None:
    payload, truncated = case
    result = choose(subprotocol, payload, truncated)
    check(result, truncated)
    check(ConnectionDecoding().decode(payload, subprotocol, truncated), truncated)
    if result is not None and not truncated:
        # sniffing is deterministic, and the same payload given as a bytearray decodes alike
        again = choose(subprotocol, bytearray(payload) if isinstance(payload, bytes) else payload, truncated)
        assert again == result or _has_nan(result.tree)


def _has_nan(value: Any) -> bool:
    if isinstance(value, float):
        return math.isnan(value)
    if isinstance(value, dict):
        return any(_has_nan(item) for item in value.values()) or any(_has_nan(key) for key in value)
    if isinstance(value, list):
        return any(_has_nan(item) for item in value)
    return False


@FUZZ
@given(json_documents, st.data())
def test_cut_json_is_a_prefix_of_the_whole(document: str, data: st.DataObject) -> None:
    whole = json.loads(document)
    cut = data.draw(st.integers(1, len(document)))
    value = parse_json(document[:cut], truncated=True)
    if value is not NOT_JSON:
        assert_prefix(value, whole)


@FUZZ
@given(packable.filter(lambda value: isinstance(value, list | dict)), st.data())
def test_cut_msgpack_and_cbor_are_prefixes_of_the_whole(value: Any, data: st.DataObject) -> None:
    for encode, decode, prefix in (
        (msgspec.msgpack.encode, msgspec.msgpack.decode, msgpack_prefix),
        (cbor2.dumps, cbor2.loads, cbor_prefix),
    ):
        payload = encode(value)
        whole = decode(payload)
        cut = data.draw(st.integers(1, len(payload)))
        try:
            partial = prefix(payload[:cut])
        except ValueError:
            continue
        assert_prefix(partial, whole)


@FUZZ
@given(packable)
def test_compact_is_one_bounded_line(value: Any) -> None:
    for limit in (1, 10, 200):
        text = compact(value, limit=limit)
        assert len(text) <= limit
        assert len(text.splitlines()) <= 1


def assert_prefix(partial: Any, full: Any) -> None:
    if isinstance(partial, dict):
        assert isinstance(full, dict)
        keys = list(partial)
        assert keys == [key for key in full if key in partial][: len(keys)]
        for key in keys[:-1]:
            assert _same(partial[key], full[key])
        if keys:
            assert_prefix(partial[keys[-1]], full[keys[-1]])
    elif isinstance(partial, list):
        assert isinstance(full, list | tuple)
        assert len(partial) <= len(full)
        for index, item in enumerate(partial[:-1]):
            assert _same(item, full[index])
        if partial:
            assert_prefix(partial[-1], full[len(partial) - 1])
    elif isinstance(partial, str) and isinstance(full, str) and partial != full:
        assert partial.endswith("…")
        assert full.startswith(partial[:-1])
    elif isinstance(partial, bytes):
        assert isinstance(full, bytes)
        assert full.startswith(partial)
    else:
        assert _same(partial, full)


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
        return True
    if isinstance(a, list) and isinstance(b, list | tuple):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, dict) and isinstance(b, dict):
        return list(a) == list(b) and all(_same(a[key], b[key]) for key in a)
    return bool(a == b)
