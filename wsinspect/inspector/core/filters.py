"""The timeline's filters (sans-I/O): what a row must be to show, and the index of the rows that pass.

Nothing here draws: the timeline widget turns these positions into lines on screen.

The index reads the store's columns (a code, a connection number and a lowered search text per
row) with C-level operations: a text filter is a ``map`` of ``in`` or of a compiled regex over the
text column; Python runs per row only for binary payloads searched by their hex digits.
"""

from __future__ import annotations

import re
import sys
from array import array
from bisect import bisect_right
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from itertools import compress, repeat
from operator import contains, is_not
from typing import Any, ClassVar, Final, Literal, Protocol

from ...formatting import parse_json
from ...model import Frame, LogLine, Row, SystemEvent, describe_close
from .describe import log_text
from .fields import Clause, FieldError, matches
from .fields import parse as parse_fields
from .rows import FRAME_CODES, RowCode, carries_bytes, direction_of, is_row_code, kind_of

__all__ = ("Columns", "FilterError", "FilteredIndex", "Filters", "Selection", "TextSearch", "both_flags")

Direction = Literal["both", "sent", "received"]
Kind = Literal["all", "text", "binary", "control", "logs"]

_HEX_DIGITS: Final = frozenset("0123456789abcdef")
# A regex without capitals finds the same in lowered text, unless it spells a character by number
# (\x41 is "A") or sets flags inline ((?a), (?-i:...)); lookarounds and plain groups are fine.
_CASE_RULES: Final = re.compile(r"\\[0-9xuU]|\(\?(?![:=!#]|<[=!])")
_INLINE_FLAGS: Final = re.compile(r"\(\?(?![:=!#]|<[=!]|P)")


class FilterError(Exception):
    """A filter that cannot be used; ``str()`` is a short message for the status line."""


_NEXT_DIRECTION: Final[dict[Direction, Direction]] = {"both": "sent", "sent": "received", "received": "both"}
_NEXT_KIND: Final[dict[Kind, Kind]] = {
    "all": "text",
    "text": "binary",
    "binary": "control",
    "control": "logs",
    "logs": "all",
}
_KIND_TYPES: Final[dict[Kind, frozenset[str]]] = {
    "all": frozenset(("text", "binary", "ping", "pong", "close")),
    "text": frozenset(("text",)),
    "binary": frozenset(("binary",)),
    "control": frozenset(("ping", "pong", "close")),
    "logs": frozenset(),  # log lines only: no frames
}


@dataclass(frozen=True, slots=True)
class Selection:
    """What filters select, in the terms of the store's columns (see ``Store.codes``)."""

    codes: bytes | None  # 256 bytes: a row's code → 1 selected, 0 not; None: every code
    owner: int | None  # only the rows of this connection number; None: of any
    search: TextSearch | FieldSearch | BothSearches | None  # the text and field filters


# The codes of rows whose payload is bytes (binary, ping, pong; of a connection or of none).
_PAYLOAD_CODES: Final = bytes(carries_bytes(code) for code in range(256))


# What decodes a row's payload for a field filter: its connection id and frame to a tree, or None.
Decode = Callable[[str | None, Frame], Any]


@dataclass(frozen=True, slots=True)
class FieldSearch:
    """A filter on decoded fields (``type == "chat"``): every text or binary frame is decoded, which
    costs far more than a text search, so the index takes fewer rows at a time."""

    clauses: list[Clause]
    decode: Decode
    rows_per_step: int = 2048

    def flags(self, source: Columns, start: int, stop: int) -> Flags:
        clauses, decode = self.clauses, self.decode
        found = bytearray(stop - start)
        for offset, (connection_id, item) in enumerate(source.rows[start:stop]):
            if isinstance(item, Frame) and item.message_type in ("text", "binary"):
                tree = decode(connection_id, item)
                if tree is not None and matches(tree, clauses):
                    found[offset] = 1
        return found


