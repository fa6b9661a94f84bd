"""The output directory: the session files written there, and the manifest of them.

The manifest (``.wsinspect-files``, one file name a line) lists every file the plugin wrote, noted
before the file is: so the next run removes exactly those, even those of a run that was killed
mid-write, and nothing else the directory holds. Processes of one run (pytest-xdist's workers)
append to it at once, a line per write(2), which POSIX keeps whole.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Final

from ..model import AppLoopBlock, Connection
from ..sessions import SessionFileError, write_session

__all__ = ("MANIFEST", "Output", "OutputError")

MANIFEST: Final = ".wsinspect-files"


class OutputError(Exception):
    """The directory or a file in it cannot be written or cleaned; ``str()`` says so in a sentence."""


class Output:
    """Session files in ``directory``; their paths shown relative to ``shown_from`` when under it."""

    def __init__(self, directory: Path, shown_from: Path) -> None:
        self.directory = directory
        self._shown_from = shown_from
        self._noted: set[str] = set()

    @property
    def shown_directory(self) -> str:
        return self._shown(self.directory)

    def shown(self, name: str) -> str:
        return self._shown(self.directory / name)

    def _shown(self, path: Path) -> str:
        with contextlib.suppress(ValueError):
            return str(path.relative_to(self._shown_from))
        return str(path)

    def clean(self) -> int:
        """Remove the files a run wrote here before (and the temporaries of their writes), then the
        manifest; return how many went. A directory that is not there yet is clean."""
        manifest = self.directory / MANIFEST
        try:
            names = set(manifest.read_text("utf-8").splitlines())
        except (FileNotFoundError, NotADirectoryError):  # nothing was ever written there
            return 0
        except OSError as exc:
            raise OutputError(f"cannot read {manifest}: {exc.strerror or exc}") from None
        removed = 0
        for name in names:
            # A name with a separator was never written by us: leave whatever it points at alone.
            if not name or "/" in name or os.sep in name or name in (".", ".."):
                continue
            removed += self._unlink(name)
            # What a write killed halfway left (write_session's temporary: ".NAME.<random>.tmp").
            for temporary in self.directory.glob(f".{_glob_escape(name)}.*.tmp"):
                with contextlib.suppress(OSError):
                    temporary.unlink()
        try:
            manifest.unlink()
        except OSError as exc:
            raise OutputError(f"cannot remove {manifest}: {exc.strerror or exc}") from None
        return removed

    def write(self, name: str, connections: list[Connection], loop_blocks: Sequence[AppLoopBlock] = ()) -> str:
        """Write ``name`` (session JSON, atomically) and return its path as shown."""
        self._note(name)
        try:
            write_session(self.directory / name, connections, time.time(), loop_blocks=loop_blocks)
        except SessionFileError as exc:
            raise OutputError(str(exc)) from None
        return self.shown(name)

    def remove(self, name: str) -> None:
        self._unlink(name)

    def _unlink(self, name: str) -> bool:
        """Remove ``name``; False when it was not there (a run that never wrote it, or a file
        its test removed again as it passed)."""
        try:
            os.unlink(self.directory / name)
        except FileNotFoundError:
            return False
        except OSError as exc:
            raise OutputError(f"cannot remove {self.directory / name}: {exc.strerror or exc}") from None
        return True

    def _note(self, name: str) -> None:
        if name in self._noted:
            return
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.directory / MANIFEST, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
            try:
                os.write(fd, f"{name}\n".encode())
            finally:
                os.close(fd)
        except OSError as exc:
            where = exc.filename or self.directory
            raise OutputError(f"cannot write {where}: {exc.strerror or exc}") from None
        self._noted.add(name)


def _glob_escape(name: str) -> str:
    return "".join(f"[{char}]" if char in "*?[]" else char for char in name)
