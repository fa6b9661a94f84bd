"""The connections table as a widget: what it redraws, its cursor, its keys, the mouse, its scrolling."""

from __future__ import annotations

from typing import Any

import pytest
from helpers.factories import close_frame, text_frame
from helpers.tui import make_app, text_of
from helpers.tui_data import BASE
from rich.style import Style
from rich.text import Text
from textual.geometry import Region
from textual.message import Message

from wsinspect.inspector.ui import connections as connections_module
from wsinspect.inspector.ui.connections import ConnectionTable
from wsinspect.inspector.ui.lifecycle import LifecyclePanel
from wsinspect.model import Connection

NOW = BASE + 100.0


def connections(count: int, *, open_every: int = 2, reason: str = "bye") -> list[Connection]:
    """``count`` connections, one second apart; every ``open_every``-th one still open."""
    return [
        Connection(
            connection_id=f"conn-{n:04d}",
            path=f"/ws/room/{n}",
            connected_at=BASE + n,
            accepted_at=BASE + n,
            state="open" if n % open_every == 0 else "closed",
            disconnected_at=None if n % open_every == 0 else BASE + n + 0.5,
            close_code=None if n % open_every == 0 else 4001,
            close_reason="" if n % open_every == 0 else reason,
            closed_by=None if n % open_every == 0 else "server",
            messages=[text_frame("hello", at=BASE + n + 0.1), close_frame(4001, reason, at=BASE + n + 0.4)],
        )
        for n in range(count)
    ]


class Posted:
    """What the table posts: RowHighlighted and RowSelected, by connection id."""

    def __init__(self, table: ConnectionTable) -> None:
        self.highlighted: list[str] = []
        self.selected: list[str] = []
        original = table.post_message

        def post_message(message: Message) -> bool:
            if isinstance(message, ConnectionTable.RowHighlighted):
                self.highlighted.append(message.connection_id)
            elif isinstance(message, ConnectionTable.RowSelected):
                self.selected.append(message.connection_id)
            return original(message)

        table.post_message = post_message  # type: ignore[method-assign]


