"""The ``wsinspect`` command. Errors are one line on stderr and a non-zero exit, never a traceback."""

from __future__ import annotations

import argparse
import asyncio
import functools
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import NoReturn

from . import __version__
from .inspector.core.store import DEFAULT_MAX_FRAMES


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: {message} (see {self.prog} --help)\n")


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be 1 or more, got {value}")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="wsinspect",
        description="A terminal inspector for the WebSocket traffic of Litestar and other ASGI apps.",
    )
    parser.add_argument("--version", action="version", version=f"wsinspect {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    demo = commands.add_parser(
        "demo",
        help="the inspector plus a built-in Litestar demo app and traffic: start here",
        description="Run a small Litestar app with simulated clients and watch it in the inspector. q quits.",
    )
    open_ = commands.add_parser(
        "open",
        help="the inspector on a saved session file (session JSON or HAR, gzipped or not) or a capture database",
        description="Open a session file written by `wsinspect record`, the inspector's export, or a HAR file; "
        "gzip-compressed ones too (x.json.gz); or a capture database (record -o x.sqlite).",
    )
    open_.add_argument("file", type=Path, metavar="FILE")
    for sub in (parser, open_, demo):
        sub.add_argument(
            "--no-confirm",
            action="store_true",
            help="q and ctrl+l never ask first, even with frames not exported (the demo never asks)",
        )
    for sub in (parser, open_):
        sub.add_argument(
            "--pair-by",
            default="",
            metavar="FIELD",
            help="pair requests (frames the app received) and replies (frames it sent) by this JSON field "
            "(a.b for a nested one); default: by the protocols' own ids (JSON-RPC, GraphQL, Socket.IO acks)",
        )
        sub.add_argument(
            "--max-frames",
            type=_positive,
            default=DEFAULT_MAX_FRAMES,
            metavar="N",
            help=f"frames kept in the timeline; past it the oldest go, counted (default: {DEFAULT_MAX_FRAMES:,}; "
            "each frame takes memory besides its payload: see docs/reference/limits.md; lifecycle rows and log lines "
            "do not count: they are bounded apart, N of them too; a capture database is not bound: its rows stay "
            "on disk)",
        )
    record = commands.add_parser(
        "record",
        help="record headless until Ctrl-C or SIGTERM, then write a session file",
        description="Listen for apps and record their WebSocket traffic until SIGINT, SIGTERM or SIGHUP, then "
        "write FILE (session JSON, or HAR when FILE ends in .har; gzip-compressed when it ends in .gz) and exit 0. "
        "A FILE ending in .sqlite or .db is a capture database, written as frames arrive (at least once a "
        "second); for the others what arrives is journaled to FILE.journal.sqlite until FILE is written.",
    )
    record.add_argument("-o", "--output", required=True, type=Path, metavar="FILE", help="where to write the session")
    record.add_argument(
        "--max-bytes",
        type=_bytes,
        metavar="N",
        help="bound a capture database (-o x.sqlite): past N bytes of data (K, M, G: powers of 1024) the oldest "
        "frames are deleted, counted",
    )
    record.add_argument(
        "--max-age",
        type=_age,
        metavar="SECONDS",
        help="bound a capture database (-o x.sqlite): frames older than this (or 30m, 12h, 7d) are deleted, counted",
    )
    recover = commands.add_parser(
        "recover",
        help="turn a capture database or the journal of a record that died into a session file",
        description="Read a capture database (record -o x.sqlite) or the journal a record that was killed left "
        "next to its output (x.json.journal.sqlite), and write what it holds to FILE (session JSON, HAR, .gz).",
    )
    recover.add_argument("capture", type=Path, metavar="CAPTURE")
    recover.add_argument("-o", "--output", required=True, type=Path, metavar="FILE", help="where to write the session")
    for sub in (parser, record):
        sub.add_argument(
            "--socket", metavar="PATH", help="where to listen (default: $WSINSPECT_SOCKET, else a per-user path)"
        )
        sub.add_argument(
            "--max-messages",
            type=_positive,
            default=10_000,
            metavar="N",
            help="frames kept per connection (default: 10000)",
        )
    replay = commands.add_parser(
        "replay",
        help="feed what clients sent back into the app, in process, and compare what it sends with the recording",
        description="Replay a session file into an ASGI app in this process (no server, no network): each "
        "recorded connection's scope and the frames its client sent, turn by turn; then compare what the app "
        "sends (text, binary, close code and reason, order) with what it sent then. Exit 0 when every "
        "connection matches, 1 when one differs, 2 for a usage error or a connection that cannot be replayed.",
    )
    replay.add_argument("session", type=Path, metavar="SESSION", help="a session file (JSON, or .json.gz)")
    replay.add_argument("--app", required=True, metavar="MODULE:ATTR", help="the ASGI app, as uvicorn names it")
    replay.add_argument("--app-dir", default=".", metavar="DIR", help="where to import it from (default: .)")
    replay.add_argument(
        "--connection", action="append", default=[], metavar="ID|cN", help="only this connection (repeatable)"
    )
    replay.add_argument("--path", action="append", default=[], metavar="GLOB", help="only connections on these paths")
    replay.add_argument(
        "--ignore",
        action="append",
        default=[],
        metavar="FIELD.PATH",
        help="leave this field of decoded payloads out of the comparison (a.b, * for any key; repeatable)",
    )
    replay.add_argument(
        "--mask", action="append", default=[], metavar="REGEX", help="leave what this matches in text out (repeatable)"
    )
    replay.add_argument(
        "--header",
        action="append",
        default=[],
        type=_header,
        metavar="NAME:VALUE",
        help="a request header to send (replaces a recorded one, e.g. a redacted Authorization; repeatable)",
    )
    replay.add_argument(
        "--query",
        action="append",
        default=[],
        type=_query_parameter,
        metavar="NAME=VALUE",
        help="a query parameter to send (replaces a recorded one, e.g. a redacted token; repeatable)",
    )
    replay.add_argument(
        "--timing",
        choices=("turns", "keep"),
        default="turns",
        help="turns (default): each client frame once the app sent what came before it; keep: the recorded gaps",
    )
    replay.add_argument(
        "--timeout", type=_seconds, default=5.0, metavar="SECONDS", help="how long to wait for each answer (default: 5)"
    )
    replay.add_argument(
        "--fault",
        type=_fault,
        metavar="drop-after:N|close:CODE",
        help="instead of the client's recorded ending: it vanishes after N frames (1006), or closes with CODE",
    )
    replay.add_argument("--write-test", type=Path, metavar="FILE", help="also write a pytest test that replays it")
    replay.add_argument(
        "-v",
        "--verbose",
        action="store_true",
        help="also print what the app logged under every connection (otherwise only under one that differs)",
    )
    return parser


