"""1,000 concurrent connections through a real uvicorn server with the plugin, an inspector listening.

The app (uvicorn serving a Litestar echo app with ``WSInspectPlugin()``, defaults) runs in a process
of its own, so that its memory is its own: read from ``/proc/PID/status``. The inspector (an
``InspectorServer`` with a ``Store``) and the 1,000 ``websockets`` clients run in this process.

Every connection must be recorded, each with its frames, none left open once they all closed; the
inspector must still take a new connection's frames while the 1,000 are open; the app's memory is
measured (printed: run with ``-s``) and checked only against a bound that would catch a leak.
"""

from __future__ import annotations

import asyncio
import json
import resource
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from helpers.waiting import until
from websockets.asyncio.client import ClientConnection, connect

from wsinspect.inspector.core.store import ConnectionEntry, Store
from wsinspect.inspector.server import InspectorServer

pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="reads the app's memory from /proc")


CONNECTIONS = 1_000
MESSAGES = 3  # each client sends this many and gets each back before the next
HANDSHAKES_AT_ONCE = 100  # opening handshakes in flight at a time; all the connections stay open
FILES_NEEDED = CONNECTIONS + 500  # a socket per connection, and room for the rest
# A bound that catches a leak, not a budget: 1,000 connections with a few small frames each take
# some 32 MB here, uvicorn's and Litestar's own ~25 MB included (bench/memory.py measures both).
MEMORY_GROWTH_BOUND_MB = 200
PATIENCE = 45.0  # how long to wait for the inspector or the app to catch up: a safety net, not a timing


def message(i: int, k: int) -> str:
    """A ~100-byte JSON text, one of a kind."""
    return json.dumps({"type": "update", "client": i, "seq": k, "body": "x" * 40}, separators=(",", ":"))


# The app: a script of its own, so its process holds nothing of the test's. It raises its own
# limit on open files, serves on a free port of 127.0.0.1, prints the port, and also answers
# GET /held with the states of the connections its recorder holds.
SERVER = """
import resource, socket, sys
from collections import Counter

needed = int(sys.argv[1])
soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
if soft != resource.RLIM_INFINITY and soft < needed:
    resource.setrlimit(resource.RLIMIT_NOFILE, (needed if hard == resource.RLIM_INFINITY else min(needed, hard), hard))

import uvicorn
from litestar import Litestar, WebSocket, get, websocket
from wsinspect.litestar import WSInspectPlugin

plugin = WSInspectPlugin()


@websocket("/ws/echo")
async def echo(socket: WebSocket) -> None:
    await socket.accept()
    while True:
        message = await socket.receive()
        if message["type"] == "websocket.disconnect":
            return
        await socket.send_text(message["text"])


@get("/held")
async def held() -> dict:
    return {
        "open": len(plugin.recorder._open),
        "states": dict(Counter(c.state for c in plugin.recorder.connections())),
    }


sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
sock.bind(("127.0.0.1", 0))
sock.listen(2048)  # connections from now on wait for uvicorn to take them
print(sock.getsockname()[1], resource.getrlimit(resource.RLIMIT_NOFILE)[0], flush=True)
config = uvicorn.Config(
    Litestar([echo, held], plugins=[plugin]),
    ws="websockets-sansio",
    log_level="warning",
    access_log=False,
    backlog=2048,
    timeout_graceful_shutdown=5,
)
uvicorn.Server(config).run(sockets=[sock])
"""


class AppProcess:
    """The app's process: where it listens, its memory, and its stop."""

    def __init__(self, script: Path, log: Path) -> None:
        self.log = log.open("w")
        self.process = subprocess.Popen(
            [sys.executable, str(script), str(FILES_NEEDED)], stdout=subprocess.PIPE, stderr=self.log, text=True
        )
        assert self.process.stdout is not None
        port, files = self.process.stdout.readline().split()
        self.port = int(port)
        self.files = int(files)

    def url(self, path: str) -> str:
        return f"ws://127.0.0.1:{self.port}{path}"

    def memory_mb(self) -> tuple[float, float]:
        """Its resident set now and at its highest (VmRSS, VmHWM), in MB."""
        fields = dict(line.split(":", 1) for line in Path(f"/proc/{self.process.pid}/status").read_text().splitlines())
        return tuple(int(fields[name].split()[0]) / 1024 for name in ("VmRSS", "VmHWM"))  # type: ignore[return-value]

    async def held(self) -> dict[str, Any]:
        async with httpx.AsyncClient() as client:
            response = await client.get(f"http://127.0.0.1:{self.port}/held", timeout=PATIENCE)
            response.raise_for_status()
            held: dict[str, Any] = response.json()
            return held

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.log.close()


