"""The lifecycle panel: the selected connection's handler, when it opened, its message rate, what
its handler has been doing for a while (and where), how it ended, its keepalive."""

from __future__ import annotations

import textwrap
from bisect import bisect_left
from collections import Counter
from collections.abc import Iterable
from datetime import datetime
from itertools import groupby
from operator import attrgetter
from time import monotonic, time
from typing import ClassVar, NamedTuple

from rich.style import Style
from rich.text import Text
from textual.widgets import Static

from ...formatting import format_duration, short_duration
from ...model import Connection, HandlerState
from ..core.describe import closed_how, closed_who, handler_doing, health
from ..core.interface import StoreView
from ..core.store import ConnectionEntry
from .payloads import Payloads

BARS = " ▁▂▃▄▅▆▇█"
# The rate, the handler's times and the log counts read every frame of the connection (up to
# --max-messages of them): while it changes, they are worked out again at most this often.
AGGREGATES_EVERY = 1.0  # seconds
MANY_CONNECTIONS = 64  # kept for this many connections at most
STACK_LINES = 4  # lines of a handler's stack in the panel (the detail pane of its connect row has it all)
# The keepalive's health: its mark and component class.
KEEPALIVE_MARKS = {
    "ok": ("● healthy", "healthy"),
    "late": ("▲ pong late", "late"),
    "timeout": ("✖ keepalive timeout", "timeout"),
}


class _Aggregates(NamedTuple):
    """What the panel says of all of a connection's frames, and for what it was worked out."""

    shown_for: tuple[object, ...]  # the panel's width, the connection's state: a change shows at once
    messages: int  # its count of messages then
    at: float  # monotonic
    rate: str
    took: str
    logs: str


