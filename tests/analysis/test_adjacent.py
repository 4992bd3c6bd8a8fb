"""Adjacent versus remote fractures: counts against pandas and the published
abstract, Wilson intervals against the closed formula, Mann–Whitney against SciPy
and a hand-worked exact example."""

from __future__ import annotations

import dataclasses
import json
import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from refracture.analysis.adjacent import adjacent_vs_remote
from refracture.data.derive import DerivedData, derive
from refracture.data.simulate import simulate
from refracture.data.validate import load_cohort

REL = 1e-6


@pytest.fixture(scope="module")
def adj(example_data: DerivedData):
    return adjacent_vs_remote(example_data)


def _wilson(k: int, n: int, z: float = float(stats.norm.ppf(0.975))) -> tuple[float, float]:
    p = k / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z / (1 + z * z / n) * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    return 100 * (centre - half), 100 * (centre + half)


def _toy(months_adj: list[float], months_remote: list[float]) -> DerivedData:
    """A minimal DerivedData: one fractured level per patient."""
    m = months_adj + months_remote
    is_adj = [True] * len(months_adj) + [False] * len(months_remote)
    pid = [f"P{i}" for i in range(len(m))]
    levels = pd.DataFrame(
        {
            "patient_id": pid,
            "subsequent_fracture": True,
            "adjacent": is_adj,
            "months_to_fracture": m,
        }
    )
    patients = pd.DataFrame(
        {
            "patient_id": pid,
            "refracture": True,
            "adjacent_refracture": is_adj,
            "months_to_refracture": m,
        }
    )
    return DerivedData(patients=patients, levels=levels, level_set=levels.iloc[[]])


def test_example_matches_published(adj, published) -> None:
    ref = published["refracture"]["adjacent"]
    row = adj.row("adjacent_patients")
    assert row["estimate"] == ref["n"]
    assert row["n"] == ref["of"]
    assert round(row["percent"], 1) == pytest.approx(ref["percent"])
    assert adj.meta["refracture_patients"] == published["refracture"]["patients"]
    assert list(adj.table.columns[:6]) == ["term", "estimate", "ci_low", "ci_high", "p", "n"]
    assert adj.table["term"].is_unique
    json.dumps(adj.to_dict(), allow_nan=False)


def test_counts_against_pandas(adj, example_data: DerivedData) -> None:
    lv = example_data.levels
    fx = lv.loc[lv["subsequent_fracture"]]
    assert adj.value("fractured_levels") == len(fx)
    assert adj.value("adjacent_levels") == fx["adjacent"].sum()
    assert adj.value("remote_levels") == (~fx["adjacent"]).sum()
    assert adj.row("adjacent_levels")["percent"] == pytest.approx(
        100 * fx["adjacent"].mean(), rel=REL
    )
    pf = example_data.patients
    assert (
        adj.value("remote_only_patients") == (pf["refracture"] & ~pf["adjacent_refracture"]).sum()
    )


def test_wilson_intervals(adj) -> None:
    for term in ("adjacent_levels", "adjacent_patients", "remote_only_patients"):
        row = adj.row(term)
        lo, hi = _wilson(int(row["estimate"]), int(row["n"]))
        assert row["percent_ci_low"] == pytest.approx(lo, rel=REL)
        assert row["percent_ci_high"] == pytest.approx(hi, rel=REL)


