"""The app side's link to the inspector: a background thread that streams what trackers record.

The app's ``receive``/``send`` path only appends a ready-made record to a bounded queue (or does
nothing at all while no inspector listens). The writer thread wakes once per time slice while
frames flow, not once per frame: every wake-up moves the GIL between the app's event loop and the
writer, and every write wakes the inspector, so per-frame wake-ups cost more than the frames.
It then encodes the whole slice in one msgspec call and writes it. When the inspector is slow or
stopped, events beyond the bound are dropped and counted, and once it catches up it gets the count
and a replay of everything the app still holds.
"""

from __future__ import annotations

import atexit
import contextlib
import errno
import logging
import os
import socket
import sys
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable, Sequence
from itertools import repeat, starmap
from pathlib import Path
from typing import Final

import msgspec

from ..model import Connection, HandlerState, LoopBlock
from ..paths import untrusted_socket_dir
from ..wire import (
    PROTOCOL_VERSION,
    ConnectionUpdate,
    FrameRecord,
    FramesDropped,
    Held,
    Hello,
    LoopLag,
    WireHandlerState,
    WireLog,
    WireLoopBlock,
    WireMessage,
    encode,
    frames_message,
)
from .failures import stream_failed
from .tracker import HeldRecord

__all__ = ("Emitter", "HeldConnection")

_FRAMES_ONLY: Final = frozenset({tuple})

logger = logging.getLogger("wsinspect")

# Seconds of frames gathered per write while they flow. Every write wakes the inspector for a
# burst of work, which on a small machine takes a core from the app or its clients; fewer, larger
# bursts cost them less (50 ms measured better than 25 ms on 2 cores) and keep p99 latency < 100 ms.
SLICE = 0.05
BATCH_BYTES = 4 * 1024 * 1024  # payload bytes per wire message, well under the inspector's 16 MiB
FRAME_OVERHEAD = 64  # bytes of a frame's other fields, encoded (generously)
MAX_BACKOFF = 1.0
# Seconds between checks, while nothing flows, that the inspector is still there: one that quits
# is noticed, and the next one found and given a replay, within about a second with no traffic.
IDLE_CHECK = 0.5
SEND_BUFFER = 4 * 1024 * 1024
# Behind an SSH forward (ssh -R) every connect succeeds, sshd listening on the server, and the forward
# closes the link as soon as ssh finds no inspector behind it. A link counts as having reached an
# inspector once it lasted this long (seconds); one that ends sooner is retried with backoff, unlogged.
PROVEN_LINK = 2.0

# What the app still holds of a connection, for a replay: its key, metadata, newest frames, log
# lines and loop blocks in time order, then its handler's state (see ConnectionTracker.records).
HeldConnection = tuple[int, Connection, list[HeldRecord]]
# A queued event: a FrameRecord (a tuple of 10: the only tuples queued), or a message that goes as
# it is (a connection's metadata after it changed, a log line, the loop's lag, a handler's state, a
# loop block).
_Event = FrameRecord | ConnectionUpdate | WireLog | LoopLag | WireHandlerState | WireLoopBlock


