"""Tracebacks (and stacks) as the inspector shows them, and what refused a handshake, read from one.

Runs only when a handler fails or logs an exception, or the watchdog reads a stack, never per
frame. A frame of the app's own code (``app``) is one outside the standard library, the installed
packages and wsinspect itself.
A frame's file is named as :func:`source_path` says: relative to the app's working directory
when under it, absolute otherwise.
"""

from __future__ import annotations

import linecache
import os
import site
import sys
import sysconfig
from collections.abc import Sequence
from functools import cache, lru_cache
from types import FrameType, TracebackType
from typing import Final

from ..model import TracebackEntry, short_handler

__all__ = (
    "DISCONNECT_EXCEPTIONS",
    "MAX_ENTRIES",
    "describe_exception",
    "is_app_file",
    "is_disconnect",
    "refused_by",
    "source_path",
    "stack_entries",
    "traceback_entries",
)

# Frames kept of a traceback: the innermost, where it failed (deep framework stacks run to 60).
MAX_ENTRIES: Final = 80
_MAX_CODE: Final = 200  # characters of a source line
# wsinspect's own app side is no part of the app (the demo's handlers, in wsinspect/demo, are),
# wherever wsinspect is installed.
_PACKAGE_DIR: Final = os.path.dirname(os.path.dirname(os.path.realpath(__file__)))
_OURS: Final = tuple(
    os.path.join(_PACKAGE_DIR, name) for name in ("capture" + os.sep, "litestar.py", "uvicorn.py", "__init__.py")
)


def describe_exception(exc: BaseException, limit: int) -> str:
    """``Type: message`` (just ``Type`` without one), the message cut to ``limit`` characters."""
    try:
        text = str(exc)
    except Exception:  # a __str__ that fails: the type says enough
        text = ""
    name = type(exc).__name__
    if not text:
        return name
    return f"{name}: {text[:limit]}…" if len(text) > limit else f"{name}: {text}"


def traceback_entries(tb: TracebackType | None) -> list[TracebackEntry]:
    """The frames of a traceback, outermost first, at most the innermost :data:`MAX_ENTRIES`."""
    frames: list[tuple[str, int, str]] = []
    while tb is not None:
        code = tb.tb_frame.f_code
        frames.append((code.co_filename, tb.tb_lineno, code.co_qualname))
        tb = tb.tb_next
    return _entries(frames[-MAX_ENTRIES:])


def stack_entries(frames: Sequence[FrameType]) -> list[TracebackEntry]:
    """Frames of a stack, outermost first (each at the line it runs), as traceback entries: at most
    the innermost :data:`MAX_ENTRIES`."""
    return _entries([(f.f_code.co_filename, f.f_lineno or 0, f.f_code.co_qualname) for f in frames[-MAX_ENTRIES:]])


def _entries(frames: list[tuple[str, int, str]]) -> list[TracebackEntry]:
    entries = []
    cwd = _working_directory()
    for filename, line, function in frames:
        source = linecache.getline(filename, line).strip()
        app = is_app_file(filename)
        file = _relative(filename, cwd)
        entries.append(TracebackEntry(file=file, line=line, function=function, code=source[:_MAX_CODE], app=app))
    return entries


def source_path(filename: str) -> str:
    """A code file as the inspector shows it: relative to the app's working directory when it is
    under it ("app.py", "chat/handlers.py" for an app run from its directory), else absolute
    (an app run with ``--app-dir``, an installed package). A pseudo file ("<string>") stays as it is."""
    return _relative(filename, _working_directory())


def _working_directory() -> str | None:
    """The app's working directory now; None when it is the root (relative paths there would read
    as absolute ones without their slash) or gone."""
    try:
        cwd = os.getcwd()
    except OSError:  # removed under the app
        return None
    return None if cwd == os.path.dirname(cwd) else cwd


