"""ROC analysis: AUC vs scikit-learn, DeLong vs a direct computation, bootstrap design."""

from __future__ import annotations

import itertools
import json
import time

import numpy as np
import pandas as pd
import pytest

from refracture.analysis.roc import (
    BOOTSTRAP_BLOCK,
    block_rng,
    bootstrap_roc,
    delong,
    roc_analysis,
    roc_curve_points,
    youden_from_counts,
)
from refracture.analysis.settings import AnalysisSettings
from refracture.data.derive import DerivedData, derive
from refracture.data.simulate import simulate
from refracture.data.validate import load_cohort


def level_data(tscore, fractured, patients=None) -> DerivedData:
    tscore = list(tscore)
    if patients is None:
        patients = [f"P{i}" for i in range(len(tscore))]
    ls = pd.DataFrame(
        {
            "patient_id": pd.Series(list(patients), dtype=object),
            "tscore": pd.Series(tscore, dtype="float64"),
            "subsequent_fracture": pd.Series(list(fractured), dtype=bool),
        }
    )
    return DerivedData(patients=pd.DataFrame(), levels=pd.DataFrame(), level_set=ls)


def random_levels(seed: int, n: int, patients: int | None = None):
    rng = np.random.default_rng(seed)
    t = np.round(rng.normal(-2.2, 1.0, n), 1)  # one decimal: many ties
    y = rng.random(n) < 1 / (1 + np.exp(2.0 + 0.8 * (t + 2.2)))
    y[:2] = True
    y[2:4] = False
    pid = rng.integers(0, patients or n, n)
    return t, y, pid


