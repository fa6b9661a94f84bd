"""What the tests build again and again: frames of each kind, and a raw ASGI echo app.

Every frame builder takes keyword-only ``direction`` ("sent" unless told), ``at`` (its timestamp,
100.0 unless told) and ``size`` (the payload's length in bytes unless told: 0 for a payload not
recorded). ``wire_frame``, ``batch`` and ``update`` turn model frames and connections into the
wire messages a producer sends; ``log_line`` and ``wire_log`` do the same for a handler's log
records. Real uvicorn servers are in ``servers.py``, the UI tests' fixed sessions in
``tui_data.py``.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable
from typing import Any

import msgspec

from wsinspect.model import Connection, Frame, LogLine, TracebackEntry
from wsinspect.wire import ConnectionUpdate, FrameBatch, FrameRecord, WireFrame, WireLog, frame_code

__all__ = (
    "AT",
    "Collect",
    "batch",
    "binary_frame",
    "close_frame",
    "control_frame",
    "echo_app",
    "frame",
    "log_line",
    "record",
    "text_frame",
    "update",
    "wire_frame",
    "wire_log",
)

AT = 100.0


def _length(content: Any) -> int:
    if content is None:
        return 0
    return len(content.encode()) if isinstance(content, str) else len(content)


def frame(
    message_type: str = "text",
    content: Any = "hello",
    *,
    direction: str = "sent",
    at: float = AT,
    size: int | None = None,
    truncated: bool = False,
    close_code: int | None = None,
) -> Frame:
    """A frame of any kind, content as given (str for text and close, bytes for the others, or None)."""
    return Frame(
        direction=direction,  # type: ignore[arg-type]
        message_type=message_type,  # type: ignore[arg-type]
        content=content,
        timestamp=at,
        size_bytes=_length(content) if size is None else size,
        truncated=truncated,
        close_code=close_code,
    )


def text_frame(
    content: Any = "hello",
    *,
    direction: str = "sent",
    at: float = AT,
    size: int | None = None,
    truncated: bool = False,
) -> Frame:
    """A text frame; content that is not a str (or None) is sent as compact JSON."""
    if content is not None and not isinstance(content, str):
        content = json.dumps(content, separators=(",", ":"))
    return frame("text", content, direction=direction, at=at, size=size, truncated=truncated)


def binary_frame(
    content: bytes | None = b"\x01\x02",
    *,
    direction: str = "sent",
    at: float = AT,
    size: int | None = None,
    truncated: bool = False,
) -> Frame:
    """A binary frame; with ``size`` above ``len(content)`` and ``truncated``, one the app kept only part of."""
    return frame("binary", content, direction=direction, at=at, size=size, truncated=truncated)


def control_frame(kind: str, content: bytes = b"", *, direction: str = "sent", at: float = AT) -> Frame:
    """A ping or a pong."""
    return frame(kind, content, direction=direction, at=at)


def close_frame(code: int | None, reason: str = "", *, direction: str = "sent", at: float = AT) -> Frame:
    """A close frame as it is on the wire: two bytes of code, then the reason."""
    return frame("close", reason, direction=direction, at=at, size=2 + len(reason.encode()), close_code=code)


def wire_frame(key: int, index: int, f: Frame) -> WireFrame:
    """``f`` as the wire carries it: frame number ``index`` of the producer's connection ``key``."""
    return WireFrame(
        key,
        index,
        f.timestamp,
        frame_code(f.direction, f.message_type),
        f.content,
        f.size_bytes,
        f.truncated,
        f.close_code,
        waited=None if f.send_waited is msgspec.UNSET else f.send_waited,
    )


def record(key: int, index: int, f: Frame) -> FrameRecord:
    """``f`` as the app side records it: the plain tuple a WireFrame decodes from."""
    w = wire_frame(key, index, f)
    return (w.key, w.index, w.timestamp, w.code, w.content, w.size_bytes, w.truncated, w.close_code, w.asked, w.waited)


def batch(key: int, frames: Iterable[Frame], start: int = 0) -> FrameBatch:
    """One FrameBatch of ``frames`` of connection ``key``, numbered from ``start``."""
    return FrameBatch([wire_frame(key, index, f) for index, f in enumerate(frames, start)])


class Collect(logging.Handler):
    """A log handler that keeps every record it is handed, unformatted (from any thread)."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)

    def messages(self) -> list[str]:
        return [record.getMessage() for record in list(self.records)]


def log_line(
    message: str = "user joined",
    *,
    logger: str = "chat.rooms",
    level: str = "INFO",
    levelno: int = 20,
    at: float = AT,
    error: str | None = None,
    traceback: list[TracebackEntry] | None = None,
) -> LogLine:
    """A log record of a connection's handler, as the inspector holds it."""
    return LogLine(
        timestamp=at,
        level=level,
        levelno=levelno,
        logger=logger,
        message=message,
        size_bytes=len(message.encode()),
        error=error,
        traceback=list(traceback or []),
    )


def wire_log(key: int, index: int, line: LogLine) -> WireLog:
    """``line`` as the wire carries it: log line number ``index`` of the producer's connection ``key``."""
    return WireLog(
        key,
        index,
        line.timestamp,
        line.levelno,
        line.level,
        line.logger,
        line.message,
        line.size_bytes,
        line.truncated,
        line.error,
        list(line.traceback),
    )


def update(key: int, connection: Connection | None = None, **fields: Any) -> ConnectionUpdate:
    """A ConnectionUpdate binding ``key``: of ``connection``, or of one built from ``fields``.

    ``fields`` default to connection "c<key>" on path "/ws", connected at 100.0, open.
    """
    if connection is None:
        values: dict[str, Any] = {
            "connection_id": f"c{key}",
            "path": "/ws",
            "connected_at": AT,
            "state": "open",
            "accepted_at": AT,
        }
        values.update(fields)
        connection = Connection(**values)
    elif fields:
        raise TypeError("give a connection or its fields, not both")
    return ConnectionUpdate(key, connection)


async def echo_app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """A raw ASGI WebSocket app that sends back each text or bytes message as it came.

    Two texts are commands: "close" makes it close with 4001 "asked", "raise" makes it raise.
    """
    assert (await receive())["type"] == "websocket.connect"
    await send({"type": "websocket.accept"})
    while True:
        message = await receive()
        if message["type"] == "websocket.disconnect":
            return
        if message.get("text") == "close":
            await send({"type": "websocket.close", "code": 4001, "reason": "asked"})
            return
        if message.get("text") == "raise":
            raise ValueError("handler broke")
        await send({"type": "websocket.send", "text": message.get("text"), "bytes": message.get("bytes")})
