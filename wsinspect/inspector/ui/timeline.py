"""The timeline: every frame, ◉ event and ≡ log line that passes the filters, one line each,
rendered on demand."""

from __future__ import annotations

import logging
from typing import ClassVar, Final

from msgspec import UNSET
from rich.segment import Segment
from rich.style import Style
from textual import events
from textual.binding import Binding, BindingType
from textual.cache import LRUCache
from textual.geometry import Region, Size
from textual.message import Message
from textual.reactive import reactive
from textual.scroll_view import ScrollView
from textual.strip import Strip
from textual.timer import Timer

from ...formatting import ARROWS, format_offset, format_size, preview, short_duration
from ...model import Frame, LogLine, Row, SystemEvent
from ..core.describe import log_text
from ..core.filters import FilteredIndex, Selection, TextSearch, both_flags
from ..core.interface import StoreView
from .payloads import Payloads, latency_of

PONG_LOOKBACK = 64  # rows before a pong searched for its ping
# A text filter over many rows answers for the newest ones at once and searches the older ones
# this many at a time, every SEARCH_EVERY seconds, while the screen says how far it got.
SEARCH_ROWS = 131_072
SEARCH_EVERY = 0.03
FIND_ROWS = 65_536  # rows read at a time by n / N

# The moving keys share a row of the help (and a group in Textual's keys panel).
MOVE = Binding.Group("Move in the timeline (moving up pauses the follow)")
PAGE = Binding.Group("Move by a page")


