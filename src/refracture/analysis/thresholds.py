"""T-score thresholds: "T-score ≤ cutoff" as predictor of a level's subsequent fracture.

Unit of analysis: one level of the level-specific analysis set (untreated levels
with a T-score); outcome: that level's ``subsequent_fracture``. For each cutoff of
``settings.cutoffs`` the 2×2 table is

=================  ===========  ===============
                   fractured    not fractured
=================  ===========  ===============
T ≤ cutoff         a            b
T > cutoff         c            d
=================  ===========  ===============

The comparison is exact in decimal terms: T-scores are turned into integers on a
decimal scale (10^k, k = the decimals the data and the cutoffs need) and compared
with the cutoffs on the same scale, so a stored ``-2.2`` (or ``-2.2000000000000002``
from arithmetic) is ≤ −2.2. All cutoffs are counted in one sorted pass.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from decimal import Decimal

import numpy as np
import pandas as pd

from refracture.analysis.result import Result
from refracture.analysis.settings import AnalysisSettings
from refracture.data.derive import DerivedData

__all__ = [
    "MAX_DECIMALS",
    "PREDICTIVE_HIGH_FROM",
    "PREDICTIVE_LOW_BELOW",
    "cutoff_counts",
    "holm",
    "predictive_level",
    "scaled_integers",
    "threshold_table",
    "wilson_interval",
]

MAX_DECIMALS = 9
"""Most decimals a T-score is resolved to (|T| ≤ 10 ⇒ |T|·10^9 fits int64 exactly)."""

DECIMAL_TOLERANCE = 1e-12
"""A value within this distance of a k-decimal number *is* that number (float noise)."""

PREDICTIVE_LOW_BELOW = 0.5
"""A predictive value below this is "low"."""
PREDICTIVE_HIGH_FROM = 0.8
"""A predictive value at or above this is "high" (in between: "moderate")."""


# ---------------------------------------------------------------------------
# exact decimals
# ---------------------------------------------------------------------------


def _decimals(value: Decimal, normalize: bool = True) -> int:
    """Decimals of ``value`` (``normalize``: significant ones only, "-2.0" → 0)."""
    exponent = (value.normalize() if normalize else value).as_tuple().exponent
    if not isinstance(exponent, int):
        raise ValueError(f"cutoff {value!r} is not a finite decimal")
    return max(0, -exponent)


def scaled_integers(
    values: np.ndarray, min_decimals: int = 0, max_decimals: int = MAX_DECIMALS
) -> tuple[np.ndarray, int, bool]:
    """Finite floats as exact integers on a decimal scale.

    Returns ``(ints, k, rounded)``: ``ints = rint(values · 10^k)`` with ``k`` the
    smallest number of decimals (≥ ``min_decimals``) at which every value lies
    within :data:`DECIMAL_TOLERANCE` of a k-decimal number, so float artefacts such
    as ``0.1 + 0.2`` become ``3`` (k = 1). If even ``max_decimals`` does not
    suffice the values are rounded to ``max_decimals`` decimals and ``rounded`` is
    true (the caller must say so).
    """
    x = np.asarray(values, dtype="float64")
    if x.size and not np.all(np.isfinite(x)):
        raise ValueError("scaled_integers needs finite values")
    k = max(0, int(min_decimals))
    while True:
        scale = 10.0**k
        scaled = x * scale
        ints = np.rint(scaled)
        if k >= max_decimals:
            exact = bool(np.all(np.abs(scaled - ints) <= DECIMAL_TOLERANCE * scale))
            return ints.astype("int64"), k, not exact
        if np.all(np.abs(scaled - ints) <= DECIMAL_TOLERANCE * scale):
            return ints.astype("int64"), k, False
        k += 1


def _as_decimal(value: object) -> Decimal:
    """A cutoff as a Decimal; a float is read by its shortest repr (-2.2 → Decimal("-2.2"))."""
    if isinstance(value, Decimal):
        return value
    if isinstance(value, float):
        return Decimal(repr(value))
    return Decimal(str(value))


def _cutoff_integers(cutoffs: Sequence[Decimal], k: int) -> np.ndarray:
    out = []
    for c in cutoffs:
        s = Decimal(c).scaleb(k)
        if s != s.to_integral_value():
            raise ValueError(f"cutoff {c} needs more than {k} decimals")
        out.append(int(s))
    return np.asarray(out, dtype="int64")


def cutoff_counts(
    tscore: np.ndarray, event: np.ndarray, cutoffs: Sequence[Decimal]
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, int, bool]:
    """The 2×2 counts of "T ≤ cutoff" × event for every cutoff in one sorted pass.

    Returns ``(a, b, c, d, k, rounded)`` (int64 arrays in the order of
    ``cutoffs``; ``k`` decimals used; ``rounded`` as in :func:`scaled_integers`).
    """
    cutoffs = [_as_decimal(c) for c in cutoffs]
    need = max((_decimals(c) for c in cutoffs), default=0)
    if need > MAX_DECIMALS:
        raise ValueError(f"cutoffs may have at most {MAX_DECIMALS} decimals")
    ints, k, rounded = scaled_integers(tscore, min_decimals=need)
    cut = _cutoff_integers(cutoffs, k)
    order = np.argsort(ints, kind="stable")
    t_sorted = ints[order]
    ev_sorted = np.asarray(event, dtype=bool)[order]
    cum_events = np.concatenate(([0], np.cumsum(ev_sorted, dtype="int64")))
    n_le = np.searchsorted(t_sorted, cut, side="right").astype("int64")
    a = cum_events[n_le]
    b = n_le - a
    total_events = int(cum_events[-1])
    c = total_events - a
    d = (t_sorted.size - total_events) - b
    return a, b, c, d, k, rounded


# ---------------------------------------------------------------------------
# small statistics
# ---------------------------------------------------------------------------


def wilson_interval(
    successes: np.ndarray, trials: np.ndarray, alpha: float = 0.05
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Proportion with Wilson score interval; NaN where ``trials`` is 0.

    centre = (p + z²/2n) / (1 + z²/n); half = z/(1 + z²/n) · sqrt(p(1−p)/n + z²/4n²).
    """
    from scipy.stats import norm

    x = np.asarray(successes, dtype="float64")
    n = np.asarray(trials, dtype="float64")
    z = float(norm.ppf(1 - alpha / 2))
    with np.errstate(divide="ignore", invalid="ignore"):
        p = np.where(n > 0, x / n, np.nan)
        denom = 1 + z**2 / n
        centre = (p + z**2 / (2 * n)) / denom
        half = z / denom * np.sqrt(p * (1 - p) / n + z**2 / (4 * n**2))
    lo = np.where(n > 0, np.clip(centre - half, 0.0, 1.0), np.nan)
    hi = np.where(n > 0, np.clip(centre + half, 0.0, 1.0), np.nan)
    return p, lo, hi


