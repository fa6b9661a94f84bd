"""The socket path, its directory and the listening socket (wsinspect.paths)."""

from __future__ import annotations

import asyncio
import errno
import os
import shutil
import socket
import stat
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from wsinspect.paths import (
    MAX_SOCKET_PATH_BYTES,
    ListeningSocket,
    SocketPathError,
    bind_listening_socket,
    default_socket_path,
    prepare_socket_dir,
    resolve_socket_path,
)

# wsinspect's pytest plugin leaves these tests of the socket machinery alone (see noxfile.py).
pytestmark = pytest.mark.no_wsinspect

OTHER_UID = 12345
# Giving a file to another uid takes root (CAP_CHOWN): elsewhere these tests cannot run.
gives_away_files = pytest.mark.skipif(os.geteuid() != 0, reason="chown to another uid needs root")


@pytest.fixture
def short_dir() -> Iterator[Path]:
    """A directory with a short path: pytest's tmp_path can push socket paths past the AF_UNIX limit."""
    path = Path(tempfile.mkdtemp(prefix="wsi-", dir="/tmp"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
def runtime_dir(short_dir: Path) -> Path:
    path = short_dir / "run"
    path.mkdir(mode=0o700)
    return path


@pytest.fixture(autouse=True)
def _env(monkeypatch: pytest.MonkeyPatch, runtime_dir: Path) -> None:
    """Never touch the real runtime or temp directory of the user running the tests."""
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(runtime_dir))
    monkeypatch.delenv("WSINSPECT_SOCKET", raising=False)


Sockets = list[socket.socket | ListeningSocket]


@pytest.fixture
def sockets() -> Iterator[Sockets]:
    """Sockets a test opened; closed at teardown."""
    opened: Sockets = []
    yield opened
    for sock in opened:
        sock.close()


def raw_socket(path: Path, *, listen: bool, sockets: Sockets) -> socket.socket:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sockets.append(sock)
    sock.bind(os.fspath(path))
    if listen:
        sock.listen(1)
    return sock


def bind(path: Path, sockets: Sockets) -> ListeningSocket:
    listening = bind_listening_socket(path)
    sockets.append(listening)
    return listening


def accepts_connections(path: Path) -> bool:
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as client:
        client.settimeout(1)
        try:
            client.connect(os.fspath(path))
        except OSError:
            return False
    return True


def exists(path: Path) -> bool:
    """Whether anything, even a dangling symlink, is at ``path``."""
    return os.path.lexists(path)


def refusal(path: Path) -> str:
    """The message bind_listening_socket refuses ``path`` with; it is one line."""
    with pytest.raises(SocketPathError) as info:
        bind_listening_socket(path)
    message = str(info.value)
    assert message
    assert "\n" not in message
    return message


# --- where the socket is ----------------------------------------------------------------------


def test_default_path_uses_xdg_runtime_dir(runtime_dir: Path) -> None:
    assert default_socket_path() == runtime_dir / "wsinspect" / "inspector.sock"


@pytest.mark.parametrize("value", [None, "", "relative/run"], ids=["unset", "empty", "relative"])
def test_default_path_without_usable_xdg_runtime_dir(monkeypatch: pytest.MonkeyPatch, value: str | None) -> None:
    if value is None:
        monkeypatch.delenv("XDG_RUNTIME_DIR")
    else:
        monkeypatch.setenv("XDG_RUNTIME_DIR", value)
    expected = Path(tempfile.gettempdir()) / f"wsinspect-{os.getuid()}" / "inspector.sock"
    assert default_socket_path() == expected


def test_resolve_defaults_to_default_path() -> None:
    assert resolve_socket_path(None) == default_socket_path()


def test_resolve_honours_env_var(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WSINSPECT_SOCKET", "/srv/ws.sock")
    assert resolve_socket_path(None) == Path("/srv/ws.sock")


def test_resolve_ignores_empty_env_var(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WSINSPECT_SOCKET", "")
    assert resolve_socket_path(None) == default_socket_path()


@pytest.mark.parametrize("explicit", ["/srv/explicit.sock", Path("/srv/explicit.sock")], ids=["str", "path"])
def test_resolve_explicit_wins_over_env(monkeypatch: pytest.MonkeyPatch, explicit: str | Path) -> None:
    monkeypatch.setenv("WSINSPECT_SOCKET", "/srv/env.sock")
    assert resolve_socket_path(explicit) == Path("/srv/explicit.sock")


def test_resolve_expands_home(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOME", "/home/someone")
    assert resolve_socket_path("~/ws.sock") == Path("/home/someone/ws.sock")
    monkeypatch.setenv("WSINSPECT_SOCKET", "~/env.sock")
    assert resolve_socket_path(None) == Path("/home/someone/env.sock")


# --- the per-user directory -------------------------------------------------------------------


@pytest.mark.parametrize("umask", [0o000, 0o022, 0o277], ids=["permissive", "usual", "strips-owner-bits"])
def test_default_dir_created_private_and_socket_0600(sockets: Sockets, umask: int) -> None:
    path = default_socket_path()
    previous = os.umask(umask)  # neither widens nor narrows what is created
    try:
        bind(path, sockets)
        assert os.umask(umask) == umask, "the umask is restored after binding"
    finally:
        os.umask(previous)
    dir_st = os.lstat(path.parent)
    assert stat.S_ISDIR(dir_st.st_mode)
    assert stat.S_IMODE(dir_st.st_mode) == 0o700
    sock_st = os.lstat(path)
    assert stat.S_ISSOCK(sock_st.st_mode)
    assert stat.S_IMODE(sock_st.st_mode) == 0o600
    assert accepts_connections(path)


def test_tmp_per_user_dir_created_private(monkeypatch: pytest.MonkeyPatch, short_dir: Path, sockets: Sockets) -> None:
    monkeypatch.delenv("XDG_RUNTIME_DIR")
    monkeypatch.setattr(tempfile, "tempdir", str(short_dir))
    path = default_socket_path()
    assert path == short_dir / f"wsinspect-{os.getuid()}" / "inspector.sock"
    bind(path, sockets)
    assert stat.S_IMODE(os.lstat(path.parent).st_mode) == 0o700
    assert stat.S_ISSOCK(os.lstat(path).st_mode)


def test_default_dir_with_group_or_other_bits_refused(runtime_dir: Path) -> None:
    directory = runtime_dir / "wsinspect"
    directory.mkdir()
    directory.chmod(0o755)
    message = refusal(directory / "inspector.sock")
    assert str(directory) in message
    assert "0755" in message
    assert f"chmod 700 {directory}" in message
    assert list(directory.iterdir()) == []
    assert stat.S_IMODE(directory.stat().st_mode) == 0o755, "the directory is not silently fixed"


def test_symlinked_default_dir_refused(runtime_dir: Path, short_dir: Path) -> None:
    target = short_dir / "elsewhere"
    target.mkdir(mode=0o700)
    directory = runtime_dir / "wsinspect"
    directory.symlink_to(target)
    message = refusal(directory / "inspector.sock")
    assert str(directory) in message
    assert "symbolic link" in message
    assert list(target.iterdir()) == []


@gives_away_files
def test_default_dir_owned_by_other_uid_refused(runtime_dir: Path) -> None:
    directory = runtime_dir / "wsinspect"
    directory.mkdir(mode=0o700)
    os.chown(directory, OTHER_UID, -1)
    message = refusal(directory / "inspector.sock")
    assert str(directory) in message
    assert f"owned by uid {OTHER_UID}" in message
    assert list(directory.iterdir()) == []


def test_default_dir_that_is_a_file_refused(runtime_dir: Path) -> None:
    directory = runtime_dir / "wsinspect"
    directory.write_text("not a dir")
    message = refusal(directory / "inspector.sock")
    assert str(directory) in message
    assert "not a directory" in message


def test_missing_xdg_runtime_dir_refused(monkeypatch: pytest.MonkeyPatch, short_dir: Path) -> None:
    missing = short_dir / "gone"
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(missing))
    message = refusal(default_socket_path())
    assert f"directory {missing} does not exist" in message
    assert not missing.exists()


def test_xdg_runtime_dir_that_is_a_file_refused(monkeypatch: pytest.MonkeyPatch, short_dir: Path) -> None:
    not_a_dir = short_dir / "file"
    not_a_dir.write_text("")
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(not_a_dir))
    message = refusal(default_socket_path())
    assert f"cannot create socket directory {not_a_dir / 'wsinspect'}" in message


def test_tmp_per_user_dir_checked_strictly_even_when_given_explicitly(
    monkeypatch: pytest.MonkeyPatch, short_dir: Path
) -> None:
    monkeypatch.setattr(tempfile, "tempdir", str(short_dir))
    directory = short_dir / f"wsinspect-{os.getuid()}"
    directory.mkdir()
    directory.chmod(0o755)
    message = refusal(resolve_socket_path(directory / "inspector.sock"))
    assert "0755" in message


# --- an explicit directory --------------------------------------------------------------------


def test_explicit_dir_must_exist(short_dir: Path) -> None:
    missing = short_dir / "missing"
    message = refusal(missing / "inspector.sock")
    assert f"directory {missing} does not exist" in message
    assert not missing.exists(), "an explicit directory is never created"


def test_explicit_dir_that_is_a_file_refused(short_dir: Path) -> None:
    not_a_dir = short_dir / "file"
    not_a_dir.write_text("")
    assert refusal(not_a_dir / "inspector.sock") == (
        f"cannot create the socket {not_a_dir / 'inspector.sock'}: {not_a_dir} is not a directory"
    )
    assert "cannot use the socket directory" in refusal(not_a_dir / "sub" / "inspector.sock")


@gives_away_files
def test_explicit_dir_writable_by_others_and_owned_by_another_uid_refused(short_dir: Path) -> None:
    directory = short_dir / "shared"
    directory.mkdir()
    directory.chmod(0o777)
    os.chown(directory, OTHER_UID, -1)
    message = refusal(directory / "inspector.sock")
    assert str(directory) in message
    assert f"uid {OTHER_UID}" in message
    assert list(directory.iterdir()) == []


@pytest.mark.parametrize(
    ("mode", "owner"),
    [
        pytest.param(0o1777, OTHER_UID, id="sticky-shared", marks=gives_away_files),
        pytest.param(0o755, OTHER_UID, id="not-writable-by-others", marks=gives_away_files),
        pytest.param(0o777, os.getuid(), id="own-dir"),
    ],
)
def test_explicit_dir_accepted(short_dir: Path, sockets: Sockets, mode: int, owner: int) -> None:
    directory = short_dir / "d"
    directory.mkdir()
    directory.chmod(mode)
    os.chown(directory, owner, -1)
    path = directory / "inspector.sock"
    bind(path, sockets)
    assert stat.S_IMODE(os.lstat(path).st_mode) == 0o600
    assert stat.S_IMODE(directory.stat().st_mode) == mode, "an explicit directory is left as it is"


def test_system_tmp_is_accepted_as_explicit_dir() -> None:
    tmp = Path("/tmp")
    assert tmp.stat().st_mode & stat.S_ISVTX, "this test expects a sticky /tmp"
    path = tmp / f"wsinspect-test-{os.getpid()}.sock"
    prepare_socket_dir(path)
    assert not path.exists(), "preparing an explicit directory creates nothing"


# --- what is already at the path --------------------------------------------------------------


def test_stale_socket_replaced(short_dir: Path, sockets: Sockets) -> None:
    path = short_dir / "inspector.sock"
    raw_socket(path, listen=False, sockets=sockets).close()  # a dead inspector: the file is left
    assert stat.S_ISSOCK(os.lstat(path).st_mode)
    assert not accepts_connections(path)
    bind(path, sockets)
    assert accepts_connections(path)
    assert stat.S_IMODE(os.lstat(path).st_mode) == 0o600


def test_live_listener_refused(short_dir: Path, sockets: Sockets) -> None:
    path = short_dir / "inspector.sock"
    raw_socket(path, listen=True, sockets=sockets)
    assert refusal(path) == f"another inspector is listening on {path}"
    assert accepts_connections(path), "the live listener's socket is left alone"


def test_second_inspector_refused(short_dir: Path, sockets: Sockets) -> None:
    path = short_dir / "inspector.sock"
    bind(path, sockets)
    assert refusal(path) == f"another inspector is listening on {path}"


def test_busy_live_listener_refused(short_dir: Path, sockets: Sockets) -> None:
    """A listener whose backlog is full makes the probe time out: it is alive, so it is refused."""
    path = short_dir / "inspector.sock"
    listener = raw_socket(path, listen=False, sockets=sockets)
    listener.listen(0)
    filler = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sockets.append(filler)
    filler.connect(os.fspath(path))  # fills the backlog; nobody accepts
    assert refusal(path) == f"another inspector is listening on {path}"
    assert stat.S_ISSOCK(os.lstat(path).st_mode)


def test_regular_file_refused(short_dir: Path) -> None:
    path = short_dir / "inspector.sock"
    path.write_text("precious")
    assert refusal(path) == f"{path} exists and is not a socket"
    assert path.read_text() == "precious"


def test_symlink_at_path_refused_even_to_a_socket(short_dir: Path, sockets: Sockets) -> None:
    real = short_dir / "real.sock"
    raw_socket(real, listen=False, sockets=sockets).close()
    path = short_dir / "inspector.sock"
    path.symlink_to(real)
    assert refusal(path) == f"{path} exists and is not a socket"
    assert path.is_symlink()
    assert stat.S_ISSOCK(os.lstat(real).st_mode)


def test_path_length_limit(short_dir: Path, sockets: Sockets) -> None:
    prefix = f"{short_dir}/"
    longest = Path(prefix + "s" * (MAX_SOCKET_PATH_BYTES - len(prefix)))
    assert len(os.fsencode(longest)) == MAX_SOCKET_PATH_BYTES
    bind(longest, sockets)
    assert accepts_connections(longest)

    too_long = Path(prefix + "t" * (MAX_SOCKET_PATH_BYTES + 1 - len(prefix)))
    message = refusal(too_long)
    assert "too long" in message
    assert str(MAX_SOCKET_PATH_BYTES) in message
    assert not os.path.lexists(too_long)


def test_too_long_default_path_refused_before_creating_the_dir(
    monkeypatch: pytest.MonkeyPatch, runtime_dir: Path
) -> None:
    deep = runtime_dir / ("x" * MAX_SOCKET_PATH_BYTES)
    deep.mkdir()
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(deep))
    assert "too long" in refusal(default_socket_path())
    assert not (deep / "wsinspect").exists()


# --- the returned socket and removing it ------------------------------------------------------


def test_socket_is_listening_and_non_blocking(short_dir: Path, sockets: Sockets) -> None:
    path = short_dir / "inspector.sock"
    listening = bind(path, sockets)
    assert listening.path == path
    sock = listening.socket
    assert sock.family == socket.AF_UNIX
    assert sock.type == socket.SOCK_STREAM
    assert sock.getblocking() is False
    assert sock.getsockopt(socket.SOL_SOCKET, socket.SO_ACCEPTCONN) == 1


async def test_serves_with_asyncio(short_dir: Path) -> None:
    path = short_dir / "inspector.sock"

    async def echo(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(await reader.readline())
        await writer.drain()
        writer.close()

    with bind_listening_socket(path) as listening:
        keep = {"cleanup_socket": False} if sys.version_info >= (3, 13) else {}  # 3.13 unlinks on close
        server = await asyncio.start_unix_server(echo, sock=listening.socket.dup(), **keep)
        try:
            reader, writer = await asyncio.open_unix_connection(os.fspath(path))
            writer.write(b"hello\n")
            assert await reader.readline() == b"hello\n"
            writer.close()
            await writer.wait_closed()
        finally:
            server.close()
            await server.wait_closed()
        assert refusal(path) == f"another inspector is listening on {path}", "ours holds the path until closed"
    assert not exists(path)
    assert listening.socket.fileno() == -1


@pytest.mark.parametrize("error", [OSError(95, "Operation not supported"), RuntimeError("boom")], ids=repr)
def test_failure_after_bind_leaves_no_file(
    monkeypatch: pytest.MonkeyPatch, short_dir: Path, error: BaseException
) -> None:
    def fail(self: socket.socket, backlog: int = 0) -> None:
        raise error

    monkeypatch.setattr(socket.socket, "listen", fail)
    path = short_dir / "inspector.sock"
    previous = os.umask(0o022)
    try:
        if isinstance(error, OSError):
            assert refusal(path) == f"cannot listen on {path}: Operation not supported"
        else:
            with pytest.raises(RuntimeError, match="boom"):
                bind_listening_socket(path)
        assert os.umask(0o022) == 0o022
    finally:
        os.umask(previous)
    assert not exists(path)


def test_losing_a_bind_race_leaves_the_winners_file(monkeypatch: pytest.MonkeyPatch, short_dir: Path) -> None:
    path = short_dir / "inspector.sock"

    def racer_wins(self: socket.socket, address: str) -> None:
        path.write_text("the winner's")
        raise OSError(errno.EADDRINUSE, os.strerror(errno.EADDRINUSE))

    monkeypatch.setattr(socket.socket, "bind", racer_wins)
    assert "something else created it at the same time" in refusal(path)
    assert path.read_text() == "the winner's"


def test_close_removes_our_socket(short_dir: Path, sockets: Sockets) -> None:
    path = short_dir / "inspector.sock"
    listening = bind(path, sockets)
    listening.close()
    assert not os.path.lexists(path)
    assert listening.socket.fileno() == -1
    assert not accepts_connections(path)


def test_close_ignores_a_missing_file(short_dir: Path, sockets: Sockets) -> None:
    path = short_dir / "inspector.sock"
    listening = bind(path, sockets)
    path.unlink()
    listening.close()
    listening.close()
    assert not os.path.lexists(path)


def test_close_leaves_a_later_inspectors_socket(short_dir: Path, sockets: Sockets) -> None:
    path = short_dir / "inspector.sock"
    first = bind(path, sockets)
    path.unlink()  # someone deletes our file...
    second = bind(path, sockets)  # ...and a second inspector binds the free path
    first.close()  # ours cleans up later
    assert stat.S_ISSOCK(os.lstat(path).st_mode), "the second inspector's socket must survive"
    assert accepts_connections(path)
    second.close()
    assert not os.path.lexists(path)


def test_close_leaves_a_file_that_replaced_ours(short_dir: Path, sockets: Sockets) -> None:
    path = short_dir / "inspector.sock"
    listening = bind(path, sockets)
    path.unlink()
    path.write_text("someone else's")
    listening.close()
    assert path.read_text() == "someone else's"


def test_close_leaves_a_socket_it_did_not_bind(short_dir: Path, sockets: Sockets) -> None:
    path = short_dir / "inspector.sock"
    listening = bind(path, sockets)
    path.unlink()
    raw_socket(path, listen=True, sockets=sockets)  # not an inspector's: bound by some other program
    listening.close()
    assert stat.S_ISSOCK(os.lstat(path).st_mode)
    assert accepts_connections(path)


@gives_away_files
def test_the_app_side_only_trusts_a_private_default_dir(monkeypatch: pytest.MonkeyPatch) -> None:
    from wsinspect.paths import safe_to_connect

    runtime = Path(tempfile.mkdtemp(prefix="wsr-", dir="/tmp"))
    try:
        monkeypatch.setenv("XDG_RUNTIME_DIR", str(runtime))
        path = default_socket_path()
        path.parent.mkdir(mode=0o700)
        assert safe_to_connect(path)
        os.chmod(path.parent, 0o777)
        assert not safe_to_connect(path)
        os.chmod(path.parent, 0o700)
        os.chown(path.parent, 12345, -1)
        assert not safe_to_connect(path)
        assert safe_to_connect(runtime / "explicit.sock")  # chosen by the user: trusted
    finally:
        shutil.rmtree(runtime)
