"""The inspector's memory per stored frame, beyond its payload (tracemalloc), and the connections
table with a thousand open connections.

Frames arrive as a producer sends them (FrameBatches of 10,000 over 50 connections) into a Store
with the default bounds; what tracemalloc counts after the last batch, less the payload strings
themselves, divided by the frames, is the cost of keeping a frame. The baseline is the same
frames as msgspec decodes them off the wire (the WireFrame objects alone), measured in the same
run. The target: at most 300 bytes per frame beyond its payload at 1,000,000 frames.

The table: a refresh of the connections table (the 4-a-second one while frames flow, every open
connection's duration going on) with 1,000 open connections, against the same with 10.

The app's memory per 1,000 open connections with the default config (``max_messages`` 100), each
holding a full replay buffer: 50 messages received and their 50 echoes, in two shapes: ~100-byte
texts, and texts of twice ``max_message_size`` (every frame kept cut to 10 KiB: the most a frame
holds). Measured two ways. In process, with tracemalloc: a raw echo app driven through fake
``receive``/``send``, 1,000 connections held open at once, wrapped in ``WSInspectMiddleware`` and
bare; the difference is wsinspect's own (trackers, frames, the middleware's per-connection state),
exact to the byte. And as users run it: uvicorn serving the Litestar echo app of ``bench/apps.py``
in a process of its own, bare and with the plugin, 1,000 ``websockets`` clients (no compression)
from this process; the growth of its resident set (VmRSS, ``/proc``) from before the connections to
all of them open with their messages echoed. No inspector listens (frames are kept in the app
only), so nothing else in flight is counted; ``python -m bench.memory`` runs this part alone.
"""

from __future__ import annotations

import asyncio
import gc
import os
import resource
import subprocess
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path
from typing import Any

from wsinspect import WSInspectConfig, WSInspectMiddleware
from wsinspect.inspector.core.store import Producer, Store
from wsinspect.inspector.server import InspectorServer
from wsinspect.inspector.ui.app import InspectorApp
from wsinspect.model import Connection
from wsinspect.wire import ConnectionUpdate, FrameBatch, WireFrame

