"""The demo's app: an ordinary Litestar app with ``plugins=[WSInspectPlugin(...)]``, whose handlers
show what the inspector shows (JSON chat, binary ticker, a large message, closes with a code and a
reason, a handler that logs and fails, a guard that refuses, a slow handler that now and then
blocks the event loop, a search that waits on a slow index, an export to a client that reads slowly,
Socket.IO, GraphQL, JSON-RPC, MessagePack)."""

from __future__ import annotations

import asyncio
import itertools
import logging
import random
import re
import secrets
import struct
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import msgspec
from litestar import Litestar, WebSocket, websocket
from litestar.connection import ASGIConnection
from litestar.exceptions import NotAuthorizedException, WebSocketDisconnect
from litestar.handlers import BaseRouteHandler

from ..config import WSInspectConfig
from ..litestar import WSInspectPlugin

__all__ = ("demo_app",)


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
    in four is rendered without await, which blocks the event loop: the status line's loop lag, and
    a "loop blocked" row on the connection that names this line."""
    await socket.accept()
    async for request in socket.iter_json():
        if request.get("n", 0) % 4 == 3:
            log.warning("report %s rendered synchronously: the event loop is blocked", request.get("n"))
            time.sleep(0.15)  # noqa: ASYNC251 - the blocked loop is the point
        else:
            await asyncio.sleep(random.uniform(0.2, 0.6))
        await socket.send_json({"type": "report", "n": request.get("n"), "rows": random.randint(10, 500)})


@websocket("/ws/search")
async def search(socket: WebSocket[Any, Any, Any]) -> None:
    """A search on a slow index: each query awaits it for seconds (the connections table shows the
    handler "working", and the lifecycle panel where: query_index), then the handler waits for the
    client's next query ("waiting")."""
    await socket.accept()
    async for request in socket.iter_json():
        hits = await query_index(str(request.get("q", "")))
        await socket.send_json({"type": "hits", "q": request.get("q"), "hits": hits})


async def query_index(text: str) -> int:
    await asyncio.sleep(random.uniform(1.5, 3.0))  # the slow index: not the loop's time, an await
    return len(text) * random.randint(1, 9)


# 8 MiB in chunks, more than a paused client's window and the kernel's buffers take: its sends wait.
EXPORT_CHUNKS, EXPORT_CHUNK = 32, 256 * 1024


@websocket("/ws/export")
async def export(socket: WebSocket[Any, Any, Any]) -> None:
    """An export streamed to a client that stops reading for a while: the sends wait on it (flow
    control), which its rows, its lifecycle panel and the table's sent column show."""
    await socket.accept()
    for _ in range(EXPORT_CHUNKS):
        await socket.send_bytes(random.randbytes(EXPORT_CHUNK))  # random: compression cannot shrink it
    await socket.close(1000, "export done")


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
    handlers = [chat, echo, ticker, upload, jobs, admin, reports, search, export]
    handlers += [socketio, graphql, msgpack_ticker, rpc]
    log.setLevel(logging.INFO)
    log.propagate = False
    if not log.handlers:
        log.addHandler(logging.NullHandler())
    return Litestar(route_handlers=handlers, plugins=[plugin], logging_config=None)
