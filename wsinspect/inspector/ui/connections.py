"""The connections table: one row per connection, its state, counts, round trip and close."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from time import time
from typing import ClassVar, NamedTuple

from rich.segment import Segment
from rich.style import Style
from rich.text import Text
from textual import events
from textual.binding import Binding, BindingType
from textual.cache import LRUCache
from textual.geometry import Size
from textual.message import Message
from textual.scroll_view import ScrollView
from textual.strip import Strip

from ...formatting import format_duration, format_size, short_duration
from ...model import Connection, describe_close, short_handler
from ..core.describe import handler_doing, health
from ..core.interface import StoreView
from ..core.store import LOCAL_HOST, ConnectionEntry

STATE_DOTS = {"connecting": "◌", "open": "●", "closing": "◐", "closed": "○"}
# The colour of the dot and the state, as a component class: connections--received and so on.
STATE_STYLES = {
    "open": "received",
    "connecting": "muted",
    "closing": "warning",
    "closed": "muted",
    "denied": "error",
    "error": "error",
}


def connection_state(connection: Connection) -> str:
    """open, closing, closed, denied or error: what the list's coloured dot says."""
    if connection.denial_status is not None:
        return "denied"
    # An exception caused by the client leaving (a failed send) is no fault of the server.
    if connection.error and connection.state == "closed" and connection.closed_by != "client":
        return "error"
    return connection.state


# The table's two ends share a row of the help.
ENDS = Binding.Group("In the connections: the oldest / the newest connection")
HANDLER = "handler"  # the path column's second header: the handler's name after each path
PRODUCER = "app"  # and its third, with several apps: which one the connection came from


class Cut(NamedTuple):
    """How the path column and the close column show: their widths, and where the handlers' names go."""

    path: int  # the path column's width, the handler's name and the producer in it
    close: int
    # Room for every path whole: the handlers' names in a column of their own, this far in. Else
    # None: each name right after its path, the path cut (with an ellipsis) before the name is.
    handlers_at: int | None
    handlers: bool  # some connection has a handler's name (the header says so)
    producers: bool  # several apps, and room for each row to say which (the header says so)


