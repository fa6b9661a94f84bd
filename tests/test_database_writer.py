"""Capture files (SQLite): what the store received, written flush by flush, reads back as it was."""

from __future__ import annotations

import os
import sqlite3
import stat
import time
from pathlib import Path

import msgspec
import pytest
from helpers.factories import batch, binary_frame, close_frame, control_frame, log_line, text_frame, update, wire_log

from wsinspect.cli import build_parser, main
from wsinspect.inspector.core.database_writer import DatabaseWriter, write_database
from wsinspect.inspector.core.store import Producer, Store
from wsinspect.model import Connection, TracebackEntry
from wsinspect.sessions import SessionFileError, is_sqlite, read_session
from wsinspect.sessions.sqlite import APPLICATION_ID, SCHEMA_VERSION, read_database
from wsinspect.wire import WireFrame

PRODUCER = Producer(1, 4242, "shop", since=99.0, host="web-2", stream="s")


def received(text: str, at: float, asked: float) -> WireFrame:
    """A received text frame as the wire carries it, with when the handler asked for it."""
    frame = text_frame(text, direction="received", at=at)
    return WireFrame(1, 0, at, 0, frame.content, frame.size_bytes, False, None, asked)


def without_times(connection: Connection) -> Connection:
    return msgspec.structs.replace(connection, messages=[msgspec.structs.replace(f) for f in connection.messages])


@pytest.mark.parametrize("journal", [False, True], ids=["capture", "journal"])
def test_what_the_store_received_reads_back_the_same(tmp_path: Path, journal: bool) -> None:
    path = tmp_path / "capture.sqlite"
    store = Store()
    writer = DatabaseWriter(path, store, journal=journal)
    store.apply(PRODUCER, [update(1, path="/ws/chat", query_string="room=1")], 100.0)
    store.apply(PRODUCER, [batch(1, [text_frame("hello", direction="received"), text_frame("HELLO")])], 100.1)
    assert writer.flush() == 2
    traceback = [TracebackEntry(file="app.py", line=3, function="chat", code="raise", app=True)]
    store.apply(
        PRODUCER,
        [
            batch(1, [binary_frame(b"\x00\xff"), control_frame("ping", b"p"), binary_frame(None, size=9)], start=2),
            wire_log(1, 0, log_line("joined", error="ValueError: x", traceback=traceback)),
            batch(1, [text_frame("é" * 3, direction="received", size=600)], start=5),
        ],
        100.2,
    )
    store.apply(PRODUCER, [batch(1, [close_frame(4001, "bye")], start=6)], 100.3)
    store.apply(PRODUCER, [update(1, path="/ws/chat", query_string="room=1", state="closed", close_code=4001)], 100.3)
    writer.close()

    assert is_sqlite(path)
    assert read_session(path) == read_database(path)  # what open, replay and recover read
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    session = read_database(path)
    assert session.connections == store.connections()
    (connection,) = session.connections
    assert [f.content for f in connection.messages] == ["hello", "HELLO", b"\x00\xff", b"p", None, "ééé", "bye"]
    assert connection.logs[0].traceback == traceback
    with sqlite3.connect(path) as db:
        if journal:  # a journal keeps its frames a flush to a row: two flushes, two rows
            assert db.execute("SELECT count(*) FROM frame_batches").fetchone() == (2,)
            return
        assert db.execute("PRAGMA application_id").fetchone() == (APPLICATION_ID,)
        assert db.execute("PRAGMA user_version").fetchone() == (SCHEMA_VERSION,)
        assert db.execute("PRAGMA journal_mode").fetchone() == ("delete",)  # WAL while written (below)
        assert db.execute("SELECT id, pid, app, host FROM producers").fetchall() == [(1, 4242, "shop", "web-2")]
        # What people query: frames by connection, direction and type, with the connection's path.
        assert db.execute(
            "SELECT c.path, f.direction, f.message_type, f.text FROM frames f JOIN connections c "
            "ON f.connection = c.id WHERE f.message_type = 'text' ORDER BY f.id"
        ).fetchall() == [
            ("/ws/chat", "received", "text", "hello"),
            ("/ws/chat", "sent", "text", "HELLO"),
            ("/ws/chat", "received", "text", "ééé"),
        ]


