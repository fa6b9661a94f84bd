"""Development sessions: `nox -s tests lint typecheck` is what CI runs."""

import shutil
import subprocess
import sys

import nox

nox.options.sessions = ["tests", "lint", "typecheck"]
nox.options.reuse_existing_virtualenvs = True


def _runs(version: str) -> bool:
    """Whether ``python<version>`` is an interpreter that runs (a pyenv shim of a version not
    selected is on PATH but does not)."""
    path = shutil.which(f"python{version}")
    return path is not None and subprocess.run([path, "-c", ""], capture_output=True).returncode == 0


# The other Pythons from 3.11 up that this machine has: `nox -s tests-3.13` runs the tests on one.
# `nox -s tests` (what CI runs) uses the interpreter nox runs on.
_CURRENT = f"{sys.version_info.major}.{sys.version_info.minor}"
PYTHONS = [version for version in ("3.11", "3.12", "3.13", "3.14") if version != _CURRENT and _runs(version)]


@nox.session
def tests(session: nox.Session) -> None:
    """The test suite, with the coverage gate on wsinspect/ (fails under 90%)."""
    session.install("-e", ".[dev]")
    session.run("coverage", "erase")
    session.run("coverage", "run", "-m", "pytest", *session.posargs)
    session.run("coverage", "combine", success_codes=[0, 1])
    session.run("coverage", "report")


for _version in PYTHONS:
    nox.session(name=f"tests-{_version}", python=_version)(tests)


@nox.session
def lint(session: nox.Session) -> None:
    """ruff, and the import contract: the app side never imports the inspector, Textual or rich."""
    session.install("ruff", "import-linter")
    session.run("ruff", "check", ".")
    session.run("ruff", "format", "--check", ".")
    session.run("lint-imports")


@nox.session
def typecheck(session: nox.Session) -> None:
    session.install("-e", ".[dev]")
    session.run("mypy")


@nox.session
def bench(session: nox.Session) -> None:
    """Benchmarks, reported as ratios against a baseline measured in the same run."""
    session.install("-e", ".[dev,bench]")
    session.run("python", "-m", "bench", *session.posargs)


@nox.session
def demo(session: nox.Session) -> None:
    """The inspector with the built-in demo app and its simulated clients."""
    session.install("-e", ".[demo]")
    session.run("wsinspect", "demo")
