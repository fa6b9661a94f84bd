"""The apps ``test_asgi_servers.py`` serves with real servers, each in a process of its own.

One module per framework, so a server process imports only its own: ``litestar_app`` (Litestar
with ``WSInspectPlugin``), ``starlette_app`` and ``fastapi_app`` (each wrapped in
``WSInspectMiddleware``), each with an ``app`` to serve: ``uvicorn
asgi_server_apps.starlette_app:app``, ``hypercorn …``, ``granian --interface asgi …``. They
stream to the inspector at ``WSINSPECT_SOCKET``.

Every app serves ``/ws`` with one protocol, the one ``test_uvicorn_integration.py`` speaks: a
text message is answered with the text reversed, a binary one with the bytes reversed;
``"close:CODE:REASON"`` makes the handler close with that code and reason; ``"boom"`` makes it
raise ``ValueError("boom in FRAMEWORK")``.

The ``scenario`` query parameter changes what a handler does around that (issue 28's cases, what
the client saw where the app cannot know it):

- ``deny``: it closes before the accept (code 4403, reason "no entry");
- ``raise-before-accept``: it raises ``ValueError("refused in FRAMEWORK")`` before the accept;
- ``return``: after the accept and one message, it returns without a close;
- ``late-close``: after the accept and one message, it waits until the test releases it
  (``GET /_release?key=QUERY``, once the client has left), then closes with 4001 "late";
- ``close-after-disconnect``: after the accept it reads until the client's disconnect, then closes
  with 4001 "late" (as a ``finally: await websocket.close()`` does);
- ``flood``: after the accept it sends :data:`FLOOD_MESSAGES` binary messages of
  :data:`FLOOD_SIZE` bytes (a client that does not read makes these sends wait), then echoes.

``busy_app`` is another protocol: a handler that holds the loop, spins or awaits when told
(test_handler_states.py).

Outside the app, a shim answers ``GET /_state`` (and nothing else: every other scope goes
straight to the app): it flushes the app's emitter and returns what its recorder holds, so the
test knows when everything reached the inspector. It never sees a ``websocket`` scope.
"""

from __future__ import annotations

import asyncio
import json
import os
import urllib.parse
from typing import Any

from wsinspect import Recorder

__all__ = ("FLOOD_MESSAGES", "FLOOD_SIZE", "FLUSH_TIMEOUT", "close_command", "released", "with_state")

FLUSH_TIMEOUT = 2.0
FLOOD_MESSAGES = 50
FLOOD_SIZE = 1 << 20  # 50 MiB in all
RELEASE_TIMEOUT = 10.0  # a handler the test never releases still ends

# The keys the test released (see ``released``): a set, read by handlers, added to by the shim.
_released: set[str] = set()


async def released(key: str) -> None:
    """Wait until ``GET /_release?key=KEY`` came (or RELEASE_TIMEOUT passed)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + RELEASE_TIMEOUT
    while key not in _released and loop.time() < deadline:
        await asyncio.sleep(0.01)


def close_command(text: str) -> tuple[int, str] | None:
    """``"close:CODE:REASON"`` → (CODE, REASON)."""
    if not text.startswith("close:"):
        return None
    _, code, reason = text.split(":", 2)
    return int(code), reason


def with_state(app: Any, recorder: Recorder) -> Any:
    """``app``, with ``GET /_state`` answered by the recorder's state once its emitter flushed."""

    async def shim(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "http" and scope["path"] == "/_release":
            _released.add(urllib.parse.parse_qs(scope["query_string"].decode())["key"][0])
            await send({"type": "http.response.start", "status": 204, "headers": []})
            await send({"type": "http.response.body", "body": b""})
            return
        if scope["type"] != "http" or scope["path"] != "/_state":
            await app(scope, receive, send)
            return
        emitter = recorder.emitter
        assert emitter is not None
        connections = recorder.connections()
        state = {
            "pid": os.getpid(),  # the process that serves the app (Hypercorn's and Granian's workers are children)
            "handlers_running": len(recorder._open),
            "connections": len(connections),
            "closed": sum(c.state == "closed" for c in connections),
            "live": emitter.live,
            # Everything queued until now has reached the inspector's socket.
            "flushed": await asyncio.to_thread(emitter.flush, FLUSH_TIMEOUT),
        }
        body = json.dumps(state).encode()
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"application/json")]})
        await send({"type": "http.response.body", "body": body})

    return shim
