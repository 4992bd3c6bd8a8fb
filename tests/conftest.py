"""Shared fixtures: the example cohort, loaded and derived once per session."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from refracture.data.derive import DerivedData, derive
from refracture.data.example import example_path
from refracture.data.validate import Cohort, load_cohort

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = Path(__file__).resolve().parent / "fixtures"
SHARED_ABSTRACT = ROOT.parent / "shared" / "published-abstract.yaml"


# Variables of the user's shell that would change an outcome: the documents' date, the
# Quarto a build finds first, tracebacks instead of messages, the compiled-template cache
# shared with the user's own builds. Tests that need one set it themselves.
_SHELL_VARIABLES = ("SOURCE_DATE_EPOCH", "QUARTO_PATH", "REFRACTURE_DEBUG", "REFRACTURE_CACHE_DIR")


@pytest.fixture(scope="session", autouse=True)
def hermetic_environment(tmp_path_factory):
    """The suite runs in the same environment whatever the shell it is started from:
    the variables above are removed for the whole session (subprocesses inherit the
    cleaned environment) and the template cache lives in the session's tmp folder."""
    with pytest.MonkeyPatch.context() as mp:
        for name in _SHELL_VARIABLES:
            mp.delenv(name, raising=False)
        mp.setenv("REFRACTURE_CACHE_DIR", str(tmp_path_factory.mktemp("refracture-cache")))
        yield


@pytest.fixture(scope="session")
def published() -> dict:
    """The published abstract's figures (a copy of shared/published-abstract.yaml)."""
    return yaml.safe_load((FIXTURES / "published-abstract.yaml").read_text(encoding="utf-8"))


@pytest.fixture(scope="session")
def example_cohort() -> Cohort:
    return load_cohort(example_path())


@pytest.fixture(scope="session")
def example_data(example_cohort: Cohort) -> DerivedData:
    return derive(example_cohort.patients, example_cohort.levels)


@pytest.fixture(scope="session")
def example_results(example_data: DerivedData):
    """Every analysis of the example cohort (run once per test session)."""
    from refracture.analysis.results import run_analyses

    return run_analyses(example_data)


def _run_cli(
    *args: str, cwd: Path | None = None, timeout: float = 300, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess:
    """``python -m refracture ARGS``; ``env`` adds to the (hermetic) environment."""
    env = {**os.environ, **(env or {})}  # os.environ is cleaned by hermetic_environment
    return subprocess.run(
        [sys.executable, "-m", "refracture", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        env=env,
        timeout=timeout,
        check=False,
    )


@pytest.fixture(scope="session")
def cli():
    """Run ``python -m refracture ARGS`` in a subprocess, as a user would."""
    return _run_cli


@pytest.fixture(scope="session")
def example_build(tmp_path_factory, cli) -> Path:
    """One full build of the example (all formats, embedded engine), shared by the tests
    that read its outputs; it runs through the command line as a user would."""
    out = tmp_path_factory.mktemp("example") / "_manuscript"
    r = cli("build", "--out", str(out), "--engine", "embedded", timeout=600)
    assert r.returncode == 0, r.stderr
    return out


# Hypothesis explores new random cases on a developer's machine; CI (CI=true) replays a
# fixed, derandomized sequence so that a green run stays green for the same code.
from hypothesis import settings as _hypothesis_settings  # noqa: E402

_hypothesis_settings.register_profile("ci", derandomize=True, database=None)
if os.environ.get("CI"):
    _hypothesis_settings.load_profile("ci")
