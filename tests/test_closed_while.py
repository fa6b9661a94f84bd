"""What a handler was doing as its connection closed (``Connection.closed_while``): the state a
hung test's report needs, as its client's close arrives while the test's exception unwinds."""

from __future__ import annotations

import asyncio
import queue
import time
from typing import Any

import pytest
from helpers.asgi import ws_scope
from litestar import Litestar, websocket
from litestar.connection import WebSocket
from litestar.testing import TestClient

from wsinspect import WSInspectConfig, WSInspectMiddleware
from wsinspect.capture.tracker import ConnectionTracker
from wsinspect.litestar import WSInspectPlugin
from wsinspect.model import HandlerState, TracebackEntry


def _tracker() -> ConnectionTracker:
    tracker = ConnectionTracker(ws_scope(), WSInspectConfig(), 10.0)
    tracker.send({"type": "websocket.accept"}, 10.1)
    return tracker


def test_a_client_that_closes_while_the_handler_waits_leaves_receiving_since_it_asked() -> None:
    tracker = _tracker()
    tracker.receive({"type": "websocket.disconnect", "code": 1000}, 15.0, asked=11.0)
    connection = tracker.snapshot()
    assert connection.state == "closed"
    assert connection.closed_by == "client"
    assert connection.closed_while == HandlerState(state="receiving", since=11.0)
    assert connection.handler_state is None  # an open connection's, as before


def test_a_cancelled_handler_leaves_what_the_watchdog_saw_last() -> None:
    tracker = _tracker()
    stack = [TracebackEntry(file="app.py", line=3, function="work", app=True)]
    tracker.report_state(HandlerState(state="working", since=11.0, stack=stack))
    tracker.handler_cancelled(20.0)
    assert tracker.snapshot().closed_while == HandlerState(state="working", since=11.0, stack=stack)


def test_a_send_that_fails_leaves_sending() -> None:
    tracker = _tracker()
    tracker.sending = 12.0  # the middleware's wrapper, in send() since then
    tracker.send_failed(OSError("gone"), {"type": "websocket.send", "text": "x"}, 13.0)
    assert tracker.snapshot().closed_while == HandlerState(state="sending", since=12.0)


def test_a_handler_that_ends_on_its_own_leaves_nothing() -> None:
    tracker = _tracker()
    tracker.report_state(HandlerState(state="working", since=11.0))
    tracker.handler_returned(12.0)
    assert tracker.snapshot().closed_while is None


# -- through the middleware and Litestar's test client ---------------------------------------------


async def test_the_middleware_hands_over_when_the_handler_asked() -> None:
    asked: list[float] = []

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        await receive()
        await send({"type": "websocket.accept"})
        asked.append(time.time())
        await receive()  # the close

    async def receive_slowly() -> dict[str, Any]:
        await asyncio.sleep(0.05)
        return incoming.pop(0)

    incoming: list[dict[str, Any]] = [{"type": "websocket.connect"}, {"type": "websocket.disconnect", "code": 1001}]
    middleware = WSInspectMiddleware(app, WSInspectConfig())

    async def send(message: dict[str, Any]) -> None:
        pass

    await middleware(ws_scope(), receive_slowly, send)
    (connection,) = middleware.recorder.connections()
    state = connection.closed_while
    assert state is not None
    assert state.state == "receiving"
    assert asked[0] - 0.01 <= state.since <= asked[0] + 0.01
    assert connection.disconnected_at is not None
    assert connection.disconnected_at - state.since >= 0.04


@websocket("/ws")
async def quiet(socket: WebSocket) -> None:
    await socket.accept()
    while True:
        await socket.receive_text()  # never answers


def test_litestar_s_test_client_closing_on_a_timeout_leaves_the_wait_before_it() -> None:
    wait = 0.3
    plugin = WSInspectPlugin(WSInspectConfig())
    app = Litestar([quiet], plugins=[plugin])
    with TestClient(app) as client:
        with client.websocket_connect("/ws") as ws:
            ws.send_text("subscribe")
            with pytest.raises(queue.Empty):
                ws.receive_text(timeout=wait)  # no reply comes: the test would fail here
        deadline = time.monotonic() + 5
        while plugin.recorder.connections()[0].state != "closed" and time.monotonic() < deadline:
            time.sleep(0.01)
    (connection,) = plugin.recorder.connections()
    state = connection.closed_while
    assert state is not None
    assert state.state == "receiving"
    assert connection.disconnected_at is not None
    assert connection.disconnected_at - state.since >= wait * 0.9
