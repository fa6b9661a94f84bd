"""Capture files: SQLite databases written as frames arrive, so that a crash loses at most the last
second, and read back as sessions.

:class:`CaptureWriter` follows a :class:`~wsinspect.inspector.store.Store`: each
:meth:`~CaptureWriter.flush` writes the rows that arrived since the last one (frames, log lines,
the inspector's own events), the connections that changed and the producers that came, in one
transaction. The database is in WAL mode with ``synchronous=NORMAL``: a committed transaction
survives the process being killed. :func:`read_capture` turns a capture back into a
:class:`~wsinspect.inspector.files.Session`. The schema (``SCHEMA``) is the README's, versioned by
``PRAGMA user_version``; ``PRAGMA application_id`` tells a capture from any other database.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import sqlite3
import sys
import time
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

import msgspec
from msgspec import UNSET

from .. import __version__
from ..model import Connection, Frame, LogLine, SystemEvent, TracebackEntry
from .files import Session, SessionFileError, is_sqlite
from .store import Store

__all__ = (
    "APPLICATION_ID",
    "BYTES_TYPES",
    "CONNECTION_DECODER",
    "FRAME_COLUMNS",
    "LOG_COLUMNS",
    "SCHEMA",
    "SCHEMA_VERSION",
    "TRACEBACK_DECODER",
    "Capture",
    "CaptureWriter",
    "check_capture",
    "describe_error",
    "error_reason",
    "frame_of",
    "is_journal",
    "log_of",
    "read_capture",
    "remove_capture",
    "table_names",
    "write_capture",
)

APPLICATION_ID = 0x77736931  # "wsi1": what tells a capture from another SQLite database
SCHEMA_VERSION = 1
SCHEMA = """
CREATE TABLE producers (
    id INTEGER PRIMARY KEY,            -- one app process's link to the inspector, in arrival order
    pid INTEGER NOT NULL,
    app TEXT NOT NULL,
    host TEXT NOT NULL,
    connected_at REAL NOT NULL         -- Unix seconds, as every time here
);
CREATE TABLE connections (
    id INTEGER PRIMARY KEY,            -- the connection's number: c7 is 7
    connection_id TEXT NOT NULL UNIQUE,
    path TEXT NOT NULL,
    query_string TEXT NOT NULL,
    state TEXT NOT NULL,               -- connecting, open, closing, closed
    connected_at REAL NOT NULL,
    disconnected_at REAL,
    close_code INTEGER,
    close_reason TEXT,
    closed_by TEXT,                    -- server, client or NULL
    handler TEXT,
    error TEXT,
    pid INTEGER,
    app TEXT,
    host TEXT,
    metadata TEXT NOT NULL             -- the whole connection as the session JSON has it, less its frames and logs
);
CREATE TABLE frames (
    id INTEGER PRIMARY KEY,            -- arrival order
    connection INTEGER NOT NULL REFERENCES connections (id),
    timestamp REAL NOT NULL,
    direction TEXT NOT NULL,           -- sent (by the app) or received
    message_type TEXT NOT NULL,        -- text, binary, ping, pong, close
    size_bytes INTEGER NOT NULL,       -- the real size, also when truncated
    truncated INTEGER NOT NULL,
    close_code INTEGER,
    handler_time REAL,                 -- a received message: seconds the handler worked on it
    text TEXT,                         -- a text frame's text, a close frame's reason
    data BLOB                          -- a binary, ping or pong frame's bytes (NULL: not recorded)
);
CREATE INDEX frames_by_time ON frames (timestamp);
CREATE INDEX frames_by_connection ON frames (connection, id);
CREATE INDEX frames_by_direction ON frames (direction, message_type);
CREATE TABLE logs (
    id INTEGER PRIMARY KEY,            -- arrival order
    connection INTEGER NOT NULL REFERENCES connections (id),
    timestamp REAL NOT NULL,
    level TEXT NOT NULL,
    levelno INTEGER NOT NULL,
    logger TEXT NOT NULL,
    message TEXT NOT NULL,
    size_bytes INTEGER NOT NULL,
    truncated INTEGER NOT NULL,
    error TEXT,
    traceback TEXT NOT NULL            -- JSON: a list of {file, line, function, code, app}
);
CREATE INDEX logs_by_connection ON logs (connection, id);
CREATE TABLE events (
    id INTEGER PRIMARY KEY,            -- the inspector's own news: producers coming and going, frames lost
    timestamp REAL NOT NULL,
    level TEXT NOT NULL,
    text TEXT NOT NULL
);
CREATE TABLE deleted (
    connection INTEGER PRIMARY KEY,    -- frames of it that --max-bytes or --max-age deleted, oldest first
    frames INTEGER NOT NULL
);
CREATE TABLE info (
    key TEXT PRIMARY KEY,              -- created_at, closed_at, wsinspect (its version)
    value
);
"""
# What a journal has besides (its frames table stays empty): see CaptureWriter.
JOURNAL_SCHEMA = """
CREATE TABLE frame_batches (
    id INTEGER PRIMARY KEY,            -- a flush's frames, as MessagePack: the frames table's columns less id
    frames BLOB NOT NULL
);
CREATE TABLE handler_times (
    frame INTEGER PRIMARY KEY,         -- the frame's number in the journal, from 1
    seconds REAL NOT NULL
);
"""
_TABLES = frozenset({"producers", "connections", "frames", "logs", "events", "deleted", "info"})
BYTES_TYPES = frozenset({"binary", "ping", "pong"})
TRACEBACK_DECODER = msgspec.json.Decoder(list[TracebackEntry])
CONNECTION_DECODER = msgspec.json.Decoder(Connection)
_BATCH = msgspec.msgpack.Decoder(
    list[tuple[int, float, str, str, int, bool, int | None, float | None, str | None, bytes | None]]
)
_ENCODER = msgspec.json.Encoder()
BUSY_TIMEOUT = 2.0  # seconds to wait for a lock another process holds
RETENTION_BATCH = 1000  # frames deleted at a time, at least, to bring a capture back under its bound


class Capture(Session, kw_only=True):
    """A session read from a capture database, and how many of its frames --max-bytes or
    --max-age deleted (each connection counts its own in ``messages_dropped`` and ``messages_not_kept``)."""

    frames_deleted: int = 0


def error_reason(exc: BaseException) -> str:
    return getattr(exc, "strerror", None) or str(exc) or type(exc).__name__


class CaptureWriter:
    """Writes what ``store`` receives into the capture database ``path``, at each :meth:`flush`.

    The file is created private (mode 0600: it holds payloads), or replaces an earlier capture; any
    other file at ``path`` is refused. Errors are :class:`SessionFileError` of one line.

    ``max_bytes`` and ``max_age`` (seconds) bound it: after a flush the oldest frames beyond either
    are deleted, in batches, and counted per connection (table ``deleted``).

    A ``journal`` (what ``record -o x.json`` keeps until it writes x.json) is read back only after
    a crash: its frames go a flush at a time, MessagePack in one row of ``frame_batches`` (with the
    handler times learnt later in ``handler_times``), which costs a fraction of a row per frame.
    """

    def __init__(
        self,
        path: Path,
        store: Store,
        *,
        journal: bool = False,
        max_bytes: int | None = None,
        max_age: float | None = None,
    ) -> None:
        self.path = path
        self.store = store
        self.journal = journal
        self.max_bytes = max_bytes
        self.max_age = max_age
        self.frames_written = 0
        self.frames_deleted = 0
        self._cursor = store.rows_trimmed + len(store.rows)  # the absolute index of the next row to write
        self._changed: set[str] = set()
        self._producers_written: set[int] = set()
        # Frames written before their handler time was known: (frame, row id, connection id).
        self._waiting: list[tuple[Frame, int, str]] = []
        self._db = self._create(path)
        store.listeners.append(self._note)

    def _create(self, path: Path) -> sqlite3.Connection:
        if path.exists():
            if not is_sqlite(path) or not _is_ours(path):
                raise SessionFileError(f"cannot write {path}: it exists and is not a wsinspect capture")
            with _opened(path) as fd:
                if not _lock(fd):
                    raise SessionFileError(f"cannot write {path}: another wsinspect record is writing it")
                remove_capture(path)
        try:
            # Private from the start, and locked while written: another record must not replace it.
            self._lock_fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o600)
        except OSError as exc:
            raise SessionFileError(f"cannot write {path}: {error_reason(exc)}") from None
        _lock(self._lock_fd)
        try:
            db = sqlite3.connect(path, timeout=BUSY_TIMEOUT, isolation_level=None, check_same_thread=False)
            db.execute("PRAGMA auto_vacuum = INCREMENTAL")  # so that deleted frames give their space back
            db.execute("PRAGMA journal_mode = WAL")
            db.execute("PRAGMA synchronous = NORMAL")
            db.execute(f"PRAGMA application_id = {APPLICATION_ID}")
            db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
            db.executescript(SCHEMA + (JOURNAL_SCHEMA if self.journal else ""))
            db.executemany(
                "INSERT INTO info (key, value) VALUES (?, ?)", [("created_at", time.time()), ("wsinspect", __version__)]
            )
        except (OSError, sqlite3.Error) as exc:
            os.close(self._lock_fd)
            raise SessionFileError(f"cannot write {path}: {error_reason(exc)}") from None
        return db

    def _note(self, changed: set[str]) -> None:
        self._changed |= changed

    def flush(self) -> int:
        """Write what arrived since the last flush, in one transaction; return the frames written."""
        store = self.store
        rows = store.rows[max(self._cursor - store.rows_trimmed, 0) :]
        self._cursor = store.rows_trimmed + len(store.rows)
        changed, self._changed = self._changed, set()
        entries = store.entries
        frames: list[tuple[Any, ...]] = []
        logs: list[tuple[Any, ...]] = []
        events: list[tuple[Any, ...]] = []
        working: list[tuple[int, Frame, str]] = []  # (index in frames, frame, connection id)
        for connection_id, item in rows:
            if type(item) is Frame:
                assert connection_id is not None
                entry = entries.get(connection_id)
                if entry is not None and entry.working_on is item:
                    working.append((len(frames), item, connection_id))
                frames.append(_frame_row(store.connection_number(connection_id), item))
            elif type(item) is LogLine:
                assert connection_id is not None
                logs.append(_log_row(store.connection_number(connection_id), item))
            elif connection_id is None:  # the inspector's own event (a connection's are in its metadata)
                assert type(item) is SystemEvent
                events.append((item.timestamp, item.level, item.text))
        timed = [(frame.handler_time, rowid) for frame, rowid, _ in self._waiting if frame.handler_time is not UNSET]
        try:
            first = self._write(changed, frames, logs, events, timed)
        except sqlite3.Error as exc:
            raise SessionFileError(f"cannot write {self.path}: {error_reason(exc)}") from None
        # Received frames whose handler time comes later: updated by a later flush, while it may.
        waiting = self._waiting + [(frame, first + index, cid) for index, frame, cid in working]
        self._waiting = [
            (frame, rowid, cid)
            for frame, rowid, cid in waiting
            if frame.handler_time is UNSET and (entry := entries.get(cid)) is not None and entry.working_on is frame
        ]
        self.frames_written += len(frames)
        if self.max_bytes is not None or self.max_age is not None:
            try:
                self._retain()
            except sqlite3.Error as exc:
                raise SessionFileError(f"cannot write {self.path}: {error_reason(exc)}") from None
        return len(frames)

    def _retain(self) -> None:
        """Delete the oldest frames beyond ``max_age`` and ``max_bytes``, a batch at a time."""
        db = self._db
        if self.max_age is not None:
            newest_gone = db.execute(
                "SELECT max(id) FROM frames WHERE timestamp < ?", (time.time() - self.max_age,)
            ).fetchone()[0]
            if newest_gone is not None:
                self._delete_through(newest_gone)
        while self.max_bytes is not None and self._size() > self.max_bytes:
            first, last = db.execute("SELECT min(id), max(id) FROM frames").fetchone()
            if first is None:
                break  # what is left is not frames
            self._delete_through(first + max(RETENTION_BATCH, (last - first) // 10))
        db.execute("PRAGMA incremental_vacuum")

    def _size(self) -> int:
        """Bytes of data the database holds: its pages in use (its log adds at most SQLite's
        checkpoint size, about 4 MB, before it is copied in)."""
        db = self._db
        pages = db.execute("PRAGMA page_count").fetchone()[0] - db.execute("PRAGMA freelist_count").fetchone()[0]
        return int(pages * db.execute("PRAGMA page_size").fetchone()[0])

    def _delete_through(self, last: int) -> None:
        db = self._db
        db.execute("BEGIN")
        try:
            db.execute(
                "INSERT INTO deleted (connection, frames) SELECT connection, count(*) FROM frames WHERE id <= ? "
                "GROUP BY connection ON CONFLICT (connection) DO UPDATE SET frames = frames + excluded.frames",
                (last,),
            )
            self.frames_deleted += db.execute("DELETE FROM frames WHERE id <= ?", (last,)).rowcount
            db.execute("COMMIT")
        except BaseException:
            with contextlib.suppress(sqlite3.Error):
                db.execute("ROLLBACK")
            raise
        # The log runs over into the database: bring it back to size.
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")

    def _write(
        self,
        changed: set[str],
        frames: list[tuple[Any, ...]],
        logs: list[tuple[Any, ...]],
        events: list[tuple[Any, ...]],
        timed: list[tuple[Any, int]],
    ) -> int:
        """One transaction; returns the row id of the first frame written."""
        db = self._db
        store = self.store
        new = [producer for key, producer in store.producers.items() if key not in self._producers_written]
        db.execute("BEGIN")
        try:
            db.executemany(
                "INSERT INTO producers VALUES (?, ?, ?, ?, ?)",
                [(p.key, p.pid, p.app, p.host, p.since or 0.0) for p in new],
            )
            db.executemany(
                f"INSERT OR REPLACE INTO connections VALUES ({', '.join('?' * 16)})",
                [_connection_row(store, connection_id) for connection_id in changed if connection_id in store.entries],
            )
            if self.journal:  # frames are numbered by their order in the journal
                first = self.frames_written + 1
                if frames:
                    db.execute("INSERT INTO frame_batches (frames) VALUES (?)", (msgspec.msgpack.encode(frames),))
                db.executemany("INSERT OR REPLACE INTO handler_times VALUES (?, ?)", [(n, t) for t, n in timed])
            else:
                first = db.execute("SELECT coalesce(max(id), 0) + 1 FROM frames").fetchone()[0]
                db.executemany(f"INSERT INTO frames VALUES (NULL, {', '.join('?' * 10)})", frames)
                db.executemany("UPDATE frames SET handler_time = ? WHERE id = ?", timed)
            db.executemany(f"INSERT INTO logs VALUES (NULL, {', '.join('?' * 10)})", logs)
            db.executemany("INSERT INTO events (timestamp, level, text) VALUES (?, ?, ?)", events)
            db.execute("COMMIT")
        except BaseException:
            with contextlib.suppress(sqlite3.Error):
                db.execute("ROLLBACK")
            raise
        self._producers_written.update(producer.key for producer in new)
        return first

    def close(self) -> None:
        """Write what is left, note when the capture ended, and close the database."""
        try:
            self.flush()
            self._db.execute("INSERT OR REPLACE INTO info (key, value) VALUES ('closed_at', ?)", (time.time(),))
            # Done: one file again, which readers open without making -wal and -shm files beside it;
            # unless one reads it now (its own tool, say), which keeps it in WAL mode.
            self._db.execute("PRAGMA busy_timeout = 0")
            with contextlib.suppress(sqlite3.OperationalError):
                self._db.execute("PRAGMA journal_mode = DELETE")
        finally:
            with contextlib.suppress(ValueError):
                self.store.listeners.remove(self._note)
            self._db.close()
            os.close(self._lock_fd)  # and its lock


def write_capture(path: Path, connections: list[Connection], exported_at: float | None = None) -> int:
    """Write a saved session's connections as a capture database; returns the frames written."""
    kept = max([1, *(max(len(c.messages), len(c.logs)) for c in connections)])
    store = Store(max_messages=kept, max_frames=sys.maxsize)
    writer = CaptureWriter(path, store)
    try:
        store.load(connections, exported_at)
        writer._changed = set(store.entries)
        return writer.flush()
    finally:
        writer.close()


