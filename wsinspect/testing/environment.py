"""``WSINSPECT_SOCKET`` for the server processes tests start: the plugin's socket, unless the user
set one (then their inspector gets those processes' traffic, and the plugin only this process's).

The plugin marks the value as its own in :data:`PLUGIN_SOCKET`: a pytest run inside a test of
another (pytester, a subprocess) then knows the value is no user's, and sets its own.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Final

from ..paths import SOCKET_ENV_VAR

__all__ = ("PLUGIN_SOCKET", "set_by_user", "use_socket")

PLUGIN_SOCKET: Final = "WSINSPECT_PYTEST_SOCKET"


def set_by_user() -> bool:
    """Whether ``WSINSPECT_SOCKET`` holds a value that no wsinspect pytest plugin set."""
    value = os.environ.get(SOCKET_ENV_VAR, "")
    return bool(value) and value != os.environ.get(PLUGIN_SOCKET)


def use_socket(path: Path) -> Callable[[], None]:
    """Point ``WSINSPECT_SOCKET`` at ``path``; returns what puts it back as it was."""
    before = {name: os.environ.get(name) for name in (SOCKET_ENV_VAR, PLUGIN_SOCKET)}
    os.environ[SOCKET_ENV_VAR] = os.environ[PLUGIN_SOCKET] = str(path)

    def restore() -> None:
        for name, value in before.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value

    return restore
