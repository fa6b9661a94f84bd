"""16 MB messages: the client gets them back unchanged, the app side never copies one whole, and
the inspector shows them cut to ``max_message_size`` with their real size.

The copy checks trace the app side's data path with tracemalloc while it takes a 16 MiB payload
made beforehand: what it allocates meanwhile (its peak) must stay far below the payload's size.
"""

from __future__ import annotations

import asyncio
import gc
import hashlib
import random
import tracemalloc
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from helpers.recording import start_record, stop_record
from helpers.servers import WS_IMPLEMENTATIONS, run_server
from helpers.waiting import until
from hypothesis import given, settings
from hypothesis import strategies as st
from litestar import Litestar, WebSocket, websocket
from websockets.asyncio.client import connect

from wsinspect import WSInspectConfig, WSInspectMiddleware
from wsinspect.capture.text import UTF8_CHUNK, utf8_size
from wsinspect.capture.tracker import ConnectionTracker
from wsinspect.litestar import WSInspectPlugin
from wsinspect.model import Frame
from wsinspect.sessions import read_session

MB16 = 16 * 1024 * 1024
LIMIT = WSInspectConfig().max_message_size  # the default, 10 KiB
# What the data path may allocate for one 16 MiB payload: its record and a few pieces of a
# limit's size. A copy of the payload would be 16 MiB or more.
COPY_BOUND = 1024 * 1024
WS_MAX_SIZE = 32 * 1024 * 1024  # uvicorn's (default 16 MiB) and the client's (default 1 MiB), raised

# -- the payloads: 16 MiB each, on the wire ---------------------------------------------------


