"""docs/deployment.md's "Which servers show what" (issue 16) and "What the client sees, server by server"
(issue 28), backed by real servers.

Each cell is one server running one app in a process of its own, the way users run them: uvicorn
with each of its WebSocket implementations, with and without wsinspect's protocol class
(``--ws wsinspect.uvicorn:…``), Hypercorn (``python -m hypercorn``) and Granian (``granian
--interface asgi``); the apps are Litestar with ``WSInspectPlugin``, and Starlette and FastAPI
wrapped in ``WSInspectMiddleware`` (``asgi_server_apps/``). Real ``websockets`` clients talk to
them over 127.0.0.1, and a real ``wsinspect record`` listens on a private Unix socket; the tests
read the session file it writes.

Plain uvicorn (``websockets-sansio``, ``wsproto``) with Litestar and the plugin is not repeated
here: ``test_uvicorn_integration.py`` covers its messages, closes by either side (with and without
a code), the drop (1006) and the handler's error (4500) under both implementations, and
``test_uvicorn_pingpong.py`` the protocol class's pings, pongs and keepalive timeout (with a raw
ASGI app).

Every cell runs the same conversations (``SCENARIOS``), one connection each, told apart by the
query string. All cells run at once, once per module (the ``results`` fixture); each test then
checks one thing of every cell against what the client saw and what the session file holds. What
a server reports differently (a client's close code, the close after a handler's error) is in
the tables below, as it is.

Issue 28's conversations (``ENDINGS``, ``FLOOD`` and ``SHUTDOWN``) check what wsinspect says the
client saw (``client_saw``) against what the client did see, and that a client that stops reading
while the app sends 50 MB marks the sends that waited (``send_waited``). ``SHUTDOWN`` parks a
connection in each cell before the cells are stopped with SIGTERM (what a process manager and
uvicorn's ``--reload`` send).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import msgspec
import pytest
from asgi_server_apps import FLOOD_MESSAGES, FLOOD_SIZE
from helpers.tui import make_app, select, text_of
from helpers.waiting import TimedOut, pilot_until, until
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from wsinspect.formatting import short_duration
from wsinspect.inspector.ui.lifecycle import LifecyclePanel
from wsinspect.model import SLOW_SEND, Connection, Frame
from wsinspect.sessions import read_session

TESTS = Path(__file__).resolve().parent
START_TIMEOUT = 30.0  # for a server process to answer (all of them start at once, on 2 cores)
CLIENT_TIMEOUT = 5.0  # for one conversation: a server that leaves the client hanging fails it
SETTLE_TIMEOUT = 10.0  # for the app to end its handlers and flush what they recorded
STOP_TIMEOUT = 15.0
POLL = 0.02

# -- the servers -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Server:
    name: str
    family: str  # "uvicorn", "hypercorn", "granian": what the tables below are keyed by
    command: tuple[str, ...]  # "{target}" is the app's import string, "{port}" the port
    ping_observable: bool = False

    def argv(self, target: str, port: int) -> list[str]:
        return [part.format(target=target, port=port) for part in self.command]


def _uvicorn(name: str, ws: str, *, observable: bool = False) -> Server:
    command = (sys.executable, "-m", "uvicorn", "{target}", "--host", "127.0.0.1", "--port", "{port}", "--ws", ws)
    return Server(name, "uvicorn", (*command, "--log-level", "warning", "--no-access-log"), observable)


SERVERS = {
    server.name: server
    for server in [
        _uvicorn("uvicorn-sansio", "websockets-sansio"),
        _uvicorn("uvicorn-wsproto", "wsproto"),
        _uvicorn("uvicorn-sansio+wsinspect", "wsinspect.uvicorn:SansIOWebSocketProtocol", observable=True),
        _uvicorn("uvicorn-wsproto+wsinspect", "wsinspect.uvicorn:WSProtoWebSocketProtocol", observable=True),
        Server(
            "hypercorn",
            "hypercorn",
            (sys.executable, "-m", "hypercorn", "--bind", "127.0.0.1:{port}", "--log-level", "warning", "{target}"),
        ),
        Server(
            "granian",
            "granian",
            (
                str(Path(sys.executable).with_name("granian")),
                *("--interface", "asgi", "--host", "127.0.0.1", "--port", "{port}", "--workers", "1"),
                *("--log-level", "warning", "{target}"),
            ),
        ),
    ]
}
FRAMEWORKS = ("litestar", "starlette", "fastapi")
# Every server with every app; the tests of plain uvicorn with Litestar are test_uvicorn_integration.py's
# (see above), but for issue 28's (what the client saw, a client that stops reading), held here.
CELLS = [(s, f) for s in SERVERS for f in FRAMEWORKS]
COVERED_ELSEWHERE = {("uvicorn-sansio", "litestar"), ("uvicorn-wsproto", "litestar")}
TESTED_CELLS = [cell for cell in CELLS if cell not in COVERED_ELSEWHERE]

# -- what each server reports ------------------------------------------------------------------

# The (close_code, close_reason) recorded when the client ends the connection, by how it ends.
# The recorded code is the one the server reports in ``websocket.disconnect``:
# - uvicorn passes on the code and the reason (ASGI 2.5's), and a drop as 1005 with no reason
#   key, which wsinspect records as 1006;
# - Hypercorn (0.18) reports every end the client makes as 1006: it reports 1000 only when the
#   app closed first, and never a reason;
# - Granian reports the code without the reason, and both a drop and a close frame without a
#   code as 1005 with no reason key, which wsinspect records as 1006 (it cannot tell them apart).
CLIENT_ENDS = ("close 1000", "close 4002", "close without a code", "drop")
RECORDED_CLIENT_END: dict[str, dict[str, tuple[int, str]]] = {
    "uvicorn": {
        "close 1000": (1000, ""),
        "close 4002": (4002, "client leaving"),
        "close without a code": (1005, ""),
        "drop": (1006, ""),
    },
    "hypercorn": {end: (1006, "") for end in CLIENT_ENDS},
    "granian": {
        "close 1000": (1000, ""),
        "close 4002": (4002, ""),
        "close without a code": (1006, ""),
        "drop": (1006, ""),
    },
}

# The close the client sees when a Starlette or FastAPI handler raises after the accept. The app
# sends none (so none is recorded): the server ends the connection its own way. uvicorn drops the
# TCP connection without a close frame (1006), Hypercorn sends 1011, Granian a close frame
# without a code (1005). Litestar catches the exception and closes with 4500 under every server.
SERVER_CLOSE_AFTER_AN_ERROR = {"uvicorn": (1006, ""), "hypercorn": (1011, ""), "granian": (1005, "")}
LITESTAR_CLOSE_AFTER_AN_ERROR = (4500, "Internal Server Error")

# -- the conversations -------------------------------------------------------------------------

SCENARIOS = ("messages", "client-close", "close-without-code", "app-close", "drop", "error")
MESSAGES: list[str | bytes] = ["hello", b"\x00\x01\xfe", "héllo ✓"]
# Issue 28's (see asgi_server_apps): how a connection ends when the client cannot see it from the app.
ENDINGS = ("deny", "raise-before-accept", "return", "late-close", "close-after-disconnect")
FLOOD = "flood"  # the app sends 50 MB to a client that reads nothing for PAUSE seconds, then everything
SHUTDOWN = "shutdown"  # a connection parked in the echo while the server stops
PAUSE = 2.0


@dataclass
class Seen:
    """What the client saw of one conversation."""

    received: list[str | bytes] = field(default_factory=list)
    close_code: int | None = None
    close_reason: str | None = None
    pong: bool = False  # the client's ping was answered
    # Issue 28's: the HTTP status of a refused upgrade; how it ended on the wire ("close 1011",
    # "close 1005" for a close frame without a code, "no close frame"); the flood's messages read.
    status: int | None = None
    ending: str | None = None
    read: int = 0


def client(url: str) -> Any:
    # No keepalive of the client's own: the only ping on the wire is the one "messages" sends.
    return connect(url, proxy=None, ping_interval=None, open_timeout=CLIENT_TIMEOUT, close_timeout=CLIENT_TIMEOUT)


async def converse(url: str, scenario: str) -> Seen:
    seen = Seen()
    async with asyncio.timeout(CLIENT_TIMEOUT), client(url) as ws:
        if scenario == "messages":
            for message in MESSAGES:
                await ws.send(message)
                seen.received.append(await ws.recv())
            await (await ws.ping(b"p1"))
            seen.pong = True
            await ws.close(1000)
        elif scenario == "client-close":
            await ws.send("abc")
            seen.received.append(await ws.recv())
            await ws.close(4002, "client leaving")
        elif scenario == "close-without-code":
            await ws.send("abc")
            seen.received.append(await ws.recv())
            # ws.close() always sends a code; send an empty close frame through the sans-I/O protocol.
            ws.protocol.send_close()
            ws.transport.write(b"".join(ws.protocol.data_to_send()))
            await ws.wait_closed()
        elif scenario == "app-close":
            await ws.send("close:4001:bye")
            with pytest.raises(ConnectionClosed):
                seen.received.append(await ws.recv())
        elif scenario == "drop":
            await ws.send(b"\x01\x02")
            seen.received.append(await ws.recv())
            ws.transport.abort()  # no close frame: the TCP connection just goes away
            return seen
        elif scenario == "error":
            await ws.send("abc")
            seen.received.append(await ws.recv())
            await ws.send("boom")
            with pytest.raises(ConnectionClosed):
                seen.received.append(await ws.recv())
        else:  # pragma: no cover
            raise AssertionError(scenario)
    seen.close_code, seen.close_reason = ws.close_code, ws.close_reason
    return seen


def ending_of(ws: Any) -> str:
    """How the connection ended as the client saw it on the wire."""
    frame = ws.protocol.close_rcvd
    return "no close frame" if frame is None else f"close {frame.code}"


async def converse_ending(cell: Cell, scenario: str, http: httpx.AsyncClient) -> Seen:
    """One of issue 28's conversations (ENDINGS and FLOOD), and how it ended for the client."""
    seen = Seen()
    try:
        ws = await (flood_client(cell) if scenario == FLOOD else client(cell.url(scenario)))
    except InvalidStatus as refused:
        seen.status = refused.response.status_code
        return seen
    async with asyncio.timeout(CLIENT_TIMEOUT + PAUSE):
        if scenario == "return":
            await ws.send("x")
        elif scenario == "late-close":
            await ws.send("wait")
            await ws.close(1000)  # the client leaves; then the app, not having read it, closes
            response = await http.get(f"http://127.0.0.1:{cell.port}/_release", params={"key": query(cell, scenario)})
            assert response.status_code == 204
        elif scenario == "close-after-disconnect":
            await ws.close(1000)
        elif scenario == FLOOD:
            await asyncio.sleep(PAUSE)  # reads nothing meanwhile: the app's sends wait
            while seen.read < FLOOD_MESSAGES:
                await ws.recv()
                seen.read += 1
            await ws.close(1000)
        with contextlib.suppress(ConnectionClosed):
            while True:
                seen.received.append(await ws.recv())
    seen.ending = ending_of(ws)
    return seen


