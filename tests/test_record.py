"""End to end: a real uvicorn server with the plugin, a real websockets client, and
`wsinspect record` in a subprocess. The file must match what the client saw, frame for frame."""

from __future__ import annotations

import asyncio
import gzip
import io
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from helpers.recording import Recording, echo
from helpers.servers import run_server
from helpers.waiting import until
from litestar import Litestar
from websockets.asyncio.client import connect

from wsinspect import WSInspectConfig
from wsinspect.commands.progress import ProgressLine
from wsinspect.litestar import WSInspectPlugin
from wsinspect.model import Connection, Frame
from wsinspect.sessions import base as sessions_base
from wsinspect.sessions import read_session


@pytest.fixture
def recording(private_socket: Path, tmp_path: Path) -> Iterator[Recording]:
    rec = Recording(private_socket, tmp_path / "session.json")
    yield rec
    if rec.process.poll() is None:
        rec.process.kill()
        rec.process.wait()


async def flushed(plugin: WSInspectPlugin, server: Any, closed: int) -> None:
    """Wait until the app holds ``closed`` closed connections and its emitter has sent everything."""
    emitter = plugin.recorder.emitter
    assert emitter is not None

    def state() -> tuple[int, bool]:
        held = plugin.recorder.connections()
        return sum(c.state == "closed" for c in held), emitter.live

    await until(lambda: server.call(state), lambda s: s == (closed, True), what="the closes, streamed live")
    assert await asyncio.to_thread(emitter.flush, 5.0), "the emitter did not flush"


async def test_record_matches_the_client_transcript(recording: Recording) -> None:
    plugin = WSInspectPlugin(WSInspectConfig(app_name="e2e"))
    app = Litestar([echo], plugins=[plugin])
    transcript: list[tuple[str, str, Any]] = []
    with run_server(app) as server:
        async with connect(server.ws_url("/ws/echo?x=1")) as ws:
            for payload in ["hello", "", "héllo wörld", b"\x00\x01\x02", b""]:
                await ws.send(payload)
                transcript.append(("received", "text" if isinstance(payload, str) else "binary", payload))
                reply = await ws.recv()
                transcript.append(("sent", "text" if isinstance(reply, str) else "binary", reply))
            await ws.send("bye")
            transcript.append(("received", "text", "bye"))
            await ws.wait_closed()
            assert (ws.close_code, ws.close_reason) == (4001, "bye")
        await flushed(plugin, server, closed=1)
        code, err = recording.stop()
    assert code == 0, err
    assert "wrote" in err
    assert "1 connection, 12 frames" in err
    session = read_session(recording.output)
    (conn,) = session.connections
    frames = [(f.direction, f.message_type, f.content) for f in conn.messages]
    assert frames == [*transcript, ("sent", "close", "bye")]
    assert (conn.path, conn.query_string, conn.state, conn.close_code, conn.closed_by) == (
        "/ws/echo",
        "x=1",
        "closed",
        4001,
        "server",
    )
    assert (conn.app, conn.pid) == ("e2e", os.getpid())
    assert (conn.messages_received, conn.messages_sent, conn.messages_dropped) == (6, 5, 0)


async def test_record_to_har_says_what_har_has_no_place_for(private_socket: Path, tmp_path: Path) -> None:
    output = tmp_path / "session.har"
    rec = Recording(private_socket, output)
    try:
        plugin = WSInspectPlugin(WSInspectConfig(app_name="e2e"))
        with run_server(Litestar([echo], plugins=[plugin])) as server:
            async with connect(server.ws_url("/ws/echo")) as ws:
                for payload in ["one", "two"]:
                    await ws.send(payload)
                    await ws.recv()
                await ws.send("bye")
                await ws.wait_closed()
            await flushed(plugin, server, closed=1)
            code, err = rec.stop()
    finally:
        if rec.process.poll() is None:
            rec.process.kill()
            rec.process.wait()
    assert code == 0, err
    # Five messages and the app's close frame: HAR holds the messages only, and the line says so.
    last = err.rstrip("\n").rsplit("\n", 1)[-1]
    assert last == f"wsinspect: wrote 1 connection, 5 frames of 6 to {output} (1 close has no place in HAR)"
    (conn,) = read_session(output).connections
    assert [f.content for f in conn.messages] == ["one", "ONE", "two", "TWO", "bye"]
    assert conn.close_code == 4001  # the close itself is kept as metadata


