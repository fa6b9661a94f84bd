"""The detail pane and the help screen as a user reads them: the detail's header (the connection,
the words apart, raw mode), a ping's or pong's round trip, a connection's request (headers with
the redacted ones dimmed), and the help at 80x24 (a scrollbar that shows, the keys that close it)."""

from __future__ import annotations

from typing import Any

import pytest
from helpers.factories import control_frame, frame
from helpers.tui import help_shown, select
from helpers.tui_data import BINARY_TRUNCATED_KEPT, BINARY_TRUNCATED_SIZE, CHAT_ID, DENIED_ID, make_connections
from rich.color import Color
from rich.segment import Segment
from textual.app import App, ComposeResult
from textual.containers import VerticalScroll
from textual.geometry import Region
from textual.pilot import Pilot
from textual.widget import Widget
from textual.widgets import Static

from wsinspect.inspector.core.store import Store
from wsinspect.inspector.ui.app import InspectorApp
from wsinspect.inspector.ui.detail import DetailPane, DetailScroll, pair_of
from wsinspect.inspector.ui.screens import HelpScreen
from wsinspect.model import Connection, Frame, Row, SystemEvent

pytestmark = pytest.mark.usefixtures("utc_clock")

SIZE = (160, 45)


class DetailHost(App[None]):
    """The detail pane alone, shown what a test passes it (the inspector passes the selected row)."""

    def compose(self) -> ComposeResult:
        with DetailScroll():
            yield DetailPane()


def loaded_app() -> InspectorApp:
    store = Store()
    store.load(make_connections())
    return InspectorApp(store, source="fixture.json")


def connection(connection_id: str) -> Connection:
    return next(c for c in make_connections() if c.connection_id == connection_id)


def lines_of(widget: Widget) -> list[list[Segment]]:
    """What the widget shows, line by line, as segments."""
    width, height = widget.size
    return [list(strip) for strip in widget.render_lines(Region(0, 0, width, height))]


def text_of(widget: Widget) -> str:
    return "\n".join("".join(segment.text for segment in line).rstrip() for line in lines_of(widget))


def header(widget: Widget) -> str:
    return text_of(widget).split("\n", 1)[0]


def first_frame(conn: Connection, kind: str, direction: str) -> Frame:
    return next(f for f in conn.messages if f.message_type == kind and f.direction == direction)


async def show(pilot: Pilot[Any], row: Row, conn: Connection | None, **options: Any) -> DetailPane:
    pane = pilot.app.query_one(DetailPane)
    pane.show(row, conn, conn.connected_at if conn else None, **options)
    await pilot.pause()
    return pane


def is_event(row: Row, connection_id: str, text: str) -> bool:
    """A ◉ row of that connection whose line starts with ``text``."""
    return row[0] == connection_id and isinstance(row[1], SystemEvent) and row[1].text.startswith(text)


# -- the header: which connection, the words apart, raw mode --------------------------------------


async def test_the_header_names_the_connection_and_keeps_its_words_apart() -> None:
    chat = connection(CHAT_ID)
    welcome = chat.messages[1]
    async with DetailHost().run_test(size=SIZE) as pilot:
        pane = await show(pilot, (CHAT_ID, welcome), chat, number=3)
        # The welcome: sent 61 ms after the chat opened, 42 bytes.
        assert header(pane) == "c3 → sent text · at 00:00.061 · 42 B"
        # Without a number (the inspector's own events have no connection) there is no tag.
        pane = await show(pilot, (None, SystemEvent(chat.connected_at + 1, "warning", "3 frames dropped")), None)
        assert header(pane) == "◉ 3 frames dropped · at 00:00.000"


async def test_the_header_of_a_truncated_frame_counts_with_separators() -> None:
    app = loaded_app()
    async with app.run_test(size=SIZE) as pilot:
        await select(pilot, lambda r: isinstance(r[1], Frame) and r[1].truncated)
        head = header(app.query_one(DetailPane))
        assert f"truncated: {BINARY_TRUNCATED_KEPT:,} of {BINARY_TRUNCATED_SIZE:,} bytes kept" in head
        # Times from the session's start (the ticker opened a second after the chat).
        assert "→ sent binary · at 00:02.050 · 20.0 KB · truncated" in head


async def test_r_shows_raw_mode_in_the_header() -> None:
    app = loaded_app()
    async with app.run_test(size=SIZE) as pilot:
        await select(pilot, lambda r: isinstance(r[1], Frame) and '"auth"' in str(r[1].content))
        pane = app.query_one(DetailPane)
        pretty = header(pane)
        assert "raw" not in pretty
        await pilot.press("r")
        assert header(pane) == f"{pretty} ·  raw"
        # The tag stands out: reversed, like a key in the footer.
        tag = next(s for line in lines_of(pane)[:1] for s in line if s.text == " raw ")
        assert tag.style is not None
        assert tag.style.reverse
        await pilot.press("r")
        assert header(pane) == pretty


