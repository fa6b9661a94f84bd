"""The app side's record of its connections: the open ones and the most recently closed."""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping
from typing import Any

from ..config import WSInspectConfig
from ..model import Connection, LoopBlock
from ..paths import resolve_socket_path
from ..wire import WireLoopBlock
from . import taps
from .emitter import Emitter, HeldConnection
from .failures import tracking_failed
from .servers import Server
from .tracker import ConnectionTracker, TrackerListener
from .watchdog import Watchdog, block_after

__all__ = ("Recorder",)


class Recorder:
    """Starts a tracker per connection and keeps what they recorded, in memory and bounded.

    Open connections keep up to ``max_messages`` frames each; of the closed ones only the
    newest ``keep_closed`` are kept, and of the loop blocks no handler held (``loop_blocks()``)
    the newest ``keep_closed`` too. While connections are open a watchdog looks at what their
    handlers do and who holds the event loop (see :mod:`~wsinspect.capture.watchdog`).
    """

    def __init__(
        self,
        config: WSInspectConfig | None = None,
        *,
        keep_closed: int = 50,
        stream: bool = True,
    ) -> None:
        """With ``stream`` (and the config active), what is recorded also streams to the inspector."""
        self.config = config or WSInspectConfig()
        self.emitter: Emitter | None = None
        self.listener: TrackerListener | None = None
        socket_path = resolve_socket_path(self.config.socket_path) if stream and self.config.active else None
        tap = taps.current()
        # A tap that listens there itself sees this recorder's connections without the wire.
        if socket_path is not None and (tap is None or not tap.takes(socket_path)):
            self.emitter = Emitter(
                socket_path,
                self.held,
                held_blocks=self.held_blocks,
                app_name=self.config.app_name,
                max_frame_bytes=self.config.max_message_size,
            )
            self.listener = self.emitter
        self.watchdog = Watchdog(self._lag, self._blocked, block_after(self.config.loop_block_ms))
        self._open: dict[str, ConnectionTracker] = {}
        self._closed: deque[ConnectionTracker] = deque(maxlen=keep_closed)
        self._blocks: deque[LoopBlock] = deque(maxlen=keep_closed)  # the loop blocks no handler held

    def start(self, scope: Mapping[str, Any], now: float, server: Server | None = None) -> ConnectionTracker:
        """A tracker for a new connection; ``server``: the server that runs it, when known."""
        tracker = ConnectionTracker(scope, self.config, now, listener=self.listener, server=server)
        self.watchdog.opened(tracker)
        tap = taps.current()
        if tap is not None:
            try:
                tap.started(tracker)
            except Exception:  # the tap's fault: the connection is still recorded, and the app unaffected
                tracking_failed()
        # Held last: a start that fails leaves no open connection behind that nothing will finish.
        self._open[tracker.connection.connection_id] = tracker
        return tracker

    def finish(self, tracker: ConnectionTracker) -> None:
        """Move a connection whose handler ended to the closed ones."""
        if self._open.pop(tracker.connection.connection_id, None) is not None:
            self._closed.append(tracker)
        self.watchdog.closed(tracker)

    def loop_blocks(self) -> list[LoopBlock]:
        """The loop blocks no connection's handler held, oldest first (the others are their connections')."""
        return list(self._blocks)

    def held_blocks(self) -> list[WireLoopBlock]:
        """What a replay sends of the loop blocks no connection's handler held."""
        return [WireLoopBlock(None, block) for block in list(self._blocks)]

    def _lag(self, worst: float, mean: float) -> None:
        if self.emitter is not None:
            self.emitter.loop_lag(worst, mean)

    def _blocked(self, tracker: ConnectionTracker | None, block: LoopBlock) -> None:
        if tracker is not None:
            tracker.loop_blocked(block)
            return
        self._blocks.append(block)
        if self.emitter is not None:
            self.emitter.loop_blocked(None, block)

    def connections(self) -> list[Connection]:
        """Snapshots of every connection held, oldest first."""
        return [tracker.snapshot() for tracker in self._trackers()]

    def held(self) -> list[HeldConnection]:
        """What a replay sends: every connection held with its newest frames, oldest first."""
        return [(tracker.key, tracker.connection, tracker.records()) for tracker in self._trackers()]

    def _trackers(self) -> list[ConnectionTracker]:
        # Copies first: the emitter's thread calls this while the app's thread adds connections.
        trackers = [*list(self._closed), *list(self._open.values())]
        return sorted(trackers, key=lambda tracker: tracker.connection.connected_at)

    def clear(self) -> None:
        self._closed.clear()
