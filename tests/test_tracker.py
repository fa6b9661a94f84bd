"""The sans-I/O tracker, fed ASGI messages directly: no server, no clock."""

from __future__ import annotations

from typing import Any

import pytest

from wsinspect import WSInspectConfig
from wsinspect.capture.text import cut_text
from wsinspect.capture.traces import is_disconnect
from wsinspect.capture.tracker import ConnectionTracker
from wsinspect.model import Connection, Frame
from wsinspect.wire import FrameRecord, record_to_frame


def scope(**extra: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "type": "websocket",
        "path": "/ws/chat",
        "query_string": b"room=1",
        "headers": [(b"host", b"example"), (b"Authorization", b"Bearer secret"), (b"cookie", b"s=1")],
        "client": ("127.0.0.1", 5000),
        "scheme": "ws",
        "subprotocols": ["chat", "json"],
    }
    base.update(extra)
    return base


class Events:
    """A TrackerListener that notes what it is told (frames only while ``live``)."""

    def __init__(self, *, live: bool = True) -> None:
        self.live = live
        self.records: list[FrameRecord] = []
        self.frames: list[Frame] = []
        self.indexes: list[int] = []
        self.keys: set[int] = set()
        self.changes: list[str] = []

    def frame_recorded(self, record: FrameRecord) -> None:
        self.records.append(record)
        self.frames.append(record_to_frame(record))
        self.indexes.append(record[1])
        self.keys.add(record[0])

    def connection_changed(self, key: int, connection: Connection) -> None:
        self.keys.add(key)
        self.changes.append(connection.state)


def open_tracker(config: WSInspectConfig | None = None, **kw: Any) -> ConnectionTracker:
    tracker = ConnectionTracker(scope(), config or WSInspectConfig(), 10.0, **kw)
    tracker.receive({"type": "websocket.connect"}, 10.0)
    tracker.send({"type": "websocket.accept", "subprotocol": "chat"}, 10.5)
    return tracker


def test_connection_open_recorded() -> None:
    tracker = ConnectionTracker(scope(), WSInspectConfig(), 10.0, connection_id="abc")
    conn = tracker.connection
    assert (conn.connection_id, conn.state, conn.connected_at) == ("abc", "connecting", 10.0)
    assert (conn.path, conn.query_string, conn.client) == ("/ws/chat", "room=1", "127.0.0.1:5000")
    assert conn.requested_subprotocols == ["chat", "json"]
    tracker.send({"type": "websocket.accept", "subprotocol": "chat"}, 10.5)
    assert (conn.state, conn.accepted_at, conn.subprotocol) == ("open", 10.5, "chat")


def test_connection_id_is_a_uuid4() -> None:
    import uuid

    tracker = ConnectionTracker(scope(), WSInspectConfig(), 1.0)
    assert uuid.UUID(tracker.connection.connection_id).version == 4


def test_secret_headers_are_redacted() -> None:
    headers = dict(ConnectionTracker(scope(), WSInspectConfig(), 1.0).connection.headers)
    assert headers == {"host": "example", "Authorization": "[redacted]", "cookie": "[redacted]"}
    config = WSInspectConfig(redact_headers=frozenset({"HOST"}))
    headers = dict(ConnectionTracker(scope(), config, 1.0).connection.headers)
    assert headers["host"] == "[redacted]"
    assert headers["Authorization"] == "Bearer secret"


def test_text_message_logged_with_content() -> None:
    tracker = open_tracker()
    tracker.receive({"type": "websocket.receive", "text": '{"type": "auth"}'}, 11.0)
    tracker.send({"type": "websocket.send", "text": "héllo"}, 12.0)
    received, sent = tracker.frames
    assert received == Frame(
        direction="received", message_type="text", content='{"type": "auth"}', timestamp=11.0, size_bytes=16
    )
    assert (sent.direction, sent.content, sent.size_bytes) == ("sent", "héllo", 6)
    conn = tracker.connection
    assert (conn.messages_received, conn.bytes_received, conn.messages_sent, conn.bytes_sent) == (1, 16, 1, 6)


