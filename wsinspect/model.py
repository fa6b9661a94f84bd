"""The session model shared by the app side and the inspector: connections and their frames.

Words follow the public contract: ``sent`` is what the app sent to the client, ``received`` what
the app got from it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar, Final, Literal

import msgspec

Direction = Literal["sent", "received"]
MessageType = Literal["text", "binary", "ping", "pong", "close"]
State = Literal["connecting", "open", "closing", "closed"]
ClosedBy = Literal["server", "client"]

STATES: Final = ("connecting", "open", "closing", "closed")

# A send() that waited this long (seconds) or longer for the server to take the message (flow
# control: a client that reads slowly or not at all) is marked: its frame's ``send_waited``.
SLOW_SEND: Final = 0.1

REDACTED: Final = "[redacted]"  # the value recorded for a header (or query parameter) kept secret
# The close a server sends when its keepalive ping goes unanswered (uvicorn, websockets).
KEEPALIVE_TIMEOUT_CODE: Final = 1011
KEEPALIVE_TIMEOUT_REASON: Final = "keepalive ping timeout"

_CLOSE_NAMES: Final = {
    1000: "Normal Closure",
    1001: "Going Away",
    1002: "Protocol Error",
    1003: "Unsupported Data",
    1005: "No Status Received",
    1006: "Abnormal Closure",
    1007: "Invalid Payload Data",
    1008: "Policy Violation",
    1009: "Message Too Big",
    1010: "Mandatory Extension",
    1011: "Internal Error",
    1012: "Service Restart",
    1013: "Try Again Later",
    1014: "Bad Gateway",
    1015: "TLS Handshake",
}


def close_code_name(code: int | None) -> str:
    """The RFC 6455 / IANA name of a close code ("" for None, "Unknown" when unassigned)."""
    if code is None:
        return ""
    name = _CLOSE_NAMES.get(code)
    if name is not None:
        return name
    if 3000 <= code <= 3999:
        return "Registered"
    if 4000 <= code <= 4999:
        return "Application"
    return "Unknown"


def short_handler(handler: str) -> str:
    """A handler's short name: its function's ("chat_room" of "chat.handlers.chat_room"), with its
    class for an event method ("Shouting.on_receive": every class-based listener's is on_receive);
    a name that is no qualified name ("Litestar Channels: sport.results") whole."""
    if " " in handler:
        return handler
    parts = handler.split(".")
    event_method = len(parts) > 2 and parts[-1].startswith("on_") and parts[-2][:1].isupper()
    return ".".join(parts[-2:]) if event_method else parts[-1]


def describe_close(code: int | None, reason: str | None) -> str:
    """The close as the UI shows it: "4001 Application: bye", "1000 Normal Closure"; "" without a code."""
    if code is None:
        return ""
    text = f"{code} {close_code_name(code)}"
    return f"{text}: {reason}" if reason else text


class Frame(msgspec.Struct, kw_only=True, gc=False):
    """One entry of a connection's timeline.

    Not tracked by the garbage collector (``gc=False``): a frame holds no containers, so it is in
    no reference cycle, and an inspector holds up to a million of them; untracked, so are the
    ``(connection id, frame)`` rows, and each full collection has that much less to walk."""

    direction: Direction
    message_type: MessageType
    # str for text and close (the reason); bytes for binary, ping and pong; None when the
    # payload was not recorded. Typed Any because msgspec cannot decode a str | bytes union:
    # the session file stores bytes as base64 and `session.py` turns them back.
    content: Any
    timestamp: float
    size_bytes: int
    truncated: bool = False
    close_code: int | None = None
    # A received message: seconds the handler worked on it, until it next asked for a message or
    # a send of it completed. Unset (and left out of files) when not known, as for sent frames.
    handler_time: float | msgspec.UnsetType = msgspec.UNSET
    # A sent message: seconds the app's send() waited for the server to take it, when SLOW_SEND or
    # more (a client that does not read). Unset (and left out of files) otherwise.
    send_waited: float | msgspec.UnsetType = msgspec.UNSET


class TracebackEntry(msgspec.Struct, kw_only=True):
    """One frame of a traceback, innermost last."""

    file: str
    line: int
    function: str
    code: str = ""  # the line's source, stripped
    app: bool = False  # the app's own code: neither the standard library nor an installed package


HandlerDoing = Literal["receiving", "sending", "working"]


class HandlerState(msgspec.Struct, kw_only=True):
    """What an open connection's handler is doing: waiting in ``receive()`` for the client, in
    ``send()`` for the transport, or neither (working), since when (Unix seconds). ``stack``: where
    a handler working or sending has been for a while (its task's stack, innermost last), else None."""

    state: HandlerDoing
    since: float
    stack: list[TracebackEntry] | None = None


class LoopBlock(msgspec.Struct, kw_only=True):
    """The event loop held by one callback (or a run of them) for ``duration`` seconds from
    ``timestamp``; ``stack``: what the loop's thread ran meanwhile, innermost last (empty when no
    sample caught it)."""

    timestamp: float
    duration: float
    stack: list[TracebackEntry] = msgspec.field(default_factory=list)


class AppLoopBlock(LoopBlock, kw_only=True):
    """A loop block no connection's handler held: the session's top-level ``loop_blocks``."""

    app: str = ""  # the app process that reported it, as its connections name it
    pid: int | None = None


class LogLine(msgspec.Struct, kw_only=True):
    """A ``logging`` record emitted while a connection's handler ran: a ≡ row of that connection."""

    # Rows tell frames, events and log lines apart by this (a log line has no direction).
    message_type: ClassVar[str] = "log"

    timestamp: float
    level: str  # "INFO", "WARNING"...
    levelno: int
    logger: str
    message: str  # cut to max_message_size bytes of UTF-8, as payloads are
    size_bytes: int
    truncated: bool = False
    error: str | None = None  # the exception logged with it (``exc_info``), as "Type: message"
    traceback: list[TracebackEntry] = msgspec.field(default_factory=list)


class Connection(msgspec.Struct, kw_only=True):
    """One WebSocket connection (one ASGI ``websocket`` scope) and its newest frames."""

    connection_id: str
    path: str
    query_string: str = ""
    subprotocol: str | None = None
    state: State = "connecting"
    connected_at: float
    accepted_at: float | None = None
    disconnected_at: float | None = None
    close_code: int | None = None
    close_reason: str | None = None
    closed_by: ClosedBy | None = None
    messages_sent: int = 0
    messages_received: int = 0
    bytes_sent: int = 0
    bytes_received: int = 0
    messages_dropped: int = 0
    # Extra keys (readers ignore the ones they do not know).
    # Why frames are missing: ``messages_dropped`` is ``messages_not_kept + messages_lost`` (in
    # files written before these two existed both are 0, and the reason is unknown).
    # Not kept: let go by a buffer by design: frames from before the inspector was listening that
    # the app's replay buffer (``max_messages``) no longer held, and frames beyond the inspector's
    # own per-connection limit.
    messages_not_kept: int = 0
    # Lost in transit while the inspector was listening: the app's queue overflowed, and the replay
    # that followed could no longer fill the gap.
    messages_lost: int = 0
    client: str | None = None
    scheme: str = "ws"
    headers: list[tuple[str, str]] = msgspec.field(default_factory=list)
    requested_subprotocols: list[str] = msgspec.field(default_factory=list)
    # Status of the HTTP response that refused the upgrade (403 for a close before accept).
    denial_status: int | None = None
    # The exception that ended the handler, as "Type: message", or "cancelled", and its traceback.
    error: str | None = None
    traceback: list[TracebackEntry] = msgspec.field(default_factory=list)
    # What refused the upgrade, when something did before accept: "guard requires_token",
    # "dependency current_user", "parameters", "handler chat" (the error says how).
    refused_by: str | None = None
    # The app process that recorded it, and its host (set by the inspector from the producer's hello).
    pid: int | None = None
    app: str | None = None
    host: str | None = None
    # Round-trip times (seconds) of the server's keepalive pings: the newest and the mean. Only a
    # server that shows pings and pongs sets them (uvicorn with wsinspect.uvicorn's protocol class).
    last_rtt: float | None = None
    avg_rtt: float | None = None
    # Whether ping and pong frames can be seen at all: ASGI carries none, so they are recorded only
    # when the server hands them over (the ``wsinspect.control`` scope extension).
    ping_observable: bool = False
    # Of its sends that waited SLOW_SEND or more (see Frame.send_waited): the longest wait and
    # the sum of them (seconds), so a slow client stands out among many.
    send_waited_max: float = 0.0
    send_waited_total: float = 0.0
    # What the client received at the end, when it differs from what the app did or the app cannot
    # know it from ASGI: "HTTP 403 (a browser reports close 1006)" for a close before the accept,
    # the server's own close after a handler's error... (see capture/client_saw.py). None: what
    # the app did, or not known (a server whose ways were not measured).
    client_saw: str | None = None
    # It ended while the inspector was not listening or frames were lost in transit, and the app
    # no longer held it when the inspector caught up: how it closed is unknown.
    end_lost: bool = False
    # The code that handled it, read once from the ASGI scope (never per frame): the handler's
    # qualified name ("chat.handlers.chat_room") and where it is defined ("chat/handlers.py:42"),
    # the route's path template ("/ws/chat/{room:str}") with the values of its path parameters,
    # and the names of the route's guards (Litestar). None or empty when the scope does not say.
    handler: str | None = None
    handler_location: str | None = None
    route: str | None = None
    path_params: dict[str, str] = msgspec.field(default_factory=dict)
    guards: list[str] = msgspec.field(default_factory=list)
    # An open connection's handler: what it does now, once that has lasted a second (None: nothing
    # lasting, or the handler ended). In process (``Recorder.connections()``) what it does now.
    handler_state: HandlerState | None = None
    # A closed connection's handler: what it was doing as the connection ended, when that says why
    # (the client closed while it waited in receive(); it was cancelled, or a send failed, while it
    # worked or sent); None otherwise. What a hung test's report shows, as its client's close comes
    # while the test's exception unwinds (wsinspect.testing).
    closed_while: HandlerState | None = None
    # The times its handler held the event loop for ``loop_block_ms`` or more, oldest first.
    loop_blocks: list[LoopBlock] = msgspec.field(default_factory=list)
    # Log records its handler emitted (``capture_logs``), oldest first; ``logs_dropped`` older ones
    # that a buffer let go. Before ``messages``, so that a file's frames stay last.
    logs_dropped: int = 0
    logs: list[LogLine] = msgspec.field(default_factory=list)
    messages: list[Frame] = msgspec.field(default_factory=list)


Level = Literal["info", "warning", "error"]


@dataclass(frozen=True, slots=True)
class SystemEvent:
    """A ◉ row: a connection's lifecycle (connect, accept, close, error, a loop block) or the
    inspector's own news; ``stack``: what held the loop, for a loop block."""

    timestamp: float
    level: Level
    text: str
    stack: tuple[TracebackEntry, ...] | None = field(default=None, compare=False)  # (out of hash and ==)


# One row of the interleaved timeline: the connection (None for the inspector's own events) and
# the frame, the ◉ event or the log line.
Row = tuple[str | None, Frame | SystemEvent | LogLine]
