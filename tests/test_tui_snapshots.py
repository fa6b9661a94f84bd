"""Screenshots of the inspector compared with the SVGs in the top-level ``snapshots/`` folder.

Regenerate after an intended change with ``pytest tests/test_tui_snapshots.py --snapshot-update``
and look at the SVGs before committing them.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import cbor2
import msgspec
import pytest
from helpers.factories import batch, text_frame, update
from helpers.tui_data import (
    BASE,
    BROKEN_ID,
    CHAT_ID,
    HANDLERS_AT,
    make_app_loop_blocks,
    make_connections,
    make_endings,
    make_handler_connections,
)
from helpers.waiting import pilot_until
from textual.pilot import Pilot

from wsinspect.inspector.core.store import Producer, Store
from wsinspect.inspector.server import InspectorServer
from wsinspect.inspector.ui.app import InspectorApp
from wsinspect.model import Connection, Frame, Row, SystemEvent

pytestmark = pytest.mark.usefixtures("utc_clock")

SIZE = (160, 45)
SnapCompare = Callable[..., bool]
PRODUCER = Producer(key=1, pid=4242, app="chat-app")


def loaded() -> InspectorApp:
    store = Store()
    store.load(make_connections())
    return InspectorApp(store, source="fixture.json")


def downs_to(app: InspectorApp, check: Callable[[Row], bool]) -> list[str]:
    """The presses that take the cursor from the first row (where a file opens) to the first row passing ``check``."""
    position = next(i for i, row in enumerate(app.store.rows) if check(row))
    return ["down"] * position


def test_empty_live_inspector(snap_compare: SnapCompare, private_socket: Path) -> None:
    """A live inspector waiting for apps: no connections, no frames."""
    store = Store()
    # The socket path of the test is random: show a fixed one.
    app = InspectorApp(
        store,
        server=InspectorServer(store, private_socket),
        source="listening on /run/user/1000/wsinspect/inspector.sock",
    )
    assert snap_compare(app, terminal_size=SIZE)


def test_busy_chat_connection(snap_compare: SnapCompare) -> None:
    """The chat selected on a JSON message: timeline, chat lifecycle, pretty JSON in the detail pane."""
    app = loaded()

    def chat_reply(row: Row) -> bool:
        item = row[1]
        return (
            row[0] == CHAT_ID
            and isinstance(item, Frame)
            and item.message_type == "text"
            and '"reply 6"' in item.content
        )

    assert snap_compare(app, terminal_size=SIZE, press=downs_to(app, chat_reply))


def test_truncated_binary_frame_hex_view(snap_compare: SnapCompare) -> None:
    """The ticker's truncated 20 KB frame: hex dump and the truncated mark."""
    app = loaded()

    def truncated_binary(row: Row) -> bool:
        item = row[1]
        return isinstance(item, Frame) and item.message_type == "binary" and item.truncated

    assert snap_compare(app, terminal_size=SIZE, press=downs_to(app, truncated_binary))


def test_connection_closed_by_the_app(snap_compare: SnapCompare) -> None:
    """The connections list focused on the one the app closed with 4001 "bye"."""
    app = loaded()

    async def focus_table(pilot: Pilot[Any]) -> None:
        app.table.focus()
        await pilot.pause()

    assert snap_compare(app, terminal_size=SIZE, run_before=focus_table, press=["down", "down"])


def test_a_handler_error_with_its_traceback(snap_compare: SnapCompare) -> None:
    """The failed connection's error row: the handler's log lines (≡) around it, the handler time on
    the message it failed on, and in the detail pane the traceback, library frames folded."""
    app = loaded()

    def handler_error(row: Row) -> bool:
        return isinstance(row[1], SystemEvent) and row[1].text.startswith("handler error")

    assert snap_compare(app, terminal_size=SIZE, press=downs_to(app, handler_error))


def test_filters_active(snap_compare: SnapCompare) -> None:
    """Sent only and the text "reply": the chips, the count, and the matching rows."""
    assert snap_compare(loaded(), terminal_size=SIZE, press=["d", "slash", *"reply", "enter"])


def test_help_screen(snap_compare: SnapCompare) -> None:
    assert snap_compare(loaded(), terminal_size=SIZE, press=["question_mark"])


def test_small_terminal(snap_compare: SnapCompare) -> None:
    """80x24: the lifecycle panel makes room for the list and the timeline."""
    assert snap_compare(loaded(), terminal_size=(80, 24))


