"""Time to refracture: Kaplan–Meier, log-rank by T-score group, Cox model.

All estimation is done by ``lifelines``:

* **Time and event.** ``months_to_refracture`` for patients with a refracture
  (event), ``followup_months`` for the others (censored).
* **Kaplan–Meier** (``KaplanMeierFitter``): S(t) is right-continuous (an event
  at t is included in S(t)); the pointwise (1 − alpha) CI is lifelines' default,
  the *exponential Greenwood* interval (Greenwood variance on the
  log(−log S) scale, as R's ``conf.type = "log-log"``). Where S(t) is 1 (no event
  yet) or 0 that interval degenerates to a point; the table reports NaN there
  (the plotting curves in ``meta`` keep lifelines' arrays). The number at risk
  at t counts patients with time ≥ t (still under observation just before t, as
  R's ``summary(survfit, times)``). Times beyond the longest follow-up have no
  estimate (NaN, with a note).
* **Cumulative incidence** = 1 − S(t), with CI (1 − upper, 1 − lower).
* **T-score groups**: lowest L1–L4 T-score ≤ ``first_cutoff`` versus >, decided
  in exact decimals (both sides scaled to integer millionths); patients without
  a T-score are excluded and counted. Log-rank test: ``lifelines.statistics.
  logrank_test``.
* **Cox model** (``CoxPHFitter``, Efron ties, no penalty) on age, largest
  anterior height loss and lowest L1–L4 T-score, complete cases: HR, CI and Wald
  P per covariate, Harrell's concordance, likelihood-ratio test. A covariate
  without variation is dropped and reported as not estimable.
* **Proportional hazards**: ``lifelines.statistics.proportional_hazard_test``
  with the rank time transform (per covariate, χ² with 1 df; the
  Grambsch–Therneau score approximation of R ``survival`` < 3.0). lifelines has
  no global test; the global statistic is computed with the same approximation
  as R ``survival`` 2.x ``cox.zph(global=TRUE)``: with g the centred transformed
  event times, R the (unscaled) Schoenfeld residuals, V the model variance and d
  the number of events, T = d · (gᵀR) V (gᵀR)ᵀ / Σg², χ² with p df. The
  Schoenfeld residuals are computed by
  :func:`~refracture.analysis.survival_statistics.schoenfeld_residuals` (equal to
  lifelines' ``compute_residuals``, whose row loop is quadratic in the cohort
  size) and handed to lifelines as ``precomputed_residuals``.

Large cohorts (:data:`LARGE_N` patients or more) use the same estimators with
faster, equivalent computations, named in ``meta["computation"]``: the Cox model
is fitted with lifelines' ``batch_mode`` (its vectorised Efron sums per distinct
time, instead of a loop over patients) when times are tied, Harrell's C is counted
by :func:`~refracture.analysis.survival_statistics.concordance_counts` (the same
pairs as lifelines, counted with a vectorised Fenwick tree per distinct time).
Whatever the size, a plotting curve in ``meta`` with more than
:data:`~refracture.analysis.survival_statistics.CURVE_POINTS` points keeps only the
times where S(t) or its CI changes (every event time, and both ends), which draws
the identical step function, and more distinct censoring times than that are
rounded to a grid of 1/``CURVE_POINTS`` of their range (``censor_times_rounded``
says so).

This module holds the analysis and its Cox and Kaplan–Meier rows; the survival
statistics it uses are in :mod:`~refracture.analysis.survival_statistics`.
"""

from __future__ import annotations

import math
import warnings
from decimal import Decimal
from typing import Any

import numpy as np
import pandas as pd

from refracture.analysis.result import Result, tidy_row
from refracture.analysis.settings import COVARIATE_LABELS, AnalysisSettings
from refracture.analysis.survival_statistics import (
    concordance_counts,
    km_at_times,
    schoenfeld_residuals,
    tscore_le,
)
from refracture.data.derive import DerivedData

__all__ = ["COX_COVARIATES", "LARGE_N", "time_to_refracture"]

