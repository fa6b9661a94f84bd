"""The inspector's Store, driven directly (sans-I/O) with wire messages."""

from __future__ import annotations

from collections import deque
from typing import Any

import msgspec
import pytest
from helpers.factories import batch, control_frame, frame, text_frame, update, wire_frame
from hypothesis import given, settings
from hypothesis import strategies as st

from wsinspect.inspector.core.describe import health
from wsinspect.inspector.core.rows import RowCode, code_of
from wsinspect.inspector.core.store import Producer, Store, search_text
from wsinspect.model import Connection, SystemEvent
from wsinspect.wire import PROTOCOL_VERSION, ConnectionUpdate, FrameBatch, FramesDropped, Hello, WireMessage

APP = Producer(key=1, pid=1001, app="chat-app")
OTHER = Producer(key=2, pid=2002, app="game-app")
NOW = 1764350000.0


# Each connection id gets its own key, the same for every producer (as each numbers its own).
KEYS = {"c1": 1, "a": 2, "b": 3, "c": 4, "x": 5}


def conn(connection_id: str = "c1", **kw: Any) -> ConnectionUpdate:
    fields: dict[str, Any] = {"path": "/ws/chat", "connected_at": 100.0, "state": "open", "accepted_at": 100.5}
    fields.update(kw)
    return update(KEYS[connection_id], Connection(connection_id=connection_id, **fields))


def added(
    index: int,
    connection_id: str = "c1",
    *,
    direction: str = "sent",
    content: str | None = None,
    timestamp: float | None = None,
) -> FrameBatch:
    """A batch of one text frame ("m<index>" unless told: two bytes up to index 9)."""
    text = content if content is not None else f"m{index}"
    at = timestamp if timestamp is not None else 200.0 + index
    return batch(KEYS[connection_id], [text_frame(text, direction=direction, at=at)], start=index)


def contents(store: Store, connection_id: str = "c1") -> list[Any]:
    return [frame.content for frame in store.entries[connection_id].frames]


def snapshot(store: Store, connection_id: str = "c1") -> Connection:
    (found,) = [c for c in store.connections() if c.connection_id == connection_id]
    return found


def missing(store: Store, connection_id: str = "c1") -> tuple[int, int, int]:
    """(messages_dropped, messages_not_kept, messages_lost) of a connection."""
    c = snapshot(store, connection_id)
    return (c.messages_dropped, c.messages_not_kept, c.messages_lost)


def test_frames_are_appended_in_order_with_counts_of_the_frames_seen() -> None:
    store = Store()
    store.apply(APP, [conn(), added(0), added(1, direction="received", content="m1..."), added(2)], NOW)
    connection = snapshot(store)
    assert [f.content for f in connection.messages] == ["m0", "m1...", "m2"]
    assert [f.direction for f in connection.messages] == ["sent", "received", "sent"]
    # Frames no longer carry the producer's counts: the store counts the frames it sees.
    assert (connection.messages_sent, connection.bytes_sent) == (2, 4)
    assert (connection.messages_received, connection.bytes_received) == (1, 5)
    assert connection.messages_dropped == 0
    assert store.frames_received == 3


def test_counts_come_from_the_producer_even_when_frames_were_not_sent() -> None:
    store = Store()
    store.apply(APP, [conn(messages_sent=40, messages_received=7, bytes_sent=4000, bytes_received=70), added(0)], NOW)
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
    # Gaps after a frame that came over the same link: recorded while it was up, lost in transit.
    assert missing(store) == (3 + 2, 0, 3 + 2)


def test_first_frame_not_at_zero_counts_the_missing_ones() -> None:
    # The app's replay buffer had already dropped the oldest four: not kept, by design.
    store = Store()
    store.apply(APP, [conn(), added(4)], NOW)
    assert missing(store) == (4, 4, 0)


def test_max_messages_evicts_oldest_and_counts_them_as_dropped() -> None:
    store = Store(max_messages=3)
    store.apply(APP, [conn(), *(added(i) for i in range(5))], NOW)
    assert contents(store) == ["m2", "m3", "m4"]
    assert missing(store) == (2, 2, 0)  # the inspector's own limit let them go: not kept
    assert store.entries["c1"].evicted == 2
    store.apply(APP, [added(6)], NOW)  # one more eviction plus a gap of one
    assert contents(store) == ["m3", "m4", "m6"]
    assert missing(store) == (2 + 1 + 1, 2 + 1, 1)
    assert store.entries["c1"].evicted == 3
    assert store.frames_received == 6


# -- why frames are missing: not kept (a buffer let them go, by design) or lost (in transit) -----


def test_after_an_inspector_restart_the_replay_buffers_gap_is_not_kept_rather_than_lost() -> None:
    # The 2,071 per connection: a new inspector's first replay starts at the oldest frame
    # the app's replay buffer (max_messages 100) still held; the rest went before it listened.
    store = Store()
    link = Producer(key=1, pid=APP.pid, app=APP.app, since=NOW)  # the link began now
    replay: list[WireMessage] = [
        conn(connected_at=NOW - 600),
        batch(KEYS["c1"], [text_frame(f"m{i}") for i in range(100)], 2071),
    ]
    store.apply(link, replay, NOW)
    assert missing(store) == (2071, 2071, 0)
    assert len(contents(store)) == 100
    store.apply(link, [added(2171), added(2172)], NOW)  # live frames follow: nothing more is missing
    assert missing(store) == (2071, 2071, 0)


