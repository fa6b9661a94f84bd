"""The pytest plugin (``pytest --wsinspect=...``) in real pytest sessions, run by pytester: in this
process where they can be, in processes of their own where a run must be timed out, killed or
split over pytest-xdist's workers. The apps are real (Litestar, Starlette, FastAPI test clients;
uvicorn in a process a fixture starts)."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path

import pytest
from helpers.tui import make_app, text_of

from wsinspect.inspector.ui.connections import ConnectionTable
from wsinspect.model import Connection
from wsinspect.sessions import read_session
from wsinspect.testing.environment import PLUGIN_SOCKET
from wsinspect.testing.names import file_name
from wsinspect.testing.output import MANIFEST

pytest_plugins = ("pytester",)

# The app the inner test sessions drive: an echo that never answers "subscribe" (a client waiting
# for a reply waits for ever) and works for ever on "work".
APP = """
import asyncio

from litestar import Litestar, websocket
from litestar.connection import WebSocket

from wsinspect.litestar import WSInspectPlugin


@websocket("/ws/echo")
async def echo(socket: WebSocket) -> None:
    await socket.accept()
    while True:
        text = await socket.receive_text()
        if text == "subscribe":
            continue  # the bug: no reply
        if text == "work":
            await asyncio.sleep(3600)  # WORKING
        await socket.send_text(text)


app = Litestar([echo], plugins=[WSInspectPlugin()], debug=True)
"""

TESTS = """
from litestar.testing import TestClient

from ws_app import app


def test_passes():
    with TestClient(app) as client, client.websocket_connect("/ws/echo") as ws:
        ws.send_text("hi")
        assert ws.receive_text() == "hi"


def test_waits_for_a_reply():
    with TestClient(app) as client, client.websocket_connect("/ws/echo") as ws:
        ws.send_text("hi")
        assert ws.receive_text() == "hi"
        ws.send_text("subscribe")
        ws.receive_text(timeout=1.2)


def test_without_websockets():
    assert 1 + 1 == 3
"""

DIR = Path("test-results/wsinspect")


@pytest.fixture
def inner(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> pytest.Pytester:
    """A project with the app, run by a user who set no WSINSPECT_SOCKET."""
    monkeypatch.delenv("WSINSPECT_SOCKET", raising=False)
    monkeypatch.delenv(PLUGIN_SOCKET, raising=False)  # as a run of the plugin in this run set it
    # The snapshot plugin of this project's own tests keeps one directory per process, which an
    # inner run in this process would remove from under the outer one; the inner tests are sync.
    monkeypatch.setenv("PYTEST_ADDOPTS", "-p no:textual-snapshot -p no:asyncio")
    pytester.makepyfile(ws_app=APP)
    return pytester


def kept(pytester: pytest.Pytester, directory: Path = DIR) -> dict[str, list[Connection]]:
    """The session files in the output directory, by name, as ``wsinspect open`` reads them."""
    path = pytester.path / directory
    if not path.exists():
        return {}
    return {file.name: read_session(file).connections for file in sorted(path.iterdir()) if file.name != MANIFEST}


def texts(connection: Connection) -> list[tuple[str, str]]:
    return [(frame.direction, frame.content) for frame in connection.messages if frame.message_type == "text"]


def section(output: str) -> list[str]:
    """The lines of the report section wsinspect adds to a failure, after its header."""
    lines = output.splitlines()
    start = next(i for i, line in enumerate(lines) if re.match(r"^-+ wsinspect: \d+ connections? -+$", line))
    end = next((i for i in range(start + 1, len(lines)) if re.match(r"^(-|=|_){5,}", lines[i])), len(lines))
    return lines[start + 1 : end]


# -- installed, and off unless asked ----------------------------------------------------------------


def test_installed_it_changes_no_run_unless_asked(inner: pytest.Pytester) -> None:
    inner.makepyfile(
        test_off=TESTS
        + """

def test_nothing_is_set_up():
    import os
    from wsinspect.capture import taps
    assert "WSINSPECT_SOCKET" not in os.environ
    assert taps.current() is None