def test_empty_frames_are_real_frames() -> None:
    tracker = open_tracker()
    tracker.receive({"type": "websocket.receive", "text": "", "bytes": None}, 11.0)
    tracker.send({"type": "websocket.send", "bytes": b"", "text": None}, 12.0)
    assert [(f.message_type, f.content, f.size_bytes) for f in tracker.frames] == [
        ("text", "", 0),
        ("binary", b"", 0),
    ]
    assert tracker.connection.messages_received == tracker.connection.messages_sent == 1


def test_binary_logged_with_size() -> None:
    tracker = open_tracker()
    payload = bytes(range(256)) * 4
    tracker.send({"type": "websocket.send", "bytes": payload}, 11.0)
    (frame,) = tracker.frames
    assert (frame.message_type, frame.size_bytes, frame.truncated) == ("binary", 1024, False)
    assert frame.content is payload  # kept without a copy
    assert tracker.connection.bytes_sent == 1024


def test_binary_without_preview_keeps_only_the_size() -> None:
    tracker = open_tracker(WSInspectConfig(show_binary_preview=False))
    tracker.receive({"type": "websocket.receive", "bytes": b"secret"}, 11.0)
    (frame,) = tracker.frames
    assert (frame.content, frame.size_bytes) == (None, 6)


def test_large_binary_truncated() -> None:
    tracker = open_tracker(WSInspectConfig(max_message_size=10))
    tracker.receive({"type": "websocket.receive", "bytes": bytearray(b"0123456789abcdef")}, 11.0)
    (frame,) = tracker.frames
    assert (frame.content, frame.size_bytes, frame.truncated) == (b"0123456789", 16, True)
    assert type(frame.content) is bytes


@pytest.mark.parametrize(
    ("text", "limit", "kept"),
    [
        ("abcdef", 4, "abcd"),
        ("ééé", 5, "éé"),  # 6 bytes; the third é would be cut in half
        ("a€b", 3, "a"),  # € is 3 bytes
        ("a€b", 4, "a€"),
        ("😀x", 3, ""),
    ],
)
def test_large_text_truncated_on_a_character_boundary(text: str, limit: int, kept: str) -> None:
    tracker = open_tracker(WSInspectConfig(max_message_size=limit))
    tracker.send({"type": "websocket.send", "text": text}, 11.0)
    (frame,) = tracker.frames
    assert (frame.content, frame.size_bytes, frame.truncated) == (kept, len(text.encode()), True)


def test_text_at_the_limit_is_not_truncated() -> None:
    tracker = open_tracker(WSInspectConfig(max_message_size=4))
    tracker.send({"type": "websocket.send", "text": "abcd"}, 11.0)
    assert tracker.frames[0].truncated is False


def test_cut_text_never_exceeds_the_limit() -> None:
    text = "x€😀é" * 50
    for limit in range(30):
        cut = cut_text(text, limit)
        assert len(cut.encode()) <= limit
        assert text.startswith(cut)
        assert len(cut_text(text, limit + 4).encode()) > len(cut.encode()) or limit + 4 >= len(text.encode())


def test_buffer_limit_respected() -> None:
    tracker = open_tracker(WSInspectConfig(max_messages=3))
    for i in range(10):
        tracker.receive({"type": "websocket.receive", "text": str(i)}, 11.0 + i)
    assert [f.content for f in tracker.frames] == ["7", "8", "9"]
    conn = tracker.connection
    assert (conn.messages_received, conn.messages_dropped) == (10, 7)
    snapshot = tracker.snapshot()
    assert [f.content for f in snapshot.messages] == ["7", "8", "9"]
    assert tracker.connection.messages == []  # the live record holds no copy


def test_close_code_and_reason_recorded() -> None:
    tracker = open_tracker()
    tracker.send({"type": "websocket.close", "code": 4001, "reason": "bye"}, 20.0)
    conn = tracker.connection
    assert (conn.state, conn.close_code, conn.close_reason, conn.closed_by) == (
        "closing",
        4001,
        "bye",
        "server",
    )
    (frame,) = tracker.frames
    assert (frame.direction, frame.message_type, frame.close_code, frame.content) == (
        "sent",
        "close",
        4001,
        "bye",
    )
    assert frame.size_bytes == 5
    tracker.receive({"type": "websocket.disconnect", "code": 4001, "reason": "bye"}, 20.1)
    assert (conn.state, conn.disconnected_at, conn.closed_by, conn.close_code) == (
        "closed",
        20.1,
        "server",
        4001,
    )
    assert len(tracker.frames) == 1  # the server's echo of our own close is no new frame


