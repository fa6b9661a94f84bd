"""The capture database of a live store: :class:`DatabaseWriter` follows a
:class:`~wsinspect.inspector.core.store.Store`, and each :meth:`~DatabaseWriter.flush` writes the rows
that arrived since the last one (frames, log lines, the inspector's own events), the connections
that changed and the producers that came, in one transaction. The database is in WAL mode with
``synchronous=NORMAL``: a committed transaction survives the process being killed. The format
itself is :mod:`wsinspect.sessions.sqlite`'s.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import sys
import time
from pathlib import Path
from typing import Any

import msgspec
from msgspec import UNSET

from ...model import Connection, Frame, LogLine, SystemEvent
from ...sessions import SessionFileError
from ...sessions.sqlite import connection_row, create_database, error_reason, frame_row, log_row
from .store import Store

__all__ = ("DatabaseWriter", "write_database")

RETENTION_BATCH = 1000  # frames deleted at a time, at least, to bring a capture back under its bound


class DatabaseWriter:
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
        self._db, self._lock_fd = create_database(path, journal=journal)
        store.listeners.append(self._note)

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
                frames.append(frame_row(store.connection_number(connection_id), item))
            elif type(item) is LogLine:
                assert connection_id is not None
                logs.append(log_row(store.connection_number(connection_id), item))
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
                [self._connection_row(connection_id) for connection_id in changed if connection_id in store.entries],
            )
            if self.journal:  # frames are numbered by their order in the journal
                first = self.frames_written + 1
                if frames:
                    db.execute("INSERT INTO frame_batches (frames) VALUES (?)", (msgspec.msgpack.encode(frames),))
                db.executemany("INSERT OR REPLACE INTO handler_times VALUES (?, ?)", [(n, t) for t, n in timed])
            else:
                first = db.execute("SELECT coalesce(max(id), 0) + 1 FROM frames").fetchone()[0]
                db.executemany(f"INSERT INTO frames VALUES (NULL, {', '.join('?' * 11)})", frames)
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

    def _connection_row(self, connection_id: str) -> tuple[Any, ...]:
        entry = self.store.entries[connection_id]
        c = entry.connection
        # The file holds every frame that arrived: what the store let go for its own bounds is here.
        kept = msgspec.structs.replace(
            c,
            messages_dropped=c.messages_dropped - entry.evicted,
            messages_not_kept=c.messages_not_kept - entry.evicted,
            messages=[],
            logs=[],
        )
        return connection_row(entry.number, kept)

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


def write_database(path: Path, connections: list[Connection], exported_at: float | None = None) -> int:
    """Write a saved session's connections as a capture database; returns the frames written."""
    kept = max([1, *(max(len(c.messages), len(c.logs)) for c in connections)])
    store = Store(max_messages=kept, max_frames=sys.maxsize)
    writer = DatabaseWriter(path, store)
    try:
        store.load(connections, exported_at)
        writer._changed = set(store.entries)
        return writer.flush()
    finally:
        writer.close()
