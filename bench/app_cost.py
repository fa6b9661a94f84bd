"""Micro-benchmark: app-side added cost per message, in one process.

What it cannot see: its fake ``receive`` never yields to an event loop, so the emitter's writer
thread hardly runs while it measures, and no server or client shares the machine. The live
benchmark (``bench/live.py``) measures what users pay.

An echo app is driven in process through fake ``receive``/``send`` (connect, N text messages of
~100 bytes, disconnect) on one asyncio loop; the time of the whole connection divided by N is the
µs per message (one ``receive`` and one ``send``, two recorded frames). Each app runs plain (the
baseline), recorded with no inspector listening (the emitter is idle: frames are kept in memory
only), and recorded with an inspector listening in another process (the emitter thread encodes and
writes in this process, competing for the GIL). For the last, "drain" is the extra time until the
emitter's queue was empty after the handler ended (work the app's process still had to do), and
"dropped" counts frames that did not reach the inspector's store. A connection's 2N+1 frames fit
in the emitter's queue (10,000 events) and the queue drains between runs, so none should drop:
sustained overload is measurement 3.
"""

from __future__ import annotations

import asyncio
import gc
import time
from pathlib import Path
from typing import Any

from litestar import Litestar, WebSocket, websocket

from wsinspect import Recorder, WSInspectConfig, WSInspectMiddleware
from wsinspect.litestar import WSInspectPlugin

from .shared import InspectorProcess, Row, drained, median, payload, wait_until, ws_scope


async def echo(scope: Any, receive: Any, send: Any) -> None:
    """A raw ASGI echo app."""
    await receive()  # websocket.connect
    await send({"type": "websocket.accept"})
    while (message := await receive())["type"] == "websocket.receive":
        await send({"type": "websocket.send", "text": message.get("text")})


@websocket("/ws")
async def litestar_echo(socket: WebSocket[Any, Any, Any]) -> None:
    await socket.accept()
    while True:  # receive_text raises WebSocketDisconnect, which Litestar handles
        await socket.send_text(await socket.receive_text())


def drive(loop: asyncio.AbstractEventLoop, app: Any, n: int) -> float:
    """Seconds for one connection of ``n`` echoed messages."""
    messages = [{"type": "websocket.receive", "text": payload(i)} for i in range(n)]
    incoming = iter([{"type": "websocket.connect"}, *messages, {"type": "websocket.disconnect", "code": 1000}])
    sent: list[Any] = []

    async def receive() -> Any:
        return next(incoming)

    async def send(message: Any) -> None:
        sent.append(message)

    gc.collect()
    start = time.perf_counter()
    loop.run_until_complete(app(ws_scope(), receive, send))
    elapsed = time.perf_counter() - start
    if sum(message["type"] == "websocket.send" for message in sent) != n:
        raise RuntimeError("the echo app did not echo every message")
    return elapsed


def run(inspector: InspectorProcess, live: Path, dead: Path, n: int, repeats: int) -> list[Row]:
    def config(path: Path) -> WSInspectConfig:
        return WSInspectConfig(socket_path=str(path), app_name="bench-app")

    def plugin(path: Path) -> tuple[Litestar, Recorder]:
        p = WSInspectPlugin(config(path))
        return Litestar([litestar_echo], plugins=[p]), p.recorder

    raw_dead, raw_live = WSInspectMiddleware(echo, config(dead)), WSInspectMiddleware(echo, config(live))
    (ls_dead, ls_dead_rec), (ls_live, ls_live_rec) = plugin(dead), plugin(live)
    variants: list[tuple[str, Any, Recorder | None, bool]] = [  # name, app, recorder, is a baseline
        ("raw ASGI echo (baseline)", echo, None, True),
        ("  + WSInspectMiddleware, no inspector", raw_dead, raw_dead.recorder, False),
        ("  + WSInspectMiddleware, inspector listening", raw_live, raw_live.recorder, False),
        ("Litestar echo (baseline)", Litestar([litestar_echo]), None, True),
        ("  + WSInspectPlugin, no inspector", ls_dead, ls_dead_rec, False),
        ("  + WSInspectPlugin, inspector listening", ls_live, ls_live_rec, False),
    ]
    loop = asyncio.new_event_loop()
    for _, app, _, _ in variants:  # warm up, and start the emitters
        drive(loop, app, 200)
    for _, _, recorder, _ in variants:
        emitter = recorder.emitter if recorder else None
        if emitter and emitter.socket_path == live:
            wait_until(lambda e=emitter: e.live, 10, "the emitter to connect")
            drained(emitter)
    inspector.settled()

    times: list[list[float]] = [[] for _ in variants]
    drains: list[list[float]] = [[] for _ in variants]
    produced, delivered = [0] * len(variants), [0] * len(variants)
    for _ in range(repeats):
        for i, (_, app, recorder, _) in enumerate(variants):
            emitter = recorder.emitter if recorder else None
            streaming = emitter is not None and emitter.live
            before = inspector.stats()["frames"] if streaming else 0
            times[i].append(drive(loop, app, n))
            if streaming and recorder and emitter:
                start = time.perf_counter()
                drained(emitter)
                drains[i].append(time.perf_counter() - start)
                newest = recorder.connections()[-1]
                produced[i] += newest.messages_dropped + len(newest.messages)
                delivered[i] += inspector.settled()["frames"] - before
    loop.close()
    for _, _, recorder, _ in variants:
        if recorder and recorder.emitter:
            recorder.emitter.stop()

    rows: list[Row] = []
    base = 0.0
    for i, (name, _, _, is_base) in enumerate(variants):
        us = median(times[i]) / n * 1e6
        base = us if is_base else base
        row = Row(name, us, "µs/msg", us / base, samples=[t / n * 1e6 for t in times[i]])
        if not is_base:
            row.note = f"+{us - base:.2f} µs/msg added"
            row.extra["added_us_per_msg"] = us - base
        if drains[i]:
            drain = median(drains[i]) / n * 1e6
            lost = produced[i] - delivered[i]
            row.note += f"; drain +{drain:.2f} µs/msg; dropped {lost} of {produced[i]} frames"
            row.extra.update(drain_us_per_msg=drain, frames_produced=produced[i], frames_dropped=lost)
        rows.append(row)
    return rows
