"""The inspector's session store: what every producer reported, merged per connection (sans-I/O)."""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

import msgspec

from .model import Connection, Frame
from .wire import ConnectionUpdate, FrameAdded, FramesDropped, WireMessage

__all__ = ("ConnectionEntry", "Producer", "SessionStore", "SystemEvent")

Level = Literal["info", "warning", "error"]


@dataclass(frozen=True, slots=True)
class Producer:
    """One app process streaming to the inspector."""

    key: int
    pid: int
    app: str


@dataclass(frozen=True, slots=True)
class SystemEvent:
    """Something about the inspector or a producer rather than one connection (◉ rows)."""

    timestamp: float
    level: Level
    text: str


@dataclass(slots=True)
class ConnectionEntry:
    """A connection as the inspector holds it: metadata plus its newest frames."""

    connection: Connection
    frames: deque[Frame]
    next_index: int = 0  # the index the next new frame should have; lower ones are repeats

    def snapshot(self) -> Connection:
        return msgspec.structs.replace(self.connection, messages=list(self.frames))


@dataclass(slots=True)
class SessionStore:
    """Keeps per connection up to ``max_messages`` frames and counts what it drops.

    ``listeners`` are called after each applied batch with the ids of connections that changed,
    so a UI can refresh at its own pace.
    """

    max_messages: int = 10_000
    entries: dict[str, ConnectionEntry] = field(default_factory=dict)
    system_events: list[SystemEvent] = field(default_factory=list)
    frames_received: int = 0
    listeners: list[Callable[[set[str]], None]] = field(default_factory=list)

    def add_system_event(self, timestamp: float, text: str, level: Level = "info") -> None:
        self.system_events.append(SystemEvent(timestamp, level, text))

    def apply(self, producer: Producer, messages: list[WireMessage], now: float) -> None:
        changed: set[str] = set()
        for message in messages:
            if isinstance(message, FrameAdded):
                self._frame(producer, message)
                changed.add(message.connection_id)
            elif isinstance(message, ConnectionUpdate):
                self._update(producer, message.connection)
                changed.add(message.connection.connection_id)
            elif isinstance(message, FramesDropped):
                self.add_system_event(
                    now, f"{producer.app} (pid {producer.pid}): {message.count} frames dropped", "warning"
                )
        if changed:
            for listener in self.listeners:
                listener(changed)

    def connections(self) -> list[Connection]:
        """Snapshots of every connection, oldest first."""
        return sorted(
            (entry.snapshot() for entry in self.entries.values()), key=lambda connection: connection.connected_at
        )

    def clear(self) -> None:
        self.entries.clear()
        self.system_events.clear()
        self.frames_received = 0

    def _entry(self, producer: Producer, connection_id: str, connected_at: float) -> ConnectionEntry:
        entry = self.entries.get(connection_id)
        if entry is None:
            # A frame may come before its connection's metadata (a connection that ended while
            # the producer was replaying); the metadata fills in when it arrives.
            connection = Connection(
                connection_id=connection_id,
                path="",
                connected_at=connected_at,
                pid=producer.pid,
                app=producer.app,
            )
            entry = self.entries[connection_id] = ConnectionEntry(connection, deque(maxlen=self.max_messages))
        return entry

    def _update(self, producer: Producer, update: Connection) -> None:
        entry = self._entry(producer, update.connection_id, update.connected_at)
        held = entry.connection
        # Counts only grow; an update queued before a replay may carry older ones.
        entry.connection = msgspec.structs.replace(
            update,
            messages=[],
            messages_sent=max(held.messages_sent, update.messages_sent),
            messages_received=max(held.messages_received, update.messages_received),
            bytes_sent=max(held.bytes_sent, update.bytes_sent),
            bytes_received=max(held.bytes_received, update.bytes_received),
            messages_dropped=held.messages_dropped,  # counted here, from gaps and evictions
            pid=producer.pid,
            app=producer.app,
        )

    def _frame(self, producer: Producer, message: FrameAdded) -> None:
        entry = self.entries.get(message.connection_id) or self._entry(
            producer, message.connection_id, message.frame.timestamp
        )
        if message.index < entry.next_index:
            return  # already have it (sent again by a replay)
        connection = entry.connection
        # Frames the app's buffer or its queue lost show up as a gap in the numbering.
        connection.messages_dropped += message.index - entry.next_index
        entry.next_index = message.index + 1
        if len(entry.frames) == entry.frames.maxlen:
            connection.messages_dropped += 1
        entry.frames.append(message.frame)
        self.frames_received += 1
        # Counts only grow (comparisons rather than max(): this runs for every frame).
        if message.messages_sent > connection.messages_sent:
            connection.messages_sent = message.messages_sent
        if message.messages_received > connection.messages_received:
            connection.messages_received = message.messages_received
        if message.bytes_sent > connection.bytes_sent:
            connection.bytes_sent = message.bytes_sent
        if message.bytes_received > connection.bytes_received:
            connection.bytes_received = message.bytes_received
