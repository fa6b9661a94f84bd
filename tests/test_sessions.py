"""Session files: the contract's session JSON, HAR 1.2 export/import, atomic writes and refusals."""

from __future__ import annotations

import base64
import gzip
import itertools
import json
import os
import threading
import tracemalloc
from pathlib import Path
from typing import Any

import msgspec
import pytest
from helpers.factories import binary_frame, close_frame, control_frame, text_frame

from wsinspect.model import Connection
from wsinspect.sessions import (
    SessionFileError,
    check_writable,
    dumps,
    har_left_out,
    jsonfile,
    loads,
    read_session,
    write_session,
)
from wsinspect.sessions import base as sessions_base

EXPORTED_AT = 1764350000.123
UNICODE = 'héllo wörld — 你好 🎉 \u0000 "quoted" \\ \n'

CONNECTION_KEYS = {
    "connection_id",
    "path",
    "query_string",
    "subprotocol",
    "state",
    "connected_at",
    "accepted_at",
    "disconnected_at",
    "close_code",
    "close_reason",
    "closed_by",
    "messages_sent",
    "messages_received",
    "bytes_sent",
    "bytes_received",
    "messages_dropped",
    "messages",
}
FRAME_KEYS = {"direction", "message_type", "content", "timestamp", "size_bytes", "truncated"}


def chat_connection() -> Connection:
    return Connection(
        connection_id="0b6f8e2a-1111-4222-8333-444455556666",
        path="/ws/chat",
        query_string="room=1&user=al%20ice",
        subprotocol="chat.v1",
        state="closed",
        connected_at=1764349990.001,
        accepted_at=1764349990.002,
        disconnected_at=1764349995.5,
        close_code=4001,
        close_reason="bye",
        closed_by="server",
        messages_sent=5,
        messages_received=4,
        bytes_sent=1834,
        bytes_received=977,
        messages_dropped=2,
        client="127.0.0.1:50123",
        scheme="ws",
        headers=[("host", "example.test:8000"), ("authorization", "[redacted]"), ("x-dup", "1"), ("x-dup", "2")],
        requested_subprotocols=["chat.v1", "chat.v0"],
        pid=4242,
        app="chat-app",
        messages=[
            text_frame('{"type": "auth"}', direction="received", at=1764349990.05),
            text_frame(UNICODE, at=1764349990.06),
            binary_frame(b"\x00\x01\xfe\xff binary", at=1764349990.07),
            text_frame("", direction="received", at=1764349990.08),
            binary_frame(b"", direction="received", at=1764349990.09),
        ],
    )


def full_connection() -> Connection:
    """Every kind of frame, including those only the session JSON (not HAR) carries."""
    connection = chat_connection()
    connection.messages += [
        text_frame("cut her", at=1764349991.0, size=20000, truncated=True),
        binary_frame(b"\x10" * 8, direction="received", at=1764349991.1, size=90000, truncated=True),
        binary_frame(None, at=1764349991.2, size=77),  # payload not recorded
        control_frame("ping", b"are you there", at=1764349991.3),
        control_frame("pong", b"are you there", direction="received", at=1764349991.4),
        close_frame(4001, "bye", at=1764349995.4),
    ]
    return connection


def other_connection() -> Connection:
    return Connection(
        connection_id="1c7a0000-2222-4333-8444-555566667777",
        path="/ws/denied",
        state="closed",
        connected_at=1764349989.0,
        disconnected_at=1764349989.1,
        close_code=1008,
        closed_by="server",
        denial_status=403,
        error="PermissionError: nope",
        scheme="wss",
    )


# -- session JSON ----------------------------------------------------------------------------


def test_session_round_trips_exactly() -> None:
    connections = [full_connection(), other_connection()]
    session = loads(dumps(connections, EXPORTED_AT))
    assert session.format == "wsinspect.session"
    assert session.version == 1
    assert session.exported_at == EXPORTED_AT
    assert session.connections == connections


def test_round_trip_keeps_python_types() -> None:
    (connection,) = loads(dumps([full_connection()], EXPORTED_AT)).connections
    by_kind = [(frame.message_type, type(frame.content)) for frame in connection.messages]
    assert by_kind == [
        ("text", str),
        ("text", str),
        ("binary", bytes),
        ("text", str),
        ("binary", bytes),
        ("text", str),
        ("binary", bytes),
        ("binary", type(None)),
        ("ping", bytes),
        ("pong", bytes),
        ("close", str),
    ]
    assert connection.messages[1].content == UNICODE
    assert connection.messages[3].content == ""
    assert connection.messages[4].content == b""
    assert connection.messages[5].truncated is True
    assert connection.messages[5].size_bytes == 20000
    assert connection.messages[10].close_code == 4001
    assert connection.headers[1] == ("authorization", "[redacted]")
    assert all(isinstance(pair, tuple) for pair in connection.headers)


def test_session_json_has_the_contract_keys() -> None:
    document = json.loads(dumps([full_connection()], EXPORTED_AT))
    assert {"format", "version", "exported_at", "connections"} <= document.keys()
    assert document["format"] == "wsinspect.session"
    assert document["version"] == 1
    assert document["exported_at"] == EXPORTED_AT
    (connection,) = document["connections"]
    assert connection.keys() >= CONNECTION_KEYS
    assert connection["connection_id"] == "0b6f8e2a-1111-4222-8333-444455556666"
    assert connection["state"] == "closed"
    assert connection["closed_by"] == "server"
    assert connection["subprotocol"] == "chat.v1"
    assert connection["close_code"] == 4001
    assert connection["messages_dropped"] == 2
    assert isinstance(connection["connected_at"], float)
    frames = connection["messages"]
    for frame in frames:
        assert frame.keys() >= FRAME_KEYS
    assert frames[0]["direction"] == "received"
    assert frames[0]["content"] == '{"type": "auth"}'  # text is the text itself
    assert frames[1]["content"] == UNICODE
    assert frames[2]["content"] == base64.b64encode(b"\x00\x01\xfe\xff binary").decode()  # binary is base64
    assert frames[4]["content"] == ""
    assert frames[5]["truncated"] is True
    assert frames[5]["size_bytes"] == 20000
    assert frames[7]["content"] is None  # not recorded
    assert frames[8]["message_type"] == "ping"
    assert frames[8]["content"] == base64.b64encode(b"are you there").decode()
    assert frames[10]["message_type"] == "close"
    assert frames[10]["content"] == "bye"