@lru_cache(maxsize=1024)
def _relative(filename: str, cwd: str | None) -> str:
    if not filename or filename.startswith("<"):
        return filename
    if not os.path.isabs(filename):  # a path the app imported relative to its working directory
        if cwd is None:
            return filename
        filename = os.path.join(cwd, filename)
    path = os.path.normpath(filename)
    if cwd is not None:
        # As the app named it, or through its symbolic links (a working directory is always real).
        for candidate in (path, os.path.realpath(path)):
            if candidate.startswith(os.path.join(cwd, "")):
                return os.path.relpath(candidate, cwd)
    return path


@cache
def _library_roots() -> tuple[str, ...]:
    paths = sysconfig.get_paths()
    roots = {paths[name] for name in ("stdlib", "platstdlib", "purelib", "platlib") if name in paths}
    try:
        roots.update(site.getsitepackages())
        roots.add(site.getusersitepackages())
    except AttributeError:  # pragma: no cover - a virtualenv's old site module
        pass
    roots.add(sys.base_prefix + os.sep + "lib")
    return tuple(os.path.join(os.path.realpath(root), "") for root in roots if root)


@cache
def is_app_file(filename: str) -> bool:
    """Whether a frame's file is the app's own code (not a library, nor frozen, nor wsinspect)."""
    if not filename or filename.startswith("<"):
        return False
    path = os.path.realpath(filename)
    if path.startswith(_PACKAGE_DIR + os.sep):  # installed or not: the demo is an app, the rest is ours
        return not path.startswith(_OURS)
    return not path.startswith(_library_roots()) and f"{os.sep}site-packages{os.sep}" not in path


# The framework functions that call what refuses a handshake: the frame after them in a traceback
# (the first of the app's own, else the next) is the guard or the dependency. Litestar calls
# guards from ``authorize_connection`` and dependencies from ``resolve_dependency``; FastAPI
# dependencies come from ``solve_dependencies``.
_CALLERS: Final = {
    "authorize_connection": "guard",
    "resolve_dependency": "dependency",
    "solve_dependencies": "dependency",
}
# Where Litestar turns the request into the handler's arguments: a failure there is a parameter.
_PARAMETERS: Final = ("parse_values_from_connection_kwargs", "to_kwargs")


def refused_by(entries: Sequence[TracebackEntry], handler: str | None) -> str:
    """What raised before the accept, from its traceback: "guard requires_token", "dependency
    current_user", "parameters", "handler chat", or the innermost function of the app's own."""
    names = [entry.function.rsplit(".", 1)[-1] for entry in entries]
    if any(name in _PARAMETERS for name in names):  # the handler's or a dependency's parameters
        return "parameters"
    for position, name in enumerate(names):
        role = _CALLERS.get(name)
        if role is not None:
            rest = entries[position + 1 :]
            # The first of the app's own; without one (an app installed as a package), where it raised.
            culprit = next((later for later in rest if later.app), rest[-1] if rest else None)
            if culprit is not None:
                return f"{role} {culprit.function.rsplit('.', 1)[-1]}"
    short = short_handler(handler) if handler else None
    own = [entry for entry in entries if entry.app]
    if short is not None and any(entry.function.rsplit(".", 1)[-1] == short for entry in own):
        return f"handler {short}"
    if own:
        return own[-1].function.rsplit(".", 1)[-1]
    return f"handler {short}" if short else "the app"


# The exceptions that say the client is gone, by class name (any class along the MRO), so that
# recognising them imports no framework: Litestar's and Starlette's WebSocketDisconnect (raised
# by receive after a websocket.disconnect), uvicorn's ClientDisconnected (an OSError raised by a
# send to a client that left).
DISCONNECT_EXCEPTIONS: Final = frozenset({"WebSocketDisconnect", "ClientDisconnected"})


def is_disconnect(exc: BaseException) -> bool:
    """Whether ``exc`` says the client is gone: a disconnect exception, or a lost connection."""
    if isinstance(exc, ConnectionError):  # BrokenPipeError, ConnectionResetError: the peer went away
        return True
    return any(cls.__name__ in DISCONNECT_EXCEPTIONS for cls in type(exc).__mro__)
