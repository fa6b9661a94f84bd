"""The ASGI adapter: wraps ``receive`` and ``send`` of each ``websocket`` scope and feeds a tracker.

It must never change, slow or break the app it watches: messages pass through as they are, in
the same order, and any failure of the tracking itself is logged and swallowed.

ASGI has no ping or pong events. A server that sees them (uvicorn run with
``wsinspect.uvicorn:WebSocketProtocol``) adds a :class:`ControlChannel` to the scope's extensions
under ``"wsinspect.control"``; :func:`observe` attaches the connection's tracker to it, so pings,
pongs and keepalive timeouts land in the same connection as its messages.

Log records reach the tracker of the handler that emitted them through the task's context: a
hook on ``logging.Logger.callHandlers`` (installed once, as Sentry's logging integration does)
looks up the connection whose handler runs in the current context. It sees a record after the
logger's level and filters let it through (a filter that drops or masks a record applies to us
too), before the handlers. No handler is added to any logger and no level changes, so the app's
log output stays exactly as it was.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Awaitable, Callable, Mapping, MutableMapping
from contextvars import ContextVar
from time import time
from typing import Any, Literal, NamedTuple

from ..config import WSInspectConfig
from ..model import SLOW_SEND, Direction
from ..wire import SENT, TEXT
from .failures import tracking_failed
from .recorder import Recorder
from .servers import server_of
from .tracker import ConnectionTracker

__all__ = ("CONTROL_EXTENSION", "ASGIApp", "ControlChannel", "WSInspectMiddleware", "capture_logs", "observe")

# The key of the scope's ``extensions`` under which a server hands over a ControlChannel.
CONTROL_EXTENSION = "wsinspect.control"

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

logger = logging.getLogger("wsinspect")

_SENT_TEXT = TEXT + SENT  # a text the app sent, as frame records code it


def note_handler_error(exc: BaseException) -> None:
    """Record an exception of the current connection's handler that the framework caught."""
    guard = _current_guard.get()
    if guard is not None:
        guard.call(guard.tracker.error_raised, exc)


class WSInspectMiddleware:
    """Wraps any ASGI app (Starlette, FastAPI, raw ASGI) and records its WebSocket connections.

    Unlike route middleware it also sees upgrades to paths that have no route.
    """

    def __init__(self, app: ASGIApp, config: WSInspectConfig | None = None) -> None:
        self.app = app
        self.recorder = Recorder(config)
        self._active = self.recorder.config.active
        if self._active and self.recorder.config.log_level is not None:
            capture_logs()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        # get: a scope with no type (a broken server) reaches the app as it would without us.
        if not self._active or scope.get("type") != "websocket":
            await self.app(scope, receive, send)
            return
        await observe(self.app, scope, receive, send, self.recorder)


