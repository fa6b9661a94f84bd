"""What handlers are doing and who blocked the event loop, in the inspector's Store and in session
files (sans-I/O): the wire's WireHandlerState and WireLoopBlock, the ◉ rows of loop blocks, the
session JSON's ``handler_state``, ``loop_blocks`` and top-level ``loop_blocks``."""

from __future__ import annotations

import json
from pathlib import Path

import msgspec
import pytest
from helpers.factories import AT, update

from wsinspect.inspector.core.database_store import DatabaseStore
from wsinspect.inspector.core.database_writer import DatabaseWriter
from wsinspect.inspector.core.describe import handler_doing, loop_block_text, where
from wsinspect.inspector.core.rows import RowCode
from wsinspect.inspector.core.store import Producer, Store
from wsinspect.model import AppLoopBlock, Connection, HandlerState, LoopBlock, SystemEvent, TracebackEntry
from wsinspect.sessions import jsonfile, read_session, write_session
from wsinspect.wire import PROTOCOL_VERSION, Decoder, Hello, WireHandlerState, WireLoopBlock, encode

APP = Producer(key=1, pid=1001, app="chat-app", stream="s1")
NOW = 1764350000.0

STACK = [
    TracebackEntry(file="/usr/lib/python3.11/asyncio/events.py", line=80, function="Handle._run"),
    TracebackEntry(file="app.py", line=33, function="chat", code="time.sleep(0.4)", app=True),
    TracebackEntry(file="/usr/lib/python3.11/json/encoder.py", line=200, function="encode"),
]


def block(at: float = AT + 1, duration: float = 0.42, stack: list[TracebackEntry] | None = None) -> LoopBlock:
    return LoopBlock(timestamp=at, duration=duration, stack=STACK if stack is None else stack)


def events(store: Store, connection_id: str | None) -> list[SystemEvent]:
    return [item for owner, item in store.rows if owner == connection_id and isinstance(item, SystemEvent)]


def test_the_words_for_a_state_and_a_block() -> None:
    assert handler_doing(HandlerState(state="receiving", since=NOW - 12.3), NOW) == "waiting 12 s"
    assert handler_doing(HandlerState(state="working", since=NOW - 3.14), NOW) == "working 3.1 s"
    assert handler_doing(HandlerState(state="sending", since=NOW - 2), NOW) == "sending 2.0 s"
    assert handler_doing(HandlerState(state="receiving", since=NOW - 125), NOW) == "waiting 2m 05s"
    assert where(STACK) == "app.py:33 chat()"  # the innermost of the app's own, not the library's below it
    assert where(STACK[:1]) == "asyncio/events.py:80 _run()"  # none of the app's: a library's, short
    assert loop_block_text(block()) == "loop blocked 420 ms in app.py:33 chat()"
    assert loop_block_text(block(stack=[])) == "loop blocked 420 ms (no stack caught)"


def test_a_handler_state_shows_on_its_connection_until_it_ends() -> None:
    store = Store()
    store.apply(APP, [update(1)], NOW)
    state = HandlerState(state="working", since=NOW - 2, stack=STACK)
    changed: list[set[str]] = []
    store.listeners.append(changed.append)
    store.apply(APP, [WireHandlerState(1, state)], NOW)
    assert store.entries["c1"].connection.handler_state == state
    assert changed == [{"c1"}]
    store.apply(APP, [update(1, messages_sent=3)], NOW)  # an update carries no state: it stays
    assert store.entries["c1"].connection.handler_state == state
    store.apply(APP, [WireHandlerState(1, None)], NOW)
    assert store.entries["c1"].connection.handler_state is None
    assert [row for row in store.rows if isinstance(row[1], SystemEvent) and "work" in row[1].text] == []


def test_a_state_after_the_close_or_of_an_unknown_connection_is_ignored() -> None:
    store = Store()
    store.apply(APP, [update(1), WireHandlerState(1, HandlerState(state="receiving", since=NOW))], NOW)
    store.apply(APP, [update(1, state="closed", disconnected_at=NOW + 1)], NOW + 1)
    assert store.entries["c1"].connection.handler_state is None  # the handler ended with it
    store.apply(APP, [WireHandlerState(1, HandlerState(state="working", since=NOW))], NOW + 1)
    assert store.entries["c1"].connection.handler_state is None  # sent before the close reached the queue
    store.apply(APP, [WireHandlerState(7, HandlerState(state="working", since=NOW))], NOW + 1)
    assert "c7" not in store.entries


