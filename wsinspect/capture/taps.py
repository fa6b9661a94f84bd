"""Taps: something in this process that takes every connection as it starts, from whichever app
and recorder records it (the pytest plugin, :mod:`wsinspect.testing`, which files each under the
test that opened it and reads its tracker directly).

A tap that listens on a socket itself says so (:meth:`Tap.takes`): a recorder made while it is
installed does not stream there too, as the tap sees its connections already, without a wire.
Taps nest (a pytest session run inside another one's test): the newest installed is the one told.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from .tracker import ConnectionTracker

__all__ = ("Tap", "current", "install", "uninstall")


class Tap(Protocol):
    def takes(self, socket_path: Path) -> bool:
        """Whether connections a recorder would stream to ``socket_path`` reach this tap anyway."""

    def started(self, tracker: ConnectionTracker) -> None:
        """A connection started (on the app's thread: as cheap as can be, and never raising)."""


_taps: list[Tap] = []


def install(tap: Tap) -> None:
    _taps.append(tap)


def uninstall(tap: Tap) -> None:
    if tap in _taps:
        _taps.remove(tap)


def current() -> Tap | None:
    return _taps[-1] if _taps else None
