"""The watchdog: what each connection's handler is doing, who holds the event loop, and how late
the loop runs.

Nothing here runs per frame. The middleware's wrappers only note in each connection's tracker when
its handler went into ``receive()`` or ``send()`` and when it came back (``ConnectionTracker.doing``).
The rest runs while connections are open, and not at all while none is:

- a heartbeat on each event loop that has connections open: a timer every :data:`BEAT` seconds.
  How late it runs is the loop's lag, reported once a second; a beat that runs late because one
  turn of the loop held it for ``loop_block_ms`` or more ends a block, and reports it.
- one thread, which wakes :data:`SAMPLE_LATE` after each beat is due. A beat that has not run by
  then means the loop is held: while it is, the thread samples the loop thread's stack
  (``sys._current_frames()``) and the task it runs (the loop's current task tells whose handler
  it is), each sample replacing the one before. Every :data:`HANDLER_EVERY` seconds it also looks
  at what each open connection's handler does: a state that has lasted :data:`LASTING` seconds is
  reported once (with its task's stack when working or sending), and again when it ends.

Waking costs more than the work done when awake (some 40 µs of CPU each, on a small VM), so the
thread wakes once per beat rather than on a short period of its own, and the beat is 0.1 s. How
long a block lasted is measured from when its turn of the loop began, which asyncio's loop keeps
in its ``_run_once`` frame (``end_time``) and the sample reads, else the beat before it, to when
the late beat ran.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Final, NamedTuple

from ..model import HandlerDoing, HandlerState, LoopBlock, TracebackEntry
from .failures import FailureLog
from .stacks import RUN_CODE, callback_frames, is_polling, task_frames, thread_frame
from .traces import stack_entries

if TYPE_CHECKING:
    from .tracker import ConnectionTracker

__all__ = ("BEAT", "HANDLER_EVERY", "LASTING", "REPORT_EVERY", "SAMPLE_LATE", "Watchdog", "block_after")

BEAT: Final = 0.1  # seconds between the heartbeat's timers on a loop
SAMPLE_LATE: Final = 0.02  # a beat this late (seconds) means the loop is held: its stack is sampled
MAX_SAMPLE_EVERY: Final = 0.25  # while the loop stays held, samples come less often, down to this
REPORT_EVERY: Final = 1.0  # seconds of the loop's lag summed up in one report
HANDLER_EVERY: Final = 0.5  # seconds between looks at what the handlers do
LASTING: Final = 1.0  # seconds a handler's state lasts before it is reported

# The method of asyncio's loops that runs one turn; its ``end_time`` is the loop's time as the
# turn's callbacks began (3.11 to 3.14), which dates a block to within those before it.
_RUN_ONCE: Final = getattr(getattr(asyncio.base_events.BaseEventLoop, "_run_once", None), "__code__", None)

watchdog_failed = FailureLog(
    "wsinspect's watchdog failed; handler states and loop blocks may be missing, and the app is unaffected",
    "wsinspect's watchdog failed (%d so far)",
)

LagReport = Callable[[float, float], None]
BlockReport = Callable[["ConnectionTracker | None", LoopBlock], None]


class _Sample(NamedTuple):
    """What the loop's thread ran while the beat due at ``due`` waited."""

    due: float
    began: float | None  # the loop's time its turn began, when asyncio's loop shows it
    tracker: ConnectionTracker | None  # whose handler's task it ran
    stack: list[TracebackEntry]


