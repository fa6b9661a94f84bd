"""One pytest process's recording: the connections each test opens, kept in files.

Two ways in. Apps in this process (a test client, a server in a thread): a tap on every recorder
(:mod:`wsinspect.capture.taps`) hands over each connection's tracker as it starts, filed under the
test running then; the test reads its trackers directly, with no wire and no wait. Server
processes the tests start: they stream to the :class:`~.listener.Listener`, and their connections
are filed by the time they opened. Nothing here knows pytest: :mod:`.hooks` drives it.

A test that runs a while has its file written as it goes (every second, less often when the
writes take long): a test killed there (SIGKILL, pytest-timeout's thread method) leaves what was
recorded until about a second before, in the file it would have kept.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Final

from ..capture import taps
from ..model import Connection
from .listener import LINK_LATENCY, Listener
from .names import file_name, run_file_name
from .output import Output, OutputError
from .owners import Owners

if TYPE_CHECKING:
    from ..capture.tracker import ConnectionTracker

__all__ = ("GRACE", "IGNORED", "JOURNAL_AFTER", "Recording", "SingleTest")

# Seconds a test's end waits for its connections to close: a test client's close is often still
# on its way (the app runs in another thread) as the test returns.
GRACE: Final = 0.25
POLL: Final = 0.01
JOURNAL_AFTER: Final = 1.0  # a test running this long has its file written as it goes
JOURNAL_EVERY: Final = 1.0  # at most this often, and at most a tenth of the time
IGNORED: Final = ""  # the owner while a test that opted out runs: what opens then is nobody's


class Recording:
    """The tap (``takes``, ``started``) and each test's connections and file.

    ``listener``: the socket server processes stream to (None: only this process is recorded).
    ``warn``: told, once each, of what went wrong (from any thread).
    """

    def __init__(
        self,
        output: Output,
        listener: Listener | None,
        *,
        worker: str | None = None,
        warn: Callable[[str], None] = lambda message: None,
        journal: bool = True,
    ) -> None:
        self.output = output
        self.listener = listener
        self.worker = worker
        self.owners = Owners()
        self._warn = warn
        self._warned: set[str] = set()
        self.writing = True  # until a file cannot be written: one warning, then no more files
        self._pid = os.getpid()
        # Each owner's connections from this process, as their trackers: appended to by the apps'
        # threads (one step under the GIL), taken by the main thread once the test is over.
        self._local: dict[str | None, list[ConnectionTracker]] = {}
        self._lock = threading.Lock()  # between a test's end and the journal's writes
        self._running: str | None = None  # the test whose file the journal may write
        self._since = 0.0
        self._journaled: set[str] = set()  # files written as their test went
        self._stop = threading.Event()
        self._journal: threading.Thread | None = None
        if journal:
            self._journal = threading.Thread(target=self._keep_journal, name="wsinspect-journal", daemon=True)
            self._journal.start()

    # -- the tap (wsinspect.capture.taps): called on the apps' threads ---------------------------

    def takes(self, socket_path: Path) -> bool:
        return self.listener is not None and socket_path == self.listener.path

    def started(self, tracker: ConnectionTracker) -> None:
        owner = self.owners.current
        if owner == IGNORED:
            return
        trackers = self._local.get(owner)
        if trackers is None:
            trackers = self._local.setdefault(owner, [])
        trackers.append(tracker)

    # -- a test's life ------------------------------------------------------------------------

    def begin(self, nodeid: str, *, ignored: bool = False) -> None:
        self.owners.switch(IGNORED if ignored else nodeid, time.time())
        if not ignored:
            with self._lock:
                self._running, self._since = nodeid, time.monotonic()

    def wider_fixture(self, nodeid: str | None) -> None:
        """A fixture wider than a test starts being set up (``None``) or is done (the test's id)."""
        if self.owners.current != IGNORED:
            self.owners.switch(nodeid, time.time())

    def connections(self, owner: str | None, *, closed: float = 0.0) -> list[Connection]:
        """Snapshots of what ``owner`` opened so far; with ``closed``, after waiting up to that
        many seconds for every one of them to close."""
        deadline = time.monotonic() + closed
        while True:
            connections = self._snapshots(owner)
            if time.monotonic() >= deadline or all(c.state == "closed" for c in connections):
                return connections
            time.sleep(POLL)

    def finish(self, nodeid: str, keep: bool) -> str | None:
        """The test is over: write its file when ``keep`` and it opened connections, else remove
        what the journal wrote of it. Returns the file's path as shown, or None."""
        self.owners.switch(None, time.time())
        with self._lock:
            self._running = None
        name = file_name(nodeid)
        path = None
        try:
            if keep:
                if self.listener is not None and self.listener.linked:
                    time.sleep(LINK_LATENCY)  # what server processes sent before the end, on its way
                connections = self.connections(nodeid, closed=GRACE)
                if connections:
                    path = self._write(name, connections)
            if path is None and name in self._journaled:
                self._attempt(lambda: self.output.remove(name))
            self._journaled.discard(name)  # (kept or removed: a run of it again starts afresh)
        finally:
            self._local.pop(nodeid, None)
            self._forget()
        return path

    def finish_run(self, keep: bool) -> str | None:
        """The run is over: the connections opened outside any test go to their own file when
        ``keep``. Returns its path as shown, or None."""
        self._stop.set()
        if self._journal is not None:
            self._journal.join(timeout=5)
        connections = self.connections(None) if keep else []
        return self._write(run_file_name(self.worker), connections) if connections else None

    def close(self) -> None:
        self._stop.set()
        if self.listener is not None:
            self.listener.close()

    # -- internals ------------------------------------------------------------------------------

    def _snapshots(self, owner: str | None) -> list[Connection]:
        local = [tracker.snapshot() for tracker in list(self._local.get(owner, ()))]
        return local + self._remote(owner)

    def _remote(self, owner: str | None) -> list[Connection]:
        if self.listener is None:
            return []
        owners, pid = self.owners, self._pid
        # This process's own apps streaming here too (made before the tap) are the tap's already.
        return self.listener.connections(lambda c: c.pid != pid and owners.owner_at(c.connected_at) == owner)

    def _forget(self) -> None:
        """Let the listener drop the finished tests' connections, unless the run's own are there."""
        listener = self.listener
        if listener is not None and listener.store.entries:  # (a read of its size: no trip to its thread)
            owners = self.owners
            self._attempt(lambda: listener.forget(lambda c: owners.owner_at(c.connected_at) is None))

    def _write(self, name: str, connections: list[Connection]) -> str | None:
        if not self.writing:
            return None
        written: list[str] = []
        self._attempt(lambda: written.append(self.output.write(name, connections)))
        return written[0] if written else None

    def _attempt(self, step: Callable[[], object]) -> bool:
        try:
            step()
        except OutputError as exc:
            if self.writing:
                self.writing = False
                self._problem(f"{exc}; no more session files are kept in this run, which goes on")
            return False
        except Exception as exc:  # a bug of ours: the run goes on all the same
            self._problem(f"wsinspect failed: {type(exc).__name__}: {exc}; the run goes on")
            return False
        return True

    def _problem(self, message: str) -> None:
        if message not in self._warned:
            self._warned.add(message)
            self._warn(message)

    def _keep_journal(self) -> None:
        """Write the running test's file every second or so, once it has run :data:`JOURNAL_AFTER`."""
        every = JOURNAL_EVERY
        while not self._stop.wait(every):
            nodeid, since = self._running, self._since
            if nodeid is not None and time.monotonic() - since >= JOURNAL_AFTER:
                every = max(JOURNAL_EVERY, 10 * self._journal_once(nodeid))

    def _journal_once(self, nodeid: str) -> float:
        """Write what ``nodeid`` recorded so far; returns the seconds the write took."""
        connections: list[Connection] = []
        if not self._attempt(lambda: connections.extend(self._snapshots(nodeid))) or not connections:
            return 0.0
        name = file_name(nodeid)
        with self._lock:
            # Ended meanwhile: its end writes the file or removes it.
            if self._running != nodeid or not self.writing:
                return 0.0
            began = time.monotonic()
            if self._attempt(lambda: self.output.write(name, connections)):
                self._journaled.add(name)
            return time.monotonic() - began


class SingleTest:
    """A tap for one test alone: the ``wsinspect_connections`` fixture while the plugin is off."""

    def __init__(self) -> None:
        self._trackers: list[ConnectionTracker] = []

    def __enter__(self) -> SingleTest:
        taps.install(self)
        return self

    def __exit__(self, *exc: object) -> None:
        taps.uninstall(self)

    def takes(self, socket_path: Path) -> bool:
        return False

    def started(self, tracker: ConnectionTracker) -> None:
        self._trackers.append(tracker)

    def connections(self, owner: str | None, *, closed: float = 0.0) -> list[Connection]:
        deadline = time.monotonic() + closed
        while True:
            connections = [tracker.snapshot() for tracker in list(self._trackers)]
            if time.monotonic() >= deadline or all(c.state == "closed" for c in connections):
                return connections
            time.sleep(POLL)
