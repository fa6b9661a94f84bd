"""The inspector's widgets. The timeline renders only the lines on screen (Textual's Line API)."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from time import time

from rich.console import Group, RenderableType
from rich.json import JSON
from rich.segment import Segment
from rich.style import Style
from rich.text import Text
from textual.binding import Binding
from textual.cache import LRUCache
from textual.color import Color, ColorParseError
from textual.coordinate import Coordinate
from textual.geometry import Size
from textual.message import Message
from textual.reactive import reactive
from textual.scroll_view import ScrollView
from textual.strip import Strip
from textual.widgets import DataTable, Static

from .model import Connection, Frame, Row, SystemEvent
from .store import ConnectionEntry, SessionStore
from .timeline import (
    FilteredIndex,
    describe_close,
    format_duration,
    format_offset,
    format_size,
    health,
    hexdump,
    parse_json,
    preview,
)

ARROWS = {"sent": "→", "received": "←"}
HEXDUMP_LIMIT = 64 * 1024  # a dump of megabytes would freeze the screen for seconds
STATE_DOTS = {"connecting": "◌", "open": "●", "closing": "◐", "closed": "○"}


@dataclass(frozen=True, slots=True)
class Palette:
    """Rich styles taken from the active Textual theme."""

    sent: Style
    received: Style
    system: Style
    warning: Style
    error: Style
    control: Style
    muted: Style
    selected: Style

    @classmethod
    def from_variables(cls, variables: dict[str, str]) -> Palette:
        def color(name: str, fallback: str) -> str:
            # Some theme variables are not plain colours ("auto 60%"): fall back then.
            value = variables.get(name, fallback)
            try:
                return Color.parse(value).hex
            except ColorParseError:
                return fallback

        return cls(
            sent=Style(color=color("primary", "blue")),
            received=Style(color=color("success", "green")),
            system=Style(color=color("accent", "magenta")),
            warning=Style(color=color("warning", "yellow")),
            error=Style(color=color("error", "red")),
            control=Style(dim=True),
            muted=Style(dim=True),
            # Reverse video keeps every row's own colour readable when selected.
            selected=Style(reverse=True),
        )


def connection_state(connection: Connection) -> str:
    """open, closing, closed, denied or error: what the list's coloured dot says."""
    if connection.denial_status is not None:
        return "denied"
    # An exception caused by the client leaving (a failed send) is no fault of the server.
    if connection.error and connection.state == "closed" and connection.closed_by != "client":
        return "error"
    return connection.state


