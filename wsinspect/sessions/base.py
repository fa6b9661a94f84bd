"""What every session file format shares: the session itself, its errors, progress reports, what
a write produced, and how a file tells its kind.

The formats are read and written by the modules beside this one (``jsonfile`` for session JSON
and HAR, ``sqlite`` for capture databases and journals); none of them imports another, and
:mod:`wsinspect.sessions` chooses between them.
"""

from __future__ import annotations

import base64
import binascii
import os
import stat
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import msgspec

from ..formatting import counted
from ..model import AppLoopBlock, Connection

__all__ = (
    "FORMAT",
    "PROGRESS_EVERY",
    "SQLITE_MAGIC",
    "VERSION",
    "Progress",
    "Session",
    "SessionFileError",
    "Ticker",
    "Written",
    "check_writable",
    "is_sqlite",
    "umask",
    "unbase64",
)

FORMAT = "wsinspect.session"

VERSION = 1

_PLURALS = {"ping": "pings", "pong": "pongs", "close": "closes"}

Progress = Callable[[int, int], None]
"""``progress(done, total)``, called from the thread doing the work: first ``(0, total)``, then
with increasing ``done`` at most ten times a second, last ``(total, total)`` once it is all done.
:func:`write_session` counts frames (``total``: every frame of the session it was given, HAR's
left-out ones included); :func:`read_session` counts bytes of the file (compressed bytes for a
gzip file; ``total``: the file's size)."""

PROGRESS_EVERY = 0.1  # seconds, at least, between two progress calls

SQLITE_MAGIC = b"SQLite format 3\x00"


class Session(msgspec.Struct, kw_only=True):
    format: str = FORMAT
    version: int = VERSION
    exported_at: float
    connections: list[Connection]
    # The event loop's blocks no connection's handler held, oldest first (after the connections:
    # a reader that streams a file reads them last).
    loop_blocks: list[AppLoopBlock] = msgspec.field(default_factory=list)


class SessionFileError(Exception):
    """A session file that cannot be read or written; ``str()`` is one line for the user."""


class Ticker:
    """Calls a :data:`Progress` callback at most every ``PROGRESS_EVERY`` seconds, ``done`` increasing."""

    __slots__ = ("_last", "_progress", "_shown", "total")

    def __init__(self, progress: Progress | None, total: int) -> None:
        self._progress = progress
        self.total = total
        self._shown = 0
        self._last = time.monotonic()
        if progress is not None:
            progress(0, total)

    def __call__(self, done: int) -> None:
        if self._progress is None:
            return
        done = min(done, self.total - 1)  # the total only once it is all done
        now = time.monotonic()
        if done > self._shown and now - self._last >= PROGRESS_EVERY:
            self._shown, self._last = done, now
            self._progress(done, self.total)

    def finish(self) -> None:
        if self._progress is not None and self._shown != self.total:
            self._shown = self.total
            self._progress(self.total, self.total)


@dataclass(frozen=True, slots=True)
class Written:
    """What :func:`write_session` put in a file, and what the file's format had no place for."""

    path: Path
    connections: int
    frames: int  # frames the file holds
    total: int  # frames of the session it was given
    har: bool = False
    # Frames of each kind the format left out, by message type ("ping", "pong", "close"; only
    # HAR leaves any out): ``frames + sum(left_out.values()) == total``.
    left_out: dict[str, int] = field(default_factory=dict)

    @property
    def omitted(self) -> int:
        return self.total - self.frames

    def left_out_text(self) -> str:
        """ "760 pings, pongs and closes have no place in HAR", or "" when nothing was left out."""
        if not self.omitted:
            return ""
        kinds = [_PLURALS.get(kind, kind) if self.omitted != 1 else kind for kind in self.left_out]
        listed = kinds[0] if len(kinds) == 1 else f"{', '.join(kinds[:-1])} and {kinds[-1]}"
        return f"{self.omitted:,} {listed} {'has' if self.omitted == 1 else 'have'} no place in HAR"

    def summary(self) -> str:
        """One line for the user: "wrote 3 connections, 2,193 frames of 2,953 to x.har (760 pings,
        pongs and closes have no place in HAR)", or "wrote 1 connection, 12 frames to s.json"."""
        connections = counted(self.connections, "connection")
        if not self.omitted:
            return f"wrote {connections}, {counted(self.frames, 'frame')} to {self.path}"
        return f"wrote {connections}, {self.frames:,} frames of {self.total:,} to {self.path} ({self.left_out_text()})"


def check_writable(path: Path) -> None:
    """Fail early, before a long recording, when ``path`` could not be written at the end."""
    if path.is_dir():
        raise SessionFileError(f"cannot write {path}: it is a directory")
    if not path.parent.is_dir():
        raise SessionFileError(f"cannot write {path}: directory {path.parent} does not exist")
    if not os.access(path.parent, os.W_OK):
        raise SessionFileError(f"cannot write {path}: directory {path.parent} is not writable")


def umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def is_sqlite(path: Path) -> bool:
    """Whether ``path`` starts as an SQLite database does (a capture, or another database). Only a
    regular file can be one: a pipe is not read from here (what is read would be gone)."""
    try:
        if not stat.S_ISREG(os.stat(path).st_mode):
            return False
        with open(path, "rb") as file:
            return file.read(len(SQLITE_MAGIC)) == SQLITE_MAGIC
    except OSError:
        return False  # read_session says why


def unbase64(text: str) -> bytes:
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise SessionFileError("a binary frame's content is not base64") from None
