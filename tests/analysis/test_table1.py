"""Table 1 (patients by refracture, levels by subsequent fracture).

Every P value is recomputed with SciPy from the raw columns and compared to
1e-6 relative; counts, means, SDs and quartiles with NumPy/pandas; the
formatted strings with a bare ``TableOne`` call on the same frame.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from refracture.analysis.settings import AnalysisSettings
from refracture.analysis.table1 import (
    PATIENT_CATEGORICAL,
    PATIENT_CONTINUOUS,
    PATIENT_VARIABLES,
    SKEWNESS_LIMIT,
    level_table1,
    patient_table1,
    tableone_frame,
)
from refracture.data.derive import DerivedData, derive
from refracture.data.simulate import simulate
from refracture.data.validate import load_cohort

REL = 1e-6
GROUPS = ("no_refracture", "refracture")


@pytest.fixture(scope="module")
def t1(example_data: DerivedData):
    return patient_table1(example_data)


@pytest.fixture(scope="module")
def t1_levels(example_data: DerivedData):
    return level_table1(example_data)


def _with(data: DerivedData, **columns) -> DerivedData:
    return dataclasses.replace(data, patients=data.patients.assign(**columns))


def _yes_no(s: pd.Series) -> pd.Series:
    b = s.astype("boolean")
    return b.map({True: "yes", False: "no"}).astype(object)


def _groups(pf: pd.DataFrame, v: str) -> tuple[np.ndarray, np.ndarray]:
    x = pd.to_numeric(pf[v]).astype(float)
    g = pf["refracture"].astype(bool)
    return x[~g].dropna().to_numpy(), x[g].dropna().to_numpy()


def _scipy_p_continuous(a: np.ndarray, b: np.ndarray, normal: bool) -> float:
    if normal:
        return float(stats.ttest_ind(a, b, equal_var=False).pvalue)
    p_kw = float(stats.kruskal(a, b).pvalue)
    # for two groups Kruskal–Wallis is the Mann–Whitney U test (normal approximation,
    # tie-corrected, without continuity correction)
    p_mw = float(stats.mannwhitneyu(a, b, use_continuity=False, method="asymptotic").pvalue)
    assert p_kw == pytest.approx(p_mw, rel=REL)
    return p_kw


def _scipy_p_categorical(x: pd.Series, g: pd.Series) -> tuple[float, str]:
    """tableone's rule, written out: χ² (Yates for 2×2) unless an expected count < 5
    or the smaller group has < 5 values, then Fisher's exact for a 2×2 table."""
    keep = x.notna()
    tab = pd.crosstab(g[keep], x[keep]).to_numpy()
    _, p, _, expected = stats.chi2_contingency(tab)
    if (expected.min() < 5 or tab.sum(axis=1).min() < 5) and tab.shape == (2, 2):
        return float(stats.fisher_exact(tab).pvalue), "Fisher's exact"
    return float(p), "Chi-squared"


# --- example cohort: against SciPy / NumPy -----------------------------------------------


def test_shape_and_terms(t1) -> None:
    tb = t1.table
    assert list(tb.columns[:6]) == ["term", "estimate", "ci_low", "ci_high", "p", "n"]
    assert t1.name == "table1"
    assert tb["term"].iloc[0] == "n"
    assert list(dict.fromkeys(tb["variable"].iloc[1:])) == list(PATIENT_VARIABLES)
    assert tb["term"].is_unique
    for col in ("overall", *GROUPS, "test", "smd", "missing", "p_tableone"):
        assert col in tb.columns
    assert "sex: F" in set(tb["term"])
    assert "procedure: VP" in set(tb["term"])
    assert "steroid_use: yes" in set(tb["term"])
    # the result serialises without NaN leaking as a number
    t1.to_dict()


def test_continuous_p_values_against_scipy(t1, example_data: DerivedData) -> None:
    pf = example_data.patients
    for v in PATIENT_CONTINUOUS:
        row = t1.row(v)
        a, b = _groups(pf, v)
        normal = bool(row["normal"])
        assert row["test"] == ("Welch’s T-test" if normal else "Kruskal-Wallis")
        assert row["p"] == pytest.approx(_scipy_p_continuous(a, b, normal), rel=REL)