"""
    )
    result = inner.runpytest_subprocess()  # a process of its own: no tap of this run's plugin in it
    result.assert_outcomes(passed=2, failed=2)
    out = result.stdout.str()
    assert "wsinspect:" not in out
    assert "wsinspect open" not in out
    assert not (inner.path / "test-results").exists()


# -- retain-on-failure: the failed test's session, its report and where to find it ----------------


def test_a_failed_test_keeps_its_session_and_shows_what_its_handler_was_doing(inner: pytest.Pytester) -> None:
    inner.makepyfile(test_chat=TESTS)
    result = inner.runpytest_inprocess("--wsinspect=retain-on-failure")
    result.assert_outcomes(passed=1, failed=2)

    name = file_name("test_chat.py::test_waits_for_a_reply")
    files = kept(inner)
    assert list(files) == [name]  # not the passing test's, and none for a test without connections
    (connection,) = files[name]
    assert connection.path == "/ws/echo"
    assert connection.handler == "ws_app.echo"
    assert texts(connection) == [("received", "hi"), ("sent", "hi"), ("received", "subscribe")]
    assert (connection.close_code, connection.closed_by) == (1000, "client")
    # What the handler did before the test client's close, which came as the exception unwound.
    assert connection.closed_while is not None
    assert connection.closed_while.state == "receiving"
    assert connection.disconnected_at is not None
    assert connection.disconnected_at - connection.closed_while.since >= 1.1

    out = result.stdout.str()
    lines = section(out)
    assert re.fullmatch(
        r"c1 /ws/echo \(handler echo, ws_app\.py:\d+\): closed by client: 1000 Normal Closure, after \d+\.\ds", lines[0]
    )
    assert re.fullmatch(
        r"   handler: waiting in receive\(\) for (1\.[1-9]|[2-9]\.\d)s when the connection closed", lines[1]
    )
    assert lines[2] == "   last 3 of 4 frames:"
    assert re.fullmatch(r"     00:00\.\d{3} → text hi", lines[3])
    assert re.fullmatch(r"     00:00\.\d{3} ← text subscribe", lines[4])
    assert re.fullmatch(r"     00:0\d\.\d{3} ← close 1000 Normal Closure", lines[5])
    assert lines[6] == f"session: wsinspect open {DIR / name}"
    assert out.count("---- wsinspect: ") == 1  # the test without connections has no section
    summary = out.split("wsinspect: 1 session file kept", 1)[1].splitlines()
    assert summary[1] == f"wsinspect open {DIR / name}"
    assert "wsinspect: retain-on-failure, session files in test-results/wsinspect" in out  # the header


def test_on_keeps_every_test_that_opened_a_connection_and_reads_the_ini(inner: pytest.Pytester) -> None:
    inner.makepyfile(test_chat=TESTS)
    inner.makefile(".ini", pytest="[pytest]\nwsinspect = on\nwsinspect_output = out/ws\n")
    result = inner.runpytest_inprocess()
    result.assert_outcomes(passed=1, failed=2)
    files = kept(inner, Path("out/ws"))
    assert sorted(files) == sorted(
        [file_name("test_chat.py::test_passes"), file_name("test_chat.py::test_waits_for_a_reply")]
    )
    (passed,) = files[file_name("test_chat.py::test_passes")]
    assert texts(passed) == [("received", "hi"), ("sent", "hi")]
    assert passed.state == "closed"
    # The command line wins over the ini.
    inner.runpytest_inprocess("--wsinspect=off", "-p", "no:cacheprovider").assert_outcomes(passed=1, failed=2)
    assert kept(inner, Path("out/ws")) == files


def test_a_fixture_that_errors_keeps_the_test_and_reports_in_the_error(inner: pytest.Pytester) -> None:
    inner.makepyfile(
        test_fixture="""
import pytest
from litestar.testing import TestClient

from ws_app import app


@pytest.fixture
def subscribed():
    with TestClient(app) as client, client.websocket_connect("/ws/echo") as ws:
        ws.send_text("subscribe")
        raise RuntimeError("the fixture gave up")


