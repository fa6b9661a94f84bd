"""The inspector's session store: what every producer reported, merged per connection (sans-I/O)."""

from __future__ import annotations

import gc
import socket
import sys
from array import array
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from itertools import islice, repeat
from operator import itemgetter
from pathlib import Path
from typing import ClassVar, Final

import msgspec
from msgspec import UNSET

from ...model import (
    AppLoopBlock,
    Connection,
    Frame,
    Level,
    LogLine,
    Row,
    SystemEvent,
    describe_close,
)
from ...sessions import Progress, Written, write_session
from ...wire import (
    BINARY,
    CLOSE,
    DIRECTIONS,
    MESSAGE_TYPES,
    PING,
    PONG,
    SENT,
    ConnectionUpdate,
    FrameBatch,
    FramesDropped,
    Held,
    LoopLag,
    WireFrame,
    WireHandlerState,
    WireLog,
    WireLoopBlock,
    WireMessage,
    frame_code,
)
from .describe import describe_ending, log_text, loop_block_event
from .rows import FRAME_CODES, RowCode

__all__ = (
    "BaseStore",
    "ConnectionEntry",
    "Producer",
    "Store",
    "SystemEvent",
    "freeze_long_lived",
    "search_text",
)

# The retention bound's default (``--max-frames``): frames kept in the timeline. What each frame
# costs here beyond its payload is the benchmarks' ``memory`` section (BENCHMARKS.md); payloads cut
# by the app at ``max_message_size`` (10 KiB by default) bound the rest.
DEFAULT_MAX_FRAMES: Final = 1_000_000
# The codes of frame rows (the others: ◉ events, ≡ log lines), as bytes to delete from a slice of
# ``codes`` so that what is left counts the other rows, at C speed.
_FRAME_CODE_BYTES: Final = bytes(FRAME_CODES)

# A loaded row's code by its item's direction and type (an event has neither: see rows.RowCode).
_LOADED_CODES: Final[dict[tuple[str | None, str | None], int]] = {
    (direction, name): frame_code(direction, name) for name in MESSAGE_TYPES for direction in DIRECTIONS
}
_LOADED_CODES[(None, None)] = RowCode.EVENT
_LOADED_CODES[(None, LogLine.message_type)] = RowCode.LOG


LOCAL_HOST: Final = socket.gethostname()
# Writes a whole session to a file (path, exported_at, progress): see BaseStore.exporter.
Exporter = Callable[[Path, float, Progress | None], Written]
LAG_REPORTS_KEPT: Final = 8  # a producer's newest loop lag reports kept (see describe.loop_lag)
LOOP_BLOCKS_KEPT: Final = 100  # a connection's newest loop blocks kept, and the apps' own (as many again)


def _row_time(row: Row) -> float:
    return row[1].timestamp


@dataclass(frozen=True, slots=True)
class Producer:
    """One app process streaming to the inspector, over one link (a new link, a new key).

    ``since`` is when the link began (its hello arrived, Unix seconds), None when not known.
    """

    key: int
    pid: int
    app: str
    since: float | None = None
    host: str = ""  # the producer's host name ("" when its hello did not say)
    stream: str = ""  # the producer's stream, the same over its reconnects ("" when not known)

    @property
    def label(self) -> str:
        """How the inspector names it: "uvicorn (pid 4242)", "uvicorn on web-2 (pid 4242)" when it
        runs on another host than the inspector."""
        where = f" on {self.host}" if self.host and self.host != LOCAL_HOST else ""
        return f"{self.app}{where} (pid {self.pid})"