class _Watch:
    """One event loop: its thread, the connections opened on it and their tasks, its heartbeat."""

    def __init__(self, loop: asyncio.AbstractEventLoop, thread_id: int, watchdog: Watchdog) -> None:
        self.loop = loop
        self.thread_id = thread_id
        self.watchdog = watchdog
        self.trackers: dict[ConnectionTracker, None] = {}  # in the order they opened
        self.tasks: dict[object, ConnectionTracker] = {}  # a handler's task → its connection
        self.handle: asyncio.TimerHandle | None = None
        self.due = 0.0  # the loop's time the next beat is due (loop.time() is monotonic)
        self.beat = 0.0  # when the last beat ran
        self.sample: _Sample | None = None  # written by the thread, read by the late beat
        # The beat (its due time) late while the loop's thread was seen in its poll, waiting for the
        # GIL that another thread held (or the machine's CPU): late, but held by none of its code.
        self.polling_late = 0.0
        self._since = 0.0  # lag: since when it is summed up, its worst, total and count
        self._worst = self._total = 0.0
        self._count = 0

    @property
    def beating(self) -> bool:
        return self.handle is not None

    # -- on the loop's thread ----------------------------------------------------------------

    def start(self) -> None:
        now = self.loop.time()
        self._since = self.beat = now
        self._schedule(now)

    def _schedule(self, now: float) -> None:
        self.due = now + BEAT
        self.handle = self.loop.call_at(self.due, self._tick)

    def _tick(self) -> None:
        try:
            self._beat()
        except Exception:
            watchdog_failed()
            self.handle = None
            self.trackers.clear()
            self.tasks.clear()

    def _beat(self) -> None:
        loop = self.loop
        now = loop.time()
        due, beat = self.due, self.beat
        lag = max(0.0, now - due)
        self._worst = max(self._worst, lag)
        self._total += lag
        self._count += 1
        threshold = self.watchdog.block_after
        if threshold is not None and now - beat >= threshold:  # a block began after the beat before
            self._ended(now, due, beat, threshold)
        if not self.trackers or now - self._since >= REPORT_EVERY:
            self.watchdog.report_lag(self._worst, self._total / self._count)
            self._since = now
            self._worst = self._total = 0.0
            self._count = 0
        if self.trackers:
            self.beat = now
            self._schedule(now)
        else:
            self.handle = None

    def _ended(self, now: float, due: float, beat: float, threshold: float) -> None:
        """The loop was held past the beat due at ``due``: a block, when it lasted ``threshold``."""
        sample = self.sample
        if sample is not None and sample.due != due:
            sample = None  # of an earlier hold
        if sample is None and self.polling_late == due:
            return  # the loop waited for the GIL: its lag says so, and no code of its own is to blame
        if sample is not None and sample.began is not None:
            began = max(beat, sample.began)
        else:
            began = min(beat + BEAT / 2, due)  # somewhere between the beat before and the one due
        duration = now - began
        if duration < threshold:
            return
        timestamp = time.time() - (now - began)
        if sample is None:
            self.watchdog.report_block(None, LoopBlock(timestamp=timestamp, duration=duration))
        else:
            block = LoopBlock(timestamp=timestamp, duration=duration, stack=sample.stack)
            self.watchdog.report_block(sample.tracker, block)

    # -- on the watchdog's thread ----------------------------------------------------------------

    def look(self, now: float) -> float:
        """Sample the loop's thread if the beat is late; returns when to look again (monotonic)."""
        due = self.due
        late = now - due
        if late < SAMPLE_LATE:
            return due + SAMPLE_LATE
        self.sample_stack(due)
        return now + min(MAX_SAMPLE_EVERY, max(SAMPLE_LATE, late / 4))

    def sample_stack(self, due: float) -> None:
        frame = thread_frame(self.thread_id)
        if frame is None:
            return
        if is_polling(frame):
            self.polling_late = due
            return
        task = asyncio.current_task(self.loop)
        tracker = self.tasks.get(task) if task is not None else None
        frames = callback_frames(frame)
        began = None
        run_once = frames[0].f_back if frames else None  # Handle._run: the loop's own frames begin
        if run_once is not None and run_once.f_code is RUN_CODE:
            turn = run_once.f_back
            if turn is not None and turn.f_code is _RUN_ONCE:
                started = turn.f_locals.get("end_time")
                began = float(started) if isinstance(started, (int, float)) else None
        self.sample = _Sample(due, began, tracker, stack_entries(frames))

    def stack_of(self, tracker: ConnectionTracker, running: object) -> list[TracebackEntry] | None:
        """Where the handler's task is: the loop thread's frames while it runs, else where it waits."""
        task = tracker.task
        if task is None:
            return None
        if task is running:
            frame = thread_frame(self.thread_id)
            try:
                root = task.get_coro().cr_frame  # type: ignore[attr-defined]
            except Exception:
                root = None
            frames = callback_frames(frame, root) if frame is not None else []
        else:
            frames = task_frames(task)
        return stack_entries(frames) if frames else None


