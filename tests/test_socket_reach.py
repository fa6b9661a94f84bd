"""When the app cannot reach the inspector, or loses it: the app goes on serving and says why, once.

The container recipe of docs/deployment.md is run for real, with what a container is made of: the app in
its own mount and host-name namespaces, the inspector's socket directory bind-mounted into it, and
the app run as the container's user.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import textwrap
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from helpers.asgi import Listener, converse
from helpers.factories import echo_app
from helpers.recording import Recording
from helpers.waiting import until, wait_until
from websockets.asyncio.client import connect

from wsinspect import WSInspectConfig, WSInspectMiddleware
from wsinspect.capture.emitter import Emitter
from wsinspect.paths import default_socket_path
from wsinspect.sessions import read_session

# wsinspect's pytest plugin leaves these tests of the socket machinery alone (see noxfile.py).
pytestmark = pytest.mark.no_wsinspect


def emitter_of(middleware: WSInspectMiddleware) -> Emitter:
    emitter = middleware.recorder.emitter
    assert emitter is not None
    return emitter


def warnings_of(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "wsinspect" and r.levelno >= logging.WARNING]


@pytest.fixture
def runtime_dir(monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A fresh ``XDG_RUNTIME_DIR``, so the default socket path is in wsinspect's own directory."""
    runtime = Path(tempfile.mkdtemp(prefix="wsr-", dir="/tmp"))
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(runtime))
    monkeypatch.delenv("WSINSPECT_SOCKET")
    yield runtime
    shutil.rmtree(runtime)


async def test_a_default_directory_that_is_not_private_is_named_once_and_streaming_starts_when_fixed(
    runtime_dir: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="wsinspect")
    path = default_socket_path()
    path.parent.mkdir(mode=0o755)
    os.chmod(path.parent, 0o755)  # as a forward's directory made by hand with the usual umask
    middleware = WSInspectMiddleware(echo_app, WSInspectConfig())
    emitter = emitter_of(middleware)
    emitter.start()
    try:
        await converse(middleware, ["served anyway"])
        await asyncio.to_thread(
            wait_until, lambda: emitter.connects == 0 and len(warnings_of(caplog)) == 1, "a warning"
        )
        await asyncio.sleep(0.3)  # several more tries, no more lines
        (line,) = warnings_of(caplog)
        assert line == (
            f"wsinspect: not streaming to {path}: refusing to use socket directory {path.parent}: its mode is "
            f"0755 but it must be private to you (run: chmod 700 {path.parent})"
        )

        os.chmod(path.parent, 0o700)
        listener = Listener(path)
        try:
            await asyncio.to_thread(wait_until, lambda: emitter.replays > 0, "the emitter to connect")
            await asyncio.to_thread(wait_until, lambda: listener.has(b"served anyway"), "the earlier frames, replayed")
        finally:
            listener.close()
        assert f"wsinspect: streaming to the inspector at {path}" in caplog.messages
        assert len(warnings_of(caplog)) == 1
    finally:
        emitter.stop()


async def test_a_lost_inspector_is_one_line_and_the_next_one_gets_the_stream(
    private_socket: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="wsinspect")
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(str(private_socket))
    listener.listen(1)
    middleware = WSInspectMiddleware(echo_app, WSInspectConfig())
    emitter = emitter_of(middleware)
    emitter.start()
    try:
        accepted, _ = await asyncio.to_thread(listener.accept)
        await asyncio.to_thread(wait_until, lambda: emitter.replays == 1, "the emitter to connect")
        assert warnings_of(caplog) == []
        # As an SSH forward that drops: the stream ends, the socket file stays, nobody listens.
        accepted.close()
        listener.close()
        await converse(middleware, ["while nobody listens"])
        await asyncio.to_thread(wait_until, lambda: not emitter.live and warnings_of(caplog), "the loss to be noticed")
        await asyncio.sleep(0.3)  # the retries that fail are not logged
        assert warnings_of(caplog) == [
            f"wsinspect: lost the inspector at {private_socket} (it closed the connection); "
            "the app goes on and streams again when one listens"
        ]

        private_socket.unlink()
        again = Listener(private_socket)
        streaming = f"wsinspect: streaming to the inspector at {private_socket}"
        try:
            await asyncio.to_thread(
                wait_until, lambda: again.has(b"while nobody listens"), "the replay to the next one"
            )
            # Said once the link has lasted (PROVEN_LINK): a forward with nobody behind it does not.
            await asyncio.to_thread(wait_until, lambda: streaming in caplog.messages, "the link to last")
        finally:
            again.close()
        assert caplog.messages.count(streaming) == 1
    finally:
        emitter.stop()


