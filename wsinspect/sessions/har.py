"""HAR 1.2 with Chrome's WebSocket messages, to and from the session's connections (no I/O: the
file is written and read as JSON text by :mod:`wsinspect.sessions.jsonfile`).

HAR is a client's record: there ``send`` is what the client sent (what the app received).
"""

from __future__ import annotations

import base64
import math
import sys
from collections import Counter
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qsl

import msgspec

from .. import __version__
from ..model import Connection, Frame
from .base import Session, SessionFileError, unbase64

__all__ = ("HAR_KINDS", "har_chunk", "har_document", "har_left_out", "session_from_har")

# What HAR's _webSocketMessages can hold (opcode 1 and 2); pings, pongs and closes have no place.
HAR_KINDS = frozenset({"text", "binary"})

_ENCODER = msgspec.json.Encoder()


def har_left_out(connections: list[Connection]) -> dict[str, int]:
    """How many frames of each kind a HAR file of ``connections`` leaves out (pings, pongs, closes)."""
    left_out = Counter(
        frame.message_type
        for connection in connections
        for frame in connection.messages
        if frame.message_type not in HAR_KINDS
    )
    return {kind: left_out[kind] for kind in ("ping", "pong", "close") if left_out[kind]}


def _iso(timestamp: float) -> str:
    return datetime.fromtimestamp(timestamp, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def har_document(connections: list[Connection], exported_at: float) -> dict[str, Any]:
    return {
        "log": {
            "version": "1.2",
            "creator": {"name": "wsinspect", "version": __version__},
            "entries": [_har_entry(connection) for connection in connections],
            # HAR has no export time of its own; `wsinspect open` shows the file as of this moment.
            "_wsinspect": {"exported_at": exported_at},
        }
    }


def _har_entry(connection: Connection) -> dict[str, Any]:
    host = next((value for name, value in connection.headers if name.lower() == "host"), "localhost")
    query = f"?{connection.query_string}" if connection.query_string else ""
    end = connection.disconnected_at or connection.connected_at
    status = 101 if connection.accepted_at is not None else (connection.denial_status or 0)
    return {
        "startedDateTime": _iso(connection.connected_at),
        "time": round((end - connection.connected_at) * 1000, 3),
        "request": {
            "method": "GET",
            "url": f"{connection.scheme}://{host}{connection.path}{query}",
            "httpVersion": "HTTP/1.1",
            "cookies": [],
            "headers": [{"name": name, "value": value} for name, value in connection.headers],
            "queryString": [{"name": k, "value": v} for k, v in parse_qsl(connection.query_string)],
            "headersSize": -1,
            "bodySize": 0,
        },
        "response": {
            "status": status,
            "statusText": "Switching Protocols" if status == 101 else "",
            "httpVersion": "HTTP/1.1",
            "cookies": [],
            "headers": [],
            "content": {"size": 0, "mimeType": "x-unknown"},
            "redirectURL": "",
            "headersSize": -1,
            "bodySize": -1,
        },
        "cache": {},
        "timings": {"send": 0, "wait": 0, "receive": 0},
        "_resourceType": "websocket",
        # Filled in by _fill, from har_chunk.
        "_webSocketMessages": [],
        # Everything else wsinspect knows, so that `wsinspect open` shows it again.
        "_wsinspect": msgspec.to_builtins(msgspec.structs.replace(connection, messages=[])),
    }


class _HarMessage(msgspec.Struct):
    type: str
    time: float
    opcode: int
    data: Any
    # wsinspect's own (HAR allows keys that start with "_"): seconds the app's send() waited.
    send_waited: float | msgspec.UnsetType = msgspec.field(name="_send_waited", default=msgspec.UNSET)


def har_chunk(frames: list[Frame]) -> bytes | None:
    """A chunk of frames as the _webSocketMessages of a HAR entry, or None when it has no text or binary."""
    messages = [
        # HAR is the client's record: "send" is what the client sent, that is what the app received.
        _HarMessage(
            "send" if frame.direction == "received" else "receive",
            frame.timestamp,
            1 if frame.message_type == "text" else 2,
            frame.content if frame.message_type == "text" else base64.b64encode(frame.content or b"").decode(),
            frame.send_waited,
        )
        for frame in frames
        if frame.message_type in HAR_KINDS
    ]
    return _ENCODER.encode(messages) if messages else None


def session_from_har(log: dict[str, Any]) -> Session:
    connections: list[Connection] = []
    entries = log.get("entries")
    if not isinstance(entries, list):
        raise SessionFileError("a HAR file without entries")
    for number, entry in enumerate(entries):
        if not isinstance(entry, dict) or "_webSocketMessages" not in entry:
            continue  # plain HTTP requests in a browser's HAR
        try:
            connections.append(_har_connection(entry, number))
        except (KeyError, TypeError, ValueError, AttributeError, OverflowError, msgspec.ValidationError) as exc:
            raise SessionFileError(f"HAR entry {number} is not a WebSocket entry wsinspect can read: {exc}") from None
    return Session(exported_at=_har_exported_at(log, connections), connections=connections)


def _har_exported_at(log: dict[str, Any], connections: list[Connection]) -> float:
    """When a HAR file was written: as wsinspect noted it, else the latest moment it records."""
    known = log.get("_wsinspect")
    exported_at = known.get("exported_at") if isinstance(known, dict) else None
    if (
        isinstance(exported_at, int | float)
        and not isinstance(exported_at, bool)
        and abs(exported_at) <= sys.float_info.max  # an integer a float holds
    ):
        return float(exported_at)
    moments = [
        moment
        for connection in connections
        for moment in (connection.connected_at, connection.accepted_at, connection.disconnected_at)
        if moment is not None
    ]
    moments += [frame.timestamp for connection in connections for frame in connection.messages]
    return max(moments, default=0.0)


def _har_connection(entry: dict[str, Any], number: int) -> Connection:
    frames = []
    for index, message in enumerate(entry["_webSocketMessages"]):
        opcode = message.get("opcode", 1)
        if opcode not in (1, 2):
            continue
        data = message.get("data", "")
        if opcode == 1 and type(data) is not str:
            raise SessionFileError(f"HAR entry {number}: the data of text message {index} is not a string")
        content: str | bytes = data if opcode == 1 else unbase64(data)
        size = len(content.encode()) if isinstance(content, str) else len(content)
        frame = Frame(
            direction="received" if message["type"] == "send" else "sent",
            message_type="text" if opcode == 1 else "binary",
            content=content,
            timestamp=float(message["time"]),
            size_bytes=size,
        )
        waited = message.get("_send_waited")
        if type(waited) in (int, float) and 0 <= waited < math.inf and frame.direction == "sent":
            frame.send_waited = float(waited)
        frames.append(frame)
    known = entry.get("_wsinspect")
    if isinstance(known, dict):
        return msgspec.structs.replace(msgspec.convert({**known, "messages": []}, Connection), messages=frames)
    url = entry["request"]["url"]
    path, _, query = url.split("://", 1)[-1].partition("/")[2].partition("?")
    started = datetime.fromisoformat(entry["startedDateTime"].replace("Z", "+00:00")).timestamp()
    headers = [(h["name"], h["value"]) for h in entry["request"].get("headers", [])]
    if not all(type(name) is str and type(value) is str for name, value in headers):
        raise SessionFileError(f"HAR entry {number}: a request header's name or value is not a string")
    sent = [f for f in frames if f.direction == "sent"]
    received = [f for f in frames if f.direction == "received"]
    return Connection(
        connection_id=f"har-{number}",
        path="/" + path,
        query_string=query,
        state="closed",
        connected_at=started,
        accepted_at=started,
        disconnected_at=started + float(entry.get("time", 0)) / 1000,
        messages_sent=len(sent),
        messages_received=len(received),
        bytes_sent=sum(f.size_bytes for f in sent),
        bytes_received=sum(f.size_bytes for f in received),
        headers=headers,
        messages=frames,
    )