async def observe(app: ASGIApp, scope: Scope, receive: Receive, send: Send, recorder: Recorder) -> None:
    """Run ``app`` for one ``websocket`` scope while recording its traffic into ``recorder``."""
    path = scope.get("path")
    # A path that is not a str (a broken server) is recorded as "", and matched as "" too: re.search
    # would raise on it into the app.
    if recorder.config.excludes(path if isinstance(path, str) else ""):
        await app(scope, receive, send)
        return
    try:
        tracker: ConnectionTracker | None = recorder.start(scope, time(), server_of(send))
    except Exception:
        tracking_failed()
        tracker = None
    if tracker is None:
        # Not in the except block: there the app would run with our error as the exception being
        # handled (sys.exception(), the __context__ of whatever it raises, a bare raise).
        await app(scope, receive, send)
        return

    guard = _Guard(tracker, recorder.config.log_level)
    token = _current_guard.set(guard)
    channel = _control_channel(scope)
    if channel is not None:
        guard.call(guard.attach, channel)

    # The two wrappers every message passes through: the guard's checks are inlined here, and a
    # data message goes straight to the tracker's data path (the other kinds, rarely, via its dispatch).
    data = tracker.data if recorder.config.redact is None else tracker.redacted_data
    # A text of ASCII within the size limit (most messages) is recorded right here, as data() would
    # record it: a call of data() costs more than all it does for such a text. Everything else, and
    # every text under a redact hook (no text is within a limit of -1), goes through data().
    limit = tracker._limit if recorder.config.redact is None else -1
    key = tracker.key
    keep = tracker._records.append
    listener = tracker._listener or _NOT_LISTENING

    # What the handler is doing, for the watchdog: the time it went into each call and the time it
    # came back, one float each (see ConnectionTracker.doing).
    async def tracked_receive() -> Message:
        # When the handler's work on the message before ended (see Frame.handler_time), and it waits.
        tracker.receiving = asked = time()
        try:
            message = await receive()
        finally:
            tracker.received = now = time()
        if guard.working:
            try:
                if type(message) is dict and message.get("type") == "websocket.receive":
                    text = message.get("text")
                    if type(text) is str and (size := len(text)) <= limit and text.isascii():
                        tracker._bytes_received += size
                        tracker._received += 1
                        index = tracker._recorded
                        tracker._recorded = index + 1
                        record = (key, index, now, TEXT, text, size, False, None, asked, None)
                        keep(record)
                        if listener.live:
                            listener.frame_recorded(record)
                    else:
                        data(0, message, now, asked)
                else:
                    tracker.receive(message, now, asked)
            except Exception:
                guard.failed()
        return message

    async def tracked_send(message: Message) -> None:
        # When the send began, for the watchdog and for how long it waited (flow control: a client
        # that does not read); the frame's own timestamp ends it.
        tracker.sending = started = time()
        try:
            await send(message)
        except OSError as exc:
            # The server could not deliver it: the client is gone (uvicorn's ClientDisconnected).
            guard.call(tracker.send_failed, exc, message)
            raise
        finally:
            tracker.sent = now = time()
        if guard.working:
            try:
                if type(message) is dict and message.get("type") == "websocket.send":
                    if now - started < SLOW_SEND:
                        text = message.get("text")
                        if type(text) is str and (size := len(text)) <= limit and text.isascii():
                            tracker._bytes_sent += size
                            tracker._sent += 1
                            index = tracker._recorded
                            tracker._recorded = index + 1
                            record = (key, index, now, _SENT_TEXT, text, size, False, None, None, None)
                            keep(record)
                            if listener.live:
                                listener.frame_recorded(record)
                        else:
                            data(1, message, now)
                    else:  # the client did not read (rare): the frame and the connection say so
                        data(1, message, now, None, now - started)
                        tracker.send_waited(now - started)
                else:
                    tracker.send(message, now)
            except Exception:
                guard.failed()

    try:
        await app(scope, tracked_receive, tracked_send)
    except asyncio.CancelledError:
        guard.call(tracker.handler_cancelled)
        raise
    except BaseException as exc:
        guard.call(tracker.handler_failed, exc)
        raise
    else:
        guard.call(tracker.handler_returned)
    finally:
        guard.running = False  # a task the handler left behind logs no more into it
        _current_guard.reset(token)
        if channel is not None:
            guard.detach(channel)
        guard.finish(recorder)


class _NotListening:
    """The listener of a tracker that has none: it never listens."""

    __slots__ = ("live",)

    def __init__(self) -> None:
        self.live = False


_NOT_LISTENING: Any = _NotListening()


class _Guard:
    """Calls into one tracker so that no failure of it can reach the app; after one, it stops."""

    __slots__ = ("log_level", "running", "tracker", "working")

    def __init__(self, tracker: ConnectionTracker, log_level: int | None) -> None:
        self.tracker = tracker
        self.working = True
        self.running = True  # the handler runs
        self.log_level = _NO_LOGS if log_level is None else log_level

    def log(self, record: logging.LogRecord) -> None:
        try:
            if self.running and self.working and record.levelno >= self.log_level:
                name = record.name
                if name != "wsinspect" and not name.startswith("wsinspect."):  # our own records are never rows
                    self.tracker.log(record)
        except Exception:  # the record's own fault (a bad format, an odd level): the app's logging reports it
            tracking_failed()

    def call(self, step: Callable[..., None], *args: Any) -> None:
        if self.working:
            try:
                step(*args, time())
            except Exception:
                self.failed()

    def failed(self) -> None:
        self.working = False
        tracking_failed()

    # -- the server's control frames (see ControlChannel) -----------------------------------

    def attach(self, channel: ControlChannel, now: float) -> None:
        self.tracker.control_observable(now)
        channel.attach(self)

    def detach(self, channel: ControlChannel) -> None:
        try:
            channel.detach(self)
        except Exception:
            tracking_failed()

    def control(self, event: _ControlEvent, earliest: float = 0.0) -> None:
        if self.working:
            try:
                now = max(event.timestamp, earliest)
                if event.message_type is None:
                    self.tracker.keepalive_timeout(now)
                else:
                    self.tracker.control_frame(event.direction, event.message_type, event.payload, now, event.rtt)
            except Exception:
                self.failed()

    def finish(self, recorder: Recorder) -> None:
        try:
            recorder.finish(self.tracker)
        except Exception:
            tracking_failed()