def test_categorical_p_values_against_scipy(t1, example_data: DerivedData) -> None:
    pf = example_data.patients
    g = pf["refracture"].astype(bool)
    seen = set()
    for v in PATIENT_CATEGORICAL:
        x = pf[v]
        x = _yes_no(x) if str(x.dtype) in ("bool", "boolean") else x.astype(object)
        p, test = _scipy_p_categorical(x, g)
        rows = t1.table.loc[t1.table["variable"] == v]
        assert (rows["p"] == rows["p"].iloc[0]).all()
        assert rows["p"].iloc[0] == pytest.approx(p, rel=REL)
        assert rows["test"].iloc[0] == test
        seen.add(test)
    assert seen == {"Chi-squared", "Fisher's exact"}  # both branches exercised


def test_normality_rule_is_skewness(t1, example_data: DerivedData) -> None:
    pf = example_data.patients
    nonnormal = []
    for v in PATIENT_CONTINUOUS:
        a, b = _groups(pf, v)
        sa, sb = stats.skew(a, bias=False), stats.skew(b, bias=False)
        row = t1.row(v)
        assert row["skew_no_refracture"] == pytest.approx(sa, rel=REL)
        assert row["skew_refracture"] == pytest.approx(sb, rel=REL)
        if max(abs(sa), abs(sb)) >= SKEWNESS_LIMIT:
            nonnormal.append(v)
        assert row["summary"] == ("median [Q1,Q3]" if v in nonnormal else "mean (SD)")
    assert t1.meta["nonnormal"] == nonnormal
    assert "skewness" in t1.meta["normality_rule"]


def test_descriptives_against_numpy(t1, example_data: DerivedData) -> None:
    pf = example_data.patients
    alpha = AnalysisSettings().alpha
    for v in PATIENT_CONTINUOUS:
        row = t1.row(v)
        a, b = _groups(pf, v)
        for key, x in (
            ("overall", np.concatenate([a, b])),
            ("no_refracture", a),
            ("refracture", b),
        ):
            assert row[f"{key}_n"] == x.size
            assert row[f"{key}_mean"] == pytest.approx(x.mean(), rel=REL)
            assert row[f"{key}_sd"] == pytest.approx(x.std(ddof=1), rel=REL)
            assert row[f"{key}_median"] == pytest.approx(np.median(x), rel=REL)
            assert row[f"{key}_q1"] == pytest.approx(np.percentile(x, 25), rel=REL)
            assert row[f"{key}_q3"] == pytest.approx(np.percentile(x, 75), rel=REL)
            lo, hi = stats.t.interval(1 - alpha, x.size - 1, x.mean(), stats.sem(x))
            assert row[f"{key}_mean_ci_low"] == pytest.approx(lo, rel=REL)
            assert row[f"{key}_mean_ci_high"] == pytest.approx(hi, rel=REL)
        assert row["missing"] == pf[v].isna().sum()
        assert row["n"] == pf[v].notna().sum()
        # SMD: (mean2 − mean1) / sqrt((sd1² + sd2²) / 2)
        smd = (b.mean() - a.mean()) / math.sqrt((a.var(ddof=1) + b.var(ddof=1)) / 2)
        assert row["smd"] == pytest.approx(smd, rel=REL)
    bmi = t1.row("bmi")
    assert bmi["missing"] == 1
    assert bmi["n"] == 92


def test_categorical_counts_and_binary_smd(t1, example_data: DerivedData) -> None:
    pf = example_data.patients
    g = pf["refracture"].astype(bool)
    for v in PATIENT_CATEGORICAL:
        x = pf[v]
        x = _yes_no(x) if str(x.dtype) in ("bool", "boolean") else x.astype(str)
        rows = t1.table.loc[t1.table["variable"] == v]
        for _, row in rows.iterrows():
            hit = x == row["level"]
            assert row["overall_count"] == hit.sum() == row["estimate"]
            assert row["no_refracture_count"] == (hit & ~g).sum()
            assert row["refracture_count"] == (hit & g).sum()
            n1 = x[g].notna().sum()
            assert row["refracture_percent"] == pytest.approx(100 * (hit & g).sum() / n1)
        if len(rows) == 2:  # binary: |p2 − p1| / sqrt((p1(1−p1) + p2(1−p2)) / 2)
            p0 = rows["no_refracture_percent"].iloc[1] / 100
            p1 = rows["refracture_percent"].iloc[1] / 100
            smd = abs(p1 - p0) / math.sqrt((p0 * (1 - p0) + p1 * (1 - p1)) / 2)
            assert rows["smd"].iloc[0] == pytest.approx(smd, rel=REL)


