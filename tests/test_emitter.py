"""The app side's emitter: batched writes while frames flow, bounded wire messages, and flush()."""

from __future__ import annotations

import os
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from helpers.asgi import Listener, converse
from helpers.factories import binary_frame, echo_app, record, text_frame
from helpers.waiting import until, wait_until

from wsinspect import WSInspectConfig, WSInspectMiddleware
from wsinspect.capture.emitter import BATCH_BYTES, SLICE, Emitter, HeldConnection
from wsinspect.inspector.core.store import Store
from wsinspect.inspector.server import InspectorServer
from wsinspect.model import Connection, Frame
from wsinspect.wire import (
    MAX_MESSAGE_BYTES,
    ConnectionUpdate,
    FrameBatch,
    FrameRecord,
    Held,
    Hello,
    WireMessage,
)

# wsinspect's pytest plugin leaves these tests of the socket machinery alone (see noxfile.py).
pytestmark = pytest.mark.no_wsinspect

MESSAGES = 256
PAYLOAD = 64 * 1024  # 256 echoes of 64 KiB: far more than the socket buffers hold


@pytest.fixture
def listener(private_socket: Path) -> Iterator[Listener]:
    found = Listener(private_socket)
    yield found
    found.close()


def live_emitter(
    private_socket: Path, wake: threading.Event | None = None, **config: Any
) -> tuple[WSInspectMiddleware, Emitter]:
    """An echo app's middleware and its emitter, connected; ``wake`` replaces its writer's event."""
    middleware = WSInspectMiddleware(echo_app, WSInspectConfig(socket_path=str(private_socket), **config))
    emitter = middleware.recorder.emitter
    assert emitter is not None
    if wake is not None:
        emitter._wake = wake
    emitter.start()
    # Connected and replayed: events from now on are not also in a replay (which would repeat them).
    wait_until(lambda: emitter.replays > 0, "the emitter to connect")
    return middleware, emitter


def test_flush_with_nothing_queued_is_true_at_once(private_socket: Path) -> None:
    middleware = WSInspectMiddleware(echo_app, WSInspectConfig(socket_path=str(private_socket)))
    emitter = middleware.recorder.emitter
    assert emitter is not None
    assert emitter.flush(0.0)  # no thread, no inspector, nothing queued
    emitter.stop()


async def test_flush_waits_until_what_was_queued_is_written(private_socket: Path, listener: Listener) -> None:
    middleware, emitter = live_emitter(private_socket, max_message_size=PAYLOAD)
    try:
        assert emitter.flush(5.0)  # the hello and the (empty) replay
        listener.reading.clear()  # the inspector stalls: the socket buffers fill, the rest stays queued
        texts = [f"m{i:04d}".ljust(PAYLOAD, "x") for i in range(MESSAGES)]
        await converse(middleware, texts)
        started = time.monotonic()
        assert not emitter.flush(0.3)
        assert time.monotonic() - started >= 0.3  # it waited for the timeout, without returning early
        assert not listener.has(texts[-1][:5].encode())
        listener.reading.set()
        assert emitter.flush(10.0)
        # Written means in the socket: the inspector reads it all, the newest frames included.
        wait_until(lambda: listener.has(texts[-1][:5].encode()), "the last frame to arrive", patience=5.0)
        assert emitter.flush(0.0)  # nothing queued since
    finally:
        emitter.stop()


# -- batching: the writer wakes once per slice, not once per frame ------------------------------


class CountingEvent(threading.Event):
    """The writer's wake-up event, counting how often it is set (each set may wake the writer)."""

    def __init__(self) -> None:
        super().__init__()
        self.sets = 0

    def set(self) -> None:
        self.sets += 1
        super().set()


def batches(messages: list[WireMessage]) -> list[FrameBatch]:
    return [m for m in messages if isinstance(m, FrameBatch)]


ECHOES = 2000  # 4000 frames: each text received, then echoed


