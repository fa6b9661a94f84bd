"""What the client saw (issue 28), without servers: which server a ``send`` belongs to, and the rules
for a server that was not measured. The rules themselves are held to real servers by
``test_asgi_servers.py``; here, what holds whatever the server."""

from __future__ import annotations

import functools
from typing import Any

import pytest

from wsinspect.capture.client_saw import Ending, client_saw
from wsinspect.capture.servers import server_of
from wsinspect.capture.tracker import ConnectionTracker
from wsinspect.config import WSInspectConfig


def protocol_class(module: str) -> type:
    """A class that says it is defined in ``module``, as a server's protocol is."""
    return type("Protocol", (), {"__module__": module, "send": lambda self, message: None})


@pytest.mark.parametrize(
    ("module", "server"),
    [
        ("uvicorn.protocols.websockets.websockets_sansio_impl", "uvicorn"),
        ("hypercorn.protocol.ws_stream", "hypercorn"),
        ("granian._granian", "granian"),
        ("myserver.protocol", None),
    ],
)
def test_the_server_is_the_owner_of_send(module: str, server: str | None) -> None:
    send = protocol_class(module)().send
    assert server_of(send) == server
    # Through what frameworks put around it: a closure (Litestar's), a partial, functools.wraps.

    async def wrapped(message: Any) -> None:
        await send(message)

    assert server_of(wrapped) == server
    assert server_of(functools.partial(send)) == server
    assert server_of(functools.wraps(send)(lambda message: None)) == server


def test_a_subclass_of_a_servers_protocol_is_that_server() -> None:
    """wsinspect.uvicorn's protocol classes extend uvicorn's."""
    ours = type(
        "Ours", (protocol_class("uvicorn.protocols.websockets.wsproto_impl"),), {"__module__": "wsinspect.uvicorn"}
    )
    assert server_of(ours().send) == "uvicorn"


def test_no_server_is_told_from_what_is_no_server() -> None:
    assert server_of(print) is None
    assert server_of(None) is None
    assert server_of(lambda message: None) is None


ACCEPTED_AND_FAILED = Ending(
    accepted=True,
    app_closed=False,
    app_responded=False,
    failed=True,
    cancelled=False,
    returned=False,
    client_left=False,
)


def test_under_a_server_not_measured_only_what_holds_for_any_is_said() -> None:
    assert client_saw(None, ACCEPTED_AND_FAILED) is None
    refused = ACCEPTED_AND_FAILED._replace(accepted=False, failed=False, app_closed=True)
    assert client_saw(None, refused) is None
    lost = ACCEPTED_AND_FAILED._replace(client_left=True, lost_close=4001)
    assert client_saw(None, lost) == "nothing of the app's close 4001: it had left (never delivered)"


def test_an_app_that_answers_the_upgrade_itself_is_what_the_client_saw() -> None:
    """The denial response extension: the client got the app's own response."""
    responded = ACCEPTED_AND_FAILED._replace(accepted=False, failed=False, app_responded=True)
    assert client_saw("uvicorn", responded) is None


def test_a_client_that_sends_1012_itself_is_taken_for_uvicorns_restart_only_under_uvicorn() -> None:
    def ended_by(server: Any) -> tuple[str | None, str | None]:
        tracker = ConnectionTracker({"type": "websocket", "path": "/"}, WSInspectConfig(), 0.0, server=server)
        tracker.send({"type": "websocket.accept"}, 1.0)
        tracker.receive({"type": "websocket.disconnect", "code": 1012, "reason": ""}, 2.0)
        return tracker.connection.closed_by, tracker.connection.client_saw

    assert ended_by("uvicorn") == ("server", "close 1012 Service Restart, sent by uvicorn as it shut down or reloaded")
    assert ended_by("hypercorn") == ("client", None)
    assert ended_by(None) == ("client", None)


def test_a_close_after_the_client_left_never_reached_it_unless_the_app_had_closed_before() -> None:
    def ended(*messages: dict[str, Any]) -> str | None:
        tracker = ConnectionTracker({"type": "websocket", "path": "/"}, WSInspectConfig(), 0.0, server="hypercorn")
        tracker.send({"type": "websocket.accept"}, 1.0)
        for message in messages:
            (tracker.receive if message["type"] == "websocket.disconnect" else tracker.send)(message, 2.0)
        return tracker.connection.client_saw

    left = {"type": "websocket.disconnect", "code": 1000, "reason": ""}
    close = {"type": "websocket.close", "code": 4001, "reason": "late"}
    assert ended(left, close) == "nothing of the app's close 4001: it had left (never delivered)"
    assert ended(close, left, close) is None  # its first close went out: a second one changes nothing
