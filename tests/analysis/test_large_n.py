"""The large-cohort computations give the numbers of the patient-by-patient ones.

Large cohorts (thousands to millions of patients) take faster routes: logistic
models fitted to distinct rows with counts, separation certified on a subset,
lifelines' batch Cox fit with Harrell's C counted per distinct time. Here the
thresholds are lowered so that a simulated cohort of a few thousand patients takes
both routes, and the results are compared with each other and with independent
computations (statsmodels on the individual rows, a brute-force pair count).
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from firthmodels import detect_separation
from scipy.special import expit

from refracture.analysis import (
    fit_statistics,
    logistic,
    logistic_design,
    models,
    survival,
    survival_statistics,
)
from refracture.analysis.settings import AnalysisSettings
from refracture.data.derive import DerivedData, derive
from refracture.data.simulate import simulate
from refracture.data.validate import load_cohort


@pytest.fixture(scope="module")
def cohort(tmp_path_factory) -> DerivedData:
    folder = tmp_path_factory.mktemp("sim3000")
    simulate(seed=3, patients=3000).write(folder)
    c = load_cohort(folder)
    return derive(c.patients, c.levels)


def _numbers_agree(a: pd.DataFrame, b: pd.DataFrame, rel: float) -> None:
    assert list(a.columns) == list(b.columns)
    for c in a.columns:
        x, y = a[c], b[c]
        if x.dtype.kind == "f":
            xa, ya = x.to_numpy(float), y.to_numpy(float)
            assert np.array_equal(np.isnan(xa), np.isnan(ya)), c
            ok = ~np.isnan(xa)
            np.testing.assert_allclose(ya[ok], xa[ok], rtol=rel, atol=0, err_msg=c)
        else:
            assert x.tolist() == y.tolist(), c


# --------------------------------------------------------------------------- logistic


def test_group_rows_by_hand() -> None:
    X = np.array([[1.0, 0.0], [2.0, 1.0], [1.0, 0.0], [1.0, 0.0], [2.0, 1.0]])
    y = np.array([1.0, 0.0, 1.0, 0.0, 0.0])
    g = logistic_design.group_rows(X, y)
    rows = {(*x, yy): w for x, yy, w in zip(g.X.tolist(), g.y.tolist(), g.w.tolist(), strict=True)}
    assert rows == {(1.0, 0.0, 0.0): 1, (1.0, 0.0, 1.0): 2, (2.0, 1.0, 0.0): 2}
    # every row maps back to its own distinct row
    np.testing.assert_array_equal(g.X[g.inverse], X)
    np.testing.assert_array_equal(g.y[g.inverse], y)


def test_weighted_profile_interval_equals_the_expanded_data() -> None:
    rng = np.random.default_rng(5)
    n = 400
    X = np.column_stack([np.ones(n), rng.integers(0, 4, n), rng.random(n) < 0.5])
    y = (rng.random(n) < expit(-1 + 0.4 * X[:, 1] + 0.7 * X[:, 2])).astype(float)
    import statsmodels.api as sm

    fit = sm.Logit(y, X).fit(disp=0, method="newton", tol=1e-12)
    g = logistic_design.group_rows(X[:, 1:], y)
    Xg = np.column_stack([np.ones(len(g.y)), g.X])
    assert len(g.y) < 20
    for j in (1, 2):
        plain = logistic.profile_interval(X, y, np.asarray(fit.params), np.asarray(fit.bse), j)
        weighted = logistic.profile_interval(
            Xg, g.y, np.asarray(fit.params), np.asarray(fit.bse), j, weights=g.w
        )
        assert weighted[3]
        assert plain[3]
        assert weighted[:3] == pytest.approx(plain[:3], rel=1e-9)


def test_grouped_ml_fit_equals_statsmodels_on_the_patients(cohort) -> None:
    """The Newton fit on distinct rows gives statsmodels Logit's estimates, SEs and P."""
    import statsmodels.api as sm

    d = logistic_design._design(cohort.patients, AnalysisSettings().model_covariates)
    assert len(d.grouped().y) < d.n_used
    fit = logistic._ml_fit_grouped(d)
    ref = sm.Logit(d.y, np.column_stack([np.ones(d.n_used), d.X])).fit(disp=0, method="newton")
    assert fit.converged
    np.testing.assert_allclose(fit.params, ref.params, rtol=1e-8)
    np.testing.assert_allclose(fit.bse, ref.bse, rtol=1e-8)
    np.testing.assert_allclose(fit.pvalues, ref.pvalues, rtol=1e-6)
    np.testing.assert_allclose(fit.fitted, ref.predict(), rtol=1e-8)
    assert fit.llf == pytest.approx(ref.llf, rel=1e-12)
    assert fit.llnull == pytest.approx(ref.llnull, rel=1e-12)