def test_strings_are_tableones_own(t1, example_data: DerivedData) -> None:
    """The formatted columns equal a bare TableOne call on the same frame."""
    from tableone import TableOne

    pf = example_data.patients
    df = tableone_frame(pf, PATIENT_CONTINUOUS, PATIENT_CATEGORICAL, pf["refracture"], GROUPS)
    bare = TableOne(
        df,
        columns=list(PATIENT_CONTINUOUS + PATIENT_CATEGORICAL),
        categorical=list(PATIENT_CATEGORICAL),
        continuous=list(PATIENT_CONTINUOUS),
        groupby="_group",
        nonnormal=t1.meta["nonnormal"],
        pval=True,
        htest_name=True,
        smd=True,
        include_null=False,
        label_suffix=False,
    ).tableone.droplevel(0, axis=1)
    for _, row in t1.table.iloc[1:].iterrows():
        key = (row["variable"], row["level"])
        assert row["overall"] == bare.loc[key, "Overall"]
        for g in GROUPS:
            assert row[g] == bare.loc[key, g]
    assert t1.row("age")["overall"] == "76.8 (10.3)"
    assert t1.row("n")[["overall", *GROUPS]].tolist() == ["93", "77", "16"]


def test_level_table_matches_published(t1_levels, example_data: DerivedData, published) -> None:
    tb = t1_levels.table
    assert t1_levels.name == "table1_levels"
    assert tb["term"].tolist() == [
        "n",
        "tscore",
        "region_tl: yes",
        "region_tl: no",
        "adjacent: yes",
        "adjacent: no",
    ]
    ref = published["level_specific_tscore"]
    row = t1_levels.row("tscore")
    for key, grp in (("fractured", "fractured"), ("nonfractured", "nonfractured")):
        assert round(row[f"{grp}_mean"], 3) == pytest.approx(ref[key]["mean"], abs=1e-9)
        assert round(row[f"{grp}_mean_ci_low"], 3) == pytest.approx(ref[key]["ci95"][0], abs=1e-9)
        assert round(row[f"{grp}_mean_ci_high"], 3) == pytest.approx(ref[key]["ci95"][1], abs=1e-9)
    ls = example_data.level_set
    fx = ls["subsequent_fracture"]
    assert t1_levels.meta["levels"] == {
        "overall": len(ls),
        "nonfractured": int((~fx).sum()),
        "fractured": int(fx.sum()),
    }
    assert t1_levels.meta["patients"]["fractured"] == ls.loc[fx, "patient_id"].nunique()
    assert t1_levels.meta["patients"]["overall"] == ls["patient_id"].nunique()
    a, b = ls.loc[~fx, "tscore"].to_numpy(), ls.loc[fx, "tscore"].to_numpy()
    assert row["p"] == pytest.approx(_scipy_p_continuous(a, b, bool(row["normal"])), rel=REL)
    for v in ("region_tl", "adjacent"):
        p, test = _scipy_p_categorical(_yes_no(ls[v]), fx)
        r = t1_levels.row(f"{v}: yes")
        assert r["p"] == pytest.approx(p, rel=REL)
        assert r["test"] == test
    assert any("independent" in n for n in t1_levels.notes)


# --- edge cases ---------------------------------------------------------------------------


def test_no_refracture(example_data: DerivedData) -> None:
    r = patient_table1(_with(example_data, refracture=False))
    assert r.table["p"].isna().all()
    assert r.table["smd"].isna().all()
    assert (r.table["refracture"] == "0").sum() == 1  # only the n row
    assert (r.table.loc[1:, "refracture"] == "").all()
    assert any("empty" in n for n in r.notes)
    r.to_dict()


def test_all_refracture(example_data: DerivedData) -> None:
    r = patient_table1(_with(example_data, refracture=True))
    assert r.table["p"].isna().all()
    assert r.row("n")["no_refracture"] == "0"
    assert (r.table.loc[1:, "no_refracture"] == "").all()


def test_single_refracture_patient(example_data: DerivedData) -> None:
    n = len(example_data.patients)
    data = _with(example_data, refracture=np.arange(n) == 0)
    r = patient_table1(data)
    assert r.row("n")["refracture"] == "1"
    normal = r.table.loc[r.table["summary"] == "mean (SD)", "test"]
    assert set(normal) == {"One-way ANOVA"}
    assert any("one-way anova" in n.lower() for n in r.notes)
    # two groups: one-way ANOVA is the pooled-variance t-test
    a, b = _groups(data.patients, "age")
    assert r.row("age")["p"] == pytest.approx(stats.f_oneway(a, b).pvalue, rel=REL)
    assert r.row("age")["p"] == pytest.approx(stats.ttest_ind(a, b).pvalue, rel=REL)


