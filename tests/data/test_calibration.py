"""The built-in example cohort regenerates the published abstract.

Every figure is recomputed here with independent tools (pandas, SciPy's t
distribution and ``fisher_exact``, statsmodels' ``Logit``), not with the
project's analysis code. The table of target versus achieved is printed
(``pytest -s`` shows it) and asserted: exact figures exactly (at the printed
precision), P values within ±0.005.
"""

from __future__ import annotations

import itertools
import math

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm
from scipy import stats

from tests.conftest import FIXTURES, SHARED_ABSTRACT

P_TOL = 0.005


def _t_ci(x: pd.Series) -> tuple[float, float, float]:
    m = float(x.mean())
    h = float(stats.t.ppf(0.975, x.size - 1) * x.std(ddof=1) / math.sqrt(x.size))
    return m, m - h, m + h


def _two_by_two(level_set: pd.DataFrame, cutoff: float) -> list[list[int]]:
    # T-scores are given to one decimal: compare in integer tenths, not floats.
    low = np.rint(level_set["tscore"] * 10).astype(int) <= round(cutoff * 10)
    frac = level_set["subsequent_fracture"]
    return [
        [int((low & frac).sum()), int((low & ~frac).sum())],
        [int((~low & frac).sum()), int((~low & ~frac).sum())],
    ]


def _mean_range(x: pd.Series) -> tuple[float, float, float]:
    return round(float(x.mean()), 1), float(x.min()), float(x.max())


def _cutoffs() -> list[float]:
    return [round(-1.5 - 0.1 * i, 1) for i in range(21)]


@pytest.fixture(scope="module")
def achieved(example_data) -> dict[str, object]:
    pf, ls = example_data.patients, example_data.level_set
    ref = pf[pf["refracture"]]
    out: dict[str, object] = {
        "patients": len(pf),
        "vp_patients": int((pf["procedure"] == "VP").sum()),
        "vp_levels": int(pf.loc[pf["procedure"] == "VP", "levels_treated"].sum()),
        "kp_patients": int((pf["procedure"] == "KP").sum()),
        "kp_levels": int(pf.loc[pf["procedure"] == "KP", "levels_treated"].sum()),
        "vp_percent": round(100 * (pf["procedure"] == "VP").mean(), 1),
        "kp_percent": round(100 * (pf["procedure"] == "KP").mean(), 1),
        "refracture": len(ref),
        "refracture_percent": round(100 * len(ref) / len(pf), 1),
        "adjacent": int(ref["adjacent_refracture"].sum()),
        "adjacent_percent": round(100 * ref["adjacent_refracture"].mean(), 1),
        "age": _mean_range(pf["age"]),
        "followup": _mean_range(pf["followup_months"]),
        "months": _mean_range(ref["months_to_refracture"]),
    }
    for label, frac in (("fractured", True), ("nonfractured", False)):
        m, lo, hi = _t_ci(ls.loc[ls["subsequent_fracture"] == frac, "tscore"])
        out[label] = (round(m, 3), round(lo, 3), round(hi, 3))
    fisher = {c: stats.fisher_exact(_two_by_two(ls, c)) for c in _cutoffs()}
    out["fisher_p"] = {c: r.pvalue for c, r in fisher.items()}
    out["odds"] = {c: r.statistic for c, r in fisher.items()}
    x = pd.DataFrame(
        {
            "age": pf["age"],
            "height_loss": pf["height_loss_max"],
            "male": (pf["sex"] == "M").astype(float),
            "kyphoplasty": (pf["procedure"] == "KP").astype(float),
            "tscore_min": pf["tscore_min_l1l4"],
        }
    )
    fit = sm.Logit(pf["refracture"].astype(float), sm.add_constant(x)).fit(disp=0)
    out["model_p"] = fit.pvalues.drop("const").to_dict()
    out["model_n"] = int(fit.nobs)
    return out


def test_fixture_copy_matches_shared() -> None:
    if not SHARED_ABSTRACT.exists():
        pytest.skip("shared/published-abstract.yaml is not beside this checkout")
    assert (FIXTURES / "published-abstract.yaml").read_bytes() == SHARED_ABSTRACT.read_bytes()


