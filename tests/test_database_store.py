"""`wsinspect open capture.sqlite` reads lazily: the timeline's columns are built a chunk per poll,
rows are read from the database a page at a time when looked at, and a capture another record is
still writing is followed. What it shows is what reading the capture whole shows."""

from __future__ import annotations

import asyncio
import signal
import sqlite3
import time
from pathlib import Path

import pytest
from helpers.factories import batch, binary_frame, close_frame, control_frame, log_line, text_frame, update, wire_log
from helpers.recording import echo, start_record
from helpers.servers import run_server
from helpers.tui import fake_app
from helpers.waiting import pilot_until
from litestar import Litestar
from textual.widgets import Static
from websockets.asyncio.client import connect

from wsinspect import WSInspectConfig
from wsinspect.cli import main
from wsinspect.inspector.core import database_store as capture_store
from wsinspect.inspector.core.database_store import (
    PAGE_ROWS,
    ConnectionFrames,
    DatabaseStore,
)
from wsinspect.inspector.core.database_writer import DatabaseWriter, write_database
from wsinspect.inspector.core.filters import FilteredIndex, Filters
from wsinspect.inspector.core.store import Producer, Store
from wsinspect.inspector.ui.app import InspectorApp
from wsinspect.inspector.ui.detail import pair_of
from wsinspect.litestar import WSInspectPlugin
from wsinspect.model import Frame, SystemEvent
from wsinspect.sessions import SessionFileError, read_session, write_session
from wsinspect.sessions.sqlite import read_database

PRODUCER = Producer(1, 4242, "shop", since=99.0, host="web-2", stream="s")


