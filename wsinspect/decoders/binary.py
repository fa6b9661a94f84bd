"""MessagePack (msgspec) and CBOR (cbor2) in binary frames.

Sniffing takes a payload only when it decodes to a map or an array that uses every byte and looks
like a message (``plausible``): random bytes often make a small array of numbers, odd map keys or a
garbled string. A payload
cut by ``max_message_size`` is read by a small reader of each format that keeps what came before
the cut (containers hold the items that arrived; a string cut short ends in "…").
"""

from __future__ import annotations

import io
import struct
from typing import Any, Final

import cbor2
import msgspec

from .base import ELLIPSIS, MAX_DEPTH, Decoded, as_bytes, compact, has_controls, plain

__all__ = ("CborDecoder", "MsgpackDecoder", "cbor_prefix", "msgpack_prefix", "plausible")


class _Cut(Exception):
    """The payload ended before the item did (nothing of it is usable)."""


class _Invalid(Exception):
    """Not this format."""


class _PrefixReader:
    """Shared by the two readers of cut payloads: the bytes, where reading is, whether it was cut."""

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.pos = 0
        self.cut = False  # the value read last is partial: its containers stop there

    def take(self, count: int) -> bytes:
        end = self.pos + count
        if end > len(self.data):
            raise _Cut
        chunk = self.data[self.pos : end]
        self.pos = end
        return chunk

    def text(self, count: int, *, binary: bool) -> str | bytes:
        """A string of ``count`` bytes, or the part of it before the cut (then marked)."""
        end = self.pos + count
        if end > len(self.data):
            chunk = self.data[self.pos :]
            self.pos = len(self.data)
            self.cut = True
            return chunk if binary else chunk.decode(errors="ignore") + ELLIPSIS
        chunk = self.data[self.pos : end]
        self.pos = end
        if binary:
            return chunk
        try:
            return chunk.decode()
        except UnicodeDecodeError:
            raise _Invalid from None

    def array(self, count: int, depth: int) -> list[Any]:
        items: list[Any] = []
        for _ in range(count):
            try:
                items.append(self.item(depth + 1))
            except _Cut:
                self.cut = True
            if self.cut:
                break
        return items

    def mapping(self, count: int, depth: int) -> dict[Any, Any]:
        items: dict[Any, Any] = {}
        for _ in range(count):
            try:
                key = self.item(depth + 1)
                if self.cut:
                    break
                value = self.item(depth + 1)
            except _Cut:
                self.cut = True
                break
            items[_key(key)] = value
            if self.cut:
                break
        return items

    def item(self, depth: int) -> Any:
        raise NotImplementedError


def _key(key: Any) -> Any:
    return key if isinstance(key, str | int | float | bool | bytes) or key is None else compact(key)


def _prefix(reader: _PrefixReader) -> Any:
    """The top-level map or array that ``reader`` reads, as far as the data goes; raises _Invalid."""
    try:
        value = reader.item(0)
    except (_Cut, RecursionError):
        raise _Invalid from None
    if not isinstance(value, dict | list):
        raise _Invalid
    return value


def plausible(value: Any) -> bool:
    """Whether a value sniffed in a binary payload looks like a message rather than random bytes
    that happened to decode: a non-empty map whose keys are all str or all int, or an array holding
    a string, a float, a map or such an array; no control characters (but tabs and line ends) in
    strings."""
    if isinstance(value, dict):
        kinds = {type(key) for key in value}
        if kinds != {str} and kinds != {int}:
            return False
    elif not _telling(value, 0):
        return False
    return not has_controls(value)


def _telling(value: Any, depth: int) -> bool:
    """An array with something in it that random bytes seldom make (not only ints and the like)."""
    if not isinstance(value, list) or depth > 8:
        return False
    return any(isinstance(item, str | float | dict) or _telling(item, depth + 1) for item in value)


# -- MessagePack ----------------------------------------------------------------------------------

_MP_FIXED: Final = {
    0xCA: (">f", 4),
    0xCB: (">d", 8),
    0xCC: (">B", 1),
    0xCD: (">H", 2),
    0xCE: (">I", 4),
    0xCF: (">Q", 8),
    0xD0: (">b", 1),
    0xD1: (">h", 2),
    0xD2: (">i", 4),
    0xD3: (">q", 8),
}
_MP_LENGTH: Final = {1: ">B", 2: ">H", 4: ">I"}