@pytest.mark.parametrize("journal", [False, True], ids=["capture", "journal"])
def test_a_handler_time_known_after_a_flush_is_written_by_a_later_one(tmp_path: Path, journal: bool) -> None:
    path = tmp_path / "capture.sqlite"
    store = Store()
    writer = DatabaseWriter(path, store, journal=journal)
    store.apply(PRODUCER, [update(1)], 100.0)
    first = received("one", 101.0, 100.5)
    store.apply(PRODUCER, [batch(1, [])], 101.0)
    store.apply(PRODUCER, [msgspec.structs.replace(batch(1, []), frames=[first])], 101.0)
    writer.flush()  # the handler is still working on "one"
    second = msgspec.structs.replace(received("two", 101.5, 101.25), index=1)
    store.apply(PRODUCER, [msgspec.structs.replace(batch(1, []), frames=[second])], 101.5)
    writer.flush()  # asking for "two" ended the work on "one": 0.25 s
    writer.close()
    times = [f.handler_time for f in read_database(path).connections[0].messages]
    assert times[0] == pytest.approx(0.25)
    assert times == [f.handler_time for f in store.connections()[0].messages]


def test_an_earlier_capture_is_replaced_and_any_other_file_refused(tmp_path: Path) -> None:
    path = tmp_path / "capture.sqlite"
    store = Store()
    DatabaseWriter(path, store).close()
    store.apply(PRODUCER, [update(1)], 100.0)
    DatabaseWriter(path, store).close()  # an earlier capture goes, as an earlier session file does
    other = tmp_path / "notes.db"
    with sqlite3.connect(other) as db:
        db.execute("CREATE TABLE notes (text)")
    with pytest.raises(SessionFileError, match=r"notes.db: it exists and is not a wsinspect capture"):
        DatabaseWriter(other, Store())
    plain = tmp_path / "plain.sqlite"
    plain.write_text("my notes")
    with pytest.raises(SessionFileError, match=r"it exists and is not a wsinspect capture"):
        DatabaseWriter(plain, Store())
    assert plain.read_text() == "my notes"


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "not a wsinspect capture"),  # an empty file is an empty database
        (b"SQLite format 3\x00" + b"\x00" * 84, "not an SQLite database, or a corrupt one"),
        (b"x" * 4096, "not an SQLite database, or a corrupt one"),
    ],
    ids=["empty", "header-only", "garbage"],
)
def test_a_file_that_is_no_capture_is_one_line(tmp_path: Path, content: bytes, message: str) -> None:
    path = tmp_path / "bad.sqlite"
    path.write_bytes(content)
    with pytest.raises(SessionFileError, match=message) as caught:
        read_database(path)
    assert "\n" not in str(caught.value)
    assert str(caught.value).startswith(f"{path}: ")


def test_a_foreign_database_and_a_newer_schema_are_named(tmp_path: Path) -> None:
    foreign = tmp_path / "foreign.sqlite"
    with sqlite3.connect(foreign) as db:
        db.execute("CREATE TABLE frames (x)")
    with pytest.raises(SessionFileError, match="an SQLite database, but not a wsinspect capture"):
        read_database(foreign)
    newer = tmp_path / "newer.sqlite"
    DatabaseWriter(newer, Store()).close()
    with sqlite3.connect(newer) as db:
        db.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    with pytest.raises(SessionFileError, match="written by a newer wsinspect"):
        read_database(newer)


