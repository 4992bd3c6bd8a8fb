"""The results diff: every kind of change is found and flagged, and nothing else is."""

from __future__ import annotations

import copy
import csv
import json
import shutil
from pathlib import Path

import pytest

from refracture.errors import DataError
from refracture.report.changes import (
    CUTOFF_CHANGE,
    DIRECTION_CHANGE,
    N_CHANGE,
    SIGNIFICANCE_FLIP,
    Diff,
    diff_results,
    format_diff,
    load_results,
    to_markdown,
)
from refracture.report.render import md_escape

CUTOFF = "T \u2264 \u22122.2"


@pytest.fixture(scope="module")
def doc(example_results) -> dict:
    """The example's results.json, as a build writes it."""
    return json.loads(example_results.to_json())


def _row(doc: dict, analysis: str, term: str, **match: str) -> dict:
    rows = [
        r
        for r in doc["analyses"][analysis]["table"]
        if r["term"] == term and all(r.get(k) == v for k, v in match.items())
    ]
    assert len(rows) == 1
    return rows[0]


def _only_where(diff: Diff, analysis: str, column: str, row: str | None = None):
    hits = [
        c
        for c in diff.changes
        if (c.analysis, c.column) == (analysis, column) and row in (None, c.row)
    ]
    assert len(hits) == 1
    return hits[0]


def _only(diff: Diff):
    assert len(diff.changes) == 1, format_diff(diff)
    return diff.changes[0]


def test_identical_results_give_an_empty_diff(doc):
    diff = diff_results(doc, copy.deepcopy(doc))
    assert not diff
    assert diff.by_analysis() == {}
    assert "No result changed" in format_diff(diff)
    assert "|" not in to_markdown(diff)


def test_float_noise_is_ignored(doc):
    new = copy.deepcopy(doc)
    _row(new, "roc", "auc")["estimate"] *= 1 + 1e-14
    new["analyses"]["multivariable"]["meta"]["c_statistic"] *= 1 - 1e-14
    assert not diff_results(doc, new)


def test_a_changed_number_is_reported_with_its_relative_change(doc):
    new = copy.deepcopy(doc)
    auc = _row(new, "roc", "auc")
    old_value = auc["ci_high"]
    auc["ci_high"] = old_value * 1.1
    c = _only(diff_results(doc, new))
    assert (c.analysis, c.row, c.column, c.kind) == ("roc", "auc", "ci_high", "changed")
    assert c.old == old_value
    assert c.relative == pytest.approx(0.1)
    assert c.flags == ()
    assert "auc: ci_high:" in format_diff(diff_results(doc, new))


def test_a_p_value_crossing_alpha_is_a_significance_flip(doc):
    new = copy.deepcopy(doc)
    p = _row(doc, "thresholds", CUTOFF)["p"]
    assert p < 0.05
    _row(new, "thresholds", CUTOFF)["p"] = 0.062
    c = _only(diff_results(doc, new))
    assert c.flags == (SIGNIFICANCE_FLIP,)
    text = format_diff(diff_results(doc, new))
    assert f"[significance flip] {CUTOFF}: p: 0.047 → 0.062" in text
    assert repr(p) in text  # the raw value at full precision
    # staying on the same side of alpha is a change, not a flip
    _row(new, "thresholds", CUTOFF)["p"] = 0.03
    assert _only(diff_results(doc, new)).flags == ()
    # alpha can be given: at 0.01 neither value is significant
    _row(new, "thresholds", CUTOFF)["p"] = 0.062
    assert _only(diff_results(doc, new, alpha=0.01)).flags == ()


def test_a_ratio_crossing_one_or_a_sign_change_is_a_direction_change(doc):
    new = copy.deepcopy(doc)
    age = _row(new, "multivariable", "age")
    assert age["estimate"] > 1
    age["estimate"] = 0.93
    c = _only(diff_results(doc, new))
    assert (c.row, c.column, c.flags) == ("age", "estimate", (DIRECTION_CHANGE,))
    age["estimate"] = 1.5  # larger, same direction
    assert _only(diff_results(doc, new)).flags == ()

    new = copy.deepcopy(doc)
    diff_row = _row(new, "level_tscore", "difference")
    diff_row["estimate"] = -diff_row["estimate"]
    assert _only(diff_results(doc, new)).flags == (DIRECTION_CHANGE,)


def test_repeated_terms_are_told_apart_by_their_model(doc):
    new = copy.deepcopy(doc)
    _row(new, "level_gee", "adjacent", model="cutoff")["coef"] *= -1
    c = _only(diff_results(doc, new))
    assert c.row == "adjacent [model=cutoff]"
    assert c.flags == (DIRECTION_CHANGE,)


def test_n_changes_are_flagged(doc):
    new = copy.deepcopy(doc)
    _row(new, "thresholds", CUTOFF)["a"] -= 1
    _row(new, "cohort", "refracture")["estimate"] += 1
    new["analyses"]["multivariable"]["meta"]["events"] += 1
    new["analyses"]["survival"]["meta"]["group_n"]["le"] += 1
    diff = diff_results(doc, new)
    assert len(diff.changes) == 4
    assert all(c.flags == (N_CHANGE,) for c in diff.changes)
    assert {c.column for c in diff.changes} == {"a", "estimate", "events", "group_n.le"}
    # a mean is not a count
    new = copy.deepcopy(doc)
    _row(new, "cohort", "age")["estimate"] += 1
    assert _only(diff_results(doc, new)).flags == ()


