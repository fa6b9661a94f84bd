"""The docs stay true: README.md, CONTRIBUTING.md and docs/ against the code (issue 31).

Each check is a function from what it reads (the Markdown, the code's bindings, parsers, config
fields...) to a list of problems; the tests run it on the real docs and code (no problem), and on
something broken on purpose (the problem is found), so that no check passes for want of looking.
"""

from __future__ import annotations

import argparse
import dataclasses
import importlib
import inspect
import json
import pkgutil
import re
import shlex
import sqlite3
import sys
import unicodedata
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import click
import msgspec
import pytest
from textual.binding import Binding
from textual.screen import Screen

import wsinspect.inspector.ui
from wsinspect import model, wire
from wsinspect.cli import build_parser, main
from wsinspect.config import WSInspectConfig
from wsinspect.inspector.ui.keys import key_label
from wsinspect.litestar import WSInspectPlugin
from wsinspect.sessions import write_session
from wsinspect.sessions.jsonfile import loads
from wsinspect.sessions.sqlite import SCHEMA
from wsinspect.testing import plugin as pytest_plugin

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
README = ROOT / "README.md"
CONTRIBUTING = ROOT / "CONTRIBUTING.md"
INSPECTOR = DOCS / "inspector.md"
CONFIGURATION = DOCS / "reference" / "configuration.md"
SESSION_JSON = DOCS / "reference" / "session-json.md"
WIRE = DOCS / "reference" / "wire-protocol.md"
RECORDING = DOCS / "recording.md"
REPLAY = DOCS / "replay.md"
TESTING = DOCS / "testing.md"

# The page of each `wsinspect` command (None: the command itself, the live inspector).
COMMAND_PAGES: dict[str | None, Path] = {
    None: INSPECTOR,
    "open": INSPECTOR,
    "demo": INSPECTOR,
    "record": RECORDING,
    "recover": RECORDING,
    "replay": REPLAY,
}
# The quick start's first command: what a newcomer runs. CI checks it as it is; keep it unchanged.
DEMO_COMMAND = "python3 -m venv .venv && .venv/bin/pip install -q '.[demo]' && .venv/bin/wsinspect demo"


def markdown_files() -> list[Path]:
    return [README, CONTRIBUTING, *sorted(DOCS.rglob("*.md"))]


def read(path: Path) -> str:
    return path.read_text(encoding="utf-8")


# -- Markdown, read as a code host renders it ---------------------------------------------------

FENCE = re.compile(r"^(```|~~~)[^\n]*\n.*?^\1[ \t]*$", re.M | re.S)
INLINE_CODE = re.compile(r"`[^`]+`")  # a code span may go over a line break
LINK = re.compile(r"!?\[(?P<text>[^\]]*)\]\((?P<target>[^)\s]+)(?:\s+\"[^\"]*\")?\)")
REFERENCE = re.compile(r"^\s*\[[^\]]+\]:\s*(?P<target>\S+)", re.M)
HTML_TARGET = re.compile(r"<(?:a|img)\b[^>]*?\b(?:href|src)=\"(?P<target>[^\"]+)\"", re.I)
HEADING = re.compile(r"^(#{1,6})[ \t]+(?P<text>.+?)[ \t#]*$", re.M)


def without_code(markdown: str) -> str:
    """The text outside fenced blocks, with inline code emptied (a link in code is no link)."""
    return INLINE_CODE.sub("``", FENCE.sub("", markdown))


def fenced_blocks(markdown: str, language: str) -> list[str]:
    pattern = re.compile(rf"^```{re.escape(language)}[ \t]*\n(.*?)^```[ \t]*$", re.M | re.S)
    return pattern.findall(markdown)


def slug(heading: str) -> str:
    """GitHub's anchor of a heading: its text lowercased, punctuation and symbols dropped (letters,
    marks, numbers, ``_``, ``-`` and spaces stay), spaces to hyphens."""
    text = re.sub(r"!?\[([^\]]*)\]\([^)]*\)", r"\1", heading)  # a link reads as its text
    text = text.replace("`", "").lower()
    kept = (
        char
        for char in text
        if char in " -_" or unicodedata.category(char)[0] in "LMN" or unicodedata.category(char) == "Pc"
    )
    return "".join(kept).replace(" ", "-")


