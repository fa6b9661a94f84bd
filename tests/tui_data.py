"""Deterministic sessions for the inspector's UI tests: fixed ids, fixed timestamps, every
connection closed (so no duration on screen depends on the clock)."""

from __future__ import annotations

import json
import struct
from typing import Any

from wsinspect.model import Connection, Frame

__all__ = (
    "BASE",
    "BINARY_TRUNCATED_KEPT",
    "BINARY_TRUNCATED_SIZE",
    "CHAT_ID",
    "CLOSED_ID",
    "DENIED_ID",
    "FAILED_ID",
    "TICKER_ID",
    "make_connections",
    "tick",
)

BASE = 1764349990.0  # 2025-11-28 17:13:10 UTC
CHAT_ID = "0b6f5c1e-7a2d-4c1b-9e3f-000000000001"
TICKER_ID = "0b6f5c1e-7a2d-4c1b-9e3f-000000000002"
CLOSED_ID = "0b6f5c1e-7a2d-4c1b-9e3f-000000000003"
DENIED_ID = "0b6f5c1e-7a2d-4c1b-9e3f-000000000004"
FAILED_ID = "0b6f5c1e-7a2d-4c1b-9e3f-000000000005"
PID = 4242
APP = "chat-app"
BINARY_TRUNCATED_SIZE = 20 * 1024
BINARY_TRUNCATED_KEPT = 10240


