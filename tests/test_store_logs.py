"""The handler's log lines, handler times and loop lag in the inspector's Store; log lines in the
filters and in session files (sans-I/O)."""

from __future__ import annotations

import json
from itertools import product
from pathlib import Path
from typing import Any

import msgspec
import pytest
from helpers.factories import (
    batch,
    binary_frame,
    close_frame,
    control_frame,
    frame,
    log_line,
    text_frame,
    update,
    wire_frame,
    wire_log,
)
from hypothesis import given, settings
from hypothesis import strategies as st

from wsinspect import sessions as files
from wsinspect.inspector.core.describe import LAG_SHOWN_FOR, log_text, loop_lag
from wsinspect.inspector.core.filters import FilteredIndex, Filters
from wsinspect.inspector.core.rows import RowCode
from wsinspect.inspector.core.rows import code_of as row_code
from wsinspect.inspector.core.store import LAG_REPORTS_KEPT, Producer, Store, search_text
from wsinspect.model import Connection, Frame, LogLine, Row, SystemEvent, TracebackEntry
from wsinspect.sessions import jsonfile
from wsinspect.wire import FrameBatch, FramesDropped, LoopLag, WireFrame, WireMessage

APP = Producer(key=1, pid=1001, app="chat-app")
OTHER = Producer(key=2, pid=2002, app="game-app")
NOW = 1764350000.0
EXPORTED_AT = 1764350000.123

TRACEBACK = [
    TracebackEntry(file="/usr/lib/python3.12/asyncio/tasks.py", line=314, function="__step_run_and_handle_result"),
    TracebackEntry(file="/srv/app/chat.py", line=42, function="on_message", code='raise ValueError("bad")', app=True),
]


def logged(key: int, index: int, message: str | None = None, *, at: float | None = None, **kw: Any) -> WireMessage:
    """Log line number ``index`` of connection ``key``: "m<index>" at 200 + index unless told."""
    line = log_line(f"m{index}" if message is None else message, at=200.0 + index if at is None else at, **kw)
    return wire_log(key, index, line)


def received(key: int, index: int, content: str = "q", *, at: float, asked: float | None) -> FrameBatch:
    """A received text message, with when its handler asked for it (``asked``; None: not known)."""
    wire = wire_frame(key, index, text_frame(content, direction="received", at=at))
    return FrameBatch([msgspec.structs.replace(wire, asked=asked)])


def sent(key: int, index: int, f: Frame | None = None, *, at: float = 0.0) -> FrameBatch:
    """A sent frame (a text one at ``at`` unless told)."""
    return batch(key, [f if f is not None else text_frame("a", at=at)], start=index)


def log_rows(store: Store, connection_id: str | None = None) -> list[LogLine]:
    return [
        item
        for owner, item in store.rows
        if isinstance(item, LogLine) and (connection_id is None or owner == connection_id)
    ]


def frame_of(store: Store, connection_id: str, index: int) -> Frame:
    return store.entries[connection_id].frames[index]


def assert_columns_in_step(store: Store) -> None:
    """``codes``, ``owners`` and ``texts`` say of each row what it is, whose and what a search reads."""
    assert len(store.codes) == len(store.owners) == len(store.texts) == len(store.rows)
    assert list(store.codes) == [row_code(row) for row in store.rows]
    assert store.texts == [search_text(item) for _, item in store.rows]
    numbers: dict[str | None, int] = {None: 0}
    numbers.update((connection_id, entry.number) for connection_id, entry in store.entries.items())
    assert list(store.owners) == [numbers[connection_id] for connection_id, _ in store.rows]


# -- log lines applied live ----------------------------------------------------------------------


def test_a_log_line_after_its_connection_becomes_a_row_with_its_columns() -> None:
    store = Store()
    calls: list[set[str]] = []
    store.listeners.append(calls.append)
    store.apply(APP, [update(1)], NOW)
    calls.clear()
    line = log_line("User Joined", logger="Chat.Rooms", at=200.0)
    store.apply(APP, [wire_log(1, 0, line)], NOW)
    assert store.rows[-1] == ("c1", line)
    assert store.codes[-1] == RowCode.LOG
    assert store.owners[-1] == store.entries["c1"].number != 0
    assert store.texts[-1] == "chat.rooms: user joined"
    assert calls == [{"c1"}]
    entry = store.entries["c1"]
    assert list(entry.logs) == [line]
    assert entry.next_log == 1
    assert entry.connection.logs_dropped == 0
    assert store.frames_received == 0  # a log line is no frame
    assert_columns_in_step(store)


def test_a_log_lines_error_and_traceback_come_with_it() -> None:
    store = Store()
    store.apply(
        APP, [update(1), logged(1, 0, "failed", error="ValueError: Bad", traceback=TRACEBACK, level="ERROR")], NOW
    )
    (line,) = log_rows(store)
    assert (line.level, line.error, line.traceback) == ("ERROR", "ValueError: Bad", TRACEBACK)
    assert store.texts[-1] == "chat.rooms: failed (valueerror: bad)"


def test_a_log_line_of_an_unknown_key_is_ignored() -> None:
    store = Store()
    calls: list[set[str]] = []
    store.listeners.append(calls.append)
    store.apply(APP, [update(1)], NOW)
    calls.clear()
    rows = list(store.rows)
    store.apply(APP, [logged(2, 0)], NOW)  # no update bound key 2
    store.apply(OTHER, [logged(1, 0)], NOW)  # key 1 of another producer is another connection
    assert store.rows == rows
    assert calls == []
    assert not store.entries["c1"].logs


