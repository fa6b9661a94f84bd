"""The inspector's layout and its words as a user meets them in the first hour: resizing, a hundred
connections and more, long close reasons, one selection, saved sessions as a fixed moment, empty
states and the status line."""

from __future__ import annotations

import re
import threading
from pathlib import Path
from typing import Any

import pytest
from helpers.factories import close_frame, control_frame, text_frame
from helpers.tui import filters_line, make_app, status, text_of
from helpers.tui_data import BASE, CHAT_ID, TICKER_ID
from helpers.waiting import pilot_until
from textual.widgets import Footer, Input

from wsinspect.inspector.core.store import Store
from wsinspect.inspector.server import InspectorServer
from wsinspect.inspector.ui.app import InspectorApp
from wsinspect.inspector.ui.lifecycle import LifecyclePanel
from wsinspect.model import Connection

pytestmark = pytest.mark.usefixtures("utc_clock")

LONG_REASON = "the room was archived by its owner while you were away from it"


def many_connections(count: int, *, reason: str = "bye") -> list[Connection]:
    """``count`` closed connections of one text frame each and a close, one second apart."""
    connections = []
    for n in range(count):
        start = BASE + n
        connections.append(
            Connection(
                connection_id=f"conn-{n:04d}",
                path="/ws/chat",
                query_string="room=general",
                connected_at=start,
                accepted_at=start + 0.001,
                disconnected_at=start + 0.5,
                state="closed",
                close_code=4001,
                close_reason=reason,
                closed_by="server",
                messages_sent=1,
                bytes_sent=5,
                messages=[text_frame("hello", at=start + 0.1), close_frame(4001, reason, at=start + 0.4)],
            )
        )
    return connections


async def test_the_side_panel_follows_each_resize_at_once() -> None:
    app = make_app()
    async with app.run_test(size=(160, 45)) as pilot:
        panel = app.query_one(LifecyclePanel)
        assert panel.display
        await pilot.resize_terminal(80, 24)
        await pilot.pause()
        assert not panel.display  # narrow: gone with this resize, not the next one
        await pilot.resize_terminal(250, 60)
        await pilot.pause()
        assert panel.display
        await pilot.resize_terminal(119, 40)
        await pilot.pause()
        assert not panel.display


async def test_past_99_connections_the_ids_keep_their_columns() -> None:
    app = make_app(connections=many_connections(128))
    async with app.run_test(size=(160, 45)) as pilot:
        await pilot.press("G")
        await pilot.pause()
        lines = text_of(app.timeline).splitlines()
        last = [line for line in lines if " c128 " in line]
        assert last, lines
        # The tag, a space, then the arrow: c128 does not run into it.
        assert all(re.search(r" c128 +[→←◉] ", line) for line in last), last
        table = app.table
        assert not table.show_horizontal_scrollbar
        assert table.virtual_size.width <= table.scrollable_content_region.width
        header = text_of(table).splitlines()[0]
        assert "missing" in header
        assert "close" in header


async def test_the_close_column_takes_the_spare_width() -> None:
    app = make_app(connections=many_connections(3, reason=LONG_REASON))
    async with app.run_test(size=(250, 60)) as pilot:
        await pilot.pause()
        # At 250 columns the whole reason fits.
        await pilot_until(pilot, lambda: LONG_REASON in text_of(app.table), "the whole close reason")
        await pilot.resize_terminal(160, 45)
        await pilot.pause()
        await pilot_until(pilot, lambda: "…" in text_of(app.table), "the reason cut to the narrower table")
        table = app.table
        assert LONG_REASON not in text_of(table)
        assert not table.show_horizontal_scrollbar  # cut to fit, not pushed out of view
        assert "4001" in text_of(table)


async def test_the_table_highlights_the_selected_frames_connection() -> None:
    app = make_app()
    async with app.run_test(size=(160, 45)) as pilot:
        await pilot.press("g")  # the first row: the chat's connect
        await pilot.pause()
        assert app.table.selected_id() == CHAT_ID
        timeline = app.timeline
        # Down to the first row of the ticker: the table's highlight moves with it.
        while (row := timeline.selected_row()) is not None and row[0] != TICKER_ID:
            await pilot.press("down")
        await pilot.pause()
        assert app.table.selected_id() == TICKER_ID
        assert "/ws/ticker" in text_of(app.query_one(LifecyclePanel))


async def test_end_in_the_table_goes_to_the_newest_connection_without_scrolling_sideways() -> None:
    app = make_app(connections=many_connections(40, reason=LONG_REASON))
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.press("tab")
        assert app.focused is app.table
        await pilot.press("end")
        await pilot.pause()
        assert app.table.selected_id() == "conn-0039"
        assert app.table.scroll_x == 0
        assert "c40" in text_of(app.table)
        await pilot.press("home")
        await pilot.pause()
        assert app.table.selected_id() == "conn-0000"


