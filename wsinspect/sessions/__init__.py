"""Every session file format, shared by ``open``, ``record``, ``recover`` and ``replay``: session
JSON and HAR (:mod:`.jsonfile`, HAR's shape in :mod:`.har`), capture databases and journals
(:mod:`.sqlite`), and what they share (:mod:`.base`). :func:`read_session` tells a file's kind by
its first bytes; :func:`write_session` writes session JSON, or HAR, by the file's name.
"""

from __future__ import annotations

from pathlib import Path

from .base import FORMAT, VERSION, Progress, Session, SessionFileError, Written, check_writable, is_sqlite
from .har import har_left_out
from .jsonfile import dumps, loads, write_session
from .jsonfile import read as _read_text
from .sqlite import read_database

__all__ = (
    "FORMAT",
    "VERSION",
    "Progress",
    "Session",
    "SessionFileError",
    "Written",
    "check_writable",
    "dumps",
    "har_left_out",
    "is_sqlite",
    "loads",
    "read_session",
    "write_session",
)


def read_session(path: Path, *, progress: Progress | None = None) -> Session:
    """A session from a session JSON or HAR file, gzip-compressed or not, or from a capture
    database (``record -o x.sqlite``): told by its first bytes.

    ``progress(done, total)`` counts bytes of a JSON file (:data:`Progress`). Whatever is wrong
    with the file is a :class:`SessionFileError` of one line that names it.
    """
    if is_sqlite(path):
        return read_database(path)
    return _read_text(path, progress=progress)
