"""Adjacent versus remote subsequent fractures.

A fractured level is *adjacent* when it lies directly above or below a level
treated in the same patient (``levels.adjacent`` from
:mod:`refracture.data.derive`), *remote* otherwise. A patient has an adjacent
refracture when any of their fractured levels is adjacent
(``patients.adjacent_refracture``).

Methods: shares with Wilson score (1 − alpha) intervals
(``statsmodels.stats.proportion.proportion_confint(method="wilson")``); months
to fracture compared between adjacent and remote levels with the two-sided
Mann–Whitney U test (``scipy.stats.mannwhitneyu``): exact distribution when the
smaller group has at most 8 levels and there are no ties, otherwise the normal
approximation with tie and continuity correction (SciPy's documented ``auto``
rule, applied explicitly so the method used is reported). Levels of one patient
are treated as independent.
"""

from __future__ import annotations

import math
import warnings
from typing import Any

import numpy as np
import pandas as pd

from refracture.analysis.result import Result, tidy_row
from refracture.analysis.settings import AnalysisSettings
from refracture.data.derive import DerivedData

__all__ = ["adjacent_vs_remote"]

_DEFAULT_SETTINGS = AnalysisSettings()

_EXTRA = (
    "unit",
    "percent",
    "percent_ci_low",
    "percent_ci_high",
    "sd",
    "median",
    "min",
    "max",
    "statistic",
    "method",
)


def _row(term: str, unit: str, **values: Any) -> dict[str, Any]:
    return tidy_row(term, **{"unit": unit, "method": "", **values})


def _share(term: str, unit: str, count: int, of: int, alpha: float) -> dict[str, Any]:
    from statsmodels.stats.proportion import proportion_confint

    if of:
        lo, hi = proportion_confint(count, of, alpha=alpha, method="wilson")
        pct, plo, phi = 100.0 * count / of, 100.0 * float(lo), 100.0 * float(hi)
    else:
        pct = plo = phi = math.nan
    return _row(
        term,
        unit,
        estimate=float(count),
        n=int(of),
        percent=pct,
        percent_ci_low=plo,
        percent_ci_high=phi,
        method="Wilson score interval" if of else "",
    )


def _describe(term: str, unit: str, x: np.ndarray) -> dict[str, Any]:
    if x.size == 0:
        return _row(term, unit)
    return _row(
        term,
        unit,
        estimate=float(x.mean()),
        n=int(x.size),
        sd=float(x.std(ddof=1)) if x.size > 1 else math.nan,
        median=float(np.median(x)),
        min=float(x.min()),
        max=float(x.max()),
        method="mean",
    )


def _compare(
    terms: tuple[str, str, str], unit: str, x: np.ndarray, y: np.ndarray
) -> tuple[list[dict[str, Any]], list[str]]:
    """Describe ``x`` (adjacent) and ``y`` (remote) and compare them (Mann–Whitney)."""
    from scipy import stats

    notes: list[str] = []
    rows = [_describe(terms[0], unit, x), _describe(terms[1], unit, y)]
    mw = _row(terms[2], unit, n=int(x.size + y.size))
    what = "levels" if unit == "level" else "patients"
    if x.size == 0 or y.size == 0:
        notes.append(f"Mann–Whitney test ({what}) not computed: an empty group.")
    elif np.unique(np.concatenate([x, y])).size == 1:
        notes.append(f"Mann–Whitney test ({what}) not computed: all times identical.")
    else:
        ties = np.unique(np.concatenate([x, y])).size < x.size + y.size
        method = "exact" if (min(x.size, y.size) <= 8 and not ties) else "asymptotic"
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            res = stats.mannwhitneyu(x, y, alternative="two-sided", method=method)
        for w in caught:
            notes.append(f"Mann–Whitney: library warning: {' '.join(str(w.message).split())}")
        mw.update(
            estimate=float(res.statistic),
            statistic=float(res.statistic),
            p=float(res.pvalue),
            method=(
                "exact"
                if method == "exact"
                else "normal approximation with tie and continuity correction"
            ),
        )
    rows.append(mw)
    return rows, notes


