"""One text per error: the command line and the preview page say the same words."""

from __future__ import annotations

import shutil

import pytest

from refracture.data.example import example_path
from refracture.errors import ConfigError, DataValidationError, describe


def _bad_tscore(tmp_path):
    folder = tmp_path / "cohort"
    shutil.copytree(example_path(), folder)
    levels = folder / "levels.csv"
    rows = levels.read_text(encoding="utf-8").splitlines()
    header = rows[0].split(",")
    cells = rows[3].split(",")
    cells[header.index("tscore")] = "abc"
    rows[3] = ",".join(cells)
    levels.write_text("\n".join(rows) + "\n", encoding="utf-8")
    return folder


def test_the_command_line_prints_describe_word_for_word(cli, tmp_path) -> None:
    from refracture.data.validate import load_cohort

    data = _bad_tscore(tmp_path)
    with pytest.raises(DataValidationError) as caught:
        load_cohort(data)
    text = describe(caught.value)
    assert "levels.csv" in text
    assert "tscore" in text
    assert text.endswith("error: 1 problem found in the input data")
    r = cli("build", "--data", str(data), "--out", str(tmp_path / "out"), "--formats", "html")
    assert r.returncode == 1
    assert r.stderr.endswith(text + "\n")  # after the progress lines: exactly describe's text


def test_describe_of_other_errors() -> None:
    assert describe(ConfigError("refracture.yml: analysis.alpha: too big")) == (
        "error: refracture.yml: analysis.alpha: too big"
    )
    bug = describe(ZeroDivisionError("division by zero"))
    assert bug.startswith("internal error: ZeroDivisionError: division by zero\n")
    assert "REFRACTURE_DEBUG=1" in bug