def test_months_and_mann_whitney_against_scipy(adj, example_data: DerivedData) -> None:
    lv = example_data.levels
    fx = lv.loc[lv["subsequent_fracture"]]
    x = fx.loc[fx["adjacent"], "months_to_fracture"].to_numpy(float)
    y = fx.loc[~fx["adjacent"], "months_to_fracture"].to_numpy(float)
    for term, v in (("months_adjacent", x), ("months_remote", y)):
        row = adj.row(term)
        assert row["estimate"] == pytest.approx(v.mean(), rel=REL)
        assert row["sd"] == pytest.approx(v.std(ddof=1), rel=REL)
        assert row["median"] == pytest.approx(np.median(v), rel=REL)
        assert (row["min"], row["max"]) == (v.min(), v.max())
        assert row["n"] == v.size
    # ties in the example -> normal approximation (tie- and continuity-corrected)
    assert np.unique(np.concatenate([x, y])).size < x.size + y.size
    res = stats.mannwhitneyu(x, y, alternative="two-sided", method="asymptotic")
    mw = adj.row("months_mannwhitney")
    assert mw["estimate"] == pytest.approx(res.statistic, rel=REL)
    assert mw["p"] == pytest.approx(res.pvalue, rel=REL)
    assert mw["method"].startswith("normal approximation")
    # patient level: first refracture, adjacent vs remote-only patients
    pf = example_data.patients.loc[example_data.patients["refracture"]]
    a = pf.loc[pf["adjacent_refracture"], "months_to_refracture"].to_numpy(float)
    b = pf.loc[~pf["adjacent_refracture"], "months_to_refracture"].to_numpy(float)
    res = stats.mannwhitneyu(a, b, alternative="two-sided", method="auto")
    assert adj.value("months_mannwhitney_patients", "p") == pytest.approx(res.pvalue, rel=REL)
    assert adj.value("months_remote_only_patients") == pytest.approx(b.mean(), rel=REL)


def test_exact_mann_whitney_hand_worked() -> None:
    # adjacent 4, 5 vs remote 1, 2, 3: U = 6 (every adjacent time exceeds every remote one);
    # of the C(5,2) = 10 equally likely rankings only one gives U = 6 (and one U = 0), so
    # two-sided exact P = 2 · 1/10 = 0.2
    r = adjacent_vs_remote(_toy([4.0, 5.0], [1.0, 2.0, 3.0]))
    mw = r.row("months_mannwhitney")
    assert mw["estimate"] == 6.0
    assert mw["p"] == pytest.approx(0.2, rel=REL)
    assert mw["method"] == "exact"
    assert r.value("adjacent_levels") == 2
    assert r.row("adjacent_levels")["percent"] == 40.0


def test_no_fracture(example_data: DerivedData) -> None:
    lv = example_data.levels.assign(subsequent_fracture=False)
    pf = example_data.patients.assign(refracture=False, adjacent_refracture=False)
    r = adjacent_vs_remote(dataclasses.replace(example_data, levels=lv, patients=pf))
    assert r.value("fractured_levels") == 0
    assert r.row("adjacent_levels")["percent"] != r.row("adjacent_levels")["percent"]  # NaN
    assert math.isnan(r.row("months_mannwhitney")["p"])
    assert any("No fractured level" in n for n in r.notes)
    json.dumps(r.to_dict(), allow_nan=False)


def test_all_adjacent_and_identical_months() -> None:
    r = adjacent_vs_remote(_toy([3.0, 7.0], []))
    assert r.row("remote_levels")["estimate"] == 0
    assert math.isnan(r.row("months_mannwhitney")["p"])
    assert any("empty group" in n for n in r.notes)
    r = adjacent_vs_remote(_toy([5.0, 5.0], [5.0]))
    assert math.isnan(r.row("months_mannwhitney")["p"])
    assert any("identical" in n for n in r.notes)


def test_missing_months_excluded() -> None:
    d = _toy([4.0, np.nan], [1.0, 2.0])
    r = adjacent_vs_remote(d)
    assert r.row("months_adjacent")["n"] == 1
    assert r.value("adjacent_levels") == 2
    assert any("without months" in n for n in r.notes)


def test_five_patient_cohort(tmp_path) -> None:
    simulate(seed=3, patients=5).write(tmp_path)
    c = load_cohort(tmp_path)
    r = adjacent_vs_remote(derive(c.patients, c.levels))
    json.dumps(r.to_dict(), allow_nan=False)


def test_example_headline(adj) -> None:
    cols = ["term", "estimate", "n", "percent", "percent_ci_low", "percent_ci_high", "sd"]
    print("\nAdjacent vs remote (example cohort):")
    print(adj.table[[*cols, "median", "min", "max", "p", "method"]].to_string(index=False))
    assert adj.value("adjacent_patients") == 7
