"""The connections table: one row per connection, its state, counts, round trip and close."""

from __future__ import annotations

from time import time
from typing import ClassVar

from rich.style import Style
from rich.text import Text
from textual.coordinate import Coordinate
from textual.widgets import DataTable

from ...model import Connection, describe_close
from ..formatting import format_duration, format_size, short_duration
from ..store import ConnectionEntry, Store, health

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


class ConnectionTable(DataTable[Text]):
    """One row per connection: state, path, duration, counts, close, drops, producer."""

    COLUMNS = ("#", "path", "state", "→ sent", "← received", "rtt", "close", "dropped")

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

    def __init__(self, store: Store, *, id: str | None = None) -> None:
        super().__init__(id=id, cursor_type="row", zebra_stripes=False)
        self.store = store
        self.order: list[str] = []
        self._numbers: dict[str, int] = {}  # connection id → its number, c1 first
        self._cells_shown: dict[str, list[Text]] = {}  # connection id → its row's cells

    def on_mount(self) -> None:
        for column in self.COLUMNS:
            self.add_column(column, key=column)

    def sync(self, dirty: set[str] | None = None) -> None:
        """Add new connections, refresh the changed ones and the durations of the open ones."""
        entries = self.store.entries
        several = len({entry.connection.pid for entry in entries.values()}) > 1
        shown = self._cells_shown
        for connection_id, entry in entries.items():
            connection = entry.connection
            old = shown.get(connection_id)
            if old is None:
                self.order.append(connection_id)
                self._numbers[connection_id] = len(self.order)
                shown[connection_id] = cells = self._cells(entry, several)
                self.add_row(*cells, key=connection_id)
            elif dirty is None or connection_id in dirty or connection.state != "closed":
                shown[connection_id] = cells = self._cells(entry, several)
                for column, cell, before in zip(self.COLUMNS, cells, old, strict=True):
                    if cell != before:  # each update repaints the table; a wider cell re-lays it out
                        wider = cell.cell_len > self.columns[column].content_width  # type: ignore[index]
                        self.update_cell(connection_id, column, cell, update_width=wider)
        if len(shown) > len(entries):
            for connection_id in [key for key in self.order if key not in entries]:
                self.order.remove(connection_id)
                del shown[connection_id]
                self.remove_row(connection_id)
            self._numbers = {connection_id: n for n, connection_id in enumerate(self.order, start=1)}

    def selected_id(self) -> str | None:
        if not self.order or self.cursor_row >= len(self.order):
            return None
        return str(self.coordinate_to_cell_key(Coordinate(self.cursor_row, 0)).row_key.value)

    def style_of(self, component: str) -> Style:
        """The theme's style for a kind of text: sent, received, warning, error, muted."""
        # Partial: only what the component class sets; the background stays the cell's.
        return self.get_component_rich_style(f"connections--{component}", partial=True)

    def _cells(self, entry: ConnectionEntry, several: bool) -> list[Text]:
        style = self.style_of
        connection = entry.connection
        state = connection_state(connection)
        dot_style = style(STATE_STYLES[state])
        end = connection.disconnected_at or time()
        duration = format_duration(max(0.0, end - connection.connected_at))
        number = self._numbers[connection.connection_id]
        query = f"?{connection.query_string}" if connection.query_string else ""
        if connection.denial_status is not None:
            close = Text(f"HTTP {connection.denial_status}", style("error"))
        else:
            close = Text(_clip(describe_close(connection.close_code, connection.close_reason) or "—", 22))
        return [
            Text.assemble((STATE_DOTS.get(connection.state, "●"), dot_style), f" c{number}"),
            # With several app processes feeding the inspector, which one this came from.
            Text.assemble(
                f"{connection.path}{query}" or "(unknown)",
                (f"  {connection.app}:{connection.pid}" if several and connection.pid else "", style("muted")),
            ),
            Text(f"{state.capitalize()} ({duration})", dot_style),
            Text(f"{connection.messages_sent} · {format_size(connection.bytes_sent)}", style("sent")),
            Text(f"{connection.messages_received} · {format_size(connection.bytes_received)}", style("received")),
            self._rtt_cell(entry),
            close,
            Text(str(connection.messages_dropped) if connection.messages_dropped else "", style("warning")),
        ]

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
