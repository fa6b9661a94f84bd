"""The plugin's hooks while a mode other than off is on: :func:`.plugin.pytest_configure`
registers :class:`ActivePlugin`.

A plain run cleans the output directory, records, keeps files, reports and lists them. Under
pytest-xdist the controller cleans the directory (before any worker starts), puts the
attachments in the JUnit XML and lists the files, from the reports the workers send it; each
worker records its own tests, with a socket of its own, and writes their files.

Nothing here may change an outcome: every step of the plugin's own is guarded, and what fails is
one warning (:func:`.plugin.warn`).
"""

from __future__ import annotations

import contextlib
import shutil
import tempfile
import threading
import time
import xml.etree.ElementTree as ET
from collections.abc import Callable, Generator
from pathlib import Path
from typing import Any, Final

import pytest

from ..capture import taps
from ..formatting import counted
from ..paths import SocketPathError
from .environment import set_by_user, use_socket
from .listener import LINK_LATENCY, Listener
from .names import file_name
from .output import Output, OutputError
from .recording import Recording
from .report import failure_report, open_command
from .settings import DEFAULT_OUTPUT, MARKER, PROPERTY, warn

__all__ = ("ActivePlugin",)

SHOWN: Final = 50  # kept files the terminal summary lists one by one
RUN_FILE: Final = "wsinspect_run"  # an xdist worker's run file, in its workeroutput
_XML_OUT: Final = ("system-out", "out-err", "all")  # junit_logging values that write system-out


