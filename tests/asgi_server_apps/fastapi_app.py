"""FastAPI wrapped in ``WSInspectMiddleware``: ``asgi_server_apps.fastapi_app:app``.

Its handler ends on the client's close the common FastAPI way: by the ``WebSocketDisconnect``
that ``receive_text()`` raises, left uncaught (no ``from __future__ import annotations`` here:
FastAPI reads the handler's annotations at runtime).
"""

import os

from fastapi import FastAPI, WebSocket, WebSocketDisconnect

from wsinspect import WSInspectConfig, WSInspectMiddleware

from . import FLOOD_MESSAGES, FLOOD_SIZE, close_command, released, with_state

fastapi = FastAPI()


@fastapi.websocket("/ws")
async def fastapi_echo(websocket: WebSocket) -> None:
    scenario = websocket.query_params.get("scenario")
    if scenario == "deny":
        await websocket.close(code=4403, reason="no entry")
        return
    if scenario == "raise-before-accept":
        raise ValueError("refused in fastapi")
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
