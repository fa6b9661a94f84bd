"""`wsinspect demo`: every kind of frame shows within ten seconds, and quitting leaves nothing behind."""

from __future__ import annotations

import asyncio
import json
import tempfile
import threading
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import msgspec
import pytest
from textual.pilot import Pilot

from wsinspect import cli
from wsinspect.inspector.core.store import Store
from wsinspect.inspector.ui.app import InspectorApp
from wsinspect.model import Connection

SHOWN_WITHIN = 10.0


def kinds_seen(store: Store) -> set[str]:
    """Every kind of thing the demo promises, as far as the store holds it."""
    seen: set[str] = set()
    for entry in store.entries.values():
        connection = entry.connection
        if connection.denial_status == 403:
            seen.add("denied")
        if connection.refused_by == "guard requires_token" and connection.traceback[-1].app:
            seen.add("refused by a guard, with its traceback")
        if entry.logs:
            seen.add("log lines")
        if any(frame.handler_time and frame.handler_time >= 0.15 for frame in entry.frames):
            seen.add("a slow handler")
        if connection.close_code == 4500 and connection.error:
            seen.add("handler error")
        if connection.close_code == 4001 and connection.closed_by == "client":
            seen.add("client close with app code")
        if connection.path == "/ws/echo" and connection.state == "closed":
            # The plain handler ends on Litestar's WebSocketDisconnect: a clean close, no error.
            clean = (connection.closed_by, connection.close_code, connection.error) == ("client", 1001, None)
            seen.add("plain handler ended by a client close" if clean else "plain handler close with an error")
        for frame in entry.frames:
            seen.add(f"{frame.direction} {frame.message_type}")
            if frame.truncated:
                seen.add("truncated")
            if frame.message_type == "text" and frame.direction == "sent":
                protocol = PROTOCOL_REPLIES.get(connection.path)
                if protocol and frame.content.startswith(protocol[1]):
                    seen.add(protocol[0])
            if connection.path == "/ws/ticker.msgpack" and frame.message_type == "binary":
                seen.add("msgpack map")
        state = connection.handler_state
        working = state.stack if state is not None and state.state == "working" and state.stack else []
        if any(frame.function == "query_index" and frame.app for frame in working):
            seen.add("a handler working, and where")
        if state is not None and state.state == "receiving":
            seen.add("a handler waiting")
        if any(frame.send_waited for frame in entry.frames) and connection.send_waited_total:
            seen.add("a slow client")
        if connection.client_saw:
            seen.add("what the client saw")
        for block in connection.loop_blocks:
            if any(frame.function == "reports" and frame.app for frame in block.stack):
                seen.add("a loop block that names its handler")
    if any(report[0] >= 0.1 for reports in store.loop_lags.values() for report in reports):
        seen.add("a blocked event loop")
    return seen


# A reply each of the demo's protocols gives, as the start of a text frame the app sent.
PROTOCOL_REPLIES = {
    "/ws/socket.io": ("socket.io ack", "431["),
    "/ws/graphql": ("graphql next", '{"id":"1","type":"next"'),
    "/ws/rpc": ("json-rpc error", '{"jsonrpc":"2.0","id":3,"error"'),
}


EXPECTED = {
    "denied",
    "handler error",
    "client close with app code",
    "plain handler ended by a client close",
    "received text",
    "sent text",
    "sent binary",
    "sent ping",
    "received pong",
    "received ping",
    "sent pong",
    "truncated",
    "socket.io ack",
    "graphql next",
    "json-rpc error",
    "msgpack map",
    "refused by a guard, with its traceback",
    "log lines",
    "a slow handler",
    "a blocked event loop",
    "a handler working, and where",
    "a handler waiting",
    "a loop block that names its handler",
    "a slow client",
    "what the client saw",
}