class TimelineView(ScrollView, can_focus=True):
    """Every frame and ◉ event that passes the filters, one line each, rendered on demand."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding(
            "up,k",
            "move(-1)",
            "Previous row",
            show=False,
            id="timeline.up",
            tooltip="Move up in the timeline (moving up pauses the follow)",
            group=MOVE,
        ),
        Binding(
            "down,j",
            "move(1)",
            "Next row",
            show=False,
            id="timeline.down",
            tooltip="Move down in the timeline",
            group=MOVE,
        ),
        Binding(
            "pageup", "move(-20)", "Page up", show=False, id="timeline.page_up", tooltip="Move up by a page", group=PAGE
        ),
        Binding(
            "pagedown",
            "move(20)",
            "Page down",
            show=False,
            id="timeline.page_down",
            tooltip="Move down by a page",
            group=PAGE,
        ),
        Binding("home,g", "first", "First row", show=False, id="timeline.first", tooltip="The first frame"),
        Binding(
            "end,G", "follow", "Follow", show=True, id="timeline.follow", tooltip="The newest frame, and follow again"
        ),
        # A saved session has nothing to follow: the same keys go to its last row.
        Binding("end,G", "last", "Last row", show=True, id="timeline.last", tooltip="The last row (a saved session)"),
    ]

    COMPONENT_CLASSES: ClassVar[set[str]] = {
        "timeline--sent",
        "timeline--received",
        "timeline--system",
        "timeline--warning",
        "timeline--error",
        "timeline--control",
        "timeline--log",
        "timeline--muted",
        "timeline--cursor",
        "timeline--match",
    }

    DEFAULT_CSS = """
    TimelineView { background: $surface; overflow-x: hidden; }
    TimelineView > .timeline--sent { color: $primary; }
    TimelineView > .timeline--received { color: $success; }
    TimelineView > .timeline--system { color: $accent; }
    TimelineView > .timeline--warning { color: $warning; }
    TimelineView > .timeline--error { color: $error; }
    TimelineView > .timeline--control { text-style: dim; }
    TimelineView > .timeline--log { color: $secondary; }
    TimelineView > .timeline--muted { text-style: dim; }
    /* Reverse video keeps every row's own colour readable when selected. */
    TimelineView > .timeline--cursor { text-style: reverse; }
    TimelineView > .timeline--match { background: $warning 50%; text-style: bold; }
    """

    # The selected row's number in the index; None when nothing is shown.
    cursor: reactive[int | None] = reactive[int | None](None, init=False)
    following: reactive[bool] = reactive(True)
    new_while_paused: reactive[int] = reactive(0)

    class RowSelected(Message):
        def __init__(self, row: Row | None, live: bool = False) -> None:
            super().__init__()
            self.row = row
            self.live = live  # the follow moved the cursor to a new frame (not the user)

    def __init__(self, store: StoreView, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.store = store
        self.index = FilteredIndex(None)
        self._seen = 0  # rows of store.rows already indexed
        self._syncing = False  # sync() is moving the cursor (following new frames)
        self._cache: LRUCache[tuple[int, int, bool, int], Strip] = LRUCache(1024)
        # Times count from here; None: from each row's own connection's start.
        self.origin: float | None = None
        self.empty_text = ""  # what an empty timeline says instead (why it is empty, what to do)
        self._searching: Timer | None = None  # the search of the older rows, while it runs
        self._search_rows = SEARCH_ROWS  # rows the search takes at a time
        self.highlight: TextSearch | None = None  # what n / N find, marked in the rows
        self.payloads: Payloads | None = None  # decodes what the rows show (the app's)
        self.live = True  # End follows new frames (live) or goes to the last row (a file)
        self._painting: tuple[int, int] | None = None  # the top row and the width, during a paint
        self._styles: dict[str, Style] = {}  # style_of's, until the styles change

    # -- data ------------------------------------------------------------------------------

    def set_selection(self, selection: Selection | None) -> None:
        """Filters changed: re-index everything and keep the selected row if it still matches."""
        store = self.store
        keep = self.index[self.cursor] if self.cursor is not None and self.cursor < len(self.index) else None
        self.index = FilteredIndex(selection)
        # A text search of many rows: the newest first (what a following screen shows), the rest
        # in the background (see _search_older).
        search = selection.search if selection is not None else None
        # A field filter decodes every frame: it takes far fewer rows at a time than a text search.
        self._search_rows = min(SEARCH_ROWS, store.search_step, search.rows_per_step if search else SEARCH_ROWS)
        older = len(store.rows) - self._search_rows if search is not None else 0
        self.index.rebuild(store, max(0, older))
        if self._searching is not None:
            self._searching.stop()
            self._searching = None
        if older > 0:
            self._searching = self.set_interval(SEARCH_EVERY, self._search_older)
        self._seen = len(store.rows)
        self._cache.clear()
        cursor = self.index.index_of(keep) if keep is not None else None
        if cursor is None and len(self.index):
            cursor = len(self.index) - 1
        self._resize()
        if self.following or cursor is None:
            self._to_end()
        else:
            # Announced even at the same number: another row may be there now.
            self._select(cursor)
            self.scroll_to(y=max(0, cursor - self._visible_height // 2), animate=False)

    def on_mount(self) -> None:
        self.store.row_listeners.append(self._rows_gone)

    def on_unmount(self) -> None:
        self.store.row_listeners.remove(self._rows_gone)

    def _rows_gone(self, count: int) -> None:
        """The store let its oldest ``count`` rows go (its retention bound, or a clear), just now:
        every position held here moves down with them before anything draws or reads a row."""
        before = len(self.index)
        self.index.discard_before(count)
        self._seen = max(0, self._seen - count)
        self._cache.clear()  # keyed by position
        lost = before - len(self.index)
        cursor = self.cursor
        self._resize()
        if cursor is not None and cursor >= lost:
            self.set_reactive(TimelineView.cursor, cursor - lost)  # the same row, under a smaller number
        elif cursor is not None:
            self._select(0 if len(self.index) else None)  # it went: the oldest row left instead
        if self.following:
            self.scroll_end(animate=False, immediate=True, x_axis=False)
        elif lost:  # the rows on screen stay there
            self.scroll_to(y=max(0, int(self.scroll_offset.y) - lost), animate=False, immediate=True)
        # "+N new" while paused: only rows that are still there to see.
        self.new_while_paused = max(0, min(self.new_while_paused, len(self.index) - 1 - (self.cursor or 0)))
        self.refresh()

    def sync(self) -> int:
        """Take in the rows the store gained since the last call; returns how many matched."""
        store = self.store
        rows = store.rows
        if self._seen >= len(rows):
            return 0
        before = len(self.index)
        self.index.extend(store, self._seen, len(rows))
        self._seen = len(rows)
        added = len(self.index) - before
        if added:
            self._resize()
            if self.following:
                self._syncing = True
                try:
                    self._to_end()
                finally:
                    self._syncing = False
            else:
                self.new_while_paused += added
        return added

    @property
    def rows_indexed(self) -> int:
        """How many of the store's rows the index has taken in (the rest come with the next sync)."""
        return self._seen

    @property
    def search_progress(self) -> float | None:
        """How much of the rows a text filter has searched (0 to 1); None when it is done."""
        untested = self.index.untested
        return None if not untested else 1 - untested / max(1, len(self.store.rows))

    def _search_older(self) -> None:
        """Search the next older rows, keeping the rows on screen where they are."""
        index = self.index
        untested = index.untested
        added = index.extend_back(self.store, untested - self._search_rows)
        if not index.untested and self._searching is not None:
            self._searching.stop()
            self._searching = None
        if not added:
            return
        if self.cursor is not None:  # the same row, under a higher number
            self.set_reactive(TimelineView.cursor, self.cursor + added)
        self._resize()
        if self.following:
            self.scroll_end(animate=False, immediate=True, x_axis=False)
        else:
            self.scroll_to(y=self.scroll_offset.y + added, animate=False, immediate=True)
        self.refresh()

    def select_frame(self, frame: Frame) -> bool:
        """Select the row of ``frame`` when the filters show it (searched near the selected row first)."""
        rows = self.store.rows
        here = self.index[self.cursor] if self.cursor is not None else len(rows) - 1
        # Outward from the selected row: a request and its reply are seldom far apart.
        for distance in range(len(rows)):
            for position in (here - distance, here + distance):
                if 0 <= position < len(rows) and rows[position][1] is frame:
                    number = self.index.index_of(position)
                    if number is None or self.index[number] != position:
                        return False  # filtered out
                    self.following = False
                    self._select(number)
                    self.scroll_to(y=max(0, number - self._visible_height // 2), animate=False)
                    return True
            if here - distance < 0 and here + distance >= len(rows):
                break
        return False

    def set_highlight(self, search: TextSearch | None) -> None:
        self.highlight = search
        self._cache.clear()
        self.refresh()

    def find(self, forward: bool = True) -> bool | None:
        """Select the next (or previous) row shown that ``highlight`` matches, from the selected
        one, wrapping around once. True when found, None when it wrapped to find it, False if none."""
        search = self.highlight
        if search is None or not len(self.index):
            return False
        rows = len(self.store.rows)
        here = self.index[self.cursor] if self.cursor is not None else (-1 if forward else rows)
        # From the selected row to the end (or the start), then the rest: around once.
        spans = [(here + 1, rows), (0, here + 1)] if forward else [(0, here), (here, rows)]
        for wrapped, (start, stop) in enumerate(spans):
            position = self._find_between(search, start, stop, forward)
            if position is not None:
                number = self.index.index_of(position)
                assert number is not None
                self.following = False
                self._select(number)
                self.scroll_to(y=max(0, number - self._visible_height // 2), animate=False)
                return True if not wrapped else None
        return False

    def _find_between(self, search: TextSearch, start: int, stop: int, forward: bool) -> int | None:
        """The first (or last) row in ``start:stop`` that is shown and matches."""
        steps = range(start, stop, FIND_ROWS) if forward else reversed(range(start, stop, FIND_ROWS))
        for low in steps:
            high = min(low + FIND_ROWS, stop)
            both = both_flags(search.flags(self.store, low, high), self.index.flags_between(low, high))
            at = both.find(1) if forward else both.rfind(1)
            if at >= 0:
                return low + at
        return None

    def selected_row(self) -> Row | None:
        if self.cursor is None or self.cursor >= len(self.index):
            return None
        return self.store.rows[self.index[self.cursor]]

    # -- the cursor ------------------------------------------------------------------------

    def validate_cursor(self, cursor: int | None) -> int | None:
        if cursor is None or not len(self.index):
            return None
        return max(0, min(cursor, len(self.index) - 1))

    def watch_cursor(self) -> None:
        self._announce()
        self.refresh()
        self.scroll_to_region_of_cursor()

    def _select(self, cursor: int | None) -> None:
        """Move the cursor there and announce the row even if the number stays (the row may not have)."""
        before = self.cursor
        self.cursor = cursor
        if self.cursor == before:
            self.mutate_reactive(TimelineView.cursor)

    def _announce(self) -> None:
        self.post_message(self.RowSelected(self.selected_row(), self._syncing))

    # -- moving ----------------------------------------------------------------------------

    def action_move(self, delta: int) -> None:
        if not len(self.index):
            return
        current = self.cursor if self.cursor is not None else len(self.index) - 1
        self._select(current + delta)
        # Moving up pauses the follow; moving down keeps it on the newest row.
        self.following = self.following and delta > 0 and self.cursor == len(self.index) - 1

    def select_newest_of(self, number: int) -> None:
        """Select the newest row shown of connection ``number`` (see ``Store.owners``), if any."""
        index, owners = self.index, self.store.owners
        for position in range(len(index) - 1, -1, -1):
            if owners[index[position]] == number:
                self.following = self.following and position == len(index) - 1
                self._select(position)
                return

    def action_first(self) -> None:
        if len(self.index):
            self.following = False
            self._select(0)
            self.scroll_to(y=0, animate=False)

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "follow":
            return self.live
        if action == "last":
            return not self.live
        return True

    def action_last(self) -> None:
        if len(self.index):
            self._select(len(self.index) - 1)

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

    def on_click(self, event: events.Click) -> None:
        offset = event.get_content_offset(self)  # from the first row, not from the border above it
        if offset is None:
            return
        target = int(self.scroll_offset.y) + offset.y
        if 0 <= target < len(self.index):
            self.following = target == len(self.index) - 1 and self.following
            self.cursor = target

    def _to_end(self) -> None:
        self._select(len(self.index) - 1 if len(self.index) else None)
        self.scroll_end(animate=False, immediate=True, x_axis=False)

    @property
    def _visible_height(self) -> int:
        # The region inside the scrollbars: size.height counts the row a scrollbar covers.
        return max(1, self.scrollable_content_region.height)

    def _resize(self) -> None:
        # As wide as the region inside the vertical scrollbar, so no horizontal one appears.
        size = Size(self.scrollable_content_region.width, len(self.index))
        if size == self.virtual_size:
            return
        if size.width != self.virtual_size.width or self.show_vertical_scrollbar != (size.height > self.size.height):
            self.virtual_size = size  # the scrollbar comes or goes: a layout of the screen
            # The scrollbar now, not after the layout: until it is there, nothing scrolls (the
            # follow would stay at the top).
            self._scroll_update(size)
            return
        # Only more (or fewer) rows: what Textual does on a resize, without laying out the whole
        # screen again, which it does for every change of a virtual size (as often as frames come).
        self.set_reactive(TimelineView.virtual_size, size)
        self._scroll_update(size)
        self.refresh()

    # -- rendering -------------------------------------------------------------------------

    def notify_style_update(self) -> None:
        super().notify_style_update()
        self._cache.clear()
        self._styles.clear()

    def on_resize(self) -> None:
        self._cache.clear()
        self._resize()
        # A following timeline keeps its newest row in view at any size: it may have taken its
        # rows in before it had one (a capture being written, read before the first layout).
        if self.following:
            self.scroll_end(animate=False, immediate=True, x_axis=False)

    def style_of(self, component: str) -> Style:
        """The theme's style for a kind of text: sent, received, system, warning, error, control, muted, cursor."""
        # Partial: only what the component class sets; the background stays the widget's. Kept
        # until the styles change (a row asks for three or four).
        style = self._styles.get(component)
        if style is None:
            style = self._styles[component] = self.get_component_rich_style(f"timeline--{component}", partial=True)
        return style

    def render_lines(self, crop: Region) -> list[Strip]:
        # What every line needs, worked out once a paint rather than once a line (the region
        # alone costs more than a cached line).
        self._painting = (int(self.scroll_offset.y), self.scrollable_content_region.width)
        try:
            return super().render_lines(crop)
        finally:
            self._painting = None

    def render_line(self, y: int) -> Strip:
        top, width = self._painting or (int(self.scroll_offset.y), self.scrollable_content_region.width)
        number = top + y
        if number >= len(self.index):
            if not len(self.index) and 0 < y <= len(lines := self.empty_text.splitlines()):
                return Strip([Segment(f"  {lines[y - 1]}", self.style_of("muted"))]).adjust_cell_length(width)
            return Strip.blank(width)
        selected = number == self.cursor
        # The connection tag's column is as wide as the highest number needs (c7, c128).
        tag_width = len(str(self.store.owner_limit)) + 2
        key = (self.index[number], width, selected, tag_width)
        strip = self._cache.get(key)
        if strip is None:
            strip = self._render_row(key[0], width, selected, tag_width)
            self._cache[key] = strip
        return strip

    def _render_row(self, position: int, width: int, selected: bool, tag_width: int) -> Strip:
        connection_id, item = self.store.rows[position]
        muted = self.style_of("muted")
        entry = self.store.entries.get(connection_id) if connection_id else None
        start = self.origin if self.origin is not None else (entry.connection.connected_at if entry else item.timestamp)
        tag = f"c{entry.number}" if entry else ""
        # As few segments as the styles allow: Textual's paint works segment by segment.
        lead = f"{format_offset(item.timestamp - start):>10} {tag:<{tag_width}}"  # all one cell wide each
        segments = [Segment(lead, muted)]
        if isinstance(item, SystemEvent):
            style = self.style_of({"info": "system", "warning": "warning", "error": "error"}[item.level])
            segments.append(Segment(f"◉ {'event':<7}{item.text}", style))
        elif isinstance(item, LogLine):
            style = self.style_of(_log_component(item.levelno))
            segments += [
                Segment(f"≡ {_LEVEL_NAMES.get(item.level, item.level.lower())[:6]:<7}", style),
                *self._marked(log_text(item), style),
            ]
        else:
            style = self.style_of(self._frame_component(item))
            fixed = 10 + 1 + tag_width + 2 + 7 + 11
            mark = " ✂ " if item.truncated else "   "
            arrow = ARROWS[item.direction]
            # ◉ control rows, with their direction.
            kind = (
                f"◉ {item.message_type} {arrow} "
                if item.message_type in ("ping", "pong")
                else f"{arrow} {item.message_type:<7}"
            )
            segments += [Segment(kind, style), Segment(f"{format_size(item.size_bytes):>8}{mark}", muted)]
            if item.send_waited is not UNSET:  # a send that waited on the client leads, as a warning
                waited = f"waited {short_duration(item.send_waited)} to send  "
                segments.append(Segment(waited, self.style_of("warning")))
                fixed += len(waited)
            text = self._preview(position, item, max(1, width - fixed))
            used = sum([len(segment.text) for segment in segments]) + len(text)  # one cell a character
            if text.isascii() and self.highlight is None and used <= width:
                # Every cell known: padded here, without Rich measuring each segment again.
                segments.append(Segment(text, style))
                if used < width:
                    segments.append(Segment(" " * (width - used)))
                strip = Strip(segments, width)
                return strip.apply_style(self.style_of("cursor")) if selected else strip
            segments += self._marked(text, style)
        strip = Strip(segments).adjust_cell_length(width)
        if selected:
            strip = strip.apply_style(self.style_of("cursor"))
        return strip

    def _marked(self, text: str, style: Style) -> list[Segment]:
        """``text`` in ``style``, with what ``highlight`` finds in it marked."""
        spans = self.highlight.spans(text) if self.highlight is not None else []
        if not spans:
            return [Segment(text, style)]
        marked = style + self.style_of("match")
        segments: list[Segment] = []
        at = 0
        for start, end in spans:
            if start < at:
                continue  # overlaps the one before
            segments += [Segment(text[at:start], style), Segment(text[start:end], marked)]
            at = end
        segments.append(Segment(text[at:], style))
        return segments

    def _preview(self, position: int, frame: Frame, width: int) -> str:
        """The payload in one line: decoded (but JSON text, shown as it is); a pong that answers a
        ping just before it leads with the round trip."""
        if self.payloads is not None and frame.message_type in ("text", "binary"):
            connection_id = self.store.rows[position][0]
            decoded = self.payloads.decoded(connection_id, frame)
            line = None  # the payload's own preview
            if decoded is not None and not (decoded.decoder == "json" and frame.message_type == "text"):
                line = f"{decoded.decoder}: {decoded.summary}"
            _, latency = latency_of(self.payloads.pairing(connection_id), frame)
            if latency is not None:  # a reply: how long after its request
                mark = f"↩ {short_duration(latency)}  "
                line = mark + (line if line is not None else preview(frame, max(1, width - len(mark))))
            elif frame.handler_time and frame.handler_time >= SHOWN_HANDLER_TIME:
                mark = f"took {short_duration(frame.handler_time)}  "
                line = mark + (line if line is not None else preview(frame, max(1, width - len(mark))))
            if line is not None:
                return line if len(line) <= width else line[: max(0, width - 1)] + "…"
        if frame.message_type == "pong":
            ping = self._answered_ping(position, frame)
            if ping is not None:
                rtt = f"rtt {short_duration(max(0.0, frame.timestamp - ping.timestamp))}  "
                return rtt + preview(frame, max(1, width - len(rtt)))
        return preview(frame, width)

    def _answered_ping(self, position: int, pong: Frame) -> Frame | None:
        """The ping of the pong at ``position``: among the rows just before it (a keepalive's pong
        comes within milliseconds), the same connection's ping the other way with the same payload."""
        rows = self.store.rows
        connection_id = rows[position][0]
        for before in range(position - 1, max(-1, position - PONG_LOOKBACK), -1):
            owner, item = rows[before]
            if owner != connection_id or not isinstance(item, Frame):
                continue
            if item.message_type == "pong" and item.direction == pong.direction:
                return None  # that pong answered the pings before it
            if item.message_type == "ping" and item.direction != pong.direction and item.content == pong.content:
                return item
        return None

    @staticmethod
    def _frame_component(frame: Frame) -> str:
        if frame.message_type in ("ping", "pong"):
            return "control"
        if frame.message_type == "close":
            return "warning"
        return "sent" if frame.direction == "sent" else "received"


# A received message's handler time shows on its row from this long (seconds): shorter is noise.
SHOWN_HANDLER_TIME = 0.001


# A log line's level in the timeline's type column (7 wide, like "binary ").
_LEVEL_NAMES: Final = {"WARNING": "warn", "CRITICAL": "crit"}


def _log_component(levelno: int) -> str:
    if levelno >= logging.ERROR:
        return "error"
    if levelno >= logging.WARNING:
        return "warning"
    return "log" if levelno >= logging.INFO else "muted"
