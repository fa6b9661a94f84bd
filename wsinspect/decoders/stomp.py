"""STOMP 1.0 to 1.2 frames over WebSocket (text or binary): a command line, ``name:value`` header
lines, a blank line, the body and a NUL. A frame of line ends alone is a heart-beat.

Summaries: ``SEND /queue/a (23 B) {"qty": 3}``, ``SUBSCRIBE /topic/prices (id sub-0)``,
``CONNECTED (version 1.2)``, ``ERROR Bad destination``. A ``receipt`` header pairs a frame with its
RECEIPT, and CONNECT / STOMP pairs with CONNECTED.
"""

from __future__ import annotations

from typing import Any, Final

from ..formatting import format_size
from .base import Decoded, as_bytes, compact, join_summary
from .jsonish import NOT_JSON, parse_json, utf8

__all__ = ("StompDecoder",)

COMMANDS: Final = frozenset(
    (
        "CONNECT",
        "STOMP",
        "CONNECTED",
        "SEND",
        "SUBSCRIBE",
        "UNSUBSCRIBE",
        "ACK",
        "NACK",
        "BEGIN",
        "COMMIT",
        "ABORT",
        "DISCONNECT",
        "MESSAGE",
        "RECEIPT",
        "ERROR",
    )
)
_LONGEST: Final = max(len(command) for command in COMMANDS) + 2  # with "\r\n"
_ESCAPES: Final = {"\\n": "\n", "\\r": "\r", "\\c": ":", "\\\\": "\\"}
# The header each command is best known by, shown after it (destination, subscription id, …).
_SHOWN: Final = {
    "SUBSCRIBE": ("destination", "id"),
    "UNSUBSCRIBE": ("id",),
    "ACK": ("id",),
    "NACK": ("id",),
    "BEGIN": ("transaction",),
    "COMMIT": ("transaction",),
    "ABORT": ("transaction",),
    "CONNECT": ("host",),
    "STOMP": ("host",),
    "CONNECTED": ("version",),
    "RECEIPT": ("receipt-id",),
}


class StompDecoder:
    name = "stomp"
    subprotocols: tuple[str, ...] = ("v12.stomp", "v11.stomp", "v10.stomp", "stomp")

    def decode(self, payload: str | bytes, *, truncated: bool = False) -> Decoded | None:
        return _frame(payload, truncated, strict=False)

    def sniff(self, payload: str | bytes, *, truncated: bool = False) -> Decoded | None:
        return _frame(payload, truncated, strict=True)


def _frame(payload: str | bytes, truncated: bool, strict: bool) -> Decoded | None:
    text: str | None = None
    data: bytes | None = None
    if isinstance(payload, str):
        text = payload.lstrip("\r\n")
        head = text[: _LONGEST + 2]
    else:
        raw = as_bytes(payload)
        if raw is None:
            return None
        data = raw.lstrip(b"\r\n")
        head = data[: _LONGEST + 2].decode("latin-1")
    if not head:
        # Line ends alone: a heart-beat (an app could send "\n" for its own reasons: not when sniffing).
        if strict or not payload:
            return None
        return Decoded("stomp", "heart-beat", {"command": "HEARTBEAT"}, truncated=truncated)
    command = head.split("\n", 1)[0].rstrip("\r")
    if command not in COMMANDS or (command == head and not truncated):
        return None
    return _parse(text.encode() if text is not None else data or b"", command, truncated, strict)


def _parse(data: bytes, command: str, truncated: bool, strict: bool) -> Decoded | None:
    lines_end = data.find(b"\n\n")
    crlf_end = data.find(b"\r\n\r\n")
    if crlf_end != -1 and (lines_end == -1 or crlf_end < lines_end):
        head, body_start = data[:crlf_end], crlf_end + 4
    elif lines_end != -1:
        head, body_start = data[:lines_end], lines_end + 2
    elif truncated or not strict:
        head, body_start = data, len(data)  # cut (or, leniently, ended) before the blank line
    else:
        return None
    try:
        head_text = head.decode()
    except UnicodeDecodeError:
        return None
    headers: dict[str, str] = {}
    escaped = command not in ("CONNECT", "CONNECTED")
    for line in head_text.split("\n")[1:]:
        line = line.removesuffix("\r")
        name, colon, value = line.partition(":")
        if not colon or not name:
            if strict and not (truncated and body_start == len(data)):
                return None
            continue
        if escaped:
            name, value = _unescape(name), _unescape(value)
        headers.setdefault(name, value)  # a repeated header: the first one counts
    rest = data[body_start:]
    length = headers.get("content-length", "")
    if length.isascii() and length.isdigit() and int(length) <= len(rest):
        body, after = rest[: int(length)], rest[int(length) :]
        if after[:1] != b"\0" and not (truncated and not after):
            return None if strict else _build(command, headers, rest.rstrip(b"\0\r\n"), truncated)
        after = after[1:]
    else:
        end = rest.find(b"\0")
        if end == -1:
            if strict and not truncated:
                return None
            body, after = rest, b""
        else:
            body, after = rest[:end], rest[end + 1 :]
    if strict and after.strip(b"\r\n"):
        return None  # more after the frame's NUL than line ends
    return _build(command, headers, body, truncated)


def _unescape(text: str) -> str:
    if "\\" not in text:
        return text
    out: list[str] = []
    i = 0
    while i < len(text):
        pair = text[i : i + 2]
        if pair in _ESCAPES:
            out.append(_ESCAPES[pair])
            i += 2
        else:
            out.append(text[i])
            i += 1
    return "".join(out)


def _build(command: str, headers: dict[str, str], body: bytes, truncated: bool) -> Decoded:
    tree: dict[str, Any] = {"command": command, "headers": headers, "body": _body(headers, body, truncated)}
    words: list[str | None] = [command]
    if command in ("SEND", "MESSAGE"):
        words += [headers.get("destination"), f"({format_size(len(body))})", _preview(tree["body"], len(body))]
    elif command == "ERROR":
        words += [headers.get("message"), None if headers.get("message") else _preview(tree["body"], len(body))]
    else:
        for name in _SHOWN.get(command, ()):
            value = headers.get(name)
            if value is not None:
                words.append(value if name in ("destination", "host") else f"({name} {value})")
    role: str | None = None
    pair_id: str | None = None
    if command in ("CONNECT", "STOMP"):
        role, pair_id = "request", "CONNECT"
    elif command == "CONNECTED":
        role, pair_id = "reply", "CONNECT"
    elif command == "RECEIPT":
        role, pair_id = "reply", headers.get("receipt-id")
    elif command == "ERROR":
        role, pair_id = "error", headers.get("receipt-id")
    elif "receipt" in headers:
        role, pair_id = "request", headers["receipt"]
    return Decoded("stomp", join_summary(*words), tree, truncated=truncated, role=role, pair_id=pair_id)


def _body(headers: dict[str, str], body: bytes, truncated: bool) -> Any:
    """The body as JSON when it says (or looks) so, else text when UTF-8, else bytes."""
    kind = headers.get("content-type", "")
    if "json" in kind or (not kind and body[:1] in (b"{", b"[")):
        value = parse_json(body, truncated)
        if value is not NOT_JSON:
            return value
    text = utf8(body, truncated)
    return body if text is None else text


def _preview(body: Any, size: int) -> str | None:
    if body == "" or body == b"":
        return None
    return compact(body, size_hint=size)
