"""Drives an ASGI app through one recorded connection, in process: no server, no network.

The ``websocket`` scope is built from what was recorded (path, query string, headers,
subprotocols, client). The app gets the frames the client sent, in recorded order, turn by turn:
before each, the driver waits (up to ``patience`` seconds) until the app has sent as many frames as it had
sent before it in the recording (or, with ``timing="keep"``, it waits the recorded gap instead).
What the app sends, its close included, is collected as frames for the comparison. A close the
client sent (or a drop) reaches the app as ``websocket.disconnect``, as a server would send it.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass, field
from typing import Any, Literal
from urllib.parse import quote_plus, unquote_plus

from ..model import KEEPALIVE_TIMEOUT_REASON, REDACTED, Connection, Frame

__all__ = ("ASGIApp", "Fault", "Outcome", "ReplayError", "build_scope", "drive", "expected_frames", "lifespan")

Message = MutableMapping[str, Any]
ASGIApp = Callable[
    [MutableMapping[str, Any], Callable[[], Awaitable[Message]], Callable[[Message], Awaitable[None]]], Awaitable[None]
]
Timing = Literal["turns", "keep"]


class ReplayError(Exception):
    """What stops a replay before it starts (exit code 2): a bad argument, an unreadable session,
    an app that cannot be imported or started. ``str()`` is one line."""


@dataclass(frozen=True, slots=True)
class Fault:
    """A fault to play instead of the client's recorded ending: ``drop-after:N`` (the client
    vanishes after N received frames: a 1006) or ``close:CODE`` (the client closes with CODE
    after its last recorded frame)."""

    kind: Literal["drop-after", "close"]
    value: int

    @classmethod
    def parse(cls, text: str) -> Fault:
        kind, _, value = text.partition(":")
        if kind not in ("drop-after", "close") or not value.isdigit():
            raise ValueError(f"not a fault: {text!r} (drop-after:N or close:CODE)")
        return cls(kind, int(value))  # type: ignore[arg-type]


@dataclass(slots=True)
class Outcome:
    """What the app did with one replayed connection."""

    sent: list[Frame] = field(default_factory=list)  # text, binary and close frames, in order
    accepted: bool = False
    subprotocol: str | None = None
    denial_status: int | None = None  # it refused the upgrade (a close before accept: 403)
    error: BaseException | None = None  # what the app raised, if anything
    waited_for: str | None = None  # what did not come within the timeout (then the rest was not played)
    fed: int = 0  # received frames given to the app
    ended: bool = False  # the app ended on its own (not cancelled after the timeout)


def build_scope(
    connection: Connection, headers: dict[str, str], state: dict[str, Any], query: dict[str, str] | None = None
) -> dict[str, Any]:
    """The ``websocket`` scope of a recorded connection; ``headers`` (lowered names) replace or add
    request headers, ``query`` query parameters (a redacted one can only be replayed so)."""
    given = dict(headers)
    request: list[tuple[bytes, bytes]] = []
    for name, value in connection.headers:
        value = given.pop(name.lower(), value)
        request.append((name.lower().encode("latin-1"), value.encode("latin-1", "replace")))
    request += [(name.encode("latin-1"), value.encode("latin-1", "replace")) for name, value in given.items()]
    host, _, port = (connection.client or "127.0.0.1:50000").rpartition(":")
    return {
        "type": "websocket",
        "asgi": {"version": "3.0", "spec_version": "2.4"},
        "http_version": "1.1",
        "scheme": connection.scheme or "ws",
        "server": ("127.0.0.1", 8000),
        "client": (host or "127.0.0.1", int(port) if port.isdigit() else 50000),
        "root_path": "",
        "path": connection.path,
        "raw_path": connection.path.encode("utf-8"),
        "query_string": replace_query(connection.query_string, query or {}).encode("latin-1", "replace"),
        "headers": request,
        "subprotocols": list(connection.requested_subprotocols),
        "state": dict(state),
        "extensions": {"websocket.http.response": {}},
    }


def expected_frames(connection: Connection) -> list[Frame]:
    """The frames the app sent in the recording: its messages and its close (not a close the
    server sent on its own when its keepalive timed out). The turns wait for them, the verdict
    compares them."""
    return [
        frame
        for frame in connection.messages
        if frame.direction == "sent"
        and frame.message_type in ("text", "binary", "close")
        and not (frame.message_type == "close" and frame.content == KEEPALIVE_TIMEOUT_REASON)
    ]


def redacted_headers(connection: Connection, headers: dict[str, str]) -> list[str]:
    """The request headers recorded as ``[redacted]`` that ``headers`` does not supply."""
    return sorted({name.lower() for name, value in connection.headers if value == REDACTED} - set(headers))


def _query_pairs(query: str) -> list[tuple[str, str, str]]:
    """Each ``name=value`` of a query string as (its text, its decoded name, its raw value)."""
    pairs = []
    for pair in query.split("&") if query else []:
        name, _, value = pair.partition("=")
        pairs.append((pair, unquote_plus(name), value))
    return pairs


def replace_query(query: str, given: dict[str, str]) -> str:
    """The recorded query string with the parameters ``given`` (by name) in place of the recorded
    values, and those it did not have added."""
    if not given:
        return query
    left = dict(given)
    parts = [
        f"{pair.partition('=')[0]}={quote_plus(left.pop(name))}" if name in left else pair
        for pair, name, _ in _query_pairs(query)
    ]
    parts += [f"{quote_plus(name)}={quote_plus(value)}" for name, value in left.items()]
    return "&".join(parts)


def redacted_query(connection: Connection, query: dict[str, str]) -> list[str]:
    """The query parameters recorded as ``[redacted]`` that ``query`` does not supply."""
    return sorted({name for _, name, value in _query_pairs(connection.query_string) if value == REDACTED} - set(query))


async def drive(
    app: ASGIApp,
    connection: Connection,
    *,
    headers: dict[str, str] | None = None,
    query: dict[str, str] | None = None,
    state: dict[str, Any] | None = None,
    timing: Timing = "turns",
    patience: float = 5.0,
    fault: Fault | None = None,
) -> Outcome:
    """Replay ``connection`` into ``app`` and return what it did. Never raises what the app raises."""
    outcome = Outcome()
    inbox: asyncio.Queue[Message] = asyncio.Queue()
    changed = asyncio.Event()
    closed = False  # the app closed: the "server" answers its close with a disconnect
    gone = False  # the client left: what the app sends from then on reaches no one

    def leave(message: Message) -> None:
        nonlocal gone
        gone = True
        inbox.put_nowait(message)

    async def receive() -> Message:
        return await inbox.get()

    async def send(message: Message) -> None:
        nonlocal closed
        kind = message.get("type")
        if gone and outcome.accepted and kind in ("websocket.send", "websocket.close"):
            return  # a server drops it (uvicorn may raise): it is no frame of the conversation
        now = time.time()
        if kind == "websocket.accept":
            outcome.accepted = True
            outcome.subprotocol = message.get("subprotocol")
        elif kind == "websocket.send":
            text = message.get("text")
            if isinstance(text, str):
                outcome.sent.append(_frame("text", text, now))
            else:
                outcome.sent.append(_frame("binary", bytes(message.get("bytes") or b""), now))
        elif kind == "websocket.close":
            if not outcome.accepted:
                outcome.denial_status = 403
            elif not closed:
                code = message.get("code") or 1000
                outcome.sent.append(_frame("close", message.get("reason") or "", now, int(code)))
            if not closed:
                closed = True
                leave({"type": "websocket.disconnect", "code": message.get("code") or 1000})
        elif kind == "websocket.http.response.start" and not outcome.accepted:
            outcome.denial_status = int(message.get("status") or 0) or None
        changed.set()

    scope = build_scope(connection, headers or {}, state or {}, query)
    handler = asyncio.ensure_future(app(scope, receive, send))
    handler.add_done_callback(lambda _: changed.set())

    async def until(check: Callable[[], bool], what: str) -> bool:
        deadline = asyncio.get_running_loop().time() + patience
        while not check():
            if handler.done():
                return check()
            left = deadline - asyncio.get_running_loop().time()
            if left <= 0:
                outcome.waited_for = what
                return False
            changed.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(changed.wait(), left)
        return True

    expected = {id(frame) for frame in expected_frames(connection)}
    frames = [
        frame
        for frame in connection.messages
        if id(frame) in expected
        or (frame.direction == "received" and frame.message_type in ("text", "binary", "close"))
    ]
    expected_sent = 0
    previous = connection.accepted_at or connection.connected_at
    inbox.put_nowait({"type": "websocket.connect"})
    client_closed = False
    decided = await until(lambda: outcome.accepted or outcome.denial_status is not None, "the app to accept or refuse")
    for frame in frames if decided else ():
        if frame.direction == "sent":
            expected_sent += 1
            continue
        count = expected_sent
        if timing == "keep":
            await asyncio.sleep(max(0.0, frame.timestamp - previous))
            previous = frame.timestamp
        elif not await until(lambda count=count: len(outcome.sent) >= count, _waiting(count)):  # type: ignore[misc]
            break
        if handler.done() or closed:
            break
        if fault is not None and fault.kind == "drop-after" and outcome.fed >= fault.value:
            break  # the client vanishes once the app answered what it sent (or stopped waiting)
        if frame.message_type == "close":
            if fault is None:
                leave({"type": "websocket.disconnect", "code": frame.close_code or 1005, "reason": frame.content or ""})
                client_closed = True
            break
        key = "text" if frame.message_type == "text" else "bytes"
        inbox.put_nowait({"type": "websocket.receive", key: frame.content})
        outcome.fed += 1
    if not client_closed:
        # The recording ended otherwise: the app closed, returned, or the client dropped. Let the
        # app send what it sent then, and then the client goes, unless the app went first.
        if outcome.waited_for is None and fault is None:
            total = len(expected)
            await until(lambda: len(outcome.sent) >= total or closed, _waiting(total))
        if fault is not None:
            code = fault.value if fault.kind == "close" else 1006
        else:
            code = (connection.close_code if connection.closed_by == "client" else None) or 1006
        if not closed and not handler.done():
            leave({"type": "websocket.disconnect", "code": code})
    # The app ends on its own once it heard the disconnect (or after its close).
    done, _ = await asyncio.wait({handler}, timeout=patience)
    if not done:
        outcome.waited_for = outcome.waited_for or "the app to end after the client left"
        handler.cancel()
        with contextlib.suppress(BaseException):
            await handler
    else:
        outcome.ended = True
        if handler.exception() is not None:
            outcome.error = handler.exception()
    return outcome


def _waiting(count: int) -> str:
    return f"the app's sent frame {count}" if count else "the app to accept"


def _frame(kind: Literal["text", "binary", "close"], content: Any, now: float, code: int | None = None) -> Frame:
    size = len(content.encode("utf-8", "surrogatepass")) if isinstance(content, str) else len(content)
    if kind == "close":
        size += 2
    return Frame(direction="sent", message_type=kind, content=content, timestamp=now, size_bytes=size, close_code=code)


@contextlib.asynccontextmanager
async def lifespan(app: ASGIApp, patience: float = 10.0) -> Any:
    """Run the app's lifespan startup around the replay (and its shutdown after), as a server does;
    yields the lifespan state for the scopes. An app without lifespan support is run without."""
    state: dict[str, Any] = {}
    inbox: asyncio.Queue[Message] = asyncio.Queue()
    replies: asyncio.Queue[Message] = asyncio.Queue()

    async def receive() -> Message:
        return await inbox.get()

    async def send(message: Message) -> None:
        await replies.put(message)

    scope = {"type": "lifespan", "asgi": {"version": "3.0", "spec_version": "2.0"}, "state": state}
    task = asyncio.ensure_future(app(scope, receive, send))
    inbox.put_nowait({"type": "lifespan.startup"})
    started = await _reply(task, replies, patience)
    if started is not None and started.get("type") == "lifespan.startup.failed":
        with contextlib.suppress(BaseException):  # it ends with its failure: retrieved, not left to the loop
            await task
        raise ReplayError(f"the app's startup failed: {_last_line(started.get('message'))}")
    try:
        yield state
    finally:
        if started is not None and not task.done():
            inbox.put_nowait({"type": "lifespan.shutdown"})
            await _reply(task, replies, patience)
        if not task.done():
            task.cancel()
        with contextlib.suppress(BaseException):
            await task


def _last_line(message: object) -> str:
    """The gist of a failure's message, which may be a whole formatted traceback (Litestar's is):
    its last line that says something, without the frame of an exception group."""
    lines = [line.strip(" |+-") for line in str(message or "").splitlines()]
    return next((line for line in reversed(lines) if line), "no message")


async def _reply(task: asyncio.Future[None], replies: asyncio.Queue[Message], patience: float) -> Message | None:
    """The app's answer to a lifespan event; None when it ended instead (no lifespan support)."""
    getting = asyncio.ensure_future(replies.get())
    either: set[asyncio.Future[Any]] = {getting, task}
    done, _ = await asyncio.wait(either, timeout=patience, return_when=asyncio.FIRST_COMPLETED)
    if getting in done:
        return getting.result()
    getting.cancel()
    return None
