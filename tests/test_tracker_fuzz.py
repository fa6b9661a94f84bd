"""Random ASGI message sequences, valid and not: the tracker never raises and stays in a known state."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from wsinspect import WSInspectConfig
from wsinspect.capture.tracker import ConnectionTracker
from wsinspect.model import STATES

junk = st.one_of(st.none(), st.integers(), st.text(max_size=5), st.binary(max_size=5), st.booleans())
payloads = {
    "text": st.one_of(st.text(max_size=40), junk),
    "bytes": st.one_of(st.binary(max_size=40), junk),
    "code": st.one_of(st.integers(0, 5000), junk),
    "reason": st.one_of(st.text(max_size=10), junk),
    "subprotocol": st.one_of(st.text(max_size=5), junk),
    "status": st.one_of(st.integers(100, 599), junk),
    "more_body": st.one_of(st.booleans(), junk),
    "body": st.one_of(st.binary(max_size=5), junk),
}
types = st.sampled_from(
    [
        "websocket.connect",
        "websocket.accept",
        "websocket.receive",
        "websocket.send",
        "websocket.close",
        "websocket.disconnect",
        "websocket.http.response.start",
        "websocket.http.response.body",
        "http.request",
        "nonsense",
    ]
)
messages = st.one_of(
    st.fixed_dictionaries({"type": types}, optional=payloads),
    junk,
    st.dictionaries(st.text(max_size=5), junk, max_size=3),
)
steps = st.lists(
    st.tuples(st.sampled_from(["receive", "send", "returned", "failed", "cancelled"]), messages), max_size=30
)


@settings(max_examples=400, deadline=None)
@given(steps=steps, max_messages=st.integers(1, 5), max_size=st.integers(0, 20), preview=st.booleans())
def test_tracker_never_raises_and_state_is_known(
    steps: list[tuple[str, Any]], max_messages: int, max_size: int, preview: bool
) -> None:
    config = WSInspectConfig(max_messages=max_messages, max_message_size=max_size, show_binary_preview=preview)
    tracker = ConnectionTracker({"type": "websocket", "path": "/x"}, config, 0.0)
    ended = False
    for now, (step, message) in enumerate(steps, start=1):
        if step == "receive":
            tracker.receive(message, float(now))
        elif step == "send":
            tracker.send(message, float(now))
        elif step == "returned":
            tracker.handler_returned(float(now))
            ended = True
        elif step == "failed":
            tracker.handler_failed(RuntimeError("x"), float(now))
            ended = True
        else:
            tracker.handler_cancelled(float(now))
            ended = True
        conn = tracker.connection
        assert conn.state in STATES
        assert len(tracker.frames) <= max_messages
        assert (conn.state == "closed") == (conn.disconnected_at is not None)
        for frame in tracker.frames:
            assert frame.size_bytes >= 0
            if frame.message_type in ("text", "binary") and frame.content is not None:
                kept = len(frame.content.encode()) if isinstance(frame.content, str) else len(frame.content)
                assert kept <= max_size
                assert frame.truncated == (frame.size_bytes > max_size)
        counted = conn.messages_sent + conn.messages_received
        data_frames = sum(f.message_type in ("text", "binary") for f in tracker.frames)
        assert data_frames <= counted
    if ended:
        assert tracker.connection.state == "closed"