async def test_a_forward_with_no_inspector_behind_it_is_one_line_not_a_flood(
    private_socket: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """ssh -R still up, the inspector on the laptop gone: every connect succeeds, then closes at once."""
    caplog.set_level(logging.INFO, logger="wsinspect")
    forward = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    forward.bind(str(private_socket))
    forward.listen(8)
    forward.settimeout(0.1)
    closing = True

    def close_each() -> None:
        while closing:
            with contextlib.suppress(TimeoutError):
                forward.accept()[0].close()

    closer = threading.Thread(target=close_each, daemon=True)
    closer.start()
    middleware = WSInspectMiddleware(echo_app, WSInspectConfig())
    emitter = emitter_of(middleware)
    emitter.start()
    try:
        await converse(middleware, ["served"])
        await asyncio.sleep(3.0)
        # 50 ms, then twice as long each time up to 1 s: a handful of tries in 3 s, not hundreds.
        assert 2 <= emitter.connects <= 8
        assert [m for m in caplog.messages if "inspector" in m] == [
            f"wsinspect: lost the inspector at {private_socket} (it closed the connection); "
            "the app goes on and streams again when one listens"
        ]
    finally:
        closing = False
        emitter.stop()
        closer.join()
        forward.close()


# -- the container recipe -------------------------------------------------------------------------

CONTAINER_APP = """
from litestar import Litestar, WebSocket, websocket
from wsinspect import WSInspectConfig
from wsinspect.litestar import WSInspectPlugin


@websocket("/ws")
async def echo(socket: WebSocket) -> None:
    await socket.accept()
    async for text in socket.iter_data(mode="text"):
        await socket.send_text(text.upper())


app = Litestar([echo], plugins=[WSInspectPlugin(WSInspectConfig(app_name="shop"))])
"""
NOBODY = 65534


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class Container:
    """The app as a container runs it: its own host name and mounts, ``host_dir`` bind-mounted at
    ``/run/wsinspect`` (here a directory standing for it), ``WSINSPECT_SOCKET`` pointing into it,
    and the container's user ``uid``."""

    def __init__(self, host_dir: Path, app_dir: Path, uid: int) -> None:
        self.mount = app_dir / "run-wsinspect"  # the container's /run/wsinspect
        self.mount.mkdir(exist_ok=True)
        self.port = free_port()
        script = (
            'hostname box-1 && mount --bind "$HOST_DIR" "$MOUNT" && exec setpriv --reuid "$USER_ID" '
            '--regid "$USER_ID" --clear-groups "$PYTHON" -m uvicorn --app-dir "$APP_DIR" app:app --port "$PORT"'
        )
        env = {
            **os.environ,
            "HOST_DIR": str(host_dir),
            "MOUNT": str(self.mount),
            "USER_ID": str(uid),
            "PYTHON": sys.executable,
            "APP_DIR": str(app_dir),
            "PORT": str(self.port),
            "WSINSPECT_SOCKET": str(self.mount / "inspector.sock"),
        }
        self.process = subprocess.Popen(
            ["unshare", "--mount", "--uts", "--fork", "sh", "-c", script],
            env=env,
            stderr=subprocess.PIPE,
            text=True,
            start_new_session=True,  # unshare and the app in a group of their own, stopped together
        )

    async def echo(self, texts: list[str]) -> list[str]:
        """``texts`` sent on one connection, once the app listens, and its replies."""

        async def conversation() -> list[str] | None:
            try:
                async with connect(f"ws://127.0.0.1:{self.port}/ws") as ws:
                    replies = []
                    for text in texts:
                        await ws.send(text)
                        replies.append(str(await ws.recv()))
                    return replies
            except OSError:  # not listening yet
                assert self.process.poll() is None, f"the app exited {self.process.returncode}"
                return None

        replies = await until(conversation, lambda r: r is not None, what="the app to start", patience=20, every=0.1)
        assert replies is not None
        return replies

    def stop(self) -> str:
        """Stop the app (uvicorn's Ctrl-C) and return what it wrote on stderr."""
        os.killpg(self.process.pid, signal.SIGTERM)
        try:
            _, err = self.process.communicate(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.communicate()
            raise
        return err


def cannot_run_as(uid: int) -> str | None:
    """Why this interpreter cannot run the app as ``uid`` here, or None if it can: tried first as the
    container runs it (setpriv), importing what the app imports, with this environment and directory.
    A virtual environment or a checkout under a private home (root's, say) is out of another uid's reach."""
    probe = subprocess.run(
        ["setpriv", "--reuid", str(uid), "--regid", str(uid), "--clear-groups", sys.executable, "-c",
         "import uvicorn, litestar, wsinspect.litestar"],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    if probe.returncode == 0:
        return None
    said = probe.stderr.strip().splitlines()
    return f"{sys.executable} cannot run the app as uid {uid} here: {said[-1] if said else probe.returncode}"


@pytest.fixture
def app_dir() -> Iterator[Path]:
    """The app's files, readable by the container's user (pytest's own temporary root is not)."""
    directory = Path(tempfile.mkdtemp(prefix="wsc-", dir="/tmp"))
    os.chmod(directory, 0o755)
    (directory / "app.py").write_text(textwrap.dedent(CONTAINER_APP))
    os.chmod(directory / "app.py", 0o644)
    yield directory
    shutil.rmtree(directory)


@pytest.mark.skipif(
    os.geteuid() != 0 or shutil.which("unshare") is None or shutil.which("setpriv") is None,
    reason="namespaces need root, unshare and setpriv",
)
@pytest.mark.parametrize("uid", [0, NOBODY], ids=["same-user", "other-user"])
async def test_the_container_recipe(app_dir: Path, tmp_path: Path, uid: int) -> None:
    if (why := cannot_run_as(uid)) is not None:
        pytest.skip(why)
    host_dir = Path(tempfile.mkdtemp(prefix="wsh-", dir="/tmp"))  # the inspector's socket directory
    recording = Recording(host_dir / "inspector.sock", tmp_path / "session.json")
    container = Container(host_dir, app_dir, uid)
    try:
        replies = await container.echo(["one", "two"])
        assert replies == ["ONE", "TWO"]  # served, whoever can or cannot reach the inspector
        await asyncio.sleep(0.5)  # a frame in flight reaches the inspector before it stops
    finally:
        try:
            app_log = container.stop()
        finally:
            code, record_log = recording.stop()
            shutil.rmtree(host_dir)
    assert code == 0, record_log
    ours = [line for line in app_log.splitlines() if "wsinspect" in line]
    # Recording with debug off is loud: one line at startup, then only what goes wrong.
    assert "recording WebSocket traffic with debug off" in ours.pop(0)
    session = read_session(tmp_path / "session.json")
    if uid == 0:  # the container's user is the inspector's: everything streams, from host box-1
        assert ours == []
        (connection,) = session.connections
        assert connection.host == "box-1"
        texts = [(f.direction, f.content) for f in connection.messages if f.message_type == "text"]
        assert texts == [("received", "one"), ("sent", "ONE"), ("received", "two"), ("sent", "TWO")]
        assert "shop on box-1" in record_log
    else:  # one line that says what to change, and nothing recorded
        (line,) = ours  # the directory is private to the inspector's user, as its default one is
        assert line.endswith(
            f"wsinspect: cannot connect to the inspector at {container.mount / 'inspector.sock'}: permission "
            f"denied: its directory belongs to uid 0 and this process runs as uid {NOBODY} (run the app as uid 0, "
            "e.g. docker run --user 0)"
        )
        assert session.connections == []


@pytest.mark.skipif(os.geteuid() != 0, reason="chown to another uid needs root")
def test_permission_denied_names_the_owner_of_the_socket_or_else_its_directory(tmp_path: Path) -> None:
    from wsinspect.capture.emitter import _denied

    path = tmp_path / "inspector.sock"
    path.touch()
    why = f"cannot connect to the inspector at {path}: permission denied"
    assert _denied(path) == why  # ours: nothing to advise
    os.chown(path, 12345, -1)
    assert _denied(path) == (
        f"{why}: the socket belongs to uid 12345 and this process runs as uid {os.getuid()} "
        "(run the app as uid 12345, e.g. docker run --user 12345)"
    )
    assert _denied(Path("/nonexistent/inspector.sock")) == why.replace(str(path), "/nonexistent/inspector.sock")
