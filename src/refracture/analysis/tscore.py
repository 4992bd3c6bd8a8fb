"""Level-specific T-score of fractured versus nonfractured levels.

Unit: a level of the level-specific analysis set (an untreated level with a DXA
T-score). Fractured levels are those with a subsequent fracture.

* Group means with t-based 95 % CIs (``mean ± t_{n−1} · sd/√n``).
* The difference (fractured − nonfractured) with Welch's t-test and its
  Welch–Satterthwaite CI (``scipy.stats.ttest_ind(equal_var=False)``); this treats
  levels as independent.
* The same difference from a Gaussian GEE (``tscore ~ fractured``, exchangeable
  working correlation within patients, robust SE, normal-theory CI), which
  respects the clustering of levels within patients.
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import pandas as pd

from refracture.analysis.gee import fit_gee
from refracture.analysis.result import Result, tidy_row
from refracture.analysis.settings import AnalysisSettings
from refracture.data.derive import DerivedData

__all__ = ["level_tscore"]

DEFAULT_SETTINGS = AnalysisSettings()


def _row(term: str, **values: object) -> dict[str, object]:
    defaults = {"sd": np.nan, "se": np.nan, "df": np.nan, "n_patients": 0, "method": ""}
    return tidy_row(term, **{**defaults, **values})


def _group(term: str, x: np.ndarray, patients: int, alpha: float) -> tuple[dict, list[str]]:
    from scipy.stats import t as t_dist

    n = int(x.size)
    if n == 0:
        return _row(term, method="mean, t-based CI"), [f"No {term} levels."]
    mean = float(x.mean())
    if n < 2:
        row = _row(term, estimate=mean, n=n, n_patients=patients, method="mean, t-based CI")
        return row, [f"Only one {term} level: its SD and CI are not estimable."]
    sd = float(x.std(ddof=1))
    se = sd / math.sqrt(n)
    half = float(t_dist.ppf(1.0 - alpha / 2.0, n - 1)) * se
    row = _row(
        term,
        estimate=mean,
        ci_low=mean - half,
        ci_high=mean + half,
        n=n,
        sd=sd,
        se=se,
        df=float(n - 1),
        n_patients=patients,
        method="mean, t-based CI",
    )
    return row, []


def _welch(xf: np.ndarray, xn: np.ndarray, patients: int, alpha: float) -> tuple[dict, list[str]]:
    from scipy.stats import ttest_ind

    base = {"n": int(xf.size + xn.size), "n_patients": patients, "method": "Welch t-test"}
    if xf.size < 2 or xn.size < 2:
        return _row("difference", **base), [
            "The Welch difference needs at least two levels in each group; not estimable."
        ]
    v = xf.var(ddof=1) / xf.size + xn.var(ddof=1) / xn.size
    if not v > 0:
        return _row("difference", estimate=float(xf.mean() - xn.mean()), **base), [
            "The T-score does not vary within either group; the Welch test is not estimable."
        ]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = ttest_ind(xf, xn, equal_var=False)
        ci = res.confidence_interval(confidence_level=1.0 - alpha)
    row = _row(
        "difference",
        estimate=float(xf.mean() - xn.mean()),
        ci_low=float(ci.low),
        ci_high=float(ci.high),
        p=float(res.pvalue),
        se=math.sqrt(v),
        df=float(res.df),
        **base,
    )
    return row, []


def _gee(
    t: np.ndarray, fractured: np.ndarray, pid: pd.Series, alpha: float
) -> tuple[dict, list[str], tuple[float, float]]:
    from scipy.stats import norm

    groups = pd.factorize(pid)[0]
    n, clusters = int(t.size), _distinct(groups)
    base = {
        "n": n,
        "n_patients": clusters,
        "method": "GEE (Gaussian, exchangeable, robust SE)",
    }
    problem = None
    if fractured.sum() == 0 or fractured.sum() == n:
        problem = "only one group of levels"
    elif clusters < 3:
        problem = f"{clusters} patient(s) are too few for robust standard errors"
    elif min(_distinct(groups[fractured]), _distinct(groups[~fractured])) < 2:
        # the group coefficient's sandwich variance rests on a single cluster: degenerate
        problem = "one group of levels comes from a single patient"
    elif np.all(t == t[0]):
        problem = "the T-score is constant"
    if problem:
        return (
            _row("difference_gee", **base),
            [f"GEE difference not estimable: {problem}."],
            (np.nan, np.nan),
        )
    fit = fit_gee(t, fractured.astype("float64")[:, None], groups, "gaussian")
    notes = [f"GEE difference: {m}" for m in fit.notes]
    if not fit.ok or not np.isfinite(fit.bse[1]):
        return (
            _row("difference_gee", **base),
            [*notes, "GEE difference not estimable."],
            (np.nan, np.nan),
        )
    b, se = float(fit.params[1]), float(fit.bse[1])
    z = float(norm.ppf(1.0 - alpha / 2.0))
    row = _row(
        "difference_gee",
        estimate=b,
        ci_low=b - z * se,
        ci_high=b + z * se,
        p=float(fit.pvalues[1]),
        se=se,
        **base,
    )
    return row, notes, (fit.dep_param, float(fit.params[0]))


def _distinct(codes: np.ndarray) -> int:
    """Number of distinct non-negative integer codes (one counting pass)."""
    codes = codes[codes >= 0]
    return int(np.count_nonzero(np.bincount(codes))) if codes.size else 0


def _value_counts(x: np.ndarray) -> list[list[float]]:
    """``[[value, count], …]`` of the distinct values (rounded to 6 decimals), ascending."""
    counts = pd.Series(np.round(x, 6)).value_counts(sort=False).sort_index()
    return [[float(v), int(c)] for v, c in zip(counts.index, counts.to_numpy(), strict=True)]


def level_tscore(data: DerivedData, settings: AnalysisSettings = DEFAULT_SETTINGS) -> Result:
    """Mean level T-score of fractured vs nonfractured levels, and their difference.

    Table rows: ``fractured`` and ``nonfractured`` (``estimate`` = mean T-score,
    t-based CI, ``n`` levels, ``sd``, ``se``, ``df``, ``n_patients``);
    ``difference`` (fractured − nonfractured; Welch CI and P, ``df`` Welch–
    Satterthwaite); ``difference_gee`` (Gaussian GEE coefficient of fractured,
    exchangeable within patient, robust SE, normal CI and Wald P). ``method``
    names the method of each row.
    """
    ls = data.level_set
    t_all = pd.to_numeric(ls["tscore"]).to_numpy(dtype="float64")
    f_all = ls["subsequent_fracture"].astype("boolean").to_numpy(dtype=bool, na_value=False)
    ok = np.isfinite(t_all) & ls["subsequent_fracture"].notna().to_numpy()
    t, fractured, pid = t_all[ok], f_all[ok], ls["patient_id"][ok]
    codes = pd.factorize(pid)[0]  # -1 for a missing id, which nunique() leaves out
    notes: list[str] = []
    alpha = settings.alpha
    rows = []
    for term, mask in (("fractured", fractured), ("nonfractured", ~fractured)):
        row, more = _group(term, t[mask], _distinct(codes[mask]), alpha)
        rows.append(row)
        notes += more
    patients = _distinct(codes)
    row, more = _welch(t[fractured], t[~fractured], patients, alpha)
    rows.append(row)
    notes += more
    row, more, (rho, intercept) = _gee(t, fractured, pid, alpha)
    rows.append(row)
    notes += more
    table = pd.DataFrame(rows)
    for c in ("n", "n_patients"):
        table[c] = table[c].astype("int64")
    meta = {
        "unit": "untreated vertebral level with a DXA T-score",
        "difference": "fractured minus nonfractured",
        "ci_method_groups": "t distribution, n − 1 df",
        "ci_method_difference": "Welch–Satterthwaite t",
        "gee": "Gaussian GEE tscore ~ fractured, exchangeable working correlation within "
        "patient, robust (sandwich) SE, normal-theory CI",
        "gee_working_correlation": rho,
        "gee_intercept": intercept,
        "alpha": alpha,
        "value_counts": {
            "fractured": _value_counts(t[fractured]),
            "nonfractured": _value_counts(t[~fractured]),
        },
        "value_counts_note": "distinct T-scores with their number of levels, for plotting",
    }
    return Result("level_tscore", table, tuple(dict.fromkeys(notes)), meta)
