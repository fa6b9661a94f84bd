"""The handler's log records, in process: the capture never breaks the app's logging.

The middleware runs with the fake ASGI server of ``helpers/asgi.py``. The hook on
``logging.Logger.callHandlers`` is installed once per process; the tests that need a fresh install
(to see what it wraps) get one through the ``fresh_hook`` fixture, which puts everything back.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterator
from typing import Any

import pytest
from helpers.asgi import run, ws_scope
from helpers.factories import Collect
from helpers.waiting import until

from wsinspect import WSInspectConfig, WSInspectMiddleware
from wsinspect.capture import middleware
from wsinspect.capture.middleware import capture_logs
from wsinspect.capture.tracker import ConnectionTracker

APP_LOGGER = "tests.middleware_logs.app"
app_log = logging.getLogger(APP_LOGGER)
CONNECT: dict[str, Any] = {"type": "websocket.connect"}
DISCONNECT: dict[str, Any] = {"type": "websocket.disconnect", "code": 1000}


@pytest.fixture
def app_logs() -> Iterator[Collect]:
    """The app's logger: at DEBUG, with a handler of ours and nothing else (no propagation)."""
    handler = Collect()
    level, propagate = app_log.level, app_log.propagate
    app_log.setLevel(logging.DEBUG)
    app_log.propagate = False
    app_log.addHandler(handler)
    yield handler
    app_log.removeHandler(handler)
    app_log.setLevel(level)
    app_log.propagate = propagate


STDLIB_CALL_HANDLERS = middleware._call_handlers or logging.Logger.callHandlers


@pytest.fixture
def fresh_hook(monkeypatch: pytest.MonkeyPatch) -> None:
    """As in a fresh process: the standard library's ``callHandlers``, capture_logs() not yet
    installed; monkeypatch puts back what was there (wsinspect's hook, once a test installed it)."""
    monkeypatch.setattr(middleware, "_hook_installed", False)
    monkeypatch.setattr(logging.Logger, "callHandlers", STDLIB_CALL_HANDLERS)


def echo_after(*lines: tuple[int, str, tuple[Any, ...]]) -> Any:
    """An app that accepts, logs ``lines`` (level, format, args), then echoes text until a disconnect."""

    async def app(scope: Any, receive: Any, send: Any) -> None:
        assert (await receive())["type"] == "websocket.connect"
        await send({"type": "websocket.accept"})
        for level, text, args in lines:
            app_log.log(level, text, *args)
        while (message := await receive())["type"] == "websocket.receive":
            await send({"type": "websocket.send", "text": message.get("text") or ""})

    return app


def frames_of(wrapped: WSInspectMiddleware) -> list[tuple[str, str, Any]]:
    (conn,) = wrapped.recorder.connections()
    return [(frame.direction, frame.message_type, frame.content) for frame in conn.messages]


# -- a failure of the capture never reaches the app ------------------------------------------


async def test_a_tracker_log_that_raises_never_reaches_the_app(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture, app_logs: Collect
) -> None:
    def broken(self: ConnectionTracker, record: logging.LogRecord) -> None:
        raise RuntimeError("log bug")

    monkeypatch.setattr(ConnectionTracker, "log", broken)
    returned: list[str] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        await receive()
        await send({"type": "websocket.accept"})
        app_log.info("first")
        returned.append("first")
        app_log.warning("second")
        returned.append("second")
        while (message := await receive())["type"] == "websocket.receive":
            await send({"type": "websocket.send", "text": message["text"]})

    script: list[dict[str, Any]] = [CONNECT, {"type": "websocket.receive", "text": "after the logs"}, DISCONNECT]
    plain = await run(app, script)
    wrapped = WSInspectMiddleware(app)
    with caplog.at_level(logging.DEBUG, logger="wsinspect"):
        inspected = await run(wrapped, script)
    assert inspected.outgoing == plain.outgoing
    assert returned == ["first", "second"] * 2  # each logging call returned, with and without wsinspect
    assert [record.getMessage() for record in app_logs.records] == ["first", "second"] * 2
    # The frames after the failed captures are recorded all the same.
    assert frames_of(wrapped) == [
        ("received", "text", "after the logs"),
        ("sent", "text", "after the logs"),
        ("received", "close", ""),
    ]
    (conn,) = wrapped.recorder.connections()
    assert conn.logs == []
    assert (conn.state, conn.error) == ("closed", None)
    # wsinspect reported its failure through its own logger, and did not capture that report.
    assert "failed to record" in caplog.text
    assert all(record.name == "wsinspect" for record in caplog.records)


