"""Which test owns a connection (sans-I/O): the test that was running when it opened.

A timeline of owners: each test from its first setup to the end of its teardown, and no test
(``None``: the run's own file) between tests and while a fixture wider than a test is set up, as
what such a fixture opens serves every test after it. Connections that come over the socket are
placed by their ``connected_at``, the app's clock, when they arrive, up to 50 ms later.

One thread switches owners while others look them up: the timeline is one list, appended to and
replaced whole, never changed in place (each step atomic under the GIL).
"""

from __future__ import annotations

from bisect import bisect_right
from operator import itemgetter

__all__ = ("Owners",)

_TIME = itemgetter(0)


class Owners:
    """Who owned the time from each switch on; the times only grow."""

    def __init__(self) -> None:
        self._switches: list[tuple[float, str | None]] = []

    @property
    def current(self) -> str | None:
        switches = self._switches
        return switches[-1][1] if switches else None

    def switch(self, owner: str | None, at: float) -> None:
        """From ``at`` on (or from the last switch, should the clock have gone back), ``owner``."""
        switches = self._switches
        if switches and switches[-1][1] == owner:
            return
        if switches and at < switches[-1][0]:
            at = switches[-1][0]
        switches.append((at, owner))

    def owner_at(self, moment: float) -> str | None:
        switches = self._switches
        index = bisect_right(switches, moment, key=_TIME) - 1
        return switches[index][1] if index >= 0 else None

    def forget_before(self, moment: float) -> None:
        """Drop what no connection still to come can ask about (keeping the owner at ``moment``)."""
        switches = self._switches
        index = bisect_right(switches, moment, key=_TIME) - 1
        if index > 0:
            self._switches = switches[index:]
