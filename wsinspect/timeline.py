"""The inspector's timeline as a view model (sans-I/O): formatting, previews, filters and the index
of the rows that pass them.

Nothing here draws: the widgets turn these strings and positions into lines on screen.
"""

from __future__ import annotations

import json
import math
import re
from array import array
from bisect import bisect_left, bisect_right
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from itertools import compress
from typing import Final, Literal

from .model import Connection, Frame, Row, SystemEvent

__all__ = (
    "FilterError",
    "FilteredIndex",
    "Filters",
    "Row",
    "close_code_name",
    "describe_close",
    "format_duration",
    "format_offset",
    "format_size",
    "hexdump",
    "parse_json",
    "preview",
)

Direction = Literal["both", "sent", "received"]
Kind = Literal["all", "text", "binary", "control"]

ELLIPSIS: Final = "…"

_CLOSE_NAMES: Final = {
    1000: "Normal Closure",
    1001: "Going Away",
    1002: "Protocol Error",
    1003: "Unsupported Data",
    1005: "No Status Received",
    1006: "Abnormal Closure",
    1007: "Invalid Payload Data",
    1008: "Policy Violation",
    1009: "Message Too Big",
    1010: "Mandatory Extension",
    1011: "Internal Error",
    1012: "Service Restart",
    1013: "Try Again Later",
    1014: "Bad Gateway",
    1015: "TLS Handshake",
}

# C0 and C1 controls and DEL become spaces; str.split() then collapses every kind of whitespace.
_CONTROLS: Final = {code: " " for code in (*range(0x20), *range(0x7F, 0xA0))}
# hexdump's ASCII column: printable ASCII stays, every other byte is a dot.
_PRINTABLE: Final = bytes(byte if 0x20 <= byte < 0x7F else 0x2E for byte in range(256))
_HEX_DIGITS: Final = frozenset("0123456789abcdef")
# A regex without capitals finds the same in lowered text, unless it spells a character by number
# (\x41 is "A") or sets flags inline ((?a), (?-i:...)); lookarounds and plain groups are fine.
_CASE_RULES: Final = re.compile(r"\\[0-9xuU]|\(\?(?![:=!#]|<[=!])")


# -- close codes -------------------------------------------------------------------------------


def close_code_name(code: int | None) -> str:
    """The RFC 6455 / IANA name of a close code ("" for None, "Unknown" when unassigned)."""
    if code is None:
        return ""
    name = _CLOSE_NAMES.get(code)
    if name is not None:
        return name
    if 3000 <= code <= 3999:
        return "Registered"
    if 4000 <= code <= 4999:
        return "Application"
    return "Unknown"


def describe_close(code: int | None, reason: str | None) -> str:
    """The close as the UI shows it: "4001 Application: bye", "1000 Normal Closure"; "" without a code."""
    if code is None:
        return ""
    text = f"{code} {close_code_name(code)}"
    return f"{text}: {reason}" if reason else text


# -- numbers -----------------------------------------------------------------------------------


def format_offset(seconds: float) -> str:
    """Time since the connection's start: "00:01.234", or "1:02:03.456" from one hour on."""
    # Whole milliseconds first, so that 59.9996 s carries into the minute instead of showing 60.000.
    millis = round(seconds * 1000) if math.isfinite(seconds) and seconds > 0 else 0
    whole, millis = divmod(millis, 1000)
    minutes, secs = divmod(whole, 60)
    if minutes < 60:
        return f"{minutes:02d}:{secs:02d}.{millis:03d}"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}.{millis:03d}"


def format_duration(seconds: float) -> str:
    """A short duration: "0.4s", "59.9s", "1m 05s", "1h 02m"."""
    tenths = round(seconds * 10) if math.isfinite(seconds) and seconds > 0 else 0
    if tenths < 600:
        return f"{tenths / 10:.1f}s"
    whole = tenths // 10
    if whole < 3600:
        return f"{whole // 60}m {whole % 60:02d}s"
    return f"{whole // 3600}h {whole % 3600 // 60:02d}m"


def format_size(n: int) -> str:
    """Bytes, 1024-based: "999 B", "1.0 KB", "12.3 KB", "1.5 MB"."""
    if n < 1000:
        return f"{n} B"
    value = n / 1024
    for unit in ("KB", "MB", "GB", "TB"):
        # Switch units before one decimal would show four digits ("1000.0 KB").
        if value < 999.95:
            return f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} PB"


