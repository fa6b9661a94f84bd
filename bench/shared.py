"""What the benchmarks share: payloads, scopes, the result row and the inspector process."""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent


def payload(seq: int) -> str:
    """A ~100-byte JSON text message."""
    return f'{{"type":"update","seq":{seq:08d},"room":"lobby","body":"{"x" * 43}"}}'


def ws_scope() -> dict[str, Any]:
    return {
        "type": "websocket",
        "asgi": {"version": "3.0", "spec_version": "2.3"},
        "http_version": "1.1",
        "scheme": "ws",
        "server": ("127.0.0.1", 8000),
        "client": ("127.0.0.1", 50123),
        "root_path": "",
        "path": "/ws",
        "raw_path": b"/ws",
        "query_string": b"room=lobby",
        "headers": [(b"host", b"localhost:8000"), (b"upgrade", b"websocket"), (b"cookie", b"session=secret")],
        "subprotocols": [],
        "extensions": {},
    }


@dataclass
class Row:
    """One line of the table: a median, its unit, its ratio to the section's baseline, a note."""

    name: str
    value: float
    unit: str
    ratio: float | None = None
    note: str = ""
    samples: list[float] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)


def median(samples: list[float]) -> float:
    return statistics.median(samples)


def wait_until(condition: Any, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError(f"gave up waiting for {what}")
        time.sleep(0.001)


def drained(emitter: Any) -> None:
    """Wait until the emitter has written every event queued so far to its socket."""
    if not emitter.flush(60):
        raise TimeoutError("gave up waiting for the emitter's queue to drain")


class ChildProcess:
    """``python -m bench._child ARGS…``: commands as lines on stdin, answers as lines on stdout,
    ``ready`` first; it ends when stdin closes."""

    def __init__(self, *args: str) -> None:
        self.what = args[0]
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "bench._child", *args],
            cwd=ROOT,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        if self._line() != "ready":
            raise RuntimeError(f"the {self.what} process did not start")

    def _line(self) -> str:
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError(f"the {self.what} process ended (exit code {self.proc.poll()})")
        return line.strip()

    def send(self, command: str) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(command + "\n")
        self.proc.stdin.flush()

    def ask(self, command: str) -> Any:
        """Send a command and read its JSON answer."""
        self.send(command)
        return json.loads(self._line())

    def close(self, timeout: float = 10.0) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.close()
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


class InspectorProcess(ChildProcess):
    """``python -m bench._child inspector PATH``: an inspector on its own core and GIL."""

    def __init__(self, path: Path) -> None:
        super().__init__("inspector", str(path))

    def stats(self) -> dict[str, Any]:
        """``frames`` applied so far, ``last`` (monotonic time of the last change), ``dropped`` reported."""
        stats: dict[str, Any] = self.ask("stats")
        return stats

    def latency(self) -> dict[str, float | None]:
        """p50 and p99 (ms) from the app's send to the store, of the frames since the last call."""
        latency: dict[str, float | None] = self.ask("latency")
        return latency

    def settled(self) -> dict[str, Any]:
        """The stats once no new frame arrived for 50 ms."""
        stats = self.stats()
        while True:
            time.sleep(0.05)
            again = self.stats()
            if again["frames"] == stats["frames"]:
                return again
            stats = again
