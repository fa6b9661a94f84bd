"""A row of the timeline by its code, the byte per row of a store's ``codes`` column that the
filters read instead of the rows (sans-I/O). A frame's code is its wire code (see
:func:`wsinspect.wire.frame_code`); a ◉ event, a ≡ log line and a frame of no connection have
codes of their own."""

from __future__ import annotations

from enum import IntEnum
from typing import Final

from ...model import LogLine, Row, SystemEvent
from ...wire import BINARY, CLOSE, DIRECTIONS, MESSAGE_TYPES, PING, PONG, SENT, TEXT, frame_code

__all__ = ("CODE_SQL", "FRAME_CODES", "RowCode", "carries_bytes", "code_of", "direction_of", "is_row_code", "kind_of")


class RowCode(IntEnum):
    TEXT_RECEIVED = TEXT
    TEXT_SENT = TEXT + SENT
    BINARY_RECEIVED = BINARY
    BINARY_SENT = BINARY + SENT
    PING_RECEIVED = PING
    PING_SENT = PING + SENT
    PONG_RECEIVED = PONG
    PONG_SENT = PONG + SENT
    CLOSE_RECEIVED = CLOSE
    CLOSE_SENT = CLOSE + SENT
    EVENT = 10  # a ◉ row: the lifecycle of a connection, or the inspector's own news
    LOG = 11  # a ≡ row: what a handler logged
    # Plus a frame's code: a frame of no connection (the stores make none, but a Row can say so);
    # the filters treat it as they treat events.
    ORPHAN = 16


FRAME_CODES: Final = range(2 * len(MESSAGE_TYPES))  # every frame's code: 2 * its type's index, + 1 when sent

# A frame's code computed by SQLite from a frames table's columns (see wsinspect.sessions.sqlite).
CODE_SQL: Final = (
    "(CASE message_type "
    + " ".join(f"WHEN '{name}' THEN {2 * n}" for n, name in enumerate(MESSAGE_TYPES))
    + " END) + (direction = 'sent')"
)


def code_of(row: Row) -> int:
    """What a store's ``codes`` holds for a row."""
    connection_id, item = row
    if isinstance(item, SystemEvent):
        return RowCode.EVENT
    if isinstance(item, LogLine):
        return RowCode.LOG
    code = frame_code(item.direction, item.message_type)
    return code if connection_id is not None else RowCode.ORPHAN + code


def _frame_part(code: int) -> int | None:
    """The frame code within a code (of a frame of a connection or of none); None for the others."""
    if code in FRAME_CODES:
        return code
    if code - RowCode.ORPHAN in FRAME_CODES:
        return code - RowCode.ORPHAN
    return None


def is_row_code(code: int) -> bool:
    return _frame_part(code) is not None or code in (RowCode.EVENT, RowCode.LOG)


def kind_of(code: int) -> str | None:
    """A frame code's message type ("text"...); None for events and log lines."""
    frame = _frame_part(code)
    return MESSAGE_TYPES[frame >> 1] if frame is not None else None


def direction_of(code: int) -> str | None:
    """A frame code's direction ("sent" or "received"); None for events and log lines."""
    frame = _frame_part(code)
    return DIRECTIONS[frame & SENT] if frame is not None else None


def carries_bytes(code: int) -> bool:
    """Whether a row's payload is bytes: a binary, ping or pong frame (of a connection or of none)."""
    return kind_of(code) in ("binary", "ping", "pong")
