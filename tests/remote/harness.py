"""The pieces of the SSH proof, each a real process or server:

- :class:`SSHServer`: an asyncssh server on 127.0.0.1 standing in for a remote host's sshd (the
  machine has no sshd). It allows remote Unix-socket forwards as OpenSSH's sshd does.
- :class:`Forward`: the real OpenSSH client, ``ssh -R REMOTE:LOCAL -N``, as a user runs it on the laptop.
- :class:`Inspector`: ``wsinspect record`` on "the laptop", its stderr on a pseudo-terminal so that
  its status line (apps, connections, frames) is rewritten every half second and can be followed.
- :class:`RemoteApp`: a uvicorn server with a Litestar app and wsinspect's plugin (remote_app.py).

:class:`Lab` starts them, and on :meth:`Lab.close` stops every process it started (by its pid) and
removes its temporary directories. Every wait is bounded.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import pty
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import asyncssh

__all__ = ("SSH", "Forward", "Inspector", "Lab", "RemoteApp", "SSHServer", "Status", "eventually")

T = TypeVar("T")

SSH = shutil.which("ssh")
APP_SCRIPT = Path(__file__).with_name("remote_app.py")

START_TIMEOUT = 20.0  # a process or a forward coming up, on two noisy cores
STOP_TIMEOUT = 20.0
POLL = 0.02


async def eventually(probe: Callable[[], T], done: Callable[[T], bool], *, what: str, patience: float = 20.0) -> T:
    """``probe()`` every 20 ms until ``done(result)``; fail with the last result after ``patience`` seconds."""
    deadline = time.monotonic() + patience
    while True:
        result = probe()
        if done(result):
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {patience} s waiting for {what}; last: {result!r}")
        await asyncio.sleep(POLL)


# -- the SSH server ---------------------------------------------------------------------------------


class _Loop:
    """An event loop in a thread of its own, where the SSH servers run: whatever the test's own loop
    waits on, they keep serving."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="sshd-loop", daemon=True)
        self.thread.start()

    def run(self, coro: Coroutine[Any, Any, T], timeout: float = START_TIMEOUT) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(STOP_TIMEOUT)
        if not self.thread.is_alive():
            self.loop.close()


class SSHServer:
    """An SSH server on 127.0.0.1 (a free port) that accepts the client key and allows remote
    Unix-socket forwards (``streamlocal-forward@openssh.com``) the way OpenSSH's sshd does:

    - the socket file is created under sshd_config's ``StreamLocalBindMask`` (default 0177, so the
      file is 0600); asyncssh alone would leave it to the process umask (0755 under umask 022);
    - the socket file stays when the forward ends (on Python 3.13 and later asyncio removes it: it
      is put back, as a socket nobody listens on);
    - a file already at the path (such as that socket) is removed first only with sshd_config's
      ``StreamLocalBindUnlink yes`` (``bind_unlink``); sshd's default, no, makes the forward fail.
      asyncssh alone (through asyncio) would always remove a stale socket.

    ``listens[path]`` counts the listeners made on ``path``.
    """

    def __init__(
        self,
        loop: _Loop,
        host_key: asyncssh.SSHKey,
        authorized: asyncssh.SSHAuthorizedKeys,
        *,
        bind_unlink: bool,
        bind_mask: int = 0o177,
    ) -> None:
        self._loop = loop
        self.bind_unlink = bind_unlink
        self.bind_mask = bind_mask
        self.listens: dict[str, int] = {}
        self._connections: set[asyncssh.SSHServerConnection] = set()

        async def start() -> asyncssh.SSHAcceptor:
            return await asyncssh.create_server(
                lambda: _Handler(self),
                "127.0.0.1",
                0,
                server_host_keys=[host_key],
                authorized_client_keys=authorized,
            )

        self._acceptor = loop.run(start())
        self.port: int = self._acceptor.sockets[0].getsockname()[1]

    async def listen(self, handler: _Handler, path: str) -> asyncssh.SSHListener | bool:
        if os.path.lexists(path):
            if not self.bind_unlink:
                return False  # sshd: "unix_listener: cannot bind to path ...: Address already in use"
            with contextlib.suppress(FileNotFoundError):
                os.unlink(path)
        assert handler.conn is not None
        listener = await handler.conn.forward_local_path(path, path)  # an OSError (no such directory…) refuses
        os.chmod(path, 0o777 & ~self.bind_mask)
        handler.paths.append(path)
        self.listens[path] = self.listens.get(path, 0) + 1
        return listener

    def forward_ended(self, path: str) -> None:
        if not os.path.lexists(path):
            with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as stale:
                stale.bind(path)
            os.chmod(path, 0o777 & ~self.bind_mask)

    def close(self) -> None:
        async def close() -> None:
            self._acceptor.close()
            for conn in list(self._connections):
                conn.abort()
            await self._acceptor.wait_closed()

        with contextlib.suppress(Exception):
            self._loop.run(close(), timeout=STOP_TIMEOUT)