@contextlib.contextmanager
def _opened(path: Path) -> Iterator[int]:
    fd = os.open(path, os.O_RDONLY)
    try:
        yield fd
    finally:
        os.close(fd)


def _lock(fd: int) -> bool:
    """Take the writer's lock on a capture (flock: apart from SQLite's own locks); False if taken."""
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    return True


def remove_capture(path: Path) -> None:
    """Remove a capture database and the files SQLite keeps beside it while it is written."""
    for suffix in ("", "-wal", "-shm"):
        with contextlib.suppress(OSError):
            os.unlink(f"{path}{suffix}")


def _is_ours(path: Path) -> bool:
    try:
        with contextlib.closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=BUSY_TIMEOUT)) as db:
            return bool(db.execute("PRAGMA application_id").fetchone()[0] == APPLICATION_ID)
    except sqlite3.Error:
        return False


def _frame_row(number: int, frame: Frame) -> tuple[Any, ...]:
    content = frame.content
    binary = frame.message_type in BYTES_TYPES
    return (
        number,
        frame.timestamp,
        frame.direction,
        frame.message_type,
        frame.size_bytes,
        frame.truncated,
        frame.close_code,
        None if frame.handler_time is UNSET else frame.handler_time,
        None if binary else content,
        content if binary else None,
    )