_SIZE_UNITS = {"": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30}
_AGE_UNITS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}
MIN_CAPTURE_BYTES = 1 << 20


def _bytes(text: str) -> int:
    number, unit = text.strip().rstrip("bB").rstrip("iI"), ""
    if number[-1:].lower() in _SIZE_UNITS:
        number, unit = number[:-1], number[-1].lower()
    try:
        value = int(float(number) * _SIZE_UNITS[unit])
    except (ValueError, KeyError):
        raise argparse.ArgumentTypeError(f"not a size: {text!r} (bytes, or 500M, 2G)") from None
    if value < MIN_CAPTURE_BYTES:
        raise argparse.ArgumentTypeError(f"must be at least 1M, got {text}")
    return value


def _age(text: str) -> float:
    number, unit = text.strip(), ""
    if number[-1:].lower() in _AGE_UNITS:
        number, unit = number[:-1], number[-1].lower()
    try:
        value = float(number) * _AGE_UNITS[unit]
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a duration: {text!r} (seconds, or 30m, 12h, 7d)") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be more than 0, got {text}")
    return value


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of seconds: {text!r}") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be more than 0, got {text}")
    return value


def _header(text: str) -> tuple[str, str]:
    name, colon, value = text.partition(":")
    if not colon or not name.strip():
        raise argparse.ArgumentTypeError(f"not NAME:VALUE: {text!r}")
    return name.strip(), value.strip()


def _query_parameter(text: str) -> tuple[str, str]:
    name, equals, value = text.partition("=")
    if not equals or not name:
        raise argparse.ArgumentTypeError(f"not NAME=VALUE: {text!r}")
    return name, value


