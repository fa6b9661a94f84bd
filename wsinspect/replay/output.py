"""The app's own output during a replay: kept per connection instead of printed.

An app that logs (``Litestar(debug=True)`` logs every exception a handler raises, with its
traceback, from its own queue listener thread) would print on stderr while the replay runs, around
and between the lines of the report. While :func:`kept` runs, each log record a logger lets
through (after its level and filters) is kept instead of reaching the handlers, and what is
written to ``sys.stderr`` too. Each goes to the connection whose handler emitted it: the replay
sets a context variable around each connection (:func:`for_connection`) and the app's tasks inherit
it. What comes from anywhere else (the lifespan, a thread of the app's) is the app's own, outside
any connection. Afterwards everything is as it was: nothing is added to any logger, no level
changes.

The report shows a connection's lines under it when it differs, every connection's with ``-v``.
"""

from __future__ import annotations

import contextlib
import logging
import sys
import traceback
from collections import deque
from collections.abc import Callable, Iterator
from contextvars import ContextVar
from typing import Any, TextIO, cast

from ..capture.traces import is_disconnect

__all__ = ("KEPT", "AppOutput", "for_connection", "kept")

KEPT = 500  # entries kept per connection (a log record, or what was written to stderr in a row): the newest
_WRITTEN = 1 << 16  # characters of stderr in one entry, before the next entry starts
_formatter = logging.Formatter()


class AppOutput:
    """What the app logged and wrote to stderr while one connection ran (or outside any)."""

    __slots__ = ("_entries", "_errors", "done", "dropped")

    def __init__(self) -> None:
        # (kind, text): ("log", a record's line and its traceback), ("stderr", what was written)
        self._entries: deque[tuple[str, str]] = deque(maxlen=KEPT)
        self._errors: deque[BaseException] = deque(maxlen=KEPT)  # exceptions logged with their traceback
        self.dropped = 0  # entries let go beyond KEPT
        self.done = False  # its lines were taken: what comes later is the app's own

    def _append(self, kind: str, text: str) -> None:
        if len(self._entries) == KEPT:
            self.dropped += 1
        self._entries.append((kind, text))

    def log(self, record: logging.LogRecord) -> None:
        try:
            message = record.getMessage()
        except Exception as exc:  # the app's msg and args do not format: what they are
            message = f"{record.msg!r} {record.args!r} (did not format: {type(exc).__name__}: {exc})"
        text = f"{record.levelname} {record.name}: {message}"
        if record.exc_info and record.exc_info[1] is not None:
            self._errors.append(record.exc_info[1])
            text += "\n" + _formatter.formatException(record.exc_info)
        elif record.exc_text:
            text += "\n" + record.exc_text
        if record.stack_info:
            text += "\n" + record.stack_info
        self._append("log", text)

    def write(self, text: str) -> None:
        if self._entries and self._entries[-1][0] == "stderr" and len(self._entries[-1][1]) < _WRITTEN:
            self._entries[-1] = ("stderr", self._entries[-1][1] + text)
        else:
            self._append("stderr", text)

    def lines(self) -> list[str]:
        """Its entries as lines: a record's level, logger and message, its traceback indented
        under it; what was written to stderr line by line."""
        lines = [f"({self.dropped} earlier ones not kept)"] if self.dropped else []
        for kind, text in self._entries:
            if kind == "stderr":
                lines += [f"stderr: {line}" for line in text.splitlines() if line.strip()]
            else:
                first, *rest = text.splitlines() or [""]
                lines += [first, *(f"  {line}" for line in rest)]
        return lines

    def traceback(self, error: BaseException | None) -> list[str]:
        """The traceback of what the app raised (not a disconnect), unless a record it logged
        already holds it."""
        if error is None or is_disconnect(error) or any(logged is error for logged in self._errors):
            return []
        return "".join(traceback.format_exception(error)).rstrip("\n").splitlines()

    def close(self) -> None:
        """Its lines were taken: let go of the exceptions, send what comes later elsewhere."""
        self.done = True
        self._errors.clear()


_current: ContextVar[AppOutput | None] = ContextVar("wsinspect_replay_output", default=None)


@contextlib.contextmanager
def for_connection(output: AppOutput) -> Iterator[AppOutput]:
    """Within :func:`kept`: what is logged or written in this context (and the tasks it starts)
    goes to ``output``."""
    token = _current.set(output)
    try:
        yield output
    finally:
        _current.reset(token)


class _Stderr:
    """``sys.stderr`` while the app runs: what is written goes to the output of the context;
    once the replay is over (a handler made meanwhile may still hold it), to the stream."""

    def __init__(self, stream: TextIO, where: Callable[[], AppOutput]) -> None:
        self.stream = stream
        self.where = where
        self.active = True

    def write(self, text: str) -> int:
        if not self.active:
            return self.stream.write(text)
        self.where().write(text)
        return len(text)

    def writelines(self, lines: Any) -> None:
        for line in lines:
            self.write(line)

    def flush(self) -> None:
        if not self.active:
            self.stream.flush()

    def isatty(self) -> bool:
        return False if self.active else self.stream.isatty()  # no colours in what is kept

    def __getattr__(self, name: str) -> Any:
        return getattr(self.stream, name)


@contextlib.contextmanager
def kept() -> Iterator[AppOutput]:
    """For its duration, log records and what is written to ``sys.stderr`` are kept, not
    printed: in the output of the connection that runs (:func:`for_connection`), else in the one
    this yields, the app's own."""
    outside = AppOutput()

    def where() -> AppOutput:
        output = _current.get()
        return outside if output is None or output.done else output

    replaced = logging.Logger.callHandlers
    active = True

    def callHandlers(self: logging.Logger, record: logging.LogRecord) -> None:
        if active:
            where().log(record)
        else:  # another tool hooked it after us: we stay in its chain, and let records through
            replaced(self, record)

    stderr = _Stderr(sys.stderr, where)
    proxy = cast(TextIO, stderr)
    logging.Logger.callHandlers = callHandlers  # type: ignore[method-assign]
    sys.stderr = proxy
    try:
        yield outside
    finally:
        active = stderr.active = False
        if logging.Logger.callHandlers is callHandlers:
            logging.Logger.callHandlers = replaced  # type: ignore[method-assign]
        if sys.stderr is proxy:
            sys.stderr = stderr.stream
