"""End-to-end: a real uvicorn server (in a thread of this process) and a real ``websockets`` client.

Each test runs against uvicorn's ``websockets-sansio`` and ``wsproto`` WebSocket implementations.
The apps speak one small protocol, so the same client script works against every app:

* a text message is answered with the text reversed, a binary one with the bytes reversed;
* ``"close:CODE:REASON"`` makes the app close with that code and reason;
* ``"boom"`` makes the app raise ``ValueError`` (after the accept);
* ``"return"`` makes the handler return without closing;
* the path ``/deny`` is refused by a close before the accept, ``/http-deny`` (raw app only) by an
  HTTP 401 response through the ``websocket.http.response`` extension, ``/private`` (Litestar
  only) by a guard.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import httpx
import pytest
from helpers.servers import WS_IMPLEMENTATIONS, RunningServer, run_server
from helpers.waiting import until
from litestar import Litestar, Request, WebSocket, get, websocket
from litestar.connection import ASGIConnection
from litestar.exceptions import NotAuthorizedException
from litestar.exceptions import WebSocketDisconnect as LitestarWebSocketDisconnect
from litestar.handlers import BaseRouteHandler
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from wsinspect import Connection, Recorder, WSInspectMiddleware
from wsinspect.litestar import WSInspectPlugin

SUBPROTOCOLS = ["chat.v2", "chat.v1"]
CLIENT_TIMEOUT = 10.0  # a safety net against a hung test, never an assertion

# -- the apps ----------------------------------------------------------------------------------


def _command(text: str) -> tuple[int, str] | None:
    """``"close:CODE:REASON"`` → (CODE, REASON)."""
    if not text.startswith("close:"):
        return None
    _, code, reason = text.split(":", 2)
    return int(code), reason


async def raw_echo_app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """A plain ASGI app: the protocol of this module over ``websocket``, a greeting over ``http``."""
    if scope["type"] == "http":
        await receive()
        body = f"plain http ✓ {scope['query_string'].decode()}".encode()
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [(b"content-type", b"text/plain; charset=utf-8"), (b"x-raw", b"1")],
            }
        )
        await send({"type": "http.response.body", "body": body})
        return
    assert scope["type"] == "websocket"
    assert (await receive())["type"] == "websocket.connect"
    if scope["path"] == "/deny":
        await send({"type": "websocket.close", "code": 4003, "reason": ""})
        return
    if scope["path"] == "/http-deny":
        await send({"type": "websocket.http.response.start", "status": 401, "headers": [(b"x-why", b"nope")]})
        await send({"type": "websocket.http.response.body", "body": b"go ", "more_body": True})
        await send({"type": "websocket.http.response.body", "body": b"away"})
        return
    requested = scope.get("subprotocols") or []
    await send({"type": "websocket.accept", "subprotocol": requested[0] if requested else None})
    while True:
        message = await receive()
        if message["type"] == "websocket.disconnect":
            return
        text = message.get("text")
        if text is None:
            await send({"type": "websocket.send", "bytes": message["bytes"][::-1]})
        elif text == "boom":
            raise ValueError("boom after accept")
        elif text == "return":
            return
        elif (close := _command(text)) is not None:
            await send({"type": "websocket.close", "code": close[0], "reason": close[1]})
            return
        else:
            await send({"type": "websocket.send", "text": text[::-1]})


def _refuse(connection: ASGIConnection[Any, Any, Any, Any], handler: BaseRouteHandler) -> None:
    raise NotAuthorizedException("no entry")


def litestar_app(*plugins: WSInspectPlugin) -> Litestar:
    """A fresh Litestar app (fresh handler objects: Litestar caches resolved middleware on them)."""

    @websocket("/chat")
    async def chat(socket: WebSocket[Any, Any, Any]) -> None:
        requested = socket.scope.get("subprotocols") or []
        await socket.accept(subprotocols=requested[0] if requested else None)
        while True:
            message = await socket.receive()
            if message["type"] == "websocket.disconnect":
                return
            text = message.get("text")
            if text is None:
                await socket.send_data(message["bytes"][::-1], mode="binary")
            elif text == "boom":
                raise ValueError("kaboom")
            elif text == "return":
                return
            elif (close := _command(text)) is not None:
                await socket.close(code=close[0], reason=close[1])
                return
            else:
                await socket.send_data(text[::-1])

    @websocket("/private", guards=[_refuse])
    async def private(socket: WebSocket[Any, Any, Any]) -> None:  # pragma: no cover - never reached
        await socket.accept()

    @get("/hello")
    async def hello(request: Request[Any, Any, Any]) -> dict[str, str]:
        return {"hello": request.query_params.get("name", "world"), "mark": "✓"}

    return Litestar(route_handlers=[chat, private, hello], plugins=list(plugins))


def recorded_app(kind: str) -> tuple[Any, Recorder, str]:
    """(ASGI app, its recorder, uvicorn lifespan mode) for the app kinds the tests run."""
    if kind == "plugin":
        plugin = WSInspectPlugin()
        return litestar_app(plugin), plugin.recorder, "on"
    middleware = WSInspectMiddleware(raw_echo_app)
    return middleware, middleware.recorder, "off"


APP_KINDS = ("plugin", "middleware")

# -- fixtures and helpers ----------------------------------------------------------------------


@pytest.fixture(params=WS_IMPLEMENTATIONS)
def ws_impl(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def serve(ws_impl: str) -> Iterator[Callable[..., RunningServer]]:
    """Start a uvicorn server for an app with this test's WebSocket implementation."""
    with contextlib.ExitStack() as stack:

        def start(app: Any, *, lifespan: str = "off") -> RunningServer:
            return stack.enter_context(run_server(app, ws=ws_impl, lifespan=lifespan))

        yield start


