from __future__ import annotations

import tempfile
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from pytest_textual_snapshot import SVGImageExtension
from syrupy.assertion import SnapshotAssertion
from syrupy.extensions.base import AbstractSyrupyExtension
from syrupy.location import PyTestLocation

from wsinspect.inspector.core.store import Store
from wsinspect.inspector.server import InspectorServer


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


# -- the inspector's UI tests ---------------------------------------------------------------------


SNAPSHOTS_DIR = Path(__file__).resolve().parent.parent / "snapshots"


class RepoSVGExtension(SVGImageExtension):
    """pytest-textual-snapshot's SVG files, kept in the repository's top-level ``snapshots/``."""

    @classmethod
    def dirname(cls, *, test_location: PyTestLocation) -> str:
        return str(SNAPSHOTS_DIR)


class _RepoSnapshotAssertion(SnapshotAssertion):
    # snap_compare calls snapshot.use_extension(SVGImageExtension) itself, which would undo a plain
    # snapshot.use_extension(RepoSVGExtension): swap the plugin's extension for ours there instead.
    def use_extension(self, extension_class: type[AbstractSyrupyExtension] | None = None) -> SnapshotAssertion:
        if extension_class is SVGImageExtension:
            extension_class = RepoSVGExtension
        return super().use_extension(extension_class)


@pytest.fixture
def snapshot(snapshot: SnapshotAssertion) -> SnapshotAssertion:
    """syrupy's fixture, with the SVG snapshots of snap_compare stored in ``snapshots/``."""
    return _RepoSnapshotAssertion(
        session=snapshot.session,
        extension_class=RepoSVGExtension,
        test_location=snapshot.test_location,
        update_snapshots=snapshot.update_snapshots,
    )


@pytest.fixture
def utc_clock() -> Iterator[None]:
    """Local time is UTC, so the wall-clock times the inspector shows are the same on every machine."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("TZ", "UTC")
        time.tzset()
        yield
    time.tzset()


@pytest.fixture
async def listening_store(private_socket: Path) -> AsyncIterator[Store]:
    """The inspector's store, fed by its socket server listening where the apps stream."""
    store = Store()
    server = InspectorServer(store, private_socket)
    await server.start()
    try:
        yield store
    finally:
        await server.close()
