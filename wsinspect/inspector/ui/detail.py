"""The detail pane: the selected row in full.

A frame: a header line (``c3 → sent text · at 00:04.512 · 42 B``, the truncation, ``raw`` when raw
mode is on), then its payload (text, JSON pretty or raw, a hex dump, the close); a ping or a pong
also says which pong or ping answers it and after how long. A connection's ◉ connect or accepted
row: the connection's request (path, query, client, subprotocols, headers). The ◉ row of a handler
error or a refusal, the close it caused and the ending row: the error and its traceback. Other ◉
rows: their line; a loop block's also the stack that held the loop. The connect row also says
what the connection's handler has been doing, and where. A ≡ log line: its logger, level and
message, and the exception logged with it.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from time import time
from typing import Any, ClassVar

from msgspec import UNSET
from rich.console import Group
from rich.json import JSON
from rich.text import Text
from textual.containers import VerticalScroll
from textual.reactive import reactive
from textual.widgets import Static

from ...decoders import Decoded
from ...formatting import ARROWS, format_count, format_offset, format_size, hexdump, parse_json, short_duration
from ...model import REDACTED, Connection, Frame, LogLine, Row, SystemEvent, describe_close
from ..core.describe import handler_doing, where
from ..core.filters import TextSearch
from .payloads import Payloads, latency_of
from .tracebacks import STACK_TITLE, traceback_text

HEXDUMP_LIMIT = 64 * 1024  # a dump of megabytes would freeze the screen for seconds
SEPARATOR = " · "
# The ◉ rows after which the pane shows the connection's request (see store.lifecycle_events).
REQUEST_EVENTS = ("connect", "accepted")
EVENT_STYLES = {"info": "bold", "warning": "bold yellow", "error": "bold red"}
METADATA_COLUMN = 14  # the width of the request's name column


class DetailScroll(VerticalScroll, can_focus=False):
    """Scrolls the detail pane with the mouse; Tab goes between the timeline and the connections."""


class DetailPane(Static):
    """The selected row in full: a frame's payload, or the request of a connection's connect row."""

    raw: reactive[bool] = reactive(False)  # the payload as it came, not decoded nor pretty-printed
    hex: reactive[bool] = reactive(False)  # the payload's bytes as a hex dump, whatever it is

    COMPONENT_CLASSES: ClassVar[set[str]] = {"detail--match"}
    DEFAULT_CSS = """
    DetailPane > .detail--match { background: $warning 50%; text-style: bold; }
    """

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.highlight: TextSearch | None = None  # what n / N find, marked in the payload
        self.payloads: Payloads | None = None  # decodes payloads (the app's)
        self.row: Row | None = None
        self.connection: Connection | None = None
        self.origin: float | None = None
        self.number: int | None = None
        self.frames: Sequence[Frame] = ()
        self.as_of: float | None = None  # a saved session's moment: "now" for how long a state lasted
        self._height: int | None = None  # lines shown, when none is wider than the pane

    def show(
        self,
        row: Row | None,
        connection: Connection | None,
        origin: float | None = None,
        *,
        number: int | None = None,
        frames: Sequence[Frame] = (),
    ) -> None:
        """Show ``row`` of ``connection``.

        ``origin``: where the timeline counts its times from (None: the connection's start).
        ``number``: the connection's number in the list, for its ``c3`` (None: no id shown).
        ``frames``: the connection's frames in order (the store's), where a ping or pong finds the
        pong or ping that answers it; the newest are looked at first, so a deque is fine.
        """
        self.row = row
        self.connection = connection
        self.origin = origin
        self.number = number
        self.frames = frames
        self._show(self._render_detail())

    def watch_raw(self) -> None:
        self._show(self._render_detail())

    def watch_hex(self) -> None:
        self._show(self._render_detail())

    def refresh_detail(self) -> None:
        """Show the same row again (its connection's decoder changed)."""
        self._show(self._render_detail())

    def set_highlight(self, search: TextSearch | None) -> None:
        self.highlight = search
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
        connection_id, item = self.row
        connection = self.connection
        start = self.origin or (connection.connected_at if connection else item.timestamp)
        head = Text()
        if connection_id is not None and self.number is not None:
            head.append(f"c{self.number} ", style="bold")
        if isinstance(item, SystemEvent):
            head.append(f"◉ {item.text}", style=EVENT_STYLES.get(item.level, "bold"))
            head.append(f"{SEPARATOR}at {format_offset(item.timestamp - start)}")
            self._raw_tag(head)
            if item.stack is not None:  # a loop block
                return [head, Text(""), *_loop_block(item, connection_id is not None)]
            if connection is not None and connection_id is not None and item.text.startswith(REQUEST_EVENTS):
                return [head, Text(""), *_handler(connection, self.as_of or time()), request(connection)]
            ending = item.level == "error" or item.text.startswith("closed")  # the error, or the end it caused
            if connection is not None and connection_id is not None and ending and connection.error:
                return [head, Text(""), *_cause(connection)]
            return [head]
        if isinstance(item, LogLine):
            return self._log_line(head, item, start)
        head.append(f"{ARROWS[item.direction]} {item.direction} {item.message_type}", style="bold")
        head.append(f"{SEPARATOR}at {format_offset(item.timestamp - start)}{SEPARATOR}{format_size(item.size_bytes)}")
        if item.truncated:
            head.append(SEPARATOR)
            kept = f"{format_count(_kept(item))} of {format_count(item.size_bytes)}"
            head.append(f"truncated: {kept} bytes kept", style="bold yellow")
        if item.send_waited is not UNSET:  # the client did not read: the app's send() waited on it
            head.append(SEPARATOR)
            head.append(f"waited {short_duration(item.send_waited)} to send", style="bold yellow")
        decoded = self._decoded(connection_id, item)
        if decoded is not None:
            head.append(SEPARATOR)
            head.append(f"{decoded.decoder}", style="bold")
            if decoded.truncated:
                head.append(" (as far as the kept bytes go)", style="yellow")
        self._raw_tag(head)
        texts: list[Text | JSON] = [head]
        if item.message_type in ("ping", "pong") and (answer := self._answer(item, start)):
            texts.append(answer)
        if self.payloads is not None:
            texts += [Text(failure, style="bold yellow") for failure in self.payloads.failures(connection_id)]
            if (pair := self._pair(connection_id, item, start)) is not None:
                texts.append(pair)
        texts.append(Text(""))
        texts.append(self._marked(self._body(item, decoded)))
        if item.message_type == "close" and item.direction == "sent" and connection is not None and connection.error:
            texts += [Text(""), *_cause(connection)]  # the close the handler's exception caused
        return texts

    def _log_line(self, head: Text, line: LogLine, start: float) -> list[Text | JSON]:
        style = EVENT_STYLES["error" if line.levelno >= 40 else "warning" if line.levelno >= 30 else "info"]
        head.append(f"≡ {line.level} {line.logger}", style=style)
        head.append(f"{SEPARATOR}at {format_offset(line.timestamp - start)}")
        if line.truncated:
            head.append(SEPARATOR)
            head.append(f"truncated: {format_size(line.size_bytes)} in all", style="bold yellow")
        texts: list[Text | JSON] = [head, Text(""), self._marked(Text(line.message))]
        if line.error:
            texts += [Text(""), Text(line.error, style="bold red")]
        if line.traceback:
            texts.append(traceback_text(line.traceback))
        return texts

    def _pair(self, connection_id: str | None, item: Frame, start: float) -> Text | None:
        """The request this frame answers, or the reply it got, and how long between them (P jumps)."""
        assert self.payloads is not None
        pairing = self.payloads.pairing(connection_id)
        partner, latency = latency_of(pairing, item)
        if partner is None:
            if pairing is not None and pairing.is_waiting(item):
                return Text("a request: no reply yet", style="yellow")
            return None
        at = format_offset(partner.timestamp - start)
        if latency is not None:
            after = short_duration(latency)
            return Text.assemble(
                ("reply", "bold"), f" to the request at {at}, after ", (after, "bold"), " (P goes there)"
            )
        waited = short_duration(partner.timestamp - item.timestamp)
        return Text.assemble(("request", "bold"), f": replied at {at}, after ", (waited, "bold"), " (P goes there)")

    def _decoded(self, connection_id: str | None, item: Frame) -> Decoded | None:
        """The frame's payload decoded, unless raw or hex is asked for (or no decoder knows it)."""
        if self.raw or self.hex or self.payloads is None:
            return None
        decoded = self.payloads.decoded(connection_id, item)
        # JSON text shows as it always has (pretty-printed below): the same, without a label.
        return None if decoded is None or (decoded.decoder == "json" and item.message_type == "text") else decoded

    def _marked(self, body: Text | JSON) -> Text | JSON:
        """The payload with what the search finds marked (text, pretty JSON and hex dumps alike)."""
        if self.highlight is None:
            return body
        text = body.text if isinstance(body, JSON) else body
        style = self.get_component_rich_style("detail--match", partial=True)
        for start, end in self.highlight.spans(text.plain):
            text.stylize(style, start, end)
        return body

    def _raw_tag(self, head: Text) -> None:
        for on, tag in ((self.raw, " raw "), (self.hex, " hex ")):  # r or h again: decoded
            if on:
                head.append(SEPARATOR)
                head.append(tag, style="bold reverse")

    def _body(self, item: Frame, decoded: Decoded | None = None) -> Text | JSON:
        if item.message_type == "close":
            return Text(describe_close(item.close_code, item.content) or "close without a code")
        if item.content is None:
            return Text("payload not recorded (show_binary_preview is off in the app)", style="dim")
        if decoded is not None:
            return JSON.from_data(plain_tree(decoded.tree), indent=2, ensure_ascii=False)
        if isinstance(item.content, bytes) or (self.hex and item.content):
            content = item.content if isinstance(item.content, bytes) else item.content.encode("utf-8", "replace")
            shown = content[:HEXDUMP_LIMIT]
            lines = hexdump(shown) or ["(empty)"]
            if len(content) > HEXDUMP_LIMIT:
                kept = format_count(len(content))
                lines.append(f"… the first {format_count(HEXDUMP_LIMIT)} of {kept} kept bytes are shown")
            return Text("\n".join(lines))
        if item.content == "":
            return Text('"" (an empty text frame)', style="dim")
        parsed = None if self.raw or item.truncated else parse_json(item.content)
        return JSON(json.dumps(parsed), indent=2) if parsed is not None else Text(item.content)

    def _answer(self, item: Frame, start: float) -> Text:
        """What answered a ping, or what a pong answered, and the round trip ("" when nothing is known)."""
        connection = self.connection
        pong = item.message_type == "pong"
        # The server's keepalive: its ping (sent) and the client's pong (received). The other way
        # round the client pings, and the server's pong says only how fast the server answered.
        server = item.direction == ("received" if pong else "sent")
        # Not found: the connection's frames were not given, or no longer hold this one.
        found, other = pair_of(self.frames, item)
        lines: list[Text] = []
        if other is not None:
            at = format_offset(other.timestamp - start)
            after = short_duration(abs(item.timestamp - other.timestamp))
            if server:
                line = Text(f"round trip {after}", style="bold")
                line.append(f": answers the server's ping at {at}" if pong else f": the client's pong at {at}")
            else:
                line = Text(f"answers the client's ping at {at}" if pong else f"answered by the server's pong at {at}")
                line.append(f" after {after}")
            lines.append(line)
        elif found and pong:
            whose = "the server's" if server else "the client's"
            lines.append(Text(f"no ping of {whose} before it (unsolicited, or its ping was not kept)", style="dim"))
        elif found:
            waiting = connection is not None and connection.state == "open"
            lines.append(Text("no pong yet" if waiting else "no pong recorded", style="dim"))
        if server and connection is not None and connection.last_rtt is not None:
            last, average = connection.last_rtt, connection.avg_rtt or connection.last_rtt
            lines.append(
                Text(
                    f"the connection's keepalive round trip: last {short_duration(last)},"
                    f" avg {short_duration(average)} (measured by the server)"
                )
            )
        return Text("\n").join(lines)


def _handler(connection: Connection, now: float) -> list[Text | JSON]:
    """What the handler has been doing for a while, since when, and where (its task's stack)."""
    state = connection.handler_state
    if state is None or connection.state == "closed":
        return []
    style = "bold" if state.state == "receiving" else "bold yellow"
    line = Text(f"{'handler':<{METADATA_COLUMN}}", style="bold")
    line.append(handler_doing(state, now), style=style)
    line.append(f"{SEPARATOR}since {_clock(state.since)}")
    lines: list[Text | JSON] = [line]
    if state.stack:
        line.append(f" in {where(state.stack)}")
        lines.append(traceback_text(state.stack, STACK_TITLE))
    lines.append(Text(""))
    return lines


def _loop_block(event: SystemEvent, of_connection: bool) -> list[Text | JSON]:
    """Who held the event loop: the stack its thread ran meanwhile."""
    whose = "this connection's handler" if of_connection else "no connection's handler (the app)"
    lines: list[Text | JSON] = [Text(f"the event loop was held from {_clock(event.timestamp)} by {whose}")]
    if event.stack:
        lines.append(traceback_text(event.stack, STACK_TITLE))
    else:
        lines.append(
            Text("no stack caught: the loop's thread held the GIL throughout, or the watchdog got no turn", style="dim")
        )
    return lines


def _clock(timestamp: float) -> str:
    return datetime.fromtimestamp(timestamp).strftime("%H:%M:%S.%f")[:-3]


def _cause(connection: Connection) -> list[Text | JSON]:
    """What ended the handler: its exception (and what refused the upgrade), with the traceback."""
    lines: list[Text | JSON] = []
    if connection.refused_by:
        lines.append(Text(f"refused by {connection.refused_by}", style="bold red"))
    lines.append(Text(f"{connection.error}", style="bold red"))
    if connection.traceback:
        lines.append(traceback_text(connection.traceback))
    return lines


def request(connection: Connection) -> Text:
    """The connection's request: path, query, client, subprotocols, then the headers, one a line."""
    text = Text()

    def field(name: str, value: str | None) -> None:
        text.append(f"{name:<{METADATA_COLUMN}}", style="bold")
        if value:
            text.append(value)
        else:
            text.append("—", style="dim")
        text.append("\n")

    field("path", connection.path or "(unknown)")
    field("query", connection.query_string)
    field("client", connection.client)
    requested = ", ".join(connection.requested_subprotocols)
    if requested or connection.subprotocol:
        field("subprotocols", f"requested {requested or 'none'}{SEPARATOR}accepted {connection.subprotocol or 'none'}")
    else:
        field("subprotocols", "none requested")
    headers = connection.headers
    text.append(f"headers ({format_count(len(headers))})" if headers else "headers", style="bold")
    if not headers:
        text.append(" " * (METADATA_COLUMN - len("headers")))
        text.append("none recorded", style="dim")
    for name, value in headers:
        text.append(f"\n  {name}: ")
        text.append(value, style="dim" if value == REDACTED else "")
    return text


def plain_tree(tree: Any, depth: int = 0) -> Any:
    """A decoded tree as JSON can show it: bytes as hex, keys that are not strings as strings."""
    if depth > 100:
        return "…"
    if isinstance(tree, dict):
        return {key if isinstance(key, str) else repr(key): plain_tree(value, depth + 1) for key, value in tree.items()}
    if isinstance(tree, list | tuple):
        return [plain_tree(value, depth + 1) for value in tree]
    if isinstance(tree, bytes | bytearray | memoryview):
        return f"h'{bytes(tree).hex()}'"
    if tree is None or isinstance(tree, str | int | float | bool):
        return tree
    return str(tree)


def pair_of(frames: Sequence[Frame], item: Frame) -> tuple[bool, Frame | None]:
    """Whether ``item`` (a ping or a pong) is among ``frames``, and the pong or ping that pairs with it.

    The newest frames are looked at first: a row near the end (the one a live inspector follows)
    costs little, one at the start of a long connection a pass over its frames.
    """
    if item.message_type == "pong":
        found = False
        for frame in reversed(frames):
            if not found:
                found = frame is item
            elif frame.message_type == "ping" and frame.direction != item.direction and _same_payload(frame, item):
                return True, frame
            elif frame.message_type == "pong" and frame.direction == item.direction and _same_payload(frame, item):
                return True, None  # that pong answered the ping before it
        return found, None
    candidate: Frame | None = None
    for frame in reversed(frames):
        if frame is item:
            return True, candidate
        if frame.message_type == "pong" and frame.direction != item.direction and _same_payload(frame, item):
            candidate = frame
        elif frame.message_type == "ping" and frame.direction == item.direction and _same_payload(frame, item):
            candidate = None  # a later ping with the same payload: the pongs after it answer that one
    return False, None


def _same_payload(one: Frame, other: Frame) -> bool:
    # A payload not recorded (show_binary_preview off) matches any; a truncated one by its kept part.
    if one.content is None or other.content is None:
        return True
    if one.truncated or other.truncated:
        kept = min(len(one.content), len(other.content))
        return bool(one.content[:kept] == other.content[:kept])
    return bool(one.content == other.content)


def _kept(frame: Frame) -> int:
    content = frame.content
    if isinstance(content, str):
        return len(content.encode())
    return len(content) if isinstance(content, bytes) else 0
