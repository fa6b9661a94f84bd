"""The inspector's layout and its words as a user meets them in the first hour: resizing, a hundred
connections and more, long close reasons, one selection, saved sessions as a fixed moment, empty
states and the status line."""

from __future__ import annotations

import asyncio
import difflib
import itertools
import re
import threading
from pathlib import Path
from typing import Any

import pytest
from helpers.factories import batch, close_frame, control_frame, text_frame, update
from helpers.tui import Paints, filters_line, make_app, status, text_of
from helpers.tui_data import BASE, CHAT_ID, TICKER_ID, make_connections
from helpers.waiting import pilot_until
from rich.style import Style
from textual.geometry import Region
from textual.widget import Widget
from textual.widgets import Footer, Input, Static

from wsinspect.cli import main
from wsinspect.inspector.core.database_store import DatabaseStore
from wsinspect.inspector.core.database_writer import DatabaseWriter, write_database
from wsinspect.inspector.core.store import Producer, Store
from wsinspect.inspector.server import InspectorServer
from wsinspect.inspector.ui.app import InspectorApp
from wsinspect.inspector.ui.lifecycle import LifecyclePanel
from wsinspect.inspector.ui.screens import HelpScreen
from wsinspect.model import Connection
from wsinspect.sessions import dumps

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


# -- issue 27: the handler's name in the table and the lifecycle panel, the help's rows ----------

GRAPHQL_HANDLER = "strawberry.litestar.controller.GraphQLController.websocket_endpoint"
LOCATION = "/srv/.venv/lib/python3.12/site-packages/strawberry/litestar/controller.py:412"
HANDLED = (  # path, query, handler: the demo's and a GraphQL server's
    ("/ws/jobs", "", "jobs.handlers.jobs"),
    ("/ws/socket.io", "EIO=4&transport=websocket", "chat.sockets.socketio"),
    ("/ws/graphql", "", GRAPHQL_HANDLER),
    ("/ws/rpc", "", "rpc.handlers.rpc"),
)


def handled_connections() -> list[Connection]:
    connections = many_connections(len(HANDLED))
    for connection, (path, query, handler) in zip(connections, HANDLED, strict=True):
        connection.path, connection.query_string, connection.handler = path, query, handler
        connection.handler_location = LOCATION
        connection.route = path
    return connections


def runs_of(widget: Widget) -> list[list[tuple[str, Style]]]:
    """What the widget shows, line by line, as runs of text in one style."""
    width, height = widget.size
    return [
        [(segment.text, segment.style or Style()) for segment in strip]
        for strip in widget.render_lines(Region(0, 0, width, height))
    ]


def shown_whole_or_cut(shown: str, whole: str) -> bool:
    """``shown`` is ``whole``, or its start cut with an ellipsis."""
    return shown == whole or (len(shown) > 1 and shown.endswith("…") and whole.startswith(shown[:-1]))


@pytest.mark.parametrize("width", [80, 160, 250])
async def test_the_handlers_name_has_a_place_and_a_look_of_its_own(width: int) -> None:
    """Issue 27, item 6: the handler's name is not glued to the path: its own header and style,
    the path cut (with an ellipsis) before the name is, at every width."""
    app = make_app(connections=handled_connections())
    async with app.run_test(size=(width, 45)) as pilot:
        await pilot.pause()
        table = app.table
        header, *rows = runs_of(table)[: 1 + len(HANDLED)]
        header_text = "".join(text for text, _ in header)
        assert re.search(r"\bpath\b.*\bhandler\b", header_text), header_text
        starts = []
        for (path, query, handler), runs in zip(HANDLED, rows, strict=True):
            line = "".join(text for text, _ in runs)
            # The handler's name is the text in its own style (italic), and nothing else is.
            own = [(n, text) for n, (text, style) in enumerate(runs) if style.italic and text.strip()]
            assert own, line
            name = "".join(text for _, text in own).strip()
            assert shown_whole_or_cut(name, handler.rpartition(".")[2]), (name, line)
            assert "/" not in name, line
            first, text = own[0]
            starts.append(sum(len(before) for before, _ in runs[:first]) + len(text) - len(text.lstrip()))
            # The path before it, whole or cut with an ellipsis, two spaces apart from the name.
            match = re.search(r" c\d+ +(\S+)  +", line)
            assert match, line
            whole = f"{path}?{query}" if query else path
            assert shown_whole_or_cut(match.group(1), whole), (match.group(1), line)
            assert match.end() <= starts[-1], line
        if width >= 250:  # room for everything: the names whole, in a column under their header
            assert len(set(starts)) == 1, starts
            assert header_text.index("handler") == starts[0], (header_text, starts)


