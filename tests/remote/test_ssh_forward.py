"""Remote hosts over SSH, end to end: apps on servers stream to the inspector on a laptop through
OpenSSH Unix-socket forwards, ``ssh -R REMOTE_SOCKET:LOCAL_SOCKET -N user@host``.

Everything is real but the SSH server: the machine has no sshd, so an asyncssh server stands in
for it (harness.SSHServer, which creates and replaces the forwarded socket as sshd does). The
client is the real OpenSSH ``ssh``, the inspector ``wsinspect record``, the apps uvicorn processes
with the plugin, and their clients ``websockets``. Directories of their own stand for the laptop's
and each server's filesystem; REMOTE_HOST gives each app the host name of its server.

Run by ``nox -s remote``, not by the default test run (pyproject's norecursedirs leaves this
directory out): it needs asyncssh and the ``ssh`` client.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

asyncssh = pytest.importorskip("asyncssh", reason="the SSH proof needs asyncssh (nox -s remote installs it)")

from harness import SSH, Lab, RemoteApp  # noqa: E402
from websockets.asyncio.client import ClientConnection, connect  # noqa: E402

from wsinspect.model import Connection  # noqa: E402
from wsinspect.sessions import read_session  # noqa: E402

LOST = "wsinspect: lost the inspector at"


@pytest.fixture(scope="module")
def keys() -> Iterator[tuple[asyncssh.SSHKey, Path, asyncssh.SSHAuthorizedKeys]]:
    """A throwaway host key, and a throwaway client key (its file 0600, as ssh demands) that the servers authorize."""
    if SSH is None:
        pytest.fail("the SSH proof needs the OpenSSH client `ssh` on PATH")
    directory = Path(tempfile.mkdtemp(prefix="wsi-keys-", dir="/tmp"))
    try:
        host_key = asyncssh.generate_private_key("ssh-ed25519")
        client_key = asyncssh.generate_private_key("ssh-ed25519")
        client_path = directory / "id_ed25519"
        client_key.write_private_key(str(client_path))
        os.chmod(client_path, 0o600)
        authorized = asyncssh.import_authorized_keys(client_key.export_public_key().decode())
        yield host_key, client_path, authorized
    finally:
        shutil.rmtree(directory, ignore_errors=True)


@pytest.fixture
def lab(keys: tuple[asyncssh.SSHKey, Path, asyncssh.SSHAuthorizedKeys]) -> Iterator[Lab]:
    world = Lab(*keys)
    try:
        yield world
    finally:
        world.close()


def texts(connection: Connection, direction: str) -> list[str]:
    return [str(f.content) for f in connection.messages if f.direction == direction and f.message_type == "text"]


def by_host(connections: list[Connection]) -> dict[str | None, Connection]:
    found = {connection.host: connection for connection in connections}
    assert len(found) == len(connections), [(c.host, c.app, c.pid) for c in connections]
    return found


async def echo(ws: ClientConnection, text: str) -> None:
    await ws.send(text)
    assert await asyncio.wait_for(ws.recv(), 10) == f"echo:{text}"


# -- 1. the laptop and one server -----------------------------------------------------------------


@pytest.mark.parametrize("paths", ["explicit", "default"])
async def test_an_app_on_a_server_streams_to_the_inspector_on_the_laptop(lab: Lab, paths: str) -> None:
    """``explicit``: the inspector's --socket and the app's WSINSPECT_SOCKET name the sockets.
    ``default``: neither does; each side's XDG_RUNTIME_DIR gives wsinspect's per-user default path,
    whose directory the user creates on the server, private (``mkdir -m 700``), before ``ssh -R``."""
    laptop, server = lab.directory("wsi-laptop-"), lab.directory("wsi-web1-")
    if paths == "explicit":
        inspector = lab.inspector(socket=laptop / "inspector.sock")
        remote = server / "inspector.sock"
        app_env = {"WSINSPECT_SOCKET": str(remote)}
    else:
        (laptop / "run").mkdir(mode=0o700)
        inspector = lab.inspector(env={"XDG_RUNTIME_DIR": str(laptop / "run")})
        (server / "run" / "wsinspect").mkdir(mode=0o700, parents=True)
        os.chmod(server / "run" / "wsinspect", 0o700)  # whatever the umask
        remote = server / "run" / "wsinspect" / "inspector.sock"
        app_env = {"XDG_RUNTIME_DIR": str(server / "run")}
    local = await inspector.listening()
    if paths == "default":
        assert local == laptop / "run" / "wsinspect" / "inspector.sock"

    forward = lab.forward(lab.ssh_server(), remote, local)
    app = lab.app("api", "web-1", app_env)
    await forward.established()
    await app.started()

    async with connect(app.ws_url("/ws/echo?room=1")) as ws:
        for text in ["hello", "héllo wörld", '{"type": "subscribe", "topic": "prices"}', ""]:
            await echo(ws, text)
        await ws.send(b"\x00\x01\x02")
        assert await asyncio.wait_for(ws.recv(), 5) == b"\x02\x01\x00"
    # The close follows the frames on the app's one link: once it is in, so is every frame.
    await inspector.has(lambda s: (s.apps, s.connections, s.active) == (1, 1, 0), what="the closed connection")
    await inspector.says(f"wsinspect: {app.label} connected")
    assert LOST not in app.stderr
    code, lines = await inspector.stop()

    assert code == 0, lines
    assert lines[-1].startswith("wsinspect: wrote 1 connection, "), lines
    (conn,) = read_session(inspector.output).connections
    assert (conn.app, conn.host, conn.pid) == ("api", "web-1", app.pid)
    assert (conn.path, conn.query_string, conn.state, conn.closed_by) == ("/ws/echo", "room=1", "closed", "client")
    sent = ["hello", "héllo wörld", '{"type": "subscribe", "topic": "prices"}', ""]
    assert texts(conn, "received") == sent
    assert texts(conn, "sent") == [f"echo:{text}" for text in sent]
    binary = [(f.direction, f.content) for f in conn.messages if f.message_type == "binary"]
    assert binary == [("received", b"\x00\x01\x02"), ("sent", b"\x02\x01\x00")]
    assert (conn.messages_received, conn.messages_sent, conn.messages_dropped) == (5, 5, 0)


# -- 2. several servers, one inspector ------------------------------------------------------------


async def test_apps_on_two_servers_stream_to_one_inspector_and_are_told_apart(lab: Lab) -> None:
    """The same app on two hosts: two sshd, two ``ssh -R`` to the same local socket."""
    local = lab.directory("wsi-laptop-") / "inspector.sock"
    inspector = lab.inspector(socket=local)
    remotes = {host: lab.directory(f"wsi-{host}-") / "inspector.sock" for host in ("web-1", "web-2")}
    forwards = [lab.forward(lab.ssh_server(), remote, local) for remote in remotes.values()]
    apps = {host: lab.app("api", host, {"WSINSPECT_SOCKET": str(remote)}) for host, remote in remotes.items()}
    await inspector.listening()
    for forward in forwards:
        await forward.established()
    for app in apps.values():
        await app.started()

    async def talk(host: str, app: RemoteApp) -> None:
        async with connect(app.ws_url(f"/ws/echo?host={host}")) as ws:
            for n in range(20):
                await echo(ws, f"{host}-{n}")

    await asyncio.gather(*(talk(host, app) for host, app in apps.items()))
    await inspector.has(lambda s: (s.apps, s.connections, s.active) == (2, 2, 0), what="both closed connections")
    for app in apps.values():
        await inspector.says(f"wsinspect: {app.label} connected")
    code, lines = await inspector.stop()

    assert code == 0, lines
    connections = by_host(read_session(inspector.output).connections)
    assert set(connections) == {"web-1", "web-2"}
    for host, conn in connections.items():
        assert (conn.app, conn.pid, conn.query_string) == ("api", apps[host].pid, f"host={host}")
        assert texts(conn, "received") == [f"{host}-{n}" for n in range(20)]
        assert texts(conn, "sent") == [f"echo:{host}-{n}" for n in range(20)]


# -- 3. a forward dropped mid-stream --------------------------------------------------------------


class Chatter:
    """A client that keeps sending (one message, and its echo, every 20 ms) until told to stop."""

    def __init__(self, app: RemoteApp, name: str) -> None:
        self.app = app
        self.name = name
        self.sent: list[str] = []
        self._stop = asyncio.Event()
        self.task = asyncio.create_task(self._run())

    async def _run(self) -> None:
        async with connect(self.app.ws_url(f"/ws/echo?client={self.name}")) as ws:
            while not self._stop.is_set():
                text = f"{self.name}-{len(self.sent)}"
                await echo(ws, text)  # the app answers, whether its inspector is reachable or not
                self.sent.append(text)
                await asyncio.sleep(0.02)

    async def until(self, count: int, *, patience: float = 20.0) -> None:
        deadline = time.monotonic() + patience
        while len(self.sent) < count:
            assert not self.task.done(), self.task.exception() if not self.task.cancelled() else "cancelled"
            assert time.monotonic() < deadline, f"{self.name} sent {len(self.sent)} of {count} in {patience} s"
            await asyncio.sleep(0.02)

    async def stop(self) -> None:
        self._stop.set()
        await asyncio.wait_for(self.task, 10)


async def test_a_dropped_forward_loses_nothing_and_the_app_comes_back_by_itself(lab: Lab) -> None:
    local = lab.directory("wsi-laptop-") / "inspector.sock"
    inspector = lab.inspector(socket=local)
    remote_a = lab.directory("wsi-web-1-") / "inspector.sock"
    remote_b = lab.directory("wsi-web-2-") / "inspector.sock"
    server_a, server_b = lab.ssh_server(), lab.ssh_server()
    forward_a, forward_b = lab.forward(server_a, remote_a, local), lab.forward(server_b, remote_b, local)
    app_a = lab.app("api", "web-1", {"WSINSPECT_SOCKET": str(remote_a)})
    app_b = lab.app("api", "web-2", {"WSINSPECT_SOCKET": str(remote_b)})
    await inspector.listening()
    for forward in (forward_a, forward_b):
        await forward.established()
    for app in (app_a, app_b):
        await app.started()

    a, b = Chatter(app_a, "a"), Chatter(app_b, "b")
    await inspector.says(f"wsinspect: {app_a.label} connected")
    await inspector.says(f"wsinspect: {app_b.label} connected")
    await a.until(10)

    # The link from web-1 goes, as when the laptop drops off the network; a keeps sending.
    forward_a.kill()
    killed_at = len(a.sent)
    await inspector.says(f"wsinspect: {app_a.label} disconnected")
    await eventually_lost(app_a)
    # Meanwhile web-2 streams on, through its own forward, and web-1 keeps serving a.
    before = await inspector.has(lambda s: s.apps == 1, what="one app left")
    await inspector.has(lambda s: s.frames >= before.frames + 20, what="b's frames while web-1 is away")
    await a.until(killed_at + 20)
    assert os.path.exists(remote_a), "the dead forward's socket file stays on the server"

    # The same command again: sshd replaces the stale socket file (StreamLocalBindUnlink yes in
    # its sshd_config), and the app's emitter, retrying every second at most, finds it.
    forward_again = lab.forward(server_a, remote_a, local)
    await forward_again.established()
    up = time.monotonic()
    await inspector.says(f"wsinspect: {app_a.label} connected", count=2)
    reconnected_after = time.monotonic() - up
    back_at = len(a.sent)
    await a.until(back_at + 20)
    await asyncio.gather(a.stop(), b.stop())

    await inspector.has(lambda s: (s.apps, s.connections, s.active) == (2, 2, 0), what="both closed connections")
    stderr_a, stderr_b = app_a.stderr, app_b.stderr  # before the inspector goes, which they would report
    code, lines = await inspector.stop()
    print(f"\nthe app streamed again {reconnected_after:.2f} s after the forward was back; a sent {len(a.sent)}")

    assert code == 0, lines
    assert lines.count(f"wsinspect: {app_a.label} disconnected") == 1, lines
    assert f"wsinspect: {app_b.label} disconnected" not in lines, lines
    # The emitter's backoff is at most 1 s, and record prints what happened every 0.5 s (measured:
    # about 1 s; generous here for two noisy cores).
    assert reconnected_after < 5, reconnected_after
    connections = by_host(read_session(inspector.output).connections)
    conn_a, conn_b = connections["web-1"], connections["web-2"]
    assert (conn_a.pid, conn_b.pid) == (app_a.pid, app_b.pid)
    # Frames sent after the reconnect arrived; so did those sent while the link was down, in the
    # replay of what the app holds that followed the reconnect's hello.
    assert texts(conn_a, "received")[back_at:] == a.sent[back_at:]
    assert texts(conn_a, "received") == a.sent
    assert texts(conn_a, "sent") == [f"echo:{text}" for text in a.sent]
    assert texts(conn_b, "received") == b.sent
    assert conn_a.state == conn_b.state == "closed"
    # The app said so once, on stderr, and nothing more while it retried.
    assert LOST not in stderr_b
    lost = [line for line in stderr_a.splitlines() if LOST in line]
    assert len(lost) == 1, stderr_a
    assert str(remote_a) in lost[0]


async def eventually_lost(app: RemoteApp) -> None:
    """Up to 10 s for the app's line about the loss (asserted at the end, after the rest)."""
    deadline = time.monotonic() + 10
    while LOST not in app.stderr and time.monotonic() < deadline:
        await asyncio.sleep(0.05)


