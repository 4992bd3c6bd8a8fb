"""Maximum-likelihood logistic fitting and its separation check.

The ML fit of a :class:`~refracture.analysis.logistic_design._Design` (statsmodels
``Logit``, or Newton–Raphson on the distinct rows with their counts for a large
design), the detection of (quasi-)complete separation (Konis' linear program,
:func:`separation_check`, and the symptoms of the ML fit), profile-likelihood
intervals with likelihood-ratio P values (:func:`profile_interval`) and the
per-term rows of a fit.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np

from refracture.analysis.logistic_design import _Design
from refracture.analysis.result import tidy_row
from refracture.analysis.settings import COVARIATE_LABELS, AnalysisSettings

__all__ = ["profile_interval", "separation_check"]

SEPARATION_SE = 1e3
"""An ML standard error above this (on the coefficient scale) is a separation symptom."""
EXTREME_P = 1e-10
"""A fitted probability within this of 0 or 1 is a separation symptom."""
SEPARATION_SUBSET = 4_000
"""Rows of the subset on which :func:`separation_check` first looks for a
certificate that the data are not separated."""


# --------------------------------------------------------------------------- helpers


@contextmanager
def _captured(notes: list[str], source: str) -> Iterator[None]:
    """Turn every warning raised inside the block into a note (deduplicated)."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        yield
    for w in caught:
        text = f"{source}: {str(w.message).strip()}"
        if text not in notes:
            notes.append(text)


def _label(term: str) -> str:
    base = term.split("[", 1)[0]
    label = COVARIATE_LABELS.get(base, base)
    return label if base == term else f"{label}: {term[len(base) :]}"


def _certificate_rows(X: np.ndarray, y: np.ndarray, size: int) -> np.ndarray:
    """Positions of an evenly spread subset of rows plus, per class and column, the
    rows with the smallest and largest value (deterministic)."""
    n = len(y)
    pick = [np.unique(np.linspace(0, n - 1, size).astype(np.int64))]
    for cls in (0, 1):
        where = np.flatnonzero(y == cls)
        if where.size:
            sub = X[where]
            pick.append(where[np.argmin(sub, axis=0)])
            pick.append(where[np.argmax(sub, axis=0)])
    return np.unique(np.concatenate(pick))


def separation_check(X: np.ndarray, y: np.ndarray):
    """``firthmodels.detect_separation(X, y, fit_intercept=True)``, fast for large data.

    The data are (quasi-)completely separated when some β ≠ 0 has z_i'β ≥ 0 for every
    row, z_i = (2y_i − 1)(1, x_i). If a subset of the rows that has full column rank
    admits no such β, neither do all rows (each added row is one more constraint), so
    the linear program of Konis (2007) is first solved on
    :data:`SEPARATION_SUBSET` rows (:func:`_certificate_rows`); when it finds no
    separation that is the answer for the whole data, and otherwise (or when the
    subset is rank-deficient) the program is solved on every row exactly as before.
    Either way the result is that of the full program: ``separation`` False with no
    infinite coefficient, or the full program's own result.
    """
    from firthmodels import detect_separation

    X = np.asarray(X, dtype="float64").reshape(len(y), -1)
    y = np.asarray(y).astype(int)
    if len(y) > 2 * SEPARATION_SUBSET:
        pick = _certificate_rows(X, y, SEPARATION_SUBSET)
        try:
            sub = detect_separation(X[pick], y[pick], fit_intercept=True)
        except (np.linalg.LinAlgError, ValueError):
            sub = None
        if sub is not None and not sub.separation:
            return sub
    return detect_separation(X, y, fit_intercept=True)


# --------------------------------------------------------------------------- ML fitting


def _loglik(eta: np.ndarray, y: np.ndarray, w: np.ndarray | None = None) -> float:
    terms = y * eta - np.logaddexp(0.0, eta)
    return float(np.sum(terms if w is None else w * terms))


def _crossprod(X: np.ndarray, w: np.ndarray) -> np.ndarray:
    """X' diag(w) X (einsum for one or two columns, where BLAS can be slow)."""
    if X.shape[1] > 2:
        return (X * w[:, None]).T @ X
    return np.einsum("ij,i,ik->jk", X, w, X)


def _tmul(X: np.ndarray, v: np.ndarray) -> np.ndarray:
    """X' v (einsum for one or two columns)."""
    return X.T @ v if X.shape[1] > 2 else np.einsum("ij,i->j", X, v)


