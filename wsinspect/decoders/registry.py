"""Which decoder reads a payload: the built-ins and the entry points of ``wsinspect.decoders``, the
choice by subprotocol and by sniffing, and per connection the choice by hand and the decoders that
failed there.
"""

from __future__ import annotations

from collections.abc import Callable, Container, Iterable
from dataclasses import dataclass, field
from importlib import metadata
from typing import Any, Final

from .base import Decoded, Decoder, as_bytes
from .binary import CborDecoder, MsgpackDecoder
from .graphql import GraphQLWSDecoder
from .jsonish import NOT_JSON, JsonDecoder, JsonFamilyDecoder, parse_json
from .jsonrpc import JsonRpcDecoder
from .protobuf import ProtobufDecoder
from .socketio import SocketIODecoder
from .stomp import StompDecoder

__all__ = ("ENTRY_POINT_GROUP", "RAW", "ConnectionDecoding", "available", "by_name", "choose", "reload", "warnings")

ENTRY_POINT_GROUP: Final = "wsinspect.decoders"
RAW: Final = "raw"  # the choice by hand of no decoder: the payload shows raw

_JSON, _MSGPACK, _CBOR, _PROTOBUF = JsonDecoder(), MsgpackDecoder(), CborDecoder(), ProtobufDecoder()
_SOCKETIO, _GRAPHQL, _JSONRPC, _STOMP = SocketIODecoder(), GraphQLWSDecoder(), JsonRpcDecoder(), StompDecoder()
_BUILTINS: Final[tuple[Decoder, ...]] = (_JSON, _MSGPACK, _CBOR, _PROTOBUF, _SOCKETIO, _GRAPHQL, _JSONRPC, _STOMP)
# Sniffing tries the protocols, whose marks are specific, before the formats that take anything
# well formed; third-party decoders go between the two.
_SPECIFIC: Final[tuple[Decoder, ...]] = (_SOCKETIO, _GRAPHQL, _JSONRPC, _STOMP)
_GENERIC: Final[tuple[Decoder, ...]] = (_JSON, _MSGPACK, _CBOR, _PROTOBUF)

OnError = Callable[[Decoder, Exception], None]


@dataclass
class _Registry:
    decoders: list[Decoder]
    warnings: list[str]
    by_name: dict[str, Decoder] = field(default_factory=dict)
    by_subprotocol: dict[str, list[Decoder]] = field(default_factory=dict)
    sniff_order: list[Decoder] = field(default_factory=list)

    def __post_init__(self) -> None:
        for decoder in self.decoders:
            self.by_name[decoder.name] = decoder
            for subprotocol in decoder.subprotocols:
                self.by_subprotocol.setdefault(subprotocol.casefold(), []).append(decoder)
        plugins = [decoder for decoder in self.decoders if decoder not in _BUILTINS]
        self.sniff_order = [*_SPECIFIC, *plugins, *_GENERIC]

    def choose(
        self,
        subprotocol: str | None,
        payload: str | bytes,
        truncated: bool,
        skip: Container[str] = (),
        on_error: OnError | None = None,
    ) -> Decoded | None:
        data = as_bytes(payload)
        if data is not None:
            payload = data
        elif not isinstance(payload, str):
            return None
        tried: set[str] = set()
        if subprotocol:
            for decoder in self.by_subprotocol.get(subprotocol.casefold(), ()):
                if decoder.name in skip:
                    continue
                tried.add(decoder.name)
                decoded = _call(decoder, decoder.decode, payload, truncated, on_error)
                if decoded is not None:
                    return decoded
        value: Any = _UNPARSED
        for decoder in self.sniff_order:
            if decoder.name in skip or decoder.name in tried:
                continue
            if isinstance(decoder, JsonFamilyDecoder) and decoder in _BUILTINS:
                # The built-in JSON protocols share one parse of the payload.
                if value is _UNPARSED:
                    value = parse_json(payload, truncated)
                if value is NOT_JSON:
                    continue
                decoded = _call(decoder, _from_json(decoder, value, len(payload)), payload, truncated, on_error)
            else:
                decoded = _call(
                    decoder, getattr(decoder, "sniff", None) or decoder.decode, payload, truncated, on_error
                )
            if decoded is not None:
                return decoded
        return None


_UNPARSED: Final = object()


def _from_json(decoder: JsonFamilyDecoder, value: Any, size: int) -> Callable[..., Decoded | None]:
    def sniff(payload: str | bytes, *, truncated: bool = False) -> Decoded | None:
        return decoder.from_json(value, truncated=truncated, size=size, strict=decoder is not _JSON)

    return sniff


def _call(
    decoder: Decoder,
    method: Callable[..., Any],
    payload: str | bytes,
    truncated: bool,
    on_error: OnError | None,
) -> Decoded | None:
    """``method(payload, truncated=…)``; an exception, or a result that is no Decoded, goes to
    ``on_error`` (and counts as "not this format")."""
    try:
        decoded = method(payload, truncated=truncated)
        if decoded is not None and not isinstance(decoded, Decoded):
            raise TypeError(f"decode returned {type(decoded).__name__}, not Decoded or None")
    except Exception as exc:  # a third-party decoder may raise anything: the frame still shows
        if on_error is not None:
            on_error(decoder, exc)
        return None
    return decoded


