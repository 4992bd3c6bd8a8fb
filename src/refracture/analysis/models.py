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

Large cohorts (:data:`~refracture.analysis.logistic_design.GROUPED_FROM` complete
cases or more) are fitted to their *distinct* rows of (covariates, outcome), each
weighted by how often it occurs.
The log-likelihood Σ_i [y_i η_i − log(1 + e^{η_i})] of the individual patients
equals Σ_g f_g [y_g η_g − log(1 + e^{η_g})] over the distinct rows g with counts
f_g, term for term, and so do its score, information and Firth penalty
½ log|X'WX|: estimates, standard errors, profile bounds and P values are those of
the patient-level fit (to floating-point rounding), at the cost of the distinct
rows. The ML fit is then Newton–Raphson on the weighted likelihood (Wald SEs from
the inverse information, as statsmodels ``Logit`` reports them) and the Firth fit
passes the counts to ``firthmodels`` as ``sample_weight`` (frequency weights);
``meta["computation"]`` says which was used. The separation check first solves
Konis' linear program on a few thousand of the rows
(:func:`~refracture.analysis.logistic.separation_check`).

This module holds the three analyses; the machinery they share is in
:mod:`~refracture.analysis.logistic_design` (covariate coding, the complete-case
design, distinct rows), :mod:`~refracture.analysis.logistic` (ML fitting,
separation, profile-likelihood intervals), :mod:`~refracture.analysis.firth` (the
Firth fit) and :mod:`~refracture.analysis.fit_statistics` (c-statistic,
Hosmer–Lemeshow, VIF).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from refracture.analysis.firth import _firth_fit, _firth_rows
from refracture.analysis.fit_statistics import HL_GROUPING, _vif, c_statistic, hosmer_lemeshow
from refracture.analysis.logistic import _empty_rows, _ml_fit, _ml_rows, _MLFit, _separation
from refracture.analysis.logistic_design import OUTCOME, _Design, _design, _outcome_problem
from refracture.analysis.result import Result
from refracture.analysis.settings import AnalysisSettings
from refracture.data.derive import DerivedData

__all__ = ["firth_model", "multivariable_model", "univariable_models"]

DEFAULT_SETTINGS = AnalysisSettings()

CALIBRATION_NOTE = (
    "Calibration slope and calibration-in-the-large are 1 and 0 by construction when "
    "assessed on the data the model was fitted to, so only the Hosmer–Lemeshow test is reported."
)
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
