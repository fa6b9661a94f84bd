"""The app side under a hostile server: the app sees exactly what it would see without wsinspect.

A scripted fake server (Hypothesis writes the script) answers each ``receive()`` with a message in
an order real servers produce only when they misbehave (a second ``websocket.connect``, a
``websocket.receive`` after ``websocket.disconnect``, unknown types, missing keys, wrong-typed
values, non-dict junk, 1-16 MiB and empty payloads, text and bytes both or neither), or raises,
or never answers (the server then cancels the handler, as on shutdown); each ``send()`` returns,
raises (``RuntimeError`` as uvicorn does for a send after close, ``OSError``, a custom error, a
``BaseException``, ``CancelledError``) or never returns. Scopes come with odd or missing keys.
A scripted app receives and sends (a second accept, a send after close, unknown types, junk, huge
payloads), catches or not what it gets, and logs; it writes down everything it observes.

Each script runs twice, bare and wrapped in wsinspect (the middleware with varied configs, or the
Litestar plugin), and the two transcripts must be equal:

* the app gets the very objects the server handed out (identity, not a copy), unchanged (compared
  again after the run), and the very scope;
* every exception the app sees is the server's own object (identity) or, when the app or a
  framework made it, one of the same type and args, with the same ``__context__`` and
  ``__cause__``; no exception is being handled when none would be (``sys.exception()``);
* the server's ``send`` gets the app's very message objects, in the same order;
* the app's log output is the same;
* the ASGI call ends the same way (returns, or raises the same exception), after as many turns of
  the event loop: wsinspect adds no wait of its own.

The same holds when wsinspect itself fails: each piece of the tracker, the recorder, the emitter's
hot path and the watchdog in turn is made to raise, and wsinspect's own failure log too.
Afterwards the recorder's snapshot reads, every state is a known one, the frames kept are bounded,
no connection stays open, and when nothing failed the connection ended ``closed``. No inspector is
contacted: the emitter's hot path runs without its thread or socket (see :class:`OfflineEmitter`).

Through Litestar the app without the plugin has a pass-through route middleware in its place: any
route middleware changes what Litestar does when a close fails (see :class:`PassThrough`).
The regression tests at the end pin each bug these properties found.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sys
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any, Literal

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from litestar import Litestar, WebSocket, websocket

from wsinspect import WSInspectConfig, WSInspectMiddleware
from wsinspect.capture import failures as failure_logs
from wsinspect.capture import middleware as middleware_module
from wsinspect.capture import tracker as tracker_module
from wsinspect.capture.emitter import Emitter
from wsinspect.capture.middleware import ControlChannel
from wsinspect.capture.recorder import Recorder
from wsinspect.capture.tracker import ConnectionTracker
from wsinspect.capture.watchdog import Watchdog
from wsinspect.config import MAX_MESSAGE_SIZE
from wsinspect.litestar import WSInspectPlugin
from wsinspect.model import STATES
from wsinspect.wire import encode

MiB = 1024 * 1024
Scope = dict[str, Any]
ASGIApp = Callable[[Scope, Any, Any], Awaitable[None]]

# -- payloads: huge ones are made once, and stand in the scripts as short placeholders ----------


@dataclass(frozen=True)
class Huge:
    """A large payload, built once; Hypothesis shows its name, not its megabytes."""

    name: str
    value: Any = field(repr=False, compare=False)


HUGE_TEXTS = [
    Huge("1 MiB of ASCII", "a" * MiB),
    Huge("16 MiB of ASCII", "w" * (16 * MiB)),
    Huge("3 MiB of non-ASCII", "ünï☃😀" * (MiB // 5 * 3)),
]
HUGE_BYTES = [
    Huge("16 MiB of bytes", bytes(range(256)) * (16 * MiB // 256)),
    Huge("1 MiB bytearray", bytearray(b"\x01") * MiB),
    Huge("2 MiB memoryview of 4-byte items", memoryview(bytes(2 * MiB)).cast("I")),
    Huge("a strided memoryview", memoryview(bytes(2 * MiB)).cast("I")[::2]),
]


def materialize(value: Any) -> Any:
    """``value`` with each Huge placeholder in it replaced by its payload."""
    if isinstance(value, Huge):
        return value.value
    if isinstance(value, dict):
        return type(value)({key: materialize(item) for key, item in value.items()})
    if isinstance(value, list):
        return [materialize(item) for item in value]
    return value


# -- what the server does -----------------------------------------------------------------------


class ServerBug(Exception):
    """An exception of the server's own."""


class ClientDisconnected(OSError):
    """What uvicorn raises from a send to a client that left."""


class ServerAbort(BaseException):
    """Not an Exception, as KeyboardInterrupt or SystemExit are not."""


@dataclass(frozen=True)
class Fail:
    """The call raises a new ``kind(text)``."""

    kind: type[BaseException]
    text: str

    def make(self) -> BaseException:
        return self.kind(self.text)


class Stall:
    """The call never returns: the server cancels the handler's task (a silent client, a stuck link)."""

    def __repr__(self) -> str:
        return "STALL"


