"""The demo's simulated clients: real ``websockets`` clients, each doing what one kind of user does,
again and again."""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
import socket
from collections.abc import Awaitable, Callable

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, WebSocketException
from websockets.typing import Subprotocol

from .app import PRICE_SUBSCRIPTION, compact_json

__all__ = ("forever",)


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


async def search_client(base: str) -> None:
    """Three queries, each a few seconds after the answer to the one before (the handler waits)."""
    async with connect(f"{base}/ws/search", ping_interval=None) as ws:
        for text in random.sample(["websocket", "inspector", "event loop", "handler", "flow control"], 3):
            await ws.send(json.dumps({"type": "search", "q": text}))
            await ws.recv()  # after the slow index: seconds
            await asyncio.sleep(random.uniform(2.0, 4.0))
        await ws.close()


async def export_client(base: str) -> None:
    """Takes the export's first chunk, then reads nothing for two seconds (a busy browser tab), then
    the rest. Its receive window is kept small so that the pause pushes back on the app at once."""
    host, port = base.removeprefix("ws://").split(":")
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 64 * 1024)  # before connect: the window
    sock.setblocking(False)
    await asyncio.get_running_loop().sock_connect(sock, (host, int(port)))
    async with connect(f"{base}/ws/export", sock=sock, ping_interval=None, compression=None, max_queue=1) as ws:
        await ws.recv()
        await asyncio.sleep(2.0)
        with contextlib.suppress(ConnectionClosed):
            while True:
                await ws.recv()


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
