"""Who handles a connection, read from its ``websocket`` scope: the handler's qualified name and
``file.py:line``, the route's path template, the path parameters and the guards' names.

The handler is the app's own function: a Litestar ``@websocket_listener``'s (not Litestar's
wrapper of it), a class-based ``WebsocketListener``'s ``on_receive`` named by its class. A route
that Litestar's Channels plugin made has no function of the app's: it is named "Litestar
Channels: <channel>", with no location.

Read when a tracker starts and whenever the connection's record changes until found (see
:mod:`.tracker`); never per frame, and it never raises.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from functools import partial
from inspect import unwrap
from typing import Any, Final, NamedTuple

from .failures import read_failed
from .traces import is_app_file, source_path

__all__ = ("CHANNELS", "HandlerInfo", "read_handler")


class HandlerInfo(NamedTuple):
    handler: str | None  # module.qualname
    location: str | None  # path/of/module.py:line, relative to the app's working directory when under it
    route: str | None  # the route's path template, with the parameters' types
    params: dict[str, str]
    guards: list[str]


def read_handler(scope: Mapping[str, Any]) -> HandlerInfo:
    """The handler of a ``websocket`` scope: its qualified name, ``file.py:line``, the route's path
    template, the path parameters and the guards' names. What the scope does not say is None or
    empty, and nothing here raises: a part that fails to read is left out (and logged).

    Litestar puts ``route_handler`` (with ``fn`` and its guards), ``path_template`` and
    ``path_params`` in the scope; Starlette and FastAPI ``endpoint``, ``route`` (with ``path``) and
    ``path_params``.
    """
    handler = location = route = None
    params: dict[str, str] = {}
    guards: list[str] = []
    try:
        route_handler = scope.get("route_handler")
        endpoint = scope.get("endpoint")
    except Exception:
        read_failed()
        return HandlerInfo(handler, location, route, params, guards)
    try:
        fn = getattr(route_handler, "fn", None) if route_handler is not None else endpoint
        fn = getattr(fn, "value", fn) if fn is not None and not callable(fn) else fn  # older Litestar: a Ref
        if fn is not None:
            fn = _users(fn)
            channel = _channels_route(fn, scope)
            if channel is not None:  # Litestar's own handler of a channel: the channel says more
                handler = f"{CHANNELS}: {channel}" if channel else CHANNELS
            else:
                handler, location = _function(fn)
    except Exception:
        read_failed()
    try:
        template = scope.get("path_template")
        if not isinstance(template, str):
            template = getattr(scope.get("route"), "path", None)
        paths = getattr(route_handler, "paths", None) if route_handler is not None else None
        paths = list(paths) if isinstance(paths, (set, frozenset, list, tuple)) else []
        if isinstance(template, str):
            route = _typed(template, paths)
        elif len(paths) == 1 and isinstance(paths[0], str):
            route = paths[0]
    except Exception:
        read_failed()
    try:
        values = scope.get("path_params")
        if isinstance(values, Mapping):
            params = {str(name): str(value) for name, value in values.items()}
    except Exception:
        read_failed()
    try:
        if route_handler is not None:
            resolve = getattr(route_handler, "resolve_guards", None)
            layers = resolve() if callable(resolve) else getattr(route_handler, "guards", None)
            guards = [_name(guard) for guard in layers or ()]
    except Exception:
        read_failed()
    return HandlerInfo(handler, location, route, params, guards)


# Litestar's wrappers of the app's function, by class name (so that nothing here imports Litestar):
# a ``@websocket_listener``'s route handler calls a ``ListenerHandler`` that holds the app's
# function (or a class-based ``WebsocketListener``'s bound ``on_receive``) in ``_fn``, wrapped in
# an ``AsyncCallable`` (``func``) when it is synchronous.
_WRAPPERS: Final = {"ListenerHandler": "_fn", "AsyncCallable": "func"}
# What names a route that Litestar's ``ChannelsPlugin(create_ws_route_handlers=True)`` made.
CHANNELS: Final = "Litestar Channels"


def _users(fn: Any) -> Any:
    """The app's own function behind Litestar's wrappers of it (``fn`` itself when there are none)."""
    for _ in range(len(_WRAPPERS)):
        kind = type(fn)
        attribute = _WRAPPERS.get(kind.__name__)
        if attribute is None or not kind.__module__.startswith("litestar."):
            break
        fn = getattr(fn, attribute)
    return fn


def _channels_route(fn: Any, scope: Mapping[str, Any]) -> str | None:
    """The channel a Litestar Channels route serves ("" when it cannot be told); None for any other
    handler. The plugin's handler of declared channels holds its channel in a closure; with
    ``arbitrary_channels_allowed`` it is the route's path parameter ``channel_name``."""
    if not str(getattr(fn, "__module__", "")).startswith("litestar.channels"):
        return None
    code = getattr(fn, "__code__", None)
    cells = getattr(fn, "__closure__", None)
    if code is not None and cells and "channel_name" in code.co_freevars:
        channel = cells[code.co_freevars.index("channel_name")].cell_contents
    else:
        params = scope.get("path_params")
        channel = params.get("channel_name") if isinstance(params, Mapping) else None
    return str(channel) if channel is not None else ""


