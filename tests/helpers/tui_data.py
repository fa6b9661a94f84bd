"""Deterministic sessions for the inspector's UI tests: fixed ids, fixed timestamps, every
connection closed (so no duration on screen depends on the clock)."""

from __future__ import annotations

import struct

from wsinspect.model import AppLoopBlock, Connection, Frame, HandlerState, LogLine, LoopBlock, TracebackEntry

from .factories import binary_frame, close_frame, control_frame, text_frame

__all__ = (
    "BASE",
    "BINARY_TRUNCATED_KEPT",
    "BINARY_TRUNCATED_SIZE",
    "CHAT_ID",
    "CLOSED_ID",
    "DENIED_ID",
    "FAILED_ID",
    "HANDLERS_AT",
    "TICKER_ID",
    "make_app_loop_blocks",
    "make_connections",
    "make_endings",
    "make_handler_connections",
    "tick",
)

BASE = 1764349990.0  # 2025-11-28 17:13:10 UTC
CHAT_ID = "0b6f5c1e-7a2d-4c1b-9e3f-000000000001"
TICKER_ID = "0b6f5c1e-7a2d-4c1b-9e3f-000000000002"
CLOSED_ID = "0b6f5c1e-7a2d-4c1b-9e3f-000000000003"
DENIED_ID = "0b6f5c1e-7a2d-4c1b-9e3f-000000000004"
FAILED_ID = "0b6f5c1e-7a2d-4c1b-9e3f-000000000005"
FEED_ID = "0b6f5c1e-7a2d-4c1b-9e3f-000000000006"
SLOW_ID = "0b6f5c1e-7a2d-4c1b-9e3f-000000000007"
RESTARTED_ID = "0b6f5c1e-7a2d-4c1b-9e3f-000000000008"
BROKEN_ID = "0b6f5c1e-7a2d-4c1b-9e3f-000000000009"
PID = 4242
APP = "chat-app"
BINARY_TRUNCATED_SIZE = 20 * 1024
BINARY_TRUNCATED_KEPT = 10240


def tick(seq: int, price: float) -> bytes:
    """One ticker update as the binary feed packs it: symbol id, sequence, price."""
    return struct.pack(">HId", 7, seq, price)


def _counted(connection: Connection) -> Connection:
    """Fill the counts from the data frames, as the app's tracker does (control frames are not counted)."""
    for frame in connection.messages:
        if frame.message_type not in ("text", "binary"):
            continue
        if frame.direction == "sent":
            connection.messages_sent += 1
            connection.bytes_sent += frame.size_bytes
        else:
            connection.messages_received += 1
            connection.bytes_received += frame.size_bytes
    return connection


def _chat() -> Connection:
    t0 = BASE
    frames: list[Frame] = [
        text_frame({"type": "auth", "token": "tok-alice-42"}, direction="received", at=t0 + 0.050),
        text_frame({"type": "welcome", "user": "alice", "room": 1}, direction="sent", at=t0 + 0.061),
        text_frame({"type": "subscribe", "channel": "general"}, direction="received", at=t0 + 0.120),
        text_frame({"type": "subscribed", "channel": "general", "members": 3}, direction="sent", at=t0 + 0.131),
    ]
    at = t0 + 0.500
    for i in range(1, 11):
        frames.append(
            text_frame({"type": "message", "channel": "general", "text": f"hello {i}"}, direction="received", at=at)
        )
        frames.append(
            text_frame(
                {"type": "message", "from": "bob", "channel": "general", "text": f"reply {i}"},
                direction="sent",
                at=at + 0.012,
            )
        )
        at += 0.75
        if i == 4:
            frames.append(control_frame("ping", b"keepalive", direction="sent", at=at))
            frames.append(control_frame("pong", b"keepalive", direction="received", at=at + 0.004))
            at += 0.25
        if i == 8:
            frames.append(control_frame("ping", b"\x00\x01", direction="received", at=at))
            frames.append(control_frame("pong", b"\x00\x01", direction="sent", at=at + 0.001))
            at += 0.25
    frames.append(text_frame({"type": "unsubscribe", "channel": "general"}, direction="received", at=at))
    frames.append(close_frame(1000, "", direction="received", at=at + 0.300))
    end = at + 0.302
    return _counted(
        Connection(
            connection_id=CHAT_ID,
            path="/ws/chat",
            query_string="room=1",
            subprotocol="chat.v1",
            state="closed",
            connected_at=t0,
            accepted_at=t0 + 0.002,
            disconnected_at=end,
            close_code=1000,
            close_reason="",
            closed_by="client",
            client="127.0.0.1:52114",
            headers=[("host", "localhost:8000"), ("authorization", "[redacted]")],
            requested_subprotocols=["chat.v1"],
            pid=PID,
            app=APP,
            messages=frames,
        )
    )