class LifecyclePanel(Static):
    """When the selected connection opened, its message rate over time, and how it ended."""

    COMPONENT_CLASSES: ClassVar[set[str]] = {
        "lifecycle--healthy",
        "lifecycle--late",
        "lifecycle--timeout",
        "lifecycle--error",
        "lifecycle--muted",
    }

    DEFAULT_CSS = """
    LifecyclePanel > .lifecycle--healthy { color: $success; text-style: bold; }
    LifecyclePanel > .lifecycle--late { color: $warning; text-style: bold; }
    LifecyclePanel > .lifecycle--timeout { color: $error; text-style: bold; }
    LifecyclePanel > .lifecycle--error { color: $error; text-style: bold; }
    LifecyclePanel > .lifecycle--muted { text-style: dim; }
    """

    _shown: Text | None = None
    _height: int | None = None  # lines of what it shows, when none is wider than the panel

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        # By connection: a panel that follows the newest frame goes from one connection to another.
        self._aggregates: dict[str, _Aggregates] = {}

    def style_of(self, component: str) -> Style:
        """The theme's style for a kind of text: healthy, late, timeout, error, muted."""
        return self.get_component_rich_style(f"lifecycle--{component}", partial=True)

    def show(self, store: StoreView, connection_id: str | None, payloads: Payloads | None = None) -> None:
        entry = store.entries.get(connection_id) if connection_id else None
        if connection_id is None or entry is None:
            self._show(Text("No connection selected", style=self.style_of("muted")))
            return
        connection = entry.connection
        # A saved session is one moment: what was open then stays open at the export's time.
        end = connection.disconnected_at or store.as_of or time()
        lines = Text()
        lines.append(f"{connection.path}  ", style="bold")
        lines.append(f"{connection.client or ''}\n")
        handler = _handler_lines(connection, self.content_region.width)
        if handler:
            lines.append(f"{handler}\n")
        lines.append(f"opened  {_clock(connection.connected_at)}")
        if connection.accepted_at is not None:
            lines.append(f"  accepted +{short_duration(connection.accepted_at - connection.connected_at)}")
        if connection.subprotocol:
            lines.append(f"  subprotocol {connection.subprotocol}")
        lines.append("\n")
        aggregates = self._aggregates_of(store, connection, end)
        lines.append(f"rate    {aggregates.rate}\n")
        if took := aggregates.took:
            lines.append(f"took    {took}\n")
        if connection.send_waited_total:  # a client that read slowly, or not at all
            total, longest = short_duration(connection.send_waited_total), short_duration(connection.send_waited_max)
            lines.append(f"waited  {total} to send in all, longest {longest}\n", self.style_of("late"))
        if connection.state == "closed":
            lasted = format_duration(end - connection.connected_at)
            lines.append(f"closed  {_clock(end)} after {lasted}{closed_who(connection)}\n")
            lines.append(f"        {closed_how(connection)}")
            if connection.client_saw:  # what went over the wire differs from what the app did
                saw = _indented(f"client saw {connection.client_saw}", self.content_region.width)
                lines.append(f"\n{saw}", style=self.style_of("late"))
        else:
            at_export = " at export" if store.as_of is not None else ""
            lines.append(f"{connection.state}{at_export}, for {format_duration(end - connection.connected_at)}")
            if connection.handler_state is not None:
                lines.append("\n")
                lines.append_text(self._doing_lines(connection.handler_state, end))
        lines.append("\n")
        lines.append_text(self._keepalive_line(entry, end))
        pairing = payloads.pairing(connection_id) if payloads is not None else None
        if pairing is not None and (replies := pairing.summary_parts()):
            lines.append("\nreplies " + "\n        ".join(replies))
        missing = self._missing_line(entry)
        if missing:
            lines.append("\n")
            lines.append_text(missing)
        if aggregates.logs:
            lines.append(f"\nlogs    {aggregates.logs}")
        if connection.refused_by:
            lines.append(f"\nrefused by {connection.refused_by}", style=self.style_of("error"))
        if connection.error:
            lines.append(f"\nerror   {connection.error}", style=self.style_of("error"))
        self._show(lines)

    def _aggregates_of(self, store: StoreView, connection: Connection, end: float) -> _Aggregates:
        """The rate sparkline, the handler's times and the log counts: each reads every frame the
        connection has, so while it changes they are worked out at most once in AGGREGATES_EVERY
        (the panel is redrawn several times a second while frames flow)."""
        buckets = max(8, self.size.width - 10)
        shown_for = (buckets, connection.state, store.as_of)
        messages = connection.messages_sent + connection.messages_received
        now = monotonic()
        connection_id = connection.connection_id
        cached = self._aggregates.get(connection_id)
        if cached is not None and cached.shown_for == shown_for:
            changing = connection.state != "closed" or store.reading or store.writing or cached.messages != messages
            if not changing or now - cached.at < AGGREGATES_EVERY:
                return cached
        if len(self._aggregates) >= MANY_CONNECTIONS:
            self._aggregates.clear()
        levels = store.log_levels(connection_id)
        aggregates = self._aggregates[connection_id] = _Aggregates(
            shown_for,
            messages,
            now,
            _sparkline(store.frame_times(connection_id), connection.connected_at, end, buckets),
            _handler_times(store.handler_times(connection_id)),
            _log_counts(levels) if levels else "",
        )
        return aggregates

    def _show(self, text: Text) -> None:
        # It changes several times a second while frames flow: a layout of the screen only when
        # its height may change (lines added or removed, or a line too long for the width).
        if self._shown == text:
            return
        self._shown = text
        lines = text.plain.split("\n")
        height = len(lines) if max(map(len, lines)) <= self.content_region.width else None
        self.update(text, layout=height is None or height != self._height)
        self._height = height

    def _doing_lines(self, state: HandlerState, now: float) -> Text:
        """ "doing   working 3.1 s", then where: the app's own frames of its stack, innermost last
        (at most STACK_LINES), each run of the others as one "…" line."""
        component = "muted" if state.state == "receiving" else "late"
        text = Text.assemble("doing   ", (handler_doing(state, now), self.style_of(component)))
        if not state.stack:
            return text
        lines: list[str] = []
        for app, run in groupby(state.stack, key=attrgetter("app")):
            group = list(run)
            if app:
                lines += [f"        {entry.file}:{entry.line} in {entry.function}" for entry in group]
            else:
                lines.append(f"        … {len(group)} library frame{'s' if len(group) != 1 else ''}")
        shown = lines[-STACK_LINES:]
        for line in shown:
            text.append(f"\n{line}", self.style_of("muted") if line.lstrip().startswith("…") else "")
        return text

    def _keepalive_line(self, entry: ConnectionEntry, now: float) -> Text:
        connection = entry.connection
        state = health(connection, entry.unanswered_ping, now)
        if state == "unknown":
            return Text(
                "ping    not observable; run uvicorn with\n        --ws wsinspect.uvicorn:WebSocketProtocol",
                self.style_of("muted"),
            )
        if connection.last_rtt is not None:
            average = connection.avg_rtt or connection.last_rtt
            rtts = f"rtt {short_duration(connection.last_rtt)} (avg {short_duration(average)})"
        elif connection.state == "open":
            rtts = "no round trip yet"
        elif state == "ok":  # denied, or closed before a keepalive ping was answered: no health to speak of
            return Text("ping    no round trip measured", self.style_of("muted"))
        else:
            rtts = "no round trip measured"
        text, component = KEEPALIVE_MARKS[state]
        return Text.assemble(f"ping    {rtts}  ", (text, self.style_of(component)))

    def _missing_line(self, entry: ConnectionEntry) -> Text | None:
        """The frames this inspector does not hold, and why."""
        connection = entry.connection
        lost, not_kept = connection.messages_lost, connection.messages_not_kept
        if not lost and not not_kept:
            return None
        parts: list[tuple[str, Style]] = []
        if lost:
            parts.append((f"{lost:,} lost on the way (the app's queue overflowed)", self.style_of("late")))
        let_go = min(entry.evicted, not_kept)  # by this inspector's own bounds
        if let_go:
            parts.append((f"{let_go:,} let go (--max-frames, --max-messages)", self.style_of("muted")))
        if not_kept > let_go:
            before = f"{not_kept - let_go:,} not kept (before this inspector listened, or past the app's buffer)"
            parts.append((before, self.style_of("muted")))
        line = Text("missing ")
        for n, (text, style) in enumerate(parts):
            line.append(f"{', ' if n else ''}{text}", style)
        return line


