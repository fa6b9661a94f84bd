"""The timeline's filters (sans-I/O): what a row must be to show, and the index of the rows that pass.

Nothing here draws: the timeline widget turns these positions into lines on screen.
"""

from __future__ import annotations

import re
from array import array
from bisect import bisect_left, bisect_right
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from itertools import compress
from typing import Final, Literal

from ..model import Row, SystemEvent, describe_close

__all__ = ("FilterError", "FilteredIndex", "Filters")

Direction = Literal["both", "sent", "received"]
Kind = Literal["all", "text", "binary", "control"]

_HEX_DIGITS: Final = frozenset("0123456789abcdef")
# A regex without capitals finds the same in lowered text, unless it spells a character by number
# (\x41 is "A") or sets flags inline ((?a), (?-i:...)); lookarounds and plain groups are fine.
_CASE_RULES: Final = re.compile(r"\\[0-9xuU]|\(\?(?![:=!#]|<[=!])")


class FilterError(Exception):
    """A filter that cannot be used; ``str()`` is a short message for the status line."""


_NEXT_DIRECTION: Final[dict[Direction, Direction]] = {"both": "sent", "sent": "received", "received": "both"}
_NEXT_KIND: Final[dict[Kind, Kind]] = {"all": "text", "text": "binary", "binary": "control", "control": "all"}
_KIND_TYPES: Final[dict[Kind, frozenset[str]]] = {
    "all": frozenset(("text", "binary", "ping", "pong", "close")),
    "text": frozenset(("text",)),
    "binary": frozenset(("binary",)),
    "control": frozenset(("ping", "pong", "close")),
}


@dataclass(frozen=True, slots=True)
class Filters:
    """What the timeline shows; ``matcher()`` turns it into the per-row test."""

    text: str = ""
    regex: bool = False
    direction: Direction = "both"
    kind: Kind = "all"
    hide_ping_pong: bool = False
    connection_id: str | None = None

    def __post_init__(self) -> None:
        # A typo would otherwise filter silently by nothing.
        if self.direction not in _NEXT_DIRECTION:
            raise ValueError(f"unknown direction {self.direction!r}")
        if self.kind not in _NEXT_KIND:
            raise ValueError(f"unknown kind {self.kind!r}")

    @property
    def active(self) -> bool:
        """Whether any filter hides anything."""
        return bool(
            self.text
            or self.direction != "both"
            or self.kind != "all"
            or self.hide_ping_pong
            or self.connection_id is not None
        )

    def describe(self) -> list[str]:
        """Short chips for the active filters, e.g. ['text "auth"', 'sent only']."""
        chips: list[str] = []
        if self.text:
            chips.append(f"regex /{self.text}/" if self.regex else f'text "{self.text}"')
        if self.direction != "both":
            chips.append(f"{self.direction} only")
        if self.kind != "all":
            chips.append(f"kind: {self.kind}")
        if self.hide_ping_pong:
            chips.append("no ping/pong")
        if self.connection_id is not None:
            chips.append("this connection")
        return chips

    def cycle_direction(self) -> Filters:
        """A copy with the next direction: both → sent → received → both."""
        return replace(self, direction=_NEXT_DIRECTION[self.direction])

    def cycle_kind(self) -> Filters:
        """A copy with the next kind: all → text → binary → control → all."""
        return replace(self, kind=_NEXT_KIND[self.kind])

    def matcher(self) -> Callable[[Row], bool]:
        """The per-row test; raises FilterError for an invalid regex."""
        only = self.connection_id
        direction = None if self.direction == "both" else self.direction
        types = _KIND_TYPES[self.kind] - ({"ping", "pong"} if self.hide_ping_pong else set())
        allowed = None if len(types) == 5 else types
        # ◉ events have no direction or kind: those filters hide them (ping/pong hiding does not).
        events = direction is None and self.kind == "all"
        text_ok, bytes_ok = self._text_tests()

        def match(row: Row) -> bool:
            connection_id, item = row
            if only is not None and connection_id != only:
                return False
            if isinstance(item, SystemEvent):
                return events and (text_ok is None or text_ok(item.text))
            if connection_id is None and not events:
                return False
            if direction is not None and item.direction != direction:
                return False
            kind = item.message_type
            if allowed is not None and kind not in allowed:
                return False
            if text_ok is None:
                return True
            content = item.content
            if content is None:
                return False
            if kind == "text":
                return text_ok(content)
            if kind == "close":
                return text_ok(describe_close(item.close_code, content) or content)
            return bytes_ok is not None and bytes_ok(content)

        return match

    def _text_tests(self) -> tuple[Callable[[str], bool] | None, Callable[[bytes], bool] | None]:
        """The text filter as a test of strings and one of payload bytes (None: nothing to test
        for strings; nothing can match for bytes)."""
        text = self.text
        if not text:
            return None, None
        if self.regex:
            try:
                search = re.compile(text, re.IGNORECASE).search
            except re.error as exc:
                raise FilterError(f"invalid regex: {exc}") from None
            if text == text.lower() and not _CASE_RULES.search(text):
                # re's IGNORECASE is several times slower than a plain search of the lowered text.
                plain = re.compile(text).search
                return (lambda value: plain(value.lower()) is not None), (lambda data: plain(data.hex()) is not None)
            return (lambda value: search(value) is not None), (lambda data: search(data.hex()) is not None)
        needle = text.lower()
        bytes_ok = _hex_test(needle.replace(" ", ""))
        if needle.upper() == needle:
            # Nothing to fold (digits, punctuation, ids): skip the lowered copy of each payload.
            return (lambda value: needle in value), bytes_ok
        return (lambda value: needle in value.lower()), bytes_ok


