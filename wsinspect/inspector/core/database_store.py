"""A capture database opened lazily: the timeline's columns in memory, its frames read from disk.

:class:`DatabaseStore` is a :class:`~wsinspect.inspector.core.store.Store` whose timeline is built from
a capture (``record -o x.sqlite``) a chunk at a time, at each :meth:`~DatabaseStore.poll`, and
whose rows are read from the database when something looks at them. In memory there are only the
columns the filters read (a code and a connection number per row, see ``Store.codes``), each row's
id in its table, and the connections' metadata: some 17 bytes a row whatever its payload, so a
capture larger than memory opens at once, its first rows on screen while the rest is indexed.
Rows, a connection's frames and the text a search looks in are read a page at a time.

While another ``record`` writes the capture (it holds its lock), polls go on reading what it
commits: new frames, log lines and events, and the connections that changed, as a live store
takes them in. The database is opened read-only and never written.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import sqlite3
import sys
import time
from array import array
from bisect import bisect_left, bisect_right
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from operator import itemgetter
from pathlib import Path
from typing import Any, ClassVar, Final, cast, overload

import msgspec

from ...model import Connection, Frame, LogLine, Row, SystemEvent, describe_close
from ...sessions import Progress, SessionFileError, Written, write_session
from ...sessions.sqlite import (
    BUSY_TIMEOUT,
    CONNECTION_DECODER,
    LOG_COLUMNS,
    check_database,
    describe_error,
    error_reason,
    frame_columns,
    frame_of,
    log_of,
    table_names,
)
from .describe import log_text
from .rows import CODE_SQL, RowCode
from .store import BaseStore, ConnectionEntry, Exporter, lifecycle_events

__all__ = ("ConnectionFrames", "ConnectionLogs", "DatabaseStore")

CHUNK_ROWS: Final = 20_000  # rows indexed by one poll while reading (some 20 ms here)
FOLLOW_EVERY: Final = 0.5  # seconds between looks at a capture being written, once caught up
PAGE_ROWS: Final = 256  # rows read from the database at a time
PAGES_KEPT: Final = 64  # pages of rows kept in memory
ITEMS_KEPT: Final = 65_536  # frames and log lines kept in memory, so that a row stays the same object

_FRAME, _LOG = 0, 1  # which table an item cache key is of
# Rows are placed by time, then connection, then rank: at one moment a connection's connect and
# accept (rank 0) come before its frames (1), log lines (2) and its other ◉ rows (3), as in a
# session file read whole (Store.load).
_PLACE: Final = itemgetter(0, 3, 1)


class DatabaseStore(BaseStore):
    """A capture database as a store: indexed a chunk per :meth:`poll`, read a page at a time,
    followed while another ``record`` writes it. Errors are :class:`SessionFileError` of one line.

    Its entries hold no frames or log lines: a connection's are read from the file when the screen
    asks (:meth:`frames_near`, :meth:`newest_frames`...), their ids and times in memory."""

    search_step: ClassVar[int] = 16_384  # read from disk: some 25 ms a step
    kept_on_disk: ClassVar[bool] = True

    def __init__(self, path: Path) -> None:
        super().__init__(max_frames=sys.maxsize)
        self.path = path
        self.refs = array("q")  # each row's id in its table (frames, logs), or its index in _events
        self.rows = RowSequence(self)
        self.texts = TextSequence(self)
        self.read_fraction = 0.0  # how much of the frames the columns cover (1.0: all, for now)
        self._frames: dict[int, ConnectionFrames] = {}  # connection number → its frames, read when asked
        self._logs: dict[int, ConnectionLogs] = {}
        self.failure = ""  # why rows could not be read (the next poll raises it)
        self._events: list[tuple[str | None, SystemEvent]] = []  # the ◉ rows: in memory, as few as connections and news
        self._pending: list[tuple[float, int, int, int, int]] = []  # ◉ rows not placed yet (see _read_more)
        self._frame_cursor = 0  # the highest frame id indexed
        self._log_cursor = 0
        self._event_cursor = 0
        self._frame_ids = (0, 0)  # the lowest and highest frame id when last looked
        self._caught_up_at = 0.0
        self._ids: dict[int, str] = {}  # connection number → id
        self._deleted: dict[int, int] = {}  # connection number → frames the capture's bound deleted
        self._pages: dict[int, list[Row]] = {}  # page number → its rows
        self._items: dict[tuple[int, int], Frame | LogLine] = {}  # (table, id) → the item read
        self._ids_of: dict[int, int] = {}  # id() of a frame in _items → its id in the table
        self._db = self._open(path)

    def _open(self, path: Path) -> sqlite3.Connection:
        try:
            db = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=BUSY_TIMEOUT, isolation_level=None)
        except sqlite3.Error as exc:
            raise SessionFileError(f"cannot read {path}: {error_reason(exc)}") from None
        try:
            check_database(db)
            if "frame_batches" in table_names(db):
                raise SessionFileError("a recording's journal, not a capture")  # read whole (read_database)
            self._frame_columns = frame_columns(db)
            self.writing = _being_written(path)
            with self._snapshot(db):
                self._frame_ids = db.execute("SELECT coalesce(min(id), 0), coalesce(max(id), 0) FROM frames").fetchone()
                self._read_connections(db)
        except sqlite3.DatabaseError as exc:
            db.close()
            raise SessionFileError(f"{path}: {describe_error(exc)}") from None
        except (msgspec.DecodeError, msgspec.ValidationError) as exc:
            db.close()
            raise SessionFileError(f"{path}: a connection's metadata cannot be read: {exc}") from None
        except SessionFileError as exc:
            db.close()
            raise SessionFileError(f"{path}: {exc}") from None
        except BaseException:
            db.close()
            raise
        if not self.writing:
            self._finish(db)
        return db

    @contextlib.contextmanager
    def _snapshot(self, db: sqlite3.Connection) -> Iterator[None]:
        """One read transaction: what a concurrent record commits meanwhile is not half seen."""
        db.execute("BEGIN")
        try:
            yield
        finally:
            db.execute("COMMIT")

    def close(self) -> None:
        self._db.close()

    # -- reading the timeline --------------------------------------------------------------

    def poll(self, now: float | None = None) -> int:
        """Index the next chunk of rows, or, caught up with a capture being written, look for what
        it committed since (every FOLLOW_EVERY seconds); returns the rows added."""
        if self.failure:
            raise SessionFileError(f"{self.path}: {self.failure}")
        now = time.monotonic() if now is None else now
        if not self.reading and (not self.writing or now - self._caught_up_at < FOLLOW_EVERY):
            return 0
        try:
            added = self._read_more()
        except sqlite3.DatabaseError as exc:
            raise SessionFileError(f"{self.path}: {describe_error(exc)}") from None
        except (msgspec.DecodeError, msgspec.ValidationError) as exc:
            raise SessionFileError(f"{self.path}: a connection's metadata cannot be read: {exc}") from None
        if not self.reading:
            self._caught_up_at = now
            if self.writing and not _being_written(self.path):  # record ended: read what it wrote last
                added += self._read_more()  # while still `writing`: its connections too
                self.writing = False
                self._finish(self._db)
        return added

    def _read_more(self) -> int:
        """Index the next chunk of rows (and, of a capture being written, take in the connections
        that changed); returns the rows added."""
        db = self._db
        changed: set[str] = set()
        with self._snapshot(db):
            if self.writing:
                changed = self._read_connections(db)
                self._frame_ids = db.execute("SELECT coalesce(min(id), 0), coalesce(max(id), 0) FROM frames").fetchone()
            frames = db.execute(
                f"SELECT timestamp, 1, {CODE_SQL}, connection, id FROM frames WHERE id > ? ORDER BY id LIMIT ?",
                (self._frame_cursor, CHUNK_ROWS),
            ).fetchall()
            logs = db.execute(
                f"SELECT timestamp, 2, {RowCode.LOG:d}, connection, id FROM logs WHERE id > ? ORDER BY id LIMIT ?",
                (self._log_cursor, CHUNK_ROWS),
            ).fetchall()
            for ref, timestamp, level, text in db.execute(
                "SELECT id, timestamp, level, text FROM events WHERE id > ? ORDER BY id", (self._event_cursor,)
            ):
                self._event_cursor = ref
                self._add_event(0, None, SystemEvent(timestamp, level, text))
        more_frames, more_logs = len(frames) == CHUNK_ROWS, len(logs) == CHUNK_ROWS
        # Rows go in time order across the tables, each table's in its own order: a row waits while
        # a table with more to read may still have an older one.
        horizon = min(
            [table[-1][0] for table, more in ((frames, more_frames), (logs, more_logs)) if more], default=float("inf")
        )
        read_frames, read_logs = frames, logs
        frames, logs = _until(read_frames, horizon), _until(read_logs, horizon)
        pending = self._pending
        pending.sort()  # mostly sorted already: the ◉ rows come in time order, a connection's few at a time
        cut = bisect_right(pending, (horizon, sys.maxsize))
        events = pending[:cut]
        if not (frames or logs or events) and horizon != float("inf"):
            frames, logs, events = read_frames, read_logs, []  # out of time order: never stuck
        else:
            del pending[:cut]
        if frames:
            self._frame_cursor = frames[-1][4]
        if logs:
            self._log_cursor = logs[-1][4]
        rows = frames + logs + events if logs or events else frames
        if rows is not frames:
            rows.sort(key=_PLACE)
        if rows:
            _, _, codes, owners, refs = zip(*rows, strict=True)
            self.codes.extend(codes)
            self.owners.extend(owners)
            self.refs.extend(refs)
            self.frames_received += len(frames)
            for number in {row[3] for row in rows}:
                if number in self._ids:
                    changed.add(self._ids[number])
        first, last = self._frame_ids
        more = more_frames or more_logs or bool(self._pending and horizon != float("inf"))
        self.read_fraction = 1.0 if not more else min(0.99, (self._frame_cursor - first) / max(1, last - first))
        if changed:
            for listener in self.listeners:
                listener(changed)
        return len(rows)

    def _finish(self, db: sqlite3.Connection) -> None:
        """Written for good: its connections are as they were when record ended."""
        self.as_of = self._moment(db)

    def _moment(self, db: sqlite3.Connection) -> float:
        """The moment the capture shows: when its record ended, else the newest it holds."""
        info = dict(db.execute("SELECT key, value FROM info").fetchall())
        newest = db.execute("SELECT max(timestamp) FROM frames").fetchone()[0]
        moments = [m for m in (newest, *(e.connection.disconnected_at for e in self.entries.values())) if m]
        return float(info.get("closed_at") or max(moments, default=info.get("created_at") or time.time()))

    def session(self) -> tuple[list[Connection], float]:
        """The capture as a session file holds it: its connections (in the capture's order) and
        their moment. Each connection's frames are read as they are written out, a chunk at a time
        (``files.write_session`` takes them so), so a capture larger than memory exports in some 24
        bytes a frame (their ids and times); its log lines are read whole."""
        entries = sorted(self.entries.values(), key=lambda entry: entry.number)
        connections = [
            msgspec.structs.replace(
                entry.connection,
                # A list to the type checker; a Sequence read from the capture to the writer, which slices it.
                messages=cast(list[Frame], self._frames[entry.number]),
                logs=list(self._logs[entry.number]),
            )
            for entry in entries
        ]
        return connections, self.as_of if self.as_of is not None else self._moment(self._db)

    # -- what the screen reads of a connection (see interface.StoreView) ---------------------

    def frames_near(self, connection_id: str, frame: Frame) -> Sequence[Frame]:
        """Where a ping or pong's partner is looked for: the frames around it (none for other
        frames, which need none)."""
        if frame.message_type not in ("ping", "pong"):
            return ()
        return self._frames[self.entries[connection_id].number].around(frame)

    def newest_frames(self, connection_id: str) -> Iterator[Frame]:
        return reversed(self._frames[self.entries[connection_id].number])

    def frame_times(self, connection_id: str) -> Sequence[float]:
        return self._frames[self.entries[connection_id].number].timestamps()

    def handler_times(self, connection_id: str) -> Sequence[float]:
        frames = self._frames[self.entries[connection_id].number]
        frames.timestamps()  # brought up to date
        return frames.handler_times

    def log_levels(self, connection_id: str) -> Sequence[str]:
        return self._logs[self.entries[connection_id].number].levels()

    def snapshot(self, connection_id: str) -> Connection:
        entry = self.entries[connection_id]
        frames, logs = self._frames[entry.number], self._logs[entry.number]
        return msgspec.structs.replace(entry.connection, messages=list(frames), logs=list(logs))

    def connections(self) -> list[Connection]:
        return [self.snapshot(connection_id) for connection_id in sorted(self.entries, key=self._by_start)]

    def _by_start(self, connection_id: str) -> float:
        return self.entries[connection_id].connection.connected_at

    def exporter(self) -> Exporter:
        """An export reads the capture again, in its own thread and with its own reader, as
        ``recover`` does: its frames a chunk at a time as they are written out."""
        capture = self.path

        def export(path: Path, exported_at: float, progress: Progress | None) -> Written:
            with contextlib.closing(DatabaseStore(capture)) as store:
                return write_session(path, store.session()[0], exported_at, progress=progress)

        return export

    def _read_connections(self, db: sqlite3.Connection) -> set[str]:
        """Take in the connections new or changed since the last look (the closed ones change no more)."""
        self._deleted = dict(db.execute("SELECT connection, frames FROM deleted"))
        self.frames_deleted = sum(self._deleted.values())
        known_open = [entry.number for entry in self.entries.values() if entry.connection.state != "closed"]
        newest = max(self._ids, default=0)
        found = db.execute("SELECT id, metadata FROM connections WHERE id > ? ORDER BY id", (newest,)).fetchall()
        for at in range(0, len(known_open), 500):
            part = known_open[at : at + 500]
            found += db.execute(
                f"SELECT id, metadata FROM connections WHERE id IN ({', '.join('?' * len(part))})", part
            ).fetchall()
        changed: set[str] = set()
        for number, metadata in found:
            connection = CONNECTION_DECODER.decode(metadata)
            deleted = self._deleted.get(number, 0)
            connection.messages_dropped += deleted
            connection.messages_not_kept += deleted
            self._take_connection(number, connection, changed)
        return changed

    def _take_connection(self, number: int, connection: Connection, changed: set[str]) -> None:
        connection_id = connection.connection_id
        entry = self.entries.get(connection_id)
        before = entry.connection if entry is not None else None
        if before is not None and before == connection:
            return
        if entry is None:
            self._frames[number], self._logs[number] = ConnectionFrames(self, number), ConnectionLogs(self, number)
            entry = ConnectionEntry(connection, deque(), number)
            self.entries[connection_id] = entry
            self._ids[number] = connection_id
            self._numbers[connection_id] = number
            self._next_number = max(self._next_number, number + 1)
        entry.connection = connection
        # The connect and accept, when among them, come first (see lifecycle_events).
        accepted = connection.accepted_at is not None and (before is None or before.accepted_at is None)
        opening = (before is None) + accepted
        for n, event in enumerate(lifecycle_events(before, connection)):
            self._add_event(number, connection_id, event, rank=0 if n < opening else 3)
        changed.add(connection_id)

    def _add_event(self, number: int, connection_id: str | None, event: SystemEvent, rank: int = 3) -> None:
        self._pending.append((event.timestamp, rank, RowCode.EVENT, number, len(self._events)))
        self._events.append((connection_id, event))

    def _clear_items(self, entry: ConnectionEntry) -> None:
        self._frames[entry.number].forget()
        self._logs[entry.number].forget()

    def _forget_rows(self) -> None:
        """A clear: the rows so far leave the timeline (not the file), as a live store's do."""
        gone = len(self.refs)
        del self.codes[:]
        del self.owners[:]
        del self.refs[:]
        self._pages.clear()
        self.system_events.clear()
        self.frames_received = 0
        self.frames_let_go = 0
        self._rows_gone(gone)

    # -- reading rows ----------------------------------------------------------------------

    def row(self, position: int) -> Row:
        page, offset = divmod(position, PAGE_ROWS)
        rows = self._pages.get(page)
        if rows is None or offset >= len(rows):  # not read, or the last page, which grew since
            rows = self.rows_between(page * PAGE_ROWS, min((page + 1) * PAGE_ROWS, len(self.refs)))
            if len(self._pages) >= PAGES_KEPT:
                del self._pages[next(iter(self._pages))]  # the oldest read
            self._pages[page] = rows
        return rows[offset]

    def rows_between(self, start: int, stop: int) -> list[Row]:
        """Rows ``start:stop``, read from the database (frames and log lines) and from memory (◉ rows)."""
        codes, refs = self.codes[start:stop], self.refs[start:stop]
        frames = self._read(_FRAME, [ref for code, ref in zip(codes, refs, strict=True) if code < RowCode.EVENT])
        logs = self._read(_LOG, [ref for code, ref in zip(codes, refs, strict=True) if code == RowCode.LOG])
        events, ids = self._events, self._ids
        rows: list[Row] = []
        for code, ref, number in zip(codes, refs, self.owners[start:stop], strict=True):
            if code == RowCode.EVENT:
                rows.append(events[ref])
                continue
            item = (frames if code < RowCode.EVENT else logs).get(ref)
            if item is None:  # deleted since it was indexed (record --max-bytes or --max-age), or unreadable
                item = SystemEvent(0.0, "warning", "(no longer in the capture)")
            rows.append((ids.get(number), item))
        return rows

    def _read(self, table: int, ids: list[int], connection: int | None = None) -> dict[int, Any]:
        """Frames (or log lines) by id: the ones read before from memory, the rest in one query of
        their span (of one connection's, by its index, when ``connection`` is given)."""
        items = self._items
        found: dict[int, Any] = {}
        missing: list[int] = []
        for ref in ids:
            item = items.get((table, ref))
            if item is None:
                missing.append(ref)
            else:
                found[ref] = item
        if not missing:
            return found
        name, columns, make = self._table(table)
        where, params = "id BETWEEN ? AND ?", [min(missing), max(missing)]
        if connection is not None:
            where, params = "connection = ? AND " + where, [connection, *params]
        wanted = set(missing)
        try:
            read = self._db.execute(f"SELECT id, {columns} FROM {name} WHERE {where}", params).fetchall()
        except sqlite3.DatabaseError as exc:  # while a screen draws: told by the next poll
            self.failure = describe_error(exc)
            return found
        ids_of = self._ids_of
        if len(items) + len(read) > ITEMS_KEPT:  # the oldest read go
            for key in list(items)[: len(read) + ITEMS_KEPT // 4]:
                ids_of.pop(id(items.pop(key)), None)
        for row in read:
            if row[0] in wanted:
                item = found[row[0]] = make(row[1:])
                items[(table, row[0])] = item
                if table == _FRAME:
                    ids_of[id(item)] = row[0]
        return found

    def _table(self, table: int) -> tuple[str, str, Callable[[Sequence[Any]], Any]]:
        """The table's name, the columns it is read by, and what makes an item of a row."""
        return ("frames", self._frame_columns, frame_of) if table == _FRAME else ("logs", LOG_COLUMNS, log_of)

    def _read_span(self, table: int, connection: int, first: int, last: int) -> list[Any]:
        """A connection's frames (or log lines) from id ``first`` to ``last``, read for one use (an
        export): not kept, so a whole capture goes through at the cost of a chunk."""
        name, columns, make = self._table(table)
        try:
            read = self._db.execute(
                f"SELECT {columns} FROM {name} WHERE connection = ? AND id BETWEEN ? AND ? ORDER BY id",
                (connection, first, last),
            )
            return list(map(make, read))
        except sqlite3.DatabaseError as exc:
            raise SessionFileError(f"{self.path}: {describe_error(exc)}") from None

    def frame_id(self, frame: Frame) -> int | None:
        """The id of a frame read from the capture (while it is kept in memory), else None."""
        return self._ids_of.get(id(frame))

    def search_texts(self, start: int, stop: int) -> list[str]:
        """What a text search looks in for rows ``start:stop`` (see ``search_text``), read without
        making frames: text frames' text, closes' code and reason, log lines, ◉ rows."""
        codes, refs = self.codes[start:stop], self.refs[start:stop]
        frame_texts: dict[int, str] = {}
        frame_ids = [ref for code, ref in zip(codes, refs, strict=True) if code < RowCode.EVENT]
        try:
            if frame_ids:
                for ref, kind, close_code, text in self._db.execute(
                    "SELECT id, message_type, close_code, text FROM frames WHERE id BETWEEN ? AND ?",
                    (min(frame_ids), max(frame_ids)),
                ):
                    if kind == "text" and text is not None:
                        frame_texts[ref] = text.lower()
                    elif kind == "close" and text is not None:
                        frame_texts[ref] = (describe_close(close_code, text) or text).lower()
        except sqlite3.DatabaseError as exc:  # while a filter runs: told by the next poll
            self.failure = describe_error(exc)
        lines = self._read(_LOG, [ref for code, ref in zip(codes, refs, strict=True) if code == RowCode.LOG])
        events = self._events
        return [
            frame_texts.get(ref, "")
            if code < RowCode.EVENT
            else events[ref][1].text.lower()
            if code == RowCode.EVENT
            else log_text(lines[ref]).lower()
            if ref in lines
            else ""
            for code, ref in zip(codes, refs, strict=True)
        ]


def _until(rows: list[Any], horizon: float) -> list[Any]:
    """The rows before the first one later than ``horizon`` (rows of one table, in its order)."""
    if not rows or max(map(itemgetter(0), rows)) <= horizon:  # the most common case, at C speed
        return rows
    for at, row in enumerate(rows):
        if row[0] > horizon:
            return rows[:at]
    return rows


def _being_written(path: Path) -> bool:
    """Whether a record holds the capture's lock (see database._lock), writing it now."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)  # and the shared lock with it
    return False


# -- the store's sequences: each item read from the database when asked for ------------------


class RowSequence(Sequence[Row]):
    """``rows`` of a capture database: each row read when asked for (the store keeps a page cache)."""

    def __init__(self, store: DatabaseStore) -> None:
        self._store = store

    def __len__(self) -> int:
        return len(self._store.refs)

    @overload
    def __getitem__(self, i: int) -> Row: ...
    @overload
    def __getitem__(self, i: slice) -> list[Row]: ...
    def __getitem__(self, i: int | slice) -> Row | list[Row]:
        size = len(self._store.refs)
        if isinstance(i, slice):
            start, stop, step = i.indices(size)
            rows = self._store.rows_between(start, max(start, stop))
            return rows if step == 1 else rows[::step]
        at = i + size if i < 0 else i
        if not 0 <= at < size:
            raise IndexError("row index out of range")
        return self._store.row(at)

    def __iter__(self) -> Iterator[Row]:
        store = self._store
        for start in range(0, len(store.refs), PAGE_ROWS):
            yield from store.rows_between(start, min(start + PAGE_ROWS, len(store.refs)))


class TextSequence(Sequence[str]):
    """``texts`` of a capture database: what a text search looks in, read a slice at a time."""

    def __init__(self, store: DatabaseStore) -> None:
        self._store = store

    def __len__(self) -> int:
        return len(self._store.refs)

    @overload
    def __getitem__(self, i: int) -> str: ...
    @overload
    def __getitem__(self, i: slice) -> list[str]: ...
    def __getitem__(self, i: int | slice) -> str | list[str]:
        size = len(self._store.refs)
        if isinstance(i, slice):
            start, stop, _ = i.indices(size)
            return self._store.search_texts(start, max(start, stop))
        at = i + size if i < 0 else i
        if not 0 <= at < size:
            raise IndexError("text index out of range")
        return self._store.search_texts(at, at + 1)[0]


class _ConnectionItems(Sequence[Any]):
    """A connection's frames (or log lines) in a capture database: their ids in memory, each read
    from the database when looked at."""

    _table = _FRAME
    _sql = "SELECT id FROM frames WHERE connection = ? AND id > ? ORDER BY id"

    def __init__(self, store: DatabaseStore, number: int) -> None:
        self._store = store
        self._number = number
        self.ids = array("q")
        self._seen = -1  # the store's rows when the ids were last brought up to date
        self._floor = 0  # ids at or below it were cleared (ctrl+l)

    def _update(self) -> array[int]:
        store = self._store
        version = store.rows_trimmed + len(store.refs)
        if version != self._seen:
            self._seen = version
            newest = self.ids[-1] if self.ids else self._floor
            try:
                self._extend(store._db.execute(self._sql, (self._number, newest)).fetchall())
            except sqlite3.DatabaseError as exc:  # while a panel draws: told by the next poll
                store.failure = describe_error(exc)
        return self.ids

    def _extend(self, found: list[tuple[Any, ...]]) -> None:
        self.ids.extend(map(itemgetter(0), found))

    def __len__(self) -> int:
        return len(self._update())

    def __getitem__(self, i: Any) -> Any:
        ids = self._update()
        if isinstance(i, slice):  # as sessions' write_session takes a connection's frames, a chunk at a time
            chunk = ids[i]
            if not chunk or i.step not in (None, 1):
                return [self[n] for n in range(len(ids))[i]]
            return self._store._read_span(self._table, self._number, chunk[0], chunk[-1])
        ref = ids[i]
        return self._store._read(self._table, [ref], self._number)[ref]

    def __iter__(self) -> Iterator[Any]:
        """Oldest first, a page at a time, read for one use (an export, a snapshot): none kept."""
        ids = self._update()
        for start in range(0, len(ids), PAGE_ROWS):
            yield from self[start : start + PAGE_ROWS]

    def __reversed__(self) -> Iterator[Any]:
        """Newest first, a page at a time, kept: a pairing knows the last frame it took by identity."""
        ids = self._update()
        for start in reversed(range(0, len(ids), PAGE_ROWS)):
            page = ids[start : start + PAGE_ROWS].tolist()
            found = self._store._read(self._table, page, self._number)
            yield from reversed([found[ref] for ref in page if ref in found])

    def forget(self) -> None:
        """A clear (ctrl+l): the items so far are no longer the connection's (they stay in the file)."""
        ids = self._update()
        self._floor = ids[-1] if ids else self._floor
        del self.ids[:]


class ConnectionFrames(_ConnectionItems):
    """A connection's frames; their times and handler times in memory too, for the lifecycle panel."""

    _sql = "SELECT id, timestamp, handler_time FROM frames WHERE connection = ? AND id > ? ORDER BY id"

    def __init__(self, store: DatabaseStore, number: int) -> None:
        super().__init__(store, number)
        self.times = array("d")
        self.handler_times: list[float] = []

    def _extend(self, found: list[tuple[Any, ...]]) -> None:
        super()._extend(found)
        self.times.extend(map(itemgetter(1), found))
        self.handler_times.extend(took for _, _, took in found if took is not None)

    def around(self, frame: Frame, reach: int = PAGE_ROWS) -> list[Frame]:
        """The connection's frames within ``reach`` of ``frame`` (before and after it, and it),
        or none when it is not one of them: where its ping or pong is, without reading them all."""
        ref = self._store.frame_id(frame)
        ids = self._update()
        at = bisect_left(ids, ref) if ref is not None else len(ids)
        if at == len(ids) or ids[at] != ref:
            return []
        near = ids[max(0, at - reach) : at + reach + 1].tolist()
        found = self._store._read(_FRAME, near, self._number)
        return [found[ref] for ref in near if ref in found]

    def timestamps(self) -> array[float]:
        self._update()
        return self.times

    def forget(self) -> None:
        super().forget()
        del self.times[:]
        self.handler_times.clear()


class ConnectionLogs(_ConnectionItems):
    """A connection's log lines; their levels in memory too, for the lifecycle panel."""

    _table = _LOG
    _sql = "SELECT id, level FROM logs WHERE connection = ? AND id > ? ORDER BY id"

    def __init__(self, store: DatabaseStore, number: int) -> None:
        super().__init__(store, number)
        self._levels: list[str] = []

    def _extend(self, found: list[tuple[Any, ...]]) -> None:
        super()._extend(found)
        self._levels.extend(map(itemgetter(1), found))

    def levels(self) -> list[str]:
        self._update()
        return self._levels

    def forget(self) -> None:
        super().forget()
        self._levels.clear()