# -- the inspector quits and comes back, the forward stays ---------------------------------------


async def test_an_inspector_restarted_behind_a_live_forward_gets_everything(lab: Lab) -> None:
    """Quit the inspector on the laptop and start it again, leaving ``ssh -R`` up: the app streams to
    the new one by itself, the frames of the meantime included."""
    local = lab.directory("wsi-laptop-") / "inspector.sock"
    first = lab.inspector(socket=local)
    remote = lab.directory("wsi-web-1-") / "inspector.sock"
    forward = lab.forward(lab.ssh_server(), remote, local)
    app = lab.app("api", "web-1", {"WSINSPECT_SOCKET": str(remote)})
    await first.listening()
    await forward.established()
    await app.started()

    client = Chatter(app, "c")
    await first.says(f"wsinspect: {app.label} connected")
    await client.until(10)
    code, _ = await first.stop()
    assert code == 0
    gone = time.monotonic()
    await client.until(len(client.sent) + 60)  # over a second with no inspector behind the forward
    quiet_for = time.monotonic() - gone
    stderr = app.stderr

    second = lab.inspector(socket=local)
    await second.listening()
    await second.says(f"wsinspect: {app.label} connected")
    back_at = len(client.sent)
    await client.until(back_at + 10)
    await client.stop()
    await second.has(lambda s: (s.apps, s.connections, s.active) == (1, 1, 0), what="the closed connection")
    code, lines = await second.stop()

    assert code == 0, lines
    (conn,) = read_session(second.output).connections
    assert texts(conn, "received") == client.sent  # the replay brought the frames the first one missed
    assert forward.process.poll() is None  # the forward outlived both inspectors
    # Behind a live forward every connect succeeds (sshd accepts it), and only then does the forward
    # close it (ssh finds no inspector on the laptop): one line for the loss, not one per retry.
    lost = [line for line in stderr.splitlines() if LOST in line]
    assert len(lost) == 1, f"{len(lost)} losses logged in {quiet_for:.1f} s"