def test_a_gap_after_a_frame_of_the_same_link_is_lost() -> None:
    store = Store()
    link = Producer(key=1, pid=APP.pid, app=APP.app, since=NOW)
    store.apply(link, [conn(connected_at=NOW - 600), added(10), added(11)], NOW)
    assert missing(store) == (10, 10, 0)
    # The app's queue overflowed: some frames went, and the replay after the FramesDropped starts
    # at the oldest frame its buffer still holds (the frames after the overflow arrive first).
    store.apply(link, [added(40), FramesDropped(count=30), conn(connected_at=NOW - 600), added(30)], NOW)
    assert missing(store) == (10 + 28, 10, 28)
    assert contents(store)[-1] == "m40"


def test_a_gap_after_frames_dropped_is_lost_even_before_the_connections_first_frame() -> None:
    # A connection whose update came through but whose first frames the overflow took: the
    # replay after the FramesDropped no longer holds the oldest of them.
    store = Store()
    link = Producer(key=1, pid=APP.pid, app=APP.app)  # when the link began is not known
    store.apply(link, [conn(connected_at=NOW - 600)], NOW)
    store.apply(link, [FramesDropped(count=500), conn(connected_at=NOW - 600), added(7), added(8)], NOW)
    assert missing(store) == (7, 0, 7)


def test_a_connection_opened_after_its_link_began_loses_what_is_missing() -> None:
    # Every frame of it was recorded while the inspector listened: a gap can only be the queue's.
    store = Store()
    link = Producer(key=1, pid=APP.pid, app=APP.app, since=NOW - 10)
    store.apply(link, [conn(connected_at=NOW - 5), added(3)], NOW)
    assert missing(store) == (3, 0, 3)
    store.apply(link, [conn("a", connected_at=NOW - 20), added(3, "a")], NOW)  # older than the link
    assert missing(store, "a") == (3, 3, 0)


def test_a_reconnecting_producers_replay_gap_is_not_kept() -> None:
    # The link broke; while no inspector read, the app's buffer let frames 3 to 5 go.
    store = Store()
    store.apply(APP, [conn(), added(0), added(1), added(2)], NOW)
    again = Producer(key=7, pid=APP.pid, app=APP.app, since=NOW + 1)
    store.apply(again, [conn(), added(6), added(7), added(8)], NOW + 1)
    assert missing(store) == (3, 3, 0)
    store.apply(again, [added(10)], NOW + 1)  # and a gap on the new link after its frames is lost
    assert missing(store) == (4, 3, 1)


def test_updates_do_not_reset_not_kept_and_lost() -> None:
    store = Store(max_messages=2)
    store.apply(APP, [conn(), added(3), added(4), added(5), added(9)], NOW)
    # A gap of 3 before its first frame (not kept), two evictions (not kept), a gap of 3 (lost).
    assert missing(store) == (3 + 2 + 3, 3 + 2, 3)
    store.apply(APP, [conn(messages_dropped=0, messages_not_kept=0, messages_lost=0)], NOW)
    assert missing(store) == (3 + 2 + 3, 3 + 2, 3)


def test_update_does_not_reset_dropped_counted_by_the_store() -> None:
    store = Store(max_messages=2)
    store.apply(APP, [conn(), added(0), added(1), added(2), added(7)], NOW)
    dropped = snapshot(store).messages_dropped
    assert dropped == 1 + 4 + 1
    store.apply(APP, [conn(messages_dropped=0)], NOW)
    assert snapshot(store).messages_dropped == dropped


def test_counts_never_go_backwards_when_an_older_update_arrives_late() -> None:
    store = Store()
    store.apply(
        APP,
        [conn(), added(0), added(1), conn(messages_sent=2, messages_received=3, bytes_sent=20, bytes_received=30)],
        NOW,
    )
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
    # And a replayed frame (counted by the store already) does not lower or raise them either.
    store.apply(APP, [added(1), added(0, direction="received")], NOW)
    connection = snapshot(store)
    assert (connection.messages_sent, connection.messages_received) == (9, 8)
    assert (connection.bytes_sent, connection.bytes_received) == (90, 80)


def test_frames_before_their_connection_are_ignored_until_the_replay() -> None:
    # Protocol 2: a frame names its connection by a key that only a ConnectionUpdate binds. Frames
    # whose update the app's queue lost are ignored; the replay after the overflow re-sends both.
    store = Store()
    calls: list[set[str]] = []
    store.listeners.append(calls.append)
    store.apply(APP, [added(0, timestamp=300.0), added(1, timestamp=301.0)], NOW)
    assert store.entries == {}
    assert store.rows == []
    assert store.frames_received == 0
    assert calls == []

    late = conn(path="/ws/late", query_string="a=b", connected_at=299.0, state="closed", close_code=1001)
    store.apply(APP, [late, added(0, timestamp=300.0), added(1, timestamp=301.0)], NOW)
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
    store.apply(APP, [conn("a"), added(0, "a"), added(1, "a"), conn("b"), added(0, "b"), FramesDropped(count=1)], NOW)
    assert calls == [{"a", "b"}]
    store.apply(APP, [added(2, "a"), added(0, "x")], NOW)  # x: a key with no update yet, so no change
    assert calls == [{"a", "b"}, {"a"}]
    store.apply(APP, [conn("c", connected_at=1.0)], NOW)
    assert calls == [{"a", "b"}, {"a"}, {"c"}]