def adjacent_vs_remote(data: DerivedData, settings: AnalysisSettings = _DEFAULT_SETTINGS) -> Result:
    """Adjacent versus remote fractures (name ``"adjacent"``).

    Rows (``unit`` says whether levels or patients are counted):

    * ``fractured_levels`` – count of levels with a subsequent fracture;
    * ``adjacent_levels`` / ``remote_levels`` – count (``estimate``) of ``n``
      fractured levels, ``percent`` with Wilson CI (``percent_ci_low/high``);
    * ``adjacent_patients`` / ``remote_only_patients`` – refracture patients with
      at least one adjacent fracture / with remote fractures only, of ``n``
      refracture patients;
    * ``months_adjacent`` / ``months_remote`` – months to fracture of the levels:
      mean (``estimate``), ``sd``, ``median``, ``min``, ``max``;
    * ``months_mannwhitney`` – U statistic of the adjacent levels (``estimate``),
      two-sided ``p``, ``method`` exact or asymptotic;
    * ``months_adjacent_patients`` / ``months_remote_only_patients`` /
      ``months_mannwhitney_patients`` – the same at patient level with the months
      to the *first* refracture (of any level) of patients with an adjacent
      refracture versus patients with remote refractures only.
    """
    alpha = settings.alpha
    lv = data.levels
    notes: list[str] = []
    fx = lv.loc[lv["subsequent_fracture"].astype(bool)]
    adj = fx["adjacent"].astype(bool).to_numpy()
    n_fx = len(fx)
    n_adj = int(adj.sum())

    pf = data.patients
    ref = pf.loc[pf["refracture"].astype(bool)]
    n_ref = len(ref)
    n_adj_pat = int(ref["adjacent_refracture"].astype(bool).sum())

    rows = [
        _row("fractured_levels", "level", estimate=float(n_fx), n=n_fx),
        _share("adjacent_levels", "level", n_adj, n_fx, alpha),
        _share("remote_levels", "level", n_fx - n_adj, n_fx, alpha),
        _share("adjacent_patients", "patient", n_adj_pat, n_ref, alpha),
        _share("remote_only_patients", "patient", n_ref - n_adj_pat, n_ref, alpha),
    ]
    if n_fx == 0:
        notes.append("No fractured level: no adjacent/remote comparison.")

    months = pd.to_numeric(fx["months_to_fracture"], errors="coerce").to_numpy(dtype=float)
    has = np.isfinite(months)
    if (~has).any():
        notes.append(f"{int((~has).sum())} fractured level(s) without months to fracture excluded.")
    x, y = months[has & adj], months[has & ~adj]
    r, nt = _compare(("months_adjacent", "months_remote", "months_mannwhitney"), "level", x, y)
    rows += r
    notes += nt if n_fx else []

    # patient level: months to the first refracture, adjacent vs remote-only patients
    pm = pd.to_numeric(ref["months_to_refracture"], errors="coerce").to_numpy(dtype=float)
    pa = ref["adjacent_refracture"].astype(bool).to_numpy()
    ok = np.isfinite(pm)
    r, nt = _compare(
        (
            "months_adjacent_patients",
            "months_remote_only_patients",
            "months_mannwhitney_patients",
        ),
        "patient",
        pm[ok & pa],
        pm[ok & ~pa],
    )
    rows += r
    notes += nt if n_ref else []
    if n_fx:
        notes.append(
            "Months to fracture compared between levels; levels of one patient are "
            "treated as independent."
        )

    table = pd.DataFrame(rows)
    for c in _EXTRA:
        if c not in table.columns:
            table[c] = math.nan
    table = table[["term", "estimate", "ci_low", "ci_high", "p", "n", *_EXTRA]]
    table["method"] = table["method"].fillna("").astype(object)
    meta = {
        "definition_adjacent": (
            "a fractured level directly above or below a level treated in the same patient "
            "(T12 and L1 are neighbours)"
        ),
        "percent_ci": f"Wilson score {100 * (1 - alpha):g} % interval",
        "test": (
            "two-sided Mann–Whitney U (scipy.stats.mannwhitneyu): exact if the smaller group "
            "has <= 8 values and no ties, else normal approximation with tie and continuity "
            "correction"
        ),
        "fractured_levels": n_fx,
        "refracture_patients": n_ref,
    }
    return Result("adjacent", table, notes=tuple(notes), meta=meta)