STALL = Stall()


@dataclass
class ServerScript:
    """What each ``receive()`` does (return the message, Fail or STALL; past the end: STALL) and
    what each ``send()`` does (return on None, Fail or STALL; past the end: return)."""

    incoming: list[Any]
    sends: list[Fail | Stall | None]


class OddMessage(dict[str, Any]):
    """A message that is a dict, but not exactly one."""


class ScriptedServer:
    """Plays a ServerScript, and notes what it handed out, what it raised and what it was sent."""

    def __init__(self, script: ServerScript) -> None:
        self._incoming = iter(script.incoming)
        self._sends = iter(script.sends)
        self.handed: list[Any] = []
        self.raised: list[BaseException] = []
        self.sent: list[Any] = []
        self.stalled = False
        self.outcome: BaseException | None = None  # what the ASGI call raised, if anything
        self.turns: list[int] = []  # the loop's turns the call took to end or stall, each time (see serve)

    async def receive(self) -> Any:
        action = next(self._incoming, STALL)
        if isinstance(action, Fail | Stall):
            await self._fail(action)
        self.handed.append(action)
        return action

    async def send(self, message: Any) -> None:
        self.sent.append(message)
        action = next(self._sends, None)
        if action is not None:
            await self._fail(action)

    async def _fail(self, action: Fail | Stall) -> None:
        if isinstance(action, Fail):
            error = action.make()
            self.raised.append(error)
            raise error
        self.stalled = True
        try:
            await asyncio.Event().wait()  # until cancelled
        finally:
            self.stalled = False


async def serve(app: ASGIApp, scope: Scope, script: ServerScript) -> ScriptedServer:
    """Run one ASGI call of ``app`` against the script; cancel the call whenever it stalls."""
    server = ScriptedServer(script)

    async def call() -> None:
        try:
            await app(scope, server.receive, server.send)
        except BaseException as exc:
            server.outcome = exc

    async def settle() -> None:
        """Until the call ends or waits on the server for good; notes how many turns of the loop that took
        (the server's calls never wait otherwise, so a wait on anything else shows as more turns)."""
        for turns in range(1000):
            if task.done() or server.stalled:
                server.turns.append(turns)
                return
            await asyncio.sleep(0)
        raise AssertionError("the app waits on something that is not the server")

    task = asyncio.create_task(call())
    # An app may swallow a cancellation and stall again: once per step at most.
    for _ in range(len(script.incoming) + len(script.sends) + 50):
        await settle()
        if task.done():
            break
        task.cancel()
        await asyncio.sleep(0)  # the cancellation lands before we look again
    assert task.done(), "the app went on stalling"
    return server


# -- what the app does --------------------------------------------------------------------------

Catch = Literal["nothing", "exceptions", "everything"]


@dataclass(frozen=True)
class Receive:
    catch: Catch


@dataclass(frozen=True)
class Send:
    message: Any
    catch: Catch


@dataclass(frozen=True)
class Log:
    level: int
    with_traceback: bool


@dataclass
class AppScript:
    steps: list[Receive | Send | Log]
    ending: Literal["return", "raise"]


class HandlerGaveUp(Exception):
    """What the scripted app raises at its end."""


class LogBook(logging.Handler):
    """The app's log output: each record its handlers get goes into the running app's notes."""

    def __init__(self) -> None:
        super().__init__()
        self.seen: list[tuple[Any, ...]] = []

    def emit(self, record: logging.LogRecord) -> None:
        error = record.exc_info[1] if record.exc_info else None
        self.seen.append(("logged", record.levelno, record.getMessage(), error))


# The app's logger: every level reaches capture_logs' hook, and only the log book gets the records.
LOG_BOOK = LogBook()
APP_LOG = logging.getLogger("tests.hostile.app")
APP_LOG.setLevel(logging.DEBUG)
APP_LOG.propagate = False
APP_LOG.addHandler(LOG_BOOK)


async def play(script: AppScript, receive: Any, send: Any, seen: list[tuple[Any, ...]]) -> None:
    """Do what ``script`` says with ``receive`` and ``send``, and note in ``seen`` what happens."""
    seen.append(("handling", sys.exception()))  # no exception is being handled as the app starts
    LOG_BOOK.seen = seen
    for step in script.steps:
        seen.append(("handling", sys.exception()))
        try:
            if isinstance(step, Receive):
                seen.append(("received", await receive()))
            elif isinstance(step, Send):
                seen.append(("sent", await send(step.message)))
            else:
                APP_LOG.log(step.level, "step %s", step, exc_info=step.with_traceback)
        except BaseException as exc:
            seen.append(("raised", exc, exc.__context__, exc.__cause__, exc.__suppress_context__))
            caught = step.catch == "everything" or (step.catch == "exceptions" and isinstance(exc, Exception))
            if not caught or isinstance(step, Log):
                raise
    if script.ending == "raise":
        raise HandlerGaveUp("the handler gave up")