@pytest.fixture
def left_behind():
    yield
    with TestClient(app) as client, client.websocket_connect("/ws/echo") as ws:
        ws.send_text("bye")
        raise RuntimeError("teardown failed")


def test_setup_errors(subscribed):
    pass


def test_teardown_errors(left_behind):
    pass
"""
    )
    result = inner.runpytest_inprocess("--wsinspect=retain-on-failure")
    result.assert_outcomes(passed=1, errors=2)
    files = kept(inner)
    assert sorted(files) == sorted(
        [file_name("test_fixture.py::test_setup_errors"), file_name("test_fixture.py::test_teardown_errors")]
    )
    assert texts(files[file_name("test_fixture.py::test_setup_errors")][0]) == [("received", "subscribe")]
    out = result.stdout.str()
    assert "ERROR at setup of test_setup_errors" in out
    assert "ERROR at teardown of test_teardown_errors" in out
    assert out.count("---- wsinspect: 1 connection ----") == 2


# -- timeouts, kills ---------------------------------------------------------------------------


def test_a_test_stopped_by_pytest_timeout_shows_the_wait_before_its_client_closed(inner: pytest.Pytester) -> None:
    inner.makepyfile(
        test_hang="""
import pytest
from litestar.testing import TestClient

from ws_app import app


@pytest.mark.timeout(1.5, method="signal")
def test_hangs():
    with TestClient(app) as client, client.websocket_connect("/ws/echo") as ws:
        ws.send_text("subscribe")
        ws.receive_text()  # for ever: no timeout of its own
"""
    )
    result = inner.runpytest_subprocess("--wsinspect=retain-on-failure")
    result.assert_outcomes(failed=1)
    out = result.stdout.str()
    assert "Timeout" in out
    lines = section(out)
    assert "closed by client: 1000 Normal Closure" in lines[0], lines
    # The timeout counts from the test's start; the wait, from the handler's last receive() on.
    assert re.fullmatch(r"   handler: waiting in receive\(\) for \d+\.\ds when the connection closed", lines[1]), lines
    assert list(kept(inner)) == [file_name("test_hang.py::test_hangs")]


KILLED = """
import time
from pathlib import Path

from litestar.testing import TestClient

from ws_app import app


def test_killed_mid_run():
    with TestClient(app) as client, client.websocket_connect("/ws/echo") as ws:
        ws.send_text("hi")
        assert ws.receive_text() == "hi"
        ws.send_text("subscribe")
        Path("started").write_text("")
        time.sleep(60)
"""


def _wait_for(path: Path, process: subprocess.Popen[bytes], patience: float = 30.0) -> None:
    deadline = time.monotonic() + patience
    while not path.exists():
        assert process.poll() is None, f"the run ended ({process.returncode}) before {path.name} was written"
        assert time.monotonic() < deadline, f"no {path.name} after {patience}s"
        time.sleep(0.05)


@pytest.fixture
def short_tmp(monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """The temporary directory of a run that is killed: its socket's directory is left behind,
    here rather than in /tmp (short: a socket path must fit in 108 bytes)."""
    directory = Path(tempfile.mkdtemp(prefix="wsi-", dir="/tmp"))
    monkeypatch.setenv("TMPDIR", str(directory))
    yield directory
    shutil.rmtree(directory, ignore_errors=True)


def test_a_test_killed_mid_run_leaves_its_session_so_far(inner: pytest.Pytester, short_tmp: Path) -> None:
    inner.makepyfile(test_killed=KILLED)
    env = {**os.environ, "PYTHONPATH": str(inner.path)}
    process = subprocess.Popen(
        [sys.executable, "-m", "pytest", "--wsinspect=retain-on-failure", "-p", "no:cacheprovider"],
        cwd=inner.path,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        file = inner.path / DIR / file_name("test_killed.py::test_killed_mid_run")
        _wait_for(inner.path / "started", process)
        _wait_for(file, process)  # written as the test goes, once it has run a second
        time.sleep(1.2)  # and again
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=10)
    finally:
        if process.poll() is None:
            process.kill()
    (connection,) = read_session(file).connections
    assert connection.state == "open"
    assert texts(connection) == [("received", "hi"), ("sent", "hi"), ("received", "subscribe")]
    assert connection.handler_state is not None
    assert connection.handler_state.state == "receiving"
    # The next run starts clean: the killed run's file was its own.
    inner.makepyfile(test_killed="def test_fine():\n    pass\n")
    inner.runpytest_inprocess("--wsinspect=retain-on-failure").assert_outcomes(passed=1)
    assert not file.exists()


def test_pytest_timeout_s_thread_method_leaves_the_session_too(inner: pytest.Pytester, short_tmp: Path) -> None:
    inner.makepyfile(
        test_killed=KILLED.replace(
            "def test_killed", "import pytest\n\n@pytest.mark.timeout(4, method='thread')\ndef test_killed"
        )
    )
    result = inner.runpytest_subprocess("--wsinspect=retain-on-failure")
    assert "Timeout" in result.stderr.str() + result.stdout.str()
    (connection,) = kept(inner)[file_name("test_killed.py::test_killed_mid_run")]
    assert texts(connection)[-1] == ("received", "subscribe")


# -- other test clients, and servers in processes of their own ------------------------------------


def test_starlette_fastapi_and_httpx_ws_clients_with_the_middleware(inner: pytest.Pytester) -> None:
    inner.makepyfile(
        test_frameworks="""
