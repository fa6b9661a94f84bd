"""Starlette wrapped in ``WSInspectMiddleware``: ``asgi_server_apps.starlette_app:app``."""

from starlette.applications import Starlette
from starlette.routing import WebSocketRoute
from starlette.websockets import WebSocket

from wsinspect import WSInspectConfig, WSInspectMiddleware

from . import close_command, with_state


async def starlette_echo(websocket: WebSocket) -> None:
    await websocket.accept()
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
