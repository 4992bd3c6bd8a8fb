"""The no-op fast path answers "up to date" only when truly nothing changed.

A project is built once through the command line (which remembers what its
stamp was made from); then each kind of change is made, the fast path must
step aside (None: the ordinary command line runs), and after the change is
undone it answers again.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from refracture.workflows.up_to_date import answer, remember

ARGV = ["build", "--engine", "embedded"]


@pytest.fixture(scope="module")
def project(tmp_path_factory, cli) -> Path:
    root = tmp_path_factory.mktemp("noop")
    assert cli("init", "paper", "--example", cwd=root).returncode == 0
    project = root / "paper"
    r = cli(*ARGV, cwd=project)
    assert r.returncode == 0, r.stderr
    return project


@pytest.fixture
def here(project, monkeypatch) -> Path:
    monkeypatch.chdir(project)
    return project


def test_a_repeated_build_is_answered_without_the_command_line(here, cli) -> None:
    message = answer(ARGV)
    assert message is not None
    assert "is up to date" in message
    r = cli(*ARGV, cwd=here)
    assert r.returncode == 0
    assert r.stdout.strip() == message
    assert r.stderr == ""  # no progress line: nothing was loaded or checked beyond the stamp


@pytest.mark.parametrize(
    "path",
    [
        "refracture.yml",
        "data/levels.csv",
        "templates/partials/discussion.md.j2",
        "references.bib",
    ],
)
def test_any_changed_byte_of_an_input_steps_aside(here, path) -> None:
    file = here / path
    original = file.read_bytes()
    assert answer(ARGV) is not None
    file.write_bytes(original + b"\n")
    try:
        assert answer(ARGV) is None
    finally:
        file.write_bytes(original)
    assert answer(ARGV) is not None


def test_a_new_data_file_or_template_steps_aside(here) -> None:
    for extra in (here / "data" / "more.csv", here / "templates" / "partials" / "new.md.j2"):
        extra.write_text("x\n", encoding="utf-8")
        try:
            assert answer(ARGV) is None, extra
        finally:
            extra.unlink()
    assert answer(ARGV) is not None


def test_other_arguments_an_environment_change_or_force_step_aside(here, monkeypatch) -> None:
    assert answer([*ARGV, "--formats", "html"]) is None
    assert answer([*ARGV, "--force"]) is None
    assert answer(["validate", "data"]) is None
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1700000000")
    assert answer(ARGV) is None
    monkeypatch.delenv("SOURCE_DATE_EPOCH")
    assert answer(ARGV) is not None


def test_a_changed_build_folder_steps_aside(here) -> None:
    html = here / "_manuscript" / "manuscript.html"
    html.rename(html.with_suffix(".bak"))
    try:
        assert answer(ARGV) is None
    finally:
        html.with_suffix(".bak").rename(html)
    assert answer(ARGV) is not None


def test_a_damaged_memory_steps_aside(here, tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("REFRACTURE_CACHE_DIR", str(tmp_path))
    assert answer(ARGV) is None  # nothing remembered in this cache
    remember(
        ARGV,
        out=here / "_manuscript",
        data=None,
        options={},
        authored=[],
        stamp="0" * 64,
        message="up to date",
    )
    assert answer(ARGV) is None  # remembered, but not this folder's stamp
    for entry in (tmp_path / "up-to-date").glob("*.json"):
        entry.write_text("{not json", encoding="utf-8")
    assert answer(ARGV) is None