def _log_row(number: int, line: LogLine) -> tuple[Any, ...]:
    return (
        number,
        line.timestamp,
        line.level,
        line.levelno,
        line.logger,
        line.message,
        line.size_bytes,
        line.truncated,
        line.error,
        _ENCODER.encode(line.traceback).decode(),
    )


def _connection_row(store: Store, connection_id: str) -> tuple[Any, ...]:
    entry = store.entries[connection_id]
    c = entry.connection
    # The file holds every frame that arrived: what the store let go for its own bounds is here.
    kept = msgspec.structs.replace(
        c,
        messages_dropped=c.messages_dropped - entry.evicted,
        messages_not_kept=c.messages_not_kept - entry.evicted,
        messages=[],
        logs=[],
    )
    return (
        entry.number,
        connection_id,
        c.path,
        c.query_string,
        c.state,
        c.connected_at,
        c.disconnected_at,
        c.close_code,
        c.close_reason,
        c.closed_by,
        c.handler,
        c.error,
        c.pid,
        c.app,
        c.host,
        _ENCODER.encode(kept).decode(),
    )


# -- reading -----------------------------------------------------------------------------------


def read_capture(path: Path) -> Capture:
    """A session from the capture database ``path`` (one another ``record`` may still be writing).

    Whatever is wrong with it is a :class:`SessionFileError` of one line.
    """
    try:
        db = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=BUSY_TIMEOUT)
    except sqlite3.Error as exc:
        raise SessionFileError(f"cannot read {path}: {error_reason(exc)}") from None
    try:
        with contextlib.closing(db):
            check_capture(db)
            return _read(db)
    except sqlite3.DatabaseError as exc:
        raise SessionFileError(f"{path}: {describe_error(exc)}") from None
    except (msgspec.DecodeError, msgspec.ValidationError) as exc:
        raise SessionFileError(f"{path}: a connection's metadata cannot be read: {exc}") from None
    except SessionFileError as exc:
        raise SessionFileError(f"{path}: {exc}") from None