def ascii_text() -> str:
    line = "The quick brown fox jumps over the lazy dog 0123456789.\n"
    return (line * (MB16 // len(line) + 1))[:MB16]


def mixed_text() -> str:
    """1, 2, 3 and 4 UTF-8 bytes per character (an astral one among them): 16 MiB of UTF-8."""
    text = "aé€😀" * (MB16 // 10) + "é€a"
    assert len(text.encode("utf-8")) == MB16
    return text


def binary() -> bytes:
    return random.Random(17).randbytes(MB16)


PAYLOADS: list[Callable[[], str | bytes]] = [ascii_text, mixed_text, binary]


def utf8(content: str | bytes | None) -> bytes:
    assert isinstance(content, str), content
    return content.encode("utf-8")


# -- the size of a text in UTF-8, counted without copying it --------------------------------

# Every code point there is: lone and paired surrogates and astral characters included.
any_text = st.text(st.characters(exclude_categories=()), max_size=60)
# One character of each UTF-8 length, and a lone surrogate (3 bytes, as "surrogatepass" writes it).
fillers = st.sampled_from(["a", "é", "€", "😀", "\ud83d", "\ude00"])


@settings(max_examples=300, deadline=None)
@given(text=any_text)
def test_utf8_size_of_short_texts(text: str) -> None:
    assert utf8_size(text) == len(text.encode("utf-8", "surrogatepass"))


@settings(max_examples=150, deadline=None)
@given(
    filler=fillers,
    # The text at a cut between two pieces: at every offset around the first and the second cut.
    before=st.integers(UTF8_CHUNK - 70, UTF8_CHUNK + 2) | st.integers(2 * UTF8_CHUNK - 70, 2 * UTF8_CHUNK + 2),
    middle=any_text,
    after=st.integers(0, UTF8_CHUNK),
)
def test_utf8_size_of_long_texts_is_exact_wherever_the_cuts_fall(
    filler: str, before: int, middle: str, after: int
) -> None:
    text = filler * before + middle + filler * after
    assert utf8_size(text) == len(text.encode("utf-8", "surrogatepass"))


@pytest.mark.parametrize(
    "text",
    [
        "a" * (UTF8_CHUNK - 1) + "\ud83d\ude00",  # a surrogate pair cut in two
        "a" * (UTF8_CHUNK - 1) + "😀" * 3,  # an astral character on the cut
        "€" * (3 * UTF8_CHUNK + 1),  # three whole pieces and one character
        "\udfff" * UTF8_CHUNK + "é",
        "a" * UTF8_CHUNK,
        "",
    ],
)
def test_utf8_size_at_the_cuts(text: str) -> None:
    assert utf8_size(text) == len(text.encode("utf-8", "surrogatepass"))


def test_the_data_path_records_the_exact_size_of_long_texts() -> None:
    tracker = ConnectionTracker({"type": "websocket", "path": "/x"}, WSInspectConfig(), 0.0)
    texts = ["é" * (UTF8_CHUNK + 1), "a" * UTF8_CHUNK + "\ud800\udc00😀", "€" * UTF8_CHUNK]
    for text in texts:
        tracker.data(0, {"type": "websocket.receive", "text": text}, 1.0)
    frames = tracker.frames
    assert [f.size_bytes for f in frames] == [len(t.encode("utf-8", "surrogatepass")) for t in texts]
    assert all(f.truncated and len(utf8(f.content)) <= LIMIT for f in frames)


# -- no copy of a huge payload on the app side --------------------------------------------------


def peak_allocated(call: Callable[[], object]) -> int:
    """Bytes allocated at most at one moment while ``call()`` runs, beyond what existed before."""
    gc.collect()
    tracemalloc.start()
    try:
        base = tracemalloc.get_traced_memory()[0]
        tracemalloc.reset_peak()
        call()
        return tracemalloc.get_traced_memory()[1] - base
    finally:
        tracemalloc.stop()


def copy_payloads() -> dict[str, str | bytes | bytearray | memoryview]:
    # Texts that Python stores with 1, 2 and 4 bytes per character, and every buffer type.
    return {
        "ascii text": "a" * MB16,
        "latin-1 text": "é" * (MB16 // 2),
        "BMP text": "€" * (MB16 // 3),
        "astral text": "😀" * (MB16 // 4),
        "surrogates": "\ud83d\ude00" * (MB16 // 6),
        "bytes": b"\x01" * MB16,
        "bytearray": bytearray(b"\x02" * MB16),
        "memoryview": memoryview(b"\x03" * MB16),
    }


COPY_CASES = list(copy_payloads())


@pytest.fixture(scope="module")
def huge_payloads() -> dict[str, str | bytes | bytearray | memoryview]:
    return copy_payloads()


def message_of(payload: str | bytes | bytearray | memoryview, sent: int) -> dict[str, Any]:
    key = "text" if isinstance(payload, str) else "bytes"
    return {"type": "websocket.send" if sent else "websocket.receive", key: payload}


def real_size(payload: str | bytes | bytearray | memoryview) -> int:
    if isinstance(payload, str):
        return len(payload.encode("utf-8", "surrogatepass"))
    return memoryview(payload).nbytes


@pytest.mark.parametrize("sent", [0, 1], ids=["received", "sent"])
@pytest.mark.parametrize("case", COPY_CASES)
def test_the_tracker_never_copies_a_huge_payload(
    huge_payloads: dict[str, str | bytes | bytearray | memoryview], case: str, sent: int
) -> None:
    payload = huge_payloads[case]
    tracker = ConnectionTracker({"type": "websocket", "path": "/x"}, WSInspectConfig(), 0.0)
    message = message_of(payload, sent)
    peak = peak_allocated(lambda: tracker.data(sent, message, 1.0))
    assert peak < COPY_BOUND, f"{case}: {peak:,} bytes allocated for a {real_size(payload):,}-byte payload"
    (frame,) = tracker.frames
    assert (frame.size_bytes, frame.truncated) == (real_size(payload), True)
    assert frame.direction == ("sent" if sent else "received")
    if isinstance(payload, str):
        assert isinstance(frame.content, str)
        assert len(utf8(frame.content)) <= LIMIT
        assert payload.startswith(frame.content)
    else:
        assert frame.content == bytes(memoryview(payload)[:LIMIT])


# With a redact hook the payload goes to the hook; recording what it returns (or its size alone)
# copies nothing more. (A bytearray or memoryview is handed to the hook as bytes, a copy by design:
# the hook gets a payload it can keep. Servers deliver bytes, so only an app's own sends can be one.)
@pytest.mark.parametrize("sent", [0, 1], ids=["received", "sent"])
@pytest.mark.parametrize("case", [case for case in COPY_CASES if case not in ("bytearray", "memoryview")])
@pytest.mark.parametrize("hook", ["size only", "replaced", "kept"])
def test_a_redact_hook_adds_no_copy_of_a_huge_payload(
    huge_payloads: dict[str, str | bytes | bytearray | memoryview], case: str, sent: int, hook: str
) -> None:
    payload = huge_payloads[case]

    def redact(value: str | bytes, connection: Any) -> str | bytes | None:
        assert value is payload  # the payload itself, not a copy
        if hook == "kept":
            return value
        return None if hook == "size only" else "[hidden]"

    tracker = ConnectionTracker({"type": "websocket", "path": "/x"}, WSInspectConfig(redact=redact), 0.0)
    message = message_of(payload, sent)
    peak = peak_allocated(lambda: tracker.redacted_data(sent, message, 1.0))
    assert peak < COPY_BOUND, f"{case}: {peak:,} bytes allocated for a {real_size(payload):,}-byte payload"
    (frame,) = tracker.frames
    assert (frame.size_bytes, frame.truncated) == (real_size(payload), True)
    if hook == "size only":
        assert frame.content is None
    elif hook == "replaced":
        assert frame.content == ("[hidden]" if isinstance(payload, str) else b"[hidden]")


def test_a_replacement_of_the_other_type_is_cut_before_it_is_converted() -> None:
    huge = "é" * (8 << 20)
    encoded = huge.encode()  # the hook's own, made before: what is measured is the tracker's
    config = WSInspectConfig(redact=lambda payload, connection: encoded if isinstance(payload, str) else huge)
    tracker = ConnectionTracker({"type": "websocket", "path": "/x"}, config, 0.0)
    peak = peak_allocated(lambda: tracker.redacted_data(0, {"type": "websocket.receive", "text": "a"}, 1.0))
    peak += peak_allocated(lambda: tracker.redacted_data(1, {"type": "websocket.send", "bytes": b"b"}, 1.0))
    assert peak < COPY_BOUND
    text, data = tracker.frames
    assert text.content == "é" * 5120  # 10,240 bytes, as a replacement of the right type would be cut
    assert data.content == ("é" * 5120).encode()


def test_a_memoryview_of_wider_items_is_cut_at_the_byte_limit() -> None:
    from array import array

    items = array("i", range(100_000))  # 400,000 bytes
    tracker = ConnectionTracker({"type": "websocket", "path": "/x"}, WSInspectConfig(), 0.0)
    tracker.data(1, {"type": "websocket.send", "bytes": memoryview(items)}, 1.0)
    (frame,) = tracker.frames
    assert (frame.size_bytes, frame.truncated, frame.content) == (400_000, True, items.tobytes()[:10240])


async def echo_app(scope: Any, receive: Any, send: Any) -> None:
    """A raw ASGI app that sends back each message as it came."""
    await receive()
    await send({"type": "websocket.accept"})
    while (message := await receive())["type"] == "websocket.receive":
        key = "text" if message.get("text") is not None else "bytes"
        await send({"type": "websocket.send", key: message[key]})


@pytest.mark.parametrize("case", ["ascii text", "BMP text", "astral text", "bytes", "bytearray"])
async def test_the_middleware_never_copies_a_huge_payload(
    huge_payloads: dict[str, str | bytes | bytearray | memoryview], case: str
) -> None:
    """The whole app-side path: the middleware, its tracker and the recorder, around an echo app."""
    payload = huge_payloads[case]
    app = WSInspectMiddleware(echo_app)
    incoming = [
        {"type": "websocket.disconnect", "code": 1000, "reason": ""},
        message_of(payload, 0),
        {"type": "websocket.connect"},
    ]
    echoed: list[Any] = []

    async def receive() -> dict[str, Any]:
        return incoming.pop()

    async def send(message: Any) -> None:
        echoed.append(message)

    gc.collect()
    tracemalloc.start()
    try:
        base = tracemalloc.get_traced_memory()[0]
        tracemalloc.reset_peak()
        await app({"type": "websocket", "path": "/ws/big"}, receive, send)
        peak = tracemalloc.get_traced_memory()[1] - base
    finally:
        tracemalloc.stop()
    assert peak < COPY_BOUND, f"{case}: {peak:,} bytes allocated for a {real_size(payload):,}-byte payload"
    assert echoed[1]["text" if isinstance(payload, str) else "bytes"] is payload
    (conn,) = app.recorder.connections()
    assert [(f.size_bytes, f.truncated) for f in conn.messages if f.message_type != "close"] == [
        (real_size(payload), True)
    ] * 2


# -- end to end: uvicorn, a websockets client and `wsinspect record` ---------------------------


@websocket("/ws/echo")
async def echo(socket: WebSocket[Any, Any, Any]) -> None:
    """Sends back each message as it came."""
    await socket.accept()
    while True:
        message: Any = await socket.receive()
        if message["type"] == "websocket.disconnect":
            return
        if message.get("bytes") is not None:
            await socket.send_bytes(message["bytes"])
        else:
            await socket.send_text(message["text"])


def digest(payload: str | bytes) -> str:
    return hashlib.sha256(payload.encode("utf-8") if isinstance(payload, str) else payload).hexdigest()


def check_cut(frame: Frame, payload: str | bytes, direction: str) -> None:
    """``frame`` is ``payload`` cut to the limit, with the payload's real size."""
    assert frame.direction == direction
    assert frame.message_type == ("text" if isinstance(payload, str) else "binary")
    assert (frame.size_bytes, frame.truncated) == (MB16, True)
    if isinstance(payload, str):
        assert isinstance(frame.content, str)
        assert LIMIT - 3 <= len(utf8(frame.content)) <= LIMIT  # cut on a character boundary
        assert payload.startswith(frame.content)
    else:
        assert frame.content == payload[:LIMIT]


@pytest.mark.parametrize("ws", WS_IMPLEMENTATIONS)
async def test_16_mb_messages_both_ways_through_uvicorn(ws: str, private_socket: Path, tmp_path: Path) -> None:
    payloads = [make() for make in PAYLOADS]
    recorder, _ = start_record(private_socket, tmp_path / "session.json")
    try:
        plugin = WSInspectPlugin()
        with run_server(Litestar([echo], plugins=[plugin]), ws=ws, ws_max_size=WS_MAX_SIZE) as server:
            emitter = plugin.recorder.emitter
            assert emitter is not None
            async with connect(server.ws_url("/ws/echo"), max_size=WS_MAX_SIZE, compression=None) as client:
                for payload in payloads:
                    await client.send(payload)
                    echoed = await asyncio.wait_for(client.recv(), 60)  # a safety net, not a timing
                    assert type(echoed) is type(payload)
                    assert digest(echoed) == digest(payload)  # unchanged, both ways

            def held() -> list[Any]:
                return [(c.state, emitter.live) for c in plugin.recorder.connections()]

            await until(lambda: server.call(held), lambda h: h == [("closed", True)], what="the close, live")
            (conn,) = await server.call(plugin.recorder.connections)
            assert await asyncio.to_thread(emitter.flush, 20.0), "the emitter did not flush"
        code, err = stop_record(recorder, timeout=30)
        assert code == 0, err
    finally:
        if recorder.poll() is None:
            recorder.kill()
            recorder.wait()

    # What the app recorded.
    data = [f for f in conn.messages if f.message_type in ("text", "binary")]
    assert len(data) == 2 * len(payloads)
    for i, payload in enumerate(payloads):
        check_cut(data[2 * i], payload, "received")
        check_cut(data[2 * i + 1], payload, "sent")
    assert (conn.bytes_received, conn.bytes_sent) == (len(payloads) * MB16, len(payloads) * MB16)

    # What the inspector recorded: the same frames, cut, with their real sizes.
    assert "1 connection, 7 frames" in err, err
    (saved,) = read_session(tmp_path / "session.json").connections
    saved_data = [f for f in saved.messages if f.message_type in ("text", "binary")]
    assert len(saved_data) == 2 * len(payloads)
    for i, payload in enumerate(payloads):
        check_cut(saved_data[2 * i], payload, "received")
        check_cut(saved_data[2 * i + 1], payload, "sent")
    assert (saved.state, saved.bytes_received, saved.bytes_sent) == ("closed", 3 * MB16, 3 * MB16)
