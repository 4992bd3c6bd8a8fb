"""Patient-level logistic models: univariable, multivariable (ML) and Firth."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
import statsmodels.formula.api as smf
from scipy import optimize, stats
from scipy.special import expit
from sklearn.metrics import roc_auc_score

from refracture.analysis.fit_statistics import c_statistic, hosmer_lemeshow
from refracture.analysis.logistic import profile_interval
from refracture.analysis.models import firth_model, multivariable_model, univariable_models
from refracture.analysis.result import TIDY_COLUMNS
from refracture.analysis.settings import AnalysisSettings
from refracture.data.derive import DerivedData

MODEL_TERMS = ["age", "height_loss_max", "sex", "procedure", "tscore_min_l1l4"]


def _with_patients(data: DerivedData, patients: pd.DataFrame) -> DerivedData:
    return DerivedData(patients.reset_index(drop=True), data.levels, data.level_set)


def _design(pf: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """The multivariable design built independently of the module: constant, age,
    height loss, male, kyphoplasty, lowest L1–L4 T-score."""
    X = np.column_stack(
        [
            np.ones(len(pf)),
            pf["age"].to_numpy(float),
            pf["height_loss_max"].to_numpy(float),
            (pf["sex"].astype(str) == "M").to_numpy(float),
            (pf["procedure"].astype(str) == "KP").to_numpy(float),
            pf["tscore_min_l1l4"].to_numpy(float),
        ]
    )
    return X, pf["refracture"].to_numpy(float)


# --------------------------------------------------------------------------- brute force


def _loglik(beta, X, y):
    eta = X @ beta
    return float(np.sum(y * eta - np.logaddexp(0, eta)))


def _profile_max(X, y, j, b, start):
    """max over the other coefficients of the log-likelihood with β_j = b (BFGS)."""
    rest = [k for k in range(X.shape[1]) if k != j]
    Xr, off = X[:, rest], b * X[:, j]

    def nll(g):
        eta = off + Xr @ g
        return -float(np.sum(y * eta - np.logaddexp(0, eta)))

    def grad(g):
        return -(Xr.T @ (y - expit(off + Xr @ g)))

    res = optimize.minimize(nll, start[rest], jac=grad, method="BFGS", options={"gtol": 1e-10})
    return -res.fun


def _brute_force_bounds(X, y, beta_hat, se, j, alpha=0.05):
    """Profile-likelihood bounds by a grid search of the profile deviance and bisection."""
    crit = stats.chi2.ppf(1 - alpha, 1)
    ll_hat = _loglik(beta_hat, X, y)

    def excess(b):
        return 2 * (ll_hat - _profile_max(X, y, j, b, beta_hat)) - crit

    out = []
    for sign in (-1, 1):
        grid = beta_hat[j] + sign * se[j] * np.linspace(0, 8, 33)
        vals = [excess(b) for b in grid]
        k = next(i for i, v in enumerate(vals) if v > 0)
        lo, hi = grid[k - 1], grid[k]  # excess(lo) < 0 < excess(hi)
        for _ in range(45):
            mid = 0.5 * (lo + hi)
            if excess(mid) < 0:
                lo = mid
            else:
                hi = mid
        out.append(0.5 * (lo + hi))
    return out


def _firth_by_hand(X, y, fixed: dict[int, float] | None = None, tol=1e-12):
    """Firth's logistic regression by Newton–Raphson on the modified score
    U*(β) = X'(y − p + h(½ − p)), h the diagonal of the hat matrix W½X(X'WX)⁻¹X'W½;
    coefficients in ``fixed`` are held at their values (the penalty keeps the full X,
    as in logistf's penalised likelihood-ratio test). Returns (β, penalised loglik)."""
    fixed = fixed or {}
    free = [k for k in range(X.shape[1]) if k not in fixed]
    beta = np.zeros(X.shape[1])
    for k, v in fixed.items():
        beta[k] = v

    def pen_ll(b):
        p = expit(X @ b)
        info = (X * (p * (1 - p))[:, None]).T @ X
        return _loglik(b, X, y) + 0.5 * np.linalg.slogdet(info)[1]

    for _ in range(1000):
        p = expit(X @ beta)
        w = p * (1 - p)
        info = (X * w[:, None]).T @ X
        inv = np.linalg.inv(info)
        h = w * np.einsum("ij,jk,ik->i", X, inv, X)
        score = X.T @ (y - p + h * (0.5 - p))
        step = np.zeros_like(beta)
        step[free] = np.linalg.solve(info[np.ix_(free, free)], score[free])
        t, base = 1.0, pen_ll(beta)
        while pen_ll(beta + t * step) < base - 1e-13 and t > 1e-8:
            t /= 2
        beta = beta + t * step
        if np.max(np.abs(t * step)) < tol:
            break
    return beta, pen_ll(beta)


# --------------------------------------------------------------------------- example cohort


def test_published_multivariable_p_values(example_data, published):
    r = multivariable_model(example_data)
    assert list(r.table.columns[: len(TIDY_COLUMNS)]) == list(TIDY_COLUMNS)
    assert list(r.table["term"]) == MODEL_TERMS
    sig = published["multivariable"]["significant"]
    assert r.value("age", "p") == pytest.approx(sig["age"]["p"], abs=0.005)
    assert r.value("height_loss_max", "p") == pytest.approx(
        sig["anterior_vertebral_height_loss_preop"]["p"], abs=0.005
    )
    for term in ("sex", "procedure", "tscore_min_l1l4"):
        assert r.value(term, "p") > 0.05
    assert r.meta["n"] == 93
    assert r.meta["events"] == 16
    assert r.meta["n_excluded_missing"] == 0
    assert r.meta["primary"] == "ml"
    assert r.meta["separation"] is False
    assert r.meta["ci_method"] == "profile likelihood"
    assert r.meta["epv"] == pytest.approx(16 / 5)
    assert any("Events per variable 3.2" in n for n in r.notes)


def test_multivariable_matches_statsmodels_formula(example_data):
    """Same ML fit by another path: the statsmodels formula interface with explicit
    treatment contrasts (reference F, VP)."""
    pf = example_data.patients.assign(
        sex=example_data.patients["sex"].astype(str),
        procedure=example_data.patients["procedure"].astype(str),
        y=example_data.patients["refracture"].astype(float),
    )
    ref = smf.logit(
        "y ~ age + height_loss_max + C(sex, Treatment('F')) + C(procedure, Treatment('VP'))"
        " + tscore_min_l1l4",
        data=pf,
    ).fit(disp=0, method="newton", tol=1e-12)
    names = {
        "age": "age",
        "height_loss_max": "height_loss_max",
        "sex": "C(sex, Treatment('F'))[T.M]",
        "procedure": "C(procedure, Treatment('VP'))[T.KP]",
        "tscore_min_l1l4": "tscore_min_l1l4",
    }
    order = [names[t] for t in MODEL_TERMS]
    r = multivariable_model(example_data)
    t = r.table.set_index("term").loc[MODEL_TERMS]
    assert t["coef"].to_numpy() == pytest.approx(ref.params[order].to_numpy(), rel=1e-6)
    assert t["se"].to_numpy() == pytest.approx(ref.bse[order].to_numpy(), rel=1e-6)
    assert t["p"].to_numpy() == pytest.approx(ref.pvalues[order].to_numpy(), rel=1e-6)
    assert t["estimate"].to_numpy() == pytest.approx(np.exp(ref.params[order].to_numpy()), rel=1e-6)
    wald = np.exp(ref.conf_int().loc[order].to_numpy())
    assert t["wald_ci_low"].to_numpy() == pytest.approx(wald[:, 0], rel=1e-6)
    assert t["wald_ci_high"].to_numpy() == pytest.approx(wald[:, 1], rel=1e-6)
    assert r.meta["intercept"] == pytest.approx(ref.params["Intercept"], rel=1e-6)
    assert r.meta["lr_chi2"] == pytest.approx(ref.llr, rel=1e-6)
    assert r.meta["lr_p"] == pytest.approx(ref.llr_pvalue, rel=1e-6)
    # c-statistic = AUC of the fitted probabilities (scikit-learn)
    assert r.meta["c_statistic"] == pytest.approx(
        roc_auc_score(pf["y"], ref.predict(pf)), rel=1e-12
    )


def test_multivariable_profile_ci_against_brute_force(example_data):
    X, y = _design(example_data.patients)
    r = multivariable_model(example_data)
    t = r.table.set_index("term")
    beta = np.r_[r.meta["intercept"], t["coef"].to_numpy()]
    se = np.r_[r.meta["intercept_se"], t["se"].to_numpy()]
    for j, term in enumerate(MODEL_TERMS, start=1):
        lo, hi = _brute_force_bounds(X, y, beta, se, j)
        assert math.log(t.loc[term, "ci_low"]) == pytest.approx(lo, abs=1e-5)
        assert math.log(t.loc[term, "ci_high"]) == pytest.approx(hi, abs=1e-5)
        # likelihood-ratio P from the same profile at β_j = 0
        d0 = 2 * (_loglik(beta, X, y) - _profile_max(X, y, j, 0.0, beta))
        assert t.loc[term, "p_lr"] == pytest.approx(stats.chi2.sf(d0, 1), rel=1e-5)


def test_profile_interval_small_data_against_brute_force():
    rng = np.random.default_rng(7)
    n = 30
    X = np.column_stack([np.ones(n), rng.normal(size=n), rng.random(n) < 0.4])
    y = (rng.random(n) < expit(-0.5 + 1.2 * X[:, 1] + 0.8 * X[:, 2])).astype(float)
    import statsmodels.api as sm

    fit = sm.Logit(y, X).fit(disp=0, method="newton", tol=1e-12)
    for j in (1, 2):
        lo, hi, _p_lr, ok = profile_interval(
            X, y, np.asarray(fit.params), np.asarray(fit.bse), j, 0.05
        )
        assert ok
        blo, bhi = _brute_force_bounds(X, y, np.asarray(fit.params), np.asarray(fit.bse), j)
        assert (lo, hi) == pytest.approx((blo, bhi), abs=1e-6)
        # 90 % interval is narrower
        lo90, hi90, _, _ = profile_interval(
            X, y, np.asarray(fit.params), np.asarray(fit.bse), j, 0.10
        )
        assert lo < lo90 < fit.params[j] < hi90 < hi


def test_c_statistic_matches_sklearn():
    rng = np.random.default_rng(11)
    y = rng.random(200) < 0.3
    p = np.round(rng.random(200) * 0.5 + 0.3 * y, 1)  # many ties
    assert c_statistic(y, p) == pytest.approx(roc_auc_score(y, p), rel=1e-12)
    assert math.isnan(c_statistic(np.zeros(5, bool), np.linspace(0, 1, 5)))


def test_hosmer_lemeshow_hand_worked():
    """20 distinct fitted probabilities: decile breaks (linear interpolation, position
    19·q) fall between consecutive sorted values 2k and 2k+1, so the ten groups are the
    consecutive pairs; χ² = Σ_g (O−E)²/E + (O−E)²/(n_g−E), df = 8."""
    p = np.linspace(0.02, 0.97, 20)
    y = np.array([0, 0, 0, 1, 0, 0, 1, 0, 0, 1, 1, 0, 0, 1, 1, 1, 0, 1, 1, 1], float)
    perm = np.random.default_rng(2).permutation(20)
    chi2, df, pval, groups = hosmer_lemeshow(y[perm], p[perm])
    expected = 0.0
    for g in range(10):
        o, e = y[2 * g : 2 * g + 2].sum(), p[2 * g : 2 * g + 2].sum()
        expected += (o - e) ** 2 / e + (o - e) ** 2 / (2 - e)
    assert groups == 10
    assert df == 8
    assert chi2 == pytest.approx(expected, rel=1e-12)
    assert pval == pytest.approx(stats.chi2.sf(expected, 8), rel=1e-12)


def test_hosmer_lemeshow_too_few_groups():
    p = np.r_[np.full(10, 0.1), np.full(10, 0.5)]
    y = np.r_[np.zeros(9), 1, np.zeros(5), np.ones(5)]
    chi2, df, pval, groups = hosmer_lemeshow(y, p)
    assert groups == 2
    assert df == 0
    assert math.isnan(chi2)
    assert math.isnan(pval)


def test_multivariable_hl_and_vif(example_data):
    r = multivariable_model(example_data)
    X, _y = _design(example_data.patients)
    assert r.meta["hl_groups"] == 10
    assert r.meta["hl_df"] == 8
    assert 0 <= r.meta["hl_p"] <= 1
    assert "hoslem" in r.meta["hl_grouping"]
    # VIF_j = 1 / (1 − R²_j), R²_j of the OLS of covariate j on the others (with constant)
    for j, term in enumerate(MODEL_TERMS, start=1):
        others = np.delete(X, j, axis=1)
        coef, *_ = np.linalg.lstsq(others, X[:, j], rcond=None)
        resid = X[:, j] - others @ coef
        r2 = 1 - resid @ resid / ((X[:, j] - X[:, j].mean()) ** 2).sum()
        assert r.value(term, "vif") == pytest.approx(1 / (1 - r2), rel=1e-9)


def test_univariable_binary_covariate_is_the_cross_product_ratio(example_data):
    """One binary covariate: the ML odds ratio is ad/bc and the Wald SE √(Σ 1/cell)."""
    r = univariable_models(example_data)
    assert list(r.table["term"]) == list(AnalysisSettings().candidate_covariates)
    pf = example_data.patients
    for term, one in (("sex", "M"), ("procedure", "KP"), ("steroid_use", True)):
        x = pf[term].astype(object) == one
        yv = pf["refracture"]
        a, b = int((x & yv).sum()), int((x & ~yv).sum())
        c, d = int((~x & yv).sum()), int((~x & ~yv).sum())
        row = r.row(term)
        se = math.sqrt(1 / a + 1 / b + 1 / c + 1 / d)
        assert row["estimate"] == pytest.approx(a * d / (b * c), rel=1e-6)
        assert row["se"] == pytest.approx(se, rel=1e-6)
        assert row["p"] == pytest.approx(2 * stats.norm.sf(abs(math.log(a * d / (b * c))) / se))
        assert row["events"] == a + c
        assert row["n"] == a + b + c + d
        assert row["method"] == "ml"
    assert r.row("sex")["contrast"] == "M vs F"
    assert r.row("procedure")["contrast"] == "KP vs VP"
    bmi = r.row("bmi")
    assert bmi["n"] == int(pf["bmi"].notna().sum())
    assert bmi["n_excluded_missing"] == int(pf["bmi"].isna().sum())


def test_multilevel_categorical_and_settings(example_data):
    """A categorical with three levels gets one indicator per non-reference category."""
    pf = example_data.patients
    group = pd.Series(np.array(["a", "b", "c"])[np.arange(len(pf)) % 3], index=pf.index)
    data = _with_patients(example_data, pf.assign(group=group))
    settings = AnalysisSettings(candidate_covariates=("group",), model_covariates=("group", "age"))
    uni = univariable_models(data, settings)
    assert list(uni.table["term"]) == ["group[b]", "group[c]"]
    assert list(uni.table["contrast"]) == ["b vs a", "c vs a"]
    mv = multivariable_model(data, settings)
    assert list(mv.table["term"]) == ["group[b]", "group[c]", "age"]
    assert mv.meta["epv"] == pytest.approx(16 / 3)
    # OR of b vs a from the 2×3 table (univariable model is saturated)
    y = pf["refracture"]
    odds = {g: (y & (group == g)).sum() / (~y & (group == g)).sum() for g in "abc"}
    assert uni.value("group[b]") == pytest.approx(odds["b"] / odds["a"], rel=1e-6)


# --------------------------------------------------------------------------- Firth


def test_firth_matches_hand_newton_raphson(example_data):
    X, y = _design(example_data.patients)
    beta, pen = _firth_by_hand(X, y)
    r = firth_model(example_data)
    t = r.table.set_index("term")
    assert t["coef"].to_numpy() == pytest.approx(beta[1:], rel=1e-6)
    assert r.meta["intercept"] == pytest.approx(beta[0], rel=1e-6)
    assert t["estimate"].to_numpy() == pytest.approx(np.exp(beta[1:]), rel=1e-6)
    # penalised likelihood-ratio test of one term, by hand (constrained Firth fit)
    for j in (1, 3):
        _, pen0 = _firth_by_hand(X, y, fixed={j: 0.0})
        p = stats.chi2.sf(2 * (pen - pen0), 1)
        assert t["p"].iloc[j - 1] == pytest.approx(p, rel=1e-4)
    # ML alongside
    ml = multivariable_model(example_data).table.set_index("term")
    assert t["ml_estimate"].to_numpy() == pytest.approx(ml["estimate"].to_numpy(), rel=1e-12)
    assert r.meta["primary"] == "ml"
    # Firth shrinks towards OR = 1
    assert (np.abs(t["coef"]) < np.abs(ml["coef"])).all()


def test_separation_makes_firth_primary(example_data):
    pf = example_data.patients
    # no man has a refracture: sex is quasi-completely separated
    sep = _with_patients(example_data, pf.assign(refracture=pf["refracture"] & (pf["sex"] == "F")))
    ml = multivariable_model(sep)
    fi = firth_model(sep)
    assert ml.meta["separation"] is True
    assert ml.meta["primary"] == "firth"
    assert fi.meta["primary"] == "firth"
    assert ml.table["estimate"].isna().all()
    assert any("Separation" in n for n in ml.notes)
    assert np.isfinite(fi.table["estimate"]).all()
    assert fi.value("sex") < 1
    X, y = _design(sep.patients)
    beta, _ = _firth_by_hand(X, y)
    assert fi.table["coef"].to_numpy() == pytest.approx(beta[1:], rel=1e-6)
    # univariable: the separated covariate is estimated by Firth
    uni = univariable_models(sep)
    assert uni.row("sex")["method"] == "firth"
    assert uni.row("age")["method"] == "ml"


def test_complete_separation_single_covariate(example_data):
    pf = example_data.patients
    sep = _with_patients(example_data, pf.assign(refracture=pf["age"] > 85))
    uni = univariable_models(sep)
    row = uni.row("age")
    assert row["method"] == "firth"
    assert math.isfinite(row["estimate"])
    assert row["estimate"] > 1
    assert any("separation" in n for n in uni.notes)
    assert multivariable_model(sep).meta["primary"] == "firth"


# --------------------------------------------------------------------------- edge cases


def _edge(name: str, pf: pd.DataFrame) -> pd.DataFrame:
    if name == "no events":
        return pf.assign(refracture=False)
    if name == "all events":
        return pf.assign(refracture=True)
    if name == "constant covariate":
        return pf.assign(sex=pd.Categorical(["F"] * len(pf), categories=["F", "M"]))
    if name == "missing covariates":
        return pf.assign(height_loss_max=pf["height_loss_max"].where(pf.index % 9 != 0))
    if name == "five patients":
        return pd.concat([pf.loc[pf["refracture"]].iloc[:2], pf.loc[~pf["refracture"]].iloc[:3]])
    if name == "absent column":
        return pf.drop(columns=["height_loss_max"])
    if name == "all missing":
        return pf.assign(tscore_min_l1l4=np.nan)
    raise AssertionError(name)


EDGES = [
    "no events",
    "all events",
    "constant covariate",
    "missing covariates",
    "five patients",
    "absent column",
    "all missing",
]


@pytest.mark.parametrize("name", EDGES)
@pytest.mark.parametrize("analysis", [univariable_models, multivariable_model, firth_model])
def test_edge_cases_do_not_crash(example_data, name, analysis):
    data = _with_patients(example_data, _edge(name, example_data.patients))
    r = analysis(data)
    assert r.notes
    r.to_dict()
    t = r.table
    if name in ("no events", "all events") or (name == "five patients" and r.name != "univariable"):
        assert t["estimate"].isna().all()
    if name == "constant covariate":
        assert np.isnan(t.loc[t["term"] == "sex", "estimate"]).all()
        assert any("constant" in n for n in r.notes)
        if r.name != "univariable":
            assert np.isfinite(t.loc[t["term"] == "age", "estimate"]).all()
    if name == "missing covariates" and r.name != "univariable":
        excluded = int((data.patients.index % 9 == 0).sum())
        assert r.meta["n"] == 93 - excluded
        assert r.meta["n_excluded_missing"] == excluded
        assert (t["n"] == 93 - excluded).all()
        assert any("Complete-case" in n for n in r.notes)
    if name == "absent column":
        assert any("height_loss_max" in n for n in r.notes)


def test_headline(example_data):
    mv = multivariable_model(example_data)
    fi = firth_model(example_data)
    uni = univariable_models(example_data)
    print()
    print("univariable:")
    for _, row in uni.table.iterrows():
        print(
            f"  {row['term']:24s} OR {row['estimate']:.3f} ({row['ci_low']:.3f}-"
            f"{row['ci_high']:.3f}) P={row['p']:.3f} n={row['n']} events={row['events']}"
        )
    print(f"multivariable (n={mv.meta['n']}, events={mv.meta['events']}, EPV={mv.meta['epv']}):")
    for _, row in mv.table.iterrows():
        print(
            f"  {row['term']:16s} OR {row['estimate']:.3f} ({row['ci_low']:.3f}-"
            f"{row['ci_high']:.3f}) P={row['p']:.3f} VIF={row['vif']:.2f}"
        )
    print(
        f"  c={mv.meta['c_statistic']:.3f} HL chi2={mv.meta['hl_chi2']:.2f} "
        f"df={mv.meta['hl_df']} P={mv.meta['hl_p']:.3f}"
    )
    print("firth:")
    for _, row in fi.table.iterrows():
        print(
            f"  {row['term']:16s} OR {row['estimate']:.3f} ({row['ci_low']:.3f}-"
            f"{row['ci_high']:.3f}) P={row['p']:.3f}"
        )
