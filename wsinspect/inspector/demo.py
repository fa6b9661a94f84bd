"""``wsinspect demo``: a Litestar app using the plugin, served by uvicorn, with simulated clients.

It is also an example of how to use wsinspect: the app below is an ordinary Litestar app with
``plugins=[WSInspectPlugin(...)]``, and uvicorn runs with ``ws=WebSocketProtocol`` so pings and
pongs show too. The app, its server and its clients run in one background thread with their own
event loop; the inspector runs in the foreground. Quitting the inspector stops them all.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import logging
import random
import re
import secrets
import socket
import struct
import threading
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import msgspec
import uvicorn
from litestar import Litestar, WebSocket, websocket
from litestar.connection import ASGIConnection
from litestar.exceptions import NotAuthorizedException, WebSocketDisconnect
from litestar.handlers import BaseRouteHandler
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import WebSocketException
from websockets.typing import Subprotocol

from ..config import WSInspectConfig
from ..litestar import WSInspectPlugin
from ..uvicorn import WebSocketProtocol

__all__ = ("DemoTraffic", "demo_app")

# -- the app ---------------------------------------------------------------------------------

# What the handlers log shows as ≡ rows of their connections (capture_logs). The demo's loggers
# print nowhere: the inspector shares this terminal.
log = logging.getLogger("demo")


@websocket("/ws/chat")
async def chat(socket: WebSocket[Any, Any, Any]) -> None:
    """JSON chat: auth, welcome, subscribe, then a reply to every message until the client leaves."""
    await socket.accept(subprotocols="chat.v1")
    auth: dict[str, Any] = {}
    try:
        auth = await socket.receive_json()
        log.info("%s joined the chat", auth.get("user", "guest"))
        await socket.send_json({"type": "welcome", "user": auth.get("user", "guest"), "rooms": ["general"]})
        await socket.receive_json()  # subscribe
        await socket.send_json({"type": "subscribed", "channel": "general", "members": 3})
        for seq in itertools.count(1):
            message = await socket.receive_json()
            if message.get("type") == "message":
                log.debug("relaying a message of %s", auth.get("user"))
                await socket.send_json({"type": "message", "from": auth.get("user"), "text": message.get("text")})
            else:
                await socket.send_json({"type": "data", "seq": seq, "price": round(100 + random.random() * 5, 2)})
    except WebSocketDisconnect as exc:
        log.info("%s left (close %s)", auth.get("user", "guest"), exc.code)  # wsinspect shows the close too


@websocket("/ws/echo")
async def echo(socket: WebSocket[Any, Any, Any]) -> None:
    """The most common handler: it never catches the disconnect. When the client closes, Litestar
    raises WebSocketDisconnect out of receive_text; wsinspect shows a clean close, no error."""
    await socket.accept()
    while True:
        await socket.send_text(await socket.receive_text())


@websocket("/ws/ticker")
async def ticker(socket: WebSocket[Any, Any, Any]) -> None:
    """Binary frames: a sequence number and a price, packed little-endian; then a normal close."""
    await socket.accept()
    for seq in range(25):
        await socket.send_bytes(struct.pack("<Id", seq, 100 + random.random()))
        await asyncio.sleep(0.4)
    await socket.close(1000, "market closed")


@websocket("/ws/upload")
async def upload(socket: WebSocket[Any, Any, Any]) -> None:
    """Receives a large message (longer than max_message_size, so it is shown truncated)."""
    await socket.accept()
    data = await socket.receive_text()
    await socket.send_json({"type": "stored", "bytes": len(data.encode())})
    await socket.close(1000, "done")


@websocket("/ws/jobs")
async def jobs(socket: WebSocket[Any, Any, Any]) -> None:
    """A handler that fails: Litestar closes with 4500 and wsinspect keeps the exception and its traceback."""
    await socket.accept()
    job = await socket.receive_json()
    log.info("running job %s", job.get("job"))
    connect_to_queue(job.get("job", "?"))


def connect_to_queue(job: str) -> None:
    log.warning("job queue did not answer; giving up on %s", job)
    raise RuntimeError("job queue unavailable")


def requires_token(connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler) -> None:
    """A guard: it refuses the upgrade (HTTP 403 for the client) without the right token."""
    if connection.query_params.get("token") != "let-me-in":
        raise NotAuthorizedException("a valid token is required")


@websocket("/ws/admin", guards=[requires_token])
async def admin(socket: WebSocket[Any, Any, Any]) -> None:
    """Only reached with the token: the demo's client has none, so requires_token refuses it."""
    await socket.accept()
    await socket.close()


