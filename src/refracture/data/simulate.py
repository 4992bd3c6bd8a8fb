"""Synthetic cohorts in the data-contract format.

:func:`simulate` draws a clinically plausible cohort, vectorised so that a
registry-sized cohort (a million patients) takes seconds:

* ages 47–99, mostly women; vertebroplasty (VP) or kyphoplasty (KP) on one or
  two contiguous levels clustered at the thoracolumbar junction;
* a DXA T-score per valid lumbar level (L1–L4), correlated within a patient
  (a patient's bone density plus a small level effect) and lower with age;
  treated levels and some degenerate levels carry no T-score, as a DXA report
  excludes them;
* subsequent fractures in the patients whose risk (age, height loss, low
  T-score) ranks highest in a seeded draw, placed next to a treated level in
  the published share of patients and elsewhere otherwise; fracture times lie
  within follow-up.

The headline counts and moments of the published abstract (93 patients, 58
VP on 68 levels, 35 KP on 44 levels, 16 refractures, 7 adjacent, ages 47–99
with mean 76.8, follow-up 12–96 months with mean 25.1, months to refracture
2–90 with mean 20.5) are scaled to the requested cohort size and hit exactly.

With ``calibrate=True`` (the default for the default cohort size) a seeded
annealing search (:mod:`refracture.data.calibration`) then nudges T-scores (by 0.1),
ages (by one year, keeping the mean, minimum and maximum) and height losses (by one
point) until the inferential figures of the abstract are reproduced as well: the
level-specific T-score means and t-based 95 % CIs at their printed precision,
"T ≤ −2.2" as the first cutoff with Fisher P ≈ 0.047, the odds ratio rising from −2.2
to −2.6 and not beyond, and the multivariable model's P values for age (≈ 0.049) and
anterior height loss (≈ 0.017) with sex, procedure and T-score not significant.

This module draws the cohort and writes it (:class:`SimulatedCohort`).
"""

from __future__ import annotations

import csv
import io
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from refracture.data.calibration import (
    DXA,
    N_FRACTURED_T,
    PUBLISHED,
    CalibrationState,
    calibrate_state,
    choose_calibrated_tscored,
)
from refracture.data.levels import LEVELS
from refracture.errors import OutputError

__all__ = [
    "DEFAULT_PATIENTS",
    "DEFAULT_SEED",
    "SimulatedCohort",
    "simulate",
]

DEFAULT_SEED = 20011101
"""Seed of the built-in example cohort (the study began in November 2001)."""
DEFAULT_PATIENTS = 93

N_LEVELS = len(LEVELS)


@dataclass(frozen=True)
class SimulatedCohort:
    """A simulated cohort as plain columns (see :meth:`to_csv_texts`)."""

    patients: dict[str, np.ndarray]
    levels: dict[str, np.ndarray]

    def to_csv_texts(self) -> tuple[str, str]:
        """The two tables as CSV text in the contract's format."""
        return _csv(self.patients), _csv(self.levels)

    def write(self, out: Path, *, overwrite: bool = False) -> tuple[Path, Path]:
        """Write ``patients.csv`` and ``levels.csv`` into ``out`` (created if needed).

        Refuses (:class:`~refracture.errors.OutputError`) when ``out`` already holds a
        patients or levels table, unless ``overwrite``. Both tables are written to
        temporary files first and renamed into place only when both are complete,
        so a full disk leaves the folder as it was.
        """
        import tempfile

        check_simulate_target(out, overwrite=overwrite)
        texts = self.to_csv_texts()
        paths = (out / "patients.csv", out / "levels.csv")
        temps: list[Path] = []
        try:
            out.mkdir(parents=True, exist_ok=True)
            for path, text in zip(paths, texts, strict=True):
                fd, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=out)
                temps.append(Path(name))
                with open(fd, "w", encoding="utf-8", newline="") as fh:
                    fh.write(text)
                os.chmod(name, 0o666 & ~_umask())
            for tmp, path in zip(temps, paths, strict=True):
                tmp.replace(path)
        except OSError as exc:
            for tmp in temps:
                tmp.unlink(missing_ok=True)
            raise OutputError(
                f"Cannot write the cohort into {out}: {exc.strerror or exc}. "
                "No file of the folder was changed."
            ) from exc
        return paths


