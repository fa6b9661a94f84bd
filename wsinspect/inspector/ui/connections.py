"""The connections table: one row per connection, its state, counts, round trip and close."""

from __future__ import annotations

from time import time
from typing import ClassVar

from rich.style import Style
from rich.text import Text
from textual.binding import Binding, BindingType
from textual.coordinate import Coordinate
from textual.widgets import DataTable

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


class ConnectionTable(DataTable[Text]):
    """One row per connection: state, path, duration, counts, frames missing, close, producer.

    The path and the close share the width the other columns leave: each shows whole when both
    fit, and otherwise the close (last, often the longest, the one worth reading) gets at least
    half of it.
    """

    COLUMNS = ("#", "path", "state", "→ sent", "← received", "rtt", "missing", "close")
    LEAST_WIDTH = 12  # the path and the close show at least this much, even when the table scrolls

    # DataTable's Home and End scroll sideways, which hides the id and the path: here they move
    # between the oldest and the newest connection (the active ones are the newest).
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
    }

    DEFAULT_CSS = """
    ConnectionTable > .connections--sent { color: $primary; }
    ConnectionTable > .connections--received { color: $success; }
    ConnectionTable > .connections--warning { color: $warning; }
    ConnectionTable > .connections--error { color: $error; }
    ConnectionTable > .connections--muted { text-style: dim; }
    """

    def __init__(self, store: StoreView, *, id: str | None = None) -> None:
        super().__init__(id=id, cursor_type="row", zebra_stripes=False)
        self.store = store
        self.order: list[str] = []
        self._cells_shown: dict[str, list[Text]] = {}  # connection id → its row's cells
        self._widths = [len(column) for column in self.COLUMNS]  # the widest cell of each column so far
        self._whole = {"path": 0, "close": 0}  # the widest path and close, before they are cut
        self._cut = (self.LEAST_WIDTH, self.LEAST_WIDTH)  # what the path and the close columns may show
        self.match = ""  # shown: the connections whose path or state holds this (see set_match)
        self._stale: set[str] = set()  # rows changed while off screen: redrawn when they scroll in
        self._entries_seen = 0

    def on_mount(self) -> None:
        for column in self.COLUMNS:
            self.add_column(column, key=column)

    def sync(self, dirty: set[str] | None = None) -> None:
        """Add new connections, refresh the changed ones and the durations of the open ones.

        Only the rows on screen are redrawn: another changed row is redrawn when it scrolls into
        view (a thousand open connections tick their durations, and a redraw of each costs).
        """
        store = self.store
        entries = store.entries
        several = len({(entry.connection.host, entry.connection.pid) for entry in entries.values()}) > 1
        shown = self._cells_shown
        cut = self._flexible_widths()
        if cut != self._cut:
            self._cut = cut
            dirty = None  # every path and close is cut anew
            # A table that only got narrower keeps its size, and Textual then keeps a horizontal
            # scrollbar it no longer needs: look at the scrollbars again once the widths are in.
            self.call_after_refresh(lambda: self._scroll_update(self.virtual_size))
        if len(entries) < self._entries_seen:  # the store was cleared: its closed connections went
            for connection_id in [key for key in shown if key not in entries]:
                self._remove(connection_id)
        self._entries_seen = len(entries)
        live = store.as_of is None  # a saved session's durations do not go on
        top = int(self.scroll_y)
        on_screen = range(top, top + self.size.height)
        stale = self._stale
        for connection_id, entry in entries.items():
            connection = entry.connection
            old = shown.get(connection_id)
            if old is None:
                if self._shows(connection):
                    self.order.append(connection_id)
                    shown[connection_id] = cells = self._cells(entry, several)
                    self._widen(cells)
                    self.add_row(*cells, key=connection_id)
            elif dirty is None or connection_id in dirty or (live and connection.state != "closed"):
                if not self._shows(connection):
                    self._remove(connection_id)  # no longer what the table's filter asks for
                elif dirty is None or self.get_row_index(connection_id) in on_screen:
                    self._redraw(connection_id, entry, several)
                else:
                    stale.add(connection_id)
        if self._flexible_widths() != self._cut:
            self.sync(None)  # the new rows widened a column (or brought the scrollbar): cut again

    def watch_scroll_y(self, old: float, new: float) -> None:
        super().watch_scroll_y(old, new)
        self._redraw_stale()

    def _redraw_stale(self) -> None:
        """Redraw the rows that changed while off screen and are on screen now."""
        if not self._stale:
            return
        top = int(self.scroll_y)
        on_screen = range(top, top + self.size.height)
        several = len({(entry.connection.host, entry.connection.pid) for entry in self.store.entries.values()}) > 1
        shown = self._cells_shown
        for connection_id in [key for key in self._stale if key in shown and self.get_row_index(key) in on_screen]:
            self._stale.discard(connection_id)
            entry = self.store.entries.get(connection_id)
            if entry is not None:
                self._redraw(connection_id, entry, several)

    def _redraw(self, connection_id: str, entry: ConnectionEntry, several: bool) -> None:
        self._stale.discard(connection_id)
        old = self._cells_shown[connection_id]
        self._cells_shown[connection_id] = cells = self._cells(entry, several)
        self._widen(cells)
        for column, cell, before in zip(self.COLUMNS, cells, old, strict=True):
            if cell != before:  # each update repaints the table; a wider cell re-lays it out
                width = self.columns[column].content_width  # type: ignore[index]
                # The path and the close also narrow, when their cells are cut shorter.
                resize = cell.cell_len > width or (column in self._whole and cell.cell_len < before.cell_len)
                self.update_cell(connection_id, column, cell, update_width=resize)

    def _remove(self, connection_id: str) -> None:
        self.order.remove(connection_id)
        del self._cells_shown[connection_id]
        self._stale.discard(connection_id)
        self.remove_row(connection_id)

    def set_match(self, text: str) -> None:
        """Show only the connections whose path (with its query) or state holds ``text``."""
        self.match = text.strip().lower()
        self._stale.clear()  # before the rows go: clearing scrolls, which redraws the stale ones
        self._cells_shown.clear()
        self.order.clear()
        self.clear()
        self.sync(None)

    def _shows(self, connection: Connection) -> bool:
        if not self.match:
            return True
        query = f"?{connection.query_string}" if connection.query_string else ""
        return self.match in f"{connection.path}{query} {connection_state(connection)}".lower()

    def selected_id(self) -> str | None:
        if not self.order or self.cursor_row >= len(self.order):
            return None
        return str(self.coordinate_to_cell_key(Coordinate(self.cursor_row, 0)).row_key.value)

    def select(self, connection_id: str) -> None:
        """Highlight that connection's row (it announces itself only when the row changes)."""
        if connection_id in self._cells_shown and connection_id != self.selected_id():
            self.move_cursor(row=self.get_row_index(connection_id), animate=False)

    def action_first_connection(self) -> None:
        self.move_cursor(row=0, column=0, animate=False)
        self.scroll_to(x=0, animate=False)

    def action_newest_connection(self) -> None:
        self.move_cursor(row=max(0, self.row_count - 1), column=0, animate=False)
        self.scroll_to(x=0, animate=False)

    def on_resize(self) -> None:
        if self._flexible_widths() != self._cut:
            self.sync(None)

    def _widen(self, cells: list[Text]) -> None:
        self._widths = [max(width, cell.cell_len) for width, cell in zip(self._widths, cells, strict=True)]

    def _flexible_widths(self) -> tuple[int, int]:
        """The widths of the path and the close: what the other columns leave of the table's width."""
        width = self.size.width
        if len(self._cells_shown) + 1 > self.container_size.height:  # the header and rows overflow: a scrollbar
            width -= self.styles.scrollbar_size_vertical
        fixed = sum(
            cells for column, cells in zip(self.COLUMNS, self._widths, strict=True) if column not in self._whole
        )
        spare = width - fixed - 2 * self.cell_padding * len(self.COLUMNS)
        path, close = self._whole["path"], self._whole["close"]
        path = min(path, max(self.LEAST_WIDTH, spare - min(close, spare // 2)))
        return path, max(self.LEAST_WIDTH, spare - path)

    def style_of(self, component: str) -> Style:
        """The theme's style for a kind of text: sent, received, warning, error, muted."""
        # Partial: only what the component class sets; the background stays the cell's.
        return self.get_component_rich_style(f"connections--{component}", partial=True)

    def _cells(self, entry: ConnectionEntry, several: bool) -> list[Text]:
        style = self.style_of
        connection = entry.connection
        state = connection_state(connection)
        dot_style = style(STATE_STYLES[state])
        end = connection.disconnected_at or self.store.as_of or time()
        duration = format_duration(max(0.0, end - connection.connected_at))
        query = f"?{connection.query_string}" if connection.query_string else ""
        path_width, close_width = self._cut
        if connection.denial_status is not None:
            close = Text(f"HTTP {connection.denial_status}", style("error"))
        else:
            close = Text(_close_text(connection.close_code, connection.close_reason))
        self._whole["close"] = max(self._whole["close"], close.cell_len)
        close.truncate(close_width, overflow="ellipsis")
        host = f"@{connection.host}" if connection.host and connection.host != LOCAL_HOST else ""
        producer = f"  {connection.app}{host}:{connection.pid}" if several and connection.pid else ""
        path = f"{connection.path}{query}" or "(unknown)"
        # The handler's short name, dimmed, when the path leaves room for it.
        handler = f"  {short_handler(connection.handler)}" if connection.handler else ""
        self._whole["path"] = max(self._whole["path"], len(path) + len(handler) + len(producer))
        if len(path) + len(handler) + len(producer) > path_width:
            handler = ""
        return [
            Text.assemble((STATE_DOTS.get(connection.state, "●"), dot_style), f" c{entry.number}"),
            # With several app processes feeding the inspector, which one this came from.
            Text.assemble(
                _clip(path, max(1, path_width - len(producer))),
                (handler, style("muted")),
                (producer, style("muted")),
            ),
            self._state_cell(connection, state, duration, dot_style),
            Text(f"{connection.messages_sent:,} · {format_size(connection.bytes_sent)}", style("sent")),
            Text(f"{connection.messages_received:,} · {format_size(connection.bytes_received)}", style("received")),
            self._rtt_cell(entry),
            self._missing_cell(connection),
            close,
        ]

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
