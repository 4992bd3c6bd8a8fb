"""The configuration file, --set overrides, variants, the provenance hash and cohort filters."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

import pandas as pd
import pytest

from refracture.analysis.settings import COVARIATE_LABELS, AnalysisSettings
from refracture.build.cohort_filters import apply_cohort_filters
from refracture.build.config import (
    MAX_CUTOFFS,
    CohortSection,
    Config,
    ConfigProblems,
    config_hash,
    load_config,
)
from refracture.data.validate import Cohort
from refracture.errors import ConfigError
from refracture.report.context import ManuscriptMeta

ROOT = Path(__file__).resolve().parents[2]
SHIPPED = ROOT / "refracture.yml"


def _write(tmp_path: Path, text: str, name: str = "refracture.yml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def _error(*args, **kwargs) -> str:
    with pytest.raises(ConfigError) as info:
        load_config(*args, **kwargs)
    return str(info.value)


# --- defaults and the shipped file ---------------------------------------------------------


def test_defaults_are_the_papers() -> None:
    for config in (Config(), load_config(None)):
        assert config.analysis_settings() == AnalysisSettings()
        assert config.manuscript_meta() == ManuscriptMeta()
        assert config.variants == {}
        assert config.data.path is None
        assert config.output.formats == ("html", "pdf", "docx")
        assert (config.output.style, config.output.engine) == ("submission", "auto")


def test_shipped_file_is_the_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)  # the default build folder is relative to the working directory
    shipped = load_config(SHIPPED)
    assert set(shipped.variants) == {"exclude_steroids", "kyphoplasty_only"}
    assert shipped.model_copy(update={"variants": {}}) == load_config(None)
    assert shipped.analysis_settings() == AnalysisSettings()
    assert shipped.manuscript_meta() == ManuscriptMeta()
    assert shipped.output.out == ROOT / "_manuscript"
    steroids = shipped.variant("exclude_steroids")
    assert steroids.cohort.exclusions.exclude_steroids is True
    assert steroids.model_copy(update={"cohort": CohortSection()}) == load_config(None)
    kp = shipped.variant("kyphoplasty_only")
    assert kp.cohort.filters.procedure == "KP"
    assert kp.cohort.exclusions.exclude_steroids is False
    assert kp.variants == {}


def test_shipped_file_shows_every_key() -> None:
    text = SHIPPED.read_text(encoding="utf-8")
    defaults = load_config(None).resolved()

    def keys(d: dict, prefix: str = "") -> list[str]:
        out = []
        for k, v in d.items():
            out.append(k)
            if isinstance(v, dict) and v:
                out += keys(v, f"{prefix}{k}.")
        return out

    for key in keys({k: v for k, v in defaults.items() if k != "variants"}):
        assert f"{key}:" in text, key


# --- overrides -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("override", "check"),
    [
        ("analysis.alpha=0.01", lambda c: c.analysis.alpha == 0.01),
        (
            "analysis.model.covariates=[age,bmi]",
            lambda c: c.analysis_settings().model_covariates == ("age", "bmi"),
        ),
        ("output.formats=[pdf,html]", lambda c: c.output.formats == ("html", "pdf")),
        ("output.style=article", lambda c: c.output.style == "article"),
        ("analysis.cutoffs.high=-2", lambda c: c.analysis_settings().cutoffs[0] == Decimal(-2)),
        ("analysis.seed=7", lambda c: c.analysis_settings().seed == 7),
        ("cohort.filters.procedure=KP", lambda c: c.cohort.filters.procedure == "KP"),
        (
            "cohort.exclusions.min_followup_months=12",
            lambda c: c.cohort.exclusions.min_followup_months == 12,
        ),
        ("manuscript.date=2027-01-02", lambda c: c.manuscript_meta().date == "2027-01-02"),
        ("manuscript.synthetic=false", lambda c: c.manuscript_meta().synthetic is False),
        (
            "manuscript.authors=[{name: A B, affiliations: [X], corresponding: true}]",
            lambda c: [a.name for a in c.manuscript_meta().authors] == ["A B"],
        ),
        (
            "analysis.cutoffs={high: -2, low: -3, step: 0.5}",
            lambda c: c.analysis.cutoffs.grid() == (Decimal(-2), Decimal("-2.5"), Decimal(-3)),
        ),
        (
            "variants.strict.analysis.alpha=0.01",
            lambda c: c.variant("strict").analysis.alpha == 0.01 and c.analysis.alpha == 0.05,
        ),
    ],
)
def test_override_forms(override: str, check) -> None:
    assert check(load_config(None, [override]))


def test_override_beats_the_file_and_later_beats_earlier(tmp_path: Path) -> None:
    path = _write(tmp_path, "analysis:\n  alpha: 0.1\n  seed: 3\n")
    config = load_config(path, ["analysis.alpha=0.2", "analysis.alpha=0.01"])
    assert config.analysis.alpha == 0.01
    assert config.analysis.seed == 3


def test_unknown_override_key_names_the_key_and_the_valid_keys() -> None:
    message = _error(None, ["analysis.alpah=0.01"])
    assert "--set analysis.alpah" in message
    assert "'alpah'" in message
    assert "alpha, cutoffs, model, candidate_covariates, bootstrap_replicates, seed" in message
    top = _error(None, ["analyses.alpha=0.01"])
    assert "'analyses'" in top
    assert "data, manuscript, analysis, cohort, output, variants" in top
    assert "has no keys" in _error(None, ["analysis.alpha.x=1"])
    assert "key=value" in _error(None, ["analysis.alpha"])


# --- errors --------------------------------------------------------------------------------


def test_missing_or_unreadable_file(tmp_path: Path) -> None:
    missing = tmp_path / "nope.yml"
    assert str(missing) in _error(missing)
    assert "not found" in _error(missing)
    bad = _write(tmp_path, "analysis: [\n", "bad.yml")
    assert "bad.yml: line 2" in _error(bad)
    dup = _write(tmp_path, "analysis:\n  alpha: 0.1\n  alpha: 0.2\n", "dup.yml")
    assert "duplicate key 'alpha'" in _error(dup)
    assert "must be a mapping" in _error(_write(tmp_path, "- a\n", "list.yml"))
    assert load_config(_write(tmp_path, "", "empty.yml")) == load_config(None)


def test_every_problem_in_one_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    _write(
        tmp_path,
        """