def test_a_truncated_capture_is_one_line(tmp_path: Path) -> None:
    path = tmp_path / "capture.sqlite"
    store = Store()
    writer = DatabaseWriter(path, store)
    store.apply(PRODUCER, [update(1)], 100.0)
    store.apply(PRODUCER, [batch(1, [text_frame("x" * 500) for _ in range(200)])], 100.0)
    writer.close()
    size = path.stat().st_size
    with open(path, "r+b") as file:
        file.truncate(size // 2)
    with pytest.raises(SessionFileError, match="corrupt"):
        read_database(path)


def test_a_capture_locked_by_another_program_is_one_line(tmp_path: Path) -> None:
    path = tmp_path / "capture.sqlite"
    DatabaseWriter(path, Store()).close()
    other = sqlite3.connect(path, isolation_level=None)
    try:
        other.execute("PRAGMA locking_mode = EXCLUSIVE")
        other.execute("BEGIN EXCLUSIVE")
        other.execute("INSERT INTO events (timestamp, level, text) VALUES (1, 'info', 'mine')")
        with pytest.raises(SessionFileError, match=r"capture.sqlite: the database is locked by another program$"):
            read_database(path)
    finally:
        other.close()
    assert read_database(path).connections == []  # and readable once it lets go


def test_a_capture_being_written_is_not_replaced_by_another_record(tmp_path: Path) -> None:
    path = tmp_path / "capture.sqlite"
    store = Store()
    first = DatabaseWriter(path, store)
    store.apply(PRODUCER, [update(1)], 100.0)
    first.flush()
    with pytest.raises(SessionFileError, match=r"capture.sqlite: another wsinspect record is writing it$"):
        DatabaseWriter(path, Store())
    first.close()
    assert [c.connection_id for c in read_database(path).connections] == ["c1"]  # untouched


def test_a_capture_that_can_still_be_written_reads_as_of_its_newest_moment(tmp_path: Path) -> None:
    path = tmp_path / "capture.sqlite"
    store = Store()
    writer = DatabaseWriter(path, store)
    store.apply(PRODUCER, [update(1), batch(1, [text_frame("a", at=150.0)])], 151.0)
    writer.flush()
    try:
        session = read_database(path)  # while it is open: what was committed, up to its newest frame
        assert session.exported_at == 150.0
        assert [f.content for f in session.connections[0].messages] == ["a"]
    finally:
        writer.close()
    assert read_database(path).exported_at > 150.0  # closed: when it ended


def test_max_bytes_deletes_the_oldest_frames_and_counts_them(tmp_path: Path) -> None:
    path = tmp_path / "capture.sqlite"
    store = Store(max_messages=100_000, max_frames=1_000_000)
    writer = DatabaseWriter(path, store, max_bytes=1 << 20)
    store.apply(PRODUCER, [update(1)], 100.0)
    payload = "x" * 1000
    for start in range(0, 4000, 400):  # 4 MB of frames, flushed 400 KB at a time
        store.apply(PRODUCER, [batch(1, [text_frame(f"{start + n:05d}{payload}") for n in range(400)], start)], 100.0)
        writer.flush()
        assert writer._size() <= 1 << 20
    writer.close()
    assert path.stat().st_size < 2 << 20  # the space of deleted frames given back
    capture = read_database(path)
    kept = [f.content[:5] for c in capture.connections for f in c.messages]
    assert capture.frames_deleted == 4000 - len(kept) > 2000
    assert capture.frames_deleted == writer.frames_deleted
    # The connection counts them, as frames it does not hold (not kept, by design).
    (connection,) = capture.connections
    assert connection.messages_dropped == connection.messages_not_kept == capture.frames_deleted
    assert [int(k) for k in kept] == list(range(capture.frames_deleted, 4000))  # the newest stay, in order


def test_max_age_deletes_frames_older_than_it(tmp_path: Path) -> None:
    path = tmp_path / "capture.sqlite"
    store = Store()
    writer = DatabaseWriter(path, store, max_age=60)
    now = time.time()
    store.apply(PRODUCER, [update(1), batch(1, [text_frame("old", at=now - 120), text_frame("new", at=now - 5)])], now)
    writer.flush()
    writer.close()
    capture = read_database(path)
    assert [f.content for f in capture.connections[0].messages] == ["new"]
    assert (capture.frames_deleted, capture.connections[0].messages_dropped) == (1, 1)


# -- the command line ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["--max-bytes", "10"], "argument --max-bytes: must be at least 1M, got 10"),
        (["--max-bytes", "lots"], "argument --max-bytes: not a size: 'lots' (bytes, or 500M, 2G)"),
        (["--max-age", "0"], "argument --max-age: must be more than 0, got 0"),
        (["--max-age", "soon"], "argument --max-age: not a duration: 'soon' (seconds, or 30m, 12h, 7d)"),
    ],
)
def test_bad_bounds_are_one_line_and_exit_2(
    arguments: list[str], message: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["record", "-o", str(tmp_path / "x.sqlite"), *arguments])
    assert exit_info.value.code == 2
    assert capsys.readouterr().err == f"wsinspect record: {message} (see wsinspect record --help)\n"


