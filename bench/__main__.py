"""``python -m bench [--quick] [--only NAMES] [--json PATH] [--markdown PATH] [--profile]``."""

from __future__ import annotations

import argparse
import dataclasses
import datetime
import json
import os
import platform
import shutil
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

from . import instructions, live
from .shared import ROOT, InspectorProcess, Row

SIZES = {  # messages per connection and repeats; frames and repeats; (a) and (b) repeats; …
    "full": {
        "live": (20_000, 5),
        "tui": 8.0,
        "app": (4_000, 9),
        "ingest": (200_000, 5, 5),
        "e2e": (200_000, 3),
        "ui": ((100_000, 1_000_000), 3),
        "files": ((100_000, 1_000_000), 3),
        "memory": (1_000_000, 9),
        "logs": (100_000, 9),
        "watch": (200_000, 9, 10.0, 20),
        "instructions": (1_000, 3),
        "pytest": (200, 9),
    },
    "quick": {
        "live": (3_000, 1),
        "tui": 3.0,
        "app": (3_000, 3),
        "ingest": (50_000, 3, 3),
        "e2e": (30_000, 2),
        "ui": ((100_000,), 1),
        "files": ((100_000,), 1),
        "memory": (100_000, 3),
        "logs": (20_000, 3),
        "watch": (100_000, 3, 3.0, 10),
        "instructions": (200, 1),
        "pytest": (50, 2),
    },
}
SECTIONS = ("live", "tui", "app", "ingest", "e2e", "ui", "files", "memory", "logs", "watch", "instructions", "pytest")


def format_row(row: Row) -> str:
    value = f"{row.value:,.0f}" if row.unit in ("frames/s", "ms", "% core") else f"{row.value:.2f}"
    ratio = f"{row.ratio:.2f}x" if row.ratio is not None else ""
    return f"  {row.name:<46} {value:>11} {row.unit:<8} {ratio:>7}  {row.note}"


def print_section(title: str, rows: list[Row]) -> None:
    print(f"\n{title}")
    print(f"  {'':<46} {'median':>11} {'unit':<8} {'vs base':>7}  note")
    for row in rows:
        print(format_row(row), flush=True)


