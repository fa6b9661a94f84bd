"""Reading what a server hands over in a scope or a message, whatever it is: a value of the wrong
type reads as empty (or the default), never raises. Header and query values the config names are
redacted here, before anything is recorded."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any
from urllib.parse import unquote_plus

from ..model import REDACTED

__all__ = ("address", "as_int", "as_text", "headers", "latin1", "query", "strings")


def as_text(value: Any) -> str:
    return value if isinstance(value, str) else ""


def as_int(value: Any, default: int) -> int:
    # int() turns the IntEnum close codes some servers pass (websockets' CloseCode) into ints; one
    # beyond 64 bits (a broken server) is the default, as the wire could not carry it.
    if isinstance(value, int) and not isinstance(value, bool) and -(2**63) <= value < 2**63:
        return int(value)
    return default


def strings(values: Any) -> list[str]:
    if not isinstance(values, (list, tuple)):
        return []
    return [value for value in values if isinstance(value, str) and value]


def latin1(value: Any) -> str:
    if isinstance(value, (bytes, bytearray)):
        return bytes(value).decode("latin-1")
    return as_text(value)


def address(client: Any) -> str | None:
    if isinstance(client, (list, tuple)) and len(client) == 2:
        return f"{client[0]}:{client[1]}"
    return None


def query(query: str, redacted: frozenset[str]) -> str:
    """The query string with the values of the ``redacted`` parameters replaced, all else as it came."""
    if not query or not redacted:
        return query
    pairs = query.split("&")
    for i, pair in enumerate(pairs):
        name, equals, _ = pair.partition("=")
        if equals and unquote_plus(name).lower() in redacted:
            pairs[i] = f"{name}={REDACTED}"
    return "&".join(pairs)


def headers(raw: Any, redacted: frozenset[str]) -> list[tuple[str, str]]:
    headers: list[tuple[str, str]] = []
    if not isinstance(raw, Iterable):
        return headers
    for pair in raw:
        if not isinstance(pair, (list, tuple)) or len(pair) != 2:
            continue
        if not all(isinstance(part, (bytes, bytearray, str)) for part in pair):
            continue
        name, value = (latin1(part) for part in pair)
        headers.append((name, REDACTED if name.lower() in redacted else value))
    return headers
