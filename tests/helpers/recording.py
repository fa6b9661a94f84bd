"""`wsinspect record` in a subprocess, and the Litestar echo handler its end-to-end tests talk to.

:func:`start_record` returns once the recording listens (its first line, ``recording on ...``,
read); :func:`stop_record` stops it with SIGTERM and says how it ended; :class:`Recording` holds
the two together, with the paths it was given.
"""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

from litestar import WebSocket, websocket

__all__ = ("Recording", "echo", "start_record", "stop_record")


@websocket("/ws/echo")
async def echo(socket: WebSocket) -> None:
    """Texts come back upper-cased, bytes reversed; the text "bye" closes with 4001 "bye"."""
    await socket.accept()
    while True:
        message = await socket.receive()
        if message["type"] == "websocket.disconnect":
            return
        if message.get("text") == "bye":
            await socket.close(code=4001, reason="bye")
            return
        if message.get("bytes") is not None:
            await socket.send_bytes(message["bytes"][::-1])
        else:
            await socket.send_text(message["text"].upper())


def start_record(socket_path: Path, output: Path) -> tuple[subprocess.Popen[str], str]:
    """``wsinspect record --socket socket_path -o output``, listening: the process and its first line."""
    process = subprocess.Popen(
        [sys.executable, "-m", "wsinspect", "record", "--socket", str(socket_path), "-o", str(output)],
        stderr=subprocess.PIPE,
        text=True,
    )
    assert process.stderr is not None
    first = process.stderr.readline()
    assert "recording on" in first, first
    return process, first


def stop_record(process: subprocess.Popen[str], timeout: float = 20.0) -> tuple[int, str]:
    """SIGTERM the recording and wait for it: its exit status and what it wrote on stderr."""
    process.send_signal(signal.SIGTERM)
    _, err = process.communicate(timeout=timeout)
    return process.returncode, err


class Recording:
    """A recording started on ``socket_path`` into ``output``."""

    def __init__(self, socket_path: Path, output: Path) -> None:
        self.socket_path = socket_path
        self.output = output
        self.process, _ = start_record(socket_path, output)

    def stop(self) -> tuple[int, str]:
        return stop_record(self.process)