async def flood_client(cell: Cell) -> Any:
    """A client on a small receive window that stops reading (max_queue 1): the server's buffers
    fill within a few MB, whatever the machine's TCP autotuning. No compression: the bytes sent
    are the bytes the app sent."""
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 16)
    sock.setblocking(False)
    await asyncio.get_running_loop().sock_connect(sock, ("127.0.0.1", cell.port))
    return await connect(
        cell.url(FLOOD),
        sock=sock,
        proxy=None,
        ping_interval=None,
        open_timeout=CLIENT_TIMEOUT,
        close_timeout=CLIENT_TIMEOUT,
        max_queue=1,
        max_size=None,
        compression=None,
    )


def query(cell: Cell, scenario: str) -> str:
    return cell.url(scenario).partition("?")[2]


# -- running the cells -------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass
class Cell:
    server: Server
    framework: str
    port: int
    process: subprocess.Popen[bytes]
    log: Path
    pid: int | None = None  # of the process the app runs in
    seen: dict[str, Seen] = field(default_factory=dict)

    def url(self, scenario: str) -> str:
        return f"ws://127.0.0.1:{self.port}/ws?cell={self.server.name}-{self.framework}&scenario={scenario}"

    def failure(self, what: str) -> AssertionError:
        return AssertionError(f"{self.server.name}-{self.framework}: {what}; its output:\n{self.log.read_text()}")


