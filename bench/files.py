"""Session files at scale: export (``write_session``) and open (``read_session``, and a capture
database's ``DatabaseStore``).

A session of N frames (~60-byte JSON text payloads over 50 connections) is written to a file and
read back, in this process. Times are ratios against a baseline measured in the same run on the
same data: for export a plain ``json.dump`` of the session as Python builtins into a file, for
open ``msgspec.json.decode`` of the same file's bytes alone (already in memory). Times are
medians of repeats without tracemalloc. Peak memory is tracemalloc's peak during one more run,
before the timed ones (it also warms the process up): what the operation allocated beyond what
existed before it, so the session exported is not counted and the session read is. The notes
compare it with the file's size: a streaming export holds a small part of it. ``.json.gz`` and
``.har`` are timed once, against the same baselines. The target: 5 s each at 1,000,000 frames.
"""

from __future__ import annotations

import gc
import inspect
import json
import shutil
import tempfile
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path
from typing import Any

import msgspec

from wsinspect import sessions as files
from wsinspect.inspector.core.store import Store
from wsinspect.model import Connection, Frame

from .shared import Row, median

TARGET_S = 5.0  # export and open of 1,000,000 frames
EXPORTED_AT = 1_700_001_000.0
CONNECTIONS = 50


def small_payload(seq: int) -> str:
    """A ~60-byte JSON text message."""
    return f'{{"type":"tick","seq":{seq},"room":"lobby","v":"xxxxxxxxxxxxx"}}'


def session_of(frames: int, connections: int = CONNECTIONS) -> list[Connection]:
    """``frames`` text frames over ``connections`` closed connections, alternating directions."""
    held = []
    per = frames // connections
    for c in range(connections):
        start = 1_700_000_000.0 + c
        messages = [
            Frame(
                direction="sent" if i % 2 else "received",
                message_type="text",
                content=(text := small_payload(c * per + i)),
                timestamp=start + i * 0.001,
                size_bytes=len(text),
            )
            for i in range(per)
        ]
        held.append(
            Connection(
                connection_id=f"conn-{c:04d}-5d1e-4c1e-9a8e-000000000000",
                path=f"/ws/{c}",
                query_string="room=lobby",
                state="closed",
                connected_at=start,
                accepted_at=start,
                disconnected_at=start + per * 0.001,
                close_code=1000,
                closed_by="client",
                messages_sent=per // 2,
                messages_received=per - per // 2,
                headers=[("host", "localhost:8000"), ("upgrade", "websocket")],
                messages=messages,
            )
        )
    return held


def _timed(action: Callable[[], Any], repeats: int) -> float:
    samples = []
    for _ in range(repeats):
        gc.collect()
        started = time.perf_counter()
        result = action()
        samples.append(time.perf_counter() - started)
        del result
    return median(samples)


def _peak(action: Callable[[], Any]) -> int:
    """Bytes tracemalloc saw allocated at the peak of ``action``, beyond what existed before."""
    gc.collect()
    tracemalloc.start()
    try:
        result = action()
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    del result
    return peak


def _progress_kwargs(function: Callable[..., Any]) -> dict[str, Any]:
    """A progress callback that only counts its calls, when the function takes one (it did not always)."""
    if "progress" in inspect.signature(function).parameters:
        return {"progress": lambda done, total: None}
    return {}


def _into_store(session: files.Session) -> Store:
    store = Store(max_messages=max(len(c.messages) for c in session.connections))
    store.load(session.connections, session.exported_at)
    return store


def _capture_rows(
    workdir: Path, connections: list[Connection], frames: int, base_open: float, repeats: int
) -> list[Row]:
    """``wsinspect open`` of the same session as a capture database (``record -o x.sqlite``): the
    first screen (the connections, the first chunk of rows indexed, a screen of 45 rows read) and
    every row indexed (which the screen does in the background), against the same baseline as the
    JSON file's open."""
    from wsinspect.inspector.core.database_store import DatabaseStore
    from wsinspect.inspector.core.database_writer import write_database

    path = workdir / "capture.sqlite"
    write_database(path, connections, EXPORTED_AT)

    def first_screen() -> DatabaseStore:
        store = DatabaseStore(path)
        store.poll()
        store.rows[0:45]
        return store

    def indexed() -> DatabaseStore:
        store = first_screen()
        while store.reading:
            store.poll()
        return store

    first_s, all_s = _timed(first_screen, repeats), _timed(indexed, repeats)
    peak = _peak(indexed)
    size = path.stat().st_size
    path.unlink()
    return [
        Row(f"{frames:,} frames: open .sqlite, first screen", first_s, "s", first_s / base_open, f"{_mb(size)} file"),
        Row(
            f"{frames:,} frames: open .sqlite, every row indexed",
            all_s,
            "s",
            all_s / base_open,
            f"peak {_mb(peak)} in Python (SQLite's own page cache not counted)",
        ),
    ]


