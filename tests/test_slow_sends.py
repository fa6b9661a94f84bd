"""Slow consumers (issue 28): a send() that waited SLOW_SEND or more is marked on its frame
(``send_waited``) and summed on its connection, through every format that keeps frames.

The real servers are ``test_asgi_servers.py``'s (a client that stops reading while the app sends
50 MB); here the middleware runs against a scripted server whose clock the test moves, so the
threshold is checked exactly, and the files are written and read back.
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

import msgspec
import pytest
from helpers.asgi import FakeServer, ws_scope
from helpers.factories import batch, text_frame, update
from helpers.tui import filters_line, make_app, text_of
from helpers.tui_data import make_endings
from helpers.waiting import pilot_until

from wsinspect import WSInspectConfig, WSInspectMiddleware
from wsinspect.capture import middleware as middleware_module
from wsinspect.capture.tracker import ConnectionTracker
from wsinspect.inspector.core.database_store import DatabaseStore
from wsinspect.inspector.core.database_writer import DatabaseWriter
from wsinspect.inspector.core.store import Producer, Store
from wsinspect.model import SLOW_SEND, Connection, Frame
from wsinspect.sessions import read_session
from wsinspect.sessions.jsonfile import dumps, loads
from wsinspect.sessions.sqlite import read_database

PRODUCER = Producer(1, 4242, "shop", since=99.0, stream="s")


class Clock:
    """The middleware's clock, moved by the test's server (and by nothing else)."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


async def record_sends(monkeypatch: pytest.MonkeyPatch, waits: list[float], **config: Any) -> Connection:
    """An app that sends one text per entry of ``waits``; the server takes each after that long."""
    clock = Clock()
    monkeypatch.setattr(middleware_module, "time", clock)
    server = FakeServer([{"type": "websocket.connect"}])
    delays = iter(waits)

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "websocket.send":
            clock.now += next(delays)
        server.outgoing.append(message)

    async def app(scope: Any, receive: Any, send: Any) -> None:
        await receive()
        await send({"type": "websocket.accept"})
        for n in range(len(waits)):
            await send({"type": "websocket.send", "text": f"m{n}"})
        await send({"type": "websocket.close", "code": 1000})

    wrapped = WSInspectMiddleware(app, WSInspectConfig(**config))
    await wrapped(ws_scope(), server.receive, send)
    (connection,) = wrapped.recorder.connections()
    return connection


@pytest.mark.parametrize("redact", [False, True], ids=["plain", "redact-hook"])
async def test_a_send_that_waited_is_marked_from_the_threshold_on(
    monkeypatch: pytest.MonkeyPatch, redact: bool
) -> None:
    config = {"redact": lambda payload, connection: payload.upper()} if redact else {}
    connection = await record_sends(monkeypatch, [0.0, SLOW_SEND / 2, SLOW_SEND, 2.5], **config)
    sent = [f for f in connection.messages if f.message_type == "text"]
    assert [f.send_waited for f in sent] == [msgspec.UNSET, msgspec.UNSET, pytest.approx(SLOW_SEND), 2.5]
    assert connection.send_waited_max == 2.5
    assert connection.send_waited_total == pytest.approx(2.5 + SLOW_SEND)
    close = connection.messages[-1]
    assert (close.message_type, close.send_waited) == ("close", msgspec.UNSET)


async def test_no_send_waited_leaves_the_connection_unmarked(monkeypatch: pytest.MonkeyPatch) -> None:
    connection = await record_sends(monkeypatch, [0.0, 0.01])
    assert all(f.send_waited is msgspec.UNSET for f in connection.messages)
    assert (connection.send_waited_max, connection.send_waited_total) == (0.0, 0.0)


def test_the_tracker_reports_the_connection_when_a_send_waited() -> None:
    changes: list[float] = []

    class Listener:
        live = True

        def frame_recorded(self, record: Any) -> None:
            pass

        def connection_changed(self, key: int, connection: Connection) -> None:
            changes.append(connection.send_waited_total)

    tracker = ConnectionTracker(ws_scope(), WSInspectConfig(), 10.0, listener=Listener())
    tracker.send({"type": "websocket.accept"}, 10.0)
    before = len(changes)
    tracker.data(1, {"type": "websocket.send", "text": "fast"}, 11.0)
    assert len(changes) == before  # no news per ordinary frame
    tracker.data(1, {"type": "websocket.send", "text": "slow"}, 12.0, None, 0.75)
    tracker.send_waited(0.75)
    assert changes[before:] == [0.75]  # the table marks it live
    assert tracker.snapshot().messages[-1].send_waited == 0.75


def slow_connection() -> Connection:
    fast, slow = text_frame("fast", at=100.0), text_frame("slow", at=101.0)
    slow.send_waited = 1.25
    return Connection(
        connection_id="c-slow",
        path="/ws",
        connected_at=99.0,
        send_waited_max=1.25,
        send_waited_total=1.25,
        messages=[text_frame("hi", direction="received", at=99.5), fast, slow],
    )


def test_session_json_carries_send_waited_only_on_frames_that_waited() -> None:
    data = dumps([slow_connection()], 200.0)
    document = json.loads(data)
    (connection,) = document["connections"]
    assert ["send_waited" in frame for frame in connection["messages"]] == [False, False, True]
    assert connection["messages"][2]["send_waited"] == 1.25
    assert (connection["send_waited_max"], connection["send_waited_total"]) == (1.25, 1.25)
    assert loads(data).connections == [slow_connection()]


def test_har_carries_send_waited_as_its_own_key() -> None:
    data = dumps([slow_connection()], 200.0, har=True)
    (entry,) = json.loads(data)["log"]["entries"]
    assert [message.get("_send_waited") for message in entry["_webSocketMessages"]] == [None, None, 1.25]
    assert loads(data).connections == [slow_connection()]


