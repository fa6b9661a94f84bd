"""The inspector's terminal UI driven with Textual's pilot: every key, live updates, export and
re-open, and the live transport from a real middleware into the running app."""

from __future__ import annotations

import json
import re
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from helpers.factories import batch, control_frame, echo_app, text_frame, update
from helpers.tui import filters_line, help_rows, help_shown, make_app, select, shown_rows, status, text_of
from helpers.tui_data import (
    BASE,
    BINARY_TRUNCATED_KEPT,
    BINARY_TRUNCATED_SIZE,
    CHAT_ID,
    CLOSED_ID,
    DENIED_ID,
    FAILED_ID,
    TICKER_ID,
    make_connections,
)
from helpers.waiting import pilot_until
from textual.binding import Binding
from textual.command import CommandList, CommandPalette
from textual.pilot import Pilot
from textual.screen import ModalScreen
from textual.widgets import Input

from wsinspect import WSInspectConfig, WSInspectMiddleware
from wsinspect.inspector.core.filters import Filters
from wsinspect.inspector.core.store import Producer, Store
from wsinspect.inspector.server import InspectorServer
from wsinspect.inspector.ui.app import InspectorApp
from wsinspect.inspector.ui.connections import ConnectionTable
from wsinspect.inspector.ui.detail import DetailPane
from wsinspect.inspector.ui.keys import key_label, keys_label
from wsinspect.inspector.ui.lifecycle import LifecyclePanel
from wsinspect.inspector.ui.screens import HelpScreen
from wsinspect.inspector.ui.timeline import TimelineView
from wsinspect.model import Connection, Frame, Row, SystemEvent
from wsinspect.sessions import read_session
from wsinspect.wire import WireMessage

pytestmark = pytest.mark.usefixtures("utc_clock")

SIZE = (160, 45)
CONNECTIONS = make_connections()
FRAMES = [(c.connection_id, f) for c in CONNECTIONS for f in c.messages]
# ◉ rows of a loaded session: connect + accepted + closed, connect + denied, and the failed one's error.
EVENTS = 3 + 3 + 3 + 3 + 4
LOGS = [(c.connection_id, line) for c in CONNECTIONS for line in c.logs]
TOTAL = len(FRAMES) + EVENTS + len(LOGS)
PRODUCER = Producer(key=1, pid=4242, app="chat-app")


def is_frame(row: Row, kind: str, *, truncated: bool | None = None) -> bool:
    item = row[1]
    return isinstance(item, Frame) and item.message_type == kind and truncated in (None, item.truncated)


# -- opening a saved session --------------------------------------------------------------------


async def test_opens_a_session_at_its_start() -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        assert len(app.timeline.index) == TOTAL == 66
        assert app.focused is app.timeline
        # Offline, the timeline starts at its first row: the chat's connect.
        assert app.timeline.cursor == 0
        assert app.timeline.following is False
        row = app.timeline.selected_row()
        assert row is not None
        assert row[0] == CHAT_ID
        assert isinstance(row[1], SystemEvent)
        assert row[1].text.startswith("connect /ws/chat?room=1")
        line = status(app)
        assert "fixture.json" in line
        assert "0 active / 5 connections" in line
        assert f"{len(FRAMES)} frames" in line
        assert "no filters" in filters_line(app)
        assert f"{TOTAL} rows" in filters_line(app)
        assert app.table.row_count == 5


# -- filters ------------------------------------------------------------------------------------


async def test_slash_filters_by_text_and_escape_clears_every_filter() -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        box = app.query_one("#filter-input", Input)
        assert not box.display
        await pilot.press("slash")
        assert box.display
        assert app.focused is box
        await pilot.press(*"HeLLo")  # case does not matter
        await pilot.press("enter")
        # Counted from the fixture, not with the app's own matcher: text frames holding "hello"
        # (nothing else does: no close reason or lifecycle line says hello).
        expected = sum(f.message_type == "text" and "hello" in f.content.lower() for _, f in FRAMES)
        assert expected == 11
        assert len(app.timeline.index) == expected
        assert all(isinstance(item, Frame) and "hello" in item.content.lower() for _, item in shown_rows(app))
        assert app.focused is app.timeline
        assert not box.display
        line = filters_line(app)
        assert 'text "HeLLo"' in line
        assert f"{expected} of {TOTAL} rows" in line
        # Add more filters, then Esc removes all of them.
        await pilot.press("d", "t", "p")
        assert len(app.filters.describe()) == 4
        await pilot.press("escape")
        assert app.filters == Filters()
        assert len(app.timeline.index) == TOTAL
        assert "no filters" in filters_line(app)
        # "/" shows the current text; Esc in the box cancels without changing the filter.
        await pilot.press("slash", *"abc", "escape")
        assert not box.display
        assert app.filters == Filters()
        assert len(app.timeline.index) == TOTAL


