"""A test's file name (sans-I/O): readable, safe on any file system, unique, stable across runs."""

from __future__ import annotations

import hashlib
import re
from typing import Final

__all__ = ("MAX_NAME_BYTES", "file_name", "run_file_name")

MAX_NAME_BYTES: Final = 255  # the longest file name most file systems take
_UNSAFE: Final = re.compile(r"[^A-Za-z0-9._+=,@-]+")
# Enough bits that two of a suite's tests share a name by chance about never (2^-60 odds per pair).
_DIGEST_CHARS: Final = 15


def file_name(nodeid: str, suffix: str = ".json") -> str:
    """``tests/test_chat.py::test_join[alice]`` → ``test_chat.py--test_join-alice-<digest>.json``.

    The readable part keeps letters, digits and ``._+=,@-``; ``::`` becomes ``--``, any other run
    of characters ``-``, and the directories are left out, so names stay short. The digest of the
    whole node id makes the name unique: two ids that read the same (``a/b`` and ``a_b``, a case
    apart on a case-blind file system) still differ. At most :data:`MAX_NAME_BYTES` bytes, ASCII.
    """
    digest = hashlib.sha256(nodeid.encode("utf-8", "surrogatepass")).hexdigest()[:_DIGEST_CHARS]
    path, _, rest = nodeid.partition("::")
    readable = "--".join(_UNSAFE.sub("-", part).strip("-.") for part in [path.rsplit("/", 1)[-1], *_parts(rest)])
    room = MAX_NAME_BYTES - len(digest) - len(suffix) - 1
    readable = readable[:room].rstrip("-.") or "test"
    return f"{readable}-{digest}{suffix}"


def run_file_name(worker: str | None) -> str:
    """The file of the connections opened outside any test (a session-scoped fixture's):
    ``_run.json``, or ``_run-gw0.json`` for an xdist worker (a test's name ends in its digest)."""
    return f"_run-{_UNSAFE.sub('-', worker)}.json" if worker else "_run.json"


def _parts(rest: str) -> list[str]:
    return [part for part in rest.split("::") if part] if rest else []