def test_session_json_is_utf8_text() -> None:
    data = dumps([chat_connection()], EXPORTED_AT)
    assert isinstance(data, bytes)
    assert json.loads(data.decode("utf-8"))["connections"][0]["messages"][1]["content"] == UNICODE


def test_empty_session_round_trips() -> None:
    session = loads(dumps([], 5.0))
    assert session.connections == []
    assert session.exported_at == 5.0


def test_contract_example_loads() -> None:
    example = b"""{
      "format": "wsinspect.session",
      "version": 1,
      "exported_at": 1764350000.123,
      "connections": [
        {
          "connection_id": "0b6f\xe2\x80\xa6",
          "path": "/ws/chat",
          "query_string": "room=1",
          "subprotocol": null,
          "state": "closed",
          "connected_at": 1764349990.001,
          "accepted_at": 1764349990.002,
          "disconnected_at": 1764349995.500,
          "close_code": 4001,
          "close_reason": "bye",
          "closed_by": "server",
          "messages_sent": 15,
          "messages_received": 23,
          "bytes_sent": 1834,
          "bytes_received": 977,
          "messages_dropped": 0,
          "messages": [
            {"direction": "received", "message_type": "text", "content": "{\\"type\\": \\"auth\\"}",
             "timestamp": 1764349990.050, "size_bytes": 16, "truncated": false}
          ]
        }
      ]
    }"""
    (connection,) = loads(example).connections
    assert connection.connection_id == "0b6f…"
    assert connection.close_code == 4001
    assert connection.messages_received == 23
    assert connection.messages[0].content == '{"type": "auth"}'
    assert connection.messages[0].direction == "received"


def test_readers_ignore_unknown_keys() -> None:
    document = json.loads(dumps([chat_connection()], EXPORTED_AT))
    document["comment"] = "made by a newer wsinspect"
    document["connections"][0]["rtt_ms"] = [1.5, 2.0]
    document["connections"][0]["messages"][0]["annotation"] = "x"
    session = loads(json.dumps(document).encode())
    assert session.connections == [chat_connection()]


# -- writing files ---------------------------------------------------------------------------


def test_write_session_writes_dumps_and_leaves_no_temporary(tmp_path: Path) -> None:
    path = tmp_path / "session.json"
    write_session(path, [full_connection()], EXPORTED_AT)
    assert os.listdir(tmp_path) == ["session.json"]
    assert path.read_bytes() == dumps([full_connection()], EXPORTED_AT)
    assert read_session(path).connections == [full_connection()]


def test_write_session_replaces_an_existing_file_whole(tmp_path: Path) -> None:
    path = tmp_path / "session.json"
    old = b"OLD" * 100_000  # longer than the new content: no tail may survive
    path.write_bytes(old)
    link = tmp_path / "hardlink-to-old"
    os.link(path, link)
    write_session(path, [other_connection()], EXPORTED_AT)
    assert path.read_bytes() == dumps([other_connection()], EXPORTED_AT)
    # Renamed over, not rewritten in place: the old inode (seen through the link) is untouched.
    assert link.read_bytes() == old
    assert sorted(os.listdir(tmp_path)) == ["hardlink-to-old", "session.json"]