@pytest.fixture
def open_files() -> Iterator[None]:
    """This process may open a socket per connection (the clients) and more."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY or soft >= FILES_NEEDED:
        yield
        return
    if hard != resource.RLIM_INFINITY and hard < FILES_NEEDED:
        pytest.skip(f"needs {FILES_NEEDED} open files; the hard limit is {hard}")
    resource.setrlimit(resource.RLIMIT_NOFILE, (FILES_NEEDED, hard))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


def tally(store: Store) -> Counter[tuple[str, int]]:
    """How many connections the inspector holds in each state with each number of frames."""
    return Counter((entry.connection.state, len(entry.frames)) for entry in store.entries.values())


def by_query(store: Store, query: str) -> list[ConnectionEntry]:
    return [entry for entry in store.entries.values() if entry.connection.query_string == query]


async def open_client(url: str, gate: asyncio.Semaphore) -> ClientConnection:
    async with gate:
        return await connect(url, open_timeout=PATIENCE, ping_interval=None, compression=None, proxy=None)


async def converse(ws: ClientConnection, i: int) -> None:
    for k in range(MESSAGES):
        await ws.send(message(i, k))
        assert await ws.recv() == message(i, k)


async def test_1000_concurrent_connections(private_socket: Path, tmp_path: Path, open_files: None) -> None:
    started = time.monotonic()
    store = Store()
    inspector = InspectorServer(store, private_socket)
    await inspector.start()
    script = tmp_path / "app.py"
    script.write_text(SERVER)
    app = AppProcess(script, tmp_path / "app.log")  # inherits WSINSPECT_SOCKET: it streams to the inspector
    sockets: list[ClientConnection] = []
    try:
        assert app.files >= FILES_NEEDED, f"the app may open {app.files} files only"
        # One connection first: what the first one loads (the emitter's thread, its link) is not
        # a cost per connection.
        async with await open_client(app.url("/ws/echo?warmup"), asyncio.Semaphore()) as ws:
            await converse(ws, -1)
        await until(
            lambda: tally(store),
            lambda t: t == {("closed", 2 * MESSAGES + 1): 1},
            patience=PATIENCE,
            what="the warm-up connection at the inspector",
        )
        before, _ = app.memory_mb()

        gate = asyncio.Semaphore(HANDSHAKES_AT_ONCE)
        sockets = list(
            await asyncio.gather(*(open_client(app.url(f"/ws/echo?i={i}"), gate) for i in range(CONNECTIONS)))
        )
        await asyncio.gather(*(converse(ws, i) for i, ws in enumerate(sockets)))
        opened = time.monotonic()

        # All 1,000 open at once: the inspector has each of them open, with its frames.
        await until(
            lambda: tally(store),
            lambda t: t[("open", 2 * MESSAGES)] == CONNECTIONS,
            patience=PATIENCE,
            what="1,000 open connections, each with its frames",
        )
        with_open, _ = app.memory_mb()
        # ... and it still takes a new connection's frames as they come.
        async with await open_client(app.url("/ws/echo?probe"), asyncio.Semaphore()) as probe:
            await probe.send("still there?")
            assert await probe.recv() == "still there?"
            await until(
                lambda: [[f.content for f in e.frames] for e in by_query(store, "probe")],
                lambda probes: probes == [["still there?"] * 2],
                patience=PATIENCE,
                what="the probe's frames at the inspector while 1,000 connections are open",
            )
        assert all(not ws.close_code for ws in sockets), "a connection closed before its time"

        await asyncio.gather(*(ws.close() for ws in sockets))
        await until(
            lambda: tally(store),
            lambda t: sum(n for (state, _), n in t.items() if state == "closed") == CONNECTIONS + 2,
            patience=PATIENCE,
            what="every close at the inspector",
        )
        held_by_app = await app.held()
        after, peak = app.memory_mb()
    finally:
        for ws in sockets:
            if ws.close_code is None:
                ws.transport.abort()
        app.stop()
        await inspector.close()

    # Every connection is recorded, each with its frames and its close, none left open.
    held = {entry.connection.query_string: entry.snapshot() for entry in store.entries.values()}
    assert len(held) == CONNECTIONS + 2, sorted(held)[:10]
    assert set(held) == {f"i={i}" for i in range(CONNECTIONS)} | {"warmup", "probe"}
    for i in range(CONNECTIONS):
        conn = held[f"i={i}"]
        assert (conn.state, conn.closed_by, conn.close_code) == ("closed", "client", 1000), conn
        frames = [(f.direction, f.message_type, f.content) for f in conn.messages]
        expected = [(d, "text", message(i, k)) for k in range(MESSAGES) for d in ("received", "sent")]
        assert frames == [*expected, ("received", "close", "")], conn
        assert (conn.messages_received, conn.messages_sent, conn.messages_dropped) == (MESSAGES, MESSAGES, 0)
    assert not [e.text for e in store.system_events if "dropped" in e.text]
    # The app holds none open either, and of the closed ones only its newest 50.
    assert held_by_app == {"open": 0, "states": {"closed": 50}}

    growth = with_open - before
    print(
        f"\napp memory (VmRSS): {before:.1f} MB before, {with_open:.1f} MB with {CONNECTIONS:,} open "
        f"({growth:+.1f} MB: {growth * 1000 / CONNECTIONS:.1f} MB per 1,000 connections with "
        f"{2 * MESSAGES} frames each), {after:.1f} MB after they closed, {peak:.1f} MB at the highest "
        f"(VmHWM); opened and conversed in {opened - started:.1f} s, {time.monotonic() - started:.1f} s in all"
    )
    assert growth < MEMORY_GROWTH_BOUND_MB, f"{growth:.0f} MB for {CONNECTIONS:,} connections"
    assert peak - before < MEMORY_GROWTH_BOUND_MB
    errors = (tmp_path / "app.log").read_text()
    assert "Traceback" not in errors, errors[-3000:]
    assert "wsinspect failed" not in errors, errors[-3000:]
