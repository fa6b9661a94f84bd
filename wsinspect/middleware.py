"""The ASGI adapter: wraps ``receive`` and ``send`` of each ``websocket`` scope and feeds a tracker.

It must never change, slow or break the app it watches: messages pass through as they are, in
the same order, and any failure of the tracking itself is logged and swallowed.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, MutableMapping
from contextvars import ContextVar
from time import time
from typing import Any

from .config import WSInspectConfig
from .recorder import Recorder
from .tracker import ConnectionTracker

__all__ = ("ASGIApp", "WSInspectMiddleware", "observe")

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

logger = logging.getLogger("wsinspect")


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

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if not self._active or scope["type"] != "websocket":
            await self.app(scope, receive, send)
            return
        await observe(self.app, scope, receive, send, self.recorder)


async def observe(app: ASGIApp, scope: Scope, receive: Receive, send: Send, recorder: Recorder) -> None:
    """Run ``app`` for one ``websocket`` scope while recording its traffic into ``recorder``."""
    if recorder.config.excludes(scope.get("path", "")):
        await app(scope, receive, send)
        return
    try:
        tracker = recorder.start(scope, time())
    except Exception:
        _tracking_failed()
        await app(scope, receive, send)
        return

    guard = _Guard(tracker)
    token = _current_guard.set(guard)

    # The two wrappers every message passes through: the guard's checks are inlined here.
    async def tracked_receive() -> Message:
        message = await receive()
        if guard.working:
            try:
                tracker.receive(message, time())
            except Exception:
                guard.failed()
        return message

    async def tracked_send(message: Message) -> None:
        try:
            await send(message)
        except OSError:
            # The server could not deliver it: the client is gone (uvicorn's ClientDisconnected).
            guard.call(tracker.client_gone)
            raise
        if guard.working:
            try:
                tracker.send(message, time())
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
        _current_guard.reset(token)
        guard.finish(recorder)


class _Guard:
    """Calls into one tracker so that no failure of it can reach the app; after one, it stops."""

    __slots__ = ("tracker", "working")

    def __init__(self, tracker: ConnectionTracker) -> None:
        self.tracker = tracker
        self.working = True

    def call(self, step: Callable[..., None], *args: Any) -> None:
        if self.working:
            try:
                step(*args, time())
            except Exception:
                self.failed()

    def failed(self) -> None:
        self.working = False
        _tracking_failed()

    def finish(self, recorder: Recorder) -> None:
        try:
            recorder.finish(self.tracker)
        except Exception:
            _tracking_failed()


# The guard of the connection whose handler runs in this task, for framework exception hooks.
_current_guard: ContextVar[_Guard | None] = ContextVar("wsinspect_current_guard", default=None)
_failures = 0


def _tracking_failed() -> None:
    """Log a failure of wsinspect itself: with its traceback the first time, briefly after."""
    global _failures
    _failures += 1
    if _failures == 1:
        logger.warning("wsinspect failed to record a WebSocket event; the app is unaffected", exc_info=True)
    else:
        logger.debug("wsinspect failed to record a WebSocket event (%d so far)", _failures, exc_info=True)
