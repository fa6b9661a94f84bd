"""The inspector's Unix server in process: a bad producer is cut off, the others carry on."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

import msgspec
import pytest
from helpers.factories import batch, text_frame, update, wire_frame
from helpers.waiting import until

from wsinspect.inspector.core.store import LOCAL_HOST, Store
from wsinspect.inspector.server import InspectorServer
from wsinspect.model import Connection
from wsinspect.paths import SocketPathError
from wsinspect.wire import PROTOCOL_VERSION, FrameBatch, Hello, encode

HELLO_BAD = encode([Hello(PROTOCOL_VERSION, 1, "bad")])
GOOD_FRAME = wire_frame(1, 0, text_frame("ok"))


@pytest.mark.parametrize(
    ("garbage", "reason"),
    [
        (b"\x00\x00\x00\x03abc", "unknown or malformed message"),
        (b"\x00\x00\x00\x01\xc1", "not MessagePack"),
        (encode([Hello(PROTOCOL_VERSION + 1, 1, "future")]), "protocol version"),
        (b"\xff\xff\xff\xff", "exceeds the limit"),
        (HELLO_BAD + b"\x00\x00\x00\x10\x93", "stream ended inside a message"),
        (HELLO_BAD + encode([FrameBatch([msgspec.structs.replace(GOOD_FRAME, code=10)])]), "malformed message"),
        (HELLO_BAD + encode([FrameBatch([msgspec.structs.replace(GOOD_FRAME, content=7)])]), "content of type int"),
    ],
    ids=["malformed", "not-msgpack", "version", "too-long", "truncated", "frame-code", "frame-content"],
)
async def test_a_bad_producer_is_disconnected_and_the_others_served(
    private_socket: Path, caplog: pytest.LogCaptureFixture, garbage: bytes, reason: str
) -> None:
    store = Store()
    server = InspectorServer(store, private_socket)
    await server.start()
    try:
        _, good = await asyncio.open_unix_connection(str(private_socket))
        good.write(encode([Hello(PROTOCOL_VERSION, 10, "good")]))
        good.write(encode([update(1, Connection(connection_id="c1", path="/ok", connected_at=1.0))]))
        await good.drain()

        bad_reader, bad = await asyncio.open_unix_connection(str(private_socket))
        with caplog.at_level(logging.WARNING, logger="wsinspect"):
            bad.write(garbage)
            await bad.drain()
            bad.write_eof()
            assert await asyncio.wait_for(bad_reader.read(), 5) == b""  # the inspector hung up
        await until(lambda: any(e.level == "error" for e in store.system_events), what="the error event")
        assert reason in caplog.text
        assert any(reason in e.text for e in store.system_events if e.level == "error")

        good.write(encode([batch(1, [text_frame("still here", direction="received", at=1.0)])]))
        await good.drain()
        await until(lambda: store.frames_received == 1, what="the good frame")
        (conn,) = store.connections()
        assert (conn.path, conn.app, conn.pid, conn.messages[0].content) == ("/ok", "good", 10, "still here")
        good.close()
    finally:
        await server.close()
    assert not private_socket.exists()


async def test_a_second_inspector_on_the_same_path_is_refused(private_socket: Path) -> None:
    first = InspectorServer(Store(), private_socket)
    await first.start()
    try:
        with pytest.raises(SocketPathError, match="another inspector is listening"):
            await InspectorServer(Store(), private_socket).start()
    finally:
        await first.close()


async def test_producers_using_the_same_keys_are_kept_apart(private_socket: Path) -> None:
    store = Store()
    server = InspectorServer(store, private_socket)
    await server.start()
    try:
        writers = []
        for pid, name in ((11, "chat"), (22, "game")):
            _, writer = await asyncio.open_unix_connection(str(private_socket))
            writer.write(encode([Hello(PROTOCOL_VERSION, pid, name)]))
            writer.write(encode([update(1, connection_id=f"{name}-1", path=f"/{name}")]))
            writer.write(encode([batch(1, [text_frame(f"{name} {i}") for i in range(3)])]))
            await writer.drain()
            writers.append(writer)
        await until(lambda: store.frames_received == 6, what="six frames")
        chat, game = (store.entries[cid].snapshot() for cid in ("chat-1", "game-1"))
        assert [f.content for f in chat.messages] == ["chat 0", "chat 1", "chat 2"]
        assert [f.content for f in game.messages] == ["game 0", "game 1", "game 2"]
        assert (chat.pid, chat.path, game.pid, game.path) == (11, "/chat", 22, "/game")
        for writer in writers:
            writer.close()
    finally:
        await server.close()


async def test_a_producer_link_knows_when_it_began_so_gaps_are_told_apart(private_socket: Path) -> None:
    store = Store()
    server = InspectorServer(store, private_socket)
    await server.start()
    try:
        _, writer = await asyncio.open_unix_connection(str(private_socket))
        writer.write(encode([Hello(PROTOCOL_VERSION, 33, "app")]))
        await writer.drain()
        await until(lambda: server.producers, what="the producer")
        (producer,) = server.producers.values()
        assert producer.since is not None
        # The first replay: a connection older than this inspector, its buffer's oldest frames gone
        # (not kept); then one opened since, whose first frames the queue lost (lost).
        old = update(1, connection_id="old", path="/old", connected_at=producer.since - 60)
        new = update(2, connection_id="new", path="/new", connected_at=producer.since + 0.001)
        writer.write(encode([old, batch(1, [text_frame("o")], start=5), new, batch(2, [text_frame("n")], start=3)]))
        await writer.drain()
        await until(lambda: store.frames_received == 2, what="two frames")
        dropped = {
            cid: (c.messages_dropped, c.messages_not_kept, c.messages_lost)
            for cid, c in ((cid, store.entries[cid].connection) for cid in ("old", "new"))
        }
        assert dropped == {"old": (5, 5, 0), "new": (3, 0, 3)}
        writer.close()
    finally:
        await server.close()


async def test_an_apps_connected_row_follows_the_replay_it_came_with(private_socket: Path) -> None:
    """The replay holds what happened before the app reached the inspector: its rows come first,
    so times read in order from the top ("connected" at 00:00.126 above c1's 00:00.000 did not)."""
    store = Store()
    server = InspectorServer(store, private_socket)
    await server.start()
    try:
        _, writer = await asyncio.open_unix_connection(str(private_socket))
        # Hello and the replay in one write, as the emitter sends them.
        writer.write(
            encode([Hello(PROTOCOL_VERSION, 7, "demo"), update(1, connection_id="old", path="/ws/old")])
            + encode([batch(1, [text_frame("before", at=1.0)])])
        )
        await writer.drain()
        await until(lambda: store.frames_received == 1 and store.system_events, what="the frame and the event")
        texts = [getattr(item, "text", None) or item.content for _, item in store.rows]
        assert texts[0] == "connect /ws/old"
        assert texts[-2:] == ["before", "demo (pid 7) connected"]
        writer.close()
    finally:
        await server.close()


async def test_a_producer_on_another_host_is_named_with_it(private_socket: Path) -> None:
    """Apps on other hosts feed one inspector over forwarded sockets: each says its host name."""
    store = Store()
    server = InspectorServer(store, private_socket)
    await server.start()
    try:
        _, remote = await asyncio.open_unix_connection(str(private_socket))
        remote.write(encode([Hello(PROTOCOL_VERSION, 7, "uvicorn", "web-2")]))
        remote.write(encode([update(1, Connection(connection_id="r1", path="/ws", connected_at=1.0))]))
        await remote.drain()
        _, local = await asyncio.open_unix_connection(str(private_socket))
        local.write(encode([Hello(PROTOCOL_VERSION, 8, "uvicorn", LOCAL_HOST)]))
        await local.drain()
        await until(
            lambda: len(server.producers) == 2 and "r1" in store.entries,
            what="both producers and the remote one's connection",
        )
        texts = [event.text for event in store.system_events]
        assert "uvicorn on web-2 (pid 7) connected" in texts
        assert "uvicorn (pid 8) connected" in texts  # the inspector's own host goes without saying
        assert store.entries["r1"].connection.host == "web-2"
        remote.close()
        await until(lambda: len(server.producers) == 1, what="the remote producer to go")
        assert store.system_events[-1].text == "uvicorn on web-2 (pid 7) disconnected"
        local.close()
    finally:
        await server.close()