def test_a_log_line_before_its_connection_is_not_kept_and_the_replay_brings_it() -> None:
    store = Store()
    store.apply(APP, [logged(1, 0)], NOW)
    assert store.rows == []
    store.apply(APP, [update(1), logged(1, 0)], NOW)
    assert [line.message for line in log_rows(store)] == ["m0"]


def test_a_repeated_log_line_from_a_replay_is_not_added_twice() -> None:
    store = Store()
    store.apply(APP, [update(1), logged(1, 0), logged(1, 1)], NOW)
    store.apply(APP, [update(1), logged(1, 0), logged(1, 1), logged(1, 2)], NOW)  # a replay, and a new one
    assert [line.message for line in log_rows(store)] == ["m0", "m1", "m2"]
    assert [line.message for line in store.entries["c1"].logs] == ["m0", "m1", "m2"]
    assert store.entries["c1"].connection.logs_dropped == 0
    assert store.entries["c1"].next_log == 3
    assert_columns_in_step(store)


def test_a_gap_in_the_log_indices_counts_as_dropped() -> None:
    store = Store()
    store.apply(APP, [update(1), logged(1, 0), logged(1, 3)], NOW)
    entry = store.entries["c1"]
    assert [line.message for line in entry.logs] == ["m0", "m3"]
    assert entry.connection.logs_dropped == 2
    assert entry.next_log == 4
    store.apply(APP, [logged(1, 2)], NOW)  # late, and counted as dropped already: a repeat
    assert [line.message for line in entry.logs] == ["m0", "m3"]
    assert entry.connection.logs_dropped == 2


def test_a_first_log_line_not_at_zero_counts_the_ones_before_it() -> None:
    store = Store()
    store.apply(APP, [update(1), logged(1, 4)], NOW)
    assert store.entries["c1"].connection.logs_dropped == 4


def test_more_log_lines_than_max_messages_keep_the_newest() -> None:
    store = Store(max_messages=3)
    store.apply(APP, [update(1), *(logged(1, index) for index in range(5))], NOW)
    entry = store.entries["c1"]
    assert [line.message for line in entry.logs] == ["m2", "m3", "m4"]
    assert entry.connection.logs_dropped == 2
    assert entry.next_log == 5
    snapshot = entry.snapshot()
    assert [line.message for line in snapshot.logs] == ["m2", "m3", "m4"]
    assert snapshot.logs_dropped == 2
    assert snapshot.messages == []
    assert len(log_rows(store)) == 5  # the timeline keeps its rows (up to max_frames)


def test_snapshots_hold_the_log_lines_and_the_held_connection_none() -> None:
    store = Store()
    store.apply(APP, [update(1), sent(1, 0, at=150.0), logged(1, 0), logged(1, 1)], NOW)
    entry = store.entries["c1"]
    assert entry.connection.logs == []
    assert entry.connection.messages == []
    (snapshot,) = store.connections()
    assert [line.message for line in snapshot.logs] == ["m0", "m1"]
    assert [f.content for f in snapshot.messages] == ["a"]
    snapshot.logs.clear()
    assert len(entry.logs) == 2  # a copy


def test_log_lines_of_two_connections_and_producers_stay_apart() -> None:
    store = Store()
    store.apply(APP, [update(1), update(2), logged(1, 0, "one"), logged(2, 0, "two"), logged(1, 1, "three")], NOW)
    store.apply(OTHER, [update(1, connection_id="g1"), logged(1, 0, "four")], NOW)
    assert [line.message for line in store.entries["c1"].logs] == ["one", "three"]
    assert [line.message for line in store.entries["c2"].logs] == ["two"]
    assert [line.message for line in store.entries["g1"].logs] == ["four"]
    assert [line.message for line in log_rows(store)] == ["one", "two", "three", "four"]
    assert_columns_in_step(store)


def test_an_update_keeps_the_log_lines_dropped_that_the_store_counted() -> None:
    store = Store()
    store.apply(APP, [update(1), logged(1, 0), logged(1, 3)], NOW)
    assert store.entries["c1"].connection.logs_dropped == 2
    store.apply(APP, [update(1, state="closed", disconnected_at=210.0)], NOW)
    assert store.entries["c1"].connection.logs_dropped == 2


def test_a_replay_after_the_apps_buffer_let_lines_go_counts_them_once() -> None:
    # The app logged 15 lines and holds the newest 10: its update says 5 dropped, its replay starts at 5.
    store = Store()
    store.apply(APP, [update(1, logs_dropped=5), *(logged(1, index) for index in range(5, 15))], NOW)
    entry = store.entries["c1"]
    assert len(entry.logs) == 10
    assert entry.connection.logs_dropped == 5


LOG_INDICES = st.lists(st.integers(0, 15), max_size=40)


@settings(max_examples=200, deadline=None)
@given(indices=LOG_INDICES, max_messages=st.integers(1, 6))
def test_log_lines_held_and_dropped_add_up_whatever_comes(indices: list[int], max_messages: int) -> None:
    store = Store(max_messages=max_messages)
    store.apply(APP, [update(1)], NOW)
    accepted: list[int] = []
    for index in indices:
        store.apply(APP, [logged(1, index)], NOW)
        if not accepted or index > accepted[-1]:
            accepted.append(index)
        entry = store.entries["c1"]
        assert [line.message for line in entry.logs] == [f"m{i}" for i in accepted[-max_messages:]]
        assert entry.next_log == (accepted[-1] + 1 if accepted else 0)
        assert len(entry.logs) + entry.connection.logs_dropped == entry.next_log
        assert [line.message for line in log_rows(store)] == [f"m{i}" for i in accepted]
    assert_columns_in_step(store)


