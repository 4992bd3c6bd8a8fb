"""Stage-level reuse: an edit re-runs exactly the stages that depend on it, and a
build that reuses stages is byte-identical to a cold build of the same inputs.

A study project (``refracture init --example``) is edited step by step: a
template, the title, one data cell, the covariate list, alpha. After each edit
the project's build folder is rebuilt (reusing what it can) and, beside it, a
cold build is made into a new folder with an empty cache; the two must hold the
same files with the same bytes.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from refracture.build.config import load_config
from refracture.build.pipeline import build
from refracture.build.stages import Previous, StageCache, key, load_analyses, store_analyses

RECORD = ".refracture-build.json"


def _build(project: Path, out: Path, overrides: list[str], cache=None):
    cfg = load_config(project / "refracture.yml", overrides)
    return build(cfg.data.path, out, config=cfg, engine="embedded", figure_workers=0, cache=cache)


def _files(folder: Path) -> dict[str, str]:
    return {
        p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def _edit_template(project: Path) -> None:
    path = project / "templates" / "partials" / "discussion.md.j2"
    with path.open("a", encoding="utf-8") as f:
        f.write("\nA sentence the authors added, with {{ cohort.refracture.n }} patients.\n")


def _edit_title(project: Path) -> None:
    path = project / "refracture.yml"
    text = path.read_text(encoding="utf-8")
    path.write_text(text.replace('title: "Level-specific', 'title: "Edited: level-specific'))


def _edit_data(project: Path) -> None:
    path = project / "data" / "levels.csv"
    lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
    row = next(i for i, line in enumerate(lines) if ",-3.7," in line)
    lines[row] = lines[row].replace(",-3.7,", ",-2.1,", 1)
    path.write_text("".join(lines), encoding="utf-8")


EDITS = [
    ("template", _edit_template, []),
    ("title", _edit_title, []),
    ("data row", _edit_data, []),
    ("covariates", None, ["analysis.model.covariates=[age,sex]"]),
    ("alpha", None, ["analysis.model.covariates=[age,sex]", "analysis.alpha=0.01"]),
]


@pytest.fixture(scope="module")
def sequence(tmp_path_factory, cli):
    """Each edit's incremental outcome and the folders of the incremental and cold builds."""
    import os

    root = tmp_path_factory.mktemp("stages")
    assert cli("init", "paper", "--example", cwd=root).returncode == 0
    project = root / "paper"
    out = project / "_manuscript"
    first = _build(project, out, [])
    steps = []
    for i, (name, edit, overrides) in enumerate(EDITS):
        if edit is not None:
            edit(project)
        incremental = _build(project, out, overrides)
        kept = root / f"incremental-{i}"
        import shutil

        shutil.copytree(out, kept)
        before = os.environ.get("REFRACTURE_CACHE_DIR")
        os.environ["REFRACTURE_CACHE_DIR"] = str(root / f"empty-cache-{i}")
        try:
            cold = _build(project, root / f"cold-{i}", overrides)
        finally:
            os.environ["REFRACTURE_CACHE_DIR"] = before or ""
        steps.append((name, incremental, kept, cold))
    return first, steps


def test_a_first_build_runs_every_stage(sequence) -> None:
    first, _ = sequence
    assert first.reused == ()
    assert "analyses" in first.ran
    assert sum(s.startswith("figure:") for s in first.ran) == 6
    assert sum(s.startswith("render:") for s in first.ran) == 6


def _ran(outcome, kind: str) -> set[str]:
    return {s.split(":", 1)[1] for s in outcome.ran if s.startswith(kind + ":")}


def test_each_edit_reruns_exactly_what_depends_on_it(sequence) -> None:
    _, steps = sequence
    ran = {name: outcome for name, outcome, _, _ in steps}
    # a Discussion sentence: the manuscript's three renders, nothing else
    assert "analyses" in ran["template"].reused
    assert _ran(ran["template"], "figure") == set()
    assert _ran(ran["template"], "render") == {
        "manuscript.html",
        "manuscript.pdf",
        "manuscript.docx",
    }
    assert "file:tables.xlsx" in ran["template"].reused  # the workbook's tables are unchanged
    # the title: no analysis, no figure
    assert "analyses" in ran["title"].reused
    assert _ran(ran["title"], "figure") == set()
    assert "manuscript.html" in _ran(ran["title"], "render")
    # one T-score: the analyses again, and the figures drawn from T-scores
    assert "analyses" in ran["data row"].ran
    assert {"tscore_levels", "roc"} <= _ran(ran["data row"], "figure")
    # the covariates change the models' figure, not the cutoffs' figures
    assert "analyses" in ran["covariates"].ran
    assert "model_forest" in _ran(ran["covariates"], "figure")
    assert {"threshold_forest", "predictive_values", "roc"}.isdisjoint(
        _ran(ran["covariates"], "figure")
    )
    assert "file:tables.xlsx" in ran["covariates"].ran
    assert "analyses" in ran["alpha"].ran


def test_guard_checks_only_files_it_has_not_seen(sequence) -> None:
    _, steps = sequence
    _, outcome, _, _ = steps[0]
    checked = _ran(outcome, "guard")
    assert "manuscript.html" in checked
    assert "figures/roc.svg" not in checked  # reused, same bytes, same identifiers


