"""A raw ASGI app whose handler does what it is told, wrapped in ``WSInspectMiddleware``:
``asgi_server_apps.busy_app:app``. It holds, awaits or waits as the issue's "what is each handler
doing" needs (see test_handler_states.py), and answers each command with the seconds it took.

Commands (text): "sleep S" holds the event loop S seconds (time.sleep), "spin S" loops without
awaiting for S seconds, "nap S" awaits asyncio.sleep(S), "flood N" sends N messages of 256 KiB
(to a client that stops reading: its sends wait); anything else comes back as it is.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from wsinspect import WSInspectConfig, WSInspectMiddleware

CHUNK = bytes(256 * 1024)


def spin(seconds: float) -> None:
    """Busy, never awaiting: the loop is held, and the handler's task is working."""
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        pass


async def run(command: str, argument: float) -> None:
    if command == "spin":
        spin(argument)
    elif command == "nap":
        await asyncio.sleep(argument)


async def busy(scope: dict[str, Any], receive: Any, send: Any) -> None:
    await receive()  # websocket.connect
    await send({"type": "websocket.accept"})
    while True:
        message = await receive()
        if message["type"] != "websocket.receive":
            return
        command, _, argument = (message.get("text") or "").partition(" ")
        start = time.monotonic()
        if command == "sleep":
            time.sleep(float(argument))  # noqa: ASYNC251 - the blocked loop is the point (the line its stack names)
        elif command in ("spin", "nap"):
            await run(command, float(argument))
        elif command == "flood":
            for _ in range(int(argument)):
                await send({"type": "websocket.send", "bytes": CHUNK})
        answer = f"{time.monotonic() - start:.6f}" if command in ("sleep", "spin", "nap") else message.get("text")
        await send({"type": "websocket.send", "text": answer})


app = WSInspectMiddleware(busy, WSInspectConfig(app_name="busy"))