# -- handler time --------------------------------------------------------------------------------


def test_a_send_ends_the_handlers_work_on_the_message_before() -> None:
    store = Store()
    store.apply(APP, [update(1), received(1, 0, at=200.0, asked=199.0)], NOW)
    message = frame_of(store, "c1", 0)
    assert message.handler_time is msgspec.UNSET
    assert store.entries["c1"].working_on is message
    store.apply(APP, [sent(1, 1, at=200.05)], NOW)
    assert message.handler_time == pytest.approx(0.05)
    assert store.entries["c1"].working_on is None
    store.apply(APP, [sent(1, 2, at=200.5)], NOW)  # only the first send counts
    assert message.handler_time == pytest.approx(0.05)
    assert frame_of(store, "c1", 1).handler_time is msgspec.UNSET  # sent frames have none


def test_the_next_message_asked_for_ends_the_work_on_the_one_before() -> None:
    store = Store()
    store.apply(APP, [update(1), received(1, 0, at=200.0, asked=199.0)], NOW)
    store.apply(APP, [received(1, 1, at=200.5, asked=200.2)], NOW)
    first, second = frame_of(store, "c1", 0), frame_of(store, "c1", 1)
    assert first.handler_time == pytest.approx(0.2)
    assert second.handler_time is msgspec.UNSET
    assert store.entries["c1"].working_on is second


def test_both_in_one_batch() -> None:
    store = Store()
    messages = [
        wire_frame(1, 0, text_frame("q1", direction="received", at=200.0)),
        wire_frame(1, 1, text_frame("a1", at=200.3)),
        wire_frame(1, 2, text_frame("q2", direction="received", at=201.0)),
        wire_frame(1, 3, text_frame("q3", direction="received", at=201.1)),
    ]
    messages[0].asked, messages[2].asked, messages[3].asked = 199.0, 200.9, 201.6
    store.apply(APP, [update(1), FrameBatch(messages)], NOW)
    times = [f.handler_time for f in store.entries["c1"].frames]
    assert times[0] == pytest.approx(0.3)
    assert times[1] is msgspec.UNSET
    assert times[2] == pytest.approx(0.6)
    assert times[3] is msgspec.UNSET


def test_the_apps_close_ends_its_work_on_the_message() -> None:
    store = Store()
    store.apply(APP, [update(1), received(1, 0, at=200.0, asked=199.0)], NOW)
    store.apply(APP, [sent(1, 1, close_frame(1000, "bye", at=200.4))], NOW)
    assert frame_of(store, "c1", 0).handler_time == pytest.approx(0.4)
    assert store.entries["c1"].working_on is None


def test_a_received_close_or_pings_do_not_end_the_work() -> None:
    store = Store()
    store.apply(APP, [update(1), received(1, 0, at=200.0, asked=199.0)], NOW)
    store.apply(
        APP,
        [
            sent(1, 1, control_frame("ping", b"p", at=200.1)),
            batch(1, [control_frame("pong", b"p", direction="received", at=200.2)], start=2),
            batch(1, [close_frame(1000, direction="received", at=200.3)], start=3),
        ],
        NOW,
    )
    message = frame_of(store, "c1", 0)
    assert message.handler_time is msgspec.UNSET
    store.apply(APP, [sent(1, 4, at=200.7)], NOW)
    assert message.handler_time == pytest.approx(0.7)


def test_without_asked_the_handler_time_stays_unknown() -> None:
    # Frames of older producers, and the tests' frames, say nothing of when the handler asked.
    store = Store()
    store.apply(APP, [update(1), received(1, 0, at=200.0, asked=None)], NOW)
    store.apply(APP, [sent(1, 1, at=200.05), received(1, 2, at=201.0, asked=None)], NOW)
    store.apply(APP, [sent(1, 3, close_frame(1000, at=201.5))], NOW)
    assert all(f.handler_time is msgspec.UNSET for f in store.entries["c1"].frames)
    assert store.entries["c1"].working_on is None


def test_a_message_without_asked_ends_the_wait_for_the_one_before_unknown() -> None:
    store = Store()
    store.apply(APP, [update(1), received(1, 0, at=200.0, asked=199.0), received(1, 1, at=200.5, asked=None)], NOW)
    store.apply(APP, [sent(1, 2, at=201.0)], NOW)
    assert [f.handler_time for f in store.entries["c1"].frames] == [msgspec.UNSET] * 3


def test_a_send_of_another_connection_does_not_end_this_ones_work() -> None:
    store = Store()
    store.apply(APP, [update(1), update(2), received(1, 0, at=200.0, asked=199.0)], NOW)
    store.apply(APP, [sent(2, 0, at=200.1)], NOW)
    store.apply(OTHER, [update(1, connection_id="g1"), sent(1, 0, at=200.2)], NOW)  # key 1, another producer
    message = frame_of(store, "c1", 0)
    assert message.handler_time is msgspec.UNSET
    assert store.entries["c1"].working_on is message
    store.apply(APP, [sent(1, 1, at=200.3)], NOW)
    assert message.handler_time == pytest.approx(0.3)


