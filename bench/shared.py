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


class InspectorProcess:
    """``python -m bench._child inspector PATH``: an inspector on its own core and GIL."""

    def __init__(self, path: Path) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "bench._child", "inspector", str(path)],
            cwd=ROOT,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        if self._line() != "ready":
            raise RuntimeError("the inspector process did not start")

    def _line(self) -> str:
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError(f"the inspector process ended (exit code {self.proc.poll()})")
        return line.strip()

    def stats(self) -> dict[str, Any]:
        """``frames`` applied so far, ``last`` (monotonic time of the last change), ``dropped`` reported."""
        assert self.proc.stdin is not None
        self.proc.stdin.write("stats\n")
        self.proc.stdin.flush()
        stats: dict[str, Any] = json.loads(self._line())
        return stats

    def latency(self) -> dict[str, float | None]:
        """p50 and p99 (ms) from the app's send to the store, of the frames since the last call."""
        assert self.proc.stdin is not None
        self.proc.stdin.write("latency\n")
        self.proc.stdin.flush()
        latency: dict[str, float | None] = json.loads(self._line())
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

    def close(self) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.close()
        try:
            self.proc.wait(5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
