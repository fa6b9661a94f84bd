"""The handler of each connection: its name, where it is defined, its route, path parameters, guards.

Against a real uvicorn server (in a thread of this process) and a real ``websockets`` client:
a Litestar app (the plugin, and the app-level middleware that sees the scope before routing), a
Starlette-style app (``endpoint`` and ``route`` in the scope), a scope that says nothing, and a
handler object that raises when read.
"""

from __future__ import annotations

import asyncio
import functools
import inspect
from collections.abc import Iterator, Mapping
from typing import Any

import msgspec
import pytest
from helpers.servers import RunningServer, run_server
from helpers.tui import make_app, text_of
from helpers.waiting import pilot_until, until
from litestar import Litestar, Router, WebSocket, websocket, websocket_listener
from litestar.channels import ChannelsPlugin
from litestar.channels.backends.memory import MemoryChannelsBackend
from litestar.connection import ASGIConnection
from litestar.exceptions import NotAuthorizedException
from litestar.handlers import BaseRouteHandler, WebsocketListener
from textual.geometry import Region
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from wsinspect import Connection, Recorder, WSInspectMiddleware
from wsinspect.capture.handlers import read_handler
from wsinspect.capture.traces import source_path
from wsinspect.capture.tracker import ConnectionTracker
from wsinspect.config import WSInspectConfig
from wsinspect.inspector.ui.lifecycle import LifecyclePanel, _handler_lines
from wsinspect.litestar import WSInspectPlugin

TIMEOUT = 10.0
HERE = source_path(__file__)  # this file as the app names it: "tests/test_handlers.py" from the checkout


def requires_token(connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler) -> None:
    if connection.query_params.get("token") != "ok":
        raise NotAuthorizedException("no token")


@websocket("/ws/chat/{room:str}/{seat:int}", guards=[requires_token])
async def chat_room(socket: WebSocket[Any, Any, Any]) -> None:
    await socket.accept()
    await socket.send_text(f"{socket.path_params['room']}:{socket.path_params['seat']}")
    await socket.close()


def litestar_app(*plugins: WSInspectPlugin) -> Litestar:
    return Litestar([Router("/api", route_handlers=[chat_room])], plugins=list(plugins))


async def recorded(server: RunningServer, recorder: Recorder, count: int) -> list[Connection]:
    return await until(
        lambda: server.call(recorder.connections),
        lambda connections: len(connections) == count and all(c.state == "closed" for c in connections),
        what=f"{count} closed connection(s)",
    )


def client(url: str) -> Any:
    return connect(url, proxy=None, open_timeout=TIMEOUT, close_timeout=TIMEOUT)


@pytest.fixture(params=["plugin", "middleware"])
def litestar_served(request: pytest.FixtureRequest) -> Iterator[tuple[RunningServer, Recorder]]:
    if request.param == "plugin":
        plugin = WSInspectPlugin()
        app: Any = litestar_app(plugin)
        recorder = plugin.recorder
    else:  # the whole app wrapped: the scope arrives before Litestar routes it
        app = WSInspectMiddleware(litestar_app())
        recorder = app.recorder
    with run_server(app, lifespan="on") as server:
        yield server, recorder


async def test_litestar_records_the_handler_its_route_path_params_and_guards(
    litestar_served: tuple[RunningServer, Recorder],
) -> None:
    server, recorder = litestar_served
    async with client(server.ws_url("/api/ws/chat/lobby/7?token=ok")) as ws:
        assert await ws.recv() == "lobby:7"
        with pytest.raises(ConnectionClosed):
            await ws.recv()
    with pytest.raises(InvalidStatus):  # the guard refuses the upgrade
        async with client(server.ws_url("/api/ws/chat/lobby/8")):
            pass  # pragma: no cover
    accepted, refused = await recorded(server, recorder, 2)
    fn = chat_room.fn
    line = inspect.getsourcelines(fn)[1]
    for connection, seat in ((accepted, "7"), (refused, "8")):
        assert connection.handler == f"{__name__}.chat_room"
        assert connection.handler_location == f"{HERE}:{line}"
        assert connection.route == "/api/ws/chat/{room:str}/{seat:int}"
        assert connection.path_params == {"room": "lobby", "seat": seat}
        assert connection.guards == ["requires_token"]
    assert accepted.messages_sent == 1
    assert refused.denial_status == 403
    # In the session JSON as extra keys, and back.
    data = msgspec.json.decode(msgspec.json.encode(accepted))
    assert data["handler"] == f"{__name__}.chat_room"
    assert data["route"] == "/api/ws/chat/{room:str}/{seat:int}"
    assert data["path_params"] == {"room": "lobby", "seat": "7"}
    assert data["guards"] == ["requires_token"]
    assert msgspec.convert(data, Connection) == accepted


