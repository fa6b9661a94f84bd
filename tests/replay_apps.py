"""The apps ``test_replay.py`` records sessions from (with wsinspect's plugin, under a real uvicorn)
and replays them into (as ``replay_apps:app`` and its variants, loaded by ``module:attribute``).

``make_app(variant)`` builds them all from the same handlers:

- ``"same"`` (``app``): the app the sessions are recorded from (plus the plugin), unchanged;
- ``"changed"`` (``changed_app``): each handler answers a little differently (a regression);
- ``"silent"`` (``silent_app``): the echo accepts and never answers;
- ``broken_startup_app``: its startup hook raises.

What the handlers saw (the disconnect codes, the headers) goes to module-level lists, which the
tests clear and read: the replay runs the app in the test's own process.
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from typing import Any, Literal

import msgspec
from litestar import Litestar, WebSocket, websocket
from litestar.connection import ASGIConnection
from litestar.datastructures import State
from litestar.exceptions import NotAuthorizedException, WebSocketDisconnect
from litestar.handlers import BaseRouteHandler
from litestar.plugins import PluginProtocol

Variant = Literal["same", "changed", "silent"]

# (path, close code) of each websocket.disconnect a handler got, in order.
DISCONNECTS: list[tuple[str, int]] = []
# The Authorization header each /auth connection came with.
AUTHORIZATIONS: list[str | None] = []

GREETING = "hello from startup"


def requires_token(connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler) -> None:
    if connection.query_params.get("token") != "ok":
        raise NotAuthorizedException("no token")


def make_app(
    variant: Variant = "same", *, plugins: Sequence[PluginProtocol] = (), startup_fails: bool = False
) -> Litestar:
    changed = variant == "changed"

    async def until_disconnect(socket: WebSocket[Any, Any, Any]) -> None:
        """Read (and ignore) messages until the client goes; note its close code."""
        try:
            while True:
                await socket.receive_data("text")
        except WebSocketDisconnect as exc:
            DISCONNECTS.append((socket.url.path, exc.code))

    @websocket("/echo")
    async def echo(socket: WebSocket[Any, Any, Any]) -> None:
        """Upper-cases each message; "bye" closes 4001 "bye"."""
        await socket.accept()
        if variant == "silent":
            await until_disconnect(socket)
            return
        try:
            while True:
                text = await socket.receive_text()
                if text == "bye":
                    await socket.close(code=4001, reason="see you" if changed else "bye")
                    return
                await socket.send_text(text.upper() + ("!" if changed else ""))
        except WebSocketDisconnect as exc:
            DISCONNECTS.append(("/echo", exc.code))

    @websocket("/json")
    async def json_handler(socket: WebSocket[Any, Any, Any]) -> None:
        """{"n": n, "echo": message, "ts": now} for the n-th message."""
        await socket.accept()
        n = 0
        try:
            while True:
                text = await socket.receive_text()
                n += 1
                echoed = text[::-1] if changed else text
                await socket.send_text(json.dumps({"n": n, "echo": echoed, "ts": time.time()}))
        except WebSocketDisconnect as exc:
            DISCONNECTS.append(("/json", exc.code))

    @websocket("/binary")
    async def binary(socket: WebSocket[Any, Any, Any]) -> None:
        """A MessagePack map back for each one: what came and how many keys it had."""
        await socket.accept()
        try:
            while True:
                data = msgspec.msgpack.decode(await socket.receive_bytes())
                count = len(data) + (1 if changed else 0)
                await socket.send_bytes(msgspec.msgpack.encode({"got": data, "keys": count}))
        except WebSocketDisconnect as exc:
            DISCONNECTS.append(("/binary", exc.code))

    @websocket("/guarded", guards=[requires_token])
    async def guarded(socket: WebSocket[Any, Any, Any]) -> None:
        await socket.accept()
        await socket.send_text("welcome")
        if changed:
            await socket.close(code=4002, reason="changed")
        else:
            await socket.close()

    @websocket("/raises")
    async def raises(socket: WebSocket[Any, Any, Any]) -> None:
        """Answers its first message, then raises (Litestar closes 4500)."""
        await socket.accept()
        text = await socket.receive_text()
        await socket.send_text(f"got {text}")
        raise ValueError("handler broke")

    @websocket("/away")
    async def away(socket: WebSocket[Any, Any, Any]) -> None:
        """Says hello and listens until the client goes (it closes 1001)."""
        await socket.accept()
        await socket.send_text("hello")
        await until_disconnect(socket)

    @websocket("/query")
    async def query(socket: WebSocket[Any, Any, Any]) -> None:
        """Picks the client's subprotocol and tells what it saw of the query and the subprotocols."""
        offered = list(socket.scope.get("subprotocols") or [])
        await socket.accept(subprotocols=offered[0] if offered else None)
        seen = {"query": dict(socket.query_params), "subprotocols": offered, "changed": changed}
        await socket.send_text(json.dumps(seen))
        await until_disconnect(socket)

    @websocket("/auth")
    async def auth(socket: WebSocket[Any, Any, Any]) -> None:
        """Echoes the Authorization header it got."""
        authorization = socket.headers.get("authorization")
        AUTHORIZATIONS.append(authorization)
        await socket.accept()
        await socket.send_text(f"authorization: {authorization}")
        await until_disconnect(socket)

    @websocket("/state")
    async def state(socket: WebSocket[Any, Any, Any]) -> None:
        """Sends what the startup hook put in the app's state."""
        await socket.accept()
        await socket.send_text(str(socket.app.state.get("greeting", "no greeting")))
        await until_disconnect(socket)

    def startup(app: Litestar) -> None:
        if startup_fails:
            raise RuntimeError("no database")
        app.state.greeting = GREETING

    handlers = [echo, json_handler, binary, guarded, raises, away, query, auth, state]
    return Litestar(route_handlers=handlers, plugins=list(plugins), on_startup=[startup], state=State())


app = make_app()
changed_app = make_app("changed")
silent_app = make_app("silent")
broken_startup_app = make_app(startup_fails=True)
