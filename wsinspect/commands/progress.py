"""The progress of a long write (``record``, ``recover``) or read (``wsinspect open``) on stderr."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TextIO

from ..formatting import format_size

__all__ = ("CLEAR_LINE", "ProgressLine")

PROGRESS_AFTER = 1.0  # seconds a write or a read runs before its progress shows
PROGRESS_LOG_EVERY = 1.0  # seconds between progress lines when stderr is not a terminal
CLEAR_LINE = "\r\x1b[K"


class ProgressLine:
    """``progress(done, total)`` (:data:`~wsinspect.sessions.Progress`) printed on ``out``.

    Nothing while the work is younger than ``after`` seconds (default ``PROGRESS_AFTER``: most
    files take less); then "wsinspect: writing x.json… 40% (400,000 of 1,000,000 frames)": on a
    terminal one line rewritten in place, else a line of its own at most every
    ``PROGRESS_LOG_EVERY`` seconds, and the last one (100%). ``unit`` is "bytes" (shown as sizes)
    or a noun for the counts. :meth:`close` ends the line on a terminal; call it whether the work
    succeeded or not.
    """

    def __init__(
        self,
        out: TextIO,
        what: str,
        unit: str,
        *,
        after: float | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.out = out
        self.what = what
        self.unit = unit
        self.after = PROGRESS_AFTER if after is None else after
        self.clock = clock
        self.tty = out.isatty()
        self.started = clock()
        self.shown = False  # anything printed yet
        self.last = 0.0  # when the last line was printed

    def text(self, done: int, total: int) -> str:
        percent = done * 100 // total if total else 100
        if self.unit == "bytes":
            counts = f"{format_size(done)} of {format_size(total)}"
        else:
            counts = f"{done:,} of {total:,} {self.unit}"
        return f"wsinspect: {self.what}… {percent}% ({counts})"

    def __call__(self, done: int, total: int) -> None:
        now = self.clock()
        if now - self.started < self.after:
            return
        if self.tty:
            print(f"{CLEAR_LINE}{self.text(done, total)}", end="", file=self.out, flush=True)
        elif not self.shown or now - self.last >= PROGRESS_LOG_EVERY or done == total:
            print(self.text(done, total), file=self.out, flush=True)
        else:
            return
        self.shown, self.last = True, now

    def close(self) -> None:
        if self.tty and self.shown:
            print(file=self.out, flush=True)
        self.shown = False