@dataclass(frozen=True, slots=True)
class BothSearches:
    """A text filter and a field filter at once: the rows both keep."""

    text: TextSearch
    fields: FieldSearch

    @property
    def rows_per_step(self) -> int:
        return self.fields.rows_per_step

    def flags(self, source: Columns, start: int, stop: int) -> Flags:
        return both_flags(self.text.flags(source, start, stop), self.fields.flags(source, start, stop))


@dataclass(frozen=True, slots=True)
class TextSearch:
    """The text filter over the store's columns: ``Store.texts`` (lowered text of text frames,
    closes and events) by a literal or a regex, and binary payloads by ``payload``."""

    rows_per_step: ClassVar[int] = 131_072  # rows the index takes at a time
    needle: str | None  # a literal, lowered; None: ``pattern`` instead
    pattern: re.Pattern[str] | None  # a regex that reads lowered text the same as the original
    payload: Callable[[bytes], bool] | None  # a binary, ping or pong payload; None: none matches
    # A regex with flags of its own ((?-i:Auth) is case-sensitive) must read the original text:
    # tested row by row, far slower, instead of all the above.
    row_test: Callable[[Row], bool] | None = None

    # A literal of hex digits finds binary payloads; in a hex dump its bytes are spaced ("ff 00").
    hex_pattern: re.Pattern[str] | None = None

    def spans(self, shown: str) -> list[tuple[int, int]]:
        """Where ``shown`` (a line or a page of it, as the screen shows it) matches: (start, end)."""
        subject = shown if self.row_test is not None else shown.lower()
        found: list[tuple[int, int]] = []
        if self.pattern is not None:
            found = [match.span() for match in self.pattern.finditer(subject) if match.end() > match.start()]
        elif self.needle:
            at = subject.find(self.needle)
            while at >= 0:
                found.append((at, at + len(self.needle)))
                at = subject.find(self.needle, at + len(self.needle))
        if self.hex_pattern is not None:
            found += [match.span() for match in self.hex_pattern.finditer(subject)]
        return sorted(found)

    def flags(self, source: Columns, start: int, stop: int) -> Flags:
        """Which of rows ``start:stop`` match, a byte per row."""
        if self.row_test is not None:
            return bytes(map(self.row_test, source.rows[start:stop]))  # True is 1
        texts = source.texts[start:stop]
        if self.pattern is not None:
            found: Flags = bytes(map(is_not, map(self.pattern.search, texts), repeat(None)))
        else:
            found = bytes(map(contains, texts, repeat(self.needle)))
        payload = self.payload
        if payload is None:
            return found
        kinds = source.codes[start:stop].translate(_PAYLOAD_CODES)
        if not kinds.count(1):
            return found
        found = bytearray(found)
        rows = source.rows
        for offset in compress(range(stop - start), kinds):
            content = getattr(rows[start + offset][1], "content", None)  # a frame: the codes say so
            if isinstance(content, bytes) and payload(content):
                found[offset] = 1
        return found


# Every code a row can have (frames, events, frames of no connection).
_ANY_CODE: Final = bytes(is_row_code(code) for code in range(256))