def test_close_without_code_defaults_to_1000() -> None:
    tracker = open_tracker()
    tracker.send({"type": "websocket.close"}, 20.0)
    assert (tracker.connection.close_code, tracker.connection.close_reason) == (1000, "")


def test_client_close_with_reason() -> None:
    tracker = open_tracker()
    tracker.receive({"type": "websocket.disconnect", "code": 4100, "reason": "leaving"}, 30.0)
    conn = tracker.connection
    assert (conn.state, conn.closed_by, conn.close_code, conn.close_reason) == (
        "closed",
        "client",
        4100,
        "leaving",
    )
    (frame,) = tracker.frames
    assert (frame.direction, frame.message_type, frame.close_code) == ("received", "close", 4100)
    tracker.handler_returned(31.0)
    assert (conn.disconnected_at, conn.closed_by) == (30.0, "client")


def test_client_drop() -> None:
    tracker = open_tracker()
    tracker.receive({"type": "websocket.disconnect", "code": 1006}, 30.0)
    assert (tracker.connection.closed_by, tracker.connection.close_code) == ("client", 1006)


def test_close_before_accept_is_a_denied_upgrade() -> None:
    tracker = ConnectionTracker(scope(), WSInspectConfig(), 1.0)
    tracker.receive({"type": "websocket.connect"}, 1.0)
    tracker.send({"type": "websocket.close", "code": 1008}, 1.5)
    conn = tracker.connection
    assert (conn.state, conn.denial_status, conn.closed_by, conn.disconnected_at) == (
        "closed",
        403,
        "server",
        1.5,
    )
    assert conn.accepted_at is None
    assert list(tracker.frames) == []  # no WebSocket frame ever crossed


def test_denial_response_extension() -> None:
    tracker = ConnectionTracker(scope(), WSInspectConfig(), 1.0)
    tracker.send({"type": "websocket.http.response.start", "status": 401, "headers": []}, 1.1)
    assert (tracker.connection.state, tracker.connection.denial_status) == ("closing", 401)
    tracker.send({"type": "websocket.http.response.body", "body": b"no", "more_body": True}, 1.2)
    assert tracker.connection.state == "closing"
    tracker.send({"type": "websocket.http.response.body", "body": b"pe"}, 1.3)
    conn = tracker.connection
    assert (conn.state, conn.closed_by, conn.disconnected_at) == ("closed", "server", 1.3)


def test_handler_returning_without_close() -> None:
    tracker = open_tracker()
    tracker.handler_returned(40.0)
    conn = tracker.connection
    assert (conn.state, conn.closed_by, conn.close_code, conn.disconnected_at) == (
        "closed",
        "server",
        None,
        40.0,
    )


def test_handler_exception() -> None:
    tracker = open_tracker()
    tracker.handler_failed(ValueError("boom"), 40.0)
    conn = tracker.connection
    assert (conn.state, conn.closed_by, conn.error) == ("closed", "server", "ValueError: boom")
    other = open_tracker()
    other.handler_failed(KeyboardInterrupt(), 40.0)
    assert other.connection.error == "KeyboardInterrupt"


def test_handler_cancelled() -> None:
    tracker = open_tracker()
    tracker.handler_cancelled(40.0)
    conn = tracker.connection
    assert (conn.state, conn.closed_by, conn.error, conn.disconnected_at) == (
        "closed",
        None,
        "cancelled",
        40.0,
    )


def test_a_closing_connection_never_stays_closing() -> None:
    tracker = open_tracker()
    tracker.send({"type": "websocket.close", "code": 1000}, 20.0)
    tracker.handler_returned(21.0)
    assert (tracker.connection.state, tracker.connection.disconnected_at) == ("closed", 21.0)


def test_nothing_after_closed_changes_the_end() -> None:
    tracker = open_tracker()
    tracker.receive({"type": "websocket.disconnect", "code": 1001}, 30.0)
    tracker.receive({"type": "websocket.disconnect", "code": 1006}, 31.0)
    tracker.send({"type": "websocket.close", "code": 1000}, 32.0)
    tracker.send({"type": "websocket.accept"}, 33.0)
    tracker.handler_failed(RuntimeError("late"), 34.0)
    conn = tracker.connection
    assert (conn.state, conn.close_code, conn.disconnected_at, conn.closed_by) == (
        "closed",
        1001,
        30.0,
        "client",
    )
    assert len(tracker.frames) == 1