async def test_regex_toggle_and_an_invalid_regex() -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("x")
        assert app.filters.regex
        assert len(app.timeline.index) == TOTAL  # no text yet: nothing hidden
        await pilot.press("slash", *'hello [1-3]"', "enter")
        pattern = re.compile('hello [1-3]"')
        expected = sum(f.message_type == "text" and bool(pattern.search(f.content)) for _, f in FRAMES)
        assert expected == 3  # hello 1, 2 and 3, not 10
        assert len(app.timeline.index) == expected
        assert 'regex /hello [1-3]"/' in filters_line(app)
        # As plain text the same filter matches nothing.
        await pilot.press("x")
        assert len(app.timeline.index) == 0
        assert f"0 of {TOTAL} rows" in filters_line(app)
        await pilot.press("x")
        assert len(app.timeline.index) == expected
        before = shown_rows(app)
        # An invalid regex: the line says why, and the previous view stays.
        await pilot.press("slash", "ctrl+a", "ctrl+k", *"hello (", "enter")
        assert app.filters.text == "hello ("
        line = filters_line(app)
        assert "invalid regex" in line
        assert "missing )" in line
        assert shown_rows(app) == before
        assert app.is_running
        # Turning regex off makes it a valid plain-text filter again.
        await pilot.press("x")
        assert "invalid regex" not in filters_line(app)
        assert len(app.timeline.index) == 0
        await pilot.press("escape")
        assert len(app.timeline.index) == TOTAL


async def test_filter_text_that_looks_like_markup_shows_as_typed() -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("slash", *"[b]x[/b]", "enter")
        assert app.filters.text == "[b]x[/b]"
        assert 'text "[b]x[/b]"' in filters_line(app)
        await pilot.press("d")
        assert "[sent only]" in filters_line(app)
        assert app.is_running


async def test_d_cycles_the_direction() -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("d")
        sent = sum(f.direction == "sent" for _, f in FRAMES)
        assert len(app.timeline.index) == sent == 27
        assert all(isinstance(item, Frame) and item.direction == "sent" for _, item in shown_rows(app))
        assert "sent only" in filters_line(app)
        await pilot.press("d")
        received = sum(f.direction == "received" for _, f in FRAMES)
        assert len(app.timeline.index) == received == len(FRAMES) - sent
        assert all(isinstance(item, Frame) and item.direction == "received" for _, item in shown_rows(app))
        assert "received only" in filters_line(app)
        await pilot.press("d")
        assert len(app.timeline.index) == TOTAL
        assert "no filters" in filters_line(app)


async def test_t_cycles_the_kind() -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        for kinds, label in (({"text"}, "text"), ({"binary"}, "binary"), ({"ping", "pong", "close"}, "control")):
            await pilot.press("t")
            expected = sum(f.message_type in kinds for _, f in FRAMES)
            assert expected > 0
            assert len(app.timeline.index) == expected, label
            assert all(isinstance(item, Frame) and item.message_type in kinds for _, item in shown_rows(app))
            assert f"kind: {label}" in filters_line(app)
        await pilot.press("t")  # the handlers' log lines
        assert shown_rows(app) == LOGS
        assert "kind: logs" in filters_line(app)
        await pilot.press("t")
        assert len(app.timeline.index) == TOTAL


async def test_p_hides_ping_and_pong() -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("p")
        pings = sum(f.message_type in ("ping", "pong") for _, f in FRAMES)
        assert pings == 4
        assert len(app.timeline.index) == TOTAL - pings
        assert not any(isinstance(item, Frame) and item.message_type in ("ping", "pong") for _, item in shown_rows(app))
        assert "no ping/pong" in filters_line(app)
        await pilot.press("p")
        assert len(app.timeline.index) == TOTAL


async def test_c_restricts_to_the_selected_connection() -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        # The cursor is on the chat's first row.
        await pilot.press("c")
        chat_rows = len(CONNECTIONS[0].messages) + 3
        assert len(app.timeline.index) == chat_rows
        assert {cid for cid, _ in shown_rows(app)} == {CHAT_ID}
        assert "this connection" in filters_line(app)
        await pilot.press("c")
        assert len(app.timeline.index) == TOTAL
        # From the connections list: the highlighted connection, and the filter follows the highlight.
        app.table.focus()
        await pilot.press("down")
        await pilot.press("c")
        assert {cid for cid, _ in shown_rows(app)} == {TICKER_ID}
        assert len(app.timeline.index) == len(CONNECTIONS[1].messages) + 3
        await pilot.press("down")
        assert {cid for cid, _ in shown_rows(app)} == {CLOSED_ID}
        await pilot.press("c")
        assert len(app.timeline.index) == TOTAL


