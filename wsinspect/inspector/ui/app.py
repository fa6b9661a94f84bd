"""The inspector: a Textual app over a session store, live (fed by the Unix server) or from a file."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from datetime import datetime
from pathlib import Path
from time import time
from typing import ClassVar

from rich.text import Text
from textual import on
from textual.app import App, ComposeResult, SystemCommand
from textual.binding import Binding, BindingType
from textual.containers import Horizontal
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Input, Static

from ...model import SystemEvent
from ..files import SessionFileError, write_session
from ..filters import FilterError, Filters
from ..server import InspectorServer
from ..store import Store
from .connections import ConnectionTable
from .detail import DetailPane, DetailScroll
from .lifecycle import LifecyclePanel
from .screens import ExportScreen, HelpScreen
from .timeline import TimelineView

REFRESH_PER_SECOND = 30


class InspectorApp(App[None]):
    """Live when given a server; otherwise it shows what the store holds (``wsinspect open``)."""

    TITLE = "wsinspect"
    CSS = """
    Screen { layout: vertical; }
    #status { height: 1; background: $panel; color: $text; padding: 0 1; }
    #filters { height: 1; padding: 0 1; color: $text-muted; }
    #filters.-active { color: $warning; }
    #filter-input { display: none; height: 3; }
    #filter-input.-shown { display: block; }
    #top { height: 30%; min-height: 6; }
    #connections { width: 1fr; }
    #lifecycle { width: 56; padding: 0 1; border-left: solid $panel-lighten-2; }
    #timeline { height: 1fr; min-height: 4; border-top: solid $panel-lighten-2; }
    #detail-scroll { height: 25%; min-height: 4; border-top: solid $panel-lighten-2; padding: 0 1; }
    #legend { height: 1; padding: 0 1; color: $text-muted; }
    .narrow #lifecycle { display: none; }
    .narrow #top { height: 25%; }
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("q", "quit", "Quit"),
        Binding("question_mark", "help", "Help"),
        Binding("slash", "filter_text", "Filter"),
        Binding("x", "toggle_regex", "Regex", show=False),
        Binding("d", "cycle_direction", "Direction"),
        Binding("t", "cycle_kind", "Kind"),
        Binding("p", "toggle_ping_pong", "Ping/pong"),
        Binding("c", "toggle_connection_only", "This conn"),
        Binding("escape", "clear_filters", "Clear filters", show=False),
        Binding("r", "toggle_raw", "Raw", show=False),
        Binding("y", "copy", "Copy"),
        Binding("e", "export", "Export"),
        Binding("E", "export_as", "Export as", show=False),
        Binding("ctrl+l", "clear_session", "Clear", show=False),
        Binding("tab", "focus_next", "Switch", show=False),
    ]

    def __init__(
        self,
        store: Store,
        *,
        server: InspectorServer | None = None,
        source: str = "",
        export_dir: Path | None = None,
    ) -> None:
        super().__init__()
        self.store = store
        self.server = server
        self.source = source or (f"listening on {server.path}" if server else "")
        self.export_dir = export_dir or Path.cwd()
        self.filters = Filters()
        self.filter_error = ""
        self._dirty: set[str] = set()
        store.listeners.append(self._mark_dirty)
        self._last_version: tuple[int, int, int] = (-1, -1, -1)

    def _mark_dirty(self, connection_ids: set[str]) -> None:
        self._dirty.update(connection_ids)

    # -- layout ----------------------------------------------------------------------------

    def compose(self) -> ComposeResult:
        yield Static(id="status")
        yield Static(id="filters")
        yield Input(placeholder="filter frames: text (x toggles regex), Enter applies, Esc cancels", id="filter-input")
        with Horizontal(id="top"):
            yield ConnectionTable(self.store, id="connections")
            yield LifecyclePanel(id="lifecycle")
        yield TimelineView(self.store, id="timeline")
        with DetailScroll(id="detail-scroll"):
            yield DetailPane(id="detail")
        yield Static("→ sent by the app   ← received by the app   ◉ lifecycle and system events", id="legend")
        yield Footer()

    @property
    def timeline(self) -> TimelineView:
        return self.query_one(TimelineView)

    @property
    def table(self) -> ConnectionTable:
        return self.query_one(ConnectionTable)

    async def on_mount(self) -> None:
        if self.server is not None:
            await self.server.start()
        timeline = self.timeline
        timeline.focus()
        # A saved session reads from its start; a live one follows the newest frames.
        timeline.following = self.server is not None
        self._refresh_all()
        if self.server is None:
            timeline.action_first()
        self.set_interval(1 / REFRESH_PER_SECOND, self._tick)
        self.set_interval(0.5, self._tick_durations)

    async def on_unmount(self) -> None:
        if self.server is not None:
            await self.server.close()

    def on_resize(self) -> None:
        self.screen.set_class(self.size.width < 120, "narrow")

    # -- refresh: batched, at most REFRESH_PER_SECOND times a second -------------------------

    def _tick(self) -> None:
        store = self.store
        version = (len(store.rows), store.rows_trimmed, len(store.entries))
        if version == self._last_version and not self._dirty:
            return
        self._last_version = version
        if self.timeline.origin is None and store.entries and self.filters.connection_id is None:
            self._apply_filters()  # the first connection: times count from the session's start
        self.timeline.numbers = {cid: n for n, cid in enumerate(store.entries, start=1)}
        self.timeline.sync()
        dirty, self._dirty = self._dirty, set()
        self.table.sync(dirty)
        self._update_status()
        self._update_filters()
        if self._selected_connection() in dirty:
            self._update_lifecycle()

    def _tick_durations(self) -> None:
        if any(entry.connection.state != "closed" for entry in self.store.entries.values()):
            self.table.sync(set())
            self._update_lifecycle()
            self._update_status()

    def _refresh_all(self) -> None:
        self.timeline.numbers = {cid: n for n, cid in enumerate(self.store.entries, start=1)}
        self.table.sync(None)
        self._apply_filters()
        self._update_status()
        self._update_lifecycle()

    def _update_status(self) -> None:
        entries = self.store.entries.values()
        active = sum(entry.connection.state != "closed" for entry in entries)
        timeline = self.timeline
        text = Text()
        text.append("wsinspect ", style="bold")
        # Most important first: on a narrow terminal the end of the line is cut.
        if self.server is None:
            text.append(" ■ offline ", style="bold")
        elif timeline.following:
            text.append(" ▶ following ", style="bold")
        else:
            text.append(f" ⏸ paused +{timeline.new_while_paused} new (G resumes) ", style="bold reverse")
        text.append(f" {active} active / {len(self.store.entries)} connections ")
        text.append(f" {self.store.frames_received:,} frames ")
        if self.server is not None:
            text.append(f" {len(self.server.producers)} apps ")
        text.append(f" {self.source}" if self.source else "", style="dim")
        self.query_one("#status", Static).update(text)

    def _update_filters(self) -> None:
        widget = self.query_one("#filters", Static)
        shown = len(self.timeline.index)
        total = len(self.store.rows)
        if self.filter_error:
            widget.update(Text(f"⚠ {self.filter_error}", style="bold red"))
        elif self.filters.active:
            chips = "  ".join(f"[{chip}]" for chip in self.filters.describe())
            # Text, not markup: a chip such as [sent only] would read as a markup tag.
            widget.update(Text(f"filters: {chips}   {shown:,} of {total:,} rows match   (Esc clears)"))
        else:
            widget.update(
                Text(f"no filters   {total:,} rows   (/ text, d direction, t kind, p ping/pong, c connection)")
            )
        widget.set_class(self.filters.active, "-active")

    def _update_lifecycle(self) -> None:
        panels = self.query(LifecyclePanel)  # none while another screen (help, palette) is on top
        if panels:
            panels.first().show(self.store, self._selected_connection())

    def _selected_connection(self) -> str | None:
        row = self.timeline.selected_row()
        if self.focused is self.table or row is None or row[0] is None:
            return self.table.selected_id()
        return row[0]

    # -- selection -------------------------------------------------------------------------

    @on(TimelineView.RowSelected)
    def _row_selected(self, event: TimelineView.RowSelected) -> None:
        row = event.row
        entry = self.store.entries.get(row[0]) if row and row[0] else None
        self.query_one(DetailPane).show(row, entry.connection if entry else None, self.timeline.origin)
        self._update_lifecycle()
        self._update_status()

    @on(DataTable.RowHighlighted, "#connections")
    def _connection_highlighted(self) -> None:
        self._update_lifecycle()
        if self.filters.connection_id is not None:
            self._set_filters(dataclasses.replace(self.filters, connection_id=self.table.selected_id()))

    def on_descendant_focus(self) -> None:
        self._update_lifecycle()

    # -- filters ---------------------------------------------------------------------------

    def _set_filters(self, filters: Filters) -> None:
        self.filters = filters
        self._apply_filters()

    def _apply_filters(self) -> None:
        # One connection: times from its start. Interleaved: from the session's start, so they sort.
        starts = [entry.connection.connected_at for entry in self.store.entries.values()]
        self.timeline.origin = None if self.filters.connection_id or not starts else min(starts)
        try:
            matcher = self.filters.matcher() if self.filters.active else None
        except FilterError as exc:
            self.filter_error = str(exc)
            self._update_filters()
            return
        self.filter_error = ""
        self.timeline.set_matcher(matcher)
        self._update_filters()

    def action_filter_text(self) -> None:
        box = self.query_one("#filter-input", Input)
        box.value = self.filters.text
        box.add_class("-shown")
        box.focus()

    @on(Input.Submitted, "#filter-input")
    def _filter_submitted(self, event: Input.Submitted) -> None:
        self._set_filters(dataclasses.replace(self.filters, text=event.value))
        self._close_filter_input()

    def _close_filter_input(self) -> None:
        box = self.query_one("#filter-input", Input)
        box.remove_class("-shown")
        self.timeline.focus()

    def action_toggle_regex(self) -> None:
        self._set_filters(dataclasses.replace(self.filters, regex=not self.filters.regex))

    def action_cycle_direction(self) -> None:
        self._set_filters(self.filters.cycle_direction())

    def action_cycle_kind(self) -> None:
        self._set_filters(self.filters.cycle_kind())

    def action_toggle_ping_pong(self) -> None:
        self._set_filters(dataclasses.replace(self.filters, hide_ping_pong=not self.filters.hide_ping_pong))

    def action_toggle_connection_only(self) -> None:
        if self.filters.connection_id is not None:
            self._set_filters(dataclasses.replace(self.filters, connection_id=None))
            return
        target = self._selected_connection()
        if target is None:
            self.notify("No connection selected", severity="warning")
            return
        self._set_filters(dataclasses.replace(self.filters, connection_id=target))

    def action_clear_filters(self) -> None:
        box = self.query_one("#filter-input", Input)
        if box.has_class("-shown"):
            self._close_filter_input()
            return
        self._set_filters(Filters())

    # -- actions ---------------------------------------------------------------------------

    def action_help(self) -> None:
        self.push_screen(HelpScreen())

    def action_toggle_raw(self) -> None:
        detail = self.query_one(DetailPane)
        detail.raw = not detail.raw

    def action_copy(self) -> None:
        row = self.timeline.selected_row()
        if row is None:
            self.notify("No frame selected", severity="warning")
            return
        item = row[1]
        content = item.text if isinstance(item, SystemEvent) else item.content
        text = content.hex(" ") if isinstance(content, bytes) else str(content or "")
        self.copy_to_clipboard(text)
        self.notify(f"Copied {len(text):,} characters to the clipboard")

    def action_export(self) -> None:
        self.export_to(self.export_dir / f"wsinspect-{datetime.now():%Y%m%d-%H%M%S}.json")

    def action_export_as(self) -> None:
        default = self.export_dir / f"wsinspect-{datetime.now():%Y%m%d-%H%M%S}.json"

        def chosen(path: str | None) -> None:
            if path:
                self.export_to(self.export_dir / Path(path).expanduser())

        self.push_screen(ExportScreen(str(default)), chosen)

    def export_to(self, path: Path) -> None:
        """Write the session there: session JSON, or HAR when the name ends in .har."""
        connections = self.store.connections()
        try:
            write_session(path, connections, time())
        except SessionFileError as exc:
            self.notify(str(exc), severity="error", timeout=10)
            return
        frames = sum(len(connection.messages) for connection in connections)
        self.notify(f"Exported {len(connections)} connections, {frames:,} frames to {path}", timeout=10)
        self.last_export = path

    def action_clear_session(self) -> None:
        self.store.clear()
        self._dirty.clear()
        self._refresh_all()
        self.notify("Session cleared")

    def get_system_commands(self, screen: Screen[object]) -> Iterable[SystemCommand]:
        yield from super().get_system_commands(screen)
        yield SystemCommand("Filter frames by text", "Show only frames containing a text (/)", self.action_filter_text)
        yield SystemCommand(
            "Toggle regex filter", "Treat the text filter as a regular expression (x)", self.action_toggle_regex
        )
        yield SystemCommand("Cycle direction filter", "Both, sent only, received only (d)", self.action_cycle_direction)
        yield SystemCommand("Cycle kind filter", "All, text, binary, control (t)", self.action_cycle_kind)
        yield SystemCommand("Hide ping/pong", "Hide or show ping and pong frames (p)", self.action_toggle_ping_pong)
        yield SystemCommand(
            "This connection only", "Only the selected connection's frames (c)", self.action_toggle_connection_only
        )
        yield SystemCommand("Clear filters", "Remove every filter (Esc)", self.action_clear_filters)
        yield SystemCommand("Export session", "Write the session JSON to the working directory (e)", self.action_export)
        yield SystemCommand("Export session as…", "Choose the file; .har writes HAR 1.2 (E)", self.action_export_as)
        yield SystemCommand("Copy frame", "Copy the selected frame's content (y)", self.action_copy)
        yield SystemCommand("Raw / pretty JSON", "Toggle the detail pane's JSON view (r)", self.action_toggle_raw)
        yield SystemCommand("Clear session", "Forget every connection and frame (ctrl+l)", self.action_clear_session)
        yield SystemCommand("Follow", "Jump to the newest frame and follow (G)", self.timeline.action_follow)
        yield SystemCommand("Help", "Every key (?)", self.action_help)
