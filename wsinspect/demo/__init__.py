"""``wsinspect demo``: a Litestar app using the plugin, served by uvicorn, with simulated clients.

It is also an example of how to use wsinspect: the app (:mod:`.app`) is an ordinary Litestar app
with ``plugins=[WSInspectPlugin(...)]``, and uvicorn runs with ``ws=WebSocketProtocol`` so pings
and pongs show too. The app, its server and its clients (:mod:`.clients`) run in one background
thread with their own event loop; the inspector runs in the foreground. Quitting the inspector
stops them all.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import threading
from pathlib import Path

import uvicorn

from ..uvicorn import WebSocketProtocol
from .app import demo_app
from .clients import (
    admin_client,
    chat_client,
    echo_client,
    export_client,
    forever,
    graphql_client,
    jobs_client,
    msgpack_ticker_client,
    reports_client,
    rpc_client,
    search_client,
    socketio_client,
    ticker_client,
    upload_client,
)

__all__ = ("DemoTraffic", "demo_app")


class DemoTraffic:
    """The demo app on a free loopback port, plus its clients, in a background thread."""

    def __init__(self, socket_path: Path) -> None:
        self.socket_path = socket_path
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._sock.bind(("127.0.0.1", 0))
        self.port: int = self._sock.getsockname()[1]
        config = uvicorn.Config(
            demo_app(socket_path),
            ws=WebSocketProtocol,
            ws_ping_interval=2.0,
            ws_ping_timeout=5.0,
            lifespan="off",
            log_config=None,  # uvicorn must not write over the inspector's screen
            log_level="critical",
            access_log=False,
            timeout_graceful_shutdown=1,
        )
        self.server = uvicorn.Server(config)
        self._thread = threading.Thread(target=asyncio.run, args=(self._main(),), name="wsinspect-demo", daemon=True)
        self._stopped = threading.Event()

    def start(self) -> None:
        logging.getLogger("wsinspect").addFilter(self._not_the_quit)
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        self.server.should_exit = True
        self._stopped.set()
        self._thread.join(timeout)
        self._sock.close()
        logging.getLogger("wsinspect").removeFilter(self._not_the_quit)

    def _not_the_quit(self, record: logging.LogRecord) -> bool:
        """The demo app loses its inspector when the demo quits (the inspector goes first): by design,
        so that line is not printed after the screen is gone."""
        return not record.getMessage().startswith(f"wsinspect: lost the inspector at {self.socket_path} ")

    async def _main(self) -> None:
        serving = asyncio.create_task(self.server.serve(sockets=[self._sock]))
        # The clients retry until the server accepts them, so there is no wait for its start.
        base = f"ws://127.0.0.1:{self.port}"
        clients = [
            asyncio.create_task(forever(lambda: chat_client(base, "alice"), 1.0)),
            asyncio.create_task(forever(lambda: chat_client(base, "bob"), 2.0)),
            asyncio.create_task(forever(lambda: echo_client(base, "search"), 1.5)),
            asyncio.create_task(forever(lambda: ticker_client(base), 1.0)),
            asyncio.create_task(forever(lambda: upload_client(base), 8.0)),
            asyncio.create_task(forever(lambda: jobs_client(base), 6.0)),
            asyncio.create_task(forever(lambda: admin_client(base), 7.0)),
            asyncio.create_task(forever(lambda: reports_client(base), 3.0)),
            asyncio.create_task(forever(lambda: search_client(base), 2.0)),
            asyncio.create_task(forever(lambda: export_client(base), 5.0)),
            asyncio.create_task(forever(lambda: socketio_client(base, "carol"), 2.0)),
            asyncio.create_task(forever(lambda: graphql_client(base), 3.0)),
            asyncio.create_task(forever(lambda: msgpack_ticker_client(base), 2.0)),
            asyncio.create_task(forever(lambda: rpc_client(base), 4.0)),
        ]
        await asyncio.to_thread(self._stopped.wait)
        for client in clients:
            client.cancel()
        await asyncio.gather(*clients, return_exceptions=True)
        self.server.should_exit = True
        await serving
