"""A pytest process's recording without pytest: the tap on every recorder, a test's end waiting
for a close in flight, the run's own connections, the journal of a long test, and the socket
server processes stream to."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from helpers.asgi import converse, ws_scope
from helpers.factories import echo_app
from helpers.waiting import until

from wsinspect import Recorder, WSInspectConfig, WSInspectMiddleware
from wsinspect.capture import taps
from wsinspect.capture.tracker import ConnectionTracker
from wsinspect.sessions import read_session
from wsinspect.testing import recording as recording_module
from wsinspect.testing.listener import Listener
from wsinspect.testing.names import file_name, run_file_name
from wsinspect.testing.output import Output
from wsinspect.testing.recording import Recording


@pytest.fixture
def output(tmp_path: Path) -> Output:
    return Output(tmp_path / "wsinspect", shown_from=tmp_path)


@pytest.fixture
def recording(output: Output) -> Iterator[Recording]:
    recording = Recording(output, None)
    taps.install(recording)
    yield recording
    taps.uninstall(recording)
    recording.close()


def _opened(recorder: Recorder) -> ConnectionTracker:
    tracker = recorder.start(ws_scope("/ws/chat"), time.time())
    tracker.send({"type": "websocket.accept"}, time.time())
    return tracker


def test_a_close_on_its_way_as_the_test_ends_is_in_its_file(recording: Recording, output: Output) -> None:
    recording.begin("t.py::test_a")
    tracker = _opened(Recorder(WSInspectConfig(), stream=False))
    # The client's close reaches the app (in its own thread) just after the test returned.
    closer = threading.Timer(0.1, lambda: tracker.receive({"type": "websocket.disconnect", "code": 1000}, time.time()))
    closer.start()
    shown = recording.finish("t.py::test_a", keep=True)
    closer.join()
    assert shown is not None
    (connection,) = read_session(output.directory / file_name("t.py::test_a")).connections
    assert connection.state == "closed"
    assert connection.close_code == 1000


def test_what_opens_outside_a_test_or_in_a_wider_fixture_is_the_run_s(recording: Recording, output: Output) -> None:
    recorder = Recorder(WSInspectConfig(), stream=False)
    _opened(recorder)  # before any test
    recording.begin("t.py::test_b")
    recording.wider_fixture(None)
    _opened(recorder)  # a session fixture's, set up in the first test that needs it
    recording.wider_fixture("t.py::test_b")
    _opened(recorder)  # the test's own
    assert [c.path for c in recording.connections("t.py::test_b")] == ["/ws/chat"]
    assert recording.finish("t.py::test_b", keep=False) is None
    assert recording.finish_run(keep=True) == str(Path("wsinspect") / run_file_name(None))
    assert len(read_session(output.directory / "_run.json").connections) == 2
    assert sorted(p.name for p in output.directory.iterdir()) == [".wsinspect-files", "_run.json"]


def test_a_test_that_runs_long_has_its_file_written_as_it_goes_and_removed_as_it_passes(
    output: Output, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(recording_module, "JOURNAL_AFTER", 0.2)
    monkeypatch.setattr(recording_module, "JOURNAL_EVERY", 0.1)
    recording = Recording(output, None)
    taps.install(recording)
    try:
        recording.begin("t.py::test_long")
        tracker = _opened(Recorder(WSInspectConfig(), stream=False))
        tracker.receive({"type": "websocket.receive", "text": "hello"}, time.time())
        path = output.directory / file_name("t.py::test_long")
        deadline = time.monotonic() + 10
        while not path.exists():
            assert time.monotonic() < deadline, "the journal never wrote the running test's file"
            time.sleep(0.02)
        (connection,) = read_session(path).connections
        assert connection.state == "open"
        assert [frame.content for frame in connection.messages] == ["hello"]
        assert recording.finish("t.py::test_long", keep=False) is None
        assert not path.exists()
    finally:
        taps.uninstall(recording)
        recording.close()


def test_recorders_made_while_it_listens_stream_only_elsewhere(tmp_path: Path, output: Output) -> None:
    listener = Listener(Path("/tmp") / f"wsi-rec-{time.monotonic_ns()}.sock")
    recording = Recording(output, listener, journal=False)
    taps.install(recording)
    try:
        # Its own socket: the tap sees the connections already, no emitter to stream there.
        assert Recorder(WSInspectConfig(socket_path=str(listener.path))).emitter is None
        elsewhere = Recorder(WSInspectConfig(socket_path=str(tmp_path / "other.sock")))
        assert elsewhere.emitter is not None
    finally:
        taps.uninstall(recording)
        recording.close()
    assert not listener.path.exists()
    assert Recorder(WSInspectConfig(socket_path=str(listener.path))).emitter is not None  # uninstalled


async def test_a_server_process_s_connections_are_the_test_s_by_when_they_opened(output: Output) -> None:
    # The listener takes any producer; one made in this process stands in for a server process,
    # its connections told apart from the tap's by their pid.
    listener = Listener(Path("/tmp") / f"wsi-rec-{time.monotonic_ns()}.sock")
    recording = Recording(output, listener, journal=False)
    pid = recording._pid
    recording._pid = -1  # this process is "another" one
    try:
        recording.begin("t.py::test_c")
        middleware = WSInspectMiddleware(echo_app, WSInspectConfig(socket_path=str(listener.path)))
        await converse(middleware, ["one", "two"])
        await until(lambda: recording.connections("t.py::test_c"), what="the connection over the socket")
        shown = recording.finish("t.py::test_c", keep=True)
        assert shown is not None
        (connection,) = read_session(output.directory / file_name("t.py::test_c")).connections
        assert [f.content for f in connection.messages if f.message_type == "text"] == ["one", "one", "two", "two"]
        assert connection.pid == pid
    finally:
        recording.close()