def test_listener_told_of_frames_and_changes() -> None:
    events = Events()
    tracker = open_tracker(WSInspectConfig(max_messages=2), listener=events)
    for text in "abc":
        tracker.receive({"type": "websocket.receive", "text": text}, 11.0)
    tracker.send({"type": "websocket.close", "code": 1000}, 12.0)
    tracker.handler_returned(13.0)
    assert [f.message_type for f in events.frames] == ["text", "text", "text", "close"]
    assert events.indexes == [0, 1, 2, 3]  # numbered across the buffer's evictions
    assert events.changes == ["connecting", "open", "closed"]


def test_listener_gets_records_naming_the_tracker_by_its_key() -> None:
    events = Events()
    tracker = open_tracker(WSInspectConfig(max_messages=2), listener=events)
    other = open_tracker(listener=Events())
    assert tracker.key != other.key  # keys are unique in the process
    tracker.receive({"type": "websocket.receive", "text": "hi"}, 11.0)
    tracker.send({"type": "websocket.send", "bytes": b"\x01\x02"}, 11.5)
    tracker.send({"type": "websocket.close", "code": 4001, "reason": "bye"}, 12.0)
    assert events.keys == {tracker.key}
    # The records are what the tracker keeps (its newest two), as the wire carries them.
    assert tracker.records() == events.records[-2:]
    assert tracker.frames == events.frames[-2:]
    # received text: code 0; sent binary: code 3; sent close: code 9
    assert events.records[0] == (tracker.key, 0, 11.0, 0, "hi", 2, False, None, None, None)
    assert events.records[1] == (tracker.key, 1, 11.5, 3, b"\x01\x02", 2, False, None, None, None)
    assert events.records[2] == (tracker.key, 2, 12.0, 9, "bye", 5, False, 4001, None, None)


def test_a_listener_not_live_is_told_of_changes_but_not_of_frames() -> None:
    events = Events(live=False)
    tracker = open_tracker(listener=events)
    tracker.receive({"type": "websocket.receive", "text": "a"}, 11.0)
    events.live = True
    tracker.receive({"type": "websocket.receive", "text": "b"}, 11.1)
    tracker.handler_returned(12.0)
    assert [f.content for f in events.frames] == ["b"]
    assert events.indexes == [1]  # the index still counts the frame the listener missed
    assert events.changes == ["connecting", "open", "closed"]
    assert [f.content for f in tracker.frames] == ["a", "b"]  # the tracker keeps both, for a replay


@pytest.mark.parametrize(
    "message",
    [
        None,
        "websocket.receive",
        {},
        {"type": "websocket.receive"},
        {"type": "websocket.receive", "text": 5},
        {"type": "websocket.send", "bytes": "not bytes"},
        {"type": "websocket.close", "code": "x", "reason": 7},
        {"type": "websocket.accept", "subprotocol": 3},
        {"type": "http.request"},
    ],
)
def test_malformed_messages_are_ignored(message: Any) -> None:
    tracker = open_tracker()
    tracker.receive(message, 11.0)
    tracker.send(message, 11.0)
    assert tracker.connection.state in ("open", "closing")


def test_odd_scope_values_do_not_break_the_tracker() -> None:
    odd = {
        "type": "websocket",
        "path": None,
        "headers": [(b"a",), "xx", (1, 2)],
        "subprotocols": 3,
        "client": None,
    }
    conn = ConnectionTracker(odd, WSInspectConfig(), 1.0).connection
    assert (conn.path, conn.query_string, conn.client, conn.requested_subprotocols) == ("", "", None, [])
    assert conn.headers == []


def test_a_1005_without_a_reason_key_is_a_drop() -> None:
    tracker = open_tracker()
    tracker.receive({"type": "websocket.disconnect", "code": 1005}, 30.0)
    assert tracker.connection.close_code == 1006
    other = open_tracker()
    other.receive({"type": "websocket.disconnect", "code": 1005, "reason": ""}, 30.0)
    assert other.connection.close_code == 1005  # a real close frame that carried no code