@pytest.mark.parametrize("width", [80, 160, 250])
async def test_with_several_apps_the_header_names_what_follows_the_path(width: int) -> None:
    """Which app a connection came from follows its handler's name, under "app", when every row
    has room for it; else none says it: the path and the handler's name come first."""
    connections = make_connections() + handled_connections()  # apps of pid 4242, and of none
    for n, connection in enumerate(connections):
        connection.connection_id = f"conn-{n:04d}"
    app = make_app(connections=connections)
    async with app.run_test(size=(width, 45)) as pilot:
        await pilot.pause()
        header, *rows = text_of(app.table).splitlines()[: 1 + len(connections)]
        assert re.search(r"\bpath  +handler\b", header), header
        for connection, row in zip(connections, rows, strict=True):
            match = re.search(r" c\d+ +(\S+)", row)
            assert match, row
            whole = f"{connection.path}?{connection.query_string}" if connection.query_string else connection.path
            assert shown_whole_or_cut(match.group(1), whole), (match.group(1), row)
        if width >= 250:
            assert re.search(r"\bhandler +app\b", header), header
            assert all("chat-app:4242" in row for row in rows[:5]), rows
            assert header.index("app", header.index("handler")) == rows[0].index("chat-app")
        else:
            assert not re.search(r"\bapp\b", header), header
            assert not any("chat-app" in row for row in rows), rows


@pytest.mark.parametrize("width", [120, 160, 250])
async def test_the_lifecycle_panel_never_breaks_a_handlers_name_mid_word(width: int) -> None:
    """Issue 27, item 7: a long dotted handler name is shortened at its dots, the function's name
    whole. (Under 120 columns the panel is not shown.)"""
    app = make_app(connections=handled_connections())
    async with app.run_test(size=(width, 45)) as pilot:
        graphql = next(cid for cid, entry in app.store.entries.items() if entry.connection.path == "/ws/graphql")
        app.table.select(graphql)
        panel = app.query_one(LifecyclePanel)
        await pilot_until(pilot, lambda: "/ws/graphql" in text_of(panel), "the GraphQL connection in the panel")
        lines = [line.removeprefix("│ ") for line in text_of(panel).splitlines()]  # less its left border
        assert any(re.search(r"\bwebsocket_endpoint\b", line) for line in lines), lines
        for line, after in itertools.pairwise(lines):
            # No line ends inside a name that the next one goes on with.
            if line.split() and after.split():
                joined = line.split()[-1] + after.split()[0]
                assert joined not in GRAPHQL_HANDLER, (line, after)
                assert joined not in LOCATION, (line, after)
        handler_line = next(line for line in lines if line.startswith("handler "))
        assert len(handler_line) <= panel.content_region.width
        shown = handler_line.split()[1]
        assert shown == GRAPHQL_HANDLER or (shown.startswith("…") and GRAPHQL_HANDLER.endswith(shown[1:])), shown


def help_lines(app: InspectorApp) -> list[str]:
    """The help's rows of keys, as shown: from the first row to the blank line before the legend."""
    assert isinstance(app.screen, HelpScreen)
    lines = [line for static in app.screen.query(Static) for line in text_of(static).splitlines()]
    first = next(n for n, line in enumerate(lines) if line.lstrip().startswith("/"))
    return lines[first : lines.index("", first)]


