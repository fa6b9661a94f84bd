"""The app's cost in instructions: the live echo (uvicorn + Litestar, a websockets client in another
process) with the app's process under callgrind, which counts the instructions it runs, every
thread of it (the emitter's writer too), undisturbed by whatever else the machine runs.

Each mode starts uvicorn under ``valgrind --tool=callgrind --instr-atstart=no`` (the imports run
uninstrumented), warms up, turns counting on, zeroes the counters, has the client echo N messages
on each connection in lockstep, and dumps: the dump's total divided by the messages echoed is the
instructions per echoed message (one ``receive`` and one ``send``, two recorded frames). Modes:
bare Litestar (the baseline), the plugin with nobody listening, the plugin with an inspector's
store listening in another process. Needs valgrind (``nox -s bench`` skips the section without
it). The counts still move between runs, by 1-2% bare and up to 5% listening (how many frames the
emitter writes at once depends on timing): the medians of a few runs, each run's figure in the note.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from .live import CONNECTIONS, Client, free_port
from .shared import ROOT, InspectorProcess, Row, median, wait_until

MODES = {  # name: (the app in bench.apps, an inspector listens)
    "bare Litestar (baseline)": ("bare", False),
    "plugin, nobody listening": ("plugin", False),
    "plugin + inspector store listening": ("plugin", True),
}


def available() -> bool:
    return shutil.which("valgrind") is not None and shutil.which("callgrind_control") is not None


class CountedApp:
    """``uvicorn bench.apps:NAME`` under callgrind, counting only when told."""

    def __init__(self, name: str, socket_path: Path, workdir: Path) -> None:
        self.port = free_port()
        self.workdir = workdir
        env = {**os.environ, "WSINSPECT_SOCKET": str(socket_path), "PYTHONHASHSEED": "0"}
        self.proc = subprocess.Popen(
            ["valgrind", "--tool=callgrind", "--instr-atstart=no", f"--callgrind-out-file={workdir}/cg.%p",
             "-q",
             sys.executable, "-m", "uvicorn", f"bench.apps:{name}", "--host", "127.0.0.1",
             "--port", str(self.port), "--log-level", "warning", "--no-access-log"],
            cwd=ROOT, env=env,
        )  # fmt: skip
        wait_until(self._listening, 300, f"uvicorn under callgrind serving bench.apps:{name}")

    def _listening(self) -> bool:
        if self.proc.poll() is not None:
            raise RuntimeError(f"uvicorn under callgrind ended with exit code {self.proc.returncode}")
        with socket.socket() as sock:
            return sock.connect_ex(("127.0.0.1", self.port)) == 0

    def control(self, *args: str) -> None:
        subprocess.run(["callgrind_control", *args, str(self.proc.pid)], check=True, capture_output=True, timeout=120)

    def dumped(self) -> int:
        """Dump the counters (which zeroes them) and return the dump's total of instructions."""
        before = set(self.workdir.glob(f"cg.{self.proc.pid}.*"))
        self.control("--dump")
        dump = next(iter(set(self.workdir.glob(f"cg.{self.proc.pid}.*")) - before))
        for line in dump.read_text().splitlines():
            if line.startswith(("totals:", "summary:")):
                return int(line.split()[1])
        raise RuntimeError(f"no total in {dump}")

    def close(self) -> None:
        self.proc.send_signal(signal.SIGINT)
        try:
            self.proc.wait(120)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def one_mode(name: str, listening: bool, messages: int, workdir: Path) -> float:
    """Instructions per echoed message of the app's process in this mode."""
    sock = workdir / "inspector.sock"
    inspector = InspectorProcess(sock) if listening else None
    app = CountedApp(name, sock if listening else workdir / "nobody.sock", workdir)
    client = Client(app.port)
    try:
        client.run("echo 50")  # the connections and the emitter's link up, uninstrumented
        app.control("--instr=on")
        client.run("echo 100")  # every path translated once, instrumented
        time.sleep(0.5)  # what the emitter still had to write
        app.control("--zero")
        client.run(f"echo {messages}")
        if inspector is not None:
            wait_until(lambda: inspector.settled()["frames"] >= 2 * (150 + messages) * CONNECTIONS, 60,
                       "every frame in the inspector")  # fmt: skip
        return app.dumped() / (messages * CONNECTIONS)
    finally:
        client.close()
        app.close()
        if inspector is not None:
            inspector.close()


def run(messages: int, repeats: int) -> list[Row]:
    workdir = Path(tempfile.mkdtemp(prefix="wsin-", dir="/tmp"))
    counts: dict[str, list[float]] = {label: [] for label in MODES}
    try:
        for _ in range(repeats):
            for label, (name, listening) in MODES.items():
                counts[label].append(one_mode(name, listening, messages, workdir))
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    bare = median(counts["bare Litestar (baseline)"])
    rows = []
    for label, samples in counts.items():
        count = median(samples)
        runs = " ".join(f"{sample / 1000:.1f}" for sample in samples)
        added = f"+{(count - bare) / 1000:.1f}k vs bare; " if samples is not counts["bare Litestar (baseline)"] else ""
        rows.append(Row(label, count / 1000, "k instr", count / bare, f"{added}runs {runs}k", samples))
    return rows
