"""Plot functions: each takes a :class:`~refracture.analysis.result.Result` and
``ax=None`` and returns the Axes. They draw what the result holds and compute
no statistic; labels are formatted with the report's :class:`Formatter` so
they read exactly as the tables do.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np

from refracture.common.format import Formatter
from refracture.figures.style import OKABE_ITO, figure

if TYPE_CHECKING:
    from matplotlib.axes import Axes

    from refracture.analysis.result import Result

__all__ = [
    "predictive_values_plot",
    "roc_plot",
    "threshold_forest",
]

_FMT = Formatter()


def _axes(ax: Axes | None, width: str, height_mm: float) -> Axes:
    if ax is not None:
        return ax
    _fig, ax = figure(width, height_mm)
    return ax


def _finite(x: object) -> bool:
    try:
        return bool(np.isfinite(float(x)))  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return False


def threshold_forest(result: Result, ax: Axes | None = None, fmt: Formatter = _FMT) -> Axes:
    """Odds ratio (95% CI) of "T ≤ cutoff" per cutoff on a log axis.

    Marker area grows with precision (1/SE² of log OR); filled markers are
    cutoffs with P < alpha, open ones are not; a dagger marks a Haldane–Anscombe
    corrected table. Text columns in the right 40 % of the figure give the counts
    (fractured levels ≤ cutoff / all fractured levels), the OR (95% CI) and P.
    """
    t = result.table
    alpha = result.meta.get("alpha", 0.05)
    n = len(t)
    if ax is None:
        fig, ax = figure("double", max(60.0, 5.0 * n + 16))
        # leave the right part of the figure to the text columns
        fig.get_layout_engine().set(rect=(0.0, 0.0, 0.61, 1.0))
    y = np.arange(n)[::-1].astype(float)
    est, lo, hi = (t[c].to_numpy(float) for c in ("estimate", "ci_low", "ci_high"))
    ok = np.isfinite(est) & np.isfinite(lo) & np.isfinite(hi) & (est > 0)
    se = t["se_log_or"].to_numpy(float)
    weight = np.where(np.isfinite(se) & (se > 0), 1 / np.square(se), np.nan)
    wmax = np.nanmax(weight) if np.isfinite(weight).any() else 1.0
    size = 8 + 40 * np.nan_to_num(weight / wmax)
    sig = t["p"].to_numpy(float) < alpha
    colour = OKABE_ITO["blue"]
    ax.hlines(y[ok], lo[ok], hi[ok], color=colour, lw=0.8, zorder=2)
    for filled in (True, False):
        m = ok & (sig == filled)
        ax.scatter(
            est[m],
            y[m],
            s=size[m],
            marker="s",
            zorder=3,
            linewidths=0.8,
            facecolors=colour if filled else "white",
            edgecolors=colour,
            label=f"P < {fmt.num(alpha, 2)}" if filled else f"P ≥ {fmt.num(alpha, 2)}",
        )
    ax.axvline(1.0, color=OKABE_ITO["grey"], lw=0.6, ls="--", zorder=1)
    ax.set_xscale("log")
    limits = _log_ticks(ax, lo[ok], hi[ok], fmt)
    _mark_cut(ax, lo[ok], hi[ok], y[ok], limits, colour)
    ax.set_yticks(y)
    ax.set_yticklabels(
        [
            f"T ≤ {fmt.cutoff(c)}" + ("†" if corr else "")
            for c, corr in zip(t["cutoff"], t["corrected"], strict=True)
        ]
    )
    ax.set_ylim(-0.8, n - 0.2)
    ax.set_xlabel("Odds ratio (95% CI)")
    from matplotlib.transforms import blended_transform_factory

    # text columns in the right part of the figure (x: figure fraction, y: data)
    trans = blended_transform_factory(ax.figure.transFigure, ax.transData)
    cols = [(0.625, "n/N"), (0.70, "OR (95% CI)"), (0.91, "P")]
    for x, text in cols:
        ax.text(
            x,
            n - 0.2,
            text,
            transform=trans,
            ha="left",
            va="bottom",
            fontweight="bold",
            clip_on=False,
            in_layout=False,
        )
    for yi, (_, row) in zip(y, t.iterrows(), strict=True):
        counts = f"{fmt.count(row['a'])}/{fmt.count(row['a'] + row['c'])}"
        ortext = fmt.estimate_ci(row["estimate"], row["ci_low"], row["ci_high"], fmt.or_decimals)
        ortext = ortext.replace(f" ({fmt.ci_label} ", " (")
        for (x, _), text in zip(cols, (counts, ortext, fmt.p_value(row["p"])), strict=True):
            ax.text(
                x, yi, text, transform=trans, ha="left", va="center", clip_on=False, in_layout=False
            )
    ax.legend(
        loc="lower left",
        bbox_to_anchor=(0.0, 1.0),
        ncol=2,
        borderaxespad=0.2,
        handletextpad=0.3,
        columnspacing=1.0,
    )
    return ax


LOG_AXIS_LIMITS = (1e-6, 1e6)
"""The widest odds-ratio axis: an interval reaching beyond it (an unbounded profile
bound under separation, say) is cut at the edge and marked with an arrowhead."""


def _log_ticks(ax: Axes, lo: np.ndarray, hi: np.ndarray, fmt: Formatter) -> tuple[float, float]:
    """Plain-number ticks (0.1, 0.5, 1, 2, 10 …) on a log axis spanning the CIs;
    returns the axis limits."""
    from matplotlib.ticker import FixedLocator, FuncFormatter, NullLocator

    left = max(min(float(np.min(lo)) if lo.size else 0.5, 0.5) / 1.3, LOG_AXIS_LIMITS[0])
    right = min(max(float(np.max(hi)) if hi.size else 2.0, 2.0) * 1.3, LOG_AXIS_LIMITS[1])
    ax.set_xlim(left, right)
    candidates = [0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2, 5, 10, 20, 50, 100, 200, 500, 1000]
    wide = [10.0**k for k in range(-6, 7)]
    ticks = [v for v in candidates if left <= v <= right]
    if len(ticks) > 7:
        ticks = [v for v in wide if left <= v <= right]
        if len(ticks) > 7:  # every other decade, keeping 1 (at most 7 of 10⁻⁶…10⁶)
            ticks = [v for v in ticks if round(math.log10(v)) % 2 == 0]
    ax.xaxis.set_major_locator(FixedLocator(ticks))
    ax.xaxis.set_minor_locator(NullLocator())
    ax.xaxis.set_major_formatter(
        FuncFormatter(lambda v, _pos: fmt.num(v, 0 if v >= 1 else math.ceil(-math.log10(v) - 1e-9)))
    )
    return left, right


def _mark_cut(ax: Axes, lo, hi, yy, limits: tuple[float, float], colour: str) -> None:
    """Arrowheads where an interval runs past the axis limits."""
    left, right = limits
    for ends, edge, marker in ((lo, left, "<"), (hi, right, ">")):
        cut = (ends < edge) if marker == "<" else (ends > edge)
        if cut.any():
            ax.scatter(
                np.full(int(cut.sum()), edge),
                yy[cut],
                marker=marker,
                s=10,
                color=colour,
                clip_on=False,
                zorder=3,
            )


def roc_plot(result: Result, ax: Axes | None = None, fmt: Formatter = _FMT) -> Axes:
    """ROC curve of the T-score with AUC (95% CI) and the Youden point labelled."""
    ax = _axes(ax, "single", 75.0)
    fpr = np.asarray(result.meta.get("roc_fpr") or [], dtype=float)
    tpr = np.asarray(result.meta.get("roc_tpr") or [], dtype=float)
    ax.plot([0, 1], [0, 1], color=OKABE_ITO["grey"], lw=0.6, ls="--")
    auc = result.row("auc")
    if fpr.size:
        label = "AUC " + fmt.estimate_ci(auc["estimate"], auc["ci_low"], auc["ci_high"], 2)
        ax.step(fpr, tpr, where="post", color=OKABE_ITO["blue"], label=label)
    y = result.row("youden_cutoff")
    if _finite(y["estimate"]):
        px, py = 1 - float(y["spec"]), float(y["sens"])
        ax.plot([px], [py], "o", color=OKABE_ITO["vermillion"], ms=4, zorder=3)
        ax.annotate(
            f"T ≤ {fmt.cutoff(y['estimate'])}\nsensitivity {fmt.percent(100 * y['sens'], 0)}, "
            f"specificity {fmt.percent(100 * y['spec'], 0)}",
            (px, py),
            xytext=(8, -18),
            textcoords="offset points",
            va="top",
            ha="left",
        )
    ax.set_xlim(-0.01, 1.01)
    ax.set_ylim(-0.01, 1.01)
    ax.set_aspect("equal")
    ax.set_xlabel("1 − specificity")
    ax.set_ylabel("Sensitivity")
    if fpr.size:
        ax.legend(loc="lower right")
    return ax


def predictive_values_plot(result: Result, ax: Axes | None = None, fmt: Formatter = _FMT) -> Axes:
    """Sensitivity, specificity, PPV and NPV (with Wilson 95% CIs) against the cutoff."""
    ax = _axes(ax, "single", 65.0)
    t = result.table
    x = t["cutoff"].to_numpy(float)
    series = (
        ("sens", "Sensitivity", "blue", "o"),
        ("spec", "Specificity", "vermillion", "s"),
        ("ppv", "PPV", "green", "^"),
        ("npv", "NPV", "purple", "D"),
    )
    for key, label, colour, marker in series:
        v = t[key].to_numpy(float)
        lo, hi = t[f"{key}_low"].to_numpy(float), t[f"{key}_high"].to_numpy(float)
        c = OKABE_ITO[colour]
        ax.fill_between(x, lo, hi, color=c, alpha=0.15, lw=0)
        ax.plot(x, v, marker=marker, ms=2.5, color=c, label=label)
    first = result.meta.get("first_significant_cutoff")
    if first is not None:
        ax.axvline(first, color=OKABE_ITO["grey"], lw=0.6, ls="--")
    ax.invert_xaxis()
    ax.set_ylim(0, 1.02)
    ax.set_xlabel("T-score cutoff (T ≤ cutoff)")
    ax.set_ylabel("Proportion")
    ax.xaxis.set_major_formatter(_minus_formatter(fmt, 1))
    ax.legend(loc="center left", bbox_to_anchor=(1.0, 0.5))
    return ax


def _minus_formatter(fmt: Formatter, decimals: int):
    from matplotlib.ticker import FuncFormatter

    return FuncFormatter(lambda v, _pos: fmt.num(v, decimals))


def model_forest(
    univariable: Result,
    multivariable: Result,
    ax: Axes | None = None,
    fmt: Formatter = _FMT,
    firth: Result | None = None,
) -> Axes:
    """Univariable and multivariable ORs (95% CI) side by side per covariate.

    One row per covariate of the univariable result; the multivariable OR is
    drawn just below the univariable one where the covariate is in the model
    (finalfit's ``or_plot`` layout). Filled markers: P < alpha. With ``firth``
    the Firth-penalised multivariable ORs are drawn as a third series.
    """
    u, m = univariable.table, multivariable.table
    alpha = multivariable.meta.get("alpha", univariable.meta.get("alpha", 0.05))
    terms = list(u["term"])
    n = len(terms)
    if ax is None:
        _fig, ax = figure("double", max(55.0, 9.0 * n + 14))
    y = np.arange(n)[::-1].astype(float)
    pos = dict(zip(terms, y, strict=True))
    series = [
        (u, +0.2, OKABE_ITO["grey"], "o", "Univariable"),
        (m, 0.0 if firth is not None else -0.2, OKABE_ITO["blue"], "s", "Multivariable"),
    ]
    if firth is not None:
        series.append((firth.table, -0.2, OKABE_ITO["vermillion"], "D", "Multivariable (Firth)"))
    spans: list[np.ndarray] = []
    drawn = []
    for table, offset, colour, marker, label in series:
        tt = table[table["term"].isin(pos)]
        yy = np.array([pos[t] for t in tt["term"]], dtype=float) + offset
        est, lo, hi = (tt[c].to_numpy(float) for c in ("estimate", "ci_low", "ci_high"))
        ok = np.isfinite(est) & np.isfinite(lo) & np.isfinite(hi) & (est > 0) & (lo > 0)
        sig = tt["p"].to_numpy(float) < alpha
        ax.hlines(yy[ok], lo[ok], hi[ok], color=colour, lw=0.8)
        # one legend entry per series that has a marker at all (filled if any is)
        ax.scatter(
            est[ok & sig],
            yy[ok & sig],
            marker=marker,
            s=14,
            color=colour,
            zorder=3,
            label=label if (ok & sig).any() else None,
        )
        ax.scatter(
            est[ok & ~sig],
            yy[ok & ~sig],
            marker=marker,
            s=14,
            facecolors="white",
            edgecolors=colour,
            zorder=3,
            linewidths=0.8,
            label=label if (ok & ~sig).any() and not (ok & sig).any() else None,
        )
        spans += [lo[ok], hi[ok]]
        drawn.append((lo[ok], hi[ok], yy[ok], colour))
    ax.axvline(1.0, color=OKABE_ITO["grey"], lw=0.6, ls="--", zorder=1)
    ax.set_xscale("log")
    allv = np.concatenate(spans) if spans else np.array([])
    limits = _log_ticks(ax, allv, allv, fmt)
    for lo, hi, yy, colour in drawn:
        _mark_cut(ax, lo, hi, yy, limits, colour)
    labels = u.set_index("term")["label"] if "label" in u else None
    ax.set_yticks(y)
    ax.set_yticklabels([str(labels[t]) if labels is not None else t for t in terms])
    ax.set_ylim(-0.7, n - 0.3)
    ax.set_xlabel("Odds ratio (95% CI) for refracture")
    if ax.get_legend_handles_labels()[1]:  # nothing estimable: no legend
        ax.legend(loc="lower left", bbox_to_anchor=(0.0, 1.0), ncol=len(series), borderaxespad=0.2)
    return ax


TSCORE_POINTS_MAX = 5_000
"""Above this many levels (both groups) :func:`tscore_plot` draws each group's
distribution as a horizontal histogram instead of one point per level."""
TSCORE_BINS_MAX = 80
"""Most bars of a histogram: more distinct T-scores are binned into this many."""


def _histogram_strip(ax: Axes, x0: float, vals: np.ndarray, reps: np.ndarray, colour: str):
    """A horizontal histogram from x0 − 0.35 to at most x0 − 0.03: one bar per distinct
    T-score (or per bin when there are more than :data:`TSCORE_BINS_MAX`), its length
    proportional to the number of levels."""
    if vals.size > TSCORE_BINS_MAX:
        edges = np.linspace(vals.min(), vals.max(), TSCORE_BINS_MAX + 1)
        counts, _ = np.histogram(vals, bins=edges, weights=reps)
        centres, height = (edges[:-1] + edges[1:]) / 2, float(edges[1] - edges[0])
    else:
        centres, counts = vals, reps.astype(float)
        gaps = np.diff(vals)
        height = float(gaps.min()) if gaps.size else 0.1
    return ax.barh(
        centres,
        0.32 * counts / max(float(counts.max()), 1.0),
        height=0.9 * height,
        left=x0 - 0.35,
        color=colour,
        alpha=0.7,
        linewidth=0,
        zorder=2,
    )


def tscore_plot(
    result: Result, cutoff: float | None = None, ax: Axes | None = None, fmt: Formatter = _FMT
) -> Axes:
    """Level T-scores of fractured and nonfractured levels: every level as a point
    (stacked where values repeat), the mean with its 95% CI, and the cutoff as a line.

    With more than :data:`TSCORE_POINTS_MAX` levels each group's distribution is a
    horizontal histogram (bar length ∝ number of levels at that T-score) in the
    place of the stacked points, with the same mean and CI marks."""
    ax = _axes(ax, "single", 70.0)
    counts = result.meta.get("value_counts", {})
    groups = (
        ("nonfractured", "Nonfractured levels", OKABE_ITO["sky"]),
        ("fractured", "Fractured levels", OKABE_ITO["vermillion"]),
    )
    total = sum(int(p[1]) for term, _l, _c in groups for p in counts.get(term, []))
    for x0, (term, _label, colour) in enumerate(groups):
        pairs = counts.get(term, [])
        if pairs and total > TSCORE_POINTS_MAX:
            vals = np.array([p[0] for p in pairs], float)
            reps = np.array([p[1] for p in pairs], int)
            _histogram_strip(ax, x0, vals, reps, colour)
        elif pairs:
            vals = np.array([p[0] for p in pairs], float)
            reps = np.array([p[1] for p in pairs], int)
            spread = 0.32 / max(1, reps.max())
            xs = np.concatenate([x0 - 0.35 + spread * np.arange(k) for k in reps])
            ys = np.repeat(vals, reps)
            ax.scatter(xs, ys, s=4, color=colour, alpha=0.7, linewidths=0, zorder=2)
        row = result.row(term)
        if _finite(row["estimate"]):
            ax.errorbar(
                [x0 + 0.2],
                [row["estimate"]],
                yerr=[[row["estimate"] - row["ci_low"]], [row["ci_high"] - row["estimate"]]]
                if _finite(row["ci_low"])
                else None,
                fmt="o",
                color="black",
                ms=3.5,
                capsize=2.5,
                lw=0.9,
                zorder=3,
            )
            ax.annotate(
                fmt.num(row["estimate"], 2),
                (x0 + 0.28, float(row["estimate"])),
                va="center",
                ha="left",
                fontsize=6.5,
            )
    if cutoff is not None and _finite(cutoff):
        ax.axhline(float(cutoff), color=OKABE_ITO["grey"], lw=0.7, ls="--", zorder=1)
        ax.annotate(
            f"T = {fmt.cutoff(cutoff)}",
            (1.02, float(cutoff)),
            xycoords=("axes fraction", "data"),
            va="center",
            ha="left",
            fontsize=6.5,
            annotation_clip=False,
        )
    ax.set_xticks([0, 1])
    ax.set_xticklabels([f"{g[1]}\n(n = {fmt.count(result.row(g[0])['n'])})" for g in groups])
    ax.set_xlim(-0.6, 1.6)
    ax.set_ylabel("Level-specific T-score")
    ax.yaxis.set_major_formatter(_minus_formatter(fmt, 0))
    return ax


KM_POINTS_MAX = 5_000
"""A Kaplan–Meier curve with more points keeps only those where S(t) or its CI
changes (and its ends): the same step function with far fewer vertices."""
KM_CENSOR_MARKS_MAX = 1_000
"""More censoring marks than this are merged onto a grid of 1/1000 of the time range
(marks closer than that overlap on the printed figure anyway)."""


def _steps(*series: np.ndarray) -> np.ndarray:
    """Positions where any series changes from the previous position, plus both ends
    (NaN equals NaN): a ``where="post"`` step plot of them is the same function."""
    n = series[0].size
    keep = np.zeros(n, dtype=bool)
    keep[[0, -1]] = True
    for x in series:
        a, b = x[1:], x[:-1]
        keep[1:] |= ~((a == b) | (np.isnan(a) & np.isnan(b)))
    return keep


def km_plot(result: Result, ax: Axes | None = None, fmt: Formatter = _FMT) -> Axes:
    """Kaplan–Meier refracture-free survival, overall and by T-score group.

    Step curves with pointwise 95% CIs come from ``result.meta["curves"]``; tick
    marks are censored patients; the numbers at risk under the axis are the
    table's ``at_risk`` at the reporting times; the log-rank P is printed.
    Returns the survival Axes; the at-risk table is a second Axes below it.
    """
    if ax is None:
        _fig, (ax, risk) = figure(
            "single", 95.0, nrows=2, sharex=True, gridspec_kw={"height_ratios": [5, 1.2]}
        )
    else:
        risk = ax.inset_axes((0.0, -0.42, 1.0, 0.2), sharex=ax)
    curves = result.meta.get("curves", {})
    t = result.table
    styles = {"overall": "black", "le": OKABE_ITO["vermillion"], "gt": OKABE_ITO["blue"]}
    keys = ("le", "gt") if {"le", "gt"} <= set(curves) else ("overall",)
    drawn = []
    for key in keys:
        curve = curves.get(key)
        if not curve or not curve.get("time"):
            continue
        colour = styles[key]
        x = np.asarray(curve["time"], float)
        s = np.asarray(curve["survival"], float)
        lo = np.asarray(curve["ci_low"], float)
        hi = np.asarray(curve["ci_high"], float)
        if x.size > KM_POINTS_MAX:  # only where the step function changes (exact)
            keep = _steps(s, lo, hi)
            x, s, lo, hi = x[keep], s[keep], lo[keep], hi[keep]
        ax.step(x, s, where="post", color=colour, label=_km_label(curve["label"], fmt))
        ax.fill_between(x, lo, hi, step="post", color=colour, alpha=0.12, lw=0)
        cens = np.asarray(curve.get("censor_times") or [], float)
        if cens.size > KM_CENSOR_MARKS_MAX:  # marks closer than the line width coincide
            grid = (np.nanmax(cens) - np.nanmin(cens)) / KM_CENSOR_MARKS_MAX or 1.0
            cens = np.unique(np.round(cens / grid) * grid)
        if cens.size:
            idx = np.searchsorted(x, cens, side="right") - 1
            ax.plot(cens, s[np.clip(idx, 0, s.size - 1)], "|", color=colour, ms=3, mew=0.6)
        drawn.append(key)
    times = [int(v) for v in sorted(t.loc[t["section"] == "km_overall", "time"].dropna())]
    if times:
        ax.set_xticks(times)
        ax.set_xlim(min(times), max(times) * 1.02)
    ax.set_ylim(0, 1.02)
    ax.set_ylabel("Refracture-free survival")
    lr = t.loc[t["section"] == "logrank"]
    if len(lr) and len(drawn) == 2:
        ax.text(
            0.03,
            0.05,
            "Log-rank " + fmt.p_value(lr["p"].iloc[0], symbol=True),
            transform=ax.transAxes,
            ha="left",
            va="bottom",
        )
    if drawn:
        ax.legend(loc="lower right")
    # numbers at risk
    if drawn:
        risk.set_ylim(-0.5 - len(drawn) + 1, 0.5)
    for spine in ("left", "right", "top", "bottom"):
        risk.spines[spine].set_visible(False)
    risk.tick_params(axis="y", length=0, pad=10)
    risk.tick_params(axis="x", length=0, labelbottom=False)
    risk.set_yticks([-i for i in range(len(drawn))])
    risk.set_yticklabels([_km_label(curves[k]["label"], fmt) for k in drawn])
    for tick, key in zip(risk.get_yticklabels(), drawn, strict=True):
        tick.set_color(styles[key])
    # registry-size numbers would run into each other: print them in thousands
    counts = [float(v) for v in t["at_risk"] if _finite(v)]
    thousands = max(counts, default=0.0) >= 10_000
    title = "Number at risk (thousands)" if thousands else "Number at risk"
    risk.set_title(title, loc="left", fontsize=7, pad=2)
    ax.tick_params(labelbottom=True)
    ax.set_xlabel("Months after augmentation")
    for i, key in enumerate(drawn):
        section = "km_overall" if key == "overall" else "km_group"
        sub = t.loc[t["section"] == section]
        if key != "overall":
            sub = sub.loc[sub["group"] == key]
        at_risk = dict(zip(sub["time"], sub["at_risk"], strict=True))
        for time in times:
            n = at_risk.get(time)
            if thousands and _finite(n):
                n = round(float(n) / 1000)
            risk.text(time, -i, fmt.count(n), ha="center", va="center")
    return ax


def _km_label(label: str, fmt: Formatter) -> str:
    """A group label with a true minus before numbers ("T-score ≤ −2.2")."""
    import re

    return re.sub(r"-(?=\d)", fmt.minus, label)
