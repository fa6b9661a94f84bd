"""The modal screens: help (generated from the bindings), the export prompt, the decoder choice,
and the question asked before frames not exported are lost (quit, clear)."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import ClassVar

from rich.console import Group
from rich.padding import Padding
from rich.table import Table
from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical, VerticalScroll
from textual.markup import escape
from textual.screen import ModalScreen
from textual.widgets import Input, OptionList, Static

from ...formatting import counted
from .keys import KeyHelp, bindings_of, bound_keys, key_label

KEY_COLUMN = 14  # the help's key column, from the left edge to the descriptions (at least)

LEGEND = """\
[b]The timeline[/b]
  [b]→[/b] sent by the app    [b]←[/b] received by the app
  [b]◉[/b] connect, accept, close, errors, drops
  c1, c2 … are the connections in the list; ✂ marks a truncated payload.
  Times count from the session's start, or from the connection's with [b]c[/b].
"""


def help_text(rows: Iterable[KeyHelp], close_keys: Iterable[str] = ()) -> Group:
    """The help: its title, a row per key (or group of keys), generated from the bindings, then the legend.

    The keys and what they do are two columns: a description too long for the width wraps under
    itself, not under the keys. ``close_keys``: the keys that close the help, said under its title
    ("Esc, q or ? closes this help").
    """
    keys = Table.grid(padding=(0, 2, 0, 0))
    keys.add_column(style="bold", no_wrap=True, min_width=KEY_COLUMN - 4)
    keys.add_column(overflow="fold")
    for row in rows:
        keys.add_row(row.keys, row.text)
    labels = [f"[b]{escape(label)}[/b]" for label in dict.fromkeys(map(key_label, close_keys))]
    closes = f"{', '.join(labels[:-1])} or {labels[-1]}" if len(labels) > 1 else "".join(labels)
    title = ["[b]wsinspect keys[/b]"]
    if closes:
        title.append(f"[dim]{closes} closes this help; ↑ ↓ PgUp PgDn scroll it[/dim]")
    return Group(
        Text.from_markup("\n".join(title), end="\n\n"),
        Padding(keys, (0, 0, 1, 2)),
        Text.from_markup(LEGEND),
    )


class HelpScreen(ModalScreen[None]):
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,q,question_mark", "app.pop_screen", "Close", id="help.close", tooltip="Close the help")
    ]
    # When it does not fit (80x24) it scrolls, with a scrollbar in the border's colour: the theme's
    # own is dark blue on black, which on the panel's background can hardly be seen.
    DEFAULT_CSS = """
    HelpScreen { align: center middle; }
    HelpScreen > VerticalScroll { width: 84; max-width: 100%; height: auto; max-height: 90%;
        border: round $accent; background: $panel; padding: 1 2;
        scrollbar-size-vertical: 1; scrollbar-background: $panel-darken-2;
        scrollbar-background-hover: $panel-darken-2; scrollbar-background-active: $panel-darken-2;
        scrollbar-color: $accent 70%; scrollbar-color-hover: $accent; scrollbar-color-active: $accent; }
    """

    def __init__(self, rows: Iterable[KeyHelp]) -> None:
        super().__init__()
        self.rows = list(rows)

    def close_keys(self) -> list[str]:
        """The keys that close the help, where the app's keymap put them."""
        keymap = getattr(self.app, "_keymap", {})  # Textual keeps the keymap there (App.set_keymap)
        return [key for binding in bindings_of(self.BINDINGS) for key in bound_keys(binding, keymap)]

    def compose(self) -> ComposeResult:
        with VerticalScroll():
            yield Static(help_text(self.rows, self.close_keys()), id="help")


