"""Development sessions: `nox -s tests lint typecheck` is what CI runs."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

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
    # The plugin dogfooded: a failed test keeps its connections in test-results/wsinspect/.
    session.run("coverage", "run", "-m", "pytest", "--wsinspect=retain-on-failure", *session.posargs)
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
def remote(session: nox.Session) -> None:
    """Apps on "remote hosts" stream to one inspector through real `ssh -R` forwards (asyncssh stands in for sshd)."""
    session.install("-e", ".[dev]", "asyncssh>=2.14")
    session.run("pytest", "tests/remote", "-v", *session.posargs)


@nox.session
def soak(session: nox.Session) -> None:
    """The live inspector left open for an hour under 5,000 frames/s, trimming dozens of times while
    keys are pressed, and the timeline's state machine tried 8 times more, with twice the steps (issue 25).
    WSINSPECT_SOAK_SECONDS (3600) and WSINSPECT_SOAK_MAX_FRAMES (200000) change the first."""
    session.install("-e", ".[dev]")
    env = {
        "WSINSPECT_SOAK_SECONDS": os.environ.get("WSINSPECT_SOAK_SECONDS", "3600"),
        "WSINSPECT_SOAK_MAX_FRAMES": os.environ.get("WSINSPECT_SOAK_MAX_FRAMES", "200000"),
        "WSINSPECT_STATEFUL_EXAMPLES": "200",
        "WSINSPECT_STATEFUL_STEPS": "50",
    }
    session.run("pytest", "tests/test_soak.py", "tests/test_tui_retention.py", "-s", "-v", *session.posargs, env=env)


@nox.session
def typecheck(session: nox.Session) -> None:
    session.install("-e", ".[dev]")
    session.run("mypy")


@nox.session
def bench(session: nox.Session) -> None:
    """Benchmarks, reported as ratios against a baseline measured in the same run."""
    session.install("-e", ".[dev,bench]")
    session.run("python", "-m", "bench", *session.posargs)


# What a wheel may hold: the package and its metadata, no tests, benchmarks or snapshots.
_WHEEL_CHECK = """
import sys, zipfile
from pathlib import Path
(wheel,) = Path(sys.argv[1]).glob("wsinspect-*.whl")
names = zipfile.ZipFile(wheel).namelist()
stray = [name for name in names if not name.startswith(("wsinspect/", "wsinspect-"))]
assert not stray, f"{wheel.name} holds {stray[:5]}"
assert "wsinspect/cli.py" in names and "wsinspect/replay/driver.py" in names
print(f"{wheel.name}: {len(names)} files, all of wsinspect")
"""


@nox.session
def package(session: nox.Session) -> None:
    """The wheel holds wsinspect alone, and `pipx install .` gives a working `wsinspect` command."""
    session.install("build", "pipx")
    tmp = Path(session.create_tmp())
    shutil.rmtree(tmp / "dist", ignore_errors=True)
    session.run("python", "-m", "build", "--wheel", "--outdir", str(tmp / "dist"))
    session.run("python", "-c", _WHEEL_CHECK, str(tmp / "dist"))
    env = {"PIPX_HOME": str(tmp / "pipx"), "PIPX_BIN_DIR": str(tmp / "bin")}
    session.run("pipx", "install", "--force", ".", env=env)
    session.run(str(tmp / "bin" / "wsinspect"), "--version", external=True)


@nox.session
def demo(session: nox.Session) -> None:
    """The inspector with the built-in demo app and its simulated clients."""
    session.install("-e", ".[demo]")
    session.run("wsinspect", "demo")
