"""Threshold table: hand-worked 2×2 tables, SciPy/statsmodels cross-checks, exact decimals."""

from __future__ import annotations

import json
import math
import time
from decimal import Decimal

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from refracture.analysis.settings import AnalysisSettings
from refracture.analysis.thresholds import (
    PREDICTIVE_HIGH_FROM,
    PREDICTIVE_LOW_BELOW,
    cutoff_counts,
    holm,
    predictive_level,
    scaled_integers,
    threshold_table,
    wilson_interval,
)
from refracture.data.derive import DerivedData, derive
from refracture.data.simulate import simulate
from refracture.data.validate import load_cohort

Z975 = 1.959963984540054  # scipy.stats.norm.ppf(0.975)


def level_data(tscore, fractured, patients=None) -> DerivedData:
    """A DerivedData whose level set holds just the given levels."""
    tscore = list(tscore)
    if patients is None:
        patients = [f"P{i}" for i in range(len(tscore))]
    ls = pd.DataFrame(
        {
            "patient_id": pd.Series(patients, dtype=object),
            "tscore": pd.Series(tscore, dtype="float64"),
            "subsequent_fracture": pd.Series(fractured, dtype=bool),
        }
    )
    return DerivedData(patients=pd.DataFrame(), levels=pd.DataFrame(), level_set=ls)


def table_data(a: int, b: int, c: int, d: int, at: float = -2.5, above: float = -1.0):
    """Levels giving the 2×2 table (a, b, c, d) at any cutoff in [at, above)."""
    t = [at] * (a + b) + [above] * (c + d)
    y = [True] * a + [False] * b + [True] * c + [False] * d
    return level_data(t, y)


ONE_CUTOFF = AnalysisSettings(cutoffs=(Decimal("-2.0"),))


def _json_clean(result) -> None:
    json.dumps(result.to_dict(), allow_nan=False)


# ---------------------------------------------------------------------------
# hand-worked 2×2 table
# ---------------------------------------------------------------------------


def test_hand_worked_table() -> None:
    # a=6 (T ≤ −2.0, fractured), b=4, c=2, d=8; N = 20
    r = threshold_table(table_data(6, 4, 2, 8), ONE_CUTOFF)
    row = r.table.iloc[0]
    assert (row["a"], row["b"], row["c"], row["d"]) == (6, 4, 2, 8)
    assert row["n"] == 20
    assert row["cutoff"] == -2.0
    assert row["cutoff_text"] == "-2.0"
    assert row["term"] == "T ≤ −2.0"
    assert not row["corrected"]
    # OR = (6·8)/(4·2) = 48/8 = 6
    assert row["estimate"] == pytest.approx(6.0, rel=1e-12)
    # Woolf: SE = sqrt(1/6 + 1/4 + 1/2 + 1/8) = sqrt(1.041666…) = 1.0206207
    # CI = exp(ln 6 ± 1.959964·1.0206207) = exp(1.7917595 ± 2.0003816)
    #    = exp(−0.2086221), exp(3.7921411) = 0.8117033, 44.351181
    assert row["se_log_or"] == pytest.approx(1.0206207261596574, rel=1e-9)
    assert row["ci_low"] == pytest.approx(0.8117033030534856, rel=1e-6)
    assert row["ci_high"] == pytest.approx(44.35118086199022, rel=1e-6)
    # sens = a/(a+c) = 6/8; spec = d/(b+d) = 8/12; PPV = a/(a+b) = 6/10; NPV = d/(c+d) = 8/10
    assert row["sens"] == pytest.approx(0.75)
    assert row["spec"] == pytest.approx(2 / 3)
    assert row["ppv"] == pytest.approx(0.6)
    assert row["npv"] == pytest.approx(0.8)
    # Wilson for 6/8: z² = 3.841459; 1 + z²/n = 1.4801824;
    # centre = (0.75 + z²/16)/1.4801824 = 0.6688981;
    # half = z/1.4801824 · sqrt(0.75·0.25/8 + z²/256) = 0.2596227 → (0.4092754, 0.9285208)
    assert row["sens_low"] == pytest.approx(0.40927543031016883, rel=1e-9)
    assert row["sens_high"] == pytest.approx(0.9285207872478909, rel=1e-9)
    assert row["n_events"] == 8
    assert row["n_patients"] == 20


