"""The loop lag sampler on a real event loop: bounds are generous, waits poll with long patience."""

from __future__ import annotations

import asyncio
import time

from helpers.waiting import until

from wsinspect.capture.looplag import INTERVAL, REPORT_EVERY, LoopLagSampler

PATIENCE = 20.0  # seconds a poll waits before giving up: far more than any healthy run needs


class Reports:
    def __init__(self) -> None:
        self.seen: list[tuple[float, float]] = []

    def __call__(self, worst: float, mean: float) -> None:
        self.seen.append((worst, mean))


async def test_a_blocked_loop_is_reported_then_sampling_stops() -> None:
    reports = Reports()
    sampler = LoopLagSampler(reports)
    sampler.opened()
    assert sampler._handle is not None
    time.sleep(0.4)  # noqa: ASYNC251 - holds the loop on purpose: the first sample comes 0.3 s late
    await until(lambda: reports.seen, what="a report", patience=PATIENCE, every=0.02)
    worst, mean = reports.seen[0]
    assert worst >= 0.2
    assert 0.0 <= mean <= worst
    assert all(worst >= 0 and mean >= 0 for worst, mean in reports.seen)

    sampler.closed()
    # The next sample reports the rest and stops.
    await until(lambda: sampler._handle is None, what="sampling to stop", patience=PATIENCE, every=0.02)
    final = len(reports.seen)
    assert final >= 2
    await asyncio.sleep(5 * INTERVAL)
    assert len(reports.seen) == final
    assert sampler._handle is None


async def test_reports_come_about_once_a_second_while_open() -> None:
    reports = Reports()
    sampler = LoopLagSampler(reports)
    started = time.monotonic()
    sampler.opened()
    await until(lambda: reports.seen, what="a report", patience=PATIENCE, every=0.02)
    assert time.monotonic() - started >= REPORT_EVERY * 0.9  # not one per sample
    sampler.closed()
    await until(lambda: sampler._handle is None, what="sampling to stop", patience=PATIENCE, every=0.02)


def test_no_running_loop_samples_nothing() -> None:
    reports = Reports()
    sampler = LoopLagSampler(reports)
    sampler.opened()
    sampler.closed()
    sampler.closed()
    assert sampler._handle is None
    assert sampler._loop is None
    assert reports.seen == []


async def test_one_of_two_connections_closing_keeps_sampling() -> None:
    reports = Reports()
    sampler = LoopLagSampler(reports)
    sampler.opened()
    sampler.opened()
    sampler.closed()
    await asyncio.sleep(5 * INTERVAL)
    assert sampler._handle is not None
    # Still sampling: a full second's report comes.
    await until(lambda: reports.seen, what="a report", patience=PATIENCE, every=0.02)
    assert sampler._handle is not None

    sampler.closed()
    await until(lambda: sampler._handle is None, what="sampling to stop", patience=PATIENCE, every=0.02)
    final = len(reports.seen)
    await asyncio.sleep(5 * INTERVAL)
    assert len(reports.seen) == final


async def test_a_close_without_an_open_is_ignored() -> None:
    reports = Reports()
    sampler = LoopLagSampler(reports)
    sampler.closed()
    sampler.opened()
    sampler.closed()
    sampler.closed()  # one too many: the count stays at zero
    await until(lambda: sampler._handle is None, what="sampling to stop", patience=PATIENCE, every=0.02)
    assert len(reports.seen) == 1
    sampler.opened()  # sampling again after a stop
    assert sampler._handle is not None
    sampler.closed()
    await until(lambda: sampler._handle is None, what="sampling to stop", patience=PATIENCE, every=0.02)
    assert len(reports.seen) == 2
