"""Fit statistics of a logistic model: discrimination (:func:`c_statistic`),
calibration (:func:`hosmer_lemeshow`) and collinearity (variance inflation factors)."""

from __future__ import annotations

import math
import warnings

import numpy as np

__all__ = ["HL_GROUPING", "HL_GROUPS", "c_statistic", "hosmer_lemeshow"]

HL_GROUPS = 10
HL_GROUPING = (
    "deciles of fitted risk: breaks at the 0, 10, …, 100 % quantiles of the fitted "
    "probabilities (linear interpolation), intervals closed on the right with the "
    "lowest included, duplicate breaks merged (as R ResourceSelection::hoslem.test, g = 10); "
    "df = groups − 2"
)


def c_statistic(y: np.ndarray, p: np.ndarray) -> float:
    """Area under the ROC curve of scores ``p`` for binary ``y`` (ties count one half)."""
    from scipy.stats import rankdata

    y = np.asarray(y, dtype=bool)
    n1, n0 = int(y.sum()), int((~y).sum())
    if n1 == 0 or n0 == 0:
        return math.nan
    ranks = rankdata(np.asarray(p, dtype="float64"))
    return float((ranks[y].sum() - n1 * (n1 + 1) / 2.0) / (n1 * n0))


def hosmer_lemeshow(
    y: np.ndarray, p: np.ndarray, groups: int = HL_GROUPS
) -> tuple[float, int, float, int]:
    """Hosmer–Lemeshow χ², df, P and the number of groups (grouping: :data:`HL_GROUPING`)."""
    from scipy.stats import chi2

    y = np.asarray(y, dtype="float64")
    p = np.asarray(p, dtype="float64")
    breaks = np.unique(np.quantile(p, np.linspace(0.0, 1.0, groups + 1)))
    g = np.searchsorted(breaks[1:-1], p, side="left")
    _, g = np.unique(g, return_inverse=True)
    n_g = np.bincount(g).astype("float64")
    obs = np.bincount(g, weights=y)
    exp = np.bincount(g, weights=p)
    n_groups = int(n_g.size)
    df = n_groups - 2
    if df < 1 or np.any(exp <= 0) or np.any(n_g - exp <= 0):
        return math.nan, df, math.nan, n_groups
    stat = float(np.sum((obs - exp) ** 2 / exp + (obs - exp) ** 2 / (n_g - exp)))
    return stat, df, float(chi2.sf(stat, df)), n_groups


def _vif(X: np.ndarray, closed_form: bool = False) -> np.ndarray:
    """Variance inflation factor of each column of ``X`` (a constant is added).

    statsmodels ``variance_inflation_factor`` (one OLS per column); with
    ``closed_form`` (large data) the same quantity as the diagonal of the inverse
    correlation matrix of ``X``: VIF_j = 1/(1 − R²_j) = [R⁻¹]_jj when the auxiliary
    regressions include a constant.
    """
    if closed_form:
        out = np.full(X.shape[1], np.nan)
        with np.errstate(divide="ignore", invalid="ignore"):
            corr = np.corrcoef(X, rowvar=False).reshape(X.shape[1], X.shape[1])
            try:
                v = np.diag(np.linalg.inv(corr))
            except np.linalg.LinAlgError:
                return out
        return np.where(np.isfinite(v) & (v > 0), v, np.nan)
    from statsmodels.stats.outliers_influence import variance_inflation_factor

    Xc = np.column_stack([np.ones(X.shape[0]), X])
    out = np.full(X.shape[1], np.nan)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for j in range(X.shape[1]):
            v = float(variance_inflation_factor(Xc, j + 1))
            out[j] = v if math.isfinite(v) else np.nan
    return out
