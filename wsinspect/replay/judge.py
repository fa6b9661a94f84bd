"""The verdict on one replayed connection: the recording and what the app did, to report lines
(sans-I/O). ``ok`` when the app sent the same frames in the same order, refused or accepted the
same way, and raised nothing the recording did not; otherwise the first difference, a few frames
of context and a unified diff of the two payloads."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from ..capture.traces import describe_exception, is_disconnect
from ..formatting import preview
from ..model import Connection, Frame
from .compare import Comparer
from .driver import Fault, Outcome, expected_frames

__all__ = ("CONTEXT", "Verdict", "judge", "judge_fault", "unreplayable")

CONTEXT = 3  # frames shown before the first difference
_LINE = 100  # characters of a frame's one-line preview

Status = Literal["ok", "differs", "skipped"]


@dataclass(slots=True)
class Verdict:
    status: Status
    headline: str  # "ok (5 frames sent, as recorded)", "differs at the app's frame 2 of 3"
    details: list[str] = field(default_factory=list)


def unreplayable(connection: Connection) -> str | None:
    """Why a connection cannot be replayed exactly (frames the client sent whose payload was cut
    or not recorded), or None."""
    received = [frame for frame in connection.messages if frame.direction == "received"]
    data = [frame for frame in received if frame.message_type in ("text", "binary")]
    cut = [n for n, frame in enumerate(data, 1) if frame.truncated or frame.content is None]
    if not cut:
        return None
    numbers = ", ".join(map(str, cut[:10])) + (f" and {len(cut) - 10} more" if len(cut) > 10 else "")
    which = f"messages {numbers} were" if len(cut) > 1 else f"message {numbers} was"
    return (
        f"cannot be replayed exactly: the client's {which} recorded truncated or without payload "
        "(max_message_size, show_binary_preview)"
    )


def judge(connection: Connection, outcome: Outcome, comparer: Comparer) -> Verdict:
    recorded_denied = connection.denial_status is not None
    if recorded_denied != (outcome.denial_status is not None and not outcome.accepted):
        if recorded_denied and outcome.accepted:
            return Verdict("differs", "the app accepted it; the recording has the upgrade refused "
                           f"(HTTP {connection.denial_status})")  # fmt: skip
        if outcome.denial_status is None:
            waited = f" (waited for {outcome.waited_for})" if outcome.waited_for else ""
            return Verdict(
                "differs", f"the app neither accepted nor refused the upgrade{waited}", _error_lines(outcome)
            )
        return Verdict("differs", f"the app refused the upgrade (HTTP {outcome.denial_status}); the recording "
                       "has it accepted", _error_lines(outcome))  # fmt: skip
    if outcome.accepted and outcome.subprotocol != connection.subprotocol and not recorded_denied:
        return Verdict("differs", f"the app chose subprotocol {outcome.subprotocol or 'none'}; the recording "
                       f"has {connection.subprotocol or 'none'}")  # fmt: skip
    expected = expected_frames(connection)
    sent = outcome.sent
    for index in range(max(len(expected), len(sent))):
        mine = expected[index] if index < len(expected) else None
        theirs = sent[index] if index < len(sent) else None
        if mine is not None and theirs is not None and comparer.same(mine, theirs):
            continue
        where = f"the app's frame {index + 1} of {len(expected)}"
        details = _context(connection, mine or (expected[-1] if expected else None))
        if mine is None:
            details.append(f"  recorded: nothing more; replayed: {_line('→', theirs)}")
        elif theirs is None:
            waited = f" (waited for {outcome.waited_for})" if outcome.waited_for else ""
            details.append(f"  recorded {_line('→', mine)}")
            details.append(f"  replayed: nothing{waited}")
        else:
            details += [f"  recorded {_line('→', mine)}", f"  replayed {_line('→', theirs)}"]
            details += [f"    {line}" for line in comparer.diff(mine, theirs)]
        return Verdict("differs", f"differs at {where}", details + _error_lines(outcome))
    error = outcome.error
    if error is not None and not is_disconnect(error):
        described = describe_exception(error, 500)
        if described != connection.error:
            recorded = f"the recording has {connection.error}" if connection.error else "the recording has none"
            return Verdict("differs", f"the app raised {described}; {recorded}", _error_lines(outcome))
    if outcome.waited_for is not None and not expected:
        return Verdict("differs", f"no answer: waited for {outcome.waited_for}")
    what = "refused the upgrade, as recorded" if recorded_denied else f"{_frames(len(sent))} sent, as recorded"
    return Verdict("ok", f"ok ({what})")


def judge_fault(outcome: Outcome, fault: Fault) -> Verdict:
    """How the app took a fault played instead of the client's ending: it should end, and raise
    nothing but the disconnect. What it sent is not compared (the recording had no such ending)."""
    what = f"the client vanished after {fault.value} frame{'s' if fault.value != 1 else ''}" if (
        fault.kind == "drop-after") else f"the client closed with {fault.value}"  # fmt: skip
    sent = f"{_frames(len(outcome.sent))} sent"
    error = outcome.error
    if error is not None and not is_disconnect(error):
        return Verdict("differs", f"{what}: the app raised {describe_exception(error, 500)} ({sent})")
    if not outcome.ended:
        return Verdict("differs", f"{what}: the app did not end ({sent})")
    return Verdict("ok", f"ok ({what}: the app ended cleanly, {sent})")


def _frames(count: int) -> str:
    return f"{count} frame{'s' if count != 1 else ''}"


def _context(connection: Connection, before: Frame | None) -> list[str]:
    """The recorded frames just before ``before`` (both directions), one line each."""
    frames = [frame for frame in connection.messages if frame.message_type in ("text", "binary", "close")]
    end = next((n for n, frame in enumerate(frames) if frame is before), len(frames))
    arrows = {"sent": "→", "received": "←"}
    return [f"    {_line(arrows[frame.direction], frame)}" for frame in frames[max(0, end - CONTEXT) : end]]


def _line(arrow: str, frame: Frame | None) -> str:
    if frame is None:
        return "nothing"
    return f"{arrow} {frame.message_type} {preview(frame, _LINE)}"


def _error_lines(outcome: Outcome) -> list[str]:
    error = outcome.error
    if error is None or is_disconnect(error):
        return []
    return [f"  the app raised {describe_exception(error, 500)}"]
