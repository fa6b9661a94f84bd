"""What the client saw of a connection's end, where the app cannot know it from ASGI alone
(sans-I/O: a pure function of the server and of how the connection ended).

ASGI shows the app what it sent and what the server reported back, not what went over the wire.
Servers differ there: a close before the accept is an HTTP 403 (which a browser reports as
close 1006), a handler that fails or returns without a close ends with whatever the server sends
on its own. Each rule below was measured with real servers and real ``websockets`` clients
(``tests/test_asgi_servers.py`` holds them to it): uvicorn 0.55 with its ``websockets-sansio``,
``websockets`` and ``wsproto`` implementations (with and without wsinspect's protocol classes),
Hypercorn 0.18 and Granian 2.8, under Litestar, Starlette and FastAPI apps. Litestar turns a
handler's exception into a close of its own (4500, or a 403 before the accept), which the app
sends and wsinspect records: the client then saw what the app did, and nothing is said. Under a
server not measured, only what holds for any server is said.
"""

from __future__ import annotations

from typing import Final, NamedTuple

from ..model import describe_close
from .servers import Server

__all__ = ("SERVER_RESTART_CODE", "Ending", "client_saw", "server_closed")

# A browser reports a refused upgrade (any HTTP status) as a close 1006.
_BROWSER_REFUSED: Final = "(a browser reports close 1006)"

# The HTTP status each server answers when the handler raises before the accept (the app sent nothing).
_FAILED_BEFORE_ACCEPT: Final[dict[Server, int]] = {"uvicorn": 500, "hypercorn": 500, "granian": 403}

# What each server sends when the handler ends after the accept without a close (raising or
# returning; they do the same): uvicorn closes the TCP connection without a close frame, Hypercorn
# sends 1011, Granian a close frame without a code.
_ENDED_WITHOUT_CLOSE: Final[dict[Server, str]] = {
    "uvicorn": "no close frame, the connection just closed (a browser reports 1006)",
    "hypercorn": "close 1011 Internal Error, sent by Hypercorn",
    "granian": "a close frame without a code (a browser reports 1005)",
}

# uvicorn closes every connection with 1012 when it shuts down (and so on each --reload), and hands
# the app a websocket.disconnect with that code.
SERVER_RESTART_CODE: Final = 1012


class Ending(NamedTuple):
    """How a connection ended, as the app's side of ASGI shows it."""

    accepted: bool  # the app accepted the upgrade
    app_closed: bool  # the server took a close the app sent (before or after the accept)
    app_responded: bool  # the app sent an HTTP response of its own (the denial extension)
    failed: bool  # the handler ended with an exception (not a disconnect after the client left)
    cancelled: bool  # the handler's task was cancelled from outside
    returned: bool  # the handler returned
    client_left: bool  # the server told the app the client was gone (a disconnect, a failed send)
    # A close the app sent that never reached the client: the server refused it (the client had
    # gone), or the app sent it after it heard the client leave. Its code, else None.
    lost_close: int | None = None
    # The code of the websocket.disconnect the server reported, when that ended the connection.
    disconnect_code: int | None = None


def server_closed(server: Server | None, disconnect_code: int | None) -> bool:
    """Whether a disconnect the server reported is the server's own close, not the client's: uvicorn's
    1012 on shutdown (a client that sends 1012 itself, a code meant for servers, is taken for it)."""
    return server == "uvicorn" and disconnect_code == SERVER_RESTART_CODE


def client_saw(server: Server | None, ending: Ending) -> str | None:
    """What the client received at the end, when it differs from what the app did or the app cannot
    know it; None when the client saw what the app did, or when it is not known."""
    if ending.lost_close is not None:  # true under any server: the client was gone
        return f"nothing of the app's close {ending.lost_close}: it had left (never delivered)"
    if server is None or ending.app_responded:
        return None
    if not ending.accepted:
        if ending.app_closed:
            return f"HTTP 403 {_BROWSER_REFUSED}"
        if ending.failed and not ending.client_left:
            return f"HTTP {_FAILED_BEFORE_ACCEPT[server]} {_BROWSER_REFUSED}"
        return None  # returned or cancelled before the accept: not measured
    if ending.app_closed:
        return None  # the app's close, answered or not: what the app did
    if server_closed(server, ending.disconnect_code):
        return f"close {describe_close(SERVER_RESTART_CODE, '')}, sent by uvicorn as it shut down or reloaded"
    if ending.client_left:
        return None  # its own close, or its drop
    if ending.cancelled:
        if server == "hypercorn":  # it cancels its handlers on shutdown, then closes with 1011
            return "close 1011 Internal Error, sent by Hypercorn as it cancelled the handler (shutdown)"
        return None
    if ending.failed or ending.returned:
        return _ENDED_WITHOUT_CLOSE[server]
    return None