@dataclass(slots=True)
class ConnectionEntry:
    """A connection as the inspector holds it: metadata plus its newest frames."""

    connection: Connection
    frames: deque[Frame]
    number: int = 0  # the connection's number in Store.owners
    next_index: int = 0  # the index the next new frame should have; lower ones are repeats
    # The producer link (its key) the newest frame came over, repeats included; -1 before any.
    link: int = -1
    # Of ``connection.messages_not_kept``: the frames this inspector's own per-connection limit
    # (``Store.max_messages``) let go; the rest the app's replay buffer let go.
    evicted: int = 0
    # Frames numbered before the last ``Store.clear()``: cleared on purpose, so neither dropped,
    # not kept nor lost. ``len(frames) + messages_dropped + cleared == next_index`` while live.
    cleared: int = 0
    unanswered_ping: float | None = None  # when the server's oldest ping without a pong went out
    # Messages and bytes of the frames seen here. The connection shows the larger of these and the
    # counts its producer last reported, which also cover frames that never reached the inspector.
    seen_sent: int = 0
    seen_received: int = 0
    seen_bytes_sent: int = 0
    seen_bytes_received: int = 0
    # The handler's log lines, newest kept like frames, and the index the next new one should have.
    logs: deque[LogLine] = field(default_factory=deque)
    next_log: int = 0
    # The newest received message whose handler time is not known yet: it ends when the handler
    # next asks for a message (the next received frame's ``asked``) or a send completes.
    working_on: Frame | None = None
    origin: str = ""  # the stream of the producer that sent it (Producer.stream)

    def snapshot(self) -> Connection:
        return msgspec.structs.replace(self.connection, messages=list(self.frames), logs=list(self.logs))


@dataclass(slots=True)
class BaseStore:
    """What both stores hold: the connections, the columns the filters read, the counts, who
    listens, and what the screen reads of a connection (see :class:`~.interface.StoreView`).
    The live :class:`Store` takes what producers send; a capture database is read by
    :class:`~.database_store.DatabaseStore`."""

    # Rows a text search may take at a time, at most (the timeline's own step is smaller); a store
    # that reads its rows from disk takes fewer, so that a filter answers at once.
    search_step: ClassVar[int] = sys.maxsize
    # Whether the frames are in a file (a capture database): quitting or clearing loses none.
    kept_on_disk: ClassVar[bool] = False
    max_messages: int = 10_000
    max_frames: int = DEFAULT_MAX_FRAMES
    entries: dict[str, ConnectionEntry] = field(default_factory=dict)
    system_events: list[SystemEvent] = field(default_factory=list)
    codes: bytearray = field(default_factory=bytearray)
    owners: array[int] = field(default_factory=lambda: array("q"))
    rows_trimmed: int = 0
    frames_received: int = 0
    frames_let_go: int = 0  # frames the retention bound (max_frames) let go, oldest first
    frames_deleted: int = 0  # of an opened capture: frames record --max-bytes or --max-age deleted
    # None while live; for a saved session, the moment it was exported (Unix seconds; a browser's
    # HAR, which does not say, the latest moment it records): the file shows the connections as
    # they were then, so nothing in it is "now" (an open connection is "open at export").
    as_of: float | None = None
    # Of a capture database: another record writes it now (it is followed), and how much of its
    # rows are indexed (1.0: all there is).
    writing: bool = False
    read_fraction: float = 1.0
    # How late each producer's event loop ran: its key → its newest reports (each the worst and the
    # mean lag over a second, and when it came), for the status line.
    loop_lags: dict[int, deque[tuple[float, float, float]]] = field(default_factory=dict)
    # The loop blocks no connection's handler held, oldest first (a session's top-level ``loop_blocks``).
    app_loop_blocks: list[AppLoopBlock] = field(default_factory=list)
    listeners: list[Callable[[set[str]], None]] = field(default_factory=list)
    row_listeners: list[Callable[[int], None]] = field(default_factory=list)
    # Every producer link that sent anything, by its key, in order of arrival (a capture file keeps them).
    producers: dict[int, Producer] = field(default_factory=dict)
    # Connection id → its number in ``owners``; numbers are never given twice.
    _numbers: dict[str, int] = field(default_factory=dict)
    _next_number: int = 1
    # Closed connections a clear removed: a replay (after an overflow, or a producer's reconnect)
    # sends the app's recently closed connections again, and they must not come back.
    _cleared_ids: set[str] = field(default_factory=set)

    @property
    def owner_limit(self) -> int:
        """Every number in ``owners`` is below this."""
        return self._next_number

    def connection_number(self, connection_id: str) -> int:
        """The number of the connection's rows in ``owners``; a connection not seen yet gets the one
        its rows will carry when it comes."""
        number = self._numbers.get(connection_id)
        if number is None:
            number = self._numbers[connection_id] = self._next_number
            self._next_number += 1
        return number

    def connections(self) -> list[Connection]:
        """Snapshots of every connection, oldest first."""
        return sorted(
            (entry.snapshot() for entry in self.entries.values()), key=lambda connection: connection.connected_at
        )

    def clear(self) -> None:
        """Forget every frame and event, and the closed connections; the others stay, emptied.

        A connection not closed keeps its entry in ``entries`` (the same object, so its producer
        keys still find it): all its metadata (path, state, client, headers, observability...),
        its number, the counts its app reports and an unanswered ping. Its frames go, and its
        dropped, not-kept and lost counts start again from 0: the frames cleared on purpose are
        counted in ``entry.cleared`` only. A closed connection goes for good: a replay that sends
        it again does not bring it back.
        """
        for connection_id, entry in list(self.entries.items()):
            connection = entry.connection
            if connection.state == "closed":
                del self.entries[connection_id]
                self._cleared_ids.add(connection_id)
                continue
            self._clear_items(entry)
            entry.working_on = None
            entry.cleared = entry.next_index
            entry.evicted = 0
            connection.messages_dropped = connection.messages_not_kept = connection.messages_lost = 0
            connection.logs_dropped = 0
        entries = self.entries
        # The connections kept keep their numbers; the others' go (a new number if one comes back).
        self._numbers = {connection_id: entry.number for connection_id, entry in entries.items()}
        self.app_loop_blocks.clear()
        self._forget_rows()

    def _clear_items(self, entry: ConnectionEntry) -> None:
        entry.frames.clear()
        entry.logs.clear()

    def _forget_rows(self) -> None:
        raise NotImplementedError

    def _rows_gone(self, count: int) -> None:
        """The oldest ``count`` rows went: count them and tell whoever holds row positions."""
        self.rows_trimmed += count
        for listener in self.row_listeners:
            listener(count)

    # -- what the screen reads of a connection (see interface.StoreView) ---------------------

    def poll(self) -> int:
        """Take in what came since (a capture database being written); returns the rows added."""
        return 0

    def close(self) -> None:
        pass

    @property
    def reading(self) -> bool:
        """Whether rows are left to index (a capture database being read, or being written)."""
        return self.read_fraction < 1.0

    def frames_near(self, connection_id: str, frame: Frame) -> Sequence[Frame]:
        """The connection's frames around ``frame``, where its ping or pong is looked for."""
        return self.entries[connection_id].frames

    def newest_frames(self, connection_id: str) -> Iterator[Frame]:
        """The connection's frames, newest first."""
        return reversed(self.entries[connection_id].frames)

    def frame_times(self, connection_id: str) -> Sequence[float]:
        return [frame.timestamp for frame in self.entries[connection_id].frames]

    def handler_times(self, connection_id: str) -> Sequence[float]:
        """How long the handler worked on each received message that says, in order."""
        return [frame.handler_time for frame in self.entries[connection_id].frames if frame.handler_time is not UNSET]

    def log_levels(self, connection_id: str) -> Sequence[str]:
        return [line.level for line in self.entries[connection_id].logs]

    def snapshot(self, connection_id: str) -> Connection:
        """The connection with its frames and log lines, a copy."""
        return self.entries[connection_id].snapshot()

    def exporter(self) -> Exporter:
        """What writes the whole session to a file, to be called in the export's own thread: a live
        store's connections are copied now, as it goes on changing."""
        connections = self.connections()
        blocks = list(self.app_loop_blocks)

        def export(path: Path, exported_at: float, progress: Progress | None) -> Written:
            return write_session(path, connections, exported_at, progress=progress, loop_blocks=blocks)

        return export


