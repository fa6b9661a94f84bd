"""Killed (SIGTERM) or left by its terminal (SIGHUP), each command cleans up as its own quit does:
the inspector's socket and the demo's directory go, and `record` writes its file."""

from __future__ import annotations

import os
import pty
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from helpers.waiting import wait_until

from wsinspect.sessions import read_session

PATIENCE = 30.0  # seconds; a safety net on a loaded machine, never a measure


class Terminal:
    """A command run on a pseudo-terminal of 120 by 40, its screen output read and thrown away."""

    def __init__(self, *arguments: str, env: dict[str, str] | None = None) -> None:
        self.master, slave = pty.openpty()
        os.set_blocking(self.master, True)
        environment = {**os.environ, "TERM": "xterm-256color", "COLUMNS": "120", "LINES": "40", **(env or {})}
        self.process = subprocess.Popen(
            [sys.executable, "-m", "wsinspect", *arguments],
            stdin=slave,
            stdout=slave,
            stderr=slave,
            env=environment,
            start_new_session=True,  # its own session and controlling terminal, as in a real one
        )
        os.close(slave)
        self.output = bytearray()
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self) -> None:
        while True:
            try:
                data = os.read(self.master, 65536)
            except OSError:
                return
            if not data:
                return
            self.output += data

    def stop(self, signum: int) -> int:
        if signum == signal.SIGHUP:  # as a closed terminal window or SSH session: the terminal goes first
            os.close(self.master)
            self.reader.join(PATIENCE)
        self.process.send_signal(signum)
        try:
            return self.process.wait(timeout=PATIENCE)
        finally:
            if signum != signal.SIGHUP:
                os.close(self.master)

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()


@pytest.fixture
def terminals() -> Iterator[list[Terminal]]:
    started: list[Terminal] = []
    yield started
    for terminal in started:
        terminal.kill()


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGHUP], ids=["SIGTERM", "SIGHUP"])
def test_the_inspector_removes_its_socket(private_socket: Path, terminals: list[Terminal], signum: int) -> None:
    terminal = Terminal("--socket", str(private_socket))
    terminals.append(terminal)
    wait_until(private_socket.exists, "the inspector to listen", patience=PATIENCE, every=0.05)
    wait_until(lambda: b"listening on" in terminal.output, "the screen", patience=PATIENCE, every=0.05)
    assert terminal.stop(signum) == 0
    assert not private_socket.exists()
    assert b"Traceback" not in terminal.output


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGHUP], ids=["SIGTERM", "SIGHUP"])
def test_the_demo_removes_its_directory(tmp_path: Path, terminals: list[Terminal], signum: int) -> None:
    terminal = Terminal("demo", env={"TMPDIR": str(tmp_path)})
    terminals.append(terminal)
    wait_until(
        lambda: any(tmp_path.glob("wsinspect-demo-*/inspector.sock")),
        "the demo's inspector to listen",
        patience=PATIENCE,
        every=0.05,
    )
    wait_until(lambda: b"demo app on" in terminal.output, "the screen", patience=PATIENCE, every=0.05)
    assert terminal.stop(signum) == 0
    assert list(tmp_path.iterdir()) == []
    assert b"Traceback" not in terminal.output
    assert b"lost the inspector" not in terminal.output  # its app loses it by design: not news


def test_record_writes_its_file_when_its_terminal_goes(
    private_socket: Path, tmp_path: Path, terminals: list[Terminal]
) -> None:
    output = tmp_path / "session.json"
    terminal = Terminal("record", "--socket", str(private_socket), "-o", str(output))
    terminals.append(terminal)
    wait_until(private_socket.exists, "record to listen", patience=PATIENCE, every=0.05)
    wait_until(lambda: b"recording on" in terminal.output, "its first line", patience=PATIENCE, every=0.05)
    assert terminal.stop(signal.SIGHUP) == 0
    assert read_session(output).connections == []
    assert not private_socket.exists()
    assert not (tmp_path / "session.json.journal.sqlite").exists()