def test_demo_shows_every_kind_of_frame_and_quits_cleanly(monkeypatch: pytest.MonkeyPatch) -> None:
    made: list[Path] = []
    real_mkdtemp = tempfile.mkdtemp

    def mkdtemp(*args: Any, **kwargs: Any) -> str:
        made.append(Path(real_mkdtemp(*args, **kwargs)))
        return str(made[-1])

    monkeypatch.setattr(tempfile, "mkdtemp", mkdtemp)
    outcome: dict[str, Any] = {}
    real_run = InspectorApp.run

    def run_headless(self: InspectorApp, **kwargs: Any) -> None:
        async def watch_then_quit(pilot: Pilot[Any]) -> None:
            started = time.monotonic()
            seen = kinds_seen(self.store)  # what was on screen at some point: a handler's state comes and goes
            while time.monotonic() - started < SHOWN_WITHIN and not seen >= EXPECTED:
                await asyncio.sleep(0.1)
                seen |= kinds_seen(self.store)
            outcome["seen"] = seen
            outcome["rows"] = len(self.timeline.index)
            outcome["status"] = str(self.query_one("#status").render())
            await pilot.press("q")

        real_run(self, headless=True, size=(160, 45), auto_pilot=watch_then_quit)

    monkeypatch.setattr(InspectorApp, "run", run_headless)
    threads_before = {thread.name for thread in threading.enumerate()}
    assert cli.main(["demo"]) == 0
    assert outcome["seen"] >= EXPECTED, EXPECTED - outcome["seen"]
    assert "plain handler close with an error" not in outcome["seen"]
    assert outcome["rows"] > 20
    assert "demo app on 127.0.0.1:" in outcome["status"]
    # Nothing left behind: the demo's thread ended and its private socket directory is gone.
    assert "wsinspect-demo" not in {thread.name for thread in threading.enumerate()} - threads_before
    assert made
    assert all(not directory.exists() for directory in made)


async def run_demo_clients(socket_path: Path, *clients: Callable[[str], Awaitable[None]]) -> list[Connection]:
    """The demo app under uvicorn with some of the demo's own clients, each run once; the
    connections it recorded once every handler has ended."""
    from helpers.servers import run_server
    from helpers.waiting import until

    from wsinspect.demo.app import demo_app
    from wsinspect.litestar import WSInspectPlugin

    app = demo_app(socket_path)
    recorder = app.plugins.get(WSInspectPlugin).recorder
    with run_server(app, lifespan="on") as server:
        base = f"ws://{server.host}:{server.port}"
        async with asyncio.timeout(20):
            await asyncio.gather(*(client(base) for client in clients))
        _, connections = await until(
            lambda: server.call(lambda: (len(recorder._open), recorder.connections())),
            lambda seen: seen[0] == 0 and len(seen[1]) == len(clients),
            what="every handler to end",
        )
    return list(connections)


def texts(connection: Connection) -> list[tuple[str, str]]:
    return [(frame.direction, frame.content) for frame in connection.messages if frame.message_type == "text"]


async def test_the_demo_echo_handler_ends_cleanly_when_its_client_closes(private_socket: Path) -> None:
    """The demo's plain handler (it never catches the disconnect) under uvicorn, with the demo's own
    client: each connection is a clean 1001 close by the client, with no handler error."""
    from wsinspect.demo.clients import echo_client

    connections = await run_demo_clients(
        private_socket, lambda base: echo_client(base, "one"), lambda base: echo_client(base, "two")
    )
    for connection in connections:
        assert connection.path == "/ws/echo"
        assert (connection.state, connection.closed_by, connection.close_code) == ("closed", "client", 1001)
        assert connection.error is None
        assert connection.messages_received == connection.messages_sent >= 2
        assert connection.messages[-1].message_type == "close"


def assert_closed_cleanly_by(connection: Connection, closed_by: str, reason: str | None = None) -> None:
    assert (connection.state, connection.closed_by, connection.close_code) == ("closed", closed_by, 1000)
    assert connection.error is None
    if reason is not None:
        assert connection.close_reason == reason