def test_write_session_failure_leaves_the_old_file_and_no_temporary(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "session.json"
    path.write_bytes(b"previous")

    def refuse(src: Any, dst: Any) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", refuse)
    with pytest.raises(SessionFileError) as info:
        write_session(path, [chat_connection()], EXPORTED_AT)
    monkeypatch.undo()
    assert "\n" not in str(info.value)
    assert str(path) in str(info.value)
    assert path.read_bytes() == b"previous"
    assert os.listdir(tmp_path) == ["session.json"]


def test_write_session_in_a_missing_directory(tmp_path: Path) -> None:
    path = tmp_path / "missing" / "session.json"
    with pytest.raises(SessionFileError) as info:
        write_session(path, [chat_connection()], EXPORTED_AT)
    message = str(info.value)
    assert message
    assert "\n" not in message
    assert str(path) in message
    assert not (tmp_path / "missing").exists()


def test_write_session_onto_a_directory(tmp_path: Path) -> None:
    target = tmp_path / "dir.json"
    target.mkdir()
    with pytest.raises(SessionFileError) as info:
        write_session(target, [chat_connection()], EXPORTED_AT)
    assert "\n" not in str(info.value)
    assert os.listdir(tmp_path) == ["dir.json"]  # no temporary left behind
    assert target.is_dir()


def test_written_file_is_readable_by_others(tmp_path: Path) -> None:
    path = tmp_path / "session.json"
    old = os.umask(0o022)
    try:
        write_session(path, [], EXPORTED_AT)
    finally:
        os.umask(old)
    assert path.stat().st_mode & 0o777 == 0o644  # not mkstemp's 0600


def test_check_writable(tmp_path: Path) -> None:
    check_writable(tmp_path / "fine.json")  # no error
    assert not (tmp_path / "fine.json").exists()  # and nothing created
    existing = tmp_path / "existing.json"
    existing.write_bytes(b"x")
    check_writable(existing)


def test_check_writable_refuses_a_directory(tmp_path: Path) -> None:
    with pytest.raises(SessionFileError, match="directory") as info:
        check_writable(tmp_path)
    assert str(tmp_path) in str(info.value)
    assert "\n" not in str(info.value)


def test_check_writable_refuses_a_missing_directory(tmp_path: Path) -> None:
    path = tmp_path / "nope" / "out.json"
    with pytest.raises(SessionFileError, match="does not exist") as info:
        check_writable(path)
    assert str(tmp_path / "nope") in str(info.value)
    assert "\n" not in str(info.value)


def test_read_session_of_a_missing_file_names_the_path(tmp_path: Path) -> None:
    path = tmp_path / "absent.json"
    with pytest.raises(SessionFileError) as info:
        read_session(path)
    assert str(path) in str(info.value)
    assert "\n" not in str(info.value)


def test_read_session_of_a_bad_file_names_the_path(tmp_path: Path) -> None:
    path = tmp_path / "bad.json"
    path.write_bytes(b"{not json")
    with pytest.raises(SessionFileError) as info:
        read_session(path)
    assert str(path) in str(info.value)
    assert "JSON" in str(info.value)


# -- refusals --------------------------------------------------------------------------------


@pytest.mark.parametrize("data", [b"{not json", b"", b"\xff\xfe\x00", b"[1, 2", b"nul"])
def test_loads_refuses_non_json(data: bytes) -> None:
    with pytest.raises(SessionFileError, match="JSON"):
        loads(data)


@pytest.mark.parametrize(
    "document",
    [
        {"format": "something.else", "version": 1, "connections": []},
        {"version": 1, "connections": []},
        {"connections": []},
        [],
        "wsinspect.session",
        None,
        42,
        {"log": "not an object"},
    ],
)
def test_loads_refuses_json_of_neither_format(document: Any) -> None:
    with pytest.raises(SessionFileError, match="neither"):
        loads(json.dumps(document).encode())


@pytest.mark.parametrize("version", [2, 0, 99])
def test_loads_refuses_another_version_naming_it(version: int) -> None:
    document = json.loads(dumps([chat_connection()], EXPORTED_AT))
    document["version"] = version
    with pytest.raises(SessionFileError) as info:
        loads(json.dumps(document).encode())
    assert str(version) in str(info.value)
    assert "version" in str(info.value)


@pytest.mark.parametrize("kind", ["binary", "ping", "pong"])
@pytest.mark.parametrize("content", ["not base64!", "abc", "@@@@"])
def test_loads_refuses_binary_content_that_is_not_base64(kind: str, content: str) -> None:
    document = json.loads(dumps([chat_connection()], EXPORTED_AT))
    document["connections"][0]["messages"][2]["message_type"] = kind
    document["connections"][0]["messages"][2]["content"] = content
    with pytest.raises(SessionFileError, match="base64"):
        loads(json.dumps(document).encode())


def test_loads_refuses_a_session_of_the_wrong_shape() -> None:
    document = json.loads(dumps([chat_connection()], EXPORTED_AT))
    document["connections"][0]["state"] = "exploded"
    with pytest.raises(SessionFileError):
        loads(json.dumps(document).encode())
    document = json.loads(dumps([chat_connection()], EXPORTED_AT))
    document["connections"] = "none"
    with pytest.raises(SessionFileError):
        loads(json.dumps(document).encode())


# -- HAR -------------------------------------------------------------------------------------


def har_of(connections: list[Connection]) -> dict[str, Any]:
    document: dict[str, Any] = json.loads(dumps(connections, EXPORTED_AT, har=True))
    return document


def test_har_has_the_har_1_2_shape() -> None:
    document = har_of([chat_connection(), other_connection()])
    log = document["log"]
    assert log["version"] == "1.2"
    assert log["creator"]["name"] == "wsinspect"
    assert isinstance(log["creator"]["version"], str)
    entries = log["entries"]
    assert len(entries) == 2
    for entry in entries:
        assert {"startedDateTime", "time", "request", "response", "cache", "timings"} <= entry.keys()
        assert {"method", "url", "httpVersion", "cookies", "headers", "queryString", "headersSize", "bodySize"} <= (
            entry["request"].keys()
        )
        assert {
            "status",
            "statusText",
            "httpVersion",
            "cookies",
            "headers",
            "content",
            "redirectURL",
            "headersSize",
            "bodySize",
        } <= entry["response"].keys()
        assert {"send", "wait", "receive"} <= entry["timings"].keys()
        assert entry["_resourceType"] == "websocket"
        assert entry["startedDateTime"].endswith("Z")
        assert isinstance(entry["_webSocketMessages"], list)
    chat, denied = entries
    assert chat["request"]["method"] == "GET"
    assert chat["request"]["url"] == "ws://example.test:8000/ws/chat?room=1&user=al%20ice"
    assert {"name": "room", "value": "1"} in chat["request"]["queryString"]
    assert {"name": "authorization", "value": "[redacted]"} in chat["request"]["headers"]
    assert chat["response"]["status"] == 101
    assert chat["time"] == pytest.approx((1764349995.5 - 1764349990.001) * 1000, abs=0.01)
    assert chat["startedDateTime"].startswith("2025-11-28T")
    assert denied["response"]["status"] == 403  # refused before accept
    assert denied["request"]["url"].startswith("wss://")


def test_har_directions_are_the_clients_point_of_view() -> None:
    messages = har_of([chat_connection()])["log"]["entries"][0]["_webSocketMessages"]
    frames = chat_connection().messages
    assert len(messages) == len(frames)
    # HAR is the client's record: "send" = the app RECEIVED it, "receive" = the app SENT it.
    assert [m["type"] for m in messages] == ["send", "receive", "receive", "send", "send"]
    assert [m["opcode"] for m in messages] == [1, 1, 2, 1, 2]
    assert messages[0]["data"] == '{"type": "auth"}'
    assert messages[1]["data"] == UNICODE
    assert messages[2]["data"] == base64.b64encode(b"\x00\x01\xfe\xff binary").decode()
    assert messages[3]["data"] == ""
    assert messages[4]["data"] == ""
    assert [m["time"] for m in messages] == [frame.timestamp for frame in frames]


def test_har_round_trips_frames_and_metadata() -> None:
    connections = [chat_connection(), other_connection()]
    session = loads(dumps(connections, EXPORTED_AT, har=True))
    assert len(session.connections) == 2
    chat, denied = session.connections
    assert chat.messages == chat_connection().messages
    assert isinstance(chat.messages[2].content, bytes)
    assert isinstance(chat.messages[4].content, bytes)
    # The wsinspect metadata comes back too (from the entry's _wsinspect key).
    assert msgspec.structs.replace(chat, messages=[]) == msgspec.structs.replace(chat_connection(), messages=[])
    assert (chat.close_code, chat.close_reason, chat.closed_by) == (4001, "bye", "server")
    assert (chat.pid, chat.app) == (4242, "chat-app")
    assert chat.headers == chat_connection().headers
    assert denied == other_connection()


def test_har_drops_frames_browsers_do_not_show_but_keeps_the_close_metadata() -> None:
    document = har_of([full_connection()])
    messages = document["log"]["entries"][0]["_webSocketMessages"]
    assert all(m["opcode"] in (1, 2) for m in messages)
    (connection,) = loads(json.dumps(document).encode()).connections
    assert [fr.message_type for fr in connection.messages] == [
        fr.message_type for fr in full_connection().messages if fr.message_type in ("text", "binary")
    ]
    assert connection.close_code == 4001
    assert connection.state == "closed"


def test_write_session_with_har_suffix(tmp_path: Path) -> None:
    for name in ("out.har", "OUT.HAR"):
        path = tmp_path / name
        write_session(path, [chat_connection()], EXPORTED_AT)
        assert json.loads(path.read_bytes())["log"]["version"] == "1.2"
        assert read_session(path).connections == [chat_connection()]
    assert sorted(os.listdir(tmp_path)) == ["OUT.HAR", "out.har"]


def browser_har() -> dict[str, Any]:
    """What Chrome's "Save all as HAR" writes: no _wsinspect key, plain HTTP entries mixed in."""
    return {
        "log": {
            "version": "1.2",
            "creator": {"name": "WebInspector", "version": "537.36"},
            "pages": [],
            "entries": [
                {
                    "startedDateTime": "2025-01-02T03:04:05.000Z",
                    "time": 12.5,
                    "request": {
                        "method": "GET",
                        "url": "https://example.com/index.html",
                        "httpVersion": "HTTP/1.1",
                        "headers": [],
                        "queryString": [],
                        "cookies": [],
                        "headersSize": -1,
                        "bodySize": 0,
                    },
                    "response": {"status": 200, "statusText": "OK", "content": {"size": 5, "mimeType": "text/html"}},
                    "cache": {},
                    "timings": {"send": 0, "wait": 10, "receive": 2.5},
                    "_resourceType": "document",
                },
                {
                    "startedDateTime": "2025-01-02T03:04:06.250Z",
                    "time": 4000,
                    "request": {
                        "method": "GET",
                        "url": "wss://example.com/ws/chat?room=7",
                        "httpVersion": "HTTP/1.1",
                        "headers": [
                            {"name": "Host", "value": "example.com"},
                            {"name": "Upgrade", "value": "websocket"},
                        ],
                        "queryString": [{"name": "room", "value": "7"}],
                        "cookies": [],
                        "headersSize": -1,
                        "bodySize": 0,
                    },
                    "response": {"status": 101, "statusText": "Switching Protocols"},
                    "cache": {},
                    "timings": {"send": 0, "wait": 0, "receive": 0},
                    "_resourceType": "websocket",
                    "_webSocketMessages": [
                        {"type": "send", "time": 1735787046.5, "opcode": 1, "data": "hello server"},
                        {"type": "receive", "time": 1735787046.6, "opcode": 1, "data": "hello client ✓"},
                        {"type": "receive", "time": 1735787046.7, "opcode": 2, "data": "AAEC/w=="},
                    ],
                },
            ],
        }
    }


def test_browser_har_loads_with_the_right_directions() -> None:
    session = loads(json.dumps(browser_har()).encode())
    (connection,) = session.connections  # the plain HTTP entry is skipped
    assert connection.path == "/ws/chat"
    assert connection.query_string == "room=7"
    assert connection.connected_at == pytest.approx(1735787046.25)
    assert connection.disconnected_at == pytest.approx(1735787050.25)
    assert connection.state == "closed"
    frames = connection.messages
    assert [fr.direction for fr in frames] == ["received", "sent", "sent"]  # client "send" = app received
    assert [fr.message_type for fr in frames] == ["text", "text", "binary"]
    assert frames[0].content == "hello server"
    assert frames[1].content == "hello client ✓"
    assert frames[2].content == b"\x00\x01\x02\xff"
    assert [fr.size_bytes for fr in frames] == [12, len("hello client ✓".encode()), 4]
    assert [fr.timestamp for fr in frames] == [1735787046.5, 1735787046.6, 1735787046.7]
    assert (connection.messages_sent, connection.messages_received) == (2, 1)
    assert connection.bytes_received == 12
    assert ("Host", "example.com") in connection.headers


def test_har_without_entries_is_refused() -> None:
    with pytest.raises(SessionFileError):
        loads(b'{"log": {"version": "1.2"}}')


def test_har_binary_message_that_is_not_base64_is_refused() -> None:
    document = browser_har()
    document["log"]["entries"][1]["_webSocketMessages"][2]["data"] = "%%% not base64 %%%"
    with pytest.raises(SessionFileError, match="base64"):
        loads(json.dumps(document).encode())


@pytest.mark.parametrize(
    "breakage",
    [
        ("_webSocketMessages", ["not a message object"]),
        ("_webSocketMessages", [{"opcode": 1, "data": "x"}]),  # no type, no time
        ("_webSocketMessages", 5),
        ("request", {"url": 5}),
        ("request", "nope"),
        ("startedDateTime", 5),
        ("startedDateTime", "yesterday"),
        ("_wsinspect", {"connection_id": 1}),
    ],
    ids=[
        "message-not-object",
        "message-missing-keys",
        "messages-not-list",
        "url-not-str",
        "request-not-object",
        "date-not-str",
        "date-garbage",
        "wsinspect-key-invalid",
    ],
)
def test_malformed_har_entry_is_a_session_file_error(breakage: tuple[str, Any]) -> None:
    """Any malformed HAR must end in SessionFileError (the CLI prints it as one line, no traceback)."""
    key, value = breakage
    document = browser_har()
    document["log"]["entries"][1][key] = value
    with pytest.raises(SessionFileError):
        loads(json.dumps(document).encode())


# -- why frames are missing: the extra keys messages_not_kept and messages_lost -------------------


def test_not_kept_and_lost_round_trip_as_extra_keys_after_messages_dropped() -> None:
    connection = msgspec.structs.replace(chat_connection(), messages_dropped=7, messages_not_kept=5, messages_lost=2)
    document = json.loads(dumps([connection], EXPORTED_AT))
    keys = list(document["connections"][0])
    assert keys[keys.index("messages_dropped") + 1 : keys.index("messages_dropped") + 3] == [
        "messages_not_kept",
        "messages_lost",
    ]
    (loaded,) = loads(dumps([connection], EXPORTED_AT)).connections
    assert (loaded.messages_dropped, loaded.messages_not_kept, loaded.messages_lost) == (7, 5, 2)
    (from_har,) = loads(dumps([connection], EXPORTED_AT, har=True)).connections
    assert (from_har.messages_not_kept, from_har.messages_lost) == (5, 2)


def test_a_file_written_before_not_kept_and_lost_loads_with_zeros() -> None:
    document = json.loads(dumps([chat_connection()], EXPORTED_AT))
    for connection in document["connections"]:
        del connection["messages_not_kept"], connection["messages_lost"]
    (loaded,) = loads(json.dumps(document).encode()).connections
    assert (loaded.messages_dropped, loaded.messages_not_kept, loaded.messages_lost) == (2, 0, 0)


# -- a file is a fixed moment: when it was exported -------------------------------------------


def test_a_har_file_says_when_it_was_exported() -> None:
    assert loads(dumps([chat_connection()], EXPORTED_AT, har=True)).exported_at == EXPORTED_AT
    assert har_of([])["log"]["_wsinspect"] == {"exported_at": EXPORTED_AT}


def test_a_browser_har_is_as_of_the_latest_moment_it_records() -> None:
    # Chrome writes no export time: the WebSocket entry ends at startedDateTime + time (4 s).
    assert loads(json.dumps(browser_har()).encode()).exported_at == pytest.approx(1735787050.25)
    document = browser_har()
    document["log"]["_wsinspect"] = {"exported_at": "yesterday"}  # not a time: ignored
    assert loads(json.dumps(document).encode()).exported_at == pytest.approx(1735787050.25)
    assert loads(b'{"log": {"entries": []}}').exported_at == 0.0


# -- what a file has no place for -------------------------------------------------------------


def test_write_session_says_what_it_wrote(tmp_path: Path) -> None:
    written = write_session(tmp_path / "s.json", [full_connection(), other_connection()], EXPORTED_AT)
    assert (written.connections, written.frames, written.total, written.omitted) == (2, 11, 11, 0)
    assert (written.har, written.left_out, written.left_out_text()) == (False, {}, "")
    assert written.summary() == f"wrote 2 connections, 11 frames to {tmp_path / 's.json'}"


def test_har_export_says_which_frames_it_left_out(tmp_path: Path) -> None:
    path = tmp_path / "x.har"
    written = write_session(path, [full_connection(), other_connection()], EXPORTED_AT)
    # full_connection: 8 texts and binaries, a ping, a pong and a close.
    assert (written.har, written.frames, written.total, written.omitted) == (True, 8, 11, 3)
    assert written.left_out == {"ping": 1, "pong": 1, "close": 1}
    assert written.left_out_text() == "3 pings, pongs and closes have no place in HAR"
    assert written.summary() == (
        f"wrote 2 connections, 8 frames of 11 to {path} (3 pings, pongs and closes have no place in HAR)"
    )
    assert len(read_session(path).connections[0].messages) == written.frames


def test_left_out_text_counts_with_separators_and_agrees_in_number(tmp_path: Path) -> None:
    many = Connection(
        connection_id="m",
        path="/m",
        connected_at=1.0,
        messages=[text_frame("t")] * 2193 + [control_frame("ping")] * 700 + [control_frame("pong")] * 60,
    )
    written = write_session(tmp_path / "m.har", [many], EXPORTED_AT)
    assert written.summary() == (
        f"wrote 1 connection, 2,193 frames of 2,953 to {tmp_path / 'm.har'} (760 pings and pongs have no place in HAR)"
    )
    one = Connection(connection_id="o", path="/o", connected_at=1.0, messages=[text_frame("t"), close_frame(1000)])
    assert write_session(tmp_path / "o.har", [one], EXPORTED_AT).left_out_text() == "1 close has no place in HAR"
    assert har_left_out([many, one]) == {"ping": 700, "pong": 60, "close": 1}


# -- a file that is not whole ----------------------------------------------------------------


def test_a_truncated_session_says_so_and_where() -> None:
    data = dumps([chat_connection()], EXPORTED_AT)
    cut = data[:200]
    line = cut.count(b"\n") + 1
    column = len(cut.rsplit(b"\n", 1)[1].rstrip()) + 1
    with pytest.raises(SessionFileError) as info:
        loads(cut)
    message = str(info.value)
    assert message == (
        f"truncated JSON: the file ends early, at line {line}, column {column} (byte {len(cut.rstrip())}), "
        "before the document is complete"
    )


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "an empty file, not JSON"),
        (b"  \n", "an empty file, not JSON"),
        (b"hello world\n", "not a JSON file: invalid character at line 1, column 1 (byte 0)"),
        (b"\x89PNG\r\n\x1a\n", "not a JSON file: invalid character at line 1, column 1 (byte 0)"),
        (b'{\n  "a": 1,\n  "b": tru e\n}', "invalid JSON at line 3, column 12 (byte 23): invalid character"),
        (b'{"a": 1}\n{"b": 2}', "invalid JSON at line 2, column 2 (byte 10): trailing characters"),
        (b'{\n "\xc3\xa9": "\xff"}', "invalid JSON at line 2, column 8 (byte 10): not UTF-8 text"),
        (
            b"[1,\n 2",
            "truncated JSON: the file ends early, at line 2, column 3 (byte 6), before the document is complete",
        ),
    ],
)
def test_json_that_cannot_be_read_says_what_is_wrong_and_where(data: bytes, message: str) -> None:
    # Where is msgspec's byte offset (at, or just after, the character it stumbled on) as a line
    # and a column, both from 1, the column in characters.
    with pytest.raises(SessionFileError) as info:
        loads(data)
    assert str(info.value) == message


