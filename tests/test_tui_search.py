"""Text filters over many rows: the newest rows answer at once, the older ones are searched in the
background with the progress on screen, and the rows on screen stay where they are meanwhile."""

from __future__ import annotations

import pytest
from helpers.factories import binary_frame, text_frame
from helpers.tui import filters_line, shown_rows
from helpers.waiting import pilot_until
from textual import events

from wsinspect.inspector.core.filters import Filters
from wsinspect.inspector.core.store import Store
from wsinspect.inspector.ui import timeline as timeline_module
from wsinspect.inspector.ui.app import InspectorApp
from wsinspect.inspector.ui.filter_bar import FilterBar
from wsinspect.inspector.ui.screens import HelpScreen
from wsinspect.model import Connection

pytestmark = pytest.mark.usefixtures("utc_clock")


def chatty(frames: int) -> Store:
    """One connection of ``frames`` text frames; every seventh says "needle"."""
    messages = [
        text_frame(f"message {i} {'needle' if i % 7 == 0 else 'hay'}", at=1000.0 + i * 0.001) for i in range(frames)
    ]
    store = Store()
    store.load(
        [
            Connection(
                connection_id="chatty",
                path="/ws",
                connected_at=1000.0,
                state="closed",
                disconnected_at=1000.0 + frames,
                messages=messages,
            )
        ]
    )
    return store


@pytest.mark.parametrize("regex", [False, True], ids=["text", "regex"])
async def test_a_text_filter_searches_the_newest_rows_first_and_the_rest_in_the_background(
    monkeypatch: pytest.MonkeyPatch, regex: bool
) -> None:
    monkeypatch.setattr(timeline_module, "SEARCH_ROWS", 500)
    store = chatty(3000)
    app = InspectorApp(store, source="many.json")
    async with app.run_test(size=(160, 45)) as pilot:
        await pilot.pause()
        timeline = app.timeline
        await pilot.press("G")
        expected = [row for row in store.rows if Filters(text="needle", regex=regex).matcher()(row)]
        app._set_filters(Filters(text="needle", regex=regex))
        # At once: the newest rows' matches, the last one selected, and the search under way.
        assert 0 < len(timeline.index) < len(expected)
        assert timeline.selected_row() == expected[-1]
        assert timeline.search_progress is not None
        assert "searching…" in filters_line(app)
        await pilot_until(pilot, lambda: timeline.search_progress is None, "the whole search")
        assert shown_rows(app) == expected
        assert timeline.selected_row() == expected[-1]  # following: still the newest
        await pilot_until(pilot, lambda: "searching" not in filters_line(app), "the line to say it is done")
        assert f"{len(expected):,} of" in filters_line(app)


