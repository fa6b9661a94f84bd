"""Hypothesis strategies for what wsinspect reads and writes, one copy for every fuzzing test: frames,
log lines and connections of the model, and the wire messages they travel in; and the helpers
that break valid input a little (:func:`mutate_bytes`) or cut it anywhere (:func:`split_at`).

Strategies are built once, here: building them in a composite at each draw costs more than the
draw. The model's values vary in every field a reader or the wire must carry (frames of every
kind, with or without content, connections with their frames and log lines); each test builds
its messages, files and breakages from them.
"""

from __future__ import annotations

import itertools

import msgspec
from hypothesis import strategies as st

from wsinspect.model import STATES, Connection, Frame, LogLine, TracebackEntry
from wsinspect.wire import PROTOCOL_VERSION, Hello, WireLog

from .factories import wire_frame

__all__ = (
    "connections",
    "counts",
    "frames",
    "hellos",
    "keys",
    "log_lines",
    "mutate_bytes",
    "small_text",
    "split_at",
    "timestamps",
    "tracebacks",
    "wire_frames",
    "wire_logs",
)

timestamps = st.floats(min_value=0, max_value=4e9, allow_nan=False)
small_text = st.text(max_size=30)
counts = st.integers(min_value=0, max_value=2**53)
keys = st.integers(min_value=0, max_value=2**31)

kinds = st.sampled_from(["text", "binary", "ping", "pong", "close"])
directions = st.sampled_from(["sent", "received"])
texts = st.none() | small_text
payloads = st.none() | st.binary(max_size=40)
sizes = st.integers(0, 2**31)
close_codes = st.none() | st.integers(1000, 4999)
handler_times = st.just(msgspec.UNSET) | st.floats(0, 10)


@st.composite
def frames(draw: st.DrawFn) -> Frame:
    """A frame of any kind: its content of its type (text for text and close, bytes for the
    others) or not recorded (None), a close code only on a close, a handler time or none."""
    kind = draw(kinds)
    return Frame(
        direction=draw(directions),
        message_type=kind,
        content=draw(texts if kind in ("text", "close") else payloads),
        timestamp=draw(timestamps),
        size_bytes=draw(sizes),
        truncated=draw(st.booleans()),
        close_code=draw(close_codes) if kind == "close" else None,
        handler_time=draw(handler_times),
    )


tracebacks = st.lists(
    st.builds(TracebackEntry, file=small_text, line=st.integers(0, 10**6), function=small_text, code=small_text),
    max_size=1,
)
log_lines = st.builds(
    LogLine,
    timestamp=timestamps,
    level=st.sampled_from(["INFO", "WARNING", "ERROR"]),
    levelno=st.integers(0, 50),
    logger=small_text,
    message=small_text,
    size_bytes=st.integers(0, 2**31),
    error=st.none() | small_text,
    traceback=tracebacks,
)
connections = st.builds(
    Connection,
    connection_id=st.sampled_from(["a", "b"]) | st.uuids().map(str),
    path=st.text(max_size=20),
    query_string=st.text(max_size=10),
    subprotocol=st.none() | small_text,
    state=st.sampled_from(STATES),
    connected_at=timestamps,
    accepted_at=st.none() | timestamps,
    disconnected_at=st.none() | timestamps,
    close_code=close_codes,
    close_reason=st.none() | small_text,
    closed_by=st.sampled_from([None, "server", "client"]),
    messages_sent=counts,
    messages_received=counts,
    bytes_sent=counts,
    bytes_received=counts,
    messages_dropped=counts,
    client=st.none() | small_text,
    scheme=st.sampled_from(["ws", "wss"]),
    headers=st.lists(st.tuples(small_text, small_text), max_size=3),
    requested_subprotocols=st.lists(small_text, max_size=3),
    denial_status=st.none() | st.integers(100, 599),
    error=st.none() | small_text,
    pid=st.none() | st.integers(1, 2**22),
    app=st.none() | small_text,
    path_params=st.dictionaries(small_text, small_text, max_size=1),
    logs=st.lists(log_lines, max_size=1),
    messages=st.lists(frames(), max_size=4),
)

# -- on the wire -------------------------------------------------------------------------------

wire_frames = st.builds(wire_frame, keys, counts, frames())
wire_logs = st.builds(
    WireLog,
    keys,
    counts,
    timestamps,
    st.integers(0, 50),
    small_text,
    small_text,
    small_text,
    st.integers(0, 2**31),
    st.booleans(),
    st.none() | small_text,
    tracebacks,
)
hellos = st.builds(Hello, version=st.just(PROTOCOL_VERSION), pid=st.integers(1, 2**22), app=small_text, host=small_text)


# -- breaking valid input ----------------------------------------------------------------------


def split_at(data: bytes, points: list[int]) -> list[bytes]:
    """``data`` cut at each of ``points`` (in any order, repeats making empty chunks)."""
    cuts = [0, *sorted(points), len(data)]
    return [data[a:b] for a, b in itertools.pairwise(cuts)]


def mutate_bytes(draw: st.DrawFn, data: bytes, junk: st.SearchStrategy[bytes] | None = None) -> bytes:
    """``data`` with a few bytes flipped, set, inserted or deleted, or cut short."""
    buffer = bytearray(data)
    for _ in range(draw(st.integers(1, 4))):
        action = draw(st.sampled_from(["flip", "set", "insert", "delete", "truncate"]))
        at = draw(st.integers(0, max(len(buffer) - 1, 0)))
        if action == "flip" and buffer:
            buffer[at] ^= 1 << draw(st.integers(0, 7))
        elif action == "set" and buffer:
            buffer[at] = draw(st.integers(0, 255))
        elif action == "insert":
            buffer[at:at] = draw(st.binary(min_size=1, max_size=8) if junk is None else junk)
        elif action == "delete":
            del buffer[at : at + draw(st.integers(1, 8))]
        elif action == "truncate":
            del buffer[at:]
    return bytes(buffer)
