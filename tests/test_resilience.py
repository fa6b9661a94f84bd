"""The inspector killed, restarted or stopped under traffic: the app never notices, and the
inspector ends up with what the app still holds."""

from __future__ import annotations

import asyncio
import os
import signal
import time
from pathlib import Path
from typing import Any

from helpers.factories import echo_app
from helpers.recording import start_record, stop_record
from helpers.servers import run_server
from helpers.waiting import until
from websockets.asyncio.client import connect

from wsinspect import WSInspectConfig, WSInspectMiddleware
from wsinspect.inspector.core.store import Store
from wsinspect.inspector.server import InspectorServer
from wsinspect.sessions import read_session


async def test_inspector_killed_and_restarted_mid_traffic(private_socket: Path, tmp_path: Path) -> None:
    app = WSInspectMiddleware(echo_app)
    emitter = app.recorder.emitter
    assert emitter is not None
    first, _ = start_record(private_socket, tmp_path / "first.json")
    try:
        with run_server(app) as server:
            async with connect(server.ws_url("/ws/live")) as ws:
                await until(lambda: server.call(lambda: emitter.live), bool, what="first inspector")
                for i in range(10):
                    await ws.send(f"a{i}")
                    assert await ws.recv() == f"a{i}"
                first.kill()  # no goodbye: the socket file stays behind, stale
                first.wait()
                for i in range(10):  # nobody listens now; the app carries on
                    await ws.send(f"b{i}")
                    assert await ws.recv() == f"b{i}"
                second, _ = start_record(private_socket, tmp_path / "second.json")
                try:
                    await until(
                        lambda: server.call(lambda: (emitter.connects, emitter.live)),
                        lambda s: s == (2, True),
                        what="reconnect to the second inspector",
                    )
                    for i in range(10):
                        await ws.send(f"c{i}")
                        assert await ws.recv() == f"c{i}"
                finally:
                    await server.call(lambda: None)  # the app records a send after making it: let it finish
                    assert await asyncio.to_thread(emitter.flush, 5.0), "the emitter did not flush"
                    code, err = stop_record(second, timeout=30)
                    assert code == 0, err
    finally:
        if first.poll() is None:
            first.kill()
    (conn,) = read_session(tmp_path / "second.json").connections
    received = [f.content for f in conn.messages if f.direction == "received"]
    # The replay brought what was sent before the restart, and while no inspector listened.
    assert received == [f"{p}{i}" for p in "abc" for i in range(10)]
    assert (conn.messages_received, conn.messages_sent, conn.messages_dropped) == (30, 30, 0)


async def test_inspector_stopped_under_traffic(private_socket: Path, tmp_path: Path) -> None:
    recorder, _ = start_record(private_socket, tmp_path / "session.json")
    messages = 20_000
    try:
        app = WSInspectMiddleware(echo_app, WSInspectConfig(max_messages=50))
        emitter = app.recorder.emitter
        assert emitter is not None
        emitter._limit = 500  # a small queue, so that the socket buffers and the queue fill quickly
        emitter.start()
        await until(lambda: emitter.live, what="the emitter to connect", patience=10)

        incoming = [{"type": "websocket.connect"}]
        # 1,000-byte texts: 40 MB of frames, far beyond what the socket buffers hold (8 MB here).
        incoming += [{"type": "websocket.receive", "text": f"{i:05d}" * 200} for i in range(messages)]
        incoming.append({"type": "websocket.disconnect", "code": 1000, "reason": ""})
        incoming.reverse()
        sent: list[dict[str, Any]] = []

        async def receive() -> dict[str, Any]:
            return incoming.pop()

        async def send(message: dict[str, Any]) -> None:
            sent.append(message)

        os.kill(recorder.pid, signal.SIGSTOP)
        try:
            # The whole conversation runs while the inspector is frozen: the app is never blocked.
            await app({"type": "websocket", "path": "/ws/flood"}, receive, send)
            assert len(sent) == messages + 1
            # The queue overflowed meanwhile: not asserted on emitter.dropped here, which the writer
            # resets as it takes the count to send (it may have, before the socket filled), but on
            # the count's arrival in the file below.
        finally:
            os.kill(recorder.pid, signal.SIGCONT)
        assert await asyncio.to_thread(emitter.flush, 20.0), "the emitter did not flush"
        # The drop count and a replay follow the queue.
        await until(lambda: not emitter.dropped, what="the drop count to be sent", patience=20, every=0.02)
        await asyncio.sleep(0.2)
        code, err = stop_record(recorder, timeout=30)
        assert code == 0, err
    finally:
        if recorder.poll() is None:
            os.kill(recorder.pid, signal.SIGCONT)
            recorder.kill()
    assert "frames dropped" in err
    (conn,) = read_session(tmp_path / "session.json").connections
    assert (conn.state, conn.messages_received, conn.messages_sent) == ("closed", messages, messages)
    # Every frame is either in the file or counted as dropped: nothing vanishes silently.
    assert len(conn.messages) + conn.messages_dropped == 2 * messages + 1
    assert conn.messages_dropped > 0
    # After catching up, the replay brought the app's newest frames.
    assert conn.messages[-1].message_type == "close"