def client(url: str, **kwargs: Any) -> Any:
    return connect(url, proxy=None, open_timeout=CLIENT_TIMEOUT, close_timeout=CLIENT_TIMEOUT, **kwargs)


async def recorded(server: RunningServer, recorder: Recorder, count: int) -> list[Connection]:
    """Wait until ``recorder`` holds exactly ``count`` connections, all closed; return them."""
    return await until(
        lambda: server.call(recorder.connections),
        lambda connections: len(connections) == count and all(c.state == "closed" for c in connections),
        what=f"{count} closed connection(s)",
    )


def frame_list(connection: Connection) -> list[tuple[Any, ...]]:
    return [(f.direction, f.message_type, f.content, f.close_code) for f in connection.messages]


def size_of(message: str | bytes) -> int:
    return len(message.encode() if isinstance(message, str) else message)


def reply_to(message: str | bytes) -> str | bytes:
    return message[::-1]


def data_type(message: str | bytes) -> str:
    return "text" if isinstance(message, str) else "binary"


async def converse(
    url: str,
    script: Sequence[str | bytes],
    *,
    subprotocols: Sequence[str] | None = None,
    client_close: tuple[int, str] | None = None,
) -> dict[str, Any]:
    """Run a client script and return everything the client saw, in order.

    Each message is sent and one reply awaited; a message that ends the connection (a command)
    is answered by the close (or the drop), which ends the script.
    """
    async with asyncio.timeout(CLIENT_TIMEOUT):
        try:
            async with client(url, subprotocols=subprotocols) as ws:
                received: list[str | bytes] = []
                ended_by_server = False
                for message in script:
                    await ws.send(message)
                    try:
                        received.append(await ws.recv())
                    except ConnectionClosed:
                        ended_by_server = True
                        break
                if client_close is not None and not ended_by_server:
                    await ws.close(*client_close)
        except InvalidStatus as exc:
            response = exc.response
            return {"rejected": (response.status_code, bytes(response.body or b""))}
    return {
        "rejected": None,
        "subprotocol": ws.subprotocol,
        "received": received,
        "close_code": ws.close_code,
        "close_reason": ws.close_reason,
    }


# -- 1. full lifecycle through Litestar --------------------------------------------------------