# -- files at scale: one frame a line, read a block at a time ----------------------------------


def many_frames(frames: int, connections: int = 5) -> list[Connection]:
    """``frames`` text frames (~60-byte JSON) over ``connections``, every 7th binary."""
    per = frames // connections
    return [
        Connection(
            connection_id=f"conn-{c}",
            path=f"/ws/{c}",
            state="closed",
            connected_at=1700000000.0 + c,
            messages=[
                binary_frame(i.to_bytes(4, "big"), at=1700000000.0 + i / 1000)
                if i % 7 == 0
                else text_frame(f'{{"type":"tick","seq":{i},"room":"lobby","v":"xxxxxxxxxxxxx"}}', at=1700000000.0 + i)
                for i in range(per)
            ],
        )
        for c in range(connections)
    ]


def test_session_json_has_one_frame_a_line_as_in_the_contract() -> None:
    lines = dumps([full_connection(), other_connection()], EXPORTED_AT).decode().splitlines()
    frames = [line.strip().rstrip(",") for line in lines if line.lstrip().startswith('{"direction": ')]
    assert len(frames) == len(full_connection().messages)
    # The contract's frame line: its keys in its order, a space after each colon and comma.
    assert frames[0] == (
        '{"direction": "received", "message_type": "text", "content": "{\\"type\\": \\"auth\\"}", '
        '"timestamp": 1764349990.05, "size_bytes": 16, "truncated": false, "close_code": null}'
    )
    assert all(json.loads(frame).keys() >= FRAME_KEYS for frame in frames)
    assert '  "messages": []' in lines[-5]  # a connection without frames (then the top-level loop blocks)