def frames_of(path: Path) -> list[Frame]:
    return read_database(path).connections[0].messages


@pytest.mark.parametrize("journal", [False, True], ids=["capture", "journal"])
def test_a_capture_database_keeps_send_waited(tmp_path: Path, journal: bool) -> None:
    path = tmp_path / "capture.sqlite"
    store = Store()
    writer = DatabaseWriter(path, store, journal=journal)
    store.apply(PRODUCER, [update(1, connection_id="c-slow"), batch(1, slow_connection().messages)], 100.0)
    writer.close()
    assert [f.send_waited for f in frames_of(path)] == [msgspec.UNSET, msgspec.UNSET, 1.25]
    assert read_session(path).connections[0].messages == store.connections()[0].messages
    if not journal:  # opened lazily too
        database = DatabaseStore(path)
        try:
            while database.poll():
                pass
            newest = list(database.newest_frames("c-slow"))
            assert [f.send_waited for f in newest] == [1.25, msgspec.UNSET, msgspec.UNSET]
        finally:
            database.close()


SCHEMA_1_COLUMNS = (
    "id, connection, timestamp, direction, message_type, size_bytes, truncated, close_code, handler_time, text, data"
)
SCHEMA_1_FRAMES = """
    id INTEGER PRIMARY KEY, connection INTEGER NOT NULL REFERENCES connections (id), timestamp REAL NOT NULL,
    direction TEXT NOT NULL, message_type TEXT NOT NULL, size_bytes INTEGER NOT NULL, truncated INTEGER NOT NULL,
    close_code INTEGER, handler_time REAL, text TEXT, data BLOB
"""


def test_a_capture_of_schema_1_reads_as_sends_that_never_waited(tmp_path: Path) -> None:
    """Written before frames.send_waited existed (user_version 1): read, lazily or whole."""
    path = tmp_path / "old.sqlite"
    store = Store()
    writer = DatabaseWriter(path, store)
    store.apply(PRODUCER, [update(1, connection_id="c-old"), batch(1, [text_frame("a"), text_frame("b")])], 100.0)
    writer.close()
    with sqlite3.connect(path) as db:  # the frames table as schema 1 had it: no send_waited
        db.executescript(f"""
            ALTER TABLE frames RENAME TO new_frames;
            CREATE TABLE frames ({SCHEMA_1_FRAMES});
            INSERT INTO frames SELECT {SCHEMA_1_COLUMNS} FROM new_frames;
            DROP TABLE new_frames;
            PRAGMA user_version = 1;
        """)
    assert [(f.content, f.send_waited) for f in frames_of(path)] == [("a", msgspec.UNSET), ("b", msgspec.UNSET)]
    database = DatabaseStore(path)
    try:
        while database.poll():
            pass
        assert [f.content for f in database.newest_frames("c-old")] == ["b", "a"]
    finally:
        database.close()


def test_a_journal_of_schema_1_reads(tmp_path: Path) -> None:
    """A dead recording's journal whose batches hold the ten columns of schema 1."""
    path = tmp_path / "x.json.journal.sqlite"
    store = Store()
    writer = DatabaseWriter(path, store, journal=True)
    store.apply(PRODUCER, [update(1, connection_id="c-old"), batch(1, [text_frame("a")])], 100.0)
    writer.close()
    with sqlite3.connect(path) as db:
        (blob,) = db.execute("SELECT frames FROM frame_batches").fetchone()
        rows = [row[:10] for row in msgspec.msgpack.decode(blob)]
        db.execute("UPDATE frame_batches SET frames = ?", (msgspec.msgpack.encode(rows),))
        db.execute("PRAGMA user_version = 1")
    assert [(f.content, f.send_waited) for f in frames_of(path)] == [("a", msgspec.UNSET)]


async def test_o_lists_the_slowest_clients_first_and_f_slow_only_them() -> None:
    """In the inspector: the slow client first (then by arrival), live as waits change; back again."""
    connections = make_endings()
    app = make_app(connections=connections)
    async with app.run_test(size=(160, 45)) as pilot:
        numbers = lambda: [line.split()[1] for line in text_of(app.table).splitlines()[1:] if line.strip()]  # noqa: E731
        assert numbers() == ["c1", "c2", "c3", "c4"]
        await pilot.press("tab")  # the table, on c1
        assert app.table.selected_id() == connections[0].connection_id
        await pilot.press("o")
        await pilot_until(pilot, lambda: numbers()[0] == "c2", "the slow client first")
        assert numbers() == ["c2", "c1", "c3", "c4"]
        assert app.table.selected_id() == connections[0].connection_id  # still the one selected
        assert "slowest clients first (o)" in filters_line(app)
        # A connection whose sends now waited longer takes the lead at the next refresh.
        update = msgspec.structs.replace(connections[3], send_waited_total=9.0, send_waited_max=9.0, messages=[])
        app.store.entries[connections[3].connection_id].connection = update
        app.table.sync({connections[3].connection_id})
        await pilot_until(pilot, lambda: numbers()[0] == "c4", "the slower client first")
        assert numbers() == ["c4", "c2", "c1", "c3"]
        await pilot.press("o")
        await pilot_until(pilot, lambda: numbers()[0] == "c1", "arrival order again")
        assert numbers() == ["c1", "c2", "c3", "c4"]
        assert app.table.selected_id() == connections[0].connection_id
        await pilot.press("f", *"slow", "enter")
        await pilot_until(pilot, lambda: numbers() == ["c2", "c4"], "only the slow clients")
