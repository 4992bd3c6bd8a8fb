"""The number lint: clean on the shipped templates, and it catches what is planted."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from refracture.report.assets import templates_dir
from refracture.workflows.lint import (
    ALLOWED,
    Finding,
    find_hard_numbers,
    lint_templates,
    run_lint,
    template_context,
)


@pytest.fixture(scope="module")
def context(example_results, example_cohort) -> dict:
    """The example's template context, with the provenance record a build adds."""
    from refracture.analysis.results import Results
    from refracture.analysis.settings import AnalysisSettings
    from refracture.build.provenance import provenance
    from refracture.common.dates import DEFAULT_EPOCH

    record = provenance(example_cohort, AnalysisSettings(), {"python": "3"}, DEFAULT_EPOCH)
    meta = {**example_results.meta, "provenance": record}
    return template_context(Results(analyses=example_results.analyses, meta=meta))


@pytest.fixture
def templates(tmp_path) -> Path:
    """A copy of the shipped templates to plant mistakes in."""
    folder = tmp_path / "templates"
    shutil.copytree(templates_dir(), folder)
    return folder


def _plant(folder: Path, name: str, old: str, new: str) -> int:
    """Replace ``old`` by ``new`` in one template; the line number of the change."""
    path = folder / name
    text = path.read_text(encoding="utf-8")
    assert text.count(old) >= 1, old
    i = text.index(old)
    path.write_text(text[:i] + new + text[i + len(old) :], encoding="utf-8")
    return text.count("\n", 0, i) + 1


def _numbers(text: str) -> list[str]:
    return [n for _, n in find_hard_numbers(text)]


def test_the_shipped_templates_are_clean(context):
    findings = lint_templates(context=context)
    assert findings == [], "\n".join(map(str, findings))


def test_a_planted_hard_number_is_found(templates, context):
    line = _plant(
        templates,
        "partials/results.md.j2",
        "## Level-specific T-score\n",
        "## Level-specific T-score\n\nThe first significant cutoff was T ≤ −2.2 (P = 0.047).\n",
    )
    findings = lint_templates(templates, context=context)
    assert {(f.rule, Path(f.file).name, f.line) for f in findings} == {
        ("hard-number", "results.md.j2", line + 2)
    }
    found = sorted((f.column, f.text.split()[2]) for f in findings)
    source = (templates / "partials/results.md.j2").read_text(encoding="utf-8").splitlines()
    assert [n for _, n in found] == ["−2.2", "0.047"]
    for col, number in found:
        assert source[line + 1][col - 1 :].startswith(number)


def test_a_printed_string_literal_counts_as_prose(templates, context):
    _plant(templates, "partials/methods.md.j2", "# Materials and Methods", '{{ "93 patients" }}')
    (finding,) = lint_templates(templates, context=context)
    assert finding.rule == "hard-number"
    assert "93" in finding.text


def test_a_planted_unknown_name_is_found(templates, context):
    a = _plant(
        templates,
        "partials/results.md.j2",
        "{{ cohort.refracture.pct }}",
        "{{ cohort.refracture.pc }}",
    )
    b = _plant(templates, "partials/discussion.md.j2", "{{ cutoffs.first }}", "{{ cutof.first }}")
    # a loop variable's attribute, in a loop over a context list
    c = _plant(templates, "partials/key_points.md.j2", "else e.phrase }}", "else e.phrasee }}")
    # a name set by the includer, used in the included partial
    d = _plant(templates, "partials/table.md.j2", "entry.table.caption", "entry.table.title")
    e = _plant(templates, "partials/abstract.md.j2", "| upper_first", "| upper_frist")
    findings = lint_templates(templates, context=context)
    got = {(Path(f.file).name, f.line, f.text) for f in findings}
    assert got == {
        ("results.md.j2", a, "unknown context value cohort.refracture.pc"),
        ("discussion.md.j2", b, "unknown name cutof"),
        ("key_points.md.j2", c, "unknown context value e.phrasee"),
        ("table.md.j2", d, "unknown context value entry.table.title"),
        ("abstract.md.j2", e, "unknown filter upper_frist"),
    }
    assert {f.rule for f in findings} == {"unknown-context"}


def test_template_names_are_valid(tmp_path, context):
    (tmp_path / "doc.md.j2").write_text(
        "{% set x = cohort %}{{ x.patients }} {{ pagebreak }} {{ sections.abstract }}"
        " {{ word_counts.main }}\n"
        "{% for key, entry in tables.items() %}{{ key }} {{ entry.ref }}"
        "{% if loop.last %}.{% endif %}{% endfor %}\n"
        "{% macro m(a, b) %}{{ a.anything }}{{ b }}{% endmacro %}{{ m(1, 2) }}\n",
        encoding="utf-8",
    )
    assert lint_templates(tmp_path, context=context) == []
    (tmp_path / "doc.md.j2").write_text("{{ x }}{{ tables.patients.reff }}\n", encoding="utf-8")
    assert [f.text for f in lint_templates(tmp_path, context=context)] == [
        "unknown name x",
        "unknown context value tables.patients.reff",
    ]