# -- follow and pause on a live store -----------------------------------------------------------

LIVE_ID = "0b6f5c1e-7a2d-4c1b-9e3f-0000000000aa"
LIVE_KEY = 1


def live_connection() -> Connection:
    return Connection(connection_id=LIVE_ID, path="/ws/live", state="open", connected_at=BASE, accepted_at=BASE + 0.001)


def live_frames(start: int, count: int) -> list[WireMessage]:
    """Frames ``start`` to ``start + count - 1`` of the live connection, in one batch."""
    frames = [
        text_frame(f'{{"seq": {index}}}', direction="sent", at=BASE + 1 + index / 10)
        for index in range(start, start + count)
    ]
    return [batch(LIVE_KEY, frames, start=start)]


async def test_when_a_stream_stops_the_detail_and_the_table_show_its_last_frame(private_socket: Path) -> None:
    """While frames flow the panels refresh a few times a second; once they stop, they catch up."""
    store = Store()
    app = InspectorApp(store, server=InspectorServer(store, private_socket))
    async with app.run_test(size=SIZE) as pilot:
        store.apply(PRODUCER, [update(LIVE_KEY, live_connection())], BASE)
        for start in range(0, 60, 3):  # a stream: new frames every 20 ms for over a second
            store.apply(PRODUCER, live_frames(start, 3), BASE)
            await pilot.pause(0.02)
        detail = app.query_one(DetailPane)

        def caught_up() -> bool:
            row = detail.row
            cells = app.table.get_row(LIVE_ID)
            return row is not None and getattr(row[1], "content", None) == '{"seq": 59}' and "60 ·" in str(cells[3])

        await pilot_until(pilot, caught_up, "the detail pane and the table to show the last frame", patience=3.0)


async def test_follow_and_pause(private_socket: Path) -> None:
    store = Store()
    app = InspectorApp(store, server=InspectorServer(store, private_socket))
    async with app.run_test(size=SIZE) as pilot:
        timeline = app.timeline
        assert timeline.following
        store.apply(PRODUCER, [update(LIVE_KEY, live_connection()), *live_frames(0, 5)], BASE)
        await pilot_until(pilot, lambda: len(timeline.index) == 2 + 5, "the first frames")
        assert timeline.cursor == len(timeline.index) - 1
        assert "following" in status(app)
        # At the bottom, new rows keep the cursor on the newest.
        store.apply(PRODUCER, live_frames(5, 3), BASE)
        await pilot_until(pilot, lambda: len(timeline.index) == 10, "three more frames")
        await pilot.pause()
        assert timeline.cursor == 9
        newest = timeline.selected_row()
        assert newest is not None
        assert isinstance(newest[1], Frame)
        assert newest[1].content == '{"seq": 7}'
        # Up pauses: the cursor stays on its row while more arrive, and the status counts them.
        await pilot.press("up")
        assert not timeline.following
        assert timeline.cursor == 8
        held = timeline.selected_row()
        store.apply(PRODUCER, live_frames(8, 4), BASE)
        await pilot_until(pilot, lambda: len(timeline.index) == 14, "four frames while paused")
        await pilot_until(pilot, lambda: "+4" in status(app), "the paused count")
        assert "paused" in status(app)
        assert timeline.new_while_paused == 4
        assert timeline.cursor == 8
        assert timeline.selected_row() == held
        # G resumes: to the newest row, following again.
        await pilot.press("G")
        assert timeline.following
        assert timeline.new_while_paused == 0
        assert timeline.cursor == 13
        await pilot_until(pilot, lambda: "following" in status(app), "the status to say following")
        # Paused again with PageUp, End resumes too.
        await pilot.press("pageup")
        assert not timeline.following
        store.apply(PRODUCER, live_frames(12, 2), BASE)
        await pilot_until(pilot, lambda: timeline.new_while_paused == 2, "two frames while paused")
        await pilot_until(pilot, lambda: "+2" in status(app), "the paused count")
        await pilot.press("end")
        assert timeline.following
        assert timeline.cursor == len(timeline.index) - 1 == 15
        store.apply(PRODUCER, live_frames(14, 1), BASE)
        await pilot_until(pilot, lambda: timeline.cursor == 16, "the cursor on the newest")


# -- export and re-open -------------------------------------------------------------------------


async def exported(app: InspectorApp, pilot: Pilot[Any]) -> None:
    """Wait for the export's thread to end and its news to reach the screen."""
    await app.workers.wait_for_complete()
    await pilot.pause()


