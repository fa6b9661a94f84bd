"""Socket.IO over Engine.IO, in text frames: ``0{"sid":…}`` open, ``2``/``3`` ping/pong,
``42["chat",{…}]`` an event, ``4312[…]`` an ack, ``451-["up",{"_placeholder":true,"num":0}]`` an
event whose binary attachments follow in binary frames (shown raw: alone they say nothing).

Engine.IO packet types: 0 open, 1 close, 2 ping, 3 pong, 4 message, 5 upgrade, 6 noop. A message
carries a Socket.IO packet: 0 CONNECT, 1 DISCONNECT, 2 EVENT, 3 ACK, 4 CONNECT_ERROR,
5 BINARY_EVENT, 6 BINARY_ACK, then ``N-`` (attachments, binary packets only), ``/namespace,``
(unless "/"), the ack id, and the JSON data.
"""

from __future__ import annotations

import json
import re
from typing import Any, Final

from .base import Decoded, Verbatim, compact, join_summary
from .jsonish import NOT_JSON, parse_json

__all__ = ("SocketIODecoder",)

SOCKET_PACKETS: Final = ("CONNECT", "DISCONNECT", "EVENT", "ACK", "CONNECT_ERROR", "BINARY_EVENT", "BINARY_ACK")
_EVENT, _ACK, _CONNECT_ERROR, _BINARY_EVENT, _BINARY_ACK = 2, 3, 4, 5, 6

# After the Socket.IO packet type: attachments ("3-"), namespace ("/chat,"), ack id, data.
_HEADER: Final = re.compile(r"(?:([0-9]{1,10})-)?(/[^,]*)?(,)?([0-9]{1,19})?")
_BARE: Final = {"1": "CLOSE", "5": "UPGRADE", "6": "NOOP"}


class SocketIODecoder:
    name = "socket.io"
    subprotocols: tuple[str, ...] = ()  # Socket.IO negotiates none: it is found by sniffing

    def decode(self, payload: str | bytes, *, truncated: bool = False) -> Decoded | None:
        return self._decode(payload, truncated, strict=False)

    def sniff(self, payload: str | bytes, *, truncated: bool = False) -> Decoded | None:
        return self._decode(payload, truncated, strict=True)

    def _decode(self, payload: str | bytes, truncated: bool, strict: bool) -> Decoded | None:
        if not isinstance(payload, str) or not payload or payload[0] not in "0123456":
            return None
        kind, rest = payload[0], payload[1:]
        if kind == "4":
            decoded = _socket_packet(rest, truncated)
            if decoded is not None or strict:
                return decoded
            return self._result("message", {"packet": "MESSAGE", "data": rest}, truncated, rest and compact(rest))
        if kind == "0":
            data = parse_json(rest, truncated)
            if not isinstance(data, dict) or (strict and not truncated and "sid" not in data):
                return None
            return self._result("open", {"packet": "OPEN", "data": data}, truncated, compact(data, size_hint=len(rest)))
        if kind in "23":
            packet = "PING" if kind == "2" else "PONG"
            if rest not in ("", "probe") and strict:
                return None
            tree: dict[str, Any] = {"packet": packet}
            if rest:
                tree["data"] = rest
            return self._result(packet.lower(), tree, truncated, rest)
        if rest and strict:
            return None
        packet = _BARE[kind]
        return self._result(packet.lower(), {"packet": packet, **({"data": rest} if rest else {})}, truncated, rest)

    @staticmethod
    def _result(word: str, tree: dict[str, Any], truncated: bool, detail: str | None) -> Decoded:
        return Decoded("socket.io", join_summary(word, detail), tree, truncated=truncated)