def anchors(markdown: str) -> list[str]:
    """Every heading's anchor, in order; a repeated one gets -1, -2... as GitHub numbers them."""
    seen: dict[str, int] = {}
    found = []
    for match in HEADING.finditer(FENCE.sub("", markdown)):
        base = slug(match["text"])
        count = seen.get(base, 0)
        seen[base] = count + 1
        found.append(base if count == 0 else f"{base}-{count}")
    return found


def link_targets(markdown: str) -> list[str]:
    text = without_code(markdown)
    return [m["target"] for pattern in (LINK, REFERENCE, HTML_TARGET) for m in pattern.finditer(text)]


def link_problems(pages: Mapping[Path, str], root: Path) -> list[str]:
    """Relative links and images that lead nowhere: no such file, a file outside the repository, or
    an anchor that is no heading of its page. ``pages``: each page's path and Markdown."""
    problems = []
    for page, markdown in pages.items():
        for target in link_targets(markdown):
            if re.match(r"[a-z][a-z0-9+.-]*:", target, re.I):  # https:, mailto:...
                continue
            path_part, _, anchor = target.partition("#")
            where = (page.parent / unquote(path_part)).resolve() if path_part else page
            name = f"{page.relative_to(root)}: {target}"
            if not where.is_relative_to(root):
                problems.append(f"{name}: outside the repository")
            elif where not in pages and not where.exists():
                problems.append(f"{name}: no such file")
            elif anchor:
                text = pages.get(where) if where in pages else where.read_text(encoding="utf-8")
                if where.suffix != ".md" or text is None or anchor not in anchors(text):
                    problems.append(f"{name}: no heading has the anchor #{anchor}")
    return problems


def tables(markdown: str) -> Iterator[tuple[list[str], list[list[str]]]]:
    """Each table: its header cells and its rows' cells (an escaped ``\\|`` stays in its cell)."""
    lines = FENCE.sub("", markdown).splitlines()
    for n in range(len(lines) - 1):
        if lines[n].startswith("|") and re.fullmatch(r"\|(\s*:?-+:?\s*\|)+", lines[n + 1].strip()):
            if n > 0 and lines[n - 1].startswith("|"):
                continue
            rows = []
            for line in lines[n + 2 :]:
                if not line.startswith("|"):
                    break
                rows.append(cells(line))
            yield cells(lines[n]), rows


def cells(line: str) -> list[str]:
    return [cell.strip().replace("\\|", "|") for cell in re.split(r"(?<!\\)\|", line.strip())[1:-1]]


def code_spans(text: str) -> list[str]:
    return [span[1:-1] for span in INLINE_CODE.findall(text)]


def section(markdown: str, heading: str) -> str:
    """The text under a heading, up to the next heading of its level or above (a ``#`` line in a
    fenced block is no heading)."""
    plain = FENCE.sub(lambda block: re.sub(r"[^\n]", " ", block[0]), markdown)  # same offsets
    match = re.search(rf"^(#+) {re.escape(heading)}[ \t]*$", plain, re.M)
    assert match is not None, f"no heading {heading!r}"
    level = len(match[1])
    end = re.compile(rf"^#{{1,{level}}} ", re.M).search(plain, match.end())
    return markdown[match.end() : end.start() if end else len(markdown)]


def mentions(text: str, word: str) -> bool:
    """Whether ``word`` (a flag, a name) is in ``text`` as a word of its own: ``--max-frames`` is
    not found in ``--max-frames-x``, nor ``-o`` in ``--output``."""
    return re.search(rf"(?<![\w-]){re.escape(word)}(?![\w-])", text) is not None


# -- links and anchors ----------------------------------------------------------------------------


def test_every_link_and_anchor_resolves() -> None:
    pages = {path: read(path) for path in markdown_files()}
    assert link_problems(pages, ROOT) == []


def test_the_readme_says_where_each_doc_is() -> None:
    linked = {(ROOT / unquote(t.partition("#")[0])).resolve() for t in link_targets(read(README))}
    unlisted = [str(path.relative_to(ROOT)) for path in markdown_files()[1:] if path not in linked]
    assert unlisted == []


