"""The name an app goes by in the inspector when ``app_name`` is not set (issue 27): the server, as
it was started, ``python -m uvicorn`` as much as the ``uvicorn`` script, workers included.

Each case is a real server run the way users run it, in a process of its own, serving a Litestar
app with ``WSInspectPlugin()`` to a real ``websockets`` client; the inspector's socket server and
store listen in this process, and the test reads the name they show.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from helpers.servers import free_port, server_process
from helpers.waiting import until
from websockets.asyncio.client import connect

from wsinspect.capture.emitter import default_app_name
from wsinspect.inspector.core.store import Store

APP = """\
from litestar import Litestar, WebSocket, websocket

from wsinspect.litestar import WSInspectPlugin


@websocket("/ws")
async def echo(socket: WebSocket) -> None:
    await socket.accept()
    await socket.send_text(await socket.receive_text())
    await socket.close()


app = Litestar([echo], plugins=[WSInspectPlugin()])
"""
PYTHON = sys.executable
BIN = Path(sys.executable).parent  # the scripts installed beside this Python: uvicorn, granian, litestar
HOST = ("--host", "127.0.0.1")
GRANIAN = ("--interface", "asgi", *HOST, "--port", "{port}", "app:app")

# How each server is started ({port} is its port), and the name the inspector should show.
LAUNCHES = {
    "python -m uvicorn": ([PYTHON, "-m", "uvicorn", "app:app", *HOST, "--port", "{port}"], "uvicorn"),
    "uvicorn": ([str(BIN / "uvicorn"), "app:app", *HOST, "--port", "{port}"], "uvicorn"),
    # Its workers are spawned processes: sys.argv is the parent's, with uvicorn's __main__.py first.
    "python -m uvicorn --workers 2": (
        [PYTHON, "-m", "uvicorn", "app:app", *HOST, "--port", "{port}", "--workers", "2"],
        "uvicorn",
    ),
    "python -m hypercorn": ([PYTHON, "-m", "hypercorn", "--bind", "127.0.0.1:{port}", "app:app"], "hypercorn"),
    "granian": ([str(BIN / "granian"), "--interface", "asgi", *HOST, "--port", "{port}", "app:app"], "granian"),
    "python -m granian": (
        [PYTHON, "-m", "granian", "--interface", "asgi", *HOST, "--port", "{port}", "app:app"],
        "granian",
    ),
    "litestar run": ([str(BIN / "litestar"), "--app", "app:app", "run", *HOST, "--port", "{port}"], "litestar run"),
}


@pytest.mark.parametrize("launch", list(LAUNCHES))
async def test_the_app_is_named_after_the_server_however_it_was_started(
    listening_store: Store, tmp_path: Path, launch: str
) -> None:
    (tmp_path / "app.py").write_text(APP)
    command, name = LAUNCHES[launch]
    port = free_port()
    argv = [part.format(port=port) for part in command]
    async with server_process(argv, cwd=tmp_path, port=port):
        async with connect(f"ws://127.0.0.1:{port}/ws", proxy=None, open_timeout=10) as ws:
            await ws.send("hi")
            assert await ws.recv() == "hi"
        (connection,) = await until(
            listening_store.connections,
            lambda held: len(held) == 1 and held[0].state == "closed",
            what="the connection, closed",
            patience=20,
        )
    assert connection.app == name
    # The timeline's (and record's) line for the process that streamed it.
    assert f"{name} (pid {connection.pid}) connected" in [event.text for event in listening_store.system_events]


@pytest.mark.parametrize(
    ("argv", "name"),
    [
        (["/venv/bin/uvicorn", "app:app"], "uvicorn"),
        (["/venv/lib/python3.12/site-packages/uvicorn/__main__.py", "app:app"], "uvicorn"),
        (["/venv/bin/fastapi", "dev", "main.py"], "fastapi dev"),
        (["/venv/bin/litestar", "--app", "app:app", "run", "--reload"], "litestar run"),
        (["/venv/bin/litestar", "--app", "app:app", "wsinspect"], "litestar"),
        (["/srv/app.py"], "app.py"),
        (["-c"], "python"),
        ([""], "python"),
        ([], "python"),
    ],
)
def test_the_name_read_from_the_command_line(argv: list[str], name: str) -> None:
    assert default_app_name(argv) == name


def test_a_package_run_with_m_is_named_by_its_dotted_name(tmp_path: Path) -> None:
    main = tmp_path / "site" / "tools" / "serve" / "__main__.py"
    main.parent.mkdir(parents=True)
    for package in (main.parent, main.parent.parent):
        (package / "__init__.py").write_text("")
    main.write_text("")
    assert default_app_name([str(main), "--port", "8000"]) == "tools.serve"