analysis:
  alpha: 0.7
  bootstrap_replicates: -1
  seed: 1.5
  cutoffs: {high: -3, low: -1, step: 0.1}
  model:
    covariates: [age, weight]
output:
  formats: [html, odt]
  style: fancy
  engine: quarto
cohort:
  filters: {procedure: XX}
  exclusions: {exclude_steroids: maybe}
manuscript:
  titel: A paper
""",
    )
    with pytest.raises(ConfigProblems) as info:
        load_config(Path("refracture.yml"), ["output.engine=fast"])
    problems = info.value.problems
    message = str(info.value)
    assert message.startswith(f"{len(problems)} problems in the configuration:")
    assert all(line in message for line in problems)
    expected = [
        "refracture.yml: analysis.alpha: must be between 0 and 0.5 (got 0.7)",
        "refracture.yml: analysis.bootstrap_replicates: must be at least 0 (got -1)",
        "refracture.yml: analysis.seed: must be a whole number (got 1.5)",
        "refracture.yml: analysis.cutoffs: high (-3) must be above low (-1)",
        "refracture.yml: analysis.model.covariates[1]: must be one of "
        + ", ".join(COVARIATE_LABELS)
        + " (got 'weight')",
        "refracture.yml: output.formats[1]: must be one of 'html', 'pdf' or 'docx' (got 'odt')",
        "refracture.yml: output.style: must be one of 'submission' or 'article' (got 'fancy')",
        "--set output.engine: must be one of 'auto', 'quarto' or 'embedded' (got 'fast')",
        "refracture.yml: cohort.filters.procedure: must be one of 'VP' or 'KP' (got 'XX')",
        "refracture.yml: cohort.exclusions.exclude_steroids: must be true or false (got 'maybe')",
        "refracture.yml: manuscript.titel: unknown key (valid keys in manuscript: title, "
        "running_title, authors",
    ]
    for line in expected:
        assert any(p.startswith(line) for p in problems), (line, problems)
    assert len(problems) == len(expected)


def test_cutoff_grid_limits() -> None:
    assert "step: must be above 0" in _error(None, ["analysis.cutoffs.step=0"])
    assert "decimal number" in _error(None, ["analysis.cutoffs.low=abc"])
    assert "decimal number" in _error(None, ["analysis.cutoffs.low=.nan"])
    too_many = _error(None, ["analysis.cutoffs.step=0.01"])  # -1.5 … -3.5: 201 cutoffs
    assert f"201 cutoffs; at most {MAX_CUTOFFS}" in too_many
    config = load_config(None, ["analysis.cutoffs.step=0.01", "analysis.cutoffs.low=-3.49"])
    assert len(config.analysis_settings().cutoffs) == MAX_CUTOFFS


def test_other_analysis_checks() -> None:
    assert "more than once" in _error(None, ["analysis.candidate_covariates=[age, age]"])
    assert "must not be empty" in _error(None, ["analysis.model.covariates=[]"])
    assert "increasing" in _error(None, ["analysis.survival.km_times=[12, 0]"])
    assert "between 0 and 0.5 (got 0)" in _error(None, ["analysis.alpha=0"])
    assert "must be a number (got true)" in _error(None, ["analysis.alpha=true"])


# --- variants ------------------------------------------------------------------------------


VARIANTS = """
analysis:
  alpha: 0.1
  cutoffs: {high: -1.5, low: -3.0, step: 0.5}
