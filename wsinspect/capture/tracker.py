"""The connection tracker: a sans-I/O state machine fed the ASGI messages of one WebSocket.

It does no I/O and reads no clock: every call takes the time as ``now``. It never raises on a
malformed or out-of-order message (it ignores what it cannot understand), so the middleware can
feed it whatever the app and the server exchange.

States: ``connecting`` (upgrade request seen) → ``open`` (accepted) → ``closing`` (the app sent a
close and waits for the handler to end) → ``closed``. Every way a connection ends (close, client
drop, handler return, exception, cancellation) lands in ``closed`` with ``disconnected_at`` set.

The handler of the connection (its name, where it is defined, its route, path parameters and
guards) is read from the scope, never per frame: when the tracker starts (Litestar's route
middleware already sees the route) and, until it is found, again whenever the connection's
record changes (an app-level middleware sees the scope before the framework routes it; routing
fills in the same scope before the accept or the refusal). Reading it never raises.

What the handler logs while it runs (``capture_logs``) is kept too, bounded like frames, as log
lines with their own numbering; a handler's exception keeps its traceback, and one raised before
the accept says what refused the handshake.

What the handler is doing (``receiving`` and ``received``, ``sending`` and ``sent``) the
middleware's wrappers write directly, one float on the way into each call and one on the way
out, and the watchdog reads from its thread (see
:mod:`~wsinspect.capture.watchdog`), which also hands over the loop blocks it attributes to the handler.
"""

from __future__ import annotations

import heapq
import logging
import math
import uuid
from collections import deque
from collections.abc import Mapping, Sequence
from itertools import count
from typing import Any, Literal, Protocol

import msgspec

from ..config import WSInspectConfig
from ..model import (
    KEEPALIVE_TIMEOUT_CODE,
    KEEPALIVE_TIMEOUT_REASON,
    ClosedBy,
    Connection,
    Direction,
    Frame,
    HandlerDoing,
    HandlerState,
    LoopBlock,
    short_handler,
)
from ..wire import (
    BINARY,
    CLOSE,
    SENT,
    TEXT,
    FrameRecord,
    WireHandlerState,
    WireLog,
    WireLoopBlock,
    frame_code,
    record_to_frame,
)
from .client_saw import Ending, client_saw, server_closed
from .failures import redact_failed
from .handlers import read_handler
from .scope import address, as_int, as_text, headers, latin1, query, strings
from .servers import Server
from .text import UTF8_CHUNK, cut_text, utf8_size
from .traces import describe_exception, is_disconnect, refused_by, traceback_entries

__all__ = ("ConnectionTracker", "TrackerListener")


# Connection keys: small numbers that name a connection in this process's frame records.
_keys = count(1)

MAX_LOOP_BLOCKS = 50  # a connection's newest loop blocks kept

# What a replay sends of a connection after its metadata, in time order (then its handler's state).
HeldRecord = FrameRecord | WireLog | WireLoopBlock | WireHandlerState


class TrackerListener(Protocol):
    """Told of every change, so it can stream it (the tracker itself keeps the newest frames).

    ``live`` is read before each frame: while it is false, frames are not handed over at all.
    """

    live: bool

    def frame_recorded(self, record: FrameRecord | WireLog) -> None:
        """A new frame; its index (``record[1]``) numbers the connection's frames from 0, dropped
        ones included. Or a log line of the connection's handler, numbered on its own."""

    def connection_changed(self, key: int, connection: Connection) -> None:
        """The connection's record changed; ``connection`` is the tracker's own, which goes on
        changing: a listener that keeps it for later must keep a copy."""

    def handler_state(self, key: int, state: HandlerState | None) -> None:
        """What the handler does has lasted a while (or, None, no longer does); from the watchdog's thread."""

    def loop_blocked(self, key: int | None, block: LoopBlock) -> None:
        """The handler of connection ``key`` (None: no connection's) held the event loop."""


