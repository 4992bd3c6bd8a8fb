"""Survival statistics, reusable beyond the time-to-refracture analysis.

* :func:`km_at_times`: the Kaplan–Meier estimate (lifelines) at fixed times with
  its numbers at risk, and the step curve for plotting, kept to its change points
  beyond :data:`CURVE_POINTS` points;
* :func:`concordance_counts`: Harrell's C pairs counted per distinct time with a
  Fenwick tree (the pairs lifelines counts);
* :func:`schoenfeld_residuals`: vectorised Schoenfeld residuals of a lifelines Cox
  fit (lifelines' own loop is quadratic in the cohort size);
* :func:`tscore_le`: the exact-decimal rule ``T ≤ cutoff`` that defines the T-score
  groups.
"""

from __future__ import annotations

import math
from decimal import Decimal
from typing import Any

import numpy as np
import pandas as pd

__all__ = [
    "CONCORDANCE_MAX_TIMES",
    "CURVE_POINTS",
    "concordance_counts",
    "km_at_times",
    "schoenfeld_residuals",
    "tscore_le",
]

CONCORDANCE_MAX_TIMES = 20_000
""":func:`concordance_counts` loops over distinct times; with more of them Harrell's
C is left to lifelines."""
CURVE_POINTS = 5_000
"""A plotting curve with more points than this keeps only its change points."""


def tscore_le(t: pd.Series | np.ndarray, cutoff: Decimal | float | str) -> np.ndarray:
    """``t ≤ cutoff`` decided in exact decimals (integer millionths; NaN → False)."""
    c = Decimal(str(cutoff))
    c_int = int((c * 10**6).to_integral_value())
    x = np.asarray(t, dtype="float64")
    ok = np.isfinite(x)
    out = np.zeros(x.shape, dtype=bool)
    out[ok] = np.rint(x[ok] * 1e6) <= c_int
    return out


def _plain_list(x: np.ndarray) -> list[float | None]:
    return [float(v) if math.isfinite(v) else None for v in np.asarray(x, dtype=float)]


