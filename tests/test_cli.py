from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path

import pytest

from wsinspect import __version__
from wsinspect.cli import main


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