def test_close_codes_are_plain_ints() -> None:
    import enum

    class Code(enum.IntEnum):
        GOING_AWAY = 1001

    tracker = open_tracker()
    tracker.receive({"type": "websocket.disconnect", "code": Code.GOING_AWAY, "reason": ""}, 30.0)
    assert type(tracker.connection.close_code) is int
    assert type(tracker.frames[-1].close_code) is int


def test_a_send_to_a_client_that_left() -> None:
    tracker = open_tracker()
    tracker.client_gone(50.0)
    conn = tracker.connection
    assert (conn.state, conn.closed_by, conn.close_code, conn.disconnected_at) == ("closed", "client", 1006, 50.0)
    tracker.handler_failed(OSError("gone"), 51.0)
    assert (conn.closed_by, conn.error, conn.disconnected_at) == ("client", "OSError: gone", 50.0)
    closing = open_tracker()
    closing.send({"type": "websocket.close", "code": 1000}, 20.0)
    closing.client_gone(21.0)
    assert (closing.connection.state, closing.connection.close_code) == ("closing", 1000)


# -- a disconnect exception that ends the handler after the client left is no error -------------


class WebSocketDisconnect(Exception):  # Starlette's name (Starlette is not installed)
    pass


class AppDisconnect(WebSocketDisconnect):  # a subclass: recognised along the MRO
    pass


def disconnect_exceptions() -> list[BaseException]:
    from litestar.exceptions import WebSocketDisconnect as LitestarDisconnect
    from uvicorn.protocols.utils import ClientDisconnected

    return [
        LitestarDisconnect(detail="disconnect event", code=1001),
        ClientDisconnected(),
        WebSocketDisconnect(1001),
        AppDisconnect(),
        ConnectionResetError(),
    ]


@pytest.mark.parametrize("exc", disconnect_exceptions(), ids=lambda exc: type(exc).__name__)
def test_a_disconnect_exception_after_the_client_closed_is_the_normal_end(exc: BaseException) -> None:
    assert is_disconnect(exc)
    events = Events()
    tracker = open_tracker(listener=events)
    tracker.receive({"type": "websocket.disconnect", "code": 1001, "reason": ""}, 30.0)
    tracker.error_raised(exc, 30.1)  # the framework's hook (Litestar's after_exception)
    tracker.handler_failed(exc, 30.2)
    conn = tracker.connection
    assert (conn.state, conn.closed_by, conn.close_code, conn.disconnected_at, conn.error) == (
        "closed",
        "client",
        1001,
        30.0,
        None,
    )
    assert events.changes == ["connecting", "open", "closed"]  # no update for a non-error


@pytest.mark.parametrize("exc", disconnect_exceptions(), ids=lambda exc: type(exc).__name__)
def test_a_disconnect_exception_after_a_failed_send_is_the_normal_end(exc: BaseException) -> None:
    tracker = open_tracker()
    tracker.client_gone(30.0)
    tracker.handler_failed(exc, 30.1)
    assert (tracker.connection.closed_by, tracker.connection.close_code, tracker.connection.error) == (
        "client",
        1006,
        None,
    )


@pytest.mark.parametrize("exc", disconnect_exceptions(), ids=lambda exc: type(exc).__name__)
def test_a_disconnect_exception_before_the_client_left_is_an_error(exc: BaseException) -> None:
    tracker = open_tracker()
    tracker.handler_failed(exc, 30.0)
    conn = tracker.connection
    assert (conn.state, conn.closed_by) == ("closed", "server")
    assert conn.error is not None
    assert conn.error.startswith(type(exc).__name__)


def test_the_exception_a_failed_send_raised_is_no_error_whatever_its_type() -> None:
    tracker = open_tracker()
    failure = OSError("no such client")
    tracker.send_failed(failure, {"type": "websocket.send", "text": "x"}, 30.0)
    tracker.handler_failed(failure, 30.1)
    assert (tracker.connection.closed_by, tracker.connection.close_code, tracker.connection.error) == (
        "client",
        1006,
        None,
    )
    other = open_tracker()
    other.send_failed(OSError("no such client"), {"type": "websocket.send", "text": "x"}, 30.0)
    other.handler_failed(OSError("another one"), 30.1)  # not the send's: an error
    assert other.connection.error == "OSError: another one"