def _function(fn: Any) -> tuple[str | None, str | None]:
    """A callable's ``module.qualname`` and ``path/of/module.py:line``."""
    fn = unwrap(fn)
    while isinstance(fn, partial):  # the function a partial calls names it
        fn = unwrap(fn.func)
    module = getattr(fn, "__module__", None)
    qualname = getattr(fn, "__qualname__", None)
    owner = getattr(fn, "__self__", None)
    if owner is not None and not isinstance(owner, type) and isinstance(getattr(fn, "__name__", None), str):
        # A bound method (a class-based listener's on_receive): the instance's class names it, even
        # when the method is a base class's.
        qualname = f"{type(owner).__qualname__}.{fn.__name__}"
        module = type(owner).__module__
    elif not isinstance(qualname, str):  # an instance with __call__: its class names it
        qualname = type(fn).__qualname__
        module = type(fn).__module__
    name = f"{module}.{qualname}" if isinstance(module, str) and module != "__main__" else qualname
    code = getattr(getattr(fn, "__func__", fn), "__code__", None)
    if code is None:
        return name, None
    filename = code.co_filename
    if is_app_file(filename):  # relative to the app's working directory when under it, else absolute
        return name, f"{source_path(filename)}:{code.co_firstlineno}"
    # An installed package's: the file as its module names it ("strawberry/litestar/controller.py").
    parts = filename.replace(os.sep, "/").split("/")
    depth = module.count(".") + 1 if isinstance(module, str) and module != "__main__" else 1
    if parts[-1] == "__init__.py":
        depth += 1
    return name, f"{'/'.join(parts[-depth:])}:{code.co_firstlineno}"


def _typed(template: str, paths: list[Any]) -> str:
    """Litestar's ``path_template`` with the parameters' types of the handler's own path put back:
    "/api/ws/{room}" and the handler's "/ws/{room:str}" give "/api/ws/{room:str}"."""
    for path in paths:
        if isinstance(path, str):
            plain = _PARAMETER.sub(r"{\1}", path)
            if plain != path and template.endswith(plain):
                return template[: len(template) - len(plain)] + path
    return template


_PARAMETER: Final = re.compile(r"\{(\w+):[^}]*\}")


def _name(guard: Any) -> str:
    """A guard's name; Litestar wraps them (``AsyncCallable``, like ``functools.partial``, has ``func``)."""
    name = getattr(guard, "__name__", None)
    if not isinstance(name, str):
        name = getattr(getattr(guard, "func", None), "__name__", None)
    return name if isinstance(name, str) else type(guard).__name__