def km_at_times(
    time: np.ndarray, event: np.ndarray, times: tuple[float, ...] | list[float], alpha: float
) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Kaplan–Meier (lifelines) at ``times`` and the whole step curve.

    Returns a frame with columns ``time, survival, ci_low, ci_high, at_risk,
    events, censored`` (cumulative events/censorings up to and including t) and
    the curve (lists for plotting).
    """
    from lifelines import KaplanMeierFitter

    time = np.asarray(time, dtype=float)
    event = np.asarray(event, dtype=bool)
    ts = np.asarray(times, dtype=float)
    kmf = KaplanMeierFitter(alpha=alpha).fit(time, event)
    timeline = kmf.survival_function_.index.to_numpy(dtype=float)
    surv = kmf.survival_function_.iloc[:, 0].to_numpy(dtype=float)
    ci = kmf.confidence_interval_survival_function_
    lo, hi = ci.iloc[:, 0].to_numpy(dtype=float), ci.iloc[:, 1].to_numpy(dtype=float)

    idx = np.searchsorted(timeline, ts, side="right") - 1
    # beyond the last observed time S is unknown, unless it has already reached 0
    beyond = (ts > time.max()) & (surv[-1] > 0)
    s_t = np.where(beyond, np.nan, surv[idx])
    lo_t = np.where(beyond, np.nan, lo[idx])
    hi_t = np.where(beyond, np.nan, hi[idx])
    degenerate = (s_t >= 1.0) | (s_t <= 0.0)
    lo_t = np.where(degenerate, np.nan, lo_t)
    hi_t = np.where(degenerate, np.nan, hi_t)

    st = np.sort(time)
    at_risk = time.size - np.searchsorted(st, ts, side="left")
    ev_sorted = np.sort(time[event])
    ce_sorted = np.sort(time[~event])
    events = np.searchsorted(ev_sorted, ts, side="right")
    censored = np.searchsorted(ce_sorted, ts, side="right")
    at = pd.DataFrame(
        {
            "time": ts,
            "survival": s_t,
            "ci_low": lo_t,
            "ci_high": hi_t,
            "at_risk": at_risk,
            "events": events,
            "censored": censored,
            "beyond": beyond,
        }
    )
    if timeline.size > CURVE_POINTS:
        keep = _change_points(surv, lo, hi)
        timeline, surv, lo, hi = timeline[keep], surv[keep], lo[keep], hi[keep]
    censor = np.unique(time[~event])
    thinned = censor.size > CURVE_POINTS
    if thinned:  # censoring marks for the figure: on a grid of 1/CURVE_POINTS of the range
        grid = (censor[-1] - censor[0]) / CURVE_POINTS or 1.0
        censor = np.unique(np.round(censor / grid) * grid)
    curve = {
        "n": int(time.size),
        "events": int(event.sum()),
        "time": _plain_list(timeline),
        "survival": _plain_list(surv),
        "ci_low": _plain_list(lo),
        "ci_high": _plain_list(hi),
        "censor_times": _plain_list(censor),
        "at_risk_times": _plain_list(ts),
        "at_risk": [int(a) for a in at_risk],
    }
    if thinned:
        curve["censor_times_rounded"] = f"to multiples of {grid:.6g}"
    return at, curve


def _change_points(*series: np.ndarray) -> np.ndarray:
    """Positions where any of ``series`` differs from the previous position, plus the
    first and the last: a ``where="post"`` step plot of the kept points is the same
    function (NaN equals NaN here)."""
    n = series[0].size
    keep = np.zeros(n, dtype=bool)
    keep[0] = keep[-1] = True
    for x in series:
        a, b = x[1:], x[:-1]
        keep[1:] |= ~((a == b) | (np.isnan(a) & np.isnan(b)))
    return keep


def concordance_counts(
    time: np.ndarray, pred: np.ndarray, event: np.ndarray
) -> tuple[int, int, int] | None:
    """Harrell's C counts ``(correct, tied, pairs)`` exactly as lifelines'
    ``_concordance_summary_statistics(time, pred, event)`` (``pred`` a predicted
    time: higher = later; C = (correct + tied/2) / pairs).

    A pair is an event at time s and any subject at a later time t (or at the same
    time, censored); it is correct when the subject's ``pred`` is above the event's,
    tied when equal. Subjects are processed one distinct time at a time (events at
    the time first, then the censored, which see the events of their own time); the
    events seen so far are counted by ``pred`` rank in a Fenwick tree, queried and
    updated for a whole time at once. Returns None when there are more than
    :data:`CONCORDANCE_MAX_TIMES` distinct times.
    """
    time = np.asarray(time, dtype="float64")
    pred = np.asarray(pred, dtype="float64")
    event = np.asarray(event, dtype=bool)
    if not event.any():
        return (0, 0, 0)
    uniq, tinv = np.unique(time, return_inverse=True)
    if uniq.size > CONCORDANCE_MAX_TIMES:
        return None
    vals = np.unique(pred[event])
    size = vals.size
    lo = np.searchsorted(vals, pred, side="left")  # events so far with pred < this
    hi = np.searchsorted(vals, pred, side="right")  # … with pred <= this
    tree = np.zeros(size + 1, dtype=np.int64)

    def prefix(k: np.ndarray) -> np.ndarray:
        out = np.zeros(k.size, dtype=np.int64)
        i = k.copy()
        while True:
            live = i > 0
            if not live.any():
                return out
            out[live] += tree[i[live]]
            i[live] -= i[live] & -i[live]

    def insert(positions: np.ndarray) -> None:
        i = positions + 1
        while i.size:
            np.add.at(tree, i, 1)
            i = i + (i & -i)
            i = i[i <= size]

    order = np.argsort(tinv, kind="stable")
    bounds = np.searchsorted(tinv[order], np.arange(uniq.size + 1), side="left")
    correct = tied = pairs = 0
    seen = 0
    for u in range(uniq.size):
        rows = order[bounds[u] : bounds[u + 1]]
        ev = event[rows]
        for block, add in ((rows[ev], True), (rows[~ev], False)):
            if block.size:
                below = prefix(lo[block])
                correct += int(below.sum())
                tied += int((prefix(hi[block]) - below).sum())
                pairs += seen * block.size
            if add and block.size:
                insert(lo[block])
                seen += block.size
    return correct, tied, pairs


def schoenfeld_residuals(cph: Any, df: pd.DataFrame, covariates: list[str]) -> pd.DataFrame:
    """Unscaled Schoenfeld residuals (Efron ties) of a fitted lifelines ``CoxPHFitter``.

    Identical to ``cph.compute_residuals(df, kind="schoenfeld")`` (rows: the events,
    in lifelines' order of the fit), but vectorised: lifelines grows its result
    with ``np.append`` once per row, which is quadratic in the number of patients.
    For an event time with m tied events, risk-set sums S0 = Σ φ, S1 = Σ φx over
    time ≥ t and tie sums D0, D1 over the events at t (φ = exp(xβ)), the Efron
    weighted mean is (1/m) Σ_{l<m} (S1 − l/m·D1) / (S0 − l/m·D0); the residual of an
    event is x − that mean.
    """
    order = cph.durations.index
    t = cph.durations.to_numpy(dtype=float)
    e = np.asarray(cph.event_observed, dtype=bool)
    x = df.loc[order, covariates].to_numpy(dtype=float)
    beta = cph.params_[covariates].to_numpy(dtype=float)
    xc = x - x.mean(axis=0)  # centring cancels in the ratios; avoids overflow of exp
    phi = np.exp(xc @ beta)
    uniq, k = np.unique(t, return_inverse=True)
    nu = uniq.size
    p = len(covariates)
    s0_at = np.bincount(k, weights=phi, minlength=nu)
    s1_at = np.stack([np.bincount(k, weights=phi * xc[:, j], minlength=nu) for j in range(p)], 1)
    s0 = np.cumsum(s0_at[::-1])[::-1]
    s1 = np.cumsum(s1_at[::-1], axis=0)[::-1]
    m = np.bincount(k[e], minlength=nu)
    d0 = np.bincount(k[e], weights=phi[e], minlength=nu)
    d1 = np.stack([np.bincount(k[e], weights=phi[e] * xc[e, j], minlength=nu) for j in range(p)], 1)
    ev_times = np.flatnonzero(m)
    reps = m[ev_times]
    kk = np.repeat(ev_times, reps)
    starts = np.repeat(np.cumsum(reps) - reps, reps)
    frac = ((np.arange(kk.size) - starts) / m[kk])[:, None]
    terms = (s1[kk] - frac * d1[kk]) / (s0[kk] - frac[:, 0] * d0[kk])[:, None]
    mean = np.zeros((nu, p))
    np.add.at(mean, kk, terms)
    mean[ev_times] /= reps[:, None]
    resid = xc[e] - mean[k[e]]
    return pd.DataFrame(resid, columns=covariates, index=order[e])