variants:
  narrow:
    analysis:
      cutoffs: {low: -2.5}
      model: {covariates: [age]}
  strict:
    analysis: {alpha: 0.01}
    output: {formats: [pdf]}
"""


def test_variant_is_deep_merged(tmp_path: Path) -> None:
    config = load_config(_write(tmp_path, VARIANTS))
    narrow = config.variant("narrow")
    assert narrow.analysis.alpha == 0.1  # kept from the base
    assert narrow.analysis_settings().cutoffs == (Decimal("-1.5"), Decimal(-2), Decimal("-2.5"))
    assert narrow.analysis.model.covariates == ("age",)
    assert narrow.analysis.model.epv_warning == AnalysisSettings().epv_warning
    strict = config.variant("strict")
    assert strict.analysis.alpha == 0.01
    assert strict.analysis.cutoffs == config.analysis.cutoffs
    assert strict.output.formats == ("pdf",)
    assert strict.output.style == config.output.style
    assert strict.variants == {}
    with pytest.raises(ConfigError, match=r"unknown variant 'wide' \(variants: narrow, strict\)"):
        config.variant("wide")


def test_variant_errors(tmp_path: Path) -> None:
    bad_merge = _write(tmp_path, "variants:\n  up:\n    analysis:\n      cutoffs: {low: -1}\n")
    assert (
        "refracture.yml: variants.up.analysis.cutoffs: high (-1.5) must be above low (-1)"
        in _error(bad_merge)
    )
    bad_key = _write(tmp_path, "variants:\n  v:\n    analysis: {alpah: 0.1}\n", "key.yml")
    assert "variants.v.analysis.alpah: unknown key (valid keys in variants.v.analysis" in _error(
        bad_key
    )
    bad_name = _write(tmp_path, "variants:\n  Big Name:\n    analysis: {alpha: 0.1}\n", "n.yml")
    assert "variants.Big Name: variant names are 1 to 40 characters" in _error(bad_name)
    no_variants = _write(tmp_path, "variants:\n  v:\n    variants: {}\n", "nest.yml")
    assert "variants.v.variants: unknown key" in _error(no_variants)
    assert "variants.v.analysis.alpha: must be between" in _error(
        None, ["variants.v.analysis.alpha=2"]
    )


# --- resolved config and hash --------------------------------------------------------------


def test_resolved_and_hash_do_not_depend_on_key_order(tmp_path: Path) -> None:
    a = _write(tmp_path, VARIANTS, "a.yml")
    b = _write(
        tmp_path,
        """
