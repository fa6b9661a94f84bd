"""A traceback in the detail pane: the app's own frames in full, library frames folded."""

from __future__ import annotations

from wsinspect.inspector.ui.tracebacks import SHOWN_LIBRARY_FRAMES, traceback_text
from wsinspect.model import TracebackEntry

ASYNCIO = "/usr/lib/python3.12/asyncio/tasks.py"
LITESTAR = "/x/.venv/lib/python3.12/site-packages/litestar/routes/websocket.py"
HANDLERS = "chat/handlers.py"  # as the app records it: relative to its working directory


def entry(file: str, function: str, *, line: int = 1, code: str = "", app: bool = False) -> TracebackEntry:
    return TracebackEntry(file=file, line=line, function=function, code=code, app=app)


def test_app_frames_in_full_and_library_runs_folded() -> None:
    entries = [
        entry(ASYNCIO, "Task.__step", code="result = coro.send(None)"),
        entry(LITESTAR, "WebSocketRoute.handle", code="await self.handler(socket)"),
        entry(HANDLERS, "chat_room", line=42, code="await join(room)", app=True),
        entry(HANDLERS, "join", line=57, code='raise ValueError("full")', app=True),
        entry("/x/.venv/lib/python3.12/site-packages/msgspec/json.py", "decode"),
    ]
    text = traceback_text(entries)
    assert text.plain.splitlines() == [
        "Traceback (most recent call last)",
        "  … 2 frames in asyncio, litestar",
        "  chat/handlers.py:42 in chat_room",
        "      await join(room)",
        "  chat/handlers.py:57 in join",
        '      raise ValueError("full")',
        "  … 1 frame in msgspec",
    ]
    bold = {text.plain[span.start : span.end].strip() for span in text.spans if span.style == "bold"}
    assert "chat/handlers.py:42 in chat_room" in bold
    dim = {text.plain[span.start : span.end].strip() for span in text.spans if span.style == "dim"}
    assert "… 2 frames in asyncio, litestar" in dim


def test_a_fold_names_each_package_once_in_order() -> None:
    entries = [
        entry(LITESTAR, "a"),
        entry(ASYNCIO, "b"),
        entry("/x/.venv/lib/python3.12/site-packages/litestar/app.py", "c"),
        entry("/usr/lib/python3.12/functools.py", "d"),
        entry("app.py", "handler", line=3, app=True),
    ]
    lines = traceback_text(entries).plain.splitlines()
    assert lines[1] == "  … 4 frames in litestar, asyncio, functools"
    assert lines[2] == "  app.py:3 in handler"  # a short path stays whole, and no code: no code line
    assert len(lines) == 3


def test_the_apps_files_are_shown_as_recorded_and_library_files_cut() -> None:
    """The app's files as the app named them (an absolute one when outside its working directory),
    never cut to parts that read as neither ("tmp/userapp/app.py"); library files cut."""
    entries = [
        entry("/tmp/userapp/app.py", "handler", line=16, app=True),
        entry(LITESTAR, "inner", line=5),
    ]
    assert traceback_text(entries).plain.splitlines()[1] == "  /tmp/userapp/app.py:16 in handler"
    assert traceback_text(entries[1:]).plain.splitlines()[1] == "  litestar/routes/websocket.py:5 in inner"


def test_only_library_frames_show_the_innermost_unfolded() -> None:
    entries = [entry(ASYNCIO, f"outer{n}") for n in range(4)] + [
        entry(LITESTAR, f"inner{n}", line=10 + n, code=f"step{n}()") for n in range(SHOWN_LIBRARY_FRAMES)
    ]
    lines = traceback_text(entries).plain.splitlines()
    assert lines[:2] == ["Traceback (most recent call last)", "  … 4 frames in asyncio"]
    shown = lines[2:]
    assert len(shown) == 2 * SHOWN_LIBRARY_FRAMES
    for n in range(SHOWN_LIBRARY_FRAMES):
        assert shown[2 * n] == f"  litestar/routes/websocket.py:{10 + n} in inner{n}"
        assert shown[2 * n + 1] == f"      step{n}()"


def test_few_library_frames_alone_are_all_shown() -> None:
    entries = [entry(ASYNCIO, "outer"), entry(LITESTAR, "inner", line=5)]
    assert traceback_text(entries).plain.splitlines() == [
        "Traceback (most recent call last)",
        "  python3.12/asyncio/tasks.py:1 in outer",
        "  litestar/routes/websocket.py:5 in inner",
    ]


def test_no_entries_no_text() -> None:
    text = traceback_text([])
    assert text.plain == ""
    assert len(text) == 0