from fastapi import FastAPI, WebSocket as FastAPISocket
from starlette.applications import Starlette
from starlette.routing import WebSocketRoute
from starlette.testclient import TestClient

from wsinspect import WSInspectMiddleware


async def starlette_echo(websocket):
    await websocket.accept()
    text = await websocket.receive_text()
    await websocket.send_text(text)
    await websocket.close(code=4001, reason="done")


fastapi_app = FastAPI()


@fastapi_app.websocket("/ws/fast")
async def fastapi_echo(websocket: FastAPISocket):
    await websocket.accept()
    await websocket.send_text("ready")
    await websocket.receive_text()


starlette_app = WSInspectMiddleware(Starlette(routes=[WebSocketRoute("/ws/star", starlette_echo)]))


def test_starlette():
    with TestClient(starlette_app) as client, client.websocket_connect("/ws/star") as ws:
        ws.send_text("hi")
        assert ws.receive_text() == "hi"
    assert False, "after the close"


def test_fastapi():
    with TestClient(WSInspectMiddleware(fastapi_app)) as client, client.websocket_connect("/ws/fast") as ws:
        assert ws.receive_text() == "ready"
        assert False, "while open"


def test_httpx_ws():
    import asyncio

    import httpx
    from httpx_ws import aconnect_ws
    from httpx_ws.transport import ASGIWebSocketTransport

    async def talk():
        async with httpx.AsyncClient(transport=ASGIWebSocketTransport(starlette_app)) as client:
            async with aconnect_ws("http://test/ws/star", client) as ws:
                await ws.send_text("over httpx-ws")
                assert await ws.receive_text() == "over httpx-ws"

    asyncio.run(talk())
    assert False, "after the close"
"""
    )
    result = inner.runpytest_inprocess("--wsinspect=retain-on-failure")
    result.assert_outcomes(failed=3)
    files = kept(inner)
    (star,) = files[file_name("test_frameworks.py::test_starlette")]
    assert texts(star) == [("received", "hi"), ("sent", "hi")]
    assert (star.close_code, star.close_reason, star.closed_by) == (4001, "done", "server")
    (over_httpx_ws,) = files[file_name("test_frameworks.py::test_httpx_ws")]
    assert texts(over_httpx_ws) == [("received", "over httpx-ws"), ("sent", "over httpx-ws")]
    (fast,) = files[file_name("test_frameworks.py::test_fastapi")]
    assert fast.path == "/ws/fast"
    assert texts(fast)[0] == ("sent", "ready")
    out = result.stdout.str()
    assert "c1 /ws/star" in out
    assert "closed by server: 4001 Application: done" in out
    assert "c1 /ws/fast" in out


SERVER_CONFTEST = """
import socket
import subprocess
import sys
import time

