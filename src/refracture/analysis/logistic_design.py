"""The design of a patient-level logistic model of ``refracture``.

What is fitted, before any fitting: :func:`encode_covariates` codes the covariates
(``sex`` male vs female, ``procedure`` KP vs VP, yes/no as yes vs no, numbers per
unit, other categoricals one indicator per non-reference category); the
complete-case design leaves out constant and collinear terms and says why; the
outcome checks say when no model can be fitted at all; and :func:`group_rows`
gives the distinct rows of (covariates, outcome) with their counts.

A large design (:data:`GROUPED_FROM` complete cases or more) is fitted to its
distinct rows, each weighted by how often it occurs: the log-likelihood
Σ_i [y_i η_i − log(1 + e^{η_i})] of the individual patients equals
Σ_g f_g [y_g η_g − log(1 + e^{η_g})] over the distinct rows g with counts f_g, term
for term, and so do its score, information and Firth penalty ½ log|X'WX|.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

__all__ = [
    "BINARY_CODES",
    "GROUPED_FROM",
    "OUTCOME",
    "Grouped",
    "encode_covariates",
    "group_rows",
]

OUTCOME = "refracture"

BINARY_CODES: dict[str, tuple[str, str]] = {"sex": ("M", "F"), "procedure": ("KP", "VP")}
"""Two-level categoricals: (category coded 1, reference category coded 0)."""
GROUPED_FROM = 20_000
"""From this many complete cases on, a model is fitted to its distinct rows with
their counts (the same likelihood; see the module docstring). Smaller data, such as
the example cohort, are fitted patient by patient exactly as before."""


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
