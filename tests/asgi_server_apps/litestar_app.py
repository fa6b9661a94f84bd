"""Litestar with ``WSInspectPlugin``: ``asgi_server_apps.litestar_app:app``."""

import os
from typing import Any

from litestar import Litestar, WebSocket, websocket

from wsinspect import WSInspectConfig
from wsinspect.litestar import WSInspectPlugin

from . import FLOOD_MESSAGES, FLOOD_SIZE, close_command, released, with_state


@websocket("/ws")
async def litestar_echo(socket: WebSocket[Any, Any, Any]) -> None:
    scenario = socket.query_params.get("scenario")
    if scenario == "deny":
        await socket.close(code=4403, reason="no entry")
        return
    if scenario == "raise-before-accept":
        raise ValueError("refused in litestar")
    await socket.accept()
    if scenario == "flood":
        payload = os.urandom(FLOOD_SIZE)  # incompressible: permessage-deflate would shrink zeros to nothing
        for _ in range(FLOOD_MESSAGES):
            await socket.send_data(payload, mode="binary")
    elif scenario == "close-after-disconnect":
        while (await socket.receive())["type"] != "websocket.disconnect":
            pass
        await socket.close(code=4001, reason="late")
        return
    elif scenario in ("return", "late-close"):
        await socket.receive()
        if scenario == "late-close":
            await released(socket.scope["query_string"].decode())
            await socket.close(code=4001, reason="late")
        return
    while True:
        message: Any = await socket.receive()  # a websocket.receive or websocket.disconnect event
        if message["type"] == "websocket.disconnect":
            return
        text = message.get("text")
        if text is None:
            await socket.send_data(message["bytes"][::-1], mode="binary")
        elif text == "boom":
            raise ValueError("boom in litestar")
        elif (close := close_command(text)) is not None:
            await socket.close(code=close[0], reason=close[1])
            return
        else:
            await socket.send_data(text[::-1])


plugin = WSInspectPlugin(WSInspectConfig(app_name="litestar"))
app = with_state(Litestar(route_handlers=[litestar_echo], plugins=[plugin]), plugin.recorder)