@dataclass(slots=True)
class Store(BaseStore):
    """Keeps per connection up to ``max_messages`` frames and counts what it drops.

    A connection's ``messages_dropped`` (the frames of it the store does not hold) is split in
    two, ``messages_not_kept + messages_lost``. Each frame carries its number in the connection
    (``WireFrame.index``), so a gap in the numbers is frames that never arrived; the rule that says
    why (in ``_count_gap``):

    - lost (``messages_lost``): the gap follows a frame that came over the same producer link
      (the missing ones were recorded while this link was up, so the app queued them and its queue
      overflowed: FramesDropped, and the replay after it no longer held them); or the link has
      reported a FramesDropped already; or the connection opened after the link began
      (``Producer.since``), so every frame of it was recorded while the inspector listened.
    - not kept (``messages_not_kept``): any other gap, that is one before the connection's first
      frame over this link, on a link with no overflow yet, of a connection older than the link:
      the first replay after the producer's hello starts at the oldest frame the app's replay
      buffer (``max_messages``) still held, and the ones before it happened before this
      inspector (or this link) was listening. Also every frame the store's own per-connection
      limit lets go (counted in ``ConnectionEntry.evicted`` too).

    One case is filed as not kept although lost: a connection older than the link with no frame
    before it, whose first frames overflow the queue and whose next frame arrives before the
    FramesDropped that reports them (or with ``since`` unknown, a new connection in that case).

    ``rows`` holds every frame, lifecycle event and log line in arrival order, up to ``max_frames``
    frames (the retention bound, ``--max-frames``): when they overflow the oldest rows go, up to
    and with the oldest tenth of the frames (the frames leave their connections too, counted as
    not kept and in ``frames_let_go``; the events and log lines among them go with them), and
    ``rows_trimmed`` counts the rows gone. The other rows do not count against the bound, so that
    N frames keep N frames whatever their connections' lifecycles; they have a bound of their own,
    as many again (``max_frames`` of them), or connections that come and go without a frame, or a
    handler that logs without sending, would grow the timeline without end. Past it the oldest
    rows go the same way, frames among them too: the rows leave the timeline oldest first only
    (the screen holds positions that a trim moves down), so nothing else could go.

    Three columns run parallel to ``rows``, one item per row, for the filters to read without
    touching the rows: ``codes`` (see ``rows.RowCode``), ``owners``, the number of the row's
    connection (``connection_number``; 0 for the inspector's own events), every one below
    ``owner_limit``, and ``texts``, what a text search looks in (``search_text``).
    ``listeners`` are called after each applied batch with the ids of connections that changed,
    so a UI can refresh at its own pace. ``row_listeners`` are called at once, whenever the oldest
    rows go (a trim, or every row: a clear), with how many went: whoever holds row positions (the
    timeline) moves them down before anything reads a row again, as the UI's refresh may come later.
    """

    rows: list[Row] = field(default_factory=list)
    texts: list[str] = field(default_factory=list)
    # Of ``rows``, the ones not frames (events and log lines): the frames are the rest.
    _other_rows: int = 0
    # Each producer names its connections by small keys: (producer key, connection key) → entry.
    _by_key: dict[tuple[int, int], ConnectionEntry] = field(default_factory=dict)
    # FramesDropped messages seen per producer link (its key): what tells lost from not kept.
    _overflows: dict[int, int] = field(default_factory=dict)

    def add_system_event(self, timestamp: float, text: str, level: Level = "info") -> None:
        event = SystemEvent(timestamp, level, text)
        self.system_events.append(event)
        self.rows.append((None, event))
        self.codes.append(RowCode.EVENT)
        self.owners.append(0)
        self.texts.append(text.lower())
        self._other_rows += 1

    def apply(self, producer: Producer, messages: list[WireMessage], now: float) -> None:
        changed: set[str] = set()
        if producer.key not in self.producers:
            self.producers[producer.key] = producer
        for message in messages:
            if type(message) is FrameBatch:
                self._frames(producer, message.frames, changed)
            elif isinstance(message, ConnectionUpdate):
                self._update(producer, message.key, message.connection, now)
                changed.add(message.connection.connection_id)
            elif isinstance(message, WireLog):
                self._log(producer, message, changed)
            elif isinstance(message, LoopLag):
                reports = self.loop_lags.setdefault(producer.key, deque(maxlen=LAG_REPORTS_KEPT))
                reports.append((message.worst, message.mean, now))
            elif isinstance(message, WireHandlerState):
                self._handler_state(producer, message, changed)
            elif isinstance(message, WireLoopBlock):
                self._loop_block(producer, message, changed)
            elif isinstance(message, Held):
                self._release(producer, message.keys, now, changed)
            elif isinstance(message, FramesDropped):
                self._overflows[producer.key] = self._overflows.get(producer.key, 0) + 1
                self.add_system_event(
                    now,
                    f"{producer.label}: {message.count:,} frames dropped in transit (its queue overflowed)",
                    "warning",
                )
        limit = self.max_frames
        others = self._other_rows
        frames = len(self.rows) - others
        if frames > limit or others > limit:  # the oldest tenth goes, of whichever overflowed
            slack = limit // 10
            self._trim(self._cut_for(max(0, frames - limit + slack), max(0, others - limit + slack)))
        if changed:
            for listener in self.listeners:
                listener(changed)

    def load(
        self,
        connections: list[Connection],
        exported_at: float | None = None,
        loop_blocks: Sequence[AppLoopBlock] = (),
    ) -> None:
        """Hold the connections of a saved session, their timeline rebuilt in time order, and the
        loop blocks no handler held (the file's top-level ones).

        ``exported_at`` (the file's) becomes ``as_of``. Whatever the store held before goes.
        """
        self._forget_rows()
        self.entries.clear()
        self._by_key.clear()
        self._numbers.clear()
        self._cleared_ids.clear()
        self.as_of = exported_at
        rows: list[Row] = []
        for connection in connections:
            connection_id, frames = connection.connection_id, connection.messages
            entry = ConnectionEntry(
                msgspec.structs.replace(connection, messages=[], logs=[]),
                deque(frames, maxlen=self.max_messages),
                self.connection_number(connection_id),
                logs=deque(connection.logs, maxlen=self.max_messages),
            )
            entry.next_index = connection.messages_dropped + len(frames)
            entry.next_log = connection.logs_dropped + len(connection.logs)
            self.entries[connection_id] = entry
            # Connect and accept before the frames, the ending after them, as live: a close frame
            # and the "closed by" row often share their time, and the sort below keeps this order.
            events = lifecycle_events(None, connection)
            opening = 1 + (connection.accepted_at is not None)
            rows.extend(zip(repeat(connection_id), events[:opening]))
            rows.extend(zip(repeat(connection_id), frames))
            rows.extend(zip(repeat(connection_id), connection.logs))
            rows.extend(zip(repeat(connection_id), events[opening:]))
            self.frames_received += len(frames)
        self.app_loop_blocks = list(loop_blocks)
        for block in self.app_loop_blocks:
            event = _app_block_event(block)
            self.system_events.append(event)
            rows.append((None, event))
        rows.sort(key=_row_time)
        self.rows = rows
        # The columns without a call per row: an event has no direction or type (None, None).
        items = list(map(itemgetter(1), rows))
        pairs = zip(
            map(getattr, items, repeat("direction"), repeat(None)),
            map(getattr, items, repeat("message_type"), repeat(None)),
            strict=True,
        )
        self.codes = bytearray(map(_LOADED_CODES.__getitem__, pairs))
        self.owners = array("q", map(self._numbers.get, map(itemgetter(0), rows), repeat(0)))  # 0: the app's rows
        self.texts = list(map(search_text, items))
        self._other_rows = len(self.codes.translate(None, _FRAME_CODE_BYTES))
        # The newest frames, as live (and the newest other rows); the status says how many went.
        limit, others = self.max_frames, self._other_rows
        framed = len(rows) - others
        if framed > limit or others > limit:
            self._trim(self._cut_for(max(0, framed - limit), max(0, others - limit)))

    def clear(self) -> None:
        super(Store, self).clear()  # (a slots dataclass: super() needs its arguments)
        entries = self.entries
        self._by_key = {
            key: entry for key, entry in self._by_key.items() if entries.get(entry.connection.connection_id) is entry
        }

    def _forget_rows(self) -> None:
        self.system_events.clear()
        gone = len(self.rows)
        self.rows.clear()
        self.codes.clear()
        del self.owners[:]
        self.texts.clear()
        self._other_rows = 0
        self.frames_received = 0
        self.frames_let_go = 0
        self._rows_gone(gone)

    def _cut_for(self, frames: int, others: int) -> int:
        """How many of the oldest rows hold ``frames`` frames and ``others`` other rows, at least:
        the fewest that do. Each row is counted once, in C (a slice of ``codes``, its frame codes
        deleted), so a trim stays linear in what it cuts."""
        codes = self.codes
        cut = 0
        while frames > 0 or others > 0:
            chunk = codes[cut : cut + max(frames, others)]
            if not chunk:
                break
            other = len(chunk.translate(None, _FRAME_CODE_BYTES))
            others -= other
            frames -= len(chunk) - other
            cut += len(chunk)
        return cut

    def _trim(self, cut: int) -> None:
        """Let the oldest ``cut`` rows go, and their frames leave their connections too."""
        entries = self.entries
        let_go = 0
        for connection_id, item in islice(self.rows, cut):
            if connection_id is None or type(item) is SystemEvent:
                continue
            entry = entries.get(connection_id)
            if type(item) is LogLine:  # it leaves its connection too, counted with the lines dropped
                if entry is not None and entry.logs and entry.logs[0] is item:
                    entry.logs.popleft()
                    entry.connection.logs_dropped += 1
                continue
            let_go += 1
            # Rows and a connection's frames are both oldest first: its oldest is this one, unless
            # the connection's own limit (max_messages) let it go already.
            if entry is not None and entry.frames and entry.frames[0] is item:
                entry.frames.popleft()
                connection = entry.connection
                connection.messages_dropped += 1
                connection.messages_not_kept += 1
                entry.evicted += 1
        self.frames_let_go += let_go
        self._other_rows -= len(self.codes[:cut].translate(None, _FRAME_CODE_BYTES))
        del self.rows[:cut]
        del self.codes[:cut]
        del self.owners[:cut]
        del self.texts[:cut]
        self._rows_gone(cut)

    def _update(self, producer: Producer, key: int, update: Connection, now: float) -> None:
        connection_id = update.connection_id
        entry = self.entries.get(connection_id)
        if entry is None:
            if connection_id in self._cleared_ids:
                self._by_key.pop((producer.key, key), None)  # its frames are not news either
                return
            entry = ConnectionEntry(
                update,
                deque(maxlen=self.max_messages),
                self.connection_number(connection_id),
                logs=deque(maxlen=self.max_messages),
            )
            self.entries[connection_id] = entry
            before = None
        else:
            before = entry.connection
        self._by_key[(producer.key, key)] = entry
        entry.origin = producer.stream
        self._add_events(connection_id, entry, lifecycle_events(before, update, now))
        held = entry.connection
        # Counts only grow; an update queued before a replay may carry older ones.
        entry.connection = msgspec.structs.replace(
            update,
            messages=[],
            logs=[],
            messages_sent=max(held.messages_sent, update.messages_sent, entry.seen_sent),
            messages_received=max(held.messages_received, update.messages_received, entry.seen_received),
            bytes_sent=max(held.bytes_sent, update.bytes_sent, entry.seen_bytes_sent),
            bytes_received=max(held.bytes_received, update.bytes_received, entry.seen_bytes_received),
            # Counted here (from gaps and evictions), never taken from the app.
            messages_dropped=held.messages_dropped if before is not None else 0,
            messages_not_kept=held.messages_not_kept if before is not None else 0,
            messages_lost=held.messages_lost if before is not None else 0,
            logs_dropped=held.logs_dropped if before is not None else 0,
            # Told by messages of their own (an update carries neither); the handler ends with the connection.
            handler_state=held.handler_state if before is not None and update.state != "closed" else None,
            loop_blocks=held.loop_blocks if before is not None else [],
            pid=producer.pid,
            app=producer.app,
            host=producer.host or None,
        )

    def _add_events(self, connection_id: str, entry: ConnectionEntry, events: list[SystemEvent]) -> None:
        if events:
            self.rows.extend((connection_id, event) for event in events)
            self.codes.extend(bytes((RowCode.EVENT,)) * len(events))
            self.owners.extend(array("q", (entry.number,)) * len(events))
            self.texts.extend(event.text.lower() for event in events)
            self._other_rows += len(events)

    def _release(self, producer: Producer, keys: list[int], now: float, changed: set[str]) -> None:
        """The producer holds only the connections ``keys``: any other of its connections still
        open here ended while frames were lost (their closes went with them), so close them."""
        if not producer.stream:
            return  # a producer that cannot say which connections are its own
        held = {id(self._by_key.get((producer.key, key))) for key in keys}
        for connection_id, entry in self.entries.items():
            before = entry.connection
            if entry.origin != producer.stream or before.state == "closed" or id(entry) in held:
                continue
            entry.connection = msgspec.structs.replace(
                before, state="closed", disconnected_at=now, end_lost=True, handler_state=None
            )
            self._add_events(connection_id, entry, lifecycle_events(before, entry.connection, now))
            changed.add(connection_id)

    def _frames(self, producer: Producer, frames: list[WireFrame], changed: set[str]) -> None:
        # This runs for every frame: locals, and no work for what did not change.
        by_key = self._by_key
        producer_key = producer.key
        append_row = self.rows.append
        append_code = self.codes.append
        append_owner = self.owners.append
        append_text = self.texts.append
        last_key = -1
        entry: ConnectionEntry | None = None
        connection_id = ""
        number = 0
        added = 0
        linked = False  # whether the entry had a frame over this link before the one at hand
        for wire in frames:
            key = wire.key
            if key != last_key:
                last_key = key
                entry = by_key.get((producer_key, key))
                if entry is None:
                    continue
                connection_id = entry.connection.connection_id
                number = entry.number
                linked = entry.link == producer_key
                entry.link = producer_key
                changed.add(connection_id)
            if entry is None:
                continue  # its metadata was lost with an overflow: the replay that follows brings both
            index = wire.index
            expected = entry.next_index
            connection = entry.connection
            if index != expected:
                if index < expected:
                    linked = True
                    continue  # already have it (sent again by a replay)
                # Frames the app's buffer or its queue let go leave a gap in the numbering.
                self._count_gap(entry, producer, index - expected, linked)
            linked = True
            entry.next_index = index + 1
            frame = wire.to_frame()
            held = entry.frames
            if len(held) == held.maxlen:  # the oldest goes: not kept, by this inspector's limit
                connection.messages_dropped += 1
                connection.messages_not_kept += 1
                entry.evicted += 1
            held.append(frame)
            code = wire.code
            append_row((connection_id, frame))
            append_code(code)
            append_owner(number)
            if code < BINARY:  # text: its lowered form only when it differs (no copy of most JSON)
                content = wire.content
                lowered = content.lower() if type(content) is str else ""
                append_text(content if lowered == content else lowered)
            else:
                append_text(search_text(frame) if code >= CLOSE else "")
            added += 1
            if code < PING:  # text or binary: count it, and time the handler's work on messages
                size = wire.size_bytes
                working_on = entry.working_on
                if code & SENT:
                    if working_on is not None:  # its first send since the message came
                        working_on.handler_time = max(0.0, wire.timestamp - working_on.timestamp)
                        entry.working_on = None
                    entry.seen_sent += 1
                    entry.seen_bytes_sent += size
                    if entry.seen_sent > connection.messages_sent:
                        connection.messages_sent = entry.seen_sent
                    if entry.seen_bytes_sent > connection.bytes_sent:
                        connection.bytes_sent = entry.seen_bytes_sent
                else:
                    asked = wire.asked
                    if working_on is not None and asked is not None:
                        working_on.handler_time = max(0.0, asked - working_on.timestamp)
                    entry.working_on = frame if asked is not None else None
                    entry.seen_received += 1
                    entry.seen_bytes_received += size
                    if entry.seen_received > connection.messages_received:
                        connection.messages_received = entry.seen_received
                    if entry.seen_bytes_received > connection.bytes_received:
                        connection.bytes_received = entry.seen_bytes_received
            elif code == CLOSE + SENT:
                working_on = entry.working_on
                if working_on is not None:  # the app's close ends its work on the message too
                    working_on.handler_time = max(0.0, wire.timestamp - working_on.timestamp)
                    entry.working_on = None
            elif code == PING + SENT:
                if entry.unanswered_ping is None:
                    entry.unanswered_ping = wire.timestamp
            elif code == PONG:  # a pong the client sent
                entry.unanswered_ping = None
        self.frames_received += added

    def _log(self, producer: Producer, wire: WireLog, changed: set[str]) -> None:
        entry = self._by_key.get((producer.key, wire.key))
        if entry is None or wire.index < entry.next_log:
            return  # of a connection not known (yet), or a repeat sent by a replay
        connection = entry.connection
        connection.logs_dropped += wire.index - entry.next_log
        entry.next_log = wire.index + 1
        line = wire.to_line()
        if len(entry.logs) == entry.logs.maxlen:
            connection.logs_dropped += 1
        entry.logs.append(line)
        self.rows.append((connection.connection_id, line))
        self.codes.append(RowCode.LOG)
        self.owners.append(entry.number)
        self.texts.append(search_text(line))
        self._other_rows += 1
        changed.add(connection.connection_id)

    def _handler_state(self, producer: Producer, message: WireHandlerState, changed: set[str]) -> None:
        entry = self._by_key.get((producer.key, message.key))
        if entry is None or entry.connection.state == "closed":
            return  # not known (yet), or over: what its handler did no longer matters
        entry.connection.handler_state = message.state
        changed.add(entry.connection.connection_id)

    def _loop_block(self, producer: Producer, message: WireLoopBlock, changed: set[str]) -> None:
        """A loop block: a ◉ row of its connection, or of the app; a replay's repeats are dropped."""
        block = message.block
        if message.key is None:
            if any(
                held.timestamp == block.timestamp and held.pid == producer.pid for held in self.app_loop_blocks[-100:]
            ):
                return
            app = AppLoopBlock(
                timestamp=block.timestamp,
                duration=block.duration,
                stack=block.stack,
                app=producer.app,
                pid=producer.pid,
            )
            self.app_loop_blocks.append(app)
            del self.app_loop_blocks[:-LOOP_BLOCKS_KEPT]
            event = _app_block_event(app, producer.label)
            self.system_events.append(event)
            self.rows.append((None, event))
            self.codes.append(RowCode.EVENT)
            self.owners.append(0)
            self.texts.append(event.text.lower())
            self._other_rows += 1
            return
        entry = self._by_key.get((producer.key, message.key))
        if entry is None:
            return  # of a connection not known (yet): the replay that brings it brings its blocks
        connection = entry.connection
        if any(held.timestamp == block.timestamp for held in connection.loop_blocks):
            return
        connection.loop_blocks = [*connection.loop_blocks[-LOOP_BLOCKS_KEPT + 1 :], block]
        self._add_events(connection.connection_id, entry, [loop_block_event(block)])
        changed.add(connection.connection_id)

    def _count_gap(self, entry: ConnectionEntry, producer: Producer, missing: int, linked: bool) -> None:
        """Count ``missing`` frames of a gap as lost or not kept (the rule is in the class docstring)."""
        connection = entry.connection
        connection.messages_dropped += missing
        since = producer.since
        if linked or self._overflows.get(producer.key) or (since is not None and connection.connected_at >= since):
            connection.messages_lost += missing
        else:
            connection.messages_not_kept += missing


