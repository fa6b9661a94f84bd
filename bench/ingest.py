"""Inspector ingest rate: frames per second from wire bytes into the store, on one core.

The stream is what a producer sends: a Hello, a ConnectionUpdate for each of 50 connections, then
FrameBatch messages of ~100-byte text frames round-robin over them, 1,400 frames each (a batch
as the emitter writes it while 28,000 frames/s flow). (a) is sans-I/O: ``Decoder.feed`` in
256 KiB chunks plus ``Store.apply``;
its baseline is msgspec decoding every message body alone (the floor for this wire format), and
``Decoder.feed`` without ``apply`` splits the cost. (b) goes through an ``InspectorServer`` in this
process, fed by another process writing the same bytes as fast as it can, timed from its first
write to the store holding every frame.
"""

from __future__ import annotations

import asyncio
import cProfile
import io
import os
import pstats
import struct
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import msgspec

from wsinspect.inspector.core.store import Producer, Store
from wsinspect.inspector.server import InspectorServer
from wsinspect.model import Connection
from wsinspect.wire import (
    PROTOCOL_VERSION,
    ConnectionUpdate,
    Decoder,
    Hello,
    WireMessage,
    encode,
    frames_message,
)

from .shared import ROOT, Row, median, payload

CHUNK = 256 * 1024
TARGET = 200_000  # frames/s


def encoded_stream(frames: int, connections: int = 50) -> bytes:
    now = time.time()
    conns = [
        Connection(
            connection_id=str(uuid.uuid4()),
            path="/ws/chat",
            query_string="room=lobby",
            state="open",
            connected_at=now,
            accepted_at=now,
            client=f"127.0.0.1:{50000 + i}",
            headers=[("host", "localhost:8000"), ("upgrade", "websocket"), ("cookie", "[redacted]")],
        )
        for i in range(connections)
    ]
    updates: list[WireMessage] = [ConnectionUpdate(key, c) for key, c in enumerate(conns)]
    parts = [encode([Hello(PROTOCOL_VERSION, os.getpid(), "bench")]), encode(updates)]
    batch = []
    for i in range(frames):
        index = i // connections
        text = payload(i)
        code = index % 2  # text, received then sent
        batch.append((i % connections, index, now + i * 1e-5, code, text, len(text), False, None))
        if len(batch) == 1_400:
            parts.append(encode([frames_message(batch)]))
            batch = []
    parts.append(encode([frames_message(batch)]))
    return b"".join(parts)


def chunks(stream: bytes) -> list[bytes]:
    return [stream[i : i + CHUNK] for i in range(0, len(stream), CHUNK)]


def decode_only(stream: bytes) -> None:
    decoder = msgspec.msgpack.Decoder(WireMessage)
    view, offset, length = memoryview(stream), 0, struct.Struct(">I")
    while offset < len(stream):
        (size,) = length.unpack_from(stream, offset)
        decoder.decode(view[offset + 4 : offset + 4 + size])
        offset += 4 + size


def feed(parts: list[bytes], apply: bool) -> Store:
    decoder, store, producer = Decoder(), Store(), Producer(1, os.getpid(), "bench")
    for part in parts:
        messages = decoder.feed(part)
        if apply:
            store.apply(producer, messages, time.time())
    decoder.close()
    return store


def timed(function: Callable[[Any], object], arg: Any) -> float:
    start = time.perf_counter()
    function(arg)
    return time.perf_counter() - start


def sans_io(stream: bytes, frames: int, repeats: int) -> list[Row]:
    parts = chunks(stream)
    if feed(parts, apply=True).frames_received != frames:
        raise RuntimeError("the store did not take every frame")
    cases: list[tuple[str, Callable[[Any], object], Any]] = [
        ("msgspec decode only (floor, baseline)", decode_only, stream),
        ("Decoder.feed", lambda p: feed(p, apply=False), parts),
        ("Decoder.feed + Store.apply", lambda p: feed(p, apply=True), parts),
    ]
    samples: list[list[float]] = [[] for _ in cases]
    for _ in range(repeats):
        for i, (_, function, arg) in enumerate(cases):
            samples[i].append(frames / timed(function, arg))
    rows = [Row(name, median(s), "frames/s", samples=s) for (name, _, _), s in zip(cases, samples, strict=True)]
    for row in rows:
        row.ratio = row.value / rows[0].value
    rows[-1].note = target_note(rows[-1].value)
    return rows


def target_note(rate: float) -> str:
    return f"target {TARGET:,}/s {'reached' if rate >= TARGET else 'NOT reached'}"


async def _through_socket(socket_path: Path, stream_file: Path, frames: int) -> float:
    store = Store()
    done, end = asyncio.Event(), [0.0]

    def changed(_: set[str]) -> None:
        if store.frames_received >= frames and not done.is_set():
            end[0] = time.monotonic()
            done.set()

    store.listeners.append(changed)
    server = InspectorServer(store, socket_path)
    await server.start()
    feeder = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bench._child", "feed", str(socket_path), str(stream_file),
        cwd=ROOT, stdout=asyncio.subprocess.PIPE,
    )  # fmt: skip
    try:
        await asyncio.wait_for(done.wait(), 120)
    finally:
        await server.close()
        out, _ = await feeder.communicate()
    return frames / (end[0] - float(out))


def via_socket(stream: bytes, frames: int, repeats: int, workdir: Path, baseline: float) -> Row:
    stream_file = workdir / "stream.bin"
    stream_file.write_bytes(stream)
    samples = [asyncio.run(_through_socket(workdir / "ingest.sock", stream_file, frames)) for _ in range(repeats)]
    rate = median(samples)
    note = f"vs (a) feed + apply; {target_note(rate)}"
    return Row("InspectorServer via Unix socket", rate, "frames/s", rate / baseline, note, samples)


def profile(stream: bytes, top: int = 10) -> str:
    """cProfile of (a), the top functions by own time."""
    parts = chunks(stream)
    profiler = cProfile.Profile()
    profiler.runcall(feed, parts, True)
    out = io.StringIO()
    pstats.Stats(profiler, stream=out).sort_stats("tottime").print_stats(top)
    return out.getvalue()
