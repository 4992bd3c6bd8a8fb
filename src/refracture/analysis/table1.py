"""Table 1: patient characteristics by refracture, and the level set by fracture.

Both tables are built by the ``tableone`` package (Pollard et al., JAMIA Open
2018) and re-shaped into one tidy row per (variable, level); nothing is
recomputed that tableone already computed, so the cost stays that of a bare
``TableOne`` call (measured: see the module's tests).

Method choices (also in ``Result.meta``):

* **Normality rule.** A continuous variable is summarised as mean (SD) and
  tested with Welch's t-test when its sample skewness (adjusted Fisher–Pearson
  coefficient G1, ``pandas.Series.skew`` = ``scipy.stats.skew(bias=False)``)
  satisfies |G1| < 1 in *both* groups; otherwise as median [Q1,Q3] and passed
  to tableone as ``nonnormal``. Skewness is one vectorised pass and scales to
  millions of rows (Shapiro–Wilk is limited to 5000 values). A group with fewer
  than three values or no spread has no defined skewness and does not count
  against normality.
* **Tests (tableone 0.9, verified against SciPy).** Normal continuous, two
  groups with at least two values each: Welch's unequal-variance t-test
  (``scipy.stats.ttest_ind(equal_var=False)``; tableone's default
  ``ttest_equal_var=False``); a group with a single value makes tableone fall back
  to one-way ANOVA. Non-normal continuous: Kruskal–Wallis
  (``scipy.stats.kruskal``), which for two groups equals the two-sided
  Mann–Whitney U test with normal approximation, tie correction and no continuity
  correction. Categorical: Pearson's χ² (``scipy.stats.chi2_contingency``, with
  Yates' continuity correction for 2×2 tables); if any *expected* count is < 5
  **or** the smaller group has fewer than 5 non-missing values, a 2×2 table is
  tested with Fisher's exact test (two-sided) and a larger table keeps χ² with a
  warning in the test name.
* **SMD.** tableone's: continuous (mean₂ − mean₁)/√((SD₁² + SD₂²)/2) with SD of
  ddof 1, signed (second group minus first); categorical Yang & Dalton (2012)
  multinomial SMD, unsigned.
* **Missing values.** Categorical variables are summarised among non-missing
  values (``include_null=False``): percentages use the non-missing count and the
  ``missing`` column counts the blanks.

**Speed.** tableone is called through
:func:`~refracture.analysis.vectorised_tableone.fast_tableone`, which vectorises
tableone 0.9.6's two per-value loops and builds the very same tables (see that
module); other tableone versions run bare.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from refracture.analysis.result import Result
from refracture.analysis.settings import COVARIATE_LABELS, AnalysisSettings
from refracture.analysis.vectorised_tableone import fast_tableone
from refracture.data.derive import DerivedData

__all__ = [
    "LEVEL_CATEGORICAL",
    "LEVEL_CONTINUOUS",
    "PATIENT_CATEGORICAL",
    "PATIENT_CONTINUOUS",
    "PATIENT_VARIABLES",
    "SKEWNESS_LIMIT",
    "level_table1",
    "patient_table1",
    "tableone_frame",
]

_DEFAULT_SETTINGS = AnalysisSettings()

SKEWNESS_LIMIT = 1.0
"""|G1| below this in every group: summarised as mean (SD) and t-tested."""

PATIENT_VARIABLES: tuple[str, ...] = (
    "age",
    "sex",
    "bmi",
    "procedure",
    "levels_treated",
    "steroid_use",
    "osteoporosis_treatment",
    "height_loss_max",
    "tscore_min_l1l4",
    "followup_months",
    "cement_leakage_any",
)
"""Rows of the patient Table 1, in order."""
PATIENT_CONTINUOUS: tuple[str, ...] = (
    "age",
    "bmi",
    "height_loss_max",
    "tscore_min_l1l4",
    "followup_months",
)
PATIENT_CATEGORICAL: tuple[str, ...] = tuple(
    v for v in PATIENT_VARIABLES if v not in PATIENT_CONTINUOUS
)
LEVEL_CONTINUOUS: tuple[str, ...] = ("tscore",)
LEVEL_CATEGORICAL: tuple[str, ...] = ("region_tl", "adjacent")

_LABELS: dict[str, str] = {
    "age": "Age (years)",
    "sex": "Sex",
    "bmi": "BMI (kg/m²)",
    "procedure": "Procedure",
    "levels_treated": "Levels treated",
    "steroid_use": "Long-term glucocorticoids",
    "osteoporosis_treatment": "Anti-osteoporotic treatment",
    "height_loss_max": "Largest anterior height loss (%)",
    "tscore_min_l1l4": "Lowest L1–L4 T-score",
    "followup_months": "Follow-up (months)",
    "cement_leakage_any": "Cement leakage",
    "tscore": "T-score",
    "region_tl": "Thoracolumbar junction (T11–L2)",
    "adjacent": "Adjacent to a treated level",
}
_LEVEL_ORDER: dict[str, tuple[str, ...]] = {
    "sex": ("F", "M"),
    "procedure": ("VP", "KP"),
}
_YES_NO = ("yes", "no")
_NOT_TESTED = "Not tested"


@dataclass(frozen=True)
class _Spec:
    name: str
    frame: pd.DataFrame
    source: pd.DataFrame
    """The original columns (fast dtypes) for counting non-missing values."""
    continuous: tuple[str, ...]
    categorical: tuple[str, ...]
    order: tuple[str, ...]
    groups: tuple[str, str]
    """Group keys (no event, event), also the tidy column names."""
    group_labels: dict[str, str]


def _is_boolean(s: pd.Series) -> bool:
    return pd.api.types.is_bool_dtype(s.dtype) or str(s.dtype) == "boolean"


def _categorical_values(s: pd.Series) -> pd.Series:
    """Values as tableone should see them: strings/ints, booleans as yes/no, blanks None.

    Built by indexing a small object array with integer codes (no per-row Python).
    """
    if _is_boolean(s):
        b = s.astype("boolean")
        codes = b.fillna(False).to_numpy(dtype=np.int8)
        codes[b.isna().to_numpy()] = 2
        lookup = np.array(["no", "yes", None], dtype=object)
        return pd.Series(lookup[codes], index=s.index, name=s.name, dtype=object)
    if isinstance(s.dtype, pd.CategoricalDtype) or s.dtype == object:
        cat = s.astype("category") if s.dtype == object else s
        lookup = np.array([*(str(c) for c in cat.cat.categories), None], dtype=object)
        codes = cat.cat.codes.to_numpy()
        return pd.Series(lookup[codes], index=s.index, name=s.name, dtype=object)
    return s


def tableone_frame(
    frame: pd.DataFrame,
    continuous: Sequence[str],
    categorical: Sequence[str],
    group: pd.Series,
    groups: tuple[str, str],
) -> pd.DataFrame:
    """The frame handed to ``TableOne``: numeric continuous columns, categorical
    columns as plain values (booleans as ``yes``/``no``) and a ``_group`` column
    holding ``groups[1]`` where ``group`` is true and ``groups[0]`` elsewhere."""
    cols: dict[str, Any] = {}
    for v in continuous:
        cols[v] = pd.to_numeric(frame[v], errors="coerce").astype("float64")
    for v in categorical:
        cols[v] = _categorical_values(frame[v])
    g = np.asarray(group, dtype=bool).astype(np.int8)
    cols["_group"] = pd.Series(np.array(groups, dtype=object)[g], index=frame.index)
    out = pd.concat(cols, axis=1)
    if not out.index.equals(pd.RangeIndex(len(out))):
        out = out.reset_index(drop=True)
    return out


def _level_sort_key(variable: str, level: str) -> tuple[int, Any]:
    pref = _LEVEL_ORDER.get(variable, ())
    if level in pref:
        return (0, pref.index(level))
    if level in _YES_NO:
        return (0, _YES_NO.index(level))
    try:
        return (1, float(level))
    except ValueError:
        return (2, level)


def _f(x: Any) -> float:
    try:
        v = float(x)
    except (TypeError, ValueError):
        return math.nan
    return v


def _mean_ci(mean: float, sd: float, n: float, alpha: float) -> tuple[float, float]:
    from scipy import stats

    if not (n >= 2 and math.isfinite(mean) and math.isfinite(sd)):
        return math.nan, math.nan
    half = float(stats.t.ppf(1 - alpha / 2, n - 1)) * sd / math.sqrt(n)
    return mean - half, mean + half


def _warning_notes(caught: list[warnings.WarningMessage]) -> list[str]:
    """Notes for the warnings tableone raised, minus those the table's own notes cover.

    NumPy's RuntimeWarnings (an empty or one-value group: "Mean of empty slice",
    "Degrees of freedom <= 0", "divide by zero", …) and tableone's "No P-Value was
    computed … low number of observations" arise exactly where a statistic is not
    estimable, which the rows leave blank and :func:`_table1` explains in words.
    """
    seen: dict[str, None] = {}
    for w in caught:
        msg = " ".join(str(w.message).split())
        if issubclass(w.category, RuntimeWarning) or "low number of observations" in msg:
            continue
        seen[f"Library warning ({w.category.__name__}): {msg}"] = None
    return list(seen)


def _table1(spec: _Spec, settings: AnalysisSettings, extra_meta: dict[str, Any]) -> Result:
    g0, g1 = spec.groups
    keys = ("overall", g0, g1)
    df = spec.frame
    n_total = len(df)
    notes: list[str] = []
    group_n = {"overall": n_total, g0: int((df["_group"] == g0).sum()), g1: 0}
    group_n[g1] = n_total - group_n[g0]

    # --- variables tableone can summarise (not entirely blank) ---------------------------
    nonmissing = spec.source[list(spec.continuous) + list(spec.categorical)].notna()
    nonmissing.index = df.index
    nm_group = nonmissing.groupby(df["_group"].to_numpy()).sum()
    nm_total = nonmissing.sum()
    blank = [v for v in spec.order if nm_total[v] == 0]
    for v in blank:
        notes.append(f"{v}: no non-missing value; not summarised.")
    continuous = [v for v in spec.continuous if v not in blank]
    categorical = [v for v in spec.categorical if v not in blank]

    # --- normality rule: |skewness| < limit in both groups -------------------------------
    skew = pd.DataFrame(index=[g0, g1], columns=continuous, dtype="float64")
    if continuous:
        sk = df[continuous].groupby(df["_group"].to_numpy()).skew()
        skew = sk.reindex([g0, g1]).astype("float64")
    nonnormal = [
        v
        for v in continuous
        if bool((skew[v].abs() >= SKEWNESS_LIMIT).any())  # NaN (undefined) never counts
    ]

    both_groups = group_n[g0] > 0 and group_n[g1] > 0
    if n_total == 0:
        notes.append("No rows: Table 1 is empty.")
    elif not both_groups:
        empty = g1 if group_n[g1] == 0 else g0
        notes.append(
            f"The group '{spec.group_labels[empty]}' is empty: P values and SMDs not "
            f"computed; the {empty} columns are empty."
        )

    t1 = None
    caught: list[warnings.WarningMessage] = []
    if n_total and (continuous or categorical):
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            t1 = fast_tableone(
                df,
                columns=continuous + categorical,
                categorical=categorical,
                continuous=continuous,
                groupby="_group",
                nonnormal=nonnormal,
                pval=both_groups,
                htest_name=True,
                smd=both_groups,
                missing=True,
                include_null=False,
                label_suffix=False,
                overall=True,
                order={"_group": [g0, g1]},
            )
    notes += _warning_notes(caught)

    # --- assemble the tidy rows ------------------------------------------------------------
    rows: list[dict[str, Any]] = []
    n_row: dict[str, Any] = {
        "term": "n",
        "estimate": float(n_total),
        "ci_low": math.nan,
        "ci_high": math.nan,
        "p": math.nan,
        "n": n_total,
        "variable": "n",
        "level": "",
        "label": "n",
        "kind": "count",
        "summary": "n",
        "test": "",
    }
    for k in keys:
        n_row[k] = str(group_n[k])
        n_row[f"{k}_count"] = float(group_n[k])
        n_row[f"{k}_n"] = float(group_n[k])
    rows.append(n_row)

    disp = None
    smd_col = None
    if t1 is not None:
        disp = t1.tableone.droplevel(0, axis=1)
        if both_groups:
            smd_col = f"SMD ({g0},{g1})"
    htest = t1.htest_table if (t1 is not None and both_groups) else None

    def disp_str(v: str, level: str, col: str) -> str:
        if disp is None or col not in disp.columns:
            return ""
        try:
            val = disp.loc[(v, level), col]
        except KeyError:
            return ""
        if pd.isna(val):
            return ""
        text = str(val)
        # tableone prints 'nan' for a group without values: never show that as a number
        return "" if "nan" in text else text

    def var_first_level(v: str) -> str:
        if disp is None:
            return ""
        try:
            return str(disp.loc[v].index[0])
        except KeyError:
            return ""

    for v in spec.order:
        label = _LABELS.get(v, COVARIATE_LABELS.get(v, v))
        missing = int(n_total - nm_total[v])
        base: dict[str, Any] = {"variable": v, "label": label, "missing": missing}
        if v in blank:
            rows.append(
                {
                    "term": v,
                    "estimate": math.nan,
                    "ci_low": math.nan,
                    "ci_high": math.nan,
                    "p": math.nan,
                    "n": 0,
                    "level": "",
                    "kind": "continuous" if v in spec.continuous else "categorical",
                    "summary": "",
                    "test": _NOT_TESTED,
                    "smd": math.nan,
                    **base,
                    **{k: "" for k in keys},
                }
            )
            continue
        assert t1 is not None
        p = math.nan
        test = _NOT_TESTED
        smd = math.nan
        if htest is not None:
            p = _f(htest.loc[v, "P-Value"])
            test = str(htest.loc[v, "Test"])
            smd = _f(t1.smd_table.loc[v, smd_col]) if smd_col else math.nan
        first = var_first_level(v)
        p_str = disp_str(v, first, "P-Value")
        smd_str = disp_str(v, first, smd_col) if smd_col else ""

        if v in continuous:
            normal = v not in nonnormal
            cd = t1.cont_describe
            ca = t1.cont_describe_all
            stats_: dict[str, dict[str, float]] = {}
            for k in keys:
                src, col = (ca, "Overall") if k == "overall" else (cd, k)

                def get(stat: str, src: pd.DataFrame = src, col: str = col, v: str = v) -> float:
                    if (stat, col) not in src.columns:
                        return math.nan
                    return _f(src[(stat, col)].loc[v])

                n_k = get("count")
                n_k = 0.0 if math.isnan(n_k) else n_k
                mean, sd = get("mean"), get("std")
                if n_k == 0:
                    mean = sd = math.nan
                lo, hi = _mean_ci(mean, sd, n_k, settings.alpha)
                stats_[k] = {
                    "n": n_k,
                    "mean": mean,
                    "sd": sd,
                    "mean_ci_low": lo,
                    "mean_ci_high": hi,
                    "median": get("median") if n_k else math.nan,
                    "q1": get("q25") if n_k else math.nan,
                    "q3": get("q75") if n_k else math.nan,
                    "min": get("min") if n_k else math.nan,
                    "max": get("max") if n_k else math.nan,
                }
            ov = stats_["overall"]
            if both_groups and math.isnan(smd) and not math.isnan(p):
                notes.append(f"{v}: SMD not estimable (no spread within the groups).")
            if both_groups and math.isnan(p):
                small = min(int(nm_group.loc[g0, v]), int(nm_group.loc[g1, v]))
                why = (
                    "a group has no non-missing value"
                    if small == 0
                    else "no variation (identical values)"
                )
                notes.append(f"{v}: P value not estimable ({why}).")
                test = _NOT_TESTED
            if test == "One-way ANOVA":
                notes.append(
                    f"{v}: a group has a single value; tableone used one-way ANOVA "
                    "(pooled variance) instead of Welch's t-test."
                )
            row = {
                "term": v,
                "estimate": ov["mean"] if normal else ov["median"],
                "ci_low": ov["mean_ci_low"] if normal else math.nan,
                "ci_high": ov["mean_ci_high"] if normal else math.nan,
                "p": p,
                "n": int(ov["n"]),
                "level": "",
                "kind": "continuous",
                "summary": "mean (SD)" if normal else "median [Q1,Q3]",
                "normal": normal,
                f"skew_{g0}": _f(skew.loc[g0, v]),
                f"skew_{g1}": _f(skew.loc[g1, v]),
                "test": test,
                "smd": smd,
                "p_tableone": p_str,
                "smd_tableone": smd_str,
                **base,
            }
            for k in keys:
                row[k] = disp_str(v, "", "Overall" if k == "overall" else k)
                for stat, val in stats_[k].items():
                    row[f"{k}_{stat}"] = val
            rows.append(row)
            continue

        # categorical
        cd = t1.cat_describe
        ca = t1.cat_describe_all
        levels_ = sorted((str(x) for x in ca.loc[v].index), key=lambda lv: _level_sort_key(v, lv))
        observed_levels = int((ca.loc[v][("freq", "Overall")] > 0).sum())
        if both_groups:
            small = min(int(nm_group.loc[g0, v]), int(nm_group.loc[g1, v]))
            if observed_levels < 2 or small == 0:
                why = (
                    "a single category observed"
                    if observed_levels < 2
                    else "a group has no non-missing value"
                )
                notes.append(f"{v}: not tested ({why}); tableone's P value discarded.")
                p, test, p_str = math.nan, _NOT_TESTED, ""
                if observed_levels < 2:
                    smd, smd_str = math.nan, ""
            else:
                if test.startswith("Chi-squared (warning"):
                    notes.append(f"{v}: χ² with expected counts < 5 (table larger than 2×2).")
                if math.isnan(smd):
                    notes.append(f"{v}: SMD not estimable (no variation within the groups).")
        n_v = int(nm_total[v])
        for lv in levels_:
            row = {
                "term": f"{v}: {lv}",
                "estimate": _f(ca.loc[(v, lv), ("freq", "Overall")]),
                "ci_low": math.nan,
                "ci_high": math.nan,
                "p": p,
                "n": n_v,
                "level": lv,
                "kind": "categorical",
                "summary": "n (%)",
                "test": test,
                "smd": smd,
                "p_tableone": p_str,
                "smd_tableone": smd_str,
                **base,
            }
            for k in keys:
                row[k] = disp_str(v, lv, "Overall" if k == "overall" else k)
                if k == "overall":
                    cnt = _f(ca.loc[(v, lv), ("freq", "Overall")])
                    nk = float(nm_total[v])
                elif ("freq", k) in cd.columns:
                    cnt = _f(cd.loc[(v, lv), ("freq", k)])
                    nk = float(nm_group.loc[k, v]) if k in nm_group.index else 0.0
                else:
                    cnt, nk = 0.0, 0.0
                row[f"{k}_count"] = cnt
                row[f"{k}_n"] = nk
                row[f"{k}_percent"] = 100.0 * cnt / nk if nk else math.nan
            rows.append(row)

    table = pd.DataFrame(rows)
    front = [
        "term",
        "estimate",
        "ci_low",
        "ci_high",
        "p",
        "n",
        "variable",
        "level",
        "label",
        "kind",
        "summary",
        *keys,
        "test",
        "smd",
        "missing",
        "p_tableone",
        "smd_tableone",
        "normal",
        f"skew_{g0}",
        f"skew_{g1}",
    ]
    stat_cols = [
        f"{k}_{s}"
        for k in keys
        for s in (
            "n",
            "mean",
            "sd",
            "mean_ci_low",
            "mean_ci_high",
            "median",
            "q1",
            "q3",
            "min",
            "max",
            "count",
            "percent",
        )
    ]
    for c in front + stat_cols:
        if c not in table.columns:
            table[c] = "" if c in (*keys, "p_tableone", "smd_tableone") else math.nan
    table = table[front + stat_cols]
    for c in (*keys, "p_tableone", "smd_tableone", "test", "level", "summary"):
        table[c] = table[c].fillna("").astype(object)
    table["missing"] = table["missing"].astype("float64")
    table["n"] = table["n"].astype("int64")

    meta: dict[str, Any] = {
        "groups": list(spec.groups),
        "group_labels": dict(spec.group_labels),
        "group_n": {k: int(v) for k, v in group_n.items()},
        "normality_rule": (
            f"|sample skewness G1| < {SKEWNESS_LIMIT:g} in both groups "
            "(adjusted Fisher–Pearson, pandas skew = scipy.stats.skew(bias=False)); "
            "otherwise median [Q1,Q3] and Kruskal–Wallis; undefined skewness "
            "(< 3 values or no spread) does not count against normality"
        ),
        "nonnormal": nonnormal,
        "test_continuous_normal": (
            "Welch's t-test (tableone ttest_equal_var=False; scipy.stats.ttest_ind "
            "equal_var=False); one-way ANOVA if a group has a single value"
        ),
        "test_continuous_nonnormal": (
            "Kruskal–Wallis (scipy.stats.kruskal) = two-sided Mann–Whitney U, normal "
            "approximation with tie correction, no continuity correction"
        ),
        "test_categorical": (
            "Pearson χ² (scipy.stats.chi2_contingency, Yates-corrected for 2×2); "
            "Fisher's exact (two-sided) for a 2×2 table when an expected count < 5 "
            "or the smaller group has < 5 non-missing values"
        ),
        "smd": (
            "tableone: continuous (mean2 − mean1)/sqrt((SD1² + SD2²)/2), signed, "
            f"{spec.groups[1]} minus {spec.groups[0]}; categorical Yang & Dalton, unsigned"
        ),
        "missing": "categorical percentages among non-missing values; blanks counted",
        "mean_ci": f"t-based {100 * (1 - settings.alpha):g} % CI of each group mean",
        "tableone_version": _tableone_version(),
        **extra_meta,
    }
    return Result(spec.name, table, notes=tuple(notes), meta=meta)


def _tableone_version() -> str:
    from importlib.metadata import version

    return version("tableone")


def patient_table1(data: DerivedData, settings: AnalysisSettings = _DEFAULT_SETTINGS) -> Result:
    """Patient characteristics by refracture status (name ``"table1"``).

    One row ``"n"``, then per continuous variable one row (``term`` = variable)
    and per categorical variable one row per category (``term`` =
    ``"variable: level"``; booleans as ``yes``/``no``). ``estimate`` is the
    overall mean (with its t-based CI) or median for continuous rows and the
    overall count for category rows; ``p``/``test``/``smd``/``missing`` belong to
    the variable and repeat on each of its rows. ``overall``/``no_refracture``/
    ``refracture`` are tableone's formatted strings; the ``<group>_<stat>``
    columns keep the numbers.
    """
    pf = data.patients
    spec = _Spec(
        name="table1",
        frame=tableone_frame(
            pf,
            PATIENT_CONTINUOUS,
            PATIENT_CATEGORICAL,
            pf["refracture"],
            ("no_refracture", "refracture"),
        ),
        source=pf,
        continuous=PATIENT_CONTINUOUS,
        categorical=PATIENT_CATEGORICAL,
        order=PATIENT_VARIABLES,
        groups=("no_refracture", "refracture"),
        group_labels={
            "overall": "All patients",
            "no_refracture": "No refracture",
            "refracture": "Refracture",
        },
    )
    return _table1(spec, settings, {"unit": "patient"})


def level_table1(data: DerivedData, settings: AnalysisSettings = _DEFAULT_SETTINGS) -> Result:
    """The level-specific analysis set by subsequent fracture (name ``"table1_levels"``).

    Rows: ``n`` (levels), ``tscore``, ``region_tl: yes/no``, ``adjacent: yes/no``;
    groups ``nonfractured``/``fractured`` (columns as in :func:`patient_table1`).
    ``meta`` gives the numbers of levels and of patients per group. The tests
    treat levels as independent although a patient contributes several levels.
    """
    ls = data.level_set
    fx = ls["subsequent_fracture"].astype(bool)
    groups = ("nonfractured", "fractured")
    spec = _Spec(
        name="table1_levels",
        frame=tableone_frame(ls, LEVEL_CONTINUOUS, LEVEL_CATEGORICAL, fx, groups),
        source=ls,
        continuous=LEVEL_CONTINUOUS,
        categorical=LEVEL_CATEGORICAL,
        order=LEVEL_CONTINUOUS + LEVEL_CATEGORICAL,
        groups=groups,
        group_labels={
            "overall": "All levels",
            "nonfractured": "Levels without subsequent fracture",
            "fractured": "Levels with subsequent fracture",
        },
    )
    pid = ls["patient_id"]
    extra = {
        "unit": "vertebral level (untreated, with a T-score)",
        "levels": {
            "overall": len(ls),
            "nonfractured": int((~fx).sum()),
            "fractured": int(fx.sum()),
        },
        "patients": {
            "overall": int(pid.nunique()),
            "nonfractured": int(pid[~fx].nunique()),
            "fractured": int(pid[fx].nunique()),
        },
        "clustering": "levels of one patient are not independent; tests ignore clustering",
    }
    res = _table1(spec, settings, extra)
    note = "Tests treat levels as independent although patients contribute several levels."
    return Result(res.name, res.table, notes=(*res.notes, note), meta=res.meta)
