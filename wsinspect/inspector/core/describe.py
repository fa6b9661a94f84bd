"""What the screen says of connections and producers, in words: how a connection ended, how its
keepalive is doing, a log line in one line, the event loop's lag and its blocks, what a handler is
doing (sans-I/O, no Textual)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Final, Literal

from ...formatting import format_duration, short_duration
from ...model import (
    KEEPALIVE_TIMEOUT_CODE,
    KEEPALIVE_TIMEOUT_REASON,
    Connection,
    HandlerState,
    Level,
    LogLine,
    LoopBlock,
    SystemEvent,
    TracebackEntry,
    describe_close,
)

__all__ = (
    "BLOCK_ERROR",
    "LAG_SHOWN_FOR",
    "LATE_AFTER",
    "Health",
    "closed_how",
    "closed_who",
    "culprit",
    "describe_ending",
    "handler_doing",
    "health",
    "log_text",
    "loop_block_event",
    "loop_block_text",
    "loop_lag",
    "where",
)


def log_text(line: LogLine) -> str:
    """A log line as one line of text: "chat.rooms: user joined" (" (ValueError: bad)" after it
    when logged with an exception)."""
    error = f" ({line.error})" if line.error else ""
    return f"{line.logger}: {line.message}{error}"


def describe_ending(connection: Connection) -> str:
    """How a closed connection ended: "closed by client: 1001 Going Away", "upgrade denied: HTTP 403"."""
    if connection.denial_status is not None or connection.end_lost:
        return closed_how(connection)
    return f"closed{closed_who(connection)}: {closed_how(connection)}"


def closed_how(connection: Connection) -> str:
    """The close itself: "1001 Going Away", "upgrade denied: HTTP 403", "no close frame"."""
    if connection.denial_status is not None:
        by = f" by {connection.refused_by}" if connection.refused_by and not connection.error else ""
        return f"upgrade denied{by}: HTTP {connection.denial_status}"
    if connection.end_lost:
        return "ended while frames were lost (how it closed is unknown)"
    return describe_close(connection.close_code, connection.close_reason) or "no close frame"


def closed_who(connection: Connection) -> str:
    return f" by {connection.closed_by}" if connection.closed_by else ""


# -- keepalive health, from the ping bookkeeping above ----------------------------------------

Health = Literal["ok", "late", "timeout", "unknown"]
LATE_AFTER = 1.0  # seconds a ping may wait for its pong before it counts as late (at least)


def health(connection: Connection, unanswered_ping: float | None, now: float) -> Health:
    """How the keepalive is doing: a pong is late, the keepalive timed out, or all is well.

    ``unanswered_ping`` is when the server's oldest ping still waiting for a pong went out.
    ``unknown`` when ping/pong cannot be seen (the server runs without wsinspect's protocol).
    """
    if connection.close_code == KEEPALIVE_TIMEOUT_CODE and connection.close_reason == KEEPALIVE_TIMEOUT_REASON:
        return "timeout"
    if not connection.ping_observable:
        return "unknown"
    if connection.state != "open" or unanswered_ping is None:
        return "ok"
    patience = max(LATE_AFTER, 4 * (connection.avg_rtt or 0.0))
    return "late" if now - unanswered_ping > patience else "ok"


# A producer's loop lag is shown while its reports are this recent (seconds): it reports once a
# second while connections are open, and not at all while none is. The worst lag shown is the worst
# of these seconds, so that a loop blocked now and then stays in sight.
LAG_SHOWN_FOR: Final = 5.0


def loop_lag(
    loop_lags: Mapping[int, Sequence[tuple[float, float, float]]], producers: Iterable[int], now: float
) -> tuple[float, float] | None:
    """The loop lag of the connected producers (their keys) that reported lately (``loop_lags``:
    each producer's newest reports, see ``Store.loop_lags``): the worst lag of
    their last :data:`LAG_SHOWN_FOR` seconds and the highest of their newest means (seconds);
    None when none reported."""
    recent = [
        [report for report in reports if now - report[2] <= LAG_SHOWN_FOR]
        for key in producers
        if (reports := loop_lags.get(key))
    ]
    recent = [reports for reports in recent if reports]
    if not recent:
        return None
    return max(report[0] for reports in recent for report in reports), max(reports[-1][1] for reports in recent)


# -- what a handler is doing, who blocked the loop ---------------------------------------------

# The words for a handler's state: it waits for the client in receive(), for the transport in send().
DOING: Final = {"receiving": "waiting", "sending": "sending", "working": "working"}
BLOCK_ERROR: Final = 0.1  # a loop block this long (seconds) or more is an error, shorter a warning


def handler_doing(state: HandlerState, now: float) -> str:
    """ "waiting 12 s", "working 3.1 s", "sending 2.0 s", "waiting 2m 05s": for how long, by ``now``."""
    seconds = max(0.0, now - state.since)
    lasted = f"{seconds:.1f} s" if seconds < 10 else f"{seconds:.0f} s" if seconds < 60 else format_duration(seconds)
    return f"{DOING.get(state.state, state.state)} {lasted}"


def culprit(stack: Sequence[TracebackEntry]) -> TracebackEntry | None:
    """The frame to name for a stack: the innermost of the app's own, else the innermost."""
    return next((entry for entry in reversed(stack) if entry.app), stack[-1] if stack else None)


def where(stack: Sequence[TracebackEntry]) -> str:
    """ "app.py:33 chat()": the culprit's place and function (its short name); a library's file by
    its last two parts ("asyncio/events.py"); "" for no stack."""
    entry = culprit(stack)
    if entry is None:
        return ""
    file = entry.file if entry.app else "/".join(entry.file.replace("\\", "/").split("/")[-2:])
    return f"{file}:{entry.line} {entry.function.rsplit('.', 1)[-1]}()"


def loop_block_text(block: LoopBlock) -> str:
    """ "loop blocked 420 ms in app.py:33 chat()", or "… (no stack caught)" when no sample was."""
    place = where(block.stack)
    return f"loop blocked {short_duration(block.duration)} {f'in {place}' if place else '(no stack caught)'}"


def loop_block_event(block: LoopBlock, prefix: str = "") -> SystemEvent:
    """The ◉ row of a loop block: red from BLOCK_ERROR; ``prefix`` names the app for one no handler held."""
    level: Level = "error" if block.duration >= BLOCK_ERROR else "warning"
    return SystemEvent(block.timestamp, level, f"{prefix}{loop_block_text(block)}", tuple(block.stack))