variants:
  strict:
    output: {formats: [pdf]}
    analysis: {alpha: 0.01}
  narrow:
    analysis:
      model: {covariates: [age]}
      cutoffs: {low: -2.50}
analysis:
  cutoffs: {step: "0.5", low: -3, high: -1.50}
  alpha: 0.1
""",
        "b.yml",
    )
    ra, rb = load_config(a).resolved(), load_config(b).resolved()
    assert json.dumps(ra) == json.dumps(rb)  # same keys in the same order
    assert list(ra) == ["data", "manuscript", "analysis", "cohort", "output", "variants"]
    assert list(ra["variants"]) == ["narrow", "strict"]
    assert ra["analysis"]["cutoffs"] == {"high": "-1.5", "low": "-3", "step": "0.5"}
    assert ra["variants"]["narrow"] == {
        "analysis": {"cutoffs": {"low": "-2.5"}, "model": {"covariates": ["age"]}}
    }
    assert config_hash(load_config(a)) == config_hash(load_config(b))
    digest = config_hash(load_config(a))
    assert len(digest) == 64
    assert int(digest, 16) >= 0
    assert config_hash(load_config(a, ["analysis.seed=1"])) != digest
    assert config_hash(load_config(a)) == digest  # stable across loads


def test_paths_resolve_against_the_file_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = tmp_path / "project"
    folder.mkdir()
    path = _write(
        folder,
        "data: {path: cohort}\noutput: {out: ../build}\nvariants:\n  v: {data: {path: other}}\n",
    )
    elsewhere = tmp_path / "cwd"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    config = load_config(path)
    assert config.data.path == folder / "cohort"
    assert config.output.out == tmp_path / "build"
    assert config.variant("v").data.path == folder / "other"
    assert config.resolved()["data"]["path"] == str(folder / "cohort")
    # --set and the defaults are relative to the working directory
    assert load_config(path, ["data.path=mine"]).data.path == elsewhere / "mine"
    assert load_config(None).output.out == elsewhere / "_manuscript"


# --- cutoff grid ---------------------------------------------------------------------------


def test_grid_is_exact(tmp_path: Path) -> None:
    grid = load_config(None).analysis_settings().cutoffs
    assert grid == AnalysisSettings().cutoffs
    assert [str(c) for c in grid] == [str(c) for c in AnalysisSettings().cutoffs]
    assert Decimal("-2.2") in grid
    assert str(grid[grid.index(Decimal("-2.2"))]) == "-2.2"
    # floats, strings and trailing zeros give the same exact decimals
    for text in (
        "{high: -1.5, low: -3.5, step: 0.1}",
        "{high: '-1.50', low: '-3.5', step: '0.10'}",
        "{high: -1.5, low: -3.5, step: 1e-1}",
    ):
        path = _write(tmp_path, f"analysis:\n  cutoffs: {text}\n")
        cut = load_config(path).analysis_settings().cutoffs
        assert [str(c) for c in cut] == [str(c) for c in grid], text
    odd = load_config(None, ["analysis.cutoffs={high: -1, low: -2.3, step: 0.3}"])
    assert odd.analysis_settings().cutoffs == tuple(
        Decimal(x) for x in ("-1", "-1.3", "-1.6", "-1.9", "-2.2")
    )


# --- cohort exclusions and filters on the example cohort ----------------------------------


def _cohort(*overrides: str) -> CohortSection:
    return load_config(None, overrides).cohort


def _check_levels(patients: pd.DataFrame, levels: pd.DataFrame, example: Cohort) -> None:
    ids = set(patients["patient_id"])
    expected = example.levels[example.levels["patient_id"].isin(ids)]
    assert len(levels) == len(expected)
    assert set(levels["patient_id"]) <= ids
    assert list(levels["_row"]) == list(expected["_row"])
    assert levels.index.equals(pd.RangeIndex(len(levels)))
    assert patients.index.equals(pd.RangeIndex(len(patients)))


def test_no_filter_keeps_everyone(example_cohort: Cohort) -> None:
    p, lv, lines = apply_cohort_filters(
        example_cohort.patients, example_cohort.levels, load_config(None)
    )
    assert (len(p), len(lv), lines) == (93, len(example_cohort.levels), [])


def test_procedure_filter(example_cohort: Cohort) -> None:
    shipped = load_config(SHIPPED)
    p, lv, lines = apply_cohort_filters(
        example_cohort.patients, example_cohort.levels, shipped.variant("kyphoplasty_only")
    )
    assert len(p) == 35  # the README: 35 kyphoplasty patients on 44 levels
    assert int(lv["treated"].sum()) == 44
    assert set(p["procedure"].astype(str)) == {"KP"}
    assert lines == ["excluded 58 patients not treated with kyphoplasty (KP)"]
    _check_levels(p, lv, example_cohort)


def test_steroid_exclusion(example_cohort: Cohort) -> None:
    pats = example_cohort.patients
    on_steroids = int(pats["steroid_use"].eq(True).sum())
    assert on_steroids > 0
    p, lv, lines = apply_cohort_filters(
        pats, example_cohort.levels, load_config(SHIPPED).variant("exclude_steroids").cohort
    )
    assert len(p) == len(pats) - on_steroids
    assert not p["steroid_use"].eq(True).any()
    assert lines == [f"excluded {on_steroids} patients on long-term glucocorticoids"]
    _check_levels(p, lv, example_cohort)
    # unknown steroid use is kept, and said so
    unknown = pats.assign(steroid_use=pd.array([pd.NA] * len(pats), dtype="boolean"))
    p2, _, lines2 = apply_cohort_filters(
        unknown, example_cohort.levels, _cohort("cohort.exclusions.exclude_steroids=true")
    )
    assert len(p2) == len(pats)
    assert lines2[-1] == f"kept {len(pats)} patients whose glucocorticoid use is not recorded"


def test_followup_and_combined(example_cohort: Cohort) -> None:
    pats = example_cohort.patients
    short = int((pats["followup_months"] < 24).sum())
    assert 0 < short < len(pats)
    p, lv, lines = apply_cohort_filters(
        pats, example_cohort.levels, _cohort("cohort.exclusions.min_followup_months=24")
    )
    assert len(p) == len(pats) - short
    assert (p["followup_months"] >= 24).all()
    assert lines == [f"excluded {short} patients with follow-up below 24 months"]
    _check_levels(p, lv, example_cohort)

    cfg = _cohort(
        "cohort.exclusions.min_followup_months=24",
        "cohort.exclusions.exclude_steroids=true",
        "cohort.filters.procedure=VP",
    )
    p, lv, lines = apply_cohort_filters(pats, example_cohort.levels, cfg)
    keep = (
        (pats["followup_months"] >= 24)
        & ~pats["steroid_use"].eq(True).fillna(False).astype(bool)
        & (pats["procedure"].astype(str) == "VP")
    )
    assert list(p["patient_id"]) == list(pats.loc[keep, "patient_id"])
    assert len(lines) == 3
    assert lines[0] == f"excluded {short} patients with follow-up below 24 months"
    assert lines[2].endswith("not treated with vertebroplasty (VP)")
    _check_levels(p, lv, example_cohort)
    # the input frames are untouched
    assert len(example_cohort.patients) == 93


def test_nobody_left_is_an_error(example_cohort: Cohort) -> None:
    with pytest.raises(ConfigError, match="no patient remains"):
        apply_cohort_filters(
            example_cohort.patients,
            example_cohort.levels,
            _cohort("cohort.exclusions.min_followup_months=1000"),
        )


def test_the_journal_is_one_with_a_profile(tmp_path: Path) -> None:
    assert load_config(SHIPPED).manuscript.journal == "spine"  # the study's target journal
    assert load_config(None).manuscript.journal == "spine"
    message = _error(SHIPPED, ["manuscript.journal=nature"])
    assert message == (
        "--set manuscript.journal: must be a journal with a profile: generic, spine (got 'nature')"
    )
    # a profile of the project's templates is a journal too
    (tmp_path / "templates" / "journals").mkdir(parents=True)
    (tmp_path / "templates" / "journals" / "ours.yml").write_text("name: Ours\n")
    path = _write(tmp_path, "manuscript:\n  templates: templates\n  journal: ours\n")
    assert load_config(path).manuscript.journal == "ours"
