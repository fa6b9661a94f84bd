"""The watchdog on a real event loop, in process: the loop's lag, its blocks and who held them, what a
handler does, and that nothing runs while no connection is open. Bounds on times are the issue's
(a block's duration within 20 ms); waits poll with long patience.

Through real servers and clients: test_handler_states.py."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from typing import Any

import pytest
from helpers.waiting import until

from wsinspect import WSInspectConfig
from wsinspect.capture import watchdog as watchdog_module
from wsinspect.capture.recorder import Recorder
from wsinspect.capture.tracker import ConnectionTracker
from wsinspect.capture.watchdog import BEAT, LASTING, REPORT_EVERY, Watchdog

PATIENCE = 20.0  # seconds a poll waits before giving up: far more than any healthy run needs
SCOPE: dict[str, Any] = {"type": "websocket", "path": "/ws", "headers": []}


class Reports:
    def __init__(self) -> None:
        self.lags: list[tuple[float, float]] = []
        self.blocks: list[tuple[Any, Any]] = []

    def lag(self, worst: float, mean: float) -> None:
        self.lags.append((worst, mean))

    def block(self, tracker: Any, block: Any) -> None:
        self.blocks.append((tracker, block))


@pytest.fixture
def recorder() -> Iterator[Recorder]:
    recorder = Recorder(WSInspectConfig(), stream=False)
    yield recorder
    for tracker in list(recorder._open.values()):
        recorder.finish(tracker)


def opened(recorder: Recorder) -> ConnectionTracker:
    """A connection opened in the current task, as the middleware opens one."""
    return recorder.start(SCOPE, time.time())


def hold_the_loop(seconds: float) -> float:
    """Hold the loop (as a handler that calls time.sleep does); how long it really held it."""
    start = time.monotonic()
    time.sleep(seconds)
    return time.monotonic() - start


def watching(watchdog: Watchdog) -> bool:
    return watchdog in watchdog_module._thread._watchdogs


async def test_a_block_in_the_handlers_task_is_its_connections_with_its_stack(recorder: Recorder) -> None:
    tracker = opened(recorder)
    await asyncio.sleep(2 * BEAT)  # a beat or two first: the block starts from a quiet loop
    held = hold_the_loop(0.3)  # the line the stack names
    line = hold_the_loop.__code__.co_firstlineno + 3
    await until(lambda: recorder.connections()[0].loop_blocks, what="the block", patience=PATIENCE, every=0.02)
    (block,) = recorder.connections()[0].loop_blocks
    assert block.duration == pytest.approx(held, abs=0.02)
    assert block.timestamp == pytest.approx(time.time() - held, abs=1.0)
    innermost = [entry for entry in block.stack if entry.app][-1]
    assert (innermost.file, innermost.line, innermost.function) == ("tests/test_watchdog.py", line, "hold_the_loop")
    assert "test_a_block_in_the_handlers_task" in block.stack[-2].function
    assert recorder.loop_blocks() == []  # the connection's, not the app's
    recorder.finish(tracker)


async def test_a_block_in_another_task_is_the_apps(recorder: Recorder) -> None:
    opened(recorder)
    await asyncio.sleep(2 * BEAT)

    async def elsewhere() -> float:
        return hold_the_loop(0.3)

    held = await asyncio.create_task(elsewhere())
    await until(recorder.loop_blocks, what="the app's block", patience=PATIENCE, every=0.02)
    (block,) = recorder.loop_blocks()
    assert block.duration == pytest.approx(held, abs=0.02)
    assert [entry.function for entry in block.stack if entry.app][-2:] == [
        "test_a_block_in_another_task_is_the_apps.<locals>.elsewhere",
        "hold_the_loop",
    ]
    assert recorder.connections()[0].loop_blocks == []


async def test_a_hold_shorter_than_loop_block_ms_is_no_block() -> None:
    recorder = Recorder(WSInspectConfig(loop_block_ms=200), stream=False)
    tracker = opened(recorder)
    await asyncio.sleep(2 * BEAT)
    hold_the_loop(0.12)
    await asyncio.sleep(3 * BEAT)
    hold_the_loop(0.3)
    await until(lambda: recorder.connections()[0].loop_blocks, what="the block", patience=PATIENCE, every=0.02)
    assert [round(block.duration, 1) for block in recorder.connections()[0].loop_blocks] == [0.3]
    recorder.finish(tracker)


async def test_loop_block_ms_none_reports_no_block_and_still_the_lag() -> None:
    reports = Reports()
    watchdog = Watchdog(reports.lag, reports.block, None)
    recorder = Recorder(WSInspectConfig(loop_block_ms=None), stream=False)
    recorder.watchdog = watchdog
    tracker = opened(recorder)
    await asyncio.sleep(BEAT)
    hold_the_loop(0.3)
    await until(lambda: reports.lags, what="a lag report", patience=PATIENCE, every=0.02)
    assert reports.lags[0][0] >= 0.15  # the beat due during the hold ran that late
    assert reports.blocks == []
    recorder.finish(tracker)


async def test_lag_reports_come_once_a_second_and_stop_when_the_last_connection_closes() -> None:
    reports = Reports()
    watchdog = Watchdog(reports.lag, reports.block, 0.1)
    recorder = Recorder(WSInspectConfig(), stream=False)
    recorder.watchdog = watchdog
    started = time.monotonic()
    first, second = opened(recorder), opened(recorder)
    await until(lambda: reports.lags, what="a report", patience=PATIENCE, every=0.02)
    assert time.monotonic() - started >= REPORT_EVERY * 0.9  # not one per beat
    assert all(worst >= mean >= 0 for worst, mean in reports.lags)
    recorder.finish(first)
    await asyncio.sleep(3 * BEAT)
    assert watchdog._watches  # one is still open: the heartbeat goes on
    recorder.finish(second)
    assert not watchdog._watches
    await until(lambda: not watching(watchdog), what="the thread to let it go", patience=PATIENCE, every=0.02)
    # The last beat reports the rest, then nothing runs: no timer, no report.
    await asyncio.sleep(3 * BEAT)
    final = len(reports.lags)
    await asyncio.sleep(5 * BEAT)
    assert len(reports.lags) == final
    loop = asyncio.get_running_loop()
    assert not [handle for handle in loop._scheduled if "_tick" in repr(handle)]  # type: ignore[attr-defined]


def test_no_running_loop_watches_nothing() -> None:
    recorder = Recorder(WSInspectConfig(), stream=False)
    tracker = opened(recorder)
    assert tracker.task is None
    assert not recorder.watchdog._watches
    recorder.finish(tracker)
    recorder.finish(tracker)  # twice: no harm


async def test_a_handler_waiting_in_receive_is_reported_once_it_lasted(recorder: Recorder) -> None:
    tracker = opened(recorder)
    since = tracker.receiving = time.time()  # as tracked_receive does
    assert recorder.connections()[0].handler_state is not None  # in process at once
    state = recorder.connections()[0].handler_state
    assert state is not None
    assert (state.state, state.since, state.stack) == ("receiving", since, None)
    await asyncio.sleep(LASTING / 2)
    assert tracker.reported is None  # not yet a second
    await until(lambda: tracker.reported, what="the state reported", patience=PATIENCE, every=0.02)
    assert tracker.reported is not None
    assert (tracker.reported.state, tracker.reported.since, tracker.reported.stack) == ("receiving", since, None)
    # It ends: reported as ended at the next look.
    tracker.received = time.time()  # as tracked_receive does on its way out
    await until(lambda: tracker.reported is None, what="the end reported", patience=PATIENCE, every=0.02)
    recorder.finish(tracker)


async def test_a_handler_working_elsewhere_reports_where_its_task_waits(recorder: Recorder) -> None:
    async def handler() -> None:
        tracker = opened(recorder)
        tracker.received = time.time()
        await asyncio.sleep(3)  # working (not in receive or send): where its task waits
        recorder.finish(tracker)

    task = asyncio.create_task(handler())
    await until(lambda: recorder.connections(), what="the connection", patience=PATIENCE, every=0.02)
    tracker = recorder._open[recorder.connections()[0].connection_id]
    await until(lambda: tracker.reported, what="the state reported", patience=PATIENCE, every=0.02)
    state = recorder.connections()[0].handler_state
    assert state is not None
    assert state.state == "working"
    assert state.stack is not None
    functions = [entry.function for entry in state.stack]
    assert functions[0].endswith("handler")
    assert functions[-1] == "sleep"
    assert [entry.line for entry in state.stack if entry.app] == [handler.__code__.co_firstlineno + 3]
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


async def test_a_closed_connection_has_no_handler_state(recorder: Recorder) -> None:
    tracker = opened(recorder)
    tracker.handler_returned(time.time())
    assert tracker.doing() is None
    assert recorder.connections()[0].handler_state is None
    recorder.finish(tracker)


async def test_a_replay_brings_the_blocks_and_the_states(recorder: Recorder) -> None:
    """What an inspector that starts late gets: each connection's blocks among its frames, its
    handler's reported state after them, and the app's blocks."""
    tracker = opened(recorder)
    await asyncio.sleep(2 * BEAT)
    hold_the_loop(0.2)

    async def elsewhere() -> None:
        hold_the_loop(0.2)

    await asyncio.sleep(2 * BEAT)
    await asyncio.create_task(elsewhere())
    tracker.receiving = time.time() - 2
    await until(lambda: tracker.reported and recorder.loop_blocks(), what="both", patience=PATIENCE, every=0.02)
    ((key, _, records),) = recorder.held()
    assert key == tracker.key
    kinds = [type(record).__name__ for record in records]
    assert kinds == ["WireLoopBlock", "WireHandlerState"]  # no frames here: the block, then the state
    assert records[0].block == recorder.connections()[0].loop_blocks[0]  # type: ignore[union-attr]
    assert [held.block for held in recorder.held_blocks()] == recorder.loop_blocks()
    assert all(held.key is None for held in recorder.held_blocks())
    tracker.handler_returned(time.time())
    ((_, _, records),) = recorder.held()
    assert [type(record).__name__ for record in records] == ["WireLoopBlock"]  # closed: no state to tell
    recorder.finish(tracker)
