"""The inspector asks before losing work: q or ctrl+l with frames not exported ask first
("1,234 frames not exported: e export · q quit anyway · Esc stay"), --no-confirm never does,
and SIGTERM / SIGHUP quit without asking."""

from __future__ import annotations

import os
import signal
from pathlib import Path
from typing import Any

import pytest
from helpers.factories import batch, text_frame, update
from helpers.tui_data import BASE, make_connections
from helpers.waiting import pilot_until
from textual.pilot import Pilot
from textual.screen import ModalScreen

from wsinspect import cli
from wsinspect.inspector.core.store import Producer, Store
from wsinspect.inspector.server import InspectorServer
from wsinspect.inspector.ui.app import InspectorApp
from wsinspect.inspector.ui.screens import ConfirmClearScreen, ConfirmQuitScreen, ConfirmScreen
from wsinspect.model import Connection
from wsinspect.sessions import read_session, write_session

pytestmark = pytest.mark.usefixtures("utc_clock")

SIZE = (160, 45)
PRODUCER = Producer(key=1, pid=4242, app="chat-app")
LIVE_KEY = 1
LIVE_ID = "0b6f5c1e-7a2d-4c1b-9e3f-0000000000aa"


def live_app(socket: Path, export_dir: Path | None = None, **options: Any) -> InspectorApp:
    store = Store()
    return InspectorApp(store, server=InspectorServer(store, socket), export_dir=export_dir, **options)


def feed(app: InspectorApp, count: int, start: int = 0) -> None:
    """``count`` more frames of the one live connection, as an app streams them."""
    connection = Connection(connection_id=LIVE_ID, path="/ws/live", state="open", connected_at=BASE, accepted_at=BASE)
    frames = [text_frame(f'{{"seq": {i}}}', at=BASE + 1 + i / 1000) for i in range(start, start + count)]
    app.store.apply(PRODUCER, [update(LIVE_KEY, connection), batch(LIVE_KEY, frames, start=start)], BASE)


def dialog_text(app: InspectorApp) -> str:
    screen = app.screen
    assert isinstance(screen, ConfirmScreen), screen
    lines = [str(screen.query_one(f"#confirm-{part}").render()) for part in ("count", "keys")]
    return "\n".join([str(screen.query_one("Vertical").border_title), *lines])


async def exported(app: InspectorApp, pilot: Pilot[Any]) -> None:
    await app.workers.wait_for_complete()
    await pilot.pause()


# -- quitting ---------------------------------------------------------------------------------


async def test_q_with_frames_not_exported_asks_and_esc_stays(private_socket: Path) -> None:
    app = live_app(private_socket)
    async with app.run_test(size=SIZE) as pilot:
        feed(app, 1234)
        await pilot.press("q")
        assert isinstance(app.screen, ConfirmQuitScreen)
        assert dialog_text(app) == "Quit?\n1,234 frames not exported\ne export · q quit anyway · Esc stay"
        assert app.is_running
        await pilot.press("escape")
        assert not isinstance(app.screen, ModalScreen)
        assert app.is_running
        assert app.store.frames_received == 1234  # nothing lost
        assert app.unexported_frames == 1234


async def test_q_twice_quits(private_socket: Path) -> None:
    app = live_app(private_socket)
    async with app.run_test(size=SIZE) as pilot:
        feed(app, 1)
        await pilot.press("q")
        assert "1 frame not exported" in dialog_text(app)
        await pilot.press("q")
        await pilot.pause()
        assert not app.is_running
    assert app.return_code == 0


async def test_ctrl_q_while_it_asks_quits(private_socket: Path) -> None:
    app = live_app(private_socket)
    async with app.run_test(size=SIZE) as pilot:
        feed(app, 5)
        await pilot.press("ctrl+q")  # Textual's own quit key asks too
        assert isinstance(app.screen, ConfirmQuitScreen)
        await pilot.press("ctrl+q")
        await pilot.pause()
        assert not app.is_running


async def test_the_count_follows_the_frames_that_keep_coming(private_socket: Path) -> None:
    app = live_app(private_socket)
    async with app.run_test(size=SIZE) as pilot:
        feed(app, 10)
        await pilot.press("q")
        assert "10 frames not exported" in dialog_text(app)
        feed(app, 2000, start=10)
        await pilot_until(pilot, lambda: "2,010 frames not exported" in dialog_text(app), "the count to follow")


