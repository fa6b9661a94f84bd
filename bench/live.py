"""The path users run: a uvicorn process serving a Litestar echo app, a ``websockets`` client
process, and the inspector in a third process, on loopback.

Modes, alternated in rotating order each round: ``bare`` Litestar; ``plugin, nobody listening``;
``plugin + wsinspect record``; ``plugin + inspector store`` (the inspector's server and store
without a screen, which also measures latency); ``plugin + TUI`` (``wsinspect`` in a real terminal,
tmux at 160x45); the same TUI with its screen frozen once it shows (``bench._frozen_tui``: its
server, store and an idle Textual app, the floor any screen starts from); Litestar's OpenTelemetry
plugin with a span per message. The client keeps
CONNECTIONS connections in lockstep (each sends its next message when the echo is back).

Throughput is reported as the median of per-round ratios to ``bare`` measured in the same round;
CPU from ``/proc/PID/stat`` (all threads) over the measured window: the app's per echoed message
(one frame received, one sent), the inspector's per frame (counted until it went idle). Latency is
from the frame's timestamp in the app (right after its send) to the end of ``Store.apply`` in the
inspector, p50 and p99 over every frame of the window.

Then the TUI alone: its CPU with nothing happening and at 100, 1,000 and 10,000 frames/s (a paced
client), and the time from a key press (``d``, the direction filter) to the changed screen while
10,000 frames/s flow, read by polling ``tmux capture-pane``.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from .shared import ROOT, ChildProcess, InspectorProcess, Row, median, wait_until

CONNECTIONS = 4
CLK_TCK = os.sysconf("SC_CLK_TCK")
MODES = ("bare", "nobody", "record", "store", "tui", "frozen", "otel")
LABELS = {
    "bare": "bare Litestar (baseline)",
    "nobody": "plugin, nobody listening",
    "record": "plugin + wsinspect record",
    "store": "plugin + inspector store (no screen)",
    "tui": "plugin + wsinspect TUI (tmux 160x45)",
    "frozen": "plugin + the TUI with its screen frozen (the floor of any screen)",
    "otel": "OpenTelemetry plugin, a span per message",
}
TUI_RATES = (0, 100, 1_000, 10_000)  # frames/s: each echoed message is two frames


def cpu_seconds(pid: int) -> float:
    """User + system CPU of a process, all its threads, in seconds (10 ms resolution)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def otel_available() -> bool:
    try:
        import opentelemetry.instrumentation.asgi
        import opentelemetry.sdk.trace  # noqa: F401
    except ImportError:
        return False
    return True


class App:
    """``uvicorn bench.apps:NAME`` on a free loopback port."""

    def __init__(self, name: str, socket_path: Path) -> None:
        self.port = free_port()
        env = {**os.environ, "WSINSPECT_SOCKET": str(socket_path)}
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "uvicorn", f"bench.apps:{name}", "--host", "127.0.0.1",
             "--port", str(self.port), "--log-level", "warning", "--no-access-log"],
            cwd=ROOT, env=env,
        )  # fmt: skip
        wait_until(self._listening, 20, f"uvicorn serving bench.apps:{name}")

    def _listening(self) -> bool:
        if self.proc.poll() is not None:
            raise RuntimeError(f"uvicorn ended with exit code {self.proc.returncode}")
        with socket.socket() as sock:
            return sock.connect_ex(("127.0.0.1", self.port)) == 0

    def close(self) -> None:
        self.proc.send_signal(signal.SIGINT)
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


class Client(ChildProcess):
    """``python -m bench._child client``: CONNECTIONS websockets driven by commands."""

    def __init__(self, port: int) -> None:
        super().__init__("client", f"ws://127.0.0.1:{port}/ws", str(CONNECTIONS))

    def result(self) -> float:
        seconds: float = json.loads(self._line())["seconds"]
        return seconds

    def run(self, command: str) -> float:
        seconds: float = self.ask(command)["seconds"]
        return seconds


