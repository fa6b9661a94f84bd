"""Configuration of the app side (the middleware and the plugin)."""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .model import Connection

__all__ = ("DEFAULT_REDACTED_HEADERS", "DEFAULT_REDACTED_QUERY_PARAMS", "WSInspectConfig")

DEFAULT_REDACTED_HEADERS: frozenset[str] = frozenset(
    {"authorization", "proxy-authorization", "cookie", "set-cookie", "x-api-key", "x-auth-token"}
)

# Query parameters that carry credentials: a browser cannot set headers on a WebSocket, so tokens
# often travel in the URL.
DEFAULT_REDACTED_QUERY_PARAMS: frozenset[str] = frozenset(
    {
        "token", "access_token", "refresh_token", "id_token", "jwt", "api_key", "apikey", "key",
        "password", "secret", "client_secret", "auth",
    }
)  # fmt: skip

# Each frame travels to the inspector as one message, which the inspector caps at 16 MiB.
MAX_MESSAGE_SIZE = 8 * 1024 * 1024

_FALSE_WORDS = frozenset({"0", "false", "no", "off"})


@dataclass(frozen=True, kw_only=True)
class WSInspectConfig:
    """What the middleware records and where it sends it. Every field is optional."""

    enabled: bool = True
    """Off: the middleware passes everything through untouched (env ``WSINSPECT_ENABLED=0`` too)."""
    socket_path: str | None = None
    """Where the inspector listens. ``None``: env ``WSINSPECT_SOCKET``, else the per-user default."""
    max_messages: int = 100
    """Frames kept per connection (newest kept, older counted as dropped)."""
    max_message_size: int = 10240
    """Payload bytes kept per frame; longer payloads are truncated."""
    show_binary_preview: bool = True
    """``False``: binary payloads are recorded by size only; no bytes leave the app."""
    exclude_paths: tuple[str, ...] = ()
    """Regular expressions; a connection whose path matches one (``re.search``) is not recorded."""
    redact_headers: frozenset[str] = DEFAULT_REDACTED_HEADERS
    """Request header names (any case) whose values are recorded as ``[redacted]``."""
    redact_query_params: frozenset[str] = DEFAULT_REDACTED_QUERY_PARAMS
    """Query-string parameter names (any case) whose values are recorded as ``[redacted]``."""
    redact: Callable[[str | bytes, Connection], str | bytes | None] | None = None
    """Called in the app with each frame's payload (text or bytes) and its connection, before
    anything is queued; returns what to record in the payload's place: the payload itself, a
    replacement, or ``None`` to record the frame's size only. A hook that raises records size only."""
    app_name: str | None = None
    """A name for this app in the inspector when several processes feed it."""
    capture_logs: str | int | None = "INFO"
    """Log records of this level and above, emitted while a connection's handler runs, become rows
    of that connection (a level name or number); ``None``: none. Only records the app's loggers
    emit anyway: no level is changed, and the app's own log output stays as it is."""
    loop_block_ms: float | None = 100
    """Event-loop holds at least this long (milliseconds) are recorded with the stack that held the
    loop, on the connection whose handler held it (or the app's); ``None``: not watched."""
    _exclude: re.Pattern[str] | None = field(init=False, repr=False, compare=False, default=None)
    log_level: int | None = field(init=False, repr=False, compare=False, default=None)
    """``capture_logs`` as a level number (None: off)."""

    def __post_init__(self) -> None:
        if self.max_messages < 1:
            raise ValueError(f"max_messages must be at least 1, got {self.max_messages}")
        if not 0 <= self.max_message_size <= MAX_MESSAGE_SIZE:
            raise ValueError(
                f"max_message_size must be from 0 to {MAX_MESSAGE_SIZE} (8 MiB), got {self.max_message_size}"
            )
        block = self.loop_block_ms
        if block is not None and (isinstance(block, bool) or not isinstance(block, (int, float)) or not block > 0):
            raise ValueError(f"loop_block_ms must be a number of milliseconds above 0, or None, got {block!r}")
        if isinstance(self.exclude_paths, str):
            raise TypeError("exclude_paths takes a tuple of patterns, not one string")
        try:
            pattern = re.compile("|".join(f"(?:{p})" for p in self.exclude_paths)) if self.exclude_paths else None
        except re.error as exc:
            raise ValueError(f"exclude_paths has an invalid regular expression: {exc}") from None
        object.__setattr__(self, "_exclude", pattern)
        object.__setattr__(self, "log_level", _level(self.capture_logs))
        object.__setattr__(self, "redact_headers", _lower(self.redact_headers))
        object.__setattr__(self, "redact_query_params", _lower(self.redact_query_params))

    @property
    def active(self) -> bool:
        """Whether recording is on: the ``enabled`` field and the ``WSINSPECT_ENABLED`` env var."""
        return self.enabled and os.environ.get("WSINSPECT_ENABLED", "1").strip().lower() not in _FALSE_WORDS

    def excludes(self, path: str) -> bool:
        return self._exclude is not None and self._exclude.search(path) is not None


def _level(value: str | int | None) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        raise TypeError(f"capture_logs takes a level name, a number or None, not {value!r}")
    if isinstance(value, int):
        return value
    level = logging.getLevelName(value.strip().upper())
    if not isinstance(level, int):
        raise ValueError(f"capture_logs: unknown log level {value!r} (DEBUG, INFO, WARNING, ERROR, CRITICAL or None)")
    return level


def _lower(names: Iterable[str]) -> frozenset[str]:
    return frozenset(name.lower() for name in names)