def _handler_lines(connection: Connection, width: int) -> str:
    """The code that handled it, one line when the panel is wide enough:
    "handler chat.handlers.chat_room (chat/handlers.py:42) route /ws/chat/{room:str} guards requires_token";
    else its parts on lines of their own, under the first. A name too long for the panel loses its
    module's first parts rather than break mid-word: "handler …GraphQLController.websocket_endpoint"."""
    indent = len("handler ")
    parts = []
    if connection.handler:
        parts.append(f"handler {_shortened(connection.handler, width - indent, '.', '…')}")
        if connection.handler_location:
            parts.append(f"({_shortened(connection.handler_location, width - indent - 2, '/', '…/')})")
    if connection.route:
        parts.append(f"route {connection.route}")
    if connection.guards:
        parts.append(f"guards {', '.join(connection.guards)}")
    lines: list[str] = []
    for part in parts:
        if lines and len(lines[-1]) + 1 + len(part) <= width:
            lines[-1] += f" {part}"
        else:
            lines.append(f"{'        ' if lines else ''}{part}")
    return "\n".join(lines)


def _shortened(name: str, width: int, separator: str, ellipsis: str) -> str:
    """``name`` in ``width`` cells: whole, or its last parts (at ``separator``) after ``ellipsis``.
    The last part stays whole, even when it alone is wider."""
    if len(name) <= width:
        return name
    parts = name.split(separator)
    for first in range(1, len(parts)):
        shortened = ellipsis + separator.join(parts[first:])
        if len(shortened) <= width:
            return shortened
    return ellipsis + parts[-1]


def _indented(text: str, width: int) -> str:
    """``text`` on lines of the panel's width, each under the values' column (8 spaces in)."""
    return textwrap.fill(text, max(16, width), initial_indent=" " * 8, subsequent_indent=" " * 8)


def _handler_times(seconds: Iterable[float]) -> str:
    """How long the handler worked on each received message: "p50 0.3 ms · p95 12 ms over 40 messages"."""
    times = sorted(seconds)
    if not times:
        return ""
    p50, p95 = (times[min(len(times) - 1, int(len(times) * share))] for share in (0.5, 0.95))
    count = f"{len(times):,} message{'s' if len(times) != 1 else ''}"
    return f"p50 {short_duration(p50)} · p95 {short_duration(p95)} over {count}"


def _log_counts(names: Iterable[str]) -> str:
    """How many log lines, and of which levels (their names): "12 (9 info, 2 warning, 1 error)"."""
    levels = Counter(name.lower() for name in names)
    total = sum(levels.values())
    return f"{total:,} ({', '.join(f'{count:,} {level}' for level, count in levels.items())})"


def _clock(timestamp: float) -> str:
    return datetime.fromtimestamp(timestamp).strftime("%H:%M:%S.%f")[:-3]


def _sparkline(times: Iterable[float], start: float, end: float, buckets: int) -> str:
    """Frames per time slice of the connection's life (their times), as bars."""
    span = max(end - start, 1e-6)
    ordered = sorted(times)  # already in order, or nearly: sorting them costs one pass
    counts = []
    below = 0  # the frames before this slice's end (those before the start count in the first)
    for slot in range(1, buckets + 1):
        upto = len(ordered) if slot == buckets else bisect_left(ordered, start + span * slot / buckets)
        counts.append(upto - below)
        below = upto
    top = max(counts) or 1
    return "".join(BARS[round(count / top * (len(BARS) - 1))] for count in counts)