class _ControlEvent(NamedTuple):
    timestamp: float
    message_type: Literal["ping", "pong"] | None  # None: the keepalive ping timed out
    direction: Direction
    payload: bytes
    rtt: float | None


class ControlChannel:
    """Carries one connection's pings, pongs and keepalive timeout from the server to its trackers.

    A server that sees them (``wsinspect.uvicorn``) makes one per connection and puts it in the
    ``websocket`` scope's ``extensions`` under :data:`CONTROL_EXTENSION`. ASGI lets servers add
    extensions and apps ignore the ones they do not know, so the app is unaffected. :func:`observe`
    attaches the connection's failure guard once its tracker exists and detaches it when the
    handler ends; the server calls :meth:`frame` and :meth:`keepalive_timeout` from its protocol
    callbacks, on the event loop the handler runs on. Nothing here raises into the server: each
    guard swallows (and logs) its tracker's failures.

    Events before the first attach (the handler task has not started yet) are kept, at most
    :attr:`EARLY_LIMIT` of them, and replayed to the first guard that attaches, with times no
    earlier than its connection's start; a guard that attaches later (a second recorder in the
    same app) sees only what follows. When nothing ever attaches (an excluded path, an app
    without wsinspect) the early events are simply dropped with the channel.
    """

    EARLY_LIMIT = 16
    __slots__ = ("_early", "_guards")

    def __init__(self) -> None:
        self._guards: list[_Guard] = []
        self._early: list[_ControlEvent] | None = []

    def frame(
        self,
        direction: Direction,
        message_type: Literal["ping", "pong"],
        payload: bytes,
        rtt: float | None = None,
    ) -> None:
        """A ping or pong, ``direction`` from the app's side (the server's own frames are ``sent``)."""
        self._deliver(_ControlEvent(time(), message_type, direction, payload, rtt))

    def keepalive_timeout(self) -> None:
        """The server's keepalive ping went unanswered: it sent close 1011 and dropped the link."""
        self._deliver(_ControlEvent(time(), None, "sent", b"", None))

    def attach(self, guard: _Guard) -> None:
        early, self._early = self._early, None
        self._guards.append(guard)
        if early:
            earliest = guard.tracker.connection.connected_at
            for event in early:
                guard.control(event, earliest)

    def detach(self, guard: _Guard) -> None:
        if guard in self._guards:
            self._guards.remove(guard)

    def _deliver(self, event: _ControlEvent) -> None:
        if self._guards:
            for guard in self._guards:
                guard.control(event)
        elif self._early is not None and len(self._early) < self.EARLY_LIMIT:
            self._early.append(event)


def _control_channel(scope: Scope) -> ControlChannel | None:
    """The scope's ControlChannel, when the server provides one."""
    try:
        extensions = scope.get("extensions")
        channel = extensions.get(CONTROL_EXTENSION) if isinstance(extensions, Mapping) else None
    except Exception:  # pragma: no cover - an odd scope mapping: record without control frames
        tracking_failed()
        return None
    return channel if isinstance(channel, ControlChannel) else None


# The guard of the connection whose handler runs in this task, for framework exception hooks
# and log records.
_current_guard: ContextVar[_Guard | None] = ContextVar("wsinspect_current_guard", default=None)
_NO_LOGS = 1 << 30  # a level above any: no record is captured
_hook_installed = False
# What the hook wraps: Logger.callHandlers as it was before (the standard library's, or another
# tool's hook), for the hook to call and for tests to start again from.
_call_handlers: Callable[[logging.Logger, logging.LogRecord], None] | None = None


def capture_logs() -> None:
    """Install, once per process, the hook that hands log records to their connection.

    ``Logger.callHandlers`` runs once per record a logger emits, after its level and filters; the
    hook asks the context for a connection and then calls the one it replaced, so every record
    reaches the app's handlers as it would without it."""
    global _hook_installed, _call_handlers
    if _hook_installed:
        return
    _hook_installed = True
    call_handlers = _call_handlers = logging.Logger.callHandlers
    current = _current_guard.get

    @functools.wraps(call_handlers)
    def callHandlers(self: logging.Logger, record: logging.LogRecord) -> None:
        guard = current()
        if guard is not None:
            guard.log(record)
        call_handlers(self, record)

    logging.Logger.callHandlers = callHandlers  # type: ignore[method-assign]