class Watchdog:
    """Watches the loops of one recorder's connections (see the module's docstring).

    ``report_lag(worst, mean)`` is called on the loop's thread once a second while connections are
    open (seconds); ``report_block(tracker, block)`` on the loop's thread when a block ends, with the
    connection whose handler held the loop (None: none did). Handler states go to their trackers,
    from the watchdog's thread. ``block_after``: loop holds this long (seconds) or more are blocks
    (None: none are).
    """

    def __init__(self, report_lag: LagReport, report_block: BlockReport, block_after: float | None) -> None:
        self.report_lag = report_lag
        self.report_block = report_block
        self.block_after = block_after
        self._watches: dict[asyncio.AbstractEventLoop, _Watch] = {}
        self._handlers_at = 0.0  # when the thread next looks at the handlers

    # -- on the loop's thread, in the handler's task ---------------------------------------------

    def opened(self, tracker: ConnectionTracker) -> None:
        """A connection opened: watch its loop, its handler's task."""
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # no asyncio loop runs (a recorder fed by hand, trio): nothing to watch
            return
        task = asyncio.current_task(loop)
        watch = self._watches.get(loop)
        if watch is None:
            watch = self._watches[loop] = _Watch(loop, threading.get_ident(), self)
        tracker.task = task
        watch.trackers[tracker] = None
        if task is not None:
            watch.tasks[task] = tracker
        if not watch.beating:
            watch.start()
        _thread.watch(self)

    def closed(self, tracker: ConnectionTracker) -> None:
        """A connection's handler ended (its last beat then stops the loop's heartbeat)."""
        task, tracker.task = tracker.task, None
        for loop, watch in list(self._watches.items()):
            if watch.trackers.pop(tracker, 0) is None:
                if task is not None:
                    watch.tasks.pop(task, None)
                if not watch.trackers:
                    self._watches.pop(loop, None)
                return

    @property
    def watching(self) -> bool:
        return any(watch.trackers for watch in list(self._watches.values()))

    def look(self) -> float | None:
        """One look at every watched loop and, when due, at the handlers; returns the seconds until
        the next (None: nothing open, wait to be woken)."""
        # It runs some ten times a second while connections are open: a plain loop and comparisons,
        # where a comprehension and min() would each cost a call.
        watches: list[_Watch] = []
        for loop, watch in list(self._watches.items()):
            if loop.is_closed() or not loop.is_running():
                # Its handlers will never end (a server in a thread, stopped without them): forget it.
                self._watches.pop(loop, None)
            elif watch.handle is not None and watch.trackers:  # beating, with connections open
                watches.append(watch)
        if not watches:
            return None
        now = time.monotonic()
        wake = now + HANDLER_EVERY
        for watch in watches:
            due = watch.look(now)
            if due < wake:
                wake = due
        if now >= self._handlers_at:
            self._handlers_at = now + HANDLER_EVERY
            self.look_at_handlers(watches)
        handlers_at = self._handlers_at
        return (wake if wake < handlers_at else handlers_at) - time.monotonic()

    def look_at_handlers(self, watches: list[_Watch]) -> None:
        """Report each state that has lasted, and the end of each one reported.

        It runs for every open connection twice a second: the tracker's slots are read here
        without a call or a tuple per connection (see ConnectionTracker.doing for their order)."""
        now = time.time()
        for watch in watches:
            running = asyncio.current_task(watch.loop)
            for tracker in list(watch.trackers):
                state: HandlerDoing
                sending, sent = tracker.sending, tracker.sent
                if sending > sent:
                    state, since = "sending", sending
                else:
                    receiving, received = tracker.receiving, tracker.received
                    if receiving > received:
                        state, since = "receiving", receiving
                    else:
                        state, since = "working", received if received > sent else sent
                reported = tracker.reported
                if reported is not None and reported.since == since and reported.state == state:
                    continue
                if tracker.closed:
                    continue  # the handler may run on; the connection is over, and its close says so
                if reported is not None:
                    tracker.report_state(None)
                if now - since < LASTING:
                    continue
                stack = watch.stack_of(tracker, running) if state != "receiving" else None
                tracker.report_state(HandlerState(state=state, since=since, stack=stack))


class _Thread:
    """The one thread that looks, for every watchdog of the process with connections open."""

    def __init__(self) -> None:
        self._watchdogs: dict[Watchdog, None] = {}
        self._thread: threading.Thread | None = None
        self._wake = threading.Event()
        self._lock = threading.Lock()

    def watch(self, watchdog: Watchdog) -> None:
        """Look for ``watchdog`` too, which has a connection open."""
        self._watchdogs[watchdog] = None
        self._wake.set()
        if self._thread is None:
            with self._lock:
                if self._thread is None:
                    self._thread = threading.Thread(target=self._run, name="wsinspect-watchdog", daemon=True)
                    self._thread.start()

    def _run(self) -> None:
        while True:
            wake: float | None = None
            for watchdog in list(self._watchdogs):
                try:
                    delay = watchdog.look()
                except Exception:
                    watchdog_failed()
                    delay = HANDLER_EVERY
                if delay is None:
                    # Nothing open: opened() puts it back. A connection opened since look() is seen here.
                    self._watchdogs.pop(watchdog, None)
                    if watchdog.watching:
                        self._watchdogs[watchdog] = None
                        delay = 0.0
                if delay is not None and (wake is None or delay < wake):
                    wake = delay
            if wake is None:
                self._wake.wait()  # nothing open anywhere: not a wake-up until a connection opens
                self._wake.clear()
            elif wake > 0:
                time.sleep(wake)  # cheaper than an Event's timed wait; a new loop waits at most this


_thread = _Thread()


def block_after(loop_block_ms: float | None) -> float | None:
    """The config's ``loop_block_ms`` in seconds."""
    return None if loop_block_ms is None else loop_block_ms / 1000