@websocket("/ws/reports")
async def reports(socket: WebSocket[Any, Any, Any]) -> None:
    """A slow handler: each report takes a while (its handler time shows on the message's row). One
    in four is rendered without await, which blocks the event loop (the status line's loop lag)."""
    await socket.accept()
    async for request in socket.iter_json():
        if request.get("n", 0) % 4 == 3:
            log.warning("report %s rendered synchronously: the event loop is blocked", request.get("n"))
            time.sleep(0.15)  # noqa: ASYNC251 - the blocked loop is the point
        else:
            await asyncio.sleep(random.uniform(0.2, 0.6))
        await socket.send_json({"type": "report", "n": request.get("n"), "rows": random.randint(10, 500)})


# Protocols on top of WebSocket, for the inspector's decoders. Each is written by hand, as the
# frames on the wire: no Socket.IO or GraphQL library.


def compact_json(data: Any) -> str:
    return msgspec.json.encode(data).decode()


ENGINE_IO_OPEN = {"upgrades": [], "pingInterval": 25000, "pingTimeout": 20000, "maxPayload": 1_000_000}


@websocket("/ws/socket.io")
async def socketio(socket: WebSocket[Any, Any, Any]) -> None:
    """Socket.IO v5 over Engine.IO v4: the open packet, CONNECT to "/" and to "/admin", chat events
    both ways, an event with an ack id and its ACK, and an Engine.IO ping (2, answered 3) now and then."""
    await socket.accept()
    await socket.send_text("0" + compact_json({"sid": secrets.token_urlsafe(15), **ENGINE_IO_OPEN}))
    chats = itertools.count(1)
    try:
        while True:
            packet = await socket.receive_text()
            if packet in ("40", "40/admin,"):  # CONNECT to a namespace: its own sid
                namespace = packet[2:]
                await socket.send_text(f"40{namespace}" + compact_json({"sid": secrets.token_urlsafe(15)}))
                if namespace:
                    await socket.send_text("42/admin," + compact_json(["stats", {"sockets": 3, "rooms": 1}]))
            elif event := re.fullmatch(r"42(\d*)(\[.*\])", packet, re.DOTALL):  # EVENT, maybe with an ack id
                if event[1]:  # the client wants an answer: an ACK (3) with the same id
                    await socket.send_text(f"43{event[1]}" + compact_json([{"ok": True, "members": 3}]))
                    continue
                if next(chats) % 3 == 2:
                    await socket.send_text("2")  # an Engine.IO ping: the client answers 3
                await socket.send_text("42" + event[2])  # the chat, back to the room
            # "3" (pong) and "41" (DISCONNECT) need no answer
    except WebSocketDisconnect:
        pass


PRICE_SUBSCRIPTION = "subscription OnPrice($symbol: String!) { price(symbol: $symbol) { symbol value } }"


