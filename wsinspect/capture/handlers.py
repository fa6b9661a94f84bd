"""Who handles a connection, read from its ``websocket`` scope: the handler's qualified name and
``file.py:line``, the route's path template, the path parameters and the guards' names.

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

__all__ = ("HandlerInfo", "read_handler")


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


def _function(fn: Any) -> tuple[str | None, str | None]:
    """A callable's ``module.qualname`` and ``path/of/module.py:line``."""
    fn = unwrap(fn)
    while isinstance(fn, partial):  # the function a partial calls names it
        fn = unwrap(fn.func)
    module = getattr(fn, "__module__", None)
    qualname = getattr(fn, "__qualname__", None)
    if not isinstance(qualname, str):  # an instance with __call__: its class names it
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
