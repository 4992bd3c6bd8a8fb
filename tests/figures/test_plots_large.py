"""Figures of very large cohorts stay compact: the T-score figure switches to
histograms, the Kaplan–Meier curve is drawn from its change points only."""

from __future__ import annotations

import io

import numpy as np
import pandas as pd

from refracture.analysis.result import Result, tidy_row
from refracture.figures import plots
from refracture.figures.style import journal_style


def _tscore_result(counts: dict[str, list[list[float]]]) -> Result:
    rows = []
    for term, pairs in counts.items():
        v = np.repeat([p[0] for p in pairs], [p[1] for p in pairs])
        m, half = float(v.mean()), 1.96 * float(v.std(ddof=1)) / np.sqrt(v.size)
        rows.append(tidy_row(term, estimate=m, ci_low=m - half, ci_high=m + half, n=int(v.size)))
    return Result("level_tscore", pd.DataFrame(rows), meta={"value_counts": counts})


def _svg_size(ax) -> int:
    buf = io.BytesIO()
    ax.figure.savefig(buf, format="svg")
    return len(buf.getvalue())


def test_tscore_plot_of_a_million_levels_is_a_histogram() -> None:
    values = np.round(np.arange(-4.5, 3.01, 0.1), 1)  # 76 distinct T-scores
    rng = np.random.default_rng(1)
    counts = {
        "nonfractured": [
            [float(v), int(c)]
            for v, c in zip(values, rng.integers(1, 30_000, values.size), strict=True)
        ],
        "fractured": [
            [float(v), int(c)]
            for v, c in zip(values, rng.integers(1, 3_000, values.size), strict=True)
        ],
    }
    r = _tscore_result(counts)
    with journal_style():
        ax = plots.tscore_plot(r, cutoff=-2.2)
    assert not any(len(c.get_offsets()) > 1 for c in ax.collections)  # no point per level
    bars = ax.patches
    assert len(bars) == 2 * values.size  # one bar per distinct T-score and group
    for x0, (_term, pairs) in enumerate(
        (("nonfractured", counts["nonfractured"]), ("fractured", counts["fractured"]))
    ):
        mine = [b for b in bars if abs(b.get_x() - (x0 - 0.35)) < 1e-9]
        widths = np.array([b.get_width() for b in mine])
        reps = np.array([p[1] for p in pairs], float)
        np.testing.assert_allclose(widths, 0.32 * reps / reps.max())  # length ∝ levels
        centres = [b.get_y() + b.get_height() / 2 for b in mine]
        np.testing.assert_allclose(centres, [p[0] for p in pairs])
    # the mean ± CI marks are drawn as for the example
    means = [line.get_ydata()[0] for line in ax.lines if len(line.get_ydata()) == 1]
    assert set(np.round(means, 9)) >= {round(r.value(t), 9) for t in counts}
    assert _svg_size(ax) < 200_000


def test_tscore_plot_bins_many_distinct_values() -> None:
    rng = np.random.default_rng(2)
    vals = np.sort(rng.normal(-1.5, 1.0, 3000))
    pairs = [[float(v), 5] for v in vals]
    r = _tscore_result({"nonfractured": pairs, "fractured": pairs[:500]})
    with journal_style():
        ax = plots.tscore_plot(r)
    assert len(ax.patches) == 2 * plots.TSCORE_BINS_MAX
    total = sum(b.get_width() for b in ax.patches[: plots.TSCORE_BINS_MAX])
    assert total > 0


def test_km_plot_draws_the_change_points_only() -> None:
    rng = np.random.default_rng(3)
    n = 20_000
    time = np.sort(rng.random(n) * 60)
    surv = np.repeat(np.linspace(1, 0.5, 2000), n // 2000)  # changes every 10 points
    lo, hi = surv - 0.05, np.minimum(surv + 0.05, 1.0)
    curve = {
        "label": "All patients",
        "time": time.tolist(),
        "survival": surv.tolist(),
        "ci_low": lo.tolist(),
        "ci_high": hi.tolist(),
        "censor_times": (rng.random(50_000) * 60).tolist(),
    }
    table = pd.DataFrame(
        [
            {
                **tidy_row(f"km_overall:{t}", n=n),
                "section": "km_overall",
                "time": float(t),
                "at_risk": float(n),
                "group": "overall",
            }
            for t in (0, 12, 24)
        ]
    )
    r = Result("survival", table, meta={"curves": {"overall": curve}})
    with journal_style():
        ax = plots.km_plot(r)
    step = ax.lines[0]
    x = np.asarray(step.get_xdata(), float)
    y = np.asarray(step.get_ydata(), float)
    assert x.size <= 2001 + 1
    # the drawn step function equals the full one at every original time
    at = np.searchsorted(x, time, side="right") - 1
    np.testing.assert_array_equal(y[at], surv)
    marks = ax.lines[1]
    assert len(marks.get_xdata()) <= plots.KM_CENSOR_MARKS_MAX + 1
    assert _svg_size(ax) < 1_000_000


def test_km_numbers_at_risk_of_a_registry_are_in_thousands() -> None:
    """20,000 at risk would run into the next column: printed as "20" (thousands)."""
    table = pd.DataFrame(
        [
            {
                **tidy_row(f"km_overall:{t}", n=20_000),
                "section": "km_overall",
                "time": float(t),
                "at_risk": float(n),
                "group": "overall",
            }
            for t, n in ((0, 20_000), (12, 15_499), (24, 9_501))
        ]
    )
    curve = {
        "label": "All patients",
        "time": [0.0, 12.0, 24.0],
        "survival": [1.0, 0.9, 0.8],
        "ci_low": [1.0, 0.85, 0.75],
        "ci_high": [1.0, 0.95, 0.85],
        "censor_times": [],
    }
    r = Result("survival", table, meta={"curves": {"overall": curve}})
    with journal_style():
        ax = plots.km_plot(r)
    risk = ax.figure.axes[1]
    assert risk.get_title(loc="left") == "Number at risk (thousands)"
    assert [x.get_text() for x in risk.texts] == ["20", "15", "10"]