async def test_litestar_plugin_records_the_whole_lifecycle(serve: Callable[..., RunningServer]) -> None:
    plugin = WSInspectPlugin()
    server = serve(litestar_app(plugin), lifespan="on")
    outgoing: list[str | bytes] = ["hello", "", "héllo wörld ✓ 😀", b"\x00\x01\xfe\xff", b"", "日本語"]
    transcript: list[tuple[Any, ...]] = []  # the client's view, in the words of the app side

    async with client(
        server.ws_url("/chat?room=42&user=%C3%A9&flag"),
        subprotocols=SUBPROTOCOLS,
        additional_headers={"Authorization": "Bearer secret", "X-Trace": "t-1"},
    ) as ws:
        assert ws.subprotocol == "chat.v2"
        local = ws.local_address
        for message in outgoing:
            await ws.send(message)
            transcript.append(("received", data_type(message), message, None))
            answer = await ws.recv()
            assert answer == reply_to(message)
            transcript.append(("sent", data_type(answer), answer, None))
        await ws.send("close:4001:bye")
        transcript.append(("received", "text", "close:4001:bye", None))
        with pytest.raises(ConnectionClosed):
            await ws.recv()
        assert ws.close_code == 4001
        assert ws.close_reason == "bye"
        transcript.append(("sent", "close", "bye", 4001))

    [conn] = await recorded(server, plugin.recorder, 1)
    assert conn.path == "/chat"
    assert conn.query_string == "room=42&user=%C3%A9&flag"
    assert conn.scheme == "ws"
    assert conn.client == f"{local[0]}:{local[1]}"
    assert conn.requested_subprotocols == SUBPROTOCOLS
    assert conn.subprotocol == "chat.v2"
    headers = {name.lower(): value for name, value in conn.headers}
    assert headers["authorization"] == "[redacted]"
    assert headers["x-trace"] == "t-1"

    assert conn.state == "closed"
    assert conn.closed_by == "server"
    assert conn.close_code == 4001
    assert conn.close_reason == "bye"
    assert conn.error is None
    assert conn.denial_status is None
    assert conn.accepted_at is not None
    assert conn.disconnected_at is not None
    assert conn.connected_at <= conn.accepted_at <= conn.disconnected_at
    stamps = [frame.timestamp for frame in conn.messages]
    assert stamps == sorted(stamps)
    assert conn.accepted_at <= stamps[0]
    assert stamps[-1] <= conn.disconnected_at

    client_sent = [*outgoing, "close:4001:bye"]
    client_got = [reply_to(message) for message in outgoing]
    assert conn.messages_received == len(client_sent)
    assert conn.messages_sent == len(client_got)
    assert conn.bytes_received == sum(size_of(m) for m in client_sent)
    assert conn.bytes_sent == sum(size_of(m) for m in client_got)
    assert conn.messages_dropped == 0

    assert frame_list(conn) == transcript
    data_frames = [f for f in conn.messages if f.message_type != "close"]
    assert [f.size_bytes for f in data_frames] == [size_of(t[2]) for t in transcript if t[1] != "close"]
    assert not any(f.truncated for f in conn.messages)
    assert conn.messages[-1].size_bytes == 2 + len(b"bye")


# -- 2. the client closes ----------------------------------------------------------------------


@pytest.mark.parametrize("kind", APP_KINDS)
@pytest.mark.parametrize(("code", "reason"), [(1000, ""), (4100, "client leaving ✓")])
async def test_client_close_is_recorded(serve: Callable[..., RunningServer], kind: str, code: int, reason: str) -> None:
    app, recorder, lifespan = recorded_app(kind)
    server = serve(app, lifespan=lifespan)

    async with client(server.ws_url("/chat")) as ws:
        await ws.send("abc")
        assert await ws.recv() == "cba"
        await ws.close(code, reason)

    [conn] = await recorded(server, recorder, 1)
    assert conn.state == "closed"
    assert conn.closed_by == "client"
    assert conn.close_code == code
    assert conn.close_reason == reason
    assert conn.error is None
    assert frame_list(conn) == [
        ("received", "text", "abc", None),
        ("sent", "text", "cba", None),
        ("received", "close", reason, code),
    ]
    assert conn.messages[-1].size_bytes == 2 + len(reason.encode())
    assert conn.accepted_at is not None
    assert conn.disconnected_at is not None
    assert conn.accepted_at <= conn.disconnected_at


# -- 3. the client drops the connection --------------------------------------------------------