def scripted_app(script: AppScript, seen: list[tuple[Any, ...]]) -> ASGIApp:
    """A raw ASGI app that plays ``script``; it notes the scope it got too."""

    async def app(scope: Scope, receive: Any, send: Any) -> None:
        seen.append(("scope", scope))
        await play(script, receive, send, seen)

    return app


# -- the transcript: what the app saw, with the server's objects named by their place ------------


def fingerprint(value: Any) -> Any:
    """A comparable picture of ``value``'s contents now (str and bytes as themselves: no copy)."""
    if value is None or type(value) in (str, bytes, int, bool):
        return value
    if isinstance(value, dict):
        return (type(value).__name__, [(fingerprint(k), fingerprint(v)) for k, v in value.items()])
    if isinstance(value, list | tuple):
        return (type(value).__name__, [fingerprint(item) for item in value])
    if isinstance(value, bytearray):
        return ("bytearray", bytes(value))
    if isinstance(value, memoryview):
        return ("memoryview", value.format, value.shape, value.tobytes())
    return ("object", type(value).__qualname__, id(value))  # the scripts share these between runs


def place(value: Any, among: list[Any]) -> int | None:
    """The index of the very object ``value`` in ``among``."""
    return next((i for i, item in enumerate(among) if item is value), None)


def transcript(seen: list[tuple[Any, ...]], server: ScriptedServer, scope: Scope, app: AppScript) -> dict[str, Any]:
    """What the app and the server saw, comparable between two runs of the same scripts."""

    def error(exc: BaseException | None) -> Any:
        if exc is None:
            return None
        index = place(exc, server.raised)
        if index is not None:
            return ("the server's", index)
        return (type(exc).__qualname__, fingerprint(exc.args))

    def entry(event: tuple[Any, ...]) -> Any:
        kind, *values = event
        if kind == "received":
            (message,) = values
            index = place(message, server.handed)
            return ("received", index if index is not None else ("a copy", fingerprint(message)))
        if kind == "scope":
            return ("scope", values[0] is scope)
        if kind == "handling":
            return ("handling", error(values[0]))
        if kind == "raised":
            exc, context, cause, suppress = values
            return ("raised", error(exc), error(context), error(cause), suppress)
        if kind == "logged":
            level, text, exc = values
            return ("logged", level, text, error(exc))
        return event

    def sent(message: Any) -> Any:
        index = place(message, sent_by_app)
        return message if index is None else ("the app's", index)  # a framework's own message as it is

    sent_by_app = [step.message for step in app.steps if isinstance(step, Send)]
    return {
        "the app saw": [entry(event) for event in seen],
        "the server was sent": [sent(message) for message in server.sent],
        "the call raised": error(server.outcome),
        "turns of the loop": server.turns,
        # the contents of everything exchanged, after the run: nobody changed them
        "handed out, after": fingerprint(server.handed),
        "sent, after": fingerprint(server.sent),
        "the scope, after": fingerprint(scope),
    }


# -- wsinspect's side ---------------------------------------------------------------------------


class OfflineEmitter(Emitter):
    """The real emitter's hot path, live as if an inspector listened, but with no thread and no
    socket: what the trackers hand it stays in its queue."""

    def __init__(self, recorder: Recorder) -> None:
        super().__init__(Path("/nonexistent/inspector.sock"), recorder.held)
        self.live = True

    def start(self) -> None:
        """Never: nothing connects anywhere."""


def go_offline(recorder: Recorder) -> OfflineEmitter:
    """Give ``recorder`` an OfflineEmitter in place of its own (which would start a thread)."""
    emitter = OfflineEmitter(recorder)
    recorder.emitter = recorder.listener = emitter
    return emitter


class Inspected:
    """Makes the wrapped app of a run (the scripted app in a new middleware) and keeps the middleware."""

    def __init__(self, app: AppScript, config: WSInspectConfig) -> None:
        self.app = app
        self.config = config
        self.middleware: WSInspectMiddleware | None = None
        self.emitter: OfflineEmitter | None = None

    def __call__(self, seen: list[tuple[Any, ...]]) -> ASGIApp:
        self.middleware = WSInspectMiddleware(scripted_app(self.app, seen), self.config)
        self.emitter = go_offline(self.middleware.recorder)
        return self.middleware

    def check(self, *, recorded: bool, ended_cleanly: bool, finish_failed: bool = False) -> None:
        assert self.middleware is not None
        assert self.emitter is not None
        check_recorder(
            self.middleware.recorder,
            self.emitter,
            recorded=recorded,
            ended_cleanly=ended_cleanly,
            finish_failed=finish_failed,
        )


