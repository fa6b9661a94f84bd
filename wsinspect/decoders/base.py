"""What every decoder shares: the ``Decoded`` result, the ``Decoder`` protocol, one-line summaries.

Sans-I/O and pure: nothing here reads a file, a socket or a clock.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime, time
from json.encoder import encode_basestring as _quote  # JSON's quoting of a str (C), unescaped non-ASCII
from typing import Any, Final, Protocol, runtime_checkable

__all__ = (
    "SUMMARY_LIMIT",
    "Decoded",
    "Decoder",
    "Verbatim",
    "as_bytes",
    "compact",
    "has_controls",
    "join_summary",
    "plain",
)

ELLIPSIS: Final = "…"
# A summary never grows past this many characters (the timeline cuts it to its width anyway).
SUMMARY_LIMIT: Final = 200
# Payloads up to this many bytes are summarised by json.dumps (C) and then cut; longer ones by a
# writer that stops at the limit instead of rendering megabytes to keep 200 characters.
_FAST_SUMMARY_BYTES: Final = 2048
_DUMPS: Final = json.JSONEncoder(ensure_ascii=False).encode
# Characters that would break a summary's line (or show as nothing): spaces instead.
_LINE: Final = {code: " " for code in (*range(0x20), 0x7F, 0x85, 0x2028, 0x2029)}
# Integers past this many bits would not print (Python's int max str digits); they show as text.
_MAX_INT_BITS: Final = 10_000
# Trees nested deeper than this are cut (with a marker): the detail pane is no place for them.
MAX_DEPTH: Final = 200


@dataclass(frozen=True, slots=True)
class Decoded:
    """What a decoder made of one frame's payload.

    ``tree`` is plain data for the detail pane: dict, list, str, int, float, bool, None and bytes,
    nested. Dict keys are str, or for maps that have others (MessagePack and CBOR maps, protobuf
    field numbers) int, float, bool, None or bytes.
    """

    decoder: str  # the decoder's name: "json", "msgpack", "socket.io", …
    summary: str  # one line for the timeline: 'event "chat" {"text": "hi"}', 'subscribe OnPrice (id 1)'
    tree: Any
    truncated: bool = False  # the payload was cut by max_message_size: decoded as far as it went
    role: str | None = None  # "request" | "reply" | "notification" | "error" | None
    pair_id: str | None = None  # pairs a request with its reply (JSON-RPC id, GraphQL id, Socket.IO ack id)


@runtime_checkable
class Decoder(Protocol):
    """A payload decoder: built in, or registered under the entry-point group ``wsinspect.decoders``.

    ``decode`` returns None when the payload is not in its format, and should not raise (one that
    does is turned off for that connection). A decoder may also define ``sniff`` with the same
    signature: it is what ``choose`` calls when no subprotocol named the decoder, and should only
    accept payloads that are surely in its format (``decode`` may be lenient: the subprotocol, or the
    user, already said what the connection speaks). Without ``sniff``, ``decode`` is used for both.
    """

    name: str
    subprotocols: tuple[str, ...]

    def decode(self, payload: str | bytes, *, truncated: bool = False) -> Decoded | None: ...


class Verbatim(str):
    """Text that ``compact`` writes as it is (a placeholder such as ``<attachment 0>``)."""

    __slots__ = ()


def as_bytes(payload: object) -> bytes | None:
    """``payload`` as bytes when it is binary (bytes, bytearray, memoryview), else None."""
    if isinstance(payload, bytes):
        return payload
    if isinstance(payload, bytearray | memoryview):
        return bytes(payload)
    return None


# -- one-line summaries -------------------------------------------------------------------------


class _Full(Exception):
    """The summary reached its limit: stop writing."""


class _Writer:
    __slots__ = ("left", "parts")

    def __init__(self, limit: int) -> None:
        self.parts: list[str] = []
        self.left = limit

    def emit(self, text: str) -> None:
        self.parts.append(text)
        self.left -= len(text)
        if self.left < 0:
            raise _Full


def compact(value: Any, limit: int = SUMMARY_LIMIT, *, size_hint: int | None = None) -> str:
    """``value`` as one line of JSON-like text, at most ``limit`` characters ("…" when cut); a
    character that would break the line (U+2028, a control in an object's text) becomes a space.

    Strings are quoted as JSON quotes them; bytes show as ``h'0a1b'``; dict keys that are not
    strings show bare (``{1: 150}``). ``size_hint``: the payload's size when ``value`` is decoded
    JSON (str keys, JSON types only), which lets a small one go through ``json.dumps``.
    """
    if size_hint is not None and size_hint <= _FAST_SUMMARY_BYTES:
        try:
            text = _DUMPS(value)
        except (TypeError, ValueError, RecursionError):
            pass
        else:
            return (text if len(text) <= limit else text[: limit - 1] + ELLIPSIS).translate(_LINE)
    writer = _Writer(limit)
    try:
        _write(writer, value, 0)
    except _Full:
        return ("".join(writer.parts)[: limit - 1] + ELLIPSIS).translate(_LINE)
    return "".join(writer.parts).translate(_LINE)


def _write(w: _Writer, value: Any, depth: int) -> None:
    if isinstance(value, str):
        if type(value) is Verbatim:
            w.emit(value)
        else:
            # Only a prefix of a long string can show; quote that much (+1 so that it is seen cut).
            w.emit(_quote(value if len(value) <= w.left else value[: w.left + 1]))
    elif value is None:
        w.emit("null")
    elif value is True:
        w.emit("true")
    elif value is False:
        w.emit("false")
    elif isinstance(value, int):
        w.emit(_int_text(value))
    elif isinstance(value, float):
        w.emit(repr(value) if math.isfinite(value) else {"nan": "NaN", "inf": "Infinity"}.get(str(value), "-Infinity"))
    elif isinstance(value, bytes | bytearray | memoryview):
        data = bytes(value[: max(0, w.left // 2)])
        w.emit(f"h'{data.hex()}'" if len(data) == len(value) else f"h'{data.hex()}")
        if len(data) < len(value):
            raise _Full
    elif depth >= MAX_DEPTH:
        w.emit(ELLIPSIS)
    elif isinstance(value, Mapping):
        w.emit("{")
        first = True
        for key, item in value.items():
            if not first:
                w.emit(", ")
            first = False
            if type(key) is str:
                w.emit(_quote(key))
            else:
                _write(w, key, depth + 1)
            w.emit(": ")
            _write(w, item, depth + 1)
        w.emit("}")
    elif isinstance(value, list | tuple):
        w.emit("[")
        for index, item in enumerate(value):
            if index:
                w.emit(", ")
            _write(w, item, depth + 1)
        w.emit("]")
    else:
        w.emit(_text_of(value))


def _int_text(value: int) -> str:
    if value.bit_length() > _MAX_INT_BITS:
        return f"<int of {value.bit_length():,} bits>"
    return str(value)


def _text_of(value: object) -> str:
    try:
        return str(value)
    except Exception:  # any object's __str__ may fail: a summary still has to come out
        return f"<{type(value).__name__}>"


def join_summary(*parts: str | None) -> str:
    """The non-empty parts joined by spaces on one line (control characters as spaces), cut to
    ``SUMMARY_LIMIT``."""
    text = " ".join(part for part in parts if part)
    if len(text) > SUMMARY_LIMIT:
        text = text[: SUMMARY_LIMIT - 1] + ELLIPSIS
    return text.translate(_LINE)


# -- plain trees ----------------------------------------------------------------------------------

_SCALAR_KEYS: Final = (str, int, float, bool, bytes, type(None))


def plain(value: Any, depth: int = 0) -> Any:
    """``value`` (from a MessagePack or CBOR decoder) as plain data: dicts, lists, str, int, float,
    bool, None and bytes.

    Tuples and sets become lists; datetimes ISO text; MessagePack extensions
    ``{"ext": code, "data": bytes}``; CBOR tags ``{"tag": n, "value": …}``; integers too long to
    print, and anything else, their text. Dict keys stay when scalar, else become their summary.
    """
    if value is None or isinstance(value, str | bool | float):
        return str(value) if isinstance(value, str) and type(value) is not str else value
    if isinstance(value, int):
        return value if value.bit_length() <= _MAX_INT_BITS else _int_text(value)
    if isinstance(value, bytes):
        return value
    if isinstance(value, bytearray | memoryview):
        return bytes(value)
    if depth >= MAX_DEPTH:
        return ELLIPSIS
    if isinstance(value, Mapping):
        return {
            (key if isinstance(key, _SCALAR_KEYS) else compact(plain(key, depth + 1))): plain(item, depth + 1)
            for key, item in value.items()
        }
    if isinstance(value, list | tuple | set | frozenset):
        return [plain(item, depth + 1) for item in value]
    if isinstance(value, datetime | date | time):
        return value.isoformat()
    return _foreign(value, depth)


_CONTROLS: Final = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def has_controls(value: Any, depth: int = 0) -> bool:
    """Whether a string in the plain tree ``value`` (keys too) holds a control character other
    than tab and line ends: text seldom does, bytes read as a string often."""
    if isinstance(value, str):
        return _CONTROLS.search(value) is not None
    if depth >= MAX_DEPTH:
        return False
    if isinstance(value, dict):
        return any(has_controls(key, depth + 1) or has_controls(item, depth + 1) for key, item in value.items())
    if isinstance(value, list):
        return any(has_controls(item, depth + 1) for item in value)
    return False


def _foreign(value: Any, depth: int) -> Any:
    """Objects of the MessagePack and CBOR libraries (looked up by attribute, not imported)."""
    kind = type(value).__name__
    if kind == "Ext" and hasattr(value, "code"):  # msgspec.msgpack.Ext
        return {"ext": value.code, "data": plain(value.data, depth + 1)}
    if kind == "CBORTag":
        return {"tag": value.tag, "value": plain(value.value, depth + 1)}
    if kind == "CBORSimpleValue":
        return {"simple": value.value}
    if kind == "UndefinedType":
        return "undefined"
    return _text_of(value)