import pytest
from websockets.sync.client import connect


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def server():
    port = _free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "ws_app:app", "--port", str(port), "--log-level", "warning",
         "--timeout-graceful-shutdown", "1"]
    )
    deadline = time.monotonic() + 20
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            break
        except OSError:
            assert time.monotonic() < deadline and process.poll() is None, "uvicorn did not start"
            time.sleep(0.05)
    url = f"ws://127.0.0.1:{port}/ws/echo"
    with connect(url) as ws:  # opened by the session's fixture: the run's own file
        ws.send("warm-up")
        assert ws.recv() == "warm-up"
    yield url, process.pid
    process.terminate()
    process.wait(timeout=20)
"""


def test_a_uvicorn_process_a_fixture_starts_streams_to_the_plugin(inner: pytest.Pytester) -> None:
    inner.makeconftest(SERVER_CONFTEST)
    inner.makepyfile(
        test_plugin_server_process="""
import pytest
from websockets.sync.client import connect


def test_reply_never_comes(server):
    url, pid = server
    with connect(url) as ws:
        ws.send("hi")
        assert ws.recv() == "hi"
        ws.send("work")
        ws.recv(timeout=3)  # its state is streamed once it has lasted a second


def test_fine(server):
    url, pid = server
    with connect(url) as ws:
        ws.send("fine")
        assert ws.recv() == "fine"
"""
    )
    result = inner.runpytest_inprocess("--wsinspect=retain-on-failure")
    result.assert_outcomes(passed=1, failed=1)
    files = kept(inner)
    assert sorted(files) == sorted(["_run.json", file_name("test_plugin_server_process.py::test_reply_never_comes")])
    (connection,) = files[file_name("test_plugin_server_process.py::test_reply_never_comes")]
    assert connection.pid is not None
    assert connection.pid != os.getpid()
    assert connection.app
    assert texts(connection) == [("received", "hi"), ("sent", "hi"), ("received", "work")]
    (warm_up,) = files["_run.json"]
    assert texts(warm_up) == [("received", "warm-up"), ("sent", "warm-up")]
    # Still open as the test failed: the handler works, and where, streamed from its process.
    lines = section(result.stdout.str())
    assert re.fullmatch(rf"c1 /ws/echo \(handler echo, ws_app\.py:\d+\) \[.+, pid {connection.pid}\]: .+", lines[0])
    assert re.fullmatch(r"   handler: working for [1-9]\.\ds at ws_app\.py:\d+ echo\(\) when the test failed", lines[1])
    summary = result.stdout.str().split("wsinspect: 2 session files kept", 1)[1]
    assert f"wsinspect open {DIR / '_run.json'}" in summary


# -- pytest-xdist, JUnit XML ------------------------------------------------------------------------


def test_two_xdist_workers_write_their_own_files_and_the_junit_xml_points_at_them(inner: pytest.Pytester) -> None:
    inner.makeconftest(
        """
import pytest
from litestar.testing import TestClient

from ws_app import app


@pytest.fixture(scope="session", autouse=True)
def session_connection():
    with TestClient(app) as client, client.websocket_connect("/ws/echo") as ws:
        ws.send_text("session")
        assert ws.receive_text() == "session"
        yield
"""
    )
    tests = "\n".join(
        f"""
def test_{n}():
    with TestClient(app) as client, client.websocket_connect("/ws/echo") as ws:
        ws.send_text("{n}")
        assert ws.receive_text() == "{n}"
        assert {n} % 2 == 0