def capture_notifications(app: InspectorApp, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    notes: list[str] = []
    original = app.notify

    def notify(message: str, **kwargs: Any) -> None:
        notes.append(message)
        original(message, **kwargs)

    monkeypatch.setattr(app, "notify", notify)
    return notes


async def test_e_exports_the_session_and_it_reopens(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    app = make_app(export_dir=tmp_path)
    notes = capture_notifications(app, monkeypatch)
    async with app.run_test(size=SIZE) as pilot:
        before = datetime.now().replace(microsecond=0)
        await pilot.press("e")
        after = datetime.now()
        await exported(app, pilot)
        (path,) = tmp_path.iterdir()
        match = re.fullmatch(r"wsinspect-(\d{8}-\d{6})\.json", path.name)
        assert match, path.name
        assert before <= datetime.strptime(match[1], "%Y%m%d-%H%M%S") <= after
        assert any(str(path) in note for note in notes), notes
        store_connections = app.store.connections()
    session = read_session(path)
    assert session.connections == store_connections
    assert session.connections == make_connections()
    ticker = session.connections[1]
    book = next(f for f in ticker.messages if f.truncated)
    assert (book.size_bytes, len(book.content)) == (BINARY_TRUNCATED_SIZE, BINARY_TRUNCATED_KEPT)

    reopened = make_app(connections=session.connections)
    async with reopened.run_test(size=SIZE) as pilot:
        await pilot.pause()
        assert len(reopened.timeline.index) == TOTAL
        assert reopened.table.row_count == 5


async def test_capital_r_writes_the_selected_connection_and_the_replay_command(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    app = make_app(export_dir=tmp_path)
    notes = capture_notifications(app, monkeypatch)
    copied: list[str] = []
    monkeypatch.setattr(app, "copy_to_clipboard", copied.append)
    async with app.run_test(size=SIZE) as pilot:
        await select(pilot, lambda row: row[0] == FAILED_ID)
        await pilot.press("R")
        await exported(app, pilot)
    (path,) = tmp_path.iterdir()
    assert re.fullmatch(r"wsinspect-c5-\d{8}-\d{6}\.json", path.name), path.name
    (connection,) = read_session(path).connections
    assert connection == next(c for c in make_connections() if c.connection_id == FAILED_ID)
    command = f"wsinspect replay {path} --app MODULE:APP"
    assert copied == [command]
    assert any(command in note for note in notes), notes


async def test_export_goes_to_the_working_directory_by_default(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("e")
        await exported(app, pilot)
    (path,) = tmp_path.glob("wsinspect-*.json")
    assert len(read_session(path).connections) == 5


async def test_export_failure_is_shown(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    app = make_app(export_dir=tmp_path / "missing")
    notes = capture_notifications(app, monkeypatch)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("e")
        await exported(app, pilot)
        assert app.is_running
    assert any("cannot write" in note for note in notes), notes


# -- help, palette, detail, copy, clear, quit ---------------------------------------------------


def help_shows(app: InspectorApp, keys: str, text: str) -> bool:
    """The help has a row with these keys and this text."""
    return (keys, text) in help_rows(app)


async def test_question_mark_shows_every_key() -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("question_mark")
        assert isinstance(app.screen, HelpScreen)
        help_text = help_shown(app)
        for key in ("/", "x", "d", "t", "p", "c", "Esc", "End G", "Tab", "r", "y", "e", "ctrl+l", "ctrl+p", "?", "q"):
            assert re.search(rf"(^|\s){re.escape(key)}(\s|$)", help_text, re.MULTILINE), key
        assert help_shows(app, "↑ ↓ j k", "move in the timeline (moving up pauses the follow)")
        assert help_shows(app, "PgUp PgDn", "move by a page")
        assert help_shows(app, "e", "export the session to wsinspect-<date>-<time>.json")
        assert "The timeline" in help_text  # the legend
        await pilot.press("escape")
        assert not isinstance(app.screen, HelpScreen)
        # q closes the help, it does not quit.
        await pilot.press("question_mark")
        assert isinstance(app.screen, HelpScreen)
        await pilot.press("q")
        assert not isinstance(app.screen, HelpScreen)
        assert app.is_running


async def test_the_help_and_the_palette_list_every_binding() -> None:
    """Both are generated from the bindings: a new key cannot be left out of either."""
    bindings = InspectorApp.key_bindings()
    owners = (InspectorApp, TimelineView, ConnectionTable)
    declared = [b for owner in owners for b in owner.BINDINGS if isinstance(b, Binding)]
    assert len(bindings) == len(declared) == len({b.id for b in declared})
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("question_mark")
        rows = help_rows(app)
        for binding in bindings:
            assert binding.id, binding
            assert binding.tooltip, binding
            if binding.id == "timeline.follow":
                continue  # a saved session: End goes to the last row, and the help says only that
            text = (binding.group.description if binding.group else binding.tooltip).lower()
            row = next((keys for keys, shown in rows if shown.lower() == text), None)
            assert row is not None, binding
            for key in binding.key.split(","):
                assert key_label(key) in row.split(), (key, row)
        await pilot.press("escape")
        commands = {command.title: command.help for command in app.get_system_commands(app.screen)}
        for binding in bindings:
            if binding.action == "command_palette":
                continue  # the palette's own key
            assert binding.description in commands, binding
            assert binding.tooltip in commands[binding.description]
            assert keys_label(binding.key.split(",")) in commands[binding.description]


async def test_a_keymap_moves_a_key_and_the_help_follows() -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        app.set_keymap({"filter.direction": "z"})
        await pilot.press("d")
        assert app.filters.direction == Filters().direction
        await pilot.press("z")
        assert app.filters.direction != Filters().direction
        await pilot.press("question_mark")
        assert help_shows(app, "z", "direction: both → sent only → received only")
        assert not re.search(r"^  d ", help_shown(app), re.MULTILINE)
        await pilot.press("escape")
        commands = {command.title: command.help for command in app.get_system_commands(app.screen)}
        assert commands["Direction"].endswith("key z")
        # A timeline key too: k no longer moves up, u does.
        app.set_keymap({"timeline.up": "u"})
        await pilot.press("G")
        last = app.timeline.cursor
        assert last is not None
        await pilot.press("k")
        assert app.timeline.cursor == last
        await pilot.press("u")
        assert app.timeline.cursor == last - 1


async def test_r_toggles_raw_json() -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        row = await select(pilot, lambda r: is_frame(r, "text") and '"auth"' in r[1].content)  # type: ignore[union-attr]
        detail = app.query_one(DetailPane)
        pretty = text_of(detail)
        assert '"type": "auth"' in pretty
        assert '"token": "tok-alice-42"' in pretty
        assert row[1].content not in pretty  # type: ignore[union-attr]
        await pilot.press("r")
        assert detail.raw
        raw = text_of(detail)
        assert '{"type":"auth","token":"tok-alice-42"}' in raw
        await pilot.press("r")
        assert not detail.raw
        assert text_of(detail) == pretty


async def test_the_detail_pane_shows_a_truncated_binary_frame_as_hex() -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await select(pilot, lambda r: is_frame(r, "binary", truncated=True))
        line = app.timeline.render_line(app.timeline.cursor - int(app.timeline.scroll_offset.y))  # type: ignore[operator]
        assert re.search(r"c2 +→ binary +20\.0 KB ?✂ ?00 01 02 03", line.text), line.text
        shown = text_of(app.query_one(DetailPane))
        assert f"truncated: {BINARY_TRUNCATED_KEPT:,} of {BINARY_TRUNCATED_SIZE:,} bytes kept" in shown
        assert "00000000  00 01 02 03 04 05 06 07  08 09 0a 0b 0c 0d 0e 0f  |................|" in shown
        assert "00000040  40 41 42 43 44 45 46 47  48 49 4a 4b 4c 4d 4e 4f  |@ABCDEFGHIJKLMNO|" in shown


async def test_y_copies_the_selected_frame(monkeypatch: pytest.MonkeyPatch) -> None:
    app = make_app()
    copied: list[str] = []
    monkeypatch.setattr(app, "copy_to_clipboard", copied.append)
    async with app.run_test(size=SIZE) as pilot:
        row = await select(pilot, lambda r: is_frame(r, "text") and '"welcome"' in r[1].content)  # type: ignore[union-attr]
        await pilot.press("y")
        assert copied == [row[1].content]  # type: ignore[union-attr]
        # Binary is copied as hex: all the bytes kept.
        row = await select(pilot, lambda r: is_frame(r, "binary", truncated=True))
        await pilot.press("y")
        data = row[1].content  # type: ignore[union-attr]
        assert len(data) == BINARY_TRUNCATED_KEPT
        assert bytes.fromhex(copied[-1]) == data
        # A ◉ row copies its line.
        row = await select(pilot, lambda r: isinstance(r[1], SystemEvent) and "handler error" in r[1].text)
        await pilot.press("y")
        assert copied[-1] == "handler error: ValueError: database is down"


async def test_ctrl_l_clears_the_session(monkeypatch: pytest.MonkeyPatch) -> None:
    app = make_app()
    copied: list[str] = []
    monkeypatch.setattr(app, "copy_to_clipboard", copied.append)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("ctrl+l")
        await pilot.pause()
        assert app.store.entries == {}
        assert len(app.timeline.index) == 0
        assert app.timeline.selected_row() is None
        assert app.table.row_count == 0
        assert "0 rows" in filters_line(app)
        assert "0 active / 0 connections" in status(app)
        assert "No connection selected" in text_of(app.query_one(LifecyclePanel))
        assert "Select a frame" in text_of(app.query_one(DetailPane))
        await pilot.press("y")  # nothing to copy: a warning, no crash
        assert copied == []
        assert app.is_running


async def test_q_quits() -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("q")
        await pilot.pause()
        assert not app.is_running
    assert app.return_code == 0


async def test_command_palette_lists_the_commands(tmp_path: Path) -> None:
    app = make_app(export_dir=tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        titles = [command.title for command in app.get_system_commands(app.screen)]
        for title in (
            "Filter",
            "Regex filter",
            "Direction",
            "Kind",
            "Ping/pong",
            "This conn",
            "Clear filters",
            "Export",
            "Export as…",
            "Copy",
            "Raw / pretty JSON",
            "Clear session",
            "Follow",
            "Help",
            "Theme",  # Textual's own stay
        ):
            assert title in titles
        assert titles.count("Quit") == 1  # ours (q) replaces Textual's
        # Run one from the palette.
        await pilot.press("ctrl+p")
        assert isinstance(app.screen, CommandPalette)
        await pilot.press(*"Export")
        palette = app.screen
        await pilot_until(pilot, lambda: palette.query_one(CommandList).option_count > 0, "the palette's matches")
        await pilot.press("enter")
        await pilot_until(pilot, lambda: any(tmp_path.iterdir()), "the export from the palette")
        assert not isinstance(app.screen, CommandPalette)


async def test_tab_switches_to_the_connections_and_they_drive_the_lifecycle_panel() -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        panel = app.query_one(LifecyclePanel)
        assert "/ws/chat" in text_of(panel)
        await pilot.press("tab")
        assert isinstance(app.focused, ConnectionTable)
        assert app.table.selected_id() == CHAT_ID
        await pilot.press("down")
        assert app.table.selected_id() == TICKER_ID
        shown = text_of(panel)
        assert "/ws/ticker" in shown
        assert "1001 Going Away" in shown
        await pilot.press("down")
        assert app.table.selected_id() == CLOSED_ID
        shown = text_of(panel)
        assert "/ws/notifications" in shown
        assert "by server" in shown
        assert "4001 Application: bye" in shown
        await pilot.press("down")
        assert app.table.selected_id() == DENIED_ID
        assert "upgrade denied: HTTP 403" in text_of(panel)
        await pilot.press("down")
        assert app.table.selected_id() == FAILED_ID
        shown = text_of(panel)
        assert "ValueError: database is down" in shown
        assert "4500 Application: Internal Server Error" in shown
        # And back to the timeline.
        await pilot.press("shift+tab")
        assert app.focused is app.timeline


async def test_the_lifecycle_panel_shows_utc_clock_times() -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        shown = text_of(app.query_one(LifecyclePanel))
        assert "opened  17:13:10.000" in shown
        assert "closed  17:13:18.802 after 8.8s by client" in shown


async def test_a_small_terminal() -> None:
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        timeline = app.query_one(TimelineView)
        assert timeline.region.height >= 4
        assert timeline.region.width == 80
        assert not app.query_one(LifecyclePanel).display or app.query_one(LifecyclePanel).region.width == 0
        lines = text_of(timeline)
        assert "connect /ws/chat" in lines
        await pilot.press("slash", *"hello", "enter", "d", "t", "down", "y", "question_mark", "escape")
        assert app.is_running


# -- what the timeline draws ----------------------------------------------------------------------


def cursor_on_screen(timeline: TimelineView) -> bool:
    assert timeline.cursor is not None
    top = int(timeline.scroll_offset.y)
    return top <= timeline.cursor < top + timeline.scrollable_content_region.height


async def test_the_timeline_has_no_horizontal_scrollbar() -> None:
    # Every row is cut to the width: there is nothing to scroll sideways, and a scrollbar there
    # would cover the last row.
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        timeline = app.timeline
        assert timeline.show_vertical_scrollbar
        assert not timeline.show_horizontal_scrollbar
        assert timeline.virtual_size.width <= timeline.scrollable_content_region.width


async def test_moving_down_keeps_the_selected_row_on_screen() -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        timeline = app.timeline
        height = timeline.scrollable_content_region.height
        assert len(timeline.index) > height + 10
        for step in range(1, height + 10):
            await pilot.press("down")
            assert timeline.cursor == step
            shown = (timeline.scroll_offset.y, timeline.scrollable_content_region.height)
            assert cursor_on_screen(timeline), (step, shown)
        await pilot.press("pagedown")
        assert cursor_on_screen(timeline)
        await pilot.press("g")
        assert cursor_on_screen(timeline)


async def test_the_cursor_is_clamped_and_a_click_selects_the_row_under_the_mouse() -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        timeline = app.timeline
        # Out of range: clamped to the newest row, which the detail pane then shows.
        timeline.cursor = len(timeline.index) + 50
        assert timeline.cursor == len(timeline.index) - 1
        await pilot.pause()
        assert cursor_on_screen(timeline)
        assert app.query_one(DetailPane).row == timeline.selected_row() == app.store.rows[timeline.index[-1]]
        timeline.cursor = -3
        assert timeline.cursor == 0
        # The timeline has a border above its first row: a click counts from the first row.
        await pilot.click(timeline, offset=(5, timeline.gutter.top + 2))
        await pilot.pause()
        assert timeline.cursor == int(timeline.scroll_offset.y) + 2
        assert app.query_one(DetailPane).row == timeline.selected_row()


def luminance(color: Any) -> float:
    def channel(value: int) -> float:
        c = value / 255
        return c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4

    red, green, blue = color
    return 0.2126 * channel(red) + 0.7152 * channel(green) + 0.0722 * channel(blue)


def contrast(a: Any, b: Any) -> float:
    light, dark = sorted((luminance(a), luminance(b)), reverse=True)
    return (light + 0.05) / (dark + 0.05)


def cursor_line_colours(timeline: TimelineView) -> list[tuple[str, Any, Any]]:
    """(text, foreground, background) of each piece of text on the selected row."""
    assert timeline.cursor is not None
    strip = timeline.render_line(timeline.cursor - int(timeline.scroll_offset.y))
    background = timeline.styles.background.rgb
    pieces = []
    for segment in strip:
        style = segment.style
        if not segment.text.strip() or style is None:
            continue
        fg = style.color.get_truecolor() if style.color else None
        bg = style.bgcolor.get_truecolor() if style.bgcolor else background
        pieces.append((segment.text, fg, bg))
    return pieces


async def test_the_selected_row_stays_readable() -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        for check in (
            lambda r: is_frame(r, "text") and r[1].direction == "sent",
            lambda r: is_frame(r, "text") and r[1].direction == "received",
            lambda r: is_frame(r, "binary"),
            lambda r: isinstance(r[1], SystemEvent),
        ):
            row = await select(pilot, check)
            for text, fg, bg in cursor_line_colours(app.timeline):
                if fg is not None:
                    assert contrast(fg, bg) >= 2.0, (row, text, fg, bg)


async def test_lifecycle_rows_are_readable() -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        background = app.timeline.styles.background.rgb
        for name in ("sent", "received", "system", "warning", "error"):
            colour = app.timeline.style_of(name).color.get_truecolor()  # type: ignore[union-attr]
            assert contrast(colour, background) >= 3.0, (name, colour, background)


# -- the live transport: a real middleware streaming into the running app -----------------------


async def test_a_live_app_streams_into_the_inspector(private_socket: Path) -> None:
    store = Store()
    app = InspectorApp(store, server=InspectorServer(store, private_socket))
    middleware = WSInspectMiddleware(echo_app, WSInspectConfig(socket_path=str(private_socket), app_name="echo"))
    emitter = middleware.recorder.emitter
    assert emitter is not None
    try:
        async with app.run_test(size=SIZE) as pilot:
            assert str(private_socket) in status(app)
            incoming: list[dict[str, Any]] = [
                {"type": "websocket.connect"},
                {"type": "websocket.receive", "text": '{"type": "hello"}'},
                {"type": "websocket.receive", "bytes": b"\x01\x02\x03"},
                {"type": "websocket.disconnect", "code": 1000, "reason": ""},
            ]
            incoming.reverse()
            sent: list[dict[str, Any]] = []

            async def receive() -> dict[str, Any]:
                return incoming.pop()

            async def send(message: dict[str, Any]) -> None:
                sent.append(message)

            await middleware({"type": "websocket", "path": "/ws/echo", "query_string": b"x=1"}, receive, send)
            assert len(sent) == 3

            def arrived() -> bool:
                entries = list(store.entries.values())
                return (
                    app.table.row_count == 1
                    and len(entries) == 1
                    and entries[0].connection.state == "closed"
                    and sum(isinstance(item, Frame) for _, item in shown_rows(app)) == 5
                )

            await pilot_until(pilot, arrived, "the connection and its frames in the app")
            (entry,) = store.entries.values()
            assert entry.connection.path == "/ws/echo"
            kinds = [(item.direction, item.message_type) for _, item in shown_rows(app) if isinstance(item, Frame)]
            assert kinds == [
                ("received", "text"),
                ("sent", "text"),
                ("received", "binary"),
                ("sent", "binary"),
                ("received", "close"),
            ]
            await pilot_until(pilot, lambda: "5 frames" in status(app), "the header's counts")
            line = status(app)
            assert "0 active / 1 connection " in line
            assert "1 app " in line
            assert "following" in line
            await pilot_until(pilot, lambda: "/ws/echo?x=1" in text_of(app.table), "the connection's row on screen")
            # The newest row is selected and shown in the detail pane.
            assert app.timeline.cursor == len(app.timeline.index) - 1
    finally:
        emitter.stop()


async def test_keepalive_health_in_the_connections_and_the_lifecycle() -> None:
    now = time.time()
    store = Store()
    app = InspectorApp(store)
    async with app.run_test(size=(160, 45)) as pilot:
        healthy = Connection(
            connection_id="ok",
            path="/ws/ok",
            state="open",
            connected_at=now - 5,
            accepted_at=now - 5,
            ping_observable=True,
            last_rtt=0.012,
            avg_rtt=0.010,
        )
        late = Connection(
            connection_id="late", path="/ws/late", state="open", connected_at=now - 5, ping_observable=True
        )
        blind = Connection(connection_id="blind", path="/ws/blind", state="open", connected_at=now - 5)
        timed_out = Connection(
            connection_id="gone",
            path="/ws/gone",
            state="closed",
            connected_at=now - 5,
            disconnected_at=now - 1,
            close_code=1011,
            close_reason="keepalive ping timeout",
            closed_by="server",
            ping_observable=True,
        )
        # Keys 1 to 4 name them in the frames.
        store.apply(PRODUCER, [update(key, c) for key, c in enumerate((healthy, late, blind, timed_out), 1)], now)
        store.apply(
            PRODUCER,
            [
                batch(
                    1,
                    [
                        control_frame("ping", b"\x01\x02", direction="sent", at=now - 3),
                        control_frame("pong", b"\x01\x02", direction="received", at=now - 2.99),
                    ],
                ),
                batch(2, [control_frame("ping", b"\x01\x02", direction="sent", at=now - 3)]),
            ],
            now,
        )
        expected_rtt = {"ok": "12 ms", "late": "▲ late (—)", "blind": "n/a", "gone": "✖ timeout"}

        def rtt() -> dict[str, str]:
            return {cid: str(app.table.get_row(cid)[5]) for cid in expected_rtt if cid in app.table.rows}

        # The table shows changes a few times a second at most.
        await pilot_until(pilot, lambda: rtt() == expected_rtt, f"the rtt column to show {expected_rtt}")
        panel = app.query_one(LifecyclePanel)
        for cid, expected in [
            ("ok", "rtt 12 ms (avg 10 ms)  ● healthy"),
            ("late", "▲ pong late"),
            ("blind", "--ws wsinspect.uvicorn:WebSocketProtocol"),
            ("gone", "✖ keepalive timeout"),
        ]:
            panel.show(store, cid)
            # What it was given, read at once: the app's own refresh may soon show another connection.
            assert expected in str(panel.render()), cid
        # ping and pong rows are ◉ control rows, and p hides them
        lines = [app.timeline.render_line(y).text for y in range(app.timeline.size.height)]
        assert any("◉ ping →" in line for line in lines)
        assert any("◉ pong ←" in line for line in lines)
        await pilot.press("p")
        assert all(row[1].message_type not in ("ping", "pong") for row in shown_rows(app) if isinstance(row[1], Frame))


async def test_shift_e_exports_to_a_named_file_and_har_by_its_suffix(tmp_path: Path) -> None:
    app = make_app(export_dir=tmp_path)
    async with app.run_test(size=(160, 45)) as pilot:
        await pilot.press("E")
        box = app.screen.query_one("#export-path", Input)
        assert box.value.startswith(str(tmp_path / "wsinspect-"))
        box.value = "capture.har"
        await pilot.press("enter")
        await exported(app, pilot)
        har = tmp_path / "capture.har"
        assert har.exists()
        document = json.loads(har.read_text())
        assert document["log"]["version"] == "1.2"
        assert len(read_session(har).connections) == len(app.store.entries)
        # Esc leaves without writing anything.
        before = set(tmp_path.iterdir())
        await pilot.press("E")
        await pilot.press("escape")
        await pilot.pause()
        assert set(tmp_path.iterdir()) == before
        assert not isinstance(app.screen, ModalScreen)


async def test_a_tick_while_the_app_closes_finds_no_widgets_and_does_nothing() -> None:
    # Closing, the app removes its widgets before its timers stop; a tick in between saw a crash.
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        for child in list(app.screen.children):
            await child.remove()
        assert not app.query(TimelineView)  # the widgets are gone, the timers not yet
        app._panels_due = True
        app._tick()  # finds none (it raised NoMatches) and returns
        await pilot.pause(0.2)  # the app's own timer ticks a few times more
        assert app.return_code is None  # no tick ended the run with an error
        assert not app.screen.children  # nothing was drawn again
        assert len(app._notifications) == 0  # nor anything said
