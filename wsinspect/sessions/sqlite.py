"""Capture databases: SQLite files a ``record`` writes as frames arrive (see
:class:`~wsinspect.inspector.core.database_writer.DatabaseWriter`), so that a crash loses at most the
last second, and journals (what ``record -o x.json`` keeps until it writes x.json). Here: their
schema (``SCHEMA``, docs/recording.md's, versioned by ``PRAGMA user_version``; ``PRAGMA
application_id`` tells a capture from any other database), how a file is created and locked, how
frames and log lines become rows and back, and :func:`read_database`, which turns one back into a
session.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import sqlite3
import time
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

import msgspec
from msgspec import UNSET

from .. import __version__
from ..model import Connection, Frame, LogLine, TracebackEntry
from .base import Session, SessionFileError, is_sqlite

__all__ = (
    "APPLICATION_ID",
    "BUSY_TIMEOUT",
    "BYTES_TYPES",
    "CONNECTION_DECODER",
    "FRAME_COLUMNS",
    "JOURNAL_SCHEMA",
    "LOG_COLUMNS",
    "SCHEMA",
    "SCHEMA_VERSION",
    "TRACEBACK_DECODER",
    "DatabaseSession",
    "check_database",
    "connection_row",
    "create_database",
    "describe_error",
    "error_reason",
    "frame_columns",
    "frame_of",
    "frame_row",
    "is_journal",
    "log_of",
    "log_row",
    "read_database",
    "remove_database",
    "table_names",
)

APPLICATION_ID = 0x77736931  # "wsi1": what tells a capture from another SQLite database

# 2: frames.send_waited. A capture of version 1 reads as one whose sends never waited.
SCHEMA_VERSION = 2

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
    data BLOB,                         -- a binary, ping or pong frame's bytes (NULL: not recorded)
    send_waited REAL                   -- a sent message: seconds its send() waited, when 0.1 or more
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

# What a journal has besides (its frames table stays empty): see DatabaseWriter.
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


class _BatchRow(msgspec.Struct, array_like=True):
    """A frame of a journal's batch: frame_row less its number. ``send_waited`` is last, with a
    default, so that a journal written before it (schema 1) reads too."""

    connection: int
    timestamp: float
    direction: str
    message_type: str
    size_bytes: int
    truncated: bool
    close_code: int | None
    handler_time: float | None
    text: str | None
    data: bytes | None
    send_waited: float | None = None


_BATCH = msgspec.msgpack.Decoder(list[_BatchRow])

_ENCODER = msgspec.json.Encoder()

BUSY_TIMEOUT = 2.0  # seconds to wait for a lock another process holds


class DatabaseSession(Session, kw_only=True):
    """A session read from a capture database, and how many of its frames --max-bytes or
    --max-age deleted (each connection counts its own in ``messages_dropped`` and ``messages_not_kept``)."""

    frames_deleted: int = 0


def error_reason(exc: BaseException) -> str:
    return getattr(exc, "strerror", None) or str(exc) or type(exc).__name__


# -- writing -----------------------------------------------------------------------------------


def create_database(path: Path, *, journal: bool = False) -> tuple[sqlite3.Connection, int]:
    """A new capture database (or journal) at ``path``, private (mode 0600: it holds payloads), locked
    while written (flock, apart from SQLite's own locks); it replaces an earlier capture, and refuses
    any other file. Returns the database and the descriptor that holds its lock.
    """
    if path.exists():
        if not is_sqlite(path) or not _is_ours(path):
            raise SessionFileError(f"cannot write {path}: it exists and is not a wsinspect capture")
        with _opened(path) as fd:
            if not _lock(fd):
                raise SessionFileError(f"cannot write {path}: another wsinspect record is writing it")
            remove_database(path)
    try:
        # Private from the start, and locked while written: another record must not replace it.
        lock_fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o600)
    except OSError as exc:
        raise SessionFileError(f"cannot write {path}: {error_reason(exc)}") from None
    _lock(lock_fd)
    try:
        db = sqlite3.connect(path, timeout=BUSY_TIMEOUT, isolation_level=None, check_same_thread=False)
        db.execute("PRAGMA auto_vacuum = INCREMENTAL")  # so that deleted frames give their space back
        db.execute("PRAGMA journal_mode = WAL")
        db.execute("PRAGMA synchronous = NORMAL")
        db.execute(f"PRAGMA application_id = {APPLICATION_ID}")
        db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
        db.executescript(SCHEMA + (JOURNAL_SCHEMA if journal else ""))
        db.executemany(
            "INSERT INTO info (key, value) VALUES (?, ?)", [("created_at", time.time()), ("wsinspect", __version__)]
        )
    except (OSError, sqlite3.Error) as exc:
        os.close(lock_fd)
        raise SessionFileError(f"cannot write {path}: {error_reason(exc)}") from None
    return db, lock_fd


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


def remove_database(path: Path) -> None:
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


def frame_row(number: int, frame: Frame) -> tuple[Any, ...]:
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
        None if frame.send_waited is UNSET else frame.send_waited,
    )


def log_row(number: int, line: LogLine) -> tuple[Any, ...]:
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


def connection_row(number: int, c: Connection) -> tuple[Any, ...]:
    """A connection's row: its number (c7 is 7), the columns queries use, and all its metadata."""
    return (
        number,
        c.connection_id,
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
        _ENCODER.encode(c).decode(),
    )


# -- reading -----------------------------------------------------------------------------------


def read_database(path: Path) -> DatabaseSession:
    """A session from the capture database ``path`` (one another ``record`` may still be writing).

    Whatever is wrong with it is a :class:`SessionFileError` of one line.
    """
    try:
        db = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=BUSY_TIMEOUT)
    except sqlite3.Error as exc:
        raise SessionFileError(f"cannot read {path}: {error_reason(exc)}") from None
    try:
        with contextlib.closing(db):
            check_database(db)
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
    "connection, timestamp, direction, message_type, size_bytes, truncated, close_code, handler_time, text, data, "
    "send_waited"
)