@websocket("/ws/graphql")
async def graphql(socket: WebSocket[Any, Any, Any]) -> None:
    """A GraphQL subscription over graphql-transport-ws: connection_init and connection_ack, ping and
    pong, subscribe, a few next results, complete."""
    requested = "graphql-transport-ws" in socket.scope["subprotocols"]
    await socket.accept(subprotocols="graphql-transport-ws" if requested else None)
    if not requested:
        await socket.close(4406, "Subprotocol not acceptable")  # what graphql-ws answers
        return
    try:
        while True:
            message = await socket.receive_json()
            if message["type"] == "connection_init":
                await socket.send_json({"type": "connection_ack"})
            elif message["type"] == "ping":
                await socket.send_json({"type": "pong"})
            elif message["type"] == "subscribe":
                symbol = message["payload"]["variables"]["symbol"]
                for _ in range(6):
                    await asyncio.sleep(0.5)
                    price = {"symbol": symbol, "value": round(100 + random.random() * 5, 2)}
                    await socket.send_json({"id": message["id"], "type": "next", "payload": {"data": {"price": price}}})
                await socket.send_json({"id": message["id"], "type": "complete"})
    except WebSocketDisconnect:
        pass


@websocket("/ws/ticker.msgpack")
async def msgpack_ticker(socket: WebSocket[Any, Any, Any]) -> None:
    """Binary frames in MessagePack: a map per tick, four a second for three seconds; then a normal close."""
    await socket.accept()
    for seq in range(12):
        tick = {"symbol": "WSI", "seq": seq, "price": round(101 + random.random(), 2), "ts": time.time()}
        await socket.send_bytes(msgspec.msgpack.encode(tick))
        await asyncio.sleep(0.25)
    await socket.close(1000, "market closed")


RPC_METHODS: dict[str, Callable[[Any], Any]] = {
    "add": sum,
    "quote": lambda params: {"symbol": params["symbol"], "bid": 101.2, "ask": 101.3},
}


@websocket("/ws/rpc")
async def rpc(socket: WebSocket[Any, Any, Any]) -> None:
    """JSON-RPC 2.0: each request answered by its id with a result, or an error for an unknown method;
    a notification (no id) gets no answer."""
    await socket.accept()
    try:
        while True:
            request = await socket.receive_json()
            if "id" not in request:
                continue
            await asyncio.sleep(random.uniform(0.01, 0.08))  # some work: the inspector shows the latency
            method = RPC_METHODS.get(request["method"])
            if method is None:
                outcome = {"error": {"code": -32601, "message": "Method not found"}}
            else:
                outcome = {"result": method(request["params"])}
            await socket.send_json({"jsonrpc": "2.0", "id": request["id"], **outcome})
    except WebSocketDisconnect:
        pass


def demo_app(socket_path: Path) -> Litestar:
    plugin = WSInspectPlugin(WSInspectConfig(socket_path=str(socket_path), app_name="demo"))
    handlers = [chat, echo, ticker, upload, jobs, admin, reports, socketio, graphql, msgpack_ticker, rpc]
    log.setLevel(logging.INFO)
    log.propagate = False
    if not log.handlers:
        log.addHandler(logging.NullHandler())
    return Litestar(route_handlers=handlers, plugins=[plugin], logging_config=None)


# -- the simulated clients -------------------------------------------------------------------


async def chat_client(base: str, user: str) -> None:
    async with connect(f"{base}/ws/chat?room=general", subprotocols=["chat.v1"], ping_interval=None) as ws:  # type: ignore[list-item]
        await ws.send(json.dumps({"type": "auth", "user": user, "token": "secret"}))
        await ws.recv()
        await ws.send(json.dumps({"type": "subscribe", "channel": "general"}))
        await ws.recv()
        for turn in range(random.randint(8, 14)):
            if turn % 3 == 0:
                await ws.send(json.dumps({"type": "message", "text": f"hello from {user} #{turn}"}))
            else:
                await ws.send(json.dumps({"type": "poll"}))
            await ws.recv()
            if turn == 5:
                await ws.ping(b"client-ping")
            await asyncio.sleep(0.5)
        await ws.close(4001, f"{user} left the room")


