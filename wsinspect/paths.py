"""Where the inspector listens: the Unix socket path, its directory, and the listening socket.

The inspector (the process that listens) uses :func:`bind_listening_socket`; the app side
only needs :func:`resolve_socket_path` and :func:`untrusted_socket_dir`. No third-party imports
here: the app side imports this module too.
"""

from __future__ import annotations

import contextlib
import errno
import os
import socket
import stat
import sys
import tempfile
from pathlib import Path

__all__ = (
    "SOCKET_ENV_VAR",
    "ListeningSocket",
    "SocketPathError",
    "bind_listening_socket",
    "default_socket_path",
    "prepare_socket_dir",
    "resolve_socket_path",
    "safe_to_connect",
    "untrusted_socket_dir",
)

SOCKET_ENV_VAR = "WSINSPECT_SOCKET"
SOCKET_NAME = "inspector.sock"

# ``sun_path`` is 108 bytes on Linux and 104 on macOS and the BSDs, one of which we keep for the NUL.
MAX_SOCKET_PATH_BYTES = 107 if sys.platform.startswith("linux") else 103

STALE_CHECK_TIMEOUT = 0.5
LISTEN_BACKLOG = 128


class SocketPathError(Exception):
    """The socket path cannot be used; ``str()`` is one sentence to show the user."""


def _reason(exc: OSError) -> str:
    return exc.strerror or str(exc) or type(exc).__name__


def _runtime_dir() -> Path | None:
    value = os.environ.get("XDG_RUNTIME_DIR", "")
    # The XDG base directory spec says to ignore relative paths.
    return Path(value) if value and os.path.isabs(value) else None


def _per_user_dirs() -> list[Path]:
    """The directories wsinspect creates for the current user and so checks strictly."""
    dirs = [Path(tempfile.gettempdir()) / f"wsinspect-{os.getuid()}"]
    runtime = _runtime_dir()
    if runtime is not None:
        dirs.insert(0, runtime / "wsinspect")
    return dirs


def default_socket_path() -> Path:
    """``$XDG_RUNTIME_DIR/wsinspect/inspector.sock``, else ``<tmp>/wsinspect-<uid>/inspector.sock``."""
    return _per_user_dirs()[0] / SOCKET_NAME


def resolve_socket_path(explicit: str | os.PathLike[str] | None) -> Path:
    """``explicit`` if given, else env ``WSINSPECT_SOCKET`` if non-empty, else the default; ``~`` expanded."""
    if explicit is not None and os.fspath(explicit):
        return Path(explicit).expanduser()
    from_env = os.environ.get(SOCKET_ENV_VAR, "")
    if from_env:
        return Path(from_env).expanduser()
    return default_socket_path()


def _same_dir(a: Path, b: Path) -> bool:
    # Lexical comparison only: resolving symlinks would hide the symlink we want to refuse.
    return os.path.abspath(a) == os.path.abspath(b)


def prepare_socket_dir(path: Path) -> None:
    """Make sure the directory that will hold the socket ``path`` is safe to listen in.

    wsinspect's own per-user directory is created (mode 0700) if missing and must be a real
    directory owned by the current user with no group or other permissions. Any other directory
    must exist and must not let other users replace the socket.
    """
    directory = path.parent
    if any(_same_dir(directory, own) for own in _per_user_dirs()):
        _prepare_own_dir(directory)
    else:
        _check_explicit_dir(path, directory)


def _prepare_own_dir(directory: Path) -> None:
    try:
        os.mkdir(directory, 0o700)
    except FileExistsError:
        pass
    except FileNotFoundError:
        raise SocketPathError(
            f"cannot create socket directory {directory}: directory {directory.parent} does not exist"
        ) from None
    except OSError as exc:
        raise SocketPathError(f"cannot create socket directory {directory}: {_reason(exc)}") from None
    else:
        os.chmod(directory, 0o700)  # mkdir's mode is masked by the umask
    _check_own_dir(directory)


def _check_own_dir(directory: Path) -> None:
    try:
        st = os.lstat(directory)
    except OSError as exc:
        raise SocketPathError(f"cannot check socket directory {directory}: {_reason(exc)}") from None
    refuse = f"refusing to use socket directory {directory}"
    if stat.S_ISLNK(st.st_mode):
        raise SocketPathError(f"{refuse}: it is a symbolic link (remove it and wsinspect will create a private one)")
    if not stat.S_ISDIR(st.st_mode):
        raise SocketPathError(f"{refuse}: it exists but is not a directory")
    uid = os.getuid()
    if st.st_uid != uid:
        raise SocketPathError(f"{refuse}: it is owned by uid {st.st_uid}, not by you (uid {uid})")
    mode = stat.S_IMODE(st.st_mode)
    if mode & 0o077:
        raise SocketPathError(
            f"{refuse}: its mode is {mode:04o} but it must be private to you (run: chmod 700 {directory})"
        )


def safe_to_connect(path: Path) -> bool:
    """For the app side: whether the socket ``path`` may be trusted with the app's traffic."""
    return untrusted_socket_dir(path) is None


def untrusted_socket_dir(path: Path) -> str | None:
    """For the app side: why the socket ``path`` may not be trusted with the app's traffic, or ``None``.

    In wsinspect's own per-user directory, only when that directory is private to this user, so
    another user cannot pose as the inspector by creating it first. Any other path was chosen
    explicitly, and is trusted.
    """
    directory = path.parent
    if not any(_same_dir(directory, own) for own in _per_user_dirs()):
        return None
    try:
        _check_own_dir(directory)
    except SocketPathError as exc:
        return str(exc)
    return None