def test_a_real_error_after_the_client_closed_stays_an_error() -> None:
    from uvicorn.protocols.utils import ClientDisconnected

    tracker = open_tracker()
    tracker.receive({"type": "websocket.disconnect", "code": 1001, "reason": ""}, 30.0)
    tracker.error_raised(ValueError("cleanup failed"), 30.1)  # Litestar's hook
    # Litestar then sends its close to the departed client: uvicorn raises, the handler ends.
    tracker.send({"type": "websocket.close", "code": 4500, "reason": "Internal Server Error"}, 30.2)
    tracker.handler_failed(ClientDisconnected(), 30.3)
    conn = tracker.connection
    assert (conn.closed_by, conn.close_code, conn.error) == ("client", 1001, "ValueError: cleanup failed")
    raw = open_tracker()
    raw.receive({"type": "websocket.disconnect", "code": 1000, "reason": ""}, 30.0)
    raw.handler_failed(ValueError("cleanup failed"), 30.1)
    assert raw.connection.error == "ValueError: cleanup failed"


def test_is_disconnect() -> None:
    assert not is_disconnect(ValueError("x"))
    assert not is_disconnect(OSError("x"))
    assert not is_disconnect(KeyboardInterrupt())
    assert is_disconnect(BrokenPipeError())


# -- pings, pongs and the keepalive timeout (reported by the server, not by ASGI) ---------------


def control_list(tracker: ConnectionTracker) -> list[tuple[Any, ...]]:
    return [(f.direction, f.message_type, f.content, f.size_bytes, f.truncated, f.timestamp) for f in tracker.frames]


def test_ping_and_pong_frames_are_recorded_but_not_counted() -> None:
    tracker = open_tracker()
    tracker.receive({"type": "websocket.receive", "text": "hi"}, 11.0)
    tracker.control_frame("sent", "ping", b"\x01\x02\x03\x04", 12.0)
    tracker.control_frame("received", "pong", b"\x01\x02\x03\x04", 12.1, rtt=0.1)
    tracker.control_frame("received", "ping", b"client", 13.0)
    tracker.control_frame("sent", "pong", b"client", 13.0)
    tracker.control_frame("received", "pong", b"", 14.0)  # unasked: no round-trip time
    assert control_list(tracker)[1:] == [
        ("sent", "ping", b"\x01\x02\x03\x04", 4, False, 12.0),
        ("received", "pong", b"\x01\x02\x03\x04", 4, False, 12.1),
        ("received", "ping", b"client", 6, False, 13.0),
        ("sent", "pong", b"client", 6, False, 13.0),
        ("received", "pong", b"", 0, False, 14.0),
    ]
    conn = tracker.connection
    # Only text and binary messages count.
    assert (conn.messages_sent, conn.messages_received, conn.bytes_sent, conn.bytes_received) == (0, 1, 0, 2)
    assert (conn.last_rtt, conn.avg_rtt) == (0.1, 0.1)
    assert conn.state == "open"


def test_round_trip_times_last_and_mean() -> None:
    tracker = open_tracker()
    conn = tracker.connection
    assert (conn.last_rtt, conn.avg_rtt) == (None, None)
    for rtt in (0.1, 0.3, 0.2):
        tracker.control_frame("received", "pong", b"p", 12.0, rtt)
    assert conn.last_rtt == 0.2
    assert conn.avg_rtt == pytest.approx(0.2)
    for odd in (-1.0, float("nan"), float("inf"), "0.5"):
        tracker.control_frame("received", "pong", b"p", 13.0, odd)  # type: ignore[arg-type]
    assert conn.last_rtt == 0.2
    assert conn.avg_rtt == pytest.approx(0.2)
    assert len(tracker.frames) == 7  # the pongs themselves are recorded


def test_ping_payloads_follow_the_binary_rules() -> None:
    cut = open_tracker(WSInspectConfig(max_message_size=2))
    cut.control_frame("sent", "ping", b"abcd", 12.0)
    cut.control_frame("received", "pong", bytearray(b"ab"), 12.0)
    cut.control_frame("received", "ping", memoryview(b"xyz"), 12.0)
    assert [(f.content, f.size_bytes, f.truncated) for f in cut.frames] == [
        (b"ab", 4, True),
        (b"ab", 2, False),
        (b"xy", 3, True),
    ]
    assert all(type(f.content) is bytes for f in cut.frames)
    hidden = open_tracker(WSInspectConfig(show_binary_preview=False))
    hidden.control_frame("sent", "ping", b"abcd", 12.0)
    assert [(f.content, f.size_bytes) for f in hidden.frames] == [(None, 4)]


