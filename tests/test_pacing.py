"""The live screen's redraw pacing (sans-I/O): the interval between two redraws of the timeline
while frames flow keeps the screen's CPU within its budget, between 10 and 4 redraws a second."""

from __future__ import annotations

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from wsinspect.inspector.core.pacing import RedrawPacer
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
