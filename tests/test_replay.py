"""``wsinspect replay``: sessions recorded from a real uvicorn (with wsinspect's Litestar plugin)
and real ``websockets`` clients, written with ``write_session``, then replayed in process into the
apps of ``replay_apps.py`` (the same app, a changed one, a silent one...) through the CLI
(``wsinspect.cli.main``), through ``replay_session()``, and once through a real subprocess.

The replay runs the apps in this process: what their handlers saw goes to ``replay_apps``'s
module-level lists. A replay turns wsinspect's recording off (``WSINSPECT_ENABLED=0``) and puts
the app's directory on ``sys.path`` for good: a fixture undoes both after each test.
"""

from __future__ import annotations

import asyncio
import gc
import importlib.util
import json
import logging
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import msgspec
import pytest
import replay_apps
from helpers.servers import RunningServer, run_server
from helpers.waiting import until
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from wsinspect.capture.recorder import Recorder
from wsinspect.cli import main
from wsinspect.config import WSInspectConfig
from wsinspect.litestar import WSInspectPlugin
from wsinspect.model import REDACTED, Connection, Direction, Frame, MessageType
from wsinspect.replay import ReplayError, replay_session, select
from wsinspect.replay.compare import MASK, Comparer, parse_path
from wsinspect.replay.driver import Fault, build_scope, replace_query
from wsinspect.replay.output import KEPT, AppOutput, for_connection, kept
from wsinspect.sessions import read_session, write_session

TESTS = Path(__file__).resolve().parent
TIMEOUT = 10.0  # a safety net against a hung client, never an assertion
GAP = 0.3  # what the client of the timing connection waits between its two messages
APP = ["--app", "replay_apps:app", "--app-dir", str(TESTS)]
CHANGED = ["--app", "replay_apps:changed_app", "--app-dir", str(TESTS)]
# What makes the whole recorded session match the unchanged app: the JSON handler's timestamp
# differs between the recording and the replay, and the Authorization header was recorded redacted.
MATCHING = ["--ignore", "ts", "--header", "Authorization: Bearer x"]

# The apps as objects. Any: Litestar's __call__ is typed with Litestar's own Scope, Receive and
# Send, which mypy does not take for the callable replay_session's annotation asks for.
SAME_APP: Any = replay_apps.app
CHANGED_APP: Any = replay_apps.changed_app
SILENT_APP: Any = replay_apps.silent_app

# The recorded session, connection by connection (cN: the Nth).
PATHS = [
    "/echo",  # c1: "hello", then "bye": the app closes 4001 "bye"
    "/echo",  # c2: "a", "b", then the client closes 1000
    "/json",  # c3: "hi", "there": {"n", "echo", "ts"} each
    "/binary",  # c4: two MessagePack maps
    "/guarded",  # c5: no token: the guard refuses the upgrade (403)
    "/guarded",  # c6: ?token=ok: "welcome", then the app closes 1000
    "/raises",  # c7: one answer, then the handler raises: Litestar closes 4500
    "/away",  # c8: "hello"; the client closes 1001
    "/query",  # c9: ?room=5&x=y, subprotocols chat.v1, chat.v0
    "/auth",  # c10: Authorization: Bearer x (recorded redacted)
    "/echo",  # c11: "one", GAP seconds, "two", then the client closes
    "/state",  # c12: what the startup hook put in the app's state
]


# -- recording ---------------------------------------------------------------------------------


def client(url: str, **options: Any) -> Any:
    return connect(url, proxy=None, open_timeout=TIMEOUT, close_timeout=TIMEOUT, **options)


async def closed_with(ws: Any) -> tuple[int, str]:
    """Wait for the server's close; its code and reason."""
    with pytest.raises(ConnectionClosed) as closed:
        await ws.recv()
    assert closed.value.rcvd is not None
    return closed.value.rcvd.code, closed.value.rcvd.reason


async def recorded(server: RunningServer, recorder: Recorder, count: int) -> list[Connection]:
    connections: list[Connection] = await until(
        lambda: server.call(recorder.connections),
        lambda connections: len(connections) == count and all(c.state == "closed" for c in connections),
        what=f"{count} closed connection(s)",
    )
    return sorted(connections, key=lambda connection: connection.connected_at)


async def talk(server: RunningServer, recorder: Recorder) -> list[Connection]:
    """Every kind of connection of PATHS, one after the other."""
    async with client(server.ws_url("/echo")) as ws:
        await ws.send("hello")
        assert await ws.recv() == "HELLO"
        await ws.send("bye")
        assert await closed_with(ws) == (4001, "bye")
    async with client(server.ws_url("/echo")) as ws:
        for text in ("a", "b"):
            await ws.send(text)
            assert await ws.recv() == text.upper()
    async with client(server.ws_url("/json")) as ws:
        for n, text in enumerate(("hi", "there"), 1):
            await ws.send(text)
            reply = json.loads(await ws.recv())
            assert (reply["n"], reply["echo"]) == (n, text)
    async with client(server.ws_url("/binary")) as ws:
        for data in ({"a": 1, "b": [1, 2]}, {"name": "x"}):
            await ws.send(msgspec.msgpack.encode(data))
            assert msgspec.msgpack.decode(await ws.recv()) == {"got": data, "keys": len(data)}
    with pytest.raises(InvalidStatus) as refused:
        async with client(server.ws_url("/guarded")):
            pass  # pragma: no cover - the upgrade is refused
    assert refused.value.response.status_code == 403
    async with client(server.ws_url("/guarded?token=ok")) as ws:
        assert await ws.recv() == "welcome"
        assert await closed_with(ws) == (1000, "")
    async with client(server.ws_url("/raises")) as ws:
        await ws.send("x")
        assert await ws.recv() == "got x"
        assert (await closed_with(ws))[0] == 4500
    async with client(server.ws_url("/away")) as ws:
        assert await ws.recv() == "hello"
        await ws.close(1001, "going away")
    async with client(server.ws_url("/query?room=5&x=y"), subprotocols=["chat.v1", "chat.v0"]) as ws:
        assert ws.subprotocol == "chat.v1"
        assert json.loads(await ws.recv())["query"] == {"room": "5", "x": "y"}
    async with client(server.ws_url("/auth"), additional_headers={"Authorization": "Bearer x"}) as ws:
        assert await ws.recv() == "authorization: Bearer x"
    async with client(server.ws_url("/echo")) as ws:
        await ws.send("one")
        assert await ws.recv() == "ONE"
        await asyncio.sleep(GAP)
        await ws.send("two")
        assert await ws.recv() == "TWO"
    async with client(server.ws_url("/state")) as ws:
        assert await ws.recv() == replay_apps.GREETING
    return await recorded(server, recorder, len(PATHS))


async def talk_long(server: RunningServer, recorder: Recorder) -> list[Connection]:
    """For a recording that keeps 16 bytes of each payload: a message longer than that, and a
    connection whose only long payload is the app's answer."""
    async with client(server.ws_url("/echo")) as ws:
        await ws.send("a message longer than sixteen bytes")
        assert await ws.recv() == "A MESSAGE LONGER THAN SIXTEEN BYTES"
    async with client(server.ws_url("/query?x=y")) as ws:
        assert json.loads(await ws.recv())["query"] == {"x": "y"}
    return await recorded(server, recorder, 2)


def record(tmp: Path, name: str, conversation: Any, config: WSInspectConfig | None = None) -> Path:
    """Serve replay_apps's app with the plugin, let ``conversation`` talk to it, and write what
    was recorded to a session file."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("WSINSPECT_ENABLED", "1")  # a replay in this process may have turned it off
        patch.setenv("WSINSPECT_SOCKET", str(tmp / "no-inspector.sock"))  # never a real inspector's
        plugin = WSInspectPlugin(config)
        with run_server(replay_apps.make_app(plugins=[plugin]), lifespan="on") as server:
            connections = asyncio.run(conversation(server, plugin.recorder))
    path = tmp / name
    write_session(path, connections, time.time())
    return path


@pytest.fixture(scope="module")
def session(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The session of every kind of connection (PATHS), recorded once for the module."""
    # The guard's tokens replay as they were: not redacted here (a redacted one needs --query, below).
    config = WSInspectConfig(redact_query_params=frozenset())
    path = record(tmp_path_factory.mktemp("recorded"), "session.json", talk, config)
    assert [connection.path for connection in read_session(path).connections] == PATHS
    return path