@pytest.mark.parametrize(
    ("heading", "anchor"),
    [
        ("Testing: `pytest --wsinspect`", "testing-pytest---wsinspect"),
        ("What each handler is doing, and who blocked the loop", "what-each-handler-is-doing-and-who-blocked-the-loop"),
        ("A test of it: `--write-test`", "a-test-of-it---write-test"),
        ("`WSInspectConfig`", "wsinspectconfig"),
        ("Limits → costs… (◉ rows)", "limits--costs--rows"),
        ("Docker and compose", "docker-and-compose"),
        ("[The docs](docs/x.md) and snake_case", "the-docs-and-snake_case"),
    ],
)
def test_anchors_are_githubs(heading: str, anchor: str) -> None:
    assert slug(heading) == anchor


def test_a_broken_link_or_anchor_is_found(tmp_path: Path) -> None:
    (tmp_path / "docs").mkdir()
    (tmp_path / "other.md").write_text("# Other\n\n## Part\n\n## Part\n")
    page = tmp_path / "docs" / "page.md"
    markdown = (
        "# Page\n\n## Keys\n\n"
        "[fine](../other.md#part-1) [fine too](#keys) [fine as well](../other.md)\n"
        "[gone](../missing.md) [no anchor](../other.md#part-2) [here](#nokeys)\n"
        "![picture](../snap%5Bx%5D.svg) [out](../../etc/passwd) [web](https://example.com/x)\n"
        "`[in code](../nowhere.md)`\n\n```md\n[in a block](../nowhere.md)\n```\n"
    )
    problems = link_problems({page: markdown}, tmp_path)
    assert problems == [
        "docs/page.md: ../missing.md: no such file",
        "docs/page.md: ../other.md#part-2: no heading has the anchor #part-2",
        "docs/page.md: #nokeys: no heading has the anchor #nokeys",
        "docs/page.md: ../snap%5Bx%5D.svg: no such file",
        "docs/page.md: ../../etc/passwd: outside the repository",
    ]
    (tmp_path / "snap[x].svg").write_text("<svg/>")
    assert "docs/page.md: ../snap%5Bx%5D.svg: no such file" not in link_problems({page: markdown}, tmp_path)


# -- keys ---------------------------------------------------------------------------------------


def bindings() -> list[tuple[type, Binding]]:
    """Every binding the inspector's app, widgets and screens declare, with its class."""
    found = []
    for module_info in pkgutil.iter_modules(wsinspect.inspector.ui.__path__):
        module = importlib.import_module(f"{wsinspect.inspector.ui.__name__}.{module_info.name}")
        for _, cls in inspect.getmembers(module, inspect.isclass):
            if cls.__module__ == module.__name__ and "BINDINGS" in vars(cls):
                found += [(cls, binding) for binding in vars(cls)["BINDINGS"] if isinstance(binding, Binding)]
    return found


def labels(binding: Binding) -> set[str]:
    return {key_label(key.strip()) for key in binding.key.split(",")}


def key_tables(markdown: str) -> dict[str, list[set[str]]]:
    """The key tables' rows as sets of keys: "main" (``| key | what it does |``) and "dialogs"
    (``| key | where | what it does |``)."""
    found: dict[str, list[set[str]]] = {"main": [], "dialogs": []}
    for header, rows in tables(markdown):
        if header and header[0] == "key":
            kind = "dialogs" if header[1:2] == ["where"] else "main"
            found[kind] += [set(code_spans(row[0])) for row in rows]
    return found


def key_problems(declared: Iterable[tuple[type, Binding]], docs: Mapping[str, str]) -> list[str]:
    """Bindings no row of the docs' key tables has (all of a binding's keys in one row), and keys
    the tables name that nothing binds. ``docs``: the page with every key, then any page that
    names some (the README)."""
    problems = []
    full_name, full = next(iter(docs.items()))
    tables_of_full = key_tables(full)
    bound: dict[str, set[str]] = {"main": set(), "dialogs": set()}
    for cls, binding in declared:
        kind = "dialogs" if issubclass(cls, Screen) else "main"
        keys = labels(binding)
        bound[kind] |= keys
        if not any(keys <= row for row in tables_of_full[kind]):
            problems.append(f"{full_name}: no row of the {kind} key table has {' '.join(sorted(keys))} ({binding.id})")
    for name, markdown in docs.items():
        for kind, rows in key_tables(markdown).items():
            for key in sorted(set().union(*rows) - bound[kind]):
                problems.append(f"{name}: {key} is in the {kind} key table, and nothing binds it")
    return problems


