"""What the plugin's modules share: its names (the public contract's) and its one way to warn."""

from __future__ import annotations

import warnings
from typing import Final

import pytest

__all__ = ("DEFAULT_OUTPUT", "MARKER", "MODES", "PROPERTY", "WSInspectWarning", "warn")

MODES: Final = ("off", "on", "retain-on-failure")
DEFAULT_OUTPUT: Final = "test-results/wsinspect"
MARKER: Final = "no_wsinspect"
PROPERTY: Final = "wsinspect_session"  # the JUnit property of a test's kept file


class WSInspectWarning(pytest.PytestWarning):
    """Something wsinspect's plugin could not do; the run goes on, its outcomes untouched."""


def warn(config: pytest.Config, message: str) -> None:
    """One warning in pytest's summary, past the warning filters: ``-W error`` must not turn a
    problem of the plugin into a failed run."""
    warning = WSInspectWarning(message)
    config.hook.pytest_warning_recorded.call_historic(
        kwargs={
            "warning_message": warnings.WarningMessage(warning, WSInspectWarning, __file__, 0),
            "when": "config",
            "nodeid": "",
            "location": None,
        }
    )