async def test_two_producer_processes_into_one_recorder(recording: Recording, tmp_path: Path) -> None:
    script = tmp_path / "producer.py"
    script.write_text(PRODUCER)
    procs = await asyncio.gather(
        *(
            asyncio.to_thread(
                subprocess.run,
                [sys.executable, str(script), name, str(recording.socket_path)],
                capture_output=True,
                text=True,
                timeout=60,
            )
            for name in ("alpha", "beta")
        )
    )
    for proc in procs:
        assert proc.returncode == 0, proc.stderr
    code, err = recording.stop()
    assert code == 0, err
    session = read_session(recording.output)
    by_app = {c.app: c for c in session.connections}
    assert set(by_app) == {"alpha", "beta"}
    assert by_app["alpha"].pid != by_app["beta"].pid
    for name, conn in by_app.items():
        received = [f.content for f in conn.messages if f.direction == "received" and f.message_type == "text"]
        assert received == [f"{name}-{i}" for i in range(50)], (
            conn.messages_dropped,
            conn.messages_not_kept,
            conn.messages_lost,
            conn.messages[:3],
        )
        assert conn.state == "closed"


# A separate app process: a raw ASGI app wrapped by the middleware, driven in process, that
# waits for its emitter to connect and flush before exiting.
PRODUCER = """
import asyncio, sys, time
from wsinspect import WSInspectConfig, WSInspectMiddleware

name, socket_path = sys.argv[1], sys.argv[2]

async def app(scope, receive, send):
    await receive()
    await send({"type": "websocket.accept"})
    while True:
        message = await receive()
        if message["type"] == "websocket.disconnect":
            return
        await send({"type": "websocket.send", "text": message["text"]})

async def main():
    middleware = WSInspectMiddleware(app, WSInspectConfig(socket_path=socket_path, app_name=name))
    incoming = [{"type": "websocket.connect"}]
    incoming += [{"type": "websocket.receive", "text": f"{name}-{i}"} for i in range(50)]
    incoming += [{"type": "websocket.disconnect", "code": 1000}]
    async def receive():
        return incoming.pop(0)
    async def send(message):
        pass
    emitter = middleware.recorder.emitter
    emitter.start()
    deadline = time.monotonic() + 10
    while not emitter.live and time.monotonic() < deadline:
        await asyncio.sleep(0.01)
    await middleware({"type": "websocket", "path": "/ws"}, receive, send)
    emitter.flush(10)
    emitter.stop()

asyncio.run(main())
"""


def test_a_recording_whose_directory_vanished_is_rescued(private_socket: Path, tmp_path: Path) -> None:
    directory = tmp_path / "gone"
    directory.mkdir()
    rec = Recording(private_socket, directory / "session.json")
    try:
        shutil.rmtree(directory)  # the journal with it
        code, err = rec.stop()
    finally:
        if rec.process.poll() is None:
            rec.process.kill()
    assert code == 1
    assert "saved the session to" in err
    rescued = Path(err.rsplit("saved the session to ", 1)[1].split(" instead")[0])
    try:
        assert read_session(rescued).connections == []
    finally:
        rescued.unlink()


