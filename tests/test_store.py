"""The inspector's Store, driven directly (sans-I/O) with wire messages."""

from __future__ import annotations

from typing import Any

import pytest

from wsinspect.inspector.store import Producer, Store
from wsinspect.model import Connection, Frame
from wsinspect.wire import PROTOCOL_VERSION, ConnectionUpdate, FrameAdded, FramesDropped, Hello

APP = Producer(key=1, pid=1001, app="chat-app")
OTHER = Producer(key=2, pid=2002, app="game-app")
NOW = 1764350000.0


def conn(connection_id: str = "c1", **kw: Any) -> ConnectionUpdate:
    fields: dict[str, Any] = {"path": "/ws/chat", "connected_at": 100.0, "state": "open", "accepted_at": 100.5}
    fields.update(kw)
    return ConnectionUpdate(connection=Connection(connection_id=connection_id, **fields))


def added(
    index: int,
    connection_id: str = "c1",
    *,
    direction: str = "sent",
    content: str | None = None,
    counts: tuple[int, int, int, int] | None = None,
    timestamp: float | None = None,
) -> FrameAdded:
    text = content if content is not None else f"m{index}"
    sent, received, bytes_sent, bytes_received = counts if counts is not None else (index + 1, 0, 2 * (index + 1), 0)
    return FrameAdded(
        connection_id=connection_id,
        index=index,
        frame=Frame(
            direction=direction,  # type: ignore[arg-type]
            message_type="text",
            content=text,
            timestamp=timestamp if timestamp is not None else 200.0 + index,
            size_bytes=len(text.encode()),
        ),
        messages_sent=sent,
        messages_received=received,
        bytes_sent=bytes_sent,
        bytes_received=bytes_received,
    )


def contents(store: Store, connection_id: str = "c1") -> list[Any]:
    return [frame.content for frame in store.entries[connection_id].frames]


def snapshot(store: Store, connection_id: str = "c1") -> Connection:
    (found,) = [c for c in store.connections() if c.connection_id == connection_id]
    return found


def test_frames_are_appended_in_order_with_counts_from_frame_added() -> None:
    store = Store()
    store.apply(APP, [conn(), added(0), added(1, direction="received", counts=(1, 1, 2, 5)), added(2)], NOW)
    connection = snapshot(store)
    assert [f.content for f in connection.messages] == ["m0", "m1", "m2"]
    assert [f.direction for f in connection.messages] == ["sent", "received", "sent"]
    # The counts are the producer's, taken from the newest FrameAdded, not counted by the store.
    assert (connection.messages_sent, connection.bytes_sent) == (3, 6)
    assert (connection.messages_received, connection.bytes_received) == (1, 5)
    assert connection.messages_dropped == 0
    assert store.frames_received == 3


def test_counts_come_from_the_producer_even_when_frames_were_not_sent() -> None:
    store = Store()
    store.apply(APP, [conn(), added(0, counts=(40, 7, 4000, 70))], NOW)
    connection = snapshot(store)
    assert (connection.messages_sent, connection.messages_received) == (40, 7)
    assert (connection.bytes_sent, connection.bytes_received) == (4000, 70)


def test_connection_update_sets_metadata_and_producer_identity() -> None:
    store = Store()
    update = conn(
        state="closed",
        query_string="room=1",
        subprotocol="chat.v1",
        disconnected_at=105.0,
        close_code=4001,
        close_reason="bye",
        closed_by="server",
        headers=[("host", "localhost")],
        pid=999,  # whatever the producer says, the store tags the connection with the hello's pid/app
        app="spoofed",
    )
    store.apply(APP, [update], NOW)
    connection = snapshot(store)
    assert connection.path == "/ws/chat"
    assert connection.query_string == "room=1"
    assert connection.subprotocol == "chat.v1"
    assert connection.state == "closed"
    assert (connection.close_code, connection.close_reason, connection.closed_by) == (4001, "bye", "server")
    assert connection.disconnected_at == 105.0
    assert connection.headers == [("host", "localhost")]
    assert (connection.pid, connection.app) == (APP.pid, APP.app)
    assert connection.messages == []


def test_later_update_changes_state_and_keeps_frames() -> None:
    store = Store()
    store.apply(APP, [conn(state="open"), added(0), added(1)], NOW)
    store.apply(APP, [conn(state="closed", close_code=1000, messages_sent=2, bytes_sent=4)], NOW)
    connection = snapshot(store)
    assert connection.state == "closed"
    assert connection.close_code == 1000
    assert contents(store) == ["m0", "m1"]