def test_a_handler_time_is_never_negative() -> None:
    store = Store()
    store.apply(APP, [update(1), received(1, 0, at=200.0, asked=199.0), received(1, 1, at=200.5, asked=199.9)], NOW)
    store.apply(APP, [sent(1, 2, at=200.4)], NOW)  # clocks of two threads: a send stamped before
    assert frame_of(store, "c1", 0).handler_time == 0.0
    assert frame_of(store, "c1", 1).handler_time == 0.0


def test_a_repeated_frame_from_a_replay_times_nothing() -> None:
    store = Store()
    store.apply(APP, [update(1), received(1, 0, at=200.0, asked=199.0), sent(1, 1, at=200.1)], NOW)
    store.apply(APP, [received(1, 2, at=201.0, asked=200.8)], NOW)
    store.apply(APP, [sent(1, 1, at=200.1)], NOW)  # sent again by a replay
    assert frame_of(store, "c1", 0).handler_time == pytest.approx(0.1)
    assert frame_of(store, "c1", 2).handler_time is msgspec.UNSET


def test_a_log_line_does_not_end_the_work() -> None:
    store = Store()
    store.apply(APP, [update(1), received(1, 0, at=200.0, asked=199.0), logged(1, 0, at=200.1)], NOW)
    assert frame_of(store, "c1", 0).handler_time is msgspec.UNSET


# -- the retention bound -------------------------------------------------------------------------


def test_trimmed_log_rows_are_not_frames_let_go() -> None:
    store = Store(max_frames=10)
    messages: list[WireMessage] = [update(1)]  # connect, accepted
    for index in range(11):
        messages += [logged(1, index, at=200.0 + index), sent(1, index, at=200.5 + index)]
    store.apply(APP, messages, NOW)  # 11 frames: the oldest 11 - 10 + 1 go, and the rows among them
    assert store.rows_trimmed == 6  # connect, accepted, a log line, a frame, a log line, a frame
    assert store.frames_let_go == 2
    entry = store.entries["c1"]
    assert len(entry.frames) == 9
    assert [f.timestamp for f in entry.frames] == [202.5 + n for n in range(9)]
    connection = entry.connection
    assert (connection.messages_dropped, connection.messages_not_kept, entry.evicted) == (2, 2, 2)
    assert isinstance(store.rows[0][1], LogLine)  # l2: the rows after the last frame let go stay
    assert store.rows[1][1] is entry.frames[0]
    # The trimmed log lines leave their connection too (an export holds what the timeline does).
    assert [line.timestamp for line in entry.logs] == [202.0 + n for n in range(9)]
    assert connection.logs_dropped == 2
    assert_columns_in_step(store)


def test_log_rows_past_their_own_bound_leave_the_frames_alone() -> None:
    """Log lines and events do not count against --max-frames; they have a bound of their own,
    as many again: past it the oldest rows go, which here are no frames."""
    store = Store(max_frames=10)
    store.apply(APP, [update(1), sent(1, 0, at=150.0)], NOW)
    store.apply(APP, [logged(1, index) for index in range(9)], NOW)  # 11 other rows: 2 go
    assert store.rows_trimmed == 2  # connect, accepted
    assert store.frames_let_go == 0
    store.apply(APP, [logged(1, index) for index in range(9, 11)], NOW)  # 11 again: 2 more go
    assert store.rows_trimmed == 5  # the frame among them, then two log lines
    assert store.frames_let_go == 1
    store.apply(APP, [sent(1, 1, at=300.0), *(logged(1, index) for index in range(11, 13))], NOW)
    assert store.frames_let_go == 1
    entry = store.entries["c1"]
    assert [f.timestamp for f in entry.frames] == [300.0]
    assert entry.connection.messages_dropped == 1
    assert sum(code == RowCode.LOG for code in store.codes) <= 10
    assert_columns_in_step(store)


def test_a_loaded_session_past_the_bound_counts_only_its_frames_let_go() -> None:
    connection = Connection(
        connection_id="c1",
        path="/ws",
        connected_at=100.0,
        state="open",
        logs=[log_line(f"l{n}", at=100.1 + n) for n in range(4)],
        messages=[text_frame(f"f{n}", at=100.15 + n) for n in range(4)],
    )
    store = Store(max_frames=2)
    store.load([connection])  # connect, l0, f0, l1, f1, l2, f2, l3, f3: the oldest 5 go
    assert store.rows_trimmed == 5
    assert store.frames_let_go == 2
    assert [f.content for f in store.entries["c1"].frames] == ["f2", "f3"]
    assert store.entries["c1"].connection.messages_not_kept == 2
    assert [line.message for line in store.entries["c1"].logs] == ["l2", "l3"]
    assert store.entries["c1"].connection.logs_dropped == 2
    assert_columns_in_step(store)


# -- clear -----------------------------------------------------------------------------------