def is_journal(path: Path) -> bool:
    """Whether ``path`` is a recording's journal (``x.json.journal.sqlite``), whose frames are read
    whole; False for anything else, a capture or what cannot be read."""
    try:
        with contextlib.closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=BUSY_TIMEOUT)) as db:
            return "frame_batches" in table_names(db)
    except sqlite3.Error:
        return False


def describe_error(exc: sqlite3.Error) -> str:
    text = str(exc)
    if "not a database" in text:
        return "not an SQLite database, or a corrupt one"
    if "malformed" in text:
        return "the database is corrupt (malformed), or was cut short"
    if "locked" in text:
        return "the database is locked by another program"
    return text


def table_names(db: sqlite3.Connection) -> set[str]:
    return {row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}


FRAME_COLUMNS = (
    "connection, timestamp, direction, message_type, size_bytes, truncated, close_code, handler_time, text, data"
)
LOG_COLUMNS = "connection, timestamp, level, levelno, logger, message, size_bytes, truncated, error, traceback"


def frame_of(row: Sequence[Any]) -> Frame:
    """A frame from a row of FRAME_COLUMNS (its connection first, not read here)."""
    _, timestamp, direction, kind, size, truncated, code, took, text, data = row
    return Frame(
        direction=direction,
        message_type=kind,
        content=data if kind in BYTES_TYPES else text,
        timestamp=timestamp,
        size_bytes=size,
        truncated=bool(truncated),
        close_code=code,
        handler_time=UNSET if took is None else took,
    )