def test_a_loop_block_is_a_red_row_of_its_connection_with_its_stack() -> None:
    store = Store()
    store.apply(APP, [update(1)], NOW)
    store.apply(APP, [WireLoopBlock(1, block())], NOW)
    (event,) = [event for event in events(store, "c1") if event.text.startswith("loop")]
    assert (event.timestamp, event.level, event.text) == (AT + 1, "error", "loop blocked 420 ms in app.py:33 chat()")
    assert event.stack == tuple(STACK)
    assert store.entries["c1"].connection.loop_blocks == [block()]
    assert store.codes[-1] == RowCode.EVENT
    assert store.owners[-1] == store.entries["c1"].number
    assert store.texts[-1] == event.text.lower()
    store.apply(APP, [WireLoopBlock(1, block(AT + 2, 0.05))], NOW)  # under 100 ms (loop_block_ms=50): yellow
    assert events(store, "c1")[-1].level == "warning"
    store.apply(APP, [update(1, messages_sent=3)], NOW)  # updates keep the blocks
    assert len(store.entries["c1"].connection.loop_blocks) == 2


def test_a_replay_brings_no_block_twice() -> None:
    store = Store()
    store.apply(APP, [update(1), WireLoopBlock(1, block()), WireLoopBlock(None, block(AT + 5))], NOW)
    rows = len(store.rows)
    store.apply(APP, [update(1), WireLoopBlock(1, block()), WireLoopBlock(None, block(AT + 5))], NOW + 1)
    assert len(store.rows) == rows
    assert len(store.entries["c1"].connection.loop_blocks) == 1
    assert len(store.app_loop_blocks) == 1


def test_a_block_no_handler_held_is_an_app_row_and_the_sessions() -> None:
    store = Store()
    store.apply(APP, [WireLoopBlock(None, block())], NOW)
    (event,) = events(store, None)
    assert event.text == "chat-app (pid 1001): loop blocked 420 ms in app.py:33 chat()"
    assert event.stack == tuple(STACK)
    assert store.owners[-1] == 0
    (app_block,) = store.app_loop_blocks
    assert (app_block.app, app_block.pid, app_block.duration) == ("chat-app", 1001, 0.42)
    store.clear()
    assert store.app_loop_blocks == []


def test_a_block_of_an_unknown_connection_waits_for_the_replay() -> None:
    store = Store()
    store.apply(APP, [WireLoopBlock(3, block())], NOW)
    assert store.rows == []


def test_session_json_carries_handler_state_loop_blocks_and_the_apps_blocks(tmp_path: Path) -> None:
    store = Store()
    state = HandlerState(state="working", since=NOW - 3, stack=STACK)
    store.apply(
        APP, [update(1), WireHandlerState(1, state), WireLoopBlock(1, block()), WireLoopBlock(None, block(AT + 9))], NOW
    )
    path = tmp_path / "s.json"
    store.exporter()(path, NOW, None)
    document = json.loads(path.read_text())
    (connection,) = document["connections"]
    assert connection["handler_state"] == {
        "state": "working",
        "since": NOW - 3,
        "stack": [msgspec.to_builtins(entry) for entry in STACK],
    }
    assert connection["handler_state"]["stack"][1] == {
        "file": "app.py", "line": 33, "function": "chat", "code": "time.sleep(0.4)", "app": True
    }  # fmt: skip
    assert connection["loop_blocks"] == [
        {"timestamp": AT + 1, "duration": 0.42, "stack": connection["handler_state"]["stack"]}
    ]
    (app_block,) = document["loop_blocks"]
    assert app_block["app"] == "chat-app"
    assert app_block["pid"] == 1001
    assert {"timestamp", "duration", "stack"} <= app_block.keys()
    assert list(document) == ["format", "version", "exported_at", "connections", "loop_blocks"]

    session = read_session(path)
    assert session.loop_blocks == store.app_loop_blocks
    assert session.connections[0].handler_state == state
    assert session.connections[0].loop_blocks == [block()]


