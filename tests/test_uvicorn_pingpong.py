"""Pings, pongs and the keepalive timeout: ``wsinspect.uvicorn``'s protocol classes under a real uvicorn.

ASGI never shows ping or pong frames to the app. Each server test runs a real uvicorn (in a thread
of this process, see ``helpers/servers.py``) with one of wsinspect's two protocol classes (websockets-sansio
and wsproto based), a raw ASGI echo app wrapped in ``WSInspectMiddleware``, and a real
``websockets`` client. The client never pings on its own (``ping_interval=None``), so every ping
it sends is one the test asked for. The end of the module tests the ``wsinspect.control`` channel
and the import checks without a server.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import importlib
import logging
import os
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import uvicorn
from helpers.factories import echo_app
from helpers.servers import RunningServer, run_server
from helpers.waiting import until
from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol
from uvicorn.protocols.websockets.wsproto_impl import WSProtocol
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from wsinspect import Connection, Recorder, WSInspectConfig, WSInspectMiddleware
from wsinspect.capture.middleware import CONTROL_EXTENSION, ControlChannel
from wsinspect.capture.tracker import ConnectionTracker
from wsinspect.uvicorn import SansIOWebSocketProtocol, WebSocketProtocol, WSProtoWebSocketProtocol

CLIENT_TIMEOUT = 10.0  # a safety net against a hung test, never an assertion
PING_INTERVAL = 0.1  # the server's keepalive: fast, so that a test sees several rounds

# wsinspect's classes, and the uvicorn implementation each extends.
PROTOCOLS = {SansIOWebSocketProtocol: "websockets-sansio", WSProtoWebSocketProtocol: "wsproto"}


@pytest.fixture(params=list(PROTOCOLS), ids=list(PROTOCOLS.values()))
def protocol(request: pytest.FixtureRequest) -> type[Any]:
    cls: type[Any] = request.param
    return cls


@pytest.fixture
def serve() -> Iterator[Callable[..., RunningServer]]:
    """Start uvicorn servers (``ws`` a protocol class, an import string or a uvicorn name) for one test."""
    with contextlib.ExitStack() as stack:

        def start(app: Any, ws: Any, **config: Any) -> RunningServer:
            return stack.enter_context(run_server(app, ws=ws, **config))

        yield start


# -- the app, the client, the record -----------------------------------------------------------


class EchoApp:
    """A raw ASGI app: text and bytes come back reversed; ``/slow`` accepts 0.3 s late.

    ``ended`` is set when a handler returns (it runs on the server's thread).
    """

    def __init__(self) -> None:
        self.ended = threading.Event()

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        assert scope["type"] == "websocket"
        try:
            assert (await receive())["type"] == "websocket.connect"
            if scope["path"] == "/slow":
                await asyncio.sleep(0.3)
            await send({"type": "websocket.accept"})
            while True:
                message = await receive()
                if message["type"] == "websocket.disconnect":
                    return
                if message.get("text") is not None:
                    await send({"type": "websocket.send", "text": message["text"][::-1]})
                else:
                    await send({"type": "websocket.send", "bytes": message["bytes"][::-1]})
        finally:
            self.ended.set()


def client(url: str) -> Any:
    return connect(url, proxy=None, ping_interval=None, open_timeout=CLIENT_TIMEOUT, close_timeout=CLIENT_TIMEOUT)


async def recorded(server: RunningServer, recorder: Recorder) -> Connection:
    """The one connection ``recorder`` holds, once it is closed."""
    [connection] = await until(
        lambda: server.call(recorder.connections),
        lambda connections: len(connections) == 1 and connections[0].state == "closed",
        what="one closed connection",
    )
    return connection  # type: ignore[no-any-return]


def frames_of(connection: Connection, *kinds: str) -> list[tuple[Any, ...]]:
    return [(f.direction, f.message_type, f.content) for f in connection.messages if f.message_type in kinds]


def answered_keepalive_rounds(connections: list[Connection]) -> int:
    """Server pings that a client pong with the same payload answered."""
    if not connections:
        return 0
    pings = {f.content for f in connections[0].messages if (f.direction, f.message_type) == ("sent", "ping")}
    pongs = {f.content for f in connections[0].messages if (f.direction, f.message_type) == ("received", "pong")}
    return len(pings & pongs)


DATA_FRAMES = [
    ("received", "text", "hello"),
    ("sent", "text", "olleh"),
    ("received", "binary", b"\x00\x01\x02"),
    ("sent", "binary", b"\x02\x01\x00"),
    ("received", "text", "bye"),
    ("sent", "text", "eyb"),
    ("received", "close", "done"),
]


async def conversation(server: RunningServer, recorder: Recorder, *, observable: bool) -> list[Any]:
    """Messages, a client ping, an unasked pong, and a few rounds of the server's keepalive.

    Returns what the client received.
    """
    seen: list[Any] = []
    async with asyncio.timeout(CLIENT_TIMEOUT), client(server.ws_url("/chat")) as ws:
        await ws.send("hello")
        seen.append(await ws.recv())
        pong_waiter = await ws.ping(b"client-1")
        seen.append(("latency", type(await pong_waiter)))
        await ws.send(b"\x00\x01\x02")
        seen.append(await ws.recv())
        await ws.pong(b"unsolicited")
        if observable:  # let at least two keepalive rounds complete
            await until(
                lambda: server.call(recorder.connections),
                lambda connections: answered_keepalive_rounds(connections) >= 2,
                what="two answered keepalive pings",
            )
        else:  # the same time: a few rounds of uvicorn's keepalive that nobody records
            await asyncio.sleep(3.5 * PING_INTERVAL)
        await ws.send("bye")
        seen.append(await ws.recv())
        await ws.close(1000, "done")
    return seen


# -- 1. everything is recorded, in order with the messages -------------------------------------


@pytest.mark.parametrize(
    "ws",
    [SansIOWebSocketProtocol, WSProtoWebSocketProtocol, "wsinspect.uvicorn:WebSocketProtocol"],
    ids=["sansio", "wsproto", "import-string"],
)
async def test_pings_and_pongs_are_recorded(serve: Callable[..., RunningServer], ws: Any) -> None:
    middleware = WSInspectMiddleware(EchoApp())
    server = serve(middleware, ws, ws_ping_interval=PING_INTERVAL, ws_ping_timeout=5.0)
    seen = await conversation(server, middleware.recorder, observable=True)
    assert seen == ["olleh", ("latency", float), b"\x02\x01\x00", "eyb"]

    conn = await recorded(server, middleware.recorder)
    assert conn.ping_observable is True
    assert (conn.state, conn.closed_by, conn.close_code, conn.close_reason) == ("closed", "client", 1000, "done")
    # Pings and pongs are interleaved with the messages, which come through as they are.
    assert frames_of(conn, "text", "binary", "close") == DATA_FRAMES
    timestamps = [f.timestamp for f in conn.messages]
    assert timestamps == sorted(timestamps)
    assert conn.connected_at <= timestamps[0]
    # Only text and binary messages count.
    assert (conn.messages_received, conn.messages_sent, conn.bytes_received, conn.bytes_sent) == (3, 3, 11, 11)

    frames = [(f.direction, f.message_type, f.content) for f in conn.messages]
    # The client's ping, answered at once by the server, between the messages around it.
    ping_at = frames.index(("received", "ping", b"client-1"))
    assert frames[ping_at + 1] == ("sent", "pong", b"client-1")
    assert frames.index(("sent", "text", "olleh")) < ping_at < frames.index(("received", "binary", b"\x00\x01\x02"))
    # The pong the client sent unasked: recorded, though uvicorn ignores it.
    assert ("received", "pong", b"unsolicited") in frames
    assert ("sent", "ping", b"unsolicited") not in frames

    # The server's keepalive: 4-byte random payloads, each answered by the client's pong.
    server_pings = [f for f in conn.messages if (f.direction, f.message_type) == ("sent", "ping")]
    assert len(server_pings) >= 2
    answered = 0
    for ping in server_pings:
        assert len(ping.content) == 4
        assert ping.size_bytes == 4
        pongs = [f for f in conn.messages if f.message_type == "pong" and f.content == ping.content]
        if pongs:  # the last ping may have crossed the client's close
            [pong] = pongs
            assert pong.direction == "received"
            assert 0 <= pong.timestamp - ping.timestamp < 1.0
            answered += 1
    assert answered >= 2
    assert conn.last_rtt is not None
    assert conn.avg_rtt is not None
    assert 0 < conn.last_rtt < 1.0
    assert 0 < conn.avg_rtt < 1.0


def test_websocket_protocol_is_the_sansio_one_when_websockets_is_installed() -> None:
    assert WebSocketProtocol is SansIOWebSocketProtocol
    assert issubclass(SansIOWebSocketProtocol, WebSocketsSansIOProtocol)
    assert issubclass(WSProtoWebSocketProtocol, WSProtocol)


# -- 2. without the protocol class: messages only ----------------------------------------------


async def test_without_the_protocol_class_no_ping_or_pong_is_recorded(
    serve: Callable[..., RunningServer], protocol: type[Any]
) -> None:
    plain_middleware = WSInspectMiddleware(EchoApp())
    plain = serve(plain_middleware, PROTOCOLS[protocol], ws_ping_interval=PING_INTERVAL, ws_ping_timeout=5.0)
    plain_seen = await conversation(plain, plain_middleware.recorder, observable=False)
    middleware = WSInspectMiddleware(EchoApp())
    server = serve(middleware, protocol, ws_ping_interval=PING_INTERVAL, ws_ping_timeout=5.0)
    seen = await conversation(server, middleware.recorder, observable=True)
    assert seen == plain_seen  # the protocol class changes nothing the client sees

    conn = await recorded(plain, plain_middleware.recorder)
    assert conn.ping_observable is False
    assert frames_of(conn, "ping", "pong") == []
    assert frames_of(conn, "text", "binary", "close") == DATA_FRAMES
    assert (conn.last_rtt, conn.avg_rtt) == (None, None)
    watched = await recorded(server, middleware.recorder)
    assert frames_of(watched, "text", "binary", "close") == DATA_FRAMES
    assert (watched.messages_received, watched.bytes_received) == (conn.messages_received, conn.bytes_received)


# -- 3. a client that stops answering: the keepalive timeout -----------------------------------


async def test_keepalive_timeout_is_recorded(serve: Callable[..., RunningServer], protocol: type[Any]) -> None:
    app = EchoApp()
    middleware = WSInspectMiddleware(app)
    server = serve(middleware, protocol, ws_ping_interval=PING_INTERVAL, ws_ping_timeout=0.3)
    async with asyncio.timeout(CLIENT_TIMEOUT), client(server.ws_url("/chat")) as ws:
        await ws.send("hello")
        assert await ws.recv() == "olleh"
        # The client stops reading, so it never sees (nor answers) the server's next ping.
        ws.transport.pause_reading()
        conn = await recorded(server, middleware.recorder)
        ws.transport.resume_reading()
        with pytest.raises(ConnectionClosed):
            await ws.recv()
        assert (ws.close_code, ws.close_reason) == (1011, "keepalive ping timeout")  # what the client got

    assert (conn.state, conn.closed_by, conn.close_code, conn.close_reason) == (
        "closed",
        "server",
        1011,
        "keepalive ping timeout",
    )
    assert conn.error is None
    close = conn.messages[-1]
    assert (close.direction, close.message_type, close.content, close.close_code) == (
        "sent",
        "close",
        "keepalive ping timeout",
        1011,
    )
    assert conn.disconnected_at == close.timestamp
    # The ping that went unanswered comes just before, a ping timeout earlier.
    unanswered = conn.messages[-2]
    assert (unanswered.direction, unanswered.message_type) == ("sent", "ping")
    assert not [f for f in conn.messages if f.message_type == "pong" and f.content == unanswered.content]
    assert close.timestamp - unanswered.timestamp >= 0.2
    assert frames_of(conn, "text", "binary") == DATA_FRAMES[:2]

    # The app then hears of a disconnect and returns: nothing more is recorded.
    assert await asyncio.to_thread(app.ended.wait, CLIENT_TIMEOUT)
    [after] = await until(
        lambda: server.call(middleware.recorder.connections),
        lambda connections: len(connections) == 1,
        what="the one connection, recorded",
    )
    assert after == conn


async def test_without_the_protocol_class_a_keepalive_timeout_looks_like_a_drop(
    serve: Callable[..., RunningServer], protocol: type[Any]
) -> None:
    """What docs/deployment.md says of plain uvicorn: the app only hears that the connection is gone."""
    middleware = WSInspectMiddleware(EchoApp())
    server = serve(middleware, PROTOCOLS[protocol], ws_ping_interval=PING_INTERVAL, ws_ping_timeout=0.3)
    async with asyncio.timeout(CLIENT_TIMEOUT), client(server.ws_url("/chat")) as ws:
        await ws.send("hello")
        assert await ws.recv() == "olleh"
        ws.transport.pause_reading()
        conn = await recorded(server, middleware.recorder)
        ws.transport.resume_reading()
        with pytest.raises(ConnectionClosed):
            await ws.recv()
        assert ws.close_code == 1011  # the client did get the keepalive close
    assert (conn.ping_observable, conn.close_code, conn.closed_by) == (False, 1006, "client")
    assert frames_of(conn, "ping", "pong") == []


# -- 4. a ping before the accept ---------------------------------------------------------------


def _masked(opcode: int, payload: bytes) -> bytes:
    mask = os.urandom(4)
    return bytes([0x80 | opcode, 0x80 | len(payload), *mask]) + bytes(b ^ mask[i % 4] for i, b in enumerate(payload))


async def test_a_ping_before_the_accept_is_recorded_as_the_client_saw_it(
    serve: Callable[..., RunningServer], protocol: type[Any]
) -> None:
    """A raw client pings while the app has not accepted yet.

    uvicorn 0.54 answers it differently per implementation: websockets-sansio writes the pong at
    once, before its ``101`` response; wsproto drops frames that arrive before the accept. Either
    way the record matches what the client got on the wire.
    """
    middleware = WSInspectMiddleware(EchoApp())
    server = serve(middleware, protocol)
    key = base64.b64encode(os.urandom(16)).decode()
    request = (
        f"GET /slow HTTP/1.1\r\nHost: {server.host}:{server.port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n"
    ).encode()
    async with asyncio.timeout(CLIENT_TIMEOUT):
        reader, writer = await asyncio.open_connection(server.host, server.port)
        writer.write(request)
        await asyncio.sleep(0.05)  # bytes that come with the upgrade request are dropped by uvicorn
        writer.write(_masked(0x9, b"early") + _masked(0xA, b"unasked"))
        wire = b""
        while b"\r\n\r\n" not in wire:  # the 101, after the app's 0.3 s
            wire += await reader.read(4096)
        with_more = asyncio.create_task(reader.read(4096))
        done, _ = await asyncio.wait([with_more], timeout=0.2)
        wire += with_more.result() if done else b""
        if not done:
            with_more.cancel()
        writer.write(_masked(0x8, b"\x03\xe8"))  # close 1000
        await writer.drain()
        conn = await recorded(server, middleware.recorder)
        writer.close()

    assert wire.count(b"HTTP/1.1 101") == 1
    pong_on_the_wire = b"\x8a\x05early" in wire
    frames = frames_of(conn, "ping", "pong")
    assert (("received", "ping", b"early") in frames) == pong_on_the_wire
    assert (("sent", "pong", b"early") in frames) == pong_on_the_wire
    assert set(frames) <= {("received", "ping", b"early"), ("sent", "pong", b"early"), ("received", "pong", b"unasked")}
    assert conn.accepted_at is not None
    for frame in conn.messages:
        if frame.message_type in ("ping", "pong"):
            assert conn.connected_at <= frame.timestamp <= conn.accepted_at
    assert (conn.close_code, conn.closed_by) == (1000, "client")


# -- 5. the channel, without a server ----------------------------------------------------------


def scope_with(channel: Any = None, path: str = "/ws") -> dict[str, Any]:
    scope: dict[str, Any] = {"type": "websocket", "path": path, "query_string": b"", "headers": []}
    scope["extensions"] = {"websocket.http.response": {}}
    if channel is not None:
        scope["extensions"][CONTROL_EXTENSION] = channel
    return scope


async def drive(app: Any, scope: dict[str, Any], during: Callable[[], None] = lambda: None) -> None:
    """Run ``app`` for a client that connects, sends "hi", lets ``during`` happen, and leaves."""
    incoming = [{"type": "websocket.connect"}, {"type": "websocket.receive", "text": "hi"}]
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        if incoming:
            return incoming.pop(0)
        during()
        return {"type": "websocket.disconnect", "code": 1000, "reason": ""}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    await app(scope, receive, send)
    assert [m["type"] for m in sent] == ["websocket.accept", "websocket.send"]


async def test_the_middleware_attaches_to_the_channel() -> None:
    channel = ControlChannel()
    middleware = WSInspectMiddleware(echo_app)

    def server_side() -> None:
        channel.frame("sent", "ping", b"k1")
        channel.frame("received", "pong", b"k1", 0.004)

    await drive(middleware, scope_with(channel), server_side)
    [conn] = middleware.recorder.connections()
    assert conn.ping_observable is True
    assert frames_of(conn, "text", "ping", "pong") == [
        ("received", "text", "hi"),
        ("sent", "text", "hi"),
        ("sent", "ping", b"k1"),
        ("received", "pong", b"k1"),
    ]
    assert (conn.last_rtt, conn.avg_rtt) == (0.004, 0.004)
    # Once the handler has ended, the tracker is detached: later events go nowhere.
    channel.frame("received", "ping", b"late")
    channel.keepalive_timeout()
    assert middleware.recorder.connections() == [conn]


async def test_events_before_the_attach_are_replayed() -> None:
    channel = ControlChannel()
    for number in range(ControlChannel.EARLY_LIMIT + 3):
        channel.frame("received", "ping", b"%d" % number)
    middleware = WSInspectMiddleware(echo_app)
    await drive(middleware, scope_with(channel))
    [conn] = middleware.recorder.connections()
    early = [f for f in conn.messages if f.message_type == "ping"]
    assert [f.content for f in early] == [b"%d" % n for n in range(ControlChannel.EARLY_LIMIT)]  # the rest dropped
    assert all(f.timestamp >= conn.connected_at for f in early)  # never before the connection began
    assert conn.messages[: len(early)] == early


async def test_two_recorders_on_one_connection() -> None:
    channel = ControlChannel()
    channel.frame("received", "ping", b"early")
    inner = WSInspectMiddleware(echo_app)
    outer = WSInspectMiddleware(inner)
    await drive(outer, scope_with(channel), lambda: channel.frame("sent", "ping", b"during"))
    [seen_outside] = outer.recorder.connections()
    [seen_inside] = inner.recorder.connections()
    assert seen_outside.connection_id != seen_inside.connection_id  # two recorders, two records
    assert frames_of(seen_outside, "ping") == [("received", "ping", b"early"), ("sent", "ping", b"during")]
    # The early event went to the first tracker that attached; both see what follows.
    assert frames_of(seen_inside, "ping") == [("sent", "ping", b"during")]
    assert seen_inside.ping_observable is True


async def test_no_channel_or_a_foreign_object_means_not_observable() -> None:
    for scope in (scope_with(), scope_with(object()), {**scope_with(), "extensions": None}):
        middleware = WSInspectMiddleware(echo_app)
        await drive(middleware, scope)
        [conn] = middleware.recorder.connections()
        assert conn.ping_observable is False
        assert frames_of(conn, "ping", "pong") == []


async def test_an_excluded_path_leaves_the_channel_alone() -> None:
    channel = ControlChannel()
    middleware = WSInspectMiddleware(echo_app, WSInspectConfig(exclude_paths=("^/health",)))
    await drive(middleware, scope_with(channel, "/health"), lambda: channel.frame("sent", "ping", b"x"))
    channel.keepalive_timeout()
    assert middleware.recorder.connections() == []


async def test_a_keepalive_timeout_through_the_channel() -> None:
    channel = ControlChannel()
    middleware = WSInspectMiddleware(echo_app)

    def server_side() -> None:
        channel.frame("sent", "ping", b"lost")
        channel.keepalive_timeout()

    await drive(middleware, scope_with(channel), server_side)
    [conn] = middleware.recorder.connections()
    assert (conn.state, conn.closed_by, conn.close_code, conn.close_reason) == (
        "closed",
        "server",
        1011,
        "keepalive ping timeout",
    )
    # The disconnect the app then received did not add a close of its own.
    assert [(f.direction, f.message_type) for f in conn.messages][-2:] == [("sent", "ping"), ("sent", "close")]


async def test_a_failure_in_control_tracking_reaches_neither_server_nor_app(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    def broken(self: ConnectionTracker, *args: Any) -> None:
        raise RuntimeError("tracker bug")

    monkeypatch.setattr(ConnectionTracker, "control_frame", broken)
    channel = ControlChannel()
    middleware = WSInspectMiddleware(echo_app)
    with caplog.at_level(logging.DEBUG, logger="wsinspect"):
        await drive(middleware, scope_with(channel), lambda: channel.frame("sent", "ping", b"x"))  # no raise
    assert "failed to record" in caplog.text
    [conn] = middleware.recorder.connections()
    assert frames_of(conn, "text") == [("received", "text", "hi"), ("sent", "text", "hi")]


async def test_a_failure_to_attach_reaches_neither_server_nor_app(monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(self: ConnectionTracker, now: float) -> None:
        raise RuntimeError("cannot attach")

    monkeypatch.setattr(ConnectionTracker, "control_observable", broken)
    channel = ControlChannel()
    middleware = WSInspectMiddleware(echo_app)
    # The app runs as usual (drive checks what it sent); the guard stopped recording this connection.
    await drive(middleware, scope_with(channel), lambda: channel.frame("sent", "ping", b"x"))
    channel.frame("sent", "ping", b"y")
    [conn] = middleware.recorder.connections()
    assert (conn.ping_observable, conn.messages) == (False, [])


# -- 6. imports --------------------------------------------------------------------------------


def test_an_old_uvicorn_is_refused_with_the_minimum_version(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(uvicorn, "__version__", "0.45.2")
    monkeypatch.delitem(sys.modules, "wsinspect.uvicorn")
    with pytest.raises(ImportError, match=r"needs uvicorn 0\.46\.0 or newer .*found uvicorn 0\.45\.2"):
        importlib.import_module("wsinspect.uvicorn")


def test_without_uvicorn_the_import_says_what_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "uvicorn", None)
    monkeypatch.delitem(sys.modules, "wsinspect.uvicorn")
    with pytest.raises(ImportError, match=r"needs uvicorn 0\.46\.0 or newer: pip install 'uvicorn>=0\.46\.0'"):
        importlib.import_module("wsinspect.uvicorn")


def test_the_app_side_never_imports_uvicorn() -> None:
    script = (
        "import sys; sys.modules['uvicorn'] = None\n"
        "import wsinspect, wsinspect.capture.middleware, wsinspect.litestar\n"
        "from wsinspect.capture.middleware import ControlChannel\n"
        "print('ok')\n"
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=False)
    assert result.stdout.strip() == "ok", result.stderr