def holm(p: np.ndarray) -> np.ndarray:
    """Holm step-down adjusted P values; NaN entries are left out of the family."""
    p = np.asarray(p, dtype="float64")
    out = np.full(p.shape, np.nan)
    ok = np.flatnonzero(~np.isnan(p))
    m = ok.size
    if m == 0:
        return out
    order = ok[np.argsort(p[ok], kind="stable")]
    steps = (m - np.arange(m)) * p[order]
    out[order] = np.minimum(1.0, np.maximum.accumulate(steps))
    return out


def predictive_level(value: float | None) -> str | None:
    """ "low" (< 0.5), "moderate" or "high" (≥ 0.8); None when not estimable."""
    if value is None or not math.isfinite(value):
        return None
    if value < PREDICTIVE_LOW_BELOW:
        return "low"
    if value >= PREDICTIVE_HIGH_FROM:
        return "high"
    return "moderate"


def _fisher(a: np.ndarray, b: np.ndarray, c: np.ndarray, d: np.ndarray, ok: np.ndarray):
    from scipy.stats import fisher_exact

    p = np.full(a.shape, np.nan)
    for i in np.flatnonzero(ok):  # one test per cutoff (~21), counts come from one pass
        table = [[int(a[i]), int(b[i])], [int(c[i]), int(d[i])]]
        p[i] = float(fisher_exact(table, alternative="two-sided").pvalue)
    return p


