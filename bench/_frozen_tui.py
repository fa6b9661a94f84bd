"""``wsinspect`` whose screen is never redrawn once it shows: its server, store and an idle Textual
app, as the TUI has them, without the timeline, table and panels taking in frames. What the TUI
costs the app with this screen is the floor any screen of ours starts from (BENCHMARKS.md section 1)."""

from __future__ import annotations

import sys

from wsinspect.cli import main
from wsinspect.inspector.ui.app import InspectorApp


def _frozen(self: InspectorApp) -> bool:
    """The screen's work on the store's changes (looking, taking in), skipped."""
    return False


InspectorApp._tick = _frozen  # type: ignore[method-assign]
InspectorApp._tick_durations = _frozen  # type: ignore[method-assign,assignment]
InspectorApp._store_changed = _frozen  # type: ignore[method-assign,assignment]

if __name__ == "__main__":
    sys.exit(main())
