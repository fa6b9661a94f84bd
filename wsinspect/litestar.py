"""The Litestar plugin: ``plugins=[WSInspectPlugin()]`` records every WebSocket route, and adds
``litestar wsinspect`` (the inspector for the app's socket) and ``litestar wsinspect record`` to
Litestar's CLI."""

from __future__ import annotations

import logging
import subprocess
import sys
from collections.abc import Awaitable, Sequence
from typing import TYPE_CHECKING

from litestar.enums import ScopeType
from litestar.middleware import DefineMiddleware
from litestar.plugins import CLIPluginProtocol, InitPlugin

from .capture.middleware import capture_logs, note_handler_error, observe
from .capture.recorder import Recorder
from .config import WSInspectConfig
from .paths import resolve_socket_path

if TYPE_CHECKING:
    from click import Group
    from litestar import Litestar
    from litestar.config.app import AppConfig
    from litestar.types import ASGIApp, Receive, Scope, Send

__all__ = ("WSInspectPlugin", "WSInspectRouteMiddleware", "recording_notice")

logger = logging.getLogger("wsinspect")


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


class WSInspectPlugin(InitPlugin, CLIPluginProtocol):
    """Adds wsinspect's middleware to a Litestar app, and its commands to Litestar's CLI.

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
            app_config.on_startup.append(self._warn_unless_debug)
        return app_config

    def _warn_unless_debug(self, app: Litestar) -> None:
        """Recording in production must be loud: one warning at startup when the app is not in debug mode."""
        if not app.debug:
            logger.warning("wsinspect: %s", recording_notice(self.config))

    def on_cli_init(self, cli: Group) -> None:
        """``litestar wsinspect`` and ``litestar wsinspect record -o FILE``, on the socket this app
        streams to (its config's ``socket_path``, else ``WSINSPECT_SOCKET``, else the default)."""
        import click

        def socket() -> str:
            return str(resolve_socket_path(self.config.socket_path))

        @cli.group(
            name="wsinspect",
            invoke_without_command=True,
            help="Watch this app's WebSocket traffic live (wsinspect's inspector on the app's socket).",
        )
        @click.pass_context
        def inspect(context: click.Context) -> None:
            if context.invoked_subcommand is None:
                context.exit(run_wsinspect(["--socket", socket()]))

        @inspect.command(help="Record this app's WebSocket traffic until Ctrl-C, then write FILE (wsinspect record).")
        @click.option("-o", "--output", required=True, metavar="FILE", help="where to write the session")
        def record(output: str) -> None:
            click.get_current_context().exit(run_wsinspect(["record", "--socket", socket(), "-o", output]))


def recording_notice(config: WSInspectConfig) -> str:
    """What is recorded and how to turn it off, for an app that is not in debug mode."""
    payloads = f"payloads (up to {config.max_message_size} bytes a frame"
    payloads += ", binary by size only)" if not config.show_binary_preview else ")"
    if config.redact is not None:
        payloads += " as your redact hook returns them"
    logs = "" if config.log_level is None else f", log lines ({logging.getLevelName(config.log_level)} and up)"
    return (
        f"recording WebSocket traffic with debug off: {payloads}, request headers and query strings "
        f"(credentials redacted), close reasons, handler errors{logs} stream to the inspector at "
        f"{resolve_socket_path(config.socket_path)} whenever one listens. Turn it off in production with "
        "WSInspectConfig(enabled=False) or WSINSPECT_ENABLED=0"
    )


def run_wsinspect(arguments: Sequence[str]) -> int:
    """Run the ``wsinspect`` command (its own process: the app side never imports the inspector)."""
    process = subprocess.Popen([sys.executable, "-m", "wsinspect", *arguments])
    while True:
        try:
            return process.wait()
        except KeyboardInterrupt:  # Ctrl-C reached the inspector too: it stops (and writes its file)
            continue


async def _after_exception(exc: Exception, scope: Scope) -> None:
    # A coroutine function, though it never waits: Litestar runs a sync hook in a worker thread,
    # which would add a thread hop (and a point where the task can be cancelled) before the close.
    if scope.get("type") == ScopeType.WEBSOCKET:
        note_handler_error(exc)
