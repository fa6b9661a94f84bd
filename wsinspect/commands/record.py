"""``wsinspect record``: the inspector without a screen. Records until SIGINT or SIGTERM, then saves."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TextIO, cast

from ..formatting import counted
from ..inspector.core.database_writer import DatabaseWriter
from ..inspector.core.store import Store, freeze_long_lived
from ..inspector.server import InspectorServer
from ..model import AppLoopBlock, Connection
from ..sessions import SessionFileError, Written, check_writable, write_session
from ..sessions.sqlite import remove_database
from .progress import CLEAR_LINE, ProgressLine

__all__ = ("is_database_name", "journal_for", "record")

STATUS_EVERY = 0.5  # seconds between status updates on a terminal
LOG_EVERY = 5.0  # and between status lines when stderr is not a terminal
# Ctrl-C, a kill, and a closed terminal or SSH session: each stops the recording and writes the file.
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


def is_database_name(path: Path) -> bool:
    """Whether ``record -o`` writes ``path`` as a capture database (a name ending in .sqlite or .db)."""
    return path.suffix.lower() in (".sqlite", ".db")


def journal_for(output: Path) -> Path:
    """Where ``record -o output`` journals what it captures until it writes ``output``."""
    return output.with_name(f"{output.name}.journal.sqlite")


async def record(
    socket_path: Path,
    output: Path,
    *,
    max_messages: int,
    max_bytes: int | None = None,
    max_age: float | None = None,
    out: TextIO = sys.stderr,
) -> int:
    """Serve producers into a store until a signal, then write ``output``. Raises on a bad socket/file.

    What arrives is written to a capture database at least once a second: ``output`` itself when
    it is one (``is_database_name``), else a journal next to it, removed once ``output`` is written.
    """
    check_writable(output)
    out = cast(TextIO, _Unfailing(out))  # a closed terminal (SIGHUP) must not stop the file being written
    database = output if is_database_name(output) else journal_for(output)
    store = Store(max_messages=max_messages)
    writer = DatabaseWriter(database, store, journal=database != output, max_bytes=max_bytes, max_age=max_age)
    server = InspectorServer(store, socket_path)
    try:
        await server.start()
    except BaseException:
        writer.close()
        remove_database(database)
        raise
    freeze_long_lived()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in STOP_SIGNALS:
        loop.add_signal_handler(signum, stop.set)
    journal = "" if database == output else f" (until then it journals to {database})"
    print(f"wsinspect: recording on {socket_path}; Ctrl-C (or SIGTERM) stops and writes {output}{journal}", file=out)
    tty = out.isatty()
    last_line = ""
    last_log = 0.0
    shown_events = 0
    failed: SessionFileError | None = None
    try:
        while not stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), STATUS_EVERY)
            try:
                writer.flush()
            except SessionFileError as exc:  # a full disk, a removed file: stop, keep what was written
                failed = exc
                break
            while shown_events < len(store.system_events):
                event = store.system_events[shown_events]
                shown_events += 1
                print(f"{CLEAR_LINE if tty else ''}wsinspect: {event.text}", file=out, flush=True)
            line = _status(store, server)
            if tty:
                print(f"{CLEAR_LINE}{line}", end="", file=out, flush=True)
            elif line != last_line and time.monotonic() - last_log >= LOG_EVERY:
                print(line, file=out, flush=True)
                last_log = time.monotonic()
            last_line = line
    finally:
        for signum in STOP_SIGNALS:
            loop.remove_signal_handler(signum)
        await server.close()
    if tty:
        print(file=out, flush=True)  # end the status line
    if failed is None:
        try:
            writer.close()
        except SessionFileError as exc:
            failed = exc
    if database == output:
        if failed is not None:
            print(f"wsinspect: {failed}; stopped recording. What was written before is in {output}", file=out)
            return 1
        wrote = f"{counted(len(store.entries), 'connection')}, {counted(writer.frames_written, 'frame')}"
        deleted = f" ({writer.frames_deleted:,} of them, the oldest, deleted: --max-bytes, --max-age)"
        print(f"wsinspect: wrote {wrote} to {output}{deleted if writer.frames_deleted else ''}", file=out)
        return 0
    if failed is not None:
        print(f"wsinspect: {failed}; stopped recording", file=out)
    connections, blocks = store.connections(), store.app_loop_blocks
    try:
        written = _write(output, connections, out, blocks)
    except SessionFileError as exc:
        # Hours of recording must not be lost to a directory removed meanwhile or a full disk.
        rescue = Path(tempfile.gettempdir()) / f"wsinspect-rescued-{os.getpid()}-{int(time.time())}.json"
        _write(rescue, connections, out, blocks)
        print(f"wsinspect: {exc}; saved the session to {rescue} instead", file=out)
        remove_database(database)
        return 1
    remove_database(database)
    # "wrote 3 connections, 2,193 frames of 2,953 to x.har (760 pings, pongs and closes have no place in HAR)"
    print(f"wsinspect: {written.summary()}", file=out)
    return 0 if failed is None else 1


class _Unfailing:
    """``out`` whose writes never fail: when its terminal or SSH session is gone (SIGHUP), what
    ``record`` has to say is lost, not what it has to write."""

    def __init__(self, out: TextIO) -> None:
        self._out = out

    def write(self, text: str) -> int:
        with contextlib.suppress(OSError, ValueError):
            return self._out.write(text)
        return len(text)

    def flush(self) -> None:
        with contextlib.suppress(OSError, ValueError):
            self._out.flush()

    def isatty(self) -> bool:
        with contextlib.suppress(OSError, ValueError):
            return self._out.isatty()
        return False


def _write(path: Path, connections: list[Connection], out: TextIO, blocks: Sequence[AppLoopBlock] = ()) -> Written:
    """write_session, its progress on ``out`` once it takes more than a second."""
    progress = ProgressLine(out, f"writing {path}", "frames")
    try:
        return write_session(path, connections, time.time(), progress=progress, loop_blocks=blocks)
    finally:
        progress.close()


def _status(store: Store, server: InspectorServer) -> str:
    active = sum(entry.connection.state != "closed" for entry in store.entries.values())
    return (
        f"{counted(len(server.producers), 'app')}, {counted(len(store.entries), 'connection')} ({active:,} active), "
        f"{counted(store.frames_received, 'frame')}"
    )