# -- Litestar's listeners and Channels -----------------------------------------------------------


@websocket_listener("/ws/listen")
async def listen(data: dict[str, Any]) -> dict[str, Any]:
    return {"echo": data}


@websocket_listener("/ws/listen-sync")
def listen_sync(data: str) -> str:
    return data.upper()


class Shouting(WebsocketListener):
    path = "/ws/shout"

    async def on_receive(self, data: str) -> str:
        return data.upper()


class LoudShouting(Shouting):  # on_receive is Shouting's, the listener this class
    path = "/ws/shout-louder"


async def talk(server: RunningServer, path: str, message: str) -> str | bytes:
    async with client(server.ws_url(path)) as ws:
        await ws.send(message)
        return await ws.recv()


def where(fn: Any) -> str:
    """``fn``'s file (as the app names it) and the line it is defined on (its first decorator's)."""
    return f"{HERE}:{inspect.getsourcelines(fn)[1]}"


async def test_listeners_are_named_by_the_apps_function_or_class() -> None:
    """``@websocket_listener`` functions (async and sync) and class-based ``WebsocketListener``s:
    the user's function, or the listener class and its ``on_receive``, not Litestar's wrapper."""
    plugin = WSInspectPlugin()
    app = Litestar([listen, listen_sync, Shouting, LoudShouting], plugins=[plugin])
    with run_server(app, lifespan="on") as server:
        assert await talk(server, "/ws/listen", '{"a": 1}') == '{"echo":{"a":1}}'
        assert await talk(server, "/ws/listen-sync", "hi") == "HI"
        assert await talk(server, "/ws/shout", "hey") == "HEY"
        assert await talk(server, "/ws/shout-louder", "hoy") == "HOY"
        connections = await recorded(server, plugin.recorder, 4)
    named = {c.path: (c.handler, c.handler_location, c.route) for c in connections}
    assert named == {
        "/ws/listen": (f"{__name__}.listen", where(listen.fn._fn), "/ws/listen"),  # type: ignore[attr-defined]
        "/ws/listen-sync": (f"{__name__}.listen_sync", where(listen_sync.fn._fn.func), "/ws/listen-sync"),  # type: ignore[attr-defined]
        "/ws/shout": (f"{__name__}.Shouting.on_receive", where(Shouting.on_receive), "/ws/shout"),
        "/ws/shout-louder": (f"{__name__}.LoudShouting.on_receive", where(Shouting.on_receive), "/ws/shout-louder"),
    }


@pytest.mark.parametrize("arbitrary", [False, True], ids=["declared-channels", "arbitrary-channels"])
async def test_a_channels_route_is_named_after_litestar_channels_and_its_channel(arbitrary: bool) -> None:
    """A route of ``ChannelsPlugin(create_ws_route_handlers=True)`` runs no function of the app's:
    it is named after the plugin and the channel it serves, declared or a path parameter."""
    channels = ChannelsPlugin(
        backend=MemoryChannelsBackend(history=1),
        channels=None if arbitrary else ["news", "sport.results"],
        arbitrary_channels_allowed=arbitrary,
        create_ws_route_handlers=True,
        ws_handler_base_path="/channels",
        ws_handler_send_history=1,  # a subscriber first gets the message published before it came
    )
    plugin = WSInspectPlugin()
    with run_server(Litestar(plugins=[channels, plugin]), lifespan="on") as server:
        for channel in ("news", "sport.results"):
            published = channels.wait_published(f"on {channel}", channel)
            await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(published, server.loop))
            async with client(server.ws_url(f"/channels/{channel}")) as ws:
                assert await ws.recv() == f"on {channel}"
        news, sport = await recorded(server, plugin.recorder, 2)
    route = "/channels/{channel_name:str}" if arbitrary else None
    assert (news.handler, news.handler_location) == ("Litestar Channels: news", None)
    assert (sport.handler, sport.handler_location) == ("Litestar Channels: sport.results", None)
    assert (news.route, sport.route) == (route or "/channels/news", route or "/channels/sport.results")
    # The table's short name is the whole of it (no qualified name to cut after its last dot).
    app = make_app(connections=[sport])
    async with app.run_test(size=(200, 30)) as pilot:
        expected = "/channels/sport.results  Litestar Channels: sport.results"
        await pilot_until(pilot, lambda: expected in text_of(app.table), "the handler's name in the table")