async def echo_client(base: str, page: str) -> None:
    """A browser page: a few messages echoed, then the tab closes (1001 Going Away)."""
    async with connect(f"{base}/ws/echo?page={page}", ping_interval=None) as ws:
        for n in range(random.randint(2, 5)):
            await ws.send(f"{page}: keystroke {n}")
            await ws.recv()
            await asyncio.sleep(0.3)
        await ws.close(1001)


async def ticker_client(base: str) -> None:
    async with connect(f"{base}/ws/ticker", ping_interval=None) as ws:
        async for _ in ws:  # until the server closes
            pass


async def upload_client(base: str) -> None:
    async with connect(f"{base}/ws/upload", ping_interval=None) as ws:
        body = json.dumps({"type": "upload", "body": "é" * 12_000}, ensure_ascii=False)
        await ws.send(body)  # 24 KB of UTF-8, over max_message_size: shown truncated
        await ws.recv()
        await ws.wait_closed()


async def jobs_client(base: str) -> None:
    async with connect(f"{base}/ws/jobs", ping_interval=None) as ws:
        await ws.send(json.dumps({"type": "run", "job": "nightly-report"}))
        await ws.wait_closed()


async def reports_client(base: str) -> None:
    async with connect(f"{base}/ws/reports", ping_interval=None) as ws:
        for n in range(8):
            await ws.send(json.dumps({"type": "report", "n": n}))
            await ws.recv()
        await ws.close()


async def admin_client(base: str) -> None:
    async with connect(f"{base}/ws/admin", ping_interval=None):
        pass  # refused: connect raises


async def socketio_recv(ws: ClientConnection) -> str:
    """The next Socket.IO packet; an Engine.IO ping on the way is answered with a pong."""
    while (packet := await ws.recv()) == "2":
        await ws.send("3")
    return str(packet)


async def socketio_client(base: str, user: str) -> None:
    """A Socket.IO client: the handshake, CONNECT, join a room (an ack id), chat, the /admin namespace."""
    async with connect(f"{base}/ws/socket.io?EIO=4&transport=websocket", ping_interval=None) as ws:
        await ws.recv()  # 0{"sid":…}: Engine.IO's open packet
        await ws.send("40")  # CONNECT to "/"
        await ws.recv()  # 40{"sid":…}: connected
        await ws.send('421["join",{"room":"lobby"}]')  # an event with ack id 1
        await socketio_recv(ws)  # 431[{"ok":true,…}]: its ack
        for n in range(random.randint(4, 7)):
            await ws.send("42" + compact_json(["chat", {"user": user, "text": f"hi #{n}"}]))
            await socketio_recv(ws)
            await asyncio.sleep(0.5)
        await ws.send("40/admin,")  # CONNECT to the /admin namespace
        await socketio_recv(ws)  # 40/admin,{"sid":…}
        await socketio_recv(ws)  # 42/admin,["stats",{…}]
        await ws.send("41")  # DISCONNECT from "/"
        await ws.close()


async def graphql_client(base: str) -> None:
    """Asks for graphql-transport-ws; init, a ping, then one subscription until the server completes it."""
    subprotocols = [Subprotocol("graphql-transport-ws")]
    async with connect(f"{base}/ws/graphql", subprotocols=subprotocols, ping_interval=None) as ws:
        await ws.send(compact_json({"type": "connection_init", "payload": {}}))
        await ws.recv()  # connection_ack
        await ws.send(compact_json({"type": "ping"}))
        await ws.recv()  # pong
        subscribe = {"query": PRICE_SUBSCRIPTION, "variables": {"symbol": "WSI"}}
        await ws.send(compact_json({"id": "1", "type": "subscribe", "payload": subscribe}))
        async for message in ws:  # next, next, …, complete
            if json.loads(message)["type"] == "complete":
                break
        await ws.close()


async def msgpack_ticker_client(base: str) -> None:
    async with connect(f"{base}/ws/ticker.msgpack", ping_interval=None) as ws:
        async for _ in ws:  # {"symbol": "WSI", "seq": 0, …} in MessagePack, until the server closes
            pass


