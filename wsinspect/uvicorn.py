"""uvicorn WebSocket protocols that show wsinspect the pings, pongs and keepalive timeouts ASGI hides.

ASGI has no ping or pong events: the server answers pings itself and runs its own keepalive, so
no middleware can see them. Run uvicorn with one of these classes instead of its own::

    uvicorn app:app --ws wsinspect.uvicorn:WebSocketProtocol
    uvicorn.run(app, ws="wsinspect.uvicorn:WebSocketProtocol")

``WebSocketProtocol`` is :class:`SansIOWebSocketProtocol` (uvicorn's ``websockets-sansio``) when
the ``websockets`` package is importable, else :class:`WSProtoWebSocketProtocol` (``wsproto``).
Each behaves exactly as the uvicorn class it extends; it also puts a
:class:`~wsinspect.middleware.ControlChannel` in the scope's ``extensions`` under
``"wsinspect.control"``, through which the wsinspect middleware (or plugin) of the app records,
in the same connection as its messages:

* the server's keepalive pings (``sent``) and the client's pongs (``received``), with the
  round-trip time uvicorn measured when a pong answers the ping in flight;
* the client's pings (``received``) and the pongs the server returns (``sent``);
* pongs the client sends unasked, or that answer an older ping (``received``, no round-trip
  time: uvicorn ignores them);
* a keepalive timeout: the close 1011 "keepalive ping timeout" the server sends, which ends the
  connection (``closed_by`` server).

This is the only module of wsinspect that imports uvicorn. It needs uvicorn 0.46 or newer, the
first release with keepalive pings in both implementations.
"""

from __future__ import annotations

import asyncio
import re
from typing import Any

from .capture.failures import tracking_failed
from .capture.middleware import CONTROL_EXTENSION, ControlChannel

__all__ = ("MIN_UVICORN_VERSION", "SansIOWebSocketProtocol", "WSProtoWebSocketProtocol", "WebSocketProtocol")

MIN_UVICORN_VERSION = (0, 46, 0)
_MIN_TEXT = ".".join(map(str, MIN_UVICORN_VERSION))
# The methods of uvicorn's protocols these classes extend (besides handle_connect and handle_events).
_HOOKS = ("handle_ping", "handle_pong", "send_keepalive_ping", "keepalive_timeout")

try:
    import uvicorn
except ImportError as exc:
    raise ImportError(
        f"wsinspect.uvicorn needs uvicorn {_MIN_TEXT} or newer: pip install 'uvicorn>={_MIN_TEXT}'"
    ) from exc


def _version(text: str) -> tuple[int, ...]:
    return tuple(int(part) for part in re.findall(r"\d+", text)[:3])


if _version(getattr(uvicorn, "__version__", "0")) < MIN_UVICORN_VERSION:
    raise ImportError(
        f"wsinspect.uvicorn needs uvicorn {_MIN_TEXT} or newer (the first with WebSocket keepalive pings "
        f"in its websockets-sansio and wsproto protocols); found uvicorn {getattr(uvicorn, '__version__', '?')}"
    )

try:
    from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol
    from websockets.frames import Frame, Opcode
    from websockets.http11 import Request

    _HAVE_SANSIO = True
except ImportError:  # pragma: no cover - the websockets package is not installed
    _HAVE_SANSIO = False

try:
    from uvicorn.protocols.websockets.wsproto_impl import WSProtocol
    from wsproto import events as wsproto_events

    _HAVE_WSPROTO = True
except ImportError:  # pragma: no cover - the wsproto package is not installed
    _HAVE_WSPROTO = False


def _check_hooks(base: type[asyncio.Protocol]) -> None:
    missing = [name for name in ("handle_connect", "handle_events", *_HOOKS) if not callable(getattr(base, name, None))]
    if missing:  # pragma: no cover - a uvicorn that renamed them
        raise ImportError(
            f"wsinspect.uvicorn does not support this uvicorn ({uvicorn.__version__}): "
            f"{base.__name__} has no {', '.join(missing)}"
        )


def _open_channel(scope: Any) -> ControlChannel | None:
    """Add a ControlChannel to the scope uvicorn just built (before the app's task first runs)."""
    if not isinstance(scope, dict):
        return None  # the upgrade was refused before a scope was made
    try:
        extensions = scope.get("extensions")
        if not isinstance(extensions, dict):
            extensions = scope["extensions"] = {}
        channel = ControlChannel()
        extensions[CONTROL_EXTENSION] = channel
    except Exception:  # pragma: no cover - defensive: never break the upgrade
        tracking_failed()
        return None
    return channel


# Each override lets uvicorn do its work first and then reports what it did, so that wsinspect
# can neither change nor break it. uvicorn's keepalive state tells what happened:
# ``pending_ping_payload`` is set when a keepalive ping goes out and cleared when the pong that
# answers it arrives (uvicorn then sets ``last_ping_rtt``, measured on its loop clock) or when the
# ping times out; ``close_sent`` turns true when the timeout fails the connection.


