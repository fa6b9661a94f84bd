"""Real servers for integration tests: uvicorn in a background thread of the test process.

The app (and so any wsinspect recorder in it) lives in this process, so a test can read what was
recorded. The server runs its own event loop in its own thread; :meth:`RunningServer.call` runs a
function on that loop, which is where the recorder is written, so reads never race the writes.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import socket
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, TypeVar

import uvicorn

from .waiting import wait_until

__all__ = ("WS_IMPLEMENTATIONS", "RunningServer", "run_server")

T = TypeVar("T")

# uvicorn's WebSocket implementations that a test can run against (the legacy "websockets" one
# is deprecated upstream).
WS_IMPLEMENTATIONS = ("websockets-sansio", "wsproto")

START_TIMEOUT = 10.0
STOP_TIMEOUT = 15.0


@dataclass(frozen=True)
class RunningServer:
    """A uvicorn server that is accepting connections on ``host:port``."""

    server: uvicorn.Server
    host: str
    port: int
    ws: str
    loop: asyncio.AbstractEventLoop

    def ws_url(self, path: str = "/") -> str:
        return f"ws://{self.host}:{self.port}{path}"

    def http_url(self, path: str = "/") -> str:
        return f"http://{self.host}:{self.port}{path}"

    async def call(self, fn: Callable[[], T]) -> T:
        """Run ``fn()`` on the server's event loop (the thread the app runs in) and return its result."""
        done: concurrent.futures.Future[T] = concurrent.futures.Future()

        def run() -> None:
            try:
                done.set_result(fn())
            except BaseException as exc:  # handed to the caller
                done.set_exception(exc)

        self.loop.call_soon_threadsafe(run)
        return await asyncio.wrap_future(done)


@contextlib.contextmanager
def run_server(
    app: Any,
    *,
    ws: str = "websockets-sansio",
    lifespan: str = "off",
    **config: Any,
) -> Iterator[RunningServer]:
    """Serve ``app`` with uvicorn on a free port of 127.0.0.1 until the block ends.

    ``ws`` picks uvicorn's WebSocket implementation; other keyword arguments go to
    :class:`uvicorn.Config`.
    """
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    host, port = sock.getsockname()[:2]
    settings: dict[str, Any] = {
        "log_level": "warning",
        "access_log": False,
        "timeout_graceful_shutdown": 5,
        **config,
    }
    server = uvicorn.Server(uvicorn.Config(app, ws=ws, lifespan=lifespan, **settings))
    failure: list[BaseException] = []

    def serve() -> None:
        try:
            server.run(sockets=[sock])
        except BaseException as exc:  # SystemExit on a failed startup, too
            failure.append(exc)

    thread = threading.Thread(target=serve, name=f"uvicorn-{ws}-{port}", daemon=True)

    def started() -> bool:
        if not thread.is_alive():
            raise RuntimeError(f"uvicorn ({ws}) stopped before it started: {failure!r}")
        return bool(server.started)

    thread.start()
    try:
        wait_until(started, f"uvicorn ({ws}) to start", patience=START_TIMEOUT)
        loop = server.servers[0].get_loop()
        yield RunningServer(server=server, host=host, port=port, ws=ws, loop=loop)
    finally:
        server.should_exit = True
        thread.join(STOP_TIMEOUT)
        sock.close()
        if thread.is_alive():  # pragma: no cover - a hung shutdown
            server.force_exit = True
            thread.join(STOP_TIMEOUT)
            raise RuntimeError(f"uvicorn ({ws}) did not stop within {STOP_TIMEOUT} s")