def _chi2(a, b, c, d, ok):
    """Pearson χ² (df 1) without and with Yates' continuity correction.

    χ² = N(ad − bc)² / (r1 r2 c1 c2); Yates: N·max(0, |ad − bc| − N/2)² / (r1 r2 c1 c2),
    the form scipy.stats.chi2_contingency(correction=True) uses (the correction never
    moves an observed count past its expectation).
    """
    from scipy.stats import chi2

    a, b, c, d = (np.asarray(v, dtype="float64") for v in (a, b, c, d))
    n = a + b + c + d
    with np.errstate(divide="ignore", invalid="ignore"):
        prod = (a + b) * (c + d) * (a + c) * (b + d)
        diff = a * d - b * c
        stat = n * diff**2 / prod
        stat_y = n * np.maximum(0.0, np.abs(diff) - n / 2) ** 2 / prod
    p = np.where(ok, chi2.sf(np.where(ok, stat, 0.0), 1), np.nan)
    p_y = np.where(ok, chi2.sf(np.where(ok, stat_y, 0.0), 1), np.nan)
    return np.where(ok, stat, np.nan), p, p_y


def _odds_ratio(a, b, c, d, ok, alpha):
    """OR with Woolf (log) CI; +0.5 to every cell when any cell is zero."""
    from scipy.stats import norm

    z = float(norm.ppf(1 - alpha / 2))
    a, b, c, d = (np.asarray(v, dtype="float64") for v in (a, b, c, d))
    corrected = ok & ((a == 0) | (b == 0) | (c == 0) | (d == 0))
    add = np.where(corrected, 0.5, 0.0)
    a2, b2, c2, d2 = a + add, b + add, c + add, d + add
    with np.errstate(divide="ignore", invalid="ignore"):
        log_or = np.log(a2) + np.log(d2) - np.log(b2) - np.log(c2)
        se = np.sqrt(1 / a2 + 1 / b2 + 1 / c2 + 1 / d2)
    log_or = np.where(ok, log_or, np.nan)
    se = np.where(ok, se, np.nan)
    return np.exp(log_or), np.exp(log_or - z * se), np.exp(log_or + z * se), se, corrected


# ---------------------------------------------------------------------------
# derived statements (meta)
# ---------------------------------------------------------------------------


def _or_run(odds: np.ndarray, start: int) -> int:
    """Index where the OR stops rising as the cutoff falls from ``start``.

    Walks down the grid while the OR does not decrease (an identical 2×2 table,
    e.g. no T-score between two cutoffs, does not end the run); returns the first
    index at which the run's maximum is reached.
    """
    end = start
    best = odds[start]
    i = start
    while i + 1 < odds.size and np.isfinite(odds[i + 1]) and odds[i + 1] >= odds[i]:
        i += 1
        if odds[i] > best:
            best, end = odds[i], i
    return end


def _derived_meta(
    table: pd.DataFrame, descending: bool, alpha: float
) -> tuple[dict[str, object], list[str]]:
    notes: list[str] = []
    cut = table["cutoff"].to_numpy()
    text = table["cutoff_text"].tolist()
    p = table["p"].to_numpy()
    odds = table["estimate"].to_numpy()
    meta: dict[str, object] = {
        "first_significant_cutoff": None,
        "first_significant_cutoff_text": None,
        "p_at_first_significant": None,
        "max_or_cutoff": None,
        "max_or_cutoff_text": None,
        "max_or": None,
        "or_rises_from": None,
        "or_rises_to": None,
        "or_rises_from_text": None,
        "or_rises_to_text": None,
        "or_plateau": None,
        "predictive_at": "first_significant_cutoff",
        "ppv_at_first_significant": None,
        "npv_at_first_significant": None,
        "ppv_level": None,
        "npv_level": None,
        "predictive_summary": None,
    }
    if not descending:
        notes.append(
            "Cutoffs are not in descending order; the OR run and first significant "
            "cutoff are not derived."
        )
        return meta, notes
    finite = np.isfinite(odds)
    if finite.any():
        i_max = int(np.flatnonzero(odds == np.nanmax(odds))[0])  # highest cutoff on ties
        meta.update(
            max_or_cutoff=float(cut[i_max]),
            max_or_cutoff_text=text[i_max],
            max_or=float(odds[i_max]),
        )
    sig = np.flatnonzero(np.nan_to_num(p, nan=1.0) < alpha)
    if sig.size == 0:
        notes.append(f"No cutoff reached Fisher P < {alpha:g}.")
        return meta, notes
    i0 = int(sig[0])
    meta.update(
        first_significant_cutoff=float(cut[i0]),
        first_significant_cutoff_text=text[i0],
        p_at_first_significant=float(p[i0]),
    )
    if np.isfinite(odds[i0]):
        i1 = _or_run(odds, i0)
        below = odds[i1 + 1 :]
        below = below[np.isfinite(below)]
        meta.update(
            or_rises_from=float(cut[i0]),
            or_rises_to=float(cut[i1]),
            or_rises_from_text=text[i0],
            or_rises_to_text=text[i1],
            or_plateau=bool(below.size == 0 or below.max() <= odds[i1]),
        )
    ppv = float(table["ppv"].iloc[i0])
    npv = float(table["npv"].iloc[i0])
    lp, ln = predictive_level(ppv), predictive_level(npv)
    meta.update(
        ppv_at_first_significant=ppv,
        npv_at_first_significant=npv,
        ppv_level=lp,
        npv_level=ln,
        predictive_summary=f"{lp} PPV, {ln} NPV" if lp and ln else None,
    )
    return meta, notes