def test_every_listener_is_called() -> None:
    store = Store()
    first: list[set[str]] = []
    second: list[set[str]] = []
    store.listeners.extend([first.append, second.append])
    store.apply(APP, [conn("x"), added(0, "x")], NOW)
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


def counts(store: Store, connection_id: str = "c1") -> tuple[int, int, int, int]:
    c = snapshot(store, connection_id)
    return (c.messages_sent, c.messages_received, c.bytes_sent, c.bytes_received)


def test_counts_are_the_larger_of_the_frames_seen_and_the_producers_report() -> None:
    store = Store()
    store.apply(APP, [conn(), added(0), added(1), added(2)], NOW)
    assert counts(store) == (3, 0, 6, 0)  # seen
    # The producer reports more than the store saw (frames lost on the way): the report wins.
    store.apply(APP, [conn(messages_sent=5, messages_received=1, bytes_sent=50, bytes_received=9)], NOW)
    assert counts(store) == (5, 1, 50, 9)
    # Frames the report already counted arrive after it: they are not counted twice.
    store.apply(APP, [added(3), added(4)], NOW)
    assert counts(store) == (5, 1, 50, 9)
    # Once the frames seen outnumber the report, they are the count.
    store.apply(APP, [added(5), added(6, direction="received"), added(7, direction="received")], NOW)
    assert counts(store) == (6, 2, 50, 9)  # 6 sent seen (12 bytes), 2 received seen (4 bytes)
    # A report of less than was seen lowers nothing.
    store.apply(APP, [conn(messages_sent=1, messages_received=1, bytes_sent=1, bytes_received=1)], NOW)
    assert counts(store) == (6, 2, 50, 9)


def test_a_report_before_any_frame_wins_until_the_frames_seen_pass_it() -> None:
    store = Store()
    store.apply(APP, [conn(messages_sent=3, bytes_sent=100)], NOW)
    store.apply(APP, [added(0), added(1), added(2)], NOW)
    assert counts(store) == (3, 0, 100, 0)
    store.apply(APP, [added(3)], NOW)
    assert counts(store) == (4, 0, 100, 0)


def test_control_frames_are_not_counted_as_messages() -> None:
    store = Store()
    pings = [control_frame("ping", b"p"), control_frame("pong", b"p", direction="received")]
    close = text_frame("x")  # a data frame between them
    store.apply(APP, [conn(), batch(KEYS["c1"], [*pings, close])], NOW)
    assert counts(store) == (1, 0, 1, 0)
    assert len(snapshot(store).messages) == 3


def test_frames_of_an_unknown_key_come_in_with_the_update_and_replay_that_follow() -> None:
    store = Store()
    store.apply(APP, [conn("a"), added(0, "a")], NOW)
    # The app's queue overflowed and lost b's update: b's frames that made it are ignored.
    store.apply(APP, [added(1, "b"), added(2, "b"), FramesDropped(count=2)], NOW)
    assert set(store.entries) == {"a"}
    assert store.frames_received == 1
    # The replay that follows an overflow: every connection held, its update then its frames.
    replay: list[WireMessage] = [
        conn("a", messages_sent=1, bytes_sent=2),
        added(0, "a"),
        conn("b", path="/ws/b", messages_sent=3, bytes_sent=6),
        batch(KEYS["b"], [text_frame(f"m{i}", at=200.0 + i) for i in range(3)]),
    ]
    store.apply(APP, replay, NOW)
    assert contents(store, "a") == ["m0"]
    assert contents(store, "b") == ["m0", "m1", "m2"]
    b = snapshot(store, "b")
    assert (b.path, b.messages_dropped) == ("/ws/b", 0)
    assert counts(store, "b") == (3, 0, 6, 0)
    assert store.frames_received == 4
    store.apply(APP, [added(3, "b")], NOW)  # and live frames follow
    assert contents(store, "b") == ["m0", "m1", "m2", "m3"]
    assert counts(store, "b") == (4, 0, 8, 0)


def test_one_batch_carries_frames_of_several_connections_in_their_order() -> None:
    store = Store()
    calls: list[set[str]] = []
    store.listeners.append(calls.append)
    store.apply(APP, [conn("a"), conn("b")], NOW)
    mixed = FrameBatch(
        [
            wire_frame(KEYS["a"], 0, text_frame("a0", at=1.0)),
            wire_frame(KEYS["x"], 0, text_frame("x0", at=2.0)),  # no update: ignored
            wire_frame(KEYS["b"], 0, text_frame("b0", at=3.0)),
            wire_frame(KEYS["b"], 1, text_frame("b1", at=4.0)),
            wire_frame(KEYS["a"], 1, text_frame("a1", at=5.0)),
            wire_frame(KEYS["x"], 1, text_frame("x1", at=6.0)),
            wire_frame(KEYS["a"], 2, text_frame("a2", at=7.0)),
        ]
    )
    store.apply(APP, [mixed], NOW)
    assert contents(store, "a") == ["a0", "a1", "a2"]
    assert contents(store, "b") == ["b0", "b1"]
    frame_rows = [(cid, row.content) for cid, row in store.rows if not hasattr(row, "level")]
    assert frame_rows == [("a", "a0"), ("b", "b0"), ("b", "b1"), ("a", "a1"), ("a", "a2")]
    assert store.frames_received == 5
    assert calls == [{"a", "b"}, {"a", "b"}]