"""
        for n in range(6)
    )
    inner.makepyfile(test_many="from litestar.testing import TestClient\n\nfrom ws_app import app\n" + tests)
    result = inner.runpytest_subprocess("-n", "2", "--wsinspect=retain-on-failure", "--junitxml=junit.xml")
    result.assert_outcomes(passed=3, failed=3)
    files = kept(inner)
    failed = {file_name(f"test_many.py::test_{n}"): str(n) for n in (1, 3, 5)}
    assert set(files) == {*failed, "_run-gw0.json", "_run-gw1.json"}
    for name, n in failed.items():
        (connection,) = files[name]
        assert texts(connection) == [("received", n), ("sent", n)]
    for worker in ("gw0", "gw1"):
        (connection,) = files[f"_run-{worker}.json"]
        assert texts(connection) == [("received", "session"), ("sent", "session")]
    out = result.stdout.str()
    assert "wsinspect: 5 session files kept" in out
    for name in [*failed, "_run-gw0.json", "_run-gw1.json"]:
        assert f"wsinspect open {DIR / name}" in out

    cases = {case.get("name"): case for case in ET.parse(inner.path / "junit.xml").getroot().iter("testcase")}
    for n in range(6):
        case = cases[f"test_{n}"]
        properties = {p.get("name"): p.get("value") for p in case.iter("property")}
        outs = "".join(node.text or "" for node in case.iter("system-out"))
        if n % 2:
            path = str(DIR / file_name(f"test_many.py::test_{n}"))
            assert properties == {"wsinspect_session": path}
            assert f"[[ATTACHMENT|{path}]]" in outs
        else:
            assert properties == {}
            assert "ATTACHMENT" not in outs


def test_junit_logging_to_system_out_gets_the_attachment_in_its_own_output(inner: pytest.Pytester) -> None:
    inner.makepyfile(test_chat=TESTS)
    result = inner.runpytest_inprocess(
        "--wsinspect=retain-on-failure", "--junitxml=junit.xml", "-o", "junit_logging=system-out"
    )
    result.assert_outcomes(passed=1, failed=2)
    cases = {case.get("name"): case for case in ET.parse(inner.path / "junit.xml").getroot().iter("testcase")}
    (out,) = cases["test_waits_for_a_reply"].iter("system-out")  # one system-out, the attachment in it
    assert f"[[ATTACHMENT|{DIR / file_name('test_chat.py::test_waits_for_a_reply')}]]" in (out.text or "")


# -- never changes an outcome -----------------------------------------------------------------------


def test_an_output_directory_that_cannot_be_written_is_one_warning_and_the_same_outcomes(
    inner: pytest.Pytester,
) -> None:
    inner.makepyfile(test_chat=TESTS)
    (inner.path / "a-file").write_text("")
    without = inner.runpytest_inprocess("-p", "no:wsinspect", "-W", "error")
    result = inner.runpytest_inprocess(
        "--wsinspect=on", "--wsinspect-output=a-file/wsinspect", "-W", "error", "-p", "no:cacheprovider"
    )
    assert result.ret == without.ret
    result.assert_outcomes(passed=1, failed=2, warnings=1)
    out = result.stdout.str()
    assert re.search(r"WSInspectWarning: wsinspect: cannot write .*a-file.*; no more session files are kept", out)
    assert "session file kept" not in out
    assert "session: wsinspect open" not in out  # the report does not point at a file that is not there


def test_a_socket_it_cannot_bind_is_one_warning_and_this_process_is_still_recorded(
    inner: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A temporary directory so deep that no socket path under it fits in sun_path (108 bytes).
    deep = inner.path / ("d" * 100)
    deep.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(deep))
    inner.makepyfile(test_chat=TESTS)
    result = inner.runpytest_inprocess("--wsinspect=retain-on-failure", "-W", "error")
    result.assert_outcomes(passed=1, failed=2, warnings=1)
    assert re.search(
        r"WSInspectWarning: wsinspect cannot listen for server processes: .*only this process", result.stdout.str()
    )
    assert list(kept(inner)) == [file_name("test_chat.py::test_waits_for_a_reply")]
    assert "WSINSPECT_SOCKET" not in os.environ


def test_the_files_of_the_run_before_go_and_the_user_s_stay(inner: pytest.Pytester) -> None:
    inner.makepyfile(test_chat=TESTS)
    inner.runpytest_inprocess("--wsinspect=on")
    assert len(kept(inner)) == 2
    (inner.path / DIR / "notes.txt").write_text("mine")
    inner.makepyfile(test_chat="def test_nothing():\n    pass\n")
    inner.runpytest_inprocess("--wsinspect=on").assert_outcomes(passed=1)
    assert sorted(p.name for p in (inner.path / DIR).iterdir()) == ["notes.txt"]


# -- asserting on the traffic, opting out ------------------------------------------------------------

FIXTURE_TEST = """
from litestar.testing import TestClient

