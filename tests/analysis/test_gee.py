"""Vertebra-level GEE (``level_gee``)."""

from __future__ import annotations

import math
from decimal import Decimal

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm
from scipy import stats
from scipy.special import expit

from refracture.analysis.gee import fit_gee, level_gee, tscore_at_or_below
from refracture.analysis.result import TIDY_COLUMNS
from refracture.data.derive import DerivedData

TERMS = {"continuous": "tscore_lower", "cutoff": "tscore_le_cutoff"}


def _data(ls: pd.DataFrame) -> DerivedData:
    return DerivedData(patients=pd.DataFrame(), levels=pd.DataFrame(), level_set=ls)


def _frame(pid, tscore, fractured, adjacent, age) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "patient_id": list(pid),
            "tscore": np.asarray(tscore, dtype="float64"),
            "subsequent_fracture": np.asarray(fractured, dtype=bool),
            "adjacent": np.asarray(adjacent, dtype=bool),
            "age": np.asarray(age, dtype="float64"),
        }
    )


def _synthetic(n: int, levels_per_patient: int = 1, seed: int = 3) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    pid = np.repeat([f"P{i}" for i in range(n)], levels_per_patient)
    m = pid.size
    t = np.round(rng.normal(-2.2, 1.0, m), 1)
    adj = rng.random(m) < 0.3
    age = np.repeat(rng.integers(55, 95, n), levels_per_patient).astype(float)
    eta = -9.0 - 0.8 * t + 0.5 * adj + 0.07 * age
    y = rng.random(m) < expit(eta)
    return _frame(pid, t, y, adj, age)


def _rows(r, model):
    return r.table.loc[r.table["model"] == model].set_index("term")


def _design(ls, model, cutoff=None):
    exposure = -ls["tscore"] if model == "continuous" else tscore_at_or_below(ls["tscore"], cutoff)
    return np.column_stack(
        [
            np.ones(len(ls)),
            np.asarray(exposure, dtype=float),
            ls["adjacent"].to_numpy(float),
            ls["age"].to_numpy(float),
        ]
    )


def _hc0_logit(X, y, beta):
    """Sandwich of independent observations, by hand: (X'WX)⁻¹ (Σ s s') (X'WX)⁻¹."""
    p = expit(X @ beta)
    bread = (X * (p * (1 - p))[:, None]).T @ X
    s = X * (y - p)[:, None]
    inv = np.linalg.inv(bread)
    return inv @ (s.T @ s) @ inv


def test_tidy_and_example_direction(example_data):
    r = level_gee(example_data, first_cutoff=-2.2)
    assert list(r.table.columns[: len(TIDY_COLUMNS)]) == list(TIDY_COLUMNS)
    assert list(r.table["model"]) == ["continuous"] * 3 + ["cutoff"] * 3
    assert list(r.table["term"]) == [
        "tscore_lower",
        "adjacent",
        "age",
        "tscore_le_cutoff",
        "adjacent",
        "age",
    ]
    cont = _rows(r, "continuous")
    # fractured levels have lower T-scores in the example: OR per 1 unit lower > 1
    assert cont.loc["tscore_lower", "estimate"] > 1
    assert (r.table["n"] == len(example_data.level_set)).all()
    assert (r.table["n_clusters"] == example_data.level_set["patient_id"].nunique()).all()
    assert (r.table["events"] == int(example_data.level_set["subsequent_fracture"].sum())).all()


def test_single_level_clusters_equal_logit_and_hc0_sandwich():
    """One level per patient: the exchangeable GEE reduces to independence, so the point
    estimates are the ML logistic estimates (statsmodels Logit) and the robust SEs are the
    HC0 sandwich computed by hand."""
    ls = _synthetic(300)
    r = level_gee(_data(ls), first_cutoff=Decimal("-2.2"))
    for model in ("continuous", "cutoff"):
        X = _design(ls, model, Decimal("-2.2"))
        y = ls["subsequent_fracture"].to_numpy(float)
        ml = sm.Logit(y, X).fit(disp=0, method="newton", tol=1e-12)
        rows = _rows(r, model)
        terms = [TERMS[model], "adjacent", "age"]
        assert rows.loc[terms, "coef"].to_numpy() == pytest.approx(ml.params[1:], rel=1e-6)
        cov = _hc0_logit(X, y, np.asarray(ml.params))
        assert rows.loc[terms, "se"].to_numpy() == pytest.approx(
            np.sqrt(np.diag(cov))[1:], rel=1e-5
        )