def markdown(path: Path, command: str, titles: dict[str, str], sections: dict[str, list[Row]]) -> None:
    """The results as BENCHMARKS.md: when, where, how, and one table per section."""
    lines = [
        "# wsinspect benchmarks",
        "",
        f"Written by `{command}` on {datetime.datetime.now():%Y-%m-%d %H:%M}: Python "
        f"{platform.python_version()}, {platform.machine()}, {os.cpu_count()} CPUs, "
        f"{platform.system()} {platform.release()}. Medians of repeats; ratios against a baseline "
        "measured in the same run (the machine is shared: absolute numbers only hint).",
        "",
        "What each section measures is in the docstring of its module in `bench/`. This file is written by",
        "`nox -s bench` alone; earlier runs, before/after comparisons and the one-hour soak are in",
        "[bench/HISTORY.md](bench/HISTORY.md), written by hand.",
    ]
    for name, rows in sections.items():
        lines += ["", f"## {titles[name]}", "", "| | median | unit | vs base | note |", "|---|---|---|---|---|"]
        for row in rows:
            value = f"{row.value:,.0f}" if row.unit in ("frames/s", "ms", "% core") else f"{row.value:.2f}"
            ratio = f"{row.ratio:.2f}x" if row.ratio is not None else ""
            lines.append(f"| {row.name.strip()} | {value} | {row.unit} | {ratio} | {row.note} |")
    path.write_text("\n".join(lines) + "\n")


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="a smoke run of a minute or two")
    parser.add_argument("--only", default=",".join(SECTIONS), help=f"comma-separated, of {', '.join(SECTIONS)}")
    parser.add_argument("--json", type=Path, metavar="PATH", help="also write the results here")
    parser.add_argument(
        "--markdown",
        type=Path,
        metavar="PATH",
        help="write the results as markdown (default for a full run: BENCHMARKS.md)",
    )
    parser.add_argument("--profile", action="store_true", help="print a cProfile of the ingest path (a)")
    args = parser.parse_args()
    only = [name.strip() for name in args.only.split(",") if name.strip()]
    if unknown := set(only) - set(SECTIONS):
        parser.error(f"unknown section(s): {', '.join(sorted(unknown))}")
    sizes = SIZES["quick" if args.quick else "full"]
    os.environ.pop("WSINSPECT_ENABLED", None)  # recording must be on
    workdir = Path(tempfile.mkdtemp(prefix="wsib-", dir="/tmp"))  # AF_UNIX paths must stay short
    live_sock, dead = workdir / "inspector.sock", workdir / "nobody.sock"
    print(f"wsinspect benchmarks ({'quick' if args.quick else 'full'}), Python {platform.python_version()}, "
          f"{os.cpu_count()} CPUs; medians of repeats")  # fmt: skip
    sections: dict[str, list[Row]] = {}
    titles: dict[str, str] = {}
    inspector: InspectorProcess | None = None
    rate_a = 0.0

    def run(name: str, title: str, measure: Callable[[], list[Row]]) -> None:
        if name in only:
            title = titles[name] = f"{SECTIONS.index(name) + 1}. {title}"  # numbered by SECTIONS alone
            sections[name] = measure()
            print_section(title, sections[name])

    # The in-process sections import wsinspect's internals: only when asked (the live ones run any
    # version's wsinspect, for before/after tables).
    if {"app", "ingest", "e2e", "ui", "files", "memory", "logs", "watch", "pytest"} & set(only):
        from . import app_cost, e2e, files, ingest, logs, memory, pytest_cost, ui, watch
    try:
        n, repeats = sizes["live"]
        run("live", f"The path users run: uvicorn + Litestar echo, a websockets client, the inspector; "
            f"{live.CONNECTIONS} connections in lockstep, {n:,} messages each, {repeats} rounds",
            lambda: live.run(n, repeats))  # fmt: skip
        run("tui", "The TUI under load (tmux 160x45): CPU at paced frame rates, key press to screen",
            lambda: live.tui_load(sizes["tui"]))  # fmt: skip
        if {"app", "e2e"} & set(only):
            inspector = InspectorProcess(live_sock)
        n, repeats = sizes["app"]
        run("app", f"Micro: app-side cost in one process, fake receive/send ({n:,} messages, {repeats} repeats)",
            lambda: app_cost.run(inspector, live_sock, dead, n, repeats))  # type: ignore[arg-type]  # fmt: skip
        if {"ingest", "e2e"} & set(only):
            frames, repeats_a, repeats_b = sizes["ingest"]
            stream = ingest.encoded_stream(frames)

            def measure_ingest() -> list[Row]:
                nonlocal rate_a
                rows = ingest.sans_io(stream, frames, repeats_a)
                rate_a = rows[-1].value
                rows.append(ingest.via_socket(stream, frames, repeats_b, workdir, rate_a))
                if args.profile:
                    print("\ncProfile of (a) Decoder.feed + Store.apply, top 10 by own time:")
                    print(ingest.profile(stream).rstrip())
                return rows

            mb = len(stream) / 1e6
            run("ingest", f"Inspector ingest, one core ({frames:,} frames over 50 connections, {mb:.1f} MB)",
                measure_ingest)  # fmt: skip
            del stream
        frames, repeats = sizes["e2e"]
        run("e2e", f"Micro: emitter into another process ({frames:,} frames over 50 connections, {repeats} runs)",
            lambda: e2e.run(inspector, live_sock, frames, repeats, rate_a or None))  # type: ignore[arg-type]  # fmt: skip
        ui_sizes, repeats = sizes["ui"]
        run("ui", f"Inspector screen, headless: a key press to the updated screen, 160x45 ({repeats} repeats)",
            lambda: ui.run(ui_sizes, repeats))  # fmt: skip
        file_sizes, repeats = sizes["files"]
        run("files", f"Session files: export and open, 50 connections, ~60-byte text frames ({repeats} repeats)",
            lambda: files.run(file_sizes, repeats))  # fmt: skip
        frames, repeats = sizes["memory"]
        run("memory", f"Inspector memory per stored frame ({frames:,} frames, tracemalloc) and the connections "
            f"table with 1,000 open connections ({repeats} refreshes)",
            lambda: memory.run(frames, repeats))  # fmt: skip
        n, repeats = sizes["logs"]
        run("logs", f"Micro: a log call of a handler with capture_logs, in one process ({n:,} calls, "
            f"{repeats} repeats)", lambda: logs.run(n, repeats))  # fmt: skip
        n, repeats, seconds, tries = sizes["watch"]
        run("watch", f"Micro: what handler states and loop blocks cost, in one process ({n:,} messages, "
            f"{seconds:g} s windows, {repeats} repeats; {tries} blocks of each length)",
            lambda: watch.run(n, repeats, seconds, tries))  # fmt: skip
        n, repeats = sizes["instructions"]
        if "instructions" in only and not instructions.available():
            print("\nthe instructions section needs valgrind and callgrind_control: skipped", file=sys.stderr)
        elif "instructions" in only:
            run("instructions", f"The app's instructions per echoed message, by callgrind: uvicorn + Litestar echo, "
                f"{live.CONNECTIONS} connections in lockstep, {n:,} messages each, {repeats} runs",
                lambda: instructions.run(n, repeats))  # fmt: skip
        n, repeats = sizes["pytest"]
        run("pytest", f"The pytest plugin: wall time of a run of {n} Litestar TestClient WebSocket tests "
            f"({repeats} rounds)", lambda: pytest_cost.run(n, repeats))  # fmt: skip
    finally:
        if inspector is not None:
            inspector.close()
        shutil.rmtree(workdir, ignore_errors=True)

    if "ingest" in sections:
        from . import ingest

        reached = all(row.value >= ingest.TARGET for row in sections["ingest"][-2:])  # (a) and (b)
        print(f"\nIngest target of {ingest.TARGET:,} frames/s, (a) and (b): {'reached' if reached else 'NOT reached'}")
    target = args.markdown or (ROOT / "BENCHMARKS.md" if not args.quick and set(only) == set(SECTIONS) else None)
    if target:
        markdown(target, " ".join(["nox -s bench --", *sys.argv[1:]]), titles, sections)
        print(f"wrote {target}")
    if args.json:
        results = {
            "mode": "quick" if args.quick else "full",
            "python": platform.python_version(),
            "cpus": os.cpu_count(),
            "sections": {name: [dataclasses.asdict(row) for row in rows] for name, rows in sections.items()},
        }
        args.json.write_text(json.dumps(results, indent=2) + "\n")
        print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
