"""Decoded payloads on screen: the timeline's summary, the detail pane's tree, the raw and hex views
one key away, a decoder chosen by hand, and a decoder that fails."""

from __future__ import annotations

from typing import Any

import msgspec
import pytest
from helpers.factories import binary_frame, text_frame
from helpers.tui import text_of
from helpers.waiting import pilot_until

from wsinspect.decoders import JsonDecoder
from wsinspect.inspector.core.store import Store
from wsinspect.inspector.ui.app import InspectorApp
from wsinspect.inspector.ui.detail import DetailPane
from wsinspect.inspector.ui.screens import DecoderScreen
from wsinspect.model import Connection

pytestmark = pytest.mark.usefixtures("utc_clock")

CHAT = '42["chat",{"user":"alice","text":"hi"}]'
TICK = msgspec.msgpack.encode({"symbol": "WSI", "seq": 7, "price": 101.5})


def app_with(*frames: Any, subprotocol: str | None = None) -> InspectorApp:
    store = Store()
    store.load(
        [
            Connection(
                connection_id="conn",
                path="/ws/socket.io",
                connected_at=1000.0,
                accepted_at=1000.0,
                subprotocol=subprotocol,
                state="closed",
                disconnected_at=1010.0,
                messages=list(frames),
            )
        ]
    )
    return InspectorApp(store, source="decoded.json")


async def select_last_frame(app: InspectorApp, pilot: Any) -> None:
    await pilot.press("G")
    while (row := app.timeline.selected_row()) is not None and not hasattr(row[1], "content"):
        await pilot.press("up")
    await pilot.pause()


async def test_a_socket_io_event_is_summarised_and_shown_as_a_tree() -> None:
    app = app_with(text_frame(CHAT, at=1001.0, direction="received"))
    async with app.run_test(size=(160, 45)) as pilot:
        await select_last_frame(app, pilot)
        assert 'socket.io: event "chat" {"user": "alice", "text": "hi"}' in text_of(app.timeline)
        detail = text_of(app.query_one(DetailPane))
        header = detail.splitlines()[0]
        assert header.endswith("· socket.io")
        assert '"event": "chat"' in detail
        # r: the payload as it came; h: its bytes; either again: decoded.
        await pilot.press("r")
        detail = text_of(app.query_one(DetailPane))
        assert CHAT in detail
        assert "raw" in detail.splitlines()[0]
        await pilot.press("r", "h")
        detail = text_of(app.query_one(DetailPane))
        assert "00000000  34 32 5b 22 63 68 61 74" in detail  # 42["chat
        assert "hex" in detail.splitlines()[0]
        await pilot.press("h")
        assert '"event": "chat"' in text_of(app.query_one(DetailPane))


async def test_a_msgpack_frame_reads_as_its_map() -> None:
    app = app_with(binary_frame(TICK, at=1001.0))
    async with app.run_test(size=(160, 45)) as pilot:
        await select_last_frame(app, pilot)
        assert 'msgpack: {"symbol": "WSI", "seq": 7, "price": 101.5}' in text_of(app.timeline)
        detail = text_of(app.query_one(DetailPane))
        assert '"symbol": "WSI"' in detail
        assert detail.splitlines()[0].endswith("· msgpack")


async def test_shift_d_chooses_the_decoder_of_the_selected_connection() -> None:
    app = app_with(text_frame(CHAT, at=1001.0, direction="received"))
    async with app.run_test(size=(160, 45)) as pilot:
        await select_last_frame(app, pilot)
        await pilot.press("D")
        await pilot.pause()
        screen = app.screen
        assert isinstance(screen, DecoderScreen)
        assert screen.names[0] == "auto"
        assert {"json", "msgpack", "socket.io", "graphql-ws", "json-rpc", "stomp", "raw"} <= set(screen.names)
        screen.dismiss("raw")
        await pilot.pause()
        assert "socket.io:" not in text_of(app.timeline)
        assert CHAT in text_of(app.timeline)
        assert app.payloads.choice("conn") == "raw"
        await pilot.press("D")
        await pilot.pause()
        app.screen.dismiss("auto")
        await pilot.pause()
        assert "socket.io: event" in text_of(app.timeline)


