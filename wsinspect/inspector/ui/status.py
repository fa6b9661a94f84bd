"""The lines the screen reads at a glance: the status line (following or paused, connections,
frames, apps, the event loop's lag), the filter line (what filters and searches apply, how many
rows match) and what an empty timeline says. Each is a function of what it shows; the app puts
the result on screen."""

from __future__ import annotations

from collections.abc import Collection

from rich.text import Text

from ...formatting import counted, short_duration
from ..core.describe import LAG_SHOWN_FOR, loop_lag
from ..core.filters import Filters
from ..core.interface import StoreView

__all__ = ("BLOCKED_LOOP", "empty_text", "filters_line", "status_line")

# An event loop this late (seconds, at worst) holds up every handler: the status line says so in red.
BLOCKED_LOOP = 0.1


def status_line(
    store: StoreView,
    *,
    producers: Collection[int] | None,
    following: bool,
    new_while_paused: int,
    source: str,
    now: float,
) -> Text:
    """``producers``: the keys of the apps streaming now (None: no server, a file)."""
    active = sum(entry.connection.state != "closed" for entry in store.entries.values())
    text = Text()
    text.append("wsinspect ", style="bold")
    # Most important first: on a narrow terminal the end of the line is cut.
    if store.reading and not store.writing:
        text.append(f" ⧗ reading {store.read_fraction:.0%} ", style="bold")
    elif producers is None and not store.writing:
        text.append(" ■ saved session ", style="bold")
    elif following:
        text.append(" ▶ following ", style="bold")
    else:
        new = f" +{new_while_paused:,} new" if new_while_paused else ""
        text.append(f" ⏸ paused{new} (G resumes) ", style="bold reverse")
    # A file is one moment: what was open then is "open at export", not active.
    text.append(f" {active:,} {'open at export' if store.as_of is not None else 'active'}")
    text.append(f" / {counted(len(store.entries), 'connection')} ")
    text.append(f" {counted(store.frames_received, 'frame')} ")
    if store.frames_deleted:  # an opened capture's bound let its oldest go before
        text.append(f"({store.frames_deleted:,} deleted: record --max-bytes/--max-age) ", style="bold")
    if store.frames_let_go:  # the retention bound (--max-frames) let the oldest go
        text.append(f"({store.frames_let_go:,} let go: --max-frames {store.max_frames:,}) ", style="bold")
    if producers is not None:
        text.append(f" {counted(len(producers), 'app')} ")
        lag = loop_lag(store.loop_lags, producers, now)
        if lag is not None:
            worst, mean = lag
            style = "bold red" if worst >= BLOCKED_LOOP else ""
            lag_text = f"loop lag {short_duration(mean)} (worst {short_duration(worst)} in {LAG_SHOWN_FOR:.0f}s)"
            text.append(f" {lag_text} ", style=style)
    text.append(f" {source}" if source else "", style="dim")
    return text


def filters_line(
    applied: Filters,
    *,
    shown: int,
    total: int,
    search: str,
    connections_match: str,
    connections_shown: int,
    slowest_first: bool = False,
    connections: int,
    progress: float | None,
    error: str,
) -> Text:
    """``shown`` of ``total`` rows pass ``applied``; ``search``: what n / N find; the connections'
    filter and how many it lists, and whether it lists the slowest clients first; ``progress`` of
    a search of older rows (None: done); ``error``: a filter that could not be applied."""
    if applied.active:
        chips = "  ".join(f"[{chip}]" for chip in applied.describe())
        # Text, not markup: a chip such as [sent only] would read as a markup tag.
        line = f"filters: {chips}   {shown:,} of {total:,} rows match   (Esc clears)"
    else:
        line = f"no filters   {total:,} rows   (/ text, d direction, t kind, p ping/pong, c connection)"
    if search:
        line += f'   search "{search}" (n / N)'
    if connections_match:
        line += f'   connections "{connections_match}" ({connections_shown:,} of {connections:,})'
    if slowest_first:
        line += "   connections: slowest clients first (o)"
    if progress is not None:  # the older rows are still being searched
        line += f"   searching… {progress:.0%}"
    if error:
        # The filter that failed was not applied: say so, and what still is.
        return Text.assemble((f"⚠ {error} (not applied)", "bold red"), f"   {line}")
    return Text(line)


def empty_text(store: StoreView, *, live: bool, source: str) -> str:
    """What an empty timeline says: why it is empty and what to do."""
    if store.rows:
        return "No rows match the filters.\nEsc clears them."
    if store.writing or store.reading:
        return "Reading the capture…" if store.reading else "Waiting for the record writing it."
    if not live:
        return "This session holds no frames."
    return (
        "Waiting for an app.\n"
        "Add WSInspectPlugin() to a Litestar app (or wrap any ASGI app in WSInspectMiddleware)\n"
        f"and run it: it finds this inspector by its socket and streams to it ({source})."
    )