class _Handler(asyncssh.SSHServer):
    def __init__(self, server: SSHServer) -> None:
        self.server = server
        self.conn: asyncssh.SSHServerConnection | None = None
        self.paths: list[str] = []  # where this connection's forwards listened

    def connection_made(self, conn: asyncssh.SSHServerConnection) -> None:
        self.conn = conn
        self.server._connections.add(conn)

    def connection_lost(self, exc: Exception | None) -> None:  # after asyncssh closed the listeners
        if self.conn is not None:
            self.server._connections.discard(self.conn)
        for path in self.paths:
            self.server.forward_ended(path)

    def unix_server_requested(self, listen_path: str) -> Any:
        return self.server.listen(self, listen_path)


# -- the OpenSSH client -----------------------------------------------------------------------------


class Forward:
    """``ssh -R REMOTE:LOCAL -N`` with the real OpenSSH client: the app's connections to REMOTE on the
    "server" reach the inspector listening on LOCAL on "the laptop"."""

    def __init__(self, lab: Lab, server: SSHServer, remote: Path, local: Path) -> None:
        assert SSH is not None
        self.server = server
        self.remote = remote
        self.local = local
        self.argv = [
            SSH,
            "-F", "/dev/null",  # no user or system config interferes
            "-N",
            "-p", str(server.port),
            "-i", str(lab.client_key),
            "-o", "IdentitiesOnly=yes",
            "-o", "IdentityAgent=none",
            "-o", "BatchMode=yes",
            "-o", "StrictHostKeyChecking=no",
            "-o", "UserKnownHostsFile=/dev/null",
            "-o", "LogLevel=ERROR",  # not the "Permanently added … to the list of known hosts" warning
            "-o", "ExitOnForwardFailure=yes",
            # Harmless, and what users are told to pass; but for -R the socket is the server's to
            # make, and it is sshd_config's StreamLocalBindUnlink that counts (see SSHServer).
            "-o", "StreamLocalBindUnlink=yes",
            "-R", f"{remote}:{local}",
            "wsinspect@127.0.0.1",
        ]  # fmt: skip
        self._before = server.listens.get(str(remote), 0)
        self.stderr_path = lab.scratch / f"ssh-{len(lab.forwards)}.err"
        with open(self.stderr_path, "wb") as err:
            self.process = lab.spawn(self.argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=err)
        lab.forwards.append(self)

    @property
    def stderr(self) -> str:
        return self.stderr_path.read_text(errors="replace")

    async def established(self) -> None:
        """Until the server listens on REMOTE for this forward (ssh then has the server's answer)."""
        await eventually(
            lambda: (self.server.listens.get(str(self.remote), 0), self.process.poll()),
            lambda state: state[0] > self._before or state[1] is not None,
            what=f"the forward of {self.remote}",
            patience=START_TIMEOUT,
        )
        assert self.process.poll() is None, f"ssh exited with {self.process.returncode}: {self.stderr}"

    async def exited(self) -> int:
        code = await eventually(self.process.poll, lambda code: code is not None, what="ssh to exit")
        assert code is not None
        return code

    def kill(self) -> None:
        """SIGKILL, as a dropped laptop or a killed terminal would end it: no goodbye to the server."""
        os.kill(self.process.pid, signal.SIGKILL)
        self.process.wait(STOP_TIMEOUT)