@pytest.fixture(scope="module")
def redacted_session(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The same conversations recorded with the default config: the guard's token redacted."""
    return record(tmp_path_factory.mktemp("redacted"), "session.json", talk)


@pytest.fixture(scope="module")
def truncated_session(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return record(tmp_path_factory.mktemp("truncated"), "long.json", talk_long, WSInspectConfig(max_message_size=16))


@pytest.fixture(autouse=True)
def isolated(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """What a replay changes in this process is undone after each test; the apps' notes start empty."""
    monkeypatch.setenv("WSINSPECT_ENABLED", "1")
    monkeypatch.setattr(sys, "path", list(sys.path))
    replay_apps.DISCONNECTS.clear()
    replay_apps.AUTHORIZATIONS.clear()
    yield
    replay_apps.DISCONNECTS.clear()
    replay_apps.AUTHORIZATIONS.clear()


# -- helpers -----------------------------------------------------------------------------------


@dataclass
class Run:
    code: int
    out: str
    err: str

    def block(self, number: int) -> list[str]:
        """The report's lines about connection cN: its headline and the indented lines after it."""
        lines = self.out.splitlines()
        start = next(i for i, line in enumerate(lines) if line.startswith(f"c{number} "))
        end = next((i for i in range(start + 1, len(lines)) if not lines[i].startswith(" ")), len(lines))
        return lines[start:end]

    def headline(self, number: int) -> str:
        return self.block(number)[0]

    @property
    def summary(self) -> str:
        return self.out.splitlines()[-1]


def cli(capsys: pytest.CaptureFixture[str], *args: str | Path) -> Run:
    """``wsinspect replay ARGS`` in this process."""
    capsys.readouterr()
    code = main(["replay", *map(str, args)])
    out, err = capsys.readouterr()
    return Run(code, out, err)


def one_line_error(run: Run, *fragments: str) -> None:
    """A usage error: exit 2, nothing on stdout, one line on stderr (no traceback) with ``fragments``."""
    assert run.code == 2, run
    assert run.out == ""
    assert run.err.startswith("wsinspect: replay: "), run.err
    assert run.err.endswith("\n")
    assert len(run.err.splitlines()) == 1, run.err
    assert "Traceback" not in run.err
    for fragment in fragments:
        assert fragment in run.err


def hand_built(path: str, frames: list[tuple[Direction, MessageType, Any]], **fields: Any) -> Connection:
    """A connection as if recorded: frames are (direction, type, content), the closes' content
    being (code, reason); it ends with the client's close unless the frames close it."""
    start = 1_700_000_000.0
    messages = []
    for n, (direction, kind, content) in enumerate(frames, 1):
        code = None
        if kind == "close":
            code, content = content
        size = len(content.encode() if isinstance(content, str) else content) + (2 if kind == "close" else 0)
        messages.append(
            Frame(direction=direction, message_type=kind, content=content, timestamp=start + n / 100, size_bytes=size)
        )
        if code is not None:
            messages[-1].close_code = code
    last = messages[-1] if messages else None
    closed_by = "client" if last is None or last.direction == "received" else "server"
    values: dict[str, Any] = {
        "connection_id": str(uuid.uuid4()),
        "path": path,
        "state": "closed",
        "connected_at": start,
        "accepted_at": start + 0.001,
        "disconnected_at": start + 1,
        "closed_by": closed_by,
        "close_code": last.close_code if last is not None and last.message_type == "close" else 1000,
        "client": "127.0.0.1:40000",
        "headers": [("host", "127.0.0.1:8000")],
        "messages": messages,
    }
    return Connection(**{**values, **fields})


def write(tmp_path: Path, *connections: Connection, name: str = "built.json") -> Path:
    path = tmp_path / name
    write_session(path, list(connections), time.time())
    return path


# -- 1. the same app: every connection matches -------------------------------------------------


def test_the_recorded_session_replays_into_the_same_app(session: Path, capsys: pytest.CaptureFixture[str]) -> None:
    run = cli(capsys, session, *APP, *MATCHING)
    assert run.code == 0, run.out
    assert run.err == ""
    for number, path in enumerate(PATHS, 1):
        assert run.headline(number).startswith(f"c{number} {path}: ok ("), run.out
    assert run.headline(1) == "c1 /echo: ok (2 frames sent, as recorded)"  # HELLO and the 4001 close
    assert run.headline(5) == "c5 /guarded: ok (refused the upgrade, as recorded)"
    assert run.headline(7) == "c7 /raises: ok (2 frames sent, as recorded)"  # its answer and the 4500
    assert run.summary == f"{len(PATHS)} connections replayed: {len(PATHS)} ok, 0 differ"
    # The header given replaced the redacted one: no note about it.
    assert "redacted" not in run.out
    assert replay_apps.AUTHORIZATIONS == ["Bearer x"]
    # The clients' recorded closes reached the handlers as disconnects with their codes (c1, c6
    # and c7 the app closed itself).
    assert replay_apps.DISCONNECTS == [
        ("/echo", 1000),
        ("/json", 1000),
        ("/binary", 1000),
        ("/away", 1001),
        ("/query", 1000),
        ("/auth", 1000),
        ("/echo", 1000),
        ("/state", 1000),
    ]


def test_replay_session_from_python(session: Path) -> None:
    report = replay_session(
        session, "replay_apps:app", app_dir=TESTS, ignore=["ts"], headers={"Authorization": "Bearer x"}
    )
    assert report.ok, report.text()
    assert report.exit_code == 0
    assert [(result.number, result.connection.path) for result in report.results] == list(enumerate(PATHS, 1))
    assert all(result.verdict.status == "ok" for result in report.results)
    assert report.notes == []
    assert report.summary() == f"{len(PATHS)} connections replayed: {len(PATHS)} ok, 0 differ"
    assert repr(report) == f"<ReplayReport: {report.summary()}>"
    assert report.text().splitlines()[-1] == report.summary()


def test_replay_session_takes_the_app_itself(session: Path) -> None:
    report = replay_session(session, SAME_APP, paths=["/echo", "/binary", "/guarded"])
    assert report.ok, report.text()
    assert [result.number for result in report.results] == [1, 2, 4, 5, 6, 11]


def test_a_recorded_subprotocol_and_query_reach_the_app(session: Path) -> None:
    report = replay_session(session, "replay_apps:app", app_dir=TESTS, connections=["c9"])
    assert report.ok, report.text()
    (result,) = report.results
    assert result.connection.query_string == "room=5&x=y"
    assert result.connection.requested_subprotocols == ["chat.v1", "chat.v0"]


def test_a_different_accepted_subprotocol_differs(tmp_path: Path) -> None:
    reply = {"query": {}, "subprotocols": ["chat.v1", "chat.v0"], "changed": False}
    connection = hand_built(
        "/query",
        [("sent", "text", json.dumps(reply)), ("received", "close", (1000, ""))],
        requested_subprotocols=["chat.v1", "chat.v0"],
        subprotocol="chat.v0",  # the app picks chat.v1 now
    )
    report = replay_session(write(tmp_path, connection), SAME_APP)
    assert report.exit_code == 1, report.text()


# -- 2. a changed app: the first difference, where and how -------------------------------------


def test_a_changed_app_differs_with_the_first_difference_and_a_diff(
    session: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run = cli(capsys, session, *CHANGED, *MATCHING)
    assert run.code == 1
    assert run.err == ""

    # The echo: its first answer.
    assert run.block(1) == [
        "c1 /echo: differs at the app's frame 1 of 2",
        "    ← text hello",
        "  recorded → text HELLO",
        "  replayed → text HELLO!",
        "    --- recorded",
        "    +++ replayed",
        "    @@ -1 +1 @@",
        "    -HELLO",
        "    +HELLO!",
    ]
    # The JSON handler compares as data: the diff is of the pretty-printed values.
    json_block = run.block(3)
    assert json_block[0] == "c3 /json: differs at the app's frame 1 of 2"
    assert json_block[1] == "    ← text hi"
    assert json_block[2].startswith('  recorded → text {"n": 1, "echo": "hi", "ts": ')
    assert json_block[3].startswith('  replayed → text {"n": 1, "echo": "ih", "ts": ')
    assert '    -  "echo": "hi",' in json_block
    assert '    +  "echo": "ih",' in json_block
    assert not any('"ts"' in line for line in json_block[4:])  # ignored
    # MessagePack compares as data too.
    binary = run.block(4)
    assert binary[0] == "c4 /binary: differs at the app's frame 1 of 2"
    assert '    -  "keys": 2' in binary
    assert '    +  "keys": 3' in binary
    # Its second frame, the close: the recorded frames before it as context.
    assert run.block(6) == [
        "c6 /guarded: differs at the app's frame 2 of 2",
        "    → text welcome",
        "  recorded → close 1000 Normal Closure",
        "  replayed → close 4002 Application: changed",
        "    --- recorded",
        "    +++ replayed",
        "    @@ -1 +1 @@",
        "    -1000 Normal Closure",
        "    +4002 Application: changed",
    ]
    # What did not change is still ok.
    for number in (5, 7, 8, 10, 12):
        assert ": ok (" in run.headline(number), run.out
    assert run.summary == f"{len(PATHS)} connections replayed: 5 ok, 7 differ"


def test_a_change_in_the_close_reason_alone_differs(session: Path, tmp_path: Path) -> None:
    # c1 without its "hello" and "HELLO": the client's "bye" alone, and the app's close.
    connection = read_session(session).connections[0]
    connection.messages = [
        frame for frame in connection.messages if frame.content != "hello" and frame.content != "HELLO"
    ]
    bye = write(tmp_path, connection)
    report = replay_session(bye, CHANGED_APP)
    (result,) = report.results
    assert result.verdict.headline == "differs at the app's frame 1 of 1", report.text()
    assert "    -4001 Application: bye" in result.verdict.details
    assert "    +4001 Application: see you" in result.verdict.details
    assert replay_session(bye, SAME_APP).ok


def test_json_compares_as_data_whatever_the_key_order_and_spacing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    reply = {"query": {"x": "y", "room": "5"}, "changed": False, "subprotocols": ["chat.v1"]}
    connection = hand_built(
        "/query",
        [("sent", "text", json.dumps(reply, separators=(",", ":"), sort_keys=True)), ("received", "close", (1000, ""))],
        query_string="room=5&x=y",
        requested_subprotocols=["chat.v1"],
        subprotocol="chat.v1",
    )
    # The app sends {"query": {"room": "5", "x": "y"}, "subprotocols": [...], "changed": false}.
    run = cli(capsys, write(tmp_path, connection), *APP)
    assert run.code == 0, run.out
    assert run.headline(1) == "c1 /query: ok (1 frame sent, as recorded)"
    # And the JSON handler's, keys reordered and spaced out, its volatile field ignored.
    json_reply = '{\n  "ts" : 1,\n  "echo" : "hi",\n  "n" : 1\n}'
    connection = hand_built(
        "/json", [("received", "text", "hi"), ("sent", "text", json_reply), ("received", "close", (1000, ""))]
    )
    run = cli(capsys, write(tmp_path, connection), *APP, "--ignore", "ts")
    assert run.code == 0, run.out
    # A value that differs still differs.
    connection.messages[1].content = json_reply.replace('"hi"', '"ho"')
    run = cli(capsys, write(tmp_path, connection), *APP, "--ignore", "ts")
    assert run.code == 1
    assert '    -  "echo": "ho",' in run.block(1)
    assert '    +  "echo": "hi",' in run.block(1)


# -- 3. volatile fields: --ignore and --mask ---------------------------------------------------


def test_the_json_timestamp_differs_unless_ignored_or_masked(session: Path, capsys: pytest.CaptureFixture[str]) -> None:
    plain = cli(capsys, session, *APP, "--connection", "c3")
    assert plain.code == 1
    block = plain.block(3)
    assert block[0] == "c3 /json: differs at the app's frame 1 of 2"
    assert any(line.startswith('    -  "ts": ') for line in block)
    assert any(line.startswith('    +  "ts": ') for line in block)
    assert plain.summary == "1 connection replayed: 0 ok, 1 differs"

    ignored = cli(capsys, session, *APP, "--connection", "c3", "--ignore", "ts")
    assert ignored.code == 0, ignored.out
    assert ignored.headline(3) == "c3 /json: ok (2 frames sent, as recorded)"

    masked = cli(capsys, session, *APP, "--connection", "c3", "--mask", r'"ts": [0-9.eE+-]+')
    assert masked.code == 0, masked.out
    assert masked.summary == "1 connection replayed: 1 ok, 0 differ"

    # Ignoring a field that is not the volatile one does not help.
    other = cli(capsys, session, *APP, "--connection", "c3", "--ignore", "n")
    assert other.code == 1


def test_bad_ignore_and_mask_are_usage_errors(session: Path, capsys: pytest.CaptureFixture[str]) -> None:
    one_line_error(cli(capsys, session, *APP, "--ignore", "a..b"), "--ignore", "not a field path")
    one_line_error(cli(capsys, session, *APP, "--mask", "(unclosed"), "--mask", "not a regular expression")
    assert replay_apps.DISCONNECTS == []  # nothing was replayed


# -- 4. choosing connections -------------------------------------------------------------------


def test_connections_chosen_by_number_id_and_path(session: Path, capsys: pytest.CaptureFixture[str]) -> None:
    connections = read_session(session).connections
    by_number = cli(capsys, session, *APP, "--connection", "c2", "--connection", "c4")
    assert by_number.code == 0, by_number.out
    assert [line.split(":")[0] for line in by_number.out.splitlines()] == [
        "c2 /echo",
        "c4 /binary",
        "2 connections replayed",
    ]

    by_id = cli(capsys, session, *APP, "--connection", connections[7].connection_id)
    assert by_id.code == 0
    assert by_id.out.splitlines()[0] == "c8 /away: ok (1 frame sent, as recorded)"  # keeps its number
    assert by_id.summary == "1 connection replayed: 1 ok, 0 differ"

    by_path = cli(capsys, session, *APP, "--path", "/gua*")
    assert [line[:3] for line in by_path.out.splitlines()[:-1]] == ["c5 ", "c6 "]
    assert by_path.summary == "2 connections replayed: 2 ok, 0 differ"

    # Both: the connections named whose path matches.
    chosen = ["--connection", "c1", "--connection", "c4", "--connection", "c5"]
    both = cli(capsys, session, *APP, "--path", "/echo", "--path", "/b?nary", *chosen)
    assert [line[:3] for line in both.out.splitlines()[:-1]] == ["c1 ", "c4 "]


def test_no_matching_connection_is_a_usage_error(session: Path, capsys: pytest.CaptureFixture[str]) -> None:
    one_line_error(cli(capsys, session, *APP, "--connection", "c99"), "c99", f"c1 to c{len(PATHS)}")
    one_line_error(cli(capsys, session, *APP, "--connection", "no-such-id"), "no-such-id")
    one_line_error(cli(capsys, session, *APP, "--path", "/nowhere/*"), "/nowhere/*")
    # Both given: a number whose path does not match.
    one_line_error(cli(capsys, session, *APP, "--connection", "c1", "--path", "/json"), "/json")
    assert replay_apps.DISCONNECTS == []


def test_an_empty_session_is_a_usage_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    one_line_error(cli(capsys, write(tmp_path), *APP), "no connections")


def test_a_missing_or_unreadable_session_is_a_usage_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    one_line_error(cli(capsys, tmp_path / "missing.json", *APP))
    garbage = tmp_path / "garbage.json"
    garbage.write_text("not json at all")
    one_line_error(cli(capsys, garbage, *APP))


def test_select_numbers_connections_from_one() -> None:
    connections = [hand_built(path, []) for path in ("/a", "/b/c", "/b/d")]
    assert [n for n, _ in select(connections)] == [1, 2, 3]
    assert [n for n, _ in select(connections, [" c3 ", connections[0].connection_id])] == [1, 3]
    assert [n for n, _ in select(connections, paths=["/b/*"])] == [2, 3]
    with pytest.raises(ReplayError, match="no connection's path matches /B/"):
        select(connections, paths=["/B/*"])  # globs are case-sensitive, as paths are
    with pytest.raises(ReplayError, match="no connections"):
        select([])


# -- 5. truncated recordings -------------------------------------------------------------------


def test_a_truncated_received_frame_cannot_be_replayed(
    truncated_session: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    connections = read_session(truncated_session).connections
    assert connections[0].messages[0].truncated  # the long message the client sent
    assert connections[1].messages[0].truncated  # the app's long answer
    run = cli(capsys, truncated_session, *APP)
    assert run.code == 2  # nothing differs, but one connection could not be replayed
    assert run.err == ""
    headline = run.headline(1)
    assert headline.startswith("c1 /echo: cannot be replayed exactly: ")
    assert "message 1 " in headline
    assert "max_message_size" in headline
    # The answer recorded truncated compares on the part that was kept (and its full size).
    assert run.headline(2) == "c2 /query: ok (1 frame sent, as recorded)"
    assert run.summary == "2 connections replayed: 1 ok, 0 differ, 1 not replayed"
    assert replay_apps.DISCONNECTS == [("/query", 1000)]  # c1 never reached the app


def test_a_difference_beats_a_connection_not_replayed(
    truncated_session: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # The changed app's answer differs past the 16 bytes kept ("changed": true), and in size.
    run = cli(capsys, truncated_session, *CHANGED)
    assert run.code == 1
    assert run.headline(2) == "c2 /query: differs at the app's frame 1 of 1"
    assert run.block(2)[-2:] == ["    -(59 bytes in all)", "    +(58 bytes in all)"]  # false, true
    assert run.summary == "2 connections replayed: 0 ok, 1 differs, 1 not replayed"


def test_a_received_frame_without_its_payload_cannot_be_replayed(tmp_path: Path) -> None:
    connection = hand_built("/binary", [("received", "binary", b"\x81\xa1a\x01"), ("sent", "binary", b"\x00")])
    connection.messages[0].content = None  # recorded with show_binary_preview=False
    report = replay_session(write(tmp_path, connection), SAME_APP)
    (result,) = report.results
    assert result.verdict.status == "skipped"
    assert "without payload" in result.verdict.headline
    assert report.exit_code == 2
    assert not report.ok


# -- 6. an app that cannot be loaded -----------------------------------------------------------


@pytest.mark.parametrize(
    ("spec", "fragments"),
    [
        ("no_such_module_for_replay:app", ["cannot import 'no_such_module_for_replay'", "ModuleNotFoundError"]),
        ("replay_apps:no_such_app", ["'replay_apps' has no attribute 'no_such_app'"]),
        ("replay_apps:GREETING", ["is not an ASGI app"]),
        ("replay_apps", ["module:attribute"]),
        (":app", ["module:attribute"]),
    ],
    ids=["module-missing", "attribute-missing", "not-callable", "no-colon", "no-module"],
)
def test_an_app_that_cannot_be_loaded_is_one_line(
    session: Path, capsys: pytest.CaptureFixture[str], spec: str, fragments: list[str]
) -> None:
    one_line_error(cli(capsys, session, "--app", spec, "--app-dir", TESTS), *fragments)


def test_an_app_whose_import_raises_is_one_line(
    session: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    name = f"raising_app_{uuid.uuid4().hex[:8]}"
    (tmp_path / f"{name}.py").write_text('raise RuntimeError("no config file")\n')
    run = cli(capsys, session, "--app", f"{name}:app", "--app-dir", tmp_path)
    one_line_error(run, f"cannot import {name!r}", "RuntimeError: no config file")
    assert name not in sys.modules


def test_an_import_error_with_a_multi_line_message_is_still_one_line(
    session: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    name = f"raising_app_{uuid.uuid4().hex[:8]}"
    (tmp_path / f"{name}.py").write_text('raise RuntimeError("no config file\\nlooked in: /etc, ~")\n')
    one_line_error(cli(capsys, session, "--app", f"{name}:app", "--app-dir", tmp_path), "no config file")


def test_an_app_that_cannot_be_imported_in_a_real_subprocess(session: Path, tmp_path: Path) -> None:
    command = [sys.executable, "-m", "wsinspect", "replay", str(session), "--app", "no_such_module_for_replay:app"]
    done = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert done.returncode == 2, done
    assert done.stdout == ""
    assert done.stderr.splitlines() == [
        "wsinspect: replay: cannot import 'no_such_module_for_replay': "
        "ModuleNotFoundError: No module named 'no_such_module_for_replay'"
    ]


# -- 7. redacted headers -----------------------------------------------------------------------


def test_a_redacted_header_is_noted_and_can_be_given(session: Path, capsys: pytest.CaptureFixture[str]) -> None:
    recorded_headers = dict(read_session(session).connections[9].headers)
    assert recorded_headers["authorization"] == REDACTED

    without = cli(capsys, session, *APP, "--connection", "c10")
    note = without.out.splitlines()[0]
    assert note.startswith("c10: ")
    assert "authorization" in note
    assert "--header" in note
    assert replay_apps.AUTHORIZATIONS == [REDACTED]  # what the app got instead
    assert without.code == 1  # and so it answered otherwise
    assert "  replayed → text authorization: [redacted]" in without.block(10)

    given = cli(capsys, session, *APP, "--connection", "c10", "--header", "Authorization: Bearer x")
    assert given.code == 0, given.out
    assert replay_apps.AUTHORIZATIONS == [REDACTED, "Bearer x"]
    assert "redacted" not in given.out
    assert "--header" not in given.out
    assert given.out.splitlines()[0] == "c10 /auth: ok (1 frame sent, as recorded)"


def test_a_redacted_query_parameter_is_noted_and_can_be_given(
    redacted_session: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    connection = read_session(redacted_session).connections[5]
    assert (connection.path, connection.query_string) == ("/guarded", f"token={REDACTED}")

    without = cli(capsys, redacted_session, *APP, "--connection", "c6")
    assert without.out.splitlines()[0] == (
        "c6: recorded as [redacted] and replayed so: query token (give the real values with --query NAME=VALUE)"
    )
    assert without.code == 1  # the guard refused "[redacted]"
    assert "the app refused the upgrade (HTTP 403); the recording has it accepted" in without.out

    given = cli(capsys, redacted_session, *APP, "--connection", "c6", "--query", "token=ok")
    assert given.code == 0, given.out
    assert given.out.splitlines()[0] == "c6 /guarded: ok (2 frames sent, as recorded)"


@pytest.mark.parametrize(
    ("recorded", "given", "replayed"),
    [
        (f"token={REDACTED}&room=1", {"token": "a b&c"}, "token=a+b%26c&room=1"),
        ("room=1", {"token": "t"}, "room=1&token=t"),  # added, as a header would be
        ("%74oken=x", {"token": "y"}, "%74oken=y"),  # by the name the app reads
        ("a=1", {}, "a=1"),
    ],
)
def test_given_query_parameters_replace_or_join_the_recorded_ones(
    recorded: str, given: dict[str, str], replayed: str
) -> None:
    assert replace_query(recorded, given) == replayed


def test_a_given_header_name_is_any_case(session: Path) -> None:
    report = replay_session(
        session, SAME_APP, connections=["c10"], headers={"AUTHORIZATION": "Bearer x", "X-Extra": "1"}
    )
    assert report.ok, report.text()
    assert report.notes == []


def test_a_malformed_header_is_refused_by_argparse(session: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["replay", str(session), *APP, "--header", "no colon here"])
    assert exited.value.code == 2
    err = capsys.readouterr().err
    assert "not NAME:VALUE" in err
    assert len(err.splitlines()) == 1


# -- 8. --write-test ---------------------------------------------------------------------------


def pytest_in_subprocess(test: Path, **variables: str) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "pytest", "-q", str(test), "-p", "no:cacheprovider"]
    if importlib.util.find_spec("pytest_randomly") is not None:  # pragma: no cover - not a dependency
        command += ["-p", "no:randomly"]
    env = {**os.environ, **variables, "PYTHONPATH": os.pathsep.join([str(TESTS), os.environ.get("PYTHONPATH", "")])}
    env.pop("PYTEST_ADDOPTS", None)
    return subprocess.run(command, cwd=test.parent, env=env, capture_output=True, text=True, timeout=120)


def test_write_test_writes_a_test_that_passes_and_then_catches_a_change(
    session: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    test = tmp_path / "test_chat_regression.py"
    run = cli(capsys, session, *APP, "--path", "/json", "--path", "/echo", "--ignore", "ts", "--write-test", test)
    assert run.code == 0, run.out
    assert run.out.splitlines()[-1] == f"wrote {test}: run it with pytest"
    data = tmp_path / "test_chat_regression.session.json"
    assert test.is_file()
    assert data.is_file()
    assert [connection.path for connection in read_session(data).connections] == ["/echo", "/echo", "/json", "/echo"]
    text = test.read_text()
    assert '"replay_apps:app"' in text
    assert 'ignore=["ts"],' in text
    assert "def test_chat_regression() -> None:" in text
    compile(text, str(test), "exec")

    passed = pytest_in_subprocess(test)
    assert passed.returncode == 0, passed.stdout + passed.stderr
    assert "1 passed" in passed.stdout

    test.write_text(text.replace('"replay_apps:app"', '"replay_apps:changed_app"'))
    failed = pytest_in_subprocess(test)
    assert failed.returncode == 1, failed.stdout + failed.stderr
    assert "differs" in failed.stdout
    assert "1 failed" in failed.stdout


def test_write_test_keeps_header_values_out_of_the_file(
    session: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    test = tmp_path / "test_auth.py"
    run = cli(capsys, session, *APP, "--connection", "c10", "--header", "Authorization: Bearer x", "--write-test", test)
    assert run.code == 0, run.out
    text = test.read_text()
    assert "Bearer x" not in text
    assert 'os.environ["WSINSPECT_HEADER_AUTHORIZATION"]' in text
    (written,) = read_session(tmp_path / "test_auth.session.json").connections
    assert dict(written.headers)["authorization"] == REDACTED  # as recorded
    # The test takes the value from the environment.
    done = pytest_in_subprocess(test, WSINSPECT_HEADER_AUTHORIZATION="Bearer x")
    assert done.returncode == 0, done.stdout + done.stderr


def test_write_test_keeps_query_values_out_of_the_file(
    redacted_session: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    test = tmp_path / "test_guarded.py"
    run = cli(capsys, redacted_session, *APP, "--connection", "c6", "--query", "token=ok", "--write-test", test)
    assert run.code == 0, run.out
    text = test.read_text()
    assert '"ok"' not in text
    assert 'query={"token": os.environ["WSINSPECT_QUERY_TOKEN"]}' in text
    assert pytest_in_subprocess(test, WSINSPECT_QUERY_TOKEN="ok").returncode == 0
    assert pytest_in_subprocess(test, WSINSPECT_QUERY_TOKEN="wrong").returncode == 1


@pytest.mark.parametrize("name", ["regression.txt", "test_x"])
def test_write_test_to_a_bad_path_fails_before_anything_is_replayed(
    session: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], name: str
) -> None:
    run = cli(capsys, session, *APP, "--connection", "c10", "--write-test", tmp_path / name)
    one_line_error(run, "--write-test")
    assert replay_apps.AUTHORIZATIONS == []  # the app never ran
    assert list(tmp_path.iterdir()) == []


def test_write_test_creates_the_missing_directories(
    session: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    test = tmp_path / "tests" / "ws" / "test_echo.py"
    # Made once the replay ran: a usage error leaves nothing behind.
    one_line_error(cli(capsys, session, *APP, "--connection", "c99", "--write-test", test), "no connection is c99")
    assert list(tmp_path.iterdir()) == []
    run = cli(capsys, session, *APP, "--connection", "c2", "--write-test", test)
    assert run.code == 0, run.err
    assert run.err == ""
    assert run.out.splitlines()[-1] == f"wrote {test}: run it with pytest"
    compile(test.read_text(), str(test), "exec")
    assert [connection.path for connection in read_session(test.with_name("test_echo.session.json")).connections] == [
        "/echo"
    ]
    passed = pytest_in_subprocess(test)
    assert passed.returncode == 0, passed.stdout + passed.stderr


@pytest.mark.parametrize("name", ["a-file/test_x.py", "a-file/deeper/test_x.py"])
def test_write_test_under_a_file_fails_with_one_line(
    session: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], name: str
) -> None:
    (tmp_path / "a-file").write_text("not a directory")
    run = cli(capsys, session, *APP, "--connection", "c10", "--write-test", tmp_path / name)
    one_line_error(run, "--write-test", "a-file", "not a directory")
    assert replay_apps.AUTHORIZATIONS == []  # the app never ran
    assert sorted(path.name for path in tmp_path.iterdir()) == ["a-file"]


def test_write_test_keeps_the_fault(session: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # The changed app takes the drop cleanly, so this replay passes; the written test replays c1
    # without the drop, compares its frames, and fails.
    test = tmp_path / "test_drop.py"
    run = cli(capsys, session, *CHANGED, "--connection", "c1", "--fault", "drop-after:0", "--write-test", test)
    assert run.code == 0, run.out
    assert "drop-after" in test.read_text()


# -- 9. faults ---------------------------------------------------------------------------------


def test_a_drop_after_one_frame_is_a_1006_and_the_app_ends(session: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # c1: the client sent "hello" then "bye" (the app closed): it vanishes after "hello" instead.
    run = cli(capsys, session, *APP, "--connection", "c1", "--fault", "drop-after:1")
    assert run.code == 0, run.out
    assert run.headline(1) == "c1 /echo: ok (the client vanished after 1 frame: the app ended cleanly, 1 frame sent)"
    assert replay_apps.DISCONNECTS == [("/echo", 1006)]


def test_a_drop_after_on_a_connection_the_client_closed_is_a_1006(session: Path) -> None:
    # c2: "a", "b", then the client closed 1000: it vanishes after "a" instead.
    report = replay_session(session, SAME_APP, connections=["c2"], fault=Fault.parse("drop-after:1"))
    assert report.ok, report.text()
    assert replay_apps.DISCONNECTS == [("/echo", 1006)]


def test_a_drop_after_zero_frames(session: Path) -> None:
    report = replay_session(session, SAME_APP, connections=["c1"], fault=Fault.parse("drop-after:0"))
    assert report.ok, report.text()
    assert report.results[0].verdict.headline.endswith("0 frames sent)")
    assert replay_apps.DISCONNECTS == [("/echo", 1006)]


def test_a_close_fault_reaches_the_handler_with_its_code(session: Path, capsys: pytest.CaptureFixture[str]) -> None:
    run = cli(capsys, session, *APP, "--connection", "c2", "--connection", "c8", "--fault", "close:4000")
    assert run.code == 0, run.out
    assert run.headline(2) == "c2 /echo: ok (the client closed with 4000: the app ended cleanly, 2 frames sent)"
    assert run.headline(8) == "c8 /away: ok (the client closed with 4000: the app ended cleanly, 1 frame sent)"
    assert replay_apps.DISCONNECTS == [("/echo", 4000), ("/away", 4000)]


async def hangs_after_the_accept(scope: Any, receive: Any, send: Any) -> None:
    """A plain ASGI app (no lifespan) that accepts and then never ends, whatever comes."""
    if scope["type"] != "websocket":
        return
    await receive()
    await send({"type": "websocket.accept"})
    await asyncio.Event().wait()


async def raises_on_the_disconnect(scope: Any, receive: Any, send: Any) -> None:
    """A plain ASGI app whose cleanup raises when the client goes."""
    if scope["type"] != "websocket":
        return
    await receive()
    await send({"type": "websocket.accept"})
    while (await receive())["type"] != "websocket.disconnect":
        pass
    raise RuntimeError("cleanup failed")


def test_a_fault_is_judged_by_how_the_app_takes_it(session: Path) -> None:
    # c7's handler raises after its first answer whatever the client does: Litestar catches it.
    report = replay_session(session, SAME_APP, connections=["c7"], fault=Fault.parse("close:4000"))
    assert report.ok, report.text()

    fault = Fault.parse("drop-after:0")
    report = replay_session(session, hangs_after_the_accept, connections=["c2"], fault=fault, patience=0.5)
    assert report.exit_code == 1
    assert report.results[0].verdict.headline == (
        "the client vanished after 0 frames: the app did not end (0 frames sent)"
    )

    report = replay_session(
        session, raises_on_the_disconnect, connections=["c2"], fault=Fault.parse("close:4000"), patience=0.5
    )
    assert report.exit_code == 1
    assert report.results[0].verdict.headline == (
        "the client closed with 4000: the app raised RuntimeError: cleanup failed (0 frames sent)"
    )


def test_a_fault_on_an_app_that_does_not_answer_is_judged_by_its_ending(session: Path) -> None:
    started = time.monotonic()
    report = replay_session(session, SILENT_APP, connections=["c2"], fault=Fault.parse("drop-after:1"), patience=0.5)
    assert replay_apps.DISCONNECTS  # the silent echo heard the client go, and ended
    assert report.ok, report.text()
    # It waited for the answer to the frame it sent (up to the patience), then vanished: not longer.
    assert time.monotonic() - started < 3


@pytest.mark.parametrize("fault", ["drop-after:x", "explode:1", "close:", "close:-1", "drop-after"])
def test_a_malformed_fault_is_refused_by_argparse(
    session: Path, capsys: pytest.CaptureFixture[str], fault: str
) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["replay", str(session), *APP, "--fault", fault])
    assert exited.value.code == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert "not a fault" in err
    assert len(err.splitlines()) == 1
    assert replay_apps.DISCONNECTS == []


# -- 10. timing --------------------------------------------------------------------------------


def test_timing_keep_waits_the_recorded_gaps(session: Path, capsys: pytest.CaptureFixture[str]) -> None:
    frames = read_session(session).connections[10].messages
    assert frames[2].timestamp - frames[1].timestamp >= GAP * 0.9  # "two" came GAP after "ONE"
    started = time.monotonic()
    run = cli(capsys, session, *APP, "--connection", "c11", "--timing", "keep")
    took = time.monotonic() - started
    assert run.code == 0, run.out
    assert run.headline(11) == "c11 /echo: ok (2 frames sent, as recorded)"
    assert took >= GAP - 0.05


def test_timing_turns_does_not_wait_the_gaps(session: Path, capsys: pytest.CaptureFixture[str]) -> None:
    started = time.monotonic()
    run = cli(capsys, session, *APP, "--connection", "c11")
    assert run.code == 0, run.out
    assert time.monotonic() - started < 5  # loose: only that it is no slower than a timeout


# -- 11. an app that never answers -------------------------------------------------------------


def test_an_app_that_never_answers_is_waited_for_then_differs(
    session: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    started = time.monotonic()
    run = cli(
        capsys, session, "--app", "replay_apps:silent_app", "--app-dir", TESTS, "--connection", "c2", "--timeout", "0.5"
    )
    took = time.monotonic() - started
    assert run.code == 1
    assert run.block(2) == [
        "c2 /echo: differs at the app's frame 1 of 2",
        "    ← text a",
        "  recorded → text A",
        "  replayed: nothing (waited for the app's sent frame 1)",
    ]
    assert 0.5 <= took < 4
    assert replay_apps.DISCONNECTS == [("/echo", 1000)]  # the recorded close still reached it


@pytest.mark.parametrize("timeout", ["0", "-1"])
def test_a_timeout_that_is_not_positive_is_refused(
    session: Path, capsys: pytest.CaptureFixture[str], timeout: str
) -> None:
    # Today the app is given no time to accept: "replayed: nothing (waited for the app to accept
    # or refuse)", exit 1, for an app that matches the recording.
    with pytest.raises(SystemExit) as exited:
        cli(capsys, session, *APP, "--connection", "c2", "--timeout", timeout)
    assert exited.value.code == 2


# -- 12. lifespan ------------------------------------------------------------------------------


def test_the_startup_state_reaches_the_handler(session: Path, capsys: pytest.CaptureFixture[str]) -> None:
    run = cli(capsys, session, *APP, "--connection", "c12")
    assert run.code == 0, run.out
    assert run.headline(12) == "c12 /state: ok (1 frame sent, as recorded)"


def test_a_failing_startup_is_a_usage_error(session: Path, capsys: pytest.CaptureFixture[str]) -> None:
    run = cli(capsys, session, "--app", "replay_apps:broken_startup_app", "--app-dir", TESTS, "--connection", "c1")
    gc.collect()  # see test_a_failing_startup_leaves_no_task_exception_unretrieved
    assert run.code == 2
    assert run.out == ""
    assert run.err.startswith("wsinspect: replay: the app's startup failed")
    assert "no database" in run.err


def test_a_failing_startup_is_one_line(session: Path, capsys: pytest.CaptureFixture[str]) -> None:
    run = cli(capsys, session, "--app", "replay_apps:broken_startup_app", "--app-dir", TESTS, "--connection", "c1")
    gc.collect()
    one_line_error(run, "startup failed", "RuntimeError: no database")


def test_a_failing_startup_leaves_no_task_exception_unretrieved(
    session: Path, capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    # Collected later, such a task logs "Task exception was never retrieved" and its traceback,
    # wherever the program is then; on Python 3.11.7 pytest may even fail with an INTERNALERROR
    # ("AST constructor recursion depth mismatch") when that happens while it reads a source.
    gc.collect()
    caplog.clear()
    run = cli(capsys, session, "--app", "replay_apps:broken_startup_app", "--app-dir", TESTS, "--connection", "c1")
    assert run.code == 2
    gc.collect()
    assert "Task exception was never retrieved" not in caplog.text


# -- 13. the app's own output ------------------------------------------------------------------

# A Litestar app in debug mode whose handlers log: /ok answers as recorded, /boom logs a warning
# and raises (Litestar logs "Uncaught exception" with the traceback, through its queue listener
# thread, and closes 4500): the recording has it answering "got x".
LOGGING_APP = """
import logging
from typing import Any

from litestar import Litestar, WebSocket, websocket

log = logging.getLogger("chatty")


@websocket("/ok")
async def ok(socket: WebSocket[Any, Any, Any]) -> None:
    await socket.accept()
    text = await socket.receive_text()
    log.info("ok got %s", text)
    await socket.send_text(text.upper())
    await socket.close()


@websocket("/boom")
async def boom(socket: WebSocket[Any, Any, Any]) -> None:
    await socket.accept()
    text = await socket.receive_text()
    log.warning("boom got %s, about to fail", text)
    raise ValueError("handler broke on " + text)


app = Litestar(route_handlers=[ok, boom], debug=True)
"""


def logging_session(tmp_path: Path) -> tuple[Path, str]:
    """A session of two connections (c1 /ok, which matches; c2 /boom, which differs) and the
    --app of LOGGING_APP, written next to it."""
    name = f"chatty_app_{uuid.uuid4().hex[:8]}"
    (tmp_path / f"{name}.py").write_text(LOGGING_APP)
    ok = hand_built("/ok", [("received", "text", "hi"), ("sent", "text", "HI"), ("sent", "close", (1000, ""))])
    boom = hand_built("/boom", [("received", "text", "x"), ("sent", "text", "got x"), ("sent", "close", (1000, ""))])
    return write(tmp_path, ok, boom, name="chatty.json"), f"{name}:app"


def replay_in_a_terminal(tmp_path: Path, *args: str | Path) -> tuple[int, list[str]]:
    """``wsinspect replay ARGS`` in a real process, stdout and stderr into one stream as a terminal
    shows them; its exit code and lines."""
    command = [sys.executable, "-m", "wsinspect", "replay", *map(str, args)]
    done = subprocess.run(
        command, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=120
    )
    return done.returncode, done.stdout.splitlines()


def block(lines: list[str], start: str) -> list[str]:
    """The lines from the one that starts with ``start`` to the next one that is not indented."""
    first = next(i for i, line in enumerate(lines) if line.startswith(start))
    end = next((i for i in range(first + 1, len(lines)) if not lines[i].startswith(" ")), len(lines))
    return lines[first:end]


def test_the_apps_log_output_shows_only_under_a_connection_that_differs(tmp_path: Path) -> None:
    session, app = logging_session(tmp_path)
    code, lines = replay_in_a_terminal(tmp_path, session, "--app", app, "--app-dir", tmp_path)
    assert code == 1, lines
    # The report, line after line, with nothing of the app's between or around them.
    assert lines[0] == "c1 /ok: ok (2 frames sent, as recorded)", lines
    assert lines[-1] == "2 connections replayed: 1 ok, 1 differs", lines
    assert block(lines, "c1 ") == ["c1 /ok: ok (2 frames sent, as recorded)"]  # it logged, and matched
    c2 = block(lines, "c2 ")
    assert len(lines) == 1 + len(c2) + 1, lines
    # c2's report as before, then what the app logged while it ran, its traceback included.
    assert c2[:4] == [
        "c2 /boom: differs at the app's frame 1 of 2",
        "    ← text x",
        "  recorded → text got x",
        "  replayed → close 4500 Application: Internal Server Error",
    ]
    logged = c2[c2.index("  the app logged:") :]
    assert logged[1] == "    WARNING chatty: boom got x, about to fail"
    assert logged[2] == "    ERROR litestar: Uncaught exception (connection_type=websocket, path='/boom'):"
    assert logged[3] == "      Traceback (most recent call last):"
    assert logged[-1] == "      ValueError: handler broke on x"
    assert sum("Traceback" in line for line in lines) == 1
    assert not any("ok got hi" in line for line in lines)

    # A replay of the connection that matches: the report alone, exit 0.
    code, lines = replay_in_a_terminal(tmp_path, session, "--app", app, "--app-dir", tmp_path, "--connection", "c1")
    assert (code, lines) == (0, ["c1 /ok: ok (2 frames sent, as recorded)", "1 connection replayed: 1 ok, 0 differ"])


def test_verbose_shows_every_connections_log_output(tmp_path: Path) -> None:
    session, app = logging_session(tmp_path)
    code, lines = replay_in_a_terminal(tmp_path, session, "--app", app, "--app-dir", tmp_path, "-v")
    assert code == 1, lines
    assert block(lines, "c1 ") == [
        "c1 /ok: ok (2 frames sent, as recorded)",
        "  the app logged:",
        "    INFO chatty: ok got hi",
    ]
    c2 = block(lines, "c2 ")
    assert "    WARNING chatty: boom got x, about to fail" in c2
    assert c2[-1] == "      ValueError: handler broke on x"
    assert lines[-1] == "2 connections replayed: 1 ok, 1 differs"
    assert sum("Traceback" in line for line in lines) == 1

    code, lines = replay_in_a_terminal(
        tmp_path, session, "--app", app, "--app-dir", tmp_path, "--connection", "c1", "--verbose"
    )
    assert code == 0
    assert lines == [
        "c1 /ok: ok (2 frames sent, as recorded)",
        "  the app logged:",
        "    INFO chatty: ok got hi",
        "1 connection replayed: 1 ok, 0 differ",
    ]


# A raw ASGI app (no framework to catch what it raises) that writes to stderr and logs with no
# logging configured (Python's last resort prints warnings to stderr).
RAW_APP = """
import logging
import sys


async def app(scope, receive, send):
    if scope["type"] == "lifespan":
        await receive()
        logging.getLogger("raw").warning("starting up")
        await send({"type": "lifespan.startup.complete"})
        await receive()
        await send({"type": "lifespan.shutdown.complete"})
        return
    await receive()
    await send({"type": "websocket.accept"})
    message = await receive()
    print("raw got", message.get("text"), file=sys.stderr)
    logging.getLogger("raw").warning("about to fail")
    raise RuntimeError("raw app broke")
"""


def test_what_an_app_writes_to_stderr_and_the_traceback_it_raises_go_under_its_connection(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    name = f"raw_app_{uuid.uuid4().hex[:8]}"
    (tmp_path / f"{name}.py").write_text(RAW_APP)
    connection = hand_built("/raw", [("received", "text", "x"), ("sent", "text", "got x")])
    call_handlers, stderr = logging.Logger.callHandlers, sys.stderr
    run = cli(capsys, write(tmp_path, connection), "--app", f"{name}:app", "--app-dir", tmp_path)
    assert run.code == 1
    assert run.err == ""
    c1 = run.block(1)
    assert c1[0] == "c1 /raw: differs at the app's frame 1 of 1"
    assert "  the app raised RuntimeError: raw app broke" in c1
    logged = c1[c1.index("  the app logged:") :]
    assert logged[1:3] == ["    stderr: raw got x", "    WARNING raw: about to fail"]
    assert logged[3:5] == ["  the app's traceback:", "    Traceback (most recent call last):"]
    assert logged[-1] == "    RuntimeError: raw app broke"
    # Everything is as it was once the replay is over.
    assert (logging.Logger.callHandlers, sys.stderr) == (call_handlers, stderr)
    print("written after the replay", file=sys.stderr)
    assert capsys.readouterr().err == "written after the replay\n"

    # -v: what the app logged outside any connection (its lifespan), first.
    verbose = cli(capsys, write(tmp_path, connection), "--app", f"{name}:app", "--app-dir", tmp_path, "-v")
    assert verbose.out.splitlines()[:2] == ["the app logged outside any connection:", "  WARNING raw: starting up"]
    assert verbose.block(1) == c1
    assert "starting up" not in run.out


def test_a_connections_output_keeps_its_newest_records_and_one_traceback() -> None:
    output = AppOutput()
    for n in range(KEPT + 3):
        output.log(logging.makeLogRecord({"name": "app", "levelname": "INFO", "msg": "line %d", "args": (n,)}))
    lines = output.lines()
    assert lines[0] == "(3 earlier ones not kept)"
    assert lines[1] == "INFO app: line 3"
    assert lines[-1] == f"INFO app: line {KEPT + 2}"
    assert len(lines) == KEPT + 1

    try:
        raise KeyError("k")
    except KeyError as exc:
        error = exc
    logged = AppOutput()
    logged.log(
        logging.makeLogRecord(
            {"name": "app", "levelname": "ERROR", "msg": "failed", "exc_info": (KeyError, error, error.__traceback__)}
        )
    )
    assert logged.lines()[0] == "ERROR app: failed"
    assert logged.lines()[-1] == "  KeyError: 'k'"
    assert logged.traceback(error) == []  # the record holds it
    alone = AppOutput().traceback(error)
    assert (alone[0], alone[-1]) == ("Traceback (most recent call last):", "KeyError: 'k'")


def test_what_is_made_or_hooked_during_a_replay_lets_records_and_writes_through_after_it(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    original = logging.Logger.callHandlers
    log = logging.getLogger("wsinspect.test.kept")
    # Its own handler only: the root's may be a Litestar app's, which prints from a thread.
    monkeypatch.setattr(log, "propagate", False)
    with kept() as outside:
        handler = logging.StreamHandler()  # made now: it holds the stderr of the replay
        handler.setFormatter(logging.Formatter("handler: %(message)s"))
        log.addHandler(handler)
        ours = logging.Logger.callHandlers

        def another_tool(self: logging.Logger, record: logging.LogRecord) -> None:
            ours(self, record)

        logging.Logger.callHandlers = another_tool  # type: ignore[method-assign]
        with for_connection(AppOutput()) as output:
            log.warning("in a connection")
            print("written", file=sys.stderr, flush=True)
            sys.stderr.writelines(["two ", "parts\n"])
            assert not sys.stderr.isatty()
            assert sys.stderr.encoding  # the rest is the stream's
            lines = output.lines()
            output.close()
            log.warning("after its lines were taken")  # the connection's context, but it is done
        log.warning("outside")
    try:
        assert lines == ["WARNING wsinspect.test.kept: in a connection", "stderr: written", "stderr: two parts"]
        assert output.lines() == lines
        assert outside.lines() == [
            "WARNING wsinspect.test.kept: after its lines were taken",
            "WARNING wsinspect.test.kept: outside",
        ]
        assert capsys.readouterr().err == ""
        log.warning("after the replay")  # through the other tool's hook and ours, to the handlers
        handler.flush()
        assert capsys.readouterr().err == "handler: after the replay\n"
    finally:
        logging.Logger.callHandlers = original  # type: ignore[method-assign]
        log.removeHandler(handler)


# -- unit: field paths, the comparer, the scope ------------------------------------------------


@pytest.mark.parametrize("text", ["", "   ", "a..b", ".a", "a.", "."])
def test_parse_path_refuses_empty_paths_and_parts(text: str) -> None:
    with pytest.raises(ValueError, match="not a field path"):
        parse_path(text)


def test_parse_path_splits_on_dots() -> None:
    assert parse_path("a.b.*.c") == ("a", "b", "*", "c")
    assert parse_path(" meta.id ") == ("meta", "id")
    assert parse_path("rows.0") == ("rows", "0")


def text_frame(content: str, direction: Direction = "sent", **fields: Any) -> Frame:
    return Frame(
        direction=direction,
        message_type="text",
        content=content,
        timestamp=0.0,
        size_bytes=len(content.encode()),
        **fields,
    )


def same(recorded: Any, replayed: Any, *ignore: str, masks: tuple[str, ...] = ()) -> bool:
    comparer = Comparer([parse_path(path) for path in ignore], masks)
    one, other = (text_frame(json.dumps(value)) for value in (recorded, replayed))
    return comparer.same(one, other)


def test_comparer_star_paths_in_lists_and_dicts() -> None:
    one = {"items": [{"id": 1, "ts": 1}, {"id": 2, "ts": 2}], "meta": {"a": {"ts": 1, "v": 1}, "b": {"ts": 1}}}
    other = {"items": [{"id": 1, "ts": 9}, {"id": 2, "ts": 8}], "meta": {"a": {"ts": 7, "v": 1}, "b": {"ts": 6}}}
    assert not same(one, other)
    assert not same(one, other, "items.*.ts")  # meta's still differ
    assert same(one, other, "items.*.ts", "meta.*.ts")
    # "*" is a list's items and a dict's values alike.
    assert same(one, other, "*.*.ts")
    assert same({"x": [{"ts": 1}], "y": {"z": {"ts": 1}}}, {"x": [{"ts": 2}], "y": {"z": {"ts": 2}}}, "*.*.ts")


def test_comparer_paths_by_index_and_whole_subtrees() -> None:
    assert same({"rows": [1, 2, 3]}, {"rows": [9, 2, 3]}, "rows.0")
    assert not same({"rows": [1, 2, 3]}, {"rows": [1, 9, 3]}, "rows.0")
    assert same({"rows": [1, 2]}, {"rows": [5, 6, 7]}, "rows.*")  # every item gone: []
    assert same({"meta": {"id": 1, "at": 2}, "v": 1}, {"meta": {"id": 5}, "v": 1}, "meta")
    assert same({"meta": {"id": 1}}, {"meta": {"id": 2}}, "meta.*")
    assert not same({"v": 1}, {"v": 2}, "rows.5", "nothing.here", "v.deeper")  # naming nothing changes nothing
    assert same([{"ts": 1}, {"ts": 2}], [{"ts": 3}, {"ts": 4}], "*.ts")  # a top-level list


def test_comparer_compares_data_not_text() -> None:
    assert same({"a": 1, "b": [1, 2]}, {"b": [1, 2], "a": 1})
    comparer = Comparer()
    assert comparer.same(text_frame('{"a":1,"b":2}'), text_frame('{ "b" : 2 ,\n "a" : 1 }'))
    assert not same({"a": True}, {"a": 1})  # true is not 1
    assert not same({"a": [1, 2]}, {"a": [2, 1]})  # lists keep their order
    # A diff of the pretty-printed data, keys sorted.
    diff = comparer.diff(text_frame('{"b": 1, "a": 2}'), text_frame('{"a": 2, "b": 3}'))
    assert diff[:2] == ["--- recorded", "+++ replayed"]
    assert '-  "b": 1' in diff
    assert '+  "b": 3' in diff
    assert comparer.diff(text_frame('{"a":1}'), text_frame('{"a": 1}')) == []


def test_comparer_takes_1_for_1_0_as_its_comment_says() -> None:
    assert same({"a": 1}, {"a": 1.0})


def test_comparer_masks_text_before_comparing() -> None:
    comparer = Comparer(masks=[r"id=\d+"])
    assert comparer.same(text_frame("hello id=12 ok"), text_frame("hello id=345 ok"))
    assert not comparer.same(text_frame("hello id=12 ok"), text_frame("hello id=12 not ok"))
    assert comparer.diff(text_frame("a id=1"), text_frame("b id=2")) == [
        "--- recorded",
        "+++ replayed",
        "@@ -1 +1 @@",
        f"-a {MASK}",
        f"+b {MASK}",
    ]


def test_comparer_truncated_recording_compares_the_kept_part_and_the_size() -> None:
    comparer = Comparer()
    recorded = text_frame("abcdefgh", truncated=True)
    recorded.size_bytes = 20
    assert comparer.same(recorded, text_frame("abcdefgh" + "x" * 12))
    assert not comparer.same(recorded, text_frame("abcdefgh" + "x" * 13))  # its size differs
    assert not comparer.same(recorded, text_frame("abcdefgX" + "x" * 12))  # the kept part differs


def test_comparer_binary_and_close_frames() -> None:
    comparer = Comparer()

    def binary(content: bytes) -> Frame:
        return Frame(direction="sent", message_type="binary", content=content, timestamp=0.0, size_bytes=len(content))

    def close(code: int, reason: str) -> Frame:
        return Frame(
            direction="sent", message_type="close", content=reason, timestamp=0.0, size_bytes=2, close_code=code
        )

    # MessagePack maps as data, whatever their key order.
    one = msgspec.msgpack.encode({"a": 1, "b": 2})
    other = msgspec.msgpack.encode({"b": 2, "a": 1})
    assert one != other
    assert comparer.same(binary(one), binary(other))
    assert comparer.same(binary(b"\x00\x01\xff"), binary(b"\x00\x01\xff"))
    assert not comparer.same(binary(b"\x00\x01\xff"), binary(b"\x00\x01\xfe"))
    assert comparer.same(close(4001, "bye"), close(4001, "bye"))
    assert not comparer.same(close(4001, "bye"), close(4001, "ciao"))
    assert not comparer.same(close(4001, "bye"), close(4002, "bye"))
    assert comparer.diff(close(1000, ""), close(4001, "bye"))[-2:] == ["-1000 Normal Closure", "+4001 Application: bye"]


def test_build_scope_headers_client_and_query() -> None:
    connection = hand_built(
        "/chat/room",
        [],
        query_string="a=1&b=%20x&c=\u00e9",
        client="10.1.2.3:4567",
        headers=[("Host", "example.com"), ("Authorization", REDACTED), ("X-Trace", "t1")],
        requested_subprotocols=["v2", "v1"],
        scheme="wss",
    )
    scope = build_scope(connection, {"authorization": "Bearer y", "x-extra": "1"}, {"db": "pool"})
    assert scope["type"] == "websocket"
    assert scope["path"] == "/chat/room"
    assert scope["query_string"] == b"a=1&b=%20x&c=\xe9"
    # Replaced where it was, names lowered, and the new one added after the recorded ones.
    assert scope["headers"] == [
        (b"host", b"example.com"),
        (b"authorization", b"Bearer y"),
        (b"x-trace", b"t1"),
        (b"x-extra", b"1"),
    ]
    assert scope["client"] == ("10.1.2.3", 4567)
    assert scope["subprotocols"] == ["v2", "v1"]
    assert scope["scheme"] == "wss"
    assert scope["state"] == {"db": "pool"}
    # The state is a copy: one connection's changes do not reach the next.
    scope["state"]["db"] = "other"
    assert build_scope(connection, {}, {"db": "pool"})["state"] == {"db": "pool"}
    # Without headers given, the recorded ones as they were (the redacted value too).
    assert (b"authorization", REDACTED.encode()) in build_scope(connection, {}, {})["headers"]


@pytest.mark.parametrize(
    ("client", "expected"),
    [
        (None, ("127.0.0.1", 50000)),
        ("192.168.0.7:80", ("192.168.0.7", 80)),
        ("[::1]:8080", ("[::1]", 8080)),
        ("somewhere", ("127.0.0.1", 50000)),
        ("host:notaport", ("host", 50000)),
    ],
)
def test_build_scope_parses_the_client(client: str | None, expected: tuple[str, int]) -> None:
    assert build_scope(hand_built("/", [], client=client), {}, {})["client"] == expected


@pytest.mark.parametrize(("text", "kind", "value"), [("drop-after:3", "drop-after", 3), ("close:4000", "close", 4000)])
def test_fault_parse(text: str, kind: str, value: int) -> None:
    fault = Fault.parse(text)
    assert (fault.kind, fault.value) == (kind, value)
