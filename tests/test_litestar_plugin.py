"""The Litestar plugin through Litestar's own test client."""

from __future__ import annotations

import asyncio
import logging
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from litestar import Litestar, WebSocket, get, websocket
from litestar.exceptions import WebSocketDisconnect
from litestar.testing import TestClient

from wsinspect import WSInspectConfig
from wsinspect.litestar import WSInspectPlugin


@websocket("/ws/chat")
async def chat(socket: WebSocket) -> None:
    await socket.accept(subprotocols="chat")
    while True:
        text = await socket.receive_text()
        if text == "bye":
            await socket.close(code=4001, reason="bye")
            return
        await socket.send_json({"echo": text})


@websocket("/ws/fail")
async def fail(socket: WebSocket) -> None:
    await socket.accept()
    raise ValueError("kaboom")


@websocket("/ws/deny")
async def deny(socket: WebSocket) -> None:
    await socket.close(code=1008)


@get("/health")
async def health() -> str:
    return "ok"


def make_app(config: WSInspectConfig | None = None) -> tuple[Litestar, WSInspectPlugin]:
    plugin = WSInspectPlugin(config)
    return Litestar([chat, fail, deny, health], plugins=[plugin]), plugin


def test_full_lifecycle() -> None:
    app, plugin = make_app()
    with TestClient(app) as client, client.websocket_connect("/ws/chat?room=1", subprotocols=["chat"]) as ws:
        ws.send_text("hello")
        assert ws.receive_json() == {"echo": "hello"}
        ws.send_text("bye")
        with pytest.raises(WebSocketDisconnect):
            ws.receive_text()
    (conn,) = plugin.recorder.connections()
    assert (conn.path, conn.query_string, conn.subprotocol) == ("/ws/chat", "room=1", "chat")
    assert (conn.state, conn.closed_by, conn.close_code, conn.close_reason) == (
        "closed",
        "server",
        4001,
        "bye",
    )
    assert conn.connected_at <= conn.accepted_at <= conn.disconnected_at  # type: ignore[operator]
    assert [(f.direction, f.message_type) for f in conn.messages] == [
        ("received", "text"),
        ("sent", "text"),
        ("received", "text"),
        ("sent", "close"),
    ]
    assert conn.messages[1].content == '{"echo":"hello"}'
    assert (conn.messages_sent, conn.messages_received, conn.bytes_received) == (1, 2, 8)


def test_handler_exception_keeps_its_text() -> None:
    app, plugin = make_app()
    with (
        TestClient(app) as client,
        client.websocket_connect("/ws/fail") as ws,
        pytest.raises(WebSocketDisconnect),
    ):
        ws.receive_text()
    (conn,) = plugin.recorder.connections()
    # Litestar turns the exception into close 4500; the after_exception hook keeps what it was.
    assert (conn.close_code, conn.close_reason, conn.error) == (
        4500,
        "Internal Server Error",
        "ValueError: kaboom",
    )
    assert conn.state == "closed"


def test_denied_upgrade() -> None:
    app, plugin = make_app()
    with TestClient(app) as client, pytest.raises(WebSocketDisconnect), client.websocket_connect("/ws/deny"):
        pass
    (conn,) = plugin.recorder.connections()
    assert (conn.state, conn.denial_status, conn.accepted_at) == ("closed", 403, None)


def test_http_routes_are_untouched() -> None:
    app, plugin = make_app()
    with TestClient(app) as client:
        assert client.get("/health").text == "ok"
    assert plugin.recorder.connections() == []


