"""Level-specific T-score of fractured vs nonfractured levels (``level_tscore``)."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from refracture.analysis.result import TIDY_COLUMNS
from refracture.analysis.tscore import level_tscore
from refracture.data.derive import DerivedData


def _data(patient_id, tscore, fractured) -> DerivedData:
    n = len(tscore)
    ls = pd.DataFrame(
        {
            "patient_id": list(patient_id),
            "level": ["L1"] * n,
            "tscore": np.asarray(tscore, dtype="float64"),
            "subsequent_fracture": np.asarray(fractured, dtype=bool),
            "adjacent": np.zeros(n, dtype=bool),
            "age": np.full(n, 70.0),
        }
    )
    return DerivedData(patients=pd.DataFrame(), levels=pd.DataFrame(), level_set=ls)


def test_published_means_and_cis(example_data, published):
    r = level_tscore(example_data)
    assert list(r.table.columns[: len(TIDY_COLUMNS)]) == list(TIDY_COLUMNS)
    target = published["level_specific_tscore"]
    for term in ("fractured", "nonfractured"):
        row = r.row(term)
        assert round(row["estimate"], 3) == pytest.approx(target[term]["mean"], abs=1e-12)
        assert round(row["ci_low"], 3) == pytest.approx(target[term]["ci95"][0], abs=1e-12)
        assert round(row["ci_high"], 3) == pytest.approx(target[term]["ci95"][1], abs=1e-12)


def test_hand_worked_example():
    # fractured: -3.0, -2.0, -2.5 (mean -2.5, var 0.25); nonfractured: -1, -2, -1.5, -0.5
    # (mean -1.25, var 5/12); each level its own patient.
    f = [-3.0, -2.0, -2.5]
    nf = [-1.0, -2.0, -1.5, -0.5]
    d = _data([f"P{i}" for i in range(7)], f + nf, [True] * 3 + [False] * 4)
    r = level_tscore(d)
    fr = r.row("fractured")
    half = stats.t.ppf(0.975, 2) * 0.5 / math.sqrt(3)
    assert fr["estimate"] == pytest.approx(-2.5, rel=1e-12)
    assert fr["sd"] == pytest.approx(0.5, rel=1e-12)
    assert (fr["ci_low"], fr["ci_high"]) == pytest.approx((-2.5 - half, -2.5 + half), rel=1e-9)
    assert fr["n"] == 3
    assert fr["n_patients"] == 3
    # Welch by hand: se² = 0.25/3 + (5/12)/4; Welch–Satterthwaite df
    a, b = 0.25 / 3, (5 / 12) / 4
    se = math.sqrt(a + b)
    df = (a + b) ** 2 / (a**2 / 2 + b**2 / 3)
    diff = -2.5 - (-1.25)
    tcrit = stats.t.ppf(0.975, df)
    dr = r.row("difference")
    assert dr["estimate"] == pytest.approx(diff, rel=1e-12)
    assert dr["se"] == pytest.approx(se, rel=1e-12)
    assert dr["df"] == pytest.approx(df, rel=1e-9)
    assert (dr["ci_low"], dr["ci_high"]) == pytest.approx(
        (diff - tcrit * se, diff + tcrit * se), rel=1e-9
    )
    assert dr["p"] == pytest.approx(2 * stats.t.sf(abs(diff) / se, df), rel=1e-9)


def test_gee_with_single_level_clusters_is_ols_with_hc0():
    """One level per patient: exchangeable = independence, so the GEE coefficient is the
    difference of means and the robust SE is the HC0 sandwich of OLS, by hand."""
    rng = np.random.default_rng(1)
    t = np.round(rng.normal(-2.2, 1.0, 40), 1)
    fr = np.arange(40) < 12
    r = level_tscore(_data([f"P{i}" for i in range(40)], t, fr))
    g = r.row("difference_gee")
    diff = t[fr].mean() - t[~fr].mean()
    hc0 = math.sqrt(
        ((t[fr] - t[fr].mean()) ** 2).sum() / fr.sum() ** 2
        + ((t[~fr] - t[~fr].mean()) ** 2).sum() / (~fr).sum() ** 2
    )
    assert g["estimate"] == pytest.approx(diff, rel=1e-6)
    assert g["se"] == pytest.approx(hc0, rel=1e-6)
    z = stats.norm.ppf(0.975)
    assert (g["ci_low"], g["ci_high"]) == pytest.approx((diff - z * hc0, diff + z * hc0), rel=1e-6)
    assert g["p"] == pytest.approx(2 * stats.norm.sf(abs(diff) / hc0), rel=1e-6)


def test_gee_exchangeable_sandwich_by_hand(example_data):
    """The robust SE of the clustered Gaussian GEE equals a hand-coded sandwich
    (bread Σ X'V⁻¹X, meat Σ X'V⁻¹ r r' V⁻¹ X, V = exchangeable R(α)) at the
    reported estimates, and the estimating equations vanish there."""
    r = level_tscore(example_data)
    ls = example_data.level_set
    y = ls["tscore"].to_numpy(float)
    X = np.column_stack([np.ones(len(ls)), ls["subsequent_fracture"].to_numpy(float)])
    beta = np.array([r.meta["gee_intercept"], r.value("difference_gee")])
    a = r.meta["gee_working_correlation"]
    bread = np.zeros((2, 2))
    meat = np.zeros((2, 2))
    score = np.zeros(2)
    for idx in ls.groupby("patient_id", sort=False).indices.values():
        Xi, ri = X[idx], y[idx] - X[idx] @ beta
        R = np.full((len(idx), len(idx)), a)
        np.fill_diagonal(R, 1.0)
        Vi = np.linalg.inv(R)
        bread += Xi.T @ Vi @ Xi
        s = Xi.T @ Vi @ ri
        meat += np.outer(s, s)
        score += s
    cov = np.linalg.inv(bread) @ meat @ np.linalg.inv(bread)
    assert r.value("difference_gee", "se") == pytest.approx(math.sqrt(cov[1, 1]), rel=1e-6)
    assert np.abs(score).max() < 1e-6


def test_welch_matches_scipy(example_data):
    r = level_tscore(example_data)
    ls = example_data.level_set
    f = ls.loc[ls["subsequent_fracture"], "tscore"]
    nf = ls.loc[~ls["subsequent_fracture"], "tscore"]
    res = stats.ttest_ind(f, nf, equal_var=False)
    assert r.value("difference", "p") == pytest.approx(res.pvalue, rel=1e-9)
    assert r.value("difference") == pytest.approx(f.mean() - nf.mean(), rel=1e-12)
    assert r.row("difference")["n_patients"] == ls["patient_id"].nunique()


@pytest.mark.parametrize(
    ("case", "ids", "t", "fr"),
    [
        ("no fractured levels", ["a", "b", "c"], [-2.0, -1.0, -3.0], [False] * 3),
        ("all fractured", ["a", "b", "c"], [-2.0, -1.0, -3.0], [True] * 3),
        ("constant T-score", ["a", "b", "c", "d"], [-2.5] * 4, [True, True, False, False]),
        ("one patient", ["a", "a", "a"], [-2.0, -1.0, -3.0], [True, False, False]),
        ("empty", [], [], []),
        ("single levels", ["a", "b"], [-2.0, -1.0], [True, False]),
        ("five patients", list("abcde"), [-3.1, -2.0, -1.2, -2.7, -0.4], [1, 1, 0, 0, 0]),
    ],
)
def test_edge_cases_do_not_crash(case, ids, t, fr):
    r = level_tscore(_data(ids, t, fr))
    assert set(r.table["term"]) == {"fractured", "nonfractured", "difference", "difference_gee"}
    if case != "five patients":
        assert r.notes, case
    for term in ("difference", "difference_gee"):
        row = r.row(term)
        if np.isnan(row["p"]):
            assert np.isnan(row["ci_low"])
            assert np.isnan(row["ci_high"])
    r.to_dict()


def test_missing_outcome_or_tscore_rows_are_dropped():
    d = _data(["a", "b", "c", "d"], [-2.0, np.nan, -3.0, -1.0], [True, True, False, False])
    r = level_tscore(d)
    assert r.row("fractured")["n"] == 1
    assert r.row("nonfractured")["n"] == 2


def test_headline(example_data):
    r = level_tscore(example_data)
    print()
    for term in ("fractured", "nonfractured", "difference", "difference_gee"):
        row = r.row(term)
        print(
            f"{term:15s} {row['estimate']:.3f} ({row['ci_low']:.3f} to {row['ci_high']:.3f})"
            f" P={row['p']:.4f} n={row['n']} patients={row['n_patients']}"
        )
