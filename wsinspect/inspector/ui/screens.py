"""The modal screens: help and the export prompt."""

from __future__ import annotations

from typing import ClassVar

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Input, Static

HELP = """\
[b]wsinspect keys[/b]

  [b]/[/b]             filter frames by text (Enter applies, Esc cancels)
  [b]x[/b]             toggle regex for the text filter
  [b]d[/b]             direction: both → sent only → received only
  [b]t[/b]             kind: all → text → binary → control
  [b]p[/b]             hide / show ping and pong
  [b]c[/b]             this connection only / all connections
  [b]Esc[/b]           clear every filter
  [b]↑ ↓ j k[/b]       move in the timeline (moving up pauses the follow)
  [b]PgUp PgDn[/b]     move by a page
  [b]Home g[/b]        the first frame
  [b]End G[/b]         the newest frame, and follow again
  [b]Tab[/b]           switch between the timeline and the connections
  [b]r[/b]             raw / pretty JSON in the detail pane
  [b]y[/b]             copy the selected frame's content
  [b]e[/b]             export the session to wsinspect-<date>-<time>.json
  [b]E[/b]             export to a file you name (.har: HAR 1.2)
  [b]ctrl+l[/b]        clear the session
  [b]ctrl+p[/b]        command palette
  [b]?[/b]             this help
  [b]q[/b]             quit

[b]The timeline[/b]
  [b]→[/b] sent by the app    [b]←[/b] received by the app
  [b]◉[/b] connect, accept, close, errors, drops
  c1, c2 … are the connections in the list; ✂ marks a truncated payload.
  Times count from the session's start, or from the connection's with [b]c[/b].
"""


class HelpScreen(ModalScreen[None]):
    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape,q,question_mark", "app.pop_screen", "Close")]
    DEFAULT_CSS = """
    HelpScreen { align: center middle; }
    HelpScreen > VerticalScroll { width: 84; max-width: 100%; height: auto; max-height: 90%;
        border: round $accent; background: $panel; padding: 1 2; }
    """

    def compose(self) -> ComposeResult:
        with VerticalScroll():
            yield Static(HELP)


class ExportScreen(ModalScreen[str | None]):
    """Asks where to export: a .json name writes session JSON, a .har name HAR 1.2."""

    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "cancel", "Cancel")]
    AUTO_FOCUS = "#export-path"
    DEFAULT_CSS = """
    ExportScreen { align: center middle; }
    ExportScreen > VerticalScroll { width: 90; max-width: 100%; height: auto;
        border: round $accent; background: $panel; padding: 1 2; }
    """

    def __init__(self, default: str) -> None:
        super().__init__()
        self.default = default

    def compose(self) -> ComposeResult:
        with VerticalScroll():
            yield Static("Export the session to (ends in .har: HAR 1.2; Enter writes, Esc cancels):")
            yield Input(value=self.default, id="export-path")

    @on(Input.Submitted, "#export-path")
    def _submitted(self, event: Input.Submitted) -> None:
        self.dismiss(event.value.strip() or None)

    def action_cancel(self) -> None:
        self.dismiss(None)