async def test_a_burst_of_frames_arrives_in_a_few_batches(private_socket: Path, listener: Listener) -> None:
    wake = CountingEvent()  # set by the app's thread when it wakes the writer
    middleware, emitter = live_emitter(private_socket, wake)
    try:
        assert emitter.flush(5.0)
        reads_before = listener.reads
        texts = [f"burst {i}" for i in range(ECHOES)]
        await converse(middleware, texts)
        assert emitter.flush(10.0)
        total = 2 * ECHOES + 1  # and the client's close frame
        wait_until(lambda: sum(len(b.frames) for b in batches(listener.messages())) == total, "every frame")
        hello = listener.messages()[0]
        assert isinstance(hello, Hello)
        assert (hello.pid, hello.host) == (os.getpid(), socket.gethostname())  # who and where
        frames = [w for b in batches(listener.messages()) for w in b.frames]
        assert [w.index for w in frames] == list(range(total))
        assert [w.to_frame().content for w in frames[:-1:2]] == texts
        assert len({w.key for w in frames}) == 1  # the one connection's key
        # Far fewer batches, writes and wake-ups than frames: one of each per slice, not per frame.
        count = len(batches(listener.messages()))
        assert count <= ECHOES // 20, f"{count} batches for {2 * ECHOES} frames"
        assert listener.reads - reads_before <= ECHOES // 20
        assert wake.sets <= ECHOES // 20, f"the writer was woken {wake.sets} times for {2 * ECHOES} frames"
    finally:
        emitter.stop()


PACED = 200  # messages from the client, 5 ms apart: a second of traffic


async def test_frames_that_trickle_in_are_written_once_per_slice(private_socket: Path, listener: Listener) -> None:
    """A writer woken by every frame writes once per client message or so (100 to 200 times here);
    one woken at most once per slice (SLICE, 50 ms), fewer than 30 times."""
    wake = CountingEvent()
    middleware, emitter = live_emitter(private_socket, wake)
    try:
        assert emitter.flush(5.0)
        started = time.monotonic()
        await converse(middleware, [f"tick {i}" for i in range(PACED)], pause=0.005)
        elapsed = time.monotonic() - started
        assert emitter.flush(5.0)
        total = 2 * PACED + 1
        wait_until(lambda: sum(len(b.frames) for b in batches(listener.messages())) == total, "every frame")
        count = len(batches(listener.messages()))
        slices = elapsed / SLICE
        assert count <= slices + 5, f"{count} batches in {elapsed:.2f} s for {total} frames"
        assert count <= total // 4
        assert wake.sets <= slices + 5, f"the writer was woken {wake.sets} times in {elapsed:.2f} s"
    finally:
        emitter.stop()


async def test_an_update_splits_the_batch_and_order_is_kept(private_socket: Path, listener: Listener) -> None:
    middleware, emitter = live_emitter(private_socket)
    try:
        await converse(middleware, ["one", "two"])
        assert emitter.flush(5.0)
        wait_until(lambda: isinstance(listener.messages()[-1], ConnectionUpdate), "the last update")
        sequence: list[Any] = []
        hello, replay_end, *live = listener.messages()
        assert isinstance(hello, Hello)
        assert replay_end == Held([])  # the replay on connect: nothing held yet
        for m in live:
            if isinstance(m, ConnectionUpdate):
                sequence.append("update")
            else:
                assert isinstance(m, FrameBatch)
                sequence.extend(w.to_frame().content for w in m.frames)
        # The frames in their order; the updates of the connect and the accept before them, that
        # of the close (after the client's close frame, with no reason) after them.
        assert sequence == ["update", "update", "one", "one", "two", "two", "", "update"]
    finally:
        emitter.stop()


# -- wire messages stay under the inspector's limit -------------------------------------------------

MIB = 1024 * 1024


def direct_emitter(private_socket: Path, held: list[HeldConnection], max_frame_bytes: int) -> Emitter:
    emitter = Emitter(private_socket, lambda: held, app_name="test", max_frame_bytes=max_frame_bytes)
    emitter.start()
    wait_until(lambda: emitter.live, "the emitter to connect")
    return emitter


def check_split(listener: Listener, total: int) -> list[FrameBatch]:
    wait_until(lambda: sum(len(b.frames) for b in batches(listener.messages())) == total, "every frame")
    lengths = listener.lengths()
    assert max(lengths) <= MAX_MESSAGE_BYTES
    found = batches(listener.messages())
    for b in found:
        payload = sum(len(w.content or b"") for w in b.frames)
        assert payload <= BATCH_BYTES or len(b.frames) == 1
    return found


