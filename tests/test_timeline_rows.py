"""The timeline's rows: one drawn straight to a known width (ASCII previews) reads and looks the
same as one Rich measures, at any width, for every kind of row."""

from __future__ import annotations

import pytest
from helpers.factories import binary_frame, close_frame, control_frame, text_frame
from rich.cells import cell_len
from textual.strip import Strip

from wsinspect.inspector.core.filters import TextSearch
from wsinspect.inspector.core.store import Store
from wsinspect.inspector.ui.app import InspectorApp
from wsinspect.model import Connection

T0 = 1_700_000_000.0


def _connection() -> Connection:
    waited = text_frame({"seq": 2, "body": "x" * 40}, at=T0 + 2.0)
    waited.send_waited = 1.5
    frames = [
        text_frame({"type": "hello", "seq": 1}, direction="received", at=T0 + 0.001),
        text_frame("日本語のテキスト、幅の広い文字", at=T0 + 0.5),  # two cells a character
        text_frame("café ☕ naïve", direction="received", at=T0 + 0.6),
        waited,
        text_frame("y" * 500, at=T0 + 3.0, size=90_000, truncated=True),  # cut, with a big size
        binary_frame(bytes(range(40)), at=T0 + 4.0),
        control_frame("ping", b"keepalive", at=T0 + 5.0),
        control_frame("pong", b"keepalive", direction="received", at=T0 + 5.01),
        text_frame("", at=T0 + 6.0),
        text_frame("two hours in", direction="received", at=T0 + 7_300.0),  # a longer time column
        close_frame(1000, "bye", direction="received", at=T0 + 7_301.0),
    ]
    return Connection(
        connection_id="rows",
        path="/ws/rows",
        state="closed",
        connected_at=T0,
        accepted_at=T0 + 0.001,
        disconnected_at=T0 + 7_301.0,
        close_code=1000,
        close_reason="bye",
        closed_by="client",
        messages=frames,
    )


def _cells(strip: Strip) -> list[tuple[str, object]]:
    """Each cell's character and style: what the terminal shows."""
    return [(char, segment.style) for segment in strip for char in segment.text]


# A search that finds nothing sends every row the measured way, as rows with a highlight go.
NOTHING = TextSearch(needle="\x00nowhere\x00", pattern=None, payload=None)


@pytest.mark.parametrize("width", [160, 100, 61])
async def test_each_row_is_as_wide_as_the_timeline_and_reads_as_the_measured_way(width: int) -> None:
    store = Store()
    store.load([_connection()])
    app = InspectorApp(store, source="rows.json")
    async with app.run_test(size=(width, 45)) as pilot:
        await pilot.pause()
        timeline = app.timeline
        line_width = timeline.scrollable_content_region.width
        rows = len(timeline.index)
        assert rows >= 11  # the frames and the connection's ◉ events
        timeline.scroll_to(y=0, animate=False, immediate=True)
        top = int(timeline.scroll_offset.y)
        quick = [timeline._render_row(timeline.index[n], line_width, n == 3, 4) for n in range(rows)]
        timeline.highlight = NOTHING
        measured = [timeline._render_row(timeline.index[n], line_width, n == 3, 4) for n in range(rows)]
        for n, (fast, slow) in enumerate(zip(quick, measured, strict=True)):
            assert fast.cell_length == line_width == sum(cell_len(segment.text) for segment in fast), n
            assert fast.text == slow.text, n
            assert _cells(fast) == _cells(slow), n
        texts = [strip.text for strip in quick]
        assert any("日本語" in text for text in texts)
        assert any("2:01:40.000" in text for text in texts)  # the time column grew past its 10 cells
        assert any("waited 1.5s to send" in text for text in texts)
        assert top == 0
