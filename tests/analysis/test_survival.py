"""Time to refracture: KM against a hand-worked example and statsmodels'
SurvfuncRight, log-rank against statsmodels' survdiff, Cox (Efron ties) against
statsmodels' PHReg(ties="efron")."""

from __future__ import annotations

import dataclasses
import json
import math
from decimal import Decimal

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from refracture.analysis.settings import AnalysisSettings
from refracture.analysis.survival import COX_COVARIATES, time_to_refracture
from refracture.analysis.survival_statistics import km_at_times, schoenfeld_residuals, tscore_le
from refracture.data.derive import DerivedData, derive
from refracture.data.simulate import simulate
from refracture.data.validate import load_cohort

REL = 1e-6
CUT = -2.2
Z = float(stats.norm.ppf(0.975))


def _time_event(pf: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    refr = pf["refracture"].astype(bool).to_numpy()
    t = np.where(refr, pf["months_to_refracture"], pf["followup_months"]).astype(float)
    return t, refr


def _with(data: DerivedData, **columns) -> DerivedData:
    return dataclasses.replace(data, patients=data.patients.assign(**columns))


def _loglog_ci(s: np.ndarray, se: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Exponential Greenwood: log(−log S) ± z·se(S)/(S·|log S|), back-transformed."""
    c = Z * se / (s * np.abs(np.log(s)))
    return s ** np.exp(c), s ** np.exp(-c)


@pytest.fixture(scope="module")
def surv(example_data: DerivedData):
    return time_to_refracture(example_data, first_cutoff=CUT)


# --- Kaplan–Meier ---------------------------------------------------------------------------


def test_km_hand_worked_example() -> None:
    # times 1, 2, 2+, 3, 4+, 5 (+ = censored); product-limit S(t) = Π (1 − d/n):
    #   t=1: n=6, d=1 -> S = 5/6                      = 0.833333
    #   t=2: n=5, d=1 (the censoring at 2 leaves after the event) -> S = 5/6 · 4/5 = 2/3
    #   t=3: n=3, d=1 -> S = 2/3 · 2/3 = 4/9          = 0.444444
    #   t=4: censored only -> S stays 4/9
    #   t=5: n=1, d=1 -> S = 0 (and stays 0 after the last time)
    # Greenwood Σ d/(n(n−d)) at t=3: 1/30 + 1/20 + 1/6 = 1/4
    # at risk (time ≥ t): t=0: 6, 1: 6, 2: 5, 3: 3, 4: 2, 5: 1, 6: 0
    t = np.array([1, 2, 2, 3, 4, 5], dtype=float)
    e = np.array([1, 1, 0, 1, 0, 1], dtype=bool)
    at, curve = km_at_times(t, e, (0, 1, 2, 3, 4, 5, 6), 0.05)
    np.testing.assert_allclose(
        at["survival"], [1, 5 / 6, 2 / 3, 4 / 9, 4 / 9, 0, 0], rtol=REL, atol=1e-12
    )
    assert at["at_risk"].tolist() == [6, 6, 5, 3, 2, 1, 0]
    assert at["events"].tolist() == [0, 1, 2, 3, 3, 4, 4]
    assert at["censored"].tolist() == [0, 0, 1, 1, 2, 2, 2]
    s3 = 4 / 9
    lo, hi = _loglog_ci(np.array([s3]), np.array([s3 * math.sqrt(0.25)]))
    row = at.iloc[3]
    assert row["ci_low"] == pytest.approx(lo[0], rel=REL)
    assert row["ci_high"] == pytest.approx(hi[0], rel=REL)
    # S = 1 and S = 0: the log(-log) interval is undefined -> NaN
    assert at["ci_low"].iloc[[0, 5, 6]].isna().all()
    assert curve["time"] == [0, 1, 2, 3, 4, 5]
    assert curve["censor_times"] == [2, 4]


def test_km_beyond_last_censored_time_is_missing() -> None:
    t = np.array([1.0, 2.0, 3.0])
    e = np.array([True, False, False])
    at, _ = km_at_times(t, e, (2, 3, 4), 0.05)
    assert at["survival"].iloc[:2].tolist() == pytest.approx([2 / 3, 2 / 3])
    assert math.isnan(at["survival"].iloc[2])
    assert at["beyond"].iloc[2]


def test_km_against_statsmodels(example_data: DerivedData) -> None:
    from statsmodels.duration.survfunc import SurvfuncRight

    t, e = _time_event(example_data.patients)
    sf = SurvfuncRight(t, e.astype(int))
    at, _ = km_at_times(t, e, list(sf.surv_times), 0.05)
    np.testing.assert_allclose(at["survival"], sf.surv_prob, rtol=REL)
    lo, hi = _loglog_ci(sf.surv_prob, sf.surv_prob_se)
    ok = at["survival"].to_numpy() > 0
    np.testing.assert_allclose(at["ci_low"][ok], lo[ok], rtol=REL)
    np.testing.assert_allclose(at["ci_high"][ok], hi[ok], rtol=REL)
    np.testing.assert_array_equal(at["at_risk"], sf.n_risk)


def test_overall_rows(surv, example_data: DerivedData) -> None:
    s = AnalysisSettings()
    tb = surv.table
    assert list(tb.columns[:6]) == ["term", "estimate", "ci_low", "ci_high", "p", "n"]
    assert tb["term"].is_unique
    assert set(tb["section"]) == {
        "km_overall",
        "km_group",
        "cumulative_incidence",
        "logrank",
        "cox",
        "ph_test",
    }
    km = tb.loc[tb["section"] == "km_overall"]
    assert km["time"].tolist() == [float(x) for x in s.km_times]
    t, e = _time_event(example_data.patients)
    for _, row in km.iterrows():
        assert row["at_risk"] == (t >= row["time"]).sum()
        assert row["events"] == (e & (t <= row["time"])).sum()
    for x in s.cumulative_incidence_times:
        ci = surv.row(f"cumulative_incidence:{x}")
        k = surv.row(f"km_overall:{x}")
        assert ci["estimate"] == pytest.approx(1 - k["estimate"], rel=REL)
        assert ci["ci_low"] == pytest.approx(1 - k["ci_high"], rel=REL)
        assert ci["ci_high"] == pytest.approx(1 - k["ci_low"], rel=REL)
    assert surv.row("km_overall:0")["estimate"] == 1.0
    assert "Greenwood" in surv.meta["km_ci"]


def test_groups_and_logrank_against_statsmodels(surv, example_data: DerivedData) -> None:
    from statsmodels.duration.survfunc import SurvfuncRight, survdiff

    pf = example_data.patients
    t, e = _time_event(pf)
    le = (pf["tscore_min_l1l4"] <= CUT + 1e-9).to_numpy()
    chisq, p = survdiff(t, e.astype(int), le.astype(int))
    lr = surv.row("logrank")
    assert lr["estimate"] == pytest.approx(chisq, rel=REL)
    assert lr["p"] == pytest.approx(p, rel=REL)
    assert lr["n"] == len(pf)
    assert surv.meta["group_n"] == {"le": int(le.sum()), "gt": int((~le).sum())}
    for key, m in (("le", le), ("gt", ~le)):
        sf = SurvfuncRight(t[m], e[m].astype(int))
        for x in (12, 24):
            row = surv.row(f"km_group:{key}:{x}")
            i = np.searchsorted(sf.surv_times, x, side="right") - 1
            assert row["estimate"] == pytest.approx(sf.surv_prob[i], rel=REL)
            assert row["at_risk"] == (t[m] >= x).sum()
            assert row["n"] == m.sum()


def test_curves_in_meta(surv) -> None:
    curves = surv.meta["curves"]
    assert set(curves) == {"overall", "le", "gt"}
    for c in curves.values():
        assert len(c["time"]) == len(c["survival"]) == len(c["ci_low"]) == len(c["ci_high"])
        assert c["survival"][0] == 1.0
        assert all(a >= b for a, b in zip(c["survival"], c["survival"][1:], strict=False))
    assert curves["le"]["n"] + curves["gt"]["n"] == curves["overall"]["n"]
    json.dumps(surv.to_dict(), allow_nan=False)


# --- Cox and proportional hazards -------------------------------------------------------------


def test_cox_against_statsmodels_phreg_efron(surv, example_data: DerivedData) -> None:
    from statsmodels.duration.hazard_regression import PHReg

    pf = example_data.patients
    t, e = _time_event(pf)
    fit = PHReg(t, pf[list(COX_COVARIATES)].to_numpy(float), status=e.astype(int), ties="efron")
    res = fit.fit()
    for i, v in enumerate(COX_COVARIATES):
        row = surv.row(f"cox:{v}")
        assert row["coef"] == pytest.approx(res.params[i], rel=REL)
        assert row["se"] == pytest.approx(res.bse[i], rel=REL)
        assert row["estimate"] == pytest.approx(math.exp(res.params[i]), rel=REL)
        assert row["ci_low"] == pytest.approx(math.exp(res.params[i] - Z * res.bse[i]), rel=REL)
        assert row["ci_high"] == pytest.approx(math.exp(res.params[i] + Z * res.bse[i]), rel=REL)
        assert row["p"] == pytest.approx(res.pvalues[i], rel=REL)
        assert row["n"] == len(pf)
        assert row["events"] == e.sum()
    assert 0.5 < surv.value("cox:concordance") <= 1.0
    # likelihood-ratio test: 2 (llf − llnull), χ² with 3 df
    llnull = fit.loglike(np.zeros(len(COX_COVARIATES)))
    lr = 2 * (res.llf - llnull)
    assert surv.value("cox:likelihood_ratio") == pytest.approx(lr, rel=1e-5)
    assert surv.meta["cox_ties"].startswith("Efron")


def test_ph_test(surv, example_data: DerivedData) -> None:
    """Per-covariate statistics are lifelines'; the global statistic re-derived from
    the *scaled* Schoenfeld residuals: T = (gᵀS) V⁻¹ (gᵀS)ᵀ / (d Σg²)."""
    from lifelines import CoxPHFitter
    from lifelines.statistics import proportional_hazard_test

    pf = example_data.patients
    t, e = _time_event(pf)
    df = pf[list(COX_COVARIATES)].assign(time=t, event=e)
    cph = CoxPHFitter().fit(df, "time", "event", fit_options={"precision": 1e-10})
    ph = proportional_hazard_test(cph, df, time_transform="rank").summary
    for v in COX_COVARIATES:
        row = surv.row(f"ph_test:{v}")
        assert row["estimate"] == pytest.approx(ph.loc[v, "test_statistic"], rel=1e-5)
        assert row["p"] == pytest.approx(ph.loc[v, "p"], rel=1e-5)
    scaled = cph.compute_residuals(df, kind="scaled_schoenfeld").to_numpy()
    ev = np.asarray(cph.event_observed, dtype=bool)
    g = np.cumsum(ev)[ev].astype(float)
    g -= g.mean()
    u = g @ scaled
    d = ev.sum()
    stat = u @ np.linalg.inv(cph.variance_matrix_.to_numpy()) @ u / (d * (g**2).sum())
    glob = surv.row("ph_test:global")
    assert glob["estimate"] == pytest.approx(stat, rel=1e-5)
    assert glob["p"] == pytest.approx(stats.chi2.sf(stat, 3), rel=1e-5)
    assert glob["df"] == 3


@pytest.mark.parametrize("ties", [True, False])
def test_schoenfeld_residuals_equal_lifelines(ties: bool) -> None:
    """The vectorised residuals equal lifelines' own (quadratic-time) computation."""
    from lifelines import CoxPHFitter

    rng = np.random.default_rng(7)
    n = 250
    df = pd.DataFrame({"a": rng.normal(size=n), "b": rng.integers(0, 3, n).astype(float)})
    t = rng.exponential(10, n)
    df["time"] = np.ceil(t) if ties else t
    df["event"] = rng.random(n) < 0.6
    cph = CoxPHFitter().fit(df, "time", "event")
    ref = cph.compute_residuals(df, kind="schoenfeld")
    mine = schoenfeld_residuals(cph, df, ["a", "b"])
    assert mine.index.equals(ref.index)
    np.testing.assert_allclose(mine.to_numpy(), ref.to_numpy(), rtol=1e-9, atol=1e-12)


def test_ph_global_equals_single_covariate(example_data: DerivedData) -> None:
    n = len(example_data.patients)
    d = _with(example_data, height_loss_max=40.0, tscore_min_l1l4=-2.5)
    r = time_to_refracture(d, first_cutoff=None)
    assert r.value("ph_test:global") == pytest.approx(r.value("ph_test:age"), rel=1e-9)
    assert math.isnan(r.row("cox:height_loss_max")["estimate"])
    assert any("height_loss_max has no variation" in s for s in r.notes)
    assert r.row("cox:age")["n"] == n


# --- exact cutoff -----------------------------------------------------------------------------


def test_tscore_le_exact_decimals() -> None:
    t = np.array([-2.2, -2.2000000000000002, 0.1 - 2.3, -2.15, -2.25, -2.19, np.nan])
    expected = [True, True, True, False, True, False, False]
    assert tscore_le(t, Decimal("-2.2")).tolist() == expected
    assert tscore_le(t, -2.2).tolist() == expected
    assert tscore_le(t, "-2.2").tolist() == expected


# --- edge cases -------------------------------------------------------------------------------


def test_no_events(example_data: DerivedData) -> None:
    r = time_to_refracture(_with(example_data, refracture=False), first_cutoff=CUT)
    km = r.table.loc[r.table["section"] == "km_overall"]
    assert (km["estimate"].dropna() == 1.0).all()
    assert km["ci_low"].isna().all()
    assert math.isnan(r.value("logrank", "p") or math.nan)
    assert r.table.loc[r.table["section"] == "cox", "estimate"].isna().all()
    assert any("no event" in n.lower() for n in r.notes)
    json.dumps(r.to_dict(), allow_nan=False)


def test_all_events(example_data: DerivedData) -> None:
    pf = example_data.patients
    d = _with(
        example_data,
        refracture=True,
        months_to_refracture=pf["months_to_refracture"].fillna(pf["followup_months"]),
    )
    r = time_to_refracture(d, first_cutoff=CUT)
    assert any("Every patient" in n for n in r.notes)
    assert r.meta["events"] == len(pf)
    assert np.isfinite(r.table.loc[r.table["section"] == "cox", "estimate"]).all()
    assert r.value("logrank", "p") is not None


def test_one_group_empty(example_data: DerivedData) -> None:
    r = time_to_refracture(example_data, first_cutoff=-9.0)
    assert math.isnan(r.row("logrank")["p"])
    assert r.table.loc[r.table["group"] == "le", "estimate"].isna().all()
    assert any("is empty" in n for n in r.notes)
    assert set(r.meta["curves"]) == {"overall", "gt"}


def test_missing_tscore_and_covariates(example_data: DerivedData) -> None:
    pf = example_data.patients
    keep = pf.index % 3 != 0
    r = time_to_refracture(
        _with(example_data, tscore_min_l1l4=pf["tscore_min_l1l4"].where(keep)), first_cutoff=CUT
    )
    assert r.meta["group_excluded_no_tscore"] == (~keep).sum()
    assert r.row("logrank")["n"] == keep.sum()
    assert r.row("cox:age")["n"] == keep.sum() == r.meta["cox_n"]
    assert any(f"N = {keep.sum()}" in n for n in r.notes)


def test_complete_separation_is_not_reported_as_numbers(example_data: DerivedData) -> None:
    d = dataclasses.replace(
        example_data, patients=example_data.patients.iloc[[0, 1, 2, 5, 13]].reset_index()
    )
    r = time_to_refracture(d, first_cutoff=CUT)
    cox = r.table.loc[r.table["term"].str.startswith("cox:")]
    assert cox["estimate"].isna().all()
    assert any("not estimable" in n for n in r.notes)


def test_five_patient_cohort(tmp_path) -> None:
    simulate(seed=3, patients=5).write(tmp_path)
    c = load_cohort(tmp_path)
    r = time_to_refracture(derive(c.patients, c.levels), first_cutoff=CUT)
    assert r.table["term"].is_unique
    json.dumps(r.to_dict(), allow_nan=False)


def test_single_patient_and_no_cutoff(example_data: DerivedData) -> None:
    d = dataclasses.replace(example_data, patients=example_data.patients.iloc[[0]])
    r = time_to_refracture(d, first_cutoff=None)
    assert "logrank" not in set(r.table["term"])
    assert r.table.loc[r.table["section"] == "cox", "estimate"].isna().all()
    assert any("No T-score cutoff" in n for n in r.notes)


def test_example_headline(surv) -> None:
    cols = ["term", "estimate", "ci_low", "ci_high", "p", "n", "at_risk", "events"]
    print("\nTime to refracture (example cohort, T ≤ −2.2 vs >):")
    print(surv.table[cols].to_string(index=False))
    print("notes:", surv.notes)
    assert surv.meta["events"] == 16