def start_cell(server: Server, framework: str, socket_path: Path, logs: Path) -> Cell:
    port = free_port()
    log = logs / f"{server.name}-{framework}.log"
    # The apps' package, then the run's own path (the checkout under test, when it is not installed).
    pythonpath = os.pathsep.join(filter(None, [str(TESTS), os.environ.get("PYTHONPATH")]))
    env = {**os.environ, "WSINSPECT_SOCKET": str(socket_path), "PYTHONPATH": pythonpath}
    with log.open("wb") as out:
        process = subprocess.Popen(
            server.argv(f"asgi_server_apps.{framework}_app:app", port),
            cwd=TESTS,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # a group of its own: its workers (Hypercorn's, Granian's) go with it
        )
    return Cell(server, framework, port, process, log)


async def state(cell: Cell, http: httpx.AsyncClient) -> dict[str, Any] | None:
    """The app's ``/_state`` (see ``asgi_server_apps``), or None while nothing answers."""
    if cell.process.poll() is not None:
        raise cell.failure(f"the server exited with {cell.process.returncode}")
    try:
        response = await http.get(f"http://127.0.0.1:{cell.port}/_state")
    except httpx.TransportError:
        return None
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()
    return result


async def poll_state(
    cell: Cell, http: httpx.AsyncClient, done: Callable[[Any], bool], patience: float, what: str
) -> dict[str, Any]:
    try:
        last = await until(lambda: state(cell, http), done, what=what, patience=patience, every=POLL)
    except TimedOut as timeout:
        raise cell.failure(str(timeout)) from None
    assert last is not None
    return last