@pytest.mark.parametrize("live", [False, True])
async def test_the_help_at_80_columns_wraps_under_its_descriptions_and_says_g_once(
    live: bool, private_socket: Path
) -> None:
    """Issue 27, item 8: a wrapped description goes on under the description column, and End G
    says what it does here (follow a live inspector, the last row of a saved session)."""
    store = Store()
    if live:
        app = InspectorApp(store, server=InspectorServer(store, private_socket))
    else:
        store.load(handled_connections())
        app = InspectorApp(store, source="fixture.json")
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("question_mark")
        await pilot.pause()
        lines = help_lines(app)
        column = len(lines[0]) - len(lines[0][2:].lstrip()[1:].lstrip())  # where "/"'s description starts
        wrapped = 0
        for line in lines:
            keys, gap, text = line[2:column].rstrip(), line[:column], line[column:]
            assert text, (column, line)
            assert not text.startswith(" "), (column, line)
            if not keys:
                wrapped += 1
                assert not gap.strip(), line
        assert wrapped, lines  # at 80 columns some descriptions do wrap
        g_rows = [line for line in lines if re.match(r"  End G ", line)]
        assert len(g_rows) == 1, g_rows
        assert ("follow" in g_rows[0]) is live, g_rows


def long_paths_session() -> list[Connection]:
    """Six connections of long paths, half of them still open at the export, whose frames come
    faster at first (a rate sparkline with a shape), and a close reason that takes room."""
    connections = []
    for n in range(6):
        start = BASE + 3 * n
        frames = [
            text_frame(f'{{"n": {i}}}', direction="sent" if i % 2 else "received", at=start + 0.5 + i**1.5 / 50)
            for i in range(60 + 20 * n)
        ]
        still_open = n % 2 == 0
        connections.append(
            Connection(
                connection_id=f"conn-{n}",
                path=f"/ws/still-open-connection-with-a-long-path/{n}" if still_open else f"/ws/rooms/general-{n}",
                connected_at=start,
                accepted_at=start + 0.1,
                state="open" if still_open else "closed",
                disconnected_at=None if still_open else frames[-1].timestamp + 0.5,
                close_code=None if still_open else 4001,
                close_reason=None if still_open else "the room was archived",
                closed_by=None if still_open else "server",
                messages_sent=len(frames) // 2,
                messages_received=len(frames) - len(frames) // 2,
                messages=frames,
            )
        )
    return connections


@pytest.mark.parametrize("size", [(160, 45), (80, 24)])
@pytest.mark.parametrize("kind", ["json", "sqlite"])
def test_the_first_paint_of_an_opened_file_is_its_final_layout(
    kind: str, size: tuple[int, int], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Issue 27: the first paint of `wsinspect open` cut the paths (`/ws/still-o…`) and drew the
    rate sparkline for a panel of no width; a moment later the columns widened and the sparkline
    was drawn again. Everything a file holds is known before the first paint: it must be final."""
    path = tmp_path / f"session.{kind}"
    if kind == "json":
        path.write_bytes(dumps(long_paths_session(), BASE + 60))
    else:
        write_database(path, long_paths_session(), BASE + 60)
    paints = Paints(monkeypatch)

    async def look(app: InspectorApp) -> None:
        async with app.run_test(size=size) as pilot:
            await pilot.pause()
            await pilot.pause(1.5)  # the refresh (30 a second), the panels' (4) and the durations' (2) ticks

    monkeypatch.setattr(InspectorApp, "run", lambda self: asyncio.run(look(self)))
    assert main(["open", str(path)]) == 0
    first, last = paints.screens[0], paints.screens[-1]
    assert "c1 ◉ connect /ws/still-open-connection-with-a-long-path/0" in first  # the first row's detail
    assert "660 frames" in first
    assert first == last, "\n".join(difflib.unified_diff(first.splitlines(), last.splitlines(), lineterm="", n=0))


async def test_the_first_paint_of_a_capture_being_written_follows_its_newest_row(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A capture another record is writing is read before the first paint too (issue 27), and
    followed: the first paint shows its newest rows, not its oldest under a cursor on the newest."""
    path = tmp_path / "capture.sqlite"
    store = Store()
    writer = DatabaseWriter(path, store)  # holds the capture's lock: being written
    frames = [text_frame(f"m{n}", at=BASE + n / 100) for n in range(200)]
    store.apply(Producer(key=1, pid=4242, app="app"), [update(1), batch(1, frames, 0)], BASE + 3)
    writer.flush()
    paints = Paints(monkeypatch)
    try:
        app = InspectorApp(DatabaseStore(path), source=str(path), no_confirm=True)
        async with app.run_test(size=(160, 45)) as pilot:
            await pilot.pause()
            first = paints.screens[0]
            assert "▶ following" in first
            assert "m199" in first
            assert "m0 " not in first
    finally:
        writer.close()
