"""How late the app's event loop runs, sampled while WebSocket connections are open.

A timer asks to run every :data:`INTERVAL`; the delay past its due time is the loop's lag, the
time some callback held the loop. A blocked loop delays every handler, so this tells a slow
handler (its own time per message) from a loop blocked by someone else. Nothing runs per frame,
and nothing at all while no connection is open.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Final

__all__ = ("INTERVAL", "REPORT_EVERY", "LoopLagSampler")

INTERVAL: Final = 0.1  # seconds between samples: 10 timer callbacks a second, a few µs each
REPORT_EVERY: Final = 1.0  # seconds of samples summed up in one report


class LoopLagSampler:
    """Samples the lag of the loop its first connection runs on; ``report(worst, mean)`` (seconds)
    once a second while connections are open, and once more for the rest when the last closes."""

    def __init__(self, report: Callable[[float, float], None]) -> None:
        self._report = report
        self._loop: asyncio.AbstractEventLoop | None = None
        self._open = 0
        self._handle: asyncio.TimerHandle | None = None
        self._due = 0.0
        self._since = 0.0
        self._worst = 0.0
        self._total = 0.0
        self._count = 0

    def opened(self) -> None:
        """A connection opened, on the running loop (in its handler's task)."""
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # no loop runs (a recorder fed by hand): nothing to sample
            return
        if self._loop is None or (self._handle is None and self._loop is not loop):
            self._loop = loop
            self._open = 0
        if loop is not self._loop:
            return  # another loop in another thread: sampled only while the first one is idle
        self._open += 1
        if self._handle is None:
            self._since = loop.time()
            self._schedule(loop)

    def closed(self) -> None:
        """A connection opened on the sampled loop ended."""
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return
        if loop is self._loop and self._open > 0:
            self._open -= 1

    def _schedule(self, loop: asyncio.AbstractEventLoop) -> None:
        self._due = loop.time() + INTERVAL
        self._handle = loop.call_at(self._due, self._tick)

    def _tick(self) -> None:
        loop = self._loop
        assert loop is not None
        now = loop.time()
        lag = max(0.0, now - self._due)
        self._worst = max(self._worst, lag)
        self._total += lag
        self._count += 1
        if self._open == 0 or now - self._since >= REPORT_EVERY:
            self._report(self._worst, self._total / self._count)
            self._since = now
            self._worst = self._total = 0.0
            self._count = 0
        if self._open > 0:
            self._schedule(loop)
        else:
            self._handle = None