@pytest.mark.parametrize("kind", APP_KINDS)
async def test_client_drop_is_recorded_as_1006(serve: Callable[..., RunningServer], kind: str) -> None:
    app, recorder, lifespan = recorded_app(kind)
    server = serve(app, lifespan=lifespan)

    async with client(server.ws_url("/chat")) as ws:
        await ws.send(b"\x01\x02")
        assert await ws.recv() == b"\x02\x01"
        ws.transport.abort()  # no close frame: the TCP connection just goes away

    [conn] = await recorded(server, recorder, 1)
    assert conn.state == "closed"
    assert conn.closed_by == "client"
    assert conn.error is None
    # docs/what-is-recorded.md: "the client closed or dropped | client | ... (1006 for a drop)"; RFC 6455 §7.1.5:
    # a connection closed without a close frame has the close code 1006.
    assert conn.close_code == 1006
    assert frame_list(conn) == [
        ("received", "binary", b"\x01\x02", None),
        ("sent", "binary", b"\x02\x01", None),
        ("received", "close", "", 1006),
    ]


@pytest.mark.parametrize("kind", APP_KINDS)
async def test_close_frame_without_a_code_is_recorded_as_1005(serve: Callable[..., RunningServer], kind: str) -> None:
    """The counterpart of the drop: a real close frame that carries no status code is 1005."""
    app, recorder, lifespan = recorded_app(kind)
    server = serve(app, lifespan=lifespan)

    async with client(server.ws_url("/chat")) as ws:
        await ws.send("abc")
        assert await ws.recv() == "cba"
        # ws.close() always sends a code; send an empty close frame through the sans-I/O protocol.
        ws.protocol.send_close()
        ws.transport.write(b"".join(ws.protocol.data_to_send()))
        await ws.wait_closed()

    [conn] = await recorded(server, recorder, 1)
    assert conn.state == "closed"
    assert conn.closed_by == "client"
    assert (conn.close_code, conn.close_reason) == (1005, "")
    assert frame_list(conn)[-1] == ("received", "close", "", 1005)


# -- 4. many connections at once ---------------------------------------------------------------


@pytest.mark.parametrize("kind", APP_KINDS)
async def test_concurrent_connections_are_recorded_apart(serve: Callable[..., RunningServer], kind: str) -> None:
    app, recorder, lifespan = recorded_app(kind)
    server = serve(app, lifespan=lifespan)
    clients = 20
    all_connected = asyncio.Event()
    connected = 0

    async def run_client(index: int) -> None:
        nonlocal connected
        ws: ClientConnection
        async with client(server.ws_url(f"/chat?client={index}")) as ws:
            connected += 1
            if connected == clients:
                all_connected.set()
            await all_connected.wait()  # every connection is open before any message goes
            for number in range(index + 1):
                message = f"c{index}-m{number}" if number % 2 else f"c{index}-m{number}".encode()
                await ws.send(message)
                assert await ws.recv() == reply_to(message)
            await ws.close(1000, f"done {index}")

    async with asyncio.timeout(CLIENT_TIMEOUT):
        await asyncio.gather(*(run_client(index) for index in range(clients)))

    connections = await recorded(server, recorder, clients)
    assert len({c.connection_id for c in connections}) == clients
    by_client = {c.query_string: c for c in connections}
    assert sorted(by_client) == sorted(f"client={index}" for index in range(clients))
    for index in range(clients):
        conn = by_client[f"client={index}"]
        sent_by_client = [
            f"c{index}-m{number}" if number % 2 else f"c{index}-m{number}".encode() for number in range(index + 1)
        ]
        expected: list[tuple[Any, ...]] = []
        for message in sent_by_client:
            expected.append(("received", data_type(message), message, None))
            expected.append(("sent", data_type(message), reply_to(message), None))
        expected.append(("received", "close", f"done {index}", 1000))
        assert frame_list(conn) == expected, f"client {index}"
        assert conn.messages_received == index + 1
        assert conn.messages_sent == index + 1
        assert conn.bytes_received == sum(size_of(m) for m in sent_by_client)
        assert conn.bytes_sent == conn.bytes_received
        assert conn.closed_by == "client"
        assert conn.close_code == 1000


# -- 5. wsinspect does not change what the client sees -----------------------------------------