def test_first_significant_cutoff_change_is_flagged(doc):
    new = copy.deepcopy(doc)
    new["meta"]["first_significant_cutoff"] = -2.3
    c = _only(diff_results(doc, new))
    assert (c.analysis, c.column, c.flags) == ("", "first_significant_cutoff", (CUTOFF_CHANGE,))
    new["meta"]["first_significant_cutoff"] = None  # no cutoff significant any more
    assert _only(diff_results(doc, new)).new is None


def test_rows_added_and_removed(doc):
    new = copy.deepcopy(doc)
    table = new["analyses"]["thresholds"]["table"]
    removed = table.pop()
    table.append({**table[0], "term": "T \u2264 \u22123.6", "cutoff": -3.6})
    diff = diff_results(doc, new)
    kinds = {(c.kind, c.row) for c in diff.changes}
    assert kinds == {("row removed", removed["term"]), ("row added", "T \u2264 \u22123.6")}
    text = format_diff(diff)
    assert f"row removed: {removed['term']}" in text
    assert "row added: T ≤ −3.6" in text


def test_flags_come_first_and_everything_is_grouped_by_analysis(doc):
    new = copy.deepcopy(doc)
    r = _row(new, "thresholds", CUTOFF)
    r["ci_high"] += 1
    r["p"] = 0.2
    _row(new, "roc", "auc")["se"] *= 2
    text = format_diff(diff_results(doc, new))
    block = text[text.index("T-score cutoffs") : text.index("ROC curve")]
    assert block.index("[significance flip]") < block.index("ci_high")


def test_markdown_is_one_escaped_table_per_analysis(doc):
    new = copy.deepcopy(doc)
    _row(new, "thresholds", CUTOFF)["p"] = 0.0004
    _row(new, "multivariable", "age")["estimate"] = 0.5
    hostile = _row(new, "cohort", "patients")
    hostile["term"] = "<b>|x|</b>"
    md = to_markdown(diff_results(doc, new))
    assert md.startswith("# Changes since the previous version {.unnumbered}\n")
    assert md.count("|---|---|---|---|---|---|") == 3
    assert "\\< 0.001" in md  # P < 0.001, escaped
    assert md_escape("<b>|x|</b>") in md
    for line in md.splitlines():
        if line.startswith("| "):  # the escaped pipes do not add cells
            assert line.replace("\\|", "").count("|") == 7


def test_load_results_from_a_file_or_a_build_folder(doc, tmp_path):
    (tmp_path / "results.json").write_text(json.dumps(doc), encoding="utf-8")
    assert load_results(tmp_path) == doc
    assert load_results(tmp_path / "results.json") == doc
    with pytest.raises(DataError, match=r"no results\.json"):
        load_results(tmp_path / "nowhere")
    (tmp_path / "bad.json").write_text("{}", encoding="utf-8")
    with pytest.raises(DataError, match=r"not a refracture results\.json"):
        load_results(tmp_path / "bad.json")


def test_one_edited_t_score_in_the_example_cohort_shows_in_the_diff(doc, tmp_path):
    """A real rerun: one fractured level's T-score moves from −1.4 to −2.0."""
    from refracture.analysis.results import run_analyses
    from refracture.data.derive import derive
    from refracture.data.example import example_path
    from refracture.data.validate import load_cohort

    data = tmp_path / "cohort"
    shutil.copytree(example_path(), data)
    path = data / "levels.csv"
    with path.open(newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    hit = [r for r in rows if r["patient_id"] == "P0001" and r["level"] == "L4"]
    assert len(hit) == 1
    assert (hit[0]["treated"], hit[0]["tscore"], hit[0]["subsequent_fracture"]) == (
        "no",
        "-1.4",
        "yes",
    )
    hit[0]["tscore"] = "-2.0"
    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]), lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)

    cohort = load_cohort(data)
    new = json.loads(run_analyses(derive(cohort.patients, cohort.levels)).to_json())
    diff = diff_results(doc, new)
    text = format_diff(diff)
    print(text)  # pytest -s shows the report

    # the level now counts as at or below every cutoff from −1.5 to −2.0: a fractured
    # level moves from cell c (above) to cell a (at or below), an N change each time
    for cutoff in ("1.5", "1.6", "1.7", "1.8", "1.9", "2.0"):
        term = f"T \u2264 \u2212{cutoff}"
        cells = {c.column: c for c in diff.changes if c.analysis == "thresholds" and c.row == term}
        assert cells["a"].new == cells["a"].old + 1
        assert cells["c"].new == cells["c"].old - 1
        assert N_CHANGE in cells["a"].flags
        assert f"[N change] {term}: a:" in text
    # here the moved level is enough to make a higher cutoff the first significant one
    first = _only_where(diff, "", "first_significant_cutoff")
    assert (first.old, first.new, first.flags) == (-2.2, -1.8, (CUTOFF_CHANGE,))
    flip = _only_where(diff, "thresholds", "p", "T \u2264 \u22121.8")
    assert flip.flags == (SIGNIFICANCE_FLIP,)
    assert flip.old >= 0.05 > flip.new
    # lower cutoffs are untouched
    assert not [c for c in diff.changes if c.analysis == "thresholds" and c.row.endswith("3.0")]
    # the mean T-score of fractured levels fell
    mean = next(
        c
        for c in diff.changes
        if (c.analysis, c.row, c.column) == ("level_tscore", "fractured", "estimate")
    )
    assert mean.new < mean.old
    # nothing that did not depend on the T-score moved: no N change among patients
    assert not [c for c in diff.changes if c.analysis == "cohort"]
    assert "Level-specific T-scores [level_tscore]" in text
    assert Path(path).read_text(encoding="utf-8").count("\n") == len(rows) + 1
