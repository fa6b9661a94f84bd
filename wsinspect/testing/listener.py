"""The socket that server processes started by tests stream to: wsinspect's own socket server and
store (the inspector's, without a screen), in a thread of their own with an event loop.

The plugin sets ``WSINSPECT_SOCKET`` to it before collection, so a uvicorn, Hypercorn or Granian
that a test or fixture starts inherits it, and its app's plugin or middleware streams here. All
access to the store goes through the loop's thread (:meth:`Listener.call`).
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any, Final, TypeVar

from ..inspector.core.store import Store
from ..inspector.server import InspectorServer
from ..model import Connection

__all__ = ("LINK_LATENCY", "Listener")

T = TypeVar("T")

# A frame reaches the listener within one of the app side's 50 ms slices, and a little more on a
# busy machine: what a test's end waits for, when server processes are linked, before its
# connections are read.
LINK_LATENCY: Final = 0.15
MAX_FRAMES: Final = 200_000  # rows the store keeps, the oldest tenth let go beyond (old tests')
MAX_MESSAGES: Final = 10_000  # frames kept per connection, as `wsinspect record` keeps


class Listener:
    """Binds ``path`` at once (raising :class:`~wsinspect.paths.SocketPathError` or ``OSError``)
    and serves it from a daemon thread until :meth:`close`."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.store = Store(max_messages=MAX_MESSAGES, max_frames=MAX_FRAMES)
        self._server = InspectorServer(self.store, path)
        self._server.bind()
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="wsinspect-pytest", daemon=True)
        self._thread.start()
        try:
            asyncio.run_coroutine_threadsafe(self._server.start(), self._loop).result(timeout=10)
        except BaseException:
            self.close()
            raise

    @property
    def linked(self) -> bool:
        """Whether any server process streams here now."""
        return bool(self._server.producers)

    def call(self, function: Callable[..., T], *args: Any) -> T:
        """``function(*args)`` on the loop's thread, its result here."""

        async def run() -> T:
            return function(*args)

        return asyncio.run_coroutine_threadsafe(run(), self._loop).result(timeout=30)

    def connections(self, keep: Callable[[Connection], bool]) -> list[Connection]:
        """Snapshots of the connections ``keep`` chooses, by their metadata (frames are copied only
        for those)."""

        def chosen() -> list[Connection]:
            store = self.store
            return [store.snapshot(cid) for cid, entry in list(store.entries.items()) if keep(entry.connection)]

        return self.call(chosen)

    def forget(self, keep: Callable[[Connection], bool]) -> None:
        """Let go of every frame and closed connection, unless one ``keep`` chooses is among them."""

        def forget() -> None:
            if not any(keep(entry.connection) for entry in self.store.entries.values()):
                self.store.clear()

        self.call(forget)

    def close(self) -> None:
        """Read what producers already sent (briefly), stop serving and remove the socket."""
        if self._loop.is_running():
            with contextlib.suppress(Exception):
                asyncio.run_coroutine_threadsafe(self._server.close(grace=0.2), self._loop).result(timeout=5)
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(timeout=5)
        self._server.remove_socket()
        if not self._thread.is_alive():
            self._loop.close()
