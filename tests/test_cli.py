from __future__ import annotations

import asyncio
import gzip
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from helpers.tui import fake_app, status, text_of

from wsinspect import __version__
from wsinspect.cli import main
from wsinspect.formatting import format_size
from wsinspect.inspector.ui.app import InspectorApp
from wsinspect.inspector.ui.connections import ConnectionTable
from wsinspect.model import Connection, Frame, LogLine
from wsinspect.sessions import base as sessions_base
from wsinspect.sessions import dumps, jsonfile, write_session


def test_help(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["--help"])
    assert exit_info.value.code == 0
    out = capsys.readouterr().out
    assert "WebSocket" in out
    assert "record" in out
    assert "open" in out


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["--version"])
    assert exit_info.value.code == 0
    assert __version__ in capsys.readouterr().out


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "wsinspect", *args], capture_output=True, text=True, timeout=30)


def test_a_bad_flag_is_one_line_and_exit_2() -> None:
    result = run_cli("record", "-o", "x.json", "--bogus")
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1
    assert "--bogus" in result.stderr
    assert "Traceback" not in result.stderr


def test_a_bad_number_is_refused(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["record", "-o", "x.json", "--max-messages", "0"])
    assert exit_info.value.code == 2
    assert "must be 1 or more" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["record", "-o", "x.json", "--max-messages", "many"])
    assert "not a whole number" in capsys.readouterr().err


def test_record_refuses_an_unwritable_output_before_listening(tmp_path: Path, private_socket: Path) -> None:
    result = run_cli("record", "-o", str(tmp_path / "missing" / "out.json"))
    assert result.returncode == 1
    missing = tmp_path / "missing"
    assert result.stderr == f"wsinspect: cannot write {missing / 'out.json'}: directory {missing} does not exist\n"
    assert not private_socket.exists()


def test_a_live_inspector_on_the_same_path_is_refused(tmp_path: Path, private_socket: Path) -> None:
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as live:
        live.bind(str(private_socket))
        live.listen()
        result = run_cli("record", "-o", str(tmp_path / "out.json"))
    assert result.returncode == 1
    assert result.stderr == f"wsinspect: another inspector is listening on {private_socket}\n"


# -- wsinspect open: a file that cannot be read is one line, and a file is a fixed moment ------------


