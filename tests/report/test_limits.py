"""Checks against a journal's profile: each a pass, or a finding with its number."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from refracture.report.journal import FOLDER, load_journal
from refracture.report.limits import Facts, FigureFacts, findings, run_checks

ABSTRACT = """**Study Design.**
Text.

**Objective.**
Text.

**Conclusion.**
Text.
"""

FACTS = Facts(
    abstract_words=240,
    main_words=2900,
    abstract=ABSTRACT,
    tables=4,
    figures=2,
    references=26,
    figure_files=(
        FigureFacts(
            1, "figure-1.tif", "tiff", "single", 85.0, 70.0, 600.0, (2008, 1654), "rgb", "tiff_lzw"
        ),
        FigureFacts(
            2,
            "figure-2.tif",
            "tiff",
            "double",
            174.0,
            121.0,
            600.0,
            (4110, 2858),
            "rgb",
            "tiff_lzw",
        ),
    ),
    corresponding_email="a@example.org",
    keywords=5,
    running_title="Short",
    level_of_evidence=True,
    reference_style="refracture-numeric.csl",
)


@pytest.fixture
def profile(tmp_path: Path):
    def make(text: str):
        folder = tmp_path / FOLDER
        folder.mkdir(exist_ok=True)
        (folder / "j.yml").write_text("name: J\n" + text, encoding="utf-8")
        return load_journal("j", tmp_path)

    return make


def test_the_example_facts_pass_the_generic_profile() -> None:
    checks = run_checks(load_journal("generic"), FACTS)
    assert findings(checks, None) == []
    assert next(c for c in checks if c.what == "Tables").limit == "no limit in the profile"


@pytest.mark.parametrize(
    ("limit", "expected"),
    [
        ("max_tables: 3", "Tables: 4 tables, 1 over the limit of 3"),
        ("max_figures: 1", "Figures: 2 figures, 1 over the limit of 1"),
        ("max_references: 25", "References: 26 references, 1 over the limit of 25"),
        ("max_main_text_words: 2700", "Main text: 2900 words, 200 over the limit of 2700"),
        ("abstract:\n  max_words: 200", "Abstract: 240 words, 40 over the limit of 200"),
    ],
)
def test_a_limit_exceeded_is_exactly_one_finding(profile, limit, expected) -> None:
    checks = run_checks(profile(limit), FACTS)
    assert findings(checks, None) == [expected]


def test_a_limit_met_exactly_passes(profile) -> None:
    checks = run_checks(profile("max_tables: 4\nmax_references: 26"), FACTS)
    assert findings(checks, None) == []


def test_the_abstract_headings_in_order(profile) -> None:
    ok = profile("abstract:\n  structure: [Study Design, Objective, Conclusion]")
    assert findings(run_checks(ok, FACTS), None) == []
    wrong = profile("abstract:\n  structure: [Objective, Study Design, Conclusions]")
    assert findings(run_checks(wrong, FACTS), None) == [
        "Abstract headings: missing or out of order: Study Design, Conclusions"
    ]


def test_figures_are_checked_for_resolution_width_format_and_colour(profile) -> None:
    strict = profile("figures:\n  dpi: 1200\n  single_column_mm: 80\n  colour: cmyk")
    found = findings(run_checks(strict, FACTS), None)
    assert found[0] == (
        "figure-1.tif: 600 dpi, 600 below the minimum of 1200; 85.0 mm wide, not 80 mm; "
        "RGB, not CMYK"
    )
    assert found[1] == "figure-2.tif: 600 dpi, 600 below the minimum of 1200; RGB, not CMYK"
    vector = profile("figures:\n  format: eps")
    assert findings(run_checks(vector, FACTS), None) == [
        "figure-1.tif: TIFF (LZW), not EPS",
        "figure-2.tif: TIFF (LZW), not EPS",
    ]


def test_missing_title_page_items_are_findings() -> None:
    bare = dataclasses.replace(FACTS, corresponding_email="", keywords=0, running_title="")
    found = findings(run_checks(load_journal("generic"), bare), None)
    assert [f.split(":")[0] for f in found] == ["title page"] * 3
    assert "e-mail" in found[0]
    assert "keywords" in found[1]
    assert "running title" in found[2]


def test_the_level_of_evidence_is_checked_where_the_journal_asks() -> None:
    unstated = dataclasses.replace(FACTS, level_of_evidence=False)
    assert findings(run_checks(load_journal("generic"), unstated), None) == []
    assert findings(run_checks(load_journal("spine"), unstated), None) == [
        "the manuscript states no level of evidence"
    ]


def test_synthetic_data_and_the_article_style_are_findings() -> None:
    odd = dataclasses.replace(FACTS, synthetic=True, style="article")
    found = findings(run_checks(load_journal("generic"), odd), None)
    assert len(found) == 2
    assert "article style" in found[0]
    assert "simulated" in found[1]
