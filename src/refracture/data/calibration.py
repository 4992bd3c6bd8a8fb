"""Calibration of the example cohort to the published abstract.

:data:`PUBLISHED` holds the abstract's figures. The counts and moments are hit by
:func:`refracture.data.simulate.simulate` as it draws; the inferential figures are
reached here, on a drawn cohort's :class:`CalibrationState`, by :func:`calibrate_state`:
the level T-scores are designed first (stage 1: the fractured levels drawn in bulk until
their mean and t-based CI round to the published ones, the nonfractured ones annealed
until the first significant Fisher cutoff and the odds-ratio peak are right), then put in
place of the drawn ones rank for rank (stage 2), then T-scores, ages and height losses
are nudged by a seeded annealing search until the multivariable model's P values match
(stage 3). :func:`choose_calibrated_tscored` picks the designed numbers of T-scored
levels beforehand. Every step draws from the simulation's generator, in a fixed order,
so the shipped example is reproduced exactly.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import numpy as np

from refracture.data.levels import LEVEL_INDEX

__all__ = [
    "DXA",
    "N_FRACTURED_T",
    "PUBLISHED",
    "CalibrationState",
    "Published",
    "calibrate_state",
    "choose_calibrated_tscored",
]

#: Positions of the DXA levels L1–L4 in the column of levels.
L1, L4 = LEVEL_INDEX["L1"], LEVEL_INDEX["L4"]
DXA = np.arange(L1, L4 + 1)


@dataclass(frozen=True)
class Published:
    """Figures of the published abstract (``shared/published-abstract.yaml``)."""

    patients: int = 93
    vp_patients: int = 58
    vp_levels: int = 68
    kp_patients: int = 35
    kp_levels: int = 44
    refracture: int = 16
    adjacent: int = 7
    age_mean: float = 76.8
    age_min: int = 47
    age_max: int = 99
    followup_mean: float = 25.1
    followup_min: int = 12
    followup_max: int = 96
    months_mean: float = 20.5
    months_min: int = 2
    months_max: int = 90
    fractured_mean: float = -2.860
    fractured_ci: tuple[float, float] = (-3.268, -2.452)
    nonfractured_mean: float = -2.180
    nonfractured_ci: tuple[float, float] = (-2.373, -1.986)
    first_cutoff: float = -2.2
    p_first_cutoff: float = 0.047
    or_peak_cutoff: float = -2.6
    p_age: float = 0.049
    p_height_loss: float = 0.017


PUBLISHED = Published()

# Design of the calibrated example: fractured and nonfractured levels with a T-score.
N_FRACTURED_T = 10
_N_NONFRACTURED_T = 127
_CUTOFFS_TENTHS = np.arange(-15, -36, -1)  # -1.5 … -3.5
_T_STEPS = np.array([-6, -4, -3, -2, -1, -1, 1, 1, 2, 3, 4, 6])


def choose_calibrated_tscored(
    rng: np.random.Generator, treated: np.ndarray, fractured: np.ndarray, frac_dxa: np.ndarray
) -> np.ndarray:
    """Exactly the designed numbers of T-scored fractured and nonfractured levels.

    Every patient keeps at least one valid lumbar level, so the lowest L1–L4
    T-score exists for all and the patient-level model uses every patient.
    """
    n = treated.shape[0]
    has_t = np.zeros_like(treated)
    fr, fc = np.nonzero(frac_dxa)
    pick = rng.choice(fr.size, size=N_FRACTURED_T, replace=False)
    has_t[fr[pick], fc[pick]] = True
    cand = np.zeros_like(treated)
    cand[:, DXA] = True
    cand &= ~treated & ~fractured
    # one level for each patient without a T-score yet
    need = ~has_t.any(axis=1)
    for i in np.flatnonzero(need):
        cols = np.flatnonzero(cand[i])
        has_t[i, rng.choice(cols)] = True
    rest_r, rest_c = np.nonzero(cand & ~has_t)
    extra = _N_NONFRACTURED_T - int((has_t & ~fractured).sum())
    pick = rng.choice(rest_r.size, size=extra, replace=False)
    has_t[rest_r[pick], rest_c[pick]] = True
    assert has_t.shape[0] == n
    return has_t


# --- calibration ------------------------------------------------------------------------


@dataclass
class CalibrationState:
    age: np.ndarray
    female: np.ndarray
    kp: np.ndarray
    treated: np.ndarray
    height: np.ndarray
    fractured: np.ndarray
    has_t: np.ndarray
    tscore: np.ndarray  # tenths
    refr: np.ndarray


@functools.cache
def _t975(df: int) -> float:
    from scipy import stats

    return float(stats.t.ppf(0.975, df))


def _t_ci(values: np.ndarray) -> tuple[float, float, float]:
    m = values.mean()
    h = _t975(values.size - 1) * values.std(ddof=1) / math.sqrt(values.size)
    return float(m), float(m - h), float(m + h)


def _miss(x: float, target: float, digits: int = 3) -> float:
    """Distance of ``x`` from the interval that rounds to ``target`` (0 inside)."""
    half = 0.5 * 10.0**-digits * 0.98
    return max(0.0, abs(x - target) - half)


def _fisher_p(a: np.ndarray, b: np.ndarray, c: np.ndarray, d: np.ndarray) -> np.ndarray:
    """Two-sided Fisher exact P for many 2×2 tables [[a, b], [c, d]] (SciPy's rule).

    The hypergeometric probabilities come from a log-factorial table, so all
    tables are done at once; :mod:`scipy.stats.fisher_exact` agrees (tested).
    """
    from scipy.special import gammaln

    r1, c1, tot = a + b, a + c, a + b + c + d
    top = int(tot.max())
    lf = gammaln(np.arange(top + 2) + 1.0)
    x = np.arange(top + 1)[None, :]
    lo = np.maximum(0, r1 + c1 - tot)[:, None]
    hi = np.minimum(r1, c1)[:, None]
    valid = (x >= lo) & (x <= hi)
    xs = np.where(valid, x, lo)
    r1, c1, tot = r1[:, None], c1[:, None], tot[:, None]

    def logpmf(k):
        return (
            lf[r1]
            + lf[tot - r1]
            + lf[c1]
            + lf[tot - c1]
            - lf[tot]
            - lf[k]
            - lf[r1 - k]
            - lf[c1 - k]
            - lf[tot - r1 - c1 + k]
        )

    pmf = np.where(valid, np.exp(logpmf(xs)), 0.0)
    p_obs = np.exp(logpmf(a[:, None]))
    return np.minimum(1.0, np.where(pmf <= p_obs * (1 + 1e-7), pmf, 0.0).sum(axis=1))


def _logit_p(
    x: np.ndarray, y: np.ndarray, beta0: np.ndarray | None
) -> tuple[np.ndarray, np.ndarray]:
    """Maximum-likelihood logistic fit by Newton's method; Wald two-sided P values."""
    from scipy.special import expit, ndtr

    beta = np.zeros(x.shape[1]) if beta0 is None else beta0.copy()
    for _ in range(50):
        p = expit(x @ beta)
        w = p * (1 - p)
        hess = x.T @ (x * w[:, None])
        step = np.linalg.solve(hess, x.T @ (y - p))
        beta += step
        if np.max(np.abs(step)) < 1e-10:
            break
    p = expit(x @ beta)
    cov = np.linalg.inv(x.T @ (x * (p * (1 - p))[:, None]))
    z = beta / np.sqrt(np.diag(cov))
    return 2 * ndtr(-np.abs(z)), beta


def _level_targets(ft: np.ndarray, nt: np.ndarray) -> dict[str, float]:
    """Penalties of the level-specific targets for T-scores ``ft``, ``nt`` (tenths)."""
    pub = PUBLISHED
    parts: dict[str, float] = {}
    m, lo, hi = _t_ci(ft / 10.0)
    parts["fractured_ci"] = 200 * (
        _miss(m, pub.fractured_mean)
        + _miss(lo, pub.fractured_ci[0])
        + _miss(hi, pub.fractured_ci[1])
    )
    m, lo, hi = _t_ci(nt / 10.0)
    parts["nonfractured_ci"] = 200 * (
        _miss(m, pub.nonfractured_mean)
        + _miss(lo, pub.nonfractured_ci[0])
        + _miss(hi, pub.nonfractured_ci[1])
    )
    # thresholds: exact integer comparisons in tenths
    a = (ft[None, :] <= _CUTOFFS_TENTHS[:, None]).sum(1)
    b = (nt[None, :] <= _CUTOFFS_TENTHS[:, None]).sum(1)
    c, d = ft.size - a, nt.size - b
    p = _fisher_p(a, b, c, d)
    i22, i26 = 7, 11  # positions of -2.2 and -2.6 in the grid
    parts["p_first"] = 100 * max(0.0, abs(p[i22] - pub.p_first_cutoff) - 0.0015)
    parts["p_above"] = 100 * float(np.clip(0.056 - p[:i22], 0, None).sum())
    zero = (a == 0) | (b == 0) | (c == 0) | (d == 0)
    h = np.where(zero, 0.5, 0.0)
    odds = ((a + h) * (d + h)) / ((b + h) * (c + h))
    rise = odds[i22 + 1 : i26 + 1] - odds[i22:i26] * 1.02
    parts["or_rise"] = float(np.clip(-rise, 0, None).sum())
    parts["or_plateau"] = float(np.clip(odds[i26 + 1 :] - odds[i26] * 0.97, 0, None).sum())
    return parts


def _anneal(objective, propose, rng: np.random.Generator, max_iter: int, what: str) -> None:
    """Seeded simulated annealing: ``propose()`` edits in place and returns an undo."""
    cur = sum(objective().values())
    temp = 1.0
    for _ in range(max_iter):
        if cur == 0.0:
            return
        undo = propose()
        if undo is None:
            continue
        new = sum(objective().values())
        if new <= cur or rng.random() < math.exp(-(new - cur) / temp):
            cur = new
        else:
            undo()
        temp = max(temp * 0.9995, 1e-3)
    if cur != 0.0:
        detail = {k: round(v, 4) for k, v in objective().items() if v}
        raise RuntimeError(f"calibration of {what} did not converge: {detail}")


def _design_fractured_values(rng: np.random.Generator, k: int) -> np.ndarray:
    """T-scores (tenths) of the fractured levels: the published mean and t-based CI.

    Drawn in bulk and the first set that rounds to the published figures is kept.
    One level lies above the whole cutoff grid (> −1.5) and the others at or below
    −2.6, at least one of them exactly −2.6: with the nonfractured levels this is
    what lets −2.2 be the first significant cutoff and −2.6 the odds-ratio peak.
    """
    pub = PUBLISHED
    from scipy import stats

    tq = stats.t.ppf(0.975, k - 1)
    for _ in range(100):
        draws = np.rint(rng.normal(-30, 3.5, (50_000, k))).astype(np.int64)
        draws[:, 0] = rng.integers(-14, -9, draws.shape[0])
        draws[:, 1] = -26
        draws[:, 2:] = np.clip(draws[:, 2:], -45, -26)
        x = draws / 10.0
        m = x.mean(1)
        h = tq * x.std(1, ddof=1) / math.sqrt(k)
        ok = (
            (np.round(m, 3) == pub.fractured_mean)
            & (np.round(m - h, 3) == pub.fractured_ci[0])
            & (np.round(m + h, 3) == pub.fractured_ci[1])
        )
        if ok.any():
            return np.sort(draws[np.flatnonzero(ok)[0]])
    raise RuntimeError("no fractured-level T-scores match the published CI")


def _design_level_values(rng: np.random.Generator, ft: np.ndarray, nt: np.ndarray) -> None:
    """Stage 1: the multisets of T-scores (tenths) that meet the level targets."""
    ft[:] = _design_fractured_values(rng, ft.size)

    def propose():
        i = rng.integers(nt.size)
        old = nt[i]
        new = old + rng.choice(_T_STEPS)
        if not -45 <= new <= 20:
            return None
        nt[i] = new

        def undo():
            nt[i] = old

        return undo

    _anneal(lambda: _level_targets(ft, nt), propose, rng, 200_000, "the level T-scores")


def _rank_map(values: np.ndarray, draws: np.ndarray) -> np.ndarray:
    """Put ``values`` in the order of ``draws`` (keeps each cell's rank)."""
    out = np.empty_like(values)
    out[np.argsort(draws, kind="stable")] = np.sort(values, kind="stable")
    return out


class _PatientModel:
    """Penalties of the patient-level model targets (multivariable logistic P values)."""

    def __init__(self, state: CalibrationState) -> None:
        self.s = state
        self.beta: np.ndarray | None = None
        dxa = np.zeros_like(state.has_t)
        dxa[:, DXA] = True
        self.dxa_t = state.has_t & dxa

    def __call__(self) -> dict[str, float]:
        pub = PUBLISHED
        x, y = self.design()
        pv, beta = _logit_p(x, y, self.beta)
        if np.all(np.isfinite(beta)):
            self.beta = beta
        p_age, p_hl, p_sex, p_proc, p_t = pv[1:]
        return {
            "p_age": 300 * max(0.0, abs(p_age - pub.p_age) - 0.0015),
            "p_hl": 300 * max(0.0, abs(p_hl - pub.p_height_loss) - 0.0015),
            "p_others": 10 * sum(max(0.0, 0.12 - q) for q in (p_sex, p_proc, p_t)),
        }

    def design(self) -> tuple[np.ndarray, np.ndarray]:
        s = self.s
        hl = np.nanmax(np.where(s.treated, s.height, -np.inf), axis=1)
        t = np.where(self.dxa_t, s.tscore / 10.0, np.inf).min(axis=1)
        x = np.column_stack([np.ones(s.age.size), s.age, hl, ~s.female, s.kp, t]).astype(float)
        return x, s.refr.astype(float)


def calibrate_state(s: CalibrationState, rng: np.random.Generator) -> None:
    """Reproduce the abstract's inferential figures (see the module docstring)."""
    fmask = s.has_t & s.fractured
    nmask = s.has_t & ~s.fractured
    ft, nt = s.tscore[fmask].copy(), s.tscore[nmask].copy()
    _design_level_values(rng, ft, nt)
    # Stage 2: the designed values replace the drawn ones rank for rank, so each
    # patient keeps their relative bone density (and its link with age).
    s.tscore[fmask] = _rank_map(ft, s.tscore[fmask])
    s.tscore[nmask] = _rank_map(nt, s.tscore[nmask])
    # Stage 3: the patient-level model. Moves keep every level target: T-scores are
    # swapped between two levels of the same set, ages move by a year in pairs
    # (mean, minimum and maximum kept), height losses move by a point or three.
    cells = (np.argwhere(fmask), np.argwhere(nmask))
    h_cells = np.argwhere(s.treated)
    age_lo, age_hi = int(s.age.min()), int(s.age.max())
    movable = np.flatnonzero((s.age > age_lo) & (s.age < age_hi))

    def swap(arr, i, j):
        arr[i], arr[j] = arr[j], arr[i]

    def propose():
        kind = rng.integers(3)
        if kind == 0:
            pool = cells[int(rng.random() < 0.85)]
            (i1, j1), (i2, j2) = pool[rng.choice(len(pool), 2, replace=False)]
            swap(s.tscore, (i1, j1), (i2, j2))
            return lambda: swap(s.tscore, (i1, j1), (i2, j2))
        if kind == 1:
            i, j = rng.choice(movable, 2, replace=False)
            if not (s.age[i] + 1 < age_hi and s.age[j] - 1 > age_lo):
                return None
            s.age[i] += 1
            s.age[j] -= 1

            def undo_age():
                s.age[i] -= 1
                s.age[j] += 1

            return undo_age
        i, j = h_cells[rng.integers(len(h_cells))]
        old = s.height[i, j]
        new = old + rng.choice([-3, -2, -1, 1, 2, 3])
        if not 5 <= new <= 95:
            return None
        s.height[i, j] = new

        def undo_h():
            s.height[i, j] = old

        return undo_h

    _anneal(_PatientModel(s), propose, rng, 100_000, "the patient-level model")
