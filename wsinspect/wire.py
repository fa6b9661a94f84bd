"""The wire between app processes (producers) and the inspector: sans-I/O encoding and decoding.

A producer's stream is a sequence of messages, each a 4-byte big-endian length followed by that
many bytes of MessagePack. The first message is a :class:`Hello` carrying the protocol version.
Then come :class:`ConnectionUpdate` (a connection's metadata, which gives it a small number, its
key) and :class:`FrameBatch` (frames of those connections, as compact arrays): the app encodes a
batch of frames in one call, and the inspector decodes it in one. :class:`WireLog` carries a log
record of a connection's handler, :class:`LoopLag` how late the app's event loop runs,
:class:`WireHandlerState` what a handler has been doing for a while, and :class:`WireLoopBlock`
who held the event loop.
"""

from __future__ import annotations

import struct
from typing import Annotated, Any, Final

import msgspec

from .model import Connection, Direction, Frame, HandlerState, LogLine, LoopBlock, MessageType, TracebackEntry

__all__ = (
    "MAX_MESSAGE_BYTES",
    "PROTOCOL_VERSION",
    "ConnectionUpdate",
    "Decoder",
    "FrameBatch",
    "FrameRecord",
    "FramesDropped",
    "Held",
    "Hello",
    "LoopLag",
    "ProtocolError",
    "WireFrame",
    "WireHandlerState",
    "WireLog",
    "WireLoopBlock",
    "WireMessage",
    "encode",
    "frame_code",
    "frames_message",
    "record_to_frame",
)

PROTOCOL_VERSION = 5
# Frames carry at most max_message_size bytes of payload (capped at 8 MiB by the config).
MAX_MESSAGE_BYTES = 16 * 1024 * 1024
_LENGTH = struct.Struct(">I")
_CONTENT_TYPES = (str, bytes, type(None))

# A frame's direction and type travel as one small number: type * 2 + (1 if sent).
MESSAGE_TYPES: Final = ("text", "binary", "ping", "pong", "close")
DIRECTIONS: Final = ("received", "sent")
TEXT, BINARY, PING, PONG, CLOSE = (2 * n for n in range(5))
SENT: Final = 1

# One frame as the app side records it and the wire carries it: a plain tuple, so the app's hot
# path builds it in one step and a batch of them encodes in one msgspec call. Its fields are
# those of WireFrame, in that order.
FrameRecord = tuple[int, int, float, int, Any, int, bool, int | None, float | None, float | None]


def frame_code(direction: Direction, message_type: MessageType) -> int:
    return 2 * MESSAGE_TYPES.index(message_type) + (direction == "sent")


class WireFrame(msgspec.Struct, array_like=True, gc=False):
    """A frame as the inspector decodes it from a FrameRecord."""

    key: int  # the connection, numbered by its producer (see ConnectionUpdate)
    index: int  # numbers the connection's frames from 0, dropped ones included
    timestamp: float
    code: Annotated[int, msgspec.Meta(ge=0, le=9)]
    content: Any  # str for text and close (the reason), bytes for the rest, None when not recorded
    size_bytes: int
    truncated: bool
    close_code: int | None
    # A received message: when the handler asked for it (its receive() was called), which ends the
    # handler's work on the message before (see Frame.handler_time). None for the other frames.
    asked: float | None = None
    # A sent message: seconds its send() waited, when SLOW_SEND or more (Frame.send_waited), else
    # None. Last, with a default: an inspector before it ignores it, and reads producers without it.
    waited: float | None = None

    def to_frame(self) -> Frame:
        code = self.code
        frame = Frame(
            direction=DIRECTIONS[code & 1],
            message_type=MESSAGE_TYPES[code >> 1],
            content=self.content,
            timestamp=self.timestamp,
            size_bytes=self.size_bytes,
            truncated=self.truncated,
            close_code=self.close_code,
        )
        if self.waited is not None:
            frame.send_waited = self.waited
        return frame


def record_to_frame(record: FrameRecord) -> Frame:
    """The model's Frame for a record (for snapshots: never on the hot path)."""
    return WireFrame(*record).to_frame()


class Hello(msgspec.Struct, tag="hello", array_like=True, omit_defaults=True):
    """First message of a producer: who it is, and on which host (several can feed one inspector
    over forwarded sockets)."""

    version: int
    pid: int
    app: str
    host: str = ""
    # The producer's stream, the same over its reconnects: what tells two recorders of one process
    # apart, and a connection streamed over an earlier link from one of another process.
    stream: str = ""


class ConnectionUpdate(msgspec.Struct, tag="conn", array_like=True):
    """A connection's metadata and counts (its ``messages`` list is always empty here).

    ``key`` is how this producer's frames name the connection.
    """

    key: int
    connection: Connection


class FrameBatch(msgspec.Struct, tag="frames", array_like=True):
    """Frames of any of the producer's connections, in the order they were recorded."""

    frames: list[WireFrame]


class WireLog(msgspec.Struct, tag="log", array_like=True, gc=False):
    """A log record of a connection's handler; ``index`` numbers the connection's log lines from 0."""

    key: int
    index: int
    timestamp: float
    levelno: int
    level: str
    logger: str
    message: str
    size_bytes: int
    truncated: bool
    error: str | None
    traceback: list[TracebackEntry]

    def to_line(self) -> LogLine:
        return LogLine(
            timestamp=self.timestamp,
            level=self.level,
            levelno=self.levelno,
            logger=self.logger,
            message=self.message,
            size_bytes=self.size_bytes,
            truncated=self.truncated,
            error=self.error,
            traceback=self.traceback,
        )


