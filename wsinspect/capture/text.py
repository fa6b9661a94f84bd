"""Sizes and cuts of text in UTF-8, without copying a long text whole (the app side's, and the
replay's, which cuts as the app side does)."""

from __future__ import annotations

from typing import Final

__all__ = ("UTF8_CHUNK", "cut_text", "utf8_size")

# The characters of a long text that utf8_size encodes at a time: at most 64 KiB of them (4 bytes a
# character at most), and as much of their UTF-8, exist at once.
UTF8_CHUNK: Final = 16_384


def utf8_size(text: str) -> int:
    """The size of ``text`` in UTF-8 (a lone surrogate as the 3 bytes "surrogatepass" writes),
    without a copy of a long text: it is encoded ``UTF8_CHUNK`` characters at a time. Python's
    encoder writes each code point on its own (it never joins two surrogates), so the pieces' sizes
    add up to the whole's exactly, wherever the cuts fall."""
    if len(text) <= UTF8_CHUNK:
        return len(text.encode("utf-8", "surrogatepass"))
    return sum(
        len(text[start : start + UTF8_CHUNK].encode("utf-8", "surrogatepass"))
        for start in range(0, len(text), UTF8_CHUNK)
    )


def cut_text(text: str, limit: int) -> str:
    """The longest prefix of ``text`` whose UTF-8 form fits in ``limit`` bytes."""
    # Each character takes at least one byte, so at most ``limit`` characters are encoded.
    return text[:limit].encode("utf-8", "surrogatepass")[:limit].decode("utf-8", "ignore")