# (path, script, subprotocols, client_close)
CONVERSATIONS: list[tuple[str, list[str | bytes], list[str] | None, tuple[int, str] | None]] = [
    (
        "/chat?x=1",
        ["hello", "", "héllo ✓ 😀", b"\x00\xff", b"", "close:4003:custom reason ✓"],
        SUBPROTOCOLS,
        None,
    ),
    ("/chat", ["a", b"b", "close:1000:"], None, None),
    ("/chat", ["abc", b"xyz"], None, (4100, "client leaving")),
    ("/chat", ["abc"], None, (1000, "")),
    ("/chat", ["abc", "boom"], None, None),
    ("/chat", ["abc", "return"], None, None),
    ("/chat", ["no close from either side"], None, None),
    ("/deny", ["never sent"], None, None),
]
RAW_ONLY = [("/http-deny", ["never sent"], None, None)]
LITESTAR_ONLY = [("/private", ["never sent"], None, None), ("/nowhere", ["never sent"], None, None)]


async def transcripts(server: RunningServer, conversations: Sequence[tuple[Any, ...]]) -> list[dict[str, Any]]:
    seen = []
    for path, script, subprotocols, client_close in conversations:
        seen.append(await converse(server.ws_url(path), script, subprotocols=subprotocols, client_close=client_close))
    return seen


async def test_middleware_does_not_change_what_the_client_sees(serve: Callable[..., RunningServer]) -> None:
    conversations = CONVERSATIONS + RAW_ONLY
    plain = await transcripts(serve(raw_echo_app), conversations)
    middleware = WSInspectMiddleware(raw_echo_app)
    server = serve(middleware)
    watched = await transcripts(server, conversations)

    assert watched == plain
    # The runs did exercise what they claim to.
    assert plain[0]["received"][1:3] == ["", "😀 ✓ olléh"]
    assert plain[0]["close_code"] == 4003
    assert plain[0]["close_reason"] == "custom reason ✓"
    assert plain[4]["close_code"] == 1006  # the app raised: no close frame
    assert plain[-2]["rejected"] == (403, b"")
    assert plain[-1]["rejected"] == (401, b"go away")
    # And the middleware recorded every one of them.
    assert len(await recorded(server, middleware.recorder, len(conversations))) == len(conversations)


async def test_litestar_plugin_does_not_change_what_the_client_sees(
    serve: Callable[..., RunningServer],
) -> None:
    conversations = CONVERSATIONS + LITESTAR_ONLY
    plain = await transcripts(serve(litestar_app(), lifespan="on"), conversations)
    plugin = WSInspectPlugin()
    with_plugin = await transcripts(serve(litestar_app(plugin), lifespan="on"), conversations)
    outer = WSInspectMiddleware(litestar_app(WSInspectPlugin()))
    wrapped = await transcripts(serve(outer, lifespan="on"), conversations)

    assert with_plugin == plain
    assert wrapped == plain
    assert plain[0]["subprotocol"] == "chat.v2"
    assert plain[4]["close_code"] == 4500  # Litestar turns the handler's exception into a close
    assert plain[-1]["rejected"] == (403, b"")


# -- 6. a raw ASGI handler that raises after the accept ----------------------------------------


async def test_raw_app_exception_after_accept(serve: Callable[..., RunningServer]) -> None:
    script: list[str | bytes] = ["abc", "boom"]
    plain = await converse(serve(raw_echo_app).ws_url("/chat"), script)
    middleware = WSInspectMiddleware(raw_echo_app)
    server = serve(middleware)
    watched = await converse(server.ws_url("/chat"), script)
    assert watched == plain
    assert watched["received"] == ["cba"]

    [conn] = await recorded(server, middleware.recorder, 1)
    assert conn.state == "closed"
    assert conn.error == "ValueError: boom after accept"
    assert conn.closed_by == "server"
    assert conn.close_code is None
    assert conn.disconnected_at is not None
    assert frame_list(conn) == [
        ("received", "text", "abc", None),
        ("sent", "text", "cba", None),
        ("received", "text", "boom", None),
    ]