async def test_a_record_whose_message_cannot_be_formatted_does_not_break_the_app(app_logs: Collect) -> None:
    app = echo_after((logging.INFO, "%d", ("x",)), (logging.INFO, "fine %d", (1,)))
    script: list[dict[str, Any]] = [CONNECT, {"type": "websocket.receive", "text": "still here"}, DISCONNECT]
    plain = await run(app, script)
    wrapped = WSInspectMiddleware(app)
    inspected = await run(wrapped, script)
    assert inspected.outgoing == plain.outgoing
    # The app's own handler got the bad record, as it would without wsinspect (its formatting fails there too).
    assert [record.msg for record in app_logs.records] == ["%d", "fine %d"] * 2
    with pytest.raises(TypeError):
        app_logs.records[-2].getMessage()
    (conn,) = wrapped.recorder.connections()
    assert [line.message for line in conn.logs] == ["fine 1"]
    assert frames_of(wrapped) == [
        ("received", "text", "still here"),
        ("sent", "text", "still here"),
        ("received", "close", ""),
    ]


async def test_make_log_record_in_a_handler_does_not_break_the_app(app_logs: Collect) -> None:
    made: list[logging.LogRecord] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        await receive()
        await send({"type": "websocket.accept"})
        # What a log server or a queue consumer does with a record that came from elsewhere.
        made.append(logging.makeLogRecord({"name": APP_LOGGER, "msg": "relayed", "levelno": logging.INFO}))

    wrapped = WSInspectMiddleware(app)
    await run(wrapped, [CONNECT])
    assert made[0].getMessage() == "relayed"
    (conn,) = wrapped.recorder.connections()
    assert conn.error is None


# -- what is and is not captured -------------------------------------------------------------


async def test_records_outside_any_connection_are_untouched_and_not_recorded(app_logs: Collect) -> None:
    capture_logs()
    go_on = asyncio.Event()

    async def app(scope: Any, receive: Any, send: Any) -> None:
        await receive()
        await send({"type": "websocket.accept"})
        app_log.info("inside")
        await go_on.wait()
        app_log.info("inside again")

    wrapped = WSInspectMiddleware(app)
    task = asyncio.create_task(run(wrapped, [CONNECT]))
    await until(lambda: any(conn.logs for conn in wrapped.recorder.connections()), what="the first record", every=0.001)
    # The connection is open and its handler waits: the test's own context is no connection's.
    app_log.info("outside, while the connection is open")
    go_on.set()
    await asyncio.wait_for(task, 5)
    app_log.info("outside, after the connection")

    assert all(type(record) is logging.LogRecord for record in app_logs.records)
    (conn,) = wrapped.recorder.connections()
    assert [line.message for line in conn.logs] == ["inside", "inside again"]
    assert [record.getMessage() for record in app_logs.records] == [
        "inside",
        "outside, while the connection is open",
        "inside again",
        "outside, after the connection",
    ]


async def test_each_connection_gets_only_its_own_handler_records(app_logs: Collect) -> None:
    turns = [asyncio.Event() for _ in range(4)]

    async def app(scope: Any, receive: Any, send: Any) -> None:
        await receive()
        await send({"type": "websocket.accept"})
        name = scope["path"]
        for turn in (0, 2) if name == "/a" else (1, 3):  # taking turns: /a, /b, /a, /b
            if turn:
                await turns[turn].wait()
            app_log.info("%s at turn %d", name, turn)
            if turn < 3:
                turns[turn + 1].set()

    wrapped = WSInspectMiddleware(app)
    await asyncio.wait_for(
        asyncio.gather(run(wrapped, [CONNECT], ws_scope("/a")), run(wrapped, [CONNECT], ws_scope("/b"))), 5
    )
    by_path = {conn.path: [line.message for line in conn.logs] for conn in wrapped.recorder.connections()}
    assert by_path == {"/a": ["/a at turn 0", "/a at turn 2"], "/b": ["/b at turn 1", "/b at turn 3"]}
    assert [record.getMessage() for record in app_logs.records] == [f"/{'ab'[n % 2]} at turn {n}" for n in range(4)]


async def test_the_threshold_and_wsinspect_own_loggers(app_logs: Collect) -> None:
    ours = logging.getLogger("wsinspect.capture.middleware")

    async def app(scope: Any, receive: Any, send: Any) -> None:
        await receive()
        await send({"type": "websocket.accept"})
        app_log.info("below")
        app_log.warning("at")
        app_log.error("no exception being handled", exc_info=True)
        ours.error("wsinspect's own record is never a row")
        app_log.log(35, "a custom level")

    wrapped = WSInspectMiddleware(app, WSInspectConfig(capture_logs="warning"))
    await run(wrapped, [CONNECT])
    (conn,) = wrapped.recorder.connections()
    assert [(line.level, line.levelno, line.message) for line in conn.logs] == [
        ("WARNING", 30, "at"),
        ("ERROR", 40, "no exception being handled"),
        ("Level 35", 35, "a custom level"),
    ]
    assert all((line.error, line.traceback) == (None, []) for line in conn.logs)
    numeric = WSInspectMiddleware(app, WSInspectConfig(capture_logs=40))
    await run(numeric, [CONNECT])
    (conn,) = numeric.recorder.connections()
    assert [line.message for line in conn.logs] == ["no exception being handled"]


