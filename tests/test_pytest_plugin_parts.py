"""The pytest plugin's sans-I/O parts, and its output directory: file names, which test owns a
connection, the failure report, the manifest of the files it wrote."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from wsinspect.model import Connection, Frame, HandlerState, TracebackEntry
from wsinspect.sessions import read_session
from wsinspect.testing.names import MAX_NAME_BYTES, file_name, run_file_name
from wsinspect.testing.output import MANIFEST, Output, OutputError
from wsinspect.testing.owners import Owners
from wsinspect.testing.report import failure_report, handler_line, open_command

# -- file names ----------------------------------------------------------------------------------


def test_a_name_reads_as_its_test_and_ends_in_a_digest() -> None:
    name = file_name("tests/test_chat.py::TestRoom::test_join[alice-1]")
    assert re.fullmatch(r"test_chat\.py--TestRoom--test_join-alice-1-[0-9a-f]{15}\.json", name)


def test_names_are_stable_across_runs() -> None:
    # A digest of our own, not hash(): the same id gives the same name in every process and version.
    assert file_name("tests/test_a.py::test_x") == file_name("tests/test_a.py::test_x")
    assert file_name("tests/test_a.py::test_x").endswith("-0894ddefb7bbbff.json")


@pytest.mark.parametrize(
    ("one", "other"),
    [
        ("tests/a/test_x.py::test_y", "tests/b/test_x.py::test_y"),  # the directories are not in the name
        ("t.py::test[a/b]", "t.py::test[a_b]"),  # read the same
        ("t.py::test_A", "t.py::test_a"),  # a case apart: one file on a case-blind file system
    ],
)
def test_ids_that_read_the_same_still_get_names_of_their_own(one: str, other: str) -> None:
    assert file_name(one) != file_name(other)
    assert file_name(one).lower() != file_name(other).lower()


@given(st.text(min_size=1, max_size=600))
def test_any_id_gives_a_safe_name_of_at_most_255_bytes(nodeid: str) -> None:
    name = file_name(nodeid)
    assert len(name.encode()) <= MAX_NAME_BYTES
    assert re.fullmatch(r"[A-Za-z0-9._+=,@-]+", name)
    assert not name.startswith(("-", "."))
    assert name not in (".", "..")


def test_the_run_file_is_no_test_s_and_one_per_worker() -> None:
    assert run_file_name(None) == "_run.json"
    assert run_file_name("gw1") == "_run-gw1.json"
    assert not re.search(r"-[0-9a-f]{15}\.json$", run_file_name("gw1"))


# -- which test owns a connection ------------------------------------------------------------------


def test_a_connection_belongs_to_the_test_running_when_it_opened() -> None:
    owners = Owners()
    owners.switch("t1", 10.0)
    owners.switch(None, 12.0)  # a session fixture's setup
    owners.switch("t1", 13.0)
    owners.switch(None, 15.0)  # between tests
    owners.switch("t2", 16.0)
    assert [owners.owner_at(t) for t in (9.0, 10.0, 11.9, 12.5, 14.0, 15.5, 16.0, 99.0)] == [
        None, "t1", "t1", None, "t1", None, "t2", "t2",
    ]  # fmt: skip
    assert owners.current == "t2"


def test_a_clock_that_goes_back_never_reorders_the_owners() -> None:
    owners = Owners()
    owners.switch("t1", 10.0)
    owners.switch("t2", 9.0)
    assert owners.owner_at(9.5) is None
    assert owners.owner_at(10.0) == "t2"


def test_forgetting_keeps_the_owner_of_the_moment() -> None:
    owners = Owners()
    for second, owner in enumerate(["a", None, "b", None, "c"]):
        owners.switch(owner, float(second))
    owners.forget_before(2.5)
    assert owners.owner_at(2.6) == "b"
    assert owners.owner_at(4.0) == "c"


# -- the failure report -----------------------------------------------------------------------------


def _frame(direction: str, kind: str, content: object, at: float, code: int | None = None) -> Frame:
    size = len(content) if isinstance(content, str | bytes) else 2
    return Frame(
        direction=direction, message_type=kind, content=content, timestamp=at, size_bytes=size, close_code=code
    )  # type: ignore[arg-type]


def _waited_for_a_reply() -> Connection:
    frames = [
        _frame("received", "text", "hi", 100.001),
        _frame("sent", "text", "hi", 100.002),
        _frame("received", "text", '{"type": "subscribe"}', 100.003),
        _frame("received", "close", "", 102.003, 1000),
    ]
    return Connection(
        connection_id="a",
        path="/ws/echo",
        query_string="room=1",
        connected_at=100.0,
        state="closed",
        disconnected_at=102.003,
        close_code=1000,
        closed_by="client",
        handler="app.echo",
        handler_location="app.py:7",
        closed_while=HandlerState(state="receiving", since=100.004),
        messages=frames,
    )


def test_a_closed_connection_shows_what_its_handler_did_before_the_close() -> None:
    section = failure_report([_waited_for_a_reply()], now=105.0, kept="test-results/wsinspect/x y.json")
    assert section is not None
    title, text = section
    assert title == "wsinspect: 1 connection"
    assert text.splitlines() == [
        "c1 /ws/echo?room=1 (handler echo, app.py:7): closed by client: 1000 Normal Closure, after 2.0s",
        "   handler: waiting in receive() for 2.0s when the connection closed",
        "   last 3 of 4 frames:",
        "     00:00.002 → text hi",
        '     00:00.003 ← text {"type": "subscribe"}',
        "     00:02.003 ← close 1000 Normal Closure",
        "session: wsinspect open 'test-results/wsinspect/x y.json'",
    ]


def test_an_open_connection_shows_what_its_handler_does_as_the_test_fails_with_its_stack_line() -> None:
    stack = [
        TracebackEntry(file="asyncio/tasks.py", line=600, function="sleep"),
        TracebackEntry(file="app.py", line=33, function="app.chat", app=True),
    ]
    open_one = Connection(
        connection_id="b",
        path="/ws/chat",
        connected_at=100.0,
        state="open",
        app="uvicorn",
        pid=4242,
        handler_state=HandlerState(state="working", since=101.0, stack=stack),
    )
    _, text = failure_report([open_one], now=104.5, kept=None) or ("", "")
    assert text.splitlines() == [
        "c1 /ws/chat [uvicorn, pid 4242]: still open (open), for 4.5s",
        "   handler: working for 3.5s at app.py:33 chat() when the test failed",
        "   no frames",
    ]


def test_sending_and_errors_are_said_and_no_state_is_no_line() -> None:
    sending = Connection(
        connection_id="c",
        path="/ws",
        connected_at=1.0,
        state="open",
        handler_state=HandlerState(state="sending", since=2.0),
    )
    assert handler_line(sending, now=4.0) == "stuck in send() for 2.0s when the test failed"
    failed = Connection(
        connection_id="d",
        path="/ws",
        connected_at=1.0,
        state="closed",
        disconnected_at=2.0,
        close_code=1011,
        closed_by="server",
        error="RuntimeError: boom",
        traceback=[TracebackEntry(file="app.py", line=9, function="boom", app=True)],
    )
    assert handler_line(failed, now=4.0) is None
    _, text = failure_report([failed], now=4.0, kept=None) or ("", "")
    assert "   error: RuntimeError: boom at app.py:9 boom()" in text.splitlines()


def test_a_handler_state_of_another_shape_is_left_out_not_a_crash() -> None:
    # The app side's handler state is another issue's, and may change: read defensively.
    odd = Connection(connection_id="e", path="/ws", connected_at=1.0, state="open")
    odd.handler_state = {"state": "receiving"}  # type: ignore[assignment]
    assert handler_line(odd, now=2.0) is None


def test_connections_are_numbered_in_the_order_they_opened_and_none_is_no_section() -> None:
    later = Connection(connection_id="l", path="/later", connected_at=5.0, state="open")
    first = Connection(connection_id="f", path="/first", connected_at=1.0, state="open")
    _, text = failure_report([later, first], now=6.0, kept=None) or ("", "")
    assert [line.split(":")[0] for line in text.splitlines() if line.startswith("c")] == ["c1 /first", "c2 /later"]
    assert failure_report([], now=6.0, kept="x.json") is None


def test_the_open_command_is_ready_to_paste() -> None:
    assert open_command("test-results/wsinspect/a.json") == "wsinspect open test-results/wsinspect/a.json"
    assert open_command("dir with space/a.json") == "wsinspect open 'dir with space/a.json'"


# -- the output directory -------------------------------------------------------------------------


def test_a_written_file_is_a_session_and_noted_before_it_is_written(tmp_path: Path) -> None:
    output = Output(tmp_path / "out" / "wsinspect", shown_from=tmp_path)
    shown = output.write("a.json", [_waited_for_a_reply()])
    assert shown == "out/wsinspect/a.json"
    session = read_session(tmp_path / shown)
    assert [c.closed_while for c in session.connections] == [HandlerState(state="receiving", since=100.004)]
    assert (tmp_path / "out" / "wsinspect" / MANIFEST).read_text() == "a.json\n"
    output.write("a.json", [])  # written again: noted once
    assert (tmp_path / "out" / "wsinspect" / MANIFEST).read_text() == "a.json\n"


def test_cleaning_removes_the_files_written_before_and_nothing_else(tmp_path: Path) -> None:
    directory = tmp_path / "wsinspect"
    earlier = Output(directory, shown_from=tmp_path)
    earlier.write("old.json", [])
    (directory / ".old.json.abc123.tmp").write_text("a write killed halfway")
    (directory / "notes.txt").write_text("the user's")
    (tmp_path / "outside.json").write_text("{}")
    with (directory / MANIFEST).open("a") as manifest:
        manifest.write("../outside.json\n")  # never written by the plugin: not a name of its own
        manifest.write("gone.json\n")  # written as its test went, and removed as it passed
    assert Output(directory, shown_from=tmp_path).clean() == 1
    assert sorted(p.name for p in directory.iterdir()) == ["notes.txt"]
    assert (tmp_path / "outside.json").exists()
    assert Output(directory, shown_from=tmp_path).clean() == 0  # nothing noted: nothing to do


def test_a_directory_that_cannot_be_made_is_one_error_that_names_it(tmp_path: Path) -> None:
    (tmp_path / "a-file").write_text("")
    output = Output(tmp_path / "a-file" / "wsinspect", shown_from=tmp_path)
    with pytest.raises(OutputError, match=r"cannot write .*a-file"):
        output.write("a.json", [])
    assert output.clean() == 0  # nothing to clean there either