class ConnectionTable(ScrollView, can_focus=True):
    """One row per connection: state, path, duration, counts, frames missing, close, producer.

    The path and the close share the width the other columns leave: each shows whole when both
    fit, and otherwise the close (last, often the longest, the one worth reading) gets at least
    half of it. The path column also holds the handler's short name, in a style of its own and
    named by the header ("path  handler"): in a column of its own when every path fits whole,
    else right after the path, which is cut before the name is. With several apps, which one
    follows ("app"), when every row has room for it.

    Drawn line by line (as Textual's DataTable looks, with its component classes): a row is
    rendered when its cells change, straight to segments, and only the rows on screen are drawn;
    a column that gets wider changes the scrollable width, not the screen's layout.
    """

    COLUMNS = ("#", "path", "state", "→ sent", "← received", "rtt", "missing", "close")
    LEAST_WIDTH = 12  # the path and the close show at least this much, even when the table scrolls
    LEAST_NAMED = 18  # the path column with handlers' names: "/ws/jobs  jobs", "/ws/soc…  socketio"
    LEAST_PATH = 8  # a path cut for its handler's name keeps this much at least ("/ws/soc…")
    FLEXIBLE = frozenset({"path", "close"})  # the columns cut to share the spare width
    cell_padding = 1  # a space each side of every cell
    header_height = 1

    # The scrolling keys Textual gives a scrolling widget move the cursor here (see the actions
    # below), as they did in a DataTable: up, down, page up, page down; left and right scroll
    # sideways. Its Home and End would scroll sideways, which hides the id and the path: here
    # they move between the oldest and the newest connection (the active ones are the newest).
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding(
            "home,g",
            "first_connection",
            "First connection",
            show=False,
            id="connections.first",
            tooltip="In the connections: the oldest connection",
            group=ENDS,
        ),
        Binding(
            "end,G",
            "newest_connection",
            "Newest connection",
            show=False,
            id="connections.newest",
            tooltip="In the connections: the newest connection",
            group=ENDS,
        ),
    ]

    COMPONENT_CLASSES: ClassVar[set[str]] = {
        "connections--sent",
        "connections--received",
        "connections--warning",
        "connections--error",
        "connections--muted",
        "connections--handler",
        # DataTable's, with its look (Textual 8.2's DEFAULT_CSS, below).
        "datatable--header",
        "datatable--cursor",
        "datatable--hover",
        "datatable--header-hover",
    }

    DEFAULT_CSS = """
    ConnectionTable {
        background: $surface;
        color: $foreground;
        height: auto;
        max-height: 100%;
        &:focus {
            background-tint: $foreground 5%;
            & > .datatable--cursor {
                background: $block-cursor-background;
                color: $block-cursor-foreground;
                text-style: $block-cursor-text-style;
            }
            & > .datatable--header {
                background-tint: $foreground 5%;
            }
        }
        & > .datatable--header {
            text-style: bold;
            background: $panel;
            color: $foreground;
        }
        &:ansi > .datatable--header {
            background: ansi_bright_blue;
            color: ansi_default;
        }
        & > .datatable--cursor {
            background: $block-cursor-blurred-background;
            color: $block-cursor-blurred-foreground;
            text-style: $block-cursor-blurred-text-style;
        }
        & > .datatable--header-hover {
            background: $accent 30%;
        }
        & > .datatable--hover {
            background: $block-hover-background;
        }
    }
    ConnectionTable > .connections--sent { color: $primary; }
    ConnectionTable > .connections--received { color: $success; }
    ConnectionTable > .connections--warning { color: $warning; }
    ConnectionTable > .connections--error { color: $error; }
    ConnectionTable > .connections--muted { text-style: dim; }
    ConnectionTable > .connections--handler { text-style: dim italic; }
    """

    class RowMessage(Message):
        """About the row ``cursor_row``: ``connection_id``'s."""

        def __init__(self, table: ConnectionTable, cursor_row: int, connection_id: str) -> None:
            super().__init__()
            self.table = table
            self.cursor_row = cursor_row
            self.connection_id = connection_id

        @property
        def control(self) -> ConnectionTable:
            return self.table

    class RowHighlighted(RowMessage):
        """The cursor moved to another row (or to the first row added)."""

    class RowSelected(RowMessage):
        """Enter, or a click on the row the cursor is on (DataTable's)."""

    def __init__(self, store: StoreView, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.store = store
        self.order: list[str] = []
        self._index: dict[str, int] = {}  # connection id → its row's number in order
        self._cells_shown: dict[str, list[Text]] = {}  # connection id → its row's cells
        self._versions: dict[str, int] = {}  # connection id → a number that changes with its cells
        self._version = 0
        self._widths = [len(column) for column in self.COLUMNS]  # the widest cell of each column so far
        self._flexible: dict[int, int] = {}  # the path's and the close's widths now (column → cells)
        self._drawn_widths: tuple[int, ...] = ()  # the columns' widths at the last resize
        self._label = Text("path")  # the path column's header (see _path_label)
        self._label_version = 0
        # The longest of each, before they are cut: path (with its query), handler's name, producer,
        # close, and a path cell with the name right after the path.
        self._longest = {"path": 0, "handler": 0, "producer": 0, "close": 0, "after": 0}
        self._cut = Cut(self.LEAST_WIDTH, self.LEAST_WIDTH, None, handlers=False, producers=False)  # how they show
        self.match = ""  # shown: the connections whose path or state holds this (see set_match)
        self.by_wait = False  # the connections whose sends waited longest come first (see set_by_wait)
        self._stale: set[str] = set()  # rows changed while off screen: redrawn when they scroll in
        self._entries_seen = 0
        self._cursor = 0
        self._hover: int | None = None  # the row under the mouse (-1: the header), while it moves there
        # A row's segments, whole (every column, as wide as the widget), by what they show.
        self._rows_cache: LRUCache[tuple[object, ...], list[Segment]] = LRUCache(1024)
        self._lines_cache: LRUCache[tuple[object, ...], Strip] = LRUCache(1024)

    # -- the rows --------------------------------------------------------------------------

    @property
    def rows(self) -> Mapping[str, list[Text]]:
        """The rows shown, by connection id: their cells."""
        return self._cells_shown

    @property
    def row_count(self) -> int:
        return len(self.order)

    @property
    def cursor_row(self) -> int:
        return self._cursor

    def get_row(self, connection_id: str) -> list[Text]:
        """The cells of that connection's row."""
        return self._cells_shown[connection_id]

    def get_row_index(self, connection_id: str) -> int:
        """Where that connection's row is (from 0, the first row under the header)."""
        return self._index[connection_id]

    def get_content_height(self, container: Size, viewport: Size, width: int) -> int:
        """Its header and rows: the rows added count at once, so that the next layout gives the
        table its height and its scrollbar as they stay, rather than the layout after it (issue 27)."""
        return self.header_height + self.row_count  # a line a row

    def sync(self, dirty: set[str] | None = None) -> None:
        """Add new connections, refresh the changed ones and the durations of the open ones.

        Only the rows on screen are redrawn: another changed row is redrawn when it scrolls into
        view (a thousand open connections tick their durations, and a redraw of each costs).
        """
        store = self.store
        entries = store.entries
        several = len({(entry.connection.host, entry.connection.pid) for entry in entries.values()}) > 1
        shown = self._cells_shown
        cut = self._layout()
        if cut != self._cut:
            relabel = cut[2:] != self._cut[2:]  # where the names go, and what the header names
            self._cut = cut
            dirty = None  # every path and close is cut anew
            if relabel:
                self._label_path_column()
        if len(entries) < self._entries_seen:  # the store was cleared: its closed connections went
            for connection_id in [key for key in shown if key not in entries]:
                self._remove(connection_id)
        self._entries_seen = len(entries)
        live = store.as_of is None  # a saved session's durations do not go on
        on_screen = self._on_screen()
        stale = self._stale
        for connection_id, entry in self._ordered(entries):
            connection = entry.connection
            old = shown.get(connection_id)
            if old is None:
                if self._shows(connection):
                    self._add(connection_id, self._cells(entry, several))
            elif dirty is None or connection_id in dirty or (live and connection.state != "closed"):
                if not self._shows(connection):
                    self._remove(connection_id)  # no longer what the table's filter asks for
                elif dirty is None or self._index[connection_id] in on_screen:
                    self._redraw(connection_id, entry, several)
                else:
                    stale.add(connection_id)
        if self.by_wait:
            self._reorder()
        if self._layout() != self._cut:
            self.sync(None)  # the new rows widened a column (or brought the scrollbar): cut again
        else:
            self._resize()

    def _on_screen(self) -> range:
        top = self.scroll_offset.y
        return range(top, top + self.size.height)

    def _add(self, connection_id: str, cells: list[Text]) -> None:
        self._index[connection_id] = len(self.order)
        self.order.append(connection_id)
        self._set_cells(connection_id, cells)
        if len(self.order) == 1:  # a row for the cursor, where there was none
            self._highlight()

    def _set_cells(self, connection_id: str, cells: list[Text]) -> None:
        """The row's cells, and the widths they need."""
        old = self._cells_shown.get(connection_id)
        self._cells_shown[connection_id] = cells
        self._version += 1
        self._versions[connection_id] = self._version
        self._widen(cells)
        flexible = self._flexible
        for column in (1, len(self.COLUMNS) - 1):  # the path and the close: as wide as their cells now
            width = cells[column].cell_len
            if old is not None and old[column].cell_len >= flexible.get(column, 0) > width:
                flexible.clear()  # the widest got narrower: measured again
            elif flexible:
                flexible[column] = max(flexible[column], width)

    def set_by_wait(self, on: bool) -> None:
        """List the connections whose sends waited longest first (then by arrival), or by arrival."""
        self.by_wait = on
        if on:
            self._reorder()
            return
        selected = self.selected_id()
        self.set_match(self.match)  # rebuilt in arrival order
        if selected is not None:
            self.select(selected)

    def _ordered(self, entries: Mapping[str, ConnectionEntry]) -> Iterable[tuple[str, ConnectionEntry]]:
        if not self.by_wait:
            return entries.items()
        return sorted(entries.items(), key=lambda item: (-item[1].connection.send_waited_total, item[1].number))

    def _reorder(self) -> None:
        """Put the rows in the order of :meth:`_ordered`, keeping the selected connection selected."""
        wanted = [
            connection_id
            for connection_id, _ in self._ordered(self.store.entries)
            if connection_id in self._cells_shown
        ]
        if wanted == self.order:
            return
        selected = self.selected_id()
        self.order = wanted
        self._index = {connection_id: n for n, connection_id in enumerate(wanted)}
        self.refresh()
        if selected is not None:
            self.select(selected)

    def watch_scroll_y(self, old: float, new: float) -> None:
        super().watch_scroll_y(old, new)
        self._redraw_stale()

    def _redraw_stale(self) -> None:
        """Redraw the rows that changed while off screen and are on screen now."""
        if not self._stale:
            return
        on_screen = self._on_screen()
        several = len({(entry.connection.host, entry.connection.pid) for entry in self.store.entries.values()}) > 1
        shown = self._cells_shown
        for connection_id in [key for key in self._stale if key in shown and self._index[key] in on_screen]:
            self._stale.discard(connection_id)
            entry = self.store.entries.get(connection_id)
            if entry is not None:
                self._redraw(connection_id, entry, several)
        self._resize()

    def _redraw(self, connection_id: str, entry: ConnectionEntry, several: bool) -> None:
        """The row's cells again: drawn again only if they changed."""
        self._stale.discard(connection_id)
        cells = self._cells(entry, several)
        if cells == self._cells_shown[connection_id]:
            return
        self._set_cells(connection_id, cells)
        self.refresh_line(self.header_height + self._index[connection_id])

    def _remove(self, connection_id: str) -> None:
        del self._cells_shown[connection_id]
        del self._versions[connection_id]
        self._stale.discard(connection_id)
        at = self._index.pop(connection_id)
        del self.order[at]
        for n, later in enumerate(self.order[at:], at):
            self._index[later] = n
        self._flexible.clear()
        self.refresh()
        if at < self._cursor:  # a row above went: the cursor stays on its connection
            self._cursor -= 1
        elif self._cursor >= len(self.order) and self.order:  # the cursor on the last row, which went
            self.move_cursor(row=len(self.order) - 1)

    def set_match(self, text: str) -> None:
        """Show only the connections whose path (with its query) or state holds ``text``."""
        self.match = text.strip().lower()
        self._stale.clear()
        self._cells_shown.clear()
        self._versions.clear()
        self._flexible.clear()
        self.order.clear()
        self._index.clear()
        self._cursor = 0
        self.scroll_to(0, 0, animate=False, immediate=True)
        self.refresh()
        self.sync(None)

    def _shows(self, connection: Connection) -> bool:
        if not self.match:
            return True
        query = f"?{connection.query_string}" if connection.query_string else ""
        slow = " slow" if connection.send_waited_total else ""  # its sends waited on the client
        return self.match in f"{connection.path}{query} {connection_state(connection)}{slow}".lower()

    # -- the cursor ------------------------------------------------------------------------

    def selected_id(self) -> str | None:
        if not self.order or self._cursor >= len(self.order):
            return None
        return self.order[self._cursor]

    def select(self, connection_id: str) -> None:
        """Highlight that connection's row (it announces itself only when the row changes)."""
        if connection_id in self._cells_shown and connection_id != self.selected_id():
            self.move_cursor(row=self._index[connection_id], animate=False)

    def move_cursor(
        self, *, row: int | None = None, column: int | None = None, animate: bool = False, scroll: bool = True
    ) -> None:
        """Put the cursor on that row (kept within the rows), announce it if it moved, and scroll
        it into view. ``column``: there is none (a row cursor), as DataTable's row cursor has it."""
        if row is None:
            return
        before = self._cursor
        self._cursor = max(0, min(row, len(self.order) - 1))
        if self._cursor == before:
            return
        self._refresh_row(before)
        self._highlight()
        if scroll:
            self._scroll_cursor_into_view(animate)

    def _highlight(self) -> None:
        self._refresh_row(self._cursor)
        if self._cursor < len(self.order):
            self.post_message(self.RowHighlighted(self, self._cursor, self.order[self._cursor]))

    def _refresh_row(self, row: int) -> None:
        self.refresh_line(self.header_height + row)

    def _scroll_cursor_into_view(self, animate: bool = False) -> None:
        top = self.scroll_offset.y
        height = max(1, self.scrollable_content_region.height - self.header_height)
        if self._cursor < top:
            self.scroll_to(y=self._cursor, animate=animate, force=True)
        elif self._cursor >= top + height:
            self.scroll_to(y=self._cursor - height + 1, animate=animate, force=True)

    def action_scroll_up(self) -> None:
        self._set_hover(None)
        self.move_cursor(row=self._cursor - 1)

    def action_scroll_down(self) -> None:
        self._set_hover(None)
        self.move_cursor(row=self._cursor + 1)

    def action_page_up(self) -> None:
        """Up by a page, the rows scrolling with the cursor (as DataTable's page keys do)."""
        self._set_hover(None)
        height = max(1, self.scrollable_content_region.height - self.header_height)
        self.scroll_relative(y=-height, animate=False, force=True)
        self.move_cursor(row=self._cursor - height, scroll=False)

    def action_page_down(self) -> None:
        self._set_hover(None)
        height = max(1, self.scrollable_content_region.height - self.header_height)
        self.scroll_relative(y=height, animate=False, force=True)
        self.move_cursor(row=self._cursor + height, scroll=False)

    def key_ctrl_home(self) -> None:
        """DataTable's: the first row (Home goes there too, see the bindings)."""
        self.move_cursor(row=0)

    def key_ctrl_end(self) -> None:
        self.move_cursor(row=len(self.order) - 1)

    def key_enter(self) -> None:
        self._selected()

    def _selected(self) -> None:
        if self._cursor < len(self.order):
            self.post_message(self.RowSelected(self, self._cursor, self.order[self._cursor]))

    def action_first_connection(self) -> None:
        self.move_cursor(row=0, animate=False)
        self.scroll_to(x=0, animate=False)

    def action_newest_connection(self) -> None:
        self.move_cursor(row=max(0, self.row_count - 1), animate=False)
        self.scroll_to(x=0, animate=False)

    def on_click(self, event: events.Click) -> None:
        row = event.style.meta.get("row")
        if row is None or row < 0 or row >= len(self.order):
            return
        event.stop()
        if row == self._cursor:
            self._selected()  # a click on the highlighted row selects it (DataTable's)
        self.move_cursor(row=row, animate=True)

    def on_mouse_move(self, event: events.MouseMove) -> None:
        row = event.style.meta.get("row")
        self._set_hover(row if isinstance(row, int) else None)

    def on_leave(self, event: events.Leave) -> None:
        self._set_hover(None)

    def _set_hover(self, row: int | None) -> None:
        """The faint highlight of the row under the mouse (a key press takes it away)."""
        if row == self._hover:
            return
        for before_or_after in (self._hover, row):
            if before_or_after is not None:
                self._refresh_row(before_or_after)
        self._hover = row

    # -- the widths ------------------------------------------------------------------------

    def on_resize(self) -> None:
        if self._layout() != self._cut:
            self.sync(None)
        else:
            self._resize()

    def _widen(self, cells: list[Text]) -> None:
        self._widths = [max(width, cell.cell_len) for width, cell in zip(self._widths, cells, strict=True)]

    def _column_widths(self) -> tuple[int, ...]:
        """Each column's width, inside its padding: the widest cell so far, but the path and the
        close as wide as their cells and their header are now."""
        flexible = self._flexible
        if not flexible:
            flexible[1] = max([self._label.cell_len, *(cells[1].cell_len for cells in self._cells_shown.values())])
            last = len(self.COLUMNS) - 1
            flexible[last] = max([len("close"), *(cells[last].cell_len for cells in self._cells_shown.values())])
        return tuple(flexible.get(column, width) for column, width in enumerate(self._widths))

    def _table_width(self, widths: tuple[int, ...]) -> int:
        """The columns' widths with their padding."""
        return sum(widths) + 2 * self.cell_padding * len(widths)

    def _resize(self) -> None:
        """The scrollable size: as wide as the columns, a line a row. More (or fewer) rows change
        the table's height (a layout); wider columns change only what scrolls."""
        widths = self._column_widths()
        if widths != self._drawn_widths:  # every row moves its cells, even when the sum stays
            self._drawn_widths = widths
            self.refresh()
        size = Size(self._table_width(widths), self.header_height + len(self.order))
        if size == self.virtual_size:
            return
        rows = size.height != self.virtual_size.height
        self.set_reactive(ConnectionTable.virtual_size, size)
        self._scroll_update(size)
        self.refresh(layout=rows)

    def _layout(self) -> Cut:
        """The widths of the path and the close (what the other columns leave of the table's width),
        and where the handlers' names go."""
        width = self.size.width
        if len(self._cells_shown) + 1 > self.container_size.height:  # the header and rows overflow: a scrollbar
            width -= self.styles.scrollbar_size_vertical
        fixed = sum(
            cells for column, cells in zip(self.COLUMNS, self._widths, strict=True) if column not in self.FLEXIBLE
        )
        spare = width - fixed - 2 * self.cell_padding * len(self.COLUMNS)
        longest = self._longest
        handlers, producers = longest["handler"] > 0, longest["producer"] > 0
        path = max(self.LEAST_NAMED if handlers else self.LEAST_WIDTH, spare - min(longest["close"], spare // 2))
        # Every path whole, then the names in their column (as wide as its header), then the producers.
        paths = max(longest["path"], len("path"))
        apps = max(longest["producer"], len(f"  {PRODUCER}")) if producers else 0
        column = paths + 2 + max(longest["handler"], len(HANDLER)) + apps
        if handlers and path >= column:
            return Cut(column, max(self.LEAST_WIDTH, spare - column), paths + 2, handlers, producers)
        path = min(path, max(longest["after"], len(self._path_label(None, handlers, producers))))
        # The producers only when every row has room for its own: the path and the name come first.
        producers = producers and path >= longest["after"]
        return Cut(path, max(self.LEAST_WIDTH, spare - path), None, handlers, producers)

    def _path_label(self, handlers_at: int | None, handlers: bool, producers: bool) -> Text:
        """The path column's header: "path", then "handler" where the handlers' names go, then "app"."""
        label = Text("path")
        if handlers:
            label.pad_right((handlers_at or len("path  ")) - len(label))
            label.append(HANDLER, self.style_of("handler"))
            if producers and handlers_at is not None:  # the producers after the names' column
                label.pad_right(handlers_at + max(self._longest["handler"], len(HANDLER)) - len(label))
        if producers:
            label.append(f"  {PRODUCER}", self.style_of("muted"))
        return label

    def _label_path_column(self) -> None:
        """The path column's header, for the layout of its cells."""
        cut = self._cut
        self._label = self._path_label(cut.handlers_at, cut.handlers, cut.producers)
        self._label_version += 1
        self._flexible.clear()
        self.refresh()

    # -- drawing ---------------------------------------------------------------------------

    def notify_style_update(self) -> None:
        super().notify_style_update()
        self._lines_cache.clear()

    def style_of(self, component: str) -> Style:
        """The theme's style for a kind of text: sent, received, warning, error, muted, handler."""
        # Partial: only what the component class sets; the background stays the cell's.
        return self.get_component_rich_style(f"connections--{component}", partial=True)

    def render_line(self, y: int) -> Strip:
        width = self.size.width
        base = self.rich_style
        if y < self.header_height:
            row, version = -1, self._label_version  # the header: drawn again when its label or widths change
            cells = [self._label if column == "path" else Text(column) for column in self.COLUMNS]
        else:
            row = self.scroll_offset.y + y - self.header_height
            if row >= len(self.order):
                return Strip.blank(width, base)
            connection_id = self.order[row]
            cells, version = self._cells_shown[connection_id], self._versions[connection_id]
        widths = self._column_widths()
        x = self.scroll_offset.x
        key = (row, version, widths, width, x, row == self._cursor, row == self._hover, self.has_focus, base)
        strip = self._lines_cache.get(key)
        if strip is None:
            strip = self._lines_cache[key] = self._render_row(row, cells, widths, width, x, base)
        return strip

    def _render_row(
        self, row: int, cells: list[Text], widths: tuple[int, ...], width: int, x: int, base: Style
    ) -> Strip:
        """A row (-1: the header) as DataTable draws it: each cell padded, in the row's style, the
        cursor's over it, then what is left of the widget's width in the row's style."""
        header = row < 0
        row_style = self.get_component_styles("datatable--header").rich_style if header else base
        component = Style()
        if row == self._hover:
            component += self.get_component_rich_style("datatable--hover")
            if header:
                component += self.get_component_rich_style("datatable--header-hover")
        if row == self._cursor:
            component += self.get_component_rich_style("datatable--cursor")
        # The cursor's colours go over the text's own (DataTable's cursor priorities: "css").
        post = Style.from_color(component.color) + Style.from_color(bgcolor=component.bgcolor)
        console = self.app.console
        pad = " " * self.cell_padding
        segments: list[Segment] = []
        for column, (cell, cell_width) in enumerate(zip(cells, widths, strict=True)):
            pre = row_style + Style.from_meta({"row": row, "column": column}) + component
            outer = pre + post
            # Rich's Text.render leaves a text without spans unstyled (its style comes with its line).
            line = (
                list(cell.render(console, end=""))
                if cell.spans
                else [Segment(cell.plain, console.get_style(cell.style))]
            )
            length = cell.cell_len
            if length > cell_width:
                line = Segment.adjust_line_length(line, cell_width)
                length = cell_width
            segments.append(Segment(pad, outer))
            segments += [Segment(text, outer if style is None else (pre + style) + post) for text, style, _ in line]
            segments.append(Segment(" " * (cell_width - length) + pad, outer))
        table_width = self._table_width(widths)
        extend = row_style + component + Style.from_meta({"row": row, "column": 0, "out_of_bounds": True})
        segments.append(Segment(" " * max(0, width - table_width), extend))
        return Strip(segments).crop(x, x + width).adjust_cell_length(width, base).simplify()

    def _cells(self, entry: ConnectionEntry, several: bool) -> list[Text]:
        style = self.style_of
        connection = entry.connection
        state = connection_state(connection)
        dot_style = style(STATE_STYLES[state])
        end = connection.disconnected_at or self.store.as_of or time()
        duration = format_duration(max(0.0, end - connection.connected_at))
        query = f"?{connection.query_string}" if connection.query_string else ""
        if connection.denial_status is not None:
            close = Text(f"HTTP {connection.denial_status}", style("error"))
        else:
            close = Text(_close_text(connection.close_code, connection.close_reason))
        longest = self._longest
        longest["close"] = max(longest["close"], close.cell_len)
        close.truncate(self._cut.close, overflow="ellipsis")
        host = f"@{connection.host}" if connection.host and connection.host != LOCAL_HOST else ""
        # With several app processes feeding the inspector, which one this came from.
        producer = f"  {connection.app}{host}:{connection.pid}" if several and connection.pid else ""
        path = f"{connection.path}{query}" or "(unknown)"
        handler = short_handler(connection.handler) if connection.handler else ""
        longest["path"] = max(longest["path"], len(path))
        longest["handler"] = max(longest["handler"], len(handler))
        longest["producer"] = max(longest["producer"], len(producer))
        longest["after"] = max(longest["after"], len(path) + (2 + len(handler) if handler else 0) + len(producer))
        return [
            Text.assemble((STATE_DOTS.get(connection.state, "●"), dot_style), f" c{entry.number}"),
            self._path_cell(path, handler, producer),
            self._state_cell(connection, state, duration, dot_style),
            self._sent_cell(connection),
            Text(f"{connection.messages_received:,} · {format_size(connection.bytes_received)}", style("received")),
            self._rtt_cell(entry),
            self._missing_cell(connection),
            close,
        ]

    def _path_cell(self, path: str, handler: str, producer: str) -> Text:
        """The path, the handler's name in its own style (in its column, or cut after the path), the producer."""
        cut = self._cut
        if cut.handlers_at is not None:  # every path fits whole: the names in a column of their own
            if producer:
                handler = handler.ljust(max(self._longest["handler"], len(HANDLER)))
            if handler:
                path = path.ljust(cut.handlers_at)
        else:
            if not cut.producers:
                producer = ""  # not every row has room for its app: none says it
            room = max(1, cut.path - len(producer))
            keep = min(len(path), max(self.LEAST_PATH, room - 2 - len(handler)))
            if handler and room - 2 - keep >= 2:  # the name after the path, which is cut before it is
                path, handler = _clip(path, keep) + "  ", _clip(handler, room - 2 - keep)
            else:
                path, handler = _clip(path, room), ""
        return Text.assemble(path, (handler, self.style_of("handler")), (producer, self.style_of("muted")))

    def _sent_cell(self, connection: Connection) -> Text:
        """Messages and bytes sent; a slow client's mark: how long the app's sends waited on it in all."""
        cell = Text(f"{connection.messages_sent:,} · {format_size(connection.bytes_sent)}", self.style_of("sent"))
        if connection.send_waited_total:
            cell.append(f"  ▲ waited {short_duration(connection.send_waited_total)}", self.style_of("warning"))
        return cell

    def _state_cell(self, connection: Connection, state: str, duration: str, style: Style) -> Text:
        """ "Open (1m 05s)", and what its handler has been doing for a while: "· waiting 12 s" (dim),
        "· working 3.1 s" and "· sending 2.0 s" (warnings)."""
        cell = Text(f"{state.capitalize()} ({duration})", style)
        doing = connection.handler_state
        if doing is not None and connection.state != "closed":
            component = "muted" if doing.state == "receiving" else "warning"
            cell.append(f" · {handler_doing(doing, self.store.as_of or time())}", self.style_of(component))
        return cell

    def _missing_cell(self, connection: Connection) -> Text:
        """Frames this inspector does not hold: lost on the way (a warning) and let go by design."""
        lost, not_kept = connection.messages_lost, connection.messages_not_kept
        parts: list[tuple[str, Style]] = []
        if lost:
            parts.append((f"{lost:,} lost", self.style_of("warning")))
        if not_kept:
            parts.append((f"{' · ' if lost else ''}{not_kept:,} not kept", self.style_of("muted")))
        return Text.assemble(*parts)

    def _rtt_cell(self, entry: ConnectionEntry) -> Text:
        connection = entry.connection
        state = health(connection, entry.unanswered_ping, time())
        if state == "timeout":
            return Text("✖ timeout", self.style_of("error"))
        if state == "unknown":
            return Text("n/a", self.style_of("muted"))
        rtt = short_duration(connection.last_rtt) if connection.last_rtt is not None else "—"
        return Text(f"▲ late ({rtt})", self.style_of("warning")) if state == "late" else Text(rtt)


def _clip(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


def _close_text(code: int | None, reason: str | None) -> str:
    """The close, short: an app's own code (3000 and up) needs no range name before its reason."""
    if code is not None and code >= 3000 and reason:
        return f"{code}: {reason}"
    return describe_close(code, reason) or "—"