def test_a_har_file_has_one_message_a_line() -> None:
    lines = dumps([chat_connection()], EXPORTED_AT, har=True).decode().splitlines()
    messages = [line.strip().rstrip(",") for line in lines if line.lstrip().startswith('{"type": ')]
    assert messages[0] == '{"type": "send", "time": 1764349990.05, "opcode": 1, "data": "{\\"type\\": \\"auth\\"}"}'
    assert len(messages) == len(chat_connection().messages)


def test_a_file_this_wsinspect_writes_is_read_without_decoding_it_whole(monkeypatch: pytest.MonkeyPatch) -> None:

    def whole(data: bytes) -> None:
        raise AssertionError("decoded whole")

    monkeypatch.setattr(jsonfile, "_decode_whole", whole)
    for connections in ([], [other_connection()], [full_connection(), other_connection()], many_frames(20_000)):
        assert loads(dumps(connections, EXPORTED_AT)).connections == connections


@pytest.mark.parametrize("block", [1, 2, 3, 7, 64, 1000, 4096])
def test_reading_block_by_block_splits_anywhere(block: int, monkeypatch: pytest.MonkeyPatch) -> None:

    monkeypatch.setattr(jsonfile, "_BLOCK", block)
    monkeypatch.setattr(jsonfile, "_decode_whole", lambda data: pytest.fail("decoded whole"))
    connections = [full_connection(), other_connection(), *many_frames(300, 3)]
    assert loads(dumps(connections, EXPORTED_AT)).connections == connections