def _umask() -> int:
    current = os.umask(0)
    os.umask(current)
    return current


def check_simulate_target(out: Path, *, overwrite: bool = False) -> None:
    """Refuse ``out`` when it is a file, or holds a ``patients.*``/``levels.*`` table and
    ``overwrite`` is not set (:class:`~refracture.errors.OutputError`)."""
    out = Path(out)
    if (out.exists() and not out.is_dir()) or (out.is_symlink() and not out.exists()):
        raise OutputError(f"{out} is not a folder; give --out a new or existing folder.")
    if overwrite or not out.is_dir():
        return
    tables = sorted(
        p.name for p in out.iterdir() if p.name.split(".")[0].lower() in ("patients", "levels")
    )
    if tables:
        raise OutputError(
            f"{out} already holds {', '.join(tables)}; simulate never replaces a cohort "
            "unless told to. Choose another folder, or add --overwrite to replace "
            "patients.csv and levels.csv (no other file is touched)."
        )


_DECIMALS = {"anterior_height_loss_pct": 0, "months_to_fracture": 0}
"""Decimals written per float column (default one: T-score, BMI, cement volume)."""


def _fmt(name: str, col: np.ndarray) -> list[str]:
    if col.dtype == bool:
        return np.where(col, "yes", "no").tolist()
    if col.dtype.kind == "f":
        txt = np.char.mod(f"%.{_DECIMALS.get(name, 1)}f", np.nan_to_num(col))
        return np.where(np.isnan(col), "", txt).tolist()
    return col.astype(str).tolist()


def _csv(table: dict[str, np.ndarray]) -> str:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(list(table))
    cols = [_fmt(k, np.asarray(v)) for k, v in table.items()]
    w.writerows(zip(*cols, strict=True))
    return buf.getvalue()


def _scaled(count: int, of: int, n: int) -> int:
    return round(count * n / of)


def _fix_integer_moments(
    x: np.ndarray, rng: np.random.Generator, lo: int, hi: int, total: int
) -> np.ndarray:
    """Make integer ``x`` have minimum ``lo``, maximum ``hi`` and sum ``total``.

    The smallest value is set to ``lo`` and the largest to ``hi``; the others are
    moved by one unit at a time, at random, within ``(lo, hi)`` until the sum is
    right (or, in a cohort too small to reach it, as close as the range allows).
    Vectorised: each round moves up to every free element once.
    """
    x = np.clip(x.astype(np.int64), lo, hi)
    if x.size == 1:
        x[:] = total
        return x
    order = np.argsort(x, kind="stable")
    x[order[0]], x[order[-1]] = lo, hi
    free = np.ones(x.size, bool)
    free[[order[0], order[-1]]] = False
    free_idx = np.flatnonzero(free)
    for _ in range(10_000):
        diff = total - int(x.sum())
        if diff == 0:
            break
        step = 1 if diff > 0 else -1
        room = (x[free_idx] < hi - 1) if step > 0 else (x[free_idx] > lo + 1)
        cand = free_idx[room]
        if cand.size == 0:  # a tiny cohort cannot reach it: stay as close as possible
            break
        k = min(abs(diff), cand.size)
        pick = rng.choice(cand, size=k, replace=False)
        x[pick] += step
    return x


def _pick_weighted(rng: np.random.Generator, score: np.ndarray, k: int) -> np.ndarray:
    """Indices of ``k`` items drawn without replacement with weights ``exp(score)``."""
    gumbel = rng.gumbel(size=score.size)
    return np.sort(np.argpartition(-(score + gumbel), k - 1)[:k]) if k else np.array([], int)


