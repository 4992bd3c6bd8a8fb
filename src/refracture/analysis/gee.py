"""Vertebra-level GEE: does a level's own T-score predict that level's next fracture?

Unit of analysis: a level of the level-specific analysis set (an untreated level
with a DXA T-score); outcome: that level's ``subsequent_fracture``. Levels of one
patient are correlated, so the models are generalised estimating equations
(the estimator of statsmodels ``GEE``, vectorised here for registry-sized data:
:func:`fit_gee`): binomial family with logit link, exchangeable working
correlation within patients, robust (sandwich) standard errors.

Two models, each adjusted for adjacency to a treated level and age:

* ``continuous`` — the T-score entered as ``tscore_lower`` = −T, so the odds
  ratio is **per 1 unit lower T-score** (OR > 1: lower density, higher risk);
* ``cutoff`` — the indicator "T ≤ first_cutoff", decided in exact tenths
  (``rint(10 T) ≤ rint(10 cutoff)``), e.g. the first significant cutoff of the
  threshold analysis.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal

import numpy as np
import pandas as pd

from refracture.analysis.result import Result, tidy_row
from refracture.analysis.settings import AnalysisSettings
from refracture.data.derive import DerivedData

__all__ = ["GeeFit", "fit_gee", "level_gee", "tscore_at_or_below"]

DEFAULT_SETTINGS = AnalysisSettings()
OUTCOME = "subsequent_fracture"
MAX_STEP = 5.0
"""Largest change of any coefficient per scoring step (guards against overshooting)."""
LABELS = {
    "tscore_lower": "Level T-score (per 1 unit lower)",
    "tscore_le_cutoff": "Level T-score at or below the cutoff",
    "adjacent": "Adjacent to a treated level",
    "age": "Age (per year)",
}


@dataclass
class GeeFit:
    """Coefficients of one GEE (constant first), robust SEs, and what went wrong."""

    params: np.ndarray
    bse: np.ndarray
    pvalues: np.ndarray
    dep_param: float
    scale: float
    converged: bool
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.converged and bool(np.all(np.isfinite(self.params)))


def _cluster_sums(values: np.ndarray, groups: np.ndarray, n_groups: int) -> np.ndarray:
    """Column sums of ``values`` (n × k) within each cluster (n_groups × k)."""
    if values.ndim == 1:
        return np.bincount(groups, weights=values, minlength=n_groups)
    columns = np.ascontiguousarray(values.T)  # one contiguous row per column
    return np.column_stack(
        [np.bincount(groups, weights=col, minlength=n_groups) for col in columns]
    )


def fit_gee(
    y: np.ndarray,
    X: np.ndarray,
    groups: np.ndarray,
    family: str,
    working: str = "exchangeable",
    maxiter: int = 200,
    tol: float = 1e-10,
) -> GeeFit:
    """Fit ``y ~ 1 + X`` by GEE with a working correlation within ``groups``.

    ``family`` is "binomial" (logit link) or "gaussian" (identity link);
    ``working`` "exchangeable" (the analyses) or "independence"; ``groups`` are
    integer cluster codes. Standard errors are robust (sandwich, no small-sample
    correction). A failed fit returns NaN coefficients with a note.

    The estimator is that of statsmodels ``GEE`` (Liang & Zeger 1986), vectorised
    over clusters with the closed-form inverse of the exchangeable correlation
    ``R⁻¹ = [I − c J] / (1 − α)``, ``c = α / (1 + (m − 1) α)``:

    * start: the GLM (independence) fit by Fisher scoring;
    * then alternate Fisher-scoring steps for β with the moment estimate of α from
      Pearson residuals r: φ = Σ r² / (N − p), α = Σ_i Σ_{j<k} r_ij r_ik / φ /
      (Σ_i m_i(m_i − 1)/2 − p) (statsmodels' ``Exchangeable.update``), until the
      β step is below ``tol`` (relative);
    * robust covariance ``B⁻¹ M B⁻¹`` with ``B = Σ D̃ᵢ'R⁻¹D̃ᵢ``, ``M = Σ uᵢuᵢ'``,
      ``uᵢ = D̃ᵢ'R⁻¹r̃ᵢ`` (D̃ = A^{-½} ∂μ/∂β, r̃ the Pearson residuals).
    """
    from scipy.stats import norm

    y = np.asarray(y, dtype="float64")
    Xc = np.column_stack([np.ones(len(y)), np.asarray(X, dtype="float64").reshape(len(y), -1)])
    n, k = Xc.shape
    groups = np.asarray(groups)
    codes = pd.factorize(groups)[0] if groups.dtype.kind not in "iu" else groups
    n_groups = int(codes.max()) + 1 if n else 0
    size = np.bincount(codes, minlength=n_groups).astype("float64")
    n_pairs = float(np.sum(size * (size - 1.0) / 2.0))
    binomial = family == "binomial"
    exchangeable = working == "exchangeable" and n_pairs > 0
    notes: list[str] = []
    nan = np.full(k, np.nan)

    def failed(note: str) -> GeeFit:
        notes.append(note)
        return GeeFit(nan, nan, nan, math.nan, math.nan, False, notes)

    def pieces(beta: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Standardised derivative D̃ (n × k) and Pearson residuals r̃ at ``beta``."""
        eta = Xc @ beta
        if binomial:
            with np.errstate(over="ignore"):
                mu = 1.0 / (1.0 + np.exp(-eta))
            sd = np.sqrt(mu * (1.0 - mu))
            return Xc * sd[:, None], (y - mu) / np.where(sd > 0, sd, np.nan)
        return Xc, y - eta

    cache: list = [None, None]

    def last_pieces(beta: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``pieces(beta)``, reused while β is unchanged (each step needs them twice)."""
        if cache[0] is None or not np.array_equal(cache[0], beta):
            cache[:] = [beta.copy(), pieces(beta)]
        return cache[1]

    def moment_alpha(r: np.ndarray) -> float:
        """Moment estimate of the exchangeable correlation; NaN where it is undefined
        (no residual variance, or no more within-cluster pairs than coefficients)."""
        ss = float(np.sum(r**2))
        if n <= k or n_pairs <= k or not ss > 0:
            return math.nan
        phi = ss / (n - k)
        within = _cluster_sums(r, codes, n_groups)
        pairs = 0.5 * float(np.sum(within**2) - ss)
        return pairs / phi / (n_pairs - k)

    def weights(alpha: float) -> tuple[float, np.ndarray]:
        c = alpha / (1.0 + (size - 1.0) * alpha) if alpha else np.zeros(n_groups)
        return 1.0 / (1.0 - alpha), c

    def bread_scores(beta: np.ndarray, alpha: float) -> tuple[np.ndarray, np.ndarray]:
        D, r = last_pieces(beta)
        a, c = weights(alpha)
        S = _cluster_sums(D, codes, n_groups)  # Σ_j D̃_ij per cluster
        rho = _cluster_sums(r, codes, n_groups)  # Σ_j r̃_ij per cluster
        bread = a * (D.T @ D - (S * c[:, None]).T @ S)
        u = a * (_cluster_sums(D * r[:, None], codes, n_groups) - S * (c * rho)[:, None])
        return bread, u

    if binomial:
        ybar = float(np.clip(y.mean(), 1e-6, 1 - 1e-6)) if n else 0.5
        beta = np.zeros(k)
        beta[0] = math.log(ybar / (1.0 - ybar))
    else:
        beta = np.linalg.lstsq(Xc, y, rcond=None)[0]
    alpha = 0.0
    converged = False
    with np.errstate(divide="ignore", invalid="ignore"):
        for it in range(maxiter):
            if exchangeable and it > 0:
                alpha = moment_alpha(last_pieces(beta)[1])
                if not (math.isfinite(alpha) and -1.0 / (size.max() - 1.0) < alpha < 1.0):
                    shown = f" ({alpha:.3g})" if math.isfinite(alpha) else ""  # never "(nan)"
                    return failed(
                        f"The exchangeable working correlation estimate{shown} is "
                        "undefined or outside its admissible range; the GEE cannot be fitted."
                    )
            bread, u = bread_scores(beta, alpha)
            try:
                step = np.linalg.solve(bread, u.sum(axis=0))
            except np.linalg.LinAlgError:
                return failed("The GEE information matrix is singular.")
            if not np.all(np.isfinite(step)):
                return failed("The GEE iterations produced non-finite values.")
            largest = float(np.max(np.abs(step)))
            if largest > MAX_STEP:
                step *= MAX_STEP / largest
            beta = beta + step
            if np.max(np.abs(step)) < tol * (1.0 + np.max(np.abs(beta))) and (
                it > 0 or not exchangeable
            ):
                converged = True
                break
        if exchangeable:
            alpha = moment_alpha(last_pieces(beta)[1])
        bread, u = bread_scores(beta, alpha)
        try:
            inv = np.linalg.inv(bread)
        except np.linalg.LinAlgError:
            return failed("The GEE information matrix is singular.")
        cov = inv @ (u.T @ u) @ inv
        bse = np.sqrt(np.diag(cov))
        pvalues = 2.0 * norm.sf(np.abs(beta / bse))
        r = last_pieces(beta)[1]
        scale = 1.0 if binomial else float(np.sum(r**2)) / (n - k)
    if not converged:
        notes.append(f"The GEE did not converge in {maxiter} iterations.")
    return GeeFit(beta, bse, pvalues, float(alpha), scale, converged, notes)


def tscore_at_or_below(tscore: pd.Series | np.ndarray, cutoff: float | Decimal) -> np.ndarray:
    """``T ≤ cutoff`` in exact decimals: the one rule shared with the survival groups."""
    from refracture.analysis.survival_statistics import tscore_le

    return tscore_le(tscore, cutoff)


def _rows(
    model: str,
    terms: Sequence[str],
    n: int,
    n_clusters: int,
    events: int,
    cutoff: float,
) -> list[dict]:
    return [
        tidy_row(
            t,
            n=n,
            model=model,
            label=LABELS.get(t, t),
            coef=np.nan,
            se=np.nan,
            z=np.nan,
            n_clusters=n_clusters,
            events=events,
            cutoff=cutoff,
        )
        for t in terms
    ]


def _binary_problem(y: np.ndarray, groups: np.ndarray, k: int) -> str | None:
    """Why the binomial GEE cannot be fitted (``groups``: codes 0 … clusters − 1)."""
    n, n_clusters, events = len(y), _n_codes(groups), int(y.sum())
    if n == 0:
        return "no levels with complete data"
    if events == 0:
        return f"no level (of {n}) fractured; odds ratios are not estimable"
    if events == n:
        return f"every level (of {n}) fractured; odds ratios are not estimable"
    if n_clusters <= k:
        return (
            f"{n_clusters} patient(s) are too few for robust (sandwich) standard errors "
            f"of {k} coefficients"
        )
    return None


def _n_codes(codes: np.ndarray) -> int:
    """Number of clusters of ``pd.factorize`` codes (every code 0 … max occurs)."""
    return int(codes.max()) + 1 if codes.size else 0


def _model(
    name: str,
    frame: pd.DataFrame,
    exposure: str,
    cutoff: float,
    alpha: float,
) -> tuple[list[dict], list[str], dict]:
    """One binomial GEE of the outcome on ``exposure`` + adjacent + age."""
    from scipy.stats import norm

    from refracture.analysis.logistic import separation_check

    terms = [exposure, "adjacent", "age"]
    y = frame[OUTCOME].to_numpy(dtype="float64")
    groups = pd.factorize(frame["patient_id"])[0]
    X_all = frame[terms].to_numpy(dtype="float64")
    n, n_clusters, events = len(y), _n_codes(groups), int(y.sum())
    rows = _rows(name, terms, n, n_clusters, events, cutoff)
    notes: list[str] = []
    info: dict = {f"alpha_{name}": math.nan, f"intercept_{name}": math.nan}
    keep = []
    for j, t in enumerate(terms):
        col = X_all[:, j]
        if n and np.all(col == col[0]):
            notes.append(f"{name} model: {t} is constant; it was left out and is not estimable.")
        else:
            keep.append(j)
    X = X_all[:, keep]
    problem = _binary_problem(y, groups, len(keep) + 1)
    if problem is None and not keep:
        problem = "no covariate varies"
    if problem is None:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                sep = separation_check(X, y)
            if sep.separation:
                names = [terms[j] for j in keep] + ["intercept"]
                infinite = [t for t, d in zip(names, sep.directions, strict=True) if d]
                problem = (
                    "the data are separated (infinite estimates for " + ", ".join(infinite) + ")"
                )
        except (np.linalg.LinAlgError, ValueError) as exc:
            problem = f"the design is degenerate ({exc})"
    if problem:
        notes.append(f"{name} model not estimable: {problem}.")
        return rows, notes, info
    fit = fit_gee(y, X, groups, "binomial")
    notes += [f"{name} model: {m}" for m in fit.notes]
    if not fit.ok:
        notes.append(f"{name} model: no estimates reported.")
        return rows, notes, info
    z = float(norm.ppf(1.0 - alpha / 2.0))
    by_term = {r["term"]: r for r in rows}
    for pos, j in enumerate(keep, start=1):
        b, se = fit.params[pos], fit.bse[pos]
        by_term[terms[j]].update(
            estimate=math.exp(b),
            ci_low=math.exp(b - z * se),
            ci_high=math.exp(b + z * se),
            p=fit.pvalues[pos],
            coef=b,
            se=se,
            z=b / se,
        )
    info = {f"alpha_{name}": fit.dep_param, f"intercept_{name}": float(fit.params[0])}
    return rows, notes, info


def level_gee(
    data: DerivedData,
    settings: AnalysisSettings = DEFAULT_SETTINGS,
    first_cutoff: float | Decimal | None = None,
) -> Result:
    """GEE of a level's subsequent fracture on its T-score, adjacency and age.

    Table rows (column ``model`` = "continuous" or "cutoff"): terms
    ``tscore_lower`` (OR per 1 unit lower T-score) or ``tscore_le_cutoff``
    (T ≤ ``first_cutoff`` vs above), then ``adjacent`` (adjacent to a treated
    level vs not) and ``age`` (per year). ``estimate`` is the odds ratio with a
    Wald 95 % CI from robust SEs, ``p`` the robust Wald P, ``n`` the number of
    levels; further columns ``label``, ``coef``, ``se``, ``z``, ``n_clusters``
    (patients), ``events`` (fractured levels) and ``cutoff``. The cutoff model is
    omitted (with a note) when ``first_cutoff`` is None.
    """
    ls = data.level_set
    frame = pd.DataFrame(
        {
            "patient_id": ls["patient_id"],
            OUTCOME: ls[OUTCOME].astype("boolean").astype("Float64"),
            "tscore_lower": -pd.to_numeric(ls["tscore"]).astype("float64"),
            "adjacent": ls["adjacent"].astype("boolean").astype("Float64"),
            "age": pd.to_numeric(ls["age"]).astype("float64"),
        }
    )
    if first_cutoff is not None:
        le = tscore_at_or_below(ls["tscore"], first_cutoff).astype("float64")
        frame["tscore_le_cutoff"] = np.where(ls["tscore"].isna(), np.nan, le)
    complete = frame.notna().all(axis=1)
    notes: list[str] = []
    if not complete.all():
        notes.append(
            f"Complete-case analysis: {int((~complete).sum())} of {len(frame)} levels "
            "excluded for missing values."
        )
    frame = frame.loc[complete].astype({c: "float64" for c in frame.columns if c != "patient_id"})
    cutoff = math.nan if first_cutoff is None else float(first_cutoff)
    meta: dict = {
        "outcome": OUTCOME,
        "unit": "untreated vertebral level with a DXA T-score",
        "family": "binomial (logit link)",
        "working_correlation": "exchangeable within patient",
        "cov_type": "robust (sandwich), no small-sample correction",
        "ci_method": "Wald with robust SE",
        "tscore_direction": "OR per 1 unit lower T-score (tscore_lower = -T)",
        "cutoff_rule": "T <= cutoff decided in exact tenths: rint(10 T) <= rint(10 cutoff)",
        "first_cutoff": cutoff,
        "n": len(frame),
        "n_clusters": int(frame["patient_id"].nunique()),
        "events": int(frame[OUTCOME].sum()),
        "alpha": settings.alpha,
    }
    rows, more, info = _model("continuous", frame, "tscore_lower", cutoff, settings.alpha)
    notes += more
    meta.update(info)
    if first_cutoff is None:
        notes.append("No first cutoff was given; the cutoff model was not fitted.")
        meta.update(alpha_cutoff=math.nan, intercept_cutoff=math.nan)
    else:
        more_rows, more, info = _model("cutoff", frame, "tscore_le_cutoff", cutoff, settings.alpha)
        rows += more_rows
        notes += more
        meta.update(info)
        meta["cutoff_levels_at_or_below"] = int(frame["tscore_le_cutoff"].sum())
    table = pd.DataFrame(rows)
    for c in ("n", "n_clusters", "events"):
        table[c] = table[c].astype("int64")
    return Result("level_gee", table, tuple(dict.fromkeys(notes)), meta)
