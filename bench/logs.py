"""Micro: what a ``logging`` call costs the app with ``capture_logs``, in one process.

One logger (level INFO, a NullHandler, not propagating: the app's output path is the same in every
row) is called N times, ``log.info("user %s joined room %d", ...)``. Rows:

- plain logging: before wsinspect installed its hook on ``Logger.callHandlers`` (the baseline);
- outside a connection: the hook installed, the call made where no handler runs (what every
  record of the app pays from then on: a context lookup);
- captured, no inspector: in a connection's handler context, the record becomes a log line kept in
  the connection's buffer;
- captured, inspector listening: the same, also queued for the writer thread (a listener that is
  ``live``);
- encoded by the writer: msgspec encoding of the captured lines, per line (the writer thread's
  share, not on the handler's path).

The limit of the issue that added it: at most 2 µs more per captured record.
"""

from __future__ import annotations

import logging
import time
from collections import deque
from typing import Any

from wsinspect import WSInspectConfig
from wsinspect.capture import middleware
from wsinspect.capture.tracker import ConnectionTracker
from wsinspect.wire import encode

from .shared import Row, median, ws_scope


class _Listener:
    """A listening inspector's queue, with the emitter's checks: its writer drains it every 50 ms,
    so it holds a slice's worth (here the newest 1,000), not every line of the run."""

    live = True

    def __init__(self) -> None:
        self.queued: deque[Any] = deque(maxlen=1_000)
        self.count = 0
        self._idle = False

    def frame_recorded(self, record: Any) -> None:
        queue = self.queued
        if len(queue) >= 10_000:  # the emitter's bound, never reached here
            return
        queue.append(record)
        self.count += 1
        if self._idle:
            self._idle = False

    def connection_changed(self, key: int, connection: Any) -> None:
        pass


def _time_calls(log: logging.Logger, n: int) -> float:
    """µs per call of ``n`` info calls."""
    info = log.info
    start = time.perf_counter()
    for i in range(n):
        info("user %s joined room %d", "alice", i)
    return (time.perf_counter() - start) / n * 1e6


def _in_connection(log: logging.Logger, n: int, listener: Any) -> tuple[float, ConnectionTracker]:
    config = WSInspectConfig()  # the default buffer: the newest 100 lines of the connection
    tracker = ConnectionTracker(ws_scope(), config, time.time(), listener=listener)
    guard = middleware._Guard(tracker, config.log_level)
    token = middleware._current_guard.set(guard)
    try:
        return _time_calls(log, n), tracker
    finally:
        middleware._current_guard.reset(token)


def run(n: int, repeats: int) -> list[Row]:
    """Each repeat measures every row in turn (the hook is swapped in and out), so that the
    machine's drift over the run falls on all of them alike."""
    log = logging.getLogger("bench.logs")
    log.setLevel(logging.INFO)
    log.propagate = False
    log.addHandler(logging.NullHandler())
    call_handlers = logging.Logger.callHandlers
    installed = middleware._hook_installed
    stdlib = middleware._call_handlers or call_handlers
    samples: dict[str, list[float]] = {"plain": [], "outside": [], "kept": [], "queued": [], "encoded": []}
    try:
        middleware._hook_installed = False
        logging.Logger.callHandlers = stdlib  # type: ignore[method-assign]
        middleware.capture_logs()
        hooked = logging.Logger.callHandlers
        _time_calls(log, n)  # warm up: the first run also pays for the interpreter's caches
        for _ in range(repeats):
            logging.Logger.callHandlers = stdlib  # type: ignore[method-assign]
            samples["plain"].append(_time_calls(log, n))
            logging.Logger.callHandlers = hooked  # type: ignore[method-assign]
            samples["outside"].append(_time_calls(log, n))
            samples["kept"].append(_in_connection(log, n, None)[0])
            listener = _Listener()
            seconds, tracker = _in_connection(log, n, listener)
            samples["queued"].append(seconds)
            lines = list(listener.queued)
            start = time.perf_counter()
            encode(lines)
            samples["encoded"].append((time.perf_counter() - start) / len(lines) * 1e6)
            if listener.count != n or tracker.connection.logs_dropped != n - 100:
                raise AssertionError("a record was not captured")
    finally:
        logging.Logger.callHandlers = call_handlers  # type: ignore[method-assign]
        middleware._hook_installed = installed
        log.handlers.clear()
    plain, outside, kept, queued, encoded = (median(values) for values in samples.values())

    def added(name: str) -> str:
        """The median of the differences to plain logging within each repeat (paired: drift cancels)."""
        return f"{median([a - b for a, b in zip(samples[name], samples['plain'], strict=True)]):+.2f} µs"

    return [
        Row("plain logging (baseline)", plain, "µs/call", 1.0),
        Row("installed, outside a connection", outside, "µs/call", outside / plain, added("outside")),
        Row("captured, no inspector", kept, "µs/call", kept / plain, added("kept")),
        Row("captured, inspector listening", queued, "µs/call", queued / plain, f"{added('queued')} (limit +2)"),
        Row("encoded by the writer thread", encoded, "µs/line", None, "off the handler's path"),
    ]
