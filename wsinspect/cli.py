"""The ``wsinspect`` command."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from . import __version__


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="wsinspect",
        description="A terminal inspector for the WebSocket traffic of Litestar and other ASGI apps.",
    )
    parser.add_argument("--version", action="version", version=f"wsinspect {__version__}")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    parser.parse_args(argv)
    parser.print_help()
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