# -- the registry: built-ins and entry points, loaded once ---------------------------------------

_registry: _Registry | None = None


def _load() -> _Registry:
    global _registry
    if _registry is None:
        found: list[str] = []
        plugins = list(_entry_point_decoders(found))
        _registry = _Registry([*_BUILTINS, *plugins], found)
    return _registry


def _entry_point_decoders(problems: list[str]) -> Iterable[Decoder]:
    taken = {decoder.name for decoder in _BUILTINS} | {RAW}
    seen: set[tuple[str, str]] = set()
    try:
        entry_points = list(metadata.entry_points(group=ENTRY_POINT_GROUP))
    except Exception as exc:  # a broken installed distribution's metadata
        problems.append(f"decoder entry points could not be listed: {_describe(exc)}")
        return
    for entry_point in entry_points:
        if (entry_point.name, entry_point.value) in seen:
            continue  # the same distribution found twice on the path
        seen.add((entry_point.name, entry_point.value))
        where = f"decoder entry point {entry_point.name} ({entry_point.value})"
        try:
            loaded = entry_point.load()
            decoder = loaded() if isinstance(loaded, type) else loaded
            problem = _check(decoder)
        except Exception as exc:
            problems.append(f"{where} failed to load: {_describe(exc)}")
            continue
        if problem is not None:
            problems.append(f"{where} is not a decoder: {problem}")
        elif decoder.name in taken:
            problems.append(f"{where}: the name {decoder.name!r} is taken; skipped")
        else:
            taken.add(decoder.name)
            yield decoder


def _check(decoder: Any) -> str | None:
    """What keeps ``decoder`` from being one, or None."""
    name = getattr(decoder, "name", None)
    if not isinstance(name, str) or not name:
        return "it has no name (a non-empty str)"
    subprotocols = getattr(decoder, "subprotocols", None)
    if not isinstance(subprotocols, tuple | list) or not all(isinstance(item, str) for item in subprotocols):
        return "its subprotocols are not a tuple of str"
    if not callable(getattr(decoder, "decode", None)):
        return "it has no decode method"
    sniff = getattr(decoder, "sniff", None)
    if sniff is not None and not callable(sniff):
        return "its sniff is not a method"
    return None


def _describe(exc: BaseException) -> str:
    """``ValueError: the message`` on one line, cut to 200 characters."""
    message = " ".join(str(exc).split())
    text = f"{type(exc).__name__}: {message}" if message else type(exc).__name__
    return text if len(text) <= 200 else text[:199] + "…"


# -- the API -------------------------------------------------------------------------------------


def available() -> list[Decoder]:
    """The decoders: the built-ins, then those of the entry-point group ``wsinspect.decoders``
    (loaded on the first call; one that fails to load is left out and told by ``warnings()``)."""
    return list(_load().decoders)


def warnings() -> list[str]:
    """One line for each entry point of ``wsinspect.decoders`` that could not be loaded."""
    return list(_load().warnings)


def reload() -> None:
    """Forget the loaded entry points: the next call looks them up again (tests, new plugins)."""
    global _registry
    _registry = None


def by_name(name: str) -> Decoder | None:
    """The decoder of that name, or None (also for "raw")."""
    return _load().by_name.get(name)


def choose(subprotocol: str | None, payload: str | bytes, truncated: bool = False) -> Decoded | None:
    """The payload decoded: by the decoder(s) the subprotocol names first, then by sniffing
    (protocols, then third-party decoders, then JSON, MessagePack, CBOR, protobuf); None when none
    takes it. Never raises: a decoder that does counts as not taking the payload."""
    return _load().choose(subprotocol, payload, truncated)


class ConnectionDecoding:
    """One connection's decoding: the decoder chosen by hand, and the decoders that failed on it.

    ``override``: None to choose automatically, a decoder's name to use that one only, ``"raw"``
    for none. A decoder that raises (or returns something else than a Decoded) is turned off for
    this connection: ``errors`` maps its name to the line to show ("decoder X failed on this
    connection: ValueError: …; showing raw"), in the order they failed; the frame, and the next
    ones, go to the next candidate or show raw.
    """

    def __init__(self, override: str | None = None) -> None:
        self.override = override
        self.errors: dict[str, str] = {}

    def decode(self, payload: str | bytes, subprotocol: str | None = None, truncated: bool = False) -> Decoded | None:
        registry = _load()
        if self.override == RAW:
            return None
        if self.override is not None:
            decoder = registry.by_name.get(self.override)
            if decoder is None or decoder.name in self.errors:
                return None
            return _call(decoder, decoder.decode, payload, truncated, self._failed)
        return registry.choose(subprotocol, payload, truncated, skip=self.errors, on_error=self._failed)

    def _failed(self, decoder: Decoder, exc: Exception) -> None:
        name = getattr(decoder, "name", "?")
        self.errors.setdefault(name, f"decoder {name} failed on this connection: {_describe(exc)}; showing raw")