def _j(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"))


def text(direction: str, at: float, value: Any) -> Frame:
    content = value if isinstance(value, str) else _j(value)
    return Frame(
        direction=direction,  # type: ignore[arg-type]
        message_type="text",
        content=content,
        timestamp=at,
        size_bytes=len(content.encode()),
    )


def binary(direction: str, at: float, data: bytes, *, size: int | None = None) -> Frame:
    real = len(data) if size is None else size
    return Frame(
        direction=direction,  # type: ignore[arg-type]
        message_type="binary",
        content=data,
        timestamp=at,
        size_bytes=real,
        truncated=real > len(data),
    )


def control(kind: str, direction: str, at: float, data: bytes) -> Frame:
    return Frame(
        direction=direction,  # type: ignore[arg-type]
        message_type=kind,  # type: ignore[arg-type]
        content=data,
        timestamp=at,
        size_bytes=len(data),
    )


def close(direction: str, at: float, code: int, reason: str) -> Frame:
    return Frame(
        direction=direction,  # type: ignore[arg-type]
        message_type="close",
        content=reason,
        timestamp=at,
        size_bytes=2 + len(reason.encode()),
        close_code=code,
    )


def tick(seq: int, price: float) -> bytes:
    """One ticker update as the binary feed packs it: symbol id, sequence, price."""
    return struct.pack(">HId", 7, seq, price)


def _counted(connection: Connection) -> Connection:
    """Fill the counts from the data frames, as the app's tracker does (control frames are not counted)."""
    for frame in connection.messages:
        if frame.message_type not in ("text", "binary"):
            continue
        if frame.direction == "sent":
            connection.messages_sent += 1
            connection.bytes_sent += frame.size_bytes
        else:
            connection.messages_received += 1
            connection.bytes_received += frame.size_bytes
    return connection


def _chat() -> Connection:
    t0 = BASE
    frames: list[Frame] = [
        text("received", t0 + 0.050, {"type": "auth", "token": "tok-alice-42"}),
        text("sent", t0 + 0.061, {"type": "welcome", "user": "alice", "room": 1}),
        text("received", t0 + 0.120, {"type": "subscribe", "channel": "general"}),
        text("sent", t0 + 0.131, {"type": "subscribed", "channel": "general", "members": 3}),
    ]
    at = t0 + 0.500
    for i in range(1, 11):
        frames.append(text("received", at, {"type": "message", "channel": "general", "text": f"hello {i}"}))
        frames.append(
            text("sent", at + 0.012, {"type": "message", "from": "bob", "channel": "general", "text": f"reply {i}"})
        )
        at += 0.75
        if i == 4:
            frames.append(control("ping", "sent", at, b"keepalive"))
            frames.append(control("pong", "received", at + 0.004, b"keepalive"))
            at += 0.25
        if i == 8:
            frames.append(control("ping", "received", at, b"\x00\x01"))
            frames.append(control("pong", "sent", at + 0.001, b"\x00\x01"))
            at += 0.25
    frames.append(text("received", at, {"type": "unsubscribe", "channel": "general"}))
    frames.append(close("received", at + 0.300, 1000, ""))
    end = at + 0.302
    return _counted(
        Connection(
            connection_id=CHAT_ID,
            path="/ws/chat",
            query_string="room=1",
            subprotocol="chat.v1",
            state="closed",
            connected_at=t0,
            accepted_at=t0 + 0.002,
            disconnected_at=end,
            close_code=1000,
            close_reason="",
            closed_by="client",
            client="127.0.0.1:52114",
            headers=[("host", "localhost:8000"), ("authorization", "[redacted]")],
            requested_subprotocols=["chat.v1"],
            pid=PID,
            app=APP,
            messages=frames,
        )
    )


def _ticker() -> Connection:
    t0 = BASE + 1.0
    frames: list[Frame] = [text("received", t0 + 0.020, {"type": "subscribe", "symbols": ["WSI"]})]
    price = 101.25
    for seq in range(1, 10):
        frames.append(binary("sent", t0 + 0.2 * seq, tick(seq, price)))
        price += 0.5 if seq % 2 else -0.25
        if seq == 5:
            # A snapshot of the order book, too large to keep whole: the app kept 10 KB of 20 KB.
            book = bytes(range(256)) * (BINARY_TRUNCATED_KEPT // 256)
            frames.append(binary("sent", t0 + 0.2 * seq + 0.05, book, size=BINARY_TRUNCATED_SIZE))
    frames.append(close("received", t0 + 2.5, 1001, ""))
    return _counted(
        Connection(
            connection_id=TICKER_ID,
            path="/ws/ticker",
            state="closed",
            connected_at=t0,
            accepted_at=t0 + 0.003,
            disconnected_at=t0 + 2.501,
            close_code=1001,
            close_reason="",
            closed_by="client",
            client="127.0.0.1:52118",
            pid=PID,
            app=APP,
            messages=frames,
        )
    )


def _closed_by_app() -> Connection:
    t0 = BASE + 2.0
    frames = [
        text("received", t0 + 0.010, {"type": "hello", "client": "dashboard"}),
        text("sent", t0 + 0.020, {"type": "notice", "text": "maintenance in 5 minutes"}),
        text("received", t0 + 1.500, "bye"),
        close("sent", t0 + 1.510, 4001, "bye"),
    ]
    return _counted(
        Connection(
            connection_id=CLOSED_ID,
            path="/ws/notifications",
            state="closed",
            connected_at=t0,
            accepted_at=t0 + 0.001,
            disconnected_at=t0 + 1.512,
            close_code=4001,
            close_reason="bye",
            closed_by="server",
            client="127.0.0.1:52120",
            pid=PID,
            app=APP,
            messages=frames,
        )
    )


def _denied() -> Connection:
    t0 = BASE + 3.0
    return Connection(
        connection_id=DENIED_ID,
        path="/ws/admin",
        state="closed",
        connected_at=t0,
        disconnected_at=t0 + 0.004,
        close_code=1008,
        close_reason="",
        closed_by="server",
        denial_status=403,
        client="127.0.0.1:52122",
        pid=PID,
        app=APP,
    )


def _failed() -> Connection:
    t0 = BASE + 4.0
    frames = [
        text("received", t0 + 0.030, {"type": "query", "sql": "select * from jobs"}),
        close("sent", t0 + 0.250, 4500, "Internal Server Error"),
    ]
    return _counted(
        Connection(
            connection_id=FAILED_ID,
            path="/ws/jobs",
            state="closed",
            connected_at=t0,
            accepted_at=t0 + 0.002,
            disconnected_at=t0 + 0.251,
            close_code=4500,
            close_reason="Internal Server Error",
            closed_by="server",
            error="ValueError: database is down",
            client="127.0.0.1:52124",
            pid=PID,
            app=APP,
            messages=frames,
        )
    )


def make_connections() -> list[Connection]:
    """Five closed connections, oldest first: chat, ticker, app-closed (4001), denied (403), failed."""
    return [_chat(), _ticker(), _closed_by_app(), _denied(), _failed()]