# -- the inspector on the laptop --------------------------------------------------------------------

_STATUS = re.compile(r"^([\d,]+) apps?, ([\d,]+) connections? \(([\d,]+) active\), ([\d,]+) frames?$")


@dataclass(frozen=True)
class Status:
    apps: int
    connections: int
    active: int
    frames: int


class Inspector:
    """``wsinspect record -o OUTPUT [--socket PATH]``, stopped with SIGINT as Ctrl-C would.

    Its stderr is a pseudo-terminal: there the status line is rewritten every half second, so
    :meth:`status` follows the frames as they arrive; the lines it prints are in :meth:`lines`.
    """

    def __init__(self, lab: Lab, output: Path, *, socket: Path | None, env: dict[str, str]) -> None:
        self.output = output
        master, slave = pty.openpty()
        argv = [sys.executable, "-m", "wsinspect", "record", "-o", str(output)]
        if socket is not None:
            argv += ["--socket", str(socket)]
        try:
            self.process = lab.spawn(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=slave, env=env)
        finally:
            os.close(slave)
        self._master = master
        self._chunks: list[bytes] = []
        self._reader = threading.Thread(target=self._read, name="record-stderr", daemon=True)
        self._reader.start()

    def _read(self) -> None:
        while True:
            try:
                chunk = os.read(self._master, 65536)
            except OSError:  # EIO: the process and its terminal are gone
                break
            if not chunk:
                break
            self._chunks.append(chunk)
        os.close(self._master)

    @property
    def text(self) -> str:
        return b"".join(self._chunks).decode(errors="replace").replace("\x1b[K", "")

    def tokens(self) -> list[str]:
        return [token for token in re.split(r"[\r\n]+", self.text) if token]

    def lines(self) -> list[str]:
        """What it printed for good: its "wsinspect: …" lines (where it listens, apps coming and going)."""
        return [token for token in self.tokens() if token.startswith("wsinspect: ")]

    def status(self) -> Status | None:
        """Its latest status line, or None before the first."""
        for token in reversed(self.tokens()):
            if match := _STATUS.match(token):
                apps, connections, active, frames = (int(group.replace(",", "")) for group in match.groups())
                return Status(apps, connections, active, frames)
        return None

    async def listening(self) -> Path:
        """Until it says where it records; that path."""
        line = await eventually(
            lambda: next((line for line in self.lines() if " recording on " in line), self.process.poll()),
            lambda found: isinstance(found, str) or found is not None,
            what="wsinspect record to listen",
            patience=START_TIMEOUT,
        )
        assert isinstance(line, str), f"wsinspect record exited with {line}: {self.text}"
        return Path(line.split(" recording on ", 1)[1].split("; ", 1)[0])

    async def says(self, line: str, *, count: int = 1, patience: float = 20.0) -> None:
        """Until it has printed ``line`` ``count`` times."""
        await eventually(
            lambda: self.lines().count(line), lambda n: n >= count, what=f"{count} times {line!r}", patience=patience
        )

    async def has(self, done: Callable[[Status], bool], *, what: str, patience: float = 20.0) -> Status:
        status = await eventually(self.status, lambda s: s is not None and done(s), what=what, patience=patience)
        assert status is not None
        return status

    async def stop(self) -> tuple[int, list[str]]:
        """SIGINT; its exit code and lines once it has written the file."""
        self.process.send_signal(signal.SIGINT)
        code = await asyncio.to_thread(self.process.wait, STOP_TIMEOUT)
        await asyncio.to_thread(self._reader.join, STOP_TIMEOUT)
        return code, self.lines()


# -- the app on a server ----------------------------------------------------------------------------


