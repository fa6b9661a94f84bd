"""``wsinspect replay``: what clients sent, fed back into the app in process, and what it answers
compared with what it answered then.

From Python (a test)::

    from wsinspect.replay import replay_session

    report = replay_session("session.json", "myapp.main:app", ignore=["meta.ts"])
    assert report.ok, report.text()

The app runs in this process, under its lifespan, with wsinspect's own recording off
(``WSINSPECT_ENABLED=0``): a replay does not stream to an inspector. What the app logs or writes
to stderr meanwhile is kept, per connection, for the report (``text()`` shows a connection's under
it when it differs, every one with ``verbose=True``), instead of being printed.
"""

from __future__ import annotations

import asyncio
import fnmatch
import importlib
import os
import re
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..model import Connection
from ..sessions import SessionFileError, read_session
from .compare import Comparer, parse_path
from .driver import ASGIApp, Fault, ReplayError, Timing, drive, lifespan, redacted_headers, redacted_query
from .judge import Verdict, judge, judge_fault, unreplayable
from .output import AppOutput, for_connection, kept

__all__ = ("ConnectionResult", "ReplayError", "ReplayReport", "load_app", "replay", "replay_session", "select")


@dataclass(slots=True)
class ConnectionResult:
    number: int  # its cN in the session (c1 first, as the inspector numbers them)
    connection: Connection
    verdict: Verdict
    logged: list[str] = field(default_factory=list)  # what the app logged (and wrote to stderr) meanwhile
    traceback: list[str] = field(default_factory=list)  # of what the app raised, when no record held it

    def lines(self, verbose: bool = False) -> list[str]:
        """Its headline and details; what the app logged and its traceback too when it differs
        (or ``verbose``)."""
        conn = self.connection
        lines = [f"c{self.number} {conn.path}: {self.verdict.headline}", *self.verdict.details]
        if verbose or self.verdict.status == "differs":
            if self.logged:
                lines += ["  the app logged:", *(f"    {line}" for line in self.logged)]
            if self.traceback:
                lines += ["  the app's traceback:", *(f"    {line}" for line in self.traceback)]
        return lines


@dataclass(slots=True, repr=False)
class ReplayReport:
    results: list[ConnectionResult]
    notes: list[str] = field(default_factory=list)  # what the user should know (redacted headers)
    logged: list[str] = field(default_factory=list)  # what the app logged outside any connection

    def __repr__(self) -> str:  # what pytest shows of a failed ``assert report.ok``: short
        return f"<ReplayReport: {self.summary()}>"

    @property
    def ok(self) -> bool:
        return all(result.verdict.status == "ok" for result in self.results)

    @property
    def exit_code(self) -> int:
        """0 when every connection matched, 1 when one differs, 2 when one could not be replayed."""
        statuses = {result.verdict.status for result in self.results}
        return 1 if "differs" in statuses else 2 if "skipped" in statuses else 0

    def summary(self) -> str:
        counts = {status: sum(r.verdict.status == status for r in self.results) for status in ("ok", "differs")}
        skipped = sum(r.verdict.status == "skipped" for r in self.results)
        parts = [f"{counts['ok']} ok", f"{counts['differs']} differ{'s' if counts['differs'] == 1 else ''}"]
        if skipped:
            parts.append(f"{skipped} not replayed")
        total = len(self.results)
        return f"{total} connection{'s' if total != 1 else ''} replayed: {', '.join(parts)}"

    def text(self, verbose: bool = False) -> str:
        """The report: a line per connection (more when it differs), then the summary. With
        ``verbose``, what the app logged under every connection, and outside any first."""
        lines = [line for result in self.results for line in result.lines(verbose)]
        if verbose and self.logged:
            lines[:0] = ["the app logged outside any connection:", *(f"  {line}" for line in self.logged)]
        return "\n".join([*self.notes, *lines, self.summary()])


def load_app(spec: str, app_dir: str | Path | None = ".") -> ASGIApp:
    """The ASGI app ``module:attribute`` names (as uvicorn takes it), imported with ``app_dir``
    first on ``sys.path``; raises ReplayError with one line when that fails."""
    module_name, _, attribute = spec.partition(":")
    if not module_name or not attribute:
        raise ReplayError(f"--app takes module:attribute (as uvicorn does), not {spec!r}")
    if app_dir is not None and (where := str(Path(app_dir).resolve())) not in sys.path:
        sys.path.insert(0, where)
    # The app's own wsinspect plugin stays quiet: a replay is no traffic to stream. (It reads the
    # variable when the app is made, at its import.)
    enabled = os.environ.get("WSINSPECT_ENABLED")
    os.environ["WSINSPECT_ENABLED"] = "0"
    try:
        target: Any = importlib.import_module(module_name)
    except Exception as exc:  # whatever the app's import raises
        message = " ".join(str(exc).split())  # one line, whatever the exception's text spans
        raise ReplayError(f"cannot import {module_name!r}: {type(exc).__name__}: {message}") from None
    finally:
        if enabled is None:
            del os.environ["WSINSPECT_ENABLED"]
        else:
            os.environ["WSINSPECT_ENABLED"] = enabled
    for name in attribute.split("."):
        if not hasattr(target, name):
            raise ReplayError(f"{module_name!r} has no attribute {attribute!r}")
        target = getattr(target, name)
    if not callable(target):
        raise ReplayError(f"{spec!r} is not an ASGI app (not callable)")
    return target  # type: ignore[no-any-return]