def test_clear_forgets_the_log_lines() -> None:
    store = Store()
    store.apply(
        APP,
        [
            update(1),
            update(2, state="closed", disconnected_at=150.0),
            logged(1, 0),
            logged(1, 1),
            logged(2, 0),
            received(1, 0, at=200.0, asked=199.0),
        ],
        NOW,
    )
    message = frame_of(store, "c1", 0)
    store.clear()
    assert store.rows == []
    assert not store.codes
    assert not store.texts
    assert "c2" not in store.entries
    entry = store.entries["c1"]
    assert not entry.logs
    assert entry.snapshot().logs == []
    assert entry.working_on is None
    store.apply(APP, [logged(1, 1), sent(1, 1, at=201.0)], NOW)  # a replay's repeat; a send
    assert store.rows == [("c1", store.entries["c1"].frames[0])]
    assert message.handler_time is msgspec.UNSET  # its work is not timed against what came after
    store.apply(APP, [logged(1, 2)], NOW)  # the next new one comes as before
    assert [line.message for line in entry.logs] == ["m2"]
    assert [line.message for line in log_rows(store)] == ["m2"]
    store.apply(APP, [logged(2, 1)], NOW)  # the closed one's do not come back
    assert "c2" not in store.entries
    assert_columns_in_step(store)


# -- load ------------------------------------------------------------------------------------


def loaded_connections() -> list[Connection]:
    first = Connection(
        connection_id="first",
        path="/ws/chat",
        connected_at=100.0,
        accepted_at=100.05,
        state="closed",
        disconnected_at=101.0,
        close_code=1000,
        closed_by="client",
        logs_dropped=3,
        logs=[
            log_line("joined", at=100.2),
            log_line("failed", at=100.4, level="ERROR", levelno=40, error="ValueError: bad", traceback=TRACEBACK),
        ],
        messages=[
            text_frame("hi", direction="received", at=100.1),
            text_frame("hello", at=100.3),
            close_frame(1000, direction="received", at=100.9),
        ],
    )
    second = Connection(
        connection_id="second",
        path="/ws/game",
        connected_at=100.25,
        state="open",
        logs=[log_line("waiting", logger="game", at=100.35)],
    )
    return [first, second]


def test_a_loaded_session_has_its_log_lines_among_its_frames_in_time_order() -> None:
    first, second = loaded_connections()
    store = Store()
    store.apply(APP, [update(1), logged(1, 0)], NOW)  # what the store held goes
    store.load([first, second], EXPORTED_AT)
    shown = [(owner, type(item).__name__, item.timestamp) for owner, item in store.rows]
    assert shown == [
        ("first", "SystemEvent", 100.0),
        ("first", "SystemEvent", 100.05),
        ("first", "Frame", 100.1),
        ("first", "LogLine", 100.2),
        ("second", "SystemEvent", 100.25),
        ("first", "Frame", 100.3),
        ("second", "LogLine", 100.35),
        ("first", "LogLine", 100.4),
        ("first", "Frame", 100.9),
        ("first", "SystemEvent", 101.0),
    ]
    assert list(store.codes) == [
        RowCode.EVENT,
        RowCode.EVENT,
        0,
        RowCode.LOG,
        RowCode.EVENT,
        1,
        RowCode.LOG,
        RowCode.LOG,
        8,
        RowCode.EVENT,
    ]
    assert store.texts[3] == "chat.rooms: joined"
    assert store.texts[7] == "chat.rooms: failed (valueerror: bad)"
    assert_columns_in_step(store)
    assert store.frames_received == 3
    entry = store.entries["first"]
    assert list(entry.logs) == first.logs
    assert entry.next_log == 3 + 2
    assert entry.connection.logs == []
    assert entry.connection.logs_dropped == 3
    assert store.entries["second"].next_log == 1
    assert {c.connection_id: c for c in store.connections()} == {"first": first, "second": second}


def test_a_loaded_log_line_is_the_one_its_row_shows() -> None:
    store = Store()
    store.load(loaded_connections())
    assert log_rows(store, "first")[1] is store.entries["first"].logs[1]


def test_the_search_text_of_a_log_line() -> None:
    line = log_line("User Joined", logger="Chat.Rooms")
    assert log_text(line) == "Chat.Rooms: User Joined"
    assert search_text(line) == "chat.rooms: user joined"
    failed = log_line("Failed", logger="app", error="KeyError: 'Room'")
    assert log_text(failed) == "app: Failed (KeyError: 'Room')"
    assert search_text(failed) == "app: failed (keyerror: 'room')"
    assert search_text(log_line("", logger="")) == ": "
    assert row_code(("c1", line)) == row_code((None, line)) == RowCode.LOG
    assert RowCode.LOG not in (*range(10), RowCode.EVENT)


# -- session files ---------------------------------------------------------------------------


def session_connection() -> Connection:
    """A connection with every new thing a session file carries."""
    timed = text_frame('{"type": "join"}', direction="received", at=1764349990.05)
    timed.handler_time = 0.0125
    return Connection(
        connection_id="0b6f8e2a-1111-4222-8333-444455556666",
        path="/ws/chat",
        state="closed",
        connected_at=1764349990.0,
        accepted_at=1764349990.001,
        disconnected_at=1764349995.5,
        close_code=1011,
        closed_by="server",
        error="ValueError: bad",
        traceback=TRACEBACK,
        refused_by=None,
        logs_dropped=7,
        logs=[
            log_line("joined", at=1764349990.06),
            log_line(
                'failed: "quoted" — ünïcode\n"messages": []',  # what the reader looks for, as text
                at=1764349995.4,
                level="ERROR",
                levelno=40,
                error="ValueError: bad",
                traceback=TRACEBACK,
            ),
        ],
        messages=[
            timed,
            text_frame("hello", at=1764349990.07),
            text_frame("again", direction="received", at=1764349990.1),
            binary_frame(b"\x00\xff", at=1764349990.2),
            close_frame(1011, "oops", at=1764349995.45),
        ],
    )