from ws_app import app


def test_asserts_on_the_traffic(wsinspect_connections):
    assert wsinspect_connections() == []
    with TestClient(app) as client, client.websocket_connect("/ws/echo?room=1") as ws:
        ws.send_text("hi")
        assert ws.receive_text() == "hi"
        (open_one,) = wsinspect_connections()
        assert open_one.state == "open"
    (connection,) = wsinspect_connections(closed=True)
    assert connection.close_code == 1000 and connection.query_string == "room=1"
    assert [f.size_bytes for f in connection.messages if f.message_type == "text"] == [2, 2]
    assert connection.error is None
"""


@pytest.mark.parametrize("mode", ["off", "retain-on-failure"])
def test_the_fixture_gives_the_test_s_connections_whatever_the_mode(inner: pytest.Pytester, mode: str) -> None:
    inner.makepyfile(test_fixture=FIXTURE_TEST)
    inner.runpytest_inprocess(f"--wsinspect={mode}").assert_outcomes(passed=1)


def test_a_marked_test_is_left_alone(inner: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WSINSPECT_SOCKET", "/tmp/the-user-s.sock")
    inner.makepyfile(
        test_marked="""
import os

import pytest
from litestar.testing import TestClient

from ws_app import app


@pytest.mark.no_wsinspect
def test_socket_machinery():
    assert os.environ["WSINSPECT_SOCKET"] == "/tmp/the-user-s.sock"
    with TestClient(app) as client, client.websocket_connect("/ws/echo") as ws:
        ws.send_text("hi")
    assert False


def test_recorded():
    with TestClient(app) as client, client.websocket_connect("/ws/echo") as ws:
        ws.send_text("hi")
    assert False
"""
    )
    result = inner.runpytest_inprocess("--wsinspect=retain-on-failure")
    result.assert_outcomes(failed=2)
    assert list(kept(inner)) == [file_name("test_marked.py::test_recorded")]


def test_a_socket_the_user_set_is_left_to_them(inner: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WSINSPECT_SOCKET", "/tmp/the-user-s.sock")
    inner.makepyfile(
        test_env="""
import os

def test_env():
    assert os.environ["WSINSPECT_SOCKET"] == "/tmp/the-user-s.sock"
"""
    )
    inner.runpytest_inprocess("--wsinspect=on").assert_outcomes(passed=1)


# -- a kept file opens, and replays to ok --------------------------------------------------------------


def test_a_kept_file_replays_to_ok(inner: pytest.Pytester) -> None:
    inner.makepyfile(test_chat=TESTS)
    inner.runpytest_inprocess("--wsinspect=retain-on-failure")
    path = inner.path / DIR / file_name("test_chat.py::test_waits_for_a_reply")
    replay = subprocess.run(
        [sys.executable, "-m", "wsinspect", "replay", str(path), "--app", "ws_app:app", "--app-dir", str(inner.path)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert replay.returncode == 0, replay.stdout + replay.stderr
    assert "1 connection replayed: 1 ok" in replay.stdout


async def test_a_kept_file_opens_in_the_inspector(inner: pytest.Pytester) -> None:
    inner.makepyfile(test_chat=TESTS)
    inner.runpytest_inprocess("--wsinspect=retain-on-failure")
    path = inner.path / DIR / file_name("test_chat.py::test_waits_for_a_reply")
    app = make_app(connections=read_session(path).connections)
    async with app.run_test(size=(160, 40)) as pilot:
        await pilot.pause()
        assert "/ws/echo" in text_of(app.query_one(ConnectionTable))
    assert json.loads(path.read_text())["format"] == "wsinspect.session"
