"""Stacks read from the watchdog's thread: the frames an event loop's thread runs now, and where an
asyncio task waits.

They are read from another thread on purpose: the loop may be held by the very code worth showing,
so nothing can wait for it (``Task.get_stack()`` must run on the loop). Every read is of Python
objects under the GIL (``sys._current_frames()``, ``f_back``, ``cr_await``), so the worst a race
does is a stack one step out of date: a coroutine that just resumed, a frame that just returned.
"""

from __future__ import annotations

import asyncio
import selectors
import sys
from types import FrameType
from typing import Any, Final

__all__ = ("DEPTH", "RUN_CODE", "callback_frames", "is_polling", "task_frames", "thread_frame")

# Frames walked at most from the innermost outwards: a recursion thousands deep shows its innermost.
DEPTH: Final = 300
# Every callback asyncio's own loops run goes through Handle._run: the frames above it are the
# callback's (a task's step: its coroutines). A loop written in C (uvloop) has no such frame.
RUN_CODE: Final = asyncio.events.Handle._run.__code__


# The selectors' select methods: an asyncio loop's thread in one waits for I/O, or, late, for the GIL.
_SELECT_CODES: Final = frozenset(
    member.select.__code__
    for member in vars(selectors).values()
    if isinstance(member, type) and issubclass(member, selectors.BaseSelector) and hasattr(member.select, "__code__")
)


def is_polling(frame: FrameType) -> bool:
    """Whether a loop's thread is in (or just back from) its poll: it runs no callback of its own."""
    return frame.f_code in _SELECT_CODES


def thread_frame(thread_id: int) -> FrameType | None:
    """The innermost Python frame the thread runs now (None: it has ended)."""
    return sys._current_frames().get(thread_id)


def callback_frames(innermost: FrameType, root: FrameType | None = None) -> list[FrameType]:
    """The frames of the callback the loop's thread runs, outermost first: from ``innermost`` out
    to ``root`` (a task's outermost coroutine frame) when met, else to asyncio's ``Handle._run``
    (left out, as the loop's own frames below it), else as far as :data:`DEPTH` goes."""
    frames: list[FrameType] = []
    frame: FrameType | None = innermost
    while frame is not None and frame.f_code is not RUN_CODE and len(frames) < DEPTH:
        frames.append(frame)
        if frame is root:
            break
        frame = frame.f_back
    frames.reverse()
    return frames


def task_frames(task: Any) -> list[FrameType]:
    """Where a task that is not running waits, outermost first: its coroutine, the one that awaits,
    and on (coroutines, generators, async generators), each at the line it is suspended on."""
    frames: list[FrameType] = []
    try:
        awaitable = task.get_coro()
    except Exception:  # not a task after all: no stack rather than a failure
        return frames
    while awaitable is not None and len(frames) < DEPTH:
        frame = _frame_of(awaitable)
        if frame is None:
            break
        frames.append(frame)
        awaitable = _awaits(awaitable)
    return frames


def _frame_of(awaitable: Any) -> FrameType | None:
    for name in ("cr_frame", "gi_frame", "ag_frame"):
        frame = getattr(awaitable, name, None)
        if frame is not None:
            return frame  # type: ignore[no-any-return]
    return None


def _awaits(awaitable: Any) -> Any:
    for name in ("cr_await", "gi_yieldfrom", "ag_await"):
        inner = getattr(awaitable, name, None)
        if inner is not None:
            return inner
    return None
