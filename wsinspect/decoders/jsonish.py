"""JSON: text frames and UTF-8 binary frames holding a JSON object or array, whole or cut.

Also the base of the protocols carried in JSON (GraphQL over WebSocket, JSON-RPC): the payload is
parsed once (``parse_json``) and each of them looks at the value (``from_json``).
"""

from __future__ import annotations

import json
import re
from typing import Any, Final

from .base import ELLIPSIS, MAX_DEPTH, Decoded, as_bytes, compact, plain

__all__ = ("NOT_JSON", "JsonDecoder", "JsonFamilyDecoder", "close_json_prefix", "parse_json", "utf8")


class _NotJson:
    __slots__ = ()

    def __repr__(self) -> str:
        return "NOT_JSON"


NOT_JSON: Final = _NotJson()  # what parse_json returns for a payload that is no JSON object or array

_WS: Final = re.compile(r"[ \t\r\n]*")
# A complete JSON string, and a string's beginning up to where the text ends or goes wrong.
_STRING: Final = re.compile(r'"(?:[^"\\\x00-\x1f]|\\["\\/bfnrt]|\\u[0-9a-fA-F]{4})*"')
_STRING_START: Final = re.compile(r'"(?:[^"\\\x00-\x1f]|\\["\\/bfnrt]|\\u[0-9a-fA-F]{4})*')
_CUT_ESCAPE: Final = re.compile(r"\\(?:u[0-9a-fA-F]{0,3})?\Z")  # an escape the cut split
_HIGH_SURROGATE: Final = re.compile(r"\\u[dD][89abAB][0-9a-fA-F]{2}")
_SCALAR: Final = re.compile(r"[-+0-9.eEa-z]+")
_LITERALS: Final = frozenset(("true", "false", "null"))


def parse_json(payload: str | bytes, truncated: bool = False) -> Any:
    """The JSON object or array in ``payload`` (text, or UTF-8 bytes), or ``NOT_JSON``.

    ``truncated``: the payload was cut; what it holds up to the cut is returned (containers
    closed, a string cut in the middle ending in "…").
    """
    data = as_bytes(payload)
    if data is not None:
        start = data.lstrip(b" \t\r\n")[:1]
        if start not in (b"{", b"["):
            return NOT_JSON
        text = utf8(data, truncated)
        if text is None:
            return NOT_JSON
    elif isinstance(payload, str):
        text = payload
        stripped = text.lstrip(" \t\r\n")
        if not stripped or stripped[0] not in "{[":
            return NOT_JSON
    else:
        return NOT_JSON
    try:
        return _shallow(json.loads(text), text)
    except (ValueError, RecursionError):  # RecursionError: nested deeper than the parser goes
        if not truncated:
            return NOT_JSON
    closed = close_json_prefix(text)
    if closed is None:
        return NOT_JSON
    try:
        return _shallow(json.loads(closed), closed)
    except (ValueError, RecursionError):
        return NOT_JSON


def _shallow(value: Any, text: str) -> Any:
    """``value`` cut at MAX_DEPTH, as the other decoders' trees are. Python 3.13's parser goes far
    deeper than 3.12's; the text's brackets say when a tree could be that deep (seldom)."""
    if text.count("[") + text.count("{") <= MAX_DEPTH:
        return value
    return plain(value)


def utf8(data: bytes, truncated: bool) -> str | None:
    """``data`` as UTF-8; a cut payload may end in the middle of a character, which is dropped."""
    for drop in range(4 if truncated else 1):
        try:
            return data[: len(data) - drop].decode()
        except UnicodeDecodeError as exc:
            if exc.start < len(data) - 3:  # broken before the end: not a cut character
                return None
    return None


