"""What a connection's handler did besides its messages: what refused it, its traceback, what it
logged, and how long it worked on each message.

Against a real uvicorn server (in a thread of this process) and a real ``websockets`` client, as
in ``test_handlers.py``: Litestar apps with :class:`WSInspectPlugin` (whose recorder is read back)
and a plain ASGI app wrapped in :class:`WSInspectMiddleware`.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from helpers.factories import Collect
from helpers.servers import RunningServer, run_server
from helpers.waiting import until
from litestar import Litestar, WebSocket, websocket
from litestar.connection import ASGIConnection
from litestar.di import Provide
from litestar.exceptions import NotAuthorizedException
from litestar.handlers import BaseRouteHandler
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from wsinspect import Connection, Recorder, WSInspectMiddleware
from wsinspect.capture.middleware import capture_logs
from wsinspect.capture.traces import source_path
from wsinspect.config import WSInspectConfig
from wsinspect.litestar import WSInspectPlugin
from wsinspect.model import TracebackEntry
from wsinspect.wire import SENT, TEXT, FrameRecord

HERE = source_path(__file__)  # this file as the app names it (relative to the working directory)

TIMEOUT = 10.0  # a safety net against a hung test, never an assertion
# The handlers below declare a query parameter and dependencies as every Litestar 2 release accepts.
pytestmark = pytest.mark.filterwarnings(
    "ignore:.*(Inferred dependency field|declared using deprecated inferred style).*:DeprecationWarning"
)
APP_LOGGER = "tests.handler_context.app"
app_log = logging.getLogger(APP_LOGGER)


# -- helpers -----------------------------------------------------------------------------------


def client(url: str) -> Any:
    return connect(url, proxy=None, open_timeout=TIMEOUT, close_timeout=TIMEOUT)


async def recorded(server: RunningServer, recorder: Recorder, count: int) -> list[Connection]:
    connections: list[Connection] = await until(
        lambda: server.call(recorder.connections),
        lambda connections: len(connections) == count and all(c.state == "closed" for c in connections),
        what=f"{count} closed connection(s)",
    )
    return connections


async def refused_status(url: str) -> int:
    """The HTTP status of a refused upgrade."""
    with pytest.raises(InvalidStatus) as refused:
        async with client(url):
            pass  # pragma: no cover - the upgrade is refused
    return refused.value.response.status_code


def line_of(fn: Callable[..., Any], text: str) -> int:
    """The line number of the first line of ``fn`` that contains ``text``."""
    lines, first = inspect.getsourcelines(fn)
    return first + next(number for number, line in enumerate(lines) if text in line)


def ends_in(traceback: list[TracebackEntry], fn: Any, code: str) -> None:
    """The traceback's innermost entry is the app's own ``fn`` (or route handler's), at its line of ``code``."""
    fn = getattr(fn, "fn", fn)
    last = traceback[-1]
    assert last.app is True
    assert last.function.rsplit(".", 1)[-1] == fn.__name__
    assert last.file == HERE
    assert last.code == code
    assert last.line == line_of(fn, code)


@pytest.fixture
def app_logs() -> Iterator[Collect]:
    """The app's logger at DEBUG (so the capture threshold is wsinspect's own) with a handler of ours."""
    handler = Collect()
    level = app_log.level
    app_log.setLevel(logging.DEBUG)
    app_log.addHandler(handler)
    yield handler
    app_log.removeHandler(handler)
    app_log.setLevel(level)


@contextlib.contextmanager
def served(*handlers: Any, config: WSInspectConfig | None = None) -> Iterator[tuple[RunningServer, Recorder]]:
    """Serve a Litestar app of ``handlers`` with the plugin: the server and the plugin's recorder."""
    plugin = WSInspectPlugin(config)
    with run_server(Litestar(route_handlers=list(handlers), plugins=[plugin]), lifespan="on") as server:
        yield server, plugin.recorder


# -- 1-4. refusals and handler errors ----------------------------------------------------------


def requires_token(connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler) -> None:
    if connection.query_params.get("token") != "ok":
        raise NotAuthorizedException("no token")


@websocket("/guarded", guards=[requires_token])
async def guarded(socket: WebSocket[Any, Any, Any]) -> None:
    await socket.accept()
    await socket.close()


async def current_user(socket: WebSocket[Any, Any, Any]) -> str:
    raise LookupError("no such user")


@websocket("/user", dependencies={"user": Provide(current_user)})
async def with_user(socket: WebSocket[Any, Any, Any], user: str) -> None:  # pragma: no cover - never reached
    await socket.accept()


@websocket("/seat")
async def with_seat(socket: WebSocket[Any, Any, Any], seat: int) -> None:  # pragma: no cover - never reached
    await socket.accept()


async def seat_number(seat: int) -> int:  # pragma: no cover - its parameter never validates
    return seat


@websocket("/seat-dependency", dependencies={"number": Provide(seat_number)})
async def with_seat_dependency(socket: WebSocket[Any, Any, Any], number: int) -> None:  # pragma: no cover
    await socket.accept()


@websocket("/closes-early")
async def closes_early(socket: WebSocket[Any, Any, Any]) -> None:
    await socket.close(code=4003, reason="not today")


@websocket("/raises")
async def raises_after_accept(socket: WebSocket[Any, Any, Any]) -> None:
    await socket.accept()
    await socket.send_text("hello")
    raise ValueError("handler broke")


@pytest.fixture
def refusals() -> Iterator[tuple[RunningServer, Recorder]]:
    handlers = (guarded, with_user, with_seat, with_seat_dependency, closes_early, raises_after_accept)
    with served(*handlers) as (server, recorder):
        yield server, recorder


async def only_connection(server: RunningServer, recorder: Recorder) -> Connection:
    (connection,) = await recorded(server, recorder, 1)
    return connection


async def test_a_guard_that_refuses_is_named_with_its_traceback(refusals: tuple[RunningServer, Recorder]) -> None:
    server, recorder = refusals
    assert await refused_status(server.ws_url("/guarded")) == 403
    connection = await only_connection(server, recorder)
    assert connection.denial_status == 403
    assert connection.accepted_at is None
    assert connection.refused_by == "guard requires_token"
    assert connection.error == "NotAuthorizedException: 401: no token"
    ends_in(connection.traceback, requires_token, 'raise NotAuthorizedException("no token")')
    # The framework's frames come first, and are not the app's.
    assert any(not entry.app and entry.function.endswith("authorize_connection") for entry in connection.traceback)


async def test_the_guard_lets_a_connection_with_a_token_through(refusals: tuple[RunningServer, Recorder]) -> None:
    server, recorder = refusals
    async with client(server.ws_url("/guarded?token=ok")) as ws:
        with pytest.raises(ConnectionClosed):
            await ws.recv()
    connection = await only_connection(server, recorder)
    assert connection.accepted_at is not None
    assert (connection.refused_by, connection.error, connection.traceback) == (None, None, [])


async def test_a_dependency_that_raises_is_named(refusals: tuple[RunningServer, Recorder]) -> None:
    server, recorder = refusals
    assert await refused_status(server.ws_url("/user")) == 403
    connection = await only_connection(server, recorder)
    assert connection.refused_by == "dependency current_user"
    assert connection.error == "LookupError: no such user"
    assert connection.denial_status == 403
    ends_in(connection.traceback, current_user, 'raise LookupError("no such user")')


async def test_a_handler_parameter_that_does_not_validate_is_parameters(
    refusals: tuple[RunningServer, Recorder],
) -> None:
    server, recorder = refusals
    assert await refused_status(server.ws_url("/seat?seat=abc")) == 403
    connection = await only_connection(server, recorder)
    assert connection.refused_by == "parameters"
    assert connection.error is not None
    assert connection.error.startswith("ValidationException")


async def test_a_dependency_parameter_that_does_not_validate_is_parameters(
    refusals: tuple[RunningServer, Recorder],
) -> None:
    server, recorder = refusals
    assert await refused_status(server.ws_url("/seat-dependency?seat=abc")) == 403
    connection = await only_connection(server, recorder)
    assert connection.error is not None
    assert connection.error.startswith("ValidationException")
    assert connection.refused_by == "parameters"


async def test_a_handler_that_closes_before_the_accept_refuses_without_an_error(
    refusals: tuple[RunningServer, Recorder],
) -> None:
    server, recorder = refusals
    assert await refused_status(server.ws_url("/closes-early")) == 403
    connection = await only_connection(server, recorder)
    assert connection.refused_by == "handler closes_early"
    assert connection.denial_status == 403
    assert (connection.close_code, connection.close_reason) == (4003, "not today")
    assert (connection.error, connection.traceback) == (None, [])


async def test_a_handler_that_raises_after_the_accept_keeps_its_traceback(
    refusals: tuple[RunningServer, Recorder],
) -> None:
    server, recorder = refusals
    async with client(server.ws_url("/raises")) as ws:
        assert await ws.recv() == "hello"
        with pytest.raises(ConnectionClosed) as closed:
            await ws.recv()
    assert closed.value.rcvd is not None
    assert closed.value.rcvd.code == 4500  # Litestar turns the exception into a close
    connection = await only_connection(server, recorder)
    assert connection.accepted_at is not None
    assert connection.refused_by is None
    assert connection.denial_status is None
    assert connection.error == "ValueError: handler broke"
    assert connection.close_code == 4500
    ends_in(connection.traceback, raises_after_accept, 'raise ValueError("handler broke")')
    # Only the app's own frames are app frames: Litestar's and wsinspect's are not.
    for entry in connection.traceback:
        assert entry.app == (entry.file == HERE), entry


# -- 5. the handler's log lines ----------------------------------------------------------------


@websocket("/chatty")
async def chatty(socket: WebSocket[Any, Any, Any]) -> None:
    await socket.accept()
    app_log.info("hello %s", "there")
    app_log.debug("a detail")
    app_log.warning("careful: %d left", 3)
    try:
        1 / 0  # noqa: B018
    except ZeroDivisionError:
        app_log.exception("the sum failed")
    await socket.send_text("done")
    await socket.close()


EVERY_RECORD = ["hello there", "a detail", "careful: 3 left", "the sum failed"]


@pytest.mark.parametrize(
    ("capture", "expected"),
    [
        ("INFO", [("INFO", 20, "hello there"), ("WARNING", 30, "careful: 3 left"), ("ERROR", 40, "the sum failed")]),
        (None, []),
        ("WARNING", [("WARNING", 30, "careful: 3 left"), ("ERROR", 40, "the sum failed")]),
    ],
    ids=["default-INFO", "off", "WARNING"],
)
async def test_the_handler_log_lines_from_the_threshold_up_and_the_app_logging_unchanged(
    app_logs: Collect, capture: str | None, expected: list[tuple[str, int, str]]
) -> None:
    capture_logs()  # installed, whatever ran before: the threshold alone decides
    config = WSInspectConfig() if capture == "INFO" else WSInspectConfig(capture_logs=capture)
    with served(chatty, config=config) as (server, recorder):
        root = logging.getLogger()
        before = (list(root.handlers), root.level, app_log.level, list(app_log.handlers), app_log.propagate)
        hook = logging.Logger.callHandlers
        async with client(server.ws_url("/chatty")) as ws:
            assert await ws.recv() == "done"
        (connection,) = await recorded(server, recorder, 1)
        after = (list(root.handlers), root.level, app_log.level, list(app_log.handlers), app_log.propagate)
    assert after == before
    assert logging.Logger.callHandlers is hook
    # The app's handler got each record exactly once, DEBUG included, as it would without wsinspect.
    assert app_logs.messages() == EVERY_RECORD
    assert all(type(record) is logging.LogRecord for record in app_logs.records)

    assert [(line.level, line.levelno, line.message) for line in connection.logs] == expected
    assert all(line.logger == APP_LOGGER for line in connection.logs)
    assert connection.logs_dropped == 0
    stamps = [line.timestamp for line in connection.logs]
    assert stamps == sorted(stamps)
    assert all(connection.connected_at <= stamp <= (connection.disconnected_at or 0) for stamp in stamps)
    for line in connection.logs:
        assert line.size_bytes == len(line.message)
        assert not line.truncated
        if line.levelno < logging.ERROR:
            assert (line.error, line.traceback) == (None, [])
    if expected:
        error = connection.logs[-1]
        assert error.error == "ZeroDivisionError: division by zero"
        ends_in(error.traceback, chatty, "1 / 0  # noqa: B018")
        # The record's own exc_info is untouched: the app's handler got it too.
        assert app_logs.records[-1].exc_info is not None
    assert connection.error is None


# -- 6. a task the handler started -------------------------------------------------------------


async def test_a_task_of_the_handler_logs_into_it_only_while_the_handler_runs(app_logs: Collect) -> None:
    tasks: list[asyncio.Task[None]] = []
    logged = asyncio.Event()
    release = asyncio.Event()

    async def worker() -> None:
        app_log.info("from the task, while the handler runs")
        logged.set()
        await release.wait()
        app_log.warning("from the task, after the handler ended")

    @websocket("/spawns")
    async def spawns(socket: WebSocket[Any, Any, Any]) -> None:
        await socket.accept()
        tasks.append(asyncio.create_task(worker()))
        await logged.wait()
        await socket.send_text("spawned")
        await socket.close()

    with served(spawns) as (server, recorder):
        async with client(server.ws_url("/spawns")) as ws:
            assert await ws.recv() == "spawned"
        await recorded(server, recorder, 1)  # the handler has ended
        await server.call(release.set)
        await until(
            lambda: asyncio.sleep(0, app_logs.messages()),
            lambda messages: len(messages) == 2,
            what="the task's second record",
        )
        (connection,) = await server.call(recorder.connections)
        assert all(task.done() for task in tasks)
    assert app_logs.messages() == ["from the task, while the handler runs", "from the task, after the handler ended"]
    assert [line.message for line in connection.logs] == ["from the task, while the handler runs"]


# -- 7. handler time ---------------------------------------------------------------------------


@websocket("/slow")
async def slow(socket: WebSocket[Any, Any, Any]) -> None:
    await socket.accept()
    for _ in range(2):
        text = await socket.receive_text()
        await asyncio.sleep(0.2)
        await socket.send_text(text.upper())
    await socket.close()


async def test_a_received_message_says_when_the_handler_asked_for_it() -> None:
    with served(slow) as (server, recorder):
        async with client(server.ws_url("/slow")) as ws:
            await ws.send("one")
            assert await ws.recv() == "ONE"
            await asyncio.sleep(0.3)  # the handler waits for the next message all this time
            await ws.send("two")
            assert await ws.recv() == "TWO"
        (connection,) = await recorded(server, recorder, 1)
        ((_, _, records),) = await server.call(recorder.held)
    frames: list[FrameRecord] = [record for record in records if type(record) is tuple]
    texts = [record for record in frames if record[3] in (TEXT, TEXT + SENT)]
    assert [(record[3], record[4]) for record in texts] == [
        (TEXT, "one"),
        (TEXT + SENT, "ONE"),
        (TEXT, "two"),
        (TEXT + SENT, "TWO"),
    ]
    received_one, sent_one, received_two, sent_two = texts
    # Only received messages say when they were asked for (index 8 of a record).
    assert sent_one[8] is None
    assert sent_two[8] is None
    assert all(record[8] is None for record in frames if record[3] != TEXT)
    first_asked, second_asked = received_one[8], received_two[8]
    assert first_asked is not None
    assert second_asked is not None
    assert connection.accepted_at is not None
    assert connection.accepted_at <= first_asked <= received_one[2]
    # The handler worked on each message (its sleep) before it replied.
    assert sent_one[2] - received_one[2] >= 0.15
    assert sent_two[2] - received_two[2] >= 0.15
    # It asked for the second message after it sent the first reply, well before the message came.
    assert second_asked >= sent_one[2]
    assert received_two[2] - second_asked >= 0.2
    assert received_two[2] - second_asked < 5.0


# -- 8. a plain ASGI app -----------------------------------------------------------------------

raw_log = logging.getLogger("tests.handler_context.raw")


def check_ticket(scope: Any) -> None:
    if b"ticket" not in scope.get("query_string", b""):
        raise PermissionError("no ticket")


async def raw_app(scope: Any, receive: Any, send: Any) -> None:
    assert scope["type"] == "websocket"
    assert (await receive())["type"] == "websocket.connect"
    check_ticket(scope)
    await send({"type": "websocket.accept"})
    while (message := await receive())["type"] == "websocket.receive":
        text = message.get("text")
        raw_log.warning("got %r", text)
        if text == "boom":
            raise RuntimeError("raw handler broke")
        await send({"type": "websocket.send", "text": f"ok {text}"})


async def test_a_plain_asgi_app_logs_and_errors_are_recorded_by_the_middleware() -> None:
    middleware = WSInspectMiddleware(raw_app)
    with run_server(middleware) as server:
        async with client(server.ws_url("/raw?ticket=1")) as ws:
            await ws.send("hi")
            assert await ws.recv() == "ok hi"
            await ws.send("boom")
            with pytest.raises(ConnectionClosed):
                await ws.recv()
        (broke,) = await recorded(server, middleware.recorder, 1)
        await server.call(middleware.recorder.clear)

        assert await refused_status(server.ws_url("/raw")) == 500  # uvicorn's answer to an app error
        (refused,) = await recorded(server, middleware.recorder, 1)

    assert [(line.level, line.logger, line.message) for line in broke.logs] == [
        ("WARNING", "tests.handler_context.raw", "got 'hi'"),
        ("WARNING", "tests.handler_context.raw", "got 'boom'"),
    ]  # and not uvicorn's report of the exception, logged after the handler ended
    assert broke.error == "RuntimeError: raw handler broke"
    assert broke.refused_by is None
    ends_in(broke.traceback, raw_app, 'raise RuntimeError("raw handler broke")')
    assert broke.messages_received == 2

    assert refused.accepted_at is None
    assert refused.error == "PermissionError: no ticket"
    assert refused.refused_by == "check_ticket"  # no handler in the scope: the innermost function of the app's
    ends_in(refused.traceback, check_ticket, 'raise PermissionError("no ticket")')
    assert refused.logs == []
