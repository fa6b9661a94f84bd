"""The live screen's redraw pacing (sans-I/O): the interval between two redraws of the timeline
while frames flow keeps the screen's CPU within its budget, between 10 and 4 redraws a second."""

from __future__ import annotations

import asyncio
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from helpers.factories import batch, text_frame, update
from helpers.waiting import pilot_until
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from wsinspect.inspector.core.pacing import RedrawPacer
from wsinspect.inspector.core.store import Producer, Store
from wsinspect.inspector.server import InspectorServer
from wsinspect.inspector.ui import app as app_module
from wsinspect.inspector.ui.app import PANELS_EVERY, InspectorApp
from wsinspect.inspector.ui.lifecycle import BARS, _sparkline


def run(pacer: RedrawPacer, *, idle: float, redraw_cost: float, seconds: float = 20.0, step: float = 0.005) -> None:
    """Feed ``pacer`` what a screen costs that spends ``idle`` of a core with nothing to draw and
    ``redraw_cost`` CPU seconds on each redraw, redrawing every ``pacer.interval``."""
    now = cpu = 0.0
    next_redraw = 0.0
    while now < seconds:
        pacer.measure(now, cpu)
        now += step
        cpu += idle * step
        while next_redraw <= now:
            cpu += redraw_cost
            next_redraw += pacer.interval


def test_it_starts_at_its_fastest() -> None:
    assert RedrawPacer().interval == pytest.approx(0.1)


def test_cheap_redraws_stay_at_the_fastest_rate() -> None:
    pacer = RedrawPacer(budget=0.05)
    run(pacer, idle=0.005, redraw_cost=0.001)  # 10 a second cost 1% of a core
    assert pacer.interval == pytest.approx(0.1)
    assert pacer.share < 0.05


def test_dearer_redraws_come_less_often_within_the_budget() -> None:
    pacer = RedrawPacer(budget=0.05)
    run(pacer, idle=0.01, redraw_cost=0.007)  # at 10 a second: 8% of a core
    # It settles where budget = idle + cost / interval: 0.007 / (0.05 - 0.01) = 0.175 s.
    assert pacer.interval == pytest.approx(0.175, rel=0.1)
    assert pacer.share == pytest.approx(0.05, rel=0.15)


def test_never_fewer_than_four_redraws_a_second() -> None:
    pacer = RedrawPacer(budget=0.05)
    run(pacer, idle=0.06, redraw_cost=0.05)  # the budget cannot be met at any rate
    assert pacer.interval == pytest.approx(0.25)


def test_it_speeds_up_again_when_redraws_get_cheaper() -> None:
    pacer = RedrawPacer(budget=0.05)
    run(pacer, idle=0.01, redraw_cost=0.03)
    assert pacer.interval == pytest.approx(0.25)
    run(pacer, idle=0.01, redraw_cost=0.001, seconds=20.0)  # the clock starts again: a reset
    assert pacer.interval == pytest.approx(0.1)


def test_readings_within_a_window_change_nothing() -> None:
    pacer = RedrawPacer(budget=0.05, window=0.5)
    pacer.measure(10.0, 1.0)
    pacer.measure(10.4, 1.4)  # 100% of a core, but not a window yet
    assert pacer.interval == pytest.approx(0.1)
    pacer.measure(10.5, 1.5)
    assert pacer.share == pytest.approx(1.0)
    assert pacer.interval == pytest.approx(0.25)


# -- what the lifecycle panel works out from every frame, at most once a second -------------------


@settings(max_examples=300, deadline=None)
@given(
    times=st.lists(st.floats(min_value=-5.0, max_value=25.0, allow_nan=False), max_size=200),
    buckets=st.integers(min_value=8, max_value=120),
)
def test_the_rate_sparkline_counts_each_frame_in_its_slice(times: list[float], buckets: int) -> None:
    """Counted by bisecting the sorted times (not a Python step per frame): each frame in the
    slice of the connection's life it falls in; before the start in the first, after the end in
    the last."""
    start, end = 0.0, 20.0
    counts = [0] * buckets
    for timestamp in times:
        counts[min(max(int((timestamp - start) / (end - start) * buckets), 0), buckets - 1)] += 1
    top = max(counts) or 1
    expected = "".join(BARS[round(count / top * (len(BARS) - 1))] for count in counts)
    # Times on a slice's edge may land on either side of it by float rounding: none here.
    assume(all((t * buckets / 20.0) % 1 != 0.0 for t in times))
    assert _sparkline(times, start, end, buckets) == expected


# -- the live screen takes in frames on the pacer's interval ------------------------------------


