"""Requests paired with their replies, and the latency between them (sans-I/O).

A connection's frames are taken in as they come, each with what its decoder said of it: a
``request`` with a pair id waits for a ``reply`` (or an ``error``) with the same id. Ids come from
the protocol (a JSON-RPC id, a GraphQL operation id, a Socket.IO ack id) or, with ``--pair-by
FIELD``, from a field of JSON payloads: a frame the app received is then a request, one it sent
with the same value the reply.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from ...formatting import parse_json
from ...model import Frame

__all__ = ("Pairing", "field_pair_id", "percentile")

REQUEST_ROLES = frozenset({"request"})
REPLY_ROLES = frozenset({"reply", "error"})
MAX_WAITING = 10_000  # requests without a reply kept per connection (the oldest go first)


@dataclass(slots=True)
class Pairing:
    """One connection's requests and replies, as its frames are taken in (oldest first)."""

    waiting: dict[str, Frame] = field(default_factory=dict)  # requests without a reply yet, by pair id
    latencies: list[float] = field(default_factory=list)  # seconds from each request to its reply
    requests: int = 0
    taken: int = 0  # frames taken in so far (the connection's frame number of the next one)
    last: Frame | None = None  # the newest frame taken in
    # Each paired frame's partner, both ways, by the frame's id (checked against the frame itself).
    _partners: dict[int, tuple[Frame, Frame]] = field(default_factory=dict)

    def take(self, frame: Frame, role: str | None, pair_id: str | None) -> None:
        """Take in the next frame of the connection, with its role and pair id (None: none)."""
        self.taken += 1
        self.last = frame
        if pair_id is None or role is None:
            return
        if role in REQUEST_ROLES:
            self.requests += 1
            self.waiting.pop(pair_id, None)  # a second request with the id: the first went unanswered
            self.waiting[pair_id] = frame
            if len(self.waiting) > MAX_WAITING:
                self.waiting.pop(next(iter(self.waiting)))
        elif role in REPLY_ROLES:
            request = self.waiting.pop(pair_id, None)
            if request is not None:
                self.latencies.append(max(0.0, frame.timestamp - request.timestamp))
                self._partners[id(frame)] = (frame, request)
                self._partners[id(request)] = (request, frame)

    def partner(self, frame: Frame) -> Frame | None:
        """The reply of a request, or the request of a reply; None when it has none (yet)."""
        found = self._partners.get(id(frame))
        return found[1] if found is not None and found[0] is frame else None

    def is_waiting(self, frame: Frame) -> bool:
        """Whether ``frame`` is a request still waiting for its reply."""
        return any(waiting is frame for waiting in self.waiting.values())

    def summary(self) -> str:
        """ "p50 12 ms · p95 40 ms · 3 unanswered of 120 requests", or "" without requests."""
        return " · ".join(self.summary_parts())

    def summary_parts(self) -> list[str]:
        """The latencies ("p50 12 ms · p95 40 ms") and the unanswered requests, when there are requests."""
        if not self.requests:
            return []
        parts = []
        if self.latencies:
            ordered = sorted(self.latencies)
            parts.append(f"p50 {_ms(percentile(ordered, 50))} · p95 {_ms(percentile(ordered, 95))}")
        parts.append(f"{len(self.waiting):,} unanswered of {self.requests:,} requests")
        return parts


def percentile(ordered: list[float], percent: float) -> float:
    """The nearest-rank percentile of sorted values."""
    rank = max(1, -(-len(ordered) * percent // 100))  # ceil
    return ordered[int(rank) - 1]


def field_pair_id(frame: Frame, tree: Any, names: Iterable[str]) -> tuple[str | None, str | None]:
    """With ``--pair-by FIELD``: the frame's role (received: request, sent: reply) and the value of
    the field (a dotted path, e.g. ``meta.id``) in its JSON payload (or decoded ``tree``)."""
    value: Any = tree
    if value is None and isinstance(frame.content, str):
        value = parse_json(frame.content)
    for name in names:
        if not isinstance(value, dict) or name not in value:
            return None, None
        value = value[name]
    if value is None or isinstance(value, dict | list):
        return None, None
    return ("request" if frame.direction == "received" else "reply"), str(value)


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:.1f} ms" if seconds < 0.01 else f"{seconds * 1000:.0f} ms"