_DEFAULT_SETTINGS = AnalysisSettings()

COX_COVARIATES: tuple[str, ...] = ("age", "height_loss_max", "tscore_min_l1l4")
"""Covariates of the Cox model of time to refracture."""

LARGE_N = 20_000
"""From this many patients on, the computations of the module docstring's last
paragraph are used (the example cohort is far below it)."""

_EXTRA = (
    "section",
    "group",
    "time",
    "at_risk",
    "events",
    "censored",
    "statistic",
    "df",
    "coef",
    "se",
    "coef_ci_low",
    "coef_ci_high",
    "z",
    "label",
)


def _row(section: str, term: str, **values: Any) -> dict[str, Any]:
    return tidy_row(term, **{"section": section, "group": "", "label": "", **values})


def _km_rows(
    section: str,
    group: str,
    label: str,
    at: pd.DataFrame,
    n: int,
    prefix: str,
) -> list[dict[str, Any]]:
    rows = []
    for rec in at.itertuples(index=False):
        t = rec.time
        rows.append(
            _row(
                section,
                f"{prefix}:{t:g}",
                estimate=rec.survival,
                ci_low=rec.ci_low,
                ci_high=rec.ci_high,
                n=n,
                group=group,
                label=label,
                time=t,
                at_risk=int(rec.at_risk),
                events=int(rec.events),
                censored=int(rec.censored),
            )
        )
    return rows


def _cuminc_rows(
    group: str, label: str, at: pd.DataFrame, n: int, prefix: str
) -> list[dict[str, Any]]:
    rows = []
    for rec in at.itertuples(index=False):
        rows.append(
            _row(
                "cumulative_incidence",
                f"{prefix}:{rec.time:g}",
                estimate=1.0 - rec.survival,
                ci_low=1.0 - rec.ci_high,
                ci_high=1.0 - rec.ci_low,
                n=n,
                group=group,
                label=label,
                time=rec.time,
                at_risk=int(rec.at_risk),
                events=int(rec.events),
                censored=int(rec.censored),
            )
        )
    return rows


def _warning_notes(caught: list[warnings.WarningMessage], where: str) -> list[str]:
    seen: dict[str, None] = {}
    for w in caught:
        msg = " ".join(str(w.message).split())
        seen[f"{where}: library warning ({w.category.__name__}): {msg}"] = None
    return list(seen)


def _concordance(cph: Any, meta: dict[str, Any]) -> float:
    """Harrell's C of a fitted lifelines model, counted by :func:`concordance_counts`
    from the very arrays lifelines' ``concordance_index_`` counts."""
    pp = getattr(cph, "_predicted_partial_hazards_", None)
    counts = None
    if pp is not None and not cph.strata:
        counts = concordance_counts(pp["T"].to_numpy(), -pp["P"].to_numpy(), pp["E"].to_numpy())
    if counts is None:
        return float(cph.concordance_index_)
    correct, tied, pairs = counts
    meta["concordance_computation"] = (
        "Harrell's C over lifelines' pairs, counted per distinct time (Fenwick tree)"
    )
    return (correct + tied / 2) / pairs if pairs else math.nan