def test_clear_keeps_open_connections_alive_for_their_next_frame() -> None:
    store = Store()
    store.apply(APP, [conn("a", path="/ws/a"), added(0, "a"), added(1, "a"), added(2, "a")], NOW)
    store.apply(APP, [conn("b"), added(0, "b"), conn("b", state="closed", close_code=1000)], NOW)
    store.clear()
    assert set(store.entries) == {"a"}  # the open one stays listed, emptied
    assert store.entries["a"].frames == deque()
    assert store.rows == []
    # Its next frame is the only one it holds: none counted as dropped.
    store.apply(APP, [added(3, "a")], NOW)
    assert set(store.entries) == {"a"}
    a = snapshot(store, "a")
    assert a.path == "/ws/a"
    assert [f.content for f in a.messages] == ["m3"]
    assert missing(store, "a") == (0, 0, 0)
    assert counts(store, "a") == (4, 0, 8, 0)  # every frame it sent, the cleared ones included
    assert store.frames_received == 1
    assert [cid for cid, _ in store.rows] == ["a"]
    # The closed one stays gone: a late frame of it does not bring it back.
    store.apply(APP, [added(1, "b")], NOW)
    assert set(store.entries) == {"a"}


def test_clear_keeps_an_unanswered_ping_of_an_open_connection() -> None:
    store = Store()
    ping = batch(KEYS["a"], [control_frame("ping", b"p", at=150.0)])
    store.apply(APP, [conn("a"), ping], NOW)
    store.clear()
    store.apply(APP, [added(1, "a")], NOW)
    assert store.entries["a"].unanswered_ping == 150.0  # still late if no pong comes
    store.apply(APP, [batch(KEYS["a"], [control_frame("pong", b"p", direction="received")], start=2)], NOW)
    assert store.entries["a"].unanswered_ping is None


def test_an_update_after_clear_brings_an_open_connection_back_as_it_was() -> None:
    store = Store()
    store.apply(APP, [conn("a", path="/ws/a"), added(0, "a"), added(1, "a")], NOW)
    store.clear()
    # The next news of it is an update (its round-trip time changed), then a frame.
    store.apply(APP, [conn("a", path="/ws/a", avg_rtt=0.1)], NOW)
    store.apply(APP, [added(2, "a")], NOW)
    a = snapshot(store, "a")
    assert [f.content for f in a.messages] == ["m2"]
    assert a.messages_dropped == 0  # the cleared frames were seen, not dropped
    assert counts(store, "a") == (3, 0, 6, 0)
    assert a.avg_rtt == 0.1
    # Not a new connection: no second "connect" row.
    assert not any(getattr(row, "text", "").startswith("connect") for _, row in store.rows)
    store.apply(APP, [conn("a", path="/ws/a", state="closed", close_code=1000, disconnected_at=300.0)], NOW)
    assert [row.text for _, row in store.rows if hasattr(row, "text")] == ["closed: 1000 Normal Closure"]


def test_clear_keeps_what_is_known_of_a_live_connection() -> None:
    # The issue: after ctrl+l a live connection came back as "(unknown)", Connecting, ping not
    # observable. Its entry stays, as it was, whether or not anything of it comes after.
    store = Store()
    full = conn(
        "a",
        path="/ws/a",
        query_string="room=1",
        client="127.0.0.1:5000",
        headers=[("host", "localhost")],
        ping_observable=True,
        last_rtt=0.02,
        messages_sent=9,
        bytes_sent=90,
    )
    store.apply(APP, [full, added(0, "a"), added(1, "a")], NOW)
    before = msgspec.structs.replace(snapshot(store, "a"), messages=[])
    number = store.entries["a"].number
    store.clear()
    after = snapshot(store, "a")
    assert after == before  # path, state, observability, client, headers, counts the app reports
    assert (after.path, after.state, after.ping_observable) == ("/ws/a", "open", True)
    assert store.entries["a"].number == number
    assert store.connection_number("a") == number
    # A frame of it keeps it so: no placeholder, no second connect row.
    store.apply(APP, [batch(KEYS["a"], [control_frame("ping", b"p")], start=2)], NOW)
    after = snapshot(store, "a")
    assert (after.path, after.state, after.ping_observable, after.client) == ("/ws/a", "open", True, "127.0.0.1:5000")
    assert [f.message_type for f in after.messages] == ["ping"]
    assert not any(isinstance(item, SystemEvent) for _, item in store.rows)