def select(
    connections: Sequence[Connection], ids: Sequence[str] = (), paths: Sequence[str] = ()
) -> list[tuple[int, Connection]]:
    """The connections to replay, with their numbers: those ``ids`` name (a connection id, or its
    cN) and whose path matches one of ``paths`` (globs); every one when neither is given."""
    numbered = list(enumerate(connections, 1))
    if not numbered:
        raise ReplayError("the session holds no connections")
    chosen = numbered
    if ids:
        wanted = {text.strip() for text in ids}
        chosen = [(n, c) for n, c in chosen if f"c{n}" in wanted or c.connection_id in wanted]
        if not chosen:
            raise ReplayError(f"no connection is {', '.join(sorted(wanted))} (the session has c1 to c{len(numbered)})")
    if paths:
        chosen = [(n, c) for n, c in chosen if any(fnmatch.fnmatchcase(c.path, glob) for glob in paths)]
        if not chosen:
            raise ReplayError(f"no connection's path matches {', '.join(paths)}")
    return chosen


async def replay(
    app: ASGIApp,
    chosen: Sequence[tuple[int, Connection]],
    *,
    ignore: Sequence[str] = (),
    mask: Sequence[str] = (),
    headers: dict[str, str] | None = None,
    query: dict[str, str] | None = None,
    timing: Timing = "turns",
    patience: float = 5.0,
    fault: Fault | None = None,
) -> ReplayReport:
    """Replay each chosen connection into ``app``, one after the other, under its lifespan;
    what the app logs and writes to stderr meanwhile is kept for the report, not printed."""
    paths = [parse_path(path) for path in ignore]
    given = {name.lower(): value for name, value in (headers or {}).items()}
    report = ReplayReport([])
    with kept() as outside:
        async with lifespan(app) as state:
            for number, connection in chosen:
                why = unreplayable(connection)
                if why is not None:
                    report.results.append(ConnectionResult(number, connection, Verdict("skipped", why)))
                    continue
                if redacted := redacted_headers(connection, given):
                    report.notes.append(
                        f"c{number}: recorded as [redacted] and replayed so: {', '.join(redacted)} "
                        "(give the real values with --header NAME:VALUE)"
                    )
                if redacted := redacted_query(connection, query or {}):
                    report.notes.append(
                        f"c{number}: recorded as [redacted] and replayed so: query {', '.join(redacted)} "
                        "(give the real values with --query NAME=VALUE)"
                    )
                with for_connection(AppOutput()) as output:
                    outcome = await drive(
                        app,
                        connection,
                        headers=given,
                        query=query,
                        state=state,
                        timing=timing,
                        patience=patience,
                        fault=fault,
                    )
                if fault is not None:
                    verdict = judge_fault(outcome, fault)
                else:
                    verdict = judge(connection, outcome, Comparer(paths, mask, connection.subprotocol))
                result = ConnectionResult(number, connection, verdict, output.lines(), output.traceback(outcome.error))
                output.close()
                report.results.append(result)
        report.logged = outside.lines()
        outside.close()
    return report


def replay_session(
    session: str | Path,
    app: str | ASGIApp,
    *,
    app_dir: str | Path | None = ".",
    connections: Sequence[str] = (),
    paths: Sequence[str] = (),
    **options: Any,
) -> ReplayReport:
    """Read a session file, replay it into ``app`` (``module:attribute`` or the app itself) and
    compare; the options are :func:`replay`'s. Raises ReplayError before anything is replayed."""
    try:
        recorded = read_session(Path(session))
    except SessionFileError as exc:
        raise ReplayError(str(exc)) from None
    chosen = select(recorded.connections, connections, paths)
    for path in options.get("ignore", ()):
        try:
            parse_path(path)
        except ValueError as exc:
            raise ReplayError(f"--ignore: {exc}") from None
    for pattern in options.get("mask", ()):
        try:
            re.compile(pattern)
        except re.error as exc:
            raise ReplayError(f"--mask {pattern!r}: not a regular expression: {exc}") from None
    target = load_app(app, app_dir) if isinstance(app, str) else app
    return asyncio.run(replay(target, chosen, **options))
