"""The live timeline over a store that trims, clears and grows, whatever the order (issue 25).

A Hypothesis state machine drives the real inspector (Textual's pilot, a live server) with
interleavings of applied batches (frames, log lines, connections opening and closing, frames lost
on the way), the retention bound trimming, ``ctrl+l``, filter keys, search, cursor keys, follow
and pause, and resizes. After every step, without letting the app run in between, it checks:

- every row position the screen holds (the filtered index, the cursor, the lines drawn) points
  at a live row, and each visible line shows the row the filters put there;
- the filtered index equals the filter recomputed from scratch over the rows it took in;
- the counts add up: per connection, frames held + dropped + cleared = frames numbered, dropped =
  not kept + lost; for the store, frame rows held = frames received - frames let go, at most
  ``max_frames`` of them, and at most as many other rows.

Before the fix a trim between two refreshes left the index pointing past the rows: this found it
in a few steps (the IndexError the issue reports, from ``render_line``).
"""

from __future__ import annotations

import asyncio
import contextvars
import itertools
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any, ClassVar

import pytest
from helpers.factories import batch, binary_frame, control_frame, log_line, text_frame, update, wire_log
from helpers.waiting import pilot_until
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from wsinspect.inspector.core import database_store as capture_store
from wsinspect.inspector.core.database_store import DatabaseStore
from wsinspect.inspector.core.database_writer import DatabaseWriter
from wsinspect.inspector.core.store import Producer, Store
from wsinspect.inspector.server import InspectorServer
from wsinspect.inspector.ui.app import InspectorApp
from wsinspect.inspector.ui.connections import ConnectionTable
from wsinspect.inspector.ui.detail import DetailPane
from wsinspect.inspector.ui.lifecycle import LifecyclePanel
from wsinspect.inspector.ui.timeline import TimelineView
from wsinspect.model import Frame, LogLine, Row, SystemEvent
from wsinspect.wire import WireMessage

PRODUCER = Producer(key=1, pid=4242, app="soak-app", since=0.0, stream="s1")
SIZES = [(160, 45), (80, 24), (120, 16)]


class SmallStepStore(Store):
    """A store whose text search takes a few rows at a time, so the search of older rows runs in
    the background (as it does over a million rows) while batches and trims come."""

    search_step: ClassVar[int] = 7


def label(row: Row) -> str:
    """What a row's line must show: a text frame's text, a log line's message, an event's text."""
    item = row[1]
    if isinstance(item, SystemEvent):
        return item.text[:40]
    if isinstance(item, LogLine):
        return item.message
    assert isinstance(item, Frame)
    return item.content if item.message_type == "text" and isinstance(item.content, str) else item.message_type


def assert_lines_show_their_rows(timeline: TimelineView) -> None:
    """Each line the timeline draws now shows the row its index puts there."""
    top, index, rows = int(timeline.scroll_offset.y), timeline.index, timeline.store.rows
    for y in range(timeline.scrollable_content_region.height):
        line = timeline.render_line(y).text  # raises if a position outlived its row
        if top + y < len(index):
            row = rows[index[top + y]]
            assert label(row) in line, (top + y, label(row), line)


class TimelineMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.loop = asyncio.new_event_loop()
        # One context for every step: Textual keeps the active app in a context variable, which
        # a task of its own per step would lose.
        self.context_vars = contextvars.copy_context()
        self.directory = Path(tempfile.mkdtemp(prefix="wsi-", dir="/tmp"))
        self.clock = itertools.count(1)
        self.serial = itertools.count()
        self.next_key = 1
        self.open: dict[int, int] = {}  # connection key → its next frame's index
        self.logs: dict[int, int] = {}  # connection key → its next log line's index
        self.context: Any = None

    def run(self, awaitable: Any) -> Any:
        return self.loop.run_until_complete(self.loop.create_task(awaitable, context=self.context_vars))

    def call(self, function: Any, *args: Any) -> Any:
        """A call into the app or its store from outside its loop, as its server's reader makes."""
        return self.context_vars.run(function, *args)

    @initialize(max_frames=st.integers(8, 60), max_messages=st.integers(2, 30), small_steps=st.booleans())
    def start(self, max_frames: int, max_messages: int, small_steps: bool) -> None:
        kind = SmallStepStore if small_steps else Store
        self.store = kind(max_frames=max_frames, max_messages=max_messages)
        server = InspectorServer(self.store, self.directory / "inspector.sock")
        self.app = InspectorApp(self.store, server=server, source="soak", no_confirm=True)
        self.context = self.app.run_test(size=SIZES[0])
        self.pilot = self.run(self.context.__aenter__())

    def teardown(self) -> None:
        try:
            if self.context is not None:
                self.run(self.context.__aexit__(None, None, None))
        finally:
            self.loop.close()
            shutil.rmtree(self.directory, ignore_errors=True)

    def now(self) -> float:
        return 1000.0 + next(self.clock) / 100

    def apply(self, *messages: WireMessage) -> None:
        """What the server does with a producer's message: straight into the store, between two
        refreshes of the screen (nothing of the app runs meanwhile)."""
        self.call(self.store.apply, PRODUCER, list(messages), self.now())

    # -- what the app sends --------------------------------------------------------------------

    @rule()
    def open_connection(self) -> None:
        key, self.next_key = self.next_key, self.next_key + 1
        self.open[key], self.logs[key] = 0, 0
        self.apply(update(key, connection_id=f"conn-{key}", path=f"/ws/k{key}", connected_at=self.now()))

    @precondition(lambda self: self.open)
    @rule(
        data=st.data(),
        kinds=st.lists(st.sampled_from(["text", "text", "binary", "ping", "pong"]), min_size=1, max_size=40),
        lost=st.integers(0, 3),
    )
    def frames(self, data: st.DataObject, kinds: list[str], lost: int) -> None:
        """A batch of one connection's frames, after ``lost`` frames that never arrived."""
        key = data.draw(st.sampled_from(sorted(self.open)))
        made: list[Frame] = []
        for n, kind in enumerate(kinds):
            at, direction = self.now(), "sent" if n % 2 else "received"
            if kind == "text":
                made.append(text_frame(f"m{next(self.serial)}", direction=direction, at=at))
            elif kind == "binary":
                made.append(binary_frame(bytes([n, 1, 2]), direction=direction, at=at))
            else:
                made.append(control_frame(kind, b"k", direction=direction, at=at))
        start = self.open[key] + lost
        self.open[key] = start + len(made)
        self.apply(batch(key, made, start))

    @precondition(lambda self: self.open)
    @rule(data=st.data())
    def log(self, data: st.DataObject) -> None:
        key = data.draw(st.sampled_from(sorted(self.open)))
        line = log_line(f"line{next(self.serial)}", at=self.now())
        self.logs[key] += 1
        self.apply(wire_log(key, self.logs[key] - 1, line))

    @precondition(lambda self: self.open)
    @rule(data=st.data())
    def close_connection(self, data: st.DataObject) -> None:
        key = data.draw(st.sampled_from(sorted(self.open)))
        del self.open[key]
        at = self.now()
        self.apply(
            update(
                key,
                connection_id=f"conn-{key}",
                path=f"/ws/k{key}",
                connected_at=at,
                state="closed",
                disconnected_at=at,
                close_code=1000,
                closed_by="client",
            )
        )

    # -- what the screen and the person do -----------------------------------------------------

    @rule(pause=st.sampled_from([None, 0.05, 0.12]))
    def refresh(self, pause: float | None) -> None:
        """The app runs: its refresh takes in what came (at its own pace), the screen draws."""
        self.run(self.pilot.pause(pause))

    @rule(keys=st.sampled_from(["up", "down", "k", "pageup", "pagedown", "home", "end", "G", "g"]))
    def move(self, keys: str) -> None:
        self.run(self.pilot.press(keys))

    @rule(key=st.sampled_from(["d", "t", "p", "c", "escape"]))
    def filter_key(self, key: str) -> None:
        self.run(self.pilot.press(key))

    @rule(text=st.sampled_from(["m1", "m", "line", "conn", "0", "closed", "zz"]), purpose=st.sampled_from("/s"))
    def text_filter_or_search(self, text: str, purpose: str) -> None:
        """``/`` filters by the text, ``s`` searches for it (and goes to the next match)."""
        self.run(self.pilot.press(purpose, *text, "enter"))

    @rule(key=st.sampled_from(["n", "N"]))
    def find(self, key: str) -> None:
        self.run(self.pilot.press(key))

    @rule()
    def clear(self) -> None:
        self.run(self.pilot.press("ctrl+l"))

    @rule(size=st.sampled_from(SIZES))
    def resize(self, size: tuple[int, int]) -> None:
        self.run(self.pilot.resize_terminal(*size))

    # -- what must hold after every step -------------------------------------------------------

    @invariant()
    def index_points_at_live_rows_and_matches_the_filters(self) -> None:
        if self.context is None:
            return
        timeline, rows = self.app.timeline, self.store.rows
        index = timeline.index
        positions = [index[n] for n in range(len(index))]
        assert all(0 <= position < len(rows) for position in positions), (positions[-3:], len(rows))
        assert positions == sorted(set(positions))
        matches = self.app.applied_filters.matcher()
        indexed = timeline.rows_indexed
        assert indexed <= len(rows)
        expected = [p for p in range(index.untested, indexed) if matches(rows[p])]
        assert positions == expected
        cursor = timeline.cursor
        assert cursor is None or 0 <= cursor < len(index)
        if len(index) and timeline.following:
            assert cursor == len(index) - 1
        assert timeline.new_while_paused >= 0

    @invariant()
    def each_line_drawn_shows_its_row(self) -> None:
        if self.context is not None:
            self.call(assert_lines_show_their_rows, self.app.timeline)

    @invariant()
    def counts_add_up(self) -> None:
        if self.context is None:
            return
        store = self.store
        for entry in store.entries.values():
            connection = entry.connection
            assert len(entry.frames) + connection.messages_dropped + entry.cleared == entry.next_index
            assert connection.messages_dropped == connection.messages_not_kept + connection.messages_lost
        frame_rows = sum(isinstance(item, Frame) for _, item in store.rows)
        assert frame_rows == store.frames_received - store.frames_let_go
        # --max-frames bounds the frames; the events and log lines have a bound of their own, as
        # many again (issue 27: they took the place of frames).
        assert frame_rows <= store.max_frames
        assert len(store.rows) - frame_rows <= store.max_frames