async def test_litestar_handler_exception_is_recorded_by_the_plugin(
    serve: Callable[..., RunningServer],
) -> None:
    plugin = WSInspectPlugin()
    server = serve(litestar_app(plugin), lifespan="on")
    seen = await converse(server.ws_url("/chat"), ["abc", "boom"])
    assert seen["received"] == ["cba"]
    assert (seen["close_code"], seen["close_reason"]) == (4500, "Internal Server Error")

    [conn] = await recorded(server, plugin.recorder, 1)
    assert conn.state == "closed"
    assert conn.error == "ValueError: kaboom"
    assert conn.closed_by == "server"
    assert (conn.close_code, conn.close_reason) == (4500, "Internal Server Error")
    assert frame_list(conn)[-1] == ("sent", "close", "Internal Server Error", 4500)


# -- 7. an upgrade to a path with no route -----------------------------------------------------


async def test_unrouted_upgrade_is_seen_by_the_middleware_only(serve: Callable[..., RunningServer]) -> None:
    plugin = WSInspectPlugin()
    middleware = WSInspectMiddleware(litestar_app(plugin))
    server = serve(middleware, lifespan="on")

    with pytest.raises(InvalidStatus) as refused:
        async with client(server.ws_url("/nowhere?q=1")):
            pass  # pragma: no cover
    assert refused.value.response.status_code == 403

    [conn] = await recorded(server, middleware.recorder, 1)
    assert conn.path == "/nowhere"
    assert conn.query_string == "q=1"
    assert conn.state == "closed"
    assert conn.closed_by == "server"
    assert conn.denial_status == 403
    assert conn.accepted_at is None
    assert conn.disconnected_at is not None
    # Litestar refuses with a close before the accept: 4000 + 500 and the NotFoundException's detail.
    assert (conn.close_code, conn.close_reason) == (4500, "Not Found")
    assert conn.messages == []

    # The plugin's route middleware never ran for it: the refusal above was sent after the
    # point where it would have started recording.
    assert await server.call(plugin.recorder.connections) == []
    # A routed connection is recorded by both, and is the plugin's only one.
    assert (await converse(server.ws_url("/chat"), ["x"], client_close=(1000, "")))["received"] == ["x"]
    [routed] = await recorded(server, plugin.recorder, 1)
    assert routed.path == "/chat"
    assert [c.path for c in await recorded(server, middleware.recorder, 2)] == ["/nowhere", "/chat"]


# -- 8. plain HTTP passes straight through -----------------------------------------------------


async def _get_all(server: RunningServer, paths: Sequence[str]) -> list[tuple[int, str | None, bytes]]:
    async with httpx.AsyncClient(base_url=server.http_url(), trust_env=False, timeout=CLIENT_TIMEOUT) as http:
        responses = [await http.get(path) for path in paths]
    return [(r.status_code, r.headers.get("content-type"), r.content) for r in responses]


@pytest.mark.parametrize("ws_impl", ["websockets-sansio"])  # HTTP does not touch the WebSocket side
@pytest.mark.parametrize("kind", ["raw", "litestar"])
async def test_http_passes_through(serve: Callable[..., RunningServer], kind: str) -> None:
    if kind == "raw":
        paths = ["/", "/anything?a=1"]
        plain_app: Any = raw_echo_app
        middleware = WSInspectMiddleware(raw_echo_app)
        recorders = [middleware.recorder]
        lifespan = "off"
    else:
        paths = ["/hello", "/hello?name=%C3%A9", "/missing"]
        plain_app = litestar_app()
        plugin = WSInspectPlugin()
        middleware = WSInspectMiddleware(litestar_app(plugin))
        recorders = [middleware.recorder, plugin.recorder]
        lifespan = "on"

    plain = await _get_all(serve(plain_app, lifespan=lifespan), paths)
    server = serve(middleware, lifespan=lifespan)
    watched = await _get_all(server, paths)

    assert watched == plain
    assert plain[0][0] == 200
    for recorder in recorders:
        assert await server.call(recorder.connections) == []


# -- 9. a handler that lets the client's disconnect end it (issue 11, item 1) ------------------


class WebSocketDisconnect(Exception):
    """What Starlette's ``receive_text`` raises on a ``websocket.disconnect`` (Starlette is not installed)."""


