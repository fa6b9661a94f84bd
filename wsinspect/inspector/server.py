"""The inspector's listening side: an asyncio Unix server feeding every producer into one store."""

from __future__ import annotations

import asyncio
import itertools
import logging
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ..paths import ListeningSocket, bind_listening_socket
from ..wire import Decoder, ProtocolError
from .core.store import Producer, Store

__all__ = ("InspectorServer",)

logger = logging.getLogger("wsinspect")

READ_SIZE = 256 * 1024


class InspectorServer:
    """Listens on ``path`` and applies what producers send to ``store``.

    A producer that sends anything malformed is disconnected with a logged reason; the others
    and the server carry on.
    """

    def __init__(self, store: Store, path: Path) -> None:
        self.store = store
        self.path = path
        self.producers: dict[int, Producer] = {}
        self._keys = itertools.count(1)
        self._server: asyncio.Server | None = None
        self._listening: ListeningSocket | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._reads = 0
        self.busy = 0.0  # CPU seconds spent taking in what producers sent (the screen's are the rest)
        # Called after the store changed (frames, a producer come or gone): a screen looks at the
        # store then, rather than polling it while nothing comes.
        self.on_change: Callable[[], None] | None = None

    def bind(self) -> None:
        """Claim the socket path (raises :class:`wsinspect.paths.SocketPathError`), before any UI starts."""
        if self._listening is None:
            self._listening = bind_listening_socket(self.path)

    async def start(self) -> None:
        """Bind if not done yet, and start serving."""
        self.bind()
        assert self._listening is not None
        # Python 3.13 unlinks a Unix server's path when it closes: the path is the listening
        # socket's to remove (see wsinspect.paths), not asyncio's.
        keep: dict[str, Any] = {"cleanup_socket": False} if sys.version_info >= (3, 13) else {}
        self._server = await asyncio.start_unix_server(self._serve, sock=self._listening.socket.dup(), **keep)

    def remove_socket(self) -> None:
        """Remove the socket file now, for a process that must leave at once (its terminal gone)."""
        if self._listening is not None:
            self._listening.close()

    async def close(self, grace: float = 1.0) -> None:
        """Stop listening, read what producers already sent (up to ``grace`` seconds), then end."""
        if self._listening is not None:
            self._listening.close()  # removes the socket file if it is still ours; the server has a duplicate
        if self._server is None:
            return
        self._server.close()
        # What a producer wrote before the stop is in the socket buffers: read it, so nothing
        # sent before the signal is lost. Stop once a short spell passes with no new data.
        deadline = time.monotonic() + grace
        while self._tasks and time.monotonic() < deadline:
            seen = self._reads
            await asyncio.sleep(0.05)
            if self._reads == seen:
                break
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self._server.wait_closed()
        self._server = None

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        key = next(self._keys)
        decoder = Decoder()
        producer: Producer | None = None
        store = self.store
        try:
            while data := await reader.read(READ_SIZE):
                self._reads += 1
                started = time.thread_time()
                messages = decoder.feed(data)
                hello = None
                if producer is None and decoder.hello is not None:
                    hello = decoder.hello
                    now = time.time()
                    # A new link: its connections opened since ``now`` had every frame recorded
                    # while the inspector listened (the store tells lost frames by it).
                    producer = self.producers[key] = Producer(
                        key, hello.pid, hello.app, since=now, host=hello.host, stream=hello.stream
                    )
                if producer is not None:
                    store.apply(producer, messages, time.time())
                if hello is not None and producer is not None:
                    # After the replay that came with the hello: the rows before it are older.
                    store.add_system_event(time.time(), f"{producer.label} connected")
                self.busy += time.thread_time() - started
                self._changed()
            decoder.close()
        except (ConnectionError, asyncio.CancelledError):
            pass  # the producer went away, or the inspector is closing
        except Exception as exc:  # ProtocolError, or a bug: either way only this producer ends
            who = producer.label if producer else "a producer"
            logger.warning("wsinspect: disconnected %s: %s", who, exc, exc_info=not isinstance(exc, ProtocolError))
            store.add_system_event(time.time(), f"disconnected {who}: {exc}", "error")
        finally:
            self._tasks.discard(task)
            self.producers.pop(key, None)
            writer.close()
            if producer is not None:
                store.add_system_event(time.time(), f"{producer.label} disconnected")
            self._changed()

    def _changed(self) -> None:
        if self.on_change is not None:
            self.on_change()