def frame_columns(db: sqlite3.Connection) -> str:
    """FRAME_COLUMNS as this capture has them: one of schema 1 has no ``send_waited`` (read as NULL)."""
    if db.execute("PRAGMA user_version").fetchone()[0] < 2:
        return FRAME_COLUMNS.replace("send_waited", "NULL")
    return FRAME_COLUMNS


LOG_COLUMNS = "connection, timestamp, level, levelno, logger, message, size_bytes, truncated, error, traceback"


def frame_of(row: Sequence[Any]) -> Frame:
    """A frame from a row of FRAME_COLUMNS (its connection first, not read here)."""
    _, timestamp, direction, kind, size, truncated, code, took, text, data, waited = row
    return Frame(
        direction=direction,
        message_type=kind,
        content=data if kind in BYTES_TYPES else text,
        timestamp=timestamp,
        size_bytes=size,
        truncated=bool(truncated),
        close_code=code,
        handler_time=UNSET if took is None else took,
        send_waited=UNSET if waited is None else waited,
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


def check_database(db: sqlite3.Connection) -> None:
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


def _read(db: sqlite3.Connection) -> DatabaseSession:
    db.execute("BEGIN")  # one snapshot, while another record may be writing
    connections: dict[int, Connection] = {
        number: CONNECTION_DECODER.decode(metadata)
        for number, metadata in db.execute("SELECT id, metadata FROM connections ORDER BY id")
    }
    # A frame whose connection's row did not make it is left out (never: both go in one transaction).
    for row in db.execute(f"SELECT {frame_columns(db)} FROM frames ORDER BY id"):
        if (connection := connections.get(row[0])) is not None:
            connection.messages.append(frame_of(row))
    if "frame_batches" in table_names(db):  # a journal
        took_by_number = dict(db.execute("SELECT frame, seconds FROM handler_times"))
        number_in_journal = 0
        for (blob,) in db.execute("SELECT frames FROM frame_batches ORDER BY id"):
            for batch_row in _BATCH.decode(blob):
                number_in_journal += 1
                row = msgspec.structs.astuple(batch_row)
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
    return DatabaseSession(
        exported_at=float(exported_at), connections=list(connections.values()), frames_deleted=deleted
    )
