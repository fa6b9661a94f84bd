"""The soak of issue 25, a minute long: the live TUI and record under 5,000 frames/s, trimming
every few seconds while keys are pressed (``nox -s soak`` runs it for an hour; see helpers/soak.py)."""

from __future__ import annotations

import os
import shutil

import pytest
from helpers.soak import Soak, SoakConfig, check, soak_directory

pytestmark = pytest.mark.skipif(shutil.which("tmux") is None, reason="the soak runs the TUI in tmux")


def test_the_live_inspector_survives_sustained_traffic_and_loses_no_frame() -> None:
    config = SoakConfig(
        seconds=float(os.environ.get("WSINSPECT_SOAK_SECONDS", "40")),
        max_frames=int(os.environ.get("WSINSPECT_SOAK_MAX_FRAMES", "20000")),
    )
    with soak_directory() as directory:
        report = Soak(directory, config).run()
    print(report.summary())
    check(report)