@pytest.mark.parametrize(
    ("payload", "subprotocol"),
    [
        ('42["chat",{"user":"alice","text":"hi"}]', None),
        (
            '{"id":"1","type":"next","payload":{"data":{"price":{"symbol":"WSI","value":101.5}}}}',
            "graphql-transport-ws",
        ),
        ('{"jsonrpc":"2.0","id":3,"result":{"symbol":"WSI","bid":101.2}}', None),
        (msgspec.msgpack.encode({"symbol": "WSI", "seq": 7, "price": 101.5}), None),
        (cbor2.dumps({"symbol": "WSI", "seq": 7, "price": 101.5}), None),
        (b"\x08\x96\x01\x12\x03WSI\x1a\x05\x08\x07\x10\xe5\x07", None),  # 1: 150, 2: "WSI", 3: {1: 7, 2: 997}
        (b'{"symbol": "WSI", "seq": 7}', None),  # JSON in a binary frame
        ('MESSAGE\ndestination:/topic/prices\ncontent-type:application/json\n\n{"symbol":"WSI"}\x00', None),
    ],
    ids=["socket.io", "graphql-ws", "json-rpc", "msgpack", "cbor", "protobuf", "json-binary", "stomp"],
)
def test_a_decoded_payload(snap_compare: SnapCompare, payload: str | bytes, subprotocol: str | None) -> None:
    """A frame read by its decoder: the summary in the timeline, the tree and the decoder's name below."""
    kind = "binary" if isinstance(payload, bytes) else "text"
    frame = Frame(direction="sent", message_type=kind, content=payload, timestamp=BASE + 1, size_bytes=len(payload))
    store = Store()
    store.load(
        [
            Connection(
                connection_id="decoded",
                path="/ws/decoded",
                connected_at=BASE,
                accepted_at=BASE,
                subprotocol=subprotocol,
                state="closed",
                disconnected_at=BASE + 2,
                messages=[frame],
            )
        ]
    )
    app = InspectorApp(store, source="decoded.json")
    assert snap_compare(app, terminal_size=SIZE, press=["down", "down"])


def test_quit_asks_with_frames_not_exported(snap_compare: SnapCompare, private_socket: Path) -> None:
    """q in a live inspector with 1,234 frames not exported: the question, over the session."""
    store = Store()
    app = InspectorApp(
        store,
        server=InspectorServer(store, private_socket),
        source="listening on /run/user/1000/wsinspect/inspector.sock",
    )
    opened = Connection(
        connection_id=CHAT_ID, path="/ws/chat", state="open", connected_at=BASE, accepted_at=BASE + 0.001
    )
    closed = msgspec.structs.replace(
        opened, state="closed", disconnected_at=BASE + 3, close_code=1000, closed_by="client"
    )
    frames = [text_frame(f'{{"seq": {i}}}', at=BASE + 1 + i / 1000) for i in range(1234)]

    async def stream(pilot: Pilot[Any]) -> None:
        store.apply(PRODUCER, [update(1, opened), batch(1, frames), update(1, closed)], BASE + 3)
        await pilot_until(
            pilot, lambda: len(app.timeline.index) >= len(frames) and app.table.row_count >= 1, "the frames on screen"
        )
        await pilot.pause(0.5)  # the panels catch up

    assert snap_compare(app, terminal_size=SIZE, run_before=stream, press=["q"])


def test_a_slow_client(snap_compare: SnapCompare) -> None:
    """Issue 28: the slow client's row in the table (how long its sends waited), the row of a send
    that waited 2.3 s, its detail, and the slow connection's lifecycle."""
    store = Store()
    store.load(make_endings())
    app = InspectorApp(store, source="fixture.json")

    def the_longest_wait(row: Row) -> bool:
        return isinstance(row[1], Frame) and row[1].send_waited == 2.3

    assert snap_compare(app, terminal_size=SIZE, press=downs_to(app, the_longest_wait))


def test_what_the_client_saw(snap_compare: SnapCompare) -> None:
    """Issue 28: a Starlette handler that raised after the accept under uvicorn: the client saw no
    close frame, which the lifecycle panel says."""
    store = Store()
    store.load(make_endings())
    app = InspectorApp(store, source="fixture.json")
    assert snap_compare(app, terminal_size=SIZE, press=downs_to(app, lambda row: row[0] == BROKEN_ID))


def handlers_loaded() -> InspectorApp:
    """Open connections whose handlers wait, work and send, a loop block of one, and one of the app's."""
    store = Store()
    store.load(make_handler_connections(), HANDLERS_AT, make_app_loop_blocks())
    return InspectorApp(store, source="handlers.json")


def test_what_the_handlers_are_doing(snap_compare: SnapCompare) -> None:
    """The table's waiting, working and sending; the working handler's lifecycle (where it is) and
    its connect row's detail (since when, and its stack)."""
    assert snap_compare(handlers_loaded(), terminal_size=SIZE)


def test_a_loop_block_of_a_connection(snap_compare: SnapCompare) -> None:
    """Its red row, named after the app's innermost frame, and the stack that held the loop."""
    app = handlers_loaded()

    def block(row: Row) -> bool:
        return row[0] is not None and isinstance(row[1], SystemEvent) and row[1].text.startswith("loop blocked")

    assert snap_compare(app, terminal_size=SIZE, press=downs_to(app, block))


def test_a_loop_block_of_the_app(snap_compare: SnapCompare) -> None:
    """A block no connection's handler held: an app row, named after its producer."""
    app = handlers_loaded()

    def block(row: Row) -> bool:
        return row[0] is None and isinstance(row[1], SystemEvent)

    assert snap_compare(app, terminal_size=SIZE, press=downs_to(app, block))