async def test_the_selected_row_stays_while_older_rows_are_searched(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(timeline_module, "SEARCH_ROWS", 400)
    store = chatty(3000)
    app = InspectorApp(store, source="many.json")
    async with app.run_test(size=(160, 45)) as pilot:
        await pilot.pause()
        timeline = app.timeline
        await pilot.press("G", "up", "up")  # paused, two rows above the newest
        chosen = timeline.selected_row()
        assert chosen is not None
        app._set_filters(Filters(text="message"))  # every frame matches: the same row stays selected
        assert timeline.selected_row() == chosen
        first_shown = store.rows[timeline.index[int(timeline.scroll_offset.y)]]
        await pilot_until(pilot, lambda: timeline.search_progress is None, "the whole search")
        await pilot.pause()
        assert len(timeline.index) == 3000
        assert timeline.selected_row() == chosen
        # The rows found above pushed nothing on screen: the same row is still at the top.
        assert store.rows[timeline.index[int(timeline.scroll_offset.y)]] == first_shown
        assert timeline.following is False


async def test_a_new_filter_stops_the_search_of_the_old_one(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(timeline_module, "SEARCH_ROWS", 300)
    store = chatty(3000)
    app = InspectorApp(store, source="many.json")
    async with app.run_test(size=(160, 45)) as pilot:
        await pilot.pause()
        app._set_filters(Filters(text="needle"))
        assert app.timeline.search_progress is not None
        app._set_filters(Filters(direction="sent"))  # no text: indexed at once
        assert app.timeline.search_progress is None
        await pilot.pause(0.2)
        assert len(app.timeline.index) == 3000
        assert "searching" not in filters_line(app)


def marked_texts(strip_segments: list[object], style: object) -> list[str]:
    return [segment.text for segment in strip_segments if segment.style == style]  # type: ignore[attr-defined]


async def test_s_searches_without_hiding_and_n_and_shift_n_go_from_match_to_match() -> None:
    store = chatty(40)
    app = InspectorApp(store, source="many.json")
    notes: list[str] = []
    app.notify = lambda message, **_: notes.append(str(message))  # type: ignore[method-assign]
    async with app.run_test(size=(160, 45)) as pilot:
        await pilot.pause()
        timeline = app.timeline
        await pilot.press("g")  # the first row: the connect
        await pilot.press("s", *"NEEDLE", "enter")  # any case finds it
        await pilot.pause()
        assert len(timeline.index) == len(store.rows)  # nothing hidden
        first = timeline.selected_row()
        assert first is not None
        assert first[1].content == "message 0 needle"  # type: ignore[union-attr]
        assert 'search "NEEDLE"' in filters_line(app)
        # The match is marked in the row and in the detail pane.
        strip = timeline.render_line(timeline.cursor - int(timeline.scroll_offset.y))  # type: ignore[operator]
        match_style = timeline.style_of("match")
        assert any(segment.text == "needle" and segment.style and segment.style.bgcolor for segment in strip)
        detail = app.query_one("#detail")
        spans = [
            detail_text.plain[span.start : span.end]
            for detail_text in detail._render_detail()  # type: ignore[attr-defined]
            for span in getattr(detail_text, "spans", [])
            if span.style == detail.get_component_rich_style("detail--match", partial=True)
        ]
        assert spans == ["needle"]
        assert match_style.bgcolor is not None
        await pilot.press("n")
        row = timeline.selected_row()
        assert row is not None
        assert row[1].content == "message 7 needle"  # type: ignore[union-attr]
        await pilot.press("N", "N")  # back to 0, then around to the last match
        row = timeline.selected_row()
        assert row is not None
        assert row[1].content == "message 35 needle"  # type: ignore[union-attr]
        assert notes[-1] == "Search wrapped to the end"
        await pilot.press("escape")
        assert app.search_text == ""
        assert timeline.highlight is None
        await pilot.press("n")
        assert notes[-1].startswith("Nothing to find")


async def test_n_finds_only_rows_the_filters_show_and_says_when_none_match() -> None:
    store = chatty(40)
    app = InspectorApp(store, source="many.json")
    notes: list[str] = []
    app.notify = lambda message, **_: notes.append(str(message))  # type: ignore[method-assign]
    async with app.run_test(size=(160, 45)) as pilot:
        await pilot.pause()
        app._set_filters(Filters(text="hay"))
        await pilot.press("s", *"needle", "enter")
        assert notes[-1] == 'No match for "needle" among the rows shown'


async def test_a_hex_search_marks_the_bytes_in_the_dump() -> None:
    connection = chatty(3).connections()[0]
    connection.messages.append(binary_frame(b"\x00\x11\x22\x33\x44\x55\x66\x77\x88\xff\x00", at=1010.0))
    store = Store()
    store.load([connection])
    app = InspectorApp(store, source="hex.json")
    async with app.run_test(size=(160, 45)) as pilot:
        await pilot.pause()
        await pilot.press("g", "s", *"7788ff", "enter")  # across the dump's middle gap
        await pilot.pause()
        row = app.timeline.selected_row()
        assert row is not None
        assert row[1].message_type == "binary"  # type: ignore[union-attr]
        detail = app.query_one("#detail")
        style = detail.get_component_rich_style("detail--match", partial=True)
        body = detail._render_detail()[-1]  # type: ignore[attr-defined]
        assert [body.plain[span.start : span.end] for span in body.spans if span.style == style] == ["77  88 ff"]


@pytest.mark.parametrize(("opens", "purpose"), [("slash", "filter"), ("s", "search"), ("w", "fields")])
async def test_what_is_typed_in_one_go_after_the_key_that_opens_the_box_goes_into_the_box(
    opens: str, purpose: str
) -> None:
    """ "/seq" in one read (a paste, a slow SSH link): "seq" is the filter's, not three commands
    (s would search, e export, q quit)."""
    app = InspectorApp(chatty(50), source="chatty.json", no_confirm=True)
    async with app.run_test(size=(160, 45)) as pilot:
        await pilot.pause()
        for key in [opens, "s", "e", "q"]:  # queued together, as one read of the terminal delivers them
            app.post_message(events.Key(key, "/" if key == "slash" else key))
        await pilot.pause()
        assert app.is_running
        box = app.query_one(FilterBar)
        assert (box.purpose, box.value, app.focused) == (purpose, "seq", box)
        await pilot.press("enter", "escape", "question_mark")  # the box closed, the keys are commands again
        assert isinstance(app.screen, HelpScreen)
        await pilot.press("s")  # over the help, a key of the help's own
        assert isinstance(app.screen, HelpScreen)


async def test_the_timeline_has_the_keys_again_as_soon_as_the_box_closes() -> None:
    """Enter (or Esc) gives the keys back to the timeline at once: a key right after it is a
    command, not a letter typed into the hidden box (where "w" went, and then "type" ran as t, y,
    p and e, in the demo)."""
    app = InspectorApp(chatty(50), source="chatty.json", no_confirm=True)
    async with app.run_test(size=(160, 45)) as pilot:
        await pilot.press("slash", *"seq")
        box = app.query_one(FilterBar)
        assert app.focused is box
        app._close_filter_input()  # what Enter and Esc do
        assert app.focused is app.timeline  # now, not after the next refresh
        await pilot.press("w", *"type")
        assert (box.purpose, box.value, app.focused) == ("fields", "type", box)
