"""``wsinspect replay --write-test``: a small pytest test that replays the same connections.

The replayed connections are saved next to the test (``<test>.session.json``), so the test runs
with plain pytest and the user's app, wherever the repository is checked out. Header values given
with ``--header`` are secrets more often than not: the test reads them from the environment
(``WSINSPECT_HEADER_<NAME>``) instead of holding them.
"""

from __future__ import annotations

import json
import os
import re
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ..sessions import SessionFileError, check_writable, read_session, write_session
from . import select
from .driver import ReplayError

__all__ = ("check_test_path", "header_variable", "write_test")

_TEMPLATE = '''"""A WebSocket regression test written by `wsinspect replay --write-test`{date}.

It feeds what the clients sent back into the app, in process, and fails with the first difference
from what the app sent then. The recording is next to this file, in
{session}. After an intended change, record a new session and write the test again.{headers}
"""

{imports}from pathlib import Path

from wsinspect.replay import replay_session
{replay_imports}
SESSION = Path(__file__).with_name({session_literal})
APP_DIR = Path(__file__).parent / {app_dir}


def {name}() -> None:
    report = replay_session(
        SESSION,
        {app},
        app_dir=APP_DIR,{options}
    )
    assert report.ok, report.text()
'''


def header_variable(name: str) -> str:
    """The environment variable a written test reads a header's value from."""
    return "WSINSPECT_HEADER_" + re.sub(r"[^A-Z0-9]", "_", name.upper())


def query_variable(name: str) -> str:
    """The environment variable a written test reads a query parameter's value from."""
    return "WSINSPECT_QUERY_" + re.sub(r"[^A-Z0-9]", "_", name.upper())


def check_test_path(path: Path) -> None:
    """Before the replay: a test file can be written at ``path``, in directories that exist or
    can be made (raises ReplayError). Nothing is made yet: a replay that fails leaves nothing."""
    if path.suffix != ".py":
        raise ReplayError(f"--write-test {path}: a test file's name ends in .py")
    # The nearest directory that exists: write_test makes those below it, as an editor does.
    existing = next((parent for parent in path.parents if parent.exists()), path.parent)
    if existing.exists() and not existing.is_dir():
        raise ReplayError(f"--write-test: cannot write {path}: {existing} is not a directory")
    if existing != path.parent:
        if not os.access(existing, os.W_OK):
            raise ReplayError(f"--write-test: cannot write {path}: directory {existing} is not writable")
        return
    try:
        check_writable(path)
    except SessionFileError as exc:
        raise ReplayError(f"--write-test: {exc}") from None


def _literal(value: str | list[str]) -> str:
    """A Python literal of a string or a list of strings, double-quoted as the formatter likes."""
    return json.dumps(value, ensure_ascii=False)


def write_test(
    path: Path,
    session: Path,
    app: str,
    app_dir: str | Path,
    connections: Sequence[str],
    paths: Sequence[str],
    options: dict[str, Any],
) -> Path:
    """Write the test to ``path`` and the connections it replays next to it; returns ``path``."""
    check_test_path(path)
    try:
        recorded = read_session(session)
        chosen = [connection for _, connection in select(recorded.connections, connections, paths)]
        data = path.with_name(f"{path.stem}.session.json")
        path.parent.mkdir(parents=True, exist_ok=True)
        write_session(data, chosen, recorded.exported_at)
    except (SessionFileError, OSError) as exc:
        raise ReplayError(f"--write-test: {exc}") from None
    headers: dict[str, str] = options.get("headers") or {}
    query: dict[str, str] = options.get("query") or {}
    lines = [f"        ignore={_literal(list(options['ignore']))}," if options.get("ignore") else ""]
    lines.append(f"        mask={_literal(list(options['mask']))}," if options.get("mask") else "")
    if headers:
        values = ", ".join(
            f"{_literal(name.lower())}: os.environ[{_literal(header_variable(name))}]" for name in headers
        )
        lines.append(f"        headers={{{values}}},")
    if query:
        values = ", ".join(f"{_literal(name)}: os.environ[{_literal(query_variable(name))}]" for name in query)
        lines.append(f"        query={{{values}}},")
    if options.get("timing", "turns") != "turns":
        lines.append(f"        timing={_literal(options['timing'])},")
    if options.get("patience", 5.0) != 5.0:
        lines.append(f"        patience={options['patience']!r},")
    fault = options.get("fault")
    if fault is not None:
        lines.append(f"        fault=Fault.parse({_literal(f'{fault.kind}:{fault.value}')}),")
    note = ""
    if headers or query:
        names = ", ".join([*(header_variable(name) for name in headers), *(query_variable(name) for name in query)])
        note = f"\n\nSecret values come from the environment, never from this file: {names}."
    text = _TEMPLATE.format(
        date=time.strftime(" on %Y-%m-%d"),
        session=data.name,
        session_literal=_literal(data.name),
        headers=note,
        imports="import os\n" if headers or query else "",
        replay_imports="from wsinspect.replay.driver import Fault\n" if fault is not None else "",
        app_dir=_literal(os.path.relpath(Path(app_dir).resolve(), path.parent.resolve())),
        name="test_" + re.sub(r"\W", "_", path.stem.removeprefix("test_")),
        app=_literal(app),
        options="".join(f"\n{line}" for line in lines if line),
    )
    path.write_text(text, encoding="utf-8")
    return path
