"""Figures draw the result objects: the numbers on the Axes are the result's numbers."""

from __future__ import annotations

import hashlib

import numpy as np
import pytest

from refracture.analysis.models import multivariable_model, univariable_models
from refracture.analysis.result import Result
from refracture.analysis.roc import roc_analysis
from refracture.analysis.survival import time_to_refracture
from refracture.analysis.thresholds import threshold_table
from refracture.analysis.tscore import level_tscore
from refracture.common.format import Formatter
from refracture.data.derive import derive
from refracture.figures import plots
from refracture.figures.style import FORMATS, journal_style, save

F = Formatter()


@pytest.fixture(scope="module")
def results(example_data) -> dict[str, Result]:
    d = example_data
    return {
        "thresholds": threshold_table(d),
        "roc": roc_analysis(d),
        "univariable": univariable_models(d),
        "multivariable": multivariable_model(d),
        "level_tscore": level_tscore(d),
    }


def _texts(ax) -> list[str]:
    return [t.get_text() for t in ax.texts]


def test_threshold_forest_draws_the_table(results) -> None:
    t = results["thresholds"]
    with journal_style():
        ax = plots.threshold_forest(t)
    labels = [tick.get_text() for tick in ax.get_yticklabels()]
    assert labels == [
        f"T ≤ {F.cutoff(c)}" + ("†" if k else "")
        for c, k in zip(t.table["cutoff"], t.table["corrected"], strict=True)
    ]
    texts = _texts(ax)
    for _, row in t.table.iterrows():
        ci = F.estimate_ci(row["estimate"], row["ci_low"], row["ci_high"], 2)
        assert ci.replace("(95% CI ", "(") in texts
        assert F.p_value(row["p"]) in texts
    # CI ends of the drawn segments equal the table's
    segs = ax.collections[0].get_segments()
    ends = sorted((round(s[0][0], 9), round(s[1][0], 9)) for s in segs)
    expected = sorted(
        (round(a, 9), round(b, 9))
        for a, b in zip(t.table["ci_low"], t.table["ci_high"], strict=True)
    )
    assert ends == expected


def test_roc_plot_labels_auc_and_youden(results) -> None:
    r = results["roc"]
    with journal_style():
        ax = plots.roc_plot(r)
    auc = r.row("auc")
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    assert legend == ["AUC " + F.estimate_ci(auc["estimate"], auc["ci_low"], auc["ci_high"], 2)]
    y = r.row("youden_cutoff")
    assert any(t.startswith(f"T ≤ {F.cutoff(y['estimate'])}") for t in _texts(ax))
    line = ax.lines[1]  # the step curve
    np.testing.assert_allclose(line.get_xdata(), r.meta["roc_fpr"])
    np.testing.assert_allclose(line.get_ydata(), r.meta["roc_tpr"])


def test_model_forest_shows_every_covariate(results) -> None:
    u, m = results["univariable"], results["multivariable"]
    with journal_style():
        ax = plots.model_forest(u, m)
    assert [t.get_text() for t in ax.get_yticklabels()] == list(u.table["label"])


def test_model_forest_with_firth(results, example_results) -> None:
    firth = example_results["firth"]
    with journal_style():
        ax = plots.model_forest(results["univariable"], results["multivariable"], firth=firth)
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    assert legend == ["Univariable", "Multivariable", "Multivariable (Firth)"]
    drawn = sorted(round(x, 9) for c in ax.collections[-2:] for x in c.get_offsets()[:, 0])
    assert drawn == sorted(round(x, 9) for x in firth.table["estimate"])


def test_tscore_plot_draws_every_level(results) -> None:
    r = results["level_tscore"]
    with journal_style():
        ax = plots.tscore_plot(r, cutoff=-2.2)
    points = sum(len(c.get_offsets()) for c in ax.collections if len(c.get_offsets()) > 1)
    assert points == r.row("fractured")["n"] + r.row("nonfractured")["n"]
    assert "T = −2.2" in _texts(ax)


def test_predictive_values_plot(results) -> None:
    t = results["thresholds"]
    with journal_style():
        ax = plots.predictive_values_plot(t)
    np.testing.assert_allclose(ax.lines[0].get_ydata(), t.table["sens"])
    assert [x.get_text() for x in ax.get_legend().get_texts()] == [
        "Sensitivity",
        "Specificity",
        "PPV",
        "NPV",
    ]


def _digest(paths) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in paths}


def test_saved_figures_are_byte_identical(results, tmp_path) -> None:
    digests = []
    for run in ("a", "b"):
        folder = tmp_path / run
        folder.mkdir()
        with journal_style():
            ax = plots.threshold_forest(results["thresholds"])
        digests.append(_digest(save(ax.figure, folder / "forest")))
    assert digests[0] == digests[1]
    assert set(digests[0]) == {f"forest.{f}" for f in FORMATS}
    svg = (tmp_path / "a" / "forest.svg").read_text(encoding="utf-8")
    assert "<dc:date>" not in svg
    pdf = (tmp_path / "a" / "forest.pdf").read_bytes()
    # the PDF is the SVG converted by typst, dated by the build's fixed date
    assert b"CreationDate(D:20261125000000Z)" in pdf
    assert pdf.startswith(b"%PDF-")