def test_every_key_binding_is_in_the_docs_and_every_key_there_is_bound() -> None:
    docs = {"docs/inspector.md": read(INSPECTOR), "README.md": read(README)}
    found = key_tables(read(INSPECTOR))
    assert found["main"]
    assert found["dialogs"]
    assert key_problems(bindings(), docs) == []


def test_a_key_missing_from_the_docs_or_bound_no_more_is_found() -> None:
    class Screenish(Screen[None]):
        pass

    declared = [
        *bindings(),
        (object, Binding("ctrl+z", "undo", "Undo", id="undo")),
        (Screenish, Binding("f9", "nine", "Nine", id="nine")),
    ]
    docs = {
        "docs/inspector.md": read(INSPECTOR),
        "README.md": read(README) + "\n| key | what |\n|---|---|\n| `Q` | x |\n",
    }
    assert key_problems(declared, docs) == [
        "docs/inspector.md: no row of the main key table has ctrl+z (undo)",
        "docs/inspector.md: no row of the dialogs key table has f9 (nine)",
        "README.md: Q is in the main key table, and nothing binds it",
    ]


# -- command-line options -----------------------------------------------------------------------


def cli_options(parser: argparse.ArgumentParser) -> dict[str | None, list[str]]:
    """Each command's option strings (None: the command's own), read from the argparse parser."""
    options: dict[str | None, list[str]] = {}

    def walk(command: str | None, current: argparse.ArgumentParser) -> None:
        options[command] = []
        for action in current._actions:
            if isinstance(action, argparse._SubParsersAction):
                for name, sub in action.choices.items():
                    walk(name, sub)
            elif not isinstance(action, argparse._HelpAction):
                options[command] += action.option_strings

    walk(None, parser)
    return options


def litestar_options() -> dict[str, list[str]]:
    """``litestar wsinspect`` and its subcommands' options, from the click group the plugin adds."""
    group = click.Group("litestar")
    WSInspectPlugin().on_cli_init(group)
    options: dict[str, list[str]] = {}

    def walk(path: str, command: click.Command) -> None:
        options[path] = [opt for param in command.params if isinstance(param, click.Option) for opt in param.opts]
        for name, sub in getattr(command, "commands", {}).items():
            walk(f"{path} {name}", sub)

    walk("litestar wsinspect", group.commands["wsinspect"])
    return options


def pytest_options() -> list[str]:
    """The pytest plugin's command-line options and ini names."""
    names: list[str] = []

    class Group:
        def addoption(self, *opts: str, **_: Any) -> None:
            names.extend(opts)

    class Parser:
        def getgroup(self, *_: Any) -> Group:
            return Group()

        def addini(self, name: str, *_: Any, **__: Any) -> None:
            names.append(name)

    pytest_plugin.pytest_addoption(Parser())  # type: ignore[arg-type]
    return names


def option_problems(options: Mapping[str | None, Sequence[str]], pages: Mapping[str | None, Path]) -> list[str]:
    """Options no page names, and commands with no page (or a page that never names them)."""
    problems = []
    for command, flags in options.items():
        page = pages.get(command)
        if page is None:
            problems.append(f"wsinspect {command}: no page documents it (add it to COMMAND_PAGES)")
            continue
        text = read(page)
        if command is not None and not mentions(text, f"wsinspect {command}"):
            problems.append(f"wsinspect {command}: {page.relative_to(ROOT)} never names it")
        problems += [
            f"wsinspect {command or ''} {flag}: not in {page.relative_to(ROOT)}".replace("  ", " ")
            for flag in flags
            if not mentions(text, flag)
        ]
    return problems


def test_every_option_of_every_command_is_on_its_page() -> None:
    options = cli_options(build_parser())
    assert {"record", "replay", "--max-frames"} <= {*options, *options[None], *options["open"]}
    assert option_problems(options, COMMAND_PAGES) == []