def test_frames_cleared_on_purpose_are_not_dropped_not_kept_or_lost() -> None:
    store = Store(max_messages=2)
    store.apply(APP, [conn("a"), added(3, "a"), added(4, "a"), added(5, "a"), added(8, "a")], NOW)
    assert missing(store, "a") == (3 + 1 + 2 + 1, 3 + 1 + 1, 2)
    store.clear()
    entry = store.entries["a"]
    assert missing(store, "a") == (0, 0, 0)
    assert (entry.cleared, entry.evicted, len(entry.frames)) == (9, 0, 0)
    assert counts(store, "a") == (4, 0, 8, 0)  # what it sent stays counted
    store.apply(APP, [added(9, "a"), added(10, "a"), added(11, "a")], NOW)  # one eviction since
    assert missing(store, "a") == (1, 1, 0)
    assert len(entry.frames) + entry.connection.messages_dropped + entry.cleared == entry.next_index == 12


def test_a_replay_after_clear_brings_back_neither_cleared_frames_nor_closed_connections() -> None:
    # After an overflow (or a producer's reconnect) the app replays what it holds: its open
    # connections' buffered frames and its recently closed connections.
    store = Store()
    store.apply(APP, [conn("a"), added(0, "a"), added(1, "a")], NOW)
    store.apply(APP, [conn("b"), added(0, "b"), conn("b", state="closed", close_code=1000)], NOW)
    store.clear()
    replay: list[WireMessage] = [
        FramesDropped(count=3),
        conn("a"),
        added(0, "a"),
        added(1, "a"),
        conn("b", state="closed", close_code=1000),
        added(0, "b"),
    ]
    store.apply(APP, replay, NOW)
    assert set(store.entries) == {"a"}
    assert contents(store, "a") == []
    assert missing(store, "a") == (0, 0, 0)
    # And over a new link (the producer reconnected): the same connection, no connect row again.
    again = Producer(key=7, pid=APP.pid, app=APP.app, since=NOW)
    store.apply(again, [conn("a"), added(0, "a"), added(1, "a"), added(2, "a"), conn("b", state="closed")], NOW)
    assert set(store.entries) == {"a"}
    assert contents(store, "a") == ["m2"]
    assert missing(store, "a") == (0, 0, 0)
    assert [item.text for _, item in store.rows if isinstance(item, SystemEvent)] == [
        "chat-app (pid 1001): 3 frames dropped in transit (its queue overflowed)"
    ]


def test_a_connection_open_at_clear_goes_at_the_next_clear_once_closed() -> None:
    store = Store()
    store.apply(APP, [conn("a"), added(0, "a")], NOW)
    store.clear()
    store.apply(APP, [conn("a", state="closed", close_code=1001, disconnected_at=300.0)], NOW)
    assert snapshot(store, "a").state == "closed"
    store.clear()
    assert store.entries == {}
    store.apply(APP, [conn("a", state="closed", close_code=1001, disconnected_at=300.0), added(1, "a")], NOW)
    assert store.entries == {}


def test_a_live_store_is_now_and_a_loaded_one_is_as_of_its_export() -> None:
    store = Store()
    assert store.as_of is None
    store.apply(APP, [conn("a"), added(0, "a")], NOW)
    store.load([Connection(connection_id="f", path="/f", connected_at=1.0, state="open")], 5.0)
    assert store.as_of == 5.0
    assert set(store.entries) == {"f"}  # what was live before goes
    store.clear()
    assert store.as_of == 5.0  # still that file's moment
    store.load([])
    assert store.as_of is None


def test_two_producers_using_the_same_key_do_not_mix() -> None:
    store = Store()
    store.apply(APP, [update(1, connection_id="from-app", path="/chat"), batch(1, [text_frame("chat")])], NOW)
    store.apply(OTHER, [update(1, connection_id="from-other", path="/game"), batch(1, [text_frame("game")])], NOW)
    store.apply(APP, [batch(1, [text_frame("chat again")], start=1)], NOW)
    store.apply(OTHER, [batch(1, [text_frame("game again", direction="received")], start=1)], NOW)
    assert contents(store, "from-app") == ["chat", "chat again"]
    assert contents(store, "from-other") == ["game", "game again"]
    app, other = snapshot(store, "from-app"), snapshot(store, "from-other")
    assert (app.pid, app.path, app.messages_sent, app.messages_received) == (APP.pid, "/chat", 2, 0)
    assert (other.pid, other.path, other.messages_sent, other.messages_received) == (OTHER.pid, "/game", 1, 1)
    assert app.messages_dropped == other.messages_dropped == 0
    # A key one producer bound means nothing for another.
    store.apply(APP, [batch(9, [text_frame("nobody")])], NOW)
    store.apply(Producer(key=3, pid=3003, app="third"), [batch(1, [text_frame("stranger")], start=2)], NOW)
    assert contents(store, "from-app") == ["chat", "chat again"]
    assert contents(store, "from-other") == ["game", "game again"]


def test_a_reconnecting_producer_finds_its_connections_again() -> None:
    store = Store()
    store.apply(APP, [conn("a"), added(0, "a"), added(1, "a")], NOW)
    again = Producer(key=7, pid=APP.pid, app=APP.app)  # the same app, connected anew
    store.apply(again, [conn("a"), added(0, "a"), added(1, "a"), added(2, "a")], NOW)
    assert contents(store, "a") == ["m0", "m1", "m2"]
    assert counts(store, "a") == (3, 0, 6, 0)
    assert len(store.entries) == 1


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
    store.apply(APP, [conn("b"), added(0, "b"), conn("b", state="closed", close_code=1000)], NOW)
    store.clear()
    assert set(store.entries) == {"a"}  # open: kept, without its frames; closed: gone
    assert store.system_events == []
    assert [c.messages for c in store.connections()] == [[]]
    assert (store.rows, store.frames_received) == ([], 0)