async def test_the_inspector_names_the_connection_in_the_header() -> None:
    """app.py passes the connection's number (the list's c1, c2 …) to the detail pane."""
    app = loaded_app()
    async with app.run_test(size=SIZE) as pilot:
        await select(pilot, lambda r: r[0] == CHAT_ID and isinstance(r[1], Frame) and '"welcome"' in r[1].content)
        assert header(app.query_one(DetailPane)) == "c1 → sent text · at 00:00.061 · 42 B"


# -- pings and pongs: the round trip ----------------------------------------------------------------


async def test_a_pong_that_answers_the_keepalive_says_its_round_trip() -> None:
    chat = connection(CHAT_ID)
    pong = first_frame(chat, "pong", "received")  # 4 ms after the server's ping at 00:03.500
    async with DetailHost().run_test(size=SIZE) as pilot:
        pane = await show(pilot, (CHAT_ID, pong), chat, number=1, frames=chat.messages)
        shown = text_of(pane).splitlines()
        assert shown[0] == "c1 ← received pong · at 00:03.504 · 9 B"
        assert shown[1] == "round trip 4.0 ms: answers the server's ping at 00:03.500"
        assert "|keepalive|" in text_of(pane)  # the payload still shows
        # The server's own measure, when it reported one, labelled as the connection's.
        chat.last_rtt, chat.avg_rtt = 0.0042, 0.0035
        pane = await show(pilot, (CHAT_ID, pong), chat, number=1, frames=chat.messages)
        assert text_of(pane).splitlines()[2] == (
            "the connection's keepalive round trip: last 4.2 ms, avg 3.5 ms (measured by the server)"
        )
        # Without the connection's frames, the server's measure still shows.
        pane = await show(pilot, (CHAT_ID, pong), chat, number=1)
        assert "last 4.2 ms, avg 3.5 ms" in text_of(pane)


async def test_a_ping_says_which_pong_answered_it() -> None:
    chat = connection(CHAT_ID)
    async with DetailHost().run_test(size=SIZE) as pilot:
        ping = first_frame(chat, "ping", "sent")
        pane = await show(pilot, (CHAT_ID, ping), chat, number=1, frames=chat.messages)
        assert text_of(pane).splitlines()[1] == "round trip 4.0 ms: the client's pong at 00:03.504"
        # The client's ping and the server's pong: how fast the server answered, not a round trip.
        ping = first_frame(chat, "ping", "received")
        pane = await show(pilot, (CHAT_ID, ping), chat, number=1, frames=chat.messages)
        assert text_of(pane).splitlines()[1] == "answered by the server's pong at 00:06.751 after 1.0 ms"
        pong = first_frame(chat, "pong", "sent")
        pane = await show(pilot, (CHAT_ID, pong), chat, number=1, frames=chat.messages)
        assert text_of(pane).splitlines()[1] == "answers the client's ping at 00:06.750 after 1.0 ms"


def test_pings_and_pongs_are_matched_by_payload_and_order() -> None:
    ping_a = control_frame("ping", b"a", direction="sent", at=1.0)
    ping_b = control_frame("ping", b"b", direction="sent", at=2.0)
    pong_b = control_frame("pong", b"b", direction="received", at=2.5)
    pong_a = control_frame("pong", b"a", direction="received", at=3.0)
    late = control_frame("pong", b"a", direction="received", at=4.0)  # the same payload again
    frames = [ping_a, ping_b, pong_b, pong_a, late]
    assert _pair(frames, pong_b) is ping_b
    assert _pair(frames, pong_a) is ping_a
    assert _pair(frames, late) is None  # pong_a answered ping_a already
    assert _pair(frames, ping_a) is pong_a
    assert _pair(frames, ping_b) is pong_b
    unanswered = control_frame("ping", b"c", direction="sent", at=5.0)
    assert _pair([*frames, unanswered], unanswered) is None
    # A frame that is not among the frames: nothing to match it with.
    assert _pair(frames, control_frame("pong", b"a", direction="received", at=9.0)) is None
    # Payloads not recorded (show_binary_preview off) match by order alone.
    blind_ping = frame("ping", None, direction="sent", at=1.0)
    blind_pong = frame("pong", None, direction="received", at=1.1)
    assert _pair([blind_ping, blind_pong], blind_pong) is blind_ping
    assert _pair([blind_ping, blind_pong], blind_ping) is blind_pong


async def test_an_unanswered_ping_of_an_open_connection_waits_for_its_pong() -> None:
    chat = connection(CHAT_ID)
    chat.state = "open"
    ping = control_frame("ping", b"zz", direction="sent", at=chat.connected_at + 9)
    async with DetailHost().run_test(size=SIZE) as pilot:
        pane = await show(pilot, (CHAT_ID, ping), chat, number=1, frames=[*chat.messages, ping])
        assert text_of(pane).splitlines()[1] == "no pong yet"
        chat.state = "closed"
        pane = await show(pilot, (CHAT_ID, ping), chat, number=1, frames=[*chat.messages, ping])
        assert text_of(pane).splitlines()[1] == "no pong recorded"
        # Without the connection's frames (or once they no longer hold it) nothing is claimed.
        pane = await show(pilot, (CHAT_ID, ping), chat, number=1)
        assert "pong" not in text_of(pane)