@dataclass(frozen=True, slots=True)
class Filters:
    """What the timeline shows; ``selection()`` turns it into what the index reads, ``matcher()``
    into the same as a test of one row."""

    text: str = ""
    regex: bool = False
    direction: Direction = "both"
    kind: Kind = "all"
    hide_ping_pong: bool = False
    connection_id: str | None = None
    fields: str = ""  # a filter on decoded fields (see wsinspect.inspector.core.fields)

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
            or self.fields.strip()
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
        if self.fields.strip():
            chips.append(f"where {self.fields.strip()}")
        return chips

    def cycle_direction(self) -> Filters:
        """A copy with the next direction: both → sent → received → both."""
        return replace(self, direction=_NEXT_DIRECTION[self.direction])

    def cycle_kind(self) -> Filters:
        """A copy with the next kind: all → text → binary → control → logs → all."""
        return replace(self, kind=_NEXT_KIND[self.kind])

    def selection(self, number_of: Callable[[str], int], decode: Decode | None = None) -> Selection | None:
        """What the index reads (None: every row); ``number_of`` gives a connection's number in
        the owners column, ``decode`` a payload's decoded tree (for a field filter). Raises
        FilterError for an invalid regex or field filter."""
        if not self.active:
            return None
        text = self._search()
        search: TextSearch | FieldSearch | BothSearches | None = text
        if self.fields.strip():
            try:
                clauses = parse_fields(self.fields)
            except FieldError as exc:
                raise FilterError(f"invalid field filter: {exc}") from None
            fields = FieldSearch(clauses, decode or _no_decoding)
            search = fields if text is None else BothSearches(text, fields)
        table = self._code_table()
        owner = None if self.connection_id is None else number_of(self.connection_id)
        return Selection(None if table == _ANY_CODE else table, owner, search)

    def matcher(self) -> Callable[[Row], bool]:
        """The same as ``selection()``, as a test of one row (the definition the index follows).
        Raises FilterError for an invalid regex."""
        only = self.connection_id
        direction = None if self.direction == "both" else self.direction
        types = _KIND_TYPES[self.kind] - ({"ping", "pong"} if self.hide_ping_pong else set())
        allowed = None if len(types) == 5 else types
        # ◉ events have no direction or kind: those filters hide them (ping/pong hiding does not).
        # Log lines neither, but they are a kind of their own.
        events = direction is None and self.kind == "all"
        logs = direction is None and self.kind in ("all", "logs")
        test = self._row_test()

        def match(row: Row) -> bool:
            connection_id, item = row
            if only is not None and connection_id != only:
                return False
            if isinstance(item, SystemEvent):
                return events and (test is None or test(row))
            if isinstance(item, LogLine):
                return logs and (test is None or test(row))
            if connection_id is None and not events:
                return False
            if direction is not None and item.direction != direction:
                return False
            if allowed is not None and item.message_type not in allowed:
                return False
            return test is None or test(row)

        return match

    def _code_table(self) -> bytes:
        """Which row codes the direction, kind and ping/pong filters keep (see ``matcher``)."""
        direction = None if self.direction == "both" else self.direction
        types = _KIND_TYPES[self.kind] - ({"ping", "pong"} if self.hide_ping_pong else set())
        events = direction is None and self.kind == "all"
        table = bytearray(256)
        for code in FRAME_CODES:
            if (direction is None or direction_of(code) == direction) and kind_of(code) in types:
                table[code] = 1
                table[RowCode.ORPHAN + code] = events  # a frame of no connection goes as events go
        table[RowCode.EVENT] = events
        table[RowCode.LOG] = direction is None and self.kind in ("all", "logs")
        return bytes(table)

    def _row_test(self) -> Callable[[Row], bool] | None:
        """The text filter as a test of a row (None: no text filter)."""
        text_ok, bytes_ok = self._text_tests()
        if text_ok is None:
            return None

        def test(row: Row) -> bool:
            item = row[1]
            if isinstance(item, SystemEvent):
                return text_ok(item.text)
            if isinstance(item, LogLine):
                return text_ok(log_text(item))
            content = item.content
            if content is None:
                return False
            kind = item.message_type
            if kind == "text":
                return text_ok(content)
            if kind == "close":
                return text_ok(describe_close(item.close_code, content) or content)
            return bytes_ok is not None and bytes_ok(content)

        return test

    def search(self) -> TextSearch | None:
        """The text as a search over the store's columns (None without text); raises FilterError
        for an invalid regex. The same text filters with it."""
        return self._search()

    def _search(self) -> TextSearch | None:
        """The text filter over the columns (None: no text filter); the same as ``_row_test``."""
        text = self.text
        if not text:
            return None
        if not self.regex:
            needle = text.lower()
            digits = needle.replace(" ", "")
            payload = _hex_test(digits)
            spaced = None
            if payload is not None:  # "ff00" in a hex dump: "ff 00", or across its middle gap
                spaced = re.compile(r"\s{0,2}".join(re.findall("..?", digits)))
            return TextSearch(needle, None, payload, hex_pattern=spaced)
        try:
            pattern = re.compile(text, re.IGNORECASE)
        except re.error as exc:
            raise FilterError(f"invalid regex: {exc}") from None
        if _INLINE_FLAGS.search(text):
            return TextSearch(None, pattern, None, self._row_test())
        # Lowered text matches a pattern ignoring case as the original does; a pattern without
        # capitals (or characters spelled by number) needs no IGNORECASE there, which is slower.
        if text == text.lower() and not _CASE_RULES.search(text):
            pattern = re.compile(text)
        return TextSearch(None, pattern, lambda data: pattern.search(data.hex()) is not None)

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