@pytest.mark.parametrize("max_messages", [1, 2, 10])
def test_frames_held_never_exceed_max_messages(max_messages: int) -> None:
    store = Store(max_messages=max_messages)
    store.apply(APP, [conn(), *(added(i) for i in range(25))], NOW)
    held = len(snapshot(store).messages)
    assert held == min(25, max_messages)
    assert held + snapshot(store).messages_dropped == 25
    assert missing(store) == (25 - held, 25 - held, 0)


def test_the_store_tracks_the_oldest_unanswered_ping() -> None:
    def control(index: int, direction: str, kind: str, at: float) -> FrameBatch:
        return batch(4, [control_frame(kind, direction=direction, at=at)], start=index)

    store = Store()
    producer = Producer(1, 1, "a")
    store.apply(producer, [update(4, Connection(connection_id="c", path="/", connected_at=0.0))], 0.0)
    store.apply(producer, [control(0, "sent", "ping", 1.0), control(1, "sent", "ping", 2.0)], 2.0)
    assert store.entries["c"].unanswered_ping == 1.0
    store.apply(producer, [control(2, "received", "ping", 3.0), control(3, "sent", "pong", 3.1)], 3.1)
    assert store.entries["c"].unanswered_ping == 1.0  # the client's ping and our pong change nothing
    store.apply(producer, [control(4, "received", "pong", 4.0)], 4.0)
    assert store.entries["c"].unanswered_ping is None


def test_keepalive_health() -> None:
    base = Connection(connection_id="x", path="/", state="open", connected_at=0.0, ping_observable=True)
    assert health(base, None, 100.0) == "ok"
    assert health(base, 99.5, 100.0) == "ok"  # waiting, not yet late
    assert health(base, 98.0, 100.0) == "late"
    slow = Connection(connection_id="x", path="/", state="open", connected_at=0.0, ping_observable=True, avg_rtt=1.0)
    assert health(slow, 98.0, 100.0) == "ok"  # a slow link gets four round trips of patience
    blind = Connection(connection_id="x", path="/", state="open", connected_at=0.0)
    assert health(blind, 1.0, 100.0) == "unknown"
    ended = Connection(
        connection_id="x",
        path="/",
        state="closed",
        connected_at=0.0,
        close_code=1011,
        close_reason="keepalive ping timeout",
        ping_observable=True,
    )
    assert health(ended, None, 100.0) == "timeout"


# -- the columns the filters read ---------------------------------------------------------------


def assert_counts_add_up(store: Store) -> None:
    """Every frame numbered so far is held, dropped (not kept or lost) or cleared, once."""
    for entry in store.entries.values():
        connection = entry.connection
        assert connection.messages_dropped == connection.messages_not_kept + connection.messages_lost
        assert 0 <= entry.evicted <= connection.messages_not_kept
        assert len(entry.frames) + connection.messages_dropped + entry.cleared == entry.next_index


def assert_columns_in_step(store: Store) -> None:
    """``codes``, ``owners`` and ``texts`` say of each row what it is, whose it is and what a search
    reads of it, item for item."""
    assert len(store.codes) == len(store.owners) == len(store.rows)
    assert list(store.codes) == [code_of(row) for row in store.rows]
    assert store.texts == [search_text(item) for _, item in store.rows]
    numbers: dict[str | None, int] = {None: 0}
    numbers.update((connection_id, entry.number) for connection_id, entry in store.entries.items())
    assert list(store.owners) == [numbers[connection_id] for connection_id, _ in store.rows]
    assert len(set(numbers.values())) == len(numbers)  # each connection its own number
    for connection_id, entry in store.entries.items():
        assert 0 < entry.number < store.owner_limit
        assert store.connection_number(connection_id) == entry.number  # the one its filter asks for


def test_the_codes_of_rows() -> None:
    assert [code_of(("c", frame(kind, direction="received"))) for kind in ("text", "binary", "ping")] == [0, 2, 4]
    assert [code_of(("c", frame(kind))) for kind in ("text", "binary", "ping", "pong", "close")] == [1, 3, 5, 7, 9]
    assert code_of(("c", SystemEvent(1.0, "info", "connect /"))) == code_of((None, SystemEvent(1.0, "info", "x")))
    assert code_of((None, frame("pong"))) == RowCode.ORPHAN + 7
    assert RowCode.EVENT not in range(10)
    assert RowCode.ORPHAN > RowCode.EVENT


