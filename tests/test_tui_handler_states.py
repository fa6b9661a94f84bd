"""What handlers are doing and who blocked the loop, on the live inspector's screen: the table's
state cell, the lifecycle panel and the connect row's detail follow the reports as they come (and
go); a loop block's row is red and its detail has the stack. Snapshots: test_tui_snapshots.py."""

from __future__ import annotations

import time

import pytest
from helpers.factories import update
from helpers.tui import select, text_of
from helpers.waiting import pilot_until

from wsinspect.inspector.core.store import Producer, Store
from wsinspect.inspector.ui.app import InspectorApp
from wsinspect.inspector.ui.detail import DetailPane
from wsinspect.inspector.ui.lifecycle import LifecyclePanel
from wsinspect.inspector.ui.timeline import TimelineView
from wsinspect.model import HandlerState, LoopBlock, SystemEvent, TracebackEntry
from wsinspect.wire import WireHandlerState, WireLoopBlock

pytestmark = pytest.mark.usefixtures("utc_clock")

SIZE = (160, 45)
PRODUCER = Producer(key=1, pid=4242, app="chat-app")
STACK = [
    TracebackEntry(
        file="/srv/.venv/lib/python3.12/site-packages/litestar/app.py", line=604, function="Litestar.__call__"
    ),
    TracebackEntry(file="chat/handlers.py", line=33, function="chat", code="render(report)", app=True),
]


def state_cell(app: InspectorApp, connection_id: str) -> str:
    """The table's state cell of the connection ("" before its row is there)."""
    return str(app.table.get_row(connection_id)[2]) if connection_id in app.table.rows else ""


async def test_the_table_lifecycle_and_connect_row_follow_the_handlers_state() -> None:
    store = Store()
    app = InspectorApp(store, source="live")
    now = time.time()
    async with app.run_test(size=SIZE) as pilot:
        store.apply(PRODUCER, [update(1, connected_at=now - 30, accepted_at=now - 30)], now)
        await pilot_until(pilot, lambda: "c1" in app.table.rows, "the connection")
        assert "·" not in state_cell(app, "c1")  # nothing lasting: just "Open (…)"

        store.apply(PRODUCER, [WireHandlerState(1, HandlerState(state="receiving", since=now - 12.2))], now)
        await pilot_until(pilot, lambda: "· waiting 1" in state_cell(app, "c1"), "the table to say waiting")
        assert state_cell(app, "c1").startswith("Open (")

        working = HandlerState(state="working", since=time.time() - 3.1, stack=STACK)
        store.apply(PRODUCER, [WireHandlerState(1, working)], now)
        await pilot_until(pilot, lambda: "· working 3." in state_cell(app, "c1"), "the table to say working")
        await select(pilot, lambda row: isinstance(row[1], SystemEvent) and row[1].text.startswith("connect"))
        lifecycle = app.query_one(LifecyclePanel)
        await pilot_until(pilot, lambda: "doing   working" in text_of(lifecycle), "the lifecycle panel")
        assert "chat/handlers.py:33 in chat" in text_of(lifecycle)
        assert "… 1 library frame" in text_of(lifecycle)
        detail = app.query_one(DetailPane)
        assert "handler       working 3." in text_of(detail)
        assert "in chat/handlers.py:33 chat()" in text_of(detail)
        assert "Stack (most recent call last)" in text_of(detail)
        # The durations go on while it lasts, in the detail too.
        before = text_of(detail)
        await pilot_until(pilot, lambda: text_of(detail) != before, "the detail's duration to go on", patience=5)

        store.apply(PRODUCER, [WireHandlerState(1, None)], now)
        await pilot_until(pilot, lambda: "·" not in state_cell(app, "c1"), "the state to end in the table")
        await pilot_until(pilot, lambda: "doing" not in text_of(lifecycle), "the lifecycle panel to drop it")
        await pilot_until(pilot, lambda: "handler       " not in text_of(detail), "the detail to drop it")


async def test_a_closed_connection_shows_no_state() -> None:
    store = Store()
    app = InspectorApp(store, source="live")
    now = time.time()
    async with app.run_test(size=SIZE) as pilot:
        state = HandlerState(state="sending", since=now - 5)
        store.apply(PRODUCER, [update(1, connected_at=now - 30), WireHandlerState(1, state)], now)
        await pilot_until(pilot, lambda: "· sending" in state_cell(app, "c1"), "sending")
        store.apply(PRODUCER, [update(1, connected_at=now - 30, state="closed", disconnected_at=now)], now)
        await pilot_until(pilot, lambda: state_cell(app, "c1").startswith("Closed"), "closed")
        assert "sending" not in state_cell(app, "c1")


async def test_a_loop_block_row_is_red_and_its_detail_shows_the_stack() -> None:
    store = Store()
    app = InspectorApp(store, source="live")
    now = time.time()
    async with app.run_test(size=SIZE) as pilot:
        block = LoopBlock(timestamp=now - 1, duration=0.42, stack=STACK)
        store.apply(PRODUCER, [update(1, connected_at=now - 30), WireLoopBlock(1, block)], now)
        store.apply(PRODUCER, [WireLoopBlock(None, LoopBlock(timestamp=now, duration=0.3))], now)
        timeline = app.query_one(TimelineView)
        await pilot_until(pilot, lambda: "no stack caught" in text_of(timeline), "both blocks' rows")
        lines = text_of(timeline).splitlines()
        assert any(line.endswith("c1 ◉ event  loop blocked 420 ms in chat/handlers.py:33 chat()") for line in lines)
        assert any(
            line.endswith("◉ event  chat-app (pid 4242): loop blocked 300 ms (no stack caught)") for line in lines
        )
        row = await select(pilot, lambda row: isinstance(row[1], SystemEvent) and "420 ms" in row[1].text)
        assert isinstance(row[1], SystemEvent)
        assert row[1].level == "error"  # red, as every block from 100 ms
        detail = text_of(app.query_one(DetailPane))
        assert "held from" in detail
        assert "by this connection's handler" in detail
        assert "chat/handlers.py:33 in chat" in detail
        assert "render(report)" in detail
        await select(pilot, lambda row: isinstance(row[1], SystemEvent) and "no stack" in row[1].text)
        detail = text_of(app.query_one(DetailPane))
        assert "by no connection's handler (the app)" in detail
        assert "no stack caught" in detail