def test_a_replay_of_more_than_batch_bytes_is_split(private_socket: Path, listener: Listener) -> None:
    connection = Connection(connection_id="big", path="/big", connected_at=1.0, state="open")
    frames = [binary_frame(bytes([i]) * MIB, at=2.0 + i) for i in range(12)]  # 12 MiB in all
    held: list[HeldConnection] = [(1, connection, [record(1, i, f) for i, f in enumerate(frames)])]
    emitter = direct_emitter(private_socket, held, max_frame_bytes=MIB)
    try:
        assert emitter.flush(10.0)
        found = check_split(listener, len(frames))
        assert len(found) >= 12 * MIB // BATCH_BYTES
        assert [w.to_frame() for b in found for w in b.frames] == frames
    finally:
        emitter.stop()


def test_live_frames_of_more_than_batch_bytes_are_split(private_socket: Path, listener: Listener) -> None:
    emitter = direct_emitter(private_socket, [], max_frame_bytes=2 * MIB)
    try:
        assert emitter.flush(5.0)
        connection = Connection(connection_id="live", path="/live", connected_at=1.0, state="open")
        frames = [text_frame(chr(ord("a") + i) * (2 * MIB), at=2.0 + i) for i in range(9)]  # 18 MiB
        emitter.connection_changed(5, connection)
        for i, f in enumerate(frames):
            emitter.frame_recorded(record(5, i, f))
        assert emitter.flush(10.0)
        found = check_split(listener, len(frames))
        assert len(found) >= 18 * MIB // BATCH_BYTES
        assert [w.to_frame() for b in found for w in b.frames] == frames
    finally:
        emitter.stop()


# A FrameBatch holds at most BATCH_BYTES // (max_frame_bytes + overhead) frames, whatever they hold.


def test_non_ascii_text_is_counted_in_bytes(private_socket: Path, listener: Listener) -> None:
    emitter = direct_emitter(private_socket, [], max_frame_bytes=8 * MIB)
    try:
        assert emitter.flush(5.0)
        connection = Connection(connection_id="emoji", path="/e", connected_at=1.0, state="open")
        emoji = "\U0001f389" * MIB  # 1 Mi characters, 4 MiB of UTF-8
        emitter.connection_changed(6, connection)
        for i in range(4):
            emitter.frame_recorded(record(6, i, text_frame(emoji, at=2.0 + i)))
        assert emitter.flush(10.0)
        wait_until(lambda: sum(listener.lengths()) >= 16 * MIB, "the frames")
        assert max(listener.lengths()) <= MAX_MESSAGE_BYTES
    finally:
        emitter.stop()


def test_a_replay_of_many_small_frames_is_split(private_socket: Path, listener: Listener) -> None:
    # max_message_size=256 and max_messages=70_000: the replay alone is 18 MB of frames.
    connection = Connection(connection_id="many", path="/many", connected_at=1.0, state="open")
    one = text_frame("x" * 256)
    records: list[FrameRecord] = [record(1, i, one) for i in range(70_000)]
    emitter = direct_emitter(private_socket, [(1, connection, records)], max_frame_bytes=256)
    try:
        emitter.flush(10.0)
        wait_until(lambda: sum(listener.lengths()) >= 70_000 * 256, "the replay")
        assert max(listener.lengths()) <= MAX_MESSAGE_BYTES
    finally:
        emitter.stop()


def test_flush_after_a_stalled_inspector_resumes_sends_every_frame(private_socket: Path, listener: Listener) -> None:
    emitter = direct_emitter(private_socket, [], max_frame_bytes=64 * 1024)
    try:
        assert emitter.flush(5.0)
        listener.reading.clear()
        connection = Connection(connection_id="f", path="/f", connected_at=1.0, state="open")
        emitter.connection_changed(2, connection)
        frames = [text_frame(f"{i:05d}".ljust(64 * 1024, "."), at=float(i)) for i in range(300)]  # ~19 MiB
        for i, f in enumerate(frames):
            emitter.frame_recorded(record(2, i, f))
        assert not emitter.flush(0.2)  # the socket is full: not written yet
        listener.reading.set()
        assert emitter.flush(10.0)
        found = check_split(listener, len(frames))
        assert [w.to_frame() for b in found for w in b.frames] == frames
        assert emitter.flush(0.0)
    finally:
        emitter.stop()


# -- live order equals the saved order (issue 11, item 6) --------------------------------------


def row_words(rows: list[Any]) -> list[str]:
    """A connection's rows as words: ◉ event texts, frames as "direction type content"."""
    words = []
    for _, item in rows:
        if isinstance(item, Frame):
            words.append(f"{item.direction} {item.message_type} {item.content}")
        else:
            words.append(f"◉ {item.text}")
    return words


