"""The whole set of results: complete, serialisable, stable, documented."""

from __future__ import annotations

import json
import math

from refracture.analysis.result import TIDY_COLUMNS
from refracture.analysis.results import run_analyses
from refracture.analysis.schema_doc import results_schema_markdown
from tests.conftest import ROOT

EXPECTED = [
    "cohort",
    "table1",
    "table1_levels",
    "level_tscore",
    "thresholds",
    "roc",
    "univariable",
    "multivariable",
    "firth",
    "level_gee",
    "survival",
    "adjacent",
]


def test_every_analysis_is_present_in_paper_order(example_results) -> None:
    assert list(example_results.analyses) == EXPECTED
    for r in example_results.analyses.values():
        assert list(r.table.columns[: len(TIDY_COLUMNS)]) == list(TIDY_COLUMNS)


def test_json_is_strict_and_has_no_fake_numbers(example_results) -> None:
    text = example_results.to_json()
    payload = json.loads(text)  # parses: no NaN/Infinity tokens
    assert "NaN" not in text.replace("NaN where", "")
    assert "Infinity" not in text

    def walk(x):
        if isinstance(x, dict):
            for v in x.values():
                walk(v)
        elif isinstance(x, list):
            for v in x:
                walk(v)
        elif isinstance(x, float):
            assert math.isfinite(x)

    walk(payload)


def test_rerun_gives_identical_json(example_data, example_results) -> None:
    assert run_analyses(example_data).to_json() == example_results.to_json()


def test_first_significant_cutoff_feeds_the_dependent_analyses(example_results) -> None:
    first = example_results["thresholds"].meta["first_significant_cutoff"]
    assert first == -2.2
    assert example_results.meta["first_significant_cutoff"] == first
    assert example_results["survival"].meta["cutoff"] == "-2.2"
    gee = example_results["level_gee"].table
    assert set(gee["model"]) == {"continuous", "cutoff"}


def test_write_tables(example_results, tmp_path) -> None:
    written = example_results.write(tmp_path)
    assert (tmp_path / "results.json").exists()
    assert sorted(p.name for p in (tmp_path / "tables").iterdir()) == sorted(
        f"{n}.csv" for n in EXPECTED
    )
    assert len(written) == len(EXPECTED) + 1


def test_docs_results_md_is_current(example_results) -> None:
    on_disk = (ROOT / "docs" / "results.md").read_text(encoding="utf-8")
    assert on_disk == results_schema_markdown(example_results), (
        "docs/results.md is stale: run `python -m refracture.analysis.schema_doc > docs/results.md`"
    )


def test_headline_numbers(example_results) -> None:
    """Print the example cohort's headline numbers (pytest -s)."""
    r = example_results
    thr, roc, mv = r["thresholds"], r["roc"], r["multivariable"]
    lt = r["level_tscore"]
    print("\nExample cohort headline numbers")
    for term in ("fractured", "nonfractured"):
        row = lt.row(term)
        print(
            f"  {term} levels: mean T {row['estimate']:.3f} "
            f"({row['ci_low']:.3f} to {row['ci_high']:.3f}), n={row['n']}"
        )
    print(
        f"  first significant cutoff {thr.meta['first_significant_cutoff']} "
        f"(Fisher P {thr.meta['p_at_first_significant']:.4f}); OR peak at "
        f"{thr.meta['max_or_cutoff']}; {thr.meta['predictive_summary']}"
    )
    auc = roc.row("auc")
    print(f"  AUC {auc['estimate']:.3f} ({auc['ci_low']:.3f}-{auc['ci_high']:.3f})")
    for _, row in mv.table.iterrows():
        print(
            f"  multivariable {row['term']}: OR {row['estimate']:.3f} "
            f"({row['ci_low']:.3f}-{row['ci_high']:.3f}), P {row['p']:.4f}"
        )
    assert thr.meta["predictive_summary"] == "low PPV, high NPV"