def test_the_columns_stay_in_step_with_the_rows_through_every_change() -> None:
    store = Store(max_frames=20)
    ping = batch(KEYS["a"], [control_frame("ping", b"p", at=150.0)], start=1)
    store.apply(APP, [conn("a"), added(0, "a"), ping, FramesDropped(count=3), added(0, "x")], NOW)
    assert_columns_in_step(store)
    assert store.owners[-1] == 0  # the warning is the inspector's own
    store.add_system_event(NOW, "listening")
    store.apply(OTHER, [conn("b"), added(0, "b", direction="received"), conn("b", state="closed")], NOW)
    store.apply(APP, [added(1, "a"), added(2, "a"), added(5, "a")], NOW)  # a repeat, a new one, a gap
    assert_columns_in_step(store)
    assert store.entries["a"].number != store.entries["b"].number
    for index in range(3, 30):  # past max_frames: the oldest rows go, and their columns with them
        store.apply(APP, [added(index + 3, "a", direction="received" if index % 2 else "sent")], NOW)
        assert_columns_in_step(store)
    assert store.rows_trimmed
    number = store.entries["a"].number
    store.clear()
    assert_columns_in_step(store)
    assert (store.codes, list(store.owners)) == (bytearray(), [])
    store.apply(APP, [added(40, "a")], NOW)  # still open: it comes back under its number
    assert store.entries["a"].number == number
    assert_columns_in_step(store)
    store.apply(APP, [conn("c", state="closed")], NOW)
    assert_columns_in_step(store)


def test_a_loaded_session_has_its_columns_in_time_order() -> None:
    first = Connection(
        connection_id="first",
        path="/a",
        connected_at=1.0,
        accepted_at=1.5,
        state="closed",
        disconnected_at=9.0,
        messages=[frame("text", "x", at=2.0), frame("ping", b"", direction="received", at=4.0)],
    )
    second = Connection(connection_id="second", path="/b", connected_at=3.0, messages=[frame("binary", b"y", at=3.5)])
    store = Store()
    store.add_system_event(0.0, "before")
    store.apply(APP, [conn("a"), added(0, "a")], NOW)
    store.load([first, second])
    assert_columns_in_step(store)
    # connect, accepted, a text, the second's connect, its binary, a ping, closed
    assert list(store.codes) == [RowCode.EVENT, RowCode.EVENT, 1, RowCode.EVENT, 3, 4, RowCode.EVENT]
    assert store.entries["first"].number != store.entries["second"].number


def test_a_connection_not_seen_yet_gets_the_number_its_rows_will_have() -> None:
    store = Store()
    asked = store.connection_number("a")  # a filter for it, before it came
    store.apply(APP, [conn("a"), added(0, "a")], NOW)
    assert store.entries["a"].number == asked
    assert set(store.owners) == {asked}
    assert store.connection_number("b") not in (asked, 0)


KINDS = ("text", "binary", "ping", "pong", "close")
store_frames = st.builds(
    lambda key, index, kind, direction: wire_frame(
        key, index, frame(kind, "t" if kind in ("text", "close") else b"b", direction=direction)
    ),
    st.integers(1, 4),
    st.integers(0, 12),
    st.sampled_from(KINDS),
    st.sampled_from(["sent", "received"]),
)
store_updates = st.builds(
    lambda key, cid, state: update(key, connection_id=cid, state=state),
    st.integers(1, 4),
    st.sampled_from(["a", "b", "c", "d", "e"]),
    st.sampled_from(["open", "closed"]),
)
operations = st.one_of(
    st.tuples(
        st.sampled_from([APP, OTHER]),
        st.lists(
            st.one_of(
                store_updates,
                st.builds(FrameBatch, st.lists(store_frames, max_size=8)),
                st.builds(FramesDropped, st.integers(1, 5)),
            ),
            max_size=5,
        ),
    ),
    st.just("event"),
    st.just("clear"),
)


@settings(max_examples=200, deadline=None)
@given(steps=st.lists(operations, max_size=25), max_frames=st.integers(3, 40))
def test_the_columns_stay_in_step_whatever_comes(steps: list[Any], max_frames: int) -> None:
    store = Store(max_frames=max_frames)
    for step in steps:
        if step == "event":
            store.add_system_event(NOW, "news", "info")
        elif step == "clear":
            store.clear()
        else:
            producer, messages = step
            store.apply(producer, messages, NOW)
            # The bound counts frames only; the other rows have one of their own (issue 27).
            assert frame_rows(store) <= max_frames
            assert len(store.rows) - frame_rows(store) <= max_frames
        assert_columns_in_step(store)
        assert_counts_add_up(store)
        assert frame_rows(store) == store.frames_received - store.frames_let_go
    store.load(store.connections())
    assert_columns_in_step(store)
    assert_counts_add_up(store)


def test_the_retention_bound_lets_the_oldest_frames_go_and_counts_them() -> None:
    store = Store(max_frames=100)
    store.apply(APP, [conn("a"), conn("b")], NOW)
    for index in range(150):
        store.apply(APP, [added(index, "a"), added(index, "b", direction="received")], NOW)
        assert frame_rows(store) <= 100
    assert_columns_in_step(store)
    assert_counts_add_up(store)
    held = sum(len(entry.frames) for entry in store.entries.values())
    frames_in_rows = sum(1 for _, item in store.rows if not isinstance(item, SystemEvent))
    assert held == frames_in_rows  # a frame let go from the timeline leaves its connection too
    assert store.frames_let_go == 300 - frames_in_rows
    assert sum(entry.connection.messages_not_kept for entry in store.entries.values()) == store.frames_let_go
    assert sum(entry.connection.messages_lost for entry in store.entries.values()) == 0
    # The newest stay: the last frame of each connection is the last one sent.
    assert store.entries["a"].frames[-1].content == "m149"


