"""What the screen shows of a payload: decoded by the connection's decoder, cached per frame.

Decoding happens only for the rows drawn and the frame in the detail pane, once per frame (an LRU
of the newest results), never on the way in: a million frames cost nothing until they are seen.
"""

from __future__ import annotations

from textual.cache import LRUCache

from ...model import Frame
from ..decoders import RAW, ConnectionDecoding, Decoded, available
from ..store import Store

__all__ = ("AUTO", "Payloads")

AUTO = "auto"  # the decoder chosen by the subprotocol, then by sniffing each payload
CACHED = 4096


class Payloads:
    """Decodes frames for the timeline and the detail pane, with each connection's own choice."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self._decodings: dict[str, ConnectionDecoding] = {}
        self._cache: LRUCache[int, tuple[Frame, Decoded | None]] = LRUCache(CACHED)
        self._reported: set[str] = set()  # failures already announced

    @staticmethod
    def names() -> list[str]:
        """What can be chosen for a connection: auto, every decoder, raw."""
        return [AUTO, *(decoder.name for decoder in available()), RAW]

    def decoded(self, connection_id: str | None, frame: Frame) -> Decoded | None:
        """The frame decoded (None: raw), from the cache when it was decoded before."""
        if connection_id is None or frame.message_type not in ("text", "binary") or frame.content is None:
            return None
        key = id(frame)
        hit = self._cache.get(key)
        if hit is not None and hit[0] is frame:  # an id can be reused once its frame is gone
            return hit[1]
        entry = self.store.entries.get(connection_id)
        subprotocol = entry.connection.subprotocol if entry is not None else None
        decoding = self._decodings.setdefault(connection_id, ConnectionDecoding())
        result = decoding.decode(frame.content, subprotocol, truncated=frame.truncated)
        self._cache[key] = (frame, result)
        return result

    def choice(self, connection_id: str) -> str:
        decoding = self._decodings.get(connection_id)
        return (decoding.override if decoding is not None else None) or AUTO

    def choose(self, connection_id: str, name: str) -> None:
        """Decode the connection's frames with ``name`` (AUTO: as the subprotocol and sniffing say)."""
        decoding = self._decodings.setdefault(connection_id, ConnectionDecoding())
        decoding.override = None if name == AUTO else name
        self._cache.clear()

    def failures(self, connection_id: str | None) -> list[str]:
        """Decoders turned off for the connection after they raised, one line each."""
        decoding = self._decodings.get(connection_id) if connection_id is not None else None
        return list(decoding.errors.values()) if decoding is not None else []

    def new_failures(self) -> list[str]:
        """Failures not announced yet (each once)."""
        fresh = []
        for decoding in self._decodings.values():
            for message in decoding.errors.values():
                if message not in self._reported:
                    self._reported.add(message)
                    fresh.append(message)
        return fresh