def test_independence_gee_equals_logit_with_clusters():
    ls = _synthetic(150, levels_per_patient=2)
    X = _design(ls, "continuous")
    y = ls["subsequent_fracture"].to_numpy(float)
    g = pd.factorize(ls["patient_id"])[0]
    fit = fit_gee(y, X[:, 1:], g, "binomial", working="independence")
    ml = sm.Logit(y, X).fit(disp=0, method="newton", tol=1e-12)
    assert fit.params == pytest.approx(np.asarray(ml.params), rel=1e-6)
    # cluster-robust sandwich by hand: meat sums scores within patients
    p = expit(X @ fit.params)
    s = X * (y - p)[:, None]
    s_cl = pd.DataFrame(s).groupby(g).sum().to_numpy()
    inv = np.linalg.inv((X * (p * (1 - p))[:, None]).T @ X)
    cov = inv @ (s_cl.T @ s_cl) @ inv
    assert fit.bse == pytest.approx(np.sqrt(np.diag(cov)), rel=1e-6)


@pytest.mark.parametrize("family", ["binomial", "gaussian"])
def test_fit_gee_matches_statsmodels(example_data, family):
    """The vectorised GEE equals statsmodels GEE (exchangeable, robust) on the example."""
    import warnings

    ls = example_data.level_set
    g = pd.factorize(ls["patient_id"])[0]
    if family == "binomial":
        X = _design(ls, "continuous")[:, 1:]
        y = ls["subsequent_fracture"].to_numpy(float)
        fam = sm.families.Binomial()
    else:
        X = ls["subsequent_fracture"].to_numpy(float)[:, None]
        y = ls["tscore"].to_numpy(float)
        fam = sm.families.Gaussian()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ref = sm.GEE(
            y, sm.add_constant(X), groups=g, family=fam, cov_struct=sm.cov_struct.Exchangeable()
        ).fit(maxiter=500, ctol=1e-12)
    fit = fit_gee(y, X, g, family)
    assert fit.converged
    assert fit.params == pytest.approx(np.asarray(ref.params), rel=1e-6)
    assert fit.bse == pytest.approx(np.asarray(ref.bse), rel=1e-6)
    assert fit.pvalues == pytest.approx(np.asarray(ref.pvalues), rel=1e-6)
    assert fit.dep_param == pytest.approx(float(ref.cov_struct.dep_params), rel=1e-6)
    assert fit.scale == pytest.approx(float(ref.scale), rel=1e-6)


@pytest.mark.parametrize("model", ["continuous", "cutoff"])
def test_exchangeable_sandwich_by_hand(example_data, model):
    """Robust SEs of the clustered exchangeable GEE equal the hand-coded sandwich
    (bread Σ D'V⁻¹D, meat Σ D'V⁻¹ r r' V⁻¹ D, V = A½R(α)A½) at the reported estimates,
    and the GEE estimating equations vanish there."""
    r = level_gee(example_data, first_cutoff=-2.2)
    ls = example_data.level_set
    rows = _rows(r, model)
    X = _design(ls, model, -2.2)
    y = ls["subsequent_fracture"].to_numpy(float)
    beta = np.r_[r.meta[f"intercept_{model}"], rows["coef"].to_numpy()]
    a = r.meta[f"alpha_{model}"]
    mu = expit(X @ beta)
    bread = np.zeros((4, 4))
    meat = np.zeros((4, 4))
    score = np.zeros(4)
    for idx in ls.groupby("patient_id", sort=False).indices.values():
        v = mu[idx] * (1 - mu[idx])
        R = np.full((len(idx), len(idx)), a)
        np.fill_diagonal(R, 1.0)
        Vinv = np.linalg.inv(np.sqrt(v)[:, None] * R * np.sqrt(v)[None, :])
        D = X[idx] * v[:, None]
        bread += D.T @ Vinv @ D
        si = D.T @ Vinv @ (y[idx] - mu[idx])
        meat += np.outer(si, si)
        score += si
    inv = np.linalg.inv(bread)
    se = np.sqrt(np.diag(inv @ meat @ inv))[1:]
    assert rows["se"].to_numpy() == pytest.approx(se, rel=1e-6)
    assert np.abs(score).max() < 1e-6
    z = stats.norm.ppf(0.975)
    assert rows["ci_low"].to_numpy() == pytest.approx(np.exp(beta[1:] - z * se), rel=1e-6)
    assert rows["p"].to_numpy() == pytest.approx(2 * stats.norm.sf(np.abs(beta[1:]) / se), rel=1e-6)