def simulate(
    seed: int = DEFAULT_SEED,
    patients: int = DEFAULT_PATIENTS,
    calibrate: bool | None = None,
) -> SimulatedCohort:
    """Draw a synthetic cohort; deterministic for ``(seed, patients, calibrate)``.

    ``calibrate`` defaults to ``True`` for the published cohort size (93) and
    ``False`` otherwise.
    """
    if patients < 5:
        raise ValueError("a simulated cohort needs at least 5 patients")
    if calibrate is None:
        calibrate = patients == PUBLISHED.patients
    pub = PUBLISHED
    rng = np.random.default_rng(seed)
    n = patients

    # --- patients ---------------------------------------------------------------------
    age = _fix_integer_moments(
        np.rint(rng.normal(77.5, 8.0, n)),
        rng,
        pub.age_min,
        pub.age_max,
        round(pub.age_mean * n),
    )
    female = rng.random(n) < 0.78
    n_vp = _scaled(pub.vp_patients, pub.patients, n)
    kp = np.zeros(n, bool)
    kp[rng.permutation(n)[: n - n_vp]] = True
    bmi = np.round(np.clip(rng.normal(24.0, 3.8, n), 15.0, 42.0), 1)
    bmi[rng.random(n) < 0.04] = np.nan
    steroid = rng.random(n) < 0.12
    osteo_tx = rng.random(n) < 0.55

    # --- treated levels: one or two contiguous, clustered at T12/L1 -----------------------
    weights = np.zeros(N_LEVELS)
    weights[4:] = [0.5, 1, 2, 3, 3, 4, 8, 18, 20, 10, 6, 4, 1.5]  # T5 … L5
    first = rng.choice(N_LEVELS, size=n, p=weights / weights.sum())
    two = np.zeros(n, bool)
    for group, extra in (
        (~kp, pub.vp_levels - pub.vp_patients),
        (kp, pub.kp_levels - pub.kp_patients),
    ):
        members = np.flatnonzero(group)
        k = _scaled(extra, pub.vp_patients if group is not kp else pub.kp_patients, members.size)
        two[rng.choice(members, size=min(k, members.size), replace=False)] = True
    down = rng.random(n) < 0.5
    second = np.where(down, first + 1, first - 1)
    second = np.where(second > N_LEVELS - 1, first - 1, second)
    second = np.where(second < 4, first + 1, second)
    rows = np.arange(n)
    treated = np.zeros((n, N_LEVELS), bool)
    treated[rows, first] = True
    treated[rows[two], second[two]] = True
    lo_t = np.where(two, np.minimum(first, second), first)
    hi_t = np.where(two, np.maximum(first, second), first)

    height = np.full((n, N_LEVELS), np.nan)
    hl = np.clip(np.rint(rng.beta(2.2, 3.8, (n, N_LEVELS)) * 90 + 5), 5, 95)
    height[treated] = hl[treated]
    volume = np.full((n, N_LEVELS), np.nan)
    vol = np.round(
        np.clip(
            np.where(
                kp[:, None],
                rng.normal(4.2, 1.0, (n, N_LEVELS)),
                rng.normal(3.1, 0.8, (n, N_LEVELS)),
            ),
            0.8,
            8.0,
        ),
        1,
    )
    volume[treated] = vol[treated]
    leak_p = np.where(kp, 0.10, 0.25)[:, None]
    leak_draw = rng.random((n, N_LEVELS)) < leak_p

    # --- bone density: a patient effect plus a level effect, lower with age -------------------
    base = -1.6 - 0.035 * (age - 77) + np.where(female, 0.0, 0.3) + rng.normal(0, 0.85, n)
    level_effect = np.zeros(N_LEVELS)
    level_effect[DXA] = [-0.15, -0.05, 0.05, 0.2]
    tsc = base[:, None] + level_effect + rng.normal(0, 0.35, (n, N_LEVELS))
    tscore_tenths = np.clip(np.rint(tsc * 10), -55, 30).astype(np.int64)
    dxa_ok = np.zeros((n, N_LEVELS), bool)
    dxa_ok[:, DXA] = rng.random((n, DXA.size)) < 0.45
    dxa_ok &= ~treated

    # --- follow-up and refractures ----------------------------------------------------
    n_ref = _scaled(pub.refracture, pub.patients, n)
    n_adj = _scaled(pub.adjacent, pub.refracture, n_ref)
    hl_max = np.nanmax(np.where(treated, height, -np.inf), axis=1)
    risk = 0.06 * (age - 77) + 0.04 * (hl_max - 35) - 0.5 * (base + 1.6)
    ref_idx = _pick_weighted(rng, risk, n_ref)
    adj_idx = rng.choice(ref_idx, size=n_adj, replace=False) if n_ref else ref_idx
    adjacent = np.zeros(n, bool)
    adjacent[adj_idx] = True
    refr = np.zeros(n, bool)
    refr[ref_idx] = True
    fractured = np.zeros((n, N_LEVELS), bool)
    for _attempt in range(200):
        fractured[:] = False
        _place_fractures(rng, fractured, ref_idx, adjacent, lo_t, hi_t)
        n_second = _scaled(3, pub.refracture, n_ref)
        second_idx = rng.choice(ref_idx, size=n_second, replace=False) if n_second else ref_idx
        _place_fractures(rng, fractured, second_idx, np.zeros(n, bool), lo_t, hi_t)
        if not calibrate or fractured[:, DXA].sum() >= N_FRACTURED_T:
            break
    else:  # pragma: no cover - the placement succeeds within a few attempts
        raise RuntimeError("could not place the calibrated fractures")

    months_first = (
        _fix_integer_moments(
            np.rint(rng.gamma(1.3, 15.0, n_ref) + 2),
            rng,
            pub.months_min,
            pub.months_max,
            round(pub.months_mean * n_ref),
        )
        if n_ref >= 2
        else np.full(n_ref, pub.months_min)
    )
    followup = np.rint(pub.followup_min + rng.gamma(1.1, 12.0, n))
    # a refracture patient is followed at least until the fracture (plus a visit)
    need = np.zeros(n)
    need[ref_idx] = months_first + 3
    followup = np.maximum(followup, need)
    followup = _fix_followup(followup, need, rng, n)

    months = np.full((n, N_LEVELS), np.nan)
    frac_rows, frac_cols = np.nonzero(fractured)
    fm = months_first[np.searchsorted(ref_idx, frac_rows)].astype(float)
    # the patient's first fractured level (cranial to caudal) carries the refracture
    # time; a second fracture comes later, within follow-up
    is_later = np.r_[False, frac_rows[1:] == frac_rows[:-1]]
    later_draw = np.floor(fm + (followup[frac_rows] - fm) * rng.uniform(0.2, 0.9, fm.size))
    fm = np.where(is_later, np.maximum(later_draw, fm + 1), fm)
    months[frac_rows, frac_cols] = fm

    # --- which levels carry a T-score ------------------------------------------------
    has_t = dxa_ok.copy()
    frac_dxa = fractured & np.isin(np.arange(N_LEVELS), DXA)[None, :]
    if calibrate:
        has_t = choose_calibrated_tscored(rng, treated, fractured, frac_dxa)
    else:
        has_t |= frac_dxa & (rng.random((n, N_LEVELS)) < 0.8)
        has_t &= ~treated

    state = CalibrationState(
        age=age,
        female=female,
        kp=kp,
        treated=treated,
        height=height,
        fractured=fractured,
        has_t=has_t,
        tscore=tscore_tenths,
        refr=refr,
    )
    if calibrate:
        calibrate_state(state, rng)

    ids = np.char.add("P", np.char.zfill(np.arange(1, n + 1).astype(str), max(4, len(str(n)))))
    patients_tbl = {
        "patient_id": ids,
        "age": state.age,
        "sex": np.where(female, "F", "M"),
        "procedure": np.where(kp, "KP", "VP"),
        "followup_months": followup.astype(np.int64),
        "bmi": bmi,
        "steroid_use": steroid,
        "osteoporosis_treatment": osteo_tx,
    }
    keep = treated | state.has_t | fractured
    r, c = np.nonzero(keep)
    t_vals = np.where(state.has_t[r, c], state.tscore[r, c] / 10.0, np.nan)
    levels_tbl = {
        "patient_id": ids[r],
        "level": np.asarray(LEVELS)[c],
        "treated": treated[r, c],
        "tscore": t_vals,
        "anterior_height_loss_pct": state.height[r, c],
        "cement_volume_ml": np.where(treated[r, c], volume[r, c], np.nan),
        "cement_leakage": _yes_no_blank(treated[r, c], leak_draw[r, c]),
        "subsequent_fracture": fractured[r, c],
        "months_to_fracture": months[r, c],
    }
    return SimulatedCohort(patients=patients_tbl, levels=levels_tbl)