def test_tests_match_scipy() -> None:
    from scipy.stats import chi2_contingency, fisher_exact

    for a, b, c, d in [(6, 4, 2, 8), (9, 72, 1, 55), (3, 30, 7, 12), (12, 1, 5, 40)]:
        row = threshold_table(table_data(a, b, c, d), ONE_CUTOFF).table.iloc[0]
        tab = [[a, b], [c, d]]
        assert row["p"] == pytest.approx(fisher_exact(tab).pvalue, rel=1e-9)
        plain = chi2_contingency(tab, correction=False)
        yates = chi2_contingency(tab, correction=True)
        assert row["chi2"] == pytest.approx(plain.statistic, rel=1e-9)
        assert row["p_chi2"] == pytest.approx(plain.pvalue, rel=1e-9)
        assert row["p_chi2_yates"] == pytest.approx(yates.pvalue, rel=1e-9)
        # OR against statsmodels' Table2x2 (same Woolf interval)
        from statsmodels.stats.contingency_tables import Table2x2

        t2 = Table2x2(np.array(tab, dtype=float))
        lo, hi = t2.oddsratio_confint()
        assert row["estimate"] == pytest.approx(t2.oddsratio, rel=1e-9)
        assert row["ci_low"] == pytest.approx(lo, rel=1e-6)
        assert row["ci_high"] == pytest.approx(hi, rel=1e-6)


def test_wilson_matches_statsmodels() -> None:
    from statsmodels.stats.proportion import proportion_confint

    xs, ns = [], []
    for n in (1, 2, 5, 8, 17, 100, 1234):
        for x in sorted({0, 1, n // 3, n // 2, n - 1, n}):
            xs.append(x)
            ns.append(n)
    p, lo, hi = wilson_interval(np.array(xs), np.array(ns), alpha=0.05)
    for x, n, pi, low, high in zip(xs, ns, p, lo, hi, strict=True):
        sl, sh = proportion_confint(x, n, alpha=0.05, method="wilson")
        assert pi == pytest.approx(x / n)
        assert low == pytest.approx(sl, rel=1e-9, abs=1e-12)
        assert high == pytest.approx(sh, rel=1e-9, abs=1e-12)
    p0, lo0, hi0 = wilson_interval(np.array([0]), np.array([0]))
    assert np.isnan(p0[0])
    assert np.isnan(lo0[0])
    assert np.isnan(hi0[0])


def test_holm_matches_statsmodels() -> None:
    from statsmodels.stats.multitest import multipletests

    rng = np.random.default_rng(3)
    for _ in range(20):
        p = rng.uniform(0, 0.2, size=rng.integers(1, 25))
        p[rng.random(p.size) < 0.2] = p[0]  # ties
        ref = multipletests(p, method="holm")[1]
        np.testing.assert_allclose(holm(p), ref, rtol=1e-12)
    p = np.array([0.01, np.nan, 0.04, 0.03, np.nan])
    ref = multipletests(p[~np.isnan(p)], method="holm")[1]
    out = holm(p)
    assert np.isnan(out[[1, 4]]).all()
    np.testing.assert_allclose(out[~np.isnan(p)], ref, rtol=1e-12)


def test_holm_column_on_example(example_data) -> None:
    from statsmodels.stats.multitest import multipletests

    t = threshold_table(example_data).table
    ok = t["p"].notna().to_numpy()
    ref = multipletests(t.loc[ok, "p"], method="holm")[1]
    np.testing.assert_allclose(t.loc[ok, "p_holm"], ref, rtol=1e-12)


# ---------------------------------------------------------------------------
# exact decimals
# ---------------------------------------------------------------------------


def test_scaled_integers() -> None:
    ints, k, rounded = scaled_integers(np.array([0.1 + 0.2, -2.2, 1.0]))
    assert (ints.tolist(), k, rounded) == ([3, -22, 10], 1, False)
    ints, k, rounded = scaled_integers(np.array([-2.15, -5.8 + 3.6]))
    assert (ints.tolist(), k, rounded) == ([-215, -220], 2, False)
    ints, k, rounded = scaled_integers(np.array([-2.2]), min_decimals=3)
    assert (ints.tolist(), k) == ([-2200], 3)
    _, k, rounded = scaled_integers(np.array([math.pi]))
    assert k == 9
    assert rounded
    ints, k, _ = scaled_integers(np.array([], dtype=float))
    assert ints.size == 0
    assert k == 0


def test_exact_decimal_boundary() -> None:
    artefact = -5.8 + 3.6  # −2.1999999999999997: decimal −2.2, float just above −2.2
    artefact2 = -0.7 * 3  # −2.0999999999999996: decimal −2.1
    assert artefact > -2.2
    assert artefact2 > -2.1
    t = [-2.2, -2.15, artefact, -2.25, artefact2, -2.3 + 1e-15, -2.05]
    y = [True, False, True, False, False, True, False]
    cut = (Decimal("-2.1"), Decimal("-2.2"), Decimal("-2.3"))
    a, b, c, d, k, rounded = cutoff_counts(np.array(t), np.array(y), cut)
    assert k == 2
    assert not rounded
    # ≤ −2.1: −2.2, −2.15, artefact, −2.25, artefact2, −2.3 → 6 levels (3 fractured)
    # ≤ −2.2: −2.2, artefact, −2.25, −2.3 → 4 levels (3 fractured)
    # ≤ −2.3: −2.3 → 1 level (1 fractured)
    assert (a + b).tolist() == [6, 4, 1]
    assert a.tolist() == [3, 3, 1]
    assert (a + b + c + d).tolist() == [7, 7, 7]
    r = threshold_table(level_data(t, y), AnalysisSettings(cutoffs=cut))
    assert (r.table["a"] + r.table["b"]).tolist() == [6, 4, 1]
    assert r.meta["decimals_compared"] == 2
    # float cutoffs (e.g. from a config file) are read as the decimals they print as
    a2, b2, *_ = cutoff_counts(np.array(t), np.array(y), [-2.1, -2.2, -2.3])
    assert (a2 + b2).tolist() == [6, 4, 1]


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.tuples(st.integers(-600, 400), st.booleans()), min_size=0, max_size=60),
    st.lists(st.integers(-60, 40), min_size=1, max_size=6),
)
def test_counts_match_decimal_brute_force(levels, cuts) -> None:
    # T-scores with two decimals built by float division; cutoffs with one decimal
    t = np.array([v / 100 for v, _ in levels], dtype=float)
    y = np.array([e for _, e in levels], dtype=bool)
    cutoffs = [Decimal(c).scaleb(-1) for c in cuts]
    a, b, c, d, _, _ = cutoff_counts(t, y, cutoffs)
    for i, cut in enumerate(cutoffs):
        le = np.array([Decimal(v).scaleb(-2) <= cut for v, _ in levels], dtype=bool)
        assert a[i] == int((le & y).sum())
        assert b[i] == int((le & ~y).sum())
        assert c[i] == int((~le & y).sum())
        assert d[i] == int((~le & ~y).sum())