def _ticker() -> Connection:
    t0 = BASE + 1.0
    frames: list[Frame] = [text_frame({"type": "subscribe", "symbols": ["WSI"]}, direction="received", at=t0 + 0.020)]
    price = 101.25
    for seq in range(1, 10):
        frames.append(binary_frame(tick(seq, price), direction="sent", at=t0 + 0.2 * seq))
        price += 0.5 if seq % 2 else -0.25
        if seq == 5:
            # A snapshot of the order book, too large to keep whole: the app kept 10 KB of 20 KB.
            book = bytes(range(256)) * (BINARY_TRUNCATED_KEPT // 256)
            frames.append(
                binary_frame(
                    book, direction="sent", at=t0 + 0.2 * seq + 0.05, size=BINARY_TRUNCATED_SIZE, truncated=True
                )
            )
    frames.append(close_frame(1001, "", direction="received", at=t0 + 2.5))
    return _counted(
        Connection(
            connection_id=TICKER_ID,
            path="/ws/ticker",
            state="closed",
            connected_at=t0,
            accepted_at=t0 + 0.003,
            disconnected_at=t0 + 2.501,
            close_code=1001,
            close_reason="",
            closed_by="client",
            client="127.0.0.1:52118",
            pid=PID,
            app=APP,
            messages=frames,
        )
    )


def _closed_by_app() -> Connection:
    t0 = BASE + 2.0
    frames = [
        text_frame({"type": "hello", "client": "dashboard"}, direction="received", at=t0 + 0.010),
        text_frame({"type": "notice", "text": "maintenance in 5 minutes"}, direction="sent", at=t0 + 0.020),
        text_frame("bye", direction="received", at=t0 + 1.500),
        close_frame(4001, "bye", direction="sent", at=t0 + 1.510),
    ]
    return _counted(
        Connection(
            connection_id=CLOSED_ID,
            path="/ws/notifications",
            state="closed",
            connected_at=t0,
            accepted_at=t0 + 0.001,
            disconnected_at=t0 + 1.512,
            close_code=4001,
            close_reason="bye",
            closed_by="server",
            client="127.0.0.1:52120",
            pid=PID,
            app=APP,
            messages=frames,
        )
    )


def _denied() -> Connection:
    t0 = BASE + 3.0
    return Connection(
        connection_id=DENIED_ID,
        path="/ws/admin",
        state="closed",
        connected_at=t0,
        disconnected_at=t0 + 0.004,
        close_code=1008,
        close_reason="",
        closed_by="server",
        denial_status=403,
        client="127.0.0.1:52122",
        pid=PID,
        app=APP,
        handler="admin.handlers.admin",
        guards=["requires_token"],
        refused_by="guard requires_token",
        error="NotAuthorizedException: 401: a valid token is required",
        traceback=[
            _library(
                "litestar/middleware/_internal/exceptions/middleware.py", 158, "ExceptionHandlerMiddleware.__call__"
            ),
            _library("litestar/handlers/base.py", 517, "BaseRouteHandler.authorize_connection"),
            TracebackEntry(
                file="/srv/admin/guards.py",
                line=12,
                function="requires_token",
                code='raise NotAuthorizedException("a valid token is required")',
                app=True,
            ),
        ],
    )


def _library(path: str, line: int, function: str) -> TracebackEntry:
    return TracebackEntry(file=f"/srv/.venv/lib/python3.12/site-packages/{path}", line=line, function=function)


def _failed() -> Connection:
    t0 = BASE + 4.0
    frames = [
        text_frame({"type": "query", "sql": "select * from jobs"}, direction="received", at=t0 + 0.030),
        close_frame(4500, "Internal Server Error", direction="sent", at=t0 + 0.250),
    ]
    frames[0].handler_time = 0.220  # until the close its exception caused
    traceback = [
        _library("litestar/routes/websocket.py", 85, "WebSocketRoute.handle"),
        TracebackEntry(file="jobs/handlers.py", line=31, function="jobs", code="rows = run(query)", app=True),
        TracebackEntry(
            file="jobs/db.py", line=8, function="run", code='raise ValueError("database is down")', app=True
        ),
    ]
    logs = [
        LogLine(
            timestamp=t0 + 0.031, level="INFO", levelno=20, logger="jobs.db", message="running query", size_bytes=13
        ),
        LogLine(
            timestamp=t0 + 0.249,
            level="WARNING",
            levelno=30,
            logger="jobs.db",
            message="database did not answer in 200 ms",
            size_bytes=34,
        ),
    ]
    return _counted(
        Connection(
            connection_id=FAILED_ID,
            path="/ws/jobs",
            state="closed",
            connected_at=t0,
            accepted_at=t0 + 0.002,
            disconnected_at=t0 + 0.251,
            close_code=4500,
            close_reason="Internal Server Error",
            closed_by="server",
            error="ValueError: database is down",
            traceback=traceback,
            client="127.0.0.1:52124",
            pid=PID,
            app=APP,
            handler="jobs.handlers.jobs",
            logs=logs,
            messages=frames,
        )
    )


def make_connections() -> list[Connection]:
    """Five closed connections, oldest first: chat, ticker, app-closed (4001), denied (403), failed."""
    return [_chat(), _ticker(), _closed_by_app(), _denied(), _failed()]


# -- issue 28: a slow client among fast ones, and what clients saw at the end --------------------


def _feed(connection_id: str, client: str, t0: float, waits: list[float]) -> Connection:
    """A price feed: the app sends a 2.1 KB update every 0.5 s; ``waits``: how long each send waited."""
    frames = [text_frame({"type": "subscribe", "topic": "prices"}, direction="received", at=t0 + 0.01)]
    at = t0 + 0.02
    for n, waited in enumerate(waits):
        at += 0.5 + waited
        frame = text_frame(f'{{"seq": {n}, "prices": "{"x" * 2120}"}}', at=at)
        if waited >= 0.1:
            frame.send_waited = waited
        frames.append(frame)
    frames.append(close_frame(1001, "", direction="received", at=at + 0.1))
    slow = [w for w in waits if w >= 0.1]
    return _counted(
        Connection(
            connection_id=connection_id,
            path="/ws/prices",
            state="closed",
            connected_at=t0,
            accepted_at=t0 + 0.002,
            disconnected_at=at + 0.1,
            close_code=1001,
            close_reason="",
            closed_by="client",
            client=client,
            pid=PID,
            app=APP,
            handler="prices.handlers.feed",
            send_waited_max=max(slow, default=0.0),
            send_waited_total=sum(slow),
            messages=frames,
        )
    )


def make_endings() -> list[Connection]:
    """A fast and a slow client of one feed (the slow one's sends waited up to 2.3 s), a connection
    uvicorn closed as it restarted (1012), and one whose Starlette handler raised after the accept."""
    t0 = BASE + 10.0
    restarted = Connection(
        connection_id=RESTARTED_ID,
        path="/ws/chat",
        state="closed",
        connected_at=t0 + 0.5,
        accepted_at=t0 + 0.501,
        disconnected_at=t0 + 6.0,
        close_code=1012,
        close_reason="",
        closed_by="server",
        client="127.0.0.1:52130",
        pid=PID,
        app=APP,
        client_saw="close 1012 Service Restart, sent by uvicorn as it shut down or reloaded",
        messages=[close_frame(1012, "", direction="received", at=t0 + 6.0)],
    )
    broken = _counted(
        Connection(
            connection_id=BROKEN_ID,
            path="/ws/orders",
            state="closed",
            connected_at=t0 + 1.0,
            accepted_at=t0 + 1.001,
            disconnected_at=t0 + 1.2,
            closed_by="server",
            error="KeyError: 'order_id'",
            client="127.0.0.1:52131",
            pid=PID,
            app=APP,
            handler="orders.place_order",
            client_saw="no close frame, the connection just closed (a browser reports 1006)",
            messages=[text_frame({"type": "place"}, direction="received", at=t0 + 1.1)],
        )
    )
    return [
        _feed(FEED_ID, "127.0.0.1:52128", t0, [0.0, 0.0, 0.0, 0.0, 0.0]),
        _feed(SLOW_ID, "10.0.0.7:40112", t0 + 0.1, [0.0, 0.4, 2.3, 1.2, 0.05]),
        restarted,
        broken,
    ]


# -- what handlers are doing, who blocked the loop (issue 28): a session exported at HANDLERS_AT -----

HANDLERS_AT = BASE + 20.0  # the export's moment: the open connections' durations count to it
SEARCH_ID = "0b6f5c1e-7a2d-4c1b-9e3f-000000000011"
WAITING_ID = "0b6f5c1e-7a2d-4c1b-9e3f-000000000012"
EXPORT_ID = "0b6f5c1e-7a2d-4c1b-9e3f-000000000013"


def _stack(*app: TracebackEntry) -> list[TracebackEntry]:
    """A handler task's stack under uvicorn and Litestar, the app's own frames innermost."""
    return [
        _library("uvicorn/protocols/websockets/websockets_sansio_impl.py", 251, "WebSocketProtocol.run_asgi"),
        _library("litestar/app.py", 604, "Litestar.__call__"),
        _library("litestar/routes/websocket.py", 85, "WebSocketRoute.handle"),
        *app,
    ]


SEARCH_FRAME = TracebackEntry(
    file="search/handlers.py", line=14, function="search", code="hits = await query_index(q)", app=True
)
INDEX_FRAME = TracebackEntry(
    file="search/index.py", line=27, function="query_index", code="rows = scan(text)", app=True
)
SCAN_FRAME = TracebackEntry(
    file="search/index.py", line=41, function="scan", code="return [r for r in ROWS if text in r]", app=True
)


def _open(connection_id: str, path: str, t0: float, state: HandlerState, **fields: object) -> Connection:
    return Connection(
        connection_id=connection_id,
        path=path,
        state="open",
        connected_at=t0,
        accepted_at=t0 + 0.002,
        client="127.0.0.1:52200",
        pid=PID,
        app=APP,
        handler_state=state,
        **fields,  # type: ignore[arg-type]
    )


def make_handler_connections() -> list[Connection]:
    """Three open connections whose handlers have been waiting, working (where: a stack) and sending
    for a while, the working one with a loop block of its own."""
    search = _open(
        SEARCH_ID,
        "/ws/search",
        BASE + 1.0,
        HandlerState(state="working", since=HANDLERS_AT - 3.14, stack=_stack(SEARCH_FRAME, INDEX_FRAME, SCAN_FRAME)),
        handler="search.handlers.search",
        handler_location="search/handlers.py:9",
        loop_blocks=[
            LoopBlock(timestamp=BASE + 6.0, duration=0.42, stack=_stack(SEARCH_FRAME, INDEX_FRAME, SCAN_FRAME))
        ],
        messages=[text_frame({"type": "search", "q": "flow control"}, direction="received", at=BASE + 5.9)],
    )
    feed = _open(WAITING_ID, "/ws/feed", BASE + 2.0, HandlerState(state="receiving", since=HANDLERS_AT - 12.4))
    export = _open(
        EXPORT_ID,
        "/ws/export",
        BASE + 3.0,
        HandlerState(
            state="sending",
            since=HANDLERS_AT - 2.0,
            stack=_stack(
                TracebackEntry(
                    file="export/handlers.py",
                    line=22,
                    function="export",
                    code="await socket.send_bytes(chunk)",
                    app=True,
                )
            ),
        ),
    )
    return [_counted(search), _counted(feed), _counted(export)]


def make_app_loop_blocks() -> list[AppLoopBlock]:
    """A block no handler held: a startup job's, in a task of its own."""
    stack = [
        TracebackEntry(file="/usr/lib/python3.12/asyncio/events.py", line=88, function="Handle._run"),
        TracebackEntry(file="search/warmup.py", line=12, function="warm_cache", code="load_everything()", app=True),
    ]
    return [AppLoopBlock(timestamp=BASE + 4.0, duration=0.18, stack=stack, app=APP, pid=PID)]