@pytest.mark.parametrize(
    "analysis", [models.univariable_models, models.multivariable_model, models.firth_model]
)
def test_grouped_models_equal_patient_by_patient(cohort, monkeypatch, analysis) -> None:
    monkeypatch.setattr(logistic_design, "GROUPED_FROM", 10**12)
    models._LAST_MULTI.clear()
    plain = analysis(cohort)
    monkeypatch.setattr(logistic_design, "GROUPED_FROM", 1000)
    models._LAST_MULTI.clear()
    grouped = analysis(cohort)
    assert "computation" in grouped.meta
    assert "computation" not in plain.meta
    _numbers_agree(plain.table, grouped.table, rel=1e-7)
    assert grouped.notes == plain.notes
    for key, value in plain.meta.items():
        if isinstance(value, float) and math.isfinite(value):
            assert grouped.meta[key] == pytest.approx(value, rel=1e-7), key
        else:
            assert grouped.meta[key] == value or (value != value), key


def test_vif_closed_form_equals_statsmodels(cohort) -> None:
    d = logistic_design._design(cohort.patients, AnalysisSettings().model_covariates)
    np.testing.assert_allclose(
        fit_statistics._vif(d.X, closed_form=True), fit_statistics._vif(d.X), rtol=1e-9
    )


def test_multivariable_fit_is_shared_with_firth_only_for_the_same_frame(example_data) -> None:
    models._LAST_MULTI.clear()
    models.multivariable_model(example_data)
    first = models._LAST_MULTI[2]
    models.firth_model(example_data)
    assert models._LAST_MULTI[2] is first  # reused
    copy = DerivedData(example_data.patients.copy(), example_data.levels, example_data.level_set)
    models.firth_model(copy)
    assert models._LAST_MULTI[2] is not first  # an equal frame is not the same frame