class Columns(Protocol):
    """Rows and their columns, item for item (the Store is one; see ``Store.codes``)."""

    @property
    def rows(self) -> Sequence[Row]: ...

    @property
    def codes(self) -> bytearray: ...

    @property
    def owners(self) -> array[int]: ...

    @property
    def owner_limit(self) -> int: ...

    @property
    def texts(self) -> Sequence[str]: ...


Flags = bytes | bytearray  # one byte per row: 1 if it matches, else 0

# The index counts its matches per block of this many rows, to find the n-th without a list.
_BLOCK: Final = 4096
_CACHED_BLOCKS: Final = 8
_OWNERS_AT_ONCE: Final = 65536  # rows of the owners column copied at a time
_LITTLE: Final = sys.byteorder == "little"


def _ones(flags: Flags) -> int:
    return int.from_bytes(flags, "little").bit_count()


def both_flags(a: Flags, b: Flags) -> bytes:
    """Rows that both flag."""
    return (int.from_bytes(a, "little") & int.from_bytes(b, "little")).to_bytes(len(a), "little")


def _owned_by(owners: array[int], start: int, stop: int, number: int, limit: int) -> Flags:
    """Flags of ``owners[start:stop]`` (each item below ``limit``): which equal ``number``.

    Compared a byte plane at a time (the lowest byte of every item, then the next...), each with
    a translate, and only as many planes as ``limit`` needs; a slice of rows at a time, so no
    large copy of the column is made.
    """
    if not 0 <= number < limit:
        return bytes(max(0, stop - start))
    size = owners.itemsize
    planes: list[tuple[int, bytes]] = []  # (the byte's offset in an item, its translate table)
    for k in range(max(1, ((limit - 1).bit_length() + 7) // 8)):
        want = (number >> 8 * k) & 255
        planes.append((k if _LITTLE else size - 1 - k, bytes(want) + b"\x01" + bytes(255 - want)))
    found = bytearray()
    with memoryview(owners) as view:
        for at in range(start, stop, _OWNERS_AT_ONCE):
            with view[at : min(at + _OWNERS_AT_ONCE, stop)] as part:
                data = part.tobytes()
            flags: Flags | None = None
            for plane, table in planes:
                equal = data[plane::size].translate(table)
                flags = equal if flags is None else both_flags(flags, equal)
            assert flags is not None
            found += flags
    return found


class FilteredIndex:
    """The positions of the rows that match, over rows that grow at their end and may lose their
    oldest rows.

    Positions are absolute (counted from the first row ever seen) and ``_base`` is the absolute
    position of the current row 0, so dropping old rows renumbers nothing. Without a selection
    every row matches: the positions are the range [_first, _end). With one, ``_flags`` holds a
    byte per row from ``_origin`` (1: it matches) and ``_blocks[k]`` the matches in its first
    ``k`` blocks, so the n-th match is found by a bisect and the flags of one block.
    """

    __slots__ = (
        "_base",
        "_blocks",
        "_count",
        "_decoded",
        "_end",
        "_first",
        "_flags",
        "_origin",
        "_selection",
        "_skipped",
    )

    def __init__(self, selection: Selection | None) -> None:
        self._selection = selection
        self._base = 0
        self._end = 0  # absolute: rows below it have been tested
        self._first = 0
        self._flags: bytearray | None = None
        self._origin = 0
        self._blocks = array("q", [0])
        self._skipped = 0  # matches below _base (still flagged)
        self._count = 0  # matches from _base on
        self._decoded: dict[int, tuple[int, list[int]]] = {}  # block → (its end, its matches)
        if selection is not None:
            self._reset_flags(0)

    def extend(self, source: Columns, start: int, stop: int) -> None:
        """Test ``source.rows[start:stop]`` and add the positions that match.

        Rows already tested are skipped, so ``extend(source, 0, len(source.rows))`` catches up.
        """
        base = self._base
        start = max(start, self._end - base, 0)
        stop = min(stop, len(source.rows))
        if start >= stop:
            return
        flags = self._flags
        if flags is None:
            if self._first == self._end:
                self._first = base + start
            elif base + start != self._end:
                # A gap: the matches stop being one range, so flag them after all.
                first, end = self._first, self._end
                flags = self._reset_flags(first)
                flags.extend(b"\x01" * (end - first))
                self._count, self._end = end - first, end
        if flags is not None:
            if not flags:
                self._origin = base + start
            else:
                flags.extend(bytes(base + start - self._end))  # a gap: rows never tested
            chunk = self._flags_of(source, start, stop)
            flags.extend(chunk)
            self._count += _ones(chunk)
            blocks = self._blocks
            for block in range(len(blocks) - 1, len(flags) // _BLOCK):
                blocks.append(blocks[-1] + _ones(flags[block * _BLOCK : (block + 1) * _BLOCK]))
        self._end = base + stop

    def rebuild(self, source: Columns, start: int = 0) -> None:
        """Forget everything and test every row from ``start`` on; ``extend_back`` tests the
        ones before it later (a slow text search answers for the newest rows first)."""
        self._base = self._end = self._first = 0
        self._flags = None
        if self._selection is not None:
            self._reset_flags(start)
        else:
            self._end = self._first = start
        self.extend(source, start, len(source.rows))

    def flags_between(self, start: int, stop: int) -> Flags:
        """Which of rows ``start:stop`` are in the index, a byte per row (untested ones are not)."""
        base = self._base
        if self._flags is None:
            first, end = max(self._first - base, start), min(self._end - base, stop)
            if first >= end:
                return bytes(stop - start)
            return bytes(first - start) + b"\x01" * (end - first) + bytes(stop - end)
        origin = self._origin - base
        flags = self._flags[max(0, start - origin) : max(0, stop - origin)]
        before = max(0, min(origin, stop) - start)
        return bytes(before) + flags + bytes(stop - start - before - len(flags))

    @property
    def untested(self) -> int:
        """How many of the oldest rows are not tested yet (see ``rebuild``)."""
        origin = self._origin if self._flags is not None else self._first
        return max(0, origin - self._base)

    def extend_back(self, source: Columns, start: int) -> int:
        """Test the rows from ``start`` up to the oldest tested one; returns how many matched."""
        base = self._base
        origin = base + self.untested
        start = base + max(0, start)
        flags = self._flags
        if start >= origin or flags is None:
            return 0
        chunk = self._flags_of(source, start - base, origin - base)
        flags[0:0] = chunk
        added = _ones(chunk)
        self._origin = start
        self._count += added
        # Every block moved: count them again (a few hundred popcounts for a million rows).
        blocks = self._blocks = array("q", [0])
        for block in range(len(flags) // _BLOCK):
            blocks.append(blocks[-1] + _ones(flags[block * _BLOCK : (block + 1) * _BLOCK]))
        self._decoded.clear()
        return added

    def discard_before(self, position: int) -> None:
        """The owner dropped its rows below ``position``, and row ``position`` is now row 0."""
        if position <= 0:
            return
        self._base += position
        base = self._base
        flags = self._flags
        if flags is None:
            self._end = max(self._end, base)
            self._first = min(max(self._first, base), self._end)
            return
        if base >= self._end:
            self._reset_flags(base)  # every row tested is gone
            return
        skipped = self._rank(base)
        self._count -= skipped - self._skipped
        self._skipped = skipped
        drop = (base - self._origin) // _BLOCK
        if drop > 0:  # whole blocks below row 0: forget them
            blocks = self._blocks
            gone = blocks[drop]
            del flags[: drop * _BLOCK]
            self._blocks = array("q", [count - gone for count in blocks[drop:]])
            self._skipped -= gone
            self._origin += drop * _BLOCK
            self._decoded.clear()

    def __len__(self) -> int:
        if self._flags is None:
            return self._end - self._first
        return self._count

    def __getitem__(self, i: int) -> int:
        """The position of the ``i``-th match (negative ``i`` counts from the end)."""
        count = len(self)
        if i < 0:
            i += count
        if not 0 <= i < count:
            raise IndexError("FilteredIndex index out of range")
        if self._flags is None:
            return self._first + i - self._base
        return self._select(self._skipped + i) - self._base

    def index_of(self, position: int) -> int | None:
        """The index of the match at ``position``, or of the nearest one before it; None if none."""
        target = position + self._base
        if self._flags is None:
            if self._end == self._first or target < self._first:
                return None
            return min(target, self._end - 1) - self._first
        found = self._rank(target + 1) - self._skipped  # the matches from row 0 to ``position``
        return found - 1 if found > 0 else None

    # -- the flags -----------------------------------------------------------------------------

    def _reset_flags(self, origin: int) -> bytearray:
        """No row flagged yet; the next tested is at ``origin``."""
        flags = self._flags = bytearray()
        self._origin = self._end = origin
        self._blocks = array("q", [0])
        self._skipped = self._count = 0
        self._decoded.clear()
        return flags

    def _flags_of(self, source: Columns, start: int, stop: int) -> Flags:
        """What the selection says of ``source.rows[start:stop]``, a byte per row."""
        selection = self._selection
        if selection is None:  # flagged after a gap: every row matches
            return b"\x01" * (stop - start)
        flags: Flags | None = None
        if selection.codes is not None:
            flags = source.codes[start:stop].translate(selection.codes)
        if selection.owner is not None:
            owned = _owned_by(source.owners, start, stop, selection.owner, source.owner_limit)
            flags = owned if flags is None else both_flags(flags, owned)
        if selection.search is None:
            return flags if flags is not None else b"\x01" * (stop - start)
        found = selection.search.flags(source, start, stop)
        return found if flags is None else both_flags(flags, found)

    def _rank(self, position: int) -> int:
        """The matches flagged below the absolute ``position``."""
        flags = self._flags
        assert flags is not None
        end = min(max(position - self._origin, 0), len(flags))
        block = end // _BLOCK
        return self._blocks[block] + _ones(flags[block * _BLOCK : end])

    def _select(self, rank: int) -> int:
        """The absolute position of the match with ``rank`` matches flagged before it."""
        block = bisect_right(self._blocks, rank) - 1
        return self._matches_in(block)[rank - self._blocks[block]]

    def _matches_in(self, block: int) -> list[int]:
        flags = self._flags
        assert flags is not None
        start = block * _BLOCK
        stop = min(start + _BLOCK, len(flags))
        cached = self._decoded.get(block)
        if cached is not None and cached[0] == stop:
            return cached[1]
        origin = self._origin
        matches = list(compress(range(origin + start, origin + stop), flags[start:stop]))
        if len(self._decoded) >= _CACHED_BLOCKS:
            self._decoded.clear()
        self._decoded[block] = (stop, matches)
        return matches


def _no_decoding(connection_id: str | None, frame: Frame) -> Any:
    """Without a decoder at hand: JSON text frames only."""
    return parse_json(frame.content) if isinstance(frame.content, str) else None