def close_json_prefix(text: str) -> str | None:
    """The longest prefix of ``text`` (a JSON value cut short) that stands as JSON once its open
    containers are closed, with them closed; None when there is none or the text is not JSON.

    A string value cut in the middle is kept, ending in "…"; a number or a key cut short is dropped.
    """
    closers: list[str] = []  # the brackets that close the open containers, innermost last
    # What may come next in the innermost container: "{" a key or "}", "k" a key, ":" a colon,
    # "v" a value, "[" a value or "]", "," a comma or the container's end.
    expect = "v"
    cut = -1  # text[:cut] closed by the first cut_depth closers is valid JSON …
    cut_depth = 0
    tail = ""  # … after this is appended (the end of a string cut short)
    n = len(text)
    i = _WS.match(text, 0).end()  # type: ignore[union-attr]  # matches the empty string too
    while i < n:
        char = text[i]
        if char in "{[":
            if expect not in "v[":
                return None
            closers.append("}" if char == "{" else "]")
            expect = char
            i += 1
            cut, cut_depth = i, len(closers)
        elif char in "}]":
            if not closers or closers[-1] != char or expect not in ",{[":
                return None
            closers.pop()
            i += 1
            if not closers:
                # The whole value is there: then the payload ends, or it is no JSON.
                return text[:i] if _WS.match(text, i).end() == n else None  # type: ignore[union-attr]
            expect = ","
            cut, cut_depth = i, len(closers)
        elif char == ",":
            if expect != ",":
                return None
            expect = "k" if closers[-1] == "}" else "v"
            i += 1
        elif char == ":":
            if expect != ":":
                return None
            expect = "v"
            i += 1
        elif char == '"':
            is_key = expect in "{k"
            if not is_key and expect not in "v[":
                return None
            match = _STRING.match(text, i)
            if match is None:
                end = _STRING_START.match(text, i).end()  # type: ignore[union-attr]
                if end < n and _CUT_ESCAPE.match(text, end) is None:
                    return None  # not cut short, just broken
                if not is_key:
                    cut, cut_depth, tail = _before_lone_surrogate(text, end), len(closers), ELLIPSIS + '"'
                break
            i = match.end()
            expect = ":" if is_key else ","
            if not is_key:
                cut, cut_depth = i, len(closers)
        else:
            match = _SCALAR.match(text, i)
            if match is None or expect not in "v[":
                return None
            if match.end() >= n and match.group() not in _LITERALS:
                break  # a number may be cut short
            i = match.end()
            expect = ","
            cut, cut_depth = i, len(closers)
        i = _WS.match(text, i).end()  # type: ignore[union-attr]
    if cut < 0 or cut_depth == 0:
        return None
    return text[:cut] + tail + "".join(reversed(closers[:cut_depth]))


def _before_lone_surrogate(text: str, end: int) -> int:
    """``end``, or where the escape of a high surrogate begins when the cut took its low half."""
    if end < 6 or _HIGH_SURROGATE.fullmatch(text, end - 6, end) is None:
        return end
    backslashes = len(text[: end - 6]) - len(text[: end - 6].rstrip("\\"))
    return end - 6 if backslashes % 2 == 0 else end


class JsonFamilyDecoder:
    """A protocol whose messages are JSON objects or arrays: ``decode`` parses, ``from_json`` reads.

    ``strict``: only accept what surely is this protocol (sniffing, no subprotocol said so).
    """

    name = ""
    subprotocols: tuple[str, ...] = ()

    def decode(self, payload: str | bytes, *, truncated: bool = False) -> Decoded | None:
        value = parse_json(payload, truncated)
        return None if value is NOT_JSON else self.from_json(value, truncated=truncated, size=_size(payload))

    def sniff(self, payload: str | bytes, *, truncated: bool = False) -> Decoded | None:
        value = parse_json(payload, truncated)
        if value is NOT_JSON:
            return None
        return self.from_json(value, truncated=truncated, size=_size(payload), strict=True)

    def from_json(self, value: Any, *, truncated: bool, size: int, strict: bool = False) -> Decoded | None:
        raise NotImplementedError


def _size(payload: str | bytes) -> int:
    return len(payload) if isinstance(payload, str | bytes | bytearray | memoryview) else 0


class JsonDecoder(JsonFamilyDecoder):
    """Any JSON object or array, in a text frame or as UTF-8 in a binary one."""

    name = "json"
    subprotocols: tuple[str, ...] = ("json",)

    def from_json(self, value: Any, *, truncated: bool, size: int, strict: bool = False) -> Decoded | None:
        return Decoded("json", compact(value, size_hint=size), value, truncated=truncated)