def check_recorder(
    recorder: Recorder,
    emitter: OfflineEmitter,
    *,
    recorded: bool,
    ended_cleanly: bool,
    finish_failed: bool = False,
) -> None:
    """The recorder is left in a sane state: its snapshot reads, states are known, frames bounded,
    no connection stays open once its handler ended; ``closed`` when nothing failed."""
    connections = recorder.connections()
    limit = recorder.config.max_messages
    for conn in connections:
        assert conn.state in STATES
        assert (conn.state == "closed") == (conn.disconnected_at is not None)
        assert len(conn.messages) <= limit
        assert len(conn.logs) <= limit
    if not recorded:
        assert connections == []
    elif ended_cleanly:
        (conn,) = connections
        assert conn.state == "closed"
    if not finish_failed:
        assert not recorder._open, "a connection whose handler ended is still open"
    encode(emitter._messages(list(emitter._queue)))  # what it would stream is valid on the wire


def keep(payload: str | bytes, connection: Any) -> str | bytes | None:
    return payload


def mask(payload: str | bytes, connection: Any) -> str | bytes | None:
    return "[masked]" if isinstance(payload, str) else b"[masked]"


def size_only(payload: str | bytes, connection: Any) -> str | bytes | None:
    return None


def swap_kinds(payload: str | bytes, connection: Any) -> str | bytes | None:
    return payload.encode("utf-8", "surrogatepass") if isinstance(payload, str) else "text now"


def broken_hook(payload: str | bytes, connection: Any) -> str | bytes | None:
    raise ValueError("the redact hook has a bug")


def wrong_type(payload: str | bytes, connection: Any) -> str | bytes | None:
    return 42  # type: ignore[return-value]


configs = st.builds(
    WSInspectConfig,
    max_messages=st.sampled_from([1, 3, 100]),
    max_message_size=st.sampled_from([0, 16, 10_240, MAX_MESSAGE_SIZE]),
    show_binary_preview=st.booleans(),
    redact=st.sampled_from([None, keep, mask, size_only, swap_kinds, broken_hook, wrong_type]),
    capture_logs=st.sampled_from([None, "DEBUG", "WARNING"]),
    exclude_paths=st.sampled_from([(), ("^/elsewhere$",), ("^/ws",)]),
)


@dataclass(frozen=True)
class Sabotage:
    """``owner.name`` raises ``kind`` from its call number ``after + 1`` on."""

    owner: Any
    name: str
    kind: type[Exception]
    after: int

    def __repr__(self) -> str:
        owner = getattr(self.owner, "__name__", self.owner)
        return f"Sabotage({owner}.{self.name}, {self.kind.__name__}, after={self.after})"

    @property
    def stops_finish(self) -> bool:
        """Whether it stops the recorder from moving the connection to the closed ones."""
        return (self.owner, self.name) == (Recorder, "finish")

    @contextlib.contextmanager
    def applied(self) -> Iterator[None]:
        original = getattr(self.owner, self.name)
        calls = 0

        def saboteur(*args: Any, **kwargs: Any) -> Any:
            nonlocal calls
            calls += 1
            if calls > self.after:
                raise self.kind(f"sabotaged {self!r}")
            return original(*args, **kwargs)

        with pytest.MonkeyPatch.context() as patch:
            patch.setattr(self.owner, self.name, saboteur)
            yield


SABOTAGE_TARGETS: list[tuple[Any, str]] = [
    *(
        (ConnectionTracker, name)
        for name in (
            "__init__",
            "receive",
            "send",
            "data",
            "redacted_data",
            "log",
            "handler_returned",
            "handler_failed",
            "handler_cancelled",
            "send_failed",
            "error_raised",
            "_accept",
            "_close",
            "_disconnect",
            "_add",
            "_end",
            "_client_saw",
            "_close_lost",
            "send_waited",
            "_changed",
        )
    ),
    (Recorder, "start"),
    (Recorder, "finish"),
    (Emitter, "frame_recorded"),
    (Emitter, "connection_changed"),
    (Watchdog, "opened"),
    (Watchdog, "closed"),
    *(
        (tracker_module, name)
        for name in ("read_handler", "describe_exception", "traceback_entries", "cut_text", "client_saw")
    ),
    (middleware_module, "server_of"),
]


def target_name(target: tuple[Any, str]) -> str:
    return f"{target[0].__name__}.{target[1]}"


def sabotage(target: tuple[Any, str], kind: type[Exception], after: int) -> Sabotage:
    return Sabotage(*target, kind, after)


failure_kinds = st.sampled_from([RuntimeError, ValueError, KeyError, TypeError, RecursionError, MemoryError])
sabotages = st.builds(sabotage, st.sampled_from(SABOTAGE_TARGETS), failure_kinds, st.integers(0, 4))


class RaisingFilter(logging.Filter):
    """A broken logging setup: every record of the logger it sits on raises."""

    def filter(self, record: logging.LogRecord) -> bool:
        raise RuntimeError("this logger is broken")


@contextlib.contextmanager
def wsinspect_logger_broken() -> Iterator[None]:
    """wsinspect's own failure log fails: every record of the ``wsinspect`` logger raises (its
    level lowered, so that the repeated failures, logged at debug level, reach the filter too)."""
    wsinspect_logger = logging.getLogger("wsinspect")
    broken = RaisingFilter()
    level = wsinspect_logger.level
    wsinspect_logger.addFilter(broken)
    wsinspect_logger.setLevel(logging.DEBUG)
    try:
        yield
    finally:
        wsinspect_logger.removeFilter(broken)
        wsinspect_logger.setLevel(level)