class ActivePlugin:
    """One process's part: ``recording`` is None in an xdist controller (its workers record)."""

    def __init__(self, config: pytest.Config, mode: str, output: Output) -> None:
        self.config = config
        self.mode = mode
        self.output = output
        self.recording: Recording | None = None
        self.worker: str | None = None
        self._socket_dir: Path | None = None
        self._restore_env: Callable[[], None] | None = None
        self._pending: list[str] = []  # warnings from any thread, given to pytest on the main one
        self._pending_lock = threading.Lock()
        self._kept: list[str] = []  # the files kept, as reports name them, for the summary
        self._item: str | None = None  # the test running
        self._ignored = False  # it opted out (MARKER)
        self._failed = False  # it failed or errored in a phase so far
        self._any_failed = False
        self._wider = 0  # fixtures wider than a test being set up, one inside another

    @classmethod
    def start(cls, config: pytest.Config, mode: str) -> ActivePlugin:
        plugin = cls(config, mode, Output(_output_dir(config), config.invocation_params.dir))
        workerinput = getattr(config, "workerinput", None)
        plugin.worker = str(workerinput["workerid"]) if workerinput else None
        if plugin.worker is None:  # a plain run or the controller: the run starts clean
            try:
                plugin.output.clean()
            except OutputError as exc:
                warn(config, f"wsinspect: {exc}; the run goes on")
        if plugin.worker is not None or not _distributed(config):
            plugin._record()
        return plugin

    def _record(self) -> None:
        listener = None
        if not set_by_user():
            listener = self._listen()
        self.recording = Recording(self.output, listener, worker=self.worker, warn=self._queue_warning)
        taps.install(self.recording)

    def _listen(self) -> Listener | None:
        """The socket server processes stream to (their WSINSPECT_SOCKET): a private directory
        of its own, short enough for any socket path."""
        self._socket_dir = Path(tempfile.mkdtemp(prefix="wsinspect-pytest-"))
        try:
            listener = Listener(self._socket_dir / "s.sock")
        except (SocketPathError, OSError) as exc:
            warn(self.config, f"wsinspect cannot listen for server processes: {exc}; only this process is recorded")
            shutil.rmtree(self._socket_dir, ignore_errors=True)
            self._socket_dir = None
            return None
        self._restore_env = use_socket(listener.path)
        return listener

    # -- pytest's hooks -------------------------------------------------------------------------

    def pytest_report_header(self, config: pytest.Config) -> str:
        listening = ""
        if self.recording is not None and self.recording.listener is not None:
            listening = f"; server processes stream to {self.recording.listener.path}"
        return f"wsinspect: {self.mode}, session files in {self.output.shown_directory}{listening}"

    @pytest.hookimpl(hookwrapper=True, tryfirst=True)
    def pytest_runtest_protocol(self, item: pytest.Item) -> Generator[None, None, None]:
        recording = self.recording
        if recording is None:
            yield
            return
        self._item = item.nodeid
        self._ignored = item.get_closest_marker(MARKER) is not None
        if self._ignored and self._restore_env is not None:
            self._guard(self._restore_env)  # WSINSPECT_SOCKET as the user had it, for this test
        try:
            yield
        finally:
            if self._ignored:
                self._guard(self._take_back)
            self._item, self._ignored = None, False
            self._flush_warnings()

    @pytest.hookimpl(hookwrapper=True, tryfirst=True)
    def pytest_runtest_setup(self, item: pytest.Item) -> Generator[None, None, None]:
        # Each run of the test begins here (a plugin that reruns failed tests runs them again
        # within one protocol): what it opens from here on is its own.
        recording = self.recording
        if recording is not None:
            self._failed, self._wider = False, 0
            self._guard(lambda: recording.begin(item.nodeid, ignored=self._ignored))
        yield

    @pytest.hookimpl(hookwrapper=True)
    def pytest_fixture_setup(self, fixturedef: pytest.FixtureDef[Any]) -> Generator[None, None, None]:
        recording = self.recording
        # What a fixture wider than the test opens serves the tests after it too: the run's.
        wider = recording is not None and self._item is not None and fixturedef.scope != "function"
        if wider:
            self._wider += 1
            self._guard(lambda: recording.wider_fixture(None))  # type: ignore[union-attr]
        try:
            yield
        finally:
            if wider:
                self._wider -= 1
                if self._wider == 0:
                    self._guard(lambda: recording.wider_fixture(self._item))  # type: ignore[union-attr]

    @pytest.hookimpl(hookwrapper=True)
    def pytest_runtest_makereport(self, item: pytest.Item, call: pytest.CallInfo[None]) -> Generator[None, Any, None]:
        outcome = yield
        recording = self.recording
        if recording is None:
            return
        report: pytest.TestReport = outcome.get_result()
        if self._ignored:
            if report.when == "teardown":
                self._guard(lambda: recording.finish(item.nodeid, keep=False))
            return
        if report.failed:
            self._failed = self._any_failed = True
            self._guard(lambda: self._report_failure(recording, report, item.nodeid))
        if report.when == "teardown":
            keep = self.mode == "on" or self._failed
            path = self._guard(lambda: recording.finish(item.nodeid, keep))
            if isinstance(path, str):
                report.user_properties.append((PROPERTY, path))

    @pytest.hookimpl(tryfirst=True)
    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        # In a plain run and in xdist's controller, which get every report (with its properties).
        if report.when != "teardown":
            return
        for name, value in report.user_properties:
            if name == PROPERTY:
                self._kept.append(str(value))
                self._guard(lambda: self._attach(report, str(value)))  # noqa: B023 (called at once)

    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        recording = self.recording
        if recording is not None:
            path = self._guard(lambda: recording.finish_run(keep=self.mode == "on" or self._any_failed))
            if isinstance(path, str):
                workeroutput = getattr(session.config, "workeroutput", None)
                if workeroutput is not None:
                    workeroutput[RUN_FILE] = path  # the controller lists it
                else:
                    self._kept.append(path)
        self._flush_warnings()

    @pytest.hookimpl(optionalhook=True)
    def pytest_testnodedown(self, node: Any, error: object) -> None:
        """(pytest-xdist, in the controller) a worker ended: its run file, if it kept one."""
        path = getattr(node, "workeroutput", {}).get(RUN_FILE)
        if path:
            self._kept.append(str(path))

    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        if not self._kept:
            return
        terminalreporter.write_sep("=", f"wsinspect: {counted(len(self._kept), 'session file')} kept")
        for path in self._kept[:SHOWN]:
            terminalreporter.write_line(open_command(path))
        if len(self._kept) > SHOWN:
            terminalreporter.write_line(f"… and {len(self._kept) - SHOWN:,} more in {self.output.shown_directory}")

    def pytest_unconfigure(self, config: pytest.Config) -> None:
        recording, self.recording = self.recording, None
        if recording is not None:
            taps.uninstall(recording)
            recording.close()
        if self._restore_env is not None:
            self._restore_env()
            self._restore_env = None
        if self._socket_dir is not None:
            shutil.rmtree(self._socket_dir, ignore_errors=True)

    # -- the steps ------------------------------------------------------------------------------

    def _take_back(self) -> None:
        recording = self.recording
        if recording is not None and recording.listener is not None and self._restore_env is not None:
            self._restore_env = use_socket(recording.listener.path)

    def _report_failure(self, recording: Recording, report: pytest.TestReport, nodeid: str) -> None:
        if recording.listener is not None and recording.listener.linked:
            time.sleep(LINK_LATENCY)  # the servers' last frames before the failure, on their way
        connections = recording.connections(nodeid)
        kept = self.output.shown(file_name(nodeid)) if recording.writing else None
        section = failure_report(connections, time.time(), kept)
        if section is not None:
            report.sections.append(section)

    def _attach(self, report: pytest.TestReport, path: str) -> None:
        """The kept file as a JUnit attachment: ``[[ATTACHMENT|path]]`` in the test case's
        system-out, which Jenkins and GitLab show. In the output junitxml writes there when it
        does (``junit_logging``), else in a system-out element of its own."""
        from _pytest.junitxml import xml_key  # (junitxml keeps its LogXML there; no public way)

        xml = self.config.stash.get(xml_key, None)
        if xml is None:
            return
        line = f"[[ATTACHMENT|{path}]]"
        if xml.logging in _XML_OUT and (xml.log_passing_tests or not report.passed):
            report.sections.append(("Captured stdout wsinspect", f"{line}\n"))
            return
        element = ET.Element("system-out")
        element.text = line
        xml.node_reporter(report).append(element)

    def _guard(self, step: Callable[[], object]) -> object:
        try:
            return step()
        except Exception as exc:
            self._queue_warning(f"wsinspect failed: {type(exc).__name__}: {exc}; the run goes on")
            return None

    def _queue_warning(self, message: str) -> None:
        with self._pending_lock:
            self._pending.append(message)

    def _flush_warnings(self) -> None:
        with self._pending_lock:
            pending, self._pending = self._pending, []
        for message in pending:
            with contextlib.suppress(Exception):
                warn(self.config, message if message.startswith("wsinspect") else f"wsinspect: {message}")


def _output_dir(config: pytest.Config) -> Path:
    """``--wsinspect-output`` from where pytest was started, else the ini's from the root directory."""
    given = config.getoption("wsinspect_output")
    if given:
        return config.invocation_params.dir / Path(given).expanduser()
    configured = str(config.getini("wsinspect_output")).strip() or DEFAULT_OUTPUT
    return config.rootpath / Path(configured).expanduser()


def _distributed(config: pytest.Config) -> bool:
    """Whether this process is pytest-xdist's controller: its workers run the tests."""
    return bool(getattr(config.option, "numprocesses", None)) and getattr(config.option, "dist", "no") != "no"