def test_single_pass_on_a_large_level_set() -> None:
    rng = np.random.default_rng(7)
    n = 2_000_000
    t = np.round(rng.normal(-2.2, 1.1, n), 1)
    y = rng.random(n) < 0.05
    data = level_data(t, y, patients=np.arange(n) // 2)
    start = time.perf_counter()
    r = threshold_table(data)
    elapsed = time.perf_counter() - start
    print(f"\nthreshold table, {n:,} levels: {elapsed:.2f} s")
    ti = np.rint(t * 10).astype(int)
    for cut, row in zip(AnalysisSettings().cutoffs, r.table.itertuples(), strict=True):
        le = ti <= int(cut * 10)
        assert row.a == int((le & y).sum())
        assert row.b == int((le & ~y).sum())
    assert r.table["n_patients"].iloc[0] == n // 2
    assert elapsed < 30


# ---------------------------------------------------------------------------
# corrections and edge cases
# ---------------------------------------------------------------------------


def test_zero_cell_correction_flagged() -> None:
    # a=5, b=5, c=0, d=10: +0.5 → OR = 5.5·10.5/(5.5·0.5) = 21
    # SE = sqrt(1/5.5 + 1/5.5 + 1/0.5 + 1/10.5) = 1.5680799
    r = threshold_table(table_data(5, 5, 0, 10), ONE_CUTOFF)
    row = r.table.iloc[0]
    assert bool(row["corrected"])
    assert row["estimate"] == pytest.approx(21.0)
    assert row["se_log_or"] == pytest.approx(1.5680798636786517, rel=1e-9)
    assert row["c"] == 0  # the counts stay raw
    assert any("Haldane" in n for n in r.notes)
    from scipy.stats import fisher_exact

    assert row["p"] == pytest.approx(fisher_exact([[5, 5], [0, 10]]).pvalue, rel=1e-9)
    assert row["npv"] == 1.0


@pytest.mark.parametrize(
    ("tscore", "fractured", "phrase"),
    [
        ([-3.0, -2.0, -1.0, -2.5], [False] * 4, "No level had"),
        ([-3.0, -2.0, -1.0, -2.5], [True] * 4, "Every level had"),
        ([-2.5] * 6, [True, False, False, True, False, False], "No cutoff splits"),
        ([], [], "empty"),
    ],
)
def test_degenerate_inputs(tscore, fractured, phrase) -> None:
    r = threshold_table(level_data(tscore, fractured))
    assert len(r.table) == len(AnalysisSettings().cutoffs)
    assert r.table["estimate"].isna().all()
    assert r.table["p"].isna().all()
    assert r.table["p_holm"].isna().all()
    assert any(phrase in n for n in r.notes), r.notes
    assert r.meta["first_significant_cutoff"] is None
    assert r.meta["predictive_summary"] is None
    _json_clean(r)


def test_one_sided_cutoffs_are_not_estimable_there() -> None:
    # every T-score above −1.5 except one: cutoffs −1.6 … −3.5 have an empty "≤" row
    r = threshold_table(level_data([-1.5, -1.0, 0.0, -0.5], [True, False, True, False]))
    assert not np.isnan(r.table["estimate"].iloc[0])
    assert r.table["estimate"].iloc[1:].isna().all()
    assert any("No level on one side" in n for n in r.notes)


def test_simulated_cohorts(tmp_path) -> None:
    for patients in (5, 200):
        out = tmp_path / str(patients)
        out.mkdir()
        simulate(seed=1, patients=patients).write(out)
        c = load_cohort(out)
        r = threshold_table(derive(c.patients, c.levels))
        assert len(r.table) == 21
        assert (r.table[["a", "b", "c", "d"]].sum(axis=1) == r.table["n"]).all()
        _json_clean(r)


def test_predictive_levels() -> None:
    assert predictive_level(PREDICTIVE_LOW_BELOW - 1e-9) == "low"
    assert predictive_level(PREDICTIVE_LOW_BELOW) == "moderate"
    assert predictive_level(PREDICTIVE_HIGH_FROM - 1e-9) == "moderate"
    assert predictive_level(PREDICTIVE_HIGH_FROM) == "high"
    assert predictive_level(float("nan")) is None
    assert predictive_level(None) is None


# ---------------------------------------------------------------------------
# the example cohort against the published abstract
# ---------------------------------------------------------------------------


def test_example_matches_published(example_data, published) -> None:
    pub = published["thresholds"]
    r = threshold_table(example_data)
    m = r.meta
    assert m["first_significant_cutoff"] == pub["first_significant_cutoff"]
    assert round(m["p_at_first_significant"], 3) == pub["p_value_at_first_significant"]
    assert m["or_rises_from"] == pub["odds_ratio_rises_from"]
    assert m["or_rises_to"] == pub["odds_ratio_rises_to"]
    assert m["or_plateau"] is True
    assert m["predictive_summary"] == pub["predictive_values"]
    assert m["predictive_value_thresholds"] == {
        "low_below": PREDICTIVE_LOW_BELOW,
        "high_from": PREDICTIVE_HIGH_FROM,
    }
    # the derived statements follow from the table
    t = r.table.set_index("cutoff_text")
    assert t.loc["-2.1", "p"] >= 0.05 > t.loc["-2.2", "p"]
    ors = t.loc[["-2.2", "-2.3", "-2.4", "-2.5", "-2.6", "-2.7"], "estimate"].to_numpy()
    assert (np.diff(ors[:5]) > 0).all()
    assert ors[5] < ors[4]
    assert m["max_or_cutoff"] == -2.6
    _json_clean(r)


def test_print_example_headline(example_data) -> None:
    r = threshold_table(example_data)
    m = r.meta
    row = r.row("T ≤ −2.2")
    print(
        "\nthresholds (example cohort): "
        f"n={row['n']} levels, {row['n_patients']} patients, {row['n_events']} fractured; "
        f"first significant cutoff {m['first_significant_cutoff_text']} "
        f"(OR {row['estimate']:.2f}, 95% CI {row['ci_low']:.2f}–{row['ci_high']:.2f}, "
        f"Fisher P={m['p_at_first_significant']:.3f}, Holm P={row['p_holm']:.3f}); "
        f"OR rises {m['or_rises_from_text']} → {m['or_rises_to_text']} "
        f"(max OR {m['max_or']:.2f} at {m['max_or_cutoff_text']}, plateau={m['or_plateau']}); "
        f"PPV {row['ppv']:.3f}, NPV {row['npv']:.3f} → {m['predictive_summary']}"
    )
