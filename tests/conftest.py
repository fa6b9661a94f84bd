from __future__ import annotations

import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest


@pytest.fixture(autouse=True)
def private_socket(monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """Every test gets its own inspector socket path, so no test talks to a real inspector."""
    # AF_UNIX paths are limited to about 107 bytes: keep the directory short.
    directory = Path(tempfile.mkdtemp(prefix="wsi-", dir="/tmp"))
    path = directory / "inspector.sock"
    monkeypatch.setenv("WSINSPECT_SOCKET", str(path))
    yield path
    for child in directory.iterdir():
        child.unlink()
    directory.rmdir()