class ConnectionTracker:
    """Records one WebSocket connection from its ASGI scope and messages."""

    __slots__ = (
        "_app_closed",
        "_app_responded",
        "_binary_preview",
        "_bytes_received",
        "_bytes_sent",
        "_capacity",
        "_client_left",
        "_connection",
        "_disconnect_code",
        "_limit",
        "_listener",
        "_log_numbers",
        "_logged",
        "_logs",
        "_loop_blocks",
        "_lost_close",
        "_received",
        "_recorded",
        "_records",
        "_redact",
        "_returned",
        "_rtt_count",
        "_rtt_total",
        "_scope",
        "_send_error",
        "_sent",
        "_server",
        "key",
        "received",
        "receiving",
        "reported",
        "sending",
        "sent",
        "task",
    )

    def __init__(
        self,
        scope: Mapping[str, Any],
        config: WSInspectConfig,
        now: float,
        *,
        listener: TrackerListener | None = None,
        connection_id: str | None = None,
        server: Server | None = None,
    ) -> None:
        self._limit = config.max_message_size
        self._binary_preview = config.show_binary_preview
        self._redact = config.redact
        self._listener = listener
        self.key = next(_keys)
        # The newest frames, as the records the wire carries: the hot path builds nothing more.
        self._records: deque[FrameRecord] = deque(maxlen=config.max_messages)
        self._capacity = config.max_messages
        self._recorded = 0  # frames recorded so far, dropped ones included: the next frame's index
        self._logs: deque[WireLog] = deque(maxlen=config.max_messages)  # the newest log lines
        self._logged = 0  # log lines recorded so far: the next one's index
        # Numbers the lines: a sync guard or dependency logs from a worker thread, and next() on a
        # count is one step under the GIL, so two threads never take the same number.
        self._log_numbers = count()
        self._rtt_count = 0  # round-trip times measured so far, and their sum (for ``avg_rtt``)
        self._rtt_total = 0.0
        # The counts live here while messages flow (a slot is far cheaper to bump than a field of
        # the Connection struct) and go into the Connection whenever it is read. The middleware's
        # wrappers bump them too, with _recorded and _records, for the texts they record (see data).
        self._sent = self._received = self._bytes_sent = self._bytes_received = 0
        # The app heard that the client is gone (a websocket.disconnect, or a send that failed):
        # a disconnect exception that ends the handler from then on is the normal end, no error.
        self._client_left = False
        self._send_error: BaseException | None = None  # what the failed send raised
        # How it ended, for what the client saw (see client_saw): the server that ran it, and what
        # ASGI showed of the end.
        self._server = server
        self._app_closed = self._app_responded = self._returned = False
        self._lost_close: int | None = None  # a close of the app's that never reached the client
        self._disconnect_code: int | None = None  # the server's websocket.disconnect that ended it
        self._connection = Connection(
            connection_id=connection_id or str(uuid.uuid4()),
            path=as_text(scope.get("path")),
            query_string=query(latin1(scope.get("query_string")), config.redact_query_params),
            connected_at=now,
            client=address(scope.get("client")),
            scheme=as_text(scope.get("scheme")) or "ws",
            headers=headers(scope.get("headers"), config.redact_headers),
            requested_subprotocols=strings(scope.get("subprotocols")),
        )
        # What the handler does, written by the middleware's wrappers: when it last went into
        # receive() and came back, and the same of send(). In a call: went in after it last came back.
        self.receiving = self.sending = 0.0
        self.received = self.sent = now  # (it "came back" as it started: working since then)
        self.task: object | None = None  # the handler's asyncio task, for the watchdog
        self.reported: HandlerState | None = None  # the state the watchdog last reported (see report_state)
        self._loop_blocks: deque[LoopBlock] = deque(maxlen=MAX_LOOP_BLOCKS)
        # Kept until the handler is found in it, or the connection ends (see _changed).
        self._scope: Mapping[str, Any] | None = scope
        self._changed()

    # -- what the app received -------------------------------------------------------------

    def receive(self, message: Any, now: float, asked: float | None = None) -> None:
        """Feed a message the app got from ``receive()``; ``asked``: when the handler called it."""
        kind = message.get("type") if isinstance(message, dict) else None
        if kind == "websocket.receive":
            self.data(0, message, now, asked)
        elif kind == "websocket.disconnect":
            self._disconnect(message, now, asked)

    # -- what the app sent -----------------------------------------------------------------

    def send(self, message: Any, now: float) -> None:
        """Feed a message the app passed to ``send()`` (after the server took it)."""
        kind = message.get("type") if isinstance(message, dict) else None
        if kind == "websocket.send":
            self.data(SENT, message, now)
        elif kind == "websocket.accept":
            self._accept(message, now)
        elif kind == "websocket.close":
            self._close(message, now)
        elif kind == "websocket.http.response.start":
            self._deny(message, now)
        elif kind == "websocket.http.response.body":
            self._deny_body(message, now)

    # -- how the handler ended -------------------------------------------------------------

    def handler_returned(self, now: float) -> None:
        # Returning without a close still ends the connection: the server closes it.
        self._send_error = None  # the handler is done: its frames need not be kept alive
        self._returned = True
        self._end(now, "server")

    def error_raised(self, exc: BaseException, now: float) -> None:
        """Note an exception of the handler that a framework caught and turned into a close.

        A disconnect exception (Litestar's or Starlette's ``WebSocketDisconnect``, uvicorn's
        ``ClientDisconnected``) after the app heard that the client left is how a handler that
        does not catch it ends normally: no error. Any other exception is one, whenever raised.
        """
        if self._client_left and (exc is self._send_error or is_disconnect(exc)):
            return
        conn = self.connection
        conn.error = describe_exception(exc, self._limit)
        conn.traceback = traceback_entries(exc.__traceback__)
        if conn.state == "connecting":  # before the accept: the upgrade will be refused
            conn.refused_by = refused_by(conn.traceback, conn.handler)
        self._changed()

    def handler_failed(self, exc: BaseException, now: float) -> None:
        self.error_raised(exc, now)
        self._send_error = None
        self._end(now, "server")

    def send_failed(self, exc: BaseException, message: Any, now: float) -> None:
        """The server raised ``exc`` from a send of ``message``: the client is gone (and ``exc``,
        should it end the handler, is no error of the handler's). A close it refused never reached
        the client."""
        self._send_error = exc
        if isinstance(message, dict) and message.get("type") == "websocket.close":
            self._close_lost(as_int(message.get("code"), 1000))
        self.client_gone(now)

    def client_gone(self, now: float) -> None:
        """A send failed because the client had gone without the app hearing of it."""
        self._client_left = True
        conn = self.connection
        if conn.state in ("connecting", "open"):
            conn.closed_while = self.handler_state()  # in send(): the wrapper clears it after this
            conn.close_code = 1006
            conn.close_reason = ""
            self._end(now, "client")

    def handler_cancelled(self, now: float) -> None:
        # The task was cancelled from outside (server shutdown, a dropped transport): who
        # ended the connection is not known here.
        self._send_error = None
        conn = self.connection
        conn.error = "cancelled"
        if conn.state != "closed":
            # What lasted before the cancel, as the watchdog saw it: the wrappers have already
            # cleared what the handler waited in as the cancellation went through them.
            conn.closed_while = self.reported
        self._end(now, None)

    # -- what the server did on its own: pings, pongs, keepalive ------------------------------
    # ASGI never shows these to the app; a server that can (wsinspect.uvicorn) reports them
    # through the ``wsinspect.control`` scope extension. None of this runs per text or binary
    # message, and none of it counts in ``messages_*`` or ``bytes_*`` (data messages only).

    def control_observable(self, now: float) -> None:
        """The server reports this connection's pings and pongs."""
        conn = self.connection
        if not conn.ping_observable:
            conn.ping_observable = True
            self._changed()

    def control_frame(
        self,
        direction: Direction,
        message_type: Literal["ping", "pong"],
        payload: bytes | bytearray | memoryview,
        now: float,
        rtt: float | None = None,
    ) -> None:
        """Record a ping or pong frame; ``rtt`` (seconds) for a pong that answered a keepalive ping.

        ``direction`` is from the app's side, as for messages: the server's ping and its pong to
        a client ping are ``sent``, the client's ping and pong are ``received``. Frames after the
        connection is closed are not recorded (``closed`` is final).
        """
        conn = self.connection
        if conn.state == "closed" or message_type not in ("ping", "pong"):
            return
        if not isinstance(payload, (bytes, bytearray, memoryview)):
            return
        size = len(payload) if not isinstance(payload, memoryview) else payload.nbytes
        truncated = size > self._limit
        content: bytes | None = None
        if self._binary_preview:  # the rule of binary frames: no preview, no bytes
            content = bytes(payload[: self._limit]) if truncated or not isinstance(payload, bytes) else payload
        self._add(frame_code(direction, message_type), content, size, truncated, None, now)
        if isinstance(rtt, (int, float)) and math.isfinite(rtt) and rtt >= 0:
            self._rtt_count += 1
            self._rtt_total += rtt
            conn.last_rtt = float(rtt)
            conn.avg_rtt = self._rtt_total / self._rtt_count
            self._changed()

    def keepalive_timeout(self, now: float) -> None:
        """The server's keepalive ping went unanswered: it sent a 1011 close and dropped the link.

        The app hears of it later (if at all) as a ``websocket.disconnect``, which finds the
        connection closed and changes nothing.
        """
        conn = self.connection
        if conn.state not in ("connecting", "open"):
            return  # closing: the app's own close is on its way; closed: nothing left to end
        conn.close_code = KEEPALIVE_TIMEOUT_CODE
        conn.close_reason = KEEPALIVE_TIMEOUT_REASON
        conn.closed_by = "server"
        self._close_frame(SENT, KEEPALIVE_TIMEOUT_CODE, KEEPALIVE_TIMEOUT_REASON, now)
        self._end(now, "server")

    # -- what the handler logged ------------------------------------------------------------

    def log(self, record: logging.LogRecord) -> None:
        """Record a log record emitted while the handler ran (the caller checked its level)."""
        limit = self._limit
        message = record.getMessage()
        size = len(message) if message.isascii() else utf8_size(message)
        error = None
        traceback: list[Any] = []
        exc_info = record.exc_info
        if exc_info and exc_info[1] is not None:
            error = describe_exception(exc_info[1], limit)
            traceback = traceback_entries(exc_info[2])
        index = next(self._log_numbers)
        if index >= self._logged:
            self._logged = index + 1
        line = WireLog(
            self.key,
            index,
            record.created,
            record.levelno,
            record.levelname,
            record.name[:200],
            message if size <= limit else cut_text(message, limit),
            size,
            size > limit,
            error,
            traceback,
        )
        self._logs.append(line)
        listener = self._listener
        if listener is not None and listener.live:
            listener.frame_recorded(line)

    # -- what the handler is doing (read and reported by the watchdog's thread) ---------------

    def doing(self) -> tuple[HandlerDoing, float] | None:
        """What the handler does now, and since when; None once the connection is closed.

        A send pending wins over a receive pending (a handler with a reader and a writer task that
        waits on a slow client is sending); a receive pending stays one while another task sends.
        Working: since it last came back from either. (The watchdog's pass reads the same inline.)"""
        if self._connection.state == "closed":
            return None
        sending, sent = self.sending, self.sent
        if sending > sent:
            return "sending", sending
        receiving, received = self.receiving, self.received
        if receiving > received:
            return "receiving", receiving
        return "working", max(received, sent)

    @property
    def closed(self) -> bool:
        return self._connection.state == "closed"

    def report_state(self, state: HandlerState | None) -> None:
        """What the handler does has lasted a while (None: the reported state ended)."""
        self.reported = state
        listener = self._listener
        if listener is not None and listener.live:
            listener.handler_state(self.key, state)

    def loop_blocked(self, block: LoopBlock) -> None:
        """The handler held the event loop: kept (the newest MAX_LOOP_BLOCKS) and told."""
        self._loop_blocks.append(block)
        listener = self._listener
        if listener is not None and listener.live:
            listener.loop_blocked(self.key, block)

    def handler_state(self) -> HandlerState | None:
        """What the handler does now (in process it need not have lasted), with the stack the
        watchdog found when it is the state it reported."""
        doing = self.doing()
        if doing is None:
            return None
        state, since = doing
        reported = self.reported
        stack = reported.stack if reported is not None and (reported.state, reported.since) == doing else None
        return HandlerState(state=state, since=since, stack=stack)

    # -- snapshots -------------------------------------------------------------------------

    @property
    def connection(self) -> Connection:
        """The connection's record, its counts brought up to date."""
        conn = self._connection
        conn.messages_sent = self._sent
        conn.messages_received = self._received
        conn.bytes_sent = self._bytes_sent
        conn.bytes_received = self._bytes_received
        conn.messages_dropped = max(0, self._recorded - self._capacity)  # the buffer's oldest, gone
        conn.logs_dropped = max(0, self._logged - self._capacity)
        return conn

    @property
    def frames(self) -> list[Frame]:
        """The newest frames (at most ``max_messages``), oldest first."""
        return [record_to_frame(record) for record in list(self._records)]

    def snapshot(self) -> Connection:
        """A copy of the connection with its newest frames and log lines, its loop blocks and what
        its handler does now."""
        logs = [line.to_line() for line in list(self._logs)]
        return msgspec.structs.replace(
            self.connection,
            messages=self.frames,
            logs=logs,
            handler_state=self.handler_state(),
            loop_blocks=list(self._loop_blocks),
        )

    def records(self) -> list[HeldRecord]:
        """The newest frames as records, the newest log lines and loop blocks, in time order, then
        the handler's state when one was reported (a copy: the app's threads may add more)."""
        records: list[HeldRecord] = list(self._records)
        others: Sequence[Sequence[HeldRecord]] = [
            list(self._logs),
            [WireLoopBlock(self.key, block) for block in list(self._loop_blocks)],
        ]
        for more in others:
            if more:
                records = list(heapq.merge(records, more, key=_time_of))
        reported = self.reported
        if reported is not None and self._connection.state != "closed":
            records.append(WireHandlerState(self.key, reported))
        return records

    # -- data messages: the hot path ----------------------------------------------------------

    def data(
        self, sent: int, message: dict[str, Any], now: float, asked: float | None = None, waited: float | None = None
    ) -> None:
        """Feed a data message (``websocket.receive``, or ``websocket.send`` with ``sent`` 1);
        ``asked``: when the handler called ``receive()`` for it; ``waited``: seconds its ``send()``
        waited, when SLOW_SEND or more (the caller then also tells :meth:`send_waited`).

        The hot path: the middleware calls it directly for every message but a text of ASCII within
        ``max_message_size``, which its wrappers record themselves, exactly as this would (see
        :func:`~wsinspect.capture.middleware.observe`): a change here must be made there too.
        """
        limit = self._limit
        text = message.get("text")
        if isinstance(text, str):
            if text.isascii():
                size = len(text)
            elif len(text) <= UTF8_CHUNK:  # utf8_size, inlined for the short texts of every day
                size = len(text.encode("utf-8", "surrogatepass"))
            else:
                size = utf8_size(text)  # never encoded whole: a 16 MB text is not copied
            code = TEXT + sent
            content: str | bytes | None = text if size <= limit else cut_text(text, limit)
        else:
            data = message.get("bytes")
            if not isinstance(data, (bytes, bytearray, memoryview)):
                return  # neither text nor bytes: not a frame
            if type(data) is memoryview:
                size = data.nbytes
                if data.itemsize != 1:  # its slices count items; the limit counts bytes
                    data = data.cast("B") if data.c_contiguous else memoryview(data.tobytes())
            else:
                size = len(data)
            code = BINARY + sent
            content = None
            if self._binary_preview:
                # bytes are immutable, so an untruncated payload is kept without a copy.
                content = bytes(data[:limit]) if size > limit or type(data) is not bytes else data
        if sent:
            self._sent += 1
            self._bytes_sent += size
        else:
            self._received += 1
            self._bytes_received += size
        # _add, inlined: this runs for every message.
        index = self._recorded
        self._recorded = index + 1
        record = (self.key, index, now, code, content, size, size > limit, None, asked, waited)
        self._records.append(record)
        listener = self._listener
        if listener is not None and listener.live:
            listener.frame_recorded(record)

    def redacted_data(
        self, sent: int, message: dict[str, Any], now: float, asked: float | None = None, waited: float | None = None
    ) -> None:
        """:meth:`data` for a config with a ``redact`` hook: what the hook returns is recorded in
        the payload's place, with the payload's real size."""
        text = message.get("text")
        payload = text if isinstance(text, str) else message.get("bytes")
        if not isinstance(payload, (str, bytes, bytearray, memoryview)):
            return  # neither text nor bytes: not a frame
        if not isinstance(payload, (str, bytes)):
            payload = bytes(payload)  # the hook gets what it can keep: bytes, not a buffer that may change
        assert self._redact is not None
        try:
            kept = self._redact(payload, self._connection)
            if kept is not None and not isinstance(kept, (str, bytes)):
                raise TypeError(f"the redact hook returned {type(kept).__name__}, not str, bytes or None")
        except Exception:
            redact_failed()
            kept = None
        if kept is payload:
            self.data(sent, message, now, asked, waited)
            return
        limit = self._limit
        if isinstance(payload, str):
            size = len(payload) if payload.isascii() else utf8_size(payload)
            code = TEXT + sent
            if isinstance(kept, bytes):
                kept = kept[: limit + 4].decode("utf-8", "replace")  # all that cut_text can keep
            content: str | bytes | None = None if kept is None else cut_text(kept, limit)
        else:
            size = len(payload)
            code = BINARY + sent
            if isinstance(kept, str):
                kept = kept[:limit].encode("utf-8", "surrogatepass")
            content = None if kept is None or not self._binary_preview else kept[:limit]
        if sent:
            self._sent += 1
            self._bytes_sent += size
        else:
            self._received += 1
            self._bytes_received += size
        self._add(code, content, size, size > limit, None, now, asked, waited)

    # -- internals -------------------------------------------------------------------------

    def _accept(self, message: dict[str, Any], now: float) -> None:
        conn = self.connection
        if conn.state != "connecting":
            return
        conn.state = "open"
        conn.accepted_at = now
        subprotocol = message.get("subprotocol")
        conn.subprotocol = subprotocol if isinstance(subprotocol, str) else None
        self._changed()

    def _close(self, message: dict[str, Any], now: float) -> None:
        conn = self.connection
        code = as_int(message.get("code"), 1000)
        if conn.state == "closed":
            if self._client_left:  # sent after the app heard the client leave (a `finally: close()`)
                self._close_lost(code)
            return
        self._app_closed = True
        reason = as_text(message.get("reason"))
        conn.close_code = code
        conn.close_reason = reason
        conn.closed_by = conn.closed_by or "server"
        if conn.state == "connecting":
            # A close before accept refuses the upgrade: servers answer HTTP 403.
            conn.denial_status = 403
            conn.refused_by = conn.refused_by or _by_handler(conn)
            self._end(now, "server")
            return
        conn.state = "closing"
        self._close_frame(SENT, code, reason, now)

    def _disconnect(self, message: dict[str, Any], now: float, asked: float | None = None) -> None:
        self._client_left = True
        conn = self.connection
        if conn.state == "closed":
            return
        if asked is not None:  # the handler waited in receive() since then, and got the close
            conn.closed_while = HandlerState(state="receiving", since=asked)
        if conn.state == "closing":
            # The server finished the close handshake the app started: the app's close
            # code and reason stand.
            self._end(now, "server")
            return
        code = as_int(message.get("code"), 1005)
        if code == 1005 and "reason" not in message:
            # uvicorn reports a dropped connection as 1005 with no reason key, while a close
            # frame that carried no code always comes with one: the drop is a 1006.
            code = 1006
        reason = as_text(message.get("reason"))
        conn.close_code = code
        conn.close_reason = reason
        self._disconnect_code = code
        if conn.state == "open":
            self._close_frame(0, code, reason, now)
        # uvicorn's own close on shutdown reaches the app as the client's: the server chose it.
        self._end(now, "server" if server_closed(self._server, code) else "client")

    def _deny(self, message: dict[str, Any], now: float) -> None:
        conn = self.connection
        if conn.state != "connecting":
            return
        conn.denial_status = as_int(message.get("status"), 0) or None
        conn.refused_by = conn.refused_by or _by_handler(conn)
        self._app_responded = True
        conn.state = "closing"
        conn.closed_by = "server"
        self._changed()

    def _deny_body(self, message: dict[str, Any], now: float) -> None:
        if self.connection.denial_status is not None and not message.get("more_body", False):
            self._end(now, "server")  # the last part of the denial response

    def _close_frame(self, sent: int, code: int, reason: str, now: float) -> None:
        size = 2 + len(reason.encode("utf-8", "surrogatepass"))
        limit = self._limit
        truncated = size - 2 > limit  # a reason longer than any real close frame holds: bounded like payloads
        self._add(CLOSE + sent, cut_text(reason, limit) if truncated else reason, size, truncated, code, now)

    def _end(self, now: float, closed_by: ClosedBy | None) -> None:
        conn = self.connection
        if conn.state == "closed":
            return
        conn.state = "closed"
        conn.disconnected_at = now
        if conn.closed_by is None:
            conn.closed_by = closed_by
        conn.client_saw = self._client_saw()
        self._changed()

    def _close_lost(self, code: int) -> None:
        """A close of the app's never reached the client: it had gone (the first such close counts;
        none after a close of the app's that the server took, which the client may well have seen)."""
        if self._lost_close is not None or self._app_closed:
            return
        self._lost_close = code
        conn = self._connection
        if conn.state == "closed":  # else the end says it
            conn.client_saw = self._client_saw()
            self._changed()

    def _client_saw(self) -> str | None:
        conn = self._connection
        ending = Ending(
            accepted=conn.accepted_at is not None,
            app_closed=self._app_closed,
            app_responded=self._app_responded,
            failed=conn.error is not None and conn.error != "cancelled",
            cancelled=conn.error == "cancelled",
            returned=self._returned,
            client_left=self._client_left,
            lost_close=self._lost_close,
            disconnect_code=self._disconnect_code,
        )
        return client_saw(self._server, ending)

    def _add(
        self,
        code: int,
        content: str | bytes | None,
        size: int,
        truncated: bool,
        close_code: int | None,
        now: float,
        asked: float | None = None,
        waited: float | None = None,
    ) -> None:
        index = self._recorded
        self._recorded = index + 1
        record = (self.key, index, now, code, content, size, truncated, close_code, asked, waited)
        self._records.append(record)
        listener = self._listener
        if listener is not None and listener.live:
            listener.frame_recorded(record)

    def send_waited(self, waited: float) -> None:
        """A send waited ``waited`` seconds (SLOW_SEND or more: rare), after :meth:`data` recorded its
        frame: the connection's longest and total wait. Not in :meth:`data`: no work per frame."""
        conn = self._connection
        conn.send_waited_max = max(conn.send_waited_max, waited)
        conn.send_waited_total += waited
        self._changed()

    def _changed(self) -> None:
        if self._scope is not None:
            self._read_handler(self._scope)
        if self._listener is not None:
            self._listener.connection_changed(self.key, self.connection)

    def _read_handler(self, scope: Mapping[str, Any]) -> None:
        """Read the handler and its route from the scope; once found, or once closed, stop looking."""
        conn = self._connection
        found = read_handler(scope)
        conn.handler, conn.handler_location, conn.route, conn.path_params, conn.guards = found
        if found.handler is not None or found.route is not None or conn.state == "closed":
            self._scope = None  # found, or too late: the scope need not be kept alive


def _time_of(record: Any) -> float:
    kind = type(record)
    timestamp: float = (
        record.timestamp if kind is WireLog else record.block.timestamp if kind is WireLoopBlock else record[2]
    )
    return timestamp


def _by_handler(connection: Connection) -> str:
    """A refusal with no exception: the handler (or what the scope knows of it) closed it."""
    return f"handler {short_handler(connection.handler)}" if connection.handler else "the app"