class RemoteApp:
    """remote_app.py under uvicorn, in a process of its own, with ``env`` as on its server."""

    def __init__(self, lab: Lab, name: str, host: str, env: dict[str, str]) -> None:
        self.name = name
        self.host = host
        self.stderr_path = lab.scratch / f"app-{name}-{host}.err"
        with open(self.stderr_path, "wb") as err:
            self.process = lab.spawn(
                [sys.executable, str(APP_SCRIPT)],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=err,
                env={**env, "REMOTE_APP_NAME": name, "REMOTE_HOST": host},
            )
        self.port = 0

    @property
    def pid(self) -> int:
        return self.process.pid

    @property
    def label(self) -> str:
        """How the inspector names it: the app, its host (not the inspector's) and its pid."""
        return f"{self.name} on {self.host} (pid {self.pid})"

    @property
    def stderr(self) -> str:
        return self.stderr_path.read_text(errors="replace")

    async def started(self) -> None:
        assert self.process.stdout is not None
        line = await asyncio.wait_for(asyncio.to_thread(self.process.stdout.readline), START_TIMEOUT)
        assert line.strip().isdigit(), f"the app did not start: {line!r} {self.stderr}"
        self.port = int(line)

    def ws_url(self, path: str) -> str:
        return f"ws://127.0.0.1:{self.port}{path}"


# -- all of them ------------------------------------------------------------------------------------


class Lab:
    """A laptop and servers on one machine: directories standing for each one's filesystem, SSH
    servers, forwards, an inspector and apps. :meth:`close` ends everything it started."""

    def __init__(self, host_key: asyncssh.SSHKey, client_key: Path, authorized: asyncssh.SSHAuthorizedKeys) -> None:
        self.host_key = host_key
        self.client_key = client_key
        self.authorized = authorized
        self.dirs: list[Path] = []
        self.processes: list[subprocess.Popen[Any]] = []
        self.forwards: list[Forward] = []
        self.servers: list[SSHServer] = []
        self.inspectors = 0
        self._loop: _Loop | None = None
        # AF_UNIX paths hold about 107 bytes: short directories under /tmp, not pytest's tmp_path.
        self.scratch = self.directory("wsi-lab-")
        # What every process starts from: no inspector socket or runtime directory of the real user.
        self.base_env = {k: v for k, v in os.environ.items() if k not in ("WSINSPECT_SOCKET", "XDG_RUNTIME_DIR")}

    def directory(self, prefix: str) -> Path:
        path = Path(tempfile.mkdtemp(prefix=prefix, dir="/tmp"))
        self.dirs.append(path)
        return path

    def spawn(self, argv: list[str], **kwargs: Any) -> subprocess.Popen[Any]:
        kwargs.setdefault("env", self.base_env)
        process = subprocess.Popen(argv, **kwargs)
        self.processes.append(process)
        return process

    def ssh_server(self, *, bind_unlink: bool = True) -> SSHServer:
        """A "remote host"'s sshd, with ``StreamLocalBindUnlink yes`` in its sshd_config unless told otherwise."""
        if self._loop is None:
            self._loop = _Loop()
        server = SSHServer(self._loop, self.host_key, self.authorized, bind_unlink=bind_unlink)
        self.servers.append(server)
        return server

    def forward(self, server: SSHServer, remote: Path, local: Path) -> Forward:
        return Forward(self, server, remote, local)

    def inspector(self, *, socket: Path | None = None, env: dict[str, str] | None = None) -> Inspector:
        self.inspectors += 1
        output = self.scratch / f"session-{self.inspectors}.json"
        return Inspector(self, output, socket=socket, env={**self.base_env, **(env or {})})

    def app(self, name: str, host: str, env: dict[str, str]) -> RemoteApp:
        return RemoteApp(self, name, host, {**self.base_env, **env})

    def close(self) -> None:
        """End the processes started (SIGTERM, then SIGKILL after STOP_TIMEOUT), each by its pid, and
        the SSH servers; remove the directories."""
        for process in reversed(self.processes):
            if process.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(process.pid, signal.SIGTERM)
        deadline = time.monotonic() + STOP_TIMEOUT
        for process in self.processes:
            try:
                process.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(process.pid, signal.SIGKILL)
                process.wait(STOP_TIMEOUT)
            if process.stdout is not None:
                process.stdout.close()
        for server in self.servers:
            server.close()
        if self._loop is not None:
            self._loop.close()
        for path in self.dirs:
            shutil.rmtree(path, ignore_errors=True)
