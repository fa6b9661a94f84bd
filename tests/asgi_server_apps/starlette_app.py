"""Starlette wrapped in ``WSInspectMiddleware``: ``asgi_server_apps.starlette_app:app``."""

import os

from starlette.applications import Starlette
from starlette.routing import WebSocketRoute
from starlette.websockets import WebSocket

from wsinspect import WSInspectConfig, WSInspectMiddleware

from . import FLOOD_MESSAGES, FLOOD_SIZE, close_command, released, with_state


async def starlette_echo(websocket: WebSocket) -> None:
    scenario = websocket.query_params.get("scenario")
    if scenario == "deny":
        await websocket.close(code=4403, reason="no entry")
        return
    if scenario == "raise-before-accept":
        raise ValueError("refused in starlette")
    await websocket.accept()
    if scenario == "flood":
        payload = os.urandom(FLOOD_SIZE)  # incompressible: permessage-deflate would shrink zeros to nothing
        for _ in range(FLOOD_MESSAGES):
            await websocket.send_bytes(payload)
    elif scenario == "close-after-disconnect":
        while (await websocket.receive())["type"] != "websocket.disconnect":
            pass
        await websocket.close(code=4001, reason="late")
        return
    elif scenario in ("return", "late-close"):
        await websocket.receive()
        if scenario == "late-close":
            await released(websocket.url.query)
            await websocket.close(code=4001, reason="late")
        return
    while True:
        message = await websocket.receive()
        if message["type"] == "websocket.disconnect":
            return
        text = message.get("text")
        if text is None:
            await websocket.send_bytes(message["bytes"][::-1])
        elif text == "boom":
            raise ValueError("boom in starlette")
        elif (close := close_command(text)) is not None:
            await websocket.close(code=close[0], reason=close[1])
            return
        else:
            await websocket.send_text(text[::-1])


middleware = WSInspectMiddleware(
    Starlette(routes=[WebSocketRoute("/ws", starlette_echo)]), WSInspectConfig(app_name="starlette")
)
app = with_state(middleware, middleware.recorder)