@pytest.mark.parametrize(
    ("direction", "message_type", "payload"),
    [("sent", "text", b"x"), ("sent", "close", b"x"), ("sent", "ping", "not bytes"), ("sent", "pong", None)],
)
def test_odd_control_frames_are_ignored(direction: Any, message_type: Any, payload: Any) -> None:
    tracker = open_tracker()
    tracker.control_frame(direction, message_type, payload, 12.0)
    assert len(tracker.frames) == 0


def test_no_control_frames_after_the_connection_closed() -> None:
    tracker = open_tracker()
    tracker.send({"type": "websocket.close", "code": 1000}, 20.0)
    tracker.control_frame("received", "ping", b"x", 20.5)  # closing: still recorded
    tracker.handler_returned(21.0)
    tracker.control_frame("received", "ping", b"y", 22.0)
    tracker.control_frame("received", "pong", b"y", 22.0, 0.1)
    assert [f.message_type for f in tracker.frames] == ["close", "ping"]
    assert tracker.connection.last_rtt is None


def test_control_observable() -> None:
    events = Events()
    tracker = ConnectionTracker(scope(), WSInspectConfig(), 10.0, listener=events)
    assert tracker.connection.ping_observable is False
    tracker.control_observable(10.0)
    tracker.control_observable(10.0)
    assert tracker.connection.ping_observable is True
    assert events.changes == ["connecting", "connecting"]  # told once


def test_listener_told_of_control_frames_and_round_trip_times() -> None:
    events = Events()
    tracker = open_tracker(listener=events)
    tracker.control_frame("sent", "ping", b"p", 12.0)
    tracker.control_frame("received", "pong", b"p", 12.1, 0.1)
    tracker.control_frame("received", "pong", b"q", 12.2)
    assert [f.message_type for f in events.frames] == ["ping", "pong", "pong"]
    assert events.indexes == [0, 1, 2]
    assert events.changes == ["connecting", "open", "open"]  # the round-trip time changed once


def test_keepalive_timeout_ends_the_connection() -> None:
    events = Events()
    tracker = open_tracker(listener=events)
    tracker.control_frame("sent", "ping", b"p", 12.0)
    tracker.keepalive_timeout(13.0)
    conn = tracker.connection
    assert (conn.state, conn.closed_by, conn.close_code, conn.close_reason, conn.disconnected_at) == (
        "closed",
        "server",
        1011,
        "keepalive ping timeout",
        13.0,
    )
    assert (tracker.frames[-1].direction, tracker.frames[-1].message_type, tracker.frames[-1].close_code) == (
        "sent",
        "close",
        1011,
    )
    assert tracker.frames[-1].content == "keepalive ping timeout"
    assert tracker.frames[-1].size_bytes == 2 + len("keepalive ping timeout")
    # What uvicorn tells the app next (the transport it closed: 1005 without a reason), the
    # failed sends and the handler's end change nothing and record nothing.
    recorded = len(tracker.frames)
    tracker.receive({"type": "websocket.disconnect", "code": 1005}, 13.1)
    tracker.client_gone(13.2)
    tracker.keepalive_timeout(13.3)
    tracker.handler_returned(13.4)
    assert len(tracker.frames) == recorded
    assert (conn.state, conn.closed_by, conn.close_code, conn.disconnected_at, conn.error) == (
        "closed",
        "server",
        1011,
        13.0,
        None,
    )
    assert events.changes == ["connecting", "open", "closed"]


def test_keepalive_timeout_after_the_app_closed_changes_nothing() -> None:
    tracker = open_tracker()
    tracker.send({"type": "websocket.close", "code": 4000, "reason": "mine"}, 20.0)
    tracker.keepalive_timeout(21.0)
    conn = tracker.connection
    assert (conn.state, conn.close_code, conn.close_reason) == ("closing", 4000, "mine")
    assert [f.close_code for f in tracker.frames] == [4000]