class Tui:
    """``wsinspect --socket PATH`` in a detached tmux session of 160x45; ``frozen``: its screen
    never redrawn after it starts (``bench._frozen_tui``)."""

    def __init__(self, socket_path: Path, frozen: bool = False) -> None:
        self.name = f"wsib{os.getpid()}"
        module = "bench._frozen_tui" if frozen else "wsinspect"
        command = f"exec {sys.executable} -m {module} --socket {socket_path}"
        subprocess.run(["tmux", "new-session", "-d", "-s", self.name, "-x", "160", "-y", "45", command],
                       cwd=ROOT, check=True)  # fmt: skip
        self.pid = int(self._tmux("display-message", "-p", "-t", self.name, "#{pane_pid}"))
        wait_until(lambda: "listening on" in self.screen(), 20, "the inspector's screen")

    def _tmux(self, *args: str) -> str:
        return subprocess.run(["tmux", *args], capture_output=True, text=True, check=True).stdout.strip()

    def screen(self) -> str:
        return self._tmux("capture-pane", "-p", "-t", self.name)

    def press(self, key: str) -> None:
        subprocess.run(["tmux", "send-keys", "-t", self.name, key], check=True)

    def close(self) -> None:
        with contextlib.suppress(subprocess.CalledProcessError):
            subprocess.run(["tmux", "kill-session", "-t", self.name], check=True, capture_output=True)