@pytest.mark.parametrize("ending", ["client", "server"])
async def test_a_connection_that_ends_within_one_slice_is_shown_in_order(private_socket: Path, ending: str) -> None:
    """Accept, messages and close all before the writer's next slice: the updates queued at the
    connect and the accept must say what was true then, not what the connection is when written."""
    store = Store()
    inspector = InspectorServer(store, private_socket)
    await inspector.start()
    middleware, emitter = live_emitter(private_socket)
    try:
        incoming: list[dict[str, Any]] = [{"type": "websocket.connect"}]
        incoming += [{"type": "websocket.receive", "text": text} for text in ("one", "two")]
        if ending == "client":
            incoming.append({"type": "websocket.disconnect", "code": 1001, "reason": ""})
        else:
            incoming.append({"type": "websocket.receive", "text": "close"})  # echo_app closes: 4001 "asked"
        incoming.reverse()

        async def receive() -> dict[str, Any]:
            return incoming.pop()

        async def send(message: dict[str, Any]) -> None:
            pass

        started = time.monotonic()
        await middleware({"type": "websocket", "path": "/ws/quick"}, receive, send)
        assert time.monotonic() - started < SLICE  # it all happened within one slice (else the test proves nothing)
        assert emitter.flush(5.0)
        await until(
            lambda: any(e.connection.state == "closed" and len(e.frames) >= 5 for e in store.entries.values()),
            what="the connection to arrive closed",
        )
    finally:
        emitter.stop()
        await inspector.close()

    (conn,) = store.connections()
    live = row_words([row for row in store.rows if row[0] == conn.connection_id])
    if ending == "client":
        frames = ["received text one", "sent text one", "received text two", "sent text two", "received close "]
        ended = "◉ closed by client: 1001 Going Away"
    else:
        frames = ["received text one", "sent text one", "received text two", "sent text two"]
        frames += ["received text close", "sent close asked"]
        ended = "◉ closed by server: 4001 Application: asked"
    assert live == ["◉ connect /ws/quick", "◉ accepted", *frames, ended]
    # The saved file holds the same rows in the same order (a close frame and the "closed by" row
    # often share their time: the ending still comes last).
    saved = Store()
    saved.load(store.connections())
    assert row_words(saved.rows) == live


def texts_of(store: Store) -> list[str]:
    return [item.content for _, item in store.rows if isinstance(item, Frame) and item.message_type == "text"]


async def test_text_utf8_cannot_hold_is_streamed_escaped_and_the_rest_flows_on(private_socket: Path) -> None:
    """A lone surrogate (``os.fsdecode`` names an undecodable file so) failed the whole batch to
    encode, and the writer thread died with it: nothing streamed again for the life of the process."""
    store = Store()
    inspector = InspectorServer(store, private_socket)
    await inspector.start()
    middleware, emitter = live_emitter(private_socket)
    try:
        await converse(middleware, ["no such file: " + os.fsdecode(b"/data/\xff"), "after"])
        await until(lambda: "after" in texts_of(store), what="the frames after it", patience=10.0)
        await converse(middleware, ["another connection"])
        await until(lambda: "another connection" in texts_of(store), what="a later connection's frames", patience=10.0)
    finally:
        emitter.stop()
        await inspector.close()
    assert texts_of(store)[:2] == ["no such file: /data/\\udcff"] * 2  # received, and echoed


async def test_a_failure_of_the_writers_own_ends_one_link_not_the_stream(
    private_socket: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    store = Store()
    inspector = InspectorServer(store, private_socket)
    await inspector.start()
    middleware, emitter = live_emitter(private_socket)
    messages = Emitter._messages
    failures = iter([RuntimeError("a bug of ours")])

    def fails_once(self: Emitter, events: list[Any]) -> list[WireMessage]:
        failure = next(failures, None)
        if failure is not None:
            raise failure
        return messages(self, events)

    monkeypatch.setattr(Emitter, "_messages", fails_once)
    try:
        await converse(middleware, ["lost with the link"])
        await until(lambda: emitter.connects == 2, what="a new link", patience=10.0)
        await converse(middleware, ["on the new link"])
        await until(lambda: "on the new link" in texts_of(store), what="the frames on the new link", patience=10.0)
    finally:
        emitter.stop()
        await inspector.close()
    assert "wsinspect failed to stream to the inspector; it streams again on a new link" in caplog.text