from .shared import ROOT, Row, median, payload, ws_scope

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
    # A quick run (fewer frames) measures the app with fewer connections; still reported per 1,000.
    return rows + app_memory(APP_CONNECTIONS if frames >= 1_000_000 else APP_CONNECTIONS // 5)


# -- the app's memory per connection ------------------------------------------------------------

APP_CONNECTIONS = 1_000
APP_MESSAGES = 50  # received per connection, each echoed: 100 frames, the default max_messages
HANDSHAKES_AT_ONCE = 100
LIMIT = WSInspectConfig().max_message_size
# Name → the size of the texts sent (0: payload(), ~100 bytes; twice the limit: each frame kept full).
SHAPES = {"100 x ~100 B frames": 0, f"100 x {LIMIT // 1024} KiB frames": 2 * LIMIT}


def _text(i: int, k: int, size: int) -> str:
    """A fresh text (as a server makes one per message): ``payload()``, or ``size`` characters."""
    if not size:
        return payload(i * APP_MESSAGES + k)
    head = f"{i:06d}:{k:06d}:"
    return head + "x" * (size - len(head))


async def _echo(scope: Any, receive: Any, send: Any) -> None:
    await receive()  # websocket.connect
    await send({"type": "websocket.accept"})
    while (message := await receive())["type"] == "websocket.receive":
        await send({"type": "websocket.send", "text": message.get("text")})


async def _held_in_process(app: Any, connections: int, size: int) -> int:
    """Bytes traced while ``connections`` connections of ``app`` are open, each after its messages."""
    release = asyncio.Event()
    done = 0
    everyone = asyncio.Event()

    async def connection(i: int) -> None:
        step = 0

        async def receive() -> dict[str, Any]:
            nonlocal step, done
            step += 1
            if step == 1:
                return {"type": "websocket.connect"}
            if step <= APP_MESSAGES + 1:
                return {"type": "websocket.receive", "text": _text(i, step, size)}
            done += 1
            if done == connections:
                everyone.set()
            await release.wait()  # held open until every connection got here
            return {"type": "websocket.disconnect", "code": 1000}

        async def send(message: dict[str, Any]) -> None:
            pass

        await app(ws_scope(), receive, send)

    gc.collect()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        tasks = [asyncio.create_task(connection(i)) for i in range(connections)]
        await everyone.wait()
        gc.collect()
        held = tracemalloc.get_traced_memory()[0] - before
        release.set()
        await asyncio.gather(*tasks)
    finally:
        tracemalloc.stop()
    return held


# The app's process: its own limit on open files raised, a free port of 127.0.0.1 printed once
# it listens, then uvicorn serving bench.apps:MODE.
SERVE = """
import resource, socket, sys
soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
want = int(sys.argv[2])
if soft != resource.RLIM_INFINITY and soft < want:
    resource.setrlimit(resource.RLIMIT_NOFILE, (want if hard == resource.RLIM_INFINITY else min(want, hard), hard))
import uvicorn
sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
sock.bind(("127.0.0.1", 0))
sock.listen(2048)
print(sock.getsockname()[1], flush=True)
config = uvicorn.Config(f"bench.apps:{sys.argv[1]}", ws="websockets-sansio", log_level="warning", access_log=False,
                        backlog=2048, timeout_graceful_shutdown=5)
uvicorn.Server(config).run(sockets=[sock])
"""


def _rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS")


def _raise_open_files(needed: int) -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != resource.RLIM_INFINITY and soft < needed:
        resource.setrlimit(
            resource.RLIMIT_NOFILE, (needed if hard == resource.RLIM_INFINITY else min(needed, hard), hard)
        )


async def _clients(port: int, connections: int, size: int, pid: int) -> tuple[float, float]:
    """The server's VmRSS (MB) after one warm-up connection, and with ``connections`` open and echoed."""
    from websockets.asyncio.client import connect

    url = f"ws://127.0.0.1:{port}/ws"
    options: dict[str, Any] = {"open_timeout": 60, "ping_interval": None, "compression": None, "max_size": None}

    async def converse(ws: Any, i: int) -> None:
        for k in range(APP_MESSAGES):
            text = _text(i, k, size)
            await ws.send(text)
            if await ws.recv() != text:
                raise RuntimeError("the echo differs")

    async with connect(url, **options) as ws:  # what the first connection loads is no cost per connection
        await converse(ws, 0)
    await asyncio.sleep(0.5)
    before = _rss_mb(pid)
    gate = asyncio.Semaphore(HANDSHAKES_AT_ONCE)

    async def opened() -> Any:
        async with gate:
            return await connect(url, **options)

    sockets = await asyncio.gather(*(opened() for _ in range(connections)))
    try:
        await asyncio.gather(*(converse(ws, i) for i, ws in enumerate(sockets)))
        await asyncio.sleep(0.5)
        return before, _rss_mb(pid)
    finally:
        await asyncio.gather(*(ws.close() for ws in sockets))


def _served(mode: str, connections: int, size: int) -> float:
    """MB the uvicorn process serving ``bench.apps:mode`` grew by with ``connections`` open."""
    with tempfile.TemporaryDirectory(prefix="wsib-", dir="/tmp") as directory:
        env = {**os.environ, "WSINSPECT_SOCKET": str(Path(directory) / "nobody.sock")}  # nobody listens
        proc = subprocess.Popen(
            [sys.executable, "-c", SERVE, mode, str(connections + 500)],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            text=True,
        )
        try:
            assert proc.stdout is not None
            port = int(proc.stdout.readline())
            before, held = asyncio.run(_clients(port, connections, size, proc.pid))
        finally:
            proc.terminate()
            try:
                proc.wait(20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
    return held - before


def app_memory(connections: int) -> list[Row]:
    """The app's MB per 1,000 connections: wsinspect's own (tracemalloc), and uvicorn's RSS growth."""
    _raise_open_files(connections + 500)
    per = 1000 / connections
    rows: list[Row] = []
    with tempfile.TemporaryDirectory(prefix="wsib-", dir="/tmp") as directory:
        config = WSInspectConfig(socket_path=str(Path(directory) / "nobody.sock"))
        for shape, size in SHAPES.items():
            bare = asyncio.run(_held_in_process(_echo, connections, size)) / 1e6 * per
            recorded = asyncio.run(_held_in_process(WSInspectMiddleware(_echo, config), connections, size)) / 1e6 * per
            rows.append(
                Row(
                    f"wsinspect in the app, {shape}",
                    recorded - bare,
                    "MB/1,000",
                    None,
                    f"per 1,000 open connections; tracemalloc, middleware minus bare echo ({bare:.1f} MB)",
                )
            )
    for shape, size in SHAPES.items():
        bare = _served("bare", connections, size) * per
        plugin = _served("plugin", connections, size) * per
        rows.append(
            Row(
                f"uvicorn app's RSS, {shape}",
                plugin,
                "MB/1,000",
                plugin / bare if bare > 0 else None,
                f"per 1,000 open connections, Litestar + plugin; bare {bare:.1f} MB, so wsinspect's share "
                f"{plugin - bare:.1f} MB",
            )
        )
    return rows


if __name__ == "__main__":  # python -m bench.memory [CONNECTIONS]: the app's memory alone
    for row in app_memory(int(sys.argv[1]) if len(sys.argv) > 1 else APP_CONNECTIONS):
        print(f"  {row.name:<40} {row.value:9.1f} {row.unit}  {row.note}", flush=True)
