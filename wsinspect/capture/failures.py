"""The app side's own failures: logged (the first with its traceback, the next ones counted at
debug level), never told to the app. One log per kind of failure, shared by the modules that meet it."""

from __future__ import annotations

import contextlib
import logging

__all__ = ("FailureLog", "read_failed", "redact_failed", "stream_failed", "tracking_failed")

logger = logging.getLogger("wsinspect")


class FailureLog:
    """Logs a failure of one kind, called in an ``except`` block: the first with its traceback as
    a warning, the next ones briefly, at debug level, counted. The app is never told."""

    __slots__ = ("count", "first", "later")

    def __init__(self, first: str, later: str) -> None:
        self.count = 0
        self.first = first
        self.later = later  # with %d: how many so far

    def __call__(self) -> None:
        self.count += 1
        # The app's logging setup may raise (a broken filter on our logger): the app is not told of that either.
        with contextlib.suppress(Exception):
            if self.count == 1:
                logger.warning(self.first, exc_info=True)
            else:
                logger.debug(self.later, self.count, exc_info=True)


redact_failed = FailureLog(
    "wsinspect: the redact hook failed; frames it fails on are recorded by size only",
    "wsinspect: the redact hook failed (%d so far)",
)


read_failed = FailureLog(
    "wsinspect could not read a WebSocket handler's details; the app is unaffected",
    "wsinspect could not read a WebSocket handler's details (%d so far)",
)
tracking_failed = FailureLog(
    "wsinspect failed to record a WebSocket event; the app is unaffected",
    "wsinspect failed to record a WebSocket event (%d so far)",
)
stream_failed = FailureLog(
    "wsinspect failed to stream to the inspector; it streams again on a new link, and the app is unaffected",
    "wsinspect failed to stream to the inspector (%d so far)",
)
