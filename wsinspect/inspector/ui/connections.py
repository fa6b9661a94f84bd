"""The connections table: one row per connection, its state, counts, round trip and close."""

from __future__ import annotations

from time import time

from rich.text import Text
from textual.coordinate import Coordinate
from textual.widgets import DataTable

from ...model import Connection, describe_close
from ..formatting import format_duration, format_size, short_duration
from ..store import ConnectionEntry, Store, health
from .timeline import Palette

STATE_DOTS = {"connecting": "◌", "open": "●", "closing": "◐", "closed": "○"}


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

    def __init__(self, store: Store, *, id: str | None = None) -> None:
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


def _rtt_cell(entry: ConnectionEntry, palette: Palette) -> Text:
    connection = entry.connection
    state = health(connection, entry.unanswered_ping, time())
    if state == "timeout":
        return Text("✖ timeout", palette.error)
    if state == "unknown":
        return Text("n/a", palette.muted)
    rtt = short_duration(connection.last_rtt) if connection.last_rtt is not None else "—"
    return Text(f"▲ late ({rtt})", palette.warning) if state == "late" else Text(rtt)


def _clip(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"