def _newton(
    X: np.ndarray,
    y: np.ndarray,
    offset: np.ndarray,
    start: np.ndarray,
    max_iter: int = 200,
    tol: float = 1e-10,
    weights: np.ndarray | None = None,
) -> tuple[np.ndarray, float, bool]:
    """Maximum likelihood logistic fit with an offset (Newton–Raphson, step halving);
    ``weights`` are frequency weights (counts of identical rows)."""
    from scipy.special import expit

    beta = start.astype("float64", copy=True)
    eta = offset + X @ beta
    ll = _loglik(eta, y, weights)
    for _ in range(max_iter):
        p = expit(eta)
        w = p * (1.0 - p)
        if weights is None:
            grad = _tmul(X, y - p)
        else:
            w = weights * w
            grad = _tmul(X, weights * (y - p))
        hess = _crossprod(X, w)
        try:
            step = np.linalg.solve(hess, grad)
        except np.linalg.LinAlgError:
            return beta, ll, False
        if not np.all(np.isfinite(step)):
            return beta, ll, False
        t = 1.0
        for _ in range(40):
            nb = beta + t * step
            neta = offset + X @ nb
            nll = _loglik(neta, y, weights)
            if nll >= ll - 1e-12 * max(1.0, abs(ll)):
                break
            t *= 0.5
        else:
            return beta, ll, False
        beta, eta, ll = nb, neta, nll
        if np.max(np.abs(t * step)) < tol * (1.0 + np.max(np.abs(beta))):
            return beta, ll, True
    return beta, ll, False


def profile_interval(
    X: np.ndarray,
    y: np.ndarray,
    beta_hat: np.ndarray,
    se: np.ndarray,
    j: int,
    alpha: float = 0.05,
    weights: np.ndarray | None = None,
) -> tuple[float, float, float, bool]:
    """Profile-likelihood CI and likelihood-ratio P of coefficient ``j``.

    ``X`` includes the constant column; ``beta_hat`` is the ML estimate; ``weights``
    are frequency weights of the rows (distinct rows with their counts). Returns
    ``(low, high, p_lr, ok)``; an infinite bound means the profile deviance never
    reached the χ² quantile; ``ok`` is False when a constrained fit or the root
    search failed (the bound is then NaN).
    """
    from scipy.optimize import brentq
    from scipy.stats import chi2

    crit = float(chi2.ppf(1.0 - alpha, 1))
    ll_hat = _loglik(X @ beta_hat, y, weights)
    rest = np.delete(np.arange(X.shape[1]), j)
    Xr, xj = X[:, rest], X[:, j]
    warm = {"beta": beta_hat[rest]}
    ok = [True]

    def deviance(b: float) -> float:
        beta, ll, conv = _newton(Xr, y, b * xj, warm["beta"], weights=weights)
        if not conv:
            beta, ll, conv = _newton(Xr, y, b * xj, beta_hat[rest], weights=weights)
        ok[0] = ok[0] and conv
        if conv:
            warm["beta"] = beta
        return 2.0 * (ll_hat - ll)

    def bound(sign: float) -> float:
        width = float(se[j]) if np.isfinite(se[j]) and se[j] > 0 else 1.0
        prev, step = 0.0, width * math.sqrt(crit)
        for _ in range(60):
            b = beta_hat[j] + sign * step
            if deviance(b) - crit > 0:
                lo, hi = sorted((beta_hat[j] + sign * prev, b))
                try:
                    return float(
                        brentq(
                            lambda v: deviance(v) - crit,
                            lo,
                            hi,
                            xtol=1e-12 * max(1.0, abs(b)),
                            rtol=1e-12,
                            maxiter=200,
                        )
                    )
                except (ValueError, RuntimeError):
                    ok[0] = False
                    return math.nan
            prev, step = step, step * 2.0
            if step > 1e6 * (1.0 + abs(beta_hat[j])):
                break
        return sign * math.inf

    low, high = bound(-1.0), bound(+1.0)
    d0 = deviance(0.0)
    p_lr = float(chi2.sf(max(d0, 0.0), 1))
    return low, high, p_lr, ok[0]


@dataclass
class _MLFit:
    params: np.ndarray  # constant first
    bse: np.ndarray
    pvalues: np.ndarray
    llf: float
    llnull: float
    fitted: np.ndarray
    converged: bool
    notes: list[str]


def _ml_fit_grouped(d: _Design) -> _MLFit:
    """ML fit of a large design on its distinct rows (:data:`GROUPED_FROM`)."""
    from scipy.special import expit
    from scipy.stats import norm

    g = d.grouped()
    X = np.column_stack([np.ones(len(g.y)), g.X])
    k = X.shape[1]
    ybar = float(d.y.mean())
    start = np.zeros(k)
    start[0] = math.log(ybar / (1.0 - ybar))
    notes: list[str] = []
    with np.errstate(over="ignore", divide="ignore", invalid="ignore"):
        params, llf, converged = _newton(X, g.y, np.zeros(len(g.y)), start, weights=g.w)
        p = expit(X @ params)
        try:
            cov = np.linalg.inv(_crossprod(X, g.w * p * (1.0 - p)))
            bse = np.sqrt(np.diag(cov))
        except np.linalg.LinAlgError:
            notes.append("The information matrix of the ML fit is singular.")
            bse = np.full(k, np.nan)
        pvalues = 2.0 * norm.sf(np.abs(params / bse))
    llnull = d.events * math.log(ybar) + (d.n_used - d.events) * math.log(1.0 - ybar)
    return _MLFit(params, bse, pvalues, llf, llnull, p[g.inverse], converged, notes)