# -- a connection's request, on its connect and accepted rows -------------------------------------


async def test_the_connect_row_shows_the_request_and_its_headers() -> None:
    app = loaded_app()
    async with app.run_test(size=SIZE) as pilot:
        for event in ("connect", "accepted"):
            await select(pilot, lambda r, e=event: is_event(r, CHAT_ID, e))
            pane = app.query_one(DetailPane)
            shown = text_of(pane).splitlines()
            assert shown[2:] == [
                "path          /ws/chat",
                "query         room=1",
                "client        127.0.0.1:52114",
                "subprotocols  requested chat.v1 · accepted chat.v1",
                "headers (2)",
                "  host: localhost:8000",
                "  authorization: [redacted]",
            ]
            # A redacted value is dimmed (Textual draws dim text in a darker colour); the others are not.
            segments = [s for line in lines_of(pane) for s in line]
            redacted = next(s.style for s in segments if s.text == "[redacted]")
            plain = next(s.style for s in segments if "localhost:8000" in s.text)
            assert redacted is not None
            assert plain is not None
            assert redacted.color is not None
            assert plain.color is not None
            assert _luminance(redacted.color) < _luminance(plain.color)
        # Other ◉ rows show their line only.
        await select(pilot, lambda r: is_event(r, CHAT_ID, "closed by client"))
        assert "headers" not in text_of(app.query_one(DetailPane))


async def test_a_denied_connection_shows_what_its_request_had() -> None:
    app = loaded_app()
    async with app.run_test(size=SIZE) as pilot:
        await select(pilot, lambda r: is_event(r, DENIED_ID, "connect"))
        shown = text_of(app.query_one(DetailPane)).splitlines()
        assert shown[2:] == [
            "path          /ws/admin",
            "query         —",
            "client        127.0.0.1:52122",
            "subprotocols  none requested",
            "headers       none recorded",
        ]


# -- the help at 80x24 ------------------------------------------------------------------------------


def _luminance(color: Color) -> float:
    def channel(value: int) -> float:
        c = value / 255
        return c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4

    red, green, blue = color.get_truecolor()
    return 0.2126 * channel(red) + 0.7152 * channel(green) + 0.0722 * channel(blue)


def _contrast(one: Color, other: Color) -> float:
    """The WCAG contrast ratio of two colours (1 to 21)."""
    high, low = sorted((_luminance(one), _luminance(other)), reverse=True)
    return (high + 0.05) / (low + 0.05)


def _shown_colour(segment: Segment) -> Color:
    """The colour a blank scrollbar cell shows: its background, or its foreground when reversed."""
    style = segment.style
    assert style is not None
    colour = style.color if style.reverse else style.bgcolor
    assert colour is not None
    return colour


async def test_the_help_at_80x24_has_a_scrollbar_that_shows() -> None:
    app = loaded_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("question_mark")
        await pilot.pause()
        assert isinstance(app.screen, HelpScreen)
        scroll = app.screen.query_one(VerticalScroll)
        assert scroll.max_scroll_y > 0  # it does not fit
        assert scroll.show_vertical_scrollbar
        bar = scroll.vertical_scrollbar
        cells = [_shown_colour(line[0]) for line in lines_of(bar)]
        track = cells[-1]  # the thumb starts at the top
        thumb = cells[0]
        assert thumb != track
        # At least the contrast WCAG asks of the parts of a control (3:1).
        assert _contrast(thumb, track) >= 3, (thumb, track)
        # The keys scroll it.
        await pilot.press("pagedown")
        assert scroll.scroll_y > 0


async def test_the_help_says_which_keys_close_it() -> None:
    app = loaded_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("question_mark")
        await pilot.pause()
        # Under the title, on screen before any scrolling.
        scroll = app.screen.query_one(VerticalScroll)
        shown = text_of(scroll.query_one(Static)).splitlines()
        line = next(n for n, text in enumerate(shown) if "Esc, q or ? closes this help" in text)
        assert scroll.scroll_y == 0
        assert line < scroll.scrollable_content_region.height
        await pilot.press("escape")
        assert not isinstance(app.screen, HelpScreen)
        # A keymap that moves them: the help says the keys that work.
        app.set_keymap({"help.close": "escape,f1"})
        await pilot.press("question_mark")
        await pilot.pause()
        assert "Esc or f1 closes this help" in help_shown(app)
        await pilot.press("f1")
        assert not isinstance(app.screen, HelpScreen)


def _pair(frames: list[Frame], item: Frame) -> Frame | None:
    """The ping a pong answers, or the pong that answers a ping."""
    return pair_of(frames, item)[1]