def test_repeated_frame_from_a_replay_is_ignored() -> None:
    store = Store()
    store.apply(APP, [conn(), added(0), added(1), added(2)], NOW)
    # The producer reconnects and replays its buffer: indexes 1 and 2 again, then a new one.
    store.apply(APP, [conn(), added(1, content="again"), added(2, content="again"), added(3)], NOW)
    assert contents(store) == ["m0", "m1", "m2", "m3"]
    assert store.frames_received == 4
    assert snapshot(store).messages_dropped == 0


def test_gap_in_indexes_counts_as_dropped() -> None:
    store = Store()
    store.apply(APP, [conn(), added(0), added(1), added(5), added(6), added(9)], NOW)
    assert contents(store) == ["m0", "m1", "m5", "m6", "m9"]
    assert snapshot(store).messages_dropped == 3 + 2


def test_first_frame_not_at_zero_counts_the_missing_ones() -> None:
    # The app's replay buffer had already dropped the oldest four.
    store = Store()
    store.apply(APP, [conn(), added(4)], NOW)
    assert snapshot(store).messages_dropped == 4


def test_max_messages_evicts_oldest_and_counts_them_as_dropped() -> None:
    store = Store(max_messages=3)
    store.apply(APP, [conn(), *(added(i) for i in range(5))], NOW)
    assert contents(store) == ["m2", "m3", "m4"]
    assert snapshot(store).messages_dropped == 2
    store.apply(APP, [added(6)], NOW)  # one more eviction plus a gap of one
    assert contents(store) == ["m3", "m4", "m6"]
    assert snapshot(store).messages_dropped == 2 + 1 + 1
    assert store.frames_received == 6


def test_update_does_not_reset_dropped_counted_by_the_store() -> None:
    store = Store(max_messages=2)
    store.apply(APP, [conn(), added(0), added(1), added(2), added(7)], NOW)
    dropped = snapshot(store).messages_dropped
    assert dropped == 1 + 4 + 1
    store.apply(APP, [conn(messages_dropped=0)], NOW)
    assert snapshot(store).messages_dropped == dropped


def test_counts_never_go_backwards_when_an_older_update_arrives_late() -> None:
    store = Store()
    store.apply(APP, [conn(), added(0), added(1, counts=(2, 3, 20, 30))], NOW)
    # An update queued before the replay carries older (smaller) counts.
    stale = conn(messages_sent=1, messages_received=1, bytes_sent=5, bytes_received=6, state="closed")
    store.apply(APP, [stale], NOW)
    connection = snapshot(store)
    assert (connection.messages_sent, connection.messages_received) == (2, 3)
    assert (connection.bytes_sent, connection.bytes_received) == (20, 30)
    assert connection.state == "closed"  # the rest of the update still applies
    # And a newer update with bigger counts raises them.
    store.apply(APP, [conn(messages_sent=9, messages_received=8, bytes_sent=90, bytes_received=80)], NOW)
    connection = snapshot(store)
    assert (connection.messages_sent, connection.messages_received) == (9, 8)
    assert (connection.bytes_sent, connection.bytes_received) == (90, 80)
    # And a replayed frame with old counts does not lower them either.
    store.apply(APP, [added(2, counts=(1, 1, 1, 1))], NOW)
    connection = snapshot(store)
    assert (connection.messages_sent, connection.messages_received) == (9, 8)
    assert (connection.bytes_sent, connection.bytes_received) == (90, 80)


def test_frame_before_its_connection_creates_an_entry_the_update_fills() -> None:
    store = Store()
    store.apply(APP, [added(0, timestamp=300.0), added(1, timestamp=301.0)], NOW)
    early = snapshot(store)
    assert early.path == ""
    assert early.connected_at == 300.0
    assert (early.pid, early.app) == (APP.pid, APP.app)
    assert [f.content for f in early.messages] == ["m0", "m1"]

    store.apply(
        APP, [conn(path="/ws/late", query_string="a=b", connected_at=299.0, state="closed", close_code=1001)], NOW
    )
    filled = snapshot(store)
    assert filled.path == "/ws/late"
    assert filled.query_string == "a=b"
    assert filled.connected_at == 299.0
    assert filled.state == "closed"
    assert filled.close_code == 1001
    assert (filled.pid, filled.app) == (APP.pid, APP.app)
    assert [f.content for f in filled.messages] == ["m0", "m1"]
    assert filled.messages_sent == 2  # from the frames; the update said 0
    assert len(store.entries) == 1