def _check_explicit_dir(path: Path, directory: Path) -> None:
    try:
        st = os.stat(directory)
    except FileNotFoundError:
        raise SocketPathError(f"cannot create the socket {path}: directory {directory} does not exist") from None
    except OSError as exc:
        raise SocketPathError(f"cannot use the socket directory {directory}: {_reason(exc)}") from None
    if not stat.S_ISDIR(st.st_mode):
        raise SocketPathError(f"cannot create the socket {path}: {directory} is not a directory")
    others_can_write = st.st_mode & (stat.S_IWGRP | stat.S_IWOTH)
    if st.st_uid != os.getuid() and others_can_write and not st.st_mode & stat.S_ISVTX:
        raise SocketPathError(
            f"refusing to create the socket in {directory}: it belongs to uid {st.st_uid} and other users "
            "can write to it without a sticky bit, so they could replace the socket"
        )


def _check_length(path: Path) -> None:
    size = len(os.fsencode(path))
    if size > MAX_SOCKET_PATH_BYTES:
        raise SocketPathError(
            f"the socket path {path} is too long for a Unix socket ({size} bytes, at most "
            f"{MAX_SOCKET_PATH_BYTES}); choose a shorter one"
        )


def _clear_stale_socket(path: Path) -> None:
    """Remove a socket file left by an inspector that died; refuse anything else at ``path``."""
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return
    except OSError as exc:
        raise SocketPathError(f"cannot check {path}: {_reason(exc)}") from None
    if not stat.S_ISSOCK(st.st_mode):
        raise SocketPathError(f"{path} exists and is not a socket")

    probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    probe.settimeout(STALE_CHECK_TIMEOUT)
    try:
        probe.connect(os.fspath(path))
    except (ConnectionRefusedError, FileNotFoundError):
        pass  # stale: nobody listens there any more
    except (BlockingIOError, TimeoutError):
        # A live listener whose backlog is full. On Linux a Unix socket connect with a timeout
        # fails at once with EAGAIN then (it is never "in progress"); TimeoutError elsewhere.
        raise SocketPathError(f"another inspector is listening on {path}") from None
    except OSError as exc:
        raise SocketPathError(f"cannot check whether {path} is in use: {_reason(exc)}") from None
    else:
        raise SocketPathError(f"another inspector is listening on {path}")
    finally:
        probe.close()

    try:
        os.unlink(path)
    except FileNotFoundError:
        pass
    except OSError as exc:
        raise SocketPathError(f"cannot remove the stale socket {path}: {_reason(exc)}") from None


class ListeningSocket:
    """A listening Unix socket and the socket file it created; made by :func:`bind_listening_socket`.

    Serve on a duplicate, ``asyncio.start_unix_server(sock=listening.socket.dup())``: asyncio
    closes the socket it serves on, and this one must stay open until :meth:`close`. On Python
    3.13 and later pass ``cleanup_socket=False`` too, or asyncio unlinks the path when it closes.
    """

    def __init__(self, path: Path, sock: socket.socket, created: os.stat_result) -> None:
        self.path = path
        self.socket = sock
        self._created: tuple[int, int, int] | None = (created.st_dev, created.st_ino, created.st_ctime_ns)

    def close(self) -> None:
        """Close the socket, first removing the socket file if it is still the one created here.

        A file that replaced ours, such as another inspector's socket after someone deleted ours,
        is left alone. The check runs while our socket is open: it holds the inode of our file, so
        no new file can have been given the same inode number. Closing again does nothing.
        """
        created, self._created = self._created, None
        if created is None:
            return
        try:
            st = os.lstat(self.path)
            # The change time too, should the socket have been closed elsewhere and the inode reused.
            if stat.S_ISSOCK(st.st_mode) and (st.st_dev, st.st_ino, st.st_ctime_ns) == created:
                os.unlink(self.path)
        except FileNotFoundError:
            pass
        finally:
            self.socket.close()

    def __enter__(self) -> ListeningSocket:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def bind_listening_socket(path: Path) -> ListeningSocket:
    """Create, bind and listen on the Unix socket ``path`` (mode 0600), non-blocking.

    Prepares the socket's directory, replaces a stale socket left by a dead inspector and
    refuses when another inspector is listening there.
    """
    _check_length(path)
    prepare_socket_dir(path)
    _clear_stale_socket(path)

    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    created = False
    try:
        old_umask = os.umask(0o177)  # the file is born 0600: no window where it is wider
        try:
            sock.bind(os.fspath(path))
        finally:
            os.umask(old_umask)
        created = True
        os.chmod(path, 0o600)
        st = os.lstat(path)
        sock.listen(LISTEN_BACKLOG)
        sock.setblocking(False)
    except BaseException as exc:
        sock.close()
        if created:
            with contextlib.suppress(OSError):
                os.unlink(path)
        if not isinstance(exc, OSError):
            raise
        if exc.errno == errno.EADDRINUSE:
            raise SocketPathError(f"cannot listen on {path}: something else created it at the same time") from None
        raise SocketPathError(f"cannot listen on {path}: {_reason(exc)}") from None
    return ListeningSocket(path, sock, st)