async def test_the_demo_socketio_exchange_is_engine_io_v4_and_socket_io_v5(private_socket: Path) -> None:
    from wsinspect.demo.clients import socketio_client

    [connection] = await run_demo_clients(private_socket, lambda base: socketio_client(base, "carol"))
    assert connection.path == "/ws/socket.io"
    assert connection.query_string == "EIO=4&transport=websocket"
    frames = texts(connection)
    # Engine.IO's open packet, then Socket.IO's CONNECT to "/" and its answer with a sid.
    direction, opening = frames[0]
    assert direction == "sent"
    assert opening[0] == "0"
    handshake = json.loads(opening[1:])
    assert set(handshake) == {"sid", "upgrades", "pingInterval", "pingTimeout", "maxPayload"}
    assert (handshake["upgrades"], handshake["pingInterval"], handshake["pingTimeout"]) == ([], 25000, 20000)
    assert frames[1] == ("received", "40")
    assert frames[2][0] == "sent"
    assert frames[2][1].startswith("40")
    assert set(json.loads(frames[2][1][2:])) == {"sid"}
    # An event with ack id 1, and its ACK (packet 3) with the same id.
    assert frames[3:5] == [("received", '421["join",{"room":"lobby"}]'), ("sent", '431[{"ok":true,"members":3}]')]
    # Chat events both ways, and an Engine.IO ping answered with a pong.
    chats = [(direction, json.loads(text[2:])) for direction, text in frames if text.startswith("42[")]
    received = [data for direction, data in chats if direction == "received"]
    assert len(received) >= 4
    assert received[0] == ["chat", {"user": "carol", "text": "hi #0"}]
    assert [data for direction, data in chats if direction == "sent"] == received
    assert ("sent", "2") in frames
    assert frames[frames.index(("sent", "2")) :].count(("received", "3")) >= 1
    # The /admin namespace: CONNECT, its sid, an event in it; then DISCONNECT and a clean close.
    admin = frames.index(("received", "40/admin,"))
    assert frames[admin + 1][1].startswith("40/admin,{")
    assert frames[admin + 2] == ("sent", '42/admin,["stats",{"sockets":3,"rooms":1}]')
    assert frames[-1] == ("received", "41")
    assert_closed_cleanly_by(connection, "client")


async def test_the_demo_graphql_subscription_speaks_graphql_transport_ws(private_socket: Path) -> None:
    from wsinspect.demo.app import PRICE_SUBSCRIPTION
    from wsinspect.demo.clients import graphql_client

    [connection] = await run_demo_clients(private_socket, graphql_client)
    assert connection.path == "/ws/graphql"
    assert connection.requested_subprotocols == ["graphql-transport-ws"]
    assert connection.subprotocol == "graphql-transport-ws"
    messages = [(direction, json.loads(text)) for direction, text in texts(connection)]
    assert messages[:5] == [
        ("received", {"type": "connection_init", "payload": {}}),
        ("sent", {"type": "connection_ack"}),
        ("received", {"type": "ping"}),
        ("sent", {"type": "pong"}),
        (
            "received",
            {"id": "1", "type": "subscribe", "payload": {"query": PRICE_SUBSCRIPTION, "variables": {"symbol": "WSI"}}},
        ),
    ]
    assert messages[-1] == ("sent", {"id": "1", "type": "complete"})
    results = messages[5:-1]
    assert len(results) >= 3
    for direction, message in results:
        assert direction == "sent"
        assert set(message) == {"id", "type", "payload"}
        assert (message["id"], message["type"]) == ("1", "next")
        price = message["payload"]["data"]["price"]
        assert price["symbol"] == "WSI"
        assert isinstance(price["value"], float)
    assert_closed_cleanly_by(connection, "client")


async def test_the_demo_graphql_endpoint_refuses_a_client_without_its_subprotocol(private_socket: Path) -> None:
    """As graphql-ws does: the connection is accepted without a subprotocol and closed with 4406."""
    from websockets.asyncio.client import connect

    async def plain_client(base: str) -> None:
        async with connect(f"{base}/ws/graphql", ping_interval=None) as ws:
            await ws.wait_closed()

    [connection] = await run_demo_clients(private_socket, plain_client)
    assert connection.subprotocol is None
    assert (connection.closed_by, connection.close_code, connection.close_reason) == (
        "server",
        4406,
        "Subprotocol not acceptable",
    )


async def test_the_demo_msgpack_ticker_sends_msgpack_maps(private_socket: Path) -> None:
    from wsinspect.demo.clients import msgpack_ticker_client

    [connection] = await run_demo_clients(private_socket, msgpack_ticker_client)
    assert connection.path == "/ws/ticker.msgpack"
    frames = [frame for frame in connection.messages if frame.message_type != "close"]
    assert len(frames) >= 10
    ticks = []
    for frame in frames:
        assert (frame.direction, frame.message_type) == ("sent", "binary")
        ticks.append(msgspec.msgpack.decode(frame.content))
    assert all(tick["symbol"] == "WSI" and isinstance(tick["price"], float) for tick in ticks)
    assert [tick["seq"] for tick in ticks] == list(range(len(ticks)))
    assert_closed_cleanly_by(connection, "server", "market closed")