def _yes_no_blank(mask: np.ndarray, value: np.ndarray) -> np.ndarray:
    return np.where(mask, np.where(value, "yes", "no"), "")


def _fix_followup(
    followup: np.ndarray, need: np.ndarray, rng: np.random.Generator, n: int
) -> np.ndarray:
    """Follow-up with the published minimum, maximum and mean, never below ``need``."""
    pub = PUBLISHED
    total = round(pub.followup_mean * n)
    f = np.clip(followup, pub.followup_min, pub.followup_max).astype(np.int64)
    longest = int(np.argmax(need)) if need.max() > 0 else int(np.argmax(f))
    f[longest] = pub.followup_max
    floor = np.maximum(np.ceil(need).astype(np.int64), pub.followup_min)
    f = np.maximum(f, floor)
    pinned = np.zeros(n, bool)
    pinned[longest] = True
    shortest_cands = np.flatnonzero((floor == pub.followup_min) & ~pinned)
    if shortest_cands.size:
        shortest = shortest_cands[np.argmin(f[shortest_cands])]
        f[shortest] = pub.followup_min
        pinned[shortest] = True
    free = np.flatnonzero(~pinned)
    for _ in range(10_000):
        diff = total - int(f.sum())
        if diff == 0:
            break
        step = 1 if diff > 0 else -1
        ok = (
            (f[free] < pub.followup_max - 1)
            if step > 0
            else (f[free] > floor[free]) & (f[free] > pub.followup_min)
        )
        cand = free[ok]
        if cand.size == 0:  # a tiny cohort cannot reach it: stay as close as possible
            break
        pick = rng.choice(cand, size=min(abs(diff), cand.size), replace=False)
        f[pick] += step
    return f