async def test_a_restarted_inspector_gets_an_idle_apps_replay_without_new_traffic(private_socket: Path) -> None:
    """Issue 11, item 2: the app notices that its inspector went away while it has nothing to send,
    finds the next one within about a second, and replays what it holds, with no new traffic."""
    app = WSInspectMiddleware(echo_app)
    emitter = app.recorder.emitter
    assert emitter is not None
    first_store = Store()
    first = InspectorServer(first_store, private_socket)
    await first.start()
    try:
        with run_server(app) as server:
            async with connect(server.ws_url("/ws/idle"), proxy=None) as ws:
                for i in range(3):
                    await ws.send(f"m{i}")
                    assert await ws.recv() == f"m{i}"
                await until(
                    lambda: sum(len(e.frames) for e in first_store.entries.values()),
                    lambda frames: frames == 6,
                    what="the first inspector to get the six frames",
                )
                await first.close()  # quit: the app is idle from now on
                second_store = Store()
                second = InspectorServer(second_store, private_socket)
                await second.start()
                try:
                    started = time.monotonic()
                    [conn] = await until(
                        second_store.connections,
                        lambda connections: len(connections) == 1 and len(connections[0].messages) == 6,
                        what="the replay of the open connection",
                    )
                    found_after = time.monotonic() - started
                    assert (conn.path, conn.state) == ("/ws/idle", "open")
                    assert [f.content for f in conn.messages] == ["m0", "m0", "m1", "m1", "m2", "m2"]
                    assert found_after < 3.0, f"the app found the new inspector after {found_after:.1f} s"
                    assert emitter.connects == 2
                    # And it streams live to the new one.
                    await ws.send("after")
                    assert await ws.recv() == "after"
                    await until(
                        lambda: len(second_store.entries[conn.connection_id].frames),
                        lambda frames: frames == 8,
                        what="the new frames",
                    )
                finally:
                    await second.close()
    finally:
        await first.close()


async def test_an_idle_app_replays_to_a_recorder_started_after_one_was_killed(
    private_socket: Path, tmp_path: Path
) -> None:
    """The same with ``wsinspect record`` processes, the first killed (its socket file left stale)."""
    app = WSInspectMiddleware(echo_app)
    emitter = app.recorder.emitter
    assert emitter is not None
    first, _ = start_record(private_socket, tmp_path / "first.json")
    try:
        with run_server(app) as server:
            async with connect(server.ws_url("/ws/idle"), proxy=None) as ws:
                await until(lambda: server.call(lambda: emitter.replays), lambda n: n == 1, what="the first inspector")
                for i in range(3):
                    await ws.send(f"m{i}")
                    assert await ws.recv() == f"m{i}"
                await server.call(lambda: None)  # the app records a send after making it: let it finish
                assert await asyncio.to_thread(emitter.flush, 5.0), "the emitter did not flush"
                first.kill()  # no goodbye; the app has written everything and has nothing more to send
                first.wait()
                second, _ = start_record(private_socket, tmp_path / "second.json")
                try:
                    # Replayed to the second one, with no new traffic to reveal the first one's end.
                    await until(
                        lambda: server.call(lambda: (emitter.connects, emitter.replays)),
                        lambda seen: seen == (2, 2),
                        what="the replay to the second inspector",
                    )
                finally:
                    code, err = stop_record(second, timeout=30)
                    assert code == 0, err
    finally:
        if first.poll() is None:
            first.kill()
    (conn,) = read_session(tmp_path / "second.json").connections
    assert (conn.path, conn.state) == ("/ws/idle", "open")
    assert [f.content for f in conn.messages] == ["m0", "m0", "m1", "m1", "m2", "m2"]
