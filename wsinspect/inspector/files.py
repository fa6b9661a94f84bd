"""Session files: the session JSON of the contract, and HAR 1.2 with Chrome's WebSocket messages."""

from __future__ import annotations

import base64
import binascii
import contextlib
import os
import re
import tempfile
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

import msgspec

from ..model import Connection, Frame
from .formatting import counted

__all__ = (
    "FORMAT",
    "VERSION",
    "Session",
    "SessionFileError",
    "Written",
    "dumps",
    "har_left_out",
    "loads",
    "read_session",
    "write_session",
)

FORMAT = "wsinspect.session"
VERSION = 1
_BINARY_KINDS = frozenset({"binary", "ping", "pong"})
# What HAR's _webSocketMessages can hold (opcode 1 and 2); pings, pongs and closes have no place.
_HAR_KINDS = frozenset({"text", "binary"})
_PLURALS = {"ping": "pings", "pong": "pongs", "close": "closes"}


class Session(msgspec.Struct, kw_only=True):
    format: str = FORMAT
    version: int = VERSION
    exported_at: float
    connections: list[Connection]


class SessionFileError(Exception):
    """A session file that cannot be read or written; ``str()`` is one line for the user."""


# -- writing ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Written:
    """What :func:`write_session` put in a file, and what the file's format had no place for."""

    path: Path
    connections: int
    frames: int  # frames the file holds
    total: int  # frames of the session it was given
    har: bool = False
    # Frames of each kind the format left out, by message type ("ping", "pong", "close"; only
    # HAR leaves any out): ``frames + sum(left_out.values()) == total``.
    left_out: dict[str, int] = field(default_factory=dict)

    @property
    def omitted(self) -> int:
        return self.total - self.frames

    def left_out_text(self) -> str:
        """ "760 pings, pongs and closes have no place in HAR", or "" when nothing was left out."""
        if not self.omitted:
            return ""
        kinds = [_PLURALS.get(kind, kind) if self.omitted != 1 else kind for kind in self.left_out]
        listed = kinds[0] if len(kinds) == 1 else f"{', '.join(kinds[:-1])} and {kinds[-1]}"
        return f"{self.omitted:,} {listed} {'has' if self.omitted == 1 else 'have'} no place in HAR"

    def summary(self) -> str:
        """One line for the user: "wrote 3 connections, 2,193 frames of 2,953 to x.har (760 pings,
        pongs and closes have no place in HAR)", or "wrote 1 connection, 12 frames to s.json"."""
        connections = counted(self.connections, "connection")
        if not self.omitted:
            return f"wrote {connections}, {counted(self.frames, 'frame')} to {self.path}"
        return f"wrote {connections}, {self.frames:,} frames of {self.total:,} to {self.path} ({self.left_out_text()})"


def har_left_out(connections: list[Connection]) -> dict[str, int]:
    """How many frames of each kind a HAR file of ``connections`` leaves out (pings, pongs, closes)."""
    left_out = Counter(
        frame.message_type
        for connection in connections
        for frame in connection.messages
        if frame.message_type not in _HAR_KINDS
    )
    return {kind: left_out[kind] for kind in ("ping", "pong", "close") if left_out[kind]}


def dumps(connections: list[Connection], exported_at: float, *, har: bool = False) -> bytes:
    if har:
        return msgspec.json.format(msgspec.json.encode(_to_har(connections, exported_at)), indent=1)
    session = Session(exported_at=exported_at, connections=connections)
    return msgspec.json.format(msgspec.json.encode(session), indent=1)


def write_session(path: Path, connections: list[Connection], exported_at: float) -> Written:
    """Write atomically (a temporary file, then a rename): HAR when the name ends in ``.har``.

    Returns what was written: HAR has no place for pings, pongs and closes (``Written.left_out``).
    """
    har = path.suffix.lower() == ".har"
    data = dumps(connections, exported_at, har=har)
    directory = path.parent
    try:
        fd, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=directory)
    except OSError as exc:
        raise SessionFileError(f"cannot write {path}: {exc.strerror or exc}") from None
    try:
        with os.fdopen(fd, "wb") as file:
            file.write(data)
        os.chmod(temporary, 0o644 & ~_umask())
        os.replace(temporary, path)
    except OSError as exc:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise SessionFileError(f"cannot write {path}: {exc.strerror or exc}") from None
    total = sum(len(connection.messages) for connection in connections)
    left_out = har_left_out(connections) if har else {}
    return Written(path, len(connections), total - sum(left_out.values()), total, har, left_out)


def check_writable(path: Path) -> None:
    """Fail early, before a long recording, when ``path`` could not be written at the end."""
    if path.is_dir():
        raise SessionFileError(f"cannot write {path}: it is a directory")
    if not path.parent.is_dir():
        raise SessionFileError(f"cannot write {path}: directory {path.parent} does not exist")
    if not os.access(path.parent, os.W_OK):
        raise SessionFileError(f"cannot write {path}: directory {path.parent} is not writable")


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


# -- reading ---------------------------------------------------------------------------------


def read_session(path: Path) -> Session:
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise SessionFileError(f"cannot read {path}: {exc.strerror or exc}") from None
    try:
        return loads(data)
    except SessionFileError as exc:
        raise SessionFileError(f"{path}: {exc}") from None


