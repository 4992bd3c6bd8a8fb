"""Patient-level logistic regression for any subsequent vertebral fracture.

Outcome: the patient's ``refracture`` (any level fractured after the index
procedure). Three results:

* :func:`univariable_models` — one model per candidate covariate;
* :func:`multivariable_model` — the adjusted model of ``settings.model_covariates``
  fitted by maximum likelihood (statsmodels ``Logit``), with fit statistics;
* :func:`firth_model` — the same model by Firth's penalised likelihood
  (``firthmodels``), reported alongside ML and primary when the data are separated.

Coding of covariates: ``sex`` is male vs female, ``procedure`` kyphoplasty (KP)
vs vertebroplasty (VP), yes/no covariates yes vs no, numbers per unit as
recorded; any other categorical gets one indicator per non-reference category
(reference: its first category). Missing covariates are handled by complete-case
analysis and the number of patients used and excluded is reported.

Methods (also stated in each result's ``meta``):

* ML P values are Wald z tests (what statsmodels ``Logit`` reports); the 95 %
  CIs are profile-likelihood intervals: for coefficient *j* the bounds are the
  two roots of ``2 (ℓ̂ − max ℓ | β_j = b) = χ²₁(1 − α)``, each constrained
  maximum found by Newton–Raphson with step halving (the covariate enters as an
  offset) and the root by Brent's method. Wald intervals and likelihood-ratio P
  values are given in extra columns.
* Separation is detected explicitly: by the linear program of Konis (2007)
  (``firthmodels.detect_separation``) and by the symptoms of the ML fit (no
  convergence, non-finite standard errors, fitted probabilities of 0 or 1).
  Separated data make the Firth fit primary.
* Firth: penalised-likelihood estimates, penalised profile-likelihood CIs and
  penalised likelihood-ratio P values (as R's ``logistf`` reports them).

Large cohorts (:data:`GROUPED_FROM` complete cases or more) are fitted to their
*distinct* rows of (covariates, outcome), each weighted by how often it occurs.
The log-likelihood Σ_i [y_i η_i − log(1 + e^{η_i})] of the individual patients
equals Σ_g f_g [y_g η_g − log(1 + e^{η_g})] over the distinct rows g with counts
f_g, term for term, and so do its score, information and Firth penalty
½ log|X'WX|: estimates, standard errors, profile bounds and P values are those of
the patient-level fit (to floating-point rounding), at the cost of the distinct
rows. The ML fit is then Newton–Raphson on the weighted likelihood (Wald SEs from
the inverse information, as statsmodels ``Logit`` reports them) and the Firth fit
passes the counts to ``firthmodels`` as ``sample_weight`` (frequency weights);
``meta["computation"]`` says which was used. The separation check first solves
Konis' linear program on a few thousand of the rows (:func:`separation_check`).
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from refracture.analysis.result import Result, tidy_row
from refracture.analysis.settings import COVARIATE_LABELS, AnalysisSettings
from refracture.data.derive import DerivedData

__all__ = [
    "GROUPED_FROM",
    "c_statistic",
    "encode_covariates",
    "firth_model",
    "group_rows",
    "hosmer_lemeshow",
    "multivariable_model",
    "separation_check",
    "univariable_models",
]

OUTCOME = "refracture"
DEFAULT_SETTINGS = AnalysisSettings()

BINARY_CODES: dict[str, tuple[str, str]] = {"sex": ("M", "F"), "procedure": ("KP", "VP")}
"""Two-level categoricals: (category coded 1, reference category coded 0)."""

HL_GROUPS = 10
HL_GROUPING = (
    "deciles of fitted risk: breaks at the 0, 10, …, 100 % quantiles of the fitted "
    "probabilities (linear interpolation), intervals closed on the right with the "
    "lowest included, duplicate breaks merged (as R ResourceSelection::hoslem.test, g = 10); "
    "df = groups − 2"
)
CALIBRATION_NOTE = (
    "Calibration slope and calibration-in-the-large are 1 and 0 by construction when "
    "assessed on the data the model was fitted to, so only the Hosmer–Lemeshow test is reported."
)
SEPARATION_SE = 1e3
"""An ML standard error above this (on the coefficient scale) is a separation symptom."""
EXTREME_P = 1e-10
"""A fitted probability within this of 0 or 1 is a separation symptom."""
GROUPED_FROM = 20_000
"""From this many complete cases on, a model is fitted to its distinct rows with
their counts (the same likelihood; see the module docstring). Smaller data, such as
the example cohort, are fitted patient by patient exactly as before."""
SEPARATION_SUBSET = 4_000
"""Rows of the subset on which :func:`separation_check` first looks for a
certificate that the data are not separated."""
FIRTH_GROUPED_COMPUTATION = (
    "Firth penalised likelihood fitted to the distinct rows of (covariates, outcome) with "
    "their counts as frequency weights (firthmodels sample_weight; the same penalised "
    "likelihood as patient by patient); the ML fit alongside as in the multivariable model"
)
GROUPED_COMPUTATION = (
    "maximum likelihood fitted to the distinct rows of (covariates, outcome) weighted by "
    "their counts (the same likelihood as patient by patient): Newton–Raphson, Wald SEs "
    "from the inverse information"
)


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


@dataclass(frozen=True)
class Grouped:
    """The distinct rows of a design with their counts (see :func:`group_rows`)."""

    X: np.ndarray
    y: np.ndarray
    w: np.ndarray
    inverse: np.ndarray
    """Row ``i`` of the original data is distinct row ``inverse[i]``."""


def group_rows(X: np.ndarray, y: np.ndarray) -> Grouped:
    """The distinct rows of ``[X, y]`` (in order of first appearance), their counts and
    the inverse map.

    Each column is coded by hashing (``pd.factorize``) and the codes are combined
    into one integer key per row (mixed radix), so the grouping is one more
    factorisation of integers; when the key would not fit 63 bits, the rows
    themselves are compared (``np.unique(axis=0)``).
    """
    X = np.asarray(X, dtype="float64").reshape(len(y), -1)
    Z = np.column_stack([X, np.asarray(y, dtype="float64")])
    n, k = Z.shape
    codes, radix = [], 1
    for j in range(k):
        code, uniq = pd.factorize(Z[:, j])
        codes.append((code.astype(np.int64), max(1, uniq.size)))
        radix *= max(1, uniq.size)
    if n and radix < 2**62:
        key = np.zeros(n, dtype=np.int64)
        for code, size in codes:
            key = key * size + code
        inverse = pd.factorize(key)[0].astype(np.intp)
        # group g first appears where the running maximum of the codes reaches g
        top = np.maximum.accumulate(inverse)
        first = np.flatnonzero(np.r_[True, top[1:] > top[:-1]])
        rows, counts = Z[first], np.bincount(inverse)
    else:
        rows, inverse, counts = np.unique(Z, axis=0, return_inverse=True, return_counts=True)
    return Grouped(rows[:, :-1], rows[:, -1], counts.astype("float64"), inverse.reshape(-1))


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


def encode_covariates(
    patients: pd.DataFrame, covariates: Sequence[str]
) -> tuple[pd.DataFrame, dict[str, tuple[str, str]], list[str]]:
    """Numeric model columns of ``covariates`` (NaN = missing).

    Returns the encoded frame (one column per model term), ``{term: (covariate,
    contrast)}`` and notes about covariates that are absent from the data.
    """
    cols: dict[str, np.ndarray] = {}
    terms: dict[str, tuple[str, str]] = {}
    notes: list[str] = []
    for cov in covariates:
        if cov not in patients.columns:
            notes.append(f"Covariate {cov!r} is not in the patient data; it was left out.")
            continue
        s = patients[cov]
        if cov in BINARY_CODES:
            one, ref = BINARY_CODES[cov]
            v = s.astype(object)
            cols[cov] = np.where(v == one, 1.0, np.where(v == ref, 0.0, np.nan))
            terms[cov] = (cov, f"{one} vs {ref}")
        elif pd.api.types.is_bool_dtype(s):
            cols[cov] = s.astype("Float64").to_numpy(dtype="float64", na_value=np.nan)
            terms[cov] = (cov, "yes vs no")
        elif pd.api.types.is_numeric_dtype(s):
            cols[cov] = pd.to_numeric(s).to_numpy(dtype="float64", na_value=np.nan)
            terms[cov] = (cov, "per unit")
        else:
            cats = (
                list(s.cat.categories)
                if isinstance(s.dtype, pd.CategoricalDtype)
                else sorted(s.dropna().unique(), key=str)
            )
            if not cats:
                cols[cov] = np.full(len(s), np.nan)
                terms[cov] = (cov, "no categories")
                continue
            ref, v = cats[0], s.astype(object)
            miss = s.isna().to_numpy()
            for cat in cats[1:]:
                term = f"{cov}[{cat}]"
                cols[term] = np.where(miss, np.nan, (v == cat).to_numpy(dtype="float64"))
                terms[term] = (cov, f"{cat} vs {ref}")
            if len(cats) == 1:
                cols[cov] = np.where(miss, np.nan, 0.0)
                terms[cov] = (cov, f"only {ref}")
    return pd.DataFrame(cols, index=patients.index), terms, notes


@dataclass
class _Design:
    """Complete-case design of one model."""

    y: np.ndarray
    X: np.ndarray  # without the constant
    terms: list[str]  # requested terms (rows of the table)
    fitted: list[str]  # terms that are columns of X
    contrasts: dict[str, tuple[str, str]]
    n_total: int
    n_used: int
    notes: list[str] = field(default_factory=list)
    _grouped: Grouped | None = None

    @property
    def events(self) -> int:
        return int(self.y.sum())

    @property
    def large(self) -> bool:
        """Fitted to its distinct rows (see :data:`GROUPED_FROM`)."""
        return self.n_used >= GROUPED_FROM

    def grouped(self) -> Grouped:
        if self._grouped is None:
            self._grouped = group_rows(self.X, self.y)
        return self._grouped

    @property
    def n_excluded(self) -> int:
        return self.n_total - self.n_used


def _design(patients: pd.DataFrame, covariates: Sequence[str]) -> _Design:
    enc, contrasts, notes = encode_covariates(patients, covariates)
    y_all = patients[OUTCOME].astype("boolean").astype("Float64").to_numpy("float64", np.nan)
    ok = ~np.isnan(y_all) & enc.notna().all(axis=1).to_numpy()
    n_total, n_used = len(patients), int(ok.sum())
    if n_used < n_total:
        miss = enc.isna().sum()
        detail = ", ".join(f"{c} {int(k)}" for c, k in miss.items() if k)
        notes.append(
            f"Complete-case analysis: {n_total - n_used} of {n_total} patients excluded "
            f"for missing values ({detail})."
        )
    X = enc.to_numpy(dtype="float64")[ok]
    y = y_all[ok]
    terms = list(enc.columns)
    keep: list[int] = []
    for j, term in enumerate(terms):
        col = X[:, j]
        if n_used and np.all(col == col[0]):
            notes.append(
                f"{term} is constant in the {n_used} patients analysed; it was left out "
                "of the model and its odds ratio is not estimable."
            )
            continue
        trial = np.column_stack([np.ones(n_used), X[:, [*keep, j]]])
        if n_used > trial.shape[1] and np.linalg.matrix_rank(trial) < trial.shape[1]:
            notes.append(
                f"{term} is collinear with the other covariates; it was left out of the "
                "model and its odds ratio is not estimable."
            )
            continue
        keep.append(j)
    fitted = [terms[j] for j in keep]
    return _Design(y, X[:, keep], terms, fitted, contrasts, n_total, n_used, notes)


def _outcome_problem(d: _Design) -> str | None:
    """Why no model can be fitted to ``d`` at all (or None)."""
    if d.n_used == 0:
        return "No patient has complete data; the model cannot be fitted."
    if d.events == 0:
        return (
            f"No patient (of {d.n_used}) had a subsequent fracture; odds ratios are not estimable."
        )
    if d.events == d.n_used:
        return (
            f"Every patient (of {d.n_used}) had a subsequent fracture; "
            "odds ratios are not estimable."
        )
    if not d.fitted:
        return "No covariate could be estimated."
    if d.n_used <= len(d.fitted) + 1:
        return (
            f"{d.n_used} patients are too few for {len(d.fitted)} coefficients and an "
            "intercept; the model cannot be fitted."
        )
    return None


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


# --------------------------------------------------------------------------- fit statistics


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


# --------------------------------------------------------------------------- Firth


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

    if d.large:  # distinct rows with their counts as frequency weights (module docstring)
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


# --------------------------------------------------------------------------- analyses


def univariable_models(data: DerivedData, settings: AnalysisSettings = DEFAULT_SETTINGS) -> Result:
    """One logistic model of ``refracture`` per candidate covariate.

    Table rows: one per term (``sex`` male vs female, ``procedure`` KP vs VP,
    yes/no covariates yes vs no, numbers per unit). ``estimate`` is the odds
    ratio, CI profile likelihood, ``p`` Wald; further columns ``events``,
    ``label``, ``contrast``, ``coef``, ``se``, ``z``, ``wald_ci_low``,
    ``wald_ci_high``, ``p_lr``, ``method`` ("ml", or "firth" for a covariate
    whose data are separated: Firth estimate, penalised profile CI, penalised
    LRT P), ``n_excluded_missing``.
    """
    rows: list[dict] = []
    notes: list[str] = []
    grouped = False
    for cov in settings.candidate_covariates:
        d = _design(data.patients, [cov])
        grouped = grouped or d.large
        notes += d.notes
        problem = _outcome_problem(d)
        if problem:
            notes.append(f"{cov}: {problem}")
            cov_rows = _empty_rows(d, d.terms or [cov], d.contrasts)
        else:
            fit = _ml_fit(d)
            separated, reasons = _separation(d, fit)
            if separated:
                ff = _firth_fit(d, settings.alpha)
                notes.append(
                    f"{cov}: separation ({'; '.join(reasons)}); the odds ratio is Firth's "
                    "penalised-likelihood estimate."
                )
                notes += [f"{cov}: {n}" for n in ff.notes]
                cov_rows = _firth_rows(d, ff)
            else:
                cov_rows, more = _ml_rows(d, fit, settings)
                notes += [f"{cov}: {n}" for n in fit.notes + more]
        for r in cov_rows:
            r["n_excluded_missing"] = d.n_excluded
        rows += cov_rows
    table = _table(rows)
    meta = {
        "outcome": OUTCOME,
        "model": "logistic regression, one covariate at a time, complete cases per covariate",
        "ci_method": "profile likelihood",
        "p_method": "Wald z test",
        "separation_method": "Firth penalised likelihood (firthmodels)",
        "alpha": settings.alpha,
    }
    if grouped:
        meta["computation"] = GROUPED_COMPUTATION
    return Result("univariable", table, notes=tuple(dict.fromkeys(notes)), meta=meta)


_COLUMNS = (
    "term",
    "estimate",
    "ci_low",
    "ci_high",
    "p",
    "n",
    "events",
    "label",
    "contrast",
    "coef",
    "se",
    "z",
    "wald_ci_low",
    "wald_ci_high",
    "p_lr",
    "method",
)


def _table(rows: list[dict], columns: Sequence[str] = _COLUMNS) -> pd.DataFrame:
    table = pd.DataFrame(rows)
    for c in columns:
        if c not in table.columns:
            table[c] = "" if c in ("label", "contrast", "method") else np.nan
    extra = [c for c in table.columns if c not in columns]
    table = table[[*columns, *extra]]
    for c in ("n", "events"):
        table[c] = table[c].astype("int64")
    return table


@dataclass
class _Multi:
    design: _Design
    fit: _MLFit | None
    separated: bool
    reasons: list[str]
    problem: str | None
    _ml_rows: tuple[list[dict], list[str]] | None = None

    def ml_rows(self, settings: AnalysisSettings) -> tuple[list[dict], list[str]]:
        """The ML rows with profile-likelihood CIs (computed once, copies returned)."""
        assert self.fit is not None
        if self._ml_rows is None:
            self._ml_rows = _ml_rows(self.design, self.fit, settings)
        rows, notes = self._ml_rows
        return [dict(r) for r in rows], list(notes)


_LAST_MULTI: list = []
"""The last multivariable fit: ``[patients frame (weak reference), settings, _Multi]``.
:func:`multivariable_model` and :func:`firth_model` fit the same ML model; the second
reuses the first's fit, separation check and profile CIs when it is given the very
same patient frame (an identical object, not an equal one) and settings."""


def _multi(data: DerivedData, settings: AnalysisSettings) -> _Multi:
    import weakref

    if _LAST_MULTI and _LAST_MULTI[0]() is data.patients and _LAST_MULTI[1] == settings:
        return _LAST_MULTI[2]
    d = _design(data.patients, settings.model_covariates)
    problem = _outcome_problem(d)
    if problem:
        m = _Multi(d, None, False, [], problem)
    else:
        fit = _ml_fit(d)
        separated, reasons = _separation(d, fit)
        m = _Multi(d, fit, separated, reasons, None)
    _LAST_MULTI[:] = [weakref.ref(data.patients), settings, m]
    return m


def _epv(d: _Design, settings: AnalysisSettings) -> tuple[float, list[str]]:
    k = len(d.fitted)
    if not k:
        return math.nan, []
    limiting = min(d.events, d.n_used - d.events)
    epv = limiting / k
    if epv < settings.epv_warning:
        return epv, [
            f"Events per variable {epv:.1f} (min(events, non-events) {limiting}"
            f" / {k} coefficients) is below {settings.epv_warning:g}; estimates may be "
            "biased away from 1 and unstable (Firth estimates are given for comparison)."
        ]
    return epv, []


def multivariable_model(data: DerivedData, settings: AnalysisSettings = DEFAULT_SETTINGS) -> Result:
    """Adjusted logistic model of ``refracture`` on ``settings.model_covariates``.

    Table: one row per term with the odds ratio (``estimate``), 95 % profile-
    likelihood CI, Wald ``p``, ``n`` used, and ``events``, ``label``,
    ``contrast``, ``coef``, ``se``, ``z``, ``wald_ci_low``, ``wald_ci_high``,
    ``p_lr`` (likelihood-ratio P), ``method``, ``vif``. ``meta``: ``n``,
    ``events``, ``n_total``, ``n_excluded_missing``, ``epv``, ``ci_method``,
    ``p_method``, ``c_statistic``, Hosmer–Lemeshow ``hl_chi2``/``hl_df``/``hl_p``/
    ``hl_groups`` with ``hl_grouping``, ``calibration_note``, model ``lr_chi2``/
    ``lr_df``/``lr_p``, ``loglik``, ``aic``, ``intercept``/``intercept_se``,
    ``separation`` and ``primary`` ("ml", or "firth" when the data are separated).
    """
    m = _multi(data, settings)
    d = m.design
    notes = list(d.notes)
    meta: dict = {
        "outcome": OUTCOME,
        "covariates": list(settings.model_covariates),
        "n": d.n_used,
        "events": d.events,
        "n_total": d.n_total,
        "n_excluded_missing": d.n_excluded,
        "epv": math.nan,
        "epv_definition": "min(events, non-events) / number of estimated coefficients",
        "ci_method": "profile likelihood",
        "p_method": "Wald z test",
        "c_statistic": math.nan,
        "hl_chi2": math.nan,
        "hl_df": math.nan,
        "hl_p": math.nan,
        "hl_groups": math.nan,
        "hl_grouping": HL_GROUPING,
        "calibration_note": CALIBRATION_NOTE,
        "lr_chi2": math.nan,
        "lr_df": math.nan,
        "lr_p": math.nan,
        "loglik": math.nan,
        "aic": math.nan,
        "intercept": math.nan,
        "intercept_se": math.nan,
        "converged": False,
        "separation": m.separated,
        "primary": "firth" if m.separated else "ml",
        "alpha": settings.alpha,
    }
    if d.large:
        meta["computation"] = GROUPED_COMPUTATION
    if m.problem or m.fit is None:
        notes.append(m.problem or "The model could not be fitted.")
        rows = _empty_rows(d, d.terms, d.contrasts)
        for r in rows:
            r["vif"] = np.nan
        return Result("multivariable", _table(rows), tuple(notes), meta)

    fit = m.fit
    epv, epv_notes = _epv(d, settings)
    notes += epv_notes
    notes += fit.notes
    meta.update(epv=epv, converged=fit.converged)
    vif = dict(zip(d.fitted, _vif(d.X, closed_form=d.large), strict=True))
    if m.separated:
        notes.append(
            "Separation: " + "; ".join(m.reasons) + ". Maximum-likelihood estimates are "
            "infinite or unreliable and are not reported; the Firth penalised-likelihood "
            "model is primary."
        )
        rows = _empty_rows(d, d.terms, d.contrasts)
    else:
        rows, more = m.ml_rows(settings)
        notes += more
        from scipy.stats import chi2

        lr = 2.0 * (fit.llf - fit.llnull)
        hl = hosmer_lemeshow(d.y, fit.fitted)
        if not math.isfinite(hl[0]):
            notes.append("The Hosmer–Lemeshow test could not be computed (too few groups).")
        meta.update(
            c_statistic=c_statistic(d.y, fit.fitted),
            hl_chi2=hl[0],
            hl_df=hl[1],
            hl_p=hl[2],
            hl_groups=hl[3],
            lr_chi2=lr,
            lr_df=len(d.fitted),
            lr_p=float(chi2.sf(lr, len(d.fitted))),
            loglik=fit.llf,
            aic=2.0 * (len(d.fitted) + 1) - 2.0 * fit.llf,
            intercept=float(fit.params[0]),
            intercept_se=float(fit.bse[0]),
        )
    for r in rows:
        r["vif"] = vif.get(r["term"], np.nan)
    return Result("multivariable", _table(rows), tuple(dict.fromkeys(notes)), meta)


def firth_model(data: DerivedData, settings: AnalysisSettings = DEFAULT_SETTINGS) -> Result:
    """The multivariable model fitted by Firth's penalised likelihood.

    Table: one row per term with the Firth odds ratio (``estimate``), penalised
    profile-likelihood 95 % CI, penalised likelihood-ratio ``p``, ``n``; then
    ``events``, ``label``, ``contrast``, ``coef``, ``se`` (from the penalised
    information), ``p_wald``, ``method`` and the ML fit alongside:
    ``ml_estimate``, ``ml_ci_low``, ``ml_ci_high`` (profile likelihood), ``ml_p``
    (Wald). ``meta["primary"]`` is "firth" when separation was detected, else "ml".
    """
    m = _multi(data, settings)
    d = m.design
    notes = list(d.notes)
    meta: dict = {
        "outcome": OUTCOME,
        "covariates": list(settings.model_covariates),
        "method": "Firth penalised likelihood (firthmodels FirthLogisticRegression)",
        "ci_method": "penalised profile likelihood",
        "p_method": "penalised likelihood ratio test",
        "n": d.n_used,
        "events": d.events,
        "n_total": d.n_total,
        "n_excluded_missing": d.n_excluded,
        "epv": math.nan,
        "intercept": math.nan,
        "converged": False,
        "separation": m.separated,
        "primary": "firth" if m.separated else "ml",
        "alpha": settings.alpha,
    }
    if d.large:
        meta["computation"] = FIRTH_GROUPED_COMPUTATION
    ml_cols = ("ml_estimate", "ml_ci_low", "ml_ci_high", "ml_p")
    columns = (*_COLUMNS[:11], "p_wald", "method", *ml_cols)
    if m.problem or m.fit is None:
        notes.append(m.problem or "The model could not be fitted.")
        return Result(
            "firth", _table(_empty_rows(d, d.terms, d.contrasts), columns), tuple(notes), meta
        )

    epv, epv_notes = _epv(d, settings)
    ff = _firth_fit(d, settings.alpha)
    notes += epv_notes + ff.notes
    meta.update(epv=epv, converged=ff.converged, intercept=float(ff.params[0]))
    rows = _firth_rows(d, ff)
    if m.separated:
        notes.append(
            "Separation: " + "; ".join(m.reasons) + ". The Firth model is primary; "
            "ML estimates are not reported."
        )
    else:
        ml_rows, _ = m.ml_rows(settings)
        ml = {r["term"]: r for r in ml_rows}
        for r in rows:
            src = ml[r["term"]]
            r.update(
                ml_estimate=src["estimate"],
                ml_ci_low=src["ci_low"],
                ml_ci_high=src["ci_high"],
                ml_p=src["p"],
            )
    return Result("firth", _table(rows, columns), tuple(dict.fromkeys(notes)), meta)