def truncated_session(tmp_path: Path) -> Path:
    connection = Connection(connection_id="c", path="/ws", connected_at=1.0, state="open")
    data = dumps([connection], 5.0)
    path = tmp_path / "cut.json"
    path.write_bytes(data[: len(data) // 2])
    return path


def test_open_a_truncated_file_says_it_is_truncated_and_where(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = truncated_session(tmp_path)
    assert main(["open", str(path)]) == 1
    err = capsys.readouterr().err
    assert err.startswith(f"wsinspect: {path}: truncated JSON: the file ends early, at line ")
    assert "column" in err
    assert "before the document is complete" in err
    assert err.count("\n") == 1


def test_open_a_file_that_is_not_json_says_so(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "notes.txt"
    path.write_text("these are my notes\n")
    assert main(["open", str(path)]) == 1
    assert capsys.readouterr().err == (
        f"wsinspect: {path}: not a JSON file: invalid character at line 1, column 5 (byte 4)\n"
    )


def test_open_a_truncated_file_in_a_process_is_one_line_without_traceback(tmp_path: Path) -> None:
    path = truncated_session(tmp_path)
    result = run_cli("open", str(path))
    assert result.returncode == 1
    assert "truncated JSON" in result.stderr
    assert result.stderr.count("\n") == 1
    assert "Traceback" not in result.stderr


def test_open_shows_the_file_as_of_its_export(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    opened = fake_app(monkeypatch)
    path = tmp_path / "s.json"
    write_session(path, [Connection(connection_id="c", path="/ws", connected_at=1.0, state="open")], 1764350000.5)
    assert main(["open", str(path)]) == 0
    (store,) = opened
    assert store.as_of == 1764350000.5
    assert set(store.entries) == {"c"}


# -- wsinspect open: files at scale and bad input ----------------------------------------------


def session_bytes(frames: int = 3) -> bytes:
    messages = [Frame(direction="sent", message_type="text", content=f"m{i}", timestamp=2.0 + i, size_bytes=2)
                for i in range(frames)]  # fmt: skip
    return dumps([Connection(connection_id="c", path="/ws", connected_at=1.0, messages=messages)], 5.0)


BAD_FILES = {
    "random-json": (b'{"hello": "world", "items": [1, 2, 3]}', "neither a wsinspect session nor a HAR file"),
    "json-array": (b"[1, 2, 3]\n", "neither a wsinspect session nor a HAR file"),
    "newer-version": (
        session_bytes().replace(b'"version": 1', b'"version": 2'),
        "session format version 2 is not supported (this wsinspect reads 1)",
    ),
    "not-json": (b"PK\x03\x04 a zip file", "not a JSON file: invalid character at line 1, column 1 (byte 0)"),
    "empty": (b"", "an empty file, not JSON"),
    "truncated-gzip": (
        gzip.compress(session_bytes(2000))[:300],
        "truncated gzip: the file ends before its compressed data does",
    ),
    "corrupt-gzip": (gzip.compress(session_bytes())[:-8] + bytes(8), "corrupt gzip data: CRC check failed"),
    "gzip-of-not-json": (gzip.compress(b"hello"), "not a JSON file: invalid character at line 1, column 1 (byte 0)"),
    "gzip-of-truncated-json": (gzip.compress(session_bytes()[:-20]), "truncated JSON: the file ends early, at line "),
}


@pytest.mark.parametrize("name", BAD_FILES)
def test_open_a_bad_file_is_one_line_and_exit_1(
    name: str, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    opened = fake_app(monkeypatch)
    data, message = BAD_FILES[name]
    path = tmp_path / "session.json"
    path.write_bytes(data)
    assert main(["open", str(path)]) == 1
    err = capsys.readouterr().err
    assert err.startswith(f"wsinspect: {path}: {message}")
    assert err.count("\n") == 1
    assert opened == []


@pytest.mark.parametrize("name", ["corrupt-gzip", "newer-version", "truncated-gzip"])
def test_open_a_bad_file_in_a_process_is_one_line_without_traceback(name: str, tmp_path: Path) -> None:
    data, message = BAD_FILES[name]
    path = tmp_path / "session.json.gz"
    path.write_bytes(data)
    result = run_cli("open", str(path))
    assert result.returncode == 1
    assert result.stderr.startswith(f"wsinspect: {path}: {message}")
    assert result.stderr.count("\n") == 1
    assert "Traceback" not in result.stderr


def test_open_a_directory_or_a_missing_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["open", str(tmp_path)]) == 1
    assert capsys.readouterr().err == f"wsinspect: cannot read {tmp_path}: Is a directory\n"
    assert main(["open", str(tmp_path / "absent.json.gz")]) == 1
    assert (
        capsys.readouterr().err == f"wsinspect: cannot read {tmp_path / 'absent.json.gz'}: No such file or directory\n"
    )


def test_open_a_gzipped_session_and_a_har_without_websockets(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    opened = fake_app(monkeypatch)
    path = tmp_path / "s.json.gz"
    path.write_bytes(gzip.compress(session_bytes()))
    assert main(["open", str(path)]) == 0
    assert len(opened[-1].entries["c"].frames) == 3
    har = tmp_path / "http-only.har"
    har.write_text('{"log": {"version": "1.2", "entries": [{"request": {"url": "https://x/"}, "response": {}}]}}')
    assert main(["open", str(har)]) == 0
    assert opened[-1].entries == {}


def test_open_a_slow_file_shows_its_progress_first(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import wsinspect.commands.progress as progress_line

    opened = fake_app(monkeypatch)
    path = tmp_path / "s.json"
    path.write_bytes(session_bytes(20_000))
    assert main(["open", str(path)]) == 0
    assert capsys.readouterr().err == ""  # quick: nothing
    monkeypatch.setattr(progress_line, "PROGRESS_AFTER", 0.0)  # as if each step took over a second
    monkeypatch.setattr(sessions_base, "PROGRESS_EVERY", 0.0)
    monkeypatch.setattr(jsonfile, "_BLOCK", 1 << 14)
    assert main(["open", str(path)]) == 0
    lines = capsys.readouterr().err.splitlines()
    assert len(lines) >= 2
    assert all(line.startswith(f"wsinspect: reading {path}… ") for line in lines)
    size = format_size(path.stat().st_size)
    assert lines[-1].endswith(f"… 100% ({size} of {size})")
    assert len(opened) == 2


def test_open_keeps_every_frame_of_a_long_connection_up_to_max_frames(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    opened = fake_app(monkeypatch)
    path = tmp_path / "long.json"
    path.write_bytes(session_bytes(12_000))  # more than the live default of 10,000 per connection
    assert main(["open", str(path)]) == 0
    assert len(opened[-1].entries["c"].frames) == 12_000
    assert opened[-1].frames_let_go == 0
    # A bound below it: the newest frames, and a count of the others.
    assert main(["open", "--max-frames", "5000", str(path)]) == 0
    store = opened[-1]
    assert store.max_frames == 5000
    assert len(store.rows) == 5000
    assert store.entries["c"].frames[-1].content == "m11999"
    assert store.frames_let_go == 12_000 - 5000  # the 5,000 rows kept are frames: the connect row went too


def test_open_keeps_every_log_line_of_a_connection_with_few_frames(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The store keeps per connection as many as the file's longest list holds: log lines count too."""
    opened = fake_app(monkeypatch)
    logs = [
        LogLine(timestamp=1.0 + n, level="INFO", levelno=20, logger="app", message=f"l{n}", size_bytes=2)
        for n in range(5)
    ]
    connection = Connection(connection_id="c", path="/ws", connected_at=1.0, logs=logs)
    path = tmp_path / "logs.json"
    path.write_bytes(dumps([connection], 10.0))
    assert main(["open", str(path)]) == 0
    assert [line.message for line in opened[-1].entries["c"].logs] == ["l0", "l1", "l2", "l3", "l4"]


def test_max_frames_must_be_a_positive_number(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as raised:
        main(["--max-frames", "0"])
    assert raised.value.code == 2
    assert "must be 1 or more" in capsys.readouterr().err


def test_pair_by_reaches_the_inspector(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    given: list[dict[str, object]] = []
    fake_app(monkeypatch, given)
    path = tmp_path / "s.json"
    path.write_bytes(session_bytes())
    assert main(["open", "--pair-by", "meta.id", str(path)]) == 0
    assert main(["open", str(path)]) == 0
    assert [kwargs["pair_by"] for kwargs in given] == ["meta.id", ""]


def test_open_a_file_of_exactly_max_frames_frames_shows_them_all_and_none_let_go(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Issue 27: the connect, accept and close rows took the place of frames under --max-frames.
    The real screen, opened by the command: 10 connections x 100 frames, --max-frames 1000."""
    connections = [
        Connection(
            connection_id=f"c{n}",
            path=f"/ws/{n}",
            connected_at=1.0 + n,
            accepted_at=1.1 + n,
            state="closed",
            disconnected_at=1.9 + n,
            close_code=1000,
            closed_by="client",
            messages=[
                Frame(
                    direction="sent", message_type="text", content=f"m{i}", timestamp=1.2 + n + i / 1000, size_bytes=2
                )
                for i in range(100)
            ],
        )
        for n in range(10)
    ]
    path = tmp_path / "thousand.json"
    path.write_bytes(dumps(connections, 20.0))
    seen: dict[str, str] = {}

    async def look(app: InspectorApp) -> None:
        async with app.run_test(size=(160, 45)) as pilot:
            await pilot.pause()
            seen["status"] = status(app)
            seen["table"] = text_of(app.query_one(ConnectionTable))

    monkeypatch.setattr(InspectorApp, "run", lambda self: asyncio.run(look(self)))
    assert main(["open", "--max-frames", "1000", str(path)]) == 0
    assert " 1,000 frames " in seen["status"]
    assert "let go" not in seen["status"]
    assert "not kept" not in seen["table"]
    assert seen["table"].count("Normal Closure") == 10, seen["table"]  # every connection, none missing a frame