def _hex_test(digits: str) -> Callable[[bytes], bool] | None:
    """Whether a payload holds the bytes spelled by ``digits`` ("ff00": bytes ff 00).

    Matches start on a byte boundary, so "ff00" does not find "af f0 0b"; an odd digit count
    ends in the high half of a byte ("ff0" finds ff 00 … ff 0f). None when ``digits`` spell no bytes.
    """
    if not digits or not _HEX_DIGITS.issuperset(digits):
        return None
    whole = bytes.fromhex(digits[: len(digits) // 2 * 2])
    if len(digits) % 2 == 0:
        return lambda data: whole in data
    high = int(digits[-1], 16) << 4
    search = re.compile(re.escape(whole) + f"[\\x{high:02x}-\\x{high | 15:02x}]".encode()).search
    return lambda data: search(data) is not None


# -- the index of matching rows ----------------------------------------------------------------


class FilteredIndex:
    """The positions of the rows that match, over a list of rows that grows at its end and may
    lose its oldest rows.

    Positions are stored absolute (counted from the first row ever seen) and ``_base`` is the
    absolute position of the current row 0, so dropping old rows renumbers nothing.
    """

    __slots__ = ("_base", "_end", "_first", "_match", "_positions")

    def __init__(self, matcher: Callable[[Row], bool] | None) -> None:
        self._match = matcher
        self._base = 0
        self._end = 0  # absolute: rows below it have been tested
        # Without a matcher every row matches: the positions are the range [_first, _end).
        self._first = 0
        self._positions: array[int] | None = None if matcher is None else array("q")

    def extend(self, rows: Sequence[Row], start: int, stop: int) -> None:
        """Test ``rows[start:stop]`` and add the positions that match.

        Rows already tested are skipped, so ``extend(rows, 0, len(rows))`` catches up.
        """
        base = self._base
        start = max(start, self._end - base, 0)
        stop = min(stop, len(rows))
        if start >= stop:
            return
        positions = self._positions
        if positions is None:
            if self._first == self._end:
                self._first = base + start
            elif base + start != self._end:
                # A gap: the matches stop being one range, so list them after all.
                positions = self._positions = array("q", range(self._first, self._end))
        if positions is not None:
            numbers = range(base + start, base + stop)
            if self._match is None:
                positions.extend(numbers)
            else:
                chunk: Sequence[Row] | map[Row]
                if start == 0 and stop == len(rows):
                    chunk = rows
                elif isinstance(rows, (list, tuple)):
                    chunk = rows[start:stop]
                else:
                    chunk = map(rows.__getitem__, range(start, stop))
                positions.extend(compress(numbers, map(self._match, chunk)))
        self._end = base + stop

    def rebuild(self, rows: Sequence[Row]) -> None:
        """Forget everything and test every row."""
        self._base = self._end = self._first = 0
        if self._positions is not None:
            self._positions = array("q") if self._match is not None else None
        self.extend(rows, 0, len(rows))

    def discard_before(self, position: int) -> None:
        """The owner dropped its rows below ``position``, and row ``position`` is now row 0."""
        if position <= 0:
            return
        self._base += position
        base = self._base
        self._end = max(self._end, base)
        if self._positions is None:
            self._first = min(max(self._first, base), self._end)
        else:
            del self._positions[: bisect_left(self._positions, base)]

    def __len__(self) -> int:
        if self._positions is None:
            return self._end - self._first
        return len(self._positions)

    def __getitem__(self, i: int) -> int:
        """The position of the ``i``-th match (negative ``i`` counts from the end)."""
        if self._positions is not None:
            return self._positions[i] - self._base
        count = self._end - self._first
        if i < 0:
            i += count
        if not 0 <= i < count:
            raise IndexError("FilteredIndex index out of range")
        return self._first + i - self._base

    def index_of(self, position: int) -> int | None:
        """The index of the match at ``position``, or of the nearest one before it; None if none."""
        target = position + self._base
        if self._positions is None:
            if self._end == self._first or target < self._first:
                return None
            return min(target, self._end - 1) - self._first
        found = bisect_right(self._positions, target) - 1
        return found if found >= 0 else None