async def test_concurrent_connections_are_kept_apart() -> None:
    # Litestar's test client runs each WebSocket in a busy-waiting thread, so the 20 concurrent
    # conversations are driven on one event loop through the app's ASGI interface instead.
    app, plugin = make_app()

    async def converse(i: int) -> list[dict[str, Any]]:
        incoming = asyncio.Queue[dict[str, Any]]()
        for message in [{"type": "websocket.connect"}]:
            incoming.put_nowait(message)
        outgoing: list[dict[str, Any]] = []

        async def send(message: dict[str, Any]) -> None:
            outgoing.append(message)
            if message["type"] == "websocket.accept" or message["type"] == "websocket.send":
                sent_so_far = sum(m["type"] == "websocket.send" for m in outgoing)
                text = f"{i}-{sent_so_far}" if sent_so_far < i else "bye"
                incoming.put_nowait({"type": "websocket.receive", "text": text})
                await asyncio.sleep(0)  # let the other conversations interleave

        scope = {
            "type": "websocket",
            "path": "/ws/chat",
            "raw_path": b"/ws/chat",
            "query_string": f"n={i}".encode(),
            "headers": [],
            "subprotocols": [],
            "root_path": "",
            "scheme": "ws",
            "asgi": {"version": "3.0"},
        }
        await app(scope, incoming.get, send)
        return outgoing

    transcripts = await asyncio.gather(*(converse(i) for i in range(20)))
    conns = plugin.recorder.connections()
    assert sorted(int(c.query_string[2:]) for c in conns) == list(range(20))
    for conn in conns:
        i = int(conn.query_string[2:])
        assert (conn.messages_received, conn.messages_sent, conn.close_code) == (i + 1, i, 4001)
        assert [f.content for f in conn.messages if f.direction == "received"] == [f"{i}-{j}" for j in range(i)] + [
            "bye"
        ]
        assert len([m for m in transcripts[i] if m["type"] == "websocket.send"]) == i


def test_disabled_plugin_adds_no_middleware() -> None:
    app, plugin = make_app(WSInspectConfig(enabled=False))
    with TestClient(app) as client, client.websocket_connect("/ws/chat") as ws:
        ws.send_text("x")
        assert ws.receive_json() == {"echo": "x"}
    assert plugin.recorder.connections() == []


def test_the_app_side_never_imports_textual() -> None:
    code = (
        "import sys, wsinspect, wsinspect.litestar, wsinspect.capture.middleware;"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('textual', 'rich')))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


# -- recording in production is loud ------------------------------------------------------------


def startup_warnings(caplog: pytest.LogCaptureFixture, plugin: WSInspectPlugin, *, debug: bool) -> list[str]:
    """The wsinspect warnings logged while an app with ``plugin`` starts and stops (Litestar's own
    logging config would take the root logger's handlers, pytest's among them)."""
    caplog.clear()
    with (
        caplog.at_level(logging.WARNING, logger="wsinspect"),
        TestClient(Litestar([], plugins=[plugin], debug=debug, logging_config=None)),
    ):
        pass
    return [r.getMessage() for r in caplog.records if r.name == "wsinspect"]


def test_recording_with_debug_off_warns_once_at_startup_what_leaves_and_how_to_stop_it(
    caplog: pytest.LogCaptureFixture, private_socket: Path
) -> None:
    assert startup_warnings(caplog, WSInspectPlugin(), debug=False) == [
        "wsinspect: recording WebSocket traffic with debug off: payloads (up to 10240 bytes a frame), request "
        "headers and query strings (credentials redacted), close reasons, handler errors, log lines (INFO and up) "
        f"stream to the inspector at {private_socket} whenever one listens. Turn it off in production with "
        "WSInspectConfig(enabled=False) or WSINSPECT_ENABLED=0"
    ]
    config = WSInspectConfig(
        socket_path="/run/x.sock", show_binary_preview=False, redact=lambda p, c: p, capture_logs=None
    )
    (line,) = startup_warnings(caplog, WSInspectPlugin(config), debug=False)
    assert "payloads (up to 10240 bytes a frame, binary by size only) as your redact hook returns them," in line
    assert "log lines" not in line
    assert "at /run/x.sock whenever" in line


def test_no_warning_in_debug_mode_or_when_off(
    caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert startup_warnings(caplog, WSInspectPlugin(), debug=True) == []
    assert startup_warnings(caplog, WSInspectPlugin(WSInspectConfig(enabled=False)), debug=False) == []
    monkeypatch.setenv("WSINSPECT_ENABLED", "0")
    assert startup_warnings(caplog, WSInspectPlugin(), debug=False) == []
