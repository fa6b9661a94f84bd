"""``python -m bench [--quick] [--json PATH] [--profile]``: run the benchmarks, print a table."""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import platform
import shutil
import tempfile
from pathlib import Path

from . import app_cost, e2e, ingest, ui
from .shared import InspectorProcess, Row

SIZES = {  # messages per connection and repeats; frames and repeats; (a) and (b) repeats
    "full": {"app": (4_000, 9), "ingest": (200_000, 5, 5), "e2e": (200_000, 3), "ui": ((100_000, 1_000_000), 3)},
    "quick": {"app": (3_000, 3), "ingest": (50_000, 3, 3), "e2e": (30_000, 2), "ui": ((100_000,), 1)},
}


def print_section(title: str, rows: list[Row]) -> None:
    print(f"\n{title}")
    print(f"  {'':<46} {'median':>11} {'unit':<8} {'vs base':>7}  note")
    for row in rows:
        value = f"{row.value:,.0f}" if row.unit in ("frames/s", "ms") else f"{row.value:.2f}"
        ratio = f"{row.ratio:.2f}x" if row.ratio is not None else ""
        print(f"  {row.name:<46} {value:>11} {row.unit:<8} {ratio:>7}  {row.note}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="a smoke run of about 10 seconds")
    parser.add_argument("--json", type=Path, metavar="PATH", help="also write the results here")
    parser.add_argument("--profile", action="store_true", help="print a cProfile of the ingest path (a)")
    args = parser.parse_args()
    sizes = SIZES["quick" if args.quick else "full"]
    os.environ.pop("WSINSPECT_ENABLED", None)  # recording must be on
    workdir = Path(tempfile.mkdtemp(prefix="wsib-", dir="/tmp"))  # AF_UNIX paths must stay short
    live, dead = workdir / "inspector.sock", workdir / "nobody.sock"
    print(f"wsinspect benchmarks ({'quick' if args.quick else 'full'}), Python {platform.python_version()}, "
          f"{os.cpu_count()} CPUs; medians of repeats")  # fmt: skip
    sections: dict[str, list[Row]] = {}
    inspector = InspectorProcess(live)
    try:
        n, repeats = sizes["app"]
        title = f"1. App-side cost per echoed message ({n:,} messages of ~100 B per connection, {repeats} repeats)"
        sections["app_cost"] = app_cost.run(inspector, live, dead, n, repeats)
        print_section(title, sections["app_cost"])

        frames, repeats_a, repeats_b = sizes["ingest"]
        stream = ingest.encoded_stream(frames)
        title = f"2. Inspector ingest, one core ({frames:,} frames over 50 connections, {len(stream) / 1e6:.1f} MB)"
        sections["ingest"] = ingest.sans_io(stream, frames, repeats_a)
        rate_a = sections["ingest"][-1].value
        sections["ingest"].append(ingest.via_socket(stream, frames, repeats_b, workdir, rate_a))
        print_section(title, sections["ingest"])
        if args.profile:
            print("\ncProfile of (a) Decoder.feed + Store.apply, top 10 by own time:")
            print(ingest.profile(stream).rstrip())
        del stream

        frames, repeats = sizes["e2e"]
        title = f"3. Emitter end to end, into another process ({frames:,} frames over 50 connections, {repeats} runs)"
        sections["e2e"] = e2e.run(inspector, live, frames, repeats, rate_a)
        print_section(title, sections["e2e"])

        ui_sizes, repeats = sizes["ui"]
        title = f"4. Inspector screen: time from a key press to the updated screen, 160x45 ({repeats} repeats)"
        sections["ui"] = ui.run(ui_sizes, repeats)
        print_section(title, sections["ui"])
    finally:
        inspector.close()
        shutil.rmtree(workdir, ignore_errors=True)

    reached = all(row.value >= ingest.TARGET for row in sections["ingest"][-2:])  # (a) and (b)
    print(f"\nIngest target of {ingest.TARGET:,} frames/s, (a) and (b): {'reached' if reached else 'NOT reached'}")
    if args.json:
        results = {
            "mode": "quick" if args.quick else "full",
            "python": platform.python_version(),
            "cpus": os.cpu_count(),
            "ingest_target_frames_per_s": ingest.TARGET,
            "ingest_target_reached": reached,
            "sections": {name: [dataclasses.asdict(row) for row in rows] for name, rows in sections.items()},
        }
        args.json.write_text(json.dumps(results, indent=2) + "\n")
        print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
