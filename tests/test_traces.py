"""Tracebacks as the inspector shows them, and what refused a handshake, read from one."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from types import TracebackType

import msgspec
import pytest

import wsinspect
from wsinspect.capture.traces import (
    MAX_ENTRIES,
    describe_exception,
    is_app_file,
    refused_by,
    source_path,
    traceback_entries,
)
from wsinspect.model import TracebackEntry

HERE = str(Path(__file__))
SHOWN_HERE = os.path.relpath(HERE)  # the tests run from the checkout: this file is under the working directory
PACKAGE = Path(wsinspect.__file__).parent


def line_of(marker: str) -> int:
    """The number of this file's line that ends with ``marker``."""
    lines = Path(__file__).read_text().splitlines()
    found = [number for number, line in enumerate(lines, start=1) if line.rstrip().endswith(marker)]
    assert len(found) == 1, marker
    return found[0]


def innermost() -> None:
    raise RuntimeError("boom")  # <- raises


def middle() -> None:
    innermost()  # <- calls innermost


class Room:
    def join(self) -> None:
        middle()  # <- calls middle


def caught(call: object) -> BaseException:
    try:
        call()  # type: ignore[operator]  # <- calls the callable
    except BaseException as exc:
        return exc
    raise AssertionError("nothing was raised")


def recurse(depth: int) -> None:
    if depth == 0:
        raise ValueError("deep")  # <- deepest
    recurse(depth - 1)


def tb_of(exc: BaseException) -> TracebackType | None:
    return exc.__traceback__


# traceback_entries


def test_entries_run_outermost_first_with_qualnames_lines_and_code() -> None:
    entries = traceback_entries(tb_of(caught(Room().join)))
    assert [entry.function for entry in entries] == ["caught", "Room.join", "middle", "innermost"]
    assert [entry.line for entry in entries] == [
        line_of("# <- calls the callable"),
        line_of("# <- calls middle"),
        line_of("# <- calls innermost"),
        line_of("# <- raises"),
    ]
    assert entries[-1].code == 'raise RuntimeError("boom")  # <- raises'
    assert entries[1].code == "middle()  # <- calls middle"
    assert all(entry.file == SHOWN_HERE for entry in entries)
    assert all(entry.app for entry in entries)


def test_standard_library_frames_are_not_the_apps() -> None:
    def parse() -> None:
        json.loads("{not json")

    entries = traceback_entries(tb_of(caught(parse)))
    assert entries[0].function == "caught"
    assert entries[1].function.endswith("parse")
    assert entries[0].app
    assert entries[1].app
    library = entries[2:]
    assert library, "json's own frames are in the traceback"
    assert all(not entry.app for entry in library)
    assert all(entry.file.startswith(str(Path(json.__file__).parent)) for entry in library)
    assert library[0].function == "loads"
    assert all(entry.code for entry in library)  # the standard library's source is there to read


def test_no_traceback_gives_no_entries() -> None:
    assert traceback_entries(None) == []
    assert traceback_entries(ValueError("never raised").__traceback__) == []


def test_a_deep_traceback_keeps_the_innermost_frames() -> None:
    depth = MAX_ENTRIES + 40
    exc = caught(lambda: recurse(depth))
    entries = traceback_entries(tb_of(exc))
    assert len(entries) == MAX_ENTRIES
    assert all(entry.function == "recurse" for entry in entries)
    assert entries[-1].line == line_of("# <- deepest")
    assert entries[-1].code == 'raise ValueError("deep")  # <- deepest'


def raiser_in(path: Path, filename: str | None = None) -> object:
    """A function defined in the file at ``path`` (compiled as ``filename``, when given) that raises."""
    path.write_text("def long_line():\n    raise ValueError(" + repr("x" * 300) + ")\n")
    namespace: dict[str, object] = {}
    exec(compile(path.read_text(), filename or str(path), "exec"), namespace)
    return namespace["long_line"]


def test_a_long_source_line_is_cut(tmp_path: Path) -> None:
    source = tmp_path / "long.py"
    entries = traceback_entries(tb_of(caught(raiser_in(source))))
    assert entries[-1].file == str(source)  # outside the working directory: absolute
    assert entries[-1].line == 2
    assert entries[-1].code == "raise ValueError('" + "x" * 182
    assert len(entries[-1].code) == 200


# source_path: relative to the working directory when under it, absolute otherwise


def test_files_under_the_working_directory_are_relative_to_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "chat").mkdir()
    raiser = raiser_in(tmp_path / "chat" / "handlers.py")
    monkeypatch.chdir(tmp_path)
    assert traceback_entries(tb_of(caught(raiser)))[-1].file == "chat/handlers.py"
    assert source_path(str(tmp_path / "chat" / "handlers.py")) == "chat/handlers.py"
    assert source_path("chat/handlers.py") == "chat/handlers.py"  # imported relative to it
    assert source_path(str(tmp_path / "chat" / ".." / "app.py")) == "app.py"
    monkeypatch.chdir(tmp_path / "chat")  # asked again: where the app is now
    assert source_path(str(tmp_path / "app.py")) == str(tmp_path / "app.py")
    assert source_path(str(tmp_path / "chat" / "handlers.py")) == "handlers.py"


def test_files_reached_through_a_link_are_relative_to_the_real_working_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "real").mkdir()
    (tmp_path / "link").symlink_to(tmp_path / "real")
    raiser = raiser_in(tmp_path / "real" / "app.py", str(tmp_path / "link" / "app.py"))
    monkeypatch.chdir(tmp_path / "link")  # the working directory is the real one
    assert traceback_entries(tb_of(caught(raiser)))[-1].file == "app.py"