class Emitter:
    """Streams tracker events to the inspector listening on ``socket_path``.

    ``held`` returns what the app still holds (open connections with their buffered frames, and
    the most recently closed), replayed on every (re)connect, and ``held_blocks`` the loop blocks
    no connection's handler held. ``max_frame_bytes`` is the most payload one frame can carry (the
    config's ``max_message_size``).
    """

    def __init__(
        self,
        socket_path: Path,
        held: Callable[[], list[HeldConnection]],
        *,
        held_blocks: Callable[[], list[WireLoopBlock]] = list,
        app_name: str | None = None,
        queue_limit: int = 10_000,
        max_frame_bytes: int = 10_240,
    ) -> None:
        self.socket_path = socket_path
        self._held = held
        self._held_blocks = held_blocks
        self._app = app_name or _default_app_name()
        self._stream_id = uuid.uuid4().hex
        self._limit = queue_limit
        self._early = queue_limit // 2  # a queue this long wakes the writer before its slice ends
        # Every frame carries at most max_frame_bytes of payload (close reasons included).
        self._frames_per_batch = max(1, BATCH_BYTES // (max_frame_bytes + FRAME_OVERHEAD))
        self._queue: deque[_Event] = deque()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        # For flush(): events the writer took from the queue, and of those, how many reached the
        # socket (or were superseded by a replay). Only the writer and flush() touch them.
        self._flushed = threading.Condition()
        self._taken = 0
        self._written = 0
        # Written by the app's thread, read by the writer: plain attributes suffice under the GIL.
        self.live = False
        self._idle = True  # the writer waits for the first event rather than for a slice's end
        self.dropped = 0
        self.connects = 0
        self.replays = 0  # replays sent: once per connect, and after each overflow
        self._problem: str | None = None  # the last reason not to stream that was logged

    # -- TrackerListener: called on the app's hot path, so as cheap as can be ---------------

    def frame_recorded(self, record: FrameRecord | WireLog) -> None:
        # The tracker calls this only while ``live``.
        queue = self._queue
        size = len(queue)
        if size >= self._limit:
            self.dropped += 1
            return
        queue.append(record)
        if self._idle or size == self._early:
            self._idle = False
            self._wake.set()

    def loop_lag(self, worst: float, mean: float) -> None:
        """The app's event loop ran this late (seconds) over the last second (see LoopLagSampler)."""
        if self.live:
            self.frame_recorded(LoopLag(worst, mean))  # type: ignore[arg-type]

    def handler_state(self, key: int, state: HandlerState | None) -> None:
        """What a handler does has lasted a while, or ended (from the watchdog's thread)."""
        if self.live:
            self.frame_recorded(WireHandlerState(key, state))  # type: ignore[arg-type]

    def loop_blocked(self, key: int | None, block: LoopBlock) -> None:
        """Connection ``key``'s handler (None: none) held the event loop."""
        if self.live:
            self.frame_recorded(WireLoopBlock(key, block))  # type: ignore[arg-type]

    def connection_changed(self, key: int, connection: Connection) -> None:
        if self._thread is None:
            self.start()
        if self.live:
            # A copy, as it is now: the tracker goes on changing its record, and the writer encodes
            # this up to a slice later, when the connection may already be closed. The queued update
            # must say what was true at its place among the frames. (Changes are rare: accept, close,
            # error, round-trip times; never a data message.)
            self.frame_recorded(ConnectionUpdate(key, msgspec.structs.replace(connection)))  # type: ignore[arg-type]

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

    def flush(self, timeout: float) -> bool:
        """Wait until everything queued so far has been written to the inspector's socket.

        True once it has (at once when nothing is pending), False after ``timeout`` seconds, e.g.
        while no inspector reads or listens. Events queued after the call are not waited for, nor
        are frames the bounded queue dropped (their count and a replay follow the next drain).
        """
        with self._flushed:
            target = self._taken + len(self._queue)
            if self._written >= target:
                return True
            self._wake.set()
            return self._flushed.wait_for(lambda: self._written >= target, timeout)

    def _run(self) -> None:
        backoff = 0.05
        while not self._stop.is_set():
            sock = self._connect()
            if sock is None:
                self._stop.wait(backoff)
                backoff = min(backoff * 2, MAX_BACKOFF)
                continue
            opened = time.monotonic()
            try:
                self._stream(sock, opened)
            except OSError as exc:
                # One line per loss (an inspector quit, an SSH forward dropped): the app goes on.
                if self._problem != "lost":
                    self._problem = "lost"
                    closed = isinstance(exc, (BrokenPipeError, ConnectionResetError))
                    logger.warning(
                        "wsinspect: lost the inspector at %s (%s); the app goes on and streams again when one listens",
                        self.socket_path,
                        "it closed the connection" if closed else exc.strerror or exc,
                    )
            except Exception:
                # A failure of ours must not end the stream for the life of the process: a new link
                # (its replay resends what the app holds) after the backoff below.
                stream_failed()
            finally:
                self.live = False
                sock.close()
            if time.monotonic() - opened < PROVEN_LINK:  # a link nobody was behind: as a failed connect
                self._stop.wait(backoff)
                backoff = min(backoff * 2, MAX_BACKOFF)
            else:
                backoff = 0.05

    def _report(self, problem: str) -> None:
        """Log why nothing streams, once until it changes or a connection succeeds."""
        if problem != self._problem:
            self._problem = problem
            logger.warning("wsinspect: %s", problem)

    def _connect(self) -> socket.socket | None:
        untrusted = untrusted_socket_dir(self.socket_path)
        if untrusted is not None:
            self._report(f"not streaming to {self.socket_path}: {untrusted}")
            return None
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        # A larger send buffer absorbs bursts: fewer partial sends that must win back the GIL.
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, SEND_BUFFER)
        try:
            sock.connect(str(self.socket_path))
        except OSError as exc:
            sock.close()
            if exc.errno in (errno.EACCES, errno.EPERM):
                self._report(_denied(self.socket_path))
            return None  # anything else: no inspector listens yet, which is no problem
        if self._problem is not None and self._problem != "lost":  # after a loss: once a link lasts
            self._streaming_again()
        self.connects += 1
        return sock

    def _streaming_again(self) -> None:
        logger.info("wsinspect: streaming to the inspector at %s", self.socket_path)
        self._problem = None

    def _stream(self, sock: socket.socket, opened: float) -> None:
        with self._flushed:  # what is left from a lost connection: the replay below supersedes it
            self._taken += len(self._queue)
            self._queue.clear()
        self.dropped = 0
        # Live first, then the snapshot: an event queued in between is also in the snapshot,
        # and the inspector drops such repeats by their frame index.
        self.live = True
        sock.sendall(encode([Hello(PROTOCOL_VERSION, os.getpid(), self._app, socket.gethostname(), self._stream_id)]))
        self._replay(sock)
        with self._flushed:  # everything taken before, sent or lost with a connection, is now replayed
            self._written = self._taken
            self._flushed.notify_all()
        queue = self._queue
        while True:
            if self._problem is not None and time.monotonic() - opened >= PROVEN_LINK:
                self._streaming_again()
            self._wake.clear()
            if not queue:
                # Nothing flows: sleep until the next event (its append sets the event).
                self._idle = True
                woken = True
                if not queue:
                    woken = self._wake.wait(IDLE_CHECK)
                    self._wake.clear()
                self._idle = False
                if not woken and not queue and not self._stop.is_set() and _peer_closed(sock):
                    # A write would tell, but an idle app has none to make: look instead.
                    raise ConnectionResetError("the inspector closed the connection")
            if self._stop.is_set():
                self._drain(sock)
                return
            # Gather a slice's worth (a long queue or a flush cuts it short), then write it at once.
            self._wake.wait(SLICE)
            self._drain(sock)
            if self.dropped:
                dropped, self.dropped = self.dropped, 0
                sock.sendall(encode([FramesDropped(dropped)]))
                self._replay(sock)  # an update lost with the frames must not leave a stale state

    def _drain(self, sock: socket.socket) -> None:
        queue = self._queue
        while queue:
            with self._flushed:  # taken and counted at once, so that flush() sees each event once
                # Every event queued so far, oldest first, taken in C (no bytecode per event); the
                # app's thread only appends, on the right.
                events = list(starmap(queue.popleft, repeat((), len(queue))))
                self._taken += len(events)
            sock.sendall(encode(self._messages(events)))
            with self._flushed:
                self._written += len(events)
                self._flushed.notify_all()

    def _messages(self, events: list[_Event]) -> list[WireMessage]:
        """The wire messages for ``events``, in their order: runs of frames become FrameBatches small
        enough for the inspector's limit on one message, each connection update its own, and log
        lines and lags go as they are."""
        per_batch = self._frames_per_batch
        messages: list[WireMessage] = []
        start = 0
        # Frames are the only tuples. Most slices hold nothing else, which one pass in C tells.
        kinds = set(map(type, events))
        others = [] if kinds <= _FRAMES_ONLY else [i for i, event in enumerate(events) if type(event) is not tuple]
        for end in [*others, len(events)]:
            for first in range(start, end, per_batch):
                messages.append(frames_message(events[first : min(end, first + per_batch)]))  # type: ignore[arg-type]
            if end < len(events):
                messages.append(events[end])  # type: ignore[arg-type]
            start = end + 1
        return messages

    def _replay(self, sock: socket.socket) -> None:
        events: list[_Event] = []
        held = self._held()
        for key, connection, records in held:
            events.append(ConnectionUpdate(key, connection))
            events.extend(records)
        events.extend(self._held_blocks())
        # Then what the app holds, all of it: a connection the inspector still has open and the app
        # no longer holds ended unseen (its close was lost with an overflow, or in a reconnect's gap).
        sock.sendall(encode([*self._messages(events), Held([key for key, _, _ in held])]))
        self.replays += 1


