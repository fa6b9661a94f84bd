"""How a replayed frame is compared with the recorded one (sans-I/O: frames in, a verdict out).

Text and binary payloads a decoder understands (JSON, MessagePack, CBOR, Socket.IO…) compare as
data, so that key order and spacing do not count; the rest as text or bytes. ``--ignore`` removes
fields (a dotted path, ``*`` for any key or item) from decoded payloads before they are compared,
and ``--mask`` replaces what a regular expression matches in text payloads with ``<masked>``,
both sides alike. A frame recorded truncated (``max_message_size``) is compared on the part that
was kept, and on its full size.
"""

from __future__ import annotations

import difflib
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Final

from ..capture.text import cut_text
from ..decoders import choose
from ..formatting import hexdump
from ..model import Frame, describe_close

__all__ = ("MASK", "Comparer", "FieldPath", "parse_path")

MASK: Final = "<masked>"
_ANY: Final = "*"


class FieldPath(tuple[str, ...]):
    """A dotted path into decoded data: ``meta.id``, ``items.*.ts``, ``rows.0``."""


def parse_path(text: str) -> FieldPath:
    """``a.b.*.c`` as its parts; raises ValueError for an empty path or an empty part."""
    parts = text.strip().split(".")
    if not text.strip() or any(not part for part in parts):
        raise ValueError(f"not a field path: {text!r} (write it as a.b.c, * for any key or item)")
    return FieldPath(parts)


@dataclass(frozen=True, slots=True)
class _Shape:
    """A frame as it is compared: its kind and a comparable value, and lines to show in a diff."""

    kind: str  # "text", "binary", "data:<decoder>", "close", "size"
    value: Any
    lines: tuple[str, ...] = field(compare=False)  # how it prints: 1 and 1.0 print otherwise, yet are the same


class Comparer:
    """Compares frames under ``ignore`` (field paths) and ``masks`` (regular expressions)."""

    def __init__(self, ignore: Sequence[FieldPath] = (), masks: Sequence[str] = (), subprotocol: str | None = None):
        self.ignore = list(ignore)
        self.masks = [re.compile(mask) for mask in masks]
        self.subprotocol = subprotocol

    def same(self, recorded: Frame, replayed: Frame) -> bool:
        return self._shape(recorded, recorded) == self._shape(replayed, recorded)

    def diff(self, recorded: Frame, replayed: Frame) -> list[str]:
        """A unified diff of the two payloads as compared (JSON pretty-printed), without headers'
        timestamps; empty when they are the same."""
        one, other = self._shape(recorded, recorded), self._shape(replayed, recorded)
        if one == other:
            return []
        return list(difflib.unified_diff(one.lines, other.lines, "recorded", "replayed", lineterm="", n=3))

    def _shape(self, frame: Frame, recorded: Frame) -> _Shape:
        """``frame`` as compared with ``recorded``: cut as the recording was when it was truncated."""
        kind = frame.message_type
        if kind == "close":
            text = describe_close(frame.close_code, frame.content) or "close, no code"
            return _Shape("close", (frame.close_code, frame.content or ""), (text,))
        content = frame.content
        if recorded.truncated:  # only the recorded part can be compared, and the real size
            kept = recorded.content
            if isinstance(content, str) and isinstance(kept, str):
                content = cut_text(content, len(kept.encode("utf-8", "surrogatepass")))
            elif isinstance(content, bytes) and isinstance(kept, bytes):
                content = content[: len(kept)]
            size = f"{frame.size_bytes:,} bytes"
            shape = self._payload(kind, content, truncated=True)
            return _Shape(shape.kind, (shape.value, frame.size_bytes), (*shape.lines, f"({size} in all)"))
        if content is None:  # recorded by size only (show_binary_preview=False)
            return _Shape("size", frame.size_bytes, (f"{frame.size_bytes:,} bytes (payload not recorded)",))
        return self._payload(kind, content)

    def _payload(self, kind: str, content: Any, *, truncated: bool = False) -> _Shape:
        if isinstance(content, str):
            for mask in self.masks:
                content = mask.sub(MASK, content)
        decoded = choose(self.subprotocol, content, truncated) if content is not None else None
        if decoded is not None and not decoded.truncated:
            tree = decoded.tree
            for path in self.ignore:
                tree = _without(tree, path)
            pretty = json.dumps(tree, indent=2, sort_keys=True, ensure_ascii=False, default=_bytes_text)
            return _Shape(f"data:{decoded.decoder}", _comparable(tree), tuple(pretty.splitlines()))
        if isinstance(content, bytes):
            return _Shape("binary", content, tuple(hexdump(content)))
        text = content if isinstance(content, str) else ""
        return _Shape(kind, text, tuple(text.splitlines()) or ("",))


def _without(tree: Any, path: Sequence[str]) -> Any:
    """A copy of ``tree`` without what ``path`` names (nothing changes where it names nothing)."""
    if not path:
        return tree
    head, rest = path[0], path[1:]
    if isinstance(tree, dict):
        keys = list(tree) if head == _ANY else [key for key in tree if str(key) == head]
        if not rest:
            return {key: value for key, value in tree.items() if key not in keys}
        return {key: (_without(value, rest) if key in keys else value) for key, value in tree.items()}
    if isinstance(tree, list):
        indexes = range(len(tree)) if head == _ANY else [int(head)] if head.isdigit() else []
        chosen = {index for index in indexes if index < len(tree)}
        if not rest:
            return [item for index, item in enumerate(tree) if index not in chosen]
        return [_without(item, rest) if index in chosen else item for index, item in enumerate(tree)]
    return tree


def _comparable(tree: Any) -> Any:
    """Decoded data in a form == compares by value (dicts by their items, whatever their order)."""
    if isinstance(tree, dict):
        return tuple(sorted(((repr(key), _comparable(value)) for key, value in tree.items())))
    if isinstance(tree, list):
        return tuple(_comparable(item) for item in tree)
    return ("bool", tree) if isinstance(tree, bool) else tree  # true is no 1, though 1 is 1.0


def _bytes_text(value: Any) -> str:
    return value.hex(" ") if isinstance(value, bytes) else repr(value)
