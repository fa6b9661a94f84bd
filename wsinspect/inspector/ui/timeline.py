"""The timeline: every frame and ◉ event that passes the filters, one line each, rendered on demand."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from rich.segment import Segment
from rich.style import Style
from textual.binding import Binding
from textual.cache import LRUCache
from textual.color import Color, ColorParseError
from textual.geometry import Size
from textual.message import Message
from textual.reactive import reactive
from textual.scroll_view import ScrollView
from textual.strip import Strip

from ...model import Frame, Row, SystemEvent
from ..filters import FilteredIndex
from ..formatting import ARROWS, format_offset, format_size, preview
from ..store import Store


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

    def __init__(self, store: Store, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.store = store
        self.index = FilteredIndex(None)
        self.cursor: int | None = None
        self._seen = 0  # rows of store.rows already indexed
        self._trimmed = 0
        self._cache: LRUCache[tuple[int, int, bool], Strip] = LRUCache(1024)
        self._palette: Palette | None = None
        self.numbers: dict[str, int] = {}  # connection id → its number in the list, for the tag
        # Times count from here; None: from each row's own connection's start.
        self.origin: float | None = None

    # -- data ------------------------------------------------------------------------------

    def set_matcher(self, matcher: Callable[[Row], bool] | None) -> None:
        """Filters changed: re-index everything and keep the selected row if it still matches."""
        rows = self.store.rows
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
        if store.rows_trimmed != self._trimmed:
            gone = store.rows_trimmed - self._trimmed
            self._trimmed = store.rows_trimmed
            before = len(self.index)
            self.index.discard_before(gone)
            self._seen = max(0, self._seen - gone)
            lost = before - len(self.index)
            if self.cursor is not None:
                self.cursor = self.cursor - lost if self.cursor >= lost else None
            self._cache.clear()
        rows = store.rows
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
        return self.store.rows[self.index[self.cursor]]

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
            strip = self._render_row(self.store.rows[key[0]], width, selected)
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
