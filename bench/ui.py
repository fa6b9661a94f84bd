"""The inspector's screen, headless: how long a key press takes to update it.

A store holding N frames (over 50 connections) is shown in the real app, headless, at 160x45.
Each key's action is run and then every visible timeline line is rendered, timed around both:
that is the work a key press costs. (Textual's pilot adds a fixed harness delay of its own, so
pressing through it would measure the harness.) The same frames are then written as a capture
database and opened (``DatabaseStore``: rows read from disk as they are drawn). The baseline is the
same on a store of 1,000 frames, measured in the same run. The target: under 100 ms with 100,000
frames.
"""

from __future__ import annotations

import asyncio
import dataclasses
import shutil
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from wsinspect.inspector.core.database_store import DatabaseStore
from wsinspect.inspector.core.database_writer import write_database
from wsinspect.inspector.core.store import Store
from wsinspect.inspector.ui.app import InspectorApp
from wsinspect.model import Connection, Frame

from .shared import Row, median, payload

TARGET_MS = 100.0


def store_with(frames: int, connections: int = 50) -> Store:
    held = []
    per = frames // connections
    for c in range(connections):
        start = 1_700_000_000.0 + c
        messages = [
            Frame(
                direction="sent" if i % 2 else "received",
                message_type="text",
                content=payload(i),
                timestamp=start + i * 0.001,
                size_bytes=100,
            )
            for i in range(per)
        ]
        held.append(
            Connection(
                connection_id=f"conn-{c}",
                path=f"/ws/{c}",
                state="closed",
                connected_at=start,
                accepted_at=start,
                disconnected_at=start + per * 0.001,
                close_code=1000,
                closed_by="client",
                messages_sent=per // 2,
                messages_received=per - per // 2,
                messages=messages,
            )
        )
    store = Store(max_messages=frames)
    store.load(held)
    return store


async def _time_keys(store: Store, repeats: int) -> dict[str, float]:
    app = InspectorApp(store, source="bench")
    timings: dict[str, list[float]] = {}
    async with app.run_test(size=(160, 45)) as pilot:
        await pilot.pause()
        timeline = app.timeline
        # Each filter from none (Esc in between), but the regex, which turns the text into one.
        actions: list[tuple[str, Callable[[], None]]] = [
            ("up", lambda: timeline.action_move(-1)),
            ("pageup", lambda: timeline.action_move(-20)),
            ("d (direction)", app.action_cycle_direction),
            ("esc (clear)", app.action_clear_filters),
            ("t (kind)", app.action_cycle_kind),
            ("esc (clear)", app.action_clear_filters),
            ("c (connection)", app.action_toggle_connection_only),
            ("esc (clear)", app.action_clear_filters),
            ("/seq (text)", lambda: app._set_filters(dataclasses.replace(app.filters, text="seq"))),
            ("x (regex)", app.action_toggle_regex),
            ("esc (clear)", app.action_clear_filters),
            ("G (follow)", timeline.action_follow),
        ]
        for _ in range(repeats):
            for name, action in actions:
                started = time.perf_counter()
                action()
                for y in range(timeline.size.height):
                    timeline.render_line(y)
                timings.setdefault(name, []).append((time.perf_counter() - started) * 1000)
                await pilot.pause()
    return {key: median(samples) for key, samples in timings.items()}


def as_capture(store: Store, path: Path) -> DatabaseStore:
    """The same connections written as a capture database and opened (every row indexed)."""
    write_database(path, store.connections())
    capture = DatabaseStore(path)
    while capture.reading:
        capture.poll()
    return capture


def run(sizes: tuple[int, ...], repeats: int) -> list[Row]:
    baseline = asyncio.run(_time_keys(store_with(1_000), repeats))
    rows = [Row("1,000 frames (baseline), slowest key", max(baseline.values()), "ms", 1.0)]
    workdir = Path(tempfile.mkdtemp(prefix="wsib-ui-"))
    try:
        for frames in sizes:
            started = time.perf_counter()
            store = store_with(frames)
            built = time.perf_counter() - started
            # The same frames in memory, then as an opened capture database (rows read from disk).
            for name, shown in (("", store), (" in an opened capture", as_capture(store, workdir / f"{frames}.db"))):
                timings = asyncio.run(_time_keys(shown, repeats))
                slowest = max(timings, key=lambda key: timings[key])
                worst = timings[slowest]
                verdict = "" if frames != 100_000 else (" target met" if worst < TARGET_MS else " target NOT met")
                detail = ", ".join(f"{key} {ms:.0f}" for key, ms in timings.items())
                rows.append(
                    Row(
                        f"{frames:,} frames{name}, slowest key ({slowest})",
                        worst,
                        "ms",
                        worst / max(baseline.values()),
                        f"per key ms: {detail}; store built in {built:.1f} s;{verdict}",
                    )
                )
                if isinstance(shown, DatabaseStore):
                    shown.close()
            del store
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    return rows
