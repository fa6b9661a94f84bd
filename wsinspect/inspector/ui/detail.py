"""The detail pane: the selected frame in full (text, JSON pretty or raw, a hex dump, the close)."""

from __future__ import annotations

import json

from rich.console import Group
from rich.json import JSON
from rich.text import Text
from textual.containers import VerticalScroll
from textual.reactive import reactive
from textual.widgets import Static

from ...model import Connection, Frame, Row, SystemEvent, describe_close
from ..formatting import ARROWS, format_offset, format_size, hexdump, parse_json

HEXDUMP_LIMIT = 64 * 1024  # a dump of megabytes would freeze the screen for seconds


class DetailScroll(VerticalScroll, can_focus=False):
    """Scrolls the detail pane with the mouse; Tab goes between the timeline and the connections."""


class DetailPane(Static):
    """The selected frame in full: text, JSON (pretty or raw), a hex dump, or the close."""

    raw: reactive[bool] = reactive(False)

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.row: Row | None = None
        self.connection: Connection | None = None
        self.origin: float | None = None
        self._height: int | None = None  # lines shown, when none is wider than the pane

    def show(self, row: Row | None, connection: Connection | None, origin: float | None = None) -> None:
        """``origin``: where the timeline counts its times from (None: the connection's start)."""
        self.row = row
        self.connection = connection
        self.origin = origin
        self._show(self._render_detail())

    def watch_raw(self) -> None:
        self._show(self._render_detail())

    def _show(self, texts: list[Text | JSON]) -> None:
        # While following a stream this changes several times a second: a layout of the screen
        # only when the height may change (a JSON body's lines are known before it is drawn).
        lines = [line for text in texts for line in (text.text if isinstance(text, JSON) else text).plain.split("\n")]
        height = len(lines) if max(map(len, lines)) <= self.content_region.width else None
        self.update(Group(*texts), layout=height is None or height != self._height)
        self._height = height

    def _render_detail(self) -> list[Text | JSON]:
        if self.row is None:
            return [Text("Select a frame to see it in full", style="dim")]
        item = self.row[1]
        start = self.origin or (self.connection.connected_at if self.connection else item.timestamp)
        if isinstance(item, SystemEvent):
            return [Text(f"◉ {format_offset(item.timestamp - start)}  {item.text}")]
        head = Text()
        head.append(f"{ARROWS[item.direction]} {item.direction} {item.message_type}", style="bold")
        head.append(f"  at {format_offset(item.timestamp - start)}  {format_size(item.size_bytes)}")
        if item.truncated:
            head.append(f"  truncated: {_kept(item)} of {item.size_bytes} bytes kept", style="bold yellow")
        body: Text | JSON
        if item.message_type == "close":
            body = Text(describe_close(item.close_code, item.content) or "close without a code")
        elif item.content is None:
            body = Text("payload not recorded (show_binary_preview is off in the app)", style="dim")
        elif isinstance(item.content, bytes):
            shown = item.content[:HEXDUMP_LIMIT]
            lines = hexdump(shown) or ["(empty)"]
            if len(item.content) > HEXDUMP_LIMIT:
                lines.append(f"… the first {HEXDUMP_LIMIT:,} of {len(item.content):,} kept bytes are shown")
            body = Text("\n".join(lines))
        elif item.content == "":
            body = Text('"" (an empty text frame)', style="dim")
        else:
            parsed = None if self.raw or item.truncated else parse_json(item.content)
            body = JSON(json.dumps(parsed), indent=2) if parsed is not None else Text(item.content)
        return [head, Text(""), body]


def _kept(frame: Frame) -> int:
    content = frame.content
    if isinstance(content, str):
        return len(content.encode())
    return len(content) if isinstance(content, bytes) else 0
