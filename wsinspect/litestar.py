"""The Litestar plugin: ``plugins=[WSInspectPlugin()]`` records every WebSocket route."""

from __future__ import annotations

from collections.abc import Awaitable
from typing import TYPE_CHECKING

from litestar.enums import ScopeType
from litestar.middleware import DefineMiddleware
from litestar.plugins import InitPlugin

from .capture.middleware import capture_logs, note_handler_error, observe
from .capture.recorder import Recorder
from .config import WSInspectConfig

if TYPE_CHECKING:
    from litestar.config.app import AppConfig
    from litestar.types import ASGIApp, Receive, Scope, Send

__all__ = ("WSInspectPlugin", "WSInspectRouteMiddleware")


class WSInspectRouteMiddleware:
    """Litestar route middleware for the ``websocket`` scope. It sees only routed paths.

    Not a coroutine function: it hands back the coroutine of what runs the connection, and so adds
    no frame of its own to the handler's task. Each frame of that task is resumed every time the
    handler waits for a message, so every layer costs on every message.
    """

    __slots__ = ("app", "recorder")

    def __init__(self, app: ASGIApp, recorder: Recorder) -> None:
        self.app = app
        self.recorder = recorder

    def __call__(self, scope: Scope, receive: Receive, send: Send) -> Awaitable[None]:
        if scope["type"] != ScopeType.WEBSOCKET:
            return self.app(scope, receive, send)
        return observe(self.app, scope, receive, send, self.recorder)  # type: ignore[arg-type]


class WSInspectPlugin(InitPlugin):
    """Adds wsinspect's middleware to a Litestar app.

    Upgrades to paths with no route are refused by Litestar before any route middleware runs;
    wrap the app in :class:`wsinspect.WSInspectMiddleware` to see those too.
    """

    __slots__ = ("config", "recorder")

    def __init__(self, config: WSInspectConfig | None = None) -> None:
        self.config = config or WSInspectConfig()
        self.recorder = Recorder(self.config)

    def on_app_init(self, app_config: AppConfig) -> AppConfig:
        if self.config.active:
            app_config.middleware.append(DefineMiddleware(WSInspectRouteMiddleware, recorder=self.recorder))
            # Litestar turns a handler's exception into a close (4500); the hook keeps its text.
            app_config.after_exception.append(_after_exception)
            if self.config.log_level is not None:
                capture_logs()
        return app_config


def _after_exception(exc: Exception, scope: Scope) -> None:
    if scope.get("type") == ScopeType.WEBSOCKET:
        note_handler_error(exc)