# -- previews ----------------------------------------------------------------------------------


def preview(frame: Frame, width: int) -> str:
    """One line of at most ``width`` characters showing the frame's payload, "…" when cut.

    A truncated frame (the app kept only part of the payload) always ends in "…".
    """
    if width <= 0:
        return ""
    kind = frame.message_type
    content = frame.content
    if kind == "close":
        reason = content if isinstance(content, str) else None
        line = _one_line(describe_close(frame.close_code, reason) or reason or "", width)
        return _fit(line or "(no status code)", width, False)
    if content is None:
        return _fit("(payload not recorded)", width, False)
    if isinstance(content, str):
        if not content:
            return _fit('""', width, frame.truncated)
        return _fit(_one_line(content, width) or '" "', width, frame.truncated)
    if not content:
        return _fit("(empty)", width, frame.truncated)
    # Each byte takes 3 characters ("ff "); the last one needs no space unless "…" follows.
    if not frame.truncated and 3 * len(content) - 1 <= width:
        return bytes(content).hex(" ")
    fits = (width - 1) // 3
    return f"{bytes(content[:fits]).hex(' ')} {ELLIPSIS}" if fits else ELLIPSIS


def _one_line(text: str, width: int) -> str:
    """``text`` with controls as spaces and whitespace runs collapsed, at least ``width + 1`` long
    when the whole would be (only a prefix of a long text is looked at)."""
    limit = max(64, 4 * width)
    while True:
        # The cleaned prefix is a prefix of the cleaned whole, so once it is longer than the
        # width, the rest of the text cannot change what shows.
        cleaned = " ".join(text[:limit].translate(_CONTROLS).split())
        if len(cleaned) > width or limit >= len(text):
            return cleaned
        limit *= 4


def _fit(line: str, width: int, cut: bool) -> str:
    if not cut and len(line) <= width:
        return line
    return line[: width - 1].rstrip() + ELLIPSIS


def hexdump(data: bytes, *, columns: int = 16) -> list[str]:
    """Classic hex dump lines: offset, bytes in groups of 8, and the printable ASCII between bars.

    ``columns=8`` gives a single group for narrow screens.
    """
    if columns < 1:
        raise ValueError("columns must be at least 1")
    raw = bytes(data)
    # Every line's hex part is padded to a full line's width so the ASCII column aligns.
    span = 3 * columns - 1 + (columns - 1) // 8
    text = raw.translate(_PRINTABLE).decode("ascii")
    lines: list[str] = []
    for offset in range(0, len(raw), columns):
        chunk = raw[offset : offset + columns]
        groups = "  ".join(chunk[start : start + 8].hex(" ") for start in range(0, len(chunk), 8))
        lines.append(f"{offset:08x}  {groups:<{span}}  |{text[offset : offset + columns]}|")
    return lines


def parse_json(text: str) -> object | None:
    """The value of a JSON object or array, or None when ``text`` is not one."""
    stripped = text.strip()
    if not stripped or stripped[0] not in "{[":
        return None
    try:
        parsed: object = json.loads(stripped)
    except (ValueError, RecursionError):  # RecursionError: nesting deeper than the parser goes
        return None
    return parsed


# -- filters -----------------------------------------------------------------------------------


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


Health = Literal["ok", "late", "timeout", "unknown"]
KEEPALIVE_TIMEOUT_REASON = "keepalive ping timeout"
LATE_AFTER = 1.0  # seconds a ping may wait for its pong before it counts as late (at least)


def health(connection: Connection, unanswered_ping: float | None, now: float) -> Health:
    """How the keepalive is doing: a pong is late, the keepalive timed out, or all is well.

    ``unanswered_ping`` is when the server's oldest ping still waiting for a pong went out.
    ``unknown`` when ping/pong cannot be seen (the server runs without wsinspect's protocol).
    """
    if connection.close_code == 1011 and connection.close_reason == KEEPALIVE_TIMEOUT_REASON:
        return "timeout"
    if not connection.ping_observable:
        return "unknown"
    if connection.state != "open" or unanswered_ping is None:
        return "ok"
    patience = max(LATE_AFTER, 4 * (connection.avg_rtt or 0.0))
    return "late" if now - unanswered_ping > patience else "ok"