class TimelineView(ScrollView, can_focus=True):
    """Every frame and ◉ event that passes the filters, one line each, rendered on demand."""

    BINDINGS = [  # noqa: RUF012 - Textual's declaration style
        Binding("up,k", "move(-1)", "Up", show=False),
        Binding("down,j", "move(1)", "Down", show=False),
        Binding("pageup", "move(-20)", "Page up", show=False),
        Binding("pagedown", "move(20)", "Page down", show=False),
        Binding("home,g", "first", "First", show=False),
        Binding("end,G", "follow", "Follow", show=True),
    ]

    DEFAULT_CSS = """
    TimelineView { background: $surface; overflow-x: hidden; }
    """

    following: reactive[bool] = reactive(True)
    new_while_paused: reactive[int] = reactive(0)

    class RowSelected(Message):
        def __init__(self, row: Row | None) -> None:
            super().__init__()
            self.row = row

    def __init__(self, store: SessionStore, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.store = store
        self.index = FilteredIndex(None)
        self.cursor: int | None = None
        self._seen = 0  # rows of store.timeline already indexed
        self._trimmed = 0
        self._cache: LRUCache[tuple[int, int, bool], Strip] = LRUCache(1024)
        self._palette: Palette | None = None
        self.numbers: dict[str, int] = {}  # connection id → its number in the list, for the tag
        # Times count from here; None: from each row's own connection's start.
        self.origin: float | None = None

    # -- data ------------------------------------------------------------------------------

    def set_matcher(self, matcher: Callable[[Row], bool] | None) -> None:
        """Filters changed: re-index everything and keep the selected row if it still matches."""
        rows = self.store.timeline
        keep = self.index[self.cursor] if self.cursor is not None and self.cursor < len(self.index) else None
        self.index = FilteredIndex(matcher)
        self.index.rebuild(rows)
        self._seen = len(rows)
        self._cache.clear()
        self.cursor = None
        if keep is not None:
            self.cursor = self.index.index_of(keep)
        if self.cursor is None and len(self.index):
            self.cursor = len(self.index) - 1
        self._resize()
        if self.following or self.cursor is None:
            self._to_end()
        else:
            self.scroll_to(y=max(0, self.cursor - self._visible_height // 2), animate=False)
        self._announce()

    def sync(self) -> int:
        """Take in the rows the store gained since the last call; returns how many matched."""
        store = self.store
        if store.timeline_trimmed != self._trimmed:
            gone = store.timeline_trimmed - self._trimmed
            self._trimmed = store.timeline_trimmed
            before = len(self.index)
            self.index.discard_before(gone)
            self._seen = max(0, self._seen - gone)
            lost = before - len(self.index)
            if self.cursor is not None:
                self.cursor = self.cursor - lost if self.cursor >= lost else None
            self._cache.clear()
        rows = store.timeline
        if self._seen >= len(rows):
            if self._seen > len(rows):  # cleared
                self._seen = len(rows)
                self.index.rebuild(rows)
                self.cursor = None
                self._cache.clear()
                self._resize()
                self.refresh()
                self._announce()
            return 0
        before = len(self.index)
        self.index.extend(rows, self._seen, len(rows))
        self._seen = len(rows)
        added = len(self.index) - before
        if added:
            self._resize()
            if self.following:
                self._to_end()
            else:
                self.new_while_paused += added
        return added

    def selected_row(self) -> Row | None:
        if self.cursor is None or self.cursor >= len(self.index):
            return None
        return self.store.timeline[self.index[self.cursor]]

    # -- moving ----------------------------------------------------------------------------

    def action_move(self, delta: int) -> None:
        if not len(self.index):
            return
        current = self.cursor if self.cursor is not None else len(self.index) - 1
        self.cursor = max(0, min(len(self.index) - 1, current + delta))
        self.following = self.cursor == len(self.index) - 1 and self.following
        if delta < 0:
            self.following = False
        self.scroll_to_region_of_cursor()
        self._announce()
        self.refresh()

    def action_first(self) -> None:
        if len(self.index):
            self.following = False
            self.cursor = 0
            self.scroll_to(y=0, animate=False)
            self._announce()
            self.refresh()

    def action_follow(self) -> None:
        self.following = True
        self.new_while_paused = 0
        self._to_end()

    def scroll_to_region_of_cursor(self) -> None:
        if self.cursor is None:
            return
        top = int(self.scroll_offset.y)
        height = self._visible_height
        if self.cursor < top:
            self.scroll_to(y=self.cursor, animate=False)
        elif self.cursor >= top + height:
            self.scroll_to(y=self.cursor - height + 1, animate=False)

    def watch_scroll_y(self, old: float, new: float) -> None:
        super().watch_scroll_y(old, new)
        if new < old and self.following and not self.is_vertical_scroll_end:
            self.following = False  # scrolling up pauses the follow

    def watch_following(self, following: bool) -> None:
        if following:
            self.new_while_paused = 0

    def on_click(self, event: object) -> None:
        offset = getattr(event, "y", None)
        if isinstance(offset, int):
            target = int(self.scroll_offset.y) + offset
            if 0 <= target < len(self.index):
                self.cursor = target
                self.following = target == len(self.index) - 1 and self.following
                self._announce()
                self.refresh()

    def _to_end(self) -> None:
        if len(self.index):
            self.cursor = len(self.index) - 1
        self.scroll_end(animate=False, immediate=True, x_axis=False)
        self._announce()
        self.refresh()

    @property
    def _visible_height(self) -> int:
        # The region inside the scrollbars: size.height counts the row a scrollbar covers.
        return max(1, self.scrollable_content_region.height)

    def _resize(self) -> None:
        # As wide as the region inside the vertical scrollbar, so no horizontal one appears.
        self.virtual_size = Size(self.scrollable_content_region.width, len(self.index))

    def _announce(self) -> None:
        self.post_message(self.RowSelected(self.selected_row()))

    # -- rendering -------------------------------------------------------------------------

    def notify_style_update(self) -> None:
        super().notify_style_update()
        self._palette = None
        self._cache.clear()

    def on_resize(self) -> None:
        self._cache.clear()
        self._resize()

    @property
    def palette(self) -> Palette:
        if self._palette is None:
            self._palette = Palette.from_variables(self.app.get_css_variables())
        return self._palette

    def render_line(self, y: int) -> Strip:
        number = int(self.scroll_offset.y) + y
        width = self.scrollable_content_region.width
        if number >= len(self.index):
            return Strip.blank(width)
        selected = number == self.cursor
        key = (self.index[number], width, selected)
        strip = self._cache.get(key)
        if strip is None:
            strip = self._render_row(self.store.timeline[key[0]], width, selected)
            self._cache[key] = strip
        return strip

    def _render_row(self, row: Row, width: int, selected: bool) -> Strip:
        connection_id, item = row
        palette = self.palette
        entry = self.store.entries.get(connection_id) if connection_id else None
        start = self.origin if self.origin is not None else (entry.connection.connected_at if entry else item.timestamp)
        tag = f"c{self.numbers.get(connection_id, 0)}" if connection_id else "  "
        segments = [
            Segment(f"{format_offset(item.timestamp - start):>10} ", palette.muted),
            Segment(f"{tag:<4}", palette.muted),
        ]
        if isinstance(item, SystemEvent):
            style = {"info": palette.system, "warning": palette.warning, "error": palette.error}[item.level]
            rest = max(0, width - 17)
            segments += [Segment("◉ ", style), Segment(f"{'event':<7}", style), Segment(item.text[:rest], style)]
        else:
            style = self._frame_style(item)
            fixed = 10 + 1 + 4 + 2 + 7 + 11
            mark = " ✂ " if item.truncated else "   "
            control = item.message_type in ("ping", "pong")  # ◉ control rows, with their direction
            segments += [
                Segment("◉ " if control else f"{ARROWS[item.direction]} ", style),
                Segment(
                    f"{item.message_type} {ARROWS[item.direction]} " if control else f"{item.message_type:<7}", style
                ),
                Segment(f"{format_size(item.size_bytes):>8}{mark}", palette.muted),
                Segment(preview(item, max(1, width - fixed)), style),
            ]
        strip = Strip(segments).adjust_cell_length(width)
        if selected:
            strip = strip.apply_style(palette.selected)
        return strip

    def _frame_style(self, frame: Frame) -> Style:
        palette = self.palette
        if frame.message_type in ("ping", "pong"):
            return palette.control
        if frame.message_type == "close":
            return palette.warning
        return palette.sent if frame.direction == "sent" else palette.received


class ConnectionTable(DataTable[Text]):
    """One row per connection: state, path, duration, counts, close, drops, producer."""

    COLUMNS = ("#", "path", "state", "→ sent", "← received", "rtt", "close", "dropped")

    def __init__(self, store: SessionStore, *, id: str | None = None) -> None:
        super().__init__(id=id, cursor_type="row", zebra_stripes=False)
        self.store = store
        self.order: list[str] = []

    def on_mount(self) -> None:
        for column in self.COLUMNS:
            self.add_column(column, key=column)

    def sync(self, dirty: set[str] | None = None) -> None:
        """Add new connections, refresh the changed ones and the durations of the open ones."""
        palette = Palette.from_variables(self.app.get_css_variables())
        several = len({entry.connection.pid for entry in self.store.entries.values()}) > 1
        for connection_id, entry in self.store.entries.items():
            connection = entry.connection
            if connection_id not in self._row_keys:
                self.order.append(connection_id)
                self.add_row(*self._cells(entry, palette, several), key=connection_id)
            elif dirty is None or connection_id in dirty or connection.state != "closed":
                for column, cell in zip(self.COLUMNS, self._cells(entry, palette, several), strict=True):
                    self.update_cell(connection_id, column, cell, update_width=True)
        for connection_id in [key for key in self.order if key not in self.store.entries]:
            self.order.remove(connection_id)
            self.remove_row(connection_id)

    @property
    def _row_keys(self) -> set[str]:
        return {str(key.value) for key in self.rows}

    def selected_id(self) -> str | None:
        if not self.order or self.cursor_row >= len(self.order):
            return None
        return str(self.coordinate_to_cell_key(Coordinate(self.cursor_row, 0)).row_key.value)

    def _cells(self, entry: ConnectionEntry, palette: Palette, several: bool) -> list[Text]:
        connection = entry.connection
        state = connection_state(connection)
        dot_style = {
            "open": palette.received,
            "connecting": palette.muted,
            "closing": palette.warning,
            "closed": palette.muted,
            "denied": palette.error,
            "error": palette.error,
        }[state]
        end = connection.disconnected_at or time()
        duration = format_duration(max(0.0, end - connection.connected_at))
        number = self.order.index(connection.connection_id) + 1
        query = f"?{connection.query_string}" if connection.query_string else ""
        if connection.denial_status is not None:
            close = Text(f"HTTP {connection.denial_status}", palette.error)
        else:
            close = Text(_clip(describe_close(connection.close_code, connection.close_reason) or "—", 22))
        return [
            Text.assemble((STATE_DOTS.get(connection.state, "●"), dot_style), f" c{number}"),
            # With several app processes feeding the inspector, which one this came from.
            Text.assemble(
                f"{connection.path}{query}" or "(unknown)",
                (f"  {connection.app}:{connection.pid}" if several and connection.pid else "", palette.muted),
            ),
            Text(f"{state.capitalize()} ({duration})", dot_style),
            Text(f"{connection.messages_sent} · {format_size(connection.bytes_sent)}", palette.sent),
            Text(f"{connection.messages_received} · {format_size(connection.bytes_received)}", palette.received),
            _rtt_cell(entry, palette),
            close,
            Text(str(connection.messages_dropped) if connection.messages_dropped else "", palette.warning),
        ]


class LifecyclePanel(Static):
    """When the selected connection opened, its message rate over time, and how it ended."""

    def show(self, store: SessionStore, connection_id: str | None) -> None:
        entry = store.entries.get(connection_id) if connection_id else None
        if entry is None:
            self.update(Text("No connection selected", style="dim"))
            return
        connection = entry.connection
        end = connection.disconnected_at or time()
        lines = Text()
        lines.append(f"{connection.path}  ", style="bold")
        lines.append(f"{connection.client or ''}\n")
        lines.append(f"opened  {_clock(connection.connected_at)}")
        if connection.accepted_at is not None:
            lines.append(f"  accepted +{_short(connection.accepted_at - connection.connected_at)}")
        if connection.subprotocol:
            lines.append(f"  subprotocol {connection.subprotocol}")
        lines.append("\n")
        buckets = max(8, self.size.width - 10)
        lines.append(f"rate    {_sparkline(entry.frames, connection.connected_at, end, buckets)}\n")
        if connection.state == "closed":
            how = describe_close(connection.close_code, connection.close_reason) or "no close frame"
            if connection.denial_status is not None:
                how = f"upgrade denied with HTTP {connection.denial_status}"
            who = f" by {connection.closed_by}" if connection.closed_by else ""
            lines.append(f"closed  {_clock(end)} after {format_duration(end - connection.connected_at)}{who}\n")
            lines.append(f"        {how}")
        else:
            lines.append(f"{connection.state} for {format_duration(end - connection.connected_at)}")
        lines.append("\n")
        lines.append_text(_keepalive_line(entry))
        if connection.error:
            lines.append(f"\nerror   {connection.error}", style="bold red")
        self.update(lines)


class DetailPane(Static):
    """The selected frame in full: text, JSON (pretty or raw), a hex dump, or the close."""

    raw: reactive[bool] = reactive(False)

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.row: Row | None = None
        self.connection: Connection | None = None
        self.origin: float | None = None

    def show(self, row: Row | None, connection: Connection | None, origin: float | None = None) -> None:
        """``origin``: where the timeline counts its times from (None: the connection's start)."""
        self.row = row
        self.connection = connection
        self.origin = origin
        self.update(self._render_detail())

    def watch_raw(self) -> None:
        self.update(self._render_detail())

    def _render_detail(self) -> RenderableType:
        if self.row is None:
            return Text("Select a frame to see it in full", style="dim")
        item = self.row[1]
        start = self.origin or (self.connection.connected_at if self.connection else item.timestamp)
        if isinstance(item, SystemEvent):
            return Text(f"◉ {format_offset(item.timestamp - start)}  {item.text}")
        head = Text()
        head.append(f"{ARROWS[item.direction]} {item.direction} {item.message_type}", style="bold")
        head.append(f"  at {format_offset(item.timestamp - start)}  {format_size(item.size_bytes)}")
        if item.truncated:
            head.append(f"  truncated: {_kept(item)} of {item.size_bytes} bytes kept", style="bold yellow")
        body: RenderableType
        if item.message_type == "close":
            body = Text(describe_close(item.close_code, item.content) or "close without a code")
        elif item.content is None:
            body = Text("payload not recorded (show_binary_preview is off in the app)", style="dim")
        elif isinstance(item.content, bytes):
            shown = item.content[:HEXDUMP_LIMIT]
            lines = hexdump(shown) or ["(empty)"]
            if len(item.content) > HEXDUMP_LIMIT:
                lines.append(f"… the first {HEXDUMP_LIMIT:,} of {len(item.content):,} kept bytes are shown")
            body = Text("\n".join(lines))
        elif item.content == "":
            body = Text('"" (an empty text frame)', style="dim")
        else:
            parsed = None if self.raw or item.truncated else parse_json(item.content)
            body = JSON(json.dumps(parsed), indent=2) if parsed is not None else Text(item.content)
        return Group(head, Text(""), body)


def _keepalive_line(entry: ConnectionEntry) -> Text:
    connection = entry.connection
    state = health(connection, entry.unanswered_ping, time())
    if state == "unknown":
        return Text("ping    not observable; run uvicorn with\n        --ws wsinspect.uvicorn:WebSocketProtocol", "dim")
    if connection.last_rtt is None:
        rtts = "no round trip yet"
    else:
        rtts = f"rtt {_short(connection.last_rtt)} (avg {_short(connection.avg_rtt or connection.last_rtt)})"
    mark = {"ok": ("● healthy", "green"), "late": ("▲ pong late", "yellow"), "timeout": ("✖ keepalive timeout", "red")}
    text, style = mark[state]
    return Text.assemble(f"ping    {rtts}  ", (text, f"bold {style}"))


def _rtt_cell(entry: ConnectionEntry, palette: Palette) -> Text:
    connection = entry.connection
    state = health(connection, entry.unanswered_ping, time())
    if state == "timeout":
        return Text("✖ timeout", palette.error)
    if state == "unknown":
        return Text("n/a", palette.muted)
    rtt = _short(connection.last_rtt) if connection.last_rtt is not None else "—"
    return Text(f"▲ late ({rtt})", palette.warning) if state == "late" else Text(rtt)


def _short(seconds: float) -> str:
    if seconds < 0.01:
        return f"{seconds * 1000:.1f} ms"
    return f"{seconds * 1000:.0f} ms" if seconds < 1 else format_duration(seconds)


def _clip(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


def _kept(frame: Frame) -> int:
    content = frame.content
    if isinstance(content, str):
        return len(content.encode())
    return len(content) if isinstance(content, bytes) else 0


def _clock(timestamp: float) -> str:
    from datetime import datetime

    return datetime.fromtimestamp(timestamp).strftime("%H:%M:%S.%f")[:-3]


BARS = " ▁▂▃▄▅▆▇█"


def _sparkline(frames: object, start: float, end: float, buckets: int) -> str:
    """Frames per time slice of the connection's life, as bars."""
    span = max(end - start, 1e-6)
    counts = [0] * buckets
    for frame in frames:  # type: ignore[attr-defined]
        slot = int((frame.timestamp - start) / span * buckets)
        counts[min(max(slot, 0), buckets - 1)] += 1
    top = max(counts) or 1
    return "".join(BARS[round(count / top * (len(BARS) - 1))] for count in counts)