def _place_fractures(
    rng: np.random.Generator,
    fractured: np.ndarray,
    who: np.ndarray,
    adjacent: np.ndarray,
    lo_t: np.ndarray,
    hi_t: np.ndarray,
) -> None:
    """Mark one new fractured level for each patient in ``who`` (vectorised)."""
    if who.size == 0:
        return
    adj = adjacent[who]
    up_ok = lo_t[who] - 1 >= 0
    dn_ok = hi_t[who] + 1 <= N_LEVELS - 1
    go_down = np.where(up_ok & dn_ok, rng.random(who.size) < 0.6, dn_ok)
    adj_level = np.where(go_down, hi_t[who] + 1, lo_t[who] - 1)
    # remote: at least two levels from every treated level, not already fractured
    weights = np.zeros(N_LEVELS)
    weights[5:] = [0.5, 1, 1.5, 2, 3, 5, 6, 6, 5, 5, 5, 2]  # T6 … L5
    remote = np.full(who.size, -1)
    todo = ~adj
    for _ in range(100):
        if not todo.any():
            break
        draw = rng.choice(N_LEVELS, size=who.size, p=weights / weights.sum())
        ok = ((draw < lo_t[who] - 1) | (draw > hi_t[who] + 1)) & ~fractured[who, draw]
        take = todo & ok
        remote[take] = draw[take]
        todo &= ~take
    level = np.where(adj, adj_level, remote)
    ok = level >= 0
    fractured[who[ok], level[ok]] = True