# A few dozen interleavings in every test run (a minute or so: each step drives the real screen);
# `nox -s soak` tries many more.
TimelineMachine.TestCase.settings = settings(
    max_examples=int(os.environ.get("WSINSPECT_STATEFUL_EXAMPLES", "25")),
    stateful_step_count=int(os.environ.get("WSINSPECT_STATEFUL_STEPS", "25")),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
test_the_timeline_survives_any_interleaving = TimelineMachine.TestCase


# -- the crash of the issue, and what a trim does to what the person sees ---------------------


async def _live_app(tmp_path: Path, max_frames: int) -> InspectorApp:
    store = Store(max_frames=max_frames)
    return InspectorApp(store, server=InspectorServer(store, tmp_path / "s.sock"), source="soak", no_confirm=True)


def lines_drawn(timeline: TimelineView) -> str:
    """The timeline's rows as it draws them now (what the next paint of the screen shows)."""
    return "\n".join(timeline.render_line(y).text for y in range(timeline.scrollable_content_region.height))


def _messages(key: int, start: int, count: int) -> list[WireMessage]:
    return [batch(key, [text_frame(f"m{n}", at=1000.0 + n / 100) for n in range(start, start + count)], start)]


async def test_a_trim_between_two_refreshes_leaves_every_line_drawn_on_a_live_row(tmp_path: Path) -> None:
    """The issue's traceback: the timeline took in new rows (its refresh), the retention bound
    trimmed before the screen painted them, and the paint read past the end of the rows."""
    app = await _live_app(tmp_path, max_frames=100)
    store = app.store
    async with app.run_test(size=(160, 45)) as pilot:
        store.apply(PRODUCER, [update(1), *_messages(1, 0, 90)], 1000.0)
        await pilot_until(
            pilot, lambda: app.timeline.rows_indexed == len(store.rows), "the timeline to take the rows in"
        )
        await pilot.pause()
        assert "m89" in lines_drawn(app.timeline)
        store.apply(PRODUCER, _messages(1, 90, 5), 1001.0)
        app.timeline.sync()  # what the refresh does: m90-m94 are to be painted
        store.apply(PRODUCER, _messages(1, 95, 10), 1002.0)  # 107 rows: the oldest 17 go first
        assert store.rows_trimmed == 17
        screen = lines_drawn(app.timeline)  # the paint
        assert "m94" in screen.splitlines()[-1]
        assert "m95" not in screen  # not taken in yet: that is the next refresh's job
        assert_lines_show_their_rows(app.timeline)
        await pilot_until(pilot, lambda: "m104" in lines_drawn(app.timeline), "the new rows on screen")
        assert app.timeline.selected_row() == store.rows[-1]


async def test_a_paused_screen_keeps_its_rows_in_place_and_a_let_go_selection_moves_to_the_oldest(
    tmp_path: Path,
) -> None:
    app = await _live_app(tmp_path, max_frames=100)
    store = app.store
    async with app.run_test(size=(160, 45)) as pilot:
        store.apply(PRODUCER, [update(1), *_messages(1, 0, 95)], 1000.0)
        await pilot_until(
            pilot, lambda: app.timeline.rows_indexed == len(store.rows), "the timeline to take the rows in"
        )
        await pilot.press("end", *["up"] * 40)  # paused, the cursor on m54, the screen scrolled up
        timeline = app.timeline
        assert not timeline.following
        assert timeline.selected_row()[1].content == "m54"
        before = lines_drawn(timeline)
        store.apply(PRODUCER, _messages(1, 95, 10), 1001.0)  # the oldest 17 go (connect, accept, m0-m14)
        assert timeline.selected_row()[1].content == "m54"  # the same row, under a smaller number
        assert lines_drawn(timeline) == before  # the same rows on screen: nothing jumps
        assert_lines_show_their_rows(timeline)
        await pilot.press("g")  # the oldest row left
        assert timeline.selected_row()[1].content == "m15"
        store.apply(PRODUCER, _messages(1, 105, 20), 1002.0)  # the selected row goes now (m15-m34 do)
        assert timeline.selected_row()[1].content == "m35"
        await pilot.pause()
        assert app.query_one(DetailPane).row == store.rows[0]  # and the detail pane shows it
        await pilot_until(pilot, lambda: "+30 new" in str(app.query_one("#status").render()), "the status line")
        # Why c1's first 35 frames are missing: this inspector's bound let them go.
        panel = app.query_one(LifecyclePanel)
        assert "missing 35 let go (--max-frames, --max-messages)" in str(panel.render())


async def test_ctrl_l_between_two_refreshes_leaves_nothing_pointing_at_the_rows_it_cleared(tmp_path: Path) -> None:
    app = await _live_app(tmp_path, max_frames=1000)
    store = app.store
    async with app.run_test(size=(160, 45)) as pilot:
        store.apply(PRODUCER, [update(1), *_messages(1, 0, 50)], 1000.0)
        await pilot_until(
            pilot, lambda: app.timeline.rows_indexed == len(store.rows), "the timeline to take the rows in"
        )
        await pilot.press("ctrl+l")
        store.apply(PRODUCER, _messages(1, 50, 3), 1001.0)  # new rows before the next refresh
        assert len(app.timeline.index) == 0
        assert "m49" not in lines_drawn(app.timeline)
        await pilot_until(pilot, lambda: "m52" in lines_drawn(app.timeline), "the rows after the clear")
        assert [row[1].content for row in store.rows] == ["m50", "m51", "m52"]


async def test_an_opened_capture_followed_and_cleared_keeps_every_line_on_a_live_row(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """ctrl+l on a capture another record is writing: its rows so far leave the timeline (not the
    file), and the rows written after it are followed, each line on its own row."""
    path = tmp_path / "capture.sqlite"
    store = Store()
    writer = DatabaseWriter(path, store)
    store.apply(PRODUCER, [update(1), *_messages(1, 0, 200)], 1000.0)
    writer.flush()
    monkeypatch.setattr(capture_store, "FOLLOW_EVERY", 0.05)
    app = InspectorApp(DatabaseStore(path), source=str(path), no_confirm=True)
    async with app.run_test(size=(160, 45)) as pilot:
        await pilot_until(pilot, lambda: "m199" in lines_drawn(app.timeline), "the capture's newest row")
        await pilot.press("ctrl+l")
        assert len(app.timeline.index) == 0
        assert "m199" not in lines_drawn(app.timeline)
        store.apply(PRODUCER, _messages(1, 200, 30), 1001.0)
        writer.flush()
        await pilot_until(pilot, lambda: "m229" in lines_drawn(app.timeline), "the rows written since")
        assert_lines_show_their_rows(app.timeline)
        assert [row[1].content for row in app.store.rows] == [f"m{n}" for n in range(200, 230)]  # type: ignore[union-attr]
        writer.close()


async def test_a_selection_announced_as_the_app_closes_is_no_traceback(tmp_path: Path) -> None:
    """Found by the state machine: a row selected as the app closed (its first refresh ran during
    the teardown) was announced after the detail pane had gone, and the app ended on a traceback."""
    app = await _live_app(tmp_path, max_frames=32)
    store = app.store
    async with app.run_test(size=(160, 45)) as pilot:
        store.apply(PRODUCER, [update(1), *_messages(1, 0, 5)], 1000.0)
        await pilot_until(pilot, lambda: app.timeline.selected_row() is not None, "a selected row")
        await app.query_one(DetailPane).remove()  # as the teardown removes the widgets
        app.timeline.post_message(TimelineView.RowSelected(store.rows[0]))
        await pilot.pause()
        assert app.is_running
        # The same for a connection highlighted in the table (seen once as a test's app closed):
        # the highlight is handled after the table has gone.
        await app.query_one(ConnectionTable).remove()
        app._connection_highlighted()
        assert app.is_running
    # Leaving run_test raises the app's own exception, had it had one.
