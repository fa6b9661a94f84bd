"""How the inspector writes numbers and payloads: sizes, durations, one-line previews, hex dumps, JSON.

Pure functions of their arguments; the widgets and ``wsinspect record`` print what they return.
"""

from __future__ import annotations

import json
import math
from typing import Final

from .model import Frame, describe_close

__all__ = (
    "ARROWS",
    "ELLIPSIS",
    "format_count",
    "format_duration",
    "format_offset",
    "format_size",
    "hexdump",
    "parse_json",
    "preview",
    "short_duration",
)

ELLIPSIS: Final = "…"
ARROWS: Final = {"sent": "→", "received": "←"}

# C0 and C1 controls and DEL become spaces; str.split() then collapses every kind of whitespace.
_CONTROLS: Final = {code: " " for code in (*range(0x20), *range(0x7F, 0xA0))}
# hexdump's ASCII column: printable ASCII stays, every other byte is a dot.
_PRINTABLE: Final = bytes(byte if 0x20 <= byte < 0x7F else 0x2E for byte in range(256))


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


def format_count(n: int) -> str:
    """A count with thousands separators: "999", "1,234", "1,234,567"."""
    return f"{n:,}"


def counted(number: int, noun: str) -> str:
    """A count and its noun: "1 app", "2 apps", "3,480 frames"."""
    return f"{number:,} {noun}{'' if number == 1 else 's'}"


def format_duration(seconds: float) -> str:
    """A short duration: "0.4s", "59.9s", "1m 05s", "1h 02m", "1,234h 00m"."""
    tenths = round(seconds * 10) if math.isfinite(seconds) and seconds > 0 else 0
    if tenths < 600:
        return f"{tenths / 10:.1f}s"
    whole = tenths // 10
    if whole < 3600:
        return f"{whole // 60}m {whole % 60:02d}s"
    return f"{whole // 3600:,}h {whole % 3600 // 60:02d}m"


def short_duration(seconds: float) -> str:
    if seconds < 0.01:
        return f"{seconds * 1000:.1f} ms"
    return f"{seconds * 1000:.0f} ms" if seconds < 1 else format_duration(seconds)


def format_size(n: int) -> str:
    """Bytes, 1024-based: "999 B", "1.0 KB", "12.3 KB", "1.5 MB" (and "2,000.0 PB")."""
    if n < 1000:
        return f"{n} B"
    value = n / 1024
    for unit in ("KB", "MB", "GB", "TB"):
        # Switch units before one decimal would show four digits ("1000.0 KB").
        if value < 999.95:
            return f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:,.1f} PB"


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