async def raw_plain_echo_app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """A raw ASGI echo that, like a Starlette handler, ends by raising on the client's disconnect;
    ``/echo-then-fail`` raises a ValueError instead (a real error, raised after the disconnect)."""
    assert (await receive())["type"] == "websocket.connect"
    await send({"type": "websocket.accept"})
    while True:
        message = await receive()
        if message["type"] == "websocket.disconnect":
            if scope["path"] == "/echo-then-fail":
                raise ValueError("cleanup failed")
            raise WebSocketDisconnect(message.get("code"))
        await send({"type": "websocket.send", "text": message["text"]})


def plain_echo_litestar_app(*plugins: WSInspectPlugin) -> Litestar:
    """The most common Litestar handler, which never catches the disconnect, and one whose cleanup fails."""

    @websocket("/echo")
    async def echo(socket: WebSocket[Any, Any, Any]) -> None:
        await socket.accept()
        while True:
            await socket.send_text(await socket.receive_text())

    @websocket("/echo-then-fail")
    async def echo_then_fail(socket: WebSocket[Any, Any, Any]) -> None:
        await socket.accept()
        try:
            while True:
                await socket.send_text(await socket.receive_text())
        except LitestarWebSocketDisconnect:
            raise ValueError("cleanup failed") from None

    return Litestar(route_handlers=[echo, echo_then_fail], plugins=list(plugins))


def plain_echo_app(kind: str) -> tuple[Any, Recorder, str]:
    """(ASGI app, its recorder, lifespan) with the plain echo handlers above."""
    if kind == "plugin":
        plugin = WSInspectPlugin()
        return plain_echo_litestar_app(plugin), plugin.recorder, "on"
    if kind == "litestar-middleware":  # the whole Litestar app wrapped, no plugin
        middleware = WSInspectMiddleware(plain_echo_litestar_app())
        return middleware, middleware.recorder, "on"
    middleware = WSInspectMiddleware(raw_plain_echo_app)
    return middleware, middleware.recorder, "off"


async def finished(server: RunningServer, recorder: Recorder, count: int) -> list[Connection]:
    """Wait until ``recorder`` holds ``count`` connections, closed and with their handlers ended."""
    _, connections = await until(
        lambda: server.call(lambda: (len(recorder._open), recorder.connections())),
        lambda seen: seen[0] == 0 and len(seen[1]) == count and all(c.state == "closed" for c in seen[1]),
        what=f"{count} finished connection(s)",
    )
    return connections  # type: ignore[no-any-return]


async def echo_and_close(url: str, texts: Sequence[str], code: int) -> None:
    async with asyncio.timeout(CLIENT_TIMEOUT), client(url) as ws:
        for text in texts:
            await ws.send(text)
            assert await ws.recv() == text
        await ws.close(code)


@pytest.mark.parametrize("kind", ["plugin", "litestar-middleware", "raw"])
@pytest.mark.parametrize("code", [1001, 1000])
async def test_a_client_close_that_ends_a_plain_handler_is_no_error(
    serve: Callable[..., RunningServer], kind: str, code: int
) -> None:
    app, recorder, lifespan = plain_echo_app(kind)
    server = serve(app, lifespan=lifespan)
    texts = ["one", "two", "three"]
    await echo_and_close(server.ws_url("/echo"), texts, code)

    [conn] = await finished(server, recorder, 1)
    assert (conn.state, conn.closed_by, conn.close_code, conn.close_reason) == ("closed", "client", code, "")
    assert conn.error is None  # the handler's WebSocketDisconnect (or uvicorn's ClientDisconnected) is the normal end
    expected: list[tuple[Any, ...]] = []
    for text in texts:
        expected += [("received", "text", text, None), ("sent", "text", text, None)]
    assert frame_list(conn) == [*expected, ("received", "close", "", code)]


@pytest.mark.parametrize("kind", ["plugin", "raw"])
async def test_an_error_raised_after_the_client_left_is_still_an_error(
    serve: Callable[..., RunningServer], kind: str
) -> None:
    # (Without the plugin, Litestar's own exception handling hides the ValueError from a wrapping middleware.)
    app, recorder, lifespan = plain_echo_app(kind)
    server = serve(app, lifespan=lifespan)
    await echo_and_close(server.ws_url("/echo-then-fail"), ["one"], 1001)

    [conn] = await finished(server, recorder, 1)
    assert (conn.state, conn.closed_by, conn.close_code) == ("closed", "client", 1001)
    assert conn.error == "ValueError: cleanup failed"