def refused_connection() -> Connection:
    return Connection(
        connection_id="1c7a0000-2222-4333-8444-555566667777",
        path="/ws/admin",
        state="closed",
        connected_at=1764349989.0,
        disconnected_at=1764349989.1,
        denial_status=403,
        error="NotAuthorizedException: no token",
        traceback=[TracebackEntry(file="/srv/app/guards.py", line=7, function="requires_token", app=True)],
        refused_by="guard requires_token",
        logs=[log_line("refusing", logger="auth", at=1764349989.05, level="WARNING", levelno=30)],
    )


SESSION = [session_connection(), refused_connection()]


def test_a_session_with_log_lines_tracebacks_and_handler_times_round_trips() -> None:
    assert files.loads(files.dumps(SESSION, EXPORTED_AT)).connections == SESSION


def test_a_session_file_leaves_unknown_handler_times_out() -> None:
    data = files.dumps(SESSION, EXPORTED_AT)
    document = json.loads(data)
    messages = document["connections"][0]["messages"]
    assert messages[0]["handler_time"] == 0.0125
    assert ["handler_time" in m for m in messages] == [True, False, False, False, False]
    text = data.decode()
    assert text.count('"handler_time"') == 1
    first = document["connections"][0]
    assert first["logs_dropped"] == 7
    assert first["logs"][1]["traceback"][1] == {
        "file": "/srv/app/chat.py",
        "line": 42,
        "function": "on_message",
        "code": 'raise ValueError("bad")',
        "app": True,
    }
    assert "message_type" not in first["logs"][0]  # a ClassVar, not a field
    assert document["connections"][1]["refused_by"] == "guard requires_token"
    assert list(first).index("logs") < list(first).index("messages") == len(first) - 1
    # One frame a line, as before: the log lines sit in the connection's head.
    assert sum(line.lstrip().startswith('{"direction": ') for line in text.splitlines()) == 5