def sample_capture(path: Path, connections: int = 3, frames: int = 40, *, news: str = "") -> Store:
    """A capture of a few connections with text, binary, control and close frames and log lines
    (and ``news``, an event of the inspector's own), written flush by flush; returns the store."""
    store = Store()
    writer = DatabaseWriter(path, store)
    keys = range(1, connections + 1)
    store.apply(PRODUCER, [update(key, path=f"/ws/{key}") for key in keys], 100.0)
    at = 100.0
    for n in range(frames):
        at += 0.01
        for key in keys:
            frame = text_frame(f"Msg {key}-{n}", direction="received" if n % 2 else "sent", at=at)
            if n % 7 == 3:
                frame = binary_frame(bytes([key, n % 256]), at=at)
            elif n % 11 == 5:
                frame = control_frame("ping", b"p", at=at)
            store.apply(PRODUCER, [batch(key, [frame], start=n)], at)
        if n % 5 == 0:
            store.apply(PRODUCER, [wire_log(1, n // 5, log_line(f"line {n}", at=at))], at)
        if n % 13 == 0:
            writer.flush()
    if news:
        store.add_system_event(at, news, "warning")
    at += 0.01
    for key in keys:
        store.apply(PRODUCER, [batch(key, [close_frame(1000, "bye", at=at)], start=frames)], at)
        store.apply(PRODUCER, [update(key, path=f"/ws/{key}", state="closed", close_code=1000, disconnected_at=at)], at)
    writer.close()
    return store


def being_written(path: Path) -> tuple[Store, DatabaseWriter]:
    """A capture a record is writing: connection c1 and its frame "one" written so far."""
    store = Store()
    writer = DatabaseWriter(path, store)
    store.apply(PRODUCER, [update(1), batch(1, [text_frame("one", at=100.1)])], 100.1)
    writer.flush()
    return store, writer


def read_all(store: DatabaseStore) -> None:
    while store.reading:
        store.poll()


def eager(path: Path) -> Store:
    """The capture read whole, as a session file is."""
    session = read_database(path)
    store = Store(max_messages=10_000)
    store.load(session.connections, session.exported_at)
    return store


def described(rows: list) -> list[tuple[object, ...]]:  # type: ignore[type-arg]
    return [
        (cid, type(item).__name__, item.timestamp, getattr(item, "content", getattr(item, "text", "")))
        for cid, item in rows
    ]


def test_a_capture_opened_lazily_shows_what_reading_it_whole_shows(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "capture.sqlite"
    sample_capture(path)
    monkeypatch.setattr(capture_store, "CHUNK_ROWS", 17)  # many chunks, log lines and ◉ rows across them
    lazy = DatabaseStore(path)
    assert not lazy.writing
    assert lazy.reading
    lazy.poll()
    assert 0 < len(lazy.rows) < 40
    assert 0 < lazy.read_fraction < 1
    read_all(lazy)
    whole = eager(path)
    assert described(list(lazy.rows)) == described(whole.rows)
    assert bytes(lazy.codes) == bytes(whole.codes)
    assert lazy.owners.tolist() == whole.owners.tolist()
    assert lazy.texts[0 : len(lazy.rows)] == whole.texts
    assert lazy.connections() == whole.connections()  # what an export of it writes
    assert lazy.as_of == whole.as_of
    assert lazy.frames_received == whole.frames_received
    # The rows are read a page at a time, as they are looked at, and stay the same objects while kept.
    assert lazy.rows[5] is lazy.rows[5]
    assert lazy.rows[-1] == whole.rows[-1]
    assert lazy.rows[3:9] == whole.rows[3:9]
    # What the lifecycle panel reads of a connection, without its frames.
    for connection_id in whole.entries:
        assert list(lazy.frame_times(connection_id)) == list(whole.frame_times(connection_id))
        assert list(lazy.handler_times(connection_id)) == list(whole.handler_times(connection_id))
        assert list(lazy.log_levels(connection_id)) == list(whole.log_levels(connection_id))


def test_the_inspectors_own_news_is_among_the_rows(tmp_path: Path) -> None:
    path = tmp_path / "capture.sqlite"
    sample_capture(path, news="shop (pid 4242): 3 frames dropped in transit")
    lazy = DatabaseStore(path)
    read_all(lazy)
    (news,) = [item for cid, item in lazy.rows if cid is None]  # a session file has no place for it
    assert isinstance(news, SystemEvent)
    assert news.level == "warning"
    assert "3 frames dropped" in news.text
    times = [item.timestamp for _, item in lazy.rows]
    assert times == sorted(times)  # at its time among the others


def test_no_frame_is_read_until_a_row_is_looked_at_and_then_a_page(tmp_path: Path) -> None:
    path = tmp_path / "capture.sqlite"
    sample_capture(path, connections=10, frames=100)
    lazy = DatabaseStore(path)
    read_all(lazy)
    assert len(lazy.rows) > 1000
    statements: list[str] = []
    lazy._db.set_trace_callback(statements.append)
    assert not lazy._items  # the columns were built without a frame
    lazy.rows[700]
    assert 0 < len(lazy._items) <= PAGE_ROWS
    assert len(statements) == 2  # the page's frames and its log lines: one query each
    lazy.rows[701]
    assert len(statements) == 2  # the same page, from memory


def test_a_ping_finds_its_pong_among_the_frames_around_it(tmp_path: Path) -> None:
    path = tmp_path / "capture.sqlite"
    store = Store()
    writer = DatabaseWriter(path, store)
    frames = [text_frame(f"m{n}", at=100 + n / 1000) for n in range(2000)]
    frames[10] = control_frame("ping", b"k", direction="sent", at=frames[10].timestamp)
    frames[12] = control_frame("pong", b"k", direction="received", at=frames[12].timestamp)
    store.apply(PRODUCER, [update(1), batch(1, frames)], 100.0)
    writer.close()
    lazy = DatabaseStore(path)
    read_all(lazy)
    ping = lazy.rows[12][1]  # after connect and accept
    assert isinstance(ping, Frame)
    assert ping.message_type == "ping"
    near = lazy.frames_near("c1", ping)
    assert len(near) == PAGE_ROWS + 11  # itself, the 10 before it and a page after: not 2,000
    found, pong = pair_of(near, ping)
    assert found
    assert pong is not None
    assert pong.timestamp == frames[12].timestamp
    assert lazy.frames_near("c1", lazy.rows[5][1]) == ()  # type: ignore[arg-type]  # a text


@pytest.mark.parametrize(
    ("filters", "what"),
    [
        (Filters(text="msg 2-1"), "a literal"),
        (Filters(text="bye|line 1", regex=True), "a regex"),
        (Filters(direction="sent", kind="text"), "direction and kind"),
        (Filters(connection_id="c2"), "one connection"),
        (Filters(text="1000"), "a close's code"),
    ],
)
def test_filters_on_a_capture_find_the_rows_they_find_in_a_session(tmp_path: Path, filters: Filters, what: str) -> None:
    path = tmp_path / "capture.sqlite"
    sample_capture(path)
    lazy = DatabaseStore(path)
    read_all(lazy)
    whole = eager(path)
    found = []
    for store in (lazy, whole):
        index = FilteredIndex(filters.selection(store.connection_number))
        index.rebuild(store)
        found.append(described([store.rows[index[i]] for i in range(len(index))]))
    assert found[0], what
    assert found[0] == found[1], what


def test_a_capture_being_written_is_followed_until_its_record_ends(tmp_path: Path) -> None:
    path = tmp_path / "capture.sqlite"
    store, writer = being_written(path)
    lazy = DatabaseStore(path)
    changes: list[set[str]] = []
    lazy.listeners.append(changes.append)
    assert lazy.writing
    assert lazy.as_of is None
    lazy.poll(now=0.0)
    assert [row[1].content for row in lazy.rows if isinstance(row[1], Frame)] == ["one"]
    assert lazy.entries["c1"].connection.state == "open"

    store.apply(PRODUCER, [batch(1, [text_frame("two", at=100.2), close_frame(1000, at=100.3)], start=1)], 100.3)
    store.apply(PRODUCER, [update(1, state="closed", close_code=1000, disconnected_at=100.3)], 100.3)
    writer.flush()
    assert lazy.poll(now=0.1) == 0  # caught up: looks again FOLLOW_EVERY later
    assert lazy.poll(now=1.0) == 3  # two frames and the close's ◉ row
    assert lazy.entries["c1"].connection.state == "closed"
    assert {"c1"} in changes
    assert str(lazy.rows[-1][1].text) == "closed: 1000 Normal Closure"  # type: ignore[union-attr]
    assert [f.content for f in lazy.snapshot("c1").messages] == ["one", "two", ""]
    assert lazy.writing

    store.apply(PRODUCER, [update(2)], 100.4)  # what the record's last write brings is read too
    writer.close()
    lazy.poll(now=2.0)
    assert "c2" in lazy.entries
    assert not lazy.writing
    assert lazy.as_of is not None
    assert lazy.connections() == read_database(path).connections


def test_frames_deleted_while_followed_are_counted_and_shown_as_such(tmp_path: Path) -> None:
    path = tmp_path / "capture.sqlite"
    store = Store()
    writer = DatabaseWriter(path, store, max_age=60)
    now = time.time()
    store.apply(PRODUCER, [update(1), batch(1, [text_frame("old", at=now - 30), text_frame("new", at=now)])], now)
    writer.flush()
    lazy = DatabaseStore(path)
    lazy.poll(now=0.0)
    writer.max_age = 10  # the record's bound now deletes "old"
    writer.flush()
    lazy.poll(now=1.0)
    assert lazy.frames_deleted == 1
    assert lazy.entries["c1"].connection.messages_not_kept == 1
    deleted = lazy.rows[2][1]  # connect, accept, then what was "old"
    assert isinstance(deleted, SystemEvent)
    assert deleted.text == "(no longer in the capture)"
    assert [f.content for f in lazy.snapshot("c1").messages] == ["new"]
    writer.close()


def test_clear_leaves_the_rows_so_far_and_follows_the_new_ones(tmp_path: Path) -> None:
    path = tmp_path / "capture.sqlite"
    store, writer = being_written(path)
    lazy = DatabaseStore(path)
    lazy.poll(now=0.0)
    lazy.clear()
    assert not lazy.rows
    assert not lazy.snapshot("c1").messages
    assert lazy.rows_trimmed == 3
    store.apply(PRODUCER, [batch(1, [text_frame("two", at=100.2)], start=1)], 100.2)
    writer.flush()
    lazy.poll(now=1.0)
    assert [row[1].content for row in lazy.rows] == ["two"]  # type: ignore[union-attr]
    assert [f.content for f in lazy.snapshot("c1").messages] == ["two"]
    writer.close()


def test_open_reads_a_capture_lazily_and_a_journal_whole(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    capture, journal = tmp_path / "capture.sqlite", tmp_path / "x.json.journal.sqlite"
    sample_capture(capture)
    store = Store()
    writer = DatabaseWriter(journal, store, journal=True)
    store.apply(PRODUCER, [update(1), batch(1, [text_frame("kept")])], 100.0)
    writer.flush()  # and then the record crashed: never closed
    opened = fake_app(monkeypatch)
    assert main(["open", str(capture)]) == 0
    assert main(["open", str(journal)]) == 0
    lazy, whole = opened
    assert isinstance(lazy, DatabaseStore)
    assert not lazy.rows
    assert not isinstance(whole, DatabaseStore)
    assert [f.content for f in whole.entries["c1"].frames] == ["kept"]


def test_a_capture_that_goes_bad_while_followed_is_one_line(tmp_path: Path) -> None:
    path = tmp_path / "capture.sqlite"
    _, writer = being_written(path)
    lazy = DatabaseStore(path)
    with sqlite3.connect(path) as db:
        db.execute("DROP TABLE logs")  # what no record does: a capture spoilt under the reader
    with pytest.raises(SessionFileError, match=r"^\S+capture\.sqlite: no such table: logs$"):
        lazy.poll(now=0.0)
    writer.close()


def test_rows_that_cannot_be_read_while_drawn_are_told_by_the_next_poll(tmp_path: Path) -> None:
    path = tmp_path / "capture.sqlite"
    sample_capture(path)
    lazy = DatabaseStore(path)
    read_all(lazy)
    with sqlite3.connect(path) as db:
        db.execute("DROP TABLE frames")
    first = next(at for at, code in enumerate(lazy.codes) if code == 0)  # a text frame received
    row = lazy.rows[first]  # what the screen draws goes on, a placeholder in the row's place
    assert isinstance(row[1], SystemEvent)
    assert row[1].text == "(no longer in the capture)"
    assert lazy.texts[first] == ""
    assert not lazy.frame_times("c1")  # what the lifecycle panel reads: nothing, and no traceback
    with pytest.raises(SessionFileError, match=r"capture\.sqlite: no such table: frames$"):
        lazy.poll()


def test_a_foreign_database_opened_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "other.db"
    with sqlite3.connect(path) as db:
        db.execute("CREATE TABLE t (x)")
    assert main(["open", str(path)]) == 1
    assert capsys.readouterr().err == f"wsinspect: {path}: an SQLite database, but not a wsinspect capture\n"


async def test_a_real_recording_is_followed_as_it_is_written(private_socket: Path, tmp_path: Path) -> None:
    """A real record writing a real app's traffic: the opened capture shows every message the
    client sent, in order, while it is written and after it ends."""
    output = tmp_path / "capture.sqlite"
    record, _ = start_record(private_socket, output)
    plugin = WSInspectPlugin(WSInspectConfig(socket_path=str(private_socket), app_name="followed"))
    sent: list[str] = []
    lazy: DatabaseStore | None = None
    seen_while_written = 0

    def received(store: DatabaseStore) -> list[str]:
        return [
            item.content
            for _, item in store.rows
            if isinstance(item, Frame) and item.direction == "received" and item.message_type == "text"
        ]

    try:
        with run_server(Litestar([echo], plugins=[plugin])) as server:
            async with connect(server.ws_url("/ws/echo")) as ws:
                for n in range(300):
                    sent.append(f"m{n}")
                    await ws.send(sent[-1])
                    assert await ws.recv() == sent[-1].upper()
                    if n == 100:
                        await asyncio.sleep(1.2)  # written at least once
                        lazy = DatabaseStore(output)
                    if lazy is not None and n % 20 == 0:
                        lazy.poll()
                        seen_while_written = max(seen_while_written, len(received(lazy)))
                    await asyncio.sleep(0.005)
            await asyncio.sleep(1.2)
            assert lazy is not None
            assert lazy.writing
            lazy.poll(now=time.monotonic() + 1)
            assert received(lazy) == sent  # all of it, in order, while record still writes
    finally:
        record.send_signal(signal.SIGINT)
        record.wait(timeout=20)
    assert 100 <= seen_while_written < 300
    lazy.poll(now=time.monotonic() + 2)
    assert not lazy.writing
    assert lazy.as_of is not None
    assert received(lazy) == sent
    assert lazy.entries[next(iter(lazy.entries))].connection.state == "closed"


def status_line(app: InspectorApp) -> str:
    return str(app.query_one("#status", Static).render())


async def test_the_inspector_reads_follows_and_then_holds_a_capture(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """On screen: the first rows at once while the rest is read ("reading N%"), a capture being
    written followed (its newest row selected), a saved session once its record ends, and q quits
    without asking (the frames are in the capture)."""
    path = tmp_path / "capture.sqlite"
    store = Store()
    writer = DatabaseWriter(path, store)
    frames = [text_frame(f"m{n}", at=100.0 + n / 1000) for n in range(600)]
    store.apply(PRODUCER, [update(1), batch(1, frames)], 100.0)
    writer.flush()
    monkeypatch.setattr(capture_store, "CHUNK_ROWS", 100)
    monkeypatch.setattr(capture_store, "FOLLOW_EVERY", 0.05)
    app = InspectorApp(DatabaseStore(path), source=str(path), export_dir=tmp_path)
    async with app.run_test(size=(160, 45)) as pilot:
        await pilot_until(pilot, lambda: len(app.store.rows) > 0, "the first rows")
        assert "reading" in status_line(app) or "following" in status_line(app)
        await pilot_until(pilot, lambda: len(app.store.rows) == 602, "every row")
        await pilot_until(pilot, lambda: "600 frames" in status_line(app), "the status to count them")
        assert "following" in status_line(app)
        store.apply(PRODUCER, [batch(1, [text_frame("newest", at=101.0)], start=600)], 101.0)
        writer.flush()
        await pilot_until(pilot, lambda: len(app.store.rows) == 603, "the frame written since")
        await pilot_until(pilot, lambda: app.timeline.selected_row() == app.store.rows[-1], "the newest selected")
        writer.close()
        await pilot_until(pilot, lambda: "saved session" in status_line(app), "the end of the record")
        assert not app.timeline.live  # End goes to the last row now: nothing more to follow
        await pilot.press("e")  # the export reads the capture in its own thread
        await pilot_until(pilot, lambda: app.last_export is not None, "the export")
        assert app.last_export is not None
        assert read_session(app.last_export).connections == read_database(path).connections
        await pilot.press("q")
        await pilot_until(pilot, lambda: not app.is_running, "quitting without a question")


async def test_a_text_filter_on_a_capture_answers_for_the_newest_rows_first(tmp_path: Path) -> None:
    """Its texts are read from disk: the filter answers at once for the newest search_step rows
    and searches the older ones in the background, where the same rows in memory go in one step."""
    path = tmp_path / "capture.sqlite"
    frames = [text_frame(f"m{n}", at=100.0 + n / 1000) for n in range(DatabaseStore.search_step + 5000)]
    store = Store(max_messages=len(frames))
    store.apply(PRODUCER, [update(1), batch(1, frames)], 100.0)
    write_database(path, store.connections())
    capture = DatabaseStore(path)
    read_all(capture)
    for shown, searched_later in ((capture, True), (store, False)):
        app = InspectorApp(shown, source="test")
        async with app.run_test(size=(160, 45)) as pilot:
            await pilot.pause()
            app._set_filters(Filters(text="m1"))
            assert (app.timeline.search_progress is not None) == searched_later
            await pilot_until(pilot, lambda app=app: app.timeline.search_progress is None, "the search")
            assert len(app.timeline.index) == sum(1 for f in frames if "m1" in f.content)


@pytest.mark.parametrize("name", ["out.json", "out.har.gz"])
def test_a_capture_is_written_out_a_chunk_of_frames_at_a_time(tmp_path: Path, name: str) -> None:
    """recover (and the inspector's export) write a capture's frames a chunk at a time as they read
    them, keeping none: what they write is what reading the capture whole writes."""
    path = tmp_path / "capture.sqlite"
    sample_capture(path, connections=4, frames=1500)
    store = DatabaseStore(path)
    connections, moment = store.session()
    assert isinstance(connections[0].messages, ConnectionFrames)
    statements: list[str] = []
    store._db.set_trace_callback(statements.append)
    lazily = write_session(tmp_path / name, connections, moment)
    assert not [item for item in store._items.values() if isinstance(item, Frame)]  # no frame kept
    assert len([s for s in statements if "BETWEEN" in s]) > 4  # a query per chunk, not one per connection
    whole = read_database(path)
    eagerly = write_session(tmp_path / f"whole-{name}", whole.connections, whole.exported_at)
    assert lazily.total == eagerly.total == 6004  # 6,000 and the 4 closes
    assert lazily.frames == eagerly.frames  # less, in HAR, its pings and closes
    assert read_session(tmp_path / name) == read_session(tmp_path / f"whole-{name}")


def test_recover_of_a_capture_writes_what_it_holds(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "capture.sqlite"
    sample_capture(path)
    assert main(["recover", str(path), "-o", str(tmp_path / "out.json")]) == 0
    assert capsys.readouterr().err == f"wsinspect: wrote 3 connections, 123 frames to {tmp_path / 'out.json'}\n"
    assert read_session(tmp_path / "out.json").connections == read_database(path).connections