# -- other ASGI apps ---------------------------------------------------------------------------


class RoutePath:
    """What Starlette's and FastAPI's routes carry: the path template."""

    path = "/ws/rooms/{room}"


async def starlette_style_endpoint(scope: Any, receive: Any, send: Any) -> None:
    assert (await receive())["type"] == "websocket.connect"
    await send({"type": "websocket.accept"})
    while (message := await receive())["type"] == "websocket.receive":
        await send({"type": "websocket.send", "text": message.get("text") or ""})


def routing_app(extra: Mapping[str, Any]) -> Any:
    """A raw ASGI app that routes like Starlette: it puts ``extra`` into the scope, then runs the endpoint."""

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        scope.update(extra)
        await starlette_style_endpoint(scope, receive, send)

    return app


async def echo_once(app: Any, path: str = "/ws/rooms/blue") -> Connection:
    middleware = WSInspectMiddleware(app)
    with run_server(middleware) as server:
        async with client(server.ws_url(path)) as ws:
            await ws.send("ping?")
            assert await ws.recv() == "ping?"
        (connection,) = await recorded(server, middleware.recorder, 1)
    assert connection.messages_received == connection.messages_sent == 1  # recorded as ever
    return connection


async def test_a_starlette_style_scope_records_its_endpoint_route_and_path_params() -> None:
    scope = {"endpoint": starlette_style_endpoint, "route": RoutePath(), "path_params": {"room": "blue"}}
    connection = await echo_once(routing_app(scope))
    line = inspect.getsourcelines(starlette_style_endpoint)[1]
    assert connection.handler == f"{__name__}.starlette_style_endpoint"
    assert connection.handler_location == f"{HERE}:{line}"
    assert connection.route == "/ws/rooms/{room}"
    assert connection.path_params == {"room": "blue"}
    assert connection.guards == []


async def test_a_scope_that_says_nothing_records_nothing_and_fails_nothing() -> None:
    connection = await echo_once(starlette_style_endpoint)
    assert connection.handler is None
    assert connection.handler_location is None
    assert connection.route is None
    assert connection.path_params == {}
    assert connection.guards == []


class Raising:
    """A handler object whose every attribute raises."""

    def __getattr__(self, name: str) -> Any:
        raise RuntimeError(f"no {name} for you")


class RaisingParams(Mapping[str, Any]):
    def __getitem__(self, key: str) -> Any:
        raise RuntimeError("unreadable")

    def __iter__(self) -> Iterator[str]:
        raise RuntimeError("unreadable")

    def __len__(self) -> int:
        return 1


async def test_a_handler_that_raises_when_read_does_not_break_the_connection() -> None:
    scope = {"route_handler": Raising(), "route": Raising(), "path_params": RaisingParams()}
    connection = await echo_once(routing_app(scope))
    assert connection.state == "closed"
    assert connection.error is None
    assert connection.handler is None
    assert connection.route is None
    assert connection.path_params == {}
    assert connection.guards == []


def test_what_is_unreadable_is_left_out_and_the_rest_kept() -> None:
    class Handler:
        fn = staticmethod(starlette_style_endpoint)
        paths = Raising()

        def resolve_guards(self) -> list[Any]:
            raise RuntimeError("guards unreadable")

    handler, location, route, params, guards = read_handler(
        {"route_handler": Handler(), "path_template": "/a/{b}", "path_params": {"b": 1}}
    )
    assert handler == f"{__name__}.starlette_style_endpoint"
    assert location == f"{HERE}:{inspect.getsourcelines(starlette_style_endpoint)[1]}"
    assert (route, params, guards) == ("/a/{b}", {"b": "1"}, [])