def test_files_laid_out_otherwise_read_the_same() -> None:
    connections = [full_connection(), other_connection()]
    ours = dumps(connections, EXPORTED_AT)
    document = msgspec.json.encode(json.loads(ours))
    for data in (
        document,  # compact
        msgspec.json.format(document, indent=1),  # what wsinspect wrote before
        msgspec.json.format(document, indent=4),
        ours.replace(b"\n", b"\r\n"),
        ours.replace(b"\n    {", b"\n{"),
        ours + b"\n\n",
    ):
        assert loads(data).connections == connections


def generic_error(data: bytes) -> str:
    """What the generic decode (every file's before files were streamed) says of ``data``."""
    from wsinspect.sessions.jsonfile import _decode_generic

    with pytest.raises(SessionFileError) as info:
        _decode_generic(data)
    return str(info.value)


def test_a_file_cut_anywhere_is_refused_as_before() -> None:
    data = dumps([full_connection(), other_connection(), *many_frames(40, 2)], EXPORTED_AT)
    for end in [*range(0, 400, 7), *range(400, len(data) - 1, 97), len(data) - 2, len(data) - 1]:
        cut = data[:end]
        with pytest.raises(SessionFileError) as info:
            loads(cut)
        assert str(info.value) == generic_error(cut), end


