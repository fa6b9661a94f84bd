"""`record` killed with SIGKILL under traffic loses at most the last second: its capture database
(or, for a JSON output, its journal) holds every frame before that, in order, as the client saw it,
and `wsinspect recover` and `wsinspect open` read it."""

from __future__ import annotations

import asyncio
import os
import signal
import stat
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from helpers.recording import echo, start_record
from helpers.servers import run_server
from helpers.waiting import until
from litestar import Litestar
from websockets.asyncio.client import connect

from wsinspect import WSInspectConfig
from wsinspect.litestar import WSInspectPlugin
from wsinspect.sessions import read_session
from wsinspect.sessions.sqlite import read_database

SAFE_BEFORE_KILL = 1.5  # seconds: a frame this old when record died was written (at least once a second)


async def talk_until_killed(socket_path: Path, record: subprocess.Popen[str]) -> tuple[list[tuple[float, str]], float]:
    """Echo numbered messages through a real server with the plugin; SIGKILL ``record`` after 3 s,
    keep talking 0.5 s more. Returns the client's (time sent, text) and the moment of the kill."""
    plugin = WSInspectPlugin(WSInspectConfig(socket_path=str(socket_path), app_name="crash"))
    sent: list[tuple[float, str]] = []
    killed_at = 0.0
    with run_server(Litestar([echo], plugins=[plugin])) as server:
        async with connect(server.ws_url("/ws/echo")) as ws:
            start = time.monotonic()
            n = 0
            while time.monotonic() - start < 3.5:
                text = f"m{n}"
                sent.append((time.time(), text))
                await ws.send(text)
                assert await ws.recv() == text.upper()
                n += 1
                if not killed_at and time.monotonic() - start >= 3.0:
                    record.send_signal(signal.SIGKILL)
                    killed_at = time.time()
                await asyncio.sleep(0.002)
    record.wait(timeout=10)
    return sent, killed_at


def recover(capture: Path, output: Path) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "wsinspect", "recover", str(capture), "-o", str(output)]
    return subprocess.run(command, capture_output=True, text=True, timeout=60)


def check_prefix(received: list[str], sent: list[tuple[float, str]], killed_at: float) -> None:
    """What was captured is the client's messages in order, from the first, none missing, and
    every message sent more than SAFE_BEFORE_KILL before the kill is among them."""
    texts = [text for _, text in sent]
    assert received == texts[: len(received)]
    safe = sum(1 for moment, _ in sent if moment < killed_at - SAFE_BEFORE_KILL)
    assert len(received) >= safe > 100, (len(received), safe)


def received_texts(connections: list) -> list[str]:  # type: ignore[type-arg]
    (connection,) = connections
    return [f.content for f in connection.messages if f.direction == "received" and f.message_type == "text"]


async def test_a_killed_capture_keeps_all_but_the_last_second(private_socket: Path, tmp_path: Path) -> None:
    output = tmp_path / "capture.sqlite"
    record, first = start_record(private_socket, output)
    assert "journal" not in first  # the database is the output
    sent, killed_at = await talk_until_killed(private_socket, record)
    assert record.returncode == -signal.SIGKILL
    assert stat.S_IMODE(os.stat(output).st_mode) == 0o600
    check_prefix(received_texts(read_database(output).connections), sent, killed_at)

    recovered = tmp_path / "recovered.json"
    done = await asyncio.to_thread(recover, output, recovered)
    assert done.returncode == 0, done.stderr
    assert done.stderr.startswith("wsinspect: wrote 1 connection, ")
    check_prefix(received_texts(read_session(recovered).connections), sent, killed_at)


async def test_a_killed_json_recording_leaves_a_journal_to_recover(private_socket: Path, tmp_path: Path) -> None:
    output = tmp_path / "session.json"
    journal = tmp_path / "session.json.journal.sqlite"
    record, first = start_record(private_socket, output)
    assert f"(until then it journals to {journal})" in first
    sent, killed_at = await talk_until_killed(private_socket, record)
    assert not output.exists()
    assert stat.S_IMODE(os.stat(journal).st_mode) == 0o600
    recovered = tmp_path / "recovered.json"
    done = await asyncio.to_thread(recover, journal, recovered)
    assert done.returncode == 0, done.stderr
    check_prefix(received_texts(read_session(recovered).connections), sent, killed_at)


async def test_a_stopped_json_recording_removes_its_journal(private_socket: Path, tmp_path: Path) -> None:
    output = tmp_path / "session.json"
    record, _ = start_record(private_socket, output)
    assert (tmp_path / "session.json.journal.sqlite").exists()
    record.send_signal(signal.SIGINT)
    _, err = record.communicate(timeout=30)
    assert record.returncode == 0, err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["session.json"]


@pytest.mark.parametrize("name", ["capture.sqlite", "capture.DB"])
def test_a_capture_name_is_written_as_a_database(private_socket: Path, tmp_path: Path, name: str) -> None:
    record, _ = start_record(private_socket, tmp_path / name)
    record.send_signal(signal.SIGTERM)
    _, err = record.communicate(timeout=30)
    assert record.returncode == 0, err
    assert err.strip().endswith(f"wrote 0 connections, 0 frames to {tmp_path / name}")
    assert read_database(tmp_path / name).connections == []


@pytest.fixture
def tiny_disk(tmp_path: Path) -> Iterator[Path]:
    """A file system of 1 MiB, full after several hundred frames."""
    mount = tmp_path / "tiny"
    mount.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(mount)], check=True)
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=True)


@pytest.mark.skipif(os.geteuid() != 0, reason="mounting a small file system needs root")
async def test_a_full_disk_stops_the_recording_with_one_line_and_keeps_what_was_written(
    private_socket: Path, tiny_disk: Path
) -> None:
    output = tiny_disk / "capture.sqlite"
    record, _ = start_record(private_socket, output)
    plugin = WSInspectPlugin(WSInspectConfig(socket_path=str(private_socket)))
    with run_server(Litestar([echo], plugins=[plugin])) as server:
        async with connect(server.ws_url("/ws/echo")) as ws:
            sent = 0

            async def stopped() -> bool:
                """Whether record gave up (the disk full); if not, one more echo."""
                nonlocal sent
                if record.poll() is not None:
                    return True
                await ws.send(f"{sent:06d}" + "x" * 1000)
                await ws.recv()
                sent += 1
                return False

            # Every 5 ms: several flushes go through before the disk fills.
            await until(stopped, what="record to stop", patience=60, every=0.005)
            for _ in range(20):  # the app goes on
                await ws.send("still here")
                assert await ws.recv() == "STILL HERE"
    assert record.stderr is not None
    err = record.stderr.read()
    assert record.returncode == 1, err
    (last,) = [line for line in err.splitlines() if "full" in line]
    assert last == (
        f"wsinspect: cannot write {output}: database or disk is full; stopped recording. What was written before "
        f"is in {output}"
    )
    assert "Traceback" not in err
    (connection,) = read_database(output).connections
    texts = [f.content for f in connection.messages if f.direction == "received"]
    assert len(texts) > 10
    assert texts == [f"{i:06d}" + "x" * 1000 for i in range(len(texts))]  # in order, none missing
