"""``wsinspect recover CAPTURE -o OUT``: a capture database, or the journal a crashed ``record``
left, written out as a session file (JSON, HAR, .gz)."""

from __future__ import annotations

import contextlib
import sys
from pathlib import Path

from ..inspector.core.database_store import DatabaseStore
from ..sessions import check_writable, write_session
from ..sessions.sqlite import is_journal, read_database
from .progress import ProgressLine

__all__ = ("recover",)


def recover(capture: Path, output: Path) -> int:

    check_writable(output)
    progress = ProgressLine(sys.stderr, f"writing {output}", "frames")
    try:
        if is_journal(capture):  # what a crash left: read whole
            session = read_database(capture)
            written = write_session(output, session.connections, session.exported_at, progress=progress)
        else:  # a capture: its frames read as they are written, whatever its size
            with contextlib.closing(DatabaseStore(capture)) as store:
                written = write_session(output, *store.session(), progress=progress)
    finally:
        progress.close()
    print(f"wsinspect: {written.summary()}", file=sys.stderr)
    return 0