async def run_cell(cell: Cell) -> None:
    """Wait for the server, hold every conversation, then for the app to have streamed them all."""
    async with httpx.AsyncClient(trust_env=False, timeout=CLIENT_TIMEOUT) as http:
        first = await poll_state(cell, http, lambda s: s is not None, START_TIMEOUT, "the app to answer")
        cell.pid = first["pid"]
        for scenario in SCENARIOS:
            try:
                cell.seen[scenario] = await converse(cell.url(scenario), scenario)
            except Exception as exc:
                raise cell.failure(f"conversation {scenario!r} failed: {exc!r}") from exc
        for scenario in (*ENDINGS, FLOOD):
            try:
                cell.seen[scenario] = await converse_ending(cell, scenario, http)
            except Exception as exc:
                raise cell.failure(f"conversation {scenario!r} failed: {exc!r}") from exc
        count = len(SCENARIOS) + len(ENDINGS) + 1
        settled = {
            "pid": cell.pid,
            "handlers_running": 0,
            "connections": count,
            "closed": count,
            "live": True,
            "flushed": True,
        }
        await poll_state(
            cell, http, lambda s: s == settled, SETTLE_TIMEOUT, f"{count} ended handlers, streamed to the inspector"
        )


async def park(cell: Cell) -> Any:
    """A connection in the echo, once the app streamed it: the one the server's stop ends."""
    ws = await client(cell.url(SHUTDOWN))
    await ws.send("abc")
    await ws.recv()
    count = len(SCENARIOS) + len(ENDINGS) + 2
    async with httpx.AsyncClient(trust_env=False, timeout=CLIENT_TIMEOUT) as http:
        await poll_state(
            cell, http, lambda s: s["connections"] == count and s["flushed"], SETTLE_TIMEOUT, "the parked connection"
        )
    return ws


async def shut_down(cells: list[Cell]) -> None:
    """Stop every server with SIGTERM while a connection is open, and note how each client saw it end."""
    parked = await asyncio.gather(*(park(cell) for cell in cells))
    for cell in cells:
        cell.process.send_signal(signal.SIGTERM)

    async def ended(cell: Cell, ws: Any) -> None:
        async with asyncio.timeout(STOP_TIMEOUT):
            with contextlib.suppress(ConnectionClosed):
                while True:
                    await ws.recv()
        cell.seen[SHUTDOWN] = Seen(ending=ending_of(ws))

    await asyncio.gather(*(ended(cell, ws) for cell, ws in zip(cells, parked, strict=True)))


