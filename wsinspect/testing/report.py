"""What a failed test's output shows of its connections (sans-I/O): a report section of its own.

For each connection the test opened: its path and handler, how it ended or that it is still open,
what its handler was doing when the test failed or the connection closed, whichever came first
(waiting in ``receive()``, stuck in ``send()``, working, and where), and its last frames. The case
it is made for: a client that waits for a reply that never comes, until a timeout. Its test client
closes the connection as the exception unwinds, so for a closed connection the state is the one
the app side kept from before that close (``Connection.closed_while``).
"""

from __future__ import annotations

import shlex
from collections.abc import Sequence
from typing import Final

from ..formatting import ARROWS, counted, format_offset, preview, short_duration
from ..inspector.core.describe import describe_ending, where
from ..model import Connection, HandlerState, short_handler

__all__ = ("FRAMES_SHOWN", "SECTION", "failure_report", "handler_line", "open_command")

SECTION: Final = "wsinspect"  # the report section's title begins so
FRAMES_SHOWN: Final = 3
_WIDTH: Final = 100  # of a frame's preview
_DOING: Final = {"receiving": "waiting in receive()", "sending": "stuck in send()", "working": "working"}


def failure_report(connections: Sequence[Connection], now: float, kept: str | None) -> tuple[str, str] | None:
    """The section (title, text) for a failure at ``now`` (Unix seconds) of a test that opened
    ``connections``; ``kept``: the session file it is kept in. None when it opened none."""
    if not connections:
        return None
    lines: list[str] = []
    for number, connection in enumerate(sorted(connections, key=lambda c: c.connected_at), 1):
        lines.extend(_connection_lines(number, connection, now))
    if kept is not None:
        lines.append(f"session: {open_command(kept)}")
    return f"{SECTION}: {counted(len(connections), 'connection')}", "\n".join(lines)


def open_command(path: str) -> str:
    """The command that shows a kept file, ready to paste."""
    return f"wsinspect open {shlex.quote(path)}"


def handler_line(connection: Connection, now: float) -> str | None:
    """ "waiting in receive() for 2.0s when the connection closed", "working for 3.1s at app.py:33
    chat() when the test failed"; None when nothing is known. Read defensively: the handler's state
    is an extra of the app side's that may be missing or change shape."""
    closed = connection.state == "closed"
    state = getattr(connection, "closed_while" if closed else "handler_state", None)
    if not isinstance(state, HandlerState):
        return None
    until = (connection.disconnected_at or now) if closed else now
    doing = _DOING.get(state.state, state.state)
    place = where(state.stack or [])
    at = f" at {place}" if place else ""
    when = "the connection closed" if closed else "the test failed"
    return f"{doing} for {short_duration(until - state.since)}{at} when {when}"


def _connection_lines(number: int, connection: Connection, now: float) -> list[str]:
    handler = ""
    if connection.handler:
        location = f", {connection.handler_location}" if connection.handler_location else ""
        handler = f" (handler {short_handler(connection.handler)}{location})"
    app = f" [{connection.app}, pid {connection.pid}]" if connection.app and connection.pid else ""
    query = f"?{connection.query_string}" if connection.query_string else ""
    if connection.state == "closed":
        lasted = (connection.disconnected_at or now) - connection.connected_at
        ending = f"{describe_ending(connection)}, after {short_duration(lasted)}"
    else:
        ending = f"still open ({connection.state}), for {short_duration(now - connection.connected_at)}"
    lines = [f"c{number} {connection.path}{query}{handler}{app}: {ending}"]
    doing = handler_line(connection, now)
    if doing is not None:
        lines.append(f"   handler: {doing}")
    if connection.error and connection.error != "cancelled":
        place = where(connection.traceback)
        lines.append(f"   error: {connection.error}{f' at {place}' if place else ''}")
    frames = connection.messages
    if frames:
        shown = frames[-FRAMES_SHOWN:]
        total = len(frames) + connection.messages_dropped
        of = f"last {len(shown)} of {total:,} frames" if total > len(shown) else counted(len(shown), "frame")
        lines.append(f"   {of}:")
        for frame in shown:
            offset = format_offset(frame.timestamp - connection.connected_at)
            arrow = ARROWS.get(frame.direction, "?")
            lines.append(f"     {offset} {arrow} {frame.message_type} {preview(frame, _WIDTH)}")
    else:
        lines.append("   no frames")
    return lines
