"""The README's "Which servers show what", backed by real servers (issue 16).

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
import pytest
from helpers.waiting import TimedOut, until
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from wsinspect.model import Connection
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
# Plain uvicorn with Litestar is test_uvicorn_integration.py's (see above).
COVERED_ELSEWHERE = {("uvicorn-sansio", "litestar"), ("uvicorn-wsproto", "litestar")}
CELLS = [(s, f) for s in SERVERS for f in FRAMEWORKS if (s, f) not in COVERED_ELSEWHERE]
CELL_IDS = [f"{server}-{framework}" for server, framework in CELLS]

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


@dataclass
class Seen:
    """What the client saw of one conversation."""

    received: list[str | bytes] = field(default_factory=list)
    close_code: int | None = None
    close_reason: str | None = None
    pong: bool = False  # the client's ping was answered


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
        count = len(SCENARIOS)
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


parametrize_cells = pytest.mark.parametrize(("server_name", "framework"), CELLS, ids=CELL_IDS)

# -- the tests ---------------------------------------------------------------------------------


def test_every_conversation_is_recorded_once_by_the_process_that_served_it(results: Results) -> None:
    expected = {(server, framework, scenario) for server, framework in CELLS for scenario in SCENARIOS}
    assert set(results.recorded) == expected
    assert f"wrote {len(expected)} connections" in results.record_log
    for (server, framework, _), conn in results.recorded.items():
        cell = results.cells[server, framework]
        assert (conn.path, conn.app, conn.pid) == ("/ws", framework, cell.pid)
        assert conn.pid != os.getpid()
        assert conn.state == "closed"
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
        SCENARIOS, server.ping_observable
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