async def test_e_in_the_dialog_exports_then_quits(private_socket: Path, tmp_path: Path) -> None:
    app = live_app(private_socket, export_dir=tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        feed(app, 1234)
        await pilot.press("q")
        await pilot.press("e")
        await exported(app, pilot)
        assert not app.is_running
    assert app.return_code == 0
    (path,) = tmp_path.glob("wsinspect-*.json")
    (connection,) = read_session(path).connections
    assert len(connection.messages) == 1234


async def test_a_failed_export_from_the_dialog_stays(private_socket: Path, tmp_path: Path) -> None:
    app = live_app(private_socket, export_dir=tmp_path / "missing")
    async with app.run_test(size=SIZE) as pilot:
        feed(app, 3)
        await pilot.press("q")
        await pilot.press("e")
        await exported(app, pilot)
        assert app.is_running  # the error is on screen; nothing was lost
        assert not isinstance(app.screen, ModalScreen)
        assert app.unexported_frames == 3
        await pilot.press("q")  # and it asks again
        assert isinstance(app.screen, ConfirmQuitScreen)


async def test_with_nothing_to_lose_q_quits_at_once(private_socket: Path) -> None:
    app = live_app(private_socket)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("q")
        await pilot.pause()
        assert not app.is_running


async def test_after_an_export_q_quits_at_once_and_new_frames_count_again(private_socket: Path, tmp_path: Path) -> None:
    app = live_app(private_socket, export_dir=tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        feed(app, 50)
        await pilot.press("e")
        await exported(app, pilot)
        assert app.unexported_frames == 0
        feed(app, 7, start=50)  # came after the export: not saved
        await pilot.press("q")
        assert "7 frames not exported" in dialog_text(app)
        await pilot.press("escape")
        await pilot.press("E")  # export as…: the whole session too
        await pilot.press("enter")
        await exported(app, pilot)
        await pilot.press("q")
        await pilot.pause()
        assert not app.is_running


async def test_writing_one_connection_for_a_replay_is_no_export_of_the_session(
    private_socket: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    app = live_app(private_socket, export_dir=tmp_path)
    monkeypatch.setattr(app, "copy_to_clipboard", lambda text: None)
    async with app.run_test(size=SIZE) as pilot:
        feed(app, 4)
        await pilot_until(pilot, lambda: app.table.row_count == 1, "the connection")
        await pilot.press("R")
        await exported(app, pilot)
        assert any(tmp_path.iterdir())
        assert app.unexported_frames == 4


async def test_an_opened_file_quits_at_once(tmp_path: Path) -> None:
    path = tmp_path / "session.json"
    write_session(path, make_connections(), BASE + 60)
    session = read_session(path)
    store = Store()
    store.load(session.connections, session.exported_at)
    app = InspectorApp(store, source=str(path))
    async with app.run_test(size=SIZE) as pilot:
        assert app.store.frames_received > 0
        assert app.unexported_frames == 0
        await pilot.press("ctrl+l")  # clears at once too
        await pilot.pause()
        assert not isinstance(app.screen, ModalScreen)
        assert app.store.rows == []
        await pilot.press("q")
        await pilot.pause()
        assert not app.is_running


async def test_sigterm_quits_without_asking(private_socket: Path) -> None:
    app = live_app(private_socket)
    async with app.run_test(size=SIZE) as pilot:
        feed(app, 20)
        os.kill(os.getpid(), signal.SIGTERM)  # the app's handler takes it, as in a terminal
        await pilot_until(pilot, lambda: not app.is_running, "SIGTERM to quit")
        assert not isinstance(app.screen_stack[-1], ConfirmScreen)


# -- clearing ---------------------------------------------------------------------------------


async def test_ctrl_l_asks_and_ctrl_l_again_clears(private_socket: Path) -> None:
    app = live_app(private_socket)
    async with app.run_test(size=SIZE) as pilot:
        feed(app, 1500)
        await pilot.press("ctrl+l")
        assert isinstance(app.screen, ConfirmClearScreen)
        expected = "Clear the session?\n1,500 frames not exported\ne export · ctrl+l clear anyway · Esc stay"
        assert dialog_text(app) == expected
        await pilot.press("escape")
        assert app.store.frames_received == 1500  # Esc: nothing cleared
        await pilot.press("ctrl+l")
        await pilot.press("ctrl+l")
        await pilot.pause()
        assert not isinstance(app.screen, ModalScreen)
        assert app.store.rows == []
        assert app.unexported_frames == 0
        assert app.is_running
        # What was cleared is gone: the count starts again.
        feed(app, 3, start=1500)
        await pilot.press("ctrl+l")
        assert "3 frames not exported" in dialog_text(app)
        await pilot.press("c")  # c clears too
        await pilot.pause()
        assert app.store.frames_received == 0
        await pilot.press("q")
        await pilot.pause()
        assert not app.is_running


async def test_e_in_the_clear_dialog_exports_then_clears(private_socket: Path, tmp_path: Path) -> None:
    app = live_app(private_socket, export_dir=tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        feed(app, 12)
        await pilot.press("ctrl+l")
        await pilot.press("e")
        await exported(app, pilot)
        assert app.store.rows == []
        assert app.is_running
        (path,) = tmp_path.glob("wsinspect-*.json")
        assert len(read_session(path).connections[0].messages) == 12
        await pilot.press("q")
        await pilot.pause()
        assert not app.is_running


# -- --no-confirm ----------------------------------------------------------------------------


async def test_no_confirm_never_asks(private_socket: Path) -> None:
    app = live_app(private_socket, no_confirm=True)
    async with app.run_test(size=SIZE) as pilot:
        feed(app, 100)
        await pilot.press("ctrl+l")
        await pilot.pause()
        assert not isinstance(app.screen, ModalScreen)
        assert app.store.rows == []
        feed(app, 100, start=100)
        await pilot.press("q")
        await pilot.pause()
        assert not app.is_running


@pytest.mark.parametrize(
    "argv",
    [["--no-confirm"], ["open", "x.json", "--no-confirm"], ["demo", "--no-confirm"]],
    ids=["live", "open", "demo"],
)
def test_the_commands_take_no_confirm(argv: list[str]) -> None:
    assert cli.build_parser().parse_args(argv).no_confirm is True
    assert cli.build_parser().parse_args([a for a in argv if a != "--no-confirm"]).no_confirm is False


@pytest.mark.parametrize("flag", [True, False])
def test_wsinspect_open_passes_no_confirm_to_the_inspector(
    flag: bool, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "session.json"
    write_session(path, make_connections(), BASE + 60)
    seen: list[bool] = []
    monkeypatch.setattr(InspectorApp, "run", lambda self, **kwargs: seen.append(self.no_confirm))
    assert cli.main(["open", str(path), *(["--no-confirm"] if flag else [])]) == 0
    assert seen == [flag]
