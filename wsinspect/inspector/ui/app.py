"""The inspector: a Textual app over a session store, live (fed by the Unix server) or from a file."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import os
import signal
from collections.abc import Callable, Iterable, Iterator
from functools import partial
from pathlib import Path
from time import monotonic, process_time, time
from typing import Any, ClassVar

from rich.text import Text
from textual import events, on
from textual.app import App, ComposeResult, SystemCommand
from textual.binding import Binding, BindingType
from textual.containers import Horizontal
from textual.css.query import NoMatches
from textual.markup import escape
from textual.screen import Screen
from textual.widget import Widget
from textual.widgets import Input, ProgressBar, Static

from ...decoders import warnings as decoder_warnings
from ...model import Frame, LogLine, SystemEvent
from ...sessions import SessionFileError
from ..core.describe import log_text
from ..core.filters import FilterError, Filters
from ..core.interface import StoreView
from ..core.pacing import RedrawPacer
from ..server import InspectorServer
from .connections import ConnectionTable
from .detail import REQUEST_EVENTS, DetailPane, DetailScroll
from .export import ExportFlow
from .filter_bar import FilterBar, Purpose
from .footer import InspectorFooter
from .keys import KeyHelp, bindings_of, bound_keys, help_rows, keys_label
from .lifecycle import LifecyclePanel
from .payloads import Payloads
from .screens import (
    DecoderScreen,
    HelpScreen,
)
from .status import empty_text, filters_line, status_line
from .timeline import TimelineView

# A live store says when it changed (InspectorServer.on_change): the screen looks at it then, and
# while nothing comes PANELS_PER_SECOND times a second (a process that wakes often takes a core
# from the app on a busy machine). A store read from a file is looked at this often: a frame after
# a quiet spell shows at once, and a big file is read a slice a look.
REFRESH_PER_SECOND = 30
# While frames keep coming, the timeline scrolls every RedrawPacer.interval (each scroll redraws it):
# 4 to 10 times a second, as often as the screen's CPU budget allows.
# The table, the lifecycle panel, the status lines and the detail of the newest frame change at most
# this often, and while frames flow once every PANELS_EVERY scrolls: still readable, and redrawing
# them costs more than the timeline (the lifecycle panel and the detail are drawn whole).
PANELS_PER_SECOND = 4
PANELS_EVERY = 4
# Open connections' durations (the table, the lifecycle panel) go on this often: each time the
# table draws again the rows of the open connections on screen.
DURATIONS_EVERY = 1.0  # seconds
# The screen is not painted before its first layout (see on_ready), but never held longer than this.
FIRST_PAINT_WITHIN = 1.0  # seconds
LEGEND = "→ sent by the app   ← received by the app   ◉ lifecycle and system events   ≡ what the handler logged"
# Mouse reports off, the cursor shown, the main screen back: what a terminal needs after a hang-up.
TERMINAL_RESET = b"\x1b[?1000l\x1b[?1003l\x1b[?1006l\x1b[?1015l\x1b[?25h\x1b[?1049l"
# n and N share a row of the help.
FIND = Binding.Group("The next / previous match of the search")
# The keys that open the text box are priority bindings: they run as the key arrives, before the
# keys after it are handed to the focused widget, so that "/err" typed in one go (a paste, a slow
# SSH link) puts "err" in the box rather than exporting (e) and showing raw payloads (r). A text
# box with the focus, or another screen on top, takes them as keys (see InspectorApp.check_action).
OPENS_THE_TEXT_BOX = frozenset({"filter_text", "filter_fields", "search_text", "match_connections", "pair_by"})


class InspectorApp(ExportFlow):
    """Live when given a server; otherwise it shows what the store holds (``wsinspect open``)."""

    TITLE = "wsinspect"
    CSS = """
    Screen { layout: vertical; }
    #status { height: 1; background: $panel; color: $text; padding: 0 1; }
    #filters { height: 1; padding: 0 1; color: $text-muted; }
    #filters.-active { color: $warning; }
    #filters.-editing { display: none; }  /* the filter bar in its place */
    #top { height: 30%; min-height: 6; }
    #connections { width: 1fr; }
    #lifecycle { width: 56; padding: 0 1; border-left: solid $panel-lighten-2; }
    #timeline { height: 1fr; min-height: 4; border-top: solid $panel-lighten-2; }
    #detail-scroll { height: 25%; min-height: 4; border-top: solid $panel-lighten-2; padding: 0 1; }
    #legend { height: 1; padding: 0 1; color: $text-muted; }
    #legend.-problem { color: $error; text-style: bold; }
    #export { display: none; height: 1; padding: 0 1; background: $panel; }
    #export-label { width: auto; padding-right: 2; }
    Screen.-narrow #lifecycle { display: none; }
    Screen.-narrow #top { height: 25%; }
    """
    # Below 120 columns the lifecycle panel goes: the table needs the width.
    HORIZONTAL_BREAKPOINTS = [(0, "-narrow"), (120, "-wide")]  # noqa: RUF012 (a ClassVar in App)

    # The footer shows the ones with show=True, in this order; the help and the palette show them all.
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("q", "quit", "Quit", id="quit", tooltip="Quit (with frames not exported, it asks first)"),
        Binding("question_mark", "help", "Help", id="help", tooltip="This help"),
        Binding(
            "slash",
            "filter_text",
            "Filter",
            id="filter.text",
            priority=True,  # see OPENS_THE_TEXT_BOX
            tooltip="Filter frames by text (Enter applies, Esc cancels)",
        ),
        Binding(
            "w",
            "filter_fields",
            "Where",
            show=False,
            id="filter.fields",
            priority=True,  # see OPENS_THE_TEXT_BOX
            tooltip='Filter frames on the fields of decoded payloads: type == "chat" and payload.symbol = WSI',
        ),
        Binding(
            "s",
            "search_text",
            "Search",
            id="search.text",
            priority=True,  # see OPENS_THE_TEXT_BOX
            tooltip="Search frames by text, hiding none (n / N: next / previous match)",
        ),
        Binding("n", "find(True)", "Next match", show=False, id="search.next", tooltip="The next match", group=FIND),
        Binding(
            "N",
            "find(False)",
            "Previous match",
            show=False,
            id="search.previous",
            tooltip="The previous match",
            group=FIND,
        ),
        Binding(
            "f",
            "match_connections",
            "Find conns",
            show=False,
            id="connections.match",
            priority=True,  # see OPENS_THE_TEXT_BOX
            tooltip="List only the connections whose path or state (open, closed, error, slow…) holds a text",
        ),
        Binding(
            "o",
            "toggle_order",
            "Slowest first",
            show=False,
            id="connections.order",
            tooltip="Order the connections: those whose sends waited longest on the client first / by arrival",
        ),
        Binding(
            "x",
            "toggle_regex",
            "Regex filter",
            show=False,
            id="filter.regex",
            tooltip="Toggle regex for the text filter and the search",
        ),
        Binding(
            "d",
            "cycle_direction",
            "Direction",
            id="filter.direction",
            tooltip="Direction: both → sent only → received only",
        ),
        Binding("t", "cycle_kind", "Kind", id="filter.kind", tooltip="Kind: all → text → binary → control → logs"),
        Binding("p", "toggle_ping_pong", "Ping/pong", id="filter.ping_pong", tooltip="Hide / show ping and pong"),
        Binding(
            "c",
            "toggle_connection_only",
            "This conn",
            id="filter.connection",
            tooltip="This connection only / all connections",
        ),
        Binding(
            "escape",
            "clear_filters",
            "Clear filters",
            show=False,
            id="filter.clear",
            tooltip="Clear every filter, the search and the connections' filter",
        ),
        Binding(
            "r",
            "toggle_raw",
            "Raw / pretty JSON",
            show=False,
            id="detail.raw",
            tooltip="Raw / decoded (pretty JSON) payload in the detail pane",
        ),
        Binding(
            "h",
            "toggle_hex",
            "Hex view",
            show=False,
            id="detail.hex",
            tooltip="Hex dump / decoded view of the selected payload in the detail pane",
        ),
        Binding(
            "D",
            "choose_decoder",
            "Decoder",
            show=False,
            id="connection.decoder",
            tooltip="Choose how the selected connection's payloads are decoded (auto, a format, raw)",
        ),
        Binding(
            "P",
            "partner",
            "Request / reply",
            show=False,
            id="frame.partner",
            tooltip="Go to the selected request's reply, or to the reply's request",
        ),
        Binding(
            "b",
            "pair_by",
            "Pair by",
            show=False,
            id="pair.by",
            priority=True,  # see OPENS_THE_TEXT_BOX
            tooltip="Pair requests and replies by a JSON field (empty: by the protocols' own ids)",
        ),
        Binding("y", "copy", "Copy", id="frame.copy", tooltip="Copy the selected frame's content"),
        Binding("e", "export", "Export", id="export", tooltip="Export the session to wsinspect-<date>-<time>.json"),
        Binding(
            "E",
            "export_as",
            "Export as…",
            show=False,
            id="export.as",
            tooltip="Export to a file you name (.har: HAR 1.2)",
        ),
        Binding(
            "R",
            "replay_connection",
            "Replay",
            show=False,
            id="connection.replay",
            tooltip="Write the selected connection to a session file and show the command that replays it",
        ),
        Binding(
            "ctrl+l",
            "clear_session",
            "Clear session",
            show=False,
            id="session.clear",
            tooltip="Clear the session (with frames not exported, it asks first)",
        ),
        Binding(
            "tab",
            "focus_next",
            "Switch focus",
            show=False,
            id="focus.next",
            tooltip="Switch between the timeline and the connections",
        ),
        # Textual adds this one unless it is declared: declared, it has an id and a place in the help.
        Binding(
            App.COMMAND_PALETTE_BINDING,
            "command_palette",
            "palette",
            show=False,
            priority=True,
            id="command_palette",
            tooltip="Command palette",
        ),
    ]

    def __init__(
        self,
        store: StoreView,
        *,
        server: InspectorServer | None = None,
        source: str = "",
        export_dir: Path | None = None,
        pair_by: str = "",
        no_confirm: bool = False,
    ) -> None:
        """``pair_by``: a JSON field (``a.b``) that pairs requests with replies (--pair-by).
        ``no_confirm``: q and ctrl+l never ask first, whatever was not exported (--no-confirm)."""
        super().__init__()
        self.store = store
        self.payloads = Payloads(store)
        self.payloads.set_pair_by(pair_by)
        self.server = server
        self.source = source or (f"listening on {server.path}" if server else "")
        self.export_dir = export_dir or Path.cwd()
        self.filters = Filters()
        self.applied_filters = Filters()  # what the timeline shows: the filters, unless they failed
        self.filter_error = ""
        self.search_text = ""  # what n / N find (s): marked, nothing hidden
        self._dirty: set[str] = set()
        store.listeners.append(self._mark_dirty)
        self._last_version: tuple[int, int, int] = (-1, -1, -1)
        self._panels_due = False
        self._durations_due = False  # open connections' durations (in the lifecycle panel) went on
        self._panels_at = 0.0  # when the panels last changed
        self._synced_at = 0.0  # when the timeline last took in frames
        self._sync_every = 0.0  # seconds
        self._wake: asyncio.TimerHandle | None = None  # the look at the live store asked for, pending
        self.pacer = RedrawPacer()
        self._followed_row: TimelineView.RowSelected | None = None  # the newest frame, not shown yet
        self._lines: dict[str, Text] = {}  # what the one-line widgets show
        self._search_shown: float | None = None  # the search progress the filter line shows
        self.no_confirm = no_confirm
        self.cleanups: list[Callable[[], object]] = []  # what leaving at once must still do (SIGHUP)
        # ``store.frames_received`` when the whole session was last exported: the frames after it
        # are saved nowhere. The frames of a file are (it was opened); a live store starts empty.
        self._saved_frames = store.frames_received
        self._capture_error = ""  # an opened capture that could not be read on: why
        self._clears = 0  # ctrl+l's: an export taken before a clear says nothing of the frames after it
        # Holds the screen's paints until its first layout is shown whole (see on_ready).
        self._unpainted = contextlib.ExitStack()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action in OPENS_THE_TEXT_BOX:
            return not isinstance(self.focused, Input) and self.screen is self.screen_stack[0]
        return True

    def _hang_up(self) -> None:
        """SIGHUP: the terminal is gone, so nothing can be drawn or restored, and Textual's own exit
        would wait on it for ever. Remove what a quit removes, then leave at once."""
        if self.server is not None:
            self.server.remove_socket()
        for cleanup in self.cleanups:
            with contextlib.suppress(Exception):
                cleanup()
        with contextlib.suppress(OSError):  # should a terminal be there after all (kill -HUP)
            os.write(1, TERMINAL_RESET)
        os._exit(0)

    def _mark_dirty(self, connection_ids: set[str]) -> None:
        self._dirty.update(connection_ids)

    # -- layout ----------------------------------------------------------------------------

    def compose(self) -> ComposeResult:
        yield Static(id="status")
        yield Static(id="filters")
        yield FilterBar(id="filter-input")
        with Horizontal(id="top"):
            yield ConnectionTable(self.store, id="connections")
            yield LifecyclePanel(id="lifecycle")
        yield TimelineView(self.store, id="timeline")
        with DetailScroll(id="detail-scroll"):
            yield DetailPane(id="detail")
        yield Static(LEGEND, id="legend")
        with Horizontal(id="export"):
            yield Static(id="export-label")
            yield ProgressBar(id="export-bar", show_eta=False)
        yield InspectorFooter()

    @property
    def timeline(self) -> TimelineView:
        return self.query_one(TimelineView)

    @property
    def table(self) -> ConnectionTable:
        return self.query_one(ConnectionTable)

    async def on_mount(self) -> None:
        # No paint before the first layout: until it no widget has a size, and what the table and
        # the lifecycle panel drew for none (the paths cut to the least, a sparkline of 8 slices)
        # would be drawn again a moment later. The screen shows first as it stays (issue 27).
        self._unpainted.enter_context(self.batch_update())
        # Killed (SIGTERM): quit as `q` does, so the socket and the demo's directory go with it.
        loop = asyncio.get_running_loop()
        loop.add_signal_handler(signal.SIGTERM, self.exit)
        loop.add_signal_handler(signal.SIGHUP, self._hang_up)
        if self.server is not None:
            await self.server.start()
        timeline = self.timeline
        timeline.payloads = self.query_one(DetailPane).payloads = self.payloads
        timeline.focus()
        # A saved session reads from its start; a live one, or a capture being written, follows
        # the newest frames.
        timeline.following = timeline.live = self.server is not None or self.store.writing
        # All the file holds before the first layout, which sizes the widgets by what they hold
        # (the table by its rows, the detail by its lines, and their scrollbars): an opened
        # capture's first rows too (all of a small one), as a session file's are.
        self._read_capture()
        self._refresh_all()
        if not timeline.live:
            timeline.action_first()
            # Its detail and its connection now, not when the selection's message comes round.
            self._show_row(TimelineView.RowSelected(timeline.selected_row()))
        for message in decoder_warnings():  # a third-party decoder that did not load
            self.notify(message, severity="warning", timeout=10)
        if self.server is not None:
            self.server.on_change = self._store_changed
        self.set_interval(1 / (REFRESH_PER_SECOND if self.server is None else PANELS_PER_SECOND), self._tick)
        self.set_interval(DURATIONS_EVERY, self._tick_durations)
        self.set_timer(FIRST_PAINT_WITHIN, self._unpainted.close)  # should the first layout not come

    def on_ready(self, event: events.Ready) -> None:
        """The first layout is done: every widget has its size. Fit to it what is measured by
        the widgets' sizes, then let the screen be painted."""
        self.table.sync(None)  # the path and close columns share the table's width
        self._update_lifecycle()  # the rate sparkline has a slice per column of the panel
        # One paint, once what this queued is in (the table's height, its scrollbars): a callback
        # sent by way of the table runs after its refresh.
        self.table.call_after_refresh(self._unpainted.close)

    async def on_unmount(self) -> None:
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGHUP):
            loop.remove_signal_handler(signum)
        if self.server is not None:
            self.server.on_change = None
            await self.server.close()
        if self._wake is not None:
            self._wake.cancel()
        self.store.close()

    # -- refresh: when the live store changed (paced), else REFRESH_PER_SECOND times a second --

    def _store_changed(self) -> None:
        """The live store changed: look at it when the timeline may scroll next (at once after a
        quiet spell)."""
        if self._wake is None:
            delay = max(0.0, self._synced_at + self._sync_every - time())
            self._wake = asyncio.get_running_loop().call_later(delay, self._wake_up)

    def _wake_up(self) -> None:
        self._wake = None
        self.call_later(self._look)  # in the app's own turn (a message), not the loop's callback

    def _look(self) -> None:
        # Frames taken in: once more when the next scroll is due, to see whether they stopped
        # (the panels then show the last of them).
        if self._tick():
            self._store_changed()

    def _tick(self) -> bool:
        """Take in what changed; returns whether the timeline took in rows."""
        # While the app closes its widgets go before its timers stop: a tick then finds nothing.
        with contextlib.suppress(NoMatches):
            intake = self.server.busy if self.server is not None else 0.0
            self.pacer.measure(monotonic(), process_time() - intake)
            self._read_capture()
            added = self._take_in_changes()
            if self.timeline.search_progress != self._search_shown:
                self._update_filters()
            return added
        return False

    def _read_capture(self) -> None:
        """An opened capture: its next rows, or what the record writing it committed since."""
        store = self.store
        if self._capture_error:
            return
        reading = store.reading or store.writing
        try:
            store.poll()
        except SessionFileError as exc:
            self._capture_error = str(exc)
            self.notify(f"{exc}; showing what was read before", severity="error", timeout=30)
        if reading and not (store.reading or store.writing):  # read whole, written for good
            self._panels_due = True
            if self.timeline.live:  # its record ended: nothing more to follow, End goes to the last row
                self.timeline.live = self.timeline.following = False
                self.refresh_bindings()

    def _take_in_changes(self) -> bool:
        store = self.store
        version = (len(store.rows), store.rows_trimmed, len(store.entries))
        now = time()
        synced = False
        added = 0
        if (version != self._last_version or self._dirty) and now - self._synced_at >= self._sync_every:
            synced = True
            self._last_version = version
            self._synced_at = now
            timeline = self.timeline
            if timeline.origin is None and store.entries and self.filters.connection_id is None:
                self._apply_filters()  # the first connection: times count from the session's start
            # Each refresh of a scrolling timeline redraws it whole: while frames keep coming, a
            # few redraws a second show them as well as thirty, for a fraction of the cost.
            added = timeline.sync()
            self._sync_every = self.pacer.interval if added else 0.0
            self._panels_due = True
        # While frames flow the panels change with a scroll of the timeline: one redraw for both.
        # Frames stopped when none came at the time of the next scroll.
        flowing = now - self._synced_at < self._sync_every
        every = max(1 / PANELS_PER_SECOND, PANELS_EVERY * self._sync_every)
        if self._panels_due and now - self._panels_at >= every and (synced or not flowing):
            self._refresh_panels()
        return added > 0

    def _refresh_panels(self) -> None:
        for failure in self.payloads.new_failures():
            self.notify(failure, severity="warning", timeout=10)
        self._panels_due = False
        self._panels_at = time()
        dirty, self._dirty = self._dirty, set()
        self.table.sync(dirty)  # open connections' durations too
        self._update_status()
        self._update_filters()
        if self._followed_row is not None:
            event, self._followed_row = self._followed_row, None
            self._show_row(event)
        elif self._durations_due or self._selected_connection() in dirty:
            self._update_lifecycle()
            self._update_handler_detail()
        self._durations_due = False

    def _tick_durations(self) -> None:
        if any(entry.connection.state != "closed" for entry in self.store.entries.values()):
            self._durations_due = self._panels_due = True

    def _forget_shown(self) -> None:
        self._dirty.clear()
        self.timeline.new_while_paused = 0
        self._refresh_all()

    def _refresh_all(self) -> None:
        self._followed_row = None
        self.table.sync(None)
        self._apply_filters()
        self._update_status()
        self._update_lifecycle()

    def _update_status(self) -> None:
        timeline = self.timeline
        line = status_line(
            self.store,
            producers=self.server.producers if self.server is not None else None,
            following=timeline.following,
            new_while_paused=timeline.new_while_paused,
            source=self.source,
            now=time(),
        )
        self._set_line("#status", line)

    def _update_filters(self) -> None:
        progress = self.timeline.search_progress
        line = filters_line(
            self.applied_filters,
            shown=len(self.timeline.index),
            total=len(self.store.rows),
            search=self.search_text,
            connections_match=self.table.match,
            slowest_first=self.table.by_wait,
            connections_shown=self.table.row_count,
            connections=len(self.store.entries),
            progress=progress,
            error=self.filter_error,
        )
        self._search_shown = progress
        self._set_line("#filters", line).set_class(self.applied_filters.active, "-active")
        self.timeline.empty_text = empty_text(self.store, live=self.server is not None, source=self.source)

    def _set_line(self, selector: str, text: Text) -> Static:
        """Show ``text`` in a one-line widget; one line high whatever it says, so no layout."""
        widget = self.query_one(selector, Static)
        if self._lines.get(selector) != text:
            self._lines[selector] = text
            widget.update(text, layout=False)
        return widget

    def _update_handler_detail(self) -> None:
        """The detail of a connect row says what the handler does, and for how long: kept up to date
        (with the lifecycle panel: when its connection changed, and once a second while one is open)."""
        details = self.query(DetailPane)
        detail = details.first() if details else None
        row = detail.row if detail is not None else None
        if detail is None or row is None or row[0] is None or not isinstance(row[1], SystemEvent):
            return
        if not row[1].text.startswith(REQUEST_EVENTS):
            return
        entry = self.store.entries.get(row[0])
        if entry is not None:
            detail.show(row, entry.connection, detail.origin, number=entry.number)

    def _update_lifecycle(self) -> None:
        panels = self.query(LifecyclePanel)  # none while another screen (help, palette) is on top
        if panels:
            panels.first().show(self.store, self._selected_connection(), self.payloads)

    def _selected_connection(self) -> str | None:
        # One selection: the table's row follows the selected frame's connection (see _show_row).
        return self.table.selected_id()

    # -- selection -------------------------------------------------------------------------

    @on(TimelineView.RowSelected)
    def _row_selected(self, event: TimelineView.RowSelected) -> None:
        if event.live:
            # Following a stream: the newest frame shows with the next refresh of the panels.
            self._followed_row = event
            self._panels_due = True
            return
        self._followed_row = None
        # A selection announced as the app closes finds its widgets gone (as _tick may).
        with contextlib.suppress(NoMatches):
            self._show_row(event)

    def _show_row(self, event: TimelineView.RowSelected) -> None:
        row = event.row
        entry = self.store.entries.get(row[0]) if row and row[0] else None
        item = row[1] if row else None
        detail = self.query_one(DetailPane)
        detail.as_of = self.store.as_of
        detail.show(
            row,
            entry.connection if entry else None,
            self.timeline.origin,
            number=entry.number if entry else None,
            frames=self.store.frames_near(entry.connection.connection_id, item)
            if entry and isinstance(item, Frame)
            else (),
        )
        if entry is not None:
            self.table.select(entry.connection.connection_id)
        self._update_lifecycle()
        self._update_status()

    @on(ConnectionTable.RowHighlighted, "#connections")
    def _connection_highlighted(self) -> None:
        with contextlib.suppress(NoMatches):  # a row highlighted as the app closes: its widgets are gone
            self._follow_table()

    def _follow_table(self) -> None:
        selected = self.table.selected_id()
        entry = self.store.entries.get(selected) if selected else None
        if self.focused is self.table and entry is not None:
            # One selection: moving in the table selects the connection's newest row in the timeline.
            self.timeline.select_newest_of(entry.number)
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
            selection = self.filters.selection(self.store.connection_number, self._decoded_tree)
        except FilterError as exc:
            self.filter_error = str(exc)
            self._update_filters()
            return
        self.filter_error = ""
        self.applied_filters = self.filters
        self.timeline.set_selection(selection)
        self._update_filters()

    def _decoded_tree(self, connection_id: str | None, frame: Frame) -> Any:
        """A payload's decoded tree, for a field filter (JSON text included); None when none decodes it."""
        decoded = self.payloads.decoded(connection_id, frame)
        return decoded.tree if decoded is not None else None

    def action_filter_fields(self) -> None:
        self._open_filter_bar("fields", self.filters.fields)

    def action_filter_text(self) -> None:
        self._open_filter_bar("filter", self.filters.text)

    def action_search_text(self) -> None:
        self._open_filter_bar("search", self.search_text)

    def action_partner(self) -> None:
        row = self.timeline.selected_row()
        item = row[1] if row is not None else None
        pairing = self.payloads.pairing(row[0]) if row is not None else None
        partner = pairing.partner(item) if pairing is not None and isinstance(item, Frame) else None
        if partner is None or not self.timeline.select_frame(partner):
            self.notify("No request or reply paired with this row", severity="warning")

    def action_pair_by(self) -> None:
        self._open_filter_bar("pair", ".".join(self.payloads.pair_by))

    def action_toggle_order(self) -> None:
        self.table.set_by_wait(not self.table.by_wait)
        self._update_filters()

    def action_match_connections(self) -> None:
        self._open_filter_bar("connections", self.table.match)

    def _open_filter_bar(self, purpose: Purpose, value: str) -> None:
        self.query_one(FilterBar).open(purpose, value)
        self.query_one("#filters").add_class("-editing")

    @on(FilterBar.Checked)
    def _filter_checked(self, event: FilterBar.Checked) -> None:
        """A field filter is checked as it is typed: the line below says what is wrong, if anything."""
        problem = event.problem
        legend = self.query_one("#legend", Static)
        legend.set_class(bool(problem), "-problem")
        legend.update(f"⚠ {problem} (Enter is refused until it is fixed)" if problem else LEGEND, layout=False)

    @on(FilterBar.Applied)
    def _filter_applied(self, event: FilterBar.Applied) -> None:
        self._close_filter_input()
        if event.purpose == "search":
            self._set_search(event.value)
        elif event.purpose == "fields":
            self._set_filters(dataclasses.replace(self.filters, fields=event.value))
        elif event.purpose == "pair":
            self.payloads.set_pair_by(event.value)
            self.timeline.set_highlight(self.timeline.highlight)  # redraws every row
            self._update_lifecycle()
            field = ".".join(self.payloads.pair_by)
            self.notify(f"Pairing by the field {field}" if field else "Pairing by the protocols' own ids")
        elif event.purpose == "connections":
            self.table.set_match(event.value)
            self._update_filters()
        else:
            self._set_filters(dataclasses.replace(self.filters, text=event.value))

    def _set_search(self, text: str) -> None:
        """Mark what ``text`` finds in the timeline and the detail pane, and go to the next match."""
        try:
            search = Filters(text=text, regex=self.filters.regex).search()
        except FilterError as exc:
            self.notify(f"{exc} (the search is unchanged)", severity="error")
            return
        self.search_text = text
        self.timeline.set_highlight(search)
        self.query_one(DetailPane).set_highlight(search)
        self._update_filters()
        if search is not None:
            self.action_find(True)

    def action_find(self, forward: bool) -> None:
        if not self.search_text:
            self.notify("Nothing to find: s searches", severity="warning")
            return
        found = self.timeline.find(forward)
        if found is False:
            self.notify(f'No match for "{self.search_text}" among the rows shown', severity="warning")
        elif found is None:
            self.notify(f"Search wrapped to the {'start' if forward else 'end'}")

    def _close_filter_input(self) -> None:
        self.query_one(FilterBar).close()
        self.query_one("#filters").remove_class("-editing")
        legend = self.query_one("#legend", Static)
        legend.remove_class("-problem")
        legend.update(LEGEND, layout=False)
        self.screen.set_focus(self.timeline)  # at once: the keys typed right after Enter are the timeline's

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
        if self.query_one(FilterBar).is_open:
            self._close_filter_input()
            return
        self._set_filters(Filters())
        if self.search_text:
            self._set_search("")
        if self.table.match:
            self.table.set_match("")
            self._update_filters()

    # -- actions ---------------------------------------------------------------------------

    def action_help(self) -> None:
        self.push_screen(HelpScreen(self.key_help()))

    def action_toggle_raw(self) -> None:
        detail = self.query_one(DetailPane)
        detail.raw = not detail.raw

    def action_toggle_hex(self) -> None:
        detail = self.query_one(DetailPane)
        detail.hex = not detail.hex

    def action_choose_decoder(self) -> None:
        connection_id = self._selected_connection()
        entry = self.store.entries.get(connection_id) if connection_id else None
        if connection_id is None or entry is None:
            self.notify("No connection selected", severity="warning")
            return

        def chosen(name: str | None) -> None:
            if name is None:
                return
            self.payloads.choose(connection_id, name)
            self.timeline.set_highlight(self.timeline.highlight)  # redraws every row
            self.query_one(DetailPane).refresh_detail()
            self.notify(f"c{entry.number} is decoded as {name}")

        names = self.payloads.names()
        self.push_screen(
            DecoderScreen(f"c{entry.number} {entry.connection.path}", names, self.payloads.choice(connection_id)),
            chosen,
        )

    def action_copy(self) -> None:
        row = self.timeline.selected_row()
        if row is None:
            self.notify("No frame selected", severity="warning")
            return
        item = row[1]
        if isinstance(item, LogLine):
            content: object = log_text(item)
        else:
            content = item.text if isinstance(item, SystemEvent) else item.content
        text = content.hex(" ") if isinstance(content, bytes) else str(content or "")
        self.copy_to_clipboard(text)
        self.notify(f"Copied {len(text):,} characters to the clipboard")

    # -- the key table: the help and the palette are generated from the bindings -------------

    @classmethod
    def key_bindings(cls) -> list[Binding]:
        """Every key of the main screen: the app's, the timeline's and the connection table's."""
        return bindings_of(cls.BINDINGS) + bindings_of(TimelineView.BINDINGS) + bindings_of(ConnectionTable.BINDINGS)

    def key_help(self) -> list[KeyHelp]:
        """The help's rows, with the keys the keymap moved where it moved them. Of the timeline's
        keys, only those that work here: End follows a live inspector, and goes to a saved session's
        last row (one row each, not both)."""
        timeline = self.timeline
        ours = {id(binding) for binding in bindings_of(TimelineView.BINDINGS)}
        bindings = [
            binding
            for binding in self.key_bindings()
            if id(binding) not in ours or timeline.check_action(binding.action, ()) is not False
        ]
        return help_rows(bindings, self._keymap)

    def get_system_commands(self, screen: Screen[object]) -> Iterable[SystemCommand]:
        ours = list(self._key_commands())
        titles = {command.title for command in ours}
        # Textual's own (theme, keys, screenshot…), less the ones a key of ours replaces (quit).
        yield from (command for command in super().get_system_commands(screen) if command.title not in titles)
        yield from ours

    def _key_commands(self) -> Iterator[SystemCommand]:
        """A command for every key but the palette's own: its description, its sentence and its keys."""
        main = self.screen_stack[0]  # the main screen, under the palette
        owners: dict[int, Widget] = {
            id(binding): main.query_one(TimelineView) for binding in bindings_of(TimelineView.BINDINGS)
        }
        owners.update(
            (id(binding), main.query_one(ConnectionTable)) for binding in bindings_of(ConnectionTable.BINDINGS)
        )
        for binding in self.key_bindings():
            if binding.action == "command_palette":
                continue
            keys = bound_keys(binding, self._keymap)
            label = f"{'keys' if len(keys) > 1 else 'key'} {keys_label(keys)}"
            yield SystemCommand(
                binding.description,
                escape(f"{binding.tooltip} — {label}"),
                partial(self.run_action, binding.action, owners.get(id(binding), self)),
            )