def count_renders(table: ConnectionTable, monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The rows (-1: the header) the table renders from now on."""
    rendered: list[int] = []
    original = table._render_row

    def render_row(row: int, *args: Any) -> Any:
        rendered.append(row)
        return original(row, *args)

    monkeypatch.setattr(table, "_render_row", render_row)
    return rendered


def draw(table: ConnectionTable) -> list[str]:
    width, height = table.size
    return [strip.text for strip in table.render_lines(Region(0, 0, width, height))]


async def test_a_durations_tick_renders_only_the_rows_that_changed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(connections_module, "time", lambda: NOW)
    app = make_app(connections=connections(6, open_every=3))  # conn-0000 and conn-0003 open
    async with app.run_test(size=(160, 45)) as pilot:
        await pilot.pause()
        table = app.table
        table.sync(set())
        draw(table)
        rendered = count_renders(table, monkeypatch)
        draw(table)
        assert rendered == []  # nothing changed: every line from the cache
        monkeypatch.setattr(connections_module, "time", lambda: NOW + 1)  # a second later
        table.sync(set())
        lines = draw(table)
        assert sorted(rendered) == [table.get_row_index("conn-0000"), table.get_row_index("conn-0003")]
        assert "Open (1m 41s)" in lines[1 + table.get_row_index("conn-0000")]
        rendered.clear()
        table.sync(set())  # the same second: the same cells
        draw(table)
        assert rendered == []
        # A closed connection's row, told dirty but drawn the same, is not rendered again either.
        table.sync({"conn-0001"})
        draw(table)
        assert rendered == []
        app.store.entries["conn-0001"].connection.messages_sent = 7  # "7 · 0 B": no column wider
        table.sync({"conn-0001"})
        draw(table)
        assert rendered == [table.get_row_index("conn-0001")]


async def test_a_wider_cell_widens_what_scrolls_without_laying_out_the_screen(monkeypatch: pytest.MonkeyPatch) -> None:
    app = make_app(connections=connections(4))
    async with app.run_test(size=(160, 45)) as pilot:
        await pilot.pause()
        table = app.table
        layouts: list[bool] = []
        original = table.refresh

        def refresh(*regions: Region, **options: Any) -> Any:
            layouts.append(bool(options.get("layout")))
            return original(*regions, **options)

        monkeypatch.setattr(table, "refresh", refresh)
        width = table.virtual_size.width
        app.store.entries["conn-0001"].connection.messages_sent = 123_456_789
        app.store.entries["conn-0001"].connection.bytes_sent = 123_456_789
        table.sync({"conn-0001"})
        assert table.virtual_size.width > width
        assert layouts
        assert not any(layouts)
        assert "123,456,789 · " in text_of(table)


async def test_keys_move_the_cursor_and_announce_the_row() -> None:
    app = make_app(connections=connections(60))
    async with app.run_test(size=(160, 45)) as pilot:
        await pilot.pause()
        table = app.table
        posted = Posted(table)
        await pilot.press("tab")
        assert app.focused is table
        await pilot.press("home")
        await pilot.pause()
        start = len(posted.highlighted)
        await pilot.press("down", "down")
        await pilot.pause()
        assert table.cursor_row == 2
        assert table.selected_id() == "conn-0002"
        assert posted.highlighted[start:] == ["conn-0001", "conn-0002"]
        await pilot.press("up")
        await pilot.pause()
        assert table.selected_id() == "conn-0001"
        await pilot.press("up", "up")  # not above the first row
        await pilot.pause()
        assert table.cursor_row == 0
        await pilot.press("pagedown")
        await pilot.pause()
        page = table.scrollable_content_region.height - 1
        assert table.cursor_row == page
        assert table.scroll_y > 0
        await pilot.press("pageup")
        await pilot.pause()
        assert table.cursor_row == 0
        await pilot.press("ctrl+end")
        await pilot.pause()
        assert table.selected_id() == "conn-0059"
        assert "c60" in text_of(table)  # scrolled into view
        await pilot.press("ctrl+home")
        await pilot.pause()
        assert table.cursor_row == 0
        assert table.scroll_y == 0
        await pilot.press("enter")
        await pilot.pause()
        assert posted.selected == ["conn-0000"]


async def test_a_click_selects_the_row() -> None:
    app = make_app(connections=connections(6))
    async with app.run_test(size=(160, 45)) as pilot:
        await pilot.pause()
        table = app.table
        posted = Posted(table)
        table.move_cursor(row=0)
        await pilot.pause()
        await pilot.click(ConnectionTable, offset=(10, 1 + 3))  # below the header: the fourth row
        await pilot.pause()
        assert table.selected_id() == "conn-0003"
        assert posted.highlighted[-1] == "conn-0003"
        assert posted.selected == []
        await pilot.click(ConnectionTable, offset=(10, 1 + 3))  # the highlighted row again: selected
        await pilot.pause()
        assert posted.selected == ["conn-0003"]
        await pilot.click(ConnectionTable, offset=(10, 0))  # the header selects nothing
        await pilot.pause()
        assert table.selected_id() == "conn-0003"
        # The app follows: the lifecycle panel shows the clicked connection.
        assert "/ws/room/3" in text_of(app.query_one(LifecyclePanel))


def backgrounds(table: ConnectionTable, row: int) -> set[Any]:
    width, height = table.size
    strip = table.render_lines(Region(0, 0, width, height))[1 + row]
    return {segment.style.bgcolor for segment in strip if segment.style is not None}


async def test_the_cursor_row_has_the_cursors_colours_focused_or_not() -> None:
    app = make_app(connections=connections(4))
    async with app.run_test(size=(160, 45)) as pilot:
        await pilot.pause()
        table = app.table
        table.move_cursor(row=1)
        await pilot.pause()
        blurred: Style = table.get_component_rich_style("datatable--cursor")
        assert backgrounds(table, 1) == {blurred.bgcolor}
        assert blurred.bgcolor not in backgrounds(table, 0)
        table.focus()
        await pilot.pause()
        focused: Style = table.get_component_rich_style("datatable--cursor")
        assert focused.bgcolor != blurred.bgcolor
        assert backgrounds(table, 1) == {focused.bgcolor}
        assert focused.bgcolor not in backgrounds(table, 2)
        # The header: bold, in its own colours.
        width, height = table.size
        header = table.render_lines(Region(0, 0, width, height))[0]
        assert all(segment.style is not None and segment.style.bold for segment in header if segment.text.strip())
        # The hover: the row under the mouse, faintly.
        await pilot.hover(ConnectionTable, offset=(10, 1 + 3))
        await pilot.pause()
        hover: Style = table.get_component_rich_style("datatable--hover")
        assert backgrounds(table, 3) == {hover.bgcolor} != backgrounds(table, 2)
        await pilot.hover("#timeline")  # the mouse leaves: the hover goes
        await pilot.pause()
        assert backgrounds(table, 3) == backgrounds(table, 0)
        await pilot.hover(ConnectionTable, offset=(10, 1 + 3))
        await pilot.pause()
        assert backgrounds(table, 3) == {hover.bgcolor}
        await pilot.press("down")  # a key takes the hover away
        await pilot.pause()
        assert backgrounds(table, 3) == backgrounds(table, 0)


async def test_columns_wider_than_the_table_scroll_sideways_header_and_all() -> None:
    app = make_app(connections=connections(4, reason="x" * 30))
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        table = app.table
        assert table.virtual_size.width > table.scrollable_content_region.width
        assert table.show_horizontal_scrollbar
        await pilot.press("tab")
        assert app.focused is table
        await pilot.pause()
        header = draw(table)[0]
        assert header.startswith(" #")
        await pilot.press("right", "right", "right")
        await pilot.pause()
        assert table.scroll_x == 3
        assert draw(table)[0][: len(header) - 3] == header[3:]  # the header scrolls with the rows
        await pilot.press("home")  # the first connection, and the start of the row
        await pilot.pause()
        assert table.scroll_x == 0


async def test_rows_overflowing_scroll_with_a_scrollbar_and_the_header_stays() -> None:
    app = make_app(connections=connections(80))
    async with app.run_test(size=(160, 45)) as pilot:
        await pilot.pause()
        table = app.table
        assert table.show_vertical_scrollbar
        assert table.virtual_size.height == 1 + 80
        table.scroll_to(y=30, animate=False, immediate=True)
        await pilot.pause()
        lines = draw(table)
        assert lines[0].startswith(" #")
        assert " c31 " in lines[1]


async def test_rows_and_their_order() -> None:
    app = make_app(connections=connections(5))
    async with app.run_test(size=(160, 45)) as pilot:
        await pilot.pause()
        table = app.table
        assert table.row_count == 5 == len(table.rows)
        assert "conn-0004" in table.rows
        assert table.get_row_index("conn-0004") == 4
        assert isinstance(table.get_row("conn-0004")[0], Text)
        table.set_match("room/3")
        await pilot.pause()
        assert list(table.rows) == ["conn-0003"]
        assert table.order == ["conn-0003"]
        assert table.get_row_index("conn-0003") == 0
        table.set_match("")
        await pilot.pause()
        table.move_cursor(row=4)
        app.store.entries["conn-0002"].connection.send_waited_total = 3.0
        table.set_by_wait(True)
        await pilot.pause()
        assert table.order[0] == "conn-0002"
        assert table.get_row_index("conn-0002") == 0
        assert table.selected_id() == "conn-0004"  # the same connection stays selected
        assert " c3 " in draw(table)[1]


async def test_a_row_that_goes_takes_the_cursor_to_the_row_before() -> None:
    app = make_app(connections=connections(6))  # conn-0000, -0002 and -0004 open
    async with app.run_test(size=(160, 45)) as pilot:
        await pilot.pause()
        table = app.table
        posted = Posted(table)
        table.set_match("open")
        await pilot.pause()
        assert table.order == ["conn-0000", "conn-0002", "conn-0004"]
        table.move_cursor(row=2)
        connection = app.store.entries["conn-0004"].connection
        connection.state, connection.disconnected_at = "closed", BASE + 10
        table.sync({"conn-0004"})  # closed: no longer what the filter asks for
        assert table.order == ["conn-0000", "conn-0002"]
        assert table.get_row_index("conn-0002") == 1
        assert "conn-0004" not in table.rows
        assert table.selected_id() == "conn-0002"
        assert posted.highlighted[-1] == "conn-0002"
        await pilot.pause()
        assert " c5 " not in text_of(table)
        # A row above the cursor goes: the rows under it move up, the cursor with its connection.
        table.set_match("")
        await pilot.pause()
        table.select("conn-0004")
        assert table.cursor_row == 4
        before = len(posted.highlighted)
        app.store.entries["conn-0002"].connection.path = "/ws/gone"
        table.set_match("room")  # conn-0002 no longer matches, conn-0004 is closed now but is a room
        table.select("conn-0004")
        assert table.cursor_row == 3
        app.store.entries["conn-0001"].connection.path = "/ws/gone"
        table.sync({"conn-0001"})
        assert "conn-0001" not in table.rows
        assert [table.get_row_index(key) for key in table.order] == list(range(4))
        assert table.cursor_row == 2
        assert table.selected_id() == "conn-0004"
        assert posted.highlighted[before:] == ["conn-0000", "conn-0004"]  # the rebuild's first row, the select