def _separated_data(n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    x = rng.normal(size=(n, 2))
    y = (x[:, 0] > 0.3).astype(int)  # x0 separates completely
    return x, y


@pytest.mark.parametrize("separated", [False, True])
def test_separation_check_equals_the_full_program(monkeypatch, separated) -> None:
    monkeypatch.setattr(logistic, "SEPARATION_SUBSET", 300)
    rng = np.random.default_rng(11)
    n = 5000
    if separated:
        X, y = _separated_data(n, rng)
    else:
        X = np.column_stack([rng.normal(size=n), rng.integers(0, 3, n)])
        y = (rng.random(n) < expit(-0.5 + X[:, 0])).astype(int)
    full = detect_separation(X, y, fit_intercept=True)
    fast = logistic.separation_check(X, y)
    assert fast.separation is full.separation is separated
    np.testing.assert_array_equal(fast.directions, full.directions)


def test_certificate_rows_include_both_classes_and_extremes() -> None:
    rng = np.random.default_rng(2)
    X = rng.normal(size=(10_000, 3))
    y = (rng.random(10_000) < 0.01).astype(int)
    pick = logistic._certificate_rows(X, y, 100)
    assert set(np.unique(y[pick])) == {0, 1}
    for cls in (0, 1):
        rows = np.flatnonzero(y == cls)
        for j in range(3):
            assert rows[np.argmax(X[rows, j])] in pick
            assert rows[np.argmin(X[rows, j])] in pick


# --------------------------------------------------------------------------- survival


def _brute_force_concordance(t, p, e) -> tuple[int, int, int]:
    """Harrell's pairs by their definition (lifelines' rules): an event at time s and
    a subject at a later time, or at the same time and censored."""
    correct = tied = pairs = 0
    for i in range(len(t)):
        if not e[i]:
            continue
        for j in range(len(t)):
            if t[j] > t[i] or (t[j] == t[i] and not e[j]):
                pairs += 1
                correct += p[j] > p[i]
                tied += p[j] == p[i]
    return int(correct), int(tied), int(pairs)


@pytest.mark.parametrize("seed", range(6))
def test_concordance_counts_by_definition_and_as_lifelines(seed) -> None:
    from lifelines.utils.concordance import _concordance_summary_statistics

    rng = np.random.default_rng(seed)
    n = int(rng.integers(1, 120))
    t = rng.integers(1, 9, n).astype(float) if seed % 2 else rng.random(n)
    p = rng.integers(0, 4, n).astype(float) if seed % 3 else rng.normal(size=n)
    e = rng.random(n) < 0.5
    counts = survival_statistics.concordance_counts(t, p, e)
    assert counts == _brute_force_concordance(t, p, e)
    assert counts == tuple(int(v) for v in _concordance_summary_statistics(t, p, e))


def test_concordance_counts_leaves_many_distinct_times_to_lifelines(monkeypatch) -> None:
    monkeypatch.setattr(survival_statistics, "CONCORDANCE_MAX_TIMES", 5)
    t = np.arange(10.0)
    assert survival_statistics.concordance_counts(t, t, np.ones(10, dtype=bool)) is None


def test_large_survival_equals_the_small_route(cohort, monkeypatch) -> None:
    settings = AnalysisSettings()
    monkeypatch.setattr(survival, "LARGE_N", 10**12)
    plain = survival.time_to_refracture(cohort, settings, -2.0)
    monkeypatch.setattr(survival, "LARGE_N", 1000)
    large = survival.time_to_refracture(cohort, settings, -2.0)
    assert large.meta["concordance_computation"]
    _numbers_agree(plain.table, large.table, rel=1e-9)
    assert large.notes == plain.notes


def test_thinned_curve_is_the_same_step_function(monkeypatch) -> None:
    rng = np.random.default_rng(4)
    n = 3000
    time = rng.exponential(30, n).round(3)
    event = rng.random(n) < 0.3
    _, full = survival_statistics.km_at_times(time, event, (0, 12), 0.05)
    monkeypatch.setattr(survival_statistics, "CURVE_POINTS", 100)
    _, thin = survival_statistics.km_at_times(time, event, (0, 12), 0.05)
    assert len(thin["time"]) < len(full["time"])
    assert thin["time"][0] == full["time"][0]
    assert thin["time"][-1] == full["time"][-1]
    x = np.asarray(full["time"])
    xt = np.asarray(thin["time"])
    at = np.searchsorted(xt, x, side="right") - 1  # the thin step function at every time
    for key in ("survival", "ci_low", "ci_high"):
        a = np.asarray(full[key], dtype=float)
        b = np.asarray(thin[key], dtype=float)[at]
        np.testing.assert_array_equal(a, b)
    assert len(thin["censor_times"]) <= 101
    assert "censor_times_rounded" in thin


def test_cox_partial_likelihood_gradient_is_zero_at_the_large_fit(cohort, monkeypatch) -> None:
    """Independent check of the batch-mode Cox fit: the Efron score vanishes there."""
    monkeypatch.setattr(survival, "LARGE_N", 1000)
    res = survival.time_to_refracture(cohort, AnalysisSettings(), None)
    t = res.table.set_index("term")
    beta = np.array([t.loc[f"cox:{v}", "coef"] for v in survival.COX_COVARIATES])
    pf = cohort.patients
    refr = pf["refracture"].to_numpy(bool)
    time = np.where(refr, pf["months_to_refracture"], pf["followup_months"]).astype(float)
    X = pf[list(survival.COX_COVARIATES)].to_numpy(float)
    ok = np.isfinite(X).all(axis=1)
    time, refr, X = time[ok], refr[ok], X[ok]
    X = X - X.mean(axis=0)
    phi = np.exp(X @ beta)
    score = np.zeros(X.shape[1])
    for u in np.unique(time[refr]):
        at_risk = time >= u
        dead = (time == u) & refr
        m = int(dead.sum())
        s0, s1 = phi[at_risk].sum(), (phi[at_risk, None] * X[at_risk]).sum(0)
        d0, d1 = phi[dead].sum(), (phi[dead, None] * X[dead]).sum(0)
        score += X[dead].sum(0)
        for k in range(m):
            score -= (s1 - k / m * d1) / (s0 - k / m * d0)
    # each term of the score is of the order of a covariate; hundreds of events
    assert np.abs(score).max() < 1e-6 * len(time)