# -- the scripts --------------------------------------------------------------------------------

junk = st.sampled_from([None, 0, -1, 1.5, True, "", "x", b"", b"x", [], (), {}, object(), 10**30])
texts = st.one_of(st.text(max_size=12), st.just(""), st.sampled_from(HUGE_TEXTS))
binaries = st.one_of(st.binary(max_size=12), st.just(b""), st.sampled_from(HUGE_BYTES))
message_types = st.sampled_from(
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
        "lifespan.startup",
        "websocket.ping",
        "",
    ]
)
# Any message type with any known key of any value, and keys nobody knows.
odd_values = {
    "text": st.one_of(texts, junk),
    "bytes": st.one_of(binaries, junk),
    "code": st.one_of(st.integers(-1, 5000), junk),
    "reason": st.one_of(st.text(max_size=8), junk),
    "subprotocol": st.one_of(st.text(max_size=5), junk),
    "headers": st.one_of(st.just([(b"x", b"y")]), junk),
    "status": st.one_of(st.integers(100, 599), junk),
    "body": st.one_of(binaries, junk),
    "more_body": st.one_of(st.booleans(), junk),
}
odd_messages = st.one_of(
    st.fixed_dictionaries({"type": st.one_of(message_types, junk)}, optional=odd_values),
    st.dictionaries(st.text(max_size=5), junk, max_size=3),
    junk,
)


def data_message(kind: str) -> st.SearchStrategy[dict[str, Any]]:
    """``kind`` with text, bytes, both (text None or not) or neither, as ASGI servers do or do not."""
    return st.one_of(
        st.builds(lambda text: {"type": kind, "text": text}, texts),
        st.builds(lambda data: {"type": kind, "bytes": data}, binaries),
        st.builds(lambda data: {"type": kind, "bytes": data, "text": None}, binaries),
        st.builds(lambda text, data: {"type": kind, "text": text, "bytes": data}, texts, binaries),
        st.just({"type": kind}),
        st.builds(lambda text: OddMessage(type=kind, text=text), texts),
    )


client_messages = st.one_of(
    st.just({"type": "websocket.connect"}),
    data_message("websocket.receive"),
    st.fixed_dictionaries(
        {"type": st.just("websocket.disconnect")},
        optional={"code": st.sampled_from([1000, 1001, 1005, 1006, 4000]), "reason": st.text(max_size=8)},
    ),
    odd_messages,
)
app_messages = st.one_of(
    st.fixed_dictionaries(
        {"type": st.just("websocket.accept")}, optional={"subprotocol": st.sampled_from(["chat", None])}
    ),
    data_message("websocket.send"),
    st.fixed_dictionaries(
        {"type": st.just("websocket.close")},
        optional={"code": st.sampled_from([1000, 1008, 4001]), "reason": st.sampled_from(["", "bye", "ü" * 200])},
    ),
    st.just({"type": "websocket.http.response.start", "status": 403, "headers": []}),
    st.fixed_dictionaries({"type": st.just("websocket.http.response.body")}, optional=odd_values),
    odd_messages,
)
failures = st.builds(
    Fail,
    st.sampled_from(
        [
            OSError,
            ConnectionResetError,
            ClientDisconnected,
            RuntimeError,
            ValueError,
            KeyError,
            ServerBug,
            ServerAbort,
            asyncio.CancelledError,
        ]
    ),
    st.sampled_from(
        [
            "",
            "Unexpected ASGI message 'websocket.send', after sending 'websocket.close' or response already completed.",
            "Expected ASGI message 'websocket.connect', but got 'websocket.receive'.",
            "transport closed",
        ]
    ),
)
actions_of_kind = {"message": client_messages, "fail": failures, "stall": st.just(STALL), "return": st.none()}
server_scripts = st.builds(
    ServerScript,
    incoming=st.lists(
        st.sampled_from(["message", "message", "message", "fail", "stall"]).flatmap(actions_of_kind.__getitem__),
        min_size=1,
        max_size=10,
    ),
    sends=st.lists(
        st.sampled_from(["return", "return", "fail", "stall"]).flatmap(actions_of_kind.__getitem__), max_size=8
    ),
)
catches = st.sampled_from(["nothing", "exceptions", "exceptions", "everything", "everything"])  # on most go on
steps_of_kind = {
    "receive": st.builds(Receive, catches),
    "send": st.builds(Send, app_messages, catches),
    "log": st.builds(Log, st.sampled_from([logging.DEBUG, logging.WARNING, logging.ERROR]), st.booleans()),
}
app_scripts = st.builds(
    AppScript,
    steps=st.lists(
        st.sampled_from(["receive", "receive", "send", "send", "log"]).flatmap(steps_of_kind.__getitem__),
        min_size=1,
        max_size=12,
    ),
    ending=st.sampled_from(["return", "raise"]),
)
scope_keys = {
    "query_string": st.one_of(st.just(b"token=secret&room=1"), junk),
    "headers": st.one_of(st.just([(b"cookie", b"c"), (b"host", b"h")]), st.just([("bad",)]), junk),
    "client": st.one_of(st.just(("127.0.0.1", 5000)), junk),
    "subprotocols": st.one_of(st.just(["chat", 5]), junk),
    "extensions": st.one_of(
        st.just({"wsinspect.control": "junk"}), st.builds(lambda: {"wsinspect.control": ControlChannel()}), junk
    ),
    "scheme": junk,
}
scopes = st.one_of(
    st.just({"type": "websocket", "path": "/ws", "headers": [], "query_string": b""}),
    st.fixed_dictionaries({"type": st.just("websocket"), "path": st.just("/ws")}, optional=scope_keys),
    # a path of any type, or none; the type missing, too
    st.fixed_dictionaries(
        {}, optional={"type": st.just("websocket"), "path": st.one_of(st.just("/ws"), junk), **scope_keys}
    ),
)


