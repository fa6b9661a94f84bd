"""Micro-benchmark: the emitter end to end, from trackers in this process to another's store.

50 connections are opened on a ``Recorder`` streaming to the inspector process; N ~100-byte text
frames are then fed to their trackers as fast as one thread can (alternately received and sent),
while the emitter thread encodes and writes them. "produced" is the rate at which the app side
recorded them; "delivered" the rate at which they landed in the store (first frame recorded to
last one applied); "dropped" the frames the store never got, because the emitter's bounded queue
overflowed while the inspector lagged (the replay after an overflow can restore some of them).
"""

from __future__ import annotations

import time
from pathlib import Path

from wsinspect import Recorder, WSInspectConfig

from .shared import InspectorProcess, Row, drained, median, payload, wait_until, ws_scope

CONNECTIONS = 50


def one_run(recorder: Recorder, inspector: InspectorProcess, frames: int) -> tuple[float, float, int, int]:
    """Produced and delivered frames/s, frames dropped, and the drop count the emitter reported."""
    emitter = recorder.emitter
    assert emitter is not None
    trackers = [recorder.start(ws_scope(), time.time()) for _ in range(CONNECTIONS)]
    for tracker in trackers:
        tracker.send({"type": "websocket.accept"}, time.time())
    wait_until(lambda: emitter.live, 10, "the emitter to connect")
    drained(emitter)
    before = inspector.settled()
    sends = [{"type": "websocket.send", "text": payload(i)} for i in range(100)]
    receives = [{"type": "websocket.receive", "text": payload(i)} for i in range(100)]
    start = time.monotonic()
    for i in range(frames):
        tracker = trackers[i % CONNECTIONS]
        if (i // CONNECTIONS) % 2:
            tracker.send(sends[i % 100], time.time())
        else:
            tracker.receive(receives[i % 100], time.time())
    produced = frames / (time.monotonic() - start)
    drained(emitter)
    after = inspector.settled()
    delivered = after["frames"] - before["frames"]
    for tracker in trackers:
        tracker.handler_returned(time.time())
        recorder.finish(tracker)
    return produced, delivered / (after["last"] - start), frames - delivered, after["dropped"] - before["dropped"]


def run(inspector: InspectorProcess, live: Path, frames: int, repeats: int, ingest_rate: float | None) -> list[Row]:
    recorder = Recorder(WSInspectConfig(socket_path=str(live), app_name="bench-e2e"))
    runs = [one_run(recorder, inspector, frames) for _ in range(repeats)]
    assert recorder.emitter is not None
    recorder.emitter.stop()
    produced, delivered, dropped, reported = ([r[k] for r in runs] for k in range(4))
    dropped_note = f"dropped {median(dropped):.0f} of {frames} frames per run (queue overflows reported: "
    dropped_note += f"{median(reported):.0f} events)"
    return [
        Row("frames recorded by trackers (app side)", median(produced), "frames/s", None, "", produced),
        Row(
            "frames delivered into the inspector's store",
            median(delivered),
            "frames/s",
            median(delivered) / ingest_rate if ingest_rate else None,
            f"vs (a) feed + apply; {dropped_note}" if ingest_rate else dropped_note,
            delivered,
            {"frames": frames, "dropped": dropped, "reported_dropped": reported},
        ),
    ]
