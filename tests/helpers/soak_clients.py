"""The soak's clients (``python tests/helpers/soak_clients.py URL CLIENTS RATE``): real ``websockets``
clients echoing with the app at RATE messages a second in all, on connections that come and go.

Commands on stdin, one per line, each answered on stdout once done:

- ``pause``: every client closes its connection and stops (answers ``paused``);
- ``final MESSAGES CONNECTIONS``: every client runs CONNECTIONS connections of exactly MESSAGES
  echoes each, one after the other (answers ``final-done``);
- ``stop``: answers with the counts as JSON, ``{tag: [sent, echoes received]}``, and exits.

A connection's tag (``client=2&conn=7&phase=main``) is its query string, which the recording
keeps. A client that fails prints ``error ...`` and ends the process with exit code 1.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import os
import random
import sys
import time
from typing import Any

from websockets.asyncio.client import connect

BURST_EVERY = 0.01  # seconds: messages go in bursts, each echoed before the next
LIFETIME = (3.0, 20.0)  # seconds a connection of the main phase lasts, at random


class Clients:
    def __init__(self, url: str, count: int, rate: float) -> None:
        self.url = url
        self.count = count
        self.rate_each = rate / count
        self.counts: dict[str, list[int]] = {}
        self.running = True
        self._serials = {number: itertools.count(1) for number in range(1, count + 1)}

    def start(self, phase: Any, *args: Any) -> list[asyncio.Task[None]]:
        """``phase(number, *args)`` for every client, each a task."""
        return [_fail_loudly(asyncio.create_task(phase(number, *args))) for number in range(1, self.count + 1)]

    async def main_phase(self, number: int) -> None:
        rng = random.Random(number)
        while self.running:
            await self.converse(self._tag(number, "main"), seconds=rng.uniform(*LIFETIME))

    async def final_phase(self, number: int, messages: int, connections: int) -> None:
        for _ in range(connections):
            await self.converse(self._tag(number, "final"), messages=messages)

    def _tag(self, number: int, phase: str) -> str:
        return f"client={number}&conn={next(self._serials[number])}&phase={phase}"

    async def converse(self, tag: str, *, seconds: float | None = None, messages: int | None = None) -> None:
        """Echo in bursts at this client's rate, for ``seconds`` or ``messages``, then close."""
        counts = self.counts[tag] = [0, 0]
        ends = time.monotonic() + seconds if seconds is not None else float("inf")
        async with connect(f"{self.url}?{tag}", max_size=None) as ws:
            next_at = time.monotonic()
            while time.monotonic() < ends and (self.running or messages is not None):
                burst = max(1, round(self.rate_each * BURST_EVERY))
                if messages is not None:
                    burst = min(burst, messages - counts[0])
                    if not burst:
                        break
                for _ in range(burst):
                    await ws.send(json.dumps({"tag": tag, "seq": counts[0], "text": "soak " * 8}))
                    counts[0] += 1
                for _ in range(burst):
                    await ws.recv()
                    counts[1] += 1
                next_at += burst / self.rate_each
                await asyncio.sleep(max(0.0, next_at - time.monotonic()))
            await ws.close(1000, "done")


def _fail_loudly(task: asyncio.Task[None]) -> asyncio.Task[None]:
    def done(task: asyncio.Task[None]) -> None:
        if not task.cancelled() and task.exception() is not None:
            exc = task.exception()
            print(f"error {type(exc).__name__}: {exc}", flush=True)
            os._exit(1)

    task.add_done_callback(done)
    return task


async def main(url: str, count: int, rate: float) -> None:
    clients = Clients(url, count, rate)
    tasks = clients.start(clients.main_phase)
    reader = asyncio.StreamReader()
    await asyncio.get_running_loop().connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    while words := (await reader.readline()).decode().split():
        if words[0] == "pause":
            clients.running = False
            await asyncio.gather(*tasks)
            print("paused", flush=True)
        elif words[0] == "final":
            await asyncio.gather(*clients.start(clients.final_phase, int(words[1]), int(words[2])))
            print("final-done", flush=True)
        elif words[0] == "stop":
            print(json.dumps(clients.counts), flush=True)
            return


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], int(sys.argv[2]), float(sys.argv[3])))