@pytest.mark.parametrize("step", range(len(EDITS)), ids=[e[0] for e in EDITS])
def test_a_reusing_build_is_byte_identical_to_a_cold_build(sequence, step) -> None:
    _, steps = sequence
    name, _, kept, cold = steps[step]
    assert _files(kept).keys() == _files(cold.out).keys()
    differ = [f for f, h in _files(kept).items() if h != _files(cold.out)[f]]
    assert differ == [], f"after the {name} edit these differ from a cold build: {differ}"


def test_an_in_memory_cache_reuses_the_analyses_without_the_disk(tmp_path, cli, monkeypatch):
    assert cli("init", "p", "--example", cwd=tmp_path).returncode == 0
    project = tmp_path / "p"
    cache = StageCache()
    _build(project, tmp_path / "a", [], cache=cache)
    monkeypatch.setenv("REFRACTURE_CACHE_DIR", str(tmp_path / "nothing-here"))
    again = _build(project, tmp_path / "b", [], cache=cache)
    assert "analyses" in again.reused
    assert len(cache.analyses) == 1


def test_force_reuses_nothing(tmp_path, cli) -> None:
    assert cli("init", "p", "--example", cwd=tmp_path).returncode == 0
    project, out = tmp_path / "p", tmp_path / "p" / "_manuscript"
    _build(project, out, [])
    cfg = load_config(project / "refracture.yml", [])
    again = build(cfg.data.path, out, config=cfg, engine="embedded", force=True)
    assert again.reused == ()
    assert "analyses" in again.ran
    assert sum(s.startswith("figure:") for s in again.ran) == 6


def test_a_tampered_or_missing_output_is_never_reused(tmp_path, cli) -> None:
    assert cli("init", "p", "--example", cwd=tmp_path).returncode == 0
    project, out = tmp_path / "p", tmp_path / "p" / "_manuscript"
    _build(project, out, [])
    (out / "figures" / "roc.svg").write_bytes(b"<svg>not ours</svg>")
    (out / "supplementary.html").unlink()
    _edit_template(project)
    outcome = _build(project, out, [])
    assert "roc" in _ran(outcome, "figure")
    assert "supplementary.html" in _ran(outcome, "render")
    assert b"not ours" not in (out / "figures" / "roc.svg").read_bytes()


def test_the_analyses_cache_is_read_only_with_the_recorded_hash(tmp_path, monkeypatch):
    monkeypatch.setenv("REFRACTURE_CACHE_DIR", str(tmp_path))
    k = key("analyses", "x")
    sha = store_analyses(k, {"value": 1})
    assert load_analyses(k, sha) == {"value": 1}
    assert load_analyses(k, "0" * 64) is None
    assert load_analyses(k, None) is None
    (tmp_path / "analyses" / f"{k}.pickle").write_bytes(b"garbage")
    assert load_analyses(k, hashlib.sha256(b"garbage").hexdigest()) is None


def test_a_record_without_stage_keys_is_not_a_previous_build(tmp_path) -> None:
    (tmp_path / RECORD).write_text(json.dumps({"written_by": "refracture", "files": []}))
    assert Previous.read(tmp_path) is None
    (tmp_path / RECORD).write_text(
        json.dumps({"written_by": "refracture", "files": [], "stages": {}, "sha256": {}})
    )
    assert Previous.read(tmp_path) is not None


def test_an_html_build_with_svg_figures_makes_the_same_html(tmp_path, cli) -> None:
    """What the preview builds on an edit: the HTML, its figures as SVG only. Its HTML is
    the HTML of a build with figures in every format; building that folder again with
    every figure format draws the figures again and gives the folder of a cold build."""
    from refracture.build.pipeline import embedded_figure_formats
    from refracture.figures.build import FIGURES

    assert embedded_figure_formats(("html",)) == ("svg",)
    assert embedded_figure_formats(("html", "pdf", "docx")) == ("png", "svg")
    assert cli("init", "p", "--example", cwd=tmp_path).returncode == 0
    cfg = load_config(tmp_path / "p" / "refracture.yml", [])

    def html(out: Path, **options):
        return build(
            cfg.data.path,
            tmp_path / out,
            config=cfg,
            engine="embedded",
            figure_workers=0,
            formats=("html",),
            **options,
        )

    html("svg", figure_formats=("svg",))
    html("full")
    figures = sorted(p.name for p in (tmp_path / "svg" / "figures").iterdir())
    assert figures == sorted(f"{stem}.svg" for stem in FIGURES)
    for doc in ("manuscript.html", "supplementary.html"):
        assert (tmp_path / "svg" / doc).read_bytes() == (tmp_path / "full" / doc).read_bytes()
    again = html("svg")  # not "up to date": the figure formats are part of the stamp
    assert {f"figure:{stem}" for stem in FIGURES} <= set(again.ran)
    assert _files(tmp_path / "svg") == _files(tmp_path / "full")


def test_figure_formats_outside_png_pdf_svg_are_refused(tmp_path) -> None:
    from refracture.errors import ConfigError

    for wrong in ((), ("tiff",), ("svg", "eps")):
        with pytest.raises(ConfigError, match="non-empty subset of png, pdf, svg"):
            build(None, tmp_path / "out", engine="embedded", figure_formats=wrong)
    assert not (tmp_path / "out").exists()
