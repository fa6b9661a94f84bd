"""The echo apps the live benchmark serves with uvicorn, one per mode (``uvicorn bench.apps:NAME``).

``bare``: Litestar alone. ``plugin``: with ``WSInspectPlugin`` (where it streams is the env's
``WSINSPECT_SOCKET``). ``otel``: with Litestar's OpenTelemetry plugin, whose ASGI middleware opens
a span per message sent and received, exported in batches to an exporter that discards them.
"""

from __future__ import annotations

from typing import Any

from litestar import Litestar, WebSocket, websocket
from litestar.exceptions import WebSocketDisconnect

from wsinspect.litestar import WSInspectPlugin


@websocket("/ws")
async def echo(socket: WebSocket[Any, Any, Any]) -> None:
    await socket.accept()
    try:
        while True:
            await socket.send_text(await socket.receive_text())
    except WebSocketDisconnect:
        pass


bare = Litestar([echo])
plugin = Litestar([echo], plugins=[WSInspectPlugin()])


def _otel() -> Litestar:
    from collections.abc import Sequence

    from litestar.plugins.opentelemetry import OpenTelemetryConfig, OpenTelemetryPlugin
    from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult

    class Discard(SpanExporter):
        def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
            return SpanExportResult.SUCCESS

    provider = TracerProvider()
    provider.add_span_processor(BatchSpanProcessor(Discard()))
    return Litestar([echo], plugins=[OpenTelemetryPlugin(OpenTelemetryConfig(tracer_provider=provider))])


def __getattr__(name: str) -> Any:
    # Built on demand: the OpenTelemetry packages are only needed for that mode.
    if name == "otel":
        return _otel()
    raise AttributeError(name)