# -- what a user sees when the server's directory is missing --------------------------------------


async def test_a_forward_into_a_missing_directory_fails_and_ssh_says_so(lab: Lab) -> None:
    local = lab.directory("wsi-laptop-") / "inspector.sock"
    remote = lab.directory("wsi-web-1-") / "wsinspect" / "inspector.sock"  # its directory was never made
    forward = lab.forward(lab.ssh_server(), remote, local)
    assert await forward.exited() == 255
    assert f"Error: remote port forwarding failed for listen path {remote}" in forward.stderr


async def test_without_bind_unlink_in_sshd_config_a_stale_socket_blocks_the_next_forward(lab: Lab) -> None:
    """sshd's default, ``StreamLocalBindUnlink no`` (as SSHServer models it from OpenSSH's code): the
    socket of a dropped forward stays, and ``ssh -R`` again fails until it is removed. The client's
    ``-o StreamLocalBindUnlink=yes`` (Forward passes it) is never sent to the server: for -R only
    sshd_config's counts."""
    local = lab.directory("wsi-laptop-") / "inspector.sock"
    remote = lab.directory("wsi-web-1-") / "inspector.sock"
    server = lab.ssh_server(bind_unlink=False)
    first = lab.forward(server, remote, local)
    await first.established()
    first.kill()
    again = lab.forward(server, remote, local)
    assert await again.exited() == 255
    assert f"Error: remote port forwarding failed for listen path {remote}" in again.stderr
    remote.unlink()  # what the user does on the server instead
    await lab.forward(server, remote, local).established()