async def rpc_client(base: str) -> None:
    """Three requests (the last one's method does not exist), then a notification."""
    async with connect(f"{base}/ws/rpc", ping_interval=None) as ws:
        calls = [("add", [2, 3]), ("quote", {"symbol": "WSI"}), ("sell", {"symbol": "WSI", "qty": 10})]
        for request_id, (method, params) in enumerate(calls, 1):
            await ws.send(compact_json({"jsonrpc": "2.0", "id": request_id, "method": method, "params": params}))
            await ws.recv()
            await asyncio.sleep(0.4)
        await ws.send(compact_json({"jsonrpc": "2.0", "method": "log", "params": {"text": "done"}}))
        await ws.close()


async def forever(client: Callable[[], Awaitable[None]], pause: float) -> None:
    """Run a client again and again; a refused or broken connection is part of the show."""
    while True:
        with contextlib.suppress(OSError, WebSocketException):
            await client()
        await asyncio.sleep(pause)


# -- running it ------------------------------------------------------------------------------


class DemoTraffic:
    """The demo app on a free loopback port, plus its clients, in a background thread."""

    def __init__(self, socket_path: Path) -> None:
        self.socket_path = socket_path
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._sock.bind(("127.0.0.1", 0))
        self.port: int = self._sock.getsockname()[1]
        config = uvicorn.Config(
            demo_app(socket_path),
            ws=WebSocketProtocol,
            ws_ping_interval=2.0,
            ws_ping_timeout=5.0,
            lifespan="off",
            log_config=None,  # uvicorn must not write over the inspector's screen
            log_level="critical",
            access_log=False,
            timeout_graceful_shutdown=1,
        )
        self.server = uvicorn.Server(config)
        self._thread = threading.Thread(target=asyncio.run, args=(self._main(),), name="wsinspect-demo", daemon=True)
        self._stopped = threading.Event()

    def start(self) -> None:
        logging.getLogger("wsinspect").addFilter(self._not_the_quit)
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        self.server.should_exit = True
        self._stopped.set()
        self._thread.join(timeout)
        self._sock.close()
        logging.getLogger("wsinspect").removeFilter(self._not_the_quit)

    def _not_the_quit(self, record: logging.LogRecord) -> bool:
        """The demo app loses its inspector when the demo quits (the inspector goes first): by design,
        so that line is not printed after the screen is gone."""
        return not record.getMessage().startswith(f"wsinspect: lost the inspector at {self.socket_path} ")

    async def _main(self) -> None:
        serving = asyncio.create_task(self.server.serve(sockets=[self._sock]))
        # The clients retry until the server accepts them, so there is no wait for its start.
        base = f"ws://127.0.0.1:{self.port}"
        clients = [
            asyncio.create_task(forever(lambda: chat_client(base, "alice"), 1.0)),
            asyncio.create_task(forever(lambda: chat_client(base, "bob"), 2.0)),
            asyncio.create_task(forever(lambda: echo_client(base, "search"), 1.5)),
            asyncio.create_task(forever(lambda: ticker_client(base), 1.0)),
            asyncio.create_task(forever(lambda: upload_client(base), 8.0)),
            asyncio.create_task(forever(lambda: jobs_client(base), 6.0)),
            asyncio.create_task(forever(lambda: admin_client(base), 7.0)),
            asyncio.create_task(forever(lambda: reports_client(base), 3.0)),
            asyncio.create_task(forever(lambda: socketio_client(base, "carol"), 2.0)),
            asyncio.create_task(forever(lambda: graphql_client(base), 3.0)),
            asyncio.create_task(forever(lambda: msgpack_ticker_client(base), 2.0)),
            asyncio.create_task(forever(lambda: rpc_client(base), 4.0)),
        ]
        await asyncio.to_thread(self._stopped.wait)
        for client in clients:
            client.cancel()
        await asyncio.gather(*clients, return_exceptions=True)
        self.server.should_exit = True
        await serving
