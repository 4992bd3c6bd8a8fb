"""How paths are shown in messages: relative to the working folder when inside it."""

from __future__ import annotations

from pathlib import Path

from refracture.common.paths import shown


def test_a_path_inside_the_working_folder_is_shown_relative(tmp_path, monkeypatch) -> None:
    (tmp_path / "data").mkdir()
    monkeypatch.chdir(tmp_path)
    assert shown(tmp_path / "data" / "levels.csv") == "data/levels.csv"
    assert shown(Path("data")) == "data"
    assert shown(tmp_path) == "."


def test_a_path_outside_it_is_shown_as_given(tmp_path, monkeypatch) -> None:
    (tmp_path / "work").mkdir()
    monkeypatch.chdir(tmp_path / "work")
    assert shown(tmp_path / "elsewhere" / "x.csv") == str(tmp_path / "elsewhere" / "x.csv")


def test_the_data_check_names_the_data_as_typed(tmp_path, monkeypatch, cli) -> None:
    """The report of invalid data (in the terminal and the preview's error panel) says
    ``data``, not the machine's full path to the project."""
    assert cli("init", "p", "--example", cwd=tmp_path).returncode == 0
    levels = tmp_path / "p" / "data" / "levels.csv"
    levels.write_text(levels.read_text(encoding="utf-8").replace(",-3.7,", ",-3.7x,", 1))
    r = cli("build", "--formats", "html", cwd=tmp_path / "p")
    assert r.returncode != 0
    assert "Input data check in data: 1 error" in r.stderr
    assert str(tmp_path) not in r.stderr
