"""The key table: the help screen and the command palette are generated from the bindings.

Every binding has an ``id`` (so a keymap can move it: ``App.set_keymap({"filter.direction": "D"})``),
a short ``description`` (the footer's word, the palette's title) and a ``tooltip`` (the sentence the
footer shows on hover, the help screen and the palette). Bindings in one ``Binding.Group`` share one
row of the help (``↑ ↓ j k``), under the group's description.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from textual.binding import Binding, BindingType
from textual.keys import format_key

# Where a binding's row goes in the help, by id. A binding not listed here goes at the end, so a new
# one is never left out; this only decides the order (the footer's order is the BINDINGS order).
HELP_ORDER = (
    "filter.text",
    "filter.regex",
    "filter.fields",
    "filter.direction",
    "filter.kind",
    "filter.ping_pong",
    "filter.connection",
    "filter.clear",
    "search.text",
    "search.next",
    "search.previous",
    "timeline.up",
    "timeline.down",
    "timeline.page_up",
    "timeline.page_down",
    "timeline.first",
    "timeline.follow",
    "timeline.last",
    "connections.match",
    "connections.order",
    "connections.first",
    "connections.newest",
    "focus.next",
    "detail.raw",
    "detail.hex",
    "connection.decoder",
    "frame.partner",
    "pair.by",
    "frame.copy",
    "export",
    "export.as",
    "session.clear",
    "command_palette",
    "help",
    "quit",
)

KEY_LABELS = {
    "escape": "Esc",
    "tab": "Tab",
    "enter": "Enter",
    "space": "Space",
    "backspace": "Backspace",
    "delete": "Del",
    "insert": "Ins",
    "pageup": "PgUp",
    "pagedown": "PgDn",
    "home": "Home",
    "end": "End",
    "up": "↑",
    "down": "↓",
    "left": "←",
    "right": "→",
}


@dataclass(frozen=True, slots=True)
class KeyHelp:
    """One row of the help: the keys as shown, and what they do."""

    keys: str
    text: str


def bindings_of(declared: Iterable[BindingType]) -> list[Binding]:
    """The ``Binding`` objects of a ``BINDINGS`` list (every one of ours is a Binding, with an id)."""
    return [binding for binding in declared if isinstance(binding, Binding)]


def bound_keys(binding: Binding, keymap: Mapping[str, str]) -> list[str]:
    """The keys that run the binding now: its own, or the keymap's for its id."""
    keys = keymap.get(binding.id, binding.key) if binding.id else binding.key
    return [key.strip() for key in keys.split(",") if key.strip()]


def key_label(key: str) -> str:
    """One key as people write it: "/" for slash, "?" for question_mark, "Esc", "PgUp", "↑", "ctrl+l"."""
    *modifiers, name = key.split("+")
    return "+".join([*modifiers, KEY_LABELS.get(name) or format_key(name)])


def keys_label(keys: Iterable[str]) -> str:
    """Several keys on one line: arrows and named keys first, then the letters in order, as "↑ ↓ j k"."""
    labels = list(dict.fromkeys(key_label(key) for key in keys))
    letters = [label for label in labels if len(label) == 1 and label.isascii() and label.isalnum()]
    named = [label for label in labels if label not in letters]
    return " ".join(named + sorted(letters, key=lambda label: (label.lower(), label)))


def help_order(bindings: Iterable[Binding]) -> list[Binding]:
    """The bindings in the help's order (HELP_ORDER, then the rest as declared)."""
    rank = {binding_id: n for n, binding_id in enumerate(HELP_ORDER)}
    return sorted(bindings, key=lambda binding: rank.get(binding.id or "", len(rank)))


def help_rows(bindings: Iterable[Binding], keymap: Mapping[str, str]) -> list[KeyHelp]:
    """One row per binding, or per group of bindings, in the help's order."""
    rows: dict[object, tuple[list[str], str]] = {}
    for binding in help_order(bindings):
        row = binding.group or binding.id or binding.action
        text = binding.group.description if binding.group else binding.tooltip or binding.description
        keys, _ = rows.setdefault(row, ([], text))
        keys.extend(bound_keys(binding, keymap))
    return [KeyHelp(keys_label(keys), _sentence(text)) for keys, text in rows.values()]


def _sentence(text: str) -> str:
    """A tooltip as a line of the help: "Clear the session" reads "clear the session" (not "JSON" though)."""
    return text[:1].lower() + text[1:] if text[1:2].islower() else text
