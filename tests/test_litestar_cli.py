"""``litestar wsinspect`` and ``litestar wsinspect record``: the plugin's commands in Litestar's CLI,
on the socket the app streams to."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from click.testing import CliRunner
from helpers.waiting import wait_until
from litestar.cli.main import litestar_group

from wsinspect import litestar as plugin_module

APP = """
from litestar import Litestar, WebSocket, websocket
from wsinspect import WSInspectConfig
from wsinspect.litestar import WSInspectPlugin


@websocket("/ws")
async def echo(socket: WebSocket) -> None:
    await socket.accept()
    await socket.send_text(await socket.receive_text())
    await socket.close()


app = Litestar([echo], plugins=[WSInspectPlugin(WSInspectConfig(socket_path={socket!r}))])
"""


def write_app(directory: Path, socket: Path) -> None:
    (directory / "cliapp.py").write_text(textwrap.dedent(APP.format(socket=str(socket))))


@pytest.fixture
def ran(monkeypatch: pytest.MonkeyPatch) -> list[list[str]]:
    """The ``wsinspect`` commands the plugin would run (each exits 7 here)."""
    calls: list[list[str]] = []

    def run(arguments: list[str]) -> int:
        calls.append(list(arguments))
        return 7

    monkeypatch.setattr(plugin_module, "run_wsinspect", run)
    return calls


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def invoke(tmp_path: Path, *args: str) -> tuple[int, str]:
    result = CliRunner().invoke(litestar_group, ["--app-dir", str(tmp_path), "--app", "cliapp:app", *args])
    return result.exit_code, result.output


def test_litestar_wsinspect_opens_the_inspector_on_the_app_socket(tmp_path: Path, ran: list[list[str]]) -> None:
    socket = tmp_path / "run" / "inspector.sock"
    write_app(tmp_path, socket)
    code, output = invoke(tmp_path, "wsinspect")
    assert (code, ran) == (7, [["--socket", str(socket)]]), output
    code, output = invoke(tmp_path, "wsinspect", "record", "-o", "session.json")
    assert code == 7, output
    assert ran[-1] == ["record", "--socket", str(socket), "-o", "session.json"]


def test_the_commands_say_what_they_do(tmp_path: Path, ran: list[list[str]]) -> None:
    write_app(tmp_path, tmp_path / "i.sock")
    code, output = invoke(tmp_path, "wsinspect", "--help")
    assert code == 0
    assert "Watch this app's WebSocket traffic live" in output
    assert "record" in output
    code, output = invoke(tmp_path, "wsinspect", "record")
    assert code == 2  # -o is required, as for wsinspect record
    assert ran == []


def test_litestar_wsinspect_record_records_the_app_until_ctrl_c(tmp_path: Path) -> None:
    """Real processes: ``litestar wsinspect record``, the app under uvicorn, a websockets client;
    Ctrl-C (SIGINT to the terminal's process group) stops the recording, which writes its file."""
    socket_dir = tmp_path / "run"
    socket_dir.mkdir(mode=0o700)
    write_app(tmp_path, socket_dir / "i.sock")
    output = tmp_path / "session.json"
    # The app's directory, then the run's own path (the checkout under test, when it is not installed).
    pythonpath = os.pathsep.join(filter(None, [str(tmp_path), os.environ.get("PYTHONPATH")]))
    env = {**os.environ, "PYTHONPATH": pythonpath}
    litestar = [sys.executable, "-m", "litestar", "--app-dir", str(tmp_path), "--app", "cliapp:app"]
    recording = subprocess.Popen(
        [*litestar, "wsinspect", "record", "-o", str(output)],
        cwd=tmp_path,
        env=env,
        start_new_session=True,
        stderr=subprocess.PIPE,
        text=True,
    )
    server = None
    try:
        wait_until((socket_dir / "i.sock").exists, "the recording to listen", patience=30, every=0.05)
        port = free_port()
        server = subprocess.Popen(
            [sys.executable, "-m", "uvicorn", "cliapp:app", "--port", str(port), "--log-level", "warning"],
            cwd=tmp_path,
            env=env,
        )
        client = textwrap.dedent(f"""
            import asyncio, time
            from websockets.asyncio.client import connect

            async def main():
                deadline = time.monotonic() + 30
                while True:
                    try:
                        async with connect("ws://127.0.0.1:{port}/ws") as ws:
                            await ws.send("hello")
                            assert await ws.recv() == "hello"
                            return
                    except OSError:
                        assert time.monotonic() < deadline
                        await asyncio.sleep(0.1)

            asyncio.run(main())
        """)
        subprocess.run([sys.executable, "-c", client], check=True, timeout=60)
        time.sleep(1.0)  # the app's writer sends within a slice; the recording takes it in
        os.killpg(recording.pid, signal.SIGINT)
        _, errors = recording.communicate(timeout=30)
    finally:
        if recording.poll() is None:
            os.killpg(recording.pid, signal.SIGKILL)
        if server is not None:
            server.terminate()
            server.wait(10)
    assert recording.returncode == 0, errors
    assert "wrote 1 connection" in errors
    (connection,) = json.loads(output.read_text())["connections"]
    assert connection["path"] == "/ws"
    assert [(m["direction"], m["content"]) for m in connection["messages"] if m["message_type"] == "text"] == [
        ("received", "hello"),
        ("sent", "hello"),
    ]