def test_the_litestar_commands_and_the_pytest_options_are_documented() -> None:
    readme = read(README) + read(CONFIGURATION)
    for command, flags in litestar_options().items():
        assert mentions(readme, command), command
        assert [flag for flag in flags if not mentions(readme, flag)] == [], command
    testing = read(TESTING)
    names = pytest_options()
    assert {"--wsinspect", "--wsinspect-output", "wsinspect_output"} <= set(names)
    assert [name for name in names if f"`{name}`" not in testing and not mentions(testing, name)] == []


def test_an_undocumented_option_or_command_is_found() -> None:
    parser = build_parser()
    parser.add_argument("--colour", help="a new flag")
    commands = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    commands.choices["watch"] = argparse.ArgumentParser()
    problems = option_problems(cli_options(parser), COMMAND_PAGES)
    assert problems == [
        "wsinspect --colour: not in docs/inspector.md",
        "wsinspect watch: no page documents it (add it to COMMAND_PAGES)",
    ]
    assert option_problems({"replay": ["--path", "--speed"]}, COMMAND_PAGES) == [
        "wsinspect replay --speed: not in docs/replay.md"
    ]


# -- configuration ------------------------------------------------------------------------------


def config_rows(markdown: str) -> dict[str, list[str]]:
    """The configuration table's rows by field name: ``| field | default | meaning |``."""
    for header, rows in tables(markdown):
        if header[:2] == ["field", "default"]:
            return {code_spans(row[0])[0]: row for row in rows}
    return {}


def config_problems(config: type, markdown: str) -> list[str]:
    """Fields (the keyword arguments of the config dataclass) with no row, rows of no field, and
    defaults the table gives otherwise than the code."""
    fields = {f.name: f for f in dataclasses.fields(config) if f.init}
    rows = config_rows(markdown)
    problems = [f"{name}: no row in the configuration table" for name in fields if name not in rows]
    problems += [f"{name}: a row, and no such field" for name in rows if name not in fields]
    for name, row in rows.items():
        field = fields.get(name)
        if field is None or field.default is dataclasses.MISSING:
            continue
        default = field.default
        shown = code_spans(row[1])
        if isinstance(default, frozenset):
            problems += [
                f"{name}: its default {item!r} is not in the table" for item in sorted(default) if item not in shown
            ]
            problems += [
                f"{name}: the table's default {item!r} is not the code's" for item in shown if item not in default
            ]
        elif (json.dumps(default) if isinstance(default, str) else repr(default)) not in shown:
            problems.append(f"{name}: the table's default {row[1]} is not {default!r}")
    return problems


def test_every_config_field_is_in_the_configuration_table() -> None:
    assert config_problems(WSInspectConfig, read(CONFIGURATION)) == []


def test_an_undocumented_field_or_a_wrong_default_is_found() -> None:
    @dataclasses.dataclass(frozen=True, kw_only=True)
    class Changed(WSInspectConfig):
        max_messages: int = 200
        sample_rate: float = 1.0

    assert config_problems(Changed, read(CONFIGURATION)) == [
        "sample_rate: no row in the configuration table",
        "max_messages: the table's default `100` is not 200",
    ]


# -- the session file and the wire --------------------------------------------------------------


def struct_fields(struct: type) -> list[str]:
    return list(struct.__struct_fields__)  # type: ignore[attr-defined]


def session_problems(markdown: str, top_level: Sequence[str]) -> list[str]:
    """The example must read as a session and have every key, in the order they are written; the
    keys of a frame, a log line, a stack frame and a loop block must be named on the page."""
    (example,) = fenced_blocks(markdown, "json")
    problems = []
    document = json.loads(example)
    loads(example.encode())  # a session file wsinspect reads
    if list(document) != list(top_level):
        problems.append(f"the file's keys are {list(document)}, not {list(top_level)}")
    (connection,) = document["connections"]
    if list(connection) != struct_fields(model.Connection):
        missing = [key for key in struct_fields(model.Connection) if key not in connection]
        problems.append(f"a connection's keys are not all there, in order (missing: {missing})")
    examples: list[tuple[str, type, list[dict[str, Any]]]] = [
        ("log line", model.LogLine, connection["logs"]),
        ("frame", model.Frame, connection["messages"]),
    ]
    for kind, struct, items in examples:
        seen = [key for item in items for key in item]
        problems += [f"a {kind}'s {key} is in no example" for key in struct_fields(struct) if key not in seen]
        problems += [f"a {kind}'s {key} is no key" for key in seen if key not in struct_fields(struct)]
    spans = set(code_spans(FENCE.sub("", markdown)))
    for struct in (model.Frame, model.LogLine, model.TracebackEntry, model.HandlerState, model.AppLoopBlock):
        problems += [
            f"{struct.__name__}.{key} is not on the page"
            for key in struct_fields(struct)
            if key not in spans and f'"{key}"' not in markdown
        ]
    return problems