async def test_log_lines_are_bounded_like_frames(app_logs: Collect) -> None:
    app = echo_after(
        (logging.INFO, "one", ()),
        (logging.INFO, "two", ()),
        (logging.INFO, "three", ()),
        (logging.INFO, "%s", ("0123456789",)),
        (logging.INFO, "é" * 5, ()),
    )
    wrapped = WSInspectMiddleware(app, WSInspectConfig(max_messages=3, max_message_size=8))
    await run(wrapped, [CONNECT, DISCONNECT])
    (conn,) = wrapped.recorder.connections()
    assert conn.logs_dropped == 2
    assert [(line.message, line.size_bytes, line.truncated) for line in conn.logs] == [
        ("three", 5, False),
        ("01234567", 10, True),
        ("éééé", 10, True),  # cut to whole characters within 8 bytes of UTF-8
    ]
    # The app's own handler got every record whole.
    assert [record.getMessage() for record in app_logs.records][-2:] == ["0123456789", "é" * 5]


async def test_a_record_the_app_logger_filters_out_is_not_captured(app_logs: Collect) -> None:
    class NoSecrets(logging.Filter):
        def filter(self, record: logging.LogRecord) -> bool:
            return "secret" not in record.getMessage()

    no_secrets = NoSecrets()
    app_log.addFilter(no_secrets)
    try:
        wrapped = WSInspectMiddleware(echo_after((logging.INFO, "the secret is %s", ("42",)), (logging.INFO, "ok", ())))
        await run(wrapped, [CONNECT, DISCONNECT])
    finally:
        app_log.removeFilter(no_secrets)
    assert [record.getMessage() for record in app_logs.records] == ["ok"]
    (conn,) = wrapped.recorder.connections()
    assert [line.message for line in conn.logs] == ["ok"]


# -- the hook chain ----------------------------------------------------------------------------


def test_the_hook_wraps_what_was_there_and_installs_once(fresh_hook: None, app_logs: Collect) -> None:
    """Another tool's hook installed before (Sentry wraps callHandlers too) still runs, once."""
    seen: list[str] = []

    def tools_hook(self: logging.Logger, record: logging.LogRecord) -> None:
        seen.append(record.getMessage())
        STDLIB_CALL_HANDLERS(self, record)

    logging.Logger.callHandlers = tools_hook  # type: ignore[method-assign]
    capture_logs()
    installed = logging.Logger.callHandlers
    assert installed is not tools_hook
    capture_logs()
    WSInspectMiddleware(echo_after(), WSInspectConfig())  # calls capture_logs() too
    assert logging.Logger.callHandlers is installed  # never wrapped twice
    app_log.info("through both")
    assert seen == ["through both"]
    assert [record.getMessage() for record in app_logs.records] == ["through both"]


async def test_a_hook_installed_later_that_chains_keeps_the_capture(fresh_hook: None, app_logs: Collect) -> None:
    capture_logs()
    ours = logging.Logger.callHandlers

    def later_hook(self: logging.Logger, record: logging.LogRecord) -> None:
        record.request_id = "r-1"
        ours(self, record)

    logging.Logger.callHandlers = later_hook  # type: ignore[method-assign]
    wrapped = WSInspectMiddleware(echo_after((logging.WARNING, "chained", ())))
    assert logging.Logger.callHandlers is later_hook  # wsinspect does not put itself back on top
    await run(wrapped, [CONNECT, DISCONNECT])
    (record,) = app_logs.records
    assert record.request_id == "r-1"  # type: ignore[attr-defined]
    (conn,) = wrapped.recorder.connections()
    assert [line.message for line in conn.logs] == ["chained"]  # one hook of ours in the chain: once


async def test_capture_off_installs_no_hook(fresh_hook: None, app_logs: Collect) -> None:
    wrapped = WSInspectMiddleware(echo_after((logging.WARNING, "not captured", ())), WSInspectConfig(capture_logs=None))
    assert logging.Logger.callHandlers is STDLIB_CALL_HANDLERS
    assert middleware._hook_installed is False
    await run(wrapped, [CONNECT, DISCONNECT])
    (conn,) = wrapped.recorder.connections()
    assert conn.logs == []
    assert [record.getMessage() for record in app_logs.records] == ["not captured"]