def _cox(
    frame: pd.DataFrame, covariates: tuple[str, ...], settings: AnalysisSettings
) -> tuple[list[dict[str, Any]], list[str], dict[str, Any]]:
    from lifelines import CoxPHFitter
    from lifelines.statistics import proportional_hazard_test
    from scipy import stats

    notes: list[str] = []
    meta: dict[str, Any] = {}
    cols = list(covariates)
    cc = frame.dropna(subset=cols).reset_index(drop=True)
    n_used = len(cc)
    dropped = len(frame) - n_used
    if dropped:
        notes.append(
            f"Cox model: {dropped} patient(s) with a missing covariate excluded "
            f"(complete cases, N = {n_used})."
        )
    events = int(cc["event"].sum()) if n_used else 0
    meta["cox_n"] = n_used
    meta["cox_events"] = events
    meta["cox_excluded_missing"] = dropped

    def empty_rows(reason: str) -> list[dict[str, Any]]:
        return [
            _row(
                "cox",
                f"cox:{v}",
                n=n_used,
                label=COVARIATE_LABELS.get(v, v),
                events=events,
            )
            for v in cols
        ] + [
            _row("cox", "cox:concordance", n=n_used, events=events),
            _row("cox", "cox:likelihood_ratio", n=n_used, events=events),
        ]

    constant = [v for v in cols if n_used and cc[v].nunique() < 2]
    for v in constant:
        notes.append(f"Cox model: {v} has no variation (N = {n_used}); not estimable, omitted.")
    fit_cols = [v for v in cols if v not in constant]
    if n_used == 0 or events == 0 or not fit_cols:
        why = (
            "no complete case"
            if n_used == 0
            else "no event"
            if events == 0
            else "no covariate with variation"
        )
        notes.append(f"Cox model not estimable ({why}).")
        return empty_rows(why), notes, meta
    if events / len(fit_cols) < settings.epv_warning:
        notes.append(
            f"Cox model: {events} events for {len(fit_cols)} covariates "
            f"(EPV {events / len(fit_cols):.1f} < {settings.epv_warning:g}); estimates may be "
            "unstable."
        )

    df = cc[[*fit_cols, "time", "event"]].astype({"event": bool})
    cph = CoxPHFitter(alpha=settings.alpha)
    large = n_used >= LARGE_N
    # lifelines' vectorised Efron sums per distinct time (its own heuristic picks the
    # loop over patients for large data, minutes at a million rows)
    batch = True if large and df["time"].nunique() <= n_used // 20 else None
    if batch:
        meta["cox_computation"] = "lifelines CoxPHFitter, batch_mode=True (Efron sums per time)"
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            cph.fit(
                df,
                duration_col="time",
                event_col="event",
                fit_options={"precision": 1e-10, "max_steps": 500},
                batch_mode=batch,
            )
        except Exception as exc:  # lifelines raises ConvergenceError on singular problems
            notes += _warning_notes(caught, "Cox model")
            notes.append(f"Cox model not estimable ({type(exc).__name__}: {exc}).")
            return empty_rows("fit failed"), notes, meta
    failed = [
        w
        for w in caught
        if "converge" in str(w.message).lower() or "separation" in str(w.message).lower()
    ]
    # lifelines' own convergence messages (with links to its docs) only restate the
    # failure that the note below gives in words
    notes += _warning_notes([w for w in caught if w not in failed], "Cox model")
    if failed:
        notes.append(
            "Cox model not estimable: Newton–Raphson did not converge or the likelihood is "
            "monotone (complete separation); no hazard ratios reported."
        )
        return empty_rows("no convergence"), notes, meta

    summ = cph.summary
    ci = cph.confidence_intervals_
    rows: list[dict[str, Any]] = []
    for v in cols:
        label = COVARIATE_LABELS.get(v, v)
        if v not in fit_cols:
            rows.append(_row("cox", f"cox:{v}", n=n_used, label=label, events=events))
            continue
        coef = float(cph.params_[v])
        lo, hi = float(ci.loc[v].iloc[0]), float(ci.loc[v].iloc[1])
        rows.append(
            _row(
                "cox",
                f"cox:{v}",
                estimate=math.exp(coef),
                ci_low=math.exp(lo),
                ci_high=math.exp(hi),
                p=float(summ.loc[v, "p"]),
                n=n_used,
                label=label,
                events=events,
                coef=coef,
                se=float(cph.standard_errors_[v]),
                coef_ci_low=lo,
                coef_ci_high=hi,
                z=float(summ.loc[v, "z"]),
            )
        )
    rows.append(
        _row(
            "cox",
            "cox:concordance",
            estimate=_concordance(cph, meta) if large else float(cph.concordance_index_),
            n=n_used,
            events=events,
            label="Harrell's C",
        )
    )
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        lr = cph.log_likelihood_ratio_test()
    notes += _warning_notes(caught, "Cox likelihood-ratio test")
    rows.append(
        _row(
            "cox",
            "cox:likelihood_ratio",
            estimate=float(lr.test_statistic),
            statistic=float(lr.test_statistic),
            df=float(len(fit_cols)),
            p=float(lr.p_value),
            n=n_used,
            events=events,
            label="Likelihood-ratio test",
        )
    )

    # --- proportional hazards -------------------------------------------------------------
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            resid = schoenfeld_residuals(cph, df, fit_cols)
            # lifelines' scaled residuals: d · R · V (see CoxPHFitter._compute_scaled_schoenfeld)
            v_mat = cph.variance_matrix_.loc[fit_cols, fit_cols].to_numpy(dtype=float)
            scaled = pd.DataFrame(
                events * resid.to_numpy() @ v_mat, columns=fit_cols, index=resid.index
            )
            ph = proportional_hazard_test(
                cph, df, time_transform="rank", precomputed_residuals=scaled
            )
        except Exception as exc:
            ph = None
            notes.append(f"Proportional-hazards test not computed ({type(exc).__name__}: {exc}).")
    notes += _warning_notes(caught, "Proportional-hazards test")
    if ph is not None:
        ps = ph.summary
        for v in cols:
            label = COVARIATE_LABELS.get(v, v)
            if v in fit_cols:
                rows.append(
                    _row(
                        "ph_test",
                        f"ph_test:{v}",
                        estimate=float(ps.loc[v, "test_statistic"]),
                        statistic=float(ps.loc[v, "test_statistic"]),
                        df=1.0,
                        p=float(ps.loc[v, "p"]),
                        n=n_used,
                        events=events,
                        label=label,
                    )
                )
            else:
                rows.append(_row("ph_test", f"ph_test:{v}", n=n_used, events=events, label=label))
        # global test (R survival 2.x cox.zph), same rank transform as lifelines
        e_sorted = np.asarray(cph.event_observed, dtype=bool)
        g = np.cumsum(e_sorted)[e_sorted].astype(float)
        g = g - g.mean()
        ss = float((g**2).sum())
        u = g @ resid[fit_cols].to_numpy(dtype=float)
        stat = float(u @ v_mat @ u) * events / ss if ss > 0 else math.nan
        p_glob = float(stats.chi2.sf(stat, len(fit_cols))) if math.isfinite(stat) else math.nan
        if not math.isfinite(stat):
            notes.append("Global proportional-hazards test not estimable (a single event time).")
        rows.append(
            _row(
                "ph_test",
                "ph_test:global",
                estimate=stat,
                statistic=stat,
                df=float(len(fit_cols)),
                p=p_glob,
                n=n_used,
                events=events,
                label="Global",
            )
        )
    meta["cox_ties"] = "Efron (lifelines CoxPHFitter)"
    meta["cox_covariates"] = cols
    return rows, notes, meta