def top_level_keys(tmp: Path) -> list[str]:
    write_session(tmp / "empty.json", [], 0.0)
    return list(json.loads((tmp / "empty.json").read_text()))


def test_the_session_example_has_every_key(tmp_path: Path) -> None:
    assert session_problems(read(SESSION_JSON), top_level_keys(tmp_path)) == []


def test_a_key_missing_from_the_session_example_is_found(tmp_path: Path) -> None:
    markdown = read(SESSION_JSON).replace('"client_saw": null, ', "").replace(', "handler_time": 0.0012', "")
    assert session_problems(markdown, top_level_keys(tmp_path)) == [
        "a connection's keys are not all there, in order (missing: ['client_saw'])",
        "a frame's handler_time is in no example",
    ]


def wire_tags() -> list[str]:
    return [
        cls.__struct_config__.tag
        for _, cls in inspect.getmembers(wire, inspect.isclass)
        if issubclass(cls, msgspec.Struct) and isinstance(cls.__struct_config__.tag, str)
    ]


def wire_problems(tags: Iterable[str], markdown: str) -> list[str]:
    documented = {
        span
        for header, rows in tables(markdown)
        if header[:1] == ["tag"]
        for row in rows
        for span in code_spans(row[0])
    }
    return [f"the wire message {tag!r} is not in the table" for tag in tags if tag not in documented]


def test_every_wire_message_is_in_the_wire_protocol_page() -> None:
    tags = wire_tags()
    assert {"hello", "frames", "held"} <= set(tags)
    assert wire_problems(tags, read(WIRE)) == []
    assert wire_problems([*tags, "resume"], read(WIRE)) == ["the wire message 'resume' is not in the table"]


# -- the layout, the schema's examples, the quick start -----------------------------------------


def layout_problems(package: Path, markdown: str) -> list[str]:
    """Packages and top-level modules of ``package`` that the layout does not name, and paths it
    names that do not exist."""
    layout = section(markdown, "Layout")
    spans = set(code_spans(layout))
    problems = []
    for directory in sorted(p.parent for p in package.rglob("__init__.py")):
        name = f"{directory.relative_to(package.parent)}/"
        if not any(span.startswith(name) for span in spans):
            problems.append(f"{name}: not in the layout")
    for module in sorted(package.glob("*.py")):
        if module.name not in spans and f"{package.name}/{module.name}" not in spans:
            problems.append(f"{package.name}/{module.name}: not in the layout")
    for span in sorted(spans):
        if span.startswith(f"{package.name}/") and not (package.parent / span).exists():
            problems.append(f"{span}: in the layout, and no such path")
    return problems


def test_every_package_is_in_the_layout(tmp_path: Path) -> None:
    package = ROOT / "wsinspect"
    assert layout_problems(package, read(CONTRIBUTING)) == []
    # A copy of the tree with a package and a module more, and one package less.
    shadow = tmp_path / "wsinspect"
    for path in package.rglob("*.py"):
        if "demo" not in path.relative_to(package).parts:
            (shadow / path.relative_to(package)).parent.mkdir(parents=True, exist_ok=True)
            (shadow / path.relative_to(package)).touch()
    (shadow / "metrics").mkdir()
    (shadow / "metrics" / "__init__.py").touch()
    (shadow / "clock.py").touch()
    assert layout_problems(shadow, read(CONTRIBUTING)) == [
        "wsinspect/metrics/: not in the layout",
        "wsinspect/clock.py: not in the layout",
        "wsinspect/demo/: in the layout, and no such path",
    ]


