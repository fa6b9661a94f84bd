"""A traceback as the detail pane shows it: the app's own frames in full, library frames folded.

The app's frames name their files as the app recorded them: relative to its working directory
when under it, absolute otherwise. The library frames shown (when none is the app's) are cut to
their last parts ("litestar/routes/websocket.py"): where the package is installed says little.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from itertools import groupby
from operator import attrgetter

from rich.text import Text

from ...model import TracebackEntry

__all__ = ("SHOWN_LIBRARY_FRAMES", "STACK_TITLE", "traceback_text")

# With none of the app's own frames (it failed inside a library), the innermost library frames
# are shown unfolded: where it failed is still worth a look.
SHOWN_LIBRARY_FRAMES = 3
_PACKAGE = re.compile(r"[/\\](?:site|dist)-packages[/\\]([^/\\]+)")
_STDLIB = re.compile(r"[/\\]python3[.\d]*[/\\]([^/\\]+)")
TRACEBACK_TITLE = "Traceback (most recent call last)"
STACK_TITLE = "Stack (most recent call last)"  # where a handler is, or what held the loop


def traceback_text(entries: Sequence[TracebackEntry], title: str = TRACEBACK_TITLE) -> Text:
    """``entries`` (outermost first) as lines under ``title``: "  chat/app.py:42 in handler" and its
    source, the app's own in bold; each run of library frames folded into "  … 12 frames in
    litestar, asyncio". A stack shows as a traceback does."""
    text = Text()
    if not entries:
        return text
    text.append(title, style="bold")
    unfold = not any(entry.app for entry in entries)
    for app, run in groupby(entries, key=attrgetter("app")):
        group = list(run)
        if app:
            for entry in group:
                _entry(text, entry, "bold")
            continue
        shown = group[-SHOWN_LIBRARY_FRAMES:] if unfold else []
        folded = group[: len(group) - len(shown)]
        if folded:
            packages = list(dict.fromkeys(_package(entry.file) for entry in folded))
            text.append(f"\n  … {len(folded)} frame{'s' if len(folded) != 1 else ''} in {', '.join(packages)}", "dim")
        for entry in shown:
            _entry(text, entry, "dim")
    return text


def _entry(text: Text, entry: TracebackEntry, style: str) -> None:
    file = entry.file if entry.app else _short(entry.file)
    text.append(f"\n  {file}:{entry.line} in {entry.function}", style)
    if entry.code:
        text.append(f"\n      {entry.code}")


def _package(file: str) -> str:
    """The installed package or standard library module a file belongs to ("litestar", "asyncio")."""
    found = _PACKAGE.search(file) or _STDLIB.search(file)
    parts = file.replace("\\", "/").rsplit("/", 2)
    name = found.group(1) if found else parts[-2 if len(parts) > 1 else -1]
    return name.removesuffix(".py")


def _short(file: str) -> str:
    """The last three parts of a library file's path: enough to know the file, short enough for the pane."""
    parts = file.replace("\\", "/").split("/")
    return "/".join(parts[-3:]) if len(parts) > 3 else file
