"""Where the app's code is, as the inspector shows it (issue 27): a traceback's files and the
handler's location are relative to the app's working directory when under it (``app.py:16``),
absolute otherwise, alike in the session file, the detail pane and the lifecycle panel.

A real app in a directory of its own, run by a real ``python -m uvicorn`` in a process of its own
(from that directory, or from another one with ``--app-dir``), a real ``websockets`` client whose
message makes the handler raise, and the inspector's socket server and store in this process.
"""

from __future__ import annotations

import sys
import textwrap
from pathlib import Path

import pytest
from helpers.servers import free_port, server_process
from helpers.waiting import until
from websockets.asyncio.client import connect

from wsinspect.inspector.core.store import Store
from wsinspect.inspector.ui.lifecycle import _handler_lines
from wsinspect.inspector.ui.tracebacks import traceback_text
from wsinspect.model import Connection

APP = """\
from litestar import Litestar, WebSocket, websocket

from wsinspect.litestar import WSInspectPlugin

from jobs.work import run


@websocket("/ws")
async def handler(socket: WebSocket) -> None:
    await socket.accept()
    await socket.receive_text()
    run()


app = Litestar([handler], plugins=[WSInspectPlugin()])
"""
HANDLER_LINE = 8  # the decorator's
WORK = """\
def run() -> None:
    raise ValueError("the job failed")
"""


@pytest.fixture
def userapp(tmp_path: Path) -> Path:
    """The app's directory: ``app.py`` and its package ``jobs``."""
    directory = tmp_path / "userapp"
    (directory / "jobs").mkdir(parents=True)
    (directory / "app.py").write_text(textwrap.dedent(APP))
    (directory / "jobs" / "__init__.py").write_text("")
    (directory / "jobs" / "work.py").write_text(WORK)
    return directory


async def failed_connection(store: Store, cwd: Path, *app_dir: str) -> Connection:
    """Serve ``app:app`` with ``python -m uvicorn`` from ``cwd``, make its handler raise, and return
    the connection as the inspector holds it."""
    port = free_port()
    argv = [sys.executable, "-m", "uvicorn", "app:app", *app_dir, "--port", str(port), "--log-level", "warning"]
    async with server_process(argv, cwd=cwd, port=port):
        async with connect(f"ws://127.0.0.1:{port}/ws", proxy=None, open_timeout=10) as ws:
            await ws.send("go")
            await ws.wait_closed()
        (connection,) = await until(
            store.connections,
            lambda held: len(held) == 1 and held[0].state == "closed" and bool(held[0].traceback),
            what="the failed connection, with its traceback",
            patience=20,
        )
    return connection


def shown_files(connection: Connection) -> list[str]:
    """The detail pane's traceback lines that name a file (the library frames are folded)."""
    return [line for line in traceback_text(connection.traceback).plain.splitlines() if ".py:" in line]


async def test_the_apps_files_are_relative_to_its_working_directory(listening_store: Store, userapp: Path) -> None:
    connection = await failed_connection(listening_store, userapp)
    assert connection.error == "ValueError: the job failed"
    own = [(entry.file, entry.line, entry.function) for entry in connection.traceback if entry.app]
    assert own == [("app.py", 12, "handler"), ("jobs/work.py", 2, "run")]
    assert connection.handler == "app.handler"
    assert connection.handler_location == f"app.py:{HANDLER_LINE}"
    # The detail pane and the lifecycle panel say the same.
    assert shown_files(connection) == ["  app.py:12 in handler", "  jobs/work.py:2 in run"]
    assert _handler_lines(connection, 200) == f"handler app.handler (app.py:{HANDLER_LINE}) route /ws"


async def test_the_apps_files_outside_its_working_directory_are_absolute(
    listening_store: Store, userapp: Path, tmp_path: Path
) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    connection = await failed_connection(listening_store, elsewhere, "--app-dir", str(userapp))
    own = [(entry.file, entry.line) for entry in connection.traceback if entry.app]
    assert own == [(str(userapp / "app.py"), 12), (str(userapp / "jobs" / "work.py"), 2)]
    assert connection.handler_location == f"{userapp / 'app.py'}:{HANDLER_LINE}"
    assert shown_files(connection) == [
        f"  {userapp / 'app.py'}:12 in handler",
        f"  {userapp / 'jobs/work.py'}:2 in run",
    ]
    assert _handler_lines(connection, 400) == f"handler app.handler ({userapp / 'app.py'}:{HANDLER_LINE}) route /ws"
