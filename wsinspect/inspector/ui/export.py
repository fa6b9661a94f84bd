"""Writing the session to a file, and asking first when quitting or clearing would lose frames
that were never written anywhere (the export and confirm flows of :class:`~.app.InspectorApp`)."""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from datetime import datetime
from functools import partial
from pathlib import Path
from time import time

from rich.text import Text
from textual.app import App
from textual.css.query import NoMatches
from textual.widgets import ProgressBar, Static
from textual.worker import Worker

from ...model import Connection
from ...sessions import Progress, SessionFileError, Written, write_session
from ..core.interface import StoreView
from .screens import ConfirmClearScreen, ConfirmQuitScreen, ConfirmScreen, ExportScreen

__all__ = ("ExportFlow",)


class ExportFlow(App[None]):
    """The inspector's export, export-as, replay-one-connection, quit and clear (a part of
    :class:`~.app.InspectorApp`, which provides what is declared here)."""

    store: StoreView
    export_dir: Path
    no_confirm: bool
    last_export: Path | None = None  # the file the last export wrote
    # ``store.frames_received`` when the whole session was last exported: the frames after it are
    # saved nowhere; and the clears (ctrl+l) so far: an export taken before one says nothing of the
    # frames after it.
    _saved_frames: int
    _clears: int

    def _selected_connection(self) -> str | None:
        raise NotImplementedError

    def _forget_shown(self) -> None:
        """The session was cleared: the screen shows it so."""
        raise NotImplementedError

    def action_export(self) -> None:
        self.export_to(self._default_export_path())

    def _default_export_path(self) -> Path:
        return self.export_dir / f"wsinspect-{datetime.now():%Y%m%d-%H%M%S}.json"

    def action_export_as(self) -> None:
        default = self._default_export_path()

        def chosen(path: str | None) -> None:
            if path:
                self.export_to(self.export_dir / Path(path).expanduser())

        self.push_screen(ExportScreen(str(default)), chosen)

    def action_replay_connection(self) -> None:
        """The selected connection alone in a session file, and the command that replays it into the
        app (``wsinspect replay``): the step from "I saw the bug" to "the bug has a test"."""
        connection_id = self._selected_connection()
        entry = self.store.entries.get(connection_id) if connection_id else None
        if entry is None:
            self.notify("No connection selected", severity="warning")
            return
        path = self.export_dir / f"wsinspect-c{entry.number}-{datetime.now():%Y%m%d-%H%M%S}.json"
        command = f"wsinspect replay {path} --app MODULE:APP"
        self.export_to(
            path,
            [self.store.snapshot(entry.connection.connection_id)],
            then=f"Replay it into your app (copied): {command}",
        )
        self.copy_to_clipboard(command)

    def export_to(
        self,
        path: Path,
        connections: list[Connection] | None = None,
        *,
        then: str = "",
        after: Callable[[str], None] | None = None,
    ) -> Worker[None]:
        """Write the session (or ``connections``) there (session JSON, or HAR when the name ends in
        .har; gzip when it ends in .gz) in a thread, the screen showing its progress while it takes a
        while; ``then`` is said once it is written, and ``after`` is called with what was written
        ("Wrote 3 connections, 12 frames to x.json"), unless the export failed."""
        saved: tuple[int, int] | None = None  # the whole session: its frames, once written, are saved
        if connections is None:  # the whole session: a live store's copied now, a capture read in the thread
            export = self.store.exporter()
            saved = (self._clears, self.store.frames_received)
        else:
            export = partial(_write_connections, connections)

        def write() -> None:
            def progress(done: int, total: int) -> None:
                if 0 < done < total:  # a second call: it takes a while
                    self.call_from_thread(self._export_progress, path, done, total)

            try:
                written = export(path, time(), progress)
            except SessionFileError as exc:
                self.call_from_thread(self._export_done, path, None, str(exc))
                return
            self.call_from_thread(self._export_done, path, written.summary(), "", then, saved, after)

        return self.run_worker(write, thread=True, group="export", exit_on_error=False)

    def _export_progress(self, path: Path, done: int, total: int) -> None:
        box = self.query_one("#export")
        box.display = True
        self.query_one("#export-label", Static).update(f"exporting {path.name}: {done:,} of {total:,} frames")
        self.query_one("#export-bar", ProgressBar).update(total=total, progress=done)

    def _export_done(
        self,
        path: Path,
        summary: str | None,
        error: str,
        then: str = "",
        saved: tuple[int, int] | None = None,
        after: Callable[[str], None] | None = None,
    ) -> None:
        with contextlib.suppress(NoMatches):  # the app may have closed meanwhile
            self.query_one("#export").display = False
        if summary is None:
            self.notify(error, severity="error", timeout=10)
            return
        summary = summary[:1].upper() + summary[1:]
        self.notify(summary + (f"\n{then}" if then else ""), timeout=20 if then else 10)
        self.last_export = path
        if saved is not None and saved[0] == self._clears:  # no clear since it began
            self._saved_frames = max(self._saved_frames, saved[1])
        if after is not None:
            after(summary)

    # -- quit and clear: asked first when frames not exported would be lost ------------------

    @property
    def unexported_frames(self) -> int:
        """Frames that came since the whole session was last exported (or the file was opened, or
        the session cleared): what quitting or clearing would lose. Log lines and ◉ rows are not
        counted: they belong to connections whose frames are."""
        if self.store.kept_on_disk:
            return 0  # they are in the capture
        return max(0, self.store.frames_received - self._saved_frames)

    async def action_quit(self) -> None:
        """q, ctrl+q and the palette's Quit. SIGTERM and SIGHUP call ``exit`` itself: they never ask."""
        screen = self.screen
        if isinstance(screen, ConfirmScreen):  # ctrl+q (a priority key) while it asks
            if isinstance(screen, ConfirmQuitScreen):
                self.exit()  # asked already: the second quit goes
                return
            screen.dismiss(None)  # asking about a clear: ask about quitting instead
        self._ask_first(ConfirmQuitScreen, self.exit, lambda summary: self.exit(message=Text(f"wsinspect: {summary}")))

    def action_clear_session(self) -> None:
        self._ask_first(ConfirmClearScreen, self._clear_session, lambda _summary: self._clear_session())

    def _ask_first(
        self, question: type[ConfirmScreen], go: Callable[[], None], go_after_export: Callable[[str], None]
    ) -> None:
        """``go`` at once when no frame would be lost (or with --no-confirm); else ask. ``e`` exports
        the session as ``e`` does and, once it is written, goes on (``go_after_export``, with what
        was written); a failed export stays, its error on screen."""
        if self.no_confirm or not self.unexported_frames:
            go()
            return

        def answered(answer: str | None) -> None:
            if answer == "go":
                go()
            elif answer == "export":
                self.export_to(self._default_export_path(), after=go_after_export)

        self.push_screen(question(lambda: self.unexported_frames), answered)

    def _clear_session(self) -> None:
        self.store.clear()
        self._clears += 1
        self._saved_frames = 0  # what was cleared is gone: the count starts again
        self._forget_shown()
        self.notify("Session cleared")


def _write_connections(
    connections: list[Connection], path: Path, exported_at: float, progress: Progress | None
) -> Written:
    return write_session(path, connections, exported_at, progress=progress)
