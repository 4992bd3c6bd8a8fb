"""Firth's penalised-likelihood logistic fit (``firthmodels``) and its per-term rows.

Penalised-likelihood estimates, penalised profile-likelihood CIs and penalised
likelihood-ratio P values (as R's ``logistf`` reports them); a large design is
fitted to its distinct rows with their counts as frequency weights (see
:mod:`refracture.analysis.logistic_design`).
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass

import numpy as np

from refracture.analysis.logistic import _empty_rows
from refracture.analysis.logistic_design import _Design


@dataclass
class _FirthFit:
    params: np.ndarray  # constant first
    bse: np.ndarray
    p_wald: np.ndarray
    ci: np.ndarray  # rows as params, columns low/high (coefficient scale)
    p_lrt: np.ndarray
    converged: bool
    notes: list[str]


FIRTH_ATTEMPTS: tuple[dict, ...] = (
    {"max_iter": 200, "gtol": 1e-8, "xtol": 1e-8},
    {"max_iter": 1000, "max_step": 50.0, "gtol": 1e-8, "xtol": 1e-8},
    {"max_iter": 1000, "max_step": 50.0},
)
"""Solver settings tried in turn for the Firth estimates (strict tolerances first)."""
FIRTH_INFERENCE: tuple[dict, ...] = ({"gtol": 1e-6, "xtol": 1e-6}, {"gtol": 1e-4, "xtol": 1e-4})
"""Tolerances tried in turn for the penalised LRT fits: the penalised log-likelihood
stops improving in float64 before a gradient of 1e-8 can be reached."""


def _firth_fit(d: _Design, alpha: float) -> _FirthFit:
    """Firth fit of ``d`` (covariates centred for numerical stability; the slopes,
    their SEs, profile CIs and LRTs are invariant to centring, the intercept is
    transformed back)."""
    from firthmodels import FirthLogisticRegression
    from sklearn.exceptions import ConvergenceWarning

    k = len(d.fitted) + 1
    nan = np.full(k, np.nan)
    notes: list[str] = []

    def failed(note: str) -> _FirthFit:
        notes.append(note)
        return _FirthFit(nan, nan, nan, np.full((k, 2), np.nan), nan, False, notes)

    def reorder(v: np.ndarray) -> np.ndarray:  # firthmodels puts the intercept last
        v = np.asarray(v, dtype="float64")
        return np.concatenate([v[-1:], v[:-1]])

    if d.large:  # distinct rows with their counts as frequency weights (logistic_design)
        g = d.grouped()
        X, y, weights = g.X, g.y.astype(int), g.w
        centre = (g.w @ g.X) / g.w.sum()
    else:
        X, y, weights = d.X, d.y.astype(int), None
        centre = d.X.mean(axis=0)
    Xc = X - centre
    model = None
    for attempt in FIRTH_ATTEMPTS:
        try:
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                candidate = FirthLogisticRegression(backend="numpy", **attempt).fit(
                    Xc, y, sample_weight=weights
                )
        except (np.linalg.LinAlgError, ValueError) as exc:
            return failed(f"The Firth fit failed: {exc}")
        if candidate.converged_ and not any(
            issubclass(w.category, ConvergenceWarning) for w in caught
        ):
            model = candidate
            if "gtol" not in attempt:
                notes.append("The Firth fit converged only to the default tolerance (1e-4).")
            break
    if model is None:
        return failed("The Firth fit did not converge; its estimates are not reported.")
    slopes = np.asarray(model.coef_, dtype="float64")
    params = np.concatenate([[model.intercept_ - centre @ slopes], slopes])
    bse, p_wald = reorder(model.bse_), reorder(model.pvalues_)
    bse[0] = p_wald[0] = np.nan  # of the centred intercept: not reported
    ci = np.full((k, 2), np.nan)
    p_lrt = nan.copy()
    features = list(range(k - 1))
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            if features:
                pl = np.asarray(
                    model.conf_int(
                        alpha=alpha, method="pl", features=features, max_iter=100, tol=1e-6
                    ),
                    dtype="float64",
                )
                ci[1:] = pl[: k - 1]
            for tolerances in FIRTH_INFERENCE:
                model.set_params(**tolerances)
                model.lrt(features=features)
            p_lrt[1:] = np.asarray(model.lrt_pvalues_, dtype="float64")[: k - 1]
    except (np.linalg.LinAlgError, ValueError) as exc:
        notes.append(f"Firth profile-likelihood inference failed: {exc}")
    for j, term in enumerate(d.fitted, start=1):
        if not np.isfinite(p_lrt[j]):
            notes.append(f"{term}: the penalised likelihood-ratio P could not be computed.")
        if not np.all(np.isfinite(ci[j])):
            notes.append(f"{term}: a penalised profile-likelihood bound could not be found.")
    return _FirthFit(params, bse, p_wald, ci, p_lrt, True, notes)


def _firth_rows(d: _Design, ff: _FirthFit) -> list[dict]:
    rows = _empty_rows(d, d.terms, d.contrasts)
    by_term = {r["term"]: r for r in rows}
    for k, term in enumerate(d.fitted, start=1):
        b = ff.params[k]
        by_term[term].update(
            estimate=math.exp(b) if math.isfinite(b) else np.nan,
            ci_low=float(np.exp(ff.ci[k, 0])) if np.isfinite(ff.ci[k, 0]) else np.nan,
            ci_high=float(np.exp(ff.ci[k, 1])) if np.isfinite(ff.ci[k, 1]) else np.nan,
            p=ff.p_lrt[k],
            coef=b,
            se=ff.bse[k],
            p_wald=ff.p_wald[k],
            method="firth",
        )
    return rows