async def test_a_decoder_that_fails_is_turned_off_for_the_connection_and_says_so(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def broken(self: object, payload: object, *, truncated: bool = False) -> None:
        raise ValueError("broken on purpose")

    monkeypatch.setattr(JsonDecoder, "decode", broken)
    monkeypatch.setattr(JsonDecoder, "sniff", broken, raising=False)
    notes: list[str] = []
    app = app_with(binary_frame(b'{"a": 1}', at=1001.0))
    app.notify = lambda message, **_: notes.append(str(message))  # type: ignore[method-assign]
    async with app.run_test(size=(160, 45)) as pilot:
        await select_last_frame(app, pilot)
        app.payloads.choose("conn", "json")
        app.query_one(DetailPane).refresh_detail()
        detail = text_of(app.query_one(DetailPane))
        assert "decoder json failed on this connection: ValueError: broken on purpose; showing raw" in detail
        assert "7b 22 61 22" in detail  # still shown, raw: {"a"
        app._panels_due = True
        await pilot_until(pilot, lambda: any("decoder json failed" in note for note in notes), "the toast")


async def test_a_decoder_that_did_not_load_is_said_at_start(monkeypatch: pytest.MonkeyPatch) -> None:
    from wsinspect.inspector.ui import app as app_module

    monkeypatch.setattr(app_module, "decoder_warnings", lambda: ["decoder entry point ticker failed: ImportError"])
    notes: list[str] = []
    app = app_with(text_frame("hello", at=1001.0))
    app.notify = lambda message, **_: notes.append(str(message))  # type: ignore[method-assign]
    async with app.run_test(size=(160, 45)) as pilot:
        await pilot.pause()
        assert notes == ["decoder entry point ticker failed: ImportError"]


def rpc_session() -> InspectorApp:
    return app_with(
        text_frame('{"jsonrpc":"2.0","id":1,"method":"add","params":[2,3]}', direction="received", at=1001.0),
        text_frame('{"jsonrpc":"2.0","id":2,"method":"quote","params":["WSI"]}', direction="received", at=1001.5),
        text_frame('{"jsonrpc":"2.0","id":1,"result":5}', at=1001.024),
    )


async def test_a_reply_shows_its_latency_and_p_goes_to_its_request() -> None:
    app = rpc_session()
    async with app.run_test(size=(160, 45)) as pilot:
        await pilot.pause()
        shown = text_of(app.timeline)
        reply_line = next(line for line in shown.splitlines() if "result" in line)
        assert "↩ 24 ms  json-rpc: result (id 1) 5" in reply_line
        await select_last_frame(app, pilot)  # the quote, never answered
        assert "a request: no reply yet" in text_of(app.query_one(DetailPane))
        await pilot.press("up")  # the reply to add
        detail = text_of(app.query_one(DetailPane))
        assert "reply to the request at 00:01.000, after 24 ms (P goes there)" in detail
        await pilot.press("P")
        request = app.timeline.selected_row()
        assert request is not None
        assert '"method":"add"' in request[1].content  # type: ignore[union-attr]
        assert "request: replied at 00:01.024, after 24 ms" in text_of(app.query_one(DetailPane))
        lifecycle = text_of(app.query_one("#lifecycle"))
        assert "replies p50 24 ms · p95 24 ms\n│         1 unanswered of 2 requests" in lifecycle


async def test_b_pairs_by_a_json_field_of_the_users_choice() -> None:
    app = app_with(
        text_frame('{"op": "get", "meta": {"req": "r1"}}', direction="received", at=1001.0),
        text_frame('{"ok": true, "meta": {"req": "r1"}}', at=1001.5),
    )
    async with app.run_test(size=(160, 45)) as pilot:
        await pilot.pause()
        assert "↩" not in text_of(app.timeline)  # plain JSON: no ids of its own
        await pilot.press("b", *"meta.req", "enter")
        await pilot.pause()
        assert "↩ 500 ms" in text_of(app.timeline)
        assert app.payloads.pair_by == ("meta", "req")


async def test_pair_by_on_the_command_line_reaches_the_screen() -> None:
    app = app_with(
        text_frame('{"req": 1}', direction="received", at=1001.0),
        text_frame('{"req": 1}', at=1001.002),
    )
    app.payloads.set_pair_by("req")
    async with app.run_test(size=(160, 45)) as pilot:
        await pilot.pause()
        assert "↩ 2.0 ms" in text_of(app.timeline)


async def test_w_filters_on_decoded_fields_and_says_what_is_wrong_as_you_type() -> None:
    app = app_with(
        text_frame('42["chat",{"user":"alice","text":"hi"}]', direction="received", at=1001.0),
        text_frame('42["join",{"room":"lobby"}]', direction="received", at=1002.0),
        binary_frame(TICK, at=1003.0),
        text_frame('{"type": "chat", "user": "bob"}', at=1004.0),
    )
    async with app.run_test(size=(160, 45)) as pilot:
        await pilot.pause()
        await pilot.press("w", *"event ==")
        legend = str(app.query_one("#legend").render())
        assert "after 'event ==': a value is missing" in legend
        await pilot.press("enter")  # refused: the box stays open
        assert app.query_one("#filter-input").has_class("-shown")
        await pilot.press(*' "chat"')
        assert "⚠" not in str(app.query_one("#legend").render())
        await pilot.press("enter")
        await pilot.pause()
        rows = [app.store.rows[app.timeline.index[i]] for i in range(len(app.timeline.index))]
        shown = [getattr(item, "content", None) for _, item in rows]
        assert shown == ['42["chat",{"user":"alice","text":"hi"}]']  # a Socket.IO event's name
        assert '[where event == "chat"]' in str(app.query_one("#filters").render())
        # On MessagePack too, and with the text filter at once.
        await pilot.press("w", "ctrl+a", "ctrl+k", *"seq > 5", "enter")
        await pilot.pause()
        assert len(app.timeline.index) == 1
        await pilot.press("w", "ctrl+a", "ctrl+k", *"type = chat", "enter", "slash", *"bob", "enter")
        await pilot.pause()
        assert len(app.timeline.index) == 1
        await pilot.press("slash", "ctrl+a", "ctrl+k", *"alice", "enter")
        await pilot.pause()
        assert len(app.timeline.index) == 0


async def test_a_connection_without_requests_is_not_paired_at_all() -> None:
    app = app_with(*(text_frame(f'{{"type": "chat", "n": {n}}}', at=1001.0 + n) for n in range(5)))
    async with app.run_test(size=(160, 45)) as pilot:
        await pilot.pause()
        # Its rows were decoded for the screen; none had an id to pair by: no pairing, no cost.
        assert app.payloads.pairing("conn") is None
        app.payloads.set_pair_by("n")
        pairing = app.payloads.pairing("conn")
        assert pairing is not None
        assert pairing.taken == 5
