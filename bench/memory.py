"""8. The inspector's memory per stored frame, beyond its payload (tracemalloc), and the connections
table with a thousand open connections.

Frames arrive as a producer sends them (FrameBatches of 10,000 over 50 connections) into a Store
with the default bounds; what tracemalloc counts after the last batch, less the payload strings
themselves, divided by the frames, is the cost of keeping a frame. The baseline is the same
frames as msgspec decodes them off the wire (the WireFrame objects alone), measured in the same
run. The target: at most 300 bytes per frame beyond its payload at 1,000,000 frames.

The table: a refresh of the connections table (the 4-a-second one while frames flow, every open
connection's duration going on) with 1,000 open connections, against the same with 10.
"""

from __future__ import annotations

import asyncio
import gc
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

from wsinspect.inspector.server import InspectorServer
from wsinspect.inspector.store import Producer, Store
from wsinspect.inspector.ui.app import InspectorApp
from wsinspect.model import Connection
from wsinspect.wire import ConnectionUpdate, FrameBatch, WireFrame

from .shared import Row, median, payload

TARGET_BYTES = 300
CONNECTIONS = 50
BATCH = 10_000


def _frames(count: int) -> tuple[list[list[WireFrame]], int]:
    """``count`` frames in batches, and the bytes of their payload strings."""
    batches: list[list[WireFrame]] = []
    payload_bytes = 0
    for start in range(0, count, BATCH):
        batch = []
        for i in range(start, min(start + BATCH, count)):
            content = payload(i)
            payload_bytes += sys.getsizeof(content)
            batch.append(
                WireFrame(i % CONNECTIONS, i // CONNECTIONS, 1.7e9 + i * 1e-4, i % 2, content, 100, False, None)
            )
        batches.append(batch)
    return batches, payload_bytes


def _measure(count: int, store_them: bool) -> float:
    """Bytes per frame beyond the payload strings: held in a Store, or only decoded."""
    gc.collect()
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    batches, payload_bytes = _frames(count)
    if store_them:
        store = Store()
        producer = Producer(1, 1, "bench", since=0.0)
        updates = [
            ConnectionUpdate(c, Connection(connection_id=f"c{c}", path="/ws", connected_at=1.7e9, state="open"))
            for c in range(CONNECTIONS)
        ]
        store.apply(producer, updates, 1.7e9)
        for batch in batches:
            store.apply(producer, [FrameBatch(batch)], 1.7e9)
        del batches  # the store holds what it keeps; the wire's objects go
    gc.collect()
    used = tracemalloc.get_traced_memory()[0] - before
    tracemalloc.stop()
    return (used - payload_bytes) / count


async def _table_refresh(open_connections: int, repeats: int) -> float:
    store = Store()
    producer = Producer(1, 1, "bench", since=0.0)
    now = time.time()
    store.apply(
        producer,
        [
            ConnectionUpdate(
                c,
                Connection(
                    connection_id=f"c{c}", path=f"/ws/room/{c}", connected_at=now - c, accepted_at=now - c, state="open"
                ),
            )
            for c in range(open_connections)
        ],
        now,
    )
    with tempfile.TemporaryDirectory(dir="/tmp") as directory:
        app = InspectorApp(store, server=InspectorServer(store, Path(directory) / "bench.sock"))
        async with app.run_test(size=(160, 45)) as pilot:
            await pilot.pause()
            samples = []
            for _ in range(repeats):
                started = time.perf_counter()
                app.table.sync(set())  # nothing changed but the open connections' durations
                samples.append((time.perf_counter() - started) * 1000)
                await pilot.pause(0.05)
    return median(samples)


def run(frames: int, repeats: int) -> list[Row]:
    decoded = _measure(frames, store_them=False)
    stored = _measure(frames, store_them=True)
    verdict = " target met" if stored <= TARGET_BYTES else " target NOT met"
    rows = [
        Row(f"{frames:,} frames decoded off the wire (baseline), bytes per frame", decoded, "B", 1.0),
        Row(
            f"{frames:,} frames in the Store, bytes per frame beyond the payload",
            stored,
            "B",
            stored / decoded,
            f"target <= {TARGET_BYTES} B;{verdict}",
        ),
    ]
    small = asyncio.run(_table_refresh(10, repeats))
    large = asyncio.run(_table_refresh(1_000, repeats))
    rows += [
        Row("connections table refresh, 10 open (baseline)", small, "ms", 1.0),
        Row("connections table refresh, 1,000 open", large, "ms", large / small, "only the rows on screen are redrawn"),
    ]
    return rows