def _fault(text: str) -> object:
    from .replay.driver import Fault

    try:
        return Fault.parse(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    from .paths import SocketPathError, resolve_socket_path
    from .sessions import SessionFileError

    try:
        if args.command is None:
            return _inspect_live(
                resolve_socket_path(args.socket), args.max_messages, args.max_frames, args.pair_by, args.no_confirm
            )
        if args.command == "open":
            return _inspect_file(args.file, args.max_frames, args.pair_by, args.no_confirm)
        if args.command == "demo":
            return _demo()
        if args.command == "record":
            from .commands.record import is_database_name, record

            if (args.max_bytes or args.max_age) and not is_database_name(args.output):
                parser.error("--max-bytes and --max-age bound a capture database: write to a FILE ending in .sqlite")
            return asyncio.run(
                record(
                    resolve_socket_path(args.socket),
                    args.output,
                    max_messages=args.max_messages,
                    max_bytes=args.max_bytes,
                    max_age=args.max_age,
                )
            )
        if args.command == "replay":
            return _replay(args)
        if args.command == "recover":
            from .commands.recover import recover

            return recover(args.capture, args.output)
    except (SocketPathError, SessionFileError) as exc:
        print(f"wsinspect: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:  # pragma: no cover - a second Ctrl-C while closing
        return 130
    return 2  # pragma: no cover - argparse refuses unknown commands


def _replay(args: argparse.Namespace) -> int:
    from .replay import ReplayError, replay_session
    from .replay.testgen import check_test_path, write_test

    options = {
        "ignore": args.ignore,
        "mask": args.mask,
        "headers": dict(args.header),
        "query": dict(args.query),
        "timing": args.timing,
        "patience": args.timeout,
        "fault": args.fault,
    }
    try:
        if args.write_test is not None:
            check_test_path(args.write_test)
        report = replay_session(
            args.session, args.app, app_dir=args.app_dir, connections=args.connection, paths=args.path, **options
        )
        if args.write_test is not None:
            written = write_test(
                args.write_test, args.session, args.app, args.app_dir, args.connection, args.path, options
            )
    except ReplayError as exc:
        print(f"wsinspect: replay: {exc}", file=sys.stderr)
        return 2
    print(report.text(verbose=args.verbose))
    if args.write_test is not None:
        print(f"wrote {written}: run it with pytest")
    return report.exit_code


def _inspect_live(socket_path: Path, max_messages: int, max_frames: int, pair_by: str, no_confirm: bool) -> int:
    from .inspector.core.store import Store, freeze_long_lived
    from .inspector.server import InspectorServer
    from .inspector.ui.app import InspectorApp

    store = Store(max_messages=max_messages, max_frames=max_frames)
    server = InspectorServer(store, socket_path)
    server.bind()  # a taken or unsafe path is a one-line error, before the screen changes
    freeze_long_lived()
    InspectorApp(store, server=server, pair_by=pair_by, no_confirm=no_confirm).run()
    return 0


def _demo() -> int:
    import shutil
    import tempfile

    try:
        from .demo import DemoTraffic
    except ImportError as exc:
        print(
            f"wsinspect: the demo needs uvicorn and websockets ({exc}); install them with: "
            "pip install 'wsinspect[demo]'",
            file=sys.stderr,
        )
        return 1
    from .inspector.core.store import Store
    from .inspector.server import InspectorServer
    from .inspector.ui.app import InspectorApp

    # A private socket of its own, so the demo never meets an inspector the user already runs.
    directory = Path(tempfile.mkdtemp(prefix="wsinspect-demo-"))
    try:
        store = Store()
        server = InspectorServer(store, directory / "inspector.sock")
        server.bind()
        traffic = DemoTraffic(server.path)
        traffic.start()
        try:
            # A demo's frames are throwaway: quitting never asks.
            app = InspectorApp(store, server=server, source=f"demo app on 127.0.0.1:{traffic.port}", no_confirm=True)
            app.cleanups.append(functools.partial(shutil.rmtree, directory, ignore_errors=True))
            app.run()
        finally:
            traffic.stop()
    finally:
        shutil.rmtree(directory, ignore_errors=True)
    return 0


def _inspect_file(path: Path, max_frames: int, pair_by: str, no_confirm: bool) -> int:
    from .commands.progress import ProgressLine
    from .inspector.core.database_store import DatabaseStore
    from .inspector.core.store import Store, freeze_long_lived
    from .inspector.ui.app import InspectorApp
    from .sessions import is_sqlite, read_session
    from .sessions.sqlite import is_journal

    if is_sqlite(path) and not is_journal(path):  # a capture: read as it is looked at, and followed
        capture = DatabaseStore(path)
        InspectorApp(capture, source=str(path), pair_by=pair_by, no_confirm=no_confirm).run()
        return 0
    progress = ProgressLine(sys.stderr, f"reading {path}", "bytes")  # shows once it takes over a second
    try:
        session = read_session(path, progress=progress)
    finally:
        progress.close()
    # Every frame the file holds, up to the retention bound (the newest, then: the status says so).
    # Every frame and log line of each connection: a file holds what its connections kept.
    kept = max([1, *(max(len(c.messages), len(c.logs)) for c in session.connections)])
    store = Store(max_messages=kept, max_frames=max_frames)
    store.load(session.connections, session.exported_at, session.loop_blocks)  # a fixed moment: store.as_of
    store.frames_deleted = getattr(session, "frames_deleted", 0)  # a capture database's (DatabaseSession)
    freeze_long_lived()
    InspectorApp(store, source=str(path), pair_by=pair_by, no_confirm=no_confirm).run()
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
