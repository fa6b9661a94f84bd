"""The wire between app processes (producers) and the inspector: sans-I/O encoding and decoding.

A producer's stream is a sequence of messages, each a 4-byte big-endian length followed by that
many bytes of MessagePack. The first message is a :class:`Hello` carrying the protocol version.
"""

from __future__ import annotations

import struct

import msgspec

from .model import Connection, Frame

__all__ = (
    "MAX_MESSAGE_BYTES",
    "PROTOCOL_VERSION",
    "ConnectionUpdate",
    "Decoder",
    "FrameAdded",
    "FramesDropped",
    "Hello",
    "ProtocolError",
    "WireMessage",
    "encode",
)

PROTOCOL_VERSION = 1
# Frames carry at most max_message_size bytes of payload (capped at 8 MiB by the config).
MAX_MESSAGE_BYTES = 16 * 1024 * 1024
_LENGTH = struct.Struct(">I")
_CONTENT_TYPES = (str, bytes, type(None))


class Hello(msgspec.Struct, tag="hello", array_like=True):
    """First message of a producer: who it is."""

    version: int
    pid: int
    app: str


class ConnectionUpdate(msgspec.Struct, tag="conn", array_like=True):
    """A connection's metadata and counts (its ``messages`` list is always empty here)."""

    connection: Connection


class FrameAdded(msgspec.Struct, tag="frame", array_like=True):
    """One frame of a connection, numbered from 0 (dropped ones included), with the counts then."""

    connection_id: str
    index: int
    frame: Frame
    messages_sent: int
    messages_received: int
    bytes_sent: int
    bytes_received: int


class FramesDropped(msgspec.Struct, tag="dropped", array_like=True):
    """The producer's queue overflowed while the inspector was slow: this many events were lost."""

    count: int


WireMessage = Hello | ConnectionUpdate | FrameAdded | FramesDropped

_encoder = msgspec.msgpack.Encoder()
_decoder = msgspec.msgpack.Decoder(WireMessage)


def encode(messages: list[WireMessage]) -> bytes:
    """Length-prefixed MessagePack for a batch of messages."""
    buffer = bytearray()
    for message in messages:
        start = len(buffer)
        buffer.extend(b"\0\0\0\0")
        _encoder.encode_into(message, buffer, -1)
        _LENGTH.pack_into(buffer, start, len(buffer) - start - 4)
    return bytes(buffer)


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
                if self.hello is None or type(message) is not FrameAdded:
                    self._check(message)
                elif type(message.frame.content) not in _CONTENT_TYPES:
                    raise ProtocolError(f"a frame's content of type {type(message.frame.content).__name__}")
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
