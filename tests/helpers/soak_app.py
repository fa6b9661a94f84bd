"""The soak's app (``uvicorn soak_app:app --app-dir tests/helpers``): a Litestar echo with the plugin,
streaming to the TUI, inside ``WSInspectMiddleware`` streaming the same frames to ``record``.

Two inspectors watch every frame, so the recording is the truth the TUI's counts are held to.
"""

from __future__ import annotations

import os
from typing import Any

from litestar import Litestar, WebSocket, websocket
from litestar.exceptions import WebSocketDisconnect

from wsinspect import WSInspectConfig, WSInspectMiddleware
from wsinspect.litestar import WSInspectPlugin


@websocket("/ws")
async def echo(socket: WebSocket[Any, Any, Any]) -> None:
    await socket.accept()
    try:
        while True:
            await socket.send_text(await socket.receive_text())
    except WebSocketDisconnect:
        pass


litestar_app = Litestar([echo], plugins=[WSInspectPlugin(WSInspectConfig(socket_path=os.environ["SOAK_TUI_SOCKET"]))])
app = WSInspectMiddleware(litestar_app, WSInspectConfig(socket_path=os.environ["SOAK_RECORD_SOCKET"]))
