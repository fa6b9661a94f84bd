"""How often the live screen redraws while frames flow: a person reads it a few times a second
whatever the traffic, so its cost must not grow with the frame rate (sans-I/O: fed clock readings)."""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = ("RedrawPacer",)


@dataclass
class RedrawPacer:
    """The time between two redraws of the timeline while frames flow, kept so that the screen
    uses at most ``budget`` of a core: between ``fastest`` and ``slowest``, whatever a redraw costs.

    Fed, a few times a second, the CPU seconds the screen has used so far (the process's, less what
    taking in frames cost); every ``window`` it scales the interval by the share it saw over the
    budget. What the screen costs with nothing to redraw (timers, the terminal) is part of that
    share, so the interval settles where ``budget = idle + redraw cost / interval``, and stays at
    ``slowest`` when that cannot be met: never fewer than 1 / ``slowest`` updates a second.
    """

    budget: float = 0.05  # of a core
    fastest: float = 0.1  # seconds
    slowest: float = 0.25  # seconds: 4 updates a second
    window: float = 0.5  # seconds
    interval: float = field(init=False)
    share: float = field(init=False, default=0.0)  # the screen's share of a core over the last window
    _since: float | None = field(init=False, default=None)
    _cpu: float = field(init=False, default=0.0)

    def __post_init__(self) -> None:
        self.interval = self.fastest

    def measure(self, now: float, cpu: float) -> None:
        """``now``: a monotonic clock; ``cpu``: the screen's CPU seconds so far."""
        if self._since is None or now < self._since or cpu < self._cpu:  # the first reading, or a reset
            self._since, self._cpu = now, cpu
            return
        elapsed = now - self._since
        if elapsed < self.window:
            return
        self.share = (cpu - self._cpu) / elapsed
        self._since, self._cpu = now, cpu
        wanted = self.interval * self.share / self.budget
        self.interval = min(self.slowest, max(self.fastest, wanted))
