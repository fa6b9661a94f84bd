"""The ASGI middleware in process: pass-through, safety, and every way a handler can end."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import pytest
from helpers.asgi import FakeServer, run, ws_scope
from helpers.factories import echo_app

from wsinspect import WSInspectConfig, WSInspectMiddleware
from wsinspect.capture.tracker import ConnectionTracker

CLIENT = [
    {"type": "websocket.connect"},
    {"type": "websocket.receive", "text": "hi"},
    {"type": "websocket.receive", "bytes": b"\x00\xff"},
    {"type": "websocket.receive", "text": ""},
    {"type": "websocket.receive", "text": "close"},
]


async def test_the_app_sees_the_same_messages_with_and_without_wsinspect() -> None:
    plain = await run(echo_app, CLIENT)
    wrapped = WSInspectMiddleware(echo_app)
    inspected = await run(wrapped, CLIENT)
    assert inspected.outgoing == plain.outgoing
    (conn,) = wrapped.recorder.connections()
    assert [(f.direction, f.message_type, f.content) for f in conn.messages] == [
        ("received", "text", "hi"),
        ("sent", "text", "hi"),
        ("received", "binary", b"\x00\xff"),
        ("sent", "binary", b"\x00\xff"),
        ("received", "text", ""),
        ("sent", "text", ""),
        ("received", "text", "close"),
        ("sent", "close", "asked"),
    ]
    assert (conn.state, conn.close_code, conn.closed_by) == ("closed", 4001, "server")


async def test_an_app_exception_propagates_unchanged_and_is_recorded() -> None:
    error = ValueError("handler broke")

    async def app(scope: Any, receive: Any, send: Any) -> None:
        await receive()
        await send({"type": "websocket.accept"})
        raise error

    wrapped = WSInspectMiddleware(app)
    with pytest.raises(ValueError, match="handler broke") as caught:
        await run(wrapped, [{"type": "websocket.connect"}])
    assert caught.value is error
    (conn,) = wrapped.recorder.connections()
    assert (conn.state, conn.closed_by, conn.error) == ("closed", "server", "ValueError: handler broke")


async def test_cancellation_propagates_and_is_recorded() -> None:
    wrapped = WSInspectMiddleware(echo_app)
    server = FakeServer([{"type": "websocket.connect"}])
    accepted = asyncio.Event()

    async def send(message: dict[str, Any]) -> None:
        await server.send(message)
        accepted.set()

    task = asyncio.create_task(wrapped(ws_scope(), server.receive, send))
    await accepted.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    (conn,) = wrapped.recorder.connections()
    assert (conn.state, conn.error, conn.closed_by) == ("closed", "cancelled", None)


async def test_a_failure_inside_tracking_never_reaches_the_app(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    def broken(self: ConnectionTracker, message: Any, now: float) -> None:
        raise RuntimeError("tracker bug")

    monkeypatch.setattr(ConnectionTracker, "receive", broken)
    plain = await run(echo_app, CLIENT)
    with caplog.at_level(logging.DEBUG, logger="wsinspect"):
        inspected = await run(WSInspectMiddleware(echo_app), CLIENT)
    assert inspected.outgoing == plain.outgoing
    assert "failed to record" in caplog.text


async def test_a_failure_to_start_tracking_never_reaches_the_app(monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(*args: Any, **kwargs: Any) -> None:
        raise RuntimeError("cannot start")

    monkeypatch.setattr(ConnectionTracker, "__init__", broken)
    wrapped = WSInspectMiddleware(echo_app)
    inspected = await run(wrapped, CLIENT)
    assert inspected.outgoing == (await run(echo_app, CLIENT)).outgoing
    assert wrapped.recorder.connections() == []


async def test_http_passes_straight_through_without_tracking(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[Any] = []

    async def http_app(scope: Any, receive: Any, send: Any) -> None:
        calls.append((scope, receive, send))

    def no_tracking(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("HTTP must not be tracked")

    monkeypatch.setattr(ConnectionTracker, "__init__", no_tracking)
    wrapped = WSInspectMiddleware(http_app)
    scope = {"type": "http", "path": "/"}
    server = FakeServer([])
    await wrapped(scope, server.receive, server.send)
    # The app got the very same callables: nothing wrapped, nothing recorded.
    assert calls == [(scope, server.receive, server.send)]
    await wrapped({"type": "lifespan"}, server.receive, server.send)
    assert len(calls) == 2
    assert wrapped.recorder.connections() == []


@pytest.mark.parametrize(("env", "recorded"), [("0", 0), ("off", 0), ("false", 0), ("1", 1), ("", 1)])
async def test_wsinspect_enabled_env(monkeypatch: pytest.MonkeyPatch, env: str, recorded: int) -> None:
    monkeypatch.setenv("WSINSPECT_ENABLED", env)
    wrapped = WSInspectMiddleware(echo_app)
    await run(wrapped, CLIENT)
    assert len(wrapped.recorder.connections()) == recorded


async def test_disabled_in_config_passes_through() -> None:
    wrapped = WSInspectMiddleware(echo_app, WSInspectConfig(enabled=False))
    server = await run(wrapped, CLIENT)
    assert server.outgoing[-1]["type"] == "websocket.close"
    assert wrapped.recorder.connections() == []


async def test_excluded_paths_are_not_recorded() -> None:
    wrapped = WSInspectMiddleware(echo_app, WSInspectConfig(exclude_paths=("^/internal/", "health$")))
    for path in ("/internal/x", "/ws/health", "/ws/chat"):
        await run(wrapped, CLIENT, ws_scope(path))
    assert [c.path for c in wrapped.recorder.connections()] == ["/ws/chat"]


async def test_the_recorder_keeps_the_newest_closed_connections() -> None:
    wrapped = WSInspectMiddleware(echo_app)
    wrapped.recorder._closed = type(wrapped.recorder._closed)(maxlen=3)
    for i in range(5):
        await run(wrapped, CLIENT, ws_scope(f"/ws/{i}"))
    assert [c.path for c in wrapped.recorder.connections()] == ["/ws/2", "/ws/3", "/ws/4"]
    wrapped.recorder.clear()
    assert wrapped.recorder.connections() == []


async def test_a_send_to_a_departed_client_is_recorded_as_the_client_leaving() -> None:
    class ClientDisconnected(OSError):  # what uvicorn raises
        pass

    async def pushing_app(scope: Any, receive: Any, send: Any) -> None:
        await receive()
        await send({"type": "websocket.accept"})
        await send({"type": "websocket.send", "text": "tick"})

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "websocket.send":
            raise ClientDisconnected()

    wrapped = WSInspectMiddleware(pushing_app)
    server = FakeServer([{"type": "websocket.connect"}])
    with pytest.raises(ClientDisconnected):
        await wrapped(ws_scope(), server.receive, send)
    (conn,) = wrapped.recorder.connections()
    assert (conn.state, conn.closed_by, conn.close_code) == ("closed", "client", 1006)
    assert conn.messages == []  # the frame never left
    assert conn.error is None  # the send's own failure ended the handler: the client left, no error


@pytest.mark.parametrize("failure", [OSError("no such client"), BrokenPipeError()])
async def test_whatever_a_failed_send_raised_ends_the_handler_without_an_error(failure: OSError) -> None:
    """Any server's exception from a send to a client that left, not only uvicorn's by its name."""

    async def pushing_app(scope: Any, receive: Any, send: Any) -> None:
        await receive()
        await send({"type": "websocket.accept"})
        await send({"type": "websocket.send", "text": "tick"})

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "websocket.send":
            raise failure

    wrapped = WSInspectMiddleware(pushing_app)
    with pytest.raises(type(failure)) as raised:
        await wrapped(ws_scope(), FakeServer([{"type": "websocket.connect"}]).receive, send)
    assert raised.value is failure  # unchanged for the app and the server
    (conn,) = wrapped.recorder.connections()
    assert (conn.state, conn.closed_by, conn.close_code, conn.error) == ("closed", "client", 1006, None)


async def test_an_error_after_a_failed_send_is_still_an_error() -> None:
    async def cleanup_fails(scope: Any, receive: Any, send: Any) -> None:
        await receive()
        await send({"type": "websocket.accept"})
        try:
            await send({"type": "websocket.send", "text": "tick"})
        except OSError:
            raise ValueError("cleanup failed") from None

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "websocket.send":
            raise OSError("gone")

    wrapped = WSInspectMiddleware(cleanup_fails)
    with pytest.raises(ValueError, match="cleanup failed"):
        await wrapped(ws_scope(), FakeServer([{"type": "websocket.connect"}]).receive, send)
    (conn,) = wrapped.recorder.connections()
    assert (conn.closed_by, conn.close_code, conn.error) == ("client", 1006, "ValueError: cleanup failed")


class Text(str):
    """A str of the app's own kind: recorded as it is, like any text."""


