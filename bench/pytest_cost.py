"""What the pytest plugin costs a test run: a module of WebSocket tests, the wall time of pytest.

A project in a temporary directory: a Litestar echo app with ``WSInspectPlugin`` and a module of N
tests, each opening Litestar's ``TestClient`` (its lifespan runs) and a WebSocket, exchanging three
messages and closing, all passing. ``python -m pytest -q`` runs it in a process of its own, as a
user does, in three ways, each once per round so that the machine's drift falls on all alike:

- not loaded (``-p no:wsinspect``: as if wsinspect were not installed; the baseline of "off");
- ``--wsinspect=off``, the default: the plugin is loaded and does nothing;
- ``--wsinspect=retain-on-failure``: every connection recorded, nothing kept (no test fails);
- ``--wsinspect=on``: every test's session written too.

The issue's limits: retain-on-failure at most 1.15x off, and off within noise of not loaded.
"""

from __future__ import annotations

import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from .shared import Row, median

APP = """
from litestar import Litestar, websocket
from litestar.connection import WebSocket

from wsinspect.litestar import WSInspectPlugin


@websocket("/ws")
async def echo(socket: WebSocket) -> None:
    await socket.accept()
    while True:
        await socket.send_text(await socket.receive_text())


app = Litestar([echo], plugins=[WSInspectPlugin()], debug=True)
"""

TEST = """
import pytest
from litestar.testing import TestClient

from bench_app import app


@pytest.mark.parametrize("n", range({n}))
def test_echo(n):
    with TestClient(app) as client, client.websocket_connect("/ws") as ws:
        for i in range(3):
            ws.send_text(f"message {{n}}.{{i}}")
            assert ws.receive_text() == f"message {{n}}.{{i}}"
"""

MODES = {
    "not loaded": ["-p", "no:wsinspect"],
    "off": ["--wsinspect=off"],
    "retain-on-failure": ["--wsinspect=retain-on-failure"],
    "on": ["--wsinspect=on"],
}


def _run(project: Path, arguments: list[str], n: int) -> tuple[float, float]:
    """The run's wall time and its process's CPU time (user and system), in seconds."""
    env = {key: value for key, value in os.environ.items() if not key.startswith(("WSINSPECT_", "PYTEST_"))}
    command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *arguments]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    result = subprocess.run(command, cwd=project, env=env, capture_output=True, text=True, timeout=900)
    seconds = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if result.returncode != 0 or f"{n} passed" not in result.stdout:
        raise RuntimeError(f"the benchmark's tests did not pass ({' '.join(arguments)}):\n{result.stdout[-2000:]}")
    return seconds, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def run(n: int, repeats: int) -> list[Row]:
    project = Path(tempfile.mkdtemp(prefix="wsib-pytest-"))
    try:
        (project / "bench_app.py").write_text(APP)
        (project / "test_bench.py").write_text(TEST.format(n=n))
        (project / "pytest.ini").write_text("[pytest]\n")  # the project's root, whatever is above it
        _run(project, MODES["off"], n)  # warm up: bytecode caches, the OS's file cache
        samples: dict[str, list[float]] = {mode: [] for mode in MODES}
        cpu: dict[str, list[float]] = {mode: [] for mode in MODES}
        for _ in range(repeats):
            for mode, arguments in MODES.items():
                wall, used = _run(project, arguments, n)
                samples[mode].append(wall)
                cpu[mode].append(used)
        kept = len(list((project / "test-results" / "wsinspect").glob("*.json")))
        if kept != n:
            raise AssertionError(f"--wsinspect=on kept {kept} files of {n} tests")
    finally:
        shutil.rmtree(project, ignore_errors=True)

    def paired(times: dict[str, list[float]], mode: str, base: str) -> float:
        """The median of the ratios within each round (paired: drift cancels)."""
        return median([a / b for a, b in zip(times[mode], times[base], strict=True)])

    def row(name: str, mode: str, base: str | None, note: str) -> Row:
        wall = median(samples[mode])
        spread = (max(samples[mode]) - min(samples[mode])) / wall
        used = f"CPU {median(cpu[mode]):.2f} s" + (f", {paired(cpu, mode, base):.2f}x" if base else "")
        ratio = paired(samples, mode, base) if base else None
        notes = [part for part in (note, used, f"rounds spread {spread:.0%}") if part]
        return Row(name, wall, "s", ratio, "; ".join(notes), samples[mode])

    return [
        row("not loaded (-p no:wsinspect)", "not loaded", None, ""),
        row("--wsinspect=off (the default)", "off", "not loaded", "vs not loaded"),
        row("--wsinspect=retain-on-failure", "retain-on-failure", "off", "vs off (limit 1.15x)"),
        row("--wsinspect=on (a file per test)", "on", "off", "vs off"),
    ]