def test_frames_dropped_adds_a_warning_naming_the_count() -> None:
    store = Store()
    store.apply(APP, [FramesDropped(count=37)], NOW)
    assert len(store.system_events) == 1
    event = store.system_events[0]
    assert event.level == "warning"
    assert "37" in event.text
    assert str(APP.pid) in event.text
    assert APP.app in event.text
    assert event.timestamp == NOW
    assert store.entries == {}


def test_listeners_called_once_per_apply_with_changed_ids() -> None:
    store = Store()
    calls: list[set[str]] = []
    store.listeners.append(calls.append)
    store.apply(APP, [conn("a"), added(0, "a"), added(1, "a"), added(0, "b"), FramesDropped(count=1)], NOW)
    assert calls == [{"a", "b"}]
    store.apply(APP, [conn("c", connected_at=1.0)], NOW)
    assert calls == [{"a", "b"}, {"c"}]


def test_every_listener_is_called() -> None:
    store = Store()
    first: list[set[str]] = []
    second: list[set[str]] = []
    store.listeners.extend([first.append, second.append])
    store.apply(APP, [added(0, "x")], NOW)
    assert first == second == [{"x"}]


def test_listeners_not_called_when_no_connection_changed() -> None:
    store = Store()
    calls: list[set[str]] = []
    store.listeners.append(calls.append)
    store.apply(APP, [], NOW)
    store.apply(APP, [Hello(version=PROTOCOL_VERSION, pid=APP.pid, app=APP.app)], NOW)
    assert calls == []
    assert store.entries == {}


def test_two_producers_keep_their_connections_apart() -> None:
    store = Store()
    store.apply(APP, [conn("a", path="/chat", connected_at=10.0), added(0, "a", content="from chat")], NOW)
    store.apply(OTHER, [conn("b", path="/game", connected_at=5.0), added(0, "b", content="from game")], NOW)
    store.apply(APP, [added(1, "a", content="chat again")], NOW)
    a, b = snapshot(store, "a"), snapshot(store, "b")
    assert (a.pid, a.app, a.path) == (APP.pid, APP.app, "/chat")
    assert (b.pid, b.app, b.path) == (OTHER.pid, OTHER.app, "/game")
    assert [f.content for f in a.messages] == ["from chat", "chat again"]
    assert [f.content for f in b.messages] == ["from game"]
    # Oldest first.
    assert [c.connection_id for c in store.connections()] == ["b", "a"]


def test_snapshots_are_copies() -> None:
    store = Store()
    store.apply(APP, [conn(), added(0)], NOW)
    snap = snapshot(store)
    snap.messages.clear()
    assert contents(store) == ["m0"]


def test_clear_empties() -> None:
    store = Store()
    store.apply(APP, [conn("a"), added(0, "a"), FramesDropped(count=2)], NOW)
    store.add_system_event(NOW, "hello", "info")
    assert store.entries
    assert store.system_events
    store.clear()
    assert store.entries == {}
    assert store.system_events == []
    assert store.connections() == []


@pytest.mark.parametrize("max_messages", [1, 2, 10])
def test_frames_held_never_exceed_max_messages(max_messages: int) -> None:
    store = Store(max_messages=max_messages)
    store.apply(APP, [conn(), *(added(i) for i in range(25))], NOW)
    held = len(snapshot(store).messages)
    assert held == min(25, max_messages)
    assert held + snapshot(store).messages_dropped == 25


def test_the_store_tracks_the_oldest_unanswered_ping() -> None:
    from wsinspect.inspector.store import Producer, Store
    from wsinspect.model import Connection, Frame
    from wsinspect.wire import ConnectionUpdate, FrameAdded

    def control(index: int, direction: str, kind: str, at: float) -> FrameAdded:
        frame = Frame(direction=direction, message_type=kind, content=b"", timestamp=at, size_bytes=0)  # type: ignore[arg-type]
        return FrameAdded("c", index, frame, 0, 0, 0, 0)

    store = Store()
    producer = Producer(1, 1, "a")
    store.apply(producer, [ConnectionUpdate(Connection(connection_id="c", path="/", connected_at=0.0))], 0.0)
    store.apply(producer, [control(0, "sent", "ping", 1.0), control(1, "sent", "ping", 2.0)], 2.0)
    assert store.entries["c"].unanswered_ping == 1.0
    store.apply(producer, [control(2, "received", "ping", 3.0), control(3, "sent", "pong", 3.1)], 3.1)
    assert store.entries["c"].unanswered_ping == 1.0  # the client's ping and our pong change nothing
    store.apply(producer, [control(4, "received", "pong", 4.0)], 4.0)
    assert store.entries["c"].unanswered_ping is None