def _socket_packet(text: str, truncated: bool) -> Decoded | None:
    """The Socket.IO packet in an Engine.IO message, or None when it is none."""
    if not text or text[0] not in "0123456":
        return None
    kind = int(text[0])
    header = _HEADER.match(text, 1)
    assert header is not None  # every part is optional
    count, namespace, comma, ack = header.groups()
    if (count is not None) != (kind in (_BINARY_EVENT, _BINARY_ACK)) or (comma is not None and namespace is None):
        return None
    if namespace is not None and comma is None and header.end() < len(text):
        return None  # "/chat" must end the packet or be followed by ","
    ack_id = int(ack) if ack is not None else None
    body = text[header.end() :]
    data: Any = None
    if body:
        data = parse_json(body, truncated)
        if data is NOT_JSON:
            data = _scalar_json(body)
            if data is NOT_JSON:
                return None
    packet = SOCKET_PACKETS[kind]
    nsp = (namespace or "/").split("?", 1)[0]
    tree: dict[str, Any] = {"packet": packet, "namespace": nsp}
    prefix = None if nsp == "/" else nsp
    pair_id = None if ack_id is None else (str(ack_id) if nsp == "/" else f"{nsp}#{ack_id}")
    size = len(body)
    hint = size if count is None else None  # placeholders must go through compact's own writer
    words: list[str | None]
    if kind in (_EVENT, _BINARY_EVENT, _ACK, _BINARY_ACK):
        if not isinstance(data, list) or (kind in (_EVENT, _BINARY_EVENT) and not (data and isinstance(data[0], str))):
            return None
        if kind in (_ACK, _BINARY_ACK) and ack_id is None:
            return None
        shown = _placeholders(data) if count is not None else data
        if kind in (_EVENT, _BINARY_EVENT):
            tree["event"] = data[0]
            tree["args"] = data[1:]
            words = ["event", compact(data[0]), None if ack_id is None else f"(ack {ack_id})"]
            words += [compact(arg, size_hint=hint) for arg in shown[1:]]
            role = "notification" if ack_id is None else "request"
        else:
            tree["args"] = data
            words = ["ack", str(ack_id), compact(shown, size_hint=hint)]
            role = "reply"
        if ack_id is not None:
            tree["ack_id"] = ack_id
        if count is not None:
            tree["attachments"] = int(count)
        summary = join_summary(prefix, *words)
        return Decoded("socket.io", summary, tree, truncated=truncated, role=role, pair_id=pair_id)
    if ack_id is not None:
        return None
    if kind == 0:  # CONNECT: the client's auth, or the server's {"sid": …}
        if data is not None and not isinstance(data, dict):
            return None
        words = ["connect", nsp]
    elif kind == 1:  # DISCONNECT
        if data is not None:
            return None
        words = ["disconnect", nsp]
    else:  # CONNECT_ERROR: {"message": …, "data": …} (a bare string before Socket.IO 3)
        if not isinstance(data, dict | str):
            return None
        words = ["connect error", prefix]
    if data is not None:
        tree["data"] = data
        words.append(compact(data, size_hint=size))
    error = "error" if kind == _CONNECT_ERROR else None
    return Decoded("socket.io", join_summary(*words), tree, truncated=truncated, role=error)


def _scalar_json(text: str) -> Any:
    """A JSON string (a CONNECT_ERROR's message before Socket.IO 3), else ``NOT_JSON``."""
    if text.startswith('"'):
        try:
            value = json.loads(text)
        except ValueError:
            return NOT_JSON
        if isinstance(value, str):
            return value
    return NOT_JSON


def _placeholders(value: Any, depth: int = 0) -> Any:
    """``value`` with each binary attachment placeholder as ``<attachment N>`` (for summaries)."""
    if depth > 32:
        return value
    if isinstance(value, list):
        return [_placeholders(item, depth + 1) for item in value]
    if isinstance(value, dict):
        if value.get("_placeholder") is True and isinstance(value.get("num"), int):
            return Verbatim(f"<attachment {value['num']}>")
        return {key: _placeholders(item, depth + 1) for key, item in value.items()}
    return value