def test_bounds_need_a_capture_output(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["record", "-o", str(tmp_path / "x.json"), "--max-age", "1h"])
    assert "--max-bytes and --max-age bound a capture database" in capsys.readouterr().err


@pytest.mark.parametrize(("text", "value"), [("1M", 1 << 20), ("2GiB", 2 << 30), ("1500000", 1_500_000)])
def test_sizes_read_as_people_write_them(text: str, value: int) -> None:
    assert build_parser().parse_args(["record", "-o", "x.sqlite", "--max-bytes", text]).max_bytes == value


@pytest.mark.parametrize(("text", "value"), [("90", 90.0), ("30m", 1800.0), ("12h", 43200.0), ("7d", 604800.0)])
def test_ages_read_as_people_write_them(text: str, value: float) -> None:
    assert build_parser().parse_args(["record", "-o", "x.sqlite", "--max-age", text]).max_age == value


def test_recover_of_what_is_no_capture_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    session = tmp_path / "session.json"
    session.write_text('{"format": "wsinspect.session", "version": 1, "exported_at": 1, "connections": []}')
    assert main(["recover", str(session), "-o", str(tmp_path / "out.json")]) == 1
    assert capsys.readouterr().err == f"wsinspect: {session}: not an SQLite database, or a corrupt one\n"
    assert main(["recover", str(tmp_path / "missing.sqlite"), "-o", str(tmp_path / "out.json")]) == 1
    assert "missing.sqlite" in capsys.readouterr().err
    assert not (tmp_path / "out.json").exists()


def test_open_shows_a_capture_and_what_its_bound_deleted(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from helpers.tui import fake_app

    path = tmp_path / "capture.sqlite"
    store = Store()
    writer = DatabaseWriter(path, store, max_age=60)
    now = time.time()
    store.apply(PRODUCER, [update(1), batch(1, [text_frame("old", at=now - 120), text_frame("new", at=now)])], now)
    writer.close()
    opened = fake_app(monkeypatch)
    assert main(["open", str(path)]) == 0
    (shown,) = opened
    assert shown.frames_deleted == 1
    assert [f.content for f in shown.snapshot("c1").messages] == ["new"]


def test_a_finished_capture_is_one_file_and_reading_it_adds_none(tmp_path: Path) -> None:
    path = tmp_path / "capture.sqlite"
    store = Store()
    writer = DatabaseWriter(path, store)
    store.apply(PRODUCER, [update(1), batch(1, [text_frame("a")])], 100.0)
    writer.flush()
    assert {p.name for p in tmp_path.iterdir()} >= {"capture.sqlite", "capture.sqlite-wal"}  # WAL while written
    reader = sqlite3.connect(path)
    assert reader.execute("PRAGMA journal_mode").fetchone() == ("wal",)
    reader.close()
    writer.close()
    read_database(path)
    assert [p.name for p in tmp_path.iterdir()] == ["capture.sqlite"]


def test_a_capture_read_while_its_record_ends_is_closed_all_the_same(tmp_path: Path) -> None:
    path = tmp_path / "capture.sqlite"
    store = Store()
    writer = DatabaseWriter(path, store)
    store.apply(PRODUCER, [update(1), batch(1, [text_frame("a")])], 100.0)
    writer.flush()
    reader = sqlite3.connect(path)  # Datasette, say, or wsinspect open
    try:
        assert reader.execute("SELECT count(*) FROM frames").fetchone() == (1,)
        writer.close()  # no error: it stays in WAL mode
    finally:
        reader.close()
    assert [f.content for f in read_database(path).connections[0].messages] == ["a"]


def test_a_saved_sessions_connections_written_as_a_capture_read_back_the_same(tmp_path: Path) -> None:
    store = Store()
    store.apply(PRODUCER, [update(1), batch(1, [text_frame("a"), binary_frame(b"\x01")])], 100.0)
    store.apply(PRODUCER, [wire_log(1, 0, log_line("joined")), update(2)], 100.0)
    path = tmp_path / "capture.sqlite"
    assert write_database(path, store.connections()) == 2
    assert read_database(path).connections == store.connections()