def log_of(row: Sequence[Any]) -> LogLine:
    """A log line from a row of LOG_COLUMNS (its connection first, not read here)."""
    _, timestamp, level, levelno, logger, message, size, truncated, error, traceback = row
    return LogLine(
        timestamp=timestamp,
        level=level,
        levelno=levelno,
        logger=logger,
        message=message,
        size_bytes=size,
        truncated=bool(truncated),
        error=error,
        traceback=TRACEBACK_DECODER.decode(traceback),
    )


def check_capture(db: sqlite3.Connection) -> None:
    application_id = db.execute("PRAGMA application_id").fetchone()[0]
    tables = table_names(db)
    if application_id != APPLICATION_ID or not tables >= _TABLES:
        raise SessionFileError("an SQLite database, but not a wsinspect capture")
    version = db.execute("PRAGMA user_version").fetchone()[0]
    if version > SCHEMA_VERSION:
        raise SessionFileError(
            f"a capture of schema version {version}, written by a newer wsinspect (this one reads up to "
            f"{SCHEMA_VERSION}): upgrade wsinspect"
        )


def _read(db: sqlite3.Connection) -> Capture:
    db.execute("BEGIN")  # one snapshot, while another record may be writing
    connections: dict[int, Connection] = {
        number: CONNECTION_DECODER.decode(metadata)
        for number, metadata in db.execute("SELECT id, metadata FROM connections ORDER BY id")
    }
    # A frame whose connection's row did not make it is left out (never: both go in one transaction).
    for row in db.execute(f"SELECT {FRAME_COLUMNS} FROM frames ORDER BY id"):
        if (connection := connections.get(row[0])) is not None:
            connection.messages.append(frame_of(row))
    if "frame_batches" in table_names(db):  # a journal
        took_by_number = dict(db.execute("SELECT frame, seconds FROM handler_times"))
        number_in_journal = 0
        for (blob,) in db.execute("SELECT frames FROM frame_batches ORDER BY id"):
            for row in _BATCH.decode(blob):
                number_in_journal += 1
                if (took := took_by_number.get(number_in_journal)) is not None:
                    row = (*row[:7], took, *row[8:])
                if (connection := connections.get(row[0])) is not None:
                    connection.messages.append(frame_of(row))
    for row in db.execute(f"SELECT {LOG_COLUMNS} FROM logs ORDER BY id"):
        if (connection := connections.get(row[0])) is not None:
            connection.logs.append(log_of(row))
    deleted = 0
    for number, frames in db.execute("SELECT connection, frames FROM deleted"):
        connection = connections.get(number)
        if connection is not None:
            connection.messages_dropped += frames
            connection.messages_not_kept += frames
            deleted += frames
    info = dict(db.execute("SELECT key, value FROM info").fetchall())
    newest = db.execute("SELECT max(timestamp) FROM frames").fetchone()[0]
    moments: Iterable[float] = (
        m for m in (info.get("closed_at"), newest, *(c.disconnected_at for c in connections.values())) if m
    )
    exported_at = info.get("closed_at") or max(moments, default=info.get("created_at") or time.time())
    return Capture(exported_at=float(exported_at), connections=list(connections.values()), frames_deleted=deleted)
