"""The lifecycle panel: when the selected connection opened, its message rate, how it ended, its keepalive."""

from __future__ import annotations

from datetime import datetime
from time import time

from rich.text import Text
from textual.widgets import Static

from ..formatting import format_duration, short_duration
from ..store import ConnectionEntry, Store, closed_how, closed_who, health

BARS = " ▁▂▃▄▅▆▇█"


class LifecyclePanel(Static):
    """When the selected connection opened, its message rate over time, and how it ended."""

    def show(self, store: Store, connection_id: str | None) -> None:
        entry = store.entries.get(connection_id) if connection_id else None
        if entry is None:
            self.update(Text("No connection selected", style="dim"))
            return
        connection = entry.connection
        end = connection.disconnected_at or time()
        lines = Text()
        lines.append(f"{connection.path}  ", style="bold")
        lines.append(f"{connection.client or ''}\n")
        lines.append(f"opened  {_clock(connection.connected_at)}")
        if connection.accepted_at is not None:
            lines.append(f"  accepted +{short_duration(connection.accepted_at - connection.connected_at)}")
        if connection.subprotocol:
            lines.append(f"  subprotocol {connection.subprotocol}")
        lines.append("\n")
        buckets = max(8, self.size.width - 10)
        lines.append(f"rate    {_sparkline(entry.frames, connection.connected_at, end, buckets)}\n")
        if connection.state == "closed":
            lasted = format_duration(end - connection.connected_at)
            lines.append(f"closed  {_clock(end)} after {lasted}{closed_who(connection)}\n")
            lines.append(f"        {closed_how(connection)}")
        else:
            lines.append(f"{connection.state} for {format_duration(end - connection.connected_at)}")
        lines.append("\n")
        lines.append_text(_keepalive_line(entry))
        if connection.error:
            lines.append(f"\nerror   {connection.error}", style="bold red")
        self.update(lines)


def _keepalive_line(entry: ConnectionEntry) -> Text:
    connection = entry.connection
    state = health(connection, entry.unanswered_ping, time())
    if state == "unknown":
        return Text("ping    not observable; run uvicorn with\n        --ws wsinspect.uvicorn:WebSocketProtocol", "dim")
    if connection.last_rtt is None:
        rtts = "no round trip yet"
    else:
        average = connection.avg_rtt or connection.last_rtt
        rtts = f"rtt {short_duration(connection.last_rtt)} (avg {short_duration(average)})"
    mark = {"ok": ("● healthy", "green"), "late": ("▲ pong late", "yellow"), "timeout": ("✖ keepalive timeout", "red")}
    text, style = mark[state]
    return Text.assemble(f"ping    {rtts}  ", (text, f"bold {style}"))


def _clock(timestamp: float) -> str:
    return datetime.fromtimestamp(timestamp).strftime("%H:%M:%S.%f")[:-3]


def _sparkline(frames: object, start: float, end: float, buckets: int) -> str:
    """Frames per time slice of the connection's life, as bars."""
    span = max(end - start, 1e-6)
    counts = [0] * buckets
    for frame in frames:  # type: ignore[attr-defined]
        slot = int((frame.timestamp - start) / span * buckets)
        counts[min(max(slot, 0), buckets - 1)] += 1
    top = max(counts) or 1
    return "".join(BARS[round(count / top * (len(BARS) - 1))] for count in counts)
