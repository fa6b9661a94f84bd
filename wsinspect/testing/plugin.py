"""wsinspect's pytest plugin, loaded by pytest from the ``pytest11`` entry point.

Inactive unless asked: with ``--wsinspect=off`` (the default) it adds its options, its marker and
the ``wsinspect_connections`` fixture, and nothing else runs. This module imports only pytest;
the recording (:mod:`.hooks`) is imported when a mode other than off is chosen.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Final

import pytest

from .settings import DEFAULT_OUTPUT, MARKER, MODES, PROPERTY, WSInspectWarning, warn

if TYPE_CHECKING:
    from ..model import Connection
    from .hooks import ActivePlugin
    from .recording import Recording, SingleTest

__all__ = (
    "DEFAULT_OUTPUT",
    "MARKER",
    "MODES",
    "PROPERTY",
    "Connections",
    "WSInspectWarning",
    "warn",
    "wsinspect_connections",
)

CLOSED_WAIT: Final = 2.0  # seconds wsinspect_connections(closed=True) waits at most
ACTIVE: Final[pytest.StashKey[ActivePlugin]] = pytest.StashKey()  # the plugin of a mode other than off


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("wsinspect", "wsinspect: the WebSocket connections of tests")
    group.addoption(
        "--wsinspect",
        choices=MODES,
        default=None,
        dest="wsinspect",
        help="record every test's WebSocket connections and keep them as session files: every "
        "test's (on), or those of tests that failed or errored (retain-on-failure). Default: off "
        "(ini: wsinspect)",
    )
    group.addoption(
        "--wsinspect-output",
        default=None,
        metavar="DIR",
        dest="wsinspect_output",
        help=f"where the session files go (default: {DEFAULT_OUTPUT}; ini: wsinspect_output). "
        "At the start the files the plugin wrote there before are removed, nothing else",
    )
    parser.addini("wsinspect", "wsinspect's mode: off, on or retain-on-failure", default="off")
    parser.addini("wsinspect_output", f"where wsinspect's session files go ({DEFAULT_OUTPUT})", default=DEFAULT_OUTPUT)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        f"{MARKER}: wsinspect records nothing of this test, and WSINSPECT_SOCKET is as the user set it "
        "while it runs (for tests of wsinspect's own socket machinery)",
    )
    mode = config.getoption("wsinspect") or str(config.getini("wsinspect")).strip() or "off"
    if mode not in MODES:
        warn(config, f"wsinspect: unknown mode {mode!r} in the ini file (off, on, retain-on-failure); it is off")
        return
    if mode == "off":
        return
    from .hooks import ActivePlugin

    try:
        plugin = ActivePlugin.start(config, mode)
    except Exception as exc:  # never a reason for the run to fail
        warn(config, f"wsinspect failed to start: {type(exc).__name__}: {exc}; the run goes on without it")
        return
    config.stash[ACTIVE] = plugin
    config.pluginmanager.register(plugin, "wsinspect-recording")


class Connections:
    """What the ``wsinspect_connections`` fixture gives: called, the current test's connections so
    far, oldest first, as ``recorder.connections()`` gives them (:class:`wsinspect.Connection`).
    ``closed=True`` first waits (up to 2 s) for every one of them to close: a test client's close
    often reaches the app, in its own thread, just after the client's ``with`` block."""

    def __init__(self, source: Recording | SingleTest, owner: str) -> None:
        self._source = source
        self._owner = owner

    def __call__(self, *, closed: bool = False) -> list[Connection]:
        found = self._source.connections(self._owner, closed=CLOSED_WAIT if closed else 0.0)
        return sorted(found, key=lambda connection: connection.connected_at)


@pytest.fixture
def wsinspect_connections(request: pytest.FixtureRequest) -> Iterator[Connections]:
    """The current test's WebSocket connections so far: ``wsinspect_connections()``.

    Works whatever ``--wsinspect`` says: when off, this test alone is recorded (the apps in this
    process; server processes stream to the plugin only when it is on)."""
    plugin = request.config.stash.get(ACTIVE, None)
    # A test that opted out is not recorded by the run: it gets a tap of its own, as when off.
    if plugin is not None and plugin.recording is not None and request.node.get_closest_marker(MARKER) is None:
        yield Connections(plugin.recording, request.node.nodeid)
        return
    from .recording import SingleTest

    with SingleTest() as single:
        yield Connections(single, request.node.nodeid)