def stop(*processes: subprocess.Popen[Any]) -> None:
    """End processes this module started: SIGINT, then SIGKILL (a server with its workers)."""
    for process in processes:
        if process.poll() is None:
            process.send_signal(signal.SIGINT)
    for process in processes:
        try:
            process.wait(STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                if os.getpgid(process.pid) == process.pid:  # a server, leading its own group
                    os.killpg(process.pid, signal.SIGKILL)
                else:
                    process.kill()
            process.wait(STOP_TIMEOUT)


@dataclass
class Results:
    cells: dict[tuple[str, str], Cell]
    recorded: dict[tuple[str, str, str], Connection]  # (server, framework, scenario) → its connection
    record_log: str

    def cell(self, server: str, framework: str) -> tuple[Server, Cell, dict[str, Connection]]:
        """The server, what its clients saw, and its recorded connections by scenario."""
        by_scenario = {s: c for (sv, fw, s), c in self.recorded.items() if (sv, fw) == (server, framework)}
        return SERVERS[server], self.cells[server, framework], by_scenario


@pytest.fixture(scope="module")
def results() -> Iterator[Results]:
    """Every cell served and talked to at once, recorded by one ``wsinspect record``."""
    directory = Path(tempfile.mkdtemp(prefix="wsi-", dir="/tmp"))  # AF_UNIX paths are short
    socket_path, output = directory / "inspector.sock", directory / "session.json"
    recorder = subprocess.Popen(
        [sys.executable, "-m", "wsinspect", "record", "--socket", str(socket_path), "-o", str(output)],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    cells: list[Cell] = []
    try:
        assert recorder.stderr is not None
        first = recorder.stderr.readline()
        assert "recording on" in first, first
        cells = [start_cell(SERVERS[server], framework, socket_path, directory) for server, framework in CELLS]

        async def run_all() -> None:
            await asyncio.gather(*(run_cell(cell) for cell in cells))
            await shut_down(cells)

        asyncio.run(run_all())
        stop(*(cell.process for cell in cells))
        recorder.send_signal(signal.SIGINT)
        _, record_log = recorder.communicate(timeout=STOP_TIMEOUT)
        assert recorder.returncode == 0, record_log
        recorded: dict[tuple[str, str, str], Connection] = {}
        for conn in read_session(output).connections:
            query = dict(part.split("=", 1) for part in conn.query_string.split("&"))
            server, framework = query["cell"].rsplit("-", 1)
            key = (server, framework, query["scenario"])
            assert key not in recorded, f"recorded twice: {key}"
            recorded[key] = conn
        yield Results({(c.server.name, c.framework): c for c in cells}, recorded, record_log)
    finally:
        stop(*(cell.process for cell in cells), recorder)
        for child in directory.iterdir():
            child.unlink()
        directory.rmdir()


def frames(conn: Connection, *kinds: str) -> list[tuple[Any, ...]]:
    """The connection's frames (of these kinds, or all) as (direction, type, content, close code)."""
    return [
        (f.direction, f.message_type, f.content, f.close_code)
        for f in conn.messages
        if not kinds or f.message_type in kinds
    ]


def reply_to(message: str | bytes) -> str | bytes:
    return message[::-1]


def data_type(message: str | bytes) -> str:
    return "text" if isinstance(message, str) else "binary"


def size_of(message: str | bytes) -> int:
    return len(message.encode() if isinstance(message, str) else message)


def _parametrize(cells: list[tuple[str, str]]) -> pytest.MarkDecorator:
    return pytest.mark.parametrize(("server_name", "framework"), cells, ids=[f"{s}-{f}" for s, f in cells])


parametrize_cells = _parametrize(TESTED_CELLS)
every_cell = _parametrize(CELLS)  # issue 28's

# -- the tests ---------------------------------------------------------------------------------


def test_every_conversation_is_recorded_once_by_the_process_that_served_it(results: Results) -> None:
    every = (*SCENARIOS, *ENDINGS, FLOOD, SHUTDOWN)
    expected = {(server, framework, scenario) for server, framework in CELLS for scenario in every}
    assert set(results.recorded) == expected
    assert f"wrote {len(expected)} connections" in results.record_log
    for (server, framework, scenario), conn in results.recorded.items():
        cell = results.cells[server, framework]
        assert (conn.path, conn.app, conn.pid) == ("/ws", framework, cell.pid)
        assert conn.pid != os.getpid()
        # Granian stops without ending its handlers: the app never hears of the end (see below).
        assert conn.state == ("open" if (scenario, cell.server.family) == (SHUTDOWN, "granian") else "closed")
        assert conn.messages_dropped == 0


@parametrize_cells
def test_text_and_binary_messages_both_ways(results: Results, server_name: str, framework: str) -> None:
    _, cell, recorded = results.cell(server_name, framework)
    seen, conn = cell.seen["messages"], recorded["messages"]
    assert seen.received == [reply_to(m) for m in MESSAGES]
    transcript: list[tuple[Any, ...]] = []
    for message in MESSAGES:
        transcript.append(("received", data_type(message), message, None))
        transcript.append(("sent", data_type(message), reply_to(message), None))
    assert frames(conn, "text", "binary") == transcript
    assert [f.size_bytes for f in conn.messages if f.message_type in ("text", "binary")] == [
        size_of(t[2]) for t in transcript
    ]
    assert (conn.messages_received, conn.messages_sent) == (len(MESSAGES), len(MESSAGES))
    assert conn.bytes_received == conn.bytes_sent == sum(size_of(m) for m in MESSAGES)
    assert conn.accepted_at is not None
    assert conn.error is None


@parametrize_cells
def test_ping_observable(results: Results, server_name: str, framework: str) -> None:
    """Only uvicorn with wsinspect's protocol class hands pings and pongs over; the client's ping
    is answered by every server either way."""
    server, cell, recorded = results.cell(server_name, framework)
    assert cell.seen["messages"].pong is True
    assert {scenario: conn.ping_observable for scenario, conn in recorded.items()} == dict.fromkeys(
        recorded, server.ping_observable
    )
    client_ping = [("received", "ping", b"p1", None), ("sent", "pong", b"p1", None)]
    assert frames(recorded["messages"], "ping", "pong") == (client_ping if server.ping_observable else [])


@parametrize_cells
def test_the_app_closes_with_a_code_and_reason(results: Results, server_name: str, framework: str) -> None:
    _, cell, recorded = results.cell(server_name, framework)
    seen, conn = cell.seen["app-close"], recorded["app-close"]
    assert (seen.received, seen.close_code, seen.close_reason) == ([], 4001, "bye")
    assert (conn.closed_by, conn.close_code, conn.close_reason, conn.error) == ("server", 4001, "bye", None)
    assert frames(conn) == [("received", "text", "close:4001:bye", None), ("sent", "close", "bye", 4001)]


@parametrize_cells
@pytest.mark.parametrize(
    ("scenario", "end", "sent"),
    [
        pytest.param("messages", "close 1000", (1000, ""), id="1000"),
        pytest.param("client-close", "close 4002", (4002, "client leaving"), id="4002"),
        pytest.param("close-without-code", "close without a code", (1005, ""), id="no-code"),
    ],
)
def test_the_client_closes(
    results: Results, server_name: str, framework: str, scenario: str, end: str, sent: tuple[int, str]
) -> None:
    server, cell, recorded = results.cell(server_name, framework)
    seen, conn = cell.seen[scenario], recorded[scenario]
    # Every server answers the client's close frame with the same code and reason.
    assert (seen.close_code, seen.close_reason) == sent
    code, reason = RECORDED_CLIENT_END[server.family][end]
    assert (conn.closed_by, conn.close_code, conn.close_reason, conn.error) == ("client", code, reason, None)
    assert frames(conn)[-1] == ("received", "close", reason, code)
    assert conn.disconnected_at is not None


@parametrize_cells
def test_the_client_drops_the_connection(results: Results, server_name: str, framework: str) -> None:
    server, cell, recorded = results.cell(server_name, framework)
    seen, conn = cell.seen["drop"], recorded["drop"]
    assert seen.received == [b"\x02\x01"]
    code, reason = RECORDED_CLIENT_END[server.family]["drop"]
    assert (conn.closed_by, conn.close_code, conn.close_reason, conn.error) == ("client", code, reason, None)
    assert frames(conn) == [
        ("received", "binary", b"\x01\x02", None),
        ("sent", "binary", b"\x02\x01", None),
        ("received", "close", "", code),
    ]


@parametrize_cells
def test_the_handler_raises(results: Results, server_name: str, framework: str) -> None:
    server, cell, recorded = results.cell(server_name, framework)
    seen, conn = cell.seen["error"], recorded["error"]
    assert seen.received == ["cba"]
    assert conn.error == f"ValueError: boom in {framework}"
    assert conn.closed_by == "server"
    # The traceback reaches the handler's own line, innermost last.
    innermost = conn.traceback[-1]
    assert Path(innermost.file).name == f"{framework}_app.py"
    assert (innermost.function, innermost.code, innermost.app) == (
        f"{framework}_echo",
        f'raise ValueError("boom in {framework}")',
        True,
    )
    messages = [("received", "text", "abc", None), ("sent", "text", "cba", None), ("received", "text", "boom", None)]
    if framework == "litestar":
        # Litestar turns the exception into a close of its own, which the app sends: recorded.
        assert (seen.close_code, seen.close_reason) == LITESTAR_CLOSE_AFTER_AN_ERROR
        assert (conn.close_code, conn.close_reason) == LITESTAR_CLOSE_AFTER_AN_ERROR
        assert frames(conn) == [*messages, ("sent", "close", "Internal Server Error", 4500)]
    else:
        # The server ends the connection on its own: the app sent no close, so none is recorded.
        assert (seen.close_code, seen.close_reason) == SERVER_CLOSE_AFTER_AN_ERROR[server.family]
        assert (conn.close_code, conn.close_reason) == (None, None)
        assert frames(conn) == messages


# -- issue 28: what the client saw, and a client that stops reading ----------------------------

# How each server ends a connection whose handler ended after the accept without a close, raising
# or returning (they do the same): uvicorn drops the TCP connection, Hypercorn sends 1011, Granian
# a close frame without a code.
ENDED_WITHOUT_CLOSE = {"uvicorn": "no close frame", "hypercorn": "close 1011", "granian": "close 1005"}
# The HTTP status of an upgrade whose Starlette or FastAPI handler raised before the accept (the
# exception reaches the server; Litestar closes first, which every server answers with 403).
FAILED_BEFORE_ACCEPT = {"uvicorn": 500, "hypercorn": 500, "granian": 403}
# What the client saw when it closed first and the app closed later without having read its close:
# uvicorn and Hypercorn answer the client's close at once; Granian closes the TCP connection.
CLIENT_CLOSED_FIRST = {"uvicorn": "close 1000", "hypercorn": "close 1000", "granian": "no close frame"}
# How a connection parked in the handler ends when its server gets SIGTERM.
STOPPED = {"uvicorn": "close 1012", "hypercorn": "close 1011", "granian": "no close frame"}
BROWSER_REFUSED = "(a browser reports close 1006)"
LOST_CLOSE = "nothing of the app's close {}: it had left (never delivered)"


def says(client_saw: str | None, seen: Seen) -> bool:
    """Whether wsinspect's ``client_saw`` names what the client saw on the wire."""
    if client_saw is None:
        return False
    if seen.status is not None:
        return client_saw == f"HTTP {seen.status} {BROWSER_REFUSED}"
    if seen.ending == "no close frame":
        return "no close frame" in client_saw and "1006" in client_saw
    if seen.ending == "close 1005":
        return "without a code" in client_saw and "1005" in client_saw
    return seen.ending is not None and client_saw.startswith(seen.ending)


@every_cell
def test_a_close_before_the_accept_is_an_http_403(results: Results, server_name: str, framework: str) -> None:
    _, cell, recorded = results.cell(server_name, framework)
    seen, conn = cell.seen["deny"], recorded["deny"]
    assert seen.status == 403
    assert says(conn.client_saw, seen)
    assert (conn.denial_status, conn.closed_by, conn.accepted_at) == (403, "server", None)


@every_cell
def test_an_exception_before_the_accept(results: Results, server_name: str, framework: str) -> None:
    server, cell, recorded = results.cell(server_name, framework)
    seen, conn = cell.seen["raise-before-accept"], recorded["raise-before-accept"]
    assert seen.status == (403 if framework == "litestar" else FAILED_BEFORE_ACCEPT[server.family])
    assert says(conn.client_saw, seen)
    assert conn.error == f"ValueError: refused in {framework}"


@every_cell
def test_an_exception_after_the_accept_is_the_servers_close_or_litestars(
    results: Results, server_name: str, framework: str
) -> None:
    server, cell, recorded = results.cell(server_name, framework)
    seen, conn = cell.seen["error"], recorded["error"]
    if framework == "litestar":  # its own 4500, which the app sent: the client saw what the app did
        assert conn.client_saw is None
    else:
        assert ending_of_close(seen) == ENDED_WITHOUT_CLOSE[server.family]
        assert says(conn.client_saw, Seen(ending=ENDED_WITHOUT_CLOSE[server.family]))


def ending_of_close(seen: Seen) -> str:
    """``converse``'s close code as ending_of names it (it has no close frame of its own)."""
    return {1006: "no close frame"}.get(seen.close_code or 0, f"close {seen.close_code}")


@every_cell
def test_a_handler_that_returns_without_a_close(results: Results, server_name: str, framework: str) -> None:
    server, cell, recorded = results.cell(server_name, framework)
    seen, conn = cell.seen["return"], recorded["return"]
    assert seen.ending == ENDED_WITHOUT_CLOSE[server.family]
    assert says(conn.client_saw, seen)
    assert (conn.close_code, conn.closed_by, conn.error) == (None, "server", None)


@every_cell
def test_a_close_the_app_sends_after_the_client_left(results: Results, server_name: str, framework: str) -> None:
    server, cell, recorded = results.cell(server_name, framework)
    # The app heard the client leave, then closed (a `finally: close()`): never delivered, whatever
    # the server. Litestar drops that close itself and closes with 1000 as the handler returns.
    seen, conn = cell.seen["close-after-disconnect"], recorded["close-after-disconnect"]
    assert seen.ending == "close 1000"
    assert conn.client_saw == LOST_CLOSE.format(1000 if framework == "litestar" else 4001)
    # The app closed without having read the client's close: uvicorn refuses the send (so the app
    # can know); Hypercorn and Granian take it, and the app cannot tell: nothing is said.
    seen, conn = cell.seen["late-close"], recorded["late-close"]
    assert seen.ending == CLIENT_CLOSED_FIRST[server.family]
    if server.family == "uvicorn":
        assert conn.client_saw == LOST_CLOSE.format(4001)
        assert conn.closed_by == "client"
    else:
        assert conn.client_saw is None
        assert (conn.closed_by, conn.close_code) == ("server", 4001)  # what the app did, all it knows


@every_cell
def test_the_server_stops_with_a_connection_open(results: Results, server_name: str, framework: str) -> None:
    server, cell, recorded = results.cell(server_name, framework)
    seen, conn = cell.seen[SHUTDOWN], recorded[SHUTDOWN]
    assert seen.ending == STOPPED[server.family]
    if server.family == "uvicorn":
        # uvicorn sends 1012 and hands the app a disconnect with it: neither client nor app chose it.
        assert (conn.close_code, conn.closed_by) == (1012, "server")
        assert conn.client_saw == "close 1012 Service Restart, sent by uvicorn as it shut down or reloaded"
    elif server.family == "hypercorn":
        assert conn.error == "cancelled"  # it cancels the handler, then sends 1011
        assert says(conn.client_saw, seen)
    else:  # Granian stops without telling the handler: the app never learns how it ended
        assert conn.client_saw is None


@every_cell
def test_a_client_that_stops_reading_marks_the_sends_that_waited(
    results: Results, server_name: str, framework: str
) -> None:
    _, cell, recorded = results.cell(server_name, framework)
    seen, conn = cell.seen[FLOOD], recorded[FLOOD]
    assert (seen.read, seen.ending) == (FLOOD_MESSAGES, "close 1000")
    sent = [f for f in conn.messages if f.direction == "sent" and f.message_type == "binary"]
    assert [f.size_bytes for f in sent] == [FLOOD_SIZE] * FLOOD_MESSAGES
    waited = [f.send_waited for f in sent if f.send_waited is not msgspec.UNSET]
    assert waited, "no send waited on a client that read nothing"
    assert min(waited) >= SLOW_SEND
    assert max(waited) >= PAUSE / 2  # a send waited through most of the client's pause
    assert all(f.send_waited is msgspec.UNSET for f in conn.messages if f not in sent)
    assert conn.send_waited_max == max(waited)
    assert conn.send_waited_total == pytest.approx(sum(waited))
    assert conn.client_saw is None


async def test_the_inspector_marks_the_slow_client_and_says_what_the_client_saw(results: Results) -> None:
    """The recorded session in the inspector: the row that waited, the slow connection, the refusal."""
    wanted = ("uvicorn-sansio", "starlette")
    connections = [c for (s, f, sc), c in results.recorded.items() if (s, f) == wanted and sc in (FLOOD, "deny")]
    flood, deny = sorted(connections, key=lambda c: c.query_string.endswith("deny"))
    app = make_app(connections=[flood, deny])
    async with app.run_test(size=(160, 45)) as pilot:
        row = await select(pilot, lambda r: isinstance(r[1], Frame) and r[1].send_waited is not msgspec.UNSET)
        frame = row[1]
        assert isinstance(frame, Frame)
        assert frame.send_waited is not msgspec.UNSET
        waited = f"waited {short_duration(frame.send_waited)} to send"
        assert any(waited in line and "binary" in line for line in text_of(app.timeline).splitlines())
        table = text_of(app.table).splitlines()
        mark = f"▲ waited {short_duration(flood.send_waited_total)}"
        assert [line.split()[1] for line in table if mark in line] == ["c1"]  # the flood, not the refusal (c2)
        await select(pilot, lambda r: r[0] == deny.connection_id)
        panel = app.query_one(LifecyclePanel)
        await pilot_until(pilot, lambda: "client saw" in text_of(panel), "the refusal in the lifecycle panel")
        shown = " ".join(text_of(panel).replace("│", "").split())  # its lines wrap to the panel's width
        assert "upgrade denied by the app: HTTP 403 client saw HTTP 403 (a browser reports" in shown
