"""The decoders' registry: built-ins and entry points of ``wsinspect.decoders``, the choice by
subprotocol and by sniffing, and per connection the choice by hand and decoders that fail."""

from __future__ import annotations

import sys
import textwrap
from collections.abc import Iterator
from importlib import metadata
from pathlib import Path
from typing import Any

import msgspec
import pytest

from wsinspect import decoders
from wsinspect.decoders import (
    ENTRY_POINT_GROUP,
    ConnectionDecoding,
    Decoded,
    Decoder,
    available,
    by_name,
    choose,
    reload,
    warnings,
)

BUILTINS = ["json", "msgpack", "cbor", "protobuf", "socket.io", "graphql-ws", "json-rpc", "stomp"]

PLUGIN_MODULE = textwrap.dedent(
    '''
    from wsinspect.inspector.decoders import Decoded


    class TickerDecoder:
        """b"TK" + "SYMBOL:PRICE": the example of docs/inspector.md."""

        name = "ticker"
        subprotocols = ("ticker.v1",)

        def decode(self, payload, *, truncated=False):
            if not isinstance(payload, bytes) or payload[:2] != b"TK":
                return None
            symbol, price = payload[2:].decode().split(":")
            return Decoded("ticker", f"{symbol} {price}", {"symbol": symbol, "price": float(price)})


    class Envelope:
        """JSON objects with a "kind": sniffed before plain JSON, after the protocols."""

        name = "envelope"
        subprotocols = []

        def decode(self, payload, *, truncated=False):
            import json

            try:
                value = json.loads(payload)
            except (ValueError, TypeError):
                return None
            if isinstance(value, dict) and "kind" in value:
                return Decoded("envelope", f"kind {value['kind']}", value, truncated=truncated)
            return None


    class Failing:
        name = "failing"
        subprotocols = ("fail.v1",)

        def __init__(self):
            raise RuntimeError("cannot start")


    INSTANCE = Envelope()
    NOT_A_DECODER = object()


    class Nameless:
        name = ""
        subprotocols = ()

        def decode(self, payload, *, truncated=False):
            return None


    class TakenName(Nameless):
        name = "json"


    class BadSubprotocols(Nameless):
        name = "bad-subprotocols"
        subprotocols = "v1"


    class BadSniff(Nameless):
        name = "bad-sniff"
        sniff = 3


    class NoDecode:
        name = "no-decode"
        subprotocols = ()
    '''
)

ENTRY_POINTS = textwrap.dedent(
    """
    [wsinspect.decoders]
    ticker = wsi_fake_plugin:TickerDecoder
    envelope = wsi_fake_plugin:INSTANCE
    failing = wsi_fake_plugin:Failing
    missing = wsi_fake_plugin_gone:Decoder
    object = wsi_fake_plugin:NOT_A_DECODER
    nameless = wsi_fake_plugin:Nameless
    taken = wsi_fake_plugin:TakenName
    subprotocols = wsi_fake_plugin:BadSubprotocols
    sniff = wsi_fake_plugin:BadSniff
    nodecode = wsi_fake_plugin:NoDecode

    [some.other.group]
    other = wsi_fake_plugin:TickerDecoder
    """
)


@pytest.fixture(autouse=True)
def fresh_registry() -> Iterator[None]:
    reload()
    yield
    reload()
    sys.modules.pop("wsi_fake_plugin", None)


