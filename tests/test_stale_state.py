"""No stale state after drops: a connection whose close was lost (with an overflow, or while the
link was down) and that the app no longer holds is closed by the app's next replay, marked as
ended while frames were lost, never left "open" forever."""

from __future__ import annotations

import asyncio
from pathlib import Path

from helpers.factories import echo_app, update
from helpers.servers import run_server
from helpers.waiting import until
from websockets.asyncio.client import connect

from wsinspect import WSInspectConfig, WSInspectMiddleware
from wsinspect.inspector.core.describe import describe_ending
from wsinspect.inspector.core.store import Producer, Store
from wsinspect.inspector.server import InspectorServer
from wsinspect.model import Connection
from wsinspect.wire import Held

NOW = 1_700_000_100.0


def open_connection(connection_id: str) -> Connection:
    return Connection(
        connection_id=connection_id, path="/ws", state="open", connected_at=NOW - 50, accepted_at=NOW - 49
    )


def test_a_replay_closes_what_the_app_no_longer_holds_and_only_that() -> None:
    store = Store()
    link = Producer(1, 4242, "shop", stream="s-1")
    other_app = Producer(2, 4343, "shop", stream="s-2")
    store.apply(link, [update(1, open_connection("gone")), update(2, open_connection("kept"))], NOW)
    store.apply(other_app, [update(1, open_connection("other"))], NOW)

    store.apply(link, [Held([2])], NOW + 5)

    gone = store.entries["gone"].connection
    assert (gone.state, gone.end_lost, gone.disconnected_at, gone.close_code) == ("closed", True, NOW + 5, None)
    assert describe_ending(gone) == "ended while frames were lost (how it closed is unknown)"
    assert store.entries["kept"].connection.state == "open"
    assert store.entries["other"].connection.state == "open"  # another producer's: not this replay's business
    (event,) = [event for cid, event in store.rows if cid == "gone" and "ended" in event.text]  # type: ignore[union-attr]
    assert (event.level, event.timestamp) == ("warning", NOW + 5)  # type: ignore[union-attr]

    # The same stream over a new link (a reconnect): a connection of the earlier link is its too.
    store.apply(Producer(3, 4242, "shop", stream="s-1"), [Held([])], NOW + 9)
    assert store.entries["kept"].connection.end_lost
    # A producer that cannot say which connections are its own closes nothing.
    store.apply(Producer(4, 4343, "shop"), [Held([])], NOW + 10)
    assert store.entries["other"].connection.state == "open"


async def test_a_connection_that_closed_and_was_forgotten_while_the_link_was_down_is_closed(
    private_socket: Path,
) -> None:
    """The SSH forward drops; meanwhile a watched connection closes and 50 others push it out of
    the app's buffer of closed connections; the forward comes back to the same inspector."""
    store = Store()
    app = WSInspectMiddleware(echo_app, WSInspectConfig())
    emitter = app.recorder.emitter
    assert emitter is not None
    inspector = InspectorServer(store, private_socket)
    await inspector.start()
    with run_server(app) as server:
        watched = await connect(server.ws_url("/ws/watched"))
        await watched.send("hi")
        assert await watched.recv() == "hi"

        def opened() -> list[str]:
            return [e.connection.state for e in store.entries.values() if e.connection.path == "/ws/watched"]

        await until(lambda: asyncio.sleep(0, opened()), lambda states: states == ["open"], what="it to open")
        await inspector.close()  # the link goes down
        await until(lambda: server.call(lambda: emitter.live), lambda live: not live, what="the app to notice")
        await watched.close()
        for i in range(55):  # more closed connections than the app keeps (50)
            async with connect(server.ws_url(f"/ws/other/{i}")) as ws:
                await ws.send("x")
                await ws.recv()

        def forgotten() -> bool:
            return all(c.path != "/ws/watched" for c in app.recorder.connections())

        await until(lambda: server.call(forgotten), bool, what="the app to forget it")

        inspector = InspectorServer(store, private_socket)  # the link comes back, to the same inspector
        await inspector.start()
        try:
            await until(lambda: server.call(lambda: emitter.replays), lambda n: n >= 2, what="the replay")
            await until(lambda: asyncio.sleep(0, opened()), lambda s: s == ["closed"], what="it to be closed")
        finally:
            await inspector.close()
    (entry,) = [e for e in store.entries.values() if e.connection.path == "/ws/watched"]
    assert entry.connection.end_lost
    # The others it held were replayed as they are, and none is left open.
    assert {e.connection.state for e in store.entries.values()} == {"closed"}
    assert not any(e.connection.end_lost for e in store.entries.values() if e is not entry)
