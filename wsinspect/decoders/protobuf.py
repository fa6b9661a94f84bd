"""Protocol Buffers without a schema, as ``protoc --decode_raw`` reads them.

The tree maps field numbers (int) to values, a list when a field repeats: a varint is an int
(negative when its top bit says an int64 was negative); a fixed64 / fixed32 is a float when its
bits read as a plausible double / float, else an unsigned int; a length-delimited field is a
nested message when its bytes parse as one (and are not printable text), else a string when they
are printable UTF-8, else bytes; a group is a nested message too. Summary: ``{1: 150, 2: "x", 3: {1: 2}}``.

Sniffing takes a binary payload only when all of it parses as fields (wire types 0, 1, 2, 5 and
groups that close), with field numbers below 2**16 and in order at the top (as serializers write
them), with a varint, a string or a message there (not only fixed-width fields and bytes), and it
is not just printable text.
"""

from __future__ import annotations

import math
import struct
from typing import Any, Final

from .base import ELLIPSIS, Decoded, as_bytes, compact

__all__ = ("ProtobufDecoder", "decode_raw")

_MAX_FIELD: Final = (1 << 29) - 1
_SNIFF_MAX_FIELD: Final = 1 << 16
_MAX_NESTING: Final = 64  # protoc's default recursion limit is 100; deeper bytes stay bytes
_SNIFF_MAX_BYTES: Final = 1 << 20  # larger binary frames are only decoded as protobuf by choice
_WIRE_TYPES: Final = ("varint", "fixed64", "len", "group start", "group end", "fixed32")
_TEXT_CONTROLS: Final = str.maketrans("", "", "\t\n\r")


class _NotProtobuf(Exception):
    pass


class _Parser:
    def __init__(self, data: bytes, truncated: bool, sniffing: bool) -> None:
        self.data = data
        self.truncated = truncated
        # Sniffing: the top level's field numbers must be below 2**16 and in order (as serializers
        # write them), which random bytes seldom are.
        self.max_field = _SNIFF_MAX_FIELD if sniffing else _MAX_FIELD
        self.sniffing = sniffing
        # Every top-level field so far is a fixed32, a fixed64 or opaque bytes (sniffing looks).
        self.only_fixed = True
        self.partial = False  # the payload's end cut a field short (only when truncated)

    def varint(self, pos: int, end: int) -> tuple[int, int]:
        data = self.data
        value = 0
        shift = 0
        while True:
            if pos >= end:
                raise _NotProtobuf("cut in a varint")
            byte = data[pos]
            pos += 1
            value |= (byte & 0x7F) << shift
            if byte < 0x80:
                return value, pos
            shift += 7
            if shift >= 70:
                raise _NotProtobuf("varint longer than 10 bytes")

    def message(self, pos: int, end: int, depth: int, group: int | None = None) -> tuple[dict[int, Any], int]:
        """The fields in data[pos:end] (up to the end of ``group`` when given), and where they end."""
        fields: dict[int, Any] = {}
        at_end = end == len(self.data)  # a cut payload ends here: a field may be cut short
        ordered = self.sniffing and depth == 0
        last = 0
        while pos < end:
            try:
                key, pos = self.varint(pos, end)
            except _NotProtobuf:
                if self.truncated and at_end:
                    self.partial = True
                    return fields, end
                raise
            number, wire = key >> 3, key & 7
            if not 0 < number <= (self.max_field if depth == 0 else _MAX_FIELD):
                raise _NotProtobuf(f"field number {number}")
            if ordered:
                if number < last:
                    raise _NotProtobuf("fields out of order")
                last = number
                self.only_fixed = self.only_fixed and wire != 0
            if wire == 4:
                if number != group:
                    raise _NotProtobuf("a group ends that did not begin")
                return fields, pos
            try:
                value, pos = self.field(wire, number, pos, end, depth)
            except _NotProtobuf:
                if self.truncated and at_end and not self.partial:
                    self.partial = True
                    return fields, end
                raise
            _add(fields, number, value)
            if ordered and wire in (2, 3) and not isinstance(value, bytes):
                self.only_fixed = False  # a string or a message
            if self.partial:
                return fields, end
        if group is not None and not (self.truncated and at_end):
            raise _NotProtobuf("a group does not end")
        return fields, pos

    def field(self, wire: int, number: int, pos: int, end: int, depth: int) -> tuple[Any, int]:
        if wire == 0:
            value, pos = self.varint(pos, end)
            if value >= 1 << 64:
                raise _NotProtobuf("varint past 64 bits")
            return (value - (1 << 64) if value >= 1 << 63 else value), pos
        if wire == 1:
            if pos + 8 > end:
                raise _NotProtobuf("cut in a fixed64")
            return _fixed(self.data[pos : pos + 8], "<d", "<Q", 1e-7, 1e15), pos + 8
        if wire == 5:
            if pos + 4 > end:
                raise _NotProtobuf("cut in a fixed32")
            return _fixed(self.data[pos : pos + 4], "<f", "<I", 1e-5, 1e9), pos + 4
        if wire == 2:
            length, pos = self.varint(pos, end)
            if pos + length > end:
                if not (self.truncated and end == len(self.data)):
                    raise _NotProtobuf("length past the end")
                self.partial = True
                return self.chunk(pos, end, depth, cut=True), end
            return self.chunk(pos, pos + length, depth, cut=False), pos + length
        if wire == 3:
            if depth >= _MAX_NESTING:
                raise _NotProtobuf("nested too deep")
            fields, pos = self.message(pos, end, depth + 1, group=number)
            return fields, pos
        raise _NotProtobuf(f"wire type {wire}")

    def chunk(self, start: int, end: int, depth: int, cut: bool) -> Any:
        """A length-delimited field: a message, a string or bytes (the part before the cut)."""
        raw = self.data[start:end]
        text = _text(raw, cut)
        if text is not None and (not raw or text.translate(_TEXT_CONTROLS).isprintable()):
            return text + ELLIPSIS if cut else text
        if depth < _MAX_NESTING and raw:
            inner = _Parser(self.data, self.truncated and cut, sniffing=False)
            try:
                fields, stop = inner.message(start, end, depth + 1)
            except _NotProtobuf:
                pass
            else:
                if stop == end and fields:
                    return fields
        return raw  # bytes, or UTF-8 with controls (a packed repeated field, say): its bytes show best