async def test_frames_between_two_redraws_are_taken_in_together(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """While frames flow, the timeline takes them in once per pacer interval (what came meanwhile
    at once, not frame by frame) and the panels every PANELS_EVERY of those; a quiet spell ends it.
    The app's clock is set by the test, so its own timer ticks change nothing in between."""
    clock = [1000.0]
    monkeypatch.setattr(app_module, "time", lambda: clock[0])
    store = Store()
    app = InspectorApp(store, server=InspectorServer(store, tmp_path / "s.sock"), source="test", no_confirm=True)
    producer = Producer(key=1, pid=4242, app="app", since=0.0, stream="s1")
    sent = 0

    def more(count: int) -> None:
        nonlocal sent
        frames = [text_frame(f"m{n}", at=1000.0 + n / 100) for n in range(sent, sent + count)]
        store.apply(producer, [batch(1, frames, sent)], clock[0])
        sent += count

    async with app.run_test(size=(160, 45)) as pilot:
        app.pacer = RedrawPacer(fastest=0.25, slowest=0.25)  # as under load
        store.apply(producer, [update(1)], clock[0])
        for _ in range(2):  # the first connection re-indexes the timeline: the frames flow from the second
            more(10)
            clock[0] += 0.3
            app._take_in_changes()
        taken = app.timeline.rows_indexed
        assert taken == len(store.rows)
        panels_at = app._panels_at
        for step in range(1, 3):  # 0.1 s and 0.2 s later: more frames, nothing taken in yet
            clock[0] += 0.1
            more(10)
            app._take_in_changes()
            await pilot.pause()
            assert app.timeline.rows_indexed == taken, f"taken in {step * 0.1:.1f} s after the last time"
        clock[0] += 0.06  # 0.26 s after: all 20 at once
        app._take_in_changes()
        assert app.timeline.rows_indexed == taken + 20 == len(store.rows)
        assert app._panels_at == panels_at  # the panels wait for every PANELS_EVERY-th scroll
        for _ in range(PANELS_EVERY):
            clock[0] += 0.26
            more(1)
            app._take_in_changes()
        assert app._panels_at > panels_at
        clock[0] += 0.1  # a single frame after a quiet spell shows at once
        app._take_in_changes()
        clock[0] += 1.0
        app._take_in_changes()
        more(1)
        app._take_in_changes()
        assert app.timeline.rows_indexed == len(store.rows)


class _Looks:
    """The event loop as the app's looks at the store see it: each delay asked for is kept, and
    the look runs when the test says (the rest goes to the real loop)."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.asked: list[asyncio.TimerHandle] = []
        self.delays: list[float] = []

    def call_later(self, delay: float, callback: Any) -> asyncio.TimerHandle:
        handle = asyncio.TimerHandle(self.loop.time() + delay, callback, (), self.loop)
        self.asked.append(handle)
        self.delays.append(delay)
        return handle

    def fire(self) -> None:
        handle = self.asked[-1]
        if not handle.cancelled():
            handle._run()

    def __getattr__(self, name: str) -> Any:
        return getattr(self.loop, name)


async def test_a_live_store_is_looked_at_when_it_changes_not_polled(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The server says when the store changed: the screen looks at once after a quiet spell, then
    when the next scroll is due, once more to see the frames stopped, and then not at all (its
    timer looks 4 times a second, not 30). The app's clock is set by the test, and so is when each
    look asked of the event loop runs: the delays asked follow from the clock."""
    clock = [1000.0]
    monkeypatch.setattr(app_module, "time", lambda: clock[0])
    looks = _Looks(asyncio.get_running_loop())
    monkeypatch.setattr(app_module, "asyncio", SimpleNamespace(get_running_loop=lambda: looks))
    store = Store()
    server = InspectorServer(store, tmp_path / "s.sock")
    app = InspectorApp(store, server=server, source="test", no_confirm=True)
    producer = Producer(key=1, pid=4242, app="app", since=0.0, stream="s1")
    frames = [text_frame(f"m{n}", at=1000.0 + n / 100) for n in range(30)]

    def asked() -> float:
        assert app._wake is not None
        assert app._wake is looks.asked[-1]
        return looks.delays[-1]

    def look_now() -> None:
        """The look asked for, now, before any other turn of the app (its own timer's among them)."""
        assert app._wake is looks.asked[-1]
        app._wake.cancel()
        app._wake = None
        app._look()

    async with app.run_test(size=(160, 45)) as pilot:
        assert server.on_change == app._store_changed
        app.pacer = RedrawPacer(fastest=0.25, slowest=0.25)
        store.apply(producer, [update(1)], clock[0])
        server._changed()
        assert asked() <= 0.0  # nothing came for a while: at once
        looks.fire()  # by way of the app's messages, as the loop would
        await pilot_until(pilot, lambda: app._wake is None and len(store.entries) == 1, "the first look")
        clock[0] += 1.0  # the first frames re-index the timeline (the first connection): they flow from the next
        store.apply(producer, [batch(1, frames[:5], 0)], clock[0])
        server._changed()
        look_now()
        clock[0] += 1.0
        store.apply(producer, [batch(1, frames[5:10], 5)], clock[0])
        server._changed()
        assert asked() <= 0.0
        look_now()
        assert app.timeline.rows_indexed == len(store.rows)
        # Taken in just now (by the test's clock): the next look when the next scroll is due.
        assert app._sync_every == 0.25
        assert 0.0 < asked() <= 0.25
        store.apply(producer, [batch(1, frames[10:20], 10)], clock[0])
        before = len(looks.asked)
        server._changed()  # already asked for: one look for both
        assert len(looks.asked) == before
        assert app.timeline.rows_indexed < len(store.rows)
        clock[0] += 0.25
        look_now()
        assert app.timeline.rows_indexed == len(store.rows)
        assert 0.0 < asked() <= 0.25  # and once more, to see whether they stopped
        # Nothing more came: that look takes in nothing, and asks for no other.
        clock[0] += 0.25
        look_now()
        assert app._wake is None
        assert app.timeline.rows_indexed == len(store.rows)
