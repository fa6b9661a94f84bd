"""Real servers for integration tests: uvicorn in a background thread of the test process, or any
server in a process of its own.

With :func:`run_server` the app (and so any wsinspect recorder in it) lives in this process, so a
test can read what was recorded. The server runs its own event loop in its own thread;
:meth:`RunningServer.call` runs a function on that loop, which is where the recorder is written,
so reads never race the writes. :func:`server_process` runs a command line as users do
(``python -m uvicorn app:app``, ``granian ...``), waiting without blocking the caller's loop, where
an inspector may listen meanwhile.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import os
import signal
import socket
import subprocess
import tempfile
import threading
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import uvicorn

from .waiting import until, wait_until

__all__ = ("WS_IMPLEMENTATIONS", "RunningServer", "free_port", "run_server", "server_process")

T = TypeVar("T")

# uvicorn's WebSocket implementations that a test can run against (the legacy "websockets" one
# is deprecated upstream).
WS_IMPLEMENTATIONS = ("websockets-sansio", "wsproto")

START_TIMEOUT = 10.0
STOP_TIMEOUT = 15.0


@dataclass(frozen=True)
class RunningServer:
    """A uvicorn server that is accepting connections on ``host:port``."""

    server: uvicorn.Server
    host: str
    port: int
    ws: str
    loop: asyncio.AbstractEventLoop

    def ws_url(self, path: str = "/") -> str:
        return f"ws://{self.host}:{self.port}{path}"

    def http_url(self, path: str = "/") -> str:
        return f"http://{self.host}:{self.port}{path}"

    async def call(self, fn: Callable[[], T]) -> T:
        """Run ``fn()`` on the server's event loop (the thread the app runs in) and return its result."""
        done: concurrent.futures.Future[T] = concurrent.futures.Future()

        def run() -> None:
            try:
                done.set_result(fn())
            except BaseException as exc:  # handed to the caller
                done.set_exception(exc)

        self.loop.call_soon_threadsafe(run)
        return await asyncio.wrap_future(done)


@contextlib.contextmanager
def run_server(
    app: Any,
    *,
    ws: str = "websockets-sansio",
    lifespan: str = "off",
    **config: Any,
) -> Iterator[RunningServer]:
    """Serve ``app`` with uvicorn on a free port of 127.0.0.1 until the block ends.

    ``ws`` picks uvicorn's WebSocket implementation; other keyword arguments go to
    :class:`uvicorn.Config`.
    """
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    host, port = sock.getsockname()[:2]
    settings: dict[str, Any] = {
        "log_level": "warning",
        "access_log": False,
        "timeout_graceful_shutdown": 5,
        **config,
    }
    server = uvicorn.Server(uvicorn.Config(app, ws=ws, lifespan=lifespan, **settings))
    failure: list[BaseException] = []

    def serve() -> None:
        try:
            server.run(sockets=[sock])
        except BaseException as exc:  # SystemExit on a failed startup, too
            failure.append(exc)

    thread = threading.Thread(target=serve, name=f"uvicorn-{ws}-{port}", daemon=True)

    def started() -> bool:
        if not thread.is_alive():
            raise RuntimeError(f"uvicorn ({ws}) stopped before it started: {failure!r}")
        return bool(server.started)

    thread.start()
    try:
        wait_until(started, f"uvicorn ({ws}) to start", patience=START_TIMEOUT)
        loop = server.servers[0].get_loop()
        yield RunningServer(server=server, host=host, port=port, ws=ws, loop=loop)
    finally:
        server.should_exit = True
        thread.join(STOP_TIMEOUT)
        sock.close()
        if thread.is_alive():  # pragma: no cover - a hung shutdown
            server.force_exit = True
            thread.join(STOP_TIMEOUT)
            raise RuntimeError(f"uvicorn ({ws}) did not stop within {STOP_TIMEOUT} s")


# -- servers started the way users start them, each in a process of its own ----------------------


def free_port() -> int:
    """A TCP port of 127.0.0.1 that nothing listens on now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def _start(argv: list[str], cwd: Path, log: Path) -> subprocess.Popen[bytes]:
    with log.open("wb") as out:
        return subprocess.Popen(
            argv, cwd=cwd, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )


def _accepts(port: int) -> bool:
    with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.5):
        return True
    return False


@contextlib.asynccontextmanager
async def server_process(argv: list[str], *, cwd: Path, port: int) -> AsyncIterator[subprocess.Popen[bytes]]:
    """``argv`` (a server command line, such as ``python -m uvicorn app:app --port PORT``) run in
    ``cwd``, in a process group of its own, from when it accepts connections on 127.0.0.1:``port``
    until the block ends; then it and its workers are stopped (SIGINT, then SIGKILL). It inherits
    this process's environment (``WSINSPECT_SOCKET`` included). Its output goes to a file that a
    failure to start shows."""
    fd, name = tempfile.mkstemp(prefix=f"wsinspect-server-{port}-", suffix=".log")
    os.close(fd)
    log = Path(name)  # not in cwd: a test's directory may be the checkout's
    process = _start(argv, cwd, log)

    def started() -> bool:
        if process.poll() is not None:
            raise RuntimeError(f"{argv} exited with {process.returncode}:\n{log.read_text()}")
        return _accepts(port)

    try:
        await until(started, what=f"{' '.join(argv)} to accept connections", patience=START_TIMEOUT * 3, every=0.05)
        yield process
    finally:
        for sig, patience in ((signal.SIGINT, STOP_TIMEOUT), (signal.SIGKILL, STOP_TIMEOUT)):
            if process.poll() is not None:
                break
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, sig)
            with contextlib.suppress(subprocess.TimeoutExpired):
                await asyncio.to_thread(process.wait, patience)
        with contextlib.suppress(ProcessLookupError):  # workers left behind by a server that died
            os.killpg(process.pid, signal.SIGKILL)
        log.unlink(missing_ok=True)