def test_from_the_root_every_file_is_absolute(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir("/")
    assert traceback_entries(tb_of(caught(Room().join)))[-1].file == HERE
    assert source_path(HERE) == HERE


@pytest.mark.parametrize("filename", ["", "<frozen importlib._bootstrap>", "<string>"])
def test_pseudo_files_keep_their_names(filename: str) -> None:
    assert source_path(filename) == filename


# is_app_file


def test_the_apps_own_files() -> None:
    assert is_app_file(HERE)
    assert is_app_file(__file__)
    assert is_app_file(str(PACKAGE / "inspector" / "demo.py"))  # the demo's handlers are app code


def test_library_files_are_not_the_apps() -> None:
    assert not is_app_file(json.__file__)
    assert not is_app_file(msgspec.__file__)
    assert not is_app_file(pytest.__file__)
    assert not is_app_file("/somewhere/else/.venv/lib/python3.12/site-packages/litestar/app.py")


@pytest.mark.parametrize("filename", ["", "<frozen importlib._bootstrap>", "<string>", "<stdin>"])
def test_pseudo_files_are_not_the_apps(filename: str) -> None:
    assert not is_app_file(filename)


@pytest.mark.parametrize("name", ["capture/tracker.py", "capture/middleware.py", "litestar.py", "uvicorn.py"])
def test_wsinspects_app_side_is_not_the_apps(name: str) -> None:
    assert not is_app_file(str(PACKAGE / name))


def test_standard_library_of_the_base_interpreter_is_not_the_apps() -> None:
    assert not is_app_file(
        str(Path(sys.base_prefix) / "lib" / f"python3.{sys.version_info.minor}" / "asyncio" / "tasks.py")
    )


# describe_exception


def test_describe_type_and_message() -> None:
    assert describe_exception(ValueError("bad room"), 100) == "ValueError: bad room"


def test_describe_without_a_message() -> None:
    assert describe_exception(KeyboardInterrupt(), 100) == "KeyboardInterrupt"
    assert describe_exception(RuntimeError(""), 100) == "RuntimeError"


def test_describe_cuts_a_long_message() -> None:
    text = describe_exception(ValueError("a" * 50), 10)
    assert text == "ValueError: " + "a" * 10 + "…"
    assert describe_exception(ValueError("a" * 10), 10) == "ValueError: " + "a" * 10


def test_describe_an_exception_whose_str_fails() -> None:
    class Broken(Exception):
        def __str__(self) -> str:
            raise RuntimeError("no text")

    assert describe_exception(Broken("x"), 100) == "Broken"


# refused_by


def frame(function: str, *, app: bool = False, file: str = "") -> TracebackEntry:
    default = "/home/me/proj/chat/handlers.py" if app else "/x/.venv/lib/python3.12/site-packages/litestar/x.py"
    return TracebackEntry(file=file or default, line=1, function=function, app=app)


SERVER = [frame("WebSocketRoute.handle"), frame("ASGIRouter.__call__")]


def test_refused_by_a_guard() -> None:
    entries = [*SERVER, frame("BaseRouteHandler.authorize_connection"), frame("requires_token", app=True)]
    assert refused_by(entries, "chat.handlers.chat_room") == "guard requires_token"


def test_refused_by_a_guard_behind_library_frames() -> None:
    entries = [
        *SERVER,
        frame("BaseRouteHandler.authorize_connection"),
        frame("sync_to_thread"),
        frame("run_sync"),
        frame("auth.requires_token", app=True),
        frame("Token.check", app=True),
    ]
    assert refused_by(entries, None) == "guard requires_token"


def test_refused_by_a_guard_in_a_library() -> None:
    entries = [*SERVER, frame("BaseRouteHandler.authorize_connection"), frame("JWTAuth.guard")]
    assert refused_by(entries, None) == "guard guard"


def test_refused_by_a_litestar_dependency() -> None:
    entries = [*SERVER, frame("resolve_dependency"), frame("maybe_async"), frame("current_user", app=True)]
    assert refused_by(entries, "chat_room") == "dependency current_user"


def test_refused_by_a_fastapi_dependency() -> None:
    entries = [
        frame("app"),
        frame("solve_dependencies"),
        frame("run_in_threadpool"),
        frame("deps.current_user", app=True),
    ]
    assert refused_by(entries, "chat_room") == "dependency current_user"


@pytest.mark.parametrize("function", ["KwargsModel.to_kwargs", "parse_values_from_connection_kwargs"])
def test_refused_by_parameters(function: str) -> None:
    entries = [*SERVER, frame(function), frame("parse_query"), frame("validate")]
    assert refused_by(entries, "chat.handlers.chat_room") == "parameters"


def test_refused_by_the_handler() -> None:
    entries = [*SERVER, frame("chat_room", app=True), frame("load_room", app=True), frame("json.loads")]
    assert refused_by(entries, "chat.handlers.chat_room") == "handler chat_room"


def test_refused_by_the_innermost_app_function() -> None:
    entries = [*SERVER, frame("Room.join", app=True), frame("Room.load", app=True), frame("json.loads")]
    assert refused_by(entries, None) == "load"
    assert refused_by(entries, "chat.handlers.other") == "load"


def test_refused_by_the_handler_without_a_traceback() -> None:
    assert refused_by([], "chat.handlers.chat_room") == "handler chat_room"
    assert refused_by(SERVER, "chat_room") == "handler chat_room"


def test_refused_by_nothing_known() -> None:
    assert refused_by([], None) == "the app"
    assert refused_by(SERVER, None) == "the app"


def test_a_caller_frame_last_of_all_is_not_an_answer() -> None:
    entries = [*SERVER, frame("current_user", app=True), frame("resolve_dependency")]
    assert refused_by(entries, None) == "current_user"
