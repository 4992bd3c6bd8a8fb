"""Templates → .qmd: strict context, inert data text, golden snapshots of the example.

The golden files are ``tests/report/golden/manuscript.qmd`` and
``supplementary.qmd``: the example cohort's generated sources with the software
versions fixed, readable in the repository. Regenerate them after an intended change with
``REFRACTURE_UPDATE_GOLDEN=1 python -m pytest tests/report/test_render.py``.
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
from pathlib import Path

import pytest
import yaml
from jinja2 import UndefinedError

from refracture.report.context import Author, ManuscriptMeta, build_context
from refracture.report.render import md_escape, render_documents, template_environment, word_count
from refracture.report.sources import ANALYSIS_PACKAGES

ROOT = Path(__file__).resolve().parents[2]
GOLDEN = Path(__file__).resolve().parent / "golden"
# Versions are fixed here so the snapshot does not change with the installed libraries.
SOFTWARE = {k: "0.0" for k in ("python", "refracture", *ANALYSIS_PACKAGES)} | {
    "renderer": "the embedded engine (pandoc 0.0, typst 0.0)"
}

HOSTILE = [
    "{{< pagebreak >}}",
    "{{ 7*7 }}",
    "<script>alert(1)</script>",
    "#import",
    "@fig-x",
    "$x$",
    "| |",
    "*a*",
]


# A provenance record as the pipeline writes it, fixed for the snapshot.
PROVENANCE = {
    "inputs": [
        {"table": "patients", "file": "patients.csv", "rows": 93, "sha256": "0" * 64},
        {"table": "levels", "file": "levels.csv", "rows": 258, "sha256": "1" * 64},
    ],
    "settings": {"alpha": 0.05, "cutoffs": ["-1.5", "-1.6"], "seed": 20011101},
    "software": SOFTWARE,
    "git_commit": None,
    "build_date": "2026-11-25T00:00:00Z",
}


@pytest.fixture(scope="module")
def documents(example_results) -> dict[str, str]:
    from refracture.analysis.results import Results

    with_provenance = Results(
        analyses=example_results.analyses,
        meta={**example_results.meta, "provenance": PROVENANCE},
    )
    return render_documents(build_context(with_provenance, software=SOFTWARE))


@pytest.mark.parametrize("name", ["manuscript", "supplementary"])
def test_golden_snapshot(documents: dict[str, str], name: str) -> None:
    path = GOLDEN / f"{name}.qmd"
    if os.environ.get("REFRACTURE_UPDATE_GOLDEN"):
        path.write_text(documents[name], encoding="utf-8")
    assert path.read_text(encoding="utf-8") == documents[name], (
        f"{path} is stale: regenerate with REFRACTURE_UPDATE_GOLDEN=1 and review the diff"
    )


def test_headline_numbers_reach_the_text(documents: dict[str, str], published) -> None:
    text = documents["manuscript"]
    # the published abstract's figures, formatted as the journal prints them
    for snippet in [
        "93 patients",
        "58 vertebroplasty",
        "35 kyphoplasty",
        "16 patients (17.2%)",
        "7 (43.8%)",
        "76.8 (47–99) years",
        "25.1 (12–96) months",
        "20.5 (2–90) months",
        "T ≤ −2.2 was the first significant cutoff (P = 0.047)",
        "down to −2.6",
        "(P = 0.017)",
        "positive predictive value was low",
        "negative predictive value high",
    ]:
        assert snippet in text, snippet
    assert "nan" not in re.findall(r"\b[a-z]+\b", text.lower())
    assert "None" not in text


def test_every_cross_reference_has_a_target(documents: dict[str, str]) -> None:
    for doc in documents.values():
        labels = set(re.findall(r"\{#((?:fig|tbl)-[\w-]+)", doc))
        refs = set(re.findall(r"@((?:fig|tbl)-[\w-]+)", doc))
        assert refs, "no cross-reference at all"
        assert refs <= labels, refs - labels


def test_every_citation_is_in_the_bibliography(documents: dict[str, str]) -> None:
    bib = (ROOT / "templates" / "assets" / "references.bib").read_text(encoding="utf-8")
    keys = set(re.findall(r"@\w+\{(\w+),", bib))
    # a citation is @key not escaped (\@) and not a cross-reference (@fig-x, @tbl-x)
    cited = set(re.findall(r"(?<!\\)@(\w+)(?![\w-])", documents["manuscript"]))
    assert len(cited) > 10
    assert cited <= keys, cited - keys


def test_supplementary_numbers_match_the_names_the_manuscript_uses(
    example_results, documents: dict[str, str]
) -> None:
    ctx = build_context(example_results, software=SOFTWARE)
    order = re.findall(r"\{#tbl-s-([\w-]+)\}", documents["supplementary"])
    for number, label in enumerate(order, start=1):
        assert ctx["supplementary_tables"][label]["name"] == f"Supplementary Table {number}"


@pytest.mark.parametrize("hostile", HOSTILE)
def test_data_text_is_escaped(example_results, hostile: str) -> None:
    meta = ManuscriptMeta(
        title=f"Title {hostile}",
        authors=(Author(f"Name {hostile}", (f"Aff {hostile}",), corresponding=True),),
        keywords=(hostile,),
    )
    docs = render_documents(build_context(example_results, meta, software=SOFTWARE))
    baseline = render_documents(build_context(example_results, software=SOFTWARE))
    front = yaml.safe_load(docs["manuscript"].split("---\n")[1])
    # pandoc reads metadata as Markdown: each value is the escaped, inert form
    assert front["title"] == f"Title {md_escape(hostile)}"
    assert front["author"][0]["name"] == f"Name {md_escape(hostile)}"
    assert front["keywords"] == [md_escape(hostile)]
    # the raw string occurs only where the templates themselves put it (page breaks)
    in_yaml = json.dumps(md_escape(hostile), ensure_ascii=False)[1:-1]
    for name in ("manuscript", "supplementary"):
        rest = docs[name].replace(in_yaml, "").replace(md_escape(hostile), "")
        assert rest.count(hostile) == baseline[name].count(hostile)


def test_md_escape_is_inert_for_markdown_syntax() -> None:
    # a shortcode from data is broken by an invisible word joiner: never a page break
    assert md_escape("{{< pagebreak >}}") == "\\{\\{\u2060\\< pagebreak \\>\u2060\\}\\}"
    assert md_escape("- item") == r"\- item"
    assert md_escape("1. item") == r"1\. item"
    assert md_escape("25.1 (12–96)") == "25.1 (12–96)"  # numbers stay readable
    assert md_escape("a\nb") == "a b"


def test_templates_refuse_raw_numbers_and_undefined_names() -> None:
    env = template_environment()
    with pytest.raises(TypeError, match="formatted strings only"):
        env.from_string("{{ x }}").render(x=0.047)
    with pytest.raises(TypeError):
        env.from_string("{{ x }}").render(x=None)
    with pytest.raises(UndefinedError):
        env.from_string("{{ missing }}").render()


def test_word_count_counts_prose_not_markup() -> None:
    assert word_count("# Heading\n\nOne two three [@key; @other].") == 3
    assert word_count("See @tbl-x and **bold** words.") == 6  # "Table 1" counts as two
    assert word_count("::: {.note}\nP = 0.047\n:::") == 2  # "P" and "0.047"


def test_findings_reverse_with_the_results(example_results) -> None:
    """No significant cutoff and no independent predictor: the prose says so."""
    from refracture.analysis.result import Result
    from refracture.analysis.results import Results

    thr = example_results["thresholds"]
    table = thr.table.assign(p=0.5, p_holm=1.0)
    meta = {**thr.meta, "first_significant_cutoff": None}
    multi = example_results["multivariable"]
    analyses = {
        **example_results.analyses,
        "thresholds": Result(thr.name, table, thr.notes, meta),
        "multivariable": dataclasses.replace(multi, table=multi.table.assign(p=0.6)),
    }
    changed = Results(analyses=analyses, meta={**example_results.meta})
    text = render_documents(build_context(changed, software=SOFTWARE))["manuscript"]
    assert "No cutoff was associated with a subsequent fracture" in text
    assert "did not identify the vertebrae" in text
    assert "No covariate was independently associated" in text
    assert "first significant cutoff (P" not in text


def test_compiled_template_cache_changes_nothing(documents, example_results, monkeypatch, tmp_path):
    """Documents rendered with a fresh, a warm and an unusable template cache are identical."""
    from refracture.analysis.results import Results

    with_provenance = Results(
        analyses=example_results.analyses,
        meta={**example_results.meta, "provenance": PROVENANCE},
    )
    ctx = build_context(with_provenance, software=SOFTWARE)
    cache = tmp_path / "cache"
    monkeypatch.setenv("REFRACTURE_CACHE_DIR", str(cache))
    assert render_documents(ctx) == documents  # fresh: compiled and stored
    stored = list(cache.glob("templates-*/*"))
    assert stored, "compiled templates were not stored"
    assert render_documents(ctx) == documents  # warm: loaded from the cache
    for f in stored:  # a damaged cache entry is compiled again, not trusted
        f.write_bytes(b"garbage")
    assert render_documents(ctx) == documents
    blocked = tmp_path / "file"
    blocked.write_text("not a folder")
    monkeypatch.setenv("REFRACTURE_CACHE_DIR", str(blocked / "cache"))
    assert render_documents(ctx) == documents  # no cache folder possible: compiled each time
