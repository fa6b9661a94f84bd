from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path

import pytest

from wsinspect import __version__
from wsinspect.cli import main
from wsinspect.inspector.files import dumps, write_session
from wsinspect.inspector.store import Store
from wsinspect.model import Connection


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
    import wsinspect.inspector.ui.app as ui_app

    opened: list[Store] = []

    class FakeApp:
        def __init__(self, store: Store, **kwargs: object) -> None:
            opened.append(store)

        def run(self) -> None:
            pass

    monkeypatch.setattr(ui_app, "InspectorApp", FakeApp)
    path = tmp_path / "s.json"
    write_session(path, [Connection(connection_id="c", path="/ws", connected_at=1.0, state="open")], 1764350000.5)
    assert main(["open", str(path)]) == 0
    (store,) = opened
    assert store.as_of == 1764350000.5
    assert set(store.entries) == {"c"}