def direct_delong(x: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """O(m·n) structural components (DeLong et al. 1988): psi = 1, ½, 0."""
    psi = (x[:, None] > y[None, :]) + 0.5 * (x[:, None] == y[None, :])
    v10 = psi.mean(axis=1)
    v01 = psi.mean(axis=0)
    auc = psi.mean()
    return auc, v10.var(ddof=1) / x.size + v01.var(ddof=1) / y.size


# ---------------------------------------------------------------------------
# AUC and DeLong
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_auc_matches_sklearn_and_delong_matches_direct(seed) -> None:
    from sklearn.metrics import roc_auc_score

    t, y, _ = random_levels(seed, 300)
    auc, var = delong(-t, y)
    assert auc == pytest.approx(roc_auc_score(y, -t), rel=1e-12)
    d_auc, d_var = direct_delong(-t[y], -t[~y])
    assert auc == pytest.approx(d_auc, rel=1e-12)
    assert var == pytest.approx(d_var, rel=1e-10)
    # the weighted-count AUC (used by the bootstrap) agrees too
    uniq, inv = np.unique(t, return_inverse=True)
    a, *_ = youden_from_counts(
        np.bincount(inv[y], minlength=uniq.size), np.bincount(inv[~y], minlength=uniq.size)
    )
    assert float(a) == pytest.approx(roc_auc_score(y, -t), rel=1e-12)


def test_hanley_mcneil_1982_published_auc() -> None:
    # Hanley & McNeil, Radiology 1982;143:29–36, Table 1: 109 CT images rated 1
    # (definitely normal) … 5 (definitely abnormal). Normal 33/6/6/11/2 (n=58),
    # abnormal 3/2/2/11/33 (n=51). Published area W = 0.893.
    normal = np.repeat(np.arange(1, 6), [33, 6, 6, 11, 2])
    abnormal = np.repeat(np.arange(1, 6), [3, 2, 2, 11, 33])
    rating = np.concatenate([abnormal, normal])
    diseased = np.r_[np.ones(51, bool), np.zeros(58, bool)]
    # as T-scores: a higher rating is a lower "T"
    r = roc_analysis(level_data(-rating.astype(float), diseased), AnalysisSettings())
    assert round(r.value("auc"), 3) == 0.893
    _, d_var = direct_delong(abnormal.astype(float), normal.astype(float))
    assert r.value("auc", "se") == pytest.approx(np.sqrt(d_var), rel=1e-10)


def test_delong_ci_and_p() -> None:
    from scipy.stats import norm

    t, y, _ = random_levels(5, 200)
    r = roc_analysis(level_data(t, y), AnalysisSettings(bootstrap_replicates=0))
    auc, var = direct_delong(-t[y], -t[~y])
    se = np.sqrt(var)
    row = r.row("auc")
    assert row["estimate"] == pytest.approx(auc, rel=1e-12)
    assert row["se"] == pytest.approx(se, rel=1e-10)
    assert row["ci_low"] == pytest.approx(auc - 1.959963984540054 * se, rel=1e-9)
    assert row["ci_high"] == pytest.approx(min(1.0, auc + 1.959963984540054 * se), rel=1e-9)
    assert row["p"] == pytest.approx(2 * norm.sf(abs(auc - 0.5) / se), rel=1e-9)
    assert any("Bootstrap skipped" in n for n in r.notes)


# ---------------------------------------------------------------------------
# Youden and ROC curve
# ---------------------------------------------------------------------------


def brute_youden(t: np.ndarray, y: np.ndarray) -> tuple[float, float, float, float]:
    best = (-1.0, np.nan, np.nan, np.nan)
    for cut in sorted(set(t.tolist()), reverse=True):  # highest t first: wins ties
        le = t <= cut
        sens = (le & y).sum() / y.sum()
        spec = (~le & ~y).sum() / (~y).sum()
        j = sens + spec - 1
        if j > best[0] + 1e-12:
            best = (j, cut, sens, spec)
    return best


@pytest.mark.parametrize("seed", [0, 1, 7])
def test_youden_matches_brute_force(seed) -> None:
    t, y, _ = random_levels(seed, 150)
    r = roc_analysis(level_data(t, y), AnalysisSettings(bootstrap_replicates=0))
    j, cut, sens, spec = brute_youden(t, y)
    row = r.row("youden_cutoff")
    assert row["estimate"] == pytest.approx(cut)
    assert row["youden_j"] == pytest.approx(j, rel=1e-12)
    assert row["sens"] == pytest.approx(sens, rel=1e-12)
    assert row["spec"] == pytest.approx(spec, rel=1e-12)


def test_youden_tie_goes_to_the_highest_cutoff() -> None:
    r = roc_analysis(
        level_data([-3.0, -2.0, -2.0, -1.0], [True, False, True, False]),
        AnalysisSettings(bootstrap_replicates=0),
    )
    # T ≤ −3: sens ½, spec 1 → J ½;  T ≤ −2: sens 1, spec ½ → J ½ (tie) → −2
    assert r.value("youden_cutoff") == -2.0
    assert r.value("youden_cutoff", "youden_j") == pytest.approx(0.5)


def test_roc_curve_matches_sklearn() -> None:
    from sklearn.metrics import roc_curve

    t, y, _ = random_levels(11, 250)
    fpr, tpr, thr = roc_curve_points(t, y)
    s_fpr, s_tpr, s_thr = roc_curve(y, -t, drop_intermediate=False)
    np.testing.assert_allclose(fpr, s_fpr, rtol=1e-12)
    np.testing.assert_allclose(tpr, s_tpr, rtol=1e-12)
    assert thr[0] is None
    np.testing.assert_allclose(thr[1:], -s_thr[1:], rtol=1e-12)


# ---------------------------------------------------------------------------
# bootstrap
# ---------------------------------------------------------------------------


def naive_bootstrap(t, y, pid, replicates, seed):
    """One replicate at a time: expand the resampled patients' levels, use sklearn."""
    from sklearn.metrics import roc_auc_score

    codes, uniq = pd.factorize(pd.Series(pid), sort=True)
    n_pat = uniq.size
    aucs, cuts = [], []
    gen = None
    for r in range(replicates):
        b, i = divmod(r, BOOTSTRAP_BLOCK)
        if i == 0:
            gen = block_rng(seed, b)
        draw = gen.integers(0, n_pat, size=n_pat)
        idx = np.concatenate([np.flatnonzero(codes == p) for p in draw])
        tt, yy = t[idx], y[idx]
        if yy.all() or not yy.any():
            aucs.append(np.nan)
            cuts.append(np.nan)
            continue
        aucs.append(roc_auc_score(yy, -tt))
        j, cut, _, _ = brute_youden(tt, yy)
        cuts.append(cut if j > 1e-12 else np.nan)
    return np.array(aucs), np.array(cuts)


def test_bootstrap_matches_naive_resampling() -> None:
    t, y, pid = random_levels(4, 60, patients=25)
    auc, cut = bootstrap_roc(t, y, pid, 150, seed=99)
    n_auc, n_cut = naive_bootstrap(t, y, pid, 150, seed=99)
    np.testing.assert_allclose(auc, n_auc, rtol=1e-12, equal_nan=True)
    np.testing.assert_allclose(cut, n_cut, rtol=1e-12, equal_nan=True)


@pytest.mark.parametrize("threshold", [0, 10**9])
def test_bootstrap_routes_match_naive_resampling(monkeypatch, threshold) -> None:
    """The per-replicate sparse route (many patients) and the batched route give
    the naive resampling's arrays, so switching between them changes nothing."""
    import refracture.analysis.roc as roc

    monkeypatch.setattr(roc, "BOOTSTRAP_PER_REPLICATE_PATIENTS", threshold)
    t, y, pid = random_levels(7, 90, patients=30)
    auc, cut = roc.bootstrap_roc(t, y, pid, 130, seed=3)
    n_auc, n_cut = naive_bootstrap(t, y, pid, 130, seed=3)
    np.testing.assert_allclose(auc, n_auc, rtol=1e-12, equal_nan=True)
    np.testing.assert_allclose(cut, n_cut, rtol=1e-12, equal_nan=True)


def test_bootstrap_chunks_are_identical_to_one_run() -> None:
    t, y, pid = random_levels(8, 120, patients=40)
    full = bootstrap_roc(t, y, pid, 500, seed=5)
    for bounds in ([0, 500], [0, 1, 64, 65, 200, 500], [0, 63, 64, 127, 129, 499, 500]):
        parts = [
            bootstrap_roc(t, y, pid, 500, seed=5, chunk=(lo, hi))
            for lo, hi in itertools.pairwise(bounds)
        ]
        for k in (0, 1):
            np.testing.assert_array_equal(np.concatenate([p[k] for p in parts]), full[k])
    part = bootstrap_roc(t, y, pid, 500, seed=5, chunk=range(100, 300))
    np.testing.assert_array_equal(part[0], full[0][100:300])
    other = bootstrap_roc(t, y, pid, 500, seed=6)
    assert not np.array_equal(other[0], full[0])
    with pytest.raises(ValueError, match="chunk"):
        bootstrap_roc(t, y, pid, 500, seed=5, chunk=(400, 600))


def test_bootstrap_is_deterministic_and_fast(example_data) -> None:
    ls = example_data.level_set
    codes, _ = pd.factorize(ls["patient_id"])
    args = (ls["tscore"].to_numpy(), ls["subsequent_fracture"].to_numpy(), codes)
    s = AnalysisSettings()
    bootstrap_roc(*args, 10, s.seed)  # warm up imports
    start = time.perf_counter()
    auc, cut = bootstrap_roc(*args, s.bootstrap_replicates, s.seed)
    elapsed = time.perf_counter() - start
    print(f"\nbootstrap, {s.bootstrap_replicates} replicates, example cohort: {elapsed:.3f} s")
    assert elapsed < 2.0
    auc2, cut2 = bootstrap_roc(*args, s.bootstrap_replicates, s.seed)
    np.testing.assert_array_equal(auc, auc2)
    np.testing.assert_array_equal(cut, cut2)


# ---------------------------------------------------------------------------
# edge cases
# ---------------------------------------------------------------------------


def _json_clean(result) -> None:
    json.dumps(result.to_dict(), allow_nan=False)


@pytest.mark.parametrize(
    ("tscore", "fractured", "phrase"),
    [
        ([-3.0, -2.0, -1.0], [False] * 3, "no level had"),
        ([-3.0, -2.0, -1.0], [True] * 3, "every level had"),
        ([], [], "empty"),
    ],
)
def test_one_class_absent(tscore, fractured, phrase) -> None:
    r = roc_analysis(level_data(tscore, fractured))
    assert r.table[["estimate", "ci_low", "ci_high", "p"]].isna().all().all()
    assert any(phrase in n for n in r.notes), r.notes
    assert r.meta["roc_fpr"] == []
    _json_clean(r)


def test_constant_tscore() -> None:
    r = roc_analysis(
        level_data([-2.5] * 6, [True, False, True, False, False, False]),
        AnalysisSettings(bootstrap_replicates=50),
    )
    assert r.value("auc") == 0.5
    assert r.value("auc", "ci_low") is None
    assert r.value("auc", "p") is None
    assert r.value("youden_cutoff") is None
    assert any("constant" in n for n in r.notes)
    assert any("variance is zero" in n for n in r.notes)
    _json_clean(r)


def test_complete_separation_and_single_positive() -> None:
    r = roc_analysis(
        level_data([-4.0, -3.5, -1.0, -0.5, 0.0], [True, True, False, False, False]),
        AnalysisSettings(bootstrap_replicates=100),
    )
    assert r.value("auc") == 1.0
    assert r.value("auc", "se") is None
    assert r.value("youden_cutoff") == -3.5
    _json_clean(r)
    r = roc_analysis(level_data([-4.0, -1.0, -0.5], [True, False, False]))
    assert r.value("auc") == 1.0
    assert any("at least two" in n for n in r.notes)
    assert any("bootstrap replicates" in n for n in r.notes)  # some lack the one positive
    _json_clean(r)


def test_float_artefacts_do_not_split_ties() -> None:
    # −5.8 + 3.6 is decimal −2.2: it ties with −2.2 (AUC counts the pair as ½)
    r = roc_analysis(
        level_data([-5.8 + 3.6, -2.2], [True, False]), AnalysisSettings(bootstrap_replicates=0)
    )
    assert r.value("auc") == 0.5


def test_simulated_cohorts(tmp_path) -> None:
    for patients in (5, 200):
        out = tmp_path / str(patients)
        out.mkdir()
        simulate(seed=2, patients=patients).write(out)
        c = load_cohort(out)
        r = roc_analysis(derive(c.patients, c.levels), AnalysisSettings(bootstrap_replicates=200))
        assert list(r.table["term"]) == ["auc", "youden_cutoff"]
        _json_clean(r)


def test_print_example_headline(example_data) -> None:
    r = roc_analysis(example_data)
    a, c = r.row("auc"), r.row("youden_cutoff")
    assert a["n"] == len(example_data.level_set)
    from sklearn.metrics import roc_auc_score

    ls = example_data.level_set
    assert r.value("auc") == pytest.approx(
        roc_auc_score(ls["subsequent_fracture"], -ls["tscore"]), rel=1e-12
    )
    print(
        f"\nROC (example cohort, {a['n']} levels, {a['n_events']} fractured, "
        f"{a['n_patients']} patients): AUC {a['estimate']:.3f} "
        f"(DeLong 95% CI {a['ci_low']:.3f}–{a['ci_high']:.3f}, P={a['p']:.4f}; "
        f"bootstrap {a['ci_boot_low']:.3f}–{a['ci_boot_high']:.3f}); Youden cutoff "
        f"T ≤ {c['cutoff_text']} (bootstrap 95% CI {c['ci_low']:.1f} to {c['ci_high']:.1f}), "
        f"sens {c['sens']:.3f}, spec {c['spec']:.3f}, J {c['youden_j']:.3f}"
    )