def test_calibration_report(published: dict, achieved: dict) -> None:
    pub = published
    c, pr, rf = pub["cohort"], pub["procedures"], pub["refracture"]
    lt, th, mv = (
        pub["level_specific_tscore"],
        pub["thresholds"],
        pub["multivariable"]["significant"],
    )
    first = th["first_significant_cutoff"]
    significant = [cut for cut, p in achieved["fisher_p"].items() if p < 0.05]
    odds = achieved["odds"]
    rows = [
        # (figure, target, achieved, exact?)
        ("patients", c["patients"], achieved["patients"], True),
        ("VP patients", pr["vertebroplasty"]["patients"], achieved["vp_patients"], True),
        ("VP %", pr["vertebroplasty"]["percent"], achieved["vp_percent"], True),
        ("VP levels", pr["vertebroplasty"]["levels"], achieved["vp_levels"], True),
        ("KP patients", pr["kyphoplasty"]["patients"], achieved["kp_patients"], True),
        ("KP %", pr["kyphoplasty"]["percent"], achieved["kp_percent"], True),
        ("KP levels", pr["kyphoplasty"]["levels"], achieved["kp_levels"], True),
        ("refracture patients", rf["patients"], achieved["refracture"], True),
        ("refracture %", rf["percent"], achieved["refracture_percent"], True),
        ("adjacent of refractures", rf["adjacent"]["n"], achieved["adjacent"], True),
        ("adjacent %", rf["adjacent"]["percent"], achieved["adjacent_percent"], True),
        (
            "age mean (min-max)",
            (c["age_years"]["mean"], c["age_years"]["min"], c["age_years"]["max"]),
            achieved["age"],
            True,
        ),
        (
            "follow-up mean (min-max)",
            (
                c["followup_months"]["mean"],
                c["followup_months"]["min"],
                c["followup_months"]["max"],
            ),
            achieved["followup"],
            True,
        ),
        (
            "months to refracture",
            (
                rf["months_to_refracture"]["mean"],
                rf["months_to_refracture"]["min"],
                rf["months_to_refracture"]["max"],
            ),
            achieved["months"],
            True,
        ),
        (
            "fractured T mean (CI)",
            (lt["fractured"]["mean"], *lt["fractured"]["ci95"]),
            achieved["fractured"],
            True,
        ),
        (
            "nonfractured T mean (CI)",
            (lt["nonfractured"]["mean"], *lt["nonfractured"]["ci95"]),
            achieved["nonfractured"],
            True,
        ),
        ("first significant cutoff", first, max(significant), True),
        (
            "Fisher P at first cutoff",
            th["p_value_at_first_significant"],
            achieved["fisher_p"][first],
            False,
        ),
        ("OR peak cutoff", th["odds_ratio_rises_to"], max(odds, key=odds.get), True),
        ("model P age", mv["age"]["p"], achieved["model_p"]["age"], False),
        (
            "model P height loss",
            mv["anterior_vertebral_height_loss_preop"]["p"],
            achieved["model_p"]["height_loss"],
            False,
        ),
    ]
    print("\nCalibration of the example cohort to the published abstract")
    print(f"{'figure':28} {'target':>28} {'achieved':>34}  ok")
    failures = []
    for name, target, got, exact in rows:
        if exact:
            ok = tuple(np.atleast_1d(target).tolist()) == tuple(np.atleast_1d(got).tolist())
        else:
            ok = abs(got - target) <= P_TOL
        shown = got if exact else round(got, 4)
        print(f"{name:28} {target!s:>28} {shown!s:>34}  {'yes' if ok else 'NO'}")
        if not ok:
            failures.append(name)
    for term in ("male", "kyphoplasty", "tscore_min"):
        p = achieved["model_p"][term]
        print(
            f"{'model P ' + term + ' (n.s.)':28} {'>= 0.05':>28} {round(p, 4)!s:>34}  "
            f"{'yes' if p >= 0.05 else 'NO'}"
        )
        if p < 0.05:
            failures.append(term)
    assert achieved["model_n"] == c["patients"]
    assert not failures, f"calibration misses: {failures}"


def test_odds_ratio_rises_to_the_peak_and_not_beyond(published: dict, achieved: dict) -> None:
    th = published["thresholds"]
    start, peak = th["odds_ratio_rises_from"], th["odds_ratio_rises_to"]
    odds = achieved["odds"]
    rising = [c for c in _cutoffs() if peak <= c <= start]
    assert all(odds[a] < odds[b] for a, b in itertools.pairwise(rising))
    assert all(odds[c] < odds[peak] for c in _cutoffs() if c < peak)


def test_every_cutoff_above_the_first_is_not_significant(published: dict, achieved: dict) -> None:
    first = published["thresholds"]["first_significant_cutoff"]
    assert all(p >= 0.05 for c, p in achieved["fisher_p"].items() if c > first)