def test_a_written_session_with_log_lines_is_read_block_by_block(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(jsonfile, "_decode_whole", lambda data: pytest.fail("decoded whole"))
    for name in ("session.json", "session.json.gz"):
        path = tmp_path / name
        files.write_session(path, SESSION, EXPORTED_AT)
        session = files.read_session(path)
        assert session.connections == SESSION
        assert session.exported_at == EXPORTED_AT


@pytest.mark.parametrize("block", [1, 7, 64, 1000])
def test_log_lines_split_across_blocks_read_the_same(block: int, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(jsonfile, "_BLOCK", block)
    monkeypatch.setattr(jsonfile, "_decode_whole", lambda data: pytest.fail("decoded whole"))
    assert files.loads(files.dumps(SESSION, EXPORTED_AT)).connections == SESSION


def test_a_session_with_log_lines_laid_out_otherwise_reads_the_same() -> None:
    compact = msgspec.json.encode(json.loads(files.dumps(SESSION, EXPORTED_AT)))
    assert files.loads(compact).connections == SESSION  # decoded whole
    assert files.loads(msgspec.json.format(compact, indent=4)).connections == SESSION


def test_a_file_of_before_log_lines_loads_with_none() -> None:
    document = json.loads(files.dumps(SESSION, EXPORTED_AT))
    for connection in document["connections"]:
        for key in ("logs", "logs_dropped", "traceback", "refused_by"):
            del connection[key]
    for read, written in zip(files.loads(json.dumps(document).encode()).connections, SESSION, strict=True):
        assert (read.logs, read.logs_dropped, read.traceback, read.refused_by) == ([], 0, [], None)
        assert read.messages == written.messages


def test_a_live_stores_log_lines_and_handler_times_survive_a_file() -> None:
    live = Store()
    live.apply(
        APP,
        [
            update(1),
            received(1, 0, at=200.0, asked=199.0),
            logged(1, 0, at=200.01),
            sent(1, 1, at=200.02),
            received(1, 2, at=201.0, asked=200.5),
            logged(1, 2, at=201.5, error="RuntimeError: x", traceback=TRACEBACK),
        ],
        NOW,
    )
    connections = live.connections()
    assert connections[0].messages[0].handler_time == pytest.approx(0.02)
    assert connections[0].logs_dropped == 1
    read = files.loads(files.dumps(connections, EXPORTED_AT)).connections
    assert read == connections
    again = Store()
    again.load(read, EXPORTED_AT)
    assert again.connections() == connections
    assert [type(item).__name__ for _, item in again.rows if not isinstance(item, SystemEvent)] == [
        "Frame",
        "LogLine",
        "Frame",
        "Frame",
        "LogLine",
    ]
    assert again.entries["c1"].next_log == live.entries["c1"].next_log == 3


# -- filters ---------------------------------------------------------------------------------


def mixed_store() -> Store:
    """Frames of every kind, events of connections and of the inspector, and log lines."""
    store = Store()
    store.add_system_event(99.0, "chat-app (pid 7) connected")
    store.apply(
        APP,
        [
            update(1),
            update(2, path="/ws/game"),
            logged(1, 0, "User Joined", at=100.1),
            batch(
                1,
                [
                    text_frame("hello chat", direction="received", at=100.2),
                    text_frame("welcome", at=100.3),
                    binary_frame(b"\xff\x00\x01", at=100.4),
                    control_frame("ping", b"", at=100.5),
                    control_frame("pong", b"", direction="received", at=100.6),
                ],
            ),
            logged(2, 0, "game started", logger="game.loop", at=100.7),
            logged(1, 1, "failed", at=100.8, level="ERROR", error="ValueError: ff00 bad", traceback=TRACEBACK),
            batch(2, [binary_frame(b"\x01\x02", direction="received", at=100.9)]),
            batch(1, [close_frame(1000, "bye chat", at=101.0)], start=5),
            update(1, state="closed", disconnected_at=101.0, close_code=1000, closed_by="server"),
            FramesDropped(count=3),
        ],
        NOW,
    )
    assert_columns_in_step(store)
    return store


def selected_rows(filters: Filters, store: Store) -> list[Row]:
    """The rows the index finds from the columns, checked against the per-row definition."""
    index = FilteredIndex(filters.selection(store.connection_number))
    index.rebuild(store)
    found = [store.rows[index[i]] for i in range(len(index))]
    match = filters.matcher()
    assert found == [row for row in store.rows if match(row)]
    pieces = FilteredIndex(filters.selection(store.connection_number))
    for start in range(0, len(store.rows), 3):
        pieces.extend(store, start, start + 3)
    assert [store.rows[pieces[i]] for i in range(len(pieces))] == found
    return found


def messages_of(rows: list[Row]) -> list[str]:
    return [item.message for _, item in rows if isinstance(item, LogLine)]


def test_kind_logs_keeps_only_the_log_lines() -> None:
    store = mixed_store()
    found = selected_rows(Filters(kind="logs"), store)
    assert all(isinstance(item, LogLine) for _, item in found)
    assert messages_of(found) == ["User Joined", "game started", "failed"]
    assert messages_of(selected_rows(Filters(kind="logs", connection_id="c1"), store)) == ["User Joined", "failed"]
    assert messages_of(selected_rows(Filters(kind="logs", hide_ping_pong=True), store)) == [
        "User Joined",
        "game started",
        "failed",
    ]


def test_every_kind_keeps_log_lines_only_when_all_or_logs() -> None:
    store = mixed_store()
    assert len(messages_of(selected_rows(Filters(), store))) == 3
    for kind in ("text", "binary", "control"):
        assert messages_of(selected_rows(Filters(kind=kind), store)) == []


@pytest.mark.parametrize("direction", ["sent", "received"])
def test_a_direction_hides_the_log_lines(direction: Any) -> None:
    store = mixed_store()
    assert messages_of(selected_rows(Filters(direction=direction), store)) == []
    assert selected_rows(Filters(direction=direction, kind="logs"), store) == []


@pytest.mark.parametrize(
    ("text", "regex", "messages"),
    [
        ("user joined", False, ["User Joined"]),  # its message, any case
        ("chat.rooms", False, ["User Joined", "failed"]),  # its logger
        ("GAME.LOOP: game", False, ["game started"]),  # "logger: message"
        ("valueerror", False, ["failed"]),  # its error
        ("(valueerror: ff00 bad)", False, ["failed"]),
        ("ff00", False, ["failed"]),  # hex digits: the bytes of payloads, and text as text
        (r"^chat\.rooms: (user|fail)", True, ["User Joined", "failed"]),
        ("(?-i:User)", True, ["User Joined"]),  # a regex with flags of its own reads the original text
        ("(?-i:user)", True, []),
        ("on_message", False, []),  # a traceback is not searched
    ],
)
def test_the_text_filter_finds_log_lines(text: str, regex: bool, messages: list[str]) -> None:
    store = mixed_store()
    assert messages_of(selected_rows(Filters(text=text, regex=regex), store)) == messages
    assert messages_of(selected_rows(Filters(text=text, regex=regex, kind="logs"), store)) == messages


KINDS = ("all", "text", "binary", "control", "logs")
DIRECTIONS = ("both", "sent", "received")
TEXTS = ("", "chat", "ff00", "joined", "bye", "error", "CONNECT")


@pytest.mark.parametrize(("kind", "direction"), list(product(KINDS, DIRECTIONS)))
def test_the_columns_select_what_the_matcher_does_with_log_lines(kind: Any, direction: Any) -> None:
    store = mixed_store()
    for text, regex, hide, connection_id in product(TEXTS, (False, True), (False, True), (None, "c1", "c2")):
        filters = Filters(text, regex, direction, kind, hide, connection_id)
        selected_rows(filters, store)


@settings(max_examples=150, deadline=None)
@given(
    picks=st.lists(st.integers(0, 17), max_size=40),
    kind=st.sampled_from(KINDS),
    direction=st.sampled_from(DIRECTIONS),
    text=st.sampled_from(TEXTS),
    regex=st.booleans(),
    connection_id=st.sampled_from([None, "c1", "c2"]),
)
def test_any_mix_of_rows_selects_what_the_matcher_does(
    picks: list[int], kind: Any, direction: Any, text: str, regex: bool, connection_id: str | None
) -> None:
    source = mixed_store()
    store = Store()
    for pick in picks:  # rows of the mixed store in any order, with their columns
        row = source.rows[pick % len(source.rows)]
        store.rows.append(row)
        store.codes.append(row_code(row))
        store.owners.append(0 if row[0] is None else store.connection_number(row[0]))
        store.texts.append(search_text(row[1]))
    selected_rows(Filters(text, regex, direction, kind, False, connection_id), store)


def test_the_logs_kind_is_a_filter() -> None:  # the cycle through it: test_filters.test_cycles
    logs = Filters(kind="logs")
    assert logs.active
    assert logs.describe() == ["kind: logs"]


# -- loop lag --------------------------------------------------------------------------------


def lag(store: Store, producer: Producer, worst: float, mean: float, at: float) -> None:
    store.apply(producer, [LoopLag(worst, mean)], at)


def test_no_loop_lag_reported_is_none() -> None:
    store = Store()
    assert loop_lag(store.loop_lags, [], NOW) is None
    assert loop_lag(store.loop_lags, [APP.key], NOW) is None


def test_a_loop_lag_report_is_a_row_of_nothing_and_changes_no_connection() -> None:
    store = Store()
    calls: list[set[str]] = []
    store.listeners.append(calls.append)
    lag(store, APP, 0.25, 0.01, NOW)
    assert store.rows == []
    assert calls == []
    assert list(store.loop_lags[APP.key]) == [(0.25, 0.01, NOW)]
    assert loop_lag(store.loop_lags, [APP.key], NOW) == (0.25, 0.01)


def test_loop_lag_reports_are_shown_for_a_while() -> None:
    store = Store()
    lag(store, APP, 0.9, 0.05, NOW)
    lag(store, APP, 0.1, 0.02, NOW + 3)
    assert loop_lag(store.loop_lags, [APP.key], NOW + 3) == (0.9, 0.02)  # the worst of them, the newest mean
    assert loop_lag(store.loop_lags, [APP.key], NOW + LAG_SHOWN_FOR) == (0.9, 0.02)
    assert loop_lag(store.loop_lags, [APP.key], NOW + LAG_SHOWN_FOR + 0.5) == (0.1, 0.02)  # the first is too old
    assert loop_lag(store.loop_lags, [APP.key], NOW + 3 + LAG_SHOWN_FOR + 0.01) is None


def test_loop_lag_of_two_producers_is_the_worse() -> None:
    store = Store()
    lag(store, APP, 0.2, 0.01, NOW)
    lag(store, OTHER, 0.5, 0.002, NOW + 1)
    assert loop_lag(store.loop_lags, [APP.key, OTHER.key], NOW + 1) == (0.5, 0.01)
    assert loop_lag(store.loop_lags, iter([OTHER.key, APP.key]), NOW + 1) == (0.5, 0.01)
    # A producer whose reports are all old counts for nothing.
    assert loop_lag(store.loop_lags, [APP.key, OTHER.key], NOW + LAG_SHOWN_FOR + 0.5) == (0.5, 0.002)


def test_loop_lag_only_of_the_producers_asked_for() -> None:
    store = Store()
    lag(store, APP, 0.2, 0.01, NOW)
    lag(store, OTHER, 0.5, 0.3, NOW)
    assert loop_lag(store.loop_lags, [APP.key], NOW) == (0.2, 0.01)
    assert loop_lag(store.loop_lags, [OTHER.key], NOW) == (0.5, 0.3)
    assert loop_lag(store.loop_lags, [3], NOW) is None  # a producer that never reported


def test_loop_lag_keeps_the_newest_reports_of_each_producer() -> None:
    store = Store()
    lag(store, APP, 3.0, 0.5, NOW)
    for n in range(LAG_REPORTS_KEPT):
        lag(store, APP, 0.01 * (n + 1), 0.001, NOW + 0.1 * (n + 1))
    assert len(store.loop_lags[APP.key]) == LAG_REPORTS_KEPT
    assert loop_lag(store.loop_lags, [APP.key], NOW + 1) == pytest.approx((0.01 * LAG_REPORTS_KEPT, 0.001))


def test_loop_lag_survives_clear_and_load() -> None:
    # The app's loop is not part of the timeline: its reports outlive what the timeline holds.
    store = Store()
    lag(store, APP, 0.2, 0.01, NOW)
    store.clear()
    assert loop_lag(store.loop_lags, [APP.key], NOW) == (0.2, 0.01)


# -- the wire messages, decoded as the inspector gets them ----------------------------------------


def test_log_lines_loop_lag_and_asked_come_through_the_wire() -> None:
    from wsinspect.wire import PROTOCOL_VERSION, Decoder, Hello, encode

    question = wire_frame(1, 0, text_frame("q", direction="received", at=200.0))
    question.asked = 199.5
    messages: list[WireMessage] = [
        Hello(PROTOCOL_VERSION, 1001, "chat-app"),
        update(1),
        logged(1, 0, "hi", error="ValueError: bad", traceback=TRACEBACK),
        FrameBatch([question, wire_frame(1, 1, text_frame("a", at=200.25))]),
        LoopLag(0.3, 0.02),
    ]
    decoded = Decoder().feed(encode(messages))
    assert decoded == messages
    assert isinstance(decoded[3], FrameBatch)
    assert isinstance(decoded[3].frames[0], WireFrame)
    assert decoded[3].frames[0].asked == 199.5
    store = Store()
    store.apply(APP, decoded[1:], NOW)
    (line,) = log_rows(store)
    assert (line.message, line.error, line.traceback) == ("hi", "ValueError: bad", TRACEBACK)
    assert frame_of(store, "c1", 0).handler_time == pytest.approx(0.25)
    assert loop_lag(store.loop_lags, [APP.key], NOW) == (0.3, 0.02)


def test_a_frame_of_the_factories_times_nothing() -> None:
    assert wire_frame(1, 0, frame("text", "x", direction="received")).asked is None