async def test_a_saved_session_is_a_fixed_moment() -> None:
    connections = many_connections(2)
    still_open = connections[1]
    still_open.state = "open"
    still_open.disconnected_at = still_open.close_code = still_open.closed_by = None
    still_open.close_reason = ""
    still_open.messages = still_open.messages[:1]
    store = Store()
    exported_at = still_open.connected_at + 177.0
    store.load(connections, exported_at=exported_at)
    app = InspectorApp(store, source="fixture.json")
    async with app.run_test(size=(160, 45)) as pilot:
        await pilot.pause()
        line = status(app)
        assert "1 open at export / 2 connections" in line
        assert "active" not in line
        assert "Open (2m 57s)" in text_of(app.table)
        app.table.move_cursor(row=1)
        await pilot.pause()
        panel = text_of(app.query_one(LifecyclePanel))
        assert "open at export, for 2m 57s" in panel
        # The footer offers the last row, not a follow of a file that does not grow.
        footer = app.query_one(Footer)
        bindings = {binding.action for (_, binding, enabled, _) in footer.screen.active_bindings.values() if enabled}
        assert "last" in bindings
        assert "follow" not in bindings
        await pilot.press("end")
        assert app.timeline.cursor == len(app.timeline.index) - 1


async def test_an_empty_live_inspector_says_what_to_do(private_socket) -> None:  # type: ignore[no-untyped-def]
    store = Store()
    app = InspectorApp(store, server=InspectorServer(store, private_socket))
    async with app.run_test(size=(160, 45)) as pilot:
        await pilot.pause()
        shown = text_of(app.timeline)
        assert "Waiting for an app" in shown
        assert "WSInspectPlugin()" in shown
        assert str(private_socket) in shown
        assert "0 apps" in status(app)


async def test_the_filter_box_opens_in_place_and_a_bad_regex_says_what_still_applies() -> None:
    app = make_app()
    async with app.run_test(size=(160, 45)) as pilot:
        await pilot.pause()
        top = app.timeline.region.y
        await pilot.press("d")  # sent only
        shown = len(app.timeline.index)
        await pilot.press("slash")
        await pilot.pause()
        assert app.query_one("#filter-input", Input).display
        assert app.timeline.region.y == top  # nothing below the filter line moved
        await pilot.press("escape", "x", "slash", "ctrl+a", "ctrl+k", *"hello (", "enter")
        await pilot.pause()
        line = filters_line(app)
        assert "invalid regex" in line
        assert "not applied" in line
        assert "[sent only]" in line  # the filter still applied, and what it shows
        assert f"{shown:,} of" in line
        assert app.timeline.region.y == top


async def test_the_status_line_counts_in_words_people_use(private_socket) -> None:  # type: ignore[no-untyped-def]
    store = Store()
    app = InspectorApp(store, server=InspectorServer(store, private_socket))
    async with app.run_test(size=(160, 45)) as pilot:
        await pilot.pause()
        app.timeline.following = False
        app._update_status()
        line = status(app)
        assert "paused (G resumes)" in line
        assert "+0 new" not in line
        app.timeline.new_while_paused = 1295
        app._update_status()
        assert "+1,295 new" in status(app)
        await pilot.press("ctrl+l")
        await pilot.pause()
        assert app.timeline.new_while_paused == 0  # cleared frames are not new ones


async def test_a_pong_row_shows_its_round_trip_and_the_table_its_apps_close_reason() -> None:
    (connection,) = many_connections(1, reason="bob left the room")
    start = connection.connected_at
    connection.messages[1:1] = [
        control_frame("ping", b"\x01\x02", direction="sent", at=start + 0.2),
        control_frame("pong", b"\x01\x02", direction="received", at=start + 0.204),
        control_frame("pong", b"\x09", direction="received", at=start + 0.3),  # unasked: no round trip
    ]
    app = make_app(connections=[connection])
    async with app.run_test(size=(160, 45)) as pilot:
        await pilot.pause()
        lines = text_of(app.timeline).splitlines()
        pongs = [line for line in lines if "pong ←" in line]
        assert len(pongs) == 2
        assert "rtt 4.0 ms" in pongs[0]
        assert "01 02" in pongs[0]
        assert "rtt" not in pongs[1]
        # An app's own close code needs no range name in the table: the reason gets the room.
        table = text_of(app.table)
        assert "4001: bob left the room" in table
        assert "Application" not in table


async def test_the_status_line_says_how_many_frames_the_retention_bound_let_go() -> None:
    store = Store(max_frames=20)
    store.load(many_connections(15))  # 15 connections of 5 rows each: 75 rows, 55 let go
    app = InspectorApp(store, source="big.json")
    async with app.run_test(size=(160, 45)) as pilot:
        await pilot.pause()
        line = status(app)
        assert f"({store.frames_let_go:,} let go: --max-frames 20)" in line
        assert store.frames_let_go > 0


