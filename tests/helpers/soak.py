"""The soak (issue 25): the real inspector left open on a busy app, for a minute or an hour.

uvicorn serves ``soak_app.py`` (a Litestar echo with the plugin streaming to the TUI, inside
``WSInspectMiddleware`` streaming the same frames to ``wsinspect record``), real ``websockets``
clients (``soak_clients.py``) echo with it at 5,000 frames/s on connections that come and go, and
the TUI runs in a real terminal (tmux) with a small ``--max-frames``, so that it trims every few
seconds, while keys are pressed as a person would: filters, search, n/N, scrolling up, G, ctrl+l,
resizes, the help.

Then a last phase the counts can be held to: the clients stop, ctrl+l empties the TUI, the
clients run a fixed number of echoes, and the TUI's status line (frames, let go) and its export
(``e``) are compared with the recording, connection by connection. What :func:`check` asserts:

- the TUI lived to the end and quit with ``q`` (exit status 0), no traceback on its screen;
- the TUI and the app grew by at most 15% of their memory after warm-up;
- the recording holds every message each client sent and received;
- the TUI's last phase: every frame of the recording is either held (in the export) or counted
  as let go, none lost in transit, and what it holds is the newest of each connection's frames.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import re
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from statistics import median
from typing import Any

from .waiting import wait_until

HELPERS = Path(__file__).resolve().parent  # soak_app.py and soak_clients.py, run from here
CLK_TCK = os.sysconf("SC_CLK_TCK")
MAX_GROWTH = 0.15  # RSS after warm-up may grow this much at most


class Typed(str):
    """Text typed into a box, character by character (not a tmux key name)."""


# What a person presses, one action every ``key_every`` seconds, round and round: tmux key names
# and Typed text, or ("resize", columns, lines).
ACTIONS: list[Any] = [
    ["d"], ["d"], ["d"],  # sent only, received only, both
    ["t"], ["t"], ["t"], ["t"], ["t"],  # text, binary, control, logs, all
    ["p"], ["p"],  # ping/pong hidden, shown
    ["/", Typed("seq"), "Enter"],  # a text filter
    ["x"], ["x"],  # as a regex, and back
    ["Escape"],
    ["s", Typed('"seq": 17'), "Enter"], ["n"], ["n"], ["N"],  # a search, next, previous
    ["Up"] * 30, ["PPage"], ["PPage"], ["NPage"],  # paused, scrolled up while rows go
    ["g"], ["Down"] * 5,  # the oldest row, as the bound lets it go
    ["G"],  # following again
    ["c"], ["c"],  # this connection only, and all
    ["Tab"], ["Down"], ["Tab"],  # the connections table
    ["h"], ["h"], ["r"], ["r"],  # the detail pane's views
    ("resize", 80, 24), ("resize", 120, 30), ("resize", 160, 45),
    [Typed("?")], ["Escape"],  # the help
    ["C-l"],  # clear
    ["Escape"], ["G"],
]  # fmt: skip


@dataclass
class SoakConfig:
    seconds: float = 40.0  # the main phase, keys pressed throughout
    max_frames: int = 20_000
    rate: float = 2_500.0  # messages a second in all, each echoed: 5,000 frames a second
    clients: int = 4
    final_messages: int = 1_500  # the last phase: echoes per connection...
    final_connections: int = 3  # ...and connections per client (at least: see __post_init__)
    key_every: float = 1.0
    sample_every: float = 1.0

    def __post_init__(self) -> None:
        # The last phase brings half as many frames again as the bound holds, so that it trims.
        # A connection keeps them all (2 frames an echo, under --max-messages 10,000): more
        # connections, not longer ones, where the bound is larger.
        needed = 1.5 * self.max_frames / (2 * self.final_messages * self.clients)
        self.final_connections = max(self.final_connections, math.ceil(needed))


@dataclass
class Sample:
    at: float  # seconds since the traffic began
    rss: dict[str, int]  # process name → RSS in KiB
    cpu: dict[str, float]  # process name → CPU seconds so far
    frames: int | None  # what the TUI's status line said
    let_go: int


@dataclass
class SoakReport:
    config: SoakConfig
    samples: list[Sample] = field(default_factory=list)
    trims: int = 0  # times the TUI's "let go" count went up
    keys: int = 0  # actions taken
    tui_exit_status: int | None = None
    screen_problem: str = ""  # a traceback, or the TUI gone, with the screen
    client_counts: dict[str, list[int]] = field(default_factory=dict)
    recorded: dict[str, dict[str, int]] = field(default_factory=dict)  # tag → {"received": n, "sent": n, "frames": n}
    final_status: tuple[int, int] = (0, 0)  # the TUI's frames and let go after the last phase
    final_recorded_frames: int = 0
    final_export: list[dict[str, Any]] = field(default_factory=list)
    final_recorded_texts: dict[str, list[tuple[str, str]]] = field(default_factory=dict)

    def growth(self, name: str) -> tuple[int, int, float]:
        """RSS (KiB) just after warm-up and at the end (the highest of a tenth of the main phase
        each), and the growth from one to the other. Warm-up: a third of it, 5 minutes at most."""
        seconds = self.config.seconds
        warm, window = min(300.0, seconds / 3), max(10.0, seconds / 10)
        early = max(s.rss[name] for s in self.samples if warm <= s.at < warm + window)
        late = max(s.rss[name] for s in self.samples if seconds - window <= s.at <= seconds)
        return early, late, late / early - 1

    def cpu_percent(self, name: str) -> float:
        main = [s for s in self.samples if s.at <= self.config.seconds]
        return 100 * (main[-1].cpu[name] - main[0].cpu[name]) / max(1e-9, main[-1].at - main[0].at)

    def summary(self) -> str:
        main = [sent + echoed for tag, (sent, echoed) in self.client_counts.items() if tag.endswith("phase=main")]
        lines = [
            f"soak: {self.config.seconds:.0f} s at {sum(main) / self.config.seconds:,.0f} frames/s (asked "
            f"{2 * self.config.rate:,.0f}), --max-frames {self.config.max_frames:,}: {self.trims} trims, "
            f"{self.keys} key actions, {len(main)} connections, {sum(main):,} frames",
        ]
        for name in ("tui", "app", "record"):
            early, late, growth = self.growth(name)
            lines.append(
                f"  {name:<6} RSS {early / 1024:6.1f} MiB after warm-up, {late / 1024:6.1f} MiB at the end "
                f"({growth:+.1%}); CPU {self.cpu_percent(name):.0f}%"
            )
        if self.config.seconds >= 600:  # a long soak: how memory went, every 5 minutes
            for name in ("tui", "app", "record"):
                steps = "  ".join(f"{at / 60:.0f}m {mib:.0f}" for at, mib in medians(self, name, 300))
                lines.append(f"  {name:<6} RSS MiB, median of each 5 min: {steps}")
        held = sum(len(c["messages"]) for c in self.final_export)
        lines.append(
            f"  last phase: the TUI says {self.final_status[0]:,} frames ({self.final_status[1]:,} let go), "
            f"holds {held:,}; the recording has {self.final_recorded_frames:,}"
        )
        return "\n".join(lines)


# -- the processes ---------------------------------------------------------------------------


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class Terminal:
    """A program in a detached tmux window on a tmux server of its own (nothing else's touched),
    its pane kept when the program ends so that what it printed last can be read."""

    def __init__(self, command: str, cwd: Path, size: tuple[int, int] = (160, 45)) -> None:
        self.server = f"wsisoak{os.getpid()}"
        self._tmux("new-session", "-d", "-s", "soak", "-x", str(size[0]), "-y", str(size[1]), cwd=cwd)
        self._tmux("set-option", "-t", "soak", "remain-on-exit", "on")
        # A size in the environment (pytest's COLUMNS) would override the terminal's own.
        self._tmux("respawn-pane", "-k", "-t", "soak", f"exec env -u COLUMNS -u LINES {command}", cwd=cwd)
        self.pid = int(self._tmux("display-message", "-p", "-t", "soak", "#{pane_pid}"))

    def _tmux(self, *args: str, cwd: Path | None = None) -> str:
        result = subprocess.run(["tmux", "-L", self.server, *args], capture_output=True, text=True, cwd=cwd)
        if result.returncode:
            raise RuntimeError(f"tmux {args[0]}: {result.stderr.strip()}")
        return result.stdout.rstrip("\n")

    def screen(self) -> str:
        return self._tmux("capture-pane", "-p", "-t", "soak")

    def press(self, *keys: str) -> None:
        """tmux key names (Enter, Up, C-l), and Typed text as it is."""
        for key in keys:
            self._tmux("send-keys", "-t", "soak", *(["-l", key] if isinstance(key, Typed) else [key]))

    def resize(self, columns: int, lines: int) -> None:
        self._tmux("resize-window", "-t", "soak", "-x", str(columns), "-y", str(lines))

    def exit_status(self) -> int | None:
        """None while the program runs, else its exit status (minus the signal that killed it)."""
        dead, status, killed = self._tmux(
            "display-message", "-p", "-t", "soak", "#{pane_dead}:#{pane_dead_status}:#{pane_dead_signal}"
        ).split(":")
        if dead != "1":
            return None
        return int(status) if status else -int(killed or 0)

    def close(self) -> None:
        with contextlib.suppress(RuntimeError):
            self._tmux("kill-server")


STATUS_FRAMES = re.compile(r"([\d,]+) frames?\b")
STATUS_LET_GO = re.compile(r"\(([\d,]+) let go")


def status_counts(screen: str) -> tuple[int | None, int]:
    """The frames and the let go the TUI's status line (its first line) says."""
    first = screen.splitlines()[0] if screen else ""
    frames, let_go = STATUS_FRAMES.search(first), STATUS_LET_GO.search(first)
    return (
        int(frames.group(1).replace(",", "")) if frames else None,
        int(let_go.group(1).replace(",", "")) if let_go else 0,
    )


class Soak:
    def __init__(self, directory: Path, config: SoakConfig) -> None:
        self.directory = directory
        self.config = config
        self.report = SoakReport(config)
        self.tui_socket = directory / "tui.sock"
        self.record_socket = directory / "record.sock"
        self.capture = directory / "capture.sqlite"
        self.exports = directory / "exports"
        self.exports.mkdir()
        self.pids: dict[str, int] = {}
        self._started = 0.0

    def run(self) -> SoakReport:
        with contextlib.ExitStack() as stack:
            record = self._start_record(stack)
            tui = Terminal(
                f"{sys.executable} -m wsinspect --socket {self.tui_socket} --max-frames {self.config.max_frames} "
                "--no-confirm",
                self.exports,
            )
            stack.callback(tui.close)
            self.pids["tui"] = tui.pid
            wait_until(
                lambda: "listening on" in tui.screen(), "the TUI's screen", patience=30, every=0.05, seen=tui.screen
            )
            port = self._start_app(stack)
            clients = self._start_clients(stack, port)
            self._started = time.monotonic()
            self._main_phase(tui, clients)
            if not self.report.screen_problem:
                self._final_phase(tui, clients, record)
        return self.report

    def _start_record(self, stack: contextlib.ExitStack) -> subprocess.Popen[str]:
        record = subprocess.Popen(
            [sys.executable, "-m", "wsinspect", "record", "--socket", str(self.record_socket), "-o", str(self.capture)],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, cwd=self.directory,
        )  # fmt: skip
        stack.callback(_end, record)
        wait_until(self.record_socket.exists, "record's socket", patience=30, every=0.05)
        self.pids["record"] = record.pid
        return record

    def _start_app(self, stack: contextlib.ExitStack) -> int:
        port = free_port()
        env = {**os.environ, "SOAK_TUI_SOCKET": str(self.tui_socket), "SOAK_RECORD_SOCKET": str(self.record_socket)}
        app = subprocess.Popen(
            [sys.executable, "-m", "uvicorn", "soak_app:app", "--app-dir", str(HELPERS), "--host", "127.0.0.1",
             "--port", str(port), "--log-level", "warning", "--no-access-log"],
            env=env, cwd=self.directory,
        )  # fmt: skip
        stack.callback(_end, app)

        def listening() -> bool:
            if app.poll() is not None:
                raise AssertionError(f"uvicorn ended with exit code {app.returncode}")
            with socket.socket() as sock:
                return sock.connect_ex(("127.0.0.1", port)) == 0

        wait_until(listening, "uvicorn", patience=30, every=0.05)
        self.pids["app"] = app.pid
        return port

    def _start_clients(self, stack: contextlib.ExitStack, port: int) -> subprocess.Popen[str]:
        clients = subprocess.Popen(
            [sys.executable, str(HELPERS / "soak_clients.py"), f"ws://127.0.0.1:{port}/ws", str(self.config.clients),
             str(self.config.rate)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, cwd=self.directory,
        )  # fmt: skip
        stack.callback(_end, clients)
        return clients

    # -- the main phase: traffic, keys, and an eye on the screen and the memory ----------------

    def _main_phase(self, tui: Terminal, clients: subprocess.Popen[str]) -> None:
        config, report = self.config, self.report
        next_key = next_sample = time.monotonic()
        let_go = 0
        while (now := time.monotonic()) - self._started < config.seconds:
            if now >= next_sample:
                next_sample += config.sample_every
                screen = self._look(tui)
                if screen is None:
                    return
                sample = self._sample(screen)
                if sample.let_go > let_go:
                    report.trims += 1
                let_go = sample.let_go
                if clients.poll() is not None:
                    raise AssertionError(f"the clients ended: {clients.stdout.read() if clients.stdout else ''}")
            if now >= next_key:
                next_key += config.key_every
                self._act(tui, ACTIONS[report.keys % len(ACTIONS)])
                report.keys += 1
            time.sleep(max(0.0, min(next_key, next_sample) - time.monotonic()))

    def _act(self, tui: Terminal, action: Any) -> None:
        if isinstance(action, tuple):
            tui.resize(action[1], action[2])
        else:
            tui.press(*action)

    def _look(self, tui: Terminal) -> str | None:
        """The TUI's screen; None, with the problem noted, when it shows a traceback or it ended."""
        screen = tui.screen()
        status = tui.exit_status()
        if status is not None or "Traceback" in screen:
            self.report.screen_problem = f"the TUI {'ended' if status is not None else 'shows a traceback'}:\n{screen}"
            return None
        return screen

    def _sample(self, screen: str) -> Sample:
        frames, let_go = status_counts(screen)
        sample = Sample(
            time.monotonic() - self._started,
            {name: rss_kib(pid) for name, pid in self.pids.items()},
            {name: cpu_seconds(pid) for name, pid in self.pids.items()},
            frames,
            let_go,
        )
        self.report.samples.append(sample)
        return sample

    # -- the last phase: counts that can be held to the recording --------------------------------

    def _final_phase(self, tui: Terminal, clients: subprocess.Popen[str], record: subprocess.Popen[str]) -> None:
        config, report = self.config, self.report
        tui.resize(160, 45)
        tui.press("Escape")
        tui.press("Escape")  # a text box open, then the filters and the search
        tui.press("G")
        _ask(clients, "pause", "paused")
        self._settled(tui)
        tui.press("C-l")
        wait_until(lambda: status_counts(tui.screen())[0] == 0, "the TUI to clear", patience=30, every=0.05)
        _ask(clients, f"final {config.final_messages} {config.final_connections}", "final-done", 600)
        report.final_status = self._settled(tui)
        self._sample(tui.screen())
        tui.press("e")
        report.final_export = self._export()
        report.client_counts = json.loads(_ask(clients, "stop"))
        record.send_signal(signal.SIGINT)
        record.wait(120)
        assert record.returncode == 0, record.stderr.read() if record.stderr else ""
        self._read_recording()
        if self._look(tui) is not None:
            tui.press("q")
            wait_until(lambda: tui.exit_status() is not None, "the TUI to quit", patience=30, every=0.05)
        report.tui_exit_status = tui.exit_status()

    def _settled(self, tui: Terminal) -> tuple[int, int]:
        """The TUI's frames and let go once they stopped changing (for 2 s)."""
        last: tuple[int | None, int] = (None, 0)
        still_since = time.monotonic()

        def settled() -> tuple[int, int] | None:
            nonlocal last, still_since
            counts = status_counts(tui.screen())
            if counts != last:
                last, still_since = counts, time.monotonic()
            elif counts[0] is not None and time.monotonic() - still_since >= 2.0:
                return counts[0], counts[1]
            return None

        return wait_until(settled, "the TUI's counts to settle", patience=120, every=0.2, seen=lambda: last)

    def _export(self) -> list[dict[str, Any]]:
        def written() -> bool:
            files = list(self.exports.glob("wsinspect-*.json"))
            if not files:
                return False
            try:
                self._exported = json.loads(files[0].read_text())
            except ValueError:  # still being written
                return False
            return True

        wait_until(written, "the TUI's export", patience=60, every=0.05)
        connections: list[dict[str, Any]] = self._exported["connections"]
        return connections

    def _read_recording(self) -> None:
        report = self.report
        with contextlib.closing(sqlite3.connect(f"file:{self.capture}?mode=ro", uri=True)) as db:
            for tag, direction, kind, count in db.execute(
                "SELECT c.query_string, f.direction, f.message_type, count(*) FROM frames f "
                "JOIN connections c ON c.id = f.connection GROUP BY 1, 2, 3"
            ):
                counts = report.recorded.setdefault(tag, {"received": 0, "sent": 0, "frames": 0})
                counts["frames"] += count
                if kind == "text":
                    counts[direction] += count
            for tag, direction, text in db.execute(
                "SELECT c.query_string, f.direction, f.text FROM frames f JOIN connections c ON c.id = f.connection "
                "WHERE c.query_string LIKE '%phase=final' AND f.message_type = 'text' ORDER BY f.id"
            ):
                report.final_recorded_texts.setdefault(tag, []).append((direction, text))
        report.final_recorded_frames = sum(
            counts["frames"] for tag, counts in report.recorded.items() if tag.endswith("phase=final")
        )


def _ask(clients: subprocess.Popen[str], command: str, answer: str | None = None, seconds: float = 120) -> str:
    """Give the clients a command and wait for its answer line."""
    assert clients.stdin is not None
    assert clients.stdout is not None
    clients.stdin.write(command + "\n")
    clients.stdin.flush()
    stdout = clients.stdout

    def answered() -> list[str]:
        """The next line, if it is the answer (a line at a time: readline waits for it)."""
        line = stdout.readline().strip()
        if not line and clients.poll() is not None:
            raise AssertionError(f"the clients ended (exit code {clients.returncode}) before answering {command!r}")
        if line.startswith("error"):
            raise AssertionError(f"a client failed: {line}")
        return [line] if answer is None or line == answer else []

    (line,) = wait_until(answered, f"the clients to answer {command!r}", patience=seconds, every=0)
    return line


def _end(process: subprocess.Popen[Any]) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


# -- what must hold ----------------------------------------------------------------------------


def check(report: SoakReport) -> None:
    """Every assertion of the soak, with what it measured in the messages."""
    assert not report.screen_problem, report.screen_problem
    assert report.tui_exit_status == 0, f"the TUI quit with exit status {report.tui_exit_status}"
    assert report.trims >= 24, f"only {report.trims} trims: the bound was not reached often enough"
    for name in ("tui", "app"):
        early, late, growth = report.growth(name)
        assert growth <= MAX_GROWTH, f"{name} grew from {early:,} KiB to {late:,} KiB after warm-up ({growth:+.1%})"
    # The recording: every message of every connection, both ways.
    assert set(report.recorded) == set(report.client_counts)
    for tag, (sent, echoed) in report.client_counts.items():
        recorded = report.recorded[tag]
        assert (recorded["received"], recorded["sent"]) == (sent, echoed), (tag, recorded, sent, echoed)
    # The TUI's last phase: each frame held or counted as let go, none lost on the way.
    frames, let_go = report.final_status
    assert frames == report.final_recorded_frames
    assert let_go > 0, "the last phase did not reach the bound"
    held = 0
    final = {tag for tag in report.recorded if tag.endswith("phase=final")}
    assert {c["query_string"] for c in report.final_export} == final
    for connection in report.final_export:
        tag, messages = connection["query_string"], connection["messages"]
        held += len(messages)
        assert connection["messages_lost"] == 0, connection
        assert len(messages) + connection["messages_not_kept"] == report.recorded[tag]["frames"], tag
        texts = [(m["direction"], m["content"]) for m in messages if m["message_type"] == "text"]
        recorded = report.final_recorded_texts[tag]
        assert texts == recorded[len(recorded) - len(texts) :], f"{tag}: not the newest frames"
    assert held == frames - let_go


@contextlib.contextmanager
def soak_directory() -> Iterator[Path]:
    """A short directory for the soak's sockets (AF_UNIX paths are limited to about 107 bytes)."""
    directory = Path(tempfile.mkdtemp(prefix="wsisoak-", dir="/tmp"))
    try:
        yield directory
    finally:
        shutil.rmtree(directory, ignore_errors=True)


def medians(report: SoakReport, name: str, every: float) -> list[tuple[float, float]]:
    """RSS (MiB) of ``name``, the median of each ``every`` seconds, for BENCHMARKS.md."""
    out: list[tuple[float, float]] = []
    start = 0.0
    while start < report.config.seconds:
        window = [s.rss[name] for s in report.samples if start <= s.at < start + every]
        if window:
            out.append((start + every, median(window) / 1024))
        start += every
    return out