# -- running both ways --------------------------------------------------------------------------


def recorded(scope: Scope, config: WSInspectConfig) -> bool:
    """Whether the middleware records this connection: a websocket scope whose path is not excluded."""
    path = scope.get("path")
    return scope.get("type") == "websocket" and not config.excludes(path if isinstance(path, str) else "")


async def compare(
    app_script: AppScript,
    server_script: ServerScript,
    scope: Scope,
    bare: Callable[[list[tuple[Any, ...]]], ASGIApp],
    wrapped: Callable[[list[tuple[Any, ...]]], ASGIApp],
    *,
    failing: Callable[[], contextlib.AbstractContextManager[Any]] = contextlib.nullcontext,
) -> None:
    """Run the scripts with ``bare`` and with ``wrapped`` (under ``failing``): the app saw the same."""
    runs = []
    for make, context in ((bare, contextlib.nullcontext), (wrapped, failing)):
        seen: list[tuple[Any, ...]] = []
        run_scope = dict(scope)
        with context():
            server = await serve(make(seen), run_scope, server_script)
        run = transcript(seen, server, run_scope, app_script)
        # The app got the server's own message objects, not copies.
        assert all(type(entry[1]) is int for entry in run["the app saw"] if entry[0] == "received")
        runs.append(run)
    bare_run, wrapped_run = runs
    assert wrapped_run == bare_run
    describe(bare_run)


def describe(run: dict[str, Any]) -> None:
    """What the run was like, for ``pytest --hypothesis-show-statistics``."""
    seen, raised = run["the app saw"], run["the call raised"]
    event(f"the call {'returned' if raised is None else 'raised ' + str(raised[0])}")
    received = sum(entry[0] == "received" for entry in seen)
    event(f"the app received {received} messages, sent {len(run['the server was sent'])}")
    event(f"the app saw {sum(entry[0] == 'raised' for entry in seen)} exceptions")
    exchanged = [run["handed out, after"], run["sent, after"]]
    event(f"a payload of 1 MiB or more exchanged: {largest(exchanged) >= MiB}")


def largest(value: Any) -> int:
    """The size of the largest str or bytes in a fingerprint."""
    if isinstance(value, str | bytes):
        return len(value)
    if isinstance(value, list | tuple):
        return max((largest(item) for item in value), default=0)
    return 0


def scripts_of(app: AppScript, server: ServerScript) -> tuple[AppScript, ServerScript]:
    """The scripts with their huge payloads in place, made once for both runs."""
    steps = [Send(materialize(step.message), step.catch) if isinstance(step, Send) else step for step in app.steps]
    return AppScript(steps, app.ending), ServerScript(materialize(server.incoming), server.sends)


def tracking_failures() -> int:
    """How many times the middleware has swallowed a failure of its own so far."""
    return failure_logs.tracking_failed.count