def open_connections(count: int) -> list[Connection]:
    return [
        Connection(
            connection_id=f"live-{n:04d}",
            path=f"/ws/room/{n}",
            connected_at=BASE + n,
            accepted_at=BASE + n,
            state="open" if n % 2 else "closed",
            disconnected_at=None if n % 2 else BASE + n + 1,
            close_code=None if n % 2 else 1000,
            closed_by=None if n % 2 else "client",
        )
        for n in range(count)
    ]


async def test_f_lists_only_the_connections_whose_path_or_state_matches() -> None:
    app = make_app(connections=open_connections(40))
    async with app.run_test(size=(160, 45)) as pilot:
        await pilot.pause()
        assert app.table.row_count == 40
        app.table.scroll_end(animate=False, immediate=True)
        await pilot.pause()
        app.table.sync(set())  # the open ones above the screen wait to be redrawn
        assert app.table._stale
        await pilot.press("f", *"open", "enter")
        await pilot.pause()
        assert app.table.row_count == 20
        assert all(app.store.entries[cid].connection.state == "open" for cid in app.table.order)
        assert 'connections "open" (20 of 40)' in filters_line(app)
        await pilot.press("f", "ctrl+a", "ctrl+k", *"room/3", "enter")  # a path: rooms 3 and 30-39
        await pilot.pause()
        assert sorted(app.table.order) == sorted(["live-0003", *(f"live-{n:04d}" for n in range(30, 40))])
        await pilot.press("escape")
        await pilot.pause()
        assert app.table.row_count == 40
        assert "connections" not in filters_line(app)


async def test_rows_off_screen_are_redrawn_when_they_scroll_into_view() -> None:
    store = Store()
    store.load(open_connections(200))
    app = InspectorApp(store, source="many.json")
    async with app.run_test(size=(160, 45)) as pilot:
        await pilot.pause()
        table = app.table
        far = "live-0199"
        assert table.get_row_index(far) >= table.size.height  # off screen
        before = str(table.get_row(far)[3])
        store.entries[far].connection.messages_sent = 12345
        table.sync({far})
        assert str(table.get_row(far)[3]) == before  # not redrawn while nobody can see it
        table.scroll_to(y=table.get_row_index(far), animate=False, immediate=True)
        await pilot.pause()
        assert str(table.get_row(far)[3]).startswith("12,345 ·")


async def test_a_long_export_shows_its_progress_and_the_screen_stays_live(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from wsinspect.inspector.core import store as store_module
    from wsinspect.sessions import write_session

    halfway = threading.Event()
    go_on = threading.Event()

    def slow_write(
        path: Path, connections: list[Connection], exported_at: float, *, progress: Any = None, loop_blocks: Any = ()
    ) -> Any:
        progress(0, 10)
        progress(5, 10)
        halfway.set()
        assert go_on.wait(10)
        return write_session(path, connections, exported_at, progress=progress, loop_blocks=loop_blocks)

    monkeypatch.setattr(store_module, "write_session", slow_write)  # what a live store's exporter writes with
    app = make_app(export_dir=tmp_path)
    async with app.run_test(size=(160, 45)) as pilot:
        await pilot.press("e")
        await pilot_until(pilot, halfway.is_set, "the export to be halfway")
        await pilot_until(pilot, lambda: app.query_one("#export").display, "the progress bar")
        assert "5 of 10 frames" in str(app.query_one("#export-label").render())
        bar = app.query_one("#export-bar")
        assert (bar.progress, bar.total) == (5, 10)  # type: ignore[attr-defined]
        await pilot.press("down")  # the screen answers meanwhile
        assert app.timeline.cursor is not None
        go_on.set()
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert not app.query_one("#export").display
        assert len(list(tmp_path.iterdir())) == 1


async def test_the_footer_keeps_no_old_keys_alive_however_often_it_changes() -> None:
    """Each change of the keys shown (here the filter box opened and closed) recomposes the footer;
    Textual kept every old key widget alive through its data binding (issue #6666), some 400 KB a
    time: 150 MB in an hour of the soak."""
    import gc
    import weakref

    from textual.widgets._footer import FooterKey

    app = make_app()
    shown: list[weakref.ref[FooterKey]] = []  # every key this app's footer showed
    async with app.run_test(size=(160, 45)) as pilot:
        for _ in range(30):
            await pilot.press("slash", "escape")
            await pilot.pause()
            shown += [weakref.ref(key) for key in app.query(FooterKey)]
        gc.collect()
        mounted = set(app.query(FooterKey))
        alive = [key for ref in shown if (key := ref()) is not None and key not in mounted]
        assert len(shown) > 10 * len(mounted)  # the footer was recomposed again and again
        assert alive == []  # and its old keys went
