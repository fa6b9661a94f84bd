"""`wsinspect demo`: every kind of frame shows within ten seconds, and quitting leaves nothing behind."""

from __future__ import annotations

import asyncio
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from textual.pilot import Pilot

from wsinspect import cli
from wsinspect.inspector.store import Store
from wsinspect.inspector.ui.app import InspectorApp

SHOWN_WITHIN = 10.0


def kinds_seen(store: Store) -> set[str]:
    """Every kind of thing the demo promises, as far as the store holds it."""
    seen: set[str] = set()
    for entry in store.entries.values():
        connection = entry.connection
        if connection.denial_status == 403:
            seen.add("denied")
        if connection.close_code == 4500 and connection.error:
            seen.add("handler error")
        if connection.close_code == 4001 and connection.closed_by == "client":
            seen.add("client close with app code")
        if connection.path == "/ws/echo" and connection.state == "closed":
            # The plain handler ends on Litestar's WebSocketDisconnect: a clean close, no error.
            clean = (connection.closed_by, connection.close_code, connection.error) == ("client", 1001, None)
            seen.add("plain handler ended by a client close" if clean else "plain handler close with an error")
        for frame in entry.frames:
            seen.add(f"{frame.direction} {frame.message_type}")
            if frame.truncated:
                seen.add("truncated")
    return seen


EXPECTED = {
    "denied",
    "handler error",
    "client close with app code",
    "plain handler ended by a client close",
    "received text",
    "sent text",
    "sent binary",
    "sent ping",
    "received pong",
    "received ping",
    "sent pong",
    "truncated",
}


def test_demo_shows_every_kind_of_frame_and_quits_cleanly(monkeypatch: pytest.MonkeyPatch) -> None:
    made: list[Path] = []
    real_mkdtemp = tempfile.mkdtemp

    def mkdtemp(*args: Any, **kwargs: Any) -> str:
        made.append(Path(real_mkdtemp(*args, **kwargs)))
        return str(made[-1])

    monkeypatch.setattr(tempfile, "mkdtemp", mkdtemp)
    outcome: dict[str, Any] = {}
    real_run = InspectorApp.run

    def run_headless(self: InspectorApp, **kwargs: Any) -> None:
        async def watch_then_quit(pilot: Pilot[Any]) -> None:
            started = time.monotonic()
            while time.monotonic() - started < SHOWN_WITHIN and not kinds_seen(self.store) >= EXPECTED:
                await asyncio.sleep(0.1)
            outcome["seen"] = kinds_seen(self.store)
            outcome["rows"] = len(self.timeline.index)
            outcome["status"] = str(self.query_one("#status").render())
            await pilot.press("q")

        real_run(self, headless=True, size=(160, 45), auto_pilot=watch_then_quit)

    monkeypatch.setattr(InspectorApp, "run", run_headless)
    threads_before = {thread.name for thread in threading.enumerate()}
    assert cli.main(["demo"]) == 0
    assert outcome["seen"] >= EXPECTED, EXPECTED - outcome["seen"]
    assert "plain handler close with an error" not in outcome["seen"]
    assert outcome["rows"] > 20
    assert "demo app on 127.0.0.1:" in outcome["status"]
    # Nothing left behind: the demo's thread ended and its private socket directory is gone.
    assert "wsinspect-demo" not in {thread.name for thread in threading.enumerate()} - threads_before
    assert made
    assert all(not directory.exists() for directory in made)


async def test_the_demo_echo_handler_ends_cleanly_when_its_client_closes(private_socket: Path) -> None:
    """The demo's plain handler (it never catches the disconnect) under uvicorn, with the demo's own
    client: each connection is a clean 1001 close by the client, with no handler error."""
    from servers import run_server, wait_until

    from wsinspect.inspector.demo import demo_app, echo_client
    from wsinspect.litestar import WSInspectPlugin

    app = demo_app(private_socket)
    recorder = app.plugins.get(WSInspectPlugin).recorder
    with run_server(app, lifespan="on") as server:
        base = f"ws://{server.host}:{server.port}"
        async with asyncio.timeout(20):
            await asyncio.gather(echo_client(base, "one"), echo_client(base, "two"))
        _, connections = await wait_until(
            lambda: server.call(lambda: (len(recorder._open), recorder.connections())),
            lambda seen: seen[0] == 0 and len(seen[1]) == 2,
            what="both handlers to end",
        )
    for connection in connections:
        assert connection.path == "/ws/echo"
        assert (connection.state, connection.closed_by, connection.close_code) == ("closed", "client", 1001)
        assert connection.error is None
        assert connection.messages_received == connection.messages_sent >= 2
        assert connection.messages[-1].message_type == "close"


def test_demo_without_its_extra_says_how_to_install_it(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import sys

    monkeypatch.setitem(sys.modules, "wsinspect.inspector.demo", None)  # as if uvicorn/websockets were missing
    assert cli.main(["demo"]) == 1
    err = capsys.readouterr().err
    assert "pip install 'wsinspect[demo]'" in err
    assert err.count("\n") == 1
