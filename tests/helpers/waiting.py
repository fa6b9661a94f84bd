"""Waiting for what another thread, process or event loop does: poll until it holds, fail after a while.

One poller for each kind of caller, all three failing the same way (``timed out after 10 s
waiting for <what>``, with the last value seen when it says more than False):

- :func:`wait_until` blocks the calling thread (plain tests, subprocesses, the soak's harness);
- :func:`until` awaits, so the event loop it runs on goes on (servers and inspectors in the test's
  own loop); its probe may be a plain function or return an awaitable (``server.call(...)``);
- :func:`pilot_until` lets a Textual app under its pilot work between two looks.

``patience`` is a safety net for a loaded machine, never a measure: a wait that must be quick says
so with an assertion of its own.
"""

from __future__ import annotations

import asyncio
import inspect
import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    from textual.pilot import Pilot

__all__ = ("TimedOut", "pilot_until", "until", "wait_until")

T = TypeVar("T")


class TimedOut(AssertionError):
    """What the pollers raise when ``patience`` ran out (an AssertionError: a test failure)."""


def _timed_out(patience: float, what: str, last: object, seen: Callable[[], object] | None) -> TimedOut:
    message = f"timed out after {patience:g} s waiting for {what}"
    if last is not None and not isinstance(last, bool):
        message += f"; last value: {last!r}"
    if seen is not None:
        message += f":\n{seen()}"
    return TimedOut(message)


def wait_until(
    check: Callable[[], T],
    what: str,
    *,
    patience: float = 10.0,
    every: float = 0.01,
    seen: Callable[[], object] | None = None,
) -> T:
    """Call ``check()`` every ``every`` seconds until it returns something true, and return that.

    After ``patience`` seconds, fail with ``what`` (and, when given, what ``seen()`` shows then,
    such as a screen). An exception from ``check`` ends the wait at once.
    """
    deadline = time.monotonic() + patience
    while not (result := check()):
        if time.monotonic() > deadline:
            raise _timed_out(patience, what, result, seen)
        time.sleep(every)
    return result


async def until(
    probe: Callable[[], T | Awaitable[T]],
    done: Callable[[T], object] = bool,
    *,
    what: str,
    patience: float = 5.0,
    every: float = 0.01,
    sleep: Callable[[float], Awaitable[Any]] = asyncio.sleep,
) -> T:
    """Await ``probe()`` (or call it, for a plain function) every ``every`` seconds until
    ``done(result)``; return that result.

    After ``patience`` seconds, fail with ``what`` and the last result. ``sleep`` is how to let
    the others work between two looks (:func:`asyncio.sleep` unless told).
    """
    deadline = time.monotonic() + patience
    while True:
        result = probe()
        if inspect.isawaitable(result):
            result = await result
        if done(result):  # type: ignore[arg-type]
            return result  # type: ignore[return-value]
        if time.monotonic() > deadline:
            raise _timed_out(patience, what, result, None)
        await sleep(every)


async def pilot_until(pilot: Pilot[Any], check: Callable[[], object], what: str, *, patience: float = 10.0) -> None:
    """Let the app under ``pilot`` run (50 looks a second) until ``check()`` is true."""
    await until(check, what=what, patience=patience, every=0.02, sleep=pilot.pause)