class Record:
    """``wsinspect record --socket PATH -o FILE``."""

    def __init__(self, socket_path: Path, output: Path) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "wsinspect", "record", "--socket", str(socket_path), "-o", str(output)],
            cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        self.pid = self.proc.pid
        wait_until(socket_path.exists, 20, "wsinspect record to listen")

    def close(self) -> None:
        self.proc.send_signal(signal.SIGINT)
        try:
            self.proc.wait(30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def idle_cpu(pid: int, quiet: float = 0.3, timeout: float = 30.0) -> float:
    """The process's CPU seconds once it used none for ``quiet`` seconds (it caught up)."""
    deadline = time.monotonic() + timeout
    before = cpu_seconds(pid)
    while time.monotonic() < deadline:
        time.sleep(quiet)
        now = cpu_seconds(pid)
        if now - before <= 1 / CLK_TCK:
            return now
        before = now
    return before


@contextlib.contextmanager
def running(mode: str, workdir: Path) -> Iterator[tuple[App, Any]]:
    """The app for ``mode`` and its inspector (None, a Record, an InspectorProcess or a Tui)."""
    live = workdir / "live.sock"
    with contextlib.suppress(FileNotFoundError):
        live.unlink()
    inspector: Any = None
    if mode == "record":
        inspector = Record(live, workdir / "record.json")
    elif mode == "store":
        inspector = InspectorProcess(live)
    elif mode in ("tui", "frozen"):
        inspector = Tui(live, frozen=mode == "frozen")
    app_name = {"bare": "bare", "otel": "otel"}.get(mode, "plugin")
    app = App(app_name, live if inspector is not None else workdir / "nobody.sock")
    try:
        yield app, inspector
    finally:
        app.close()
        if inspector is not None:
            inspector.close()


def inspector_pid(inspector: Any) -> int | None:
    if inspector is None:
        return None
    return int(inspector.proc.pid) if isinstance(inspector, (Record, InspectorProcess)) else int(inspector.pid)


def one_run(mode: str, workdir: Path, messages: int) -> dict[str, float | None]:
    with running(mode, workdir) as (app, inspector):
        client = Client(app.port)
        try:
            client.run("echo 300")  # warm up; the emitter connects on the first connection
            if isinstance(inspector, InspectorProcess):
                wait_until(lambda: inspector.stats()["frames"] > 0, 10, "frames in the inspector")
                inspector.settled()
                inspector.latency()
            ipid = inspector_pid(inspector)
            if ipid is not None:
                time.sleep(0.3)
                idle_cpu(ipid)
            app0, insp0 = cpu_seconds(app.proc.pid), cpu_seconds(ipid) if ipid else 0.0
            seconds = client.run(f"echo {messages}")
            app1 = cpu_seconds(app.proc.pid)
            insp1 = idle_cpu(ipid) if ipid else 0.0
            total = messages * CONNECTIONS
            result: dict[str, float | None] = {
                "throughput": total / seconds,
                "app_us_per_msg": (app1 - app0) / total * 1e6,
                "inspector_us_per_frame": (insp1 - insp0) / (2 * total) * 1e6 if ipid else None,
                "p50_ms": None,
                "p99_ms": None,
                "delivered": None,
            }
            if isinstance(inspector, InspectorProcess):
                latency = inspector.latency()
                result["p50_ms"], result["p99_ms"] = latency["p50"], latency["p99"]
                result["delivered"] = inspector.settled()["frames"]
            return result
        finally:
            client.close()


def run(messages: int, repeats: int) -> list[Row]:
    screens = ("tui", "frozen")  # in tmux
    modes = [m for m in MODES if (m not in screens or shutil.which("tmux")) and (m != "otel" or otel_available())]
    workdir = Path(__import__("tempfile").mkdtemp(prefix="wsil-", dir="/tmp"))
    results: dict[str, list[dict[str, float | None]]] = {mode: [] for mode in modes}
    try:
        for round_ in range(repeats):
            order = modes[round_ % len(modes) :] + modes[: round_ % len(modes)]
            for mode in order:
                results[mode].append(one_run(mode, workdir, messages))
                print(f"  round {round_ + 1}/{repeats} {mode:<7} {results[mode][-1]['throughput']:,.0f} msg/s",
                      file=sys.stderr, flush=True)  # fmt: skip
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    return rows_of(results, messages)


def rows_of(results: dict[str, list[dict[str, float | None]]], messages: int) -> list[Row]:
    bare = [r["throughput"] or 0.0 for r in results["bare"]]
    rows: list[Row] = []
    for mode, runs in results.items():
        throughput = [r["throughput"] or 0.0 for r in runs]
        ratios = [t / b for t, b in zip(throughput, bare, strict=True)]
        app_us = median([r["app_us_per_msg"] or 0.0 for r in runs])
        note = f"{median(throughput):,.0f} msg/s; app {app_us:.1f} µs CPU/msg"
        inspector = [r["inspector_us_per_frame"] for r in runs if r["inspector_us_per_frame"] is not None]
        extra: dict[str, Any] = {"throughput": throughput, "app_us_per_msg": app_us}
        if inspector:
            note += f"; inspector {median(inspector):.1f} µs CPU/frame"
            extra["inspector_us_per_frame"] = median(inspector)
        p50 = [r["p50_ms"] for r in runs if r["p50_ms"] is not None]
        p99 = [r["p99_ms"] for r in runs if r["p99_ms"] is not None]
        if p99:
            note += f"; latency p50 {median(p50):.1f} ms, p99 {median(p99):.1f} ms"
            extra.update(p50_ms=median(p50), p99_ms=median(p99))
        delivered = [r["delivered"] for r in runs if r["delivered"] is not None]
        if delivered:
            expected = 2 * messages * CONNECTIONS + 2 * 300 * CONNECTIONS
            note += f"; {min(delivered) / expected:.0%} of frames delivered (worst run)"
        rows.append(Row(LABELS[mode], median(ratios), "x bare", None, note, ratios, extra))
    return rows


def tui_load(seconds: float = 5.0) -> list[Row]:
    """The TUI's CPU at several frame rates and its key-press latency at 10,000 frames/s."""
    if not shutil.which("tmux"):
        return [Row("TUI load (skipped: tmux not found)", 0.0, "")]
    workdir = Path(__import__("tempfile").mkdtemp(prefix="wsit-", dir="/tmp"))
    rows: list[Row] = []
    try:
        with running("tui", workdir) as (app, tui):
            client = Client(app.port)
            try:
                client.run("echo 100")
                time.sleep(1.0)
                for rate in TUI_RATES:
                    idle_cpu(tui.pid)
                    start, cpu0 = time.monotonic(), cpu_seconds(tui.pid)
                    if rate:
                        client.run(f"paced {rate / 2} {seconds}")
                    else:
                        time.sleep(seconds)
                    share = (cpu_seconds(tui.pid) - cpu0) / (time.monotonic() - start)
                    name = f"TUI CPU at {rate:,} frames/s" if rate else "TUI CPU with nothing happening"
                    rows.append(Row(name, share * 100, "% core"))
                rows.append(key_latency(tui, client))
            finally:
                client.close()
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    return rows


def key_latency(tui: Tui, client: Client, presses: int = 9) -> Row:
    """``d`` cycles the direction filter; each press is timed until the filter line shows it."""
    expected = ("[sent only]", "[received only]", "no filters")
    client.send("paced 5000 10")  # 10,000 frames/s while the keys are pressed
    time.sleep(2.0)
    samples: list[float] = []
    for i in range(presses):
        want = expected[i % 3]
        start = time.perf_counter()
        tui.press("d")
        wait_until(lambda w=want: w in tui.screen(), 10, f"{want} on screen")
        samples.append((time.perf_counter() - start) * 1000)
        time.sleep(0.5)
    client.result()
    note = f"max {max(samples):.0f} ms of {presses} presses (includes ~5 ms of tmux capture polling)"
    return Row("key press to screen at 10,000 frames/s", median(samples), "ms", None, note, samples)
