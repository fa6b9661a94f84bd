"""``wsinspect record``: the inspector without a screen. Records until SIGINT or SIGTERM, then saves."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
import tempfile
import time
from pathlib import Path
from typing import TextIO

from .files import SessionFileError, check_writable, write_session
from .formatting import counted
from .server import InspectorServer
from .store import Store

__all__ = ("record",)

STATUS_EVERY = 0.5  # seconds between status updates on a terminal
LOG_EVERY = 5.0  # and between status lines when stderr is not a terminal
CLEAR_LINE = "\r\x1b[K"


async def record(socket_path: Path, output: Path, *, max_messages: int, out: TextIO = sys.stderr) -> int:
    """Serve producers into a store until a signal, then write ``output``. Raises on a bad socket/file."""
    check_writable(output)
    store = Store(max_messages=max_messages)
    server = InspectorServer(store, socket_path)
    await server.start()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    print(f"wsinspect: recording on {socket_path}; Ctrl-C (or SIGTERM) stops and writes {output}", file=out)
    tty = out.isatty()
    last_line = ""
    last_log = 0.0
    shown_events = 0
    try:
        while not stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), STATUS_EVERY)
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
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(signum)
        await server.close()
    connections = store.connections()
    try:
        written = write_session(output, connections, time.time())
    except SessionFileError as exc:
        # Hours of recording must not be lost to a directory removed meanwhile or a full disk.
        rescue = Path(tempfile.gettempdir()) / f"wsinspect-rescued-{os.getpid()}-{int(time.time())}.json"
        write_session(rescue, connections, time.time())
        print(f"wsinspect: {exc}; saved the session to {rescue} instead", file=out)
        return 1
    if tty:
        print(file=out)  # end the status line
    # "wrote 3 connections, 2,193 frames of 2,953 to x.har (760 pings, pongs and closes have no place in HAR)"
    print(f"wsinspect: {written.summary()}", file=out)
    return 0


def _status(store: Store, server: InspectorServer) -> str:
    active = sum(entry.connection.state != "closed" for entry in store.entries.values())
    return (
        f"{counted(len(server.producers), 'app')}, {counted(len(store.entries), 'connection')} ({active:,} active), "
        f"{counted(store.frames_received, 'frame')}"
    )