def _mb(n: float) -> str:
    return f"{n / 1e6:,.1f} MB"


def run(sizes: tuple[int, ...], repeats: int) -> list[Row]:
    workdir = Path(tempfile.mkdtemp(prefix="wsib-files-"))
    rows: list[Row] = []
    write_kwargs = _progress_kwargs(files.write_session)
    read_kwargs = _progress_kwargs(files.read_session)
    try:
        for frames in sizes:
            connections = session_of(frames)
            path = workdir / "session.json"
            builtins = msgspec.to_builtins(
                {"format": "wsinspect.session", "version": 1, "exported_at": EXPORTED_AT, "connections": connections}
            )

            def dump_json(builtins: Any = builtins) -> None:
                with open(workdir / "plain.json", "w", encoding="utf-8") as file:
                    json.dump(builtins, file)

            def export(name: str, connections: list[Connection] = connections) -> Callable[[], Any]:
                return lambda: files.write_session(workdir / name, connections, EXPORTED_AT, **write_kwargs)

            # The tracemalloc run first: it also warms up (the process's first use of that much memory).
            base_export_peak = _peak(dump_json)
            base_export = _timed(dump_json, repeats)
            del builtins
            export_peak = _peak(export("session.json"))
            export_s = _timed(export("session.json"), repeats)
            size = path.stat().st_size
            verdict = "" if frames != 1_000_000 else ("; target met" if export_s < TARGET_S else "; target NOT met")
            rows.append(
                Row(
                    f"{frames:,} frames: json.dump (baseline)",
                    base_export,
                    "s",
                    1.0,
                    f"peak {_mb(base_export_peak)}",
                )
            )
            rows.append(
                Row(
                    f"{frames:,} frames: export .json",
                    export_s,
                    "s",
                    export_s / base_export,
                    f"peak {_mb(export_peak)}, {export_peak / size:.0%} of the {_mb(size)} file{verdict}",
                )
            )
            data = path.read_bytes()
            base_open_peak = _peak(lambda data=data: msgspec.json.decode(data))
            base_open = _timed(lambda data=data: msgspec.json.decode(data), repeats)
            del data
            open_peak = _peak(lambda path=path: files.read_session(path, **read_kwargs))
            open_s = _timed(lambda path=path: files.read_session(path, **read_kwargs), repeats)
            verdict = "" if frames != 1_000_000 else ("; target met" if open_s < TARGET_S else "; target NOT met")
            rows.append(
                Row(
                    f"{frames:,} frames: msgspec decode (baseline)",
                    base_open,
                    "s",
                    1.0,
                    f"peak {_mb(base_open_peak)} (the file's bytes already in memory, not counted)",
                )
            )
            rows.append(
                Row(
                    f"{frames:,} frames: open .json",
                    open_s,
                    "s",
                    open_s / base_open,
                    f"peak {_mb(open_peak)}, {open_peak / base_open_peak:.2f}x decode's, "
                    f"{open_peak / size:.0%} of the file (the session read included){verdict}",
                )
            )
            shown_s = _timed(lambda path=path: _into_store(files.read_session(path, **read_kwargs)), repeats)
            rows.append(
                Row(
                    f"{frames:,} frames: open .json, into the store",
                    shown_s,
                    "s",
                    shown_s / base_open,
                    "what `wsinspect open` does before its first screen",
                )
            )
            rows += _capture_rows(workdir, connections, frames, base_open, repeats)
            for name in ("session.json.gz", "session.har"):
                kind, target = name.removeprefix("session"), workdir / name
                seconds = _timed(export(name), 1)
                gzipped = target.read_bytes()[:2] == b"\x1f\x8b"
                note = f"{_mb(target.stat().st_size)} file" + (
                    ", not gzipped" if kind.endswith(".gz") and not gzipped else ""
                )
                rows.append(Row(f"{frames:,} frames: export {kind}", seconds, "s", seconds / base_export, note))
                peak = _peak(lambda target=target: files.read_session(target, **read_kwargs))
                seconds = _timed(lambda target=target: files.read_session(target, **read_kwargs), 1)
                rows.append(
                    Row(f"{frames:,} frames: open {kind}", seconds, "s", seconds / base_open, f"peak {_mb(peak)}")
                )
                target.unlink()
            del connections
            gc.collect()
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    return rows
