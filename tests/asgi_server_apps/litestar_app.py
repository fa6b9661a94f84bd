"""Litestar with ``WSInspectPlugin``: ``asgi_server_apps.litestar_app:app``."""

from typing import Any

from litestar import Litestar, WebSocket, websocket

from wsinspect import WSInspectConfig
from wsinspect.litestar import WSInspectPlugin

from . import close_command, with_state


@websocket("/ws")
async def litestar_echo(socket: WebSocket[Any, Any, Any]) -> None:
    await socket.accept()
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
