"""The app of docs/replay.md's example: ``app`` as recorded in jobs.session.json, ``app_v2`` after a change.

Record it again (three terminals, from this directory)::

    wsinspect record -o jobs.session.json
    uvicorn jobs:app --port 8765
    python jobs.py  # the client: one echo, one job, then Ctrl-C the record

Then ``wsinspect replay jobs.session.json --app jobs:app`` (ok) and ``--app jobs:app_v2`` (differs).
"""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any

from litestar import Litestar, WebSocket, websocket

from wsinspect.litestar import WSInspectPlugin

log = logging.getLogger("jobs")
log.setLevel(logging.INFO)  # its warnings go through whatever the root logger lets through


def make_app(version: int) -> Litestar:
    @websocket("/ws/jobs")
    async def jobs(socket: WebSocket[Any, Any, Any]) -> None:
        """Answers each {"type": "run", "job": …} with the job's state; "bye" closes."""
        await socket.accept()
        while True:
            message = await socket.receive_json()
            if message["type"] == "bye":
                await socket.close(1000)
                return
            state = "queued" if version == 2 else "started"  # version 2 queues jobs first
            await socket.send_json({"type": state, "job": message["job"]})

    @websocket("/ws/echo")
    async def echo(socket: WebSocket[Any, Any, Any]) -> None:
        """Answers one message, then closes; version 2 fails on it."""
        await socket.accept()
        text = await socket.receive_text()
        if version == 2:
            log.warning("echo got %s, about to fail", text)
            raise ValueError("handler broke on " + text)
        await socket.send_text("got " + text)
        await socket.close(1000)

    return Litestar(route_handlers=[jobs, echo], plugins=[WSInspectPlugin()])


app = make_app(1)
app_v2 = make_app(2)


async def client(url: str = "ws://127.0.0.1:8765") -> None:
    from websockets.asyncio.client import connect

    async with connect(f"{url}/ws/echo") as ws:
        await ws.send("x")
        print(await ws.recv())
    async with connect(f"{url}/ws/jobs") as ws:
        await ws.send(json.dumps({"type": "run", "job": "nightly"}))
        print(await ws.recv())
        await ws.send(json.dumps({"type": "bye"}))
        await ws.wait_closed()


if __name__ == "__main__":
    asyncio.run(client())