def _text(raw: bytes, cut: bool) -> str | None:
    try:
        return raw.decode()
    except UnicodeDecodeError as exc:
        if cut and exc.start >= len(raw) - 3:
            try:
                return raw[: exc.start].decode()
            except UnicodeDecodeError:
                return None
        return None


def _fixed(raw: bytes, float_format: str, int_format: str, low: float, high: float) -> int | float:
    """A fixed64 or fixed32: the float its bits make if that is a plausible number, else the int."""
    number: float = struct.unpack(float_format, raw)[0]
    if math.isfinite(number) and low <= abs(number) < high:
        return float(f"{number:.7g}") if len(raw) == 4 else number
    integer: int = struct.unpack(int_format, raw)[0]
    return integer


def _add(fields: dict[int, Any], number: int, value: Any) -> None:
    if number not in fields:
        fields[number] = value
    elif isinstance(fields[number], _Repeated):
        fields[number].append(value)
    else:
        fields[number] = _Repeated((fields[number], value))


class _Repeated(list[Any]):
    """A repeated field's values (a list subclass only to tell it from a value that is a list)."""

    __slots__ = ()


def decode_raw(data: bytes, *, truncated: bool = False, sniffing: bool = False) -> dict[int, Any]:
    """The fields of a protobuf message, as ``protoc --decode_raw`` finds them; raises ValueError
    when ``data`` is not one (``truncated``: its end may cut a field short; ``sniffing``: only take
    what surely is a message, see the module's docstring)."""
    parser = _Parser(data, truncated, sniffing)
    try:
        fields, _ = parser.message(0, len(data), 0)
        if sniffing and parser.only_fixed:
            # Fixed-width fields and opaque bytes take any bytes: without a varint, a string or a
            # message beside them random bytes pass too often (a message of doubles is not found).
            raise _NotProtobuf("only fixed-width fields and bytes")
    except (_NotProtobuf, RecursionError) as exc:
        raise ValueError(f"not a protobuf message: {exc}") from None
    plain: dict[int, Any] = _lists(fields)
    return plain


def _lists(value: Any) -> Any:
    """Repeated fields as plain lists."""
    if isinstance(value, dict):
        return {number: _lists(item) for number, item in value.items()}
    if isinstance(value, _Repeated):
        return [_lists(item) for item in value]
    return value


class ProtobufDecoder:
    name = "protobuf"
    subprotocols: tuple[str, ...] = ("protobuf", "proto")

    def decode(self, payload: str | bytes, *, truncated: bool = False) -> Decoded | None:
        data = as_bytes(payload)
        if data is None:
            return None
        try:
            fields = decode_raw(data, truncated=truncated)
        except ValueError:
            return None
        return Decoded("protobuf", compact(fields), fields, truncated=truncated)

    def sniff(self, payload: str | bytes, *, truncated: bool = False) -> Decoded | None:
        data = as_bytes(payload)
        if not data or len(data) > _SNIFF_MAX_BYTES:
            return None
        text = _text(data, truncated)
        if text is not None and text.translate(_TEXT_CONTROLS).isprintable():
            return None  # text in a binary frame, not a message
        try:
            fields = decode_raw(data, truncated=truncated, sniffing=True)
        except ValueError:
            return None
        if not fields:
            return None
        return Decoded("protobuf", compact(fields), fields, truncated=truncated)
