"""The inspector's screen in tests: an app over the fixed sessions of ``tui_data.py``, what its
widgets and lines show, the timeline's cursor moved with the keys, and ``wsinspect open`` without
a screen. Waiting on a running app is :func:`helpers.waiting.pilot_until`'s."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from textual.geometry import Region
from textual.pilot import Pilot
from textual.widget import Widget
from textual.widgets import Static

from wsinspect.inspector.core.store import Store
from wsinspect.inspector.ui.app import InspectorApp
from wsinspect.inspector.ui.screens import HelpScreen
from wsinspect.model import Connection, Row

from .tui_data import make_connections

__all__ = (
    "Paints",
    "fake_app",
    "filters_line",
    "help_rows",
    "help_shown",
    "make_app",
    "select",
    "shown_rows",
    "status",
    "text_of",
)


def make_app(export_dir: Path | None = None, connections: list[Connection] | None = None) -> InspectorApp:
    """The inspector over a loaded session: ``connections``, or the fixed ones of ``tui_data.py``."""
    store = Store()
    store.load(make_connections() if connections is None else connections)
    return InspectorApp(store, source="fixture.json", export_dir=export_dir)


def text_of(widget: Widget) -> str:
    """What the widget shows on screen, line by line."""
    width, height = widget.size
    return "\n".join(strip.text.rstrip() for strip in widget.render_lines(Region(0, 0, width, height)))


def help_shown(app: InspectorApp) -> str:
    """The help screen's text as shown, line by line."""
    assert isinstance(app.screen, HelpScreen)
    return text_of(app.screen.query_one("#help", Static))


def help_rows(app: InspectorApp) -> list[tuple[str, str]]:
    """The help's rows as shown: (the keys, what they do), a description wrapped under itself joined back."""
    lines = help_shown(app).splitlines()
    first = next(n for n, line in enumerate(lines) if re.match(r"  \S", line))
    rows: list[tuple[str, str]] = []
    for line in lines[first : lines.index("", first)]:
        row = re.match(r"  (\S+(?: \S+)*)  +(.*)$", line)
        if row and not line[2].isspace():
            rows.append((row.group(1), row.group(2)))
        else:
            keys, text = rows.pop()
            rows.append((keys, f"{text} {line.strip()}"))
    return rows


def status(app: InspectorApp) -> str:
    return str(app.query_one("#status").render())


def filters_line(app: InspectorApp) -> str:
    return str(app.query_one("#filters").render())


def shown_rows(app: InspectorApp) -> list[Row]:
    timeline = app.timeline
    return [app.store.rows[timeline.index[i]] for i in range(len(timeline.index))]


async def select(pilot: Pilot[Any], check: Callable[[Row], bool]) -> Row:
    """Move the timeline's cursor with the keys (g, then down) to the first row that passes ``check``."""
    app = pilot.app
    assert isinstance(app, InspectorApp)
    await pilot.press("g")
    for _ in range(len(app.timeline.index)):
        row = app.timeline.selected_row()
        assert row is not None
        if check(row):
            await pilot.pause()
            return row
        await pilot.press("down")
    raise AssertionError("no such row in the timeline")


def fake_app(monkeypatch: pytest.MonkeyPatch, given: list[dict[str, object]] | None = None) -> list[Store]:
    """The stores `wsinspect open` would show, without a screen (and in ``given``, what else it got)."""
    import wsinspect.inspector.ui.app as ui_app

    opened: list[Store] = []

    class FakeApp:
        def __init__(self, store: Store, **kwargs: object) -> None:
            opened.append(store)
            if given is not None:
                given.append(kwargs)

        def run(self) -> None:
            pass

    monkeypatch.setattr(ui_app, "InspectorApp", FakeApp)
    return opened


class Paints:
    """What each paint of an app put on its terminal, in order, as lines of text.

    Textual paints in ``App._display`` (an update of the compositor's, written to the terminal);
    headless, the write is skipped but the paint is made. Right after each one that a terminal
    would have shown, the screen is rendered whole: what the terminal holds then."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        from textual.app import App

        self.screens: list[str] = []
        display = App._display

        def recorded(app: App[Any], screen: Any, renderable: Any) -> None:
            shown = renderable is not None and not app._batch_count  # as _display decides
            display(app, screen, renderable)
            if shown and screen is app.screen:
                update = screen._compositor.render_full_update()
                self.screens.append("\n".join("".join(strip.text for strip in line) for line in update.strips))

        monkeypatch.setattr(App, "_display", recorded)