def _format_cutoff(c: Decimal, decimals: int) -> str:
    """The cutoff with the grid's common number of decimals ("-2.0", not "-2")."""
    s = format(Decimal(c).quantize(Decimal(1).scaleb(-decimals)), "f")
    return s[1:] if s.startswith("-") and Decimal(s) == 0 else s


# ---------------------------------------------------------------------------
# the analysis
# ---------------------------------------------------------------------------


_DEFAULT_SETTINGS = AnalysisSettings()


def level_arrays(data: DerivedData) -> tuple[np.ndarray, np.ndarray, np.ndarray, list[str]]:
    """T-scores, outcomes and patient ids of the level set's levels with a finite
    T-score, and a note on any left out (shared by the threshold and ROC analyses)."""
    ls = data.level_set
    notes: list[str] = []
    tscore = ls["tscore"].to_numpy(dtype="float64", na_value=np.nan)
    keep = np.isfinite(tscore)
    if not keep.all():
        notes.append(f"{int((~keep).sum())} levels without a finite T-score were left out.")
    event = ls["subsequent_fracture"].to_numpy(dtype=bool)[keep]
    return tscore[keep], event, ls["patient_id"].to_numpy()[keep], notes


def threshold_table(data: DerivedData, settings: AnalysisSettings = _DEFAULT_SETTINGS) -> Result:
    """One row per cutoff of ``settings.cutoffs``: 2×2 counts, OR, tests, predictive values.

    Columns after the tidy ones: ``cutoff`` (float), ``cutoff_text``, ``a, b, c, d``,
    ``corrected`` (Haldane–Anscombe +0.5 used), ``se_log_or``, ``p_chi2``,
    ``p_chi2_yates``, ``chi2``, ``p_holm``, ``sens/spec/ppv/npv`` each with ``_low``
    and ``_high`` (Wilson), ``n_events``, ``n_patients``. ``estimate`` is the OR,
    ``p`` Fisher's exact two-sided P.
    """
    alpha = settings.alpha
    cutoffs = [_as_decimal(c) for c in settings.cutoffs]
    tscore, event, patients, notes = level_arrays(data)
    n = int(tscore.size)
    n_events = int(event.sum())
    n_patients = int(pd.unique(patients).size) if n else 0

    a, b, c, d, k, rounded = cutoff_counts(tscore, event, cutoffs)
    if rounded:
        notes.append(
            f"Some T-scores have more than {MAX_DECIMALS} decimals; they were rounded "
            f"to {MAX_DECIMALS} decimals before comparison with the cutoffs."
        )
    row1, row2, col1, col2 = a + b, c + d, a + c, b + d
    ok = (row1 > 0) & (row2 > 0) & (col1 > 0) & (col2 > 0)

    odds, lo, hi, se, corrected = _odds_ratio(a, b, c, d, ok, alpha)
    p_fisher = _fisher(a, b, c, d, ok)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        chi2_stat, p_chi2, p_yates = _chi2(a, b, c, d, ok)
    p_holm = holm(p_fisher)
    sens, sens_lo, sens_hi = wilson_interval(a, col1, alpha)
    spec, spec_lo, spec_hi = wilson_interval(d, col2, alpha)
    ppv, ppv_lo, ppv_hi = wilson_interval(a, row1, alpha)
    npv, npv_lo, npv_hi = wilson_interval(d, row2, alpha)

    grid_decimals = max((_decimals(x, normalize=False) for x in cutoffs), default=0)
    texts = [_format_cutoff(x, grid_decimals) for x in cutoffs]
    table = pd.DataFrame(
        {
            "term": [f"T ≤ {t.replace('-', '−')}" for t in texts],
            "estimate": odds,
            "ci_low": lo,
            "ci_high": hi,
            "p": p_fisher,
            "n": np.full(len(cutoffs), n, dtype="int64"),
            "cutoff": [float(x) for x in cutoffs],
            "cutoff_text": texts,
            "a": a,
            "b": b,
            "c": c,
            "d": d,
            "corrected": corrected.astype(bool),
            "se_log_or": se,
            "chi2": chi2_stat,
            "p_chi2": p_chi2,
            "p_chi2_yates": p_yates,
            "p_holm": p_holm,
            "sens": sens,
            "sens_low": sens_lo,
            "sens_high": sens_hi,
            "spec": spec,
            "spec_low": spec_lo,
            "spec_high": spec_hi,
            "ppv": ppv,
            "ppv_low": ppv_lo,
            "ppv_high": ppv_hi,
            "npv": npv,
            "npv_low": npv_lo,
            "npv_high": npv_hi,
            "n_events": np.full(len(cutoffs), n_events, dtype="int64"),
            "n_patients": np.full(len(cutoffs), n_patients, dtype="int64"),
        }
    )

    if n == 0:
        notes.append("The level-specific analysis set is empty; no threshold is estimable.")
    elif n_events == 0:
        notes.append("No level had a subsequent fracture; odds ratios and tests are not estimable.")
    elif n_events == n:
        notes.append(
            "Every level had a subsequent fracture; odds ratios and tests are not estimable."
        )
    else:
        empty = [t for t, r1, r2 in zip(texts, row1, row2, strict=True) if r1 == 0 or r2 == 0]
        if len(empty) == len(texts):
            notes.append(
                "No cutoff splits the levels into two non-empty groups (e.g. a constant "
                "T-score); odds ratios and tests are not estimable."
            )
        elif empty:
            notes.append(
                "No level on one side of the cutoff at "
                + ", ".join(empty)
                + "; odds ratio and tests are not estimable there."
            )
    if corrected.any():
        notes.append(
            "A zero cell at cutoff(s) "
            + ", ".join(t for t, f in zip(texts, corrected, strict=True) if f)
            + ": Haldane–Anscombe correction (+0.5 to every cell) for the OR and its CI."
        )

    cut_f = np.asarray([float(x) for x in cutoffs])
    descending = bool(np.all(np.diff(cut_f) < 0))
    derived, more = _derived_meta(table, descending, alpha)
    if ok.any():
        notes.extend(more)
    meta: dict[str, object] = {
        "unit": "level (untreated, with a T-score)",
        "outcome": "subsequent_fracture",
        "predictor": "T-score ≤ cutoff (exact decimal comparison)",
        "decimals_compared": k,
        "alpha": alpha,
        "ci_level": 1 - alpha,
        "estimate": "odds ratio (a·d)/(b·c)",
        "ci_method": "Woolf (log OR ± z·sqrt(1/a+1/b+1/c+1/d))",
        "zero_cell_correction": "Haldane–Anscombe: +0.5 to every cell when any cell is zero",
        "p_method": "Fisher's exact test, two-sided (scipy.stats.fisher_exact)",
        "p_chi2_method": "Pearson chi-squared, df 1, without continuity correction",
        "p_chi2_yates_method": "Pearson chi-squared, df 1, with Yates' continuity correction",
        "p_holm_method": "Holm step-down adjustment of the Fisher P values across cutoffs",
        "proportion_ci": "Wilson score interval",
        "not_estimable": "a table with an empty row or column (no OR, no tests)",
        "first_significant_rule": "the highest cutoff with Fisher P < alpha",
        "or_run_rule": (
            "from the first significant cutoff downwards while the OR does not fall; "
            "ends at the first cutoff reaching the run's maximum"
        ),
        "or_plateau_rule": "no lower cutoff has an OR above the OR at the end of the run",
        "max_or_rule": "cutoff with the largest OR (highest cutoff on ties)",
        "predictive_value_thresholds": {
            "low_below": PREDICTIVE_LOW_BELOW,
            "high_from": PREDICTIVE_HIGH_FROM,
        },
        "predictive_rule": (
            f"PPV/NPV at the first significant cutoff: < {PREDICTIVE_LOW_BELOW} low, "
            f"≥ {PREDICTIVE_HIGH_FROM} high, otherwise moderate"
        ),
        **derived,
    }
    return Result("thresholds", table, notes=tuple(notes), meta=meta)
