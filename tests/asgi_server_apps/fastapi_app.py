"""FastAPI wrapped in ``WSInspectMiddleware``: ``asgi_server_apps.fastapi_app:app``.

Its handler ends on the client's close the common FastAPI way: by the ``WebSocketDisconnect``
that ``receive_text()`` raises, left uncaught (no ``from __future__ import annotations`` here:
FastAPI reads the handler's annotations at runtime).
"""

from fastapi import FastAPI, WebSocket, WebSocketDisconnect

from wsinspect import WSInspectConfig, WSInspectMiddleware

from . import close_command, with_state

fastapi = FastAPI()


@fastapi.websocket("/ws")
async def fastapi_echo(websocket: WebSocket) -> None:
    await websocket.accept()
    while True:
        message = await websocket.receive()
        if message["type"] == "websocket.disconnect":
            # What receive_text() and receive_bytes() raise on a disconnect.
            raise WebSocketDisconnect(message.get("code", 1000), message.get("reason"))
        text = message.get("text")
        if text is None:
            await websocket.send_bytes(message["bytes"][::-1])
        elif text == "boom":
            raise ValueError("boom in fastapi")
        elif (close := close_command(text)) is not None:
            await websocket.close(code=close[0], reason=close[1])
            return
        else:
            await websocket.send_text(text[::-1])


middleware = WSInspectMiddleware(fastapi, WSInspectConfig(app_name="fastapi"))
app = with_state(middleware, middleware.recorder)