class _MsgpackReader(_PrefixReader):
    def length(self, size: int) -> int:
        value: int = struct.unpack(_MP_LENGTH[size], self.take(size))[0]
        return value

    def item(self, depth: int) -> Any:
        if depth > MAX_DEPTH:
            raise _Invalid
        byte = self.take(1)[0]
        if byte <= 0x7F:
            return byte
        if byte >= 0xE0:
            return byte - 0x100
        if byte <= 0x8F:
            return self.mapping(byte & 0x0F, depth)
        if byte <= 0x9F:
            return self.array(byte & 0x0F, depth)
        if byte <= 0xBF:
            return self.text(byte & 0x1F, binary=False)
        if byte in _MP_FIXED:
            fmt, size = _MP_FIXED[byte]
            return struct.unpack(fmt, self.take(size))[0]
        if byte == 0xC0:
            return None
        if byte in (0xC2, 0xC3):
            return byte == 0xC3
        if 0xC4 <= byte <= 0xC6:  # bin 8/16/32
            return self.text(self.length(1 << (byte - 0xC4)), binary=True)
        if 0xD9 <= byte <= 0xDB:  # str 8/16/32
            return self.text(self.length(1 << (byte - 0xD9)), binary=False)
        if byte in (0xDC, 0xDD):
            return self.array(self.length(2 if byte == 0xDC else 4), depth)
        if byte in (0xDE, 0xDF):
            return self.mapping(self.length(2 if byte == 0xDE else 4), depth)
        if 0xD4 <= byte <= 0xD8:  # fixext 1/2/4/8/16
            code = struct.unpack(">b", self.take(1))[0]
            return {"ext": code, "data": self.text(1 << (byte - 0xD4), binary=True)}
        if 0xC7 <= byte <= 0xC9:  # ext 8/16/32
            size = self.length(1 << (byte - 0xC7))
            code = struct.unpack(">b", self.take(1))[0]
            return {"ext": code, "data": self.text(size, binary=True)}
        raise _Invalid  # 0xc1: never used


def msgpack_prefix(data: bytes) -> Any:
    """The MessagePack map or array at the start of ``data`` (cut short), as far as it goes;
    raises ValueError when there is none."""
    try:
        return _prefix(_MsgpackReader(data))
    except _Invalid:
        raise ValueError("not a MessagePack map or array") from None


_MSGPACK: Final = msgspec.msgpack.Decoder()


class MsgpackDecoder:
    name = "msgpack"
    subprotocols: tuple[str, ...] = ("msgpack", "messagepack")

    def decode(self, payload: str | bytes, *, truncated: bool = False) -> Decoded | None:
        return _decode_msgpack(payload, truncated, strict=False)

    def sniff(self, payload: str | bytes, *, truncated: bool = False) -> Decoded | None:
        return _decode_msgpack(payload, truncated, strict=True)


def _decode_msgpack(payload: str | bytes, truncated: bool, strict: bool) -> Decoded | None:
    data = as_bytes(payload)
    if not data or (strict and not (0x80 <= data[0] <= 0x9F or data[0] in (0xDC, 0xDD, 0xDE, 0xDF))):
        return None
    try:
        value = plain(_MSGPACK.decode(data))
    except (msgspec.DecodeError, ValueError, RecursionError):
        if not truncated:
            return None
        try:
            value = msgpack_prefix(data)
        except ValueError:
            return None
    if strict and not plausible(value):
        return None
    return Decoded("msgpack", compact(value), value, truncated=truncated)


# -- CBOR -----------------------------------------------------------------------------------------

_CBOR_SIMPLE: Final = {20: False, 21: True, 22: None, 23: "undefined"}