@pytest.mark.parametrize(
    ("old", "new"),
    [
        (b'"close_code": 4001}\n   ]', b'"close_code": 4001},\n   ]'),
        (b"}\n   ]", b"}\n   ],"),
        (b'"close_code": null},\n', b'"close_code": null}\n'),
        (b'"close_code": null},\n', b'"close_code": null},,\n'),
        (b'"message_type": "text"', b'"message_type": "texts"'),
        (b'"content": "AAH+/yBiaW5hcnk="', b'"content": "not base64!"'),
        (b'"state": "closed"', b'"state": 5'),
        (b'"loop_blocks": []\n}', b'"loop_blocks": []\n}\n{}'),
        (b'"format": "wsinspect.session"', b'"format": "wsinspect.other"'),
        (b'"messages": [', b'"messages": {'),
    ],
    ids=[
        "trailing-comma",
        "comma-after-list",
        "missing-comma",
        "two-commas",
        "bad-kind",
        "bad-base64",
        "bad-state",
        "trailing-document",
        "other-format",
        "messages-not-a-list",
    ],
)
def test_a_broken_file_says_what_the_generic_decode_says(old: bytes, new: bytes) -> None:
    data = dumps([full_connection(), other_connection()], EXPORTED_AT)
    assert old in data
    broken = data.replace(old, new, 1)
    with pytest.raises(SessionFileError) as info:
        loads(broken)
    assert str(info.value) == generic_error(broken)


def test_a_newer_version_is_refused_before_the_file_is_read_on() -> None:
    data = dumps(many_frames(100), EXPORTED_AT).replace(b'"version": 1', b'"version": 2', 1)
    with pytest.raises(SessionFileError) as info:
        loads(data[:400] + b"garbage in a layout of version 2")
    assert str(info.value) == "session format version 2 is not supported (this wsinspect reads 1)"


# -- gzip ------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["s.json.gz", "S.JSON.GZ", "s.gz"])
def test_a_name_ending_in_gz_is_written_gzipped_and_reads_back(tmp_path: Path, name: str) -> None:
    path = tmp_path / name
    connections = [full_connection(), other_connection()]
    written = write_session(path, connections, EXPORTED_AT)
    data = path.read_bytes()
    assert data[:2] == b"\x1f\x8b"
    assert gzip.decompress(data) == dumps(connections, EXPORTED_AT)
    assert (written.har, written.frames) == (False, 11)
    assert read_session(path).connections == connections
    assert loads(data).connections == connections
    assert os.listdir(tmp_path) == [name]


@pytest.mark.parametrize("name", ["x.har.gz", "X.HAR.GZ"])
def test_har_gz_is_gzipped_har_and_reads_back(tmp_path: Path, name: str) -> None:
    path = tmp_path / name
    written = write_session(path, [full_connection(), other_connection()], EXPORTED_AT)
    assert (written.har, written.left_out) == (True, {"ping": 1, "pong": 1, "close": 1})
    document = json.loads(gzip.decompress(path.read_bytes()))
    assert document["log"]["version"] == "1.2"
    session = read_session(path)
    assert session.connections[1] == other_connection()
    assert [frame.timestamp for frame in session.connections[0].messages] == [
        frame.timestamp for frame in full_connection().messages if frame.message_type in ("text", "binary")
    ]
    write_session(path, [chat_connection()], EXPORTED_AT)
    assert read_session(path).connections == [chat_connection()]


def test_gzip_is_told_by_its_magic_bytes_not_the_name(tmp_path: Path) -> None:
    zipped, plain = tmp_path / "s.json", tmp_path / "s.json.gz"
    zipped.write_bytes(gzip.compress(dumps([chat_connection()], EXPORTED_AT)))
    plain.write_bytes(dumps([chat_connection()], EXPORTED_AT))
    assert read_session(zipped).connections == read_session(plain).connections == [chat_connection()]
    browser = tmp_path / "browser.har"
    browser.write_bytes(gzip.compress(json.dumps(browser_har()).encode()))
    assert read_session(browser).connections[0].path == "/ws/chat"


def test_a_pipe_is_read_whole_first(tmp_path: Path) -> None:
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    data = gzip.compress(dumps([full_connection()], EXPORTED_AT))

    def feed() -> None:
        with open(fifo, "wb") as pipe:
            pipe.write(data)

    feeder = threading.Thread(target=feed)
    feeder.start()
    try:
        assert read_session(fifo).connections == [full_connection()]
    finally:
        feeder.join(10)


def test_the_gzip_header_names_the_file_not_its_temporary(tmp_path: Path) -> None:
    path = tmp_path / "session.json.gz"
    write_session(path, [], EXPORTED_AT)
    with gzip.GzipFile(path) as file:
        file.read()
    data = path.read_bytes()
    assert data[3] & 0x08  # FNAME
    assert data[10 : data.index(b"\0", 10)] == b"session.json"


def gzipped_session() -> bytes:
    return gzip.compress(dumps([full_connection(), *many_frames(2000)], EXPORTED_AT))