SQLITE3 = re.compile(r"^sqlite3 \S+ \"(?P<sql>.*?)\"$", re.M | re.S)


def sql_problems(markdown: str) -> list[str]:
    """The ``sqlite3 capture.sqlite "..."`` examples, run on an empty capture database."""
    db = sqlite3.connect(":memory:")
    db.executescript(SCHEMA)
    problems = []
    queries = [m["sql"] for block in fenced_blocks(markdown, "sh") for m in SQLITE3.finditer(block)]
    for sql in queries:
        try:
            db.execute(sql).fetchall()
        except sqlite3.Error as exc:
            problems.append(f"{' '.join(sql.split())[:60]}…: {exc}")
    return problems if queries else ["no sqlite3 example"]


def test_the_sql_examples_run_on_a_capture() -> None:
    markdown = read(RECORDING)
    assert sql_problems(markdown) == []
    broken = markdown.replace("json_extract(c.metadata, '$.client')", "c.client")
    assert [problem.partition("…: ")[2] for problem in sql_problems(broken)] == ["no such column: c.client"]


def quick_start(readme: str) -> list[str]:
    """The commands of the README's quick start: its first sh block, comments left out."""
    block = fenced_blocks(section(readme, "Quick start"), "sh")[0]
    return [line.strip() for line in block.splitlines() if line.strip() and not line.lstrip().startswith("#")]


def ci_commands(script: str) -> list[str]:
    """What ``.ci/run`` runs: its lines but the comments, ``set`` and the ``cd`` to the root."""
    return [
        line.strip()
        for line in script.splitlines()
        if line.strip() and not line.startswith("#") and not re.match(r"(set|cd) ", line.strip())
    ]


def quick_start_problems(readme: str, ci_script: str) -> list[str]:
    commands, ci = quick_start(readme), ci_commands(ci_script)
    problems = []
    if len(commands) != 2:
        problems.append(f"the quick start has {len(commands)} commands, not 2")
    if commands[:1] != [DEMO_COMMAND]:
        problems.append(f"the quick start's first command is not {DEMO_COMMAND!r}")
    if commands[1:2] != ci:
        problems.append(f"the quick start's test command is not what .ci/run runs: {ci}")
    return problems


def test_the_quick_start_is_what_ci_runs() -> None:
    readme, script = read(README), read(ROOT / ".ci" / "run")
    assert quick_start_problems(readme, script) == []
    # The demo command works: its extra exists, and so does the command.
    assert "demo = [" in read(ROOT / "pyproject.toml")
    assert "demo" in cli_options(build_parser())
    changed = readme.replace("nox -s tests lint typecheck\n```", "nox -s tests lint\n```")
    assert quick_start_problems(changed, script) == [
        "the quick start's test command is not what .ci/run runs: "
        "['python3 -m venv .venv && .venv/bin/pip install -q nox && .venv/bin/nox -s tests lint typecheck']"
    ]
    assert quick_start_problems(readme.replace("-q '.[demo]'", "'.[demo]'"), script) == [
        f"the quick start's first command is not {DEMO_COMMAND!r}"
    ]


# -- the replay report --------------------------------------------------------------------------


def shown_report(markdown: str) -> tuple[list[str], str]:
    """The report replay.md shows: the command after ``$ wsinspect``, and what it printed."""
    for block in fenced_blocks(markdown, "text"):
        first, _, rest = block.partition("\n")
        if first.startswith("$ wsinspect replay "):
            return shlex.split(first)[3:], rest
    raise AssertionError("replay.md shows no `$ wsinspect replay` report")


def test_the_replay_report_is_what_replay_prints(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    arguments, shown = shown_report(read(REPLAY))
    monkeypatch.chdir(ROOT)
    monkeypatch.setenv("WSINSPECT_ENABLED", "1")  # a replay turns it off; this puts it back after
    monkeypatch.setattr(sys, "path", list(sys.path))  # a replay puts the app's directory first
    monkeypatch.delitem(sys.modules, "jobs", raising=False)
    try:
        code = main(["replay", *arguments])
    finally:
        sys.modules.pop("jobs", None)
    printed = capsys.readouterr().out
    assert printed == shown
    assert code == 1  # what the page says: a connection differs
    assert printed != shown.replace("queued", "started")  # a report that changed is found