class LoopLag(msgspec.Struct, tag="lag", array_like=True):
    """How late the producer's event loop ran timers (seconds) over the last second, while
    connections were open: the worst and the mean. A blocked loop delays every handler."""

    worst: float
    mean: float


class WireHandlerState(msgspec.Struct, tag="state", array_like=True):
    """What a connection's handler has been doing for a second or more; None: that ended (what it
    does now has lasted less)."""

    key: int
    state: HandlerState | None


class WireLoopBlock(msgspec.Struct, tag="block", array_like=True):
    """The producer's event loop was held: by the handler of connection ``key``, or (None) by no
    connection's handler."""

    key: int | None
    block: LoopBlock


class FramesDropped(msgspec.Struct, tag="dropped", array_like=True):
    """The producer's queue overflowed while the inspector was slow: this many events were lost."""

    count: int


class Held(msgspec.Struct, tag="held", array_like=True):
    """Ends each replay: the keys of every connection the producer still holds. Any other of its
    connections that the inspector has open ended while it was not listening or frames were lost."""

    keys: list[int]


WireMessage = (
    Hello | ConnectionUpdate | FrameBatch | FramesDropped | WireLog | LoopLag | WireHandlerState | WireLoopBlock | Held
)

_encoder = msgspec.msgpack.Encoder()
_decoder = msgspec.msgpack.Decoder(WireMessage)


def frames_message(records: list[FrameRecord]) -> FrameBatch:
    """A FrameBatch of records as they are: they encode as WireFrames do (arrays), with no copy."""
    return FrameBatch(records)  # type: ignore[arg-type]


def encode(messages: list[WireMessage]) -> bytes:
    """Length-prefixed MessagePack for a batch of messages.

    A str that UTF-8 cannot hold (a lone surrogate: ``os.fsdecode`` names an undecodable file so,
    and a handler may log it) goes escaped (``\\udcff``), rather than failing the whole batch.
    """
    try:
        return _encode(messages)
    except UnicodeEncodeError:
        return _encode([_encodable(message) for message in messages])


def _encode(messages: list[WireMessage]) -> bytes:
    buffer = bytearray()
    for message in messages:
        start = len(buffer)
        buffer.extend(b"\0\0\0\0")
        _encoder.encode_into(message, buffer, -1)
        _LENGTH.pack_into(buffer, start, len(buffer) - start - 4)
    return bytes(buffer)


def _encodable(value: Any) -> Any:
    """``value`` with its every str (in structs, lists, tuples and dicts too) encodable as UTF-8."""
    if isinstance(value, str):
        return value.encode("utf-8", "backslashreplace").decode("utf-8")
    if isinstance(value, msgspec.Struct):
        fields = {name: _encodable(getattr(value, name)) for name in value.__struct_fields__}
        return msgspec.structs.replace(value, **fields)
    if isinstance(value, (list, tuple)):
        return type(value)(map(_encodable, value))
    if isinstance(value, dict):
        return {_encodable(key): _encodable(item) for key, item in value.items()}
    return value


class ProtocolError(Exception):
    """The producer sent something that is not our protocol; its connection must be closed."""


class Decoder:
    """Bytes in, messages out. Raises :class:`ProtocolError` on anything malformed."""

    def __init__(self, max_message_bytes: int = MAX_MESSAGE_BYTES) -> None:
        self._buffer = bytearray()
        self._max = max_message_bytes
        self.hello: Hello | None = None

    def feed(self, data: bytes) -> list[WireMessage]:
        buffer = self._buffer
        buffer.extend(data)
        messages: list[WireMessage] = []
        offset = 0
        end = len(buffer)
        view = memoryview(buffer)
        try:
            while end - offset >= 4:
                (length,) = _LENGTH.unpack_from(buffer, offset)
                if length > self._max:
                    raise ProtocolError(f"message of {length} bytes exceeds the limit of {self._max}")
                start = offset + 4
                if end - start < length:
                    break
                try:
                    message = _decoder.decode(view[start : start + length])
                except msgspec.ValidationError as exc:
                    raise ProtocolError(f"unknown or malformed message: {exc}") from None
                except (msgspec.DecodeError, ValueError, RecursionError) as exc:
                    # ValueError: a string that is not UTF-8; RecursionError: absurdly nested content.
                    raise ProtocolError(f"not MessagePack: {exc}") from None
                offset = start + length
                if self.hello is None or type(message) is not FrameBatch:
                    self._check(message)
                else:
                    for frame in message.frames:
                        if type(frame.content) not in _CONTENT_TYPES:
                            raise ProtocolError(f"a frame's content of type {type(frame.content).__name__}")
                messages.append(message)
        finally:
            view.release()
        del buffer[:offset]
        return messages

    def close(self) -> None:
        """The producer closed its end: anything left over is a truncated message."""
        if self._buffer:
            raise ProtocolError(f"stream ended inside a message ({len(self._buffer)} bytes left over)")

    def _check(self, message: WireMessage) -> None:
        if self.hello is None:
            if not isinstance(message, Hello):
                raise ProtocolError("the first message was not a hello")
            if message.version != PROTOCOL_VERSION:
                raise ProtocolError(
                    f"protocol version {message.version} is not supported (this inspector speaks "
                    f"{PROTOCOL_VERSION}); use the same wsinspect version on both sides"
                )
            self.hello = message
        elif isinstance(message, Hello):
            raise ProtocolError("a second hello")
