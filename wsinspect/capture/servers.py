"""Which ASGI server runs a connection, read once per connection from its ``send`` callable.

Each server passes the app a bound method of its own connection object: uvicorn's WebSocket
protocols (``websockets-sansio``, ``websockets``, ``wsproto``, and wsinspect's subclasses of them),
Hypercorn's ``WSStream``, Granian's ``ASGIWebsocketProtocol``. A framework may wrap it first
(Litestar's exception middleware puts it in a closure), so wrappers are looked through: closures,
``functools.partial`` and ``__wrapped__``, a few levels deep. Nothing here raises.
"""

from __future__ import annotations

from typing import Any, Final, Literal

from .failures import tracking_failed

__all__ = ("SERVERS", "Server", "server_of")

Server = Literal["uvicorn", "hypercorn", "granian"]
SERVERS: Final[tuple[Server, ...]] = ("uvicorn", "hypercorn", "granian")

_DEPTH: Final = 4  # wrappers looked through, at most (Litestar's is one)


def server_of(send: Any) -> Server | None:
    """The server whose ``send`` this is (or wraps), None when it cannot be told."""
    try:
        return _found(send, _DEPTH)
    except Exception:  # pragma: no cover - an odd callable: the server stays unknown
        tracking_failed()
        return None


def _found(send: Any, depth: int) -> Server | None:
    owner = getattr(send, "__self__", None)
    if owner is not None:
        for cls in type(owner).__mro__:  # wsinspect.uvicorn's classes extend uvicorn's
            top = (getattr(cls, "__module__", None) or "").partition(".")[0]
            if top in SERVERS:
                return top
    if depth == 0:
        return None
    inner: list[Any] = [getattr(send, "func", None), getattr(send, "__wrapped__", None)]
    cells = getattr(send, "__closure__", None) or ()
    for cell in cells:
        try:
            inner.append(cell.cell_contents)
        except ValueError:  # an empty cell
            continue
    for candidate in inner:
        if callable(candidate) and candidate is not send:
            found = _found(candidate, depth - 1)
            if found is not None:
                return found
    return None
