"""The benchmarks' helper processes, so that they do not share the GIL with what is measured.

``inspector SOCKET``: an ``InspectorServer`` with a ``Store``; prints ``ready``, then answers
each ``stats`` line on stdin with a JSON line; ends when stdin closes.
``feed SOCKET FILE``: writes FILE to SOCKET as fast as it can, then prints when it started writing.
``client URL CONNECTIONS``: a ``websockets`` client for the live benchmark (see ``client``).

The inspector also answers ``latency``: the p50 and p99 (ms) of how long frames took from the
app's send (the frame's timestamp) to being applied in the store, since the previous ``latency``.
"""

from __future__ import annotations

import asyncio
import json
import re
import socket
import sys
import time
from pathlib import Path
from typing import Any

_DROPPED = re.compile(r": (\d+) frames dropped$")


def percentile(ordered: list[float], q: float) -> float | None:
    """The q-quantile of sorted seconds, in ms."""
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000 if ordered else None


async def inspector(path: str) -> None:
    from wsinspect.inspector.core.store import Store
    from wsinspect.inspector.server import InspectorServer

    latencies: list[float] = []

    class TimedStore(Store):
        def apply(self, producer: Any, messages: list[Any], now: float) -> None:
            super().apply(producer, messages, now)
            done = time.time()
            for m in messages:
                kind = type(m).__name__
                if kind == "FrameBatch":
                    latencies.extend(done - f.timestamp for f in m.frames)
                elif kind == "FrameAdded":  # protocol 1 (before issue #10), for before/after tables
                    latencies.append(done - m.frame.timestamp)

    store = TimedStore()
    last = 0.0

    def changed(_: set[str]) -> None:
        nonlocal last
        last = time.monotonic()

    store.listeners.append(changed)
    server = InspectorServer(store, Path(path))
    await server.start()
    print("ready", flush=True)
    loop = asyncio.get_running_loop()
    while line := await loop.run_in_executor(None, sys.stdin.readline):
        if line.strip() == "stats":
            dropped = sum(int(m[1]) for event in store.system_events if (m := _DROPPED.search(event.text)))
            print(json.dumps({"frames": store.frames_received, "last": last, "dropped": dropped}), flush=True)
        elif line.strip() == "latency":
            ordered, latencies[:] = sorted(latencies), []
            print(json.dumps({"p50": percentile(ordered, 0.5), "p99": percentile(ordered, 0.99)}), flush=True)
    await server.close()


async def client(url: str, connections: int) -> None:
    """Opens CONNECTIONS websockets, then runs each command line from stdin and prints a JSON line.

    ``echo N``: N ~100-byte text messages per connection, each sent after the previous echo came
    back (lockstep), all connections at once; prints the seconds it took.
    ``paced RATE SECONDS``: RATE messages per second in all (echoed as they come), for SECONDS.
    """
    from websockets.asyncio.client import connect

    message = '{"type":"update","seq":12345678,"room":"lobby","body":"' + "x" * 43 + '"}'
    sockets = [await connect(url, compression=None, max_size=None) for _ in range(connections)]

    async def lockstep(ws: Any, n: int) -> None:
        for _ in range(n):
            await ws.send(message)
            await ws.recv()

    async def paced(ws: Any, rate: float, seconds: float) -> None:
        # Absolute deadlines in 10 ms slices: the rate holds however long each slice took.
        start = time.monotonic()
        sent = 0
        while (elapsed := time.monotonic() - start) < seconds:
            due = int(elapsed * rate) - sent
            for _ in range(due):
                await ws.send(message)
                await ws.recv()
            sent += due
            await asyncio.sleep(0.01)

    print("ready", flush=True)
    loop = asyncio.get_running_loop()
    while line := await loop.run_in_executor(None, sys.stdin.readline):
        command, *args = line.split()
        start = time.perf_counter()
        if command == "echo":
            await asyncio.gather(*(lockstep(ws, int(args[0])) for ws in sockets))
        elif command == "paced":
            rate = float(args[0]) / connections
            await asyncio.gather(*(paced(ws, rate, float(args[1])) for ws in sockets))
        print(json.dumps({"seconds": time.perf_counter() - start}), flush=True)
    for ws in sockets:
        await ws.close()


def feed(path: str, file: str) -> None:
    data = Path(file).read_bytes()
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.connect(path)
        start = time.monotonic()
        sock.sendall(data)
    print(start, flush=True)


if __name__ == "__main__":
    if sys.argv[1] == "inspector":
        asyncio.run(inspector(sys.argv[2]))
    elif sys.argv[1] == "client":
        asyncio.run(client(sys.argv[2], int(sys.argv[3])))
    else:
        feed(sys.argv[2], sys.argv[3])