@pytest.fixture
def installed_plugin(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A distribution installed on sys.path, as pip would leave it: a module and its dist-info."""
    (tmp_path / "wsi_fake_plugin.py").write_text(PLUGIN_MODULE)
    info = tmp_path / "wsi_fake_plugin-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: wsi-fake-plugin\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text(ENTRY_POINTS)
    monkeypatch.syspath_prepend(str(tmp_path))
    return tmp_path


def fake_entry_points(monkeypatch: pytest.MonkeyPatch, **objects: Any) -> None:
    """Entry points of ``wsinspect.decoders`` naming the given objects (set on a module of their own)."""
    module = type(sys)("wsi_fake_objects")
    for name, value in objects.items():
        setattr(module, name, value)
    monkeypatch.setitem(sys.modules, "wsi_fake_objects", module)
    points = [metadata.EntryPoint(name, f"wsi_fake_objects:{name}", ENTRY_POINT_GROUP) for name in objects]

    def entry_points(**params: Any) -> list[metadata.EntryPoint]:
        assert params == {"group": ENTRY_POINT_GROUP}
        return points

    monkeypatch.setattr(metadata, "entry_points", entry_points)


# -- the registry ---------------------------------------------------------------------------------


def test_builtins_by_name_and_protocol() -> None:
    assert [decoder.name for decoder in available()] == BUILTINS
    assert warnings() == []
    for decoder in available():
        assert isinstance(decoder, Decoder)
        assert by_name(decoder.name) is decoder
    assert by_name("raw") is None
    assert by_name("nope") is None
    assert available() is not available()  # a copy: callers may not change the registry


def test_an_installed_distribution_adds_its_decoders(installed_plugin: Path) -> None:
    names = [decoder.name for decoder in available()]
    assert names == [*BUILTINS, "ticker", "envelope"]
    problems = warnings()
    assert len(problems) == 8, problems
    assert all("\n" not in problem for problem in problems)
    text = "\n".join(problems)
    assert "decoder entry point failing (wsi_fake_plugin:Failing) failed to load: RuntimeError: cannot start" in text
    assert "missing (wsi_fake_plugin_gone:Decoder) failed to load: ModuleNotFoundError" in text
    assert "object (wsi_fake_plugin:NOT_A_DECODER) is not a decoder: it has no name" in text
    assert "nameless (wsi_fake_plugin:Nameless) is not a decoder: it has no name" in text
    assert "taken (wsi_fake_plugin:TakenName): the name 'json' is taken; skipped" in text
    assert "subprotocols (wsi_fake_plugin:BadSubprotocols) is not a decoder: its subprotocols" in text
    assert "sniff (wsi_fake_plugin:BadSniff) is not a decoder: its sniff is not a method" in text
    assert "nodecode (wsi_fake_plugin:NoDecode) is not a decoder: it has no decode method" in text
    # chosen by subprotocol, and by sniffing
    ticker = choose("ticker.v1", b"TKWSI:101.5")
    assert ticker == Decoded("ticker", "WSI 101.5", {"symbol": "WSI", "price": 101.5})
    assert choose(None, b"TKWSI:101.5") == ticker
    assert choose("TICKER.V1", b"TKWSI:101.5") == ticker  # subprotocols compare without case


def test_entry_points_are_loaded_once(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[str] = []

    def entry_points(**params: Any) -> list[metadata.EntryPoint]:
        calls.append(params["group"])
        return []

    monkeypatch.setattr(metadata, "entry_points", entry_points)
    available()
    warnings()
    choose(None, "{}")
    by_name("json")
    assert calls == [ENTRY_POINT_GROUP]
    reload()
    available()
    assert calls == [ENTRY_POINT_GROUP] * 2


def test_a_broken_entry_point_listing_is_a_warning(monkeypatch: pytest.MonkeyPatch) -> None:
    def entry_points(**params: Any) -> list[metadata.EntryPoint]:
        raise ValueError("bad\nmetadata")

    monkeypatch.setattr(metadata, "entry_points", entry_points)
    assert [decoder.name for decoder in available()] == BUILTINS
    assert warnings() == ["decoder entry points could not be listed: ValueError: bad metadata"]


def test_an_entry_point_found_twice_loads_once(monkeypatch: pytest.MonkeyPatch) -> None:
    class Twice:
        name = "twice"
        subprotocols = ()

        def decode(self, payload: str | bytes, *, truncated: bool = False) -> Decoded | None:
            return None

    fake_entry_points(monkeypatch, Twice=Twice)
    doubled = metadata.entry_points  # the fake
    monkeypatch.setattr(metadata, "entry_points", lambda **params: doubled(**params) * 2)
    assert [decoder.name for decoder in available()][-1] == "twice"
    assert len(available()) == len(BUILTINS) + 1
    assert warnings() == []


def test_long_load_errors_are_cut(monkeypatch: pytest.MonkeyPatch) -> None:
    class Loud:
        def __init__(self) -> None:
            raise RuntimeError("x" * 500)

    fake_entry_points(monkeypatch, Loud=Loud)
    (problem,) = warnings()
    assert problem.endswith("…")
    assert len(problem) < 300


# -- choose ---------------------------------------------------------------------------------------


def test_subprotocol_first_then_sniffing() -> None:
    legacy_rpc = '{"method": "echo", "params": [1], "id": 1}'
    assert choose(None, legacy_rpc).decoder == "json"
    assert choose("jsonrpc", legacy_rpc).decoder == "json-rpc"
    # the subprotocol's decoder does not take it: sniffing goes on
    assert choose("v12.stomp", '{"a": 1}').decoder == "json"
    assert choose("unknown-protocol", '{"a": 1}').decoder == "json"
    packed = msgspec.msgpack.encode({"a": 1})
    assert choose("graphql-transport-ws", packed).decoder == "msgpack"
    assert choose(None, "no format at all") is None
    assert choose(None, 12345) is None  # neither text nor bytes


def test_plugins_sniff_after_the_protocols_before_plain_json(installed_plugin: Path) -> None:
    assert choose(None, '{"kind": "order"}').decoder == "envelope"
    assert choose(None, '{"other": 1}').decoder == "json"
    rpc = '{"jsonrpc": "2.0", "method": "kind", "params": {"kind": 1}}'
    assert choose(None, rpc).decoder == "json-rpc"


# -- per connection -------------------------------------------------------------------------------


class Exploding:
    """A third-party decoder that raises on the payloads it claims."""

    name = "exploding"
    subprotocols = ("boom.v1",)

    def __init__(self) -> None:
        self.calls = 0

    def decode(self, payload: str | bytes, *, truncated: bool = False) -> Decoded | None:
        self.calls += 1
        raise ValueError("unexpected byte 0x7b\nat offset 0")


class Garbage:
    name = "garbage"
    subprotocols = ("garbage.v1",)

    def decode(self, payload: str | bytes, *, truncated: bool = False) -> Any:
        return "not a Decoded"


def test_a_decoder_that_raises_is_turned_off_for_that_connection(monkeypatch: pytest.MonkeyPatch) -> None:
    exploding = Exploding()
    fake_entry_points(monkeypatch, exploding=exploding)
    connection = ConnectionDecoding()
    first = connection.decode('{"a": 1}', "boom.v1")
    assert first is not None
    assert first.decoder == "json"
    assert connection.errors == {
        "exploding": "decoder exploding failed on this connection: ValueError: unexpected byte 0x7b at offset 0; "
        "showing raw"
    }
    assert connection.decode('{"a": 2}', "boom.v1") == Decoded("json", '{"a": 2}', {"a": 2})
    assert connection.decode("plain text", "boom.v1") is None  # raw
    assert exploding.calls == 1
    # another connection still uses it, and choose() swallows the error
    other = ConnectionDecoding()
    assert other.decode('{"a": 3}', "boom.v1").decoder == "json"
    assert exploding.calls == 2
    assert choose("boom.v1", '{"a": 3}').decoder == "json"
    assert choose(None, "plain text") is None  # sniffing called it too, and went on
    assert exploding.calls == 4


def test_a_decoder_returning_garbage_is_turned_off(monkeypatch: pytest.MonkeyPatch) -> None:
    fake_entry_points(monkeypatch, garbage=Garbage)
    connection = ConnectionDecoding()
    assert connection.decode("[1]", "garbage.v1") == Decoded("json", "[1]", [1])
    assert connection.errors == {
        "garbage": "decoder garbage failed on this connection: TypeError: decode returned str, not Decoded or None; "
        "showing raw"
    }


def test_the_choice_by_hand(monkeypatch: pytest.MonkeyPatch) -> None:
    exploding = Exploding()
    fake_entry_points(monkeypatch, exploding=exploding)
    subscribe = '{"type": "subscribe", "id": "1", "payload": {"query": "subscription S { s }"}}'
    connection = ConnectionDecoding()
    assert connection.decode(subscribe).decoder == "graphql-ws"
    connection.override = "json"
    assert connection.decode(subscribe).decoder == "json"
    assert connection.decode("42[1]") is None  # the chosen decoder only: no sniffing
    connection.override = "raw"
    assert connection.decode(subscribe) is None
    connection.override = "no-such-decoder"
    assert connection.decode(subscribe) is None
    connection.override = "exploding"
    assert connection.decode(subscribe) is None
    assert connection.decode(subscribe) is None
    assert exploding.calls == 1
    assert list(connection.errors) == ["exploding"]
    connection.override = None
    assert connection.decode(subscribe, "boom.v1").decoder == "graphql-ws"
    assert exploding.calls == 1
    assert ConnectionDecoding(override="msgpack").decode(msgspec.msgpack.encode(7)).tree == 7
    assert ConnectionDecoding(override="json").decode(bytearray(b"[1]")).tree == [1]


def test_the_package_says_what_it_exports() -> None:
    for name in decoders.__all__:
        assert hasattr(decoders, name)