def test_constant_tscore(example_data: DerivedData) -> None:
    r = patient_table1(_with(example_data, tscore_min_l1l4=-2.5))
    row = r.row("tscore_min_l1l4")
    assert math.isnan(row["p"])
    assert math.isnan(row["smd"])
    assert row["test"] == "Not tested"
    assert row["overall_sd"] == 0.0
    assert any("tscore_min_l1l4" in n and "not estimable" in n for n in r.notes)


def test_single_category_not_tested(example_data: DerivedData) -> None:
    n = len(example_data.patients)
    r = patient_table1(_with(example_data, sex=pd.Categorical(["F"] * n, categories=["F", "M"])))
    rows = r.table.loc[r.table["variable"] == "sex"]
    assert rows["term"].tolist() == ["sex: F"]
    assert rows["p"].isna().all()
    assert (rows["test"] == "Not tested").all()
    assert any("sex" in n and "single category" in n for n in r.notes)


def test_missing_covariates(example_data: DerivedData) -> None:
    pf = example_data.patients
    # BMI blank for every refracture patient: no test, no 'nan' shown
    r = patient_table1(_with(example_data, bmi=pf["bmi"].where(~pf["refracture"])))
    row = r.row("bmi")
    assert math.isnan(row["p"])
    assert row["refracture"] == ""
    assert row["refracture_n"] == 0
    assert (
        row["missing"]
        == pf["bmi"].isna().sum()
        + pf["refracture"].sum()
        - (pf["bmi"].isna() & pf["refracture"]).sum()
    )
    assert any("bmi" in n and "no non-missing" in n for n in r.notes)
    # BMI entirely blank: a placeholder row and a note
    r = patient_table1(_with(example_data, bmi=np.nan))
    row = r.row("bmi")
    assert row["n"] == 0
    assert math.isnan(row["estimate"])
    assert row["missing"] == len(pf)
    # a boolean with blanks: percentages among non-missing values
    steroid = pf["steroid_use"].astype("boolean").copy()
    steroid.iloc[:10] = pd.NA
    r = patient_table1(_with(example_data, steroid_use=steroid))
    yes = r.row("steroid_use: yes")
    assert yes["n"] == len(pf) - 10
    assert yes["missing"] == 10
    assert yes["overall_percent"] == pytest.approx(100 * yes["overall_count"] / (len(pf) - 10))
    assert not any("nan" in str(s) for s in r.table[["overall", *GROUPS]].to_numpy().ravel())


def test_five_patient_cohort(tmp_path) -> None:
    simulate(seed=3, patients=5).write(tmp_path)
    c = load_cohort(tmp_path)
    d = derive(c.patients, c.levels)
    for fn in (patient_table1, level_table1):
        r = fn(d)
        assert r.table["term"].is_unique
        r.to_dict()


def test_empty_frame(example_data: DerivedData) -> None:
    d = dataclasses.replace(
        example_data,
        patients=example_data.patients.iloc[[]],
        level_set=example_data.level_set.iloc[[]],
    )
    r = patient_table1(d)
    assert r.row("n")["estimate"] == 0
    assert any("empty" in n for n in r.notes)
    level_table1(d).to_dict()


def test_example_headline(t1, t1_levels) -> None:
    cols = ["term", "overall", "no_refracture", "refracture", "p", "test", "smd"]
    print("\nTable 1 (patients):")
    print(t1.table[cols].to_string(index=False))
    print("\nTable 1 (levels):")
    lcols = ["term", "overall", "nonfractured", "fractured", "p", "test"]
    print(t1_levels.table[lcols].to_string(index=False))
    row = t1_levels.row("tscore")
    for g in ("fractured", "nonfractured"):
        print(
            f"{g}: mean T {row[f'{g}_mean']:.3f} "
            f"(95 % CI {row[f'{g}_mean_ci_low']:.3f} to {row[f'{g}_mean_ci_high']:.3f})"
        )
    print(t1_levels.meta["levels"], t1_levels.meta["patients"])
    assert t1.row("n")["estimate"] == 93