def _ml_fit(d: _Design) -> _MLFit | None:
    if d.large:
        return _ml_fit_grouped(d)
    from statsmodels.discrete.discrete_model import Logit

    X = np.column_stack([np.ones(d.n_used), d.X])
    notes: list[str] = []
    try:
        with _captured(notes, "statsmodels"):
            res = Logit(d.y, X).fit(disp=0, method="newton", maxiter=100)
            params = np.asarray(res.params, dtype="float64")
            bse = np.asarray(res.bse, dtype="float64")
            pvalues = np.asarray(res.pvalues, dtype="float64")
            fitted = np.asarray(res.predict(X), dtype="float64")
            llf = float(res.llf)
            ybar = float(d.y.mean())
            llnull = d.events * math.log(ybar) + (d.n_used - d.events) * math.log(1.0 - ybar)
            converged = bool(res.mle_retvals.get("converged", False))
    except (np.linalg.LinAlgError, ValueError, OverflowError) as exc:
        notes.append(f"statsmodels Logit failed: {exc}")
        return _MLFit(
            np.full(X.shape[1], np.nan),
            np.full(X.shape[1], np.nan),
            np.full(X.shape[1], np.nan),
            np.nan,
            np.nan,
            np.full(d.n_used, np.nan),
            False,
            notes,
        )
    return _MLFit(params, bse, pvalues, llf, llnull, fitted, converged, notes)


def _separation(d: _Design, fit: _MLFit | None) -> tuple[bool, list[str]]:
    """Detect (quasi-)complete separation; reasons in words."""
    reasons: list[str] = []
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            sep = separation_check(d.X, d.y)
        if sep.separation:
            infinite = [
                t for t, k in zip([*d.fitted, "intercept"], sep.directions, strict=True) if k
            ]
            reasons.append(
                "the linear-programming check (Konis 2007) finds infinite ML estimates for "
                + ", ".join(infinite)
            )
    except (np.linalg.LinAlgError, ValueError) as exc:
        reasons.append(f"the separation check could not be run ({exc})")
    if fit is not None:
        if not fit.converged:
            reasons.append("the ML fit did not converge")
        if not np.all(np.isfinite(fit.bse)) or np.any(fit.bse > SEPARATION_SE):
            reasons.append("ML standard errors are non-finite or huge")
        p = fit.fitted
        if np.any(~np.isfinite(p)) or np.any(np.minimum(p, 1.0 - p) < EXTREME_P):
            reasons.append("fitted probabilities of 0 or 1 (perfect prediction)")
    return bool(reasons), reasons


def _z(alpha: float) -> float:
    from scipy.stats import norm

    return float(norm.ppf(1.0 - alpha / 2.0))


def _empty_rows(d: _Design | None, terms: Sequence[str], contrasts: dict) -> list[dict]:
    n = d.n_used if d is not None else 0
    ev = d.events if d is not None else 0
    return [
        tidy_row(
            t,
            n=n,
            events=ev,
            label=_label(t),
            contrast=contrasts.get(t, (t, ""))[1],
            coef=np.nan,
            se=np.nan,
        )
        for t in terms
    ]


def _ml_rows(d: _Design, fit: _MLFit, settings: AnalysisSettings) -> tuple[list[dict], list[str]]:
    """Per-term rows of an ML fit with profile-likelihood CIs."""
    notes: list[str] = []
    if d.large:
        g = d.grouped()
        X, y, weights = np.column_stack([np.ones(len(g.y)), g.X]), g.y, g.w
    else:
        X, y, weights = np.column_stack([np.ones(d.n_used), d.X]), d.y, None
    z = _z(settings.alpha)
    rows = _empty_rows(d, d.terms, d.contrasts)
    by_term = {r["term"]: r for r in rows}
    for k, term in enumerate(d.fitted, start=1):
        b, se = fit.params[k], fit.bse[k]
        low, high, p_lr, ok = profile_interval(
            X, y, fit.params, fit.bse, k, settings.alpha, weights=weights
        )
        if not ok:
            notes.append(f"{term}: a constrained fit of the likelihood profile did not converge.")
        if math.isinf(low) or math.isinf(high):
            notes.append(
                f"{term}: the profile-likelihood confidence interval is unbounded "
                "(reported as missing)."
            )
        low = low if math.isfinite(low) else math.nan
        high = high if math.isfinite(high) else math.nan
        by_term[term].update(
            estimate=math.exp(b),
            ci_low=math.exp(low),
            ci_high=math.exp(high),
            p=fit.pvalues[k],
            coef=b,
            se=se,
            z=b / se,
            wald_ci_low=math.exp(b - z * se),
            wald_ci_high=math.exp(b + z * se),
            p_lr=p_lr,
            method="ml",
        )
    return rows, notes