def loads(data: bytes) -> Session:
    """A session from session JSON or HAR bytes."""
    try:
        document = msgspec.json.decode(data)
    except msgspec.DecodeError as exc:
        raise SessionFileError(_json_error(data, str(exc))) from None
    if isinstance(document, dict) and isinstance(document.get("log"), dict):
        return _from_har(document["log"])
    if not isinstance(document, dict) or document.get("format") != FORMAT:
        raise SessionFileError("neither a wsinspect session nor a HAR file")
    if document.get("version") != VERSION:
        raise SessionFileError(
            f"session format version {document.get('version')} is not supported (this wsinspect reads {VERSION})"
        )
    try:
        session = msgspec.convert(document, Session)
    except msgspec.ValidationError as exc:
        raise SessionFileError(f"invalid session: {exc}") from None
    for connection in session.connections:
        for frame in connection.messages:
            if frame.message_type in _BINARY_KINDS and isinstance(frame.content, str):
                frame.content = _unbase64(frame.content)
    return session


_MALFORMED = re.compile(r"JSON is malformed: (?P<reason>.*) \(byte (?P<offset>\d+)\)$")


def _json_error(data: bytes, message: str) -> str:
    """What is wrong with bytes msgspec could not decode, and where, in one line."""
    if not data.strip():
        return "an empty file, not JSON"
    if message.startswith("Input data was truncated"):
        end = len(data.rstrip())
        return f"truncated JSON: the file ends early, at {_where(data, end)}, before the document is complete"
    if message.startswith("Invalid UTF-8"):
        try:
            data.decode("utf-8")
        except UnicodeDecodeError as exc:
            return f"invalid JSON at {_where(data, exc.start)}: not UTF-8 text"
        return f"invalid JSON: {message}"  # pragma: no cover - msgspec and Python agree on UTF-8
    match = _MALFORMED.match(message)
    if match is None:  # pragma: no cover - msgspec's other messages
        return f"invalid JSON: {message}"
    offset = int(match["offset"])
    if data.lstrip()[:1] not in (b"{", b"["):  # no session or HAR file starts so: not JSON at all
        return f"not a JSON file: {match['reason']} at {_where(data, offset)}"
    return f"invalid JSON at {_where(data, offset)}: {match['reason']}"


def _where(data: bytes, offset: int) -> str:
    """ "line 3, column 7 (byte 40)": lines and columns from 1, columns in characters."""
    line_start = data.rfind(b"\n", 0, offset) + 1
    column = len(data[line_start:offset].decode("utf-8", "replace")) + 1
    line = data.count(b"\n", 0, offset) + 1
    return f"line {line:,}, column {column:,} (byte {offset:,})"


def _unbase64(text: str) -> bytes:
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise SessionFileError("a binary frame's content is not base64") from None


# -- HAR -------------------------------------------------------------------------------------


def _iso(timestamp: float) -> str:
    return datetime.fromtimestamp(timestamp, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _to_har(connections: list[Connection], exported_at: float) -> dict[str, Any]:
    from .. import __version__

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
        # HAR is the client's record: "send" is what the client sent, that is what the app received.
        "_webSocketMessages": [
            {
                "type": "send" if frame.direction == "received" else "receive",
                "time": frame.timestamp,
                "opcode": 1 if frame.message_type == "text" else 2,
                "data": frame.content
                if frame.message_type == "text"
                else base64.b64encode(frame.content or b"").decode(),
            }
            for frame in connection.messages
            if frame.message_type in ("text", "binary")
        ],
        # Everything else wsinspect knows, so that `wsinspect open` shows it again.
        "_wsinspect": msgspec.to_builtins(msgspec.structs.replace(connection, messages=[])),
    }


def _from_har(log: dict[str, Any]) -> Session:
    connections: list[Connection] = []
    entries = log.get("entries")
    if not isinstance(entries, list):
        raise SessionFileError("a HAR file without entries")
    for number, entry in enumerate(entries):
        if not isinstance(entry, dict) or "_webSocketMessages" not in entry:
            continue  # plain HTTP requests in a browser's HAR
        try:
            connections.append(_har_connection(entry, number))
        except (KeyError, TypeError, ValueError, AttributeError, msgspec.ValidationError) as exc:
            raise SessionFileError(f"HAR entry {number} is not a WebSocket entry wsinspect can read: {exc}") from None
    return Session(exported_at=_har_exported_at(log, connections), connections=connections)


def _har_exported_at(log: dict[str, Any], connections: list[Connection]) -> float:
    """When a HAR file was written: as wsinspect noted it, else the latest moment it records."""
    known = log.get("_wsinspect")
    exported_at = known.get("exported_at") if isinstance(known, dict) else None
    if isinstance(exported_at, int | float) and not isinstance(exported_at, bool):
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
    for message in entry["_webSocketMessages"]:
        opcode = message.get("opcode", 1)
        if opcode not in (1, 2):
            continue
        data = message.get("data", "")
        content: str | bytes = data if opcode == 1 else _unbase64(data)
        size = len(content.encode()) if isinstance(content, str) else len(content)
        frames.append(
            Frame(
                direction="received" if message["type"] == "send" else "sent",
                message_type="text" if opcode == 1 else "binary",
                content=content,
                timestamp=float(message["time"]),
                size_bytes=size,
            )
        )
    known = entry.get("_wsinspect")
    if isinstance(known, dict):
        return msgspec.structs.replace(msgspec.convert({**known, "messages": []}, Connection), messages=frames)
    url = entry["request"]["url"]
    path, _, query = url.split("://", 1)[-1].partition("/")[2].partition("?")
    started = datetime.fromisoformat(entry["startedDateTime"].replace("Z", "+00:00")).timestamp()
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
        headers=[(h["name"], h["value"]) for h in entry["request"].get("headers", [])],
        messages=frames,
    )
