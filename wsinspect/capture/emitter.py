"""The app side's link to the inspector: a background thread that streams what trackers record.

The app's ``receive``/``send`` path only appends to a bounded queue (or does nothing at all while
no inspector listens); encoding and writing happen in the thread, in batches. When the inspector
is slow or stopped, events beyond the bound are dropped and counted, and once it catches up it
gets the count and a replay of everything the app still holds.
"""

from __future__ import annotations

import atexit
import contextlib
import logging
import os
import socket
import sys
import threading
from collections import deque
from collections.abc import Callable
from pathlib import Path
from typing import Any

import msgspec

from ..model import Connection, Frame
from ..paths import safe_to_connect
from ..wire import PROTOCOL_VERSION, ConnectionUpdate, FrameAdded, FramesDropped, Hello, WireMessage, encode

__all__ = ("Emitter",)

logger = logging.getLogger("wsinspect")

BATCH = 512  # events encoded per write
MAX_BACKOFF = 1.0
SEND_BUFFER = 4 * 1024 * 1024


class Emitter:
    """Streams tracker events to the inspector listening on ``socket_path``.

    ``held`` returns what the app still holds (open connections with their buffered frames, and
    the most recently closed), replayed on every (re)connect.
    """

    def __init__(
        self,
        socket_path: Path,
        held: Callable[[], list[Connection]],
        *,
        app_name: str | None = None,
        queue_limit: int = 10_000,
    ) -> None:
        self.socket_path = socket_path
        self._held = held
        self._app = app_name or _default_app_name()
        self._limit = queue_limit
        self._queue: deque[tuple[Any, ...]] = deque()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        # Written by the app's thread, read by the writer: plain attributes suffice under the GIL.
        self.live = False
        self.dropped = 0
        self.connects = 0
        self._warned_unsafe = False

    # -- TrackerListener: called on the app's hot path, so as cheap as can be ---------------

    def frame_recorded(self, connection: Connection, frame: Frame, index: int) -> None:
        if self.live:
            self._put((connection, frame, index))

    def connection_changed(self, connection: Connection) -> None:
        if self._thread is None:
            self.start()
        if self.live:
            self._put((connection,))

    def _put(self, event: tuple[Any, ...]) -> None:
        queue = self._queue
        if len(queue) >= self._limit:
            self.dropped += 1
            return
        if not queue:
            self._wake.set()
        queue.append(event)

    # -- the writer thread -------------------------------------------------------------------

    def start(self) -> None:
        with self._lock:
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="wsinspect-emitter", daemon=True)
                self._thread.start()
                atexit.register(self.stop)

    def stop(self, timeout: float = 1.0) -> None:
        """Flush what is queued (for up to ``timeout`` seconds) and end the thread."""
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def _run(self) -> None:
        backoff = 0.05
        while not self._stop.is_set():
            sock = self._connect()
            if sock is None:
                self._stop.wait(backoff)
                backoff = min(backoff * 2, MAX_BACKOFF)
                continue
            backoff = 0.05
            try:
                self._stream(sock)
            except OSError as exc:
                logger.debug("wsinspect: inspector connection lost: %s", exc)
            finally:
                self.live = False
                sock.close()

    def _connect(self) -> socket.socket | None:
        if not safe_to_connect(self.socket_path):
            if not self._warned_unsafe:
                self._warned_unsafe = True
                logger.warning("wsinspect: not streaming to %s: its directory is not private", self.socket_path)
            return None
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        # A larger send buffer absorbs bursts: fewer partial sends that must win back the GIL.
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, SEND_BUFFER)
        try:
            sock.connect(str(self.socket_path))
        except OSError:
            sock.close()
            return None
        self.connects += 1
        return sock

    def _stream(self, sock: socket.socket) -> None:
        self._queue.clear()
        self.dropped = 0
        # Live first, then the snapshot: an event queued in between is also in the snapshot,
        # and the inspector drops such repeats by their frame index.
        self.live = True
        sock.sendall(encode([Hello(PROTOCOL_VERSION, os.getpid(), self._app)]))
        self._replay(sock)
        while True:
            self._wake.wait(0.5)
            self._wake.clear()
            if self._stop.is_set():
                self._drain(sock)
                return
            self._drain(sock)
            if self.dropped:
                dropped, self.dropped = self.dropped, 0
                sock.sendall(encode([FramesDropped(dropped)]))
                self._replay(sock)  # an update lost with the frames must not leave a stale state

    def _drain(self, sock: socket.socket) -> None:
        queue = self._queue
        while queue:
            batch: list[WireMessage] = []
            while queue and len(batch) < BATCH:
                batch.append(_wire(queue.popleft()))
            sock.sendall(encode(batch))

    def _replay(self, sock: socket.socket) -> None:
        batch: list[WireMessage] = []
        for connection in self._held():
            frames = connection.messages
            batch.append(ConnectionUpdate(_meta(connection)))
            first = connection.messages_dropped
            batch.extend(_frame_added(connection, frame, index) for index, frame in enumerate(frames, start=first))
            if len(batch) >= BATCH:
                sock.sendall(encode(batch))
                batch = []
        if batch:
            sock.sendall(encode(batch))


def _wire(event: tuple[Any, ...]) -> WireMessage:
    if len(event) == 1:
        return ConnectionUpdate(_meta(event[0]))
    connection, frame, index = event
    return _frame_added(connection, frame, index)


def _meta(connection: Connection) -> Connection:
    # The live record holds no frames; a snapshot's frames travel as FrameAdded messages.
    if not connection.messages:
        return connection
    return msgspec.structs.replace(connection, messages=[])


def _frame_added(connection: Connection, frame: Frame, index: int) -> FrameAdded:
    return FrameAdded(
        connection.connection_id,
        index,
        frame,
        connection.messages_sent,
        connection.messages_received,
        connection.bytes_sent,
        connection.bytes_received,
    )


def _default_app_name() -> str:
    with contextlib.suppress(IndexError):
        name = Path(sys.argv[0]).name
        if name and name not in ("-c", "-m"):
            return name
    return "python"