def freeze_long_lived() -> None:
    """Leave what exists now out of every later full garbage collection (``gc.freeze``): the
    modules and classes loaded (Textual's and Rich's are many) and a new store live until the
    process ends, and walking them made each full collection of a busy inspector hold the screen
    for some 50 ms (20 ms with them left out). Called by the commands, once all is loaded."""
    gc.freeze()


def search_text(item: Frame | SystemEvent | LogLine) -> str:
    """What a text search looks in for a row, lowered: a text frame's text, a close's code, name
    and reason, an event's line, a log line's logger, message and error; "" for binary, ping and
    pong (searched as bytes instead)."""
    if isinstance(item, SystemEvent):
        return item.text.lower()
    if isinstance(item, LogLine):
        return log_text(item).lower()
    kind = item.message_type
    if kind == "text":
        return item.content.lower() if isinstance(item.content, str) else ""
    if kind == "close" and isinstance(item.content, str):
        return (describe_close(item.close_code, item.content) or item.content).lower()
    return ""


def _app_block_event(block: AppLoopBlock, label: str = "") -> SystemEvent:
    """The ◉ row of a loop block no handler held, named after its app ("uvicorn (pid 4242)")."""
    label = label or (f"{block.app} (pid {block.pid})" if block.pid is not None else block.app)
    return loop_block_event(block, f"{label}: " if label else "")