class ExportScreen(ModalScreen[str | None]):
    """Asks where to export: a .json name writes session JSON, a .har name HAR 1.2."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "cancel", "Cancel", id="export.cancel", tooltip="Close without exporting")
    ]
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


class DecoderScreen(ModalScreen[str | None]):
    """Asks which decoder reads the selected connection's payloads: auto, one by name, or raw."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "cancel", "Cancel", id="decoder.cancel", tooltip="Close without changing the decoder")
    ]
    AUTO_FOCUS = "#decoders"
    DEFAULT_CSS = """
    DecoderScreen { align: center middle; }
    DecoderScreen > VerticalScroll { width: 60; max-width: 100%; height: auto; max-height: 90%;
        border: round $accent; background: $panel; padding: 1 2; }
    DecoderScreen OptionList { height: auto; max-height: 20; }
    """

    def __init__(self, connection: str, names: list[str], current: str) -> None:
        super().__init__()
        self.connection = connection
        self.names = names
        self.current = current

    def compose(self) -> ComposeResult:
        with VerticalScroll():
            yield Static(f"Decode {escape(self.connection)} as (Enter chooses, Esc cancels):")
            yield OptionList(*self.names, id="decoders")

    def on_mount(self) -> None:
        self.query_one(OptionList).highlighted = self.names.index(self.current) if self.current in self.names else 0

    @on(OptionList.OptionSelected, "#decoders")
    def _chosen(self, event: OptionList.OptionSelected) -> None:
        self.dismiss(self.names[event.option_index])

    def action_cancel(self) -> None:
        self.dismiss(None)


class ConfirmScreen(ModalScreen[str | None]):
    """Asked before frames not exported are lost: "1,234 frames not exported", then ``e`` export,
    the subclass's key (go on anyway) or ``Esc`` stay. It answers "export", "go" or None.

    ``unexported`` counts them: frames may keep coming while it asks, and the count follows.
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("e", "export", "Export", id="confirm.export", tooltip="Export the session, then go on"),
        Binding("escape", "stay", "Stay", id="confirm.stay", tooltip="Stay: nothing is lost"),
    ]
    GO: ClassVar[Binding]  # the subclass's key: go on anyway
    QUESTION: ClassVar[str] = ""  # what its border says
    DEFAULT_CSS = """
    ConfirmScreen { align: center middle; }
    ConfirmScreen > Vertical { width: auto; max-width: 100%; height: auto;
        border: round $warning; border-title-color: $warning; border-title-style: bold;
        background: $panel; padding: 1 2; }
    ConfirmScreen Static { width: auto; }
    ConfirmScreen #confirm-count { margin-bottom: 1; }
    """

    def __init__(self, unexported: Callable[[], int]) -> None:
        super().__init__()
        self.unexported = unexported
        self._shown = -1

    def compose(self) -> ComposeResult:
        with Vertical() as box:
            box.border_title = self.QUESTION
            yield Static(id="confirm-count")
            yield Static(self.choices(), id="confirm-keys")

    def on_mount(self) -> None:
        self._show_count()
        self.set_interval(0.25, self._show_count)

    def _show_count(self) -> None:
        count = self.unexported()
        if count != self._shown:
            self._shown = count
            self.query_one("#confirm-count", Static).update(f"[b]{counted(count, 'frame')}[/b] not exported")

    def choices(self) -> str:
        """The keys and what they do, where the app's keymap put them: "e export · q quit anyway · Esc stay"."""
        keymap = getattr(self.app, "_keymap", {})  # Textual keeps the keymap there (App.set_keymap)
        export, stay = bindings_of(ConfirmScreen.BINDINGS)
        choices = [(export, "export"), (self.GO, f"{self.GO.description.lower()} anyway"), (stay, "stay")]
        return " · ".join(
            f"[b]{escape(key_label(bound_keys(binding, keymap)[0]))}[/b] {text}" for binding, text in choices
        )

    def action_export(self) -> None:
        self.dismiss("export")

    def action_go(self) -> None:
        self.dismiss("go")

    def action_stay(self) -> None:
        self.dismiss(None)


class ConfirmQuitScreen(ConfirmScreen):
    """q with frames not exported: q again quits."""

    GO = Binding("q", "go", "Quit", id="confirm.quit", tooltip="Quit: the frames not exported are lost")
    BINDINGS: ClassVar[list[BindingType]] = [GO]
    QUESTION = "Quit?"


class ConfirmClearScreen(ConfirmScreen):
    """ctrl+l with frames not exported: ctrl+l again (or c) clears."""

    GO = Binding(
        "ctrl+l,c", "go", "Clear", id="confirm.clear", tooltip="Clear the session: the frames not exported are lost"
    )
    BINDINGS: ClassVar[list[BindingType]] = [GO]
    QUESTION = "Clear the session?"
