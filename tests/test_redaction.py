"""Secrets never leave the app: credentials in the query string, and payloads scrubbed by a hook."""

from __future__ import annotations

import json
import logging
from typing import Any

import pytest
from helpers.factories import echo_app
from helpers.servers import run_server
from helpers.waiting import until
from websockets.asyncio.client import connect

from wsinspect import WSInspectConfig, WSInspectMiddleware
from wsinspect.capture.tracker import ConnectionTracker
from wsinspect.model import REDACTED, Connection
from wsinspect.wire import BINARY, SENT, TEXT

# -- query strings ------------------------------------------------------------------------------


def recorded_query(query: bytes, **config: Any) -> str:
    scope = {"type": "websocket", "path": "/ws", "query_string": query}
    return ConnectionTracker(scope, WSInspectConfig(**config), 0.0).connection.query_string


@pytest.mark.parametrize(
    ("query", "recorded"),
    [
        (b"token=abc&room=1", f"token={REDACTED}&room=1"),
        (b"room=1&access_token=a.b.c&api_key=k&key=1&password=p&secret=s&auth=x", None),
        (b"Token=abc&API_KEY=k", f"Token={REDACTED}&API_KEY={REDACTED}"),  # any case
        (b"%74oken=abc", f"%74oken={REDACTED}"),  # a name as the app decodes it
        (b"token&room=1", "token&room=1"),  # no value to hide
        (b"tokens=1&room=token", "tokens=1&room=token"),  # only names, and whole ones
        (b"token=a&token=b", f"token={REDACTED}&token={REDACTED}"),
        (b"", ""),
    ],
)
def test_credentials_in_the_query_string_are_redacted_by_default(query: bytes, recorded: str | None) -> None:
    if recorded is None:  # every default name
        recorded = "room=1&" + "&".join(
            f"{name}={REDACTED}" for name in ("access_token", "api_key", "key", "password", "secret", "auth")
        )
    assert recorded_query(query) == recorded


def test_redact_query_params_chooses_the_names() -> None:
    assert recorded_query(b"token=abc&Sig=x", redact_query_params={"sig"}) == f"token=abc&Sig={REDACTED}"
    assert recorded_query(b"token=abc", redact_query_params=frozenset()) == "token=abc"


# -- the redact hook ----------------------------------------------------------------------------


def scrub_password(payload: str | bytes, connection: Connection) -> str | bytes | None:
    """The example of docs/reference/security.md: a JSON message's ``password`` field is never recorded."""
    if isinstance(payload, str) and payload.startswith("{"):
        message = json.loads(payload)
        if "password" in message:
            message["password"] = "[redacted]"
            return json.dumps(message)
    return payload


def contents(middleware: WSInspectMiddleware) -> list[tuple[int, Any, int, bool]]:
    """Each recorded frame's (code, content, size, truncated), of the only connection held."""
    ((_, _, records),) = middleware.recorder.held()
    return [(r[3], r[4], r[5], r[6]) for r in records if isinstance(r, tuple) and len(r) == 10]


async def echo_through(middleware: WSInspectMiddleware, payloads: list[str | bytes]) -> list[str | bytes]:
    """Send ``payloads`` through a real uvicorn server running ``middleware`` and return the echoes."""
    with run_server(middleware) as server:
        async with connect(server.ws_url("/ws?token=s3cret&room=7")) as ws:
            echoes = []
            for payload in payloads:
                await ws.send(payload)
                echoes.append(await ws.recv())

        def closed() -> bool:
            return all(c.state == "closed" for c in middleware.recorder.connections())

        await until(lambda: server.call(closed), bool, what="the connection to close")
    return echoes


async def test_a_redact_hook_scrubs_what_is_recorded_and_nothing_the_client_sees() -> None:
    seen: list[tuple[str | bytes, str]] = []

    def redact(payload: str | bytes, connection: Connection) -> str | bytes | None:
        seen.append((payload, connection.query_string))
        if payload == b"drop me":
            return None
        return scrub_password(payload, connection)

    middleware = WSInspectMiddleware(echo_app, WSInspectConfig(redact=redact, max_message_size=45))
    login = json.dumps({"user": "ann", "password": "hunter2"})
    payloads: list[str | bytes] = [login, "plain", b"drop me", "x" * 50]
    echoes = await echo_through(middleware, payloads)

    assert echoes == payloads  # the client sees its own messages, unchanged
    scrubbed = json.dumps({"user": "ann", "password": "[redacted]"})
    assert contents(middleware)[:-1] == [  # and the close
        (TEXT, scrubbed, len(login), False),  # received
        (TEXT + SENT, scrubbed, len(login), False),
        (TEXT, "plain", 5, False),
        (TEXT + SENT, "plain", 5, False),
        (BINARY, None, 7, False),  # size only
        (BINARY + SENT, None, 7, False),
        (TEXT, "x" * 45, 50, True),  # returned unchanged: cut as any payload
        (TEXT + SENT, "x" * 45, 50, True),
    ]
    # The hook saw every payload in both directions, with the connection (its query redacted).
    assert [payload for payload, _ in seen] == [p for p in payloads for _ in "rs"]
    assert {query for _, query in seen} == {f"token={REDACTED}&room=7"}


@pytest.mark.parametrize(
    "hook",
    [
        pytest.param(lambda payload, connection: 1 / 0, id="raises"),
        pytest.param(lambda payload, connection: 42, id="returns-an-int"),
    ],
)
async def test_a_failing_redact_hook_records_size_only_and_logs_once(
    hook: Any, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("wsinspect.capture.failures.redact_failed.count", 0)
    middleware = WSInspectMiddleware(echo_app, WSInspectConfig(redact=hook))
    with caplog.at_level(logging.DEBUG, logger="wsinspect"):
        echoes = await echo_through(middleware, ["secret one", b"secret two"])

    assert echoes == ["secret one", b"secret two"]
    assert contents(middleware)[:-1] == [(c, None, 10, False) for c in (TEXT, TEXT + SENT, BINARY, BINARY + SENT)]
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert [r.getMessage() for r in warnings] == [
        "wsinspect: the redact hook failed; frames it fails on are recorded by size only"
    ]
    assert warnings[0].exc_info is not None
    assert sum("the redact hook failed (" in r.getMessage() for r in caplog.records) == 3  # the others: debug


def test_a_replacement_of_the_other_type_is_recorded_as_the_frame_type() -> None:
    config = WSInspectConfig(redact=lambda payload, connection: b"\xff bytes" if isinstance(payload, str) else "text")
    tracker = ConnectionTracker({"type": "websocket", "path": "/"}, config, 0.0)
    tracker.redacted_data(0, {"type": "websocket.receive", "text": "abc"}, 1.0, 0.5)
    tracker.redacted_data(1, {"type": "websocket.send", "bytes": memoryview(b"abcd")}, 2.0)
    tracker.redacted_data(1, {"type": "websocket.send"}, 3.0)  # not a frame
    records = [r for r in tracker.records() if isinstance(r, tuple)]
    assert [(r[3], r[4], r[5], r[8]) for r in records] == [
        (TEXT, "\ufffd bytes", 3, 0.5),
        (BINARY + SENT, b"text", 4, None),
    ]