class _KeepaliveReports:
    """The keepalive overrides both protocols share (their uvicorn bases name things alike)."""

    _wsinspect: ControlChannel | None = None
    pending_ping_payload: bytes | None
    close_sent: bool
    last_ping_rtt: float

    def send_keepalive_ping(self) -> None:
        before = self.pending_ping_payload
        super().send_keepalive_ping()  # type: ignore[misc]
        payload = self.pending_ping_payload
        if self._wsinspect is not None and payload is not None and payload is not before:
            self._wsinspect.frame("sent", "ping", payload)

    def keepalive_timeout(self) -> None:
        was_open = not self.close_sent
        super().keepalive_timeout()  # type: ignore[misc]
        if self._wsinspect is not None and was_open and self.close_sent:
            self._wsinspect.keepalive_timeout()

    def _report_pong(self, pending: bytes | None, payload: bytes) -> None:
        """After uvicorn handled a pong: it carries a round-trip time if it answered our ping."""
        if self._wsinspect is not None:
            answered = pending is not None and self.pending_ping_payload is None
            self._wsinspect.frame("received", "pong", payload, self.last_ping_rtt if answered else None)

    def _report_client_ping(self, payload: bytes) -> None:
        """A ping from the client, and the pong with the same payload the server answered it with."""
        if self._wsinspect is not None:
            self._wsinspect.frame("received", "ping", payload)
            self._wsinspect.frame("sent", "pong", payload)


if _HAVE_SANSIO:
    _check_hooks(WebSocketsSansIOProtocol)

    class SansIOWebSocketProtocol(_KeepaliveReports, WebSocketsSansIOProtocol):
        """uvicorn's ``websockets-sansio`` protocol, reporting pings, pongs and keepalive timeouts."""

        # uvicorn calls handle_ping() without the frame. handle_events keeps a reference to the
        # batch of events it is about to process (the list websockets' events_received() hands
        # over), so that handle_ping can find the ping's payload there: one reference per read of
        # the socket, nothing per message.
        _wsinspect_batch: list[Any] | tuple[()] = ()
        _wsinspect_next = 0

        def handle_connect(self, event: Request) -> None:
            super().handle_connect(event)
            self._wsinspect = _open_channel(getattr(self, "scope", None))

        def handle_events(self) -> None:
            self._wsinspect_batch = self.conn.events
            self._wsinspect_next = 0
            try:
                super().handle_events()
            finally:
                self._wsinspect_batch = ()  # do not hold on to the messages

        def handle_ping(self) -> None:
            payload = self._wsinspect_ping_payload() if self._wsinspect is not None else None
            super().handle_ping()
            # websockets queued the pong (same payload) when it parsed the ping; uvicorn wrote it.
            if payload is not None:
                self._report_client_ping(payload)

        def handle_pong(self, event: Frame) -> None:
            pending = self.pending_ping_payload
            super().handle_pong(event)
            self._report_pong(pending, bytes(event.data))

        def _wsinspect_ping_payload(self) -> bytes | None:
            try:
                batch = self._wsinspect_batch
                for index in range(self._wsinspect_next, len(batch)):
                    event = batch[index]
                    if isinstance(event, Frame) and event.opcode is Opcode.PING:
                        self._wsinspect_next = index + 1
                        return bytes(event.data)
            except Exception:  # pragma: no cover - defensive
                tracking_failed()
            return None  # pragma: no cover - a websockets that hands over a copy of its events


if _HAVE_WSPROTO:
    _check_hooks(WSProtocol)

    class WSProtoWebSocketProtocol(_KeepaliveReports, WSProtocol):
        """uvicorn's ``wsproto`` protocol, reporting pings, pongs and keepalive timeouts."""

        def handle_connect(self, event: wsproto_events.Request) -> None:
            super().handle_connect(event)
            self._wsinspect = _open_channel(getattr(self, "scope", None))

        def handle_ping(self, event: wsproto_events.Ping) -> None:
            super().handle_ping(event)  # writes event.response(): a pong with the same payload
            self._report_client_ping(bytes(event.payload))

        def handle_pong(self, event: wsproto_events.Pong) -> None:
            pending = self.pending_ping_payload
            super().handle_pong(event)
            self._report_pong(pending, bytes(event.payload))


WebSocketProtocol: type[asyncio.Protocol]
if _HAVE_SANSIO:
    WebSocketProtocol = SansIOWebSocketProtocol
elif _HAVE_WSPROTO:  # pragma: no cover - without websockets
    WebSocketProtocol = WSProtoWebSocketProtocol
else:  # pragma: no cover
    raise ImportError("wsinspect.uvicorn needs the websockets or the wsproto package: pip install websockets")


def __getattr__(name: str) -> Any:  # pragma: no cover - only without websockets or wsproto
    needs = {"SansIOWebSocketProtocol": "websockets", "WSProtoWebSocketProtocol": "wsproto"}
    if name in needs:
        raise AttributeError(f"wsinspect.uvicorn.{name} needs the {needs[name]} package: pip install {needs[name]}")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