TEXTS = ["", "a", "x" * 16, "x" * 17, "é", "naïve but long enough", "\ud800", Text("hi"), Text("é")]


class Listening:
    """A listener that always listens and keeps the frames it is handed."""

    live = True

    def __init__(self) -> None:
        self.frames: list[tuple[Any, ...]] = []

    def frame_recorded(self, record: Any) -> None:
        self.frames.append(record)

    def connection_changed(self, key: int, connection: Any) -> None:
        pass


@pytest.mark.parametrize("listening", [False, True], ids=["nobody listening", "listening"])
@pytest.mark.parametrize(
    "config",
    [
        WSInspectConfig(max_message_size=16, socket_path="/nonexistent/wsinspect.sock"),
        WSInspectConfig(max_message_size=0, socket_path="/nonexistent/wsinspect.sock"),
        WSInspectConfig(max_message_size=16, socket_path="/nonexistent/wsinspect.sock", redact=lambda text, _: text),
    ],
    ids=["limit 16", "limit 0", "redact hook"],
)
async def test_the_wrappers_record_each_text_as_the_tracker_does(config: WSInspectConfig, listening: bool) -> None:
    """The wrappers record a short ASCII text themselves (the hot path): exactly as the tracker's
    data() records it, and every other text through it."""
    wrapped = WSInspectMiddleware(echo_app, config)
    listener = Listening()
    if listening:
        wrapped.recorder.listener = listener  # type: ignore[assignment]
    texts = [{"type": "websocket.receive", "text": text} for text in TEXTS]
    await run(wrapped, [{"type": "websocket.connect"}, *texts, {"type": "websocket.disconnect", "code": 1000}])
    (tracker,) = wrapped.recorder._closed
    frames = list(tracker._records)[:-1]  # the last: the client's close
    assert len(frames) == 2 * len(TEXTS)

    # The same frames fed to a tracker of the same config, at the same times.
    reference = ConnectionTracker(ws_scope(), config, 0.0, listener=Listening() if listening else None)
    data = reference.data if config.redact is None else reference.redacted_data
    for text, received, sent in zip(TEXTS, frames[::2], frames[1::2], strict=True):
        data(0, {"type": "websocket.receive", "text": text}, received[2], received[8])
        data(1, {"type": "websocket.send", "text": text, "bytes": None}, sent[2])
    expected = list(reference._records)
    assert [frame[1:] for frame in frames] == [frame[1:] for frame in expected]
    assert [type(frame[4]) for frame in frames] == [type(frame[4]) for frame in expected]
    counts = ("messages_sent", "messages_received", "bytes_sent", "bytes_received")
    assert [getattr(tracker.connection, name) for name in counts] == [
        getattr(reference.connection, name) for name in counts
    ]
    if listening:
        assert listener.frames[:-1] == frames
