"""The benchmarks' helper processes, so that they do not share the GIL with what is measured.

``inspector SOCKET``: an ``InspectorServer`` with a ``Store``; prints ``ready``, then answers
each ``stats`` line on stdin with a JSON line; ends when stdin closes.
``feed SOCKET FILE``: writes FILE to SOCKET as fast as it can, then prints when it started writing.
"""

from __future__ import annotations

import asyncio
import json
import re
import socket
import sys
import time
from pathlib import Path

_DROPPED = re.compile(r": (\d+) frames dropped$")


async def inspector(path: str) -> None:
    from wsinspect.inspector.server import InspectorServer
    from wsinspect.inspector.store import Store

    store = Store()
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
    await server.close()


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
    else:
        feed(sys.argv[2], sys.argv[3])