class _CborReader(_PrefixReader):
    def argument(self, info: int) -> int | None:
        """The argument of an item's head; None for indefinite length."""
        if info < 24:
            return info
        if info == 31:
            return None
        if info > 27:
            raise _Invalid
        return int.from_bytes(self.take(1 << (info - 24)), "big")

    def item(self, depth: int) -> Any:
        if depth > MAX_DEPTH:
            raise _Invalid
        byte = self.take(1)[0]
        major, info = byte >> 5, byte & 0x1F
        if major == 7:
            return self.simple(info)
        arg = self.argument(info)
        if major in (0, 1):
            if arg is None:
                raise _Invalid
            return arg if major == 0 else -1 - arg
        if major in (2, 3):
            if arg is not None:
                return self.text(arg, binary=major == 2)
            return self.chunks(major, depth)
        if major == 4:
            return self.array(arg, depth) if arg is not None else self.until_break(depth, mapping=False)
        if major == 5:
            return self.mapping(arg, depth) if arg is not None else self.until_break(depth, mapping=True)
        if arg is None:
            raise _Invalid  # a tag has no indefinite form
        try:
            value = self.item(depth + 1)
        except _Cut:
            self.cut = True
            value = None
        return {"tag": arg, "value": value}

    def simple(self, info: int) -> Any:
        if info in (20, 21, 22, 23):
            return _CBOR_SIMPLE[info]
        if info < 24:
            return {"simple": info}
        if info == 24:
            return {"simple": self.take(1)[0]}
        if info in (25, 26, 27):
            fmt = {25: ">e", 26: ">f", 27: ">d"}[info]
            return struct.unpack(fmt, self.take(1 << (info - 24)))[0]
        raise _Invalid  # a break outside an indefinite item, or a reserved value

    def at_break(self) -> bool:
        if self.pos >= len(self.data):
            raise _Cut
        if self.data[self.pos] == 0xFF:
            self.pos += 1
            return True
        return False

    def chunks(self, major: int, depth: int) -> str | bytes:
        parts: list[Any] = []
        try:
            while not self.at_break():
                part = self.item(depth + 1)
                if not isinstance(part, str if major == 3 else bytes):
                    raise _Invalid
                parts.append(part)
                if self.cut:
                    break
        except _Cut:
            self.cut = True
        if major == 2:
            return b"".join(parts)
        text = "".join(parts)
        return text + ELLIPSIS if self.cut and not text.endswith(ELLIPSIS) else text

    def until_break(self, depth: int, *, mapping: bool) -> Any:
        items: list[Any] = []
        keys: list[Any] = []
        try:
            while not self.at_break():
                if mapping:
                    key = self.item(depth + 1)
                    if self.cut:
                        break
                    keys.append(_key(key))
                items.append(self.item(depth + 1))
                if self.cut:
                    break
        except _Cut:
            self.cut = True
        if mapping:
            return dict(zip(keys, items, strict=False))
        return items


def cbor_prefix(data: bytes) -> Any:
    """The CBOR map or array at the start of ``data`` (cut short), as far as it goes; raises
    ValueError when there is none."""
    try:
        return _prefix(_CborReader(data))
    except _Invalid:
        raise ValueError("not a CBOR map or array") from None


class CborDecoder:
    name = "cbor"
    subprotocols: tuple[str, ...] = ("cbor",)

    def decode(self, payload: str | bytes, *, truncated: bool = False) -> Decoded | None:
        return _decode_cbor(payload, truncated, strict=False)

    def sniff(self, payload: str | bytes, *, truncated: bool = False) -> Decoded | None:
        return _decode_cbor(payload, truncated, strict=True)


_SELF_DESCRIBED: Final = b"\xd9\xd9\xf7"  # tag 55799: "this is CBOR"


def _decode_cbor(payload: str | bytes, truncated: bool, strict: bool) -> Decoded | None:
    data = as_bytes(payload)
    if not data:
        return None
    start = data[3:4] if data.startswith(_SELF_DESCRIBED) else data[:1]
    if strict and not (start and 0x80 <= start[0] <= 0xBF):
        return None
    value = _cbor_whole(data)
    if value is _NOTHING:
        if not truncated:
            return None
        try:
            value = cbor_prefix(data[3:] if data.startswith(_SELF_DESCRIBED) else data)
        except ValueError:
            return None
    if strict and not plausible(value):
        return None
    return Decoded("cbor", compact(value), value, truncated=truncated)


_NOTHING: Final = object()


def _cbor_whole(data: bytes) -> Any:
    """The one CBOR item that is all of ``data``, as plain data; ``_NOTHING`` when it is not."""
    stream = io.BytesIO(data)
    try:
        value = cbor2.CBORDecoder(stream).decode()
    # cbor2 raises its own errors, and its semantic decoders (dates, decimals, IP addresses, …)
    # whatever the constructors they call raise for a bad value: all mean "not CBOR to show".
    except Exception:
        return _NOTHING
    if stream.tell() != len(data):
        return _NOTHING  # more after the item: not one CBOR item
    return plain(value)