def _denied(path: Path) -> str:
    """Why connecting to ``path`` was refused, and what to change: mostly a container's user."""
    why = f"cannot connect to the inspector at {path}: permission denied"
    uid = os.getuid()
    for what, place in (("the socket", path), ("its directory", path.parent)):
        try:
            owner = os.stat(place).st_uid
        except OSError:
            continue  # a directory we cannot search hides the socket: ask the directory
        if owner == uid:
            return why
        return (
            f"{why}: {what} belongs to uid {owner} and this process runs as uid {uid} "
            f"(run the app as uid {owner}, e.g. docker run --user {owner})"
        )
    return why


def _peer_closed(sock: socket.socket) -> bool:
    """Whether the inspector closed its end. It never writes to the app, so the socket turns
    readable only when it goes: a peek then finds the end of the stream. Never blocks, reads nothing."""
    try:
        return not sock.recv(1, socket.MSG_PEEK | socket.MSG_DONTWAIT)
    except BlockingIOError:
        return False  # nothing to read: still there


# Commands whose subcommand says what runs: ``litestar run`` serves the app, ``litestar wsinspect``
# does not (the name then stays "litestar").
_SERVING_SUBCOMMANDS: Final = {"litestar": ("run",), "fastapi": ("run", "dev")}


def default_app_name(argv: Sequence[str]) -> str:
    """The name of an app without ``app_name``: what started its process, read from its command line
    (``sys.argv``), which a server's spawned workers share with it. "uvicorn" for ``uvicorn app:app``
    and ``python -m uvicorn app:app`` alike (``-m`` puts the package's ``__main__.py`` first),
    "hypercorn", "granian", "litestar run", "fastapi dev", "app.py" for ``python app.py``; "python"
    when nothing says (``python -c``, an embedded interpreter)."""
    first = argv[0] if argv else ""
    path = Path(first)
    if not path.name or first in ("-c", "-m"):
        return "python"
    name = path.name
    if name == "__main__.py":  # python -m package: the package, dotted as it was named
        packages = [path.parent]
        while (packages[-1].parent / "__init__.py").is_file() and packages[-1].parent != packages[-1]:
            packages.append(packages[-1].parent)
        name = ".".join(package.name for package in reversed(packages)) or "python"
    subcommand = next((word for word in argv[1:] if word in _SERVING_SUBCOMMANDS.get(name, ())), None)
    return f"{name} {subcommand}" if subcommand else name


def _default_app_name() -> str:
    try:
        return default_app_name(list(sys.argv))
    except Exception:  # an odd argv (or file system): the name is not worth a failure
        return "python"
