"""What the screen shows of a payload: decoded by the connection's decoder, cached per frame.

Decoding happens only for the rows drawn and the frame in the detail pane, once per frame (an LRU
of the newest results), never on the way in: a million frames cost nothing until they are seen.
"""

from __future__ import annotations

from itertools import islice

from textual.cache import LRUCache

from ...decoders import RAW, ConnectionDecoding, Decoded, available
from ...model import Frame
from ..core.interface import StoreView
from ..core.pairing import Pairing, field_pair_id

__all__ = ("AUTO", "Payloads", "latency_of")

AUTO = "auto"  # the decoder chosen by the subprotocol, then by sniffing each payload
CACHED = 4096


class Payloads:
    """Decodes frames for the timeline and the detail pane, with each connection's own choice."""

    def __init__(self, store: StoreView) -> None:
        self.store = store
        self._decodings: dict[str, ConnectionDecoding] = {}
        self._cache: LRUCache[int, tuple[Frame, Decoded | None]] = LRUCache(CACHED)
        self._reported: set[str] = set()  # failures already announced
        self._pairings: dict[str, Pairing] = {}
        self.pair_by: tuple[str, ...] = ()  # --pair-by FIELD: a JSON field's path; () the protocols' ids
        # Connections a decoder found requests or replies in: only those are paired (pairing
        # decodes every frame of a connection, which a plain chat at 10,000 frames/s need not pay).
        self._speaking_pairs: set[str] = set()

    def set_pair_by(self, field: str) -> None:
        """Pair requests and replies by a JSON field (a dotted path), or by the protocols' ids ("")."""
        self.pair_by = tuple(part for part in field.strip().split(".") if part)
        self._pairings.clear()

    def pairing(self, connection_id: str | None) -> Pairing | None:
        """The connection's requests and replies, brought up to date with its newest frames."""
        entry = self.store.entries.get(connection_id) if connection_id is not None else None
        if connection_id is None or entry is None or not (self.pair_by or connection_id in self._speaking_pairs):
            return None
        pairing = self._pairings.setdefault(connection_id, Pairing())
        # The frames after the last one taken in; when that one is gone (the connection's limit,
        # a clear), every frame held is newer than it.
        fresh: list[Frame] = []
        # At most the newest max_messages, which is all a live store holds; an opened capture holds
        # every frame, read from disk, and a connection of a million would stall the screen.
        for frame in islice(self.store.newest_frames(connection_id), self.store.max_messages):
            if frame is pairing.last:
                break
            fresh.append(frame)
        for frame in reversed(fresh):
            decoded = self.decoded(connection_id, frame) if frame.message_type in ("text", "binary") else None
            if self.pair_by:
                role, pair_id = field_pair_id(frame, decoded.tree if decoded is not None else None, self.pair_by)
            else:
                role, pair_id = (decoded.role, decoded.pair_id) if decoded is not None else (None, None)
            pairing.take(frame, role, pair_id)
        return pairing

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
        if result is not None and result.pair_id is not None:
            self._speaking_pairs.add(connection_id)
        return result

    def choice(self, connection_id: str) -> str:
        decoding = self._decodings.get(connection_id)
        return (decoding.override if decoding is not None else None) or AUTO

    def choose(self, connection_id: str, name: str) -> None:
        """Decode the connection's frames with ``name`` (AUTO: as the subprotocol and sniffing say)."""
        decoding = self._decodings.setdefault(connection_id, ConnectionDecoding())
        decoding.override = None if name == AUTO else name
        self._cache.clear()
        self._pairings.pop(connection_id, None)

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


def latency_of(pairing: Pairing | None, frame: Frame) -> tuple[Frame | None, float | None]:
    """The frame's partner, and the latency when ``frame`` is the reply (None when it is the request)."""
    partner = pairing.partner(frame) if pairing is not None else None
    if partner is None:
        return None, None
    return partner, (frame.timestamp - partner.timestamp if partner.timestamp <= frame.timestamp else None)