def test_a_callable_object_is_named_by_its_class_and_a_scope_that_raises_gives_nothing() -> None:
    class Endpoint:
        async def __call__(self, scope: Any, receive: Any, send: Any) -> None: ...

    handler, location, *_ = read_handler({"endpoint": Endpoint()})
    assert handler == f"{__name__}.{Endpoint.__qualname__}"
    assert location is None
    handler, location, *_ = read_handler({"endpoint": functools.partial(starlette_style_endpoint, {})})
    assert handler == f"{__name__}.starlette_style_endpoint"
    assert location == f"{HERE}:{inspect.getsourcelines(starlette_style_endpoint)[1]}"

    class BadScope(dict[str, Any]):
        def get(self, *args: Any) -> Any:
            raise RuntimeError("odd scope")

    assert read_handler(BadScope()) == (None, None, None, {}, [])


def test_the_handler_is_read_once_and_never_per_frame() -> None:
    scope: dict[str, Any] = {"type": "websocket", "path": "/ws/rooms/blue"}
    tracker = ConnectionTracker(scope, WSInspectConfig(), 1.0)
    assert tracker.connection.handler is None
    # The app routes it (Starlette updates the same scope) before the accept.
    scope.update({"endpoint": starlette_style_endpoint, "route": RoutePath(), "path_params": {"room": "blue"}})
    tracker.send({"type": "websocket.accept"}, 2.0)
    assert tracker.connection.handler == f"{__name__}.starlette_style_endpoint"
    assert tracker.connection.route == "/ws/rooms/{room}"
    scope["endpoint"] = Raising()  # found: the scope is no longer read
    tracker.data(0, {"type": "websocket.receive", "text": "hi"}, 3.0)
    tracker.send({"type": "websocket.close", "code": 1000}, 4.0)
    tracker.receive({"type": "websocket.disconnect", "code": 1000}, 5.0)
    assert tracker.connection.handler == f"{__name__}.starlette_style_endpoint"
    assert tracker.connection.state == "closed"


def test_an_old_session_file_loads_without_the_handler_keys() -> None:
    old = {"connection_id": "c", "path": "/ws", "connected_at": 1.0}
    connection = msgspec.convert(old, Connection)
    assert (connection.handler, connection.handler_location, connection.route) == (None, None, None)
    assert connection.path_params == {}
    assert connection.guards == []


# -- the inspector -----------------------------------------------------------------------------


async def test_the_lifecycle_panel_and_the_table_show_the_handler() -> None:
    connection = Connection(
        connection_id="handled",
        path="/ws/chat/lobby",
        query_string="room=1",
        connected_at=1_764_349_990.0,
        accepted_at=1_764_349_990.01,
        state="open",
        handler="chat.handlers.chat_room",
        handler_location="chat/handlers.py:42",
        route="/ws/chat/{room:str}",
        path_params={"room": "lobby"},
        guards=["requires_token"],
    )
    app = make_app(connections=[connection])
    async with app.run_test(size=(250, 60)) as pilot:
        panel = app.query_one(LifecyclePanel)
        expected = (
            "handler chat.handlers.chat_room (chat/handlers.py:42) route /ws/chat/{room:str} guards requires_token"
        )
        await pilot_until(pilot, lambda: expected in _words(_shown(panel)), "the handler line")
        # Its parts wrap under the first, whole, in the panel's width.
        lines = _shown(panel).splitlines()
        assert "│ handler chat.handlers.chat_room (chat/handlers.py:42)" in lines
        assert "│         route /ws/chat/{room:str}" in lines
        assert "│         guards requires_token" in lines
        assert all(len(line) <= panel.outer_size.width for line in lines)
        # The table's path cell ends with the handler's short name.
        await pilot_until(pilot, lambda: "/ws/chat/lobby?room=1  chat_room" in text_of(app.table), "the short name")
    # Wide enough, it is one line.
    assert _handler_lines(connection, 200) == expected


def _words(text: str) -> str:
    """The panel's text with its border and line breaks as single spaces."""
    return " ".join(text.replace("│", " ").split())


def _shown(panel: LifecyclePanel) -> str:
    """The panel as on screen, its border and padding included."""
    width, height = panel.outer_size
    return "\n".join(strip.text.rstrip() for strip in panel.render_lines(Region(0, 0, width, height)))
