"""The Litestar plugin: ``plugins=[WSInspectPlugin()]`` records every WebSocket route."""

from __future__ import annotations

from typing import TYPE_CHECKING

from litestar.enums import ScopeType
from litestar.middleware import ASGIMiddleware
from litestar.plugins import InitPlugin

from .capture.middleware import note_handler_error, observe
from .capture.recorder import Recorder
from .config import WSInspectConfig

if TYPE_CHECKING:
    from litestar.config.app import AppConfig
    from litestar.types import ASGIApp, Receive, Scope, Send

__all__ = ("WSInspectPlugin", "WSInspectRouteMiddleware")


class WSInspectRouteMiddleware(ASGIMiddleware):
    """Litestar route middleware for the ``websocket`` scope. It sees only routed paths."""

    scopes = (ScopeType.WEBSOCKET,)

    def __init__(self, recorder: Recorder) -> None:
        self.recorder = recorder

    async def handle(self, scope: Scope, receive: Receive, send: Send, next_app: ASGIApp) -> None:
        await observe(next_app, scope, receive, send, self.recorder)  # type: ignore[arg-type]


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
            app_config.middleware.append(WSInspectRouteMiddleware(self.recorder))
            # Litestar turns a handler's exception into a close (4500); the hook keeps its text.
            app_config.after_exception.append(_after_exception)
        return app_config


def _after_exception(exc: Exception, scope: Scope) -> None:
    if scope.get("type") == ScopeType.WEBSOCKET:
        note_handler_error(exc)