def test_a_file_larger_than_the_retention_bound_opens_with_its_newest_frames() -> None:
    frames = [frame("text", f"m{i}", at=200.0 + i) for i in range(80)]
    big = Connection(
        connection_id="big", path="/ws", connected_at=100.0, state="closed", disconnected_at=300.0, messages=frames
    )
    store = Store(max_frames=50)
    store.load([big])
    assert len(store.rows) == 51  # 50 frames and the closing row kept, the connect let go
    assert store.rows[-1][1].text.startswith("closed")  # type: ignore[union-attr]
    assert [item.content for _, item in store.rows if not isinstance(item, SystemEvent)][-1] == "m79"
    assert store.frames_let_go == 80 - 50
    assert store.entries["big"].connection.messages_not_kept == store.frames_let_go
    assert_columns_in_step(store)
    assert_counts_add_up(store)


# -- issue 27: --max-frames N keeps N frames; lifecycle rows and log lines are bounded apart ------


def closed_connections(count: int, frames_each: int) -> list[Connection]:
    """``count`` connections, each connected, accepted, ``frames_each`` frames, then closed:
    3 lifecycle rows each besides the frames."""
    made = []
    for n in range(count):
        start = 100.0 + n
        messages = [frame("text", f"c{n}m{i}", at=start + 0.5 + i / 1000) for i in range(frames_each)]
        made.append(
            Connection(
                connection_id=f"c{n}",
                path=f"/ws/{n}",
                connected_at=start,
                accepted_at=start + 0.1,
                state="closed",
                disconnected_at=start + 0.5 + frames_each / 1000,
                close_code=1000,
                closed_by="client",
                messages=messages,
            )
        )
    return made


def frame_rows(store: Store) -> int:
    return sum(code < RowCode.EVENT for code in store.codes)


def test_a_file_of_exactly_max_frames_frames_keeps_them_all() -> None:
    """The issue: 1,000,000 frames (100 connections x 10,000) opened with --max-frames 1,000,000
    said "(100 let go)" and each connection "1 not kept": its connect, accept and close rows had
    taken the place of frames. Here 10 x 100 with a bound of 1,000."""
    store = Store(max_messages=100, max_frames=1000)
    store.load(closed_connections(10, 100))
    assert frame_rows(store) == store.frames_received == 1000
    assert store.frames_let_go == 0
    assert len(store.rows) == 1000 + 10 * 3  # the lifecycle rows too
    for entry in store.entries.values():
        assert len(entry.frames) == 100
        assert (entry.connection.messages_dropped, entry.connection.messages_not_kept, entry.evicted) == (0, 0, 0)
    assert_columns_in_step(store)
    assert_counts_add_up(store)


@pytest.mark.parametrize("over", [1, 7, 150])
def test_a_file_of_k_frames_past_the_bound_lets_exactly_k_go(over: int) -> None:
    store = Store(max_messages=1000, max_frames=1000)
    connections = closed_connections(10, 100)
    connections[-1] = closed_connections(10, 100 + over)[-1]
    store.load(connections)
    assert frame_rows(store) == 1000
    assert store.frames_let_go == over
    assert sum(entry.connection.messages_not_kept for entry in store.entries.values()) == over
    assert sum(entry.evicted for entry in store.entries.values()) == over
    assert_columns_in_step(store)
    assert_counts_add_up(store)


def test_live_max_frames_frames_on_connections_that_come_and_go_are_all_kept() -> None:
    store = Store(max_frames=100)
    for n, connection_id in enumerate(("a", "b", "c", "x")):  # 4 x 25 frames, 3 lifecycle rows each
        store.apply(APP, [conn(connection_id)], NOW)
        store.apply(APP, [added(i, connection_id, timestamp=200.0 + n * 30 + i) for i in range(25)], NOW)
        store.apply(APP, [conn(connection_id, state="closed", disconnected_at=300.0 + n)], NOW)
    assert frame_rows(store) == store.frames_received == 100
    assert store.frames_let_go == 0
    assert store.rows_trimmed == 0
    assert all(entry.connection.messages_not_kept == 0 for entry in store.entries.values())
    # One more frame: the bound's oldest tenth of the frames goes (the rows among them with them).
    store.apply(APP, [conn("c1")], NOW)
    store.apply(APP, [added(0, "c1")], NOW)
    assert store.frames_let_go == 1 + 100 // 10
    assert frame_rows(store) == 101 - store.frames_let_go
    assert store.entries["a"].connection.messages_not_kept == 11
    assert_columns_in_step(store)
    assert_counts_add_up(store)


def test_lifecycle_rows_are_bounded_apart_from_the_frames() -> None:
    """Connections that come and go without a frame still cannot grow the timeline without end."""
    store = Store(max_frames=30)
    for n in range(40):  # 3 rows each, no frame
        key = 100 + n
        store.apply(APP, [update(key, Connection(connection_id=f"q{n}", path="/ws", connected_at=100.0 + n))], NOW)
        closing = Connection(connection_id=f"q{n}", path="/ws", connected_at=100.0 + n, state="closed",
                             disconnected_at=100.5 + n)  # fmt: skip
        store.apply(APP, [update(key, closing)], NOW)
        assert len(store.rows) <= 30
    assert store.rows_trimmed > 0
    assert store.frames_let_go == 0
    assert_columns_in_step(store)