async def test_the_demo_json_rpc_exchange(private_socket: Path) -> None:
    from wsinspect.demo.clients import rpc_client

    [connection] = await run_demo_clients(private_socket, rpc_client)
    messages = [(direction, json.loads(text)) for direction, text in texts(connection)]
    requests = [message for direction, message in messages if direction == "received"]
    replies = {message["id"]: message for direction, message in messages if direction == "sent"}
    assert all(message["jsonrpc"] == "2.0" for _, message in messages)
    assert [request.get("id") for request in requests] == [1, 2, 3, None]  # the last one is a notification
    assert replies[1]["result"] == 5
    assert replies[2]["result"]["symbol"] == "WSI"
    assert replies[3]["error"] == {"code": -32601, "message": "Method not found"}
    assert len(replies) == 3
    assert_closed_cleanly_by(connection, "client")


def test_demo_without_its_extra_says_how_to_install_it(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import sys

    monkeypatch.setitem(sys.modules, "wsinspect.demo", None)  # as if uvicorn/websockets were missing
    assert cli.main(["demo"]) == 1
    err = capsys.readouterr().err
    assert "pip install 'wsinspect[demo]'" in err
    assert err.count("\n") == 1


async def test_the_demo_shows_what_its_handlers_did(private_socket: Path) -> None:
    """A guard that refuses, a handler that logs and raises, and a slow one that blocks the loop."""
    from websockets.exceptions import InvalidStatus

    from wsinspect.demo.clients import admin_client, jobs_client, reports_client

    async def refused_admin(base: str) -> None:
        with pytest.raises(InvalidStatus):  # the guard refuses: HTTP 403
            await admin_client(base)

    connections = await run_demo_clients(private_socket, refused_admin, jobs_client, reports_client)
    by_path = {connection.path: connection for connection in connections}
    admin, jobs, reports = by_path["/ws/admin"], by_path["/ws/jobs"], by_path["/ws/reports"]
    assert (admin.denial_status, admin.refused_by) == (403, "guard requires_token")
    assert admin.error == "NotAuthorizedException: 401: a valid token is required"
    assert (admin.traceback[-1].function, admin.traceback[-1].app) == ("requires_token", True)
    assert jobs.error == "RuntimeError: job queue unavailable"
    assert [entry.function for entry in jobs.traceback if entry.app] == ["jobs", "connect_to_queue"]
    assert [(line.level, line.message) for line in jobs.logs] == [
        ("INFO", "running job nightly-report"),
        ("WARNING", "job queue did not answer; giving up on nightly-report"),
    ]
    assert reports.messages_received == reports.messages_sent == 8
    warned = [line.message for line in reports.logs]
    assert warned == [f"report {n} rendered synchronously: the event loop is blocked" for n in (3, 7)]


async def test_the_demo_export_waits_on_its_slow_client_and_the_refusal_says_what_the_client_saw(
    private_socket: Path,
) -> None:
    """Issue 28 in the demo: the export's sends wait while its client reads nothing; the admin
    client, refused before the accept, saw an HTTP 403."""
    from websockets.exceptions import InvalidStatus

    from wsinspect.demo.app import EXPORT_CHUNK, EXPORT_CHUNKS
    from wsinspect.demo.clients import admin_client, export_client

    async def refused_admin(base: str) -> None:
        with pytest.raises(InvalidStatus):
            await admin_client(base)

    connections = await run_demo_clients(private_socket, refused_admin, export_client)
    by_path = {connection.path: connection for connection in connections}
    export, admin = by_path["/ws/export"], by_path["/ws/admin"]
    sent = [frame for frame in export.messages if frame.direction == "sent" and frame.message_type == "binary"]
    assert (export.messages_sent, export.bytes_sent) == (EXPORT_CHUNKS, EXPORT_CHUNKS * EXPORT_CHUNK)
    waited = [frame.send_waited for frame in sent if frame.send_waited]
    assert waited, "no send waited on the paused client"
    assert export.send_waited_max == max(waited) >= 0.5  # the client paused for 2 s
    assert export.send_waited_total == pytest.approx(sum(waited))
    assert (export.close_code, export.close_reason, export.closed_by) == (1000, "export done", "server")
    assert admin.client_saw is not None
    assert admin.client_saw.startswith("HTTP 403")