def time_to_refracture(
    data: DerivedData,
    settings: AnalysisSettings = _DEFAULT_SETTINGS,
    first_cutoff: float | Decimal | None = None,
) -> Result:
    """Refracture-free survival (name ``"survival"``).

    ``table`` sections (column ``section``):

    * ``km_overall`` – terms ``km_overall:<t>`` for t in ``settings.km_times``:
      S(t), CI, ``at_risk``, cumulative ``events``/``censored``;
    * ``km_group`` – ``km_group:<le|gt>:<t>`` for the T-score groups;
    * ``cumulative_incidence`` – ``cumulative_incidence:<t>`` (overall) and
      ``cumulative_incidence:<le|gt>:<t>`` at ``settings.cumulative_incidence_times``;
    * ``logrank`` – ``logrank``: χ² statistic (``estimate``), ``df``, ``p``;
    * ``cox`` – ``cox:<covariate>`` (HR with CI, Wald P, ``coef``/``se``/``z``),
      ``cox:concordance``, ``cox:likelihood_ratio``;
    * ``ph_test`` – ``ph_test:<covariate>``, ``ph_test:global`` (χ², P).

    ``meta["curves"]`` holds the KM step curves (overall, ``le``, ``gt``) for the
    figures.
    """
    alpha = settings.alpha
    pf = data.patients
    refr = pf["refracture"].astype(bool).to_numpy()
    time = np.where(
        refr,
        pd.to_numeric(pf["months_to_refracture"], errors="coerce"),
        pd.to_numeric(pf["followup_months"], errors="coerce"),
    ).astype(float)
    notes: list[str] = []
    ok = np.isfinite(time) & (time > 0)
    if not ok.all():
        notes.append(f"{int((~ok).sum())} patient(s) without a positive time excluded.")
    frame = pd.DataFrame(
        {
            "time": time[ok],
            "event": refr[ok],
            **{v: pd.to_numeric(pf[v], errors="coerce").to_numpy()[ok] for v in COX_COVARIATES},
        }
    )
    n = len(frame)
    rows: list[dict[str, Any]] = []
    curves: dict[str, Any] = {}
    meta: dict[str, Any] = {
        "time_definition": (
            "months_to_refracture for patients with a refracture (event), "
            "followup_months otherwise (censored)"
        ),
        "km_ci": (
            f"{100 * (1 - alpha):g} % pointwise exponential Greenwood (log(-log)) interval, "
            "lifelines default; NaN where S(t) is 1 or 0"
        ),
        "at_risk_definition": "patients with time >= t",
        "logrank": "lifelines.statistics.logrank_test (chi-square, 1 df)",
        "ph_test": (
            "lifelines proportional_hazard_test, rank time transform (Schoenfeld residuals "
            "vectorised, equal to lifelines'); global test as R survival 2.x cox.zph"
        ),
        "n": n,
        "events": int(frame["event"].sum()),
    }
    if n == 0:
        notes.append("No patient: survival analysis not possible.")
        table = pd.DataFrame([_row("km_overall", "km_overall:none")])
        for c in _EXTRA:
            if c not in table.columns:
                table[c] = math.nan
        return Result("survival", table, notes=tuple(notes), meta=meta)
    if frame["event"].sum() == 0:
        notes.append("No patient had a refracture: survival stays at 1; no CI, test or model.")
    elif frame["event"].all():
        notes.append("Every patient had a refracture (no censoring).")

    # --- overall KM -----------------------------------------------------------------------
    at, curve = km_at_times(frame["time"], frame["event"], settings.km_times, alpha)
    curves["overall"] = {"label": "All patients", **curve}
    rows += _km_rows("km_overall", "overall", "All patients", at, n, "km_overall")
    ci_at, _ = km_at_times(
        frame["time"], frame["event"], settings.cumulative_incidence_times, alpha
    )
    rows += _cuminc_rows("overall", "All patients", ci_at, n, "cumulative_incidence")
    tmax = float(frame["time"].max())
    beyond = sorted(
        {float(t) for t in (*settings.km_times, *settings.cumulative_incidence_times) if t > tmax}
        if at["beyond"].any() or ci_at["beyond"].any()
        else set()
    )
    if beyond:
        notes.append(
            f"No estimate beyond the longest follow-up ({tmax:g} months): "
            f"times {', '.join(f'{t:g}' for t in beyond)}."
        )

    # --- T-score groups -------------------------------------------------------------------
    if first_cutoff is None:
        notes.append("No T-score cutoff given: no group comparison.")
        meta["cutoff"] = None
    else:
        cut = Decimal(str(first_cutoff))
        meta["cutoff"] = str(cut)
        t = frame["tscore_min_l1l4"].to_numpy(dtype=float)
        has_t = np.isfinite(t)
        le = tscore_le(t, cut)
        n_without = int((~has_t).sum())
        meta["group_excluded_no_tscore"] = n_without
        if n_without:
            notes.append(
                f"T-score groups: {n_without} patient(s) without an L1–L4 T-score excluded "
                f"(N = {int(has_t.sum())})."
            )
        labels = {"le": f"T-score ≤ {cut}", "gt": f"T-score > {cut}"}
        meta["group_labels"] = labels
        masks = {"le": has_t & le, "gt": has_t & ~le}
        meta["group_n"] = {k: int(m.sum()) for k, m in masks.items()}
        meta["group_events"] = {k: int(frame["event"][m].sum()) for k, m in masks.items()}
        for key, m in masks.items():
            sub = frame.loc[m]
            if sub.empty:
                notes.append(f"Group '{labels[key]}' is empty: no Kaplan–Meier estimate.")
                for tt in settings.km_times:
                    rows.append(
                        _row(
                            "km_group",
                            f"km_group:{key}:{tt:g}",
                            group=key,
                            label=labels[key],
                            time=float(tt),
                            at_risk=0,
                            events=0,
                            censored=0,
                        )
                    )
                for tt in settings.cumulative_incidence_times:
                    rows.append(
                        _row(
                            "cumulative_incidence",
                            f"cumulative_incidence:{key}:{tt:g}",
                            group=key,
                            label=labels[key],
                            time=float(tt),
                            at_risk=0,
                            events=0,
                            censored=0,
                        )
                    )
                continue
            gat, gcurve = km_at_times(sub["time"], sub["event"], settings.km_times, alpha)
            if gat["beyond"].any():
                notes.append(
                    f"Group '{labels[key]}': no estimate beyond its longest follow-up "
                    f"({sub['time'].max():g} months)."
                )
            curves[key] = {"label": labels[key], **gcurve}
            rows += _km_rows("km_group", key, labels[key], gat, len(sub), f"km_group:{key}")
            gci, _ = km_at_times(
                sub["time"], sub["event"], settings.cumulative_incidence_times, alpha
            )
            rows += _cuminc_rows(key, labels[key], gci, len(sub), f"cumulative_incidence:{key}")
        a, b = frame.loc[masks["le"]], frame.loc[masks["gt"]]
        n_g = len(a) + len(b)
        ev_g = int(a["event"].sum() + b["event"].sum())
        lr_row = _row(
            "logrank", "logrank", n=n_g, events=ev_g, df=1.0, label=f"{labels['le']} vs >"
        )
        if a.empty or b.empty:
            notes.append("Log-rank test not computed: a T-score group is empty.")
        elif ev_g == 0:
            notes.append("Log-rank test not computed: no event in either T-score group.")
        else:
            from lifelines.statistics import logrank_test

            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                lr = logrank_test(a["time"], b["time"], a["event"], b["event"], alpha=alpha)
            notes += _warning_notes(caught, "Log-rank test")
            lr_row.update(
                estimate=float(lr.test_statistic),
                statistic=float(lr.test_statistic),
                p=float(lr.p_value),
            )
        rows.append(lr_row)

    # --- Cox model ------------------------------------------------------------------------
    cox_rows, cox_notes, cox_meta = _cox(frame, COX_COVARIATES, settings)
    rows += cox_rows
    notes += cox_notes
    meta.update(cox_meta)

    meta["curves"] = curves
    table = pd.DataFrame(rows)
    km = table["section"].isin(["km_overall", "km_group", "cumulative_incidence"])
    point = km & (table["time"] > 0) & table["estimate"].isin([0.0, 1.0])
    if point.any():
        notes.append(
            "No confidence interval where the survival estimate is 1 (no refracture yet) or 0: "
            "the log(-log) interval is undefined there and is reported as missing."
        )
    for c in _EXTRA:
        if c not in table.columns:
            table[c] = math.nan
    table = table[["term", "estimate", "ci_low", "ci_high", "p", "n", *_EXTRA]]
    for c in ("at_risk", "events", "censored"):
        table[c] = table[c].astype("float64")
    table["n"] = table["n"].astype("int64")
    return Result("survival", table, notes=tuple(notes), meta=meta)