@pytest.mark.parametrize(
    ("text", "numbers"),
    [
        ("P = 0.047 and 17.2% of 1,234", ["0.047", "17.2%", "1,234"]),
        ("T ≤ \u22122.2 or -2.2", ["\u22122.2", "-2.2"]),
        ("16 (17.2 %) patients", ["16", "17.2 %"]),
        ("Figure 2 shows it", ["2"]),
        ("the first of two levels; χ² test", []),
    ],
)
def test_numbers_are_found(text, numbers):
    assert _numbers(text) == numbers


@pytest.mark.parametrize(
    ("allowed", "near_miss"),
    [
        ("with a 95% CI and 95% CIs", "with a 93% CI"),
        ("defines osteoporosis at \u22122.5 and", "the cutoff at \u22122.5"),
        ("T12 and L1; L1–L4; T11–L2", "L6 and T13"),
        ("adding 0.5 to every cell", "adding 0.6 to every cell"),
        ("fewer than the 10 often recommended", "fewer than the 12 often recommended"),
        ("**Level of Evidence:** 4", "**Evidence:** 4"),
        ("The Woolf interval includes 1 although", "The interval includes 1.4"),
    ],
)
def test_the_allow_list_takes_the_number_with_its_words(allowed, near_miss):
    assert _numbers(allowed) == []
    assert _numbers(near_miss) != []


def test_the_allow_list_is_short_and_explained():
    assert len(ALLOWED) <= 10
    for pattern, reason in ALLOWED:
        assert pattern.pattern
        assert reason
        assert "\n" not in reason


def test_markup_is_not_prose(tmp_path, context):
    (tmp_path / "doc.qmd.j2").write_text(
        "---\n"
        'title: "Results of 2024"\n'
        "fontsize: 11pt\n"
        "crossref:\n"
        '  title-delim: "."\n'
        "---\n"
        "{## a comment with 12 ##}\n"
        "# Heading {#sec-2 .unnumbered width=50%}\n"
        "See @tbl-s1 and [@smith2020; @doe1999, p. 33] and ![x](../figures/fig3.png){#fig-3}.\n"
        'Code `x2 = 3` and <!-- 7 --> and <span data-n="8">text</span>.\n',
        encoding="utf-8",
    )
    findings = lint_templates(tmp_path, context=context)
    assert [(f.line, f.text.split()[2]) for f in findings] == [(2, "2024")]


def test_run_lint_prints_findings_and_returns_1(tmp_path, capsys, context, monkeypatch):
    import refracture.workflows.lint as lint

    monkeypatch.setattr(lint, "example_context", lambda: context)
    (tmp_path / "a.md.j2").write_text("Clean prose.\n", encoding="utf-8")
    assert run_lint(tmp_path) == 0
    assert capsys.readouterr().out == ""
    (tmp_path / "b.md.j2").write_text("Hard 42 here {{ nope }}\n", encoding="utf-8")
    assert run_lint(tmp_path) == 1
    out = capsys.readouterr().out.splitlines()
    assert len(out) == 2
    assert out[0].endswith(
        "b.md.j2:1:6: hard-number: hard-typed number 42 in “Hard 42 here {{ nope }}”"
    )
    assert out[1].endswith("b.md.j2:1:17: unknown-context: unknown name nope")


def test_finding_prints_as_file_line_column():
    f = Finding("t.md.j2", 3, 7, "unknown name x", "unknown-context")
    assert str(f) == "t.md.j2:3:7: unknown-context: unknown name x"


def test_a_documented_value_these_data_lack_is_no_error_but_a_typo_is(templates, context):
    """A reanalysis (e.g. one procedure only) may leave documented values out of the
    context; the authors' copy of the shipped text uses them only where they exist."""
    from refracture.report.context_names import NAMES

    assert "cutoffs.plateau" in NAMES
    lacking = {
        **context,
        "cutoffs": {k: v for k, v in context["cutoffs"].items() if k != "plateau"},
    }
    assert "plateau" not in lacking["cutoffs"]
    _plant(
        templates,
        "partials/discussion.md.j2",
        "{{ cutoffs.first }}",
        "{{ cutoffs.first }}{% if cutoffs.plateau %} (a plateau){% endif %}",
    )
    assert lint_templates(templates, context=lacking) == []
    _plant(templates, "partials/discussion.md.j2", "cutoffs.plateau", "cutoffs.plateu")
    (finding,) = lint_templates(templates, context=lacking)
    assert finding.text == "unknown context value cutoffs.plateu"
