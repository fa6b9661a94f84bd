"""The text box over the filter line, where a filter, a search, a field filter, a pairing field or
the connections' filter is typed. It says what it is for, checks a field filter as it is typed,
and tells the app what was applied; the app decides what that does."""

from __future__ import annotations

from typing import ClassVar, Literal

from textual import on
from textual.message import Message
from textual.widgets import Input

from ..core.fields import FieldError
from ..core.fields import parse as parse_fields

__all__ = ("FilterBar", "Purpose")

Purpose = Literal["filter", "fields", "search", "pair", "connections"]

PLACEHOLDERS: dict[Purpose, str] = {
    "filter": "filter frames: text (x toggles regex), Enter applies, Esc cancels",
    "fields": 'fields of decoded payloads: type == "chat" and payload.symbol = WSI (Enter applies, Esc cancels)',
    "search": "search frames: text (x toggles regex), Enter finds, Esc cancels",
    "pair": "pair requests and replies by a JSON field (a.b), Enter applies",
    "connections": "connections: a path or a state (open, closed, error, denied), Enter applies, Esc cancels",
}


class FilterBar(Input):
    # Hidden until opened; open (one line, compact), it takes the filter line's place, so nothing
    # below it moves.
    DEFAULT_CSS: ClassVar[str] = """
    FilterBar { display: none; padding: 0 1; background: $boost; }
    FilterBar.-shown { display: block; }
    FilterBar.-bad-fields { background: $error 30%; }
    """

    class Applied(Message):
        """Enter: ``value`` for ``purpose`` (a field filter only once it parses)."""

        def __init__(self, purpose: Purpose, value: str) -> None:
            super().__init__()
            self.purpose = purpose
            self.value = value

    class Checked(Message):
        """What is wrong with the field filter typed so far ("" when nothing is)."""

        def __init__(self, problem: str) -> None:
            super().__init__()
            self.problem = problem

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(placeholder=PLACEHOLDERS["filter"], id=id, compact=True)
        self.purpose: Purpose = "filter"

    @property
    def is_open(self) -> bool:
        return self.has_class("-shown")

    def open(self, purpose: Purpose, value: str) -> None:
        """Show it with ``value``, and give it the keys at once: what is typed right after the key
        that opened it (in the same read) goes in."""
        self.purpose = purpose
        self.value = value
        self.placeholder = PLACEHOLDERS[purpose]
        self.add_class("-shown")
        self.screen.set_focus(self)

    def close(self) -> None:
        self.remove_class("-shown", "-bad-fields")

    @on(Input.Changed)
    def _check(self, event: Input.Changed) -> None:
        event.stop()
        problem = ""
        if self.purpose == "fields":
            try:
                parse_fields(event.value)
            except FieldError as exc:
                problem = str(exc)
        self.set_class(bool(problem), "-bad-fields")
        self.post_message(self.Checked(problem))

    @on(Input.Submitted)
    def _submit(self, event: Input.Submitted) -> None:
        event.stop()
        if not self.has_class("-bad-fields"):  # else the line below says why
            self.post_message(self.Applied(self.purpose, event.value))