def lifecycle_events(before: Connection | None, after: Connection, now: float | None = None) -> list[SystemEvent]:
    """The ◉ rows for what changed from ``before`` (None: not seen yet) to ``after``, seen at ``now``:
    its connect, accept, error and end, and the loop blocks its handler held (those new in ``after``)."""
    events: list[SystemEvent] = []
    if before is None:
        query = f"?{after.query_string}" if after.query_string else ""
        client = f" from {after.client}" if after.client else ""
        events.append(SystemEvent(after.connected_at, "info", f"connect {after.path}{query}{client}"))
    if after.accepted_at is not None and (before is None or before.accepted_at is None):
        protocol = f" (subprotocol {after.subprotocol})" if after.subprotocol else ""
        events.append(SystemEvent(after.accepted_at, "info", f"accepted{protocol}"))
    ended_at = after.disconnected_at or now or after.connected_at
    if after.error and (before is None or not before.error):
        what = f"refused by {after.refused_by}" if after.refused_by else "handler error"
        events.append(SystemEvent(ended_at, "error", f"{what}: {after.error}"))
    if after.state == "closed" and (before is None or before.state != "closed"):
        level: Level = "error" if after.denial_status else "warning" if after.end_lost else "info"
        events.append(SystemEvent(ended_at, level, describe_ending(after)))
    known = {block.timestamp for block in before.loop_blocks} if before is not None else set()
    events.extend(loop_block_event(block) for block in after.loop_blocks if block.timestamp not in known)
    return events
