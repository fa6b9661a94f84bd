"""Payload decoders: what a frame says, as a one-line summary and a tree (sans-I/O, no UI).

Built in: ``json`` (text, and UTF-8 in binary frames), ``msgpack``, ``cbor``, ``protobuf`` (no
schema, as ``protoc --decode_raw``), ``socket.io`` (Engine.IO / Socket.IO packets), ``graphql-ws``
(graphql-transport-ws and the legacy graphql-ws), ``json-rpc`` (2.0) and ``stomp``.

``choose(subprotocol, payload, truncated)`` tries the decoders the connection's negotiated
subprotocol names, then sniffs: the protocols first (Socket.IO, GraphQL, JSON-RPC, STOMP, each only
taking what surely is its own), then third-party decoders, then the generic formats (a JSON object
or array; a MessagePack or CBOR map or array that uses every byte; protobuf when all of a binary
payload parses as fields). ``ConnectionDecoding`` keeps a connection's choice by hand and turns off,
for that connection only, a decoder that raised. The inspector's app side never imports this.

Your own decoder: an object with a ``name``, the ``subprotocols`` that select it, and
``decode(payload, *, truncated=False)`` returning a ``Decoded`` or None ("not my format");
optionally ``sniff`` (same signature) to be stricter when no subprotocol named it. Register it (or
its class, instantiated without arguments) under the entry-point group ``wsinspect.decoders``::

    # pyproject.toml of your package
    [project.entry-points."wsinspect.decoders"]
    ticker = "mypackage.wsinspect_ticker:TickerDecoder"

    # mypackage/wsinspect_ticker.py
    from wsinspect.decoders import Decoded  # (or wsinspect.inspector.decoders, as before)

    class TickerDecoder:
        name = "ticker"
        subprotocols = ("ticker.v1",)

        def decode(self, payload, *, truncated=False):
            if not isinstance(payload, bytes) or payload[:2] != b"TK":
                return None
            symbol, price = payload[2:].decode().split(":")
            return Decoded("ticker", f"{symbol} {price}", {"symbol": symbol, "price": float(price)})

An entry point that fails to load is left out and reported by ``warnings()``.
"""

from __future__ import annotations

from .base import SUMMARY_LIMIT, Decoded, Decoder, compact
from .binary import CborDecoder, MsgpackDecoder
from .graphql import GraphQLWSDecoder, operation_name
from .jsonish import JsonDecoder
from .jsonrpc import JsonRpcDecoder
from .protobuf import ProtobufDecoder, decode_raw
from .registry import ENTRY_POINT_GROUP, RAW, ConnectionDecoding, available, by_name, choose, reload, warnings
from .socketio import SocketIODecoder
from .stomp import StompDecoder

__all__ = (
    "ENTRY_POINT_GROUP",
    "RAW",
    "SUMMARY_LIMIT",
    "CborDecoder",
    "ConnectionDecoding",
    "Decoded",
    "Decoder",
    "GraphQLWSDecoder",
    "JsonDecoder",
    "JsonRpcDecoder",
    "MsgpackDecoder",
    "ProtobufDecoder",
    "SocketIODecoder",
    "StompDecoder",
    "available",
    "by_name",
    "choose",
    "compact",
    "decode_raw",
    "operation_name",
    "reload",
    "warnings",
)