def test_a_loaded_session_shows_the_blocks_as_rows_in_time_order(tmp_path: Path) -> None:
    connection = Connection(
        connection_id="c1", path="/ws", connected_at=AT, state="open", accepted_at=AT, loop_blocks=[block(AT + 1)]
    )
    apps = [AppLoopBlock(timestamp=AT + 0.5, duration=0.2, stack=STACK, app="uvicorn", pid=7)]
    path = tmp_path / "s.json"
    write_session(path, [connection], NOW, loop_blocks=apps)
    session = read_session(path)
    store = Store()
    store.load(session.connections, session.exported_at, session.loop_blocks)
    texts = [(owner, item.text) for owner, item in store.rows if isinstance(item, SystemEvent)]
    assert texts == [
        ("c1", "connect /ws"),
        ("c1", "accepted"),
        (None, "uvicorn (pid 7): loop blocked 200 ms in app.py:33 chat()"),
        ("c1", "loop blocked 420 ms in app.py:33 chat()"),
    ]
    assert list(store.owners) == [1, 1, 0, 1]
    assert store.app_loop_blocks == apps


def test_a_file_with_loop_blocks_is_streamed_and_split_anywhere(monkeypatch: pytest.MonkeyPatch) -> None:
    connection = Connection(connection_id="c1", path="/ws", connected_at=AT, loop_blocks=[block()])
    apps = [AppLoopBlock(timestamp=AT + 0.5, duration=0.2, stack=STACK, app="uvicorn", pid=7)] * 3
    data = jsonfile.dumps([connection], NOW, loop_blocks=apps)
    monkeypatch.setattr(jsonfile, "_decode_whole", lambda data: pytest.fail("decoded whole"))
    for size in (1, 7, 64, 1 << 20):
        monkeypatch.setattr(jsonfile, "_BLOCK", size)
        session = jsonfile.loads(data)
        assert session.loop_blocks == apps
        assert session.connections == [connection]


def test_a_file_without_the_new_keys_reads_as_before() -> None:
    data = jsonfile.dumps([Connection(connection_id="c1", path="/ws", connected_at=AT)], NOW)
    document = json.loads(data)
    del document["loop_blocks"]
    del document["connections"][0]["handler_state"], document["connections"][0]["loop_blocks"]
    session = jsonfile.loads(json.dumps(document).encode())
    assert session.loop_blocks == []
    assert session.connections[0].handler_state is None
    assert session.connections[0].loop_blocks == []


def test_the_wire_carries_both_messages() -> None:
    messages = [
        WireHandlerState(3, HandlerState(state="sending", since=NOW, stack=STACK)),
        WireHandlerState(3, None),
        WireLoopBlock(None, block()),
        WireLoopBlock(4, block(stack=[])),
    ]
    decoder = Decoder()
    hello = Hello(PROTOCOL_VERSION, 1, "app")
    assert decoder.feed(encode([hello, *messages])) == [hello, *messages]


def test_a_capture_database_keeps_a_connections_blocks_and_the_apps_rows(tmp_path: Path) -> None:
    """A connection's blocks are in its metadata (rows with their stacks when opened); the app's are
    rows of the inspector's own news, without a stack."""
    path = tmp_path / "capture.sqlite"
    store = Store()
    writer = DatabaseWriter(path, store)
    store.apply(APP, [update(1), WireLoopBlock(1, block()), WireLoopBlock(None, block(AT + 9))], NOW)
    store.apply(APP, [WireHandlerState(1, HandlerState(state="receiving", since=NOW - 2))], NOW)
    writer.close()
    lazy = DatabaseStore(path)
    while lazy.reading:
        lazy.poll()
    connection = lazy.entries["c1"].connection
    assert connection.loop_blocks == [block()]
    assert connection.handler_state == HandlerState(state="receiving", since=NOW - 2)
    blocks = [
        (owner, item) for owner, item in lazy.rows if isinstance(item, SystemEvent) and "loop blocked" in item.text
    ]
    assert [(owner, event.text, event.stack is not None) for owner, event in blocks] == [
        ("c1", "loop blocked 420 ms in app.py:33 chat()", True),
        (None, "chat-app (pid 1001): loop blocked 420 ms in app.py:33 chat()", False),
    ]
    lazy.close()