def test_figure_pdf_is_the_svg_at_the_same_size(results, tmp_path) -> None:
    """The PDF is a vector copy of the SVG: one page of the SVG's size in points."""
    import re

    import pypdfium2 as pdfium

    with journal_style():
        ax = plots.roc_plot(results["roc"])
    save(ax.figure, tmp_path / "roc", ("svg", "pdf"))
    svg = (tmp_path / "roc.svg").read_text(encoding="utf-8")
    width = float(re.search(r'<svg[^>]* width="([0-9.]+)pt"', svg).group(1))
    height = float(re.search(r'<svg[^>]* height="([0-9.]+)pt"', svg).group(1))
    doc = pdfium.PdfDocument(tmp_path / "roc.pdf")
    try:
        assert len(doc) == 1
        assert doc[0].get_size() == pytest.approx((width, height), abs=0.01)
    finally:
        doc.close()
    assert width == pytest.approx(85 / 25.4 * 72, abs=0.01)  # single column, 85 mm


def test_figures_survive_edge_cases(example_cohort, tmp_path) -> None:
    """No events at all: every plot still draws (empty where nothing is estimable)."""
    levels = example_cohort.levels.copy()
    levels["subsequent_fracture"] = False
    levels["months_to_fracture"] = np.nan
    d = derive(example_cohort.patients, levels)
    with journal_style():
        for ax in (
            plots.threshold_forest(threshold_table(d)),
            plots.roc_plot(roc_analysis(d)),
            plots.predictive_values_plot(threshold_table(d)),
            plots.model_forest(univariable_models(d), multivariable_model(d)),
            plots.tscore_plot(level_tscore(d), cutoff=None),
            plots.km_plot(time_to_refracture(d)),
        ):
            paths = save(ax.figure, tmp_path / "edge", ("png",))
            assert paths[0].stat().st_size > 0


def test_plots_accept_an_existing_axes(results) -> None:
    from refracture.figures.style import figure

    _fig, axes = figure("double", 80, ncols=2)
    with journal_style():
        assert plots.roc_plot(results["roc"], ax=axes[0]) is axes[0]
        assert plots.tscore_plot(results["level_tscore"], ax=axes[1]) is axes[1]


def test_km_plot_at_risk_and_logrank(example_results) -> None:
    s = example_results["survival"]
    with journal_style():
        ax = plots.km_plot(s)
    risk = ax.figure.axes[1]
    t = s.table
    expected = []
    for group in ("le", "gt"):
        sub = t[(t["section"] == "km_group") & (t["group"] == group)]
        expected += [F.count(v) for v in sub["at_risk"]]
    assert [x.get_text() for x in risk.texts] == expected
    p = t.loc[t["section"] == "logrank", "p"].iloc[0]
    assert f"Log-rank {F.p_value(p, symbol=True)}" in _texts(ax)
    assert [x.get_text() for x in ax.get_legend().get_texts()] == [
        "T-score ≤ −2.2",
        "T-score > −2.2",
    ]


def test_build_draws_every_figure_in_three_formats(example_results, tmp_path) -> None:
    from refracture.figures.build import FIGURES, draw_all

    paths = draw_all(example_results, tmp_path)
    assert sorted(p.name for p in paths) == sorted(
        f"{stem}.{fmt}" for stem in FIGURES for fmt in FORMATS
    )


def test_figure_workers_draw_the_same_bytes_as_in_process(example_results, tmp_path) -> None:
    """Drawing in two worker processes gives exactly the in-process files."""
    from refracture.figures.build import FigureWorkers, draw_all

    serial = draw_all(example_results, tmp_path / "serial", epoch=1795564800)
    with FigureWorkers(2) as workers:
        workers.submit(example_results, tmp_path / "workers", epoch=1795564800)
        parallel = workers.wait()
    assert [p.name for p in parallel] == [p.name for p in serial]
    assert _digest(parallel) == _digest(serial)


def test_a_figure_worker_error_reaches_the_caller(example_results, tmp_path) -> None:
    """An exception raised while drawing in a worker is raised by wait()."""
    import dataclasses

    from refracture.figures.build import FigureWorkers

    broken = dict(example_results.analyses)
    broken["roc"] = "not a result"  # roc_plot fails on it, in a worker process
    results = dataclasses.replace(example_results, analyses=broken)
    with FigureWorkers(2) as workers:
        workers.submit(results, tmp_path, epoch=1795564800)
        with pytest.raises(AttributeError, match="'str' object has no attribute"):
            workers.wait()


def test_figure_workers_end_with_the_block(tmp_path) -> None:
    """Leaving the block before any figure was submitted ends the workers."""
    from refracture.figures.build import FigureWorkers

    with FigureWorkers(2) as workers:
        procs = list(workers._procs)
        assert len(procs) == 2
    assert all(p.poll() is not None for p in procs)