async def test_record_to_json_gz_and_har_gz(private_socket: Path, tmp_path: Path) -> None:
    outputs = [tmp_path / "session.json.gz", tmp_path / "session.har.gz"]
    recordings = [Recording(private_socket.with_name(f"{n}.sock"), output) for n, output in enumerate(outputs)]
    try:
        plugins = [
            WSInspectPlugin(WSInspectConfig(app_name="e2e", socket_path=str(rec.socket_path))) for rec in recordings
        ]
        with (
            run_server(Litestar([echo], plugins=plugins[:1])) as first,
            run_server(Litestar([echo], plugins=plugins[1:])) as second,
        ):
            for server in (first, second):
                async with connect(server.ws_url("/ws/echo")) as ws:
                    await ws.send("one")
                    await ws.recv()
                    await ws.send("bye")
                    await ws.wait_closed()
            await flushed(plugins[0], first, closed=1)
            await flushed(plugins[1], second, closed=1)
            results = [rec.stop() for rec in recordings]
    finally:
        for rec in recordings:
            if rec.process.poll() is None:
                rec.process.kill()
                rec.process.wait()
    for (code, err), output in zip(results, outputs, strict=True):
        assert code == 0, err
        assert output.read_bytes()[:2] == b"\x1f\x8b"
        assert f"to {output}" in err
        (conn,) = read_session(output).connections
        assert [f.content for f in conn.messages if f.message_type == "text"] == ["one", "ONE", "bye"]
    assert json.loads(gzip.decompress(outputs[1].read_bytes()))["log"]["version"] == "1.2"


# -- the progress of a long write ------------------------------------------------------------------


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_shows_nothing_in_the_first_second_then_lines_of_their_own() -> None:
    out, clock = io.StringIO(), Clock()
    progress = ProgressLine(out, "writing x.json", "frames", clock=clock)
    progress(0, 1_000_000)
    clock.now += 0.9
    progress(300_000, 1_000_000)
    assert out.getvalue() == ""
    clock.now += 0.2
    progress(400_000, 1_000_000)
    clock.now += 0.5
    progress(600_000, 1_000_000)  # within a second of the last line: not shown
    clock.now += 0.6
    progress(800_000, 1_000_000)
    clock.now += 0.1
    progress(1_000_000, 1_000_000)  # the end always shows
    progress.close()
    assert out.getvalue().splitlines() == [
        "wsinspect: writing x.json… 40% (400,000 of 1,000,000 frames)",
        "wsinspect: writing x.json… 80% (800,000 of 1,000,000 frames)",
        "wsinspect: writing x.json… 100% (1,000,000 of 1,000,000 frames)",
    ]


def test_progress_on_a_terminal_rewrites_one_line_and_ends_it() -> None:
    out, clock = Terminal(), Clock()
    progress = ProgressLine(out, "reading x.json.gz", "bytes", clock=clock)
    clock.now += 1.5
    progress(512 * 1024, 2 * 1024 * 1024)
    clock.now += 0.1
    progress(2 * 1024 * 1024, 2 * 1024 * 1024)
    progress.close()
    assert out.getvalue() == (
        "\r\x1b[Kwsinspect: reading x.json.gz… 25% (512.0 KB of 2.0 MB)"
        "\r\x1b[Kwsinspect: reading x.json.gz… 100% (2.0 MB of 2.0 MB)\n"
    )
    quick = Terminal()
    progress = ProgressLine(quick, "reading y.json", "bytes", clock=clock)
    progress(10, 10)
    progress.close()
    assert quick.getvalue() == ""  # nothing shown, no line ended


def test_record_writes_with_progress_lines_when_it_takes_long(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import wsinspect.commands.progress as progress_line
    import wsinspect.commands.record as headless

    monkeypatch.setattr(progress_line, "PROGRESS_AFTER", 0.0)  # as if it took over a second
    monkeypatch.setattr(progress_line, "PROGRESS_LOG_EVERY", 0.0)
    monkeypatch.setattr(sessions_base, "PROGRESS_EVERY", 0.0)
    frames = [Frame(direction="sent", message_type="text", content="x", timestamp=1.0, size_bytes=1)] * 40_000
    out = io.StringIO()
    path = tmp_path / "x.json.gz"
    written = headless._write(path, [Connection(connection_id="c", path="/ws", connected_at=1.0, messages=frames)], out)
    assert written.frames == 40_000
    lines = out.getvalue().splitlines()
    assert lines[0] == f"wsinspect: writing {path}… 0% (0 of 40,000 frames)"
    assert lines[-1] == f"wsinspect: writing {path}… 100% (40,000 of 40,000 frames)"
    assert len(lines) >= 4