SETTINGS = settings(
    max_examples=200,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


@settings(SETTINGS, max_examples=300)
@given(app=app_scripts, server=server_scripts, scope=scopes, config=configs)
def test_the_app_sees_the_same_with_and_without_the_middleware(
    app: AppScript, server: ServerScript, scope: Scope, config: WSInspectConfig
) -> None:
    app, server = scripts_of(app, server)
    inspected = Inspected(app, config)
    failures = tracking_failures()
    asyncio.run(compare(app, server, scope, lambda seen: scripted_app(app, seen), inspected))
    inspected.check(recorded=recorded(scope, config), ended_cleanly=tracking_failures() == failures)


@pytest.mark.parametrize("target", SABOTAGE_TARGETS, ids=target_name)
@settings(SETTINGS, max_examples=30)
@given(
    app=app_scripts,
    server=server_scripts,
    config=configs,
    kind=failure_kinds,
    after=st.integers(0, 4),
    logger_broken=st.booleans(),
)
def test_a_failing_wsinspect_never_reaches_the_app(
    target: tuple[Any, str],
    app: AppScript,
    server: ServerScript,
    config: WSInspectConfig,
    kind: type[Exception],
    after: int,
    logger_broken: bool,
) -> None:
    app, server = scripts_of(app, server)
    scope = {"type": "websocket", "path": "/chat", "headers": [], "query_string": b""}  # excluded by no config
    inspected = Inspected(app, config)
    broken = sabotage(target, kind, after)

    @contextlib.contextmanager
    def failing() -> Iterator[None]:
        with broken.applied(), wsinspect_logger_broken() if logger_broken else contextlib.nullcontext():
            yield

    asyncio.run(compare(app, server, scope, lambda seen: scripted_app(app, seen), inspected, failing=failing))
    inspected.check(recorded=True, ended_cleanly=False, finish_failed=broken.stops_finish)


# -- through the Litestar plugin ----------------------------------------------------------------


@websocket("/ws")
async def scripted_handler(socket: WebSocket) -> None:
    """Plays the script the test put in the scope, with Litestar's own receive and send."""
    script, seen = socket.scope["hostile.app"]  # type: ignore[typeddict-item]
    await play(script, socket.receive, socket.send, seen)


LITESTAR_CONFIGS = [
    WSInspectConfig(),
    WSInspectConfig(max_messages=2, max_message_size=8, show_binary_preview=False, redact=mask, capture_logs="DEBUG"),
    WSInspectConfig(max_messages=3, max_message_size=0, redact=broken_hook, capture_logs=None),
]


class PassThrough:
    """A route middleware that does nothing.

    Any route middleware makes Litestar put an exception handler of its own between the handler and
    the middleware (``build_route_middleware_stack``), and the plugin's middleware is one: so when
    the close that answers a handler's exception fails to send, Litestar tries a second close
    from the app's outer exception handler. That is Litestar's doing, not wsinspect's, and any app
    with a route middleware has it anyway: the app without the plugin gets this one in its place,
    so that the two differ by wsinspect alone (see test_litestar_alone_sends_a_second_close...).
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        await self.app(scope, receive, send)


@cache
def litestar_apps(config_index: int) -> tuple[Litestar, Litestar, WSInspectPlugin]:
    """The handler in a Litestar app without and with the plugin (made once: Litestar is slow to build)."""
    plugin = WSInspectPlugin(LITESTAR_CONFIGS[config_index])
    bare = Litestar([scripted_handler], middleware=[PassThrough])
    return bare, Litestar([scripted_handler], plugins=[plugin]), plugin


def through(litestar: Litestar, app: AppScript) -> Callable[[list[tuple[Any, ...]]], ASGIApp]:
    """Runs of ``litestar`` whose handler plays ``app`` (Litestar gets a copy of the scope to fill in)."""

    def make(seen: list[tuple[Any, ...]]) -> ASGIApp:
        async def call(scope: Scope, receive: Any, send: Any) -> None:
            await litestar({**scope, "hostile.app": (app, seen)}, receive, send)

        return call

    return make


@SETTINGS
@given(
    app=app_scripts,
    server=server_scripts,
    config_index=st.sampled_from(range(len(LITESTAR_CONFIGS))),
    sabotage=st.none() | sabotages,
)
def test_the_litestar_handler_sees_the_same_with_and_without_the_plugin(
    app: AppScript, server: ServerScript, config_index: int, sabotage: Sabotage | None
) -> None:
    app, server = scripts_of(app, server)
    bare_app, plugin_app, plugin = litestar_apps(config_index)
    plugin.recorder.clear()
    plugin.recorder._open.clear()  # what an earlier example's sabotaged finish left
    emitter = go_offline(plugin.recorder)
    scope = {"type": "websocket", "path": "/ws", "headers": [], "query_string": b"", "asgi": {"version": "3.0"}}
    failures = tracking_failures()
    failing = sabotage.applied if sabotage is not None else contextlib.nullcontext
    asyncio.run(compare(app, server, scope, through(bare_app, app), through(plugin_app, app), failing=failing))
    check_recorder(
        plugin.recorder,
        emitter,
        recorded=True,
        ended_cleanly=sabotage is None and tracking_failures() == failures,
        finish_failed=sabotage is not None and sabotage.stops_finish,
    )


# -- regressions: what the properties found ------------------------------------------------------


def plain_scope(path: str = "/ws") -> Scope:
    return {"type": "websocket", "path": path, "headers": [], "query_string": b""}


def broken(*args: Any, **kwargs: Any) -> Any:
    """A piece of wsinspect with a bug."""
    raise RuntimeError("a wsinspect bug")


async def test_a_scope_without_a_type_reaches_the_app_untouched() -> None:
    calls: list[tuple[Any, ...]] = []

    async def app(scope: Scope, receive: Any, send: Any) -> None:
        calls.append((scope, receive, send))

    middleware = WSInspectMiddleware(app)
    server = ScriptedServer(ServerScript([], []))
    scope: Scope = {"path": "/ws"}  # was: KeyError('type') from the middleware, and the app never ran
    await middleware(scope, server.receive, server.send)
    assert calls == [(scope, server.receive, server.send)]
    assert middleware.recorder.connections() == []


@pytest.mark.parametrize("path", [None, b"/internal/x", 5])
async def test_a_path_that_is_not_a_str_passes_the_exclusion_check(path: Any) -> None:
    seen: list[tuple[Any, ...]] = []
    middleware = WSInspectMiddleware(
        scripted_app(AppScript([], "return"), seen), WSInspectConfig(exclude_paths=("^/internal/",))
    )
    go_offline(middleware.recorder)
    server = ScriptedServer(ServerScript([], []))
    # was: TypeError from re.search, raised to the server before the app ran
    await middleware({"type": "websocket", "path": path}, server.receive, server.send)
    assert seen[0][0] == "scope"
    (conn,) = middleware.recorder.connections()
    assert conn.path == ""


async def test_the_app_does_not_run_inside_wsinspects_own_failure(monkeypatch: pytest.MonkeyPatch) -> None:
    """A tracker that cannot start: the app runs untracked, and not inside the except block that
    caught the failure (where it would see it as the exception being handled)."""
    monkeypatch.setattr(ConnectionTracker, "__init__", broken)
    handling: list[BaseException | None] = []

    async def app(scope: Scope, receive: Any, send: Any) -> None:
        handling.append(sys.exception())
        raise ValueError("the handler failed")

    server = ScriptedServer(ServerScript([], []))
    with pytest.raises(ValueError, match="the handler failed") as raised:
        await WSInspectMiddleware(app)(plain_scope(), server.receive, server.send)
    assert handling == [None]  # was: the tracker's RuntimeError
    assert raised.value.__context__ is None  # was: the tracker's RuntimeError too


async def test_a_failure_log_that_raises_never_reaches_the_app(monkeypatch: pytest.MonkeyPatch) -> None:
    """The app's logging setup breaks on wsinspect's logger while wsinspect logs its own failure."""
    monkeypatch.setattr(ConnectionTracker, "receive", broken)
    connect = {"type": "websocket.connect"}
    seen: list[tuple[Any, ...]] = []
    middleware = WSInspectMiddleware(scripted_app(AppScript([Receive("nothing")], "return"), seen))
    go_offline(middleware.recorder)
    server = ScriptedServer(ServerScript([connect], []))
    with wsinspect_logger_broken():
        await middleware(plain_scope(), server.receive, server.send)
    assert seen[-1] == ("received", connect)  # was: RuntimeError("this logger is broken") in its place


async def test_a_start_that_fails_halfway_leaves_no_open_connection(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(Watchdog, "opened", broken)
    middleware = WSInspectMiddleware(scripted_app(AppScript([], "return"), []))
    go_offline(middleware.recorder)
    server = ScriptedServer(ServerScript([], []))
    await middleware(plain_scope(), server.receive, server.send)
    assert middleware.recorder.connections() == []  # was: one "connecting" forever, never finished


@websocket("/fails")
async def failing_handler(socket: WebSocket) -> None:
    await socket.accept()
    raise ValueError("kaboom")


async def test_the_plugin_adds_no_thread_hop_to_a_failing_handler() -> None:
    """Litestar runs a sync after_exception hook in a worker thread: the plugin's hook is a coroutine
    function, so Litestar's close follows the handler's exception at once, on the event loop."""
    plugin = WSInspectPlugin()
    emitter = go_offline(plugin.recorder)
    app = Litestar([failing_handler], plugins=[plugin])
    server = ScriptedServer(ServerScript([{"type": "websocket.connect"}], []))
    task = asyncio.create_task(app(plain_scope("/fails"), server.receive, server.send))
    await asyncio.sleep(0)
    assert task.done()  # was: waiting on the worker thread that ran the hook
    assert [message["type"] for message in server.sent] == ["websocket.accept", "websocket.close"]
    (conn,) = plugin.recorder.connections()
    assert (conn.state, conn.close_code, conn.error) == ("closed", 4500, "ValueError: kaboom")
    assert emitter._queue  # streamed, too


@pytest.mark.parametrize(
    ("route_middleware", "closes", "outcome"),
    [([], 1, "the send's OSError"), ([PassThrough], 2, "returned")],
    ids=["no route middleware", "a pass-through"],
)
async def test_litestar_alone_sends_a_second_close_when_the_first_fails(
    route_middleware: list[Any], closes: int, outcome: str
) -> None:
    """Why the Litestar property's app without the plugin has a route middleware (see PassThrough):
    with one, and no wsinspect at all, Litestar answers a close that failed with a second close."""
    app = Litestar([failing_handler], middleware=route_middleware)
    script = ServerScript([{"type": "websocket.connect"}], [None, Fail(OSError, "gone")])
    server = await serve(app, plain_scope("/fails"), script)
    assert [message["type"] for message in server.sent] == ["websocket.accept", *["websocket.close"] * closes]
    assert ("returned" if server.outcome is None else "the send's OSError") == outcome
    assert server.outcome is None or server.outcome is server.raised[0]