@pytest.mark.parametrize(
    ("breakage", "message"),
    [
        (lambda data: data[: len(data) // 2], "truncated gzip: the file ends before its compressed data does"),
        (lambda data: data[:-4], "truncated gzip: the file ends before its compressed data does"),
        (lambda data: data[:12], "truncated gzip: the file ends before its compressed data does"),
        (lambda data: data[:-8] + b"\0\0\0\0" + data[-4:], "corrupt gzip data: CRC check failed"),
        (lambda data: data[:40] + bytes(200) + data[240:], "corrupt gzip data: "),
        (lambda data: data[:2] + b"\x09" + data[3:], "corrupt gzip data: Unknown compression method"),
        (lambda data: data + b"trailing junk", "corrupt gzip data: "),
    ],
    ids=["half", "no-size", "header-only", "crc", "zeroed", "bad-method", "trailing-junk"],
)
def test_a_broken_gzip_file_is_one_line(tmp_path: Path, breakage: Any, message: str) -> None:
    path = tmp_path / "s.json.gz"
    path.write_bytes(breakage(gzipped_session()))
    with pytest.raises(SessionFileError) as info:
        read_session(path)
    text = str(info.value)
    assert text.startswith(f"{path}: {message}")
    assert "\n" not in text


# -- progress --------------------------------------------------------------------------------


def calls_of(monkeypatch: pytest.MonkeyPatch) -> list[tuple[int, int]]:
    """A list the progress callback appends to, reporting every time it may."""

    monkeypatch.setattr(sessions_base, "PROGRESS_EVERY", 0.0)
    return []


def assert_progress(calls: list[tuple[int, int]], total: int) -> None:
    assert calls[0] == (0, total)
    assert calls[-1] == (total, total)
    assert {t for _, t in calls} == {total}
    done = [d for d, _ in calls]
    assert done == sorted(set(done))  # increasing


@pytest.mark.parametrize("name", ["s.json", "s.json.gz", "s.har", "s.har.gz"])
def test_write_session_reports_progress_in_frames(tmp_path: Path, name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    calls = calls_of(monkeypatch)
    connections = [full_connection(), *many_frames(50_000)]
    write_session(tmp_path / name, connections, EXPORTED_AT, progress=lambda done, total: calls.append((done, total)))
    assert_progress(calls, 11 + 50_000)
    assert len(calls) > 5  # a chunk of frames at a time


@pytest.mark.parametrize("name", ["s.json", "s.json.gz", "s.har"])
def test_read_session_reports_progress_in_bytes_of_the_file(
    tmp_path: Path, name: str, monkeypatch: pytest.MonkeyPatch
) -> None:

    path = tmp_path / name
    write_session(path, [full_connection(), *many_frames(50_000)], EXPORTED_AT)
    calls = calls_of(monkeypatch)
    monkeypatch.setattr(jsonfile, "_BLOCK", 1 << 16)
    read_session(path, progress=lambda done, total: calls.append((done, total)))
    assert_progress(calls, path.stat().st_size)
    assert len(calls) > 3


def test_progress_is_called_at_most_ten_times_a_second(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import types

    now = [0.0]

    def monotonic() -> float:
        now[0] += 0.03  # each chunk of frames takes 30 ms
        return now[0]

    monkeypatch.setattr(sessions_base, "time", types.SimpleNamespace(monotonic=monotonic))
    moments: list[float] = []
    calls: list[tuple[int, int]] = []

    def progress(done: int, total: int) -> None:
        moments.append(now[0])
        calls.append((done, total))

    write_session(tmp_path / "s.json", many_frames(200_000), EXPORTED_AT, progress=progress)
    assert_progress(calls, 200_000)
    between = [b - a for a, b in itertools.pairwise(moments[:-1])]  # the last call: when it ends
    assert len(between) >= 3
    assert min(between) >= 0.1


def test_progress_of_an_empty_session(tmp_path: Path) -> None:
    calls: list[tuple[int, int]] = []
    write_session(tmp_path / "s.json", [], EXPORTED_AT, progress=lambda *call: calls.append(call))
    assert calls == [(0, 0)]
    calls.clear()
    (tmp_path / "empty.json").write_bytes(b"")
    with pytest.raises(SessionFileError, match="empty"):
        read_session(tmp_path / "empty.json", progress=lambda *call: calls.append(call))
    assert calls == [(0, 0)]


def test_a_failing_progress_callback_leaves_no_temporary(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    calls_of(monkeypatch)

    def fail(done: int, total: int) -> None:
        if done:
            raise RuntimeError("stop")

    with pytest.raises(RuntimeError):
        write_session(tmp_path / "s.json", many_frames(50_000), EXPORTED_AT, progress=fail)
    assert os.listdir(tmp_path) == []


# -- memory: no second copy of the session -----------------------------------------------------


def test_writing_streams_peak_memory_is_a_small_part_of_the_file(tmp_path: Path) -> None:
    connections = many_frames(200_000, 10)
    for name in ("s.json", "s.json.gz", "s.har"):
        path = tmp_path / name
        tracemalloc.start()
        try:
            write_session(path, connections, EXPORTED_AT)
            peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
        size = len(gzip.decompress(path.read_bytes())) if name.endswith(".gz") else path.stat().st_size
        assert size > 20_000_000
        assert peak < size / 5, (name, peak, size)


def test_writing_large_frames_streams_too(tmp_path: Path) -> None:
    big = [text_frame("x" * 100_000, at=float(i)) for i in range(200)]
    big += [binary_frame(bytes(100_000), at=float(i)) for i in range(200)]
    connections = [Connection(connection_id="big", path="/ws", connected_at=1.0, messages=big)]
    path = tmp_path / "big.json"
    tracemalloc.start()
    try:
        write_session(path, connections, EXPORTED_AT)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert path.stat().st_size > 40_000_000
    assert peak < path.stat().st_size / 5
    assert read_session(path).connections == connections


def test_reading_streams_beyond_the_session_itself_little_is_held(tmp_path: Path) -> None:
    path = tmp_path / "s.json"
    write_session(path, many_frames(200_000, 10), EXPORTED_AT)
    size = path.stat().st_size
    for name in ("s.json", "s.json.gz"):
        if name.endswith(".gz"):
            (tmp_path / name).write_bytes(gzip.compress(path.read_bytes(), 1))
        tracemalloc.start()
        try:
            session = read_session(tmp_path / name)
            held, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
        assert len(session.connections) == 10
        del session
        assert peak - held < size / 5, (name, peak, held, size)