def test_continuous_or_is_per_unit_lower():
    ls = _synthetic(80, levels_per_patient=2, seed=5)
    r = level_gee(_data(ls), first_cutoff=None)
    X = _design(ls, "continuous")
    X[:, 1] = -X[:, 1]  # raw T-score
    g = pd.factorize(ls["patient_id"])[0]
    raw = fit_gee(ls["subsequent_fracture"].to_numpy(float), X[:, 1:], g, "binomial")
    assert r.value("tscore_lower", "coef") == pytest.approx(-raw.params[1], rel=1e-6)


def test_cutoff_in_exact_tenths():
    t = np.array([-2.2, -2.1, -2.3, -2.2 + 1e-12, -2.2 - 1e-12, 0.1 * -22, -1.0, np.nan])
    got = tscore_at_or_below(t, Decimal("-2.2"))
    assert got[:7].tolist() == [True, False, True, True, True, True, False]
    assert tscore_at_or_below([-2.2], -2.2).tolist() == [True]


def test_no_cutoff_note(example_data):
    r = level_gee(example_data, first_cutoff=None)
    assert set(r.table["model"]) == {"continuous"}
    assert any("cutoff" in n for n in r.notes)


def _edge(name: str, example: pd.DataFrame) -> pd.DataFrame:
    ls = example.copy()
    first = ls["patient_id"].iloc[0]
    if name == "no events":
        return ls.assign(subsequent_fracture=False)
    if name == "all events":
        return ls.assign(subsequent_fracture=True)
    if name == "one cluster":
        return ls.loc[ls["patient_id"] == first]
    if name == "constant T-score":
        return ls.assign(tscore=-2.5)
    if name == "separation":
        return ls.assign(subsequent_fracture=ls["adjacent"])
    if name == "five patients":
        keep = ls["patient_id"].drop_duplicates().iloc[:5]
        return ls.loc[ls["patient_id"].isin(keep)]
    if name == "empty":
        return ls.iloc[:0]
    raise AssertionError(name)


@pytest.mark.parametrize(
    "name",
    [
        "no events",
        "all events",
        "one cluster",
        "constant T-score",
        "separation",
        "five patients",
        "empty",
    ],
)
def test_edge_cases_do_not_crash(example_data, name):
    ls = _edge(name, example_data.level_set).reset_index(drop=True)
    r = level_gee(_data(ls), first_cutoff=-2.2)
    assert r.notes
    assert len(r.table) == 6
    if name == "constant T-score":
        assert r.value("tscore_lower") is None  # NaN: not estimable
        assert math.isfinite(r.table.loc[1, "estimate"])  # adjacent still estimated
    elif name != "five patients":
        assert r.table["estimate"].isna().all()
    r.to_dict()


def test_headline(example_data, published):
    cutoff = published["thresholds"]["first_significant_cutoff"]
    r = level_gee(example_data, first_cutoff=cutoff)
    print()
    for _, row in r.table.iterrows():
        print(
            f"{row['model']:10s} {row['term']:16s} OR {row['estimate']:.3f} "
            f"({row['ci_low']:.3f} to {row['ci_high']:.3f}) P={row['p']:.4f} "
            f"levels={row['n']} patients={row['n_clusters']}"
        )


def test_perfect_fit_is_not_estimable_rather_than_a_crash() -> None:
    """Residuals all zero (found by the property test): the working correlation is
    undefined, so the fit says so instead of dividing by zero."""
    import numpy as np

    from refracture.analysis.gee import fit_gee

    t = np.array([-2.0, -2.0, -3.0, -3.0, -2.0, -3.0])
    group = np.array([0.0, 0.0, 1.0, 1.0, 0.0, 1.0])  # t is exactly linear in group
    fit = fit_gee(t, group[:, None], np.array([0, 0, 1, 1, 2, 2]), "gaussian")
    assert not fit.ok
    assert any("working correlation" in note for note in fit.notes)
    assert not any("nan" in note for note in fit.notes)
