"""The app on a "remote host": a Litestar echo app with wsinspect's plugin, served by uvicorn.

Run as a script (``python remote_app.py``): it serves on a free port of 127.0.0.1, prints that port on
stdout, and runs until SIGTERM or SIGINT. It finds the inspector's socket as any app does, from
``WSINSPECT_SOCKET`` or ``XDG_RUNTIME_DIR``. ``REMOTE_APP_NAME`` names it; ``REMOTE_HOST`` is the host
name its hello gives (``socket.gethostname()``), standing for the name of the server it runs on.
"""

from __future__ import annotations

import os
import socket as sockets

if os.environ.get("REMOTE_HOST"):
    _host = os.environ["REMOTE_HOST"]
    sockets.gethostname = lambda: _host  # before wsinspect says hello

import uvicorn
from litestar import Litestar, WebSocket, websocket

from wsinspect import WSInspectConfig
from wsinspect.litestar import WSInspectPlugin


@websocket("/ws/echo")
async def echo(socket: WebSocket) -> None:
    await socket.accept()
    while True:
        message = await socket.receive()
        if message["type"] == "websocket.disconnect":
            return
        if message.get("bytes") is not None:
            await socket.send_bytes(message["bytes"][::-1])
        else:
            await socket.send_text(f"echo:{message['text']}")


# max_messages: the app holds every frame of a test's connection, so that a replay after a lost link
# can restore all of them (the default, 100, would let the oldest go).
plugin = WSInspectPlugin(WSInspectConfig(app_name=os.environ.get("REMOTE_APP_NAME") or None, max_messages=5000))
app = Litestar([echo], plugins=[plugin])


def main() -> None:
    sock = sockets.socket(sockets.AF_INET, sockets.SOCK_STREAM)
    sock.setsockopt(sockets.SOL_SOCKET, sockets.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    sock.listen(128)  # connections wait in the backlog until uvicorn serves
    print(sock.getsockname()[1], flush=True)
    config = uvicorn.Config(app, log_level="warning", access_log=False, lifespan="off", timeout_graceful_shutdown=2)
    uvicorn.Server(config).run(sockets=[sock])


if __name__ == "__main__":
    main()
